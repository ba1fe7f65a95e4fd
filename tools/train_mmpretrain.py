"""Train with mmpretrain's own ``tools/train.py``, the plugin registered.

mmpretrain 1.x ships its training script inside the wheel
(``mmpretrain/.mim/tools/train.py``); this runs it, so every argument of
the stock script works (``--work-dir``, ``--resume``, ``--cfg-options``,
``--launcher``, ``--no-persistent-workers``, ...). The configs in
``configs/mmpretrain/`` import the plugin through ``custom_imports``, so
the stock script (or ``mim train mmpretrain CONFIG``, where openmim is
installed) works with them as well.

``--resume`` works here as is: mmengine 0.10.7 keeps its message hub (a
``HistoryBuffer``) in every checkpoint and loads them with ``torch.load``'s
default, which torch 2.6 made ``weights_only=True``, so the stock script
cannot resume on torch 2.14 without ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``.
This script sets it (unless it is set) when ``--resume`` is given: the
checkpoints a resume reads are the run's own, in its work dir.
"""
import os
import os.path as osp
import sys

import mmpretrain

import mmcls_geda  # noqa: F401  (registers the datasets and the hook)
from mmcls_geda.stock_tools import run_stock_script

STOCK_TRAIN = osp.join(
    osp.dirname(mmpretrain.__file__), '.mim', 'tools', 'train.py')

if __name__ == '__main__':
    if any(arg == '--resume' or arg.startswith('--resume=')
           for arg in sys.argv[1:]) and \
            'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ:
        os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'
        print('train_mmpretrain.py: --resume: TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'
              "=1 (mmengine 0.10.7's checkpoints hold a HistoryBuffer, which "
              "torch's weights-only loading refuses)")
    run_stock_script(STOCK_TRAIN, 'train_mmpretrain.py')
