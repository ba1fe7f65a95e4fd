"""Per-epoch subsets (RS2, GEDA rotation, dynamic pruning, your own)
served through GradNormHook.

:class:`GradNormHook` hands every event to :class:`EpochSubsets` when its
method serves a new subset every epoch (its registry entry has an
``epoch`` rule). The plan is pure numpy (:class:`~mmcls_geda.selection.
rotation.RotationPlan`, asking the rule); the cycle's state, the log and
the saved state are :class:`~mmcls_geda.apis.epoch_serving.EpochServing`'s,
shared with the mmpretrain 1.x hook. This class only scores, records the
training losses and serves each epoch's indices (and loss weights)
through the wrapper.

A budget schedule (option ``budget`` other than ``'constant'``) or a
pruning rule (``infobatch``, ``random_pruning``) changes the epoch's
length: the wrapper is resized every epoch, the loader's
:class:`~mmcls_geda.datasets.EpochPlanSampler` serves the epoch in a seeded
order (the same on every rank and after a resume; a pruning rule's own
order), and the iteration-based schedules follow the epoch progress
(:class:`~.epoch_progress.EpochProgress`).
"""
from typing import Optional, Tuple

import numpy as np
from mmcv.runner import get_dist_info

from ..apis import SelectionArgs, score_and_select
from ..apis.epoch_serving import EpochServing
from ..apis.loss_recorder import LossRecorder
from ..datasets.sampler import EpochPlanSampler
from ..datasets.subset import GEDASubsetDataset, find_wrapper
from ..selection.epoch_rules import EpochChoice
from ..selection.rotation import RotationPlan
from ..subsets import epoch_iterations, serve_epoch_plan
from .epoch_progress import EpochProgress
from .runner_checks import check_weighted_model, eval_pipeline, inner_model


class EpochSubsets:
    """Serve a per-epoch method's subset every epoch.

    Args:
        args: The hook's settings; ``args.method`` is a per-epoch method
            (its schedule arguments were refused at their non-defaults by
            :class:`~mmcls_geda.apis.SelectionArgs`).
    """

    def __init__(self, args: SelectionArgs):
        # the plan, the cycle's scores and carry, the losses, the log, the
        # saved state
        self.recorder = LossRecorder('GEDASubsetDataset.serve_sample_idx')
        self.serving = EpochServing(args, self.recorder)
        self.args = args
        self.method, self.seed = args.method, args.seed
        self.options = self.serving.options
        self.records_losses = self.serving.records_losses
        self.progress = (
            EpochProgress()
            if self.serving.rule.varies(self.options) else None)

    @property
    def resizes_epochs(self) -> bool:
        """Whether the epochs' length varies (served with this class's
        plans); else GradNormHook serves the wrapper's fixed length in the
        order of mmcls's default sampler."""
        return self.progress is not None

    @property
    def plan(self) -> Optional[RotationPlan]:
        """The run's plan (None before the first epoch)."""
        return self.serving.plan

    # --- events --------------------------------------------------------------

    def before_run(self, runner) -> None:
        if self.serving.rule.unnormalised_weights:
            check_weighted_model(
                inner_model(runner),
                f'method {self.method!r} (it weighs the samples it keeps)',
                'use apply_pruning, which sets it',
                unnormalised=True)
        elif self.records_losses:
            check_weighted_model(
                inner_model(runner),
                *self.args.losses_why(),
                needs='sample_idx')
        if self.progress is not None:
            self.progress.attach(runner, f'method {self.method!r}')

    def before_train_epoch(self, runner) -> None:
        wrapper = find_wrapper(runner.data_loader.dataset)
        if self.plan is None:
            self._check_sampler(runner.data_loader.sampler)
            self.serving.begin(wrapper, runner.max_epochs, runner.epoch,
                               runner.work_dir,
                               lambda: self._norms(runner, wrapper),
                               get_dist_info()[0] == 0, runner.logger.info)
        self.serving.serve(
            runner.epoch, wrapper, lambda: self._norms(runner, wrapper),
            lambda choice: self._serve_resized(runner, wrapper, choice),
            runner.logger.info)

    def after_train_iter(self, runner) -> None:
        self.serving.take_losses(inner_model(runner))

    def after_train_epoch(self, runner) -> None:
        self.serving.finish_epoch(runner.work_dir, runner.epoch,
                                  get_dist_info()[0] == 0)

    # --- helpers -------------------------------------------------------------

    def _check_sampler(self, sampler) -> None:
        if self.progress is not None and not isinstance(
                sampler, EpochPlanSampler):
            raise TypeError(
                f'method {self.method!r} with options {self.options} '
                "changes the epoch's length, which the training loader's "
                f'{type(sampler).__name__} cannot follow: set '
                "sampler=dict(type='EpochPlanSampler') in the config "
                '(apply_geda and apply_pruning do)')

    def _serve_resized(self, runner, wrapper: GEDASubsetDataset,
                       choice: EpochChoice) -> Tuple[int, int]:
        """Serve an epoch of varying length (a budget schedule, pruning):
        its indices and weights, a seeded order (or the rule's), the
        schedules' epoch progress and the run's total iterations.

        Returns:
            tuple: Samples served twice in the epoch (all ranks: equal rank
            shares, no batch of one) and the epoch's iterations.
        """
        loader, epoch, plan = runner.data_loader, runner.epoch, self.plan
        repeated = serve_epoch_plan(wrapper, loader.sampler, choice,
                                    self.serving.order(epoch, choice),
                                    loader.batch_sampler.batch_size,
                                    loader.batch_sampler.drop_last)
        if self.progress.reference_iters is None:
            # the constant budget's epoch, which the schedules were built on
            self.progress.start(runner, epoch_iterations(loader, plan.size))
        self.progress.set_epoch(
            runner, len(loader),
            (epoch_iterations(loader, plan.epoch_size(e, choice))
             for e in range(epoch + 1, runner.max_epochs)))
        return repeated, self.progress.epoch_iters

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
        runner.logger.info(f'GradNormHook: epoch {runner.epoch}: '
                           f'{self.args.scope} gradient norms took '
                           f'{run.scoring_s:.1f}s')
        return np.asarray(run.norms, dtype=np.float64)
