# GEDA as a warm start (thesis 6.3): the first E = 4 epochs train on the
# GEDA subset chosen at epoch 0, then GRAD-MATCH re-selects (weighted) with
# the current network every R = 4 epochs.
_base_ = ['../geda/resnet18_1xb64-geda-f0.2_cifar100.py']
model = dict(type='WeightedImageClassifier')
custom_hooks = [
    dict(
        type='GradNormHook',
        method='geda',
        then=dict(method='gradmatch', start_epoch=4, interval=4),
        priority='HIGHEST')
]
