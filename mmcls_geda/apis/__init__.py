"""The runner-free pipeline (score, select, broadcast) and config helpers."""
from .config import HOOK_DEFAULTS, apply_geda, apply_pruning, check_hook_args
from .pipeline import (SelectionRun, derive_scoring_pipeline,
                       pipeline_keeping_labels, save_run, score_and_select)

__all__ = [
    'HOOK_DEFAULTS', 'SelectionRun', 'apply_geda', 'apply_pruning',
    'check_hook_args', 'derive_scoring_pipeline', 'pipeline_keeping_labels',
    'save_run', 'score_and_select'
]
