# ResNet-18 (CIFAR variant) on all of CIFAR10: the reference the subsets
# are compared with (thesis Appendix A settings).
_base_ = [
    '../_base_/models/resnet18_cifar.py',
    '../_base_/datasets/cifar10_local_bs64.py',
    '../_base_/schedules/cifar10_onecycle_12e.py',
    '../_base_/default_runtime.py',
]
evaluation = dict(interval=1, metric='accuracy')
checkpoint_config = dict(interval=12)
log_config = dict(interval=50)
