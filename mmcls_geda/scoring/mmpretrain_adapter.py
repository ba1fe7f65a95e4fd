"""How an mmpretrain 1.x classifier's per-sample loss is reached.

An mmpretrain ``ImageClassifier`` (an mmengine ``BaseModel``) takes what
its ``data_preprocessor`` makes of a loader's batch (``{'inputs',
'data_samples'}``, from mmengine's ``pseudo_collate`` or
``default_collate``), then ``extract_feat`` (backbone, neck) and its
head's ``forward`` give the logits, and the head's ``loss_module`` with
``reduction_override='none'`` one loss per sample. Duck-typed: nothing of
mmpretrain is imported.
"""
from typing import Tuple

import torch
import torch.nn as nn


def is_data_sample_classifier(model: nn.Module) -> bool:
    """Whether ``model`` looks like an mmpretrain classifier: a data
    preprocessor, ``extract_feat`` and a head with a ``loss_module``."""
    return (hasattr(model, 'data_preprocessor')
            and hasattr(model, 'extract_feat')
            and hasattr(getattr(model, 'head', None), 'loss_module'))


class DataSampleClassifierAdapter:
    """The per-sample loss of an mmpretrain ``ImageClassifier``.

    Args:
        model: The classifier (unwrapped): ``data_preprocessor``,
            ``extract_feat`` and a ``head`` with ``loss_module`` (a
            ``ClsHead``, e.g. ``LinearClsHead``).

    The preprocessor runs with ``training=False``: no batch augmentation
    (mixup, cutmix), and the loss is taken on each sample's ``gt_label``,
    the class index (a ``gt_score`` made for batch augmentation is not
    used).
    """

    def __init__(self, model: nn.Module):
        if not is_data_sample_classifier(model):
            raise TypeError(
                f'{type(model).__name__} is not an mmpretrain classifier: '
                'it needs data_preprocessor, extract_feat and a head with a '
                'loss_module')
        self.model = model
        self.head = model.head

    def unpack(self, batch) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(inputs, labels)`` of a loader batch, preprocessed."""
        if not isinstance(batch, dict) or 'inputs' not in batch:
            raise ValueError(
                'an mmpretrain classifier is scored on batches of '
                "{'inputs', 'data_samples'} (mmengine's pseudo_collate or "
                f'default_collate), got {type(batch).__name__}')
        data = self.model.data_preprocessor(batch, training=False)
        samples = data.get('data_samples')
        if not samples or any('gt_label' not in s for s in samples):
            raise ValueError(
                'the scoring batches carry no gt_label: the scoring '
                "pipeline must keep labels (PackInputs keeps 'gt_label')")
        labels = torch.cat([s.gt_label.reshape(-1) for s in samples])
        if labels.numel() != len(samples):
            raise ValueError(
                'every sample needs exactly one gt_label for per-sample '
                f'gradient norms, got {labels.numel()} labels for '
                f'{len(samples)} samples (a multi-label task?)')
        return data['inputs'], labels.to(data['inputs'].device)

    def features(self, inputs: torch.Tensor):
        """The neck's output (the backbone's without a neck)."""
        return self.model.extract_feat(inputs)

    def logits(self, feats) -> torch.Tensor:
        return self.head(feats)

    def per_sample_loss(self, logits: torch.Tensor,
                        labels: torch.Tensor) -> torch.Tensor:
        return self.head.loss_module(
            logits, labels, reduction_override='none').reshape(-1)

    def losses(self, inputs: torch.Tensor,
               labels: torch.Tensor) -> torch.Tensor:
        """Per-sample losses of a preprocessed batch."""
        return self.per_sample_loss(self.logits(self.features(inputs)), labels)
