"""What the hook serves besides a fresh selection: the plan of a run, the
saved selections a run (or a resumed one) reuses, and its event records.

Runner-free and stack-free (both stacks' ``GradNormHook`` use it): the
hook passes the wrapper (either stack's ``GEDASubsetDataset``), the
settings, the epoch and the work dir; the record layout stays in
:mod:`mmcls_geda.selection.record`.
"""
import json
import os.path as osp
from typing import Any, Dict, List, Optional

import numpy as np

from ..scoring.engine_utils import print_log
from ..selection import record
from ..selection.schedule import SchedulePlan, Step, plan_schedule
from ..subsets import SharedSubset
from .runs import SelectionRun
from .settings import SelectionArgs


def make_plan(args: SelectionArgs, wrapper: SharedSubset, max_epochs: int,
              epoch: int, work_dir: str) -> SchedulePlan:
    """The plan of a run that starts (or resumes) at ``epoch``, checked
    against the wrapper and, on a resume, against the schedule the work
    dir's run was made with; the work dir must take the records."""
    if wrapper.selection_file is not None and (args.warmup_epochs
                                               or args.then):
        raise ValueError(
            'the wrapper serves the fixed selection '
            f'{wrapper.selection_file}, which warmup_epochs and then (the '
            'hook selecting later in the run) cannot combine with')
    plan = plan_schedule(
        len(wrapper.dataset), len(wrapper), max_epochs, args.warmup_epochs,
        args.interval, args.then)
    record.check_writable(work_dir, plan.per_epoch_files())
    if epoch > 0:
        record.check_schedule(work_dir, args.schedule())
    return plan


def saved_selection_path(wrapper: SharedSubset, plan: SchedulePlan, step: Step,
                         work_dir: str) -> Optional[str]:
    """The saved record ``step`` trains on, or None when it is due now
    (the wrapper's ``selection_file`` stands in for epoch 0's)."""
    if step.due == 0 and wrapper.selection_file is not None:
        return wrapper.selection_file
    if step.action != 'reuse':
        return None
    return record.selection_path(work_dir, step.due, plan.per_epoch_files())


def serve_saved(wrapper: SharedSubset, args: SelectionArgs, step: Step,
                path: str, epoch: int) -> None:
    """Serve the record at ``path`` after checking it fits the data and
    was made with this run's settings for ``step``'s phase."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'resuming at epoch {epoch} needs the selection it trains on '
            f'(made at epoch {step.due}), {path}, which is missing: give it '
            'as the wrapper\'s selection_file or start again from epoch 0')
    wrapper.load_selection(path, args.record_settings(step.phase))


def serve_saved_if_any(wrapper: SharedSubset, args: SelectionArgs,
                       plan: SchedulePlan, step: Step, epoch: int,
                       work_dir: str) -> Optional[str]:
    """Serve the saved record ``step`` trains on, if there is one (a
    resume, the wrapper's ``selection_file``), checked as
    :func:`serve_saved` does.

    Returns:
        str | None: What was served, for the log (``'resumed the selection
        from PATH'``); None when the selection is due now.
    """
    path = saved_selection_path(wrapper, plan, step, work_dir)
    if path is None:
        return None
    serve_saved(wrapper, args, step, path, epoch)
    how = ('serving the selection file'
           if path == wrapper.selection_file else 'resumed the selection')
    return f'{how} from {path}'


def selection_event(run: SelectionRun, phase: str,
                    epoch: int) -> Dict[str, Any]:
    """The ``geda_schedule.json`` event of a selection."""
    selection = run.selection
    return dict(
        epoch=epoch,
        phase=phase,
        method=selection.method,
        size=len(selection),
        seed=selection.seed,
        weighting=selection.weighting,
        objective=_mean(selection.objective),
        method_objective=_mean(selection.method_objective),
        reference_objective=_mean(selection.reference_objective),
        scoring_s=run.scoring_s,
        selection_s=selection.time_s)


def warmup_event(plan: SchedulePlan) -> Dict[str, Any]:
    """The event of a warm-up: the passes it serves, over which epochs."""
    return dict(
        epoch=0,
        phase='warmup',
        passes=plan.passes,
        epochs=plan.warmup_end,
        size=plan.size)


def save_event(work_dir: str, args: SelectionArgs, event: Dict[str, Any],
               logger) -> None:
    """Log ``event`` as a JSON line through the run's logger and keep it in
    ``geda_schedule.json`` with the schedule settings (rank 0 only)."""
    print_log(f'GradNormHook event: {json.dumps(event)}', logger=logger)
    record.save_schedule_event(work_dir, event, args.schedule())


def _mean(values: List[float]) -> Optional[float]:
    return float(np.mean(values)) if values else None
