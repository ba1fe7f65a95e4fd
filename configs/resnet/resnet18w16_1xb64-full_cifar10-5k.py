# The CPU-scale protocol (docs/results.md): real CIFAR-10, a fixed
# class-balanced 5,000-image training set (the first 500 images of each
# class in the official order), the full 10,000-image test set, ResNet-18
# (CIFAR variant) at a quarter of the width (stem and first stage 16
# channels: about 1/16 of the multiply-adds), the thesis's 12-epoch
# one-cycle schedule, batch 64. Evaluated once, at the end.
_base_ = ['./resnet18_1xb64-full_cifar10.py']
model = dict(
    backbone=dict(stem_channels=16, base_channels=16),
    head=dict(in_channels=128))
data = dict(train=dict(per_class=500))
evaluation = dict(interval=12)
log_config = dict(interval=20)
