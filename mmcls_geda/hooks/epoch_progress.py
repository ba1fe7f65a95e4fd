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

The updaters see it through a documented wrapper, not a patch: the config
wraps its schedule,

    lr_config = dict(policy='EpochProgress', schedule=dict(
        policy='OneCycle', max_lr=0.1, by_epoch=False))

(the same for ``momentum_config``; ``apply_pruning`` and ``apply_geda``
with a budget schedule wrap them), and the wrapper, an
:class:`EpochProgressLrUpdaterHook`, passes every event to the schedule it
holds, iteration events at the epoch progress. A run whose epochs vary with
an iteration-based updater that is not wrapped is refused before training.
"""
from typing import Any, Dict, Iterable, Optional

from mmcv.runner import HOOKS, Hook, LrUpdaterHook
from mmcv.runner.hooks.momentum_updater import MomentumUpdaterHook
from mmcv.utils import build_from_cfg

from ..apis.config import PROGRESS_POLICY as POLICY
from ..subsets import progress_iterations


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

    Call :meth:`attach` in ``before_run``, :meth:`start` with the
    reference epoch length in the first epoch of the process, and
    :meth:`set_epoch` with every epoch's length and the run's planned total.
    """

    def __init__(self):
        self.reference_iters: Optional[int] = None
        self.epoch_iters: Optional[int] = None
        self.updaters = []

    def attach(self, runner, who: str) -> None:
        """Drive the run's wrapped updaters; refuse an iteration-based one
        that is not wrapped (``who`` changes the epochs' lengths)."""
        for hook in runner.hooks:
            if isinstance(hook, _ProgressUpdater):
                hook.follow(self)
                self.updaters.append(hook.schedule)
            elif isinstance(hook, (LrUpdaterHook, MomentumUpdaterHook)) \
                    and not hook.by_epoch:
                key = ('lr_config' if isinstance(hook, LrUpdaterHook) else
                       'momentum_config')
                raise TypeError(
                    f'{who} changes the epochs\' lengths, which the '
                    f'iteration-based {type(hook).__name__} would stretch '
                    f'or squeeze: wrap it, {key} = dict(policy={POLICY!r}, '
                    f'schedule=dict(policy=...)) (apply_geda and '
                    'apply_pruning do), or use a schedule by epoch')

    def view(self, runner) -> _ScheduleView:
        """The runner as an iteration-based schedule sees it now."""
        per_epoch = self.reference_iters
        # mmcv's updaters read the iteration about to run: one before the
        # progress at this iteration's end
        virtual = progress_iterations(per_epoch, runner.epoch,
                                      runner.inner_iter, self.epoch_iters) - 1
        return _ScheduleView(runner, virtual, per_epoch * runner.max_epochs)

    def start(self, runner, reference_iters: int) -> None:
        """Fix the reference epoch length; a warm-up given in epochs is
        counted in reference iterations, as the schedules count (not in
        this process's first epoch's length)."""
        self.reference_iters = int(reference_iters)
        for schedule in self.updaters:
            if not schedule.by_epoch and \
                    getattr(schedule, 'warmup_epochs', None) and \
                    schedule.warmup_iters is None:
                schedule.warmup_iters = (
                    schedule.warmup_epochs * self.reference_iters)

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


class _ProgressUpdater(Hook):
    """Hold a learning-rate or momentum schedule and pass it every event;
    iteration events at the epoch progress of :class:`EpochProgress` once
    a hook whose epochs vary drives it (unchanged otherwise).

    Args:
        schedule: The schedule's config as ``lr_config`` /
            ``momentum_config`` would hold it (``policy`` and its
            arguments).
    """
    suffix = ''

    def __init__(self, schedule: Dict[str, Any]):
        if not isinstance(schedule, dict) or 'policy' not in schedule:
            raise ValueError(
                f'policy={POLICY!r} wraps a schedule: give schedule=dict('
                f'policy=..., ...), got schedule={schedule!r}')
        cfg = dict(schedule)
        policy = cfg.pop('policy')
        if policy == POLICY:
            raise ValueError(f'schedule={schedule!r} wraps {POLICY!r} twice')
        if policy == policy.lower():  # as mmcv's runner names policies
            policy = policy.title()
        self.schedule = build_from_cfg(
            dict(cfg, type=policy + self.suffix), HOOKS)
        self.progress: Optional[EpochProgress] = None

    def follow(self, progress: EpochProgress) -> None:
        self.progress = progress

    def before_run(self, runner):
        self.schedule.before_run(runner)

    def before_train_epoch(self, runner):
        self.schedule.before_train_epoch(runner)

    def before_train_iter(self, runner):
        if self.progress is None or self.schedule.by_epoch:
            self.schedule.before_train_iter(runner)
        else:
            self.schedule.before_train_iter(self.progress.view(runner))


@HOOKS.register_module()
class EpochProgressLrUpdaterHook(_ProgressUpdater):
    """``lr_config = dict(policy='EpochProgress', schedule=dict(...))``: the
    learning-rate schedule by epoch progress (see the module)."""
    suffix = 'LrUpdaterHook'


@HOOKS.register_module()
class EpochProgressMomentumUpdaterHook(_ProgressUpdater):
    """``momentum_config = dict(policy='EpochProgress', schedule=...)``:
    the momentum schedule by epoch progress (see the module)."""
    suffix = 'MomentumUpdaterHook'
