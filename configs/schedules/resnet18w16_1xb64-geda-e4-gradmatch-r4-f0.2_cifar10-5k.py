# GEDA warm start (E = 4), then GRAD-MATCH every R = 4 epochs, on the
# CPU-scale protocol of docs/results.md.
_base_ = ['../geda/resnet18w16_1xb64-geda-f0.2_cifar10-5k.py']
model = dict(type='WeightedImageClassifier')
custom_hooks = [
    dict(
        type='GradNormHook',
        method='geda',
        then=dict(method='gradmatch', start_epoch=4, interval=4),
        priority='HIGHEST')
]
