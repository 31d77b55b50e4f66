"""The density (manipulation) test and the binomial test (r3d/density.py, issue 17).

The density test equals the ``rddensity`` package (Cattaneo, Jansson, Ma; PyPI ``rddensity`` 3.0,
a test dependency) on the same unit-level running variable: statistic, p-value, bandwidths, both
side densities and their standard errors; its curves equal ``lpdensity`` (rddensity's
``rdplotdensity`` draws those). The binomial test's p-values are scipy's ``binomtest`` on the
counts, and its counts and p-values equal rddensity's ``bino`` output on the same windows.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from _html import Tables
from scipy import stats

import r3d
from r3d.density import DEFAULT_BINOMIAL_COUNTS, BinomialTest, DensityTest, binomial_test, density_test

#: Both programs do the same algebra in double precision; they differ in the kernel moments of
#: the bias constant (rddensity integrates numerically with scipy's quad, r3d uses the exact
#: fractions), which moves the bandwidths by ~1e-11 relative and the statistic with them.
#: Measured over every case below with order p <= 2: 3.9e-10 (statistic), 5.1e-11 (bandwidths),
#: 2e-11 (densities), 3e-10 (standard errors).
RTOL_RDDENSITY = 2e-9
#: Orders p = 3, 4 fit polynomials of order 4, 5 whose Gram matrices are ill-conditioned: the two
#: programs' rounding (block vs interleaved columns) shows in the jackknife standard errors and the
#: statistic; measured 2.4e-8 (standard errors) and 1.7e-8 (statistic).
RTOL_RDDENSITY_HIGH_ORDER = 1e-7
#: p-values are compared absolutely (rddensity computes 2 (1 - Phi(|T|)), r3d 2 Phi(-|T|), which
#: differ by rounding near 0); measured 1.4e-10 for p <= 2, 5.4e-9 for p = 3, 4.
ATOL_PVALUE = 1e-9
ATOL_PVALUE_HIGH_ORDER = 5e-8
#: The curves against lpdensity: the same sums in another order (measured 2.9e-12).
RTOL_LPDENSITY = 1e-10


@pytest.fixture(scope="module")
def rdd():
    """rddensity, imported inside a test so that the warning filters it sets at import are undone after it."""
    return pytest.importorskip("rddensity")


def _designs():
    rng = np.random.default_rng(20261130)
    return {
        "uniform": (rng.uniform(-1, 1, 1000), 0.0),
        "normal": (rng.normal(0, 1, 2000), 0.0),
        "density jump": (np.r_[rng.uniform(-1, 0, 400), rng.uniform(0, 1, 800)], 0.0),
        "asymmetric sizes": (rng.normal(0.8, 1, 1500), 0.0),
        "non-zero cutoff": (rng.normal(5, 2, 1200), 6.0),
        "ties (mass points)": (np.round(rng.normal(0, 1, 1500), 2), 0.005),
        "small": (rng.uniform(-1, 1, 120), 0.1),
    }


DESIGNS = _designs()


def _check_equal(me, ref):
    rtol = RTOL_RDDENSITY if me.order <= 2 else RTOL_RDDENSITY_HIGH_ORDER
    np.testing.assert_allclose(me.statistic, ref.test["t_jk"], rtol=rtol)
    np.testing.assert_allclose(me.pvalue, ref.test["p_jk"], rtol=0,
                               atol=ATOL_PVALUE if me.order <= 2 else ATOL_PVALUE_HIGH_ORDER)
    np.testing.assert_allclose([me.h_left, me.h_right], [ref.h["left"], ref.h["right"]], rtol=rtol)
    np.testing.assert_allclose([me.f_left, me.f_right, me.difference],
                               [ref.hat["left"], ref.hat["right"], ref.hat["diff"]], rtol=rtol)
    np.testing.assert_allclose([me.se_left, me.se_right, me.se_diff],
                               [ref.sd_jk["left"], ref.sd_jk["right"], ref.sd_jk["diff"]], rtol=rtol)
    assert (me.n_left, me.n_right, me.n_eff_left, me.n_eff_right) == (
        ref.n["left"], ref.n["right"], ref.n["eff_left"], ref.n["eff_right"])


@pytest.mark.parametrize("bwselect", ["comb", "each", "diff", "sum"])
@pytest.mark.parametrize("design", list(DESIGNS))
def test_equals_rddensity(rdd, design, bwselect):
    x, c = DESIGNS[design]
    ref = rdd.rddensity(x, c=c, bwselect=bwselect)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.SmallSampleWarning)
        me = density_test(x, cutoff=c, bwselect=bwselect)
    _check_equal(me, ref)


@pytest.mark.parametrize("design", ["normal", "density jump", "non-zero cutoff"])
def test_bandwidth_candidates_equal_rdbwdensity(rdd, design):
    x, c = DESIGNS[design]
    ref = rdd.rdbwdensity(x, c=c).h["bw"].to_numpy()
    bw = density_test(x, cutoff=c).bandwidths
    np.testing.assert_allclose([bw.left, bw.right, bw.diff, bw.sum], ref, rtol=RTOL_RDDENSITY)


@pytest.mark.parametrize("kernel", ["epanechnikov", "uniform"])
@pytest.mark.parametrize("order", [1, 3, 4])
def test_kernels_and_orders_equal_rddensity(rdd, kernel, order):
    x, c = DESIGNS["asymmetric sizes"]
    _check_equal(density_test(x, cutoff=c, kernel=kernel, order=order), rdd.rddensity(x, c=c, p=order, kernel=kernel))


@pytest.mark.parametrize("h", [0.5, (0.4, 0.9)])
def test_fixed_bandwidths_equal_rddensity(rdd, h):
    x, c = DESIGNS["density jump"]
    me = density_test(x, cutoff=c, bandwidth=h)
    assert me.bwselect == "fixed" and me.bandwidths is None
    _check_equal(me, rdd.rddensity(x, c=c, h=list(np.atleast_1d(h))))


def test_detects_a_density_jump():
    x, c = DESIGNS["density jump"]
    assert density_test(x, cutoff=c).pvalue < 0.01


@pytest.mark.parametrize("design", ["normal", "ties (mass points)"])
def test_curves_equal_lpdensity(rdd, design):
    lpdensity = pytest.importorskip("lpdensity").lpdensity
    x, c = DESIGNS[design]
    me = density_test(x, cutoff=c)
    cur = me.curves(n_points=11)
    for side, xs, h in (("left", x[x < c], me.h_left), ("right", x[x >= c], me.h_right)):
        part = cur[cur["side"] == side]
        ref = lpdensity(data=xs, grid=part["x"].to_numpy(), bw=[h], p=me.order, q=me.order + 1, v=1,
                        kernel=me.kernel, scale=[(xs.size - 1) / (x.size - 1)]).Estimate
        np.testing.assert_allclose(part["density"], ref["f_p"], rtol=RTOL_LPDENSITY)
        np.testing.assert_allclose(part["density_bc"], ref["f_q"], rtol=RTOL_LPDENSITY)
        np.testing.assert_allclose(part["se"], ref["se_q"], rtol=RTOL_LPDENSITY)
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(cur["ci_upper"] - cur["ci_lower"], 2 * z * cur["se"], rtol=1e-12)


# --------------------------------------------------------------------------------- binomial
def test_binomial_pvalues_are_scipys_on_the_counts():
    x, c = DESIGNS["normal"]
    b = binomial_test(x, cutoff=c, windows=[0.01, 0.05, 0.2, 1.0])
    for w, nl, nr, p in zip(b.window, b.n_left, b.n_right, b.pvalue, strict=True):
        assert nl == np.sum((x >= c - w) & (x < c)) and nr == np.sum((x >= c) & (x <= c + w))
        assert p == stats.binomtest(int(nl), int(nl + nr), 0.5).pvalue


def test_binomial_equals_rddensity_bino(rdd):
    x, c = DESIGNS["asymmetric sizes"]
    ref = rdd.rddensity(x, c=c, binoW=0.02, binoWStep=0.03, binoNW=6).bino
    b = binomial_test(x, cutoff=c, windows=0.02 + 0.03 * np.arange(6))
    np.testing.assert_array_equal(b.n_left, ref["leftN"])
    np.testing.assert_array_equal(b.n_right, ref["rightN"])
    np.testing.assert_allclose(b.pvalue, ref["pval"], rtol=1e-12)


def test_binomial_default_windows_hold_the_nearest_units():
    x, c = DESIGNS["normal"]
    b = binomial_test(x, cutoff=c)
    assert b.rule == "nearest"
    np.testing.assert_array_equal(b.n_left + b.n_right, DEFAULT_BINOMIAL_COUNTS)
    np.testing.assert_array_equal(b.window, np.sort(np.abs(x - c))[np.array(DEFAULT_BINOMIAL_COUNTS) - 1])
    few = binomial_test(x[:30], cutoff=c)
    assert (few.n_left + few.n_right).tolist() == [20]
    tiny = binomial_test(np.array([-0.2, -0.1, 0.3]), cutoff=0.0)
    assert (tiny.n_left + tiny.n_right).tolist() == [3]
    assert list(b.frame.columns) == ["window", "n_left", "n_right", "share_left", "pvalue"]


# --------------------------------------------------------------------------------- the model
def test_one_observation_per_unit():
    """A long model with many draws per unit gives the same tests as the unit-level values."""
    df = r3d.datasets.simulate_firms(n_firms=400, n_workers=(5, 60), rng=7)
    mod = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")
    x = df.groupby("firm", sort=False)["revenue"].first().to_numpy()
    assert x.size == 400 < len(df)
    me, ref = mod.density_test(), density_test(x, cutoff=1.0)
    for f in DensityTest.__slots__:
        if f not in ("x", "name", "bandwidths"):
            assert getattr(me, f) == getattr(ref, f), f
    assert me.name == "revenue"
    Q = mod.unit_quantiles(quantiles=[0.25, 0.5, 0.75])
    by_quantiles = r3d.R3D.from_quantiles(Q.to_numpy(), mod.running.to_numpy(), [0.25, 0.5, 0.75], cutoff=1.0)
    assert by_quantiles.density_test().statistic == me.statistic
    mb, rb = mod.binomial_test(), binomial_test(x, cutoff=1.0)
    pd.testing.assert_frame_equal(mb.frame, rb.frame)
    pooled = density_test(df["revenue"].to_numpy(), cutoff=1.0)   # the mistake the method prevents
    assert pooled.n_left + pooled.n_right == len(df)


def test_model_options_reach_the_test(rdd):
    df = r3d.datasets.simulate_firms(n_firms=500, n_workers=3, rng=2)
    mod = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")
    x = mod.running.to_numpy()
    me = mod.density_test((0.2, 0.3), order=1, kernel="epa")
    _check_equal(me, rdd.rddensity(x, c=1.0, p=1, kernel="epanechnikov", h=[0.2, 0.3]))
    _check_equal(mod.density_test(bwselect="each"), rdd.rddensity(x, c=1.0, bwselect="each"))
    assert mod.binomial_test(windows=[0.05]).n_left[0] == np.sum((x >= 0.95) & (x < 1.0))


# --------------------------------------------------------------------------------- display
def test_displays():
    x, c = DESIGNS["normal"]
    t = density_test(x, cutoff=c)
    text = repr(t)
    assert text.startswith("<DensityTest: T=") and "\n" not in text and len(text) < 120
    Tables().feed(t._repr_html_())
    assert list(t.frame.columns) == ["density", "se", "h", "n", "n_eff"]
    assert t.frame.loc["right", "density"] == t.f_right
    s = t.summary()
    assert "Density test" in s.as_text() and "tabular" in s.as_latex() and "<table" in s.as_html()
    b = binomial_test(x, cutoff=c)
    assert repr(b).startswith("<BinomialTest: 10 windows") and "\n" not in repr(b)
    Tables().feed(b._repr_html_())
    assert "Binomial tests" in b.summary().as_text()
    ties = density_test(*DESIGNS["ties (mass points)"][:1], cutoff=DESIGNS["ties (mass points)"][1])
    assert ties.n_ties > 0 and "mass-point adjustment" in ties.summary().as_text()
    assert t.n_ties == 0 and "mass-point" not in s.as_text()
    assert isinstance(t, DensityTest) and isinstance(b, BinomialTest)


def test_plot():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, c = DESIGNS["density jump"]
    t = density_test(x, cutoff=c)
    fig, ax = plt.subplots()
    assert t.plot(ax=ax, n_points=15) is ax
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 15]
    assert len(lines) == 2
    cur = t.curves(15)
    np.testing.assert_array_equal(lines[0].get_ydata(), cur.loc[cur["side"] == "left", "density"])
    assert any(list(ln.get_xdata()) == [c, c] for ln in ax.get_lines())   # the cutoff
    assert "T = " in ax.get_title()
    plt.close(fig)


# --------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("kwargs", "exc", "text"), [
    ({"bandwidth": -1.0}, ValueError, "`bandwidth` must be finite and > 0"),
    ({"bandwidth": (0.1, 0.2, 0.3)}, TypeError, "`bandwidth` must be None, a number or a pair"),
    ({"bandwidth": "wide"}, TypeError, "`bandwidth` must be None, a number or a pair"),
    ({"order": 0}, ValueError, "`order` must be an integer in [1, 7]"),
    ({"order": 8}, ValueError, "`order` must be an integer in [1, 7]"),
    ({"kernel": "gaussian"}, ValueError, "`kernel` must be one of"),
    ({"bwselect": "median"}, ValueError, "`bwselect` must be one of 'comb', 'each', 'diff', 'sum'"),
    ({"cutoff": 5.0}, ValueError, "`cutoff` must be inside the range of the running variable"),
    ({"cutoff": float("nan")}, ValueError, "`cutoff` must be a finite number"),
])
def test_density_errors(kwargs, exc, text):
    x, _ = DESIGNS["uniform"]
    kw = {"cutoff": 0.0} | kwargs
    with pytest.raises(exc, match=re.escape(text)):
        density_test(x, **kw)


def test_density_errors_data():
    with pytest.raises(ValueError, match="non-empty"):
        density_test([], cutoff=0.0)
    with pytest.raises(ValueError, match="finite"):
        density_test([np.nan, 1.0, -1.0], cutoff=0.0)
    x = np.r_[np.linspace(-1, -0.1, 4), np.linspace(0, 1, 50)]
    with pytest.raises(r3d.InsufficientDataError, match="needs at least 6 = order \\+ 4 distinct values"):
        density_test(x, cutoff=0.0)
    x = np.r_[np.repeat([-0.3, -0.2, -0.1], 50), np.linspace(-1, -0.5, 30), np.linspace(0, 1, 200)]
    with pytest.raises(r3d.InsufficientDataError, match="singular"):
        density_test(x, cutoff=0.0, bandwidth=0.35)
    x, c = DESIGNS["uniform"]
    with pytest.warns(r3d.SmallSampleWarning, match="units lie inside the density test's windows"):
        t = density_test(x, cutoff=c, bandwidth=0.02)
    assert t.notes and "fewer than 20" in t.notes[0]
    with pytest.raises(ValueError, match="`plot_range` must be a pair \\(low, high\\) with low < cutoff"):
        t.curves(plot_range=(0.1, 0.5))
    with pytest.raises(TypeError, match="`plot_range` must be a pair"):
        t.curves(plot_range=3)
    with pytest.raises(ValueError, match="`n_points` must be an integer in \\[2, inf\\]"):
        t.curves(n_points=1)


@pytest.mark.parametrize(("windows", "exc", "text"), [
    ([0.1, -0.2], ValueError, "`windows` must be None or one or more finite half-widths > 0"),
    ([], ValueError, "`windows` must be None or one or more finite half-widths > 0"),
    (["a"], TypeError, "`windows` must be None or half-widths"),
    ([1e-9], ValueError, "`windows` must be half-widths whose windows [c - w, c + w] hold at least one unit"),
])
def test_binomial_errors(windows, exc, text):
    x = np.array([-0.5, -0.2, 0.1, 0.4])
    with pytest.raises(exc, match=re.escape(text)):
        binomial_test(x, cutoff=0.0, windows=windows)


def test_model_errors():
    df = r3d.datasets.simulate_firms(n_firms=200, n_workers=3, rng=1)
    mod = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")
    with pytest.raises(ValueError, match="`bwselect` must be one of"):
        mod.density_test(bwselect="x")
    with pytest.raises(ValueError, match="`bandwidth` must be finite and > 0"):
        mod.density_test(0.0)
    with pytest.raises(TypeError, match="`order` must be an integer"):
        mod.density_test(order=2.0)


# --------------------------------------------------------------------------------- simulation
#: Replications of the quick simulation: the Monte Carlo standard error of a 5% rate is 1.1 points.
SLOW_REPS = 400
#: Size of a nominal 5% test: about 3 Monte Carlo standard errors either side.
SIZE_GATE = (0.02, 0.09)
#: Power at n = 2000, s = 0.25 (85.4% measured in 2,000 replications) less about 4 MC standard errors
#: of 400 replications (1.8 points each).
MIN_POWER = 0.78


@pytest.mark.slow
def test_size_and_power_quick():
    """benchmarks/montecarlo_density.py, 400 replications at n = 2000: size near 5% without sorting,
    power at least 78% when a quarter of the units just below the cutoff move above it (the full run,
    2,000 replications: size 4.2%, power 85.4% in benchmarks/results/montecarlo_density.md)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "montecarlo_density", Path(__file__).resolve().parent.parent / "benchmarks" / "montecarlo_density.py")
    mc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mc)
    table = mc.run(n_values=(2000,), shares=(0.0, 0.25), reps=SLOW_REPS, seed=mc.SEED)
    size = table.loc[table["sorted_share"] == 0.0, "density_reject"].item()
    power = table.loc[table["sorted_share"] == 0.25, "density_reject"].item()
    assert SIZE_GATE[0] <= size <= SIZE_GATE[1], table
    assert power >= MIN_POWER, table
