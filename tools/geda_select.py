"""Run only the gradient pass and the selection of a GEDA config.

Saves ``geda_selection.json`` (plus the norms and the report) in the work
dir, so one selection can be computed once and reused by many training
runs: ``--cfg-options data.train.selection_file=WORK_DIR/geda_selection.json``.

(Named geda_select.py: a tools/select.py would shadow Python's own
``select`` module for every script in tools/.)

The model is initialised with ``--seed`` (as ``tools/train.py`` does), so
two runs with the same arguments select the same subset; the record holds
the seed as ``model_seed``. The scoring pipeline is the hook's
``scoring_pipeline``, else the config's val (or test) pipeline with the
label collected.

Usage: python tools/geda_select.py CONFIG [--work-dir DIR] [--checkpoint CKPT]
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
from mmcls_geda.apis import (HOOK_DEFAULTS, check_hook_args,
                             derive_scoring_pipeline, save_run,
                             score_and_select)
from mmcls_geda.selection import check_seed, get_method


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
    args = parse_args()
    check_seed(args.seed)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    hook_cfgs = [
        h for h in cfg.get('custom_hooks', []) if h['type'] == 'GradNormHook'
    ]
    if len(hook_cfgs) != 1:
        raise ValueError(f'{args.config} must declare exactly one '
                         f'GradNormHook in custom_hooks, found '
                         f'{len(hook_cfgs)}')
    given = {
        k: v
        for k, v in hook_cfgs[0].items() if k not in ('type', 'priority')
    }
    check_hook_args(**given)  # method, options, ... before any work
    hook = {**HOOK_DEFAULTS, **given}
    if cfg.data.train.get('type') != 'GEDASubsetDataset':
        raise ValueError(f'{args.config}: data.train must be a '
                         'GEDASubsetDataset')
    if args.checkpoint and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'--checkpoint {args.checkpoint} not found')
    work_dir = args.work_dir or osp.join(
        'work_dirs',
        osp.splitext(osp.basename(args.config))[0])
    os.makedirs(work_dir, exist_ok=True)
    logger = get_root_logger(log_file=osp.join(work_dir, 'select.log'))

    cfg.data.train.pop('selection_file', None)
    wrapper = build_dataset(cfg.data.train)
    pipeline = hook['scoring_pipeline']
    if pipeline is None:
        evaluation = cfg.data.get('val', cfg.data.get('test'))
        pipeline, source = derive_scoring_pipeline(
            cfg.data.train.dataset.get('pipeline'),
            evaluation.pipeline if evaluation else None)
        logger.info(f'scoring with {source}')
    set_random_seed(args.seed)
    model = build_classifier(cfg.model)
    model.init_weights()
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    model.to(device)
    run = score_and_select(
        model,
        wrapper,
        hook['method'],
        options=hook['options'],
        scope=hook['scope'],
        seed=hook['seed'],
        scoring_pipeline=pipeline,
        batch_size=hook['scoring_batch_size'],
        workers=hook['scoring_workers'],
        checkpoint=hook['checkpoint'],
        proxy_cfg=hook['scoring_model'],
        logger=logger)
    logger.info(f'{run.selection.summary()}; scoring ({run.scored}) took '
                f'{run.scoring_s:.1f}s')
    weighted = hook['weighted'] and get_method(hook['method']).weighted
    path = save_run(
        work_dir,
        run,
        wrapper,
        scope=hook['scope'],
        weighted=weighted,
        save_norms=hook['save_norms'],
        report=hook['report'],
        extra=dict(model_seed=args.seed, checkpoint=args.checkpoint),
        logger=logger)
    logger.info(f'saved {path} ({len(run.selection)} samples)')


if __name__ == '__main__':
    main()
