"""``EpochPlanSampler``: the training sampler of every epoch whose length
varies (a budget schedule, dynamic pruning), through mmcls 0.x's
``sampler`` config key.

``GradNormHook`` decides each epoch which samples are served, in which
order and with what loss weights; the ``GEDASubsetDataset`` holds them
(resized every epoch, tagging ``sample_idx`` and ``sample_weight``) and
this sampler serves this rank's share of the epoch's positions
(:class:`~mmcls_geda.subsets.PlanSampler`, shared with mmpretrain 1.x).
"""
from typing import Optional

from mmcls.datasets.builder import SAMPLERS

from ..subsets import PlanSampler


@SAMPLERS.register_module()
class EpochPlanSampler(PlanSampler):
    """Serve the current epoch's plan: this rank's strided share of it,
    padded to equal shares and against a last batch of one
    (:class:`~mmcls_geda.subsets.PlanSampler`).

    ``GradNormHook`` sets each epoch's plan; until then the length is the
    whole dataset's and iterating is an error that names the missing hook.
    ``DynamicPruningSampler``, the name configs written before 2026-12-07
    use, is this class too.

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
            raise ValueError(f'{type(self).__name__} serves training epochs '
                             '(shuffle=True); evaluation loaders take the '
                             'default sampler')
        super().__init__(
            dataset, num_replicas, rank,
            "add dict(type='GradNormHook', priority='HIGHEST') to "
            'custom_hooks (apply_geda and apply_pruning do)')


# the name budget-schedule configs written before 2026-12-07 use
SAMPLERS.register_module('DynamicPruningSampler', module=EpochPlanSampler)
