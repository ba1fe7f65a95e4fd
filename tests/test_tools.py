"""The demo's dataset (the grid and demo tools: tests/test_experiments.py)."""
import os.path as osp

import numpy as np
import pytest
from mmcls.datasets import build_dataset

from .conftest import run_tool, run_tool_failing


def test_sklearn_digits_split():
    pipeline = [dict(type='Collect', keys=['img', 'gt_label'])]
    train = build_dataset(dict(type='SklearnDigits', pipeline=pipeline))
    test = build_dataset(
        dict(type='SklearnDigits', pipeline=pipeline, test_mode=True))
    assert (len(train), len(test)) == (1347, 450)
    assert train[0]['img'].shape == (8, 8, 1)
    assert train[0]['img'].dtype == np.uint8
    counts = np.bincount(train.get_gt_labels())
    assert counts.min() >= 130 and counts.sum() == 1347
    again = build_dataset(dict(type='SklearnDigits', pipeline=pipeline))
    assert np.array_equal(again.get_gt_labels(), train.get_gt_labels())


# --- tools/geda_select.py and tools/selection_report.py ----------------------


def test_geda_select_keeps_the_weights_through_a_selection_file(
        python, cifar10_root, tmp_path):
    """geda_select.py -> data.train.selection_file with weights='gradmatch':
    the record carries the weights, a run with the same settings trains
    with them, one without them is refused (never silently unweighted)."""
    from mmcls.models import build_classifier

    from mmcls_geda import GradNormHook
    from mmcls_geda.selection import record
    from .conftest import (make_runner, small_cfg_options, small_resnet_cfg,
                           train_loader, wrapper_cfg)
    work = str(tmp_path / 'sel')
    run_tool(python, 'tools/geda_select.py',
             'configs/geda/resnet18_1xb64-geda-f0.4_cifar10.py', '--work-dir',
             work, '--device', 'cpu', '--cfg-options',
             *small_cfg_options(cifar10_root,
                                work), 'custom_hooks.0.weights=gradmatch')
    path = osp.join(work, record.SELECTION_FILE)
    saved = record.load_record(path)
    assert saved['weights'] == dict(type='gradmatch', lam=1e-3)
    assert saved['weighted'] and saved['selection']['weighting'] == 'gradmatch'
    weights = np.array(saved['selection']['weights'])
    assert not np.allclose(weights, weights[0])

    def first_epoch(**hook):
        ds = build_dataset(wrapper_cfg(cifar10_root, 0.4, selection_file=path))
        model = build_classifier(
            dict(small_resnet_cfg(), type='WeightedImageClassifier'))
        runner = make_runner(tmp_path / 'train', model)
        runner.data_loader = train_loader(ds)
        GradNormHook(scoring_workers=0, **hook).before_train_epoch(runner)
        return ds

    ds = first_epoch(weights='gradmatch')
    assert bool(ds._state[1]) and np.allclose(ds.weights, weights)
    with pytest.raises(ValueError, match=r'weights: saved \{'):
        first_epoch()


def _report_dir(tmp_path, n, norms_n):
    from mmcls_geda.selection import record, select_subset
    labels = np.arange(n) % 5
    selection = select_subset(np.linspace(1, 2, n), labels, 0.5)
    record.save_record(
        str(tmp_path),
        record.make_record(
            selection,
            fingerprint=record.labels_fingerprint(labels),
            scope='full',
            weighted=False,
            epoch=0,
            scoring_s=0.0))
    other = np.arange(norms_n) % 3
    record.save_scores(str(tmp_path), np.ones(norms_n), other)
    return str(tmp_path)


def test_selection_report_checks_the_scores_belong_to_the_record(
        python, tmp_path):
    """Issue 24, 5: a record and norms of different data sets, or fewer
    norms than indices, are clear errors, never a report."""
    out = run_tool_failing(python, 'tools/selection_report.py',
                           _report_dir(tmp_path / 'other', 50, 60))
    assert 'fingerprint' in out and 'different runs' in out
    out = run_tool_failing(python, 'tools/selection_report.py',
                           _report_dir(tmp_path / 'short', 50, 10))
    assert 'Traceback' not in out and 'IndexError' not in out
    assert 'fingerprint' in out or 'only 10 saved scores' in out
    assert not osp.exists(tmp_path / 'other' / 'geda_selection_report.png')
