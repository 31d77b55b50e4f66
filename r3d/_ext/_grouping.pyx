"""Grouping long-format rows by unit (compiled kernels).

Three O(N) passes that the data layer would otherwise make with several NumPy passes,
hashing and temporaries over millions of rows:

``factorize_int64``  integer unit ids -> codes in order of first appearance (as
                     ``pandas.factorize(ids, sort=False)``) and the first row of each unit,
                     by direct addressing when the ids span a range not much larger than N;
``first_varying``    the first row whose value differs from its unit's value (NaN equals
                     NaN): the check that a unit-level column is constant within units;
``draw_counts``      per-unit counts of non-missing draws, the number of missing draws and
                     the first infinite draw, in one pass;
``string_run_starts`` where runs of equal string ids start (Arrow layout), so that ids that
                     come grouped by unit are hashed once per run instead of once per row.

All three are serial (each is one memory-bound pass). The NumPy twin is
``r3d/_ext/grouping_numpy.py`` (tests only).
"""

import numpy as np

cimport numpy as cnp
from libc.math cimport isinf, isnan
from libc.string cimport memcmp
from libc.stdint cimport int32_t, int64_t

cnp.import_array()

#: Direct addressing is used while the ids span at most SPAN_FACTOR * N + SPAN_SLACK values
#: (a table of int32, so at most about half the size of the ids themselves).
SPAN_FACTOR = 2
SPAN_SLACK = 65536


def factorize_int64(ids):
    """Codes (order of first appearance) and first rows of integer ids, or None.

    Parameters
    ----------
    ids : ndarray, shape (N,), int64, C-contiguous
        Unit ids (not modified).

    Returns
    -------
    (codes, first) or None
        ``codes`` (N,) intp in [0, n), equal to ``pandas.factorize(ids, sort=False)[0]``;
        ``first`` (n,) intp, the first row of each code (increasing). None when N = 0 or
        the ids span more than ``SPAN_FACTOR * N + SPAN_SLACK`` values or 2**31 units
        (the caller then hashes).
    """
    if not isinstance(ids, np.ndarray) or ids.dtype != np.int64 or ids.ndim != 1 or not ids.flags.c_contiguous:
        raise TypeError("`ids` must be a C-contiguous 1-D int64 array")
    cdef const int64_t[::1] v = ids
    cdef Py_ssize_t n = v.shape[0], r
    if n == 0 or n >= 2**31:
        return None
    cdef int64_t lo = v[0], hi = v[0], x
    with nogil:
        for r in range(n):
            x = v[r]
            if x < lo:
                lo = x
            elif x > hi:
                hi = x
    # hi - lo can overflow int64 for ids near both ends: compare in Python integers
    span = int(hi) - int(lo) + 1
    if span > SPAN_FACTOR * n + SPAN_SLACK:
        return None
    table = np.full(span, -1, dtype=np.int32)
    codes = np.empty(n, dtype=np.intp)
    first = np.empty(min(n, span), dtype=np.intp)
    cdef int32_t[::1] t = table
    cdef Py_ssize_t[::1] c = codes
    cdef Py_ssize_t[::1] f = first
    cdef int32_t code, n_codes = 0
    with nogil:
        for r in range(n):
            code = t[v[r] - lo]
            if code < 0:
                code = n_codes
                t[v[r] - lo] = code
                f[code] = r
                n_codes += 1
            c[r] = code
    return codes, first[:n_codes].copy()


def first_varying(values, codes, per_unit):
    """First row ``r`` with ``values[r] != per_unit[codes[r]]`` (NaN equals NaN), or -1.

    Parameters
    ----------
    values : ndarray, shape (N,), float64
    codes : ndarray, shape (N,), intp, each in [0, n)
    per_unit : ndarray, shape (n,), float64
    """
    for name, arr, dt in (("values", values, np.float64), ("codes", codes, np.intp),
                          ("per_unit", per_unit, np.float64)):
        if not isinstance(arr, np.ndarray) or arr.dtype != dt or arr.ndim != 1 or not arr.flags.c_contiguous:
            raise TypeError(f"`{name}` must be a C-contiguous 1-D {np.dtype(dt)} array")
    if codes.shape[0] != values.shape[0]:
        raise ValueError("`codes` must have the length of `values`")
    cdef const double[::1] val = values
    cdef const Py_ssize_t[::1] cod = codes
    cdef const double[::1] pu = per_unit
    cdef Py_ssize_t n = val.shape[0], n_units = pu.shape[0], r, k, out = -1, bad_code = -1
    cdef double a, b
    with nogil:
        for r in range(n):
            k = cod[r]
            if k < 0 or k >= n_units:
                bad_code = r
                break
            a = val[r]
            b = pu[k]
            if a != b and not (isnan(a) and isnan(b)):
                out = r
                break
    if bad_code >= 0:
        raise ValueError(f"code {codes[bad_code]} at row {bad_code} is outside [0, {n_units})")
    return out


def draw_counts(y, codes, Py_ssize_t n_units):
    """Per-unit counts of non-missing draws, the number of missing (NaN) draws and the first
    infinite draw.

    Parameters
    ----------
    y : ndarray, shape (N,), float64
    codes : ndarray, shape (N,), intp, each in [0, n_units)
    n_units : int

    Returns
    -------
    counts : ndarray, shape (n_units,), int64
        Draws with a non-NaN outcome per unit.
    n_missing : int
        Rows with a NaN outcome.
    first_inf : int
        First row with an infinite outcome, or -1.
    """
    for name, arr, dt in (("y", y, np.float64), ("codes", codes, np.intp)):
        if not isinstance(arr, np.ndarray) or arr.dtype != dt or arr.ndim != 1 or not arr.flags.c_contiguous:
            raise TypeError(f"`{name}` must be a C-contiguous 1-D {np.dtype(dt)} array")
    if codes.shape[0] != y.shape[0]:
        raise ValueError("`codes` must have the length of `y`")
    if n_units < 0:
        raise ValueError("`n_units` must be >= 0")
    counts = np.zeros(n_units, dtype=np.int64)
    cdef int64_t[::1] cnt = counts
    cdef const double[::1] yv = y
    cdef const Py_ssize_t[::1] cod = codes
    cdef Py_ssize_t n = yv.shape[0], r, k, n_missing = 0, first_inf = -1, bad_code = -1
    cdef double a
    with nogil:
        for r in range(n):
            k = cod[r]
            if k < 0 or k >= n_units:
                bad_code = r
                break
            a = yv[r]
            if isnan(a):
                n_missing += 1
            else:
                cnt[k] += 1
                if first_inf < 0 and isinf(a):
                    first_inf = r
    if bad_code >= 0:
        raise ValueError(f"code {codes[bad_code]} at row {bad_code} is outside [0, {n_units})")
    return counts, n_missing, first_inf


def string_run_starts(offsets, data, Py_ssize_t max_runs):
    """Rows where a run of equal strings starts, for strings in Arrow layout; or None.

    String ``r`` is ``data[offsets[r]:offsets[r + 1]]``. Row 0 starts a run, and so does
    every row whose bytes differ from the row before. Unit ids that come grouped by unit
    (the usual long layout) have one run per unit: only the run heads then need hashing.

    Parameters
    ----------
    offsets : ndarray, shape (N + 1,), int64, C-contiguous
        Non-decreasing byte offsets.
    data : ndarray, shape (M,), uint8, C-contiguous
        The strings' bytes (``M >= offsets[N]``).
    max_runs : int
        Give up (return None) once more runs than this are found.

    Returns
    -------
    ndarray, shape (n_runs,), intp, or None
    """
    for name, arr, dt in (("offsets", offsets, np.int64), ("data", data, np.uint8)):
        if not isinstance(arr, np.ndarray) or arr.dtype != dt or arr.ndim != 1 or not arr.flags.c_contiguous:
            raise TypeError(f"`{name}` must be a C-contiguous 1-D {np.dtype(dt)} array")
    cdef Py_ssize_t n = offsets.shape[0] - 1, r, count = 0
    if n < 1:
        return np.zeros(0, dtype=np.intp)
    cdef int64_t m_bytes = data.shape[0]
    if offsets[0] < 0 or offsets[1] < offsets[0] or offsets[1] > m_bytes:
        raise ValueError("`offsets` must be non-decreasing and inside `data`")
    starts = np.empty(n, dtype=np.intp)
    cdef Py_ssize_t[::1] st = starts
    cdef const int64_t[::1] off = offsets
    cdef const unsigned char* base = NULL
    cdef const unsigned char[::1] dv
    if data.shape[0]:
        dv = data
        base = &dv[0]
    cdef int64_t a0, a1, b1
    cdef bint over = False, bad = False
    with nogil:
        st[0] = 0
        count = 1
        for r in range(1, n):
            a0 = off[r - 1]
            a1 = off[r]
            b1 = off[r + 1]
            if b1 < a1 or b1 > m_bytes:  # checked as the rows are read (memcmp stays inside)
                bad = True
                break
            if (a1 - a0) != (b1 - a1) or (a1 > a0 and memcmp(base + a0, base + a1, <size_t> (a1 - a0)) != 0):
                if count >= max_runs:
                    over = True
                    break
                st[count] = r
                count += 1
    if bad:
        raise ValueError("`offsets` must be non-decreasing and inside `data`")
    if over:
        return None
    return starts[:count].copy()
