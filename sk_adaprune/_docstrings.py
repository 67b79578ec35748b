"""Docstring sections the classifier and the regressor share.

The two estimators take the same parameters and set the same fitted
attributes except where the task differs (early stopping's score and split,
the output activation, the classes); each docstring writes those itself and
takes the rest from here through :func:`fill_docstring`, so the two cannot
drift apart. numpydoc's validation (``tests/test_docstrings.py``) checks the result
against the signatures.
"""

import textwrap

__all__ = ["fill_docstring"]

METHOD = """\
While it trains, every weight is multiplied by a soft mask
``sigmoid((w^2 - t^2) / tau)``, where the threshold ``t`` is the
``r``-quantile of all weight magnitudes. The pruning ratio ``r`` and the
temperature ``tau`` are trained with the weights, and the loss gets
``lambda_ * (1 - r)^2``, so ``lambda_`` trades accuracy for sparsity. After
``fit`` pruned weights are exact zeros. With ``prune='neurons'`` the pool is
the hidden units instead: a unit's score is the L2 norm of its incoming
weights, the mask multiplies its output, and after ``fit`` the pruned units
are gone from ``coefs_``.
"""

PARAMETERS_BEFORE_EARLY_STOPPING = """\
hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
    The ith element is the number of neurons in the ith hidden layer.
activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
    Activation function of the hidden layers.
alpha : float, default=1e-4
    Strength of the L2 penalty on the weights, as in MLPClassifier.
batch_size : int or 'auto', default='auto'
    Mini-batch size; 'auto' means ``min(200, n_samples)``.
learning_rate_init : float, default=1e-3
    Adam's learning rate for the weights and biases.
max_iter : int, default=200
    Maximum number of epochs.
shuffle : bool, default=True
    Whether to shuffle the samples in each epoch.
random_state : int, RandomState instance or None, default=None
    Seeds weight initialisation, shuffling and the early-stopping split.
    The initial weights are MLPClassifier's: its first draws from
    ``check_random_state(random_state)``, in its order. With an int, two
    fits on CPU are bitwise identical.
tol : float, default=1e-4
    Tolerance of the stopping rule.
verbose : bool or int, default=False
    0: silent; 1: a table row per epoch (the total loss, the task loss,
    MLPClassifier's loss, the pruning term, ``r``, ``tau``, threshold,
    sparsity, validation score, seconds; coloured only on a terminal
    without ``NO_COLOR``); 2: also a progress bar over each epoch's
    batches.
warm_start : bool, default=False
    Whether ``fit`` continues the fitted network, as MLPClassifier's does:
    the weights, biases, ``r`` and ``tau`` go on from the fitted values
    (the mask is soft again until the fit hardens it; pruned weights start
    as zeros), ``loss_curve_``, ``validation_scores_`` and
    ``pruning_history_`` go on growing, ``n_iter_`` counts this call's
    epochs, and Adam's moments start afresh. ``r_init`` and ``r_ramp`` do
    not apply. A loaded model continues as well. A different
    ``hidden_layer_sizes``, number of features, class set or number of
    outputs raises a ``ValueError``.
"""

PARAMETERS_AFTER_EARLY_STOPPING = """\
validation_fraction : float, default=0.1
    Fraction of the data held out for early stopping.
beta_1 : float in [0, 1), default=0.9
    Adam's decay rate of the first moment estimates, shared by all
    parameter groups.
beta_2 : float in [0, 1), default=0.999
    Adam's decay rate of the second moment estimates.
epsilon : float > 0, default=1e-8
    Adam's value for numerical stability.
n_iter_no_change : int, default=10
    Epochs without ``tol`` improvement before stopping.
r_init : float in [0, 1) or 'auto', default='auto'
    Initial pruning ratio ``r``. 'auto' starts at 0 (dense): none of the
    random initial weights is masked, and ``r`` rises by up to about
    ``lr_r`` per step to where ``lambda_`` puts it (within ``r_ramp``'s
    ceiling). ``r`` is
    a parameter in X's dtype and ``floor(r * n)`` of the ``n`` weights
    are pruned, with ``r`` rounded to that dtype first: on float32 X
    ``r_init=0.7`` prunes 6 of 10 weights (float32's 0.7 is 0.69999999),
    on float64 X 7 of 10.
r_ramp : (float, float), 'auto' or None, default='auto'
    ``(begin, end)`` as fractions of the fit's steps (``max_iter`` times
    the mini-batches per epoch): a ceiling on ``r`` that holds it at its
    initial value until ``begin`` and rises to 1 along gradual magnitude
    pruning's cubic schedule (Zhu & Gupta 2017) by ``end``, after which
    ``r`` is free. ``r`` is still learned; the ceiling keeps it from
    pruning weights before they have trained. While the ceiling holds
    ``r`` at 0 the mask is off and the steps train the dense network
    (at ``r = 0`` the soft mask would still scale the smallest weights by
    about a half). 'auto' is ``(0.1, 0.75)``
    on fits with the steps for ``r`` to climb far (``max_iter * n_batches
    * lr_r >= 3``, ``n_batches`` the mini-batches per epoch) and
    ``(0.5, 0.95)`` on shorter ones, still far from converged when pruning
    would start; None on such a shorter fit with ``early_stopping=True``,
    whose length is unknown (``r`` then climbs from 0 by at most about
    ``lr_r`` a step). None: no ceiling.
tau_init : float > 0, default=1e-2
    Initial temperature as a multiple of the weights' standard deviation.
lambda_ : float >= 0, default=10.0
    Weight of the sparsity regulariser ``lambda_ * (1 - r)^2``; larger
    values prune more. With 0 only the task loss moves ``r``: it falls a
    few points while that loss is high, then creeps up once it is small,
    so a fit still prunes (for no pruning, ``r_init=0, lr_r=0``).
lr_r : float >= 0, default=1e-3
    Adam's learning rate for ``r``; 0 freezes it (fixed-ratio pruning).
lr_tau : float >= 0, default=1e-6
    Adam's learning rate for ``tau``.
tau_min : float > 0, default=1e-6
    Lower bound the temperature is clamped to after every step.
kde_grid_size : int, default=1024
    Grid points of the density estimate behind ``dt/dr``. Networks of at
    most 20,000 weights, trained on the CPU, sum the estimate at the
    threshold over the weights instead and use the grid only to floor its
    bandwidth at half a bin.
weight_gradient : {'auto', 'masked', 'full'}, default='auto'
    The weights' gradient through the soft mask ``m``, with ``g`` the
    loss's gradient with respect to the masked weight ``w * m``:
    'masked' is ``m * g``, the mask held constant in ``w`` as a
    magnitude-pruning mask is; 'full' is the thesis's eq. 2.3, ``m * g +
    (2 w^2 / tau) m (1 - m) g``, whose second term pushes the weights
    near the threshold. ``r`` and ``tau`` get the thesis's gradients
    either way. 'auto' is 'masked' on fits with the steps for ``r`` to
    climb far (see ``r_ramp``) and 'full' on shorter ones, where it lets
    weights near the threshold grow back (README, "Why these defaults").
    With ``prune='neurons'``: whether the weights get the unit mask's
    slope through their unit's score ('full') or not.
prune : {'weights', 'neurons'}, default='weights'
    What the learned ratio prunes. 'weights': single weights, ``t`` the
    ``r``-quantile of all weight magnitudes. 'neurons': whole hidden
    units, ``t`` the ``r``-quantile of the units' scores ``s_j``, the L2
    norms of their incoming weights, over the hidden units of all layers;
    the mask ``sigmoid((s_j^2 - t^2) / tau)`` multiplies the unit's
    output, and after ``fit`` the pruned units are removed: ``coefs_``
    have fewer columns and rows, ``learned_sparsity_`` counts their
    weights as pruned. The strongest unit of every hidden layer is never
    in the pool, so no layer loses all its units. ``warm_start`` and
    ``partial_fit`` go on with the network as fitted, with the units it
    kept (and may prune more of them).
finetune_fraction : float in [0, 1), default=0.2
    Share of ``max_iter`` spent in the fine-tuning phase that ends the
    fit: ``floor(finetune_fraction * max_iter)`` epochs in which ``r``
    and ``tau`` are frozen, the mask is hard (pruned weights are exact
    zeros and stay zero) and Adam trains the surviving weights and
    biases on the task loss alone (plus ``alpha``'s L2 term), with no
    threshold, density or soft mask. The phase is due that many epochs
    before ``max_iter`` and starts at the first epoch end from then on
    where ``r`` has settled: over the last epochs (at least 500 steps)
    it moved by at most ``0.05 * lr_r`` per step on average (Adam moves
    it by up to about ``lr_r``). An ``r`` still climbing keeps pruning,
    so a fit with too few steps for ``r`` to settle ends as without the
    phase. The phase also starts, earlier, when the stopping rule
    (``tol``, ``n_iter_no_change``, or the validation score with
    ``early_stopping``) first finds no improvement; it then lasts at most
    that many epochs, and the same rule, applied afresh to the phase, may
    end it sooner. With early stopping the state restored is the best
    hardened one. 0 disables the phase: the mask stays soft until fit
    ends.
device : str, default='cpu'
    Torch device to train on, e.g. 'cuda'. Predictions always run on the
    CPU from ``coefs_``.
"""

ATTRIBUTES_OF_TRAINING = """\
n_features_in_ : int
    Number of features seen during fit.
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Feature names, when X has string column names.
n_iter_ : int
    Number of epochs run.
loss_curve_ : list of float
    MLPClassifier's training loss per epoch: the task loss plus ``alpha``'s
    L2 term, without the pruning term (both are in ``pruning_history_``).
    Without early stopping the stopping rule watches the total,
    ``pruning_history_["loss"]``.
loss_ : float
    The last epoch's value of ``loss_curve_``.
best_loss_ : float or None
    Minimum of ``loss_curve_``; None with early stopping.
"""

ATTRIBUTES_OF_THE_NETWORK = """\
coefs_ : list of ndarray of shape (n_in, n_out)
    Hard-masked weight matrices; pruned weights are exactly 0. In the dtype
    of X at fit (float32 or float64), the one training computed in, as
    MLPClassifier's (a warm start or ``partial_fit`` goes on in it).
intercepts_ : list of ndarray of shape (n_out,)
    Bias vectors (never pruned), in ``coefs_``' dtype.
sparse_coefs_ : list of scipy.sparse.csr_matrix
    ``coefs_`` as CSR matrices of the non-zero weights (made on access).
n_layers_ : int
    Number of layers, input and output included.
n_outputs_ : int
    Number of output units.
"""

ATTRIBUTES_OF_PRUNING = """\
learned_sparsity_ : float
    Fraction of the network's weights that are pruned after fit: exactly
    0 in ``coefs_``, or (``prune='neurons'``) gone with their unit.
learned_ratio_ : float
    Final pruning ratio ``r``.
initial_ratio_ : float
    The ``r`` the fit started from (``r_init``, or what 'auto' chose).
temperature_ : float
    Final temperature ``tau``.
threshold_ : float
    Final threshold ``t``; weights with ``|w| < t`` (units with ``s_j <
    t``) were pruned.
layer_sparsity_ : ndarray of shape (`n_layers_` - 1,)
    Fraction of each layer's weights that are pruned.
unit_sparsity_ : ndarray of shape (`n_layers_` - 2,)
    Fraction of each hidden layer's units that the fitted network does
    without: the pruned units (``prune='neurons'``) and those left dead,
    which ``compact_`` drops.
pruning_history_ : dict of ndarray
    Per-epoch ``loss`` (the total Adam minimises: task, pruning and L2
    terms), ``task_loss``, ``pruning_loss`` (``lambda_ * (1 - r)^2``, 0 in
    the fine-tuning phase), ``ratio``, ``temperature``, ``threshold``,
    ``sparsity``, ``finetuning`` (1 for the epochs of the fine-tuning
    phase, else 0) and, with early stopping, ``validation_score``.
net_ : skorch.NeuralNet or None
    The trained skorch net holding the hardened torch module (in
    ``coefs_``' dtype, without gradients or the optimizer's state); None
    after unpickling or ``load``.
used_features_ : ndarray of int
    Indices of the input features that kept at least one weight.
compact_ : CompactNetwork
    The pruned network without dead units, which predictions run on
    (in ``coefs_``' dtype; a layer that lost no unit is ``coefs_``'s own
    array, and layers at most 15% dense are also kept as CSR).
"""


PARTIAL_FIT = """\
One epoch over ``X`` in mini-batches of ``batch_size``, as MLPClassifier's
``partial_fit``, for data that arrive in chunks or do not fit in memory.
The network, ``r``, ``tau`` and Adam's moments go on from the previous
call; the mask stays soft for training, and after every call the fitted
attributes and predictions are those of the hard mask at the current ``r``
(``|w| >= t``: pruned weights are zeros in ``coefs_``). There is no ramp
and no fine-tuning phase (the number of steps to come is unknown):
``r_init='auto'`` starts at 0, ``r`` climbing by at most about ``lr_r`` a
step, and ``weight_gradient='auto'`` is 'full'. After ``fit``, a load or
unpickling, the next call goes on from
the fitted attributes with a new Adam. ``n_iter_`` is 1 (the call's
epochs), ``loss_curve_`` grows by one per call.
"""

SAMPLE_WEIGHT = """\
sample_weight : array-like of shape (n_samples,), default=None
    Sample weights, as in MLPClassifier: each batch's task loss is its
    rows' weighted mean and ``alpha``'s term is divided by the batch's sum
    of weights; with early stopping the held-out score is weighted too.
    Weights must be finite and non-negative; rows of weight 0 are left out,
    exactly as if they were not in ``X``. None: all rows weigh 1 (the same
    fit, bit for bit).
"""

_SECTIONS = {
    "PARTIAL_FIT": PARTIAL_FIT,
    "SAMPLE_WEIGHT": SAMPLE_WEIGHT,
    "METHOD": METHOD,
    "PARAMETERS_BEFORE_EARLY_STOPPING": PARAMETERS_BEFORE_EARLY_STOPPING,
    "PARAMETERS_AFTER_EARLY_STOPPING": PARAMETERS_AFTER_EARLY_STOPPING,
    "ATTRIBUTES_OF_TRAINING": ATTRIBUTES_OF_TRAINING,
    "ATTRIBUTES_OF_THE_NETWORK": ATTRIBUTES_OF_THE_NETWORK,
    "ATTRIBUTES_OF_PRUNING": ATTRIBUTES_OF_PRUNING,
}


def _without(section: str, *names: str) -> str:
    """``section`` (numpydoc parameter entries) without the entries ``names``."""
    kept, skipping = [], False
    for line in section.split("\n"):
        if line and not line.startswith(" "):  # an entry's first line
            skipping = line.split(" :")[0] in names
        if not skipping:
            kept.append(line)
    return "\n".join(kept)


# The CV estimators take every parameter but the one they search and
# warm_start.
_SECTIONS["CV_PARAMETERS_BEFORE_EARLY_STOPPING"] = _without(
    PARAMETERS_BEFORE_EARLY_STOPPING, "warm_start"
)
_SECTIONS["CV_PARAMETERS_AFTER_EARLY_STOPPING"] = _without(
    PARAMETERS_AFTER_EARLY_STOPPING, "lambda_"
)


def fill_docstring(cls):
    """Class decorator: each line ``<NAME>`` of the class's docstring, and
    of its own methods' docstrings, becomes the shared section ``NAME``,
    indented as the line is."""
    cls.__doc__ = _filled(cls.__doc__)
    for member in vars(cls).values():
        # A decorated method's wrapper holds a copy of the docstring.
        for function in (member, getattr(member, "__wrapped__", None)):
            if callable(function) and function.__doc__ and "<" in function.__doc__:
                function.__doc__ = _filled(function.__doc__)
    return cls


def _filled(doc: str) -> str:
    lines = []
    for line in doc.split("\n"):
        name = line.strip()
        if name.startswith("<") and name.endswith(">") and name[1:-1] in _SECTIONS:
            indent = line[: len(line) - len(line.lstrip())]
            lines.append(textwrap.indent(_SECTIONS[name[1:-1]], indent).rstrip("\n"))
        else:
            lines.append(line)
    return "\n".join(lines)
