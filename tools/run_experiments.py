"""Run a grid of subset-selection experiments and summarise it.

Every (method, fraction, seed) is one training run of a full-data mmcls
config turned into its subset version by ``mmcls_geda.apply_geda``; with
``--full`` the full-data config runs once per seed as the reference. Each
run goes through ``tools/train.py`` (or the distributed launcher with
``--gpus N``) with ``--threads`` torch threads; ``--jobs N`` runs N of them
at once (on a 2-core machine: ``--jobs 2 --threads 1``). A run's result
does not depend on ``--jobs``. A run whose ``result.json`` exists is
skipped, so an interrupted grid resumes where it stopped.

A method may carry a schedule (see ``parse_schedule``): ``geda+w1``
scores after one full pass of warm-up, ``geda+r4+gm`` is online GEDA with
GRAD-MATCH weights, ``geda+e4-gradmatch-r4`` is GEDA as a warm start for
GRAD-MATCH; the run names say it (``geda+w1-f0.2-s0``). Every schedule
serves the same number of samples as its fraction.

Comparisons are paired: seed ``s`` fixes the model's initialisation, the
data order and the selection's random choices for every method alike. For
each cell the summary gives the mean +- sample std over seeds and the mean
paired difference to ``random`` at the same fraction (and to full data)
with a 95 % t-interval over the seeds.

Writes to the work dir: ``results.csv`` (one row a run), ``results.md``
(the summary), ``accuracy_vs_fraction.png`` (means with 95 % t-interval
bars) and ``accuracy_vs_time.png``. Selection time (gradient pass + solver) and
training time (the rest of the run's wall time: start-up, data loading,
training, evaluation) are reported apart; ``pause_s`` is the part of the
training time that mmcv's runner spends sleeping (2 s before every train
and val epoch).

Example:
    python tools/run_experiments.py \\
        configs/resnet/resnet18_1xb64-full_cifar10.py \\
        --methods geda random quantile_random ranked_even \\
        --fractions 0.8 0.6 0.4 0.2 --seeds 0 1 2 --full \\
        --work-dir work_dirs/grid --device cpu
"""
import argparse
import csv
import json
import os
import os.path as osp
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmcv import DictAction
from scipy import stats

from mmcls_geda.selection import record

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
FIELDS = [
    'method', 'fraction', 'seed', 'top1', 'top5', 'n_train', 'selection_s',
    'train_s', 'pause_s', 'total_s', 'samples', 'run_dir'
]
# mmcv's EpochBasedRunner sleeps 2 s before every train and val epoch; it is
# part of the wall time, reported apart so that short runs are read right.
RUNNER_PAUSE_S = 2.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config', help='a full-data mmcls config')
    parser.add_argument(
        '--methods',
        nargs='+',
        default=['geda', 'random'],
        help='registered methods, with an optional schedule (geda+w1: '
        'warm-up scoring, random+w1: the same warm-up then a random subset, '
        'geda+r4+gm: online GEDA with GRAD-MATCH weights, '
        'geda+e4-gradmatch-r4: GEDA warm start), or prune-kKEEP')
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
    parser.add_argument('--device', default=None, help="e.g. 'cpu'")
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
        '--anneal',
        type=float,
        default=0.125,
        help='dynamic pruning (methods prune-kKEEP): share of the epochs, '
        'at the end, on all data')
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
        '--hook', default='{}', help='JSON of extra GradNormHook arguments')
    parser.add_argument(
        '--options',
        default='{}',
        help='JSON of method options, e.g. {"nodes": 5}')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='override settings of the base config, '
        'e.g. data.workers_per_gpu=1')
    return parser.parse_args(argv)


def run_name(method: str, fraction: float, seed: int) -> str:
    return f'{method}-f{fraction:g}-s{seed}'


PRUNE = 'prune-k'  # 'prune-k0.7': dynamic pruning, keep=0.7


def pruning_keep(method: str) -> Optional[float]:
    """``keep`` of a dynamic-pruning method name, or None."""
    if not method.startswith(PRUNE):
        return None
    try:
        return float(method[len(PRUNE):])
    except ValueError:
        raise ValueError(f'{method!r}: dynamic pruning is named '
                         f'{PRUNE}KEEP, e.g. {PRUNE}0.7') from None


def parse_schedule(spec: str) -> Tuple[str, dict]:
    """A method spec as (method, schedule's GradNormHook arguments).

    ``METHOD`` alone selects once at epoch 0; ``+`` adds a schedule part:
    ``w1`` warm-up scoring after 1 full pass (``warmup_epochs``), ``r4``
    re-select every 4 epochs (``interval``), ``gm`` GRAD-MATCH weights
    (``weights='gradmatch'``), ``e4-gradmatch-r4`` a second phase from
    epoch 4, GRAD-MATCH every 4 epochs (``then``). E.g. ``geda+r4+gm``
    (online GEDA with weights), ``geda+e4-gradmatch-r4`` (warm start);
    any method takes them, e.g. ``random+w1`` (the warm-up, then random).
    """
    method, *parts = spec.split('+')
    schedule = {}
    for part in parts:
        try:
            if part == 'gm':
                schedule['weights'] = 'gradmatch'
            elif part.startswith('w'):
                schedule['warmup_epochs'] = float(part[1:])
            elif part.startswith('r'):
                schedule['interval'] = int(part[1:])
            elif part.startswith('e') and part.count('-') == 2:
                start, then, every = part[1:].split('-')
                if not every.startswith('r'):
                    raise ValueError
                schedule['then'] = dict(
                    method=then,
                    start_epoch=int(start),
                    interval=int(every[1:]))
            else:
                raise ValueError
        except ValueError:
            raise ValueError(
                f'{spec!r}: unknown schedule part {part!r}; parts are wW '
                '(warm-up passes), rR (interval), gm (GRAD-MATCH weights), '
                'eE-METHOD-rR (second phase), e.g. geda+w1, geda+r4+gm, '
                'geda+e4-gradmatch-r4') from None
    return method, schedule


def make_config(base_cfg, method: str, fraction: float, seed: int, hook: dict,
                options: dict):
    from mmcls_geda import apply_geda, apply_pruning
    if method == 'full':
        return base_cfg
    keep = pruning_keep(method)
    if keep is not None:
        return apply_pruning(
            base_cfg, keep=keep, anneal=options['anneal'], seed=seed)
    method, schedule = parse_schedule(method)
    return apply_geda(
        base_cfg,
        fraction,
        method,
        hook=dict(hook, seed=seed, **schedule),
        **(options if method == 'geda' else {}))


def last_val(log_json: str) -> Dict[str, float]:
    """The last validation entry of an mmcls ``*.log.json``."""
    result = {}
    with open(log_json, encoding='utf-8') as f:
        for line in f:
            entry = json.loads(line)
            if entry.get('mode') == 'val':
                result = entry
    if not result:
        raise RuntimeError(f'{log_json} holds no validation result: the '
                           'config must evaluate (evaluation=dict(...))')
    return result


def run_one(cfg, run_dir: str, seed: int, args) -> dict:
    """Train one configuration; return its result row (and save it)."""
    os.makedirs(run_dir, exist_ok=True)
    config_path = osp.join(run_dir, 'config.py')
    cfg.dump(config_path)
    train = [
        osp.join(REPO, 'tools', 'train.py'), config_path, '--work-dir',
        run_dir, '--seed',
        str(seed)
    ]
    if args.device:
        train += ['--device', args.device]
    if args.gpus > 1:
        cmd = [
            sys.executable, '-m', 'torch.distributed.run',
            f'--nproc_per_node={args.gpus}', *train, '--launcher', 'pytorch'
        ]
    else:
        cmd = [sys.executable, *train]
    env = dict(os.environ)
    if args.threads:
        env.update(
            OMP_NUM_THREADS=str(args.threads),
            MKL_NUM_THREADS=str(args.threads))
    start = time.perf_counter()
    with open(osp.join(run_dir, 'stdout.txt'), 'w') as out:
        proc = subprocess.run(
            cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    total = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f'run {run_dir} failed (exit {proc.returncode}); '
                           f'see {osp.join(run_dir, "stdout.txt")}')
    logs = sorted(f for f in os.listdir(run_dir) if f.endswith('.log.json'))
    val = last_val(osp.join(run_dir, logs[-1]))
    samples = _samples_processed(run_dir)
    selection_s, n_train = selection_time(run_dir)
    epochs = cfg.runner.max_epochs
    val_epochs = epochs // cfg.evaluation.interval if cfg.get(
        'evaluation') else 0
    return dict(
        top1=val['accuracy_top-1'],
        top5=val.get('accuracy_top-5'),
        n_train=n_train,
        pause_s=RUNNER_PAUSE_S * (epochs + val_epochs),
        samples=samples,
        **split_time(total, selection_s))


def split_time(total: float, selection_s: float) -> Dict[str, float]:
    """A run's wall time as rounded total, selection and training seconds.

    Training is computed from the rounded values, so a resumed grid that
    recomputes it from ``result.json`` gets the same number.
    """
    total, selection_s = round(total, 3), round(selection_s, 3)
    return dict(
        total_s=total,
        selection_s=selection_s,
        train_s=round(total - selection_s, 3))


def selection_time(run_dir: str) -> Tuple[float, Optional[int]]:
    """Seconds spent selecting (scoring passes + solver, every selection
    of a schedule) and the subset size, from a run's saved records."""
    sel_path = record.find_record(run_dir)
    if sel_path is None:
        return 0.0, None
    saved = record.load_record(sel_path)
    size = len(saved['selection']['indices'])
    schedule = osp.join(run_dir, record.SCHEDULE_FILE)
    if osp.isfile(schedule):
        with open(schedule, encoding='utf-8') as f:
            events = [
                e for e in json.load(f)['events'] if e['phase'] != 'warmup'
            ]
        return sum(e['scoring_s'] + e['selection_s'] for e in events), size
    return saved['timings']['scoring_s'] + saved['timings']['selection_s'], \
        size


def _samples_processed(run_dir: str) -> Optional[int]:
    """Training samples the run processed (from mmcv's per-epoch logs)."""
    log = osp.join(run_dir, record.PRUNING_LOG)
    if osp.isfile(log):
        with open(log, encoding='utf-8') as f:
            return sum(e['processed'] for e in json.load(f)['epochs'])
    return None


def t_interval(values: np.ndarray,
               level: float = 0.95) -> Tuple[float, float, float]:
    """Mean and the two ends of its t-interval (nan for fewer than 2)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if values.size < 2:
        return mean, float('nan'), float('nan')
    half = stats.t.ppf(0.5 + level / 2, values.size -
                       1) * values.std(ddof=1) / np.sqrt(values.size)
    return mean, mean - half, mean + half


def paired_difference(
        rows: List[dict], method: str, fraction: float,
        reference: str) -> Optional[Tuple[float, float, float, int]]:
    """``top1(method) - top1(reference)`` over the seeds both have: mean,
    95 % t-interval, number of pairs. The reference ``'full'`` is matched
    at any fraction; None without pairs."""

    def by_seed(name, frac):
        return {
            int(r['seed']): float(r['top1'])
            for r in rows if r['method'] == name and (
                name == 'full' or abs(float(r['fraction']) - frac) < 1e-9)
        }

    mine, theirs = by_seed(method, fraction), by_seed(reference, fraction)
    seeds = sorted(set(mine) & set(theirs))
    if not seeds:
        return None
    diffs = np.array([mine[s] - theirs[s] for s in seeds])
    return (*t_interval(diffs), len(seeds))


def _format_difference(diff) -> str:
    if diff is None:
        return '–'
    mean, low, high, n = diff
    if n < 2:
        return f'{mean:+.2f} (n=1)'
    return f'{mean:+.2f} [{low:+.2f}, {high:+.2f}]'


def summarise(rows: List[dict]) -> str:
    """Markdown: per cell, mean +- sample std of top-1 over seeds, the
    paired differences to random and to full data (95 % t-intervals over
    seeds), and the times."""
    cells = defaultdict(list)
    for r in rows:
        cells[(r['method'], float(r['fraction']))].append(r)
    lines = [
        '| method | fraction | top-1 (%) | n | vs random (95% CI) | '
        'vs full (95% CI) | selection (s) | training (s) | '
        'of which runner pauses (s) |', '|---|---|---|---|---|---|---|---|---|'
    ]
    for (method, fraction), group in sorted(
            cells.items(),
            key=lambda kv: (kv[0][0] != 'full', kv[0][0], -kv[0][1])):
        top1 = np.array([float(r['top1']) for r in group])
        sel = np.array([float(r['selection_s']) for r in group])
        trn = np.array([float(r['train_s']) for r in group])
        std = top1.std(ddof=1) if top1.size > 1 else 0.0
        pause = float(group[0].get('pause_s', 0.0))
        vs_random = None if method in ('random', 'full') else \
            paired_difference(rows, method, fraction, 'random')
        vs_full = None if method == 'full' else paired_difference(
            rows, method, fraction, 'full')
        lines.append(
            f'| {method} | {fraction:g} | {top1.mean():.2f} ± {std:.2f} | '
            f'{top1.size} | {_format_difference(vs_random)} | '
            f'{_format_difference(vs_full)} | {sel.mean():.1f} | '
            f'{trn.mean():.1f} | {pause:.0f} |')
    return '\n'.join(lines) + '\n'


def plot(rows: List[dict], work_dir: str) -> None:
    """Accuracy vs fraction (per method) and accuracy vs wall time."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    by_method = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by_method[r['method']][float(r['fraction'])].append(r)
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, cells in sorted(by_method.items()):
        fractions = sorted(cells)
        spans = [
            t_interval([float(r['top1']) for r in cells[f]]) for f in fractions
        ]
        means = np.array([m for m, _, _ in spans])
        half = np.nan_to_num(np.array([m - low for m, low, _ in spans]))
        if method == 'full':
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
    ax.set_xlabel('fraction of the training data')
    ax.set_ylabel('top-1 accuracy (%)')
    ax.set_title('Accuracy vs data fraction (mean, 95% t-interval)')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(osp.join(work_dir, 'accuracy_vs_fraction.png'), dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for method, cells in sorted(by_method.items()):
        points = [(float(r['selection_s']) + float(r['train_s']),
                   float(r['top1'])) for rs in cells.values() for r in rs]
        xs, ys = zip(*points)
        ax.scatter(xs, ys, label=method, s=18)
    ax.set_xlabel('wall time: selection + training (s)')
    ax.set_ylabel('top-1 accuracy (%)')
    ax.set_title('Accuracy vs wall time')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(osp.join(work_dir, 'accuracy_vs_time.png'), dpi=120)
    plt.close(fig)


def _plan(args) -> List[Tuple[str, float, int]]:
    full_seeds = args.seeds if args.full_seeds is None else args.full_seeds
    plan = [('full', 1.0, s) for s in full_seeds] if args.full else []
    for method in args.methods:
        keep = pruning_keep(method)
        if keep is not None:  # its fraction: the share of samples processed
            plan += [(method, pruned_share(keep, args), s) for s in args.seeds]
        else:
            plan += [(method, f, s) for f in args.fractions
                     for s in args.seeds]
    return plan


def pruned_share(keep: float, args) -> float:
    """The share of full data's samples a pruned run processes."""
    from mmcv import Config

    from mmcls_geda.selection.pruning import epoch_lengths
    epochs = Config.fromfile(args.config).runner.max_epochs
    epochs = args.cfg_options.get('runner.max_epochs', epochs)
    lengths = epoch_lengths(10**6, int(epochs), keep, args.anneal)
    return round(sum(lengths) / (10**6 * len(lengths)), 4)


def _check(args, base, hook: dict, options: dict) -> None:
    """Every check before the first run starts."""
    from mmcls_geda.selection import check_fraction
    for fraction in args.fractions:
        check_fraction(fraction)
    for method in args.methods:
        keep = pruning_keep(method)
        if keep is not None:
            from mmcls_geda.selection.pruning import check_pruning_args
            check_pruning_args(keep, args.anneal, 0)
            continue
        for fraction in args.fractions:  # apply_geda checks everything
            make_config(base, method, fraction, 0, hook, options)
    for seed in args.seeds:
        if seed < 0:
            raise ValueError(f'seeds must be >= 0, got {seed}')
    if args.jobs < 1 or (args.threads is not None and args.threads < 1):
        raise ValueError(f'--jobs and --threads must be >= 1, got '
                         f'{args.jobs} and {args.threads}')
    if args.jobs > 1 and args.gpus > 1:
        raise ValueError('--jobs > 1 runs several single-process runs at '
                         'once; it does not combine with --gpus > 1')


def main(argv=None) -> List[dict]:
    args = parse_args(argv)
    from mmcv import Config
    hook, options = json.loads(args.hook), json.loads(args.options)
    base = Config.fromfile(args.config)
    base.merge_from_dict(args.cfg_options)
    if base.data.train.get('type') == 'GEDASubsetDataset':
        raise ValueError(f'{args.config} already selects a subset: give '
                         'the full-data config')
    _check(args, base, hook, options)
    if args.jobs > 1 and args.threads is None:
        args.threads = 1
    os.makedirs(args.work_dir, exist_ok=True)
    plan = _plan(args)

    def run(item):
        i, (method, fraction, seed) = item
        name = run_name(method, fraction, seed)
        run_dir = osp.join(args.work_dir, name)
        done = osp.join(run_dir, 'result.json')
        if osp.isfile(done):
            print(f'[{i}/{len(plan)}] {name}: done before, skipped')
            with open(done, encoding='utf-8') as f:
                row = json.load(f)
            # the timings as this version accounts them (a schedule's
            # selections all count as selection time)
            return dict(
                row, **split_time(row['total_s'],
                                  selection_time(run_dir)[0]))
        if args.summary_only:
            print(f'[{i}/{len(plan)}] {name}: not run yet, left out')
            return None
        print(f'[{i}/{len(plan)}] {name}: training ...', flush=True)
        cfg = make_config(
            base, method, fraction, seed, hook,
            dict(anneal=args.anneal)
            if pruning_keep(method) is not None else options)
        row = dict(
            method=method,
            fraction=fraction,
            seed=seed,
            run_dir=run_dir,
            **run_one(cfg, run_dir, seed, args))
        record.atomic_write(done, lambda p: _dump(row, p))
        print(
            f'[{i}/{len(plan)}] {name}: top-1 {row["top1"]:.2f}%, '
            f'selection {row["selection_s"]:.1f}s, training '
            f'{row["train_s"]:.1f}s',
            flush=True)
        return row

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        rows = [row for row in pool.map(run, enumerate(plan, 1)) if row]

    with open(osp.join(args.work_dir, 'results.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    table = summarise(rows)
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(table)
    plot(rows, args.work_dir)
    print(table)
    print(f'wrote {args.work_dir}/results.csv, results.md, '
          'accuracy_vs_fraction.png, accuracy_vs_time.png')
    return rows


def _dump(row: dict, path: str) -> None:
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(row, f)


if __name__ == '__main__':
    main()
