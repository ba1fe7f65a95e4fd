from .cifar import LocalCIFAR10, LocalCIFAR100, load_cifar_arrays
from .digits import SklearnDigits
from .subset import GEDASubsetDataset

__all__ = [
    'GEDASubsetDataset', 'LocalCIFAR10', 'LocalCIFAR100', 'SklearnDigits',
    'load_cifar_arrays'
]
