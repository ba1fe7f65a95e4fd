"""Evaluate a checkpoint with mmcls's own ``tools/test.py``, plugin registered.

Usage: .venv/bin/python tools/test.py
    CONFIG CHECKPOINT --metrics accuracy [--device cpu]
"""
import os.path as osp
import runpy

import mmcls

import mmcls_geda  # noqa: F401  (registers the datasets and the hook)

STOCK_TEST = osp.join(osp.dirname(mmcls.__file__), '.mim', 'tools', 'test.py')

if __name__ == '__main__':
    runpy.run_path(STOCK_TEST, run_name='__main__')
