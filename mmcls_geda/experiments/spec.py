"""Method specs of a grid: the one place that reads a method's name.

Grammar (``--methods`` of ``tools/run_experiments.py``)::

    SPEC  := full | PRUNE | NAME['+' PART]...
    PRUNE := infobatch-rR | randprune-rR          (R: prune ratio in (0, 0.9])
    PART  := wW            warm-up passes          (hook warmup_epochs=W)
           | rR            re-select every R epochs (hook interval=R)
           | gm            GRAD-MATCH weights      (hook weights='gradmatch')
           | eE-METHOD-rR  second phase            (hook then=dict(...))
           | KEY=VALUE     an option of NAME, VALUE read as JSON
                           (true, 9, 0.5, "x") or else as a string

``NAME`` is a method of :data:`mmcls_geda.selection.METHODS`; its options
are checked by its registry entry. ``full`` is the full-data reference;
``infobatch-rR`` (InfoBatch's rule) and ``randprune-rR`` (the dynamic
random control) are dynamic pruning with prune ratio ``R``. E.g.
``geda+w1``, ``geda+r4+gm``, ``geda+nodes=9``, ``rs2+replace=true``,
``infobatch-r0.5``.
"""
import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from ..selection import get_method
from ..selection.pruning import check_ratio

FULL = 'full'
# the references of a grid's paired comparisons, matched by spec name
REFERENCES = ('random', 'rs2', FULL)
# dynamic pruning spec prefix -> apply_pruning's rule
PRUNING_RULES = {'infobatch': 'infobatch', 'randprune': 'random'}
_PRUNE = re.compile(r'^(%s)-r(.*)$' % '|'.join(PRUNING_RULES))
_THEN = re.compile(r'^e(\d+)-([^-]+)-r(\d+)$')
GRAMMAR = ('NAME[+PART...] with parts wW (warm-up passes), rR (re-select '
           'interval), gm (GRAD-MATCH weights), eE-METHOD-rR (second '
           'phase), KEY=VALUE (a method option); or full; or '
           'infobatch-rR / randprune-rR (dynamic pruning, prune ratio R); '
           'e.g. geda+w1, geda+r4+gm, geda+nodes=9, rs2+replace=true, '
           'infobatch-r0.5')


@dataclass(frozen=True)
class Spec:
    """A parsed method spec.

    Attributes:
        text: The spec as given (the run names' and tables' method).
        kind: ``'full'``, ``'subset'`` or ``'pruning'``.
        method: The registered method (subset specs).
        schedule: GradNormHook arguments from the parts.
        options: Method options from the ``KEY=VALUE`` parts.
        ratio: Prune ratio (pruning specs).
        rule: ``apply_pruning``'s rule (pruning specs).
    """
    text: str
    kind: str
    method: Optional[str] = None
    schedule: Dict[str, Any] = field(default_factory=dict)
    options: Dict[str, Any] = field(default_factory=dict)
    ratio: Optional[float] = None
    rule: Optional[str] = None


def spec_kind(text: str) -> str:
    """``'full'``, ``'pruning'`` or ``'subset'`` from a spec's text alone
    (no registry look-up: tables read specs of any saved grid)."""
    if text == FULL:
        return 'full'
    return 'pruning' if _PRUNE.match(text.split('+')[0]) else 'subset'


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _bad(spec: str, why: str) -> ValueError:
    return ValueError(f'method spec {spec!r}: {why}; a spec is {GRAMMAR}')


def parse_spec(spec: Any) -> Spec:
    """Read one method spec (see the module's grammar).

    Raises:
        ValueError: Naming the spec, the bad part and the grammar; unknown
            methods and options are refused by the registry.
    """
    if not isinstance(spec, str) or not spec:
        raise _bad(str(spec), 'not a non-empty string')
    name, *parts = spec.split('+')
    if name == FULL or _PRUNE.match(name):
        if parts:
            raise _bad(spec, f'{name!r} takes no parts')
        if name == FULL:
            return Spec(spec, 'full')
        prefix, ratio = _PRUNE.match(name).groups()
        try:
            ratio = check_ratio(_value(ratio), 'prune ratio R')
        except ValueError as error:
            raise _bad(spec, str(error)) from None
        return Spec(spec, 'pruning', ratio=ratio, rule=PRUNING_RULES[prefix])
    method = get_method(name)
    schedule, options = {}, {}
    for part in parts:
        key, eq, value = part.partition('=')
        then = _THEN.match(part)
        if eq:
            if not key.isidentifier() or key in options:
                raise _bad(
                    spec, f'option part {part!r} is not KEY=VALUE '
                    'with a new KEY')
            options[key] = _value(value)
        elif part == 'gm':
            schedule['weights'] = 'gradmatch'
        elif then:
            get_method(then.group(2))
            schedule['then'] = dict(
                method=then.group(2),
                start_epoch=int(then.group(1)),
                interval=int(then.group(3)))
        elif re.fullmatch(r'w\d+(\.\d+)?', part):
            schedule['warmup_epochs'] = float(part[1:])
        elif re.fullmatch(r'r\d+', part):
            schedule['interval'] = int(part[1:])
        else:
            raise _bad(spec, f'unknown part {part!r}')
    try:  # unknown options: named with the allowed ones
        method.resolve(options)
    except ValueError as error:
        raise ValueError(f'method spec {spec!r}: {error}') from None
    return Spec(spec, 'subset', name, schedule, options)


def method_options(spec: Spec, options: Dict[str, Any]) -> Dict[str, Any]:
    """The options of ``spec``'s method: ``--options`` then the spec's own.

    ``--options`` goes to every method that takes options; a spec whose
    method takes none (or a pruning spec) refuses it, naming the method.
    """
    if spec.kind == 'full':
        return {}
    if options and spec.kind == 'pruning':
        raise ValueError(f'--options {options} given, but {spec.text!r} is '
                         'dynamic pruning and takes no method options')
    if spec.kind == 'pruning':
        return {}
    method = get_method(spec.method)
    if options and not method.defaults:
        raise ValueError(
            f'--options {options} given, but method {spec.method!r} '
            f'(spec {spec.text!r}) takes no options; give options in the '
            'spec of the method that takes them, e.g. geda+nodes=9')
    merged = {**options, **spec.options}
    try:
        method.resolve(merged)
    except ValueError as error:
        raise ValueError(f'spec {spec.text!r} with --options {options}: '
                         f'{error}') from None
    return merged


def pruning_kwargs(spec: Spec, anneal: float, seed: int) -> Dict[str, Any]:
    """``apply_pruning``'s keyword arguments for a pruning spec."""
    if spec.kind != 'pruning':
        raise ValueError(f'{spec.text!r} is not a dynamic-pruning spec')
    return dict(ratio=spec.ratio, rule=spec.rule, anneal=anneal, seed=seed)


def make_config(base_cfg, spec: Spec, fraction: Optional[float], seed: int,
                hook: Dict[str, Any], options: Dict[str, Any], anneal: float):
    """The config of one run: the base (``full``), ``apply_pruning`` or
    ``apply_geda`` with the spec's schedule, ``hook`` and options (the
    installed stack's: an mmcv config on mmcls 0.x, an mmengine one on
    mmpretrain 1.x)."""
    from .. import apply_geda, apply_pruning
    if spec.kind == 'full':
        return base_cfg
    if spec.kind == 'pruning':
        return apply_pruning(base_cfg, **pruning_kwargs(spec, anneal, seed))
    return apply_geda(
        base_cfg,
        fraction,
        spec.method,
        hook=dict(hook, seed=seed, **spec.schedule),
        **method_options(spec, options))
