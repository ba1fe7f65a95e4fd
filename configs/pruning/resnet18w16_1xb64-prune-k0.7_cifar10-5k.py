# Dynamic pruning on the CPU-scale protocol of docs/results.md.
_base_ = ['../geda/resnet18w16_1xb64-full_cifar10-5k.py']
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
