import numpy as np
import pytest
import torch

from oracles import inputs_that_move
from sk_adaprune._inference import compact_network
from sk_adaprune._module import ACTIVATIONS, HIDDEN_ACTIVATIONS


def reference_forward(coefs, intercepts, activation, out_activation, X):
    """The uncompacted network in float64, with torch's activations (the
    other backend's table) as the oracle for the numpy ones."""
    hidden = ACTIVATIONS[activation].module()
    X = torch.from_numpy(np.asarray(X, dtype=np.float64))
    for i, (coef, intercept) in enumerate(zip(coefs, intercepts)):
        X = X @ torch.from_numpy(coef) + torch.from_numpy(intercept)
        if i < len(coefs) - 1:
            X = hidden(X)
    return ACTIVATIONS[out_activation].module()(X).numpy()


def pruned_network(seed, sizes, sparsity):
    rng = np.random.default_rng(seed)
    coefs = [rng.normal(size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    intercepts = [rng.normal(size=b) for b in sizes[1:]]
    for coef in coefs:
        coef[rng.random(coef.shape) < sparsity] = 0
    # Dead on purpose: input 0 unused, hidden unit 1 without inputs (its
    # constant output must be folded), hidden unit 2 without outputs.
    coefs[0][0, :] = 0
    coefs[0][:, 1] = 0
    coefs[1][2, :] = 0
    return coefs, intercepts


@pytest.mark.parametrize("activation", sorted(HIDDEN_ACTIVATIONS))
@pytest.mark.parametrize("out_activation", ["identity", "logistic", "softmax"])
@pytest.mark.parametrize("seed", range(3))
def test_compaction_keeps_the_outputs(activation, out_activation, seed):
    sizes = [12, 9, 7, 4]
    coefs, intercepts = pruned_network(seed, sizes, sparsity=0.6)
    compact = compact_network(coefs, intercepts, activation, out_activation)
    X = np.random.default_rng(seed + 10).normal(size=(40, 12))
    expected = reference_forward(coefs, intercepts, activation, out_activation, X)
    # The compact network computes in the weights' dtype, float64 here.
    np.testing.assert_allclose(compact.forward(X), expected, rtol=1e-12, atol=1e-12)
    for rows in (1, 5):  # the small-batch (CSR) path
        np.testing.assert_allclose(
            compact.forward(X[:rows]), expected[:rows], rtol=1e-12, atol=1e-12
        )
    assert 0 not in compact.used_features
    assert compact.layer_sizes[1] <= 7  # units 1 and 2 of layer 1 are gone
    assert compact.layer_sizes[-1] == 4  # outputs are never removed


def test_a_unit_starved_by_a_removal_is_removed_too():
    coefs = [np.ones((3, 2)), np.array([[1.0, 0.0], [1.0, 0.0]]), np.ones((2, 2))]
    intercepts = [np.zeros(2), np.zeros(2), np.zeros(2)]
    # Unit 1 of the second hidden layer has no inputs; once folded, nothing
    # else changes; unit 0 stays.
    compact = compact_network(coefs, intercepts, "relu", "identity")
    assert compact.layer_sizes == [3, 2, 1, 2]
    X = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose(
        compact.forward(X),
        reference_forward(coefs, intercepts, "relu", "identity", X),
        rtol=1e-6,
    )


def test_everything_pruned_leaves_the_biases():
    coefs = [np.zeros((4, 3)), np.zeros((3, 2))]
    intercepts = [np.array([1.0, -1.0, 2.0]), np.array([0.5, -0.5])]
    compact = compact_network(coefs, intercepts, "relu", "identity")
    assert compact.used_features.size == 0
    X = np.ones((3, 4))
    np.testing.assert_allclose(compact.forward(X), np.tile([0.5, -0.5], (3, 1)))


def test_an_input_feeding_only_removed_units_is_unused():
    # Input 1 feeds hidden unit 1 alone, and unit 1 feeds nothing.
    coefs = [np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0], [0.0]])]
    intercepts = [np.zeros(2), np.zeros(1)]
    X = np.random.default_rng(0).normal(size=(20, 2))

    def reference(X):
        return reference_forward(coefs, intercepts, "tanh", "identity", X)

    assert inputs_that_move(reference, X) == [0]
    compact = compact_network(coefs, intercepts, "tanh", "identity")
    assert compact.used_features.tolist() == [0]


@pytest.mark.parametrize("seed", range(6))
def test_used_features_are_the_inputs_the_outputs_depend_on(seed):
    sizes = [12, 9, 7, 4]
    coefs, intercepts = pruned_network(seed, sizes, sparsity=0.8)
    X = np.random.default_rng(seed + 10).normal(size=(30, 12))

    def reference(X):  # the uncompacted network; tanh: no unit is ever flat
        return reference_forward(coefs, intercepts, "tanh", "identity", X)

    compact = compact_network(coefs, intercepts, "tanh", "identity")
    assert compact.used_features.tolist() == inputs_that_move(reference, X)


def test_layers_without_removals_are_not_copied():
    rng = np.random.default_rng(0)
    coefs = [rng.normal(size=shape).astype(np.float32) for shape in [(4, 3), (3, 2)]]
    intercepts = [np.zeros(3), np.zeros(2)]
    compact = compact_network(coefs, intercepts, "relu", "identity")
    # Nothing is dead: the layers are the caller's arrays, in their dtype.
    assert all(kept is given for kept, given in zip(compact.coefs, coefs))
    coefs[1][0, :] = 0  # hidden unit 0 loses its outputs
    given = [c.copy() for c in coefs]
    compact = compact_network(coefs, intercepts, "relu", "identity")
    assert [c.shape for c in compact.coefs] == [(4, 2), (2, 2)]
    assert not any(np.shares_memory(c, g) for c in compact.coefs for g in coefs)
    for after, before in zip(coefs, given):  # the caller's arrays are not written
        np.testing.assert_array_equal(after, before)
