"""Choosing ``weight_gradient`` and the low ``r_init``: how a fit starts and
what the weights' gradient holds, against gradual magnitude pruning.

For each seed and network (784-512-512-10 for 15 epochs, LeNet-300-100 for
10, Fashion-MNIST, batch 128): ours with the thesis's weight gradient
(``weight_gradient='full'``, eq. 2.3) and with the mask held constant in the
weights (``'masked'``), each from ``r_init=0.1`` (the previous 'auto') and
``r_init=0`` (dense until ``r_ramp`` lets ``r`` rise at 10% of the steps),
and gradual magnitude pruning told each one's sparsity, side by side in one
run; every other parameter at its default (``r_ramp=(0.1, 0.75)``,
``finetune_fraction=0.2``, ``lambda_=10``). Writes
``results/choose_weight_gradient.md`` / ``.json``.
Run: ``python benchmarks/choose_weight_gradient.py [--quick]`` (``--quick``:
one seed, LeNet-300-100 only, 3 epochs, 10,000 rows).
"""

from choose_ramp import choose

VARIANTS = {
    f"ours, weight_gradient={gradient!r}, r_init={r_init:g}": dict(
        weight_gradient=gradient, r_init=r_init
    )
    for gradient in ("full", "masked")
    for r_init in (0.1, 0.0)
}


def main() -> None:
    choose(
        "choose_weight_gradient",
        "Choosing weight_gradient and r_init on Fashion-MNIST",
        VARIANTS,
        "Other parameters at their defaults (r_ramp=(0.1, 0.75)).",
    )


if __name__ == "__main__":
    main()
