"""The saved selection: file names, JSON schema, fingerprint, save and load.

The one owner of what a selection looks like on disk. The hook, the
wrapper, ``tools/geda_select.py``, ``tools/selection_report.py`` and
``tools/run_experiments.py`` read and write through these functions.

A record is a JSON object (schema 3)::

    {"schema": 3, "method": ..., "options": {...}, "scope": ...,
     "fraction": ..., "seed": ..., "weighted": ..., "weights": ...,
     "epoch": ..., "phase": ..., "schedule": {...},
     "fingerprint": {"length": n, "labels_sha256": ...},
     "timings": {"scoring_s": ..., "selection_s": ...},
     "selection": {... Selection.to_dict() ...}}

``options`` are the method's options with defaults filled in, ``seed``
the selection event's own seed (see
:func:`mmcls_geda.selection.schedule.selection_seed`), ``weights`` the
matching weights asked for (None: none), ``schedule`` the run's schedule
settings (warm-up, interval, second phase, seed). Only schema 3 is read:
records of older versions (schema 1, without a ``schema`` field, and
schema 2, before the selection's ``weighting`` and
``reference_objective``, ``weights``, ``phase`` and ``schedule``) are
refused with a message that says to select again.

A run also keeps ``geda_schedule.json``: ``{"settings": schedule,
"events": [...]}``, one event per phase change and selection (epoch,
phase, method, subset size, objective or matching error, time). A resumed
run refuses one without its ``settings`` (an older version's, or
unreadable): the run it records cannot be checked against this one.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .core import Selection
from .files import atomic_write, check_folder, settings_differ

SCHEMA_VERSION = 3
SELECTION_FILE = 'geda_selection.json'
NORMS_FILE = 'geda_norms.npy'
LABELS_FILE = 'geda_labels.npy'
REPORT_PNG = 'geda_selection_report.png'
REPORT_JSON = 'geda_selection_report.json'
SCHEDULE_FILE = 'geda_schedule.json'
# What a served or resumed record must share with the run (the fraction
# and the data are checked by check_fits).
SETTINGS = ('method', 'options', 'scope', 'weighted', 'weights')
_REQUIRED = ('method', 'fraction', 'fingerprint', 'selection')


def epoch_selection_file(epoch: int) -> str:
    """The per-epoch record name of a run that re-selects (``interval``)."""
    return f'geda_selection_epoch{int(epoch)}.json'


def selection_path(work_dir: str, epoch: int, per_epoch: bool) -> str:
    """Where a run keeps the record of the selection made at ``epoch``."""
    return osp.join(
        work_dir,
        epoch_selection_file(epoch) if per_epoch else SELECTION_FILE)


def check_writable(work_dir: str, per_epoch: bool = False) -> None:
    """A ValueError unless the records of a run can be written to
    ``work_dir``: checked before the scoring pass, so no work is lost."""
    check_folder(work_dir, 'work dir')
    names = [SELECTION_FILE, SCHEDULE_FILE
             ] + ([epoch_selection_file(0)] if per_epoch else [])
    for name in names:
        if osp.isdir(osp.join(work_dir, name)):
            raise ValueError(
                f'{osp.join(work_dir, name)} is a folder, where the '
                'selection record is written: remove it or choose another '
                'work_dir')


def labels_fingerprint(labels: np.ndarray) -> Dict[str, Any]:
    """What identifies a training set for a saved selection."""
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    return dict(
        length=int(labels.size),
        labels_sha256=hashlib.sha256(labels.tobytes()).hexdigest()[:16])


def make_record(selection: Selection,
                *,
                fingerprint: Dict[str, Any],
                scope: str,
                weighted: bool,
                epoch: int,
                scoring_s: float,
                extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The JSON-ready record of ``selection`` (``extra``: further fields,
    e.g. the seed the scoring model was initialised with)."""
    return dict(
        **(extra or {}),
        schema=SCHEMA_VERSION,
        method=selection.method,
        options=selection.options,
        scope=scope,
        fraction=selection.fraction,
        seed=selection.seed,
        weighted=bool(weighted),
        epoch=int(epoch),
        fingerprint=fingerprint,
        timings=dict(
            scoring_s=float(scoring_s), selection_s=float(selection.time_s)),
        selection=selection.to_dict())


def _dump_json(record: Dict[str, Any], path: str) -> None:
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(record, f)


def _save_npy(array: np.ndarray, path: str) -> None:
    with open(path, 'wb') as f:  # a handle: np.save would append '.npy'
        np.save(f, array)


def save_record(work_dir: str,
                record: Dict[str, Any],
                per_epoch: bool = False) -> List[str]:
    """Write ``record`` as ``geda_selection.json`` (and, for runs that
    re-select, as the epoch's own file), atomically.

    Returns:
        list[str]: The paths written.
    """
    os.makedirs(work_dir, exist_ok=True)
    names = [SELECTION_FILE]
    if per_epoch:
        names.append(epoch_selection_file(record['epoch']))
    paths = [osp.join(work_dir, name) for name in names]
    for path in paths:
        atomic_write(path, lambda p: _dump_json(record, p))
    return paths


def _load_schedule(path: str) -> Dict[str, Any]:
    try:
        with open(path, encoding='utf-8') as f:
            saved = json.load(f)
        if not isinstance(saved.get('events'), list):
            raise ValueError('no event list')
        return saved
    except (ValueError, AttributeError, TypeError):
        return dict(events=[])  # a damaged log is rewritten from here on


def save_schedule_event(work_dir: str,
                        event: Dict[str, Any],
                        settings: Optional[Dict[str, Any]] = None) -> str:
    """Add ``event`` (with an ``epoch``) to ``geda_schedule.json``,
    atomically, with the run's schedule ``settings``. Events of this epoch
    or later that a resumed run left behind are replaced: the file tells
    the run as it happened.

    Returns:
        str: The path written.
    """
    path = osp.join(work_dir, SCHEDULE_FILE)
    saved = _load_schedule(path) if osp.isfile(path) else dict(events=[])
    events = [
        e for e in saved['events'] if e.get('epoch', -1) < event['epoch']
    ]
    events.append(event)
    out = dict(events=events)
    if settings is not None or 'settings' in saved:
        out['settings'] = saved.get('settings') if settings is None else (
            settings)
    os.makedirs(work_dir, exist_ok=True)
    atomic_write(path, lambda p: _dump_json(out, p))
    return path


def check_schedule(work_dir: str, settings: Dict[str, Any]) -> None:
    """A ValueError naming both sides unless the run that wrote
    ``work_dir`` used the same schedule ``settings`` (a resumed run must:
    its epochs would otherwise mix two schedules); also when the file
    keeps no settings to check (an older version's, or unreadable)."""
    path = osp.join(work_dir, SCHEDULE_FILE)
    if not osp.isfile(path):
        return
    try:
        with open(path, encoding='utf-8') as f:
            saved = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        saved, why = None, f'is truncated or not JSON ({err})'
    else:
        why = ('keeps no schedule settings (the format of an older '
               'mmcls-geda, which this version no longer reads; resume '
               'with that version)')
    if not isinstance(saved, dict) or not isinstance(
            saved.get('settings'), dict):
        raise ValueError(
            f'{path} {why}, so the run it records cannot be checked against '
            'this one: start a new work_dir, or delete the file to resume '
            'unchecked')
    lines = settings_differ(saved['settings'], settings)
    if lines:
        raise ValueError(
            f'{path} records a run with another schedule than this one '
            f'({lines}): resume with the schedule it was made with, or start '
            'a new work_dir')


def save_scores(work_dir: str, norms: np.ndarray, labels: np.ndarray) -> None:
    """Write the scores and labels next to the record, atomically."""
    os.makedirs(work_dir, exist_ok=True)
    atomic_write(osp.join(work_dir, NORMS_FILE), lambda p: _save_npy(norms, p))
    atomic_write(
        osp.join(work_dir, LABELS_FILE), lambda p: _save_npy(labels, p))


def load_record(path: str) -> Dict[str, Any]:
    """Read a record, or raise an error that names the file and the fix.

    Raises:
        FileNotFoundError: No file at ``path``.
        ValueError: The file is empty, truncated, not JSON, of an older
            or unknown schema or lacks a field.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'selection file {path} not found')
    redo = ('delete it and select again (start the run from epoch 0 or run '
            'tools/geda_select.py)')
    try:
        with open(path, encoding='utf-8') as f:
            record = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f'selection file {path} is empty, truncated or not '
                         f'JSON ({err}): {redo}') from None
    if not isinstance(record, dict):
        raise ValueError(f'selection file {path} holds a JSON '
                         f'{type(record).__name__}, not a selection record: '
                         f'{redo}')
    schema = record.get('schema', 1)
    if schema in range(1, SCHEMA_VERSION):
        raise ValueError(
            f'selection file {path} is in the schema-{schema} format of an '
            'older mmcls-geda (it lacks what schema '
            f'{SCHEMA_VERSION} records: the selection\'s weighting, the '
            'weights asked for, its phase and the schedule), which this '
            f'version no longer reads: {redo}')
    if schema != SCHEMA_VERSION:
        raise ValueError(f'selection file {path} has schema {schema!r}; this '
                         f'version reads schema {SCHEMA_VERSION} only: '
                         f'{redo}')
    missing = [key for key in _REQUIRED if key not in record]
    if missing:
        raise ValueError(f'selection file {path} lacks {missing}: {redo}')
    return record


def selection_of(record: Dict[str, Any]) -> Selection:
    """The :class:`Selection` a record holds."""
    return Selection.from_dict(record['selection'])


def check_fits(record: Dict[str, Any], path: str, fingerprint: Dict[str, Any],
               fraction: float) -> None:
    """A ValueError unless the record was made for this training set and
    fraction."""
    if record['fingerprint'] != fingerprint:
        raise ValueError(
            f'selection file {path} was made for a different training set: '
            f'its fingerprint {record["fingerprint"]} does not match this '
            f'dataset\'s {fingerprint}')
    if abs(record['fraction'] - fraction) > 1e-12:
        raise ValueError(
            f'selection file {path} keeps fraction {record["fraction"]}, the '
            f'dataset is configured for fraction {fraction}')


def check_settings(record: Dict[str, Any], path: str,
                   expected: Dict[str, Any]) -> None:
    """A ValueError naming both sides unless ``record`` was made with the
    settings in ``expected`` (keys from :data:`SETTINGS`)."""
    lines = settings_differ(record, expected)
    if lines:
        made = f'method {record.get("method")!r}'
        if record.get('weights'):
            made += f', weights={record["weights"]!r}'
        weighting = (
            f'its subset carries per-sample weights ({made}), which only a '
            'WeightedImageClassifier trains with' if record.get('weighted')
            else f'its subset is unweighted ({made})')
        raise ValueError(
            f'selection file {path} was made with other settings than this '
            f'run ({lines}); {weighting}: set the GradNormHook to the '
            'settings it was made with (method, options, weights, weighted), '
            'or select again for this run (a new work_dir, or '
            'tools/geda_select.py with this config)')


def check_scores_fit(record: Dict[str, Any], work_dir: str, norms: np.ndarray,
                     labels: np.ndarray) -> None:
    """A ValueError unless the saved scores and labels of ``work_dir``
    belong to the record's training set: one score and label per sample,
    the record's fingerprint, every selected index among them."""
    if norms.shape[0] != labels.shape[0]:
        raise ValueError(
            f'{work_dir}: {NORMS_FILE} holds {norms.shape[0]} scores and '
            f'{LABELS_FILE} {labels.shape[0]} labels: one of each per '
            'sample is needed; save them again with the record')
    fingerprint = labels_fingerprint(labels)
    if record['fingerprint'] != fingerprint:
        raise ValueError(
            f'{work_dir}: the selection record was made for a training set '
            f'with fingerprint {record["fingerprint"]}, the saved labels '
            f'are of another ({fingerprint}): the scores and the record '
            'come from different runs; use the work dir of one run')
    indices = np.asarray(record['selection']['indices'])
    if indices.size and indices.max() >= norms.shape[0]:
        raise ValueError(
            f'{work_dir}: the selection holds index {int(indices.max())}, '
            f'and there are only {norms.shape[0]} saved scores')


def load_scores(work_dir: str) -> Tuple[np.ndarray, np.ndarray]:
    """The saved scores and labels of a work dir.

    Raises:
        FileNotFoundError: Naming the missing files and how to make them.
    """
    paths = [osp.join(work_dir, name) for name in (NORMS_FILE, LABELS_FILE)]
    missing = [p for p in paths if not osp.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f'missing {", ".join(missing)}: run the hook or '
            'tools/geda_select.py with save_norms=True (methods that read no '
            'scores, such as random, save none)')
    return np.load(paths[0]), np.load(paths[1])


def find_record(work_dir: str) -> Optional[str]:
    """The path of the work dir's record, if there is one."""
    path = osp.join(work_dir, SELECTION_FILE)
    return path if osp.isfile(path) else None
