"""The stack-free half of serving a per-epoch method (RS2, GEDA rotation,
dynamic pruning, your own): the plan, the current cycle's scores and
carry, each epoch's choice (indices and, for pruning, loss weights), the
per-epoch log and the saved state.

Both stacks' ``GradNormHook`` serve a per-epoch method through
:class:`EpochServing` (mmcls 0.x: :class:`~mmcls_geda.hooks.epoch_subsets.
EpochSubsets`; mmpretrain 1.x: ``engines/mmpretrain/hook.py``): the start of
the run (plan, resume, first scores), each epoch (new cycle, choice,
wrapper, log) and its end (losses, saved state) are here; each stack hands
in what needs its runner: the scoring pass, the model that recorded the
losses, the resizing of the loader, the logger.
The plan is :class:`~mmcls_geda.selection.rotation.RotationPlan` (numpy),
the saved state :data:`~mmcls_geda.selection.epoch_state.ROTATION`, so the
same labels, fraction, settings and seed serve the same indices, and write
the same ``rotation_state_epoch{E}.npz`` / ``rotation_log.json``, on both
stacks. No torch, mmcv or mmengine.
"""
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ..selection import get_method, record
from ..selection.epoch_rules import EpochChoice, EpochRule
from ..selection.epoch_state import ROTATION
from ..selection.rotation import RotationPlan
from ..subsets import SharedSubset
from .settings import SelectionArgs

# the arrays of a saved rotation state
STATE_ARRAYS = ('losses', 'cycle_scores', 'carry')
# the seed stream of the serving order of an epoch of varying length
_ORDER_STREAM = 2_000_081

# the whole training set's gradient norms with the model as it is now
Norms = Callable[[], np.ndarray]
# the stack's server of an epoch of varying length: (repeated, iterations)
Resize = Callable[[EpochChoice], Tuple[int, int]]
Log = Callable[[str], None]


class EpochServing:
    """A per-epoch method's plan and state over a run, without a runner.

    Args:
        args: The hook's settings; ``args.method`` is a per-epoch method.
        recorder: The run's :class:`~mmcls_geda.apis.loss_recorder.
            LossRecorder` (its losses are saved with the state, and read
            where the method reads them).

    Attributes:
        rule: The method's epoch rule (what it reads, whether epochs vary).
        plan: The run's plan (None before :meth:`start`).
        cycle_scores: The scores the current cycle is folded on (None for a
            method that reads no scores).
        carry: Mask of the samples the last cycle left over (None: none).
        log: One entry per epoch served (``rotation_log.json``).
    """

    def __init__(self, args: SelectionArgs, recorder):
        if not args.per_epoch():
            raise ValueError(f'method {args.method!r} selects once (or on a '
                             'schedule), not every epoch: GradNormHook '
                             'serves it itself')
        self.args = args
        self.method, self.seed = args.method, args.seed
        self.options = args.resolved_options()
        # the method's epoch rule, before the plan exists (the plan's own)
        self.rule: EpochRule = get_method(args.method).epoch
        self.plan: Optional[RotationPlan] = None
        self.fingerprint: Optional[Dict[str, Any]] = None
        self.cycle_scores: Optional[np.ndarray] = None
        self.carry: Optional[np.ndarray] = None
        self.log: List[Dict[str, Any]] = []
        self.recorder = recorder
        self.records_losses = args.needs_losses()
        self._scoring_s = 0.0

    # --- a run, as the hooks serve it ---------------------------------------

    def begin(self, wrapper: SharedSubset, max_epochs: int, epoch: int,
              work_dir: str, norms: Norms, save: bool,
              log: Log) -> RotationPlan:
        """Start serving in ``epoch``, the first this process trains: plan
        the run; a resumed run loads the state saved before ``epoch`` (no
        scoring pass), a new one takes the first scores where the method
        reads norms (saved with ``save_norms``, where ``save``: rank 0).
        """
        plan = self.start(wrapper, max_epochs)
        log(f'GradNormHook: {plan.describe()}')
        if epoch > 0:
            self.recorder.start_from_last(self.resume(work_dir, epoch))
            losses = (f' with the losses of {int(self.recorder.seen.sum())}'
                      ' samples' if self.records_losses else '')
            log(f'GradNormHook: resumed at epoch {epoch}{losses} from '
                f'{ROTATION.file(epoch)} (no scoring pass)')
            return plan
        self.recorder.start(plan.labels.size)
        if plan.rule.reads_norms:
            self.start_scores(self._timed(norms))
            if self.args.save_norms and save:
                record.save_scores(work_dir, self.cycle_scores, plan.labels)
        return plan

    def serve(self, epoch: int, wrapper: SharedSubset, norms: Norms,
              resize: Resize, log: Log) -> EpochChoice:
        """Serve ``epoch`` through ``wrapper``: a new cycle where one
        starts, the epoch's choice, its indices and weights (a fixed
        length in the wrapper; a varying one through ``resize``), the
        ``sample_idx`` of the losses read, the log entry and line."""
        refolded = self.refold(epoch,
                               lambda refold: self._new_scores(refold, norms))
        choice = self.choose(
            epoch,
            self.recorder.last() if self.records_losses else None)
        repeated, iterations = 0, None
        if self.plan.varies:
            repeated, iterations = resize(choice)
        else:
            wrapper.set_indices(choice.indices, choice.weights)
        wrapper.selection = None
        wrapper.serve_sample_idx(self.records_losses)
        log(
            self.log_epoch(epoch, choice.indices, refolded, self._scoring_s,
                           repeated, choice, iterations))
        self._scoring_s = 0.0
        return choice

    def take_losses(self, model) -> None:
        """After a training iteration: the per-sample losses ``model``
        (without its DataParallel wrapper) recorded, where read."""
        if self.records_losses:
            self.recorder.take(model)

    def finish_epoch(self, work_dir: str, epoch: int, save: bool) -> None:
        """After ``epoch``: gather its losses (where read; rank order, the
        same everywhere) and :meth:`end_epoch`."""
        if self.records_losses:
            self.recorder.end_epoch()
        self.end_epoch(work_dir, epoch, self.recorder.last(), save)

    def _new_scores(self, refold: str, norms: Norms) -> Optional[np.ndarray]:
        """The scores a new cycle is folded on (None: keep the last)."""
        if refold == 'loss':
            return self.plan.filled_losses(self.recorder.last())
        if refold == 'grad_norm':
            return self._timed(norms)
        return None

    def _timed(self, norms: Norms) -> np.ndarray:
        """``norms()``, its seconds added to the next epoch's log entry."""
        start = time.perf_counter()
        scores = np.asarray(norms(), dtype=np.float64)
        self._scoring_s += time.perf_counter() - start
        return scores

    # --- the parts -----------------------------------------------------------

    def start(self, wrapper: SharedSubset, max_epochs: int) -> RotationPlan:
        """Plan the run over the wrapper's whole training set.

        Raises:
            ValueError: The wrapper serves a fixed ``selection_file``.
        """
        if wrapper.selection_file is not None:
            raise ValueError(
                f'the wrapper serves the fixed selection '
                f'{wrapper.selection_file}, and method {self.method!r} '
                'serves a new subset every epoch: drop one of them')
        self.fingerprint = wrapper.fingerprint
        self.plan = RotationPlan(wrapper.full_labels, wrapper.fraction,
                                 self.method, self.options, self.seed,
                                 max_epochs)
        return self.plan

    def start_scores(self, norms: np.ndarray) -> None:
        """Fold the first cycle on ``norms`` (the gradient norms at θ0),
        nothing carried."""
        self.carry = np.zeros(self.plan.labels.size, dtype=bool)
        self.cycle_scores = norms

    def resume(self, work_dir: str, epoch: int) -> np.ndarray:
        """Load the state saved before ``epoch`` (checked against this
        run's :meth:`settings`) and the log before it.

        Returns:
            np.ndarray: The saved last training loss of every sample (NaN:
            none recorded).
        """
        arrays, self.log = ROTATION.load(work_dir, epoch, self.settings(),
                                         STATE_ARRAYS)
        self.cycle_scores = self.carry = None
        if arrays['cycle_scores'].size:  # rs2 reads no scores
            self.cycle_scores = arrays['cycle_scores']
            self.carry = arrays['carry']
        return arrays['losses']

    def refold(self, epoch: int,
               new_scores: Callable[[str], Optional[np.ndarray]]) -> bool:
        """At the first epoch of a new cycle, carry what the last cycle left
        over and take the new cycle's scores.

        Args:
            epoch: The epoch about to be served.
            new_scores: ``new_scores(refold)`` gives the scores to fold
                the new cycle on (``refold``: the option), or None to keep
                the current ones (``'fixed'``).

        Returns:
            bool: Whether ``epoch`` starts a new cycle.
        """
        refolded = self.plan.new_cycle(epoch)
        if refolded:
            # what the last cycle left over is served first in this one
            self.carry = self.plan.leftover(epoch - 1, self.cycle_scores,
                                            self.carry)
            scores = new_scores(self.options['refold'])
            if scores is not None:
                self.cycle_scores = scores
        return refolded

    def choose(self,
               epoch: int,
               last_losses: Optional[np.ndarray] = None) -> EpochChoice:
        """What ``epoch`` serves: its indices and, for a rule that weighs
        its samples (pruning), their loss weights; call after
        :meth:`refold`.

        Args:
            epoch: The epoch about to be served.
            last_losses: Every sample's last recorded training loss (NaN:
                none yet), for a rule that reads them each epoch (an epoch
                function on ``'losses'``, pruning); None: not recorded.
        """
        scores = self.cycle_scores
        rule = self.rule
        if not rule.folded and last_losses is not None and \
                rule.needs_losses(self.options):
            scores = rule.read_losses(self.plan, np.asarray(last_losses))
        return self.plan.choose(epoch, scores, self.carry)

    def order(self, epoch: int, choice: EpochChoice) -> np.ndarray:
        """The order in which an epoch of varying length serves
        ``choice``: positions into ``choice.indices`` (what a resized
        wrapper holds), for the plan sampler; the rule's own order, or one
        seeded by ``(seed, epoch)``, the same on every rank and after a
        resume."""
        size = choice.indices.size
        if choice.ordered:
            return np.arange(size)
        return np.random.default_rng([self.seed, _ORDER_STREAM,
                                      epoch]).permutation(size)

    def log_epoch(self,
                  epoch: int,
                  indices: np.ndarray,
                  refolded: bool,
                  scoring_s: float,
                  repeated: int = 0,
                  choice: Optional[EpochChoice] = None,
                  iterations: Optional[int] = None) -> str:
        """Add the epoch's log entry; returns the line for the run's log.

        Args:
            epoch: The epoch served.
            indices: What it serves.
            refolded: Whether it starts a new cycle.
            scoring_s: Seconds of scoring before it.
            repeated: Samples served twice in it (budget schedules,
                pruning).
            choice: The epoch's :meth:`choose`, whose ``stats`` (pruning's
                draws) join the entry and the line.
            iterations: The epoch's iterations, where epochs vary.
        """
        entry = dict(
            epoch=epoch,
            size=int(indices.size),
            refolded=bool(refolded),
            carried=int(self.carry.sum()) if self.carry is not None else 0,
            scoring_s=scoring_s,
            start=time.time())
        if repeated:  # served twice, so that no batch holds one sample
            entry['repeated'] = repeated
        if iterations is not None:
            entry['iterations'] = int(iterations)
        described = ''
        if choice is not None and choice.stats is not None:
            entry.update(choice.stats)
            described = self.rule.describe_epoch(self.plan, choice)
        objective = self.objective(indices)
        if objective is not None:
            entry['objective'] = objective
        self.log.append(entry)
        folded = (f', a new cycle folded on {self.options["refold"]}'
                  if refolded else '')
        measured = (f', fold objective mean {objective:.4g}'
                    if objective is not None else '')
        return (f'GradNormHook: epoch {epoch}: {self.method} serves '
                f'{indices.size} of {self.plan.labels.size} samples'
                f'{folded}{measured}{described}')

    def end_epoch(self, work_dir: str, epoch: int, losses: np.ndarray,
                  save: bool) -> None:
        """Close the log entry of ``epoch``; with ``save`` (rank 0), write
        the state before ``epoch + 1`` and the log.

        Args:
            work_dir: The run's work dir.
            epoch: The epoch just trained.
            losses: Every sample's last training loss (NaN: none).
            save: Whether this process writes.
        """
        self.log[-1]['time_s'] = time.time() - self.log[-1].pop('start')
        if not save:
            return
        ROTATION.save(
            work_dir, epoch + 1,
            dict(
                losses=np.asarray(losses).astype(np.float32),
                cycle_scores=np.asarray(
                    [] if self.cycle_scores is None else self.cycle_scores,
                    dtype=np.float64),
                carry=np.asarray(
                    [] if self.carry is None else self.carry, dtype=bool)),
            self.settings(), self.log)

    def settings(self) -> Dict[str, Any]:
        """What a resumed run must share with the saved state."""
        settings = dict(
            method=self.method,
            options=self.options,
            seed=self.seed,
            fraction=self.plan.fraction,
            scope=self.args.scope,
            fingerprint=self.fingerprint)
        if self.plan.varies:  # the plan is cut for the run's length
            settings['max_epochs'] = int(self.plan.max_epochs)
        return settings

    def objective(self, indices: np.ndarray) -> Optional[float]:
        """Mean over classes of the served subset's objective against its
        class (the rule's, on the cycle's scores), or None: the rule has
        none or reads no scores."""
        if self.cycle_scores is None:
            return None
        values = []
        chosen = np.zeros(self.plan.labels.size, dtype=bool)
        chosen[indices] = True
        for members in self.plan.members:
            positions = np.flatnonzero(chosen[members])
            value = self.plan.rule.objective(self.cycle_scores[members],
                                             positions, self.options)
            if value is None:
                return None
            values.append(value)
        return float(np.mean(values))
