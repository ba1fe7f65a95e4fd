"""The method registry: each selection method declared in one place.

An entry says what the method reads (nothing, one norm per sample, or
gradient embeddings), its options with their defaults and checks, whether
its subsets carry per-sample weights, and how it chooses ``k`` samples of
one class. :func:`~mmcls_geda.selection.select_subset`, ``apply_geda``, the
scoring pipeline and the tools ask the registry; a new method is one
:func:`register_method` call and its per-class solver.
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from . import baselines, geda, gradient_matching
from .checks import check_bool, check_choice, check_int, check_number

# What a method reads from the model, in the order of cost.
READS = ('nothing', 'norms', 'embeddings')
# What the per-class ECDF objective is reported on unless a method says.
REPORT_NODES, REPORT_RULE = 5, 'trapezoid'


@dataclass
class ClassChoice:
    """One class's part of a selection.

    Attributes:
        positions: Sorted positions into the class's members.
        status: The solver's status (``'optimal'``, ``'time_limit'``), or
            empty for methods without a solver.
        weights: Per kept sample, for weighted methods.
        method_objective: The method's own measure of the choice
            (CRAIG's coverage, GRAD-MATCH's relative matching error).
    """
    positions: np.ndarray
    status: str = ''
    weights: Optional[np.ndarray] = None
    method_objective: Optional[float] = None


# solve(class_data, k, rng, options) -> ClassChoice. ``class_data`` is the
# class size (reads='nothing'), its scores (reads='norms') or the Gram
# matrix of its gradient embeddings (reads='embeddings').
Solver = Callable[[Any, int, np.random.Generator, Dict[str, Any]], ClassChoice]


@dataclass
class Method:
    """A registered selection method.

    Attributes:
        name: What configs and tools call it.
        reads: ``'nothing'``, ``'norms'`` or ``'embeddings'``.
        solve: The per-class solver (see :data:`Solver`).
        defaults: Every option with its default; no others are accepted.
        check: ``check(options, given)`` raises ValueError on a bad value;
            ``given`` holds the names the caller set.
        weighted: Whether its subsets carry per-sample weights.
        report_grid: ``options -> (nodes, rule)`` on which the ECDF
            objective is reported.
        solver_name: ``options -> str`` for the record.
        per_epoch: Whether it serves a new subset every epoch (see
            :mod:`mmcls_geda.selection.rotation`); its ``solve`` gives the
            first epoch's subset.
    """
    name: str
    reads: str
    solve: Solver
    defaults: Dict[str, Any] = field(default_factory=dict)
    check: Callable[[Dict[str, Any], set], None] = lambda opts, given: None
    weighted: bool = False
    report_grid: Callable[[Dict[str, Any]],
                          Tuple[Optional[int],
                                str]] = (lambda opts:
                                         (REPORT_NODES, REPORT_RULE))
    solver_name: Optional[Callable[[Dict[str, Any]], str]] = None
    per_epoch: bool = False

    def resolve(self, options: Dict[str, Any]) -> Dict[str, Any]:
        """The options with defaults filled in, checked."""
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise ValueError(
                f'unknown option(s) {unknown} for method {self.name!r}; it '
                f'takes {sorted(self.defaults) or "no options"}')
        opts = {**self.defaults, **options}
        self.check(opts, set(options))
        return opts

    def solver_label(self, opts: Dict[str, Any]) -> str:
        return self.solver_name(opts) if self.solver_name else self.name


METHODS: Dict[str, Method] = {}


def register_method(method: Method) -> Method:
    """Add ``method`` to the registry (its name must be new)."""
    if method.reads not in READS:
        raise ValueError(f'reads must be one of {list(READS)}, got '
                         f'{method.reads!r}')
    if method.name in METHODS:
        raise KeyError(f'method {method.name!r} is already registered')
    METHODS[method.name] = method
    return method


def get_method(name: Any) -> Method:
    """The registered method ``name``, or a ValueError listing them."""
    if not isinstance(name, str) or name not in METHODS:
        raise ValueError(f'unknown method {name!r}; choose one of '
                         f'{sorted(METHODS)}')
    return METHODS[name]


def resolve_options(method: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """Fill defaults and check every option of ``method``."""
    return get_method(method).resolve(dict(options))


# --- option checks -----------------------------------------------------------

GEDA_SOLVERS = ('exact', 'milp')
_EXACT_ONLY = ('within_bin', )
_MILP_ONLY = ('milp_solver', 'time_limit')


def _check_grid(opts: Dict[str, Any]) -> None:
    """The ECDF grid: ``nodes`` (None: every score) and ``rule``."""
    if opts['nodes'] is not None:
        check_int(opts['nodes'], 'nodes', 2)
    check_choice(opts['rule'], 'rule', geda.QUADRATURE_RULES)
    if opts['rule'] == 'simpson' and opts[
            'nodes'] is not None and opts['nodes'] % 2:
        raise ValueError('Simpson\'s rule needs an even number of intervals, '
                         f'got nodes={opts["nodes"]}')


def _check_geda(opts: Dict[str, Any], given: set) -> None:
    check_choice(opts['solver'], 'solver', GEDA_SOLVERS)
    _check_grid(opts)
    check_choice(opts['within_bin'], 'within_bin', geda.WITHIN_BIN)
    wrong = _MILP_ONLY if opts['solver'] == 'exact' else _EXACT_ONLY
    misplaced = sorted(given & set(wrong))
    if misplaced:
        raise ValueError(f'option(s) {misplaced} do not apply to '
                         f'solver={opts["solver"]!r}')
    if opts['time_limit'] is not None:
        check_number(
            opts['time_limit'],
            'time_limit',
            0,
            low_open=True,
            hint='seconds, or None')
    if opts['solver'] == 'milp':
        import pulp
        available = pulp.listSolvers(onlyAvailable=True)
        if opts['milp_solver'] not in available:
            raise ValueError(f'PuLP solver {opts["milp_solver"]!r} is not '
                             f'available here; available: {available}')


def _check_ccs(opts: Dict[str, Any], given: set) -> None:
    check_int(opts['strata'], 'strata', 1)
    check_number(opts['hard_cutoff'], 'hard_cutoff', 0, 1, high_open=True)


def _check_gradmatch(opts: Dict[str, Any], given: set) -> None:
    check_int(opts['steps'], 'steps', 1)
    check_number(opts['lam'], 'lam', 0)


# --- per-class solvers -------------------------------------------------------


def _solve_geda(scores, k, rng, opts) -> ClassChoice:
    if opts['solver'] == 'milp':
        positions, status = geda.solve_milp(scores, k, opts['nodes'],
                                            opts['rule'], opts['milp_solver'],
                                            opts['time_limit'])
        return ClassChoice(positions, status)
    return ClassChoice(
        geda.solve_exact(scores, k, opts['nodes'], opts['rule'],
                         opts['within_bin'], rng), 'optimal')


def _solve_craig(gram, k, rng, opts) -> ClassChoice:
    positions, weights, coverage = gradient_matching.select_craig(gram, k)
    return ClassChoice(positions, weights=weights, method_objective=coverage)


def _solve_gradmatch(gram, k, rng, opts) -> ClassChoice:
    positions, weights, error = gradient_matching.select_gradmatch(
        gram, k, opts['lam'], rng, opts['steps'])
    return ClassChoice(positions, weights=weights, method_objective=error)


register_method(
    Method(
        'geda',
        'norms',
        _solve_geda,
        defaults=dict(
            solver='exact',
            nodes=5,
            rule='trapezoid',
            within_bin='random',
            milp_solver='PULP_CBC_CMD',
            time_limit=None),
        check=_check_geda,
        report_grid=lambda opts: (opts['nodes'], opts['rule']),
        solver_name=lambda opts: opts['solver']))
register_method(
    Method(
        'random', 'nothing', lambda n, k, rng, opts: ClassChoice(
            baselines.select_random(n, k, rng))))
register_method(
    Method(
        'quantile_random',
        'norms',
        lambda s, k, rng, opts: ClassChoice(
            baselines.select_quantile_random(s, k, rng, opts['quantiles'])),
        defaults=dict(quantiles=4),
        check=lambda opts, given: check_int(opts['quantiles'], 'quantiles', 1))
)
register_method(
    Method(
        'ranked_even', 'norms', lambda s, k, rng, opts: ClassChoice(
            baselines.select_ranked_even(s, k))))
register_method(
    Method('topk', 'norms',
           lambda s, k, rng, opts: ClassChoice(baselines.select_topk(s, k))))
register_method(
    Method(
        'bottomk', 'norms',
        lambda s, k, rng, opts: ClassChoice(baselines.select_bottomk(s, k))))
register_method(
    Method(
        'ccs',
        'norms',
        lambda s, k, rng, opts: ClassChoice(
            baselines.select_ccs(s, k, rng, opts['strata'], opts['hard_cutoff']
                                 )),
        defaults=dict(strata=50, hard_cutoff=0.0),
        check=_check_ccs))
register_method(Method('craig', 'embeddings', _solve_craig, weighted=True))
register_method(
    Method(
        'gradmatch',
        'embeddings',
        _solve_gradmatch,
        defaults=dict(lam=1e-3, steps=64),
        check=_check_gradmatch,
        weighted=True))

# --- per-epoch subsets (RS2, GEDA rotation) ----------------------------------
from . import folds, rotation  # noqa: E402
from .epoch_budgets import check_budget  # noqa: E402


def _check_refold(opts: Dict[str, Any]) -> None:
    check_choice(opts['refold'], 'refold', rotation.REFOLDS)
    check_budget(opts['budget'])


def _check_geda_rotate(opts: Dict[str, Any], given: set) -> None:
    check_int(opts['nodes'], 'nodes', 2)
    _check_grid(opts)
    _check_refold(opts)


def _check_strata_rotate(opts: Dict[str, Any], given: set) -> None:
    check_int(opts['quantiles'], 'quantiles', 1)
    _check_refold(opts)


def _check_rs2(opts: Dict[str, Any], given: set) -> None:
    check_bool(opts['replace'], 'replace')
    check_budget(opts['budget'])


def _first_fold(method: str):

    def solve(scores, k, rng, opts) -> ClassChoice:
        return ClassChoice(folds.cycle_folds(scores, k, method, opts, rng)[0])

    return solve


register_method(
    Method(
        'rs2',
        'nothing',
        lambda n, k, rng, opts: ClassChoice(
            baselines.select_random(n, k, rng)),
        defaults=dict(replace=False, budget='constant'),
        check=_check_rs2,
        per_epoch=True))
register_method(
    Method(
        'geda_rotate',
        'norms',
        _first_fold('geda_rotate'),
        defaults=dict(
            nodes=5, rule='trapezoid', refold='loss', budget='constant'),
        check=_check_geda_rotate,
        report_grid=lambda opts: (opts['nodes'], opts['rule']),
        per_epoch=True))
register_method(
    Method(
        'strata_rotate',
        'norms',
        _first_fold('strata_rotate'),
        defaults=dict(quantiles=4, refold='loss', budget='constant'),
        check=_check_strata_rotate,
        per_epoch=True))
