"""GEDA selection core: numpy (and scipy/PuLP) only, no torch, no mmcv."""
from .api import METHOD_OPTIONS, Selection, check_fraction, select_subset
from .budgets import class_budgets

__all__ = [
    'METHOD_OPTIONS', 'Selection', 'check_fraction', 'class_budgets',
    'select_subset'
]
