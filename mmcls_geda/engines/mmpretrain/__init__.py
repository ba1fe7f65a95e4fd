"""mmpretrain 1.x / mmengine glue (work in progress, see docs/mmpretrain.md).

Importing it registers ``GEDASubsetDataset`` (a fixed-size, unweighted
subset), ``LocalCIFAR10`` and ``LocalCIFAR100`` in
``mmpretrain.registry.DATASETS`` and ``GradNormHook`` (one selection
before the first epoch, or a per-epoch method's subset every epoch at a
constant budget) in ``mmpretrain.registry.HOOKS``.
"""
from .cifar import LocalCIFAR10, LocalCIFAR100
from .hook import GradNormHook
from .subset import GEDASubsetDataset

__all__ = [
    'GEDASubsetDataset', 'GradNormHook', 'LocalCIFAR10', 'LocalCIFAR100'
]
