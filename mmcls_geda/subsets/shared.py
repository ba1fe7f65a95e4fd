"""``SharedSubset``: which samples a fixed-length subset serves, in shared
memory.

The engine-free half of ``GEDASubsetDataset`` (mmcls 0.x in
:mod:`mmcls_geda.datasets.subset`, mmpretrain 1.x in
:mod:`mmcls_geda.engines.mmpretrain.subset`): the subset's size from the
per-class budgets, the indices and per-sample weights in shared memory (so
that data-loader workers, persistent ones too, see every change made in the
main process), their checks, and the saved selections it serves. Each
engine's wrapper adds how the inner dataset is built and what an item looks
like.
"""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

from ..selection import Selection, check_fraction, class_budgets, record


class SharedSubset:
    """Indices (and weights) into a labelled dataset, in shared memory.

    Args:
        labels: The wrapped dataset's label of every sample.
        num_samples: The wrapped dataset's length.
        fraction: Fraction of the data to keep, in (0, 1]; the size is
            fixed here (per-class budgets, see
            :func:`mmcls_geda.selection.class_budgets`).
        owner: The wrapped dataset's class name, for the messages.
        selection_file: A saved selection to serve from the start.
    """

    def __init__(self,
                 labels: Sequence[int],
                 num_samples: int,
                 fraction: float,
                 owner: str,
                 selection_file: Optional[str] = None):
        self.fraction = check_fraction(fraction)
        labels = np.asarray(labels).reshape(-1)
        if labels.size != num_samples or labels.size == 0:
            raise ValueError(
                f'{owner} returned {labels.size} labels for {num_samples} '
                'samples: every sample needs a label')
        self.full_labels = labels.astype(np.int64)
        self.fingerprint = record.labels_fingerprint(self.full_labels)
        _, sizes = np.unique(self.full_labels, return_counts=True)
        size = int(class_budgets(sizes, self.fraction).sum())
        # room for every sample (a budget schedule's full epochs); the
        # current length is shared with the workers too
        self._indices = torch.zeros(
            labels.size, dtype=torch.int64).share_memory_()
        self._weights = torch.ones(
            labels.size, dtype=torch.float32).share_memory_()
        self._size = torch.tensor([size], dtype=torch.int64).share_memory_()
        # [has a selection, items carry 'sample_weight', items carry
        # 'sample_idx'], shared with the workers too
        self._state = torch.zeros(3, dtype=torch.bool).share_memory_()
        self.selection: Optional[Selection] = None
        self.selection_file = selection_file
        if selection_file is not None:
            self.load_selection(selection_file)

    @property
    def indices(self) -> np.ndarray:
        """Indices into the wrapped dataset, in serving order."""
        return self._indices[:len(self)].numpy()

    @property
    def weights(self) -> np.ndarray:
        """Per-sample weights (1 unless a weighted method set them)."""
        return self._weights[:len(self)].numpy()

    def set_indices(self,
                    indices: Sequence[int],
                    weights: Optional[Sequence[float]] = None,
                    resize: bool = False) -> None:
        """Serve ``indices`` (and ``weights``) from now on, in place.

        Args:
            indices: Indices into the wrapped dataset.
            weights: Their loss weights; None: unweighted.
            resize: Take a length other than ``len(self)`` (a budget
                schedule's epoch; the loader's sampler must follow it).

        Raises:
            ValueError: If the length differs from ``len(self)`` (without
                ``resize``), an index repeats or lies outside the wrapped
                dataset.
        """
        indices = np.asarray(indices)
        n = self.full_labels.size
        if indices.ndim != 1 or indices.size == 0 or (indices.size != len(self)
                                                      and not resize):
            raise ValueError(
                f'set_indices needs {len(self)} indices (the subset size '
                f'fixed at construction), got shape {indices.shape}')
        if indices.dtype.kind not in 'iu':
            raise ValueError(f'indices must be integers, got {indices.dtype}')
        if indices.min() < 0 or indices.max() >= n:
            raise ValueError(f'indices must lie in [0, {n}), got values in '
                             f'[{indices.min()}, {indices.max()}]')
        if np.unique(indices).size != indices.size:
            raise ValueError(f'indices must be unique, got '
                             f'{indices.size - np.unique(indices).size} '
                             'repeated')
        weighted = weights is not None
        if weights is None:
            weights = np.ones(indices.size)
        weights = np.asarray(weights, dtype=np.float32)
        if weights.shape != indices.shape or not np.all(
                np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError('weights must be finite, >= 0 and one per index')
        size = indices.size
        self._indices[:size].copy_(torch.from_numpy(indices.astype(np.int64)))
        self._weights[:size].copy_(torch.from_numpy(weights))
        self._size[0] = size
        self._state[0] = True
        self._state[1] = weighted

    def serve_sample_idx(self, on: bool = True) -> None:
        """Add each item's dataset index as ``sample_idx``."""
        self._state[2] = bool(on)

    @property
    def serves_weights(self) -> bool:
        """Whether the served subset carries per-sample weights."""
        return bool(self._state[1])

    @property
    def has_selection(self) -> bool:
        """Whether a selection (hook, file or :meth:`set_indices`) is set."""
        return bool(self._state[0])

    def set_selection(self,
                      selection: Selection,
                      weighted: bool = True) -> None:
        """Serve a :class:`Selection`: its indices, and its weights unless
        ``weighted`` is False or it has none."""
        self.set_indices(selection.indices,
                         selection.weights if weighted else None)
        self.selection = selection

    def load_selection(self,
                       path: str,
                       expected: Optional[dict] = None) -> Selection:
        """Serve a saved selection after checking it fits this dataset.

        Args:
            path: A selection record (see :mod:`mmcls_geda.selection.record`).
            expected: Settings the record must have been made with (e.g.
                ``dict(method='geda', scope='full')``); a mismatch is a
                ValueError that names both sides.

        Returns:
            Selection: What it serves.
        """
        saved = record.load_record(path)
        record.check_fits(saved, path, self.fingerprint, self.fraction)
        if expected:
            record.check_settings(saved, path, expected)
        selection = record.selection_of(saved)
        try:
            self.set_selection(selection, weighted=saved.get('weighted', True))
        except ValueError as error:  # e.g. a repeated index
            raise ValueError(f'selection file {path}: {error}') from None
        return selection

    def __len__(self) -> int:
        return int(self._size[0])

    def served(self, idx: int) -> Tuple[int, Optional[float], bool]:
        """Item ``idx``: ``(index into the wrapped dataset, its weight or
        None when unweighted, whether to add sample_idx)``.

        Raises:
            RuntimeError: Before any selection is set (the message is the
                wrapper's :meth:`_no_selection_message`).
        """
        if not self._state[0]:
            raise RuntimeError(self._no_selection_message())
        weight = float(self._weights[idx]) if self._state[1] else None
        return int(self._indices[idx]), weight, bool(self._state[2])

    def _no_selection_message(self) -> str:
        return (f'{type(self).__name__} has no selection yet: give it a '
                'selection_file or call set_selection')
