# Dynamic pruning by InfoBatch's rule (docs/pruning.md): the first epoch and
# the last 12.5 % of the epochs see all data; every other epoch drops each
# sample whose last training loss is below the mean with probability 0.5 and
# weights the kept ones 2. The epoch length varies; the learning-rate
# schedule follows the epoch progress, so it is the full-data run's.
_base_ = [
    '../resnet/resnet18_1xb64-full_cifar10.py',
    '../_base_/pruning/infobatch_r0.5.py'
]
data = dict(
    train=dict(
        _delete_=True,
        type='GEDASubsetDataset',
        fraction=1.0,
        dataset={{_base_.data.train}}))
model = dict(type='WeightedImageClassifier', normalize_weights=False)
# the epochs vary in length: the schedule follows the epoch progress
lr_config = dict(
    _delete_=True, policy='EpochProgress', schedule={{_base_.lr_config}})
