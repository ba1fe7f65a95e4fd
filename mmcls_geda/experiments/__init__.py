"""Grids of training runs: method specs, plans, running, statistics,
summaries and figures (``tools/run_experiments.py``, ``tools/demo.py``).

Imports point downwards: this package uses ``mmcls_geda.apis`` and
``mmcls_geda.selection``; nothing in ``mmcls_geda`` imports it.
"""
from .collect import last_val, selection_time, split_time
from .grid import Grid, GridInterrupted, parse_json_arg, prepare_grid, run_grid
from .plan import Run, build_plan, check_evaluation, check_work_dir
from .plots import FIGURES, front_points, plot
from .spec import (FULL, GRAMMAR, REFERENCES, Spec, make_config,
                   method_options, parse_spec, pruning_kwargs)
from .stats import front, paired_difference, reference_top1, t_interval
from .summary import FIELDS, clear_results, summarise, write_results

__all__ = [
    'FIELDS', 'FIGURES', 'FULL', 'GRAMMAR', 'Grid', 'GridInterrupted',
    'REFERENCES', 'Run', 'Spec', 'build_plan', 'check_evaluation',
    'check_work_dir', 'clear_results', 'front', 'front_points', 'last_val',
    'make_config', 'method_options', 'paired_difference', 'parse_json_arg',
    'parse_spec', 'plot', 'prepare_grid', 'pruning_kwargs', 'reference_top1',
    'run_grid', 'selection_time', 'split_time', 'summarise', 't_interval',
    'write_results'
]
