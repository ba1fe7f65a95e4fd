"""Per-epoch subsets: RS2 and GEDA rotation, every sample seen once a cycle.

A static subset trains on the same ``k_c`` samples of class ``c`` every
epoch. The methods here serve a *new* subset of the same per-class budgets
``k_c`` (:func:`~mmcls_geda.selection.budgets.class_budgets`) every
epoch, so the wrapper's length, ``max_iters`` and every learning-rate
schedule stay those of the static subset:

- ``rs2`` (Okanovic et al., ICLR 2024, "repeated sampling of random
  subsets"): per class, a seeded permutation of the class served in
  consecutive blocks of ``k_c``. When a permutation is used up the next
  one starts; a block that spans the two takes the rest of the old one
  first and moves those samples to the end of the new one, so every
  sample is served exactly once per pass and no sample waits two passes.
  ``replace=True``: each epoch draws its ``k_c`` samples independently
  (RS2's with-replacement variant: samples may be missed for a while).
- ``geda_rotate``: a *cycle* of ``m = ceil(1 / fraction)`` epochs cuts
  every class into ``m`` folds of ``k_c``, fold by fold from the samples
  not yet placed, every fold matching the *whole* class's ECDF of the
  scores (GEDA's objective, solved exactly by
  :func:`~mmcls_geda.selection.geda.capped_bin_counts`); epoch ``e``
  serves fold ``e mod m`` of cycle ``e // m``. The first cycle is folded
  on the gradient norms at θ0; later ones on ``refold``: the per-sample
  training losses recorded in the previous cycle (``'loss'``, no extra
  pass), a new gradient pass (``'grad_norm'``) or the θ0 norms again
  (``'fixed'``, new random folds of the same scores).
- ``strata_rotate``: the control with the same coverage: the same folds,
  with the bins at the class's score quantiles (``quantiles`` strata by
  rank) instead of GEDA's nodes: each fold takes every stratum's share at
  random.

When ``m k_c`` is not ``n_c`` (``1 / fraction`` not an integer, or
``k_c`` rounded):

- ``m k_c > n_c``: the fold that finds fewer than ``k_c`` samples
  unplaced (the last) takes them all and is topped up with
  ``m k_c - n_c`` samples already served in the cycle, chosen by the same
  objective, so the fold still matches the class. Those are served twice
  in the cycle: once per cycle, +1.
- ``m k_c < n_c`` (a budget rounded down): the ``n_c - m k_c`` samples
  left unserved are carried into the next cycle, whose first fold serves
  them first: once per cycle, -1, and no sample waits two cycles.

Every epoch serves exactly ``k_c`` of each class, none twice; every cycle
starts at the same epoch for all classes.

``budget`` (every method; :mod:`~mmcls_geda.selection.epoch_budgets`)
spreads the run's samples unevenly over the epochs: epoch ``e`` serves
``k_c(e)`` of class ``c``, with the same total ``max_epochs x k_c``.
``rs2`` then cuts its stream into blocks of those sizes (still every
sample once per pass); a cycle of ``geda_rotate`` / ``strata_rotate`` is
the shortest run of epochs whose shares make a whole pass, its folds the
sizes of its epochs.

Everything is a pure function of its inputs: the random streams are
seeded from ``(seed, method stream, label, pass or cycle or epoch)``, so
every rank and a resumed run compute the same indices. numpy only.
"""
import math
from typing import Any, Dict, List, Optional

import numpy as np

from .budgets import class_budgets
from .epoch_budgets import cycle_starts, epoch_class_budgets, epoch_shares
from .epoch_rules import EpochChoice, EpochRule
from .folds import _FOLD_STREAM, _rng, cycle_folds
from .registry import METHODS, get_method

# --- the plan of a run -------------------------------------------------------


def cycle_length(fraction: float) -> int:
    """Epochs per cycle, ``m = ceil(1 / fraction)``."""
    return max(1, math.ceil(1.0 / fraction - 1e-9))


class RotationPlan:
    """Which samples every epoch serves, from the labels and the settings.

    A cycle is :func:`cycle_length` epochs for every class. A class whose
    ``m k_c`` exceeds ``n_c`` tops up the last fold; one whose ``m k_c``
    falls short (``k_c`` rounded down) leaves ``n_c - m k_c`` samples for
    the next cycle, whose first fold serves them (``carry``).

    Args:
        labels: Labels of the whole training set (1-D ints).
        fraction: Fraction kept per epoch, in (0, 1].
        method: A per-epoch method of the registry (its entry's ``epoch``
            rule, :mod:`~mmcls_geda.selection.epoch_rules`, chooses).
        options: The method's resolved options (``budget``: the budget
            schedule, ``'constant'`` if absent).
        seed: Run seed (>= 0).
        max_epochs: The run's epochs; needed by a budget schedule other
            than ``'constant'`` and by pruning.
    """

    def __init__(self,
                 labels: np.ndarray,
                 fraction: float,
                 method: str,
                 options: Dict[str, Any],
                 seed: int,
                 max_epochs: Optional[int] = None):
        self.rule: EpochRule = get_method(method).epoch
        if self.rule is None:
            raise ValueError(
                f'method {method!r} selects once, not every epoch; the '
                f'per-epoch methods: {per_epoch_methods()}')
        self.labels = np.asarray(labels, dtype=np.int64)
        self.fraction, self.method = fraction, method
        self.options, self.seed = dict(options), int(seed)
        self.max_epochs = max_epochs
        self.classes, sizes = np.unique(self.labels, return_counts=True)
        self.budgets = class_budgets(sizes, fraction)
        self.members = [np.flatnonzero(self.labels == c) for c in self.classes]
        self.cycle_epochs = cycle_length(fraction)
        self.size = int(self.budgets.sum())
        self.budget = self.options.get('budget', 'constant')
        # per epoch and class (schedules only): k_c(e), the stream offsets
        self.table = self.offsets = self.starts = None
        if self.budget != 'constant':
            if max_epochs is None:
                raise ValueError(f'budget={self.budget!r} needs the run\'s '
                                 'max_epochs')
            self.table = epoch_class_budgets(sizes, fraction, max_epochs,
                                             self.budget)
            self.offsets = np.vstack([
                np.zeros((1, self.classes.size), dtype=np.int64),
                np.cumsum(self.table, axis=0)
            ])
            self.starts = cycle_starts(
                epoch_shares(self.budget, fraction, max_epochs))
        self._folds: Dict[tuple, List[np.ndarray]] = {}
        self.rule.start(self)

    @property
    def varies(self) -> bool:
        """Whether the epochs' sizes vary (a budget schedule, pruning)."""
        return self.rule.varies(self.options)

    def epoch_size(self,
                   epoch: int,
                   now: Optional[EpochChoice] = None) -> float:
        """Samples ``epoch`` serves (expected, for a rule that draws them:
        planned from ``now``, the current epoch's choice)."""
        return self.rule.epoch_size(self, epoch, now)

    def class_budget(self, ci: int, epoch: int) -> int:
        """Samples class ``ci`` (its index in ``classes``) serves in
        ``epoch``."""
        if self.table is None:
            return int(self.budgets[ci])
        return int(self.table[epoch, ci])

    def cycle_of(self, epoch: int):
        """``(cycle, position in it, the cycle's first and end epochs)``."""
        if self.starts is None:
            cycle, f = divmod(epoch, self.cycle_epochs)
            first = cycle * self.cycle_epochs
            return cycle, f, first, first + self.cycle_epochs
        cycle = int(np.searchsorted(self.starts, epoch, side='right')) - 1
        first = self.starts[cycle]
        last = cycle + 1 == len(self.starts)
        end = self.table.shape[0] if last else self.starts[cycle + 1]
        return cycle, epoch - first, first, end

    @property
    def reads_scores(self) -> bool:
        """Whether :meth:`indices` reads one score per sample (the norms
        at θ0, a refold's scores, or the recorded losses)."""
        return self.rule.reads_norms or self.rule.needs_losses(self.options)

    def new_cycle(self, epoch: int) -> bool:
        """Whether ``epoch`` (> 0) starts a cycle, i.e. is re-folded."""
        return (self.rule.folded and epoch > 0
                and self.cycle_of(epoch)[1] == 0)

    def _check(self, scores, carry):
        if (self.rule.reads_norms and scores is None) or (
                scores is not None and np.shape(scores) != self.labels.shape):
            raise ValueError(f'{self.method} reads one score per sample: give '
                             f'{self.labels.size} scores, got '
                             f'{None if scores is None else np.shape(scores)}')
        if carry is None:
            return np.zeros(self.labels.size, dtype=bool)
        carry = np.asarray(carry, dtype=bool)
        if carry.shape != self.labels.shape:
            raise ValueError(f'carry must be a mask over the '
                             f'{self.labels.size} samples, got shape '
                             f'{carry.shape}')
        return carry

    def choose(self,
               epoch: int,
               scores: Optional[np.ndarray] = None,
               carry: Optional[np.ndarray] = None) -> EpochChoice:
        """What ``epoch`` serves: its indices and, for a rule that weighs
        its samples (pruning), their loss weights (the rule's
        :meth:`~mmcls_geda.selection.epoch_rules.EpochRule.choose_epoch`).

        Args:
            epoch: The epoch (>= 0).
            scores: Per sample (all samples), the scores the current
                cycle is folded on, or the recorded losses a rule reads
                (:meth:`~mmcls_geda.selection.epoch_rules.EpochRule.
                read_losses`; None: nothing yet); not read by ``rs2``.
            carry: Mask of the samples the previous cycle left over
                (:meth:`leftover`), served first; None: none.
        """
        carry = self._check(scores, carry)
        return self.rule.choose_epoch(self, epoch, scores, carry)

    def indices(self,
                epoch: int,
                scores: Optional[np.ndarray] = None,
                carry: Optional[np.ndarray] = None) -> np.ndarray:
        """The dataset indices ``epoch`` serves (:meth:`choose`'s): sorted,
        or in the rule's seeded order (pruning)."""
        return self.choose(epoch, scores, carry).indices

    def filled_losses(self, last: np.ndarray) -> np.ndarray:
        """``last`` (every sample's last training loss, NaN: none yet) with
        each missing loss replaced by its class's median (a sample never
        trained on: left over by a class whose budget was rounded down).

        Raises:
            RuntimeError: A class has no recorded loss at all.
        """
        scores = np.array(last, dtype=np.float64)
        for members in self.members:
            values = scores[members]
            missing = np.isnan(values)
            if missing.all():
                raise RuntimeError(
                    'a class has no recorded training loss to re-fold on')
            values[missing] = np.median(values[~missing])
            scores[members] = values
        return scores

    def leftover(self,
                 epoch: int,
                 scores: np.ndarray,
                 carry: Optional[np.ndarray] = None) -> np.ndarray:
        """Mask of the samples the cycle of ``epoch`` does not serve (the
        next cycle's ``carry``): ``n_c - m k_c`` of a class whose budget
        was rounded down, none otherwise."""
        carry = self._check(scores, carry)
        out = np.zeros(self.labels.size, dtype=bool)
        if not self.rule.folded:
            return out
        cycle = self.cycle_of(epoch)[0]
        for c, members in zip(self.classes, self.members):
            folds = self.folds(
                int(c), cycle, scores[members], np.flatnonzero(carry[members]),
                epoch)
            served = np.zeros(members.size, dtype=bool)
            served[np.concatenate(folds)] = True
            out[members[~served]] = True
        return out

    def folds(self,
              label: int,
              cycle: int,
              class_scores: np.ndarray,
              class_carry: np.ndarray,
              epoch: Optional[int] = None) -> List[np.ndarray]:
        """The folds of class ``label`` in ``cycle`` (cached by content);
        ``epoch``, one of the cycle's, places it under a budget schedule."""
        key = (label, cycle, hash(np.asarray(class_scores).tobytes()),
               hash(np.asarray(class_carry).tobytes()))
        if key not in self._folds:
            c = int(np.searchsorted(self.classes, label))
            # keep one cycle per class
            self._folds = {
                kk: v
                for kk, v in self._folds.items() if kk[0] != label
            }
            sizes = None
            if self.table is not None:
                _, _, first, end = self.cycle_of(epoch)
                sizes = [int(v) for v in self.table[first:end, c]]
            self._folds[key] = cycle_folds(
                class_scores, int(self.budgets[c]),
                self.rule.bins, self.options,
                _rng(self.seed, _FOLD_STREAM, label,
                     cycle), self.cycle_epochs, class_carry, sizes)
        return self._folds[key]

    def describe(self) -> str:
        """One line for logs."""
        if self.table is None:
            line = (f'{self.method}: {self.size} of {self.labels.size} '
                    'samples a epoch')
        else:
            sizes = self.table.sum(axis=1)
            line = (f'{self.method}, budget {self.budget!r}: '
                    f'{int(sizes.sum())} samples over {sizes.size} epochs '
                    f'({", ".join(str(int(v)) for v in sizes)} of '
                    f'{self.labels.size})')
        return line + self.rule.describe(self)


def per_epoch_methods() -> List[str]:
    """The registered methods that serve a new subset every epoch."""
    return sorted(name for name, m in METHODS.items() if m.epoch is not None)


def needs_losses(method: str, options: Dict[str, Any]) -> bool:
    """Whether ``method`` reads the training losses recorded every epoch
    (a fold method with ``refold='loss'``, an ``EachEpoch`` method that
    reads ``'losses'``)."""
    rule = get_method(method).epoch
    return rule is not None and rule.needs_losses(options)
