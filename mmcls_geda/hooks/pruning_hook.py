"""``DynamicPruningHook``: a short name for ``GradNormHook`` serving a
pruning rule (``docs/pruning.md``); it holds no logic of its own."""
from mmcv.runner import HOOKS

from ..selection.registry import pruning_hook_settings
from .grad_norm_hook import GradNormHook


@HOOKS.register_module()
class DynamicPruningHook(GradNormHook):
    """``GradNormHook(method=..., options=dict(ratio, anneal), seed=...)``
    for the pruning rule ``rule``: InfoBatch's (``'infobatch'``) or its
    random control (``'random'``, method ``random_pruning``).

    Every pruned epoch drops each sample whose last training loss is below
    the mean with probability ``ratio`` and weights the kept ones
    ``1 / (1 - ratio)``; the first epoch and the last ``anneal`` share of
    the epochs are full (:class:`~mmcls_geda.selection.epoch_rules.Pruned`,
    ``docs/pruning.md``). Needs what ``mmcls_geda.apply_pruning`` writes:
    ``data.train`` in ``GEDASubsetDataset`` with ``fraction=1.0``,
    ``sampler=dict(type='EpochPlanSampler')``, the schedules wrapped by
    ``policy='EpochProgress'`` and ``WeightedImageClassifier`` with
    ``normalize_weights=False``. Register with ``priority='HIGHEST'``.

    Args:
        **kwargs: The settings of :class:`~mmcls_geda.selection.pruning.
            PruningArgs` (``ratio`` 0.5, ``rule`` ``'infobatch'``,
            ``anneal`` 0.125, ``seed`` 0), each checked here.
    """

    def __init__(self, **kwargs):
        super().__init__(
            **pruning_hook_settings(type(self).__name__, **kwargs))
