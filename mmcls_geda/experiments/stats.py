"""Statistics over a grid's rows: cells, t-intervals, paired differences
to a reference spec, and the time-to-accuracy front."""
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy import stats

from .plan import fraction_key
from .spec import spec_kind


def cell_of(row: dict) -> Tuple[str, Optional[str]]:
    """A row's cell: its method spec and planned fraction (None for
    dynamic pruning, whose ``fraction`` column is the measured share)."""
    if spec_kind(row['method']) == 'pruning':
        return row['method'], None
    return row['method'], fraction_key(float(row['fraction']))


def cells(rows: Sequence[dict]) -> Dict[Tuple[str, Optional[str]], list]:
    """Rows grouped by cell; a ValueError if a seed repeats in a cell (n
    counts distinct seeds)."""
    out = defaultdict(list)
    for row in rows:
        out[cell_of(row)].append(row)
    for key, group in out.items():
        seeds = [int(r['seed']) for r in group]
        if len(set(seeds)) != len(seeds):
            raise ValueError(
                f'cell {key} holds seed(s) '
                f'{sorted({s for s in seeds if seeds.count(s) > 1})}'
                ' more than once')
    return dict(out)


def t_interval(values, level: float = 0.95) -> Tuple[float, float, float]:
    """Mean and the two ends of its t-interval (nan for fewer than 2)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if values.size < 2:
        return mean, float('nan'), float('nan')
    half = stats.t.ppf(0.5 + level / 2, values.size -
                       1) * values.std(ddof=1) / np.sqrt(values.size)
    return mean, mean - half, mean + half


def reference_top1(rows: Sequence[dict], reference: str,
                   fraction: Optional[float]) -> Dict[int, float]:
    """Top-1 per seed of the reference spec ``reference`` at ``fraction``
    (the full-data reference at any fraction; a subset reference only at
    the same planned fraction, so never for dynamic pruning)."""
    kind = spec_kind(reference)
    if kind == 'subset' and fraction is None:
        return {}
    return {
        int(r['seed']): float(r['top1'])
        for r in rows if r['method'] == reference and (
            kind != 'subset' or cell_of(r)[1] == fraction_key(fraction))
    }


def paired_difference(
        rows: Sequence[dict], method: str, fraction: Optional[float],
        reference: str) -> Optional[Tuple[float, float, float, int]]:
    """``top1(method) - top1(reference)`` over the seeds both have: mean,
    95 % t-interval, number of pairs; None without pairs or for the
    reference itself."""
    if method == reference:
        return None
    key = (method, None if fraction is None else fraction_key(fraction))
    mine = {
        int(r['seed']): float(r['top1'])
        for r in rows if r['method'] == method and cell_of(r) == key
    }
    theirs = reference_top1(rows, reference, fraction)
    seeds = sorted(set(mine) & set(theirs))
    if not seeds:
        return None
    diffs = np.array([mine[s] - theirs[s] for s in seeds])
    return (*t_interval(diffs), len(seeds))


def front(points: Sequence[Tuple[float, float]]) -> List[bool]:
    """Which ``(cost, accuracy)`` points no other point beats on both
    axes (cost no higher and accuracy no lower, one of them strictly)."""
    marks = []
    for i, (cost, acc) in enumerate(points):
        beaten = any(c <= cost and a >= acc and (c < cost or a > acc)
                     for j, (c, a) in enumerate(points) if j != i)
        marks.append(not beaten)
    return marks
