"""Which data transforms are random (stack-free): the rule that derives a
deterministic scoring pipeline from a training pipeline, on both stacks.

Transforms are configs (dicts with a ``type``) or built objects; names
cover mmcls 0.x and mmpretrain 1.x / mmcv 2.x.
"""
import copy
from typing import Any, List, Sequence, Tuple

# Random augmentations without 'Random' at the start of their names.
RANDOM_TRANSFORMS = ('AutoAugment', 'RandAugment', 'ColorJitter', 'Lighting',
                     'Albu', 'Albumentations', 'GaussianBlur',
                     'EfficientNetRandomCrop')
# Random transforms that set the image size: without them images keep
# their file sizes, so they cannot simply be dropped.
SIZING_TRANSFORMS = ('RandomResizedCrop', 'RandomResize',
                     'EfficientNetRandomCrop')


def type_name(transform: Any) -> str:
    """A transform's type name, from a config or a built transform."""
    kind = transform['type'] if isinstance(transform, dict) else transform
    return kind if isinstance(kind, str) else type(kind).__name__ if not \
        isinstance(kind, type) else kind.__name__


def _option(transform: Any, name: str) -> Any:
    if isinstance(transform, dict):
        return transform.get(name)
    return getattr(transform, name, None)


def without_random_transforms(
        train_pipeline: Sequence[Any]) -> Tuple[List[Any], str]:
    """The training pipeline without its random transforms, and a line
    that says what was dropped.

    Raises:
        ValueError: When a dropped transform sets the image size
            (``RandomResizedCrop``, ``RandomCrop`` without padding, ...):
            images would keep their file sizes; a scoring pipeline must be
            given then.
    """
    kept, dropped = [], []
    for step in train_pipeline:
        kind = type_name(step)
        if kind.startswith('Random') or kind in RANDOM_TRANSFORMS:
            sets_size = kind in SIZING_TRANSFORMS or (
                kind == 'RandomCrop' and not _option(step, 'padding'))
            if sets_size:
                raise ValueError(
                    f'the training pipeline sizes images with {kind}, and '
                    'there is no evaluation pipeline to score at that size '
                    '(e.g. a run with --no-validate): set the hook\'s '
                    'scoring_pipeline (your test pipeline, with gt_label '
                    'collected)')
            dropped.append(kind)
        else:
            kept.append(
                copy.deepcopy(step) if isinstance(step, dict) else step)
    return kept, f'the training pipeline without {dropped}'
