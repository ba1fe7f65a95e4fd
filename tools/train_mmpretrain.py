"""Train with mmpretrain's own ``tools/train.py``, the plugin registered.

mmpretrain 1.x ships its training script inside the wheel
(``mmpretrain/.mim/tools/train.py``); this runs it, so every argument of
the stock script works (``--work-dir``, ``--resume``, ``--cfg-options``,
``--launcher``, ``--no-persistent-workers``, ...). The configs in
``configs/mmpretrain/`` import the plugin through ``custom_imports``, so
the stock script (or ``mim train mmpretrain CONFIG``, where openmim is
installed) works with them as well.
"""
import os.path as osp
import runpy
import sys
from typing import List, Optional

import mmpretrain

import mmcls_geda  # noqa: F401  (registers the datasets and the hook)
from mmcls_geda.selection.files import check_folder

STOCK_TRAIN = osp.join(
    osp.dirname(mmpretrain.__file__), '.mim', 'tools', 'train.py')


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
    if work_dir is not None:  # before a bare FileExistsError
        try:
            check_folder(work_dir, '--work-dir')
        except ValueError as error:
            sys.exit(f'train_mmpretrain.py: error: {error}')
    runpy.run_path(STOCK_TRAIN, run_name='__main__')
