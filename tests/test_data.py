"""Data layer and constructors: ids, missing values, unit-level constancy, equivalence of the ways in."""


import numpy as np
import pandas as pd
import pytest
from _refdata import load_long, load_ref, ref_quantile_grid

import r3d
from r3d.data import prepare_long

#: Units with a handful of draws on a fine grid: the few-draws diagnostic is expected here and is
#: tested in tests/test_fewdraws.py.
pytestmark = pytest.mark.filterwarnings("ignore::r3d.FewDrawsWarning")

#: Unit quantiles against numpy's, and through a formula transformation: the kernel repeats
#: numpy's arithmetic (measured: bit for bit); room for a reordered evaluation.
RTOL_NUMPY = 1e-14
ATOL_NUMPY = 1e-14
#: The same quantiles or fit through another way in (weights all 1, samples, a quantile file with
#: 15 digits): measured <= 8.0e-15 on values <= 9.5.
SAME_ATOL = 1e-13

@pytest.fixture
def small():
    rng = np.random.default_rng(3)
    n = 60
    x = rng.uniform(-1, 1, n)
    sizes = rng.integers(1, 12, n)
    unit = np.repeat(np.arange(n), sizes)
    y = 2 * x[unit] + (x[unit] >= 0) + rng.normal(size=unit.size)
    return pd.DataFrame({"firm": unit, "rev": x[unit], "wage": y})


def test_unit_ids_any_hashable_any_order(small):
    df = small
    ids = np.array([f"firm-{u:03d}" for u in df["firm"]], dtype=object)
    perm = np.random.default_rng(0).permutation(len(df))
    a = r3d.R3D(df["wage"], df["rev"], df["firm"])
    b = r3d.R3D(df["wage"].to_numpy()[perm], df["rev"].to_numpy()[perm], ids[perm])
    qa = a.unit_quantiles(quantiles=9)
    qb = b.unit_quantiles(quantiles=9)
    qb.index = [int(s.split("-")[1]) for s in qb.index]
    np.testing.assert_allclose(qa.sort_index().to_numpy(), qb.sort_index().to_numpy(), rtol=0, atol=0)
    assert a.nobs == b.nobs == df["firm"].nunique() and a.ndraws == len(df)


def test_unit_quantiles_equal_numpy_per_unit(small):
    mod = r3d.R3D.from_formula("wage ~ rev", data=small, unit="firm")
    q = np.array([0.1, 0.25, 0.5, 0.9])
    for method in ("linear", "inverted_cdf", "hazen", "median_unbiased"):
        Q = mod.unit_quantiles(q, method=method)
        for uid, grp in small.groupby("firm"):
            np.testing.assert_allclose(Q.loc[uid].to_numpy(), np.quantile(grp["wage"], q, method=method),
                                       rtol=RTOL_NUMPY, atol=ATOL_NUMPY)


def test_formula_transformations_and_names(small):
    df = small.assign(wage=np.exp(small["wage"] / 5))
    mod = r3d.R3D.from_formula("np.log(wage) ~ I(rev * 1000)", data=df, unit="firm", cutoff=0.0)
    base = r3d.R3D(np.log(df["wage"]), df["rev"] * 1000, df["firm"])
    np.testing.assert_allclose(mod.unit_quantiles(5).to_numpy(), base.unit_quantiles(5).to_numpy(), rtol=RTOL_NUMPY)
    assert mod.endog_names == "np.log(wage)" and "rev" in mod.running.name


def test_missing_outcomes_dropped_and_counted(small):
    df = small.copy()
    df.loc[[0, 5, 9], "wage"] = np.nan
    before = df.copy()
    with pytest.warns(r3d.DroppedDataWarning, match=r"3 draw\(s\) dropped \(3 with a missing outcome\)"):
        mod = r3d.R3D.from_formula("wage ~ rev", data=df, unit="firm")
    assert mod.n_dropped_draws == 3 and mod.ndraws == len(df) - 3
    pd.testing.assert_frame_equal(df, before)  # user's data untouched


def test_unit_without_draws_dropped_with_warning(small):
    df = small.copy()
    df.loc[df["firm"] == 7, "wage"] = np.nan
    with pytest.warns(r3d.DroppedDataWarning, match="draw\\(s\\) dropped"), \
            pytest.warns(r3d.DroppedDataWarning, match="1 unit"):
        mod = r3d.R3D.from_formula("wage ~ rev", data=df, unit="firm")
    assert mod.nobs == small["firm"].nunique() - 1 and mod.n_dropped_units == 1
    assert 7 not in set(mod.unit_ids)


def test_nullable_dtypes_and_pd_na(small):
    df = small.copy()
    df["wage_i"] = pd.array(np.round(df["wage"] * 100).astype(int), dtype="Int64")
    df.loc[3, "wage_i"] = pd.NA
    df["firm"] = df["firm"].astype("category")
    with pytest.warns(r3d.DroppedDataWarning, match="1 with a missing outcome"):
        mod = r3d.R3D.from_formula("wage_i ~ rev", data=df, unit="firm")
    assert mod.n_dropped_draws == 1


@pytest.mark.parametrize("col,what", [("rev", "running"), ("t", "treatment"), ("cl", "cluster")])
def test_unit_level_variable_varying_within_unit_is_an_error(small, col, what):
    df = small.assign(t=(small["rev"] >= 0).astype(int), cl=small["firm"] // 10)
    first = df.index[df["firm"] == 4]
    df.loc[first[-1], col] = {"rev": 0.123, "t": 1 - df.loc[first[-1], "t"], "cl": 99}[col]
    if len(first) < 2:
        pytest.skip("unit 4 has one draw")
    kw = {"treatment": "t"} if col == "t" else {"cluster": "cl"} if col == "cl" else {}
    with pytest.raises(ValueError, match=rf"`{what}` must be constant within each unit.*unit 4"):
        r3d.R3D.from_formula("wage ~ rev", data=df, unit="firm", **kw)


def test_errors_name_the_argument(small):
    with pytest.raises(ValueError, match=r"`unit`.*column"):
        r3d.R3D.from_formula("wage ~ rev", data=small, unit="nope")
    with pytest.raises(ValueError, match=r"`formula`.*could not be evaluated"):
        r3d.R3D.from_formula("wages ~ rev", data=small, unit="firm")
    with pytest.raises(ValueError, match=r"`formula`.*one running-variable"):
        r3d.R3D.from_formula("wage ~ rev + firm", data=small, unit="firm")
    with pytest.raises(ValueError, match="`cutoff`"):
        r3d.R3D.from_formula("wage ~ rev", data=small, unit="firm", cutoff=5.0)
    with pytest.raises(ValueError, match=r"`treatment`.*\[0, 1\]"):
        r3d.R3D.from_formula("wage ~ rev", data=small.assign(t=2), unit="firm", treatment="t")
    with pytest.raises(ValueError, match=r"`weights`.*non-negative"):
        r3d.R3D.from_formula("wage ~ rev", data=small.assign(w=-1.0), unit="firm", weights="w")
    bad = small.copy()
    bad.loc[bad["firm"] == 2, "rev"] = np.inf
    with pytest.raises(ValueError, match=r"`running`.*finite"):
        r3d.R3D.from_formula("wage ~ rev", data=bad, unit="firm")
    with pytest.raises(ValueError, match=r"`unit`.*missing"):
        r3d.R3D(small["wage"], small["rev"], small["firm"].astype(float).where(small.index > 0))


def test_zero_weight_rows_dropped_and_weighted_equal_weights_is_type7(small):
    w = np.ones(len(small))
    w[[1, 2]] = 0.0
    with pytest.warns(r3d.DroppedDataWarning, match=r"\(2 with a zero or missing weight\)"):
        mod_w = r3d.R3D.from_formula("wage ~ rev", data=small.assign(w=w), unit="firm", weights="w")
    mod = r3d.R3D.from_formula("wage ~ rev", data=small.drop(index=[1, 2]), unit="firm")
    assert mod_w.n_dropped_draws == 2
    np.testing.assert_allclose(mod_w.unit_quantiles(7).to_numpy(), mod.unit_quantiles(7).to_numpy(),
                               rtol=0, atol=SAME_ATOL)


def test_three_ways_in_agree():
    df = load_long("ref_long_sharp")
    ref = load_ref("ref_data_sharp_simple_20")
    q = ref_quantile_grid(20)
    a = r3d.R3D.from_formula("y ~ x", data=df, unit="unit")
    samples = [g["y"].to_numpy() for _, g in df.groupby("unit", sort=False)]
    xs = df.groupby("unit", sort=False)["x"].first().to_numpy()
    b = r3d.R3D.from_samples(samples, xs)
    c = r3d.R3D.from_quantiles(ref[[f"Q{j}" for j in range(1, 21)]].to_numpy(), ref["X"].to_numpy(), q)
    for mod in (a, b):
        np.testing.assert_allclose(mod.unit_quantiles(q).to_numpy(), c.unit_quantiles().to_numpy(),
                                   rtol=0, atol=SAME_ATOL)
    kw = dict(method="frechet", bandwidth=0.5, quantiles=q, n_boot=0)
    ta, tb, tc = (m.fit(**kw).params.to_numpy() for m in (a, b, c))
    np.testing.assert_allclose(ta, tc, rtol=0, atol=SAME_ATOL)
    np.testing.assert_allclose(tb, tc, rtol=0, atol=SAME_ATOL)


def test_from_samples_and_from_formula_fit_bit_for_bit():
    """The array path converts plain float/int/bool arrays without a pandas Series per unit
    (issue 19); it must still give the long path's numbers exactly, for any dtype it takes."""
    rng = np.random.default_rng(19)
    n = 80
    x = rng.uniform(-1, 1, n)
    sizes = rng.integers(2, 15, n)
    unit = np.repeat(np.arange(n), sizes)
    y = np.round(3 * x[unit] + (x[unit] >= 0) + rng.normal(size=unit.size), 1)
    y[5] = np.nan  # a missing draw is counted the same way on both paths
    df = pd.DataFrame({"unit": unit, "x": x[unit], "y": y})
    with pytest.warns(r3d.DroppedDataWarning):
        a = r3d.R3D.from_formula("y ~ x", data=df, unit="unit")
    split = np.cumsum(sizes)[:-1]
    kw = dict(method="frechet", quantiles=9, n_boot=50, rng=4)
    ref = a.fit(**kw)
    y32 = y.astype(np.float32)
    with pytest.warns(r3d.DroppedDataWarning):
        ref32 = r3d.R3D.from_formula("y ~ x", data=df.assign(y=y32.astype(np.float64)), unit="unit").fit(**kw)
    variants = {
        "float64 views": (np.split(y, split), ref),
        "float32": (np.split(y32, split), ref32),
        "2-D columns": ([v.reshape(-1, 1) for v in np.split(y, split)], ref),
        "lists": ([list(v) for v in np.split(y, split)], ref),
        "Series": ([pd.Series(v) for v in np.split(y, split)], ref),
    }
    for label, (samples, expect) in variants.items():
        with pytest.warns(r3d.DroppedDataWarning):
            b = r3d.R3D.from_samples(samples, x)
        got = b.fit(**kw)
        assert b.ndraws == a.ndraws and b.n_dropped_draws == a.n_dropped_draws == 1, label
        for attr in ("params", "bse"):
            np.testing.assert_array_equal(getattr(got, attr).to_numpy(), getattr(expect, attr).to_numpy(), label)
        np.testing.assert_array_equal(np.atleast_1d(got.bandwidth), np.atleast_1d(expect.bandwidth), label)
        for part in ("lower", "upper"):
            np.testing.assert_array_equal(getattr(got._inf.band, part), getattr(expect._inf.band, part), label)
    bools = [v > 0 for v in np.split(np.nan_to_num(y), split)]
    ints = [v.astype(np.int16) for v in bools]
    q_bool = r3d.R3D.from_samples(bools, x).unit_quantiles(5).to_numpy()
    np.testing.assert_array_equal(r3d.R3D.from_samples(ints, x).unit_quantiles(5).to_numpy(), q_bool)
    np.testing.assert_array_equal(
        r3d.R3D.from_samples([pd.Series(v) for v in bools], x).unit_quantiles(5).to_numpy(), q_bool)
    masked = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])  # a subclass: the checked path
    with pytest.warns(r3d.DroppedDataWarning, match="1 draw"):
        m = r3d.R3D.from_samples([masked, [0.0, 1.0], [2.0, 3.0]], [-0.5, 0.2, 0.4])
    assert m.n_dropped_draws == 1  # the masked draw is missing, as it was before the fast path


def test_from_samples_counts_empty_units():
    with pytest.warns(r3d.DroppedDataWarning):
        mod = r3d.R3D.from_samples([np.arange(5.0), [], [1.0, np.nan]], [-0.5, 0.2, 0.4])
    assert mod.nobs == 2 and mod.n_dropped_units == 1 and mod.n_dropped_draws == 1


def test_from_quantiles_validation():
    q = np.array([0.25, 0.5, 0.75])
    x = np.array([-0.5, -0.2, 0.1, 0.6])
    Q = np.array([[1, 2, 3], [1, 2, 3], [2, 3, 4], [2, 3, 4.0]])
    with pytest.raises(ValueError, match=r"`qmat`.*3 columns"):
        r3d.R3D.from_quantiles(Q[:, :2], x, q)
    with pytest.raises(ValueError, match=r"`qmat`.*non-decreasing"):
        r3d.R3D.from_quantiles(Q[:, ::-1], x, q)
    Qn = Q.copy()
    Qn[1] = np.nan
    with pytest.warns(r3d.DroppedDataWarning):
        mod = r3d.R3D.from_quantiles(Qn, x, q)
    assert mod.nobs == 3
    with pytest.raises(ValueError, match="`quantiles`"):
        r3d.R3D.from_quantiles(Q, x, [0.5, 0.25, 0.75])


def test_prepare_long_does_not_modify_inputs():
    y = np.array([1.0, np.nan, 3.0, 4.0])
    x = np.array([0.1, 0.1, -0.1, -0.1])
    u = np.array([1, 1, 2, 2])
    copies = [a.copy() for a in (y, x, u)]
    with pytest.warns(r3d.DroppedDataWarning):
        prepare_long(y, x, u)
    for a, b in zip((y, x, u), copies, strict=True):
        np.testing.assert_array_equal(a, b)
