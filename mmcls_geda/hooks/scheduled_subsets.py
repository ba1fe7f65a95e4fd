"""Subsets chosen once or on a schedule, served through GradNormHook."""
from mmcv.runner import get_dist_info

from ..apis import SelectionArgs, save_run, score_and_select
from ..apis.serving import (make_plan, save_event, selection_event,
                            serve_saved_if_any, warmup_event)
from ..datasets.subset import GEDASubsetDataset, find_wrapper
from ..selection.schedule import Step, warmup_indices
from .runner_checks import eval_pipeline


class ScheduledSubsets:
    """Serve a subset selected once or on the schedule of the settings
    (:mod:`mmcls_geda.selection.schedule`: a warm-up on all the data,
    re-selection every ``interval`` epochs, a second method from a later
    epoch), or a saved selection (a resume, ``selection_file``).

    Args:
        args: The hook's settings (a method that selects, not one that
            serves a new subset every epoch).
    """

    # every epoch has the wrapper's fixed length (GradNormHook serves it
    # in the order of mmcls's default sampler)
    resizes_epochs = False

    def __init__(self, args: SelectionArgs):
        self.args = args
        self.plan = None
        self.serving = None  # the epoch whose selection the wrapper holds

    def before_run(self, runner) -> None:
        """Nothing to check beyond the hook's own checks."""

    def after_train_iter(self, runner) -> None:
        """Nothing is recorded while training."""

    def after_train_epoch(self, runner) -> None:
        """Nothing is kept across epochs but the saved selections."""

    def before_train_epoch(self, runner) -> None:
        wrapper = find_wrapper(runner.data_loader.dataset)
        epoch = runner.epoch
        if self.plan is None:
            self.plan = make_plan(self.args, wrapper, runner.max_epochs, epoch,
                                  runner.work_dir)
            runner.logger.info(
                f'GradNormHook schedule: {self.plan.describe()}')
        step = self.plan.step(epoch)
        if step.action == 'warmup':
            self._serve_warmup(runner, wrapper)
            return
        if step.due != self.serving:
            served = serve_saved_if_any(wrapper, self.args, self.plan, step,
                                        epoch, runner.work_dir)
            if served is None:
                self._select(runner, wrapper, step)
            else:
                runner.logger.info(f'GradNormHook: {served}: '
                                   f'{wrapper.selection.summary()}')
            self.serving = step.due
        runner.logger.info(
            f'GradNormHook: epoch {epoch}, phase {step.phase}: training on '
            f'the {wrapper.selection.method} selection of epoch {step.due}')

    def _serve_warmup(self, runner, wrapper: GEDASubsetDataset) -> None:
        plan, epoch = self.plan, runner.epoch
        wrapper.set_indices(
            warmup_indices(plan.n, plan.size, epoch, self.args.seed))
        wrapper.selection, self.serving = None, None
        runner.logger.info(
            f'GradNormHook: epoch {epoch}, phase warmup: {plan.size} samples '
            f'of all {plan.n} ({plan.passes_served(epoch):.4g} of '
            f'{plan.passes:.4g} passes served before this epoch)')
        if epoch == 0 and get_dist_info()[0] == 0:
            save_event(runner.work_dir, self.args, warmup_event(plan),
                       runner.logger)

    def _select(self, runner, wrapper: GEDASubsetDataset, step: Step) -> None:
        run = score_and_select(
            runner.model,
            wrapper,
            self.args,
            phase=step.phase,
            epoch=runner.epoch,
            eval_pipeline=eval_pipeline(runner),
            logger=runner.logger)
        wrapper.set_selection(
            run.selection, weighted=self.args.trains_weighted(step.phase))
        runner.logger.info(
            f'GradNormHook (epoch {runner.epoch}): {run.selection.summary()}'
            f'; scoring ({run.scored}) took {run.scoring_s:.1f}s')
        if get_dist_info()[0] == 0:
            save_run(
                runner.work_dir,
                run,
                wrapper,
                self.args,
                phase=step.phase,
                epoch=runner.epoch,
                per_epoch=self.plan.per_epoch_files(),
                logger=runner.logger)
            save_event(runner.work_dir, self.args,
                       selection_event(run, step.phase, runner.epoch),
                       runner.logger)
