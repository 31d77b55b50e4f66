"""The two R3D estimators (METHOD.md §4), sharp and fuzzy, and their influence terms.

``estimate`` takes the unit quantile matrix and returns the limits, tau and the
per-unit influence matrix ``a`` (n x m) whose column sums of squares are the HC0
variance and whose multiplier sums are the bootstrap process (METHOD.md §5):

- sharp: a_i(q) = [w_i^+(q) - w_i^-(q)] e_i(q), e the residual of unit i's own
  side fit (for ``frechet``, of its isotonic-projected fitted curve);
- fuzzy (delta method): a_i^F(q) = (D a_i(q) - N(q) b_i) / D^2 with
  b_i = [w_{T,i}^+ - w_{T,i}^-] e_{T,i}, D the take-up jump, N(q) = m_+(q) - m_-(q).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from r3d._ext import _isotonic
from r3d._validation import resolve_n_jobs
from r3d.locpoly import SideFit, fit_side
from r3d.monotone import isotonic, rearrange

__all__ = ["METHODS", "Estimate", "FirstStage", "estimate", "first_stage", "average_weights"]

METHODS = ("frechet", "simple")

#: A take-up jump smaller than this (in absolute value, take-up is 0/1) is treated as no
#: discontinuity: the fuzzy ratio is not identified and we refuse to divide by it.
FIRST_STAGE_ZERO = 1e-8


@dataclass(frozen=True, slots=True)
class FirstStage:
    """Fuzzy first stage: the jump in take-up at the cutoff.

    Attributes
    ----------
    jump : float
        D = m_{+,T} - m_{-,T}.
    m_plus, m_minus : float
        One-sided limits of E[T | X].
    h : float
        Bandwidth of the take-up fits (h_T).
    influence : ndarray
        (n,) b_i = [w_{T,i}^+ - w_{T,i}^-] e_{T,i}; sum of squares = HC0 variance of D.
    fit_plus, fit_minus : SideFit
        The two take-up fits.
    """

    jump: float
    m_plus: float
    m_minus: float
    h: float
    influence: np.ndarray
    fit_plus: SideFit
    fit_minus: SideFit


@dataclass(frozen=True, slots=True)
class Estimate:
    """Point estimates and influence terms of one R3D fit.

    Attributes
    ----------
    method : str
        "frechet" or "simple".
    quantiles : ndarray
        (m,) quantile levels.
    tau : ndarray
        (m,) treatment effect on the average quantile function (Wald ratio if fuzzy).
    m_plus, m_minus : ndarray
        (m,) monotonised limits (sorted for simple, isotonic projection for frechet).
    m_plus_raw, m_minus_raw : ndarray
        (m,) raw local polynomial intercepts before rearrangement / projection.
    fit_plus, fit_minus : SideFit
        The right (treated) and left side fits of the unit quantiles.
    residuals : ndarray
        (n, m) e_i(q) for units with positive kernel weight on their side, 0 elsewhere.
    influence : ndarray
        (n, m) a_i(q) (fuzzy: the delta-method combination).
    first_stage : FirstStage or None
        Take-up fit for fuzzy designs.
    """

    method: str
    quantiles: np.ndarray
    tau: np.ndarray
    m_plus: np.ndarray
    m_minus: np.ndarray
    m_plus_raw: np.ndarray
    m_minus_raw: np.ndarray
    fit_plus: SideFit
    fit_minus: SideFit
    residuals: np.ndarray
    influence: np.ndarray
    first_stage: FirstStage | None

    @property
    def fuzzy(self) -> bool:
        """True for a fuzzy design."""
        return self.first_stage is not None

    @property
    def numerator(self) -> np.ndarray:
        """(m,) jump in the monotonised average quantile function, m_+ - m_-."""
        return self.m_plus - self.m_minus


def _residuals(x: np.ndarray, Y: np.ndarray, cutoff: float, fit_plus: SideFit, fit_minus: SideFit,
               *, project: bool, n_jobs: int | None) -> np.ndarray:
    """(n, m) residuals of each unit's own side fit; 0 for units outside the window.

    With ``project`` (Fréchet), each in-window unit's fitted curve q -> E_s(X_i, q) is
    first projected onto non-decreasing functions (METHOD §5).
    """
    right = x >= cutoff
    inside = np.where(right[:, None], fit_plus.kernel_weights > 0, fit_minus.kernel_weights > 0)  # (n, m_h)
    # only units inside some window have a residual: work on their rows, zeros elsewhere
    rows = np.flatnonzero(inside.any(axis=1))
    e = np.zeros(Y.shape)
    if rows.size:
        on_right = right[rows, None]
        fitted = np.where(on_right, fit_plus.fitted[rows], fit_minus.fitted[rows])
        if project:  # common bandwidth: the window is the same for every q
            fitted = isotonic(fitted, n_jobs=n_jobs)
        e[rows] = np.where(inside[rows], Y[rows] - fitted, 0.0)
    return e


def _influence(w_plus: np.ndarray, w_minus: np.ndarray, e: np.ndarray) -> np.ndarray:
    """(n, m) a = (w^+ - w^-) e from (n, m_h) intercept weights and (n, m) residuals.

    Computed on the rows with a nonzero weight (units inside a window); the other rows are
    0.0, as (0 - 0) * 0 would give.
    """
    a = np.zeros(e.shape)
    rows = np.flatnonzero(np.any((w_plus != 0.0) | (w_minus != 0.0), axis=1))
    if rows.size:
        a[rows] = (w_plus[rows] - w_minus[rows]) * e[rows]
    return a


def _residuals_and_influence(x: np.ndarray, Y: np.ndarray, cutoff: float, fit_plus: SideFit,
                             fit_minus: SideFit, *, project: bool, n_jobs: int | None
                             ) -> tuple[np.ndarray, np.ndarray]:
    """(n, m) residuals e (see :func:`_residuals`) and influence a = (w^+ - w^-) e.

    With a common bandwidth one compiled pass over the in-window rows computes both
    (``r3d._ext._isotonic.side_residuals``: the same operations, so the same bits);
    per-quantile bandwidths take the NumPy route.
    """
    if fit_plus.kernel_weights.shape[1] != 1:
        e = _residuals(x, Y, cutoff, fit_plus, fit_minus, project=project, n_jobs=n_jobs)
        return e, _influence(fit_plus.weights, fit_minus.weights, e)
    right = x >= cutoff
    inside = np.where(right, fit_plus.kernel_weights[:, 0] > 0, fit_minus.kernel_weights[:, 0] > 0)
    rows = np.flatnonzero(inside)
    w_diff = np.ascontiguousarray((fit_plus.weights - fit_minus.weights)[:, 0])
    return _isotonic.side_residuals(np.ascontiguousarray(Y), fit_plus.fitted, fit_minus.fitted, rows,
                                    np.ascontiguousarray(right[rows]), w_diff, bool(project),
                                    resolve_n_jobs(n_jobs))


def first_stage(x: np.ndarray, t: np.ndarray, *, cutoff: float, h: float, order: int, kernel: str,
                n_jobs: int | None = None) -> FirstStage:
    """Local polynomial jump in take-up ``t`` (n,) at the cutoff with bandwidth ``h``."""
    T = np.asarray(t, dtype=np.float64).reshape(-1, 1)
    fp = fit_side(x, T, cutoff=cutoff, h=h, order=order, kernel=kernel, side="right", n_jobs=n_jobs)
    fm = fit_side(x, T, cutoff=cutoff, h=h, order=order, kernel=kernel, side="left", n_jobs=n_jobs)
    e = _residuals(x, T, cutoff, fp, fm, project=False, n_jobs=n_jobs)
    b = ((fp.weights - fm.weights) * e)[:, 0]
    mp, mm = float(fp.intercept[0]), float(fm.intercept[0])
    return FirstStage(jump=mp - mm, m_plus=mp, m_minus=mm, h=float(h), influence=b, fit_plus=fp, fit_minus=fm)


def estimate(
    x: np.ndarray,
    Q: np.ndarray,
    quantiles: np.ndarray,
    *,
    cutoff: float,
    h: float | np.ndarray,
    order: int,
    kernel: str,
    method: str,
    t: np.ndarray | None = None,
    h_treatment: float | None = None,
    n_jobs: int | None = None,
) -> Estimate:
    """Estimate tau(q) on the grid (METHOD.md §4).

    Parameters
    ----------
    x : ndarray
        (n,) running variable.
    Q : ndarray
        (n, m) unit quantiles at ``quantiles`` (m,).
    cutoff : float
    h : float or ndarray
        Common bandwidth, or (m,) per-quantile bandwidths (``simple`` only).
    order, kernel, method
        Local polynomial order p, kernel name, "frechet" or "simple".
    t : ndarray, optional
        (n,) take-up 0/1 for a fuzzy design, with its bandwidth ``h_treatment``.

    Returns
    -------
    Estimate
    """
    per_q = np.ndim(h) > 0 and np.size(h) > 1
    if method == "frechet" and per_q:
        raise ValueError("`bandwidth` must be a single number for method='frechet' (one bandwidth for all "
                         "quantiles); got an array. Use method='simple' for per-quantile bandwidths.")
    fp = fit_side(x, Q, cutoff=cutoff, h=h, order=order, kernel=kernel, side="right", n_jobs=n_jobs)
    fm = fit_side(x, Q, cutoff=cutoff, h=h, order=order, kernel=kernel, side="left", n_jobs=n_jobs)
    m_plus_raw, m_minus_raw = fp.intercept.copy(), fm.intercept.copy()
    if method == "simple":
        m_plus, m_minus = rearrange(m_plus_raw), rearrange(m_minus_raw)
    else:
        m_plus, m_minus = isotonic(m_plus_raw), isotonic(m_minus_raw)
    e, a = _residuals_and_influence(x, Q, cutoff, fp, fm, project=(method == "frechet"), n_jobs=n_jobs)
    numerator = m_plus - m_minus

    fs = None
    if t is not None:
        if h_treatment is None:
            raise ValueError("`bandwidth_treatment` is required for a fuzzy design when `bandwidth` is a number.")
        fs = first_stage(x, t, cutoff=cutoff, h=h_treatment, order=order, kernel=kernel, n_jobs=n_jobs)
        D = fs.jump
        if not np.isfinite(D) or abs(D) < FIRST_STAGE_ZERO:
            raise ValueError(
                f"The first-stage jump in `treatment` at the cutoff is {D:.3g} (bandwidth {fs.h:.4g}): take-up does "
                "not change at the cutoff, so the fuzzy effect is not identified. Check `treatment` and `cutoff`, "
                "or fit a sharp design."
            )
        tau = numerator / D
        a = (D * a - fs.influence[:, None] * numerator[None, :]) / D**2
    else:
        tau = numerator
    return Estimate(
        method=method,
        quantiles=np.asarray(quantiles, dtype=np.float64),
        tau=tau,
        m_plus=m_plus,
        m_minus=m_minus,
        m_plus_raw=m_plus_raw,
        m_minus_raw=m_minus_raw,
        fit_plus=fp,
        fit_minus=fm,
        residuals=e,
        influence=a,
        first_stage=fs,
    )


def average_weights(quantiles: np.ndarray) -> np.ndarray:
    """(m,) weights omega with sum(omega) = 1 such that omega @ tau approximates ∫_0^1 tau(q) dq.

    Trapezoid rule over the grid, with tau held constant from 0 to q_1 and from q_m to 1.
    Exact for tau piecewise linear between grid points and flat in the tails.
    """
    q = np.asarray(quantiles, dtype=np.float64)
    if q.size == 1:
        return np.ones(1)
    edges = np.concatenate(([0.0], (q[1:] + q[:-1]) / 2, [1.0]))
    return np.diff(edges)
