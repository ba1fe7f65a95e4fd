# Dynamic pruning in the fine-tuning setting of docs/results.md.
_base_ = ['../finetune/resnet18w16_1xb64-finetune-full_cifar10-c5-9.py']
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
