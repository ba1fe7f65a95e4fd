"""What a grid needs from the installed OpenMMLab stack.

A grid is the same on both stacks (specs, plan, run folders, summary); what
differs is where a config keeps its training set, epochs and evaluation,
which stock script trains a run, and what a finished run leaves on disk:

* mmcls 0.x / mmcv 1.x (:class:`MmclsStack`): ``data.train``,
  ``runner.max_epochs``, ``evaluation``; ``tools/train.py`` (mmcls's own
  script) with ``--seed`` and ``--device``; the result is the last
  ``mode: val`` entry of mmcv's ``*.log.json``;
* mmpretrain 1.x / mmengine (:class:`MmpretrainStack`):
  ``train_dataloader.dataset``, ``train_cfg.max_epochs``, ``val_cfg`` /
  ``val_evaluator``; ``tools/train_mmpretrain.py`` (mmpretrain's own
  script), the seed in ``randomness.seed``; the result is the last
  validation entry of mmengine's ``<timestamp>/vis_data/scalars.json``.

:func:`grid_stack` picks the one :data:`mmcls_geda.stack.STACK` names.
"""
import json
import os
import os.path as osp
import warnings
from typing import Any, Dict, List, Optional, Tuple

from ..stack import STACK
from . import collect

# the repository's tools/ (the package is installed in develop mode)
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# training sets that already select or prune: not a full-data config
SELECTING = ('GEDASubsetDataset', 'DynamicPruningDataset')


def _type_name(value: Any) -> Any:
    """A config's ``type`` as a name (lazy-import configs give classes)."""
    return value if isinstance(value, str) or value is None else getattr(
        value, '__name__', value)


def _other_generation(looks_like_it: bool) -> str:
    """The hint for a config of the other OpenMMLab generation."""
    return ('; it looks like a config of the other generation: run the '
            "grid with that stack's interpreter (.venv/bin/python for mmcls "
            '0.x, .venv-mmpretrain/bin/python for mmpretrain 1.x)'
            if looks_like_it else '')


class MmclsStack:
    """mmcls 0.x on mmcv 1.x's ``EpochBasedRunner``."""

    name = 'mmcls'
    train_tool = osp.join(REPO, 'tools', 'train.py')

    @staticmethod
    def config_class():
        from mmcv import Config
        return Config

    def train_set(self, cfg) -> dict:
        train = (cfg.get('data') or {}).get('train')
        if not isinstance(train, dict):
            raise ValueError(
                'the config has no data.train: a grid on mmcls 0.x takes an '
                'mmcls 0.x config' +
                _other_generation('train_dataloader' in cfg))
        return train

    def max_epochs(self, cfg) -> int:
        return int(cfg.runner.max_epochs)

    def build_train_set(self, cfg):
        from mmcls.datasets import build_dataset
        return build_dataset(cfg.data.train)

    def check_evaluation(self, cfg, what: str) -> None:
        from .plan import check_evaluation
        check_evaluation(cfg, what)

    def check_device(self, device: Optional[str], gpus: int) -> None:
        """Any ``--device`` of mmcls's ``tools/train.py``."""

    def seeded(self, cfg, seed: int):
        """The config of a run of ``seed``: unchanged (``--seed`` is an
        argument of mmcls's ``tools/train.py``)."""
        return cfg

    def command(self, config_path: str, run_dir: str, seed: int,
                device: Optional[str]) -> Tuple[List[str], Dict[str, str]]:
        """``tools/train.py``'s arguments and the environment it needs."""
        args = [
            self.train_tool, config_path, '--work-dir', run_dir, '--seed',
            str(seed)
        ]
        return args + (['--device', device] if device else []), {}

    def last_val(self, run_dir: str) -> Dict[str, Optional[float]]:
        val = collect.last_val(collect.run_log(run_dir))
        return dict(top1=val['accuracy_top-1'], top5=val.get('accuracy_top-5'))

    def pause_seconds(self, cfg) -> float:
        return collect.pause_seconds(cfg)


class MmpretrainStack:
    """mmpretrain 1.x on mmengine's ``Runner`` (``EpochBasedTrainLoop``)."""

    name = 'mmpretrain'
    train_tool = osp.join(REPO, 'tools', 'train_mmpretrain.py')
    devices = ('cpu', 'cuda')

    @staticmethod
    def config_class():
        from mmengine.config import Config
        return Config

    def train_set(self, cfg) -> dict:
        loader = cfg.get('train_dataloader') or {}
        dataset = loader.get('dataset') if isinstance(loader, dict) else None
        if not isinstance(dataset, dict):
            raise ValueError(
                'the config has no train_dataloader.dataset: a grid on '
                'mmpretrain 1.x takes an mmpretrain classification config' +
                _other_generation('data' in cfg))
        return dict(dataset, type=_type_name(dataset.get('type')))

    def max_epochs(self, cfg) -> int:
        train_cfg = cfg.get('train_cfg') or {}
        if 'max_epochs' not in train_cfg:
            raise ValueError(
                f'train_cfg={dict(train_cfg)!r} has no max_epochs: a grid '
                'trains epoch-based runs (train_cfg = dict(by_epoch=True, '
                'max_epochs=...))')
        return int(train_cfg['max_epochs'])

    def build_train_set(self, cfg):
        from mmengine.registry import DefaultScope
        from mmpretrain.registry import DATASETS

        # the transforms' registry is mmpretrain's, as in a Runner
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')  # local copies' md5 sums
                return DATASETS.build(cfg.train_dataloader.dataset)

    def check_evaluation(self, cfg, what: str) -> None:
        """A ValueError unless the run validates with an ``Accuracy``
        metric (mmengine's loop always validates the last epoch)."""
        missing = [
            key for key in ('val_dataloader', 'val_cfg', 'val_evaluator')
            if cfg.get(key) is None
        ]
        if missing:
            raise ValueError(
                f'{what} does not validate ({", ".join(missing)} not set): '
                'a grid reads each run\'s top-1 from its last validation')
        evaluator = cfg.val_evaluator
        metrics = evaluator if isinstance(evaluator, list) else [evaluator]
        types = [_type_name(m.get('type')) for m in metrics]
        if 'Accuracy' not in types:
            raise ValueError(
                f'{what}: val_evaluator {types} has no Accuracy metric; a '
                "grid reads 'accuracy/top1' from the last validation")
        begin = (cfg.get('train_cfg') or {}).get('val_begin', 1)
        epochs = self.max_epochs(cfg)
        if begin > epochs:
            raise ValueError(
                f'{what}: train_cfg.val_begin={begin} is after the last '
                f'epoch ({epochs}), so the run is never validated; add '
                '--cfg-options train_cfg.val_begin=1')

    def check_device(self, device: Optional[str], gpus: int) -> None:
        """cpu, cuda or None (mmengine's choice); not cpu with ``--gpus``
        > 1: mmengine 0.10.7's ``pytorch`` launcher (``init_dist``) sets a
        CUDA device for every process."""
        if device not in (None, ) + self.devices:
            raise ValueError(
                f'--device {device!r}: on mmpretrain 1.x a run trains on '
                f'{" or ".join(self.devices)} (mmengine takes the GPU when '
                'one is visible; cpu hides it)')
        if device == 'cpu' and gpus > 1:
            raise ValueError(
                f'--device cpu with --gpus {gpus}: mmengine\'s pytorch '
                'launcher sets a CUDA device for each process '
                '(torch.cuda.set_device), so a distributed run on '
                'mmpretrain 1.x needs GPUs; drop --device cpu or --gpus')

    def seeded(self, cfg, seed: int):
        """The config of a run of ``seed``: ``randomness.seed`` (mmpretrain's
        ``tools/train.py`` takes no ``--seed``)."""
        cfg = cfg.copy()
        cfg.randomness = dict(cfg.get('randomness') or {}, seed=seed)
        return cfg

    def command(self, config_path: str, run_dir: str, seed: int,
                device: Optional[str]) -> Tuple[List[str], Dict[str, str]]:
        """``tools/train_mmpretrain.py``'s arguments (the seed is in the
        config) and the environment: ``--device cpu`` hides the GPUs."""
        env = dict(CUDA_VISIBLE_DEVICES='') if device == 'cpu' else {}
        return [self.train_tool, config_path, '--work-dir', run_dir], env

    def last_val(self, run_dir: str) -> Dict[str, Optional[float]]:
        """``accuracy/top1`` (and ``top5``) of the last validation in
        mmengine's scalars of the run's newest log folder."""
        path = mmengine_scalars(run_dir)
        val = {}
        with open(path, encoding='utf-8') as f:
            for line in f:
                entry = json.loads(line)
                if 'accuracy/top1' in entry:
                    val = entry
        if not val:
            raise RuntimeError(f'{path} holds no validation result '
                               "('accuracy/top1'): the config must validate")
        return dict(top1=val['accuracy/top1'], top5=val.get('accuracy/top5'))

    def pause_seconds(self, cfg) -> float:
        """mmengine's loop does not pause between epochs."""
        return 0.0


def mmengine_scalars(run_dir: str) -> str:
    """``<run_dir>/<timestamp>/vis_data/scalars.json`` of the newest run
    (mmengine's ``LocalVisBackend``: one JSON line per logged step)."""
    found = sorted(
        name for name in os.listdir(run_dir)
        if osp.isfile(osp.join(run_dir, name, 'vis_data', 'scalars.json')))
    if not found:
        raise RuntimeError(f'{run_dir} holds no <timestamp>/vis_data/'
                           'scalars.json (mmengine\'s logged scalars)')
    return osp.join(run_dir, found[-1], 'vis_data', 'scalars.json')


STACKS = {'mmcls': MmclsStack, 'mmpretrain': MmpretrainStack}


def grid_stack(name: Optional[str] = STACK):
    """The installed stack's grid glue, or a ValueError when neither
    mmcls 0.x nor mmpretrain 1.x is installed."""
    if name not in STACKS:
        raise ValueError(
            'a grid trains with mmcls 0.x (mmcv 1.x) or mmpretrain 1.x '
            f'(mmengine); installed: {name} (see README.md, make venv or '
            'make venv-mmpretrain)')
    return STACKS[name]()
