# RS2 with replacement: each epoch's 10 % of each class drawn independently
# (samples may be missed for many epochs); the comparison RS2 reports.
_base_ = ['./resnet18_1xb64-rs2-f0.1_cifar10.py']
custom_hooks = [
    dict(
        type='GradNormHook',
        method='rs2',
        options=dict(replace=True),
        priority='HIGHEST')
]
