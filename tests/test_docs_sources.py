"""The Markdown pages read as they are: code and output are written into getting_started.md,
tutorial.md and bandwidth_vs_rdrobust.md (no include directives), and equal what the scripts
print today (docs/_tools/sync.py fills them; this runs its check; case_studies.md has its own
test file, tests/test_case_studies.py). Also the claims these pages
and coming_from_r.md / bandwidth_vs_R.md make about other software: the rdrobust bandwidth
decomposition, R's test critical values, R's bandwidth guards.
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from _refdata import load_ref, ref_quantile_grid

import r3d

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_tools"))
import sync  # noqa: E402

HAVE_RDROBUST = importlib.util.find_spec("rdrobust") is not None
#: case_studies.md is checked by tests/test_case_studies.py, which runs its two scripts once and skips,
#: saying why, where the rdhonest package (the source of their GPL data) is not installed.
OWN_TEST = {"case_studies.md"}
PAGES = [p for p in sync.PAGES if (HAVE_RDROBUST or p != "bandwidth_vs_rdrobust.md") and p not in OWN_TEST]
RDROBUST_EXAMPLE = "../examples/bandwidth_vs_rdrobust.py"
REGENERATE = "Run `python docs/_tools/sync.py` and check the pages' prose against the new output."

#: rdrobust's steps recomputed from its rdrobust_bw reproduce rdbwselect: the same arithmetic
#: (measured 0 on the quickstart median); 1e-10 allows another summation order.
RTOL_RDROBUST_RECOMPUTED = 1e-10
#: The quickstart median: r3d's h / rdbwselect's h measured 2.17; the page says "about 2".
MIN_GAP = 1.5
#: With r3d's curvature bandwidth b and r3d's regulariser substituted into rdrobust's rule, the
#: two bandwidths agree: measured |log ratio| 0.024 on the quickstart median (the page's table).
LOG_TOL_QUICKSTART = 0.05
#: ... and at most 0.098 on 36 simulated samples (the page's range 0.91 to 1.10); 0.12.
LOG_TOL_SAMPLES = 0.12
#: With r3d's b alone the ratio was 1.05 to 1.28 on those samples (from 1.6 to 3.1).
MAX_RATIO_WITH_B = 1.3
#: The tutorial's quantile RD estimate is near the pooled-quantile jump it estimates, and not
#: near the R3D effect (differences > 1.5): on the tutorial's one data set it is 0.37 off.
POOLED_QRD_ATOL = 0.5
#: R's re-implemented rule reproduces R's reference bandwidths: measured 2.3e-14 absolute.
RTOL_R_RULE = 1e-10


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """Every script the pages show, run once: (new page texts, runs, working directory)."""
    work = tmp_path_factory.mktemp("sync")
    runs: dict = {}
    pages = [DOCS / p for p in PAGES]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        new = sync.fill(pages, work, runs)
    return new, runs, work


# --------------------------------------------------------------------------- pages are current
def test_pages_show_the_code_and_output_the_scripts_have_today(synced):
    new, _, _ = synced
    stale = sync.stale([DOCS / p for p in PAGES], new)
    assert not stale, f"stale blocks: {stale}. {REGENERATE}"


def test_committed_latex_tables_are_current(synced):
    _, _, work = synced
    made = dict((dest.name, (m, dest)) for m, dest in sync.kept_files(work))
    m, dest = made["summary.tex"]
    assert dest.read_text(encoding="utf-8") == m.read_text(encoding="utf-8"), f"{dest} is stale. {REGENERATE}"


@pytest.mark.parametrize("page", sync.PAGES)
def test_pages_need_no_build_to_read(page):
    """No include directive where code or output belongs (GitHub shows the directive itself),
    and every marked block is filled."""
    text = (DOCS / page).read_text(encoding="utf-8")
    assert "{literalinclude}" not in text and "{include}" not in text
    found = sync.blocks(DOCS / page)
    assert found and all(b.body.strip() for b in found)


def test_every_piece_of_the_tutorial_is_on_its_page():
    shown = {b.piece for b in sync.blocks(DOCS / "tutorial.md") if b.kind == "code"}
    assert shown == set(sync.pieces(DOCS / "tutorial.py"))
    outputs = {b.piece for b in sync.blocks(DOCS / "tutorial.md") if b.kind == "output"}
    assert outputs <= shown and len(outputs) >= 10


def test_tutorial_code_is_what_a_reader_would_write():
    """The first block is imports only, and no piece writes into the documentation's folders or
    reads the environment (the plumbing lives in docs/_tools/sync.py)."""
    found = sync.pieces(DOCS / "tutorial.py")
    setup = [ln for ln in found["setup"].splitlines() if ln.strip()]
    assert all(ln.startswith(("import ", "from ")) for ln in setup), setup
    for name, code in found.items():
        assert "os.environ" not in code and "tutorial_output" not in code and "images/" not in code, name


def test_tutorial_makes_every_figure_its_page_shows(synced):
    _, _, work = synced
    page = (DOCS / "tutorial.md").read_text(encoding="utf-8")
    images = re.findall(r"images/(tutorial_\w+\.png)", page)
    assert len(images) >= 7
    for name in images:
        assert (work / name).stat().st_size > 10_000, name
        assert (DOCS / "images" / name).is_file(), f"{name} is not committed. {REGENERATE}"


def test_tutorial_shows_what_it_claims(synced):
    """The page's story: R3D recovers the true effect, the pooled quantile RD does not."""
    _, runs, _ = synced
    ns = runs["tutorial.py"].namespace
    compare = ns["compare"]
    truth = compare["true R3D effect"].to_numpy()
    r3d_err = np.abs(compare["R3D estimate"].to_numpy() - truth)
    se = ns["res"].bse.loc[compare.index].to_numpy()
    assert np.all(r3d_err < 1.0 * se)
    qrd = compare["quantile RD estimate"].to_numpy()
    assert abs(qrd[0] - truth[0]) > 1.5 and abs(qrd[-1] - truth[-1]) > 1.5
    np.testing.assert_allclose(qrd, compare["pooled-quantile jump"], rtol=0, atol=POOLED_QRD_ATOL)
    assert ns["null"].pvalue <= 0.01 and ns["homog"].pvalue <= 0.01
    assert ns["fs"].jump > 0.5
    assert (ns["placebo"].frame["nullity_pvalue"] > 0.05).all()
    assert ns["dens"].pvalue > 0.05
    res = ns["res"]
    gini = res.functional("gini")
    assert gini.estimate > 0 and gini.pvalue < 0.01  # the subsidy widens the typical firm's distribution
    assert res.dominance_test().pvalue > 0.05 and res.unambiguity_test().pvalue > 0.05


# --------------------------------------------------------------------------- rdrobust's selector
needs_rdrobust = pytest.mark.skipif(not HAVE_RDROBUST, reason="rdrobust is a test requirement")


@needs_rdrobust
def test_rdbwselect_recomputed_from_its_building_block(synced):
    _, runs, _ = synced
    steps = runs[RDROBUST_EXAMPLE].namespace["steps"]
    for key in ("h", "b"):
        np.testing.assert_allclose(steps["rdbwselect recomputed"][key], steps["rdbwselect"][key],
                                   rtol=RTOL_RDROBUST_RECOMPUTED)


@needs_rdrobust
def test_curvature_bandwidth_and_regulariser_explain_the_gap_on_the_quickstart(synced):
    _, runs, _ = synced
    steps = runs[RDROBUST_EXAMPLE].namespace["steps"]
    h = steps["r3d.select_bandwidth"]["h"]
    assert h / steps["rdbwselect"]["h"] > MIN_GAP
    assert h / steps["  with r3d's b"]["h"] < MAX_RATIO_WITH_B
    assert abs(math.log(h / steps["  and r3d's R (1x, not 3x)"]["h"])) < LOG_TOL_QUICKSTART


@needs_rdrobust
@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("q", [0.25, 0.75])
def test_the_explanation_holds_on_other_samples(synced, seed, q):
    from rdrobust import rdbwselect

    _, runs, _ = synced
    rdrobust_steps = runs[RDROBUST_EXAMPLE].namespace["rdrobust_steps"]
    mod = r3d.R3D.from_formula("wage ~ revenue", data=r3d.datasets.simulate_firms(600, rng=seed), cutoff=1.0,
                               unit="firm")
    sel = r3d.select_bandwidth(mod, method="simple", quantiles=[q])
    y, x = mod.unit_quantiles([q]).iloc[:, 0].to_numpy(), np.asarray(mod.running)
    h, b = sel.h[0], sel.steps.b[0]
    assert h / rdbwselect(y, x, c=1.0, p=1, kernel="tri").bws.iloc[0, 0] > MIN_GAP
    assert h / rdrobust_steps(y, x, 1.0, b=b)["h"] < MAX_RATIO_WITH_B
    assert abs(math.log(h / rdrobust_steps(y, x, 1.0, b=b, reg=1.0)["h"])) < LOG_TOL_SAMPLES


# --------------------------------------------------------------------------- coming_from_r.md
def test_test_critical_values_are_order_statistics_where_r_interpolates():
    """coming_from_r.md: r3d takes the ceil((1 - alpha)(B + 1))-th smallest statistic, R's
    test_crit_val is the type 7 quantile; the quickstart at B = 250 gives 2.182 and 2.115 (default vce)."""
    df = r3d.datasets.simulate_firms(n_firms=600, rng=42)
    mod = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")
    res = mod.fit(method="frechet", quantiles=np.arange(1, 20) / 20, n_boot=250, rng=1)
    stats = np.abs(res.bootstrap_draws).max(axis=1)
    rank = math.ceil(0.95 * 251)
    assert rank == 239
    test = res.nullity_test()
    assert test.critical_value == np.sort(stats)[rank - 1] == res.critical_value
    assert f"{test.critical_value:.3f}" == "2.182"
    assert f"{np.quantile(stats, 0.95):.3f}" == "2.115"  # R: stats::quantile(supvals, 0.95)
    page = (DOCS / "coming_from_r.md").read_text(encoding="utf-8")
    assert "2.182 in `r3d`" in page and "2.115 by R's rule" in page


# --------------------------------------------------------------------------- bandwidth_vs_R.md
def _bandwidth_theory():
    spec = importlib.util.spec_from_file_location("bandwidth_theory", ROOT / "benchmarks" / "bandwidth_theory.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(("name", "data", "frechet"), [
    ("sharp", "ref_data_sharp_simple_20", False),
    ("frechet", "ref_data_sharp_simple_20", True),
    ("fuzzy", "ref_data_fuzzy_simple_20", False),
])
def test_r_rule_without_a_units_guard_reproduces_r(name, data, frechet):
    """R's selector has no minimum share of units inside h (bandwidth_vs_R.md): the
    re-implementation, whose only guard is R's Silverman fallback, gives R's bandwidths."""
    bt = _bandwidth_theory()
    df = load_ref(data)
    x = df["X"].to_numpy()
    Y = df[[f"Q{j}" for j in range(1, 21)]].to_numpy()
    assert ref_quantile_grid(20).size == Y.shape[1]
    ref = load_ref(f"ref_bwselect_{name}")
    got = bt.r_package_rule(x, Y, frechet=frechet)
    np.testing.assert_allclose(got["h"], ref["h_star_num"].to_numpy(), rtol=RTOL_R_RULE)
    np.testing.assert_allclose(got["pilot"], ref["pilot_h_num"].to_numpy(), rtol=1e-3)
    if name == "fuzzy":
        t = bt.r_package_rule(x, df["T_treat"].to_numpy()[:, None], frechet=False)
        np.testing.assert_allclose(t["h"][0], ref["h_star_den"].iloc[0], rtol=RTOL_R_RULE)


def test_the_check_names_a_stale_block():
    page = DOCS / "tutorial.md"
    text = page.read_text(encoding="utf-8")
    fit = next(b for b in sync.blocks(page) if b.kind == "output" and b.piece == "fit")
    altered = text[:fit.start] + text[fit.start:fit.end].replace("Bandwidth", "Bandwith", 1) + text[fit.end:]
    assert sync.stale([page], {page: altered}) == ["tutorial.md: output of tutorial.py#fit"]


#: The tutorial's covariate section (section 9): the adjusted fit's standard errors against the
#: unadjusted ones on the same data, measured 0.71 to 0.73 at q = 0.1, 0.5, 0.9; the page says
#: "about 30%" smaller.
MAX_SE_RATIO_COVARIATES = 0.8
#: gamma(q) against the gaps the script adds, at q = 0.1, 0.5, 0.9: measured at most 0.024 off for
#: age (per year) and 0.45 for the industry dummies (the gaps are 10 and 5).
GAMMA_ATOL_AGE = 0.05
GAMMA_ATOL_INDUSTRY = 0.6


def test_tutorial_covariate_section_shows_what_it_claims(synced):
    """Section 9: the covariates are balanced jointly, the adjusted estimate agrees with the
    unadjusted one within a standard error and is more precise (narrower band), and gamma recovers
    the wage gaps the script added (0.25 a year of age, -10 retail and -5 services)."""
    _, runs, _ = synced
    ns = runs["tutorial.py"].namespace
    bal, plain, cov, levels = ns["bal"], ns["res_plain"], ns["res_cov"], ns["levels"]
    assert not bal.joint.reject and bal.joint.n_covariates == 3
    assert np.all(np.abs(cov.params[levels] - plain.params[levels]) < plain.bse[levels])
    assert np.all(cov.bse[levels] < MAX_SE_RATIO_COVARIATES * plain.bse[levels])
    assert cov.critical_value < plain.critical_value
    gamma = cov.covariate_coefficients[levels]
    np.testing.assert_allclose(gamma.loc["age"], 0.25, atol=GAMMA_ATOL_AGE)
    np.testing.assert_allclose(gamma.loc["industry[T.retail]"], -10.0, atol=GAMMA_ATOL_INDUSTRY)
    np.testing.assert_allclose(gamma.loc["industry[T.services]"], -5.0, atol=GAMMA_ATOL_INDUSTRY)
