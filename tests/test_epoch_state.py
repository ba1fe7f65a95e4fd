"""The one saved-state component of the per-epoch methods (the per-epoch
subsets and pruning): what a resumed run reads back, and what it
refuses."""
import json

import numpy as np
import pytest

from mmcls_geda.selection.epoch_state import ROTATION, STATE_FORMAT

SETTINGS = dict(
    ratio=0.5,
    rule='infobatch',
    max_epochs=4,
    fingerprint=dict(length=3, labels_sha256='ab'))


def test_a_saved_state_loads_back_with_the_log_before_its_epoch(tmp_path):
    log = [dict(epoch=0, processed=3), dict(epoch=1, processed=2)]
    losses, seen = np.array([0.5, 1.5, 2.0]), np.array([True, False, True])
    path = ROTATION.save(
        str(tmp_path), 2, dict(losses=losses, seen=seen), SETTINGS, log)
    assert path.endswith('rotation_state_epoch2.npz')
    arrays, before = ROTATION.load(
        str(tmp_path), 2, SETTINGS, ('losses', 'seen'))
    assert np.array_equal(arrays['losses'], losses)
    assert np.array_equal(arrays['seen'], seen)
    assert before == log
    on_disk = json.load(open(tmp_path / 'rotation_log.json'))
    assert on_disk == dict(settings=SETTINGS, epochs=log)
    # a resume at epoch 1 keeps the log of epoch 0 only
    ROTATION.save(
        str(tmp_path), 1, dict(losses=losses, seen=seen), SETTINGS, log[:1])
    assert ROTATION.load(str(tmp_path), 1, SETTINGS,
                         ('losses', ))[1] == log[:1]


def test_other_settings_or_another_training_set_are_refused(tmp_path):
    ROTATION.save(str(tmp_path), 3, dict(losses=np.zeros(3)), SETTINGS, [])
    other = dict(SETTINGS, fingerprint=dict(length=3, labels_sha256='cd'))
    with pytest.raises(
            ValueError,
            match=r"fingerprint: saved \{'labels_sha256': 'ab', "
            r"'length': 3\}, configured \{'length': 3, 'labels_sha256': 'cd'"):
        ROTATION.load(str(tmp_path), 3, other, ('losses', ))
    with pytest.raises(ValueError, match='ratio: saved 0.5, configured 0.7'):
        ROTATION.load(
            str(tmp_path), 3, dict(SETTINGS, ratio=0.7), ('losses', ))


def test_older_formats_truncated_and_missing_states_are_refused(tmp_path):
    # a state of the first layout: its own fingerprint entry, no format
    old = tmp_path / ROTATION.file(1)
    with open(old, 'wb') as f:
        np.savez(
            f, losses=np.zeros(3), epoch=1, fingerprint='{}', settings='{}')
    with pytest.raises(
            ValueError,
            match=f'{old} is a rotation state of '
            f'format 1, .* reads format {STATE_FORMAT}'):
        ROTATION.load(str(tmp_path), 1, SETTINGS, ('losses', ))
    old.write_bytes(b'PK\x03\x04 cut short')
    with pytest.raises(
            ValueError, match='is truncated or not a rotation '
            'state'):
        ROTATION.load(str(tmp_path), 1, SETTINGS, ('losses', ))
    with pytest.raises(
            FileNotFoundError,
            match='resuming at epoch 5 needs '
            'the rotation state .*rotation_state_epoch5.npz'):
        ROTATION.load(str(tmp_path), 5, SETTINGS, ('losses', ))


def test_a_pruning_state_of_the_retired_layout_is_refused_by_name(tmp_path):
    """DynamicPruningHook wrote pruning_state_epoch{E}.npz until
    2026-12-07; pruning now saves rotation states, and a run resumed in a
    work_dir holding only the old file is told what it is and what to
    do, instead of reading it."""
    old = tmp_path / 'pruning_state_epoch2.npz'
    with open(old, 'wb') as f:
        np.savez(f, losses=np.zeros(3), seen=np.ones(3, bool), epoch=2)
    with pytest.raises(
            ValueError,
            match=r'resuming at epoch 2 needs the rotation state .*'
            r'rotation_state_epoch2.npz; .* holds .*pruning_state_epoch2.npz '
            r"instead, a pruning state \(DynamicPruningHook's own format, "
            r'written before 2026-12-07.*which this version no longer reads: '
            r'finish that run with the version that wrote it, or start '
            r'again from epoch 0 in a new work_dir'):
        ROTATION.load(str(tmp_path), 2, SETTINGS, ('losses', ))
