"""Argument checks shared by every layer: one wording for one mistake.

Each check returns the value in its canonical Python type (``int`` or
``float``; numpy scalars are accepted) or raises a ValueError that names
the argument, the bad value and what is allowed. numpy only.
"""
import math
from typing import Any, Optional

import numpy as np

_INTS = (int, np.integer)
_NUMBERS = (int, float, np.integer, np.floating)


def is_number(value: Any) -> bool:
    """Whether ``value`` is a finite real number (bools are not)."""
    return (not isinstance(value, bool) and isinstance(value, _NUMBERS)
            and math.isfinite(value))


def check_int(value: Any,
              name: str,
              low: Optional[int] = None,
              high: Optional[int] = None) -> int:
    """``value`` as an int in ``[low, high]`` (either end optional)."""
    ok = (not isinstance(value, bool) and isinstance(value, _INTS)
          and (low is None or value >= low)
          and (high is None or value <= high))
    if not ok:
        raise ValueError(
            f'{name} must be an integer{_span(low, high, True, True)}, '
            f'got {value!r}')
    return int(value)


def check_number(value: Any,
                 name: str,
                 low: Optional[float] = None,
                 high: Optional[float] = None,
                 *,
                 low_open: bool = False,
                 high_open: bool = False,
                 hint: str = '') -> float:
    """``value`` as a finite float in the interval given by ``low``,
    ``high`` (None: unbounded) and which ends are open.

    Args:
        hint: What the argument means, added to the message.
    """
    ok = is_number(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        what = f' ({hint})' if hint else ''
        raise ValueError(
            f'{name}{what} must be a number'
            f'{_span(low, high, not low_open, not high_open)}, got {value!r}')
    return float(value)


def check_fraction(fraction: Any, name: str = 'fraction') -> float:
    """A fraction of the data, in (0, 1]."""
    return check_number(fraction, name, 0, 1, low_open=True)


def check_seed(seed: Any, name: str = 'seed') -> int:
    """A seed: an integer >= 0."""
    return check_int(seed, name, 0)


def check_bool(value: Any, name: str) -> bool:
    """True or False (not 0/1, not a string)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f'{name} must be True or False, got {value!r}')
    return bool(value)


def check_choice(value: Any, name: str, choices) -> Any:
    """One of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f'unknown {name} {value!r}; choose one of '
                         f'{list(choices)}')
    return value


def _span(low, high, low_closed: bool, high_closed: bool) -> str:
    if low is None and high is None:
        return ''
    if high is None:
        return f' {">=" if low_closed else ">"} {low}'
    if low is None:
        return f' {"<=" if high_closed else "<"} {high}'
    return (f' in {"[" if low_closed else "("}{low}, '
            f'{high}{"]" if high_closed else ")"}')
