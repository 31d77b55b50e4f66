"""Unit-level covariates (METHOD_EXTENSIONS §9, issue 15): the ways in, the data policy, and the
covariate-adjusted estimator against rdrobust's ``covs=``.

rdrobust (PyPI ``rdrobust``) runs one kernel-weighted regression of the outcome on side-specific
polynomials and the covariates with a common gamma; r3d computes the same numbers by Frisch-Waugh
from its one-sided fits. With the unit quantile at level q as the outcome, rdrobust's conventional
estimate and ``vce="hc0"`` standard error equal r3d's raw jump and pointwise SE.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import r3d
from r3d.data import covariate_columns, independent_columns

#: Units with a handful of draws on a fine grid: the few-draws diagnostic is expected here and is
#: tested in tests/test_fewdraws.py.
pytestmark = pytest.mark.filterwarnings("ignore::r3d.FewDrawsWarning")

rdrobust = pytest.importorskip("rdrobust").rdrobust

#: As tests/test_against_rdrobust.py: the same weighted least squares in double precision, in another
#: basis and summation order. Measured here (rdrobust 2.1.1, every level of every case): jumps agree
#: to 6e-14, standard errors to 2e-14; a formula difference shows at >= 1e-4.
RTOL_RDROBUST = 1e-8
#: tau after an affine change of the covariates, or an added redundant covariate: the same
#: projection computed from other (rescaled) columns; measured <= 1e-13 on effects of order 1.
RTOL_INVARIANT = 1e-9

RD_KERNEL = {"triangular": "tri", "epanechnikov": "epa"}
GRID = np.linspace(0.1, 0.9, 9)


def _units(n=500, seed=3, fuzzy=False):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    age = rng.normal(size=n)
    size = rng.gamma(2.0, size=n)
    sector = rng.choice(["a", "b", "c"], n)
    shift = {"a": 0.0, "b": 0.4, "c": -0.3}
    base = np.sort(rng.normal(size=(n, GRID.size)), axis=1)
    level = 0.5 * (x >= 0) + x + np.array([shift[s] for s in sector]) + 0.2 * size
    Q = base + level[:, None] + np.abs(age)[:, None] * np.linspace(1, 2, GRID.size)
    t = None
    if fuzzy:
        t = (rng.uniform(size=n) < np.where(x >= 0, 0.8, 0.2)).astype(float)
    Z = pd.DataFrame({"age": age, "sector": sector, "size": size})
    return x, Q, Z, t


@pytest.fixture(scope="module")
def long_df():
    rng = np.random.default_rng(7)
    n = 300
    x = rng.uniform(-1, 1, n)
    age = rng.normal(40, 10, n)
    sector = rng.choice(["farm", "mine", "shop"], n)
    sizes = rng.integers(2, 9, n)
    unit = np.repeat(np.arange(n), sizes)
    y = 2 * x[unit] + (x[unit] >= 0) + 0.05 * age[unit] + rng.normal(size=unit.size)
    return pd.DataFrame({"firm": unit, "rev": x[unit], "wage": y, "age": age[unit], "sector": sector[unit]})


# ----------------------------------------------------------------------------- the ways in
def test_formula_string_list_and_frame_agree(long_df):
    df = long_df
    before = df.copy()
    a = r3d.R3D.from_formula("wage ~ rev", df, unit="firm", covariates="age + C(sector)")
    b = r3d.R3D.from_formula("wage ~ rev", df, unit="firm", covariates=["age", "sector"])
    c = r3d.R3D(df["wage"], df["rev"], df["firm"], covariates=df[["age", "sector"]])
    assert a._data.names.covariates == ("age", "C(sector)[T.mine]", "C(sector)[T.shop]")
    assert b._data.names.covariates == ("age", "sector[T.mine]", "sector[T.shop]")
    assert c._data.names.covariates == b._data.names.covariates
    Z = a._data.units.covariates
    assert Z.dtype == np.float64 and Z.flags["C_CONTIGUOUS"] and Z.shape == (a.nobs, 3)
    np.testing.assert_array_equal(Z, b._data.units.covariates)
    np.testing.assert_array_equal(Z, c._data.units.covariates)
    first = df.groupby("firm", sort=False).first()
    np.testing.assert_array_equal(Z[:, 0], first["age"].to_numpy())
    np.testing.assert_array_equal(Z[:, 2], (first["sector"] == "shop").to_numpy(float))
    pd.testing.assert_frame_equal(df, before)  # the user's data are not modified
    assert list(a.covariates.columns) == list(a._data.names.covariates)


def test_array_series_and_categorical_inputs(long_df):
    df = long_df
    arr = r3d.R3D(df["wage"], df["rev"], df["firm"], covariates=df[["age"]].to_numpy())
    assert arr._data.names.covariates == ("covariates[0]",)
    ser = r3d.R3D(df["wage"], df["rev"], df["firm"], covariates=df["age"])
    assert ser._data.names.covariates == ("age",)
    cat = r3d.R3D(df["wage"], df["rev"], df["firm"], covariates=df["sector"].astype("category"))
    strings = r3d.R3D(df["wage"], df["rev"], df["firm"], covariates=df[["sector"]])
    np.testing.assert_array_equal(cat._data.units.covariates, strings._data.units.covariates)


def test_samples_and_quantiles_take_one_row_per_unit(long_df):
    df = long_df
    first = df.groupby("firm", sort=False).first()
    samples = [g["wage"].to_numpy() for _, g in df.groupby("firm", sort=False)]
    a = r3d.R3D.from_formula("wage ~ rev", df, unit="firm", covariates=["age", "sector"])
    unit_cov = first[["age", "sector"]].reset_index(drop=True)
    b = r3d.R3D.from_samples(samples, first["rev"].to_numpy(), covariates=unit_cov)
    np.testing.assert_array_equal(a._data.units.covariates, b._data.units.covariates)
    Q = a.unit_quantiles(quantiles=GRID)
    c = r3d.R3D.from_quantiles(Q.to_numpy(), first["rev"].to_numpy(), GRID, covariates=unit_cov.to_numpy())
    assert c._data.names.covariates == ("covariates[0]", "covariates[1][T.mine]", "covariates[1][T.shop]")
    ra = a.fit(method="simple", bandwidth=0.6, quantiles=GRID, n_boot=0)
    rc = c.fit(method="simple", bandwidth=0.6, n_boot=0)
    np.testing.assert_allclose(ra.params.to_numpy(), rc.params.to_numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="of length 300 \\(one row per unit\\)"):
        r3d.R3D.from_quantiles(Q.to_numpy(), first["rev"].to_numpy(), GRID, covariates=df[["age"]])


def test_covariate_varying_within_a_unit_names_unit_and_column(long_df):
    df = long_df.copy()
    df.loc[1, "age"] += 1.0
    with pytest.raises(ValueError, match=r"`covariates\['age'\]` must be constant within each unit.*unit 0"):
        r3d.R3D.from_formula("wage ~ rev", df, unit="firm", covariates="age")
    df = long_df.copy()
    df.loc[1, "sector"] = "zoo" if df.loc[0, "sector"] != "zoo" else "farm"
    with pytest.raises(ValueError, match=r"`covariates\['sector\[T\.\w+\]'\]` must be constant.*unit 0"):
        r3d.R3D(df["wage"], df["rev"], df["firm"], covariates=df[["sector"]])


def test_missing_covariate_is_an_error_naming_the_column(long_df):
    df = long_df.copy()
    df.loc[5, "age"] = np.nan
    for build in (lambda: r3d.R3D.from_formula("wage ~ rev", df, unit="firm", covariates="age + C(sector)"),
                  lambda: r3d.R3D.from_formula("wage ~ rev", df, unit="firm", covariates=["sector", "age"]),
                  lambda: r3d.R3D(df["wage"], df["rev"], df["firm"], covariates=df[["age"]])):
        with pytest.raises(ValueError, match="`covariates` must be free of missing values; got <1 missing value\\(s\\) "
                                             "in column 'age'>"):
            build()
    df.loc[5, "age"] = 1.0
    df.loc[7, "sector"] = None
    with pytest.raises(ValueError, match="column 'sector'"):
        r3d.R3D.from_formula("wage ~ rev", df, unit="firm", covariates="age + C(sector)")


def test_bad_covariate_arguments(long_df):
    df = long_df
    with pytest.raises(ValueError, match="`covariates` must be indexed like"):
        r3d.R3D(df["wage"], df["rev"], df["firm"], covariates=df["age"].iloc[::-1])
    with pytest.raises(ValueError, match="no `~`"):
        r3d.R3D.from_formula("wage ~ rev", df, unit="firm", covariates="wage ~ age")
    with pytest.raises(TypeError, match="a formula right-hand side"):
        r3d.R3D.from_formula("wage ~ rev", df, unit="firm", covariates=3)
    with pytest.raises(ValueError, match="the name of a column of `data`"):
        r3d.R3D.from_formula("wage ~ rev", df, unit="firm", covariates=["agee"])
    with pytest.raises(ValueError, match="of length"):
        r3d.R3D(df["wage"], df["rev"], df["firm"], covariates=np.zeros((5, 1)))


def test_out_of_core_refuses_covariates(tmp_path):
    with pytest.raises(ValueError, match="covariates are not supported out of core yet"):
        r3d.R3D.from_parquet(tmp_path / "none.parquet", "y ~ x", unit="u", covariates="age")
    dd = pytest.importorskip("dask.dataframe")
    ddf = dd.from_pandas(pd.DataFrame({"y": [1.0, 2.0], "x": [-1.0, 1.0], "u": [0, 1], "age": [1.0, 2.0]}),
                         npartitions=1)
    with pytest.raises(ValueError, match="covariates are not supported out of core yet"):
        r3d.R3D.from_formula("y ~ x", ddf, unit="u", covariates="age")


def test_collinear_covariates_dropped_at_build_with_a_warning(long_df):
    df = long_df.assign(age2=lambda d: 2 * d["age"] + 1, one=1.0)
    with pytest.warns(r3d.DroppedDataWarning, match=r"Covariate\(s\) age2, one dropped"):
        mod = r3d.R3D.from_formula("wage ~ rev", df, unit="firm", covariates=["age", "age2", "one"])
    assert mod._data.names.covariates == ("age",)
    assert mod._data.units.covariates.shape == (mod.nobs, 1)
    with pytest.warns(r3d.DroppedDataWarning, match="Every covariate is constant"):
        mod = r3d.R3D.from_formula("wage ~ rev", df, unit="firm", covariates=["one"])
    assert mod._data.units.covariates is None and mod.covariates is None


def test_independent_columns_keeps_the_first_of_collinear_ones():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    Z = np.column_stack([a, b, a - 3 * b + 2, np.ones(50), b])
    np.testing.assert_array_equal(independent_columns(Z), [True, True, False, False, False])
    cov = covariate_columns(pd.DataFrame({"s": ["x", "y", "x", "z"]}), 4, "unit")
    assert cov.names == ("s[T.y]", "s[T.z]")


# ----------------------------------------------------------------------------- the estimator
def _rdrobust_design(ncov):
    x, Q, Z, t = _units()
    Zsel = Z[["age"]] if ncov == 1 else Z
    return x, Q, Zsel, t


@pytest.mark.parametrize("ncov", [1, 3])
@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("kernel", ["triangular", "epanechnikov"])
def test_simple_with_covariates_equals_rdrobust_covs(ncov, order, kernel):
    x, Q, Zdf, _ = _rdrobust_design(ncov)
    mod = r3d.R3D.from_quantiles(Q, x, GRID, covariates=Zdf)
    Z = mod.covariates.to_numpy()
    assert Z.shape[1] == (1 if ncov == 1 else 4)  # sector expands to 2 dummies
    h = 0.6
    res = mod.fit(method="simple", order=order, kernel=kernel, bandwidth=h, n_boot=0, vce="hc0")
    raw = (res.limits["right_raw"] - res.limits["left_raw"]).to_numpy()
    for j in range(GRID.size):
        rd = rdrobust(Q[:, j], x, c=0.0, p=order, h=h, kernel=RD_KERNEL[kernel], vce="hc0", masspoints="off",
                      covs=Z)
        np.testing.assert_allclose(raw[j], rd.coef.iloc[0, 0], rtol=RTOL_RDROBUST)
        np.testing.assert_allclose(res.bse.iloc[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)
    gamma = res.covariate_coefficients
    assert gamma.shape == (Z.shape[1], GRID.size) and list(gamma.index) == list(mod.covariates.columns)
    assert np.isfinite(gamma.to_numpy()).all()


def test_per_quantile_bandwidths_with_covariates_equal_rdrobust():
    x, Q, Zdf, _ = _rdrobust_design(3)
    mod = r3d.R3D.from_quantiles(Q, x, GRID, covariates=Zdf)
    Z = mod.covariates.to_numpy()
    h = np.linspace(0.4, 0.8, GRID.size)
    res = mod.fit(method="simple", order=2, bandwidth=h, n_boot=0, vce="hc0")
    raw = (res.limits["right_raw"] - res.limits["left_raw"]).to_numpy()
    for j in (0, 4, 8):
        rd = rdrobust(Q[:, j], x, c=0.0, p=2, h=h[j], kernel="tri", vce="hc0", masspoints="off", covs=Z)
        np.testing.assert_allclose(raw[j], rd.coef.iloc[0, 0], rtol=RTOL_RDROBUST)
        np.testing.assert_allclose(res.bse.iloc[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)


@pytest.mark.parametrize("ncov", [1, 3])
def test_fuzzy_with_covariates_equals_rdrobust(ncov):
    x, Q, Zdf, t = _units(fuzzy=True)
    Zdf = Zdf[["age"]] if ncov == 1 else Zdf
    mod = r3d.R3D.from_quantiles(Q, x, GRID, treatment=t, covariates=Zdf)
    Z = mod.covariates.to_numpy()
    h = 0.6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        res = mod.fit(method="simple", order=1, bandwidth=h, bandwidth_treatment=h, n_boot=0, vce="hc0")
    rd_t = rdrobust(t, x, c=0.0, p=1, h=h, kernel="tri", vce="hc0", masspoints="off", covs=Z)
    np.testing.assert_allclose(res.first_stage.jump, rd_t.coef.iloc[0, 0], rtol=RTOL_RDROBUST)
    np.testing.assert_allclose(res.first_stage.se, rd_t.se.iloc[0, 0], rtol=RTOL_RDROBUST)
    lim = res.limits
    for j in range(GRID.size):
        rd = rdrobust(Q[:, j], x, c=0.0, fuzzy=t, p=1, h=h, kernel="tri", vce="hc0", masspoints="off", covs=Z)
        raw_wald = (lim["right_raw"].iloc[j] - lim["left_raw"].iloc[j]) / res.first_stage.jump
        np.testing.assert_allclose(raw_wald, rd.coef.iloc[0, 0], rtol=RTOL_RDROBUST)
        if lim["right_raw"].iloc[j] == lim["right"].iloc[j] and lim["left_raw"].iloc[j] == lim["left"].iloc[j]:
            np.testing.assert_allclose(res.bse.iloc[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)
    assert res.covariate_coefficients_treatment.shape == (Z.shape[1],)


def test_limits_are_at_the_covariate_mean_at_the_cutoff():
    """m~_± = sum_i w_i^± (Q_i - (Z_i - z_bar)' gamma), z_bar the mean of the two covariate limits."""
    x, Q, Zdf, _ = _units()
    mod = r3d.R3D.from_quantiles(Q, x, GRID, covariates=Zdf)
    res = mod.fit(method="simple", order=1, bandwidth=0.6, n_boot=0)
    est = res._est
    Z = mod.covariates.to_numpy()
    nocov = r3d.R3D.from_quantiles(Q, x, GRID).fit(method="simple", order=1, bandwidth=0.6, n_boot=0)._est
    w_plus, w_minus = nocov.fit_plus.weights[:, 0], nocov.fit_minus.weights[:, 0]
    z_bar = ((w_plus @ Z) + (w_minus @ Z)) / 2
    np.testing.assert_allclose(est.covariates.z_bar[:, 0], z_bar, rtol=1e-12)
    gamma = est.covariates.gamma
    adjusted = Q - (Z - z_bar) @ gamma
    np.testing.assert_allclose(est.m_plus_raw, w_plus @ adjusted, rtol=1e-12)
    np.testing.assert_allclose(est.m_minus_raw, w_minus @ adjusted, rtol=1e-12)


@pytest.mark.parametrize("method", ["simple", "frechet"])
def test_tau_invariant_to_affine_covariates_and_redundant_columns(method):
    x, Q, Zdf, _ = _units()
    Z = pd.get_dummies(Zdf, columns=["sector"], drop_first=True, dtype=float)
    base = r3d.R3D.from_quantiles(Q, x, GRID, covariates=Z).fit(method=method, bandwidth=0.6, n_boot=0)
    affine = Z * np.array([3.0, -0.5, 2.0, 10.0]) + np.array([100.0, 1.0, -7.0, 0.5])
    res_a = r3d.R3D.from_quantiles(Q, x, GRID, covariates=affine).fit(method=method, bandwidth=0.6, n_boot=0)
    np.testing.assert_allclose(res_a.params, base.params, rtol=RTOL_INVARIANT)
    np.testing.assert_allclose(res_a.bse, base.bse, rtol=RTOL_INVARIANT)
    redundant = Z.assign(combo=2 * Z["age"] - Z["size"] + 3)
    with pytest.warns(r3d.DroppedDataWarning, match="combo"):
        res_r = r3d.R3D.from_quantiles(Q, x, GRID, covariates=redundant).fit(method=method, bandwidth=0.6, n_boot=0)
    np.testing.assert_allclose(res_r.params, base.params, rtol=RTOL_INVARIANT)


def test_window_constant_covariate_dropped_and_none_left_is_unadjusted():
    x, Q, Zdf, _ = _units()
    far = np.where(np.abs(x) > 0.7, np.arange(x.size, dtype=float), 0.0)  # constant inside |x| <= 0.7
    mod = r3d.R3D.from_quantiles(Q, x, GRID, covariates=pd.DataFrame({"age": Zdf["age"], "far": far}))
    with pytest.warns(r3d.DroppedDataWarning, match=r"Covariate\(s\) far dropped from the adjustment of the outcome"):
        res = mod.fit(method="simple", bandwidth=0.6, n_boot=0)
    assert np.isnan(res.covariate_coefficients.loc["far"]).all()
    assert any("far dropped" in n for n in res.notes)
    only_age = r3d.R3D.from_quantiles(Q, x, GRID, covariates=Zdf[["age"]]).fit(method="simple", bandwidth=0.6,
                                                                                n_boot=0)
    np.testing.assert_allclose(res.params, only_age.params, rtol=1e-12)
    mod = r3d.R3D.from_quantiles(Q, x, GRID, covariates=pd.DataFrame({"far": far}))
    with pytest.warns(r3d.DroppedDataWarning, match="the estimate is unadjusted"):
        res = mod.fit(method="simple", bandwidth=0.6, n_boot=0)
    plain = r3d.R3D.from_quantiles(Q, x, GRID).fit(method="simple", bandwidth=0.6, n_boot=0)
    np.testing.assert_array_equal(res.params, plain.params)
    np.testing.assert_array_equal(res.bse, plain.bse)


def test_summary_lists_covariates_and_frechet_runs(long_df):
    mod = r3d.R3D.from_formula("wage ~ rev", long_df, unit="firm", covariates="age + C(sector)")
    res = mod.fit(bandwidth=0.6, quantiles=GRID, n_boot=0)
    text = str(res.summary())
    assert "Covariates" in text and "C(sector)[T.mine]" in text
    assert res.covariate_coefficients.shape == (3, GRID.size)
    plain = r3d.R3D.from_formula("wage ~ rev", long_df, unit="firm").fit(bandwidth=0.6, quantiles=GRID, n_boot=0)
    assert "Covariates" not in str(plain.summary()) and plain.covariate_coefficients is None


# ----------------------------------------------------------------------------- inference reuses a
def test_clusters_and_bootstrap_with_covariates():
    x, Q, Zdf, _ = _units()
    cl = np.arange(x.size) // 5
    mod = r3d.R3D.from_quantiles(Q, x, GRID, covariates=Zdf, cluster=cl)
    res = mod.fit(method="simple", bandwidth=0.6, n_boot=199, rng=1)
    a = res._est.influence
    sums = np.zeros((cl.max() + 1, GRID.size))
    np.add.at(sums, cl, a)
    np.testing.assert_allclose(res.bse.to_numpy(), np.sqrt((sums**2).sum(axis=0)), rtol=1e-12)
    # the bootstrap process is the multipliers' sum of the same cluster sums
    assert res._inf.draws.shape == (199, GRID.size)
    np.testing.assert_allclose(res._inf.draws.std(axis=0) / res.bse.to_numpy(), 1.0, atol=0.25)
    for name in ("nullity", "homogeneity"):
        assert 0.0 <= res.test(name).pvalue <= 1.0
    unclustered = r3d.R3D.from_quantiles(Q, x, GRID, covariates=Zdf).fit(method="simple", bandwidth=0.6, n_boot=0,
                                                                         vce="hc0")
    np.testing.assert_array_equal(res.params, unclustered.params)
    # CR0's unit terms are the unclustered ones (the default hc3 is CR3 with clusters: tests/test_vce_clusters.py)
    a0 = mod.fit(method="simple", bandwidth=0.6, n_boot=0, vce="hc0")._est.influence
    np.testing.assert_allclose(unclustered.bse.to_numpy(), np.sqrt((a0**2).sum(axis=0)), rtol=1e-12)


# ----------------------------------------------------------------------------- bandwidth selection
@pytest.mark.parametrize("method", ["simple", "frechet"])
def test_automatic_bandwidth_on_the_adjusted_outcome(method):
    from r3d.bandwidth import _pilot_h0, _select_bandwidths
    from r3d.estimators import adjust_for_covariates

    x, Q, Zdf, _ = _units()
    mod = r3d.R3D.from_quantiles(Q, x, GRID, covariates=Zdf)
    plain = r3d.R3D.from_quantiles(Q, x, GRID)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        res = mod.fit(method=method, n_boot=0)
        res0 = plain.fit(method=method, n_boot=0)
    assert np.isfinite(res.bandwidth).all() and np.isfinite(res.params).all()
    assert not np.array_equal(res.bandwidth, res0.bandwidth)
    # by hand: gamma at the step-1 pilot bandwidth of the unadjusted outcome, then the selector
    sel0 = res0.bandwidth_choice.selection
    imse = method == "frechet"
    h0 = _pilot_h0(x, Q, GRID, cutoff=0.0, imse=imse, constants=sel0.constants, f_hat=sel0.density.f_hat,
                   n=x.size, h_min=sel0.h_min, h_max=sel0.h_max)
    np.testing.assert_array_equal(h0, sel0.steps.h0[:1] if imse else sel0.steps.h0)
    Z = np.ascontiguousarray(mod.covariates.to_numpy())
    Q_adj = adjust_for_covariates(x, Q, Z, cutoff=0.0, h=h0, order=2, kernel="triangular",
                                  names=tuple(mod.covariates.columns)).Y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        sel = _select_bandwidths(x, Q_adj, GRID, cutoff=0.0, rule=sel0.rule, kernel="triangular", order=2, s=1,
                                 regularize=True, t=None)
    np.testing.assert_array_equal(res.bandwidth_choice.selection.h, sel.h)


def test_automatic_bandwidth_without_covariates_is_unchanged():
    """No covariates (or none left after dropping) -> the selector sees the unadjusted outcome, bit for bit
    (the record, benchmarks/record_outputs.py, checks every other fit without covariates)."""
    x, Q, _, t = _units(fuzzy=True)
    plain = r3d.R3D.from_quantiles(Q, x, GRID, treatment=t)
    with pytest.warns(r3d.DroppedDataWarning, match="Every covariate is constant"):
        none_left = r3d.R3D.from_quantiles(Q, x, GRID, treatment=t, covariates=np.ones((x.size, 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        a = plain.fit(method="simple", n_boot=0)
        b = none_left.fit(method="simple", n_boot=0)
    np.testing.assert_array_equal(a.bandwidth, b.bandwidth)
    assert a.bandwidth_treatment == b.bandwidth_treatment
    np.testing.assert_array_equal(a.params, b.params)


def test_module_estimate_takes_covariates():
    from r3d.estimators import estimate

    x, Q, Zdf, _ = _units()
    mod = r3d.R3D.from_quantiles(Q, x, GRID, covariates=Zdf)
    Z = mod.covariates.to_numpy()
    est = estimate(x, Q, GRID, cutoff=0.0, h=0.6, order=2, kernel="triangular", method="frechet", covariates=Z)
    res = mod.fit(bandwidth=0.6, n_boot=0)
    np.testing.assert_array_equal(est.tau, res.params.to_numpy())
    assert est.covariates.names == ("covariates[0]", "covariates[1]", "covariates[2]", "covariates[3]")


# ----------------------------------------------------------------------------- balance through the model
def test_model_balance_is_the_array_balance_of_its_covariates(long_df):
    """mod.covariate_balance() runs r3d.balance on the model's unit-level covariates (after dummies),
    with the fit's defaults (p = 2, s = 1, triangular) and the model's clusters."""
    from r3d.balance import covariate_balance

    df = long_df.assign(region=long_df["firm"] % 25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        mod = r3d.R3D.from_formula("wage ~ rev", df, unit="firm", covariates="age + C(sector)", cluster="region")
        got = mod.covariate_balance(bandwidth=0.6, n_boot=199, rng=4)
        want = covariate_balance(mod.running.to_numpy(), mod.covariates.to_numpy(), cutoff=mod.cutoff,
                                 names=list(mod.covariates.columns), h=0.6, order=2, pilot_order=1,
                                 kernel="triangular", cluster_codes=mod._data.units.cluster_codes, n_boot=199,
                                 rng=4)
        auto = mod.covariate_balance(n_boot=0)
    assert list(got.frame.index) == ["age", "C(sector)[T.mine]", "C(sector)[T.shop]"]
    np.testing.assert_array_equal(got.frame.to_numpy(), want.frame.to_numpy())
    assert got.joint.pvalue == want.joint.pvalue
    assert np.all(auto.frame["h"] > 0)


def test_balance_without_covariates_says_how_to_give_them(long_df):
    mod = r3d.R3D.from_formula("wage ~ rev", long_df, unit="firm")
    with pytest.raises(ValueError, match="`covariates` must be given when the model is built"):
        mod.covariate_balance()
