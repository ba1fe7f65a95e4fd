from .cifar import LocalCIFAR10, LocalCIFAR100, load_cifar_arrays
from .digits import SklearnDigits
from .retired import DynamicPruningDataset
from .sampler import EpochPlanSampler
from .subset import GEDASubsetDataset

__all__ = [
    'DynamicPruningDataset', 'EpochPlanSampler', 'GEDASubsetDataset',
    'LocalCIFAR10', 'LocalCIFAR100', 'SklearnDigits', 'load_cifar_arrays'
]
