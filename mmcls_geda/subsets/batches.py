"""No training batch of one sample where the plugin decides an epoch's
length.

Batch normalisation cannot train on a batch of one (``Expected more than 1
value per channel when training``), and a rank's last batch holds one
sample whenever its share of the epoch is ``k * batch_size + 1``. Where
that would happen, the share is padded with one more sample, a repeat of
the first sample the rank serves in the epoch (the epochs are shuffled, so
it is a uniformly random one): the last batch then holds two samples, and
the epoch keeps its number of iterations (so the runner's ``max_iters``
and every learning-rate schedule are unchanged). See ``docs/pruning.md``.
"""
from typing import Iterator

from torch.utils.data import Sampler


def no_lone_share(share: int, batch_size: int, drop_last: bool) -> int:
    """The samples a rank serves of a share of ``share``: one more when its
    last batch would otherwise hold a single sample.

    Args:
        share: The rank's samples in the epoch.
        batch_size: The loader's batch size (per rank).
        drop_last: Whether the loader drops an incomplete last batch (then
            nothing is padded: the batch of one is dropped).

    Returns:
        int: ``share + 1`` if ``share % batch_size == 1`` (batches of at
        least 2, ``drop_last`` off), else ``share``.
    """
    share, batch_size = int(share), int(batch_size)
    if drop_last or batch_size < 2 or share % batch_size != 1:
        return share
    return share + 1


class PaddedSampler(Sampler):
    """``sampler``'s indices, then its first ``extra`` ones again.

    Args:
        sampler: The loader's sampler (``len`` and iteration are its own,
            plus ``extra``; ``set_epoch`` reaches it through the loader).
        extra: How many of the first indices are served again.
    """

    def __init__(self, sampler, extra: int):
        self.sampler, self.extra = sampler, int(extra)

    def __len__(self) -> int:
        return len(self.sampler) + self.extra

    def __iter__(self) -> Iterator[int]:
        first = []
        for index in self.sampler:
            if len(first) < self.extra:
                first.append(index)
            yield index
        yield from first


def pad_lone_batch(loader) -> int:
    """Pad a training loader's epochs so that no batch holds one sample.

    The loader's batch sampler then draws from a :class:`PaddedSampler`
    around its sampler (torch refuses to replace the loader's own
    sampler); its length, its iterations and every other index are
    unchanged. Does nothing twice.

    Args:
        loader: A ``DataLoader`` with a batch sampler.

    Returns:
        int: The samples added per epoch on this rank (0 or 1).
    """
    batches = loader.batch_sampler
    if batches is None or isinstance(batches.sampler, PaddedSampler) or \
            getattr(batches.sampler, 'pads_lone_batches', False):
        return 0  # done, or a sampler that pads each epoch's plan itself
    share = len(batches.sampler)
    extra = no_lone_share(share, batches.batch_size, batches.drop_last) - share
    if extra:
        batches.sampler = PaddedSampler(batches.sampler, extra)
    return extra
