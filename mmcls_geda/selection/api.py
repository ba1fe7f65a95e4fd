"""``select_subset``: scores, labels, fraction -> a class-balanced subset."""
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
from scipy.stats import wasserstein_distance

from . import baselines, geda, gradient_matching
from .budgets import class_budgets, class_rng

# Each method's options and their defaults; anything else is refused.
METHOD_OPTIONS: Dict[str, Dict[str, Any]] = {
    'geda': dict(solver='exact', nodes=5, rule='trapezoid',
                 within_bin='random', milp_solver='PULP_CBC_CMD',
                 time_limit=None),
    'random': {},
    'quantile_random': dict(quantiles=4),
    'ranked_even': {},
    'topk': {},
    'ccs': dict(strata=50, hard_cutoff=0.0),
    'craig': {},
    'gradmatch': dict(lam=1e-3, steps=64),
}
# Methods that take gradient embeddings (n, d) or factors (G, H), not norms.
EMBEDDING_METHODS = ('craig', 'gradmatch')
SOLVERS = ('exact', 'milp')
# Options that only one GEDA solver reads.
_EXACT_ONLY = ('within_bin', )
_MILP_ONLY = ('milp_solver', 'time_limit')
# What the per-class ECDF objective is reported on for the other methods.
_REPORT_NODES, _REPORT_RULE = 5, 'trapezoid'


@dataclass
class Selection:
    """A selected subset and how it was chosen.

    Attributes:
        indices: Sorted unique dataset indices of the kept samples.
        method: Method name.
        fraction: Requested fraction.
        seed: Seed of the random choices.
        options: The method's options, defaults filled in.
        solver: What produced the subset (``'exact'``, ``'milp'``, or the
            method name for the baselines).
        time_s: Wall time of the selection, validation excluded.
        classes: Labels present, ascending.
        class_sizes: ``n_c`` per class.
        class_counts: ``k_c`` per class.
        objective: Per class, the thesis objective (P):
            ``sum_j w_j |F_full(t_j) - F_subset(t_j)|`` on the nodes and rule
            in ``objective_nodes`` / ``objective_rule``.
        integral: Per class, the exact ``integral |F_full - F_subset| dt``.
        objective_nodes: ``N`` the objective was measured on (None: exact).
        objective_rule: Quadrature rule of the objective.
        status: Per class, the solver status (``'optimal'``,
            ``'time_limit'``), or empty for methods without a solver.
        weights: Per kept sample (aligned with ``indices``), for weighted
            methods; None: unweighted.
        method_objective: Per class, the embedding methods' own measure:
            CRAIG's facility-location coverage ``F(S) / F(all)``,
            GRAD-MATCH's relative matching error; empty otherwise.
    """
    indices: np.ndarray
    method: str
    fraction: float
    seed: int
    options: Dict[str, Any]
    solver: str
    time_s: float
    classes: List[int]
    class_sizes: List[int]
    class_counts: List[int]
    objective: List[float]
    integral: List[float]
    objective_nodes: Optional[int] = _REPORT_NODES
    objective_rule: str = _REPORT_RULE
    status: List[str] = field(default_factory=list)
    weights: Optional[np.ndarray] = None
    method_objective: List[float] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.indices.size)

    def to_dict(self) -> Dict[str, Any]:
        out = asdict(self)
        out['indices'] = self.indices.tolist()
        if self.weights is not None:
            out['weights'] = self.weights.tolist()
        return out

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'Selection':
        data = dict(data)
        data['indices'] = np.asarray(data['indices'], dtype=np.int64)
        if data.get('weights') is not None:
            data['weights'] = np.asarray(data['weights'], dtype=np.float64)
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> 'Selection':
        return cls.from_dict(json.loads(text))

    def summary(self) -> str:
        """One line for logs."""
        counts = self.class_counts
        objectives = (f'objective mean {np.mean(self.objective):.4g}, '
                      f'integral mean {np.mean(self.integral):.4g}; '
                      if self.objective else '')
        return (f'{self.method} kept {len(self)}/{sum(self.class_sizes)} '
                f'samples (fraction {self.fraction}) in {len(counts)} '
                f'classes, {min(counts)}-{max(counts)} per class; '
                f'{objectives}{self.solver} took {self.time_s:.3f}s')


def check_fraction(fraction: Any) -> float:
    """``fraction`` as a float, or a ValueError saying what is allowed."""
    if isinstance(fraction, bool) or not isinstance(
            fraction, (int, float, np.integer, np.floating)):
        raise ValueError(f'fraction must be a number in (0, 1], got '
                         f'{fraction!r} ({type(fraction).__name__})')
    fraction = float(fraction)
    if not (0.0 < fraction <= 1.0):
        raise ValueError(f'fraction must be in (0, 1], got {fraction}')
    return fraction


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


def resolve_options(method: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """Fill defaults and check every option of ``method``."""
    if method not in METHOD_OPTIONS:
        raise ValueError(f'unknown method {method!r}; choose one of '
                         f'{sorted(METHOD_OPTIONS)}')
    allowed = METHOD_OPTIONS[method]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f'unknown option(s) {unknown} for method {method!r}; it takes '
            f'{sorted(allowed) or "no options"}')
    opts = {**allowed, **options}
    if method == 'geda':
        _check_geda_options(opts, given=set(options))
    elif method == 'quantile_random':
        _check_int(opts, 'quantiles', 1)
    elif method == 'gradmatch':
        _check_int(opts, 'steps', 1)
        if isinstance(opts['lam'], bool) or not isinstance(
                opts['lam'], (int, float)) or opts['lam'] < 0:
            raise ValueError(f'lam must be a number >= 0, got {opts["lam"]!r}')
    elif method == 'ccs':
        _check_int(opts, 'strata', 1)
        cut = opts['hard_cutoff']
        if not isinstance(cut, (int, float)) or not 0 <= cut < 1:
            raise ValueError(f'hard_cutoff must be in [0, 1), got {cut!r}')
    return opts


def _check_int(opts: Dict[str, Any], name: str, low: int) -> None:
    value = opts[name]
    if isinstance(value, bool) or not isinstance(value,
                                                 (int, np.integer)) or value < low:
        raise ValueError(f'{name} must be an integer >= {low}, got {value!r}')


def _check_geda_options(opts: Dict[str, Any], given: set) -> None:
    if opts['solver'] not in SOLVERS:
        raise ValueError(f'unknown solver {opts["solver"]!r}; choose one of '
                         f'{list(SOLVERS)}')
    if opts['nodes'] is not None:
        _check_int(opts, 'nodes', 2)
    if opts['rule'] not in geda.RULES:
        raise ValueError(f'unknown rule {opts["rule"]!r}; choose one of '
                         f'{list(geda.RULES)}')
    if opts['rule'] == 'simpson' and opts['nodes'] is not None and opts[
            'nodes'] % 2:
        raise ValueError('Simpson\'s rule needs an even number of intervals, '
                         f'got nodes={opts["nodes"]}')
    if opts['within_bin'] not in geda.WITHIN_BIN:
        raise ValueError(f'unknown within_bin {opts["within_bin"]!r}; choose '
                         f'one of {list(geda.WITHIN_BIN)}')
    wrong = _MILP_ONLY if opts['solver'] == 'exact' else _EXACT_ONLY
    misplaced = sorted(given & set(wrong))
    if misplaced:
        raise ValueError(f'option(s) {misplaced} do not apply to '
                         f'solver={opts["solver"]!r}')
    limit = opts['time_limit']
    if limit is not None and (isinstance(limit, bool) or not isinstance(
            limit, (int, float)) or not limit > 0):
        raise ValueError(f'time_limit must be seconds > 0 or None, got '
                         f'{limit!r}')
    if opts['solver'] == 'milp':
        import pulp
        available = pulp.listSolvers(onlyAvailable=True)
        if opts['milp_solver'] not in available:
            raise ValueError(f'PuLP solver {opts["milp_solver"]!r} is not '
                             f'available here; available: {available}')


def _select_class(method: str, scores: np.ndarray, k: int,
                  rng: np.random.Generator, opts: Dict[str, Any]):
    """Positions into one class's ``scores`` and a solver status."""
    if method == 'geda':
        if opts['solver'] == 'milp':
            return geda.solve_milp(scores, k, opts['nodes'], opts['rule'],
                                   opts['milp_solver'], opts['time_limit'])
        return geda.solve_exact(scores, k, opts['nodes'], opts['rule'],
                                opts['within_bin'], rng), 'optimal'
    if method == 'random':
        return baselines.select_random(scores, k, rng), ''
    if method == 'quantile_random':
        return baselines.select_quantile_random(scores, k, rng,
                                                opts['quantiles']), ''
    if method == 'ranked_even':
        return baselines.select_ranked_even(scores, k), ''
    if method == 'topk':
        return baselines.select_topk(scores, k), ''
    return baselines.select_ccs(scores, k, rng, opts['strata'],
                                opts['hard_cutoff']), ''


def select_subset(scores: Any,
                  labels: Any,
                  fraction: float,
                  method: str = 'geda',
                  *,
                  seed: int = 0,
                  **options: Any) -> Selection:
    """Select ``fraction`` of the samples, class by class.

    Every class keeps ``k_c`` samples (see
    :func:`mmcls_geda.selection.budgets.class_budgets` for the rounding
    rule), chosen by ``method`` from that class's scores.

    Args:
        scores: 1-D float array, one score (gradient norm) per sample; for
            ``'craig'``/``'gradmatch'``, the (n, d) gradient embeddings or
            their factors ``(G, H)`` with ``e_i = G_i (x) H_i`` (see
            :func:`mmcls_geda.scoring.grad_embeddings`). The ECDF objectives
            are then reported on the embeddings' norms.
        labels: 1-D integer array of class labels (>= 0), same length.
        fraction: Fraction of the data to keep, in (0, 1].
        method: ``'geda'`` (default), ``'random'``, ``'quantile_random'``,
            ``'ranked_even'``, ``'topk'``, ``'ccs'``; or, with gradient
            embeddings as ``scores``, ``'craig'`` or ``'gradmatch'``
            (weighted subsets).
        seed: Seed for every random choice; the same inputs and seed give
            the same indices on every platform.
        **options: Method options (see ``METHOD_OPTIONS``). For ``'geda'``:
            ``solver`` (``'exact'`` default, or ``'milp'``), ``nodes``
            (``N``, default 5; None for the exact integral), ``rule``
            (``'trapezoid'`` or ``'simpson'``), ``within_bin``
            (``'random'`` or ``'spread'``, exact solver), ``milp_solver``
            (a PuLP solver name) and ``time_limit`` (seconds per class),
            MILP only.

    Returns:
        Selection: The indices and the record of how they were chosen.

    Raises:
        ValueError: On any bad input, before any solving.
    """
    fraction = check_fraction(fraction)
    opts = resolve_options(method, options)
    if method in EMBEDDING_METHODS:
        embeddings = check_embeddings(scores)
        scores = gradient_matching.embedding_norms(embeddings)
    else:
        if isinstance(scores, tuple) or np.ndim(scores) != 1:
            raise ValueError(f'method {method!r} takes 1-D scores (one per '
                             f'sample); (n, d) gradient embeddings go to '
                             f'{list(EMBEDDING_METHODS)}')
        scores = check_scores(scores)
    labels = check_labels(labels, scores.size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f'seed must be an integer, got {seed!r}')

    classes, sizes = np.unique(labels, return_counts=True)
    budgets = class_budgets(sizes, fraction)
    if method == 'geda':
        report_nodes, report_rule = opts['nodes'], opts['rule']
    else:
        report_nodes, report_rule = _REPORT_NODES, _REPORT_RULE

    start = time.perf_counter()
    members_by_class = np.split(
        np.argsort(labels, kind='stable'), np.cumsum(sizes)[:-1])
    picked, objective, integral, status = [], [], [], []
    weights, own = [], []
    for label, members, k in zip(classes, members_by_class, budgets):
        rng = class_rng(seed, label)
        if method in EMBEDDING_METHODS:
            gram = gradient_matching.class_gram(embeddings, members)
            if method == 'craig':
                local, w, value = gradient_matching.select_craig(gram, int(k))
            else:
                local, w, value = gradient_matching.select_gradmatch(
                    gram, int(k), opts['lam'], rng, opts['steps'])
            weights.append(w)
            own.append(value)
        else:
            local, state = _select_class(method, scores[members], int(k),
                                         rng, opts)
            status.append(state)
        picked.append(members[local])
    elapsed = time.perf_counter() - start
    for members, chosen in zip(members_by_class, picked):
        full = np.sort(scores[members])
        sub = np.sort(scores[chosen])
        t, w = geda.node_grid(full, report_nodes, report_rule)
        objective.append(geda.ecdf_objective(full, sub, t, w))
        integral.append(float(wasserstein_distance(full, sub)))

    indices = np.concatenate(picked).astype(np.int64)
    order = np.argsort(indices)
    indices = indices[order]
    sample_weights = np.concatenate(weights)[order] if weights else None
    return Selection(
        indices=indices,
        method=method,
        fraction=fraction,
        seed=int(seed),
        options=opts,
        solver=opts['solver'] if method == 'geda' else method,
        time_s=elapsed,
        classes=classes.tolist(),
        class_sizes=sizes.tolist(),
        class_counts=budgets.tolist(),
        objective=objective,
        integral=integral,
        objective_nodes=report_nodes,
        objective_rule=report_rule,
        status=status if method == 'geda' else [],
        weights=sample_weights,
        method_objective=own)

