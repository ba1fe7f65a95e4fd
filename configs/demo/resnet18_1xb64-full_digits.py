# The demo's base: ResNet-18 (CIFAR variant) adapted to 8x8 grey digits:
# one input channel and a quarter of the width (stem 16, stages 16-128) so
# that a 12-epoch run takes seconds on 2 CPU cores; the thesis's one-cycle
# schedule. `make demo` runs it on full data, with GEDA at 40 % and with
# random selection at 40 % (tools/demo.py).
_base_ = [
    '../_base_/models/resnet18_cifar.py',
    '../_base_/datasets/digits_bs64.py',
    '../_base_/schedules/cifar10_onecycle_12e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(in_channels=1, stem_channels=16, base_channels=16),
    head=dict(in_channels=128))
evaluation = dict(interval=12, metric='accuracy')
checkpoint_config = dict(interval=12)
log_config = dict(interval=10)
