"""``EpochPlanSampler``: the training sampler of every ``GradNormHook``
run, through mmcls 0.x's ``sampler`` config key (``apply_geda`` and
``apply_pruning`` write it).

``GradNormHook`` decides each epoch which samples are served, in which
order and with what loss weights; the ``GEDASubsetDataset`` holds them
(tagging ``sample_idx`` and ``sample_weight``) and this sampler serves
this rank's share of the epoch's positions
(:class:`~mmcls_geda.subsets.PlanSampler`, shared with mmpretrain 1.x):

- an epoch whose length varies (a budget schedule, dynamic pruning): the
  hook's plan, in the hook's seeded order (or the pruning rule's);
- an epoch of the wrapper's fixed length (a static subset, warm-up,
  re-selection, a ``then`` phase, a ``selection_file``, a per-epoch method
  at the constant budget): the order of the sampler mmcls's
  ``build_dataloader`` builds without the ``sampler`` key, that very
  sampler, drawn when it draws: torch's ``RandomSampler`` (not
  distributed), or mmcls's ``DistributedSampler`` with the config's seed
  and the epoch (``DistSamplerSeedHook`` sets it through
  :meth:`EpochPlanSampler.set_epoch`). The served order is the one a
  config without the key gets, bit for bit.
"""
from typing import Optional

import torch.distributed as dist
from mmcls.datasets.builder import SAMPLERS, build_sampler
from torch.utils.data import RandomSampler, Sampler

from ..subsets import PlanSampler


def default_sampler(dataset, num_replicas: int, rank: int,
                    seed: Optional[int]) -> Sampler:
    """The training sampler mmcls's ``build_dataloader`` builds when the
    config has no ``sampler`` key, built as it builds it.

    mmcls's ``train_model`` builds loaders with ``dist=True`` exactly when
    it trains distributed, which is when ``torch.distributed`` is
    initialised (a launcher); a custom sampler is not told ``dist``, so
    this reads the process group: initialised, mmcls's
    ``DistributedSampler`` (``round_up=True``, ``train_model``'s, and the
    seed, synchronised from rank 0 now as there); otherwise the
    ``RandomSampler`` that ``DataLoader(shuffle=True)`` makes.
    """
    if dist.is_available() and dist.is_initialized():
        return build_sampler(
            dict(
                type='DistributedSampler',
                dataset=dataset,
                num_replicas=num_replicas,
                rank=rank,
                shuffle=True,
                round_up=True,
                seed=seed))
    return RandomSampler(dataset)


@SAMPLERS.register_module()
class EpochPlanSampler(PlanSampler):
    """Serve the current epoch's plan: this rank's strided share of it,
    padded to equal shares and against a last batch of one
    (:class:`~mmcls_geda.subsets.PlanSampler`); a fixed-length epoch in
    the order of mmcls's default sampler (:func:`default_sampler`).

    ``GradNormHook`` sets each epoch's plan (or the default order); until
    then the length is the whole dataset's and iterating is an error that
    names the missing hook. ``DynamicPruningSampler``, the name configs
    written before 2026-12-07 use, is this class too.

    Args:
        dataset: The training set (built by mmcls's ``build_dataloader``).
        num_replicas (int): World size.
        rank (int): This process's rank.
        seed (int, optional): The config's seed, for the default sampler
            when distributed (the hook's seed orders each plan).
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
        missing_hook = ("add dict(type='GradNormHook', priority='HIGHEST') "
                        'to custom_hooks (apply_geda and apply_pruning do)')
        super().__init__(
            dataset,
            num_replicas,
            rank,
            missing_hook,
            default=default_sampler(dataset, num_replicas, rank, seed))

    def set_epoch(self, epoch: int) -> None:
        """The epoch about to run (mmcv's ``DistSamplerSeedHook`` calls
        it when distributed): the default sampler's seed for it."""
        if hasattr(self.default, 'set_epoch'):
            self.default.set_epoch(epoch)


# the name budget-schedule configs written before 2026-12-07 use
SAMPLERS.register_module('DynamicPruningSampler', module=EpochPlanSampler)
