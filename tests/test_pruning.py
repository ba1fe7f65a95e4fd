"""Dynamic, unbiased pruning from the training losses (InfoBatch-style)."""
import json
import logging
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmcls.datasets import build_dataloader, build_dataset
from mmcls.models import build_classifier
from mmcv import Config
from mmcv.runner import EpochBasedRunner, build_optimizer

from mmcls_geda import DynamicPruningHook, apply_pruning
from mmcls_geda.selection import record
from mmcls_geda.selection.pruning import (check_pruning_args, epoch_lengths,
                                          plan_epoch)
from .conftest import (REPO, TRAIN_PIPELINE, ServedIndices, free_port,
                       make_runner, run_tool, small_cfg_options,
                       small_resnet_cfg)

# --- the rule ---------------------------------------------------------------


def test_epoch_lengths_full_first_and_last():
    assert epoch_lengths(100, 12, 0.7, 0.125) == [100] + [70] * 9 + [100] * 2
    assert epoch_lengths(100, 4, 0.5, 0.0) == [100, 50, 50, 50]
    assert epoch_lengths(10, 3, 1.0, 0.0) == [10, 10, 10]


def test_plan_keeps_every_high_loss_sample_and_weights_the_rest():
    rng = np.random.default_rng(0)
    losses = rng.exponential(size=100)
    seen = np.ones(100, bool)
    seen[:5] = False  # never seen: kept like a high loss
    plan = plan_epoch(losses, seen, 70, np.random.default_rng(1))
    mean = losses[seen].mean()
    high = np.flatnonzero(~seen | (losses >= mean))
    assert plan.indices.size == 70 and np.unique(plan.indices).size == 70
    assert set(high) <= set(plan.indices.tolist())
    assert plan.above == high.size and plan.below == 100 - high.size
    kept_low = 70 - high.size
    assert plan.kept_below == kept_low
    assert plan.prune_ratio == pytest.approx(1 - kept_low / plan.below)
    weight = dict(zip(plan.indices.tolist(), plan.weights.tolist()))
    assert all(weight[i] == 1.0 for i in high)
    low_weights = [weight[i] for i in plan.indices if i not in set(high)]
    assert low_weights == pytest.approx([plan.below / kept_low] * kept_low)
    # a full epoch: everything once, weight 1
    full = plan_epoch(losses, seen, 100, np.random.default_rng(2))
    assert sorted(full.indices) == list(range(100))
    assert np.all(full.weights == 1.0)


@pytest.mark.parametrize('length', [40, 8])  # 8: fewer than above-mean
def test_weighted_epoch_sum_is_unbiased(length):
    rng = np.random.default_rng(3)
    losses = rng.exponential(size=50)
    values = rng.normal(size=50)  # stands for per-sample gradients
    seen = np.ones(50, bool)
    sums = [
        float(plan.weights @ values[plan.indices])
        for plan in (plan_epoch(losses, seen, length, np.random.default_rng(s))
                     for s in range(20000))
    ]
    spread = np.std(sums) / np.sqrt(len(sums))
    assert abs(np.mean(sums) - values.sum()) < 4 * spread


def test_pruning_arguments_are_checked():
    for args, name in [((0, 0.1, 0), 'keep'), ((1.5, 0.1, 0), 'keep'),
                       ((0.5, -0.1, 0), 'anneal'), ((0.5, 2, 0), 'anneal'),
                       ((0.5, 0.1, -1), 'seed'), ((True, 0.1, 0), 'keep')]:
        with pytest.raises(ValueError, match=name):
            check_pruning_args(*args)
        with pytest.raises(ValueError, match=name):
            DynamicPruningHook(*args)


def test_unnormalised_weighted_loss_and_recorded_losses():
    cfg = dict(
        small_resnet_cfg(),
        type='WeightedImageClassifier',
        normalize_weights=False)
    model = build_classifier(cfg)
    img, label = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    weight = torch.tensor([1.0, 2.0, 0.5, 4.0])
    loss = model.forward_train(
        img,
        label,
        sample_weight=weight,
        sample_idx=torch.tensor([7, 8, 9, 10]))['loss']
    idx, per_sample = model.recorded_losses
    assert idx.tolist() == [7, 8, 9, 10]
    expected = model.head.compute_loss(
        model.head.simple_test(
            model.extract_feat(img), softmax=False, post_process=False),
        label,
        reduction_override='none')
    assert torch.allclose(per_sample, expected.detach())
    assert torch.allclose(loss, (weight * expected).sum() / 4)


# --- in a real runner --------------------------------------------------------


def _pruning_runner(root,
                    work_dir,
                    max_epochs,
                    keep=0.5,
                    anneal=0.25,
                    world=1,
                    rank=0,
                    model_wrapper=None):
    ds = build_dataset(
        dict(
            type='DynamicPruningDataset',
            dataset=dict(
                type='LocalCIFAR10', data_prefix=root,
                pipeline=TRAIN_PIPELINE)))
    torch.manual_seed(0)
    model = build_classifier(
        dict(
            small_resnet_cfg(),
            type='WeightedImageClassifier',
            normalize_weights=False))
    model.init_weights()
    loader = build_dataloader(
        ds,
        8,
        1,
        dist=world > 1,
        seed=0,
        sampler_cfg=dict(type='DynamicPruningSampler'))
    if model_wrapper is None:
        runner = make_runner(work_dir, model, max_epochs=max_epochs)
    else:
        runner = EpochBasedRunner(
            model_wrapper(model),
            optimizer=build_optimizer(model, dict(type='SGD', lr=0.01)),
            work_dir=str(work_dir),
            logger=logging.getLogger(f'r{rank}'),
            max_epochs=max_epochs)
        runner.register_optimizer_hook(dict(grad_clip=None))
    runner.register_lr_hook(
        dict(
            policy='OneCycle',
            max_lr=0.1,
            div_factor=100,
            final_div_factor=100,
            by_epoch=False))
    hook = DynamicPruningHook(keep=keep, anneal=anneal, seed=5)
    runner.register_hook(hook, priority='HIGHEST')
    served = ServedIndices()
    runner.register_hook(served)
    return runner, loader, hook, served


def test_runner_serves_the_planned_counts_and_schedule(cifar10_root, tmp_path):
    runner, loader, hook, served = _pruning_runner(cifar10_root, tmp_path, 4)
    runner.run([loader], [('train', 1)])
    # 60 samples: full, 30, 30, full (anneal 0.25 of 4 epochs)
    per_epoch = [
        len(s) for s in np.split(
            np.concatenate(served.served), np.cumsum([60, 30, 30]))
    ]
    assert per_epoch == [60, 30, 30, 60]
    planned = 8 + 4 + 4 + 8  # batches of 8
    assert runner.iter == planned and runner.max_iters == planned
    lr_hook = next(h for h in runner.hooks if 'OneCycle' in type(h).__name__)
    assert lr_hook.lr_phases[-1][0] == planned - 1  # ends where training does
    log = json.load(open(tmp_path / record.PRUNING_LOG))['epochs']
    assert [e['processed'] for e in log] == [60, 30, 30, 60]
    # epoch 1 kept every sample at or above the mean of epoch 0's losses
    with np.load(tmp_path / record.pruning_state_file(1)) as state:
        losses, seen = state['losses'], state['seen']
    assert seen.all()
    epoch1 = np.concatenate(served.served)[60:90]
    high = np.flatnonzero(losses >= losses.mean())
    assert set(high) <= set(epoch1.tolist())
    assert log[1]['above'] == high.size


def test_resume_lands_on_the_same_plan(cifar10_root, tmp_path):
    runner, loader, hook, served = _pruning_runner(
        cifar10_root, tmp_path, 3, anneal=0.0)
    runner.run([loader], [('train', 1)])
    epoch2 = np.concatenate(served.served)[90:]
    # a new process resumes at epoch 2 from the saved losses
    again, loader2, hook2, _ = _pruning_runner(
        cifar10_root, tmp_path, 3, anneal=0.0)
    again.data_loader = loader2
    again._epoch = 2
    hook2.before_train_epoch(again)
    assert sorted(loader2.sampler.plan.tolist()) == sorted(epoch2.tolist())
    assert again.max_iters == 8 + 4 + 4
    os.remove(tmp_path / record.pruning_state_file(2))
    third, loader3, hook3, _ = _pruning_runner(cifar10_root, tmp_path, 3)
    third.data_loader, third._epoch = loader3, 2
    with pytest.raises(FileNotFoundError, match='resuming at epoch 2'):
        hook3.before_train_epoch(third)


def test_runner_refuses_a_normalising_classifier_and_a_plain_loader(
        cifar10_root, tmp_path):
    model = build_classifier(small_resnet_cfg())
    runner = make_runner(tmp_path, model)
    with pytest.raises(TypeError, match='normalize_weights=False'):
        DynamicPruningHook().before_run(runner)
    runner, loader, hook, _ = _pruning_runner(cifar10_root, tmp_path, 2)
    plain = build_dataloader(
        build_dataset(
            dict(
                type='LocalCIFAR10',
                data_prefix=cifar10_root,
                pipeline=TRAIN_PIPELINE)),
        8,
        0,
        dist=False,
        persistent_workers=False)
    runner.data_loader = plain
    with pytest.raises(TypeError, match='DynamicPruningSampler'):
        hook.before_train_epoch(runner)
    with pytest.raises(RuntimeError, match='DynamicPruningHook'):
        iter(loader.sampler)  # a sampler without its hook serves nothing


def _prune_on_rank(rank, world, port, root, work_dir):
    import torch.distributed as dist
    from mmcv.parallel import MMDistributedDataParallel
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        runner, loader, hook, served = _pruning_runner(
            root,
            work_dir,
            3,
            anneal=0.0,
            world=world,
            rank=rank,
            model_wrapper=MMDistributedDataParallel)
        runner.run([loader], [('train', 1)])
        np.save(osp.join(work_dir, f'losses{rank}.npy'), hook.losses)
        np.save(osp.join(work_dir, f'plan{rank}.npy'), loader.sampler.plan)
        np.save(
            osp.join(work_dir, f'served{rank}.npy'),
            np.concatenate(served.served))
    finally:
        dist.destroy_process_group()


def test_distributed_ranks_agree_on_losses_and_plans(cifar10_root, tmp_path):
    import torch.multiprocessing as mp
    mp.spawn(
        _prune_on_rank,
        args=(2, free_port(), cifar10_root, str(tmp_path)),
        nprocs=2)
    losses = [np.load(tmp_path / f'losses{r}.npy') for r in range(2)]
    plans = [np.load(tmp_path / f'plan{r}.npy') for r in range(2)]
    assert np.array_equal(losses[0], losses[1])
    assert np.array_equal(plans[0], plans[1]) and plans[0].size == 30
    # the last epoch's shares (15 each) together served exactly the plan
    last = np.concatenate(
        [np.load(tmp_path / f'served{r}.npy')[-15:] for r in range(2)])
    assert sorted(last.tolist()) == sorted(plans[0].tolist())


def test_apply_pruning_config_trains_with_tools_train(python, cifar10_root,
                                                      tmp_path):
    cfg = apply_pruning(
        Config.fromfile(
            osp.join(REPO, 'configs/resnet/resnet18_1xb64-full_cifar10.py')),
        keep=0.5,
        anneal=0.3)
    assert cfg.sampler.type == 'DynamicPruningSampler'
    assert cfg.model.type == 'WeightedImageClassifier'
    assert cfg.model.normalize_weights is False
    assert cfg.data.train.type == 'DynamicPruningDataset'
    path = str(tmp_path / 'pruned.py')
    cfg.dump(path)
    work = str(tmp_path / 'work')
    opts = [
        o.replace('data.train.dataset.', 'data.train.dataset.')
        for o in small_cfg_options(cifar10_root, work, epochs=3)
        if not o.startswith('custom_hooks.0.scoring')
    ]
    run_tool(python, 'tools/train.py', path, '--work-dir', work, '--device',
             'cpu', '--cfg-options', *opts)
    log = json.load(open(osp.join(work, record.PRUNING_LOG)))['epochs']
    assert [e['processed'] for e in log] == [60, 30, 60]
    with pytest.raises(ValueError, match='keep'):
        apply_pruning(cfg, keep=0)


@pytest.mark.parametrize('name, keep', [
    ('resnet18_1xb64-prune-k0.7_cifar10.py', 0.7),
    ('resnet18_1xb64-prune-k0.5_cifar10.py', 0.5),
    ('resnet18_1xb64-prune-k0.7_cifar100.py', 0.7),
    ('resnet18w16_1xb64-prune-k0.7_cifar10-5k.py', 0.7),
    ('resnet18w16_1xb64-finetune-prune-k0.7_cifar10-c5-9.py', 0.7),
])
def test_pruning_configs_are_what_apply_pruning_makes(name, keep):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'pruning', name))
    (hook, ) = cfg.custom_hooks
    assert hook.type == 'DynamicPruningHook' and hook.keep == keep
    assert hook.priority == 'HIGHEST' and hook.anneal == 0.125
    assert cfg.sampler.type == 'DynamicPruningSampler'
    assert cfg.model.type == 'WeightedImageClassifier'
    assert cfg.model.normalize_weights is False
    assert cfg.data.train.type == 'DynamicPruningDataset'
    assert cfg.data.train.dataset.type.startswith('LocalCIFAR')
    assert cfg.data.val.type == cfg.data.train.dataset.type
