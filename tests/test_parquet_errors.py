"""R3D.from_parquet never lets a DuckDB exception escape raw, and never reads a glob of files
with different schemas wrongly: each bad input ends in the documented error type, naming the
file (or the glob) and the column, chained to DuckDB's error."""

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from r3d import R3D

duckdb = pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")

#: In-memory and DuckDB unit quantiles agree to rounding (as in test_parquet.py).
SAME_RTOL = 1e-12
SAME_ATOL = 1e-12


def _long(n_units: int = 40, start: int = 0, rng: int = 0) -> pd.DataFrame:
    gen = np.random.default_rng(rng)
    u = np.repeat(np.arange(start, start + n_units), 6)
    x = np.repeat(np.linspace(-1, 1, n_units), 6)
    return pd.DataFrame({"u": u, "x": x, "y": gen.normal(size=u.size) + (x >= 0)})


def _write(df: pd.DataFrame, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)
    return str(path)


def _fit(path, formula="y ~ x", **kw):
    kw.setdefault("unit", "u")
    return R3D.from_parquet(path, formula, quantiles=5, **kw)


# ------------------------------------------------------------------ files that are not Parquet
@pytest.mark.parametrize("content", [b"not a parquet file", b"PAR1" + b"\0" * 40, b""])
def test_a_file_that_is_not_parquet_is_named(tmp_path, content):
    good = _write(_long(), tmp_path / "d" / "a.parquet")
    bad = tmp_path / "d" / "b.parquet"
    bad.write_bytes(content)
    for path in (str(bad), str(tmp_path / "d" / "*.parquet"), [str(bad), good], [good, str(bad)]):
        with pytest.raises(ValueError, match=r"`path` must be Parquet files; got <'[^']*b\.parquet', which DuckDB "
                           r"cannot read as Parquet") as info:
            _fit(path)
        assert isinstance(info.value.__cause__, duckdb.Error)


def test_a_csv_file_given_as_parquet(tmp_path):
    path = tmp_path / "data.csv"
    _long().to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"'[^']*data\.csv', which DuckDB cannot read as Parquet"):
        _fit(str(path))


def test_an_unreadable_file_is_a_permission_error(tmp_path, monkeypatch):
    """DuckDB's failure on a file this process may not read is a PermissionError naming the file
    (simulated: the tests may run as root, who reads anything)."""
    bad = tmp_path / "locked.parquet"
    bad.write_bytes(b"unreadable")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(bad) else real_access(p, mode))
    with pytest.raises(PermissionError, match=r"`path` must be readable Parquet files; got <'[^']*locked\.parquet'"):
        _fit(str(bad))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_really(tmp_path):
    path = _write(_long(), tmp_path / "locked.parquet")
    os.chmod(path, 0)
    with pytest.raises(PermissionError, match=r"locked\.parquet"):
        _fit(path)


# ------------------------------------------------------------------ paths that hold no file
def test_paths_without_files(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "csvs").mkdir()
    _long().to_csv(tmp_path / "csvs" / "a.csv")
    for path in (tmp_path / "empty", tmp_path / "csvs"):
        with pytest.raises(FileNotFoundError, match=r"got <directory '[^']*', which holds no \.parquet file>"):
            _fit(path)
    with pytest.raises(FileNotFoundError, match="a glob matching some"):
        _fit(str(tmp_path / "empty" / "*.parquet"))
    with pytest.raises(ValueError, match="an empty list"):
        _fit([])


# ------------------------------------------------------------------ globs of files with different schemas
def test_a_column_missing_from_one_file_names_file_and_column(tmp_path):
    _write(_long().assign(t=(np.repeat(np.linspace(-1, 1, 40), 6) >= 0) * 1.0), tmp_path / "a.parquet")
    _write(_long(start=100), tmp_path / "b.parquet")
    with pytest.raises(ValueError, match=r"`treatment` must be a column of every Parquet file; got <column 't', "
                       r"missing from '[^']*b\.parquet'>"):
        _fit(str(tmp_path / "*.parquet"), treatment="t")
    _fit(str(tmp_path / "*.parquet"))  # an unused column may be missing


def test_strings_in_one_file_name_file_and_column(tmp_path):
    _write(_long(), tmp_path / "a.parquet")
    b = _long(start=100)
    _write(b.assign(y=b["y"].map(repr).where(b.index > 0, "n/a")), tmp_path / "b.parquet")
    with pytest.raises(TypeError, match=r"`outcome` must be numeric; got <column 'y' of type VARCHAR in "
                       r"'[^']*b\.parquet'>"):
        _fit(str(tmp_path / "*.parquet"))
    _write(b.assign(x=b["x"].map(repr)), tmp_path / "b.parquet")  # numbers written as text: still refused
    with pytest.raises(TypeError, match=r"`running` must be numeric; got <column 'x' of type VARCHAR in "
                       r"'[^']*b\.parquet'>"):
        _fit(str(tmp_path / "*.parquet"), "np.log(y + 10) ~ I(x * 2)")


def test_numeric_types_that_differ_between_files_are_read_as_their_common_type(tmp_path):
    """Integers in the first file and floats in the second were cast to integers (DuckDB reads a
    glob with the first file's schema): 1.5 became 2. They are now read as floats, as pandas.concat
    of the two files gives in memory."""
    a, b = _long(), _long(start=100, rng=1)
    _write(a.assign(y=np.round(a["y"] * 10).astype(np.int64), x=a["x"].astype(np.float32)), tmp_path / "a.parquet")
    _write(b, tmp_path / "b.parquet")
    mod = _fit(str(tmp_path / "*.parquet"))
    mem = R3D.from_formula("y ~ x", pd.concat([pd.read_parquet(tmp_path / f) for f in ("a.parquet", "b.parquet")]),
                           unit="u")
    np.testing.assert_allclose(mod.unit_quantiles().to_numpy(), mem.unit_quantiles(5).to_numpy(), rtol=SAME_RTOL,
                               atol=SAME_ATOL)
    np.testing.assert_allclose(mod.running.to_numpy(), mem.running.to_numpy(), rtol=SAME_RTOL, atol=SAME_ATOL)


def test_ids_of_different_kinds_between_files_are_refused(tmp_path):
    _write(_long(), tmp_path / "a.parquet")
    b = _long(start=100)
    _write(b.assign(u=b["u"].astype(str)), tmp_path / "b.parquet")
    with pytest.raises(TypeError, match=r"`unit` must be ids of one type in every file; got <column 'u' of type "
                       r"BIGINT in '[^']*a\.parquet' but VARCHAR in '[^']*b\.parquet'>"):
        _fit(str(tmp_path / "*.parquet"))
    _write(b.assign(u=b["u"].astype(np.int32)), tmp_path / "b.parquet")  # integers of two widths: one kind
    assert _fit(str(tmp_path / "*.parquet")).nobs == 80


# ------------------------------------------------------------------ DuckDB's virtual columns
def test_available_columns_are_the_files_columns_only(tmp_path):
    path = _write(_long().assign(region="r"), tmp_path / "a.parquet")
    for virtual in ("file_row_number", "file_index", "filename"):
        with pytest.raises(ValueError, match=r"`unit` must be the name of a column .* Columns available: u, x, y, "
                           r"region\.$"):
            _fit(path, unit=virtual)
        with pytest.raises(ValueError, match=rf"unknown column '{virtual}'.*Columns available: u, x, y, region\."):
            _fit(path, f"y ~ {virtual}")


@pytest.mark.parametrize("name", ["file_index", "file_row_number"])
def test_a_column_named_like_a_row_position_is_refused(tmp_path, name):
    """Such a column hid DuckDB's own (file_index: units silently reordered) or broke the query."""
    path = _write(_long().assign(**{name: 7.0}), tmp_path / "a.parquet")
    with pytest.raises(ValueError, match=rf"`path` must be Parquet data without a column named '{name}'; got "
                       rf"<a column '{name}' in '[^']*a\.parquet'>. DuckDB reserves"):
        _fit(path)


def test_a_column_named_filename_is_an_ordinary_column(tmp_path):
    df = _long().assign(filename=np.arange(240.0))
    mod = _fit(_write(df, tmp_path / "a.parquet"), "y ~ x")
    assert list(mod.unit_ids) == list(range(40))
    mod = _fit(str(tmp_path / "a.parquet"), "filename ~ x")  # the data's column, not DuckDB's file name
    mem = R3D.from_formula("filename ~ x", df, unit="u")
    np.testing.assert_allclose(mod.unit_quantiles().to_numpy(), mem.unit_quantiles(5).to_numpy(), rtol=SAME_RTOL,
                               atol=SAME_ATOL)


# ------------------------------------------------------------------ columns of the wrong kind or all missing
def test_dates_and_nested_columns_are_refused_naming_the_role(tmp_path):
    df = _long()
    df["when"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(df["x"] * 100, unit="D")
    df["pair"] = [[1, 2]] * len(df)
    path = _write(df, tmp_path / "a.parquet")
    with pytest.raises(TypeError, match=r"`running` must be numeric; got <column 'when' of type TIMESTAMP.* in "
                       r"'[^']*a\.parquet'>. Convert the column to numbers"):
        _fit(path, "y ~ when")
    with pytest.raises(TypeError, match=r"`unit` must be a column of hashable ids; got <column 'pair' of type "
                       r"BIGINT\[\]"):
        _fit(path, unit="pair")


def test_a_boolean_running_variable_is_read_as_0_and_1(tmp_path):
    df = _long(n_units=60)
    df["above"] = df["x"] >= 0
    path = _write(df, tmp_path / "a.parquet")
    mod = _fit(path, "y ~ above", cutoff=0.5)
    mem = R3D.from_formula("y ~ above", df, unit="u", cutoff=0.5)
    np.testing.assert_array_equal(mod.running.to_numpy(), mem.running.to_numpy())


@pytest.mark.parametrize("role, kw, match", [
    ("outcome", {"formula": "none ~ x"}, r"`outcome` must be non-missing for at least one unit"),
    ("running", {"formula": "y ~ none"}, r"`running` must be finite for every unit"),
    ("treatment", {"treatment": "none"}, r"`treatment` must be take-up in \[0, 1\]"),
    ("cluster", {"cluster": "none"}, r"`cluster` must be free of missing ids"),
    ("unit", {"unit": "none"}, r"`unit` must be free of missing ids; got <240 rows"),
])
def test_a_column_of_nulls_is_named(tmp_path, role, kw, match):
    path = _write(_long().assign(none=np.nan), tmp_path / "a.parquet")
    with pytest.raises(ValueError, match=match):
        _fit(path, **kw)


def test_a_unit_column_with_nulls(tmp_path):
    df = _long()
    df["u"] = df["u"].astype(object)
    df.loc[[3, 200], "u"] = None
    with pytest.raises(ValueError, match=r"`unit` must be free of missing ids; got <2 rows with a missing id>"):
        _fit(_write(df, tmp_path / "a.parquet"))


# ------------------------------------------------------------------ DuckDB settings
def test_a_bad_memory_limit_names_it(tmp_path):
    path = _write(_long(), tmp_path / "a.parquet")
    with pytest.raises(ValueError, match=r"`memory_limit` must be a DuckDB size such as '2GB'.*; got 'lots'") as info:
        _fit(path, memory_limit="lots")
    assert isinstance(info.value.__cause__, duckdb.Error)


def test_too_little_memory_is_a_memory_error_naming_the_limit(tmp_path):
    path = _write(_long(), tmp_path / "a.parquet")
    with pytest.raises(MemoryError, match=r"`memory_limit` must be large enough for DuckDB.*Raise") as info:
        _fit(path, memory_limit="1KB")
    assert isinstance(info.value.__cause__, duckdb.OutOfMemoryException)


def test_errors_during_the_scan_are_translated_too(tmp_path, monkeypatch):
    """A file that breaks after the checks (replaced mid-run) is named like one that was bad from the start."""
    from r3d.backends import duckdb as engine_mod

    path = _write(_long(), tmp_path / "a.parquet")
    engine = engine_mod.ParquetEngine.from_parquet(path, "y ~ x", unit="u")
    with engine:
        Path(path).write_bytes(b"gone")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(ValueError, match=r"'[^']*a\.parquet', which DuckDB cannot read as Parquet"):
                engine.unit_summary(np.array([0.25, 0.5, 0.75]), "linear")



def test_all_zero_weights_named_like_in_memory(tmp_path):
    """Every draw with an outcome has weight 0: the weights are named, not a missing outcome."""
    df = pd.DataFrame({"u": np.repeat([1, 2, 3, 4], 3), "x": np.repeat([-1.0, -0.5, 0.5, 1.0], 3),
                       "y": np.arange(12.0), "w": 0.0})
    df.loc[0, "y"] = np.nan
    path = tmp_path / "w.parquet"
    df.to_parquet(path)
    with pytest.raises(ValueError, match=r"`weights` must be positive for at least one draw") as ooc:
        R3D.from_parquet(path, "y ~ x", unit="u", weights="w", quantiles=3)
    with pytest.raises(ValueError, match=r"`weights` must be positive for at least one draw") as mem:
        R3D.from_formula("y ~ x", df, unit="u", weights="w")
    assert str(ooc.value) == str(mem.value)
