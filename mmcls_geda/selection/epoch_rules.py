"""How a per-epoch method chooses each epoch's samples: its registry
entry's ``epoch`` rule.

A per-epoch method's entry in :mod:`~mmcls_geda.selection.registry` holds
one of these rules, and :class:`~mmcls_geda.selection.rotation.
RotationPlan` asks it, class by class and epoch by epoch, which positions
of the class to serve; nothing else reads the method's name. Three kinds:

- :class:`StreamBlocks` (``rs2``): consecutive blocks of a seeded stream
  of permutations, every sample once per pass;
- :class:`MatchedFolds` (``geda_rotate``, ``strata_rotate``): a cycle of
  folds, each matching the whole class on the rule's bins, refolded on the
  recorded losses, a new gradient pass or the same norms;
- :class:`EachEpoch` (your own method, ``docs/methods.md``, "Add your own
  method"): a function of one class's :class:`EpochView` (its scores, the
  epoch's budget, a seeded random stream) returning the positions to
  serve;
- :class:`Pruned` (``infobatch``, ``random_pruning``): dynamic pruning
  over the whole training set, from the recorded training losses
  (:mod:`~mmcls_geda.selection.pruning`): each epoch's indices in a
  seeded order, with per-sample loss weights.

Every rule answers an epoch with an :class:`EpochChoice`: the indices and,
for a rule that weighs its samples, their loss weights.

numpy only.
"""
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from . import folds, geda, pruning
from .budgets import class_rng
from .checks import check_bool, check_choice, check_int
from .epoch_budgets import check_budget

# what later cycles of folds are cut on
REFOLDS = ('loss', 'grad_norm', 'fixed')
# the seed stream of EachEpoch's per-class, per-epoch random streams
_EACH_STREAM = 2_000_083


@dataclass
class EpochView:
    """What an :class:`EachEpoch` method sees of one class in one epoch.

    Attributes:
        epoch: The epoch (0-based).
        label: The class (-1 when ``select_subset`` asks for a first
            epoch outside a run).
        size: The class's samples, ``n_c``; positions are into them.
        budget: How many positions to return (``k_c``, or the epoch's
            share under a budget schedule).
        scores: Per sample of the class, what the method reads: the
            gradient norms at θ0 (``reads='norms'``), the last recorded
            training losses (``reads='losses'``; a sample not trained on
            yet gets its class's median; None before the first epoch was
            trained), or None (``reads='nothing'``).
        rng: A random stream seeded by ``(seed, label, epoch)``: the same
            on every rank and after a resume.
        options: The method's resolved options.
    """
    epoch: int
    label: int
    size: int
    budget: int
    scores: Optional[np.ndarray]
    rng: np.random.Generator
    options: Dict[str, Any]


@dataclass
class EpochChoice:
    """What an epoch serves: a rule's answer for one epoch.

    Attributes:
        indices: Dataset indices, sorted, or in serving order when
            ``ordered``.
        weights: Per index, its loss weight; None: unweighted.
        ordered: Whether the rule ordered the indices itself (a seeded
            order, the same on every rank); otherwise the sampler orders
            them.
        expected: The epoch's expected length before its random draws
            (None: ``indices.size``); a rule's :meth:`EpochRule.
            epoch_size` may plan later epochs from it.
        stats: JSON-ready numbers for the epoch's log entry.
    """
    indices: np.ndarray
    weights: Optional[np.ndarray] = None
    ordered: bool = False
    expected: Optional[float] = None
    stats: Optional[Dict[str, Any]] = None


class EpochRule:
    """The behaviour of a per-epoch method over a run (a base class).

    Attributes:
        reads_norms: Whether the plan is built on the gradient norms at θ0
            (computed before the first epoch).
        folded: Whether epochs come in cycles that are cut anew
            (``refold``) and may leave samples over for the next cycle.
        whole_data: Whether it plans over the whole training set
            (``fraction=1.0``), epoch lengths varying with its draws.
        unnormalised_weights: Whether its weights must be averaged over
            the batch, not normalised by their sum
            (``WeightedImageClassifier(normalize_weights=False)``).
    """
    reads_norms = False
    folded = False
    whole_data = False
    unnormalised_weights = False

    def check(self, opts: Dict[str, Any]) -> None:
        """Raise a ValueError on a bad option of the rule's own."""

    def start(self, plan) -> None:
        """Raise a ValueError if ``plan`` (its fraction, its run length)
        does not suit the rule."""

    def needs_losses(self, opts: Dict[str, Any]) -> bool:
        """Whether the training losses must be recorded every epoch."""
        return False

    def varies(self, opts: Dict[str, Any]) -> bool:
        """Whether the epochs' lengths vary (a budget schedule)."""
        return opts.get('budget', 'constant') != 'constant'

    def read_losses(self, plan, last: np.ndarray) -> Optional[np.ndarray]:
        """What an epoch reads of the recorded losses (``last``: every
        sample's last loss, NaN where none was recorded): None before any
        was recorded, else a sample never trained on gets its class's
        median (:meth:`~mmcls_geda.selection.rotation.RotationPlan.
        filled_losses`)."""
        if np.isnan(last).all():
            return None
        return plan.filled_losses(last)

    def choose_epoch(self, plan, epoch: int, scores: Optional[np.ndarray],
                     carry: np.ndarray) -> EpochChoice:
        """What ``epoch`` serves: by default each class's
        :meth:`class_positions`, sorted, unweighted.

        Args:
            plan: The :class:`~mmcls_geda.selection.rotation.RotationPlan`.
            epoch: The epoch.
            scores: Per sample (all samples), what the rule reads, or None.
            carry: Mask of the samples the previous cycle left over.
        """
        out = []
        for ci, members in enumerate(plan.members):
            pos = self.class_positions(
                plan, ci, epoch, None if scores is None else scores[members],
                np.flatnonzero(carry[members]))
            out.append(members[pos])
        return EpochChoice(np.sort(np.concatenate(out)))

    def epoch_size(self, plan, epoch: int,
                   now: Optional[EpochChoice]) -> float:
        """Samples ``epoch`` serves (expected, for a later epoch of a rule
        that draws), ``now``: the current epoch's choice."""
        if plan.table is None:
            return plan.size
        return int(plan.table[epoch].sum())

    def describe_epoch(self, plan, choice: EpochChoice) -> str:
        """The end of an epoch's log line."""
        return ''

    def class_positions(self, plan, ci: int, epoch: int,
                        scores: Optional[np.ndarray],
                        carry: np.ndarray) -> np.ndarray:
        """Positions, into class ``ci`` of ``plan``, that ``epoch`` serves.

        Args:
            plan: The :class:`~mmcls_geda.selection.rotation.RotationPlan`.
            ci: The class's index in ``plan.classes``.
            epoch: The epoch.
            scores: The class's scores (see :meth:`RotationPlan.indices`),
                or None.
            carry: Positions the previous cycle left over.
        """
        raise NotImplementedError

    def objective(self, scores: np.ndarray, positions: np.ndarray,
                  opts: Dict[str, Any]) -> Optional[float]:
        """A served subset's measure against its class, for the log; None:
        the rule has none."""
        return None

    def describe(self, plan) -> str:
        """The end of the plan's log line."""
        return ''


class StreamBlocks(EpochRule):
    """RS2: block ``e`` of each class's stream of seeded permutations
    (:func:`~mmcls_geda.selection.folds.rs2_positions`); ``replace=True``
    draws every epoch independently."""

    def check(self, opts: Dict[str, Any]) -> None:
        check_bool(opts['replace'], 'replace')
        check_budget(opts['budget'])

    def class_positions(self, plan, ci, epoch, scores, carry) -> np.ndarray:
        offsets = plan.offsets
        return folds.rs2_positions(
            plan.members[ci].size, int(plan.budgets[ci]), epoch, plan.seed,
            int(plan.classes[ci]), plan.options['replace'],
            None if offsets is None else offsets[:epoch + 2, ci])

    def describe(self, plan) -> str:
        if plan.options['replace']:
            return ', each epoch drawn independently'
        return ', a new block of each class\'s permutation every epoch'


Bins = Callable[[np.ndarray, Dict[str, Any]], Tuple[np.ndarray, np.ndarray]]


class MatchedFolds(EpochRule):
    """Cycles of folds that each match the whole class on ``bins``
    (:func:`~mmcls_geda.selection.folds.cycle_folds`).

    Args:
        bins: ``bins(sorted_scores, options) -> (edges, w)``: the bins (in
            sorted order) and interior weights the folds are matched on.
    """
    reads_norms = True
    folded = True

    def __init__(self, bins: Bins):
        self.bins = bins

    def check(self, opts: Dict[str, Any]) -> None:
        check_choice(opts['refold'], 'refold', REFOLDS)
        check_budget(opts['budget'])

    def needs_losses(self, opts: Dict[str, Any]) -> bool:
        return opts.get('refold') == 'loss'

    def class_positions(self, plan, ci, epoch, scores, carry) -> np.ndarray:
        cycle, f = plan.cycle_of(epoch)[:2]
        return plan.folds(int(plan.classes[ci]), cycle, scores, carry,
                          epoch)[f]

    def objective(self, scores, positions, opts) -> float:
        return folds.fold_objective(scores, positions, self.bins, opts)

    def describe(self, plan) -> str:
        cycles = (f'cycles of {plan.cycle_epochs} epochs'
                  if plan.starts is None else
                  f'cycles starting at epochs {list(plan.starts)}')
        return (f', {cycles}, later cycles folded on '
                f'{plan.options["refold"]}')


def geda_bins(sorted_scores: np.ndarray,
              opts: Dict[str, Any]) -> Tuple[np.ndarray, np.ndarray]:
    """GEDA's nodes (``nodes``, ``rule``) as fold bins."""
    t, w = geda.node_grid(sorted_scores, opts['nodes'], opts['rule'])
    cuts = np.searchsorted(sorted_scores, t, side='right')
    return folds.bin_edges(cuts, sorted_scores.size), w


def strata_bins(sorted_scores: np.ndarray,
                opts: Dict[str, Any]) -> Tuple[np.ndarray, np.ndarray]:
    """``quantiles`` strata by rank, equally weighted, as fold bins."""
    n, q = sorted_scores.size, np.arange(1, opts['quantiles'])
    return folds.bin_edges(q * n // opts['quantiles'], n), np.ones(q.size)


# EachEpoch's function: one class's view -> the positions to serve
Choose = Callable[[EpochView], Any]


class EachEpoch(EpochRule):
    """A per-epoch method written as one function of an
    :class:`EpochView`, returning ``view.budget`` distinct positions in
    ``[0, view.size)``.

    Args:
        choose: The function.
        reads: What ``view.scores`` holds: ``'nothing'``, ``'norms'``
            (θ0's gradient norms) or ``'losses'`` (the training losses
            recorded so far; a ``WeightedImageClassifier`` records them).
        name: The method's name, for messages.
    """

    def __init__(self, choose: Choose, reads: str, name: str):
        self.choose, self.reads, self.name = choose, reads, name
        self.reads_norms = reads == 'norms'

    def needs_losses(self, opts: Dict[str, Any]) -> bool:
        return self.reads == 'losses'

    def view(self, plan, ci: int, epoch: int,
             scores: Optional[np.ndarray]) -> EpochView:
        label = int(plan.classes[ci])
        return EpochView(
            epoch=epoch,
            label=label,
            size=int(plan.members[ci].size),
            budget=plan.class_budget(ci, epoch),
            scores=None if scores is None else np.array(scores),
            rng=np.random.default_rng([plan.seed, _EACH_STREAM, label, epoch]),
            options=dict(plan.options))

    def class_positions(self, plan, ci, epoch, scores, carry) -> np.ndarray:
        return self.checked(self.view(plan, ci, epoch, scores))

    def checked(self, view: EpochView) -> np.ndarray:
        """``choose(view)`` as sorted positions, or a ValueError saying what
        it returned and what is allowed."""
        out = self.choose(view)
        where = (f'method {self.name!r} returned, for class {view.label} in '
                 f'epoch {view.epoch},')
        try:
            positions = np.asarray(out)
            check_int(positions.ndim, 'ndim', 1, 1)
            if positions.size and not np.issubdtype(positions.dtype,
                                                    np.integer):
                raise TypeError
        except (TypeError, ValueError):
            raise ValueError(f'{where} {type(out).__name__} {out!r:.80}: '
                             'give a 1-D array of integer positions') from None
        positions = np.sort(positions.astype(np.int64))
        if positions.size != view.budget:
            raise ValueError(f'{where} {positions.size} positions: give '
                             f'exactly view.budget = {view.budget}')
        if positions.size and (positions[0] < 0 or positions[-1] >= view.size):
            raise ValueError(f'{where} positions outside [0, {view.size}) '
                             f'(min {positions[0]}, max {positions[-1]})')
        if np.any(np.diff(positions) == 0):
            raise ValueError(f'{where} a position twice: give distinct '
                             'positions')
        return positions

    def describe(self, plan) -> str:
        return f', chosen each epoch on {self.reads}'


class Pruned(EpochRule):
    """Dynamic pruning from the recorded training losses (InfoBatch's rule
    and its control, :func:`~mmcls_geda.selection.pruning.plan_epoch`):
    every pruned epoch drops each of the ``candidates`` rule's samples with
    probability ``ratio`` and weights the kept ones ``1 / (1 - ratio)``;
    the first epoch and the last ``anneal`` share are full. The draws are
    seeded by ``(seed, epoch)``; the indices come in their seeded order.

    Args:
        candidates: A key of :data:`~mmcls_geda.selection.pruning.
            CANDIDATES` (``'infobatch'``: the below-mean-loss samples;
            ``'random'``: as many, uniformly).
    """
    whole_data = True
    unnormalised_weights = True

    def __init__(self, candidates: str):
        self.candidates = check_choice(candidates, 'candidates', pruning.RULES)

    def check(self, opts: Dict[str, Any]) -> None:
        # the seed is the hook's (checked there)
        pruning.check_pruning_args(opts['ratio'], self.candidates,
                                   opts['anneal'], 0)

    def start(self, plan) -> None:
        if plan.fraction != 1.0:
            raise ValueError(
                f'method {plan.method!r} prunes the whole training set '
                "every epoch: set the GEDASubsetDataset's fraction=1.0 "
                f'(apply_pruning does); got fraction={plan.fraction}')
        if plan.max_epochs is None:
            raise ValueError(
                f'method {plan.method!r} keeps the last anneal share of the '
                "run's epochs full, so its plan needs the run's max_epochs")

    def needs_losses(self, opts: Dict[str, Any]) -> bool:
        return True

    def varies(self, opts: Dict[str, Any]) -> bool:
        return True

    def read_losses(self, plan, last: np.ndarray) -> np.ndarray:
        return last  # unseen samples (NaN) count as above the mean

    def pruned(self, plan, epoch: int) -> bool:
        """Whether ``epoch`` prunes (not the first, not in the last
        ``anneal`` share)."""
        return pruning.is_pruned(epoch, plan.max_epochs,
                                 plan.options['anneal'])

    def choose_epoch(self, plan, epoch, scores, carry) -> EpochChoice:
        n = plan.labels.size
        last = np.full(n, np.nan) if scores is None else np.asarray(scores)
        seen = ~np.isnan(last)
        drawn = pruning.plan_epoch(
            np.where(seen, last, 0.0), seen, plan.options['ratio'],
            self.candidates, class_rng(plan.seed, epoch),
            self.pruned(plan, epoch))
        return EpochChoice(
            drawn.indices,
            drawn.weights,
            ordered=True,
            expected=drawn.expected,
            stats=dict(rule=self.candidates, **drawn.stats()))

    def epoch_size(self, plan, epoch, now) -> float:
        # a later pruned epoch: expected as this one's draws expected
        return now.expected if self.pruned(plan, epoch) else plan.size

    def describe(self, plan) -> str:
        full = max(
            math.ceil(
                round((1 - plan.options['anneal']) * plan.max_epochs, 9)), 1)
        last = (f'from epoch {full} on (epochs count from 0)'
                if full < plan.max_epochs else
                f'none at the end (anneal {plan.options["anneal"]} of '
                f'{plan.max_epochs} epochs is less than one)')
        return (f', {self.candidates} candidates dropped with probability '
                f'{plan.options["ratio"]}, full epochs: the first and {last}')

    def describe_epoch(self, plan, choice: EpochChoice) -> str:
        stats = choice.stats
        if not stats['pruned']:
            return ', a full epoch'
        return (f', expected {stats["expected"]:.1f} ({stats["above"]} at or '
                f'above the mean loss {stats["mean_loss"]:.4g}, each of '
                f'{stats["candidates"]} {self.candidates} candidates dropped '
                f'with probability {plan.options["ratio"]})')
