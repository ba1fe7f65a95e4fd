"""Schedules by epoch progress when the epochs' lengths vary.

Dynamic pruning and the budget schedules of the per-epoch methods change
the number of iterations from epoch to epoch. An iteration-based
(``by_epoch=False``) learning-rate or momentum updater would then stretch
or squeeze its curve; :class:`EpochProgress` makes every such updater see,
at iteration ``i`` of an epoch of ``L`` iterations, the reference run's
iteration at the same epoch progress ``(epoch + (i + 1) / L) /
max_epochs`` (counted at the iteration's end, so the last iteration gets
the final value). The reference run is the one whose epochs all have the
length the runner saw before training (``before_run``): the full data for
pruning, the constant budget for a budget schedule.
"""
from typing import Iterable, Optional

from mmcv.runner import LrUpdaterHook
from mmcv.runner.hooks.momentum_updater import MomentumUpdaterHook


class _ScheduleView:
    """The runner as an iteration-based schedule sees it: ``iter`` and
    ``max_iters`` are the reference run's at the same epoch progress; every
    other attribute is the runner's."""

    def __init__(self, runner, virtual_iter: float, reference_iters: int):
        self._runner = runner
        self.iter, self.max_iters = virtual_iter, reference_iters

    def __getattr__(self, name):
        return getattr(self._runner, name)


class EpochProgress:
    """Drive the runner's iteration-based updaters by epoch progress.

    Call :meth:`install` in ``before_run``, :meth:`start` with the
    reference epoch length in the first epoch of the process, and
    :meth:`set_epoch` with every epoch's length and the run's planned total.
    """

    def __init__(self):
        self.reference_iters: Optional[int] = None
        self.epoch_iters: Optional[int] = None

    def install(self, runner) -> None:
        """Route the ``by_epoch=False`` updaters through the view (once
        per updater, whichever hook installs it)."""
        for hook in runner.hooks:
            if isinstance(hook, (LrUpdaterHook, MomentumUpdaterHook)) and \
                    not hook.by_epoch and \
                    not hasattr(hook, '_epoch_progress_view'):
                hook._epoch_progress_view = True
                hook.before_train_iter = self._through_view(
                    hook.before_train_iter)

    def _through_view(self, method):

        def call(runner):
            per_epoch = self.reference_iters
            virtual = runner.epoch * per_epoch + (
                (runner.inner_iter + 1) * per_epoch / self.epoch_iters - 1)
            method(
                _ScheduleView(runner, virtual, per_epoch * runner.max_epochs))

        return call

    def start(self, runner, reference_iters: int) -> None:
        """Fix the reference epoch length; a warm-up given in epochs is
        counted in reference iterations, as the schedules count (not in
        this process's first epoch's length)."""
        self.reference_iters = int(reference_iters)
        for hook in runner.hooks:
            if getattr(hook, '_epoch_progress_view', False) and \
                    getattr(hook, 'warmup_epochs', None) and \
                    hook.warmup_iters is None:
                hook.warmup_iters = hook.warmup_epochs * self.reference_iters

    def set_epoch(self, runner, epoch_iters: int,
                  later_epochs_iters: Iterable[float]) -> None:
        """This epoch's length, and ``runner.max_iters`` as this epoch's
        end plus the later epochs' (planned or expected) lengths, for the
        ETA and ``is_last_iter``."""
        self.epoch_iters = int(epoch_iters)
        # mmcv 1.x has no public setter; train() itself rewrites it from
        # len(loader) every epoch, which no longer is every epoch's length
        runner._max_iters = runner.iter + self.epoch_iters + sum(
            later_epochs_iters)
