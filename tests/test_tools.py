"""The demo's dataset (the grid and demo tools: tests/test_experiments.py)."""
import numpy as np
from mmcls.datasets import build_dataset


def test_sklearn_digits_split():
    pipeline = [dict(type='Collect', keys=['img', 'gt_label'])]
    train = build_dataset(dict(type='SklearnDigits', pipeline=pipeline))
    test = build_dataset(
        dict(type='SklearnDigits', pipeline=pipeline, test_mode=True))
    assert (len(train), len(test)) == (1347, 450)
    assert train[0]['img'].shape == (8, 8, 1)
    assert train[0]['img'].dtype == np.uint8
    counts = np.bincount(train.get_gt_labels())
    assert counts.min() >= 130 and counts.sum() == 1347
    again = build_dataset(dict(type='SklearnDigits', pipeline=pipeline))
    assert np.array_equal(again.get_gt_labels(), train.get_gt_labels())
