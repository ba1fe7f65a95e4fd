"""mmpretrain 1.x / mmengine glue (work in progress, see docs/mmpretrain.md).

Importing it registers ``GEDASubsetDataset`` (static, unweighted
selection), ``LocalCIFAR10`` and ``LocalCIFAR100`` in
``mmpretrain.registry.DATASETS``.
"""
from .cifar import LocalCIFAR10, LocalCIFAR100
from .subset import GEDASubsetDataset

__all__ = ['GEDASubsetDataset', 'LocalCIFAR10', 'LocalCIFAR100']
