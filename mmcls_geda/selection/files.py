"""Files that later runs trust: atomic writes, per-epoch logs, and the
comparison of the settings a file was made with against a run's.

Shared by the selection record, the pruning state and the rotation state.
numpy-free, torch-free.
"""
import json
import os
import os.path as osp
from typing import Any, Callable, Dict, List


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """``write(tmp_path)``, then rename: no half-written file is left."""
    tmp = f'{path}.tmp{os.getpid()}'
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


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


def settings_differ(saved: Dict[str, Any], configured: Dict[str, Any]) -> str:
    """The settings of ``configured`` that ``saved`` (a file's) holds
    otherwise, as ``'key: saved X, configured Y; ...'`` (compared as JSON
    stores them); empty when they agree."""
    return '; '.join(f'{key}: saved {saved.get(key)!r}, configured {value!r}'
                     for key, value in sorted(configured.items())
                     if _canonical(saved.get(key)) != _canonical(value))
