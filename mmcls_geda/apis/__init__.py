"""The runner-free pipeline (score, select, broadcast) and config helpers."""
from .config import (HOOK_ARGS, apply_geda, apply_pruning, check_not_combined,
                     use_pauseless_runner)
from .pipeline import (SelectionRun, default_scoring_pipeline,
                       derive_scoring_pipeline, pipeline_keeping_labels,
                       save_run, score_and_select)
from .settings import SelectionArgs

__all__ = [
    'HOOK_ARGS', 'SelectionArgs', 'SelectionRun', 'apply_geda',
    'apply_pruning', 'check_not_combined', 'default_scoring_pipeline',
    'derive_scoring_pipeline', 'pipeline_keeping_labels', 'save_run',
    'score_and_select', 'use_pauseless_runner'
]
