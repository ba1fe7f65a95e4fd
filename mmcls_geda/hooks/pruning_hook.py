"""``DynamicPruningHook``: InfoBatch's rule, epoch by epoch, from the
training losses; the schedules follow the epoch progress."""
import time
from typing import List

from mmcv.runner import HOOKS, Hook, get_dist_info

from ..apis.loss_recorder import LossRecorder
from ..datasets.pruning import DynamicPruningDataset, DynamicPruningSampler
from ..selection.budgets import class_rng
from ..selection.epoch_state import PRUNING
from ..selection.pruning import PruningArgs, is_pruned, plan_epoch
from ..selection.record import labels_fingerprint
from ..subsets import epoch_iterations
from .epoch_progress import EpochProgress
from .runner_checks import check_runner, check_weighted_model, inner_model


@HOOKS.register_module()
class DynamicPruningHook(Hook):
    """Train on fewer samples per epoch, unbiased, by InfoBatch's rule.

    Every pruned epoch drops each sample whose last training loss is below
    the mean with probability ``ratio`` and weights the kept ones
    ``1 / (1 - ratio)``; the first epoch and the last ``anneal`` share of
    the epochs are full (see :mod:`mmcls_geda.selection.pruning` and
    ``docs/pruning.md``). ``rule='random'`` is the control: as many
    candidates, drawn uniformly. The losses are the per-sample losses of
    the training forward pass (``WeightedImageClassifier`` records them),
    merged across ranks after every epoch; the draws are seeded by
    ``(seed, epoch)``, so every rank (and a resumed run) draws the same.

    Schedules: every iteration-based (``by_epoch=False``) learning-rate
    and momentum updater sees, at iteration ``i`` of an epoch of ``L``
    iterations, the full-data run's iteration at the same epoch progress
    ``(epoch + (i + 1) / L) / max_epochs``, counted at the iteration's end,
    so the schedule's shape in epochs is the full-data run's and its last
    iteration gets the final value
    (:class:`~mmcls_geda.hooks.epoch_progress.EpochProgress`).
    ``runner.max_iters`` is the expected
    total of this run (past epochs as run, this epoch as drawn, later ones
    by the current expectation), for the ETA and ``is_last_iter``; exact in
    the last epoch.

    Needs (``mmcls_geda.apply_pruning`` sets them): ``data.train`` in
    :class:`DynamicPruningDataset`, ``sampler=dict(type=
    'DynamicPruningSampler')``, and ``model.type='WeightedImageClassifier'``
    with ``normalize_weights=False``. Register with ``priority='HIGHEST'``.

    Args:
        **kwargs: The settings of :class:`~mmcls_geda.selection.pruning.
            PruningArgs` (``ratio`` 0.5, ``rule`` ``'infobatch'``,
            ``anneal`` 0.125, ``seed`` 0), each checked here.
    """

    def __init__(self, **kwargs):
        self.settings = PruningArgs.from_kwargs('DynamicPruningHook',
                                                **kwargs).to_dict()
        self.ratio, self.rule, self.anneal, self.seed = (
            self.settings[k] for k in ('ratio', 'rule', 'anneal', 'seed'))
        self.recorder = LossRecorder('DynamicPruningDataset')
        self.log: List[dict] = []
        self.progress = EpochProgress()

    def before_run(self, runner) -> None:
        check_runner(runner, self)
        check_weighted_model(
            inner_model(runner),
            'dynamic pruning',
            'train without DynamicPruningHook',
            unnormalised=True)
        self.progress.attach(runner, 'dynamic pruning')

    def _parts(self, runner):
        loader = runner.data_loader
        if not isinstance(loader.dataset, DynamicPruningDataset) or \
                not isinstance(loader.sampler, DynamicPruningSampler):
            raise TypeError(
                'DynamicPruningHook needs data.train in DynamicPruningDataset '
                "and sampler=dict(type='DynamicPruningSampler'); the loader "
                f'has {type(loader.dataset).__name__} and '
                f'{type(loader.sampler).__name__} (use apply_pruning)')
        return loader.dataset, loader.sampler

    def before_train_epoch(self, runner) -> None:
        loader = runner.data_loader
        dataset, sampler = self._parts(runner)
        n, epoch, epochs = len(dataset), runner.epoch, runner.max_epochs
        sampler.set_batching(loader.batch_sampler.batch_size,
                             loader.batch_sampler.drop_last)
        recorder = self.recorder
        if recorder.losses is None:  # first epoch of this process
            if epoch == 0:
                recorder.start(n)
            else:
                arrays, self.log = PRUNING.load(runner.work_dir, epoch,
                                                self._saved_settings(runner),
                                                ('losses', 'seen'))
                recorder.start(n, arrays['losses'], arrays['seen'])
            self.progress.start(runner, epoch_iterations(loader, n))
        plan = plan_epoch(recorder.losses, recorder.seen, self.ratio,
                          self.rule, class_rng(self.seed, epoch),
                          is_pruned(epoch, epochs, self.anneal))
        dataset.set_weights(plan.indices, plan.weights)
        sampler.set_plan(plan.indices)
        self.progress.set_epoch(
            runner, len(loader), (epoch_iterations(
                loader,
                plan.expected if is_pruned(e, epochs, self.anneal) else n)
                                  for e in range(epoch + 1, epochs)))
        self.log.append(
            dict(
                epoch=epoch,
                rule=self.rule,
                **plan.stats(),
                iterations=self.progress.epoch_iters,
                # served twice: equal rank shares, no batch of one
                repeated=len(sampler) * sampler.num_replicas -
                plan.indices.size,
                start=time.time()))
        what = (f'expects {plan.expected:.1f} of {n} samples ({plan.above} '
                f'at or above the mean loss {plan.mean_loss:.4g}, each of '
                f'{plan.candidates} {self.rule} candidates dropped with '
                f'probability {self.ratio})'
                if plan.pruned else f'full epoch, {n} samples')
        runner.logger.info(f'DynamicPruningHook (epoch {epoch}): {what}; '
                           f'about {runner.max_iters} iterations in all')

    def _saved_settings(self, runner) -> dict:
        """What drew the plans, which a resumed run must share: the
        settings, the run's length and the training set."""
        dataset = runner.data_loader.dataset
        return dict(
            self.settings,
            max_epochs=runner.max_epochs,
            fingerprint=labels_fingerprint(dataset.get_gt_labels()))

    def after_train_iter(self, runner) -> None:
        self.recorder.take(inner_model(runner))

    def after_train_epoch(self, runner) -> None:
        rank, _ = get_dist_info()
        self.recorder.end_epoch()
        entry = self.log[-1]
        entry['time_s'] = time.time() - entry.pop('start')
        runner.logger.info(
            f'DynamicPruningHook (epoch {runner.epoch}): processed '
            f'{entry["processed"]} samples (expected {entry["expected"]:.1f})'
            f' in {entry["iterations"]} iterations')
        if rank == 0:
            PRUNING.save(
                runner.work_dir, runner.epoch + 1,
                dict(losses=self.recorder.losses, seen=self.recorder.seen),
                self._saved_settings(runner), self.log)
