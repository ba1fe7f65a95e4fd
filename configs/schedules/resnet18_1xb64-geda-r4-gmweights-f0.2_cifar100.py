# Online GEDA with weights (thesis Algorithm 6.1): GEDA re-selects with the
# current network every R = 4 epochs, and each subset gets the per-class
# non-negative weights that best match its class's summed last-layer
# gradient (GRAD-MATCH's weights, lam = 1e-3); WeightedImageClassifier
# applies them.
_base_ = ['../geda/resnet18_1xb64-geda-f0.2_cifar100.py']
model = dict(type='WeightedImageClassifier')
custom_hooks = [
    dict(
        type='GradNormHook',
        method='geda',
        interval=4,
        weights='gradmatch',
        priority='HIGHEST')
]
