"""Local CIFAR-10/100 python pickles, read and subset without any engine.

Both stacks' ``LocalCIFAR10`` / ``LocalCIFAR100`` (mmcls 0.x in
:mod:`mmcls_geda.datasets.cifar`, mmpretrain 1.x in
:mod:`mmcls_geda.engines.mmpretrain.cifar`) call these functions for the
file checks (a missing file is an error that shows the expected layout, a
checksum that differs from the official one only warns: nothing is ever
downloaded), the class names, the error for an unreadable file and the
``per_class`` / ``keep_classes`` subsets. numpy and the standard library
only.
"""
import hashlib
import os.path as osp
import pickle
import warnings
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..selection.checks import check_int

# One ``[file name, official md5]`` pair per file, as the datasets' own
# ``train_list`` / ``test_list`` class attributes hold them.
FileList = Sequence[Sequence[Optional[str]]]


def check_subset_options(
    per_class: Optional[int], keep_classes: Optional[Sequence[int]]
) -> Tuple[Optional[int], Optional[List[int]]]:
    """The checked ``per_class`` and ``keep_classes`` options.

    Args:
        per_class: Keep only the first ``per_class`` samples of every
            (kept) class, in the files' order; None keeps all.
        keep_classes: Keep only these classes, relabelled
            ``0..len(keep_classes) - 1`` in the order given; None keeps all.

    Returns:
        tuple: ``(per_class, keep_classes)``, as int and list of int (or
        None).

    Raises:
        ValueError: For a ``per_class`` below 1, or ``keep_classes`` that are
            empty, repeated or negative.
        TypeError: For values that are not whole numbers.
    """
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
    return per_class, keep_classes


def subset(labels: Sequence[int], class_names: Sequence[str],
           per_class: Optional[int], keep_classes: Optional[Sequence[int]],
           owner: str) -> Tuple[np.ndarray, np.ndarray, List[str]]:
    """Which samples a ``per_class`` / ``keep_classes`` subset keeps.

    Args:
        labels: Every sample's class, in the files' order.
        class_names: The names of all classes.
        per_class: As :func:`check_subset_options` returns it.
        keep_classes: As :func:`check_subset_options` returns it.
        owner: The dataset's name, for the error message.

    Returns:
        tuple: ``(indices, new_labels, names)``: the kept samples' positions
        (ascending), their labels (relabelled when ``keep_classes`` is
        given) and the class names that go with the new labels.

    Raises:
        ValueError: For a class in ``keep_classes`` that the dataset does not
            have.
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    names = list(class_names)
    indices = np.arange(labels.size)
    if keep_classes is not None:
        bad = [c for c in keep_classes if c >= len(names)]
        if bad:
            raise ValueError(f'keep_classes {bad} out of range: {owner} has '
                             f'{len(names)} classes')
        new_label = np.full(max(len(names), labels.max(initial=0) + 1), -1)
        new_label[list(keep_classes)] = np.arange(len(keep_classes))
        indices = np.flatnonzero(new_label[labels] >= 0)
        labels = new_label[labels[indices]]
        names = [names[c] for c in keep_classes]
    if per_class is not None:
        keep = np.sort(
            np.concatenate([
                np.flatnonzero(labels == c)[:per_class]
                for c in np.unique(labels)
            ]).astype(np.int64))
        indices, labels = indices[keep], labels[keep]
    return indices, labels, names


def expected_files(root: str, base_folder: str, files: FileList,
                   meta: dict) -> List[Tuple[str, Optional[str]]]:
    """``(path, official md5)`` of every data file and of the meta file."""
    entries = list(files) + [[meta['filename'], meta['md5']]]
    return [(osp.join(root, base_folder, name), md5) for name, md5 in entries]


def _md5_matches(path: str, md5: Optional[str]) -> bool:
    if md5 is None:
        return True
    digest = hashlib.md5()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b''):
            digest.update(chunk)
    return digest.hexdigest() == md5


def check_files(root: str,
                base_folder: str,
                files: FileList,
                meta: dict,
                owner: str,
                root_arg: str = 'data_prefix') -> None:
    """Refuse missing files; warn for checksums that differ.

    Args:
        root: The folder that holds ``base_folder``.
        base_folder: ``cifar-10-batches-py`` or ``cifar-100-python``.
        files: ``[name, md5]`` of every train and test file.
        meta: The datasets' ``meta`` (``filename``, ``key``, ``md5``).
        owner: The dataset's name, for the messages.
        root_arg: The name of the dataset's argument that gave ``root``.

    Raises:
        FileNotFoundError: For a missing file; the message lists the whole
            expected layout.
    """
    expected = expected_files(root, base_folder, files, meta)
    missing = [path for path, _ in expected if not osp.isfile(path)]
    if missing:
        layout = '\n'.join(f'  {path}' for path, _ in expected)
        raise FileNotFoundError(
            f'{owner}: {len(missing)} file(s) missing under '
            f'{root_arg}={root!r} (first: {missing[0]}). Expected this '
            'layout (the official python pickles; nothing is downloaded):'
            f'\n{layout}')
    differ = [
        osp.basename(path) for path, md5 in expected
        if not _md5_matches(path, md5)
    ]
    if differ:
        warnings.warn(
            f'{owner}: {len(differ)} file(s) under {root!r} differ from the '
            f'official md5 sums ({", ".join(differ)}): loading this local '
            'copy as it is (an offline mirror or a rebuilt copy).')


def unreadable_message(root: str, base_folder: str, files: FileList,
                       meta: dict, owner: str, err: Exception) -> str:
    """Which file failed to load, and what to do."""
    for path, _ in expected_files(root, base_folder, files, meta):
        try:
            with open(path, 'rb') as f:
                pickle.load(f, encoding='latin1')
        except Exception as file_err:
            return (f'{owner}: {path} is truncated or not a CIFAR pickle '
                    f'({type(file_err).__name__}: {file_err}); copy it '
                    'again from the official archive or rebuild it (see the '
                    'README, Data)')
    return (f'{owner}: the files under {root!r} do not hold CIFAR data '
            f'({type(err).__name__}: {err})')


def load_class_names(root: str, base_folder: str, meta: dict) -> List[str]:
    """The class names in the meta file (``meta['key']``)."""
    path = osp.join(root, base_folder, meta['filename'])
    with open(path, 'rb') as f:
        return pickle.load(f, encoding='latin1')[meta['key']]


def read_batches(root: str, base_folder: str,
                 files: FileList) -> Tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) uint8 and labels (N,) int64 of some files.

    Raises:
        FileNotFoundError: For a missing file.
    """
    images, labels = [], []
    for name, _ in files:
        path = osp.join(root, base_folder, name)
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path} not found: data_prefix must hold '
                                    f'{base_folder}/ with the python pickles')
        with open(path, 'rb') as f:
            entry = pickle.load(f, encoding='latin1')
        images.append(entry['data'])
        labels.extend(entry.get('labels', entry.get('fine_labels')))
    images = np.vstack(images).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(labels, dtype=np.int64)


# The exceptions a truncated or foreign file raises while it is read.
UNREADABLE = (pickle.UnpicklingError, EOFError, ValueError, KeyError,
              TypeError)
