"""``GradNormHook``: decides when the training subset is chosen."""
from mmcv.runner import HOOKS, Hook

from ..apis import SelectionArgs
from ..apis.runs import check_scored_layers
from ..subsets import serve_fixed_epoch
from .epoch_subsets import EpochSubsets
from .runner_checks import check_runner, check_weighted_model, inner_model
from .scheduled_subsets import ScheduledSubsets


@HOOKS.register_module()
class GradNormHook(Hook):
    """Decide when the training subset is chosen (the work:
    :func:`mmcls_geda.apis.score_and_select`).

    The subset is selected in the first ``before_train_epoch`` (the loader
    exists, its workers have not started), then as the schedule says
    (:mod:`mmcls_geda.selection.schedule`: a warm-up on all the data,
    re-selection every ``interval`` epochs, a second method from a later
    epoch); the :class:`GEDASubsetDataset` serves the result, ``work_dir``
    keeps it, and a resumed run serves the saved selection of its epoch
    (:class:`~mmcls_geda.hooks.scheduled_subsets.ScheduledSubsets`). The
    per-epoch methods (``rs2``, ``geda_rotate``, ``strata_rotate``, the
    pruning rules ``infobatch`` and ``random_pruning``, your own) are served
    by :class:`~mmcls_geda.hooks.epoch_subsets.EpochSubsets`. Register
    with ``priority='HIGHEST'``, before the learning-rate hooks. A subset
    whose epochs would end with a batch of one sample (on any rank) is
    padded with one repeat (:mod:`mmcls_geda.subsets.batches`).

    Every epoch goes through the loader's
    :class:`~mmcls_geda.datasets.EpochPlanSampler` (``sampler`` in the
    config; ``apply_geda`` writes it): an epoch whose length varies in the
    plan's order, one of the wrapper's fixed length in the order of
    mmcls's default sampler (:func:`~mmcls_geda.subsets.
    serve_fixed_epoch`). A config without the ``sampler`` key trains its
    fixed-length epochs on mmcls's default sampler, in the same order.

    Args:
        **kwargs: The settings of :class:`~mmcls_geda.apis.SelectionArgs`
            (``method``, ``options``, ``scope``, ``seed``, ``interval``,
            ``warmup_epochs``, ``weights``, ``then``, ...), with its
            defaults; every one is checked here.
    """

    def __init__(self, **kwargs):
        self.args = SelectionArgs.from_kwargs(**kwargs)
        # what serves each epoch: a new subset every epoch, or on a schedule
        self.subsets = (
            EpochSubsets(self.args)
            if self.args.per_epoch() else ScheduledSubsets(self.args))
        self._told_padding = False

    def before_run(self, runner) -> None:
        check_runner(runner, self)
        check_scored_layers(runner.model, self.args)
        if self.args.trains_weighted():
            check_weighted_model(
                inner_model(runner), *self.args.weighted_why())
        self.subsets.before_run(runner)

    def before_train_epoch(self, runner) -> None:
        self.subsets.before_train_epoch(runner)
        if self.subsets.resizes_epochs:
            return  # the plan is served (and padded) with its own length
        loader = runner.data_loader
        if serve_fixed_epoch(loader) and not self._told_padding:
            self._told_padding = True
            runner.logger.info(
                f'GradNormHook: {len(loader.batch_sampler.sampler) - 1} '
                'samples a rank per epoch would end with a batch of one '
                f'(batches of {loader.batch_sampler.batch_size}), which batch '
                'normalisation cannot train on: every epoch serves its '
                'first sample again in the last batch')

    def after_train_iter(self, runner) -> None:
        self.subsets.after_train_iter(runner)

    def after_train_epoch(self, runner) -> None:
        self.subsets.after_train_epoch(runner)
