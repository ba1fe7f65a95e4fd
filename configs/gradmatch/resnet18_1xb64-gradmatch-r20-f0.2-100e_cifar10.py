# The thesis's long GRAD-MATCH run: 20 % of the data, re-selected every
# R = 20 epochs with the current model, 100 epochs (the one-cycle schedule
# stretched over them).
_base_ = ['./resnet18_1xb64-gradmatch-f0.2_cifar10.py']
custom_hooks = [
    dict(
        type='GradNormHook',
        method='gradmatch',
        interval=20,
        priority='HIGHEST')
]
runner = dict(max_epochs=100)
checkpoint_config = dict(interval=20)
