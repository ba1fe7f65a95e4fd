"""Baselines, each choosing ``k`` of one class's samples (from their scores).

Every function returns sorted positions into ``scores``. Ties in a score
ranking are broken by position (stable sort), so results are deterministic.
"""
import numpy as np

from .budgets import largest_remainder


def select_random(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` of ``n`` samples uniformly at random (the thesis's per-class
    random); it reads no scores."""
    return np.sort(rng.choice(n, size=k, replace=False))


def select_quantile_random(scores: np.ndarray,
                           k: int,
                           rng: np.random.Generator,
                           quantiles: int = 4) -> np.ndarray:
    """Random removal inside each score quantile, in proportion (thesis 5.3).

    The class's samples are ranked by score and cut into ``quantiles``
    groups of (nearly) equal size (quartiles by default). Each group keeps
    its share of ``k`` (largest-remainder rounding), chosen at random.
    """
    order = np.argsort(scores, kind='stable')
    groups = np.array_split(order, quantiles)
    sizes = np.array([g.size for g in groups])
    keep = largest_remainder(k * sizes / scores.size, k)
    picked = [
        rng.choice(g, size=c, replace=False) for g, c in zip(groups, keep)
        if c > 0
    ]
    return np.sort(np.concatenate(picked))


def select_ranked_even(scores: np.ndarray, k: int) -> np.ndarray:
    """Remove evenly spaced ranks of the score ranking (thesis 5.3, note).

    The ``n - k`` removed ranks are the midpoints of ``n - k`` equal slices
    of the ranking (removing every 5th sample at 80 %, every other one at
    50 %, and so on for any fraction).
    """
    n = scores.size
    order = np.argsort(scores, kind='stable')
    drop = n - k
    keep = np.ones(n, dtype=bool)
    if drop:
        keep[(2 * np.arange(drop) + 1) * n // (2 * drop)] = False
    return np.sort(order[keep])


def select_topk(scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` highest scores (GraNd / EL2N-style pruning of easy ones)."""
    order = np.argsort(-scores, kind='stable')
    return np.sort(order[:k])


def select_bottomk(scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` lowest scores (keep the easiest samples)."""
    order = np.argsort(scores, kind='stable')
    return np.sort(order[:k])


def select_ccs(scores: np.ndarray,
               k: int,
               rng: np.random.Generator,
               strata: int = 50,
               hard_cutoff: float = 0.0) -> np.ndarray:
    """Coverage-centric selection (Zheng et al., ICLR 2023), in one class.

    The ``hard_cutoff`` fraction of highest-scoring samples is dropped
    first (kept only if the budget needs them). The rest is cut into
    ``strata`` equal-width bins over its score range; the budget is spread
    by water-filling from the smallest non-empty bin up (each bin gets
    ``min(size, budget left / bins left)``), and samples are drawn at random
    inside bins.
    """
    n = scores.size
    order = np.argsort(-scores, kind='stable')
    n_hard = min(int(np.floor(hard_cutoff * n)), n - k)
    pool = np.sort(order[n_hard:])
    values = scores[pool]
    lo, hi = values.min(), values.max()
    if hi > lo:
        bins = np.minimum(
            ((values - lo) / (hi - lo) * strata).astype(np.int64), strata - 1)
    else:
        bins = np.zeros(values.size, dtype=np.int64)
    members = [pool[bins == b] for b in range(strata)]
    members = [m for m in members if m.size]
    members.sort(key=lambda m: m.size)
    left, picked = k, []
    for i, m in enumerate(members):
        take = min(m.size, left // (len(members) - i))
        if i == len(members) - 1:
            take = left
        picked.append(rng.choice(m, size=take, replace=False))
        left -= take
    return np.sort(np.concatenate(picked))
