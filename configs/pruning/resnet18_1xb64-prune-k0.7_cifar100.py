# Dynamic pruning on CIFAR-100 (see resnet18_1xb64-prune-k0.7_cifar10.py).
_base_ = [
    '../resnet/resnet18_1xb64-full_cifar100.py',
    '../_base_/pruning/dynamic_pruning_k0.7.py'
]
data = dict(
    train=dict(
        _delete_=True,
        type='DynamicPruningDataset',
        dataset={{_base_.data.train}}))
model = dict(type='WeightedImageClassifier', normalize_weights=False)
