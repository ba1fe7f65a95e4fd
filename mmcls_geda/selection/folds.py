"""Per-class building blocks of the per-epoch subsets (RS2 blocks, GEDA and
stratified folds against the whole class), for
:mod:`mmcls_geda.selection.rotation`. numpy only.
"""
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from . import geda

# seed streams, apart from each other and from the selection seeds
_RS2_STREAM, _REPLACE_STREAM, _FOLD_STREAM = 2_000_003, 2_000_029, 2_000_039


def _rng(*parts: int) -> np.random.Generator:
    return np.random.default_rng([int(p) for p in parts])


# --- RS2 ---------------------------------------------------------------------


def stream_block(n: int, offsets: np.ndarray, block: int,
                 key: Tuple[int, ...]) -> np.ndarray:
    """Block ``block`` of a stream of passes over ``range(n)``: the one
    slicing routine of RS2's blocks and the warm-up's slices.

    The stream is a sequence of passes, pass ``p`` a permutation of
    ``range(n)`` seeded by ``(*key, p)``; block ``b`` takes the stream's
    entries ``[offsets[b], offsets[b + 1])`` (each block at most ``n``).
    The samples that end pass ``p`` inside the block that spans passes
    ``p`` and ``p + 1`` are moved to the end of pass ``p + 1``, so no block
    holds a sample twice and every sample is in exactly one block per pass.

    Args:
        n: Samples in a pass.
        offsets: Where each block starts in the stream (cumulative block
            sizes from 0, at least ``block + 2`` entries).
        block: The block (>= 0).
        key: The stream's seed parts.

    Returns:
        np.ndarray: The block's distinct positions in ``[0, n)``, in
        stream order.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    start, stop = int(offsets[block]), int(offsets[block + 1])
    out: List[np.ndarray] = []
    perm = None
    for p in range((stop - 1) // n + 1):
        new = _rng(*key, p).permutation(n)
        if perm is not None:
            # the part of pass p - 1 in the block that straddles the pass
            straddling = offsets[np.searchsorted(offsets, p * n, side='right')
                                 - 1]
            tail = perm[straddling - (p - 1) * n:]
            if tail.size:
                last = np.isin(new, tail)
                new = np.concatenate([new[~last], new[last]])
        perm = new
        lo, hi = max(start, p * n), min(stop, (p + 1) * n)
        if lo < hi:
            out.append(perm[lo - p * n:hi - p * n])
    if not out:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(out).astype(np.int64)


def block_of_stream(n: int,
                    k: int,
                    epoch: int,
                    seed: int,
                    label: int,
                    offsets: Optional[np.ndarray] = None) -> np.ndarray:
    """Positions (into a class of ``n``) of RS2's block ``epoch``: entries
    ``[e k, (e + 1) k)`` of the class's stream (:func:`stream_block`), or
    ``[offsets[e], offsets[e + 1])`` for blocks of varying sizes.

    Args:
        n: Class size.
        k: Block size, ``1 <= k <= n`` (unused with ``offsets``).
        epoch: Block number (>= 0).
        seed: Run seed.
        label: The class (its own stream).
        offsets: Cumulative block sizes from 0; None: ``e k``.
    """
    if offsets is None:
        offsets = k * np.arange(epoch + 2, dtype=np.int64)
    return stream_block(n, offsets, epoch, (seed, _RS2_STREAM, label))


def rs2_positions(n: int,
                  k: int,
                  epoch: int,
                  seed: int,
                  label: int,
                  replace: bool,
                  offsets: Optional[np.ndarray] = None) -> np.ndarray:
    """The positions class ``label`` serves in ``epoch`` under ``rs2``:
    ``k`` of them, or ``offsets[epoch + 1] - offsets[epoch]`` when the
    epochs' sizes vary (see :func:`block_of_stream`)."""
    if offsets is not None:
        k = int(offsets[epoch + 1] - offsets[epoch])
    if replace:
        rng = _rng(seed, _REPLACE_STREAM, label, epoch)
        return np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)
    return np.sort(block_of_stream(n, k, epoch, seed, label, offsets))


# --- folds matching the class ------------------------------------------------


def bin_edges(cuts: np.ndarray, n: int) -> np.ndarray:
    """The edges ``[0, *cuts, n]`` of the bins a class's folds are matched
    on (cuts: interior positions in sorted order)."""
    return np.concatenate(([0], cuts, [n])).astype(np.int64)


def cycle_folds(scores: np.ndarray,
                k: int,
                bins: Callable,
                options: Dict[str, Any],
                rng: np.random.Generator,
                m: Optional[int] = None,
                carry: Optional[np.ndarray] = None,
                sizes: Optional[List[int]] = None) -> List[np.ndarray]:
    """Cut one class into ``m`` folds of ``k`` samples (one cycle), or
    into folds of ``sizes``.

    The folds are chosen one after the other from the samples not yet
    placed, each matching the whole class's ECDF on the method's bins
    (exactly: :func:`~mmcls_geda.selection.geda.capped_bin_counts`, then a
    random choice inside each bin). A fold that finds fewer than ``k``
    samples unplaced takes them all and is topped up with samples already
    placed, chosen by the same objective (with ``m = ceil(n / k)``: the
    last fold). When ``m k < n`` (the sizes sum to less than ``n``) the
    ``n - m k`` samples left are not served
    in the cycle; the caller passes them to the next cycle as ``carry``,
    which puts them first, into fold 0.

    Args:
        scores: The class's scores (1-D).
        k: Fold size, ``1 <= k <= n``.
        bins: ``bins(sorted_scores, options) -> (edges, w)``, the bins
            the folds match the class on (the method's
            :class:`~mmcls_geda.selection.epoch_rules.MatchedFolds`).
        options: The method's resolved options.
        rng: The cycle's random stream.
        m: Folds (default ``ceil(n / k)``: every sample once).
        carry: Positions fold 0 must hold (at most ``k`` of them are).
        sizes: Each fold's size, each in ``[1, n]`` (a budget schedule's
            epochs); None: ``m`` folds of ``k``.

    Returns:
        list[np.ndarray]: Sorted arrays of distinct positions into
        ``scores``, one a fold.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = scores.size
    order = np.argsort(scores, kind='stable')
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    edges, w = bins(scores[order], options)
    bin_of = np.repeat(np.arange(edges.size - 1), np.diff(edges))
    bins = edges.size - 1
    unplaced = np.ones(n, dtype=bool)  # by rank in `order`
    first = np.zeros(n, dtype=bool)
    if carry is not None and len(carry):
        first[rank[np.asarray(carry, dtype=np.int64)]] = True
    if sizes is None:
        sizes = [k] * (-(-n // k) if m is None else int(m))
    folds = []
    for f, k in enumerate(sizes):
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
        if wrap:  # a new pass inside the cycle (tiny budgets only):
            # the forced samples end the old pass, the top-ups open the new
            unplaced[:] = True
            unplaced[np.concatenate(picked[1:] or [ranks[:0]])] = False
        else:
            unplaced[ranks] = False
        folds.append(np.sort(order[ranks]).astype(np.int64))
    return folds


def fold_objective(scores: np.ndarray, positions: np.ndarray, bins: Callable,
                   options: Dict[str, Any]) -> float:
    """The objective (P) of one fold against its whole class, on ``bins``
    (as in :func:`cycle_folds`): ``sum_j w_j |F_class(t_j) -
    F_fold(t_j)|`` with the interior cuts as nodes."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(scores, kind='stable')
    edges, w = bins(scores[order], options)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    chosen = np.sort(rank[positions])
    below = np.searchsorted(chosen, edges[1:-1], side='left')
    return float(
        np.dot(w, np.abs(edges[1:-1] / scores.size - below / chosen.size)))
