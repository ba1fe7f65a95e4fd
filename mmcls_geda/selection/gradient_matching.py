"""CRAIG and GRAD-MATCH inside one class, from its gradient Gram matrix.

Both work on the Gram matrix ``K_ij = e_i . e_j`` of the samples' gradient
embeddings, so embeddings given in factored form ``e_i = g_i (x) h_i``
(``K = (G G^T) * (H H^T)``) are never expanded: memory is ``n_c^2`` per
class.
"""
from typing import Optional, Tuple, Union

import numpy as np
from scipy.linalg import cho_solve, solve_triangular

Embeddings = Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]


def class_gram(embeddings: Embeddings, members: np.ndarray) -> np.ndarray:
    """``K = E_c E_c^T`` for the samples ``members``.

    Args:
        embeddings: (n, d) array, or a pair ``(G, H)`` of (n, a) and (n, b)
            arrays standing for the rows ``g_i (x) h_i``.
        members: Indices of the class's samples.
    """
    if isinstance(embeddings, tuple):
        g, h = embeddings[0][members], embeddings[1][members]
        return (g @ g.T) * (h @ h.T)
    e = embeddings[members]
    return e @ e.T


def embedding_norms(embeddings: Embeddings) -> np.ndarray:
    """``||e_i||`` for every sample."""
    if isinstance(embeddings, tuple):
        return (np.linalg.norm(embeddings[0], axis=1) *
                np.linalg.norm(embeddings[1], axis=1))
    return np.linalg.norm(embeddings, axis=1)


def select_craig(gram: np.ndarray,
                 k: int) -> Tuple[np.ndarray, np.ndarray, float]:
    """CRAIG (Mirzasoleiman et al., ICML 2020): facility location, greedy.

    Maximises ``F(S) = sum_i max_{j in S} s_ij`` with the similarity
    ``s_ij = max(d) - d_ij`` of the gradient distances
    ``d_ij = ||e_i - e_j||``, by the greedy algorithm with lazy evaluation
    (a max-heap of stale gains; a popped gain is recomputed and taken if it
    still beats the next bound, which submodularity makes exact). Each
    chosen sample's weight is the number of samples whose most similar
    chosen sample it is.

    Returns:
        tuple: (sorted positions, their weights, ``F(S) / F(all)``).
    """
    import heapq
    n = gram.shape[0]
    sq = np.diag(gram)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * gram, 0.0))
    sim = dist.max() - dist
    covered = np.zeros(n)
    chosen = []
    heap = [(-gain, j) for j, gain in enumerate(sim.sum(axis=0))]
    heapq.heapify(heap)
    taken = np.zeros(n, dtype=bool)
    while len(chosen) < k and heap:
        _, j = heapq.heappop(heap)
        if taken[j]:
            continue
        gain = np.maximum(sim[:, j] - covered, 0.0).sum()
        if heap and gain < -heap[0][0] - 1e-12 * max(1.0, gain):
            heapq.heappush(heap, (-gain, j))  # stale: re-queue, try the next
            continue
        chosen.append(j)
        taken[j] = True
        covered = np.maximum(covered, sim[:, j])
    chosen = np.array(sorted(chosen), dtype=np.int64)
    nearest = chosen[np.argmax(sim[:, chosen], axis=1)]
    weights = np.bincount(
        np.searchsorted(chosen, nearest),
        minlength=chosen.size).astype(np.float64)
    total = sim.max(axis=1).sum()
    coverage = float(covered.sum() / total) if total > 0 else 1.0
    return chosen, weights, coverage


def _nonnegative_ridge(a: np.ndarray,
                       rhs: np.ndarray,
                       start: np.ndarray,
                       steps: int = 500) -> np.ndarray:
    """``argmin_{w >= 0} w^T a w - 2 w^T rhs`` by accelerated projected
    gradient (FISTA with adaptive restart), warm-started; ``a`` is
    positive definite."""
    lipschitz = 2.0 * np.linalg.eigvalsh(a)[-1]
    w = y = np.maximum(start, 0.0)
    t = 1.0
    for _ in range(steps):
        w_next = np.maximum(y - (2.0 * (a @ y) - 2.0 * rhs) / lipschitz, 0.0)
        if (y - w_next) @ (w_next - w) > 0:  # momentum overshoots: restart
            t = 1.0
        t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        y = w_next + (t - 1.0) / t_next * (w_next - w)
        w, t = w_next, t_next
    return w


def select_gradmatch(gram: np.ndarray,
                     k: int,
                     lam: float,
                     rng: np.random.Generator,
                     steps: int = 64) -> Tuple[np.ndarray, np.ndarray, float]:
    """GRAD-MATCH (Killamsetty et al., ICML 2021): orthogonal matching
    pursuit of the class's summed gradient with non-negative weights.

    Minimises ``||sum_i e_i - sum_{j in S} w_j e_j||^2 + lam' ||w||^2``
    over ``|S| = k``, ``w >= 0``, with ``lam' = lam * mean_i ||e_i||^2``
    (so ``lam`` does not depend on the gradients' scale; ``lam = 0`` is
    taken as 1e-10, which keeps duplicated samples solvable). A class whose
    gradients are all zero (or underflow) gets ``k`` random samples with
    uniform weights ``n / k``. Each pursuit step
    adds the atoms most correlated with the residual (``ceil(k / steps)``
    of them, so a class costs ``steps`` solves, not ``k``), re-solves the
    ridge least squares on the support by a block-updated Cholesky factor
    and keeps the non-negative part. If the residual has no positive
    correlation left before ``k`` atoms, the rest of the budget is drawn at
    random. The final weights solve the non-negative ridge problem on the
    whole support.

    Returns:
        tuple: (sorted positions, their weights, relative matching error
        ``||b - E_S w|| / ||b||`` with ``b = sum_i e_i``).
    """
    n = gram.shape[0]
    scale = float(np.mean(np.diag(gram)))
    if not scale > np.finfo(np.float64).tiny:
        # every gradient is (numerically) zero: nothing to match; any k
        # samples represent the class equally well, with uniform weights
        support = np.sort(rng.choice(n, size=k, replace=False))
        return support, np.full(k, n / k), 0.0
    # lam = 0 keeps a tiny ridge, so that duplicated atoms (a singular
    # K_SS) still factor; relative 1e-10 leaves the match unchanged
    reg = max(lam, 1e-10) * scale
    target = gram.sum(axis=1)  # e_i . b
    b_sq = float(target.sum())  # ||b||^2
    per_step = max(1, int(np.ceil(k / steps)))
    support = np.zeros(0, dtype=np.int64)
    chol = np.zeros((0, 0))
    weights = np.zeros(0)
    corr = target.copy()
    while support.size < k:
        free = np.setdiff1d(np.arange(n), support)
        order = free[np.argsort(-corr[free], kind='stable')]
        new = order[:min(per_step, k - support.size)]
        new = new[corr[new] > 1e-12 * max(b_sq, 1e-300)]
        if new.size == 0:
            break
        # block Cholesky update of (K_SS + reg I)
        cross = gram[np.ix_(support, new)]
        low = solve_triangular(chol, cross, lower=True) if support.size else \
            np.zeros((0, new.size))
        block = gram[np.ix_(new, new)] + reg * np.eye(new.size) - low.T @ low
        chol = np.block([[chol, np.zeros((support.size, new.size))],
                         [low.T, np.linalg.cholesky(block)]])
        support = np.concatenate([support, new])
        weights = np.maximum(cho_solve((chol, True), target[support]), 0.0)
        corr = target - gram[:, support] @ weights
    if support.size < k:
        # the residual is matched (no positive correlation left): the rest
        # of the budget joins at random with weight 0, and the weights are
        # re-solved on the whole support (never a worse match)
        rest = np.setdiff1d(np.arange(n), support)
        extra = rng.choice(rest, size=k - support.size, replace=False)
        support = np.concatenate([support, extra])
        weights = np.concatenate([weights, np.zeros(extra.size)])
    order = np.argsort(support)
    weights, error = fit_weights(gram, support[order], lam, weights[order])
    return support[order], weights, error


def fit_weights(
        gram: np.ndarray,
        positions: np.ndarray,
        lam: float,
        start: Optional[np.ndarray] = None) -> Tuple[np.ndarray, float]:
    """Non-negative weights of a given subset that match the class's
    summed gradient: ``argmin_{w >= 0} ||b - E_S w||^2 + lam' ||w||^2``.

    Step 2 of the thesis's online GEDA (Algorithm 6.1), and GRAD-MATCH's
    last step; ``lam`` is scaled as in :func:`select_gradmatch`. A class
    whose gradients are all (numerically) zero gets uniform weights
    ``n / k``.

    Args:
        gram: The class's Gram matrix ``K = E E^T``.
        positions: The subset's positions in the class.
        lam: Ridge strength, relative to the mean squared gradient norm.
        start: Initial weights (default: uniform ``n / k``).

    Returns:
        tuple: (weights aligned with ``positions``, relative matching
        error ``||b - E_S w|| / ||b||``).
    """
    n, k = gram.shape[0], positions.size
    scale = float(np.mean(np.diag(gram)))
    if not scale > np.finfo(np.float64).tiny:
        return np.full(k, n / k), 0.0
    reg = max(lam, 1e-10) * scale
    target = gram.sum(axis=1)  # e_i . b
    b_sq = float(target.sum())  # ||b||^2
    sub = gram[np.ix_(positions, positions)]
    weights = _nonnegative_ridge(sub + reg * np.eye(k), target[positions],
                                 np.full(k, n / k) if start is None else start)
    residual = b_sq - 2 * weights @ target[positions] + weights @ (
        sub @ weights)
    error = float(np.sqrt(max(residual, 0.0) / b_sq)) if b_sq > 0 else 0.0
    return weights, error
