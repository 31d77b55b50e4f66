"""Sphinx configuration of the r3d documentation.

Build (from the repository root, with r3d importable and docs/requirements.txt installed):

    sphinx-build -W -b html docs docs/_build/html      # the pages; warnings are errors
    sphinx-build -W -b doctest docs docs/_build/doctest  # the examples on the pages

Pages are MyST markdown. The API reference (api.md) is generated from the docstrings
(numpydoc + autodoc, autosummary tables without generated stub files). The tutorial's
figures and printed output are written into the pages by ``python docs/_tools/sync.py`` (``--check``
tells whether they are fresh; tests/test_docs_sources.py runs it) and committed with them;
the benchmark tables are included from benchmarks/results/*.md as the benchmarks wrote them.

The built site works offline (data enclaves): formulas are typeset by a MathJax copied into
_static/ (sphinx-mathjax-offline), and no page loads a script, stylesheet or font from the
network (tests/test_docs_html.py checks the built HTML; the screenshots in docs/images/docs_*.png
were taken with networking off).
"""

from __future__ import annotations

import re
from pathlib import Path

import r3d

DOCS = Path(__file__).resolve().parent

project = "r3d"
author = "r3d developers"
copyright = "r3d developers, MIT licence"
version = release = r3d.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    # MathJax 3 served from _static/mathjax instead of a CDN; sets mathjax_path to
    # "mathjax/tex-chtml.js" (the module's name has hyphens: it is imported by this string)
    "sphinx-mathjax-offline",
    "sphinx_copybutton",
    "numpydoc",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "tutorial_output", "README.md", "Thumbs.db", ".DS_Store"]

# MyST: $...$ and $$...$$ maths, ::: fences, anchors for ## and ### headings
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# API reference: numpydoc renders the docstrings; autosummary only makes the tables
# (no :toctree:, so no generated stub files to keep in the repository)
autosummary_generate = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# doctest builder: the same imports as the docstring examples
doctest_global_setup = "import numpy as np\nimport pandas as pd\nimport r3d"

# Copy button on every code block: copies the code without ">>> " / "... " prompts (and "$ "
# of shell lines) and, in blocks with prompts, without the output lines that follow them.
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = True
copybutton_remove_prompts = True

try:  # a plain, quick theme; fall back to Sphinx's built-in one
    import pydata_sphinx_theme  # noqa: F401

    html_theme = "pydata_sphinx_theme"
    html_theme_options = {
        "navigation_with_keys": False,
        "show_toc_level": 2,
        # Without this, every page that has no sub-pages shows an empty "Section Navigation"
        # sidebar: the theme only drops the sidebar when it resolves the section's toctree,
        # which it skips while hidden toctree entries count (none are hidden here).
        "sidebar_includehidden": False,
    }
except ImportError:  # pragma: no cover
    html_theme = "alabaster"
html_title = f"r3d {release}"
html_static_path = ["_static"]
html_css_files = ["r3d.css"]  # wide printed output scrolls inside the column
templates_path: list[str] = []

# Pages other helpers write in docs/ join a toctree automatically, where they belong, so
# that a new page never breaks the build ("document isn't included in any toctree").
# The marker line below inside a {toctree} block is replaced by the pages that exist.
OWN_PAGES = {"index", "getting_started", "tutorial", "falsification", "method", "coming_from_r", "api", "validation",
             "errors"}
PLACED_PAGES = {
    "index": ["results", "bigdata"],
    "validation": ["validation_montecarlo", "performance", "bandwidth_vs_R", "bandwidth_vs_rdrobust"],
}
MARKER = "%extra-pages%"


# Benchmark tables (benchmarks/results/*.md, written by the benchmark scripts) are included
# in validation.md where the line "%benchmark-tables%" stands: known ones in this order and
# under these titles (files that start with their own "# " heading keep it), then any others.
RESULTS = DOCS.parent / "benchmarks" / "results"
TABLES_MARKER = "%benchmark-tables%"
KNOWN_TABLES = {
    "montecarlo_table1": "Coverage and size: the paper's Table 1",
    "montecarlo_clusters": "Clustered inference",
    "montecarlo_covariates": "Covariate adjustment",
    "montecarlo_functionals": "Effects on functionals and dominance tests",
    "montecarlo_density": "Density and binomial tests",
    "montecarlo_compare": "Placebo cutoffs and the comparison of two fits",
    "montecarlo_masspoints": "Mass points: a discrete running variable",
    "montecarlo_vce": "Variance options: the default vce",
    "montecarlo_fewdraws": "Few draws per unit",
    "bandwidth_theory": "Bandwidth selector against the closed-form optimum",
    "bandwidth_simulation_a": "Bandwidth selector by simulation: curvature that changes at the cutoff",
    "bandwidth_simulation_b": "Bandwidth selector by simulation: the paper's DGP 1",
    "bandwidth_vs_r": "Bandwidths on the R package's reference data",
    "performance": "Performance",
    "bigdata_parquet": "Out of core: Parquet with DuckDB",
    "bigdata_dask": "Out of core: Dask",
    "boundscheck": "Test suite with bounds checking",
}


def _benchmark_tables() -> str:
    files = sorted(RESULTS.glob("*.md"))
    order = {name: i for i, name in enumerate(KNOWN_TABLES)}
    files.sort(key=lambda f: (order.get(f.stem, len(order)), f.stem))
    parts = []
    for f in files:
        has_title = f.read_text(encoding="utf-8").lstrip().startswith("# ")
        title = KNOWN_TABLES.get(f.stem, f.stem.replace("_", " ").capitalize())
        head = "" if has_title else f"### {title}\n\n"
        offset = ":heading-offset: 2\n" if has_title else ""
        parts.append(f"{head}```{{include}} ../benchmarks/results/{f.name}\n{offset}```\n")
    return "\n".join(parts) if parts else "(No benchmark results recorded yet.)\n"


def _existing(names: list[str]) -> list[str]:
    return [n for n in names if (DOCS / f"{n}.md").exists() or (DOCS / f"{n}.rst").exists()]


def _unplaced() -> list[str]:
    placed = OWN_PAGES | {n for names in PLACED_PAGES.values() for n in names}
    pages = sorted(p.stem for p in DOCS.glob("*.md")) + sorted(p.stem for p in DOCS.glob("*.rst"))
    return [p for p in pages if p not in placed and p.upper() != "README"]


def _fill_toctrees(app, docname: str, source: list[str]) -> None:
    if TABLES_MARKER in source[0]:
        source[0] = source[0].replace(TABLES_MARKER, _benchmark_tables())
    if MARKER not in source[0]:
        return
    names = _existing(PLACED_PAGES.get(docname, []))
    if docname == "index":
        names += _unplaced()
    source[0] = re.sub(rf"^{re.escape(MARKER)}\n", "".join(f"{n}\n" for n in names), source[0], flags=re.MULTILINE)


def _always_reread(app, env, added, changed, removed) -> list[str]:
    """The generated parts depend on which files exist: re-read those pages every build."""
    return [d for d in PLACED_PAGES if d in env.found_docs]


def setup(app):
    app.connect("source-read", _fill_toctrees)
    app.connect("env-get-outdated", _always_reread)
    return {"parallel_read_safe": True}
