# distutils: language = c++
"""Per-unit quantiles of long-format draws (compiled kernel).

One O(N) pass groups the draws by unit (a counting sort of the unit codes into a
private buffer, stable within a unit; rows that already come grouped by unit are copied
unit by unit into a scratch buffer instead), then a loop over units sorts each unit's slice
(numpy's own float64 sort, vectorised on AVX2/AVX-512 CPUs; ``std::sort`` on
value-weight pairs when weighted) and evaluates every level. It runs on one thread:
sorting the units in parallel saved at most 6 % of any reference job
(``benchmarks/results/threads.md``).

Unweighted methods reproduce ``numpy.quantile`` operation by operation (numpy 2.x,
``numpy/lib/_function_base_impl.py``: ``_QuantileMethods``, ``_compute_virtual_index``,
``_get_indexes``, ``_lerp`` and the discrete rounding rules). Weighted
``inverted_cdf`` reproduces numpy's weighted branch; weighted ``linear`` is Hmisc's
``wtd.quantile(type="quantile", normwt=TRUE)`` (see :func:`_weighted_linear_row`).

The NumPy twin is ``r3d/_ext/quantiles_numpy.py`` (tests only).
"""

import numpy as np

cimport numpy as cnp
from libc.math cimport floor, fmod, frexp, ldexp, signbit
from libc.string cimport memcpy
from libc.stdint cimport int64_t
from libcpp.pair cimport pair
from libcpp.vector cimport vector

from r3d._ext._checks cimport first_nonfinite

cnp.import_array()


cdef extern from "<algorithm>" namespace "std" nogil:
    void std_sort "std::sort"[Iter](Iter first, Iter last) noexcept

cdef extern from *:
    """
    /* numpy's own float64 sort (``np.sort``'s quicksort slot): it dispatches to the
       vectorised x86-simd-sort where the CPU has AVX2/AVX-512, several times faster than
       std::sort. It is plain C on a buffer (numpy runs it without the GIL) and ignores its
       third argument for float64. */
    typedef int (*r3d_sort_fn)(void *, npy_intp, void *);
    static r3d_sort_fn r3d_numpy_double_sort(void) {
        PyArray_Descr *d = PyArray_DescrFromType(NPY_DOUBLE);
        r3d_sort_fn f = (r3d_sort_fn) PyDataType_GetArrFuncs(d)->sort[NPY_QUICKSORT];
        Py_DECREF(d);
        return f;
    }
    """
    ctypedef int (*r3d_sort_fn)(void*, cnp.npy_intp, void*) noexcept nogil
    r3d_sort_fn r3d_numpy_double_sort()


cdef extern from *:
    """
    /* numpy's float64 argsort (``np.argsort``'s quicksort slot; vectorised on AVX-512 CPUs):
       it permutes ``tosort`` and only reads the values. */
    typedef int (*r3d_argsort_fn)(void *, npy_intp *, npy_intp, void *);
    static r3d_argsort_fn r3d_numpy_double_argsort(void) {
        PyArray_Descr *d = PyArray_DescrFromType(NPY_DOUBLE);
        r3d_argsort_fn f = (r3d_argsort_fn) PyDataType_GetArrFuncs(d)->argsort[NPY_QUICKSORT];
        Py_DECREF(d);
        return f;
    }
    """
    ctypedef int (*r3d_argsort_fn)(void*, cnp.npy_intp*, cnp.npy_intp, void*) noexcept nogil
    r3d_argsort_fn r3d_numpy_double_argsort()

#: Units with at least this many weighted draws sort their (value, weight) pairs through numpy's
#: vectorised argsort of the values (:func:`_argsorted_pairs`); smaller ones by std::sort of the
#: pairs. Measured (weighted linear, 20 levels, rows grouped, CPU s): 2e6 draws in units of 8 /
#: 16 / 32 / 64 / 128 draws 0.110 -> 0.119 / 0.088 -> 0.085 / 0.089 -> 0.070 / 0.084 -> 0.056 /
#: 0.088 -> 0.051; 5e6 draws in units of 500: 0.24 -> 0.14.
ARGSORT_MIN_DRAWS = 32


# Method codes: the position of the name in r3d.quantiles.QUANTILE_METHODS.
cdef enum:
    INVERTED_CDF = 0
    AVERAGED_INVERTED_CDF = 1
    CLOSEST_OBSERVATION = 2
    INTERPOLATED_INVERTED_CDF = 3
    HAZEN = 4
    WEIBULL = 5
    LINEAR = 6
    MEDIAN_UNBIASED = 7
    NORMAL_UNBIASED = 8

METHOD_CODES = {
    "inverted_cdf": INVERTED_CDF,
    "averaged_inverted_cdf": AVERAGED_INVERTED_CDF,
    "closest_observation": CLOSEST_OBSERVATION,
    "interpolated_inverted_cdf": INTERPOLATED_INVERTED_CDF,
    "hazen": HAZEN,
    "weibull": WEIBULL,
    "linear": LINEAR,
    "median_unbiased": MEDIAN_UNBIASED,
    "normal_unbiased": NORMAL_UNBIASED,
}

# Hyndman-Fan (alpha, beta) of numpy's continuous methods that use
# ``_compute_virtual_index``; "linear" and "averaged_inverted_cdf" have their own index.
_ALPHA_BETA = {
    INTERPOLATED_INVERTED_CDF: (0.0, 1.0),
    HAZEN: (0.5, 0.5),
    WEIBULL: (0.0, 0.0),
    MEDIAN_UNBIASED: (1 / 3.0, 1 / 3.0),
    NORMAL_UNBIASED: (3 / 8.0, 3 / 8.0),
}

# Hmisc compares cumulative weights with the target order statistic exactly; with
# equal weights the rescaled cumulative sum can land one rounding error below an
# integer (2.9999999999999996 < 3) and pick the next value. A relative slack of
# 1e-12 (cumulative sums here are compensated, error ~1e-16 relative) restores
# type 7 for equal weights and is far below any genuine gap between cumulative weights.
HMISC_CUMWEIGHT_RTOL = 1e-12

ctypedef pair[double, double] value_weight


cdef bint _argsorted_pairs(const double* v, const double* w, Py_ssize_t n, value_weight* p,
                           cnp.npy_intp* idx, r3d_argsort_fn argsort) noexcept nogil:
    """``p[0:n]`` = the pairs (v[i], w[i]) in increasing order of value, equal values in
    increasing order of weight: the order ``std::sort`` gives them, found by numpy's argsort of
    the values and a sort of each run of equal values by weight. Returns False (``p`` then holds
    no defined order) when that order is not unique: a run mixing 0.0 and -0.0 with equal
    weights, whose order ``std::sort`` leaves to its own steps; the caller sorts those pairs as
    before."""
    cdef Py_ssize_t r, s0, k
    for r in range(n):
        idx[r] = r
    argsort(<void*>v, idx, n, NULL)
    for r in range(n):
        p[r].first = v[idx[r]]
        p[r].second = w[idx[r]]
    r = 0
    while r < n:
        s0 = r
        while r + 1 < n and p[r + 1].first == p[s0].first:
            r += 1
        if r > s0:
            std_sort(p + s0, p + r + 1)
            if p[s0].first == 0.0:
                for k in range(s0 + 1, r + 1):
                    if p[k].second == p[k - 1].second and signbit(p[k].first) != signbit(p[k - 1].first):
                        return False
        r += 1
    return True


cdef inline double _lerp(double a, double b, double t) noexcept nogil:
    """numpy's ``_lerp``: the formula switches at t = 0.5 for monotonicity."""
    cdef double diff = b - a
    if t >= 0.5:
        return b - diff * (1.0 - t)
    return a + diff * t


cdef inline Py_ssize_t _discrete_index(double index, bint closest, Py_ssize_t n) noexcept nogil:
    """numpy's ``_discrete_interpolation_to_boundaries`` (0-based index into the sorted slice)."""
    cdef double previous = floor(index)
    cdef double gamma = index - previous
    cdef bint take_previous
    cdef Py_ssize_t k
    if closest:
        # numpy: (gamma == 0) & (floor(index) % 2 == 1); fmod is nonzero exactly for odd floats
        take_previous = gamma == 0.0 and fmod(previous, 2.0) != 0.0
    else:
        take_previous = gamma == 0.0
    k = <Py_ssize_t>previous if take_previous else <Py_ssize_t>previous + 1
    if k < 0:
        k = 0
    if k > n - 1:  # unreachable for levels < 1; guards rounding of n * q
        k = n - 1
    return k


cdef void _unweighted_row(const double* x, Py_ssize_t n, const double* levels, Py_ssize_t m,
                          int method, double alpha, double cgap, double* out) noexcept nogil:
    """Quantiles of one sorted slice ``x[0:n]`` at ``levels[0:m]``, numpy's arithmetic."""
    cdef Py_ssize_t j, i
    cdef double q, v, previous, gamma
    cdef double nd = <double>n
    for j in range(m):
        q = levels[j]
        if method == INVERTED_CDF:
            out[j] = x[_discrete_index(nd * q - 1.0, False, n)]
            continue
        if method == CLOSEST_OBSERVATION:
            out[j] = x[_discrete_index((nd * q - 1.0) - 0.5, True, n)]
            continue
        if method == LINEAR:
            v = (nd - 1.0) * q
        elif method == AVERAGED_INVERTED_CDF:
            v = nd * q - 1.0
        else:
            # _compute_virtual_index: n * q + (alpha + q * (1 - alpha - beta)) - 1
            v = (nd * q + (alpha + q * cgap)) - 1.0
        # _get_indexes: beyond either end, both neighbours are the end value
        if v >= nd - 1.0:
            out[j] = x[n - 1]
            continue
        if v < 0.0:
            out[j] = x[0]
            continue
        previous = floor(v)
        i = <Py_ssize_t>previous
        gamma = v - previous
        if method == AVERAGED_INVERTED_CDF:
            gamma = 0.5 if gamma == 0.0 else 1.0
        out[j] = _lerp(x[i], x[i + 1], gamma)


cdef inline Py_ssize_t _first_at_least(const value_weight* p, Py_ssize_t n, double t) noexcept nogil:
    """Smallest k with p[k].second >= t (cumulative weights are non-decreasing); n if none."""
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = lo + (hi - lo) // 2
        if p[mid].second >= t:
            hi = mid
        else:
            lo = mid + 1
    return lo


cdef void _weighted_inverted_cdf_row(value_weight* p, Py_ssize_t n, const double* levels,
                                     Py_ssize_t m, double* out) noexcept nogil:
    """numpy's weighted ``inverted_cdf`` on one slice sorted by value.

    cdf = cumsum(w) / sum(w) (sequential sum, as ``numpy.cumsum``); the quantile at
    level q is the value at ``searchsorted(cdf, q, side="left")``, capped at n - 1.
    The cumulative weights overwrite ``p[k].second``.
    """
    cdef Py_ssize_t k, j
    cdef double s = 0.0, total
    for k in range(n):
        s = s + p[k].second
        p[k].second = s
    total = p[n - 1].second
    for k in range(n):
        p[k].second = p[k].second / total
    for j in range(m):
        k = _first_at_least(p, n, levels[j])
        if k > n - 1:
            k = n - 1
        out[j] = p[k].first



cdef void _normalise_weights(value_weight* p, Py_ssize_t n) noexcept nogil:
    """Rescale one unit's weights before anything is summed: equal weights become exactly 1 (the
    unweighted quantiles, whatever their size), other weights are divided by the power of two
    ``2^e`` with ``max(w) / 2^e`` in [0.5, 1).

    The weights then sum to at most n, so no per-unit sum overflows (weights of 1e307). Division
    by a power of two is exact and every sum scales with it, so the ratios the rows compute keep
    their bits (subnormal weights become normal).
    """
    cdef Py_ssize_t k
    cdef int e
    cdef double wmax = p[0].second
    cdef bint equal = True
    for k in range(1, n):
        if p[k].second != p[0].second:
            equal = False
        if p[k].second > wmax:
            wmax = p[k].second
    if equal:
        for k in range(n):
            p[k].second = 1.0
        return
    frexp(wmax, &e)
    for k in range(n):
        p[k].second = ldexp(p[k].second, -e)


cdef inline void _neumaier_add(double* s, double* comp, double w) noexcept nogil:
    """s += w with Neumaier's compensation accumulated in comp (the sum is s + comp)."""
    cdef double t = s[0] + w
    if s[0] >= w:
        comp[0] = comp[0] + ((s[0] - t) + w)
    else:
        comp[0] = comp[0] + ((w - t) + s[0])
    s[0] = t


cdef void _weighted_linear_row(value_weight* p, Py_ssize_t n, const double* levels,
                               Py_ssize_t m, double rtol, double* out) noexcept nogil:
    """Hmisc ``wtd.quantile(type="quantile", normwt=TRUE)`` on one slice sorted by value.

    Weights are rescaled to sum to N = n; C_k are their cumulative sums (Neumaier
    compensated, so equal weights give C_k = k to ~1e-16 relative). With
    h = 1 + (N - 1) q, lo = floor(h), hi = min(lo + 1, N), frac = h - lo, and Q(t) the
    smallest sorted value whose cumulative weight is >= t (within ``rtol``), the result is
    (1 - frac) Q(lo) + frac Q(hi). Tied values need no merging: the first k of a tie
    block whose C_k reaches t carries the block's value, as the merged block would.
    Computed as numpy's type 7 does it (v = (N - 1) q, frac = v - floor(v), ``_lerp``),
    which is algebraically the same and makes equal weights reproduce type 7 bit for bit.
    The cumulative weights overwrite ``p[k].second``.
    """
    cdef Py_ssize_t k, j, lo, hi
    cdef double nd = <double>n
    cdef double s = 0.0, comp = 0.0, total, v, previous, gamma, q_lo, q_hi
    # total weight, compensated
    for k in range(n):
        _neumaier_add(&s, &comp, p[k].second)
    total = s + comp
    # rescaled cumulative weights, compensated
    s = 0.0
    comp = 0.0
    for k in range(n):
        _neumaier_add(&s, &comp, (p[k].second * nd) / total)
        p[k].second = s + comp
    for j in range(m):
        v = (nd - 1.0) * levels[j]
        previous = floor(v)
        gamma = v - previous
        lo = <Py_ssize_t>previous + 1           # 1-based order statistic
        hi = lo + 1 if lo + 1 < n else n
        k = _first_at_least(p, n, <double>lo * (1.0 - rtol))
        q_lo = p[k if k < n else n - 1].first
        k = _first_at_least(p, n, <double>hi * (1.0 - rtol))
        q_hi = p[k if k < n else n - 1].first
        out[j] = _lerp(q_lo, q_hi, gamma)


cdef Py_ssize_t _group_offsets(const int64_t[::1] codes, Py_ssize_t n_units,
                               int64_t[::1] offsets, bint* in_order) noexcept nogil:
    """offsets[u] .. offsets[u+1] = the slice of unit u; returns the first bad row or -1.
    ``in_order`` is set to whether the codes never decrease (the rows of unit u are then
    rows offsets[u] .. offsets[u+1] themselves)."""
    cdef Py_ssize_t r, u, n = codes.shape[0]
    cdef int64_t c, prev = 0
    in_order[0] = True
    for u in range(n_units + 1):
        offsets[u] = 0
    for r in range(n):
        c = codes[r]
        if c < 0 or c >= n_units:
            return r
        if c < prev:
            in_order[0] = False
        prev = c
        offsets[c + 1] += 1
    for u in range(n_units):
        offsets[u + 1] += offsets[u]
    return -1


def unit_quantiles(y, codes, Py_ssize_t n_units, levels, str method, weights=None):
    """Quantile matrix of grouped draws.

    Parameters
    ----------
    y : ndarray, shape (N,), float64, C-contiguous
        Draws (finite; not modified).
    codes : ndarray, shape (N,), int64, C-contiguous
        Unit code of each draw, in [0, n_units), in any order.
    n_units : int
        Number of units; every unit must have at least one draw.
    levels : ndarray, shape (m,), float64, C-contiguous
        Quantile levels in (0, 1).
    method : str
        A numpy method name; with ``weights`` only "linear" or "inverted_cdf".
    weights : ndarray, shape (N,), float64, or None
        Positive within-unit weights (not modified).

    Returns
    -------
    ndarray, shape (n_units, m), float64
        Row u holds unit u's quantiles at ``levels``.
    """
    for name, arr, dt in (("y", y, np.float64), ("codes", codes, np.int64), ("levels", levels, np.float64)):
        if not isinstance(arr, np.ndarray) or arr.dtype != dt or arr.ndim != 1 or not arr.flags.c_contiguous:
            raise TypeError(f"`{name}` must be a C-contiguous 1-D {np.dtype(dt)} array")
    if codes.shape[0] != y.shape[0]:
        raise ValueError("`codes` must have the length of `y`")
    if y.shape[0] == 0 or n_units < 1:
        raise ValueError("need at least one draw and one unit")
    if method not in METHOD_CODES:
        raise ValueError(f"unknown method {method!r}")
    cdef int code = METHOD_CODES[method]
    cdef bint weighted = weights is not None
    if weighted:
        if (not isinstance(weights, np.ndarray) or weights.dtype != np.float64 or weights.ndim != 1
                or not weights.flags.c_contiguous or weights.shape[0] != y.shape[0]):
            raise TypeError("`weights` must be a C-contiguous 1-D float64 array of the length of `y`")
        if code != INVERTED_CDF and code != LINEAR:
            raise ValueError(f"weighted quantiles support 'linear' and 'inverted_cdf', not {method!r}")
    # std::sort on NaN is undefined behaviour: refuse non-finite input before touching it
    cdef Py_ssize_t bad_at
    cdef const double[::1] chk = y
    with nogil:
        bad_at = first_nonfinite(&chk[0], chk.shape[0])
    if bad_at >= 0:
        raise ValueError(f"`y` must be finite; y[{bad_at}] = {y[bad_at]!r}")
    chk = levels
    with nogil:
        bad_at = first_nonfinite(&chk[0], chk.shape[0]) if chk.shape[0] else -1
    if bad_at >= 0 or (levels.shape[0] and (levels.min() < 0.0 or levels.max() > 1.0)):
        raise ValueError("`levels` must be finite and inside [0, 1]")
    if weighted:
        chk = weights
        with nogil:
            bad_at = first_nonfinite(&chk[0], chk.shape[0])
        if bad_at >= 0 or (weights <= 0).any():
            raise ValueError("`weights` must be finite and > 0")
    cdef double alpha = 0.0, cgap = 0.0
    if code in _ALPHA_BETA:
        a, b = _ALPHA_BETA[code]
        alpha = a
        cgap = 1 - a - b  # the same Python float arithmetic as numpy's (1 - alpha - beta)

    cdef r3d_sort_fn sort_double = r3d_numpy_double_sort()
    cdef const double[::1] y_v = y
    cdef const int64_t[::1] codes_v = codes
    cdef const double[::1] lev_v = levels
    cdef const double[::1] w_v
    cdef Py_ssize_t n = y.shape[0], m = levels.shape[0], r, u, pos, start, size
    cdef double rtol = HMISC_CUMWEIGHT_RTOL

    offsets = np.empty(n_units + 1, dtype=np.int64)
    cdef int64_t[::1] off_v = offsets
    cdef Py_ssize_t bad
    cdef bint in_order
    with nogil:
        bad = _group_offsets(codes_v, n_units, off_v, &in_order)
    if bad >= 0:
        raise ValueError(f"unit code {codes[bad]} at row {bad} is outside [0, {n_units})")
    empty = np.flatnonzero(np.diff(offsets) == 0)
    if empty.size:
        raise ValueError(f"{empty.size} unit(s) have no draws (first: code {empty[0]})")

    out = np.empty((n_units, m), dtype=np.float64)
    cdef double[:, ::1] out_v = out
    cdef int64_t[::1] fill_v
    cdef double[::1] buf_v
    cdef vector[value_weight] pairs
    cdef value_weight* p
    # Rows already grouped by unit (codes never decrease: the usual long layout): each unit's
    # slice is copied into a scratch buffer of the largest unit's size and sorted there. Else
    # one counting-sort pass first groups all draws into a buffer of N. The values sorted per
    # unit, and so every bit of the result, are the same; the grouped route saves a pass and
    # a buffer of N (job C: 40 MB of new memory that a first call pays to touch).
    cdef Py_ssize_t largest = int(np.diff(offsets).max()) if in_order else 0
    if not in_order:
        fill = offsets[:n_units].copy()
        fill_v = fill

    if not weighted:
        buf = np.empty(largest if in_order else n, dtype=np.float64)
        buf_v = buf
        with nogil:
            if not in_order:
                for r in range(n):
                    pos = fill_v[codes_v[r]]
                    fill_v[codes_v[r]] = pos + 1
                    buf_v[pos] = y_v[r]
            for u in range(n_units):
                start = off_v[u]
                size = off_v[u + 1] - start
                if in_order:
                    memcpy(&buf_v[0], &y_v[start], size * sizeof(double))
                    start = 0
                if sort_double != NULL:
                    sort_double(&buf_v[start], size, NULL)
                else:  # pragma: no cover - every numpy has the slot
                    std_sort(&buf_v[start], &buf_v[start] + size)
                _unweighted_row(&buf_v[start], size, &lev_v[0], m, code, alpha, cgap, &out_v[u, 0])
        return _finite_or_raise(out)

    w_v = weights
    pairs.resize(largest if in_order else n)
    p = pairs.data()
    cdef r3d_argsort_fn argsort_double = r3d_numpy_double_argsort()
    cdef Py_ssize_t min_argsort = ARGSORT_MIN_DRAWS if argsort_double != NULL else n + 1
    idx = np.empty(largest if in_order and largest >= min_argsort else 0, dtype=np.intp)
    cdef cnp.npy_intp[::1] idx_v = idx
    cdef bint done
    with nogil:
        if not in_order:
            for r in range(n):
                pos = fill_v[codes_v[r]]
                fill_v[codes_v[r]] = pos + 1
                p[pos].first = y_v[r]
                p[pos].second = w_v[r]
        for u in range(n_units):
            start = off_v[u]
            size = off_v[u + 1] - start
            if in_order:
                done = False
                if size >= min_argsort:
                    done = _argsorted_pairs(&y_v[start], &w_v[start], size, p, &idx_v[0], argsort_double)
                if not done:
                    for r in range(size):
                        p[r].first = y_v[start + r]
                        p[r].second = w_v[start + r]
                    # pairs sort by value, ties by weight: a deterministic order
                    std_sort(p, p + size)
                start = 0
            else:
                std_sort(p + start, p + start + size)
            _normalise_weights(p + start, size)
            if code == LINEAR:
                _weighted_linear_row(p + start, size, &lev_v[0], m, rtol, &out_v[u, 0])
            else:
                _weighted_inverted_cdf_row(p + start, size, &lev_v[0], m, &out_v[u, 0])
    return _finite_or_raise(out)


def _finite_or_raise(out):
    """Finite inputs can still overflow (|y| near 1.8e308): raise instead of returning inf."""
    if not np.isfinite(out).all():
        raise FloatingPointError("unit quantiles overflowed: the outcome's magnitude is near the largest "
                                 "double; rescale the outcome")
    return out
