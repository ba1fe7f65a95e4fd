"""Grids on mmpretrain 1.x: ``tools/run_experiments.py`` in
``.venv-mmpretrain`` trains every run through mmpretrain's own training
script (``tools/train_mmpretrain.py``, mmengine's ``Runner``) on the
config ``apply_geda`` makes, reads each result from mmengine's logged
scalars and writes the same ``result.json``, ``results.csv``,
``results.md`` and figures as on mmcls 0.x; a grid run again skips its
finished runs."""
import csv
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
from mmengine.config import Config

import mmcls_geda
from mmcls_geda.experiments import FIGURES, prepare_grid
from mmcls_geda.experiments.stacks import mmengine_scalars
from mmcls_geda.selection import record
from mmcls_geda.selection.epoch_state import ROTATION_LOG

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DOC = osp.join(REPO, 'docs', 'experiments.md')
CONFIG_BLOCK = "_base_ = ['mmpretrain::resnet/resnet18_8xb16_cifar10.py']"
COMMAND_BLOCK = ('.venv-mmpretrain/bin/python tools/run_experiments.py '
                 'my_mmpretrain_cifar10.py \\')
# what makes the documented grid affordable here, through --cfg-options
# only: small batches without workers, a ResNet of width 8, a constant
# learning rate
SHRINK = [
    'train_dataloader.batch_size=8', 'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False', 'val_dataloader.batch_size=8',
    'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
    'model.backbone.stem_channels=8', 'model.backbone.base_channels=8',
    'model.head.in_channels=64', 'param_scheduler=[]'
]


def experiments_block(first_line: str) -> str:
    """The fenced block of docs/experiments.md starting with
    ``first_line``."""
    lines = open(DOC, encoding='utf-8').read().splitlines()
    start = lines.index(first_line)
    assert re.match(r'^```\w+$', lines[start - 1])
    return '\n'.join(lines[start:lines.index('```', start)])


@pytest.fixture
def clone(tmp_path, cifar10_root):
    """A folder laid out like a fresh clone's root: ``tools``, the tiny
    pickles as ``data/cifar10`` and the documented full-data config."""
    root = tmp_path / 'clone'
    (root / 'data').mkdir(parents=True)
    os.symlink(osp.join(REPO, 'tools'), root / 'tools')
    os.symlink(cifar10_root, root / 'data' / 'cifar10')
    config = experiments_block(CONFIG_BLOCK)
    (root / 'my_mmpretrain_cifar10.py').write_text(config + '\n')
    return root


def grid_command() -> list:
    """The documented grid command as argv, run by this interpreter (the
    suite's ``.venv-mmpretrain``), with :data:`SHRINK` appended."""
    text = experiments_block(COMMAND_BLOCK).replace('\\\n', ' ')
    # the shell's quoting of the --hook JSON
    argv = [arg.strip("'") for arg in re.findall(r"'[^']*'|\S+", text)]
    assert argv[0] == '.venv-mmpretrain/bin/python'
    assert '--cfg-options' in argv
    return [sys.executable, *argv[1:], *SHRINK]


def run(command, cwd):
    env = dict(
        os.environ,
        PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''),
        OMP_NUM_THREADS='1')
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True)


def log_folders(run_dir):
    """mmengine's ``<timestamp>`` folders of a run (one per training)."""
    return sorted(
        name for name in os.listdir(run_dir)
        if osp.isdir(osp.join(run_dir, name, 'vis_data')))


def test_the_documented_grid_trains_collects_and_resumes(clone):
    """2 methods (geda, rs2) x 1 seed and full data, 2 epochs, through the
    real tool: each run folder holds mmengine's logs and checkpoints, the
    selection records, ``settings.json`` and ``result.json`` (top-1 from
    the last validation mmengine logged); the summary and figures are
    written. Run again: every run is skipped (no new training); a run
    whose ``result.json`` is gone is trained again, alone."""
    result = run(grid_command(), clone)
    assert result.returncode == 0, result.stderr[-3000:]
    work = clone / 'work_dirs' / 'mmp_grid'
    rows = list(csv.DictReader(open(work / 'results.csv')))
    planned = [('full', '1.0', '0'), ('geda', '0.2', '0'), ('rs2', '0.2', '0')]
    assert [(r['method'], r['fraction'], r['seed']) for r in rows] == planned
    for name in FIGURES + ('results.md', ):
        assert osp.isfile(work / name), name
    table = open(work / 'results.md', encoding='utf-8').read()
    assert '| geda | 0.2 |' in table and '| rs2 | 0.2 |' in table
    trained = {}
    for row in rows:
        run_dir = clone / row['run_dir']
        saved = json.load(open(run_dir / 'result.json'))
        assert saved['method'] == row['method']
        # top-1: mmengine's last validation of the run (epoch 2)
        with open(mmengine_scalars(str(run_dir)), encoding='utf-8') as f:
            vals = [json.loads(line) for line in f if 'accuracy/top1' in line]
        assert [v['step'] for v in vals] == [1, 2]
        assert saved['top1'] == vals[-1]['accuracy/top1']
        assert saved['pause_s'] == 0.0
        assert osp.isfile(run_dir / 'epoch_2.pth')
        settings = json.load(open(run_dir / 'settings.json'))
        assert settings['seed'] == 0 and settings['device'] == 'cpu'
        cfg = Config.fromfile(str(run_dir / 'config.py'))
        assert cfg.randomness.seed == 0  # the seed of the run
        assert cfg.train_cfg.max_epochs == 2
        trained[row['method']] = log_folders(run_dir)
        assert len(trained[row['method']]) == 1
    full, geda, rs2 = rows
    assert int(full['n_train']) == 60 and int(full['samples']) == 120
    # GEDA: the subset the hook saved, trained on in both epochs
    geda_dir = clone / geda['run_dir']
    saved = record.load_record(str(geda_dir / record.SELECTION_FILE))
    assert saved['method'] == 'geda' and saved['fraction'] == 0.2
    assert int(geda['n_train']) == len(saved['selection']['indices']) == 12
    assert int(geda['samples']) == 24 and float(geda['selection_s']) > 0
    settings = json.load(open(geda_dir / 'settings.json'))
    assert settings['config']['custom_hooks.0.method'] == "'geda'"
    # rs2: the per-epoch log the hook wrote
    rs2_dir = clone / rs2['run_dir']
    epochs = json.load(open(rs2_dir / ROTATION_LOG))['epochs']
    assert [e['size'] for e in epochs] == [12, 12]
    assert int(rs2['n_train']) == 12 and int(rs2['samples']) == 24

    again = run(grid_command(), clone)
    assert again.returncode == 0, again.stderr[-3000:]
    for i, name in enumerate(('full-f1-s0', 'geda-f0.2-s0', 'rs2-f0.2-s0')):
        assert f'[{i + 1}/3] {name}: done before, skipped' in again.stdout
    assert 'training ...' not in again.stdout
    for row in rows:
        assert log_folders(clone / row['run_dir']) == trained[row['method']]
    assert list(csv.DictReader(open(work / 'results.csv'))) == rows

    # an interrupted run (no result.json): trained again, the others not
    os.remove(rs2_dir / 'result.json')
    third = run(grid_command(), clone)
    assert third.returncode == 0, third.stderr[-3000:]
    assert '[3/3] rs2-f0.2-s0: training ...' in third.stdout
    assert third.stdout.count('done before, skipped') == 2
    assert len(log_folders(rs2_dir)) == 1  # the folder was made anew
    assert osp.isfile(rs2_dir / 'result.json')


def apply_refuses(spec):
    """The stack's ``apply_geda`` / ``apply_pruning`` message for ``spec``
    on the stock config, or None where it takes it."""
    from mmcls_geda.experiments import make_config, parse_spec
    stock = Config.fromfile(
        osp.join(
            osp.dirname(__import__('mmpretrain').__file__), '.mim', 'configs',
            'resnet', 'resnet18_8xb16_cifar10.py'))
    try:
        make_config(stock, parse_spec(spec), 0.5, 0, {}, {}, 0.125)
    except (ValueError, NotImplementedError) as error:
        return str(error)
    return None


@pytest.mark.parametrize('spec', [
    'geda+w1', 'geda+r2', 'geda+gm', 'craig', 'rs2+budget=ramp', 'geda_rotate',
    'infobatch-r0.5', 'randprune-r0.5'
])
def test_what_the_hook_refuses_is_refused_before_any_run(
        clone, spec, monkeypatch):
    """A spec the mmpretrain stack's ``apply_geda`` / ``apply_pruning``
    refuses (settings its hook does not serve yet) stops the grid in
    ``prepare_grid``, naming the spec, the stack and the hook's reason;
    nothing is written. A spec it takes is planned."""
    assert mmcls_geda.STACK == 'mmpretrain'
    # the config's data root is relative, as from a clone's root (a
    # warm-up is checked on the training set's labels)
    monkeypatch.chdir(clone)
    why = apply_refuses(spec)
    work = clone / 'work'
    args = (str(clone / 'my_mmpretrain_cifar10.py'), ['random',
                                                      spec], [0.5], [0],
            str(work))
    if why is None:  # served on this stack now: the grid plans it
        grid = prepare_grid(
            *args, cfg_options=dict(train_cfg=dict(max_epochs=4)))
        assert spec in {run.spec.text for run in grid.runs}
    else:
        with pytest.raises(ValueError) as error:
            prepare_grid(*args)
        message = str(error.value)
        assert f"method spec '{spec}' on the mmpretrain stack" in message
        assert why in message
    assert not work.exists()


def test_the_tool_names_a_refused_spec_and_trains_nothing(clone):
    """The command line: ``run_experiments.py: error: ...`` and status 1
    before any run, for dynamic pruning while mmpretrain's
    ``apply_pruning`` refuses it; ``--device`` other than cpu or cuda, and
    cpu with ``--gpus 2`` (mmengine's launcher sets a CUDA device), are
    refused too."""
    base = [
        sys.executable, 'tools/run_experiments.py', 'my_mmpretrain_cifar10.py',
        '--fractions', '0.5', '--seeds', '0', '--work-dir', 'work'
    ]
    if apply_refuses('infobatch-r0.5') is not None:
        result = run(base + ['--methods', 'geda', 'infobatch-r0.5'], clone)
        assert result.returncode == 1
        assert ("run_experiments.py: error: method spec 'infobatch-r0.5' on "
                'the mmpretrain stack') in result.stderr
        assert '(nothing was trained or deleted)' in result.stderr
    result = run(base + ['--device', 'ipu'], clone)
    assert result.returncode == 1
    assert "--device 'ipu': on mmpretrain 1.x" in result.stderr
    result = run(base + ['--device', 'cpu', '--gpus', '2'], clone)
    assert result.returncode == 1
    assert 'needs GPUs; drop --device cpu or --gpus' in result.stderr
    assert not (clone / 'work').exists()


def test_a_config_of_the_other_generation_is_named(tmp_path):
    """An mmcls 0.x config (``data.train``) given to the grid on
    mmpretrain 1.x: refused before anything, with the interpreter to use."""
    config = tmp_path / 'mmcls_config.py'
    config.write_text("data = dict(train=dict(type='CIFAR10'))\n"
                      'runner = dict(max_epochs=1)\n')
    with pytest.raises(ValueError) as error:
        prepare_grid(str(config), ['random'], [0.5], [0], str(tmp_path / 'w'))
    assert 'no train_dataloader.dataset' in str(error.value)
    assert '.venv/bin/python for mmcls 0.x' in str(error.value)


@pytest.mark.parametrize('override, match', [
    (dict(val_cfg=None), r'does not validate \(val_cfg not set\)'),
    (dict(val_evaluator=dict(type='SingleLabelMetric')),
     r"val_evaluator \['SingleLabelMetric'\] has no Accuracy metric"),
    (dict(train_cfg=dict(val_begin=300)), 'train_cfg.val_begin=300 is after'),
])
def test_a_run_without_a_result_is_refused_before_any_run(
        clone, override, match):
    """A grid reads each run's top-1 from its last validation: a config
    that would not validate with ``Accuracy`` is refused up front."""
    with pytest.raises(ValueError, match=match):
        prepare_grid(
            str(clone / 'my_mmpretrain_cifar10.py'), ['random'], [0.5], [0],
            str(clone / 'work'),
            cfg_options=override)
    assert not (clone / 'work').exists()
