# RS2 (Okanovic et al., ICLR 2024): every epoch trains on a new 10 % of each
# class, walking a seeded per-class permutation in consecutive blocks, so
# every sample is seen once per 10 epochs; the wrapper's length, max_iters
# and the one-cycle schedule are those of a static 10 % subset.
_base_ = ['../resnet/resnet18_1xb64-full_cifar10.py']
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
