"""mmpretrain 1.x / mmengine glue (work in progress, see docs/mmpretrain.md).

Importing it registers ``GEDASubsetDataset`` (a subset whose items carry
their weight and index in the data sample's metainfo), ``LocalCIFAR10`` and
``LocalCIFAR100`` in ``mmpretrain.registry.DATASETS``,
``WeightedImageClassifier`` (per-sample loss weights, recorded per-sample
losses) in ``mmpretrain.registry.MODELS`` and ``GradNormHook`` (one selection
before the first epoch, or a per-epoch method's subset every epoch at a
constant budget) in ``mmpretrain.registry.HOOKS``; :func:`apply_geda`
adds both to an mmengine config (:func:`apply_pruning` says that dynamic
pruning is mmcls 0.x only so far).
"""
from .cifar import LocalCIFAR10, LocalCIFAR100
from .config import apply_geda, apply_pruning
from .hook import GradNormHook
from .model import WeightedImageClassifier
from .subset import GEDASubsetDataset

__all__ = [
    'apply_geda', 'apply_pruning', 'GEDASubsetDataset', 'GradNormHook',
    'LocalCIFAR10', 'LocalCIFAR100', 'WeightedImageClassifier'
]
