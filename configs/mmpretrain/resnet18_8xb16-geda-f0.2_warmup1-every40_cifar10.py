# GEDA on a schedule, on mmpretrain 1.x: mmpretrain's own ResNet-18 CIFAR-10
# config (its model, schedule and runtime, 200 epochs) on a 20 % budget:
# one full pass of warm-up over all the data (epochs 0-4, slices of the
# subset's size: every epoch has the same length, so mmpretrain's learning
# rate schedule applies as written), then GEDA on the warmed model's
# gradient norms, re-selected every 40 epochs (docs/mmpretrain.md).
_base_ = ['mmpretrain::resnet/resnet18_8xb16_cifar10.py']
custom_imports = dict(imports=['mmcls_geda'], allow_failed_imports=False)
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='GEDASubsetDataset',
        fraction=0.2,  # the one place to set the kept fraction
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
        method='geda',
        warmup_epochs=1,  # full passes: 5 epochs of 20 %
        interval=40,
        priority='HIGHEST')
]
