"""Dynamic, unbiased data pruning from the training losses (InfoBatch-style).

Qin et al. (ICLR 2024, "InfoBatch") drop, every epoch, a random share of
the samples whose last training loss is below the mean, scale up the loss
of the kept low-loss samples so that the expected gradient is unchanged,
and train the last epochs on all data. Here the epoch length is fixed in
advance, so that the runner's ``max_iters`` and every learning-rate
schedule (one-cycle included) stay exact:

* an epoch is *full* (every sample once) in the first epoch, when no loss
  is known yet, and in the last ``ceil(anneal * max_epochs)`` epochs;
* every other epoch processes ``budget = round(keep * n)`` samples: all
  samples whose last loss is at or above the mean of the recorded losses
  (the informative ones; never-seen samples count as above the mean), and a
  uniform random draw from the rest to fill the budget. Should the budget
  not hold every sample above the mean, it is split between the two groups
  in proportion to their sizes (at least one each), drawn uniformly within
  each.

Each kept sample of a stratum ``S`` (above / below the mean) carries the
weight ``|S| / kept(S)``, its inverse inclusion probability. For every
parameter value the weighted epoch sum ``sum_kept w_i grad l_i`` is then
an unbiased estimate of the full epoch's ``sum_i grad l_i`` (stratified
sampling without replacement), which is InfoBatch's argument with its
``1 / (1 - r)`` rescaling; InfoBatch's prune probability of a low-loss
sample in epoch ``t`` is ``r_t = 1 - kept(L_t) / |L_t|``, reported per
epoch. The difference: InfoBatch keeps every low-loss sample with the same
probability ``1 - r`` and lets the epoch length vary; here the length is
fixed and ``r_t`` follows from it. (The weighted losses must be averaged
over the batch size, not normalised by the batch's weight sum, for the
argument to hold: ``WeightedImageClassifier(normalize_weights=False)``.)

numpy only, no torch or mmcv.
"""
from dataclasses import dataclass
from typing import Any, List

import numpy as np

from .registry import check_int


def check_pruning_args(keep: Any, anneal: Any, seed: Any) -> None:
    """A ValueError naming the bad value and what is allowed."""
    ok = not isinstance(keep, bool) and isinstance(
        keep, (int, float, np.floating)) and 0 < keep <= 1
    if not ok:
        raise ValueError(f'keep (the share of the data a pruned epoch '
                         f'processes) must be in (0, 1], got {keep!r}')
    ok = not isinstance(anneal, bool) and isinstance(
        anneal, (int, float, np.floating)) and 0 <= anneal <= 1
    if not ok:
        raise ValueError(f'anneal (the share of the epochs at the end that '
                         f'train on all data) must be in [0, 1], got '
                         f'{anneal!r}')
    check_int(seed, 'seed', 0)


def epoch_lengths(n: int, max_epochs: int, keep: float,
                  anneal: float) -> List[int]:
    """Samples processed in each epoch: full, pruned ..., full (anneal)."""
    full_tail = int(np.ceil(anneal * max_epochs - 1e-9))
    budget = max(1, int(round(keep * n)))
    return [
        n if epoch == 0 or epoch >= max_epochs - full_tail else budget
        for epoch in range(max_epochs)
    ]


@dataclass
class EpochPlan:
    """The samples an epoch processes and their loss weights.

    Attributes:
        indices: Dataset indices, in a seeded random order.
        weights: Per index, the inverse inclusion probability.
        above: How many samples were at or above the mean loss (unseen
            ones included).
        below: How many were below it.
        kept_below: How many of those are kept.
        prune_ratio: ``1 - kept_below / below`` (InfoBatch's ``r``).
        mean_loss: The mean of the recorded losses (nan if none).
    """
    indices: np.ndarray
    weights: np.ndarray
    above: int
    below: int
    kept_below: int
    prune_ratio: float
    mean_loss: float

    def summary(self) -> str:
        return (f'{self.indices.size} samples ({self.above} at or above the '
                f'mean loss {self.mean_loss:.4g}, {self.kept_below} of '
                f'{self.below} below it: pruned {self.prune_ratio:.1%} of '
                'those)')


def plan_epoch(losses: np.ndarray, seen: np.ndarray, length: int,
               rng: np.random.Generator) -> EpochPlan:
    """Compose one epoch of ``length`` samples (see the module docstring).

    Args:
        losses: Each sample's last recorded training loss (any value where
            ``seen`` is False).
        seen: Whether a loss was recorded for the sample.
        length: Samples to process (``n``: a full epoch).
        rng: The epoch's random stream (the same on every rank).

    Returns:
        EpochPlan: Shuffled indices and their weights.
    """
    losses = np.asarray(losses, dtype=np.float64)
    seen = np.asarray(seen, dtype=bool)
    n = losses.size
    if not 0 < length <= n:
        raise ValueError(f'an epoch processes 1..{n} samples, got {length}')
    mean = float(losses[seen].mean()) if seen.any() else float('nan')
    high = ~seen | (losses >= mean) if seen.any() else np.ones(n, bool)
    above, below = np.flatnonzero(high), np.flatnonzero(~high)
    n_above = min(above.size, length)
    if n_above == length and below.size and length >= 2:
        # the budget cannot hold every high-loss sample: split it by the
        # strata's sizes, at least one each, so both stay represented
        n_below = min(max(1, round(length * below.size / n)), length - 1)
        n_above = length - n_below
    kept_above = rng.permutation(above)[:n_above]
    kept_below = rng.permutation(below)[:length - n_above]
    weights = np.concatenate([
        np.full(kept_above.size, above.size / max(kept_above.size, 1)),
        np.full(kept_below.size, below.size / max(kept_below.size, 1))
    ])
    indices = np.concatenate([kept_above, kept_below]).astype(np.int64)
    order = rng.permutation(indices.size)
    return EpochPlan(
        indices=indices[order],
        weights=weights[order],
        above=int(above.size),
        below=int(below.size),
        kept_below=int(kept_below.size),
        prune_ratio=1.0 - kept_below.size / below.size if below.size else 0.0,
        mean_loss=mean)
