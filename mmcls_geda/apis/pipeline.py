"""``score_and_select``: the runner-free pipeline behind the hook and tools.

Scoring loader, scoring model (the training model, a checkpoint or a
proxy), the scoring pass, the selection on rank 0 and its broadcast to
every rank. :class:`~mmcls_geda.GradNormHook` decides *when* to call it;
``tools/geda_select.py`` and the benchmarks call it directly.
"""
import copy
import time
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.distributed as dist
from mmcls.datasets.pipelines import Compose
from mmcv.parallel import collate, is_module_wrapper
from mmcv.runner import get_dist_info, load_checkpoint
from mmcv.utils import print_log

from ..datasets.subset import GEDASubsetDataset
from ..scoring import grad_embeddings, grad_norms
from ..selection import Selection, get_method, select_subset, weigh_selection
from ..selection.gradient_matching import embedding_norms
from ..selection.schedule import selection_seed
from .runs import SelectionRun
from .settings import SelectionArgs
from .transforms import type_name, without_random_transforms


def pipeline_keeping_labels(pipeline: Sequence[Any]) -> List[Any]:
    """An evaluation pipeline (configs or built transforms) that also
    collects ``gt_label``: ``ToTensor`` for the label, ``Collect`` with it.

    Raises:
        ValueError: If the pipeline does not end with ``Collect``.
    """
    if not pipeline or type_name(pipeline[-1]) != 'Collect':
        raise ValueError(
            'an evaluation pipeline must end with Collect to be '
            f'scored with, got {[type_name(t) for t in pipeline]}')
    *steps, collect = pipeline
    keys = list(collect['keys'] if isinstance(collect, dict) else collect.keys)
    has_label_tensor = any(
        type_name(t) == 'ToTensor' and 'gt_label' in (
            t['keys'] if isinstance(t, dict) else t.keys) for t in steps)
    steps = [copy.deepcopy(t) if isinstance(t, dict) else t for t in steps]
    if not has_label_tensor:
        steps.append(dict(type='ToTensor', keys=['gt_label']))
    if 'gt_label' not in keys:
        keys.append('gt_label')
    return steps + [dict(type='Collect', keys=keys)]


def derive_scoring_pipeline(
        train_pipeline: Optional[Sequence[dict]],
        eval_pipeline: Optional[Sequence[Any]] = None) -> Tuple[list, str]:
    """The default scoring pipeline and a line that says where it came from.

    The evaluation (val/test) pipeline with the label kept: deterministic
    resizing and cropping at the resolution the network is evaluated at.
    Without one, the training pipeline without its random transforms, which
    is refused when a dropped transform sets the image size
    (``RandomResizedCrop``, ``RandomCrop`` without padding): images would
    keep their file sizes.

    Returns:
        tuple[list, str]: The pipeline and its description.
    """
    if eval_pipeline is not None:
        return (pipeline_keeping_labels(list(eval_pipeline)),
                'the evaluation pipeline, collecting gt_label')
    if train_pipeline is None:
        raise ValueError(
            'no scoring pipeline: the dataset was given built and no '
            'evaluation pipeline is known; set scoring_pipeline')
    return without_random_transforms(train_pipeline)


def scoring_loader(dataset: GEDASubsetDataset,
                   pipeline: Sequence[Any],
                   scoring_batch_size: int = 64,
                   scoring_workers: int = 2) -> torch.utils.data.DataLoader:
    """A sequential, deterministic loader over the whole wrapped dataset."""
    inner = dataset.dataset
    if not hasattr(inner, 'pipeline'):
        raise TypeError(
            'scoring goes through a copy of the wrapped dataset with its own '
            'pipeline, so GEDASubsetDataset must wrap an mmcls BaseDataset; '
            f'got {type(inner).__name__} (put dataset wrappers outside it)')
    scored = copy.copy(inner)  # shares data_infos, not the pipeline
    scored.pipeline = Compose(list(pipeline))
    return torch.utils.data.DataLoader(
        scored,
        batch_size=scoring_batch_size,
        shuffle=False,
        num_workers=scoring_workers,
        collate_fn=collate)


def build_scorer(model: torch.nn.Module,
                 checkpoint: Optional[str] = None,
                 scoring_model: Optional[dict] = None) -> torch.nn.Module:
    """The model to score with: ``model`` itself, or a copy (or a proxy
    built from the config ``scoring_model``) loaded from ``checkpoint``."""
    if is_module_wrapper(model):
        model = model.module
    if scoring_model is None and checkpoint is None:
        return model
    if scoring_model is not None:
        from mmcls.models import build_classifier
        proxy = build_classifier(copy.deepcopy(scoring_model))
        proxy.init_weights()
    else:
        proxy = copy.deepcopy(model)
    if checkpoint is not None:
        load_checkpoint(proxy, checkpoint, map_location='cpu', strict=False)
    return proxy.to(next(model.parameters()).device)


def _broadcast(selection: Optional[Selection]) -> Selection:
    """Rank 0's selection on every rank."""
    _, world = get_dist_info()
    if world == 1:
        return selection
    box = [selection]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def default_scoring_pipeline(args: SelectionArgs,
                             dataset: GEDASubsetDataset,
                             eval_pipeline: Optional[Sequence[Any]] = None,
                             logger=None) -> List[Any]:
    """The scoring pipeline of a run, derived in this one place: the
    ``scoring_pipeline`` setting, else :func:`derive_scoring_pipeline` of
    the evaluation pipeline (``eval_pipeline``) or the training pipeline.
    """
    if args.scoring_pipeline is not None:
        return list(args.scoring_pipeline)
    pipeline, source = derive_scoring_pipeline(
        (dataset.dataset_cfg or {}).get('pipeline'), eval_pipeline)
    print_log(f'scoring with {source}', logger=logger)
    return pipeline


def score_and_select(model: torch.nn.Module,
                     dataset: GEDASubsetDataset,
                     args: Optional[SelectionArgs] = None,
                     *,
                     phase: str = 'subset',
                     epoch: int = 0,
                     eval_pipeline: Optional[Sequence[Any]] = None,
                     logger=None) -> SelectionRun:
    """Score ``dataset``'s whole wrapped set with ``model`` and select.

    What is scored follows the method's registry entry: nothing (the
    gradient pass is skipped), per-sample gradient norms over ``scope``,
    or last-layer gradient embeddings (also for ``weights``). Rank 0
    selects with the event's own seed
    (:func:`~mmcls_geda.selection.schedule.selection_seed` of ``seed`` and
    ``epoch``); every rank gets the same selection. The wrapper is not
    changed: serve the result with ``dataset.set_selection``.

    Args:
        model: An mmcls classifier (wrapped is fine).
        dataset: The :class:`GEDASubsetDataset` (its fraction and labels).
        args: The settings (default: ``SelectionArgs()``, GEDA).
        phase: ``'subset'`` or ``'then'``: whose method selects.
        epoch: The epoch the selection is made at (its random stream).
        eval_pipeline: The run's evaluation pipeline, from which the
            default scoring pipeline is derived.
        logger: mmcv logger (None: print).

    Returns:
        SelectionRun: The selection, the scores and the timing.
    """
    args = args if args is not None else SelectionArgs()
    method, options = args.phase_method(phase)
    entry, weights = get_method(method), args.phase_weights(phase)
    rank, _ = get_dist_info()
    labels, norms, scores, scoring_s = dataset.full_labels, None, None, 0.0
    embeddings, scored = None, []
    if args.needs_scoring(phase):
        pipeline = default_scoring_pipeline(args, dataset, eval_pipeline,
                                            logger)
        loader = scoring_loader(dataset, pipeline, args.scoring_batch_size,
                                args.scoring_workers)
        scorer = build_scorer(model, args.checkpoint, args.scoring_model)
        start = time.perf_counter()
        if entry.reads == 'embeddings' or weights is not None:
            g, h, labels = grad_embeddings(scorer, loader, logger=logger)
            _check_order(labels, dataset)
            embeddings = (g, h)
            scored.append('last-layer gradient embeddings')
        if entry.reads == 'embeddings':
            scores, norms = embeddings, embedding_norms(embeddings)
        elif entry.reads == 'norms':
            norms, labels = grad_norms(
                scorer, loader, scope=args.scope, logger=logger)
            _check_order(labels, dataset)
            scores = norms
            scored.insert(
                0, 'input norms'
                if args.scope == 'input' else f'{args.scope} gradient norms')
        scoring_s = time.perf_counter() - start
    selection = None
    if rank == 0:
        selection = select_subset(
            scores,
            labels,
            dataset.fraction,
            method,
            seed=selection_seed(args.seed, epoch),
            **options)
        if weights is not None:
            selection = weigh_selection(selection, embeddings, labels,
                                        weights['lam'])
    return SelectionRun(
        _broadcast(selection), norms, labels, scoring_s, ' and '.join(scored)
        or 'nothing (the method reads no scores)')


def _check_order(labels: np.ndarray, dataset: GEDASubsetDataset) -> None:
    if not np.array_equal(labels, dataset.full_labels):
        raise RuntimeError(
            'the scoring loader\'s labels differ from the dataset\'s '
            'get_gt_labels(): the scoring pipeline must keep labels and '
            'the order of samples')
