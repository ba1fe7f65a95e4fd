# The CPU-scale protocol with a longer schedule: 30 epochs of one-cycle
# (2.5x the thesis's 12), the full-data reference of docs/results.md's
# longer-schedule grid (InfoBatch's claims are for long schedules).
# Evaluated once, at the end; the pauseless runner, as in the grids.
_base_ = ['./resnet18w16_1xb64-full_cifar10-5k.py']
runner = dict(type='PauselessEpochBasedRunner', max_epochs=30, epoch_pause=0)
evaluation = dict(interval=30)
