"""Selection time per method at CIFAR-10 size, on real embeddings.

The scores and last-layer gradient embeddings of all 50,000 real CIFAR-10
training images (rebuilt from ../shared/data/cifar10, test-style pipeline)
under a randomly initialised mmcls ResNet_CIFAR-18 (cached in --cache),
then, at --fraction: GEDA (exact) and random on the norms, CRAIG and
GRAD-MATCH on the factored embeddings. Times are the selection only.

Usage: python benchmarks/gradient_matching.py --data data/cifar10
Last line:
geda_s=... random_s=... craig_s=... gradmatch_s=... gradmatch_err=...
"""
import argparse
import logging
import os
import platform

import numpy as np
import torch
from mmcls.models import build_classifier
from mmcv import Config
from torch.utils.data import DataLoader, TensorDataset

from mmcls_geda.datasets import load_cifar_arrays
from mmcls_geda.scoring import grad_embeddings
from mmcls_geda.selection import select_subset

# mmcls's own ResNet_CIFAR-18 config (configs/_base_/models/resnet18_cifar.py)
MODEL = Config.fromfile(
    os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        'configs/_base_/models/resnet18_cifar.py')).model


def embeddings(data: str, cache: str):
    if os.path.isfile(cache):
        saved = np.load(cache)
        return saved['g'], saved['h'], saved['labels']
    images, labels = load_cifar_arrays(data, 'cifar10', train=True)
    mean = np.array([125.307, 122.961, 113.8575]).reshape(1, 3, 1, 1)
    std = np.array([51.5865, 50.847, 51.255]).reshape(1, 3, 1, 1)
    x = torch.from_numpy(
        ((images.transpose(0, 3, 1, 2) - mean) / std).astype(np.float32))
    torch.manual_seed(0)
    model = build_classifier(MODEL)
    model.init_weights()
    g, h, labels = grad_embeddings(
        model,
        DataLoader(TensorDataset(x, torch.from_numpy(labels)), batch_size=256))
    np.savez(cache, g=g, h=h, labels=labels)
    return g, h, labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', default='data/cifar10')
    parser.add_argument('--cache', default='data/cifar10_resnet18_emb.npz')
    parser.add_argument('--fraction', type=float, default=0.2)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.getLogger('mmcv').setLevel(logging.WARNING)  # no init report
    g, h, labels = embeddings(args.data, args.cache)
    norms = np.linalg.norm(g, axis=1) * np.linalg.norm(h, axis=1)
    results = {}
    for method, scores in [('geda', norms), ('random', norms),
                           ('craig', (g, h)), ('gradmatch', (g, h))]:
        sel = select_subset(scores, labels, args.fraction, method)
        results[method] = sel
        extra = (f', per-class {sel.method_objective[0]:.3f}..'
                 if sel.method_objective else '')
        print(f'{method:10s} {sel.time_s:8.3f}s  kept {len(sel)}{extra}')
    print(f'machine: {platform.machine()}, {os.cpu_count()} cores; '
          f'{labels.size} CIFAR-10 samples, embeddings {g.shape[1]}x'
          f'{h.shape[1]} (factored), fraction {args.fraction}')
    err = float(np.mean(results['gradmatch'].method_objective))
    print(' '.join(f'{m}_s={results[m].time_s:.3f}'
                   for m in results) + f' gradmatch_err={err:.4f}')


if __name__ == '__main__':
    main()
