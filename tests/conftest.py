import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


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
