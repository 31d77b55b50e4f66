"""The two R3D estimators (docs/method.md), sharp and fuzzy, and their influence terms.

``estimate`` takes the unit quantile matrix and returns the limits, tau and the
per-unit influence matrix ``a`` (n x m) whose column sums of squares are the HC0
variance and whose multiplier sums are the bootstrap process (r3d/bootstrap.py):

- sharp: a_i(q) = [w_i^+(q) - w_i^-(q)] e_i(q), e the residual of unit i's own
  side fit (for ``frechet``, of its isotonic-projected fitted curve);
- fuzzy (delta method): a_i^F(q) = (D a_i(q) - N(q) b_i) / D^2 with
  b_i = [w_{T,i}^+ - w_{T,i}^-] e_{T,i}, D the take-up jump, N(q) = m_+(q) - m_-(q).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from r3d._ext import _isotonic
from r3d._validation import (
    DegenerateOutcomeWarning,
    DroppedDataWarning,
    InsufficientDataError,
    Notes,
    SmallSampleWarning,
    as_cluster_codes,
    check_choice,
    check_int,
    check_positive,
    message,
    resolve_n_jobs,
)
from r3d.data import independent_columns
from r3d.locpoly import (
    MAX_ORDER,
    SideFit,
    _as_bandwidths,
    _as_float_1d,
    _as_outcome_matrix,
    _fit_side,
    canonical_kernel,
)
from r3d.monotone import _project, _sort

__all__ = ["METHODS", "VCE_TYPES", "Adjusted", "CovariateFit", "DegenerateOutcomeWarning", "Estimate", "FirstStage",
           "LocalJump", "adjust_for_covariates", "average_weights", "cumulative_integral", "delta_method_influence",
           "estimate", "first_stage", "leverage", "cluster_adjusted_residuals", "local_jump", "check_flat_levels",
           "check_units_per_side", "residual_scale"]

METHODS = ("frechet", "simple")

#: Variance options (docs/method.md §5, "Variance options"): the residual of every in-window unit is multiplied by
#: 1 (hc0), sqrt(n_s / (n_s - p - 1)) (hc1, n_s the units with positive kernel weight on its side),
#: (1 - h_ii)^(-1/2) (hc2) or (1 - h_ii)^(-1) (hc3), h_ii its leverage in its side's local fit;
#: rdrobust's ``vce=`` of the same name.
VCE_TYPES = ("hc0", "hc1", "hc2", "hc3")
#: The default of ``R3D.fit(vce=)`` without clusters, chosen by simulation (docs/method.md §5, "Variance
#: options"; benchmarks/results/montecarlo_vce.md). The internal functions below keep "hc0" as their default.
DEFAULT_VCE = "hc3"
#: The default with ``cluster=``: CR2 (Bell-McCaffrey), the cluster analogue closest to unbiased in
#: benchmarks/results/montecarlo_clusters_variance.md (sd ratio 0.97-1.01; CR3 1.06-1.10, CR1 0.91-0.94).
DEFAULT_CLUSTER_VCE = "hc2"
#: rdrobust's cluster spellings, accepted with clusters: "cr1" is "hc1" with clusters, and so on.
CLUSTER_VCE_ALIASES = {"cr1": "hc1", "cr2": "hc2", "cr3": "hc3"}


def check_vce(vce: object, clustered: bool) -> str:
    """The canonical ``vce`` of a fit: None gives the default (:data:`DEFAULT_VCE`, or
    :data:`DEFAULT_CLUSTER_VCE` with clusters); rdrobust's "cr1"-"cr3" are accepted with clusters."""
    if vce is None:
        return DEFAULT_CLUSTER_VCE if clustered else DEFAULT_VCE
    if isinstance(vce, str) and vce.strip().lower() in CLUSTER_VCE_ALIASES and not clustered:
        hc = CLUSTER_VCE_ALIASES[vce.strip().lower()]
        raise ValueError(message(
            "vce", "one of 'hc0'-'hc3' for a model without clusters ('cr1'-'cr3' need cluster=)", vce,
            f"Build the model with cluster=... for {vce.strip().lower()!r}, or use vce={hc!r} without clusters."))
    return check_choice("vce", vce, VCE_TYPES, aliases=CLUSTER_VCE_ALIASES if clustered else None)

#: Smallest 1 - h_ii divided by (hc2, hc3): rdrobust's ``max(1 - hii, 1e-8)``. A unit with
#: leverage 1 is fitted exactly (its residual is rounding), so the floor only bounds rounding.
LEVERAGE_FLOOR = 1e-8

#: Warn when a side has fewer units with positive kernel weight than this multiple of p + 1.
FEW_UNITS_PER_PARAMETER = 5


#: Variation at the rounding level of the data: a column of the unit quantiles whose values over the
#: units with positive kernel weight on a side span at most this many machine epsilons of their
#: magnitude (about as many ulps) takes one value on that side. Data computed in floating point
#: differ by an ulp or two where they are meant to be equal; a genuine spread is never this small
#: (1e15 + N(0, 1) spans ~50 ulps).
ROUNDING_EPS = 4.0

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
        (n,) b_i = [w_{T,i}^+ - w_{T,i}^-] c_i e_{T,i}; sum of squares = variance of D (HC0 for
        c_i = 1; see :func:`residual_scale`).
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
class CovariateFit:
    """The covariate adjustment of one fit (METHOD_EXTENSIONS §9; rdrobust's ``covs=``).

    Attributes
    ----------
    names : tuple of str
        (k,) covariate labels (``Names.covariates``).
    gamma : ndarray
        (k, m) gamma(q), the common coefficient of the covariates at each level; NaN for a
        covariate dropped at that level's bandwidth (constant in the window or collinear).
    z_bar : ndarray
        (k, m_h) covariate mean at the cutoff, (mu_{Z+} + mu_{Z-}) / 2, at each bandwidth: the
        limits are those of the average unit at the cutoff.
    gamma_treatment : ndarray or None
        (k,) gamma_T of the take-up adjustment at h_T (fuzzy), NaN where dropped; None if sharp.
    """

    names: tuple[str, ...]
    gamma: np.ndarray
    z_bar: np.ndarray
    gamma_treatment: np.ndarray | None = None


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
    flat : ndarray of bool
        (m,) levels at which the unit quantiles take one value (to rounding, :data:`ROUNDING_EPS`)
        on each side among the units with positive kernel weight: the limits are those values,
        exactly, and ``tau`` their difference (exactly 0 when they are equal). With ``simple``, and
        with ``frechet`` when every level is flat, the residuals and influence there are 0: the
        estimate has no sampling variation (a fuzzy design keeps the first stage's).
    covariates : CovariateFit or None
        The covariate adjustment (then the fits, limits, residuals and influence are those of the
        adjusted outcome ``Q - (Z - z_bar) gamma``); None without covariates.
    vce : str
        The variance option (:data:`VCE_TYPES`).
    residual_scale : ndarray or None
        (n, m_h) factor c_i multiplying each residual in ``influence`` (:func:`residual_scale`);
        None for "hc0". ``residuals`` are the unscaled e_i.
    adjusted_residuals : ndarray or None
        (n, m) with clusters and "hc2" / "hc3" (where some cluster holds two in-window units of a side):
        the CR2 / CR3 residuals ``influence`` is made of (:func:`cluster_adjusted_residuals`); None otherwise.
    numerator_influence : ndarray or None
        (n, m) a fuzzy fit's outcome influence a_i(q), that of the numerator N(q) before the delta
        method (the Anderson-Rubin sets use it with the first stage's b_i); None if sharp.
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
    flat: np.ndarray
    covariates: CovariateFit | None = None
    vce: str = "hc0"
    residual_scale: np.ndarray | None = None
    adjusted_residuals: np.ndarray | None = None
    numerator_influence: np.ndarray | None = None

    @property
    def scaled_residuals(self) -> np.ndarray:
        """(n, m) c_i e_i(q): the residuals the influence terms are made of (``residuals`` for "hc0"; the
        CR2 / CR3 residuals ``adjusted_residuals`` where set)."""
        if self.adjusted_residuals is not None:
            return self.adjusted_residuals
        return self.residuals if self.residual_scale is None else self.residuals * self.residual_scale


def _flat_columns(Y: np.ndarray, fit: SideFit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns of ``Y`` (n, m) that take one value to rounding over the units with k > 0 of ``fit``.

    Returns (m,) ``flat``, the smallest and the largest in-window value of every column.
    """
    if fit.kernel_weights.shape[1] == 1:
        # one window for every column: a masked reduction, without two (n, m) temporaries (job D:
        # 0.3 s -> 0.04 s for both sides); it compares the same in-window values in the same
        # order, so the same bits (signed zeros included)
        inside = fit.kernel_weights > 0
        lo = np.min(Y, axis=0, where=inside, initial=np.inf)
        hi = np.max(Y, axis=0, where=inside, initial=-np.inf)
    else:  # per-column windows: a masked reduction over an (n, m) mask is slower than this
        inside = np.broadcast_to(fit.kernel_weights > 0, Y.shape)
        lo = np.where(inside, Y, np.inf).min(axis=0)
        hi = np.where(inside, Y, -np.inf).max(axis=0)
    with np.errstate(over="ignore", invalid="ignore"):
        flat = (hi - lo) <= ROUNDING_EPS * np.finfo(float).eps * np.maximum(np.abs(lo), np.abs(hi))
    return flat, lo, hi


def _snap_flat(Y: np.ndarray, fp: SideFit, fm: SideFit, m_plus_raw: np.ndarray, m_minus_raw: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Set the raw limits of the columns that take one value (to rounding) on a side to that value.

    A local polynomial fit of a constant returns the constant only up to rounding (its weights sum
    to 1 up to rounding), which made an outcome without variation look like a tiny, "significant"
    effect. Columns flat on both sides with a common value (to rounding) get the same limit on both
    sides, so ``tau`` is exactly 0. Returns the two limits (new arrays) and the (m,) mask of columns
    flat on both sides.
    """
    flat_p, lo_p, hi_p = _flat_columns(Y, fp)
    flat_m, lo_m, hi_m = _flat_columns(Y, fm)
    if not (flat_p.any() or flat_m.any()):
        return m_plus_raw, m_minus_raw, flat_p & flat_m
    lo, hi = np.minimum(lo_p, lo_m), np.maximum(hi_p, hi_m)
    with np.errstate(over="ignore", invalid="ignore"):
        same = flat_p & flat_m & ((hi - lo) <= ROUNDING_EPS * np.finfo(float).eps * np.maximum(np.abs(lo), np.abs(hi)))
    mp = np.where(flat_p, np.where(same, lo, lo_p), m_plus_raw)
    mm = np.where(flat_m, np.where(same, lo, lo_m), m_minus_raw)
    return mp, mm, flat_p & flat_m


def _residuals(x: np.ndarray, Y: np.ndarray, cutoff: float, fit_plus: SideFit, fit_minus: SideFit,
               *, project: bool) -> np.ndarray:
    """(n, m) residuals of each unit's own side fit; 0 for units outside the window.

    With ``project`` (Fréchet), each in-window unit's fitted curve q -> E_s(X_i, q) is
    first projected onto non-decreasing functions (docs/method.md §5).
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
            fitted = _project(fitted)
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
                             fit_minus: SideFit, *, project: bool) -> tuple[np.ndarray, np.ndarray]:
    """(n, m) residuals e (see :func:`_residuals`) and influence a = (w^+ - w^-) e.

    With a common bandwidth one compiled pass over the in-window rows computes both
    (``r3d._ext._isotonic.side_residuals``: the same operations, so the same bits);
    per-quantile bandwidths take the NumPy route.
    """
    if fit_plus.kernel_weights.shape[1] != 1:
        e = _residuals(x, Y, cutoff, fit_plus, fit_minus, project=project)
        return e, _influence(fit_plus.weights, fit_minus.weights, e)
    right = x >= cutoff
    inside = np.where(right, fit_plus.kernel_weights[:, 0] > 0, fit_minus.kernel_weights[:, 0] > 0)
    rows = np.flatnonzero(inside)
    w_diff = np.ascontiguousarray((fit_plus.weights - fit_minus.weights)[:, 0])
    return _isotonic.side_residuals(np.ascontiguousarray(Y), fit_plus.fitted, fit_minus.fitted, rows,
                                    np.ascontiguousarray(right[rows]), w_diff, bool(project))


@dataclass(frozen=True, slots=True)
class LocalJump:
    """One-sided local polynomial limits at the cutoff of k unit-level columns, with influence terms.

    The smoother every unit-level column passes through: the unit quantiles (k = m), the
    take-up of a fuzzy design (k = 1), and next covariates or unit weights.

    Attributes
    ----------
    fit_plus, fit_minus : SideFit
        Right (treated) and left side fits of the columns.
    residuals : ndarray
        (n, k) e_i of each unit's own side fit, 0 for units outside the window (for a
        projected fit, of its isotonic-projected fitted curve).
    influence : ndarray
        (n, k) a_i = (w_i^+ - w_i^-) c_i e_i: the column sums of squares are the variance of
        the raw jump (HC0 for c_i = 1), its multiplier sums the bootstrap process.
    scale : ndarray or None
        (n, k_h) the factor c_i of each unit's residual under the fit's ``vce``
        (:func:`residual_scale`); None for "hc0" (c_i = 1).
    adjusted : ndarray or None
        (n, k) with clusters and "hc2" / "hc3": each unit's residual after its cluster's CR2 / CR3
        adjustment (:func:`cluster_adjusted_residuals`; c_i e_i for a unit alone in its cluster on
        its side), the residuals ``influence`` is made of; None otherwise (then ``residuals * scale``).
    """

    fit_plus: SideFit
    fit_minus: SideFit
    residuals: np.ndarray
    influence: np.ndarray
    scale: np.ndarray | None = None
    adjusted: np.ndarray | None = None


def local_jump(x: np.ndarray, Y: np.ndarray, *, cutoff: float, h: np.ndarray, order: int, kernel: str,
               project: bool, omega: np.ndarray | None = None, vce: str = "hc0",
               clusters: np.ndarray | None = None) -> LocalJump:
    """Fit both sides of the cutoff to the columns of ``Y`` (n, k) and form the influence terms.

    Validated inputs (C-contiguous float64); ``h`` is (1,) or (k,); ``project`` projects each
    in-window unit's fitted curve on non-decreasing functions before taking residuals (Fréchet);
    ``omega`` (n,) positive unit weights multiply the kernel weights (they reach the influence
    terms through the intercept weights); ``vce`` (:data:`VCE_TYPES`) scales each residual in the
    influence terms by :func:`residual_scale` ("hc0": no scaling, the same bits as before the option).
    ``clusters`` (n,) intp codes make the options their cluster analogues (docs/method.md §5, "With
    clusters"): "hc1" CR1's per-side factor, "hc2" / "hc3" CR2 / CR3 (:func:`cluster_adjusted_residuals`).
    """
    fp = _fit_side(x, Y, cutoff=cutoff, h=h, order=order, kernel=kernel, side="right", omega=omega)
    fm = _fit_side(x, Y, cutoff=cutoff, h=h, order=order, kernel=kernel, side="left", omega=omega)
    e, a = _residuals_and_influence(x, Y, cutoff, fp, fm, project=project)
    if vce == "hc0":
        if clusters is not None:
            for fit in (fp, fm):
                _two_clusters_per_side(fit, clusters, vce)
        return LocalJump(fit_plus=fp, fit_minus=fm, residuals=e, influence=a)
    c = residual_scale(x, fp, fm, vce, clusters=clusters)
    a = np.multiply(a, c, out=a)  # a is this function's own new array: no (n, m) copy, the same products
    adjusted = None
    if clusters is not None and vce in ("hc2", "hc3"):
        adjusted, rows = cluster_adjusted_residuals(x, e, fp, fm, clusters, vce, scale=c)
        if rows.size:  # units sharing their cluster with another unit on their side: w_i * adjusted e_i
            w = fp.weights[rows] - fm.weights[rows]
            a[rows] = w * adjusted[rows]
        else:
            adjusted = None
    return LocalJump(fit_plus=fp, fit_minus=fm, residuals=e, influence=a, scale=c, adjusted=adjusted)


def _side_basis(x: np.ndarray, fit: SideFit, g: int) -> tuple[np.ndarray, np.ndarray]:
    """The in-window rows of ``fit`` at bandwidth column ``g`` and the Q of a QR of sqrt(k) R there.

    R holds the powers of t = u / max|u| (:func:`leverage`): Q Q' is the side's symmetrized hat matrix
    sqrt(K) R (R'KR)^{-1} R' sqrt(K), whatever the basis.
    """
    k = fit.kernel_weights[:, g]
    rows = np.flatnonzero(k > 0)
    u = (x[rows] - fit.cutoff) / fit.h[g]
    umax = float(np.max(np.abs(u))) if rows.size else 0.0
    t = u / umax if umax > 0 else u
    q = np.linalg.qr(np.sqrt(k[rows])[:, None] * t[:, None] ** np.arange(fit.order + 1)[None, :], mode="reduced")[0]
    return rows, q


def leverage(x: np.ndarray, fit: SideFit) -> np.ndarray:
    """(n, m_h) leverage h_ii = k_i r(u_i)' M^{-1} r(u_i) of each unit in ``fit`` (0 outside its window).

    The diagonal of the hat matrix R (R'KR)^{-1} R'K of the side's weighted least squares (k_i
    includes the unit weight): the squared row norms of Q in a QR of sqrt(k) R. The hat matrix does
    not depend on the basis of the polynomials, so it is computed in t = u / max|u| (the window's
    own spread: well scaled whatever the bandwidth) and equals rdrobust's ``hii`` in x - c. It lies
    in [0, 1] and sums to p + 1 over the side.
    """
    n, m_h = fit.kernel_weights.shape
    out = np.zeros((n, m_h))
    for g in range(m_h):
        rows, q = _side_basis(x, fit, g)
        out[rows, g] = np.einsum("ij,ij->i", q, q)
    return out


def _clusters_per_side(fit: SideFit, clusters: np.ndarray) -> np.ndarray:
    """(m_h,) number of distinct clusters among the units with positive kernel weight in ``fit``."""
    return np.array([np.unique(clusters[fit.kernel_weights[:, g] > 0]).size
                     for g in range(fit.kernel_weights.shape[1])], dtype=np.float64)


#: Why CR0 and CR1 need two clusters in a side's window (the words of :func:`_two_clusters_per_side`'s error).
_ONE_CLUSTER = {
    "hc0": ("CR0", "their terms sum to 0 (the normal equations), so that side would get no variance at all"),
    "hc1": ("its CR1 factor is G / (G - 1)", "so the clusters carry no information about the variance there"),
}


def _two_clusters_per_side(fit: SideFit, clusters: np.ndarray, vce: str) -> np.ndarray:
    """(m_h,) the clusters among the side's in-window units, refusing one cluster for "hc0" / "hc1"
    (:data:`_ONE_CLUSTER`; "hc2" / "hc3" find I - H_gg singular instead)."""
    g_s = _clusters_per_side(fit, clusters)
    if np.any(g_s < 2):
        g = int(np.flatnonzero(g_s < 2)[0])
        what, why = _ONE_CLUSTER[vce]
        raise InsufficientDataError(message(
            "vce", f"units from at least two clusters with positive kernel weight on each side for {vce!r} with "
            f"clusters ({what})", vce,
            f"All {int(fit.n_effective[g])} units with positive kernel weight on the {fit.side} side at bandwidth "
            f"{float(fit.h[g]):.6g} belong to one cluster: {why}; use a larger bandwidth or finer clusters."))
    return g_s


def residual_scale(x: np.ndarray, fit_plus: SideFit, fit_minus: SideFit, vce: str,
                   clusters: np.ndarray | None = None) -> np.ndarray:
    """(n, m_h) factor c_i of each unit's residual under ``vce`` (its own side's fit; 1 outside the windows).

    "hc1": sqrt(n_s / (n_s - p - 1)) with n_s the units with positive kernel weight on unit i's side (a
    count, also with unit weights, as rdrobust); "hc2": 1 / sqrt(max(1 - h_ii, LEVERAGE_FLOOR)); "hc3":
    1 / max(1 - h_ii, LEVERAGE_FLOOR), h_ii from :func:`leverage`; "hc0": 1.

    With ``clusters`` (n,) codes, "hc1" is CR1: sqrt((G_s / (G_s - 1)) (n_s - 1) / (n_s - p - 1)) with G_s
    the clusters among the n_s units, rdrobust's per-side factor (n_s / (n_s - p - 1) exactly when every
    cluster holds one of them); the other options keep their unit factors (CR2 / CR3 replace those of
    units sharing a cluster: :func:`cluster_adjusted_residuals`).

    Raises
    ------
    InsufficientDataError
        "hc1" with only p + 1 units with positive kernel weight on a side (no residual degrees of freedom),
        or, with clusters, only one cluster there (:func:`local_jump` refuses "hc0" there too).
    """
    right = (x >= fit_plus.cutoff)[:, None]
    n, m_h = fit_plus.kernel_weights.shape
    if vce == "hc0":
        return np.ones((n, m_h))
    if vce == "hc1":
        d = fit_plus.order + 1
        sides = []
        for fit in (fit_plus, fit_minus):
            n_s = fit.n_effective.astype(np.float64)
            if np.any(n_s <= d):
                g = int(np.flatnonzero(n_s <= d)[0])
                raise InsufficientDataError(message(
                    "vce", f"more than order + 1 = {d} units with positive kernel weight on each side for 'hc1' "
                    f"(its factor is n / (n - order - 1))", "hc1",
                    f"Only {int(n_s[g])} units receive positive kernel weight on the {fit.side} side at bandwidth "
                    f"{float(fit.h[g]):.6g}; use a larger bandwidth, a lower order, or vce='hc0'."))
            if clusters is None:
                sides.append(np.sqrt(n_s / (n_s - d)))
                continue
            g_s = _two_clusters_per_side(fit, clusters, vce)
            cr1 = (g_s / (g_s - 1.0)) * ((n_s - 1.0) / (n_s - d))
            sides.append(np.sqrt(np.where(g_s == n_s, n_s / (n_s - d), cr1)))
        return np.where(right, sides[0][None, :], sides[1][None, :])
    h_ii = np.where(right, leverage(x, fit_plus), leverage(x, fit_minus))
    one_minus = np.maximum(1.0 - h_ii, LEVERAGE_FLOOR)
    return 1.0 / np.sqrt(one_minus) if vce == "hc2" else 1.0 / one_minus


def cluster_adjusted_residuals(x: np.ndarray, e: np.ndarray, fit_plus: SideFit, fit_minus: SideFit,
                               clusters: np.ndarray, vce: str, *, scale: np.ndarray | None = None
                               ) -> tuple[np.ndarray, np.ndarray]:
    """CR2 ("hc2") / CR3 ("hc3") residuals: each cluster's block adjusted on its own side's fit.

    On each side and bandwidth, the in-window units of a cluster g with residuals e_g (n_g, k) get
    K_g^{-1/2} (I - H_gg)^{-1/2} K_g^{1/2} e_g (CR2, Bell and McCaffrey 2002) or
    K_g^{-1/2} (I - H_gg)^{-1} K_g^{1/2} e_g (CR3), H_gg the cluster's block of the side's symmetrized hat
    matrix sqrt(K) R (R'KR)^{-1} R' sqrt(K) (K the kernel times unit weights). With Q from a QR of
    sqrt(K) R, H_gg = Q_g Q_g' and, from the eigendecomposition Q_g' Q_g = V diag(s) V' (p + 1 square),
    (I - H_gg)^{-1/2} = I + Q_g V diag(1 / (sqrt(1 - s) (1 + sqrt(1 - s)))) V' Q_g' and
    (I - H_gg)^{-1} = I + Q_g V diag(1 / (1 - s)) V' Q_g': the matrices depend on x, the weights and the
    bandwidth only, and apply to all k columns at once. A unit alone in its cluster on its side keeps
    ``scale`` times its residual (:func:`residual_scale`: the same bits as without clusters).

    Parameters
    ----------
    e : ndarray
        (n, k) residuals (0 outside the windows); ``fit_plus.kernel_weights`` is (n, 1) or (n, k).
    clusters : ndarray
        (n,) intp cluster codes.
    scale : ndarray, optional
        (n, k_h) the unit factors of ``vce`` (computed if None).

    Returns
    -------
    adjusted : ndarray
        (n, k) the adjusted residuals.
    rows : ndarray
        Units in a cluster with another in-window unit of their side (at some bandwidth): the rows
        whose adjusted residuals are not ``scale * e``.

    Raises
    ------
    InsufficientDataError
        I - H_gg singular (to :data:`LEVERAGE_FLOOR`) for a cluster of two or more units: without it the
        side's local polynomial is not identified (a cluster holding the whole side, or every unit
        at all but p of the side's distinct running-variable values).
    """
    c = residual_scale(x, fit_plus, fit_minus, vce) if scale is None else scale
    adjusted = e * c
    right = x >= fit_plus.cutoff
    m_h = fit_plus.kernel_weights.shape[1]
    touched = np.zeros(x.size, dtype=bool)
    for fit, on_side in ((fit_plus, right), (fit_minus, ~right)):
        for g in range(m_h):
            rows, q = _side_basis(x, fit, g)
            rows_in, q_in = rows[on_side[rows]], q[on_side[rows]]
            _, inverse, counts = np.unique(clusters[rows_in], return_inverse=True, return_counts=True)
            shared = counts[inverse] > 1
            if not shared.any():
                continue
            by_cluster = np.argsort(clusters[rows_in[shared]], kind="stable")
            sel, qs = rows_in[shared][by_cluster], q_in[shared][by_cluster]  # grouped by cluster
            labels = clusters[sel]
            starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
            size = np.diff(np.r_[starts, sel.size])
            code = np.repeat(np.arange(starts.size), size)
            d = qs.shape[1]
            gram = np.add.reduceat(qs[:, :, None] * qs[:, None, :], starts, axis=0)  # Q_g' Q_g, (G', d, d)
            s, V = np.linalg.eigh(gram)  # (G', d), (G', d, d); H_gg's nonzero eigenvalues
            if np.any(1.0 - s[:, -1] < LEVERAGE_FLOOR):
                bad = int(np.flatnonzero(1.0 - s[:, -1] < LEVERAGE_FLOOR)[0])
                label = int(labels[starts[bad]])
                whole = int(size[bad]) == rows_in.size
                fix = ("Use a larger bandwidth so that units of other clusters enter the window, or finer clusters"
                       if whole else "Use vce='hc1' or vce='hc0' (they invert nothing), a larger bandwidth, or a "
                       "lower order")
                raise InsufficientDataError(message(
                    "vce", f"clusters without which the {fit.side} side's local polynomial is still identified, for "
                    f"'{vce}' (its CR{vce[-1]} adjustment inverts I - H_gg, the cluster's block of the hat matrix)",
                    vce, f"Cluster code {label} holds {int(size[bad])} of the {rows_in.size} units with positive "
                    f"kernel weight on the {fit.side} side at bandwidth {float(fit.h[g]):.6g}; without them fewer "
                    f"than order + 1 = {d} distinct values of the running variable remain there (or nearly so), so "
                    f"I - H_gg is singular. {fix}."))
            s = np.clip(s, 0.0, None)
            root = np.sqrt(1.0 - s)
            coef = 1.0 / (root * (1.0 + root)) if vce == "hc2" else 1.0 / (1.0 - s)
            cols = slice(None) if m_h == 1 else slice(g, g + 1)
            sqrt_k = np.sqrt(fit.kernel_weights[sel, g])
            r = sqrt_k[:, None] * e[sel, cols]  # (n_sel, k')
            # Q_g' r_g, (G', d, k'), one (n_sel, k') product at a time (no (n_sel, d, k') temporary)
            proj = np.stack([np.add.reduceat(qs[:, j:j + 1] * r, starts, axis=0) for j in range(d)], axis=1)
            proj = np.einsum("gde,gdk->gek", V, proj)
            proj = np.einsum("gde,gek->gdk", V, coef[:, :, None] * proj)  # V diag(coef) V' Q_g' r_g
            for j in range(d):
                r += qs[:, j:j + 1] * proj[code, j, :]
            adjusted[sel, cols] = r / sqrt_k[:, None]
            touched[sel] = True
    return adjusted, np.flatnonzero(touched)


def first_stage(x: np.ndarray, t: np.ndarray, *, cutoff: float, h: float, order: int, kernel: str,
                omega: np.ndarray | None = None, vce: str = "hc0", clusters: np.ndarray | None = None) -> FirstStage:
    """Local polynomial jump in take-up ``t`` (n,) at the cutoff with bandwidth ``h`` (validated inputs);
    ``vce`` scales the residuals of the influence terms (:func:`residual_scale`; with ``clusters`` its
    cluster analogue, :func:`local_jump`)."""
    lj = local_jump(x, t.reshape(-1, 1), cutoff=cutoff, h=np.array([float(h)]), order=order, kernel=kernel,
                    project=False, omega=omega, vce=vce, clusters=clusters)
    mp, mm = float(lj.fit_plus.intercept[0]), float(lj.fit_minus.intercept[0])
    return FirstStage(jump=mp - mm, m_plus=mp, m_minus=mm, h=float(h), influence=lj.influence[:, 0],
                      fit_plus=lj.fit_plus, fit_minus=lj.fit_minus)


def delta_method_influence(a: np.ndarray, b: np.ndarray, *, numerator: np.ndarray, denominator: float) -> np.ndarray:
    """Fuzzy-design influence matrix by the delta method.

    For ``tau_F(q) = N(q) / D`` the linearisation is ``(D a_i(q) - N(q) b_i) / D^2``.

    Parameters
    ----------
    a : ndarray, shape (n, m)
        Outcome influence matrix (sharp formula, outcome bandwidths).
    b : ndarray, shape (n,)
        First-stage influence ``b_i = (w_{T,i}^+ - w_{T,i}^-) e_{T,i}`` at ``h_T``.
    numerator : ndarray, shape (m,)
        ``N(q) = m_+(q) - m_-(q)`` (monotonised).
    denominator : float
        ``D = m_{+,T} - m_{-,T}``, the first-stage jump (nonzero).

    Returns
    -------
    ndarray, shape (n, m)
    """
    D = denominator
    return (D * a - b[:, None] * numerator[None, :]) / D**2


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
    covariates: np.ndarray | None = None,
    vce: str = "hc0",
    cluster_codes: np.ndarray | None = None,
) -> Estimate:
    """Estimate tau(q) on the grid (docs/method.md §4).

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
    n_jobs : int, optional
        Accepted for compatibility and validated; it has no effect: r3d runs on one
        thread (``benchmarks/results/threads.md``).
    covariates : ndarray, optional
        (n, k) unit-level covariates: the covariate-adjusted estimator (rdrobust's ``covs=``).
    vce : {"hc0", "hc1", "hc2", "hc3"}, default "hc0"
        Variance option (docs/method.md §5, "Variance options"): the residuals in the influence terms are scaled
        by :func:`residual_scale`, as rdrobust's ``vce=``.
    cluster_codes : array_like of int, optional
        (n,) cluster of each unit, coded 0..G-1: ``vce`` becomes its cluster analogue (CR0-CR3, docs/method.md §5,
        "With clusters"); pass the same codes to :func:`r3d.bootstrap.pointwise_variance` or the bootstrap.

    Returns
    -------
    Estimate
    """
    method = check_choice("method", method, METHODS)
    vce = check_choice("vce", vce, VCE_TYPES)
    kernel = canonical_kernel(kernel)
    order = check_int("order", order, low=0, high=MAX_ORDER)
    resolve_n_jobs(n_jobs)
    x = _as_float_1d("x", x)
    Q = _as_outcome_matrix(Q, x.shape[0])
    quantiles = np.asarray(quantiles, dtype=np.float64)
    h = _as_bandwidths(h, Q.shape[1])
    if method == "frechet" and h.size > 1:
        raise ValueError("`bandwidth` must be a single number for method='frechet' (one bandwidth for all "
                         "quantiles); got an array. Use method='simple' for per-quantile bandwidths.")
    if t is not None:
        t = _as_float_1d("t", t)
        if h_treatment is None:
            raise ValueError("`bandwidth_treatment` is required for a fuzzy design when `bandwidth` is a number.")
        h_treatment = check_positive("h_treatment", h_treatment)
    Z = None if covariates is None else _as_outcome_matrix(covariates, x.shape[0])
    names = () if Z is None else tuple(f"covariates[{j}]" for j in range(Z.shape[1]))
    codes = None if cluster_codes is None else as_cluster_codes(cluster_codes, x.shape[0])
    return _estimate(x, Q, quantiles, cutoff=float(cutoff), h=h, order=order, kernel=kernel, method=method, t=t,
                     h_treatment=h_treatment, covariates=Z, covariate_names=names, vce=vce, clusters=codes)


@dataclass(frozen=True, slots=True)
class Adjusted:
    """A unit-level matrix adjusted for covariates (:func:`adjust_for_covariates`).

    Attributes
    ----------
    Y : ndarray
        (n, m) ``Y - (Z - z_bar) gamma``, column by column at its bandwidth.
    gamma : ndarray
        (k, m) coefficients, NaN for covariates dropped at a column's bandwidth.
    z_bar : ndarray
        (k, m_h) covariate means at the cutoff.
    dropped : tuple of str
        Covariates dropped at some bandwidth (constant in the window or collinear there).
    """

    Y: np.ndarray
    gamma: np.ndarray
    z_bar: np.ndarray
    dropped: tuple[str, ...]


def adjust_for_covariates(x: np.ndarray, Y: np.ndarray, Z: np.ndarray, *, cutoff: float, h: np.ndarray, order: int,
                          kernel: str, names: tuple[str, ...], omega: np.ndarray | None = None) -> Adjusted:
    """Frisch-Waugh form of rdrobust's ``covs=`` regression, column by column of ``Y`` (n, m).

    At each bandwidth (``h`` (1,) or (m,)) the columns of ``Y`` and of ``Z`` (n, k) are fitted on each
    side by the order-p local polynomial; gamma solves the kernel-weighted regression of the outcome
    residuals on the covariate residuals over the in-window units of both sides; covariates whose
    residuals are (to :data:`r3d.data.COLLINEAR_RTOL`) explained by the polynomials and the covariates
    before them are left out at that bandwidth. Validated inputs.
    """
    n, m = Y.shape
    k = Z.shape[1]
    gamma = np.full((k, m), np.nan)
    z_bar = np.zeros((k, h.size))
    Y_adj = np.empty((n, m))
    kept_everywhere = np.ones(k, dtype=bool)
    groups = [(np.arange(m), h)] if h.size == 1 else [(np.flatnonzero(h == hv), np.array([hv])) for hv in np.unique(h)]
    for cols, hg in groups:
        zj = local_jump(x, Z, cutoff=cutoff, h=hg, order=order, kernel=kernel, project=False, omega=omega)
        yj = local_jump(x, np.ascontiguousarray(Y[:, cols]), cutoff=cutoff, h=hg, order=order, kernel=kernel,
                        project=False, omega=omega)
        kw = zj.fit_plus.kernel_weights[:, 0] + zj.fit_minus.kernel_weights[:, 0]  # 0 off each side's window
        zb = (zj.fit_plus.intercept + zj.fit_minus.intercept) / 2
        z_bar[:, cols if h.size > 1 else [0]] = zb[:, None]
        keep = independent_columns(zj.residuals, np.sqrt(kw), intercept=False, reference=Z)
        kept_everywhere &= keep
        if not keep.any():
            Y_adj[:, cols] = Y[:, cols]
            continue
        E = zj.residuals[:, keep]
        g = np.linalg.solve(E.T @ (kw[:, None] * E), E.T @ (kw[:, None] * yj.residuals))  # (k_kept, len(cols))
        gamma[np.ix_(keep, cols)] = g
        Y_adj[:, cols] = Y[:, cols] - (Z[:, keep] - zb[keep]) @ g
    dropped = tuple(name for name, kept in zip(names, kept_everywhere, strict=True) if not kept)
    return Adjusted(Y=Y_adj, gamma=gamma, z_bar=z_bar, dropped=dropped)


def _report_dropped_covariates(adj: Adjusted, names: tuple[str, ...], what: str, notes: Notes) -> None:
    if not adj.dropped:
        return
    if len(adj.dropped) == len(names) and np.isnan(adj.gamma).all():
        notes.warn(f"No covariate varies independently among the units inside the bandwidth window of {what} "
                   f"({', '.join(adj.dropped)} are constant there or collinear with the local polynomial): "
                   "the estimate is unadjusted.", DroppedDataWarning)
        return
    notes.warn(f"Covariate(s) {', '.join(adj.dropped)} dropped from the adjustment of {what}: constant among the "
               "units inside the bandwidth window, or collinear there with the local polynomial and the covariates "
               "before them.", DroppedDataWarning)


def _estimate(x: np.ndarray, Q: np.ndarray, quantiles: np.ndarray, *, cutoff: float, h: np.ndarray, order: int,
              kernel: str, method: str, t: np.ndarray | None, h_treatment: float | None,
              covariates: np.ndarray | None = None, covariate_names: tuple[str, ...] = (),
              notes: Notes | None = None, omega: np.ndarray | None = None, vce: str = "hc0",
              clusters: np.ndarray | None = None) -> Estimate:
    """:func:`estimate` on validated inputs (``h`` (1,) or (m,)); ``covariates`` (n, k) adjusts
    the outcome (and the take-up) as rdrobust's ``covs=`` does (:func:`adjust_for_covariates`);
    ``omega`` (n,) positive unit weights multiply every kernel weight (rdrobust's ``weights=``);
    ``vce`` scales the residuals of the influence terms of both stages (:func:`residual_scale`), with
    ``clusters`` (n,) intp codes by its cluster analogue (CR1 / CR2 / CR3, :func:`local_jump`)."""
    cov_fit = None
    if covariates is not None:
        notes = Notes() if notes is None else notes
        adj = adjust_for_covariates(x, Q, covariates, cutoff=cutoff, h=h, order=order, kernel=kernel,
                                    names=covariate_names, omega=omega)
        _report_dropped_covariates(adj, covariate_names, "the outcome", notes)
        Q = adj.Y
        cov_fit = CovariateFit(names=covariate_names, gamma=adj.gamma, z_bar=adj.z_bar)
    out = local_jump(x, Q, cutoff=cutoff, h=h, order=order, kernel=kernel, project=(method == "frechet"),
                     omega=omega, vce=vce, clusters=clusters)
    fp, fm = out.fit_plus, out.fit_minus
    m_plus_raw, m_minus_raw, flat = _snap_flat(Q, fp, fm, fp.intercept.copy(), fm.intercept.copy())
    e, a, adjusted = out.residuals, out.influence, out.adjusted
    if flat.any() and (method == "simple" or flat.all()):
        # no sampling variation: each in-window unit's (projected) fitted value is its own quantile
        e, a = e.copy(), a.copy()
        e[:, flat] = 0.0
        a[:, flat] = 0.0
        if adjusted is not None:
            adjusted = adjusted.copy()
            adjusted[:, flat] = 0.0
    if method == "simple":
        m_plus, m_minus = _sort(m_plus_raw), _sort(m_minus_raw)
    else:
        m_plus, m_minus = _project(m_plus_raw), _project(m_minus_raw)
    numerator = m_plus - m_minus

    fs = a_numerator = None
    if t is not None:
        if covariates is not None:
            adj_t = adjust_for_covariates(x, t.reshape(-1, 1), covariates, cutoff=cutoff,
                                          h=np.array([float(h_treatment)]), order=order, kernel=kernel,
                                          names=covariate_names, omega=omega)
            _report_dropped_covariates(adj_t, covariate_names, "the take-up", notes)
            t = np.ascontiguousarray(adj_t.Y[:, 0])
            cov_fit = CovariateFit(names=covariate_names, gamma=cov_fit.gamma, z_bar=cov_fit.z_bar,
                                   gamma_treatment=adj_t.gamma[:, 0])
        fs = first_stage(x, t, cutoff=cutoff, h=h_treatment, order=order, kernel=kernel, omega=omega, vce=vce,
                         clusters=clusters)
        D = fs.jump
        if not np.isfinite(D) or abs(D) < FIRST_STAGE_ZERO:
            raise ValueError(
                f"The first-stage jump in `treatment` at the cutoff is {D:.3g} (bandwidth {fs.h:.4g}): take-up does "
                "not change at the cutoff, so the fuzzy effect is not identified. Check `treatment` and `cutoff`, "
                "or fit a sharp design."
            )
        tau = numerator / D
        a_numerator = a
        a = delta_method_influence(a, fs.influence, numerator=numerator, denominator=D)
    else:
        tau = numerator
    return Estimate(
        method=method,
        quantiles=quantiles,
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
        flat=flat,
        covariates=cov_fit,
        vce=vce,
        residual_scale=out.scale,
        adjusted_residuals=adjusted,
        numerator_influence=a_numerator,
    )


def check_flat_levels(est: Estimate, notes: Notes) -> None:
    """Note (and warn) when the outcome takes one value on each side at some levels (``est.flat``)."""
    flat = est.flat
    if not flat.any():
        return
    if flat.all() and not np.any(est.tau):
        notes.warn("The outcome does not vary (beyond rounding) among the units near the cutoff: the effect is "
                   "exactly 0 at every quantile level, with standard error 0, and no test can reject it.",
                   DegenerateOutcomeWarning)
        return
    where = "every quantile level" if flat.all() else "quantile level(s) " + _levels_text(est.quantiles[flat])
    notes.warn(f"The outcome takes a single value (to rounding) on each side of the cutoff at {where}: the "
               "limits there are those values and the effect their exact difference, without sampling "
               "variation in a sharp design (0 where they are equal, with p-value 1).", DegenerateOutcomeWarning)


def _levels_text(levels: np.ndarray, limit: int = 5) -> str:
    qs = [f"{q:.3g}" for q in levels]
    if len(qs) > limit:
        qs = [*qs[:limit], f"... ({len(qs)} levels)"]
    return ", ".join(qs)


def check_units_per_side(est: Estimate, order: int, notes: Notes) -> None:
    """Note (and warn) when a side has few units with positive kernel weight for order ``order``."""
    need = FEW_UNITS_PER_PARAMETER * (order + 1)
    for side, fit in (("left", est.fit_minus), ("right", est.fit_plus)):
        n = int(np.min(fit.n_effective))
        if n < need:
            notes.warn(f"Only {n} units receive positive kernel weight on the {side} side (fewer than "
                       f"{need} = {FEW_UNITS_PER_PARAMETER} x (order + 1)); estimates and standard errors "
                       "may be unstable. Consider a larger bandwidth or a lower order.", SmallSampleWarning)


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


def cumulative_integral(quantiles: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``int_0^{q_j} v`` at every grid point, with ``v`` flat on ``[0, q_1]``, trapezoid sums after.

    Parameters
    ----------
    quantiles : array_like, shape (m,)
    values : array_like, shape (..., m)
        Leading axes (bootstrap draws) are kept.

    Returns
    -------
    ndarray, shape (..., m)
        Linear in ``values``; for the quantile function ``Q`` this is ``mu L(q_j)`` (the
        generalised Lorenz curve), for ``tau`` the jump of the generalised Lorenz curve.
    """
    q = np.asarray(quantiles, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    first = q[0] * v[..., :1]
    inc = 0.5 * (v[..., 1:] + v[..., :-1]) * np.diff(q)
    return np.concatenate([first, first + np.cumsum(inc, axis=-1)], axis=-1)
