import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from sk_adaprune import AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor, load


def fit(estimator, X, y):
    return estimator.fit(X, y)


@pytest.fixture(scope="module")
def models(digits_split):
    X_train, _, y_train, _ = digits_split
    frame = pd.DataFrame(X_train, columns=[f"pixel{i}" for i in range(64)])
    labels = np.array(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
    multilabel = np.column_stack([y_train % 2, y_train > 4, y_train == 3]).astype(int)
    targets = np.column_stack([y_train, y_train**2]) / 10
    quick = dict(max_iter=30, random_state=0)
    return {
        "multiclass strings, DataFrame": (
            fit(AdaptivePrunedMLPClassifier(**quick), frame, labels[y_train]),
            frame,
        ),
        "binary": (
            fit(AdaptivePrunedMLPClassifier(**quick), X_train, y_train > 4),
            X_train,
        ),
        "multilabel": (
            fit(AdaptivePrunedMLPClassifier(**quick), X_train, multilabel),
            X_train,
        ),
        "multi-output regression": (
            fit(
                AdaptivePrunedMLPRegressor(activation="tanh", **quick), X_train, targets
            ),
            X_train,
        ),
    }


CASES = [
    "multiclass strings, DataFrame",
    "binary",
    "multilabel",
    "multi-output regression",
]


@pytest.mark.parametrize("case", CASES)
def test_save_load_round_trip_predicts_identically(models, case, tmp_path):
    model, X = models[case]
    restored = load(model.save(tmp_path / "model.npz"))
    assert type(restored) is type(model)
    assert restored.get_params() == model.get_params()
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
        np.testing.assert_array_equal(restored.classes_, model.classes_)
    for name in ("learned_sparsity_", "n_iter_", "loss_curve_", "threshold_"):
        assert getattr(restored, name) == getattr(model, name)
    np.testing.assert_array_equal(
        restored.pruning_history_["ratio"], model.pruning_history_["ratio"]
    )
    if case.endswith("DataFrame"):
        assert list(restored.feature_names_in_) == list(X.columns)
    assert restored.net_ is None


@pytest.mark.parametrize("case", CASES)
def test_pickles_and_archives_hold_one_schema(models, case, tmp_path):
    from sk_adaprune._persistence import read_archive

    model, X = models[case]
    state = model.__getstate__()
    # No training state, no derived network, no weights outside the schema.
    assert not {"net_", "compact_", "coefs_", "intercepts_"} & set(state)
    with read_archive(model.save(tmp_path / "model.npz")) as (_, _, archived):
        assert set(state["_fitted_state"]) == set(archived)
    twin = pickle.loads(pickle.dumps(model))
    for name in ("coefs_", "intercepts_"):  # lossless, in their own dtype
        for restored, fitted in zip(getattr(twin, name), getattr(model, name)):
            np.testing.assert_array_equal(restored, fitted)
    np.testing.assert_array_equal(twin.predict(X), model.predict(X))


@pytest.mark.parametrize("case", CASES)
def test_exported_torch_model_predicts_the_same(models, case):
    model, X = models[case]
    network = model.to_torch()
    assert isinstance(network, torch.nn.Sequential)
    assert all(type(layer).__module__.startswith("torch.") for layer in network)
    with torch.no_grad():
        inputs = torch.tensor(np.asarray(X, dtype=model.coefs_[0].dtype))
        outputs = network(inputs).double().numpy()
    if hasattr(model, "predict_proba"):
        expected = model.predict_proba(X)
        expected = expected[:, 1:] if case == "binary" else expected
    else:
        expected = model.predict(X)
    np.testing.assert_allclose(outputs, expected, atol=2e-5)


def test_compaction_and_sparse_coefs_agree_with_coefs(models):
    model, X = models["binary"]
    for sparse_coef, coef in zip(model.sparse_coefs_, model.coefs_):
        np.testing.assert_array_equal(sparse_coef.toarray(), coef)
    used = np.flatnonzero((model.coefs_[0] != 0).any(axis=1))
    np.testing.assert_array_equal(model.used_features_, used)


def test_files_shrink_with_sparsity(digits_split, tmp_path):
    X_train, _, y_train, _ = digits_split
    sizes, sparsities = [], []
    for lambda_, lr_r in ((0.0, 0.0), (10.0, 1e-3), (1000.0, 3e-2)):
        model = AdaptivePrunedMLPClassifier(
            hidden_layer_sizes=(512,),
            lambda_=lambda_,
            lr_r=lr_r,
            max_iter=40,
            random_state=0,
        )
        fit(model, X_train, y_train)
        sizes.append(model.save(tmp_path / f"{lambda_}.npz").stat().st_size)
        sparsities.append(model.learned_sparsity_)
    assert sparsities == sorted(sparsities) and sizes == sorted(sizes, reverse=True)
    # Against the dense network's weights in their dtype; the archive also
    # holds the parameters and the per-epoch history.
    dense_bytes = sum(c.nbytes for c in model.coefs_)
    assert sparsities[-1] > 0.95 and sizes[-1] * 10 < dense_bytes


def test_a_pickle_file_is_refused(models, tmp_path):
    model, _ = models["binary"]
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    with pytest.raises(ValueError, match="pickled Python objects; load\\(\\) refuses"):
        load(path)


def test_an_archive_with_a_pickled_array_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, format=np.array([1]), payload=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickled Python objects"):
        load(path)


def test_foreign_archives_are_refused(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.ones(3))
    with pytest.raises(ValueError, match="not a valid archive written by"):
        load(path)


def test_archives_and_pickles_of_another_version_are_refused_by_name(models, tmp_path):
    from sk_adaprune._persistence import FORMAT

    model, X = models["binary"]
    path = model.save(tmp_path / "model.npz")
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["format"] = np.frombuffer(b'"sk_adaprune/2"', dtype=np.uint8)
    np.savez_compressed(path, **arrays)
    with pytest.raises(ValueError, match=f"format 'sk_adaprune/2'.*reads '{FORMAT}'"):
        load(path)
    state = model.__getstate__()
    del state["_fitted_state"]["loss_"]  # as an older version pickled it
    twin = AdaptivePrunedMLPClassifier()
    with pytest.raises(ValueError, match=r"lacks \['loss_'\].*another version"):
        twin.__setstate__(state)


def test_pickles_are_compact(digits_split):
    X_train, _, y_train, _ = digits_split
    model = fit(
        AdaptivePrunedMLPClassifier(
            lambda_=1000.0, lr_r=1e-2, max_iter=60, random_state=0
        ),
        X_train,
        y_train,
    )
    dense_bytes = 4 * sum(c.size for c in model.coefs_)
    assert len(pickle.dumps(model)) < 0.5 * dense_bytes + 20_000


def test_a_fitted_net_holds_no_gradients_or_optimizer_moments(models):
    model, _ = models["binary"]
    module = model.net_.module_
    # Each would hold the weight pool once more after fit.
    assert all(parameter.grad is None for parameter in module.parameters())
    assert not model.net_.optimizer_.state


def _as_format_3(path):
    """Rewrite a saved archive as format 3 wrote it: float arrays as they are."""
    import json

    from sk_adaprune._persistence import _from_planes, _text

    with np.load(path) as archive:
        arrays = dict(archive)
    values = json.loads(arrays["values"].tobytes().decode())
    for name, dtype in values.pop("_byte_planes").items():
        arrays[name] = _from_planes(arrays[name], dtype)
    arrays["values"] = _text(values)
    arrays["format"] = _text("sk_adaprune/3")
    np.savez_compressed(path, **arrays)


def test_archives_store_float_arrays_as_byte_planes_and_are_smaller(models, tmp_path):
    model, X = models["binary"]
    path = model.save(tmp_path / "model.npz")
    with np.load(path) as archive:
        planes = archive["coef0_data"]
    nnz = np.count_nonzero(model.coefs_[0])
    assert planes.dtype == np.uint8 and planes.shape == (model.coefs_[0].itemsize, nnz)
    old = tmp_path / "old.npz"
    old.write_bytes(path.read_bytes())
    _as_format_3(old)
    # The sign-and-exponent bytes of the weights compress; interleaved they do not.
    assert path.stat().st_size < 0.98 * old.stat().st_size
    np.testing.assert_array_equal(load(path).predict_proba(X), model.predict_proba(X))


def test_archives_of_format_3_still_load(models, tmp_path):
    model, X = models["multi-output regression"]
    path = model.save(tmp_path / "model.npz")
    _as_format_3(path)
    loaded = load(path)
    for got, expected in zip(loaded.coefs_, model.coefs_):
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_byte_planes_that_cannot_hold_their_dtype_are_refused(models, tmp_path):
    model, _ = models["binary"]
    path = model.save(tmp_path / "model.npz")
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["coef0_data"] = arrays["coef0_data"][:3]  # 3 planes of float32 values
    np.savez_compressed(path, **arrays)
    with pytest.raises(ValueError, match="3 byte planes cannot hold float"):
        load(path)
