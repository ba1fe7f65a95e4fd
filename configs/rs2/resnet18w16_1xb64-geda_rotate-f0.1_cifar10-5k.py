# GEDA rotation at 10 % per epoch on the CPU-scale protocol of
# docs/results.md: 10 folds per class matching the class's ECDF of the
# gradient norms at epoch 0, later cycles folded on the recorded losses.
_base_ = ['./resnet18w16_1xb64-rs2-f0.1_cifar10-5k.py']
model = dict(type='WeightedImageClassifier')
custom_hooks = [
    dict(
        type='GradNormHook',
        method='geda_rotate',
        options=dict(nodes=5, rule='trapezoid', refold='loss'),
        priority='HIGHEST')
]
