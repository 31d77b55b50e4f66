"""Cluster analogues of the variance options (issue 20; docs/method.md §5, "With clusters").

With ``cluster=``, ``vce="hc1"`` is CR1 (rdrobust's per-side factor (G/(G-1))((n-1)/(n-p-1))),
``"hc2"`` CR2 (Bell and McCaffrey 2002) and ``"hc3"`` CR3: each cluster's residuals on a side are
adjusted by (I - H_gg)^{-1/2} or (I - H_gg)^{-1}, H_gg its block of that side's symmetrized hat
matrix. Checked against rdrobust's ``vce="cr1" | "cr2" | "cr3"`` (clusters within one side, where
its sum of the two sides' variances is r3d's), against a direct NumPy computation of the joint
(interacted) weighted regression's CR2 / CR3 variance (clusters spanning the cutoff included), and
against the unclustered fit when every cluster holds one unit.
"""


import numpy as np
import pandas as pd
import pytest
from _refdata import load_ref, ref_quantile_grid
from test_vce import _covariate_units, _quiet_fit, _rd

import r3d
from r3d.bootstrap import _aggregate
from r3d.estimators import LEVERAGE_FLOOR, VCE_TYPES, cluster_adjusted_residuals, estimate, residual_scale
from r3d.kernels import kernel_function
from r3d.locpoly import fit_side

rdrobust = pytest.importorskip("rdrobust").rdrobust

#: As tests/test_vce.py: the same weighted least squares in another basis and summation order.
#: Measured (rdrobust 2.1.1, every level of every case below, cr1-cr3): SEs agree to 1.2e-13.
RTOL_RDROBUST = 1e-8
#: The direct joint-regression CR2 / CR3 below: matrix square roots and inverses of each cluster's
#: block in double precision, rounding only (measured: 2e-14).
RTOL_DIRECT = 1e-12

GRID20 = ref_quantile_grid(20)
RD_CLUSTER_VCE = {"hc1": "cr1", "hc2": "cr2", "hc3": "cr3"}
KERNELS = {"triangular": "tri", "epanechnikov": "epa", "uniform": "uni"}


def _side_clusters(x, n_per_side=40, seed=0):
    """Cluster codes drawn at random within each side: no cluster spans the cutoff."""
    rng = np.random.default_rng(seed)
    right = x >= 0
    codes = np.empty(x.size, dtype=np.intp)
    codes[~right] = rng.integers(0, n_per_side, int((~right).sum()))
    codes[right] = n_per_side + rng.integers(0, n_per_side, int(right.sum()))
    return codes


@pytest.fixture(scope="module")
def sharp():
    df = load_ref("ref_data_sharp_simple_20")
    return df[[f"Q{j}" for j in range(1, 21)]].to_numpy(), df["X"].to_numpy()


@pytest.fixture(scope="module")
def fuzzy():
    df = load_ref("ref_data_fuzzy_simple_20")
    return df[[f"Q{j}" for j in range(1, 21)]].to_numpy(), df["X"].to_numpy(), df["T_treat"].to_numpy()


# ---------------------------------------------------------------------------------------------
# (a) rdrobust parity, clusters within a side
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("vce", ["hc1", "hc2", "hc3"])
@pytest.mark.parametrize(("order", "kernel"), [(1, "triangular"), (2, "epanechnikov"), (2, "uniform")])
def test_sharp_clustered_se_equals_rdrobust_cr(sharp, vce, order, kernel):
    Q, x = sharp
    codes = _side_clusters(x)
    h = 0.45
    res = _quiet_fit(r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0, cluster=codes), method="simple",
                     order=order, kernel=kernel, bandwidth=h, n_boot=0, vce=vce)
    for j in range(GRID20.size):
        rd = _rd(Q[:, j], x, p=order, h=h, kernel=KERNELS[kernel], vce=RD_CLUSTER_VCE[vce], cluster=codes)
        np.testing.assert_allclose(res.bse.iloc[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)


@pytest.mark.parametrize("vce", ["hc1", "hc2", "hc3"])
def test_per_quantile_bandwidths_clustered_equal_rdrobust(sharp, vce):
    Q, x = sharp
    codes = _side_clusters(x, n_per_side=25, seed=1)
    h = np.linspace(0.35, 0.8, 20)
    res = _quiet_fit(r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0, cluster=codes), method="simple", order=2,
                     bandwidth=h, n_boot=0, vce=vce)
    for j in range(GRID20.size):
        rd = _rd(Q[:, j], x, p=2, h=h[j], kernel="tri", vce=RD_CLUSTER_VCE[vce], cluster=codes)
        np.testing.assert_allclose(res.bse.iloc[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)


@pytest.mark.parametrize("vce", ["hc1", "hc2", "hc3"])
def test_fuzzy_clustered_first_stage_and_wald_se_equal_rdrobust(fuzzy, vce):
    Q, x, t = fuzzy
    codes = _side_clusters(x, n_per_side=30, seed=2)
    h = 0.5
    res = _quiet_fit(r3d.R3D.from_quantiles(Q, x, GRID20, treatment=t, cluster=codes), method="simple", order=1,
                     bandwidth=h, bandwidth_treatment=h, n_boot=0, vce=vce)
    rd_t = _rd(t, x, p=1, h=h, kernel="tri", vce=RD_CLUSTER_VCE[vce], cluster=codes)
    np.testing.assert_allclose(res.first_stage.se, rd_t.se.iloc[0, 0], rtol=RTOL_RDROBUST)
    lim = res.limits
    checked = 0
    for j in range(GRID20.size):
        if lim["right_raw"].iloc[j] != lim["right"].iloc[j] or lim["left_raw"].iloc[j] != lim["left"].iloc[j]:
            continue  # our SE is for the rearranged numerator
        rd = _rd(Q[:, j], x, fuzzy=t, p=1, h=h, kernel="tri", vce=RD_CLUSTER_VCE[vce], cluster=codes)
        np.testing.assert_allclose(res.bse.iloc[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)
        checked += 1
    assert checked >= 18


@pytest.mark.parametrize("vce", ["hc1", "hc2", "hc3"])
def test_unit_weights_clustered_equal_rdrobust(vce):
    """rdrobust's cluster hat matrix carries the weights (its W = kernel * weights), as r3d's."""
    rng = np.random.default_rng(5)
    n = 400
    x = rng.uniform(-1, 1, n)
    grid = np.linspace(0.1, 0.9, 9)
    Q = np.sort(rng.normal(size=(n, grid.size)), axis=1) + (0.5 * (x >= 0) + x)[:, None]
    size = rng.integers(1, 30, n).astype(float)
    codes = _side_clusters(x, n_per_side=35, seed=6)
    res = _quiet_fit(r3d.R3D.from_quantiles(Q, x, grid, unit_weights=size, cluster=codes), method="simple",
                     order=1, bandwidth=0.6, n_boot=0, vce=vce)
    for j in range(grid.size):
        rd = _rd(Q[:, j], x, p=1, h=0.6, kernel="tri", vce=RD_CLUSTER_VCE[vce], weights=size, cluster=codes)
        np.testing.assert_allclose(res.bse.iloc[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)


@pytest.mark.parametrize("vce", ["hc1", "hc2", "hc3"])
def test_covariates_clustered_sharp_and_fuzzy_equal_rdrobust(vce):
    """With ``covs=``, rdrobust's cluster hat matrix is that of the polynomial part (its sqrtRX uses R_p) and
    CR1's k is p + 1, as r3d's; the adjustment is linear in the residuals, so that of the adjusted outcome."""
    x, Q, Zdf, t, grid = _covariate_units(fuzzy=True)
    Z = Zdf.to_numpy()
    codes = _side_clusters(x, n_per_side=40, seed=4)
    h = 0.6
    res = _quiet_fit(r3d.R3D.from_quantiles(Q, x, grid, covariates=Zdf, cluster=codes), method="simple", order=1,
                     bandwidth=h, n_boot=0, vce=vce)
    fz = _quiet_fit(r3d.R3D.from_quantiles(Q, x, grid, treatment=t, covariates=Zdf, cluster=codes),
                    method="simple", order=1, bandwidth=h, bandwidth_treatment=h, n_boot=0, vce=vce)
    rv = RD_CLUSTER_VCE[vce]
    rd_t = _rd(t, x, p=1, h=h, kernel="tri", vce=rv, covs=Z, cluster=codes)
    np.testing.assert_allclose(fz.first_stage.se, rd_t.se.iloc[0, 0], rtol=RTOL_RDROBUST)
    lim = fz.limits
    for j in range(grid.size):
        rd = _rd(Q[:, j], x, p=1, h=h, kernel="tri", vce=rv, covs=Z, cluster=codes)
        np.testing.assert_allclose(res.bse.iloc[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)
        if lim["right_raw"].iloc[j] == lim["right"].iloc[j] and lim["left_raw"].iloc[j] == lim["left"].iloc[j]:
            rd = _rd(Q[:, j], x, fuzzy=t, p=1, h=h, kernel="tri", vce=rv, covs=Z, cluster=codes)
            np.testing.assert_allclose(fz.bse.iloc[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)


def test_the_cluster_options_differ_from_the_unit_level_ones(sharp):
    """CR2 / CR3 are not the unit-leverage factors summed within clusters: the parity above is not vacuous."""
    Q, x = sharp
    codes = _side_clusters(x)
    mod = r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0, cluster=codes)
    est0 = estimate(x, Q, GRID20, cutoff=0.0, h=0.45, order=2, kernel="triangular", method="simple")
    se = {v: _quiet_fit(mod, method="simple", order=2, bandwidth=0.45, n_boot=0, vce=v).bse.to_numpy()
          for v in VCE_TYPES}
    for vce in ("hc1", "hc2", "hc3"):
        a = est0.influence * residual_scale(x, est0.fit_plus, est0.fit_minus, vce)
        unit_level = np.sqrt((_aggregate(a, codes) ** 2).sum(axis=0))
        assert np.all(np.abs(se[vce] / unit_level - 1) > 1e-4)
    assert np.all(se["hc0"] < se["hc2"]) and np.all(se["hc2"] < se["hc3"])


# ---------------------------------------------------------------------------------------------
# (b) CR2 / CR3 against the joint regression, clusters spanning the cutoff
# ---------------------------------------------------------------------------------------------
def _sym_power(A, power):
    s, V = np.linalg.eigh(A)
    return (V * s**power) @ V.T


def _direct_joint_se(x, y, codes, *, h, order, kernel, vce, omega=None):
    """SE of the jump from the interacted WLS regression of y on both sides' polynomials, CR2 / CR3.

    beta = (X'WX)^{-1} X'W y over the units with positive kernel weight; the meat is
    sum_g X_g' W_g^{1/2} A_g W_g^{1/2} e_g (...)' with A_g = (I - H_gg)^{-1/2} (CR2) or (I - H_gg)^{-1}
    (CR3), H = W^{1/2} X (X'WX)^{-1} X' W^{1/2} the joint hat matrix: written without r3d's per-side
    form or QR.
    """
    u = x / h
    k = kernel_function(u, kernel) * (1.0 if omega is None else omega)
    inside = k > 0
    x_in, y_in, k_in, g_in, u_in = x[inside], y[inside], k[inside], codes[inside], u[inside]
    right = (x_in >= 0)[:, None]
    R = u_in[:, None] ** np.arange(order + 1)
    X = np.hstack([R * right, R * ~right])
    bread = np.linalg.inv(X.T @ (k_in[:, None] * X))
    e = y_in - X @ (bread @ (X.T @ (k_in * y_in)))
    sw = np.sqrt(k_in)
    H = (sw[:, None] * X) @ bread @ (X * sw[:, None]).T
    meat = np.zeros((X.shape[1], X.shape[1]))
    for g in np.unique(g_in):
        i = np.flatnonzero(g_in == g)
        A = _sym_power(np.eye(i.size) - H[np.ix_(i, i)], -0.5 if vce == "hc2" else -1.0)
        score = (X[i] * sw[i, None]).T @ (A @ (sw[i] * e[i]))
        meat += np.outer(score, score)
    V = bread @ meat @ bread
    c = np.zeros(X.shape[1])
    c[0], c[order + 1] = 1.0, -1.0
    return float(np.sqrt(c @ V @ c))


@pytest.mark.parametrize("vce", ["hc2", "hc3"])
@pytest.mark.parametrize(("order", "kernel", "weighted"), [(1, "triangular", False), (2, "epanechnikov", True)])
def test_cr2_cr3_equal_the_joint_regression_with_clusters_spanning_the_cutoff(vce, order, kernel, weighted):
    rng = np.random.default_rng(11)
    n = 300
    x = rng.uniform(-1, 1, n)
    grid = np.array([0.2, 0.5, 0.8])
    Q = np.sort(rng.normal(size=(n, grid.size)), axis=1) + (0.5 * (x >= 0) + x)[:, None]
    codes = np.floor((x + 1) / 0.08).astype(np.intp)  # bins of x: the bin [-0.04, 0.04) spans the cutoff
    codes[rng.uniform(size=n) < 0.2] = 30  # and a cluster scattered over both sides
    codes = np.unique(codes, return_inverse=True)[1].astype(np.intp)
    assert any(np.any(x[codes == g] < 0) and np.any(x[codes == g] >= 0) for g in np.unique(codes))
    omega = rng.uniform(0.5, 3.0, n) if weighted else None
    h = 0.7
    mod = r3d.R3D.from_quantiles(Q, x, grid, cutoff=0.0, cluster=codes, unit_weights=omega)
    res = _quiet_fit(mod, method="simple", order=order, kernel=kernel, bandwidth=h, n_boot=0, vce=vce)
    for j in range(grid.size):
        direct = _direct_joint_se(x, Q[:, j], codes, h=h, order=order, kernel=kernel, vce=vce, omega=omega)
        np.testing.assert_allclose(res.bse.iloc[j], direct, rtol=RTOL_DIRECT)


# ---------------------------------------------------------------------------------------------
# (c) one unit per cluster: exactly the unclustered fit
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("vce", VCE_TYPES)
def test_singleton_clusters_equal_the_unclustered_fit_bit_for_bit(sharp, vce):
    Q, x = sharp
    plain = _quiet_fit(r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0), method="simple", order=2,
                       bandwidth=0.45, n_boot=49, rng=3, vce=vce)
    single = _quiet_fit(r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0, cluster=np.arange(x.size)),
                        method="simple", order=2, bandwidth=0.45, n_boot=49, rng=3, vce=vce)
    np.testing.assert_array_equal(single._est.influence, plain._est.influence)
    np.testing.assert_array_equal(single.bse, plain.bse)
    np.testing.assert_array_equal(single.bootstrap_draws, plain.bootstrap_draws)


@pytest.mark.parametrize("vce", ["hc2", "hc3"])
def test_a_unit_alone_in_its_cluster_keeps_its_unit_factor(sharp, vce):
    """Mixed clusterings: the singletons' influence rows are today's c_i a_i, bit for bit."""
    Q, x = sharp
    codes = np.arange(x.size, dtype=np.intp)
    codes[: x.size // 2] //= 4  # first half in clusters of (up to) four units
    codes = np.unique(codes, return_inverse=True)[1].astype(np.intp)
    est0 = estimate(x, Q, GRID20, cutoff=0.0, h=0.45, order=2, kernel="triangular", method="simple", vce=vce)
    res = _quiet_fit(r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0, cluster=codes), method="simple", order=2,
                     bandwidth=0.45, n_boot=0, vce=vce)
    adjusted, rows = cluster_adjusted_residuals(x, est0.residuals, est0.fit_plus, est0.fit_minus, codes, vce)
    alone = np.setdiff1d(np.arange(x.size), rows)
    assert rows.size > 0 and alone.size > x.size // 2
    np.testing.assert_array_equal(res._est.influence[alone], est0.influence[alone])
    np.testing.assert_array_equal(adjusted[alone], est0.scaled_residuals[alone])
    np.testing.assert_array_equal(res._est.scaled_residuals, adjusted)


# ---------------------------------------------------------------------------------------------
# the adjustment itself
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("vce", ["hc2", "hc3"])
def test_adjusted_residuals_are_the_block_matrix_powers(vce):
    """Per side, per cluster: K_g^{-1/2} (I - H_gg)^{power} K_g^{1/2} e_g with H from the normal equations."""
    rng = np.random.default_rng(8)
    x = rng.uniform(-1, 1, 150)
    y = rng.normal(size=(150, 2))
    codes = rng.integers(0, 20, 150).astype(np.intp)
    fits = [fit_side(x, y, cutoff=0.0, h=0.6, order=1, kernel="triangular", side=s, unit_weights=None)
            for s in ("right", "left")]
    est = estimate(x, y, np.array([0.3, 0.7]), cutoff=0.0, h=0.6, order=1, kernel="triangular", method="simple")
    adjusted, _ = cluster_adjusted_residuals(x, est.residuals, *fits, codes, vce)
    for fit, side in zip(fits, (x >= 0, x < 0), strict=True):
        k = fit.kernel_weights[:, 0]
        rows = np.flatnonzero((k > 0) & side)
        R = (x[rows] / 0.6)[:, None] ** np.arange(2)
        sw = np.sqrt(k[rows])
        H = (sw[:, None] * R) @ np.linalg.inv(R.T @ (k[rows, None] * R)) @ (R * sw[:, None]).T
        for g in np.unique(codes[rows]):
            i = np.flatnonzero(codes[rows] == g)
            A = _sym_power(np.eye(i.size) - H[np.ix_(i, i)], -0.5 if vce == "hc2" else -1.0)
            want = (A @ (sw[i, None] * est.residuals[rows[i]])) / sw[i, None]
            np.testing.assert_allclose(adjusted[rows[i]], want, rtol=RTOL_DIRECT, atol=1e-15)


def test_frechet_carries_the_cluster_adjustment():
    """Fréchet: the adjustment of the projected residuals (an approximation, docs/method.md §5)."""
    df = r3d.datasets.simulate_firms(n_firms=400, rng=1)
    df["region"] = pd.factorize(df["firm"])[0] % 37
    mod = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm", cluster="region")
    cr3 = _quiet_fit(mod, bandwidth=0.5, n_boot=0, quantiles=9, vce="hc3")
    cr0 = _quiet_fit(mod, bandwidth=0.5, n_boot=0, quantiles=9, vce="hc0")
    assert cr3._est.adjusted_residuals is not None and np.all(cr3.bse.to_numpy() > cr0.bse.to_numpy())
    e = cr3._est
    w = e.fit_plus.weights - e.fit_minus.weights
    np.testing.assert_allclose(e.influence, w * e.adjusted_residuals, rtol=0, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# (d) errors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("vce", ["hc2", "hc3"])
def test_a_cluster_holding_a_whole_side_is_a_clear_error(sharp, vce):
    Q, x = sharp
    codes = np.where(x >= 0, 0, 1 + np.arange(x.size)).astype(np.intp)  # the right side is one cluster
    mod = r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0, cluster=codes)
    with pytest.raises(r3d.InsufficientDataError,
                       match=r"`vce` must be clusters without which the right side's local polynomial is still "
                             r"identified.*I - H_gg is singular\. Use a larger bandwidth .* or finer clusters"):
        mod.fit(method="simple", bandwidth=0.45, n_boot=0, vce=vce)
    with pytest.raises(r3d.InsufficientDataError, match=r"`vce` must be units from at least two clusters"):
        mod.fit(method="simple", bandwidth=0.45, n_boot=0, vce="hc1")
    # CR0 inverts nothing, but the side's terms sum to 0: no variance there is no confident answer either
    with pytest.raises(r3d.InsufficientDataError, match=r"for 'hc0' with clusters \(CR0\).*right side.*sum to 0"):
        mod.fit(method="simple", bandwidth=0.45, n_boot=0, vce="hc0")
    # the terms really do sum to 0 on that side (the normal equations), which is why it is refused
    res = _quiet_fit(r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0), method="simple", bandwidth=0.45, n_boot=0,
                     vce="hc0")
    e = res._est
    right_terms = (e.fit_plus.weights * e.residuals)[x >= 0].sum(axis=0)
    np.testing.assert_allclose(right_terms, 0.0, atol=1e-12 * np.abs(e.residuals).max())


def test_a_cluster_without_which_the_side_is_not_identified_suggests_hc1(sharp):
    Q, x = sharp
    right = np.flatnonzero((x >= 0) & (x < 0.45))
    codes = (1 + np.arange(x.size)).astype(np.intp)
    keep_out = right[np.argsort(x[right])[:2]]  # two units outside the cluster: order 2 needs three
    codes[np.setdiff1d(right, keep_out)] = 0
    mod = r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0, cluster=np.unique(codes, return_inverse=True)[1])
    with pytest.raises(r3d.InsufficientDataError, match=r"I - H_gg is singular\. Use vce='hc1' or vce='hc0'"):
        mod.fit(method="simple", order=2, bandwidth=0.45, n_boot=0, vce="hc3")
    assert LEVERAGE_FLOOR == 1e-8
    _quiet_fit(mod, method="simple", order=2, bandwidth=0.45, n_boot=0, vce="hc1")


@pytest.mark.parametrize("vce", VCE_TYPES)
def test_the_summary_names_the_cluster_option(sharp, vce):
    Q, x = sharp
    res = _quiet_fit(r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0, cluster=_side_clusters(x)), method="simple",
                     bandwidth=0.45, n_boot=0, vce=vce)
    assert f"Pointwise standard errors: CR{vce[-1]} sandwich of the local polynomial fits, clustered by" in " ".join(
        str(res.summary()).split())


@pytest.mark.parametrize("vce", VCE_TYPES)
def test_estimate_takes_the_cluster_codes(sharp, vce):
    """The module function gives the fit's influence matrix; its codes are checked as the bootstrap's."""
    Q, x = sharp
    codes = _side_clusters(x)
    res = _quiet_fit(r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0, cluster=codes), method="simple", order=2,
                     bandwidth=0.45, n_boot=0, vce=vce)
    est = estimate(x, Q, GRID20, cutoff=0.0, h=0.45, order=2, kernel="triangular", method="simple", vce=vce,
                   cluster_codes=codes)
    np.testing.assert_array_equal(est.influence, res._est.influence)
    with pytest.raises(TypeError, match=r"`cluster_codes` must be integer codes 0\.\.G-1"):
        estimate(x, Q, GRID20, cutoff=0.0, h=0.45, order=2, kernel="triangular", method="simple", vce=vce,
                 cluster_codes=codes.astype(float))


@pytest.mark.parametrize("vce", ["hc2", "hc3"])
def test_per_side_processes_use_the_adjusted_residuals(sharp, vce):
    """The Gini test's and the functionals' per-side processes sum to the fit's clustered process."""
    Q, x = sharp
    codes = _side_clusters(x)
    res = _quiet_fit(r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0, cluster=codes), method="simple", order=2,
                     bandwidth=0.45, n_boot=99, rng=5, vce=vce)
    assert res._est.adjusted_residuals is not None
    sides = res._side_draws()
    np.testing.assert_allclose(sides.plus - sides.minus, res.bootstrap_draws, rtol=1e-12, atol=1e-14)
    mean = res.functional("mean")
    np.testing.assert_allclose(mean.se, res.average_effect.se, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# the default and rdrobust's spellings

def test_the_default_is_hc3_without_clusters_and_cr2_with_them(sharp):
    """docs/method.md §5: CR2 is the cluster option closest to unbiased (montecarlo_clusters_variance.md)."""
    Q, x = sharp
    plain = r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0)
    clustered = r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0, cluster=_side_clusters(x))
    assert _quiet_fit(plain, method="simple", bandwidth=0.45, n_boot=0).spec.vce == "hc3"
    default = _quiet_fit(clustered, method="simple", bandwidth=0.45, n_boot=0)
    explicit = _quiet_fit(clustered, method="simple", bandwidth=0.45, n_boot=0, vce="hc2")
    assert default.spec.vce == "hc2"
    np.testing.assert_array_equal(default.bse, explicit.bse)
    assert "CR2 sandwich" in " ".join(str(default.summary()).split())


@pytest.mark.parametrize("cr", ["cr1", "cr2", "CR3"])
def test_rdrobusts_cluster_spellings_are_accepted_with_clusters_only(sharp, cr):
    Q, x = sharp
    clustered = r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0, cluster=_side_clusters(x))
    hc = "hc" + cr[-1]
    a = _quiet_fit(clustered, method="simple", bandwidth=0.45, n_boot=0, vce=cr)
    b = _quiet_fit(clustered, method="simple", bandwidth=0.45, n_boot=0, vce=hc)
    assert a.spec.vce == hc
    np.testing.assert_array_equal(a.bse, b.bse)
    plain = r3d.R3D.from_quantiles(Q, x, GRID20, cutoff=0.0)
    with pytest.raises(ValueError, match=rf"vce.*without clusters.*need cluster=.*vce='{hc}' without clusters"):
        plain.fit(method="simple", bandwidth=0.45, n_boot=0, vce=cr)
