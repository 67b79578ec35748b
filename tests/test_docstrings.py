"""The public API's docstrings against its signatures (numpydoc's validation)
and the estimators' documented attributes against the fitted ones."""

import inspect

import pytest
from numpydoc.docscrape import ClassDoc
from numpydoc.validate import validate

import sk_adaprune
from sk_adaprune import (
    AdaptivePrunedMLPClassifier,
    AdaptivePrunedMLPClassifierCV,
    AdaptivePrunedMLPRegressor,
    AdaptivePrunedMLPRegressorCV,
    model_selection,
    plotting,
)

ESTIMATORS = [AdaptivePrunedMLPClassifier, AdaptivePrunedMLPRegressor]
CV_ESTIMATORS = [AdaptivePrunedMLPClassifierCV, AdaptivePrunedMLPRegressorCV]
# Checks left out, as scikit-learn leaves them out of its own validation:
# extended summaries, See Also and Examples on every object are optional;
# the summary may start on the opening line (GL01) and Returns entries may
# be named ("self : object", RT02).
IGNORED = {"ES01", "SA01", "EX01", "GL01", "GL02", "RT02"}


def public_names():
    names = [f"sk_adaprune.{name}" for name in sk_adaprune.__all__]
    for module in (plotting, model_selection):
        names += [f"{module.__name__}.{name}" for name in module.__all__]
    for estimator in ESTIMATORS + CV_ESTIMATORS:
        # The methods and properties this package defines, not scikit-learn's.
        for name, member in inspect.getmembers(estimator):
            defined_here = getattr(
                member.fget if isinstance(member, property) else member,
                "__module__",
                "",
            )
            if not name.startswith("_") and defined_here.startswith("sk_adaprune"):
                names.append(f"sk_adaprune.{estimator.__name__}.{name}")
    return names


@pytest.mark.parametrize("name", public_names())
def test_docstring_matches_the_signature(name):
    errors = [
        f"{code}: {message}"
        for code, message in validate(name)["errors"]
        if code not in IGNORED
    ]
    assert not errors, "\n".join(errors)


def test_the_public_methods_are_all_validated():
    names = set(public_names())
    for method in ("fit", "predict", "save", "to_torch", "sparse_coefs_"):
        assert f"sk_adaprune.AdaptivePrunedMLPRegressor.{method}" in names
    assert "sk_adaprune.AdaptivePrunedMLPClassifier.predict_proba" in names
    assert "sk_adaprune.AdaptivePrunedMLPClassifier.score" not in names  # sklearn's


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("early_stopping", [False, True])
def test_documented_attributes_are_the_fitted_ones(
    estimator, early_stopping, three_classes
):
    X, y = three_classes(60)
    model = estimator(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    model.set_params(early_stopping=early_stopping).fit(X, y)
    params = model.get_params()
    fitted = {
        name
        for name in vars(model)
        if name.endswith("_") and not name.startswith("_") and name not in params
    }
    documented = {item.name for item in ClassDoc(estimator)["Attributes"]}
    # feature_names_in_ exists only for X with string column names.
    assert fitted | {"feature_names_in_", "sparse_coefs_"} == documented


@pytest.mark.parametrize("estimator", CV_ESTIMATORS)
def test_the_cv_estimators_document_their_own_fitted_attributes(
    estimator, three_classes
):
    X, y = three_classes(60)
    model = estimator([1.0, 3.0], cv=2, hidden_layer_sizes=(8,), max_iter=3)
    model.fit(X, y)
    fitted = {name for name in vars(model) if name.endswith("_")}
    documented = {item.name for item in ClassDoc(estimator)["Attributes"]}
    assert fitted == documented
