"""Train with mmcls's own ``tools/train.py``, the plugin registered.

Every argument of the stock script works (``--work-dir``, ``--resume-from``,
``--cfg-options``, ``--launcher``, ``--device cpu``, ...). The stock script
from an mmcls checkout works as well: the configs import the plugin through
``custom_imports``.
"""
import os.path as osp
import runpy
import sys
from typing import List, Optional

import mmcls

import mmcls_geda  # noqa: F401  (registers the datasets and the hook)
from mmcls_geda.experiments import check_work_dir

STOCK_TRAIN = osp.join(
    osp.dirname(mmcls.__file__), '.mim', 'tools', 'train.py')


def work_dir_arg(argv: List[str]) -> Optional[str]:
    """The value of ``--work-dir`` in ``argv`` (the last one), or None."""
    found = None
    for i, arg in enumerate(argv):
        if arg == '--work-dir' and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith('--work-dir='):
            found = arg.split('=', 1)[1]
    return found


if __name__ == '__main__':
    work_dir = work_dir_arg(sys.argv[1:])
    if work_dir is not None:  # before mmcv's bare FileExistsError
        try:
            check_work_dir(work_dir)
        except ValueError as error:
            sys.exit(f'train.py: error: {error}')
    runpy.run_path(STOCK_TRAIN, run_name='__main__')
