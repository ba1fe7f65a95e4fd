"""``apply_geda``, ``apply_pruning`` and their config checks."""
import copy
from typing import Any, Dict, Optional

from ..runners import set_runner
from ..selection import check_fraction, get_method
from ..selection.epoch_budgets import epoch_shares
from ..selection.pruning import PruningArgs
from ..selection.registry import pruning_method
from ..selection.schedule import check_then_start, warmup_epoch_count
from .config_dicts import import_plugin
from .settings import SelectionArgs

# Every GradNormHook argument (from SelectionArgs).
HOOK_ARGS = SelectionArgs.names()
# The schedules a run whose epochs vary wraps, and the wrapper's policy
# (mmcls_geda.hooks.epoch_progress: schedules by epoch progress).
SCHEDULE_KEYS = ('lr_config', 'momentum_config')
PROGRESS_POLICY = 'EpochProgress'
# The sampler of every GradNormHook run (epochs of varying length in the
# hook's plan, fixed-length ones in mmcls's default order;
# DynamicPruningSampler in configs written before 2026-12-07 is it too).
PLAN_SAMPLER = 'EpochPlanSampler'
# The config names of dynamic pruning before 2026-12-07.
_OLD_PRUNING = ('DynamicPruningDataset', 'DynamicPruningHook')


def _prunes(cfg) -> bool:
    """Whether ``cfg`` prunes its data (a pruning method's GradNormHook, or
    the names of configs written before 2026-12-07)."""
    train = (cfg.get('data') or {}).get('train') or {}
    for hook in cfg.get('custom_hooks') or []:
        if hook.get('type') in _OLD_PRUNING:
            return True
        if hook.get('type') == 'GradNormHook':
            rule = get_method(hook.get('method', SelectionArgs.method)).epoch
            if rule is not None and rule.whole_data:
                return True
    return train.get('type') in _OLD_PRUNING


def check_not_combined(cfg, pruning: bool) -> None:
    """A ValueError if ``cfg`` already chooses its training data the other
    way: a GEDA subset (``apply_geda``) and dynamic pruning
    (``apply_pruning``) each decide what an epoch serves.

    Args:
        cfg: The config being changed.
        pruning: Whether pruning is about to be added.
    """
    train = (cfg.get('data') or {}).get('train') or {}
    hooks = {h.get('type') for h in cfg.get('custom_hooks') or []}
    prunes = _prunes(cfg)
    subsets = not prunes and (train.get('type') == 'GEDASubsetDataset'
                              or 'GradNormHook' in hooks)
    if (prunes and not pruning) or (subsets and pruning):
        done, adding = (('apply_pruning', 'apply_geda') if prunes else
                        ('apply_geda', 'apply_pruning'))
        raise ValueError(
            f'this config already uses {done}; {adding} cannot be added to '
            'it: both choose the training data of every epoch. Start from '
            'the config without it (e.g. the full-data config under '
            'configs/resnet/)')


def apply_geda(cfg,
               fraction: float,
               method: str = 'geda',
               *,
               hook: Optional[Dict[str, Any]] = None,
               epoch_pause: Optional[float] = None,
               **options: Any):
    """Wrap ``data.train`` in GEDASubsetDataset and add the GradNormHook.

    For the weighted methods (``'craig'``, ``'gradmatch'``), for
    ``weights='gradmatch'`` and for a weighted second phase, an
    ``ImageClassifier`` becomes a ``WeightedImageClassifier``; so it does
    for ``geda_rotate`` / ``strata_rotate`` with ``refold='loss'``, whose
    later cycles fold on the per-sample training losses it records.

    Schedules are hook arguments: ``hook=dict(warmup_epochs=1)`` (score
    after one full pass of warm-up), ``hook=dict(interval=4,
    weights='gradmatch')`` (online GEDA with weights),
    ``hook=dict(then=dict(method='gradmatch', start_epoch=4, interval=4))``
    (GEDA as a warm start). Every schedule serves the same number of
    samples: ``fraction x max_epochs`` passes of the data.

    For pipelines that build configs in Python (template repositories).
    The config is copied, not changed. Applying it to a config that already
    has GEDA replaces the fraction, the method and the hook.

    Args:
        cfg (mmcv.Config | dict): An mmcls classification config.
        fraction: Fraction of the training data to keep, in (0, 1].
        method: Selection method (see ``mmcls_geda.selection``).
        hook: Further GradNormHook arguments (``scope``, ``seed``,
            ``interval``, ``warmup_epochs``, ``weights``, ``then``,
            ``scoring_pipeline``, ``checkpoint``, ...).
        epoch_pause: None: keep the config's runner; a number of seconds
            (0 for none): train with ``PauselessEpochBasedRunner``, which
            sleeps that long at each epoch start instead of mmcv's 2 s.
        **options: The method's options (e.g. ``nodes=5``).

    Returns:
        The same type as ``cfg``: the GEDA config.
    """
    fraction = check_fraction(fraction)
    hook = dict(hook or {})
    unknown = sorted(set(hook) - set(HOOK_ARGS) - {'method', 'options'})
    if unknown or 'method' in hook or 'options' in hook:
        raise ValueError(
            f'hook takes GradNormHook arguments other than method and '
            f'options (given as apply_geda\'s own arguments); unknown or '
            f'doubled: {unknown or sorted({"method", "options"} & set(hook))}'
            f'; allowed: {sorted(set(HOOK_ARGS) - {"method", "options"})}')
    # fail now, not in the runner
    args = SelectionArgs(method=method, options=dict(options), **hook)
    if args.per_epoch() and get_method(method).epoch.whole_data:
        raise ValueError(
            f'method {method!r} prunes the whole training set every epoch: '
            'build its config with apply_pruning (ratio=..., rule=...), '
            'which also sets the unnormalised loss weights')
    check_not_combined(cfg, pruning=False)
    cfg, as_config = _plain(cfg)
    if epoch_pause is not None:
        set_runner(cfg, epoch_pause)
    max_epochs = (cfg.get('runner') or {}).get('max_epochs')
    budget = args.resolved_options().get('budget', 'constant')
    if max_epochs is not None and budget != 'constant':
        # what the fraction alone decides (the hook checks every class)
        epoch_shares(budget, fraction, max_epochs)
    if max_epochs is not None:
        # the hook's bounds, with the fraction for the share of a pass an
        # epoch serves (the hook uses the exact class budgets)
        warmup_end = warmup_epoch_count(args.warmup_epochs, max_epochs,
                                        fraction)
        if args.then is not None:
            check_then_start(args.then['start_epoch'], warmup_end, max_epochs)
    train = cfg['data']['train']
    if train.get('type') == 'GEDASubsetDataset':
        train = train['dataset']
    cfg['data']['train'] = dict(
        type='GEDASubsetDataset', fraction=fraction, dataset=train)
    # every epoch is served through the hook's sampler: a budget
    # schedule's of varying length, the others in mmcls's default order
    cfg['sampler'] = dict(type=PLAN_SAMPLER)
    if budget != 'constant':
        wrap_schedules(cfg)
    if args.trains_weighted():
        # CRAIG / GRAD-MATCH weights reach the loss through this classifier
        why, fix = args.weighted_why()
        _weighted_model(cfg, f'{why} trains with per-sample weights', fix)
    elif args.needs_losses():
        # the per-sample training losses are recorded by this classifier
        who, fix = args.losses_why()
        _weighted_model(cfg, f'{who} records per-sample training losses', fix)
    _add_hook(
        cfg,
        dict(
            type='GradNormHook',
            method=method,
            options=dict(options),
            priority='HIGHEST',
            **hook))
    return _returned(cfg, as_config)


def apply_pruning(cfg,
                  ratio: float = PruningArgs.ratio,
                  rule: str = PruningArgs.rule,
                  anneal: float = PruningArgs.anneal,
                  seed: int = PruningArgs.seed,
                  epoch_pause: Optional[float] = None):
    """Turn any mmcls classification config into dynamic pruning.

    Wraps ``data.train`` in ``GEDASubsetDataset`` with ``fraction=1.0``
    (resized every epoch), sets ``sampler=dict(type='EpochPlanSampler')``,
    wraps the schedules to follow the epoch progress, makes an
    ``ImageClassifier`` a ``WeightedImageClassifier`` with
    ``normalize_weights=False`` and adds a ``GradNormHook`` serving the
    rule's method (``'infobatch'`` or ``'random_pruning'``, see
    ``docs/pruning.md``). The config is copied, not changed.

    Args:
        cfg (mmcv.Config | dict): An mmcls classification config.
        ratio: The probability that a below-mean-loss sample is dropped in
            a pruned epoch, in (0, 0.9].
        rule: ``'infobatch'`` (candidates by the loss) or ``'random'`` (as
            many candidates, drawn uniformly: the control).
        anneal: Share of the epochs, at the end, on all data.
        seed: Seed of the per-epoch draws.
        epoch_pause: As :func:`apply_geda`'s: None keeps the runner, a
            number of seconds trains with ``PauselessEpochBasedRunner``.

    Returns:
        The same type as ``cfg``.
    """
    settings = PruningArgs(ratio, rule, anneal, seed)
    check_not_combined(cfg, pruning=True)
    cfg, as_config = _plain(cfg)
    if epoch_pause is not None:
        set_runner(cfg, epoch_pause)
    train = cfg['data']['train']
    if train.get('type') in ('GEDASubsetDataset', ) + _OLD_PRUNING:
        train = train['dataset']
    cfg['data']['train'] = dict(
        type='GEDASubsetDataset', fraction=1.0, dataset=train)
    cfg['sampler'] = dict(type=PLAN_SAMPLER)
    wrap_schedules(cfg)
    _weighted_model(cfg, 'dynamic pruning weights the kept low-loss samples',
                    'use an ImageClassifier')
    cfg['model']['normalize_weights'] = False
    cfg['custom_hooks'] = [
        h for h in cfg.get('custom_hooks') or []
        if h.get('type') not in _OLD_PRUNING
    ]
    _add_hook(
        cfg,
        dict(
            type='GradNormHook',
            method=pruning_method(settings.rule),
            options=dict(ratio=settings.ratio, anneal=settings.anneal),
            seed=settings.seed,
            priority='HIGHEST'))
    return _returned(cfg, as_config)


def use_pauseless_runner(cfg, epoch_pause: Optional[float] = 0.0):
    """A copy of ``cfg`` trained by ``PauselessEpochBasedRunner``.

    Keeps the runner's other settings (``max_epochs``) and adds
    ``mmcls_geda`` to ``custom_imports`` (the runner is registered when the
    package is imported). ``epoch_pause=None`` returns the config with
    mmcv's ``EpochBasedRunner`` (the pause of 2 s), for comparisons.

    Args:
        cfg (mmcv.Config | dict): An mmcls config with an epoch-based
            runner (``EpochBasedRunner`` or the pauseless one).
        epoch_pause: Seconds slept at each epoch start (>= 0), or None for
            mmcv's own runner.

    Returns:
        The same type as ``cfg``.
    """
    cfg, as_config = _plain(cfg)
    set_runner(cfg, epoch_pause)
    return _returned(cfg, as_config)


def wrap_schedules(cfg: Dict[str, Any]) -> None:
    """Wrap ``cfg``'s learning-rate and momentum schedules (in place, once)
    so that they follow the epoch progress when the epochs' lengths vary:
    ``lr_config = dict(policy='EpochProgress', schedule=<the schedule>)``
    (:mod:`mmcls_geda.hooks.epoch_progress`)."""
    for key in SCHEDULE_KEYS:
        schedule = cfg.get(key)
        if isinstance(schedule, dict) and \
                schedule.get('policy') != PROGRESS_POLICY:
            cfg[key] = dict(policy=PROGRESS_POLICY, schedule=dict(schedule))


def _plain(cfg):
    """A deep copy as plain dicts (nested values come back as ConfigDicts),
    and whether ``cfg`` was an ``mmcv.Config``."""
    from mmcv import Config
    as_config = isinstance(cfg, Config)
    return (cfg._cfg_dict.to_dict() if as_config else copy.deepcopy(cfg),
            as_config)


def _returned(cfg: dict, as_config: bool):
    import_plugin(cfg)
    if as_config:
        from mmcv import Config
        return Config(cfg)
    return cfg


def _weighted_model(cfg: dict, why: str, otherwise: str) -> None:
    if cfg['model']['type'] not in ('ImageClassifier',
                                    'WeightedImageClassifier'):
        raise ValueError(f"{why}, which model type {cfg['model']['type']!r} "
                         f'cannot take; {otherwise}')
    cfg['model']['type'] = 'WeightedImageClassifier'


def _add_hook(cfg: dict, hook_cfg: dict) -> None:
    """Add ``hook_cfg``, replacing a hook of the same type."""
    hooks = [
        h for h in (cfg.get('custom_hooks') or [])
        if h.get('type') != hook_cfg['type']
    ]
    cfg['custom_hooks'] = hooks + [hook_cfg]
