"""A sampler that serves each epoch's plan: the stack-free core of both
stacks' samplers (torch and numpy; no engine).

A hook decides before every epoch which positions of the training set are
served, in which order (dynamic pruning, a budget schedule): the epoch's
length varies. :class:`PlanSampler` serves this rank's strided share of
that plan, padded to equal shares and against a last batch of one sample.
An epoch of the wrapper's fixed length (a static subset, warm-up,
re-selection, a saved selection, a per-epoch method at a constant budget)
is served in the order of the sampler the engine would have used without
this one (its ``default``, e.g. torch's ``RandomSampler``), drawn as that
sampler draws it: the same order, bit for bit, as a config without the
``sampler`` key.
mmcls 0.x registers it as ``EpochPlanSampler`` (``SAMPLERS``; also under
its older name ``DynamicPruningSampler``), mmpretrain 1.x / mmengine in
``DATA_SAMPLERS``.
"""
import math
from typing import Iterator, Optional

import numpy as np
from torch.utils.data import Sampler

from .batches import PaddedSampler, no_lone_share, pad_lone_batch


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

    A fixed-length epoch (:meth:`serve_default`) is instead served by
    ``default``, the sampler the engine's loader would have had: its
    order, drawn when it draws it (torch's ``RandomSampler`` draws its
    seed at the epoch's first batch), padded the same way.

    Args:
        dataset: The training set.
        num_replicas (int): World size.
        rank (int): This process's rank.
        missing_hook (str): What sets the plan, for the error when none
            was set.
        default (Sampler, optional): The engine's default training sampler
            over ``dataset``, for fixed-length epochs; None: every epoch
            needs a plan.
    """

    # each epoch's plan is padded here (``pad_lone_batch`` leaves it alone)
    pads_lone_batches = True

    def __init__(self,
                 dataset,
                 num_replicas: int,
                 rank: int,
                 missing_hook: str,
                 default: Optional[Sampler] = None):
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.missing_hook = missing_hook
        self.default = default
        self.plan: Optional[np.ndarray] = None
        # this epoch is the dataset's fixed length, in ``default``'s order
        self.serves_default = False
        self.batch_size, self.drop_last = 1, False

    def set_batching(self, batch_size: int, drop_last: bool) -> None:
        """The loader's batch size and ``drop_last``: a share is padded
        so that its last batch never holds a single sample."""
        self.batch_size, self.drop_last = int(batch_size), bool(drop_last)

    def set_plan(self, indices: np.ndarray) -> None:
        """The epoch's dataset indices, in order, the same on every rank."""
        self.plan = np.asarray(indices, dtype=np.int64)
        self.serves_default = False

    def serve_default(self, batch_size: int, drop_last: bool) -> None:
        """Serve the coming epochs, of the dataset's fixed length, in the
        order of ``default`` (the engine's own sampler), padded against a
        last batch of one.

        Raises:
            RuntimeError: If this sampler was built without a default.
        """
        if self.default is None:
            raise RuntimeError(
                f'{type(self).__name__} has no default sampler: every '
                'epoch needs a plan (set_plan)')
        self.set_batching(batch_size, drop_last)
        self.plan, self.serves_default = None, True

    def share(self, total: int) -> int:
        """Samples each rank serves of a plan of ``total`` (padded to
        equal shares, and against a last batch of one)."""
        return no_lone_share(-(-int(total) // self.num_replicas),
                             self.batch_size, self.drop_last)

    def __len__(self) -> int:
        if self.serves_default:
            return no_lone_share(
                len(self.default), self.batch_size, self.drop_last)
        return self.share(
            len(self.dataset) if self.plan is None else self.plan.size)

    def __iter__(self) -> Iterator[int]:
        if self.serves_default:
            # lazily: ``default`` draws its order when it would have
            return iter(
                PaddedSampler(self.default,
                              len(self) - len(self.default)))
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


def serve_fixed_epoch(loader) -> int:
    """Serve an epoch of the wrapper's fixed length (a static subset,
    warm-up, re-selection, a saved selection, a per-epoch method at the
    constant budget) in the order of the engine's default sampler.

    A :class:`PlanSampler` with a default serves it
    (:meth:`PlanSampler.serve_default`); a loader with another sampler (a
    config without the ``sampler`` key) keeps it, padded against a batch
    of one by :func:`~mmcls_geda.subsets.batches.pad_lone_batch`. Both
    serve the same order.

    Args:
        loader: The training loader.

    Returns:
        int: Samples served twice this epoch on this rank, against a last
        batch of one (0 or 1; a loader padded by ``pad_lone_batch``
        reports it on its first epoch only).
    """
    sampler = loader.sampler
    if not isinstance(sampler, PlanSampler):
        return pad_lone_batch(loader)
    sampler.serve_default(loader.batch_sampler.batch_size,
                          loader.batch_sampler.drop_last)
    return len(sampler) - len(sampler.default)


def serve_epoch_plan(wrapper, sampler: PlanSampler, choice, order: np.ndarray,
                     batch_size: int, drop_last: bool) -> int:
    """Serve an epoch of its own length (a budget schedule, pruning): the
    wrapper (a :class:`~mmcls_geda.subsets.SharedSubset`) resized to the
    choice's indices (and loss weights), the sampler serving them in
    ``order`` (:meth:`~mmcls_geda.apis.epoch_serving.EpochServing.order`:
    the rule's, or seeded by the hook's seed and the epoch; the same on
    every rank, after a resume and on both stacks).

    Args:
        wrapper: The training set's subset wrapper.
        sampler: The training loader's sampler.
        choice: The epoch's :class:`~mmcls_geda.selection.epoch_rules.
            EpochChoice` (``indices``, ``weights``, ``ordered``).
        order: Positions into ``choice.indices``, in serving order.
        batch_size: The loader's batch size.
        drop_last: The loader's ``drop_last``.

    Returns:
        int: Samples served twice in the epoch (all ranks): equal rank
        shares, no batch of one.
    """
    indices = np.asarray(choice.indices)
    wrapper.set_indices(indices, choice.weights, resize=True)
    sampler.set_batching(batch_size, drop_last)
    sampler.set_plan(order)
    return sampler.share(indices.size) * sampler.num_replicas - int(
        indices.size)
