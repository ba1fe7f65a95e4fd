"""A sampler that serves each epoch's plan: the stack-free core of both
stacks' samplers (torch and numpy; no engine).

A hook decides before every epoch which positions of the training set are
served, in which order (dynamic pruning, a budget schedule): the epoch's
length varies. :class:`PlanSampler` serves this rank's strided share of
that plan, padded to equal shares and against a last batch of one sample.
mmcls 0.x registers it as ``EpochPlanSampler`` (``SAMPLERS``; also under
its older name ``DynamicPruningSampler``), mmpretrain 1.x / mmengine in
``DATA_SAMPLERS``.
"""
import math
from typing import Iterator, Optional

import numpy as np
from torch.utils.data import Sampler

from .batches import no_lone_share


class PlanSampler(Sampler):
    """Serve the current epoch's plan: this rank's strided share of it.

    Until a hook sets a plan, the length is the whole dataset's (the
    runner reads it before training) and iterating is an error that names
    the missing hook. Shares are padded by wrapping around, so that every
    rank runs the same number of iterations. Once the hook has told it the
    loader's batching (:meth:`set_batching`), a share whose last batch
    would hold one sample (batch normalisation cannot train on it) is
    padded with one more: the rank's first sample of the epoch, again (see
    :mod:`mmcls_geda.subsets.batches`).

    Args:
        dataset: The training set.
        num_replicas (int): World size.
        rank (int): This process's rank.
        missing_hook (str): What sets the plan, for the error when none
            was set.
    """

    # each epoch's plan is padded here (``pad_lone_batch`` leaves it alone)
    pads_lone_batches = True

    def __init__(self, dataset, num_replicas: int, rank: int,
                 missing_hook: str):
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.missing_hook = missing_hook
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
                f'{type(self).__name__} has no plan: {self.missing_hook}')
        equal = -(-self.plan.size // self.num_replicas)
        padded = np.resize(self.plan, equal * self.num_replicas)
        own = padded[self.rank::self.num_replicas].tolist()
        # against a last batch of one: the rank's first sample, again
        return iter(own + own[:len(self) - equal])


def epoch_iterations(loader, total: float) -> float:
    """Iterations ``loader`` (with a :class:`PlanSampler`) runs for a plan
    of ``total`` samples: the one place of this rounding.

    A fractional ``total`` (an expected epoch length) is rounded up.
    """
    per_rank = loader.sampler.share(math.ceil(total))
    batch = loader.batch_sampler.batch_size
    if loader.batch_sampler.drop_last:
        return per_rank // batch
    return -(-per_rank // batch)


def progress_iterations(reference_iters: int, epoch: int, inner_iter: int,
                        epoch_iters: int) -> float:
    """Iterations of the reference run (epochs of ``reference_iters``) at
    the end of iteration ``inner_iter`` of ``epoch``, an epoch of
    ``epoch_iters``: the same epoch progress, ``reference_iters * (epoch
    + (inner_iter + 1) / epoch_iters)`` (the last iteration of an epoch
    ends where the reference run's epoch ends). The one place of this
    arithmetic, for both stacks' schedules by epoch progress."""
    return reference_iters * (epoch + (inner_iter + 1) / epoch_iters)


# the seed stream of a varying epoch's serving order
_ORDER_STREAM = 2_000_081


def serve_epoch_plan(wrapper, sampler: PlanSampler, choice, seed: int,
                     epoch: int, batch_size: int, drop_last: bool) -> int:
    """Serve an epoch of its own length (a budget schedule, pruning): the
    wrapper (a :class:`~mmcls_geda.subsets.SharedSubset`) resized to the
    choice's indices (and loss weights), the sampler serving them in the
    rule's order (``choice.ordered``) or in an order seeded by ``seed`` and
    ``epoch`` (the same on every rank, after a resume and on both stacks).

    Args:
        wrapper: The training set's subset wrapper.
        sampler: The training loader's sampler.
        choice: The epoch's :class:`~mmcls_geda.selection.epoch_rules.
            EpochChoice` (``indices``, ``weights``, ``ordered``).
        seed: The hook's seed.
        epoch: The epoch served.
        batch_size: The loader's batch size.
        drop_last: The loader's ``drop_last``.

    Returns:
        int: Samples served twice in the epoch (all ranks): equal rank
        shares, no batch of one.
    """
    indices = np.asarray(choice.indices)
    wrapper.set_indices(indices, choice.weights, resize=True)
    sampler.set_batching(batch_size, drop_last)
    if choice.ordered:  # the wrapper holds them in the rule's order
        sampler.set_plan(np.arange(indices.size))
    else:
        order = np.random.default_rng([seed, _ORDER_STREAM, epoch])
        sampler.set_plan(order.permutation(indices.size))
    return sampler.share(indices.size) * sampler.num_replicas - int(
        indices.size)
