"""Per-epoch subsets on mmpretrain 1.x: ``GradNormHook`` serves RS2 (and
the rotations refolded without training losses) every epoch through
mmpretrain's stock CIFAR-10 config and mmengine's ``Runner``, the numpy
plan the mmcls 0.x server serves, saved as there and resumed exactly."""
import json
import os.path as osp

import numpy as np
import pytest
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from mmcls_geda.apis import SelectionArgs
from mmcls_geda.engines.mmpretrain.hook import GradNormHook, epoch_methods
from mmcls_geda.selection import record
from mmcls_geda.selection.epoch_state import ROTATION
from mmcls_geda.selection.rotation import RotationPlan
from .test_hook import stock_cfg, train

# what the tiny CIFAR-10 files hold (tests/cifar_files.py), read alike by
# both stacks' LocalCIFAR10: 6 training samples of each of 10 classes
LABELS = np.tile(np.arange(10), 6)


def rotation_cfg(root, work, tmp_path, max_epochs=4, fraction=0.3, **hook):
    """The stock config with ``GradNormHook(**hook)`` serving a per-epoch
    method, the wrapper keeping ``fraction``."""
    cfg = stock_cfg(
        root,
        work,
        tmp_path,
        hook=dict(
            type='GradNormHook', priority='HIGHEST', scoring_workers=0,
            **hook),
        max_epochs=max_epochs)
    cfg.train_dataloader.dataset.fraction = fraction
    return cfg


def per_epoch(served, size):
    """The flat served ``sample_idx`` cut into epochs of ``size``."""
    assert len(served) % size == 0
    return [sorted(served[i:i + size]) for i in range(0, len(served), size)]


def expected(plan, epochs, first=0, scores=None):
    """What ``plan`` serves in ``first``..``epochs - 1`` (a folded plan on
    fixed ``scores``: the carry as the server computes it)."""
    carry, out = None, []
    if scores is not None:
        carry = np.zeros(plan.labels.size, dtype=bool)
    for e in range(epochs):
        if plan.new_cycle(e):
            carry = plan.leftover(e - 1, scores, carry)
        if e >= first:
            out.append(plan.indices(e, scores, carry).tolist())
    return out


def test_rs2_serves_the_numpy_plan_every_epoch(cifar10_root, tmp_path):
    """rs2, fraction 0.3, 4 epochs: every epoch serves
    ``RotationPlan(labels, 0.3, 'rs2', options, seed).indices(epoch)``,
    each sample once per pass (a class of 2 a epoch: 3 epochs; of 1: 6),
    logs one line an epoch and saves the state and log as on mmcls 0.x."""
    work = tmp_path / 'work'
    runner, served, log = train(
        rotation_cfg(cifar10_root, work, tmp_path, method='rs2', seed=5))
    wrapper = runner.train_dataloader.dataset
    assert np.array_equal(wrapper.full_labels, LABELS)
    args = SelectionArgs(method='rs2', seed=5)
    plan = RotationPlan(LABELS, 0.3, 'rs2', args.resolved_options(), 5)
    assert list(plan.budgets) == [2] * 8 + [1] * 2
    assert len(wrapper) == plan.size == 18
    epochs = per_epoch(served, plan.size)
    assert epochs == expected(plan, 4)
    for c, k in zip(plan.classes, plan.budgets):
        passes = [[i for i in epoch if LABELS[i] == c] for epoch in epochs]
        one_pass = sum(passes[:6 // k], [])  # 3 epochs (k = 2) or all 4
        assert len(set(one_pass)) == len(one_pass)  # each once in a pass
        if k == 2:
            assert sorted(one_pass) == np.flatnonzero(LABELS == c).tolist()
    assert epochs[3] != epochs[0]  # the next pass: new permutations
    for e in range(4):
        assert f'GradNormHook: epoch {e}: rs2 serves 18 of 60 samples' in log
    assert 'GradNormHook: scoring' not in log  # rs2 reads nothing
    assert not osp.isfile(osp.join(work, record.NORMS_FILE))
    with open(osp.join(work, ROTATION.log), encoding='utf-8') as f:
        saved = json.load(f)
    assert saved['settings'] == dict(
        method='rs2',
        options=dict(replace=False, budget='constant'),
        seed=5,
        fraction=0.3,
        scope='full',
        fingerprint=wrapper.fingerprint)
    assert [entry['epoch'] for entry in saved['epochs']] == [0, 1, 2, 3]
    assert all(entry['size'] == 18 for entry in saved['epochs'])
    for e in range(1, 5):
        assert osp.isfile(osp.join(work, ROTATION.file(e)))


def test_rs2_with_replacement_is_the_mmcls_plan(cifar10_root, tmp_path):
    """The cross-stack statement: the plan is the numpy one the mmcls 0.x
    server (``EpochSubsets``) builds from the same settings, labels and
    fraction, so both stacks serve the same indices (``replace=True``:
    each epoch drawn independently, at another seed)."""
    work = tmp_path / 'work'
    options = dict(replace=True)
    _, served, log = train(
        rotation_cfg(
            cifar10_root,
            work,
            tmp_path,
            max_epochs=3,
            method='rs2',
            options=options,
            seed=11))
    # EpochSubsets: RotationPlan(full_labels, fraction, method,
    # args.resolved_options(), seed, max_epochs)
    args = SelectionArgs(method='rs2', options=options, seed=11)
    plan = RotationPlan(LABELS, 0.3, args.method, args.resolved_options(),
                        args.seed, 3)
    assert per_epoch(served, plan.size) == expected(plan, 3)
    assert 'each epoch drawn independently' in log


def test_a_killed_run_resumes_to_the_uninterrupted_runs_subsets(
        cifar10_root, tmp_path, monkeypatch):
    """rs2 killed after 2 of 4 epochs, resumed from its checkpoint: the
    served sets of epochs 2 and 3 are the uninterrupted run's, the state
    is loaded (no new plan), and a resume with another seed is refused."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')  # see docs
    _, whole, _ = train(
        rotation_cfg(cifar10_root, tmp_path / 'whole', tmp_path, method='rs2'))

    class Killed(Exception):
        pass

    class Kill(Hook):
        """Stops the run after epoch 2's checkpoint."""

        def after_train_epoch(self, runner):
            if runner.epoch == 1:
                raise Killed

    HOOKS.register_module(module=Kill, force=True)
    work = tmp_path / 'killed'
    cfg = rotation_cfg(cifar10_root, work, tmp_path, method='rs2')
    cfg.custom_hooks.append(dict(type='Kill', priority='LOWEST'))
    with pytest.raises(Killed):
        train(cfg)
    assert osp.isfile(osp.join(work, 'epoch_2.pth'))
    assert osp.isfile(osp.join(work, ROTATION.file(2)))
    runner, resumed, log = train(
        rotation_cfg(cifar10_root, work, tmp_path, method='rs2'),
        load_from=str(work / 'epoch_2.pth'),
        resume=True)
    assert runner.epoch == 4
    assert 'GradNormHook: resumed at epoch 2 from rotation_state_epoch2' in log
    assert per_epoch(resumed, 18) == per_epoch(whole, 18)[2:]
    with open(osp.join(work, ROTATION.log), encoding='utf-8') as f:
        assert [e['epoch'] for e in json.load(f)['epochs']] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match='saved with other settings'):
        train(
            rotation_cfg(cifar10_root, work, tmp_path, method='rs2', seed=1),
            load_from=str(work / 'epoch_2.pth'),
            resume=True)


@pytest.mark.parametrize('method', ['geda_rotate', 'strata_rotate'])
def test_rotations_refolded_on_the_initial_norms(cifar10_root, tmp_path,
                                                 method):
    """``refold='fixed'``: the θ0 norms (saved) fold every cycle; the
    served sets are the numpy plan's on those norms, each sample once per
    cycle of 2 epochs (fraction 0.5)."""
    work = tmp_path / 'work'
    options = dict(refold='fixed')
    runner, served, log = train(
        rotation_cfg(
            cifar10_root,
            work,
            tmp_path,
            max_epochs=3,
            fraction=0.5,
            method=method,
            options=options))
    norms, labels = record.load_scores(str(work))
    assert np.array_equal(labels, LABELS) and np.all(norms > 0)
    args = SelectionArgs(method=method, options=options)
    plan = RotationPlan(LABELS, 0.5, method, args.resolved_options(), 0)
    epochs = per_epoch(served, 30)
    assert epochs == expected(plan, 3, scores=norms)
    assert sorted(epochs[0] + epochs[1]) == list(range(60))
    assert log.count('GradNormHook: scoring') == 1
    assert 'a new cycle folded on fixed' in log


def test_a_grad_norm_refold_scores_again(cifar10_root, tmp_path):
    """``refold='grad_norm'``: a new scoring pass at the start of every
    cycle; epoch 2 serves the plan's fold on the saved cycle scores."""
    work = tmp_path / 'work'
    options = dict(refold='grad_norm')
    _, served, log = train(
        rotation_cfg(
            cifar10_root,
            work,
            tmp_path,
            max_epochs=3,
            fraction=0.5,
            method='geda_rotate',
            options=options))
    assert log.count('GradNormHook: scoring') == 2
    assert 'GradNormHook: scoring full gradient norms of all 60 training ' \
        'samples (epoch 2)' in log
    theta0, _ = record.load_scores(str(work))
    with np.load(osp.join(work, ROTATION.file(3))) as state:
        later, carry = state['cycle_scores'], state['carry']
    assert not np.array_equal(later, theta0)  # trained for 2 epochs
    args = SelectionArgs(method='geda_rotate', options=options)
    plan = RotationPlan(LABELS, 0.5, 'geda_rotate', args.resolved_options(), 0)
    epochs = per_epoch(served, 30)
    assert epochs[:2] == expected(plan, 2, scores=theta0)
    assert epochs[2] == plan.indices(2, later, carry).tolist()


def test_the_epoch_methods():
    assert epoch_methods() == [
        'geda_rotate', 'infobatch', 'random_pruning', 'rs2', 'strata_rotate'
    ]


def test_a_per_epoch_method_takes_the_scoring_settings():
    """As on mmcls 0.x: ``checkpoint`` and ``scoring_model`` are taken by a
    per-epoch method (what they score: test_schedule.py)."""
    hook = GradNormHook(
        method='geda_rotate',
        options=dict(refold='fixed'),
        checkpoint=__file__,
        scoring_model=dict(type='ImageClassifier'))
    assert hook.args.checkpoint == __file__
    # one that scores nothing refuses them rather than ignoring them
    with pytest.raises(
            ValueError,
            match=r"but per-epoch method 'rs2' \(reads: nothing\) scores "
            'nothing in this run: drop checkpoint'):
        GradNormHook(method='rs2', checkpoint=__file__)


def test_schedules_do_not_combine_with_a_per_epoch_method():
    """As on mmcls 0.x (SelectionArgs): no interval, warm-up, weights or
    second phase with a per-epoch method."""
    with pytest.raises(
            ValueError,
            match="method 'rs2' serves a new subset every epoch, which "
            'interval=2 cannot combine with'):
        GradNormHook(method='rs2', interval=2)
