# GEDA warm start (E = 4), then GRAD-MATCH every R = 4 epochs, on the
# CPU-scale protocol of docs/results.md.
_base_ = ['../geda/resnet18w16_1xb64-full_cifar10-5k.py']
data = dict(
    train=dict(
        _delete_=True,
        type='GEDASubsetDataset',
        fraction=0.2,  # the one place to set the kept fraction
        dataset={{_base_.data.train}}))
model = dict(type='WeightedImageClassifier')
custom_hooks = [
    dict(
        type='GradNormHook',
        method='geda',
        then=dict(method='gradmatch', start_epoch=4, interval=4),
        priority='HIGHEST')
]
