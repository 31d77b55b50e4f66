"""Compiled grouping passes (r3d/_ext/_grouping.pyx) against their NumPy twin."""

import numpy as np
import pandas as pd
import pytest

from r3d._ext import _grouping
from r3d._ext import grouping_numpy as twin
from r3d.data import _codes, _unit_codes

# Integer outputs: kernel and twin must agree exactly.


def _ids(rng, kind):
    if kind == "blocks":
        return np.repeat(rng.permutation(50) * 3 - 40, rng.integers(1, 9, 50))
    if kind == "shuffled":
        return rng.integers(-20, 20, 500)
    if kind == "single":
        return np.full(7, 123456789012)
    return rng.integers(0, 1000, 300)  # "sparse": more values than rows


@pytest.mark.parametrize("kind", ["blocks", "shuffled", "single", "sparse"])
def test_factorize_equals_pandas(kind):
    ids = _ids(np.random.default_rng(1), kind).astype(np.int64)
    got = _grouping.factorize_int64(ids)
    assert got is not None
    codes, first = got
    t_codes, t_first = twin.factorize_int64(ids)
    np.testing.assert_array_equal(codes, t_codes)
    np.testing.assert_array_equal(first, t_first)
    assert codes.dtype == np.intp and first.dtype == np.intp


def test_factorize_declines_wide_or_empty_ids():
    assert _grouping.factorize_int64(np.array([0, 2**40], dtype=np.int64)) is None
    assert _grouping.factorize_int64(np.array([-(2**63), 2**63 - 1], dtype=np.int64)) is None  # no overflow
    assert _grouping.factorize_int64(np.empty(0, dtype=np.int64)) is None
    with pytest.raises(TypeError):
        _grouping.factorize_int64(np.arange(3, dtype=np.int32))


@pytest.mark.parametrize("ids", [np.repeat([7, -2, 5], [2, 3, 1]), np.array([3, 3, 2**40, 3]),
                                 pd.Series([4, 1, 4, 9], name="firm"), np.array(["a", "b", "a"]),
                                 pd.Series([1.0, 2.0, 1.0])])
def test_unit_codes_equal_the_hashing_route(ids):
    codes, labels, first = _unit_codes("unit", ids)
    c0, l0 = _codes("unit", ids)
    np.testing.assert_array_equal(codes, c0)
    pd.testing.assert_index_equal(labels, l0)
    np.testing.assert_array_equal(first, np.unique(c0, return_index=True)[1])


def test_first_varying_matches_twin():
    rng = np.random.default_rng(2)
    codes = np.repeat(np.arange(40), 5).astype(np.intp)
    per_unit = rng.standard_normal(40)
    per_unit[3] = np.nan
    values = per_unit[codes].copy()
    assert _grouping.first_varying(values, codes, per_unit) == twin.first_varying(values, codes, per_unit) == -1
    for row in (199, 12, 0):  # (unit 3, rows 15-19, is NaN: NaN + 1 stays NaN)
        bad = values.copy()
        bad[row] += 1.0
        bad[150] = np.nan  # NaN against a number varies too
        expected = twin.first_varying(bad, codes, per_unit)
        assert _grouping.first_varying(bad, codes, per_unit) == expected == min(row, 150)
    wrong = codes.copy()
    wrong[0] = 40
    with pytest.raises(ValueError, match="outside"):
        _grouping.first_varying(values, wrong, per_unit)


def test_draw_counts_matches_twin():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 12, 400).astype(np.intp)
    y = rng.standard_normal(400)
    y[rng.random(400) < 0.2] = np.nan
    y[codes == 5] = np.nan  # a unit left without draws
    got = _grouping.draw_counts(y, codes, 13)  # and a unit without rows at all
    expected = twin.draw_counts(y, codes, 13)
    np.testing.assert_array_equal(got[0], expected[0])
    assert got[1:] == expected[1:] and got[2] == -1 and got[0][5] == 0 and got[0][12] == 0
    y[[250, 40]] = [np.inf, -np.inf]
    assert _grouping.draw_counts(y, codes, 13)[2] == twin.draw_counts(y, codes, 13)[2] == 40
    with pytest.raises(ValueError, match="outside"):
        _grouping.draw_counts(y, codes, 3)


def _arrow_layout(strings):
    import pyarrow as pa

    arr = pa.array(strings, type=pa.large_string())
    _, off, data = arr.buffers()
    offsets = np.frombuffer(off, dtype=np.int64)[: len(strings) + 1].copy()
    data = np.frombuffer(data, dtype=np.uint8).copy() if data is not None else np.empty(0, dtype=np.uint8)
    return offsets, data


@pytest.mark.parametrize("strings", [["a", "a", "bb", "bb", "a", "", "", "é", "é", "ab"], ["x"], [],
                                     ["", "", ""], ["ab", "a", "b", "ab"]])
def test_string_run_starts_match_twin(strings):
    offsets, data = _arrow_layout(strings)
    got = _grouping.string_run_starts(offsets, data, 100)
    np.testing.assert_array_equal(got, twin.string_run_starts(strings, 100))


def test_string_runs_give_up_and_check_offsets():
    strings = ["a", "b", "a", "b", "a"]
    offsets, data = _arrow_layout(strings)
    assert _grouping.string_run_starts(offsets, data, 4) is None
    assert twin.string_run_starts(strings, 4) is None
    assert len(_grouping.string_run_starts(offsets, data, 5)) == 5
    bad = offsets.copy()
    bad[3] = 100
    with pytest.raises(ValueError, match="offsets"):
        _grouping.string_run_starts(bad, data, 10)


@pytest.mark.parametrize("layout", ["grouped", "sliced", "shuffled", "index"])
def test_string_ids_grouped_by_runs_equal_the_hashing_route(layout):
    rng = np.random.default_rng(9)
    labels = np.array([f"firm-{k}" for k in rng.permutation(30)] + ["", "ü"])
    ids = pd.Series(np.repeat(labels, rng.integers(1, 12, labels.size)), name="firm")
    assert ids.dtype == "str"
    if layout == "sliced":
        ids = ids.iloc[5:]
    elif layout == "shuffled":
        ids = ids.sample(frac=1.0, random_state=1)
    elif layout == "index":
        ids = pd.Index(ids)
    codes, labels_got, first = _unit_codes("unit", ids)
    c0, l0 = _codes("unit", ids)
    np.testing.assert_array_equal(codes, c0)
    pd.testing.assert_index_equal(labels_got, l0)
    np.testing.assert_array_equal(first, np.unique(c0, return_index=True)[1])


def test_missing_string_id_is_still_an_error():
    ids = pd.Series(["a", "a", None, "b"], dtype="str")
    with pytest.raises(ValueError, match="missing"):
        _unit_codes("unit", ids)
