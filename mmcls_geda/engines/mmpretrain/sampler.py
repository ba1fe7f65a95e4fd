"""``EpochPlanSampler`` for mmpretrain 1.x / mmengine: serve each
epoch's plan, of the epoch's own length.

The sampler core is the stack-free :class:`~mmcls_geda.subsets.PlanSampler`
(this rank's strided share of the plan, padded to equal shares and against
a last batch of one), which mmcls 0.x registers under the same name; here
it is built by mmengine's ``Runner.build_dataloader`` from
``train_dataloader.sampler = dict(type='EpochPlanSampler')``.
"""
from typing import Optional

from mmengine.dist import get_dist_info
from mmpretrain.registry import DATA_SAMPLERS

from ...subsets import PlanSampler


@DATA_SAMPLERS.register_module()
class EpochPlanSampler(PlanSampler):
    """Serve the current epoch's plan (``train_dataloader.sampler``):
    this rank's strided share of it, padded to equal shares and against a
    last batch of one (:class:`~mmcls_geda.subsets.PlanSampler`).

    ``GradNormHook`` (a per-epoch method with a budget schedule, or a
    pruning method) sets each epoch's plan, in its order, before the
    epoch; until then the length is the whole dataset's (the one
    mmengine's loop and
    ``convert_to_iter_based`` schedules are built on) and iterating is an
    error that names the missing hook.

    Args:
        dataset: The training set (mmengine passes it).
        seed (int, optional): Unused: the hook's seed orders each plan
            (mmengine passes the run's seed).
        shuffle (bool): Must be True (training).
    """

    def __init__(self,
                 dataset,
                 seed: Optional[int] = None,
                 shuffle: bool = True):
        if not shuffle:
            raise ValueError('EpochPlanSampler serves training epochs '
                             '(shuffle=True); evaluation loaders take '
                             "mmengine's DefaultSampler")
        rank, world = get_dist_info()
        super().__init__(
            dataset, world, rank,
            "add dict(type='GradNormHook', priority='HIGHEST', ...) with a "
            'budget schedule or a pruning method to custom_hooks (or use '
            'mmcls_geda.apply_geda / apply_pruning)')
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The epoch about to run (mmengine's loops call it); the plan,
        set by the hook, already holds the epoch's order."""
        self.epoch = int(epoch)


# the mmcls 0.x sampler's older name, as mmcls 0.x keeps it
DATA_SAMPLERS.register_module('DynamicPruningSampler', module=EpochPlanSampler)
