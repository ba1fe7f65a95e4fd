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

import mmpretrain

import mmcls_geda  # noqa: F401  (registers the datasets and the hook)
from mmcls_geda.stock_tools import run_stock_script

STOCK_TRAIN = osp.join(
    osp.dirname(mmpretrain.__file__), '.mim', 'tools', 'train.py')

if __name__ == '__main__':
    run_stock_script(STOCK_TRAIN, 'train_mmpretrain.py')
