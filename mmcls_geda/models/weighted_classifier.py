"""An ``ImageClassifier`` whose loss takes per-sample weights."""
from mmcls.models import CLASSIFIERS, ImageClassifier


@CLASSIFIERS.register_module()
class WeightedImageClassifier(ImageClassifier):
    """``ImageClassifier`` that weights each sample's classification loss.

    CRAIG and GRAD-MATCH train on a weighted subset: the wrapper adds each
    sample's weight to its data as ``sample_weight``, and this classifier
    passes it to the head's loss. Weights are normalised to mean 1 within
    each batch, so the loss is the weighted mean ``sum w_i l_i / sum w_i``
    and its scale stays comparable with unweighted training. Batches
    without ``sample_weight`` train exactly like ``ImageClassifier``.
    Weighted batches refuse batch augments (Mixup/CutMix), which would mix
    weighted samples; ``GradNormHook`` refuses the combination at start-up.
    """

    def forward_train(self, img, gt_label, sample_weight=None, **kwargs):
        if sample_weight is None:
            return super().forward_train(img, gt_label, **kwargs)
        if self.augments is not None:
            # Mixup/CutMix blend each sample with another: its weight
            # would apply to a mixture of two samples
            raise TypeError(
                'per-sample weights cannot be combined with batch augments '
                '(train_cfg.augments, Mixup/CutMix): drop the augments or '
                'train the subset unweighted (GradNormHook weighted=False)')
        weight = sample_weight.to(img.device, img.dtype)
        weight = weight / weight.mean().clamp_min(1e-12)
        x = self.extract_feat(img)
        return self.head.forward_train(x, gt_label, weight=weight)
