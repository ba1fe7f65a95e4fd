"""Per-epoch subsets: RS2, GEDA rotation and its stratified control.

The numpy core first (served counts, coverage per pass or cycle, folds
that match the class, determinism), then the hook on a real runner
(served indices, resume mid-cycle, recorded losses, two gloo ranks, bad
arguments).
"""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcls_geda.selection import class_budgets, get_method, select_subset
from mmcls_geda.selection.geda import (capped_bin_counts, nearest_counts,
                                       node_grid)
from mmcls_geda.selection.rotation import (RotationPlan, block_of_stream,
                                           cycle_folds, fold_objective)

GEDA_OPTS = dict(nodes=5, rule='trapezoid', refold='loss')
STRATA_OPTS = dict(quantiles=4, refold='loss')
FOLDED = [('geda_rotate', GEDA_OPTS), ('strata_rotate', STRATA_OPTS)]

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
    sizes=st.lists(st.integers(0, 5), min_size=2, max_size=5),
    data=st.data())
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
    upper = np.array([data.draw(st.integers(lo, s))
                      for lo, s in zip(lower, sizes)])
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


# --- RS2 -----------------------------------------------------------------------


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


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 30), min_size=1, max_size=6),
    fraction=st.floats(0.05, 1.0),
    seed=st.integers(0, 3),
    replace=st.booleans())
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
    assert all(np.array_equal(a, again.indices(e))
               for e, a in enumerate(served))
    without = RotationPlan(labels, 0.1, 'rs2', dict(replace=False), 0)
    assert np.all(
        np.bincount(
            np.concatenate([without.indices(e) for e in range(10)]),
            minlength=200) == 1)


# --- GEDA rotation and the stratified control ---------------------------------


@pytest.mark.parametrize('method, options', FOLDED)
@pytest.mark.parametrize('n, k', [(30, 10), (10, 3), (7, 2), (5, 5), (9, 8)])
def test_folds_cover_the_class_once_per_cycle(method, options, n, k):
    scores = np.random.default_rng(n + k).gamma(2.0, size=n)
    folds = cycle_folds(scores, k, method, options,
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
    m = plan.cycle_epochs
    assert m.tolist() == [4, 4, 4]  # ceil(1 / 0.3)
    for cycle in range(2):
        served = np.concatenate(
            [plan.indices(e, scores) for e in range(4 * cycle, 4 * cycle + 4)])
        counts = np.bincount(served, minlength=labels.size)
        assert counts.min() == 1 and counts.max() <= 2
    # a new cycle: new folds
    assert not np.array_equal(plan.indices(0, scores),
                              plan.indices(4, scores))
    assert plan.new_cycle(4).all() and not plan.new_cycle(3).any()


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
        for folds, out in (
            (cycle_folds(scores, 10, method, options, rng), ours),
            (_random_folds(103, 10, rng), random)):
            out.extend(
                fold_objective(scores, f, method, options) for f in folds)
    assert np.mean(ours) < 0.5 * np.mean(random)
    # the first fold is the static optimum: the objective of a static
    # GEDA subset (or a perfectly stratified one)
    scores = rng.gamma(2.0, size=100)
    first = cycle_folds(scores, 10, method, options, rng)[0]
    assert fold_objective(scores, first, method, options) <= min(
        fold_objective(scores, f, method, options)
        for f in _random_folds(100, 10, rng)) + 1e-12


def test_registry_entries_serve_the_first_epoch_statically():
    labels = np.repeat(np.arange(3), 20)
    scores = np.random.default_rng(0).random(60)
    for name in ('rs2', 'geda_rotate', 'strata_rotate'):
        assert get_method(name).per_epoch
        chosen = select_subset(None if name == 'rs2' else scores, labels,
                               0.25, name)
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
        assert not np.array_equal(a.indices(0, scores), other.indices(0,
                                                                      scores))
