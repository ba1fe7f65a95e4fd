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
(:func:`_conv_sq_norms`); BatchNorm and Linear
layers have closed forms. The backward pass is asked for the input's
gradient only, so autograd skips the weight-gradient kernels and no
parameter's ``.grad`` is touched.
"""
import time
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from mmcv.parallel import is_module_wrapper
from mmcv.utils import print_log
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader, SequentialSampler, Subset

SCOPES = ('full', 'last_layer', 'input')


# --- batches and the model's per-sample loss -----------------------------------


def unpack_batch(batch) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(images, labels)`` from an mmcls batch dict or an ``(x, y)`` pair."""
    if isinstance(batch, dict):
        images, labels = batch['img'], batch.get('gt_label')
        if labels is None:
            raise ValueError(
                'the scoring batches carry no "gt_label": the scoring '
                "pipeline must keep labels (Collect keys=['img', "
                "'gt_label'])")
    else:
        images, labels = batch[0], batch[1]
    # mmcv's collate wraps non-stacked fields in DataContainers
    images = getattr(images, 'data', [images])[0] if not torch.is_tensor(
        images) else images
    labels = getattr(labels, 'data', [labels])[0] if not torch.is_tensor(
        labels) else labels
    return images, labels.reshape(-1)


def classifier_parts(model: nn.Module):
    """The pieces of an mmcls classifier that the scores need.

    Returns:
        tuple: ``(features, logits, per_sample_loss)`` callables.
    """
    if hasattr(model, 'extract_feat') and hasattr(model, 'head'):
        head = model.head
        if not hasattr(head, 'compute_loss'):
            raise TypeError(f'{type(head).__name__} has no compute_loss: '
                            'gradient norms need an mmcls ClsHead')

        def logits(feats):
            return head.simple_test(feats, softmax=False, post_process=False)

        def loss(scores, labels):
            return head.compute_loss(scores, labels,
                                     reduction_override='none')

        return model.extract_feat, logits, loss
    # a plain torch classifier: logits out, cross-entropy
    return (lambda x: x), model, (
        lambda scores, labels: F.cross_entropy(scores, labels,
                                               reduction='none'))


def last_linear(model: nn.Module) -> nn.Linear:
    """The classifier's final Linear layer (the head's, for mmcls models)."""
    root = getattr(model, 'head', model)
    linears = [m for m in root.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise TypeError(f'{type(root).__name__} has no nn.Linear: the '
                        "'last_layer' scope needs a linear classifier layer")
    return linears[-1]


# --- per-layer per-sample squared norms ------------------------------------------


def _conv_sq_norms(layer: nn.Conv2d, a: torch.Tensor,
                   g: torch.Tensor) -> torch.Tensor:
    """Per-sample squared norm of a Conv2d's weight (and bias) gradient.

    Per layer, the cheaper of two exact routes (``T``/``S`` output/input
    positions, ``W`` weights, ``C_in``/``C`` input/output channels per
    group):

    * the per-sample gradients themselves: one grouped weight-gradient
      convolution per chunk of samples, ``T * W`` multiply-adds a sample
      (early, high-resolution layers);
    * the ghost norm: Gram matrices of the input positions and of the
      output-gradient positions, ``S^2 * C_in + T^2 * C`` multiply-adds a
      sample and group (late, low-resolution layers).

    The factors turn multiply-adds into time, as measured on CPU: the
    batched Gram products run at about 1/2.2 of the convolution's rate,
    and the grouped convolution slows down as the per-sample gradient
    grows (fewer samples fit a chunk): ``1 + W / 2^18``.
    """
    b, groups = a.shape[0], layer.groups
    t = g.shape[-2] * g.shape[-1]
    s = a.shape[-2] * a.shape[-1]
    c_in, c_out = a.shape[1] // groups, g.shape[1] // groups
    out = torch.zeros(b, dtype=g.dtype, device=g.device)
    if layer.weight.requires_grad:
        weights = layer.weight.numel()
        per_sample_cost = t * weights * (1 + weights / 2**18)
        ghost_cost = 2.2 * groups * (s * s * c_in + t * t * c_out)
        if ghost_cost < per_sample_cost:
            out += _conv_ghost_sq_norms(layer, a, g)
        else:
            out += _conv_weight_sq_norms(layer, a, g)
    if layer.bias is not None and layer.bias.requires_grad:
        out += g.reshape(b, g.shape[1], -1).sum(-1).pow(2).sum(-1)
    return out


# Chunk sizes of the two routes below, measured on a 2-core CPU: a chunk's
# Gram matrices stay within 2 MiB, its per-sample gradients within 4 MiB
# and 16 samples (2-4x faster than one call over a batch of 64, whose
# result falls out of cache).
_GHOST_FLOATS = 2**19
_PER_SAMPLE_FLOATS = 2**20
_MAX_CHUNK = 16


def _tap_slices(size_in: int, size_out: int, kernel: int, stride: int,
                padding: int, dilation: int) -> List[Tuple[slice, slice]]:
    """Along one spatial axis, for each kernel tap: ``(outputs, inputs)``.

    ``outputs`` are the output positions whose window puts this tap inside
    the (unpadded) input, ``inputs`` the input positions it reads there;
    taps that only ever read padding are left out.
    """
    pairs = []
    for tap in range(kernel):
        offset = tap * dilation - padding  # input index of output 0
        first = max(0, -(offset // stride))  # ceil(-offset / stride)
        last = min(size_out - 1, (size_in - 1 - offset) // stride)
        if first > last:
            continue
        start = first * stride + offset
        pairs.append((slice(first, last + 1),
                      slice(start, start + (last - first) * stride + 1,
                            stride)))
    return pairs


def _conv_ghost_sq_norms(layer: nn.Conv2d, a: torch.Tensor,
                         g: torch.Tensor) -> torch.Tensor:
    """Per-sample squared weight-gradient norms by the ghost-norm identity.

    ``||sum_t p_t g_t^T||^2 = sum_{t,t'} (p_t . p_t') (g_t . g_t')`` with
    ``p_t`` the input patch and ``g_t`` the output gradient at output
    position ``t``, per group. The patch Gram matrix needs no unfolding:
    ``p_t . p_t' = sum_k x_{pos(k,t)} . x_{pos(k,t')}`` sums the Gram
    matrix of the input positions over the kernel taps ``k``, row taps and
    column taps separately (zero padding contributes nothing, so it is
    never materialised).
    """
    groups = layer.groups
    h, w = a.shape[-2:]
    ho, wo = g.shape[-2:]
    row_taps = _tap_slices(h, ho, layer.kernel_size[0], layer.stride[0],
                           layer.padding[0], layer.dilation[0])
    col_taps = _tap_slices(w, wo, layer.kernel_size[1], layer.stride[1],
                           layer.padding[1], layer.dilation[1])
    chunk = max(1, min(a.shape[0], _MAX_CHUNK,
                       _GHOST_FLOATS // (groups * (h * w)**2)))
    out = []
    for a_part, g_part in zip(a.split(chunk), g.split(chunk)):
        n = a_part.shape[0]
        x = a_part.reshape(n, groups, -1, h * w)
        gram_x = torch.matmul(x.transpose(-1, -2), x).view(
            n, groups, h, w, h, w)
        rows = gram_x.new_zeros(n, groups, ho, w, ho, w)
        for o, i in row_taps:
            rows[:, :, o, :, o, :] += gram_x[:, :, i, :, i, :]
        gram_p = gram_x.new_zeros(n, groups, ho, wo, ho, wo)
        for o, i in col_taps:
            gram_p[:, :, :, o, :, o] += rows[:, :, :, i, :, i]
        gg = g_part.reshape(n, groups, -1, ho * wo)
        gram_g = torch.matmul(gg.transpose(-1, -2), gg).view(
            n, groups, ho, wo, ho, wo)
        out.append((gram_p * gram_g).sum(dim=(1, 2, 3, 4, 5)))
    return torch.cat(out)


def _conv_weight_sq_norms(layer: nn.Conv2d, a: torch.Tensor,
                          g: torch.Tensor) -> torch.Tensor:
    """Per-sample squared weight-gradient norms from the gradients themselves.

    One convolution weight-gradient per chunk of samples, with the samples
    folded into the groups, so each group's result is one sample's gradient.
    """
    w = layer.weight
    chunk = max(1, min(a.shape[0], _MAX_CHUNK,
                       _PER_SAMPLE_FLOATS // w.numel()))
    out = []
    for a_part, g_part in zip(a.split(chunk), g.split(chunk)):
        n = a_part.shape[0]
        per_sample = torch.nn.grad.conv2d_weight(
            a_part.reshape(1, -1, *a.shape[2:]),
            (n * w.shape[0], *w.shape[1:]),
            g_part.reshape(1, -1, *g.shape[2:]),
            stride=layer.stride,
            padding=layer.padding,
            dilation=layer.dilation,
            groups=n * layer.groups)
        out.append(per_sample.reshape(n, -1).pow(2).sum(1))
    return torch.cat(out)


def _bn_sq_norms(layer: _BatchNorm, a: torch.Tensor,
                 g: torch.Tensor) -> torch.Tensor:
    """Per-sample squared norm of an eval-mode BatchNorm's affine gradient."""
    b, c = a.shape[0], a.shape[1]
    a, g = a.reshape(b, c, -1), g.reshape(b, c, -1)
    out = torch.zeros(b, dtype=g.dtype, device=g.device)
    g_sum = g.sum(-1)  # (B, C): the bias gradient
    if layer.weight is not None and layer.weight.requires_grad:
        # sum_t g (a - mean) / std, without materialising (a - mean) / std
        std = torch.sqrt(layer.running_var + layer.eps)
        grad_w = (torch.einsum('bct,bct->bc', g, a) -
                  layer.running_mean * g_sum) / std
        out += grad_w.pow(2).sum(-1)
    if layer.bias is not None and layer.bias.requires_grad:
        out += g_sum.pow(2).sum(-1)
    return out


def _linear_sq_norms(layer: nn.Linear, a: torch.Tensor,
                     g: torch.Tensor) -> torch.Tensor:
    """Per-sample squared norm of a Linear's gradient (2-D inputs)."""
    b = a.shape[0]
    a, g = a.reshape(b, -1, a.shape[-1]), g.reshape(b, -1, g.shape[-1])
    out = torch.zeros(b, dtype=g.dtype, device=g.device)
    if layer.weight.requires_grad:
        if a.shape[1] == 1:  # one position: the outer product's norm
            out += (a.pow(2).sum((1, 2)) * g.pow(2).sum((1, 2)))
        else:
            out += (torch.matmul(a, a.transpose(1, 2)) *
                    torch.matmul(g, g.transpose(1, 2))).sum((1, 2))
    if layer.bias is not None and layer.bias.requires_grad:
        out += g.sum(1).pow(2).sum(-1)
    return out


_RULES: Dict[type, Callable] = {
    nn.Conv2d: _conv_sq_norms,
    _BatchNorm: _bn_sq_norms,
    nn.Linear: _linear_sq_norms,
}


def _rule_for(module: nn.Module) -> Optional[Callable]:
    for kind, rule in _RULES.items():
        if isinstance(module, kind):
            return rule
    return None


def check_supported(model: nn.Module) -> List[Tuple[nn.Module, Callable]]:
    """The layers with trainable parameters and their norm rules.

    Raises:
        TypeError: For a layer with trainable parameters of an unsupported
            type, or a BatchNorm that would use batch statistics in eval
            mode (then samples are not independent).
    """
    layers = []
    for name, module in model.named_modules():
        own = [p for p in module.parameters(recurse=False) if p.requires_grad]
        if not own:
            continue
        rule = _rule_for(module)
        if rule is None:
            raise TypeError(
                f'layer {name!r} ({type(module).__name__}) has trainable '
                'parameters, and per-sample gradient norms support only '
                'Conv2d, BatchNorm and Linear; use scope="last_layer"')
        if isinstance(module, nn.Conv2d) and (
                module.padding_mode != 'zeros'
                or isinstance(module.padding, str)):
            raise TypeError(
                f'layer {name!r}: padding={module.padding!r}, padding_mode='
                f'{module.padding_mode!r} is not supported (numeric zero '
                'padding only)')
        if isinstance(module, _BatchNorm) and module.running_mean is None:
            raise TypeError(
                f'layer {name!r} has no running statistics, so in eval mode '
                'it normalises with batch statistics and samples interact')
        layers.append((module, rule))
    return layers


@contextmanager
def _layer_hooks(layers, sq_norms: List[torch.Tensor]) -> Iterator[None]:
    """Hooks that add each layer's per-sample squared norm into sq_norms[0]."""

    def on_forward(module, inputs, output):
        # The closure lives as long as the autograd graph; holding the input
        # only until the hook has run lets each activation be freed during
        # the backward pass, as without hooks (holding them all to the end
        # cost 15% of the pass in page faults, measured on CPU).
        kept = [inputs[0].detach()]
        version = inputs[0]._version
        rule = rules[module]

        def on_grad(g):
            a = kept.pop()
            if a._version != version:
                raise RuntimeError(
                    f'the input of {type(module).__name__} was modified in '
                    'place after the forward pass; per-sample norms need it')
            sq_norms[0] = sq_norms[0] + rule(module, a, g.detach())

        if output.requires_grad:
            output.register_hook(on_grad)

    rules = dict(layers)
    handles = [m.register_forward_hook(on_forward) for m, _ in layers]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


# --- the passes ------------------------------------------------------------------


def _full_batch(model, parts, images, labels, layers) -> torch.Tensor:
    features, logits, loss_fn = parts
    sq = [torch.zeros(images.shape[0], dtype=torch.float64,
                      device=images.device)]
    images = images.detach().requires_grad_(True)
    with _layer_hooks(layers, sq):
        losses = loss_fn(logits(features(images)), labels)
        # asking for the input's gradient only: no weight-gradient kernels
        torch.autograd.grad(losses.sum(), images)
    return sq[0].sqrt()


def _last_layer_factors(model, parts, images, labels,
                        fc) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(g, h)``: the loss gradient at the final Linear's output and its
    input, with a column of ones when it has a bias. The per-sample
    gradient of that layer's weight and bias is the outer product
    ``g h^T``; its norm is ``||g|| ||h||``."""
    features, logits, loss_fn = parts
    seen = {}

    def keep(module, inputs, output):
        seen['h'], seen['z'] = inputs[0], output

    handle = fc.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            losses = loss_fn(logits(features(images)), labels)
    finally:
        handle.remove()
    h, z = seen['h'].detach(), seen['z']
    (g, ) = torch.autograd.grad(losses.sum(), z)
    g = g.double().reshape(g.shape[0], -1)
    h = h.double().reshape(h.shape[0], -1)
    if fc.bias is not None:
        h = torch.cat([h, torch.ones_like(h[:, :1])], dim=1)
    return g, h


def _last_layer_batch(model, parts, images, labels, fc) -> torch.Tensor:
    g, h = _last_layer_factors(model, parts, images, labels, fc)
    return g.norm(dim=1) * h.norm(dim=1)


def _shard(data_loader: DataLoader, rank: int, world: int) -> DataLoader:
    """This rank's strided share of the loader's dataset, in order, unpadded."""
    dataset = data_loader.dataset
    return DataLoader(
        Subset(dataset, range(rank, len(dataset), world)),
        batch_size=data_loader.batch_size,
        shuffle=False,
        num_workers=data_loader.num_workers,
        collate_fn=data_loader.collate_fn,
        pin_memory=data_loader.pin_memory)


@contextmanager
def preserved_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode inside; every submodule's own train/eval flag restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def _check_loader(data_loader: DataLoader) -> None:
    if not isinstance(data_loader.sampler, SequentialSampler):
        raise ValueError(
            'scoring needs a loader that yields the dataset in order '
            f'(SequentialSampler), got {type(data_loader.sampler).__name__}')


def _run_pass(model: nn.Module, data_loader: DataLoader, batch_fn: Callable,
              device: Optional[torch.device], logger,
              name: str) -> Tuple[np.ndarray, np.ndarray]:
    """``batch_fn(images, labels) -> (B, ...)`` over the loader, in eval mode.

    Distributed: every rank runs a strided share, and all ranks get the
    full arrays in dataset order.
    """
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device('cpu')
    rank, world = (dist.get_rank(), dist.get_world_size()) if (
        dist.is_available() and dist.is_initialized()) else (0, 1)
    loader = data_loader if world == 1 else _shard(data_loader, rank, world)
    outputs, labels = [], []
    bar = _progress(len(loader.dataset) * world) if rank == 0 else None
    start = time.perf_counter()
    with preserved_mode(model):
        for batch in loader:
            images, target = unpack_batch(batch)
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
        out_np, labels_np = _gather_strided(out_np, labels_np, world)
    if rank == 0:
        print_log(
            f'\n{name}: {labels_np.size} samples in {elapsed:.1f}s '
            f'({labels_np.size / max(elapsed, 1e-9):.1f} samples/s, '
            f'{world} process(es))', logger=logger)
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
            MMDataParallel / MMDistributedDataParallel is fine) or a plain
            torch module that maps images to logits (cross-entropy loss).
        data_loader: Yields mmcls batch dicts (``img``, ``gt_label``) or
            ``(x, y)`` pairs, in dataset order (a SequentialSampler). With
            torch.distributed initialised, every rank scores a strided share
            of its dataset and all ranks get the full arrays.
        scope: ``'full'`` (all trainable parameters), ``'last_layer'`` (the
            final Linear layer's weight and bias) or ``'input'`` (``||x||``,
            a sanity baseline).
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
    _check_loader(data_loader)
    if is_module_wrapper(model):
        model = model.module  # the inner module: no DDP all-reduce
    parts = classifier_parts(model)
    if scope == 'full':
        layers = check_supported(model)

        def batch_fn(images, labels):
            return _full_batch(model, parts, images, labels, layers)
    elif scope == 'last_layer':
        fc = last_linear(model)

        def batch_fn(images, labels):
            return _last_layer_batch(model, parts, images, labels, fc)
    else:

        def batch_fn(images, labels):
            return images.double().flatten(1).norm(dim=1)

    return _run_pass(model, data_loader, batch_fn, device, logger,
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
    _check_loader(data_loader)
    if is_module_wrapper(model):
        model = model.module
    parts = classifier_parts(model)
    fc = last_linear(model)
    width = {}

    def batch_fn(images, labels):
        g, h = _last_layer_factors(model, parts, images, labels, fc)
        width['g'] = g.shape[1]
        return torch.cat([g, h], dim=1)

    joined, labels = _run_pass(model, data_loader, batch_fn, device, logger,
                               'grad_embeddings')
    cut = width.get('g', fc.out_features)
    return joined[:, :cut], joined[:, cut:], labels


def _progress(total: int):
    import mmcv
    return mmcv.ProgressBar(total)


def _gather_strided(norms: np.ndarray, labels: np.ndarray,
                    world: int) -> Tuple[np.ndarray, np.ndarray]:
    """All ranks' strided shares, interleaved back into dataset order."""
    shares: List = [None] * world
    dist.all_gather_object(shares, (norms, labels))
    n = sum(s[1].size for s in shares)
    all_norms = np.empty((n, ) + norms.shape[1:])
    all_labels = np.empty(n, dtype=np.int64)
    for r, (share_norms, share_labels) in enumerate(shares):
        all_norms[r::world] = share_norms
        all_labels[r::world] = share_labels
    return all_norms, all_labels


def grad_norms_loop(model: nn.Module,
                    data_loader: DataLoader,
                    scope: str = 'full') -> np.ndarray:
    """Reference: one autograd backward per sample (slow; for checks).

    ``scope='last_layer'`` restricts the norm to the final Linear layer's
    parameters.
    """
    if is_module_wrapper(model):
        model = model.module
    parts = classifier_parts(model)
    features, logits, loss_fn = parts
    if scope == 'last_layer':
        params = [p for p in last_linear(model).parameters() if p.requires_grad]
    else:
        params = [p for p in model.parameters() if p.requires_grad]
    out = []
    with preserved_mode(model):
        for batch in data_loader:
            images, labels = unpack_batch(batch)
            for x, y in zip(images, labels):
                loss = loss_fn(logits(features(x[None])), y[None]).sum()
                grads = torch.autograd.grad(loss, params)
                out.append(
                    float(torch.sqrt(sum(g.double().pow(2).sum()
                                         for g in grads))))
    return np.array(out)
