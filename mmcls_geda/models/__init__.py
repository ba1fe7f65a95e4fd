from .weighted_classifier import WeightedImageClassifier

__all__ = ['WeightedImageClassifier']
