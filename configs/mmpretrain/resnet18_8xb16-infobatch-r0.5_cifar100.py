# Dynamic pruning by InfoBatch's rule (Qin et al., ICLR 2024) on mmpretrain
# 1.x with a ResNet-18 on CIFAR-100: mmpretrain's ResNet-50 CIFAR-100
# config (data, schedule, runtime, 200 epochs) with the ResNet-18 of its
# _base_/models/resnet18_cifar.py; every epoch after the first drops each
# below-mean-loss sample with probability 0.5 and weights the kept ones by
# 2, the last 12.5 % of the epochs train on all data (docs/pruning.md).
# mmcls_geda.apply_pruning writes the same (the model aside).
_base_ = ['mmpretrain::resnet/resnet50_8xb16_cifar100.py']
custom_imports = dict(imports=['mmcls_geda'], allow_failed_imports=False)
# records the per-sample losses; the kept samples' weights are averaged
# over the batch (an unbiased estimate of the full data's gradient)
# (and the ResNet-18 of mmpretrain's _base_/models/resnet18_cifar.py)
model = dict(
    type='WeightedImageClassifier',
    normalize_weights=False,
    backbone=dict(depth=18),
    head=dict(in_channels=512))
train_dataloader = dict(
    # each epoch's plan, of its own length
    sampler=dict(_delete_=True, type='EpochPlanSampler'),
    dataset=dict(
        _delete_=True,
        type='GEDASubsetDataset',
        fraction=1.0,  # pruning plans over the whole training set
        # the local copy, never downloaded (mmpretrain's CIFAR100 downloads
        # when the files' md5 sums differ)
        dataset=dict(
            type='LocalCIFAR100',
            data_root='data/cifar100',
            split='train',
            pipeline={{_base_.train_pipeline}})))
val_dataloader = dict(dataset=dict(type='LocalCIFAR100'))
test_dataloader = dict(dataset=dict(type='LocalCIFAR100'))
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
