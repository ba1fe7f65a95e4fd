"""``GEDASubsetDataset``: a fixed-length view of a selected training subset."""
import copy
from typing import Any, Iterator, Optional, Sequence, Union

import numpy as np
import torch
from mmcls.datasets import (DATASETS, ConcatDataset, RepeatDataset,
                            build_dataset)

from ..selection import Selection, check_fraction, class_budgets, record


@DATASETS.register_module()
class GEDASubsetDataset:
    """Serve a subset of a dataset, chosen before training by a hook.

    The subset's size is fixed at construction: per-class budgets
    ``k_c`` of ``fraction`` (see
    :func:`mmcls_geda.selection.class_budgets`), so the sampler, the
    runner's ``max_iters`` and the learning-rate schedule see the right
    length from the start. It serves nothing until
    :class:`~mmcls_geda.GradNormHook` (or :meth:`set_indices`, or a
    ``selection_file``) gives it a selection: training on an unselected
    wrapper is an error that names the missing hook. The indices (and
    optional per-sample weights) live in shared memory, so data-loader
    workers, persistent ones too, see every change made in the main
    process.

    Args:
        dataset (dict | Dataset): The dataset to wrap, as a config (built
            here with ``default_args``) or built.
        fraction (float): Fraction of the data to keep, in (0, 1].
        selection_file (str, optional): A saved selection
            (``geda_selection.json``) to serve from the start; the hook then
            reuses it instead of selecting. Its fingerprint (length and
            labels hash) must match this dataset.
        **default_args: Passed on to ``build_dataset`` for a dataset config
            (e.g. ``test_mode``).
    """

    def __init__(self,
                 dataset: Union[dict, Any],
                 fraction: float,
                 selection_file: Optional[str] = None,
                 **default_args):
        self.fraction = check_fraction(fraction)
        self.dataset_cfg = copy.deepcopy(dataset) if isinstance(dataset,
                                                                dict) else None
        if isinstance(dataset, dict):
            dataset = build_dataset(dataset, default_args or None)
        self.dataset = dataset
        self.CLASSES = getattr(dataset, 'CLASSES', None)
        if not hasattr(dataset, 'get_gt_labels'):
            raise TypeError(
                f'GEDASubsetDataset needs a labelled dataset with '
                f'get_gt_labels(); {type(dataset).__name__} has none')
        labels = np.asarray(dataset.get_gt_labels())
        if labels.size != len(dataset) or labels.size == 0:
            raise ValueError(
                f'{type(dataset).__name__} returned {labels.size} labels '
                f'for {len(dataset)} samples: every sample needs a label')
        self.full_labels = labels.astype(np.int64)
        self.fingerprint = record.labels_fingerprint(self.full_labels)
        _, sizes = np.unique(self.full_labels, return_counts=True)
        size = int(class_budgets(sizes, self.fraction).sum())
        self._indices = torch.zeros(size, dtype=torch.int64).share_memory_()
        self._weights = torch.ones(size, dtype=torch.float32).share_memory_()
        # [has a selection, items carry 'sample_weight', items carry
        # 'sample_idx'], shared with the workers too
        self._state = torch.zeros(3, dtype=torch.bool).share_memory_()
        self.selection: Optional[Selection] = None
        self.selection_file = selection_file
        if selection_file is not None:
            self.load_selection(selection_file)

    # --- the subset ----------------------------------------------------------

    @property
    def indices(self) -> np.ndarray:
        """Indices into the wrapped dataset, in serving order."""
        return self._indices.numpy()

    @property
    def weights(self) -> np.ndarray:
        """Per-sample weights (1 unless a weighted method set them)."""
        return self._weights.numpy()

    def set_indices(self,
                    indices: Sequence[int],
                    weights: Optional[Sequence[float]] = None) -> None:
        """Serve ``indices`` (and ``weights``) from now on, in place.

        Raises:
            ValueError: If the length differs from ``len(self)``, an index
                repeats or lies outside the wrapped dataset.
        """
        indices = np.asarray(indices)
        n = len(self.dataset)
        if indices.ndim != 1 or indices.size != len(self):
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
        self._indices.copy_(torch.from_numpy(indices.astype(np.int64)))
        self._weights.copy_(torch.from_numpy(weights))
        self._state[0] = True
        self._state[1] = weighted

    def serve_sample_idx(self, on: bool = True) -> None:
        """Add each item's dataset index as ``sample_idx``, so that a
        ``WeightedImageClassifier`` records its training loss (GEDA
        rotation re-folds on them)."""
        self._state[2] = bool(on)

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

    # --- the mmcls dataset interface -----------------------------------------

    def __len__(self) -> int:
        return int(self._indices.numel())

    def __getitem__(self, idx: int) -> dict:
        if not self._state[0]:
            raise RuntimeError(
                'GEDASubsetDataset has no selection yet: add '
                "dict(type='GradNormHook', priority='HIGHEST') to "
                'custom_hooks (a config that reassigns custom_hooks drops '
                'it), or give the wrapper a selection_file')
        results = self.dataset[int(self._indices[idx])]
        if self._state[1]:
            results['sample_weight'] = float(self._weights[idx])
        if self._state[2]:
            results['sample_idx'] = int(self._indices[idx])
        return results

    def get_gt_labels(self) -> np.ndarray:
        return self.full_labels[self.indices]

    def get_cat_ids(self, idx: int):
        return self.dataset.get_cat_ids(int(self._indices[idx]))

    def evaluate(self, *args, **kwargs):
        """Evaluate results on the subset (``indices`` passed on)."""
        kwargs['indices'] = self.indices
        return self.dataset.evaluate(*args, **kwargs)

    def __repr__(self) -> str:
        state = ('no selection yet' if self.selection is None else
                 f'{self.selection.method} selection')
        return (f'{type(self).__name__}(fraction={self.fraction}, '
                f'size={len(self)}/{len(self.dataset)}, {state}, '
                f'dataset={type(self.dataset).__name__})')


def _wrappers(dataset, any_outer: bool = False) -> Iterator[GEDASubsetDataset]:
    """The GEDASubsetDatasets in ``dataset``, looking through
    RepeatDataset and ConcatDataset (``any_outer``: through any wrapper
    with a ``.dataset``)."""
    if isinstance(dataset, GEDASubsetDataset):
        yield dataset
    elif isinstance(dataset,
                    RepeatDataset) or (any_outer
                                       and hasattr(dataset, 'dataset')):
        yield from _wrappers(dataset.dataset, any_outer)
    elif isinstance(dataset, ConcatDataset):
        for part in dataset.datasets:
            yield from _wrappers(part, any_outer)


def find_wrapper(dataset) -> GEDASubsetDataset:
    """The GEDASubsetDataset in the training set: the set itself, or the
    one inside a ``RepeatDataset`` / ``ConcatDataset``."""
    found = list(_wrappers(dataset))
    if not found and hasattr(dataset, 'dataset'):
        # e.g. DynamicPruningDataset around it: two ways to choose the data
        hidden = list(_wrappers(dataset, any_outer=True))
        if hidden:
            raise TypeError(
                f'the training data is a {type(dataset).__name__} around a '
                'GEDASubsetDataset: it chooses the samples of every epoch '
                'itself, so GradNormHook\'s subset would not be what is '
                'trained on. Use one of them: apply_geda or apply_pruning '
                'on a config without the other')
    if len(found) != 1:
        raise TypeError(
            'GradNormHook needs exactly one GEDASubsetDataset in the training '
            "data (data.train = dict(type='GEDASubsetDataset', fraction=..., "
            'dataset=...), optionally inside RepeatDataset/ConcatDataset); '
            f'the training loader holds {type(dataset).__name__} with '
            f'{len(found)}')
    return found[0]
