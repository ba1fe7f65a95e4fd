"""``apply_geda`` and the checks of the hook's arguments."""
import copy
import inspect
import os.path as osp
from typing import Any, Dict, Optional

from ..scoring import SCOPES
from ..selection import check_fraction, check_seed, get_method, resolve_options
from ..selection.pruning import check_pruning_args
from ..selection.registry import check_int
from ..selection.rotation import needs_losses
from ..selection.schedule import (check_then, check_warmup,
                                  check_warmup_budget, check_weights)


def check_hook_args(method: str = 'geda',
                    options: Optional[Dict[str, Any]] = None,
                    scope: str = 'full',
                    seed: int = 0,
                    interval: int = 0,
                    scoring_pipeline: Optional[list] = None,
                    scoring_batch_size: int = 64,
                    scoring_workers: int = 2,
                    checkpoint: Optional[str] = None,
                    scoring_model: Optional[dict] = None,
                    weighted: bool = True,
                    save_norms: bool = True,
                    report: bool = True,
                    warmup_epochs: float = 0.0,
                    weights: Optional[Any] = None,
                    then: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Check every GradNormHook argument that needs no data.

    Called by the hook when it is built and by :func:`apply_geda`, so a bad
    value fails before any expensive work, naming the value and what is
    allowed.

    Returns:
        dict: The method's options with defaults filled in.
    """
    resolved = resolve_options(method, dict(options or {}))
    if scope not in SCOPES:
        raise ValueError(f'unknown scope {scope!r}; choose one of '
                         f'{list(SCOPES)}')
    check_seed(seed)
    if isinstance(interval,
                  bool) or not isinstance(interval, int) or interval < 0:
        raise ValueError(f'interval must be an integer >= 0 (0: select '
                         f'once), got {interval!r}')
    check_int(scoring_batch_size, 'scoring_batch_size', 1)
    check_int(scoring_workers, 'scoring_workers', 0)
    if scoring_pipeline is not None and not isinstance(scoring_pipeline,
                                                       (list, tuple)):
        raise ValueError('scoring_pipeline must be a list of transforms, got '
                         f'{type(scoring_pipeline).__name__}')
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f'scoring checkpoint {checkpoint!r} not found (nothing is '
            'downloaded: give a local file)')
    if scoring_model is not None and not isinstance(scoring_model, dict):
        raise ValueError('scoring_model must be a classifier config dict, '
                         f'got {type(scoring_model).__name__}')
    for name, flag in (('weighted', weighted), ('save_norms', save_norms),
                       ('report', report)):
        if not isinstance(flag, bool):
            raise ValueError(f'{name} must be True or False, got {flag!r}')
    check_warmup(warmup_epochs)
    if check_weights(weights, method) is not None and not weighted:
        raise ValueError(f'weights={weights!r} asks for weighted training, '
                         'and weighted=False drops the weights: set '
                         'weighted=True or weights=None')
    check_then(then)
    return resolved


# Every GradNormHook argument with its default.
HOOK_DEFAULTS: Dict[str, Any] = {
    name: param.default
    for name, param in inspect.signature(check_hook_args).parameters.items()
}
HOOK_ARGS = tuple(HOOK_DEFAULTS)


def apply_geda(cfg,
               fraction: float,
               method: str = 'geda',
               *,
               hook: Optional[Dict[str, Any]] = None,
               **options: Any):
    """Wrap ``data.train`` in GEDASubsetDataset and add the GradNormHook.

    For the weighted methods (``'craig'``, ``'gradmatch'``), for
    ``weights='gradmatch'`` and for a weighted second phase, an
    ``ImageClassifier`` becomes a ``WeightedImageClassifier``.

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
    check_hook_args(method, options, **hook)
    then = hook.get('then')
    weighted = hook.get('weighted', True) and (
        get_method(method).weighted or hook.get('weights') is not None or
        (then is not None and get_method(then['method']).weighted))
    cfg, as_config = _plain(cfg)
    max_epochs = (cfg.get('runner') or {}).get('max_epochs')
    if max_epochs is not None:
        check_warmup_budget(
            hook.get('warmup_epochs', 0.0), max_epochs, fraction)
    train = cfg['data']['train']
    if train.get('type') == 'GEDASubsetDataset':
        train = train['dataset']
    cfg['data']['train'] = dict(
        type='GEDASubsetDataset', fraction=fraction, dataset=train)
    if weighted:
        # CRAIG / GRAD-MATCH weights reach the loss through this classifier
        _weighted_model(
            cfg, f'method {method!r} (or its schedule\'s weights or second '
            'phase) trains with per-sample weights',
            'pass hook=dict(weighted=False) to train the subset unweighted')
    elif needs_losses(method, resolve_options(method, options)):
        # the per-sample training losses are recorded by this classifier
        _weighted_model(
            cfg, f"method {method!r} with refold='loss' records per-sample "
            'training losses', "choose refold='grad_norm' or 'fixed'")
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
                  keep: float = 0.7,
                  anneal: float = 0.125,
                  seed: int = 0):
    """Turn any mmcls classification config into dynamic pruning.

    Wraps ``data.train`` in ``DynamicPruningDataset``, sets
    ``sampler=dict(type='DynamicPruningSampler')``, makes an
    ``ImageClassifier`` a ``WeightedImageClassifier`` with
    ``normalize_weights=False`` and adds the ``DynamicPruningHook``. The
    config is copied, not changed.

    Args:
        cfg (mmcv.Config | dict): An mmcls classification config.
        keep: Share of the data a pruned epoch processes, in (0, 1].
        anneal: Share of the epochs, at the end, on all data.
        seed: Seed of the per-epoch draws.

    Returns:
        The same type as ``cfg``.
    """
    check_pruning_args(keep, anneal, seed)
    cfg, as_config = _plain(cfg)
    train = cfg['data']['train']
    if train.get('type') == 'DynamicPruningDataset':
        train = train['dataset']
    cfg['data']['train'] = dict(type='DynamicPruningDataset', dataset=train)
    cfg['sampler'] = dict(type='DynamicPruningSampler')
    _weighted_model(cfg, 'dynamic pruning weights the kept low-loss samples',
                    'use an ImageClassifier')
    cfg['model']['normalize_weights'] = False
    _add_hook(
        cfg,
        dict(
            type='DynamicPruningHook',
            keep=keep,
            anneal=anneal,
            seed=seed,
            priority='HIGHEST'))
    return _returned(cfg, as_config)


def _plain(cfg):
    """A deep copy as plain dicts (nested values come back as ConfigDicts),
    and whether ``cfg`` was an ``mmcv.Config``."""
    from mmcv import Config
    as_config = isinstance(cfg, Config)
    return (cfg._cfg_dict.to_dict() if as_config else copy.deepcopy(cfg),
            as_config)


def _returned(cfg: dict, as_config: bool):
    imports = dict(cfg.get('custom_imports') or {})
    names = list(imports.get('imports', []))
    if 'mmcls_geda' not in names:
        names.append('mmcls_geda')
    cfg['custom_imports'] = dict(
        imports, imports=names, allow_failed_imports=False)
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
