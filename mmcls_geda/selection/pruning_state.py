"""Dynamic pruning's saved state: the recorded losses, the settings that
drew the plans, and the per-epoch log.

``pruning_state_epoch{E}.npz`` holds what epoch ``E`` is planned from (each
sample's last training loss, whether one was recorded, the training set's
fingerprint and the pruning settings), so that a run resumed at epoch ``E``
draws exactly the plan an uninterrupted run draws. ``pruning_log.json``
holds the settings and one entry per epoch (see ``docs/pruning.md``).

numpy only, no torch or mmcv.
"""
import json
import os
import os.path as osp
from typing import Any, Dict, List, Tuple

import numpy as np

from .files import atomic_write, epochs_before, settings_differ

PRUNING_LOG = 'pruning_log.json'


def pruning_state_file(epoch: int) -> str:
    """The file name of the state before epoch ``epoch``."""
    return f'pruning_state_epoch{int(epoch)}.npz'


def save_pruning_state(work_dir: str, epoch: int, losses: np.ndarray,
                       seen: np.ndarray, fingerprint: Dict[str, Any],
                       settings: Dict[str, Any], log: List[Dict[str,
                                                                Any]]) -> str:
    """Write the state before ``epoch`` and the log, each atomically.

    Args:
        settings: What drew the plans (ratio, rule, anneal, seed,
            max_epochs): a resume with other settings is refused.

    Returns:
        str: The state's path.
    """
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, pruning_state_file(epoch))

    def write_state(tmp):
        with open(tmp, 'wb') as f:  # a handle: savez would append '.npz'
            np.savez(
                f,
                losses=losses,
                seen=seen,
                epoch=epoch,
                fingerprint=json.dumps(fingerprint),
                settings=json.dumps(settings))

    def write_log(tmp):
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(dict(settings=settings, epochs=log), f, indent=1)

    atomic_write(path, write_state)
    atomic_write(osp.join(work_dir, PRUNING_LOG), write_log)
    return path


def load_pruning_state(
    work_dir: str, epoch: int, fingerprint: Dict[str, Any], settings: Dict[str,
                                                                           Any]
) -> Tuple[np.ndarray, np.ndarray, List[Dict[str, Any]]]:
    """``(losses, seen, log)`` saved before ``epoch``, checked.

    Raises:
        FileNotFoundError: Naming the missing file.
        ValueError: A state of another training set or other settings
            (both sides named), or an unreadable file.
    """
    path = osp.join(work_dir, pruning_state_file(epoch))
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'resuming at epoch {epoch} needs the recorded losses {path}, '
            'which are missing: start again from epoch 0')
    try:
        with np.load(path) as state:
            losses, seen = state['losses'], state['seen']
            saved = json.loads(str(state['fingerprint']))
            made_with = (
                json.loads(str(state['settings']))
                if 'settings' in state.files else None)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f'{path} is truncated or not a pruning state '
                         f'({err}): start again from epoch 0') from None
    if saved != fingerprint:
        raise ValueError(f'{path} was recorded on a different training set '
                         f'({saved}, this one: {fingerprint}): start a new '
                         'work_dir')
    if made_with is None:
        raise ValueError(
            f'{path} was written by the fixed-budget pruning (keep=), which '
            'no longer exists and saved no settings: start a new work_dir')
    sides = settings_differ(made_with, settings)
    if sides:
        raise ValueError(
            f'{path} was drawn with other pruning settings than this run '
            f'({sides}): resume with the saved settings, or start a new '
            'work_dir')
    log = epochs_before(osp.join(work_dir, PRUNING_LOG), epoch)
    return losses, seen, log
