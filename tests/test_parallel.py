"""Grid searches on several processes: loky workers and a dask cluster."""

import os

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from sk_adaprune import AdaptivePrunedMLPClassifier
from sk_adaprune.model_selection import sparsity_scorer


def torch_threads(estimator, X=None, y=None):
    import torch

    return torch.get_num_threads()


def search(n_jobs):
    return GridSearchCV(
        AdaptivePrunedMLPClassifier(max_iter=20, random_state=0),
        {"lambda_": [0.0, 10.0, 100.0]},
        scoring={
            "accuracy": "accuracy",
            "sparsity": sparsity_scorer,
            "threads": torch_threads,
        },
        refit="accuracy",
        cv=2,
        n_jobs=n_jobs,
    )


@pytest.mark.end_to_end
def test_loky_workers_do_not_oversubscribe_torch_threads(blobs):
    X, y = blobs
    fitted = search(n_jobs=2).fit(X, y)
    # joblib gives each of the 2 workers its share of the cores, and torch
    # sizes its thread pool from that.
    share = max(1, (os.cpu_count() or 1) // 2)
    assert np.all(fitted.cv_results_["mean_test_threads"] <= share)


@pytest.mark.end_to_end
def test_dask_cluster_search_equals_the_sequential_search_on_one_thread(blobs):
    # Fits are reproducible at a fixed torch thread count; the workers run
    # one thread each, so the sequential search runs on one thread too.
    import torch
    from dask.distributed import Client, LocalCluster

    X, y = blobs
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        sequential = search(n_jobs=1).fit(X, y)
    finally:
        torch.set_num_threads(threads)
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster),
    ):
        with joblib.parallel_backend("dask"):
            distributed = search(n_jobs=-1).fit(X, y)
    for key in ("mean_test_accuracy", "mean_test_sparsity", "params"):
        assert list(distributed.cv_results_[key]) == list(sequential.cv_results_[key])
    assert distributed.best_params_ == sequential.best_params_
    # Dask's workers run torch on one thread each.
    assert np.all(distributed.cv_results_["mean_test_threads"] == 1)
    np.testing.assert_array_equal(
        distributed.best_estimator_.coefs_[0], sequential.best_estimator_.coefs_[0]
    )


def _fit_in_child(X, y, results):
    import torch

    model = AdaptivePrunedMLPClassifier(max_iter=6, random_state=0).fit(X, y)
    results.put((model.learned_sparsity_, torch.get_num_threads()))


def test_a_fit_in_a_fork_started_child_finishes(blobs):
    import multiprocessing

    import torch

    X, y = blobs
    threads = torch.get_num_threads()
    # The parent computes on torch's threads first: that is what hung.
    AdaptivePrunedMLPClassifier(max_iter=3, random_state=0).fit(X, y)
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_fit_in_child, args=(X, y, results))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        pytest.fail("the fit in the forked child hung")
    sparsity, child_threads = results.get(timeout=5)
    assert child.exitcode == 0 and 0 < sparsity < 1
    assert child_threads == threads  # put back after the fit
    assert torch.get_num_threads() == threads  # the parent's untouched
