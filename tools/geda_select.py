"""Run only the gradient pass and the selection of a GEDA config.

Saves ``geda_selection.json`` (plus the norms and the report) in the work
dir, so one selection can be computed once and reused by many training
runs: ``--cfg-options data.train.selection_file=WORK_DIR/geda_selection.json``.

(Named geda_select.py: a tools/select.py would shadow Python's own
``select`` module for every script in tools/.)

The settings are the config's GradNormHook entry (method, options, scope,
seed, weights, ...), read through ``SelectionArgs`` as the hook reads
them, and saved in the record: a training run with other settings refuses
the file. The model is initialised with ``--seed`` (as ``tools/train.py``
does), so two runs with the same arguments select the same subset; the
record holds the seed as ``model_seed``. The scoring pipeline is the
hook's ``scoring_pipeline``, else the config's val (or test) pipeline with
the label collected.

Usage: .venv/bin/python tools/geda_select.py
    CONFIG [--work-dir DIR] [--checkpoint CKPT]
    [--seed 0] [--device cpu|cuda] [--cfg-options k=v ...]
"""
import argparse
import os
import os.path as osp

import torch
from mmcls.apis import set_random_seed
from mmcls.datasets import build_dataset
from mmcls.models import build_classifier
from mmcls.utils import get_root_logger
from mmcv import Config, DictAction
from mmcv.runner import load_checkpoint

import mmcls_geda  # noqa: F401
from mmcls_geda.apis import SelectionArgs, save_run, score_and_select
from mmcls_geda.selection import check_seed, record


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--work-dir', help='default: work_dirs/CONFIG_NAME')
    parser.add_argument(
        '--checkpoint', help='score with these weights (default: init)')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the model initialisation')
    parser.add_argument(
        '--device',
        default=None,
        help="'cpu' or 'cuda' (default: cuda if available)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def main():
    cli = parse_args()
    check_seed(cli.seed)
    cfg = Config.fromfile(cli.config)
    if cli.cfg_options:
        cfg.merge_from_dict(cli.cfg_options)
    hook_cfgs = [
        h for h in cfg.get('custom_hooks', []) if h['type'] == 'GradNormHook'
    ]
    if len(hook_cfgs) != 1:
        raise ValueError(f'{cli.config} must declare exactly one '
                         f'GradNormHook in custom_hooks, found '
                         f'{len(hook_cfgs)}')
    # every setting of the hook entry, weights and then included, checked
    # before any work; the record carries them
    args = SelectionArgs.from_hook_cfg(hook_cfgs[0])
    if args.warmup_epochs or args.then:
        raise ValueError(
            f'{cli.config}: the GradNormHook selects after a warm-up or in a '
            'second phase (warmup_epochs, then), with the model the training '
            'run has then: geda_select.py makes epoch-0 selections, which a '
            'selection_file serves; drop warmup_epochs and then')
    if cfg.data.train.get('type') != 'GEDASubsetDataset':
        raise ValueError(f'{cli.config}: data.train must be a '
                         'GEDASubsetDataset')
    if cli.checkpoint and not osp.isfile(cli.checkpoint):
        raise FileNotFoundError(f'--checkpoint {cli.checkpoint} not found')
    work_dir = cli.work_dir or osp.join(
        'work_dirs',
        osp.splitext(osp.basename(cli.config))[0])
    record.check_writable(work_dir)  # before the scoring pass
    os.makedirs(work_dir, exist_ok=True)
    logger = get_root_logger(log_file=osp.join(work_dir, 'select.log'))

    cfg.data.train.pop('selection_file', None)
    wrapper = build_dataset(cfg.data.train)
    evaluation = cfg.data.get('val', cfg.data.get('test'))
    set_random_seed(cli.seed)
    model = build_classifier(cfg.model)
    model.init_weights()
    if cli.checkpoint:
        load_checkpoint(model, cli.checkpoint, map_location='cpu')
    device = cli.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    model.to(device)
    run = score_and_select(
        model,
        wrapper,
        args,
        eval_pipeline=evaluation.pipeline if evaluation else None,
        logger=logger)
    logger.info(f'{run.selection.summary()}; scoring ({run.scored}) took '
                f'{run.scoring_s:.1f}s')
    path = save_run(
        work_dir,
        run,
        wrapper,
        args,
        extra=dict(model_seed=cli.seed, checkpoint=cli.checkpoint),
        logger=logger)
    logger.info(f'saved {path} ({len(run.selection)} samples)')


if __name__ == '__main__':
    main()
