"""Learned-ratio pruning for scikit-learn's multi-layer perceptrons."""

from ._classifier import AdaptivePrunedMLPClassifier
from ._cv import AdaptivePrunedMLPClassifierCV, AdaptivePrunedMLPRegressorCV
from ._load import load
from ._persistence import ArchiveError
from ._regressor import AdaptivePrunedMLPRegressor

__all__ = [
    "AdaptivePrunedMLPClassifier",
    "AdaptivePrunedMLPClassifierCV",
    "AdaptivePrunedMLPRegressor",
    "AdaptivePrunedMLPRegressorCV",
    "ArchiveError",
    "load",
]
__version__ = "0.1.0"
