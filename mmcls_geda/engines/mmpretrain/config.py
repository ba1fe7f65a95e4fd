"""``apply_geda`` for an mmengine config (mmpretrain 1.x).

The contract of the mmcls 0.x helper (:func:`mmcls_geda.apis.apply_geda`):
the config is copied, every argument is checked before anything is
returned (so a typo or a setting only mmcls 0.x serves fails here, naming
it, not in the runner), the training set is wrapped in
``GEDASubsetDataset`` and the ``GradNormHook`` added with
``priority='HIGHEST'``. On mmengine the training set is
``train_dataloader.dataset`` and the hook is
:class:`~mmcls_geda.engines.mmpretrain.hook.GradNormHook`, which selects
on the schedule of its settings (once, or after a warm-up, every
``interval`` epochs, a second phase ``then``), or serves a per-epoch method
(any ``budget`` and ``refold``; :func:`~mmcls_geda.engines.mmpretrain.
hook.check_static`).
"""
import copy
from typing import Any, Dict, Optional, Tuple

from mmengine.config import Config

from ...apis import SelectionArgs
from ...apis.config_dicts import import_plugin
from ...selection import check_fraction, get_method
from ...selection.pruning import PruningArgs
from ...selection.registry import pruning_method
from ...selection.schedule import check_then_start, warmup_epoch_count
from .hook import check_static

# Every GradNormHook argument that ``hook`` may hold (method and options
# are apply_geda's own arguments).
HOOK_ARGS = tuple(name for name in SelectionArgs.names()
                  if name not in ('method', 'options'))
WRAPPER = 'GEDASubsetDataset'
HOOK = 'GradNormHook'
WEIGHTED_MODEL = 'WeightedImageClassifier'
# mmengine's dataset wrappers: the hook serves a GEDASubsetDataset whose
# dataset holds the samples (scored through a copy with its own pipeline).
DATASET_WRAPPERS = ('ClassBalancedDataset', 'ConcatDataset', 'RepeatDataset',
                    'KFoldDataset')
_DOC = 'mmcls 0.x only for now (docs/mmpretrain.md)'


def apply_geda(cfg,
               fraction: float,
               method: str = 'geda',
               *,
               hook: Optional[Dict[str, Any]] = None,
               epoch_pause: Optional[float] = None,
               **options: Any):
    """Wrap ``train_dataloader.dataset`` in ``GEDASubsetDataset`` and add
    the ``GradNormHook`` (mmpretrain 1.x / mmengine).

    The same call as on mmcls 0.x (:func:`mmcls_geda.apis.apply_geda`),
    for what the mmengine hook serves: selections (``'geda'``,
    ``'random'``, ``'topk'``, ``'craig'``, ``'gradmatch'``, ...) once or
    on a schedule (``hook=dict(warmup_epochs=1,
    interval=4, then=dict(method=..., start_epoch=E, interval=R))``),
    scored by the training model, a ``checkpoint`` or a ``scoring_model``
    proxy; or a per-epoch method (``'rs2'``, ``'geda_rotate'``,
    ``'strata_rotate'``; any ``budget`` and ``refold``). A budget schedule
    sets ``train_dataloader.sampler = dict(type='EpochPlanSampler')``
    and ``default_hooks.param_scheduler =
    dict(type='EpochProgressParamSchedulerHook')``. Every argument is
    checked before the copy is returned: a bad fraction, an unknown
    method, option or hook argument, a warm-up that is not a whole number
    of epochs of ``train_cfg.max_epochs``, weights or recorded losses for
    a model other than an ``ImageClassifier`` or with batch augments, and
    what is mmcls 0.x only for now (a per-epoch method scored by a
    ``checkpoint`` or a ``scoring_model``) are a ValueError naming the
    value.

    A run that trains with per-sample weights (CRAIG, GRAD-MATCH,
    ``hook=dict(weights='gradmatch')``, a weighted ``then``) or reads the
    training losses (``refold='loss'``, the rotations' default) gets
    ``model.type='WeightedImageClassifier'``, which applies the weights to
    the loss and records the losses (an ``ImageClassifier`` without batch
    augments only).

    The config is copied, not changed. Applying it to a config that
    already has GEDA replaces the fraction (the wrapper's other arguments,
    e.g. a ``selection_file``, are dropped), the method and the hook.
    ``mmcls_geda`` is added to ``custom_imports``.

    Args:
        cfg (mmengine.config.Config | dict): An mmpretrain classification
            config with an epoch-based training loop and a
            ``train_dataloader``.
        fraction: Fraction of the training data to keep (per epoch, for a
            per-epoch method), in (0, 1].
        method: Selection method (see ``mmcls_geda.selection``).
        hook: Further GradNormHook arguments (``scope``, ``seed``,
            ``interval``, ``warmup_epochs``, ``then``, ``checkpoint``,
            ``scoring_model``, ``weighted``, ``scoring_pipeline``,
            ``scoring_batch_size``, ``scoring_workers``, ``save_norms``,
            ``report``).
        epoch_pause: None or 0: mmengine's ``EpochBasedTrainLoop`` has no
            pause between epochs to remove (on mmcls 0.x a number chooses
            the pauseless runner); another value is refused.
        **options: The method's options (e.g. ``nodes=5``,
            ``replace=True``).

    Returns:
        The same type as ``cfg``: the GEDA config.
    """
    entry = get_method(method)
    if entry.per_epoch and entry.epoch.whole_data:
        raise ValueError(
            f'method {method!r} prunes the whole training set every epoch: '
            'build its config with apply_pruning (ratio=..., rule=...), '
            'which also sets the unnormalised loss weights')
    return _apply(cfg, fraction, method, hook, epoch_pause, options)


def _apply(cfg, fraction: float, method: str, hook: Optional[Dict[str, Any]],
           epoch_pause: Optional[float], options: Dict[str, Any]):
    """:func:`apply_geda` (and :func:`apply_pruning`) once the method is
    known to be theirs."""
    fraction = check_fraction(fraction)
    hook = dict(hook or {})
    unknown = sorted(set(hook) - set(HOOK_ARGS))
    if unknown:
        raise ValueError(
            f'hook takes GradNormHook arguments other than method and '
            f'options (given as apply_geda\'s own arguments); unknown or '
            f'doubled: {unknown}; allowed: {sorted(HOOK_ARGS)}')
    if epoch_pause not in (None, 0):
        raise ValueError(
            f'epoch_pause={epoch_pause!r}: mmengine\'s EpochBasedTrainLoop '
            'has no pause between epochs (the pauseless runner is mmcv 1.x '
            'only); leave epoch_pause at None')
    # fail now, not in the runner
    args = SelectionArgs(method=method, options=dict(options), **hook)
    check_static(args, hook)
    plain, as_config, filename = _plain(cfg)
    _check_loop(plain)
    max_epochs = (plain.get('train_cfg') or {}).get('max_epochs')
    if max_epochs is not None:
        # the hook's bounds, with the fraction for the share of a pass an
        # epoch serves (the hook uses the exact class budgets)
        warmup_end = warmup_epoch_count(args.warmup_epochs, max_epochs,
                                        fraction)
        if args.then is not None:
            check_then_start(args.then['start_epoch'], warmup_end, max_epochs)
    train = _train_dataset(plain)
    if _type_name(train.get('type')) == WRAPPER:
        train = train['dataset']
    if _type_name(train.get('type')) in DATASET_WRAPPERS:
        raise ValueError(
            f'train_dataloader.dataset is a {_type_name(train["type"])}: '
            f'GradNormHook on mmpretrain 1.x scores and serves a {WRAPPER} '
            'around the training set itself, not around another dataset '
            f'wrapper, which is {_DOC}')
    plain['train_dataloader']['dataset'] = dict(
        type=WRAPPER, fraction=fraction, dataset=train)
    hooks = [
        h for h in (plain.get('custom_hooks') or [])
        if _type_name(h.get('type')) != HOOK
    ]
    plain['custom_hooks'] = hooks + [
        dict(
            type=HOOK,
            method=method,
            options=dict(options),
            priority='HIGHEST',
            **hook)
    ]
    if args.trains_weighted():
        # CRAIG / GRAD-MATCH weights reach the loss through this classifier
        why, fix = args.weighted_why()
        _weighted_model(plain, f'{why} trains with per-sample weights',
                        'applies to its loss', fix)
    if args.per_epoch():
        _serve_epochs(plain, args)
    import_plugin(plain)
    return Config(plain, filename=filename) if as_config else plain


def _weighted_model(cfg: dict, why: str, does: str, fix: str) -> None:
    """Make ``cfg``'s ``ImageClassifier`` mmcls_geda's
    ``WeightedImageClassifier`` (in place), or a ValueError naming what
    cannot take the weights or record the losses (``why``: what needs
    them; ``does``: what the classifier does with them): another model
    type, batch augments."""
    model = cfg.get('model') or {}
    kind = _type_name(model.get('type'))
    if kind not in ('ImageClassifier', WEIGHTED_MODEL):
        raise ValueError(
            f"{why}, which mmcls_geda's {WEIGHTED_MODEL} (an "
            f'ImageClassifier) {does}; model.type is {kind!r}: {fix}')
    augments = (model.get('train_cfg') or {}).get('augments')
    if augments:
        raise ValueError(
            f'{why}, and model.train_cfg.augments={augments!r} (Mixup/CutMix) '
            f'mix samples, so a weight or loss would belong to a mixture of '
            f'two: drop the augments, or {fix}')
    model['type'] = WEIGHTED_MODEL


def _serve_epochs(cfg: dict, args: SelectionArgs) -> None:
    """What a per-epoch method needs of the config (in place): a budget
    schedule the ``EpochPlanSampler`` and the schedules by epoch
    progress (``EpochProgressParamSchedulerHook``); a method reading the
    training losses a ``WeightedImageClassifier`` (an ``ImageClassifier``
    becomes one; another model is a ValueError)."""
    loader = cfg['train_dataloader']
    sampler = _type_name((loader.get('sampler') or {}).get('type'))
    rule = get_method(args.method).epoch
    if rule.varies(args.resolved_options()):
        loader['sampler'] = dict(type='EpochPlanSampler')
        hooks = dict(cfg.get('default_hooks') or {})
        hooks['param_scheduler'] = dict(type='EpochProgressParamSchedulerHook')
        cfg['default_hooks'] = hooks
    elif sampler == 'EpochPlanSampler':  # applied again, constant
        loader['sampler'] = dict(type='DefaultSampler', shuffle=True)
    if not args.needs_losses():
        return
    who, otherwise = args.losses_why()
    _weighted_model(cfg, f'{who} reads the per-sample training losses',
                    'records', f'use an ImageClassifier, or {otherwise}')
    if rule.unnormalised_weights:  # pruning: unbiased summed gradient
        cfg['model']['normalize_weights'] = False


def apply_pruning(cfg,
                  ratio: float = PruningArgs.ratio,
                  rule: str = PruningArgs.rule,
                  anneal: float = PruningArgs.anneal,
                  seed: int = PruningArgs.seed,
                  epoch_pause: Optional[float] = None):
    """Dynamic pruning (InfoBatch's rule, or its ``'random'`` control) on
    an mmengine config: the same call as on mmcls 0.x
    (:func:`mmcls_geda.apis.apply_pruning`).

    What :func:`apply_geda` writes for the rule's per-epoch method
    (``'infobatch'`` / ``'random_pruning'``, options ``ratio`` and
    ``anneal``) at
    ``fraction=1.0``: ``train_dataloader.dataset`` wrapped in
    ``GEDASubsetDataset`` (resized every epoch), ``EpochPlanSampler``,
    ``EpochProgressParamSchedulerHook``, the ``ImageClassifier`` made a
    ``WeightedImageClassifier`` with ``normalize_weights=False`` and the
    ``GradNormHook``. Every argument is checked before the copy is
    returned.

    Args:
        cfg (mmengine.config.Config | dict): An mmpretrain classification
            config with an epoch-based training loop.
        ratio: The probability that a below-mean-loss sample is dropped in
            a pruned epoch, in (0, 0.9].
        rule: ``'infobatch'`` (candidates by the loss) or ``'random'`` (as
            many candidates, drawn uniformly: the control).
        anneal: Share of the epochs, at the end, on all data.
        seed: Seed of the per-epoch draws.
        epoch_pause: None or 0, as :func:`apply_geda`'s.

    Returns:
        The same type as ``cfg``.
    """
    settings = PruningArgs(ratio, rule, anneal, seed)
    return _apply(cfg, 1.0, pruning_method(settings.rule),
                  dict(seed=settings.seed), epoch_pause,
                  dict(ratio=settings.ratio, anneal=settings.anneal))


def _plain(cfg) -> Tuple[dict, bool, Optional[str]]:
    """A deep copy of ``cfg`` as plain dicts, whether it was an mmengine
    ``Config`` and its file name (kept: mmengine names the dumped config
    and tools name the work_dir after it)."""
    if isinstance(cfg, Config):
        return cfg.to_dict(), True, cfg.filename
    if isinstance(cfg, dict):
        return copy.deepcopy(dict(cfg)), False, None
    raise TypeError('apply_geda takes an mmengine Config or a dict, got '
                    f'{type(cfg).__name__}')


def _type_name(value: Any) -> Any:
    """A config's ``type`` as a name (lazy-import configs give classes)."""
    return value if isinstance(value, str) or value is None else getattr(
        value, '__name__', value)


def _check_loop(cfg: dict) -> None:
    """A ValueError unless the training loop is epoch-based (the hook acts
    before an epoch; mmengine's default ``train_cfg`` is by epoch)."""
    train_cfg = cfg.get('train_cfg') or {}
    loop = _type_name(train_cfg.get('type'))
    by_iter = (
        loop == 'IterBasedTrainLoop' if loop is not None else
        train_cfg.get('by_epoch') is False or 'max_iters' in train_cfg)
    if by_iter:
        raise ValueError(
            f'train_cfg={train_cfg!r} is iteration-based: GradNormHook '
            'selects before a training epoch, so it needs an '
            'EpochBasedTrainLoop (train_cfg = dict(by_epoch=True, '
            'max_epochs=...))')


def _train_dataset(cfg: dict) -> dict:
    """``cfg['train_dataloader']['dataset']``, or a ValueError."""
    loader = cfg.get('train_dataloader')
    dataset = loader.get('dataset') if isinstance(loader, dict) else None
    if not isinstance(dataset, dict):
        raise ValueError(
            'apply_geda needs an mmengine config with a training set in '
            'train_dataloader.dataset; this config has '
            f"{'no train_dataloader' if loader is None else loader!r}")
    return dataset
