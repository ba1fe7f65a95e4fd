"""Budget schedules: how a per-epoch method spends its samples over a run.

A per-epoch method (``rs2``, ``geda_rotate``, ``strata_rotate``) serves
``fraction x max_epochs`` passes of the data in all. Its ``budget`` option
says how that total is spread over the epochs:

- ``'constant'`` (the default): every epoch serves the class budgets
  ``k_c`` of ``fraction`` (:func:`~mmcls_geda.selection.budgets.
  class_budgets`).
- ``'anneal'``: InfoBatch's shape without its loss ranking: all the data in
  the first epoch and in the last ``ANNEAL_SHARE`` of the epochs (the
  epochs dynamic pruning trains in full,
  :func:`~mmcls_geda.selection.pruning.is_pruned`), the rest of the total
  spread evenly over the other epochs.
- ``'ramp'``: each epoch's share rises linearly over the run, as steeply
  as fits in ``(0, 1]`` with the same mean: ``2 f (e + 1) / (E + 1)`` for
  ``f <= 1/2`` (from ``2 f / (E + 1)`` to about ``2 f``); for ``f > 1/2``
  mirrored, ``1 - 2 (1 - f) (E - e) / (E + 1)``, ending at
  ``1 - 2 (1 - f) / (E + 1)`` of the data (near all of it, not all).

Per class, the run's total is ``max_epochs x k_c`` whatever the schedule
(so every schedule serves the samples the constant one serves), cut into
epochs by cumulative rounding of the shares; a full epoch serves exactly
``n_c``. A schedule that would leave a class without a sample in some
epoch, or that the total cannot pay for (``anneal`` below about
``(F + 1) / max_epochs`` with ``F`` full epochs), is refused with the
smallest fraction that allows it. numpy only.
"""
import math
from typing import Callable, Tuple

import numpy as np

from .budgets import class_budgets
from .checks import check_choice, check_fraction, check_int
from .pruning import ANNEAL_SHARE, is_pruned

BUDGETS = ('constant', 'anneal', 'ramp')


def check_budget(budget: str) -> str:
    """``budget`` if it is one of :data:`BUDGETS`, else a ValueError."""
    return check_choice(budget, 'budget', BUDGETS)


def full_epochs(max_epochs: int) -> np.ndarray:
    """Mask of the epochs ``'anneal'`` trains on all the data."""
    return np.array([
        not is_pruned(e, max_epochs, ANNEAL_SHARE) for e in range(max_epochs)
    ])


def epoch_shares(budget: str, fraction: float, max_epochs: int) -> np.ndarray:
    """Each epoch's share of the data (they sum to ``fraction x
    max_epochs``), before the per-class rounding.

    Raises:
        ValueError: For ``'anneal'`` when the full epochs alone cost more
            than the total.
    """
    budget, fraction = check_budget(budget), check_fraction(fraction)
    epochs = check_int(max_epochs, 'max_epochs', 1)
    if budget == 'constant':
        return np.full(epochs, fraction)
    if budget == 'ramp':
        slope = 2 * min(fraction, 1 - fraction) / (epochs + 1)
        return fraction + slope * (np.arange(epochs) - (epochs - 1) / 2)
    full = full_epochs(epochs)
    rest = fraction * epochs - full.sum()
    if full.all():
        if fraction < 1:
            raise UnpaidBudget(budget, fraction, epochs, 1.0,
                               f'every one of the {epochs} epochs is full')
        return np.ones(epochs)
    shares = np.where(full, 1.0, rest / (~full).sum())
    if rest <= 0:
        raise UnpaidBudget(
            budget, fraction, epochs,
            smallest_fraction(lambda f: f * epochs > full.sum(), fraction),
            f'its {int(full.sum())} full epochs (the first and the last '
            f'{ANNEAL_SHARE:g} of the run) alone cost {int(full.sum())} '
            f'passes of the {fraction * epochs:.4g} the fraction pays')
    return shares


class UnpaidBudget(ValueError):
    """A schedule the fraction cannot pay for; ``why`` says what fails."""

    def __init__(self, budget: str, fraction: float, epochs: int,
                 smallest: float, why: str):
        super().__init__(
            f"budget={budget!r} at fraction {fraction} over {epochs} "
            f'epochs: {why}; the smallest fraction that allows it is '
            f"{smallest:.4g} (or use budget='constant')")
        self.why = why


def smallest_fraction(allowed: Callable[[float], bool],
                      fraction: float) -> float:
    """The smallest fraction above ``fraction``, on a grid of 1e-4, for
    which ``allowed`` holds (a ValueError counts as no): a scan by 1e-3,
    then by 1e-4 below the first hit (the rounding of the budgets makes
    ``allowed`` not quite monotone). 1 if none is."""

    def ok(f: float) -> bool:
        try:
            return bool(allowed(f))
        except ValueError:
            return False

    coarse = [k / 1000 for k in range(math.floor(fraction * 1000) + 1, 1001)]
    hit = next((f for f in coarse if ok(f)), 1.0)
    fine = [
        k / 10000 for k in range(
            max(math.floor(fraction * 10000) + 1,
                round(hit * 10000) - 9), round(hit * 10000))
    ]
    return next((f for f in fine if ok(f)), hit)


def spread(total: int, shares: np.ndarray, cap: int) -> np.ndarray:
    """Integers ``k_e`` in ``[0, cap]`` summing to ``total``, proportional
    to ``shares`` by cumulative rounding; a share of 1 or more (a full
    epoch) gets exactly ``cap``.

    Args:
        total: The class's samples over the run (``<= cap x epochs``).
        shares: Each epoch's share of the data.
        cap: The class size.
    """
    shares = np.asarray(shares, dtype=np.float64)
    full = shares >= 1
    counts = np.where(full, cap, 0).astype(np.int64)
    left = int(total) - int(counts.sum())
    rest = np.flatnonzero(~full)
    if rest.size and left > 0:
        cum = np.cumsum(shares[rest]) / shares[rest].sum()
        bounds = np.floor(left * cum + 0.5).astype(np.int64)
        bounds[-1] = left
        counts[rest] = np.diff(np.concatenate(([0], bounds)))
    # rounding can push an epoch past the class size: move the excess to
    # the nearest earlier epoch with room (later ones if none)
    for e in np.flatnonzero(counts > cap):
        excess, counts[e] = counts[e] - cap, cap
        for j in list(range(e - 1, -1, -1)) + list(range(e + 1, counts.size)):
            moved = min(excess, cap - counts[j])
            counts[j] += moved
            excess -= moved
            if not excess:
                break
    return counts


def epoch_class_budgets(class_sizes: np.ndarray, fraction: float,
                        max_epochs: int, budget: str) -> np.ndarray:
    """Samples of each class each epoch serves, shape ``(max_epochs,
    classes)``.

    Every row of ``'constant'`` is :func:`class_budgets`; every schedule's
    column ``c`` sums to ``max_epochs x k_c``.

    Raises:
        ValueError: When the schedule leaves a class without a sample in
            some epoch or cannot be paid for, naming the smallest fraction
            that allows it.
    """
    sizes = np.asarray(class_sizes, dtype=np.int64)
    try:
        table = _table(sizes, fraction, max_epochs, budget)
    except UnpaidBudget as error:
        why = error.why
    else:
        empty = np.argwhere(table == 0)
        if not empty.size:
            return table
        e, c = empty[0]
        why = (f'epoch {e} would serve no sample of class {c} '
               f'({sizes[c]} samples)')
    smallest = smallest_fraction(
        lambda f: (_table(sizes, f, max_epochs, budget) > 0).all(), fraction)
    raise UnpaidBudget(budget, fraction, max_epochs, smallest, why)


def _table(sizes: np.ndarray, fraction: float, max_epochs: int,
           budget: str) -> np.ndarray:
    shares = epoch_shares(budget, fraction, max_epochs)
    budgets = class_budgets(sizes, fraction)
    if budget == 'constant':
        return np.tile(budgets, (max_epochs, 1))
    return np.stack(
        [spread(max_epochs * k, shares, n) for n, k in zip(sizes, budgets)],
        axis=1)


def cycle_starts(shares: np.ndarray) -> Tuple[int, ...]:
    """The epochs that start a cycle: each cycle is the shortest run of
    epochs whose shares add up to a whole pass (the last may be cut short
    by the end of the run). Constant shares ``f`` give cycles of
    ``ceil(1 / f)`` epochs."""
    starts, total = [0], 0.0
    for e, share in enumerate(shares[:-1]):
        total += share
        if total >= 1 - 1e-9:
            starts.append(e + 1)
            total = 0.0
    return tuple(starts)
