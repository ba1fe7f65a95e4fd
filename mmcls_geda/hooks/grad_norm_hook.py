"""``GradNormHook``: score the training set and choose the subset, in the runner."""
import copy
import inspect
import json
import os
import os.path as osp
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.distributed as dist
from mmcv.parallel import is_module_wrapper
from mmcv.runner import HOOKS, EpochBasedRunner, Hook, get_dist_info
from mmcv.runner import load_checkpoint
from mmcls.datasets.pipelines import Compose

from ..datasets.subset import GEDASubsetDataset
from ..scoring import SCOPES, grad_embeddings, grad_norms
from ..selection import Selection, select_subset
from ..selection.api import EMBEDDING_METHODS, resolve_options
from ..selection.gradient_matching import embedding_norms

SELECTION_FILE = 'geda_selection.json'
NORMS_FILE = 'geda_norms.npy'
LABELS_FILE = 'geda_labels.npy'
# Random augmentations dropped from the training pipeline to score with.
RANDOM_TRANSFORMS = ('AutoAugment', 'RandAugment', 'ColorJitter', 'Lighting',
                     'Albu', 'RandomErasing')


def scoring_pipeline_from(train_pipeline: List[dict]) -> Tuple[list, list]:
    """The training pipeline without its random transforms.

    Returns:
        tuple[list, list]: The kept transform configs and the dropped types.
    """
    kept, dropped = [], []
    for step in train_pipeline:
        kind = step['type'] if isinstance(step['type'], str) else getattr(
            step['type'], '__name__', str(step['type']))
        if kind.startswith('Random') or kind in RANDOM_TRANSFORMS:
            dropped.append(kind)
        else:
            kept.append(copy.deepcopy(step))
    return kept, dropped


def atomic_write(path: str, write) -> None:
    """Write through a temporary file so no half-written file is left."""
    tmp = f'{path}.tmp{os.getpid()}'
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


@HOOKS.register_module()
class GradNormHook(Hook):
    """Select the training subset from per-sample gradient norms.

    In the first ``before_train_epoch`` (the first moment the training
    loader exists, and before its workers start) the hook scores the whole
    wrapped training set with the model at epoch 0 in eval mode, selects a
    subset of the wrapper's size with ``method``, and makes the
    :class:`GEDASubsetDataset` serve it. ``'craig'`` and ``'gradmatch'``
    score with last-layer gradient embeddings instead of norms and give
    weighted subsets. With ``interval=R > 0`` it selects
    again every ``R`` epochs with the current model. Register it with
    ``priority='HIGHEST'`` so it runs before the learning-rate hooks.

    Args:
        method (str): A selection method (``'geda'``, ``'random'``,
            ``'quantile_random'``, ``'ranked_even'``, ``'topk'``, ``'ccs'``).
        options (dict, optional): The method's options (e.g.
            ``dict(nodes=5, solver='exact')``).
        scope (str): What is scored: ``'full'`` gradient norms (the
            thesis), ``'last_layer'`` or ``'input'``.
        seed (int): Seed of the selection's random choices.
        interval (int): Re-select every ``interval`` epochs; 0: once.
        scoring_pipeline (list[dict], optional): Deterministic pipeline that
            keeps labels. Default: the wrapped dataset's training pipeline
            without its random transforms.
        scoring_batch_size (int): Batch size of the scoring pass.
        scoring_workers (int): Worker processes of the scoring loader.
        checkpoint (str, optional): Score with a copy of the model loaded
            from this checkpoint (e.g. local pretrained weights).
        scoring_model (dict, optional): Score with another classifier built
            from this config (a cheaper proxy), optionally loaded from
            ``checkpoint``.
        weighted (bool): Train CRAIG / GRAD-MATCH subsets with their
            per-sample weights (needs ``model.type='WeightedImageClassifier'``);
            False trains them unweighted.
        save_norms (bool): Write the raw norms to ``work_dir``.
        report (bool): Write the selection report (PNG + JSON) to
            ``work_dir``.
    """

    def __init__(self,
                 method: str = 'geda',
                 options: Optional[Dict[str, Any]] = None,
                 scope: str = 'full',
                 seed: int = 0,
                 interval: int = 0,
                 scoring_pipeline: Optional[List[dict]] = None,
                 scoring_batch_size: int = 64,
                 scoring_workers: int = 2,
                 checkpoint: Optional[str] = None,
                 scoring_model: Optional[dict] = None,
                 weighted: bool = True,
                 save_norms: bool = True,
                 report: bool = True):
        # every check that needs no data happens here, before training
        self.options = resolve_options(method, dict(options or {}))
        self.given_options = dict(options or {})
        if scope not in SCOPES:
            raise ValueError(f'unknown scope {scope!r}; choose one of '
                             f'{list(SCOPES)}')
        if not isinstance(interval, int) or interval < 0:
            raise ValueError(f'interval must be an integer >= 0 (0: select '
                             f'once), got {interval!r}')
        if checkpoint is not None and not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'scoring checkpoint {checkpoint!r} not found (nothing is '
                'downloaded: give a local file)')
        self.method = method
        self.scope = scope
        self.seed = seed
        self.interval = interval
        self.scoring_pipeline = scoring_pipeline
        self.scoring_batch_size = scoring_batch_size
        self.scoring_workers = scoring_workers
        self.checkpoint = checkpoint
        self.scoring_model = scoring_model
        self.weighted = weighted and method in EMBEDDING_METHODS
        self.save_norms = save_norms
        self.report = report
        self._selected_once = False

    # --- runner events -----------------------------------------------------------

    def before_run(self, runner) -> None:
        if not isinstance(runner, EpochBasedRunner):
            raise TypeError(
                'GradNormHook works with EpochBasedRunner only (it changes '
                'the subset before an epoch\'s loader starts); got '
                f'{type(runner).__name__}')
        model = runner.model.module if is_module_wrapper(
            runner.model) else runner.model
        takes_weights = 'sample_weight' in inspect.signature(
            model.forward_train).parameters
        if self.weighted and not takes_weights:
            raise TypeError(
                f'method {self.method!r} trains with per-sample weights, '
                f'which {type(model).__name__} ignores: set '
                "model.type='WeightedImageClassifier', or weighted=False in "
                'the GradNormHook to train the subset unweighted')
        if getattr(self, 'priority', None) not in (None, 0):
            runner.logger.warning(
                'GradNormHook should be registered with '
                "priority='HIGHEST' so that it runs before other hooks")

    def before_train_epoch(self, runner) -> None:
        if not self._selected_once:
            self._selected_once = True
            wrapper = self._wrapper(runner)
            if self._reuse_saved(runner, wrapper):
                return
            self._select(runner, wrapper)
        elif self.interval and runner.epoch % self.interval == 0:
            self._select(runner, self._wrapper(runner))

    # --- steps -------------------------------------------------------------------

    @staticmethod
    def _wrapper(runner) -> GEDASubsetDataset:
        dataset = runner.data_loader.dataset
        if not isinstance(dataset, GEDASubsetDataset):
            raise TypeError(
                'GradNormHook needs the training data wrapped in '
                "GEDASubsetDataset (data.train = dict(type="
                "'GEDASubsetDataset', fraction=..., dataset=...)); the "
                f'training loader holds {type(dataset).__name__}')
        return dataset

    def _reuse_saved(self, runner, wrapper: GEDASubsetDataset) -> bool:
        """Serve a saved selection instead of selecting again, if one applies."""
        if wrapper.selection_file is not None:
            runner.logger.info(
                f'GradNormHook: serving the selection from '
                f'{wrapper.selection_file}: {wrapper.selection.summary()}')
            return True
        if runner.epoch == 0:
            return False
        if self.interval and runner.epoch % self.interval == 0:
            return False  # resumed exactly where a re-selection is due
        path = self._selection_path(runner, runner.epoch)
        if path is None:
            raise FileNotFoundError(
                f'resuming at epoch {runner.epoch} needs the selection that '
                f'epoch trained on, saved in {runner.work_dir}, which is '
                'missing: give it as the wrapper\'s selection_file or start '
                'again from epoch 0')
        selection = wrapper.load_selection(path)
        runner.logger.info(f'GradNormHook: resumed the selection from '
                           f'{path}: {selection.summary()}')
        return True

    def _selection_path(self, runner, epoch: int) -> Optional[str]:
        """The saved selection that epoch ``epoch`` trained on."""
        name = SELECTION_FILE
        if self.interval:
            name = f'geda_selection_epoch{epoch - epoch % self.interval}.json'
        path = osp.join(runner.work_dir, name)
        return path if osp.isfile(path) else None

    def _select(self, runner, wrapper: GEDASubsetDataset) -> None:
        self.select(runner.model, wrapper, runner.work_dir, runner.logger,
                    epoch=runner.epoch)

    def select(self,
               model: torch.nn.Module,
               wrapper: GEDASubsetDataset,
               work_dir: str,
               logger,
               epoch: int = 0) -> Selection:
        """Score ``wrapper``'s whole dataset, select, serve and save.

        The runner-free core of the hook (``tools/geda_select.py`` calls it).
        """
        rank, world = get_dist_info()
        start = time.perf_counter()
        if self.method == 'random':
            # random selection reads no scores: skip the gradient pass
            norms, labels = np.zeros(wrapper.full_labels.size), \
                wrapper.full_labels
            scores = norms
        elif self.method in EMBEDDING_METHODS:
            g, h, labels = grad_embeddings(
                self._scoring_model(model),
                self._scoring_loader(wrapper, logger),
                logger=logger)
            scores = (g, h)
            norms = embedding_norms(scores)
        else:
            norms, labels = grad_norms(
                self._scoring_model(model),
                self._scoring_loader(wrapper, logger),
                scope=self.scope,
                logger=logger)
            scores = norms
        scoring_s = time.perf_counter() - start
        if not np.array_equal(labels, wrapper.full_labels):
            raise RuntimeError(
                'the scoring loader\'s labels differ from the dataset\'s '
                'get_gt_labels(): the scoring pipeline must keep labels and '
                'the order of samples')
        selection = None
        if rank == 0:
            selection = select_subset(scores, labels, wrapper.fraction,
                                      self.method, seed=self.seed,
                                      **self.given_options)
            if self.method == 'random':
                # no scores were computed: no ECDF objectives to report
                selection.objective, selection.integral = [], []
        if world > 1:
            box = [selection]
            dist.broadcast_object_list(box, src=0)
            selection = box[0]
        wrapper.set_selection(selection, weighted=self.weighted)
        logger.info(f'GradNormHook (epoch {epoch}): {selection.summary()}; '
                    f'scoring ({self._scored}) took {scoring_s:.1f}s')
        if rank == 0:
            self._save(work_dir, epoch, wrapper, selection, norms, scoring_s)
        return selection

    @property
    def _scored(self) -> str:
        if self.method == 'random':
            return 'skipped: random reads no scores'
        if self.method in EMBEDDING_METHODS:
            return 'last-layer gradient embeddings'
        return f'{self.scope} gradient norms' if self.scope != 'input' \
            else 'input norms'

    def _scoring_loader(self, wrapper: GEDASubsetDataset, logger):
        """A sequential, deterministic loader over the whole wrapped set."""
        from mmcv.parallel import collate
        if not hasattr(wrapper.dataset, 'pipeline'):
            raise TypeError(
                'GradNormHook scores through a copy of the wrapped dataset '
                'with its own pipeline, so it needs an mmcls BaseDataset '
                f'inside GEDASubsetDataset; got {type(wrapper.dataset).__name__}'
                ' (put dataset wrappers outside it)')
        dataset = copy.copy(wrapper.dataset)  # shares data_infos, not pipeline
        pipeline = self.scoring_pipeline
        if pipeline is None:
            if wrapper.dataset_cfg is None or 'pipeline' not in wrapper.dataset_cfg:
                raise ValueError(
                    'GradNormHook cannot derive a scoring pipeline from a '
                    'dataset given built: set scoring_pipeline')
            pipeline, dropped = scoring_pipeline_from(
                wrapper.dataset_cfg['pipeline'])
            logger.info(
                'GradNormHook: scoring with the training pipeline without '
                f'its random transforms {dropped}')
        dataset.pipeline = Compose(pipeline)
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=self.scoring_batch_size,
            shuffle=False,
            num_workers=self.scoring_workers,
            collate_fn=collate)

    def _scoring_model(self, model: torch.nn.Module) -> torch.nn.Module:
        if is_module_wrapper(model):
            model = model.module
        if self.scoring_model is None and self.checkpoint is None:
            return model
        if self.scoring_model is not None:
            from mmcls.models import build_classifier
            proxy = build_classifier(copy.deepcopy(self.scoring_model))
            proxy.init_weights()
        else:
            proxy = copy.deepcopy(model)
        if self.checkpoint is not None:
            load_checkpoint(proxy, self.checkpoint, map_location='cpu',
                            strict=False)
        device = next(model.parameters()).device
        return proxy.to(device)

    def _save(self, work_dir: str, epoch: int, wrapper: GEDASubsetDataset,
              selection: Selection, norms: np.ndarray,
              scoring_s: float) -> None:
        record = dict(
            method=self.method,
            options=self.options,
            scope=self.scope,
            fraction=wrapper.fraction,
            seed=self.seed,
            weighted=self.weighted,
            epoch=epoch,
            fingerprint=wrapper.fingerprint,
            timings=dict(scoring_s=scoring_s, selection_s=selection.time_s),
            selection=selection.to_dict())
        os.makedirs(work_dir, exist_ok=True)
        names = [SELECTION_FILE]
        if self.interval:
            names.append(f'geda_selection_epoch{epoch}.json')
        for name in names:
            atomic_write(
                osp.join(work_dir, name),
                lambda p: _dump_json(record, p))
        if self.method == 'random':
            return  # no scores: nothing more to save or draw
        if self.save_norms:
            atomic_write(
                osp.join(work_dir, NORMS_FILE),
                lambda p: _save_npy(norms, p))
            atomic_write(
                osp.join(work_dir, LABELS_FILE),
                lambda p: _save_npy(wrapper.full_labels, p))
        if self.report:
            from ..report import write_report
            write_report(norms, wrapper.full_labels, selection,
                         work_dir, classes=wrapper.CLASSES)


def _save_npy(array: np.ndarray, path: str) -> None:
    with open(path, 'wb') as f:  # a handle: np.save would append '.npy'
        np.save(f, array)


def _dump_json(record: dict, path: str) -> None:
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(record, f)
