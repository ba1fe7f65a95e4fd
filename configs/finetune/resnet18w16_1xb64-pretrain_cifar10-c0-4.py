# The backbone of the fine-tuning setting (docs/results.md, "Fine-tuning"):
# the CPU-scale network (ResNet-18, CIFAR variant, quarter width) trained
# from scratch on all 25,000 training images of CIFAR-10 classes 0-4
# (airplane, automobile, bird, cat, deer) and evaluated on their 5,000 test
# images. Nothing of classes 5-9 is seen. One command, seeded:
#   .venv/bin/python tools/train.py \
#       configs/finetune/resnet18w16_1xb64-pretrain_cifar10-c0-4.py \
#       --work-dir work_dirs/pretrain_cifar10-c0-4 --seed 0 --device cpu
# writes work_dirs/pretrain_cifar10-c0-4/latest.pth, which the fine-tuning
# configs load.
_base_ = ['../resnet/resnet18w16_1xb64-full_cifar10-5k.py']
model = dict(head=dict(num_classes=5, topk=(1, )))
classes = [0, 1, 2, 3, 4]
data = dict(
    train=dict(per_class=None, keep_classes=classes),
    val=dict(keep_classes=classes),
    test=dict(keep_classes=classes))
# 15 epochs of the one-cycle schedule (peak 0.1)
runner = dict(max_epochs=15)
evaluation = dict(
    interval=15, metric='accuracy', metric_options=dict(topk=(1, )))
checkpoint_config = dict(interval=15)
log_config = dict(interval=50)
