# InfoBatch's rule (r = 0.5) on the 30-epoch CPU-scale protocol of
# docs/results.md: epochs 1-26 prune, epoch 0 and 27-29 train on all data.
_base_ = ['./resnet18w16_1xb64-infobatch-r0.5_cifar10-5k.py']
runner = dict(type='PauselessEpochBasedRunner', max_epochs=30, epoch_pause=0)
evaluation = dict(interval=30)
