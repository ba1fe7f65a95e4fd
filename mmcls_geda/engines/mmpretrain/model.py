"""``WeightedImageClassifier`` for mmpretrain 1.x: per-sample loss weights
and recorded per-sample training losses.

The mmcls 0.x model (:class:`mmcls_geda.models.WeightedImageClassifier`)
reads ``sample_weight`` / ``sample_idx`` from the batch; on mmpretrain 1.x
they travel in each data sample's ``metainfo``
(:class:`~mmcls_geda.engines.mmpretrain.subset.GEDASubsetDataset` puts
them there), and the loss is the head's own loss module, per sample.
"""
from typing import List, Optional, Tuple

import torch
from mmpretrain.evaluation import Accuracy
from mmpretrain.models import ImageClassifier
from mmpretrain.registry import MODELS


@MODELS.register_module()
class WeightedImageClassifier(ImageClassifier):
    """``ImageClassifier`` that weights each sample's classification loss
    and can record every sample's training loss.

    A data sample whose ``metainfo`` holds ``sample_weight`` has its loss
    (the head's ``loss_module``, ``reduction_override='none'``) weighted by
    it; a sample without one weighs 1. A batch without weights, while
    :attr:`record_losses` is off, trains exactly as ``ImageClassifier``.

    With :attr:`record_losses` on (``GradNormHook`` switches it on for a
    method that reads the training losses), every training batch's
    ``(sample_idx, per-sample loss)`` (``sample_idx`` from each data
    sample's ``metainfo``; mmengine's datasets put it there) is kept in
    :attr:`recorded_losses` for the hook to take: no extra forward pass.

    Weighted or recorded batches refuse batch augments (Mixup/CutMix in
    ``train_cfg`` / the data preprocessor's ``batch_augments``), which mix
    samples: a weight or a loss would belong to a mixture of two.

    Args:
        normalize_weights (bool): True (CRAIG, GRAD-MATCH): the loss is the
            weighted mean ``sum w_i l_i / sum w_i``, whose scale matches
            unweighted training. False (dynamic pruning):
            ``sum w_i l_i / batch size``, which keeps the epoch's summed
            gradient an unbiased estimate of the full data's.
        record_losses (bool): Record the per-sample training losses.
            Defaults to False.
        **kwargs: As ``ImageClassifier``.

    Attributes:
        recorded_losses: ``(sample_idx, loss)`` of the last training batch
            (CPU tensors), or None: nothing recorded since the last take.
    """

    def __init__(self,
                 *args,
                 normalize_weights: bool = True,
                 record_losses: bool = False,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.normalize_weights = bool(normalize_weights)
        self.record_losses = bool(record_losses)
        self.recorded_losses: Optional[Tuple[torch.Tensor,
                                             torch.Tensor]] = None

    def loss(self, inputs: torch.Tensor, data_samples: List) -> dict:
        """The training losses; per-sample weights and recording as the
        class says."""
        weights = [ds.metainfo.get('sample_weight') for ds in data_samples]
        weighted = any(w is not None for w in weights)
        if not weighted and not self.record_losses:
            return super().loss(inputs, data_samples)
        loss_module = getattr(self.head, 'loss_module', None)
        if loss_module is None:
            raise TypeError(
                'WeightedImageClassifier weights and records the head\'s '
                'per-sample loss, so its head needs a loss_module (a ClsHead);'
                f' got {type(self.head).__name__}')
        if 'gt_score' in data_samples[0] or getattr(
                self.data_preprocessor, 'batch_augments', None) is not None:
            # Mixup/CutMix blend each sample with another
            raise TypeError(
                'per-sample weights and recorded losses cannot be combined '
                'with batch augments (Mixup/CutMix: train_cfg.augments / '
                "data_preprocessor's batch_augments), which mix samples: "
                'drop the augments, or train without weights and recorded '
                'losses')
        cls_score = self.head(self.extract_feat(inputs))
        target = torch.cat([ds.gt_label for ds in data_samples])
        per_sample = loss_module(
            cls_score, target, reduction_override='none').reshape(-1)
        if self.record_losses:
            self.recorded_losses = (self._sample_idx(data_samples),
                                    per_sample.detach().float().cpu())
        weight = per_sample.new_tensor(
            [1.0 if w is None else float(w) for w in weights])
        denominator = (
            weight.sum() if self.normalize_weights else per_sample.new_tensor(
                float(per_sample.numel())))
        losses = dict(
            loss=(weight * per_sample).sum() / denominator.clamp_min(1e-12))
        if getattr(self.head, 'cal_acc', False):  # as the head reports it
            accuracy = Accuracy.calculate(
                cls_score, target, topk=self.head.topk)
            losses.update({
                f'accuracy_top-{k}': a
                for k, a in zip(self.head.topk, accuracy)
            })
        return losses

    @staticmethod
    def _sample_idx(data_samples: List) -> torch.Tensor:
        """Every data sample's ``sample_idx``, refused where one lacks it."""
        found = [ds.metainfo.get('sample_idx') for ds in data_samples]
        if any(i is None for i in found):
            raise RuntimeError(
                'WeightedImageClassifier records per-sample losses, so every '
                "data sample needs 'sample_idx' in its metainfo (mmengine's "
                'datasets and GEDASubsetDataset put it there; keep it in '
                "PackInputs' meta_keys)")
        return torch.tensor([int(i) for i in found], dtype=torch.int64)


def check_weighted_classifier(model,
                              who: str,
                              does: str,
                              otherwise: str = '') -> None:
    """A TypeError, before training, unless ``model`` (without its
    wrapper) is a :class:`WeightedImageClassifier` without batch augments.

    Args:
        model: The run's model, unwrapped.
        who: What needs the classifier, for the message (``"method 'craig'
            trains with per-sample weights"``).
        does: What only this classifier does with it (``'applies to its
            loss'``, ``'records'``).
        otherwise: The other way out, for the message (``'or set
            weighted=False'``).
    """
    if not isinstance(model, WeightedImageClassifier):
        raise TypeError(
            f'GradNormHook on mmpretrain 1.x: {who}, which only '
            f'WeightedImageClassifier {does}: set model.type = '
            "'WeightedImageClassifier' (mmcls_geda's, an ImageClassifier; "
            f'apply_geda does) {otherwise}; got {type(model).__name__}')
    if getattr(model.data_preprocessor, 'batch_augments', None) is not None:
        raise TypeError(
            f'GradNormHook on mmpretrain 1.x: {who}, and batch augments '
            '(Mixup/CutMix, train_cfg.augments) mix samples, so a weight or '
            'a loss would belong to two: drop model.train_cfg.augments '
            f'{otherwise}')
