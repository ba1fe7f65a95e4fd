# A stronger setting: pruned epochs process half the data.
# 12 epochs: 1 + 9 x 0.5 + 2 = 7.5 epochs of compute (37.5 % saved).
_base_ = ['./resnet18_1xb64-prune-k0.7_cifar10.py']
custom_hooks = [
    dict(
        type='DynamicPruningHook',
        keep=0.5,
        anneal=0.125,
        seed=0,
        priority='HIGHEST')
]
