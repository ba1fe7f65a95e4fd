"""Tiny CIFAR-format pickles for the tests of both stacks (numpy only).

Every image encodes its sample index, so tests can read back which samples
a batch holds after flips and crops.
"""
import os
import os.path as osp
import pickle

import numpy as np
import pytest

CENTRE = 16  # RandomCrop(padding=4) never moves the centre pixel off-image


def encoded_images(n: int, seed: int) -> np.ndarray:
    """(n, 3*32*32) uint8 rows; channels 0-1 hold the sample index.

    Channel 0 is ``i % 256`` and channel 1 ``i // 256`` everywhere, so the
    index survives flips and crops and can be read back from a batch;
    channel 2 is noise, so that samples get different gradient norms.
    """
    rng = np.random.default_rng(seed)
    imgs = np.zeros((n, 3, 32, 32), dtype=np.uint8)
    idx = np.arange(n)
    imgs[:, 0] = (idx % 256)[:, None, None]
    imgs[:, 1] = (idx // 256)[:, None, None]
    imgs[:, 2] = rng.integers(0, 256, size=(n, 32, 32))
    return imgs.reshape(n, -1)


def decode_indices(img_batch) -> np.ndarray:
    """Indices from a batch of un-normalised (mean 0, std 1) images."""
    pixels = img_batch[:, :2, CENTRE, CENTRE].round().long().numpy()
    return pixels[:, 0] + 256 * pixels[:, 1]


def _dump(obj, path):
    with open(path, 'wb') as f:
        pickle.dump(obj, f)


def write_cifar10(root: str,
                  per_class_train: int = 6,
                  per_class_test: int = 3) -> str:
    """CIFAR-10 python-pickle layout under ``root/cifar-10-batches-py``."""
    folder = osp.join(root, 'cifar-10-batches-py')
    os.makedirs(folder, exist_ok=True)
    train_labels = np.tile(np.arange(10), per_class_train)
    test_labels = np.tile(np.arange(10), per_class_test)
    train = encoded_images(train_labels.size, seed=1)
    parts = np.array_split(np.arange(train_labels.size), 5)
    for b, part in enumerate(parts, 1):
        _dump({
            'data': train[part],
            'labels': train_labels[part].tolist()
        }, osp.join(folder, f'data_batch_{b}'))
    _dump(
        {
            'data': encoded_images(test_labels.size, seed=2),
            'labels': test_labels.tolist()
        }, osp.join(folder, 'test_batch'))
    _dump({'label_names': [f'class{i}' for i in range(10)]},
          osp.join(folder, 'batches.meta'))
    return root


def write_cifar100(root: str,
                   per_class_train: int = 2,
                   per_class_test: int = 1) -> str:
    """CIFAR-100 python-pickle layout under ``root/cifar-100-python``."""
    folder = osp.join(root, 'cifar-100-python')
    os.makedirs(folder, exist_ok=True)
    for name, per_class, seed in [('train', per_class_train, 3),
                                  ('test', per_class_test, 4)]:
        labels = np.tile(np.arange(100), per_class)
        _dump(
            {
                'data': encoded_images(labels.size, seed),
                'fine_labels': labels.tolist(),
                'coarse_labels': (labels // 5).tolist()
            }, osp.join(folder, name))
    _dump({'fine_label_names': [f'c{i}' for i in range(100)]},
          osp.join(folder, 'meta'))
    return root


@pytest.fixture(scope='session')
def cifar10_root(tmp_path_factory):
    """A tiny CIFAR-10 in the python-pickle layout (both suites)."""
    return write_cifar10(str(tmp_path_factory.mktemp('tiny_cifar10_')))


@pytest.fixture(scope='session')
def cifar100_root(tmp_path_factory):
    """A tiny CIFAR-100 in the python-pickle layout (both suites)."""
    return write_cifar100(str(tmp_path_factory.mktemp('tiny_cifar100_')))
