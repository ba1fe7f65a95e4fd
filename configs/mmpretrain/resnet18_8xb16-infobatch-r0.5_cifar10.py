# Dynamic pruning by InfoBatch's rule (Qin et al., ICLR 2024) on mmpretrain
# 1.x: mmpretrain's own ResNet-18 CIFAR-10 config (its model, schedule and
# runtime, 200 epochs); every epoch after the first drops each
# below-mean-loss sample with probability 0.5 and weights the kept ones by
# 2, the last 12.5 % of the epochs train on all data (docs/pruning.md,
# docs/mmpretrain.md). mmcls_geda.apply_pruning writes the same.
_base_ = ['mmpretrain::resnet/resnet18_8xb16_cifar10.py']
custom_imports = dict(imports=['mmcls_geda'], allow_failed_imports=False)
# records the per-sample losses; the kept samples' weights are averaged
# over the batch (an unbiased estimate of the full data's gradient)
model = dict(type='WeightedImageClassifier', normalize_weights=False)
train_dataloader = dict(
    # each epoch's plan, of its own length
    sampler=dict(_delete_=True, type='EpochPlanSampler'),
    dataset=dict(
        _delete_=True,
        type='GEDASubsetDataset',
        fraction=1.0,  # pruning plans over the whole training set
        # the local copy, never downloaded (mmpretrain's CIFAR10 downloads
        # when the files' md5 sums differ)
        dataset=dict(
            type='LocalCIFAR10',
            data_root='data/cifar10',
            split='train',
            pipeline={{_base_.train_pipeline}})))
val_dataloader = dict(dataset=dict(type='LocalCIFAR10'))
test_dataloader = dict(dataset=dict(type='LocalCIFAR10'))
# iteration-based schedules follow the epoch progress as epochs shrink
default_hooks = dict(
    param_scheduler=dict(type='EpochProgressParamSchedulerHook'))
custom_hooks = [
    dict(
        type='GradNormHook',
        method='infobatch',  # 'random_pruning': the control
        options=dict(
            ratio=0.5,  # drop probability of a below-mean-loss sample
            anneal=0.125),  # the share of the epochs, at the end, on all data
        seed=0,
        priority='HIGHEST')
]
