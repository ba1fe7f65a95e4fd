"""The runner-free pipeline (score, select, broadcast) and config helpers.

Stack-free, so importable on either stack: the settings
(:class:`SelectionArgs`), what a run produced and how it is saved
(``runs.py``), what a run serves and resumes (``serving.py``) and which
transforms are random (``transforms.py``). The scoring pipeline
(``pipeline.py``) and the config helpers (``config.py``) take mmcls 0.x /
mmcv 1.x objects and are imported on that stack only.
"""
from ..stack import STACK
from .runs import SelectionRun, save_run
from .settings import SelectionArgs

__all__ = ['SelectionArgs', 'SelectionRun', 'save_run']

if STACK == 'mmcls':
    from .config import (HOOK_ARGS, apply_geda, apply_pruning,
                         check_not_combined, use_pauseless_runner)
    from .pipeline import (default_scoring_pipeline, derive_scoring_pipeline,
                           pipeline_keeping_labels, score_and_select)
    __all__ += [
        'HOOK_ARGS', 'apply_geda', 'apply_pruning', 'check_not_combined',
        'default_scoring_pipeline', 'derive_scoring_pipeline',
        'pipeline_keeping_labels', 'score_and_select', 'use_pauseless_runner'
    ]
