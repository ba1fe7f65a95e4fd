"""An ``ImageClassifier`` whose loss takes per-sample weights."""
from typing import Optional, Tuple

import torch
from mmcls.models import CLASSIFIERS, ImageClassifier


@CLASSIFIERS.register_module()
class WeightedImageClassifier(ImageClassifier):
    """``ImageClassifier`` that weights each sample's classification loss.

    CRAIG and GRAD-MATCH train on a weighted subset, and dynamic pruning
    rescales the losses of the low-loss samples it keeps: the dataset adds
    each sample's weight to its data as ``sample_weight``, and this
    classifier weights the head's per-sample losses with it. Batches
    without ``sample_weight`` (and without ``sample_idx``) train exactly
    like ``ImageClassifier``.

    With ``sample_idx`` in the batch (dynamic pruning), the per-sample
    training losses are kept in :attr:`recorded_losses` for the hook to
    read: no extra forward pass.

    Weighted batches refuse batch augments (Mixup/CutMix), which would mix
    weighted samples; the hooks refuse the combination at start-up.

    Args:
        normalize_weights (bool): True (CRAIG, GRAD-MATCH): the loss is the
            weighted mean ``sum w_i l_i / sum w_i``, whose scale matches
            unweighted training. False (dynamic pruning):
            ``sum w_i l_i / batch size``, which keeps the epoch's summed
            gradient an unbiased estimate of the full data's.
        **kwargs: As ``ImageClassifier``.
    """

    def __init__(self, *args, normalize_weights: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.normalize_weights = normalize_weights
        self.recorded_losses: Optional[Tuple[torch.Tensor,
                                             torch.Tensor]] = None

    def forward_train(self,
                      img,
                      gt_label,
                      sample_weight=None,
                      sample_idx=None,
                      **kwargs):
        if sample_weight is None and sample_idx is None:
            return super().forward_train(img, gt_label, **kwargs)
        if self.augments is not None:
            # Mixup/CutMix blend each sample with another: its weight (and
            # its recorded loss) would belong to a mixture of two samples
            raise TypeError(
                'per-sample weights and losses cannot be combined with batch '
                'augments (train_cfg.augments, Mixup/CutMix): drop the '
                'augments, or train the subset unweighted (GradNormHook '
                'weighted=False)')
        x = self.extract_feat(img)
        # the logits of the head's training forward (pre_logits + fc)
        logits = self.head.simple_test(x, softmax=False, post_process=False)
        if isinstance(logits, list):  # heads that return a list per sample
            logits = torch.stack(logits)
        losses = self.head.compute_loss(
            logits, gt_label, reduction_override='none')
        if sample_idx is not None:
            self.recorded_losses = (sample_idx.detach().cpu(),
                                    losses.detach().float().cpu())
        if sample_weight is None:
            return dict(loss=losses.mean())
        weight = sample_weight.to(losses.device, losses.dtype)
        denominator = weight.sum() if self.normalize_weights else \
            losses.new_tensor(float(losses.numel()))
        return dict(
            loss=(weight * losses).sum() / denominator.clamp_min(1e-12))
