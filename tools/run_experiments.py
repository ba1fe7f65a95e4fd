"""Run a grid of subset-selection experiments and summarise it.

Every (method, fraction, seed) is one training run of a full-data mmcls
config turned into its subset version by ``mmcls_geda.apply_geda``; with
``--full`` the full-data config runs once per seed as the reference. Runs
go one after another (each through ``tools/train.py``, or through the
distributed launcher with ``--gpus N``); a run whose ``result.json`` exists
is skipped, so an interrupted grid resumes where it stopped.

Writes to the work dir: ``results.csv`` (one row a run), ``results.md``
(mean +- std over seeds, n), ``accuracy_vs_fraction.png`` and
``accuracy_vs_time.png``. Selection time (gradient pass + solver) and
training time (the rest of the run's wall time: start-up, data loading,
training, evaluation) are reported apart; ``pause_s`` is the part of the
training time that mmcv's runner spends sleeping (2 s before every train
and val epoch).

Example:
    python tools/run_experiments.py configs/geda/resnet18_1xb64-full_cifar10.py \
        --methods geda random quantile_random ranked_even \
        --fractions 0.8 0.6 0.4 0.2 --seeds 0 1 2 --full \
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
from typing import Dict, List

import numpy as np
from mmcv import DictAction

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
FIELDS = ['method', 'fraction', 'seed', 'top1', 'top5', 'n_train',
          'selection_s', 'train_s', 'pause_s', 'total_s', 'run_dir']
# mmcv's EpochBasedRunner sleeps 2 s before every train and val epoch; it is
# part of the wall time, reported apart so that short runs are read right.
RUNNER_PAUSE_S = 2.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config', help='a full-data mmcls config')
    parser.add_argument('--methods', nargs='+', default=['geda', 'random'])
    parser.add_argument('--fractions', nargs='+', type=float,
                        default=[0.8, 0.6, 0.4, 0.2])
    parser.add_argument('--seeds', nargs='+', type=int, default=[0])
    parser.add_argument('--full', action='store_true',
                        help='also train on all the data (once per seed)')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--device', default=None, help="e.g. 'cpu'")
    parser.add_argument('--gpus', type=int, default=1,
                        help='> 1: torch.distributed.run with this many')
    parser.add_argument('--hook', default='{}',
                        help='JSON of extra GradNormHook arguments')
    parser.add_argument('--options', default='{}',
                        help='JSON of method options, e.g. {"nodes": 5}')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        default={},
                        help='override settings of the base config, '
                        'e.g. data.workers_per_gpu=1')
    return parser.parse_args(argv)


def run_name(method: str, fraction: float, seed: int) -> str:
    return f'{method}-f{fraction:g}-s{seed}'


def make_config(base_cfg, method: str, fraction: float, seed: int,
                hook: dict, options: dict):
    from mmcls_geda import apply_geda
    if method == 'full':
        return base_cfg
    return apply_geda(base_cfg, fraction, method,
                      hook=dict(hook, seed=seed), **options)


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
    train = [osp.join(REPO, 'tools', 'train.py'), config_path, '--work-dir',
             run_dir, '--seed', str(seed)]
    if args.device:
        train += ['--device', args.device]
    if args.gpus > 1:
        cmd = [sys.executable, '-m', 'torch.distributed.run',
               f'--nproc_per_node={args.gpus}', *train, '--launcher',
               'pytorch']
    else:
        cmd = [sys.executable, *train]
    start = time.perf_counter()
    with open(osp.join(run_dir, 'stdout.txt'), 'w') as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT,
                              cwd=REPO)
    total = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f'run {run_dir} failed (exit {proc.returncode}); '
                           f'see {osp.join(run_dir, "stdout.txt")}')
    logs = sorted(f for f in os.listdir(run_dir) if f.endswith('.log.json'))
    val = last_val(osp.join(run_dir, logs[-1]))
    selection_s, n_train = 0.0, None
    sel_path = osp.join(run_dir, 'geda_selection.json')
    if osp.isfile(sel_path):
        record = json.load(open(sel_path, encoding='utf-8'))
        selection_s = (record['timings']['scoring_s'] +
                       record['timings']['selection_s'])
        n_train = len(record['selection']['indices'])
    epochs = cfg.runner.max_epochs
    val_epochs = epochs // cfg.evaluation.interval if cfg.get(
        'evaluation') else 0
    return dict(top1=val['accuracy_top-1'], top5=val.get('accuracy_top-5'),
                n_train=n_train, selection_s=round(selection_s, 3),
                train_s=round(total - selection_s, 3),
                pause_s=RUNNER_PAUSE_S * (epochs + val_epochs),
                total_s=round(total, 3))


def summarise(rows: List[dict]) -> str:
    """Markdown: mean +- std of top-1 and times over seeds, per cell."""
    cells = defaultdict(list)
    for r in rows:
        cells[(r['method'], float(r['fraction']))].append(r)
    lines = [
        '| method | fraction | top-1 (%) | n | selection (s) | '
        'training (s) | of which runner pauses (s) |', '|---|---|---|---|---|---|---|'
    ]
    for (method, fraction), group in sorted(
            cells.items(), key=lambda kv: (kv[0][0] != 'full', kv[0][0],
                                           -kv[0][1])):
        top1 = np.array([float(r['top1']) for r in group])
        sel = np.array([float(r['selection_s']) for r in group])
        trn = np.array([float(r['train_s']) for r in group])
        std = top1.std(ddof=1) if top1.size > 1 else 0.0
        pause = float(group[0].get('pause_s', 0.0))
        lines.append(f'| {method} | {fraction:g} | {top1.mean():.2f} ± '
                     f'{std:.2f} | {top1.size} | {sel.mean():.1f} | '
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
        means = [np.mean([float(r['top1']) for r in cells[f]])
                 for f in fractions]
        stds = [np.std([float(r['top1']) for r in cells[f]])
                for f in fractions]
        if method == 'full':
            ax.axhline(means[0], color='k', ls='--', lw=1,
                       label=f'full data ({means[0]:.1f}%)')
        else:
            ax.errorbar(fractions, means, yerr=stds, marker='o', capsize=3,
                        label=method)
    ax.set_xlabel('fraction of the training data')
    ax.set_ylabel('top-1 accuracy (%)')
    ax.set_title('Accuracy vs data fraction (mean ± std over seeds)')
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


def main(argv=None) -> List[dict]:
    args = parse_args(argv)
    from mmcv import Config

    from mmcls_geda.selection import check_fraction
    from mmcls_geda.selection.api import resolve_options
    hook, options = json.loads(args.hook), json.loads(args.options)
    # every check before the first run starts
    for fraction in args.fractions:
        check_fraction(fraction)
    for method in args.methods:
        resolve_options(method, options if method == 'geda' else {})
    base = Config.fromfile(args.config)
    base.merge_from_dict(args.cfg_options)
    if base.data.train.get('type') == 'GEDASubsetDataset':
        raise ValueError(f'{args.config} already selects a subset: give '
                         'the full-data config')
    os.makedirs(args.work_dir, exist_ok=True)

    plan = [('full', 1.0, s) for s in args.seeds] if args.full else []
    plan += [(m, f, s) for m in args.methods for f in args.fractions
             for s in args.seeds]
    rows = []
    for i, (method, fraction, seed) in enumerate(plan, 1):
        name = run_name(method, fraction, seed)
        run_dir = osp.join(args.work_dir, name)
        done = osp.join(run_dir, 'result.json')
        if osp.isfile(done):
            row = json.load(open(done, encoding='utf-8'))
            print(f'[{i}/{len(plan)}] {name}: done before, skipped')
        else:
            print(f'[{i}/{len(plan)}] {name}: training ...', flush=True)
            cfg = make_config(base, method, fraction, seed, hook,
                              options if method == 'geda' else {})
            row = dict(method=method, fraction=fraction, seed=seed,
                       run_dir=run_dir,
                       **run_one(cfg, run_dir, seed, args))
            with open(done, 'w', encoding='utf-8') as f:
                json.dump(row, f)
            print(f'    top-1 {row["top1"]:.2f}%, selection '
                  f'{row["selection_s"]:.1f}s, training {row["train_s"]:.1f}s',
                  flush=True)
        rows.append(row)

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


if __name__ == '__main__':
    main()
