"""tools/run_experiments.py, tools/selection_report.py, the demo's dataset."""
import csv
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mmcls.datasets import build_dataset

from .conftest import REPO, run_tool, run_tool_failing

sys.path.insert(0, osp.join(REPO, 'tools'))
import run_experiments  # noqa: E402

last_val, paired_difference = (run_experiments.last_val,
                               run_experiments.paired_difference)
parse_schedule = run_experiments.parse_schedule
selection_time = run_experiments.selection_time
split_time = run_experiments.split_time


def grid_args(root, work, *extra):
    return [
        'tools/run_experiments.py',
        'configs/resnet/resnet18_1xb64-full_cifar10.py', '--methods', 'geda',
        'ranked_even', '--fractions', '0.5', '--seeds', '0', '--full',
        '--work-dir', work, '--device', 'cpu', '--hook',
        '{"scoring_workers": 0, "scoring_batch_size": 16}', '--cfg-options',
        f'data.train.data_prefix={root}', f'data.val.data_prefix={root}',
        f'data.test.data_prefix={root}', 'data.samples_per_gpu=16',
        'data.workers_per_gpu=1', 'runner.max_epochs=1',
        'evaluation.interval=1', 'model.backbone.base_channels=8',
        'model.head.in_channels=64', *extra
    ]


def test_run_experiments_grid_jobs_then_resume(python, cifar10_root, tmp_path):
    work = str(tmp_path / 'grid')
    out = run_tool(
        python, *grid_args(cifar10_root, work, '--jobs', '2', '--threads',
                           '1'))
    assert 'ranked_even-f0.5-s0: training' in out
    rows = list(csv.DictReader(open(osp.join(work, 'results.csv'))))
    assert [(r['method'], r['fraction'])
            for r in rows] == [('full', '1.0'), ('geda', '0.5'),
                               ('ranked_even', '0.5')]
    for r in rows:  # each row is what the run's own log says
        logs = [f for f in os.listdir(r['run_dir']) if f.endswith('.log.json')]
        val = last_val(osp.join(r['run_dir'], logs[0]))
        assert float(r['top1']) == val['accuracy_top-1']
        assert float(r['train_s']) > 0 and float(r['pause_s']) == 4.0
    assert float(rows[1]['selection_s']) > 0 and rows[1]['n_train'] == '30'
    table = open(osp.join(work, 'results.md')).read()
    assert '| full | 1 |' in table
    geda_row = next(line for line in table.splitlines()
                    if line.startswith('| geda | 0.5 |'))
    full_top1, geda_top1 = float(rows[0]['top1']), float(rows[1]['top1'])
    assert f'{geda_top1 - full_top1:+.2f} (n=1)' in geda_row
    for png in ('accuracy_vs_fraction.png', 'accuracy_vs_time.png'):
        assert osp.getsize(osp.join(work, png)) > 1000

    # two runs at a time give exactly what one at a time gives
    one_by_one = str(tmp_path / 'sequential')
    run_tool(
        python,
        *grid_args(cifar10_root, one_by_one, '--jobs', '1', '--threads', '1'))
    sequential = list(
        csv.DictReader(open(osp.join(one_by_one, 'results.csv'))))
    assert [r['top1'] for r in sequential] == [r['top1'] for r in rows]
    for name in ('geda-f0.5-s0', 'ranked_even-f0.5-s0'):
        assert (json.load(
            open(osp.join(
                one_by_one, name,
                'geda_selection.json')))['selection']['indices'] == json.load(
                    open(osp.join(
                        work, name,
                        'geda_selection.json')))['selection']['indices'])

    again = run_tool(python, *grid_args(cifar10_root, work))
    assert again.count('done before, skipped') == 3
    assert list(csv.DictReader(open(osp.join(work, 'results.csv')))) == rows
    # --summary-only trains nothing and leaves unfinished runs out
    summary = run_tool(
        python,
        *grid_args(cifar10_root, work, '--summary-only', '--methods', 'geda',
                   'ranked_even', 'random'))
    assert 'random-f0.5-s0: not run yet, left out' in summary
    assert not osp.exists(osp.join(work, 'random-f0.5-s0'))
    assert list(csv.DictReader(open(osp.join(work, 'results.csv')))) == rows

    # the selection report tool redraws a run's report from its files
    geda_dir = osp.join(work, 'geda-f0.5-s0')
    out = run_tool(python, 'tools/selection_report.py', geda_dir, '--out',
                   str(tmp_path / 'report'))
    report = json.load(
        open(tmp_path / 'report' / 'geda_selection_report.json'))
    assert [c['kept'] for c in report['classes']] == [3] * 10
    assert report['objective_nodes'] == 5
    assert osp.getsize(tmp_path / 'report' /
                       'geda_selection_report.png') > 1000


def test_run_experiments_refuses_bad_input_before_any_run(python, tmp_path):
    import subprocess
    for extra, message in [(['--fractions', '1.5'], 'fraction'),
                           (['--methods', 'nope'], 'unknown method'),
                           (['--methods', 'geda+x3'], 'unknown schedule'),
                           (['--methods', 'geda+w3'], 'choose warmup_epochs'),
                           (['--methods',
                             'geda+e4-nope-r4'], "unknown method 'nope'")]:
        out = subprocess.run([
            python, 'tools/run_experiments.py',
            'configs/resnet/resnet18_1xb64-full_cifar10.py', '--work-dir',
            str(tmp_path / 'w'), *extra
        ],
                             cwd=REPO,
                             capture_output=True,
                             text=True)
        assert out.returncode != 0 and message in out.stderr
        assert not osp.exists(tmp_path / 'w')


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


def test_paired_difference_is_a_t_interval_over_matched_seeds():
    rows = [
        dict(method='random', fraction=0.2, seed=s, top1=t)
        for s, t in enumerate([50.0, 52.0, 51.0, 49.0])
    ] + [
        dict(method='geda', fraction=0.2, seed=s, top1=t)
        for s, t in enumerate([51.0, 54.0, 52.0])  # seed 3 missing
    ]
    mean, low, high, n = paired_difference(rows, 'geda', 0.2, 'random')
    diffs = np.array([1.0, 2.0, 1.0])
    half = 4.302652729911275 * diffs.std(ddof=1) / np.sqrt(3)  # t(0.975, 2)
    assert n == 3 and mean == pytest.approx(4 / 3)
    assert (low, high) == pytest.approx((4 / 3 - half, 4 / 3 + half))
    assert paired_difference(rows, 'geda', 0.4, 'random') is None


@given(st.floats(0, 1e4, allow_nan=False), st.floats(0, 1e3, allow_nan=False))
def test_timings_recomputed_from_a_saved_row_are_the_same(total, selection):
    # a resumed grid recomputes the split from result.json's total_s
    row = split_time(total, selection)
    assert split_time(row['total_s'], selection) == row
    assert row['train_s'] == round(row['total_s'] - row['selection_s'], 3)


def test_method_specs_name_their_schedules():
    assert parse_schedule('geda') == ('geda', {})
    assert parse_schedule('geda+w0.5') == ('geda', dict(warmup_epochs=0.5))
    assert parse_schedule('random+w1') == ('random', dict(warmup_epochs=1))
    assert parse_schedule('geda+r4+gm') == ('geda',
                                            dict(
                                                interval=4,
                                                weights='gradmatch'))
    assert parse_schedule('geda+e4-gradmatch-r2') == ('geda', {
        'then':
        dict(method='gradmatch', start_epoch=4, interval=2)
    })
    for bad in ('geda+wx', 'geda+e4-gradmatch', 'geda+e4-gradmatch-x2'):
        with pytest.raises(ValueError, match='unknown schedule part'):
            parse_schedule(bad)


def test_selection_time_counts_every_selection_of_a_schedule(tmp_path):
    from mmcls_geda.selection import record, select_subset
    labels = np.repeat(np.arange(2), 10)
    sel = select_subset(np.arange(20.0), labels, 0.5)
    saved = record.make_record(
        sel,
        fingerprint=record.labels_fingerprint(labels),
        scope='full',
        weighted=False,
        epoch=0,
        scoring_s=2.0)
    record.save_record(str(tmp_path), saved)
    assert selection_time(str(tmp_path)) == (2.0 + sel.time_s, 10)
    for epoch, scoring in ((0, 0.0), (3, 1.5), (6, 2.5)):
        record.save_schedule_event(
            str(tmp_path),
            dict(
                epoch=epoch,
                phase='warmup' if epoch == 0 else 'subset',
                scoring_s=scoring,
                selection_s=0.25))
    assert selection_time(str(tmp_path)) == (4.5, 10)


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
