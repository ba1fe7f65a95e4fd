"""The three engine helpers scoring uses, from whichever stack is installed.

mmcv 1.x (mmcls 0.x) has them in ``mmcv``; mmcv 2.x moved them to
mmengine (``is_module_wrapper`` is mmengine's ``is_model_wrapper``).
"""
from ..stack import STACK

if STACK == 'mmpretrain':
    from mmengine.logging import print_log
    from mmengine.model import is_model_wrapper as is_module_wrapper
    from mmengine.utils import ProgressBar
else:
    from mmcv import ProgressBar
    from mmcv.parallel import is_module_wrapper
    from mmcv.utils import print_log

__all__ = ['ProgressBar', 'is_module_wrapper', 'print_log']
