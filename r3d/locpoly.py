"""One-sided local polynomial fits: the kernel of every estimator (docs/method.md §3).

For a side s of the cutoff c, an order p, a bandwidth h and a kernel K on [-1, 1]::

    u_i = (X_i - c) / h
    k_i = K(u_i) 1{|u_i| <= 1} 1{i on side s}
    M   = sum_i k_i r(u_i) r(u_i)',     r(u) = (1, u, ..., u^p)'
    w_i = k_i e_0' M^{-1} r(u_i)                   (intercept weights, sum to 1)
    alpha_s(q_j) = M^{-1} sum_i k_i r(u_i) Q_i(q_j) (scaled basis: alpha_k = beta_k h^k)

With unit weights omega_i (cell sizes, survey weights; METHOD_EXTENSIONS §12) ``k_i`` is
``K(u_i) 1{...} omega_i`` throughout, as rdrobust's ``weights=``; the HC0 variance and the
bootstrap, which read only the intercept weights, carry omega_i through them.

The right side is ``x >= c`` (the cutoff itself is treated), the left side ``x < c``.
The numbers come from the compiled kernel :mod:`r3d._ext._locpoly` (a Householder QR of
``sqrt(k) R(u)`` in the scaled basis); this module validates, chooses the common or the
per-column path and turns failure codes into :class:`r3d.InsufficientDataError`.

A bandwidth far beyond the data (every ``|u| <= umax << 1``) shrinks the columns ``u^k`` and
makes the system ill-conditioned through their scale alone; such a fit is solved in the basis
``t = u / umax`` (the data's own spread) and reported in the basis ``u``. The fit then tends to
the global polynomial on the side: identical for every ``h`` beyond the largest ``|x - c|`` under
the uniform kernel, with kernel weights tending to uniform ones for the others. Only fits that
fail in the basis ``u`` take that path, so no other number changes.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from r3d._ext import _locpoly
from r3d._validation import (
    InsufficientDataError,
    check_choice,
    check_int,
    check_positive,
    message,
    resolve_n_jobs,
)

# The kernel registry; re-exported here, where these names lived before it existed.
from r3d.kernels import KERNEL_ALIASES, KERNELS, canonical_kernel, kernel_function

__all__ = [
    "KERNELS",
    "KERNEL_ALIASES",
    "SIDES",
    "SIDE_ALIASES",
    "MAX_ORDER",
    "RCOND_MIN",
    "RESCUE_MIN_POWER",
    "SideFit",
    "canonical_kernel",
    "canonical_side",
    "kernel_function",
    "fit_side",
    "resolve_n_jobs",
    "insufficient_data_message",
]

SIDES = ("left", "right")  # right = treated side x >= cutoff (the cutoff itself); left = x < cutoff
SIDE_ALIASES = {"plus": "right", "+": "right", "minus": "left", "-": "left"}

#: Highest polynomial order the kernel accepts.
MAX_ORDER = _locpoly.MAX_ORDER

#: Smallest accepted reciprocal 1-norm condition number of the triangular factor R of
#: sqrt(k) R(u) (R'R = M). Below it the weights keep fewer than ~6 of 16 digits.
#: A well-spread design at p = 10 has ~2e-8, at p = 2 ~3e-2.
RCOND_MIN = 1e-10

#: A fit ill-conditioned in the basis u = (x - c) / h is solved in the basis u / max|u| when the
#: window reaches beyond the data, while max|u|^p is at least this (smaller: the coefficients in
#: the basis u, of size max|u|^-k, could overflow; the message then names the bandwidth).
RESCUE_MIN_POWER = _locpoly.RESCUE_MIN_POWER

def canonical_side(side: str) -> str:
    """Canonical side name: ``"right"`` (x >= cutoff) or ``"left"`` (x < cutoff)."""
    return check_choice("side", side, SIDES, SIDE_ALIASES)


@dataclass(frozen=True, slots=True)
class SideFit:
    """One-sided local polynomial fit of the ``m`` columns of ``Y``.

    ``n`` units, ``m`` columns (quantile levels), ``p = order``; ``m_h`` is 1 for a
    common bandwidth and ``m`` for one bandwidth per column. Column ``j`` of ``Y`` uses
    bandwidth ``h[0]`` (common) or ``h[j]``, and likewise column 0 or ``j`` of every
    ``(n, m_h)`` array.

    Attributes
    ----------
    side : str
        ``"right"`` (x >= cutoff) or ``"left"`` (x < cutoff).
    cutoff : float
    h : ndarray, shape (m_h,)
        Bandwidths.
    order : int
        Polynomial order p.
    kernel : str
        Canonical kernel name.
    coef : ndarray, shape (p+1, m)
        Coefficients alpha in the scaled basis ``u = (x - c) / h``
        (``alpha_k = beta_k h^k``); row 0 is the limit m_hat_side(q_j).
    weights : ndarray, shape (n, m_h)
        Intercept weights ``w_i = k_i e_0' M^{-1} r(u_i)``; zero off the side and outside
        the window, sum to 1 over units, often negative near the window's edge.
    kernel_weights : ndarray, shape (n, m_h)
        ``k_i = K(u_i) 1{|u_i| <= 1} 1{i on the side}`` (times the unit weight ``omega_i``
        when the fit has unit weights).
    fitted : ndarray, shape (n, m)
        ``r(u_i)' coef[:, j]`` for units with ``k_i > 0`` (under column j's bandwidth);
        0.0 elsewhere.
    n_effective : ndarray, shape (m_h,), int64
        Units with ``k_i > 0``.
    coef_weights : ndarray, shape (p+1, n, m_h), or None
        ``coef_weights[:, i, g] = k_i M^{-1} r(u_i)`` (zero for units with ``k_i = 0``),
        so ``coef[:, j] = coef_weights[:, :, g] @ Y[:, j]``; row 0 equals ``weights``.
        Only with ``return_coef_weights=True``.
    rcond : ndarray, shape (m_h,), or None
        Reciprocal 1-norm condition number of the triangular factor of
        ``sqrt(k) r(u)'`` (the accepted minimum is :data:`RCOND_MIN`); of ``sqrt(k) r(u / max|u|)'``
        for a window far wider than the data (see the module docstring).
    """

    side: str
    cutoff: float
    h: np.ndarray
    order: int
    kernel: str
    coef: np.ndarray
    weights: np.ndarray
    kernel_weights: np.ndarray
    fitted: np.ndarray
    n_effective: np.ndarray
    coef_weights: np.ndarray | None
    rcond: np.ndarray | None = None

    @property
    def intercept(self) -> np.ndarray:
        """The limits m_hat_side(q_j), shape (m,): ``coef[0]``."""
        return self.coef[0]


def _side_text(side: str, cutoff: float) -> str:
    return f"right side (x >= {cutoff!r})" if side == "right" else f"left side (x < {cutoff!r})"


def insufficient_data_message(
    side: str,
    cutoff: float,
    h: float,
    order: int,
    status: int,
    n_positive: int,
    n_distinct: int,
    rcond: float = 0.0,
    *,
    column: int | None = None,
    n_failing: int = 1,
    n_columns: int = 1,
    max_distance: float | None = None,
) -> str:
    """The text of :class:`InsufficientDataError` for one failed fit.

    Names the side, the bandwidth, the count of units with positive kernel weight and
    the fix; ``column`` (per-column bandwidths) names the offending column. ``max_distance``,
    the largest ``|x - c|`` on the side, turns the fix of an ill-conditioned fit whose window
    already holds every unit of the side away from "a larger bandwidth", which cannot help.
    """
    d = order + 1
    where = f"{_side_text(side, cutoff)}, bandwidth h = {h:.6g}"
    if column is not None:
        where += f" (quantile column {column}"
        where += f"; {n_failing} of {n_columns} columns fail)" if n_failing > 1 else ")"
    if status == _locpoly.STATUS_TOO_FEW_UNITS:
        what = (
            f"expected at least {d} units with positive kernel weight for a local "
            f"polynomial of order {order}; got {n_positive} units with positive kernel weight"
        )
    elif status == _locpoly.STATUS_TOO_FEW_DISTINCT:
        what = (
            f"expected at least {d} distinct values of x among the units with positive "
            f"kernel weight for a local polynomial of order {order}; got {n_positive} units "
            f"with positive kernel weight at only {n_distinct} distinct x"
        )
    elif status == _locpoly.STATUS_ILL_CONDITIONED:
        what = (
            f"expected a well-conditioned local polynomial system of order {order}; got "
            f"reciprocal condition number {rcond:.3g} < {RCOND_MIN:g} with {n_positive} "
            f"units with positive kernel weight"
        )
    else:  # pragma: no cover - out of memory
        raise MemoryError(f"{where}: cannot allocate scratch memory for the fit")
    if status == _locpoly.STATUS_ILL_CONDITIONED and max_distance is not None and h >= max_distance:
        far = h > max_distance * RESCUE_MIN_POWER ** (-1.0 / order) if order else False
        fix = (f"The bandwidth already covers every unit on this side (the largest |x - c| is "
               f"{max_distance:.6g}), so a larger one cannot help: "
               + ("use `bandwidth` within a few times the data's range (the fit is then the global "
                  "polynomial on the side)." if far else
                  "the running variable has too little spread on this side for this order; use a lower order."))
        return f"{where}: {what}. {fix}"
    return f"{where}: {what}. Use a larger bandwidth or a lower order."


def _as_float_1d(name: str, value: object) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(message(name, "a 1-d array of real numbers", type(value).__name__)) from None
    if arr.ndim != 1:
        raise ValueError(message(name, "a 1-d array (one entry per unit)", arr))
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            message(name, "finite (no NaN or inf)", f"<{int(np.sum(~np.isfinite(arr)))} non-finite entries>",
                    "Drop or impute the missing values first.")
        )
    return np.ascontiguousarray(arr)


def _as_outcome_matrix(Y: object, n: int) -> np.ndarray:
    try:
        arr = np.asarray(Y, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(message("Y", "an (n, m) array of real numbers", type(Y).__name__)) from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(message("Y", f"an array of shape ({n}, m) or ({n},), one row per unit", arr))
    if arr.shape[1] == 0:
        raise ValueError(message("Y", "an array with at least one column", arr))
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            message("Y", "finite (no NaN or inf)", f"<{int(np.sum(~np.isfinite(arr)))} non-finite entries>",
                    "Drop or impute the missing values first.")
        )
    return np.ascontiguousarray(arr)


def _as_bandwidths(h: object, m: int) -> np.ndarray:
    """(1,) for a common bandwidth, (m,) for one per column."""
    if isinstance(h, numbers.Real) or (isinstance(h, np.ndarray) and h.ndim == 0):
        return np.array([check_positive("h", float(h))])
    try:
        arr = np.asarray(h, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(message("h", "a positive number or an array of them", type(h).__name__)) from None
    if arr.ndim != 1 or arr.shape[0] not in (1, m):
        raise ValueError(message("h", f"a positive number or an array of shape ({m},)", arr))
    if not np.all(np.isfinite(arr) & (arr > 0)):
        bad = int(np.flatnonzero(~(np.isfinite(arr) & (arr > 0)))[0])
        raise ValueError(message("h", "finite and > 0 everywhere", f"<h[{bad}] = {arr[bad]!r}>"))
    return np.ascontiguousarray(arr)


def fit_side(
    x: np.ndarray,
    Y: np.ndarray,
    *,
    cutoff: float,
    h: float | np.ndarray,
    order: int,
    kernel: str,
    side: str,
    return_coef_weights: bool = False,
    n_jobs: int | None = None,
    unit_weights: np.ndarray | None = None,
) -> SideFit:
    """Local polynomial fit on one side of the cutoff for every column of ``Y``.

    Parameters
    ----------
    x : array_like, shape (n,)
        Running variable, one entry per unit.
    Y : array_like, shape (n, m) or (n,)
        Outcomes, one row per unit (e.g. the unit quantile matrix); ``(n,)`` is ``m = 1``.
    cutoff : float
        The cutoff c.
    h : float or array_like, shape (m,)
        A common bandwidth (the factorisation and weights are computed once and reused
        for all columns: cost O(n p^2 + n m p)), or one bandwidth per column.
    order : int
        Polynomial order p, 0 to :data:`MAX_ORDER`.
    kernel : str
        A name in :data:`r3d.kernels.KERNELS` or a short form
        (:data:`r3d.kernels.KERNEL_ALIASES`).
    side : str
        ``"right"`` (x >= cutoff, treated) or ``"left"`` (x < cutoff).
    return_coef_weights : bool, default False
        Also return the weights of every coefficient (``SideFit.coef_weights``).
    n_jobs : int or None
        Accepted for compatibility and validated; it has no effect: r3d runs on one
        thread (``benchmarks/results/threads.md``).
    unit_weights : array_like, shape (n,), optional
        Positive unit weights omega_i multiplying the kernel weights (rdrobust's ``weights=``).

    Returns
    -------
    SideFit

    Raises
    ------
    InsufficientDataError
        Fewer than p+1 units with positive kernel weight, fewer than p+1 distinct x among
        them, or an ill-conditioned system (reciprocal condition number below
        :data:`RCOND_MIN`). The message names the side, the bandwidth (and the column for
        per-column bandwidths), the count of units with positive kernel weight and the fix.
    """
    kernel = canonical_kernel(kernel)
    side = canonical_side(side)
    order = check_int("order", order, low=0, high=MAX_ORDER)
    resolve_n_jobs(n_jobs)
    if isinstance(cutoff, bool) or not isinstance(cutoff, numbers.Real) or not np.isfinite(cutoff):
        raise ValueError(message("cutoff", "a finite real number", cutoff))
    x = _as_float_1d("x", x)
    Y = _as_outcome_matrix(Y, x.shape[0])
    omega = None
    if unit_weights is not None:
        omega = _as_float_1d("unit_weights", unit_weights)
        if omega.shape[0] != x.shape[0] or not (omega > 0).all():
            raise ValueError(message("unit_weights", f"an array of {x.shape[0]} positive numbers (one per unit)",
                                     omega))
    return _fit_side(x, Y, cutoff=float(cutoff), h=_as_bandwidths(h, Y.shape[1]), order=order, kernel=kernel,
                     side=side, return_coef_weights=bool(return_coef_weights), omega=omega)


def _max_distance(x: np.ndarray, cutoff: float, right: bool) -> float | None:
    """The largest |x - c| on the side (None for an empty side)."""
    dx = x - cutoff
    dx = dx[dx >= 0.0] if right else -dx[dx < 0.0]
    return float(dx.max()) if dx.size else None


def _fit_side(x: np.ndarray, Y: np.ndarray, *, cutoff: float, h: np.ndarray, order: int, kernel: str, side: str,
              return_coef_weights: bool = False, omega: np.ndarray | None = None) -> SideFit:
    """:func:`fit_side` on validated inputs: C-contiguous float64 ``x`` (n,) and ``Y`` (n, m), ``h`` (1,)
    or (m,) positive, canonical ``kernel`` and ``side``; ``omega`` (n,) positive unit weights or None."""
    m = Y.shape[1]
    h_arr = h
    kcode = KERNELS[kernel].code
    right = side == "right"

    if h_arr.shape[0] == 1:
        status, ne, nd, rc, coef, weights, kw, fitted, cw = _locpoly.fit_common(
            x, Y, cutoff, float(h_arr[0]), order, kcode, right, RCOND_MIN, bool(return_coef_weights), omega,
        )
        if status != 0:
            raise InsufficientDataError(
                insufficient_data_message(side, cutoff, float(h_arr[0]), order, status, ne, nd, rc,
                                          max_distance=_max_distance(x, cutoff, right))
            )
        n_eff = np.array([ne], dtype=np.int64)
        rcond = np.array([rc])
    else:
        status, n_eff, nd, rcond, coef, weights, kw, fitted, cw = _locpoly.fit_per_column(
            x, Y, cutoff, h_arr, order, kcode, right, RCOND_MIN, bool(return_coef_weights), omega,
        )
        failing = np.flatnonzero(status)
        if failing.size:
            j = int(failing[0])
            raise InsufficientDataError(
                insufficient_data_message(
                    side, cutoff, float(h_arr[j]), order, int(status[j]), int(n_eff[j]),
                    int(nd[j]), float(rcond[j]), column=j, n_failing=failing.size, n_columns=m,
                    max_distance=_max_distance(x, cutoff, right),
                )
            )
    return SideFit(
        side=side,
        cutoff=cutoff,
        h=h_arr.copy(),
        order=order,
        kernel=kernel,
        coef=coef,
        weights=weights,
        kernel_weights=kw,
        fitted=fitted,
        n_effective=n_eff,
        coef_weights=cw,
        rcond=rcond,
    )
