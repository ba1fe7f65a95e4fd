# RS2 with InfoBatch's budget shape (all data in epoch 0 and 27-29, the rest
# spread evenly over epochs 1-26) at 73 % of the samples, the share InfoBatch
# r = 0.5 processed on the 30-epoch CPU-scale protocol of docs/results.md.
_base_ = ['../resnet/resnet18w16_1xb64-full-30e_cifar10-5k.py']
data = dict(
    train=dict(
        _delete_=True,
        type='GEDASubsetDataset',
        fraction=0.73,  # the samples of the whole run, as a share of full data
        dataset={{_base_.data.train}}))
# every epoch is served by GradNormHook's sampler (of its own length)
sampler = dict(type='EpochPlanSampler')
custom_hooks = [
    dict(
        type='GradNormHook',
        method='rs2',
        options=dict(budget='anneal'),
        priority='HIGHEST')
]
# the epochs vary in length: the schedule follows the epoch progress
lr_config = dict(
    _delete_=True, policy='EpochProgress', schedule={{_base_.lr_config}})
