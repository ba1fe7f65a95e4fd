"""PauselessEpochBasedRunner: mmcv's loop without the epoch-start pause.

The pause guarded against a deadlock at epoch transitions (mmcv PR #306):
the cases here are the ones an epoch transition can break, run with no
pause at all: persistent workers (train and val loaders both alive) while
the subset changes every epoch, and a 2-process gloo run.
"""
import json
import logging
import os.path as osp
import time
from unittest import mock

import numpy as np
import pytest
import torch
from mmcls.datasets import build_dataloader, build_dataset
from mmcls.models import build_classifier
from mmcv import Config
from mmcv.parallel import MMDataParallel
from mmcv.runner import (RUNNERS, EpochBasedRunner, Hook, build_optimizer,
                         build_runner)

from mmcls_geda import (GradNormHook, PauselessEpochBasedRunner,
                        use_pauseless_runner)
from mmcls_geda.datasets.subset import find_wrapper
from .conftest import (REPO, TRAIN_PIPELINE, ServedIndices, free_port,
                       small_resnet_cfg, wrapper_cfg)

# a val workflow computes the loss: the test images with their labels
VAL_PIPELINE = TRAIN_PIPELINE[2:]


class Recorder(Hook):
    """The wrapper's indices at every epoch start (after GradNormHook) and
    the learning rate of every iteration."""

    def __init__(self):
        self.indices, self.lrs = [], []

    def before_train_epoch(self, runner):
        wrapper = find_wrapper(runner.data_loader.dataset)
        self.indices.append(wrapper.indices.copy())

    def before_train_iter(self, runner):
        self.lrs.append(runner.optimizer.param_groups[0]['lr'])


class Reselect(Hook):
    """Serves a new, seeded subset at every epoch start via set_indices."""

    def before_train_epoch(self, runner):
        wrapper = find_wrapper(runner.data_loader.dataset)
        rng = np.random.default_rng(runner.epoch)
        wrapper.set_indices(
            np.sort(
                rng.choice(
                    len(wrapper.dataset), size=len(wrapper), replace=False)))


class Evaluated(Hook):
    """Counts the validation batches (the val loader's workers served)."""

    def __init__(self):
        self.val_batches = 0

    def after_val_iter(self, runner):
        self.val_batches += 1


def _model(seed=0):
    torch.manual_seed(seed)
    model = build_classifier(small_resnet_cfg())
    model.init_weights()
    return model


def _runner(kind, tmp_path, model, max_epochs, **kw):
    optimizer = build_optimizer(model, dict(type='SGD', lr=0.01, momentum=0.9))
    runner = kind(
        MMDataParallel(model),
        optimizer=optimizer,
        work_dir=str(tmp_path),
        logger=logging.getLogger('test_runner'),
        max_epochs=max_epochs,
        **kw)
    runner.register_optimizer_hook(dict(grad_clip=None))
    runner.register_lr_hook(dict(policy='step', step=[1]))
    return runner


def _loader(ds, workers=1, shuffle=True):
    return build_dataloader(
        ds,
        samples_per_gpu=8,
        workers_per_gpu=workers,
        dist=False,
        shuffle=shuffle,
        seed=0,
        persistent_workers=workers > 0)


def _val_dataset(root):
    return build_dataset(
        dict(
            type='LocalCIFAR10',
            data_prefix=root,
            pipeline=VAL_PIPELINE,
            test_mode=True))


def _reselecting_hook() -> GradNormHook:
    """Re-selects the largest last-layer norms of the current model every
    epoch: a subset that changes between epochs."""
    return GradNormHook(
        method='topk',
        scope='last_layer',
        interval=1,
        scoring_workers=0,
        report=False)


# --- construction and configs ------------------------------------------------


def test_registered_and_built_from_a_config(tmp_path):
    assert RUNNERS.get('PauselessEpochBasedRunner') is (
        PauselessEpochBasedRunner)
    model = _model()
    runner = build_runner(
        dict(type='PauselessEpochBasedRunner', max_epochs=3, epoch_pause=0),
        default_args=dict(
            model=MMDataParallel(model),
            optimizer=build_optimizer(model, dict(type='SGD', lr=0.1)),
            work_dir=str(tmp_path),
            logger=logging.getLogger('test_runner')))
    assert isinstance(runner, EpochBasedRunner)  # the hooks' runner check
    assert runner.epoch_pause == 0.0 and runner.max_epochs == 3


@pytest.mark.parametrize('bad', [-1, float('nan'), float('inf'), '2', True])
def test_bad_epoch_pause_is_refused(tmp_path, bad):
    with pytest.raises(ValueError, match='epoch_pause'):
        _runner(
            PauselessEpochBasedRunner, tmp_path, _model(), 1, epoch_pause=bad)
    with pytest.raises(ValueError, match='epoch_pause'):
        use_pauseless_runner(dict(runner=dict(type='EpochBasedRunner')), bad)


def test_use_pauseless_runner_copies_the_config():
    cfg = Config(
        dict(
            runner=dict(type='EpochBasedRunner', max_epochs=12),
            custom_imports=dict(imports=['other'])))
    new = use_pauseless_runner(cfg)
    assert isinstance(new, Config)
    assert new.runner == dict(
        type='PauselessEpochBasedRunner', max_epochs=12, epoch_pause=0.0)
    assert new.custom_imports == dict(
        imports=['other', 'mmcls_geda'], allow_failed_imports=False)
    assert cfg.runner.type == 'EpochBasedRunner'  # not changed
    again = use_pauseless_runner(
        new.to_dict() if hasattr(new, 'to_dict') else dict(new),
        epoch_pause=0.5)
    assert again['runner']['epoch_pause'] == 0.5
    stock = use_pauseless_runner(new, epoch_pause=None)
    assert stock.runner == dict(type='EpochBasedRunner', max_epochs=12)
    with pytest.raises(ValueError, match='IterBasedRunner'):
        use_pauseless_runner(dict(runner=dict(type='IterBasedRunner')))


def test_sleeps_only_the_given_pause(cifar10_root, tmp_path):
    """mmcv's runner sleeps 2 s at each train and val epoch start (and 1 s
    before after_run); this one sleeps epoch_pause, or not at all."""
    slept = {}
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.4))
    ds.set_indices(np.arange(24))
    val = _val_dataset(cifar10_root)
    for kind, kw in [(EpochBasedRunner, {}), (PauselessEpochBasedRunner, {}),
                     (PauselessEpochBasedRunner, dict(epoch_pause=0.25))]:
        runner = _runner(kind, tmp_path, _model(), 2, **kw)
        with mock.patch.object(time, 'sleep') as sleep:
            runner.run([_loader(ds, 0),
                        _loader(val, 0, shuffle=False)], [('train', 1),
                                                          ('val', 1)])
        slept[(kind.__name__, kw.get('epoch_pause'))] = [
            c.args[0] for c in sleep.call_args_list
        ]
    assert slept[('EpochBasedRunner', None)] == [2, 2, 2, 2, 1]
    assert slept[('PauselessEpochBasedRunner', None)] == [1]
    assert slept[('PauselessEpochBasedRunner', 0.25)] == [0.25] * 4 + [1]


def test_trains_exactly_as_mmcv_runner(cifar10_root, tmp_path):
    """Same data order, learning rates, weights and evaluation batches as
    EpochBasedRunner, with persistent train and val workers."""
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.4))
    ds.set_indices(np.arange(0, 60, 60 // 24)[:24])
    val = _val_dataset(cifar10_root)
    results = []
    for kind in (EpochBasedRunner, PauselessEpochBasedRunner):
        model = _model()
        runner = _runner(kind, tmp_path / kind.__name__, model, 3)
        served, recorder, evaluated = ServedIndices(), Recorder(), Evaluated()
        for hook in (served, recorder, evaluated):
            runner.register_hook(hook)
        with mock.patch.object(time, 'sleep'):  # mmcv's 2 s, not needed
            runner.run([_loader(ds), _loader(val, shuffle=False)],
                       [('train', 1), ('val', 1)])
        results.append((np.concatenate(served.served), recorder.lrs,
                        evaluated.val_batches, model.state_dict()))
    (served0, lrs0, val0, state0), (served1, lrs1, val1, state1) = results
    np.testing.assert_array_equal(served0, served1)
    assert lrs0 == lrs1 and len(set(lrs0)) == 2  # the step policy ran
    assert val0 == val1 == 3 * 4  # 30 test images, batches of 8, 3 epochs
    for name in state0:
        torch.testing.assert_close(state0[name], state1[name], rtol=0, atol=0)


# --- the epoch transition: persistent workers, a subset that changes ---------


@pytest.mark.parametrize('how', ['hook_interval', 'set_indices'])
def test_persistent_workers_serve_each_epochs_new_subset(
        cifar10_root, tmp_path, how):
    """No pause, two persistent train workers and a persistent val worker:
    every epoch serves exactly the subset set before it, which changes
    between epochs (GradNormHook re-selecting the largest last-layer norms
    of the current model at interval 1, or set_indices)."""
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.4))
    val = _val_dataset(cifar10_root)
    runner = _runner(PauselessEpochBasedRunner, tmp_path, _model(), 4)
    if how == 'hook_interval':
        runner.register_hook(_reselecting_hook(), priority='HIGHEST')
    else:
        runner.register_hook(Reselect(), priority='HIGHEST')
    served, recorder, evaluated = ServedIndices(), Recorder(), Evaluated()
    for hook in (served, recorder, evaluated):
        runner.register_hook(hook)
    start = time.perf_counter()
    runner.run([_loader(ds, workers=2),
                _loader(val, shuffle=False)], [('train', 1), ('val', 1)])
    took = time.perf_counter() - start
    epochs = np.split(np.concatenate(served.served), 4)
    assert len(recorder.indices) == 4
    for chosen, got in zip(recorder.indices, epochs):
        assert sorted(got.tolist()) == sorted(chosen.tolist())
    # the subset changed between epochs (the model's scores moved)
    assert len({tuple(sorted(c)) for c in recorder.indices}) >= 3
    assert evaluated.val_batches == 4 * 4
    # 8 epoch starts without mmcv's 2 s each (1 s of it is run()'s own)
    assert took < 15


# --- distributed: 2 CPU processes, gloo, persistent workers, no pause --------


def _train_on_rank(rank, world, port, root, work_dir):
    import os

    import torch.distributed as dist
    from mmcv.parallel import MMDistributedDataParallel
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        ds = build_dataset(wrapper_cfg(root, 0.4))
        val = _val_dataset(root)
        model = _model()
        loaders = [
            build_dataloader(
                d,
                8,
                1,
                num_gpus=1,
                dist=True,
                shuffle=shuffle,
                seed=0,
                persistent_workers=True)
            for d, shuffle in ((ds, True), (val, False))
        ]
        runner = PauselessEpochBasedRunner(
            MMDistributedDataParallel(model),
            optimizer=build_optimizer(model, dict(type='SGD', lr=0.01)),
            work_dir=work_dir,
            logger=logging.getLogger(f'rank{rank}'),
            max_epochs=3)
        runner.register_optimizer_hook(dict(grad_clip=None))
        runner.register_hook(_reselecting_hook(), priority='HIGHEST')
        served, recorder, evaluated = (ServedIndices(), Recorder(),
                                       Evaluated())
        for hook in (served, recorder, evaluated):
            runner.register_hook(hook)
        runner.run(loaders, [('train', 1), ('val', 1)])
        flat = torch.cat([p.detach().flatten() for p in model.parameters()])
        np.savez(
            osp.join(work_dir, f'rank{rank}.npz'),
            indices=np.stack(recorder.indices),
            served=np.concatenate(served.served),
            val_batches=evaluated.val_batches,
            params=flat.numpy())
    finally:
        dist.destroy_process_group()


def test_distributed_ranks_finish_identical(cifar10_root, tmp_path):
    import torch.multiprocessing as mp
    mp.spawn(
        _train_on_rank,
        args=(2, free_port(), cifar10_root, str(tmp_path)),
        nprocs=2)
    ranks = [np.load(tmp_path / f'rank{r}.npz') for r in range(2)]
    assert np.array_equal(ranks[0]['indices'], ranks[1]['indices'])
    assert len({tuple(i) for i in ranks[0]['indices']}) >= 2  # re-selected
    np.testing.assert_array_equal(ranks[0]['params'], ranks[1]['params'])
    per_rank = [np.split(r['served'], 3) for r in ranks]
    for epoch in range(3):  # the two shards of an epoch: that epoch's subset
        both = np.concatenate([per_rank[0][epoch], per_rank[1][epoch]])
        assert sorted(both) == sorted(ranks[0]['indices'][epoch])
    assert int(ranks[0]['val_batches']) == int(ranks[1]['val_batches']) > 0


# --- benchmarks/end_to_end.py: the breakdown on tiny data --------------------


def test_end_to_end_benchmark_breakdown(cifar10_root, tmp_path, python):
    from .conftest import run_tool
    out = run_tool(python, 'benchmarks/end_to_end.py',
                   'configs/resnet/resnet18_1xb64-full_cifar10.py', '--data',
                   cifar10_root, '--fractions',
                   '1', '0.5', '--runner', 'pauseless', '--work-dir',
                   str(tmp_path), '--cfg-options', 'data.samples_per_gpu=16',
                   'data.workers_per_gpu=1', 'runner.max_epochs=2',
                   'model.backbone.base_channels=8',
                   'model.head.in_channels=64', 'evaluation.interval=2',
                   'log_config.interval=1', 'checkpoint_config.interval=2')
    last = [ln for ln in out.splitlines() if ln.startswith('speedup_')][-1]
    last = dict(kv.split('=') for kv in last.split())
    assert set(last) == {'speedup_f0.5_pauseless', 'fixed_per_epoch_pauseless'}
    rows = [line for line in out.splitlines() if line.startswith('| 0.5 ')]
    cells = [c.strip() for c in rows[0].strip('|').split('|')]
    header = [line for line in out.splitlines()
              if line.startswith('| run |')][0]
    names = [c.strip() for c in header.strip('|').split('|')]
    row = dict(zip(names, cells))
    assert float(row['pauses']) == 0.0  # the pauseless runner slept nothing
    assert float(row['selection']) > 0.0  # GEDA's pass was timed
    timings = json.load(
        open(tmp_path / 'f0.5-pauseless' / 'end_to_end_timings.json'))
    assert len(timings['epochs']) == 2 and len(timings['evals']) == 1


def test_apply_geda_and_apply_pruning_take_the_pauseless_runner():
    from mmcls_geda import apply_geda, apply_pruning
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'demo', 'resnet18_1xb64-full_digits.py'))
    for made in (apply_geda(cfg, 0.4, epoch_pause=0),
                 apply_pruning(cfg, ratio=0.5, epoch_pause=0.25)):
        assert made.runner.type == 'PauselessEpochBasedRunner'
        assert made.runner.max_epochs == cfg.runner.max_epochs
    assert apply_geda(cfg, 0.4).runner == cfg.runner  # None: kept
    with pytest.raises(ValueError, match='epoch_pause'):
        apply_geda(cfg, 0.4, epoch_pause=-1)
