# The control of resnet18w16_1xb64-infobatch-r0.5_cifar10-5k.py: the same
# epochs, the same number of drop candidates (as many as samples below the
# mean loss), the same drop probability and weights, but the candidates drawn
# uniformly, not by the loss (docs/pruning.md).
_base_ = ['./resnet18w16_1xb64-infobatch-r0.5_cifar10-5k.py']
custom_hooks = [
    dict(
        type='GradNormHook',
        method='random_pruning',
        options=dict(ratio=0.5, anneal=0.125),
        seed=0,
        priority='HIGHEST')
]
