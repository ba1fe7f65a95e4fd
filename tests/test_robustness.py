"""Nothing silent, nothing lost: every mistake is named where it is made."""
import importlib.util
import json
import logging
import os
import os.path as osp
import re
import warnings
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmcls.datasets import RepeatDataset, build_dataloader, build_dataset
from mmcls.models import build_classifier
from mmcv import Config
from torch.utils.data import DataLoader, TensorDataset

from mmcls_geda import GradNormHook, apply_geda
from mmcls_geda.scoring import grad_norms, grad_norms_loop
from mmcls_geda.selection import record, select_subset
from mmcls_geda.selection.gradient_matching import select_gradmatch
from .conftest import (REPO, TRAIN_PIPELINE, ServedIndices, make_model,
                       make_runner, run_tool, run_tool_failing, save_selection,
                       small_resnet_cfg, tiny_data, wrapper_cfg, write_cifar10)

# --- data loss ---------------------------------------------------------------


def _demo_module():
    spec = importlib.util.spec_from_file_location(
        'demo_tool', osp.join(REPO, 'tools', 'demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_never_deletes_what_it_did_not_write(tmp_path):
    demo = _demo_module()
    foreign = tmp_path / 'mine'
    foreign.mkdir()
    (foreign / 'thesis.tex').write_text('precious')
    with pytest.raises(SystemExit, match='not written by the demo'):
        demo.claim_work_dir(str(foreign), ['geda-f0.4-s0'])
    assert (foreign / 'thesis.tex').read_text() == 'precious'
    # its own folder: earlier runs go, anything else a user put there stays
    own = tmp_path / 'demo'
    demo.claim_work_dir(str(own), ['geda-f0.4-s0'])
    (own / 'geda-f0.4-s0').mkdir()
    (own / 'geda-f0.4-s0' / 'result.json').write_text('{}')
    (own / 'notes.txt').write_text('kept')
    demo.claim_work_dir(str(own), ['geda-f0.4-s0'])
    assert not (own / 'geda-f0.4-s0').exists()
    assert (own / 'notes.txt').read_text() == 'kept'


# --- wrong results without a word --------------------------------------------


def _write_image_folder(root: str, sizes) -> None:
    """An mmcls CustomDataset folder: 2 classes of PNGs of mixed sizes."""
    import mmcv
    rng = np.random.default_rng(0)
    for c in range(2):
        os.makedirs(osp.join(root, f'class{c}'))
        for i, (h, w) in enumerate(sizes):
            img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            mmcv.imwrite(img, osp.join(root, f'class{c}', f'{i}.png'))


def _imagenet_style_config(root: str) -> Config:
    norm = dict(mean=[127.0] * 3, std=[64.0] * 3, to_rgb=True)
    train = [
        dict(type='LoadImageFromFile'),
        dict(type='RandomResizedCrop', size=32),
        dict(type='RandomFlip', flip_prob=0.5, direction='horizontal'),
        dict(type='Normalize', **norm),
        dict(type='ImageToTensor', keys=['img']),
        dict(type='ToTensor', keys=['gt_label']),
        dict(type='Collect', keys=['img', 'gt_label'])
    ]
    test = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', size=(40, 40)),
        dict(type='CenterCrop', crop_size=32),
        dict(type='Normalize', **norm),
        dict(type='ImageToTensor', keys=['img']),
        dict(type='Collect', keys=['img'])
    ]
    data = dict(
        type='CustomDataset', data_prefix=root, classes=['class0', 'class1'])
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/resnet/resnet18_1xb64-full_cifar10.py'))
    cfg.merge_from_dict(
        dict(
            model=small_resnet_cfg(num_classes=2),
            data=dict(
                samples_per_gpu=4,
                workers_per_gpu=1,
                train=dict(data, pipeline=train, _delete_=True),
                val=dict(data, pipeline=test, test_mode=True, _delete_=True),
                test=dict(data, pipeline=test, test_mode=True, _delete_=True)),
            runner=dict(max_epochs=1),
            evaluation=dict(interval=1),
            log_config=dict(interval=1)))
    cfg.model.head.topk = (1, )
    cfg.evaluation.metric_options = dict(topk=(1, ))
    return cfg


def test_imagenet_style_config_scores_with_the_test_pipeline(python, tmp_path):
    root = str(tmp_path / 'images')
    _write_image_folder(root, [(40, 56), (64, 48), (37, 37), (80, 45)])
    cfg = apply_geda(
        _imagenet_style_config(root),
        0.5,
        'geda',
        hook=dict(scoring_workers=0, scoring_batch_size=4))
    path = str(tmp_path / 'geda_imagenet_style.py')
    cfg.dump(path)
    work = str(tmp_path / 'work')
    log = run_tool(python, 'tools/train.py', path, '--work-dir', work,
                   '--device', 'cpu')
    assert 'scoring with the evaluation pipeline, collecting gt_label' in log
    saved = record.load_record(osp.join(work, record.SELECTION_FILE))
    assert len(saved['selection']['indices']) == 4
    # without an evaluation pipeline (--no-validate) the size-setting
    # random crop cannot be dropped silently: a clear error, no scoring
    failed = run_tool_failing(python, 'tools/train.py', path, '--work-dir',
                              str(tmp_path / 'novalid'), '--device', 'cpu',
                              '--no-validate')
    assert 'sizes images with RandomResizedCrop' in failed
    assert 'set the hook\'s scoring_pipeline' in failed


class _SharedLinear(nn.Module):
    """One Linear called twice in forward (tied weights)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        return self.fc(torch.relu(self.fc(x)))


def test_a_layer_called_twice_is_refused_never_a_wrong_norm():
    data = TensorDataset(torch.randn(6, 5), torch.randint(0, 5, (6, )))
    with pytest.raises(
            RuntimeError,
            match=r"layer 'fc' \(Linear\) is called more than "
            'once'):
        grad_norms(_SharedLinear(), DataLoader(data, batch_size=3))
    # the last-layer scope reads the classifier layer's last call only
    norms, _ = grad_norms(
        _SharedLinear(), DataLoader(data, batch_size=3), scope='last_layer')
    assert np.all(np.isfinite(norms))


def test_full_norms_are_right_under_no_grad():
    data = tiny_data(8)
    model = make_model()
    loader = DataLoader(data, batch_size=4)
    expected = grad_norms_loop(model, loader)
    with torch.no_grad():
        norms, _ = grad_norms(model, loader)
        loop = grad_norms_loop(model, loader)
    np.testing.assert_allclose(norms, expected, rtol=1e-4)
    np.testing.assert_allclose(loop, expected, rtol=1e-9)


def test_wrapper_without_the_hook_refuses_to_train(cifar10_root, tmp_path):
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.5))
    runner = make_runner(tmp_path, build_classifier(small_resnet_cfg()))
    loader = build_dataloader(ds, 8, 0, dist=False, persistent_workers=False)
    with pytest.raises(
            RuntimeError, match='no selection yet: add .*'
            'GradNormHook'):
        runner.run([loader], [('train', 1)])
    # a saved selection needs no hook
    sel = select_subset(None, ds.full_labels, 0.5, 'random', seed=4)
    path = save_selection(tmp_path / 'saved', ds, sel)
    served = build_dataset(wrapper_cfg(cifar10_root, 0.5, selection_file=path))
    runner = make_runner(tmp_path / 'b', build_classifier(small_resnet_cfg()))
    seen = ServedIndices()
    runner.register_hook(seen)
    runner.run(
        [build_dataloader(served, 8, 0, dist=False, persistent_workers=False)],
        [('train', 1)])
    assert np.array_equal(np.sort(np.concatenate(seen.served)), sel.indices)


def _saved_geda(ds, work_dir: str, **options) -> None:
    sel = select_subset(
        np.arange(60.0), ds.full_labels, 0.5, 'geda', **options)
    save_selection(work_dir, ds, sel)


@pytest.mark.parametrize('hook_args, named', [
    (dict(method='topk'), "method: saved 'geda', configured 'topk'"),
    (dict(options=dict(nodes=7)), 'options: saved'),
    (dict(scope='last_layer'), "scope: saved 'full', configured "
     "'last_layer'"),
])
def test_resume_with_other_settings_is_refused(cifar10_root, tmp_path,
                                               hook_args, named):
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.5))
    _saved_geda(ds, str(tmp_path))
    runner = make_runner(tmp_path, build_classifier(small_resnet_cfg()))
    runner.data_loader = build_dataloader(
        ds, 8, 0, dist=False, persistent_workers=False)
    runner._epoch = 1  # as after resume_from=epoch_1.pth
    with pytest.raises(ValueError, match=named):
        GradNormHook(**hook_args).before_train_epoch(runner)
    GradNormHook().before_train_epoch(runner)  # the same settings: reused
    assert ds.selection.method == 'geda'


def test_truncated_or_empty_selection_file_names_the_file(
        cifar10_root, tmp_path):
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.5))
    _saved_geda(ds, str(tmp_path))
    path = tmp_path / record.SELECTION_FILE
    text = path.read_text()
    runner = make_runner(tmp_path, build_classifier(small_resnet_cfg()))
    runner.data_loader = build_dataloader(
        ds, 8, 0, dist=False, persistent_workers=False)
    runner._epoch = 1
    for broken in (text[:len(text) // 2], ''):
        path.write_text(broken)
        with pytest.raises(
                ValueError,
                match=f'{path} is empty, truncated or not JSON'
                '.*select again'):
            GradNormHook().before_train_epoch(runner)


def _as_older_version(path, schema: int) -> None:
    """Rewrite the record at ``path`` as an older version wrote it: schema
    2, or schema 1 (no ``schema`` field), without what schema 3 added."""
    saved = json.loads(path.read_text())
    for key in ('weights', 'phase', 'schedule'):
        saved.pop(key, None)
    for key in ('weighting', 'reference_objective'):
        saved['selection'].pop(key, None)
    if schema == 1:
        del saved['schema']
    else:
        saved['schema'] = schema
    path.write_text(json.dumps(saved))


@pytest.mark.parametrize('schema', [1, 2])
def test_selection_files_of_older_formats_are_refused_naming_the_format(
        cifar10_root, tmp_path, schema):
    """Issue 29, point 4: a record of an older version is refused (it was
    read, with defaults for what it lacks), as a config's selection_file
    and on a resume, with its format and what to do."""
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.5))
    _saved_geda(ds, str(tmp_path))
    path = tmp_path / record.SELECTION_FILE
    _as_older_version(path, schema)
    named = (
        re.escape(f'{path} is in the schema-{schema} format of an '
                  'older mmcls-geda') + '.*no longer reads: delete it '
        'and select again')
    with pytest.raises(ValueError, match=named):
        build_dataset(wrapper_cfg(cifar10_root, 0.5, selection_file=str(path)))
    runner = make_runner(tmp_path, build_classifier(small_resnet_cfg()))
    runner.data_loader = build_dataloader(
        ds, 8, 0, dist=False, persistent_workers=False)
    runner._epoch = 1  # as after resume_from=epoch_1.pth
    with pytest.raises(ValueError, match=named):
        GradNormHook().before_train_epoch(runner)
    # a newer format than this version's is refused too
    saved = json.loads(path.read_text())
    path.write_text(json.dumps(dict(saved, schema=4)))
    with pytest.raises(
            ValueError,
            match='has schema 4; this version reads '
            'schema 3 only: delete it'):
        build_dataset(wrapper_cfg(cifar10_root, 0.5, selection_file=str(path)))


def test_resume_refuses_a_schedule_log_it_cannot_check(cifar10_root, tmp_path):
    """Issue 29, point 4: a ``geda_schedule.json`` without the schedule
    settings (an older version's) or unreadable let a resumed run go on
    unchecked; it is refused, naming the file and the ways out, and
    removing it (one of them) resumes."""
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.5))
    _saved_geda(ds, str(tmp_path))
    log = tmp_path / record.SCHEDULE_FILE
    runner = make_runner(tmp_path, build_classifier(small_resnet_cfg()))
    runner.data_loader = build_dataloader(
        ds, 8, 0, dist=False, persistent_workers=False)
    runner._epoch = 1
    older = dict(events=[dict(epoch=0, phase='subset', method='geda')])
    for text, why in ((json.dumps(older), 'keeps no schedule settings (the '
                       'format of an older mmcls-geda'),
                      ('{"events": [', 'is truncated or not JSON')):
        log.write_text(text)
        with pytest.raises(ValueError) as err:
            GradNormHook().before_train_epoch(runner)
        message = str(err.value)
        assert message.startswith(f'{log} {why}')
        assert 'start a new work_dir, or delete the file' in message
    log.unlink()
    GradNormHook().before_train_epoch(runner)
    assert ds.selection.method == 'geda'


def test_selection_file_with_a_repeated_index_names_the_file(
        cifar10_root, tmp_path):
    """Issue 31, case 6: refused without naming the file."""
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.5))
    _saved_geda(ds, str(tmp_path))
    path = tmp_path / record.SELECTION_FILE
    saved = json.loads(path.read_text())
    indices = saved['selection']['indices']
    indices[1] = indices[0]
    path.write_text(json.dumps(saved))
    with pytest.raises(
            ValueError,
            match=f'selection file {path}: indices must be unique, got 1 '
            'repeated$'):
        build_dataset(wrapper_cfg(cifar10_root, 0.5, selection_file=path))


def test_train_refuses_a_work_dir_that_is_a_file(python, tmp_path):
    """Issue 31, case 6: mmcv's bare FileExistsError traceback."""
    afile = tmp_path / 'afile'
    afile.write_text('x')
    for work_dir, message in [
        (afile, f'--work-dir {afile} is a file, not a folder'),
        (afile / 'w', f'--work-dir {afile}/w lies under {afile}, which is a '
         'file'),
    ]:
        out = run_tool_failing(python, 'tools/train.py',
                               'configs/demo/resnet18_1xb64-full_digits.py',
                               '--work-dir', str(work_dir), '--device', 'cpu')
        assert f'train.py: error: {message}' in out
        assert 'Traceback' not in out


def test_truncated_cifar_pickle_names_the_file(tmp_path):
    root = write_cifar10(str(tmp_path))
    batch = osp.join(root, 'cifar-10-batches-py', 'data_batch_3')
    with open(batch, 'rb') as f:
        head = f.read(200)
    with open(batch, 'wb') as f:
        f.write(head)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with pytest.raises(
                ValueError, match=f'{batch} is truncated or not a CIFAR '
                'pickle'):
            build_dataset(
                dict(
                    type='LocalCIFAR10',
                    data_prefix=root,
                    pipeline=TRAIN_PIPELINE))


def test_gradmatch_degenerate_classes_get_uniform_weights():
    rng = np.random.default_rng(0)
    for scale in (0.0, 1e-200):
        e = np.full((8, 3), scale)
        with warnings.catch_warnings():
            warnings.simplefilter('error')  # no RuntimeWarning either
            positions, weights, error = select_gradmatch(e @ e.T, 3, 1e-3, rng)
        assert positions.size == 3 and np.unique(positions).size == 3
        assert np.allclose(weights, 8 / 3) and error == 0.0
    sel = select_subset(
        np.zeros((10, 4)), np.repeat([0, 1], 5), 0.4, 'gradmatch')
    assert np.all(np.isfinite(sel.weights)) and len(sel) == 4


def test_gradmatch_lam0_with_duplicated_embeddings():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(4, 6))
    e = np.repeat(base, 5, axis=0)  # every atom five times
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        # 4 atoms a step: a step takes duplicates, K_SS is singular
        positions, weights, error = select_gradmatch(
            e @ e.T, 8, 0.0, rng, steps=2)
        assert positions.size == 8 and np.all(np.isfinite(weights))
        assert np.all(weights >= 0) and 0 <= error < 1
        # one atom a step: each step covers a new direction, exact match
        positions, weights, error = select_gradmatch(
            e @ e.T, 4, 0.0, rng, steps=4)
    assert np.unique(positions // 5).size == 4 and error < 1e-6


def test_weights_with_mixup_are_refused(cifar10_root, tmp_path):
    cfg = dict(
        small_resnet_cfg(),
        type='WeightedImageClassifier',
        train_cfg=dict(
            augments=dict(
                type='BatchMixup', alpha=1.0, num_classes=10, prob=1.0)))
    model = build_classifier(cfg)
    runner = make_runner(tmp_path, model)
    with pytest.raises(TypeError, match='Mixup/CutMix'):
        GradNormHook(method='gradmatch').before_run(runner)
    GradNormHook(method='gradmatch', weighted=False).before_run(runner)
    with pytest.raises(TypeError, match='Mixup/CutMix'):
        model.forward_train(
            torch.randn(2, 3, 32, 32),
            torch.tensor([0, 1]),
            sample_weight=torch.ones(2))


# --- errors where the mistake is made ----------------------------------------


def test_hook_and_apply_geda_check_every_argument_up_front(tmp_path):
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/resnet/resnet18_1xb64-full_cifar10.py'))
    cases = [
        (dict(seed=-1), ValueError, 'seed must be an integer >= 0, got -1'),
        (dict(scope='ful'), ValueError, "unknown scope 'ful'"),
        (dict(interval=-1), ValueError, 'interval must be an integer >= 0'),
        (dict(scoring_batch_size=0), ValueError, 'scoring_batch_size'),
        (dict(checkpoint=str(tmp_path / 'none.pth')), FileNotFoundError,
         'none.pth'),
        (dict(weighted='yes'), ValueError, 'weighted must be True or False'),
    ]
    for args, error, message in cases:
        with pytest.raises(error, match=message):
            GradNormHook(**args)
        with pytest.raises(error, match=message):
            apply_geda(cfg, 0.5, hook=args)
    # how to score, for a run that scores nothing: refused, not ignored
    for method, args, message in (
        ('rs2', dict(checkpoint=__file__),
         r"checkpoint='.*' would say how the training set is scored, but "
         r"per-epoch method 'rs2' \(reads: nothing\) scores nothing in "
         'this run: drop checkpoint'),
        ('random', dict(scoring_model=dict(type='ImageClassifier')),
         "method 'random' .* drop scoring_model"),
        ('random', dict(scoring_pipeline=[dict(type='Collect')]),
         "method 'random' .* drop scoring_pipeline"),
    ):
        with pytest.raises(ValueError, match=message):
            GradNormHook(method=method, **args)
        with pytest.raises(ValueError, match=message):
            apply_geda(cfg, 0.5, method=method, hook=args)
    # what scores takes them: a first phase of norms, a plan on norms, a
    # second phase that scores, matching weights
    for args in (dict(method='geda'),
                 dict(method='geda_rotate', options=dict(refold='fixed')),
                 dict(
                     method='random',
                     then=dict(method='geda', start_epoch=2, interval=1)),
                 dict(method='random', weights=dict(type='gradmatch'))):
        GradNormHook(checkpoint=__file__, scoring_pipeline=[], **args)
    with pytest.raises(ValueError, match=r"unknown or doubled: \['scop'\]"):
        apply_geda(cfg, 0.5, hook=dict(scop='full'))


def test_then_on_the_command_line_is_given_key_by_key(tmp_path):
    """docs/user_guide.md: ``then`` through mmcv's ``--cfg-options``, key by
    key, reaches the hook as its second phase; a ``dict(...)`` value stays
    a string, which the hook refuses naming the key-by-key form."""
    import argparse

    from mmcv import DictAction
    guide = open(osp.join(REPO, 'docs', 'user_guide.md'), encoding='utf-8')
    options = re.search(r'`(custom_hooks\.0\.then\.method=[^`]*)`',
                        guide.read()).group(1).split()
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg = apply_geda(
        Config.fromfile(
            osp.join(REPO, 'configs/resnet/resnet18_1xb64-full_cifar10.py')),
        0.2)
    cfg.merge_from_dict(
        parser.parse_args(['--cfg-options', *options]).cfg_options)
    hook = {
        k: v
        for k, v in cfg.custom_hooks[0].items()
        if k not in ('type', 'priority')
    }
    assert GradNormHook(**hook).args.then == dict(
        method='gradmatch', options={}, start_epoch=4, interval=4)
    typed = parser.parse_args(
        ['--cfg-options', 'custom_hooks.0.then=dict(method=gradmatch)'])
    with pytest.raises(
            ValueError,
            match="got 'dict\\(method=gradmatch\\)'; on the command line "
            'give it key by key: custom_hooks.0.then.method=M'):
        GradNormHook(then=typed.cfg_options['custom_hooks.0.then'])
    # a missing checkpoint of a run that scores nothing: the checkpoint is
    # refused for the run before the file is looked for
    with pytest.raises(ValueError, match='drop checkpoint'):
        GradNormHook(method='rs2', checkpoint=str(tmp_path / 'none.pth'))


def test_a_failed_report_is_logged_and_training_goes_on(
        cifar10_root, tmp_path, caplog):
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.5))
    runner = make_runner(tmp_path, build_classifier(small_resnet_cfg()))
    runner.register_hook(
        GradNormHook(scoring_workers=0, scoring_batch_size=16),
        priority='HIGHEST')
    seen = ServedIndices()
    runner.register_hook(seen)
    full_disk = OSError(28, 'No space left on device')
    with mock.patch(
            'mmcls_geda.report.write_report',
            side_effect=full_disk), caplog.at_level(logging.WARNING):
        runner.run(
            [build_dataloader(ds, 8, 0, dist=False, persistent_workers=False)],
            [('train', 1)])
    assert 'selection report could not be written' in caplog.text
    assert 'No space left on device' in caplog.text
    assert osp.isfile(tmp_path / record.SELECTION_FILE)
    assert np.concatenate(seen.served).size == 30  # the epoch was trained


@pytest.mark.parametrize('outer', ['repeat', 'concat'])
def test_hook_finds_the_wrapper_inside_repeat_and_concat(
        cifar10_root, tmp_path, outer):
    wrapped = wrapper_cfg(cifar10_root, 0.5)
    if outer == 'repeat':
        ds = build_dataset(
            dict(type='RepeatDataset', times=2, dataset=wrapped))
        assert isinstance(ds, RepeatDataset)
        inner = ds.dataset
    else:
        ds = build_dataset([wrapped, wrapped])  # ConcatDataset of two
        with pytest.raises(TypeError, match='exactly one'):
            from mmcls_geda.datasets.subset import find_wrapper
            find_wrapper(ds)
        ds = build_dataset([
            wrapped,
            dict(
                type='LocalCIFAR10',
                data_prefix=cifar10_root,
                pipeline=TRAIN_PIPELINE)
        ])
        inner = ds.datasets[0]
    runner = make_runner(tmp_path, build_classifier(small_resnet_cfg()))
    runner.register_hook(
        GradNormHook(scoring_workers=0, scoring_batch_size=16),
        priority='HIGHEST')
    runner.run(
        [build_dataloader(ds, 8, 0, dist=False, persistent_workers=False)],
        [('train', 1)])
    saved = json.load(open(tmp_path / record.SELECTION_FILE))
    assert inner.selection.method == 'geda'
    assert inner.indices.tolist() == saved['selection']['indices']


# --- issue 24: errors that name the cause and a fix that works ---------------


def test_weights_with_a_plain_classifier_suggest_a_fix_that_works(tmp_path):
    runner = make_runner(tmp_path, build_classifier(small_resnet_cfg()))
    with pytest.raises(TypeError) as err:
        GradNormHook(weights='gradmatch').before_run(runner)
    assert 'weights=None' in str(err.value)
    assert 'set weighted=False in' not in str(err.value)
    # the fix it names is accepted; the one it must not name is refused
    GradNormHook(weights=None).before_run(runner)
    with pytest.raises(ValueError, match='weighted=False drops'):
        GradNormHook(weights='gradmatch', weighted=False)


def test_geda_and_pruning_on_one_config_are_refused_at_config_time():
    from mmcls_geda import apply_pruning
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/resnet/resnet18_1xb64-full_cifar10.py'))
    with pytest.raises(ValueError, match='already uses apply_pruning'):
        apply_geda(apply_pruning(cfg), 0.5)
    with pytest.raises(ValueError, match='already uses apply_geda'):
        apply_pruning(apply_geda(cfg, 0.5))


def test_a_resampling_wrapper_around_the_geda_wrapper_is_named(cifar10_root):
    from mmcls_geda.datasets.subset import find_wrapper
    ds = build_dataset(
        dict(
            type='ClassBalancedDataset',
            oversample_thr=0.5,
            dataset=wrapper_cfg(cifar10_root)))
    with pytest.raises(
            TypeError, match='ClassBalancedDataset around a '
            'GEDASubsetDataset'):
        find_wrapper(ds)


@pytest.mark.parametrize('blocked', ['file_is_folder', 'work_dir_is_file'])
def test_unwritable_records_are_refused_before_the_scoring_pass(
        cifar10_root, tmp_path, blocked):
    work = tmp_path / 'work'
    if blocked == 'file_is_folder':
        (work / 'geda_selection.json').mkdir(parents=True)
    else:
        work.write_text('not a folder')
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.5))
    runner = make_runner(tmp_path, build_classifier(small_resnet_cfg()))
    runner.work_dir = str(work)
    runner.data_loader = build_dataloader(ds, 8, 1, dist=False)
    with mock.patch('mmcls_geda.apis.runs.grad_norms') as gn:
        with pytest.raises(ValueError, match='is a f'):
            GradNormHook(scoring_workers=0).before_train_epoch(runner)
        gn.assert_not_called()


def test_a_model_the_norms_cannot_take_is_named_before_training(
        cifar10_root, tmp_path):
    """mmcls's vision transformer scored over all its parameters: the
    hook's before_run names its first layer the exact per-sample norms
    cannot take and ``scope='last_layer'``, before any scoring pass; a
    method that scores nothing (random) trains it."""
    vit = dict(
        type='ImageClassifier',
        backbone=dict(
            type='VisionTransformer',
            arch='deit-tiny',
            img_size=32,
            patch_size=4),
        neck=None,
        head=dict(
            type='VisionTransformerClsHead', num_classes=10, in_channels=192))
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.5))
    loader = build_dataloader(ds, 8, 0, dist=False, persistent_workers=False)
    runner = make_runner(tmp_path / 'geda', build_classifier(vit))
    runner.register_hook(GradNormHook(method='geda'), priority='HIGHEST')
    with pytest.raises(
            TypeError,
            match=r"method 'geda'\) scores per-sample gradient norms: layer "
            r"'backbone.*has trainable parameters.*scope=\"last_layer\""):
        runner.run([loader], [('train', 1)])
    assert not osp.exists(tmp_path / 'geda' / record.SELECTION_FILE)
    runner = make_runner(tmp_path / 'random', build_classifier(vit))
    runner.register_hook(GradNormHook(method='random'), priority='HIGHEST')
    runner.run([loader], [('train', 1)])
    assert osp.exists(tmp_path / 'random' / record.SELECTION_FILE)
