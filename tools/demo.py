"""The demo behind `make demo`: GEDA vs random on real digits, on CPU.

Trains the demo's ResNet-18 (configs/demo) on scikit-learn's digits (real
data that ships with scikit-learn, so nothing is downloaded): GEDA and
random selection at 40 % over three paired seeds, and full data once, with
the thesis's one-cycle schedule, two single-thread runs at a time. Prints
each method's mean +- std over the seeds and GEDA's paired difference to
random with its 95 % t-interval, and writes the GEDA runs' selection
reports. About 3 minutes on 2 CPU cores.

The work dir is the demo's own: a new or empty folder, or one an earlier
demo wrote (its runs are trained again); any other folder is refused, and
nothing outside the demo's own outputs is touched. Every argument is
checked before anything is deleted.

Usage: .venv/bin/python tools/demo.py
    [--work-dir work_dirs/demo] [--fraction 0.4]
    [--seeds 0 1 2] [--jobs 2]
"""
import argparse
import os
import os.path as osp
import shutil
import sys

import numpy as np

from mmcls_geda.experiments import (FIGURES, FULL, GridInterrupted,
                                    check_work_dir, clear_results,
                                    paired_difference, prepare_grid, run_grid)
from mmcls_geda.selection import record

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs', 'demo', 'resnet18_1xb64-full_digits.py')
MARKER = '.mmcls_geda_demo'  # what makes a folder the demo's own
METHODS = ('geda', 'random')


def check_demo_dir(work_dir: str) -> None:
    """SystemExit unless ``work_dir`` is new, empty or the demo's own."""
    try:
        check_work_dir(work_dir)
    except ValueError as error:
        raise SystemExit(f'demo.py: error: {error}') from None
    marker = osp.join(work_dir, MARKER)
    if osp.isdir(work_dir) and os.listdir(work_dir) and not osp.isfile(marker):
        raise SystemExit(
            f'--work-dir {work_dir} is not empty and was not written by the '
            'demo; give a new or empty folder (nothing was changed)')


def claim_work_dir(work_dir: str, runs) -> None:
    """Make ``work_dir`` the demo's, clearing only its earlier outputs
    (the summaries first, so none points at a deleted run).

    Raises:
        SystemExit: For a non-empty folder that no demo wrote.
    """
    check_demo_dir(work_dir)
    os.makedirs(work_dir, exist_ok=True)
    open(osp.join(work_dir, MARKER), 'w').close()
    clear_results(work_dir)
    for name in FIGURES:
        if osp.isfile(osp.join(work_dir, name)):
            os.remove(osp.join(work_dir, name))
    for name in runs:  # the demo's own earlier runs: trained again
        shutil.rmtree(osp.join(work_dir, name), ignore_errors=True)


def print_summary(rows, fraction: float) -> None:
    """Mean +- std per method, and GEDA - random with its interval."""
    print(f'\n{"method":8s} {"fraction":>8s} {"seeds":>5s} '
          f'{"top-1 % (mean ± std)":>21s} {"selection s":>11s} '
          f'{"training s":>10s}')
    for method in (FULL, ) + METHODS:
        group = [r for r in rows if r['method'] == method]
        top1 = np.array([float(r['top1']) for r in group])
        std = top1.std(ddof=1) if top1.size > 1 else 0.0
        print(f'{method:8s} {float(group[0]["fraction"]):8g} '
              f'{top1.size:5d} {top1.mean():14.2f} ± {std:5.2f} '
              f'{np.mean([r["selection_s"] for r in group]):11.2f} '
              f'{np.mean([r["train_s"] for r in group]):10.1f}')
    mean, low, high, n = paired_difference(rows, 'geda', fraction, 'random')
    if n < 2:
        print(f'\nGEDA - random, one seed: {mean:+.2f} points (no interval '
              'from one seed; give --seeds 0 1 2).')
    else:
        verdict = ('GEDA beats random here'
                   if low > 0 else 'random beats GEDA here'
                   if high < 0 else 'within noise: the interval holds 0')
        print(f'\nGEDA - random, paired over {n} seeds: {mean:+.2f} points, '
              f'95 % t-interval [{low:+.2f}, {high:+.2f}] ({verdict}).')
    print('A small demo (450 test digits); docs/results.md has the CIFAR-10 '
          'measurements. Figures differ a little between machines (CPU '
          'kernels and thread counts change the floating-point sums).')
    print(f'(training s: wall time of a run, start-up and evaluation '
          f'included; {rows[0]["pause_s"]:.0f} s of it are the fixed pauses '
          'that mmcv\'s runner takes before each train/val epoch)')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--fraction', type=float, default=0.4)
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--jobs', type=int, default=2)
    args = parser.parse_args(argv)
    check_demo_dir(args.work_dir)
    try:  # every check before anything is deleted
        grid = prepare_grid(
            CONFIG,
            METHODS, [args.fraction],
            args.seeds,
            args.work_dir,
            full=True,
            full_seeds=args.seeds[:1],
            device='cpu',
            jobs=args.jobs,
            threads=1,
            hook={'scoring_workers': 0},
            force=True)
    except ValueError as error:
        raise SystemExit(f'demo.py: error: {error}\n(nothing was changed)')
    claim_work_dir(args.work_dir, [run.name for run in grid.runs])
    grid.refresh()
    try:
        rows = run_grid(grid, log=lambda text: print(text, flush=True))
    except GridInterrupted as stop:  # Ctrl-C: one line, no traceback
        print(f'demo.py: {stop}', file=sys.stderr, flush=True)
        sys.exit(130)
    print_summary(rows, args.fraction)
    geda_dir = next(r.name for r in grid.runs if r.spec.text == 'geda')
    print('\nSelection report (per-class ECDF of the gradient norms, full '
          f'set vs subset): {osp.join(args.work_dir, geda_dir)}/'
          f'{record.REPORT_PNG}')


if __name__ == '__main__':
    sys.exit(main())
