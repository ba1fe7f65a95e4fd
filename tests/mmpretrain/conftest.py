"""Fixtures of the mmpretrain 1.x suite (``make test-mmpretrain``).

This suite runs in ``.venv-mmpretrain`` with ``--confcutdir`` set to this
folder, so ``tests/conftest.py`` (the mmcls 0.x fixtures) is never loaded;
the mmcls suite leaves this folder out (its ``collect_ignore``).
"""
import pytest
import torch

import mmcls_geda  # noqa: F401 (registers the datasets)
from .. import cifar_files


@pytest.fixture(scope='session', autouse=True)
def mmpretrain_scope():
    """mmpretrain's registries as the default scope, as its configs set
    (``default_scope = 'mmpretrain'``)."""
    from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=True)


# the tiny CIFAR fixtures, shared with the mmcls suite
cifar10_root = cifar_files.cifar10_root
cifar100_root = cifar_files.cifar100_root


def small_classifier_cfg(num_classes: int = 10, width: int = 8) -> dict:
    """mmpretrain's CIFAR ResNet-18 (as in its resnet18_8xb16_cifar10
    config) at a width that tests can afford, with its data
    preprocessor."""
    return dict(
        type='ImageClassifier',
        data_preprocessor=dict(
            num_classes=num_classes,
            mean=[125.307, 122.961, 113.8575],
            std=[51.5865, 50.847, 51.255],
            to_rgb=False),
        backbone=dict(
            type='ResNet_CIFAR',
            depth=18,
            num_stages=4,
            out_indices=(3, ),
            style='pytorch',
            stem_channels=width,
            base_channels=width),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=num_classes,
            in_channels=width * 8,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))


def make_classifier(num_classes: int = 10, width: int = 8, seed: int = 0):
    from mmpretrain.registry import MODELS
    torch.manual_seed(seed)
    model = MODELS.build(small_classifier_cfg(num_classes, width))
    model.init_weights()
    return model


def local_cifar_cfg(root: str, split: str = 'train', **kwargs) -> dict:
    return dict(
        type='LocalCIFAR10',
        data_root=root,
        split=split,
        pipeline=[dict(type='PackInputs')],
        **kwargs)
