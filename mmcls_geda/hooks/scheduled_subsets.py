"""Subsets chosen once or on a schedule, served through GradNormHook: the
mmcv 1.x glue of :class:`~mmcls_geda.apis.scheduled_serving.
ScheduledServing` (the plan, warm-up slices, saved selections, logs and
records, shared with the mmpretrain 1.x hook)."""
from mmcv.runner import get_dist_info

from ..apis import SelectionArgs, SelectionRun, score_and_select
from ..apis.scheduled_serving import ScheduledServing
from ..datasets.subset import find_wrapper
from ..selection.schedule import Step
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
        # the plan and what the wrapper holds, stack-free
        self.serving = ScheduledServing(args)

    def before_run(self, runner) -> None:
        """Nothing to check beyond the hook's own checks."""

    def after_train_iter(self, runner) -> None:
        """Nothing is recorded while training."""

    def after_train_epoch(self, runner) -> None:
        """Nothing is kept across epochs but the saved selections."""

    def before_train_epoch(self, runner) -> None:
        self.serving.serve(
            find_wrapper(runner.data_loader.dataset), runner.epoch,
            runner.max_epochs, runner.work_dir, runner.logger,
            get_dist_info()[0] == 0, lambda step: self._select(runner, step))

    def _select(self, runner, step: Step) -> SelectionRun:
        """Score (all ranks, gathered) and select (rank 0, broadcast)."""
        return score_and_select(
            runner.model,
            find_wrapper(runner.data_loader.dataset),
            self.args,
            phase=step.phase,
            epoch=runner.epoch,
            eval_pipeline=eval_pipeline(runner),
            logger=runner.logger)
