"""mmpretrain 1.x / mmengine glue (see docs/mmpretrain.md).

Importing it registers ``GEDASubsetDataset`` (a subset whose items carry
their weight and index in the data sample's metainfo), ``LocalCIFAR10`` and
``LocalCIFAR100`` in ``mmpretrain.registry.DATASETS``,
``WeightedImageClassifier`` (per-sample loss weights, recorded per-sample
losses) in ``mmpretrain.registry.MODELS``, ``EpochPlanSampler``
(each epoch's plan, of its own length) in ``DATA_SAMPLERS``,
``EpochProgressParamSchedulerHook`` (schedules by epoch progress) and
``GradNormHook`` (one selection before the first epoch, or a per-epoch
method's subset every epoch: budget schedules, recorded losses, dynamic
pruning; ``DynamicPruningHook`` its short name for pruning) in
``mmpretrain.registry.HOOKS``; :func:`apply_geda` and
:func:`apply_pruning` (InfoBatch's rule) write them into an mmengine
config.
"""
from .cifar import LocalCIFAR10, LocalCIFAR100
from .config import apply_geda, apply_pruning
from .hook import GradNormHook
from .model import WeightedImageClassifier
from .progress import EpochProgressParamSchedulerHook
from .pruning_hook import DynamicPruningHook
from .sampler import EpochPlanSampler
from .subset import GEDASubsetDataset

__all__ = [
    'apply_geda', 'apply_pruning', 'DynamicPruningHook', 'EpochPlanSampler',
    'EpochProgressParamSchedulerHook', 'GEDASubsetDataset', 'GradNormHook',
    'LocalCIFAR10', 'LocalCIFAR100', 'WeightedImageClassifier'
]
