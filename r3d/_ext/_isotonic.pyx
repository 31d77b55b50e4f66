"""Row-wise least-squares isotonic regression (compiled kernel).

Pool-adjacent-violators with equal weights on every row of an (n, m) array: the
projection of each row onto non-decreasing sequences. The Fréchet bootstrap projects
every unit's fitted curve, so the loop over rows runs without the GIL in a ``prange``;
each row is independent, so results do not depend on the thread count.

PAVA is exact: each output value is the mean of a block of inputs, computed here as
(block sum) / (block size) from the original inputs, so the only error is the
rounding of that sum. The NumPy twin is ``r3d/_ext/isotonic_numpy.py`` (tests only).
"""

import numpy as np

cimport numpy as cnp
from cython.parallel cimport prange, threadid

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


def isotonic_rows(y, int n_threads=1):
    """Project every row of ``y`` onto non-decreasing sequences (equal weights).

    Parameters
    ----------
    y : ndarray, shape (n, m), float64, C-contiguous
        Rows to project (not modified).
    n_threads : int
        OpenMP threads for the loop over rows (results do not depend on it).

    Returns
    -------
    ndarray, shape (n, m), float64
        Row i is the least-squares non-decreasing fit to ``y[i]``.
    """
    if (not isinstance(y, np.ndarray) or y.dtype != np.float64 or y.ndim != 2
            or not y.flags.c_contiguous):
        raise TypeError("`y` must be a C-contiguous 2-D float64 array")
    if n_threads < 1:
        raise ValueError("`n_threads` must be >= 1")
    cdef Py_ssize_t n = y.shape[0], m = y.shape[1], i, tid
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
    # one workspace row per thread, indexed by the OpenMP thread id
    sums = np.empty((n_threads, m), dtype=np.float64)
    means = np.empty((n_threads, m), dtype=np.float64)
    sizes = np.empty((n_threads, m), dtype=np.intp)
    cdef double[:, ::1] sums_v = sums
    cdef double[:, ::1] means_v = means
    cdef Py_ssize_t[:, ::1] sizes_v = sizes
    for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
        tid = threadid()
        _pava_row(&y_v[i, 0], &out_v[i, 0], m, &sums_v[tid, 0], &means_v[tid, 0], &sizes_v[tid, 0])
    if not np.isfinite(out).all():  # block sums of values near the largest double overflow
        raise FloatingPointError("isotonic projection overflowed: values near the largest double; rescale")
    return out
