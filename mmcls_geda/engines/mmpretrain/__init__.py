"""mmpretrain 1.x / mmengine glue (work in progress, see docs/mmpretrain.md).

Importing it registers ``LocalCIFAR10`` and ``LocalCIFAR100`` in
``mmpretrain.registry.DATASETS``.
"""
from .cifar import LocalCIFAR10, LocalCIFAR100

__all__ = ['LocalCIFAR10', 'LocalCIFAR100']
