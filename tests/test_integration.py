"""The mmcls integration: wrapper, hook, runner, tools, configs."""
import ast
import json
import os
import os.path as osp
import re
import sys
from typing import List
from unittest import mock

import numpy as np
import pytest
import torch
from mmcls.datasets import build_dataloader, build_dataset
from mmcls.models import build_classifier
from mmcv import Config
from mmcv.runner import (EpochBasedRunner, Hook, IterBasedRunner,
                         build_optimizer)

import mmcls_geda
from mmcls_geda import (GEDASubsetDataset, GradNormHook, apply_geda,
                        score_and_select)
from mmcls_geda.apis import SelectionArgs
from mmcls_geda.selection import record, select_subset
from .conftest import (REPO, TEST_PIPELINE, TRAIN_PIPELINE, ServedIndices,
                       decode_indices, free_port, make_runner, run_tool,
                       run_tool_failing, save_selection, small_cfg_options,
                       small_resnet_cfg, train_loader, wrapper_cfg)

# --- registration and configs ------------------------------------------------


def test_import_registers_plugin():
    from mmcls.datasets import DATASETS
    from mmcv.runner import HOOKS
    assert DATASETS.get('GEDASubsetDataset') is GEDASubsetDataset
    assert HOOKS.get('GradNormHook') is GradNormHook
    for name in ('LocalCIFAR10', 'LocalCIFAR100', 'SklearnDigits'):
        assert DATASETS.get(name) is not None
    assert mmcls_geda.__version__
    # the mmcls 0.x stack's glue, never the mmpretrain 1.x one
    assert mmcls_geda.STACK == 'mmcls'
    assert 'mmcls_geda.engines.mmpretrain' not in sys.modules


@pytest.mark.parametrize('name', [
    'geda/resnet18_1xb64-geda-f0.2_cifar10.py',
    'geda/resnet18_1xb64-geda-f0.8_cifar100.py',
    'baselines/resnet18_1xb64-ranked_even-f0.4_cifar10.py',
    'craig/resnet18_1xb64-craig-f0.6_cifar10.py',
    'gradmatch/resnet18_1xb64-gradmatch-f0.8_cifar100.py',
    'schedules/resnet18_1xb64-geda-warmup1-f0.2_cifar10.py',
    'schedules/resnet18_1xb64-geda-e4-gradmatch-r4-f0.2_cifar100.py',
    'schedules/resnet18w16_1xb64-geda-r4-gmweights-f0.2_cifar10-5k.py',
])
def test_configs_declare_fraction_once(name):
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    fraction = float(name.split('-f')[1].split('_')[0])
    assert cfg.data.train.type == 'GEDASubsetDataset'
    assert cfg.data.train.fraction == fraction
    assert cfg.data.train.dataset.type.startswith('LocalCIFAR')
    # evaluation runs on the whole test set: val/test are not wrapped
    assert cfg.data.val.type == cfg.data.test.type
    assert cfg.data.test.type == cfg.data.train.dataset.type
    (hook, ) = cfg.custom_hooks
    assert hook.type == 'GradNormHook' and hook.priority == 'HIGHEST'
    assert cfg.data.samples_per_gpu == 64 and cfg.runner.max_epochs == 12
    assert cfg.lr_config.policy == 'OneCycle'
    assert cfg.lr_config.max_lr / cfg.lr_config.div_factor == 1e-3
    assert 'mmcls_geda' in cfg.custom_imports.imports
    # the fraction is set in one place of the file: one `fraction=` in
    # its code (comments and strings aside), inside data.train
    tree = ast.parse(open(osp.join(REPO, 'configs', name)).read())
    keywords = [
        node for node in ast.walk(tree)
        if isinstance(node, ast.keyword) and node.arg == 'fraction'
    ]
    assert len(keywords) <= 1
    if keywords:
        assert keywords[0].value.value == fraction


def test_apply_geda_turns_any_config_into_geda():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/resnet/resnet18_1xb64-full_cifar10.py'))
    out = apply_geda(cfg, 0.3, 'geda', hook=dict(scope='last_layer'), nodes=7)
    assert cfg.data.train.type == 'LocalCIFAR10'  # the input is untouched
    assert out.data.train.type == 'GEDASubsetDataset'
    assert out.data.train.fraction == 0.3
    assert out.data.train.dataset == cfg.data.train
    hooks = [h for h in out.custom_hooks if h['type'] == 'GradNormHook']
    assert hooks == [
        dict(
            type='GradNormHook',
            method='geda',
            options=dict(nodes=7),
            priority='HIGHEST',
            scope='last_layer')
    ]
    again = apply_geda(out, 0.6, 'random')
    assert again.data.train.dataset == cfg.data.train
    assert [h['method'] for h in again.custom_hooks] == ['random']
    with pytest.raises(ValueError, match='fraction'):
        apply_geda(cfg, 1.5)
    with pytest.raises(ValueError, match='unknown method'):
        apply_geda(cfg, 0.5, 'nope')
    craig = apply_geda(cfg, 0.5, 'craig')
    assert craig.model.type == 'WeightedImageClassifier'
    assert apply_geda(
        cfg, 0.5, 'craig',
        hook=dict(weighted=False)).model.type == 'ImageClassifier'


# --- the wrapper -------------------------------------------------------------


def test_wrapper_length_selection_and_interface(cifar10_root):
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.5))
    assert len(ds) == 30 and len(ds.dataset) == 60
    assert ds.CLASSES == [f'class{i}' for i in range(10)]
    assert 'size=30/60, no selection yet' in repr(ds)
    assert not ds.has_selection
    with pytest.raises(RuntimeError, match='GradNormHook'):
        ds[0]  # a wrapper nobody selected for serves nothing
    ds.set_selection(select_subset(None, ds.full_labels, 0.5, 'random'))
    assert ds.has_selection and 'random selection' in repr(ds)
    labels = ds.get_gt_labels()
    assert np.bincount(labels).tolist() == [3] * 10
    assert ds.get_cat_ids(0) == [int(labels[0])]
    item = ds[4]
    assert decode_indices(item['img'][None]).item() == ds.indices[4]
    results = [np.eye(10)[y] for y in labels]  # perfect predictions
    assert ds.evaluate(results, metric='accuracy')['accuracy_top-1'] == 100.0


def test_wrapper_set_indices_checks(cifar10_root):
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.5))
    with pytest.raises(ValueError, match='needs 30 indices'):
        ds.set_indices(np.arange(29))
    with pytest.raises(ValueError, match='unique'):
        ds.set_indices(np.r_[np.arange(29), 0])
    with pytest.raises(ValueError, match=r'\[0, 60\)'):
        ds.set_indices(np.arange(31, 61))
    ds.set_indices(np.arange(30, 60))
    assert ds.indices.tolist() == list(range(30, 60))


@pytest.mark.parametrize('fraction', [0, 1.2, -1])
def test_wrapper_bad_fraction(cifar10_root, fraction):
    with pytest.raises(
            ValueError, match=r'fraction must be a number in \(0, 1\]'):
        build_dataset(wrapper_cfg(cifar10_root, fraction))


def test_wrapper_needs_labels():

    class Unlabelled(torch.utils.data.Dataset):
        CLASSES = None

        def __len__(self):
            return 3

        def __getitem__(self, i):
            return {}

    with pytest.raises(TypeError, match='get_gt_labels'):
        GEDASubsetDataset(Unlabelled(), 0.5)


# --- local CIFAR -------------------------------------------------------------


def test_local_cifar_warns_and_never_downloads(cifar10_root, cifar100_root):
    with mock.patch(
            'mmcls.datasets.cifar.download_and_extract_archive',
            side_effect=AssertionError('download attempted')):
        with pytest.warns(UserWarning, match='differ from the official md5'):
            ds = build_dataset(
                dict(
                    type='LocalCIFAR10',
                    data_prefix=cifar10_root,
                    pipeline=TEST_PIPELINE))
        assert len(ds) == 60 and ds.CLASSES[3] == 'class3'
        with pytest.warns(UserWarning):
            ds100 = build_dataset(
                dict(
                    type='LocalCIFAR100',
                    data_prefix=cifar100_root,
                    pipeline=TEST_PIPELINE,
                    test_mode=True))
        assert len(ds100) == 100 and len(ds100.CLASSES) == 100


def test_local_cifar_wrong_path_shows_layout(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        build_dataset(
            dict(
                type='LocalCIFAR10',
                data_prefix=str(tmp_path),
                pipeline=TEST_PIPELINE))
    assert 'cifar-10-batches-py/data_batch_1' in str(err.value)
    assert 'nothing is downloaded' in str(err.value)


# --- the hook in a real EpochBasedRunner -------------------------------------


def test_hook_selects_and_loader_serves_exactly_the_selection(
        cifar10_root, tmp_path):
    torch.manual_seed(0)
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.5))
    model = build_classifier(small_resnet_cfg())
    model.init_weights()
    loader = train_loader(ds)
    runner = make_runner(tmp_path, model, max_epochs=2)
    hook = GradNormHook(
        method='geda', scoring_batch_size=16, scoring_workers=0)
    runner.register_hook(hook, priority='HIGHEST')
    served = ServedIndices()
    runner.register_hook(served)
    runner.run([loader], [('train', 1)])

    record = json.load(open(tmp_path / 'geda_selection.json'))
    chosen = np.array(record['selection']['indices'])
    assert ds.selection.method == 'geda' and record['schema'] == 3
    assert np.array_equal(np.sort(ds.indices), chosen)
    # both epochs, through persistent workers, served exactly the selection
    per_epoch = np.split(np.concatenate(served.served), 2)
    for epoch in per_epoch:
        assert np.array_equal(np.sort(epoch), chosen)
    # the saved selection is the one select_subset makes from the norms
    norms = np.load(tmp_path / 'geda_norms.npy')
    again = select_subset(norms, ds.full_labels, 0.5, 'geda', seed=0)
    assert np.array_equal(again.indices, chosen)
    assert record['fingerprint'] == ds.fingerprint
    assert record['timings']['scoring_s'] > 0
    report = json.load(open(tmp_path / 'geda_selection_report.json'))
    assert [c['kept'] for c in report['classes']] == [3] * 10
    assert [c['objective']
            for c in report['classes']] == pytest.approx(again.objective)
    import matplotlib.image
    png = matplotlib.image.imread(tmp_path / 'geda_selection_report.png')
    assert png.ndim == 3 and min(png.shape[:2]) > 200  # a drawn figure


def test_score_and_select_restores_model(cifar10_root):
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.5))
    model = build_classifier(small_resnet_cfg())
    model.init_weights()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    run = score_and_select(
        model, ds, SelectionArgs(scoring_batch_size=16, scoring_workers=0))
    assert run.selection.method == 'geda' and run.norms.shape == (60, )
    assert not ds.has_selection  # the pipeline does not serve: the hook does
    assert model.training and all(m.training for m in model.modules())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())


def test_hook_bad_input_before_any_gradient_pass(cifar10_root, tmp_path):
    with pytest.raises(ValueError, match='unknown method'):
        GradNormHook(method='coreset')
    with pytest.raises(ValueError, match='unknown scope'):
        GradNormHook(scope='everything')
    with pytest.raises(FileNotFoundError, match='nothing is downloaded'):
        GradNormHook(checkpoint=str(tmp_path / 'missing.pth'))

    plain = build_dataset(
        dict(
            type='LocalCIFAR10',
            data_prefix=cifar10_root,
            pipeline=TRAIN_PIPELINE))
    model = build_classifier(small_resnet_cfg())
    runner = make_runner(tmp_path, model)
    runner.register_hook(GradNormHook(), priority='HIGHEST')
    loader = build_dataloader(plain, 8, 1, dist=False)
    with mock.patch('mmcls_geda.apis.runs.grad_norms') as gn:
        with pytest.raises(TypeError, match='GEDASubsetDataset'):
            runner.run([loader], [('train', 1)])
        gn.assert_not_called()


def test_hook_refuses_iter_based_runner(tmp_path):
    import logging
    model = build_classifier(small_resnet_cfg())
    runner = IterBasedRunner(
        model,
        optimizer=build_optimizer(model, dict(type='SGD', lr=0.1)),
        work_dir=str(tmp_path),
        logger=logging.getLogger('t'),
        max_iters=1)
    with pytest.raises(TypeError, match='EpochBasedRunner'):
        GradNormHook().before_run(runner)


def test_selection_file_mismatch_is_refused(cifar10_root, cifar100_root,
                                            tmp_path):
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.5))
    sel = select_subset(np.arange(60.0), ds.full_labels, 0.5)
    saved = record.make_record(
        sel,
        fingerprint=ds.fingerprint,
        scope='full',
        weighted=False,
        epoch=0,
        scoring_s=0.0)
    good = record.save_record(str(tmp_path / 'good'), saved)[0]
    reused = build_dataset(wrapper_cfg(cifar10_root, 0.5, selection_file=good))
    assert np.array_equal(reused.indices, sel.indices)
    saved['fingerprint'] = dict(length=60, labels_sha256='0' * 16)
    bad = record.save_record(str(tmp_path / 'bad'), saved)[0]
    with pytest.raises(ValueError, match='different training set'):
        build_dataset(wrapper_cfg(cifar10_root, 0.5, selection_file=bad))
    with pytest.raises(ValueError, match='fraction'):
        build_dataset(wrapper_cfg(cifar10_root, 0.4, selection_file=good))


# --- the tools, as a user runs them ------------------------------------------


def test_train_tool_one_epoch_then_resume(python, cifar10_root, tmp_path):
    config = 'configs/geda/resnet18_1xb64-geda-f0.2_cifar10.py'
    work = str(tmp_path / 'work')
    log = run_tool(python, 'tools/train.py', config, '--work-dir', work,
                   '--device', 'cpu', '--seed', '0', '--cfg-options',
                   *small_cfg_options(cifar10_root, work, epochs=1))
    assert 'GradNormHook (epoch 0): geda kept 12/60' in log
    record = json.load(open(osp.join(work, 'geda_selection.json')))
    assert len(record['selection']['indices']) == 12
    # evaluation ran on the whole (unwrapped) test set
    assert 'accuracy_top-1' in log

    log2 = run_tool(python, 'tools/train.py', config, '--work-dir', work,
                    '--device', 'cpu', '--resume-from',
                    osp.join(work, 'epoch_1.pth'), '--cfg-options',
                    *small_cfg_options(cifar10_root, work, epochs=2))
    assert 'resumed the selection from' in log2
    assert 'GradNormHook (epoch' not in log2  # no new gradient pass
    assert osp.isfile(osp.join(work, 'epoch_2.pth'))

    # tools/test.py evaluates the checkpoint on the whole test set
    opts = [
        o for o in small_cfg_options(cifar10_root, work)
        if not o.startswith('custom_hooks')
    ]
    log3 = run_tool(python, 'tools/test.py', config,
                    osp.join(work, 'epoch_2.pth'), '--metrics', 'accuracy',
                    '--device', 'cpu', '--cfg-options', *opts)
    assert 'accuracy_top-1' in log3 and '30/30' in log3


def test_stock_mmcls_train_and_cifar100(python, cifar100_root, tmp_path):
    """mmcls's own train script, the plugin reached via custom_imports."""
    import mmcls
    stock = osp.join(osp.dirname(mmcls.__file__), '.mim/tools/train.py')
    config = ('configs/baselines/'
              'resnet18_1xb64-quantile_random-f0.4_cifar100.py')
    work = str(tmp_path / 'work')
    log = run_tool(python, stock, config, '--work-dir', work, '--device',
                   'cpu', '--cfg-options',
                   *small_cfg_options(cifar100_root, work, kind='cifar100'))
    assert 'quantile_random kept 100/200' in log
    assert 'accuracy_top-1' in log


def test_select_tool_then_reuse(python, cifar10_root, tmp_path):
    config = 'configs/geda/resnet18_1xb64-geda-f0.4_cifar10.py'
    work = str(tmp_path / 'sel')
    opts = small_cfg_options(cifar10_root, work)
    run_tool(python, 'tools/geda_select.py', config, '--work-dir', work,
             '--device', 'cpu', '--cfg-options', *opts)
    path = osp.join(work, 'geda_selection.json')
    saved = json.load(open(path))
    assert len(saved['selection']['indices']) == 24
    assert saved['model_seed'] == 0  # the model init is seeded, and said
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.4, selection_file=path))
    assert ds.indices.tolist() == saved['selection']['indices']
    # reproducible: the same arguments select the same subset
    again = str(tmp_path / 'again')
    run_tool(python, 'tools/geda_select.py', config, '--work-dir', again,
             '--device', 'cpu', '--cfg-options',
             *small_cfg_options(cifar10_root, again))
    repeat = json.load(open(osp.join(again, 'geda_selection.json')))
    assert repeat['selection']['indices'] == saved['selection']['indices']
    np.testing.assert_array_equal(
        np.load(osp.join(again, 'geda_norms.npy')),
        np.load(osp.join(work, 'geda_norms.npy')))


# --- distributed: 2 CPU processes, gloo, a real runner -----------------------


def _train_on_rank(rank, world, port, root, work_dir):
    import logging
    import os

    import torch.distributed as dist
    from mmcv.parallel import MMDistributedDataParallel
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        torch.manual_seed(0)  # the same initial weights on both ranks
        ds = build_dataset(wrapper_cfg(root, 0.4))
        model = build_classifier(small_resnet_cfg())
        model.init_weights()
        loader = build_dataloader(
            ds,
            samples_per_gpu=8,
            workers_per_gpu=1,
            num_gpus=1,
            dist=True,
            seed=0)
        optimizer = build_optimizer(model, dict(type='SGD', lr=0.01))
        runner = EpochBasedRunner(
            MMDistributedDataParallel(model),
            optimizer=optimizer,
            work_dir=work_dir,
            logger=logging.getLogger(f'rank{rank}'),
            max_epochs=1)
        runner.register_optimizer_hook(dict(grad_clip=None))
        runner.register_hook(
            GradNormHook(
                scoring_batch_size=8, scoring_workers=0, report=False),
            priority='HIGHEST')
        served = ServedIndices()
        runner.register_hook(served)
        runner.run([loader], [('train', 1)])
        np.save(osp.join(work_dir, f'indices{rank}.npy'), ds.indices)
        np.save(
            osp.join(work_dir, f'served{rank}.npy'),
            np.concatenate(served.served))
    finally:
        dist.destroy_process_group()


def test_distributed_ranks_end_with_identical_indices(cifar10_root, tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(
        _train_on_rank,
        args=(2, free_port(), cifar10_root, str(tmp_path)),
        nprocs=2)
    record = json.load(open(tmp_path / 'geda_selection.json'))
    chosen = record['selection']['indices']
    ranks = [np.load(tmp_path / f'indices{r}.npy') for r in range(2)]
    assert ranks[0].tolist() == ranks[1].tolist() == chosen
    # the two ranks' shards together served the whole subset
    served = np.concatenate(
        [np.load(tmp_path / f'served{r}.npy') for r in range(2)])
    assert sorted(set(served.tolist())) == chosen
    # the selection is the one the (gathered) norms give on one process
    norms = np.load(tmp_path / 'geda_norms.npy')
    labels = np.load(tmp_path / 'geda_labels.npy')
    assert select_subset(norms, labels, 0.4).indices.tolist() == chosen


class _SamplerKind(Hook):
    """Records the training loader's sampler (and the one it delegates a
    fixed-length epoch to)."""

    def __init__(self):
        self.kinds = []

    def before_train_epoch(self, runner):
        sampler = runner.data_loader.sampler
        self.kinds.append(
            (type(sampler).__name__, type(getattr(sampler, 'default',
                                                  None)).__name__))


def _rs2_on_rank(rank, world, port, root, work_dir, sampler_cfg):
    from mmcv.runner import DistSamplerSeedHook

    from .conftest import train_on_rank
    torch.manual_seed(0)
    model = build_classifier(small_resnet_cfg())
    model.init_weights()
    served, kind = ServedIndices(), _SamplerKind()
    # DistSamplerSeedHook: as mmcls's train_model registers it
    hooks = [(GradNormHook(method='rs2', report=False), 'HIGHEST'),
             (DistSamplerSeedHook(), 'NORMAL'), (served, 'NORMAL'),
             (kind, 'NORMAL')]
    train_on_rank(
        rank,
        world,
        port,
        work_dir,
        build_dataset(wrapper_cfg(root, 0.3)),
        model,
        hooks,
        3,
        sampler_cfg=sampler_cfg)
    np.savez(
        osp.join(work_dir, f'rank{rank}.npz'),
        served=np.concatenate(served.served),
        sizes=[len(b) for b in served.served],
        kinds=kind.kinds)


def test_distributed_fixed_length_epochs_serve_mmcls_order(
        cifar10_root, tmp_path):
    """Two gloo ranks, RS2 at 18 of 60 samples (9 a rank: batches of 8 and
    a padded 2): ``EpochPlanSampler`` serves every rank mmcls's
    ``DistributedSampler`` order (seed, epoch), the same as a config
    without the ``sampler`` key."""
    import torch.multiprocessing as mp
    runs = {}
    for name, sampler_cfg in (('default', None),
                              ('plan', dict(type='EpochPlanSampler'))):
        work = tmp_path / name
        work.mkdir()
        mp.spawn(
            _rs2_on_rank,
            args=(2, free_port(), cifar10_root, str(work), sampler_cfg),
            nprocs=2)
        runs[name] = [np.load(work / f'rank{r}.npz') for r in range(2)]
    for rank in range(2):
        default, plan = runs['default'][rank], runs['plan'][rank]
        assert plan['kinds'].tolist(
        ) == [['EpochPlanSampler', 'DistributedSampler']] * 3
        assert default['kinds'][0].tolist()[0] == 'DistributedSampler'
        assert plan['sizes'].tolist() == [8, 2] * 3  # no batch of one
        assert np.array_equal(plan['sizes'], default['sizes'])
        assert np.array_equal(plan['served'], default['served'])
        epochs = plan['served'].reshape(3, 10)
        assert (epochs[:, -1] == epochs[:, 0]).all()  # padded: its first
    both = np.stack([r['served'].reshape(3, 10) for r in runs['plan']])
    for epoch in range(3):  # the ranks' shares: that epoch's 18 samples
        assert len(set(both[:, epoch, :9].ravel().tolist())) == 18


def test_resume_with_interval_serves_that_epochs_selection(
        cifar10_root, tmp_path):
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.5))
    saved = select_subset(np.arange(60.0), ds.full_labels, 0.5, 'topk')
    save_selection(tmp_path, ds, saved, epoch=2, per_epoch=True)
    (tmp_path / 'geda_selection.json').unlink()
    model = build_classifier(small_resnet_cfg())
    runner = make_runner(tmp_path, model, max_epochs=4)
    runner.data_loader = build_dataloader(ds, 8, 1, dist=False)
    hook = GradNormHook(method='topk', interval=2, scoring_workers=0)
    runner._epoch = 3  # as after resume_from=epoch_3.pth
    with mock.patch('mmcls_geda.apis.runs.grad_norms') as gn:
        hook.before_train_epoch(runner)
        gn.assert_not_called()
    assert ds.indices.tolist() == saved.indices.tolist()
    # resumed where a re-selection is due: it selects anew
    fresh = GradNormHook(
        method='topk',
        interval=2,
        scoring_workers=0,
        scoring_batch_size=16,
        report=False)
    runner._epoch = 2
    fresh.before_train_epoch(runner)
    assert osp.isfile(tmp_path / 'geda_selection.json')
    # no saved selection for the epoch resumed at: a clear error
    (tmp_path / 'geda_selection_epoch2.json').unlink()
    runner._epoch = 3
    with pytest.raises(FileNotFoundError, match='resuming at epoch 3'):
        GradNormHook(method='topk', interval=2).before_train_epoch(runner)


def test_hook_scores_with_a_checkpoint_or_a_proxy_model(
        cifar10_root, tmp_path):
    """checkpoint=: a copy of the model with those weights scores;
    scoring_model=: another classifier (a proxy) scores."""
    from mmcv.runner import save_checkpoint

    from mmcls_geda.apis.pipeline import scoring_loader
    from mmcls_geda.scoring import grad_norms
    torch.manual_seed(1)
    pretrained = build_classifier(small_resnet_cfg())
    pretrained.init_weights()
    path = str(tmp_path / 'pretrained.pth')
    save_checkpoint(pretrained, path)
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.5))
    model = build_classifier(small_resnet_cfg())  # other weights
    model.init_weights()
    before = {k: v.clone() for k, v in model.state_dict().items()}

    run = score_and_select(model, ds,
                           SelectionArgs(checkpoint=path, scoring_workers=0))
    loader = scoring_loader(ds, TRAIN_PIPELINE[2:], scoring_workers=0)
    expected, _ = grad_norms(pretrained, loader)
    np.testing.assert_allclose(run.norms, expected, rtol=1e-6)
    after = model.state_dict()  # the trained model itself is untouched
    assert all(torch.equal(before[k], after[k]) for k in before)

    proxy = score_and_select(
        model, ds,
        SelectionArgs(
            scoring_model=small_resnet_cfg(base_channels=4),
            scoring_workers=0))
    assert len(proxy.selection) == 30
    assert not np.allclose(proxy.norms, expected)

    # a file that is no checkpoint: named, with torch's reason
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(
            RuntimeError,
            match=f"the scoring checkpoint '{re.escape(str(empty))}' could "
            r'not be loaded \((EOFError|UnpicklingError|RuntimeError)'):
        score_and_select(
            model, ds, SelectionArgs(checkpoint=str(empty), scoring_workers=0))


def test_pretrained_config_loads_a_local_checkpoint(python, cifar10_root,
                                                    tmp_path):
    """The pretrained variant initialises its backbone from a local file
    (never a download) before the gradient pass."""
    from mmcls.models import build_backbone
    torch.manual_seed(2)
    backbone = build_backbone(
        dict(type='ResNet', depth=18, base_channels=8, out_indices=(3, )))
    path = str(tmp_path / 'resnet18_imagenet.pth')
    torch.save(
        {
            'state_dict': {
                f'backbone.{k}': v
                for k, v in backbone.state_dict().items()
            }
        }, path)
    work = str(tmp_path / 'work')
    opts = [
        o for o in small_cfg_options(cifar10_root, work)
        if 'base_channels' not in o
    ]
    log = run_tool(
        python, 'tools/geda_select.py',
        'configs/geda/resnet18_1xb64-geda-f0.2-pretrained_cifar10.py',
        '--work-dir', work, '--device', 'cpu', '--cfg-options', *opts,
        'model.backbone.base_channels=8',
        f'model.backbone.init_cfg.checkpoint={path}')
    assert f'load checkpoint from local path: {path}' in log
    assert len(
        json.load(open(osp.join(
            work, 'geda_selection.json')))['selection']['indices']) == 12
    missing = run_tool_failing(
        python, 'tools/geda_select.py',
        'configs/geda/resnet18_1xb64-geda-f0.2-pretrained_cifar10.py',
        '--work-dir', work, '--device', 'cpu', '--cfg-options', *opts,
        'model.backbone.base_channels=8',
        'model.backbone.init_cfg.checkpoint=/nonexistent/r18.pth')
    assert 'can not be found' in missing or 'No such file' in missing


def test_scoring_needs_a_dataset_with_its_own_pipeline(cifar10_root):
    inner = dict(
        type='KFoldDataset',
        num_splits=2,
        dataset=dict(
            type='LocalCIFAR10',
            data_prefix=cifar10_root,
            pipeline=TRAIN_PIPELINE))
    ds = build_dataset(
        dict(type='GEDASubsetDataset', fraction=0.5, dataset=inner))
    assert len(ds) == 15  # half of the 30 samples of one fold
    with pytest.raises(TypeError, match='KFoldDataset'):
        score_and_select(
            build_classifier(small_resnet_cfg()), ds,
            SelectionArgs(scoring_pipeline=TRAIN_PIPELINE[2:]))


def test_random_skips_the_gradient_pass_and_claims_no_scores(
        cifar10_root, tmp_path):
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.5))
    runner = make_runner(tmp_path, build_classifier(small_resnet_cfg()))
    runner.data_loader = build_dataloader(ds, 8, 1, dist=False)
    with mock.patch('mmcls_geda.apis.runs.grad_norms') as gn, \
            mock.patch('mmcls_geda.apis.runs.grad_embeddings') as ge:
        GradNormHook(method='random', seed=3).before_train_epoch(runner)
        gn.assert_not_called()
        ge.assert_not_called()
    sel = ds.selection
    assert 'objective' not in sel.summary() and len(sel) == 30
    assert sel.objective == [] and sel.integral == []
    assert sel.indices.tolist() == select_subset(
        None, ds.full_labels, 0.5, 'random', seed=3).indices.tolist()
    assert osp.isfile(tmp_path / 'geda_selection.json')
    assert not osp.exists(tmp_path / 'geda_norms.npy')
    assert not osp.exists(tmp_path / 'geda_selection_report.png')


def _package_imports(path: str) -> set:
    """The top-level parts of ``mmcls_geda`` a file imports: relative
    imports that leave its layer (``..x``) and absolute ``mmcls_geda.x``
    ones (``import``, ``from ... import`` and ``from mmcls_geda import
    x``)."""
    names = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            names |= {
                a.name.split('.')[1]
                for a in node.names if a.name.startswith('mmcls_geda.')
            }
        elif isinstance(node, ast.ImportFrom):
            if node.level >= 2 or (node.level == 0
                                   and node.module == 'mmcls_geda'):
                parts = [node.module.split('.')[0]] if (
                    node.module
                    and node.level) else [a.name for a in node.names]
                names |= set(parts)
            elif node.level == 0 and (node.module
                                      or '').startswith('mmcls_geda.'):
                names.add(node.module.split('.')[1])
    return names


def test_imports_point_downwards():
    """hooks -> apis -> runners/scoring/datasets -> selection; never
    upwards, by relative or absolute imports."""
    package = osp.join(REPO, 'mmcls_geda')

    def imported(layer):
        names = set()
        for folder, _, files in os.walk(osp.join(package, layer)):
            for name in files:
                if name.endswith('.py'):
                    names |= _package_imports(osp.join(folder, name)) - {layer}
        return names

    assert 'scoring' not in imported('hooks')  # the hook calls the pipeline
    for lower in ('scoring', 'datasets', 'selection', 'apis'):
        assert 'hooks' not in imported(lower), lower
    assert 'apis' not in imported('datasets') | imported('scoring')
    assert imported('selection') <= set()  # nothing of the package above
    assert imported('runners') <= set()  # a runner knows no hook or data
    # the engine-free file readers; one stack's glue (engines/) is imported
    # by nothing below the package's __init__
    assert imported('local_data') <= {'selection'}
    assert imported('subsets') <= {'selection'}
    for lower in ('scoring', 'datasets', 'selection', 'apis', 'local_data',
                  'subsets', 'hooks', 'models', 'runners'):
        assert 'engines' not in imported(lower), lower


def test_the_import_check_sees_absolute_imports(tmp_path):
    path = tmp_path / 'probe.py'
    path.write_text('import mmcls_geda.hooks.grad_norm_hook\n'
                    'from mmcls_geda.apis import apply_geda\n'
                    'from mmcls_geda import scoring\n'
                    'from ..datasets import subset\n'
                    'from . import sibling\n')
    assert _package_imports(
        str(path)) == {'hooks', 'apis', 'scoring', 'datasets'}


# where a method's or a pruning rule's name may be read: the entries
# (selection/registry.py, pruning's CANDIDATES) and the grid's spec grammar
NAME_OWNERS = ('selection/registry.py', 'selection/pruning.py',
               'experiments/spec.py')


def _name_comparisons(path: str, names: set) -> List[str]:
    """``line: source`` of each comparison of a name in ``names`` with
    something called a method or a rule, and of each literal collection of
    two names or more, in the Python file ``path``."""
    tree = ast.parse(open(path, encoding='utf-8').read())
    found = []

    def literal_names(node):
        if isinstance(node, ast.Constant) and node.value in names:
            return [node.value]
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return [
                e.value for e in node.elts
                if isinstance(e, ast.Constant) and e.value in names
            ]
        return []

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            named = [n for side in sides for n in literal_names(side)]
            about = ' '.join(
                ast.unparse(side) for side in sides
                if not literal_names(side)).lower()
            if named and ('method' in about or 'rule' in about):
                found.append(f'{node.lineno}: {ast.unparse(node)}')
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            if len(literal_names(node)) >= 2:
                found.append(f'{node.lineno}: {ast.unparse(node)}')
    return found


def test_no_method_name_is_compared_outside_its_entry():
    """A method's (or pruning rule's) behaviour lives in its registry
    entry: no other module of the package compares its name."""
    from mmcls_geda.selection import METHODS
    from mmcls_geda.selection.pruning import RULES
    names = set(METHODS) | set(RULES)
    package = osp.join(REPO, 'mmcls_geda')
    found = []
    for folder, _, files in os.walk(package):
        for name in sorted(files):
            path = osp.join(folder, name)
            relative = osp.relpath(path, package)
            if name.endswith('.py') and relative not in NAME_OWNERS:
                found += [
                    f'{relative}:{hit}'
                    for hit in _name_comparisons(path, names)
                ]
    assert not found, 'method names read outside the registry:\n' + \
        '\n'.join(found)


def test_the_name_check_sees_comparisons_and_lists(tmp_path):
    path = tmp_path / 'probe.py'
    path.write_text("if self.method == 'rs2':\n    pass\n"
                    "ok = within_bin == 'random'\n"
                    "PER_EPOCH = ('rs2', 'geda_rotate')\n"
                    "x = rule in ('infobatch', )\n")
    assert _name_comparisons(
        str(path), {'rs2', 'geda_rotate', 'infobatch', 'random'}) == [
            "1: self.method == 'rs2'", "4: ('rs2', 'geda_rotate')",
            "5: rule in ('infobatch',)"
        ]


def test_local_cifar_keeps_and_relabels_classes(cifar10_root):
    pipeline = [dict(type='Collect', keys=['img', 'gt_label'])]
    ds = build_dataset(
        dict(
            type='LocalCIFAR10',
            data_prefix=cifar10_root,
            pipeline=pipeline,
            keep_classes=[7, 5, 9],
            per_class=2))
    assert ds.CLASSES == ['class7', 'class5', 'class9']
    assert np.bincount(ds.get_gt_labels()).tolist() == [2, 2, 2]
    originals = {}
    for i in range(len(ds)):
        item = ds[i]
        original = int(
            decode_indices(
                torch.from_numpy(item['img']).permute(2, 0, 1)[None])[0])
        originals.setdefault(int(item['gt_label']), []).append(original)
    # the tiny files label sample j with j % 10; the first two of each kept
    # class in the files' order, relabelled 7 -> 0, 5 -> 1, 9 -> 2
    assert originals == {0: [7, 17], 1: [5, 15], 2: [9, 19]}
    for bad in ([], [1, 1], [-1], [10], ['a']):
        with pytest.raises(ValueError, match='keep_classes'):
            build_dataset(
                dict(
                    type='LocalCIFAR10',
                    data_prefix=cifar10_root,
                    pipeline=pipeline,
                    keep_classes=bad))
