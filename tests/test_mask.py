import numpy as np
import pytest
import torch

from sk_adaprune._method import mask as mask_module
from sk_adaprune._method.mask import masked_weight, soft_mask

COMPILED = mask_module._compiled_forward is not None


@pytest.fixture(params=["compiled", "torch"])
def route(request, monkeypatch):
    """Each test of the mask on both routes: the compiled kernels (where the
    package was built with them) and the torch fallback."""
    if request.param == "compiled" and not COMPILED:
        pytest.skip("the package was built without its C kernels")
    if request.param == "torch":
        monkeypatch.setattr(mask_module, "_compiled_forward", None)
    return request.param


def float64_inputs(seed=0, shape=(30, 20)):
    generator = torch.Generator().manual_seed(seed)
    weight = (
        0.1 * torch.randn(shape, generator=generator, dtype=torch.float64)
    ).requires_grad_()
    threshold = torch.tensor(0.07, dtype=torch.float64, requires_grad=True)
    temperature = torch.tensor(2e-3, dtype=torch.float64, requires_grad=True)
    return weight, threshold, temperature


def gradients(function, inputs, upstream):
    for tensor in inputs:
        tensor.grad = None
    output = function(*inputs)
    (output * upstream).sum().backward()
    return output.detach(), [tensor.grad.clone() for tensor in inputs]


def reference(weight, threshold, temperature):
    return weight * soft_mask(weight, threshold, temperature)


@pytest.mark.parametrize("seed", range(5))
def test_fused_mask_equals_autograd_of_the_definition(seed, route):
    inputs = float64_inputs(seed)
    upstream = torch.randn(inputs[0].shape, dtype=torch.float64)
    fused_value, fused_grads = gradients(masked_weight, inputs, upstream)
    value, grads = gradients(reference, inputs, upstream)
    torch.testing.assert_close(fused_value, value, rtol=0, atol=1e-15)
    for fused, expected in zip(fused_grads, grads):
        torch.testing.assert_close(fused, expected, rtol=1e-12, atol=1e-12)


def masked_reference(weight, threshold, temperature):
    """``w * m`` with the mask held constant in ``w`` (not in ``t``, ``tau``)."""
    return weight * soft_mask(weight.detach(), threshold, temperature)


@pytest.mark.parametrize("seed", range(3))
def test_masked_weight_gradient_drops_the_masks_slope_in_w_only(seed, route):
    inputs = float64_inputs(seed)
    upstream = torch.randn(inputs[0].shape, dtype=torch.float64)

    def fused(*args):
        return masked_weight(*args, weight_gradient="masked")

    value, (grad_w, grad_t, grad_tau) = gradients(fused, inputs, upstream)
    expected_value, expected = gradients(masked_reference, inputs, upstream)
    _, full = gradients(reference, inputs, upstream)
    torch.testing.assert_close(value, expected_value, rtol=0, atol=1e-15)
    # dL/dw = m g; t and tau keep the thesis's gradients.
    mask = soft_mask(*inputs).detach()
    torch.testing.assert_close(grad_w, mask * upstream, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_w, expected[0], rtol=1e-12, atol=1e-12)
    for got, thesis in ((grad_t, full[1]), (grad_tau, full[2])):
        torch.testing.assert_close(got, thesis, rtol=1e-12, atol=1e-12)
    # The inputs put weights near the threshold: the two modes differ there.
    assert (grad_w - full[0]).abs().max() > 1e-3


def test_unknown_weight_gradient_is_refused():
    with pytest.raises(ValueError, match="weight_gradient must be one of"):
        masked_weight(*float64_inputs(), weight_gradient="straight")


def test_fused_mask_passes_gradcheck_and_gradgradless_use(route):
    inputs = float64_inputs(shape=(6, 5))
    with torch.no_grad():
        inputs[2].fill_(0.05)  # a temperature that keeps the finite differences smooth
    assert torch.autograd.gradcheck(masked_weight, inputs)


def test_soft_mask_passes_gradcheck():
    torch.manual_seed(1)
    weight = torch.randn(20, dtype=torch.float64, requires_grad=True)
    threshold = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    temperature = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(soft_mask, (weight, threshold, temperature))


def test_soft_mask_stays_finite_in_unit_interval_at_tiny_temperature():
    weight = torch.linspace(-1, 1, 1001)
    mask = soft_mask(weight, torch.tensor(0.5), torch.tensor(1e-6))
    assert torch.isfinite(mask).all()
    assert mask.min() >= 0 and mask.max() <= 1
    assert torch.equal(mask.round(), (weight.abs() > 0.5).float())


def test_fused_mask_in_float32_matches_the_definition(route):
    weight = torch.randn(100, 50) * 0.05
    threshold, temperature = torch.tensor(0.03), torch.tensor(1e-4)
    np.testing.assert_allclose(
        masked_weight(weight, threshold, temperature).numpy(),
        reference(weight, threshold, temperature).numpy(),
        rtol=1e-6,
        atol=1e-9,
    )


def test_scratch_buffers_give_the_same_values_and_gradients(monkeypatch):
    # The torch route keeps the mask in the scratch buffers; the compiled one
    # keeps nothing (it recomputes the mask in the backward pass).
    monkeypatch.setattr(mask_module, "_compiled_forward", None)
    from sk_adaprune._method.workspace import Scratch

    inputs = float64_inputs(3)
    upstream = torch.randn(inputs[0].shape, dtype=torch.float64)
    scratch = Scratch()

    def with_scratch(*args):
        return masked_weight(*args, scratch=scratch, name="layer")

    for _ in range(2):  # the second step reuses the buffers
        value, grads = gradients(with_scratch, inputs, upstream)
    expected_value, expected_grads = gradients(masked_weight, inputs, upstream)
    torch.testing.assert_close(value, expected_value, rtol=0, atol=0)
    for got, expected in zip(grads, expected_grads):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_backward_through_overwritten_scratch_buffers_raises(monkeypatch):
    monkeypatch.setattr(mask_module, "_compiled_forward", None)
    from sk_adaprune._method.workspace import Scratch

    weight, threshold, temperature = float64_inputs(4)
    scratch = Scratch()
    first = masked_weight(weight, threshold, temperature, scratch, "layer")
    masked_weight(weight * 2, threshold, temperature, scratch, "layer")
    with pytest.raises(RuntimeError, match="overwritten by another forward"):
        first.sum().backward()


def test_second_backward_through_scratch_buffers_raises(monkeypatch):
    monkeypatch.setattr(mask_module, "_compiled_forward", None)
    from sk_adaprune._method.workspace import Scratch

    weight, threshold, temperature = float64_inputs(4)
    masked = masked_weight(weight, threshold, temperature, Scratch(), "layer")
    masked.sum().backward(retain_graph=True)  # the mask buffer now holds the slope
    with pytest.raises(RuntimeError, match="or backward pass"):
        masked.sum().backward()


@pytest.mark.parametrize(
    "dtype, size",
    [(torch.float64, 3000), (torch.float32, 3000), (torch.float32, 25_000)],
)
@pytest.mark.parametrize("weight_gradient", ["masked", "full"])
def test_pruned_weight_is_the_mask_at_the_quantile_threshold_bit_for_bit(
    dtype, size, weight_gradient, route
):
    from sk_adaprune._method.mask import pruned_weight
    from sk_adaprune._method.threshold import SMALL_POOL, quantile_threshold
    from sk_adaprune._method.workspace import Scratch

    generator = torch.Generator().manual_seed(size)
    values = 0.1 * torch.randn(size, generator=generator)
    upstream = torch.randn(size, generator=generator).to(dtype)
    results = []
    for fused in (True, False):  # both sides: the host route and the binned one
        weight = values.to(dtype).requires_grad_()
        ratio = torch.tensor(0.7, dtype=dtype, requires_grad=True)
        temperature = torch.tensor(2e-3, dtype=dtype, requires_grad=True)
        scratch = Scratch()
        for _ in range(2):  # the second step reuses the scratch buffers
            for tensor in (weight, ratio, temperature):
                tensor.grad = None
            if fused:
                out = pruned_weight(
                    weight, ratio, temperature, 1024, scratch, weight_gradient
                )
            else:
                t = quantile_threshold(weight.detach(), ratio, 1024, scratch)
                out = masked_weight(
                    weight, t, temperature, scratch, weight_gradient=weight_gradient
                )
            (out * upstream).sum().backward()
        grads = [tensor.grad for tensor in (weight, ratio, temperature)]
        results.append((out.detach(), *grads))
    for fused, separate in zip(*results):
        assert torch.equal(fused, separate)
    assert results[0][1].abs().sum() > 0 and results[0][2] != 0
    assert (size > SMALL_POOL) == (size == 25_000)


def test_pruned_weight_with_a_frozen_ratio_has_no_ratio_gradient(route):
    from sk_adaprune._method.mask import pruned_weight
    from sk_adaprune._method.threshold import exact_threshold

    weight, _, temperature = float64_inputs(5)
    ratio = torch.tensor(0.5, dtype=torch.float64)
    out = pruned_weight(weight, ratio, temperature, weight_gradient="masked")
    expected = masked_weight(
        weight, exact_threshold(weight, 0.5), temperature, weight_gradient="masked"
    )
    assert torch.equal(out, expected)
    out.sum().backward()
    assert ratio.grad is None and temperature.grad is not None


def test_pruned_weight_refuses_an_unknown_weight_gradient():
    from sk_adaprune._method.mask import pruned_weight

    weight, _, temperature = float64_inputs(6)
    ratio = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match="weight_gradient must be one of"):
        pruned_weight(weight, ratio, temperature, weight_gradient="straight")


@pytest.mark.skipif(not COMPILED, reason="the package was built without its C kernels")
def test_compiled_mask_keeps_no_buffer_a_second_forward_could_overwrite():
    from sk_adaprune._method.workspace import Scratch

    weight, threshold, temperature = float64_inputs(4)
    scratch = Scratch()
    upstream = torch.randn(weight.shape, dtype=torch.float64)
    first = masked_weight(weight, threshold, temperature, scratch, "layer")
    masked_weight(weight * 2, threshold, temperature, scratch, "layer")
    (first * upstream).sum().backward()
    got = [tensor.grad.clone() for tensor in (weight, threshold, temperature)]
    _, expected = gradients(reference, (weight, threshold, temperature), upstream)
    for value, reference_value in zip(got, expected):
        torch.testing.assert_close(value, reference_value, rtol=1e-12, atol=1e-12)


def both_routes(monkeypatch, function):
    """``function()`` on the compiled route, then on the torch route."""
    compiled = function()
    with monkeypatch.context() as patch:
        patch.setattr(mask_module, "_compiled_forward", None)
        fallback = function()
    return compiled, fallback


@pytest.mark.skipif(not COMPILED, reason="the package was built without its C kernels")
@pytest.mark.parametrize("size", [1, 7, 1000, 10**6])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("weight_gradient", ["masked", "full"])
def test_compiled_mask_equals_the_torch_route(
    monkeypatch, size, dtype, weight_gradient
):
    generator = torch.Generator().manual_seed(size)
    values = 0.1 * torch.randn(size, generator=generator, dtype=torch.float64)
    upstream = torch.randn(size, generator=generator, dtype=torch.float64).to(dtype)
    # A threshold inside the pool and a temperature that leaves many weights
    # on the mask's slope, where every term of the gradients counts.
    threshold = torch.tensor(0.07, dtype=dtype, requires_grad=True)
    temperature = torch.tensor(2e-3, dtype=dtype, requires_grad=True)
    weight = values.to(dtype).requires_grad_()

    def step():
        for tensor in (weight, threshold, temperature):
            tensor.grad = None
        out = masked_weight(
            weight, threshold, temperature, weight_gradient=weight_gradient
        )
        (out * upstream).sum().backward()
        return [out.detach()] + [t.grad for t in (weight, threshold, temperature)]

    compiled, fallback = both_routes(monkeypatch, step)
    # float64 to round-off; float32 within a few units in the last place of
    # the largest term (the sums: relative to the sum of magnitudes).
    tolerance = 1e-13 if dtype == torch.float64 else 3e-6
    for got, expected in zip(compiled[:2], fallback[:2]):
        scale = expected.abs().max().item()
        torch.testing.assert_close(
            got, expected, rtol=0, atol=tolerance * max(scale, 1e-30)
        )
    w, g = values, upstream.double()
    mask = soft_mask(w, torch.tensor(0.07, dtype=torch.float64), torch.tensor(2e-3))
    mask = mask.double()
    slope_terms = (w * g * mask * (1 - mask)).abs().sum().item()
    logits = (w * w - 0.07**2) / 2e-3
    for got, expected, magnitude in (
        (compiled[2], fallback[2], slope_terms * 2 * 0.07 / 2e-3),
        (
            compiled[3],
            fallback[3],
            (w * g * mask * (1 - mask) * logits).abs().sum().item() / 2e-3,
        ),
    ):
        assert (
            abs(got.item() - expected.item())
            <= 4 * tolerance * float(magnitude) + 1e-300
        )
    assert compiled[1].dtype == dtype and compiled[2].shape == ()


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_pruned_weight_refuses_non_finite_weights_on_both_routes(route, value):
    from sk_adaprune._method.mask import pruned_weight
    from sk_adaprune._method.threshold import NonFiniteWeightsError

    for size in (7, 30_000):  # the host selection and the binned one
        weight = torch.linspace(-1, 1, size, dtype=torch.float32)
        weight[size // 3] = value
        weight.requires_grad_()
        ratio = torch.tensor(0.5, requires_grad=True)
        with pytest.raises(NonFiniteWeightsError, match="NaN or infinity"):
            pruned_weight(weight, ratio, torch.tensor(1e-3))


def test_masked_weight_propagates_nan_weights(route):
    weight = torch.linspace(-1, 1, 50, dtype=torch.float64)
    weight[10] = float("nan")
    out = masked_weight(
        weight,
        torch.tensor(0.5, dtype=torch.float64),
        torch.tensor(0.1, dtype=torch.float64),
    )
    assert torch.isnan(out[10]) and torch.isfinite(out[torch.arange(50) != 10]).all()


@pytest.mark.parametrize("frozen_ratio", [False, True])
def test_parts_are_the_split_of_the_whole_with_the_same_gradients(route, frozen_ratio):
    from sk_adaprune._method.mask import pruned_weight
    from sk_adaprune._method.workspace import Scratch

    sizes = [600, 0, 1000, 30]  # a zero-width layer too
    generator = torch.Generator().manual_seed(9)
    values = 0.1 * torch.randn(sum(sizes), generator=generator, dtype=torch.float64)
    upstream = torch.randn(sum(sizes), generator=generator, dtype=torch.float64)
    results = []
    for parts in (None, sizes):
        weight = values.clone().requires_grad_()
        ratio = torch.tensor(0.6, dtype=torch.float64, requires_grad=not frozen_ratio)
        temperature = torch.tensor(2e-3, dtype=torch.float64, requires_grad=True)
        out = pruned_weight(
            weight, ratio, temperature, 1024, Scratch(), "full", sizes=parts
        )
        if parts is not None:
            assert [part.numel() for part in out] == sizes
            out = torch.cat(out)
        (out * upstream).sum().backward()
        grads = [weight.grad, temperature.grad]
        results.append((out.detach(), *grads, ratio.grad))
    for whole, split in zip(results[0][:2], results[1][:2]):
        assert torch.equal(whole, split)
    # The sums behind dL/dtau and dL/dr are taken part by part: round-off.
    for whole, split in zip(results[0][2:], results[1][2:]):
        if frozen_ratio and whole is results[0][3]:
            assert whole is None and split is None
        else:
            torch.testing.assert_close(whole, split, rtol=1e-12, atol=0)


_WITHOUT_KERNELS = """
import sys
sys.modules["sk_adaprune._method._kernels"] = None  # as if never compiled
import numpy as np
from sklearn.datasets import load_digits
from sk_adaprune import AdaptivePrunedMLPClassifier
from sk_adaprune._method import density, mask, threshold

assert density.count_bins is None and threshold.window is None
assert mask._compiled_forward is None
X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
model = AdaptivePrunedMLPClassifier(max_iter=20, random_state=0).fit(X[:1000], y[:1000])
print(model.score(X[1000:], y[1000:]), model.learned_sparsity_)
"""


def test_the_package_fits_without_its_compiled_kernels():
    import subprocess
    import sys

    child = subprocess.run(
        [sys.executable, "-c", _WITHOUT_KERNELS], capture_output=True, text=True
    )
    assert child.returncode == 0, child.stderr
    accuracy, sparsity = map(float, child.stdout.split())
    assert accuracy > 0.85 and 0 < sparsity < 1


@pytest.mark.skipif(not COMPILED, reason="the package was built without its C kernels")
def test_the_parts_buffer_becomes_the_weights_gradient_and_is_not_reused():
    from sk_adaprune._method.mask import pruned_weight

    weight = (0.1 * torch.randn(300, dtype=torch.float64)).requires_grad_()
    ratio = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    temperature = torch.tensor(2e-3, dtype=torch.float64)
    X = torch.randn(4, 20, dtype=torch.float64)

    def loss_of(first, second):
        return ((X @ first.view(10, 20).T) @ second.view(10, 10).T).square().sum()

    parts = pruned_weight(weight, ratio, temperature, sizes=[200, 100])
    buffer = parts[0].untyped_storage().data_ptr()
    loss = loss_of(*parts)
    del parts
    loss.backward()
    # dL/dw went into the masked weights' own buffer: no pool-sized copy.
    assert weight.grad.data_ptr() == buffer
    expected, weight.grad = weight.grad.clone(), None
    whole = pruned_weight(weight, ratio, temperature)
    loss_of(whole[:200], whole[200:]).backward()
    torch.testing.assert_close(weight.grad, expected, rtol=0, atol=0)
    # A second backward pass through the parts would read gradients as
    # weights: autograd refuses it.
    loss = loss_of(*pruned_weight(weight, ratio, temperature, sizes=[200, 100]))
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="modified by an inplace|modified inplace"):
        loss.backward()


@pytest.mark.skipif(not COMPILED, reason="the package was built without its C kernels")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("weight_gradient", ["masked", "full"])
def test_compiled_mask_writes_no_subnormal_numbers(dtype, weight_gradient):
    # Far below the threshold at a small temperature the mask is 0, not the
    # subnormal 1 / (1 + e^88); products that would be subnormal are 0 too.
    # Subnormal weights slow every product that reads them many times over.
    tiny = torch.finfo(dtype).tiny
    weight = torch.tensor(
        [1e-3, -2e-3, 0.3, 1e-20, 0.05] * 2000, dtype=dtype
    ).requires_grad_()
    threshold = torch.tensor(0.05, dtype=dtype, requires_grad=True)
    temperature = torch.tensor(1e-6, dtype=dtype, requires_grad=True)
    out = masked_weight(weight, threshold, temperature, weight_gradient=weight_gradient)
    (out * torch.full_like(out, 1e-10)).sum().backward()
    for values in (out.detach(), weight.grad):
        subnormal = (values != 0) & (values.abs() < tiny)
        assert not subnormal.any()
    assert out[2].item() == pytest.approx(0.3) and out[0].item() == 0.0


@pytest.mark.skipif(not COMPILED, reason="the package was built without its C kernels")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("full", [False, True])
def test_the_backward_pass_reads_the_mask_from_the_masked_weights(dtype, full):
    from sk_adaprune._method.mask import _compiled_backward, _compiled_forward

    tiny = torch.finfo(dtype).tiny
    generator = torch.Generator().manual_seed(3)
    weight = 0.1 * torch.randn(5000, generator=generator, dtype=torch.float64)
    # zeros, subnormal and tiny weights (logit = offset: m is the offset's
    # sigmoid), weights far below and far above the threshold (m 0 and 1)
    weight[:6] = torch.tensor([0.0, -0.0, tiny / 4, 1e-30, -1e-25, 5.0])
    weight, grad = weight.to(dtype), torch.randn(5000, generator=generator).to(dtype)
    offset, scale = -(0.07**2) / 2e-3, 1 / 2e-3
    masked = torch.empty_like(weight)
    _compiled_forward(weight.numpy(), offset, scale, masked.numpy(), 2)
    recomputed, from_masked = torch.empty_like(weight), masked.clone()
    sums = _compiled_backward(
        grad.numpy(), weight.numpy(), offset, scale, full, recomputed.numpy(), 2
    )
    # in place: the masked weights' buffer becomes dL/dw, as in training
    read = _compiled_backward(
        grad.numpy(),
        weight.numpy(),
        offset,
        scale,
        full,
        from_masked.numpy(),
        2,
        from_masked.numpy(),
    )
    # m = (w m) / w is within an ulp or two of the sigmoid it replaces (the
    # tolerances of the compiled route against the torch route)
    tolerance = 1e-13 if dtype == torch.float64 else 3e-6
    torch.testing.assert_close(
        from_masked, recomputed, rtol=0, atol=tolerance * recomputed.abs().max()
    )
    assert torch.equal(from_masked[:5], recomputed[:5])  # logit = offset: exact
    for got, expected in zip(read, sums):
        assert abs(got - expected) <= 1e-4 * abs(expected) + 1e-300
    # Another w m gives another mask: the pass reads it, not a sigmoid.
    quarter = 0.25 * weight
    _compiled_backward(
        grad.numpy(), weight.numpy(), offset, scale, False,
        quarter.numpy(), 2, quarter.numpy(),
    )  # fmt: skip
    assert torch.equal(quarter[6:], (0.25 * grad)[6:])


@pytest.mark.skipif(not COMPILED, reason="the package was built without its C kernels")
def test_the_whole_masked_weights_changed_in_place_are_refused_in_backward():
    weight = (0.1 * torch.randn(300, dtype=torch.float64)).requires_grad_()
    threshold = torch.tensor(0.05, dtype=torch.float64)
    temperature = torch.tensor(2e-3, dtype=torch.float64)
    out = masked_weight(weight, threshold, temperature)
    # The backward pass reads them: handed out as a view, whose change in
    # place torch refuses to differentiate through.
    with torch.no_grad():
        out.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified inplace"):
        out.sum().backward()
