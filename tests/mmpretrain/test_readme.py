"""The README's mmpretrain 1.x quickstart, as a user runs it: the training
command of a ready config, and the config snippet pasted at the end of
mmpretrain's stock ``configs/resnet/resnet18_8xb16_cifar10.py`` (GEDA,
and ``rs2`` by changing the method), each trained by
``tools/train_mmpretrain.py`` (mmpretrain's own script) from a folder laid
out like a fresh clone with tiny CIFAR-10 pickles as ``data/cifar10``.
The blocks are marked illustrative in README.md (tests/test_docs.py runs
the mmcls 0.x suite) and run here, as written, shrunk through
``--cfg-options`` only."""
import glob
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import mmpretrain
import pytest

from mmcls_geda.selection import record
from mmcls_geda.selection.epoch_state import ROTATION_LOG

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
README = osp.join(REPO, 'README.md')
STOCK_CONFIGS = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs')
COMMAND = ('.venv-mmpretrain/bin/python tools/train_mmpretrain.py '
           'configs/mmpretrain/resnet18_8xb16-geda-f0.2_cifar10.py')
SNIPPET = ("custom_imports = dict(imports=['mmcls_geda'], "
           'allow_failed_imports=False)')
# small batches without workers, a ResNet of width 8: what makes a run
# affordable here (the data root is the clone's data/cifar10 as written)
SHRINK = [
    'train_dataloader.batch_size=8', 'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False', 'val_dataloader.batch_size=8',
    'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
    'test_dataloader.num_workers=0',
    'test_dataloader.persistent_workers=False',
    'model.backbone.stem_channels=8', 'model.backbone.base_channels=8',
    'model.head.in_channels=64', 'default_hooks.logger.interval=1',
    'randomness.seed=0', 'custom_hooks.0.scoring_workers=0'
]


def readme_blocks(first_line: str) -> list:
    """The fenced blocks of README.md that start with ``first_line``, in
    order, each marked illustrative (run here, not by
    tests/test_docs.py)."""
    lines = open(README, encoding='utf-8').read().splitlines()
    blocks = []
    for start, line in enumerate(lines):
        if line.startswith(first_line) and re.match(r'^```\w+$',
                                                    lines[start - 1]):
            assert 'tests/mmpretrain/test_readme.py' in lines[start - 2]
            blocks.append('\n'.join(lines[start:lines.index('```', start)]))
    assert blocks, first_line
    return blocks


def readme_block(first_line: str) -> str:
    """The first fenced block of README.md that starts with
    ``first_line``."""
    return readme_blocks(first_line)[0]


@pytest.fixture
def clone(tmp_path, cifar10_root):
    root = tmp_path / 'clone'
    (root / 'data').mkdir(parents=True)
    for name in ('tools', 'configs'):
        os.symlink(osp.join(REPO, name), root / name)
    os.symlink(cifar10_root, root / 'data' / 'cifar10')
    return root


def stock_config_with(clone, snippet: str):
    """A copy of mmpretrain's stock ``resnet/resnet18_8xb16_cifar10.py``
    (its ``_base_`` files beside it, as in mmpretrain's configs/) with
    ``snippet`` pasted at its end; returns its path."""
    configs = clone / 'mmpretrain_configs'
    shutil.copytree(osp.join(STOCK_CONFIGS, '_base_'), configs / '_base_')
    (configs / 'resnet').mkdir()
    config = configs / 'resnet' / 'resnet18_8xb16_cifar10.py'
    stock = open(
        osp.join(STOCK_CONFIGS, 'resnet', 'resnet18_8xb16_cifar10.py'),
        encoding='utf-8').read()
    config.write_text(stock + '\n' + snippet + '\n')
    return config


def train(argv, cwd, check=True):
    env = dict(
        os.environ,
        PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''),
        OMP_NUM_THREADS='1')
    # as in a user's shell: train_mmpretrain.py sets it for a resume
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    result = subprocess.run([sys.executable, *argv],
                            cwd=cwd,
                            env=env,
                            capture_output=True,
                            text=True)
    assert not check or result.returncode == 0, result.stderr[-3000:]
    return result


def run_log(work) -> str:
    (log, ) = glob.glob(osp.join(work, '*', '*.log'))
    return open(log, encoding='utf-8').read()


def train_scalars(work):
    """mmengine's logged training scalars (one a iteration here)."""
    (path, ) = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
    with open(path, encoding='utf-8') as f:
        entries = [json.loads(line) for line in f]
    return [e for e in entries if 'lr' in e]


def test_the_readme_training_command_trains(clone):
    """The README's command, as written (the work dir it names), shrunk
    to one epoch: GEDA's selection saved and logged."""
    argv = readme_block(COMMAND).split()
    assert argv[0] == '.venv-mmpretrain/bin/python'
    train(argv[1:] + ['--cfg-options', *SHRINK, 'train_cfg.max_epochs=1'],
          clone)
    work = clone / 'work_dirs' / 'geda_cifar10'
    saved = record.load_record(str(work / record.SELECTION_FILE))
    assert saved['method'] == 'geda' and saved['fraction'] == 0.2
    assert len(saved['selection']['indices']) == 12
    assert 'GradNormHook (epoch 0): ' in run_log(work)
    assert osp.isfile(work / 'epoch_1.pth')


def test_the_readme_training_command_resumes(clone):
    """The README's command, killed after epoch 1 of 2 (here: a run of 1
    epoch) and resumed with ``--resume`` as a user types it, without
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD in the environment: the script sets
    it and says so, the saved selection is served (no scoring pass) and
    epoch 2 trains; so does a resume with ``--resume=PATH``."""
    argv = readme_block(COMMAND).split()[1:]
    train(argv + ['--cfg-options', *SHRINK, 'train_cfg.max_epochs=1'], clone)
    work = clone / 'work_dirs' / 'geda_cifar10'
    result = train(
        argv +
        ['--resume', '--cfg-options', *SHRINK, 'train_cfg.max_epochs=2'],
        clone)
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1' in result.stdout
    logs = sorted(glob.glob(osp.join(work, '*', '*.log')))
    resumed = open(logs[-1], encoding='utf-8').read()
    assert 'no scoring pass' in resumed
    assert osp.isfile(work / 'epoch_2.pth')
    # the other spelling, --resume=PATH, is seen too
    result = train(
        argv + [
            f'--resume={work / "epoch_2.pth"}', '--cfg-options', *SHRINK,
            'train_cfg.max_epochs=3'
        ], clone)
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1' in result.stdout
    assert osp.isfile(work / 'epoch_3.pth')


@pytest.mark.parametrize('method', ['geda', 'rs2', 'infobatch'])
def test_the_readme_snippet_in_the_stock_config_trains(clone, method):
    """The snippet pasted at the end of a copy of mmpretrain's stock
    CIFAR-10 config (its ``_base_`` files beside it, as in mmpretrain's
    configs/), for rs2 with ``method='rs2'``, for InfoBatch the second
    snippet: 2 epochs with the stock MultiStepLR (its milestone moved to
    epoch 1 so that it acts): the log says what was selected, the selection
    files are saved, and the learning rate of every iteration is the
    schedule's (0.1, then 0.01 in the last epoch)."""
    geda, infobatch = readme_blocks(SNIPPET)
    assert geda.count("method='geda'") == 1
    assert infobatch.count("method='infobatch'") == 1
    snippet = infobatch if method == 'infobatch' else geda
    config = stock_config_with(
        clone, snippet.replace("method='geda'", f"method='{method}'"))
    work = clone / 'work'
    train([
        'tools/train_mmpretrain.py',
        str(config), '--work-dir',
        str(work), '--cfg-options', *SHRINK, 'train_cfg.max_epochs=2',
        'param_scheduler.milestones=[1]'
    ], clone)
    log = run_log(work)
    if method == 'geda':
        saved = record.load_record(str(work / record.SELECTION_FILE))
        assert saved['method'] == 'geda' and saved['fraction'] == 0.2
        assert len(saved['selection']['indices']) == 12
        assert 'GradNormHook: scoring full gradient norms of all 60' in log
        assert 'GradNormHook (epoch 0): ' in log
    elif method == 'rs2':
        for epoch in (0, 1):
            assert f'GradNormHook: epoch {epoch}: rs2 serves 12 of 60' in log
        epochs = json.load(open(work / ROTATION_LOG))['epochs']
        assert [e['size'] for e in epochs] == [12, 12]
    lrs = [e['lr'] for e in train_scalars(work)]
    if method != 'infobatch':
        assert len(lrs) == 2 * 2  # 12 samples in batches of 8, 2 epochs
        assert lrs == pytest.approx([0.1, 0.1, 0.01, 0.01])
        return
    # epoch 0 on all 60 samples, epoch 1 pruned (anneal: from epoch 2 on
    # all data again); the epoch-based schedule by epoch, whatever the
    # epoch's length
    assert 'GradNormHook: epoch 0: infobatch serves 60 of 60' in log
    epochs = json.load(open(work / ROTATION_LOG))['epochs']
    assert epochs[0]['size'] == 60 and epochs[1]['size'] < 60
    pruned_iters = -(-epochs[1]['size'] // 8)
    assert len(lrs) == 8 + pruned_iters
    assert lrs == pytest.approx([0.1] * 8 + [0.01] * pruned_iters)


def test_infobatch_in_the_geda_snippet_names_every_missing_setting(clone):
    """The GEDA snippet with only ``method='infobatch'`` changed: one error
    before training lists every setting the InfoBatch snippet has and this
    config lacks (the classifier and its normalize_weights, the whole
    training set, the sampler), naming apply_pruning; the hook's name in
    mmengine's "in <hook>" suffix reads as a config would."""
    snippet = readme_block(SNIPPET).replace("method='geda'",
                                            "method='infobatch'")
    config = stock_config_with(clone, snippet)
    result = train([
        'tools/train_mmpretrain.py',
        str(config), '--work-dir',
        str(clone / 'work'), '--cfg-options', *SHRINK
    ],
                   clone,
                   check=False)
    assert result.returncode != 0
    error = result.stderr[result.stderr.rindex('TypeError'):]
    assert "method 'infobatch' needs 3 setting(s)" in error
    assert '(apply_pruning writes them all)' in error
    for setting in (
            "model.type = 'WeightedImageClassifier'",
            'model.normalize_weights = False',
            'train_dataloader.dataset.fraction = 1.0',
            "train_dataloader.sampler = dict(type='EpochPlanSampler')"):
        assert setting in error, setting
    assert "in GradNormHook(method='infobatch')" in error
    assert not glob.glob(osp.join(clone / 'work', '*.pth'))
