"""``GradNormHook``: decides when the training subset is chosen."""
from mmcv.runner import HOOKS, Hook, get_dist_info

from ..apis import SelectionArgs, save_run, score_and_select
from ..apis.serving import (make_plan, save_event, saved_selection_path,
                            selection_event, serve_saved, warmup_event)
from ..datasets.batches import pad_lone_batch
from ..datasets.subset import GEDASubsetDataset, find_wrapper
from ..selection.schedule import Step, warmup_indices
from .epoch_subsets import EpochSubsets
from .runner_checks import (check_runner, check_weighted_model, eval_pipeline,
                            inner_model)


@HOOKS.register_module()
class GradNormHook(Hook):
    """Decide when the training subset is chosen (the work:
    :func:`mmcls_geda.apis.score_and_select`).

    The subset is selected in the first ``before_train_epoch`` (the loader
    exists, its workers have not started), then as the schedule says
    (:mod:`mmcls_geda.selection.schedule`: a warm-up on all the data,
    re-selection every ``interval`` epochs, a second method from a later
    epoch); the :class:`GEDASubsetDataset` serves the result, ``work_dir``
    keeps it, and a resumed run serves the saved selection of its epoch.
    The per-epoch methods (``rs2``, ``geda_rotate``, ``strata_rotate``)
    are served by :class:`~mmcls_geda.hooks.epoch_subsets.EpochSubsets`.
    Register with ``priority='HIGHEST'``, before the learning-rate hooks.
    A subset whose epochs would end with a batch of one sample (on any
    rank) is padded with one repeat (:mod:`mmcls_geda.datasets.batches`).

    Args:
        **kwargs: The settings of :class:`~mmcls_geda.apis.SelectionArgs`
            (``method``, ``options``, ``scope``, ``seed``, ``interval``,
            ``warmup_epochs``, ``weights``, ``then``, ...), with its
            defaults; every one is checked here.
    """

    def __init__(self, **kwargs):
        self.args = SelectionArgs.from_kwargs(**kwargs)
        self.plan = None
        self.serving = None  # the epoch whose selection the wrapper holds
        # rs2, geda_rotate, strata_rotate: a new subset every epoch
        self.epoch_subsets = (
            EpochSubsets(self.args) if self.args.per_epoch() else None)

    def before_run(self, runner) -> None:
        check_runner(runner, self)
        if self.epoch_subsets is not None:
            self.epoch_subsets.before_run(runner)
        if self.args.trains_weighted():
            check_weighted_model(
                inner_model(runner), *self.args.weighted_why())

    def before_train_epoch(self, runner) -> None:
        if pad_lone_batch(runner.data_loader):
            loader = runner.data_loader
            runner.logger.info(
                f'GradNormHook: {len(loader.batch_sampler.sampler) - 1} '
                'samples a rank per epoch would end with a batch of one '
                f'(batches of {loader.batch_sampler.batch_size}), which batch '
                'normalisation cannot train on: every epoch serves its '
                'first sample again in the last batch')
        if self.epoch_subsets is not None:
            self.epoch_subsets.before_train_epoch(runner)
            return
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
            path = saved_selection_path(wrapper, self.plan, step,
                                        runner.work_dir)
            if path is None:
                self._select(runner, wrapper, step)
            else:
                serve_saved(wrapper, self.args, step, path, epoch)
                how = ('serving the selection file' if path
                       == wrapper.selection_file else 'resumed the selection')
                runner.logger.info(f'GradNormHook: {how} from {path}: '
                                   f'{wrapper.selection.summary()}')
            self.serving = step.due
        runner.logger.info(
            f'GradNormHook: epoch {epoch}, phase {step.phase}: training on '
            f'the {wrapper.selection.method} selection of epoch {step.due}')

    def after_train_iter(self, runner) -> None:
        if self.epoch_subsets is not None:
            self.epoch_subsets.after_train_iter(runner)

    def after_train_epoch(self, runner) -> None:
        if self.epoch_subsets is not None:
            self.epoch_subsets.after_train_epoch(runner)

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
