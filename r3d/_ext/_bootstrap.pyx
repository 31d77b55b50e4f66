"""Multiplier bootstrap product (compiled kernel).

``out[b, j] = sum_t xi[b, t] * A[rows[t], j]``: the bootstrap process of draw ``b`` at grid
point ``j`` from the multipliers ``xi`` (one per live cluster ``t``) and the rows of the
(cluster-summed) influence matrix ``A`` that are not all zero.

Every entry is accumulated in one fixed order, ``t = 0, 1, ..., T-1``, starting from
``0.0`` and without fused multiply-adds (``acc = acc + xi * a``): the result is a property of
the inputs alone. It does not depend on how the draws are split into chunks, or on the
machine's BLAS (whose row results depend on the call's shape and its own thread count).
The rows of ``A`` are taken in tiles of :data:`ROW_TILE`; within a tile, blocks of 4 draws x
2 vectors of columns are accumulated in registers (each loaded piece of ``A`` serves 4 draws,
each multiplier 2 vectors of columns), with AVX-512 or AVX2 where the CPU has them
(:data:`SIMD_BEST`). That changes which sums are done together, never the order of the terms
within one entry, and no product is fused with a sum, so every path gives the same bits. The product runs on one thread: spreading the draw blocks over
threads saved at most 10 % of any reference job (``benchmarks/results/threads.md``).

The NumPy twin is ``r3d/_ext/bootstrap_numpy.py`` (tests only).
"""

import numpy as np

cimport numpy as cnp

from r3d._ext._checks cimport first_nonfinite

cnp.import_array()

#: Rows of A applied to every draw before moving on to the next rows: a tile of ROW_TILE rows
#: times one column block stays in L1 while all draws pass over it.
ROW_TILE = 128

cdef extern from *:
    """
    #include <string.h>
    /* out[b, j] = (((0 + xi[b,0] A[r0,j]) + xi[b,1] A[r1,j]) + ...): every entry is summed in
       increasing t, one rounding per product and one per sum, whatever the path below.

       The paths differ only in which entries are accumulated at once: blocks of D = 4 draws x
       NV = 2 vectors of W columns stay in registers during a pass over a tile of rows, so
       each loaded piece of A serves 4 draws and each multiplier 2W columns; partial sums go
       back to `out` between tiles (a store and a load: exact). The last columns that do not
       fill a vector are done by a block shifted left to end at column m, which stores only
       the columns not yet done. W = 8 (AVX-512), 4 (AVX2) or 2 (base x86-64 / other CPUs),
       chosen once at run time; `simd` forces one (tests: all give the same bits).

       No FMA: the build passes -ffp-contract=off and products and sums are separate
       statements, so the wide paths round exactly as the scalar loop does. */
    #if defined(__GNUC__)
    #define R3D_VECTORS 1
    #define R3D_INLINE static inline __attribute__((always_inline))
    typedef double r3d_v2 __attribute__((vector_size(16)));
    typedef double r3d_v4 __attribute__((vector_size(32)));
    typedef double r3d_v8 __attribute__((vector_size(64)));

    /* D draws x NV vectors of W columns from column j0, rows t0..t1-1; columns before
       j0 + keep are computed but not stored (they were done by an earlier block) */
    #define R3D_BLOCK(NAME, VT, W, D, NV)                                                        \\
    R3D_INLINE void NAME(double *out, Py_ssize_t m, const double *xi, Py_ssize_t ld,             \\
                         const double *A, const Py_ssize_t *rows, Py_ssize_t t0, Py_ssize_t t1,  \\
                         Py_ssize_t j0, Py_ssize_t keep)                                          \\
    {                                                                                            \\
        VT acc[D][NV], av[NV];                                                                   \\
        double res[NV * W];                                                                      \\
        int d, v;                                                                                \\
        Py_ssize_t t, j;                                                                         \\
        for (d = 0; d < D; d++)                                                                  \\
            for (v = 0; v < NV; v++)                                                             \\
                memcpy(&acc[d][v], out + d * m + j0 + W * v, sizeof(VT));                        \\
        for (t = t0; t < t1; t++) {                                                              \\
            const double *a = A + rows[t] * m + j0;                                              \\
            for (v = 0; v < NV; v++)                                                             \\
                memcpy(&av[v], a + W * v, sizeof(VT));                                           \\
            for (d = 0; d < D; d++) {                                                            \\
                const VT sv = (VT){} + xi[d * ld + t];                                           \\
                for (v = 0; v < NV; v++) {                                                       \\
                    const VT p = sv * av[v];                                                     \\
                    acc[d][v] = acc[d][v] + p;                                                   \\
                }                                                                                \\
            }                                                                                    \\
        }                                                                                        \\
        for (d = 0; d < D; d++) {                                                                \\
            memcpy(res, acc[d], sizeof(res));                                                    \\
            for (j = keep; j < NV * W; j++)                                                      \\
                out[d * m + j0 + j] = res[j];                                                    \\
        }                                                                                        \\
    }

    /* the whole product for one vector width: tiles of rows, then column blocks, then draws */
    #define R3D_DRIVER(NAME, ATTR, VT, W)                                                        \\
    R3D_BLOCK(NAME##_4x2, VT, W, 4, 2)                                                           \\
    R3D_BLOCK(NAME##_1x2, VT, W, 1, 2)                                                           \\
    R3D_BLOCK(NAME##_4x1, VT, W, 4, 1)                                                           \\
    R3D_BLOCK(NAME##_1x1, VT, W, 1, 1)                                                           \\
    ATTR static void NAME(double *out, const double *xi, Py_ssize_t ld, Py_ssize_t nb,           \\
                          const double *A, const Py_ssize_t *rows, Py_ssize_t T, Py_ssize_t m,   \\
                          Py_ssize_t tile)                                                       \\
    {                                                                                            \\
        Py_ssize_t t0, t1, j0, b, keep;                                                          \\
        for (t0 = 0; t0 < T; t0 = t1) {                                                          \\
            t1 = t0 + tile < T ? t0 + tile : T;                                                  \\
            for (j0 = 0; j0 + 2 * W <= m; j0 += 2 * W) {                                         \\
                for (b = 0; b + 4 <= nb; b += 4)                                                 \\
                    NAME##_4x2(out + b * m, m, xi + b * ld, ld, A, rows, t0, t1, j0, 0);         \\
                for (; b < nb; b++)                                                              \\
                    NAME##_1x2(out + b * m, m, xi + b * ld, ld, A, rows, t0, t1, j0, 0);         \\
            }                                                                                    \\
            for (; j0 < m; j0 += W) {                                                            \\
                /* a last vector that would pass column m is shifted left to end there */        \\
                keep = j0 + W <= m ? 0 : j0 - (m - W);                                           \\
                for (b = 0; b + 4 <= nb; b += 4)                                                 \\
                    NAME##_4x1(out + b * m, m, xi + b * ld, ld, A, rows, t0, t1, j0 - keep, keep); \\
                for (; b < nb; b++)                                                              \\
                    NAME##_1x1(out + b * m, m, xi + b * ld, ld, A, rows, t0, t1, j0 - keep, keep); \\
            }                                                                                    \\
        }                                                                                        \\
    }

    R3D_DRIVER(r3d_product_w2, , r3d_v2, 2)
    #if defined(__x86_64__) && (defined(__clang__) || __GNUC__ >= 5)
    #define R3D_X86 1
    R3D_DRIVER(r3d_product_w4, __attribute__((target("avx2"))), r3d_v4, 4)
    R3D_DRIVER(r3d_product_w8, __attribute__((target("avx512f"))), r3d_v8, 8)
    #endif
    #endif

    /* the same sums, draw by draw and row by row (compilers without vector extensions, m < 2) */
    static void r3d_product_scalar(double *out, const double *xi, Py_ssize_t ld, Py_ssize_t nb,
                                   const double *A, const Py_ssize_t *rows, Py_ssize_t T,
                                   Py_ssize_t m)
    {
        Py_ssize_t b, j, t;
        for (b = 0; b < nb; b++)
            for (t = 0; t < T; t++) {
                const double s = xi[b * ld + t], *a = A + rows[t] * m;
                for (j = 0; j < m; j++) {
                    const double p = s * a[j];
                    out[b * m + j] = out[b * m + j] + p;
                }
            }
    }

    /* the widest path the CPU runs: 3 = AVX-512 (W = 8), 2 = AVX2 (4), 1 = base vectors (2),
       0 = scalar */
    static int r3d_simd_best(void)
    {
    #if defined(R3D_X86)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f"))
            return 3;
        if (__builtin_cpu_supports("avx2"))
            return 2;
    #endif
    #if defined(R3D_VECTORS)
        return 1;
    #else
        return 0;
    #endif
    }

    /* out (nb x m, zeroed) = xi (nb x T, row stride ld) times A[rows] (T x m) on path `simd` */
    static void r3d_multiplier_product(double *out, const double *xi, Py_ssize_t ld, Py_ssize_t nb,
                                       const double *A, const Py_ssize_t *rows, Py_ssize_t T,
                                       Py_ssize_t m, Py_ssize_t tile, int simd)
    {
    #if defined(R3D_X86)
        if (simd == 3 && m >= 8) { r3d_product_w8(out, xi, ld, nb, A, rows, T, m, tile); return; }
        if (simd >= 2 && m >= 4) { r3d_product_w4(out, xi, ld, nb, A, rows, T, m, tile); return; }
    #endif
    #if defined(R3D_VECTORS)
        if (simd >= 1 && m >= 2) { r3d_product_w2(out, xi, ld, nb, A, rows, T, m, tile); return; }
    #endif
        r3d_product_scalar(out, xi, ld, nb, A, rows, T, m);
    }
    """
    int r3d_simd_best() noexcept nogil
    void r3d_multiplier_product(double* out, const double* xi, Py_ssize_t ld, Py_ssize_t nb,
                                const double* A, const Py_ssize_t* rows, Py_ssize_t T, Py_ssize_t m,
                                Py_ssize_t tile, int simd) noexcept nogil

#: The widest SIMD path this CPU runs (3 AVX-512, 2 AVX2, 1 two-wide vectors, 0 scalar).
SIMD_BEST = r3d_simd_best()


def multiplier_product(xi, A, rows, *, simd=None):
    """``xi @ A[rows]`` with a fixed order of summation (see the module docstring).

    Parameters
    ----------
    xi : ndarray, shape (B, T), float64, C-contiguous
        Multipliers: one row per draw, one column per live row of ``A``.
    A : ndarray, shape (G, m), float64, C-contiguous
        Influence matrix (rows summed within clusters); not modified.
    rows : ndarray, shape (T,), intp, C-contiguous
        The rows of ``A`` the columns of ``xi`` multiply, each in [0, G).
    simd : int, optional
        The path (0 scalar, 1 two-wide vectors, 2 AVX2, 3 AVX-512), at most :data:`SIMD_BEST`;
        default the widest. Every path gives the same bits (tests).

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
    cdef Py_ssize_t tile = ROW_TILE
    cdef int level = SIMD_BEST if simd is None else min(int(simd), SIMD_BEST)
    with nogil:
        r3d_multiplier_product(&out_v[0, 0], &xi_v[0, 0], n_rows, n_boot, &a_v[0, 0], &rows_v[0], n_rows, m,
                               tile, level)
    if not np.isfinite(out).all():  # finite inputs near the largest double can overflow
        raise FloatingPointError("bootstrap draws overflowed: influence terms near the largest double; rescale")
    return out
