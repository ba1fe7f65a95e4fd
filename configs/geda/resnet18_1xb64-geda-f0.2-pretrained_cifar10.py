# GEDA with an ImageNet-pretrained ResNet-18 (as the thesis fine-tunes a
# pretrained model): the torchvision-style ResNet backbone initialised from
# a LOCAL checkpoint. Nothing is downloaded: put the file at the path below
# (or override it with --cfg-options
# model.backbone.init_cfg.checkpoint=/path/to/resnet18.pth). The gradient
# norms are then taken at the pretrained weights (epoch 0).
_base_ = ['./resnet18_1xb64-geda-f0.2_cifar10.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=18,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/resnet18_imagenet.pth',
            prefix='backbone')))
