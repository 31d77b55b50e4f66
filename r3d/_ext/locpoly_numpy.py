"""NumPy twin of :mod:`r3d._ext._locpoly`, used only by the tests.

Built independently of the compiled kernel: the coefficients come from
``numpy.linalg.lstsq`` on ``sqrt(k) R(u)`` column by column, the coefficient weights
from the SVD pseudo-inverse ``pinv(sqrt(k) R(u)) diag(sqrt(k))``, the fitted values from
``R(u) @ coef``. Same definitions (docs/method.md §3) and same errors; the kernel
weights come from the same table, :data:`r3d.kernels.KERNELS` (the float ``K(u)`` of a row).
"""

from __future__ import annotations

import numpy as np

from r3d._validation import InsufficientDataError
from r3d.kernels import canonical_kernel, kernel_function
from r3d.locpoly import (
    RCOND_MIN,
    RESCUE_MIN_POWER,
    SideFit,
    _max_distance,
    canonical_side,
    insufficient_data_message,
)

__all__ = ["fit_side_numpy"]

_OK, _FEW_UNITS, _FEW_DISTINCT, _ILL = 0, 1, 2, 3


def _one_bandwidth(x, cutoff, h, order, kernel, side, omega=None):
    """Kernel weights (n,), active mask (n,), u (n,), coefficient weights (p+1, n), status, counts, rcond
    and the scale of the basis solved (1.0, or max|u| for a window far wider than the data)."""
    d = order + 1
    dx = x - cutoff
    on_side = dx >= 0.0 if side == "right" else dx < 0.0
    u = dx / h
    k = np.where(on_side, kernel_function(u, kernel), 0.0)
    if omega is not None:  # unit weights multiply the kernel weights
        k = k * omega
    act = k > 0.0
    n_pos = int(act.sum())
    n_distinct = int(np.unique(u[act]).size)
    cw = np.zeros((d, x.shape[0]))
    if n_pos < d:
        return k, act, u, cw, _FEW_UNITS, n_pos, min(n_distinct, d), 0.0, 1.0
    if n_distinct < d:
        return k, act, u, cw, _FEW_DISTINCT, n_pos, n_distinct, 0.0, 1.0
    sk = np.sqrt(k[act])
    scale = 1.0
    rcond = _rcond(sk, u[act], d)
    if not rcond >= RCOND_MIN:
        # a window far wider than the data: solve in the basis t = u / max|u| (as the kernel does)
        umax = float(np.abs(u[act]).max())
        if not (umax < 1.0 and umax ** (d - 1) >= RESCUE_MIN_POWER):
            return k, act, u, cw, _ILL, n_pos, d, rcond, scale
        scale = umax
        rcond = _rcond(sk, u[act] / scale, d)
        if not rcond >= RCOND_MIN:
            return k, act, u, cw, _ILL, n_pos, d, rcond, scale
    A = sk[:, None] * np.vander(u[act] / scale, d, increasing=True)
    cw[:, act] = np.linalg.pinv(A) * sk[None, :] / scale ** np.arange(d)[:, None]
    return k, act, u, cw, _OK, n_pos, d, rcond, scale


def _rcond(sk, u, d):
    """Reciprocal 1-norm condition number of the triangular factor of ``sqrt(k) R(u)``."""
    R = np.linalg.qr(sk[:, None] * np.vander(u, d, increasing=True), mode="r")
    return 1.0 / np.linalg.cond(R, 1)


def fit_side_numpy(
    x: np.ndarray,
    Y: np.ndarray,
    *,
    cutoff: float,
    h: float | np.ndarray,
    order: int,
    kernel: str,
    side: str,
    return_coef_weights: bool = False,
    unit_weights: np.ndarray | None = None,
) -> SideFit:
    """Plain-NumPy version of :func:`r3d.locpoly.fit_side` (same arguments and result)."""
    kernel = canonical_kernel(kernel)
    side = canonical_side(side)
    x = np.asarray(x, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    n, m = Y.shape
    d = order + 1
    h_arr = np.atleast_1d(np.asarray(h, dtype=np.float64)).copy()
    common = h_arr.shape[0] == 1
    m_h = 1 if common else m

    coef = np.zeros((d, m))
    fitted = np.zeros((n, m))
    weights = np.zeros((n, m_h))
    kw = np.zeros((n, m_h))
    cws = np.zeros((d, n, m_h))
    n_eff = np.zeros(m_h, dtype=np.int64)
    rconds = np.zeros(m_h)
    failures = []
    for g in range(m_h):
        k, act, u, cw, status, n_pos, n_distinct, rcond, scale = _one_bandwidth(
            x, float(cutoff), float(h_arr[g]), order, kernel, side,
            None if unit_weights is None else np.asarray(unit_weights, dtype=np.float64),
        )
        if status != _OK:
            failures.append((g, status, n_pos, n_distinct, rcond))
            continue
        kw[:, g], weights[:, g], cws[:, :, g] = k, cw[0], cw
        n_eff[g], rconds[g] = n_pos, rcond
        cols = range(m) if common else [g]
        sk = np.sqrt(k[act])
        A = sk[:, None] * np.vander(u[act] / scale, d, increasing=True)
        for j in cols:
            gamma = np.linalg.lstsq(A, sk * Y[act, j], rcond=None)[0]  # in the basis u / scale
            coef[:, j] = gamma / scale ** np.arange(d)
            fitted[act, j] = np.vander(u[act] / scale, d, increasing=True) @ gamma
    if failures:
        g, status, n_pos, n_distinct, rcond = failures[0]
        kwargs = {} if common else {"column": g, "n_failing": len(failures), "n_columns": m}
        kwargs["max_distance"] = _max_distance(x, float(cutoff), side == "right")
        raise InsufficientDataError(
            insufficient_data_message(
                side, float(cutoff), float(h_arr[g]), order, status, n_pos, n_distinct, rcond, **kwargs
            )
        )
    return SideFit(
        side=side,
        cutoff=float(cutoff),
        h=h_arr,
        order=order,
        kernel=kernel,
        coef=coef,
        weights=weights,
        kernel_weights=kw,
        fitted=fitted,
        n_effective=n_eff,
        coef_weights=cws if return_coef_weights else None,
        rcond=rconds,
    )
