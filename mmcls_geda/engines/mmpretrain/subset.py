"""``GEDASubsetDataset`` for mmpretrain 1.x: serve a fixed, selected subset.

A subset of a fixed size: the selection comes from a saved selection
(``selection_file``: a record written by either stack, see
:mod:`mmcls_geda.selection.record`), from ``GradNormHook`` before the first
epoch or before every epoch (a per-epoch method,
:mod:`mmcls_geda.engines.mmpretrain.hook`) or from
:meth:`set_selection` / :meth:`set_indices` before the training loader
iterates. A weighted selection puts each item's weight into its data
sample's ``metainfo['sample_weight']``, which
:class:`~mmcls_geda.engines.mmpretrain.model.WeightedImageClassifier`
applies to its loss; :meth:`serve_sample_idx` puts the index into the
wrapped dataset into ``metainfo['sample_idx']`` (the losses it records are
keyed by it). The state (size, shared-memory indices,
checks, saved selections) is :class:`~mmcls_geda.subsets.SharedSubset`'s,
shared with the mmcls 0.x wrapper.
"""
import copy
from typing import Any, List, Optional, Union

import numpy as np
from mmpretrain.registry import DATASETS

from ...selection import check_fraction
from ...subsets import SharedSubset


@DATASETS.register_module()
class GEDASubsetDataset(SharedSubset):
    """Serve a subset of an mmengine dataset, of a size fixed at
    construction (the per-class budgets of ``fraction``).

    Args:
        dataset (dict | BaseDataset): The dataset to wrap, as a config
            (built from mmpretrain's ``DATASETS``) or built; it needs
            ``get_gt_labels()``. It is fully initialised here: the subset's
            size depends on its labels.
        fraction (float): Fraction of the data to keep, in (0, 1].
        selection_file (str, optional): A saved, unweighted selection to
            serve from the start. Its fingerprint (length and labels hash)
            and fraction must match.

    Items are the wrapped dataset's (its pipeline's output: ``inputs``
    and ``data_samples``); mmengine's datasets put each item's index into
    that dataset in the data sample's ``sample_idx``. A weighted selection
    adds ``sample_weight`` to the data sample's metainfo, and
    :meth:`serve_sample_idx` sets ``sample_idx`` there whatever the
    pipeline kept.
    """

    def __init__(self,
                 dataset: Union[dict, Any],
                 fraction: float,
                 selection_file: Optional[str] = None):
        check_fraction(fraction)
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        if not hasattr(dataset, 'get_gt_labels'):
            raise TypeError(
                f'GEDASubsetDataset needs a labelled dataset with '
                f'get_gt_labels(); {type(dataset).__name__} has none')
        if hasattr(dataset, 'full_init'):
            dataset.full_init()
        self.dataset = dataset
        self._metainfo = getattr(dataset, 'metainfo', {})
        super().__init__(dataset.get_gt_labels(), len(dataset), fraction,
                         type(dataset).__name__, selection_file)

    def _no_selection_message(self) -> str:
        return ('GEDASubsetDataset has no selection yet: on mmpretrain 1.x '
                'give it a selection_file, add '
                "custom_hooks=[dict(type='GradNormHook', ...)], or call "
                'set_selection before training')

    # --- the mmengine dataset interface --------------------------------------

    @property
    def metainfo(self) -> dict:
        """The wrapped dataset's meta information (``classes``, ...)."""
        return copy.deepcopy(self._metainfo)

    def full_init(self) -> None:
        """Nothing to do: the wrapped dataset was initialised at
        construction."""

    def get_data_info(self, idx: int) -> dict:
        index, _, _ = self.served(idx)
        return self.dataset.get_data_info(index)

    def __getitem__(self, idx: int) -> dict:
        index, weight, with_idx = self.served(idx)
        item = self.dataset[index]
        if weight is None and not with_idx:
            return item
        sample = item.get('data_samples') if isinstance(item, dict) else None
        if sample is None or not hasattr(sample, 'set_metainfo'):
            got = (f'keys {sorted(item)}'
                   if isinstance(item, dict) else type(item).__name__)
            raise TypeError(
                'GEDASubsetDataset puts sample_weight / sample_idx into each '
                "item's data sample, so the pipeline must end in PackInputs "
                f"(an item dict with 'data_samples'); got {got}")
        tags = dict(sample_idx=index) if with_idx else {}
        if weight is not None:
            tags['sample_weight'] = weight
        sample.set_metainfo(tags)
        return item

    def get_gt_labels(self) -> np.ndarray:
        return self.full_labels[self.indices]

    def get_cat_ids(self, idx: int) -> List[int]:
        return self.dataset.get_cat_ids(int(self._indices[idx]))

    def __repr__(self) -> str:
        state = (
            'no selection yet' if not self.has_selection else 'selection of ' +
            (self.selection.method if self.selection else 'given indices'))
        return (f'{type(self).__name__}(fraction={self.fraction}, '
                f'size={len(self)}/{len(self.dataset)}, {state}, '
                f'dataset={type(self.dataset).__name__})')
