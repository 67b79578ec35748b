"""Shared by the benchmarks: machine and library versions, result files, and the
dense 784-512-512-10 reference network."""

import importlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
# The tests' slow references (tests/reference.py), which some benchmarks
# measure the fast code against.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
HIDDEN = (512, 512)


def machine_info() -> dict:
    import numpy
    import sklearn
    import skorch
    import torch

    return {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "skorch": skorch.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def baseline_package(checkout):
    """The sk_adaprune of ``checkout`` (an earlier commit's checkout), importable
    beside ours as ``sk_adaprune_baseline``: a copy of its package folder (with
    its compiled kernel, if built there; the package imports itself
    relatively). Both in one process: this host's speed drifts between
    processes by more than the differences measured."""
    folder = Path(tempfile.mkdtemp())
    shutil.copytree(Path(checkout) / "sk_adaprune", folder / "sk_adaprune_baseline")
    sys.path.insert(0, str(folder))
    return importlib.import_module("sk_adaprune_baseline")


def in_turn(rounds: int, kinds: dict, seconds) -> dict:
    """``seconds(kind, round_)`` for ``kinds["ours"]`` and ``kinds["baseline"]``
    in turn, who goes first alternating by round: each side's median
    (``"ours"``, ``"baseline"``) and the median of the per-round ratios
    (``"ratio"``, ours / baseline)."""
    times = {side: [] for side in kinds}
    for round_ in range(rounds):
        sides = list(kinds) if round_ % 2 == 0 else list(kinds)[::-1]
        for side in sides:
            times[side].append(seconds(kinds[side], round_))
    pairs = zip(times["ours"], times["baseline"])
    return {
        "ours": statistics.median(times["ours"]),
        "baseline": statistics.median(times["baseline"]),
        "ratio": statistics.median(ours / before for ours, before in pairs),
    }


def commit_of(checkout) -> str:
    return subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()


def markdown_table(rows: list[dict]) -> str:
    """Every key of any row is a column, in the order first seen; a row
    without it has an empty cell."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = (_cell(row[c]) if c in row else "" for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_results(name: str, title: str, rows: list[dict], notes: str = "") -> None:
    """Print the table and write ``results/NAME.md`` and ``results/NAME.json``."""
    RESULTS.mkdir(exist_ok=True)
    info = machine_info()
    machine = ", ".join(f"{k}: {v}" for k, v in info.items())
    text = f"# {title}\n\n{notes}\n\n{markdown_table(rows)}\n\nMachine: {machine}\n"
    (RESULTS / f"{name}.md").write_text(text)
    (RESULTS / f"{name}.json").write_text(
        json.dumps({"machine": info, "rows": rows}, indent=2) + "\n"
    )
    print(text)


def fixed_epochs(hidden, batch_size: int, epochs: int) -> dict:
    """Estimator parameters for a network of ``hidden`` units trained for
    exactly ``epochs`` epochs (the stopping rule never fires), the setting
    the Fashion-MNIST benchmarks compare methods in."""
    return dict(
        hidden_layer_sizes=hidden,
        batch_size=batch_size,
        max_iter=epochs,
        n_iter_no_change=epochs + 1,
    )


def dense_mlp(n_in: int, n_out: int, seed: int, hidden=HIDDEN):
    """The benchmarks' network without a mask: Linear-ReLU layers (``hidden``
    units), torch's default initialisation from ``torch.manual_seed(seed)``,
    logits out."""
    from torch import manual_seed, nn

    manual_seed(seed)
    sizes = [n_in, *hidden, n_out]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def summarise(rows: list[dict], keys, values) -> list[dict]:
    """Rows grouped by ``keys``: mean and population std of each of ``values``
    (as ``NAME_mean``, ``NAME_std``) and the number of runs."""
    groups = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    summary = []
    for key, group in groups.items():
        entry = dict(zip(keys, key))
        for value in values:
            numbers = [g[value] for g in group]
            entry[f"{value}_mean"] = statistics.mean(numbers)
            entry[f"{value}_std"] = statistics.pstdev(numbers)
        entry["runs"] = len(group)
        summary.append(entry)
    return summary
