"""Per-layer rules: each sample's squared norm of a layer's parameter gradient.

Given a layer's input ``a`` and the loss gradient ``g`` at its output (whole
batch), each rule returns ``||grad_theta_layer L_i||^2`` for every sample
``i`` without forming one gradient per sample for the whole model. See
:func:`conv_sq_norms` for the two exact convolution routes.
"""
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


def conv_sq_norms(layer: nn.Conv2d, a: torch.Tensor,
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
            out += conv_ghost_sq_norms(layer, a, g)
        else:
            out += conv_weight_sq_norms(layer, a, g)
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


def conv_ghost_sq_norms(layer: nn.Conv2d, a: torch.Tensor,
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
    chunk = max(
        1, min(a.shape[0], _MAX_CHUNK, _GHOST_FLOATS // (groups * (h * w)**2)))
    out = []
    for a_part, g_part in zip(a.split(chunk), g.split(chunk)):
        n = a_part.shape[0]
        x = a_part.reshape(n, groups, -1, h * w)
        gram_x = torch.matmul(x.transpose(-1, -2),
                              x).view(n, groups, h, w, h, w)
        rows = gram_x.new_zeros(n, groups, ho, w, ho, w)
        for o, i in row_taps:
            rows[:, :, o, :, o, :] += gram_x[:, :, i, :, i, :]
        gram_p = gram_x.new_zeros(n, groups, ho, wo, ho, wo)
        for o, i in col_taps:
            gram_p[:, :, :, o, :, o] += rows[:, :, :, i, :, i]
        gg = g_part.reshape(n, groups, -1, ho * wo)
        gram_g = torch.matmul(gg.transpose(-1, -2),
                              gg).view(n, groups, ho, wo, ho, wo)
        out.append((gram_p * gram_g).sum(dim=(1, 2, 3, 4, 5)))
    return torch.cat(out)


def conv_weight_sq_norms(layer: nn.Conv2d, a: torch.Tensor,
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


def batchnorm_sq_norms(layer: _BatchNorm, a: torch.Tensor,
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


def linear_sq_norms(layer: nn.Linear, a: torch.Tensor,
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


# Layer type -> its per-sample squared-norm rule (first match wins).
LAYER_NORM_RULES: Dict[type, Callable] = {
    nn.Conv2d: conv_sq_norms,
    _BatchNorm: batchnorm_sq_norms,
    nn.Linear: linear_sq_norms,
}


def rule_for(module: nn.Module) -> Optional[Callable]:
    """The layer's rule, or None for a type without one."""
    for kind, rule in LAYER_NORM_RULES.items():
        if isinstance(module, kind):
            return rule
    return None


def check_supported(model: nn.Module) -> List[Tuple[str, nn.Module, Callable]]:
    """The layers with trainable parameters: ``(name, layer, rule)``.

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
        rule = rule_for(module)
        if rule is None:
            raise TypeError(
                f'layer {name!r} ({type(module).__name__}) has trainable '
                'parameters, and per-sample gradient norms support only '
                'Conv2d, BatchNorm and Linear; use scope="last_layer"')
        if isinstance(module, nn.Conv2d) and (module.padding_mode != 'zeros' or
                                              isinstance(module.padding, str)):
            raise TypeError(
                f'layer {name!r}: padding={module.padding!r}, padding_mode='
                f'{module.padding_mode!r} is not supported (numeric zero '
                'padding only)')
        if isinstance(module, _BatchNorm) and module.running_mean is None:
            raise TypeError(
                f'layer {name!r} has no running statistics, so in eval mode '
                'it normalises with batch statistics and samples interact')
        layers.append((name, module, rule))
    return layers


class _PendingInput:
    """One layer call's input, held until its output's gradient arrives.

    Registered as the output's tensor hook. The input is let go as soon as
    the rule has used it, so each activation is freed during the backward
    pass as without hooks (holding them all to the end cost 15 % of the
    pass in page faults, measured on CPU).
    """
    __slots__ = ('recorder', 'name', 'layer', 'rule', 'input', 'version')

    def __init__(self, recorder: 'SquaredNormRecorder', name: str,
                 layer: nn.Module, rule: Callable, layer_input: torch.Tensor):
        self.recorder, self.name, self.layer, self.rule = (recorder, name,
                                                           layer, rule)
        self.input = layer_input.detach()
        self.version = layer_input._version

    def __call__(self, grad_output: torch.Tensor) -> None:
        a, self.input = self.input, None
        if a._version != self.version:
            raise RuntimeError(
                f'the input of layer {self.name!r} '
                f'({type(self.layer).__name__}) was modified in place after '
                'the forward pass; per-sample norms need it')
        self.recorder.total += self.rule(self.layer, a, grad_output.detach())


class SquaredNormRecorder:
    """Sums every layer's per-sample squared norm during a backward pass.

    Forward hooks on the layers put a tensor hook on each output; the
    backward pass then calls the layer's rule with that output's gradient.
    A layer called twice in one forward pass (shared weights) is refused:
    its per-sample gradient is the sum over the calls, whose norm the
    per-call rules cannot give.

    Args:
        layers: ``(name, layer, rule)`` from :func:`check_supported`.
    """

    def __init__(self, layers: List[Tuple[str, nn.Module, Callable]]):
        self.layers = layers
        self.total: Optional[torch.Tensor] = None
        self._called: Dict[nn.Module, str] = {}
        self._names = {layer: (name, rule) for name, layer, rule in layers}

    def start_batch(self, size: int, device: torch.device) -> None:
        self.total = torch.zeros(size, dtype=torch.float64, device=device)
        self._called = {}

    def _on_forward(self, layer: nn.Module, inputs, output) -> None:
        name, rule = self._names[layer]
        if layer in self._called:
            raise RuntimeError(
                f'layer {name!r} ({type(layer).__name__}) is called more than '
                'once in a forward pass (shared weights): its per-sample '
                'gradient sums the calls, and exact norms of such models are '
                "not supported; use scope='last_layer'")
        self._called[layer] = name
        if output.requires_grad:
            output.register_hook(
                _PendingInput(self, name, layer, rule, inputs[0]))

    @contextmanager
    def attached(self) -> Iterator['SquaredNormRecorder']:
        """The forward hooks, removed on exit."""
        handles = [
            layer.register_forward_hook(self._on_forward)
            for _, layer, _ in self.layers
        ]
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()
