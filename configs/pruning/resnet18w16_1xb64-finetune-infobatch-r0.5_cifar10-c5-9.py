# Dynamic pruning by InfoBatch's rule in the fine-tuning setting of
# docs/results.md (docs/pruning.md).
_base_ = [
    '../finetune/resnet18w16_1xb64-finetune-full_cifar10-c5-9.py',
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
