"""Schedules: which samples fill a fixed budget, epoch by epoch.

A subset run's cost is fixed by the wrapper's length: every epoch serves
``size = sum_c k_c`` samples (about ``fraction x n``), whatever the
schedule. A schedule only decides which samples those are:

- **warm-up** (``warmup_epochs=W``): the first epochs sweep the whole
  training set in slices of ``size`` samples (each pass a new permutation,
  every sample once per pass) until ``W`` full passes are served; then the
  first selection scores with the warmed model.
- **the subset phase**: the hook's method selects at the end of the
  warm-up (epoch 0 without one) and again every ``interval`` epochs.
- **a second phase** (``then=dict(method=..., start_epoch=E,
  interval=R)``): from epoch ``E`` another method (e.g. GRAD-MATCH)
  re-selects every ``R`` epochs: GEDA as a warm start.

Everything here is numpy: the plan is the same on every rank and after a
restart, so a resumed run knows its phase and the epoch of the selection
it trains on from the epoch number alone.
"""
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np

from .registry import check_int, get_method

PHASES = ('warmup', 'subset', 'then')
WEIGHTINGS = ('gradmatch', )
# the seed stream of the warm-up permutations (apart from selection seeds)
_WARMUP_STREAM = 7919


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(
        value, (int, float, np.integer, np.floating)) and math.isfinite(value)


def check_weights(weights: Any, method: str) -> Optional[Dict[str, Any]]:
    """The weighting of a selection as ``dict(type=..., lam=...)``, or None.

    Args:
        weights: None (unweighted), ``'gradmatch'`` or
            ``dict(type='gradmatch', lam=...)``: per-class non-negative
            weights that match the class's summed last-layer gradient
            (thesis Algorithm 6.1, step 2).
        method: The method whose subsets get the weights; it must be an
            unweighted one.
    """
    if weights is None:
        return None
    spec = dict(type=weights) if isinstance(weights, str) else weights
    if not isinstance(spec, dict) or spec.get('type') not in WEIGHTINGS:
        raise ValueError(f'weights must be None, one of {list(WEIGHTINGS)} '
                         f"or dict(type='gradmatch', lam=...), got "
                         f'{weights!r}')
    unknown = sorted(set(spec) - {'type', 'lam'})
    if unknown:
        raise ValueError(f'unknown weights option(s) {unknown}; '
                         "weights takes 'type' and 'lam'")
    lam = spec.get('lam', 1e-3)
    if not _is_number(lam) or lam < 0:
        raise ValueError(f'weights lam must be a number >= 0, got {lam!r}')
    if get_method(method).weighted:
        raise ValueError(f'method {method!r} weights its own subsets; '
                         'weights applies to the unweighted methods')
    return dict(type=spec['type'], lam=float(lam))


def check_then(then: Any) -> Optional[Dict[str, Any]]:
    """The second phase as ``dict(method, options, start_epoch, interval)``
    with the method's options resolved, or None."""
    if then is None:
        return None
    if not isinstance(then, dict):
        raise ValueError('then must be None or a dict(method=..., '
                         f'start_epoch=..., interval=...), got {then!r}')
    allowed = {'method', 'options', 'start_epoch', 'interval'}
    unknown = sorted(set(then) - allowed)
    missing = sorted({'method', 'start_epoch', 'interval'} - set(then))
    if unknown or missing:
        raise ValueError(f'then takes {sorted(allowed)} (method, start_epoch '
                         f'and interval required); unknown: {unknown}, '
                         f'missing: {missing}')
    options = get_method(then['method']).resolve(
        dict(then.get('options') or {}))
    check_int(then['start_epoch'], 'then start_epoch', 1)
    if isinstance(
            then['interval'],
            bool) or not isinstance(then['interval'],
                                    (int, np.integer)) or then['interval'] < 1:
        raise ValueError(
            f'then interval must be an integer >= 1 (the second phase '
            f're-selects every interval epochs; for one selection use the '
            f'first phase), got {then["interval"]!r}')
    return dict(
        method=then['method'],
        options=options,
        start_epoch=int(then['start_epoch']),
        interval=int(then['interval']))


def check_warmup(warmup_epochs: Any) -> float:
    """``warmup_epochs`` as a float >= 0 (full passes over the data)."""
    if not _is_number(warmup_epochs) or warmup_epochs < 0:
        raise ValueError(
            'warmup_epochs must be a number >= 0 (full passes over the '
            f'training set before the first selection), got '
            f'{warmup_epochs!r}')
    return float(warmup_epochs)


def check_warmup_budget(warmup_epochs: float, max_epochs: int,
                        fraction: float) -> None:
    """A ValueError unless the warm-up leaves epochs to train the subset:
    the run serves ``max_epochs x fraction`` full passes in all."""
    passes = max_epochs * fraction
    if warmup_epochs > 0 and warmup_epochs >= passes - 1e-9:
        raise ValueError(
            f'warmup_epochs={warmup_epochs:g} full passes leave no epoch for '
            f'the subset: the whole run serves {max_epochs} epochs x '
            f'fraction {fraction:g} = {passes:g} passes; choose '
            f'warmup_epochs < {passes:g}')


@dataclass(frozen=True)
class SchedulePlan:
    """The phases of one run, from the data sizes and ``max_epochs``.

    Attributes:
        n: Samples in the whole training set.
        size: Samples served per epoch (the wrapper's length).
        max_epochs: Epochs of the run.
        warmup_epochs: Full passes of warm-up (``W``).
        warmup_end: First epoch after the warm-up (0 without one).
        interval: Re-selection interval of the subset phase (0: once).
        then_start: First epoch of the second phase (``max_epochs``: none).
        then_interval: Its re-selection interval.
    """
    n: int
    size: int
    max_epochs: int
    warmup_epochs: float
    warmup_end: int
    interval: int
    then_start: int
    then_interval: int

    def phase(self, epoch: int) -> str:
        """``'warmup'``, ``'subset'`` or ``'then'``."""
        if epoch < self.warmup_end:
            return 'warmup'
        return 'then' if (self.then_interval
                          and epoch >= self.then_start) else 'subset'

    def selection_epoch(self, epoch: int) -> Optional[int]:
        """The epoch whose selection ``epoch`` trains on (None: warm-up)."""
        phase = self.phase(epoch)
        if phase == 'warmup':
            return None
        start, interval = (self.then_start, self.then_interval) if (
            phase == 'then') else (self.warmup_end, self.interval)
        if not interval:
            return start
        return start + (epoch - start) // interval * interval

    def selections(self) -> List[int]:
        """Every epoch that starts with a selection."""
        return sorted({
            self.selection_epoch(e)
            for e in range(self.warmup_end, self.max_epochs)
        })

    def per_epoch_files(self) -> bool:
        """Whether records need per-epoch files (more than one selection,
        or one made after epoch 0)."""
        return self.selections() != [0]

    def passes_served(self, epoch: int) -> float:
        """Full passes served before ``epoch`` (warm-up epochs only)."""
        return min(epoch, self.warmup_end) * self.size / self.n

    def describe(self) -> str:
        """One line for logs: the phases and their epochs."""
        parts = []
        if self.warmup_end:
            parts.append(f'warm-up epochs 0-{self.warmup_end - 1} '
                         f'({self.warmup_epochs:g} passes)')
        first = f'subset from epoch {self.warmup_end}'
        if self.interval:
            first += f', re-selected every {self.interval}'
        parts.append(first)
        if self.then_start < self.max_epochs:
            parts.append(f'second phase from epoch {self.then_start}, '
                         f're-selected every {self.then_interval}')
        return '; '.join(parts)


def plan_schedule(n: int,
                  size: int,
                  max_epochs: int,
                  warmup_epochs: float = 0.0,
                  interval: int = 0,
                  then: Optional[Dict[str, Any]] = None) -> SchedulePlan:
    """The plan of a run, or a ValueError if it does not fit the run.

    Args:
        n: Samples in the training set.
        size: Samples served per epoch.
        max_epochs: Epochs of the run.
        warmup_epochs: Full passes of warm-up, checked.
        interval: Re-selection interval of the subset phase.
        then: The second phase (see :func:`check_then`).
    """
    warmup_epochs = check_warmup(warmup_epochs)
    check_int(max_epochs, 'max_epochs', 1)
    if not 0 < size <= n:
        raise ValueError(f'size must be in [1, n={n}], got {size}')
    warmup_end = math.ceil(warmup_epochs * n / size - 1e-9)
    if warmup_epochs > 0 and warmup_end >= max_epochs:
        raise ValueError(
            f'warmup_epochs={warmup_epochs:g} full passes take '
            f'{warmup_end} epochs of {size}/{n} samples, which leaves none '
            f'of the {max_epochs} epochs for the subset; choose '
            f'warmup_epochs < {(max_epochs - 1) * size / n:g}')
    then_start, then_interval = max_epochs, 0
    if then is not None:
        then_start, then_interval = then['start_epoch'], then['interval']
        if not warmup_end < then_start < max_epochs:
            raise ValueError(
                f'then start_epoch={then_start} must come after the first '
                f'selection (epoch {warmup_end}) and before max_epochs='
                f'{max_epochs}')
    return SchedulePlan(n, size, max_epochs, warmup_epochs, warmup_end,
                        interval, then_start, then_interval)


def warmup_indices(n: int, size: int, epoch: int, seed: int) -> np.ndarray:
    """The ``size`` samples warm-up epoch ``epoch`` serves.

    The warm-up is one stream of passes cut into consecutive slices of
    ``size``. Each pass is a fresh seeded permutation of all ``n`` samples;
    the samples that end pass ``p`` inside a slice are moved to the end of
    pass ``p + 1``'s permutation, so a slice that spans two passes never
    holds a sample twice. The same arguments give the same slice on every
    rank and after a restart.

    Returns:
        np.ndarray: ``size`` unique indices in ``[0, n)``.
    """
    start, stop = epoch * size, (epoch + 1) * size
    stream: List[np.ndarray] = []
    for p in range(-(-stop // n)):
        perm = np.random.default_rng([seed, _WARMUP_STREAM, p]).permutation(n)
        if p > 0:
            boundary = p * n
            tail = np.concatenate(stream)[boundary // size * size:boundary]
            if tail.size:
                last = np.isin(perm, tail)
                perm = np.concatenate([perm[~last], perm[last]])
        stream.append(perm)
    return np.concatenate(stream)[start:stop].astype(np.int64)
