"""Fashion-MNIST from the Debian package (or a synthetic stand-in of its shape),
and the small classification and regression sets the benchmarks share."""

import gzip
from pathlib import Path

import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_wine,
    make_classification,
    make_friedman1,
)
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as stream:
        data = stream.read()
    n_dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(shape)


def load_fashion_mnist_or_stand_in(random_state: int = 0):
    """``(X_train, y_train, X_test, y_test, name)``, pixels scaled to [0, 1].

    Fashion-MNIST (60k train / 10k test, 784 features) when the Debian package
    ``dataset-fashion-mnist`` is installed; otherwise a synthetic 10-class set
    of the same shape from ``make_classification``. ``name`` says which.
    """
    files = {
        "X_train": "train-images-idx3-ubyte.gz",
        "y_train": "train-labels-idx1-ubyte.gz",
        "X_test": "t10k-images-idx3-ubyte.gz",
        "y_test": "t10k-labels-idx1-ubyte.gz",
    }
    if all((FASHION_MNIST / f).exists() for f in files.values()):
        arrays = {key: _read_idx(FASHION_MNIST / f) for key, f in files.items()}
        X_train = arrays["X_train"].reshape(-1, 784).astype(np.float32) / 255
        X_test = arrays["X_test"].reshape(-1, 784).astype(np.float32) / 255
        y_train = arrays["y_train"].astype(np.int64)
        y_test = arrays["y_test"].astype(np.int64)
        return X_train, y_train, X_test, y_test, "Fashion-MNIST"
    X, y = make_classification(
        n_samples=70_000,
        n_features=784,
        n_informative=60,
        n_redundant=40,
        n_classes=10,
        class_sep=1.5,
        random_state=random_state,
    )
    X = ((X - X.min(0)) / (X.max(0) - X.min(0))).astype(np.float32)
    return X[:60_000], y[:60_000], X[60_000:], y[60_000:], "synthetic stand-in"


def classification_splits():
    """``name -> (X_train, X_test, y_train, y_test)`` for load_digits,
    load_breast_cancer and load_wine: stratified 75/25 splits
    (random_state=0); X / 16 for load_digits (the demo's), else X
    standardised on the training rows."""
    splits = {}
    for name, loader in (
        ("load_digits", load_digits),
        ("load_breast_cancer", load_breast_cancer),
        ("load_wine", load_wine),
    ):
        X, y = loader(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, stratify=y, random_state=0
        )
        if name == "load_digits":
            X_train, X_test = X_train / 16, X_test / 16
        else:
            scale = StandardScaler().fit(X_train)
            X_train, X_test = scale.transform(X_train), scale.transform(X_test)
        splits[name] = (X_train, X_test, y_train, y_test)
    return splits


def regression_splits():
    """``name -> (X_train, X_test, y_train, y_test)`` for load_diabetes and
    make_friedman1 (2,000 rows, noise 0.5): 75/25 splits (random_state=0),
    X and y standardised on the training rows."""
    friedman = make_friedman1(n_samples=2000, noise=0.5, random_state=0)
    splits = {}
    for name, (X, y) in (
        ("load_diabetes", load_diabetes(return_X_y=True)),
        ("make_friedman1", friedman),
    ):
        X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
        x_scale = StandardScaler().fit(X_train)
        y_scale = StandardScaler().fit(y_train[:, None])
        splits[name] = (
            x_scale.transform(X_train),
            x_scale.transform(X_test),
            y_scale.transform(y_train[:, None]).ravel(),
            y_scale.transform(y_test[:, None]).ravel(),
        )
    return splits
