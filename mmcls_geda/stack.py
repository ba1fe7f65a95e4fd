"""Which OpenMMLab generation is installed: mmcls 0.x or mmpretrain 1.x.

Decided once, from the installed packages, without importing any of them:

* ``'mmcls'``: torch, mmcv and mmcls (mmcls 0.x on mmcv 1.x): the glue in
  ``hooks/``, ``datasets/``, ``models/``, ``runners/`` and ``apis/``;
* ``'mmpretrain'``: torch, mmengine and mmpretrain, and no mmcls
  (mmpretrain 1.x on mmengine): the glue in ``engines/mmpretrain/``;
* ``None``: neither; only the numpy core (``selection/``, ``local_data/``)
  can be used.

mmcls 0.x needs mmcv 1.x and mmpretrain 1.x needs mmcv 2.x, so one
environment holds at most one working stack; where both packages are
present, mmcls wins (as before this module existed).
"""
from importlib.util import find_spec
from typing import Optional

STACKS = ('mmcls', 'mmpretrain')


def installed(name: str) -> bool:
    """Whether the top-level package ``name`` can be imported."""
    try:
        return find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def installed_stack() -> Optional[str]:
    """``'mmcls'``, ``'mmpretrain'`` or None: see the module's docstring."""
    if all(installed(name) for name in ('torch', 'mmcv', 'mmcls')):
        return 'mmcls'
    if all(installed(name) for name in ('torch', 'mmengine', 'mmpretrain')):
        return 'mmpretrain'
    return None


STACK: Optional[str] = installed_stack()
