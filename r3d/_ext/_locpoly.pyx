"""One-sided local polynomial fits (docs/method.md §3), compiled.

For one side of the cutoff, an order ``p``, a bandwidth ``h`` and a kernel ``K``::

    u_i = (x_i - c) / h,   k_i = K(u_i) 1{|u_i| <= 1} 1{i on the side} [* omega_i]
    alpha = argmin_a sum_i k_i (y_i - r(u_i)' a)^2,   r(u) = (1, u, ..., u^p)'

With the optional unit weights ``omega`` (n,) (METHOD_EXTENSIONS §12: cell sizes, survey
weights; positive) each kernel weight is multiplied by ``omega_i`` (one multiplication, after
``K``); without them nothing is multiplied, and a weight of 1.0 changes no bit.

The weighted least-squares problem is solved by a Householder QR factorisation of
``A = sqrt(k) R(u)`` (rows: units with ``k_i > 0``) in the scaled basis, never by the
normal equations, so the error grows with cond(A) and not with cond(A)^2 = cond(M).
The coefficient weights of unit ``i`` are ``c_i = k_i M^{-1} r(u_i) = sqrt(k_i) R^{-1} q_i``
(``q_i`` the unit's row of the thin ``Q``), and ``alpha = sum_i c_i y_i``; the intercept
weight is ``w_i = c_i[0]``.

Two entry points, both ``def`` functions that check shapes and return status codes (the
Python face ``r3d.locpoly`` turns them into ``InsufficientDataError`` messages):

``fit_common``      one bandwidth for every column of ``Y``: the factorisation and the
                    weights are computed once, then applied to all ``m`` columns,
                    cost O(n p^2 + n m p).
``fit_per_column``  one bandwidth per column; identical bandwidths are grouped and solved
                    once.

Both run on one thread: spreading their loops over threads saved at most 3 % of any
reference job (``benchmarks/results/threads.md``).

Status codes (per bandwidth): 0 ok, 1 fewer than p+1 units with positive kernel weight,
2 fewer than p+1 distinct values of u among them, 3 reciprocal condition number of
the triangular factor below ``rcond_min``, 4 out of memory.
"""

from libc.math cimport fabs, sqrt
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

from r3d._ext._checks cimport first_nonfinite

import numpy as np

MAX_ORDER = 10

STATUS_OK = 0
STATUS_TOO_FEW_UNITS = 1
STATUS_TOO_FEW_DISTINCT = 2
STATUS_ILL_CONDITIONED = 3
STATUS_NO_MEMORY = 4

cdef enum:
    _MAXD = 11  # MAX_ORDER + 1 coefficients

#: A fit whose window reaches far beyond the data is solved in the data's own scale (``_solve``) only
#: while umax^p >= this: the coefficient weights grow as umax^-k, and beyond it they could overflow.
cdef double _RESCUE_MIN_POWER = 1e-150
RESCUE_MIN_POWER = _RESCUE_MIN_POWER


cdef inline double _kernel_inside(double a, int kernel) noexcept nogil:
    """The compiled switch: K at ``a = |u|`` in [0, 1] for the kernel whose
    ``r3d.kernels.KERNELS`` row has ``code == kernel``; -1.0 for a code with no case.

    Each case performs the operations of ``Kernel.evaluate`` on the row's coefficients
    (``c_0 * (1 + (c_1/c_0) a + ...)``, the bracket by Horner's rule), so the two agree bit
    for bit (to an ulp where a compiler fuses a multiply-add); ``tests/test_kernels.py``
    checks every row against this switch. A valid kernel has K(0) > 0, so -1.0 is free.
    """
    if kernel == 0:    # triangular
        return 1.0 - a
    if kernel == 1:    # epanechnikov
        return 0.75 * (1.0 - a * a)
    if kernel == 2:    # uniform
        return 0.5
    return -1.0


cdef inline double _kernel(double u, int kernel) noexcept nogil:
    """K(u) 1{|u| <= 1} for the ``r3d.kernels.KERNELS`` row with ``code == kernel``;
    the uniform kernel includes |u| = 1."""
    cdef double a = fabs(u)
    if a > 1.0:
        return 0.0
    return _kernel_inside(a, kernel)


def _check_kernel(int kernel):
    """Refuse a kernel code the compiled switch has no case for."""
    if _kernel_inside(0.0, kernel) < 0.0:
        raise ValueError(f"unknown kernel code {kernel}: the compiled switch has no case for it "
                         f"(add one to _kernel_inside in r3d/_ext/_locpoly.pyx)")


def kernel_value(int kernel, const double[::1] u):
    """``K(u) 1{|u| <= 1}`` from the compiled switch, for tests of the switch against
    ``r3d.kernels.KERNELS``.

    Parameters
    ----------
    kernel : int, a kernel's ``code``
    u : (n,) float64, C-contiguous

    Returns
    -------
    (n,) float64
    """
    _check_kernel(kernel)
    cdef Py_ssize_t i, n = u.shape[0]
    out_arr = np.empty(n, dtype=np.float64)
    cdef double[::1] out = out_arr
    with nogil:
        for i in range(n):
            out[i] = _kernel(u[i], kernel)
    return out_arr


cdef struct Work:
    # scratch for one bandwidth; every array has room for n units
    Py_ssize_t* act      # (n,) indices of units with k_i > 0, ascending
    double* u            # (n,) u of those units
    double* k            # (n,) k_i of those units
    double* sk           # (n,) sqrt(k_i) of those units
    double* A            # (d * n,) column-major A = sqrt(k) R(u), then Householder vectors
    double* Q            # (d * n,) column-major thin Q
    double* C            # (d * n,) C[k * n_eff + a]: coefficient weights of active unit a


cdef int _work_alloc(Work* w, Py_ssize_t n, int d) noexcept nogil:
    cdef Py_ssize_t nn = n if n > 0 else 1
    w.act = <Py_ssize_t*> malloc(nn * sizeof(Py_ssize_t))
    w.u = <double*> malloc(nn * sizeof(double))
    w.k = <double*> malloc(nn * sizeof(double))
    w.sk = <double*> malloc(nn * sizeof(double))
    w.A = <double*> malloc(nn * d * sizeof(double))
    w.Q = <double*> malloc(nn * d * sizeof(double))
    w.C = <double*> malloc(nn * d * sizeof(double))
    if (w.act == NULL or w.u == NULL or w.k == NULL or w.sk == NULL or w.A == NULL or w.Q == NULL
            or w.C == NULL):
        return 4
    return 0


cdef void _work_free(Work* w) noexcept nogil:
    free(w.act)
    free(w.u)
    free(w.k)
    free(w.sk)
    free(w.A)
    free(w.Q)
    free(w.C)


cdef int _factor(const Work* w, Py_ssize_t ne, int d, double scale, double* taus, double* R,
                 double* Ri, double rcond_min, double* rcond_out) noexcept nogil:
    """Steps 2-4 of :func:`_solve`: QR of ``A = sqrt(k) R(u / scale)`` (Householder vectors left in
    ``w.A``), ``R^{-1}`` and the reciprocal condition number; returns 0 or 3 (ill-conditioned)."""
    cdef Py_ssize_t a, b, j, l, k
    cdef double v, t, s, nrm, x0, beta, tau, acc, norm_r, norm_ri, col
    cdef double* A = w.A

    rcond_out[0] = 0.0
    # 2. A = sqrt(k) R(t), t = u / scale, column-major (ne x d); scale is 1.0 unless
    #    _solve rescues a window that reaches far beyond the data
    for a in range(ne):
        v = w.sk[a]
        t = w.u[a] if scale == 1.0 else w.u[a] / scale
        for k in range(d):
            A[k * ne + a] = v
            v = v * t

    # 3. Householder QR (LAPACK dgeqr2 convention: v[0] = 1 implicit, H = I - tau v v')
    for j in range(d):
        nrm = 0.0
        for a in range(j + 1, ne):
            nrm = nrm + A[j * ne + a] * A[j * ne + a]
        x0 = A[j * ne + j]
        if nrm == 0.0:
            taus[j] = 0.0
            continue
        nrm = sqrt(x0 * x0 + nrm)
        beta = -nrm if x0 >= 0.0 else nrm
        tau = (beta - x0) / beta
        s = 1.0 / (x0 - beta)
        for a in range(j + 1, ne):
            A[j * ne + a] = A[j * ne + a] * s
        A[j * ne + j] = beta
        taus[j] = tau
        for l in range(j + 1, d):
            acc = A[l * ne + j]
            for a in range(j + 1, ne):
                acc = acc + A[j * ne + a] * A[l * ne + a]
            acc = tau * acc
            A[l * ne + j] = A[l * ne + j] - acc
            for a in range(j + 1, ne):
                A[l * ne + a] = A[l * ne + a] - acc * A[j * ne + a]
    for j in range(d):
        for l in range(d):
            R[j * d + l] = A[l * ne + j] if l >= j else 0.0

    # 4. R^{-1} (upper triangular) and rcond = 1 / (|R|_1 |R^{-1}|_1)
    for j in range(d):
        if R[j * d + j] == 0.0:
            return 3
    for l in range(d):                 # column l of R^{-1}: solve R y = e_l
        for j in range(d):
            Ri[j * d + l] = 0.0
        Ri[l * d + l] = 1.0 / R[l * d + l]
        for j in range(l - 1, -1, -1):
            acc = 0.0
            for b in range(j + 1, l + 1):
                acc = acc + R[j * d + b] * Ri[b * d + l]
            Ri[j * d + l] = -acc / R[j * d + j]
    norm_r = 0.0
    norm_ri = 0.0
    for l in range(d):
        col = 0.0
        for j in range(l + 1):
            col = col + fabs(R[j * d + l])
        if col > norm_r:
            norm_r = col
        col = 0.0
        for j in range(l + 1):
            col = col + fabs(Ri[j * d + l])
        if col > norm_ri:
            norm_ri = col
    rcond_out[0] = 1.0 / (norm_r * norm_ri)
    if not (rcond_out[0] >= rcond_min):
        return 3
    return 0


cdef int _solve(const Py_ssize_t* cand, const double* dxs, Py_ssize_t n_cand, double h,
                int p, int kernel, double rcond_min, Work* w, Py_ssize_t* n_eff_out,
                Py_ssize_t* n_distinct_out, double* rcond_out, const double* om) noexcept nogil:
    """Coefficient weights for one bandwidth into ``w.C`` (compact over active units).

    ``cand`` (ascending) are the units on the side, ``dxs`` their ``x - c``; ``om`` the unit
    weights of all n units (indexed by ``cand``), or NULL for none.

    Returns a status code; ``n_eff_out`` counts units with k_i > 0, ``n_distinct_out``
    the distinct u among them (counting stops at p+1), ``rcond_out`` the reciprocal
    1-norm condition number of the triangular factor (0 when not computed).
    """
    cdef int d = p + 1
    cdef int st
    cdef Py_ssize_t i, a, ne = 0, nd = 0, b, j, l, k
    cdef double u, kv, s, tau, acc, umax = 1.0, pw, rc_scaled = 0.0
    cdef double taus[_MAXD]
    cdef double R[_MAXD * _MAXD]      # R[j * d + l], upper triangle
    cdef double Ri[_MAXD * _MAXD]     # R^{-1}, upper triangle
    cdef double distinct[_MAXD]
    cdef bint seen, rescaled = False
    cdef double* A = w.A
    cdef double* Q = w.Q

    rcond_out[0] = 0.0
    # 1. kernel weights, active set, distinct u (up to d of them)
    for i in range(n_cand):
        u = dxs[i] / h
        kv = _kernel(u, kernel)
        if kv > 0.0 and om != NULL:
            kv = kv * om[cand[i]]
        if kv > 0.0:
            w.act[ne] = cand[i]
            w.u[ne] = u
            w.k[ne] = kv
            w.sk[ne] = sqrt(kv)
            ne += 1
            if nd < d:
                seen = False
                for b in range(nd):
                    if distinct[b] == u:
                        seen = True
                        break
                if not seen:
                    distinct[nd] = u
                    nd += 1
    n_eff_out[0] = ne
    n_distinct_out[0] = nd
    if ne < d:
        return 1
    if nd < d:
        return 2

    # 2.-4. QR of sqrt(k) R(u), R^{-1} and rcond. A window far wider than the data (|u| <= umax << 1)
    # makes the columns u^k tiny and R ill-conditioned only through their scale: the fit is then
    # solved in the basis t = u / umax (the data's own spread, |t| <= 1) and the coefficient
    # weights are scaled back to the basis u, row k by umax^-k. Only a fit that fails in the basis
    # u takes this path, so every fit that succeeded before keeps its bits.
    st = _factor(w, ne, d, 1.0, taus, R, Ri, rcond_min, rcond_out)
    if st != 0:
        umax = 0.0
        for a in range(ne):
            if fabs(w.u[a]) > umax:
                umax = fabs(w.u[a])
        pw = 1.0
        for k in range(d - 1):
            pw = pw * umax
        if not (umax < 1.0 and pw >= _RESCUE_MIN_POWER):
            return st
        st = _factor(w, ne, d, umax, taus, R, Ri, rcond_min, &rc_scaled)
        if st != 0:
            rcond_out[0] = rc_scaled
            return st
        rescaled = True
        rcond_out[0] = rc_scaled

    # 5. thin Q = H_0 ... H_{d-1} [I; 0] (LAPACK dorg2r)
    for l in range(d):
        for a in range(ne):
            Q[l * ne + a] = 0.0
        Q[l * ne + l] = 1.0
    for j in range(d - 1, -1, -1):
        tau = taus[j]
        if tau == 0.0:
            continue
        for l in range(j, d):
            acc = Q[l * ne + j]
            for a in range(j + 1, ne):
                acc = acc + A[j * ne + a] * Q[l * ne + a]
            acc = tau * acc
            Q[l * ne + j] = Q[l * ne + j] - acc
            for a in range(j + 1, ne):
                Q[l * ne + a] = Q[l * ne + a] - acc * A[j * ne + a]

    # 6. C[:, a] = sqrt(k_a) R^{-1} q_a, row by row of R^{-1} (streams over units)
    for k in range(d):
        s = Ri[k * d + k]
        for a in range(ne):
            w.C[k * ne + a] = s * Q[k * ne + a]
        for l in range(k + 1, d):
            s = Ri[k * d + l]
            for a in range(ne):
                w.C[k * ne + a] = w.C[k * ne + a] + s * Q[l * ne + a]
        for a in range(ne):
            w.C[k * ne + a] = w.C[k * ne + a] * w.sk[a]
    if rescaled:  # coefficient weights of the basis t = u / umax -> of the basis u: row k / umax^k
        pw = 1.0
        for k in range(1, d):
            pw = pw * umax
            for a in range(ne):
                w.C[k * ne + a] = w.C[k * ne + a] / pw
    return 0


cdef void _apply_column_t(const Work* w, Py_ssize_t ne, int d, const double* yt,
                          Py_ssize_t j, double[:, ::1] coef, double* ft) noexcept nogil:
    """coef[:, j] = C Y[act, j]; fitted[act, j] = R(u) coef[:, j] (one column), on transposed
    storage: ``yt`` and ``ft`` are column j of Y and of the fitted values, contiguous (rows j
    of Y.T and fitted.T), so the unit loop streams through memory."""
    cdef Py_ssize_t a, k
    cdef double y, f
    cdef double acc[_MAXD]
    for k in range(d):
        acc[k] = 0.0
    for a in range(ne):
        y = yt[w.act[a]]
        for k in range(d):
            acc[k] = acc[k] + w.C[k * ne + a] * y
    for k in range(d):
        coef[k, j] = acc[k]
    for a in range(ne):
        f = acc[d - 1]
        for k in range(d - 2, -1, -1):
            f = f * w.u[a] + acc[k]
        ft[w.act[a]] = f


def _check(const double[::1] x, const double[:, ::1] Y, int order, int kernel):
    if Y.shape[0] != x.shape[0]:
        raise ValueError(f"Y has {Y.shape[0]} rows but x has {x.shape[0]} entries")
    if order < 0 or order > MAX_ORDER:
        raise ValueError(f"order must be in [0, {MAX_ORDER}], got {order}")
    _check_kernel(kernel)
    # NaN x would silently fall on neither side, NaN Y would give NaN coefficients: refuse both
    cdef Py_ssize_t bad_x = -1, bad_y = -1
    with nogil:
        if x.shape[0]:
            bad_x = first_nonfinite(&x[0], x.shape[0])
        if Y.shape[0] and Y.shape[1]:
            bad_y = first_nonfinite(&Y[0, 0], Y.shape[0] * Y.shape[1])
    if bad_x >= 0:
        raise ValueError(f"x must be finite; x[{bad_x}] = {x[bad_x]!r}")
    if bad_y >= 0:
        raise ValueError(f"Y must be finite; entry {divmod(bad_y, Y.shape[1])} = {Y[bad_y // Y.shape[1], bad_y % Y.shape[1]]!r}")


def _finite_outputs(*arrays):
    """Finite inputs of extreme magnitude (1e300) can overflow: raise instead of returning inf/NaN."""
    for a in arrays:
        if a is not None and not np.isfinite(a).all():
            raise FloatingPointError("local polynomial fit overflowed: outcomes or running variable of extreme "
                                     "magnitude; rescale them")


def _check_h(h):
    h = np.asarray(h, dtype=np.float64)
    if not (np.isfinite(h).all() and (h > 0).all()):
        raise ValueError("bandwidths must be finite and > 0")


def _side_candidates(const double[::1] x, double cutoff, bint right):
    """Units on the side (ascending) and their ``x - c``."""
    dx = np.asarray(x) - cutoff
    cand = np.flatnonzero(dx >= 0.0 if right else dx < 0.0).astype(np.intp)
    return cand, np.ascontiguousarray(dx[cand])


def _check_omega(omega, Py_ssize_t n):
    """The unit weights: None, or (n,) float64 C-contiguous, finite and > 0."""
    if omega is None:
        return None
    om = np.asarray(omega)
    if om.dtype != np.float64 or om.ndim != 1 or om.shape[0] != n or not om.flags.c_contiguous:
        raise ValueError(f"omega must be a C-contiguous float64 array of shape ({n},)")
    if not (np.isfinite(om).all() and (om > 0).all()):
        raise ValueError("omega must be finite and > 0")
    return om


def fit_common(const double[::1] x, const double[:, ::1] Y, double cutoff, double h,
               int order, int kernel, bint right, double rcond_min,
               bint want_coef_weights=False, omega=None):
    """One bandwidth for all columns of ``Y``.

    Parameters
    ----------
    x : (n,) float64, C-contiguous
    Y : (n, m) float64, C-contiguous
    cutoff, h : float
    order : int in [0, MAX_ORDER]
    kernel : int, the ``code`` of a row of ``r3d.kernels.KERNELS``
    right : bool, True for the side x >= cutoff
    rcond_min : float, smallest accepted reciprocal condition number
    want_coef_weights : bool
    omega : (n,) float64, C-contiguous, finite and > 0, or None
        Unit weights multiplying the kernel weights.

    Returns
    -------
    status : int
    n_eff, n_distinct : int
    rcond : float
    coef : (p+1, m); weights, kernel_weights : (n, 1) (k_i omega_i with unit weights); fitted : (n, m)
    coef_weights : (p+1, n, 1) or None
    """
    _check(x, Y, order, kernel)
    _check_h(h)
    cdef Py_ssize_t n = x.shape[0], m = Y.shape[1]
    om_arr = _check_omega(omega, n)
    cdef const double[::1] om_v
    cdef const double* om_p = NULL
    if om_arr is not None:
        om_v = om_arr
        om_p = &om_v[0] if n > 0 else NULL
    cdef int d = order + 1
    cdef Py_ssize_t ne = 0, nd = 0, a, k, i
    cdef double rc = 0.0
    cdef int status
    cdef Work w

    coef_arr = np.zeros((d, m), dtype=np.float64)
    weights_arr = np.zeros((n, 1), dtype=np.float64)
    kw_arr = np.zeros((n, 1), dtype=np.float64)
    fitted_arr = np.zeros((n, m), dtype=np.float64)
    cw_arr = np.zeros((d, n, 1), dtype=np.float64) if want_coef_weights else None
    cdef double[:, ::1] coef = coef_arr
    cdef double[:, ::1] weights = weights_arr
    cdef double[:, ::1] kw = kw_arr
    cdef double[:, ::1] fitted = fitted_arr
    cdef double[:, :, ::1] cwv

    cand_arr, dxs_arr = _side_candidates(x, cutoff, right)
    cdef const Py_ssize_t[::1] cand = cand_arr
    cdef const double[::1] dxs = dxs_arr
    cdef Py_ssize_t n_cand = cand.shape[0]

    status = _work_alloc(&w, n_cand, d)
    if status != 0:
        _work_free(&w)
        raise MemoryError("locpoly: cannot allocate scratch for the local polynomial fit")
    try:
        with nogil:
            status = _solve(&cand[0] if n_cand > 0 else NULL,
                            &dxs[0] if n_cand > 0 else NULL, n_cand, h, order, kernel,
                            rcond_min, &w, &ne, &nd, &rc, om_p)
        if status != 0:
            return status, ne, nd, rc, None, None, None, None, None
        with nogil:
            for a in range(ne):
                i = w.act[a]
                kw[i, 0] = w.k[a]
                weights[i, 0] = w.C[a]
            _coef(&w, ne, d, Y, m, coef)  # coef = C Y[act], each entry summed over units in ascending order
            for a in range(ne):
                _fitted_row(w.u[a], d, coef, &fitted[w.act[a], 0], m)
        if want_coef_weights:
            cwv = cw_arr
            for a in range(ne):
                for k in range(d):
                    cwv[k, w.act[a], 0] = w.C[k * ne + a]
        # fitted is 0.0 off the active rows: check only those (no whole-matrix pass)
        with nogil:
            for a in range(ne):
                if first_nonfinite(&fitted[w.act[a], 0], m) >= 0:
                    status = -1
                    break
        if status != 0:
            _finite_outputs(np.array([np.inf]))
        _finite_outputs(coef_arr, weights_arr, cw_arr)
        return status, ne, nd, rc, coef_arr, weights_arr, kw_arr, fitted_arr, cw_arr
    finally:
        _work_free(&w)


cdef void _coef(const Work* w, Py_ssize_t ne, int d, const double[:, ::1] Y, Py_ssize_t m,
                double[:, ::1] coef) noexcept nogil:
    """coef[k, j] += C[k, a] Y[act[a], j] for a = 0, 1, ..., ne - 1 in that order."""
    cdef Py_ssize_t a, k, j
    cdef double cw
    cdef const double* yrow
    cdef double* crow
    for a in range(ne):
        yrow = &Y[w.act[a], 0]
        for k in range(d):
            cw = w.C[k * ne + a]
            crow = &coef[k, 0]
            for j in range(m):
                crow[j] = crow[j] + cw * yrow[j]


cdef void _fitted_row(double u, int d, const double[:, ::1] coef, double* out,
                      Py_ssize_t m) noexcept nogil:
    """out[j] = sum_k coef[k, j] u^k by Horner's rule."""
    cdef Py_ssize_t j
    cdef int k
    cdef const double* crow = &coef[d - 1, 0]
    for j in range(m):
        out[j] = crow[j]
    for k in range(d - 2, -1, -1):
        crow = &coef[k, 0]
        for j in range(m):
            out[j] = out[j] * u + crow[j]


def fit_per_column(const double[::1] x, const double[:, ::1] Y, double cutoff,
                   const double[::1] h, int order, int kernel, bint right,
                   double rcond_min, bint want_coef_weights=False, omega=None):
    """One bandwidth per column of ``Y`` (``h`` has shape (m,)); ``omega`` as in :func:`fit_common`.

    Identical bandwidths are solved once. Returns ``status`` (m,) int32,
    ``n_eff`` (m,) int64, ``n_distinct`` (m,) int64, ``rcond`` (m,), ``coef`` (p+1, m),
    ``weights`` and ``kernel_weights`` (n, m), ``fitted`` (n, m) and ``coef_weights``
    (p+1, n, m) or None. Columns whose status is not 0 hold zeros.
    """
    _check(x, Y, order, kernel)
    _check_h(h)
    cdef Py_ssize_t n = x.shape[0], m = Y.shape[1]
    if h.shape[0] != m:
        raise ValueError(f"h has {h.shape[0]} entries but Y has {m} columns")
    om_arr = _check_omega(omega, n)
    cdef const double[::1] om_v
    cdef const double* om_p = NULL
    if om_arr is not None:
        om_v = om_arr
        om_p = &om_v[0] if n > 0 else NULL
    cdef int d = order + 1
    # group identical bandwidths: group g holds columns members[starts[g]:starts[g+1]]
    h_np = np.asarray(h)
    uniq, inverse = np.unique(h_np, return_inverse=True)
    order_idx = np.argsort(inverse, kind="stable").astype(np.intp)
    counts = np.bincount(inverse, minlength=uniq.shape[0])
    starts_np = np.zeros(uniq.shape[0] + 1, dtype=np.intp)
    np.cumsum(counts, out=starts_np[1:])
    cdef Py_ssize_t[::1] members = order_idx
    cdef Py_ssize_t[::1] starts = starts_np
    cdef Py_ssize_t n_groups = uniq.shape[0]

    status_arr = np.zeros(m, dtype=np.int32)
    ne_arr = np.zeros(m, dtype=np.int64)
    nd_arr = np.zeros(m, dtype=np.int64)
    rc_arr = np.zeros(m, dtype=np.float64)
    coef_arr = np.zeros((d, m), dtype=np.float64)
    # Each group writes whole columns: build the (n, m) outputs transposed, (m, n), so that a
    # column is contiguous, and transpose once at the end (column writes into row-major
    # arrays cost a cache miss per entry). Y is read through its transpose likewise.
    weights_t = np.zeros((m, n), dtype=np.float64)
    kw_t = np.zeros((m, n), dtype=np.float64)
    fitted_t = np.zeros((m, n), dtype=np.float64)
    cw_t = np.zeros((d, m, n), dtype=np.float64) if want_coef_weights else np.zeros((d, 1, 0))
    yt_arr = np.ascontiguousarray(np.asarray(Y).T)
    cdef int[::1] status = status_arr
    cdef int64_t[::1] ne_v = ne_arr
    cdef int64_t[::1] nd_v = nd_arr
    cdef double[::1] rc_v = rc_arr
    cdef double[:, ::1] coef = coef_arr
    cdef double[:, ::1] weights = weights_t
    cdef double[:, ::1] kw = kw_t
    cdef double[:, ::1] fitted = fitted_t
    cdef double[:, :, ::1] cwv = cw_t
    cdef const double[:, ::1] yt = yt_arr
    cdef bint want_cw = want_coef_weights
    cand_arr, dxs_arr = _side_candidates(x, cutoff, right)
    cdef const Py_ssize_t[::1] cand = cand_arr
    cdef const double[::1] dxs = dxs_arr
    cdef Py_ssize_t n_cand = cand.shape[0]
    cdef const Py_ssize_t* cand_p = &cand[0] if n_cand > 0 else NULL
    cdef const double* dxs_p = &dxs[0] if n_cand > 0 else NULL

    cdef Py_ssize_t g, t, j, a, k, ne, nd
    cdef double rc
    cdef int st
    cdef Work* w
    w = NULL

    with nogil:
        w = <Work*> malloc(sizeof(Work))
        if w != NULL:
            if _work_alloc(w, n_cand, d) != 0:
                _work_free(w)
                free(w)
                w = NULL
        for g in range(n_groups):
            if w == NULL:
                for t in range(starts[g], starts[g + 1]):
                    status[members[t]] = 4
                continue
            ne = 0
            nd = 0
            rc = 0.0
            st = _solve(cand_p, dxs_p, n_cand, h[members[starts[g]]], order, kernel,
                        rcond_min, w, &ne, &nd, &rc, om_p)
            for t in range(starts[g], starts[g + 1]):
                j = members[t]
                status[j] = st
                ne_v[j] = ne
                nd_v[j] = nd
                rc_v[j] = rc
                if st != 0:
                    continue
                for a in range(ne):
                    kw[j, w.act[a]] = w.k[a]
                    weights[j, w.act[a]] = w.C[a]
                if want_cw:
                    for k in range(d):
                        for a in range(ne):
                            cwv[k, j, w.act[a]] = w.C[k * ne + a]
                if n > 0:
                    _apply_column_t(w, ne, d, &yt[j, 0], j, coef, &fitted[j, 0])
        if w != NULL:
            _work_free(w)
            free(w)

    weights_arr = np.ascontiguousarray(weights_t.T)
    kw_arr = np.ascontiguousarray(kw_t.T)
    fitted_arr = np.ascontiguousarray(fitted_t.T)
    del weights_t, kw_t, fitted_t
    cw_arr = np.ascontiguousarray(cw_t.transpose(0, 2, 1)) if want_coef_weights else None
    _finite_outputs(coef_arr, weights_arr, fitted_arr, cw_arr)
    return (status_arr, ne_arr, nd_arr, rc_arr, coef_arr, weights_arr, kw_arr, fitted_arr, cw_arr)
