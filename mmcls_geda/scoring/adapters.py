"""How an mmcls classifier's per-sample loss is reached (and a torch one's).

:func:`make_adapter` picks the adapter for a model: this module's
:class:`ClassifierAdapter` (mmcls 0.x, plain torch) or
:class:`~.mmpretrain_adapter.DataSampleClassifierAdapter` (mmpretrain 1.x).
Every adapter has ``unpack(batch) -> (images, labels)`` and
``losses(images, labels)`` -> one loss per sample.
"""
from typing import Callable, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .mmpretrain_adapter import (DataSampleClassifierAdapter,
                                 is_data_sample_classifier)


class ClassifierAdapter:
    """The three pieces of a classifier that per-sample scores need.

    ``features(images)`` -> features, ``logits(features)`` -> logits,
    ``per_sample_loss(logits, labels)`` -> one loss per sample. An mmcls
    classifier (``extract_feat`` + a ClsHead) gives its own; a plain torch
    module maps images to logits and is scored with cross-entropy.
    """

    def __init__(self, model: nn.Module):
        if hasattr(model, 'extract_feat') and hasattr(model, 'head'):
            head = model.head
            if not hasattr(head, 'compute_loss'):
                raise TypeError(f'{type(head).__name__} has no compute_loss: '
                                'gradient norms need an mmcls ClsHead')
            self.head = head
            self.features: Callable = model.extract_feat
            self.logits: Callable = self._head_logits
            self.per_sample_loss: Callable = self._head_loss
        else:
            self.features = lambda images: images
            self.logits = model
            self.per_sample_loss = self._cross_entropy

    def _head_logits(self, feats) -> torch.Tensor:
        return self.head.simple_test(feats, softmax=False, post_process=False)

    def _head_loss(self, logits: torch.Tensor,
                   labels: torch.Tensor) -> torch.Tensor:
        return self.head.compute_loss(
            logits, labels, reduction_override='none')

    @staticmethod
    def _cross_entropy(logits: torch.Tensor,
                       labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, labels, reduction='none')

    def losses(self, images: torch.Tensor,
               labels: torch.Tensor) -> torch.Tensor:
        """Per-sample losses of a batch."""
        return self.per_sample_loss(self.logits(self.features(images)), labels)

    @staticmethod
    def unpack(batch) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(images, labels)`` of a loader batch (:func:`unpack_batch`)."""
        return unpack_batch(batch)


Adapter = Union[ClassifierAdapter, DataSampleClassifierAdapter]


def make_adapter(model: nn.Module) -> Adapter:
    """The adapter for an (unwrapped) model: mmpretrain 1.x classifiers get
    :class:`DataSampleClassifierAdapter`, everything else
    :class:`ClassifierAdapter`."""
    if is_data_sample_classifier(model):
        return DataSampleClassifierAdapter(model)
    return ClassifierAdapter(model)


def unpack_batch(batch) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(images, labels)`` from an mmcls batch dict or an ``(x, y)`` pair."""
    if isinstance(batch, dict):
        images, labels = batch['img'], batch.get('gt_label')
        if labels is None:
            raise ValueError(
                'the scoring batches carry no "gt_label": the scoring '
                "pipeline must keep labels (Collect keys=['img', "
                "'gt_label'])")
    else:
        images, labels = batch[0], batch[1]
    # mmcv's collate wraps non-stacked fields in DataContainers
    images = getattr(images, 'data',
                     [images])[0] if not torch.is_tensor(images) else images
    labels = getattr(labels, 'data',
                     [labels])[0] if not torch.is_tensor(labels) else labels
    return images, labels.reshape(-1)


def last_linear(model: nn.Module) -> nn.Linear:
    """The classifier's final Linear layer (the head's, for mmcls models)."""
    root = getattr(model, 'head', model)
    linears = [m for m in root.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise TypeError(f'{type(root).__name__} has no nn.Linear: the '
                        "'last_layer' scope needs a linear classifier layer")
    return linears[-1]
