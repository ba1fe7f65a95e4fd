# RS2 (Okanovic et al., ICLR 2024) on mmpretrain 1.x with a ResNet-18 on
# CIFAR-100: mmpretrain ships no ResNet-18 CIFAR-100 config, so this is its
# ResNet-50 CIFAR-100 one (data, schedule, runtime, 200 epochs) with the
# ResNet-18 of its _base_/models/resnet18_cifar.py; every epoch trains on a
# new 10 % of each class, each sample once per 10 epochs; nothing is
# scored (docs/mmpretrain.md).
_base_ = ['mmpretrain::resnet/resnet50_8xb16_cifar100.py']
custom_imports = dict(imports=['mmcls_geda'], allow_failed_imports=False)
# the ResNet-18 of mmpretrain's _base_/models/resnet18_cifar.py
model = dict(backbone=dict(depth=18), head=dict(in_channels=512))
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='GEDASubsetDataset',
        fraction=0.1,  # the one place to set the per-epoch fraction
        # the local copy, never downloaded (mmpretrain's CIFAR100 downloads
        # when the files' md5 sums differ)
        dataset=dict(
            type='LocalCIFAR100',
            data_root='data/cifar100',
            split='train',
            pipeline={{_base_.train_pipeline}})))
val_dataloader = dict(dataset=dict(type='LocalCIFAR100'))
test_dataloader = dict(dataset=dict(type='LocalCIFAR100'))
custom_hooks = [
    dict(
        type='GradNormHook',
        method='rs2',
        options=dict(replace=False),
        priority='HIGHEST')
]
