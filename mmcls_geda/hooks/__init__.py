from .grad_norm_hook import GradNormHook

__all__ = ['GradNormHook']
