"""Fixtures and helpers: tiny CIFAR-format pickles in a temp dir, small
models, a real runner."""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from mmcls.models import build_classifier
from mmcv.runner import EpochBasedRunner, Hook, build_optimizer
from torch.utils.data import DataLoader, TensorDataset

from . import cifar_files

# the tiny CIFAR fixtures and writers, shared with the mmpretrain suite
cifar10_root = cifar_files.cifar10_root
cifar100_root = cifar_files.cifar100_root
decode_indices = cifar_files.decode_indices
write_cifar10, write_cifar100 = (cifar_files.write_cifar10,
                                 cifar_files.write_cifar100)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

# The mmpretrain 1.x suite runs in its own venv (make test-mmpretrain).
collect_ignore = ['mmpretrain']

PLAIN_NORM = dict(mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0], to_rgb=False)
TRAIN_PIPELINE = [
    dict(type='RandomCrop', size=32, padding=4),
    dict(type='RandomFlip', flip_prob=0.5, direction='horizontal'),
    dict(type='Normalize', **PLAIN_NORM),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='ToTensor', keys=['gt_label']),
    dict(type='Collect', keys=['img', 'gt_label'])
]
TEST_PIPELINE = [
    dict(type='Normalize', **PLAIN_NORM),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='Collect', keys=['img'])
]


def small_resnet_cfg(num_classes: int = 10, base_channels: int = 8) -> dict:
    """mmcls ResNet_CIFAR-18 at a width that tests can afford."""
    return dict(
        type='ImageClassifier',
        backbone=dict(
            type='ResNet_CIFAR',
            depth=18,
            num_stages=4,
            out_indices=(3, ),
            style='pytorch',
            base_channels=base_channels),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=num_classes,
            in_channels=base_channels * 8,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))


def small_cfg_options(root: str,
                      work_dir: str,
                      epochs: int = 1,
                      kind: str = 'cifar10') -> list:
    """--cfg-options that shrink a repo config to these tiny files."""
    classes = 10 if kind == 'cifar10' else 100
    return [
        f'data.train.dataset.data_prefix={root}',
        f'data.val.data_prefix={root}', f'data.test.data_prefix={root}',
        'data.samples_per_gpu=16', 'data.workers_per_gpu=1',
        f'runner.max_epochs={epochs}', 'model.backbone.base_channels=8',
        'model.head.in_channels=64', f'model.head.num_classes={classes}',
        'log_config.interval=1', 'checkpoint_config.interval=1',
        'custom_hooks.0.scoring_batch_size=16',
        'custom_hooks.0.scoring_workers=0'
    ]


@pytest.fixture
def python():
    return sys.executable


# --- shared helpers (test modules import these, never each other) -----------


def tiny_data(n=24, classes=5, seed=0, size=16):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, size, size, generator=g)
    y = torch.randint(0, classes, (n, ), generator=g)
    return TensorDataset(x, y)


def make_model(classes=5, width=8, seed=0, trained=False, data=None):
    torch.manual_seed(seed)
    model = build_classifier(small_resnet_cfg(classes, width))
    model.init_weights()
    if trained:  # a few SGD steps: running stats and weights move
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        model.train()
        for _ in range(3):
            for x, y in DataLoader(data, batch_size=8, shuffle=True):
                opt.zero_grad()
                model(img=x, gt_label=y, return_loss=True)['loss'].backward()
                opt.step()
    return model


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def train_on_rank(rank,
                  world,
                  port,
                  work_dir,
                  dataset,
                  model,
                  hooks,
                  max_epochs,
                  sampler_cfg=None):
    """Train ``model`` on ``dataset`` as rank ``rank`` of a gloo group of
    ``world`` (the body of an ``mp.spawn`` target), with the runner's
    pauses off; ``hooks``: ``(hook, priority)`` pairs; ``sampler_cfg``:
    the config's ``sampler`` (None: mmcls's default)."""
    import logging

    import mmcv.runner.epoch_based_runner as ebr
    import torch.distributed as dist
    from mmcls.datasets import build_dataloader
    from mmcv.parallel import MMDistributedDataParallel
    ebr.time.sleep = lambda s: None
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        loader = build_dataloader(
            dataset,
            8,
            1,
            num_gpus=1,
            dist=True,
            seed=0,
            persistent_workers=True,
            sampler_cfg=sampler_cfg)
        runner = EpochBasedRunner(
            MMDistributedDataParallel(model),
            optimizer=build_optimizer(model, dict(type='SGD', lr=0.01)),
            work_dir=work_dir,
            logger=logging.getLogger(f'rank{rank}'),
            max_epochs=max_epochs)
        runner.register_optimizer_hook(dict(grad_clip=None))
        for hook, priority in hooks:
            runner.register_hook(hook, priority=priority)
        runner.run([loader], [('train', 1)])
    finally:
        dist.destroy_process_group()


def wrapper_cfg(root, fraction=0.5, **kw):
    return dict(
        type='GEDASubsetDataset',
        fraction=fraction,
        dataset=dict(
            type='LocalCIFAR10', data_prefix=root, pipeline=TRAIN_PIPELINE),
        **kw)


class ServedIndices(Hook):
    """Records the dataset indices of every training batch."""

    def __init__(self):
        self.served = []

    def after_train_iter(self, runner):
        self.served.append(decode_indices(runner.data_batch['img']))


def train_loader(ds):
    """The training loader the runner tests use: batches of 8, one
    persistent worker (so shared-memory changes must reach it), seeded."""
    from mmcls.datasets import build_dataloader
    return build_dataloader(
        ds,
        samples_per_gpu=8,
        workers_per_gpu=1,
        dist=False,
        seed=0,
        persistent_workers=True)


def make_runner(tmp_path, model, max_epochs=1):
    import logging

    from mmcv.parallel import MMDataParallel
    optimizer = build_optimizer(model, dict(type='SGD', lr=0.01, momentum=0.9))
    runner = EpochBasedRunner(
        MMDataParallel(model),
        optimizer=optimizer,
        work_dir=str(tmp_path),
        logger=logging.getLogger('test_geda'),
        max_epochs=max_epochs)
    runner.register_optimizer_hook(dict(grad_clip=None))
    return runner


def save_selection(work_dir, ds, selection, epoch=0, per_epoch=False):
    """Save ``selection`` of wrapper ``ds`` as the hook would (unweighted,
    full scope); returns the path of ``geda_selection.json``."""
    from mmcls_geda.selection import record
    return record.save_record(
        str(work_dir),
        record.make_record(
            selection,
            fingerprint=ds.fingerprint,
            scope='full',
            weighted=False,
            epoch=epoch,
            scoring_s=0.0),
        per_epoch=per_epoch)[0]


def run_tool(python, *args, timeout=600):
    out = subprocess.run([python, *args],
                         cwd=REPO,
                         capture_output=True,
                         text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def run_tool_failing(python, *args):
    out = subprocess.run([python, *args],
                         cwd=REPO,
                         capture_output=True,
                         text=True,
                         timeout=600)
    assert out.returncode != 0
    return out.stdout + out.stderr
