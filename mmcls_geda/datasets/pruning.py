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
from typing import Optional, Union

import numpy as np
import torch
from mmcls.datasets import DATASETS, build_dataset
from mmcls.datasets.builder import SAMPLERS

from ..subsets import PlanSampler


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
class DynamicPruningSampler(PlanSampler):
    """Serve the current epoch's plan (mmcls 0.x's ``sampler`` config key):
    this rank's strided share of it, padded to equal shares and against a
    last batch of one (:class:`~mmcls_geda.subsets.PlanSampler`).

    ``DynamicPruningHook`` (or ``GradNormHook`` with a budget schedule)
    sets each epoch's plan; until then the length is the whole dataset's
    and iterating is an error that names the missing hook.

    Args:
        dataset: The training set (built by mmcls's ``build_dataloader``).
        num_replicas (int): World size.
        rank (int): This process's rank.
        seed (int, optional): Unused: the hook's seed orders each plan.
        shuffle (bool): Must be True (training).
    """

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
        super().__init__(
            dataset, num_replicas, rank,
            "add dict(type='DynamicPruningHook', priority='HIGHEST') to "
            'custom_hooks (or use mmcls_geda.apply_pruning)')
