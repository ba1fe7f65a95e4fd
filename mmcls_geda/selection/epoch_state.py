"""What a run that chooses each epoch's data keeps across epochs, for a
resume: one component (:data:`ROTATION`) for every per-epoch method, the
pruning rules included.

Before every epoch ``E`` (after epoch ``E - 1``) rank 0 writes
``{prefix}_epoch{E}.npz``: the named arrays the next epoch is planned from
(recorded losses, cycle scores, ...), the settings they were made with (the
training set's fingerprint included) and the format version; and the
per-epoch log ``{log}`` (``{"settings": ..., "epochs": [...]}``). Both are
written atomically. A resumed run loads the state of its epoch, and a
state of other settings, another training set or another format is refused
with both sides named. A state of a layout the project no longer writes
(:data:`RETIRED`: ``DynamicPruningHook``'s ``pruning_state_epoch{E}.npz``,
written before 2026-12-07) is refused by name. numpy only, no torch or
mmcv.
"""
import json
import os
import os.path as osp
import zipfile
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

import numpy as np

from .files import atomic_write, epochs_before, settings_differ

# the layout written since 2026-12-07 (earlier: one module per kind)
STATE_FORMAT = 2


@dataclass(frozen=True)
class EpochState:
    """The saved state of one kind of per-epoch chooser.

    Attributes:
        kind: Its name in messages (``'pruning state'``).
        prefix: File names ``{prefix}_epoch{E}.npz``.
        log: The per-epoch log's file name.
        holds: What the state holds, for the missing-file message.
    """
    kind: str
    prefix: str
    log: str
    holds: str

    def file(self, epoch: int) -> str:
        """The file name of the state before epoch ``epoch``."""
        return f'{self.prefix}_epoch{int(epoch)}.npz'

    def save(self, work_dir: str, epoch: int, arrays: Dict[str, np.ndarray],
             settings: Dict[str, Any], log: List[Dict[str, Any]]) -> str:
        """Write the state before ``epoch`` and the log, each atomically.

        Args:
            work_dir: The run's work dir.
            epoch: The epoch the state is for (the next one to train).
            arrays: The named arrays the next epoch is planned from.
            settings: What a resumed run must share (JSON-able).
            log: One entry per trained epoch.

        Returns:
            str: The state's path.
        """
        os.makedirs(work_dir, exist_ok=True)
        path = osp.join(work_dir, self.file(epoch))

        def write_state(tmp):
            with open(tmp, 'wb') as f:  # a handle: savez would append .npz
                np.savez(
                    f,
                    **arrays,
                    epoch=epoch,
                    format=STATE_FORMAT,
                    settings=json.dumps(settings, sort_keys=True))

        def write_log(tmp):
            with open(tmp, 'w', encoding='utf-8') as f:
                json.dump(dict(settings=settings, epochs=log), f, indent=1)

        atomic_write(path, write_state)
        atomic_write(osp.join(work_dir, self.log), write_log)
        return path

    def load(
        self, work_dir: str, epoch: int, settings: Dict[str,
                                                        Any], names: Tuple[str,
                                                                           ...]
    ) -> Tuple[Dict[str, np.ndarray], List[Dict[str, Any]]]:
        """The arrays ``names`` saved before ``epoch`` and the log's
        entries before it, checked against ``settings``.

        Raises:
            FileNotFoundError: Naming the missing file.
            ValueError: A state of other settings (both sides named), of
                an older format, or unreadable.
        """
        path = osp.join(work_dir, self.file(epoch))
        if not osp.isfile(path):
            for prefix, what in RETIRED.items():
                old = osp.join(work_dir, f'{prefix}_epoch{int(epoch)}.npz')
                if osp.isfile(old):
                    raise ValueError(
                        f'resuming at epoch {epoch} needs the {self.kind} '
                        f'{path}; {work_dir} holds {old} instead, {what}, '
                        'which this version no longer reads: finish that run '
                        'with the version that wrote it, or start again '
                        'from epoch 0 in a new work_dir')
            raise FileNotFoundError(
                f'resuming at epoch {epoch} needs the {self.kind} {path} '
                f'({self.holds}), which is missing: copy it back into '
                f'{work_dir} (rank 0 writes one after every epoch), or start '
                'again from epoch 0')
        try:
            with np.load(path) as state:
                version = (
                    int(state['format']) if 'format' in state.files else 1)
                if version == STATE_FORMAT:
                    arrays = {name: state[name] for name in names}
                    saved = json.loads(str(state['settings']))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise ValueError(f'{path} is truncated or not a {self.kind} '
                             f'({err}): start again from epoch 0') from None
        if version != STATE_FORMAT:
            raise ValueError(
                f'{path} is a {self.kind} of format {version}, written by '
                'another version of mmcls_geda (this one reads format '
                f'{STATE_FORMAT}): resume with that version, or start a new '
                'work_dir')
        sides = settings_differ(saved, settings)
        if sides:
            raise ValueError(
                f'{path} was saved with other settings than this run '
                f'({sides}): resume with the settings it was made with, or '
                'start a new work_dir')
        return arrays, epochs_before(osp.join(work_dir, self.log), epoch)


ROTATION = EpochState(
    'rotation state', 'rotation_state', 'rotation_log.json',
    "the epochs' log and, where the method keeps them, "
    "the recorded losses and the current cycle's scores "
    'and carry')
ROTATION_LOG = ROTATION.log
# file prefixes of states no longer written -> what they are, for the refusal
RETIRED = {
    'pruning_state':
    "a pruning state (DynamicPruningHook's own format, written before "
    '2026-12-07; dynamic pruning now saves rotation states)'
}
