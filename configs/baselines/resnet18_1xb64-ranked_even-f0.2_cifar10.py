# Baseline from the thesis: 'ranked_even' selection, same budgets, runner and data.
_base_ = ['../geda/resnet18_1xb64-geda-f0.2_cifar10.py']
custom_hooks = [dict(type='GradNormHook', method='ranked_even', priority='HIGHEST')]
