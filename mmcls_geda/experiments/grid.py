"""A grid of training runs: prepared (every check, nothing written), then
run (one process of the installed stack's stock training script a run:
``tools/train.py`` on mmcls 0.x, ``tools/train_mmpretrain.py`` on
mmpretrain 1.x) and summarised."""
import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from ..selection import record
from ..selection.checks import check_int, check_number
from ..selection.pruning import PruningArgs
from ..selection.schedule import warmup_epoch_count
from . import collect
from .plan import (RESULT_FILE, SETTINGS_FILE, Run, build_plan, check_work_dir,
                   distinct, fraction_key, run_dir_state, run_settings,
                   stale_message)
from .plots import FIGURES, plot
from .spec import Spec, make_config, method_options, parse_spec
from .stacks import SELECTING, MmclsStack, grid_stack
from .summary import clear_results, write_results


def parse_json_arg(text: Any, arg: str) -> Dict[str, Any]:
    """A JSON object given on the command line, or a ValueError naming the
    argument and the JSON error."""
    if isinstance(text, dict):
        return dict(text)
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ValueError(
            f'{arg} {text!r} is not JSON ({error}); keys and strings take '
            f'double quotes, e.g. {arg} \'{{"scope": "full"}}\'') from None
    if not isinstance(value, dict):
        raise ValueError(f'{arg} must be a JSON object {{...}}, got {text!r}')
    return value


# GradNormHook arguments a grid sets itself, and where to give them
GRID_HOOK_ARGS = {
    'seed': '--seeds',
    'method': '--methods',
    'options': '--options or a KEY=VALUE part of a method spec',
    'warmup_epochs': 'the method spec part wW (e.g. geda+w1)',
    'interval': 'the method spec part rR (e.g. geda+r4)',
    'weights': 'the method spec part gm (e.g. geda+gm)',
    'then': 'the method spec part eE-METHOD-rR (e.g. geda+e4-gradmatch-r4)',
}


def check_grid_hook(hook: Dict[str, Any]) -> Dict[str, Any]:
    """``--hook`` without the arguments the grid sets itself, or a
    ValueError naming the first such key and the grid's own option."""
    for key, where in GRID_HOOK_ARGS.items():
        if key in hook:
            raise ValueError(
                f'--hook gives {key}={hook[key]!r}, which the grid sets for '
                f'every run itself: give it with {where}')
    return hook


def check_hook_fits(specs: Sequence[Spec], hook: Dict[str, Any],
                    options: Dict[str, Any]) -> str:
    """Refuse ``--hook``'s scoring settings where a subset spec scores
    nothing (its hook would refuse them, mid-grid), naming the specs.

    Returns:
        str: The note that ``--hook`` does not reach the grid's dynamic
        pruning runs ('' when it has none, or no ``--hook``).
    """
    from ..apis.settings import SCORING_SETTINGS, SelectionArgs
    scoring = [name for name in SCORING_SETTINGS if name in hook]
    idle = [
        spec.text for spec in specs
        if spec.kind == 'subset' and scoring and not SelectionArgs(
            method=spec.method,
            options=method_options(spec, options),
            **spec.schedule).scores_anything()
    ]
    if idle:
        raise ValueError(
            f'--hook gives {", ".join(scoring)}, which say(s) how a run '
            f'scores, and method spec(s) {", ".join(map(repr, idle))} '
            'score nothing (their GradNormHook refuses it): give those '
            'specs a grid of their own without it')
    pruned = [spec.text for spec in specs if spec.kind == 'pruning']
    if not hook or not pruned:
        return ''
    return (f'note: --hook reaches the subset runs only; the dynamic-pruning '
            f'runs ({", ".join(pruned)}) take their hook from '
            'apply_pruning (the spec and --anneal)')


@dataclass
class Grid:
    """A checked grid: its runs with their configs and settings."""
    work_dir: str
    runs: List[Run]
    configs: Dict[str, Any]
    settings: Dict[str, Dict[str, Any]]
    states: Dict[str, str]
    device: Optional[str] = None
    gpus: int = 1
    jobs: int = 1
    threads: Optional[int] = None
    summary_only: bool = False
    notes: List[str] = field(default_factory=list)
    # the installed stack's configs, training script and run folders
    stack: Any = field(default_factory=grid_stack)

    def run_dir(self, run: Run) -> str:
        return osp.join(self.work_dir, run.name)

    def refresh(self) -> None:
        """Read the run folders' states again (after a caller removed
        some)."""
        for run in self.runs:
            self.states[run.name] = run_dir_state(
                self.run_dir(run), self.settings[run.name])


class GridInterrupted(Exception):
    """Ctrl-C (SIGINT) during :func:`run_grid`: its training processes were
    ended; the message says what finished and how to resume."""


class _Processes:
    """The grid's running training processes, ended together on an
    interruption (each runs in its own session, with its workers)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.running: set = set()
        self.stopping = threading.Event()

    def start(self, cmd, **kwargs) -> subprocess.Popen:
        with self.lock:
            if self.stopping.is_set():
                raise GridInterrupted('interrupted before it started')
            proc = subprocess.Popen(cmd, start_new_session=True, **kwargs)
            self.running.add(proc)
            return proc

    def wait(self, proc: subprocess.Popen) -> int:
        try:
            return proc.wait()
        finally:
            with self.lock:
                self.running.discard(proc)

    def end_all(self) -> int:
        """Stop starting runs; end the running ones (SIGTERM to each
        process group, SIGKILL after 10 s); how many were running."""
        with self.lock:
            self.stopping.set()
            running = list(self.running)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for proc in running:
                if proc.poll() is None:
                    try:
                        os.killpg(proc.pid, sig)
                    except ProcessLookupError:
                        pass
            deadline = time.time() + 10
            while any(p.poll() is None for p in running) and \
                    time.time() < deadline:
                time.sleep(0.1)
        return len(running)


def prepare_grid(config: str,
                 methods: Sequence[str],
                 fractions: Sequence[float],
                 seeds: Sequence[int],
                 work_dir: str,
                 *,
                 full: bool = False,
                 full_seeds: Optional[Sequence[int]] = None,
                 device: Optional[str] = None,
                 gpus: int = 1,
                 jobs: int = 1,
                 threads: Optional[int] = None,
                 hook: Any = '{}',
                 options: Any = '{}',
                 cfg_options: Optional[Dict[str, Any]] = None,
                 anneal: float = PruningArgs.anneal,
                 force: bool = False,
                 summary_only: bool = False) -> Grid:
    """Check everything a grid needs, before anything is written.

    Raises:
        ValueError: For any bad argument, a run that cannot give a result,
            or a run folder made with other settings (unless ``force``).
    """
    stack = grid_stack()
    Config = stack.config_class()
    check_int(jobs, '--jobs', 1)
    check_int(gpus, '--gpus', 1)
    if threads is not None:
        check_int(threads, '--threads', 1)
    if jobs > 1 and gpus > 1:
        raise ValueError('--jobs > 1 runs several single-process runs at '
                         'once; it does not combine with --gpus > 1')
    check_number(anneal, '--anneal', 0, 1)
    stack.check_device(device, gpus)
    hook = check_grid_hook(parse_json_arg(hook, '--hook'))
    options = parse_json_arg(options, '--options')
    check_work_dir(work_dir)
    if not osp.isfile(config):
        raise ValueError(f'config {config} not found')
    base = Config.fromfile(config)
    base.merge_from_dict(dict(cfg_options or {}))
    if stack.train_set(base).get('type') in SELECTING:
        raise ValueError(f'{config} already selects or prunes its data: '
                         'give the full-data config')
    notes = []
    seeds, note = distinct(list(seeds), '--seeds')
    notes.append(note)
    full_seeds, note = distinct(
        list(seeds if full_seeds is None else full_seeds), '--full-seeds')
    notes.append(note)
    fractions, note = distinct(
        list(fractions), '--fractions', key=fraction_key)
    notes.append(note)
    specs: List[Spec] = [parse_spec(m) for m in methods]
    if hook and not any(spec.kind == 'subset' for spec in specs):
        raise ValueError(
            f'--hook {json.dumps(hook)} given, but no run of this grid '
            f'takes it (--methods {" ".join(methods)}: full data, or '
            "dynamic pruning, whose hook is apply_pruning's, set by the "
            'spec and --anneal); drop --hook')
    for spec in specs:
        method_options(spec, options)  # --options fits every method
    notes.append(check_hook_fits(specs, hook, options))
    runs = build_plan(specs, fractions, seeds, full_seeds, full)
    grid = Grid(work_dir, runs, {}, {}, {}, device, gpus, jobs,
                threads if threads or jobs == 1 else 1, summary_only,
                [n for n in notes if n], stack)
    stale, labels = [], None
    for run in runs:
        # what the stack's apply_geda / apply_pruning refuse (settings its
        # hook does not serve) is refused here, naming the spec
        cfg = _run_config(stack, base, run, hook, options, anneal)
        cfg = stack.seeded(
            cfg if isinstance(cfg, Config) else Config(cfg), run.seed)
        warmup = run.spec.schedule.get('warmup_epochs')
        if warmup is not None:
            epochs = stack.max_epochs(base)
            warmup_epoch_count(warmup, epochs, run.fraction)
            # then as the hook checks it: on the share an epoch serves
            # (whole class budgets), so no run fails on it mid-grid
            if labels is None:
                labels = stack.build_train_set(base).get_gt_labels()
            warmup_epoch_count(warmup, epochs,
                               _served_share(labels, run.fraction))
        stack.check_evaluation(cfg, f'{run.name} ({config})')
        settings = run_settings(cfg, run, device, gpus)
        state = run_dir_state(grid.run_dir(run), settings)
        if state == 'stale' and summary_only:  # nothing is trained
            grid.notes.append(
                'left out of the summary: ' +
                stale_message(grid.run_dir(run), settings).strip())
        elif state == 'stale' and not force:
            stale.append(stale_message(grid.run_dir(run), settings))
        grid.configs[run.name], grid.settings[run.name] = cfg, settings
        grid.states[run.name] = state
    if stale:
        raise ValueError(f'{len(stale)} run folder(s) of --work-dir do not '
                         'hold the planned runs:\n' + '\n'.join(stale))
    return grid


def _run_config(stack, base, run: Run, hook: Dict[str, Any],
                options: Dict[str, Any], anneal: float):
    """``make_config`` of one run; what the installed stack does not
    serve is a ValueError naming the spec and the stack."""
    try:
        return make_config(base, run.spec, run.fraction, run.seed, hook,
                           options, anneal)
    except NotImplementedError as error:
        raise ValueError(f'method spec {run.spec.text!r} on the '
                         f'{stack.name} stack: {error}') from None
    except ValueError as error:
        raise ValueError(f'method spec {run.spec.text!r} on the '
                         f'{stack.name} stack: {error}') from None


def _served_share(labels, fraction: float) -> float:
    """The share of a pass one epoch of a ``fraction`` subset serves, as
    the hook computes it: its whole per-class budgets over ``labels``."""
    import numpy as np

    from ..selection import class_budgets
    sizes = np.unique(np.asarray(labels), return_counts=True)[1]
    return float(class_budgets(sizes, fraction).sum()) / len(labels)


def run_grid(grid: Grid, log=print) -> List[dict]:
    """Train the grid's unfinished runs (``grid.jobs`` at a time), write
    ``results.csv``, ``results.md`` and the figures; return the rows."""
    lock = threading.Lock()
    log = _locked(log, lock)
    for note in grid.notes:
        log(note)
    os.makedirs(grid.work_dir, exist_ok=True)
    replaced = [r for r in grid.runs if grid.states[r.name] == 'stale']
    if replaced and not grid.summary_only:
        clear_results(grid.work_dir)  # no summary may point at them
        for run in replaced:
            shutil.rmtree(grid.run_dir(run))
    total = len(grid.runs)
    processes, finished = _Processes(), []

    def one(item):
        i, run = item
        run_dir, state = grid.run_dir(run), grid.states[run.name]
        if processes.stopping.is_set():
            return None
        if state == 'done':
            finished.append(run.name)
            log(f'[{i}/{total}] {run.name}: done before, skipped')
            with open(osp.join(run_dir, RESULT_FILE), encoding='utf-8') as f:
                row = json.load(f)
            return dict(
                row,
                pause_s=grid.stack.pause_seconds(grid.configs[run.name]),
                **collect.split_time(row['total_s'],
                                     collect.selection_time(run_dir)[0]))
        if grid.summary_only:
            why = ('holds other settings'
                   if state == 'stale' else 'not run yet')
            log(f'[{i}/{total}] {run.name}: {why}, left out')
            return None
        log(f'[{i}/{total}] {run.name}: training ...')
        if osp.exists(run_dir):  # an unfinished run of the same settings
            shutil.rmtree(run_dir)
        row = train_run(grid, run, processes)
        finished.append(run.name)
        log(f'[{i}/{total}] {run.name}: top-1 {row["top1"]:.2f}%, '
            f'selection {row["selection_s"]:.1f}s, training '
            f'{row["train_s"]:.1f}s')
        return row

    pool = ThreadPoolExecutor(max_workers=grid.jobs)
    try:
        futures = [pool.submit(one, item) for item in enumerate(grid.runs, 1)]
        rows = [row for row in (f.result() for f in futures) if row]
    except KeyboardInterrupt:
        main = threading.current_thread() is threading.main_thread()
        if main:  # a second Ctrl-C does not cut the clean-up short
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            ended = processes.end_all()
            pool.shutdown(wait=True, cancel_futures=True)
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)
        left = total - len(finished)
        raise GridInterrupted(
            f'interrupted: {len(finished)} of {total} runs finished '
            f'({ended} training process(es) ended, their folders are '
            f'trained again); run the same command again to train the '
            f'other {left} (finished runs are skipped)') from None
    finally:
        pool.shutdown(wait=True)
    if not rows:
        log('no finished runs: nothing to summarise')
        return rows
    table = write_results(rows, grid.work_dir)
    plot(rows, grid.work_dir)
    log(table)
    log(f'wrote {grid.work_dir}/results.csv, results.md, ' +
        ', '.join(FIGURES))
    return rows


def train_run(grid: Grid,
              run: Run,
              processes: Optional[_Processes] = None) -> dict:
    """Train one run in its folder; save and return its result row
    (``processes``: where its training process is kept, to be ended on
    an interruption)."""
    processes = processes or _Processes()
    run_dir, cfg = grid.run_dir(run), grid.configs[run.name]
    os.makedirs(run_dir)
    record.atomic_write(
        osp.join(run_dir, SETTINGS_FILE),
        lambda p: _dump(grid.settings[run.name], p))
    config_path = osp.join(run_dir, 'config.py')
    cfg.dump(config_path)
    train, env_update = grid.stack.command(config_path, run_dir, run.seed,
                                           grid.device)
    cmd = [sys.executable, *train] if grid.gpus == 1 else [
        sys.executable, '-m', 'torch.distributed.run',
        f'--nproc_per_node={grid.gpus}', *train, '--launcher', 'pytorch'
    ]
    env = dict(os.environ, **env_update)
    if grid.threads:
        env.update(
            OMP_NUM_THREADS=str(grid.threads),
            MKL_NUM_THREADS=str(grid.threads))
    start = time.perf_counter()
    with open(osp.join(run_dir, 'stdout.txt'), 'w') as out:
        # in the caller's folder, as the paths in the config and cmd are
        proc = processes.start(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        returncode = processes.wait(proc)
    total = time.perf_counter() - start
    if processes.stopping.is_set():
        raise GridInterrupted(f'run {run_dir} ended by the interruption')
    if returncode != 0:
        raise RuntimeError(f'run {run_dir} failed (exit {returncode}); '
                           f'see {osp.join(run_dir, "stdout.txt")}')
    row = dict(method=run.spec.text, fraction=run.fraction, seed=run.seed)
    row.update(collect_row(cfg, run_dir, total, grid.stack), run_dir=run_dir)
    record.atomic_write(
        osp.join(run_dir, RESULT_FILE), lambda p: _dump(row, p))
    return row


def collect_row(cfg, run_dir: str, total: float, stack=None) -> dict:
    """A finished run's accuracy, samples processed and times, from what
    ``stack``'s training script left in ``run_dir`` (default: mmcls 0.x);
    the selection records are the same files on both stacks."""
    stack = stack or MmclsStack()
    val = stack.last_val(run_dir)
    selection_s, n_train = collect.selection_time(run_dir)
    pruned = collect.pruning_samples(run_dir)
    rotated = collect.rotation_samples(run_dir)
    epochs = stack.max_epochs(cfg)
    samples = (
        pruned[0] if pruned else
        rotated if rotated else len(stack.build_train_set(cfg)) * epochs)
    if n_train is None and not pruned:  # full data: the training set's size
        n_train = samples // epochs
    row = dict(
        top1=val['top1'],
        top5=val['top5'],
        n_train=n_train,
        samples=samples,
        pause_s=stack.pause_seconds(cfg),
        **collect.split_time(total, selection_s))
    if pruned:  # its fraction: the measured share of samples processed
        row['fraction'] = round(pruned[0] / pruned[1], 4)
    return row


def _locked(log, lock):

    def locked(text):  # one line at a time from the pool's threads
        with lock:
            log(text)

    return locked


def _dump(obj: dict, path: str) -> None:
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f)
