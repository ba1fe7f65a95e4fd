"""The batch-size-1 reference of per-sample gradient norms (tests, checks)."""
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from .adapters import last_linear, make_adapter
from .engine_utils import is_module_wrapper
from .passes import preserved_mode


def grad_norms_loop(model: nn.Module,
                    data_loader: DataLoader,
                    scope: str = 'full') -> np.ndarray:
    """Reference: one autograd backward per sample (slow; for checks).

    ``scope='last_layer'`` restricts the norm to the final Linear layer's
    parameters.
    """
    if is_module_wrapper(model):
        model = model.module
    adapter = make_adapter(model)
    if scope == 'last_layer':
        params = [
            p for p in last_linear(model).parameters() if p.requires_grad
        ]
    else:
        params = [p for p in model.parameters() if p.requires_grad]
    out = []
    with preserved_mode(model), torch.enable_grad():
        for batch in data_loader:
            images, labels = adapter.unpack(batch)
            for x, y in zip(images, labels):
                loss = adapter.losses(x[None], y[None]).sum()
                grads = torch.autograd.grad(loss, params)
                out.append(
                    float(
                        torch.sqrt(
                            sum(g.double().pow(2).sum() for g in grads))))
    return np.array(out)
