"""What a selection run produced, and how a run keeps it (stack-free).

:class:`SelectionRun` and :func:`save_run` are shared by both stacks'
``GradNormHook`` (mmcls 0.x through :func:`~mmcls_geda.apis.
score_and_select`, mmpretrain 1.x in :mod:`mmcls_geda.engines.
mmpretrain.hook`) and ``tools/geda_select.py``: the record layout stays
in :mod:`mmcls_geda.selection.record`, the settings in
:class:`~mmcls_geda.apis.SelectionArgs`.
"""
import logging
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence

import numpy as np

from ..scoring.engine_utils import print_log
from ..selection import Selection, record
from ..subsets import SharedSubset
from .settings import SelectionArgs


@dataclass
class SelectionRun:
    """What a scoring pass and a selection did.

    Attributes:
        selection: The subset and how it was chosen.
        norms: The per-sample scores the objectives were reported on
            (gradient norms, or the embeddings' norms); None when the
            method reads nothing.
        labels: The dataset's labels, dataset order.
        scoring_s: Wall time of the scoring pass (0 when nothing was
            scored).
        scored: What was scored, for logs.
    """
    selection: Selection
    norms: Optional[np.ndarray]
    labels: np.ndarray
    scoring_s: float
    scored: str


def class_names(dataset: SharedSubset) -> Optional[Sequence[str]]:
    """The wrapped dataset's class names: ``CLASSES`` (mmcls 0.x) or
    ``metainfo['classes']`` (mmengine)."""
    names = getattr(dataset, 'CLASSES', None)
    if names is None:
        names = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    return names


def save_run(work_dir: str,
             run: SelectionRun,
             dataset: SharedSubset,
             args: SelectionArgs,
             *,
             phase: str = 'subset',
             epoch: int = 0,
             per_epoch: bool = False,
             extra: Optional[Dict[str, Any]] = None,
             logger=None) -> str:
    """Save a run's record (with the settings it was made with), and its
    scores and report as ``args`` asks, to ``work_dir``.

    The report is optional output: a failure to draw or write it is logged
    and the record stays saved.

    Returns:
        str: The path of ``geda_selection.json``.
    """
    settings = args.record_settings(phase)
    saved = record.make_record(
        run.selection,
        fingerprint=dataset.fingerprint,
        scope=args.scope,
        weighted=settings['weighted'],
        epoch=epoch,
        scoring_s=run.scoring_s,
        extra=dict(
            extra or {},
            weights=settings['weights'],
            phase=phase,
            schedule=args.schedule()))
    path = record.save_record(work_dir, saved, per_epoch=per_epoch)[0]
    if run.norms is None:
        return path  # nothing was scored: no scores to save or draw
    if args.save_norms:
        record.save_scores(work_dir, run.norms, run.labels)
    if args.report:
        from ..report import write_report
        try:
            write_report(
                run.norms,
                run.labels,
                run.selection,
                work_dir,
                classes=class_names(dataset))
        except Exception as err:  # optional output: never stop training
            print_log(
                f'the selection report could not be written to {work_dir} '
                f'({type(err).__name__}: {err}); the selection is saved',
                logger=logger,
                level=logging.WARNING)
    return path
