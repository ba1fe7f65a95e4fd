"""``apply_geda``: turn any mmcls classification config into its GEDA version."""
import copy
from typing import Any, Dict, Optional

from .selection import check_fraction
from .selection.api import EMBEDDING_METHODS, resolve_options


def apply_geda(cfg,
               fraction: float,
               method: str = 'geda',
               *,
               hook: Optional[Dict[str, Any]] = None,
               **options: Any):
    """Wrap ``data.train`` in GEDASubsetDataset and add the GradNormHook.

    For the weighted methods (``'craig'``, ``'gradmatch'``) an
    ``ImageClassifier`` becomes a ``WeightedImageClassifier``.

    For pipelines that build configs in Python (template repositories).
    The config is copied, not changed. Applying it to a config that already
    has GEDA replaces the fraction, the method and the hook.

    Args:
        cfg (mmcv.Config | dict): An mmcls classification config.
        fraction: Fraction of the training data to keep, in (0, 1].
        method: Selection method (see ``mmcls_geda.selection``).
        hook: Further GradNormHook arguments (``scope``, ``seed``,
            ``interval``, ``scoring_pipeline``, ``checkpoint``, ...).
        **options: The method's options (e.g. ``nodes=5``).

    Returns:
        The same type as ``cfg``: the GEDA config.
    """
    fraction = check_fraction(fraction)
    resolve_options(method, options)  # fail now, not in the runner
    weighted = method in EMBEDDING_METHODS and (hook or {}).get(
        'weighted', True)
    from mmcv import Config
    as_config = isinstance(cfg, Config)
    # plain dicts inside, so that nested values come back as ConfigDicts
    cfg = cfg._cfg_dict.to_dict() if as_config else copy.deepcopy(cfg)
    train = cfg['data']['train']
    if train.get('type') == 'GEDASubsetDataset':
        train = train['dataset']
    cfg['data']['train'] = dict(
        type='GEDASubsetDataset', fraction=fraction, dataset=train)
    if weighted:
        # CRAIG / GRAD-MATCH weights reach the loss through this classifier
        if cfg['model']['type'] not in ('ImageClassifier',
                                        'WeightedImageClassifier'):
            raise ValueError(
                f"method {method!r} trains with per-sample weights, which "
                f"model type {cfg['model']['type']!r} cannot take; pass "
                "hook=dict(weighted=False) to train the subset unweighted")
        cfg['model']['type'] = 'WeightedImageClassifier'
    hook_cfg = dict(
        type='GradNormHook',
        method=method,
        options=dict(options),
        priority='HIGHEST',
        **(hook or {}))
    hooks = [
        h for h in (cfg.get('custom_hooks') or [])
        if h.get('type') != 'GradNormHook'
    ]
    cfg['custom_hooks'] = hooks + [hook_cfg]
    imports = dict(cfg.get('custom_imports') or {})
    names = list(imports.get('imports', []))
    if 'mmcls_geda' not in names:
        names.append('mmcls_geda')
    cfg['custom_imports'] = dict(imports, imports=names,
                                 allow_failed_imports=False)
    return Config(cfg) if as_config else cfg
