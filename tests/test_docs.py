"""The documentation: the simulated data sets behave as the pages say, the docstring examples
run, every public name is in the API reference, and (with the docs requirements installed,
``pytest -m slow``) Sphinx builds the pages with warnings as errors and runs the examples on
them. That the pages show the code and output the scripts have today is
tests/test_docs_sources.py.
"""

from __future__ import annotations

import doctest
import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import r3d

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: Monte Carlo check of the pooled-quantile estimand: 2e6 draws per side give a standard
#: error of about 0.013 for a difference of two quantiles at q = 0.1 or 0.9; 5 se.
POOLED_MC_ATOL = 0.07
#: Two names for one function of q: equal bit for bit (measured 0).
RTOL_SAME_FUNCTION = 1e-14


# --------------------------------------------------------------------------- the data set
def test_pooled_effect_matches_a_monte_carlo_of_the_pooled_workers():
    """wage_subsidy_pooled_effect is the jump in the pooled quantiles at the cutoff: simulate
    workers of firms exactly at the cutoff on each side from the documented design."""
    gen = np.random.default_rng(20251123)
    q = np.array([0.1, 0.5, 0.9])
    n = 2_000_000
    pooled = []
    for treated in (0, 1):
        premium = gen.normal(0.0, 5.0, n) * (1 - 0.5 * treated)
        spread = 5 + np.abs(gen.normal(size=n)) + 1.5 * treated
        wage = 30 + premium + 2 * treated + spread * gen.standard_normal(n)
        pooled.append(np.quantile(wage, q))
    np.testing.assert_allclose(r3d.datasets.wage_subsidy_pooled_effect(q), pooled[1] - pooled[0], rtol=0,
                               atol=POOLED_MC_ATOL)


def test_wage_subsidy_data_follow_the_documented_design():
    df = r3d.datasets.simulate_wage_subsidy(n_firms=400, n_workers=30, fuzzy=True, rng=5)
    firms = df.groupby("firm").agg(revenue=("revenue", "nunique"), subsidy=("subsidy", "nunique"),
                                   n=("wage", "size"))
    assert len(firms) == 400 and (firms["revenue"] == 1).all() and (firms["subsidy"] == 1).all()
    assert (firms["n"] == 30).all()
    per_firm = df.groupby("firm").first()
    eligible = per_firm["revenue"] >= 1.0
    take_up = per_firm.groupby(eligible)["subsidy"].mean()
    assert 0.7 < take_up[True] < 0.9 and 0.05 < take_up[False] < 0.25
    # same seed, same data; the sharp design has no take-up column
    again = r3d.datasets.simulate_wage_subsidy(n_firms=400, n_workers=30, fuzzy=True, rng=5)
    assert df.equals(again)
    assert "subsidy" not in r3d.datasets.simulate_wage_subsidy(n_firms=50, rng=5).columns
    # the true R3D effect does not depend on the premia; the pooled one does
    q = np.array([0.1, 0.9])
    np.testing.assert_allclose(r3d.datasets.wage_subsidy_true_effect(q), r3d.datasets.firms_true_effect(q),
                               rtol=RTOL_SAME_FUNCTION)
    no_premia = r3d.datasets.wage_subsidy_pooled_effect(q, premium_sd=0.0)
    assert no_premia[1] - no_premia[0] > 2.5  # without premia pooling only mixes the spreads


@pytest.mark.parametrize("bad", [{"compression": 1.5}, {"premium_sd": -1.0}, {"n_firms": 0}])
def test_wage_subsidy_refuses_bad_parameters(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        r3d.datasets.simulate_wage_subsidy(**bad)


# --------------------------------------------------------------------------- API reference
def test_every_public_name_has_a_docstring_and_is_in_the_api_reference():
    api = (DOCS / "api.md").read_text(encoding="utf-8")
    for name in r3d.__all__:
        if name == "__version__":
            continue
        obj = getattr(r3d, name)
        assert (obj.__doc__ or "").strip(), name
        if name == "datasets":
            for fn in r3d.datasets.__all__:
                assert (getattr(r3d.datasets, fn).__doc__ or "").strip(), fn
                assert f"r3d.datasets.{fn}" in api, fn
        else:
            assert re.search(rf"(autoclass|autofunction|autoexception):: r3d\.{name}\b", api), name


DOCSTRING_MODULES = ["r3d", "r3d.model", "r3d.results", "r3d.datasets", "r3d.bandwidth", "r3d.bootstrap",
                     "r3d.plotting", "r3d.quantiles", "r3d.locpoly", "r3d.estimators", "r3d.monotone", "r3d.balance"]


@pytest.mark.parametrize("module", DOCSTRING_MODULES)
def test_docstring_examples_run(module):
    mod = importlib.import_module(module)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(mod, module, globs={}):
        if test.name.split(".")[-1].startswith("_") and not test.name.endswith("__init__"):
            continue
        runner.run(test, out=lambda s: None)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) fail in {module}"


# --------------------------------------------------------------------------- Sphinx
def _sphinx(builder: str, out: Path) -> subprocess.CompletedProcess:
    """Run sphinx-build in a child that imports the same r3d as this process (cwd outside the
    repository, so a source tree without compiled kernels cannot shadow the installed package)."""
    from _child import same_r3d_env

    for need in ("sphinx", "myst_parser", "numpydoc"):
        pytest.importorskip(need, reason=f"the docs build needs {need}: pip install -r docs/requirements.txt")
    return subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", builder,
                           str(DOCS), str(out)], check=False, capture_output=True, text=True, cwd=out.parent,
                          env=same_r3d_env(), timeout=600)


@pytest.mark.slow
def test_sphinx_html_build_has_no_warnings(tmp_path):
    proc = _sphinx("html", tmp_path / "html")
    assert proc.returncode == 0, proc.stderr[-4000:]
    for page in ("index", "getting_started", "tutorial", "method", "coming_from_r", "api", "validation", "errors"):
        assert (tmp_path / "html" / f"{page}.html").is_file(), page


@pytest.mark.slow
def test_sphinx_doctests_pass(tmp_path):
    proc = _sphinx("doctest", tmp_path / "doctest")
    report = (tmp_path / "doctest" / "output.txt")
    text = report.read_text(encoding="utf-8") if report.exists() else ""
    assert proc.returncode == 0, (proc.stderr + text)[-4000:]
    assert re.search(r"\b0 failures in tests", text)
    assert int(re.search(r"(\d+) tests", text).group(1)) >= 40
    shutil.rmtree(tmp_path / "doctest", ignore_errors=True)
