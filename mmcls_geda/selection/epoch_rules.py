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
  serve.

numpy only.
"""
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from . import folds, geda
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


class EpochRule:
    """The behaviour of a per-epoch method over a run (a base class).

    Attributes:
        reads_norms: Whether the plan is built on the gradient norms at θ0
            (computed before the first epoch).
        folded: Whether epochs come in cycles that are cut anew
            (``refold``) and may leave samples over for the next cycle.
    """
    reads_norms = False
    folded = False

    def check(self, opts: Dict[str, Any]) -> None:
        """Raise a ValueError on a bad option of the rule's own."""

    def needs_losses(self, opts: Dict[str, Any]) -> bool:
        """Whether the training losses must be recorded every epoch."""
        return False

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
