"""mmcls-geda: train OpenMMLab classifiers on less data per epoch.

Importing the package registers its names in the installed stack's
registries (:mod:`mmcls_geda.stack` decides which, without importing
either):

* mmcls 0.x / mmcv 1.x: ``GEDASubsetDataset``, the local CIFAR datasets
  and the rest in ``mmcls.datasets.DATASETS``, ``GradNormHook`` and the
  pruning hook in ``mmcv.runner.HOOKS``, as documented in the README;
* mmpretrain 1.x / mmengine (docs/mmpretrain.md):
  ``GEDASubsetDataset``, ``LocalCIFAR10`` and ``LocalCIFAR100`` in
  ``mmpretrain.registry.DATASETS``, ``WeightedImageClassifier`` in
  ``mmpretrain.registry.MODELS``,
  ``EpochPlanSampler`` in ``DATA_SAMPLERS``, ``GradNormHook`` (one
  selection before the first epoch, or a per-epoch method's subset every
  epoch: budget schedules, loss refolds, dynamic pruning;
  ``DynamicPruningHook`` its short name for pruning) and
  ``EpochProgressParamSchedulerHook`` in ``mmpretrain.registry.HOOKS``;
  ``apply_geda`` and ``apply_pruning`` for an mmengine config (the same
  calls as on mmcls 0.x).

``mmcls_geda.selection`` and ``mmcls_geda.local_data`` need numpy/scipy only
and can be used where torch and both stacks are absent.
"""
from .stack import STACK
from .version import __version__

__all__ = ['__version__', 'STACK']

if STACK == 'mmcls':
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
elif STACK == 'mmpretrain':
    from .engines.mmpretrain import (GEDASubsetDataset, GradNormHook,
                                     LocalCIFAR10, LocalCIFAR100,
                                     WeightedImageClassifier, apply_geda,
                                     apply_pruning)
    __all__ += [
        'apply_geda', 'apply_pruning', 'GEDASubsetDataset', 'GradNormHook',
        'LocalCIFAR10', 'LocalCIFAR100', 'WeightedImageClassifier'
    ]
