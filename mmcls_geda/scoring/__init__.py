"""Torch: per-sample scores of a model over a data loader (no runner)."""
from .per_sample import SCOPES, grad_embeddings, grad_norms, grad_norms_loop

__all__ = ['SCOPES', 'grad_embeddings', 'grad_norms', 'grad_norms_loop']
