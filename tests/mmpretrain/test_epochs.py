"""Per-epoch methods of varying epoch lengths and methods that read the
training losses on mmpretrain 1.x: ``GradNormHook`` with a budget
schedule serves the mmcls 0.x plan (the same sets, in the same seeded
order) through ``EpochPlanSampler``, mmengine's parameter schedulers
follow the epoch progress (``EpochProgressParamSchedulerHook``), the
training losses are recorded by ``WeightedImageClassifier``, and a resume
serves what an uninterrupted run serves."""
import json
import math
import os.path as osp

import numpy as np
import pytest
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from mmcls_geda.apis import SelectionArgs
from mmcls_geda.selection.epoch_state import ROTATION
from mmcls_geda.selection.rotation import RotationPlan
from .test_hook import stock_cfg, train
from .test_rs2 import LABELS

EPOCHS, FRACTION = 5, 0.5
L0 = 4  # a constant epoch: 30 samples in batches of 8
# one stream of the seeded serving order (subsets.plan_sampler)
ORDER_STREAM = 2_000_081


class Trace(Hook):
    """Per training iteration: epoch, batch index, the epoch's length, the
    LR the optimizer uses in it and the served ``sample_idx``."""

    rows = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        type(self).rows.append(
            (runner.epoch, batch_idx, len(runner.train_dataloader),
             runner.optim_wrapper.get_lr()['lr'][0],
             [int(s.sample_idx) for s in data_batch['data_samples']]))


SCHEDULES = {
    'cosine_converted':
    dict(
        type='CosineAnnealingLR',
        T_max=EPOCHS,
        eta_min=0.001,
        by_epoch=True,
        convert_to_iter_based=True),
    'one_cycle_by_iter':
    dict(
        type='OneCycleLR',
        eta_max=0.2,
        total_steps=EPOCHS * L0,
        by_epoch=False),
    'multistep_by_epoch':
    dict(type='MultiStepLR', milestones=[2, 4], gamma=0.1, by_epoch=True),
}


def epochs_cfg(root, work, tmp_path, schedule, progress=True, **hook):
    cfg = stock_cfg(
        root,
        work,
        tmp_path,
        hook=dict(
            type='GradNormHook', priority='HIGHEST', scoring_workers=0,
            **hook),
        max_epochs=EPOCHS)
    cfg.train_dataloader.dataset.fraction = FRACTION
    if hook.get('options', {}).get('budget', 'constant') != 'constant':
        cfg.train_dataloader.sampler = dict(type='EpochPlanSampler')
    if progress:
        cfg.default_hooks.param_scheduler = dict(
            type='EpochProgressParamSchedulerHook')
    cfg.param_scheduler = [SCHEDULES[schedule]]
    cfg.custom_hooks.append(dict(type='Trace', priority='LOWEST'))
    return cfg


def run(cfg, **overrides):
    HOOKS.register_module(module=Trace, force=True)
    Trace.rows = []
    runner, _, log = train(cfg, **overrides)
    served = {}
    for epoch, _, _, _, idx in Trace.rows:
        served.setdefault(epoch, []).extend(idx)
    return runner, served, list(Trace.rows), log


@pytest.mark.parametrize('schedule', sorted(SCHEDULES))
def test_a_budget_schedule_serves_the_mmcls_plan_by_epoch_progress(
        cifar10_root, tmp_path, schedule):
    """rs2 with budget='ramp': every epoch serves the numpy plan's indices
    in the mmcls 0.x seeded order; the LR the optimizer uses at iteration
    i of an epoch of L is the constant run's at the same progress
    ``round(L0 * (epoch + i / L))`` and the final LR is the schedule's."""
    options = dict(budget='ramp')
    runner, served, rows, log = run(
        epochs_cfg(
            cifar10_root,
            tmp_path / 'ramp',
            tmp_path,
            schedule,
            method='rs2',
            seed=3,
            options=options))
    plan = RotationPlan(
        LABELS, FRACTION, 'rs2',
        SelectionArgs(method='rs2', options=options).resolved_options(), 3,
        EPOCHS)
    sizes = [plan.epoch_size(e) for e in range(EPOCHS)]
    assert sizes == [10, 20, 30, 40, 50] and plan.size == 30
    for epoch in range(EPOCHS):
        indices = plan.indices(epoch)
        order = np.random.default_rng([3, ORDER_STREAM,
                                       epoch]).permutation(indices.size)
        assert served[epoch] == indices[order].tolist(), epoch
        assert f'epoch {epoch}: rs2 serves {sizes[epoch]} of 60' in log
    lengths = {e: length for e, _, length, _, _ in rows}
    assert lengths == {0: 2, 1: 3, 2: 4, 3: 5, 4: 7}
    assert runner.iter == runner.max_iters == 21

    # the constant budget, mmengine's own ParamSchedulerHook: the reference
    constant, _, reference, _ = run(
        epochs_cfg(
            cifar10_root,
            tmp_path / 'constant',
            tmp_path,
            schedule,
            progress=False,
            method='rs2',
            seed=3))
    reference_lr = [lr for *_, lr, _ in reference]
    assert len(reference_lr) == EPOCHS * L0
    for epoch, i, length, lr, _ in rows:
        at = round(L0 * (epoch + i / length))
        if SCHEDULES[schedule]['by_epoch'] and not SCHEDULES[schedule].get(
                'convert_to_iter_based'):
            at = L0 * epoch  # a by-epoch schedule: constant in the epoch
        assert lr == pytest.approx(reference_lr[at], rel=1e-9), (epoch, i)
    # after the last iteration: the full-length run's final value
    final = runner.optim_wrapper.get_lr()['lr'][0]
    assert final == pytest.approx(
        constant.optim_wrapper.get_lr()['lr'][0], rel=1e-9)


def state(work, epoch):
    """The saved rotation state before ``epoch``."""
    with np.load(osp.join(work, ROTATION.file(epoch))) as saved:
        return {k: saved[k] for k in saved.files}


def filled(losses):
    """The losses with a never-trained sample at its class's median (the
    server's rule, written out)."""
    out = losses.astype(np.float64)
    for c in range(10):
        members = LABELS == c
        seen = members & ~np.isnan(out)
        out[members & np.isnan(out)] = np.median(out[seen])
    return out


def losses_cfg(root, work, tmp_path, **hook):
    cfg = epochs_cfg(
        root, work, tmp_path, 'cosine_converted', method='geda_rotate', **hook)
    cfg.model.type = 'WeightedImageClassifier'
    return cfg


def test_a_loss_refold_folds_on_the_recorded_losses(cifar10_root, tmp_path):
    """geda_rotate (refold='loss', its default): the first cycle folds on
    the θ0 norms, the next (epoch 2) on the training losses the
    WeightedImageClassifier recorded in epochs 0-1: every epoch serves the
    numpy plan on the saved cycle scores and carry, and the cycle scores
    of epoch 2 are the recorded losses."""
    work = tmp_path / 'loss'
    runner, served, _, log = run(losses_cfg(cifar10_root, work, tmp_path))
    args = SelectionArgs(method='geda_rotate')
    plan = RotationPlan(LABELS, FRACTION, 'geda_rotate',
                        args.resolved_options(), 0, EPOCHS)
    assert runner.model.record_losses
    for epoch in range(EPOCHS):
        after = state(work, epoch + 1)
        indices = plan.indices(epoch, after['cycle_scores'], after['carry'])
        assert sorted(served[epoch]) == sorted(indices.tolist()), epoch
        # every sample trained on so far has its loss recorded, no other
        trained = np.zeros(60, bool)
        for e in range(epoch + 1):
            trained[served[e]] = True
        assert np.array_equal(~np.isnan(after['losses']), trained)
    before_epoch2 = state(work, 2)['losses']
    assert np.allclose(state(work, 3)['cycle_scores'], filled(before_epoch2))
    assert 'epoch 2: geda_rotate serves 30 of 60 samples, a new cycle ' \
        'folded on loss' in log


def test_a_resumed_budget_schedule_serves_the_uninterrupted_run(
        cifar10_root, tmp_path, monkeypatch):
    """geda_rotate with budget='ramp' and refold='loss', killed after 3 of
    5 epochs and resumed (resume=True): epochs 3 and 4 serve what the
    uninterrupted run serves, in its order, at its learning rates."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    options = dict(budget='ramp')
    _, whole, whole_rows, _ = run(
        losses_cfg(
            cifar10_root, tmp_path / 'whole', tmp_path, options=options))

    class Killed(Exception):
        pass

    class Kill(Hook):

        def after_train_epoch(self, runner):
            if runner.epoch == 2:
                raise Killed

    HOOKS.register_module(module=Kill, force=True)
    work = tmp_path / 'killed'
    cfg = losses_cfg(cifar10_root, work, tmp_path, options=options)
    cfg.custom_hooks.append(dict(type='Kill', priority='LOWEST'))
    with pytest.raises(Killed):
        run(cfg)
    runner, rest, rest_rows, log = run(
        losses_cfg(cifar10_root, work, tmp_path, options=options),
        load_from=str(work / 'epoch_3.pth'),
        resume=True)
    assert 'GradNormHook: resumed at epoch 3 with the losses of' in log
    assert sorted(rest) == [3, 4]
    for epoch in (3, 4):
        assert rest[epoch] == whole[epoch], epoch
    assert [r[3] for r in rest_rows
            ] == pytest.approx([r[3] for r in whole_rows if r[0] >= 3],
                               rel=1e-9)
    assert runner.iter == runner.max_iters == 21


def test_what_a_varying_or_recording_run_needs_is_named(
        cifar10_root, tmp_path):
    """Before training: a plain ImageClassifier for a method that reads
    the losses, mmengine's DefaultSampler or ParamSchedulerHook under a
    budget schedule with an iteration-based schedule."""
    cfg = losses_cfg(cifar10_root, tmp_path / 'a', tmp_path)
    cfg.model.type = 'ImageClassifier'
    with pytest.raises(
            TypeError,
            match="refold='loss' reads the per-sample training "
            "losses.*model.type = 'WeightedImageClassifier'"):
        run(cfg)
    cfg = epochs_cfg(
        cifar10_root,
        tmp_path / 'b',
        tmp_path,
        'cosine_converted',
        method='rs2',
        options=dict(budget='ramp'))
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=True)
    with pytest.raises(TypeError, match="EpochPlanSampler"):
        run(cfg)
    cfg = epochs_cfg(
        cifar10_root,
        tmp_path / 'c',
        tmp_path,
        'cosine_converted',
        progress=False,
        method='rs2',
        options=dict(budget='ramp'))
    with pytest.raises(
            TypeError, match="ParamSchedulerHook.*EpochProgressParamSch"):
        run(cfg)
    # an epoch-based schedule needs no progress hook
    run(
        epochs_cfg(
            cifar10_root,
            tmp_path / 'd',
            tmp_path,
            'multistep_by_epoch',
            progress=False,
            method='rs2',
            options=dict(budget='ramp')))


def test_the_documented_budget_block_runs(cifar10_root, tmp_path, monkeypatch):
    """The budget block of docs/mmpretrain.md, as written, in a folder
    whose ``my_mmpretrain_config.py`` is mmpretrain's stock config shrunk
    as ``stock_cfg`` does (5 epochs): epochs of 10 to 50 samples, the LR
    after the last iteration the full-length run's: mmengine steps the
    cosine 20 times (5 epochs of 4), the last inside its range being step
    19."""
    from .test_config import doc_block
    block = doc_block('# per-epoch subsets growing over the run, refolded '
                      'on the training losses')
    cfg = stock_cfg(
        cifar10_root,
        tmp_path / 'unused',
        tmp_path,
        wrap=False,
        max_epochs=EPOCHS)
    cfg.custom_hooks = []
    for key in ('work_dir', 'custom_imports'):
        cfg.pop(key)
    cfg.dump(str(tmp_path / 'my_mmpretrain_config.py'))
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(block, 'docs/mmpretrain.md', 'exec'), scope)
    runner = scope['runner']
    cosine_at_19 = 1e-4 + (0.1 - 1e-4) * (1 + math.cos(math.pi * 19 / 20)) / 2
    assert runner.optim_wrapper.get_lr()['lr'][0] == pytest.approx(
        cosine_at_19, rel=1e-9)
    with open(tmp_path / 'work_dirs' / 'my_ramp' / ROTATION.log) as f:
        sizes = [e['size'] for e in json.load(f)['epochs']]
    assert sizes == [10, 20, 30, 40, 50]
    assert runner.iter == 21


class Weights(Hook):
    """Per training batch: the epoch and each data sample's
    ``sample_weight`` (1 where it has none)."""

    rows = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        type(self).rows.append((runner.epoch, [
            float(s.metainfo.get('sample_weight', 1.0))
            for s in data_batch['data_samples']
        ]))


def infobatch_cfg(root, work):
    """configs/mmpretrain/resnet18_8xb16-infobatch-r0.5_cifar10.py and
    the overrides that shrink it: 4 epochs, anneal 0.25, a cosine schedule
    converted to iterations; the trace hooks added."""
    from mmengine.config import Config

    from .test_config import REPO, shrink
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'mmpretrain',
                 'resnet18_8xb16-infobatch-r0.5_cifar10.py'))
    overrides = shrink(root, work)
    overrides.pop('custom_hooks.0.scoring_workers')
    schedule = dict(
        type='CosineAnnealingLR',
        T_max=4,
        eta_min=1e-3,
        by_epoch=True,
        convert_to_iter_based=True)
    overrides.update({
        'train_cfg.max_epochs': 4,
        'param_scheduler': [schedule],
        'custom_hooks.0.options.anneal': 0.25,
    })
    cfg.custom_hooks += [
        dict(type='Trace', priority='LOWEST'),
        dict(type='Weights', priority='LOWEST')
    ]
    HOOKS.register_module(module=Weights, force=True)
    Weights.rows = []
    return cfg, overrides


def test_infobatch_prunes_by_the_numpy_rule(cifar10_root, tmp_path):
    """configs/mmpretrain/resnet18_8xb16-infobatch-r0.5_cifar10.py, shrunk
    through overrides (4 epochs, anneal 0.25, a cosine schedule converted
    to iterations): epochs 0 and 3 serve all 60 samples, 1 and 2 the
    numpy rule's draws from the recorded losses of the saved state, in its
    order, with its weights in each data sample; the LR at every iteration
    is the full-data run's at the same epoch progress."""
    from mmengine.optim.scheduler import CosineAnnealingLR
    from torch import nn
    from torch.optim import SGD

    from mmcls_geda.selection.pruning import is_pruned
    work = tmp_path / 'work'
    cfg, overrides = infobatch_cfg(cifar10_root, work)
    runner, served, rows, log = run(cfg, **overrides)
    options = SelectionArgs(
        method='infobatch', options=dict(ratio=0.5,
                                         anneal=0.25)).resolved_options()
    plan = RotationPlan(LABELS, 1.0, 'infobatch', options, 0, 4)
    weights = {}
    for epoch, w in Weights.rows:
        weights.setdefault(epoch, []).extend(w)
    lengths = []
    for epoch in range(4):
        losses = (
            np.full(60, np.nan)
            if epoch == 0 else state(work, epoch)['losses'])
        choice = plan.choose(epoch, losses.astype(np.float64))
        n = choice.indices.size
        assert served[epoch][:n] == choice.indices.tolist(), epoch
        assert len(served[epoch]) - n in (0, 1)  # no batch of one
        want = np.ones(n) if choice.weights is None else choice.weights
        assert np.allclose(weights[epoch][:n], want), epoch
        pruned = is_pruned(epoch, 4, 0.25)
        assert (n < 60) == pruned, epoch
        lengths.append(-(-len(served[epoch]) // 8))
    assert lengths[0] == lengths[3] == 8 and max(lengths[1:3]) < 8
    assert set(np.round(weights[1], 6)) == {1.0, 2.0}  # kept: 1 / (1 - 0.5)
    assert 'GradNormHook: epoch 1: infobatch serves' in log
    # the full-data run's LR at the same progress: mmengine's own
    # scheduler on 4 epochs of 8 iterations, stepped once per iteration
    optimizer = SGD(nn.Linear(1, 1).parameters(), lr=0.1)
    # (the runner ends a converted schedule at max_epochs: end=32)
    reference = CosineAnnealingLR(optimizer, T_max=32, eta_min=1e-3, end=32)
    full = []
    for _ in range(32):
        full.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        reference.step()
    for epoch, i, length, lr, _ in rows:
        assert lr == pytest.approx(
            full[round(8 * (epoch + i / length))], rel=1e-9), (epoch, i)
    assert runner.optim_wrapper.get_lr()['lr'][0] == pytest.approx(
        optimizer.param_groups[0]['lr'], rel=1e-9)
    assert runner.model.normalize_weights is False


def test_dynamic_pruning_hook_is_gradnormhook_for_a_rule(
        cifar10_root, tmp_path):
    """``DynamicPruningHook(rule='random', ratio=0.5, anneal=0.25)`` in
    place of the config's GradNormHook (the mmcls 0.x name and settings):
    every epoch serves the numpy plan of ``random_pruning`` (epochs 0 and
    3 all 60 samples, 1 and 2 its seeded draws, weighted 2); a bad setting
    is refused when the hook is built, naming it."""
    from mmcls_geda.engines.mmpretrain import DynamicPruningHook
    with pytest.raises(ValueError, match='ratio'):
        DynamicPruningHook(ratio=1.5)
    with pytest.raises(ValueError, match='rule'):
        DynamicPruningHook(rule='infobach')
    work = tmp_path / 'work'
    cfg, overrides = infobatch_cfg(cifar10_root, work)
    overrides.pop('custom_hooks.0.options.anneal')
    cfg.custom_hooks[0] = dict(
        type='DynamicPruningHook',
        rule='random',
        ratio=0.5,
        anneal=0.25,
        priority='HIGHEST')
    _, served, _, log = run(cfg, **overrides)
    options = SelectionArgs(
        method='random_pruning', options=dict(ratio=0.5,
                                              anneal=0.25)).resolved_options()
    plan = RotationPlan(LABELS, 1.0, 'random_pruning', options, 0, 4)
    for epoch in range(4):
        losses = (
            np.full(60, np.nan)
            if epoch == 0 else state(work, epoch)['losses'])
        choice = plan.choose(epoch, losses.astype(np.float64))
        n = choice.indices.size
        assert served[epoch][:n] == choice.indices.tolist(), epoch
        assert (n < 60) == (epoch in (1, 2)), epoch
    assert 'GradNormHook: epoch 1: random_pruning serves' in log


def test_a_resumed_infobatch_run_serves_the_uninterrupted_run(
        cifar10_root, tmp_path, monkeypatch):
    """InfoBatch killed after epoch 1 (of 4) and resumed (resume=True):
    the pruned epoch 2 and the full epoch 3 serve the uninterrupted run's
    draws in its order, at its learning rates (the recorded losses come
    back from the saved state)."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    cfg, overrides = infobatch_cfg(cifar10_root, tmp_path / 'whole')
    _, whole, whole_rows, _ = run(cfg, **overrides)

    class Killed(Exception):
        pass

    class Kill(Hook):

        def after_train_epoch(self, runner):
            if runner.epoch == 1:
                raise Killed

    HOOKS.register_module(module=Kill, force=True)
    work = tmp_path / 'killed'
    cfg, overrides = infobatch_cfg(cifar10_root, work)
    cfg.custom_hooks.append(dict(type='Kill', priority='LOWEST'))
    with pytest.raises(Killed):
        run(cfg, **overrides)
    cfg, overrides = infobatch_cfg(cifar10_root, work)
    runner, rest, rest_rows, log = run(
        cfg, load_from=str(work / 'epoch_2.pth'), resume=True, **overrides)
    assert 'GradNormHook: resumed at epoch 2 with the losses of 60' in log
    assert sorted(rest) == [2, 3]
    assert len(rest[2]) < 60  # pruned
    for epoch in (2, 3):
        assert rest[epoch] == whole[epoch], epoch
    assert [r[3] for r in rest_rows
            ] == pytest.approx([r[3] for r in whole_rows if r[0] >= 2],
                               rel=1e-9)


def _low_odd_high_even(view):
    """Each class's lowest losses on odd epochs, highest on even ones (a
    random draw before any loss was recorded)."""
    if view.scores is None:
        return view.rng.choice(view.size, view.budget, replace=False)
    by_loss = np.argsort(view.scores, kind='stable')
    if view.epoch % 2:
        return by_loss[:view.budget]
    return by_loss[view.size - view.budget:]


@pytest.fixture
def own_method():
    from mmcls_geda.selection import METHODS, Method, register_method
    register_method(
        Method('low_odd_high_even', 'losses', epoch=_low_odd_high_even))
    yield 'low_odd_high_even'
    METHODS.pop('low_odd_high_even')


def test_an_own_method_reads_the_recorded_losses(cifar10_root, tmp_path,
                                                 own_method):
    """An own per-epoch method (EachEpoch) reading 'losses', built with
    apply_geda (which makes the ImageClassifier a WeightedImageClassifier):
    from epoch 1 on, each class serves its lowest (odd epochs) or highest
    (even) recorded losses of the saved state, a never-trained sample at
    its class's median."""
    from mmcls_geda import apply_geda
    cfg = stock_cfg(
        cifar10_root, tmp_path / 'x', tmp_path, wrap=False, max_epochs=4)
    cfg.custom_hooks = []
    work = tmp_path / 'own'
    cfg = apply_geda(cfg, FRACTION, own_method, hook=dict(seed=1))
    assert cfg.model.type == 'WeightedImageClassifier'
    cfg.work_dir = str(work)
    cfg.custom_hooks.append(dict(type='Trace', priority='LOWEST'))
    _, served, _, _ = run(cfg)
    for epoch in range(1, 4):
        losses = filled(state(work, epoch)['losses'])
        for c in range(10):
            members = np.flatnonzero(LABELS == c)
            ranked = members[np.argsort(losses[members], kind='stable')]
            want = ranked[:3] if epoch % 2 else ranked[-3:]
            got = sorted(i for i in served[epoch] if LABELS[i] == c)
            assert got == sorted(want.tolist()), (epoch, c)
