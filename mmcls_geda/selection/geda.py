"""GEDA inside one class: match the class's empirical CDF of gradient norms.

For a class with scores ``s_1..s_n`` (minimum ``m``, maximum ``M``) and a
budget ``k``, the thesis's problem (P) is::

    minimise    sum_j w_j Z_j
    subject to  +-(F_full(t_j) - (1/k) sum_i delta_i c_ij) <= Z_j   for all j
                sum_i delta_i = k,   delta_i in {0, 1},   Z_j >= 0

with nodes ``t_j = m + j (M - m) / N`` for ``j = 1..N-1``,
``c_ij = 1[s_i <= t_j]`` and unit weights ``w_j`` (the composite trapezoid
rule divided by the step ``h``; the end-point terms are dropped as in the
thesis: at ``t_N = M`` the difference is always 0). ``rule='simpson'`` uses
Simpson's interior weights 4/3, 2/3, 4/3, ... instead (``N`` even), and
``nodes=None`` puts a node at every distinct score with the gap to the next
one as its weight, so the objective is exactly
``integral |F_full - F_subset| dt``, the 1-D Wasserstein-1 distance.

Two solvers give optimal solutions of the same problem: :func:`solve_milp`
(PuLP, CBC by default) and :func:`solve_exact` (closed form, O(n log n)).
"""
import warnings
from typing import Optional, Tuple

import numpy as np

from .budgets import spread_positions

QUADRATURE_RULES = ('trapezoid', 'simpson')
WITHIN_BIN = ('random', 'spread')


def node_grid(sorted_scores: np.ndarray, nodes: Optional[int],
              rule: str) -> Tuple[np.ndarray, np.ndarray]:
    """Nodes ``t_j`` and weights ``w_j`` of the objective for one class.

    Args:
        sorted_scores: The class's scores in ascending order.
        nodes: ``N`` (intervals between min and max), or None for the exact
            integral.
        rule: ``'trapezoid'`` or ``'simpson'`` (ignored when ``nodes`` is
            None).

    Returns:
        tuple[np.ndarray, np.ndarray]: ``(t, w)``, float64, equal lengths.
    """
    lo, hi = float(sorted_scores[0]), float(sorted_scores[-1])
    if nodes is None:
        distinct = np.unique(sorted_scores)
        return distinct[:-1], np.diff(distinct)
    j = np.arange(1, nodes, dtype=np.float64)
    t = lo + j * (hi - lo) / nodes
    if rule == 'trapezoid':
        w = np.ones_like(t)
    else:
        w = np.where(j % 2 == 1, 4.0 / 3.0, 2.0 / 3.0)
    return t, w


def nearest_counts(full_counts: np.ndarray, n: int, k: int) -> np.ndarray:
    """``round(k * A / n)`` with halves rounded up, in exact integer maths."""
    return (2 * k * full_counts.astype(np.int64) + n) // (2 * n)


def ecdf_objective(sorted_scores: np.ndarray, selected_sorted: np.ndarray,
                   t: np.ndarray, w: np.ndarray) -> float:
    """``sum_j w_j |F_full(t_j) - F_subset(t_j)|``.

    Args:
        sorted_scores: The class's scores in ascending order.
        selected_sorted: The selected scores in ascending order.
        t: Nodes.
        w: Weights.
    """
    full = np.searchsorted(sorted_scores, t, side='right') / sorted_scores.size
    sub = np.searchsorted(
        selected_sorted, t, side='right') / selected_sorted.size
    return float(np.dot(w, np.abs(full - sub)))


def solve_exact(scores: np.ndarray, k: int, nodes: Optional[int], rule: str,
                within_bin: str, rng: np.random.Generator) -> np.ndarray:
    """An optimal solution of (P) in O(n log n).

    Proof of optimality. The objective depends on ``delta`` only through
    ``C_j = #{selected i : s_i <= t_j}``; with ``A_j = #{i : s_i <= t_j}``
    term ``j`` is ``w_j |A_j / n - C_j / k|``. For every integer ``C_j`` that
    term is at least ``w_j |A_j / n - r_j / k|`` with
    ``r_j = round(k A_j / n)``, so ``sum_j w_j |A_j / n - r_j / k|`` is a
    lower bound on (P). It is attained if some selection has ``C_j = r_j``
    for every ``j``: the nodes cut the sorted scores into bins of
    ``A_j - A_{j-1}`` samples (``A_0 = 0`` before the first node,
    ``A_{J+1} = n`` after the last), and such a selection takes
    ``x_j = r_j - r_{j-1}`` samples from bin ``j`` (``r_0 = 0``,
    ``r_{J+1} = round(k n / n) = k``). That is possible iff
    ``0 <= x_j <= A_j - A_{j-1}``. Rounding is monotone, so ``x_j >= 0``.
    For integers ``a <= b`` with ``d = b - a``,
    ``floor(kb/n + 1/2) - floor(ka/n + 1/2) <= ceil(kd/n) <= d`` because
    ``kd/n <= d`` (``k <= n``) and ``d`` is an integer; so
    ``x_j <= A_j - A_{j-1}``. Every selection with these bin counts is
    optimal; ``within_bin`` says which samples of a bin are taken. Sorting
    costs O(n log n); the rest is O(n + J log n).

    Args:
        scores: The class's scores, 1-D float64.
        k: Budget, ``1 <= k <= n``.
        nodes: ``N``, or None for the exact integral.
        rule: Quadrature rule for the weights.
        within_bin: ``'random'`` or ``'spread'`` (evenly spaced by rank).
        rng: Random stream used by ``within_bin='random'``.

    Returns:
        np.ndarray: Positions into ``scores`` of the ``k`` selected samples.
    """
    n = scores.size
    order = np.argsort(scores, kind='stable')
    sorted_scores = scores[order]
    t, _ = node_grid(sorted_scores, nodes, rule)
    edges = np.concatenate(
        ([0], np.searchsorted(sorted_scores, t, side='right'), [n]))
    targets = nearest_counts(edges, n, k)
    picked = []
    for lo, hi, take in zip(edges[:-1], edges[1:], np.diff(targets)):
        if take == 0:
            continue
        if within_bin == 'spread':
            local = spread_positions(hi - lo, take)
        else:
            local = np.sort(rng.choice(hi - lo, size=take, replace=False))
        picked.append(order[lo + local])
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)


def solve_milp(scores: np.ndarray,
               k: int,
               nodes: Optional[int],
               rule: str,
               solver: str = 'PULP_CBC_CMD',
               time_limit: Optional[float] = None) -> Tuple[np.ndarray, str]:
    """Solve (P) as written in the thesis, with PuLP.

    Args:
        scores: The class's scores, 1-D float64.
        k: Budget, ``1 <= k <= n``.
        nodes: ``N``, or None for the exact integral (one node per distinct
            score: only for small classes).
        rule: Quadrature rule for the weights.
        solver: A PuLP solver name (``pulp.listSolvers()``).
        time_limit: Seconds per class, or None.

    Returns:
        tuple[np.ndarray, str]: The selected positions and the solver status
        (``'optimal'``, or ``'time_limit'`` when the limit stopped the search
        with a feasible, possibly suboptimal solution).
    """
    import pulp  # only this solver needs it

    n = scores.size
    order = np.argsort(scores, kind='stable')
    sorted_scores = scores[order]
    t, w = node_grid(sorted_scores, nodes, rule)
    below = np.searchsorted(sorted_scores, t, side='right')

    prob = pulp.LpProblem('geda_P', pulp.LpMinimize)
    delta = [prob.add_variable(f'd{i}', cat=pulp.LpBinary) for i in range(n)]
    gaps = [prob.add_variable(f'z{j}', lowBound=0) for j in range(t.size)]
    prob += pulp.LpAffineExpression(list(zip(gaps, w.tolist())))
    prob += pulp.LpAffineExpression([(d, 1.0) for d in delta]) == k
    for j, count in enumerate(below.tolist()):
        # (1/k) sum_i delta_i c_ij: c_ij = 1 exactly for the first `count`
        # samples in sorted order
        subset_cdf = pulp.LpAffineExpression([(delta[i], 1.0 / k)
                                              for i in order[:count].tolist()])
        full_cdf = count / n
        prob += subset_cdf - full_cdf <= gaps[j]
        prob += full_cdf - subset_cdf <= gaps[j]

    kwargs = {'msg': False}
    if time_limit is not None:
        kwargs['timeLimit'] = time_limit
    with warnings.catch_warnings():
        # PuLP 3.x warns that its bundled CBC moves to an extra in PuLP 4
        warnings.simplefilter('ignore', DeprecationWarning)
        prob.solve(pulp.getSolver(solver, **kwargs))
    if prob.sol_status == pulp.LpSolutionOptimal:
        status = 'optimal'
    elif prob.sol_status == pulp.LpSolutionIntegerFeasible:
        status = 'time_limit'
    else:
        raise RuntimeError(
            f'PuLP solver {solver!r} found no solution for a class of {n} '
            f'samples (status {pulp.LpStatus[prob.status]!r})')
    values = np.array([d.varValue or 0.0 for d in delta])
    return np.flatnonzero(values > 0.5), status


def capped_bin_counts(edges: np.ndarray, w: np.ndarray, k: int,
                      lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Optimal per-bin counts of a ``k``-sample subset against a reference
    ECDF when the candidates do not fill every bin.

    The bins are those of :func:`solve_exact` on the reference (the whole
    class): ``edges`` (length ``J + 2``, ``edges[0] = 0``,
    ``edges[-1] = n``) cut its sorted scores, ``w`` (length ``J``) weighs
    the interior nodes. Bin ``b`` can give between ``lower[b]`` (samples
    that must be in the subset) and ``upper[b]`` samples (those plus the
    candidates in it). This minimises ``sum_j w_j |A_j / n - C_j / k|``
    over such counts (``A_j = edges[j + 1]``, ``C_j`` the subset's count
    up to bin ``j``), which is (P) with the reference's ECDF and the
    candidate pool apart: GEDA rotation cuts a class into folds, each
    matching the *whole* class, from the samples not yet placed.

    When the unconstrained optimum of :func:`solve_exact` (bin counts
    ``round(k A_j / n)`` differenced) fits the bounds it is returned: it
    attains the lower bound. Otherwise a dynamic programme over the
    cumulative count (``O(J k)`` states, each minimum over a window of
    ``upper[b] - lower[b] + 1`` predecessors) finds an exact optimum; ties
    go to the smallest predecessor count, so the result is deterministic.

    Args:
        edges: Bin edges in the reference's sorted order.
        w: Weights of the interior nodes.
        k: Subset size.
        lower: Least count per bin (int).
        upper: Largest count per bin (int), ``>= lower``.

    Returns:
        np.ndarray: int64 counts per bin, summing to ``k``.

    Raises:
        ValueError: If no counts within the bounds sum to ``k``.
    """
    edges = np.asarray(edges, dtype=np.int64)
    lower = np.asarray(lower, dtype=np.int64)
    upper = np.asarray(upper, dtype=np.int64)
    n = int(edges[-1])
    if lower.sum() > k or upper.sum() < k or np.any(lower > upper):
        raise ValueError(
            f'no {k} samples fit between {int(lower.sum())} required and '
            f'{int(upper.sum())} available')
    free = np.diff(nearest_counts(edges, n, k))
    if np.all(free >= lower) and np.all(free <= upper):
        return free
    inf = np.inf
    value = np.full(k + 1, inf)
    value[0] = 0.0
    values = []
    counts_up_to = np.arange(k + 1)
    for b in range(lower.size):
        lo, hi = int(lower[b]), int(min(upper[b], k))
        width = hi - lo + 1
        padded = np.concatenate((np.full(hi, inf), value))
        # new[C] = min value[C - hi .. C - lo]
        value = np.lib.stride_tricks.sliding_window_view(padded,
                                                         width).min(axis=1)
        value = value[:k + 1]
        if b < lower.size - 1:
            value = value + w[b] * np.abs(edges[b + 1] / n - counts_up_to / k)
        values.append(value)
    counts = np.zeros(lower.size, dtype=np.int64)
    total = k
    for b in range(lower.size - 1, -1, -1):
        before = values[b - 1] if b else np.where(counts_up_to == 0, 0.0, inf)
        lo_c = max(total - int(upper[b]), 0)
        hi_c = total - int(lower[b])
        prev = lo_c + int(np.argmin(before[lo_c:hi_c + 1]))
        counts[b] = total - prev
        total = prev
    return counts
