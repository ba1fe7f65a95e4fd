# Online GEDA with GRAD-MATCH weights (R = 4) on the CPU-scale protocol of
# docs/results.md.
_base_ = ['../geda/resnet18w16_1xb64-geda-f0.2_cifar10-5k.py']
model = dict(type='WeightedImageClassifier')
custom_hooks = [
    dict(
        type='GradNormHook',
        method='geda',
        interval=4,
        weights='gradmatch',
        priority='HIGHEST')
]
