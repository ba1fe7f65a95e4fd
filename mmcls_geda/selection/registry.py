"""The method registry: each selection method declared in one place.

An entry says what the method reads (nothing, one norm per sample,
gradient embeddings, or the training losses), its options with their
defaults and checks, whether its subsets carry per-sample weights, how it
chooses ``k`` samples of one class and, for a method that serves a new
subset every epoch, its epoch rule (:mod:`~mmcls_geda.selection.
epoch_rules`). :func:`~mmcls_geda.selection.select_subset`,
``apply_geda``, the scoring pipeline, the hooks and the tools ask the
registry, never a method's name; a new method is one
:func:`register_method` call.
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from . import baselines, folds, geda, gradient_matching
from .checks import check_choice, check_int, check_number
from .epoch_rules import (EachEpoch, EpochRule, EpochView, MatchedFolds,
                          Pruned, StreamBlocks, geda_bins, strata_bins)
from .pruning import PruningArgs

# What a method reads from the model, in the order of cost; 'losses' (the
# training losses recorded every epoch) only a per-epoch method can read.
READS = ('nothing', 'norms', 'embeddings', 'losses')
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
        reads: ``'nothing'``, ``'norms'``, ``'embeddings'`` or
            ``'losses'`` (per-epoch methods only).
        solve: The per-class solver (see :data:`Solver`); a per-epoch
            method's gives its first epoch's subset (None with an
            :class:`EachEpoch` rule: derived from it).
        defaults: Every option with its default; no others are accepted.
        check: ``check(options, given)`` raises ValueError on a bad value;
            ``given`` holds the names the caller set.
        weighted: Whether its subsets carry per-sample weights.
        report_grid: ``options -> (nodes, rule)`` on which the ECDF
            objective is reported.
        solver_name: ``options -> str`` for the record.
        epoch: For a method that serves a new subset every epoch, its
            rule (:mod:`~mmcls_geda.selection.epoch_rules`; a function of
            one class's :class:`EpochView` is wrapped in an
            :class:`EachEpoch`); None for a method that selects once.
    """
    name: str
    reads: str
    solve: Optional[Solver] = None
    defaults: Dict[str, Any] = field(default_factory=dict)
    check: Callable[[Dict[str, Any], set], None] = lambda opts, given: None
    weighted: bool = False
    report_grid: Callable[[Dict[str, Any]],
                          Tuple[Optional[int],
                                str]] = (lambda opts:
                                         (REPORT_NODES, REPORT_RULE))
    solver_name: Optional[Callable[[Dict[str, Any]], str]] = None
    epoch: Optional[EpochRule] = None

    @property
    def per_epoch(self) -> bool:
        """Whether it serves a new subset every epoch."""
        return self.epoch is not None

    def resolve(self, options: Dict[str, Any]) -> Dict[str, Any]:
        """The options with defaults filled in, checked."""
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise ValueError(
                f'unknown option(s) {unknown} for method {self.name!r}; it '
                f'takes {sorted(self.defaults) or "no options"}')
        opts = {**self.defaults, **options}
        self.check(opts, set(options))
        if self.epoch is not None:
            self.epoch.check(opts)
        return opts

    def solver_label(self, opts: Dict[str, Any]) -> str:
        return self.solver_name(opts) if self.solver_name else self.name


METHODS: Dict[str, Method] = {}


def register_method(method: Method) -> Method:
    """Add ``method`` to the registry (its name must be new).

    A per-epoch method's ``epoch`` may be a plain function of one class's
    :class:`EpochView` returning the positions to serve; it is wrapped in
    an :class:`EachEpoch`, which also gives its first epoch's ``solve``.
    """
    if not isinstance(method.name, str) or not method.name.isidentifier():
        raise ValueError('a method name is a Python identifier (it goes '
                         f'into grid specs and file names), got '
                         f'{method.name!r}')
    if method.reads not in READS:
        raise ValueError(f'reads must be one of {list(READS)}, got '
                         f'{method.reads!r}')
    if method.name in METHODS:
        raise KeyError(f'method {method.name!r} is already registered')
    if method.epoch is not None and not isinstance(method.epoch, EpochRule):
        if not callable(method.epoch):
            raise TypeError(
                f'epoch of method {method.name!r} must be an EpochRule or a '
                f'function of an EpochView, got {method.epoch!r}')
        method.epoch = EachEpoch(method.epoch, method.reads, method.name)
    if method.reads == 'embeddings' and method.per_epoch:
        raise ValueError(f'method {method.name!r}: a per-epoch method reads '
                         "'nothing', 'norms' or 'losses', not embeddings")
    if method.reads == 'losses' and (
            method.epoch is None
            or not method.epoch.needs_losses(method.defaults)):
        raise ValueError(
            f"method {method.name!r} reads 'losses', which are recorded "
            'while training: give it an epoch function (epoch=...) that '
            'chooses every epoch')
    if method.solve is None and method.reads == 'losses' and \
            not isinstance(method.epoch, EachEpoch):
        method.solve = _no_first_epoch(method.name)
    if method.solve is None:
        if not isinstance(method.epoch, EachEpoch):
            raise ValueError(f'method {method.name!r} needs a per-class '
                             'solver (solve=...)')
        method.solve = _first_epoch(method.epoch)
    METHODS[method.name] = method
    return method


def _first_epoch(rule: EachEpoch) -> Solver:
    """The first epoch's choice of an :class:`EachEpoch` method as a
    per-class solver (what ``select_subset`` and the scoring pass use)."""

    def solve(scores, k, rng, opts) -> ClassChoice:
        if rule.reads == 'losses':
            return _no_first_epoch(rule.name)(scores, k, rng, opts)
        size = int(scores) if rule.reads == 'nothing' else len(scores)
        # the class's label is not known here: -1
        view = EpochView(0, -1, size, int(k),
                         None if rule.reads == 'nothing' else scores, rng,
                         dict(opts))
        return ClassChoice(rule.checked(view))

    return solve


def _no_first_epoch(name: str) -> Solver:
    """The solver of a rule that reads the training losses from its first
    epoch on: none outside a run."""

    def solve(scores, k, rng, opts) -> ClassChoice:
        raise ValueError(
            f'method {name!r} reads the training losses, recorded while '
            'training: it serves through GradNormHook only')

    return solve


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


def _check_geda_rotate(opts: Dict[str, Any], given: set) -> None:
    check_int(opts['nodes'], 'nodes', 2)
    _check_grid(opts)


def _first_fold(rule: MatchedFolds) -> Solver:

    def solve(scores, k, rng, opts) -> ClassChoice:
        return ClassChoice(
            folds.cycle_folds(scores, k, rule.bins, opts, rng)[0])

    return solve


register_method(
    Method(
        'rs2',
        'nothing',
        lambda n, k, rng, opts: ClassChoice(
            baselines.select_random(n, k, rng)),
        defaults=dict(replace=False, budget='constant'),
        epoch=StreamBlocks()))
_GEDA_FOLDS = MatchedFolds(geda_bins)
register_method(
    Method(
        'geda_rotate',
        'norms',
        _first_fold(_GEDA_FOLDS),
        defaults=dict(
            nodes=5, rule='trapezoid', refold='loss', budget='constant'),
        check=_check_geda_rotate,
        report_grid=lambda opts: (opts['nodes'], opts['rule']),
        epoch=_GEDA_FOLDS))
_STRATA_FOLDS = MatchedFolds(strata_bins)
register_method(
    Method(
        'strata_rotate',
        'norms',
        _first_fold(_STRATA_FOLDS),
        defaults=dict(quantiles=4, refold='loss', budget='constant'),
        check=lambda opts, given: check_int(opts['quantiles'], 'quantiles', 1),
        epoch=_STRATA_FOLDS))

# --- dynamic pruning (InfoBatch's rule and its control) ----------------------


def pruning_method(rule: str) -> str:
    """The registered method of a pruning rule (``PruningArgs.rule``: a
    key of ``pruning.CANDIDATES``)."""
    for name, method in METHODS.items():
        if isinstance(method.epoch, Pruned) and \
                method.epoch.candidates == rule:
            return name
    raise ValueError(f'no registered method prunes by rule {rule!r}')


def pruning_hook_settings(owner: str, **kwargs) -> Dict[str, Any]:
    """``GradNormHook``'s settings for the pruning settings ``kwargs``
    (:class:`~mmcls_geda.selection.pruning.PruningArgs`, checked, errors
    naming ``owner``): both stacks' ``DynamicPruningHook`` are
    ``GradNormHook(**pruning_hook_settings(...))``."""
    args = PruningArgs.from_kwargs(owner, **kwargs)
    return dict(
        method=pruning_method(args.rule),
        options=dict(ratio=args.ratio, anneal=args.anneal),
        seed=args.seed)


# method name -> its candidates (pruning.CANDIDATES): InfoBatch's rule and
# its control, which draws as many candidates uniformly
for _name, _candidates in dict(
        infobatch='infobatch', random_pruning='random').items():
    register_method(
        Method(
            _name,
            'losses',
            defaults=dict(ratio=PruningArgs.ratio, anneal=PruningArgs.anneal),
            epoch=Pruned(_candidates)))
