"""Where a training run's wall time goes, full data against subsets.

For one config and a list of fractions, trains each once through
``tools/train.py`` (a subprocess, as a user would) and splits its wall time
with explicit timers that this module installs in the training process
(it is imported there through ``custom_imports``; nothing is inferred
from log lines):

* ``startup``: process launch to the end of ``before_run`` (imports,
  datasets, model, hooks);
* ``selection``: GradNormHook's ``before_train_epoch`` (scoring loader,
  gradient pass, solver, saving the selection and its report; 0 for full
  data); the pass and the solver alone are listed under the table (the
  ``timings`` of ``geda_selection.json``);
* ``pauses``: seconds the runner slept at epoch starts (mmcv's
  ``time.sleep(2)``; the pauseless runner's ``epoch_pause``);
* ``loader``: from the last ``before_train_epoch`` hook to the first
  batch, less the pause (worker start-up and the first batch);
* ``hooks``: the other hooks' time at epoch boundaries (LR/momentum
  updates, checkpoints, logging at epoch end);
* ``iters``: first batch to the end of the last iteration, every epoch
  (forward, backward, step, per-iteration hooks, later batches);
* ``eval``: the EvalHook's evaluations (its loader included);
* ``shutdown``: end of the last epoch to process exit (mmcv's
  ``time.sleep(1)`` before ``after_run`` included);
* ``other``: the rest (gaps between epochs);
* ``cpu``: user + system CPU seconds of the training process and its
  loader workers (less sensitive to a busy machine than wall time).

``fixed/ep`` = (pauses + loader + hooks) / epochs: the per-epoch cost that
a smaller subset does not shrink. The speed-up of a run is the full-data
run's total (same runner) divided by its total.

Fraction 1.0 is the config as given; a fraction below 1 is
``apply_geda(cfg, fraction, --method)``. ``--runner both`` trains every
fraction with mmcv's ``EpochBasedRunner`` and with
``PauselessEpochBasedRunner`` (epoch_pause=0), interleaved.

Usage:
    python benchmarks/end_to_end.py CONFIG [--fractions 1 0.4 0.2 0.1]
        [--method geda] [--runner mmcv|pauseless|both] [--data ROOT]
        [--work-dir DIR] [--threads 1] [--cfg-options ...]
Last line: speedup_f<F>_<runner>=... fixed_per_epoch_<runner>=... for each
fraction and runner.
"""
import argparse
import json
import os
import os.path as osp
import platform
import resource
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
FINETUNE = 'configs/finetune/resnet18w16_1xb64-finetune-full_cifar10-c5-9.py'
TIMINGS = 'end_to_end_timings.json'

# --- inside the training process ---------------------------------------------
# custom_imports=['end_to_end'] imports this module there; importing it
# registers the timer hook and, when E2E_TIMINGS is set, wraps the runner's
# sleeps and the evaluation hooks with timers.

_IMPORTED = time.time()  # in the training process: after torch, mmcv
_SLEEPS = []  # (time.time() at the start, seconds)
_EVALS = []  # (start, seconds)
_SELECTIONS = []  # (start, seconds): GradNormHook.before_train_epoch


class _TimedTime:
    """Stands in for the ``time`` module in the runner modules: records
    every ``sleep``."""

    def __init__(self, real):
        self._real = real

    def sleep(self, seconds):
        _SLEEPS.append((self._real.time(), float(seconds)))
        self._real.sleep(seconds)

    def __getattr__(self, name):
        return getattr(self._real, name)


def _install_timers():
    import mmcls.core.evaluation.eval_hooks as eval_hooks
    import mmcv.runner.epoch_based_runner as epoch_based_runner

    import mmcls_geda.runners.pauseless as pauseless
    for module in (epoch_based_runner, pauseless):
        if not isinstance(module.time, _TimedTime):
            module.time = _TimedTime(time)
    from mmcls_geda.hooks import GradNormHook
    for cls, name, events in ((eval_hooks.EvalHook, '_do_evaluate', _EVALS),
                              (eval_hooks.DistEvalHook, '_do_evaluate',
                               _EVALS), (GradNormHook, 'before_train_epoch',
                                         _SELECTIONS)):
        real = getattr(cls, name)
        if getattr(real, '_e2e_timed', False):
            continue

        def timed(self, runner, _real=real, _events=events):
            start = time.time()
            try:
                return _real(self, runner)
            finally:
                _events.append((start, time.time() - start))

        timed._e2e_timed = True
        setattr(cls, name, timed)


def _register_hook():
    from mmcv.runner import HOOKS, Hook

    class EndToEndTimerHook(Hook):
        """Stamps the epoch boundaries; ``edge='first'`` runs before every
        other hook (priority HIGHEST, listed first), ``'last'`` after."""

        def __init__(self, edge):
            self.edge = edge
            self.stamps = {}

        def _stamp(self, key, runner):
            self.stamps.setdefault(runner.epoch, {})[key] = time.time()

        def before_run(self, runner):
            if self.edge == 'last':
                _LAST['run_start'] = time.time()

        def before_train_epoch(self, runner):
            self._stamp(f'bte_{self.edge}', runner)
            _EPOCHS.setdefault(runner.epoch,
                               {}).update(self.stamps[runner.epoch])

        def before_train_iter(self, runner):
            if self.edge == 'last' and runner.inner_iter == 0:
                _EPOCHS[runner.epoch]['first_iter'] = time.time()

        def after_train_iter(self, runner):
            if self.edge == 'last':
                _EPOCHS[runner.epoch]['iter_end'] = time.time()

        def after_train_epoch(self, runner):
            # runner.epoch is advanced after these hooks
            if self.edge == 'last':
                _EPOCHS[runner.epoch]['ate_end'] = time.time()

        def after_run(self, runner):
            if self.edge != 'last' or runner.rank != 0:
                return
            with open(osp.join(runner.work_dir, TIMINGS), 'w') as f:
                json.dump(
                    dict(
                        imported=_IMPORTED,
                        run_start=_LAST.get('run_start'),
                        selections=_SELECTIONS,
                        epochs=[_EPOCHS[e] for e in sorted(_EPOCHS)],
                        sleeps=_SLEEPS,
                        evals=_EVALS,
                        after_run=time.time()), f)

    HOOKS.register_module(module=EndToEndTimerHook, force=True)


_EPOCHS = {}
_LAST = {}

if os.environ.get('E2E_TIMINGS'):
    _register_hook()
    _install_timers()

# --- the benchmark ----------------------------------------------------------


def _set_data_root(cfg, root):
    """Point every dataset of the config (inside wrappers too) at root."""

    def visit(node):
        if isinstance(node, dict):
            if 'data_prefix' in node:
                node['data_prefix'] = root
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    for split in ('train', 'val', 'test'):
        if split in cfg['data']:
            visit(cfg['data'][split])


def build_config(config, fraction, method, runner, data):
    """The run's config as a plain dict: the subset, the runner, the
    timer hooks and imports."""
    from mmcv import Config

    from mmcls_geda import apply_geda, use_pauseless_runner
    cfg = Config.fromfile(config)
    if fraction < 1:
        cfg = apply_geda(cfg, fraction, method)
    cfg = use_pauseless_runner(cfg, 0.0 if runner == 'pauseless' else None)
    cfg = cfg._cfg_dict.to_dict()
    if data:
        _set_data_root(cfg, data)
    hooks = list(cfg.get('custom_hooks') or [])
    cfg['custom_hooks'] = (
        [dict(type='EndToEndTimerHook', edge='first', priority='HIGHEST')] +
        hooks +
        [dict(type='EndToEndTimerHook', edge='last', priority='LOWEST')])
    imports = cfg['custom_imports']
    imports['imports'] = list(imports['imports']) + ['end_to_end']
    return cfg


def train_once(config, fraction, method, runner, args, work_dir):
    """Train one run in a subprocess; its breakdown (seconds)."""
    from mmcv import Config
    os.makedirs(work_dir, exist_ok=True)
    for name in (TIMINGS, 'geda_selection.json'):
        if osp.exists(osp.join(work_dir, name)):
            os.remove(osp.join(work_dir, name))
    cfg = build_config(config, fraction, method, runner, args.data)
    path = osp.join(work_dir, 'config.py')
    Config(cfg).dump(path)
    env = dict(
        os.environ,
        E2E_TIMINGS='1',
        OMP_NUM_THREADS=str(args.threads),
        MKL_NUM_THREADS=str(args.threads),
        PYTHONPATH=os.pathsep.join([
            REPO,
            osp.join(REPO, 'benchmarks'),
            os.environ.get('PYTHONPATH', '')
        ]))
    cmd = [
        sys.executable,
        osp.join(REPO, 'tools/train.py'), path, '--work-dir', work_dir,
        '--device', 'cpu', '--seed',
        str(args.seed)
    ]
    if args.cfg_options:
        cmd += ['--cfg-options', *args.cfg_options]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    launch = time.time()
    out = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True)
    end = time.time()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if out.returncode != 0:
        raise RuntimeError(f'training failed ({" ".join(cmd)}):\n' +
                           out.stdout[-2000:] + out.stderr[-3000:])
    return breakdown(work_dir, launch, end, cpu)


def breakdown(work_dir, launch, end, cpu):
    t = json.load(open(osp.join(work_dir, TIMINGS)))
    epochs = t['epochs']
    scoring = solver = 0.0
    record_path = osp.join(work_dir, 'geda_selection.json')
    if osp.exists(record_path):
        timings = json.load(open(record_path)).get('timings', {})
        scoring = float(timings.get('scoring_s', 0.0))
        solver = float(timings.get('selection_s', 0.0))

    def within(events, start, stop):
        return sum(s for at, s in events if start <= at < stop)

    pauses = loader = hooks = iters = evals = selection = 0.0
    for e in epochs:
        chosen = within(t['selections'], e['bte_first'], e['bte_last'])
        selection += chosen
        hooks -= chosen
        pause = within(t['sleeps'], e['bte_first'], e['first_iter'])
        pauses += pause
        loader += e['first_iter'] - e['bte_last'] - pause
        hooks += e['bte_last'] - e['bte_first']
        iters += e['iter_end'] - e['first_iter']
        evaluation = within(t['evals'], e['iter_end'], e['ate_end'])
        evals += evaluation
        hooks += e['ate_end'] - e['iter_end'] - evaluation
    total = end - launch
    startup = t['run_start'] - launch
    shutdown = end - epochs[-1]['ate_end']
    parts = dict(
        startup=startup,
        selection=selection,
        pauses=pauses,
        loader=loader,
        hooks=hooks,
        iters=iters,
        eval=evals,
        shutdown=shutdown)
    parts['other'] = total - sum(parts.values())
    parts.update(
        total=total,
        cpu=cpu,
        imports=t['imported'] - launch,
        exit=end - t['after_run'],
        scoring=scoring,
        solver=solver,
        epochs=len(epochs),
        fixed_per_epoch=(pauses + loader + hooks) / len(epochs))
    return parts


COLUMNS = ('total', 'startup', 'selection', 'pauses', 'loader', 'hooks',
           'iters', 'eval', 'shutdown', 'other', 'cpu')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'config',
        nargs='?',
        default=FINETUNE,
        help='a full-data mmcls config (default: the fine-tuning setting, '
        'which needs its pretrained backbone, see docs/benchmarks.md)')
    parser.add_argument(
        '--fractions', type=float, nargs='+', default=[1.0, 0.4, 0.2, 0.1])
    parser.add_argument('--method', default='geda')
    parser.add_argument(
        '--runner',
        choices=['mmcv', 'pauseless', 'both'],
        default='both',
        help='EpochBasedRunner, PauselessEpochBasedRunner(epoch_pause=0), '
        'or both, interleaved')
    parser.add_argument(
        '--data', help='dataset root for every split (data_prefix)')
    parser.add_argument('--work-dir', default='work_dirs/end_to_end')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        help='passed to tools/train.py as they are')
    args = parser.parse_args()
    if 1.0 not in args.fractions:
        parser.error('--fractions must include 1.0 (the full-data run that '
                     'the speed-ups are relative to)')
    bad = [f for f in args.fractions if not 0 < f <= 1]
    if bad:
        parser.error(f'--fractions must lie in (0, 1], got {bad}')
    if not osp.exists(args.config):
        parser.error(f'config {args.config!r} not found')
    runners = ['mmcv', 'pauseless'] if args.runner == 'both' else [args.runner]
    print(f'{args.config}, method {args.method}, fractions '
          f'{args.fractions}, {args.threads} torch thread(s); '
          f'{platform.machine()}, {os.cpu_count()} CPUs, load average '
          f'{os.getloadavg()[0]:.2f} at start')
    results = {}
    for fraction in args.fractions:
        for runner in runners:
            name = f'f{fraction:g}-{runner}'
            results[(fraction, runner)] = parts = train_once(
                args.config, fraction, args.method, runner, args,
                osp.join(args.work_dir, name))
            print(f'{name}: {parts["total"]:.1f} s', flush=True)
    print(f'load average {os.getloadavg()[0]:.2f} at the end')
    header = ('| run | ' + ' | '.join(COLUMNS) + ' | fixed/ep | speed-up |')
    print(header)
    print('|' + '---|' * (len(COLUMNS) + 3))
    last = []
    for runner in runners:
        full = results[(1.0, runner)]['total']
        for fraction in args.fractions:
            parts = results[(fraction, runner)]
            speedup = full / parts['total']
            cells = ' | '.join(f'{parts[c]:.1f}' for c in COLUMNS)
            print(f'| {fraction:g} {runner} | {cells} | '
                  f'{parts["fixed_per_epoch"]:.2f} | {speedup:.2f}x |')
            if fraction < 1:
                last.append(f'speedup_f{fraction:g}_{runner}={speedup:.2f}')
        fixed = max(results[(f, runner)]['fixed_per_epoch']
                    for f in args.fractions)
        last.append(f'fixed_per_epoch_{runner}={fixed:.2f}')
    print('\nParts of startup, selection and shutdown (s): imports = launch '
          'to the end of the imports; exit = after_run to process end')
    for (fraction, runner), parts in results.items():
        print(f'f{fraction:g} {runner}: imports {parts["imports"]:.1f}, exit '
              f'{parts["exit"]:.1f}, scoring {parts["scoring"]:.1f}, solver '
              f'{parts["solver"]:.3f}')
    print(' '.join(last))


if __name__ == '__main__':
    main()
