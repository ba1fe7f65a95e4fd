"""Static selection on mmpretrain 1.x: ``GEDASubsetDataset`` in mmpretrain's
DATASETS serves a selection made by the numpy core from exact gradient
norms, from a saved file, through a stock mmengine ``Runner``."""
import os.path as osp
import warnings

import mmpretrain
import numpy as np
import pytest
from mmengine.dataset import pseudo_collate
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import Runner
from mmpretrain.registry import DATASETS
from torch.utils.data import DataLoader

from mmcls_geda.scoring import grad_norms
from mmcls_geda.selection import class_budgets, record, select_subset
from ..cifar_files import CENTRE
from .conftest import local_cifar_cfg, make_classifier


def quiet_build(cfg):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the tiny files' md5 sums differ
        return DATASETS.build(cfg)


def wrapper_cfg(root, fraction=0.5, **kwargs):
    return dict(
        type='GEDASubsetDataset',
        fraction=fraction,
        dataset=local_cifar_cfg(root),
        **kwargs)


def geda_selection(root, fraction=0.5):
    """GEDA on exact per-sample gradient norms of a tiny classifier."""
    inner = quiet_build(local_cifar_cfg(root))
    norms, labels = grad_norms(
        make_classifier(),
        DataLoader(inner, batch_size=16, collate_fn=pseudo_collate))
    return inner, select_subset(norms, labels, fraction, 'geda', seed=0)


def save(work_dir, inner, selection, weighted=False):
    return record.save_record(
        str(work_dir),
        record.make_record(
            selection,
            fingerprint=record.labels_fingerprint(inner.get_gt_labels()),
            scope='full',
            weighted=weighted,
            epoch=0,
            scoring_s=0.0))[0]


def test_size_selection_and_interface(cifar10_root):
    ds = quiet_build(wrapper_cfg(cifar10_root, 0.5))
    assert len(ds) == int(class_budgets(np.full(10, 6), 0.5).sum()) == 30
    assert ds.metainfo['classes'][3] == 'class3'
    with pytest.raises(RuntimeError, match='no selection yet.*selection_file'):
        ds[0]
    inner, selection = geda_selection(cifar10_root)
    ds.set_selection(selection, weighted=False)
    assert ds.has_selection and np.array_equal(ds.indices, selection.indices)
    assert np.array_equal(ds.get_gt_labels(),
                          inner.get_gt_labels()[selection.indices])
    for i in (0, 7, 29):
        item = ds[i]
        assert item['data_samples'].sample_idx == selection.indices[i]
        assert ds.get_data_info(i)['sample_idx'] == selection.indices[i]
    assert 'geda' in repr(ds)


def test_a_saved_selection_is_served_through_the_runner_loader(
        cifar10_root, tmp_path):
    inner, selection = geda_selection(cifar10_root)
    path = save(tmp_path, inner, selection)
    loader = Runner.build_dataloader(
        dict(
            batch_size=8,
            num_workers=1,
            persistent_workers=True,
            sampler=dict(type='DefaultSampler', shuffle=True),
            dataset=wrapper_cfg(cifar10_root, 0.5, selection_file=path)))
    served = []
    for batch in loader:
        served += [int(s.sample_idx) for s in batch['data_samples']]
        # the pixels say which sample of the files this is
        served_pixels = [
            (int(x[0, CENTRE, CENTRE]) + 256 * int(x[1, CENTRE, CENTRE]))
            for x in batch['inputs']
        ]
        assert served_pixels == served[-len(served_pixels):]
    assert sorted(served) == sorted(selection.indices.tolist())


def test_bad_selections_are_refused(cifar10_root, tmp_path):
    inner, selection = geda_selection(cifar10_root)
    path = save(tmp_path, inner, selection)
    with pytest.raises(ValueError, match='keeps fraction 0.5'):
        quiet_build(wrapper_cfg(cifar10_root, 0.4, selection_file=path))
    other = quiet_build(
        dict(
            wrapper_cfg(cifar10_root, 0.5),
            dataset=local_cifar_cfg(cifar10_root, per_class=5)))
    with pytest.raises(ValueError, match='different training set'):
        other.load_selection(path)
    ds = quiet_build(wrapper_cfg(cifar10_root, 0.5))
    with pytest.raises(ValueError, match='weights must be finite'):
        ds.set_indices(selection.indices, -np.ones(30))
    with pytest.raises(ValueError, match='unique'):
        ds.set_indices(np.zeros(30, dtype=int))
    for bad in (0, 1.5, 'half'):
        with pytest.raises((TypeError, ValueError), match='fraction'):
            quiet_build(wrapper_cfg(cifar10_root, bad))


class ServedIndices(Hook):
    """Records the ``sample_idx`` of every training batch."""

    served = []

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        type(self).served += [
            int(s.sample_idx) for s in data_batch['data_samples']
        ]


def test_stock_config_trains_on_the_selection(cifar10_root, tmp_path):
    """mmpretrain's own resnet18_8xb16_cifar10 config (``mmpretrain::``
    base), the plugin through custom_imports, LocalCIFAR10 wrapped, one
    epoch through mmengine's Runner: every selected sample once."""
    HOOKS.register_module(module=ServedIndices, force=True)
    inner, selection = geda_selection(cifar10_root)
    path = save(tmp_path, inner, selection)
    assert osp.isdir(osp.join(osp.dirname(mmpretrain.__file__), '.mim'))
    from .test_hook import stock_cfg  # it imports this module
    cfg = stock_cfg(
        cifar10_root,
        tmp_path / 'work',
        tmp_path,
        hook=False,
        selection_file=path)
    ServedIndices.served = []
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        runner = Runner.from_cfg(cfg)
        runner.train()
    assert sorted(ServedIndices.served) == sorted(selection.indices.tolist())
    assert 'val/accuracy/top1' in runner.message_hub.log_scalars
