"""``GradNormHook``: decides when the training subset is chosen."""
import os.path as osp
from typing import Any, Dict, List, Optional

from mmcv.runner import HOOKS, Hook, get_dist_info

from ..apis import (check_hook_args, derive_scoring_pipeline, save_run,
                    score_and_select)
from ..datasets.subset import GEDASubsetDataset, find_wrapper
from ..selection import get_method, record
from .runner_checks import check_runner, check_weighted_model, inner_model


@HOOKS.register_module()
class GradNormHook(Hook):
    """Decide when the training subset is chosen (the work:
    :func:`mmcls_geda.apis.score_and_select`).

    First in the first ``before_train_epoch`` (the loader exists, its
    workers have not started), then every ``interval`` epochs; the
    :class:`GEDASubsetDataset` serves the result, ``work_dir`` keeps it,
    and a resumed run serves the saved selection of its epoch. Register
    with ``priority='HIGHEST'``, before the learning-rate hooks.

    Args:
        method (str): A registered selection method
            (``mmcls_geda.selection.METHODS``).
        options (dict, optional): The method's options.
        scope (str): What norms are scored: ``'full'`` gradient norms (the
            thesis), ``'last_layer'`` or ``'input'`` (``||x||``, no
            gradient).
        seed (int): Seed (>= 0) of the selection's random choices.
        interval (int): Re-select every ``interval`` epochs; 0: once.
        scoring_pipeline (list[dict], optional): Deterministic pipeline that
            keeps labels. Default: the evaluation pipeline of the run's
            EvalHook with ``gt_label`` collected; without one, the training
            pipeline without its random transforms.
        scoring_batch_size (int): Batch size of the scoring pass.
        scoring_workers (int): Worker processes of the scoring loader.
        checkpoint (str, optional): Score with a copy of the model loaded
            from this local checkpoint.
        scoring_model (dict, optional): Score with another classifier built
            from this config (a cheaper proxy), optionally from
            ``checkpoint``.
        weighted (bool): Train weighted methods' subsets with their weights
            (needs ``WeightedImageClassifier``); False: unweighted.
        save_norms (bool): Write the scores to ``work_dir``.
        report (bool): Write the selection report (PNG + JSON).
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
        self.options = check_hook_args(method, options, scope, seed, interval,
                                       scoring_pipeline, scoring_batch_size,
                                       scoring_workers, checkpoint,
                                       scoring_model, weighted, save_norms,
                                       report)
        self.given_options = dict(options or {})
        self.method, self.scope, self.seed = method, scope, seed
        self.interval = interval
        self.scoring_pipeline = scoring_pipeline
        self.scoring_batch_size = scoring_batch_size
        self.scoring_workers = scoring_workers
        self.checkpoint, self.scoring_model = checkpoint, scoring_model
        self.weighted = weighted and get_method(method).weighted
        self.save_norms, self.report = save_norms, report
        self._selected_once = False

    def before_run(self, runner) -> None:
        check_runner(runner, self)
        if self.weighted:
            check_weighted_model(
                inner_model(runner), f'method {self.method!r}',
                'set weighted=False in the GradNormHook to train the subset '
                'unweighted')

    def before_train_epoch(self, runner) -> None:
        wrapper = find_wrapper(runner.data_loader.dataset)
        if not self._selected_once:
            self._selected_once = True
            if self._resume(runner, wrapper):
                return
            self._select(runner, wrapper)
        elif self.interval and runner.epoch % self.interval == 0:
            self._select(runner, wrapper)

    def _resume(self, runner, wrapper: GEDASubsetDataset) -> bool:
        """Serve a saved selection instead of selecting, where one applies."""
        if wrapper.selection_file is not None:
            runner.logger.info(
                f'GradNormHook: serving the selection from '
                f'{wrapper.selection_file}: {wrapper.selection.summary()}')
            return True
        epoch = runner.epoch
        if epoch == 0 or (self.interval and epoch % self.interval == 0):
            return False  # a selection is due now
        name = record.epoch_selection_file(
            epoch -
            epoch % self.interval) if self.interval else record.SELECTION_FILE
        path = osp.join(runner.work_dir, name)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'resuming at epoch {epoch} needs the selection that epoch '
                f'trained on, {path}, which is missing: give it as the '
                "wrapper's selection_file or start again from epoch 0")
        selection = wrapper.load_selection(path, self._settings(wrapper))
        runner.logger.info(f'GradNormHook: resumed the selection from '
                           f'{path}: {selection.summary()}')
        return True

    def _settings(self, wrapper: GEDASubsetDataset) -> Dict[str, Any]:
        """What a reused record must have been made with."""
        settings = dict(
            method=self.method,
            options=self.options,
            fraction=wrapper.fraction,
            weighted=self.weighted)
        if get_method(self.method).reads == 'norms':
            settings['scope'] = self.scope
        return settings

    def _scoring_pipeline(self, runner, wrapper: GEDASubsetDataset):
        if self.scoring_pipeline is not None or get_method(
                self.method).reads == 'nothing':
            return self.scoring_pipeline
        evaluation = [
            h.dataloader.dataset.pipeline.transforms for h in runner.hooks
            if hasattr(
                getattr(getattr(h, 'dataloader', None), 'dataset', None),
                'pipeline')
        ]
        pipeline, source = derive_scoring_pipeline(
            (wrapper.dataset_cfg
             or {}).get('pipeline'), evaluation[0] if evaluation else None)
        runner.logger.info(f'GradNormHook: scoring with {source}')
        return pipeline

    def _select(self, runner, wrapper: GEDASubsetDataset) -> None:
        run = score_and_select(
            runner.model,
            wrapper,
            self.method,
            options=self.given_options,
            scope=self.scope,
            seed=self.seed,
            scoring_pipeline=self._scoring_pipeline(runner, wrapper),
            batch_size=self.scoring_batch_size,
            workers=self.scoring_workers,
            checkpoint=self.checkpoint,
            proxy_cfg=self.scoring_model,
            logger=runner.logger)
        wrapper.set_selection(run.selection, weighted=self.weighted)
        runner.logger.info(
            f'GradNormHook (epoch {runner.epoch}): {run.selection.summary()}'
            f'; scoring ({run.scored}) took {run.scoring_s:.1f}s')
        if get_dist_info()[0] == 0:
            save_run(
                runner.work_dir,
                run,
                wrapper,
                scope=self.scope,
                weighted=self.weighted,
                epoch=runner.epoch,
                per_epoch=bool(self.interval),
                save_norms=self.save_norms,
                report=self.report,
                logger=runner.logger)
