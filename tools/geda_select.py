"""Run only the gradient pass and the selection of a GEDA config.

Saves ``geda_selection.json`` (plus the norms and the report) in the work
dir, so one selection can be computed once and reused by many training
runs: ``--cfg-options data.train.selection_file=WORK_DIR/geda_selection.json``.

(Named geda_select.py: a tools/select.py would shadow Python's own
``select`` module for every script in tools/.)

Usage: python tools/geda_select.py CONFIG [--work-dir DIR] [--checkpoint CKPT]
       [--device cpu|cuda] [--cfg-options k=v ...]
"""
import argparse
import os
import os.path as osp

import torch
from mmcv import Config, DictAction
from mmcv.runner import load_checkpoint
from mmcls.datasets import build_dataset
from mmcls.models import build_classifier
from mmcls.utils import get_root_logger

import mmcls_geda  # noqa: F401
from mmcls_geda import GEDASubsetDataset, GradNormHook


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--work-dir', help='default: work_dirs/CONFIG_NAME')
    parser.add_argument('--checkpoint',
                        help='score with these weights (default: init)')
    parser.add_argument('--device', default=None,
                        help="'cpu' or 'cuda' (default: cuda if available)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    work_dir = args.work_dir or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    os.makedirs(work_dir, exist_ok=True)
    logger = get_root_logger(log_file=osp.join(work_dir, 'select.log'))

    hook_cfgs = [
        h for h in cfg.get('custom_hooks', []) if h['type'] == 'GradNormHook'
    ]
    if len(hook_cfgs) != 1:
        raise ValueError(f'{args.config} must declare exactly one '
                         f'GradNormHook in custom_hooks, found '
                         f'{len(hook_cfgs)}')
    hook_args = {
        k: v
        for k, v in hook_cfgs[0].items() if k not in ('type', 'priority')
    }
    hook = GradNormHook(**hook_args)  # checks method/options before work
    if cfg.data.train.get('type') != 'GEDASubsetDataset':
        raise ValueError(f'{args.config}: data.train must be a '
                         'GEDASubsetDataset')
    cfg.data.train.pop('selection_file', None)
    wrapper = build_dataset(cfg.data.train)
    assert isinstance(wrapper, GEDASubsetDataset)

    model = build_classifier(cfg.model)
    model.init_weights()
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    model.to(device)
    selection = hook.select(model, wrapper, work_dir, logger)
    logger.info(f'saved {osp.join(work_dir, "geda_selection.json")} '
                f'({len(selection)} samples)')


if __name__ == '__main__':
    main()
