# RS2 at 10 % per epoch in the fine-tuning setting of docs/results.md
# (pretrained backbone, CIFAR-10 classes 5-9, 500 images a class).
_base_ = ['../finetune/resnet18w16_1xb64-finetune-full_cifar10-c5-9.py']
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
