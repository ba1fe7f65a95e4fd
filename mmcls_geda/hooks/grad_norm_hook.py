"""``GradNormHook``: decides when the training subset is chosen."""
import json
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from mmcv.runner import HOOKS, Hook, TextLoggerHook, get_dist_info

from ..apis import (check_hook_args, derive_scoring_pipeline, save_run,
                    score_and_select)
from ..datasets.subset import GEDASubsetDataset, find_wrapper
from ..selection import get_method, record
from ..selection.schedule import (SchedulePlan, check_then, check_warmup,
                                  check_weights, plan_schedule, warmup_indices)
from .epoch_subsets import EpochSubsets
from .runner_checks import check_runner, check_weighted_model, inner_model


@HOOKS.register_module()
class GradNormHook(Hook):
    """Decide when the training subset is chosen (the work:
    :func:`mmcls_geda.apis.score_and_select`).

    The subset is selected in the first ``before_train_epoch`` (the loader
    exists, its workers have not started), then every ``interval`` epochs;
    the :class:`GEDASubsetDataset` serves the result, ``work_dir`` keeps it,
    and a resumed run serves the saved selection of its epoch. A schedule
    (see :mod:`mmcls_geda.selection.schedule`) changes which samples fill
    the fixed budget, never how many: a warm-up on all the data before the
    first selection, weights for the subset, a second method from a later
    epoch. Register with ``priority='HIGHEST'``, before the learning-rate
    hooks.

    Args:
        method (str): A registered selection method
            (``mmcls_geda.selection.METHODS``).
        options (dict, optional): The method's options.
        scope (str): What norms are scored: ``'full'`` gradient norms (the
            thesis), ``'last_layer'`` or ``'input'`` (``||x||``, no
            gradient).
        seed (int): Seed (>= 0) of the selection's random choices and of
            the warm-up's permutations.
        interval (int): Re-select every ``interval`` epochs (counted from
            the first selection); 0: once.
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
        weighted (bool): Train weighted subsets with their weights (needs
            ``WeightedImageClassifier``); False: unweighted.
        save_norms (bool): Write the scores to ``work_dir``.
        report (bool): Write the selection report (PNG + JSON).
        warmup_epochs (float): Full passes over all the data (in slices of
            the subset's size, so the budget is unchanged) before the first
            selection, which then scores with the warmed model; 0: select
            at epoch 0.
        weights (str | dict, optional): ``'gradmatch'`` or
            ``dict(type='gradmatch', lam=1e-3)``: weight each selected
            subset to match its classes' summed last-layer gradient (online
            GEDA, thesis Algorithm 6.1).
        then (dict, optional): A second phase, ``dict(method='gradmatch',
            start_epoch=E, interval=R, options=dict(...))``: from epoch
            ``E`` that method re-selects every ``R`` epochs (GEDA as a warm
            start, thesis 6.3).
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
                 report: bool = True,
                 warmup_epochs: float = 0.0,
                 weights: Optional[Any] = None,
                 then: Optional[Dict[str, Any]] = None):
        self.options = check_hook_args(method, options, scope, seed, interval,
                                       scoring_pipeline, scoring_batch_size,
                                       scoring_workers, checkpoint,
                                       scoring_model, weighted, save_norms,
                                       report, warmup_epochs, weights, then)
        self.given_options = dict(options or {})
        self.method, self.scope, self.seed = method, scope, seed
        self.interval = interval
        self.scoring_pipeline = scoring_pipeline
        self.scoring_batch_size = scoring_batch_size
        self.scoring_workers = scoring_workers
        self.checkpoint, self.scoring_model = checkpoint, scoring_model
        self.weights = check_weights(weights, method)
        self.weighted = weighted and (get_method(method).weighted
                                      or self.weights is not None)
        self.warmup_epochs = check_warmup(warmup_epochs)
        self.then = check_then(then)
        self.then_weighted = (
            weighted and self.then is not None
            and get_method(self.then['method']).weighted)
        self.save_norms, self.report = save_norms, report
        self.plan: Optional[SchedulePlan] = None
        # rs2, geda_rotate, strata_rotate: a new subset every epoch
        self.epoch_subsets = EpochSubsets(
            method,
            self.options,
            seed=seed,
            scope=scope,
            interval=interval,
            warmup_epochs=warmup_epochs,
            weights=weights,
            then=then,
            scoring=dict(
                pipeline=scoring_pipeline,
                batch_size=scoring_batch_size,
                workers=scoring_workers,
                checkpoint=checkpoint,
                proxy_cfg=scoring_model),
            save_norms=save_norms) if get_method(method).per_epoch else None

    def before_run(self, runner) -> None:
        check_runner(runner, self)
        if self.epoch_subsets is not None:
            self.epoch_subsets.before_run(runner)
        if self.weighted or self.then_weighted:
            check_weighted_model(
                inner_model(runner), f'method {self.method!r}' +
                (' with weights' if self.weights else '') +
                (f' then {self.then["method"]!r}' if self.then else ''),
                'set weighted=False in the GradNormHook to train the subset '
                'unweighted')

    def before_train_epoch(self, runner) -> None:
        if self.epoch_subsets is not None:
            self.epoch_subsets.before_train_epoch(runner)
            return
        wrapper = find_wrapper(runner.data_loader.dataset)
        epoch, first = runner.epoch, self.plan is None
        if first:
            self.plan = self._make_plan(runner, wrapper)
        phase = self.plan.phase(epoch)
        if phase == 'warmup':
            self._serve_warmup(runner, wrapper)
            return
        due = self.plan.selection_epoch(epoch)
        if not (first and self._resume(runner, wrapper, due)) and (due
                                                                   == epoch):
            self._select(runner, wrapper, phase)
        method = self._phase_method(phase)[0]
        runner.logger.info(
            f'GradNormHook: epoch {epoch}, phase {phase}: training on the '
            f'{method} selection of epoch {due}')

    def after_train_iter(self, runner) -> None:
        if self.epoch_subsets is not None:
            self.epoch_subsets.after_train_iter(runner)

    def after_train_epoch(self, runner) -> None:
        if self.epoch_subsets is not None:
            self.epoch_subsets.after_train_epoch(runner)

    # --- the plan ------------------------------------------------------------

    def _make_plan(self, runner, wrapper: GEDASubsetDataset) -> SchedulePlan:
        if wrapper.selection_file is not None and (self.warmup_epochs
                                                   or self.then):
            raise ValueError(
                'the wrapper serves the fixed selection '
                f'{wrapper.selection_file}, which warmup_epochs and then '
                '(the hook selecting later in the run) cannot combine with')
        plan = plan_schedule(
            len(wrapper.dataset), len(wrapper), runner.max_epochs,
            self.warmup_epochs, self.interval, self.then)
        if plan.per_epoch_files():
            runner.logger.info(f'GradNormHook schedule: {plan.describe()}')
        return plan

    def _phase_method(self, phase: str) -> Tuple[str, dict, dict, bool]:
        """(method, given options, resolved options, weighted) of a phase."""
        if phase == 'then':
            return (self.then['method'], self.then['options'],
                    self.then['options'], self.then_weighted)
        return self.method, self.given_options, self.options, self.weighted

    def _serve_warmup(self, runner, wrapper: GEDASubsetDataset) -> None:
        plan, epoch = self.plan, runner.epoch
        wrapper.set_indices(
            warmup_indices(plan.n, plan.size, epoch, self.seed))
        wrapper.selection = None
        runner.logger.info(
            f'GradNormHook: epoch {epoch}, phase warmup: {plan.size} samples '
            f'of all {plan.n} ({plan.passes_served(epoch):.2f} of '
            f'{plan.warmup_epochs:g} passes served before this epoch)')
        if epoch == 0:
            self._event(
                runner,
                dict(
                    epoch=0,
                    phase='warmup',
                    passes=plan.warmup_epochs,
                    epochs=plan.warmup_end,
                    size=plan.size))

    # --- selecting and resuming ----------------------------------------------

    def _resume(self, runner, wrapper: GEDASubsetDataset, due: int) -> bool:
        """Serve a saved selection instead of selecting, where one applies."""
        if wrapper.selection_file is not None:
            runner.logger.info(
                f'GradNormHook: serving the selection from '
                f'{wrapper.selection_file}: {wrapper.selection.summary()}')
            return True
        if due == runner.epoch:
            return False  # a selection is due now
        name = record.epoch_selection_file(due) if (
            self.plan.per_epoch_files()) else record.SELECTION_FILE
        path = osp.join(runner.work_dir, name)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'resuming at epoch {runner.epoch} needs the selection that '
                f'epoch trained on, {path}, which is missing: give it as the '
                "wrapper's selection_file or start again from epoch 0")
        phase = self.plan.phase(runner.epoch)
        selection = wrapper.load_selection(path,
                                           self._settings(wrapper, phase))
        runner.logger.info(f'GradNormHook: resumed the selection from '
                           f'{path}: {selection.summary()}')
        return True

    def _settings(self, wrapper: GEDASubsetDataset,
                  phase: str) -> Dict[str, Any]:
        """What a reused record must have been made with."""
        method, _, options, weighted = self._phase_method(phase)
        settings = dict(
            method=method,
            options=options,
            fraction=wrapper.fraction,
            weighted=weighted)
        if phase != 'then':
            settings['weights'] = self.weights
        if get_method(method).reads == 'norms':
            settings['scope'] = self.scope
        return settings

    def _scoring_pipeline(self, runner, wrapper: GEDASubsetDataset):
        if self.scoring_pipeline is not None:
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

    def _select(self, runner, wrapper: GEDASubsetDataset, phase: str) -> None:
        method, options, _, weighted = self._phase_method(phase)
        weights = self.weights if phase != 'then' else None
        reads = get_method(method).reads != 'nothing' or weights is not None
        run = score_and_select(
            runner.model,
            wrapper,
            method,
            options=options,
            scope=self.scope,
            seed=self.seed,
            scoring_pipeline=self._scoring_pipeline(runner, wrapper)
            if reads else None,
            batch_size=self.scoring_batch_size,
            workers=self.scoring_workers,
            checkpoint=self.checkpoint,
            proxy_cfg=self.scoring_model,
            weights=weights,
            logger=runner.logger)
        wrapper.set_selection(run.selection, weighted=weighted)
        selection = run.selection
        runner.logger.info(
            f'GradNormHook (epoch {runner.epoch}): {selection.summary()}'
            f'; scoring ({run.scored}) took {run.scoring_s:.1f}s')
        if get_dist_info()[0] != 0:
            return
        save_run(
            runner.work_dir,
            run,
            wrapper,
            scope=self.scope,
            weighted=weighted,
            epoch=runner.epoch,
            per_epoch=self.plan.per_epoch_files(),
            save_norms=self.save_norms,
            report=self.report,
            extra=dict(phase=phase, weights=weights),
            logger=runner.logger)
        self._event(
            runner,
            dict(
                epoch=runner.epoch,
                phase=phase,
                method=method,
                size=len(selection),
                weighting=selection.weighting,
                objective=_mean(selection.objective),
                method_objective=_mean(selection.method_objective),
                gradmatch_error=_mean(selection.reference_objective),
                scoring_s=run.scoring_s,
                selection_s=selection.time_s))

    def _event(self, runner, event: Dict[str, Any]) -> None:
        """Save a phase change or selection: in ``geda_schedule.json`` for
        scheduled runs, and as a ``mode='selection'`` line of the run's
        ``log.json`` (whose ``epoch`` is 1-based, as mmcv's)."""
        if get_dist_info()[0] != 0:
            return
        if self.plan.per_epoch_files():
            record.save_schedule_event(runner.work_dir, event)
        for hook in runner.hooks:
            path = getattr(hook, 'json_log_path', None)
            if isinstance(hook, TextLoggerHook) and path:
                line = dict(event, mode='selection', epoch=event['epoch'] + 1)
                with open(path, 'a', encoding='utf-8') as f:
                    f.write(json.dumps(line) + '\n')


def _mean(values: List[float]) -> Optional[float]:
    return float(np.mean(values)) if values else None
