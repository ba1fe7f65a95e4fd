"""Per-class budgets and small rank-based helpers shared by all methods."""
import numpy as np


def largest_remainder(quotas: np.ndarray, total: int) -> np.ndarray:
    """Round non-negative ``quotas`` to integers that sum to ``total``.

    Every entry gets ``floor(quota)``; the ``total - sum(floor)`` units left
    go to the largest fractional parts (ties: the lower position first).

    Args:
        quotas: Non-negative real quotas whose sum is ``total`` up to
            rounding.
        total: The integer sum wanted.

    Returns:
        np.ndarray: int64 counts, ``counts[i] in {floor(q_i), ceil(q_i)}``.
    """
    quotas = np.asarray(quotas, dtype=np.float64)
    base = np.floor(quotas).astype(np.int64)
    left = int(total) - int(base.sum())
    if left > 0:
        # stable sort on -remainder keeps the lower position first on ties
        order = np.argsort(-(quotas - base), kind='stable')
        base[order[:left]] += 1
    elif left < 0:
        order = np.argsort(quotas - base, kind='stable')
        base[order[:-left]] -= 1
    return base


def class_budgets(class_sizes: np.ndarray, fraction: float) -> np.ndarray:
    """Per-class budgets ``k_c`` for keeping ``fraction`` of the data.

    The rule:

    1. The total is ``K = round(fraction * n)`` (halves round up).
    2. Class ``c`` has the quota ``fraction * n_c``; quotas are rounded by
       the largest-remainder method so that the budgets sum to ``K``.
    3. A class with ``n_c >= 1`` keeps at least one sample. A class raised
       to 1 takes that unit from the class whose budget most exceeds its
       quota (among budgets >= 2). Only when ``K`` is smaller than the
       number of non-empty classes does the total exceed ``K``.

    ``k_c <= n_c`` always, and ``fraction == 1`` gives ``k_c == n_c``.

    Args:
        class_sizes: ``n_c`` for each class (int, >= 0).
        fraction: Kept fraction in (0, 1].

    Returns:
        np.ndarray: int64 budgets ``k_c``.
    """
    sizes = np.asarray(class_sizes, dtype=np.int64)
    total = int(np.floor(fraction * sizes.sum() + 0.5))
    quotas = fraction * sizes
    budgets = np.minimum(largest_remainder(quotas, total), sizes)
    for c in np.flatnonzero((budgets == 0) & (sizes > 0)):
        budgets[c] = 1
        donors = np.flatnonzero(budgets >= 2)
        if donors.size:
            excess = budgets[donors] - quotas[donors]
            budgets[donors[np.argmax(excess)]] -= 1
    return budgets


def spread_positions(size: int, count: int) -> np.ndarray:
    """``count`` positions out of ``range(size)``, evenly spaced.

    Position ``j`` is ``floor((j + 1/2) * size / count)``: the midpoints of
    ``count`` equal slices, distinct because ``size / count >= 1``.
    """
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    j = np.arange(count, dtype=np.int64)
    return (2 * j + 1) * size // (2 * count)


def class_rng(seed: int, label: int) -> np.random.Generator:
    """An independent, platform-stable random stream for one class."""
    return np.random.default_rng(
        np.random.SeedSequence([int(seed), int(label)]))
