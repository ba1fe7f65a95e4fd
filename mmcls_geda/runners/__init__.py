"""Runners the plugin registers in ``mmcv.runner.RUNNERS`` (opt-in)."""
from .pauseless import PauselessEpochBasedRunner, use_pauseless_runner

__all__ = ['PauselessEpochBasedRunner', 'use_pauseless_runner']
