"""Parameter schedules by epoch progress when the epochs' lengths vary
(mmpretrain 1.x / mmengine).

A budget schedule (and dynamic pruning) changes the number of iterations
from epoch to epoch. mmengine steps an iteration-based scheduler
(``by_epoch=False``, or ``by_epoch=True`` with ``convert_to_iter_based``,
which mmengine converts with the ``len(train_dataloader)`` it sees when
the schedulers are built: the reference epoch) once per iteration, so
its curve would be stretched or squeezed.

:class:`EpochProgressParamSchedulerHook` replaces mmengine's
``ParamSchedulerHook``: after iteration ``i`` of an epoch of ``L``
iterations it steps every iteration-based scheduler, with
its own ``step()``, until it has stepped ``round(L0 * (epoch + (i + 1) /
L))`` times (``L0``: the reference epoch's iterations; see
:func:`mmcls_geda.subsets.progress_iterations`), as many times as the
full-length run at the same epoch progress: every scheduler type (chained
or closed-form) stays exact, and the last iteration leaves the schedule's
final value. By-epoch schedulers step after every epoch, as mmengine's.
With epochs of the reference length it steps exactly as
``ParamSchedulerHook``.

Set it in the config (``apply_geda`` does with a budget schedule)::

    default_hooks = dict(
        param_scheduler=dict(type='EpochProgressParamSchedulerHook'))
"""
from typing import Optional

from mmengine.hooks import ParamSchedulerHook
from mmpretrain.registry import HOOKS

from ...subsets import progress_iterations


def iteration_schedulers(runner) -> list:
    """The run's iteration-based parameter schedulers (a list, or a dict
    of lists per optimizer, in ``runner.param_schedulers``)."""
    schedulers = runner.param_schedulers
    if schedulers is None:
        return []
    if isinstance(schedulers, dict):
        schedulers = [s for group in schedulers.values() for s in group]
    return [s for s in schedulers if not s.by_epoch]


@HOOKS.register_module()
class EpochProgressParamSchedulerHook(ParamSchedulerHook):
    """``ParamSchedulerHook`` whose iteration-based schedulers follow the
    epoch progress when the epochs' lengths vary (see the module).

    The reference epoch length is the training loader's length before
    the first epoch (``before_train``: the length mmengine converted the
    ``convert_to_iter_based`` schedules with); every epoch's length is read
    after the hooks of higher priority have set its plan
    (``before_train_epoch``).
    """

    priority = 'LOW'

    def __init__(self) -> None:
        self.reference_iters: Optional[int] = None
        self.epoch_iters: Optional[int] = None

    def before_train(self, runner) -> None:
        """The reference epoch's iterations (nothing served yet)."""
        self.reference_iters = len(runner.train_dataloader)

    def before_train_epoch(self, runner) -> None:
        """This epoch's iterations (the plan is set by now)."""
        self.epoch_iters = len(runner.train_dataloader)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        """Step every iteration-based scheduler up to the reference run's
        step count at this iteration's epoch progress."""
        target = round(
            progress_iterations(self.reference_iters, runner.epoch, batch_idx,
                                self.epoch_iters))
        for scheduler in iteration_schedulers(runner):
            # _global_step counts step() calls (0 after construction) and
            # is saved in the checkpoint, so a resume goes on from it
            while scheduler._global_step < target:
                scheduler.step()
