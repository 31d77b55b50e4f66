"""Monotone rearrangement (sorting) and isotonic projection (PAVA) over the grid."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _refdata import load_ref

from r3d._ext import _isotonic
from r3d._ext import isotonic_numpy as twin
from r3d.monotone import isotonic, rearrange

# PAVA output values are block means: kernel (sum / size) and scipy (running weighted
# means) differ only by the rounding of those means (measured 2.6e-14).
PAVA_RTOL = 1e-12
PAVA_ATOL = 1e-12
# R's reference prints 15 significant digits of exact block means <= 6: rounding <= 3e-15
# (measured: equal).
R_ATOL = 1e-13


def _rows(rng: np.random.Generator) -> np.ndarray:
    """Random walks, noise, monotone, decreasing, constant and tied rows, m = 37."""
    m = 37
    rows = [
        np.cumsum(rng.normal(size=m)),
        rng.normal(size=m),
        np.sort(rng.normal(size=m)),
        -np.sort(rng.normal(size=m)),
        np.full(m, 2.5),
        np.round(rng.normal(size=m), 0),
        np.linspace(0, 1, m) + 0.3 * rng.normal(size=m),
        1e6 + np.cumsum(rng.normal(size=m)) * 1e-3,
    ]
    rows += list(np.linspace(0, 1, m) + rng.normal(scale=0.2, size=(40, m)))
    return np.array(rows)


def test_isotonic_matches_scipy_rowwise_and_per_row():
    rng = np.random.default_rng(1)
    y = _rows(rng)
    want = twin.isotonic_rows(y)
    got = isotonic(y, n_jobs=2)
    np.testing.assert_allclose(got, want, rtol=PAVA_RTOL, atol=PAVA_ATOL)
    per_row = np.array([isotonic(row) for row in y])
    np.testing.assert_array_equal(got, per_row)
    assert np.all(np.diff(got, axis=1) >= 0)


def test_isotonic_properties():
    """Monotone input is a fixed point; block means preserve each row's sum; idempotent."""
    rng = np.random.default_rng(2)
    y = _rows(rng)
    got = isotonic(y)
    mono = np.sort(y, axis=1)
    np.testing.assert_array_equal(isotonic(mono), mono)
    np.testing.assert_allclose(got.sum(axis=1), y.sum(axis=1), rtol=PAVA_RTOL)  # no row sums to 0
    np.testing.assert_array_equal(isotonic(got), got)
    dec = -np.sort(rng.normal(size=11))
    np.testing.assert_allclose(isotonic(dec), np.full(11, dec.mean()), rtol=PAVA_RTOL, atol=PAVA_ATOL)


def test_isotonic_shapes_and_small_cases():
    assert isotonic([3.0]).tolist() == [3.0]
    assert isotonic(np.array([[1.0], [-2.0]])).tolist() == [[1.0], [-2.0]]
    np.testing.assert_array_equal(isotonic([2.0, 1.0]), [1.5, 1.5])
    out = isotonic(np.empty((0, 5)))
    assert out.shape == (0, 5)
    x = np.array([1.0, 3.0, 2.0])
    r = isotonic(x)
    assert r.dtype == np.float64 and r is not x
    np.testing.assert_array_equal(x, [1.0, 3.0, 2.0])  # input untouched


def test_isotonic_threads_bitwise_identical():
    rng = np.random.default_rng(3)
    y = np.cumsum(rng.normal(size=(3000, 99)), axis=1)
    a = isotonic(y, n_jobs=1)
    b = isotonic(y, n_jobs=2)
    assert np.array_equal(a, b)
    np.testing.assert_allclose(a, twin.isotonic_rows(y), rtol=PAVA_RTOL, atol=PAVA_ATOL)


def test_isotonic_non_contiguous_input():
    rng = np.random.default_rng(4)
    y = rng.normal(size=(20, 30))
    np.testing.assert_array_equal(isotonic(y.T), isotonic(np.ascontiguousarray(y.T)))
    np.testing.assert_array_equal(isotonic(y[:, ::2]), isotonic(y[:, ::2].copy()))


def test_isotonic_matches_r_reference():
    ref = load_ref("ref_isotonic")
    cases = ref["case"].unique()
    assert len(cases) >= 4
    for case in cases:
        sub = ref[ref["case"] == case].sort_values("idx")
        got = isotonic(sub["input"].to_numpy())
        np.testing.assert_allclose(got, sub["output"].to_numpy(), rtol=0, atol=R_ATOL)


def test_rearrange_sorts_last_axis():
    rng = np.random.default_rng(5)
    y = rng.normal(size=(6, 9))
    got = rearrange(y)
    np.testing.assert_array_equal(got, np.sort(y, axis=1))
    mono = np.sort(y[0])
    out = rearrange(mono)
    np.testing.assert_array_equal(out, mono)
    assert out is not mono
    np.testing.assert_array_equal(rearrange([3, 1, 2]), [1.0, 2.0, 3.0])
    assert rearrange([3, 1, 2]).dtype == np.float64


def test_rearrange_differs_from_isotonic():
    """Sorting keeps the values; the projection pools them."""
    y = np.array([0.0, 2.0, 1.0, 3.0])
    np.testing.assert_array_equal(rearrange(y), [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(isotonic(y), [0.0, 1.5, 1.5, 3.0])


@pytest.mark.parametrize("func", [rearrange, isotonic])
def test_validation(func):
    with pytest.raises(ValueError, match="`curve`"):
        func(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="`curve` must be finite"):
        func([1.0, np.nan])
    with pytest.raises(TypeError, match="`curve`"):
        func(["a", "b"])


def test_isotonic_n_jobs_validation_and_kernel_checks():
    with pytest.raises(ValueError, match="`n_jobs`"):
        isotonic([1.0, 2.0], n_jobs=0)
    with pytest.raises(TypeError, match="C-contiguous 2-D float64"):
        _isotonic.isotonic_rows(np.zeros(3))
