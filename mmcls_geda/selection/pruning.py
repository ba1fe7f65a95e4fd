"""Dynamic, unbiased data pruning from the training losses: InfoBatch's rule.

Qin et al. (ICLR 2024, "InfoBatch"): every pruned epoch drops each sample
whose last training loss is below the mean with the same probability ``r``
(the *ratio*), keeps every sample at or above the mean, and scales the loss
of the kept low-loss samples by ``1 / (1 - r)``. The first epoch is full
(no loss is known yet), and so are the epochs in the last ``anneal`` share
of training (InfoBatch's ``delta = 1 - anneal``). The epoch length is what
the draws give; its expectation is ``above + (1 - r) * below``.

Unbiased: a low-loss sample is kept with probability ``1 - r`` and then
weighs ``1 / (1 - r)``, every other sample is kept with weight 1, so for
every parameter value ``E[sum_kept w_i grad l_i] = sum_i grad l_i``. The
weighted losses must be averaged over the batch size, not normalised by the
batch's weight sum (``WeightedImageClassifier(normalize_weights=False)``).
No weight ever exceeds ``1 / (1 - r)``, whatever the loss distribution: a
rule with a fixed per-epoch budget has to raise its low-loss prune ratio
towards 1 when many samples sit above the mean, and its weights with it.

The *random* control (``rule='random'``) draws, instead of the below-mean
samples, as many candidates uniformly from the whole data set, and treats
them the same way (dropped with probability ``r``, kept ones weighted
``1 / (1 - r)``): the same epochs, the same distribution of epoch lengths,
the same weights; only *which* samples may be dropped is no longer chosen
by the loss. It is unbiased too (given the candidates, by the same
argument).

Two differences from InfoBatch's published code, both on purpose: the
draws are independent per sample (its code keeps exactly
``int((1 - r) * below)`` samples, which makes ``1 / (1 - r)`` slightly too
small a weight), and ``r`` above 0.9 is refused instead of silently clipped
(its code clips the keep ratio to ``[0.1, 1]``).

numpy only, no torch or mmcv.
"""
import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict

import numpy as np

from .checks import check_choice, check_int, check_number, check_seed

# InfoBatch's default share of the epochs, at the end, trained on all data
ANNEAL_SHARE = 0.125


def _below_mean(low: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.flatnonzero(low)


def _uniform(low: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(low.size, size=int(low.sum()), replace=False))


# each rule: (below-mean mask, the epoch's stream) -> the sorted candidates
CANDIDATES = dict(infobatch=_below_mean, random=_uniform)
RULES = tuple(CANDIDATES)
MAX_RATIO = 0.9  # InfoBatch keeps at least 10 % of the low-loss samples


def check_ratio(ratio: Any, name: str = 'ratio') -> float:
    """The prune ratio ``r`` in (0, 0.9], or a ValueError naming it: the
    one bound of ``apply_pruning``, the hook and a grid's pruning specs."""
    return check_number(
        ratio,
        name,
        0,
        MAX_RATIO,
        low_open=True,
        hint='the probability that a below-mean-loss sample is dropped in a '
        'pruned epoch (for none, train without pruning), and InfoBatch '
        'keeps at least 10 % of them')


def check_pruning_args(ratio: Any, rule: Any, anneal: Any,
                       seed: Any) -> Dict[str, Any]:
    """The settings in canonical types, or a ValueError naming the bad one.

    Returns:
        dict: ``ratio``, ``rule``, ``anneal``, ``seed``.
    """
    return dict(
        ratio=check_ratio(ratio),
        rule=check_choice(rule, 'rule', RULES),
        anneal=check_number(
            anneal,
            'anneal',
            0,
            1,
            hint='the share of the epochs, at the end, that train on all '
            'data'),
        seed=check_seed(seed))


@dataclass(frozen=True)
class PruningArgs:
    """The settings of dynamic pruning: each default declared here, once,
    and every value checked when the object is made (``apply_pruning``,
    ``DynamicPruningHook`` and the grid build one).

    Args:
        ratio (float): ``r``, the probability that a below-mean sample is
            dropped in a pruned epoch, in (0, 0.9].
        rule (str): ``'infobatch'`` (candidates by the loss) or
            ``'random'`` (as many candidates, drawn uniformly: the control).
        anneal (float): Share of the epochs, at the end, on all data.
        seed (int): Seed of the per-epoch draws.
    """
    ratio: float = 0.5
    rule: str = 'infobatch'
    anneal: float = ANNEAL_SHARE
    seed: int = 0

    def __post_init__(self):
        checked = check_pruning_args(self.ratio, self.rule, self.anneal,
                                     self.seed)
        for name, value in checked.items():  # canonical types
            object.__setattr__(self, name, value)

    @classmethod
    def from_kwargs(cls, who: str, **kwargs: Any) -> 'PruningArgs':
        """Build from keyword arguments; an unknown name is refused,
        naming ``who`` was given it and what it takes."""
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise ValueError(f'unknown {who} argument(s) {unknown}; allowed: '
                             f'{allowed}')
        return cls(**kwargs)

    def to_dict(self) -> Dict[str, Any]:
        """The settings by name (what a saved state holds)."""
        return asdict(self)


def is_pruned(epoch: int, max_epochs: int, anneal: float) -> bool:
    """Whether ``epoch`` (0-based) prunes: not the first, and not in the
    last ``anneal`` share, i.e. ``1 <= epoch < (1 - anneal) * max_epochs``.
    """
    check_int(epoch, 'epoch', 0)
    # round: (1 - 0.125) * 40 must be 35, not 35.000000000000004
    return 1 <= epoch < round((1 - anneal) * max_epochs, 9)


def expected_count(above: int, below: int, ratio: float) -> float:
    """The expected number of samples a pruned epoch processes."""
    return above + (1 - ratio) * below


@dataclass
class EpochPlan:
    """The samples an epoch processes and their loss weights.

    Attributes:
        indices: Dataset indices, in a seeded random order.
        weights: Per index, its loss weight (1, or ``1 / (1 - r)`` for a
            kept candidate).
        pruned: Whether the epoch pruned (False: every sample, weight 1).
        mean_loss: The mean of the recorded losses (nan if none).
        above: Samples at or above the mean loss (never-seen ones too).
        below: Samples below it.
        candidates: Samples that could be dropped (the below-mean ones for
            ``'infobatch'``, as many uniform ones for ``'random'``; 0 in a
            full epoch).
        kept_candidates: How many of them were kept.
        expected: The epoch's expected length, before the draws.
    """
    indices: np.ndarray
    weights: np.ndarray
    pruned: bool
    mean_loss: float
    above: int
    below: int
    candidates: int
    kept_candidates: int
    expected: float

    def stats(self) -> Dict[str, Any]:
        """Everything but the arrays, as JSON-ready values."""
        stats = asdict(self)
        del stats['indices'], stats['weights']
        stats['mean_loss'] = (None if math.isnan(self.mean_loss) else float(
            self.mean_loss))
        stats['processed'] = int(self.indices.size)
        return stats


def plan_epoch(losses: np.ndarray, seen: np.ndarray, ratio: float, rule: str,
               rng: np.random.Generator, pruned: bool) -> EpochPlan:
    """Draw one epoch (see the module docstring).

    Args:
        losses: Each sample's last recorded training loss (any value where
            ``seen`` is False).
        seen: Whether a loss was recorded for the sample; unseen samples
            count as above the mean (they are always kept).
        ratio: ``r``, the drop probability of a candidate.
        rule: ``'infobatch'`` or ``'random'``.
        rng: The epoch's random stream (the same on every rank).
        pruned: False for a full epoch (every sample, weight 1).

    Returns:
        EpochPlan: Shuffled indices and their weights.
    """
    losses = np.asarray(losses, dtype=np.float64)
    seen = np.asarray(seen, dtype=bool)
    n = losses.size
    mean = float(losses[seen].mean()) if seen.any() else float('nan')
    low = seen & (losses < mean) if seen.any() else np.zeros(n, bool)
    below = int(low.sum())
    keep = np.ones(n, bool)
    candidates = np.zeros(0, np.int64)
    if pruned and below:
        candidates = CANDIDATES[rule](low, rng)
        # independent draws: each candidate dropped with probability r
        keep[candidates[rng.random(candidates.size) < ratio]] = False
    weight_table = np.ones(n)
    weight_table[candidates] = 1.0 / (1.0 - ratio)
    indices = rng.permutation(np.flatnonzero(keep)).astype(np.int64)
    return EpochPlan(
        indices=indices,
        weights=weight_table[indices],
        pruned=bool(pruned),
        mean_loss=mean,
        above=n - below,
        below=below,
        candidates=int(candidates.size),
        kept_candidates=int(keep[candidates].sum()),
        expected=(expected_count(n -
                                 below, below, ratio) if pruned else float(n)))
