"""Multiplier bootstrap product (compiled kernel).

``out[b, j] = sum_t xi[b, t] * A[rows[t], j]``: the bootstrap process of draw ``b`` at grid
point ``j`` from the multipliers ``xi`` (one per live cluster ``t``) and the rows of the
(cluster-summed) influence matrix ``A`` that are not all zero.

Every entry is accumulated in one fixed order, ``t = 0, 1, ..., T-1``, starting from
``0.0`` and without fused multiply-adds (``acc = acc + xi * a``): the result is a property of
the inputs alone. It does not depend on how the draws are split into chunks, or on the
machine's BLAS (whose row results depend on the call's shape and its own thread count).
Draws are handled in blocks of :data:`DRAW_BLOCK`; within a block the rows of ``A`` are
streamed in tiles of :data:`ROW_TILE` so that a tile stays in cache while it is applied to
every draw of the block. The product runs on one thread: spreading the draw blocks over
threads saved at most 10 % of any reference job (``benchmarks/results/threads.md``).

The NumPy twin is ``r3d/_ext/bootstrap_numpy.py`` (tests only).
"""

import numpy as np

cimport numpy as cnp

from r3d._ext._checks cimport first_nonfinite

cnp.import_array()

#: Draws handled together (their accumulators stay in L1 for m up to ~250).
DRAW_BLOCK = 8
#: Rows of A applied to a whole draw block before moving on (tile of ROW_TILE x m doubles).
ROW_TILE = 128

cdef extern from *:
    """
    /* One tile of rows for one draw: out[j] = (((out[j] + s0 a0[j]) + s1 a1[j]) + ...),
       four rows per pass so that out[j] is loaded and stored once per four terms; the order
       of the additions is the sequential one. Separate statements and no FMA in the base
       instruction set: the compiler may not fuse or reassociate (no -ffast-math). */
    /* An AVX2 clone chosen at load time where the CPU has it (GCC function multiversioning
       needs glibc's ifunc); AVX2 without FMA: the same roundings as the base build. */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__)
    __attribute__((target_clones("avx2", "default")))
    #endif
    static void r3d_axpy_rows(double *out, const double *xi, const double *A,
                              const Py_ssize_t *rows, Py_ssize_t t0, Py_ssize_t t1,
                              Py_ssize_t m)
    {
        Py_ssize_t t = t0, j;
        for (; t + 4 <= t1; t += 4) {
            const double s0 = xi[t], s1 = xi[t + 1], s2 = xi[t + 2], s3 = xi[t + 3];
            const double *a0 = A + rows[t] * m, *a1 = A + rows[t + 1] * m;
            const double *a2 = A + rows[t + 2] * m, *a3 = A + rows[t + 3] * m;
            for (j = 0; j < m; j++) {
                double acc = out[j];
                double p0 = s0 * a0[j];
                acc = acc + p0;
                double p1 = s1 * a1[j];
                acc = acc + p1;
                double p2 = s2 * a2[j];
                acc = acc + p2;
                double p3 = s3 * a3[j];
                acc = acc + p3;
                out[j] = acc;
            }
        }
        for (; t < t1; t++) {
            const double s = xi[t];
            const double *a = A + rows[t] * m;
            for (j = 0; j < m; j++) {
                double p = s * a[j];
                out[j] = out[j] + p;
            }
        }
    }
    """
    void r3d_axpy_rows(double* out, const double* xi, const double* A, const Py_ssize_t* rows,
                       Py_ssize_t t0, Py_ssize_t t1, Py_ssize_t m) noexcept nogil


cdef void _draw_block(const double* xi, Py_ssize_t ld_xi, const double* A, const Py_ssize_t* rows,
                      Py_ssize_t n_rows, Py_ssize_t m, double* out, Py_ssize_t b0, Py_ssize_t b1,
                      Py_ssize_t tile) noexcept nogil:
    """Draws b0..b1-1: zero their output rows, then stream the row tiles of A over them."""
    cdef Py_ssize_t b, j, t0, t1
    for b in range(b0, b1):
        for j in range(m):
            out[b * m + j] = 0.0
    t0 = 0
    while t0 < n_rows:
        t1 = t0 + tile
        if t1 > n_rows:
            t1 = n_rows
        for b in range(b0, b1):
            r3d_axpy_rows(&out[b * m], &xi[b * ld_xi], A, rows, t0, t1, m)
        t0 = t1


def multiplier_product(xi, A, rows):
    """``xi @ A[rows]`` with a fixed order of summation (see the module docstring).

    Parameters
    ----------
    xi : ndarray, shape (B, T), float64, C-contiguous
        Multipliers: one row per draw, one column per live row of ``A``.
    A : ndarray, shape (G, m), float64, C-contiguous
        Influence matrix (rows summed within clusters); not modified.
    rows : ndarray, shape (T,), intp, C-contiguous
        The rows of ``A`` the columns of ``xi`` multiply, each in [0, G).

    Returns
    -------
    ndarray, shape (B, m), float64
        ``out[b, j] = sum_t xi[b, t] A[rows[t], j]``, summed in increasing ``t``.
    """
    for name, arr, dt, nd in (("xi", xi, np.float64, 2), ("A", A, np.float64, 2), ("rows", rows, np.intp, 1)):
        if not isinstance(arr, np.ndarray) or arr.dtype != dt or arr.ndim != nd or not arr.flags.c_contiguous:
            raise TypeError(f"`{name}` must be a C-contiguous {nd}-D {np.dtype(dt)} array")
    if xi.shape[1] != rows.shape[0]:
        raise ValueError(f"`xi` has {xi.shape[1]} columns but `rows` has {rows.shape[0]} entries")
    if rows.shape[0] and (rows.min() < 0 or rows.max() >= A.shape[0]):
        raise ValueError(f"`rows` must lie in [0, {A.shape[0]})")
    cdef Py_ssize_t n_boot = xi.shape[0], n_rows = xi.shape[1], m = A.shape[1], g = A.shape[0]
    out = np.zeros((n_boot, m), dtype=np.float64)
    if n_boot == 0 or n_rows == 0 or m == 0:
        return out
    cdef const double[:, ::1] xi_v = xi
    cdef const double[:, ::1] a_v = A
    cdef const Py_ssize_t[::1] rows_v = rows
    cdef double[:, ::1] out_v = out
    cdef Py_ssize_t bad
    with nogil:
        bad = first_nonfinite(&xi_v[0, 0], n_boot * n_rows)
    if bad >= 0:
        raise ValueError("`xi` must be finite")
    if g:
        with nogil:
            bad = first_nonfinite(&a_v[0, 0], g * m)
        if bad >= 0:
            raise ValueError("`A` must be finite")
    cdef Py_ssize_t blk = DRAW_BLOCK, tile = ROW_TILE
    cdef Py_ssize_t n_blocks = (n_boot + blk - 1) // blk, k, b0, b1
    with nogil:
        for k in range(n_blocks):
            b0 = k * blk
            b1 = b0 + blk
            if b1 > n_boot:
                b1 = n_boot
            _draw_block(&xi_v[0, 0], n_rows, &a_v[0, 0], &rows_v[0], n_rows, m, &out_v[0, 0],
                        b0, b1, tile)
    if not np.isfinite(out).all():  # finite inputs near the largest double can overflow
        raise FloatingPointError("bootstrap draws overflowed: influence terms near the largest double; rescale")
    return out
