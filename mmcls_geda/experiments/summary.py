"""A grid's results: ``results.csv`` (one row a run) and ``results.md``."""
import csv
import os
import os.path as osp
from typing import List, Sequence

import numpy as np

from ..selection import record
from .spec import FULL, REFERENCES
from .stats import cells, paired_difference

FIELDS = [
    'method', 'fraction', 'seed', 'top1', 'top5', 'n_train', 'samples',
    'selection_s', 'train_s', 'pause_s', 'total_s', 'run_dir'
]
RESULT_FILES = ('results.csv', 'results.md')


def _format_difference(diff) -> str:
    if diff is None:
        return '–'
    mean, low, high, n = diff
    if n < 2:
        return f'{mean:+.2f} (n=1)'
    return f'{mean:+.2f} [{low:+.2f}, {high:+.2f}]'


def _order(item):
    (method, fraction), _ = item
    return (method != FULL, method, -float(fraction or 0))


def summarise(rows: Sequence[dict]) -> str:
    """Markdown: per cell, mean +- sample std of top-1 over distinct seeds,
    the paired differences to each reference spec (95 % t-intervals over
    the seeds both have), samples processed and the times. A dynamic
    pruning cell's fraction is the measured share of samples (marked *)."""
    head = ('| method | fraction | top-1 (%) | n | ' +
            ''.join(f'vs {r} (95% CI) | ' for r in REFERENCES) +
            'samples processed | selection (s) | training (s) | '
            'of which runner pauses (s) |')
    lines = [head, '|' + '---|' * (head.count('|') - 1)]
    for (method, fraction), group in sorted(cells(rows).items(), key=_order):
        top1 = np.array([float(r['top1']) for r in group])
        std = top1.std(ddof=1) if top1.size > 1 else 0.0
        shown = (f'{np.mean([float(r["fraction"]) for r in group]):.3g}*'
                 if fraction is None else fraction)
        frac = None if fraction is None else float(fraction)
        diffs = ''.join(
            _format_difference(paired_difference(rows, method, frac, r)) +
            ' | ' for r in REFERENCES)
        samples = [float(r['samples']) for r in group if r.get('samples')]
        lines.append(
            f'| {method} | {shown} | {top1.mean():.2f} ± {std:.2f} | '
            f'{top1.size} | {diffs}'
            f'{np.mean(samples) if samples else float("nan"):.0f} | '
            f'{np.mean([float(r["selection_s"]) for r in group]):.1f} | '
            f'{np.mean([float(r["train_s"]) for r in group]):.1f} | '
            f'{float(group[0].get("pause_s") or 0):.0f} |')
    if any(f is None for _, f in cells(rows)):
        lines.append('\n\\* dynamic pruning: the measured share of the '
                     "full data's samples the runs processed")
    return '\n'.join(lines) + '\n'


def clear_results(work_dir: str) -> None:
    """Remove a grid's summary files (before any run folder goes, so that
    no summary points at a deleted run)."""
    for name in RESULT_FILES:
        path = osp.join(work_dir, name)
        if osp.isfile(path):
            os.remove(path)


def write_results(rows: List[dict], work_dir: str) -> str:
    """Write ``results.csv`` and ``results.md``; return the markdown."""
    table = summarise(rows)

    def write_csv(path):
        with open(path, 'w', newline='', encoding='utf-8') as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows({k: r.get(k) for k in FIELDS} for r in rows)

    def write_md(path):
        with open(path, 'w', encoding='utf-8') as f:
            f.write(table)

    record.atomic_write(osp.join(work_dir, 'results.csv'), write_csv)
    record.atomic_write(osp.join(work_dir, 'results.md'), write_md)
    return table
