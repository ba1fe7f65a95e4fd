# Dynamic, unbiased pruning from the training losses (InfoBatch-style, see
# mmcls_geda/selection/pruning.py): the first epoch and the last 12.5 % of
# the epochs see all data; every other epoch processes 70 % of it: every
# sample whose last training loss is at or above the mean, and a uniform
# draw from the rest with inverse-probability loss weights. 12 epochs:
# 1 + 9 x 0.7 + 2 = 9.3 epochs of compute (22.5 % saved).
_base_ = [
    '../resnet/resnet18_1xb64-full_cifar10.py',
    '../_base_/pruning/dynamic_pruning_k0.7.py'
]
data = dict(
    train=dict(
        _delete_=True,
        type='DynamicPruningDataset',
        dataset={{_base_.data.train}}))
model = dict(type='WeightedImageClassifier', normalize_weights=False)
