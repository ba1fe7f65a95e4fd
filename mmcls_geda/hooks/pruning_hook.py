"""``DynamicPruningHook``: plans each epoch from the training losses."""
import time
from typing import List

import numpy as np
import torch.distributed as dist
from mmcv.runner import HOOKS, Hook, LrUpdaterHook, get_dist_info
from mmcv.runner.hooks.momentum_updater import MomentumUpdaterHook

from ..datasets.pruning import DynamicPruningDataset, DynamicPruningSampler
from ..selection import record
from ..selection.budgets import class_rng
from ..selection.pruning import check_pruning_args, epoch_lengths, plan_epoch
from .runner_checks import check_runner, check_weighted_model, inner_model


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@HOOKS.register_module()
class DynamicPruningHook(Hook):
    """Train on fewer samples per epoch, unbiased, from the training losses.

    InfoBatch-style (see :mod:`mmcls_geda.selection.pruning` for the rule
    and the unbiasedness argument): the first epoch and the last
    ``ceil(anneal * max_epochs)`` epochs see all data; every other epoch
    processes ``round(keep * n)`` samples, all those whose last training
    loss is at or above the mean and a uniform draw from the rest, with
    inverse-probability loss weights. The losses are the per-sample losses
    of the ordinary training forward pass (``WeightedImageClassifier``
    records them), merged across ranks after every epoch.

    The runner computes ``max_iters`` from the first (full) epoch's length;
    the hook replaces it with the planned total before training and has
    the learning-rate and momentum hooks plan on it, so one-cycle and every
    iteration-based schedule end where they should.

    Needs (``mmcls_geda.apply_pruning`` sets them): ``data.train`` in
    :class:`DynamicPruningDataset`, ``sampler=dict(type=
    'DynamicPruningSampler')``, and ``model.type='WeightedImageClassifier'``
    with ``normalize_weights=False``. Register with ``priority='HIGHEST'``.

    Args:
        keep (float): Share of the data a pruned epoch processes, in (0, 1].
        anneal (float): Share of the epochs, at the end, on all data.
        seed (int): Seed of the per-epoch draws (the same on every rank).
    """

    def __init__(self,
                 keep: float = 0.7,
                 anneal: float = 0.125,
                 seed: int = 0):
        check_pruning_args(keep, anneal, seed)
        self.keep, self.anneal, self.seed = keep, anneal, seed
        self.losses = self.seen = None
        self.log: List[dict] = []
        self._batch: List = []

    def before_run(self, runner) -> None:
        check_runner(runner, self)
        check_weighted_model(
            inner_model(runner),
            'dynamic pruning',
            'train without DynamicPruningHook',
            unnormalised=True)

    def _parts(self, runner):
        loader = runner.data_loader
        if not isinstance(loader.dataset, DynamicPruningDataset) or \
                not isinstance(loader.sampler, DynamicPruningSampler):
            raise TypeError(
                'DynamicPruningHook needs data.train in DynamicPruningDataset '
                "and sampler=dict(type='DynamicPruningSampler'); the loader "
                f'has {type(loader.dataset).__name__} and '
                f'{type(loader.sampler).__name__} (use apply_pruning)')
        return loader.dataset, loader.sampler, loader.batch_size

    def before_train_epoch(self, runner) -> None:
        dataset, sampler, batch = self._parts(runner)
        n, epoch = len(dataset), runner.epoch
        lengths = epoch_lengths(n, runner.max_epochs, self.keep, self.anneal)
        fingerprint = record.labels_fingerprint(dataset.get_gt_labels())
        if self.losses is None:  # first epoch of this process
            if epoch == 0:
                self.losses, self.seen = np.zeros(n), np.zeros(n, bool)
            else:
                self.losses, self.seen, self.log = record.load_pruning_state(
                    runner.work_dir, epoch, fingerprint)
            self._plan_schedules(runner, lengths, sampler.num_replicas, batch)
        # train() resets max_iters from this epoch's length: the planned
        # total again, for schedules that read it every iteration
        runner._max_iters = self._planned_iters
        plan = plan_epoch(self.losses, self.seen, lengths[epoch],
                          class_rng(self.seed, epoch))
        dataset.set_weights(plan.indices, plan.weights)
        sampler.set_plan(plan.indices)
        self.log.append(
            dict(
                epoch=epoch,
                processed=int(plan.indices.size),
                n=n,
                above=plan.above,
                below=plan.below,
                kept_below=plan.kept_below,
                prune_ratio=round(plan.prune_ratio, 6),
                mean_loss=None if np.isnan(plan.mean_loss) else plan.mean_loss,
                start=time.time()))
        runner.logger.info(f'DynamicPruningHook (epoch {epoch}): '
                           f'{plan.summary()}')

    def _plan_schedules(self, runner, lengths, world: int, batch: int) -> None:
        """``max_iters`` = the planned total; LR/momentum hooks re-plan."""
        self._planned_iters = sum(
            _ceil_div(_ceil_div(length, world), batch) for length in lengths)
        runner._max_iters = self._planned_iters
        for hook in runner.hooks:
            if isinstance(hook, (LrUpdaterHook, MomentumUpdaterHook)):
                hook.before_run(runner)
        saved = 1 - sum(lengths) / (len(lengths) * lengths[0])
        runner.logger.info(
            f'DynamicPruningHook: {sum(lengths)} samples planned over '
            f'{len(lengths)} epochs ({saved:.1%} fewer than full data), '
            f'{self._planned_iters} iterations')

    def after_train_iter(self, runner) -> None:
        recorded = inner_model(runner).recorded_losses
        if recorded is None:
            raise RuntimeError(
                'no per-sample losses were recorded in this iteration: the '
                'batches need sample_idx (DynamicPruningDataset) and the '
                'model must be a WeightedImageClassifier')
        self._batch.append((recorded[0].numpy(), recorded[1].numpy()))
        inner_model(runner).recorded_losses = None

    def after_train_epoch(self, runner) -> None:
        mine = (np.concatenate([i for i, _ in self._batch]),
                np.concatenate([v for _, v in self._batch]))
        self._batch = []
        _, world = get_dist_info()
        shares = [mine]
        if world > 1:
            shares = [None] * world
            dist.all_gather_object(shares, mine)
        for indices, values in shares:  # rank order: the same everywhere
            self.losses[indices] = values
            self.seen[indices] = True
        self.log[-1]['time_s'] = time.time() - self.log[-1].pop('start')
        if get_dist_info()[0] == 0:
            dataset = runner.data_loader.dataset
            record.save_pruning_state(
                runner.work_dir, runner.epoch + 1, self.losses, self.seen,
                record.labels_fingerprint(dataset.get_gt_labels()), self.log)
