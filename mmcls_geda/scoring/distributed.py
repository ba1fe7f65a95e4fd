"""Distributed scoring: each rank scores a strided share; all get it all."""
from typing import List, Tuple

import numpy as np
import torch.distributed as dist
from torch.utils.data import DataLoader, Subset


def dist_info() -> Tuple[int, int]:
    """``(rank, world size)``; ``(0, 1)`` without torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(data_loader: DataLoader, rank: int, world: int) -> DataLoader:
    """This rank's strided share of the loader's dataset, in order,
    unpadded."""
    dataset = data_loader.dataset
    return DataLoader(
        Subset(dataset, range(rank, len(dataset), world)),
        batch_size=data_loader.batch_size,
        shuffle=False,
        num_workers=data_loader.num_workers,
        collate_fn=data_loader.collate_fn,
        pin_memory=data_loader.pin_memory)


def gather_strided(norms: np.ndarray, labels: np.ndarray,
                   world: int) -> Tuple[np.ndarray, np.ndarray]:
    """All ranks' strided shares, interleaved back into dataset order."""
    shares: List = [None] * world
    dist.all_gather_object(shares, (norms, labels))
    n = sum(s[1].size for s in shares)
    all_norms = np.empty((n, ) + norms.shape[1:])
    all_labels = np.empty(n, dtype=np.int64)
    for r, (share_norms, share_labels) in enumerate(shares):
        all_norms[r::world] = share_norms
        all_labels[r::world] = share_labels
    return all_norms, all_labels
