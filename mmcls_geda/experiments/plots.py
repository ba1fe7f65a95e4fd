"""A grid's figures: accuracy against the data fraction, and the
time-to-accuracy front against samples processed and wall time."""
import os.path as osp
from collections import defaultdict
from typing import List, Sequence

import numpy as np

from .spec import FULL
from .stats import cells, front, t_interval

FIGURES = ('accuracy_vs_fraction.png', 'accuracy_vs_samples.png',
           'accuracy_vs_time.png')
# what the cost axes read from a row, and their labels
COSTS = {
    'accuracy_vs_samples.png':
    (lambda r: float(r['samples']) if r.get('samples') not in
     (None, '') else float('nan'), 'training samples processed (all epochs)'),
    'accuracy_vs_time.png': (lambda r: float(r['total_s']),
                             'whole-run wall time, selection included (s)'),
}


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _half(values) -> float:
    mean, low, _ = t_interval(values)
    return 0.0 if np.isnan(low) else mean - low


def front_points(rows: Sequence[dict], cost) -> List[dict]:
    """Per cell: mean cost and top-1 with their 95 % half-widths, and
    whether the cell is on the front (no other cell is cheaper and at
    least as accurate, or as cheap and more accurate)."""
    points = []
    for (method, fraction), group in sorted(
            cells(rows).items(), key=lambda kv: kv[0][0]):
        costs = [cost(r) for r in group]
        top1 = [float(r['top1']) for r in group]
        if any(np.isnan(costs)):
            continue
        points.append(
            dict(
                method=method,
                fraction=fraction,
                cost=float(np.mean(costs)),
                cost_half=_half(costs),
                top1=float(np.mean(top1)),
                top1_half=_half(top1)))
    for point, on in zip(points,
                         front([(p['cost'], p['top1']) for p in points])):
        point['front'] = on
    return points


def _plot_front(rows, name, work_dir) -> None:
    cost, label = COSTS[name]
    points = front_points(rows, cost)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours, labelled = {}, set()
    for p in points:
        colour = colours.setdefault(p['method'], f'C{len(colours) % 10}')
        ax.errorbar(
            p['cost'],
            p['top1'],
            xerr=p['cost_half'],
            yerr=p['top1_half'],
            fmt='o',
            color=colour,
            capsize=3,
            ms=5,
            label=None if p['method'] in labelled else p['method'])
        labelled.add(p['method'])
        if p['method'] != FULL:
            ax.annotate(
                p['fraction'] or '*', (p['cost'], p['top1']),
                textcoords='offset points',
                xytext=(4, 4),
                fontsize=7,
                color=colour)
    on = sorted((p['cost'], p['top1']) for p in points if p['front'])
    if on:
        xs, ys = zip(*on)
        ax.plot(xs, ys, 'k--', lw=1, drawstyle='steps-post', label='front')
        ax.scatter(
            xs, ys, s=140, facecolors='none', edgecolors='k', linewidths=1.2)
    ax.set_xlabel(label)
    ax.set_ylabel('top-1 accuracy (%)')
    ax.set_title(
        'Accuracy vs cost (mean, 95% t-intervals over seeds; '
        'circled: the front; labels: fraction)',
        fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(osp.join(work_dir, name), dpi=120)
    plt.close(fig)


def _plot_fractions(rows, work_dir) -> None:
    plt = _pyplot()
    by_method = defaultdict(dict)
    for (method, fraction), group in cells(rows).items():
        share = float(np.mean([float(r['fraction']) for r in group]))
        by_method[method][share] = [float(r['top1']) for r in group]
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, by_fraction in sorted(by_method.items()):
        fractions = sorted(by_fraction)
        spans = [t_interval(by_fraction[f]) for f in fractions]
        means = np.array([m for m, _, _ in spans])
        half = np.nan_to_num(np.array([m - low for m, low, _ in spans]))
        if method == FULL:
            ax.axhline(
                means[0],
                color='k',
                ls='--',
                lw=1,
                label=f'full data ({means[0]:.1f}%)')
        else:
            ax.errorbar(
                fractions,
                means,
                yerr=half,
                marker='o',
                capsize=3,
                label=method)
    ax.set_xlabel('fraction of the training data (pruning: measured share)')
    ax.set_ylabel('top-1 accuracy (%)')
    ax.set_title('Accuracy vs data fraction (mean, 95% t-interval)')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(osp.join(work_dir, FIGURES[0]), dpi=120)
    plt.close(fig)


def plot(rows: Sequence[dict], work_dir: str) -> None:
    """Write the three figures of :data:`FIGURES` into ``work_dir``."""
    _plot_fractions(rows, work_dir)
    for name in FIGURES[1:]:
        _plot_front(rows, name, work_dir)
