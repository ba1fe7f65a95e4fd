# RS2 at 10 % per epoch on the CPU-scale protocol of docs/results.md.
_base_ = ['../resnet/resnet18w16_1xb64-full_cifar10-5k.py']
data = dict(
    train=dict(
        _delete_=True,
        type='GEDASubsetDataset',
        fraction=0.1,  # the one place to set the per-epoch fraction
        dataset={{_base_.data.train}}))
# every epoch is served by GradNormHook's sampler (in mmcls's default order:
# the subset's length is fixed)
sampler = dict(type='EpochPlanSampler')
custom_hooks = [
    dict(
        type='GradNormHook',
        method='rs2',
        options=dict(replace=False),
        priority='HIGHEST')
]
