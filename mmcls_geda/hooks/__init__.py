from .grad_norm_hook import GradNormHook
from .pruning_hook import DynamicPruningHook

__all__ = ['DynamicPruningHook', 'GradNormHook']
