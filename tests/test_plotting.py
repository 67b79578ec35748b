import matplotlib
import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_adaprune import AdaptivePrunedMLPClassifier
from sk_adaprune.plotting import (
    plot_input_usage,
    plot_layer_sparsity,
    plot_pruning_history,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(scope="module")
def fitted(digits_split):
    X_train, _, y_train, _ = digits_split
    return AdaptivePrunedMLPClassifier(
        hidden_layer_sizes=(32, 16), max_iter=15, random_state=0
    ).fit(X_train, y_train)


def saved_png(figure, path):
    figure.savefig(path)
    plt.close(figure)
    return path.stat().st_size


def test_history_plot_draws_each_series(fitted, tmp_path):
    axes = plot_pruning_history(fitted)
    assert len(axes) == 4
    np.testing.assert_array_equal(
        axes[1].lines[0].get_ydata(), fitted.pruning_history_["ratio"]
    )
    np.testing.assert_array_equal(
        axes[0].lines[1].get_ydata(), fitted.pruning_history_["task_loss"]
    )
    assert axes[3].get_ylabel() == "hard-mask sparsity"
    assert not axes[0].patches  # no fine-tuning phase in this fit
    assert saved_png(axes[0].figure, tmp_path / "history.png") > 10_000


def test_history_plot_shades_the_fine_tuning_phase(digits_split):
    X_train, _, y_train, _ = digits_split
    # No improvement by tol after epoch 3: the phase takes epochs 4 and 5.
    clf = AdaptivePrunedMLPClassifier(
        hidden_layer_sizes=(32,),
        max_iter=8,
        finetune_fraction=0.25,
        tol=10.0,
        n_iter_no_change=1,
        random_state=0,
    ).fit(X_train, y_train)
    assert clf.n_iter_ == 5
    axes = plot_pruning_history(clf)
    for ax in axes:
        (span,) = ax.patches
        corners = span.get_path().transformed(span.get_patch_transform())
        x = corners.vertices[:, 0]
        assert (x.min(), x.max()) == (3.5, 5.5)
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert labels == ["total", "fine-tuning phase", "task"]
    plt.close(axes[0].figure)


def test_layer_sparsity_bars(fitted, tmp_path):
    ax = plot_layer_sparsity(fitted)
    heights = [bar.get_height() for bar in ax.patches]
    np.testing.assert_allclose(heights, fitted.layer_sparsity_)
    assert [label.get_text() for label in ax.get_xticklabels()] == [
        "64->32",
        "32->16",
        "16->10",
    ]
    assert saved_png(ax.figure, tmp_path / "layers.png") > 5_000


def test_layer_sparsity_bars_of_pruned_neurons_name_the_layers_as_built(digits_split):
    X_train, _, y_train, _ = digits_split
    model = AdaptivePrunedMLPClassifier(
        hidden_layer_sizes=(32, 16), prune="neurons", max_iter=15, random_state=0
    ).fit(X_train, y_train)
    assert model.coefs_[0].shape[1] < 32  # units were removed
    ax = plot_layer_sparsity(model)
    assert [label.get_text() for label in ax.get_xticklabels()] == [
        "64->32",
        "32->16",
        "16->10",
    ]
    np.testing.assert_allclose(
        [b.get_height() for b in ax.patches], model.layer_sparsity_
    )
    plt.close(ax.figure)


def test_input_usage_as_an_image_through_a_pipeline(digits_split, tmp_path):
    X_train, _, y_train, _ = digits_split
    pipe = make_pipeline(
        StandardScaler(), AdaptivePrunedMLPClassifier(max_iter=15, random_state=0)
    ).fit(X_train, y_train)
    ax = plot_input_usage(pipe, image_shape=(8, 8))
    image = ax.images[0].get_array()
    expected = (pipe[-1].coefs_[0] != 0).sum(axis=1).reshape(8, 8)
    np.testing.assert_array_equal(image, expected)
    assert saved_png(ax.figure, tmp_path / "inputs.png") > 5_000


def test_input_usage_refuses_a_wrong_image_shape(fitted):
    with pytest.raises(ValueError, match=r"image_shape \(7, 7\) does not hold the 64"):
        plot_input_usage(fitted, image_shape=(7, 7))


def test_plots_refuse_unfitted_estimators():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        plot_layer_sparsity(AdaptivePrunedMLPClassifier())
