"""Schedules on mmpretrain 1.x: ``GradNormHook`` serves the warm-up slices,
re-selections every ``interval`` epochs and a second phase (``then``) of
the plan the mmcls 0.x hook serves, through mmpretrain's stock CIFAR-10
config and mmengine's ``Runner``; saves the mmcls 0.x files; a resumed run
serves what the uninterrupted one served; a scoring checkpoint or a proxy
model scores instead of the training model."""
import json
import os.path as osp
import warnings

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmpretrain.registry import DATASETS, MODELS
from torch.utils.data import DataLoader

from mmcls_geda.apis import SelectionArgs
from mmcls_geda.engines.mmpretrain.config import apply_geda
from mmcls_geda.engines.mmpretrain.hook import GradNormHook
from mmcls_geda.scoring import grad_norms
from mmcls_geda.selection import record, select_subset
from mmcls_geda.selection.schedule import (plan_schedule, selection_seed,
                                           warmup_indices)
from .conftest import local_cifar_cfg, make_classifier, small_classifier_cfg
from .test_hook import stock_cfg, train
from .test_rs2 import LABELS, per_epoch

# 6 epochs of 30 of the 60 samples: warm-up epochs 0-1 (one full pass),
# GEDA on input norms (the same whatever the weights) from epoch 2,
# re-selected at 4; random from epoch 5 (the second phase)
SCHEDULE = dict(
    method='geda',
    scope='input',
    seed=3,
    warmup_epochs=1,
    interval=2,
    then=dict(method='random', start_epoch=5, interval=1))


def schedule_cfg(root, work, tmp_path, max_epochs=6, **hook):
    return stock_cfg(
        root,
        work,
        tmp_path,
        hook=dict(
            type='GradNormHook', priority='HIGHEST', scoring_workers=0,
            **hook),
        max_epochs=max_epochs)


def mmcls_plan(norms, hook, max_epochs=6, n=60, size=30):
    """What the mmcls 0.x hook serves each epoch for these norms, labels
    and settings: the same numpy plan, warm-up slices and selections."""
    plan = plan_schedule(n, size, max_epochs, hook['warmup_epochs'],
                         hook['interval'], hook['then'])
    served = []
    for epoch in range(max_epochs):
        step = plan.step(epoch)
        if step.phase == 'warmup':
            served.append(warmup_indices(n, size, epoch, hook['seed']))
            continue
        method = hook['method'] if step.phase == 'subset' else hook['then'][
            'method']
        served.append(
            select_subset(
                norms,
                LABELS,
                0.5,
                method,
                seed=selection_seed(hook['seed'], step.due)).indices)
    return [sorted(s.tolist()) for s in served]


def test_warmup_interval_and_then_serve_the_mmcls_plan(cifar10_root, tmp_path):
    work = tmp_path / 'work'
    runner, served, log = train(
        schedule_cfg(cifar10_root, work, tmp_path, **SCHEDULE))
    norms, labels = record.load_scores(str(work))
    assert np.array_equal(labels, LABELS)
    epochs = per_epoch(served, 30)  # warm-up epochs too: the subset's size
    assert epochs == mmcls_plan(norms, SCHEDULE)
    assert sorted(epochs[0] + epochs[1]) == list(range(60))  # one pass
    assert epochs[2] == epochs[3] != epochs[4]
    # the mmcls 0.x files: one record per selection, the events
    for epoch, method, phase in ((2, 'geda', 'subset'), (4, 'geda', 'subset'),
                                 (5, 'random', 'then')):
        saved = record.load_record(
            osp.join(work, record.epoch_selection_file(epoch)))
        assert saved['method'] == method and saved['phase'] == phase
        assert saved['epoch'] == epoch
        assert saved['seed'] == selection_seed(3, epoch)
        assert sorted(saved['selection']['indices']) == epochs[epoch]
        assert saved['schedule'] == dict(
            warmup_epochs=1.0,
            interval=2,
            then=dict(method='random', options={}, start_epoch=5, interval=1),
            seed=3)
    latest = record.load_record(osp.join(work, record.SELECTION_FILE))
    assert latest == saved  # the last selection's, as on mmcls 0.x
    with open(osp.join(work, record.SCHEDULE_FILE)) as f:
        schedule = json.load(f)
    assert [(e['epoch'], e['phase'])
            for e in schedule['events']] == [(0, 'warmup'), (2, 'subset'),
                                             (4, 'subset'), (5, 'then')]
    assert schedule['events'][0] == dict(
        epoch=0, phase='warmup', passes=1.0, epochs=2, size=30)
    assert schedule['settings']['interval'] == 2
    assert ('GradNormHook schedule: warm-up epochs 0-1 (1 passes); subset '
            'from epoch 2, re-selected every 2; second phase from epoch 5'
            in log)
    assert 'GradNormHook: epoch 1, phase warmup: 30 samples of all 60' in log
    assert ('GradNormHook: epoch 3, phase subset: training on the geda '
            'selection of epoch 2') in log
    assert 'GradNormHook: scoring input norms of all 60' in log
    assert runner.epoch == 6


@pytest.mark.parametrize('resume_at', [1, 3, 5])
def test_a_resumed_schedule_serves_what_the_run_served(cifar10_root, tmp_path,
                                                       monkeypatch, resume_at):
    """Resumed in the warm-up (1), on a reused selection (3: the saved
    record, no scoring pass) and in the second phase (5)."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    work = tmp_path / 'work'
    _, first, _ = train(schedule_cfg(cifar10_root, work, tmp_path, **SCHEDULE))
    events = record._load_schedule(osp.join(work, record.SCHEDULE_FILE))
    _, resumed, log = train(
        schedule_cfg(cifar10_root, work, tmp_path, **SCHEDULE),
        load_from=str(work / f'epoch_{resume_at}.pth'),
        resume=True)
    assert per_epoch(resumed, 30) == per_epoch(first, 30)[resume_at:]
    if resume_at == 3:
        assert ('GradNormHook: resumed the selection from '
                f'{work / record.epoch_selection_file(2)} (epoch 3, no '
                'scoring pass)') in log
    after = record._load_schedule(osp.join(work, record.SCHEDULE_FILE))
    strip = [{
        k: v
        for k, v in e.items() if not k.endswith('_s')
    } for e in events['events']]
    assert [{
        k: v
        for k, v in e.items() if not k.endswith('_s')
    } for e in after['events']] == strip


def test_a_resume_with_another_schedule_is_refused(cifar10_root, tmp_path,
                                                   monkeypatch):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    work = tmp_path / 'work'
    train(schedule_cfg(cifar10_root, work, tmp_path, **SCHEDULE))
    other = dict(SCHEDULE, interval=1)
    with pytest.raises(ValueError, match='another schedule.*interval'):
        train(
            schedule_cfg(cifar10_root, work, tmp_path, **other),
            load_from=str(work / 'epoch_3.pth'),
            resume=True)


def scoring_loader(root):
    """The scoring pass's loader: the training set with the stock
    validation pipeline (``PackInputs``), in order."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        dataset = DATASETS.build(local_cifar_cfg(root))
    return DataLoader(dataset, batch_size=16, collate_fn=pseudo_collate)


def test_a_scoring_checkpoint_scores_instead_of_the_model(
        cifar10_root, tmp_path):
    """``checkpoint``: a copy of the training model loaded from a local
    checkpoint scores; the norms are that model's, not the run's."""
    work = tmp_path / 'work'
    cfg = schedule_cfg(cifar10_root, work, tmp_path, max_epochs=1)
    torch.manual_seed(11)
    scorer = MODELS.build(
        dict(cfg.model.to_dict(), data_preprocessor=cfg.data_preprocessor))
    path = str(tmp_path / 'scorer.pth')
    torch.save(dict(state_dict=scorer.state_dict()), path)
    cfg.custom_hooks[0].update(checkpoint=path, report=False)
    runner, served, log = train(cfg)
    norms, _ = record.load_scores(str(work))
    expected, _ = grad_norms(scorer, scoring_loader(cifar10_root))
    np.testing.assert_allclose(norms, expected, rtol=1e-5)
    own, _ = grad_norms(runner.model, scoring_loader(cifar10_root))
    assert not np.allclose(norms, own, rtol=1e-2)
    assert sorted(served) == sorted(
        select_subset(norms, LABELS, 0.5, 'geda', seed=0).indices.tolist())
    assert (f'scoring full gradient norms (with a copy of the model loaded '
            f'from {path}) of all 60') in log


def test_a_scoring_model_proxy_scores(cifar10_root, tmp_path):
    """``scoring_model``: another classifier, built with mmpretrain's
    MODELS (the run's ``data_preprocessor`` when it names none) and loaded
    from ``checkpoint``, scores; a selection is due at its step."""
    work = tmp_path / 'work'
    proxy = make_classifier(width=4, seed=5)
    path = str(tmp_path / 'proxy.pth')
    torch.save(dict(state_dict=proxy.state_dict()), path)
    proxy_cfg = small_classifier_cfg(width=4)
    proxy_cfg.pop('data_preprocessor')  # the run's, the same values
    cfg = schedule_cfg(
        cifar10_root,
        work,
        tmp_path,
        max_epochs=2,
        method='geda',
        interval=1,
        scoring_model=proxy_cfg,
        checkpoint=path,
        report=False)
    _, served, log = train(cfg)
    norms, _ = record.load_scores(str(work))
    # the proxy is not trained: the same norms at both selections
    expected, _ = grad_norms(proxy, scoring_loader(cifar10_root))
    np.testing.assert_allclose(norms, expected, rtol=1e-5)
    epochs = per_epoch(served, 30)
    assert epochs[1] == sorted(
        select_subset(norms, LABELS, 0.5, 'geda',
                      seed=selection_seed(0, 1)).indices.tolist())
    assert 'with the proxy ImageClassifier loaded from' in log


def test_a_per_epoch_method_scores_with_the_checkpoint(cifar10_root, tmp_path):
    """``checkpoint`` with a per-epoch method (``geda_rotate`` folded on
    the θ0 norms, ``refold='fixed'``), as on mmcls 0.x: the saved norms the
    plan is folded on are the loaded copy's, and every epoch serves the
    numpy plan's indices for them."""
    from mmcls_geda.selection.rotation import RotationPlan
    work = tmp_path / 'work'
    cfg = schedule_cfg(
        cifar10_root,
        work,
        tmp_path,
        max_epochs=2,
        method='geda_rotate',
        options=dict(refold='fixed'))
    torch.manual_seed(11)
    scorer = MODELS.build(
        dict(cfg.model.to_dict(), data_preprocessor=cfg.data_preprocessor))
    path = str(tmp_path / 'scorer.pth')
    torch.save(dict(state_dict=scorer.state_dict()), path)
    cfg.custom_hooks[0].update(checkpoint=path)
    runner, served, log = train(cfg)
    norms, _ = record.load_scores(str(work))
    expected, _ = grad_norms(scorer, scoring_loader(cifar10_root))
    np.testing.assert_allclose(norms, expected, rtol=1e-5)
    own, _ = grad_norms(runner.model, scoring_loader(cifar10_root))
    assert not np.allclose(norms, own, rtol=1e-2)
    options = SelectionArgs(
        method='geda_rotate', options=dict(refold='fixed')).resolved_options()
    plan = RotationPlan(LABELS, 0.5, 'geda_rotate', options, 0, 2)
    epochs = per_epoch(served, 30)
    for epoch in (0, 1):
        assert epochs[epoch] == sorted(plan.indices(epoch,
                                                    norms).tolist()), epoch


def test_apply_geda_takes_a_schedule(cifar10_root, tmp_path):
    cfg = stock_cfg(
        cifar10_root, tmp_path / 'work', tmp_path, hook=False, max_epochs=6)
    out = apply_geda(
        cfg,
        0.5,
        'geda',
        hook=dict(
            warmup_epochs=1,
            interval=2,
            then=dict(method='gradmatch', start_epoch=4, interval=1),
            weighted=False))
    hook = out.custom_hooks[-1]
    assert hook['warmup_epochs'] == 1 and hook['interval'] == 2
    GradNormHook(**{
        k: v
        for k, v in hook.items() if k not in ('type', 'priority')
    })


def test_the_schedule_config_trains_its_schedule(cifar10_root, tmp_path):
    """``configs/mmpretrain/resnet18_8xb16-geda-f0.2_warmup1-every40_
    cifar10.py``, shrunk through overrides (3 epochs, a warm-up of one
    epoch's share of a pass, re-selected every epoch): the warm-up slice,
    then each epoch's own GEDA record, every epoch of the same length."""
    from mmengine.config import Config

    from mmcls_geda.selection import class_budgets
    from .test_config import REPO, shrink
    name = 'configs/mmpretrain/resnet18_8xb16-geda-f0.2_warmup1-every40_' \
        'cifar10.py'
    cfg = Config.fromfile(osp.join(REPO, name))
    hook = cfg.custom_hooks[0]
    assert (hook.warmup_epochs, hook.interval) == (1, 40)
    size = int(class_budgets(np.bincount(LABELS), 0.2).sum())
    work = tmp_path / 'work'
    overrides = shrink(cifar10_root, work)
    overrides.update({
        'train_cfg.max_epochs': 3,
        'custom_hooks.0.warmup_epochs': round(size / 60, 3),
        'custom_hooks.0.interval': 1
    })
    cfg.custom_hooks.append(dict(type='ServedIndices'))
    _, served, log = train(cfg, **overrides)
    epochs = per_epoch(served, size)
    assert len(epochs) == 3
    assert epochs[0] == sorted(warmup_indices(60, size, 0, 0).tolist())
    for epoch in (1, 2):
        saved = record.load_record(
            osp.join(work, record.epoch_selection_file(epoch)))
        assert saved['method'] == 'geda'
        assert sorted(saved['selection']['indices']) == epochs[epoch]
    assert 'GradNormHook: scoring full gradient norms of all 60' in log


def test_an_embedding_method_selects_unweighted(cifar10_root, tmp_path):
    """CRAIG with ``weighted=False``: the last-layer gradient embeddings
    of the mmpretrain classifier scored, CRAIG's subset served without
    its weights, the record saying so."""
    work = tmp_path / 'work'
    _, served, log = train(
        schedule_cfg(
            cifar10_root,
            work,
            tmp_path,
            max_epochs=1,
            method='craig',
            weighted=False,
            report=False))
    saved = record.load_record(osp.join(work, record.SELECTION_FILE))
    assert saved['method'] == 'craig' and saved['weighted'] is False
    assert sorted(served) == sorted(saved['selection']['indices'])
    assert 'scoring last-layer gradient embeddings of all 60' in log


class UsedLearningRates(Hook):
    """Records the learning rate the optimizer uses at every training
    iteration (before the iteration's scheduler step)."""

    used = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        type(self).used.append(runner.optim_wrapper.get_lr()['lr'][0])


def test_warmup_epochs_keep_the_learning_rate_schedule(cifar10_root, tmp_path):
    """Every epoch of a schedule (warm-up slices included) is as long as
    the subset's, so mmpretrain's cosine schedule converted to iterations
    (``convert_to_iter_based``) runs as written: the rate at iteration i
    of 24 is ``0.1 (1 + cos(pi i / 24)) / 2``, ending at the schedule's."""
    HOOKS.register_module(module=UsedLearningRates, force=True)
    UsedLearningRates.used = []
    cfg = schedule_cfg(cifar10_root, tmp_path / 'work', tmp_path, **SCHEDULE)
    cfg.param_scheduler = [
        dict(
            type='CosineAnnealingLR',
            T_max=6,
            by_epoch=True,
            convert_to_iter_based=True)
    ]
    cfg.custom_hooks.append(dict(type='UsedLearningRates'))
    runner, served, _ = train(cfg)
    assert runner.iter == 24 and len(served) == 6 * 30  # 4 batches an epoch
    i = np.arange(24)
    np.testing.assert_allclose(
        UsedLearningRates.used,
        0.1 * (1 + np.cos(np.pi * i / 24)) / 2,
        rtol=1e-6,
        atol=1e-12)


def test_the_documented_then_options_reach_the_hook():
    """docs/mmpretrain.md: ``then`` given key by key through mmengine's
    ``--cfg-options`` (parsed by its ``DictAction``, as
    ``tools/train_mmpretrain.py`` does) reaches the schedule config's hook
    as the second phase; the whole ``dict(...)`` form, which the doc says
    mmengine cannot parse, indeed fails in its parser."""
    import argparse
    import re

    from mmengine.config import Config, DictAction

    from .test_config import REPO
    doc = open(osp.join(REPO, 'docs', 'mmpretrain.md'), encoding='utf-8')
    options = re.search(r'`(custom_hooks\.0\.then\.method=[^`]*)`',
                        doc.read()).group(1).split()
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parsed = parser.parse_args(['--cfg-options', *options]).cfg_options
    cfg = Config.fromfile(
        osp.join(
            REPO, 'configs/mmpretrain/'
            'resnet18_8xb16-geda-f0.2_warmup1-every40_cifar10.py'))
    cfg.merge_from_dict(parsed)
    hook = dict(cfg.custom_hooks[0])
    assert hook['then'] == dict(
        method='gradmatch', start_epoch=100, interval=20)
    built = GradNormHook(**{
        k: v
        for k, v in hook.items() if k not in ('type', 'priority')
    })
    assert built.args.then['method'] == 'gradmatch'
    assert built.args.then['start_epoch'] == 100
    with pytest.raises(RecursionError):
        parser.parse_args([
            '--cfg-options',
            "custom_hooks.0.then=dict(method='gradmatch',start_epoch=100)"
        ])
    one_key = parser.parse_args(
        ['--cfg-options',
         "custom_hooks.0.then=dict(method='gradmatch')"]).cfg_options
    with pytest.raises(ValueError, match='then must be None or a dict'):
        GradNormHook(then=one_key['custom_hooks.0.then'])
