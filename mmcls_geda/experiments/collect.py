"""What a finished run's folder says: accuracy, times, samples processed."""
import json
import os
import os.path as osp
from typing import Dict, Optional, Tuple

from ..selection import record
from ..selection.epoch_state import ROTATION_LOG

# mmcv's EpochBasedRunner sleeps 2 s before every train and val epoch; it is
# part of the wall time, reported apart so that short runs are read right.
RUNNER_PAUSE_S = 2.0


def pause_seconds(cfg) -> float:
    """Seconds a run's runner sleeps at epoch starts: 2 s per train and val
    epoch for mmcv's runner, ``epoch_pause`` for the pauseless one."""
    runner = cfg.get('runner') or {}
    pause = RUNNER_PAUSE_S
    if runner.get('type') == 'PauselessEpochBasedRunner':
        pause = float(runner.get('epoch_pause', 0.0))
    epochs = runner['max_epochs']
    evaluation = cfg.get('evaluation') or {}
    val_epochs = epochs // evaluation['interval'] if evaluation.get(
        'interval') else 0
    return pause * (epochs + val_epochs)


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


def run_log(run_dir: str) -> str:
    """The newest ``*.log.json`` of a run folder."""
    logs = sorted(f for f in os.listdir(run_dir) if f.endswith('.log.json'))
    if not logs:
        raise RuntimeError(f'{run_dir} holds no *.log.json')
    return osp.join(run_dir, logs[-1])


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
    of a schedule) and the subset size, from a run's saved records.

    A per-epoch method (``rs2``, ``geda_rotate``, ...) keeps no selection
    record: its gradient passes (``scoring_s``, 0 for ``rs2`` and for
    cycles folded on the recorded losses) and its per-epoch size are read
    from its ``rotation_log.json``.
    """
    rotation_log = osp.join(run_dir, ROTATION_LOG)
    if osp.isfile(rotation_log):
        with open(rotation_log, encoding='utf-8') as f:
            epochs = json.load(f)['epochs']
        return (sum(float(e['scoring_s']) for e in epochs),
                int(epochs[0]['size']) if epochs else None)
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


def pruning_samples(run_dir: str) -> Optional[Tuple[int, int]]:
    """Samples a pruning run processed and the full data's count over the
    same epochs (its ``rotation_log.json``, whose entries carry the draws'
    ``processed``, ``above``, ``below``), or None for other runs."""
    path = osp.join(run_dir, ROTATION_LOG)
    if not osp.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        epochs = json.load(f)['epochs']
    if not epochs or 'processed' not in epochs[0]:
        return None  # a per-epoch subset, not pruning
    # every epoch sorts all n samples into above / below the mean loss
    return (sum(int(e['processed']) for e in epochs),
            sum(int(e['above']) + int(e['below']) for e in epochs))


def rotation_samples(run_dir: str) -> Optional[int]:
    """Samples a per-epoch-subset run served, from its
    ``rotation_log.json`` (every epoch's size, which a budget schedule
    varies, and the samples padded so that no batch holds one), or None
    for other runs."""
    path = osp.join(run_dir, ROTATION_LOG)
    if not osp.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        return sum(
            int(e['size']) + int(e.get('repeated', 0))
            for e in json.load(f)['epochs'])


def served_samples(cfg) -> int:
    """Samples a (subset or full-data) run serves: the training dataset's
    length (a subset wrapper's length is its per-epoch budget, for static
    and per-epoch methods alike) times ``runner.max_epochs``."""
    from mmcls.datasets import build_dataset
    return len(build_dataset(cfg.data.train)) * int(cfg.runner.max_epochs)
