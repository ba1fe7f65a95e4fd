"""Schedules: warm-up scoring, online GEDA with weights, GEDA as a warm
start; the plan (numpy), the weights, the hook with a real runner."""
import json
import os.path as osp
import shutil
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmcls.datasets import build_dataloader, build_dataset
from mmcls.models import build_classifier
from mmcv import Config
from mmcv.runner import Hook

from mmcls_geda import GradNormHook, apply_geda
from mmcls_geda.datasets.subset import find_wrapper
from mmcls_geda.selection import record, select_subset, weigh_selection
from mmcls_geda.selection.gradient_matching import class_gram, fit_weights
from mmcls_geda.selection.schedule import plan_schedule, warmup_indices
from .conftest import (REPO, TRAIN_PIPELINE, ServedIndices, free_port,
                       make_runner, run_tool, save_selection,
                       small_cfg_options, small_resnet_cfg, train_loader,
                       train_on_rank, wrapper_cfg)

# --- the plan ----------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 80),
    share=st.floats(0.01, 1.0),
    seed=st.integers(0, 99),
    epochs=st.integers(1, 12))
def test_warmup_slices_sweep_every_sample_once_per_pass(
        n, share, seed, epochs):
    size = max(1, min(n, round(share * n)))
    slices = [warmup_indices(n, size, e, seed) for e in range(epochs)]
    for piece in slices:
        assert piece.size == size and np.unique(piece).size == size
        assert piece.min() >= 0 and piece.max() < n
    stream = np.concatenate(slices)
    for p in range(stream.size // n):  # every complete pass: a permutation
        assert sorted(stream[p * n:(p + 1) * n]) == list(range(n))
    # the same on every rank and after a restart; a new seed reshuffles
    again = warmup_indices(n, size, epochs - 1, seed)
    assert np.array_equal(again, slices[-1])


def test_warmup_passes_are_reshuffled():
    first, second = (warmup_indices(100, 100, e, 0) for e in (0, 1))
    assert sorted(first) == sorted(second) and not np.array_equal(
        first, second)


def test_plan_phases_and_selection_epochs():
    plan = plan_schedule(100, 20, 12, warmup_epochs=1)
    assert plan.warmup_end == 5 and plan.selections() == [5]
    assert [plan.phase(e) for e in (0, 4, 5, 11)
            ] == ['warmup', 'warmup', 'subset', 'subset']
    assert plan.selection_epoch(4) is None and plan.selection_epoch(9) == 5
    assert plan.passes_served(3) == pytest.approx(0.6)
    # 50 samples would take 2.5 slices of 20: the warm-up serves what it says
    with pytest.raises(
            ValueError,
            match=r'choose warmup_epochs=0\.400 \(2 '
            r'epochs\) or warmup_epochs=0\.600 \(3 epochs\)'):
        plan_schedule(100, 20, 12, warmup_epochs=0.5)
    assert plan_schedule(100, 20, 12, warmup_epochs=0.6).passes == 0.6
    online = plan_schedule(100, 20, 12, interval=4)
    assert online.selections() == [0, 4, 8]
    assert online.selection_epoch(7) == 4 and not plan_schedule(
        100, 20, 12).per_epoch_files()
    then = dict(method='gradmatch', options={}, start_epoch=4, interval=4)
    warm_start = plan_schedule(100, 20, 12, then=then)
    assert warm_start.selections() == [0, 4, 8]
    assert [warm_start.phase(e)
            for e in (3, 4, 11)] == ['subset', 'then', 'then']
    both = plan_schedule(100, 20, 12, 1, 2,
                         dict(then, start_epoch=9, interval=2))
    assert both.selections() == [5, 7, 9, 11]


@pytest.mark.parametrize('kwargs, match', [
    (dict(warmup_epochs=-1), 'warmup_epochs .*must be a number >= 0'),
    (dict(warmup_epochs='1'), 'warmup_epochs .*must be a number >= 0'),
    (dict(warmup_epochs=float('nan')), 'warmup_epochs .*must be a number'),
    (dict(weights='craig'), 'weights must be None'),
    (dict(weights=dict(type='gradmatch', lam=-1)), 'lam must be a number'),
    (dict(weights=dict(type='gradmatch', steps=3)), 'unknown weights'),
    (dict(method='gradmatch', weights='gradmatch'), 'weights its own'),
    (dict(weights='gradmatch', weighted=False), 'weighted=False drops'),
    (dict(then=dict(method='nope', start_epoch=4, interval=4)),
     "unknown method 'nope'"),
    (dict(then=dict(method='gradmatch', start_epoch=4, interval=0)),
     'then interval must be an integer >= 1'),
    (dict(then=dict(method='gradmatch', interval=4)), "missing: \\['start"),
    (dict(then=dict(method='gradmatch', start_epoch=0, interval=2)),
     'then start_epoch must be an integer >= 1'),
    (dict(then='gradmatch'), 'then must be None or a dict'),
])
def test_schedule_arguments_checked_when_the_hook_is_built(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GradNormHook(**kwargs)


def test_schedules_that_do_not_fit_the_run_are_refused():
    with pytest.raises(ValueError, match='leaves none of the 4 epochs'):
        plan_schedule(60, 24, 4, warmup_epochs=1.6)
    with pytest.raises(ValueError, match='start_epoch=2 must come after'):
        plan_schedule(60, 24, 6, 1.2, then=dict(start_epoch=2, interval=1))
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/resnet/resnet18_1xb64-full_cifar10.py'))
    # 12 epochs x 0.2 = 2.4 passes in all; 11 epochs at most can warm up
    with pytest.raises(ValueError, match=r'choose warmup_epochs <= 2\.200'):
        apply_geda(cfg, 0.2, hook=dict(warmup_epochs=2.4))
    geda = apply_geda(cfg, 0.2, hook=dict(warmup_epochs=2))
    assert geda.custom_hooks[0].warmup_epochs == 2
    assert geda.model.type == 'ImageClassifier'
    for hook in (
            dict(weights='gradmatch'),
            dict(then=dict(method='gradmatch', start_epoch=4, interval=4))):
        assert apply_geda(
            cfg, 0.2, hook=hook).model.type == 'WeightedImageClassifier'


# --- the weights of online GEDA ----------------------------------------------


def test_matching_weights_beat_uniform_weights_and_are_reported():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 40)
    emb = rng.normal(size=(120, 6)) + labels[:, None]
    norms = np.linalg.norm(emb, axis=1)
    sel = select_subset(norms, labels, 0.25, 'geda')
    weighted = weigh_selection(sel, emb, labels, lam=1e-3)
    assert np.array_equal(weighted.indices, sel.indices)
    assert weighted.weighting == 'gradmatch' and np.all(weighted.weights >= 0)
    assert len(weighted.method_objective) == len(
        weighted.reference_objective) == 3
    for c, error in enumerate(weighted.method_objective):
        members = np.flatnonzero(labels == c)
        kept = np.searchsorted(members, sel.indices[labels[sel.indices] == c])
        gram = class_gram(emb, members)
        b = emb[members].sum(axis=0)
        uniform = emb[members][kept].sum(axis=0) * 40 / kept.size
        # the fitted weights match the class sum better than uniform ones
        assert error <= np.linalg.norm(b - uniform) / np.linalg.norm(b)
        w, again = fit_weights(gram, kept, 1e-3)
        assert again == pytest.approx(error)
        direct = np.linalg.norm(b - w @ emb[members][kept]) / np.linalg.norm(b)
        assert direct == pytest.approx(error, rel=1e-6, abs=1e-9)
    assert 'matching error mean' in weighted.summary()
    with pytest.raises(ValueError, match='weighted already'):
        weigh_selection(weighted, emb, labels)


# --- the hook with a real runner ---------------------------------------------

SCHEDULES = {
    'warmup':
    dict(warmup_epochs=1.2),
    # the control of docs/results.md: the same warm-up, a random subset
    'random_warmup':
    dict(method='random', warmup_epochs=1.2),
    'online':
    dict(interval=2, weights='gradmatch'),
    'warm_start':
    dict(then=dict(method='gradmatch', start_epoch=2, interval=2)),
    'all':
    dict(
        warmup_epochs=1.2,
        weights='gradmatch',
        then=dict(method='gradmatch', start_epoch=4, interval=1)),
}
# fraction 0.4 of 60 samples: 24 a epoch; 1.2 warm-up passes take 3 epochs
PHASES = {
    'warmup': ['warmup'] * 3 + ['subset'] * 3,
    'random_warmup': ['warmup'] * 3 + ['subset'] * 3,
    'online': ['subset'] * 6,
    'warm_start': ['subset'] * 2 + ['then'] * 4,
    'all': ['warmup'] * 3 + ['subset'] + ['then'] * 2,
}
SELECTED_AT = {
    'warmup': [3],
    'random_warmup': [3],
    'online': [0, 2, 4],
    'warm_start': [0, 2, 4],
    'all': [3, 4, 5]
}


class WrapperState(Hook):
    """What the wrapper holds at every epoch start (after GradNormHook)."""

    def __init__(self):
        self.indices, self.weights, self.weighted = [], [], []

    def before_train_epoch(self, runner):
        wrapper = find_wrapper(runner.data_loader.dataset)
        self.indices.append(wrapper.indices.copy())
        self.weights.append(wrapper.weights.copy())
        self.weighted.append(bool(wrapper._state[1]))


def _weighted_model():
    torch.manual_seed(0)
    model = build_classifier(
        dict(small_resnet_cfg(), type='WeightedImageClassifier'))
    model.init_weights()
    return model


def _hook(schedule):
    return GradNormHook(
        scoring_batch_size=16, scoring_workers=0, report=False, **schedule)


def _run_schedule(root, work_dir, schedule, epochs=6):
    ds = build_dataset(wrapper_cfg(root, 0.4))
    loader = train_loader(ds)
    runner = make_runner(work_dir, _weighted_model(), max_epochs=epochs)
    runner.register_logger_hooks(
        dict(interval=1, hooks=[dict(type='TextLoggerHook')]))
    runner.register_hook(_hook(schedule), priority='HIGHEST')
    state, served = WrapperState(), ServedIndices()
    runner.register_hook(state)
    runner.register_hook(served)
    runner.run([loader], [('train', 1)])
    return ds, runner, state, np.split(np.concatenate(served.served), epochs)


@pytest.mark.parametrize('name', list(SCHEDULES))
def test_schedule_serves_the_budget_in_its_phases(cifar10_root, tmp_path,
                                                  name):
    ds, runner, state, served = _run_schedule(cifar10_root, tmp_path,
                                              SCHEDULES[name])
    # the budget: fraction x max_epochs x n samples, in every schedule
    assert sum(e.size for e in served) == round(0.4 * 6 * 60) == 144
    phases = PHASES[name]
    for epoch, phase in enumerate(phases):
        # each epoch served exactly what the wrapper held
        assert sorted(served[epoch]) == sorted(state.indices[epoch])
        weighted = phase != 'warmup' and ('weights' in SCHEDULES[name] and
                                          phase == 'subset' or phase == 'then')
        assert state.weighted[epoch] == weighted, (epoch, phase)
    warm = [e for e, p in enumerate(phases) if p == 'warmup']
    if warm:  # one pass: epochs 0-1 and half of 2 serve every sample once
        stream = np.concatenate([served[e] for e in warm])
        assert set(stream.tolist()) == set(range(60))
        assert np.unique(stream[:48]).size == 48
        assert np.isin(state.indices[2], stream[:48]).sum() == 12
    # one record a selection, each saying its phase and method
    events = json.load(open(tmp_path / record.SCHEDULE_FILE))['events']
    chosen = [e for e in events if e['phase'] != 'warmup']
    assert [e['epoch'] for e in chosen] == SELECTED_AT[name]
    for event in chosen:
        saved = record.load_record(
            str(tmp_path / record.epoch_selection_file(event['epoch'])))
        assert saved['phase'] == event['phase'] == phases[event['epoch']]
        assert event['size'] == 24 and event['selection_s'] >= 0
        assert event['method'] == saved['method']
        if saved['selection']['weighting'] or saved['method'] == 'gradmatch':
            assert event['method_objective'] >= 0
    if warm:
        assert events[0] == dict(
            epoch=0, phase='warmup', passes=1.2, epochs=3, size=24)


def test_online_weights_reach_the_loss(cifar10_root, tmp_path):
    ds, runner, state, served = _run_schedule(
        cifar10_root, tmp_path, SCHEDULES['online'], epochs=2)
    saved = record.load_record(str(tmp_path / record.SELECTION_FILE))
    weights = np.array(saved['selection']['weights'])
    assert saved['weights'] == dict(type='gradmatch', lam=1e-3)
    assert np.allclose(state.weights[0],
                       weights) and not np.allclose(weights, weights[0])
    norms = np.load(tmp_path / 'geda_norms.npy')
    # the subset is GEDA's own: the weights do not change which samples
    assert saved['selection']['indices'] == select_subset(
        norms, ds.full_labels, 0.4).indices.tolist()


@pytest.mark.parametrize('name, epochs', [('all', [1, 2]),
                                          ('warmup', [1, 4, 5]),
                                          ('online', [1, 3, 5]),
                                          ('warm_start', [1, 3, 5])])
def test_resume_lands_in_the_same_phase_with_the_same_subset(
        cifar10_root, tmp_path, name, epochs):
    first = tmp_path / 'run'
    _, _, state, _ = _run_schedule(cifar10_root, first, SCHEDULES[name])
    for epoch in epochs:  # killed before `epoch`, resumed from its checkpoint
        work = tmp_path / f'resumed{epoch}'
        shutil.copytree(first, work)
        for f in work.glob('geda_selection_epoch*.json'):
            if int(f.stem.split('epoch')[1]) > epoch:
                f.unlink()  # not written yet when the run stopped
        ds = build_dataset(wrapper_cfg(cifar10_root, 0.4))
        runner = make_runner(work, _weighted_model(), max_epochs=6)
        runner.data_loader = build_dataloader(ds, 8, 1, dist=False)
        runner._epoch = epoch
        with mock.patch('mmcls_geda.apis.runs.grad_norms') as gn:
            _hook(SCHEDULES[name]).before_train_epoch(runner)
            gn.assert_not_called()  # nothing is due: nothing is scored
        assert np.array_equal(ds.indices, state.indices[epoch]), epoch
        assert np.allclose(ds.weights, state.weights[epoch])
        assert bool(ds._state[1]) == state.weighted[epoch]


def test_resume_with_other_schedule_settings_is_refused(
        cifar10_root, tmp_path):
    _run_schedule(cifar10_root, tmp_path, SCHEDULES['online'], epochs=2)
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.4))
    runner = make_runner(tmp_path, _weighted_model(), max_epochs=2)
    runner.data_loader = build_dataloader(ds, 8, 1, dist=False)
    runner._epoch = 1
    with pytest.raises(ValueError, match='weights: saved'):
        _hook(dict(interval=2)).before_train_epoch(runner)


def test_weights_with_a_classifier_that_drops_them_are_refused(tmp_path):
    model = build_classifier(small_resnet_cfg())
    runner = make_runner(tmp_path, model)
    with pytest.raises(TypeError, match='WeightedImageClassifier'):
        _hook(SCHEDULES['online']).before_run(runner)
    with pytest.raises(TypeError, match="then='gradmatch'"):
        _hook(SCHEDULES['warm_start']).before_run(runner)


def test_warmup_refuses_a_fixed_selection_file(cifar10_root, tmp_path):
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.4))
    saved = select_subset(None, ds.full_labels, 0.4, 'random')
    path = save_selection(tmp_path, ds, saved)
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.4, selection_file=path))
    runner = make_runner(tmp_path, _weighted_model(), max_epochs=6)
    runner.data_loader = build_dataloader(ds, 8, 1, dist=False)
    with pytest.raises(ValueError, match='fixed selection'):
        _hook(SCHEDULES['warmup']).before_train_epoch(runner)


# --- distributed: every rank serves the same data in every phase -------------


def _schedule_on_rank(rank, world, port, root, work_dir):
    state, served = WrapperState(), ServedIndices()
    train_on_rank(rank, world, port, work_dir,
                  build_dataset(wrapper_cfg(root, 0.4)), _weighted_model(),
                  [(_hook(SCHEDULES['all']), 'HIGHEST'), (state, 'NORMAL'),
                   (served, 'NORMAL')], 6)
    np.savez(
        osp.join(work_dir, f'rank{rank}.npz'),
        indices=np.stack(state.indices),
        weights=np.stack(state.weights),
        served=np.concatenate(served.served))


def test_distributed_ranks_serve_identical_data_in_every_phase(
        cifar10_root, tmp_path):
    import torch.multiprocessing as mp
    mp.spawn(
        _schedule_on_rank,
        args=(2, free_port(), cifar10_root, str(tmp_path)),
        nprocs=2)
    ranks = [np.load(tmp_path / f'rank{r}.npz') for r in range(2)]
    assert np.array_equal(ranks[0]['indices'], ranks[1]['indices'])
    assert np.array_equal(ranks[0]['weights'], ranks[1]['weights'])
    # the two shards of an epoch served that epoch's data, 12 samples each
    per_rank = [np.split(r['served'], 6) for r in ranks]
    for epoch in range(6):
        both = np.concatenate([per_rank[0][epoch], per_rank[1][epoch]])
        assert sorted(both) == sorted(ranks[0]['indices'][epoch])
    # warm-up (epochs 0-2) unweighted, then GEDA with weights (3)
    assert np.allclose(ranks[0]['weights'][:3], 1.0)
    assert not np.allclose(ranks[0]['weights'][3], 1.0)


# --- the configs, through both train scripts ---------------------------------

CONFIGS = {
    'warmup':
    'configs/schedules/resnet18_1xb64-geda-warmup1-f0.2_cifar10.py',
    'online':
    'configs/schedules/'
    'resnet18_1xb64-geda-r4-gmweights-f0.2_cifar10.py',
    'warm_start':
    'configs/schedules/'
    'resnet18_1xb64-geda-e4-gradmatch-r4-f0.2_cifar10.py',
}
# 5 epochs at fraction 0.2 of 60: 12 a epoch, one warm-up pass = 5 epochs
SHRINK = {
    'warmup': ['runner.max_epochs=7', 'custom_hooks.0.warmup_epochs=1'],
    'online': ['custom_hooks.0.interval=2'],
    'warm_start':
    ['custom_hooks.0.then.start_epoch=2', 'custom_hooks.0.then.interval=1'],
}


@pytest.mark.parametrize('script', ['tools', 'mmcls'])
@pytest.mark.parametrize('name', list(CONFIGS))
def test_schedule_configs_train_with_both_scripts(python, cifar10_root,
                                                  tmp_path, name, script):
    import mmcls
    train = 'tools/train.py' if script == 'tools' else osp.join(
        osp.dirname(mmcls.__file__), '.mim/tools/train.py')
    work = str(tmp_path / 'work')
    opts = small_cfg_options(cifar10_root, work, epochs=4) + SHRINK[name]
    log = run_tool(python, train, CONFIGS[name], '--work-dir', work,
                   '--device', 'cpu', '--cfg-options', *opts)
    assert 'accuracy_top-1' in log
    events = json.load(open(osp.join(work, record.SCHEDULE_FILE)))['events']
    phases = [e['phase'] for e in events]
    expected = {
        'warmup': ['warmup', 'subset'],
        'online': ['subset', 'subset'],
        'warm_start': ['subset', 'then', 'then']
    }
    assert phases == expected[name]
    if name == 'warm_start' and script == 'tools':
        out = run_tool(python, 'tools/selection_report.py', work)
        assert 'epoch 0: subset phase, geda kept 12, ECDF objective' in out
        assert 'epoch 2: then phase, gradmatch kept 12' in out
    if name == 'warmup' and script == 'tools':
        # killed in the warm-up (after epoch 2 of 7), resumed: the run goes
        # on in the warm-up, then selects at epoch 5 as before
        log2 = run_tool(python, train, CONFIGS[name], '--work-dir', work,
                        '--device', 'cpu', '--resume-from',
                        osp.join(work, 'epoch_2.pth'), '--cfg-options', *opts)
        assert 'epoch 2, phase warmup' in log2
        assert 'GradNormHook (epoch 5)' in log2


# --- resume serves what an uninterrupted run serves (issue 24: 2, 7, 9) ------

RESUMED = {
    'plain': dict(),
    'interval': dict(interval=2),
    'random_every_epoch': dict(method='random', interval=1),
    'warmup': dict(warmup_epochs=0.8),  # 2 epochs of 24/60
    'warmup_weights': dict(warmup_epochs=0.8, weights='gradmatch'),
    'then': dict(then=dict(method='gradmatch', start_epoch=2, interval=1)),
    'selection_file': dict(interval=2),
}


def _served_run(root,
                work_dir,
                schedule,
                resume_from=None,
                epochs=4,
                selection_file=None):
    """The sorted indices served per epoch by a real runner (checkpoints
    every epoch), started afresh or resumed from a checkpoint."""
    kw = {} if selection_file is None else dict(selection_file=selection_file)
    cfg = wrapper_cfg(root, 0.4, **kw)
    # no random transforms and a fixed batch order: the resumed model
    # trains as the first did, so its re-selections can be compared
    cfg['dataset']['pipeline'] = TRAIN_PIPELINE[2:]
    ds = build_dataset(cfg)
    runner = make_runner(work_dir, _weighted_model(), max_epochs=epochs)
    runner.register_checkpoint_hook(dict(interval=1))
    runner.register_hook(_hook(schedule), priority='HIGHEST')
    served = ServedIndices()
    runner.register_hook(served)
    if resume_from is not None:
        runner.resume(resume_from)
    loader = build_dataloader(
        ds, 8, 1, dist=False, shuffle=False, persistent_workers=True)
    with mock.patch('mmcv.runner.epoch_based_runner.time.sleep'):
        runner.run([loader], [('train', 1)])
    batches = len(served.served) // 3  # 24 samples a epoch, batches of 8
    return [
        np.sort(e) for e in np.split(np.concatenate(served.served), batches)
    ]


@pytest.mark.parametrize('name', list(RESUMED))
def test_resume_serves_what_an_uninterrupted_run_serves(
        cifar10_root, tmp_path, name, caplog):
    schedule, file = RESUMED[name], None
    if name == 'selection_file':
        ds = build_dataset(wrapper_cfg(cifar10_root, 0.4))
        norms = np.random.default_rng(3).lognormal(size=60)
        file = save_selection(tmp_path / 'file', ds,
                              select_subset(norms, ds.full_labels, 0.4))
    full = _served_run(
        cifar10_root, tmp_path / 'full', schedule, selection_file=file)
    assert [e.size for e in full] == [24] * 4
    if name == 'random_every_epoch':  # a new random stream every selection
        assert all(not np.array_equal(a, b) for a, b in zip(full, full[1:]))
    for start in (1, 3):  # killed after `start` epochs, resumed
        work = tmp_path / f'resumed{start}'
        shutil.copytree(tmp_path / 'full', work)
        for f in work.glob('geda_selection_epoch*.json'):
            if int(f.stem.split('epoch')[1]) >= start:
                f.unlink()  # not written yet when the run stopped
        caplog.clear()
        with caplog.at_level('INFO'):
            resumed = _served_run(
                cifar10_root,
                work,
                schedule,
                resume_from=str(work / f'epoch_{start}.pth'),
                selection_file=file)
        assert len(resumed) == 4 - start
        for epoch, indices in enumerate(resumed, start):
            assert np.array_equal(indices, full[epoch]), (name, epoch)
        if name == 'selection_file' and start == 3:
            # the log names what is served: epoch 2's re-selection
            assert 'geda_selection_epoch2.json' in caplog.text
            assert 'selection of epoch 2' in caplog.text


def test_resume_after_changing_the_schedule_is_refused(cifar10_root, tmp_path):
    _served_run(cifar10_root, tmp_path, dict(interval=2))
    saved = record.load_record(str(tmp_path / record.SELECTION_FILE))
    assert saved['schedule']['interval'] == 2
    for changed, named in ((dict(interval=3), 'interval: saved 2, '
                            'configured 3'), (dict(interval=2,
                                                   seed=1), 'seed: saved 0')):
        with pytest.raises(ValueError, match=named):
            _served_run(
                cifar10_root,
                tmp_path,
                changed,
                resume_from=str(tmp_path / 'epoch_3.pth'))


def test_a_fractional_warmup_serves_what_it_says_or_is_refused():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/resnet/resnet18_1xb64-full_cifar10.py'))
    # README's example: 12 epochs at 0.2; both apply_geda and the hook's
    # plan (CIFAR-10: 50000 samples, 10000 a epoch) take 2.2, refuse 2.3
    for warmup in (2.3, 2.4):
        with pytest.raises(ValueError, match=r'warmup_epochs(=| <= )2\.200'):
            apply_geda(cfg, 0.2, hook=dict(warmup_epochs=warmup))
        with pytest.raises(ValueError, match=r'warmup_epochs(=| <= )2\.200'):
            plan_schedule(50000, 10000, 12, warmup)
    apply_geda(cfg, 0.2, hook=dict(warmup_epochs=2.2))
    plan = plan_schedule(50000, 10000, 12, 2.2)
    assert plan.warmup_end == 11 and plan.passes == pytest.approx(2.2)
    # the digits demo: 539 of 1347 a epoch; 0.5 passes would be 1.25 epochs
    with pytest.raises(
            ValueError,
            match=r'0\.400 \(1 epochs\) or '
            r'warmup_epochs=0\.800 \(2 epochs\)'):
        plan_schedule(1347, 539, 10, 0.5)
    assert plan_schedule(1347, 539, 10,
                         0.8).passes_served(2) == pytest.approx(2 * 539 / 1347)


def test_selection_events_draw_their_own_random_streams():
    from mmcls_geda.selection.schedule import selection_seed
    seeds = [selection_seed(0, e) for e in range(5)]
    assert seeds[0] == 0 and len(set(seeds)) == 5
    assert seeds == [selection_seed(0, e) for e in range(5)]  # reproducible
    assert selection_seed(1, 3) != selection_seed(0, 3)


def test_a_weighted_selection_file_for_an_unweighted_run_is_refused(
        cifar10_root, tmp_path):
    """Issue 24, 1: a GRAD-MATCH file (weights) served to a plain
    ImageClassifier with method='geda' never trains without its weights."""
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.4))
    emb = np.random.default_rng(0).normal(size=(60, 4))
    saved = select_subset(emb, ds.full_labels, 0.4, 'gradmatch')
    path = record.save_record(
        str(tmp_path / 'gm'),
        record.make_record(
            saved,
            fingerprint=ds.fingerprint,
            scope='full',
            weighted=True,
            epoch=0,
            scoring_s=0.0))[0]
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.4, selection_file=path))
    runner = make_runner(tmp_path, build_classifier(small_resnet_cfg()))
    runner.register_hook(_hook({}), priority='HIGHEST')
    with pytest.raises(ValueError) as err:
        runner.run([train_loader(ds)], [('train', 1)])
    message = str(err.value)
    assert "method: saved 'gradmatch', configured 'geda'" in message
    assert 'carries per-sample weights' in message
    assert 'WeightedImageClassifier' in message and runner.iter == 0
