"""The config side on mmpretrain 1.x: ``apply_geda`` for an mmengine
``Config``, the ready configs in ``configs/mmpretrain/`` (mmpretrain's own
configs as ``_base_``) trained through mmengine's ``Runner``, and the
documented command (``tools/train_mmpretrain.py``, mmpretrain's own
training script)."""
import ast
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys

import mmpretrain
import numpy as np
import pytest
from mmengine.config import Config

import mmcls_geda
from mmcls_geda.apis import SelectionArgs
from mmcls_geda.engines.mmpretrain.config import apply_geda, apply_pruning
from mmcls_geda.selection import record
from mmcls_geda.selection.rotation import RotationPlan
from .test_hook import train

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    osp.relpath(p, REPO)
    for p in glob.glob(osp.join(REPO, 'configs', 'mmpretrain', '*.py')))
# the selection configs (a fraction in the name); the pruning ones
PRUNING_CONFIGS = [c for c in CONFIGS if '-infobatch-' in c]
SELECTION_CONFIGS = [c for c in CONFIGS if c not in PRUNING_CONFIGS]
STOCK = osp.join(
    osp.dirname(mmpretrain.__file__), '.mim', 'configs', 'resnet',
    'resnet18_8xb16_cifar10.py')
DOC = osp.join(REPO, 'docs', 'mmpretrain.md')
COMMAND = ('python tools/train_mmpretrain.py '
           'configs/mmpretrain/resnet18_8xb16-geda-f0.2_cifar10.py')


def stock():
    return Config.fromfile(STOCK)


def base_of(name: str) -> Config:
    """The mmpretrain config a config of configs/mmpretrain/ is built on
    (its ``mmpretrain::`` base)."""
    text = open(osp.join(REPO, name), encoding='utf-8').read()
    base = re.search(r"_base_ = \['mmpretrain::([^']+)'\]", text).group(1)
    return Config.fromfile(
        osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs', base))


# --- apply_geda ---------------------------------------------------------


def test_apply_geda_is_exported_under_the_mmcls_name():
    assert mmcls_geda.apply_geda is apply_geda
    assert mmcls_geda.apply_pruning is apply_pruning


@pytest.mark.parametrize('name', PRUNING_CONFIGS)
def test_the_pruning_config_is_apply_pruning_of_its_base(name):
    """The InfoBatch config is what apply_pruning makes of mmpretrain's
    stock config (its own settings, the local copy aside); apply_pruning
    checks its arguments before returning."""
    cfg = Config.fromfile(osp.join(REPO, name))
    made = apply_pruning(base_of(name), 0.5)
    for key in ('model.type', 'model.normalize_weights',
                'train_dataloader.sampler', 'default_hooks.param_scheduler',
                'custom_hooks', 'train_dataloader.dataset.fraction'):
        assert made.get(key.split('.')[0]) is not None
        got, want = cfg, made
        for part in key.split('.'):
            got, want = got[part], want[part]
        if isinstance(got, dict):  # the mmpretrain:: base's scope aside
            got = {k: v for k, v in got.items() if k != '_scope_'}
        assert got == want, key
    assert 'mmcls_geda' in cfg.custom_imports.imports
    assert cfg.train_dataloader.dataset.dataset.type == (
        'LocalCIFAR100' if name.endswith('_cifar100.py') else 'LocalCIFAR10')
    assert unscoped(cfg.train_dataloader.dataset.dataset.pipeline) == \
        unscoped(made.train_dataloader.dataset.dataset.pipeline)
    control = apply_pruning(stock(), 0.3, rule='random', anneal=0.25, seed=2)
    assert control.custom_hooks[0] == dict(
        type='GradNormHook',
        method='random_pruning',
        options=dict(ratio=0.3, anneal=0.25),
        priority='HIGHEST',
        seed=2)
    with pytest.raises(
            ValueError,
            match="method 'infobatch' prunes the whole training set every "
            'epoch: build its config with apply_pruning'):
        apply_geda(stock(), 1.0, 'infobatch')
    for kwargs, match in ((dict(ratio=0.95), 'ratio'), (dict(rule='infobach'),
                                                        'infobach'),
                          (dict(anneal=1.5), 'anneal'), (dict(epoch_pause=2),
                                                         'epoch_pause=2')):
        with pytest.raises(ValueError, match=match):
            apply_pruning(stock(), **kwargs)


def test_apply_geda_wraps_the_stock_config():
    """The training set wrapped, the hook added (HIGHEST), the plugin
    imported; the input untouched; re-applying replaces the fraction, the
    method and the hook, without a second wrapper or hook."""
    cfg = stock()
    before = cfg.to_dict()
    geda = apply_geda(cfg, 0.2, hook=dict(seed=3, scope='last_layer'))
    assert cfg.to_dict() == before  # the input is untouched
    assert isinstance(geda, Config) and geda.filename == cfg.filename
    wrapper = geda.train_dataloader.dataset
    assert wrapper.type == 'GEDASubsetDataset' and wrapper.fraction == 0.2
    assert wrapper.dataset.to_dict() == before['train_dataloader']['dataset']
    assert geda.custom_hooks == [
        dict(
            type='GradNormHook',
            method='geda',
            options={},
            priority='HIGHEST',
            seed=3,
            scope='last_layer')
    ]
    assert geda.custom_imports == dict(
        imports=['mmcls_geda'], allow_failed_imports=False)
    # the rest of the stock config as it was
    rest = {k: v for k, v in geda.to_dict().items()}
    for key in ('train_dataloader', 'custom_hooks', 'custom_imports'):
        rest.pop(key)
    assert rest == {k: v for k, v in before.items() if k != 'train_dataloader'}
    assert geda.train_dataloader.batch_size == 16

    again = apply_geda(geda, 0.1, 'rs2', replace=True)
    wrapper = again.train_dataloader.dataset
    assert wrapper.fraction == 0.1
    assert wrapper.dataset.to_dict() == before['train_dataloader']['dataset']
    assert [h['method'] for h in again.custom_hooks] == ['rs2']
    assert again.custom_hooks[0]['options'] == dict(replace=True)
    assert again.custom_imports.imports == ['mmcls_geda']
    assert geda.train_dataloader.dataset.fraction == 0.2  # untouched


def test_apply_geda_takes_a_dict_and_keeps_other_hooks_and_imports():
    plain = stock().to_dict()
    plain['custom_hooks'] = [dict(type='EMAHook')]
    plain['custom_imports'] = dict(imports=['mine'])
    out = apply_geda(plain, 0.3, 'geda_rotate', refold='fixed')
    assert isinstance(out, dict) and not isinstance(out, Config)
    assert plain['train_dataloader']['dataset']['type'] == 'CIFAR10'
    assert plain['custom_hooks'] == [dict(type='EMAHook')]
    assert [h['type']
            for h in out['custom_hooks']] == ['EMAHook', 'GradNormHook']
    assert out['custom_hooks'][1]['options'] == dict(refold='fixed')
    assert out['custom_imports'] == dict(
        imports=['mine', 'mmcls_geda'], allow_failed_imports=False)


def test_apply_geda_sets_what_a_per_epoch_method_needs():
    """A budget schedule: the EpochPlanSampler and the schedules by
    epoch progress; a method reading the losses: WeightedImageClassifier;
    applied again at the constant budget: mmengine's DefaultSampler back;
    a model that cannot record is refused."""
    cfg = apply_geda(stock(), 0.5, 'geda_rotate', budget='ramp')
    assert cfg.train_dataloader.sampler == dict(type='EpochPlanSampler')
    assert cfg.default_hooks.param_scheduler == dict(
        type='EpochProgressParamSchedulerHook')
    assert cfg.model.type == 'WeightedImageClassifier'
    assert stock().model.type == 'ImageClassifier'
    again = apply_geda(cfg, 0.5, 'rs2')
    assert again.train_dataloader.sampler == dict(
        type='DefaultSampler', shuffle=True)
    fixed = apply_geda(stock(), 0.5, 'geda_rotate', refold='fixed')
    assert fixed.model.type == 'ImageClassifier'
    other = stock()
    other.model.type = 'MyClassifier'
    with pytest.raises(ValueError, match="model.type is 'MyClassifier'"):
        apply_geda(other, 0.5, 'strata_rotate')


@pytest.mark.parametrize(
    'args, kwargs, match',
    [((0, ), {}, 'fraction must be a number in \\(0, 1\\], got 0'),
     ((1.5, ), {}, 'got 1.5'), ((0.2, 'gdea'), {}, "unknown method 'gdea'"),
     ((0.2, ), dict(nodez=3), r"unknown option\(s\) \['nodez'\]"),
     ((0.2, ), dict(hook=dict(scoop='full')), r"doubled: \['scoop'\]"),
     ((0.2, ), dict(hook=dict(method='rs2')), r"doubled: \['method'\]"),
     ((0.2, ), dict(hook=dict(scope='fulll')), 'fulll'),
     ((0.2, ), dict(hook=dict(warmup_epochs=0.3)),
      r'warmup_epochs=0.3 is not a whole number of epochs'),
     ((0.2, ), dict(hook=dict(warmup_epochs=200)),
      r'leaves none of the 200 epochs'),
     ((0.2, ),
      dict(
          hook=dict(
              warmup_epochs=1,
              then=dict(method='random', start_epoch=5, interval=1))),
      r'then start_epoch=5 must come after the first selection \(epoch 5\)'),
     ((0.2, ),
      dict(hook=dict(then=dict(method='random', start_epoch=200, interval=1))),
      'and before max_epochs=200'),
     ((0.2, 'rs2'), dict(budget='rampp'), 'rampp'),
     ((0.2, 'rs2'), dict(hook=dict(interval=2)),
      "'rs2' serves a new subset every epoch, which interval=2"),
     ((0.2, ), dict(epoch_pause=2), 'epoch_pause=2: mmengine')])
def test_apply_geda_refuses_before_returning(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        apply_geda(stock(), *args, **kwargs)


def test_apply_geda_refuses_configs_the_hook_cannot_serve():
    iters = stock()
    iters.train_cfg = dict(by_epoch=False, max_iters=100)
    with pytest.raises(ValueError, match='iteration-based'):
        apply_geda(iters, 0.2)
    repeat = stock()
    repeat.train_dataloader.dataset = dict(
        type='RepeatDataset',
        times=2,
        dataset=repeat.train_dataloader.dataset.to_dict())
    with pytest.raises(ValueError, match='is a RepeatDataset'):
        apply_geda(repeat, 0.2)
    with pytest.raises(ValueError, match='no train_dataloader'):
        apply_geda(dict(model=dict()), 0.2)
    with pytest.raises(TypeError, match='mmengine Config or a dict'):
        apply_geda([], 0.2)


# --- configs/mmpretrain/ --------------------------------------------------


def test_there_are_configs():
    assert {osp.basename(c)
            for c in CONFIGS} >= {
                'resnet18_8xb16-geda-f0.2_cifar10.py',
                'resnet18_8xb16-rs2-f0.1_cifar10.py',
                'resnet50_8xb16-geda-f0.2_cifar100.py',
                'resnet18_8xb16-geda-f0.2_cifar100.py',
                'resnet18_8xb16-rs2-f0.1_cifar100.py',
                'resnet18_8xb16-infobatch-r0.5_cifar10.py',
                'resnet18_8xb16-infobatch-r0.5_cifar100.py'
            }


@pytest.mark.parametrize('name', [
    'resnet18_8xb16-geda-f0.2_cifar100.py',
    'resnet18_8xb16-rs2-f0.1_cifar100.py',
    'resnet18_8xb16-infobatch-r0.5_cifar100.py'
])
def test_the_resnet18_cifar100_configs_build_a_resnet18(name):
    """mmpretrain's ResNet-50 CIFAR-100 recipe with the ResNet-18 of its
    resnet18_cifar.py: the built classifier has that backbone's layers and
    parameters and 100 outputs."""
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mmpretrain', name))
    reference = Config.fromfile(
        osp.join(
            osp.dirname(mmpretrain.__file__), '.mim', 'configs', '_base_',
            'models', 'resnet18_cifar.py'))
    model = MODELS.build(cfg.model)
    reference.model.head.num_classes = 100
    expected = MODELS.build(reference.model)
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in expected.state_dict().items()]
    assert model.head.fc.out_features == 100


@pytest.mark.parametrize('name', SELECTION_CONFIGS)
def test_configs_are_mmpretrains_with_the_plugin(name):
    """Each config: an ``mmpretrain::`` base, the plugin imported, the
    local CIFAR copy wrapped with the fraction of its name (set once in
    the file), the hook of its name; evaluation on the whole test set."""
    text = open(osp.join(REPO, name), encoding='utf-8').read()
    tree = ast.parse(text)
    (base, ) = [
        node.value for node in tree.body
        if isinstance(node, ast.Assign) and node.targets[0].id == '_base_'
    ]
    assert ast.literal_eval(base)[0].startswith('mmpretrain::')
    fraction = float(re.search(r'-f([0-9.]+)_', name).group(1))
    method = re.search(r'_8xb16-([a-z0-9_]+)-f', name).group(1)
    keywords = [
        node for node in ast.walk(tree)
        if isinstance(node, ast.keyword) and node.arg == 'fraction'
    ]
    assert len(keywords) == 1 and keywords[0].value.value == fraction
    cfg = Config.fromfile(osp.join(REPO, name))
    assert 'mmcls_geda' in cfg.custom_imports.imports
    wrapper = cfg.train_dataloader.dataset
    assert wrapper.type == 'GEDASubsetDataset'
    assert wrapper.fraction == fraction
    local = 'LocalCIFAR100' if name.endswith('_cifar100.py') else \
        'LocalCIFAR10'
    assert wrapper.dataset.type == local
    assert wrapper.dataset.data_root == 'data/' + local[5:].lower()
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        assert loader.dataset.type == local
        assert loader.dataset.split == 'test'
    (hook, ) = cfg.custom_hooks
    assert hook.type == 'GradNormHook' and hook.method == method
    assert hook.priority == 'HIGHEST'
    # what apply_geda makes of the stock base is the same config
    stock_base = Config.fromfile(
        osp.join(
            osp.dirname(mmpretrain.__file__), '.mim', 'configs',
            ast.literal_eval(base)[0].split('::')[1]))
    made = apply_geda(stock_base, fraction, method, **hook.get('options', {}))
    assert made.custom_hooks[0]['method'] == hook.method
    assert unscoped(made.train_dataloader.dataset.dataset.pipeline) == \
        unscoped(wrapper.dataset.pipeline)  # the base's training pipeline


def unscoped(transforms):
    """Transform configs without the ``_scope_`` that ``mmpretrain::``
    bases add."""
    return [{k: v for k, v in t.items() if k != '_scope_'} for t in transforms]


def shrink(root, work, width=8, expansion=1):
    """The overrides that make a config train on the tiny pickles: the
    data root, small batches without workers, a narrow model (as
    ``stock_cfg`` builds it), one epoch, a constant learning rate."""
    overrides = {
        'train_dataloader.dataset.dataset.data_root': root,
        'train_dataloader.batch_size': 8,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'model.backbone.stem_channels': width,
        'model.backbone.base_channels': width,
        'model.head.in_channels': width * 8 * expansion,
        'train_cfg.max_epochs': 1,
        'param_scheduler': [],
        'randomness.seed': 0,
        'work_dir': str(work),
        'default_hooks.logger.interval': 1,
        'custom_hooks.0.scoring_workers': 0,
    }
    for loader in ('val_dataloader', 'test_dataloader'):
        overrides.update({
            f'{loader}.dataset.data_root': root,
            f'{loader}.batch_size': 8,
            f'{loader}.num_workers': 0,
            f'{loader}.persistent_workers': False,
        })
    return overrides


@pytest.mark.parametrize('name', SELECTION_CONFIGS)
def test_configs_train_on_the_selection(name, cifar10_root, cifar100_root,
                                        tmp_path):
    """Each config, shrunk through overrides only, trains one epoch with
    mmengine's Runner: the hook logs its selection and the loader serves
    exactly the selection's samples (GEDA: the saved record; RS2: the
    numpy plan's epoch 0), each once, then validation runs."""
    cfg = Config.fromfile(osp.join(REPO, name))
    cifar100 = name.endswith('_cifar100.py')
    work = tmp_path / 'work'
    expansion = 4 if cfg.model.backbone.depth >= 50 else 1
    overrides = shrink(cifar100_root if cifar100 else cifar10_root, work, 8,
                       expansion)
    if cfg.custom_hooks[0].get('warmup_epochs'):
        # one epoch: selected once here (test_schedule.py trains the
        # schedule of the config, shrunk to a few epochs)
        overrides.update({
            'custom_hooks.0.warmup_epochs': 0,
            'custom_hooks.0.interval': 0
        })
    cfg.custom_hooks.append(dict(type='ServedIndices'))
    runner, served, log = train(cfg, **overrides)
    wrapper = runner.train_dataloader.dataset
    hook = cfg.custom_hooks[0]
    n = 200 if cifar100 else 60
    assert len(wrapper.full_labels) == n
    assert len(served) == len(wrapper) == len(set(served))
    if hook.method == 'rs2':
        args = SelectionArgs(method='rs2', options=hook.options)
        plan = RotationPlan(wrapper.full_labels,
                            cfg.train_dataloader.dataset.fraction, 'rs2',
                            args.resolved_options(), args.seed)
        assert sorted(served) == sorted(plan.indices(0).tolist())
        assert (f'GradNormHook: epoch 0: rs2 serves {plan.size} of {n} '
                'samples') in log
    else:
        saved = record.load_record(osp.join(work, record.SELECTION_FILE))
        indices = saved['selection']['indices']
        assert saved['method'] == hook.method
        assert sorted(served) == sorted(indices)
        assert f'GradNormHook: scoring full gradient norms of all {n}' in log
        assert 'GradNormHook (epoch 0): ' in log
    assert 'val/accuracy/top1' in runner.message_hub.log_scalars


# --- the documented command ---------------------------------------------


def test_the_documented_command_trains(cifar10_root, tmp_path):
    """``python tools/train_mmpretrain.py <config>`` (mmpretrain's own
    tools/train.py, shrunk through its ``--cfg-options``) as
    docs/mmpretrain.md gives it, from the repository root."""
    assert COMMAND in open(DOC, encoding='utf-8').read()
    work = tmp_path / 'work'
    overrides = shrink(cifar10_root, work)
    # as one types them: mmengine's DictAction parses the values
    options = [
        f'{k}={v!s}'.replace(' ', '') for k, v in overrides.items()
        if k != 'work_dir'
    ]
    env = dict(
        os.environ,
        PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''),
        OMP_NUM_THREADS='1')
    argv = COMMAND.split()[1:]
    command = [sys.executable, *argv, '--work-dir', str(work)]
    command += ['--no-persistent-workers', '--cfg-options', *options]
    result = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    saved = record.load_record(osp.join(work, record.SELECTION_FILE))
    assert saved['method'] == 'geda' and saved['fraction'] == 0.2
    assert len(saved['selection']['indices']) == 12
    logs = glob.glob(osp.join(work, '*', '*.log'))
    text = open(logs[0], encoding='utf-8').read()
    assert 'GradNormHook (epoch 0): ' in text
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    (scalars, ) = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
    with open(scalars, encoding='utf-8') as f:
        last = json.loads(f.read().splitlines()[-1])
    assert np.isfinite(last['accuracy/top1'])  # validated


def test_a_bad_work_dir_is_named(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('')
    command = [sys.executable, 'tools/train_mmpretrain.py', CONFIGS[0]]
    command += ['--work-dir', str(blocker / 'work')]
    result = subprocess.run(
        command,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO),
        capture_output=True,
        text=True)
    assert result.returncode != 0
    assert 'train_mmpretrain.py: error: ' in result.stderr
    assert '--work-dir' in result.stderr


def doc_block(first_line: str) -> str:
    """The fenced block of docs/mmpretrain.md that starts with
    ``first_line``."""
    lines = open(DOC, encoding='utf-8').read().splitlines()
    start = lines.index(first_line)
    assert re.match(r'^```\w+$', lines[start - 1])
    return '\n'.join(lines[start:lines.index('```', start)])


def test_the_documented_apply_geda_block_runs(cifar10_root, tmp_path,
                                              monkeypatch):
    """The ``apply_geda`` block of docs/mmpretrain.md, as written, in a
    folder whose ``my_mmpretrain_config.py`` is mmpretrain's stock config
    shrunk as ``stock_cfg`` does (LocalCIFAR10 on the tiny pickles, a
    narrow ResNet, one epoch)."""
    from .test_hook import stock_cfg
    block = doc_block('from mmengine.config import Config')
    assert 'apply_geda(cfg, 0.2' in block
    cfg = stock_cfg(cifar10_root, tmp_path / 'unused', tmp_path, wrap=False)
    cfg.custom_hooks = []
    for key in ('work_dir', 'custom_imports'):
        cfg.pop(key)
    cfg.dump(str(tmp_path / 'my_mmpretrain_config.py'))
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(block, 'docs/mmpretrain.md', 'exec'), scope)
    cfg = scope['cfg']
    assert cfg.custom_hooks[0]['seed'] == 0
    work = tmp_path / 'work_dirs' / 'my_geda'
    saved = record.load_record(str(work / record.SELECTION_FILE))
    assert saved['method'] == 'geda' and saved['fraction'] == 0.2
    assert osp.isfile(work / 'epoch_1.pth')
