"""Budget schedules of the per-epoch methods (``budget='anneal'|'ramp'``):
the plan (numpy), then what a real EpochBasedRunner serves and the
learning rate it uses."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmcls.datasets import build_dataloader, build_dataset
from mmcv import Config
from mmcv.runner import Hook

from mmcls_geda import GradNormHook, apply_geda
from mmcls_geda.experiments import collect
from mmcls_geda.experiments.spec import parse_spec
from mmcls_geda.selection import class_budgets, get_method
from mmcls_geda.selection.epoch_budgets import (BUDGETS, cycle_starts,
                                                epoch_class_budgets,
                                                epoch_shares, full_epochs)
from mmcls_geda.selection.epoch_state import ROTATION_LOG
from mmcls_geda.selection.folds import block_of_stream
from mmcls_geda.selection.rotation import RotationPlan
from .conftest import REPO, ServedIndices, make_runner, write_cifar10
from .test_pruning import LR_POLICIES, OptimizerSettings, by_progress
from .test_rotation import PIPELINE, _hook, _model

# --- the plan ----------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 60), min_size=1, max_size=6),
    fraction=st.floats(0.02, 1.0),
    epochs=st.integers(1, 40),
    budget=st.sampled_from(BUDGETS))
def test_every_schedule_serves_the_constant_total(sizes, fraction, epochs,
                                                  budget):
    sizes = np.array(sizes)
    try:
        table = epoch_class_budgets(sizes, fraction, epochs, budget)
    except ValueError as error:
        # refused: the smallest fraction it names is accepted
        assert budget != 'constant'
        smallest = float(str(error).split('allows it is ')[1].split()[0])
        assert fraction < smallest <= 1
        epoch_class_budgets(sizes, smallest, epochs, budget)
        return
    assert table.shape == (epochs, sizes.size)
    # every class: max_epochs x k_c in all, at least one, at most n_c a epoch
    assert np.array_equal(
        table.sum(axis=0), epochs * class_budgets(sizes, fraction))
    assert (table >= 1).all() and (table <= sizes).all()
    if budget == 'constant':
        assert (table == class_budgets(sizes, fraction)).all()
    if budget == 'anneal':
        full = full_epochs(epochs)
        assert full[0] and np.array_equal(table[full],
                                          np.tile(sizes, (full.sum(), 1)))


def test_shapes_of_the_schedules():
    # the 30-epoch protocol at 73 %: epochs 0 and 27-29 full, 26 of 0.688
    anneal = epoch_shares('anneal', 0.73, 30)
    assert np.flatnonzero(anneal == 1).tolist() == [0, 27, 28, 29]
    assert anneal[1:27] == pytest.approx((0.73 * 30 - 4) / 26)
    # ramp: rising linearly, same mean; at f <= 1/2 from 2f/(E+1) to ~2f
    ramp = epoch_shares('ramp', 0.2, 12)
    assert np.all(np.diff(ramp) > 0) and ramp.mean() == pytest.approx(0.2)
    assert ramp[0] == pytest.approx(2 * 0.2 / 13)
    # at f > 1/2 mirrored: 1 - 2 (1 - f) (E - e) / (E + 1), never all data
    for epochs in (2, 3, 30):
        expected = 1 - 2 * 0.27 * (epochs - np.arange(epochs)) / (epochs + 1)
        assert epoch_shares('ramp', 0.73, epochs) == pytest.approx(expected)
    assert epoch_shares('ramp', 0.73, 30)[-1] < 1
    # cycles of a constant fraction: ceil(1 / f) epochs
    assert cycle_starts(epoch_shares('constant', 0.3, 10)) == (0, 4, 8)
    assert cycle_starts(anneal)[:3] == (0, 1, 3)


@pytest.mark.parametrize('budget, fraction, epochs, match', [
    ('anneal', 0.1, 12, r'2 full epochs .* the smallest fraction that '
     r'allows it is 0\.195 '),
    ('anneal', 0.9, 1, 'every one of the 1 epochs is full'),
    ('ramp', 0.01, 40, 'epoch 0 would serve no sample of class 0'),
    ('steps', 0.5, 10, r"unknown budget 'steps'; choose one of "
     r"\['constant', 'anneal', 'ramp'\]"),
])
def test_a_schedule_the_budget_cannot_pay_for_is_refused(
        budget, fraction, epochs, match):
    with pytest.raises(ValueError, match=match):
        epoch_class_budgets(np.array([50, 50]), fraction, epochs, budget)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 30), data=st.data(), seed=st.integers(0, 3))
def test_rs2_blocks_of_varying_sizes_serve_each_sample_once_per_pass(
        n, data, seed):
    sizes = data.draw(st.lists(st.integers(1, n), min_size=1, max_size=20))
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    blocks = [
        block_of_stream(n, 0, e, seed, 2, offsets) for e in range(len(sizes))
    ]
    for block, size in zip(blocks, sizes):
        assert block.size == size and np.unique(block).size == size
    # cut where the stream completes a pass: every sample once in each
    counts = np.zeros(n, dtype=int)
    for block in blocks:
        counts += np.bincount(block, minlength=n)
        passes = counts.min()
        assert counts.max() <= passes + 1
    # equal sizes give the constant plan's blocks
    k = sizes[0]
    assert np.array_equal(
        block_of_stream(n, k, 3, seed, 2),
        block_of_stream(n, 0, 3, seed, 2, k * np.arange(5)))


@pytest.mark.parametrize('method', ['rs2', 'geda_rotate', 'strata_rotate'])
@pytest.mark.parametrize('budget', ['anneal', 'ramp'])
def test_plans_serve_each_epochs_class_budgets(method, budget):
    labels = np.repeat(np.arange(4), [40, 31, 25, 12])
    scores = np.random.default_rng(0).random(labels.size)
    options = get_method(method).resolve(dict(budget=budget))
    plan = RotationPlan(labels, 0.4, method, options, 3, max_epochs=12)
    carry, seen = None, np.zeros(labels.size, dtype=int)
    for epoch in range(12):
        if plan.new_cycle(epoch):
            carry = plan.leftover(epoch - 1, scores, carry)
        served = plan.indices(epoch, scores, carry)
        assert np.unique(served).size == served.size
        assert np.array_equal(
            np.bincount(labels[served], minlength=4), plan.table[epoch])
        assert served.size == plan.epoch_size(epoch)
        seen[served] += 1
    assert (seen > 0).all()  # 4.8 passes: every sample served
    assert seen.sum() == 12 * class_budgets(np.bincount(labels), 0.4).sum()


def test_a_constant_budget_is_todays_plan():
    labels = np.repeat(np.arange(3), 20)
    scores = np.random.default_rng(1).random(labels.size)
    for method in ('rs2', 'geda_rotate'):
        options = get_method(method).resolve({})
        assert options['budget'] == 'constant'
        a = RotationPlan(labels, 0.3, method, options, 0)
        b = RotationPlan(labels, 0.3, method, options, 0, max_epochs=9)
        assert not b.varies
        for epoch in range(4):  # the first cycle: no carry yet
            assert np.array_equal(
                a.indices(epoch, scores), b.indices(epoch, scores))


# --- on a real runner --------------------------------------------------------

FRACTION, EPOCHS = 0.3, 5  # 100 samples: 30 a epoch on average


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    return write_cifar10(
        str(tmp_path_factory.mktemp('cifar10_budget_')), per_class_train=10)


@pytest.fixture
def no_sleep(monkeypatch):
    import mmcv.runner.epoch_based_runner as ebr
    monkeypatch.setattr(ebr.time, 'sleep', lambda s: None)


def _subset(root, fraction):
    """The wrapper over the 100 tiny CIFAR-10 images."""
    return build_dataset(
        dict(
            type='GEDASubsetDataset',
            fraction=fraction,
            dataset=dict(
                type='LocalCIFAR10', data_prefix=root, pipeline=PIPELINE)))


def _run(root,
         work_dir,
         options,
         epochs=EPOCHS,
         resume_from=None,
         kill_after=None,
         fraction=FRACTION):
    """rs2 (``options``) on the 100 tiny CIFAR-10 images, batches of 8,
    one-cycle by iteration; what was served and the optimizer's LR."""
    ds = _subset(root, fraction)
    varies = options.get('budget', 'constant') != 'constant'
    torch.manual_seed(0)
    loader = build_dataloader(
        ds,
        8,
        1,
        dist=False,
        seed=0,
        persistent_workers=True,
        sampler_cfg=dict(type='EpochPlanSampler') if varies else None)
    runner = make_runner(work_dir, _model('ImageClassifier'), epochs)
    schedule = dict(LR_POLICIES['OneCycle']['lr'])
    runner.register_lr_hook(by_progress(schedule) if varies else schedule)
    runner.register_checkpoint_hook(dict(interval=1))
    runner.register_hook(_hook('rs2', options), priority='HIGHEST')
    served, used = ServedIndices(), OptimizerSettings()
    runner.register_hook(served)
    runner.register_hook(used, priority='LOWEST')
    if kill_after is not None:
        runner.register_hook(KillAfter(kill_after), priority='LOWEST')
    if resume_from:
        runner.resume(resume_from)
    runner.run([loader], [('train', 1)])
    per_epoch = {}
    for batch, (epoch, *_) in zip(served.served, used.trace):
        per_epoch.setdefault(epoch, []).append(batch)
    return ds, runner, {
        e: np.concatenate(b)
        for e, b in per_epoch.items()
    }, used


def test_runner_serves_the_schedule_by_epoch_progress(root, tmp_path,
                                                      no_sleep):
    ds, runner, served, used = _run(root, tmp_path / 'ramp',
                                    dict(budget='ramp'))
    options = get_method('rs2').resolve(dict(budget='ramp'))
    plan = RotationPlan(ds.full_labels, FRACTION, 'rs2', options, 0, EPOCHS)
    sizes = plan.table.sum(axis=1)
    assert sizes.tolist() == [10, 20, 30, 40, 50]  # 150 = 5 x 30
    for epoch in range(EPOCHS):
        # the plan's samples, each once (a lone last sample would be
        # padded by one: none here, as no size ends in a batch of 1)
        assert np.array_equal(np.sort(served[epoch]), plan.indices(epoch))
    log = json.load(open(tmp_path / 'ramp' / ROTATION_LOG))
    assert [e['size'] for e in log['epochs']] == sizes.tolist()
    assert collect.rotation_samples(str(tmp_path / 'ramp')) == 150
    # the LR the optimizer used is the constant run's at the same epoch
    # progress, and ends at one-cycle's final value
    _, constant, _, reference = _run(root, tmp_path / 'constant', {})
    per_epoch = 4  # 30 samples in batches of 8
    at = {(e, i): lr for e, i, _, lr, _ in reference.trace}
    compared = 0
    for epoch, i, length, lr, _ in used.trace:
        if (i + 1) * per_epoch % length == 0:
            assert lr == pytest.approx(at[epoch,
                                          (i + 1) * per_epoch // length - 1])
            compared += 1
    assert compared >= EPOCHS
    assert used.trace[-1][3] == pytest.approx(LR_POLICIES['OneCycle']['final'])
    assert runner.iter == runner.max_iters == 2 + 3 + 4 + 5 + 7
    assert min(used.iters_left) == used.iters_left[-1] == 0


class Killed(Exception):
    pass


class KillAfter(Hook):
    """Ends the run after epoch ``epoch``'s checkpoint, as a kill would."""

    def __init__(self, epoch):
        self.epoch = epoch

    def after_train_epoch(self, runner):
        if runner.epoch == self.epoch:
            raise Killed


def test_resume_serves_what_an_uninterrupted_run_serves(
        root, tmp_path, no_sleep):
    options = dict(budget='anneal')
    _, _, straight, lrs = _run(
        root, tmp_path / 'a', options, epochs=8, fraction=0.5)
    with pytest.raises(Killed):
        _run(
            root,
            tmp_path / 'b',
            options,
            epochs=8,
            kill_after=2,
            fraction=0.5)
    _, _, rest, used = _run(
        root,
        tmp_path / 'b',
        options,
        epochs=8,
        fraction=0.5,
        resume_from=str(tmp_path / 'b' / 'epoch_3.pth'))
    assert sorted(rest) == list(range(3, 8))
    for epoch in range(3, 8):  # the same samples in the same order
        assert np.array_equal(straight[epoch], rest[epoch]), epoch
    assert [t[3] for t in used.trace
            ] == pytest.approx([t[3] for t in lrs.trace if t[0] >= 3])
    # the schedule is cut for 8 epochs: another length is refused
    with pytest.raises(ValueError, match='max_epochs'):
        _run(
            root,
            tmp_path / 'b',
            options,
            epochs=10,
            fraction=0.5,
            resume_from=str(tmp_path / 'b' / 'epoch_3.pth'))


def test_apply_geda_sets_the_sampler_and_refuses_what_cannot_be_paid():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/demo/resnet18_1xb64-full_digits.py'))
    ramp = apply_geda(cfg, 0.3, 'rs2', budget='ramp')
    assert ramp.sampler == dict(type='EpochPlanSampler')
    assert ramp.custom_hooks[-1].options == dict(budget='ramp')
    # back to constant: the same sampler serves the fixed-length epochs
    assert apply_geda(ramp, 0.3, 'rs2').sampler == ramp.sampler
    with pytest.raises(ValueError, match='smallest fraction'):
        apply_geda(cfg, 0.05, 'geda_rotate', budget='anneal')
    with pytest.raises(ValueError, match="unknown budget 'cosine'"):
        apply_geda(cfg, 0.3, 'strata_rotate', budget='cosine')


def test_the_sampler_name_of_older_budget_configs_builds_the_same_sampler():
    """Budget configs written by apply_geda before 2026-12-07 name
    DynamicPruningSampler: it builds the one EpochPlanSampler."""
    from mmcls.datasets.builder import SAMPLERS

    from mmcls_geda.datasets import EpochPlanSampler
    assert SAMPLERS.get('DynamicPruningSampler') is EpochPlanSampler
    assert SAMPLERS.get('EpochPlanSampler') is EpochPlanSampler


def test_a_budget_without_the_sampler_is_refused_before_training(
        root, tmp_path, no_sleep):
    ds = _subset(root, FRACTION)
    loader = build_dataloader(
        ds, 8, 0, dist=False, seed=0, persistent_workers=False)
    runner = make_runner(tmp_path, _model('ImageClassifier'), 2)
    runner.register_hook(
        GradNormHook(method='rs2', options=dict(budget='ramp')),
        priority='HIGHEST')
    with pytest.raises(
            TypeError, match="sampler=dict\\(type="
            "'EpochPlanSampler'\\)"):
        runner.run([loader], [('train', 1)])


def test_grid_specs_take_the_budget():
    spec = parse_spec('rs2+budget=anneal')
    assert spec.method == 'rs2' and spec.options == dict(budget='anneal')
    with pytest.raises(ValueError, match="unknown budget 'x'"):
        parse_spec('geda_rotate+budget=x')


def test_budget_configs_are_apply_geda_of_their_base():
    base = Config.fromfile(
        osp.join(REPO,
                 'configs/resnet/resnet18w16_1xb64-full-30e_cifar10-5k.py'))
    for budget in ('anneal', 'ramp'):
        cfg = Config.fromfile(
            osp.join(
                REPO, f'configs/rs2/resnet18w16_1xb64-rs2-{budget}-f0.73-30e_'
                'cifar10-5k.py'))
        expected = apply_geda(base, 0.73, 'rs2', budget=budget)
        assert cfg._cfg_dict.to_dict() == expected._cfg_dict.to_dict()


@pytest.mark.parametrize('world, size, per_rank', [(1, 17, 18), (1, 16, 16),
                                                   (2, 17, 10), (2, 15, 8)])
def test_no_rank_ends_an_epoch_in_a_batch_of_one(world, size, per_rank):
    from mmcls_geda.datasets import EpochPlanSampler
    shares = []
    for rank in range(world):
        sampler = EpochPlanSampler(range(100), world, rank)
        sampler.set_batching(8, False)
        sampler.set_plan(np.arange(size))
        shares.append(list(sampler))
        assert len(sampler) == len(shares[-1]) == per_rank
        assert per_rank % 8 != 1
    served = np.concatenate(shares)
    # every planned sample, and the few padded ones once more
    assert set(served.tolist()) == set(range(size))
    assert served.size - size == world * per_rank - size
