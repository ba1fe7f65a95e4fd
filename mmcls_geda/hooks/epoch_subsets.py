"""Per-epoch subsets (RS2, GEDA rotation, your own) served through
GradNormHook.

:class:`GradNormHook` hands every event to :class:`EpochSubsets` when its
method serves a new subset every epoch (its registry entry has an
``epoch`` rule). The plan is pure numpy (:class:`~mmcls_geda.selection.
rotation.RotationPlan`, asking the rule); this class only scores, records
the training losses, serves each epoch's indices through the wrapper and
saves what a resumed run needs.

A budget schedule (option ``budget`` other than ``'constant'``) changes the
epoch's length: the wrapper is resized every epoch, the loader's
``DynamicPruningSampler`` serves the epoch in a seeded order (the same on
every rank and after a resume), and the iteration-based schedules follow
the epoch progress (:class:`~.epoch_progress.EpochProgress`), as under
dynamic pruning.
"""
import time
from typing import Any, Dict, List, Optional

import numpy as np
from mmcv.runner import get_dist_info

from ..apis import SelectionArgs, score_and_select
from ..datasets.pruning import DynamicPruningSampler, epoch_iterations
from ..datasets.subset import GEDASubsetDataset, find_wrapper
from ..selection import get_method, record
from ..selection.epoch_state import ROTATION
from ..selection.rotation import RotationPlan
from .epoch_progress import EpochProgress
from .loss_recorder import LossRecorder
from .runner_checks import check_weighted_model, eval_pipeline, inner_model

# the seed stream of a budget schedule's serving order
_ORDER_STREAM = 2_000_081


class EpochSubsets:
    """Serve a per-epoch method's subset every epoch.

    Args:
        args: The hook's settings; ``args.method`` is a per-epoch method
            (its schedule arguments were refused at their non-defaults by
            :class:`~mmcls_geda.apis.SelectionArgs`).
    """

    def __init__(self, args: SelectionArgs):
        if not args.per_epoch():
            raise ValueError(f'method {args.method!r} selects once (or on a '
                             'schedule), not every epoch: GradNormHook '
                             'serves it itself')
        self.args = args
        self.method, self.seed = args.method, args.seed
        self.options = args.resolved_options()
        self.records_losses = args.needs_losses()
        self.plan_rule = get_method(self.method).epoch
        self.progress = (None if self.options.get('budget', 'constant')
                         == 'constant' else EpochProgress())
        self.plan: Optional[RotationPlan] = None
        self.cycle_scores = self.carry = None
        self.recorder = LossRecorder('GEDASubsetDataset.serve_sample_idx')
        self.log: List[Dict[str, Any]] = []

    # --- events --------------------------------------------------------------

    def before_run(self, runner) -> None:
        if self.progress is not None:
            self.progress.attach(runner, f"budget={self.options['budget']!r}")
        if not self.records_losses:
            return
        folded = self.plan_rule.folded
        check_weighted_model(
            inner_model(runner),
            f"method {self.method!r}" +
            (" with refold='loss'" if folded else ' (it reads the losses)'),
            "choose refold='grad_norm' or 'fixed'"
            if folded else 'build the config with apply_geda, which sets it',
            needs='sample_idx')

    def before_train_epoch(self, runner) -> None:
        wrapper = find_wrapper(runner.data_loader.dataset)
        epoch = runner.epoch
        self._scoring_s = 0.0
        if self.plan is None:
            self._check_sampler(runner.data_loader.sampler)
            self._start(runner, wrapper, epoch)
        plan = self.plan
        refolded = plan.new_cycle(epoch)
        if refolded:
            # what the last cycle left over is served first in this one
            self.carry = plan.leftover(epoch - 1, self.cycle_scores,
                                       self.carry)
            refold = self.options['refold']
            if refold == 'loss':
                self.cycle_scores = self._recorded_losses()
            elif refold == 'grad_norm':
                self.cycle_scores = self._norms(runner, wrapper)
        scores = self.cycle_scores
        if self.records_losses and not plan.rule.folded:
            # an epoch function reading the losses: all recorded so far
            scores = (None if not self.recorder.seen.any() else
                      self._recorded_losses())
        indices = plan.indices(epoch, scores, self.carry)
        repeated = 0
        if self.progress is None:
            wrapper.set_indices(indices)
        else:
            repeated = self._serve_resized(runner, wrapper, indices)
        wrapper.selection = None
        wrapper.serve_sample_idx(self.records_losses)
        entry = dict(
            epoch=epoch,
            size=int(indices.size),
            refolded=bool(refolded),
            carried=int(self.carry.sum()) if self.carry is not None else 0,
            scoring_s=self._scoring_s,
            start=time.time())
        if repeated:  # served twice, so that no batch holds one sample
            entry['repeated'] = repeated
        objective = self._objective(indices)
        if objective is not None:
            entry['objective'] = objective
        self.log.append(entry)
        runner.logger.info(
            f'GradNormHook: epoch {epoch}: {self.method} serves '
            f'{indices.size} of {plan.labels.size} samples' +
            (f', a new cycle folded on {self.options["refold"]}'
             if refolded else '') + (f', fold objective mean {objective:.4g}'
                                     if objective is not None else ''))

    def after_train_iter(self, runner) -> None:
        if not self.records_losses:
            return
        self.recorder.take(runner)

    def after_train_epoch(self, runner) -> None:
        if self.records_losses:
            # rank order: the same everywhere
            self.recorder.end_epoch()
        self.log[-1]['time_s'] = time.time() - self.log[-1].pop('start')
        if get_dist_info()[0] == 0:
            ROTATION.save(
                runner.work_dir, runner.epoch + 1,
                dict(
                    losses=self.recorder.last().astype(np.float32),
                    cycle_scores=np.asarray(
                        [] if self.cycle_scores is None else self.cycle_scores,
                        dtype=np.float64),
                    carry=np.asarray(
                        [] if self.carry is None else self.carry, dtype=bool)),
                self._settings(), self.log)

    # --- helpers -------------------------------------------------------------

    def _check_sampler(self, sampler) -> None:
        if self.progress is not None and not isinstance(
                sampler, DynamicPruningSampler):
            raise TypeError(
                f"budget={self.options['budget']!r} changes the epoch's "
                "length, which the training loader's "
                f'{type(sampler).__name__} cannot follow: set '
                "sampler=dict(type='DynamicPruningSampler') in the config "
                '(apply_geda does)')

    def _serve_resized(self, runner, wrapper: GEDASubsetDataset,
                       indices: np.ndarray) -> int:
        """Serve a budget schedule's epoch: its length, a seeded order,
        the schedules' epoch progress and the run's total iterations.

        Returns:
            int: Samples served twice in the epoch (all ranks): equal
            rank shares, no batch of one.
        """
        loader, epoch, plan = runner.data_loader, runner.epoch, self.plan
        wrapper.set_indices(indices, resize=True)
        order = np.random.default_rng([self.seed, _ORDER_STREAM, epoch])
        loader.sampler.set_batching(loader.batch_sampler.batch_size,
                                    loader.batch_sampler.drop_last)
        loader.sampler.set_plan(order.permutation(indices.size))
        if self.progress.reference_iters is None:
            # the constant budget's epoch, which the schedules were built on
            self.progress.start(runner, epoch_iterations(loader, plan.size))
        self.progress.set_epoch(runner, len(loader),
                                (epoch_iterations(loader, plan.epoch_size(e))
                                 for e in range(epoch + 1, runner.max_epochs)))
        sampler = loader.sampler
        return sampler.share(indices.size) * sampler.num_replicas - int(
            indices.size)

    def _start(self, runner, wrapper: GEDASubsetDataset, epoch: int) -> None:
        if wrapper.selection_file is not None:
            raise ValueError(
                f'the wrapper serves the fixed selection '
                f'{wrapper.selection_file}, and method {self.method!r} '
                'serves a new subset every epoch: drop one of them')
        self.fingerprint = wrapper.fingerprint
        self.plan = RotationPlan(wrapper.full_labels, wrapper.fraction,
                                 self.method, self.options, self.seed,
                                 runner.max_epochs)
        runner.logger.info(f'GradNormHook: {self.plan.describe()}')
        n = wrapper.full_labels.size
        if epoch > 0:
            arrays, self.log = ROTATION.load(
                runner.work_dir, epoch, self._settings(),
                ('losses', 'cycle_scores', 'carry'))
            self.recorder.start_from_last(arrays['losses'])
            self.cycle_scores = self.carry = None
            if arrays['cycle_scores'].size:  # rs2 reads no scores
                self.cycle_scores = arrays['cycle_scores']
                self.carry = arrays['carry']
            runner.logger.info(
                f'GradNormHook: resumed at epoch {epoch} with the losses '
                f'of {int(self.recorder.seen.sum())} samples')
            return
        self.recorder.start(n)
        if self.plan.rule.reads_norms:
            self.carry = np.zeros(n, dtype=bool)
            self.cycle_scores = self._norms(runner, wrapper)
            if self.args.save_norms and get_dist_info()[0] == 0:
                record.save_scores(runner.work_dir, self.cycle_scores,
                                   wrapper.full_labels)

    def _settings(self) -> Dict[str, Any]:
        """What a resumed run must share with the saved state."""
        settings = dict(
            method=self.method,
            options=self.options,
            seed=self.seed,
            fraction=self.plan.fraction,
            scope=self.args.scope,
            fingerprint=self.fingerprint)
        if self.plan.varies:  # the schedule is cut for the run's length
            settings['max_epochs'] = int(self.plan.table.shape[0])
        return settings

    def _recorded_losses(self) -> np.ndarray:
        """The last recorded loss of every sample; a sample never trained
        on yet (left over by a class whose budget was rounded down) gets
        its class's median loss."""
        scores = self.recorder.last()
        for members in self.plan.members:
            values = scores[members]
            missing = np.isnan(values)
            if missing.all():
                raise RuntimeError(
                    'a class has no recorded training loss to re-fold on')
            values[missing] = np.median(values[~missing])
            scores[members] = values
        return scores

    def _objective(self, indices: np.ndarray) -> Optional[float]:
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

    def _norms(self, runner, wrapper: GEDASubsetDataset) -> np.ndarray:
        """Per-sample gradient norms of the whole training set, now."""
        # the pipeline's pass (rank shares, gathered); its selection, the
        # method's first fold, is not used
        run = score_and_select(
            runner.model,
            wrapper,
            self.args,
            epoch=runner.epoch,
            eval_pipeline=eval_pipeline(runner),
            logger=runner.logger)
        took = run.scoring_s
        self._scoring_s += took
        runner.logger.info(f'GradNormHook: epoch {runner.epoch}: '
                           f'{self.args.scope} gradient norms took '
                           f'{took:.1f}s')
        return np.asarray(run.norms, dtype=np.float64)
