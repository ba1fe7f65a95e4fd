"""``EpochBasedRunner`` without the fixed pause at every epoch start.

mmcv 1.x's ``EpochBasedRunner.train`` and ``.val`` call ``time.sleep(2)``
right after ``before_{train,val}_epoch`` ("Prevent possible deadlock during
epoch transition", mmcv PR #306, May 2020). It is an empirical workaround:
its author suspected "the delayed release of several workers during epoch
transition", and mmcv's maintainers could not reproduce the deadlock later
(mmcv issue #1912). It predates ``persistent_workers`` (torch 1.7), with
which no worker is started or stopped at an epoch transition at all. The
cost is fixed: 2 s per training epoch and 2 s per evaluation, whatever
the epoch's size, which is most of a small subset's epoch.

This runner is the same loop with the pause made an argument
(``epoch_pause``, default 0). ``docs/benchmarks.md`` ("Fixed costs and the
pauseless runner") has the measurements and the cases tested.
"""
import math
import time
from typing import Any, Optional

import torch
from mmcv.runner import RUNNERS, EpochBasedRunner


def _check_pause(epoch_pause: Any) -> float:
    ok = (not isinstance(epoch_pause, bool)
          and isinstance(epoch_pause, (int, float))
          and math.isfinite(epoch_pause) and epoch_pause >= 0)
    if not ok:
        raise ValueError('epoch_pause (seconds slept at the start of every '
                         'train and val epoch; mmcv sleeps 2) must be a '
                         f'number >= 0, got {epoch_pause!r}')
    return float(epoch_pause)


@RUNNERS.register_module()
class PauselessEpochBasedRunner(EpochBasedRunner):
    """``EpochBasedRunner`` whose pause at each epoch start is an argument.

    Everything else (hooks, their order, ``run``, checkpoints, resume) is
    mmcv's ``EpochBasedRunner``; ``train`` and ``val`` are its loops (mmcv
    1.7.2) with ``time.sleep(2)`` replaced by ``time.sleep(epoch_pause)``,
    skipped when it is 0.

    Config: ``runner = dict(type='PauselessEpochBasedRunner',
    max_epochs=12, epoch_pause=0)`` with ``mmcls_geda`` in
    ``custom_imports``, or :func:`mmcls_geda.apis.use_pauseless_runner`
    (``epoch_pause=`` of ``apply_geda``/``apply_pruning``).

    Args:
        epoch_pause: Seconds to sleep after ``before_train_epoch`` and
            ``before_val_epoch``, as mmcv does (mmcv: 2). Default 0.
        *args, **kwargs: ``EpochBasedRunner``'s arguments.
    """

    def __init__(self, *args, epoch_pause: float = 0.0, **kwargs):
        self.epoch_pause = _check_pause(epoch_pause)
        super().__init__(*args, **kwargs)

    def _pause(self) -> None:
        if self.epoch_pause > 0:
            time.sleep(self.epoch_pause)

    def train(self, data_loader, **kwargs):
        self.model.train()
        self.mode = 'train'
        self.data_loader = data_loader
        self._max_iters = self._max_epochs * len(self.data_loader)
        self.call_hook('before_train_epoch')
        self._pause()
        for i, data_batch in enumerate(self.data_loader):
            self.data_batch = data_batch
            self._inner_iter = i
            self.call_hook('before_train_iter')
            self.run_iter(data_batch, train_mode=True, **kwargs)
            self.call_hook('after_train_iter')
            del self.data_batch
            self._iter += 1

        self.call_hook('after_train_epoch')
        self._epoch += 1

    @torch.no_grad()
    def val(self, data_loader, **kwargs):
        self.model.eval()
        self.mode = 'val'
        self.data_loader = data_loader
        self.call_hook('before_val_epoch')
        self._pause()
        for i, data_batch in enumerate(self.data_loader):
            self.data_batch = data_batch
            self._inner_iter = i
            self.call_hook('before_val_iter')
            self.run_iter(data_batch, train_mode=False)
            self.call_hook('after_val_iter')
            del self.data_batch
        self.call_hook('after_val_epoch')


def set_runner(cfg: dict, epoch_pause: Optional[float]) -> None:
    """Make the plain config dict ``cfg`` train with this runner (or, with
    ``epoch_pause=None``, with mmcv's ``EpochBasedRunner``), in place;
    the runner's other settings (``max_epochs``) are kept.

    Raises:
        ValueError: For a bad pause, or a runner that is not epoch-based.
    """
    if epoch_pause is not None:
        epoch_pause = _check_pause(epoch_pause)
    runner = dict(cfg.get('runner') or {})
    kind = runner.get('type', 'EpochBasedRunner')
    if kind not in ('EpochBasedRunner', 'PauselessEpochBasedRunner'):
        raise ValueError(
            'the pauseless runner replaces an epoch-based runner '
            "(runner.type 'EpochBasedRunner' or 'PauselessEpochBasedRunner'"
            f'); got runner.type {kind!r}')
    runner.pop('epoch_pause', None)
    if epoch_pause is None:
        runner['type'] = 'EpochBasedRunner'
    else:
        runner.update(
            type='PauselessEpochBasedRunner', epoch_pause=epoch_pause)
    cfg['runner'] = runner
