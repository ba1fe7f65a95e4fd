"""CIFAR-10/100 from a local copy whose checksums may differ, never downloaded.

mmcls's ``CIFAR10``/``CIFAR100`` compare every file with the official md5
sums and start a download on any mismatch. Offline mirrors and rebuilt
copies (such as a JPEG-rebuilt CIFAR-10) hold the same layout with other
checksums: ``LocalCIFAR10`` / ``LocalCIFAR100`` load them with a warning,
and a missing file is an error that shows the expected layout.
"""
import os
import os.path as osp
import pickle
import warnings
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmcls.datasets import CIFAR10, CIFAR100, DATASETS
from mmcls.datasets.utils import check_integrity

from ..selection.checks import check_int


class _LocalCIFARMixin:
    """Replaces the md5-or-download step of mmcls's CIFAR datasets.

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
        if per_class is not None:
            per_class = check_int(per_class, 'per_class (or None)', 1)
        if keep_classes is not None:
            given = keep_classes
            keep_classes = [
                check_int(c, 'every class in keep_classes', 0)
                for c in keep_classes
            ]
            if not keep_classes or len(set(keep_classes)) != len(keep_classes):
                raise ValueError(
                    'keep_classes must be distinct class indices >= 0, got '
                    f'{given!r}')
        self.per_class = per_class
        self.keep_classes = keep_classes
        super().__init__(*args, **kwargs)

    def load_annotations(self):
        try:
            infos = super().load_annotations()
        except (pickle.UnpicklingError, EOFError, ValueError, KeyError,
                TypeError) as err:
            raise ValueError(self._unreadable(err)) from err
        if self.keep_classes is not None:
            infos = self._relabelled(infos)
        if self.per_class is None:
            return infos
        labels = np.array([int(info['gt_label']) for info in infos])
        keep = np.concatenate([
            np.flatnonzero(labels == c)[:self.per_class]
            for c in np.unique(labels)
        ])
        return [infos[i] for i in np.sort(keep)]

    def _relabelled(self, infos: List[dict]) -> List[dict]:
        """The samples of ``keep_classes``, relabelled in that order."""
        names = list(self.CLASSES)
        bad = [c for c in self.keep_classes if c >= len(names)]
        if bad:
            raise ValueError(f'keep_classes {bad} out of range: '
                             f'{type(self).__name__} has {len(names)} '
                             'classes')
        new_label = {old: new for new, old in enumerate(self.keep_classes)}
        kept = []
        for info in infos:
            old = int(info['gt_label'])
            if old in new_label:
                info = dict(
                    info, gt_label=np.array(new_label[old], dtype=np.int64))
                kept.append(info)
        self.CLASSES = [names[c] for c in self.keep_classes]
        return kept

    def _unreadable(self, err: Exception) -> str:
        """Which file failed to load, and what to do."""
        for path, _ in self._expected_files():
            try:
                with open(path, 'rb') as f:
                    pickle.load(f, encoding='latin1')
            except Exception as file_err:
                return (f'{type(self).__name__}: {path} is truncated or not '
                        f'a CIFAR pickle ({type(file_err).__name__}: '
                        f'{file_err}); copy it again from the official '
                        'archive or rebuild it (see the README, Data)')
        return (f'{type(self).__name__}: the files under '
                f'{self.data_prefix!r} do not hold CIFAR data '
                f'({type(err).__name__}: {err})')

    def _expected_files(self) -> List[Tuple[str, str]]:
        entries = self.train_list + self.test_list
        entries = entries + [[self.meta['filename'], self.meta['md5']]]
        return [(osp.join(self.data_prefix, self.base_folder, name), md5)
                for name, md5 in entries]

    def _check_integrity(self) -> bool:
        files = self._expected_files()
        missing = [path for path, _ in files if not osp.isfile(path)]
        if missing:
            layout = '\n'.join(f'  {path}' for path, _ in files)
            raise FileNotFoundError(
                f'{type(self).__name__}: {len(missing)} file(s) missing '
                f'under data_prefix={self.data_prefix!r} (first: '
                f'{missing[0]}). Expected this layout (the official python '
                f'pickles; nothing is downloaded):\n{layout}')
        differ = [
            osp.basename(path) for path, md5 in files
            if not check_integrity(path, md5)
        ]
        if differ:
            warnings.warn(
                f'{type(self).__name__}: {len(differ)} file(s) under '
                f'{self.data_prefix!r} differ from the official md5 sums '
                f'({", ".join(differ)}): loading this local copy as it is '
                '(an offline mirror or a rebuilt copy).')
        return True

    def _load_meta(self) -> None:
        path = osp.join(self.data_prefix, self.base_folder,
                        self.meta['filename'])
        with open(path, 'rb') as f:
            self.CLASSES = pickle.load(f, encoding='latin1')[self.meta['key']]


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
    files = cls.train_list if train else cls.test_list
    images, labels = [], []
    for name, _ in files:
        path = os.path.join(data_prefix, cls.base_folder, name)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{path} not found: data_prefix must hold '
                f'{cls.base_folder}/ with the python pickles')
        with open(path, 'rb') as f:
            entry = pickle.load(f, encoding='latin1')
        images.append(entry['data'])
        labels.extend(entry.get('labels', entry.get('fine_labels')))
    images = np.vstack(images).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(labels, dtype=np.int64)
