"""Runners the plugin registers in ``mmcv.runner.RUNNERS`` (opt-in)."""
from .pauseless import PauselessEpochBasedRunner, set_runner

__all__ = ['PauselessEpochBasedRunner', 'set_runner']
