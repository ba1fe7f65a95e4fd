"""CIFAR-10/100 from a local copy whose checksums may differ, never downloaded.

mmcls's ``CIFAR10``/``CIFAR100`` compare every file with the official md5
sums and start a download on any mismatch. Offline mirrors and rebuilt
copies (such as a JPEG-rebuilt CIFAR-10) hold the same layout with other
checksums: ``LocalCIFAR10`` / ``LocalCIFAR100`` load them with a warning,
and a missing file is an error that shows the expected layout.
"""
from typing import Optional, Sequence, Tuple

import numpy as np
from mmcls.datasets import CIFAR10, CIFAR100, DATASETS

from ..local_data import cifar as files


class _LocalCIFARMixin:
    """Replaces the md5-or-download step of mmcls's CIFAR datasets.

    The checks, messages and subsets are
    :mod:`mmcls_geda.local_data.cifar`'s, shared with the mmpretrain 1.x
    datasets.

    Args:
        per_class (int, optional): Keep only the first ``per_class``
            samples of every (kept) class, in the files' order (a fixed,
            class-balanced subset for CPU-sized experiments).
        keep_classes (list[int], optional): Keep only these classes,
            relabelled ``0..len(keep_classes) - 1`` in the order given
            (e.g. ``[5, 6, 7, 8, 9]``: CIFAR-10's last five classes as a
            5-class task); ``CLASSES`` follows.
        **kwargs: As mmcls's CIFAR10 / CIFAR100.
    """

    def __init__(self,
                 *args,
                 per_class: Optional[int] = None,
                 keep_classes: Optional[Sequence[int]] = None,
                 **kwargs):
        self.per_class, self.keep_classes = files.check_subset_options(
            per_class, keep_classes)
        super().__init__(*args, **kwargs)

    def load_annotations(self):
        try:
            infos = super().load_annotations()
        except files.UNREADABLE as err:
            raise ValueError(
                files.unreadable_message(self.data_prefix, self.base_folder,
                                         self._all_files(), self.meta,
                                         type(self).__name__, err)) from err
        if self.keep_classes is None and self.per_class is None:
            return infos
        indices, labels, names = files.subset(
            [int(info['gt_label']) for info in infos], self.CLASSES,
            self.per_class, self.keep_classes,
            type(self).__name__)
        if self.keep_classes is None:
            return [infos[i] for i in indices]
        self.CLASSES = names
        return [
            dict(infos[i], gt_label=np.array(label, dtype=np.int64))
            for i, label in zip(indices, labels)
        ]

    def _all_files(self) -> list:
        return self.train_list + self.test_list

    def _check_integrity(self) -> bool:
        files.check_files(self.data_prefix, self.base_folder,
                          self._all_files(), self.meta,
                          type(self).__name__)
        return True

    def _load_meta(self) -> None:
        self.CLASSES = files.load_class_names(self.data_prefix,
                                              self.base_folder, self.meta)


@DATASETS.register_module()
class LocalCIFAR10(_LocalCIFARMixin, CIFAR10):
    """mmcls ``CIFAR10`` that loads a local copy and never downloads."""


@DATASETS.register_module()
class LocalCIFAR100(_LocalCIFARMixin, CIFAR100):
    """mmcls ``CIFAR100`` that loads a local copy and never downloads."""


def load_cifar_arrays(data_prefix: str,
                      kind: str = 'cifar10',
                      train: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) uint8 and labels (N,) int64 of a local copy.

    Args:
        data_prefix: The folder that holds ``cifar-10-batches-py`` (or
            ``cifar-100-python``).
        kind: ``'cifar10'`` or ``'cifar100'``.
        train: The training split (else the test split).
    """
    cls = {'cifar10': LocalCIFAR10, 'cifar100': LocalCIFAR100}[kind]
    return files.read_batches(data_prefix, cls.base_folder,
                              cls.train_list if train else cls.test_list)
