# A stronger InfoBatch ratio on the CPU-scale protocol: each below-mean-loss
# sample is dropped with probability 0.7, the kept ones weigh 1 / 0.3.
_base_ = ['./resnet18w16_1xb64-infobatch-r0.5_cifar10-5k.py']
custom_hooks = [
    dict(
        type='GradNormHook',
        method='infobatch',
        options=dict(ratio=0.7, anneal=0.125),
        seed=0,
        priority='HIGHEST')
]
