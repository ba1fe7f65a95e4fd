"""The one recorder of per-sample training losses (dynamic pruning, the
per-epoch methods that read losses), for both stacks: numpy and
``torch.distributed``, no engine. Each stack's hook hands it the model
without its (Distributed)DataParallel wrapper."""
from typing import List, Optional, Tuple

import numpy as np
import torch.distributed as dist


def _world_size() -> int:
    """The process group's size (1 outside one), as both engines count."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


class LossRecorder:
    """Every sample's last training loss over a run.

    A ``WeightedImageClassifier`` (mmcls 0.x: :mod:`mmcls_geda.models`;
    mmpretrain 1.x: :mod:`mmcls_geda.engines.mmpretrain.model`) records
    ``(sample_idx, loss)`` of each training iteration; :meth:`take` moves
    them here after the iteration, :meth:`end_epoch` gathers every rank's
    (in rank order, the same on every rank) and keeps the last loss of
    each sample.

    Args:
        served_by: What serves ``sample_idx`` to the model, for the
            message when nothing was recorded.

    Attributes:
        losses: Per sample, the last recorded loss (0 where ``seen`` is
            False).
        seen: Per sample, whether a loss was recorded.
    """

    def __init__(self, served_by: str):
        self.served_by = served_by
        self.losses: Optional[np.ndarray] = None
        self.seen: Optional[np.ndarray] = None
        self._batch: List[Tuple[np.ndarray, np.ndarray]] = []

    def start(self,
              n: int,
              losses: Optional[np.ndarray] = None,
              seen: Optional[np.ndarray] = None) -> None:
        """Begin with nothing recorded over ``n`` samples, or with the
        ``losses`` and ``seen`` of a saved state (a resumed run)."""
        self.losses = np.zeros(n) if losses is None else np.asarray(losses)
        self.seen = (
            np.zeros(n, bool) if seen is None else np.asarray(seen, bool))
        self._batch.clear()

    def start_from_last(self, last: np.ndarray) -> None:
        """Begin with the losses of :meth:`last` (NaN: none recorded)."""
        last = np.asarray(last, dtype=np.float64)
        seen = ~np.isnan(last)
        self.start(last.size, np.where(seen, last, 0.0), seen)

    def take(self, model) -> None:
        """Move the losses ``model`` (the runner's model without its
        (Distributed)DataParallel wrapper) recorded in this iteration
        here."""
        recorded = model.recorded_losses
        if recorded is None:
            raise RuntimeError(
                'no per-sample losses were recorded in this iteration: the '
                f'batches need sample_idx ({self.served_by}) and the model '
                'must be a WeightedImageClassifier')
        self._batch.append((recorded[0].numpy(), recorded[1].numpy()))
        model.recorded_losses = None

    def end_epoch(self) -> None:
        """Keep every rank's losses of the epoch (rank order: a sample
        served twice keeps the same loss on every rank)."""
        mine = (np.concatenate([i for i, _ in self._batch]),
                np.concatenate([v for _, v in self._batch]))
        self._batch.clear()
        world = _world_size()
        shares = [mine]
        if world > 1:
            shares = [None] * world
            dist.all_gather_object(shares, mine)
        for indices, values in shares:
            self.losses[indices] = values
            self.seen[indices] = True

    def last(self) -> np.ndarray:
        """Per sample, the last recorded loss, NaN where none was."""
        return np.where(self.seen, self.losses, np.nan)
