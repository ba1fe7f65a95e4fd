"""``GEDASubsetDataset``: a fixed-length view of a selected training subset."""
import copy
from typing import Any, Iterator, Optional, Union

import numpy as np
from mmcls.datasets import (DATASETS, ConcatDataset, RepeatDataset,
                            build_dataset)

from ..selection import check_fraction
from ..subsets import SharedSubset


@DATASETS.register_module()
class GEDASubsetDataset(SharedSubset):
    """Serve a subset of a dataset, chosen before training by a hook.

    The subset's size is fixed at construction: per-class budgets
    ``k_c`` of ``fraction`` (see
    :func:`mmcls_geda.selection.class_budgets`), so the sampler, the
    runner's ``max_iters`` and the learning-rate schedule see the right
    length from the start. A budget schedule or a pruning rule (with
    ``fraction=1.0``) changes it every epoch (:meth:`set_indices` with
    ``resize=True``, with the epoch's loss weights for pruning). The
    training loader's :class:`~mmcls_geda.datasets.EpochPlanSampler`
    (``sampler`` in the config) serves every epoch: a resized one in the
    hook's order, one of the fixed length in the order of mmcls's default
    sampler (which serves it, in the same order, in a config without the
    ``sampler`` key). It serves nothing until
    :class:`~mmcls_geda.GradNormHook` (or :meth:`set_indices`, or a
    ``selection_file``) gives it a selection: training on an unselected
    wrapper is an error that names the missing hook. The indices (and
    optional per-sample weights) live in shared memory, so data-loader
    workers, persistent ones too, see every change made in the main
    process (:class:`~mmcls_geda.subsets.SharedSubset`, shared with the
    mmpretrain 1.x wrapper).

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
        check_fraction(fraction)
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
        super().__init__(dataset.get_gt_labels(), len(dataset), fraction,
                         type(dataset).__name__, selection_file)

    def serve_sample_idx(self, on: bool = True) -> None:
        """Add each item's dataset index as ``sample_idx``, so that a
        ``WeightedImageClassifier`` records its training loss (GEDA
        rotation re-folds on them)."""
        super().serve_sample_idx(on)

    def _no_selection_message(self) -> str:
        return ('GEDASubsetDataset has no selection yet: add '
                "dict(type='GradNormHook', priority='HIGHEST') to "
                'custom_hooks (a config that reassigns custom_hooks drops '
                'it), or give the wrapper a selection_file')

    # --- the mmcls dataset interface -----------------------------------------

    def __getitem__(self, idx: int) -> dict:
        index, weight, with_idx = self.served(idx)
        results = self.dataset[index]
        if weight is not None:
            results['sample_weight'] = weight
        if with_idx:
            results['sample_idx'] = index
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
        # e.g. ClassBalancedDataset around it: two ways to choose the data
        hidden = list(_wrappers(dataset, any_outer=True))
        if hidden:
            raise TypeError(
                f'the training data is a {type(dataset).__name__} around a '
                'GEDASubsetDataset: it chooses the samples of every epoch '
                'itself, so GradNormHook\'s subset would not be what is '
                'trained on. Train the GEDASubsetDataset itself (inside '
                'RepeatDataset / ConcatDataset at most)')
    if len(found) != 1:
        raise TypeError(
            'GradNormHook needs exactly one GEDASubsetDataset in the training '
            "data (data.train = dict(type='GEDASubsetDataset', fraction=..., "
            'dataset=...), optionally inside RepeatDataset/ConcatDataset); '
            f'the training loader holds {type(dataset).__name__} with '
            f'{len(found)}')
    return found[0]
