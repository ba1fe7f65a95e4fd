"""Dynamic pruning's data side: a wrapper that tags items, a sampler that
serves each epoch's plan.

``DynamicPruningHook`` decides each epoch which samples are processed and
with what loss weights (:func:`mmcls_geda.selection.pruning.plan_epoch`):
the epoch length varies;
:class:`DynamicPruningSampler` serves that epoch's indices (this rank's
share), and :class:`DynamicPruningDataset` adds each item's dataset index
(so that its training loss can be recorded) and loss weight. The weights
live in shared memory, so persistent loader workers see every epoch's.
"""
import copy
import math
from typing import Iterator, Optional, Union

import numpy as np
import torch
from mmcls.datasets import DATASETS, build_dataset
from mmcls.datasets.builder import SAMPLERS
from torch.utils.data import Sampler

from .batches import no_lone_share


@DATASETS.register_module()
class DynamicPruningDataset:
    """Serve every sample with its index and its current loss weight.

    Args:
        dataset (dict | Dataset): The training set, as a config (built with
            ``default_args``) or built.
        **default_args: Passed on to ``build_dataset`` for a config.
    """

    def __init__(self, dataset: Union[dict, object], **default_args):
        if isinstance(dataset, dict):
            dataset = build_dataset(
                copy.deepcopy(dataset), default_args or None)
        if not hasattr(dataset, 'get_gt_labels'):
            raise TypeError('DynamicPruningDataset needs a labelled mmcls '
                            f'dataset; got {type(dataset).__name__}')
        self.dataset = dataset
        self.CLASSES = getattr(dataset, 'CLASSES', None)
        self._weights = torch.ones(
            len(dataset), dtype=torch.float32).share_memory_()

    def set_weights(self, indices: np.ndarray, weights: np.ndarray) -> None:
        """The loss weights of this epoch's samples (others: 1)."""
        table = torch.ones(len(self), dtype=torch.float32)
        table[torch.from_numpy(np.asarray(indices, dtype=np.int64))] = (
            torch.from_numpy(np.asarray(weights, dtype=np.float32)))
        self._weights.copy_(table)

    @property
    def weights(self) -> np.ndarray:
        return self._weights.numpy()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int) -> dict:
        results = self.dataset[idx]
        results['sample_idx'] = int(idx)
        results['sample_weight'] = float(self._weights[idx])
        return results

    def get_gt_labels(self) -> np.ndarray:
        return self.dataset.get_gt_labels()

    def get_cat_ids(self, idx: int):
        return self.dataset.get_cat_ids(idx)

    def evaluate(self, *args, **kwargs):
        return self.dataset.evaluate(*args, **kwargs)


@SAMPLERS.register_module()
class DynamicPruningSampler(Sampler):
    """Serve the current epoch's plan: this rank's strided share of it.

    Until ``DynamicPruningHook`` (or ``GradNormHook`` with a budget
    schedule) sets a plan, the length is the whole
    dataset's (the runner reads it before training) and iterating is an
    error that names the missing hook. Shares are padded by wrapping
    around, so that every rank runs the same number of iterations. Once
    the hook has told it the loader's batching (:meth:`set_batching`), a
    share whose last batch would hold one sample (batch normalisation
    cannot train on it) is padded with one more: the rank's first sample
    of the epoch, again (see :mod:`mmcls_geda.datasets.batches`).

    Args:
        dataset: The training set (built by mmcls's ``build_dataloader``).
        num_replicas (int): World size.
        rank (int): This process's rank.
        seed (int, optional): Unused: the hook's seed orders each plan.
        shuffle (bool): Must be True (training).
    """

    # each epoch's plan is padded here (``pad_lone_batch`` leaves it alone)
    pads_lone_batches = True

    def __init__(self,
                 dataset,
                 num_replicas: int = 1,
                 rank: int = 0,
                 seed: Optional[int] = None,
                 shuffle: bool = True):
        if not shuffle:
            raise ValueError('DynamicPruningSampler serves training epochs '
                             '(shuffle=True); evaluation loaders take the '
                             'default sampler')
        self.dataset = dataset
        self.num_replicas, self.rank = num_replicas, rank
        self.plan: Optional[np.ndarray] = None
        self.batch_size, self.drop_last = 1, False

    def set_batching(self, batch_size: int, drop_last: bool) -> None:
        """The loader's batch size and ``drop_last``: a share is padded
        so that its last batch never holds a single sample."""
        self.batch_size, self.drop_last = int(batch_size), bool(drop_last)

    def set_plan(self, indices: np.ndarray) -> None:
        """The epoch's dataset indices, in order, the same on every rank."""
        self.plan = np.asarray(indices, dtype=np.int64)

    def share(self, total: int) -> int:
        """Samples each rank serves of a plan of ``total`` (padded to
        equal shares, and against a last batch of one)."""
        return no_lone_share(-(-int(total) // self.num_replicas),
                             self.batch_size, self.drop_last)

    def __len__(self) -> int:
        return self.share(
            len(self.dataset) if self.plan is None else self.plan.size)

    def __iter__(self) -> Iterator[int]:
        if self.plan is None:
            raise RuntimeError(
                'DynamicPruningSampler has no plan: add '
                "dict(type='DynamicPruningHook', priority='HIGHEST') to "
                'custom_hooks (or use mmcls_geda.apply_pruning)')
        equal = -(-self.plan.size // self.num_replicas)
        padded = np.resize(self.plan, equal * self.num_replicas)
        own = padded[self.rank::self.num_replicas].tolist()
        # against a last batch of one: the rank's first sample, again
        return iter(own + own[:len(self) - equal])


def epoch_iterations(loader, total: float) -> float:
    """Iterations ``loader`` (with a :class:`DynamicPruningSampler`) runs
    for a plan of ``total`` samples: the one place of this rounding.

    A fractional ``total`` (an expected epoch length) is rounded up.
    """
    per_rank = loader.sampler.share(math.ceil(total))
    batch = loader.batch_sampler.batch_size
    if loader.batch_sampler.drop_last:
        return per_rank // batch
    return -(-per_rank // batch)
