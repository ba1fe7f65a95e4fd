"""``SelectionArgs``: every setting of a selection, declared once.

The same names from the config (``GradNormHook`` arguments) through the
pipeline (:func:`~mmcls_geda.apis.score_and_select`) to the saved record.
The hook's defaults are these fields' defaults; ``apply_geda`` and
``tools/geda_select.py`` check and read a hook entry through it.
"""
import dataclasses
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ..scoring import SCOPES
from ..selection import check_seed, get_method
from ..selection.checks import check_bool, check_choice, check_int
from ..selection.rotation import needs_losses
from ..selection.schedule import check_then, check_warmup, check_weights

# hook config keys that are not selection settings
_HOOK_KEYS = ('type', 'priority')

# the settings that say how a run scores (refused where nothing is scored)
SCORING_SETTINGS = ('checkpoint', 'scoring_model', 'scoring_pipeline')


@dataclass(frozen=True)
class SelectionArgs:
    """The settings of a selection run (the GradNormHook's arguments).

    Args:
        method (str): A registered selection method
            (``mmcls_geda.selection.METHODS``).
        options (dict): The method's options, as given (defaults are filled
            in by :meth:`resolved_options`).
        scope (str): What norms are scored: ``'full'`` gradient norms (the
            thesis), ``'last_layer'`` or ``'input'`` (``||x||``, no
            gradient).
        seed (int): Seed (>= 0) of the selections' random choices (each
            selection event draws its own stream from ``(seed, epoch)``)
            and of the warm-up's permutations.
        interval (int): Re-select every ``interval`` epochs (counted from
            the first selection); 0: once.
        scoring_pipeline (list[dict], optional): Deterministic pipeline
            that keeps labels. Default: the evaluation pipeline with
            ``gt_label`` collected; without one, the training pipeline
            without its random transforms.
        scoring_batch_size (int): Batch size of the scoring pass.
        scoring_workers (int): Worker processes of the scoring loader.
        checkpoint (str, optional): Score with a copy of the model loaded
            from this local checkpoint.
        scoring_model (dict, optional): Score with another classifier
            built from this config (a cheaper proxy), optionally from
            ``checkpoint``.
        weighted (bool): Train weighted subsets with their weights (needs
            ``WeightedImageClassifier``); False: unweighted.
        save_norms (bool): Write the scores to ``work_dir``.
        report (bool): Write the selection report (PNG + JSON).
        warmup_epochs (float): Full passes over all the data (in slices of
            the subset's size) before the first selection; a whole number
            of epochs (see
            :func:`~mmcls_geda.selection.schedule.warmup_epoch_count`).
        weights (str | dict, optional): ``'gradmatch'`` or
            ``dict(type='gradmatch', lam=1e-3)``: weight each subset of the
            first phase to match its classes' summed last-layer gradient.
        then (dict, optional): A second phase, ``dict(method='gradmatch',
            start_epoch=E, interval=R, options=dict(...))``.
    """
    method: str = 'geda'
    options: Dict[str, Any] = field(default_factory=dict)
    scope: str = 'full'
    seed: int = 0
    interval: int = 0
    scoring_pipeline: Optional[List[Any]] = None
    scoring_batch_size: int = 64
    scoring_workers: int = 2
    checkpoint: Optional[str] = None
    scoring_model: Optional[dict] = None
    weighted: bool = True
    save_norms: bool = True
    report: bool = True
    warmup_epochs: float = 0.0
    weights: Optional[Any] = None
    then: Optional[Dict[str, Any]] = None

    def __post_init__(self):
        self.check()

    def check(self) -> None:
        """Check every field that needs no data and store it in canonical
        form; a bad value is a ValueError naming it and what is allowed."""
        options = self.options if self.options is not None else {}
        if not isinstance(options, dict):
            raise ValueError(f'options must be a dict of the method\'s '
                             f'options, got {options!r}')
        get_method(self.method).resolve(dict(options))
        self._check_per_epoch()  # the values as given, for the message
        check_choice(self.scope, 'scope', SCOPES)
        for name, low in (('interval', 0), ('scoring_batch_size', 1),
                          ('scoring_workers', 0)):
            self._set(name, check_int(getattr(self, name), name, low))
        if self.scoring_pipeline is not None and not isinstance(
                self.scoring_pipeline, (list, tuple)):
            raise ValueError('scoring_pipeline must be a list of transforms, '
                             f'got {type(self.scoring_pipeline).__name__}')
        if self.scoring_model is not None and not isinstance(
                self.scoring_model, dict):
            raise ValueError('scoring_model must be a classifier config '
                             f'dict, got {type(self.scoring_model).__name__}')
        for name in ('weighted', 'save_norms', 'report'):
            self._set(name, check_bool(getattr(self, name), name))
        weights = check_weights(self.weights, self.method)
        if weights is not None and not self.weighted:
            raise ValueError(f'weights={self.weights!r} asks for weighted '
                             'training, and weighted=False drops the '
                             'weights: set weighted=True or weights=None')
        self._set('options', dict(options))
        self._set('seed', check_seed(self.seed))
        self._set('warmup_epochs', check_warmup(self.warmup_epochs))
        self._set('weights', weights)
        self._set('then', check_then(self.then))
        self._check_scoring_model_used()  # before looking for the file
        if self.checkpoint is not None and not osp.isfile(self.checkpoint):
            raise FileNotFoundError(
                f'scoring checkpoint {self.checkpoint!r} not found (nothing '
                'is downloaded: give a local file)')

    def _check_per_epoch(self) -> None:
        """A per-epoch method (an entry with an ``epoch`` rule) serves a
        new subset every epoch: no schedule applies to it."""
        if not self.per_epoch():
            return
        for name, default in (('interval', 0), ('warmup_epochs', 0.0),
                              ('weights', None), ('then', None)):
            value = getattr(self, name)
            if value != default:
                raise ValueError(
                    f'method {self.method!r} serves a new subset every '
                    f'epoch, which {name}={value!r} cannot combine with: '
                    f'leave {name} at {default!r}')

    def _check_scoring_model_used(self) -> None:
        """``checkpoint``, ``scoring_model`` and ``scoring_pipeline`` only
        say how to score: a run that scores nothing would ignore them
        silently."""
        names = [
            name for name in SCORING_SETTINGS
            if getattr(self, name) is not None
        ]
        if not names or self.scores_anything():
            return
        reads = get_method(self.method).reads
        what = ('per-epoch method' if self.per_epoch() else 'method')
        given = ' and '.join(f'{n}={getattr(self, n)!r}' for n in names)
        raise ValueError(
            f'{given} would say how the training set is '
            f'scored, but {what} {self.method!r} (reads: {reads}'
            f'{", options " + str(self.options) if self.options else ""}) '
            'scores nothing in this run: drop '
            f'{" and ".join(names)}')

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # canonical form, frozen after

    # --- construction ----------------------------------------------------

    @classmethod
    def names(cls) -> Tuple[str, ...]:
        """Every setting, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> 'SelectionArgs':
        """Build from keyword arguments; unknown names are refused."""
        unknown = sorted(set(kwargs) - set(cls.names()))
        if unknown:
            raise ValueError(f'unknown GradNormHook argument(s) {unknown}; '
                             f'allowed: {list(cls.names())}')
        return cls(**kwargs)

    @classmethod
    def from_hook_cfg(cls, hook_cfg: Dict[str, Any]) -> 'SelectionArgs':
        """Build from a ``dict(type='GradNormHook', ...)`` config entry."""
        return cls.from_kwargs(**{
            k: v
            for k, v in hook_cfg.items() if k not in _HOOK_KEYS
        })

    # --- what the settings imply -----------------------------------------

    def phase_method(self, phase: str = 'subset') -> Tuple[str, dict]:
        """``(method, options as given)`` of a phase."""
        if phase == 'then':
            return self.then['method'], self.then['options']
        return self.method, self.options

    def resolved_options(self, phase: str = 'subset') -> Dict[str, Any]:
        """A phase's options with the method's defaults filled in."""
        method, options = self.phase_method(phase)
        return get_method(method).resolve(dict(options))

    def phase_weights(self, phase: str = 'subset') -> Optional[dict]:
        """The matching weights of a phase (the first phase only)."""
        return self.weights if phase != 'then' else None

    def trains_weighted(self, phase: Optional[str] = None) -> bool:
        """Whether a phase (None: any phase) trains with per-sample
        weights: ``weighted`` and a weighted method or ``weights``."""
        if phase is None:
            return any(
                self.trains_weighted(p) for p in ('subset', 'then')
                if p != 'then' or self.then is not None)
        method = self.phase_method(phase)[0]
        return self.weighted and (get_method(method).weighted
                                  or self.phase_weights(phase) is not None)

    def per_epoch(self) -> bool:
        """Whether the method serves a new subset every epoch (see
        :mod:`mmcls_geda.selection.rotation`)."""
        return get_method(self.method).per_epoch

    def needs_losses(self) -> bool:
        """Whether a per-epoch method reads the per-sample training losses
        (``refold='loss'``, or an epoch function that reads ``'losses'``),
        which a ``WeightedImageClassifier`` records."""
        return needs_losses(self.method, self.resolved_options())

    def needs_scoring(self, phase: str = 'subset') -> bool:
        """Whether a phase's selection needs a pass over the data."""
        method = self.phase_method(phase)[0]
        return (get_method(method).reads in ('norms', 'embeddings')
                or self.phase_weights(phase) is not None)

    def scores_norms(self) -> bool:
        """Whether the run scores per-sample gradient norms (over
        ``scope``) at some point: a phase's method reads them, or a
        per-epoch method is planned (or refolded) on them."""
        if self.per_epoch():
            rule = get_method(self.method).epoch
            return rule.reads_norms or self.resolved_options().get(
                'refold') == 'grad_norm'
        phases = ('subset', 'then') if self.then is not None else ('subset', )
        return any(
            get_method(self.phase_method(phase)[0]).reads == 'norms'
            for phase in phases)

    def scores_anything(self) -> bool:
        """Whether the run makes a scoring pass at all (norms, embeddings,
        matching weights), in either phase or for a per-epoch plan."""
        if self.per_epoch():
            return self.scores_norms()
        phases = ('subset', 'then') if self.then is not None else ('subset', )
        return any(self.needs_scoring(phase) for phase in phases)

    def weighted_why(self) -> Tuple[str, str]:
        """What asks for weights, and a fix that works, for messages."""
        then_weighted = self.then is not None and get_method(
            self.then['method']).weighted
        if self.weights is not None:
            return (f'method {self.method!r} with weights={self.weights}',
                    ('set weights=None and weighted=False'
                     if then_weighted else 'drop the weights (weights=None)') +
                    ' (weighted=False alone is refused with weights)')
        if self.trains_weighted('subset'):
            return (f'method {self.method!r}', 'set weighted=False in the '
                    'GradNormHook to train the subset unweighted')
        return (f'the second phase then={self.then["method"]!r}',
                'set weighted=False in the GradNormHook to train its '
                'subsets unweighted')

    def losses_why(self) -> Tuple[str, str]:
        """Who records per-sample training losses, and the other way out,
        for messages (``apply_geda``, ``apply_pruning``, the hook's model
        check)."""
        rule = get_method(self.method).epoch
        if rule.folded:
            return (f"method {self.method!r} with refold='loss'",
                    "choose refold='grad_norm' or 'fixed'")
        return (f'method {self.method!r}',
                'build the config with apply_geda from one with an '
                'ImageClassifier (it makes it a WeightedImageClassifier)')

    def record_settings(self, phase: str = 'subset') -> Dict[str, Any]:
        """What a record of this phase holds and a reused one must match
        (the fraction and the data are checked apart)."""
        method = self.phase_method(phase)[0]
        settings = dict(
            method=method,
            options=self.resolved_options(phase),
            weighted=self.trains_weighted(phase),
            weights=self.phase_weights(phase))
        if get_method(method).reads == 'norms':
            settings['scope'] = self.scope
        return settings

    def schedule(self) -> Dict[str, Any]:
        """The schedule settings a resumed run must share."""
        return dict(
            warmup_epochs=self.warmup_epochs,
            interval=self.interval,
            then=self.then,
            seed=self.seed)
