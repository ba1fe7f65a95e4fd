"""LocalCIFAR10 / LocalCIFAR100 on mmpretrain 1.x: local pickles whose md5
sums differ load with a warning, nothing is downloaded, and ``per_class`` /
``keep_classes`` behave as on mmcls 0.x (the code is shared)."""
import os.path as osp
import warnings

import numpy as np
import pytest
from mmpretrain.registry import DATASETS

from ..cifar_files import CENTRE, write_cifar10
from .conftest import local_cifar_cfg


def build(cfg):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return DATASETS.build(cfg)


def original_index(info) -> int:
    """The sample's position in the files, encoded in its pixels."""
    img = info['img']
    return int(img[CENTRE, CENTRE, 0]) + 256 * int(img[CENTRE, CENTRE, 1])


def test_loads_a_local_copy_with_a_warning_and_never_downloads(
        cifar10_root, cifar100_root):
    with pytest.warns(UserWarning, match='differ from the official md5'):
        # download=True is accepted (stock configs) and ignored
        ds = DATASETS.build(local_cifar_cfg(cifar10_root, download=True))
    assert len(ds) == 60 and ds.CLASSES[3] == 'class3'
    assert ds.metainfo['classes'] == tuple(f'class{i}' for i in range(10))
    assert ds.get_gt_labels().tolist() == list(range(10)) * 6
    assert [original_index(ds.get_data_info(i))
            for i in range(60)] == list(range(60))
    item = ds[7]
    assert tuple(item['inputs'].shape) == (3, 32, 32)
    assert int(item['data_samples'].gt_label) == 7
    test = build(local_cifar_cfg(cifar10_root, split='test'))
    assert len(test) == 30
    ds100 = build(
        dict(
            type='LocalCIFAR100',
            data_root=cifar100_root,
            split='test',
            pipeline=[]))
    assert len(ds100) == 100 and len(ds100.CLASSES) == 100
    assert ds100.CLASSES[99] == 'c99'


def test_keeps_and_relabels_classes_as_on_mmcls(cifar10_root):
    ds = build(
        local_cifar_cfg(cifar10_root, keep_classes=[7, 5, 9], per_class=2))
    assert ds.CLASSES == ('class7', 'class5', 'class9')
    assert np.bincount(ds.get_gt_labels()).tolist() == [2, 2, 2]
    originals = {}
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        originals.setdefault(info['gt_label'], []).append(original_index(info))
    # the tiny files label sample j with j % 10; the first two of each kept
    # class in the files' order, relabelled 7 -> 0, 5 -> 1, 9 -> 2
    assert originals == {0: [7, 17], 1: [5, 15], 2: [9, 19]}
    only = build(local_cifar_cfg(cifar10_root, per_class=1))
    assert only.get_gt_labels().tolist() == list(range(10))
    given = build(
        local_cifar_cfg(
            cifar10_root,
            keep_classes=[1, 0],
            metainfo=dict(classes=[f'n{i}' for i in range(10)])))
    assert given.CLASSES == ('n1', 'n0') and len(given) == 12


@pytest.mark.parametrize('bad', [[], [1, 1], [-1], [10], ['a']])
def test_bad_keep_classes(cifar10_root, bad):
    with pytest.raises(ValueError, match='keep_classes'):
        build(local_cifar_cfg(cifar10_root, keep_classes=bad))


@pytest.mark.parametrize('bad', [0, -2, 1.5, 'x'])
def test_bad_per_class(cifar10_root, bad):
    with pytest.raises((TypeError, ValueError), match='per_class'):
        build(local_cifar_cfg(cifar10_root, per_class=bad))


def test_missing_files_show_the_layout(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        build(local_cifar_cfg(str(tmp_path)))
    message = str(err.value)
    assert 'cifar-10-batches-py/data_batch_1' in message
    assert 'nothing is downloaded' in message and 'data_root=' in message


def test_a_truncated_pickle_is_named(tmp_path):
    root = write_cifar10(str(tmp_path))
    batch = osp.join(root, 'cifar-10-batches-py', 'data_batch_3')
    with open(batch, 'rb') as f:
        head = f.read(200)
    with open(batch, 'wb') as f:
        f.write(head)
    with pytest.raises(
            ValueError, match='data_batch_3 is truncated or not '
            'a CIFAR pickle'):
        build(local_cifar_cfg(root))
