"""What a per-epoch-subset run keeps in ``work_dir``: the recorded
losses, the current cycle's scores and carried samples before each epoch
(``rotation_state_epochE.npz``), with the settings they were made with,
and the per-epoch log (``rotation_log.json``). numpy only.
"""
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional

import numpy as np

from .files import atomic_write, epochs_before, settings_differ

ROTATION_LOG = 'rotation_log.json'


def state_file(epoch: int) -> str:
    """The state before epoch ``epoch`` (recorded losses, cycle scores)."""
    return f'rotation_state_epoch{int(epoch)}.npz'


def save_state(work_dir: str, epoch: int, losses: np.ndarray,
               cycle_scores: Optional[np.ndarray], carry: Optional[np.ndarray],
               settings: Dict[str, Any], log: List[Dict[str, Any]]) -> str:
    """Write the state before ``epoch`` and the per-epoch log, atomically.

    Args:
        work_dir: The run's work dir.
        epoch: The epoch the state is for (the next one to train).
        losses: Per sample, the last recorded training loss (NaN: none).
        cycle_scores: Per sample, the scores its class's current cycle is
            folded on (None for ``rs2``).
        carry: Mask of the samples the previous cycle left over, which
            the current cycle serves first (None for ``rs2``).
        settings: What a resumed run must share (method, options, seed,
            fraction, fingerprint).
        log: One entry per trained epoch.

    Returns:
        str: The state file's path.
    """
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, state_file(epoch))

    def write(tmp):
        with open(tmp, 'wb') as f:  # a handle: savez would append '.npz'
            np.savez(
                f,
                losses=np.asarray(losses, dtype=np.float32),
                cycle_scores=np.asarray(
                    cycle_scores if cycle_scores is not None else [],
                    dtype=np.float64),
                carry=np.asarray(
                    carry if carry is not None else [], dtype=bool),
                epoch=epoch,
                settings=json.dumps(settings, sort_keys=True))

    def write_log(tmp):
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(dict(epochs=log), f, indent=1)

    atomic_write(path, write)
    atomic_write(osp.join(work_dir, ROTATION_LOG), write_log)
    return path


def load_state(work_dir: str, epoch: int, settings: Dict[str, Any]):
    """``(losses, cycle_scores, carry, log)`` saved before ``epoch``,
    checked (``cycle_scores`` and ``carry`` None for ``rs2``).

    Raises:
        FileNotFoundError: Naming the missing file.
        ValueError: A state of other settings (both named), or unreadable.
    """
    path = osp.join(work_dir, state_file(epoch))
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'resuming at epoch {epoch} needs the rotation state {path} '
            '(recorded losses and the scores of the current cycle), which is '
            'missing: start again from epoch 0')
    try:
        with np.load(path) as state:
            losses = state['losses'].astype(np.float64)
            scores = state['cycle_scores']
            carry = state['carry']
            saved = json.loads(str(state['settings']))
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f'{path} is truncated or not a rotation state '
                         f'({err}): start again from epoch 0') from None
    lines = settings_differ(saved, settings)
    if lines:
        raise ValueError(
            f'{path} was saved with other settings than this run ({lines}): '
            'resume with the settings it was made with, or start a new '
            'work_dir')
    log = epochs_before(osp.join(work_dir, ROTATION_LOG), epoch)
    if not scores.size:
        scores = carry = None
    return losses, scores, carry, log
