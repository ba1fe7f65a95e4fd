"""Per-epoch subsets: RS2 and GEDA rotation, every sample seen once a cycle.

A static subset trains on the same ``k_c`` samples of class ``c`` every
epoch. The methods here serve a *new* subset of the same per-class budgets
``k_c`` (:func:`~mmcls_geda.selection.budgets.class_budgets`) every
epoch, so the wrapper's length, ``max_iters`` and every learning-rate
schedule stay those of the static subset:

- ``rs2`` (Okanovic et al., ICLR 2024, "repeated sampling of random
  subsets"): per class, a seeded permutation of the class served in
  consecutive blocks of ``k_c``. When a permutation is used up the next
  one starts; a block that spans the two takes the rest of the old one
  first and moves those samples to the end of the new one, so every
  sample is served exactly once per pass and no sample waits two passes.
  ``replace=True``: each epoch draws its ``k_c`` samples independently
  (RS2's with-replacement variant: samples may be missed for a while).
- ``geda_rotate``: a *cycle* of ``m = ceil(1 / fraction)`` epochs cuts
  every class into ``m`` folds of ``k_c``, fold by fold from the samples
  not yet placed, every fold matching the *whole* class's ECDF of the
  scores (GEDA's objective, solved exactly by
  :func:`~mmcls_geda.selection.geda.capped_bin_counts`); epoch ``e``
  serves fold ``e mod m`` of cycle ``e // m``. The first cycle is folded
  on the gradient norms at θ0; later ones on ``refold``: the per-sample
  training losses recorded in the previous cycle (``'loss'``, no extra
  pass), a new gradient pass (``'grad_norm'``) or the θ0 norms again
  (``'fixed'``, new random folds of the same scores).
- ``strata_rotate``: the control with the same coverage: the same folds,
  with the bins at the class's score quantiles (``quantiles`` strata by
  rank) instead of GEDA's nodes: each fold takes every stratum's share at
  random.

When ``m k_c`` is not ``n_c`` (``1 / fraction`` not an integer, or
``k_c`` rounded):

- ``m k_c > n_c``: the fold that finds fewer than ``k_c`` samples
  unplaced (the last) takes them all and is topped up with
  ``m k_c - n_c`` samples already served in the cycle, chosen by the same
  objective, so the fold still matches the class. Those are served twice
  in the cycle: once per cycle, +1.
- ``m k_c < n_c`` (a budget rounded down): the ``n_c - m k_c`` samples
  left unserved are carried into the next cycle, whose first fold serves
  them first: once per cycle, -1, and no sample waits two cycles.

Every epoch serves exactly ``k_c`` of each class, none twice; every cycle
starts at the same epoch for all classes.

Everything is a pure function of its inputs: the random streams are
seeded from ``(seed, method stream, label, pass or cycle or epoch)``, so
every rank and a resumed run compute the same indices. numpy only.
"""
import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from . import geda
from .budgets import class_budgets

PER_EPOCH_METHODS = ('rs2', 'geda_rotate', 'strata_rotate')
REFOLDS = ('loss', 'grad_norm', 'fixed')
# seed streams, apart from each other and from the selection seeds
_RS2_STREAM, _REPLACE_STREAM, _FOLD_STREAM = 2_000_003, 2_000_029, 2_000_039


def _rng(*parts: int) -> np.random.Generator:
    return np.random.default_rng([int(p) for p in parts])


# --- RS2 ---------------------------------------------------------------------


def block_of_stream(n: int, k: int, epoch: int, seed: int,
                    label: int) -> np.ndarray:
    """Positions (into a class of ``n``) of block ``epoch`` of ``k``.

    The stream is a sequence of passes, each a seeded permutation of
    ``range(n)``; epoch ``e`` takes the stream's entries
    ``[e k, (e + 1) k)``. The samples that end pass ``p`` inside the block
    that spans passes ``p`` and ``p + 1`` are moved to the end of pass
    ``p + 1``, so no block holds a sample twice and every sample is in
    exactly one block per pass.

    Args:
        n: Class size.
        k: Block size, ``1 <= k <= n``.
        epoch: Block number (>= 0).
        seed: Run seed.
        label: The class (its own stream).

    Returns:
        np.ndarray: ``k`` distinct positions in ``[0, n)``.
    """
    start, stop = epoch * k, (epoch + 1) * k
    last_pass = (stop - 1) // n
    out: List[np.ndarray] = []
    perm = None
    for p in range(last_pass + 1):
        new = _rng(seed, _RS2_STREAM, label, p).permutation(n)
        if perm is not None:
            boundary = p * n
            # the part of pass p - 1 in the block that straddles the pass
            tail = perm[boundary // k * k - (p - 1) * n:]
            if tail.size:
                last = np.isin(new, tail)
                new = np.concatenate([new[~last], new[last]])
        perm = new
        lo, hi = max(start, p * n), min(stop, (p + 1) * n)
        if lo < hi:
            out.append(perm[lo - p * n:hi - p * n])
    return np.concatenate(out).astype(np.int64)


def rs2_positions(n: int, k: int, epoch: int, seed: int, label: int,
                  replace: bool) -> np.ndarray:
    """The positions class ``label`` serves in ``epoch`` under ``rs2``."""
    if replace:
        rng = _rng(seed, _REPLACE_STREAM, label, epoch)
        return np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)
    return np.sort(block_of_stream(n, k, epoch, seed, label))


# --- folds matching the class ------------------------------------------------


def fold_bins(sorted_scores: np.ndarray, method: str,
              options: Dict[str, Any]) -> Tuple[np.ndarray, np.ndarray]:
    """``(edges, w)``: the bins (in sorted order) and interior weights the
    folds of a class are matched on."""
    n = sorted_scores.size
    if method == 'geda_rotate':
        t, w = geda.node_grid(sorted_scores, options['nodes'], options['rule'])
        cuts = np.searchsorted(sorted_scores, t, side='right')
    elif method == 'strata_rotate':
        q = np.arange(1, options['quantiles'])
        cuts = q * n // options['quantiles']  # strata by rank
        w = np.ones(q.size)
    else:
        raise ValueError(f'method {method!r} has no folds; choose one of '
                         "['geda_rotate', 'strata_rotate']")
    return np.concatenate(([0], cuts, [n])).astype(np.int64), w


def cycle_folds(scores: np.ndarray,
                k: int,
                method: str,
                options: Dict[str, Any],
                rng: np.random.Generator,
                m: Optional[int] = None,
                carry: Optional[np.ndarray] = None) -> List[np.ndarray]:
    """Cut one class into ``m`` folds of ``k`` samples (one cycle).

    The folds are chosen one after the other from the samples not yet
    placed, each matching the whole class's ECDF on the method's bins
    (exactly: :func:`~mmcls_geda.selection.geda.capped_bin_counts`, then a
    random choice inside each bin). A fold that finds fewer than ``k``
    samples unplaced takes them all and is topped up with samples already
    placed, chosen by the same objective (with ``m = ceil(n / k)``: the
    last fold). When ``m k < n`` the ``n - m k`` samples left are not served
    in the cycle; the caller passes them to the next cycle as ``carry``,
    which puts them first, into fold 0.

    Args:
        scores: The class's scores (1-D).
        k: Fold size, ``1 <= k <= n``.
        method: ``'geda_rotate'`` or ``'strata_rotate'``.
        options: The method's resolved options.
        rng: The cycle's random stream.
        m: Folds (default ``ceil(n / k)``: every sample once).
        carry: Positions fold 0 must hold (at most ``k`` of them are).

    Returns:
        list[np.ndarray]: ``m`` sorted arrays of ``k`` distinct positions
        into ``scores``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = scores.size
    order = np.argsort(scores, kind='stable')
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    edges, w = fold_bins(scores[order], method, options)
    bin_of = np.repeat(np.arange(edges.size - 1), np.diff(edges))
    bins = edges.size - 1
    unplaced = np.ones(n, dtype=bool)  # by rank in `order`
    first = np.zeros(n, dtype=bool)
    if carry is not None and len(carry):
        first[rank[np.asarray(carry, dtype=np.int64)]] = True
    m = -(-n // k) if m is None else int(m)
    folds = []
    for f in range(m):
        wrap = False
        if f == 0 and first.any():
            if first.sum() <= k:
                forced, pool = first, unplaced & ~first
            else:
                forced, pool = np.zeros(n, dtype=bool), first
        elif unplaced.sum() < k:
            # every sample is placed: the rest, topped up with placed ones
            forced, pool, wrap = unplaced.copy(), ~unplaced, True
        else:
            forced, pool = np.zeros(n, dtype=bool), unplaced
        lower = np.bincount(bin_of[forced], minlength=bins)
        upper = lower + np.bincount(bin_of[pool], minlength=bins)
        counts = geda.capped_bin_counts(edges, w, k, lower, upper)
        picked = [np.flatnonzero(forced)]
        for b in np.flatnonzero(counts > lower):
            candidates = np.flatnonzero(pool & (bin_of == b))
            picked.append(
                rng.choice(
                    candidates, size=counts[b] - lower[b], replace=False))
        ranks = np.concatenate(picked)
        if wrap:  # a new pass inside the cycle (tiny budgets only)
            unplaced[:] = True
        unplaced[ranks] = False
        folds.append(np.sort(order[ranks]).astype(np.int64))
    return folds


# --- the plan of a run -------------------------------------------------------


def cycle_length(fraction: float) -> int:
    """Epochs per cycle, ``m = ceil(1 / fraction)``."""
    return max(1, math.ceil(1.0 / fraction - 1e-9))


class RotationPlan:
    """Which samples every epoch serves, from the labels and the settings.

    A cycle is :func:`cycle_length` epochs for every class. A class whose
    ``m k_c`` exceeds ``n_c`` tops up the last fold; one whose ``m k_c``
    falls short (``k_c`` rounded down) leaves ``n_c - m k_c`` samples for
    the next cycle, whose first fold serves them (``carry``).

    Args:
        labels: Labels of the whole training set (1-D ints).
        fraction: Fraction kept per epoch, in (0, 1].
        method: One of :data:`PER_EPOCH_METHODS`.
        options: The method's resolved options.
        seed: Run seed (>= 0).
    """

    def __init__(self, labels: np.ndarray, fraction: float, method: str,
                 options: Dict[str, Any], seed: int):
        if method not in PER_EPOCH_METHODS:
            raise ValueError(f'unknown per-epoch method {method!r}; choose '
                             f'one of {list(PER_EPOCH_METHODS)}')
        self.labels = np.asarray(labels, dtype=np.int64)
        self.fraction, self.method = fraction, method
        self.options, self.seed = dict(options), int(seed)
        self.classes, sizes = np.unique(self.labels, return_counts=True)
        self.budgets = class_budgets(sizes, fraction)
        self.members = [np.flatnonzero(self.labels == c) for c in self.classes]
        self.cycle_epochs = cycle_length(fraction)
        self.size = int(self.budgets.sum())
        self._folds: Dict[tuple, List[np.ndarray]] = {}

    @property
    def reads_scores(self) -> bool:
        """Whether the folds read scores (``rs2`` reads nothing)."""
        return self.method != 'rs2'

    def new_cycle(self, epoch: int) -> bool:
        """Whether ``epoch`` (> 0) starts a cycle, i.e. is re-folded."""
        return (self.reads_scores and epoch > 0
                and epoch % self.cycle_epochs == 0)

    def _check(self, scores, carry):
        if self.reads_scores and (scores is None
                                  or np.shape(scores) != self.labels.shape):
            raise ValueError(
                f'{self.method} folds on one score per sample: give '
                f'{self.labels.size} scores, got '
                f'{None if scores is None else np.shape(scores)}')
        if carry is None:
            return np.zeros(self.labels.size, dtype=bool)
        carry = np.asarray(carry, dtype=bool)
        if carry.shape != self.labels.shape:
            raise ValueError(f'carry must be a mask over the '
                             f'{self.labels.size} samples, got shape '
                             f'{carry.shape}')
        return carry

    def indices(self,
                epoch: int,
                scores: Optional[np.ndarray] = None,
                carry: Optional[np.ndarray] = None) -> np.ndarray:
        """The sorted dataset indices ``epoch`` serves.

        Args:
            epoch: The epoch (>= 0).
            scores: Per sample, the scores the current cycle is folded on
                (all samples; not read by ``rs2``).
            carry: Mask of the samples the previous cycle left over
                (:meth:`leftover`), served first; None: none.
        """
        carry = self._check(scores, carry)
        out = []
        for c, members, k in zip(self.classes, self.members, self.budgets):
            n = members.size
            if self.method == 'rs2':
                pos = rs2_positions(n, int(k), epoch, self.seed, int(c),
                                    self.options['replace'])
            else:
                cycle, f = divmod(epoch, self.cycle_epochs)
                pos = self.folds(
                    int(c), cycle, scores[members],
                    np.flatnonzero(carry[members]))[f]
            out.append(members[pos])
        return np.sort(np.concatenate(out))

    def leftover(self,
                 epoch: int,
                 scores: np.ndarray,
                 carry: Optional[np.ndarray] = None) -> np.ndarray:
        """Mask of the samples the cycle of ``epoch`` does not serve (the
        next cycle's ``carry``): ``n_c - m k_c`` of a class whose budget
        was rounded down, none otherwise."""
        carry = self._check(scores, carry)
        out = np.zeros(self.labels.size, dtype=bool)
        if not self.reads_scores:
            return out
        cycle = epoch // self.cycle_epochs
        for c, members in zip(self.classes, self.members):
            folds = self.folds(
                int(c), cycle, scores[members], np.flatnonzero(carry[members]))
            served = np.zeros(members.size, dtype=bool)
            served[np.concatenate(folds)] = True
            out[members[~served]] = True
        return out

    def folds(self, label: int, cycle: int, class_scores: np.ndarray,
              class_carry: np.ndarray) -> List[np.ndarray]:
        """The folds of class ``label`` in ``cycle`` (cached by content)."""
        key = (label, cycle, hash(np.asarray(class_scores).tobytes()),
               hash(np.asarray(class_carry).tobytes()))
        if key not in self._folds:
            c = int(np.searchsorted(self.classes, label))
            # keep one cycle per class
            self._folds = {
                kk: v
                for kk, v in self._folds.items() if kk[0] != label
            }
            self._folds[key] = cycle_folds(
                class_scores, int(self.budgets[c]), self.method, self.options,
                _rng(self.seed, _FOLD_STREAM, label, cycle), self.cycle_epochs,
                class_carry)
        return self._folds[key]

    def describe(self) -> str:
        """One line for logs."""
        line = (f'{self.method}: {self.size} of {self.labels.size} samples '
                'a epoch')
        if self.reads_scores:
            line += (f', cycles of {self.cycle_epochs} epochs, later cycles '
                     f'folded on {self.options["refold"]}')
        elif self.options['replace']:
            line += ', each epoch drawn independently'
        else:
            line += ', a new block of each class\'s permutation every epoch'
        return line


def needs_losses(method: str, options: Dict[str, Any]) -> bool:
    """Whether ``method`` folds later cycles on the recorded losses."""
    return method in PER_EPOCH_METHODS and options.get('refold') == 'loss'


def fold_objective(scores: np.ndarray, positions: np.ndarray, method: str,
                   options: Dict[str, Any]) -> float:
    """The objective (P) of one fold against its whole class, on the
    method's bins: ``sum_j w_j |F_class(t_j) - F_fold(t_j)|`` with the
    interior cuts as nodes."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(scores, kind='stable')
    edges, w = fold_bins(scores[order], method, options)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    chosen = np.sort(rank[positions])
    below = np.searchsorted(chosen, edges[1:-1], side='left')
    return float(
        np.dot(w, np.abs(edges[1:-1] / scores.size - below / chosen.size)))


# --- what a run keeps in work_dir --------------------------------------------

ROTATION_LOG = 'rotation_log.json'


def state_file(epoch: int) -> str:
    """The state before epoch ``epoch`` (recorded losses, cycle scores)."""
    return f'rotation_state_epoch{int(epoch)}.npz'


def save_state(work_dir: str, epoch: int, losses: np.ndarray,
               cycle_scores: Optional[np.ndarray], carry: Optional[np.ndarray],
               settings: Dict[str, Any], log: List[Dict[str, Any]]) -> str:
    """Write the state before ``epoch`` and the per-epoch log, atomically.

    Args:
        work_dir: The run's work dir.
        epoch: The epoch the state is for (the next one to train).
        losses: Per sample, the last recorded training loss (NaN: none).
        cycle_scores: Per sample, the scores its class's current cycle is
            folded on (None for ``rs2``).
        carry: Mask of the samples the previous cycle left over, which
            the current cycle serves first (None for ``rs2``).
        settings: What a resumed run must share (method, options, seed,
            fraction, fingerprint).
        log: One entry per trained epoch.

    Returns:
        str: The state file's path.
    """
    import json
    import os
    import os.path as osp

    from .record import atomic_write
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, state_file(epoch))

    def write(tmp):
        with open(tmp, 'wb') as f:  # a handle: savez would append '.npz'
            np.savez(
                f,
                losses=np.asarray(losses, dtype=np.float32),
                cycle_scores=np.asarray(
                    cycle_scores if cycle_scores is not None else [],
                    dtype=np.float64),
                carry=np.asarray(
                    carry if carry is not None else [], dtype=bool),
                epoch=epoch,
                settings=json.dumps(settings, sort_keys=True))

    def write_log(tmp):
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(dict(epochs=log), f, indent=1)

    atomic_write(path, write)
    atomic_write(osp.join(work_dir, ROTATION_LOG), write_log)
    return path


def load_state(work_dir: str, epoch: int, settings: Dict[str, Any]):
    """``(losses, cycle_scores, carry, log)`` saved before ``epoch``,
    checked (``cycle_scores`` and ``carry`` None for ``rs2``).

    Raises:
        FileNotFoundError: Naming the missing file.
        ValueError: A state of other settings (both named), or unreadable.
    """
    import json
    import os.path as osp

    from . import record
    path = osp.join(work_dir, state_file(epoch))
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'resuming at epoch {epoch} needs the rotation state {path} '
            '(recorded losses and the scores of the current cycle), which is '
            'missing: start again from epoch 0')
    try:
        with np.load(path) as state:
            losses = state['losses'].astype(np.float64)
            scores = state['cycle_scores']
            carry = state['carry']
            saved = json.loads(str(state['settings']))
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f'{path} is truncated or not a rotation state '
                         f'({err}): start again from epoch 0') from None
    lines = record.settings_differ(saved, settings)
    if lines:
        raise ValueError(
            f'{path} was saved with other settings than this run ({lines}): '
            'resume with the settings it was made with, or start a new '
            'work_dir')
    log = record.epochs_before(osp.join(work_dir, ROTATION_LOG), epoch)
    if not scores.size:
        scores = carry = None
    return losses, scores, carry, log
