"""The documentation's code runs: every ``python`` block of the README, the
getting-started page and the user guide, each as a script of its own."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [
    ROOT / "README.md",
    ROOT / "docs" / "index.md",
    ROOT / "docs" / "getting_started.md",
    *sorted((ROOT / "docs" / "user_guide").glob("*.md")),
]


def code_blocks():
    for page in PAGES:
        blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
        for number, block in enumerate(blocks):
            yield pytest.param(block, id=f"{page.relative_to(ROOT)}[{number}]")


def test_the_pages_hold_code():
    assert len(list(code_blocks())) >= 8


@pytest.mark.end_to_end
@pytest.mark.parametrize("code", code_blocks())
def test_a_documented_code_block_runs(code, tmp_path):
    environment = {**os.environ, "MPLBACKEND": "Agg"}
    child = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-2000:]
