"""Row-wise least-squares isotonic regression (compiled kernel).

Pool-adjacent-violators with equal weights on every row of an (n, m) array: the
projection of each row onto non-decreasing sequences. The Fréchet estimator projects
every unit's fitted curve; the loop over rows runs without the GIL on one thread
(spreading it over threads saved at most 9 % of any reference job,
``benchmarks/results/threads.md``).

PAVA is exact: each output value is the mean of a block of inputs, computed here as
(block sum) / (block size) from the original inputs, so the only error is the
rounding of that sum. The NumPy twin is ``r3d/_ext/isotonic_numpy.py`` (tests only).
"""

import numpy as np

cimport numpy as cnp
from r3d._ext._checks cimport first_nonfinite

cnp.import_array()


cdef void _pava_row(const double* y, double* out, Py_ssize_t m, double* sums,
                    double* means, Py_ssize_t* sizes) noexcept nogil:
    """Isotonic regression of ``y[0:m]`` into ``out[0:m]``; ``sums``, ``means``, ``sizes`` are
    workspace of length m.

    Blocks live on a stack; a new value starts a block and the top two blocks merge while
    the lower one has the larger mean. A block's mean is always its sum / size, so the
    final block means, which are written out, are non-decreasing.
    """
    cdef Py_ssize_t j, k, b, nb = 0, pos = 0
    cdef double mean
    for j in range(m):
        sums[nb] = y[j]
        means[nb] = y[j]
        sizes[nb] = 1
        nb += 1
        while nb > 1 and means[nb - 2] > means[nb - 1]:
            sums[nb - 2] += sums[nb - 1]
            sizes[nb - 2] += sizes[nb - 1]
            means[nb - 2] = sums[nb - 2] / sizes[nb - 2]
            nb -= 1
    for b in range(nb):
        mean = means[b]
        for k in range(sizes[b]):
            out[pos] = mean
            pos += 1


def isotonic_rows(y):
    """Project every row of ``y`` onto non-decreasing sequences (equal weights).

    Parameters
    ----------
    y : ndarray, shape (n, m), float64, C-contiguous
        Rows to project (not modified).

    Returns
    -------
    ndarray, shape (n, m), float64
        Row i is the least-squares non-decreasing fit to ``y[i]``.
    """
    if (not isinstance(y, np.ndarray) or y.dtype != np.float64 or y.ndim != 2
            or not y.flags.c_contiguous):
        raise TypeError("`y` must be a C-contiguous 2-D float64 array")
    cdef Py_ssize_t n = y.shape[0], m = y.shape[1], i
    out = np.empty((n, m), dtype=np.float64)
    if n == 0 or m == 0:
        return out
    cdef const double[:, ::1] y_v = y
    cdef double[:, ::1] out_v = out
    cdef Py_ssize_t bad_at
    with nogil:
        bad_at = first_nonfinite(&y_v[0, 0], n * m)
    if bad_at >= 0:
        raise ValueError(f"`y` must be finite; entry {divmod(bad_at, m)} is {y.flat[bad_at]!r}")
    cdef double[::1] sums_v = np.empty(m, dtype=np.float64)
    cdef double[::1] means_v = np.empty(m, dtype=np.float64)
    cdef Py_ssize_t[::1] sizes_v = np.empty(m, dtype=np.intp)
    with nogil:
        for i in range(n):
            _pava_row(&y_v[i, 0], &out_v[i, 0], m, &sums_v[0], &means_v[0], &sizes_v[0])
    if not np.isfinite(out).all():  # block sums of values near the largest double overflow
        raise FloatingPointError("isotonic projection overflowed: values near the largest double; rescale")
    return out


def side_residuals(Y, fitted_plus, fitted_minus, rows, on_right, weight_diff, bint project):
    """Residuals and influence rows of the units inside a common-bandwidth window, fused.

    For each ``i = rows[k]``: ``f = fitted_plus[i]`` if ``on_right[k]`` else ``fitted_minus[i]``,
    projected onto non-decreasing sequences (PAVA, as :func:`isotonic_rows`) when ``project``;
    then ``e[i] = Y[i] - f`` and ``a[i] = weight_diff[i] * e[i]``. Every other row of ``e`` and
    ``a`` is 0.0. One pass over each in-window row instead of a dozen whole-matrix NumPy
    passes.

    Parameters
    ----------
    Y, fitted_plus, fitted_minus : ndarray, shape (n, m), float64, C-contiguous
        Unit quantiles and the two side fits' fitted values (not modified).
    rows : ndarray, shape (r,), intp
        Units inside the window of their side, each in [0, n).
    on_right : ndarray, shape (r,), bool
        Whether ``rows[k]`` is on the right side.
    weight_diff : ndarray, shape (n,), float64
        ``w_i^+ - w_i^-`` (intercept weights).
    project : bool
        Project the fitted curve before taking residuals (Fréchet).

    Returns
    -------
    e, a : ndarray, shape (n, m), float64
    """
    for name, arr in (("Y", Y), ("fitted_plus", fitted_plus), ("fitted_minus", fitted_minus)):
        if (not isinstance(arr, np.ndarray) or arr.dtype != np.float64 or arr.ndim != 2
                or not arr.flags.c_contiguous or arr.shape != Y.shape):
            raise TypeError(f"`{name}` must be a C-contiguous 2-D float64 array of the shape of `Y`")
    if (not isinstance(rows, np.ndarray) or rows.dtype != np.intp or rows.ndim != 1
            or not rows.flags.c_contiguous):
        raise TypeError("`rows` must be a C-contiguous 1-D intp array")
    if (not isinstance(on_right, np.ndarray) or on_right.dtype != np.bool_ or on_right.shape != rows.shape
            or not on_right.flags.c_contiguous):
        raise TypeError("`on_right` must be a C-contiguous bool array of the shape of `rows`")
    if (not isinstance(weight_diff, np.ndarray) or weight_diff.dtype != np.float64
            or weight_diff.shape != (Y.shape[0],) or not weight_diff.flags.c_contiguous):
        raise TypeError("`weight_diff` must be a C-contiguous 1-D float64 array with one entry per row of `Y`")
    cdef Py_ssize_t n = Y.shape[0], m = Y.shape[1], r = rows.shape[0], k, i, j
    if r and (rows.min() < 0 or rows.max() >= n):
        raise ValueError(f"`rows` must lie in [0, {n})")
    e = np.zeros((n, m), dtype=np.float64)
    a = np.zeros((n, m), dtype=np.float64)
    if r == 0 or m == 0:
        return e, a
    cdef const double[:, ::1] y_v = Y
    cdef const double[:, ::1] fp_v = fitted_plus
    cdef const double[:, ::1] fm_v = fitted_minus
    cdef const Py_ssize_t[::1] rows_v = rows
    cdef const unsigned char[::1] right_v = on_right.view(np.uint8)
    cdef const double[::1] wd_v = weight_diff
    cdef double[:, ::1] e_v = e
    cdef double[:, ::1] a_v = a
    cdef Py_ssize_t bad = -1
    with nogil:
        for k in range(r):
            i = rows_v[k]
            bad = first_nonfinite(&fp_v[i, 0] if right_v[k] else &fm_v[i, 0], m)
            if bad >= 0:
                break
    if bad >= 0:
        raise ValueError("fitted values must be finite")
    cdef double[::1] sums_v = np.empty(m, dtype=np.float64)
    cdef double[::1] means_v = np.empty(m, dtype=np.float64)
    cdef Py_ssize_t[::1] sizes_v = np.empty(m, dtype=np.intp)
    cdef double[::1] proj_v = np.empty(m, dtype=np.float64)
    cdef bint overflow = False, nonfinite = False
    cdef const double* f
    cdef double* ei
    cdef double w
    with nogil:
        for k in range(r):
            i = rows_v[k]
            f = &fp_v[i, 0] if right_v[k] else &fm_v[i, 0]
            if project:
                _pava_row(f, &proj_v[0], m, &sums_v[0], &means_v[0], &sizes_v[0])
                f = &proj_v[0]
                if first_nonfinite(f, m) >= 0:
                    overflow = True
            ei = &e_v[i, 0]
            w = wd_v[i]
            for j in range(m):
                ei[j] = y_v[i, j] - f[j]
                a_v[i, j] = w * ei[j]
            # only written rows can be non-finite (the others stay 0.0): checked here, row by row,
            # instead of two whole-matrix passes afterwards
            if not nonfinite and (first_nonfinite(ei, m) >= 0 or first_nonfinite(&a_v[i, 0], m) >= 0):
                nonfinite = True
    if overflow:  # block sums of values near the largest double overflow
        raise FloatingPointError("isotonic projection overflowed: values near the largest double; rescale")
    if nonfinite:  # NaN quantiles/weights or overflow
        raise FloatingPointError("residuals or influence terms are not finite: non-finite unit quantiles or "
                                 "intercept weights, or values near the largest double; rescale the outcome")
    return e, a
