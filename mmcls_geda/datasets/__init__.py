from .cifar import LocalCIFAR10, LocalCIFAR100, load_cifar_arrays
from .digits import SklearnDigits
from .pruning import DynamicPruningDataset, DynamicPruningSampler
from .subset import GEDASubsetDataset

__all__ = [
    'DynamicPruningDataset', 'DynamicPruningSampler', 'GEDASubsetDataset',
    'LocalCIFAR10', 'LocalCIFAR100', 'SklearnDigits', 'load_cifar_arrays'
]
