"""The demo behind `make demo`: GEDA on real handwritten digits, on CPU.

Trains the demo's ResNet-18 (configs/demo) three ways on scikit-learn's
digits (real data that ships with scikit-learn, so nothing is downloaded):
full data, GEDA at 40 % and random selection at 40 %, with the thesis's
one-cycle schedule; prints a table (method, fraction, top-1, selection
time, training time) and writes the GEDA run's selection report. About
2 minutes on 2 CPU cores.

Usage: python tools/demo.py [--work-dir work_dirs/demo] [--fraction 0.4]
"""
import argparse
import os.path as osp
import shutil
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import run_experiments  # noqa: E402

CONFIG = osp.join(run_experiments.REPO, 'configs', 'demo',
                  'resnet18_1xb64-full_digits.py')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--fraction', type=float, default=0.4)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    shutil.rmtree(args.work_dir, ignore_errors=True)  # a fresh demo each time
    rows = run_experiments.main([
        CONFIG, '--methods', 'geda', 'random', '--fractions',
        str(args.fraction), '--seeds', str(args.seed), '--full',
        '--work-dir', args.work_dir, '--device', 'cpu', '--hook',
        '{"scoring_workers": 0}'
    ])
    print(f'\n{"method":8s} {"fraction":>8s} {"top-1 %":>8s} '
          f'{"selection s":>12s} {"training s":>11s}')
    for r in rows:
        print(f'{r["method"]:8s} {r["fraction"]:8g} {r["top1"]:8.2f} '
              f'{r["selection_s"]:12.2f} {r["train_s"]:11.1f}')
    print(f'(training s: wall time of the run, start-up and evaluation '
          f'included; {rows[0]["pause_s"]:.0f} s of it are the fixed pauses '
          'that mmcv\'s runner takes before each train/val epoch)')
    geda_dir = run_experiments.run_name('geda', args.fraction, args.seed)
    print('\nSelection report (per-class ECDF of the gradient norms, full '
          f'set vs subset): {osp.join(args.work_dir, geda_dir)}/'
          'geda_selection_report.png')


if __name__ == '__main__':
    main()
