"""Variance options ``fit(vce="hc0" | "hc1" | "hc2" | "hc3")`` (issue 20, docs/method.md §5, "Variance options").

rdrobust (PyPI ``rdrobust``) is the reference: with the unit quantile at level q as the outcome,
its conventional standard error with ``vce=`` at a fixed h (``b = h``) equals r3d's pointwise SE
with the same ``vce``, sharp and fuzzy, with unit weights (``weights=``), covariates (``covs=``)
and per-quantile bandwidths. The options reach the bootstrap and cluster sums through the same
scaled influence terms, and ``vce="hc0"`` leaves every number as it was.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from _refdata import load_ref, ref_quantile_grid

import r3d
from r3d.bootstrap import bootstrap_draws
from r3d.estimators import DEFAULT_VCE, LEVERAGE_FLOOR, VCE_TYPES, estimate, leverage, residual_scale
from r3d.locpoly import fit_side

rdrobust = pytest.importorskip("rdrobust").rdrobust

#: As tests/test_against_rdrobust.py: the same weighted least squares in double precision, in
#: another basis and summation order; the leverage is the same diagonal of the same hat matrix.
#: Measured (rdrobust 2.1.1, every level of every case below, hc0-hc3): SEs agree to 2.3e-13.
#: A formula difference (hc1's n - p - 1, hc2's square root) shows at >= 1e-3.
RTOL_RDROBUST = 1e-8
#: Direct NumPy computations of the same sums (leverage, cluster sums): rounding only.
RTOL_DIRECT = 1e-12

RD_KERNEL = {"triangular": "tri", "epanechnikov": "epa", "uniform": "uni"}
GRID20 = ref_quantile_grid(20)


def _quiet_fit(mod, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        return mod.fit(**kw)


def _rd(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rdrobust(*args, c=0.0, masspoints="off", **kw)


@pytest.fixture(scope="module")
def sharp():
    df = load_ref("ref_data_sharp_simple_20")
    Q = df[[f"Q{j}" for j in range(1, 21)]].to_numpy()
    x = df["X"].to_numpy()
    return r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0), Q, x


# ---------------------------------------------------------------------------------------------
# rdrobust parity
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("vce", VCE_TYPES)
@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("kernel", ["triangular", "epanechnikov", "uniform"])
def test_sharp_se_equals_rdrobust_with_the_same_vce(sharp, vce, order, kernel):
    mod, Q, x = sharp
    h = 0.45
    res = _quiet_fit(mod, method="simple", order=order, kernel=kernel, bandwidth=h, n_boot=0, vce=vce)
    assert res.spec.vce == vce
    for j in range(GRID20.size):
        rd = _rd(Q[:, j], x, p=order, h=h, kernel=RD_KERNEL[kernel], vce=vce)
        np.testing.assert_allclose(res.bse.iloc[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)


def test_the_options_differ_as_their_formulas_say(sharp):
    """hc0 < hc1 (factor > 1), hc0 < hc2 < hc3 (0 < h_ii < 1): the parity above is not vacuous."""
    mod, _, _ = sharp
    se = {v: _quiet_fit(mod, method="simple", order=2, bandwidth=0.45, n_boot=0, vce=v).bse.to_numpy()
          for v in VCE_TYPES}
    assert np.all(se["hc1"] > se["hc0"] * (1 + 1e-3))
    assert np.all(se["hc2"] > se["hc0"] * (1 + 1e-3)) and np.all(se["hc3"] > se["hc2"] * (1 + 1e-3))


@pytest.mark.parametrize("vce", VCE_TYPES)
def test_per_quantile_bandwidths_equal_rdrobust(sharp, vce):
    mod, Q, x = sharp
    h = np.linspace(0.35, 0.8, 20)
    res = _quiet_fit(mod, method="simple", order=2, bandwidth=h, n_boot=0, vce=vce)
    for j in range(GRID20.size):
        rd = _rd(Q[:, j], x, p=2, h=h[j], kernel="tri", vce=vce)
        np.testing.assert_allclose(res.bse.iloc[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)


@pytest.mark.parametrize("vce", VCE_TYPES)
@pytest.mark.parametrize("order", [1, 2])
def test_fuzzy_first_stage_and_wald_se_equal_rdrobust(vce, order):
    df = load_ref("ref_data_fuzzy_simple_20")
    Q = df[[f"Q{j}" for j in range(1, 21)]].to_numpy()
    x, t = df["X"].to_numpy(), df["T_treat"].to_numpy()
    mod = r3d.R3D.from_quantiles(Q, x, GRID20, treatment=t)
    h = 0.5
    res = _quiet_fit(mod, method="simple", order=order, bandwidth=h, bandwidth_treatment=h, n_boot=0, vce=vce)
    rd_t = _rd(t, x, p=order, h=h, kernel="tri", vce=vce)
    np.testing.assert_allclose(res.first_stage.se, rd_t.se.iloc[0, 0], rtol=RTOL_RDROBUST)
    lim = res.limits
    checked = 0
    for j in range(GRID20.size):
        if lim["right_raw"].iloc[j] != lim["right"].iloc[j] or lim["left_raw"].iloc[j] != lim["left"].iloc[j]:
            continue  # our SE is for the rearranged numerator
        rd = _rd(Q[:, j], x, fuzzy=t, p=order, h=h, kernel="tri", vce=vce)
        np.testing.assert_allclose(res.bse.iloc[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)
        checked += 1
    assert checked >= 18


def _cells(n=400, seed=5):
    """As tests/test_cells.py: cells with a take-up share and a cell size."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    share = np.clip(np.where(x >= 0, 0.7, 0.2) + 0.1 * x + rng.uniform(-0.2, 0.2, n), 0.0, 1.0)
    grid = np.linspace(0.1, 0.9, 9)
    base = np.sort(rng.normal(size=(n, grid.size)), axis=1)
    level = 0.8 * share + x
    Q = base + level[:, None] + np.abs(level)[:, None] * np.linspace(0, 1, grid.size)
    size = rng.integers(1, 30, n).astype(float)
    return x, Q, share, size, grid


@pytest.mark.parametrize("vce", VCE_TYPES)
def test_unit_weights_sharp_and_fuzzy_equal_rdrobust(vce):
    """rdrobust's hii carries the weights (its RW = R * kernel * weights) and its hc1 n counts units."""
    x, Q, share, size, grid = _cells()
    h = 0.6
    sharp_res = _quiet_fit(r3d.R3D.from_quantiles(Q, x, grid, unit_weights=size), method="simple", order=1,
                           bandwidth=h, n_boot=0, vce=vce)
    fuzzy_res = _quiet_fit(r3d.R3D.from_quantiles(Q, x, grid, treatment=share, unit_weights=size),
                           method="simple", order=1, bandwidth=h, bandwidth_treatment=h, n_boot=0, vce=vce)
    rd_t = _rd(share, x, p=1, h=h, kernel="tri", vce=vce, weights=size)
    np.testing.assert_allclose(fuzzy_res.first_stage.se, rd_t.se.iloc[0, 0], rtol=RTOL_RDROBUST)
    for j in range(grid.size):
        rd = _rd(Q[:, j], x, p=1, h=h, kernel="tri", vce=vce, weights=size)
        np.testing.assert_allclose(sharp_res.bse.iloc[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)
        lim = fuzzy_res.limits
        if lim["right_raw"].iloc[j] == lim["right"].iloc[j] and lim["left_raw"].iloc[j] == lim["left"].iloc[j]:
            rd = _rd(Q[:, j], x, fuzzy=share, p=1, h=h, kernel="tri", vce=vce, weights=size)
            np.testing.assert_allclose(fuzzy_res.bse.iloc[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)


def _covariate_units(n=500, seed=3, fuzzy=False):
    """As tests/test_covariates.py."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(0.1, 0.9, 9)
    x = rng.uniform(-1, 1, n)
    age = rng.normal(size=n)
    size = rng.gamma(2.0, size=n)
    base = np.sort(rng.normal(size=(n, grid.size)), axis=1)
    level = 0.5 * (x >= 0) + x + 0.2 * size
    Q = base + level[:, None] + np.abs(age)[:, None] * np.linspace(1, 2, grid.size)
    t = (rng.uniform(size=n) < np.where(x >= 0, 0.8, 0.2)).astype(float) if fuzzy else None
    return x, Q, pd.DataFrame({"age": age, "size": size}), t, grid


@pytest.mark.parametrize("vce", VCE_TYPES)
def test_covariates_sharp_fuzzy_and_per_quantile_equal_rdrobust(vce):
    """rdrobust's covs= residuals are those of the adjusted outcome, scaled by the leverage of the
    polynomial part alone (its hii uses R_p, not the covariates), as r3d's."""
    x, Q, Zdf, t, grid = _covariate_units(fuzzy=True)
    Z = Zdf.to_numpy()
    h = 0.6
    res = _quiet_fit(r3d.R3D.from_quantiles(Q, x, grid, covariates=Zdf), method="simple", order=1, bandwidth=h,
                     n_boot=0, vce=vce)
    hq = np.linspace(0.45, 0.8, grid.size)
    res_q = _quiet_fit(r3d.R3D.from_quantiles(Q, x, grid, covariates=Zdf), method="simple", order=2, bandwidth=hq,
                       n_boot=0, vce=vce)
    fz = _quiet_fit(r3d.R3D.from_quantiles(Q, x, grid, treatment=t, covariates=Zdf), method="simple", order=1,
                    bandwidth=h, bandwidth_treatment=h, n_boot=0, vce=vce)
    rd_t = _rd(t, x, p=1, h=h, kernel="tri", vce=vce, covs=Z)
    np.testing.assert_allclose(fz.first_stage.se, rd_t.se.iloc[0, 0], rtol=RTOL_RDROBUST)
    for j in range(grid.size):
        rd = _rd(Q[:, j], x, p=1, h=h, kernel="tri", vce=vce, covs=Z)
        np.testing.assert_allclose(res.bse.iloc[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)
        rd = _rd(Q[:, j], x, p=2, h=hq[j], kernel="tri", vce=vce, covs=Z)
        np.testing.assert_allclose(res_q.bse.iloc[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)
        lim = fz.limits
        if lim["right_raw"].iloc[j] == lim["right"].iloc[j] and lim["left_raw"].iloc[j] == lim["left"].iloc[j]:
            rd = _rd(Q[:, j], x, fuzzy=t, p=1, h=h, kernel="tri", vce=vce, covs=Z)
            np.testing.assert_allclose(fz.bse.iloc[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)


# ---------------------------------------------------------------------------------------------
# leverage and residual factors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", [0, 1, 3])
def test_leverage_is_the_diagonal_of_the_hat_matrix(order):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, 300)
    y = rng.normal(size=(300, 2))
    omega = rng.uniform(0.5, 2.0, 300)
    for side in ("left", "right"):
        fit = fit_side(x, y, cutoff=0.0, h=np.array([0.5, 0.7]), order=order, kernel="epanechnikov", side=side,
                       return_coef_weights=True, unit_weights=omega)
        lev = leverage(x, fit)
        for g in range(2):  # also r(u_i)' coef_weights[:, i, g], the fit's own M^{-1}
            u = x / fit.h[g]
            via_fit = np.einsum("ik,ki->i", u[:, None] ** np.arange(order + 1), fit.coef_weights[:, :, g])
            np.testing.assert_allclose(lev[:, g], via_fit, rtol=RTOL_DIRECT, atol=1e-15)
        for g, hg in enumerate((0.5, 0.7)):
            k = fit.kernel_weights[:, g]
            inside = k > 0
            R = ((x[inside] - 0.0) / hg)[:, None] ** np.arange(order + 1)
            M = R.T @ (k[inside, None] * R)
            direct = k[inside] * np.einsum("ik,kl,il->i", R, np.linalg.inv(M), R)
            np.testing.assert_allclose(lev[inside, g], direct, rtol=RTOL_DIRECT)
            assert np.all(lev[~inside, g] == 0.0)
            np.testing.assert_allclose(lev[:, g].sum(), order + 1, rtol=RTOL_DIRECT)  # trace of the hat matrix


def test_leverage_of_a_window_far_wider_than_the_data():
    """A bandwidth 1e6 times the data's range: the hat matrix is that of the global polynomial."""
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1e-3, 60)
    fit = fit_side(x, np.ones((60, 1)), cutoff=0.0, h=10.0, order=3, kernel="uniform", side="right")
    R = (x / 1e-3)[:, None] ** np.arange(4)
    direct = np.einsum("ik,kl,il->i", R, np.linalg.inv(R.T @ R), R)
    np.testing.assert_allclose(leverage(x, fit)[:, 0], direct, rtol=1e-9)


def test_residual_factors():
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, 200)
    y = rng.normal(size=(200, 1))
    fits = [fit_side(x, y, cutoff=0.0, h=0.5, order=1, kernel="triangular", side=s) for s in ("right", "left")]
    right = x >= 0
    n_s = np.where(right, fits[0].n_effective[0], fits[1].n_effective[0])
    np.testing.assert_array_equal(residual_scale(x, *fits, "hc0"), 1.0)
    np.testing.assert_allclose(residual_scale(x, *fits, "hc1")[:, 0], np.sqrt(n_s / (n_s - 2)), rtol=RTOL_DIRECT)
    h_ii = np.where(right, leverage(x, fits[0])[:, 0], leverage(x, fits[1])[:, 0])
    np.testing.assert_allclose(residual_scale(x, *fits, "hc2")[:, 0], 1 / np.sqrt(1 - h_ii), rtol=RTOL_DIRECT)
    np.testing.assert_allclose(residual_scale(x, *fits, "hc3")[:, 0], 1 / (1 - h_ii), rtol=RTOL_DIRECT)
    assert LEVERAGE_FLOOR == 1e-8  # rdrobust's max(1 - hii, 1e-8)


def test_hc1_without_residual_degrees_of_freedom_is_an_error():
    rng = np.random.default_rng(3)
    x = np.r_[rng.uniform(-1, 0, 50) - 1e-3, 0.1, 0.2, 0.9, 0.95]  # two right units inside h = 0.5
    Q = np.sort(rng.normal(size=(x.size, 3)), axis=1)
    estimate(x, Q, np.array([0.25, 0.5, 0.75]), cutoff=0.0, h=0.5, order=1, kernel="uniform", method="simple",
             vce="hc2")  # leverage 1 there: the floor, no error
    with pytest.raises(r3d.InsufficientDataError, match=r"`vce` must be more than order \+ 1 = 2 units .*right side"):
        estimate(x, Q, np.array([0.25, 0.5, 0.75]), cutoff=0.0, h=0.5, order=1, kernel="uniform", method="simple",
                 vce="hc1")


def test_unknown_vce_names_the_argument(sharp):
    mod, _, _ = sharp
    with pytest.raises(ValueError, match="`vce` must be one of 'hc0', 'hc1', 'hc2', 'hc3'"):
        mod.fit(method="simple", bandwidth=0.45, n_boot=0, vce="nn")
    assert _quiet_fit(mod, method="simple", bandwidth=0.45, n_boot=0, vce="HC2").spec.vce == "hc2"


# ---------------------------------------------------------------------------------------------
# the same scaled influence terms everywhere
# ---------------------------------------------------------------------------------------------
def test_default_is_hc3_and_hc0_changes_nothing(sharp):
    """The default chosen by simulation (benchmarks/results/montecarlo_vce.md); hc0 scales nothing."""
    mod, _, _ = sharp
    assert DEFAULT_VCE == "hc3"
    a = _quiet_fit(mod, method="simple", bandwidth=0.45, rng=4, n_boot=99)
    b = _quiet_fit(mod, method="simple", bandwidth=0.45, rng=4, n_boot=99, vce=DEFAULT_VCE)
    assert a.spec.vce == DEFAULT_VCE and a._est.residual_scale is not None
    np.testing.assert_array_equal(a.bse, b.bse)
    np.testing.assert_array_equal(a.bootstrap_draws, b.bootstrap_draws)
    assert "Pointwise standard errors: HC3 sandwich" in str(a.summary())
    c = _quiet_fit(mod, method="simple", bandwidth=0.45, rng=4, n_boot=99, vce="hc0")
    assert c._est.residual_scale is None and np.all(c.bse.to_numpy() < a.bse.to_numpy())
    assert "Pointwise standard errors: HC0 sandwich" in str(c.summary())


@pytest.mark.parametrize("vce", ["hc1", "hc3"])
def test_bootstrap_band_and_tests_use_the_scaled_influence(sharp, vce):
    mod, Q, x = sharp
    res = _quiet_fit(mod, method="simple", order=2, bandwidth=0.45, rng=7, n_boot=199, vce=vce)
    est = estimate(x, Q, GRID20, cutoff=0.0, h=0.45, order=2, kernel="triangular", method="simple", vce=vce)
    np.testing.assert_array_equal(res._est.influence, est.influence)
    np.testing.assert_array_equal(res.bootstrap_draws, bootstrap_draws(est.influence, n_boot=199, rng=7))
    hc0 = _quiet_fit(mod, method="simple", order=2, bandwidth=0.45, rng=7, n_boot=199, vce="hc0")
    assert res._band(0.05).critical_value > hc0._band(0.05).critical_value  # unstudentized: wider draws
    # the per-side processes of the Gini test and the functionals sum to the fit's process
    sides = res._side_draws()
    np.testing.assert_allclose(sides.plus - sides.minus, res.bootstrap_draws, rtol=1e-12, atol=1e-14)
    assert f"Pointwise standard errors: {vce.upper()} sandwich" in str(res.summary())


@pytest.mark.parametrize("vce", VCE_TYPES)
def test_clusters_sum_the_scaled_influence_terms(sharp, vce):
    mod0, Q, x = sharp
    codes = np.arange(x.size) // 3
    mod = r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0, cluster=codes)
    res = _quiet_fit(mod, method="simple", order=1, bandwidth=0.45, n_boot=0, vce=vce)
    est = estimate(x, Q, GRID20, cutoff=0.0, h=0.45, order=1, kernel="triangular", method="simple")
    a = est.influence * residual_scale(x, est.fit_plus, est.fit_minus, vce)  # hc0 influence times each unit's factor
    direct = np.sqrt(sum((a[codes == g].sum(axis=0)) ** 2 for g in np.unique(codes)))
    if vce == "hc0":  # CR0; hc1-hc3 are CR1-CR3 with clusters (tests/test_vce_clusters.py)
        np.testing.assert_allclose(res.bse.to_numpy(), direct, rtol=RTOL_DIRECT)
    else:
        assert np.all(res.bse.to_numpy() != direct)
    # one unit per cluster: the unclustered SE (rdrobust's)
    single = _quiet_fit(r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0, cluster=np.arange(x.size)),
                        method="simple", order=1, bandwidth=0.45, n_boot=0, vce=vce)
    plain = _quiet_fit(mod0, method="simple", order=1, bandwidth=0.45, n_boot=0, vce=vce)
    np.testing.assert_allclose(single.bse.to_numpy(), plain.bse.to_numpy(), rtol=RTOL_DIRECT)


@pytest.mark.parametrize("vce", ["hc2", "hc3"])
def test_frechet_fuzzy_and_refits_carry_the_option(vce):
    df = r3d.datasets.simulate_firms(n_firms=400, rng=1)
    mod = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")
    res = _quiet_fit(mod, bandwidth=0.5, n_boot=99, rng=1, vce=vce, quantiles=9)
    hc0 = _quiet_fit(mod, bandwidth=0.5, n_boot=99, rng=1, quantiles=9, vce="hc0")
    assert np.all(res.bse.to_numpy() > hc0.bse.to_numpy())
    np.testing.assert_array_equal(res.params, hc0.params)  # the estimate itself does not change
    sens = res.sensitivity([0.45, 0.55])
    assert all(f.spec.vce == vce for f in sens.fits)
    # comparing the two: each fit's own scaled influence terms, and the summary says which is which
    cmp = res.compare(hc0)
    # (a label names the vce where it is not the default)
    shown = vce if vce != DEFAULT_VCE else "hc0"
    assert f"{shown.upper()} standard errors" in str(cmp.summary())


def test_command_line_vce(tmp_path, capsys):
    from r3d.cli import main

    df = r3d.datasets.simulate_firms(n_firms=300, rng=2)
    src = tmp_path / "firms.csv"
    df.to_csv(src, index=False)
    code = main(["fit", str(src), "--formula", "wage ~ revenue", "--unit", "firm", "--cutoff", "1",
                 "--bandwidth", "0.5", "--n-boot", "0", "--quantiles", "9", "--vce", "hc3"])
    assert code == 0
    assert "HC3 sandwich" in capsys.readouterr().out
