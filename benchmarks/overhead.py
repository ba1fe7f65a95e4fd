"""What GEDA costs around training, on real CIFAR-10 images (CPU).

1. ``wrapper_ratio``: training iterations/s through ``GEDASubsetDataset``
   at fraction 1.0 divided by iterations/s through the plain dataset
   (same model, pipeline, loader settings, mmcls ``build_dataloader``);
   interleaved rounds, median of the per-round ratios.
2. ``selection_vs_epoch``: the hook's selection (gradient pass over the
   whole training set + the exact GEDA solver) divided by the time of one
   full-data training epoch.

Data: the first --samples images of the CIFAR-10 copy rebuilt from
../shared/data/cifar10 (``LocalCIFAR10``, per class in official order),
the training pipeline of configs/_base_/datasets/cifar10_bs16.py, batch
64, ``workers_per_gpu=0`` (no process noise); model: ResNet_CIFAR-18 at
--width (64 is the standard width).

Usage: python benchmarks/overhead.py --data data/cifar10 [--samples 2000]
Last line: wrapper_ratio=... selection_vs_epoch=...
"""
import argparse
import logging
import os
import platform
import time

import numpy as np
import torch
from mmcls.datasets import build_dataloader, build_dataset
from mmcls.models import build_classifier
from mmcv import Config

import mmcls_geda  # noqa: F401
from mmcls_geda.apis import SelectionArgs, score_and_select
from mmcls_geda.selection import record

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_epoch(model, loader, optimizer) -> float:
    model.train()
    start = time.perf_counter()
    for batch in loader:
        optimizer.zero_grad()
        losses = model(
            img=batch['img'], gt_label=batch['gt_label'], return_loss=True)
        losses['loss'].backward()
        optimizer.step()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', default='data/cifar10')
    parser.add_argument('--samples', type=int, default=2000)
    parser.add_argument('--width', type=int, default=64)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = Config.fromfile(
        os.path.join(REPO, 'configs/_base_/datasets/cifar10_bs16.py'))
    inner = dict(
        type='LocalCIFAR10',
        data_prefix=args.data,
        pipeline=base.train_pipeline,
        per_class=args.samples // 10)
    plain = build_dataset(inner)
    wrapped = build_dataset(
        dict(type='GEDASubsetDataset', fraction=1.0, dataset=inner))
    wrapped.set_indices(np.arange(len(plain)))  # every sample, in order
    loaders = {
        name:
        build_dataloader(
            ds,
            64,
            0,
            dist=False,
            shuffle=True,
            seed=0,
            persistent_workers=False)
        for name, ds in (('plain', plain), ('wrapped', wrapped))
    }
    model = build_classifier(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='ResNet_CIFAR',
                depth=18,
                num_stages=4,
                out_indices=(3, ),
                style='pytorch',
                stem_channels=args.width,
                base_channels=args.width),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead',
                num_classes=10,
                in_channels=args.width * 8,
                loss=dict(type='CrossEntropyLoss'))))
    model.init_weights()
    init = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    # the selection, as the hook runs it (scoring pipeline, solver, record)
    start = time.perf_counter()
    wrapper = build_dataset(
        dict(type='GEDASubsetDataset', fraction=0.2, dataset=inner))
    run = score_and_select(
        model,
        wrapper,
        SelectionArgs(scoring_batch_size=64, scoring_workers=0),
        logger=logging.getLogger('bench'))
    record.save_record(
        '/tmp/geda_overhead_bench',
        record.make_record(
            run.selection,
            fingerprint=wrapper.fingerprint,
            scope='full',
            weighted=False,
            epoch=0,
            scoring_s=run.scoring_s))
    selection_s = time.perf_counter() - start
    model.load_state_dict(init)

    train_epoch(model, loaders['plain'], optimizer)  # warm-up
    ratios, epochs = [], []
    for _ in range(args.rounds):
        t_plain = train_epoch(model, loaders['plain'], optimizer)
        t_wrapped = train_epoch(model, loaders['wrapped'], optimizer)
        ratios.append(t_plain / t_wrapped)  # iterations/s, wrapped / plain
        epochs.append(t_plain)
        model.load_state_dict(init)
    epoch_s = float(np.median(epochs))
    print(f'machine: {platform.machine()}, {os.cpu_count()} cores, '
          f'{args.threads} torch threads; ResNet_CIFAR-18 width '
          f'{args.width}; {len(plain)} real CIFAR-10 images, batch 64')
    print(f'plain epoch {epoch_s:.2f}s; wrapped/plain iterations/s per '
          f'round {np.round(ratios, 3).tolist()}; selection (gradient pass '
          f'+ solver) {selection_s:.2f}s')
    print(f'wrapper_ratio={float(np.median(ratios)):.3f} '
          f'selection_vs_epoch={selection_s / epoch_s:.3f}')


if __name__ == '__main__':
    main()
