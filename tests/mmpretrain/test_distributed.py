"""``GradNormHook`` on mmengine in a 2-process gloo group (CPU), as the
mmcls 0.x suite runs it on mmcv's runner: mmpretrain's stock CIFAR-10
config trained by mmengine's ``Runner`` with ``launcher='pytorch'`` on two
ranks spawned with ``torch.multiprocessing`` and the environment variables
mmengine's ``pytorch`` launcher reads (``RANK``, ``LOCAL_RANK``,
``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``).

Both ranks serve the same static GEDA selection, the same per-epoch
``rs2`` plan and the same GEDA rotation (folded on the gathered θ0 norms),
each rank its share of every epoch; the saved files are written once (by
rank 0).

mmengine 0.10.7's ``init_dist('pytorch')`` calls ``torch.cuda.set_device``
before it starts the group, which fails on a machine without a GPU, so
each rank starts the gloo group from those variables itself
(``init_process_group('gloo')``, ``env://``); the ``Runner`` then finds
it started and does not call ``init_dist``. Its default model wrapper
passes ``device_ids=[LOCAL_RANK]``, which torch refuses for a CPU model:
the config's ``model_wrapper_cfg`` sets ``device_ids=None``.
"""
import json
import os
import os.path as osp
import socket
from pathlib import Path

import numpy as np
import torch
import torch.multiprocessing as mp
from mmengine.hooks import Hook

from mmcls_geda.apis import SelectionArgs
from mmcls_geda.selection import record, select_subset
from mmcls_geda.selection.epoch_state import ROTATION, ROTATION_LOG
from mmcls_geda.selection.rotation import RotationPlan
from mmcls_geda.selection.schedule import selection_seed
from .test_rs2 import LABELS, expected

WORLD = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class EpochServed(Hook):
    """Records ``(epoch, sample_idx)`` of every sample this rank trains
    on."""

    served = []

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        type(self).served += [(runner.epoch, int(s.sample_idx))
                              for s in data_batch['data_samples']]


def distributed_cfg(root, work, tmp_path, hook, max_epochs, fraction):
    """The stock config of ``test_hook.stock_cfg`` (the plugin through
    custom_imports, LocalCIFAR10 wrapped, a narrow ResNet) as a
    distributed CPU run: ``launcher='pytorch'``, gloo, the model wrapped in
    mmengine's ``MMDistributedDataParallel`` without device ids."""
    from .test_hook import stock_cfg
    cfg = stock_cfg(
        root,
        work,
        tmp_path,
        hook=dict(
            type='GradNormHook', priority='HIGHEST', scoring_workers=0,
            **hook),
        max_epochs=max_epochs)
    cfg.train_dataloader.dataset.fraction = fraction
    cfg.custom_hooks[-1] = dict(type='EpochServed')
    cfg.launcher = 'pytorch'
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    cfg.model_wrapper_cfg = dict(
        type='MMDistributedDataParallel',
        device_ids=None,
        broadcast_buffers=False)
    return cfg


def _train_on_rank(rank, port, root, out):
    """One rank: start the gloo group from mmengine's launcher variables,
    then train a static GEDA run and an rs2 run with mmengine's Runner;
    save what this rank served."""
    import uuid
    import warnings

    import torch.distributed as dist
    from mmengine.registry import HOOKS
    from mmengine.runner import Runner
    from mmpretrain.utils import register_all_modules

    import mmcls_geda  # noqa: F401 (a fresh process: register again)
    register_all_modules(init_default_scope=True)
    HOOKS.register_module(module=EpochServed, force=True)
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo')  # env://, the variables above
    try:
        runs = dict(
            geda=(dict(method='geda'), 2, 0.5),
            rs2=(dict(method='rs2', seed=3), 3, 0.3),
            geda_rotate=(dict(
                method='geda_rotate', options=dict(refold='fixed')), 3, 0.5))
        for name, (hook, epochs, fraction) in runs.items():
            tmp = Path(out) / f'{name}_cfg{rank}'  # this rank's config file
            tmp.mkdir()
            cfg = distributed_cfg(root, osp.join(out, name), tmp, hook, epochs,
                                  fraction)
            # one experiment name for both ranks (rank 0 names the log)
            cfg.experiment_name = (
                f'{name}_{uuid.uuid5(uuid.NAMESPACE_URL, out).hex}')
            EpochServed.served = []
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')  # the tiny files' md5 sums
                runner = Runner.from_cfg(cfg)
                assert runner.distributed and runner.world_size == WORLD
                runner.train()
            np.save(
                osp.join(out, f'{name}_served{rank}.npy'),
                np.asarray(EpochServed.served, dtype=np.int64))
            dist.barrier()
    finally:
        dist.destroy_process_group()


def served_by_epoch(out, name, epochs):
    """``[rank][epoch]`` -> the sorted sample indices that rank trained
    on in that epoch."""
    ranks = []
    for rank in range(WORLD):
        pairs = np.load(osp.join(out, f'{name}_served{rank}.npy'))
        ranks.append([
            sorted(pairs[pairs[:, 0] == e, 1].tolist()) for e in range(epochs)
        ])
    return ranks


def test_two_ranks_serve_one_selection_and_one_plan(cifar10_root, tmp_path):
    out = str(tmp_path)
    mp.spawn(
        _train_on_rank, args=(free_port(), cifar10_root, out), nprocs=WORLD)

    # static GEDA: rank 0 selected from the gathered norms and broadcast;
    # each epoch the two ranks' disjoint shares are the whole selection
    work = osp.join(out, 'geda')
    saved = record.load_record(osp.join(work, record.SELECTION_FILE))
    chosen = saved['selection']['indices']
    assert len(chosen) == 30
    norms, labels = record.load_scores(work)
    assert norms.shape == (60, ) and np.array_equal(labels, LABELS)
    assert select_subset(
        norms, labels, 0.5, 'geda',
        seed=selection_seed(0, 0)).indices.tolist() == chosen
    geda = served_by_epoch(out, 'geda', 2)
    for epoch in range(2):
        first, second = geda[0][epoch], geda[1][epoch]
        assert len(first) == len(second) == 15  # each rank its share
        assert not set(first) & set(second)
        assert sorted(first + second) == sorted(chosen)
    # written once: one selection event in the schedule, by rank 0
    with open(osp.join(work, record.SCHEDULE_FILE), encoding='utf-8') as f:
        assert len(json.load(f)['events']) == 1

    # rs2: both ranks serve the numpy plan's epoch, each its half
    args = SelectionArgs(method='rs2', seed=3)
    plan = RotationPlan(LABELS, 0.3, 'rs2', args.resolved_options(), 3)
    rs2 = served_by_epoch(out, 'rs2', 3)
    for epoch in range(3):
        first, second = rs2[0][epoch], rs2[1][epoch]
        assert len(first) == len(second) == plan.size // 2
        assert not set(first) & set(second)
        assert sorted(first + second) == sorted(plan.indices(epoch).tolist())
    work = osp.join(out, 'rs2')
    with open(osp.join(work, ROTATION_LOG), encoding='utf-8') as f:
        logged = json.load(f)['epochs']
    assert [e['epoch'] for e in logged] == [0, 1, 2]  # once each
    for epoch in range(1, 4):
        assert osp.isfile(osp.join(work, ROTATION.file(epoch)))

    # geda_rotate on the θ0 norms, scored in shares and gathered: both
    # ranks fold on the same norms (the saved ones), each serves its half
    work = osp.join(out, 'geda_rotate')
    norms, labels = record.load_scores(work)
    assert np.array_equal(labels, LABELS) and np.all(norms > 0)
    args = SelectionArgs(method='geda_rotate', options=dict(refold='fixed'))
    plan = RotationPlan(LABELS, 0.5, 'geda_rotate', args.resolved_options(), 0)
    folds = expected(plan, 3, scores=norms)
    rotate = served_by_epoch(out, 'geda_rotate', 3)
    for epoch in range(3):
        first, second = rotate[0][epoch], rotate[1][epoch]
        assert len(first) == len(second) == 15
        assert not set(first) & set(second)
        assert sorted(first + second) == sorted(folds[epoch])
