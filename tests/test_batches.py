"""No training batch of one sample where the plugin decides an epoch's
length (issue 31, case 1): batch normalisation cannot train on it
(``Expected more than 1 value per channel when training``)."""
import json
import logging

import mmcv.runner.epoch_based_runner as epoch_based_runner
import numpy as np
import pytest
import torch
from mmcls.datasets import DistributedSampler, build_dataloader, build_dataset
from mmcls.models import build_classifier
from mmcv.runner import EpochBasedRunner, build_optimizer

from mmcls_geda import DynamicPruningHook, GradNormHook
from mmcls_geda.datasets import EpochPlanSampler
from mmcls_geda.selection.epoch_state import ROTATION_LOG
from mmcls_geda.subsets import serve_fixed_epoch
from mmcls_geda.subsets.batches import (PaddedSampler, no_lone_share,
                                        pad_lone_batch)
from .conftest import (TRAIN_PIPELINE, ServedIndices, small_resnet_cfg,
                       write_cifar10)


@pytest.fixture
def no_epoch_sleep(monkeypatch):
    monkeypatch.setattr(epoch_based_runner.time, 'sleep', lambda s: None)


def _pruning_loader(root, dist):
    """Dynamic pruning's loader over the tiny CIFAR-10, batches of 7."""
    data = build_dataset(
        dict(
            type='GEDASubsetDataset',
            fraction=1.0,
            dataset=dict(
                type='LocalCIFAR10', data_prefix=root,
                pipeline=TRAIN_PIPELINE)))
    return build_dataloader(
        data,
        7,
        0,
        dist=dist,
        seed=0,
        persistent_workers=False,
        sampler_cfg=dict(type='EpochPlanSampler'))


def test_a_share_of_k_batches_plus_one_gets_one_more_sample():
    assert no_lone_share(15, 7, False) == 16
    assert [no_lone_share(s, 7, False) for s in (14, 16, 20)] == [14, 16, 20]
    assert no_lone_share(15, 7, True) == 15  # drop_last drops it
    assert no_lone_share(1, 1, False) == 1  # batches of one by choice
    assert no_lone_share(3, 2, False) == 4 and no_lone_share(1, 4, False) == 2


@pytest.mark.parametrize('total', [29, 30, 31, 57])
def test_pruning_shares_never_end_with_one_sample_on_any_rank(total):
    """Two ranks of batches of 7: 29 samples give shares of 15 (7 + 7 + 1)
    on both ranks."""
    plan = np.random.default_rng(0).permutation(100)[:total]
    shares = []
    for rank in (0, 1):
        sampler = EpochPlanSampler(range(100), 2, rank)
        sampler.set_batching(7, False)
        sampler.set_plan(plan)
        shares.append(list(sampler))
        assert len(shares[-1]) == len(sampler)
        assert len(sampler) % 7 != 1
        repeated = len(sampler) - -(-total // 2)
        assert shares[-1][len(shares[-1]) - repeated:] == \
            shares[-1][:repeated]  # the rank's first samples, again
    assert len(shares[0]) == len(shares[1])
    assert set(shares[0] + shares[1]) == set(plan.tolist())


def test_padded_sampler_pads_each_rank_of_mmcls_distributed_sampler():
    served = []
    for rank in (0, 1):
        inner = DistributedSampler(range(29), 2, rank, shuffle=True, seed=3)
        loader = torch.utils.data.DataLoader(
            range(29), batch_size=7, sampler=inner)
        assert pad_lone_batch(loader) == 1  # 15 a rank: 7 + 7 + 1
        assert pad_lone_batch(loader) == 0  # once
        assert isinstance(loader.batch_sampler.sampler, PaddedSampler)
        assert len(loader) == 3  # the iterations are unchanged
        batches = [b.tolist() for b in loader]
        assert [len(b) for b in batches] == [7, 7, 2]
        assert batches[-1][-1] == batches[0][0]
        served += sum(batches, [])
    assert set(served) == set(range(29))


def test_a_fixed_epoch_is_served_as_mmcls_default_loader_serves_it():
    """17 samples in batches of 8, not distributed: a loader with
    ``EpochPlanSampler`` serves the batches of mmcls's default loader
    (torch's ``RandomSampler``, its seed drawn at each epoch's first
    batch), the lone last sample padded alike."""
    served = []
    for sampler_cfg in (None, dict(type='EpochPlanSampler')):
        loader = build_dataloader(
            list(range(17)),
            8,
            0,
            dist=False,
            seed=0,
            persistent_workers=False,
            sampler_cfg=sampler_cfg)
        torch.manual_seed(7)
        epochs = []
        for _ in range(2):
            serve_fixed_epoch(loader)
            assert len(loader) == 3
            epochs.append([b.tolist() for b in loader])
        served.append(epochs)
    assert isinstance(loader.sampler, EpochPlanSampler)
    assert served[0] == served[1]
    first = served[1][0]
    assert [len(b)
            for b in first] == [8, 8, 2] and first[-1][-1] == first[0][0]
    assert served[1][0] != served[1][1]  # a new order every epoch


def test_a_plan_sampler_without_default_needs_a_plan():
    from mmcls_geda.subsets import PlanSampler
    sampler = PlanSampler(range(10), 1, 0, 'a hook')
    with pytest.raises(RuntimeError, match='no default sampler'):
        sampler.serve_default(8, False)
    with pytest.raises(RuntimeError, match='a hook'):
        iter(sampler)


def _runner(work_dir, max_epochs):
    torch.manual_seed(0)
    model = build_classifier(
        dict(
            small_resnet_cfg(),
            type='WeightedImageClassifier',
            normalize_weights=False))
    model.init_weights()
    from mmcv.parallel import MMDataParallel
    runner = EpochBasedRunner(
        MMDataParallel(model),
        optimizer=build_optimizer(model, dict(type='SGD', lr=0.01)),
        work_dir=str(work_dir),
        logger=logging.getLogger('test_batches'),
        max_epochs=max_epochs)
    runner.register_optimizer_hook(dict(grad_clip=None))
    runner.register_lr_hook(  # epochs may vary: by epoch progress
        dict(
            policy='EpochProgress',
            schedule=dict(policy='OneCycle', max_lr=0.1, by_epoch=False)))
    served = ServedIndices()
    runner.register_hook(served)
    return runner, served


def test_pruning_trains_through_an_epoch_of_k_batches_plus_one(
        tmp_path, no_epoch_sleep):
    """50 samples in batches of 7: the full first epoch is 7 x 7 + 1;
    before the fix its last iteration failed in batch normalisation."""
    root = write_cifar10(str(tmp_path / 'data'), per_class_train=5)
    loader = _pruning_loader(root, dist=False)
    runner, served = _runner(tmp_path / 'work', 3)
    runner.register_hook(
        DynamicPruningHook(ratio=0.5, anneal=0.0), priority='HIGHEST')
    runner.run([loader], [('train', 1)])
    assert min(len(b) for b in served.served) >= 2
    epochs = json.load(open(tmp_path / 'work' / ROTATION_LOG))['epochs']
    assert epochs[0]['processed'] == 50 and epochs[0]['repeated'] == 1
    assert epochs[0]['iterations'] == 8  # as without the repeat
    first = np.concatenate(served.served[:8])
    assert first.size == 51 and np.unique(first).size == 50
    assert first[-1] == first[0]  # the epoch's first sample, again
    assert runner.iter == runner.max_iters


@pytest.mark.parametrize('method, hook',
                         [('rs2', {}), ('random', dict(warmup_epochs=0.25))])
def test_subsets_train_through_epochs_of_k_batches_plus_one(
        tmp_path, no_epoch_sleep, method, hook):
    """A quarter of 60 samples is 15, in batches of 7: 7 + 7 + 1."""
    root = write_cifar10(str(tmp_path / 'data'))
    wrapper = build_dataset(
        dict(
            type='GEDASubsetDataset',
            fraction=0.25,
            dataset=dict(
                type='LocalCIFAR10', data_prefix=root,
                pipeline=TRAIN_PIPELINE)))
    loader = build_dataloader(
        wrapper, 7, 0, dist=False, seed=0, persistent_workers=False)
    runner, served = _runner(tmp_path / 'work', 2)
    runner.register_hook(
        GradNormHook(
            method=method,
            scoring_batch_size=32,
            scoring_workers=0,
            report=False,
            **hook),
        priority='HIGHEST')
    runner.run([loader], [('train', 1)])
    assert [len(b) for b in served.served] == [7, 7, 2] * 2
    for epoch in range(2):
        batches = served.served[3 * epoch:3 * epoch + 3]
        assert batches[2][-1] == batches[0][0]
        assert np.unique(np.concatenate(batches)).size == 15
    assert runner.iter == runner.max_iters == 6


def test_issue_reproduction_pruned_digits_with_tools_train(python, tmp_path):
    """The issue's crash, made deterministic: the digits demo model ends
    in a 1x1 feature map, where batch normalisation fails on a batch of
    one. Its 1,347 training digits in batches of 673 end with a batch of
    one in the full first epoch."""
    from mmcv import Config

    from mmcls_geda import apply_pruning
    from .conftest import REPO, run_tool
    cfg = apply_pruning(
        Config.fromfile(f'{REPO}/configs/demo/resnet18_1xb64-full_digits.py'),
        ratio=0.5)
    path = str(tmp_path / 'pruned_digits.py')
    cfg.dump(path)
    work = str(tmp_path / 'work')
    run_tool(python, 'tools/train.py', path, '--work-dir', work, '--seed', '0',
             '--device', 'cpu', '--cfg-options', 'runner.max_epochs=1',
             'evaluation.interval=1', 'data.samples_per_gpu=673',
             'data.workers_per_gpu=0', 'data.persistent_workers=False')
    (epoch, ) = json.load(open(f'{work}/{ROTATION_LOG}'))['epochs']
    assert epoch['processed'] == 1347 and epoch['repeated'] == 1
    assert epoch['iterations'] == 3


def _prune_on_rank(rank, world, port, root, work_dir):
    import os

    import torch.distributed as dist
    from mmcv.parallel import MMDistributedDataParallel
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    epoch_based_runner.time.sleep = lambda s: None  # this process only
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        loader = _pruning_loader(root, dist=True)
        torch.manual_seed(0)
        model = build_classifier(
            dict(
                small_resnet_cfg(),
                type='WeightedImageClassifier',
                normalize_weights=False))
        runner = EpochBasedRunner(
            MMDistributedDataParallel(model),
            optimizer=build_optimizer(model, dict(type='SGD', lr=0.01)),
            work_dir=work_dir,
            logger=logging.getLogger(f'rank{rank}'),
            max_epochs=2)
        runner.register_optimizer_hook(dict(grad_clip=None))
        runner.register_hook(
            DynamicPruningHook(ratio=0.5, anneal=0.0), priority='HIGHEST')
        served = ServedIndices()
        runner.register_hook(served)
        runner.run([loader], [('train', 1)])
        np.save(f'{work_dir}/sizes{rank}.npy', [len(b) for b in served.served])
        np.save(f'{work_dir}/first{rank}.npy',
                np.concatenate(served.served[:3]))
    finally:
        dist.destroy_process_group()


def test_each_rank_pads_its_own_share(tmp_path):
    """Two gloo ranks, 30 samples in batches of 7: each rank's share of
    the full first epoch is 15 = 7 + 7 + 1, padded on both ranks."""
    import torch.multiprocessing as mp

    from .conftest import free_port
    root = write_cifar10(str(tmp_path / 'data'), per_class_train=3)
    mp.spawn(
        _prune_on_rank, args=(2, free_port(), root, str(tmp_path)), nprocs=2)
    sizes = [np.load(tmp_path / f'sizes{r}.npy') for r in (0, 1)]
    assert np.array_equal(sizes[0], sizes[1]) and sizes[0].min() >= 2
    assert sizes[0][:3].tolist() == [7, 7, 2]
    first = [np.load(tmp_path / f'first{r}.npy') for r in (0, 1)]
    assert all(f[-1] == f[0] for f in first)  # each rank's own first again
    assert set(np.concatenate(first).tolist()) == set(range(30))
    epochs = json.load(open(tmp_path / ROTATION_LOG))['epochs']
    assert epochs[0]['repeated'] == 2  # one a rank
