"""Record what a small real run serves, for every way to choose the data.

Issue 29, point 6: before the code that serves each epoch's data is
refactored, every method and schedule is run once on a small real run
(mmcls's ``train_model`` with the stock ``EpochBasedRunner`` on CPU, the
tiny CIFAR-10 pickles of ``conftest.write_cifar10``, a config made by
``apply_geda`` / ``apply_pruning`` from
``configs/resnet/resnet18_1xb64-full_cifar10.py``), and what the model
received is recorded: the dataset indices of every batch, in order (read
back from the images, whose pixels encode the index), the per-sample loss
weights the batch carried (``sample_weight``; none: unweighted), and the
learning rate the optimizer used at every iteration.

A record is reduced to fingerprints (sha256 of canonical JSON, floats as
Python's exact ``repr``: weights are float32 values, learning rates Python
floats, so nothing is rounded) and a summary a reader can diff. The
fingerprints are of this machine's CPU kernels: the cases whose plan reads
gradient norms or training losses may differ on another machine, so
record them there first (``GEDA_RECORD_BEHAVIOUR=1``) before comparing.

``python -m tests.behaviour CASE`` prints one case's whole record, to
locate a difference the fingerprints only report.
"""
import hashlib
import json
import os
import os.path as osp
import sys
import tempfile
from typing import Any, Dict, List, Optional
from unittest import mock

import numpy as np
import torch
from mmcv import Config
from mmcv.runner import HOOKS, Hook

from .conftest import (REPO, TEST_PIPELINE, TRAIN_PIPELINE, decode_indices,
                       save_selection, write_cifar10)

FINGERPRINTS = osp.join(
    osp.dirname(osp.abspath(__file__)), 'data', 'behaviour_fingerprints.json')
RECORD_ENV = 'GEDA_RECORD_BEHAVIOUR'
ABOUT = ('What each case served on the tiny CIFAR-10 run of '
         'tests/behaviour.py; re-record with GEDA_RECORD_BEHAVIOUR=1 '
         'pytest tests/test_behaviour.py')
BASE_CONFIG = 'configs/resnet/resnet18_1xb64-full_cifar10.py'
EPOCHS, FRACTION, BATCH, SEED = 6, 0.4, 8, 0
# the hook settings every GEDA case shares: a cheap, in-process scoring
# pass and no report plots
SCORING = dict(scoring_batch_size=16, scoring_workers=0, report=False)

# name -> how the config is made: ``geda`` (apply_geda's method, options
# and hook arguments) or ``pruning`` (apply_pruning's arguments);
# ``selection_file``: the wrapper serves a saved selection from the start
CASES: Dict[str, Dict[str, Any]] = {
    'static':
    dict(geda=dict(method='geda')),
    'warmup':
    dict(geda=dict(method='geda', hook=dict(warmup_epochs=0.8))),
    'interval_weights':
    dict(geda=dict(method='geda', hook=dict(interval=2, weights='gradmatch'))),
    'then':
    dict(
        geda=dict(
            method='geda',
            hook=dict(
                then=dict(method='gradmatch', start_epoch=2, interval=2)))),
    'selection_file':
    dict(geda=dict(method='geda'), selection_file=True),
    'rs2':
    dict(geda=dict(method='rs2')),
    'rs2_replace':
    dict(geda=dict(method='rs2', options=dict(replace=True))),
    'geda_rotate':
    dict(geda=dict(method='geda_rotate')),
    'strata_rotate':
    dict(geda=dict(method='strata_rotate')),
    'infobatch':
    dict(pruning=dict(ratio=0.5, anneal=0.25)),
    'random_pruning':
    dict(pruning=dict(ratio=0.5, rule='random', anneal=0.25)),
}


@HOOKS.register_module(force=True)
class BehaviourRecorder(Hook):
    """What the model received in every iteration, written to ``path`` at
    the end of the run.

    Registered with priority ``LOWEST``: the learning-rate hook set this
    iteration's rate before it and the optimizer hook stepped with it.

    Args:
        path: The JSON file the record is written to.
    """

    def __init__(self, path: str):
        self.path = path
        self.iterations: List[Dict[str, Any]] = []

    def after_train_iter(self, runner) -> None:
        batch = runner.data_batch
        indices = decode_indices(batch['img']).tolist()
        weights = batch.get('sample_weight')
        if 'sample_idx' in batch:  # what the model records its loss under
            assert batch['sample_idx'].tolist() == indices
        self.iterations.append(
            dict(
                epoch=runner.epoch,
                indices=[int(i) for i in indices],
                weights=(None if weights is None else
                         [float(w) for w in weights.tolist()]),
                lr=float(runner.optimizer.param_groups[0]['lr'])))

    def after_run(self, runner) -> None:
        with open(self.path, 'w') as f:
            json.dump(self.iterations, f)


def make_config(root: str,
                work_dir: str,
                case: Dict[str, Any],
                sampler: bool = True) -> Config:
    """The case's config: the repo's full-data CIFAR-10 config shrunk to
    the tiny pickles at ``root`` (batches of 8, no loader workers, a
    ResNet-18 of width 8, no random transforms), then made a GEDA or a
    pruning run, with the recorder added; ``sampler=False``: without the
    ``sampler`` key apply_geda writes (a hand-written or older config)."""
    from mmcls_geda import apply_geda, apply_pruning
    cfg = Config.fromfile(osp.join(REPO, BASE_CONFIG))
    cfg.data.update(
        samples_per_gpu=BATCH, workers_per_gpu=0, persistent_workers=False)
    for part, pipeline in (('train', TRAIN_PIPELINE[2:]),
                           ('val', TEST_PIPELINE), ('test', TEST_PIPELINE)):
        cfg.data[part].update(data_prefix=root, pipeline=pipeline)
    cfg.model.backbone.update(stem_channels=8, base_channels=8)
    cfg.model.head.in_channels = 64
    cfg.runner.max_epochs = EPOCHS
    cfg.checkpoint_config = dict(interval=EPOCHS + 1, save_last=False)
    cfg.log_config.interval = 1
    if 'geda' in case:
        geda = case['geda']
        cfg = apply_geda(
            cfg,
            FRACTION,
            geda['method'],
            hook=dict(SCORING, **geda.get('hook', {})),
            **geda.get('options', {}))
    else:
        cfg = apply_pruning(cfg, seed=SEED, **case['pruning'])
    if not sampler:
        cfg.pop('sampler')
    if case.get('selection_file'):
        cfg.data.train.selection_file = _selection_file(cfg, work_dir)
    cfg.custom_hooks.append(
        dict(
            type='BehaviourRecorder',
            path=osp.join(work_dir, 'served.json'),
            priority='LOWEST'))
    cfg.work_dir = osp.join(work_dir, 'run')
    cfg.gpu_ids, cfg.device, cfg.seed = [0], 'cpu', SEED
    return cfg


def _selection_file(cfg: Config, work_dir: str) -> str:
    """A saved GEDA selection of the case's data, from seeded scores."""
    from mmcls.datasets import build_dataset

    from mmcls_geda.selection import select_subset
    wrapper = build_dataset(cfg.data.train)
    norms = np.random.default_rng(3).lognormal(size=len(wrapper.dataset))
    return save_selection(
        osp.join(work_dir, 'file'), wrapper,
        select_subset(norms, wrapper.full_labels, FRACTION))


def run_case(name: str,
             root: str,
             work_dir: str,
             sampler: bool = True) -> List[Dict[str, Any]]:
    """Train case ``name`` on the tiny CIFAR-10 at ``root`` in
    ``work_dir`` and return its iterations as the recorder saw them
    (``sampler=False``: its config without the ``sampler`` key).

    Seeds (Python, numpy, torch) are set as ``tools/train.py`` sets them,
    torch runs on one thread, and mmcv's 2 s pause per epoch is skipped.
    """
    from mmcls.apis import set_random_seed, train_model
    from mmcls.datasets import build_dataset
    from mmcls.models import build_classifier
    os.makedirs(work_dir, exist_ok=True)
    cfg = make_config(root, work_dir, CASES[name], sampler)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        set_random_seed(SEED)
        model = build_classifier(cfg.model)
        model.init_weights()
        datasets = [build_dataset(cfg.data.train)]
        with mock.patch('mmcv.runner.epoch_based_runner.time.sleep'):
            train_model(
                model,
                datasets,
                cfg,
                validate=False,
                device='cpu',
                meta=dict(seed=SEED))
    finally:
        torch.set_num_threads(threads)
    with open(osp.join(work_dir, 'served.json')) as f:
        return json.load(f)


def per_epoch(iterations: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The iterations grouped by epoch: served indices in order, their
    weights (None: the epoch's batches carried none) and the learning rate
    of each iteration."""
    epochs: Dict[int, Dict[str, Any]] = {}
    for it in iterations:
        epoch = epochs.setdefault(
            it['epoch'], dict(indices=[], weights=[], lrs=[], weighted=False))
        epoch['indices'] += it['indices']
        epoch['weighted'] |= it['weights'] is not None
        epoch['weights'] += (
            it['weights'] if it['weights'] is not None else [None] *
            len(it['indices']))
        epoch['lrs'].append(it['lr'])
    out = []
    for e in sorted(epochs):
        epoch = epochs[e]
        if not epoch.pop('weighted'):
            epoch['weights'] = None
        out.append(epoch)
    return out


def _sha(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(iterations: List[Dict[str, Any]]) -> Dict[str, Any]:
    """A case's fingerprints and summary.

    Fingerprints (sha256 of canonical JSON, exact floats): ``served``, the
    indices of every epoch in serving order; ``subsets``, the same sorted
    (which samples, order aside); ``weights``, the per-sample weights in
    serving order (None for an unweighted epoch); ``lr``, the learning rate
    of every iteration. The summary: epoch sizes, iterations, the first
    indices of each epoch, which epochs were weighted, the weights' range
    and a few learning rates.
    """
    epochs = per_epoch(iterations)
    lrs = [lr for e in epochs for lr in e['lrs']]
    weights = [w for e in epochs if e['weights'] for w in e['weights']]
    return dict(
        fingerprints=dict(
            served=_sha([e['indices'] for e in epochs]),
            subsets=_sha([sorted(e['indices']) for e in epochs]),
            weights=_sha([e['weights'] for e in epochs]),
            lr=_sha(lrs)),
        summary=dict(
            sizes=[len(e['indices']) for e in epochs],
            iterations=[len(e['lrs']) for e in epochs],
            first=[e['indices'][:6] for e in epochs],
            weighted=[e['weights'] is not None for e in epochs],
            weight_range=([min(weights), max(weights)] if weights else None),
            lr_first_max_last=[lrs[0], max(lrs), lrs[-1]]))


def load_fingerprints(path: str = FINGERPRINTS) -> Dict[str, Any]:
    """The stored file: ``{"environment": ..., "cases": {name: ...}}``."""
    if not osp.isfile(path):
        return dict(environment=environment(), cases={})
    with open(path) as f:
        return json.load(f)


def save_fingerprints(stored: Dict[str, Any],
                      path: str = FINGERPRINTS) -> None:
    """Write ``stored`` with every fingerprint and summary field on a line
    of its own, so that a diff names the case and the field that
    changed."""
    stored = dict(
        about=ABOUT,
        environment=stored['environment'],
        cases=dict(sorted(stored['cases'].items())))
    text = _json_lines(stored) + '\n'
    assert json.loads(text) == stored
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def _json_lines(value: Any, depth: int = 0, key: str = '') -> str:
    """JSON with one line per key of every dict but the environment's."""
    if not isinstance(value, dict) or key == 'environment':
        return json.dumps(value)
    pad = ' ' * (depth + 1)
    items = [
        f'{pad}{json.dumps(k)}: {_json_lines(v, depth + 1, k)}'
        for k, v in value.items()
    ]
    return '{\n' + ',\n'.join(items) + '\n' + ' ' * depth + '}'


def environment() -> Dict[str, str]:
    """The versions the fingerprints were recorded with."""
    import mmcls
    import mmcv
    return dict(
        python=sys.version.split()[0],
        torch=torch.__version__,
        numpy=np.__version__,
        mmcv=mmcv.__version__,
        mmcls=mmcls.__version__)


def main(argv: Optional[List[str]] = None) -> None:
    """Print one case's whole record, epoch by epoch."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in CASES:
        raise SystemExit(f'usage: python -m tests.behaviour CASE, CASE one '
                         f'of {", ".join(CASES)}')
    with tempfile.TemporaryDirectory() as tmp:
        root = write_cifar10(osp.join(tmp, 'data'))
        iterations = run_case(argv[0], root, osp.join(tmp, 'work'))
    for e, epoch in enumerate(per_epoch(iterations)):
        print(f'epoch {e}: {len(epoch["indices"])} samples, '
              f'{len(epoch["lrs"])} iterations')
        print('  indices', epoch['indices'])
        print('  weights', epoch['weights'])
        print('  lrs', [repr(lr) for lr in epoch['lrs']])
    print(json.dumps(fingerprint(iterations), indent=1))


if __name__ == '__main__':
    main()
