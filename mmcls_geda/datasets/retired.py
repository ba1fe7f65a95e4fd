"""Config names the project no longer builds: each is refused when the
config is built, before training, with what to write instead."""
from mmcls.datasets import DATASETS

# what apply_pruning writes since 2026-12-07
PRUNING_CONFIG = (
    "data.train = dict(type='GEDASubsetDataset', fraction=1.0, "
    "dataset=<the dataset>), sampler = dict(type='EpochPlanSampler') and, "
    "in custom_hooks, dict(type='GradNormHook', method='infobatch' (or "
    "'random_pruning'), options=dict(ratio=..., anneal=...), seed=..., "
    "priority='HIGHEST') (or rebuild the config with "
    'mmcls_geda.apply_pruning)')


@DATASETS.register_module()
class DynamicPruningDataset:
    """Removed: dynamic pruning is served by ``GEDASubsetDataset`` with
    ``fraction=1.0``; building one raises a ValueError saying so."""

    def __init__(self, *args, **kwargs):
        raise ValueError(
            'DynamicPruningDataset (configs written by apply_pruning '
            'before 2026-12-07) was removed: dynamic pruning is served by '
            f'GradNormHook through GEDASubsetDataset. Write {PRUNING_CONFIG}')
