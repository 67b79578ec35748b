import numpy as np
import pytest
import torch
from scipy import sparse
from skorch.dataset import Dataset

from sk_adaprune._training.losses import (
    BinaryLogLoss,
    HalfSquaredError,
    argmax_accuracy,
    outputs_r2,
    sign_accuracy,
)
from sk_adaprune._training.net import BatchIterator


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
    assert argmax_accuracy(outputs, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    logits = torch.tensor([[1.0], [-1.0]])
    assert sign_accuracy(logits, np.array([[1], [1]])) == 0.5
    values = torch.tensor([[1.0], [2.0], [3.0]])
    assert outputs_r2(values, np.array([1.0, 2.0, 3.0])) == 1.0
    for score in (argmax_accuracy, sign_accuracy, outputs_r2):
        assert np.isnan(score(values * np.nan, np.ones(3)))


def test_alpha_is_weight_decay_on_weights_only_and_in_the_reported_loss(
    three_classes,
):

    from sk_adaprune import AdaptivePrunedMLPClassifier

    X, y = three_classes(60)
    fits = {
        alpha: AdaptivePrunedMLPClassifier(
            alpha=alpha, batch_size=20, max_iter=30, random_state=0
        ).fit(X, y)
        for alpha in (0.0, 50.0)
    }
    net = fits[50.0].net_
    decayed = [g for g in net.optimizer_.param_groups if g["weight_decay"] > 0]
    assert len(decayed) == 1 and decayed[0]["weight_decay"] == 50.0 / 20
    assert [id(p) for p in decayed[0]["params"]] == [id(net.module_.weights)]
    norms = {a: sum((c**2).sum() for c in f.coefs_) for a, f in fits.items()}
    assert norms[50.0] < 0.5 * norms[0.0]


def batch_ready_net(**params):
    """A 4-6-3 net at r = 0.3, initialised, its history at a new batch."""
    from sk_adaprune._module import SoftMaskedMLP
    from sk_adaprune._training.net import PruningNet

    net = PruningNet(
        SoftMaskedMLP,
        torch.nn.CrossEntropyLoss,
        module__n_features=4,
        module__hidden_layer_sizes=[6],
        module__n_outputs=3,
        module__r_init=0.3,
        **params,
    ).initialize()
    net.history.new_epoch()
    net.history.new_batch()
    return net


@pytest.mark.parametrize("hardened", [False, True])
def test_training_loss_is_task_plus_pruning_plus_l2_terms(hardened):
    net = batch_ready_net(sparsity_penalty=3.0, alpha=50.0)
    if hardened:
        net.module_.harden()
    X = torch.tensor(np.random.default_rng(0).normal(size=(7, 4)), dtype=torch.float32)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    y_pred = net.module_(X)
    loss = net.get_loss(y_pred, y, X=X, training=True).item()
    task = torch.nn.functional.cross_entropy(y_pred, y).item()
    weights = net.module_.weights.detach().double()
    l2 = 0.5 * 50.0 * (weights @ weights).item() / 7  # MLPClassifier's alpha term
    # The pruning term is a constant once the mask is hardened, and left out.
    pruning = 0.0 if hardened else 3.0 * (1 - net.module_.ratio.item()) ** 2
    assert loss == pytest.approx(task + pruning + l2, rel=1e-6)
    assert net.history[-1, "batches", -1, "task_loss"] == pytest.approx(task)
    assert l2 > 1 and (hardened or pruning > 1)  # each term counts in the sum


def test_pruning_term_adds_its_closed_form_gradient_to_r():
    X = torch.tensor(np.random.default_rng(0).normal(size=(7, 4)))
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    gradients = {}
    for penalty in (0.0, 3.0):
        net = batch_ready_net(module__dtype=torch.float64, sparsity_penalty=penalty)
        net.train_step_single((X, y))
        gradients[penalty] = net.module_.ratio.grad.item()
    # d/dr of 3 (1 - r)^2 at r = 0.3, on top of the task's gradient through t
    assert gradients[3.0] - gradients[0.0] == pytest.approx(-2 * 3.0 * 0.7, rel=1e-12)
    assert gradients[0.0] != 0.0


@pytest.mark.parametrize("early_stopping", [False, True])
def test_a_fitted_net_clones_round_trips_and_refits_the_same(
    early_stopping, early_stopping_split, three_classes
):

    from sklearn.base import clone

    from sk_adaprune import AdaptivePrunedMLPClassifier

    X, y = three_classes(90)
    X = X.astype(np.float32)
    clf = AdaptivePrunedMLPClassifier(
        lambda_=5.0,
        max_iter=6,
        batch_size=20,
        early_stopping=early_stopping,
        random_state=0,
    ).fit(X, y)
    net = clf.net_
    params = net.get_params()
    # skorch takes names ending in "_" for state: the regulariser's is not.
    assert params["sparsity_penalty"] == 5.0
    assert not any(isinstance(v, (np.ndarray, torch.Tensor)) for v in params.values())
    twin = clone(net)
    assert twin.sparsity_penalty == 5.0
    # The twin fits the same data the same way: same seeds, a fresh shuffling
    # RandomState, the same penalty, and (early stopping) the same held-out
    # set, which travels in train_split.
    order = early_stopping_split["train"] if early_stopping else np.arange(90)
    twin.fit(torch.from_numpy(X[order]), torch.as_tensor(y[order]))
    twin.module_.harden()
    torch.testing.assert_close(
        twin.module_.weights, net.module_.weights, rtol=0, atol=0
    )
    np.testing.assert_array_equal(twin.history[:, "ratio"], net.history[:, "ratio"])
    if early_stopping:
        assert "valid_score" in twin.history[-1]
    # (skorch re-initialises the module when module parameters are set.)
    twin.set_params(**twin.get_params())
    assert twin.get_params()["sparsity_penalty"] == 5.0


def test_l2_gradient_uses_each_batchs_own_size_as_mlpclassifier(three_classes):
    # 47 rows in batches of 20: the last batch has 7 rows, and MLPClassifier
    # divides alpha's term and its gradient by the rows of the batch at hand.

    from sk_adaprune import AdaptivePrunedMLPClassifier

    X, y = three_classes(47)
    clf = AdaptivePrunedMLPClassifier(
        alpha=0.3, batch_size=20, max_iter=2, random_state=0
    ).fit(X, y)
    net = clf.net_
    assert net.weights_group_["weight_decay"] == pytest.approx(0.3 / 7)
    groups = {id(g["params"][0]): g for g in net.optimizer_.param_groups}
    assert groups[id(net.module_.weights)] is net.weights_group_
    assert groups[id(net.module_.ratio)]["lr"] == clf.lr_r
    assert groups[id(net.module_.temperature)]["lr"] == clf.lr_tau
    biases = groups[id(net.module_.biases[0])]
    assert biases["weight_decay"] == 0 and biases["lr"] == clf.learning_rate_init


def cubic_ceiling(step, begin, end, start):
    progress = min(1.0, max(0.0, (step - begin) / (end - begin)))
    return start + (1 - start) * (1 - (1 - progress) ** 3)


def test_the_ramp_holds_r_under_the_cubic_schedule_then_lets_it_go(three_classes):
    from sk_adaprune import AdaptivePrunedMLPClassifier

    X, y = three_classes(100)
    # A strong regulariser and a fast r: unbounded, r would rise at once.
    params = dict(
        lambda_=1000.0, lr_r=0.1, r_init=0.1, batch_size=20, max_iter=10,
        finetune_fraction=0, random_state=0,
    )  # fmt: skip
    free = AdaptivePrunedMLPClassifier(r_ramp=None, **params).fit(X, y)
    ramped = AdaptivePrunedMLPClassifier(r_ramp=(0.2, 0.8), **params).fit(X, y)
    # 5 steps an epoch, 50 in all: the ceiling holds r at r_init to step 10,
    # rises to 1 by step 40; epoch k ends at step 5k.
    start = float(np.float32(0.1))
    ceilings = [cubic_ceiling(5 * k, 10, 40, start) for k in range(1, 11)]
    ratios = ramped.pruning_history_["ratio"]
    assert free.pruning_history_["ratio"][0] > 0.5
    np.testing.assert_allclose(ratios[:2], start, rtol=1e-6)
    # r rides the ceiling while it binds, and is free once it has reached 1.
    np.testing.assert_allclose(ratios[2:6], ceilings[2:6], rtol=1e-6)
    assert ramped.net_.ratio_ceiling(40) == 1.0
    assert ramped.learned_ratio_ == pytest.approx(free.learned_ratio_, abs=0.02)


@pytest.mark.parametrize(
    "lr_r, ramp, gradient", [(0.1, (5, 38), "masked"), (1e-3, (25, 48), "full")]
)
def test_auto_ramp_only_on_fits_where_r_could_outrun_the_weights(
    lr_r, ramp, gradient, three_classes
):
    from sk_adaprune import AdaptivePrunedMLPClassifier

    X, y = three_classes(100)
    # 50 steps: lr_r=0.1 lets r climb 5 times over (a long fit: the ramp
    # spans steps 5..38); lr_r=1e-3 cannot climb far (a short fit: the ramp
    # spans steps 25..48).
    clf = AdaptivePrunedMLPClassifier(
        r_ramp="auto", lr_r=lr_r, batch_size=20, max_iter=10, random_state=0
    ).fit(X, y)
    assert clf.net_.ratio_ramp == ramp
    assert clf.initial_ratio_ == 0.0
    # weight_gradient='auto' goes by the same rule.
    assert clf.net_.module_.weight_gradient == gradient


def test_weight_gradient_reaches_the_module_and_changes_the_fit(three_classes):
    from sk_adaprune import AdaptivePrunedMLPClassifier

    X, y = three_classes(100)
    params = dict(lr_r=0.1, batch_size=20, max_iter=10, tol=0, random_state=0)
    fits = {
        gradient: AdaptivePrunedMLPClassifier(weight_gradient=gradient, **params).fit(
            X, y
        )
        for gradient in ("auto", "masked", "full")
    }
    for gradient in ("masked", "full"):
        assert fits[gradient].net_.module_.weight_gradient == gradient
    assert fits["auto"].loss_curve_ == fits["masked"].loss_curve_
    assert fits["masked"].loss_curve_ != fits["full"].loss_curve_


def test_loss_curve_is_mlpclassifiers_loss_and_the_pruning_term_is_kept_apart(
    digits_split,
):
    from sklearn.neural_network import MLPClassifier

    from sk_adaprune import AdaptivePrunedMLPClassifier

    X, _, y, _ = digits_split
    params = dict(max_iter=10, random_state=0)
    # A huge tol: the rule starts the phase after epoch 4 (epochs 5-7 in it).
    clf = AdaptivePrunedMLPClassifier(
        finetune_fraction=0.3, tol=10.0, n_iter_no_change=2, **params
    ).fit(X, y)
    mlp = MLPClassifier(**params).fit(X, y)
    history = clf.pruning_history_
    # Same quantity as MLPClassifier's (task + L2): the first epochs agree to
    # the spread of two initialisations; the total with lambda_ (1-r)^2 = 10
    # (1-0.5)^2 on top would be about 2.5 higher.
    assert abs(clf.loss_curve_[0] - mlp.loss_curve_[0]) < 0.3
    assert clf.loss_ == clf.loss_curve_[-1] and clf.best_loss_ == min(clf.loss_curve_)
    # The total is the sum, to float32 round-off (it is summed in float32).
    np.testing.assert_allclose(
        history["loss"], np.asarray(clf.loss_curve_) + history["pruning_loss"], 1e-6
    )
    pruning = history["finetuning"] == 0
    assert pruning.sum() == 4 and (~pruning).sum() == 3
    ratio = np.concatenate([[clf.initial_ratio_], history["ratio"]])
    # Each pruning epoch's term lies between lambda_ (1 - r)^2 at its ends.
    ends = 10.0 * (1 - ratio) ** 2
    assert np.all(history["pruning_loss"][pruning] <= ends[:-1][pruning] + 1e-6)
    assert np.all(history["pruning_loss"][pruning] >= ends[1:][pruning] - 1e-6)
    assert np.all(history["pruning_loss"][~pruning] == 0)


@pytest.mark.parametrize("hardened", [False, True])
def test_copied_state_equals_a_deep_copy_and_shares_no_memory(hardened):
    from sk_adaprune._module import SoftMaskedMLP
    from sk_adaprune._training.callbacks import copied_state

    module = SoftMaskedMLP(4, [6], 3, r_init=0.4)
    if hardened:
        module.harden()
    state = module.state_dict()
    copied = copied_state(module)
    assert copied.keys() == state.keys()
    for name, value in state.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(copied[name], value)
            assert copied[name].data_ptr() != value.data_ptr()
    extra, original = copied["_extra_state"], state["_extra_state"]
    assert extra["hardened_threshold"] == original["hardened_threshold"]
    if hardened:
        assert torch.equal(extra["hard_mask"], original["hard_mask"])
        assert extra["hard_mask"].data_ptr() != original["hard_mask"].data_ptr()
    else:
        assert extra["hard_mask"] is None
    before = module.weights.detach().clone()
    with torch.no_grad():
        module.weights.add_(1.0)  # training goes on: the copy stays as it was
    module.load_state_dict(copied)
    assert torch.equal(module.weights, before)


@pytest.mark.parametrize("on_train", [True, False])
def test_batch_means_record_what_passthrough_scoring_records(on_train):
    from types import SimpleNamespace

    from skorch.callbacks import PassthroughScoring
    from skorch.history import History

    from sk_adaprune._training.callbacks import BatchMeans
    from sk_adaprune._training.net import EpochHistory

    ours, other = ("train", "valid") if on_train else ("valid", "train")
    records = {}
    for make in ("ours", "skorch"):
        net = SimpleNamespace(history=EpochHistory() if make == "ours" else History())
        names = ("task_loss", "pruning_loss")
        if make == "ours":
            callbacks = [BatchMeans(names, on_train=on_train).initialize()]
        else:
            callbacks = [
                PassthroughScoring(name, on_train=on_train).initialize()
                for name in names
            ]
        rng = np.random.default_rng(0)
        for _ in range(3):
            net.history.new_epoch()
            # more than 8 batches: numpy sums those pairwise, not in turn
            for rows in (200,) * 11 + (37,):
                net.history.new_batch()
                net.history.record_batch(f"{ours}_batch_size", rows)
                net.history.record_batch("task_loss", rng.random())
                net.history.record_batch("pruning_loss", rng.random())
            net.history.new_batch()  # a batch of the other kind, not averaged
            net.history.record_batch(f"{other}_batch_size", 50)
            net.history.record_batch("task_loss", 100.0)
            for callback in callbacks:
                callback.on_epoch_end(net)
        records[make] = [
            {k: v for k, v in e.items() if k != "batches"} for e in net.history
        ]
    assert records["ours"] == records["skorch"]
    assert records["ours"][0]["task_loss_best"] is True
    assert 0.0 < records["ours"][0]["task_loss"] < 1.0


def test_epoch_history_reads_a_row_without_copying_the_epochs(monkeypatch):
    from skorch.history import History

    from sk_adaprune._training.net import EpochHistory

    histories = []
    for history in (EpochHistory(), History()):
        for epoch in range(3):
            history.new_epoch()
            history.record("epoch", epoch + 1)
            history.new_batch()
            history.record_batch("train_loss", 0.5 / (epoch + 1))
        histories.append(history)
    ours, skorchs = histories
    assert ours[-1] is list.__getitem__(ours, -1)
    assert ours[0] == skorchs[0] and ours[-2] == skorchs[-2]
    assert ours[:, "epoch"] == skorchs[:, "epoch"] == [1, 2, 3]
    last_loss = (-1, "batches", -1, "train_loss")
    assert ours[last_loss] == skorchs[last_loss] == 0.5 / 3

    def copy_of_every_epoch(self):
        raise AssertionError("history[-1] copied the list of epochs")

    monkeypatch.setattr(History, "to_list", copy_of_every_epoch)
    ours.record("dur", 0.1)
    ours.new_batch()
    ours.record_batch("train_loss", 0.1)
    assert ours[-1]["dur"] == 0.1 and len(ours[-1]["batches"]) == 2
    with pytest.raises(AssertionError, match="copied"):
        skorchs.record("dur", 0.1)


def test_nets_record_the_epoch_losses_in_an_epoch_history(three_classes):
    from sk_adaprune import AdaptivePrunedMLPClassifier
    from sk_adaprune._training.net import EpochHistory

    X, y = three_classes(300)
    est = AdaptivePrunedMLPClassifier(max_iter=3, early_stopping=True).fit(X, y)
    history = est.net_.history
    assert isinstance(history, EpochHistory)
    for epoch in history:
        for name in ("train_loss", "valid_loss"):
            kind = name.split("_")[0]
            batches = [b for b in epoch["batches"] if f"{kind}_batch_size" in b]
            rows = [b[f"{kind}_batch_size"] for b in batches]
            expected = np.average([b[name] for b in batches], weights=rows)
            assert epoch[name] == expected


def test_nets_call_only_the_hooks_their_callbacks_define(monkeypatch, three_classes):
    from skorch.callbacks import Callback

    from sk_adaprune import AdaptivePrunedMLPClassifier

    def base_hook_called(self, net, **kwargs):
        raise AssertionError(f"{type(self).__name__}'s no-op hook was called")

    # Every callback of a fit inherits Callback's on_grad_computed.
    monkeypatch.setattr(Callback, "on_grad_computed", base_hook_called)
    X, y = three_classes(60)
    net = AdaptivePrunedMLPClassifier(max_iter=2).fit(X, y).net_
    assert len(net.history) == 2 and "train_loss" in net.history[-1]
    assert not [name for name in net.get_params() if "listen" in name]

    class Counting(Callback):
        def __init__(self):
            self.calls = 0

        def on_batch_end(self, net, **kwargs):
            self.calls += 1

    counting = Counting()
    net.callbacks_.append(("counting", counting))  # a change in place
    net.notify("on_batch_end", training=False)
    net.notify("on_grad_computed", named_parameters=[])
    assert counting.calls == 1


def test_a_train_step_reports_the_gradients_then_steps(three_classes):
    from skorch.callbacks import Callback

    from sk_adaprune import AdaptivePrunedMLPClassifier

    X, y = three_classes(60)
    net = AdaptivePrunedMLPClassifier(max_iter=1).fit(X, y).net_

    class Gradients(Callback):
        def on_grad_computed(self, net, named_parameters, **kwargs):
            self.seen = {
                name: p.grad.clone()
                for name, p in named_parameters
                if p.grad is not None
            }

    heard = Gradients()
    net.callbacks_.append(("gradients", heard))
    net.module_.eval()  # as validation leaves it
    before = net.module_.weights.detach().clone()
    steps = net.train_steps_
    batch = (torch.from_numpy(X), torch.from_numpy(y))
    step = net.train_step(batch)
    assert net.module_.training and net.train_steps_ == steps + 1
    # the fit ends hardened: r and tau have no gradient any more
    assert net.module_.hardened and set(heard.seen) == {
        "weights",
        "biases.0",
        "biases.1",
    }
    assert heard.seen["weights"].abs().sum() > 0
    assert not torch.equal(net.module_.weights.detach(), before)
    assert step["y_pred"].shape == (60, 3) and step["loss"].requires_grad
