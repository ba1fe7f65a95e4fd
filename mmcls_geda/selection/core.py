"""``select_subset``: scores, labels, fraction -> a class-balanced subset."""
import json
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, List, Optional

import numpy as np
from scipy.stats import wasserstein_distance

from . import geda, gradient_matching
from .budgets import class_budgets, class_rng
from .checks import check_fraction, check_seed
from .inputs import check_embeddings, check_labels, check_scores
from .registry import (METHODS, REPORT_NODES, REPORT_RULE, ClassChoice, Method,
                       get_method)


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
            GRAD-MATCH's relative matching error (also of a subset given
            matching weights, see :func:`weigh_selection`); empty
            otherwise.
        weighting: How an unweighted method's subset got its weights
            (``'gradmatch'``), or None.
        reference_objective: With a weighting, per class, GRAD-MATCH's own
            relative matching error on the same embeddings and budget: the
            reference the weighted subset's error is read against.
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
    objective_nodes: Optional[int] = REPORT_NODES
    objective_rule: str = REPORT_RULE
    status: List[str] = field(default_factory=list)
    weights: Optional[np.ndarray] = None
    method_objective: List[float] = field(default_factory=list)
    weighting: Optional[str] = None
    reference_objective: List[float] = field(default_factory=list)

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
        if self.weighting:
            objectives += (f'{self.weighting} weights, matching error mean '
                           f'{np.mean(self.method_objective):.4g} '
                           '(GRAD-MATCH\'s own: '
                           f'{np.mean(self.reference_objective):.4g}); ')
        return (f'{self.method} kept {len(self)}/{sum(self.class_sizes)} '
                f'samples (fraction {self.fraction}) in {len(counts)} '
                f'classes, {min(counts)}-{max(counts)} per class; '
                f'{objectives}{self.solver} took {self.time_s:.3f}s')


def _check_inputs(method: Method, scores: Any, labels: Any):
    """Scores as the method reads them (None: no scores), and labels."""
    if method.reads == 'embeddings':
        embeddings = check_embeddings(scores)
        return embeddings, check_labels(
            labels,
            gradient_matching.embedding_norms(embeddings).size)
    if scores is None:
        if method.reads == 'norms':
            raise ValueError(f'method {method.name!r} reads one score per '
                             'sample: scores must not be None')
        return None, check_labels(labels)
    if isinstance(scores, tuple) or np.ndim(scores) != 1:
        raise ValueError(
            f'method {method.name!r} takes 1-D scores (one per sample); '
            '(n, d) gradient embeddings go to the methods that read them: '
            f'{embedding_methods()}')
    scores = check_scores(scores)
    return scores, check_labels(labels, scores.size)


def embedding_methods() -> List[str]:
    """The registered methods that read gradient embeddings."""
    return sorted(m.name for m in METHODS.values() if m.reads == 'embeddings')


def _class_data(method: Method, scores, members: np.ndarray):
    """What ``method.solve`` reads for one class."""
    if method.reads == 'nothing':
        return members.size
    if method.reads == 'embeddings':
        return gradient_matching.class_gram(scores, members)
    return scores[members]


def _objectives(norms: Optional[np.ndarray], members_by_class, picked,
                nodes: Optional[int], rule: str):
    """Per class: the ECDF objective on the grid, and the exact integral."""
    objective, integral = [], []
    if norms is None:
        return objective, integral
    for members, chosen in zip(members_by_class, picked):
        full = np.sort(norms[members])
        sub = np.sort(norms[chosen])
        t, w = geda.node_grid(full, nodes, rule)
        objective.append(geda.ecdf_objective(full, sub, t, w))
        integral.append(float(wasserstein_distance(full, sub)))
    return objective, integral


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
    rule), chosen by ``method`` (see :mod:`mmcls_geda.selection.registry`)
    from that class's scores.

    Args:
        scores: What the method reads: None for ``'random'`` (which reads
            nothing; 1-D scores given to it are only reported on); a 1-D
            float array, one score (gradient norm) per sample, for the
            score methods; for ``'craig'``/``'gradmatch'``, the (n, d)
            gradient embeddings or their factors ``(G, H)`` with
            ``e_i = G_i (x) H_i`` (see
            :func:`mmcls_geda.scoring.grad_embeddings`), whose norms the
            ECDF objectives are then reported on.
        labels: 1-D integer array of class labels (>= 0), same length.
        fraction: Fraction of the data to keep, in (0, 1].
        method: A registered method: ``'geda'`` (default), ``'random'``,
            ``'quantile_random'``, ``'ranked_even'``, ``'topk'``,
            ``'bottomk'``, ``'ccs'``, ``'craig'``, ``'gradmatch'``.
        seed: Seed (>= 0) for every random choice; the same inputs and seed
            give the same indices on every platform.
        **options: The method's options (its registry entry's defaults).
            For ``'geda'``: ``solver`` (``'exact'`` default, or
            ``'milp'``), ``nodes`` (``N``, default 5; None for the exact
            integral), ``rule`` (``'trapezoid'`` or ``'simpson'``),
            ``within_bin`` (``'random'`` or ``'spread'``, exact solver),
            ``milp_solver`` (a PuLP solver name) and ``time_limit``
            (seconds per class), MILP only.

    Returns:
        Selection: The indices and the record of how they were chosen.

    Raises:
        ValueError: On any bad input, before any solving.
    """
    # validate
    fraction = check_fraction(fraction)
    entry = get_method(method)
    opts = entry.resolve(options)
    scores, labels = _check_inputs(entry, scores, labels)
    seed = check_seed(seed)

    # solve, class by class
    classes, sizes = np.unique(labels, return_counts=True)
    budgets = class_budgets(sizes, fraction)
    members_by_class = np.split(
        np.argsort(labels, kind='stable'),
        np.cumsum(sizes)[:-1])
    start = time.perf_counter()
    choices: List[ClassChoice] = [
        entry.solve(
            _class_data(entry, scores, members), int(k),
            class_rng(seed, label), opts)
        for label, members, k in zip(classes, members_by_class, budgets)
    ]
    elapsed = time.perf_counter() - start

    # report
    picked = [m[c.positions] for m, c in zip(members_by_class, choices)]
    norms = gradient_matching.embedding_norms(scores) if (
        entry.reads == 'embeddings') else scores
    nodes, rule = entry.report_grid(opts)
    objective, integral = _objectives(norms, members_by_class, picked, nodes,
                                      rule)
    indices = np.concatenate(picked).astype(np.int64)
    order = np.argsort(indices)
    weights = None
    if entry.weighted:
        weights = np.concatenate([c.weights for c in choices])[order]
    status = [c.status for c in choices]
    return Selection(
        indices=indices[order],
        method=entry.name,
        fraction=fraction,
        seed=seed,
        options=opts,
        solver=entry.solver_label(opts),
        time_s=elapsed,
        classes=classes.tolist(),
        class_sizes=sizes.tolist(),
        class_counts=budgets.tolist(),
        objective=objective,
        integral=integral,
        objective_nodes=nodes,
        objective_rule=rule,
        status=status if any(status) else [],
        weights=weights,
        method_objective=[
            c.method_objective for c in choices
            if c.method_objective is not None
        ])


def weigh_selection(selection: Selection,
                    embeddings: Any,
                    labels: Any,
                    lam: float = 1e-3) -> Selection:
    """Give an unweighted selection GRAD-MATCH's matching weights.

    Per class, the non-negative weights ``w`` minimising
    ``||sum_i e_i - sum_{j in S} w_j e_j||^2 + lam' ||w||^2`` over the
    selected samples ``S`` (thesis Algorithm 6.1, step 2; see
    :func:`~mmcls_geda.selection.gradient_matching.fit_weights`). For
    comparison, GRAD-MATCH's own subset of the same size is solved on the
    same embeddings: the thesis expects ``Err(GEDA) >= Err(GRAD-MATCH)``.

    Args:
        selection: An unweighted selection of this dataset.
        embeddings: (n, d) gradient embeddings or their factors ``(G, H)``.
        labels: The dataset's labels.
        lam: Ridge strength, relative to the mean squared gradient norm.

    Returns:
        Selection: A copy with ``weights``, ``weighting='gradmatch'``, the
        matching errors in ``method_objective`` and GRAD-MATCH's in
        ``reference_objective``; ``time_s`` includes the weighting and
        the reference solve.
    """
    if selection.weights is not None:
        raise ValueError(f'the {selection.method} selection is weighted '
                         'already')
    embeddings = check_embeddings(embeddings)
    labels = check_labels(labels,
                          gradient_matching.embedding_norms(embeddings).size)
    if labels.size != sum(selection.class_sizes):
        raise ValueError(f'the selection was made on '
                         f'{sum(selection.class_sizes)} samples, the '
                         f'embeddings hold {labels.size}')
    start = time.perf_counter()
    weights = np.zeros(selection.indices.size)
    errors, reference = [], []
    for label, k in zip(selection.classes, selection.class_counts):
        members = np.flatnonzero(labels == label)
        chosen = np.flatnonzero(labels[selection.indices] == label)
        gram = gradient_matching.class_gram(embeddings, members)
        positions = np.searchsorted(members, selection.indices[chosen])
        weights[chosen], error = gradient_matching.fit_weights(
            gram, positions, lam)
        errors.append(error)
        reference.append(
            gradient_matching.select_gradmatch(
                gram, int(k), lam, class_rng(selection.seed, label))[2])
    return replace(
        selection,
        weights=weights,
        weighting='gradmatch',
        method_objective=errors,
        reference_objective=reference,
        time_s=selection.time_s + time.perf_counter() - start)
