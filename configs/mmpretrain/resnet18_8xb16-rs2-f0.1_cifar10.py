# RS2 (Okanovic et al., ICLR 2024) on mmpretrain 1.x: mmpretrain's own
# ResNet-18 CIFAR-10 config (its model, schedule and runtime, 200 epochs);
# every epoch trains on a new 10 % of each class, walking a seeded per-class
# permutation in consecutive blocks, so every sample is seen once per 10
# epochs; nothing is scored (docs/mmpretrain.md).
_base_ = ['mmpretrain::resnet/resnet18_8xb16_cifar10.py']
custom_imports = dict(imports=['mmcls_geda'], allow_failed_imports=False)
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='GEDASubsetDataset',
        fraction=0.1,  # the one place to set the per-epoch fraction
        # the local copy, never downloaded (mmpretrain's CIFAR10 downloads
        # when the files' md5 sums differ)
        dataset=dict(
            type='LocalCIFAR10',
            data_root='data/cifar10',
            split='train',
            pipeline={{_base_.train_pipeline}})))
val_dataloader = dict(dataset=dict(type='LocalCIFAR10'))
test_dataloader = dict(dataset=dict(type='LocalCIFAR10'))
custom_hooks = [
    dict(
        type='GradNormHook',
        method='rs2',
        options=dict(replace=False),
        priority='HIGHEST')
]
