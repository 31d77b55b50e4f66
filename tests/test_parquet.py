"""R3D.from_parquet (DuckDB, out of core) against the in-memory path.

The Parquet path must give the in-memory numbers: the same unit quantiles (numpy's
index arithmetic is reproduced in SQL, so they agree to rounding), the same units in
the same order (first appearance), hence the same fit, standard errors and bootstrap.
"""

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _refdata import load_long

import r3d
from r3d import R3D
from r3d.quantiles import unit_quantiles

#: Units with a handful of draws on a fine grid: the few-draws diagnostic is expected here and is
#: tested in tests/test_fewdraws.py.
pytestmark = pytest.mark.filterwarnings("ignore::r3d.FewDrawsWarning")

pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")

#: Both paths compute the same order statistics with the same double arithmetic (measured: bit
#: for bit); DuckDB's log/exp may differ from numpy's by an ulp, which the fits amplify by their
#: condition number (<= ~1e3 here), so allow that rounding, far below any real change.
SAME_RTOL = 1e-12
SAME_ATOL = 1e-12

REF_FILES = ["ref_long_sharp", "ref_long_fuzzy", "ref_long_small", "ref_long_dgp1", "ref_long_dgp2"]


def _write(df: pd.DataFrame, path: Path) -> str:
    df.to_parquet(path, index=False)
    return str(path)


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=SAME_RTOL, atol=SAME_ATOL)


# ref_long_sharp has 50 draws per unit: at q = 0.14 numpy's 50 * 0.14 = 7.000000000000001 picks
# the 8th draw for inverted_cdf where DuckDB's quantile_disc picks the 7th; the SQL must follow numpy.
@pytest.mark.parametrize("name, method", [(n, "linear") for n in REF_FILES]
                         + [("ref_long_sharp", "inverted_cdf"), ("ref_long_dgp2", "inverted_cdf")])
def test_reference_quantiles_equal_in_memory(tmp_path, name, method):
    df = load_long(name)
    path = _write(df, tmp_path / f"{name}.parquet")
    treat = "t" if "t" in df.columns else None
    mod = R3D.from_parquet(path, "y ~ x", unit="unit", treatment=treat, quantile_method=method)
    mem = R3D.from_formula("y ~ x", df, unit="unit", treatment=treat)
    got, want = mod.unit_quantiles(), mem.unit_quantiles(method=method)
    assert list(got.index) == list(want.index)
    _close(got.to_numpy(), want.to_numpy())
    assert mod.ndraws == mem.ndraws == len(df)
    assert mod.nobs == mem.nobs


@pytest.mark.parametrize("name", ["ref_long_sharp", "ref_long_fuzzy"])
def test_reference_fit_equal_in_memory(tmp_path, name):
    df = load_long(name)
    path = _write(df, tmp_path / "d.parquet")
    treat = "t" if "t" in df.columns else None
    grid = np.arange(1, 21) / 21
    mod = R3D.from_parquet(path, "y ~ x", unit="unit", treatment=treat, quantiles=grid)
    mem = R3D.from_formula("y ~ x", df, unit="unit", treatment=treat)
    res = mod.fit(n_boot=199, rng=7)
    ref = mem.fit(quantiles=grid, n_boot=199, rng=7)
    _close(res.params, ref.params)
    _close(res.bse, ref.bse)
    _close(res.bandwidth, ref.bandwidth)
    _close(res.critical_value, ref.critical_value)
    _close(res.bootstrap_draws, ref.bootstrap_draws)
    assert res.summary_frame().index.equals(ref.summary_frame().index)
    assert "user-supplied" not in str(res.summary())  # the real quantile method is recorded


def _random_long(rng: np.random.Generator, n_units: int = 120) -> pd.DataFrame:
    """String unit ids, rows shuffled, unit-level x/t/cluster, weights, some missing outcomes."""
    sizes = rng.integers(1, 40, size=n_units)
    ids = np.array([f"firm-{k:03d}" for k in rng.permutation(n_units)])
    x = rng.uniform(-1, 1, size=n_units)
    t = (rng.uniform(size=n_units) < 0.1 + 0.8 * (x >= 0)).astype(float)
    cl = np.array([f"region{k}" for k in rng.integers(0, 12, size=n_units)])
    unit = np.repeat(ids, sizes)
    y = rng.normal(np.repeat(5 + x + 3 * t, sizes), 1.0)
    y[rng.uniform(size=y.size) < 0.05] = np.nan
    w = rng.uniform(0.1, 3.0, size=y.size)
    df = pd.DataFrame({"unit": unit, "x": np.repeat(x, sizes), "t": np.repeat(t, sizes), "y": y,
                       "w": w, "region": np.repeat(cl, sizes)})
    df.loc[df["unit"] == ids[3], "y"] = np.nan  # a unit without draws (dropped, warned)
    return df.iloc[rng.permutation(len(df))].reset_index(drop=True)


@pytest.fixture
def random_files(tmp_path):
    rng = np.random.default_rng(20261123)
    df = _random_long(rng)
    cut = [0, len(df) // 3, 2 * len(df) // 3, len(df)]
    for k in range(3):  # three files read as one dataset, in sorted name order
        _write(df.iloc[cut[k]:cut[k + 1]], tmp_path / f"part-{k}.parquet")
    return df, str(tmp_path / "part-*.parquet")


@pytest.mark.parametrize("method", ["linear", "inverted_cdf"])
@pytest.mark.parametrize("weighted", [False, True])
def test_random_string_ids_glob_equal_in_memory(random_files, method, weighted):
    df, glob = random_files
    w = "w" if weighted else None
    with pytest.warns(r3d.SmallSampleWarning, match="12 clusters"), \
            pytest.warns(r3d.DroppedDataWarning, match="draw\\(s\\) dropped"), \
            pytest.warns(r3d.DroppedDataWarning, match="1 unit"):
        mod = R3D.from_parquet(glob, "y ~ x", unit="unit", treatment="t", cluster="region", weights=w,
                               quantiles=15, quantile_method=method)
    with pytest.warns(r3d.SmallSampleWarning, match="12 clusters"), \
            pytest.warns(r3d.DroppedDataWarning, match="draw\\(s\\) dropped"), \
            pytest.warns(r3d.DroppedDataWarning, match="1 unit"):
        mem = R3D.from_formula("y ~ x", df, unit="unit", treatment="t", cluster="region", weights=w)
    assert list(mod.unit_ids) == list(mem.unit_ids)  # originals, first-appearance order
    assert mod._data.notes[:2] == mem._data.notes[:2]  # the same counts of dropped draws and units
    assert isinstance(mod.unit_ids[0], str)
    assert (mod.ndraws, mod.n_dropped_draws, mod.n_dropped_units) == (mem.ndraws, mem.n_dropped_draws, 1)
    _close(mod.unit_quantiles().to_numpy(), mem.unit_quantiles(15, method=method).to_numpy())
    _close(mod.running.to_numpy(), mem.running.to_numpy())
    _close(mod.treatment.to_numpy(), mem.treatment.to_numpy())
    res = mod.fit(bandwidth=0.8, bandwidth_treatment=0.8, n_boot=99, rng=3)
    ref = mem.fit(bandwidth=0.8, bandwidth_treatment=0.8, quantiles=15, quantile_method=method, n_boot=99, rng=3)
    _close(res.params, ref.params)
    _close(res.bse, ref.bse)  # clustered by region on both paths
    _close(res.bootstrap_draws, ref.bootstrap_draws)


def test_weighted_sql_equals_kernel_and_equal_weights_give_type7(tmp_path):
    """The SQL Hmisc rule equals the compiled kernel; integer-equal weights reproduce type 7."""
    rng = np.random.default_rng(5)
    n_units, per = 25, 17
    y = np.round(rng.normal(size=n_units * per), 1)  # ties on purpose
    codes = np.repeat(np.arange(n_units), per)
    w = rng.integers(1, 4, size=y.size).astype(float)
    df = pd.DataFrame({"u": codes, "x": np.repeat(np.linspace(-1, 1, n_units), per), "y": y, "w": w,
                       "one": 2.0})
    path = _write(df, tmp_path / "w.parquet")
    levels = np.arange(1, 50) / 50
    for method in ("linear", "inverted_cdf"):
        got = R3D.from_parquet(path, "y ~ x", unit="u", weights="w", quantiles=levels, quantile_method=method)
        want = unit_quantiles(y, codes, n_units, levels, method=method, weights=w)
        _close(got.unit_quantiles().to_numpy(), want)
    eq = R3D.from_parquet(path, "y ~ x", unit="u", weights="one", quantiles=levels).unit_quantiles()
    _close(eq.to_numpy(), unit_quantiles(y, codes, n_units, levels))


def test_transformed_formula_names_and_values(tmp_path):
    df = load_long("ref_long_small")
    path = _write(df.rename(columns={"x": "score"}), tmp_path / "s.parquet")
    mem_df = df.rename(columns={"x": "score"})
    mod = R3D.from_parquet(path, "np.log(y) ~ I(score / 2 + 1) - 1", unit="unit", quantiles=5, cutoff=1.0)
    mem = R3D.from_formula("np.log(y) ~ I(score / 2 + 1) - 1", mem_df, unit="unit", cutoff=1.0)
    _close(mod.unit_quantiles().to_numpy(), mem.unit_quantiles(5).to_numpy())
    _close(mod.running.to_numpy(), mem.running.to_numpy())
    assert mod.running.name == mem.running.name == "I(score / 2 + 1)"
    res = mod.fit(bandwidth=1.0, order=1, n_boot=0)
    assert res.model.endog_names == "np.log(y)"


def test_log_of_nonpositive_follows_numpy(tmp_path):
    """log(0) = -inf is an infinite outcome (error); log(-1) = NaN is a missing draw (dropped)."""
    df = pd.DataFrame({"u": np.repeat([1, 2, 3, 4], 3), "x": np.repeat([-1.0, -0.5, 0.5, 1.0], 3),
                       "y": [1.0, 2, -1, 3, 4, 5, 6, 7, 8, 9, 10, 11]})
    path = _write(df, tmp_path / "a.parquet")
    with pytest.warns(r3d.DroppedDataWarning, match=r"1 draw\(s\) dropped \(1 with a missing outcome\); 11 draws"):
        mod = R3D.from_parquet(path, "log(y) ~ x", unit="u", quantiles=3)
    assert mod.n_dropped_draws == 1 and mod.ndraws == 11
    df.loc[0, "y"] = 0.0
    path = _write(df, tmp_path / "b.parquet")
    with pytest.raises(ValueError, match=r"outcome.*finite or missing"):
        R3D.from_parquet(path, "log(y) ~ x", unit="u", quantiles=3)


@pytest.mark.parametrize("formula, match", [
    ("y ~ center(x)", "is not supported"),
    ("y ~ x + t", "exactly one running-variable term"),
    ("y ~ nosuch", "unknown column 'nosuch'"),
    ("y + x ~ x", "exactly one outcome term"),
    ("y", "outcome ~ running"),
])
def test_formula_outside_subset_is_refused(tmp_path, formula, match):
    path = _write(load_long("ref_long_small").assign(t=0.0), tmp_path / "f.parquet")
    with pytest.raises(ValueError, match=match):
        R3D.from_parquet(path, formula, unit="unit")


@pytest.mark.parametrize("formula, match", [
    ("y ~ x:t", r"`formula` must be made of column names.*the term 'x:t' is not supported.*docs/bigdata.md"),
    ("y ~ np.cumsum(x)", "the term 'np.cumsum\\(x\\)' is not supported"),
    ("y ~ x[0]", "the term 'x\\[0\\]' is not supported"),
    ("y ~ (x", "that formulaic can parse"),
    ("y ~ x | t", "exactly one running-variable term"),
    ("1 ~ x", "exactly one outcome term"),
])
def test_formulaic_parse_decides_terms_and_the_subset_refuses_the_rest(tmp_path, formula, match):
    path = _write(load_long("ref_long_small").assign(t=0.0), tmp_path / "f.parquet")
    with pytest.raises(ValueError, match=match):
        R3D.from_parquet(path, formula, unit="unit")


@pytest.mark.parametrize("formula", ["y ~ {x / 2}", "y ~ I(x) + I(x)", "y ~ 0 + x", "Q('y') ~ `x`"])
def test_formulaic_grammar_out_of_core_equals_in_memory(tmp_path, formula):
    """Term splitting and the intercept are formulaic's on both paths, so the same formula means the same."""
    df = load_long("ref_long_small")
    path = _write(df, tmp_path / "g.parquet")
    mod = R3D.from_parquet(path, formula, unit="unit", quantiles=5)
    mem = R3D.from_formula(formula, df, unit="unit")
    _close(mod.unit_quantiles().to_numpy(), mem.unit_quantiles(5).to_numpy())
    _close(mod.running.to_numpy(), mem.running.to_numpy())
    assert (mod.endog_names, mod.running.name) == (mem.endog_names, mem.running.name)


def test_policy_errors_name_the_unit(tmp_path):
    base = pd.DataFrame({"u": ["a", "a", "b", "b", "c", "c"], "x": [-1.0, -1, 0.5, 0.5, 1, 1],
                         "y": [1.0, 2, 3, 4, 5, 6], "t": [0.0, 0, 1, 1, 1, 1], "w": 1.0, "g": ["k"] * 6})

    def run(df, **kw):
        return R3D.from_parquet(_write(df, tmp_path / "p.parquet"), "y ~ x", unit="u", quantiles=3, **kw)

    bad = base.copy()
    bad.loc[3, "x"] = 0.7
    with pytest.raises(ValueError, match=r"`running` must be constant.*unit 'b'"):
        run(bad)
    bad = base.copy()
    bad.loc[[4, 5], "t"] = 2.0
    with pytest.raises(ValueError, match=r"treatment.*value 2.0 for unit 'c'"):
        run(bad, treatment="t")
    bad = base.copy()
    bad.loc[2, "u"] = None
    with pytest.raises(ValueError, match=r"unit.*1 rows with a missing id"):
        run(bad)
    bad = base.copy()
    bad.loc[1, "w"] = -1.0
    with pytest.raises(ValueError, match=r"weights.*non-negative"):
        run(bad, weights="w")
    bad = base.copy()
    bad.loc[1, "g"] = "other"
    with pytest.raises(ValueError, match=r"`cluster` must be constant.*unit 'a'"):
        run(bad, cluster="g")
    with pytest.raises(TypeError, match="`treatment` must be numeric"):
        run(base, treatment="g")
    with pytest.raises(ValueError, match="`unit` must be the name of a column"):
        R3D.from_parquet(_write(base, tmp_path / "q.parquet"), "y ~ x", unit="nope")
    with pytest.raises(FileNotFoundError, match="path"):
        R3D.from_parquet(str(tmp_path / "missing-*.parquet"), "y ~ x", unit="u")
    with pytest.raises(ValueError, match="quantile_method"):
        run(base, quantile_method="hazen")


def test_engine_options_do_not_change_results(tmp_path):
    df = load_long("ref_long_small")
    path = _write(df, tmp_path / "s.parquet")
    a = R3D.from_parquet(path, "y ~ x", unit="unit", quantiles=5).unit_quantiles()
    b = R3D.from_parquet(path, "y ~ x", unit="unit", quantiles=5, threads=1, memory_limit="200MB",
                         temp_directory=str(tmp_path / "spill")).unit_quantiles()
    pd.testing.assert_frame_equal(a, b)
    c = R3D.from_parquet(tmp_path, "y ~ x", unit="unit", quantiles=5).unit_quantiles()  # a directory
    pd.testing.assert_frame_equal(a, c)


def test_missing_duckdb_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "duckdb", None)
    with pytest.raises(ImportError, match=r'pip install "duckdb>=1.3"'):
        R3D.from_parquet(str(tmp_path / "x.parquet"), "y ~ x", unit="u")


def test_model_only_fits_on_its_grid(tmp_path):
    path = _write(load_long("ref_long_small"), tmp_path / "s.parquet")
    mod = R3D.from_parquet(path, "y ~ x", unit="unit", quantiles=[0.25, 0.5, 0.75])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert mod.fit(quantiles=[0.5], bandwidth=1.0, n_boot=0).quantiles.tolist() == [0.5]
    with pytest.raises(ValueError, match="subset of the levels"):
        mod.fit(quantiles=[0.1], bandwidth=1.0, n_boot=0)


@pytest.mark.parametrize("method", ["linear", "inverted_cdf"])
@pytest.mark.parametrize("scale", ["equal 3", "equal 1e307", "equal 5e-324", "1e307", "subnormal"])
def test_weights_of_any_size_equal_in_memory(tmp_path, method, scale):
    """Per-unit weight sums cannot overflow or underflow: DuckDB rescales each unit's weights as the
    compiled kernel does (equal weights to 1, others by a power of two), so the quantiles are the same bits."""
    rng = np.random.default_rng(3)
    n = 40
    df = pd.DataFrame({"u": np.repeat(np.arange(n), 15), "x": np.repeat(rng.uniform(-1, 1, n), 15),
                       "y": rng.normal(size=n * 15)})
    w = {"equal 3": 3.0, "equal 1e307": 1e307, "equal 5e-324": 5e-324,
         "1e307": rng.uniform(0.1, 17.0, len(df)) * 1e307,
         "subnormal": rng.integers(1, 5, len(df)) * 5e-324}[scale]
    df = df.assign(w=w)
    path = _write(df, tmp_path / "w.parquet")
    ooc = R3D.from_parquet(path, "y ~ x", unit="u", weights="w", cutoff=0.0, quantiles=9, quantile_method=method)
    mem = R3D.from_formula("y ~ x", df, unit="u", weights="w", cutoff=0.0)
    np.testing.assert_array_equal(ooc.unit_quantiles().to_numpy(), mem.unit_quantiles(9, method=method).to_numpy())
