import os

# scikit-learn's array-API input check runs only when SciPy was imported with
# this set; the estimators take numpy arrays, so the check must pass.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402


@pytest.fixture(scope="session")
def digits_split():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16, y, test_size=0.25, stratify=y, random_state=0)


@pytest.fixture
def blobs():
    rng = np.random.RandomState(0)
    centers = rng.normal(0, 3, size=(3, 5))
    y = rng.randint(0, 3, 150)
    X = centers[y] + rng.normal(size=(150, 5))
    return X, y


@pytest.fixture
def three_classes():
    """``rows(n)``: ``n`` rows of 4 standard-normal features (RandomState(0))
    and the labels 0, 1, 2 in turn."""

    def rows(n):
        return np.random.RandomState(0).normal(size=(n, 4)), np.arange(n) % 3

    return rows


@pytest.fixture
def early_stopping_split(monkeypatch):
    """What the estimators' early-stopping split was given and returned:
    ``stratify``, and the ``train`` and ``valid`` rows (in their order)."""
    from sk_adaprune import _base

    split = {}
    original = _base.train_test_split

    def spy(*arrays, stratify=None, **kwargs):
        split["stratify"] = stratify
        split["train"], split["valid"] = original(*arrays, stratify=stratify, **kwargs)
        return split["train"], split["valid"]

    monkeypatch.setattr(_base, "train_test_split", spy)
    return split
