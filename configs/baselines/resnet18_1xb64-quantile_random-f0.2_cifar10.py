# Thesis baseline 'quantile_random': same budgets, runner, data.
_base_ = ['../geda/resnet18_1xb64-geda-f0.2_cifar10.py']
custom_hooks = [
    dict(type='GradNormHook', method='quantile_random', priority='HIGHEST')
]
