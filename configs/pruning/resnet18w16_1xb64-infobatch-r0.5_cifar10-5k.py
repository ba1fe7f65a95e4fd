# Dynamic pruning by InfoBatch's rule on the CPU-scale protocol of
# docs/results.md (docs/pruning.md). Evaluated once, at the end (epoch 12):
# a shorter run needs evaluation.interval=<its max_epochs>.
_base_ = [
    '../resnet/resnet18w16_1xb64-full_cifar10-5k.py',
    '../_base_/pruning/infobatch_r0.5.py'
]
data = dict(
    train=dict(
        _delete_=True,
        type='GEDASubsetDataset',
        fraction=1.0,
        dataset={{_base_.data.train}}))
model = dict(type='WeightedImageClassifier', normalize_weights=False)
# the epochs vary in length: the schedule follows the epoch progress
lr_config = dict(
    _delete_=True, policy='EpochProgress', schedule={{_base_.lr_config}})
