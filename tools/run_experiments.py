"""Run a grid of subset-selection experiments and summarise it.

Every (method spec, fraction, seed) is one training run of a full-data
config made into its subset (``apply_geda``) or dynamic-pruning
(``apply_pruning``) version; ``--full`` adds the full-data reference once
per seed. The installed stack trains: an mmcls 0.x config through
``tools/train.py`` (mmcls's own script) in ``.venv``, or an mmpretrain 1.x
config through ``tools/train_mmpretrain.py`` (mmpretrain's own script,
mmengine's Runner) in ``.venv-mmpretrain``; what that stack's hook does not
serve is refused before any run starts. Method specs
(docs/experiments.md): ``geda``, ``geda+w1`` (warm-up), ``geda+r4+gm``,
``geda+e4-gradmatch-r4``, ``geda+nodes=9`` (a method option),
``rs2+replace=true``, ``infobatch-r0.5``,
``randprune-r0.5``, ``full``.

Everything is checked before anything is trained or deleted. A run folder
records the settings that made it (``settings.json``): a finished run with
the same settings is skipped (an interrupted grid resumes), one made with
other settings is refused with both named unless ``--force`` (then it is
trained again). Seeds and fractions given twice are dropped with a message.

Writes ``results.csv`` (a row a run), ``results.md`` (mean +- std over
seeds; paired differences to random, rs2 and full data with 95 %
t-intervals over seeds), ``accuracy_vs_fraction.png``,
``accuracy_vs_samples.png`` and ``accuracy_vs_time.png`` (the
time-to-accuracy front).

Examples:
    .venv/bin/python tools/run_experiments.py \\
        configs/demo/resnet18_1xb64-full_digits.py \\
        --methods geda random --fractions 0.4 --seeds 0 1 --full \\
        --work-dir work_dirs/grid --device cpu --jobs 2
    .venv-mmpretrain/bin/python tools/run_experiments.py \\
        my_mmpretrain_cifar10.py --methods geda rs2 --fractions 0.2 \\
        --seeds 0 --work-dir work_dirs/mmp_grid --device cpu
"""
import argparse
import sys
from typing import List

from mmcls_geda.experiments import (GRAMMAR, GridInterrupted, prepare_grid,
                                    run_grid)
from mmcls_geda.selection.pruning import PruningArgs
from mmcls_geda.stack import STACK

if STACK == 'mmpretrain':
    from mmengine.config import DictAction
else:
    from mmcv import DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument(
        'config',
        help='a full-data config of the installed stack (mmcls 0.x or '
        'mmpretrain 1.x)')
    parser.add_argument(
        '--methods', nargs='+', default=['geda', 'random'], help=GRAMMAR)
    parser.add_argument(
        '--fractions', nargs='+', type=float, default=[0.8, 0.6, 0.4, 0.2])
    parser.add_argument('--seeds', nargs='+', type=int, default=[0])
    parser.add_argument(
        '--full',
        action='store_true',
        help='also train on all the data (once per seed)')
    parser.add_argument(
        '--full-seeds',
        nargs='+',
        type=int,
        default=None,
        help='seeds of the full-data runs (default: --seeds)')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument(
        '--device',
        default=None,
        help="e.g. 'cpu' (on mmpretrain 1.x: cpu or cuda)")
    parser.add_argument(
        '--gpus',
        type=int,
        default=1,
        help='> 1: torch.distributed.run with this many')
    parser.add_argument(
        '--summary-only',
        action='store_true',
        help='train nothing: summarise the planned runs that have finished')
    parser.add_argument(
        '--force',
        action='store_true',
        help='train again the run folders made with other settings')
    parser.add_argument(
        '--anneal',
        type=float,
        default=PruningArgs.anneal,
        help='dynamic pruning: share of the epochs, at the end, on all data')
    parser.add_argument(
        '--jobs',
        type=int,
        default=1,
        help='runs at once (each with --threads threads)')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch threads per run (default: 1 with '
        '--jobs > 1, else torch\'s own default)')
    parser.add_argument(
        '--hook',
        default='{}',
        help='JSON of extra GradNormHook arguments for every subset run '
        '(not seed, method, options or a schedule: the grid sets them)')
    parser.add_argument(
        '--options',
        default='{}',
        help='JSON of method options for every method in --methods, '
        'e.g. \'{"nodes": 5}\' (refused by a method that takes none)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='override settings of the base config, '
        'e.g. data.workers_per_gpu=1')
    return parser.parse_args(argv)


def main(argv=None) -> List[dict]:
    args = parse_args(argv)
    try:
        grid = prepare_grid(
            args.config,
            args.methods,
            args.fractions,
            args.seeds,
            args.work_dir,
            full=args.full,
            full_seeds=args.full_seeds,
            device=args.device,
            gpus=args.gpus,
            jobs=args.jobs,
            threads=args.threads,
            hook=args.hook,
            options=args.options,
            cfg_options=args.cfg_options,
            anneal=args.anneal,
            force=args.force,
            summary_only=args.summary_only)
    except ValueError as error:
        sys.exit(f'run_experiments.py: error: {error}\n(nothing was trained '
                 'or deleted)')
    except KeyboardInterrupt:  # Ctrl-C while the grid is checked
        _interrupted('interrupted while preparing the grid, before any run: '
                     'run the same command again')
    try:
        return run_grid(grid, log=lambda text: print(text, flush=True))
    except RuntimeError as error:  # a run failed: its stdout.txt says why
        sys.exit(f'run_experiments.py: error: {error}')
    except GridInterrupted as stop:  # Ctrl-C during the runs
        _interrupted(str(stop))
    except KeyboardInterrupt:  # Ctrl-C after the runs, at the tables
        _interrupted('interrupted while writing the tables; the finished '
                     'runs are kept: run the same command again (or with '
                     '--summary-only) to write them')


def _interrupted(what: str) -> None:
    """Ctrl-C: one line, no traceback, exit status 130."""
    print(f'run_experiments.py: {what}', file=sys.stderr, flush=True)
    sys.exit(130)


if __name__ == '__main__':
    main()
