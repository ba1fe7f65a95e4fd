"""mmcls_geda.experiments, tools/run_experiments.py and tools/demo.py."""
import csv
import glob
import importlib.util
import inspect
import json
import os
import os.path as osp
import subprocess

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmcls_geda.experiments import (FIGURES, front, front_points, last_val,
                                    make_config, method_options,
                                    paired_difference, parse_json_arg,
                                    parse_spec, plot, pruning_kwargs,
                                    selection_time, split_time, summarise)
from mmcls_geda.experiments.plots import COSTS
from mmcls_geda.selection.epoch_state import ROTATION_LOG
from .conftest import REPO, run_tool

CIFAR = 'configs/resnet/resnet18_1xb64-full_cifar10.py'
DIGITS = 'configs/demo/resnet18_1xb64-full_digits.py'


def grid_args(root, work, *extra):
    return [
        'tools/run_experiments.py', CIFAR, '--methods', 'geda', 'ranked_even',
        '--fractions', '0.5', '--seeds', '0', '--full', '--work-dir', work,
        '--device', 'cpu', '--hook',
        '{"scoring_workers": 0, "scoring_batch_size": 16}', '--cfg-options',
        f'data.train.data_prefix={root}', f'data.val.data_prefix={root}',
        f'data.test.data_prefix={root}', 'data.samples_per_gpu=16',
        'data.workers_per_gpu=1', 'runner.max_epochs=1',
        'evaluation.interval=1', 'model.backbone.base_channels=8',
        'model.head.in_channels=64', *extra
    ]


def failing(python, *args):
    out = subprocess.run([python, *args],
                         cwd=REPO,
                         capture_output=True,
                         text=True,
                         timeout=600)
    assert out.returncode != 0, out.stdout[-2000:]
    assert 'Traceback' not in out.stderr, out.stderr[-3000:]
    return out.stderr


def rows_of(work):
    return list(csv.DictReader(open(osp.join(work, 'results.csv'))))


def test_run_experiments_grid_jobs_then_resume(python, cifar10_root, tmp_path):
    work = str(tmp_path / 'grid')
    out = run_tool(
        python, *grid_args(cifar10_root, work, '--jobs', '2', '--threads',
                           '1'))
    assert 'ranked_even-f0.5-s0: training' in out
    rows = rows_of(work)
    assert [(r['method'], r['fraction'])
            for r in rows] == [('full', '1.0'), ('geda', '0.5'),
                               ('ranked_even', '0.5')]
    for r in rows:  # each row is what the run's own log says
        logs = [f for f in os.listdir(r['run_dir']) if f.endswith('.log.json')]
        val = last_val(osp.join(r['run_dir'], logs[0]))
        assert float(r['top1']) == val['accuracy_top-1']
        assert float(r['train_s']) > 0 and float(r['pause_s']) == 4.0
    # samples processed: 60 training images x 1 epoch, or the subset's 30
    assert [r['samples'] for r in rows] == ['60', '30', '30']
    assert float(rows[1]['selection_s']) > 0 and rows[1]['n_train'] == '30'
    table = open(osp.join(work, 'results.md')).read()
    assert 'vs random (95% CI) | vs rs2 (95% CI) | vs full (95% CI)' in table
    geda_row = next(line for line in table.splitlines()
                    if line.startswith('| geda | 0.5 |'))
    full_top1, geda_top1 = float(rows[0]['top1']), float(rows[1]['top1'])
    assert f'{geda_top1 - full_top1:+.2f} (n=1)' in geda_row
    for png in FIGURES:
        assert osp.getsize(osp.join(work, png)) > 1000

    # two runs at a time give exactly what one at a time gives
    one_by_one = str(tmp_path / 'sequential')
    run_tool(
        python,
        *grid_args(cifar10_root, one_by_one, '--jobs', '1', '--threads', '1'))
    assert [r['top1']
            for r in rows_of(one_by_one)] == [r['top1'] for r in rows]
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
    assert rows_of(work) == rows
    # a finished folder of an older version (no settings.json) is read
    # back from its config.py and result.json
    os.remove(osp.join(work, 'geda-f0.5-s0', 'settings.json'))
    again = run_tool(python, *grid_args(cifar10_root, work))
    assert again.count('done before, skipped') == 3
    # --summary-only trains nothing and leaves unfinished runs out
    summary = run_tool(
        python,
        *grid_args(cifar10_root, work, '--summary-only', '--methods', 'geda',
                   'ranked_even', 'random'))
    assert 'random-f0.5-s0: not run yet, left out' in summary
    assert not osp.exists(osp.join(work, 'random-f0.5-s0'))
    assert rows_of(work) == rows

    # issue 24 case 3: other settings are refused with both sides named,
    # before anything is trained or deleted, not reported as done
    err = failing(
        python,
        *grid_args(cifar10_root, work, 'runner.max_epochs=2',
                   'evaluation.interval=2'))
    assert 'runner.max_epochs: 1 there, 2 now' in err and '--force' in err
    assert 'done before' not in err and rows_of(work) == rows
    # --force trains it again; no summary is left pointing at old runs
    out = run_tool(
        python,
        *grid_args(cifar10_root, work, 'runner.max_epochs=2',
                   'evaluation.interval=2', '--methods', 'ranked_even',
                   '--force'))
    assert 'ranked_even-f0.5-s0: training' in out
    assert [(r['method'], r['samples'])
            for r in rows_of(work)] == [('full', '120'), ('ranked_even', '60')]
    saved = json.load(open(osp.join(work, 'full-f1-s0', 'settings.json')))
    assert saved['config']['runner.max_epochs'] == '2'

    # the selection report tool redraws a run's report from its files
    geda_dir = osp.join(str(tmp_path / 'sequential'), 'geda-f0.5-s0')
    run_tool(python, 'tools/selection_report.py', geda_dir, '--out',
             str(tmp_path / 'report'))
    report = json.load(
        open(tmp_path / 'report' / 'geda_selection_report.json'))
    assert [c['kept'] for c in report['classes']] == [3] * 10


def _tool(name):
    spec = importlib.util.spec_from_file_location(
        f'{name}_tool', osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _refused(main, argv) -> str:
    """The message of a tool that exits with an error (no traceback)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert isinstance(exit_info.value.code, str), exit_info.value.code
    return exit_info.value.code


def test_run_experiments_refuses_bad_input_before_any_run(tmp_path):
    main = _tool('run_experiments').main
    afile = tmp_path / 'afile'
    afile.write_text('x')
    # a scoring checkpoint, refused where a run scores nothing (not ignored)
    scoring = json.dumps(dict(checkpoint=__file__))
    # a second phase the run has no room for: refused before the first run
    no_room = [
        '--methods', 'random', 'geda+e1-random-r1', '--cfg-options',
        'runner.max_epochs=1', 'evaluation.interval=1'
    ]
    for config, extra, message in [
        (CIFAR, ['--fractions', '1.5'], 'fraction'),
        (CIFAR, ['--methods', 'nope'], 'unknown method'),
        (CIFAR, ['--methods', 'geda+x3'], "unknown part 'x3'"),
        (CIFAR, ['--methods',
                 'geda+w3'], 'choose warmup_epochs=2.400 (3 epochs)'),
        (CIFAR, ['--methods', 'geda+e4-nope-r4'], "unknown method 'nope'"),
        (CIFAR, ['--methods', 'geda+nodes=1'], 'nodes must be an integer'),
        (CIFAR, ['--methods', 'geda+solve=1'], "takes ['milp_solver'"),
        (CIFAR, ['--methods', 'infobatch-r1'], 'prune ratio R'),
        (CIFAR, ['--methods', 'full+w1'], "'full' takes no parts"),
        (CIFAR, ['--methods', 'geda', 'geda'], 'runs planned twice'),
        (CIFAR, ['--options', '{"nodes": 9}', '--methods', 'geda', 'random'],
         "method 'random' (spec 'random') takes no options"),
        (CIFAR, ['--options', '{"quantiles": 9}', '--methods',
                 'geda'], "unknown option(s) ['quantiles'] for method 'geda'"),
        (CIFAR, ['--hook', '{scope: full}'],
         "--hook '{scope: full}' is not JSON (Expecting property name"),
            # issue 31, case 2: the grid's own hook arguments were dropped
        (CIFAR, ['--hook', '{"seed": 3}'],
         '--hook gives seed=3, which the grid sets for every run itself: '
         'give it with --seeds'),
        (CIFAR, ['--hook', '{"seed": -5}'], 'give it with --seeds'),
        (CIFAR, ['--hook', '{"warmup_epochs": 1}', '--methods',
                 'geda+w1'], 'give it with the method spec part wW'),
        (CIFAR, ['--hook', '{"method": "random"}'], 'give it with --methods'),
        (CIFAR, ['--hook', '{"scope": "full"}', '--methods',
                 'infobatch-r0.5'], 'but no run of this grid takes it'),
        (CIFAR, ['--hook', scoring, '--methods', 'geda', 'random', 'rs2'],
         "--hook gives checkpoint, which say(s) how a run scores, and method "
         "spec(s) 'random', 'rs2' score nothing (their GradNormHook refuses "
         'it): give those specs a grid of their own without it'),
        (CIFAR, no_room, "method spec 'geda+e1-random-r1' on the mmcls "
         'stack: then start_epoch=1 must come after the first selection '
         '(epoch 0) and before max_epochs=1'),
        (CIFAR, ['--jobs', '0'], '--jobs must be an integer >= 1'),
        (CIFAR, ['--seeds', '-1'], '--seeds must be an integer >= 0'),
        (CIFAR + '.nope', [], 'not found'),
            # issue 24: the 5k-style configs validate at the last epoch only
        (DIGITS, ['--cfg-options', 'runner.max_epochs=2'],
         'runner.max_epochs=2 is not a multiple of evaluation.interval=12'),
        (CIFAR, ['--work-dir', str(afile)], 'is a file, not a folder'),
        (CIFAR, ['--work-dir', str(afile / 'w')], 'which is a file'),
    ]:
        argv = [osp.join(REPO, config), '--work-dir', str(tmp_path / 'w')]
        assert message in _refused(main, argv + extra), extra
        assert not osp.exists(tmp_path / 'w')


def test_a_bad_argument_exits_with_a_message_not_a_traceback(python, tmp_path):
    err = failing(python, 'tools/run_experiments.py', CIFAR, '--work-dir',
                  str(tmp_path / 'w'), '--hook', '{scope: full}')
    assert 'error: --hook' in err and 'nothing was trained' in err
    assert not osp.exists(tmp_path / 'w')


def test_repeated_seeds_and_fractions_are_dropped_with_a_message(
        tmp_path, capsys):
    # issue 24 case 4: n counts distinct seeds, 0.4 and 0.40000001 are
    # one cell (one run folder)
    _tool('run_experiments').main([
        osp.join(REPO, DIGITS), '--methods', 'random', '--seeds', '0', '0',
        '1', '--fractions', '0.4', '0.40000001', '--work-dir',
        str(tmp_path / 'w'), '--summary-only'
    ])
    out = capsys.readouterr().out
    assert '--seeds: dropped repeated 0 (same as 0); running [0, 1]' in out
    assert ('--fractions: dropped repeated 0.40000001 (same as 0.4); '
            'running [0.4]') in out
    assert out.count('not run yet') == 2


def test_summary_counts_distinct_seeds_and_refuses_repeats():
    rows = [
        dict(
            method='random',
            fraction=0.4,
            seed=s,
            top1=t,
            selection_s=0,
            train_s=1,
            samples=10) for s, t in ((0, 50.0), (1, 52.0))
    ]
    assert '| random | 0.4 | 51.00 ± 1.41 | 2 |' in summarise(rows)
    with pytest.raises(ValueError, match=r'holds seed\(s\) \[0\]'):
        summarise(rows + [dict(rows[0], fraction=0.40000001)])


def test_method_specs():
    spec = parse_spec('geda+w0.5+r4+gm+nodes=9')
    assert (spec.kind, spec.method, spec.options) == ('subset', 'geda',
                                                      dict(nodes=9))
    assert spec.schedule == dict(
        warmup_epochs=0.5, interval=4, weights='gradmatch')
    assert parse_spec('geda+e4-gradmatch-r2').schedule == dict(
        then=dict(method='gradmatch', start_epoch=4, interval=2))
    assert parse_spec('random+w1').schedule == dict(warmup_epochs=1.0)
    assert parse_spec('geda+rule="simpson"+nodes=4').options == dict(
        rule='simpson', nodes=4)
    assert parse_spec('geda+within_bin=random').options == dict(
        within_bin='random')  # not JSON: a string
    assert parse_spec('full').kind == 'full'
    prune = parse_spec('infobatch-r0.5')
    assert (prune.kind, prune.ratio, prune.rule) == ('pruning', 0.5,
                                                     'infobatch')
    assert parse_spec('randprune-r0.3').rule == 'random'
    for bad, match in [
        ('geda+wx', "unknown part 'wx'"),
        ('geda+e4-gradmatch', 'unknown part'),
        ('geda+e4-gradmatch-x2', 'unknown part'),
        ('geda+nodes=2+nodes=3', 'with a new KEY'),
        ('random+replace=true', 'takes no options'),
        ('infobatch-r0', 'prune ratio'),
        ('infobatch-rx', 'prune ratio'),
            # issue 31: apply_pruning's bounds, (0, 0.9]
        ('infobatch-r0.95', r'prune ratio R .* in \(0, 0\.9\]'),
        ('randprune-r0.5+w1', 'takes no parts'),
        ('prune-k0.7', 'unknown method')
    ]:
        with pytest.raises(ValueError, match=match):
            parse_spec(bad)


def test_options_are_routed_to_every_method_that_takes_options():
    assert method_options(parse_spec('geda'), dict(nodes=9)) == dict(nodes=9)
    # the spec's own option wins over --options
    assert method_options(parse_spec('geda+nodes=3'),
                          dict(nodes=9)) == dict(nodes=3)
    assert method_options(parse_spec('quantile_random'),
                          dict(quantiles=2)) == dict(quantiles=2)
    assert method_options(parse_spec('full'), dict(nodes=9)) == {}
    with pytest.raises(ValueError, match="method 'random'.*takes no options"):
        method_options(parse_spec('random+w1'), dict(nodes=9))
    with pytest.raises(ValueError, match='dynamic pruning'):
        method_options(parse_spec('infobatch-r0.5'), dict(nodes=9))
    with pytest.raises(ValueError, match=r"it takes \['quantiles'\]"):
        method_options(parse_spec('quantile_random'), dict(nodes=9))


def test_options_reach_the_hook_of_any_method():
    from mmcv import Config
    base = Config.fromfile(osp.join(REPO, DIGITS))
    cfg = make_config(base, parse_spec('quantile_random+r2'), 0.4, 3, {},
                      dict(quantiles=2), 0.125)
    hook = next(h for h in cfg.custom_hooks if h['type'] == 'GradNormHook')
    assert (hook['method'], hook['options'], hook['interval'],
            hook['seed']) == ('quantile_random', dict(quantiles=2), 2, 3)


def test_pruning_specs_map_to_apply_pruning_arguments():
    assert pruning_kwargs(parse_spec('infobatch-r0.5'), 0.125, 3) == dict(
        ratio=0.5, rule='infobatch', anneal=0.125, seed=3)
    assert pruning_kwargs(parse_spec('randprune-r0.7'), 0.0, 0) == dict(
        ratio=0.7, rule='random', anneal=0.0, seed=0)
    with pytest.raises(ValueError, match='not a dynamic-pruning spec'):
        pruning_kwargs(parse_spec('geda'), 0.125, 0)


def test_pruning_spec_makes_a_pruning_config():
    from mmcls_geda import apply_pruning
    if 'rule' not in inspect.signature(apply_pruning).parameters:
        pytest.skip('apply_pruning(cfg, ratio, rule, ...) has not landed')
    from mmcv import Config
    base = Config.fromfile(osp.join(REPO, DIGITS))
    cfg = make_config(base, parse_spec('randprune-r0.5'), None, 2, {}, {},
                      0.125)
    assert (cfg.data.train.type,
            cfg.data.train.fraction) == ('GEDASubsetDataset', 1.0)
    assert cfg.custom_hooks[-1].method == 'random_pruning'


def test_bad_json_arguments_are_named():
    assert parse_json_arg('{"scope": "full"}', '--hook') == dict(scope='full')
    with pytest.raises(ValueError, match='--options must be a JSON object'):
        parse_json_arg('[1]', '--options')


def test_paired_difference_is_a_t_interval_over_matched_seeds():
    rows = [
        dict(method='random', fraction=0.2, seed=s, top1=t)
        for s, t in enumerate([50.0, 52.0, 51.0, 49.0])
    ] + [
        dict(method='geda', fraction=0.2, seed=s, top1=t)
        for s, t in enumerate([51.0, 54.0, 52.0])  # seed 3 missing
    ] + [dict(method='rs2', fraction=0.2, seed=0, top1=53.0)]
    mean, low, high, n = paired_difference(rows, 'geda', 0.2, 'random')
    diffs = np.array([1.0, 2.0, 1.0])
    half = 4.302652729911275 * diffs.std(ddof=1) / np.sqrt(3)  # t(0.975, 2)
    assert n == 3 and mean == pytest.approx(4 / 3)
    assert (low, high) == pytest.approx((4 / 3 - half, 4 / 3 + half))
    assert paired_difference(rows, 'geda', 0.4, 'random') is None
    assert paired_difference(rows, 'geda', 0.2, 'rs2')[::3] == (-2.0, 1)
    assert paired_difference(rows, 'rs2', 0.2, 'rs2') is None


def test_pruning_cells_use_the_measured_share_and_meet_full_data_only():
    rows = [
        dict(
            method='full',
            fraction=1.0,
            seed=0,
            top1=60.0,
            samples=100,
            total_s=10,
            selection_s=0,
            train_s=10),
        dict(
            method='random',
            fraction=0.6,
            seed=0,
            top1=55.0,
            samples=60,
            total_s=7,
            selection_s=0,
            train_s=7),
        dict(
            method='infobatch-r0.5',
            fraction=0.61,
            seed=0,
            top1=57.0,
            samples=61,
            total_s=7,
            selection_s=0,
            train_s=7),
        dict(
            method='infobatch-r0.5',
            fraction=0.63,
            seed=1,
            top1=59.0,
            samples=63,
            total_s=7,
            selection_s=0,
            train_s=7),
    ]
    line = next(
        r for r in summarise(rows).splitlines() if r.startswith('| infobatch'))
    assert line.startswith('| infobatch-r0.5 | 0.62* | 58.00 ± 1.41 | 2 | '
                           '– | – | -3.00 (n=1) | 62 |')
    assert paired_difference(rows, 'infobatch-r0.5', None, 'random') is None


def test_front_marks_what_no_other_beats_on_both_axes():
    assert front([(1, 50), (2, 60), (3, 55), (2, 50),
                  (4, 60)]) == [True, True, False, False, False]
    rows = [
        dict(method=m, fraction=f, seed=s, top1=t + s, samples=n, total_s=n)
        for m, f, t, n in [('full', 1.0, 60, 100), ('random', 0.5, 50,
                                                    50), ('geda', 0.5, 49, 55)]
        for s in (0, 1)
    ]
    points = front_points(rows, COSTS['accuracy_vs_samples.png'][0])
    assert {
        p['method']: p['front']
        for p in points
    } == dict(
        full=True, random=True, geda=False)
    assert points[0]['top1_half'] == pytest.approx(
        12.706204736174707 * np.std([0, 1], ddof=1) / np.sqrt(2))


def test_plots_are_written(tmp_path):
    rows = [
        dict(method=m, fraction=f, seed=s, top1=t + s, samples=n, total_s=n)
        for m, f, t, n in [('full', 1.0, 60,
                            100), ('random', 0.5, 50,
                                   50), ('infobatch-r0.5', 0.7, 58, 70)]
        for s in (0, 1)
    ]
    plot(rows, str(tmp_path))
    for name in FIGURES:
        assert osp.getsize(tmp_path / name) > 1000


@given(st.floats(0, 1e4, allow_nan=False), st.floats(0, 1e3, allow_nan=False))
def test_timings_recomputed_from_a_saved_row_are_the_same(total, selection):
    # a resumed grid recomputes the split from result.json's total_s
    row = split_time(total, selection)
    assert split_time(row['total_s'], selection) == row
    assert row['train_s'] == round(row['total_s'] - row['selection_s'], 3)


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


# --- the demo ------------------------------------------------------------


def _earlier_demo(path):
    demo = _tool('demo')
    path.mkdir()
    (path / demo.MARKER).write_text('')
    for name in ('full-f1-s0', 'geda-f0.4-s0', 'random-f0.4-s0'):
        (path / name).mkdir()
        (path / name / 'result.json').write_text('{}')
    (path / 'results.csv').write_text('method\n')
    return sorted(os.listdir(path))


def test_demo_checks_every_argument_before_deleting(tmp_path):
    main = _tool('demo').main
    earlier = tmp_path / 'demo'
    before = _earlier_demo(earlier)
    afile = tmp_path / 'afile'
    afile.write_text('x')
    for extra, message in [
        (['--jobs', '0'], '--jobs must be an integer >= 1'),
        (['--fraction', '1.5'], '--fractions must be a number in (0, 1]'),
        (['--seeds', '-1'], '--seeds must be an integer >= 0'),
    ]:
        err = _refused(main, ['--work-dir', str(earlier), *extra])
        assert message in err and 'nothing was changed' in err
        assert sorted(os.listdir(earlier)) == before
    for work, message in [(afile, 'is a file, not a folder'),
                          (afile / 'demo', 'which is a file')]:
        assert message in _refused(main, ['--work-dir', str(work)])


def test_demo_clears_its_summaries_with_its_runs(tmp_path):
    earlier = tmp_path / 'demo'
    _earlier_demo(earlier)
    _tool('demo').claim_work_dir(str(earlier), ['geda-f0.4-s0'])
    assert not (earlier / 'results.csv').exists()
    assert not (earlier / 'geda-f0.4-s0').exists()
    assert (earlier / 'random-f0.4-s0').exists()  # not asked for


def test_experiments_sit_above_apis_and_selection_only():
    import ast
    package = osp.join(REPO, 'mmcls_geda')

    def layers(path):
        """The mmcls_geda subpackages a module imports, however spelt."""
        folder = osp.relpath(osp.dirname(path), package).split(os.sep)
        out = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = folder[:len(folder) - (node.level - 1)]
                parts = base + (node.module or '').split('.')
                out.add(parts[0] if parts[0] != '.' else parts[1])
            names = [
                node.module or ''
            ] if isinstance(node, ast.ImportFrom) and not node.level else [
                a.name for a in node.names
            ] if isinstance(node, ast.Import) else []
            out |= {
                n.split('.')[1]
                for n in names if n.startswith('mmcls_geda.')
            }
        return out

    for folder, _, files in os.walk(package):
        for name in files:
            if not name.endswith('.py'):
                continue
            path = osp.join(folder, name)
            used = layers(path)
            if osp.basename(folder) == 'experiments':
                # '': the package's own API (``from .. import apply_geda``,
                # the installed stack's); stack: which one is installed
                assert used <= {
                    'experiments', 'apis', 'selection', 'stack', ''
                }, path
            else:
                assert 'experiments' not in used, path


def test_a_pruning_run_counts_the_samples_its_log_says(tmp_path):
    from mmcls_geda.experiments.collect import pruning_samples
    assert pruning_samples(str(tmp_path)) is None  # not a pruning run
    # the keys a pruning method's entries carry (tests/test_pruning.py
    # reads a real run's log)
    epochs = [
        dict(epoch=e, size=p, processed=p, above=a, below=100 - a)
        for e, (p, a) in enumerate(((100, 100), (62, 40), (58, 30), (100, 55)))
    ]
    (tmp_path / ROTATION_LOG).write_text(json.dumps(dict(epochs=epochs)))
    assert pruning_samples(str(tmp_path)) == (320, 400)
    # a per-epoch subset's log is not pruning's
    (tmp_path / ROTATION_LOG).write_text(
        json.dumps(dict(epochs=[dict(epoch=0, size=30)])))
    assert pruning_samples(str(tmp_path)) is None


def test_runner_pauses_follow_the_runner_the_run_used():
    from mmcv import Config

    from mmcls_geda.experiments.collect import pause_seconds
    cfg = Config(
        dict(
            runner=dict(type='EpochBasedRunner', max_epochs=12),
            evaluation=dict(interval=12)))
    assert pause_seconds(cfg) == 2.0 * (12 + 1)
    cfg.runner.update(type='PauselessEpochBasedRunner', epoch_pause=0)
    assert pause_seconds(cfg) == 0.0
    cfg.runner.epoch_pause = 0.5
    cfg.evaluation.interval = 4
    assert pause_seconds(cfg) == 0.5 * (12 + 3)


@pytest.mark.parametrize('text, options, model', [
    ('rs2', {}, 'ImageClassifier'),
    ('rs2+replace=true', dict(replace=True), 'ImageClassifier'),
    ('geda_rotate+refold=fixed', dict(refold='fixed'), 'ImageClassifier'),
    ('geda_rotate', {}, 'WeightedImageClassifier'),
])
def test_per_epoch_specs_build_configs(text, options, model):
    from mmcv import Config
    spec = parse_spec(text)
    assert (spec.kind, spec.method,
            spec.options) == ('subset', text.split('+')[0], options)
    base = Config.fromfile(osp.join(REPO, DIGITS))
    cfg = make_config(base, spec, 0.1, 3, {}, {}, 0.125)
    hook = next(h for h in cfg.custom_hooks if h['type'] == 'GradNormHook')
    assert (hook['method'], hook['options'], hook['seed']) == (spec.method,
                                                               options, 3)
    assert not {'interval', 'warmup_epochs', 'weights', 'then'} & set(hook)
    assert cfg.data.train.type == 'GEDASubsetDataset'
    assert cfg.data.train.fraction == 0.1
    # refold='loss' (geda_rotate's default) records the training losses
    assert cfg.model.type == model


def test_per_epoch_spec_with_a_schedule_is_refused_by_its_config():
    from mmcv import Config
    base = Config.fromfile(osp.join(REPO, DIGITS))
    with pytest.raises(ValueError, match="'rs2'.*warmup_epochs=1.0"):
        make_config(base, parse_spec('rs2+w1'), 0.1, 0, {}, {}, 0.125)


def test_selection_time_of_a_per_epoch_run_counts_its_gradient_passes(
        tmp_path):
    # rotation_log.json as EpochSubsets writes it: the θ0 pass at epoch 0,
    # a refold='grad_norm' pass at epoch 3, none in between
    epochs = [
        dict(epoch=e, size=10, refolded=e in (0, 3), scoring_s=s, time_s=1.0)
        for e, s in enumerate((2.5, 0.0, 0.0, 1.25, 0.0))
    ]
    with open(tmp_path / 'rotation_log.json', 'w', encoding='utf-8') as f:
        json.dump(dict(epochs=epochs), f)
    assert selection_time(str(tmp_path)) == (3.75, 10)
    row = split_time(20.0, selection_time(str(tmp_path))[0])
    assert (row['selection_s'], row['train_s']) == (3.75, 16.25)


def _processes_under(folder):
    """Pids of the live processes whose command line names ``folder``."""
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                if str(folder).encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.mark.parametrize('stage, said', [
    ('prepare_grid', 'interrupted while preparing the grid, before any run'),
    ('run_grid', 'interrupted while writing the tables; the finished runs '
     'are kept'),
])
def test_ctrl_c_outside_the_runs_is_one_line_too(monkeypatch, capsys, stage,
                                                 said):
    """Ctrl-C (the KeyboardInterrupt it raises) while the grid is prepared
    or its tables written: one line and status 130, no traceback."""
    tool = _tool('run_experiments')

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    if stage == 'run_grid':
        monkeypatch.setattr(tool, 'prepare_grid', lambda *a, **k: None)
    monkeypatch.setattr(tool, stage, ctrl_c)
    with pytest.raises(SystemExit) as stop:
        tool.main([
            CIFAR, '--methods', 'random', '--fractions', '0.5', '--work-dir',
            'unused'
        ])
    assert stop.value.code == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f'run_experiments.py: {said}')


def _ctrl_c_as_in_a_terminal() -> None:
    """Ctrl-C's default in the grid's process, as in a terminal: a test
    run in the background (``make test &``) inherits SIGINT ignored, and
    Python then installs no KeyboardInterrupt handler."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_ends_the_runs_and_says_how_to_resume(python, cifar10_root,
                                                     tmp_path):
    """Issue 31, case 3: Ctrl-C printed a KeyboardInterrupt traceback from
    concurrent.futures; now one line, the training processes ended, exit
    status 130."""
    import signal
    import time
    work = str(tmp_path / 'w')
    grid = subprocess.Popen([
        python, *grid_args(cifar10_root, work, 'runner.max_epochs=50',
                           'evaluation.interval=50'), '--jobs', '2'
    ],
                            cwd=REPO,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            text=True,
                            preexec_fn=_ctrl_c_as_in_a_terminal)
    deadline = time.time() + 120
    while time.time() < deadline and not (
            len(_processes_under(work)) >= 2
            and any('workflow:' in open(p).read()
                    for p in glob.glob(osp.join(work, '*', 'stdout.txt')))):
        time.sleep(0.5)
    training = _processes_under(work)
    assert len(training) >= 2, 'two training processes should be running'
    try:
        grid.send_signal(signal.SIGINT)
        out, err = grid.communicate(timeout=120)
    finally:  # nothing left behind, whatever happened
        left = _processes_under(work)
        for pid in [grid.pid] * (grid.poll() is None) + left:
            os.kill(pid, signal.SIGKILL)
    assert grid.returncode == 130, err[-3000:]
    assert 'Traceback' not in err and 'KeyboardInterrupt' not in err, err
    line = err.strip().splitlines()[-1]  # after the import warnings
    assert line == (
        'run_experiments.py: interrupted: 0 of 3 runs finished (2 training '
        'process(es) ended, their folders are trained again); run the same '
        'command again to train the other 3 (finished runs are skipped)')
    assert left == []  # the training processes (and their workers) ended


def test_full_data_rows_give_the_training_set_size(cifar10_root, tmp_path):
    """Issue 31, case 6: results.csv left n_train empty for full data."""
    from mmcv import Config

    from mmcls_geda.experiments.grid import collect_row
    cfg = Config.fromfile(osp.join(REPO, CIFAR))
    cfg.merge_from_dict({
        'data.train.data_prefix': cifar10_root,
        'runner.max_epochs': 2
    })
    (tmp_path / '20261207_000000.log.json').write_text(
        json.dumps({
            'mode': 'val',
            'epoch': 2,
            'accuracy_top-1': 50.0
        }))
    row = collect_row(cfg, str(tmp_path), 10.0)
    assert row['n_train'] == 60 and row['samples'] == 120


def _finished_run(grid, run, settings, top1):
    """A run folder as train_run leaves it (its settings and result)."""
    run_dir = grid.run_dir(run)
    os.makedirs(run_dir)
    with open(osp.join(run_dir, 'settings.json'), 'w') as f:
        json.dump(settings, f)
    with open(osp.join(run_dir, 'result.json'), 'w') as f:
        json.dump(
            dict(
                method=run.spec.text,
                fraction=run.fraction,
                seed=run.seed,
                top1=top1,
                top5=None,
                n_train=30,
                samples=30,
                total_s=1.0,
                run_dir=run_dir), f)


def test_summary_only_leaves_out_a_run_replaced_by_another_grid(
        cifar10_root, tmp_path):
    """Issue 31, case 6: after ``--force`` of one run by another grid, the
    first grid could not be summarised again without retraining."""
    from mmcls_geda.experiments import prepare_grid, run_grid
    work = str(tmp_path / 'w')
    options = {
        'data.train.data_prefix': cifar10_root,
        'runner.max_epochs': 1,
        'evaluation.interval': 1
    }

    def grid(summary_only=False, **changed):
        return prepare_grid(
            osp.join(REPO, CIFAR), ['random'], [0.5], [0, 1],
            work,
            cfg_options=dict(options, **changed),
            summary_only=summary_only)

    first, other = grid(), grid(**{'runner.max_epochs': 2})
    seed0, seed1 = first.runs
    _finished_run(first, seed0, first.settings[seed0.name], 50.0)
    # the other grid's --force replaced seed 1's folder with its own run
    _finished_run(other, seed1, other.settings[seed1.name], 60.0)
    with pytest.raises(ValueError, match='do not hold the planned runs'):
        grid()  # training would need --force
    again = grid(summary_only=True)
    logged = []
    rows = run_grid(again, log=logged.append)
    assert [(r['seed'], r['top1']) for r in rows] == [(0, 50.0)]
    assert any(
        line.startswith('left out of the summary: ') and seed1.name in line
        and 'runner.max_epochs' in line for line in logged), logged
    assert f'[2/2] {seed1.name}: holds other settings, left out' in logged
    assert rows_of(work)[0]['top1'] == '50.0'


def test_a_warmup_is_checked_on_the_share_the_hook_serves(tmp_path):
    """Issue 31, case 4: ``random+w1`` at 0.5 on the digits (class budgets
    serve 0.5004 of a pass an epoch) passed the grid's check on the
    fraction, then every such run failed in its hook, mid-grid."""
    main = _tool('run_experiments').main
    argv = [
        osp.join(REPO, DIGITS), '--work-dir',
        str(tmp_path / 'w'), '--methods', 'random+w1', '--fractions', '0.5',
        '--cfg-options', 'runner.max_epochs=4', 'evaluation.interval=4'
    ]
    assert 'each epoch serves 0.5004 of a pass' in _refused(main, argv)
    assert not osp.exists(tmp_path / 'w')


def test_a_grid_started_outside_the_repository_trains_there(python, tmp_path):
    """A grid started in another folder with a relative --work-dir: its
    runs train in that folder (they failed, config not found, when they
    ran in the repository root)."""
    out = subprocess.run([
        python,
        osp.join(REPO, 'tools', 'run_experiments.py'),
        osp.join(REPO, DIGITS), '--methods', 'random', '--fractions', '0.5',
        '--seeds', '0', '--work-dir', 'grid', '--device', 'cpu',
        '--cfg-options', 'runner.max_epochs=1', 'evaluation.interval=1',
        'data.workers_per_gpu=0', 'runner.type=PauselessEpochBasedRunner',
        'runner.epoch_pause=0'
    ],
                         cwd=str(tmp_path),
                         env=dict(os.environ, PYTHONPATH=REPO),
                         capture_output=True,
                         text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert osp.isfile(tmp_path / 'grid' / 'results.csv')
    assert osp.isfile(tmp_path / 'grid' / 'random-f0.5-s0' / 'result.json')


def test_a_config_of_the_other_generation_is_named(tmp_path):
    """An mmpretrain 1.x config (``train_dataloader``) given to the grid on
    mmcls 0.x: refused before anything, with the interpreter to use."""
    config = tmp_path / 'mmpretrain_config.py'
    config.write_text("train_dataloader = dict(dataset=dict(type='CIFAR10'))\n"
                      'train_cfg = dict(max_epochs=1)\n')
    from mmcls_geda.experiments import prepare_grid
    with pytest.raises(ValueError) as error:
        prepare_grid(str(config), ['random'], [0.5], [0], str(tmp_path / 'w'))
    assert 'no data.train' in str(error.value)
    assert '.venv-mmpretrain/bin/python for mmpretrain 1.x' in str(error.value)


def test_hook_is_said_not_to_reach_the_pruning_runs(tmp_path):
    """A grid of subset and dynamic-pruning runs with ``--hook``: the grid
    says, before training, that the pruning runs take their hook from
    ``apply_pruning``, and their configs indeed hold none of it."""
    from mmcls_geda.experiments import prepare_grid
    grid = prepare_grid(
        osp.join(REPO, CIFAR), ['geda', 'infobatch-r0.5'], [0.5], [0],
        str(tmp_path / 'w'),
        hook='{"scoring_workers": 0}')
    assert ('note: --hook reaches the subset runs only; the dynamic-pruning '
            'runs (infobatch-r0.5) take their hook from apply_pruning (the '
            'spec and --anneal)') in grid.notes
    hooks = {
        name: cfg.custom_hooks[-1]
        for name, cfg in grid.configs.items() if 'custom_hooks' in cfg
    }
    assert hooks['geda-f0.5-s0']['scoring_workers'] == 0
    assert 'scoring_workers' not in hooks['infobatch-r0.5-s0']
