# The control of GEDA rotation with the same coverage: folds drawn at random
# inside the class's gradient-norm quartiles (each fold takes every
# quartile's share), re-folded on the recorded losses from the second cycle.
_base_ = ['./resnet18_1xb64-rs2-f0.1_cifar10.py']
model = dict(type='WeightedImageClassifier')
custom_hooks = [
    dict(
        type='GradNormHook',
        method='strata_rotate',
        options=dict(quantiles=4, refold='loss'),
        scope='full',
        priority='HIGHEST')
]
