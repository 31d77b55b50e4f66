"""Data-driven bandwidth selection (docs/method.md §6).

Bias is handled by choosing the bandwidth optimal for a low pilot order ``s``
(default 1) and estimating with a higher order ``p > s`` (default 2), without
explicit bias subtraction (Calonico, Cattaneo and Titiunik 2014, Remark 7).
All counts ``n`` are units. The selector runs in three steps:

1. **Pilot.** The density of the running variable at the cutoff, ``f_hat``, is
   a kernel estimate with Silverman's bandwidth ``1.06 sd(X) n^(-1/5)``. On each
   side a global polynomial of degree ``s + 1`` gives the ``(s+1)``-th
   derivative of every mean quantile curve and a residual variance; these give
   the bias constant ``B(q) = [c_b+ m+^(s+1) - c_b- m-^(s+1)] / (s+1)!`` and the
   variance constant ``V(q) = (c_v+ sigma2+ + c_v- sigma2-) / f_hat`` and the
   pilot bandwidth ``h0 = [V / (2(s+1) B^2)]^(1/(2s+3)) n^(-1/(2s+3))`` (per
   quantile for the MSE rules; with grid integrals of ``B^2`` and ``V`` for the
   IMSE rules).
2. **Refine.** The derivative is re-estimated by a local polynomial of order
   ``s + 1`` at its own bandwidth ``b = h0 n^(1/(2s+3) - 1/(2s+5))`` and the
   residual variance as the kernel-weighted mean of squared residuals of the
   order-``s`` local fit at ``h0``. The sandwich (HC0) variance of the
   derivative coefficient gives ``R(q)``, the estimated variance of ``B(q)``.
3. **Final.** ``h(q) = [V / (2(s+1) (B^2 + R))]^(1/(2s+3)) n^(-1/(2s+3))``
   (MSE, per quantile) or the same with ``int V dq`` and ``int (B^2 + R) dq``
   (IMSE, one bandwidth; trapezoid rule over the grid, exact for unequal
   spacing). ``regularize=False`` drops ``R``. The coverage-error rules
   multiply the result by ``n^(-s/((2s+3)(s+3)))``.

Guards (each one documented below, recorded in the result and warned about
with :class:`r3d.BandwidthWarning` where the final bandwidth is affected):

- *data-range cap* (rdrobust's ``bwrestrict``): no bandwidth (pilot ``h0``,
  derivative ``b`` or final ``h``) exceeds ``h_max``, the largest distance from
  the cutoff to a unit; a final bandwidth at the cap is warned about;
- *near-zero bias difference*: when ``B^2 (+ R)`` is zero (below
  ``NEAR_ZERO_BIAS`` relative to the outcome's scale) or the formula is not
  finite, the final bandwidth falls back to the cap ``h_max``, with a warning;
- *too few units*: a side with fewer than ``s + 3`` distinct running-variable
  values cannot support the pilot fits and raises
  :class:`r3d.InsufficientDataError` naming the side; a bandwidth that would
  leave fewer than ``MIN_UNITS_PER_SIDE`` distinct units on a side (or all of the
  side's units, when it has fewer) is enlarged until it does (rdrobust's
  ``bwcheck``), with a warning.

Kernel constants are exact: the one-sided integrals of polynomials times the
(piecewise polynomial) kernel are computed in closed form.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np

from r3d import _repr as _r
from r3d._blocks import carried_row_sum
from r3d._validation import (
    BandwidthWarning,
    InsufficientDataError,
    Notes,
    check_choice,
    check_int,
    message,
    resolve_n_jobs,
)
from r3d.kernels import KERNELS, canonical_kernel, kernel_function
from r3d.locpoly import MAX_ORDER, _as_float_1d, _fit_side

__all__ = [
    "BANDWIDTH_RULES",
    "BandwidthChoice",
    "choose_bandwidths",
    "MIN_UNITS_PER_SIDE",
    "NEAR_ZERO_BIAS",
    "BandwidthSelection",
    "DensityEstimate",
    "GlobalPilot",
    "KernelConstants",
    "SelectorSteps",
    "cer_factor",
    "constants_from_matrices",
    "density_at_cutoff",
    "global_pilot",
    "kernel_constants",
    "pilot_bandwidth",
    "select_bandwidths",
]

BANDWIDTH_RULES = ("mse", "imse", "cer-mse", "cer-imse")

#: Smallest number of distinct units every bandwidth (pilot h0, derivative b, final h)
#: keeps on each side (rdrobust's ``bwcheck`` default under ``masspoints="adjust"``);
#: a side with fewer units keeps all of them.
MIN_UNITS_PER_SIDE = 10

#: The bias constant counts as zero when sqrt(B^2 (+ R)) is below this fraction of
#: sd(Y) / h_max^(s+1), the scale of an (s+1)-th derivative of the outcome over the
#: data range (exactly linear noiseless curves give ~1e-15 instead of 0).
NEAR_ZERO_BIAS = 1e-8

#: Silverman's rule-of-thumb constant for the density bandwidth.
SILVERMAN_CONSTANT = 1.06

# A bandwidth at the k-th distance keeps that unit: pad by (1 + sqrt(eps)) so
# the unit gets positive triangular/Epanechnikov weight (as rdrobust does).
_PAD = 1.0 + math.sqrt(np.finfo(float).eps)

_SIDE_TEXT = {"left": "left (x < cutoff)", "right": "right (x >= cutoff)"}
#: The local fits of steps 2 see only the units of their side within the largest bandwidth
#: (times this slack, so that no unit with positive kernel weight is left out by rounding):
#: the fit visits its in-window units in the same order either way, so the numbers are the
#: same bits, at a cost proportional to the window instead of n x m.
_WINDOW_SLACK = 1.0 + 1e-9


# ---------------------------------------------------------------------------
# kernel constants
# ---------------------------------------------------------------------------


def _poly_square(c: list[Fraction]) -> list[Fraction]:
    out = [Fraction(0)] * (2 * len(c) - 1)
    for i, a in enumerate(c):
        for j, b in enumerate(c):
            out[i + j] += a * b
    return out


def _one_sided_moment(c: list[Fraction], k: int, side: str) -> Fraction:
    """Exact ``int u^k sum_j c_j u^j du`` over [0, 1] (right) or [-1, 0] (left)."""
    lo, hi = (Fraction(0), Fraction(1)) if side == "right" else (Fraction(-1), Fraction(0))
    return sum(
        (cj * (hi ** (k + j + 1) - lo ** (k + j + 1)) / (k + j + 1) for j, cj in enumerate(c)),
        Fraction(0),
    )


def _solve_exact(A: list[list[Fraction]], b: list[Fraction]) -> list[Fraction]:
    """Solve A z = b exactly (Gauss-Jordan over the rationals; A is positive definite)."""
    d = len(b)
    M = [[*row, b[i]] for i, row in enumerate(A)]
    for col in range(d):
        piv = next(r for r in range(col, d) if M[r][col] != 0)
        M[col], M[piv] = M[piv], M[col]
        pv = M[col][col]
        M[col] = [v / pv for v in M[col]]
        for r in range(d):
            if r != col and M[r][col] != 0:
                f = M[r][col]
                M[r] = [vr - f * vc for vr, vc in zip(M[r], M[col], strict=True)]
    return [M[i][d] for i in range(d)]


@dataclass(frozen=True, slots=True)
class KernelConstants:
    """One-sided kernel constants of a local polynomial of order s (docs/method.md §6).

    With r(u) = (1, u, ..., u^s)' and integrals over u >= 0 ("plus") or u < 0 ("minus"):
    Gamma = int K r r', Lambda = int u^(s+1) K r, Psi = int K^2 r r',
    c_b = e_0' Gamma^-1 Lambda (leading bias constant of the intercept),
    c_v = e_0' Gamma^-1 Psi Gamma^-1 e_0 (variance constant of the intercept).

    Attributes
    ----------
    kernel : str
    order : int
        The polynomial order s.
    Gamma_plus, Gamma_minus : ndarray
        (s+1, s+1).
    Lambda_plus, Lambda_minus : ndarray
        (s+1,).
    Psi_plus, Psi_minus : ndarray
        (s+1, s+1).
    c_b_plus, c_b_minus, c_v_plus, c_v_minus : float
    """

    kernel: str
    order: int
    Gamma_plus: np.ndarray
    Gamma_minus: np.ndarray
    Lambda_plus: np.ndarray
    Lambda_minus: np.ndarray
    Psi_plus: np.ndarray
    Psi_minus: np.ndarray
    c_b_plus: float
    c_b_minus: float
    c_v_plus: float
    c_v_minus: float

    def _display(self) -> list[tuple[str, str]]:
        return [("kernel", self.kernel), ("order s", str(self.order)),
                ("c_b plus / minus", f"{_r.num(self.c_b_plus)} / {_r.num(self.c_b_minus)}"),
                ("c_v plus / minus", f"{_r.num(self.c_v_plus)} / {_r.num(self.c_v_minus)}")]

    def __repr__(self) -> str:
        return _r.one_line("KernelConstants", f"{self.kernel} s={self.order}",
                           [("c_b+", _r.num(self.c_b_plus)), ("c_b-", _r.num(self.c_b_minus)),
                            ("c_v+", _r.num(self.c_v_plus)), ("c_v-", _r.num(self.c_v_minus))])

    def _repr_html_(self) -> str:
        return _r.html_table("KernelConstants", self._display())


def constants_from_matrices(
    kernel: str,
    order: int,
    Gamma_plus: np.ndarray,
    Gamma_minus: np.ndarray,
    Lambda_plus: np.ndarray,
    Lambda_minus: np.ndarray,
    Psi_plus: np.ndarray,
    Psi_minus: np.ndarray,
) -> KernelConstants:
    """Build :class:`KernelConstants` (with c_b, c_v) from the kernel matrices.

    Used by :func:`kernel_constants` and by tests that feed in other
    software's (approximate) matrices.
    """
    mats = []
    for arr in (Gamma_plus, Gamma_minus, Lambda_plus, Lambda_minus, Psi_plus, Psi_minus):
        a = np.array(arr, dtype=float)
        a.setflags(write=False)
        mats.append(a)
    Gp, Gm, Lp, Lm, Pp, Pm = mats

    def _cb(G: np.ndarray, L: np.ndarray) -> float:
        return float(np.linalg.solve(G, L)[0])

    def _cv(G: np.ndarray, P: np.ndarray) -> float:
        Ginv = np.linalg.inv(G)
        return float((Ginv @ P @ Ginv)[0, 0])

    return KernelConstants(
        kernel=kernel,
        order=order,
        Gamma_plus=Gp,
        Gamma_minus=Gm,
        Lambda_plus=Lp,
        Lambda_minus=Lm,
        Psi_plus=Pp,
        Psi_minus=Pm,
        c_b_plus=_cb(Gp, Lp),
        c_b_minus=_cb(Gm, Lm),
        c_v_plus=_cv(Gp, Pp),
        c_v_minus=_cv(Gm, Pm),
    )


@lru_cache(maxsize=64)
def _kernel_constants_cached(kernel: str, order: int) -> KernelConstants:
    s = order
    mats: dict[str, np.ndarray] = {}
    consts: dict[str, float] = {}
    for side, tag in (("right", "plus"), ("left", "minus")):
        K = list(KERNELS[kernel].side_coefficients(side))  # exact, in powers of u
        K2 = _poly_square(K)
        G = [[_one_sided_moment(K, i + j, side) for j in range(s + 1)] for i in range(s + 1)]
        L = [_one_sided_moment(K, s + 1 + i, side) for i in range(s + 1)]
        P = [[_one_sided_moment(K2, i + j, side) for j in range(s + 1)] for i in range(s + 1)]
        e0 = [Fraction(1)] + [Fraction(0)] * s
        a = _solve_exact(G, e0)  # Gamma^-1 e_0 (Gamma symmetric)
        consts[f"c_b_{tag}"] = float(sum((ai * li for ai, li in zip(a, L, strict=True)), Fraction(0)))
        consts[f"c_v_{tag}"] = float(
            sum((a[i] * P[i][j] * a[j] for i in range(s + 1) for j in range(s + 1)), Fraction(0))
        )
        for name, val in (("Gamma", G), ("Lambda", L), ("Psi", P)):
            arr = np.array(val, dtype=float)
            arr.setflags(write=False)
            mats[f"{name}_{tag}"] = arr
    return KernelConstants(kernel=kernel, order=order, **mats, **consts)


def kernel_constants(kernel: str, order: int) -> KernelConstants:
    """Exact one-sided kernel constants for a local polynomial of order ``order``.

    Parameters
    ----------
    kernel : str
        A name in :data:`r3d.kernels.KERNELS` or a short form ("tri", "epa", "uni", ...).
    order : int
        Polynomial order s >= 0.

    Returns
    -------
    KernelConstants
        Closed-form integrals (the kernels are piecewise polynomials). For
        example, triangular with s = 1: c_b = -1/10 and c_v = 24/5 on both sides.
    """
    kernel = canonical_kernel(kernel)
    order = check_int("order", order, low=0, high=10)
    return _kernel_constants_cached(kernel, order)


# ---------------------------------------------------------------------------
# density of the running variable at the cutoff
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DensityEstimate:
    """Kernel density estimate of the running variable at the cutoff.

    Attributes
    ----------
    f_hat : float
        mean_i K((X_i - c) / h) / h.
    h : float
        Silverman bandwidth 1.06 sd(X) n^(-1/5) (M^(-1/5), M the distinct values of X, with
        ``masspoints="adjust"``).
    sd : float
        Sample standard deviation of X (denominator n - 1).
    n : int
        Number of units.
    kernel : str
    """

    f_hat: float
    h: float
    sd: float
    n: int
    kernel: str

    def __repr__(self) -> str:
        return _r.one_line("DensityEstimate", "", [("f_hat", _r.num(self.f_hat)), ("h", _r.num(self.h)),
                                                   ("sd", _r.num(self.sd)), ("n", str(self.n)),
                                                   ("kernel", self.kernel)])

    def _repr_html_(self) -> str:
        return _r.html_table("DensityEstimate", [("f_hat (density at the cutoff)", _r.num(self.f_hat)),
                                                 ("h (Silverman)", _r.num(self.h)), ("sd of X", _r.num(self.sd)),
                                                 ("units", str(self.n)), ("kernel", self.kernel)])


def density_at_cutoff(x: np.ndarray, *, cutoff: float, kernel: str) -> DensityEstimate:
    """Density of the running variable at the cutoff (step 1 of docs/method.md §6).

    Parameters
    ----------
    x : ndarray
        (n,) running variable, one entry per unit.
    cutoff : float
    kernel : str
        The estimation kernel (a density on [-1, 1]): a name in :data:`r3d.kernels.KERNELS`
        or a short form.

    Returns
    -------
    DensityEstimate
    """
    kernel = canonical_kernel(kernel)
    return _density_at_cutoff(_as_float_1d("x", x), cutoff=float(cutoff), kernel=kernel)


def _density_at_cutoff(x: np.ndarray, *, cutoff: float, kernel: str, n_rate: int | None = None) -> DensityEstimate:
    """:func:`density_at_cutoff` on a validated float64 ``x``; ``n_rate`` replaces n in Silverman's rate
    (the number of distinct values of x with ``masspoints="adjust"``, as rdrobust's ``rdbwselect``)."""
    n = x.size
    if n < 2:
        raise ValueError(message("x", "at least 2 units", f"<{n} unit(s)>"))
    xc = x - float(cutoff)
    sd = float(np.std(xc, ddof=1))
    if not sd > 0:
        raise ValueError(
            message("x", "a running variable that varies across units", "<a constant>")
        )
    h = SILVERMAN_CONSTANT * sd * (n if n_rate is None else n_rate) ** (-1.0 / 5.0)
    f_hat = float(np.mean(kernel_function(xc / h, kernel)) / h)
    if not f_hat > 0:
        raise InsufficientDataError(
            f"No unit lies within the density bandwidth {h:.4g} (Silverman's rule) of the cutoff "
            f"{float(cutoff):g}, so the density of the running variable there is estimated as 0 "
            f"and no bandwidth can be selected from the data. Give a bandwidth by hand."
        )
    return DensityEstimate(f_hat=f_hat, h=h, sd=sd, n=n, kernel=kernel)


def cer_factor(n: int, pilot_order: int) -> float:
    """Coverage-error rule-of-thumb factor n^(-s/((2s+3)(s+3))) (Calonico, Cattaneo, Farrell)."""
    s = pilot_order
    return float(n ** (-s / ((2 * s + 3) * (s + 3))))


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SelectorSteps:
    """Every intermediate of the selector for one outcome (m curves).

    For the quantile outcome m is the number of quantile levels; for the fuzzy
    first stage (the take-up T) m = 1. Arrays are (m,) unless stated; for the
    IMSE rules the bandwidth arrays repeat one value.

    Attributes
    ----------
    pilot_deriv_plus, pilot_deriv_minus : ndarray
        Step 1: (s+1)-th derivatives from the global polynomials of degree s+1.
    pilot_sigma2_plus, pilot_sigma2_minus : ndarray
        Step 1: residual variances of those fits (denominator n_side - 1).
    pilot_B, pilot_V : ndarray
        Step 1: bias and variance constants B0(q), V0(q).
    h0_formula : ndarray
        Step 1: pilot bandwidth from the formula (may be inf), before guards.
    h0 : ndarray
        Pilot bandwidth used (capped at h_max, floored to keep units).
    pilot_capped, pilot_floored : ndarray
        (m,) bool: the cap / the unit floor changed h0.
    b : ndarray
        Step 2: bandwidth of the order s+1 derivative fit,
        h0 n^(1/(2s+3) - 1/(2s+5)), then capped/floored.
    b_capped, b_floored : ndarray
        (m,) bool.
    deriv_plus, deriv_minus : ndarray
        Step 2: (s+1)-th derivatives m^(s+1) at the cutoff from the local fits at b.
    deriv_var_plus, deriv_var_minus : ndarray
        HC0 sandwich variances of the coefficients beta_(s+1) = m^(s+1) / (s+1)!.
    sigma2_plus, sigma2_minus : ndarray
        Step 2: kernel-weighted residual variances of the order-s fits at h0.
    B_plus, B_minus : ndarray
        c_b+- m+-^(s+1) / (s+1)!; the bias constant of the jump is B_plus - B_minus.
    V_plus, V_minus : ndarray
        c_v+- sigma2+- / f_hat; the variance constant of the jump is V_plus + V_minus.
    R : ndarray
        Estimated variance of B = B_plus - B_minus (the regularisation term).
    h_formula : ndarray
        Step 3: (I)MSE-optimal bandwidth from the formula (may be inf), before
        guards and before the CER factor.
    h : ndarray
        Final bandwidth.
    capped : ndarray
        (m,) bool: the data-range cap (or the near-zero-bias fallback) set h.
    near_zero_bias : ndarray
        (m,) bool: the denominator B^2 (+ R) was zero or the formula not finite.
    floored : ndarray
        (m,) bool: h was enlarged to keep MIN_UNITS_PER_SIDE units on each side.
    """

    pilot_deriv_plus: np.ndarray
    pilot_deriv_minus: np.ndarray
    pilot_sigma2_plus: np.ndarray
    pilot_sigma2_minus: np.ndarray
    pilot_B: np.ndarray
    pilot_V: np.ndarray
    h0_formula: np.ndarray
    h0: np.ndarray
    pilot_capped: np.ndarray
    pilot_floored: np.ndarray
    b: np.ndarray
    b_capped: np.ndarray
    b_floored: np.ndarray
    deriv_plus: np.ndarray
    deriv_minus: np.ndarray
    deriv_var_plus: np.ndarray
    deriv_var_minus: np.ndarray
    sigma2_plus: np.ndarray
    sigma2_minus: np.ndarray
    B_plus: np.ndarray
    B_minus: np.ndarray
    V_plus: np.ndarray
    V_minus: np.ndarray
    R: np.ndarray
    h_formula: np.ndarray
    h: np.ndarray
    capped: np.ndarray
    near_zero_bias: np.ndarray
    floored: np.ndarray

    def as_dict(self, prefix: str = "") -> dict[str, Any]:
        """Flat dict of the arrays (copies), keys prefixed with ``prefix``."""
        return {prefix + name: np.array(getattr(self, name)) for name in self.__dataclass_fields__}

    def _display(self) -> list[tuple[str, str]]:
        flags = [("capped", self.capped), ("floored", self.floored), ("near-zero bias", self.near_zero_bias)]
        return [("curves", str(np.size(self.h))), ("pilot h0", _r.span(self.h0)), ("derivative b", _r.span(self.b)),
                ("h (formula)", _r.span(self.h_formula)), ("h", _r.span(self.h)),
                ("B+ / B-", f"{_r.span(self.B_plus)} / {_r.span(self.B_minus)}"),
                ("V+ / V-", f"{_r.span(self.V_plus)} / {_r.span(self.V_minus)}"), ("R", _r.span(self.R)),
                *((name, f"{_r.count_true(mask)} of {np.size(mask)}") for name, mask in flags)]

    def __repr__(self) -> str:
        fields = [("", f"{np.size(self.h)} curves"), ("h0", _r.span(self.h0)), ("b", _r.span(self.b)),
                  ("h", _r.span(self.h))]
        for name, mask in (("capped", self.capped), ("floored", self.floored),
                           ("near-zero bias", self.near_zero_bias)):
            if _r.count_true(mask):
                fields.append((name, str(_r.count_true(mask))))
        return _r.one_line("SelectorSteps", "", fields)

    def _repr_html_(self) -> str:
        return _r.html_table("SelectorSteps", self._display())


@dataclass(frozen=True, slots=True)
class BandwidthSelection:
    """Bandwidths chosen from the data, with every intermediate (docs/method.md §6).

    Attributes
    ----------
    rule : str
        One of ``BANDWIDTH_RULES``.
    h : ndarray
        (m,) final bandwidth per quantile level (all equal for the IMSE rules).
    h_treatment : float or None
        Fuzzy first-stage bandwidth (MSE rule on T, CER factor for the CER
        rules), None for a sharp design.
    quantiles : ndarray
        (m,) quantile levels.
    kernel : str
    order : int
        Estimation order p.
    pilot_order : int
        Pilot order s (the bandwidth is (I)MSE-optimal for order s).
    cutoff : float
    n, n_left, n_right : int
        Units in total and on each side.
    density : DensityEstimate
        f_hat and its Silverman bandwidth.
    constants : KernelConstants
        Exact kernel constants for order s.
    h_max : float
        The data-range cap: the largest distance from the cutoff to a unit.
    h_min : float
        The unit floor: smallest bandwidth keeping min(MIN_UNITS_PER_SIDE, side
        size) distinct units on each side.
    cer_factor : float
        n^(-s/((2s+3)(s+3))) for the CER rules, 1.0 otherwise.
    regularize : bool
        Whether R entered the denominators.
    steps : SelectorSteps
        Intermediates for the quantile outcome ((m,) arrays).
    treatment_steps : SelectorSteps or None
        Intermediates for the take-up T ((1,) arrays), fuzzy designs only.
    warnings : tuple of str
        Texts of the BandwidthWarnings issued.
    """

    rule: str
    h: np.ndarray
    h_treatment: float | None
    quantiles: np.ndarray
    kernel: str
    order: int
    pilot_order: int
    cutoff: float
    n: int
    n_left: int
    n_right: int
    density: DensityEstimate
    constants: KernelConstants
    h_max: float
    h_min: float
    cer_factor: float
    regularize: bool
    steps: SelectorSteps
    treatment_steps: SelectorSteps | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    # convenient views of the outcome intermediates
    @property
    def f_hat(self) -> float:
        """Density of the running variable at the cutoff."""
        return self.density.f_hat

    @property
    def s(self) -> int:
        """Pilot order s."""
        return self.pilot_order

    @property
    def p(self) -> int:
        """Estimation order p."""
        return self.order

    @property
    def h0(self) -> np.ndarray:
        """(m,) pilot bandwidths used in step 2."""
        return self.steps.h0

    @property
    def b(self) -> np.ndarray:
        """(m,) bandwidths of the derivative fits."""
        return self.steps.b

    @property
    def B_plus(self) -> np.ndarray:
        """(m,) right-side bias constants."""
        return self.steps.B_plus

    @property
    def B_minus(self) -> np.ndarray:
        """(m,) left-side bias constants."""
        return self.steps.B_minus

    @property
    def V_plus(self) -> np.ndarray:
        """(m,) right-side variance constants."""
        return self.steps.V_plus

    @property
    def V_minus(self) -> np.ndarray:
        """(m,) left-side variance constants."""
        return self.steps.V_minus

    @property
    def R(self) -> np.ndarray:
        """(m,) estimated variances of the bias constant."""
        return self.steps.R

    @property
    def capped(self) -> np.ndarray:
        """(m,) bool: the data-range cap bound."""
        return self.steps.capped

    @property
    def bandwidth(self) -> float | np.ndarray:
        """The IMSE bandwidth as a float, or the (m,) MSE bandwidths."""
        if self.rule in ("imse", "cer-imse"):
            return float(self.h[0])
        return self.h

    def _display(self) -> list[tuple[str, str]]:
        rows = [("rule", self.rule), ("h", _h_text(self.h)), ("quantile grid", _r.level_range(self.quantiles)),
                ("kernel", self.kernel), ("order p / pilot s", f"{self.order} / {self.pilot_order}"),
                ("cutoff", f"{self.cutoff:g}"), ("units (left / right)", f"{self.n} ({self.n_left} / {self.n_right})"),
                ("density f(c)", f"{_r.num(self.density.f_hat)} (h = {_r.num(self.density.h)})"),
                ("pilot h0", _r.span(self.steps.h0)), ("derivative b", _r.span(self.steps.b)),
                ("cap h_max / floor h_min", f"{_r.num(self.h_max)} / {_r.num(self.h_min)}"),
                ("cap binds at", f"{_r.count_true(self.steps.capped)} of {np.size(self.steps.capped)} levels"),
                ("CER factor", _r.num(self.cer_factor)), ("regularized", "yes" if self.regularize else "no")]
        if self.h_treatment is not None:
            rows.insert(2, ("h_T (take-up)", _r.num(self.h_treatment)))
        rows.append(("warnings", str(len(self.warnings))))
        return rows

    def __repr__(self) -> str:
        fields = [("h", _h_text(self.h))]
        if self.h_treatment is not None:
            fields.append(("h_T", _r.num(self.h_treatment)))
        fields += [("", _r.level_range(self.quantiles)), ("kernel", self.kernel),
                   ("p", str(self.order)), ("s", str(self.pilot_order)),
                   ("n", f"{self.n} ({self.n_left} / {self.n_right})")]
        if self.warnings:
            fields.append(("warnings", str(len(self.warnings))))
        return _r.one_line("BandwidthSelection", self.rule, fields)

    def _repr_html_(self) -> str:
        return _r.html_table(f"BandwidthSelection: {self.rule}", self._display())

    def as_dict(self) -> dict[str, Any]:
        """Flat dict of every number (for ``R3DResults.bandwidth_info``)."""
        c = self.constants
        out: dict[str, Any] = {
            "rule": self.rule,
            "h": np.array(self.h),
            "h_treatment": self.h_treatment,
            "quantiles": np.array(self.quantiles),
            "kernel": self.kernel,
            "order": self.order,
            "pilot_order": self.pilot_order,
            "cutoff": self.cutoff,
            "n": self.n,
            "n_left": self.n_left,
            "n_right": self.n_right,
            "f_hat": self.density.f_hat,
            "density_bandwidth": self.density.h,
            "sd_x": self.density.sd,
            "c_b_plus": c.c_b_plus,
            "c_b_minus": c.c_b_minus,
            "c_v_plus": c.c_v_plus,
            "c_v_minus": c.c_v_minus,
            "h_max": self.h_max,
            "h_min": self.h_min,
            "cer_factor": self.cer_factor,
            "regularize": self.regularize,
            "warnings": list(self.warnings),
        }
        out.update(self.steps.as_dict())
        if self.treatment_steps is not None:
            out.update(self.treatment_steps.as_dict(prefix="treatment_"))
        return out


@dataclass(frozen=True, slots=True)
class BandwidthChoice:
    """The bandwidths of one fit and where they came from.

    Attributes
    ----------
    rule : str
        "fixed" (given by the user) or the selector's rule ("mse", "imse", "cer-mse", "cer-imse").
    h : ndarray
        (1,) one bandwidth for every quantile level, or (m,) one per level.
    selection : BandwidthSelection or None
        The selector run that chose ``h``, with every intermediate; None for a fixed ``h``.
    h_treatment : float or None
        Fuzzy first-stage bandwidth h_T; None for a sharp design.
    treatment_source : {"user", "selected"} or None
        Whether h_T was given or selected; None for a sharp design.
    treatment_selection : BandwidthSelection or None
        The selector run that chose h_T: ``selection`` (its ``treatment_steps``) when both were
        selected together, a separate MSE run on the take-up when ``h`` was fixed, None when
        h_T was given.
    """

    rule: str
    h: np.ndarray
    selection: BandwidthSelection | None
    h_treatment: float | None
    treatment_source: str | None
    treatment_selection: BandwidthSelection | None

    def _display(self) -> list[tuple[str, str]]:
        rows = [("rule", self.rule), ("h", _h_text(self.h)),
                ("selector run", "none (bandwidth given)" if self.selection is None else repr(self.selection))]
        if self.h_treatment is not None:
            rows.append(("h_T (take-up)", f"{_r.num(self.h_treatment)} ({self.treatment_source})"))
        return rows

    def __repr__(self) -> str:
        fields = [("h", _h_text(self.h))]
        if self.h_treatment is not None:
            fields.append(("h_T", f"{_r.num(self.h_treatment)} ({self.treatment_source})"))
        return _r.one_line("BandwidthChoice", self.rule, fields)

    def _repr_html_(self) -> str:
        return _r.html_table(f"BandwidthChoice: {self.rule}", self._display())

    @property
    def warnings(self) -> tuple[str, ...]:
        """Texts of the BandwidthWarnings the selector runs issued, in order."""
        runs = [self.selection] + ([self.treatment_selection] if self.treatment_selection is not self.selection else [])
        return tuple(w for run in runs if run is not None for w in run.warnings)

    def as_dict(self) -> dict[str, Any]:
        """The flat view of ``R3DResults.bandwidth_info``: the selection's intermediates
        (``BandwidthSelection.as_dict``), ``{"treatment": ...}`` for a take-up bandwidth selected
        on its own next to a fixed ``h``, or ``{}``."""
        if self.selection is not None:
            return self.selection.as_dict()
        if self.treatment_selection is not None:
            return {"treatment": self.treatment_selection.as_dict()}
        return {}


def _h_text(h: np.ndarray) -> str:
    """One bandwidth, or the range of per-level bandwidths."""
    h = np.atleast_1d(np.asarray(h, dtype=np.float64))
    return _r.num(h[0]) if h.size == 1 or np.all(h == h[0]) else f"{_r.span(h)} (per level)"


def choose_bandwidths(
    x: np.ndarray,
    Q: np.ndarray,
    quantiles: np.ndarray,
    *,
    cutoff: float,
    bandwidth: str | np.ndarray,
    bandwidth_treatment: float | None,
    t: np.ndarray | None,
    kernel: str,
    order: int,
    pilot_order: int,
    regularize: bool,
    adjust: Adjuster | None = None,
    omega: np.ndarray | None = None,
    n_rate: int | None = None,
) -> BandwidthChoice:
    """The bandwidth stage of a fit, on validated inputs: x (n,), Q (n, m) and quantiles (m,);
    ``bandwidth`` a selector rule or the user's (1,) / (m,) bandwidths; ``bandwidth_treatment`` the
    user's h_T, or None to select it when ``t`` (the take-up of a fuzzy design) is given; ``adjust``
    makes the selector work on covariate-adjusted columns (:func:`_select_bandwidths`)."""
    select_t = t is not None and bandwidth_treatment is None
    source = None if t is None else ("selected" if select_t else "user")
    if isinstance(bandwidth, str):
        sel = _select_bandwidths(x, Q, quantiles, cutoff=cutoff, rule=bandwidth, kernel=kernel, order=order,
                                 s=pilot_order, regularize=regularize, t=t if select_t else None, adjust=adjust,
                                 omega=omega, n_rate=n_rate)
        h = sel.h[:1] if bandwidth in ("imse", "cer-imse") else sel.h
        h_t = sel.h_treatment if select_t else bandwidth_treatment
        return BandwidthChoice(rule=bandwidth, h=h, selection=sel, h_treatment=h_t, treatment_source=source,
                               treatment_selection=sel if select_t else None)
    t_sel = None
    h_t = bandwidth_treatment
    if select_t:  # h_T by the MSE rule on the take-up alone
        t_sel = _select_bandwidths(x, t.reshape(-1, 1), np.array([0.5]), cutoff=cutoff, rule="mse", kernel=kernel,
                                   order=order, s=pilot_order, regularize=regularize, t=None, adjust=adjust,
                                   what="treatment", omega=omega, n_rate=n_rate)
        h_t = float(t_sel.h[0])
    return BandwidthChoice(rule="fixed", h=bandwidth, selection=None, h_treatment=h_t, treatment_source=source,
                           treatment_selection=t_sel)


# ---------------------------------------------------------------------------
# numerical steps
# ---------------------------------------------------------------------------


def _trapezoid_weights(quantiles: np.ndarray) -> np.ndarray:
    """(m,) weights w with sum_j w_j g(q_j) = trapezoid integral of g over the grid.

    A single grid point gets weight 1 (only ratios of integrals are used).
    """
    m = quantiles.size
    if m == 1:
        return np.ones(1)
    d = np.diff(quantiles)
    w = np.zeros(m)
    w[:-1] += d / 2.0
    w[1:] += d / 2.0
    return w


def _optimal_h(V: np.ndarray, D: np.ndarray, n: int, s: int) -> np.ndarray:
    """[V / (2(s+1) D)]^(1/(2s+3)) n^(-1/(2s+3)); inf where D <= 0 or not finite."""
    ok = np.isfinite(D) & (D > 0) & np.isfinite(V) & (V >= 0)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        ratio = np.where(ok, V / (2.0 * (s + 1) * np.where(ok, D, 1.0)), np.inf)
        out = np.where(ok & np.isfinite(ratio), ratio ** (1.0 / (2 * s + 3)) * n ** (-1.0 / (2 * s + 3)), np.inf)
    return out


@dataclass(frozen=True, slots=True)
class GlobalPilot:
    """Step 1: global polynomial fits of degree s+1 on each side.

    Attributes
    ----------
    deriv_plus, deriv_minus : ndarray
        (m,) (s+1)-th derivatives (constant for a polynomial of degree s+1).
    sigma2_plus, sigma2_minus : ndarray
        (m,) residual variances (sum of squared residuals / (n_side - 1)).
    B : ndarray
        (m,) bias constants [c_b+ d+ - c_b- d-] / (s+1)!.
    V : ndarray
        (m,) variance constants (c_v+ sigma2+ + c_v- sigma2-) / f_hat.
    """

    deriv_plus: np.ndarray
    deriv_minus: np.ndarray
    sigma2_plus: np.ndarray
    sigma2_minus: np.ndarray
    B: np.ndarray
    V: np.ndarray

    def __repr__(self) -> str:
        return _r.one_line("GlobalPilot", "", [("", f"{np.size(self.B)} curves"), ("B", _r.span(self.B)),
                                               ("V", _r.span(self.V))])


def _global_poly(xc: np.ndarray, Y: np.ndarray, degree: int, side: str,
                 omega: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares polynomial of ``degree`` in xc (one side of the cutoff, xc = x - c) for every
    column of Y.

    The fit is r3d's compiled local polynomial with the uniform kernel and h = max |xc| (every
    unit of the side inside, equal weights: ordinary least squares on t = xc / h). Its
    Householder QR sums in a fixed order, so the pilot does not depend on the BLAS's threads
    (numpy's QR does, by ~1e-10 relative on 50,000 units).

    Returns the ``degree``-th derivatives (m,) and residual variances (m,)
    (denominator n - 1, as R's ``var(resid(lm(...)))``). With unit weights ``omega`` (n,) the fit is
    weighted least squares and the variance the weighted mean of squared residuals times n / (n - 1).
    """
    scale = float(np.max(np.abs(xc)))
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    fit = _fit_side(np.ascontiguousarray(xc, dtype=np.float64), Y, cutoff=0.0, h=np.array([scale]),
                    order=degree, kernel="uniform", side=side, omega=omega)
    # written over the fit's own fitted values, which nothing else reads: one (n, m) array less
    resid = np.subtract(Y, fit.fitted, out=fit.fitted)
    if omega is None:
        # squared in place (the same products, no second (n, m) array)
        sigma2 = np.sum(np.multiply(resid, resid, out=resid), axis=0) / (xc.size - 1)
    else:
        sigma2 = np.sum(omega[:, None] * resid * resid, axis=0) / np.sum(omega) * (xc.size / (xc.size - 1))
    deriv = fit.coef[degree] * math.factorial(degree) / scale**degree
    return deriv, sigma2


def global_pilot(
    x: np.ndarray,
    Y: np.ndarray,
    *,
    cutoff: float,
    f_hat: float,
    constants: KernelConstants,
    omega: np.ndarray | None = None,
) -> GlobalPilot:
    """Step 1 of the selector: bias and variance constants from global polynomials.

    Parameters
    ----------
    x : ndarray
        (n,) running variable.
    Y : ndarray
        (n, m) outcome curves (unit quantiles, or T as one column).
    cutoff : float
    f_hat : float
        Density of x at the cutoff.
    constants : KernelConstants
        Constants for order s (``constants.order``).
    omega : ndarray or None
        (n,) positive unit weights (weighted least squares), or None.

    Returns
    -------
    GlobalPilot
    """
    s = constants.order
    xc = x - cutoff
    right = xc >= 0
    om_p = None if omega is None else np.ascontiguousarray(omega[right])
    om_m = None if omega is None else np.ascontiguousarray(omega[~right])
    d_plus, v_plus = _global_poly(xc[right], Y[right], s + 1, "right", om_p)
    d_minus, v_minus = _global_poly(xc[~right], Y[~right], s + 1, "left", om_m)
    fact = math.factorial(s + 1)
    B = (constants.c_b_plus * d_plus - constants.c_b_minus * d_minus) / fact
    V = (constants.c_v_plus * v_plus + constants.c_v_minus * v_minus) / f_hat
    return GlobalPilot(d_plus, d_minus, v_plus, v_minus, B, V)


def pilot_bandwidth(pilot: GlobalPilot, quantiles: np.ndarray, *, n: int, s: int, imse: bool) -> np.ndarray:
    """Step 1 pilot h0 from the formula: (m,) per quantile, or the IMSE value repeated.

    Unguarded: inf where the bias constant is zero.
    """
    if imse:
        w = _trapezoid_weights(quantiles)
        h = _optimal_h(np.sum(w * pilot.V), np.sum(w * pilot.B**2), n, s)
        return np.full(quantiles.size, float(h))
    return _optimal_h(pilot.V, pilot.B**2, n, s)


def _guard(h: np.ndarray, h_min: float, h_max: float, factor: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cap at h_max (also for inf/NaN), multiply by ``factor``, floor at h_min: (h, capped, floored)."""
    capped = ~np.isfinite(h) | (h > h_max)
    out = np.where(capped, h_max, h) * factor
    floored = out < h_min
    out = np.where(floored, h_min, out)
    return out, capped, floored


def _side_fits(
    x: np.ndarray,
    Y: np.ndarray,
    *,
    cutoff: float,
    h: np.ndarray,
    order: int,
    kernel: str,
    side: str,
    omega: np.ndarray | None = None,
) -> Any:
    """One-sided local fit (the compiled kernel via ``r3d.locpoly``), one common h when all are equal."""
    hh = h[:1].copy() if np.all(h == h[0]) else h
    return _fit_side(x, Y, cutoff=cutoff, h=hh, order=order, kernel=kernel, side=side, return_coef_weights=True,
                     omega=omega)


def _window_weights(x: np.ndarray, Y: np.ndarray, omega: np.ndarray | None, *, cutoff: float, h: np.ndarray,
                    side: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`_window` carrying the unit weights ``omega`` (n,) or None along."""
    if omega is None:
        return (*_window(x, Y, cutoff=cutoff, h=h, side=side), None)
    if Y.shape[1] == 1:
        return x, Y, omega
    dx = x - cutoff
    on_side = dx >= 0.0 if side == "right" else dx < 0.0
    rows = np.flatnonzero(on_side & (np.abs(dx) <= float(np.max(h)) * _WINDOW_SLACK))
    return x[rows], Y[rows], np.ascontiguousarray(omega[rows])


def _window(x: np.ndarray, Y: np.ndarray, *, cutoff: float, h: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``x`` (n,) and ``Y`` (n, m) on ``side`` within the largest of ``h``.

    Only for m > 1: sums over axis 0 of an (n, m) array add row after row, so dropping the
    zero rows of units outside the window leaves every sum unchanged; a single column is
    summed pairwise and is passed whole (it is cheap).
    """
    if Y.shape[1] == 1:
        return x, Y
    dx = x - cutoff
    on_side = dx >= 0.0 if side == "right" else dx < 0.0
    rows = np.flatnonzero(on_side & (np.abs(dx) <= float(np.max(h)) * _WINDOW_SLACK))
    return x[rows], Y[rows]


def _columns(a: np.ndarray, m: int) -> np.ndarray:
    """Broadcast an (n, m_h) array with m_h in {1, m} to (n, m)."""
    return np.broadcast_to(a, (a.shape[0], m))


def _inside_residuals(Y: np.ndarray, fit: Any) -> np.ndarray:
    """(n, m) Y - fitted for units with k > 0, 0 elsewhere (a plain difference when every
    unit of the window has k > 0, the usual case after :func:`_window`: the same numbers).

    The plain difference is written over ``fit.fitted``: both callers' fits are their own and
    read no fitted value afterwards, and a new (n, m) array costs more than the subtraction."""
    inside = np.asarray(fit.kernel_weights) > 0  # (n, m_h)
    if inside.all():
        return np.subtract(Y, fit.fitted, out=fit.fitted)
    inside = _columns(inside, Y.shape[1])
    return np.where(inside, Y - np.where(inside, fit.fitted, 0.0), 0.0)


def _local_residual_variance(
    x: np.ndarray, Y: np.ndarray, *, cutoff: float, h0: np.ndarray, s: int, kernel: str, side: str,
    omega: np.ndarray | None = None,
) -> np.ndarray:
    """(m,) kernel-weighted mean of squared residuals of the order-s fit at h0 (weights k_i omega_i
    with unit weights)."""
    x, Y, omega = _window_weights(x, Y, omega, cutoff=cutoff, h=h0, side=side)
    fit = _side_fits(x, Y, cutoff=cutoff, h=h0, order=s, kernel=kernel, side=side, omega=omega)
    m = Y.shape[1]
    k = _columns(fit.kernel_weights, m)
    e = _inside_residuals(Y, fit)
    ke = k * e
    return np.sum(np.multiply(ke, e, out=ke), axis=0) / np.sum(k, axis=0)  # (k e) e, in place


def _local_derivative(
    x: np.ndarray, Y: np.ndarray, *, cutoff: float, b: np.ndarray, s: int, kernel: str, side: str,
    omega: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(m,) beta_(s+1) of the order s+1 fit at b, and its HC0 sandwich variance."""
    x, Y, omega = _window_weights(x, Y, omega, cutoff=cutoff, h=b, side=side)
    fit = _side_fits(x, Y, cutoff=cutoff, h=b, order=s + 1, kernel=kernel, side=side, omega=omega)
    m = Y.shape[1]
    scale = b ** (s + 1)  # (m,)
    beta = np.asarray(fit.coef, dtype=float)[s + 1] / scale
    e = _inside_residuals(Y, fit)
    cw = _columns(np.asarray(fit.coef_weights, dtype=float)[s + 1], m) / scale
    cwe = np.multiply(cw, e, out=e)  # e is this function's own array (:func:`_inside_residuals`)
    var = np.sum(np.square(cwe, out=cwe), axis=0)  # (cw e)^2 in place: the same squares
    return beta, var


def _fmt_q(quantiles: np.ndarray, mask: np.ndarray, limit: int = 5) -> str:
    qs = [f"{q:.3g}" for q in quantiles[mask]]
    if len(qs) > limit:
        qs = [*qs[:limit], f"... ({len(qs)} levels)"]
    return ", ".join(qs)


def _select_one(x: np.ndarray, Y: np.ndarray, quantiles: np.ndarray, **options: Any) -> SelectorSteps:
    """Steps 1-3 for one outcome (Y: (n, m) quantile curves, or T as (n, 1)); ``options`` are the
    keyword arguments of :func:`_select_scaled`.

    The steps run on ``Y / 2^e`` with ``max |Y| / 2^e`` in [0.5, 1) (:func:`_outcome_exponent`)
    and the intermediates are scaled back: a power of two scales every operation exactly, so
    ordinary outcomes give the same bits, ``h`` does not depend on the outcome's unit, and
    outcomes of magnitude 1e300 or 1e-300 neither overflow nor underflow in ``B^2``, ``V`` and
    ``R`` (an intermediate reported in the outcome's unit may still be ``inf`` or ``0`` when it is
    not a representable double; ``h`` never is).
    """
    e = _outcome_exponent(Y)
    steps = _select_scaled(x, np.ascontiguousarray(np.ldexp(Y, -e)), quantiles, **options)
    if e == 0:
        return steps
    with np.errstate(over="ignore", under="ignore"):
        return replace(steps, **{name: np.ldexp(getattr(steps, name), power * e)
                                 for name, power in _SCALE_POWERS.items()})


#: How each intermediate of :class:`SelectorSteps` scales with the outcome (Y -> c Y gives c^power);
#: the bandwidths and flags do not scale.
_SCALE_POWERS = {
    "pilot_deriv_plus": 1, "pilot_deriv_minus": 1, "pilot_sigma2_plus": 2, "pilot_sigma2_minus": 2,
    "pilot_B": 1, "pilot_V": 2, "deriv_plus": 1, "deriv_minus": 1, "deriv_var_plus": 2, "deriv_var_minus": 2,
    "sigma2_plus": 2, "sigma2_minus": 2, "B_plus": 1, "B_minus": 1, "V_plus": 2, "V_minus": 2, "R": 2,
}


#: Rows squared at a time by :func:`_column_std`.
STD_BLOCK_ROWS = 4096


def _column_std(Y: np.ndarray) -> np.ndarray:
    """(m,) ``np.std(Y, axis=0)`` with the same bits, without numpy's (n, m) array of deviations.

    numpy's ``_var`` sums the rows to the mean, subtracts it, squares in place and sums again;
    for m >= 2 each sum over the rows of a C-contiguous array adds one row after another, so the
    deviations can be squared in blocks of rows whose first row carries the running sum (the
    same additions in the same order; ``tests/test_bandwidth.py`` checks it against np.std).
    """
    n, m = Y.shape
    if m < 2 or n <= STD_BLOCK_ROWS:
        return np.std(Y, axis=0)
    rcount = np.intp(n)
    mean = np.add.reduce(Y, axis=0, keepdims=True)
    mean = np.true_divide(mean, rcount, out=mean, casting="unsafe", subok=False)

    def squared_deviations(rows: np.ndarray, g0: int, g1: int) -> None:
        np.subtract(Y[g0:g1], mean, out=rows)
        np.square(rows, out=rows)

    S = carried_row_sum(n, m, STD_BLOCK_ROWS, squared_deviations)
    return np.sqrt(np.true_divide(S, rcount, out=S, casting="unsafe", subok=False))


def _outcome_exponent(Y: np.ndarray) -> int:
    """e with max |Y| / 2^e in [0.5, 1) (0 for an all-zero Y)."""
    # max |Y| as max(max Y, -min Y): exact, without an (n, m) array of |Y| (job D: 80 MB of new memory)
    return int(np.frexp(max(float(np.max(Y)), -float(np.min(Y))))[1]) if Y.size else 0


def _select_scaled(
    x: np.ndarray,
    Y: np.ndarray,
    quantiles: np.ndarray,
    *,
    what: str,
    cutoff: float,
    imse: bool,
    cer: float,
    kernel: str,
    constants: KernelConstants,
    f_hat: float,
    n: int,
    h_min: float,
    h_max: float,
    regularize: bool,
    notes: Notes,
    omega: np.ndarray | None = None,
) -> SelectorSteps:
    """:func:`_select_one` on an outcome scaled to max |Y| in [0.5, 1); ``omega`` (n,) unit weights
    (every fit weighted by them) or None."""
    s = constants.order
    fact = math.factorial(s + 1)

    # step 1
    pilot = global_pilot(x, Y, cutoff=cutoff, f_hat=f_hat, constants=constants, omega=omega)
    h0_formula = pilot_bandwidth(pilot, quantiles, n=n, s=s, imse=imse)
    h0, pilot_capped, pilot_floored = _guard(h0_formula, h_min, h_max)

    # step 2
    b_raw = h0 * n ** (1.0 / (2 * s + 3) - 1.0 / (2 * s + 5))
    b, b_capped, b_floored = _guard(b_raw, h_min, h_max)
    sig = {}
    beta = {}
    bvar = {}
    for side, tag in (("left", "minus"), ("right", "plus")):
        sig[tag] = _local_residual_variance(x, Y, cutoff=cutoff, h0=h0, s=s, kernel=kernel, side=side, omega=omega)
        beta[tag], bvar[tag] = _local_derivative(x, Y, cutoff=cutoff, b=b, s=s, kernel=kernel, side=side,
                                                 omega=omega)
    c = constants
    B_plus = c.c_b_plus * beta["plus"]
    B_minus = c.c_b_minus * beta["minus"]
    V_plus = c.c_v_plus * sig["plus"] / f_hat
    V_minus = c.c_v_minus * sig["minus"] / f_hat
    R = c.c_b_plus**2 * bvar["plus"] + c.c_b_minus**2 * bvar["minus"]

    # step 3
    B = B_plus - B_minus
    V = V_plus + V_minus
    D = B**2 + (R if regularize else 0.0)
    tiny = (NEAR_ZERO_BIAS * _column_std(Y) / h_max ** (s + 1)) ** 2  # (m,)
    if imse:
        w = _trapezoid_weights(quantiles)
        zero = not np.sum(w * D) > np.sum(w * tiny)
        D_int = 0.0 if zero else np.sum(w * D)
        h_formula = np.full(quantiles.size, float(_optimal_h(np.sum(w * V), D_int, n, s)))
        near_zero = np.full(quantiles.size, zero)
    else:
        near_zero = ~(D > tiny)
        h_formula = _optimal_h(V, np.where(near_zero, 0.0, D), n, s)
    near_zero = near_zero | ~np.isfinite(h_formula)
    # a near-zero bias falls back to the cap; the CER factor applies after the cap, before the floor
    h, capped, floored = _guard(np.where(near_zero, np.inf, h_formula), h_min, h_max, cer)

    def _which(mask: np.ndarray) -> str:
        if what == "treatment":
            return "the treatment (first stage)"
        if what != "outcome":
            return what
        if imse:
            return "the IMSE bandwidth"
        return "quantile level(s) " + _fmt_q(quantiles, mask)

    if np.any(near_zero):
        notes.warn(
            f"Bandwidth selection: the estimated bias constant is zero for {_which(near_zero)} "
            f"(B^2{' + R' if regularize else ''} = 0), so the (I)MSE formula has no finite "
            f"minimiser; falling back to the data-range cap h_max = {h_max:.4g}.",
            BandwidthWarning,
        )
    over = capped & ~near_zero
    if np.any(over):
        largest = float(np.max(h_formula[over]))
        hint = (
            ""
            if regularize
            else " (with regularize=False an estimated bias constant near zero gives an "
            "unbounded bandwidth; regularize=True guards against it)"
        )
        notes.warn(
            f"Bandwidth selection: the (I)MSE-optimal bandwidth for {_which(over)} ({largest:.4g}) "
            f"exceeds the data range; capped at h_max = {h_max:.4g}, the largest distance from "
            f"the cutoff to a unit{hint}.",
            BandwidthWarning,
        )
    if np.any(floored):
        notes.warn(
            f"Bandwidth selection: the bandwidth for {_which(floored)} keeps fewer than "
            f"{MIN_UNITS_PER_SIDE} units on a side; enlarged to h_min = {h_min:.4g}.",
            BandwidthWarning,
        )
    return SelectorSteps(
        pilot_deriv_plus=pilot.deriv_plus,
        pilot_deriv_minus=pilot.deriv_minus,
        pilot_sigma2_plus=pilot.sigma2_plus,
        pilot_sigma2_minus=pilot.sigma2_minus,
        pilot_B=pilot.B,
        pilot_V=pilot.V,
        h0_formula=h0_formula,
        h0=h0,
        pilot_capped=pilot_capped,
        pilot_floored=pilot_floored,
        b=b,
        b_capped=b_capped,
        b_floored=b_floored,
        deriv_plus=beta["plus"] * fact,
        deriv_minus=beta["minus"] * fact,
        deriv_var_plus=bvar["plus"],
        deriv_var_minus=bvar["minus"],
        sigma2_plus=sig["plus"],
        sigma2_minus=sig["minus"],
        B_plus=B_plus,
        B_minus=B_minus,
        V_plus=V_plus,
        V_minus=V_minus,
        R=R,
        h_formula=h_formula,
        h=h,
        capped=capped,
        near_zero_bias=near_zero,
        floored=floored,
    )


def select_bandwidths(
    x: np.ndarray,
    Q: np.ndarray,
    quantiles: np.ndarray,
    *,
    cutoff: float,
    rule: str,
    kernel: str = "triangular",
    order: int = 2,
    pilot_order: int = 1,
    regularize: bool = True,
    t: np.ndarray | None = None,
    n_jobs: int | None = None,
) -> BandwidthSelection:
    """Choose bandwidths from the data (docs/method.md §6).

    Parameters
    ----------
    x : ndarray
        (n,) running variable, one entry per unit.
    Q : ndarray
        (n, m) unit quantile functions at ``quantiles``.
    quantiles : ndarray
        (m,) strictly increasing levels in (0, 1).
    cutoff : float
        Units with x >= cutoff are on the right (treated) side.
    rule : {"mse", "imse", "cer-mse", "cer-imse"}
        "mse": one bandwidth per quantile level (for ``method="simple"``);
        "imse": one bandwidth for all levels (``method="frechet"``); the "cer-"
        rules multiply by the coverage-error factor n^(-s/((2s+3)(s+3))).
    kernel : str
        A name in :data:`r3d.kernels.KERNELS` or a short form (default "triangular").
    order : int
        Estimation order p (default 2). p <= s is allowed with a warning: the
        bias of the order-p estimate is then not handled.
    pilot_order : int
        Order s for which the bandwidth is (I)MSE-optimal (default 1).
    regularize : bool
        Add R(q), the estimated variance of the bias constant, to the squared
        bias in the denominators (as rdrobust's ``scaleregul``). Without it the
        bandwidth is noise when the true bias constant is zero.
    t : ndarray or None
        (n,) take-up for a fuzzy design: ``h_treatment`` is the MSE-optimal
        bandwidth for the jump in E[T | X] from the same three steps.
    n_jobs : int or None
        Accepted for compatibility and validated; it has no effect: r3d runs on one
        thread (``benchmarks/results/threads.md``).

    Returns
    -------
    BandwidthSelection

    Raises
    ------
    InsufficientDataError
        A side has fewer than s + 3 distinct running-variable values.
    ValueError
        Invalid options or data shapes.

    Warns
    -----
    BandwidthWarning
        When the data-range cap binds, the bias constant is zero, a bandwidth
        is enlarged to keep enough units, or order <= pilot_order.
    """
    rule = check_choice("rule", rule, BANDWIDTH_RULES)
    kernel = canonical_kernel(kernel)
    order = check_int("order", order, low=0, high=MAX_ORDER)
    s = check_int("pilot_order", pilot_order, low=0, high=MAX_ORDER - 1)  # the selector fits order s + 1
    if not isinstance(regularize, (bool, np.bool_)):
        raise TypeError(message("regularize", "True or False", regularize))
    cutoff = float(cutoff)
    if not math.isfinite(cutoff):
        raise ValueError(message("cutoff", "a finite number", cutoff))
    x = _as_float_1d("x", x)
    n = x.size
    Q = np.ascontiguousarray(Q, dtype=float)
    if Q.ndim == 1:
        Q = Q[:, None]
    if Q.ndim != 2 or Q.shape[0] != n:
        raise ValueError(message("Q", f"an array of shape (n, m) with n = {n} rows (one per unit)", Q))
    if not np.all(np.isfinite(Q)):
        raise ValueError(message("Q", "finite unit quantiles", "<an array with NaN or inf>"))
    quantiles = np.atleast_1d(np.asarray(quantiles, dtype=float))
    if quantiles.ndim != 1 or quantiles.size != Q.shape[1]:
        raise ValueError(
            message("quantiles", f"a 1-D array of the m = {Q.shape[1]} levels of the columns of Q", quantiles)
        )
    if not (np.all((quantiles > 0) & (quantiles < 1)) and np.all(np.diff(quantiles) > 0)):
        raise ValueError(message("quantiles", "strictly increasing levels inside (0, 1)", quantiles))
    if t is not None:
        t = _as_float_1d("t", t)
        if t.size != n:
            raise ValueError(message("t", f"an array of length n = {n}", t))

    resolve_n_jobs(n_jobs)
    return _select_bandwidths(x, Q, quantiles, cutoff=cutoff, rule=rule, kernel=kernel, order=order, s=s,
                              regularize=bool(regularize), t=t)


#: ``adjust(Y, h)``: Y (n, k) adjusted for covariates with gamma estimated at the bandwidths h
#: ((1,) or (k,)); the model builds it from :func:`r3d.estimators.adjust_for_covariates`.
Adjuster = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _pilot_h0(x: np.ndarray, Y: np.ndarray, quantiles: np.ndarray, *, cutoff: float, imse: bool,
              constants: KernelConstants, f_hat: float, n: int, h_min: float, h_max: float,
              omega: np.ndarray | None = None) -> np.ndarray:
    """The guarded step-1 pilot bandwidth h0 of :func:`_select_one` ((1,) for IMSE, else (m,))."""
    Ys = np.ascontiguousarray(np.ldexp(Y, -_outcome_exponent(Y)))
    pilot = global_pilot(x, Ys, cutoff=cutoff, f_hat=f_hat, constants=constants, omega=omega)
    h0 = _guard(pilot_bandwidth(pilot, quantiles, n=n, s=constants.order, imse=imse), h_min, h_max)[0]
    return h0[:1] if imse else h0


def _select_bandwidths(x: np.ndarray, Q: np.ndarray, quantiles: np.ndarray, *, cutoff: float, rule: str,
                       kernel: str, order: int, s: int, regularize: bool, t: np.ndarray | None,
                       adjust: Adjuster | None = None, what: str = "outcome",
                       omega: np.ndarray | None = None, n_rate: int | None = None) -> BandwidthSelection:
    """:func:`select_bandwidths` on validated inputs (float64 arrays, canonical names).

    ``what`` names the column in warnings: "outcome" (by its quantile levels), "treatment" (the first
    stage) or any other label (e.g. "covariate age") for a single column selected on its own.

    With ``adjust`` (covariates, METHOD_EXTENSIONS §9) the selector runs on the covariate-adjusted
    outcome (and take-up), with gamma estimated at the step-1 pilot bandwidth h0 of the unadjusted one.

    With unit weights ``omega`` (n,) (METHOD_EXTENSIONS §12) every fit of the selector (the global
    pilot, the local variance and derivative fits) is weighted by them; the density f(c) of the
    running variable and n stay those of the units (unweighted), so weights all equal to a constant
    give the bandwidth of the unweighted selector (to rounding).

    ``n_rate`` (``masspoints="adjust"``, r3d/masspoints.py) replaces n in the rate of the density
    bandwidth by the number of distinct values of x, where rdrobust's ``rdbwselect`` does.
    """
    n = x.size
    notes = Notes()
    if order <= s:
        notes.warn(
            f"Bandwidth selection: order p = {order} is not above pilot_order s = {s}; the "
            f"bandwidth is (I)MSE-optimal for order s and the leading bias of the order-p "
            f"estimate is not handled. Use order > pilot_order for valid inference.",
            BandwidthWarning,
        )

    xc = x - cutoff
    counts = {}
    need = s + 3
    h_min = 0.0  # the unit floor: the smallest bandwidth keeping min(MIN_UNITS_PER_SIDE, side size) units a side
    for side, mask in (("left", xc < 0), ("right", xc >= 0)):
        counts[side] = int(np.sum(mask))
        d = np.unique(np.abs(xc[mask]))  # the side's distinct distances to the cutoff, ascending
        if d.size < need:
            raise InsufficientDataError(
                f"Too few units on the {_SIDE_TEXT[side]} side of the cutoff {cutoff:g} for the "
                f"bandwidth selector: its pilot fits (global polynomial of degree s + 1 = {s + 1}, "
                f"bandwidth: the whole side) need at least s + 3 = {need} distinct running-variable "
                f"values, found {d.size} ({counts[side]} units). Give a bandwidth by hand, lower "
                f"`pilot_order`, or use more units."
            )
        h_min = max(h_min, float(d[min(MIN_UNITS_PER_SIDE, d.size) - 1]) * _PAD)

    density = _density_at_cutoff(x, cutoff=cutoff, kernel=kernel, n_rate=n_rate)
    constants = kernel_constants(kernel, s)
    h_max = float(np.max(np.abs(xc)))
    h_min = min(h_min, h_max * _PAD)
    imse = rule in ("imse", "cer-imse")
    cer = cer_factor(n, s) if rule.startswith("cer") else 1.0
    if adjust is not None:
        pilot = dict(cutoff=cutoff, constants=constants, f_hat=density.f_hat, n=n, h_min=h_min, h_max=h_max,
                     omega=omega)
        Q = adjust(Q, _pilot_h0(x, Q, quantiles, imse=imse, **pilot))
        if t is not None:
            t = adjust(t[:, None], _pilot_h0(x, t[:, None], np.array([0.5]), imse=False, **pilot))[:, 0]

    steps = _select_one(
        x, Q, quantiles, what=what, cutoff=cutoff, imse=imse, cer=cer, kernel=kernel,
        constants=constants, f_hat=density.f_hat, n=n, h_min=h_min, h_max=h_max,
        regularize=regularize, notes=notes, omega=omega,
    )
    t_steps = None
    h_t = None
    if t is not None:
        t_steps = _select_one(
            x, t[:, None], np.array([0.5]), what="treatment", cutoff=cutoff, imse=False, cer=cer,
            kernel=kernel, constants=constants, f_hat=density.f_hat, n=n, h_min=h_min,
            h_max=h_max, regularize=regularize, notes=notes, omega=omega,
        )
        h_t = float(t_steps.h[0])

    return BandwidthSelection(
        rule=rule,
        h=steps.h,
        h_treatment=h_t,
        quantiles=quantiles,
        kernel=kernel,
        order=order,
        pilot_order=s,
        cutoff=cutoff,
        n=n,
        n_left=counts["left"],
        n_right=counts["right"],
        density=density,
        constants=constants,
        h_max=h_max,
        h_min=h_min,
        cer_factor=cer,
        regularize=regularize,
        steps=steps,
        treatment_steps=t_steps,
        warnings=notes.texts,
    )
