# Dynamic pruning by InfoBatch's rule on CIFAR-100 (see
# resnet18_1xb64-infobatch-r0.5_cifar10.py and docs/pruning.md).
_base_ = [
    '../resnet/resnet18_1xb64-full_cifar100.py',
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
