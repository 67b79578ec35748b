"""How accurate is ``dt/dr = 1 / f(t)`` on a pool of a few hundred scores?

With ``prune='neurons'`` the pool is the hidden units' scores: hundreds, not
hundreds of thousands of weights. A pool that small takes the threshold's
small route (``_threshold.threshold_and_density``): ``t`` the exact
midpoint quantile, ``f(t)`` the reflected Gaussian KDE summed at ``t`` over
the samples (no grid, so no grid size to choose) with Scott's bandwidth.
What is left to choose is the bandwidth. This measures the relative error of
the estimate ``1 / f_hat(t_hat)`` against the true ``dt/dr = 1 / f(F^-1(r))``
over many draws of ``n`` scores from distributions shaped like unit scores:

- ``one layer``: ``||w||`` of 64 Glorot-uniform-like inputs (chi with 64
  degrees of freedom, scaled): narrow, far from 0;
- ``two layers``: half the units from that, half from chi(100) scaled 1.3:
  the two bumps of a global pool over two layers;
- ``trained``: lognormal (sigma 0.5): skewed, as scores spread in training;
- ``half-normal``: broad and piled at 0 (the weights' shape, for contrast).

for ``n`` in (100, 300, 1000), ``r`` in (0.5, 0.7, 0.9, 0.95), and the
bandwidth as Scott's times 0.5, 0.75, 1 (the estimator's), 1.5, and
Silverman's ``0.9 min(std, IQR / 1.34) n^(-1/5)``.
Writes ``results/unit_density.md``/``.json``.
Run: ``python benchmarks/unit_density.py`` (seconds).
"""

import numpy as np
import torch
from scipy import optimize, stats

from _common import write_results
from sk_adaprune._method.density import reflected_kde_at, scott_bandwidth
from sk_adaprune._method.threshold import SMALL_POOL, threshold_and_density

DRAWS = 300
SIZES = (100, 300, 1000)
RATIOS = (0.5, 0.7, 0.9, 0.95)
FACTORS = (0.5, 0.75, 1.0, 1.5)


class Mixture:
    """Equal parts of two frozen scipy distributions."""

    def __init__(self, first, second):
        self.parts = (first, second)

    def pdf(self, x):
        return 0.5 * sum(part.pdf(x) for part in self.parts)

    def cdf(self, x):
        return 0.5 * sum(part.cdf(x) for part in self.parts)

    def ppf(self, q):
        low = min(part.ppf(1e-9) for part in self.parts)
        high = max(part.ppf(1 - 1e-9) for part in self.parts)
        return optimize.brentq(lambda x: self.cdf(x) - q, low, high, xtol=1e-14)

    def rvs(self, size, random_state):
        half = size // 2
        draws = [
            self.parts[0].rvs(half, random_state=random_state),
            self.parts[1].rvs(size - half, random_state=random_state),
        ]
        return np.concatenate(draws)


ONE_LAYER = stats.chi(df=64, scale=1 / 16)
DISTRIBUTIONS = {
    "one layer": ONE_LAYER,
    "two layers": Mixture(ONE_LAYER, stats.chi(df=100, scale=1.3 / 16)),
    "trained": stats.lognorm(s=0.5),
    "half-normal": stats.halfnorm(),
}


def silverman(samples: np.ndarray) -> float:
    q75, q25 = np.percentile(samples, [75, 25])
    spread = min(samples.std(ddof=1), (q75 - q25) / 1.34)
    return 0.9 * spread * samples.size ** (-0.2)


def estimates(samples: np.ndarray, ratio: float) -> dict:
    """``1 / f_hat(t_hat)`` per bandwidth; the estimator's own from the
    threshold's code, the others by the same KDE at the same ``t_hat``."""
    assert samples.size <= SMALL_POOL  # the small route, as for unit scores
    threshold, density = threshold_and_density(torch.from_numpy(samples), ratio)
    t_hat = threshold.item()
    scott = scott_bandwidth(samples, floor=0.0)
    out = {"Scott x 1 (the estimator's)": 1.0 / density.item()}
    for factor in FACTORS:
        if factor != 1.0:
            f_hat = reflected_kde_at(samples, t_hat, factor * scott)
            out[f"Scott x {factor:g}"] = 1.0 / f_hat
    out["Silverman"] = 1.0 / reflected_kde_at(samples, t_hat, silverman(samples))
    return out


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for name, distribution in DISTRIBUTIONS.items():
        for n in SIZES:
            errors = {}
            for ratio in RATIOS:
                truth = 1.0 / distribution.pdf(distribution.ppf(ratio))
                for _ in range(DRAWS):
                    samples = distribution.rvs(size=n, random_state=rng)
                    for key, value in estimates(samples, ratio).items():
                        errors.setdefault(key, []).append(value / truth - 1.0)
            for key, values in errors.items():
                values = np.asarray(values)
                rows.append(
                    {
                        "distribution": name,
                        "n": n,
                        "bandwidth": key,
                        "median_abs_rel_error": float(np.median(np.abs(values))),
                        "rms_rel_error": float(np.sqrt(np.mean(values**2))),
                        "mean_rel_error": float(values.mean()),
                    }
                )
            print(rows[-len(errors) :], flush=True)
    notes = (
        f"{DRAWS} draws of n scores per distribution, n and r (r in {list(RATIOS)}; "
        "the errors of all r pooled); relative error of 1/f_hat(t_hat) against "
        "the true 1/f(F^-1(r)). mean_rel_error is the bias (positive: dt/dr "
        "too large, the step in r too long)."
    )
    write_results("unit_density", "Density of a few hundred unit scores", rows, notes)


if __name__ == "__main__":
    main()
