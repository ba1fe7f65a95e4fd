"""Behaviour unchanged, proved (issue 29, point 6).

Every way to choose an epoch's data is trained once on a small real run
(``tests/behaviour.py``: mmcls's ``train_model``, the stock
``EpochBasedRunner`` on CPU, one thread, seeds fixed, no loader workers,
60 tiny CIFAR-10 images, 6 epochs in batches of 8, fraction 0.4 or
pruning ratio 0.5, the repo's one-cycle schedule by iteration), and what
the model received is compared with
``tests/data/behaviour_fingerprints.json``: the indices served in every
epoch in order (``served``) and as a set (``subsets``), the per-sample
weights the batches carried (``weights``), the learning rate the optimizer
used at every iteration (``lr``). All four are exact: no float is
rounded.

Cases: ``static`` (GEDA once), ``warmup`` (``warmup_epochs=0.8``: two
epochs on all the data, then GEDA), ``interval_weights`` (GEDA every 2
epochs with GRAD-MATCH weights), ``then`` (GEDA, then GRAD-MATCH from
epoch 2 every 2 epochs), ``selection_file`` (a saved selection served
throughout), ``rs2``, ``rs2_replace``, ``geda_rotate`` (re-folded on the
training losses), ``strata_rotate``, ``infobatch`` and ``random_pruning``
(``anneal=0.25``: the last epoch is full).

Every case is served by ``EpochPlanSampler`` (``apply_geda`` writes it);
the fixed-length cases (all but the pruning ones) are trained once more
from their config without the ``sampler`` key, on mmcls's default sampler,
and must serve the same.

What a plan reads (gradient norms, training losses) is computed by the
model, so those cases are bit-stable on one machine (two runs of this file
gave the same fingerprints) but may differ on another machine's CPU
kernels. Re-record there, or after an intended change of behaviour, with
``GEDA_RECORD_BEHAVIOUR=1 pytest tests/test_behaviour.py`` and read the
diff of the summaries.
"""
import os

import pytest

from .behaviour import (CASES, FINGERPRINTS, RECORD_ENV, environment,
                        fingerprint, load_fingerprints, run_case,
                        save_fingerprints)

RECORDING = bool(os.environ.get(RECORD_ENV))


@pytest.mark.parametrize('name', list(CASES))
def test_each_case_serves_what_was_recorded(cifar10_root, tmp_path, name):
    got = fingerprint(run_case(name, cifar10_root, str(tmp_path)))
    stored = load_fingerprints()
    if RECORDING:
        stored['cases'][name] = got
        stored['environment'] = environment()
        save_fingerprints(stored)
        return
    expected = stored['cases'].get(name)
    assert expected is not None, (
        f'{name} has no fingerprint in {FINGERPRINTS}: record it with '
        f'{RECORD_ENV}=1 pytest tests/test_behaviour.py')
    where = (f'{name}: recorded with {stored["environment"]}, running with '
             f'{environment()}; after an intended change (or on another '
             f'machine: norms and losses follow its CPU kernels) re-record '
             f'with {RECORD_ENV}=1; python -m tests.behaviour {name} prints '
             'the whole record')
    # the summary first: its diff says which epoch changed and how
    assert got['summary'] == expected['summary'], where
    assert got['fingerprints'] == expected['fingerprints'], where


# the cases whose epochs all have the wrapper's fixed length
FIXED_LENGTH = [name for name in CASES if 'pruning' not in CASES[name]]


@pytest.mark.skipif(RECORDING, reason='compares with the recorded cases')
@pytest.mark.parametrize('name', FIXED_LENGTH)
def test_a_config_without_the_sampler_key_serves_the_same(
        cifar10_root, tmp_path, name):
    """A hand-written or older config (no ``sampler``): mmcls's default
    sampler serves the fixed-length epochs, in the very order
    ``EpochPlanSampler`` serves them (the recorded one)."""
    got = fingerprint(
        run_case(name, cifar10_root, str(tmp_path), sampler=False))
    assert got == load_fingerprints()['cases'][name]


def test_the_file_holds_exactly_the_cases():
    if RECORDING:
        stored = load_fingerprints()
        stored['cases'] = {
            k: v
            for k, v in stored['cases'].items() if k in CASES
        }
        save_fingerprints(stored)
    assert sorted(load_fingerprints()['cases']) == sorted(CASES)
