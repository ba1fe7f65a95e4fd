"""``score_and_select``: the runner-free pipeline behind the hook and tools.

The mmcls 0.x scoring loader and scoring model (the training model, a
checkpoint or a proxy); the scoring pass, the selection on rank 0 and its
broadcast to every rank are :func:`~mmcls_geda.apis.runs.
select_with_scorer`, shared with mmpretrain 1.x.
:class:`~mmcls_geda.GradNormHook` decides *when* to call it;
``tools/geda_select.py`` and the benchmarks call it directly.
"""
import copy
from typing import Any, List, Optional, Sequence, Tuple

import torch
from mmcls.datasets.pipelines import Compose
from mmcv.parallel import collate
from mmcv.runner import get_dist_info, load_checkpoint
from mmcv.utils import print_log

from ..datasets.subset import GEDASubsetDataset
from . import runs
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
    built from the config ``scoring_model``) loaded from ``checkpoint``
    (:func:`mmcls_geda.apis.runs.build_scorer` with mmcls' builder)."""
    from mmcls.models import build_classifier
    return runs.build_scorer(
        model, checkpoint, scoring_model, build_classifier,
        lambda module, path: load_checkpoint(
            module, path, map_location='cpu', strict=False))


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
    scorer = loader = None
    if args.needs_scoring(phase):
        pipeline = default_scoring_pipeline(args, dataset, eval_pipeline,
                                            logger)
        loader = scoring_loader(dataset, pipeline, args.scoring_batch_size,
                                args.scoring_workers)
        scorer = build_scorer(model, args.checkpoint, args.scoring_model)
    return runs.select_with_scorer(
        scorer,
        loader,
        dataset.full_labels,
        dataset.fraction,
        args,
        phase=phase,
        epoch=epoch,
        rank=get_dist_info()[0],
        logger=logger)
