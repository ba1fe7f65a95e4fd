# Dynamic pruning on the CPU-scale protocol of docs/results.md.
_base_ = [
    '../resnet/resnet18w16_1xb64-full_cifar10-5k.py',
    '../_base_/pruning/dynamic_pruning_k0.7.py'
]
data = dict(
    train=dict(
        _delete_=True,
        type='DynamicPruningDataset',
        dataset={{_base_.data.train}}))
model = dict(type='WeightedImageClassifier', normalize_weights=False)
