"""GEDA solvers: the thesis's MILP (PuLP + CBC) against the exact solver.

Scores are drawn from a skewed (log-normal) distribution at three data-set
shapes, fraction 0.2, N = 5 and N = 50 nodes. The MILP gets a time limit per
class and a time budget per configuration: classes left when the budget is
spent are not solved, and the report says so (and projects the full time
from the per-class mean). The objective gap is taken over the classes both
solved.

Usage: python benchmarks/solver.py [--milp-budget 120] [--quick]
Last line: milp_s=... exact_s=... speedup=... max_objective_gap=...
(CIFAR-10 size, N = 5).
"""
import argparse
import os
import platform
import time

import numpy as np

from mmcls_geda.selection import select_subset

SHAPES = {
    'cifar10': (10, 5000),
    'cifar100': (100, 500),
    'imagenet': (1000, 1300),
}


def run_config(scores, labels, nodes, milp_budget, class_limit):
    """Times and objective gap of both solvers on one configuration."""
    exact = select_subset(scores, labels, 0.2, nodes=nodes)
    classes = np.unique(labels)
    milp_time, solved, limit_hits, gaps = 0.0, 0, 0, []
    for c in classes:
        if milp_time >= milp_budget:
            break
        mask = labels == c
        start = time.perf_counter()
        milp = select_subset(
            scores[mask],
            labels[mask],
            0.2,
            solver='milp',
            nodes=nodes,
            time_limit=class_limit)
        milp_time += time.perf_counter() - start
        solved += 1
        limit_hits += milp.status.count('time_limit')
        gaps.append(milp.objective[0] - exact.objective[int(c)])
    return dict(
        exact_s=exact.time_s,
        milp_s=milp_time,
        milp_classes=solved,
        classes=classes.size,
        limit_hits=limit_hits,
        projected_milp_s=milp_time / solved * classes.size,
        max_gap=float(np.max(np.abs(gaps))),
        min_gap=float(np.min(gaps)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--milp-budget',
        type=float,
        default=120.0,
        help='MILP seconds per configuration')
    parser.add_argument(
        '--class-limit',
        type=float,
        default=20.0,
        help='MILP time limit per class (s)')
    parser.add_argument(
        '--quick', action='store_true', help='CIFAR-10 size only')
    args = parser.parse_args()
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    print(f'machine: {platform.processor() or platform.machine()}, '
          f'{os.cpu_count()} cores, python {platform.python_version()}')
    rng = np.random.default_rng(0)
    first = None
    shapes = {'cifar10': SHAPES['cifar10']} if args.quick else SHAPES
    for name, (classes, per_class) in shapes.items():
        scores = rng.lognormal(sigma=0.8, size=classes * per_class)
        labels = np.repeat(np.arange(classes), per_class)
        for nodes in (5, 50):
            r = run_config(scores, labels, nodes, args.milp_budget,
                           args.class_limit)
            full = r['milp_classes'] == r['classes']
            milp = (f"{r['milp_s']:.2f}s"
                    if full else f"{r['milp_s']:.2f}s for {r['milp_classes']}/"
                    f"{r['classes']} classes (budget hit; projected "
                    f"{r['projected_milp_s']:.0f}s)")
            print(f'{name:9s} {classes}x{per_class} N={nodes:<3d} '
                  f"exact {r['exact_s']:.4f}s  milp {milp}  "
                  f"per-class time-limit hits {r['limit_hits']}  "
                  f"speedup {r['projected_milp_s'] / r['exact_s']:.0f}x  "
                  f"max |gap| {r['max_gap']:.2e}")
            if first is None:
                first = r
    print(f"milp_s={first['milp_s']:.3f} exact_s={first['exact_s']:.5f} "
          f"speedup={first['milp_s'] / first['exact_s']:.0f} "
          f"max_objective_gap={first['max_gap']:.2e}")


if __name__ == '__main__':
    main()
