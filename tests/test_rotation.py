"""Per-epoch subsets: RS2, GEDA rotation and its stratified control.

The numpy core first (served counts, coverage per pass or cycle, folds
that match the class, determinism), then the hook on a real runner
(served indices, resume mid-cycle, recorded losses, two gloo ranks, bad
arguments).
"""
import itertools
import json
import os.path as osp

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from mmcls.datasets import build_dataset
from mmcls.models import build_classifier
from mmcv import Config
from mmcv.runner import Hook

from mmcls_geda import GradNormHook, apply_geda
from mmcls_geda.datasets.subset import find_wrapper
from mmcls_geda.selection import class_budgets, get_method, select_subset
from mmcls_geda.selection.epoch_state import ROTATION, ROTATION_LOG
from mmcls_geda.selection.folds import (block_of_stream, cycle_folds,
                                        fold_objective)
from mmcls_geda.selection.geda import (capped_bin_counts, nearest_counts,
                                       node_grid)
from mmcls_geda.selection.rotation import RotationPlan
from .conftest import (PLAIN_NORM, ServedIndices, free_port, make_runner,
                       small_resnet_cfg, train_loader, train_on_rank,
                       write_cifar10)

GEDA_OPTS = dict(nodes=5, rule='trapezoid', refold='loss')
STRATA_OPTS = dict(quantiles=4, refold='loss')
FOLDED = [('geda_rotate', GEDA_OPTS), ('strata_rotate', STRATA_OPTS)]


def _bins(method):
    """The bins a fold method's entry matches its folds on."""
    return get_method(method).epoch.bins


# --- the exact solver against a reference distribution -----------------------


def _brute_force(edges, w, k, lower, upper):
    n, best = edges[-1], None
    for counts in itertools.product(
            *[range(lo, hi + 1) for lo, hi in zip(lower, upper)]):
        if sum(counts) != k:
            continue
        cum = np.cumsum(counts)[:-1]
        value = float(np.dot(w, np.abs(edges[1:-1] / n - cum / k)))
        best = value if best is None else min(best, value)
    return best


@settings(max_examples=80, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 5), min_size=2, max_size=5), data=st.data())
def test_capped_bin_counts_are_optimal(sizes, data):
    n = sum(sizes)
    if n == 0:
        return
    edges = np.concatenate(([0], np.cumsum(sizes)))
    w = np.array(
        data.draw(
            st.lists(
                st.sampled_from([1.0, 2 / 3, 4 / 3]),
                min_size=len(sizes) - 1,
                max_size=len(sizes) - 1)))
    lower = np.array([data.draw(st.integers(0, s)) for s in sizes])
    upper = np.array(
        [data.draw(st.integers(lo, s)) for lo, s in zip(lower, sizes)])
    if upper.sum() < 1:
        return
    k = data.draw(st.integers(max(1, lower.sum()), upper.sum()))
    counts = capped_bin_counts(edges, w, k, lower, upper)
    assert counts.sum() == k
    assert np.all(counts >= lower) and np.all(counts <= upper)
    cum = np.cumsum(counts)[:-1]
    value = float(np.dot(w, np.abs(edges[1:-1] / n - cum / k)))
    assert value == pytest.approx(_brute_force(edges, w, k, lower, upper))


def test_capped_bin_counts_without_caps_are_the_exact_solvers():
    scores = np.random.default_rng(0).gamma(2.0, size=200)
    sorted_scores = np.sort(scores)
    t, w = node_grid(sorted_scores, 5, 'trapezoid')
    edges = np.concatenate(
        ([0], np.searchsorted(sorted_scores, t, side='right'), [200]))
    sizes = np.diff(edges)
    counts = capped_bin_counts(edges, w, 40, np.zeros_like(sizes), sizes)
    assert np.array_equal(counts, np.diff(nearest_counts(edges, 200, 40)))
    with pytest.raises(ValueError, match='no 41 samples fit'):
        capped_bin_counts(edges, w, 41, np.zeros_like(sizes),
                          np.minimum(sizes, 8))


# --- RS2 ---------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    data=st.data(),
    seed=st.integers(0, 5),
    epochs=st.integers(1, 25))
def test_rs2_serves_each_sample_once_per_pass(n, data, seed, epochs):
    k = data.draw(st.integers(1, n))
    blocks = [block_of_stream(n, k, e, seed, 3) for e in range(epochs)]
    counts = np.bincount(np.concatenate(blocks), minlength=n)
    for block in blocks:
        assert block.size == k and np.unique(block).size == k
    # the stream holds epochs x k entries: every sample in each full pass
    # once, so no sample is served twice before every other one is served
    passes = epochs * k // n
    assert set(counts.tolist()) <= {passes, passes + 1}
    if epochs * k % n == 0:
        assert np.all(counts == passes)


def _classes(largest: int, most: int) -> dict:
    """Strategies of class sizes (up to ``most`` classes of up to
    ``largest`` samples), a fraction and a seed."""
    return dict(
        sizes=st.lists(st.integers(1, largest), min_size=1, max_size=most),
        fraction=st.floats(0.05, 1.0),
        seed=st.integers(0, 3))


@settings(max_examples=40, deadline=None)
@given(**_classes(30, 6), replace=st.booleans())
def test_every_epoch_serves_the_budget(sizes, fraction, seed, replace):
    labels = np.repeat(np.arange(len(sizes)), sizes)
    scores = np.random.default_rng(seed).random(labels.size)
    budgets = class_budgets(np.array(sizes), fraction)
    plans = [
        RotationPlan(labels, fraction, 'rs2', dict(replace=replace), seed)
    ] + [RotationPlan(labels, fraction, m, o, seed) for m, o in FOLDED]
    for plan in plans:
        for epoch in range(7):
            served = plan.indices(epoch, scores)
            assert served.size == plan.size == budgets.sum()
            assert np.unique(served).size == served.size
            assert np.array_equal(
                np.bincount(labels[served], minlength=len(sizes)), budgets)


def test_rs2_with_replacement_draws_each_epoch_independently():
    labels = np.repeat(np.arange(4), 50)
    plan = RotationPlan(labels, 0.1, 'rs2', dict(replace=True), 0)
    served = [plan.indices(e) for e in range(10)]
    counts = np.bincount(np.concatenate(served), minlength=200)
    # ten epochs of 10 %: without replacement every sample once; drawn
    # independently, some twice and about a third never
    assert counts.max() >= 2 and (counts == 0).sum() > 30
    again = RotationPlan(labels, 0.1, 'rs2', dict(replace=True), 0)
    assert all(
        np.array_equal(a, again.indices(e)) for e, a in enumerate(served))
    without = RotationPlan(labels, 0.1, 'rs2', dict(replace=False), 0)
    assert np.all(
        np.bincount(
            np.concatenate([without.indices(e) for e in range(10)]),
            minlength=200) == 1)


# --- GEDA rotation and the stratified control --------------------------------


@pytest.mark.parametrize('method, options', FOLDED)
@pytest.mark.parametrize('n, k', [(30, 10), (10, 3), (7, 2), (5, 5), (9, 8)])
def test_folds_cover_the_class_once_per_cycle(method, options, n, k):
    scores = np.random.default_rng(n + k).gamma(2.0, size=n)
    folds = cycle_folds(scores, k, _bins(method), options,
                        np.random.default_rng(0))
    m = -(-n // k)
    assert len(folds) == m
    assert all(f.size == k and np.unique(f).size == k for f in folds)
    counts = np.bincount(np.concatenate(folds), minlength=n)
    # every sample once; when k does not divide n, the last fold is topped
    # up with m k - n samples of the earlier folds: served twice
    assert counts.min() == 1 and counts.max() <= 2
    assert (counts == 2).sum() == m * k - n
    last_alone = set(range(n)) - set(
        np.concatenate([[]] + folds[:-1]).tolist())
    assert last_alone <= set(folds[-1].tolist())


@pytest.mark.parametrize('method, options', FOLDED)
def test_a_cycle_of_epochs_serves_every_sample(method, options):
    labels = np.repeat(np.arange(3), [40, 31, 25])
    scores = np.random.default_rng(1).gamma(2.0, size=labels.size)
    plan = RotationPlan(labels, 0.3, method, options, 0)
    assert plan.cycle_epochs == 4  # ceil(1 / 0.3)
    for cycle in range(2):
        served = np.concatenate(
            [plan.indices(e, scores) for e in range(4 * cycle, 4 * cycle + 4)])
        counts = np.bincount(served, minlength=labels.size)
        assert counts.min() == 1 and counts.max() <= 2
    # a new cycle: new folds
    assert not np.array_equal(plan.indices(0, scores), plan.indices(4, scores))
    assert plan.new_cycle(4) and not plan.new_cycle(3)
    assert not plan.leftover(0, scores).any()  # 4 k_c >= n_c: top-ups


@pytest.mark.parametrize('method, options', FOLDED)
def test_a_budget_rounded_down_carries_its_rest_to_the_next_cycle(
        method, options):
    # 20 %: k = 27 for both; 5 x 27 = 135 leaves one of the 136 unserved
    # in every cycle, and gives the 133 two top-ups
    labels = np.repeat(np.arange(2), [136, 133])
    scores = np.random.default_rng(2).gamma(2.0, size=labels.size)
    plan = RotationPlan(labels, 0.2, method, options, 0)
    assert plan.budgets.tolist() == [27, 27] and plan.cycle_epochs == 5
    carry = np.zeros(labels.size, dtype=bool)
    for cycle in range(3):
        epochs = range(5 * cycle, 5 * cycle + 5)
        served = [plan.indices(e, scores, carry) for e in epochs]
        counts = np.bincount(np.concatenate(served), minlength=labels.size)
        assert np.array_equal(served[0][np.isin(served[0],
                                                np.flatnonzero(carry))],
                              np.flatnonzero(carry))  # served first
        left = plan.leftover(epochs[0], scores, carry)
        assert np.array_equal(
            np.flatnonzero(left), np.flatnonzero(counts == 0))
        assert left.sum() == 1 and labels[left] == 0
        assert counts[labels == 1].min() == 1
        carry = left


@settings(max_examples=30, deadline=None)
@given(**_classes(25, 4), strata=st.booleans())
@example(sizes=[3, 3], fraction=0.4375, seed=0, strata=False)
def test_every_sample_is_served_once_per_cycle_plus_or_minus_one(
        sizes, fraction, seed, strata):
    method, options = FOLDED[int(strata)]
    labels = np.repeat(np.arange(len(sizes)), sizes)
    scores = np.random.default_rng(seed).random(labels.size)
    plan = RotationPlan(labels, fraction, method, options, seed)
    m = plan.cycle_epochs
    carry = np.zeros(labels.size, dtype=bool)
    for cycle in range(3):
        served = [
            plan.indices(e, scores, carry)
            for e in range(cycle * m, cycle * m + m)
        ]
        counts = np.bincount(np.concatenate(served), minlength=labels.size)
        budgets = plan.budgets[labels]
        # what the last cycle carried comes first (as much as a fold holds)
        for c, k in enumerate(plan.budgets):
            carried = np.flatnonzero(carry & (labels == c))
            assert np.isin(carried, served[0]).sum() == min(carried.size, k)
        left = plan.leftover(cycle * m, scores, carry)
        assert np.array_equal(left, counts == 0)
        wide = m * budgets > 2 * np.bincount(labels)[labels]  # k_c >= 1 rule
        assert np.all((counts <= 2) | wide)
        carry = left


def _random_folds(n, k, rng):
    perm = rng.permutation(n)
    m = -(-n // k)
    folds = [perm[f * k:(f + 1) * k] for f in range(m - 1)]
    rest = perm[(m - 1) * k:]
    top = rng.choice(perm[:(m - 1) * k], size=k - rest.size, replace=False)
    return folds + [np.concatenate([rest, top])]


@pytest.mark.parametrize('method, options', FOLDED)
def test_folds_match_the_class_better_than_random_folds(method, options):
    rng = np.random.default_rng(0)
    ours, random = [], []
    for trial in range(20):
        scores = rng.gamma(2.0, size=103)
        for folds, out in ((cycle_folds(scores, 10, _bins(method), options,
                                        rng), ours),
                           (_random_folds(103, 10, rng), random)):
            out.extend(
                fold_objective(scores, f, _bins(method), options)
                for f in folds)
    assert np.mean(ours) < 0.5 * np.mean(random)
    # the first fold is the static optimum: the objective of a static
    # GEDA subset (or a perfectly stratified one)
    scores = rng.gamma(2.0, size=100)
    first = cycle_folds(scores, 10, _bins(method), options, rng)[0]
    assert fold_objective(scores, first, _bins(method), options) <= min(
        fold_objective(scores, f, _bins(method), options)
        for f in _random_folds(100, 10, rng)) + 1e-12


def test_registry_entries_serve_the_first_epoch_statically():
    labels = np.repeat(np.arange(3), 20)
    scores = np.random.default_rng(0).random(60)
    for name in ('rs2', 'geda_rotate', 'strata_rotate'):
        assert get_method(name).per_epoch
        chosen = select_subset(None if name == 'rs2' else scores, labels, 0.25,
                               name)
        assert len(chosen) == 15
    assert not get_method('geda').per_epoch


@pytest.mark.parametrize(
    'method, options, match',
    [('rs2', dict(replace=1), 'replace must be True or False, got 1'),
     ('geda_rotate', dict(refold='losses'), "unknown refold 'losses'"),
     ('geda_rotate', dict(nodes=1), 'nodes must be an integer >= 2, got 1'),
     ('strata_rotate', dict(quantiles=0), 'quantiles must be an integer'),
     ('strata_rotate', dict(nodes=5), r"unknown option\(s\) \['nodes'\]")])
def test_bad_options_are_refused_with_the_value_named(method, options, match):
    with pytest.raises(ValueError, match=match):
        get_method(method).resolve(options)


def test_plans_are_pure_functions_of_their_inputs():
    labels = np.repeat(np.arange(5), 23)
    scores = np.random.default_rng(3).random(labels.size)
    for method, options in [('rs2', dict(replace=False))] + FOLDED:
        a = RotationPlan(labels, 0.2, method, options, 7)
        b = RotationPlan(labels, 0.2, method, options, 7)
        # b asks for the epochs in another order (a resumed run)
        late = [b.indices(e, scores) for e in (9, 3, 0)]
        assert all(
            np.array_equal(a.indices(e, scores), x)
            for e, x in zip((9, 3, 0), late))
        other = RotationPlan(labels, 0.2, method, options, 8)
        assert not np.array_equal(
            a.indices(0, scores), other.indices(0, scores))


# --- the hook on a real runner -----------------------------------------------

# no random transforms: a resumed run can reproduce the losses exactly
PIPELINE = [
    dict(type='Normalize', **PLAIN_NORM),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='ToTensor', keys=['gt_label']),
    dict(type='Collect', keys=['img', 'gt_label'])
]
FRACTION, SIZE = 0.3, 30  # 10 classes of 10: k_c = 3, cycles of 4 epochs


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    return write_cifar10(
        str(tmp_path_factory.mktemp('cifar10_100_')), per_class_train=10)


@pytest.fixture(autouse=False)
def no_sleep(monkeypatch):
    # EpochBasedRunner sleeps 2 s an epoch ("prevent possible deadlock")
    import mmcv.runner.epoch_based_runner as ebr
    monkeypatch.setattr(ebr.time, 'sleep', lambda s: None)


class WrapperState(Hook):
    """What the wrapper holds at every epoch start (after GradNormHook)."""

    def __init__(self):
        self.indices = []

    def before_train_epoch(self, runner):
        wrapper = find_wrapper(runner.data_loader.dataset)
        self.indices.append(wrapper.indices.copy())


class SeedEachEpoch(Hook):
    """The loader's shuffle of each epoch depends on the epoch only."""

    def before_train_epoch(self, runner):
        # the loader's own generator: a fresh loader iterator (after a
        # restart) draws from the global one
        runner.data_loader.sampler.generator = torch.Generator().manual_seed(
            runner.epoch)


def _wrapper(root):
    return build_dataset(
        dict(
            type='GEDASubsetDataset',
            fraction=FRACTION,
            dataset=dict(
                type='LocalCIFAR10', data_prefix=root, pipeline=PIPELINE)))


def _model(kind='WeightedImageClassifier'):
    torch.manual_seed(0)
    model = build_classifier(dict(small_resnet_cfg(), type=kind))
    model.init_weights()
    return model


def _hook(method, options):
    return GradNormHook(
        method=method,
        options=options,
        scoring_batch_size=32,
        scoring_workers=0,
        report=False)


def _train(root, work_dir, method, options, epochs, resume_from=None):
    ds = _wrapper(root)
    runner = make_runner(work_dir, _model(), max_epochs=epochs)
    runner.register_checkpoint_hook(dict(interval=1))
    runner.register_hook(_hook(method, options), priority='HIGHEST')
    state, served = WrapperState(), ServedIndices()
    for hook in (SeedEachEpoch(), state, served):
        runner.register_hook(hook)
    if resume_from:
        runner.resume(resume_from)
    runner.run([train_loader(ds)], [('train', 1)])
    served = np.split(np.concatenate(served.served), len(state.indices))
    return ds, state.indices, served


def _state(work_dir, epoch):
    with np.load(osp.join(work_dir, ROTATION.file(epoch))) as s:
        return (s['losses'].astype(np.float64), s['cycle_scores'], s['carry'])


RUNS = {
    'rs2': ('rs2', dict()),
    'geda_rotate+loss': ('geda_rotate', dict()),
    'geda_rotate+grad_norm': ('geda_rotate', dict(refold='grad_norm')),
    'strata_rotate+fixed': ('strata_rotate', dict(refold='fixed')),
}


@pytest.mark.parametrize('name', list(RUNS))
def test_served_indices_follow_the_plan(root, tmp_path, no_sleep, name):
    method, given = RUNS[name]
    options = get_method(method).resolve(given)
    ds, held, served = _train(root, tmp_path, method, given, epochs=5)
    plan = RotationPlan(ds.full_labels, FRACTION, method, options, 0)
    norms0 = None if method == 'rs2' else np.load(tmp_path / 'geda_norms.npy')
    for epoch in range(5):
        # the loader served exactly what the wrapper held: the budget, 3 a
        # class, no repeats
        assert sorted(served[epoch]) == held[epoch].tolist()
        assert np.array_equal(
            np.bincount(ds.full_labels[held[epoch]]), np.full(10, 3))
        if epoch < 4:  # the first cycle: folded on the θ0 norms
            assert np.array_equal(held[epoch], plan.indices(epoch, norms0))
    counts = np.bincount(np.concatenate(held[:4]), minlength=100)
    assert counts.min() == 1 and counts.max() <= 2  # 4 x 3 = 12 of 10
    losses, scores, carry = _state(tmp_path, 5)
    refold = options.get('refold')
    if refold == 'loss':  # the second cycle: folded on the recorded losses
        assert not np.isnan(_state(tmp_path, 4)[0]).any()
        assert np.array_equal(scores, _state(tmp_path, 4)[0])
    elif refold == 'fixed':
        assert np.array_equal(scores, norms0)
    elif refold == 'grad_norm':  # a new pass: other norms
        assert not np.allclose(scores, norms0)
    else:  # rs2 reads nothing and records nothing
        assert scores.size == 0 and np.isnan(losses).all()
        scores = carry = None
    assert np.array_equal(held[4], plan.indices(4, scores, carry))
    log = json.load(open(tmp_path / ROTATION_LOG))['epochs']
    assert [e['epoch'] for e in log] == list(range(5))
    assert [e['refolded'] for e in log] == [False] * 4 + [method != 'rs2']


def test_resume_mid_cycle_serves_the_uninterrupted_runs_indices(
        root, tmp_path, no_sleep):
    _, _, straight = _train(root, tmp_path / 'a', 'geda_rotate', {}, 6)
    _, _, first = _train(root, tmp_path / 'b', 'geda_rotate', {}, 2)
    _, _, rest = _train(
        root,
        tmp_path / 'b',
        'geda_rotate', {},
        6,
        resume_from=str(tmp_path / 'b' / 'epoch_2.pth'))
    resumed = first + rest
    for epoch in range(6):  # epoch 4 is re-folded on the losses
        assert np.array_equal(straight[epoch], resumed[epoch]), epoch
    # the losses recorded before the restart survived it
    before = _state(tmp_path / 'b', 2)[0]
    assert (~np.isnan(before)).sum() == 2 * SIZE
    # and both runs end with the same losses and cycle scores
    for straight_part, resumed_part in zip(
            _state(tmp_path / 'a', 6), _state(tmp_path / 'b', 6)):
        assert np.array_equal(straight_part, resumed_part)


def _rotate_on_rank(rank, world, port, root, work_dir):
    state, served = WrapperState(), ServedIndices()
    train_on_rank(rank, world, port, work_dir, _wrapper(root), _model(),
                  [(_hook('geda_rotate', {}), 'HIGHEST'), (state, 'NORMAL'),
                   (served, 'NORMAL')], 5)
    np.savez(
        osp.join(work_dir, f'rank{rank}.npz'),
        indices=np.stack(state.indices),
        served=np.concatenate(served.served))


def test_ranks_serve_identical_indices_every_epoch(root, tmp_path):
    import torch.multiprocessing as mp
    mp.spawn(
        _rotate_on_rank, args=(2, free_port(), root, str(tmp_path)), nprocs=2)
    ranks = [np.load(tmp_path / f'rank{r}.npz') for r in range(2)]
    assert np.array_equal(ranks[0]['indices'], ranks[1]['indices'])
    per_rank = [np.split(r['served'], 5) for r in ranks]
    for epoch in range(5):  # the two shards: that epoch's subset
        both = np.concatenate([per_rank[0][epoch], per_rank[1][epoch]])
        assert sorted(both) == ranks[0]['indices'][epoch].tolist()
    # epoch 4 was re-folded on the losses both ranks recorded
    losses = _state(tmp_path, 4)[0]
    assert not np.isnan(losses).any()
    labels = _wrapper(root).full_labels
    plan = RotationPlan(labels, FRACTION, 'geda_rotate',
                        get_method('geda_rotate').resolve({}), 0)
    assert np.array_equal(ranks[0]['indices'][4], plan.indices(4, losses))


@pytest.mark.parametrize(
    'kwargs, match',
    [(dict(method='rs2', interval=2), 'interval=2'),
     (dict(method='geda_rotate', warmup_epochs=1), 'warmup_epochs=1'),
     (dict(method='rs2', weights='gradmatch'), "weights='gradmatch'"),
     (dict(
         method='strata_rotate',
         then=dict(method='gradmatch', start_epoch=2, interval=1)), 'then='),
     (dict(method='geda_rotate',
           options=dict(refold='x')), "unknown refold 'x'"),
     (dict(method='rs2', options=dict(replace='no')),
      "replace must be True or False, got 'no'")])
def test_bad_arguments_are_refused_when_the_hook_is_built(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GradNormHook(**kwargs)
    # apply_geda fails as early, before the config is touched
    hook = dict(kwargs)
    method, options = hook.pop('method'), hook.pop('options', {})
    with pytest.raises(ValueError, match=match):
        apply_geda(dict(), 0.1, method, hook=hook, **options)


def test_loss_refold_needs_a_model_that_records_losses(tmp_path):
    runner = make_runner(tmp_path, _model('ImageClassifier'))
    with pytest.raises(TypeError, match="refold='loss'.*ImageClassifier"):
        _hook('geda_rotate', {}).before_run(runner)
    _hook('geda_rotate', dict(refold='fixed')).before_run(runner)
    _hook('rs2', {}).before_run(runner)


def test_resume_with_other_settings_or_no_state_is_refused(
        root, tmp_path, no_sleep):
    _train(root, tmp_path, 'geda_rotate', {}, 2)
    from mmcls.datasets import build_dataloader
    for options, epoch, error, match in [
        (dict(nodes=4), 2, ValueError, 'options: saved'),
        ({}, 1, None, None),
        ({}, 3, FileNotFoundError,
         r"rotation_state_epoch3.npz \(the epochs' log and, where the "
         r'method keeps them, .*\), which is missing: copy it back into '),
    ]:
        runner = make_runner(tmp_path, _model(), max_epochs=4)
        runner.data_loader = build_dataloader(_wrapper(root), 8, 1, dist=False)
        runner._epoch = epoch
        hook = _hook('geda_rotate', options)
        if error is None:
            hook.before_train_epoch(runner)
            continue
        with pytest.raises(error, match=match):
            hook.before_train_epoch(runner)


@pytest.mark.parametrize('config', [
    'configs/demo/resnet18_1xb64-full_digits.py',
    'configs/resnet/resnet18_1xb64-full_cifar10.py'
])
def test_apply_geda_turns_any_config_into_a_rotation(config):
    from .conftest import REPO
    cfg = Config.fromfile(osp.join(REPO, config))
    kind = cfg.model.type
    rs2 = apply_geda(cfg, 0.2, 'rs2')
    assert rs2.data.train.type == 'GEDASubsetDataset'
    assert rs2.custom_hooks[-1].method == 'rs2'
    assert rs2.model.type == kind  # records nothing
    rotate = apply_geda(cfg, 0.2, 'geda_rotate')
    assert rotate.model.type == 'WeightedImageClassifier'  # records losses
    fixed = apply_geda(cfg, 0.2, 'geda_rotate', refold='fixed')
    assert fixed.model.type == kind
    with pytest.raises(ValueError, match='interval=3'):
        GradNormHook(
            **{
                k: v
                for k, v in dict(rs2.custom_hooks[-1], interval=3).items()
                if k not in ('type', 'priority')
            })


@pytest.mark.parametrize('config', [
    'configs/rs2/resnet18_1xb64-rs2-f0.1_cifar10.py',
    'configs/rs2/resnet18_1xb64-geda_rotate-f0.1_cifar10.py'
])
def test_configs_train_and_resume_mid_cycle(python, cifar10_root, tmp_path,
                                            config):
    from .conftest import run_tool, small_cfg_options
    work = str(tmp_path / 'work')
    # 60 samples, 30 % a epoch: 2 of the 6 of 8 classes (the last fold of
    # a cycle of 4 epochs topped up), 1 of 6 of the other 2 (2 carried to
    # the next cycle)
    opts = small_cfg_options(
        cifar10_root, work, epochs=5) + ['data.train.fraction=0.3']
    log = run_tool(python, 'tools/train.py', config, '--work-dir', work,
                   '--device', 'cpu', '--cfg-options', *opts)
    assert 'accuracy_top-1' in log
    assert 'serves 18 of 60 samples' in log
    entries = json.load(open(osp.join(work, ROTATION_LOG)))['epochs']
    assert [e['size'] for e in entries] == [18] * 5
    if 'geda_rotate' in config:
        assert [e['refolded'] for e in entries] == [False] * 4 + [True]
        assert entries[4]['carried'] == 4
        assert entries[0]['scoring_s'] > 0
        # killed after epoch 2, resumed: epoch 4 re-folds on the losses,
        # those the first run recorded in epochs 0-1 among them
        before = _state(work, 3)
        log = run_tool(python, 'tools/train.py', config, '--work-dir', work,
                       '--device', 'cpu', '--resume-from',
                       osp.join(work, 'epoch_2.pth'), '--cfg-options', *opts)
        assert 'resumed at epoch 2 with the losses of 36 samples' in log
        assert 'a new cycle folded on loss' in log
        after = _state(work, 3)
        # epoch 2 served the same fold (the θ0 norms came from the state,
        # not a new pass), and the losses of epochs 0-1 survived
        assert np.array_equal(before[1], after[1])
        # (no sample of epoch 2 was served in epochs 0-1: one cycle)
        kept = np.isnan(_state(work, 2)[0]) == np.isnan(before[0])
        assert np.array_equal(before[0][kept], after[0][kept], equal_nan=True)
        assert 'gradient norms took' not in log


# --- a per-epoch method of one's own (docs/methods.md) -----------------------


def _low_odd_high_even(view):
    """Each class's lowest losses on odd epochs, highest on even ones."""
    if view.scores is None:
        return view.rng.choice(view.size, view.budget, replace=False)
    by_loss = np.argsort(view.scores, kind='stable')
    if view.epoch % 2:
        return by_loss[:view.budget]
    return by_loss[view.size - view.budget:]


@pytest.fixture
def own_method():
    from mmcls_geda.selection import METHODS, Method, register_method
    register_method(
        Method('low_odd_high_even', 'losses', epoch=_low_odd_high_even))
    yield 'low_odd_high_even'
    METHODS.pop('low_odd_high_even')


def _filled(losses, labels):
    """The losses with a never-trained sample at its class's median."""
    out = losses.copy()
    for c in np.unique(labels):
        members = labels == c
        seen = members & ~np.isnan(losses)
        out[members & np.isnan(losses)] = np.median(losses[seen])
    return out


def test_own_method_serves_its_function_on_the_recorded_losses(
        root, tmp_path, no_sleep, own_method):
    ds, held, served = _train(root, tmp_path / 'a', own_method, {}, 4)
    labels = ds.full_labels
    for epoch in range(4):
        assert sorted(served[epoch]) == held[epoch].tolist()
        assert np.array_equal(np.bincount(labels[held[epoch]]), [3] * 10)
        if epoch == 0:
            continue
        # the losses recorded up to the end of the previous epoch
        losses = _filled(_state(tmp_path / 'a', epoch)[0], labels)
        for c in range(10):
            members = np.flatnonzero(labels == c)
            ranked = members[np.argsort(losses[members], kind='stable')]
            want = ranked[:3] if epoch % 2 else ranked[-3:]
            assert sorted(set(held[epoch]) & set(members)) == sorted(want)
    # killed after epoch 2 and resumed: the same indices
    _, _, first = _train(root, tmp_path / 'b', own_method, {}, 2)
    _, _, rest = _train(
        root,
        tmp_path / 'b',
        own_method, {},
        4,
        resume_from=str(tmp_path / 'b' / 'epoch_2.pth'))
    for epoch, (a, b) in enumerate(zip(served, first + rest)):
        assert sorted(a) == sorted(b), epoch


@pytest.mark.parametrize('returned, match', [
    (lambda v: np.arange(v.budget + 1), r'4 positions: give exactly '
     r'view.budget = 3'),
    (lambda v: np.zeros(v.budget, int), 'a position twice'),
    (lambda v: np.arange(v.budget) + v.size, r'outside \[0, 10\)'),
    (lambda v: np.linspace(0, 1, v.budget), 'integer positions'),
    (lambda v: None, 'NoneType'),
])
def test_own_method_returning_a_bad_choice_is_named(returned, match):
    from mmcls_geda.selection import METHODS, Method, register_method
    register_method(Method('bad_choice', 'nothing', epoch=returned))
    try:
        plan = RotationPlan(
            np.repeat(np.arange(10), 10), FRACTION, 'bad_choice', {}, 0)
        with pytest.raises(
                ValueError,
                match=r"method 'bad_choice' returned"
                r', for class 0 in epoch 0,.*' + match):
            plan.indices(0)
    finally:
        METHODS.pop('bad_choice')


@pytest.mark.parametrize('kwargs, match', [
    (dict(name='x', reads='losses',
          solve=lambda *a: None), "reads 'losses'.*give it an epoch function"),
    (dict(name='two words', reads='nothing',
          epoch=_low_odd_high_even), 'a Python identifier'),
    (dict(name='x', reads='nothing', epoch=3), 'EpochRule or a function'),
    (dict(name='x', reads='embeddings',
          epoch=_low_odd_high_even), 'not embeddings'),
    (dict(name='x', reads='nothing'), r'needs a per-class solver'),
    (dict(name='rs2', reads='nothing',
          epoch=_low_odd_high_even), 'already registered'),
])
def test_registering_a_bad_method_is_refused(kwargs, match):
    from mmcls_geda.selection import METHODS, Method, register_method
    before = dict(METHODS)
    with pytest.raises((ValueError, TypeError, KeyError), match=match):
        register_method(Method(**kwargs))
    assert METHODS == before


def test_own_method_outside_a_run_is_its_first_epoch_or_refused():
    """select_subset (what the scoring pass and the tools call) gives an
    epoch function's first epoch; one that reads the losses has none."""
    from mmcls_geda.selection import METHODS, Method, register_method

    def top(view):
        return np.argsort(view.scores)[view.size - view.budget:]

    register_method(Method('top_each_epoch', 'norms', epoch=top))
    register_method(
        Method('losses_each_epoch', 'losses', epoch=_low_odd_high_even))
    try:
        labels = np.repeat(np.arange(3), 10)
        norms = np.random.default_rng(0).random(30)
        sel = select_subset(norms, labels, 0.3, 'top_each_epoch')
        want = [
            i for c in range(3) for i in np.flatnonzero(
                labels == c)[np.argsort(norms[labels == c])[-3:]]
        ]
        assert sorted(sel.indices.tolist()) == sorted(want)
        with pytest.raises(ValueError, match='serves through GradNormHook'):
            select_subset(norms, labels, 0.3, 'losses_each_epoch')
    finally:
        METHODS.pop('top_each_epoch')
        METHODS.pop('losses_each_epoch')
