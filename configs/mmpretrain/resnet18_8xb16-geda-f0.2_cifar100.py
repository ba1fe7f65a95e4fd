# GEDA on mmpretrain 1.x with a ResNet-18 on CIFAR-100: mmpretrain ships
# no ResNet-18 CIFAR-100 config, so this is its ResNet-50 CIFAR-100 one (its
# data, schedule and runtime, 200 epochs) with the ResNet-18 of its
# _base_/models/resnet18_cifar.py (depth 18, 512 features), trained on the
# 20 % subset whose per-class ECDF of gradient norms at the initial weights
# best matches the full class's, selected once, before the first epoch
# (docs/mmpretrain.md).
_base_ = ['mmpretrain::resnet/resnet50_8xb16_cifar100.py']
custom_imports = dict(imports=['mmcls_geda'], allow_failed_imports=False)
model = dict(backbone=dict(depth=18), head=dict(in_channels=512))
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='GEDASubsetDataset',
        fraction=0.2,  # the one place to set the kept fraction
        # the local copy, never downloaded (mmpretrain's CIFAR100 downloads
        # when the files' md5 sums differ)
        dataset=dict(
            type='LocalCIFAR100',
            data_root='data/cifar100',
            split='train',
            pipeline={{_base_.train_pipeline}})))
val_dataloader = dict(dataset=dict(type='LocalCIFAR100'))
test_dataloader = dict(dataset=dict(type='LocalCIFAR100'))
custom_hooks = [dict(type='GradNormHook', method='geda', priority='HIGHEST')]
