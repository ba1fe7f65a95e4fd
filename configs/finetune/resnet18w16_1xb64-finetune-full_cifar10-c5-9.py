# The fine-tuning setting (docs/results.md, "Fine-tuning"), the thesis's
# situation at CPU scale: a pretrained backbone, a new head, a new task.
# Target task: CIFAR-10 classes 5-9 (dog, frog, horse, ship, truck),
# relabelled 0-4; 500 training images per class (the first 500 of each in
# the official order), all 5,000 test images of those classes. The backbone
# starts from the pretraining run (classes 0-4 only, see
# resnet18w16_1xb64-pretrain_cifar10-c0-4.py), the head from a seeded random
# init; thesis schedule: 12 epochs, batch 64, one-cycle 1e-3 -> 0.1 -> 1e-5.
# Gradient norms at epoch 0 come from this model, as in the thesis.
_base_ = ['../resnet/resnet18w16_1xb64-full_cifar10-5k.py']
pretrained = 'work_dirs/pretrain_cifar10-c0-4/latest.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone')),
    head=dict(num_classes=5, topk=(1, )))
classes = [5, 6, 7, 8, 9]
data = dict(
    train=dict(per_class=500, keep_classes=classes),
    val=dict(keep_classes=classes),
    test=dict(keep_classes=classes))
evaluation = dict(metric_options=dict(topk=(1, )))
