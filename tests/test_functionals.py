"""Effects on functionals of the limit distributions and the dominance tests (issue 16,
METHOD_EXTENSIONS §10), against independent computations: the average effect, the R package's
Gini on the same limits, numpy's interpolation, numerical derivatives, t_test contrasts and
direct numpy versions of the test statistics."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _quiet import quiet_fit
from _refdata import load_long
from scipy import stats

import r3d
from r3d import bootstrap as boot
from r3d import functionals as fx
from r3d.estimators import average_weights, cumulative_integral

REF = Path(__file__).parent / "reference" / "oracle" / "gini_limits.json"

#: functional("mean") against average_effect: the same sums in another order (w @ m_+ - w @ m_- versus
#: w @ tau; (a^+ - a^-) @ w versus a @ w). Measured <= 1.6e-15 relative on these fits.
RTOL_MEAN = 1e-12
#: The R package's Gini (R3D 0.1.0, tests/reference/oracle/gini_limits.json) on its own limits, and
#: end to end for frechet (whose limits equal R's to 1.6e-13): measured <= 2.3e-16 and <= 6.7e-16.
ATOL_GINI_R = 1e-14
#: A callable re-implementing a built-in: the same value (bit for bit), and the standard error from
#: central differences (step eps^(1/3) relative) against the analytic Jacobian: measured <= 4e-10
#: relative for the Gini, the P90/P10 and the variance, 9e-8 for the share below z (a ratio in the two
#: grid quantiles around z, with a larger third derivative).
RTOL_CALLABLE_SE = 3e-7
#: Analytic Jacobians against central differences (step 1e-6) on a smooth quantile function: measured
#: <= 1.2e-8 relative to the largest entry (the Lorenz curve; 7e-9 the mean and the Gini).
RTOL_JACOBIAN = 1e-7
#: Same arithmetic in another order (numpy versions of the statistics, interpolation).
RTOL_SAME = 1e-13
#: Per-side bootstrap processes replay the tau process's multipliers (tests/test_structure.py).
RTOL_SIDES = 1e-10


def _units(n=400, seed=5, clusters=False):
    """Positive unit quantile functions with a jump in level and spread at 0."""
    rng = np.random.default_rng(seed)
    grid = np.arange(1, 20) / 20
    x = rng.uniform(-1, 1, n)
    d = x >= 0
    level = 10 + x + 0.5 * x**2 + 0.8 * d + rng.normal(0, 0.5, n)
    spread = 2.0 * (1 + 0.3 * d) * np.exp(rng.normal(0, 0.1, n))
    Q = level[:, None] + spread[:, None] * stats.norm.ppf(grid)[None, :]
    kw = {}
    if clusters:
        kw["cluster"] = rng.integers(0, 60, n)
    return r3d.R3D.from_quantiles(Q, x, quantiles=grid, cutoff=0.0, **kw), grid


@pytest.fixture(scope="module")
def sharp():
    mod, _ = _units()
    return quiet_fit(mod, n_boot=199, rng=3)


@pytest.fixture(scope="module")
def clustered():
    mod, _ = _units(clusters=True)
    return quiet_fit(mod, method="simple", n_boot=199, rng=4)


# ---------------------------------------------------------------------------------------------
# the mean is the average effect
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fixture", ["sharp", "clustered"])
def test_mean_is_the_average_effect(fixture, request):
    res = request.getfixturevalue(fixture)
    ae, m = res.average_effect, res.functional("mean")
    assert m.estimate == pytest.approx(ae.estimate, rel=RTOL_MEAN)
    assert m.se == pytest.approx(ae.se, rel=RTOL_MEAN)
    assert m.conf_int() == pytest.approx((ae.lower, ae.upper), rel=RTOL_MEAN)
    assert m.pvalue == pytest.approx(ae.pvalue, rel=1e-9, abs=1e-300)
    w = average_weights(res.quantiles)
    assert m.left == pytest.approx(w @ res.limits["left"].to_numpy(), rel=RTOL_SAME)
    assert m.right == pytest.approx(w @ res.limits["right"].to_numpy(), rel=RTOL_SAME)
    assert m.grid_range == (res.quantiles[0], res.quantiles[-1])


def test_mean_with_per_quantile_bandwidths_and_covariates():
    mod, grid = _units(seed=8)
    res = quiet_fit(mod, method="simple", bandwidth=np.linspace(0.5, 0.8, grid.size), n_boot=0)
    assert res.functional("mean").se == pytest.approx(res.average_effect.se, rel=RTOL_MEAN)
    rng = np.random.default_rng(9)
    x = mod._data.units.x
    Z = pd.DataFrame({"z": rng.normal(size=x.size)})
    qmat = 10 + x[:, None] + np.sort(rng.normal(size=(x.size, grid.size)), axis=1) + Z["z"].to_numpy()[:, None]
    with_cov = r3d.R3D.from_quantiles(qmat, x, quantiles=grid, cutoff=0.0, covariates=Z)
    res = quiet_fit(with_cov, n_boot=0)
    m, ae = res.functional("mean"), res.average_effect
    assert m.estimate == pytest.approx(ae.estimate, rel=RTOL_MEAN) and m.se == pytest.approx(ae.se, rel=RTOL_MEAN)


# ---------------------------------------------------------------------------------------------
# the R package's Gini on the same limits
# ---------------------------------------------------------------------------------------------
def _oracle():
    return json.loads(REF.read_text())["cases"]


@pytest.mark.parametrize("case", sorted(_oracle()))
def test_gini_equals_the_r_package_on_the_same_limits(case):
    c = _oracle()[case]
    q = np.asarray(c["q_grid"])
    gini = fx.FUNCTIONALS["gini"]
    assert gini.value(q, np.asarray(c["int_plus"]), {}) == pytest.approx(c["gini_above"], abs=ATOL_GINI_R)
    assert gini.value(q, np.asarray(c["int_minus"]), {}) == pytest.approx(c["gini_below"], abs=ATOL_GINI_R)


@pytest.mark.parametrize("data", ["sharp", "dgp1", "dgp2"])
def test_gini_of_a_frechet_fit_equals_r_end_to_end(data):
    """R's frechet limits equal r3d's, so the fitted Gini levels do too (R's simple method rearranges
    its limits by interpolation; tests/test_against_r.py and docs/coming_from_r.md)."""
    c = _oracle()[f"{data}_frechet"]
    df = load_long(f"ref_long_{data}")
    mod = r3d.R3D(df["y"], df["x"], df["unit"], cutoff=0.0)
    res = quiet_fit(mod, method="frechet", bandwidth=0.5, kernel="epanechnikov", order=2, n_boot=0,
                    quantiles=np.asarray(c["q_grid"]))
    g = res.functional("gini")
    assert g.right == pytest.approx(c["gini_above"], abs=ATOL_GINI_R)
    assert g.left == pytest.approx(c["gini_below"], abs=ATOL_GINI_R)
    assert g.estimate == pytest.approx(c["gini_diff"], abs=2 * ATOL_GINI_R)


# ---------------------------------------------------------------------------------------------
# values against independent formulas
# ---------------------------------------------------------------------------------------------
def test_share_below_is_the_inverse_by_interpolation():
    q = np.arange(1, 100) / 100
    Q = np.exp(stats.norm.ppf(q))  # strictly increasing, no steps
    for z in (0.2, 0.7, 1.0, 3.3, float(Q[0]), float(Q[-2]) + 1e-9):
        assert fx.share_below(q, Q, z) == pytest.approx(np.interp(z, Q, q), rel=RTOL_SAME)
    with pytest.raises(fx._OutsideRange):
        fx.share_below(q, Q, float(Q[-1]))


def test_variance_sd_iqr_ratio_lorenz_and_gini_against_numpy():
    q = np.arange(1, 40) / 40
    Q = 3 + np.exp(0.5 * stats.norm.ppf(q))
    w = average_weights(q)
    mu = np.average(Q, weights=w)
    var = np.average((Q - mu) ** 2, weights=w)
    F = fx.FUNCTIONALS
    assert F["variance"].value(q, Q, {}) == pytest.approx(var, rel=RTOL_SAME)
    assert F["sd"].value(q, Q, {}) == pytest.approx(math.sqrt(var), rel=RTOL_SAME)
    o = {"lower": 0.1, "upper": 0.9}
    assert F["iqr"].value(q, Q, o) == pytest.approx(np.interp(0.9, q, Q) - np.interp(0.1, q, Q), rel=RTOL_SAME)
    assert F["quantile_ratio"].value(q, Q, o) == pytest.approx(np.interp(0.9, q, Q) / np.interp(0.1, q, Q),
                                                               rel=RTOL_SAME)
    # Lorenz: cumulative trapezoid (flat below q_1) over the mean; Gini = 1 - 2 * area under L
    pe = np.r_[0.0, q, 1.0]
    Qe = np.r_[Q[0], Q, Q[-1]]
    cum = np.r_[0.0, np.cumsum(0.5 * (Qe[1:] + Qe[:-1]) * np.diff(pe))]
    L = cum / cum[-1]
    np.testing.assert_allclose(F["lorenz"].value(q, Q, {}), L[1:-1], rtol=RTOL_SAME)
    gini = 1 - 2 * np.sum(0.5 * (L[1:] + L[:-1]) * np.diff(pe))
    assert F["gini"].value(q, Q, {}) == pytest.approx(gini, rel=RTOL_SAME)
    s, u = fx._gini_parts(q, Q)
    assert 1 - 2 * (s @ Q) / (u @ Q) == pytest.approx(gini, rel=RTOL_SAME)


def test_cumulative_integral_against_scipy():
    from scipy.integrate import cumulative_trapezoid

    q = np.sort(np.random.default_rng(2).uniform(0.02, 0.98, 30))
    v = np.cos(4 * q)
    got = cumulative_integral(q, v)
    expected = q[0] * v[0] + np.r_[0.0, cumulative_trapezoid(v, q)]
    np.testing.assert_allclose(got, expected, rtol=RTOL_SAME)


@pytest.mark.parametrize("name, options", [("mean", {}), ("variance", {}), ("sd", {}), ("gini", {}),
                                           ("iqr", {"lower": 0.2, "upper": 0.8}),
                                           ("quantile_ratio", {"lower": 0.13, "upper": 0.9}),
                                           ("share_below", {"z": 4.1}), ("lorenz", {})])
def test_analytic_jacobians_equal_central_differences(name, options):
    q = np.arange(1, 30) / 30
    Q = 3 + np.exp(0.5 * stats.norm.ppf(q))
    f = fx.FUNCTIONALS[name]
    opts = f.check(q, {**f.options, **options}) if f.check else {**f.options, **options}
    J = np.atleast_2d(f.jacobian(q, Q, opts))
    h = 1e-6
    num = np.empty_like(J)
    for j in range(q.size):
        up, down = Q.copy(), Q.copy()
        up[j] += h
        down[j] -= h
        num[:, j] = (np.atleast_1d(f.value(q, up, opts)) - np.atleast_1d(f.value(q, down, opts))) / (2 * h)
    np.testing.assert_allclose(J, num, rtol=RTOL_JACOBIAN, atol=RTOL_JACOBIAN * np.abs(J).max())


# ---------------------------------------------------------------------------------------------
# inference against independent routes
# ---------------------------------------------------------------------------------------------
def test_linear_functional_equals_the_t_test_contrast(sharp):
    """Q(0.75) - Q(0.25) on the grid is linear: its effect is tau(0.75) - tau(0.25), with t_test's sd."""
    iqr = sharp.functional("iqr")
    ct = sharp.t_test("tau(0.75) - tau(0.25)")
    assert iqr.estimate == pytest.approx(float(ct.effect[0]), rel=RTOL_SAME)
    assert iqr.se == pytest.approx(float(np.ravel(ct.sd)[0]), rel=RTOL_MEAN)


@pytest.mark.parametrize("name, options", [("gini", {}), ("quantile_ratio", {"upper": 0.9, "lower": 0.1}),
                                           ("variance", {}), ("share_below", {"z": 10.5})])
def test_a_callable_reimplementing_a_builtin_equals_it(sharp, name, options):
    f = fx.FUNCTIONALS[name]
    opts = f.check(sharp.quantiles, {**f.options, **options}) if f.check else {}

    def phi(values, levels):
        return f.value(levels, values, opts)

    built_in, mine = sharp.functional(name, **options), sharp.functional(phi)
    assert (mine.estimate, mine.left, mine.right) == (built_in.estimate, built_in.left, built_in.right)
    assert mine.se == pytest.approx(built_in.se, rel=RTOL_CALLABLE_SE)
    assert mine.label == "phi"


def test_callable_options_are_passed_on(sharp):
    def top_share(values, levels, p):
        return float(1 - fx.lorenz_curve(levels, values)[np.searchsorted(levels, p)])

    eff = sharp.functional(top_share, p=0.8)
    assert eff.right == pytest.approx(1 - sharp.functional("lorenz").right.loc[0.8], rel=RTOL_SAME)


def test_lorenz_curve_band_and_draws(sharp):
    L = sharp.functional("lorenz")
    q = sharp.quantiles
    assert isinstance(L.estimate, pd.Series) and L.estimate.index.name == "p"
    np.testing.assert_allclose(L.right.to_numpy(), fx.lorenz_curve(q, sharp.limits["right"].to_numpy()),
                               rtol=RTOL_SAME)
    # the bootstrap draws of the linearised difference reproduce its delta-method variance
    var_boot = L.draws.var(axis=0)
    np.testing.assert_allclose(np.sqrt(var_boot), L.se.to_numpy(), rtol=0.25)
    # the band is the studentized band of those draws
    band = boot.uniform_band(L.values, L.draws, alpha=0.05, band="studentized", se=L.se_values)
    ci = L.conf_int()
    np.testing.assert_array_equal(ci["lower"].to_numpy(), band.lower)
    np.testing.assert_array_equal(ci["upper"].to_numpy(), band.upper)
    assert L.critical_value == band.critical_value
    # the per-side draws are the tau process: the mean's linearisation equals bootstrap_draws @ w
    sd = sharp._side_draws()
    w = average_weights(q)
    np.testing.assert_allclose(sd.plus @ w - sd.minus @ w, sharp.bootstrap_draws @ w, rtol=RTOL_SIDES,
                               atol=RTOL_SIDES * np.abs(sharp.bootstrap_draws @ w).max())
    assert 0 < L.pvalue <= 1
    frame = L.frame
    assert list(frame.columns) == ["left", "right", "effect", "se", "pvalue", "ci_lower", "ci_upper", "band_lower",
                                   "band_upper"]


def test_without_draws_scalars_work_and_bands_say_what_they_need():
    mod, _ = _units()
    res = quiet_fit(mod, n_boot=0)
    assert math.isfinite(res.functional("gini").se)
    L = res.functional("lorenz")
    assert math.isnan(L.pvalue) and L.critical_value is None
    assert "band_lower" not in L.frame.columns
    with pytest.raises(ValueError, match="n_boot=0"):
        L.conf_int()
    with pytest.raises(ValueError, match="n_boot=0"):
        res.functional("w2")


# ---------------------------------------------------------------------------------------------
# the tests against direct numpy computations
# ---------------------------------------------------------------------------------------------
def test_dominance_and_unambiguity_statistics(sharp):
    """Studentized one-sided sup statistics, recomputed with numpy; the cumulative integral's standard
    errors from cov_params (K C K'), an independent route to the influence-matrix ones."""
    tau, G, q = sharp.params.to_numpy(), sharp.bootstrap_draws, sharp.quantiles
    se = sharp.bse.to_numpy()
    B = G.shape[0]

    def p_of(S, Sb):
        return (1 + np.sum(Sb >= S)) / (B + 1)

    d1 = sharp.dominance_test()
    S = max(0.0, np.max(-tau / se))
    Sb = np.maximum(np.max(-G / se, axis=1), 0)
    assert d1.statistic == pytest.approx(S, rel=RTOL_SAME) and d1.pvalue == p_of(S * (1 - 1e-12), Sb)
    K = cumulative_integral(q, np.eye(q.size)).T
    se_gl = np.sqrt(np.diag(K @ sharp.cov_params().to_numpy() @ K.T))
    np.testing.assert_allclose(sharp._cumulative_se(), se_gl, rtol=RTOL_MEAN)
    gl, glb = cumulative_integral(q, tau), cumulative_integral(q, G)
    d2 = sharp.dominance_test(order=2, ranges=(0.2, 0.8))
    idx = (q >= 0.2 - 1e-12) & (q <= 0.8 + 1e-12)
    S2 = max(0.0, np.max(-gl[idx] / se_gl[idx]))
    assert d2.statistic == pytest.approx(S2, rel=RTOL_MEAN)
    assert d2.pvalue == p_of(S2 * (1 - 1e-12), np.maximum(np.max(-glb[:, idx] / se_gl[idx], axis=1), 0))
    u = sharp.unambiguity_test()
    Su = min(max(0.0, (tau / se).max()), max(0.0, (-tau / se).max()))
    assert u.statistic == pytest.approx(Su, rel=RTOL_SAME)
    assert u.pvalue == p_of(Su * (1 - 1e-12), np.maximum((G / se).max(axis=1), 0))
    w2 = sharp.functional("w2")
    w = average_weights(q)
    Sw = math.sqrt(w @ tau**2)
    assert w2.estimate == pytest.approx(Sw, rel=RTOL_SAME)
    assert w2.pvalue == pytest.approx(p_of(Sw * (1 - 1e-15), np.sqrt(G**2 @ w)), abs=1 / (B + 1))
    assert math.isnan(w2.se) and math.isnan(w2.left)


def test_dominance_direction():
    """A positive effect everywhere is consistent with dominance (p = 1) and unambiguous; its mirror
    image rejects dominance."""
    q = np.linspace(0.1, 0.9, 9)
    G = np.random.default_rng(0).normal(size=(499, 9)) * 0.1
    up = boot.TestInputs(tau=np.full(9, 1.0), draws=G, quantiles=q)
    assert boot.run_test("dominance", up).pvalue == 1.0
    assert boot.run_test("unambiguity", up).pvalue == 1.0
    down = boot.TestInputs(tau=np.full(9, -1.0), draws=G, quantiles=q)
    assert boot.run_test("dominance", down).pvalue == 1 / 500
    cross = boot.TestInputs(tau=np.linspace(-1, 1, 9), draws=G, quantiles=q)
    assert boot.run_test("unambiguity", cross).pvalue == 1 / 500


def test_fuzzy_fits_refuse_functionals_but_run_the_tau_tests():
    df = load_long("ref_long_fuzzy")
    unit_t = df.groupby("unit")["t"].first() if "t" in df else None
    assert unit_t is not None
    mod = r3d.R3D(df["y"], df["x"], df["unit"], treatment=df["t"], cutoff=0.0)
    res = quiet_fit(mod, n_boot=99, rng=1, quantiles=np.linspace(0.1, 0.9, 9))
    with pytest.raises(ValueError, match="this fit is fuzzy"):
        res.functional("gini")
    assert 0 < res.functional("w2").pvalue <= 1
    assert 0 < res.dominance_test().pvalue <= 1
    assert 0 < res.unambiguity_test().pvalue <= 1


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
def test_errors_name_the_argument(sharp):
    with pytest.raises(ValueError, match="`functional` must be one of"):
        sharp.functional("entropy")
    with pytest.raises(TypeError, match="`z` must be an option of the gini"):
        sharp.functional("gini", z=3)
    with pytest.raises(TypeError, match="`z` must be the threshold"):
        sharp.functional("share_below")
    with pytest.raises(ValueError, match="`upper` must be a level on the grid range"):
        sharp.functional("quantile_ratio", upper=0.99)
    with pytest.raises(ValueError, match="`upper` must be a level above lower"):
        sharp.functional("iqr", lower=0.5, upper=0.5)
    with pytest.raises(ValueError, match="right limit is not defined: z = 1e"):
        sharp.functional("share_below", z=1e6)
    with pytest.raises(TypeError, match="`functional` must be a callable returning one number"):
        sharp.functional(lambda v, q: v)
    with pytest.raises(ValueError, match="`order` must be 1"):
        sharp.dominance_test(order=3)
    with pytest.raises(TypeError, match="`n` must be no option"):
        sharp.functional("w2", n=3)


def test_gini_of_a_negative_outcome_is_refused():
    _, grid = _units()
    neg = r3d.R3D.from_quantiles(-20 + np.sort(np.random.default_rng(1).normal(size=(300, grid.size)), axis=1),
                                 np.random.default_rng(2).uniform(-1, 1, 300), quantiles=grid, cutoff=0.0)
    res = quiet_fit(neg, n_boot=0)
    with pytest.raises(ValueError, match=r"Gini of the right limit is not defined: .* positive mean"):
        res.functional("gini")
    with pytest.raises(ValueError, match="quantile ratio needs Q"):
        res.functional("quantile_ratio")
    assert math.isfinite(res.functional("sd").estimate)


def test_results_display(sharp):
    g = sharp.functional("gini")
    assert repr(g).startswith("<FunctionalEffect Gini on [0.05, 0.95]: effect=")
    assert "computed on" in g._repr_html_()
    assert list(g.frame.columns)[:4] == ["functional", "left", "right", "effect"]
    d = g.to_dict()
    assert d["grid_range"] == [0.05, 0.95] and d["estimate"] == g.estimate
    assert "FunctionalCurve Lorenz curve" in repr(sharp.functional("lorenz"))
    assert "W2 distance" in repr(sharp.functional("w2"))


# ---------------------------------------------------------------------------------------------
# summary, to_dict, plots
# ---------------------------------------------------------------------------------------------
def test_summary_and_to_dict_show_the_functionals_asked_for(sharp):
    asked = ["gini", "quantile_ratio:upper=0.9,lower=0.1", ("share_below", {"z": 10.5}), "lorenz", "w2"]
    smry = sharp.summary(functionals=asked, tests=["dominance", "unambiguity"])
    text = smry.as_text()
    g = sharp.functional("gini")
    assert "Effects on functionals of the limit distributions, on [0.05, 0.95]" in text
    row = next(line for line in text.splitlines() if line.startswith("Gini"))
    assert [float(v) for v in row.split()[1:4]] == pytest.approx([g.left, g.right, g.estimate], abs=5e-5)
    assert "P90/P10" in text and "share below 10.5" in text and "Lorenz curve at 0.50" in text
    assert "Lorenz curve: sup test" in text and "W2 distance" in text
    assert "tau(q) >= 0" in text and "tau keeps one sign" in text
    assert "delta-method standard errors" in text
    assert "\\begin{tabular}" in smry.as_latex(sections=("functionals",))
    assert "P90/P10" in smry.as_html()
    assert "Effects on functionals" not in sharp.summary().as_text()
    d = sharp.to_dict(functionals=asked, tests="unambiguity")
    assert [f["label"] for f in d["functionals"]] == ["Gini", "P90/P10", "share below 10.5", "Lorenz curve",
                                                       "W2 distance"]
    assert d["functionals"][0]["estimate"] == g.estimate
    assert d["tests"]["unambiguity"]["pvalue"] == sharp.unambiguity_test().pvalue
    assert "functionals" not in sharp.to_dict()
    json.dumps(d["functionals"][3])
    with pytest.raises(TypeError, match="`functionals` must be a name"):
        sharp.summary(functionals=3)
    with pytest.raises(ValueError, match="`functionals` must be 'name' or"):
        sharp.summary(functionals="share_below:z")
    with pytest.raises(ValueError, match="`tests` must be one of"):
        sharp.summary(tests=["kolmogorov"])


def test_lorenz_plots(sharp):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    L = sharp.functional("lorenz")
    _, (a, b) = plt.subplots(1, 2)
    L.plot(ax=a)
    L.plot(ax=b, kind="effect")
    right = next(line for line in a.lines if "above the cutoff" in str(line.get_label()))
    x, y = right.get_data()
    assert (x[0], y[0], x[-1], y[-1]) == (0.0, 0.0, 1.0, 1.0)
    np.testing.assert_array_equal(y[1:-1], L.right_values)
    assert len(a.collections) == 2 and len(b.collections) == 2  # two side bands; band and interval
    ax = sharp.plot(kind="lorenz")
    assert ax.get_title() == "Lorenz curves of the two limits"
    plt.close("all")


@pytest.mark.parametrize("vce", ["hc1", "hc3"])
def test_mean_is_the_average_effect_under_every_vce(vce):
    mod, _ = _units(seed=12)
    res = quiet_fit(mod, n_boot=0, vce=vce)
    m, ae = res.functional("mean"), res.average_effect
    assert m.se == pytest.approx(ae.se, rel=RTOL_MEAN)
    assert m.se != pytest.approx(quiet_fit(mod, n_boot=0, vce="hc0").functional("mean").se, rel=1e-6)
