# GEDA with warm-up scoring: the first epochs sweep all the data in slices
# of the subset's size until one full pass is served (5 of the 12 epochs at
# fraction 0.2), then GEDA scores with the warmed network and the remaining
# epochs train on its subset. The budget is unchanged: 12 epochs x 0.2 =
# 2.4 passes of the data, whatever the schedule.
_base_ = ['../geda/resnet18_1xb64-geda-f0.2_cifar10.py']
custom_hooks = [
    dict(
        type='GradNormHook',
        method='geda',
        warmup_epochs=1,
        priority='HIGHEST')
]
