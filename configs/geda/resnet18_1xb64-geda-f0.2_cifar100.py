# GEDA: train on the subset whose per-class ECDF of gradient norms at epoch
# 0 best matches the full class's (thesis: N = 5 nodes, trapezoid rule).
_base_ = ['../resnet/resnet18_1xb64-full_cifar100.py']
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
