"""The saved selection: file names, JSON schema, fingerprint, save and load.

The one owner of what a selection looks like on disk. The hook, the
wrapper, ``tools/geda_select.py``, ``tools/selection_report.py`` and
``tools/run_experiments.py`` read and write through these functions.

A record is a JSON object::

    {"schema": 2, "method": ..., "options": {...}, "scope": ...,
     "fraction": ..., "seed": ..., "weighted": ..., "epoch": ...,
     "fingerprint": {"length": n, "labels_sha256": ...},
     "timings": {"scoring_s": ..., "selection_s": ...},
     "selection": {... Selection.to_dict() ...}}

Records written before the schema number existed read as schema 1, which
has the same fields; schema 3 adds the selection's ``weighting`` and
``reference_objective`` and, for scheduled runs, ``phase`` and
``schedule``.

A scheduled run (warm-up, re-selection, a second phase) also keeps
``geda_schedule.json``: one event per phase change and selection (epoch,
phase, method, subset size, objective or matching error, time).
"""
import hashlib
import json
import os
import os.path as osp
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from .api import Selection

SCHEMA_VERSION = 3
SELECTION_FILE = 'geda_selection.json'
NORMS_FILE = 'geda_norms.npy'
LABELS_FILE = 'geda_labels.npy'
REPORT_PNG = 'geda_selection_report.png'
REPORT_JSON = 'geda_selection_report.json'
SCHEDULE_FILE = 'geda_schedule.json'
# What a resumed run must share with the record it reuses.
SETTINGS = ('method', 'options', 'scope', 'fraction', 'weighted', 'weights')
_REQUIRED = ('method', 'fraction', 'fingerprint', 'selection')


def epoch_selection_file(epoch: int) -> str:
    """The per-epoch record name of a run that re-selects (``interval``)."""
    return f'geda_selection_epoch{int(epoch)}.json'


def labels_fingerprint(labels: np.ndarray) -> Dict[str, Any]:
    """What identifies a training set for a saved selection."""
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    return dict(
        length=int(labels.size),
        labels_sha256=hashlib.sha256(labels.tobytes()).hexdigest()[:16])


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """``write(tmp_path)``, then rename: no half-written file is left."""
    tmp = f'{path}.tmp{os.getpid()}'
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


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


def save_schedule_event(work_dir: str, event: Dict[str, Any]) -> str:
    """Add ``event`` (with an ``epoch``) to ``geda_schedule.json``,
    atomically. Events of this epoch or later that a resumed run left
    behind are replaced: the file tells the run as it happened.

    Returns:
        str: The path written.
    """
    path = osp.join(work_dir, SCHEDULE_FILE)
    events = []
    if osp.isfile(path):
        try:
            with open(path, encoding='utf-8') as f:
                events = json.load(f)['events']
        except (ValueError, KeyError, TypeError):
            events = []  # a damaged log is rewritten from this event on
    events = [e for e in events if e.get('epoch', -1) < event['epoch']]
    events.append(event)
    os.makedirs(work_dir, exist_ok=True)
    atomic_write(path, lambda p: _dump_json(dict(events=events), p))
    return path


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
        ValueError: The file is empty, truncated, not JSON, of an unknown
            schema or lacks a field.
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
    if schema not in range(1, SCHEMA_VERSION + 1):
        raise ValueError(f'selection file {path} has schema {schema!r}; this '
                         f'version reads schemas 1 to {SCHEMA_VERSION}')
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
    differ = [(key, record.get(key), value) for key, value in expected.items()
              if _canonical(record.get(key)) != _canonical(value)]
    if differ:
        lines = '; '.join(f'{key}: saved {saved!r}, configured {value!r}'
                          for key, saved, value in differ)
        raise ValueError(
            f'selection file {path} was made with other settings than this '
            f'run ({lines}): resume with the settings it was made with, or '
            'start a new work_dir')


def _canonical(value: Any) -> Any:
    # JSON turns tuples into lists and keeps floats: compare as JSON does
    return json.loads(json.dumps(value))


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
