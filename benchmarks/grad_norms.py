"""Cost of per-sample gradient norms against training, on real CIFAR-10.

mmcls ResNet_CIFAR-18 (random init), the first N training images of the
CIFAR-10 copy rebuilt from ../shared/data/cifar10 (see --data), batch 64.
Everything is timed in one run, after one warm-up batch each; ``full``,
``last`` and ``train`` are timed in --rounds interleaved rounds and each
ratio is the median over rounds (the machine is noisy):

* ``full``: exact per-sample norms over all parameters (grad_norms);
* ``last``: the final Linear layer's norms (scope='last_layer');
* ``loop``: a batch-size-1 autograd loop (reference; on --loop-samples);
* ``train``: one epoch of plain training steps over the same N samples
  (train mode, forward + backward + SGD step, batch 64).

``mac_floor`` is the exact pass's lower bound in multiply-adds as a
fraction of a training step (see :func:`mac_floor`): the per-sample norm
of a convolution costs ``min(T W, S^2 C_in + T^2 C_out)`` multiply-adds by
the cheaper exact route (``T``/``S`` output/input positions, ``W``
weights), which for high-resolution layers is their whole weight gradient
(``T W``), so ``full_vs_train`` stays above it.

Usage: python benchmarks/grad_norms.py --data data/cifar10 [--samples 256]
Last line: full_vs_train=... last_vs_train=... loop_vs_full=... max_rel_err=...
mac_floor=...
"""
import argparse
import logging
import os
import platform
import time

import numpy as np
import torch
from mmcls.models import build_classifier
from mmcv import Config
from torch.utils.data import DataLoader, TensorDataset

from mmcls_geda.datasets.cifar import load_cifar_arrays
from mmcls_geda.scoring import grad_norms, grad_norms_loop

# mmcls's own ResNet_CIFAR-18 config (configs/_base_/models/resnet18_cifar.py)
MODEL = Config.fromfile(
    os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        'configs/_base_/models/resnet18_cifar.py')).model


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def mac_floor(model, image):
    """The exact pass's lower bound in multiply-adds, as a fraction of a
    training step's: (forward + input gradient + the cheaper exact norm
    route of every conv) / (forward + input gradient + weight gradient),
    convolutions only (they are >99 % of a ResNet's multiply-adds)."""
    shapes = []

    def keep(layer, inputs, output):
        shapes.append((inputs[0].shape, output.shape, layer.weight.numel()))

    handles = [
        m.register_forward_hook(keep) for m in model.modules()
        if isinstance(m, torch.nn.Conv2d)
    ]
    try:
        with torch.no_grad():
            model.eval()
            model(img=image, return_loss=False)
    finally:
        for h in handles:
            h.remove()
    fwd = norms = 0
    for a, g, weights in shapes:
        s, t = a[-1] * a[-2], g[-1] * g[-2]
        fwd += t * weights
        norms += min(t * weights, s * s * a[1] + t * t * g[1])
    return (2 * fwd + norms) / (3 * fwd)


def train_epoch(model, loader):
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for x, y in loader:
        opt.zero_grad()
        losses = model(img=x, gt_label=y, return_loss=True)
        losses['loss'].backward()
        opt.step()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', default='data/cifar10')
    parser.add_argument('--samples', type=int, default=256)
    parser.add_argument('--loop-samples', type=int, default=64)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.getLogger('mmcv').setLevel(logging.WARNING)  # no init report
    torch.manual_seed(0)
    images, labels = load_cifar_arrays(args.data, 'cifar10', train=True)
    mean = np.array([125.307, 122.961, 113.8575]).reshape(1, 3, 1, 1)
    std = np.array([51.5865, 50.847, 51.255]).reshape(1, 3, 1, 1)
    x = torch.from_numpy(
        ((images[:args.samples].transpose(0, 3, 1, 2) - mean) / std).astype(
            np.float32))
    y = torch.from_numpy(labels[:args.samples]).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=64)
    loop_loader = DataLoader(
        TensorDataset(x[:args.loop_samples], y[:args.loop_samples]),
        batch_size=64)
    model = build_classifier(MODEL)
    model.init_weights()

    warm = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=64)
    grad_norms(model, warm)
    grad_norms(model, warm, scope='last_layer')
    init = {k: v.clone() for k, v in model.state_dict().items()}
    train_epoch(model, warm)
    model.load_state_dict(init)
    loop, t_loop = timed(lambda: grad_norms_loop(model, loop_loader))
    times = {'full': [], 'last': [], 'train': []}
    for _ in range(args.rounds):
        (full, _), t = timed(lambda: grad_norms(model, loader))
        times['full'].append(t)
        _, t = timed(lambda: grad_norms(model, loader, scope='last_layer'))
        times['last'].append(t)
        _, t = timed(lambda: train_epoch(model, loader))
        times['train'].append(t)
        model.load_state_dict(init)  # every round scores the same weights
    rel_err = float(np.max(np.abs(full[:args.loop_samples] - loop) / loop))
    t_full, t_last, t_train = (
        float(np.median(times[k])) for k in ('full', 'last', 'train'))
    full_vs_train = float(np.median(np.divide(times['full'], times['train'])))
    last_vs_train = float(np.median(np.divide(times['last'], times['train'])))

    floor = mac_floor(model, x[:1])
    n, m = args.samples, args.loop_samples
    print(f'machine: {platform.machine()}, {os.cpu_count()} cores, torch '
          f'{torch.__version__}, {args.threads} threads; ResNet_CIFAR-18, '
          f'{n} real CIFAR-10 images, batch 64')
    for name, secs, count in [('full', t_full, n), ('last_layer', t_last, n),
                              ('bs=1 loop', t_loop, m),
                              ('train step', t_train, n)]:
        print(f'{name:11s} {count / secs:8.1f} samples/s')
    loop_per_sample, full_per_sample = t_loop / m, t_full / n
    print(f'full_vs_train={full_vs_train:.3f} '
          f'last_vs_train={last_vs_train:.3f} '
          f'loop_vs_full={loop_per_sample / full_per_sample:.2f} '
          f'max_rel_err={rel_err:.2e} mac_floor={floor:.3f}')


if __name__ == '__main__':
    main()
