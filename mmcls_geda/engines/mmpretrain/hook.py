"""``GradNormHook`` for mmpretrain 1.x / mmengine: selections on the
schedule of the settings and the per-epoch subsets (budget schedules and
loss refolds included).

A selecting method's subset is chosen as on mmcls 0.x, by the same plan
(:mod:`mmcls_geda.selection.schedule`: once before the first epoch, or
after a warm-up on all the data, re-selected every ``interval`` epochs, a
second method from ``then``), scored by the same pass (exact per-sample
gradient norms or last-layer gradient embeddings of the training model, a
copy loaded from ``checkpoint`` or a ``scoring_model`` proxy) and selected
by the same numpy core; :class:`~mmcls_geda.engines.mmpretrain.scheduled.
ScheduledSubsets` reads the runner for it and
:class:`~mmcls_geda.engines.mmpretrain.subset.GEDASubsetDataset` serves the
result, with its per-sample weights when a phase trains weighted (the
model is then a :class:`~mmcls_geda.engines.mmpretrain.model.
WeightedImageClassifier`). The settings are the mmcls 0.x hook's
(:class:`~mmcls_geda.apis.SelectionArgs`) and so are the saved records and
the resume logic (:mod:`mmcls_geda.apis.serving`). A per-epoch method
(``rs2``; your own reading nothing, the θ0 norms or the training losses;
``geda_rotate`` / ``strata_rotate`` refolded on ``'fixed'`` norms, a new
``'grad_norm'`` pass or the recorded ``'loss'``; any ``budget``) is served
through :class:`~mmcls_geda.apis.epoch_serving.EpochServing`, the mmcls
0.x server's plan, log and saved state; a budget schedule's epochs through
``EpochPlanSampler`` (:mod:`.sampler`) and the schedules by epoch
progress (:mod:`.progress`), the training losses recorded by
``WeightedImageClassifier`` (:mod:`.model`); the norms are scored by the
training model, a copy loaded from ``checkpoint`` or a ``scoring_model``
proxy, as on mmcls 0.x.
"""
import copy
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dataset import Compose, pseudo_collate
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook, ParamSchedulerHook
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop
from mmpretrain.registry import HOOKS
from torch.utils.data import DataLoader

from ...apis import SelectionArgs
from ...apis.epoch_serving import EpochServing
from ...apis.loss_recorder import LossRecorder
from ...apis.runs import check_scored_layers
from ...apis.transforms import without_random_transforms
from ...scoring import grad_norms
from ...selection import METHODS, get_method
from ...selection.epoch_rules import EpochChoice
from ...subsets import epoch_iterations, serve_epoch_plan
from .model import check_weighted_classifier
from .progress import iteration_schedulers
from .sampler import EpochPlanSampler
from .scheduled import (ScheduledSubsets, check_weighted_model,
                        mmpretrain_scorer)
from .subset import GEDASubsetDataset

# What a per-epoch method may read here: nothing, norms (no gradient
# embeddings yet) or the training losses, which a WeightedImageClassifier
# records
EPOCH_READS = ('nothing', 'norms', 'losses')
_DOC = 'mmcls 0.x only for now (docs/mmpretrain.md)'


def static_methods() -> List[str]:
    """The registered methods this hook selects with, once or on a
    schedule (warm-up, ``interval``, ``then``); the weighted ones train
    with their weights through a ``WeightedImageClassifier``."""
    return sorted(name for name, entry in METHODS.items()
                  if not entry.per_epoch)


def epoch_methods() -> List[str]:
    """The registered per-epoch methods this hook takes (every budget
    schedule and refold): they read nothing, norms or the training
    losses."""
    return sorted(name for name, entry in METHODS.items()
                  if entry.per_epoch and entry.reads in EPOCH_READS)


# what every message of this hook starts with
_PREFIX = 'GradNormHook on mmpretrain 1.x: '


def _check_epoch_method(args: SelectionArgs) -> None:
    """A ValueError naming a bad option of a per-epoch method (an unknown
    budget, ...). Every budget schedule and refold is taken: what they need
    of the run (the loader's ``EpochPlanSampler`` and, for
    iteration-based schedules, ``EpochProgressParamSchedulerHook``; a
    ``WeightedImageClassifier`` to record the losses) is checked before
    the run (:func:`check_epoch_run`)."""
    args.resolved_options()


def check_epoch_run(runner, args: SelectionArgs) -> None:
    """Before the run, what a per-epoch method needs of it: a model that
    records the training losses (when the method reads them), the whole
    training set (pruning), the sampler and schedule hook of epochs of
    varying length. One TypeError that lists every setting to change."""
    options = args.resolved_options()
    rule = get_method(args.method).epoch
    missing = []

    def check(test, *test_args) -> None:
        try:
            test(*test_args)
        except TypeError as error:
            missing.append(str(error).replace(_PREFIX, '', 1))

    if args.needs_losses():
        who, otherwise = args.losses_why()
        check(check_recording_model, inner_model(runner.model),
              f'{who} reads the per-sample training losses', f'or {otherwise}',
              rule.unnormalised_weights)
    dataset = runner.train_dataloader.dataset
    if rule.whole_data and isinstance(dataset, GEDASubsetDataset) and \
            dataset.fraction != 1.0:
        missing.append(
            f'method {args.method!r} plans over the whole training set '
            'every epoch: set train_dataloader.dataset.fraction = 1.0; got '
            f'{dataset.fraction}')
    if rule.varies(options):
        missing += _varying_epoch_problems(runner, args, options)
    if missing:
        fix = ('apply_pruning' if rule.whole_data else 'apply_geda')
        raise TypeError(
            f'{_PREFIX}method {args.method!r} needs {len(missing)} '
            f'setting(s) this run lacks ({fix} writes them all):\n- ' +
            '\n- '.join(missing))


def _varying_epoch_problems(runner, args: SelectionArgs,
                            options: dict) -> List[str]:
    """What keeps the loader's sampler or the parameter schedulers from
    following epochs of varying length (empty: nothing)."""
    varies = (f"budget={options['budget']!r}"
              if 'budget' in options else f'method {args.method!r}')
    problems = []
    sampler = getattr(runner.train_dataloader, 'sampler', None)
    if not isinstance(sampler, EpochPlanSampler):
        problems.append(
            f'{varies} changes the epoch\'s length, which the '
            f'training loader\'s {type(sampler).__name__} cannot follow: set '
            "train_dataloader.sampler = dict(type='EpochPlanSampler')")
    stepped = [
        type(h).__name__ for h in runner.hooks
        if isinstance(h, ParamSchedulerHook)
    ]
    if iteration_schedulers(runner) and (stepped != [
            'EpochProgressParamSchedulerHook'
    ]):
        problems.append(
            f'{varies} changes the epochs\' lengths, which would '
            'stretch or squeeze the iteration-based parameter schedulers '
            '(by_epoch=False, or convert_to_iter_based=True) that '
            f'{stepped or "no hook"} steps: set default_hooks = dict('
            "param_scheduler=dict(type='EpochProgressParamSchedulerHook')), "
            'or schedule by epoch')
    return problems


def check_recording_model(model,
                          who: str,
                          otherwise: str = '',
                          unnormalised: bool = False) -> None:
    """A TypeError unless ``model`` (without its wrapper) is a
    :class:`~.model.WeightedImageClassifier` without batch augments (with
    ``normalize_weights=False`` where ``unnormalised``: pruning's weights
    keep the summed gradient unbiased); then its recording of per-sample
    losses is switched on."""
    keep_sum = ('model.normalize_weights = False (pruning\'s weights keep '
                'the summed gradient unbiased)')
    try:
        check_weighted_classifier(model, who, 'records', otherwise)
    except TypeError as error:
        if not unnormalised:
            raise
        raise TypeError(f'{error}; and set {keep_sum}') from None
    if unnormalised and model.normalize_weights:
        raise TypeError(
            f'GradNormHook on mmpretrain 1.x: {who} and weighs the samples '
            'it keeps, averaged over the batch: set '
            'model.normalize_weights = False (apply_pruning does)')
    model.record_losses = True


def inner_model(model):
    """The model without mmengine's (Distributed)DataParallel wrapper."""
    return model.module if is_model_wrapper(model) else model


def check_static(args: SelectionArgs, given: dict) -> None:
    """A ValueError naming the setting unless ``args`` ask for what this
    hook does: selections on the schedule of the settings (weighted ones
    need a ``WeightedImageClassifier``, checked in ``before_run``), or a
    per-epoch method that reads nothing, norms or losses (``given``: the
    arguments as given, kept for the callers' messages;
    :class:`SelectionArgs` already refuses a schedule with a per-epoch
    method)."""
    entry = get_method(args.method)
    if not entry.per_epoch:
        return
    if entry.reads not in EPOCH_READS:
        raise ValueError(
            f'GradNormHook on mmpretrain 1.x: method {args.method!r} reads '
            f'{entry.reads}, which is {_DOC}; every epoch it serves one of '
            f'{epoch_methods()}')
    _check_epoch_method(args)


def find_subset(dataset: Any) -> GEDASubsetDataset:
    """The training loader's dataset, which must be the
    :class:`GEDASubsetDataset` itself."""
    if isinstance(dataset, GEDASubsetDataset):
        return dataset
    inner = getattr(dataset, 'dataset', None)
    around = (f' around a {type(inner).__name__}' if inner is not None else '')
    raise TypeError(
        'GradNormHook needs a GEDASubsetDataset as the training loader\'s '
        "dataset (train_dataloader.dataset = dict(type='GEDASubsetDataset', "
        'fraction=..., dataset=...); on mmpretrain 1.x not inside another '
        'dataset wrapper yet); runner.train_dataloader.dataset is a '
        f'{type(dataset).__name__}{around}')


def evaluation_pipelines(runner) -> List[Tuple[str, Optional[Sequence]]]:
    """The run's evaluation pipelines, ``(name, transforms or None)``: the
    validation loop's (built by ``Runner.train`` before the hooks run),
    then the test loader's config."""
    found = []
    val_loop = runner.val_loop
    if val_loop is not None:
        dataset = getattr(val_loop.dataloader, 'dataset', None)
        pipeline = getattr(dataset, 'pipeline', None)
        found.append(('validation', getattr(pipeline, 'transforms', None)))
    test = (runner.cfg.get('test_dataloader') or {}) if getattr(
        runner, 'cfg', None) is not None else {}
    if isinstance(test, dict):
        found.append(('test', (test.get('dataset') or {}).get('pipeline')))
    return found


def scoring_pipeline(args: SelectionArgs,
                     evaluation: Sequence[Tuple[str, Optional[Sequence]]],
                     train_pipeline: Sequence[Any]) -> Tuple[list, str]:
    """The scoring pipeline and a line that says where it came from.

    As on mmcls 0.x (:func:`mmcls_geda.apis.derive_scoring_pipeline`):
    the ``scoring_pipeline`` setting; else the first evaluation pipeline
    (deterministic, at the resolution the network is evaluated at;
    mmpretrain's ``PackInputs`` keeps ``gt_label``); else the training
    pipeline without its random transforms (refused when one of them sets
    the image size, see
    :func:`~mmcls_geda.apis.transforms.without_random_transforms`).

    Args:
        args: The hook's settings.
        evaluation: ``(name, transforms or None)`` of the run's evaluation
            pipelines, in order of preference.
        train_pipeline: The training set's transforms.
    """
    if args.scoring_pipeline is not None:
        return list(args.scoring_pipeline), 'the scoring_pipeline setting'
    for name, pipeline in evaluation:
        if pipeline:
            return list(pipeline), f'the {name} pipeline'
    return without_random_transforms(train_pipeline)


def scoring_loader(wrapper: GEDASubsetDataset, pipeline: Sequence[Any],
                   batch_size: int, workers: int) -> DataLoader:
    """A sequential loader over the whole wrapped dataset, through a copy
    of it with ``pipeline`` (the training set keeps its own)."""
    inner = wrapper.dataset
    if not hasattr(inner, 'pipeline'):
        raise TypeError(
            'scoring goes through a copy of the wrapped dataset with its own '
            'pipeline, so GEDASubsetDataset must wrap an mmengine '
            f'BaseDataset; got {type(inner).__name__}')
    scored = copy.copy(inner)  # shares the data list, not the pipeline
    scored.pipeline = Compose(list(pipeline))
    return DataLoader(
        scored,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=pseudo_collate)


@HOOKS.register_module()
class GradNormHook(Hook):
    """Select the training subset once or on a schedule, or serve a
    per-epoch subset (mmpretrain 1.x / mmengine).

    Before every training epoch (the training loader exists; its workers,
    persistent ones too, read the wrapper's indices and weights from
    shared memory, so they serve what the hook set) the hook serves the
    epoch's step of the plan (:class:`~mmcls_geda.engines.mmpretrain.
    scheduled.ScheduledSubsets`, the mmcls 0.x plan): a warm-up slice of
    all the data, the selection it trains on, or a new selection: the
    whole wrapped training set scored in eval mode (exact per-sample
    gradient norms over ``scope`` or last-layer gradient embeddings, of
    the training model, a copy loaded from ``checkpoint`` or a
    ``scoring_model`` proxy; a method that reads nothing scores nothing),
    selected with the numpy core (seed :func:`~mmcls_geda.selection.
    schedule.selection_seed` of ``seed`` and the epoch, as on mmcls 0.x:
    the same norms, seed and fraction give the same indices on both
    stacks) and served, with its weights where the phase trains weighted.
    Rank 0 saves the selection records (``geda_selection.json``, and
    ``geda_selection_epoch{E}.json`` when the run selects more than once
    or later than epoch 0; the norms, labels and report, as
    ``save_norms`` / ``report`` ask) and ``geda_schedule.json`` in
    ``work_dir``. A resumed run (``resume=True``) serves the saved
    selection its epoch trains on instead of scoring again; a wrapper with
    a ``selection_file`` serves that file. Distributed: every rank scores
    a strided share, rank 0 selects and broadcasts the selection.

    A per-epoch method (:func:`epoch_methods`) is served as on mmcls 0.x:
    before every training epoch the plan's indices for that epoch
    (:class:`~mmcls_geda.selection.rotation.RotationPlan`, the same numpy plan:
    the same labels, fraction, options and seed serve the same indices on both
    stacks) go to the wrapper, of the subset's constant size, or, under a
    budget schedule, of the epoch's own size through ``EpochPlanSampler``
    in the mmcls 0.x seeded order; a method that reads norms scores them at the
    initial weights before the first epoch (and again at every new cycle with
    ``refold='grad_norm'``); one that reads the training losses switches the
    ``WeightedImageClassifier``'s recording on and takes its losses after every
    iteration (refused before the run for another model:
    :func:`check_epoch_run`). After every epoch rank 0 writes
    ``rotation_state_epoch{E}.npz`` and ``rotation_log.json`` in ``work_dir``
    (:data:`~mmcls_geda.selection.epoch_state.ROTATION`, the mmcls 0.x files
    and settings); a resumed run loads and checks the state of its epoch and
    serves what an uninterrupted run serves.

    The scoring pipeline is the ``scoring_pipeline`` setting, else the
    run's validation pipeline, else the test loader's, else the training
    pipeline without its random transforms (see :func:`scoring_pipeline`).

    Args:
        **kwargs: The settings of :class:`~mmcls_geda.apis.SelectionArgs`,
            as on mmcls 0.x: ``method`` (selecting: :func:`static_methods`;
            every epoch: rs2, geda_rotate, strata_rotate), ``options``
            (any ``budget``, any ``refold``), ``scope``, ``seed``,
            ``interval``, ``warmup_epochs``, ``weights``, ``then``,
            ``weighted``, ``checkpoint``, ``scoring_model``,
            ``scoring_pipeline``,
            ``scoring_batch_size``, ``scoring_workers``, ``save_norms``,
            ``report``; a bad value is a ValueError. ``priority`` is
            mmengine's config key (default ``'HIGHEST'``: hooks after it
            see the selection).
    """

    priority = 'HIGHEST'

    def __init__(self, **kwargs) -> None:
        self.args = SelectionArgs.from_kwargs(**kwargs)
        check_static(self.args, kwargs)
        # a selecting method's plan: once, or warm-up / interval / then
        self.scheduled = (
            ScheduledSubsets(self.args, self._scoring_loader)
            if not self.args.per_epoch() else None)
        # a per-epoch method's plan, cycle state, losses, log, saved state
        self.serving = (
            EpochServing(self.args,
                         LossRecorder('GEDASubsetDataset.serve_sample_idx'))
            if self.args.per_epoch() else None)

    def __repr__(self) -> str:
        # mmengine ends a hook's TypeError with "in {hook}"
        return f'{type(self).__name__}(method={self.args.method!r})'

    def before_run(self, runner) -> None:
        """Refuse an iteration-based loop (the hook acts before an epoch),
        a model that would drop a run's per-sample weights, and what a
        per-epoch method needs of the run but misses."""
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            raise TypeError(
                'GradNormHook selects before the first training epoch, so it '
                'needs an EpochBasedTrainLoop (train_cfg = dict('
                f"by_epoch=True, ...)); got {type(runner.train_loop).__name__}"
            )
        check_scored_layers(runner.model, self.args)
        check_weighted_model(runner.model, self.args)
        dataset = runner.train_dataloader.dataset
        if isinstance(dataset, GEDASubsetDataset) and \
                dataset.selection_file is not None and dataset.serves_weights:
            # mmpretrain's ImageClassifier would ignore the weights silently
            check_weighted_classifier(
                inner_model(runner.model),
                f'the selection_file {dataset.selection_file} holds '
                'per-sample weights', 'applies to its loss')
        if self.serving is not None:
            check_epoch_run(runner, self.args)

    def before_train_epoch(self, runner) -> None:
        """Select (or serve the saved selection) in the first epoch this
        process trains; later epochs keep it. A per-epoch method serves
        the epoch's subset."""
        if self.serving is not None:
            self._serve_epoch(runner)
            return
        self.scheduled.before_train_epoch(
            runner, find_subset(runner.train_dataloader.dataset))

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        """A per-epoch method reading the losses: take the iteration's."""
        if self.serving is not None:
            self.serving.take_losses(inner_model(runner.model))

    def after_train_epoch(self, runner) -> None:
        """A per-epoch method: gather the epoch's losses (where recorded);
        rank 0 saves the state before the next epoch and the log."""
        if self.serving is not None:
            self.serving.finish_epoch(runner.work_dir, runner.epoch,
                                      get_dist_info()[0] == 0)

    def _serve_epoch(self, runner) -> None:
        """Serve a per-epoch method's subset of ``runner.epoch``."""
        wrapper = find_subset(runner.train_dataloader.dataset)

        def norms() -> np.ndarray:
            return self._norms(runner, wrapper)

        if self.serving.plan is None:
            self.serving.begin(wrapper, runner.max_epochs, runner.epoch,
                               runner.work_dir, norms,
                               get_dist_info()[0] == 0, runner.logger.info)
        self.serving.serve(
            runner.epoch, wrapper, norms,
            lambda choice: self._serve_resized(runner, wrapper, choice),
            runner.logger.info)

    def _serve_resized(self, runner, wrapper: GEDASubsetDataset,
                       choice: EpochChoice) -> Tuple[int, int]:
        """Serve an epoch of its own length (a budget schedule, pruning)
        in the order of the mmcls 0.x server (seeded, or the rule's); the
        loop's total iterations (ETA) follow the plan. Returns the samples
        served twice (all ranks) and the epoch's iterations."""
        loader, epoch = runner.train_dataloader, runner.epoch
        repeated = serve_epoch_plan(wrapper, loader.sampler, choice,
                                    self.serving.order(epoch, choice),
                                    loader.batch_sampler.batch_size,
                                    loader.batch_sampler.drop_last)
        plan = self.serving.plan
        # mmengine has no setter; its loop fixed max_iters from the
        # constant epoch, which no longer is every epoch's length
        runner.train_loop._max_iters = runner.iter + len(loader) + sum(
            epoch_iterations(loader, plan.epoch_size(e, choice))
            for e in range(epoch + 1, runner.max_epochs))
        return repeated, len(loader)

    def _norms(self, runner, wrapper: GEDASubsetDataset) -> np.ndarray:
        """The norms (over ``scope``) of the whole wrapped training set
        with the model as it is now."""
        loader = self._scoring_loader(runner, wrapper, self._scored())
        # the training model, or a copy loaded from checkpoint, or a proxy
        norms, labels = grad_norms(
            mmpretrain_scorer(runner, self.args),
            loader,
            scope=self.args.scope,
            logger=runner.logger)
        if not np.array_equal(labels, wrapper.full_labels):
            raise RuntimeError(
                'the scoring loader\'s labels differ from the dataset\'s '
                'get_gt_labels(): the scoring pipeline must keep labels '
                'and the order of samples')
        return np.asarray(norms, dtype=np.float64)

    def _scoring_loader(self, runner, wrapper: GEDASubsetDataset,
                        what: str) -> DataLoader:
        """A sequential loader over the whole wrapped training set with
        the scoring pipeline; logs ``what`` it scores and with which
        pipeline."""
        pipeline, source = scoring_pipeline(
            self.args, evaluation_pipelines(runner),
            wrapper.dataset.pipeline.transforms)
        runner.logger.info(
            f'GradNormHook: scoring {what} of all {len(wrapper.dataset)} '
            f'training samples (epoch {runner.epoch}) with {source}')
        return scoring_loader(wrapper, pipeline, self.args.scoring_batch_size,
                              self.args.scoring_workers)

    def _scored(self) -> str:
        """What a scoring pass scores, for messages."""
        return ('input norms' if self.args.scope == 'input' else
                f'{self.args.scope} gradient norms')
