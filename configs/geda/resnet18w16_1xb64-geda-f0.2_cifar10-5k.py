# GEDA at 20 % on the CPU-scale protocol of docs/results.md (selected once,
# at epoch 0); the schedules in configs/schedules/ build on it.
_base_ = ['../resnet/resnet18w16_1xb64-full_cifar10-5k.py']
data = dict(
    train=dict(
        _delete_=True,
        type='GEDASubsetDataset',
        fraction=0.2,  # the one place to set the kept fraction
        dataset={{_base_.data.train}}))
# every epoch is served by GradNormHook's sampler (in mmcls's default order:
# the subset's length is fixed)
sampler = dict(type='EpochPlanSampler')
custom_hooks = [dict(type='GradNormHook', method='geda', priority='HIGHEST')]
