from .cifar import LocalCIFAR10, LocalCIFAR100, load_cifar_arrays
from .digits import SklearnDigits
from .retired import DynamicPruningDataset  # noqa: F401 (refused by name)
from .sampler import EpochPlanSampler
from .subset import GEDASubsetDataset

__all__ = [
    'EpochPlanSampler', 'GEDASubsetDataset', 'LocalCIFAR10', 'LocalCIFAR100',
    'SklearnDigits', 'load_cifar_arrays'
]
