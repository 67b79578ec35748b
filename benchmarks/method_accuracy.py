"""How exact the method's pieces are: gradients, threshold, density, dt/dr.

Prints and writes ``results/method_accuracy.md``. Run:
``python benchmarks/method_accuracy.py``.
"""

import math

import numpy as np
import torch
from scipy.stats import norm

from _common import write_results
from reference import (
    closed_form_gradients,
    exact_reflected_kde,
    magnitude_density,
    scott_bandwidth,
)
from sk_adaprune._method.mask import masked_weight, soft_mask
from sk_adaprune._method.threshold import (
    exact_threshold,
    quantile_threshold,
    threshold_and_density,
)


def reference_masked_weight(weight, threshold, temperature):
    return weight * soft_mask(weight, threshold, temperature)


def gradient_errors(seed: int, size: int, ratio: float, mask_function) -> dict:
    rng = np.random.default_rng(seed)
    weight = torch.tensor(rng.normal(0, 0.1, size), requires_grad=True)
    upstream = rng.normal(size=size)
    r = torch.tensor(ratio, dtype=torch.float64, requires_grad=True)
    tau = torch.tensor(1e-2 * 0.1, dtype=torch.float64, requires_grad=True)
    threshold = quantile_threshold(weight.detach().abs(), r)
    (
        mask_function(weight, threshold, tau) * torch.from_numpy(upstream)
    ).sum().backward()
    dt_dr = 1 / threshold_and_density(weight.detach().abs(), r.item())[1].item()
    grad_w, grad_tau, grad_r = closed_form_gradients(
        weight.detach().numpy(), upstream, threshold.item(), tau.item(), dt_dr
    )
    return {
        "w": float(np.abs(weight.grad.numpy() - grad_w).max()),
        "tau": abs(tau.grad.item() - grad_tau),
        "r": abs(r.grad.item() - grad_r),
        "r_rel": abs(r.grad.item() - grad_r) / max(abs(grad_r), 1e-300),
    }


def main() -> None:
    rows = []
    paths = {
        "autograd of w * soft_mask": reference_masked_weight,
        "fused masked_weight (training)": masked_weight,
    }
    for path, mask_function in paths.items():
        grads = [
            gradient_errors(seed, size, ratio, mask_function)
            for seed in range(5)
            for size in (100, 10_000, 670_000)
            for ratio in (0.1, 0.5, 0.9)
        ]
        for key, label in (
            ("w", "dL/dw (eq. 2.3)"),
            ("tau", "dL/dtau (eq. 2.10)"),
            ("r", "dL/dr (eq. 2.11)"),
        ):
            rows.append(
                {
                    "quantity": f"{path} vs closed form, {label}",
                    "measure": "max abs error, 45 float64 pools",
                    "value": max(g[key] for g in grads),
                }
            )
        rows.append(
            {
                "quantity": f"{path} vs closed form, dL/dr",
                "measure": "max rel error",
                "value": max(g["r_rel"] for g in grads),
            }
        )

    torch.manual_seed(0)
    args = (
        torch.randn(50, dtype=torch.float64, requires_grad=True),
        torch.tensor(0.4, dtype=torch.float64, requires_grad=True),
        torch.tensor(0.3, dtype=torch.float64, requires_grad=True),
    )
    for name, function in (("soft_mask", soft_mask), ("masked_weight", masked_weight)):
        rows.append(
            {
                "quantity": f"torch.autograd.gradcheck on {name}",
                "measure": "passed",
                "value": str(torch.autograd.gradcheck(function, args)),
            }
        )

    rng = np.random.default_rng(1)
    worst = {"with r trainable (forward pass)": 0.0, "hard mask (exact_threshold)": 0.0}
    for _ in range(200):
        # What training thresholds: signed float32 weights, a float32 r.
        pool = rng.normal(size=rng.integers(1, 5000))
        pool[rng.random(pool.size) < 0.2] = 0.0
        pool = np.round(pool, rng.integers(1, 4)).astype(np.float32)  # ties
        ratio = torch.nn.Parameter(torch.tensor(rng.random() * 0.9999))
        ordered = np.sort(np.abs(pool.astype(np.float64)))
        k = math.floor(ratio.item() * pool.size)
        expected = 0.0 if k == 0 else 0.5 * (ordered[k - 1] + ordered[k])
        weights = torch.from_numpy(pool)
        got = {
            "with r trainable (forward pass)": quantile_threshold(weights, ratio),
            "hard mask (exact_threshold)": exact_threshold(weights, ratio.item()),
        }
        for path, threshold in got.items():
            error = abs(threshold.item() - float(np.float32(expected)))
            worst[path] = max(worst[path], error)
    for path, error in worst.items():
        rows.append(
            {
                "quantity": f"training threshold, {path}, vs numpy midpoint",
                "measure": "max abs error, 200 signed float32 pools, ties, zeros",
                "value": error,
            }
        )

    samplers = {
        "half-normal": lambda n: np.abs(rng.standard_normal(n)),
        "exponential": lambda n: rng.exponential(0.05, n),
        "uniform": lambda n: rng.uniform(0, 0.3, n),
    }
    for name, sample in samplers.items():
        samples = sample(20_000)
        tensor = torch.tensor(samples)
        points = np.linspace(0, samples.max(), 400)
        bandwidth = scott_bandwidth(tensor).item()
        exact = exact_reflected_kde(samples, points, bandwidth)
        fast = magnitude_density(tensor, torch.tensor(points)).numpy()
        rows.append(
            {
                "quantity": f"FFT KDE (1024 grid) vs exact reflected KDE, {name}",
                "measure": "max abs error / peak density, n=20000",
                "value": float(np.abs(fast - exact).max() / exact.max()),
            }
        )

        # What training uses: t and f(t) from one binning (grid up to the
        # largest magnitude, bandwidth from the bins), at t for several r.
        pairs = [
            threshold_and_density(tensor, ratio)
            for ratio in (0.1, 0.3, 0.5, 0.7, 0.9, 0.97)
        ]
        thresholds = np.array([threshold.item() for threshold, _ in pairs])
        densities = np.array([density.item() for _, density in pairs])
        kde = exact_reflected_kde(samples, thresholds, bandwidth)
        worst = float(np.abs(densities / kde - 1).max())
        rows.append(
            {
                "quantity": f"training f(t) vs exact reflected KDE at t, {name}",
                "measure": "max relative error, r in 0.1..0.97, n=20000",
                "value": worst,
            }
        )

    samples = torch.tensor(np.abs(rng.standard_normal(200_000)))
    for ratio in (0.2, 0.5, 0.8, 0.9, 0.95):
        quantile = norm.ppf((1 + ratio) / 2)
        exact = 1 / (2 * norm.pdf(quantile))
        estimate = 1 / magnitude_density(samples, torch.tensor(quantile)).item()
        training = 1 / threshold_and_density(samples, ratio)[1].item()
        rows.append(
            {
                "quantity": f"1/f(t) vs exact dt/dr, half-normal, r={ratio}",
                "measure": "relative error, n=200000 (reference / training)",
                "value": f"{estimate / exact - 1:.4f} / {training / exact - 1:.4f}",
            }
        )

    write_results(
        "method_accuracy",
        "Accuracy of the method's pieces",
        rows,
        notes="Gradients on random float64 weight pools (sizes 100, 1e4, "
        "6.7e5; r in 0.1, 0.5, 0.9; 5 seeds).",
    )


if __name__ == "__main__":
    main()
