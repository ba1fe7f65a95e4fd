# Warm-up scoring (W = 1 full pass) on the CPU-scale protocol of
# docs/results.md.
_base_ = ['../geda/resnet18w16_1xb64-geda-f0.2_cifar10-5k.py']
custom_hooks = [
    dict(
        type='GradNormHook',
        method='geda',
        warmup_epochs=1,
        priority='HIGHEST')
]
