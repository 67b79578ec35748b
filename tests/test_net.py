import numpy as np
import pytest
import torch
from scipy import sparse
from skorch.dataset import Dataset

from sk_adaprune._net import (
    BatchIterator,
    BinaryLogLoss,
    HalfSquaredError,
    validation_score,
)


def test_batch_iterator_visits_every_row_once_in_new_orders():
    X = torch.arange(23, dtype=torch.float32)[:, None]
    y = torch.arange(23)
    rng = np.random.RandomState(0)
    orders = []
    for _ in range(2):
        batches = list(BatchIterator(Dataset(X, y), 5, shuffle=True, random_state=rng))
        assert [len(b[0]) for b in batches] == [5, 5, 5, 5, 3]
        rows = torch.cat([b[1] for b in batches])
        assert sorted(rows.tolist()) == list(range(23))
        assert torch.equal(torch.cat([b[0] for b in batches])[:, 0].long(), rows)
        orders.append(rows)
    assert not torch.equal(orders[0], orders[1])
    assert len(BatchIterator(Dataset(X, y), 5)) == 5


def test_batch_iterator_densifies_sparse_rows_in_order():
    dense = np.random.default_rng(0).random((7, 4)).astype(np.float32)
    dense[dense < 0.5] = 0
    batches = list(BatchIterator(Dataset(sparse.csr_matrix(dense), torch.zeros(7)), 3))
    stacked = torch.cat([b[0] for b in batches]).numpy()
    np.testing.assert_array_equal(stacked, dense)


def test_losses_match_mlp_definitions():
    logits = torch.tensor([[0.3, -1.0], [2.0, 0.5]])
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p = torch.sigmoid(logits)
    expected = -(target * p.log() + (1 - target) * (1 - p).log()).sum() / 2
    assert BinaryLogLoss()(logits, target).item() == pytest.approx(expected.item())
    assert HalfSquaredError()(logits, target).item() == pytest.approx(
        0.5 * ((logits - target) ** 2).mean().item()
    )


def test_validation_scores():
    outputs = torch.tensor([[2.0, 0.1], [0.0, 1.0], [3.0, 0.0]])
    assert validation_score(
        "multiclass", outputs, np.array([0, 1, 1])
    ) == pytest.approx(2 / 3)
    binary = torch.tensor([[1.0], [-1.0]])
    assert validation_score("binary", binary, np.array([[1], [1]])) == 0.5
    values = torch.tensor([[1.0], [2.0], [3.0]])
    assert validation_score("regression", values, np.array([1.0, 2.0, 3.0])) == 1.0
    assert np.isnan(validation_score("regression", values * np.nan, np.ones(3)))
