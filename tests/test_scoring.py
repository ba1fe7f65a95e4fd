"""Per-sample gradient norms against a batch-size-1 autograd loop."""
import os

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

from mmcls_geda.scoring import grad_norms, grad_norms_loop
from .conftest import free_port, make_model, tiny_data


@pytest.mark.parametrize('trained', [False, True])
def test_full_matches_bs1_autograd(trained):
    data = tiny_data()
    model = make_model(trained=trained, data=data)
    loader = DataLoader(data, batch_size=10)
    norms, labels = grad_norms(model, loader)
    ref = grad_norms_loop(model, loader)
    assert norms.dtype == np.float64 and norms.shape == (24, )
    assert np.array_equal(labels, data.tensors[1].numpy())
    np.testing.assert_allclose(norms, ref, rtol=1e-4)


def test_full_covers_both_conv_routes_groups_and_bias(monkeypatch):
    """Grouped convs with bias, at a resolution where both routes are used."""
    from mmcls_geda.scoring import layer_norms
    used = set()
    for route in ('conv_ghost_sq_norms', 'conv_weight_sq_norms'):
        original = getattr(layer_norms, route)

        def counted(*args, _route=route, _original=original):
            used.add(_route)
            return _original(*args)

        monkeypatch.setattr(layer_norms, route, counted)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=True), nn.BatchNorm2d(8),
        nn.ReLU(inplace=True),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=2, bias=True),
        nn.ReLU(), nn.Conv2d(16, 64, 3, padding=2, dilation=2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 4))
    with torch.no_grad():  # non-trivial running statistics
        model[1].running_mean.uniform_(-0.5, 0.5)
        model[1].running_var.uniform_(0.5, 2.0)
    data = TensorDataset(
        torch.randn(12, 3, 12, 12), torch.randint(0, 4, (12, )))
    loader = DataLoader(data, batch_size=5)
    norms, _ = grad_norms(model, loader)
    assert used == {'conv_ghost_sq_norms', 'conv_weight_sq_norms'}
    np.testing.assert_allclose(
        norms, grad_norms_loop(model, loader), rtol=1e-4)


def test_frozen_parameters_are_left_out():
    data = tiny_data(8)
    model = make_model()
    for p in model.backbone.layer1.parameters():
        p.requires_grad_(False)
    loader = DataLoader(data, batch_size=4)
    norms, _ = grad_norms(model, loader)
    np.testing.assert_allclose(
        norms, grad_norms_loop(model, loader), rtol=1e-4)


def test_last_layer_matches_autograd_on_fc():
    data = tiny_data()
    model = make_model(trained=True, data=data)
    loader = DataLoader(data, batch_size=7)
    norms, _ = grad_norms(model, loader, scope='last_layer')
    np.testing.assert_allclose(
        norms, grad_norms_loop(model, loader, scope='last_layer'), rtol=1e-5)
    # the closed form ||p - y|| * sqrt(||h||^2 + 1) for cross-entropy
    model.eval()
    with torch.no_grad():
        x, y = data.tensors
        h = model.extract_feat(x)[-1]
        p = torch.softmax(model.head.fc(h), 1)
        closed = (p - torch.eye(5)[y]).norm(
            dim=1) * torch.sqrt(h.pow(2).sum(1) + 1)
    np.testing.assert_allclose(norms, closed.double().numpy(), rtol=1e-5)


def test_input_scope():
    data = tiny_data(6)
    norms, _ = grad_norms(
        make_model(), DataLoader(data, batch_size=4), scope='input')
    ref = data.tensors[0].double().flatten(1).norm(dim=1).numpy()
    np.testing.assert_allclose(norms, ref, rtol=1e-12)


def test_model_unchanged_afterwards():
    data = tiny_data(10)
    model = make_model(trained=True, data=data)
    model.train()
    model.backbone.layer2.eval()  # a mixed state must come back as it was
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.5)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    grad_norms(model, DataLoader(data, batch_size=4))
    assert [m.training for m in model.modules()] == modes
    after = model.state_dict()
    assert all(torch.equal(state[k], after[k]) for k in state)
    assert all(torch.all(p.grad == 0.5) for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())


def test_bad_input():
    data = tiny_data(4)
    model = make_model()
    with pytest.raises(ValueError, match='unknown scope'):
        grad_norms(model, DataLoader(data), scope='weights')
    with pytest.raises(ValueError, match='SequentialSampler'):
        grad_norms(model, DataLoader(data, shuffle=True))
    odd = nn.Sequential(nn.Flatten(), nn.Linear(768, 8), nn.LayerNorm(8),
                        nn.Linear(8, 5))
    with pytest.raises(TypeError, match="'2' \\(LayerNorm\\)"):
        grad_norms(odd, DataLoader(data))


class _OverwritesLinearInput(nn.Module):
    """Changes the classifier layer's input in place after using it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(768, 5)

    def forward(self, x):
        h = x.flatten(1) * 1.0
        logits = self.fc(h)
        h.mul_(2.0)
        return logits


def test_input_changed_in_place_after_the_layer_is_an_error():
    with pytest.raises(
            RuntimeError,
            match=r"layer 'fc' \(Linear\) was modified in place"):
        grad_norms(_OverwritesLinearInput(), DataLoader(tiny_data(4)))


# --- distributed: 2 CPU processes, gloo --------------------------------------


def _score_on_rank(rank, world, port, out_dir):
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        data = tiny_data(11)  # odd: the shards differ in size
        norms, labels = grad_norms(make_model(),
                                   DataLoader(data, batch_size=4))
        np.save(os.path.join(out_dir, f'norms{rank}.npy'), norms)
        np.save(os.path.join(out_dir, f'labels{rank}.npy'), labels)
    finally:
        dist.destroy_process_group()


def test_distributed_two_processes_match_single(tmp_path):
    mp.spawn(_score_on_rank, args=(2, free_port(), str(tmp_path)), nprocs=2)
    data = tiny_data(11)
    single, labels = grad_norms(make_model(), DataLoader(data, batch_size=4))
    for rank in range(2):
        norms = np.load(tmp_path / f'norms{rank}.npy')
        np.testing.assert_allclose(norms, single, rtol=1e-5)
        assert np.array_equal(np.load(tmp_path / f'labels{rank}.npy'), labels)


@pytest.mark.parametrize(
    'conv',
    [
        dict(),
        dict(stride=2),
        dict(dilation=2, padding=2),
        dict(groups=2),
        dict(kernel_size=1, padding=0, stride=2),
        dict(kernel_size=(3, 1), padding=(1, 0)),
        dict(kernel_size=5, padding=4, stride=3),
        dict(
            kernel_size=(3, 5), padding=(3, 1), stride=(2, 1),
            dilation=(1, 2)),
        # a 2x2 input: some taps read only zero padding
        dict(kernel_size=3, padding=2, stride=4, size=(2, 2)),
    ])
def test_both_conv_routes_equal_per_sample_autograd(conv):
    from mmcls_geda.scoring.layer_norms import (conv_ghost_sq_norms,
                                                conv_weight_sq_norms)
    torch.manual_seed(0)
    args = dict(kernel_size=3, padding=1, bias=False)
    args.update(conv)
    size = args.pop('size', (7, 9))
    layer = nn.Conv2d(4, 6, **args)
    a = torch.randn(5, 4, *size)
    g = torch.randn_like(layer(a))
    ref = []
    for a_b, g_b in zip(a, g):
        (w, ) = torch.autograd.grad((layer(a_b[None]) * g_b).sum(),
                                    [layer.weight])
        ref.append(float(w.pow(2).sum()))
    for route in (conv_ghost_sq_norms, conv_weight_sq_norms):
        np.testing.assert_allclose(route(layer, a, g).numpy(), ref, rtol=1e-4)
