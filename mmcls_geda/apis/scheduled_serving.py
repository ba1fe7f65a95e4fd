"""The stack-free half of serving a subset chosen once or on a schedule
(a warm-up on all the data, re-selection every ``interval`` epochs, a
second method from a later epoch), or a saved selection (a resume, the
wrapper's ``selection_file``).

Both stacks' ``GradNormHook`` serve such a run through
:class:`ScheduledServing` (mmcls 0.x: :class:`~mmcls_geda.hooks.
scheduled_subsets.ScheduledSubsets`; mmpretrain 1.x: ``engines/mmpretrain/
scheduled.py``); each stack adds only the selection itself (its scoring
pass and model builder). The same settings, labels and scores serve the
same epochs, log the same lines and write the same records on both
stacks. No torch, mmcv or mmengine.
"""
from typing import Callable, Optional

from ..selection.schedule import SchedulePlan, Step, warmup_indices
from ..subsets import SharedSubset
from .runs import SelectionRun, save_run
from .serving import (make_plan, save_event, selection_event,
                      serve_saved_if_any, warmup_event)
from .settings import SelectionArgs


class ScheduledServing:
    """What a run selected once or on a schedule serves, epoch by epoch.

    Args:
        args: The hook's settings (a method that selects, not one that
            serves a new subset every epoch).

    Attributes:
        plan: The run's schedule (None before the first epoch served).
        serving: The epoch whose selection the wrapper holds (None in a
            warm-up and before the first selection).
    """

    def __init__(self, args: SelectionArgs):
        self.args = args
        self.plan: Optional[SchedulePlan] = None
        self.serving: Optional[int] = None

    def serve(self, wrapper: SharedSubset, epoch: int, max_epochs: int,
              work_dir: str, logger, is_main: bool,
              select: Callable[[Step], SelectionRun]) -> None:
        """Serve ``epoch``'s step of the plan: its warm-up slice, a new
        selection, or the selection it reuses (the wrapper's, or the saved
        one when this process did not make it).

        Args:
            wrapper: The training set's subset wrapper.
            epoch: The epoch about to be trained.
            max_epochs: The run's epochs.
            work_dir: Where the records are saved (and, on a resume, read).
            logger: The run's logger (``info``).
            is_main: Whether this process saves the records (rank 0).
            select: The stack's selection for a step (scoring pass,
                selection, the same on every rank).
        """
        if self.plan is None:
            self.plan = make_plan(self.args, wrapper, max_epochs, epoch,
                                  work_dir)
            logger.info(f'GradNormHook schedule: {self.plan.describe()}')
        step = self.plan.step(epoch)
        if step.action == 'warmup':
            self._serve_warmup(wrapper, epoch, work_dir, logger, is_main)
            return
        if step.due != self.serving:
            served = serve_saved_if_any(wrapper, self.args, self.plan, step,
                                        epoch, work_dir)
            if served is None:
                self._keep(
                    select(step), wrapper, step, epoch, work_dir, logger,
                    is_main)
            else:
                logger.info(f'GradNormHook: {served} (epoch {epoch}, no '
                            f'scoring pass): {wrapper.selection.summary()}')
            self.serving = step.due
        logger.info(
            f'GradNormHook: epoch {epoch}, phase {step.phase}: training on '
            f'the {wrapper.selection.method} selection of epoch {step.due}')

    def _serve_warmup(self, wrapper: SharedSubset, epoch: int, work_dir: str,
                      logger, is_main: bool) -> None:
        plan = self.plan
        wrapper.set_indices(
            warmup_indices(plan.n, plan.size, epoch, self.args.seed))
        wrapper.selection, self.serving = None, None
        logger.info(
            f'GradNormHook: epoch {epoch}, phase warmup: {plan.size} samples '
            f'of all {plan.n} ({plan.passes_served(epoch):.4g} of '
            f'{plan.passes:.4g} passes served before this epoch)')
        if epoch == 0 and is_main:
            save_event(work_dir, self.args, warmup_event(plan), logger)

    def _keep(self, run: SelectionRun, wrapper: SharedSubset, step: Step,
              epoch: int, work_dir: str, logger, is_main: bool) -> None:
        """Serve a new selection (weighted where its phase trains with
        weights), log it and, on rank 0, save its record and event."""
        args = self.args
        wrapper.set_selection(
            run.selection, weighted=args.trains_weighted(step.phase))
        logger.info(f'GradNormHook (epoch {epoch}): {run.selection.summary()}'
                    f'; scoring ({run.scored}) took {run.scoring_s:.1f}s')
        if is_main:
            save_run(
                work_dir,
                run,
                wrapper,
                args,
                phase=step.phase,
                epoch=epoch,
                per_epoch=self.plan.per_epoch_files(),
                logger=logger)
            save_event(work_dir, args, selection_event(run, step.phase, epoch),
                       logger)
