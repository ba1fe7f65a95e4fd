"""Checks of the arrays a selection reads: labels, scores, embeddings.

Each returns the array in the dtype the solvers use, or raises a
ValueError that names the bad value. numpy only.
"""
from typing import Any, Optional

import numpy as np


def check_labels(labels: Any, n: Optional[int] = None) -> np.ndarray:
    """``labels`` as int64, or a ValueError naming the bad value."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f'labels must be 1-D, got shape {labels.shape}')
    if n is not None and labels.size != n:
        raise ValueError(f'scores and labels differ in length: {n} scores, '
                         f'{labels.size} labels')
    if labels.dtype.kind not in 'iu':
        if labels.dtype.kind != 'f' or not np.all(
                np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError('labels must be integers, got dtype '
                             f'{labels.dtype} with values like '
                             f'{labels[:3].tolist()}')
    if labels.size and labels.min() < 0:
        first = int(np.flatnonzero(labels < 0)[0])
        raise ValueError(f'labels must be >= 0, got {labels[first]} at '
                         f'index {first}')
    return labels.astype(np.int64)


def check_scores(scores: Any, ndim: int = 1) -> np.ndarray:
    """``scores`` as float64, or a ValueError naming the bad values."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != ndim:
        raise ValueError(f'scores must be {ndim}-D, got shape {scores.shape}')
    if scores.shape[0] == 0:
        raise ValueError('scores is empty: there is nothing to select from')
    bad = ~np.isfinite(scores)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(scores.shape[0], -1).any(axis=1))
        raise ValueError(f'scores must be finite: {rows.size} sample(s) hold '
                         f'NaN or inf, the first at index {rows[0]}')
    return scores


def check_embeddings(scores: Any):
    """(n, d) embeddings or a ``(G, H)`` pair of factors, checked."""
    if isinstance(scores, tuple):
        if len(scores) != 2:
            raise ValueError('factored embeddings must be a pair (G, H), got '
                             f'{len(scores)} arrays')
        g, h = (check_scores(part, ndim=2) for part in scores)
        if g.shape[0] != h.shape[0]:
            raise ValueError(f'the factors G and H differ in length: '
                             f'{g.shape[0]} and {h.shape[0]} rows')
        return g, h
    return check_scores(scores, ndim=2)
