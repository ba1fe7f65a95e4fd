"""``DynamicPruningHook`` for mmpretrain 1.x: a short name for
``GradNormHook`` serving a pruning rule, as on mmcls 0.x; no logic of its
own."""
from mmpretrain.registry import HOOKS

from ...selection.registry import pruning_hook_settings
from .hook import GradNormHook


@HOOKS.register_module()
class DynamicPruningHook(GradNormHook):
    """``GradNormHook(method=..., options=dict(ratio, anneal), seed=...)``
    for the pruning rule ``rule``: InfoBatch's (``'infobatch'``) or its
    random control (``'random'``, method ``random_pruning``).

    Needs what ``mmcls_geda.apply_pruning`` writes into an mmengine config:
    ``train_dataloader.dataset`` in ``GEDASubsetDataset`` with
    ``fraction=1.0``, ``train_dataloader.sampler`` of type
    ``EpochPlanSampler``, ``default_hooks.param_scheduler`` of type
    ``EpochProgressParamSchedulerHook`` and ``WeightedImageClassifier``
    with ``normalize_weights=False`` (``configs/mmpretrain/
    resnet18_8xb16-infobatch-r0.5_cifar10.py``).

    Args:
        **kwargs: The settings of :class:`~mmcls_geda.selection.pruning.
            PruningArgs` (``ratio`` 0.5, ``rule`` ``'infobatch'``,
            ``anneal`` 0.125, ``seed`` 0), each checked here.
    """

    def __init__(self, **kwargs):
        super().__init__(
            **pruning_hook_settings(type(self).__name__, **kwargs))
