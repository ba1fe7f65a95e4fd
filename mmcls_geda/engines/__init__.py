"""Glue for one OpenMMLab generation per sub-package.

Only the sub-package of the installed stack is imported (see
:mod:`mmcls_geda.stack`); today: ``mmpretrain`` (mmpretrain 1.x on
mmengine). The mmcls 0.x glue still lives in ``hooks/``, ``datasets/``,
``models/``, ``runners/`` and ``apis/``.
"""
