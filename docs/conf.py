"""Sphinx configuration of the sk_adaprune documentation."""

import os
import re
import sys
from pathlib import Path

import sk_adaprune

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The examples fit small networks: one torch thread each keeps a build on
# two cores from running two thread pools against each other.
os.environ.setdefault("OMP_NUM_THREADS", "2")

project = "sk_adaprune"
author = "the sk_adaprune developers"
copyright = "the sk_adaprune developers"
release = version = sk_adaprune.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.doctest",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "sphinx_design",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
suppress_warnings = ["myst.header"]
myst_heading_anchors = 3

autosummary_generate = True
autodoc_default_options = {
    "members": True,
    "inherited-members": False,
    # scikit-learn's metadata-routing setters, generated on every estimator
    "exclude-members": "set_fit_request,set_partial_fit_request,"
    "set_predict_request,set_score_request",
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "reference_url": {"sk_adaprune": None},
    "matplotlib_animations": False,
}

html_theme = "pydata_sphinx_theme"
html_title = "sk_adaprune"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
}
html_static_path = []


def _plain_sklearn_references(app, what, name, obj, options, lines) -> None:
    """Docstrings inherited from scikit-learn (``score``) refer to labels of
    scikit-learn's own documentation; here they become plain text."""
    if not getattr(obj, "__module__", "").startswith("sklearn"):
        return
    for i, line in enumerate(lines):
        line = re.sub(r":(?:ref|term):`([^`<]+?)\s*<[^>]+>`", r"\1", line)
        lines[i] = re.sub(r":(?:ref|term):`([^`]+)`", r"\1", line)


def setup(app) -> None:
    app.connect("autodoc-process-docstring", _plain_sklearn_references)


def _result_pages() -> None:
    """One page per benchmark result (``docs/results/NAME.md``), each the
    results file itself, so that the docs show exactly what the scripts
    wrote; rewritten at every build."""
    pages = Path(__file__).parent / "results"
    pages.mkdir(exist_ok=True)
    for stale in pages.glob("*.md"):
        stale.unlink()
    for result in sorted((ROOT / "benchmarks" / "results").glob("*.md")):
        (pages / result.name).write_text(
            f"```{{include}} ../../benchmarks/results/{result.name}\n"
            ":relative-images:\n"
            "```\n"
        )


_result_pages()
