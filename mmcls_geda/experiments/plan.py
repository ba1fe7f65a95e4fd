"""A grid's plan: its runs, their names, the settings that make each one,
and every check that can fail before anything is trained or deleted."""
import hashlib
import json
import os.path as osp
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..selection import files
from ..selection.checks import check_fraction, check_seed
from ..selection.files import check_folder
from .spec import Spec

SETTINGS_FILE = 'settings.json'  # in every run folder: what made it
RESULT_FILE = 'result.json'  # in every finished run folder
# what mmcls's tools/train.py sets in the config.py it dumps into a run
# folder: where and on which GPUs, not what is trained
_ADDED_BY_TRAIN = ('work_dir', 'gpu_ids', 'ipu_replicas')


@dataclass(frozen=True)
class Run:
    """One training run of a grid.

    Attributes:
        spec: The method spec.
        fraction: The planned fraction (1 for ``full``; None for dynamic
            pruning, whose share of samples is measured).
        seed: Seed of initialisation, data order and selection.
    """
    spec: Spec
    fraction: Optional[float]
    seed: int

    @property
    def name(self) -> str:
        """The run folder's name: ``METHOD[-fFRACTION]-sSEED``."""
        frac = '' if self.fraction is None else f'-f{self.fraction:g}'
        return f'{self.spec.text}{frac}-s{self.seed}'


def distinct(values: Sequence, name: str, key=lambda v: v) -> Tuple[list, str]:
    """``values`` without repeats (by ``key``), first kept; and a message
    naming what was dropped (empty if nothing)."""
    kept, seen, dropped = [], {}, []
    for value in values:
        k = key(value)
        if k in seen:
            dropped.append(f'{value!r} (same as {seen[k]!r})')
        else:
            seen[k] = value
            kept.append(value)
    note = (f'{name}: dropped repeated {", ".join(dropped)}; running '
            f'{kept}' if dropped else '')
    return kept, note


def fraction_key(fraction: float) -> str:
    """Fractions that give the same run name are the same cell."""
    return f'{fraction:g}'


def build_plan(specs: Sequence[Spec], fractions: Sequence[float],
               seeds: Sequence[int], full_seeds: Sequence[int],
               full: bool) -> List[Run]:
    """Every run: ``full`` once per full seed, each pruning spec once per
    seed, each subset spec per fraction and seed; names are unique."""
    for fraction in fractions:
        check_fraction(fraction, '--fractions')
    for seed in list(seeds) + list(full_seeds):
        check_seed(seed, '--seeds')
    plan = [Run(Spec('full', 'full'), 1.0, s)
            for s in full_seeds] if full else []
    for spec in specs:
        if spec.kind == 'full':
            plan += [Run(spec, 1.0, s) for s in full_seeds]
        elif spec.kind == 'pruning':
            plan += [Run(spec, None, s) for s in seeds]
        else:
            plan += [Run(spec, f, s) for f in fractions for s in seeds]
    names = [run.name for run in plan]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f'runs planned twice: {repeated}; give each method '
                         'once (full is also added by --full)')
    return plan


def check_evaluation(cfg, what: str) -> None:
    """A ValueError unless the run validates at its last epoch.

    A grid reads each run's result from its last validation: with
    ``evaluation.interval`` not dividing ``runner.max_epochs`` the last
    epoch is not validated and the run would train for nothing.
    """
    evaluation = cfg.get('evaluation')
    epochs = cfg.runner.max_epochs
    if not evaluation:
        raise ValueError(f'{what} does not evaluate: add '
                         f'evaluation=dict(interval={epochs}, '
                         "metric='accuracy') to the config")
    interval = evaluation.get('interval', 1)
    if evaluation.get('by_epoch', True) and epochs % interval:
        raise ValueError(
            f'{what}: runner.max_epochs={epochs} is not a multiple of '
            f'evaluation.interval={interval}, so the last epoch is not '
            'validated and the run has no result; add --cfg-options '
            f'evaluation.interval={epochs} (or another divisor of '
            f'{epochs})')


def check_work_dir(work_dir: str, arg: str = '--work-dir') -> None:
    """A ValueError if ``work_dir`` names a file, lies under one or cannot
    be written (:func:`~mmcls_geda.selection.files.check_folder`)."""
    check_folder(work_dir, arg)


def flat_config(cfg) -> Dict[str, str]:
    """The config as ``{'a.b.0.c': repr(value)}`` (list items by their
    position), for naming differences."""
    out = {}

    def walk(value, prefix):
        if isinstance(value, dict) and value:
            for key in sorted(value):
                walk(value[key], f'{prefix}.{key}' if prefix else str(key))
        elif isinstance(value, (list, tuple)) and value:
            for i, item in enumerate(value):
                walk(item, f'{prefix}.{i}')
        else:
            out[prefix] = repr(value)

    walk(cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg), '')
    return out


def run_settings(cfg, run: Run, device: Optional[str],
                 gpus: int) -> Dict[str, Any]:
    """What makes a run: its config (hash and flat form), method, planned
    fraction, seed, device and number of GPUs."""
    config = flat_config(cfg)
    return dict(
        method=run.spec.text,
        fraction=run.fraction,
        seed=run.seed,
        device=device,
        gpus=gpus,
        config_sha256=_digest(config),
        config=config)


def run_differences(saved: Dict[str, Any], now: Dict[str, Any]) -> List[str]:
    """``'key: X there, Y now'`` for every setting of a run that differs
    (the config key by key), through the one settings comparison
    (:func:`~mmcls_geda.selection.files.settings_differences`)."""
    # settings a run dir of an older version lacks are not compared
    diffs = files.settings_differences(
        saved,
        now,
        '{key}: {saved!r} there, {now!r} now',
        keys=[
            key for key in now
            if key not in ('config', 'config_sha256') and key in saved
        ])
    if saved.get('config_sha256') != now['config_sha256']:
        old, new = saved.get('config') or {}, now['config']
        keys = [
            k for k in set(old) | set(new)
            if k.split('.')[0] not in _ADDED_BY_TRAIN
        ]
        diffs += files.settings_differences(
            {k: old.get(k, '(absent)')
             for k in keys}, {k: new.get(k, '(absent)')
                              for k in keys},
            'config {key}: {saved} there, {now} now')
    return diffs


def run_dir_state(run_dir: str, settings: Dict[str, Any]) -> str:
    """``'new'`` (nothing there), ``'done'`` (finished with these
    settings), ``'partial'`` (started with these settings, unfinished) or
    ``'stale'`` (made with other or unknown settings)."""
    if not osp.exists(run_dir):
        return 'new'
    saved = read_settings(run_dir)
    if saved is None or run_differences(saved, settings):
        return 'stale'
    return 'done' if osp.isfile(osp.join(run_dir, RESULT_FILE)) else 'partial'


def read_settings(run_dir: str) -> Optional[Dict[str, Any]]:
    """A run folder's settings: its ``settings.json``; for a finished
    folder of an older version without one, read back from its
    ``config.py`` and ``result.json`` (device and GPUs unknown: taken as
    the same); None if neither can be read."""
    try:
        with open(osp.join(run_dir, SETTINGS_FILE), encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        pass
    try:
        from .stacks import grid_stack
        Config = grid_stack().config_class()
        with open(osp.join(run_dir, RESULT_FILE), encoding='utf-8') as f:
            row = json.load(f)
        cfg = Config.fromfile(osp.join(run_dir, 'config.py'))
    except Exception:  # noqa: B902 (anything unreadable: unknown settings)
        return None
    config = flat_config(cfg)
    return dict(
        method=row.get('method'),
        fraction=row.get('fraction'),
        seed=row.get('seed'),
        config=config,
        config_sha256=_digest(config))


def _digest(config: Dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(config,
                                     sort_keys=True).encode()).hexdigest()


def stale_message(run_dir: str, settings: Dict[str, Any]) -> str:
    """Why ``run_dir`` does not hold the planned run, with both sides."""
    saved = read_settings(run_dir)
    if saved is None:
        why = (f'it has no readable {SETTINGS_FILE}, nor a config.py and '
               f'{RESULT_FILE} (an unfinished run of an older version, or '
               'not made by this tool)')
    else:
        diffs = run_differences(saved, settings)
        shown = '; '.join(diffs[:8]) + ('; ...' if len(diffs) > 8 else '')
        why = f'it was made with other settings ({shown})'
    return (f'{run_dir}: {why}; pass --force to train it again '
            '(its folder is replaced) or give another --work-dir')
