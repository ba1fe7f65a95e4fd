# Dynamic pruning on CIFAR-100 (see resnet18_1xb64-prune-k0.7_cifar10.py).
_base_ = ['../geda/resnet18_1xb64-full_cifar100.py']
data = dict(
    train=dict(
        _delete_=True,
        type='DynamicPruningDataset',
        dataset={{_base_.data.train}}))
sampler = dict(type='DynamicPruningSampler')
model = dict(type='WeightedImageClassifier', normalize_weights=False)
custom_hooks = [
    dict(
        type='DynamicPruningHook',
        keep=0.7,
        anneal=0.125,
        seed=0,
        priority='HIGHEST')
]
