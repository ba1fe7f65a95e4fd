"""Dynamic, unbiased pruning by InfoBatch's rule (docs/pruning.md)."""
import json
import logging
import os
import os.path as osp

import mmcv.runner.epoch_based_runner as epoch_based_runner
import numpy as np
import pytest
import torch
from mmcls.datasets import build_dataloader, build_dataset
from mmcls.models import build_classifier
from mmcv import Config
from mmcv.runner import EpochBasedRunner, Hook, build_optimizer

from mmcls_geda import (DynamicPruningHook, GradNormHook, apply_geda,
                        apply_pruning)
from mmcls_geda.selection.epoch_state import ROTATION, ROTATION_LOG
from mmcls_geda.selection.pruning import (check_pruning_args, is_pruned,
                                          plan_epoch)
from .conftest import (REPO, TRAIN_PIPELINE, ServedIndices, free_port,
                       make_runner, run_tool, small_cfg_options,
                       small_resnet_cfg)

# --- the rule ---------------------------------------------------------------


def test_pruned_epochs_leave_the_first_and_the_anneal_share_full():

    def pruned(epochs, anneal):
        return [e for e in range(epochs) if is_pruned(e, epochs, anneal)]

    assert pruned(12, 0.125) == list(range(1, 11))  # InfoBatch: 10.5
    assert pruned(40, 0.125) == list(range(1, 35))  # the last 5 full
    assert pruned(4, 0.25) == [1, 2]
    assert pruned(3, 0.0) == [1, 2]
    assert pruned(5, 1.0) == []


def _losses(n=200, seed=0):
    return np.random.default_rng(seed).exponential(size=n)


def test_infobatch_keeps_every_high_loss_sample_and_weights_the_rest():
    losses, seen = _losses(), np.ones(200, bool)
    seen[:5] = False  # never seen: kept like a high loss
    plan = plan_epoch(losses, seen, 0.5, 'infobatch', np.random.default_rng(1),
                      True)
    mean = losses[seen].mean()
    low = seen & (losses < mean)
    kept = set(plan.indices.tolist())
    assert np.unique(plan.indices).size == plan.indices.size
    assert set(np.flatnonzero(~low)) <= kept
    weight = dict(zip(plan.indices.tolist(), plan.weights.tolist()))
    assert all(weight[i] == (2.0 if low[i] else 1.0) for i in kept)
    assert plan.candidates == plan.below == low.sum()
    assert plan.kept_candidates == len(kept & set(np.flatnonzero(low)))
    assert plan.expected == pytest.approx((~low).sum() + 0.5 * low.sum())
    stats = plan.stats()
    assert stats['processed'] == plan.indices.size and stats['pruned']
    # a full epoch: every sample once, weight 1
    full = plan_epoch(losses, seen, 0.5, 'infobatch', np.random.default_rng(2),
                      False)
    assert sorted(full.indices) == list(range(200))
    assert np.all(full.weights == 1.0) and full.candidates == 0


@pytest.mark.parametrize('rule', ['infobatch', 'random'])
def test_each_candidate_is_dropped_with_probability_ratio(rule):
    losses, seen = _losses(), np.ones(200, bool)
    kept, candidates = 0, 0
    for s in range(300):
        plan = plan_epoch(losses, seen, 0.3, rule, np.random.default_rng(s),
                          True)
        kept += plan.kept_candidates
        candidates += plan.candidates
    assert kept / candidates == pytest.approx(0.7, abs=0.01)


def test_the_collapse_situation_keeps_bounded_weights():
    # half the samples sit above the mean (a bimodal loss, as in a
    # from-scratch run): a fixed budget of 50 % had to drop 99 % of the low
    # ones and weight the rest 80-150; here r never exceeds the ratio
    n = 2500
    losses = np.concatenate(
        [np.full(n // 2 + 8, 2.3),
         np.full(n // 2 - 8, 0.1)])
    losses += np.random.default_rng(0).normal(scale=0.01, size=n)
    seen = np.ones(n, bool)
    for ratio in (0.5, 0.9):
        for s in range(20):
            plan = plan_epoch(losses, seen, ratio, 'infobatch',
                              np.random.default_rng(s), True)
            assert plan.above > n / 2 - 20
            assert plan.weights.max() <= 1 / (1 - ratio) + 1e-12
            assert plan.kept_candidates / plan.candidates == pytest.approx(
                1 - ratio, abs=0.06)


@pytest.mark.parametrize('rule', ['infobatch', 'random'])
def test_weighted_epoch_sum_is_unbiased(rule):
    rng = np.random.default_rng(3)
    losses = rng.exponential(size=50)
    values = rng.normal(size=50)  # stands for per-sample gradients
    seen = np.ones(50, bool)
    sums = [
        float(plan.weights @ values[plan.indices]) for plan in (
            plan_epoch(losses, seen, 0.6, rule, np.random.default_rng(s), True)
            for s in range(20000))
    ]
    spread = np.std(sums) / np.sqrt(len(sums))
    assert abs(np.mean(sums) - values.sum()) < 4 * spread


def test_random_control_draws_as_many_candidates_uniformly():
    losses, seen = _losses(), np.ones(200, bool)
    low = set(np.flatnonzero(losses < losses.mean()))
    dropped_low = 0
    for s in range(200):
        plan = plan_epoch(losses, seen, 0.5, 'random',
                          np.random.default_rng(s), True)
        assert plan.candidates == len(low)
        assert set(plan.weights.tolist()) <= {1.0, 2.0}
        dropped = set(range(200)) - set(plan.indices.tolist())
        dropped_low += len(dropped & low)
        assert len(dropped) == plan.candidates - plan.kept_candidates
    # uniform candidates: dropped samples are low-loss in proportion only
    share = dropped_low / (200 * 0.5 * len(low))
    assert share == pytest.approx(len(low) / 200, abs=0.03)


def test_draws_are_seeded_by_seed_and_epoch():
    from mmcls_geda.selection.budgets import class_rng
    losses, seen = _losses(), np.ones(200, bool)

    def plan(seed, epoch):
        return plan_epoch(losses, seen, 0.5, 'infobatch',
                          class_rng(seed, epoch), True).indices

    assert np.array_equal(plan(0, 3), plan(0, 3))
    assert not np.array_equal(plan(0, 3), plan(0, 4))
    assert not np.array_equal(plan(0, 3), plan(1, 3))


def test_the_pruning_rules_are_registry_entries_served_by_the_plan():
    """InfoBatch's rule and its control are per-epoch methods: the plan of
    a run asks their Pruned rule, which draws exactly what plan_epoch
    draws (indices in their seeded order, weights 1 / (1 - r)), and plans
    later epochs' lengths from the current expectation."""
    from mmcls_geda.selection import get_method, select_subset
    from mmcls_geda.selection.budgets import class_rng
    from mmcls_geda.selection.epoch_rules import Pruned
    from mmcls_geda.selection.rotation import RotationPlan
    labels = np.arange(200) % 4
    losses = _losses()
    last = losses.copy()
    last[:10] = np.nan  # never trained on: kept, weight 1
    for method, rule in (('infobatch', 'infobatch'), ('random_pruning',
                                                      'random')):
        entry = get_method(method)
        assert isinstance(entry.epoch, Pruned) and entry.reads == 'losses'
        opts = entry.resolve(dict(ratio=0.6))
        assert opts == dict(ratio=0.6, anneal=0.125)
        plan = RotationPlan(labels, 1.0, method, opts, 7, max_epochs=8)
        assert plan.varies
        choice = plan.choose(3, last)
        seen = ~np.isnan(last)
        drawn = plan_epoch(
            np.where(seen, last, 0.0), seen, 0.6, rule, class_rng(7, 3), True)
        assert choice.ordered
        assert np.array_equal(choice.indices, drawn.indices)
        assert np.array_equal(choice.weights, drawn.weights)
        assert set(np.unique(choice.weights)) <= {1.0, 1 / 0.4}
        assert choice.stats['rule'] == rule and choice.stats['pruned']
        # later epochs: pruned ones expected as now, the anneal share full
        assert plan.epoch_size(4, choice) == drawn.expected
        assert plan.epoch_size(7, choice) == 200
        first = plan.choose(0, None)  # nothing recorded yet: a full epoch
        assert first.indices.size == 200 and not first.stats['pruned']
        with pytest.raises(ValueError, match='serves through GradNormHook'):
            select_subset(np.ones(200), labels, 0.5, method=method)
    with pytest.raises(
            ValueError, match="set the GEDASubsetDataset's fraction=1.0"):
        RotationPlan(labels, 0.5, 'infobatch', opts, 0, max_epochs=8)
    with pytest.raises(ValueError, match=r'ratio .* in \(0, 0\.9\]'):
        get_method('infobatch').resolve(dict(ratio=0.95))


def test_pruning_defaults_are_declared_once_and_unknown_names_refused():
    from mmcls_geda.selection.pruning import PruningArgs
    hook = DynamicPruningHook()
    assert PruningArgs().to_dict() == dict(
        ratio=0.5, rule='infobatch', anneal=0.125, seed=0)
    # the front is GradNormHook serving the rule's registry entry
    assert isinstance(hook, GradNormHook)
    assert (hook.args.method, hook.args.resolved_options(),
            hook.args.seed) == ('infobatch', dict(ratio=0.5, anneal=0.125), 0)
    assert DynamicPruningHook(rule='random').args.method == 'random_pruning'
    with pytest.raises(
            ValueError,
            match=r"unknown DynamicPruningHook argument\(s\) \['ratios'\]; "
            r"allowed: \['ratio', 'rule', 'anneal', 'seed'\]"):
        DynamicPruningHook(ratios=0.3)


@pytest.mark.parametrize('args, name', [
    ((0.95, 'infobatch', 0.1, 0), 'ratio'),
    ((-0.1, 'infobatch', 0.1, 0), 'ratio'),
    ((0, 'infobatch', 0.1, 0), r'ratio .* in \(0, 0\.9\], got 0'),
    ((True, 'infobatch', 0.1, 0), 'ratio'),
    ((0.5, 'loss', 0.1, 0), 'rule'),
    ((0.5, 'infobatch', 1.5, 0), 'anneal'),
    ((0.5, 'infobatch', 0.1, -1), 'seed'),
])
def test_pruning_arguments_are_checked(args, name):
    with pytest.raises(ValueError, match=name):
        check_pruning_args(*args)
    with pytest.raises(ValueError, match=name):
        DynamicPruningHook(
            **dict(zip(('ratio', 'rule', 'anneal', 'seed'), args)))
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/resnet/resnet18_1xb64-full_cifar10.py'))
    with pytest.raises(ValueError, match=name):
        apply_pruning(cfg, *args)


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


@pytest.fixture
def no_epoch_sleep(monkeypatch):
    """EpochBasedRunner sleeps 2 s per epoch; these tests run many."""
    monkeypatch.setattr(epoch_based_runner.time, 'sleep', lambda s: None)


class OptimizerSettings(Hook):
    """What the optimizer used in each iteration (the step runs in the
    optimizer hook's after_train_iter, before this LOWEST hook)."""

    def __init__(self):
        self.trace, self.iters_left = [], []

    def after_train_iter(self, runner):
        group = runner.optimizer.param_groups[0]
        self.trace.append(
            (runner.epoch, runner.inner_iter, len(runner.data_loader),
             group['lr'], group['momentum']))
        # what TextLoggerHook multiplies into the ETA
        self.iters_left.append(runner.max_iters - runner.iter - 1)


LR_POLICIES = {
    'OneCycle':
    dict(
        lr=dict(
            policy='OneCycle',
            max_lr=0.1,
            div_factor=100,
            final_div_factor=100,
            by_epoch=False),
        momentum=dict(policy='OneCycle', by_epoch=False),
        final=0.1 / 100 / 100),
    'CosineAnnealing':
    dict(
        lr=dict(
            policy='CosineAnnealing',
            min_lr=1e-4,
            by_epoch=False,
            warmup='linear',
            warmup_iters=5,
            warmup_ratio=0.1),
        momentum=None,
        final=None),  # mmcv's cosine reaches min_lr one iteration after
}


def by_progress(schedule):
    """``schedule`` in the epoch-progress wrapper (README, docs/pruning.md)."""
    return dict(policy='EpochProgress', schedule=dict(schedule))


def _runner(root,
            work_dir,
            max_epochs,
            pruning=None,
            policy='OneCycle',
            world=1,
            rank=0,
            model_wrapper=None,
            checkpoints=False):
    """A real EpochBasedRunner on the tiny CIFAR-10 (60 images, batches of
    8); ``pruning``: the DynamicPruningHook's kwargs, None: full data."""
    data = dict(type='LocalCIFAR10', data_prefix=root, pipeline=TRAIN_PIPELINE)
    model_cfg = small_resnet_cfg()
    if pruning is not None:
        data = dict(type='GEDASubsetDataset', fraction=1.0, dataset=data)
        model_cfg = dict(
            model_cfg, type='WeightedImageClassifier', normalize_weights=False)
    torch.manual_seed(0)
    model = build_classifier(model_cfg)
    model.init_weights()
    loader = build_dataloader(
        build_dataset(data),
        8,
        1,
        dist=world > 1,
        seed=0,
        sampler_cfg=(None if pruning is None else dict(
            type='EpochPlanSampler')))
    if model_wrapper is None:
        runner = make_runner(work_dir, model, max_epochs=max_epochs)
    else:
        runner = EpochBasedRunner(
            model_wrapper(model),
            optimizer=build_optimizer(model,
                                      dict(type='SGD', lr=0.01, momentum=0.9)),
            work_dir=str(work_dir),
            logger=logging.getLogger(f'r{rank}'),
            max_epochs=max_epochs)
        runner.register_optimizer_hook(dict(grad_clip=None))
    schedule = LR_POLICIES[policy]
    # pruning: the schedules by epoch progress, wrapped as apply_pruning does
    wrap = (lambda s: dict(s)) if pruning is None else by_progress
    runner.register_lr_hook(wrap(schedule['lr']))
    if schedule['momentum']:
        runner.register_momentum_hook(wrap(schedule['momentum']))
    if checkpoints:
        runner.register_checkpoint_hook(dict(interval=1))
    hook = None
    if pruning is not None:
        hook = DynamicPruningHook(**dict(dict(seed=5), **pruning))
        runner.register_hook(hook, priority='HIGHEST')
    served, used = ServedIndices(), OptimizerSettings()
    runner.register_hook(served)
    runner.register_hook(used, priority='LOWEST')
    return runner, loader, hook, served, used


def _per_epoch(served, used):
    """The served indices, split by epoch (from the recorded iterations)."""
    epochs = {}
    for batch, (epoch, *_) in zip(served.served, used.trace):
        epochs.setdefault(epoch, []).append(batch)
    return [np.concatenate(epochs[e]) for e in sorted(epochs)]


def test_runner_serves_the_planned_epochs_and_logs_them(
        cifar10_root, tmp_path, no_epoch_sleep):
    runner, loader, hook, served, used = _runner(
        cifar10_root, tmp_path, 4, pruning=dict(ratio=0.5, anneal=0.25))
    runner.run([loader], [('train', 1)])
    log = json.load(open(tmp_path / ROTATION_LOG))
    settings = dict(log['settings'])
    assert settings.pop('fingerprint')['length'] == 60
    assert settings == dict(
        method='infobatch',
        options=dict(ratio=0.5, anneal=0.25),
        seed=5,
        fraction=1.0,
        scope='full',
        max_epochs=4)
    epochs = log['epochs']
    per_epoch = _per_epoch(served, used)
    # 60 samples: full, pruned, pruned, full (anneal 0.25 of 4 epochs)
    assert [e['pruned'] for e in epochs] == [False, True, True, False]
    assert [e['processed'] for e in epochs] == [len(s) for s in per_epoch]
    assert epochs[0]['processed'] == epochs[3]['processed'] == 60
    for entry, indices in zip(epochs, per_epoch):
        assert entry['iterations'] == -(-len(indices) // 8)
        assert np.unique(indices).size == len(indices)
        if entry['pruned']:
            assert entry['expected'] == pytest.approx(entry['above'] +
                                                      0.5 * entry['below'])
            assert entry['processed'] == (
                entry['above'] + entry['kept_candidates'])
    assert runner.iter == runner.max_iters == sum(e['iterations']
                                                  for e in epochs)
    assert min(used.iters_left) == used.iters_left[-1] == 0  # ETA >= 0
    # epoch 1 kept every sample at or above the mean of epoch 0's losses
    with np.load(tmp_path / ROTATION.file(1)) as state:
        losses = state['losses'].astype(np.float64)
    assert not np.isnan(losses).any()  # every sample trained on
    high = np.flatnonzero(losses >= losses.mean())
    assert set(high) <= set(per_epoch[1].tolist())
    assert epochs[1]['above'] == high.size and epochs[1]['processed'] < 60


@pytest.mark.parametrize('policy, anneal', [('OneCycle', 0.25),
                                            ('CosineAnnealing', 0.0)])
def test_optimizer_follows_the_full_data_schedule_by_epoch_progress(
        cifar10_root, tmp_path, no_epoch_sleep, policy, anneal):
    """The LR (and momentum) the optimizer used in a pruned run equals the
    full-data run's at the same epoch progress, and ends at the final
    value (anneal=0: the last epoch is a pruned one)."""
    epochs = 4
    full = _runner(cifar10_root, tmp_path / 'full', epochs, policy=policy)
    full[0].run([full[1]], [('train', 1)])
    pruned = _runner(
        cifar10_root,
        tmp_path / 'pruned',
        epochs,
        pruning=dict(ratio=0.7, anneal=anneal),
        policy=policy)
    pruned[0].run([pruned[1]], [('train', 1)])
    reference = {(e, i): (lr, m) for e, i, _, lr, m in full[4].trace}
    per_epoch = 8  # 60 samples in batches of 8
    lengths = {e: length for e, _, length, _, _ in pruned[4].trace}
    assert min(lengths.values()) < per_epoch  # some epochs were shorter
    compared = set()
    for epoch, i, length, lr, momentum in pruned[4].trace:
        if (i + 1) * per_epoch % length == 0:  # the same epoch progress
            j = (i + 1) * per_epoch // length - 1
            assert (lr, momentum) == pytest.approx(reference[epoch, j])
            compared.add(epoch)
    assert compared == set(range(epochs))
    # the last iteration: the full-data run's last value (one-cycle's final)
    assert pruned[4].trace[-1][3:] == pytest.approx(full[4].trace[-1][3:])
    final = LR_POLICIES[policy]['final']
    if final is not None:
        assert pruned[4].trace[-1][3] == pytest.approx(final)
    assert pruned[0].iter == pruned[0].max_iters < full[0].iter


def test_resume_serves_what_an_uninterrupted_run_serves(
        cifar10_root, tmp_path, no_epoch_sleep):
    pruning = dict(ratio=0.5, anneal=0.0)
    runner, loader, _, served, used = _runner(
        cifar10_root, tmp_path, 3, pruning=pruning, checkpoints=True)
    runner.run([loader], [('train', 1)])
    whole = _per_epoch(served, used)
    whole_lr = [t[3] for t in used.trace if t[0] == 2]
    # a new process resumes from epoch_2.pth: it trains epoch 2 only
    again, loader2, _, served2, used2 = _runner(
        cifar10_root, tmp_path, 3, pruning=pruning)
    again.resume(str(tmp_path / 'epoch_2.pth'))
    again.run([loader2], [('train', 1)])
    (epoch2, ) = _per_epoch(served2, used2)
    assert np.array_equal(epoch2, whole[2])
    assert [t[3] for t in used2.trace] == pytest.approx(whole_lr)
    assert again.iter == again.max_iters == runner.iter


@pytest.mark.parametrize('changed, message', [
    (dict(ratio=0.3), r"options: saved \{'anneal': 0.0, 'ratio': 0.5\}, "
     r"configured \{'ratio': 0.3, 'anneal': 0.0\}"),
    (dict(rule='random'),
     "method: saved 'infobatch', configured 'random_pruning'"),
    (dict(anneal=0.5), r"options: saved \{'anneal': 0.0, 'ratio': 0.5\}, "
     r"configured \{'ratio': 0.5, 'anneal': 0.5\}"),
    (dict(seed=1), 'seed: saved 5, configured 1'),
    (dict(max_epochs=3), 'max_epochs: saved 2, configured 3'),
])
def test_resume_with_other_settings_is_refused_naming_both(
        cifar10_root, tmp_path, no_epoch_sleep, changed, message):
    """Issue 24, case 6: a changed setting was accepted (wrong plan, wrong
    iteration count, negative ETA)."""
    pruning = dict(ratio=0.5, anneal=0.0)
    runner, loader, *_ = _runner(
        cifar10_root, tmp_path, 2, pruning=pruning, checkpoints=True)
    runner.run([loader], [('train', 1)])
    changed = dict(changed)
    epochs = changed.pop('max_epochs', 2)
    again, loader2, *_ = _runner(
        cifar10_root, tmp_path, epochs, pruning=dict(pruning, **changed))
    again.resume(str(tmp_path / 'epoch_1.pth'))
    with pytest.raises(ValueError, match=message):
        again.run([loader2], [('train', 1)])
    os.remove(tmp_path / ROTATION.file(1))
    third, loader3, *_ = _runner(cifar10_root, tmp_path, 2, pruning=pruning)
    third.resume(str(tmp_path / 'epoch_1.pth'))
    with pytest.raises(FileNotFoundError, match='resuming at epoch 1'):
        third.run([loader3], [('train', 1)])


def test_a_run_resumed_from_a_retired_pruning_state_is_refused(
        cifar10_root, tmp_path, no_epoch_sleep):
    """A work_dir of DynamicPruningHook's old layout (pruning_state_epoch1
    .npz) is refused by name before the epoch trains, not read."""
    pruning = dict(ratio=0.5, anneal=0.0)
    runner, loader, *_ = _runner(
        cifar10_root, tmp_path, 2, pruning=pruning, checkpoints=True)
    runner.run([loader], [('train', 1)])
    os.rename(tmp_path / ROTATION.file(1),
              tmp_path / 'pruning_state_epoch1.npz')
    again, loader2, *_ = _runner(cifar10_root, tmp_path, 2, pruning=pruning)
    again.resume(str(tmp_path / 'epoch_1.pth'))
    with pytest.raises(
            ValueError,
            match=r'pruning_state_epoch1.npz instead, a pruning state '
            r"\(DynamicPruningHook's own format"):
        again.run([loader2], [('train', 1)])


def test_a_config_of_the_removed_pruning_dataset_says_what_to_write(
        cifar10_root):
    """Configs written by apply_pruning before 2026-12-07 fail when the
    data set is built, before training, saying what to write instead."""
    with pytest.raises(
            ValueError,
            match=r"DynamicPruningDataset .* was removed: .* Write "
            r"data.train = dict\(type='GEDASubsetDataset', fraction=1.0, "
            r"dataset=<the dataset>\), sampler = "
            r"dict\(type='EpochPlanSampler'\) and, in custom_hooks, "
            r"dict\(type='GradNormHook', method='infobatch'"):
        build_dataset(
            dict(
                type='DynamicPruningDataset',
                dataset=dict(
                    type='LocalCIFAR10',
                    data_prefix=cifar10_root,
                    pipeline=TRAIN_PIPELINE)))


def test_pruning_methods_are_built_by_apply_pruning_only():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/resnet/resnet18_1xb64-full_cifar10.py'))
    with pytest.raises(
            ValueError,
            match="method 'infobatch' prunes the whole training set every "
            'epoch: build its config with apply_pruning'):
        apply_geda(cfg, 1.0, 'infobatch')
    with pytest.raises(ValueError, match='already uses apply_pruning'):
        apply_geda(apply_pruning(cfg), 0.5, 'rs2')
    with pytest.raises(ValueError, match='already uses apply_geda'):
        apply_pruning(apply_geda(cfg, 0.5, 'rs2'))


def test_runner_refuses_a_normalising_classifier_and_a_plain_loader(
        cifar10_root, tmp_path):
    model = build_classifier(small_resnet_cfg())
    runner = make_runner(tmp_path, model)
    with pytest.raises(TypeError, match='normalize_weights=False'):
        DynamicPruningHook().before_run(runner)
    runner, loader, hook, *_ = _runner(
        cifar10_root, tmp_path, 2, pruning=dict())
    plain = build_dataloader(
        build_dataset(
            dict(
                type='GEDASubsetDataset',
                fraction=1.0,
                dataset=dict(
                    type='LocalCIFAR10',
                    data_prefix=cifar10_root,
                    pipeline=TRAIN_PIPELINE))),
        8,
        0,
        dist=False,
        persistent_workers=False)
    runner.data_loader = plain  # the default sampler
    with pytest.raises(
            TypeError,
            match=r"changes the epoch's length, which the training "
            r"loader's RandomSampler cannot follow: set "
            r"sampler=dict\(type='EpochPlanSampler'\)"):
        hook.before_train_epoch(runner)
    with pytest.raises(RuntimeError, match='GradNormHook'):
        iter(loader.sampler)  # a sampler without its hook serves nothing


def test_an_unwrapped_iteration_schedule_is_refused_before_training(
        cifar10_root, tmp_path):
    """Pruning with a OneCycle by iteration that does not follow the epoch
    progress would stretch it: refused, naming the key and the wrapper."""
    runner, loader, hook, *_ = _runner(
        cifar10_root, tmp_path, 2, pruning=dict())
    runner._hooks = [
        h for h in runner.hooks if 'EpochProgress' not in type(h).__name__
    ]
    runner.register_lr_hook(dict(LR_POLICIES['OneCycle']['lr']))
    with pytest.raises(
            TypeError,
            match=r"method 'infobatch' changes the epochs' lengths, which the "
            r'iteration-based OneCycleLrUpdaterHook would stretch or '
            r"squeeze: wrap it, lr_config = dict\(policy='EpochProgress', "
            r'schedule=dict\(policy=...\)\)'):
        hook.before_run(runner)
    with pytest.raises(ValueError, match='give schedule=dict'):
        runner.register_lr_hook(
            dict(policy='EpochProgress', schedule='OneCycle'))


def test_apply_pruning_and_budgets_wrap_the_schedules_once():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/resnet/resnet18_1xb64-full_cifar10.py'))
    one_cycle = dict(cfg.lr_config)
    for made in (apply_pruning(cfg),
                 apply_pruning(apply_pruning(cfg), ratio=0.3),
                 apply_geda(cfg, 0.73, 'rs2', budget='ramp')):
        assert made.lr_config == dict(
            policy='EpochProgress', schedule=one_cycle)
    assert apply_geda(cfg, 0.73, 'rs2').lr_config == one_cycle


def _prune_on_rank(rank, world, port, root, work_dir):
    import torch.distributed as dist
    from mmcv.parallel import MMDistributedDataParallel
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    epoch_based_runner.time.sleep = lambda s: None  # this process only
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        runner, loader, hook, served, used = _runner(
            root,
            work_dir,
            3,
            pruning=dict(ratio=0.5, anneal=0.0),
            world=world,
            rank=rank,
            model_wrapper=MMDistributedDataParallel)
        runner.run([loader], [('train', 1)])
        np.save(
            osp.join(work_dir, f'losses{rank}.npy'),
            hook.subsets.recorder.losses)
        # the plan's positions into the wrapper, as dataset indices
        np.save(
            osp.join(work_dir, f'plan{rank}.npy'),
            loader.dataset.indices[loader.sampler.plan])
        np.save(
            osp.join(work_dir, f'last{rank}.npy'),
            _per_epoch(served, used)[-1])
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
    assert np.array_equal(plans[0], plans[1]) and plans[0].size < 60
    # the last (pruned) epoch's shares together served exactly the plan
    last = np.concatenate([np.load(tmp_path / f'last{r}.npy') for r in (0, 1)])
    assert set(last.tolist()) == set(plans[0].tolist())
    assert last.size == 2 * -(-plans[0].size // 2)  # padded to equal shares


def test_apply_pruning_config_trains_with_tools_train(python, cifar10_root,
                                                      tmp_path):
    cfg = apply_pruning(
        Config.fromfile(
            osp.join(REPO, 'configs/resnet/resnet18_1xb64-full_cifar10.py')),
        ratio=0.5,
        anneal=0.34)
    (hook, ) = cfg.custom_hooks
    assert hook == dict(
        type='GradNormHook',
        method='infobatch',
        options=dict(ratio=0.5, anneal=0.34),
        seed=0,
        priority='HIGHEST')
    assert cfg.sampler.type == 'EpochPlanSampler'
    assert cfg.model.type == 'WeightedImageClassifier'
    assert cfg.model.normalize_weights is False
    assert (cfg.data.train.type,
            cfg.data.train.fraction) == ('GEDASubsetDataset', 1.0)
    path = str(tmp_path / 'pruned.py')
    cfg.dump(path)
    work = str(tmp_path / 'work')
    opts = [
        o for o in small_cfg_options(cifar10_root, work, epochs=3)
        if not o.startswith('custom_hooks.0.scoring')
    ]
    run_tool(python, 'tools/train.py', path, '--work-dir', work, '--device',
             'cpu', '--cfg-options', *opts)
    log = json.load(open(osp.join(work, ROTATION_LOG)))['epochs']
    assert [e['pruned'] for e in log] == [False, True, False]
    assert log[0]['processed'] == log[2]['processed'] == 60
    assert log[1]['processed'] < 60


@pytest.mark.parametrize('name, ratio, method', [
    ('resnet18_1xb64-infobatch-r0.5_cifar10.py', 0.5, 'infobatch'),
    ('resnet18_1xb64-infobatch-r0.5_cifar100.py', 0.5, 'infobatch'),
    ('resnet18w16_1xb64-infobatch-r0.5_cifar10-5k.py', 0.5, 'infobatch'),
    ('resnet18w16_1xb64-infobatch-r0.7_cifar10-5k.py', 0.7, 'infobatch'),
    ('resnet18w16_1xb64-dynamic_random-r0.5_cifar10-5k.py', 0.5,
     'random_pruning'),
    ('resnet18w16_1xb64-finetune-infobatch-r0.5_cifar10-c5-9.py', 0.5,
     'infobatch'),
    ('resnet18w16_1xb64-infobatch-r0.5-30e_cifar10-5k.py', 0.5, 'infobatch'),
])
def test_pruning_configs_are_what_apply_pruning_makes(name, ratio, method):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'pruning', name))
    (hook, ) = cfg.custom_hooks
    assert hook.type == 'GradNormHook' and hook.priority == 'HIGHEST'
    assert (hook.options.ratio, hook.method,
            hook.options.anneal) == (ratio, method, 0.125)
    GradNormHook(**{
        k: v
        for k, v in hook.items() if k != 'type' and k != 'priority'
    })
    base = cfg._cfg_dict.to_dict()
    base['custom_hooks'] = []
    base['data']['train'] = base['data']['train']['dataset']
    made = apply_pruning(
        base,
        ratio=ratio,
        rule=dict(random_pruning='random').get(method, method))
    assert made['custom_hooks'] == [hook.to_dict()]
    assert made['data']['train'] == cfg.data.train.to_dict()
    assert made['model'] == cfg.model.to_dict()
    assert made['sampler'] == cfg.sampler.to_dict()
    assert cfg.data.train.dataset.type.startswith('LocalCIFAR')
    assert cfg.data.val.type == cfg.data.train.dataset.type


def test_long_schedule_pruning_config_is_its_full_data_config_pruned():
    """The 30-epoch pruning config differs from the 30-epoch full-data one
    only by what apply_pruning adds: same runner, schedule and evaluation."""
    full = Config.fromfile(
        osp.join(REPO, 'configs', 'resnet',
                 'resnet18w16_1xb64-full-30e_cifar10-5k.py'))
    pruned = Config.fromfile(
        osp.join(REPO, 'configs', 'pruning',
                 'resnet18w16_1xb64-infobatch-r0.5-30e_cifar10-5k.py'))
    assert (full.runner.max_epochs, full.evaluation.interval) == (30, 30)
    made = apply_pruning(full._cfg_dict.to_dict(), ratio=0.5)
    assert made == pruned._cfg_dict.to_dict()
