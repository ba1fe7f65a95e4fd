"""GEDA selection core: numpy (and scipy/PuLP) only, no torch, no mmcv."""
from .budgets import class_budgets
from .checks import check_fraction, check_seed
from .core import Selection, embedding_methods, select_subset, weigh_selection
from .registry import (METHODS, ClassChoice, Method, get_method,
                       register_method, resolve_options)

__all__ = [
    'METHODS', 'ClassChoice', 'Method', 'Selection', 'check_fraction',
    'check_seed', 'class_budgets', 'embedding_methods', 'get_method',
    'register_method', 'resolve_options', 'select_subset', 'weigh_selection'
]
