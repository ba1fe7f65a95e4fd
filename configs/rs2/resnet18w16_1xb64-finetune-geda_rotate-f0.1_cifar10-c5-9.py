# GEDA rotation at 10 % per epoch in the fine-tuning setting: folds matching
# each class's ECDF of the gradient norms of the pretrained model, later
# cycles folded on the recorded training losses.
_base_ = ['./resnet18w16_1xb64-finetune-rs2-f0.1_cifar10-c5-9.py']
model = dict(type='WeightedImageClassifier')
custom_hooks = [
    dict(
        type='GradNormHook',
        method='geda_rotate',
        options=dict(nodes=5, rule='trapezoid', refold='loss'),
        priority='HIGHEST')
]
