"""Train with mmcls's own ``tools/train.py``, the plugin registered.

Every argument of the stock script works (``--work-dir``, ``--resume-from``,
``--cfg-options``, ``--launcher``, ``--device cpu``, ...). The stock script
from an mmcls checkout works as well: the configs import the plugin through
``custom_imports``.
"""
import os.path as osp

import mmcls

import mmcls_geda  # noqa: F401  (registers the datasets and the hook)
from mmcls_geda.stock_tools import run_stock_script

STOCK_TRAIN = osp.join(
    osp.dirname(mmcls.__file__), '.mim', 'tools', 'train.py')

if __name__ == '__main__':
    run_stock_script(STOCK_TRAIN, 'train.py')
