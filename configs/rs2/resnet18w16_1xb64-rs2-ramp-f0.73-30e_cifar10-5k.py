# RS2 with a rising budget (each epoch's share grows linearly, 48 % -> 98 %)
# at 73 % of the samples: the anneal config with the other schedule.
_base_ = ['./resnet18w16_1xb64-rs2-anneal-f0.73-30e_cifar10-5k.py']
custom_hooks = [
    dict(
        type='GradNormHook',
        method='rs2',
        options=dict(budget='ramp'),
        priority='HIGHEST')
]
