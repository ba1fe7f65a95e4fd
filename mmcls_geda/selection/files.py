"""Files that later runs trust: atomic writes, per-epoch logs, and the
comparison of the settings a file was made with against a run's.

Shared by the selection record, the pruning state and the rotation state.
numpy-free, torch-free.
"""
import json
import os
import os.path as osp
from typing import Any, Callable, Dict, Iterable, List, Optional


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """``write(tmp_path)``, then rename: no half-written file is left."""
    tmp = f'{path}.tmp{os.getpid()}'
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def check_folder(path: str, what: str) -> None:
    """A ValueError naming ``what`` unless ``path`` is, or can be made, a
    folder this process writes into: not a file, not under a file, its
    nearest existing folder writable. The one writability check of work
    dirs (grids, tools, the records a hook writes)."""
    full = osp.abspath(path)
    if osp.exists(full) and not osp.isdir(full):
        raise ValueError(f'{what} {path} is a file, not a folder; give a '
                         'folder')
    parent = full
    while not osp.exists(parent):
        parent = osp.dirname(parent)
    if not osp.isdir(parent):
        raise ValueError(f'{what} {path} lies under {parent}, which is a '
                         'file; give a folder elsewhere')
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f'{what} {path}: {parent} is not writable; give a '
                         'folder elsewhere')


def epochs_before(path: str, epoch: int) -> List[Dict[str, Any]]:
    """The entries of a per-epoch log (``{"epochs": [...]}``, e.g.
    ``pruning_log.json``) before ``epoch``; none without the file."""
    if not osp.isfile(path):
        return []
    with open(path, encoding='utf-8') as f:
        return [e for e in json.load(f)['epochs'] if e['epoch'] < epoch]


def _canonical(value: Any) -> Any:
    # JSON turns tuples into lists and keeps floats: compare as JSON does
    return json.loads(json.dumps(value))


def settings_differences(
        saved: Dict[str, Any],
        now: Dict[str, Any],
        template: str = '{key}: saved {saved!r}, configured {now!r}',
        keys: Optional[Iterable[str]] = None) -> List[str]:
    """The one settings comparison (saved states, selection records, grid
    runs): one line per setting of ``now`` (or of ``keys``) that ``saved``
    (a file's) holds otherwise, compared as JSON stores them.

    Args:
        saved: The settings a file holds.
        now: The settings of this run.
        template: A line, from ``key``, ``saved`` and ``now``.
        keys: The settings to compare (default: every key of ``now``, a
            key missing from ``saved`` counting as None there).
    """
    return [
        template.format(key=key, saved=saved.get(key), now=now[key])
        for key in sorted(now if keys is None else keys)
        if _canonical(saved.get(key)) != _canonical(now[key])
    ]


def settings_differ(saved: Dict[str, Any], configured: Dict[str, Any]) -> str:
    """:func:`settings_differences` as one ``'; '``-joined string (empty
    when the settings agree), for messages."""
    return '; '.join(settings_differences(saved, configured))
