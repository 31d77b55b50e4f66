"""Unit quantile matrix: numpy's nine methods, weighted rules, R reference numbers."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _refdata import load_long, load_ref, ref_quantile_grid

from r3d._ext import _quantiles
from r3d._ext import quantiles_numpy as twin
from r3d.quantiles import (
    QUANTILE_METHODS,
    WEIGHTED_METHODS,
    quantile_grid,
    unit_quantiles,
)

# The kernel repeats numpy's arithmetic operation by operation: equal to rounding (measured:
# bit for bit, every method, and the twin likewise); room for a reordered evaluation.
NUMPY_RTOL = 1e-14
NUMPY_ATOL = 1e-14
# Weighted "linear": the kernel interpolates as numpy's _lerp, the twin as Hmisc's
# (1 - frac) a + frac b; algebraically equal, a few ulps apart (measured 7.5e-15 absolute).
HMISC_RTOL = 1e-12
HMISC_ATOL = 1e-13
# R reference CSVs store 15 significant digits; R's type 7 differs from numpy's by rounding
# (measured 5.2e-14 on values <= 16).
R_ATOL = 1e-12

LEVELS = np.concatenate([np.arange(1, 100) / 100, [1 / 3, 2 / 3, 1e-9, 1 - 1e-9, 0.125, 0.875]])
LEVELS.sort()


def _long_sample(rng: np.random.Generator, n_units: int = 120, ties: bool = True):
    """Unequal draws per unit (incl. 1 and 2), shuffled rows, optional ties."""
    sizes = rng.integers(1, 30, n_units)
    sizes[:6] = [1, 2, 1, 2, 3, 4]
    codes = np.repeat(np.arange(n_units), sizes)
    y = rng.normal(size=codes.size) * rng.uniform(0.5, 3.0, n_units)[codes]
    if ties:
        y = np.round(y, 1)
    perm = rng.permutation(codes.size)
    return y[perm].copy(), codes[perm].copy()


def _per_unit(y, codes, n_units, levels, **kw):
    return np.array([np.quantile(y[codes == i], levels, **kw) for i in range(n_units)])


# --------------------------------------------------------------------------- grid


def test_quantile_grid_default_int_and_array():
    np.testing.assert_array_equal(quantile_grid(), np.arange(1, 100) / 100)
    np.testing.assert_array_equal(quantile_grid(4), np.array([0.2, 0.4, 0.6, 0.8]))
    np.testing.assert_array_equal(quantile_grid(1), np.array([0.5]))
    src = [0.1, 0.5, 0.9]
    out = quantile_grid(src)
    assert out.dtype == np.float64 and out.ndim == 1
    arr = np.array(src)
    assert quantile_grid(arr) is not arr


@pytest.mark.parametrize(
    "bad",
    [[0.5, 0.2], [0.2, 0.2], [0.0, 0.5], [0.5, 1.0], [np.nan], [], [[0.1, 0.2]], [0.1, np.inf], 0, -3],
)
def test_quantile_grid_rejects(bad):
    with pytest.raises(ValueError, match="`quantiles` must be"):
        quantile_grid(bad)


def test_quantile_grid_type_errors():
    for bad in (True, "median", {"a": 1}):
        with pytest.raises(TypeError, match="`quantiles`"):
            quantile_grid(bad)


def test_quantile_grid_message_says_how_to_fix():
    with pytest.raises(ValueError, match=r"strictly increasing levels in \(0, 1\).*Sort them"):
        quantile_grid([0.9, 0.1])


# --------------------------------------------------------------------------- unweighted


@pytest.mark.parametrize("method", QUANTILE_METHODS)
def test_matches_numpy_every_method(method):
    rng = np.random.default_rng(11)
    for ties in (True, False):
        y, codes = _long_sample(rng, ties=ties)
        got = unit_quantiles(y, codes, 120, LEVELS, method=method, n_jobs=2)
        want = _per_unit(y, codes, 120, LEVELS, method=method)
        np.testing.assert_allclose(got, want, rtol=NUMPY_RTOL, atol=NUMPY_ATOL)


@pytest.mark.parametrize("method", QUANTILE_METHODS)
def test_exact_boundary_levels(method):
    """Levels that hit order statistics exactly exercise the discrete rounding rules."""
    rng = np.random.default_rng(5)
    levels = np.arange(1, 24) / 24  # n * q integer for n in {1, 2, 3, 4, 6, 8, 12, 24}
    sizes = np.array([1, 2, 3, 4, 6, 8, 12, 24, 5, 7])
    codes = np.repeat(np.arange(sizes.size), sizes)
    y = rng.normal(size=codes.size)
    got = unit_quantiles(y, codes, sizes.size, levels, method=method, n_jobs=1)
    want = _per_unit(y, codes, sizes.size, levels, method=method)
    np.testing.assert_allclose(got, want, rtol=NUMPY_RTOL, atol=NUMPY_ATOL)


def test_kernel_equals_twin_and_codes_dtype():
    rng = np.random.default_rng(3)
    y, codes = _long_sample(rng)
    for dtype in (np.int32, np.int64, np.uint16):
        got = unit_quantiles(y, codes.astype(dtype), 120, None)
        want = twin.unit_quantiles(y, codes, 120, quantile_grid())
        np.testing.assert_allclose(got, want, rtol=NUMPY_RTOL, atol=NUMPY_ATOL)


def test_constant_unit_and_single_draw():
    y = np.array([2.0, 2.0, 2.0, 7.5])
    codes = np.array([0, 0, 0, 1])
    got = unit_quantiles(y, codes, 2, [0.1, 0.5, 0.9])
    np.testing.assert_array_equal(got, [[2.0, 2.0, 2.0], [7.5, 7.5, 7.5]])


@pytest.mark.parametrize("method", ["linear", "hazen"])
def test_threads_bitwise_identical(method):
    rng = np.random.default_rng(8)
    y, codes = _long_sample(rng, n_units=800, ties=False)
    a = unit_quantiles(y, codes, 800, LEVELS, method=method, n_jobs=1)
    b = unit_quantiles(y, codes, 800, LEVELS, method=method, n_jobs=2)
    assert np.array_equal(a, b)
    w = rng.uniform(0.1, 3.0, y.size)
    for wm in WEIGHTED_METHODS:
        a = unit_quantiles(y, codes, 800, LEVELS, method=wm, weights=w, n_jobs=1)
        b = unit_quantiles(y, codes, 800, LEVELS, method=wm, weights=w, n_jobs=2)
        assert np.array_equal(a, b)


def test_inputs_unchanged():
    rng = np.random.default_rng(4)
    y, codes = _long_sample(rng)
    w = rng.uniform(0.5, 2.0, y.size)
    y0, c0, w0 = y.copy(), codes.copy(), w.copy()
    levels = np.array([0.1, 0.5, 0.9])
    l0 = levels.copy()
    unit_quantiles(y, codes, 120, levels)
    unit_quantiles(y, codes, 120, levels, method="linear", weights=w)
    unit_quantiles(y, codes, 120, levels, method="inverted_cdf", weights=w)
    for now, before in ((y, y0), (codes, c0), (w, w0), (levels, l0)):
        np.testing.assert_array_equal(now, before)


def test_row_order_irrelevant():
    rng = np.random.default_rng(9)
    y, codes = _long_sample(rng)
    order = np.argsort(codes, kind="stable")
    a = unit_quantiles(y, codes, 120, LEVELS)
    b = unit_quantiles(y[order], codes[order], 120, LEVELS)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("method", QUANTILE_METHODS)
def test_grouped_rows_take_the_scratch_route_with_the_same_bits(method):
    """Rows grouped by unit (codes never decrease) are sorted unit by unit in a scratch buffer
    instead of after a counting sort of all rows: the same values reach each sort in the same
    order (signed zeros included), so every bit agrees, weighted or not."""
    rng = np.random.default_rng(12)
    y, codes = _long_sample(rng)
    y[rng.random(y.size) < 0.05] = 0.0
    y[rng.random(y.size) < 0.05] = -0.0
    w = rng.uniform(0.1, 3.0, y.size)
    order = np.argsort(codes, kind="stable")
    grouped = (y[order], codes[order], w[order])
    shuffled_then_grouped = unit_quantiles(y, codes, 120, LEVELS, method=method)
    got = unit_quantiles(grouped[0], grouped[1], 120, LEVELS, method=method)
    assert np.array_equal(got, shuffled_then_grouped)
    assert np.array_equal(np.signbit(got), np.signbit(shuffled_then_grouped))
    if method in WEIGHTED_METHODS:
        a = unit_quantiles(y, codes, 120, LEVELS, method=method, weights=w)
        b = unit_quantiles(*grouped[:2], 120, LEVELS, method=method, weights=grouped[2])
        assert np.array_equal(a, b) and np.array_equal(np.signbit(a), np.signbit(b))


# --------------------------------------------------------------------------- weighted


@pytest.mark.parametrize("method", WEIGHTED_METHODS)
def test_weighted_pairs_sorted_by_argsort_give_the_same_bits(method, monkeypatch):
    """Units of ARGSORT_MIN_DRAWS weighted draws or more sort their pairs through numpy's argsort
    of the values and a sort of tied values by weight; pairs whose order std::sort leaves open
    (0.0 and -0.0 with equal weights) fall back to sorting the pairs. Same bits either way."""
    rng = np.random.default_rng(21)
    sizes = rng.integers(1, 90, 60)
    codes = np.repeat(np.arange(60), sizes)
    y = np.round(rng.normal(size=codes.size), 1)  # ties, and -0.0 next to 0.0
    y[rng.random(y.size) < 0.05] = -0.0
    w = np.round(rng.uniform(0.5, 3.0, codes.size))  # tied weights
    w[codes % 3 == 0] = rng.uniform(0.5, 3.0, int(np.sum(codes % 3 == 0)))
    monkeypatch.setattr(_quantiles, "ARGSORT_MIN_DRAWS", 10**9)
    expected = unit_quantiles(y, codes, 60, LEVELS, method=method, weights=w)
    monkeypatch.setattr(_quantiles, "ARGSORT_MIN_DRAWS", 1)
    got = unit_quantiles(y, codes, 60, LEVELS, method=method, weights=w)
    assert np.array_equal(got, expected) and np.array_equal(np.signbit(got), np.signbit(expected))


def test_weighted_inverted_cdf_matches_numpy():
    rng = np.random.default_rng(21)
    y, codes = _long_sample(rng, ties=False)
    w = rng.uniform(0.05, 4.0, y.size)
    got = unit_quantiles(y, codes, 120, LEVELS, method="inverted_cdf", weights=w)
    want = np.array(
        [np.quantile(y[codes == i], LEVELS, weights=w[codes == i], method="inverted_cdf") for i in range(120)]
    )
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("value", [1.0, 0.1, 3.7, 1e-7, 123456.789])
def test_weighted_linear_equal_weights_is_type7(value):
    """Equal weights reproduce type 7 exactly, even when rescaled cumsums round below k."""
    rng = np.random.default_rng(2)
    y, codes = _long_sample(rng)
    w = np.full(y.size, value)
    got = unit_quantiles(y, codes, 120, LEVELS, method="linear", weights=w)
    want = _per_unit(y, codes, 120, LEVELS, method="linear")
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(twin.unit_quantiles(y, codes, 120, LEVELS, "linear", w), want,
                               rtol=HMISC_RTOL, atol=HMISC_ATOL)


def test_weighted_linear_naive_cumsum_would_fail():
    """The slack matters: 6 weights 0.3 rescale to 0.9999999999999999, so C_k < k."""
    w = np.full(6, 0.3)
    r = w * 6 / w.sum()
    assert np.all(np.cumsum(r) < np.arange(1, 7))  # an exact ">= k" would pick x_(k+1)
    y = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    got = unit_quantiles(y, np.zeros(6, int), 1, [0.2, 0.4, 0.6], method="linear", weights=w)
    np.testing.assert_array_equal(got[0], [2.0, 4.0, 8.0])  # h = 2, 3, 4: order statistics


def test_weighted_linear_matches_twin_random_weights():
    rng = np.random.default_rng(17)
    y, codes = _long_sample(rng)
    w = rng.exponential(size=y.size) + 0.01
    got = unit_quantiles(y, codes, 120, LEVELS, method="linear", weights=w)
    want = twin.unit_quantiles(y, codes, 120, LEVELS, "linear", w)
    np.testing.assert_allclose(got, want, rtol=HMISC_RTOL, atol=HMISC_ATOL)


def test_weighted_linear_hand_computed():
    """x = (1, 2, 3, 10), w = (1, 1, 1, 5) -> rescaled (.5, .5, .5, 2.5), C = (.5, 1, 1.5, 4)."""
    y = np.array([10.0, 1.0, 3.0, 2.0])
    w = np.array([5.0, 1.0, 1.0, 1.0])
    # q = .5: h = 2.5, Q(2) = 10 (first C >= 2 is 4), Q(3) = 10 -> 10
    # q = .2: h = 1.6, Q(1) = 2 (C = 1 at x = 2), Q(2) = 10 -> .4*2 + .6*10 = 6.8
    # q = .1: h = 1.3, Q(1) = 2, Q(2) = 10 -> .7*2 + .3*10 = 4.4
    got = unit_quantiles(y, np.zeros(4, int), 1, [0.1, 0.2, 0.5], method="linear", weights=w)
    np.testing.assert_allclose(got[0], [4.4, 6.8, 10.0], rtol=HMISC_RTOL, atol=HMISC_ATOL)


def test_weighted_linear_merges_ties():
    """Tied values with split weights give the same answer as one merged value."""
    levels = quantile_grid(19)
    y_split = np.array([1.0, 2.0, 2.0, 5.0])
    w_split = np.array([1.0, 0.5, 1.5, 1.0])
    a = twin.hmisc_wtd_quantile(y_split, w_split, levels)
    b = unit_quantiles(y_split, np.zeros(4, int), 1, levels, method="linear", weights=w_split)[0]
    np.testing.assert_allclose(b, a, rtol=HMISC_RTOL, atol=HMISC_ATOL)


@pytest.mark.parametrize("method", sorted(set(QUANTILE_METHODS) - set(WEIGHTED_METHODS)))
def test_weights_with_other_method_rejected(method):
    with pytest.raises(ValueError, match=r"`quantile_method`.*'linear' or 'inverted_cdf'"):
        unit_quantiles([1.0, 2.0], [0, 0], 1, None, method=method, weights=[1.0, 1.0])


# --------------------------------------------------------------------------- validation


def test_validation_messages():
    y = np.array([1.0, 2.0, 3.0])
    codes = np.array([0, 0, 1])
    with pytest.raises(ValueError, match="`quantile_method`"):
        unit_quantiles(y, codes, 2, None, method="type7")
    with pytest.raises(ValueError, match="`y` must be finite"):
        unit_quantiles([1.0, np.nan, 3.0], codes, 2, None)
    with pytest.raises(ValueError, match="`weights` must be finite and > 0"):
        unit_quantiles(y, codes, 2, None, weights=[1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="outside \\[0, 2\\)"):
        unit_quantiles(y, np.array([0, 2, 1]), 2, None)
    with pytest.raises(ValueError, match="no draws"):
        unit_quantiles(y, codes, 3, None)
    with pytest.raises(TypeError, match="`codes`"):
        unit_quantiles(y, np.array([0.0, 0.0, 1.0]), 2, None)
    with pytest.raises(ValueError, match="`n_jobs`"):
        unit_quantiles(y, codes, 2, None, n_jobs=0)


def test_kernel_def_checks_dtypes():
    y = np.array([1.0, 2.0])
    lev = np.array([0.5])
    with pytest.raises(TypeError, match="`codes`"):
        _quantiles.unit_quantiles(y, np.array([0, 0], dtype=np.int32), 1, lev, "linear")
    with pytest.raises(ValueError, match="weighted quantiles"):
        _quantiles.unit_quantiles(y, np.zeros(2, np.int64), 1, lev, "hazen", np.ones(2))


# --------------------------------------------------------------------------- R reference

# long file -> [(ref_data file, grid)] (tests/reference/README_upstream.md)
DECILES = np.array([0.10, 0.25, 0.50, 0.75, 0.90])
R_CASES = [
    ("ref_long_sharp", "ref_data_sharp_simple_20", ref_quantile_grid(20)),
    ("ref_long_sharp", "ref_data_sharp_simple_99", ref_quantile_grid(99)),
    ("ref_long_sharp", "ref_data_large_nq", ref_quantile_grid(200)),
    ("ref_long_fuzzy", "ref_data_fuzzy_simple_20", ref_quantile_grid(20)),
    ("ref_long_small", "ref_data_small_sample", ref_quantile_grid(5)),
    ("ref_long_dgp1", "ref_data_dgp1", DECILES),
    ("ref_long_dgp2", "ref_data_dgp2", DECILES),
]


@pytest.mark.parametrize(("long_name", "ref_name", "levels"), R_CASES, ids=[c[1] for c in R_CASES])
def test_type7_matches_r_reference(long_name, ref_name, levels):
    draws = load_long(long_name)
    ref = load_ref(ref_name)
    qcols = [c for c in ref.columns if c.startswith("Q")]
    assert len(qcols) == levels.size
    codes = draws["unit"].to_numpy() - 1  # units 1..n in the row order of ref_data_*
    n_units = int(codes.max()) + 1
    assert n_units == len(ref)
    got = unit_quantiles(draws["y"].to_numpy(), codes, n_units, levels)
    np.testing.assert_allclose(got, ref[qcols].to_numpy(), rtol=0, atol=R_ATOL)
    x_unit = draws.groupby("unit")["x"].first().to_numpy()
    np.testing.assert_allclose(x_unit, ref["X"].to_numpy(), rtol=0, atol=R_ATOL)
    if "T_treat" in ref:
        np.testing.assert_array_equal(draws.groupby("unit")["t"].first().to_numpy(), ref["T_treat"].to_numpy())


def test_ref_quantiles_csv():
    """R's quantile() (type 7) of three vectors (n = 5, 50, 500) on grids .5 / (.1,.5,.9) / .01..99."""
    ref = load_ref("ref_quantiles")
    checked = 0
    for case in (1, 2, 3):
        y = load_ref(f"ref_quantile_y_{case}")["y"].to_numpy()
        for _, sub in ref[ref["case"] == case].groupby("grid"):
            got = unit_quantiles(y, np.zeros(y.size, dtype=np.int64), 1, sub["q"].to_numpy())
            np.testing.assert_allclose(got[0], sub["value"].to_numpy(), rtol=0, atol=R_ATOL)
            checked += len(sub)
    assert checked == len(ref) == 3 * (1 + 3 + 99)


def _hmisc_exact(y, k, q):
    """Hmisc's rule in rational arithmetic (weights proportional to the integers ``k``)."""
    from fractions import Fraction

    order = np.argsort(y, kind="stable")
    y, k = y[order], k[order]
    n = len(y)
    total = int(k.sum())
    cum, c = [], Fraction(0)
    for ki in k:
        c += Fraction(int(ki) * n, total)
        cum.append(c)

    def first(t):
        return next((y[i] for i, ci in enumerate(cum) if ci >= t), y[-1])

    h = 1 + (n - 1) * Fraction(float(q))
    lo = max(int(h), 1)
    hi = min(lo + 1, n)
    frac = h - int(h)
    return float((1 - frac) * Fraction(first(lo)) + frac * Fraction(first(hi)))


@pytest.mark.parametrize("scale", [1.0, 0.1, 0.3, 0.7, 1.1, 1 / 3, 2.9])
def test_weighted_linear_exact_when_cumulative_weights_hit_integers(scale):
    """Weights scale * (integers): rescaled cumulative weights hit integers exactly in
    exact arithmetic; in floating point they may land an ulp below. The kernel must give
    the exact rule's answer (this is what the 1e-12 slack is for)."""
    rng = np.random.default_rng(31)
    levels = quantile_grid(19)
    n_units, size = 40, 12
    codes = np.repeat(np.arange(n_units), size)
    y = rng.permutation(codes.size).astype(float)  # distinct values, far apart
    k = rng.integers(1, 4, codes.size)
    got = unit_quantiles(y, codes, n_units, levels, method="linear", weights=scale * k)
    want = np.array(
        [[_hmisc_exact(y[codes == i], k[codes == i], q) for q in levels] for i in range(n_units)]
    )
    np.testing.assert_allclose(got, want, rtol=HMISC_RTOL, atol=HMISC_ATOL)


# --------------------------------------------------------------------------- weights of any size


@pytest.mark.parametrize("method", WEIGHTED_METHODS)
@pytest.mark.parametrize("value", [1e307, 1.7e308, 0.1, 3.7, 1e-300, 5e-324])
def test_equal_weights_of_any_size_are_weights_of_one(method, value):
    """Issue 13: weights of 1e307 summed to inf per unit and collapsed the quantiles. Equal weights
    become exactly 1 before anything is summed (kernel and twin): "linear" gives type 7 bit for bit;
    "inverted_cdf" gives numpy's weighted inverted_cdf with unit weights, which differs from numpy's
    unweighted one only where n q rounds across an integer (numpy's own two branches disagree there,
    e.g. n = 25, q = 0.56)."""
    rng = np.random.default_rng(4)
    y, codes = _long_sample(rng)
    w = np.full(y.size, value)
    got = unit_quantiles(y, codes, 120, LEVELS, method=method, weights=w)
    np.testing.assert_array_equal(got, unit_quantiles(y, codes, 120, LEVELS, method=method,
                                                      weights=np.ones(y.size)))
    np.testing.assert_allclose(twin.unit_quantiles(y, codes, 120, LEVELS, method, w), got,
                               rtol=HMISC_RTOL, atol=HMISC_ATOL)
    if method == "linear":
        np.testing.assert_array_equal(got, _per_unit(y, codes, 120, LEVELS, method="linear"))


@pytest.mark.parametrize("method", WEIGHTED_METHODS)
@pytest.mark.parametrize("e", [-1000, -500, 500, 1000])
def test_unequal_weights_are_invariant_to_powers_of_two(method, e):
    """Unequal weights are divided by a power of two (exact): weights times 2^e, however large or
    small, give the same bits as the weights themselves (no per-unit sum overflows), kernel and twin."""
    rng = np.random.default_rng(9)
    y, codes = _long_sample(rng)
    w = rng.uniform(0.05, 4.0, y.size)
    scaled = np.ldexp(w, e)
    base = unit_quantiles(y, codes, 120, LEVELS, method=method, weights=w)
    np.testing.assert_array_equal(unit_quantiles(y, codes, 120, LEVELS, method=method, weights=scaled), base)
    np.testing.assert_array_equal(twin.unit_quantiles(y, codes, 120, LEVELS, method, scaled),
                                  twin.unit_quantiles(y, codes, 120, LEVELS, method, w))


def test_huge_unequal_weights_are_not_collapsed():
    """Weights 1e307 to 1.3e308 in one unit: the sums overflowed and every level gave one draw."""
    y = np.array([1.0, 2.0, 3.0, 4.0])
    w = np.array([1e307, 1e308, 1.3e308, 2e307])  # no level lands on a cumulative weight
    for method in WEIGHTED_METHODS:
        got = unit_quantiles(y, np.zeros(4, int), 1, [0.1, 0.5, 0.9], method=method, weights=w)
        want = unit_quantiles(y, np.zeros(4, int), 1, [0.1, 0.5, 0.9], method=method, weights=w / 1e307)
        np.testing.assert_allclose(got, want, rtol=HMISC_RTOL, atol=HMISC_ATOL)
        assert got[0, 0] < got[0, 2]


def test_fit_with_huge_equal_weights_is_the_unweighted_fit():
    """The whole fit: weights all 1e307 (per-unit sums overflow without the rescaling) give the
    numbers of the unweighted fit bit for bit."""
    import warnings

    import r3d

    rng = np.random.default_rng(12)
    n = 80
    x = rng.uniform(-1, 1, n)
    unit = np.repeat(np.arange(n), 25)
    y = x[unit] + 0.5 * (x[unit] >= 0) + rng.normal(size=unit.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        base = r3d.R3D(y, x[unit], unit).fit(n_boot=0, quantiles=9)
        res = r3d.R3D(y, x[unit], unit, weights=np.full(unit.size, 1e307)).fit(n_boot=0, quantiles=9)
    np.testing.assert_array_equal(res.params, base.params)
    np.testing.assert_array_equal(res.bse, base.bse)
