# Thesis baseline 'ranked_even': same budgets, runner, data.
_base_ = ['../geda/resnet18_1xb64-geda-f0.2_cifar10.py']
custom_hooks = [
    dict(type='GradNormHook', method='ranked_even', priority='HIGHEST')
]
