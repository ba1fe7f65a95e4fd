"""mmcls-geda: train mmcls classifiers on a GEDA-selected subset of the data.

Importing the package registers ``GEDASubsetDataset`` (and the local CIFAR
datasets) in ``mmcls.datasets.DATASETS`` and ``GradNormHook`` in
``mmcv.runner.HOOKS``. ``mmcls_geda.selection`` needs numpy/scipy only and
can be used where torch, mmcv and mmcls are absent.
"""
from importlib.util import find_spec

from .version import __version__

__all__ = ['__version__']


def _installed(name: str) -> bool:
    try:
        return find_spec(name) is not None
    except (ImportError, ValueError):
        return False


if all(_installed(name) for name in ('torch', 'mmcv', 'mmcls')):
    from .apis import (apply_geda, apply_pruning, score_and_select,
                       use_pauseless_runner)
    from .datasets import (GEDASubsetDataset, LocalCIFAR10, LocalCIFAR100,
                           SklearnDigits)
    from .hooks import DynamicPruningHook, GradNormHook
    from .models import WeightedImageClassifier
    from .runners import PauselessEpochBasedRunner
    __all__ += [
        'apply_geda', 'apply_pruning', 'score_and_select',
        'DynamicPruningHook', 'GEDASubsetDataset', 'GradNormHook',
        'LocalCIFAR10', 'LocalCIFAR100', 'SklearnDigits',
        'WeightedImageClassifier', 'PauselessEpochBasedRunner',
        'use_pauseless_runner'
    ]
