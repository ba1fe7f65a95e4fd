"""CIFAR-10/100 for mmpretrain 1.x from a local copy, never downloaded.

mmpretrain's ``CIFAR10`` / ``CIFAR100`` compare every file with the official
md5 sums and download the archive on any mismatch. ``LocalCIFAR10`` /
``LocalCIFAR100`` load a local copy as it is (a checksum that differs only
warns, a missing file is an error that shows the expected layout) and take
the ``per_class`` / ``keep_classes`` options of the mmcls 0.x datasets; the
checks, messages and subsets are :mod:`mmcls_geda.local_data.cifar`'s,
shared with them.
"""
from typing import List, Optional, Sequence

from mmpretrain.datasets import CIFAR10, CIFAR100
from mmpretrain.registry import DATASETS

from ...local_data import cifar as files


class _LocalCIFARMixin:
    """Replaces the md5-or-download step of mmpretrain's CIFAR datasets.

    Args:
        data_root (str): The folder that holds ``cifar-10-batches-py`` (or
            ``cifar-100-python``).
        split (str): ``'train'`` or ``'test'``.
        metainfo (dict, optional): As mmpretrain's; ``classes`` given here
            replace the names in the meta file.
        download (bool): Ignored (nothing is ever downloaded); accepted so
            that configs written for mmpretrain's CIFAR datasets build.
        data_prefix (str): As mmpretrain's (a folder under ``data_root``).
        test_mode (bool): As mmpretrain's.
        per_class (int, optional): Keep only the first ``per_class``
            samples of every (kept) class, in the files' order.
        keep_classes (list[int], optional): Keep only these classes,
            relabelled ``0..len(keep_classes) - 1`` in the order given;
            ``metainfo['classes']`` follows.
        **kwargs: As mmpretrain's ``BaseDataset``.
    """

    def __init__(self,
                 data_root: str = '',
                 split: str = 'train',
                 metainfo: Optional[dict] = None,
                 download: bool = False,
                 data_prefix: str = '',
                 test_mode: bool = False,
                 per_class: Optional[int] = None,
                 keep_classes: Optional[Sequence[int]] = None,
                 **kwargs):
        self.per_class, self.keep_classes = files.check_subset_options(
            per_class, keep_classes)
        self._classes_given = bool(metainfo) and 'classes' in metainfo
        super().__init__(
            data_root=data_root,
            split=split,
            metainfo=metainfo,
            download=False,
            data_prefix=data_prefix,
            test_mode=test_mode,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """The kept samples, ``{'img': HWC uint8, 'gt_label': int}``."""
        root = self.data_prefix['root']
        owner = type(self).__name__
        every_file = self.train_list + self.test_list
        files.check_files(
            root,
            self.base_folder,
            every_file,
            self.meta,
            owner,
            root_arg='data_root')
        split = self.train_list if self.split == 'train' else self.test_list
        try:
            images, labels = files.read_batches(root, self.base_folder, split)
            names = (
                list(self.CLASSES) if self._classes_given else
                files.load_class_names(root, self.base_folder, self.meta))
        except files.UNREADABLE as err:
            raise ValueError(
                files.unreadable_message(root, self.base_folder, every_file,
                                         self.meta, owner, err)) from err
        indices, labels, names = files.subset(labels, names, self.per_class,
                                              self.keep_classes, owner)
        self._metainfo['classes'] = tuple(names)
        return [{
            'img': images[i],
            'gt_label': int(label)
        } for i, label in zip(indices, labels)]


@DATASETS.register_module()
class LocalCIFAR10(_LocalCIFARMixin, CIFAR10):
    """mmpretrain ``CIFAR10`` that loads a local copy and never downloads."""


@DATASETS.register_module()
class LocalCIFAR100(_LocalCIFARMixin, CIFAR100):
    """mmpretrain ``CIFAR100`` that loads a local copy and never downloads."""
