"""A schedule in a gloo group of two processes on mmpretrain 1.x: every
rank serves its share of the same warm-up slices and selections (rank 0
selects, the selection is broadcast), and only rank 0 writes the records.

mmengine's ``pytorch`` launcher needs CUDA (``init_dist`` sets the CUDA
device), so the group is made here and each rank runs a ``Runner`` with
``launcher='none'`` in it: mmengine's ``DefaultSampler`` shards by the
group's rank and world size, and the hook selects on rank 0 and
broadcasts; the models are not wrapped in DDP (no gradient sync)."""
import os
import socket

import numpy as np
import torch
import torch.multiprocessing as mp

from mmcls_geda.selection import record
from .test_schedule import SCHEDULE, mmcls_plan


def _run_rank(rank, world, port, root, work, out_dir, tmp):
    import torch.distributed as dist
    from mmpretrain.utils import register_all_modules

    import mmcls_geda  # noqa: F401 (a fresh process: register again)
    from .test_hook import train
    from .test_schedule import schedule_cfg
    register_all_modules(init_default_scope=True)
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    cfg_dir = tmp / f'cfg{rank}'  # each rank writes its config file
    cfg_dir.mkdir()
    try:
        _, served, _ = train(
            schedule_cfg(root, work, cfg_dir, **SCHEDULE), launcher='none')
        np.save(os.path.join(out_dir, f'served{rank}.npy'), served)
    finally:
        dist.destroy_process_group()


def test_ranks_serve_shares_of_one_schedule(cifar10_root, tmp_path):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    work = tmp_path / 'work'
    mp.spawn(
        _run_rank,
        args=(2, port, cifar10_root, str(work), str(tmp_path), tmp_path),
        nprocs=2)
    shares = [np.load(tmp_path / f'served{r}.npy') for r in range(2)]
    assert all(s.size == 6 * 15 for s in shares)  # 15 a rank per epoch
    norms, _ = record.load_scores(str(work))
    expected = mmcls_plan(norms, SCHEDULE)
    for epoch in range(6):
        got = np.concatenate([s[15 * epoch:15 * epoch + 15] for s in shares])
        assert sorted(got.tolist()) == expected[epoch]
    assert {
        e['epoch']
        for e in record._load_schedule(str(work /
                                           record.SCHEDULE_FILE))['events']
    } == {0, 2, 4, 5}
