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

from .checks import check_int, check_number
from .folds import stream_block
from .registry import get_method

WEIGHTINGS = ('gradmatch', )
# the seed stream of the warm-up permutations (apart from selection seeds)
_WARMUP_STREAM = 7919
# a warm-up given to 3 decimals still names an exact number of epochs
WARMUP_TOLERANCE = 5e-4


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
    lam = check_number(spec.get('lam', 1e-3), 'weights lam', 0)
    if get_method(method).weighted:
        raise ValueError(f'method {method!r} weights its own subsets; '
                         'weights applies to the unweighted methods')
    return dict(type=spec['type'], lam=float(lam))


def check_then(then: Any) -> Optional[Dict[str, Any]]:
    """The second phase as ``dict(method, options, start_epoch, interval)``
    (the options as given, checked against the method), or None."""
    if then is None:
        return None
    if not isinstance(then, dict):
        hint = ''
        if isinstance(then, str):  # the command line passes no dict(...)
            hint = ('; on the command line give it key by key: '
                    'custom_hooks.0.then.method=M custom_hooks.0.then.'
                    'start_epoch=E custom_hooks.0.then.interval=R')
        raise ValueError('then must be None or a dict(method=..., '
                         f'start_epoch=..., interval=...), got {then!r}'
                         f'{hint}')
    allowed = {'method', 'options', 'start_epoch', 'interval'}
    unknown = sorted(set(then) - allowed)
    missing = sorted({'method', 'start_epoch', 'interval'} - set(then))
    if unknown or missing:
        raise ValueError(f'then takes {sorted(allowed)} (method, start_epoch '
                         f'and interval required); unknown: {unknown}, '
                         f'missing: {missing}')
    options = dict(then.get('options') or {})
    get_method(then['method']).resolve(options)
    return dict(
        method=then['method'],
        options=options,
        start_epoch=check_int(then['start_epoch'], 'then start_epoch', 1),
        interval=check_int(then['interval'], 'then interval', 1))


def check_warmup(warmup_epochs: Any) -> float:
    """``warmup_epochs`` as a float >= 0 (full passes over the data)."""
    return check_number(
        warmup_epochs,
        'warmup_epochs',
        0,
        hint='full passes over the training set before the first selection')


def warmup_epoch_count(warmup_epochs: float, max_epochs: int,
                       share: float) -> int:
    """The epochs a warm-up of ``warmup_epochs`` full passes takes, or a
    ValueError naming the nearest warm-ups that fit.

    The one bound of the warm-up, used by ``apply_geda`` (``share``: the
    fraction, before the data is known), the hook (``share = size / n``,
    exact) and the experiment grids. Every epoch serves ``share`` of a
    pass, so a warm-up must be a whole number of epochs (``e x share``
    passes, to :data:`WARMUP_TOLERANCE`) and leave at least one epoch for
    the subset: ``e <= max_epochs - 1``.

    Args:
        warmup_epochs: Full passes asked for (>= 0).
        max_epochs: Epochs of the run.
        share: Passes one epoch serves, in (0, 1].
    """
    warmup_epochs = check_warmup(warmup_epochs)
    max_epochs = check_int(max_epochs, 'max_epochs', 1)
    epochs = round(warmup_epochs / share)
    if abs(epochs * share - warmup_epochs) > WARMUP_TOLERANCE:
        low = math.floor(warmup_epochs / share)
        near = ' or '.join(f'warmup_epochs={e * share:.3f} ({e} epochs)'
                           for e in (low, low + 1) if e < max_epochs)
        raise ValueError(
            f'warmup_epochs={warmup_epochs:g} is not a whole number of '
            f'epochs: each epoch serves {share:.4g} of a pass, so '
            f'{warmup_epochs:g} passes take {warmup_epochs / share:.3g} '
            f'epochs; choose {near}')
    if epochs >= max_epochs:
        raise ValueError(
            f'warmup_epochs={warmup_epochs:g} full passes take {epochs} '
            f'epochs of {share:.4g} passes, which leaves none of the '
            f'{max_epochs} epochs for the subset; choose warmup_epochs <= '
            f'{(max_epochs - 1) * share:.3f} ({max_epochs - 1} epochs)')
    return epochs


def selection_seed(seed: int, epoch: int) -> int:
    """The seed of the selection made at ``epoch``: its own random stream
    of ``(seed, epoch)``, the same on every rank and after a restart
    (``seed`` itself at epoch 0, so a one-off selection keeps it)."""
    if epoch == 0:
        return int(seed)
    state = np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)
    return int(state[0])


@dataclass(frozen=True)
class Step:
    """What one epoch does, from the plan alone.

    Attributes:
        phase: ``'warmup'``, ``'subset'`` or ``'then'``.
        due: The epoch whose selection this epoch trains on (None in the
            warm-up).
        action: ``'warmup'`` (serve the epoch's warm-up slice),
            ``'select'`` (a selection is due now) or ``'reuse'`` (train on
            the selection of epoch ``due``).
    """
    phase: str
    due: Optional[int]
    action: str


@dataclass(frozen=True)
class SchedulePlan:
    """The phases of one run, from the data sizes and ``max_epochs``.

    Attributes:
        n: Samples in the whole training set.
        size: Samples served per epoch (the wrapper's length).
        max_epochs: Epochs of the run.
        warmup_epochs: Full passes of warm-up asked for.
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

    def step(self, epoch: int) -> Step:
        """What ``epoch`` does (see :class:`Step`)."""
        phase, due = self.phase(epoch), self.selection_epoch(epoch)
        action = ('warmup'
                  if due is None else 'select' if due == epoch else 'reuse')
        return Step(phase, due, action)

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

    @property
    def passes(self) -> float:
        """Full passes the warm-up serves (``warmup_epochs`` to
        :data:`WARMUP_TOLERANCE`)."""
        return self.warmup_end * self.size / self.n

    def passes_served(self, epoch: int) -> float:
        """Full passes served before ``epoch`` (warm-up epochs only)."""
        return min(epoch, self.warmup_end) * self.size / self.n

    def describe(self) -> str:
        """One line for logs: the phases and their epochs."""
        parts = []
        if self.warmup_end:
            parts.append(f'warm-up epochs 0-{self.warmup_end - 1} '
                         f'({self.passes:.4g} passes)')
        first = f'subset from epoch {self.warmup_end}'
        if self.interval:
            first += f', re-selected every {self.interval}'
        parts.append(first)
        if self.then_start < self.max_epochs:
            parts.append(f'second phase from epoch {self.then_start}, '
                         f're-selected every {self.then_interval}')
        return '; '.join(parts)


def check_then_start(then_start: int, warmup_end: int,
                     max_epochs: int) -> None:
    """A ValueError unless the second phase starts after the first
    selection (epoch ``warmup_end``) and before ``max_epochs``."""
    if not warmup_end < then_start < max_epochs:
        raise ValueError(
            f'then start_epoch={then_start} must come after the first '
            f'selection (epoch {warmup_end}) and before max_epochs='
            f'{max_epochs}')


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
        warmup_epochs: Full passes of warm-up (see
            :func:`warmup_epoch_count`).
        interval: Re-selection interval of the subset phase.
        then: The second phase (see :func:`check_then`).
    """
    check_int(max_epochs, 'max_epochs', 1)
    if not 0 < size <= n:
        raise ValueError(f'size must be in [1, n={n}], got {size}')
    warmup_end = warmup_epoch_count(warmup_epochs, max_epochs, size / n)
    then_start, then_interval = max_epochs, 0
    if then is not None:
        then_start, then_interval = then['start_epoch'], then['interval']
        check_then_start(then_start, warmup_end, max_epochs)
    return SchedulePlan(n, size, max_epochs, float(warmup_epochs), warmup_end,
                        interval, then_start, then_interval)


def warmup_indices(n: int, size: int, epoch: int, seed: int) -> np.ndarray:
    """The ``size`` samples warm-up epoch ``epoch`` serves.

    The warm-up is one stream of passes over all ``n`` samples cut into
    consecutive slices of ``size``
    (:func:`~mmcls_geda.selection.folds.stream_block`: each pass a fresh
    seeded permutation; a slice that spans two passes never holds a sample
    twice). The same arguments give the same slice on every rank and after
    a restart.

    Returns:
        np.ndarray: ``size`` unique indices in ``[0, n)``.
    """
    return stream_block(n, size * np.arange(epoch + 2), epoch,
                        (seed, _WARMUP_STREAM))
