"""Per-sample loss-gradient norms at the current parameters.

``g_i = ||grad_theta L(f_theta(x_i), y_i)||_2`` for every sample of a data
loader, in dataset order, without a batch-size-1 loop and without
materialising one gradient per sample for the whole model.

How ``scope='full'`` works: in eval mode (BatchNorm on its running
statistics) samples do not interact, so one backward pass of the summed
per-sample losses gives every sample's gradient with respect to every layer
output. A tensor hook on each Conv2d / BatchNorm / Linear output (registered
in the forward pass, before any in-place op touches that output) receives
that gradient ``g``; the layer's input ``a`` was kept by a forward hook
until then, and is let go right after.
Each convolution's per-sample squared weight-gradient norm then comes from

* the per-sample gradients themselves, from a grouped weight-gradient
  convolution with the samples folded into the groups (cheap when the
  output has many positions and few channels: early layers), or
* the Gram ("ghost norm") identity
  ``||sum_t p_t g_t^T||^2 = sum_{t,t'} (p_t . p_t') (g_t . g_t')`` over
  output positions ``t`` (cheap for late, low-resolution layers),

whichever a cost model of multiply-adds finds cheaper for that layer
(:func:`~mmcls_geda.scoring.layer_norms.conv_sq_norms`); BatchNorm and Linear
layers have closed forms. The backward pass is asked for the input's
gradient only, so autograd skips the weight-gradient kernels and no
parameter's ``.grad`` is touched.
"""
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, SequentialSampler

from .adapters import Adapter, last_linear, make_adapter
from .distributed import dist_info, gather_strided, shard
from .engine_utils import ProgressBar, is_module_wrapper, print_log
from .layer_norms import SquaredNormRecorder, check_supported

SCOPES = ('full', 'last_layer', 'input')


def _full_batch(adapter: Adapter, recorder: SquaredNormRecorder,
                images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    recorder.start_batch(images.shape[0], images.device)
    images = images.detach().requires_grad_(True)
    # gradients even when the caller runs under torch.no_grad()
    with recorder.attached(), torch.enable_grad():
        losses = adapter.losses(images, labels)
        # asking for the input's gradient only: no weight-gradient kernels
        torch.autograd.grad(losses.sum(), images)
    return recorder.total.sqrt()


def _last_layer_factors(adapter: Adapter, images: torch.Tensor,
                        labels: torch.Tensor,
                        fc: nn.Linear) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(g, h)``: the loss gradient at the final Linear's output and its
    input, with a column of ones when it has a bias. The per-sample
    gradient of that layer's weight and bias is the outer product
    ``g h^T``; its norm is ``||g|| ||h||``."""
    seen = {}

    def keep(module, inputs, output):
        seen['h'], seen['z'] = inputs[0], output

    handle = fc.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            losses = adapter.losses(images, labels)
            (g, ) = torch.autograd.grad(losses.sum(), seen['z'])
    finally:
        handle.remove()
    g = g.double().reshape(g.shape[0], -1)
    h = seen['h'].detach().double().reshape(g.shape[0], -1)
    if fc.bias is not None:
        h = torch.cat([h, torch.ones_like(h[:, :1])], dim=1)
    return g, h


@contextmanager
def preserved_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode inside; every submodule's own train/eval flag restored
    after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def check_loader(data_loader: DataLoader) -> None:
    if not isinstance(data_loader.sampler, SequentialSampler):
        raise ValueError(
            'scoring needs a loader that yields the dataset in order '
            f'(SequentialSampler), got {type(data_loader.sampler).__name__}')


def _run_pass(model: nn.Module, adapter: Adapter, data_loader: DataLoader,
              batch_fn: Callable, device: Optional[torch.device], logger,
              name: str) -> Tuple[np.ndarray, np.ndarray]:
    """``batch_fn(images, labels) -> (B, ...)`` over the loader, in eval mode.

    Distributed: every rank runs a strided share, and all ranks get the
    full arrays in dataset order.
    """
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device('cpu')
    rank, world = dist_info()
    loader = data_loader if world == 1 else shard(data_loader, rank, world)
    outputs, labels = [], []
    bar = _progress(len(loader.dataset) * world) if rank == 0 else None
    start = time.perf_counter()
    with preserved_mode(model):
        for batch in loader:
            images, target = adapter.unpack(batch)
            images, target = images.to(device), target.to(device)
            out = batch_fn(images, target)
            outputs.append(out.detach().cpu().double())
            labels.append(target.cpu().long())
            if bar is not None:
                bar.update(num_tasks=images.shape[0] * world)
    elapsed = time.perf_counter() - start
    out_np = torch.cat(outputs).numpy() if outputs else np.zeros(0)
    labels_np = torch.cat(labels).numpy() if labels else np.zeros(0, np.int64)
    if world > 1:
        out_np, labels_np = gather_strided(out_np, labels_np, world)
    if rank == 0:
        print_log(
            f'\n{name}: {labels_np.size} samples in {elapsed:.1f}s '
            f'({labels_np.size / max(elapsed, 1e-9):.1f} samples/s, '
            f'{world} process(es))',
            logger=logger)
    return out_np, labels_np


def grad_norms(model: nn.Module,
               data_loader: DataLoader,
               *,
               scope: str = 'full',
               device: Optional[torch.device] = None,
               logger=None) -> Tuple[np.ndarray, np.ndarray]:
    """Per-sample gradient norms of the model's loss, in dataset order.

    Args:
        model: An mmcls classifier (``ImageClassifier``; wrapped in
            MMDataParallel / MMDistributedDataParallel is fine), an
            mmpretrain 1.x classifier (its data preprocessor, backbone,
            neck and head; an mmengine model wrapper is fine) or a plain
            torch module that maps images to logits (cross-entropy loss).
        data_loader: Yields mmcls batch dicts (``img``, ``gt_label``),
            mmengine batches (``inputs``, ``data_samples``) for an
            mmpretrain model, or ``(x, y)`` pairs, in dataset order (a
            SequentialSampler). With
            torch.distributed initialised, every rank scores a strided share
            of its dataset and all ranks get the full arrays.
        scope: ``'full'`` (all trainable parameters), ``'last_layer'`` (the
            final Linear layer's weight and bias) or ``'input'``: the norm
            of the input itself, ``||x||``, not of a gradient (a sanity
            baseline that needs no backward pass).
        device: Where to compute; default: where the model's parameters are.
        logger: mmcv logger for the timing line (None: print).

    Returns:
        tuple[np.ndarray, np.ndarray]: ``(norms, labels)``, float64 and
        int64, one entry per dataset sample.

    The model is scored in eval mode; afterwards its parameters, buffers,
    ``.grad``s and each submodule's train/eval flag are as before.
    """
    if scope not in SCOPES:
        raise ValueError(f'unknown scope {scope!r}; choose one of '
                         f'{list(SCOPES)}')
    check_loader(data_loader)
    if is_module_wrapper(model):
        model = model.module  # the inner module: no DDP all-reduce
    adapter = make_adapter(model)
    if scope == 'full':
        recorder = SquaredNormRecorder(check_supported(model))

        def batch_fn(images, labels):
            return _full_batch(adapter, recorder, images, labels)
    elif scope == 'last_layer':
        fc = last_linear(model)

        def batch_fn(images, labels):
            g, h = _last_layer_factors(adapter, images, labels, fc)
            return g.norm(dim=1) * h.norm(dim=1)
    else:

        def batch_fn(images, labels):
            return images.double().flatten(1).norm(dim=1)

    return _run_pass(model, adapter, data_loader, batch_fn, device, logger,
                     f'grad_norms(scope={scope!r})')


def grad_embeddings(model: nn.Module,
                    data_loader: DataLoader,
                    *,
                    device: Optional[torch.device] = None,
                    logger=None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample last-layer gradients, in factored form.

    Sample ``i``'s gradient of the loss with respect to the final Linear
    layer's weight and bias is ``g_i [h_i, 1]^T`` (``g_i`` the loss gradient
    at the logits, ``p - y`` for cross-entropy; ``h_i`` the penultimate
    feature): the embedding CRAIG and GRAD-MATCH use. It is returned as the
    two factors, so memory stays ``n (C + d + 1)`` rather than
    ``n C (d + 1)`` (CIFAR-100: 30 M instead of 2.6 G numbers); the
    selection methods work from ``e_i . e_j = (g_i . g_j)(h_i . h_j)``.

    Returns:
        tuple[np.ndarray, np.ndarray, np.ndarray]: ``(g, h, labels)``:
        (n, C) and (n, d + 1) float64, and (n,) int64, in dataset order.
    """
    check_loader(data_loader)
    if is_module_wrapper(model):
        model = model.module
    adapter = make_adapter(model)
    fc = last_linear(model)
    width = {}

    def batch_fn(images, labels):
        g, h = _last_layer_factors(adapter, images, labels, fc)
        width['g'] = g.shape[1]
        return torch.cat([g, h], dim=1)

    joined, labels = _run_pass(model, adapter, data_loader, batch_fn, device,
                               logger, 'grad_embeddings')
    cut = width.get('g', fc.out_features)
    return joined[:, :cut], joined[:, cut:], labels


def _progress(total: int):
    return ProgressBar(total)
