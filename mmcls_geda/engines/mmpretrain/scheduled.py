"""Subsets chosen once or on a schedule, served through the mmpretrain 1.x
``GradNormHook``: the mmengine glue of the plan the mmcls 0.x hook serves
(:class:`mmcls_geda.hooks.scheduled_subsets.ScheduledSubsets`).

The plan (:func:`~mmcls_geda.apis.serving.make_plan`: a warm-up on all the
data, re-selection every ``interval`` epochs, a second method from a later
epoch), the saved selections a resume reuses, the logs, records and
events (:class:`~mmcls_geda.apis.scheduled_serving.ScheduledServing`), the
scoring pass and the selection (:func:`~mmcls_geda.apis.runs.
select_with_scorer`) are the stack-free code both stacks run; this module
only reads mmengine's runner (epoch, model, work dir, logger, ranks) and
builds the scoring model with mmpretrain's ``MODELS``.

A phase that trains with per-sample weights (CRAIG, GRAD-MATCH, an
unweighted method with ``weights``) serves them through the wrapper into
each data sample's ``metainfo['sample_weight']``, which the model, a
:class:`~mmcls_geda.engines.mmpretrain.model.WeightedImageClassifier`
(:func:`check_weighted_model`), applies to its loss.

A warm-up epoch serves a slice of the subset's size
(:func:`~mmcls_geda.selection.schedule.warmup_indices`), as on mmcls 0.x:
every epoch of the run has the same length, so mmengine's parameter
schedulers (by epoch or by iteration) need nothing of their own.
"""
import copy
from typing import Callable

from mmengine.dist import get_dist_info
from mmengine.runner import load_checkpoint
from torch.utils.data import DataLoader

from ...apis import SelectionArgs, SelectionRun
from ...apis.runs import build_scorer, scored_what, select_with_scorer
from ...apis.scheduled_serving import ScheduledServing
from ...scoring.engine_utils import is_module_wrapper
from ...selection.schedule import Step
from .model import check_weighted_classifier
from .subset import GEDASubsetDataset

# ``loader(runner, wrapper, what)``: the hook's sequential scoring loader
# over the whole training set (it logs ``what`` is scored and with which
# pipeline)
ScoringLoader = Callable[[object, GEDASubsetDataset, str], DataLoader]


def check_weighted_model(model, args: SelectionArgs) -> None:
    """A TypeError, before training, unless a run that trains with
    per-sample weights (``args.trains_weighted()``) has a model that
    applies them: a :class:`~mmcls_geda.engines.mmpretrain.model.
    WeightedImageClassifier` (inside a model wrapper is fine) without
    batch augments, which mix samples."""
    if not args.trains_weighted():
        return
    who, fix = args.weighted_why()
    check_weighted_classifier(
        model.module if is_module_wrapper(model) else model,
        f'{who} trains with per-sample weights', 'applies to its loss',
        f'or {fix}')


def scoring_model_cfg(scoring_model: dict, runner) -> dict:
    """A proxy's classifier config, with the run's top-level
    ``data_preprocessor`` where the proxy names none (mmengine's
    ``Runner`` gives the training model the same default)."""
    cfg = copy.deepcopy(dict(scoring_model))
    run_cfg = getattr(runner, 'cfg', None)
    preprocessor = run_cfg.get('data_preprocessor') if run_cfg else None
    if preprocessor is not None:
        cfg.setdefault('data_preprocessor', copy.deepcopy(preprocessor))
    return cfg


def mmpretrain_scorer(runner, args: SelectionArgs):
    """The model to score with on mmpretrain 1.x: the run's model, or a
    copy of it (``checkpoint``), or a classifier built from
    ``scoring_model`` with mmpretrain's ``MODELS`` (then loaded from
    ``checkpoint`` when one is given), on the run's device."""
    from mmpretrain.registry import MODELS

    def load(module, path: str) -> None:
        load_checkpoint(
            module,
            path,
            map_location='cpu',
            strict=False,
            logger=runner.logger)

    proxy = (
        scoring_model_cfg(args.scoring_model, runner)
        if args.scoring_model is not None else None)
    return build_scorer(runner.model, args.checkpoint, proxy, MODELS.build,
                        load)


def scoring_source(args: SelectionArgs) -> str:
    """Which model scores, for logs."""
    if args.scoring_model is not None:
        model = f'the proxy {args.scoring_model.get("type", "classifier")}'
        return model + (f' loaded from {args.checkpoint}'
                        if args.checkpoint else ' at its initial weights')
    if args.checkpoint is not None:
        return f'a copy of the model loaded from {args.checkpoint}'
    return 'the training model'


class ScheduledSubsets:
    """Serve a subset selected once or on the schedule of the settings, or
    a saved selection (a resume, the wrapper's ``selection_file``), on
    mmengine.

    Args:
        args: The hook's settings (a method that selects, not one that
            serves a new subset every epoch).
        scoring_loader: The hook's scoring loader (see
            :data:`ScoringLoader`).
    """

    def __init__(self, args: SelectionArgs, scoring_loader: ScoringLoader):
        self.args = args
        self.scoring_loader = scoring_loader
        # the plan and what the wrapper holds, stack-free
        self.serving = ScheduledServing(args)

    def before_train_epoch(self, runner, wrapper: GEDASubsetDataset) -> None:
        """Serve ``runner.epoch``'s step of the plan (see
        :meth:`~mmcls_geda.apis.scheduled_serving.ScheduledServing.serve`).
        """
        self.serving.serve(wrapper, runner.epoch, runner.max_epochs,
                           runner.work_dir, runner.logger,
                           get_dist_info()[0] == 0,
                           lambda step: self._select(runner, wrapper, step))

    def _select(self, runner, wrapper: GEDASubsetDataset,
                step: Step) -> SelectionRun:
        """Score (all ranks, gathered) and select (rank 0, broadcast)."""
        args = self.args
        scorer = loader = None
        if args.needs_scoring(step.phase):
            loader = self.scoring_loader(runner, wrapper,
                                         self._what(step.phase))
            scorer = mmpretrain_scorer(runner, args)
        return select_with_scorer(
            scorer,
            loader,
            wrapper.full_labels,
            wrapper.fraction,
            args,
            phase=step.phase,
            epoch=runner.epoch,
            rank=get_dist_info()[0],
            logger=runner.logger)

    def _what(self, phase: str) -> str:
        """What a phase scores and with which model, for the log."""
        what = scored_what(self.args, phase)
        source = scoring_source(self.args)
        return what if source == 'the training model' else (
            f'{what} (with {source})')
