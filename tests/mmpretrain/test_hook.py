"""``GradNormHook`` on mmpretrain 1.x: one selection before the first epoch,
through mmpretrain's stock CIFAR-10 config and mmengine's ``Runner``, saved
as on mmcls 0.x and served again on a resume."""
import glob
import os
import os.path as osp
import uuid
import warnings

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import HOOKS
from mmengine.runner import Runner

from mmcls_geda.apis import SelectionArgs
from mmcls_geda.engines.mmpretrain.hook import (GradNormHook, scoring_pipeline,
                                                static_methods)
from mmcls_geda.selection import record, select_subset
from mmcls_geda.selection.schedule import selection_seed
from .test_subset import ServedIndices


def stock_cfg(root,
              work_dir,
              tmp_path,
              hook=None,
              max_epochs=1,
              wrap=True,
              **wrapper):
    """mmpretrain's resnet18_8xb16_cifar10 (``mmpretrain::`` base) with
    the plugin through custom_imports, LocalCIFAR10 (wrapped in a
    GEDASubsetDataset of half the data, with ``wrapper``'s other arguments,
    unless ``wrap`` is False), a narrow ResNet and ``hook`` (a GradNormHook
    config; None: GEDA's, False: none)."""
    cfg_path = tmp_path / 'geda_cfg.py'
    cfg_path.write_text(
        "_base_ = ['mmpretrain::resnet/resnet18_8xb16_cifar10.py']\n"
        "custom_imports = dict(imports=['mmcls_geda'], "
        'allow_failed_imports=False)\n')
    cfg = Config.fromfile(str(cfg_path))
    # ConfigDict.update merges: replace the datasets by assignment
    data = cfg.train_dataloader.dataset.to_dict()
    data.update(type='LocalCIFAR10', data_root=root)
    cfg.train_dataloader.update(
        batch_size=8, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset = dict(
        type='GEDASubsetDataset', fraction=0.5, dataset=data, **
        wrapper) if wrap else data
    val = cfg.val_dataloader.dataset.to_dict()
    val.update(type='LocalCIFAR10', data_root=root)
    cfg.val_dataloader.update(
        batch_size=8, num_workers=0, persistent_workers=False)
    cfg.val_dataloader.dataset = val
    cfg.test_dataloader = cfg.val_dataloader
    cfg.model.backbone.update(stem_channels=8, base_channels=8)
    cfg.model.head.in_channels = 64
    cfg.train_cfg.max_epochs = max_epochs
    cfg.param_scheduler = []
    cfg.randomness = dict(seed=0)
    cfg.work_dir = str(work_dir)
    hook = dict(
        type='GradNormHook',
        method='geda',
        priority='HIGHEST',
        scoring_workers=0) if hook is None else hook
    hooks = [] if hook is False else [hook]
    cfg.custom_hooks = hooks + [dict(type='ServedIndices')]
    cfg.default_hooks.logger.interval = 1
    return cfg


def train(cfg, **overrides):
    """Train ``cfg``; returns the runner, the served ``sample_idx`` and
    the run's log."""
    HOOKS.register_module(module=ServedIndices, force=True)
    ServedIndices.served = []
    cfg.merge_from_dict(overrides)
    # mmengine names its logger by the config's name and the second: two
    # runs in one second would share the first one's logger and log file
    cfg.experiment_name = f'run_{uuid.uuid4().hex}'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the tiny files' md5 sums differ
        runner = Runner.from_cfg(cfg)
        runner.train()
    log = osp.join(runner.log_dir, f'{runner.timestamp}.log')
    with open(log, encoding='utf-8') as f:
        return runner, list(ServedIndices.served), f.read()


def test_stock_config_selects_before_the_first_epoch(cifar10_root, tmp_path):
    """The hook in mmpretrain's stock config: scores the 60 training
    samples, selects 30 with GEDA, serves them, saves what it did."""
    work = tmp_path / 'work'
    runner, served, log = train(stock_cfg(cifar10_root, work, tmp_path))
    saved = record.load_record(osp.join(work, record.SELECTION_FILE))
    indices = np.asarray(saved['selection']['indices'])
    assert len(served) == indices.size == 30
    assert sorted(served) == sorted(indices.tolist())  # each once
    norms, labels = record.load_scores(str(work))
    assert norms.shape == (60, ) and np.all(np.isfinite(norms))
    assert np.all(norms > 0)
    wrapper = runner.train_dataloader.dataset
    assert np.array_equal(labels, wrapper.full_labels)
    record.check_fits(saved, 'saved', wrapper.fingerprint, 0.5)
    again = select_subset(
        norms, labels, 0.5, 'geda', seed=selection_seed(0, 0))
    assert np.array_equal(again.indices, indices)
    assert saved['method'] == 'geda' and saved['scope'] == 'full'
    assert saved['weighted'] is False and saved['seed'] == 0
    assert 'GradNormHook: scoring full gradient norms of all 60' in log
    assert 'with the validation pipeline' in log
    assert osp.isfile(osp.join(work, record.SCHEDULE_FILE))
    assert 'val/accuracy/top1' in runner.message_hub.log_scalars


def test_the_selection_is_the_numpy_cores(cifar10_root, tmp_path):
    """The cross-stack statement: for a method that reads norms (topk,
    input norms) and one that reads nothing (random), at another seed, the
    hook serves exactly what the numpy core selects from the norms and
    labels it saved, which is what the mmcls 0.x pipeline selects from
    them (the same ``select_subset`` with ``selection_seed(seed, 0)``)."""
    for method, scope in (('topk', 'input'), ('random', 'full')):
        work = tmp_path / method
        hook = dict(
            type='GradNormHook',
            method=method,
            scope=scope,
            seed=7,
            scoring_workers=0,
            report=False)
        runner, served, _ = train(
            stock_cfg(cifar10_root, work, tmp_path, hook=hook))
        saved = record.load_record(osp.join(work, record.SELECTION_FILE))
        labels = runner.train_dataloader.dataset.full_labels
        if method == 'topk':
            norms, saved_labels = record.load_scores(str(work))
            assert np.array_equal(saved_labels, labels)
        else:  # reads nothing: nothing scored, no scores saved
            assert not osp.isfile(osp.join(work, record.NORMS_FILE))
            norms = None
        expected = select_subset(
            norms, labels, 0.5, method, seed=selection_seed(7, 0))
        assert saved['seed'] == selection_seed(7, 0) == 7
        assert sorted(served) == sorted(expected.indices.tolist())
        assert saved['selection']['indices'] == expected.indices.tolist()


def test_an_unknown_argument_is_refused():
    with pytest.raises(
            ValueError,
            match=r"unknown GradNormHook argument\(s\) \['scoop'\]"):
        GradNormHook(scoop='full')


def test_the_static_methods():
    assert static_methods() == [
        'bottomk', 'ccs', 'craig', 'geda', 'gradmatch', 'quantile_random',
        'random', 'ranked_even', 'topk'
    ]


def test_a_loader_without_the_wrapper_is_refused(cifar10_root, tmp_path):
    cfg = stock_cfg(cifar10_root, tmp_path / 'work', tmp_path, wrap=False)
    with pytest.raises(
            TypeError,
            match='needs a GEDASubsetDataset.*'
            'train_dataloader.dataset is a LocalCIFAR10'):
        train(cfg)


def test_scoring_pipeline_follows_the_mmcls_rule():
    """The setting, else the first evaluation pipeline, else the training
    pipeline without its random transforms (refused when one sizes the
    images), as :func:`mmcls_geda.apis.derive_scoring_pipeline`."""
    pack = dict(type='PackInputs')
    train_pipeline = [
        dict(type='RandomCrop', crop_size=32, padding=4),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'), pack
    ]
    args = SelectionArgs()
    given = SelectionArgs(scoring_pipeline=[pack])
    assert scoring_pipeline(given, [('validation', [1])],
                            train_pipeline)[0] == [pack]
    assert scoring_pipeline(args, [('validation', None), ('test', [pack])],
                            train_pipeline) == ([pack], 'the test pipeline')
    kept, source = scoring_pipeline(args, [], train_pipeline)
    assert kept == [pack] and 'RandomCrop' in source
    with pytest.raises(ValueError, match='RandomResizedCrop'):
        scoring_pipeline(args, [],
                         [dict(type='RandomResizedCrop', scale=224), pack])


def test_a_resumed_run_serves_the_saved_selection(cifar10_root, tmp_path,
                                                  monkeypatch):
    """Two epochs with checkpoints, then a resume from epoch 1: no
    scoring pass, the saved selection served again."""
    # mmengine 0.10.7 resumes with torch.load's default, which torch >= 2.6
    # made weights_only=True, and its checkpoints hold a HistoryBuffer: a
    # resume on this stack needs the opt-out (docs/mmpretrain.md)
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    work = tmp_path / 'work'
    _, first, _ = train(stock_cfg(cifar10_root, work, tmp_path, max_epochs=2))
    saved_path = osp.join(work, record.SELECTION_FILE)
    saved = record.load_record(saved_path)
    norms_file = osp.join(work, record.NORMS_FILE)
    written = os.stat(norms_file).st_mtime_ns
    runner, resumed, log = train(
        stock_cfg(cifar10_root, work, tmp_path, max_epochs=2),
        load_from=str(work / 'epoch_1.pth'),
        resume=True)
    assert runner.epoch == 2
    assert 'GradNormHook: resumed the selection from' in log
    assert '(epoch 1, no scoring pass)' in log
    assert 'GradNormHook: scoring' not in log
    assert os.stat(norms_file).st_mtime_ns == written
    indices = sorted(saved['selection']['indices'])
    assert sorted(resumed) == indices  # epoch 1 again, on the selection
    assert sorted(first[:30]) == sorted(first[30:]) == indices
    assert record.load_record(saved_path) == saved


def vit_cfg(root, work, tmp_path, **hook):
    """The stock config with a tiny vision transformer for 32x32 images
    (DeiT-tiny, 4x4 patches) in place of the ResNet."""
    cfg = stock_cfg(
        root, work, tmp_path, hook=dict(type='GradNormHook', **hook))
    cfg.model = dict(
        type='ImageClassifier',
        backbone=dict(
            type='VisionTransformer',
            arch='deit-tiny',
            img_size=32,
            patch_size=4),
        neck=None,
        head=dict(
            type='VisionTransformerClsHead',
            num_classes=10,
            in_channels=192,
            loss=dict(type='CrossEntropyLoss')))
    return cfg


def test_a_model_the_norms_cannot_take_is_named_before_training(
        cifar10_root, tmp_path):
    """A vision transformer scored over all its parameters: before any
    epoch (no scoring pass, no checkpoint), a TypeError names its first
    layer the exact per-sample norms cannot take and the way out
    (``scope='last_layer'``), which then trains."""
    work = tmp_path / 'work'
    with pytest.raises(
            TypeError,
            match=r"method 'geda'\) scores per-sample gradient norms: layer "
            r"'backbone.*has trainable parameters.*scope=\"last_layer\""):
        train(vit_cfg(cifar10_root, work, tmp_path, method='geda'))
    assert not glob.glob(osp.join(work, '*.pth'))
    assert not osp.exists(osp.join(work, record.SELECTION_FILE))
    _, served, log = train(
        vit_cfg(
            cifar10_root,
            tmp_path / 'last',
            tmp_path,
            method='geda',
            scope='last_layer'))
    assert len(served) == 30
    assert 'GradNormHook (epoch 0): geda kept 30/60' in log


def test_a_weighted_selection_file_needs_the_weighted_classifier(
        cifar10_root, tmp_path):
    """A saved weighted selection (a CRAIG record, say) served through the
    wrapper's ``selection_file`` to mmpretrain's plain ImageClassifier,
    which would ignore the weights: refused before training, naming the
    file and the classifier to set."""
    import dataclasses

    from .test_subset import geda_selection, save
    inner, selection = geda_selection(cifar10_root)
    weighted = dataclasses.replace(
        selection, weights=np.linspace(0.5, 2.0, selection.indices.size))
    path = save(tmp_path / 'saved', inner, weighted, weighted=True)
    work = tmp_path / 'work'
    with pytest.raises(
            TypeError,
            match=r'selection_file .* holds per-sample weights, which only '
            r"WeightedImageClassifier applies to its loss: set model.type = "
            r"'WeightedImageClassifier'"):
        train(stock_cfg(cifar10_root, work, tmp_path, selection_file=path))
    assert not glob.glob(osp.join(work, '*.pth'))
