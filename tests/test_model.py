"""fit(): option validation, the estimator's algebra against direct computations, invariances,
fuzzy reducing to sharp, bootstrap reproducibility and results labelling."""

import warnings

import numpy as np
import pandas as pd
import pytest
from _refdata import load_long, load_ref, ref_quantile_grid

import r3d
from r3d._ext.locpoly_numpy import fit_side_numpy

#: Two implementations of the same least-squares algebra (kernel vs plain numpy): rounding only
#: (measured 1.1e-15).
RTOL_ALGEBRA = 1e-13
#: Numbers derived from the same estimates by a formula or two (z, p-values, intervals, the
#: average effect, a Wald ratio with take-up 1): a few roundings (measured <= 3.3e-16).
RTOL_ROUNDING = 1e-14
#: The same fit of an affinely moved outcome or a shifted running variable: the sums round
#: differently (measured 2.6e-15).
RTOL_EQUIVARIANCE = 1e-13


@pytest.fixture(scope="module")
def ref():
    df = load_ref("ref_data_fuzzy_simple_20")
    Q = df[[f"Q{j}" for j in range(1, 21)]].to_numpy()
    return Q, df["X"].to_numpy(), df["T_treat"].to_numpy(), ref_quantile_grid(20)


@pytest.fixture(scope="module")
def sharp_mod(ref):
    Q, x, _, q = ref
    return r3d.R3D.from_quantiles(Q, x, q)


def _quiet_fit(mod, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        return mod.fit(**kw)


@pytest.mark.parametrize("method", ["simple", "frechet"])
def test_bse_is_hc0_of_direct_least_squares(ref, sharp_mod, method):
    """bse(q)^2 = sum_i ([w+_i - w-_i] e_i(q))^2 with weights and residuals from plain numpy fits
    (Fréchet: residuals of each unit's fitted curve after isotonic projection)."""
    from scipy.optimize import isotonic_regression

    Q, x, _, _ = ref
    h = 0.6
    res = sharp_mod.fit(method=method, bandwidth=h, kernel="triangular", order=2, n_boot=0, vce="hc0")
    fp = fit_side_numpy(x, Q, cutoff=0.0, h=h, order=2, kernel="triangular", side="right")
    fm = fit_side_numpy(x, Q, cutoff=0.0, h=h, order=2, kernel="triangular", side="left")
    right = x >= 0
    fitted = np.where(right[:, None], fp.fitted, fm.fitted)
    inside = np.where(right, fp.kernel_weights[:, 0] > 0, fm.kernel_weights[:, 0] > 0)
    if method == "frechet":
        for i in np.flatnonzero(inside):
            fitted[i] = isotonic_regression(fitted[i]).x
    e = np.where(inside[:, None], Q - fitted, 0.0)
    a = (fp.weights - fm.weights) * e
    np.testing.assert_allclose(res.bse.to_numpy(), np.sqrt((a**2).sum(axis=0)), rtol=RTOL_ALGEBRA)
    np.testing.assert_allclose(res.limits["right_raw"].to_numpy(), fp.intercept, rtol=RTOL_ALGEBRA)
    z = res.params / res.bse
    np.testing.assert_allclose(res.tvalues, z, rtol=RTOL_ROUNDING)
    from scipy import stats

    np.testing.assert_allclose(res.pvalues, 2 * stats.norm.sf(np.abs(z)), rtol=RTOL_ROUNDING)
    ci = res.conf_int(alpha=0.1)
    np.testing.assert_allclose(ci["upper"] - res.params, stats.norm.ppf(0.95) * res.bse, rtol=RTOL_ROUNDING)


def test_average_effect_closed_form(ref, sharp_mod):
    """∫ tau over (0,1) with tau flat beyond the grid: weights (q1+q2)/2, (q_{j+1}-q_{j-1})/2, ..."""
    res = sharp_mod.fit(method="frechet", bandwidth=0.6, n_boot=0)
    q = res.quantiles
    tau = res.params.to_numpy()
    manual = tau[0] * q[0] + np.sum((q[1:] - q[:-1]) * (tau[1:] + tau[:-1]) / 2) + tau[-1] * (1 - q[-1])
    np.testing.assert_allclose(res.average_effect.estimate, manual, rtol=RTOL_ROUNDING)
    # a constant effect integrates to itself
    assert res.average_effect.se > 0


def test_fuzzy_with_perfect_takeup_equals_sharp(ref):
    Q, x, _, q = ref
    t = (x >= 0).astype(float)
    sharp = r3d.R3D.from_quantiles(Q, x, q).fit(method="frechet", bandwidth=0.5, n_boot=0)
    fuzzy = _quiet_fit(r3d.R3D.from_quantiles(Q, x, q, treatment=t), method="frechet", bandwidth=0.5,
                       bandwidth_treatment=0.4, n_boot=0)
    np.testing.assert_allclose(fuzzy.first_stage.jump, 1.0, rtol=RTOL_ROUNDING)
    np.testing.assert_allclose(fuzzy.params, sharp.params, rtol=RTOL_ROUNDING)
    np.testing.assert_allclose(fuzzy.bse, sharp.bse, rtol=RTOL_ROUNDING)  # take-up residuals are exactly 0


def test_fuzzy_delta_method_se_from_two_sharp_fits(ref):
    """Fuzzy variance = sum_i ((D a_i - N b_i) / D^2)^2 computed from two sharp fits."""
    Q, x, t, q = ref
    h, h_t = 0.55, 0.45
    fz = _quiet_fit(r3d.R3D.from_quantiles(Q, x, q, treatment=t), method="simple", bandwidth=h,
                    bandwidth_treatment=h_t, n_boot=0)
    num = r3d.R3D.from_quantiles(Q, x, q).fit(method="simple", bandwidth=h, n_boot=0)
    den = r3d.R3D.from_quantiles(t[:, None] + 0 * Q[:, :1], x, [0.5]).fit(method="simple", bandwidth=h_t, n_boot=0)
    D = den.params.iloc[0]
    N = num.params.to_numpy()
    np.testing.assert_allclose(fz.params.to_numpy(), N / D, rtol=RTOL_ROUNDING)
    ea, eb = num._est.influence, den._est.influence[:, 0]
    manual = np.sqrt((((D * ea - eb[:, None] * N[None, :]) / D**2) ** 2).sum(axis=0))
    np.testing.assert_allclose(fz.bse.to_numpy(), manual, rtol=RTOL_ROUNDING)


def test_affine_equivariance(ref):
    Q, x, _, q = ref
    base = r3d.R3D.from_quantiles(Q, x, q).fit(method="frechet", bandwidth=0.5, n_boot=0)
    aff = r3d.R3D.from_quantiles(3.0 + 2.5 * Q, x, q).fit(method="frechet", bandwidth=0.5, n_boot=0)
    np.testing.assert_allclose(aff.params, 2.5 * base.params, rtol=RTOL_EQUIVARIANCE)
    np.testing.assert_allclose(aff.bse, 2.5 * base.bse, rtol=RTOL_EQUIVARIANCE)
    # reversing the sign reverses the quantile order (Fréchet): tau_{-Y}(q) = -tau_Y(1-q)
    neg = r3d.R3D.from_quantiles(-Q[:, ::-1], x, q).fit(method="frechet", bandwidth=0.5, n_boot=0)
    np.testing.assert_allclose(neg.params.to_numpy(), -base.params.to_numpy()[::-1], rtol=RTOL_EQUIVARIANCE)


def test_shift_running_and_cutoff_together(ref):
    Q, x, _, q = ref
    a = r3d.R3D.from_quantiles(Q, x, q).fit(method="simple", bandwidth=0.5, n_boot=0)
    b = r3d.R3D.from_quantiles(Q, x + 10.0, q, cutoff=10.0).fit(method="simple", bandwidth=0.5, n_boot=0)
    np.testing.assert_allclose(a.params, b.params, rtol=RTOL_EQUIVARIANCE)


def test_bootstrap_reproducible_and_n_jobs_invariant():
    df = load_long("ref_long_sharp")
    mod = r3d.R3D.from_formula("y ~ x", data=df, unit="unit")
    kw = dict(method="frechet", bandwidth=0.5, quantiles=9, n_boot=199, alpha=0.1)
    r1 = mod.fit(rng=7, n_jobs=1, **kw)
    r2 = mod.fit(rng=np.random.default_rng(7), n_jobs=2, **kw)
    np.testing.assert_array_equal(r1.bootstrap_draws, r2.bootstrap_draws)
    np.testing.assert_array_equal(r1.params, r2.params)
    pd.testing.assert_frame_equal(r1.conf_int(kind="uniform"), r2.conf_int(kind="uniform"))
    r3 = mod.fit(rng=8, **kw)
    assert not np.array_equal(r1.bootstrap_draws, r3.bootstrap_draws)
    t = r1.nullity_test()
    assert 0 < t.pvalue <= 1 and t.n_boot == 199
    both = r1.homogeneity_test(ranges=[(0.1, 0.5), (0.5, 0.9)])
    assert isinstance(both, type(t)) and len(both) == 2  # one return type for one range or several
    assert isinstance(both.frame, pd.DataFrame) and both.frame["range_low"].tolist() == [0.1, 0.5]
    with pytest.raises(AttributeError, match="2 ranges"):
        _ = both.pvalue


def test_results_labels(sharp_mod):
    res = sharp_mod.fit(method="simple", bandwidth=np.linspace(0.4, 0.8, 20), n_boot=0)
    assert res.params.name == "tau" and res.params.index.name == "quantile"
    np.testing.assert_allclose(res.params.index.to_numpy(), ref_quantile_grid(20), rtol=RTOL_ROUNDING)
    assert isinstance(res.bandwidth, pd.Series) and len(res.bandwidth) == 20
    assert isinstance(res.n_effective["left"], pd.Series)
    assert list(res.limits.columns) == ["left", "right", "left_raw", "right_raw"]
    assert res.nobs == 200 and res.first_stage is None
    with pytest.raises(ValueError, match="n_boot=0"):
        res.conf_int(kind="uniform")
    assert "simple" in repr(res) and "average effect" in str(res)
    text = res.summary().as_text()
    for field in ("Cutoff", "Kernel", "Bandwidth", "Units left / right", "tau(0.0952)", "average"):
        assert field in text
    assert res.summary().as_latex().count("\\begin{tabular}") == res.summary().as_latex().count("\\end{tabular}")


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(method="ols"), "`method`"),
        (dict(kernel="gauss"), "`kernel`"),
        (dict(order=11), "`order`"),
        (dict(bandwidth=-1.0), "`bandwidth`"),
        (dict(bandwidth="silverman"), "`bandwidth`"),
        (dict(bandwidth=[0.5, 0.6]), "`bandwidth`"),
        (dict(method="frechet", bandwidth=np.full(20, 0.5) + np.arange(20) / 100), "`bandwidth`"),
        (dict(method="frechet", bandwidth="mse"), "`bandwidth`"),
        (dict(alpha=1.5), "`alpha`"),
        (dict(n_boot=5), "`n_boot`"),
        (dict(band="pointwise"), "`band`"),
        (dict(quantiles=[0.5, 0.2]), "`quantiles`"),
        (dict(quantiles=[0.0, 0.5]), "`quantiles`"),
        (dict(bandwidth_treatment=0.5), "`bandwidth_treatment`"),
        (dict(n_jobs=0), "`n_jobs`"),
    ],
)
def test_invalid_options_name_the_argument(sharp_mod, kw, match):
    kw = {"bandwidth": 0.5, "n_boot": 0, **kw}
    with pytest.raises((ValueError, TypeError), match=match):
        sharp_mod.fit(**kw)


def test_too_few_units_is_insufficient_data_error(sharp_mod):
    with pytest.raises(r3d.InsufficientDataError, match=r"(?i)(left|right).*0\.01"):
        sharp_mod.fit(method="frechet", bandwidth=0.01, n_boot=0)


def test_zero_first_stage_refused(ref):
    Q, x, _, q = ref
    t = np.ones_like(x)  # everyone takes up: no jump at the cutoff
    mod = r3d.R3D.from_quantiles(Q, x, q, treatment=t)
    with pytest.raises(ValueError, match="first-stage jump"):
        mod.fit(method="frechet", bandwidth=0.5, bandwidth_treatment=0.5, n_boot=0)


def test_weak_first_stage_warns(ref):
    Q, x, _, q = ref
    rng = np.random.default_rng(1)
    t = (rng.uniform(size=x.size) < 0.5 + 0.03 * (x >= 0)).astype(float)
    mod = r3d.R3D.from_quantiles(Q, x, q, treatment=t)
    with pytest.warns(r3d.WeakFirstStageWarning):
        res = mod.fit(method="frechet", bandwidth=0.5, bandwidth_treatment=0.5, n_boot=0)
    assert any("Weak first stage" in n for n in res.notes)
    assert "Weak first stage" in res.summary().as_text()
