"""Torch: per-sample scores of a model over a data loader (no runner).

- :mod:`.adapters`: how a classifier's per-sample loss is reached.
- :mod:`.layer_norms`: per-layer rules for per-sample squared gradient
  norms (Linear, Conv2d by two exact routes, BatchNorm) and the recorder
  that sums them during one backward pass.
- :mod:`.passes`: the batched passes, :func:`grad_norms` and
  :func:`grad_embeddings`.
- :mod:`.distributed`: strided shards and their gather.
- :mod:`.reference`: the batch-size-1 autograd reference (tests).
"""
from .passes import SCOPES, grad_embeddings, grad_norms
from .reference import grad_norms_loop

__all__ = ['SCOPES', 'grad_embeddings', 'grad_norms', 'grad_norms_loop']
