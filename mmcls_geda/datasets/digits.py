"""scikit-learn's handwritten digits as an mmcls dataset (ships offline)."""
import numpy as np
from mmcls.datasets import DATASETS, BaseDataset

DIGITS_TEST_SIZE = 0.25
DIGITS_SPLIT_SEED = 0


def digits_split(test_mode: bool):
    """The fixed split: stratified, 25 % test, ``random_state=0``.

    Returns:
        tuple[np.ndarray, np.ndarray]: Images (N, 8, 8, 1) uint8 scaled from
        0..16 to 0..255, and labels (N,) int64. 1,347 train / 450 test.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    images = np.clip(digits.images * 16, 0, 255).astype(np.uint8)[..., None]
    train_x, test_x, train_y, test_y = train_test_split(
        images,
        digits.target,
        test_size=DIGITS_TEST_SIZE,
        stratify=digits.target,
        random_state=DIGITS_SPLIT_SEED)
    x, y = (test_x, test_y) if test_mode else (train_x, train_y)
    return x, y.astype(np.int64)


@DATASETS.register_module()
class SklearnDigits(BaseDataset):
    """The 1,797 8x8 handwritten digits shipped inside scikit-learn.

    Single-channel uint8 images (H, W, 1); use a pipeline without
    ``to_rgb``. The split is fixed: see :func:`digits_split`.
    """

    CLASSES = [str(i) for i in range(10)]

    def __init__(self, pipeline, data_prefix='', test_mode=False, **kwargs):
        super().__init__(
            data_prefix=data_prefix,
            pipeline=pipeline,
            test_mode=test_mode,
            **kwargs)

    def load_annotations(self):
        images, labels = digits_split(self.test_mode)
        return [
            dict(img=img, gt_label=np.array(label, dtype=np.int64))
            for img, label in zip(images, labels)
        ]
