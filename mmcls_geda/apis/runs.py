"""What a selection run produced, and how a run keeps it (stack-free).

:class:`SelectionRun` and :func:`save_run` are shared by both stacks'
``GradNormHook`` (mmcls 0.x through :func:`~mmcls_geda.apis.
score_and_select`, mmpretrain 1.x in :mod:`mmcls_geda.engines.
mmpretrain.hook`) and ``tools/geda_select.py``: the record layout stays
in :mod:`mmcls_geda.selection.record`, the settings in
:class:`~mmcls_geda.apis.SelectionArgs`. So is the work between a stack's
scoring loader and a saved run: the scoring model
(:func:`build_scorer`: the training model, a copy loaded from
``checkpoint`` or a proxy built from ``scoring_model``), the scoring pass
the method needs and the selection on rank 0, broadcast to every rank
(:func:`select_with_scorer`).
"""
import copy
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from ..scoring import grad_embeddings, grad_norms
from ..scoring.engine_utils import is_module_wrapper, print_log
from ..scoring.layer_norms import check_supported
from ..selection import (Selection, get_method, record, select_subset,
                         weigh_selection)
from ..selection.gradient_matching import embedding_norms
from ..selection.schedule import selection_seed
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


def scored_what(args: SelectionArgs, phase: str = 'subset') -> str:
    """What a phase's scoring pass scores, for logs (``'nothing ...'``
    when the method reads no scores and no weights are matched)."""
    if not args.needs_scoring(phase):
        return 'nothing (the method reads no scores)'
    method = args.phase_method(phase)[0]
    reads, scored = get_method(method).reads, []
    if reads == 'embeddings' or args.phase_weights(phase) is not None:
        scored.append('last-layer gradient embeddings')
    if reads == 'norms':
        scored.insert(
            0, 'input norms'
            if args.scope == 'input' else f'{args.scope} gradient norms')
    return ' and '.join(scored)


def check_scored_layers(model: torch.nn.Module, args: SelectionArgs) -> None:
    """Before the run, a TypeError naming the first layer the exact
    per-sample gradient norms cannot take (e.g. a transformer's attention
    or LayerNorm: Conv2d, BatchNorm and Linear only) when ``args`` score
    the run's model over all its parameters (``scope='full'``), rather
    than in the first epoch, after the data is loaded. A proxy
    (``scoring_model``) is checked when it is built."""
    if args.scope != 'full' or args.scoring_model is not None or \
            not args.scores_norms():
        return
    try:
        check_supported(model.module if is_module_wrapper(model) else model)
    except TypeError as error:
        raise TypeError(f'GradNormHook (method {args.method!r}) scores '
                        f'per-sample gradient norms: {error}') from None


def build_scorer(
        model: torch.nn.Module, checkpoint: Optional[str],
        scoring_model: Optional[dict], build: Callable[[dict],
                                                       torch.nn.Module],
        load: Callable[[torch.nn.Module, str], Any]) -> torch.nn.Module:
    """The model to score with: ``model`` itself (without its
    data-parallel wrapper), or a copy of it, or a proxy built from the
    classifier config ``scoring_model`` (then ``init_weights()``), loaded
    from the local ``checkpoint`` when one is given, on the model's device.

    Args:
        model: The training model (wrapped is fine).
        checkpoint: A local checkpoint to score with, or None.
        scoring_model: A classifier config of a proxy, or None.
        build: The stack's classifier builder (mmcls' ``build_classifier``,
            mmpretrain's ``MODELS.build``).
        load: ``load(module, path)``: the stack's checkpoint loader
            (non-strict: a checkpoint of a wrapped model loads too).
    """
    if is_module_wrapper(model):
        model = model.module
    if scoring_model is None and checkpoint is None:
        return model
    if scoring_model is not None:
        proxy = build(copy.deepcopy(scoring_model))
        proxy.init_weights()
    else:
        proxy = copy.deepcopy(model)
    if checkpoint is not None:
        try:
            load(proxy, checkpoint)
        except Exception as error:  # torch's bare EOFError names no file
            raise RuntimeError(
                f'GradNormHook: the scoring checkpoint {checkpoint!r} could '
                f'not be loaded ({type(error).__name__}: {error}); give a '
                'checkpoint of this model that torch.load reads (an '
                'mmengine one needs TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 on '
                'torch >= 2.6)') from error
    return proxy.to(next(model.parameters()).device)


def broadcast_selection(selection: Optional[Selection]) -> Selection:
    """Rank 0's selection on every rank (itself without a process
    group)."""
    if not (dist.is_available()
            and dist.is_initialized()) or dist.get_world_size() == 1:
        return selection
    box = [selection]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def select_with_scorer(scorer: Optional[torch.nn.Module],
                       loader: Optional[DataLoader],
                       labels: np.ndarray,
                       fraction: float,
                       args: SelectionArgs,
                       *,
                       phase: str = 'subset',
                       epoch: int = 0,
                       rank: int = 0,
                       logger=None) -> SelectionRun:
    """Score what a phase's method reads and select, on either stack.

    What is scored follows the method's registry entry: nothing,
    per-sample gradient norms over ``scope``, or last-layer gradient
    embeddings (also for ``weights``). Rank 0 selects with the event's own
    seed (:func:`~mmcls_geda.selection.schedule.selection_seed` of
    ``seed`` and ``epoch``) and, with ``weights``, weighs the subset; every
    rank gets rank 0's selection.

    Args:
        scorer: The model to score with (see :func:`build_scorer`); None
            when the phase scores nothing.
        loader: A sequential loader over the whole training set, in
            dataset order (the stack's collate); None likewise.
        labels: The training set's labels, dataset order: the scoring
            loader's must equal them.
        fraction: The subset's fraction.
        args: The settings.
        phase: ``'subset'`` or ``'then'``: whose method selects.
        epoch: The epoch the selection is made at.
        rank: This process's rank.
        logger: The run's logger (None: print).

    Raises:
        RuntimeError: If the loader's labels are not ``labels``.
    """
    method, options = args.phase_method(phase)
    entry, weights = get_method(method), args.phase_weights(phase)
    norms, scores, embeddings, scoring_s = None, None, None, 0.0
    if args.needs_scoring(phase):
        start = time.perf_counter()
        if entry.reads == 'embeddings' or weights is not None:
            g, h, scored_labels = grad_embeddings(
                scorer, loader, logger=logger)
            _check_order(scored_labels, labels)
            embeddings = (g, h)
        if entry.reads == 'embeddings':
            scores, norms = embeddings, embedding_norms(embeddings)
        elif entry.reads == 'norms':
            norms, scored_labels = grad_norms(
                scorer, loader, scope=args.scope, logger=logger)
            _check_order(scored_labels, labels)
            scores = norms
        scoring_s = time.perf_counter() - start
    selection = None
    if rank == 0:  # one selection, whatever the ranks' random states
        selection = select_subset(
            scores,
            labels,
            fraction,
            method,
            seed=selection_seed(args.seed, epoch),
            **options)
        if weights is not None:
            selection = weigh_selection(selection, embeddings, labels,
                                        weights['lam'])
    return SelectionRun(
        broadcast_selection(selection), norms, labels, scoring_s,
        scored_what(args, phase))


def _check_order(scored: np.ndarray, labels: np.ndarray) -> None:
    if not np.array_equal(scored, labels):
        raise RuntimeError(
            'the scoring loader\'s labels differ from the dataset\'s '
            'get_gt_labels(): the scoring pipeline must keep labels and '
            'the order of samples')
