"""Manipulation tests on the running variable (METHOD_EXTENSIONS §11; docs/falsification.md).

Both tests use **one observation per unit**, the unit's running variable ``x``: pooling the
draws of a unit (a firm's workers) would count a unit once per draw.

Density test
    The local polynomial density estimator of Cattaneo, Jansson and Ma (2020, JASA), on each
    side of the cutoff, computed exactly as the Python ``rddensity`` package (version 3.0, checked in
    tests/test_density.py) does with its defaults: the empirical
    distribution function ``F_i = (i - 1) / (n - 1)`` of the sorted ``x`` (ties share the value of
    their last member: rddensity's ``massPoints=True``) is regressed on a polynomial of order
    ``q = p + 1`` in ``(x - c) / h`` on each side with kernel weights ``K((x - c)/h) / h``; the
    slope is the density ``f``. Its variance is the jackknife of Cattaneo, Jansson and Ma,

        V = H^-1 A^-1 (L'L) A^-1 H^-1,   L_i = sum_{j > i} w_j r_j / (n - 1),

    (``r_j`` the regressors, ``w_j`` the kernel weights, rows of both sides together, so the two
    density estimates are correlated), and the robust bias-corrected statistic is

        T = (f_+ - f_-) / sqrt(V_+ + V_- - 2 V_+-),   p = 2 (1 - Phi(|T|)).

    Bandwidths are rddensity's (``rdbwdensity``): normal-reference pilot bandwidths, a pilot fit
    of order p + 2 for the (p + 1)-th derivative (the bias) and one of order p for the variance,
    the MSE-optimal bandwidth of the left density, the right density, their difference and their
    sum, each regularised to hold at least ``20 + p + 1`` units (and distinct values) and not to
    exceed the data's range. ``bwselect="comb"``, rddensity's default, takes on each side the
    median of that side's own, the difference's and the sum's bandwidth; ``"each"`` the side's own
    (the "side-specific" bandwidths), ``"diff"`` / ``"sum"`` one common bandwidth.

Binomial test
    The exact binomial test of Cattaneo, Titiunik and Vazquez-Bare (2017; ``rdlocrand``'s
    ``rdwinselect`` and rddensity's ``bino``): in a symmetric window ``[c - w, c + w]`` the
    number of units below the cutoff is Binomial(N, 1/2) under no sorting, if the density is
    locally flat. See :func:`binomial_test` for the default windows.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from r3d import _repr as _r
from r3d._validation import (
    InsufficientDataError,
    Notes,
    SmallSampleWarning,
    check_choice,
    check_finite,
    check_int,
    check_probability,
    message,
)
from r3d.kernels import KERNELS
from r3d.locpoly import _as_float_1d, canonical_kernel

__all__ = ["DensityTest", "BinomialTest", "density_test", "binomial_test", "BWSELECT", "DEFAULT_BINOMIAL_COUNTS"]

#: Bandwidth choices of :func:`density_test` (rddensity's ``bwselect``); "comb" is rddensity's default.
BWSELECT = ("comb", "each", "diff", "sum")
#: rddensity accepts polynomial orders 1..7 (its pilot constants are tabulated for those).
MAX_DENSITY_ORDER = 7
#: rddensity warns ("Bandwidth may be too small") below this many units inside a side's window.
FEW_UNITS_DENSITY = 20
#: Default windows of :func:`binomial_test`: the windows holding the nearest N units, these N.
DEFAULT_BINOMIAL_COUNTS = (20, 40, 60, 80, 100, 120, 140, 160, 180, 200)

# rdbwdensity's constants of the normal-reference pilot bandwidths, for p = 1..7: ``Cb`` for the
# bias pilot (order p + 2), ``Cc`` for the variance pilot (order p). Copied from rddensity 3.0.
_CB = (25884.444444494150957, 3430865.4551236177795, 845007948.04262602329, 330631733667.03808594,
       187774809656037.3125, 145729502641999264, 146013502974449876992)
_CC = (4.8000000000000246914, 548.57142857155463389, 100800.00000020420703, 29558225.458100609481,
       12896196859.612621307, 7890871468221.609375, 6467911284037581)


def _hermite(z: float, k: int) -> float:
    """Probabilists' Hermite polynomial He_k(z) (rddensity's ``__rddensity_H``), k <= 9."""
    h0, h1 = 1.0, z
    if k == 0:
        return h0
    for j in range(1, k):
        h0, h1 = h1, z * h1 - j * h0
    return h1


def _half_moment(kernel: str, k: int) -> float:
    """int_0^1 K(u) u^k du, exactly from the kernel's coefficients (r3d.kernels)."""
    coef = KERNELS[kernel].coefficients
    return float(sum(Fraction(c) / (k + j + 1) for j, c in enumerate(coef)))


def _bias_constant(kernel: str, p: int) -> float:
    """``(S^-1 C)[1]`` of rdbwdensity: S_ij = int_0^1 K u^(i+j), C_i = int_0^1 K u^(i+p+1), i, j = 0..p."""
    S = np.array([[_half_moment(kernel, i + j) for j in range(p + 1)] for i in range(p + 1)])
    C = np.array([_half_moment(kernel, i + p + 1) for i in range(p + 1)])
    return float(np.linalg.solve(S, C)[1])


def _kernel_weights(u: np.ndarray, h: float, kernel: str) -> np.ndarray:
    """K(u) / h as rddensity writes it (u inside [-1, 1])."""
    if kernel == "triangular":
        return (1.0 - np.abs(u)) / h
    if kernel == "uniform":
        return np.full(u.shape, 0.5 / h)
    return 0.75 * (1.0 - u * u) / h


@dataclass(frozen=True, slots=True)
class _SideFits:
    """Both sides' local polynomial fits of the distribution function (rddensity's ``__rddensity_fv``).

    ``coef_left``, ``coef_right``: (p + 1,) coefficients of ``(x - c)^k`` (already divided by h^k);
    ``var_left``, ``var_right``, ``cov``: jackknife variance of the two slopes and their covariance.
    """

    coef_left: np.ndarray
    coef_right: np.ndarray
    var_left: float
    var_right: float
    cov: float


def _fit_sides(X: np.ndarray, Y: np.ndarray, n: int, hl: float, hr: float, p: int, kernel: str,
               mass: bool) -> _SideFits | None:
    """rddensity's unrestricted fit of order p on the window's sorted, centred ``X`` and the ECDF ``Y``
    (``n`` the full sample size); None if a side has fewer distinct values with positive weight than
    coefficients (its design is singular)."""
    nh = X.size
    nlh = int(np.searchsorted(X, 0.0, side="left"))
    P = p + 1
    ul, ur = X[:nlh] / hl, X[nlh:] / hr
    W = np.concatenate([_kernel_weights(ul, hl, kernel), _kernel_weights(ur, hr, kernel)])
    pos = W > 0
    if min(np.unique(X[:nlh][pos[:nlh]]).size, np.unique(X[nlh:][pos[nlh:]]).size) < P:
        return None   # fewer distinct weighted values than coefficients on a side: singular
    Xp = np.zeros((nh, 2 * P))
    powers = np.arange(P)
    Xp[:nlh, :P] = ul[:, None] ** powers
    Xp[nlh:, P:] = ur[:, None] ** powers
    Hp = np.concatenate([hl ** powers, hr ** powers])
    XpW = Xp * W[:, None]
    try:
        Ainv = np.linalg.inv(XpW.T @ Xp)
    except np.linalg.LinAlgError:
        return None
    b = (XpW.T @ Y) @ Ainv / Hp
    # jackknife: L_i = sum_{j > i} XpW_j / (n - 1), summed from the end as rddensity does
    tail = np.cumsum(np.vstack([np.zeros((1, 2 * P)), XpW[::-1]]), axis=0) / (n - 1)
    L = tail[nh - 1::-1] if nh else tail[:0]
    if mass:
        first, freq = _tie_groups(X)[:2]
        L = np.repeat(L[first], freq, axis=0)
    V = (Ainv @ (L.T @ L) @ Ainv) / np.outer(Hp, Hp)
    return _SideFits(coef_left=b[:P], coef_right=b[P:], var_left=float(V[1, 1]), var_right=float(V[P + 1, P + 1]),
                     cov=float(V[1, P + 1]))


def _tie_groups(xs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For sorted ``xs``: index of the first and count of each run of equal values, and the index of the last."""
    if xs.size == 0:
        e = np.zeros(0, dtype=np.intp)
        return e, e, e
    last = np.flatnonzero(np.r_[xs[1:] != xs[:-1], True])
    freq = np.diff(np.r_[-1, last])
    return last - freq + 1, freq, last


@dataclass(frozen=True, slots=True)
class DensityBandwidths:
    """rddensity's MSE-optimal bandwidths (``rdbwdensity``) for the density test.

    Attributes
    ----------
    left, right : float
        For the left and right density alone (``bwselect="each"``).
    diff, sum : float
        For the difference and the sum of the two densities (one common bandwidth).
    variance : ndarray
        (4,) the variance constants (left, right, diff, sum) in the MSE.
    bias_squared : ndarray
        (4,) the squared bias constants.
    pilot_bias, pilot_variance : float
        The pilot bandwidths ``b_n`` (fit of order p + 2) and ``c_n`` (order p).
    """

    left: float
    right: float
    diff: float
    sum: float
    variance: np.ndarray = field(repr=False)
    bias_squared: np.ndarray = field(repr=False)
    pilot_bias: float
    pilot_variance: float

    def choose(self, bwselect: str) -> tuple[float, float]:
        """(h_left, h_right) for one of :data:`BWSELECT`."""
        if bwselect == "each":
            return self.left, self.right
        if bwselect == "diff":
            return self.diff, self.diff
        if bwselect == "sum":
            return self.sum, self.sum
        return (float(np.median([self.left, self.diff, self.sum])),
                float(np.median([self.right, self.diff, self.sum])))


def _select(X: np.ndarray, Y: np.ndarray, p: int, kernel: str, mass: bool) -> DensityBandwidths:
    """rdbwdensity (unrestricted, jackknife, regularised, nLocalMin = nUniqueMin = 20 + p + 1) on sorted,
    centred ``X``."""
    n = X.size
    nl = int(np.searchsorted(X, 0.0, side="left"))
    nr = n - nl
    XU = X[_tie_groups(X)[2]]
    nlU = int(np.searchsorted(XU, 0.0, side="left"))
    nrU = XU.size - nlU
    mu, sd = float(np.mean(X)), float(np.std(X, ddof=1))
    z = mu / sd
    phi = float(stats.norm.pdf(z))
    fhatb = 1.0 / (_hermite(z, p + 2) ** 2 * phi)
    fhatc = 1.0 / (_hermite(z, p) ** 2 * phi)
    bn = ((2 * p + 1) / 4 * fhatb * _CB[p - 1] / n) ** (1 / (2 * p + 5)) * sd
    cn = (1 / (2 * p) * fhatc * _CC[p - 1] / n) ** (1 / (2 * p + 1)) * sd
    left_abs = np.sort(np.abs(X[:nl]))
    right = X[nl:]
    left_absU = np.sort(np.abs(XU[:nlU]))
    rightU = XU[nlU:]
    # regularisation: not beyond the data, at least 20 + p + 3 (bias pilot) / 20 + p + 1 units and values
    bn = min(bn, float(np.max(np.abs(XU))))
    cn = min(cn, float(np.max(np.abs(XU))))
    kb, kc = 20 + p + 3, 20 + p + 1
    bn = max(bn, left_abs[min(kb, nl) - 1], right[min(kb, nr) - 1],
             left_absU[min(kb, nlU) - 1], rightU[min(kb, nrU) - 1])
    cn = max(cn, left_abs[min(kc, nl) - 1], right[min(kc, nr) - 1],
             left_absU[min(kc, nlU) - 1], rightU[min(kc, nrU) - 1])
    inb, inc = np.abs(X) <= bn, np.abs(X) <= cn
    fb = _fit_sides(X[inb], Y[inb], n, bn, bn, p + 2, kernel, mass)
    fc = _fit_sides(X[inc], Y[inc], n, cn, cn, p, kernel, mass)
    if fb is None or fc is None:
        raise InsufficientDataError(
            "The pilot fits of the density test's bandwidth selector are singular (too few distinct values of "
            "the running variable near the cutoff). Give the bandwidths with bandwidth=(h_left, h_right).")
    var = n * cn * np.array([fc.var_left, fc.var_right, fc.var_left + fc.var_right - 2 * fc.cov,
                             fc.var_left + fc.var_right + 2 * fc.cov])
    bc = _bias_constant(kernel, p)
    bl = fb.coef_left[p + 1] * bc * (-1) ** p
    br = fb.coef_right[p + 1] * bc
    bias2 = np.array([bl, br, br - bl, br + bl]) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        h = (1 / (2 * p) * var / bias2 / n) ** (1 / (2 * p + 1))
    h = np.where(var < 0, 0.0, h)
    h = np.where(np.isnan(h), 0.0, h)
    lo_range, hi_range = abs(float(XU[0])), float(XU[-1])
    h = np.minimum(h, [lo_range, hi_range, max(lo_range, hi_range), max(lo_range, hi_range)])
    k = 20 + p + 1
    for lmin, rmin in ((left_abs[min(nl, k) - 1], right[min(nr, k) - 1]),
                       (left_absU[min(nlU, k) - 1], rightU[min(nrU, k) - 1])):
        h = np.maximum(h, [lmin, rmin, max(lmin, rmin), max(lmin, rmin)])
    return DensityBandwidths(left=float(h[0]), right=float(h[1]), diff=float(h[2]), sum=float(h[3]),
                             variance=var, bias_squared=bias2, pilot_bias=float(bn), pilot_variance=float(cn))


# ---------------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DensityTest:
    """The Cattaneo-Jansson-Ma density (manipulation) test at the cutoff (:func:`density_test`).

    H0: the density of the running variable is continuous at the cutoff. Large ``|statistic|``
    (a small ``pvalue``) is evidence of sorting around the cutoff.

    Attributes
    ----------
    statistic : float
        Robust bias-corrected ``T = (f_right - f_left) / se_diff`` (rddensity's ``test['t_jk']``).
    pvalue : float
        Two-sided normal p-value of ``T``.
    f_left, f_right : float
        Density of the running variable just below and at/above the cutoff (fits of order q = p + 1;
        rddensity's ``hat``); they are densities of all units (each side's mass included).
    se_left, se_right, se_diff : float
        Jackknife standard errors of ``f_left``, ``f_right`` and ``f_right - f_left``.
    h_left, h_right : float
        Bandwidths on each side.
    n_left, n_right : int
        Units below (``x < c``) and at or above the cutoff.
    n_eff_left, n_eff_right : int
        Units inside each side's window (``c - h_left <= x < c``, ``c <= x <= c + h_right``).
    cutoff : float
    order : int
        Polynomial order p the bandwidths are chosen for (the test's fits have order p + 1).
    kernel : str
    bwselect : str
        ``"comb"``, ``"each"``, ``"diff"``, ``"sum"`` (selected bandwidths) or ``"fixed"`` (given).
    bandwidths : DensityBandwidths or None
        The selector's candidates (None for fixed bandwidths).
    n_ties : int
        Units sharing their running-variable value with another unit (rddensity's mass-point
        adjustment is applied when it is positive).
    notes : tuple of str
        Warnings raised while computing.
    x : ndarray
        (n,) the sorted unit-level running variable (for :meth:`curves` and :meth:`plot`).
    name : str
        Name of the running variable (the plot's axis label).
    """

    __test__ = False  # not a pytest test class

    statistic: float
    pvalue: float
    f_left: float
    f_right: float
    se_left: float
    se_right: float
    se_diff: float
    h_left: float
    h_right: float
    n_left: int
    n_right: int
    n_eff_left: int
    n_eff_right: int
    cutoff: float
    order: int
    kernel: str
    bwselect: str
    bandwidths: DensityBandwidths | None
    n_ties: int
    notes: tuple[str, ...]
    x: np.ndarray = field(repr=False)
    name: str = "x"

    @property
    def difference(self) -> float:
        """``f_right - f_left``."""
        return self.f_right - self.f_left

    @property
    def frame(self) -> pd.DataFrame:
        """One row per side (index "side": "left", "right"): "density", "se", "h", "n", "n_eff"."""
        return pd.DataFrame({"density": [self.f_left, self.f_right], "se": [self.se_left, self.se_right],
                             "h": [self.h_left, self.h_right], "n": [self.n_left, self.n_right],
                             "n_eff": [self.n_eff_left, self.n_eff_right]},
                            index=pd.Index(["left", "right"], name="side"))

    def curves(self, n_points: int = 20, *, alpha: float = 0.05, plot_range: Any = None) -> pd.DataFrame:
        """The two side density fits over a grid, with pointwise intervals (``rdplotdensity``'s lines).

        At each grid point the density is estimated from that side's units alone with the side's
        bandwidth, as ``lpdensity`` does for rddensity's ``rdplotdensity`` (fit of order p for the
        line, order p + 1 and its jackknife standard error for the interval, scaled by the side's
        share of the units).

        Parameters
        ----------
        n_points : int, default 20
            Grid points on each side, evenly spaced, the cutoff included.
        alpha : float, default 0.05
            1 - coverage of the pointwise intervals.
        plot_range : (float, float), optional
            Default ``[max(min x, c - 3 h_left), min(max x, c + 3 h_right)]`` (rdplotdensity's).

        Returns
        -------
        DataFrame
            Columns "side", "x", "density" (order p), "density_bc" (order p + 1), "se",
            "ci_lower", "ci_upper"; ``2 n_points`` rows.
        """
        n_points = check_int("n_points", n_points, low=2)
        alpha = check_probability("alpha", alpha)
        c, x = self.cutoff, self.x
        if plot_range is None:
            lo, hi = max(float(x[0]), c - 3 * self.h_left), min(float(x[-1]), c + 3 * self.h_right)
        else:
            lo, hi = _plot_range(plot_range, c)
        z = float(stats.norm.ppf(1 - alpha / 2))
        n = x.size
        nl = int(np.searchsorted(x, c, side="left"))
        parts = []
        for side, xs, grid, h in (("left", x[:nl], np.linspace(lo, c, n_points), self.h_left),
                                  ("right", x[nl:], np.linspace(c, hi, n_points), self.h_right)):
            scale = (xs.size - 1) / (n - 1)
            fp, fq, se = _local_density(xs, grid, h, self.order, self.kernel)
            parts.append(pd.DataFrame({"side": side, "x": grid, "density": fp * scale, "density_bc": fq * scale,
                                       "se": se * scale, "ci_lower": (fq - z * se) * scale,
                                       "ci_upper": (fq + z * se) * scale}))
        return pd.concat(parts, ignore_index=True)

    # ------------------------------------------------------------------ display
    def _rule_text(self) -> str:
        return "fixed (user)" if self.bwselect == "fixed" else f"MSE-optimal, bwselect={self.bwselect!r}"

    def summary(self):
        """A statsmodels ``Summary`` (``as_text``, ``as_latex``, ``as_html``): settings, one row per side, the test."""
        from r3d._summary import R3DSummary, Section, decimals_for, fmt_num, fmt_p

        pairs = [("Units", str(self.n_left + self.n_right)), ("Cutoff", _r.num(self.cutoff, 6)),
                 ("Kernel", self.kernel), ("Order p (q)", f"{self.order} ({self.order + 1})"),
                 ("Bandwidth", self._rule_text()), ("Variance", "jackknife")]
        header = Section(title="Density test at the cutoff (Cattaneo, Jansson, Ma 2020)", kind="keyvalue",
                         headers=(), stubs=(), rows=tuple((a, b, c, d) for (a, b), (c, d)
                                                          in zip(pairs[0::2], pairs[1::2], strict=True)))
        d = decimals_for([self.f_left, self.f_right, self.se_left, self.se_right])
        dh = decimals_for([self.h_left, self.h_right])
        rows = tuple((str(n), str(ne), fmt_num(h, dh), fmt_num(f, d), fmt_num(s, d))
                     for n, ne, h, f, s in ((self.n_left, self.n_eff_left, self.h_left, self.f_left, self.se_left),
                                            (self.n_right, self.n_eff_right, self.h_right, self.f_right,
                                             self.se_right)))
        sides = Section(title="Density on each side", kind="table",
                        headers=("units", "in window", "h", "density", "std err"), stubs=("left", "right"),
                        rows=rows)
        test = Section(title="H0: the density is continuous at the cutoff (robust bias-corrected)", kind="table",
                       headers=("difference", "std err", "T", "P>|T|"), stubs=("right - left",),
                       rows=((fmt_num(self.difference, d), fmt_num(self.se_diff, d), fmt_num(self.statistic, 3),
                              fmt_p(self.pvalue)),))
        notes = ["Units are counted once each (the unit-level running variable). Densities and T as rddensity "
                 "computes them (fits of order q = p + 1 at the bandwidths chosen for order p)."]
        if self.n_ties:
            notes.append(f"{self.n_ties} units share their running-variable value with another unit: rddensity's "
                         "mass-point adjustment is applied (tied units share one value of the distribution function).")
        notes += list(self.notes)
        return R3DSummary([header, sides, test], notes)

    def _display(self) -> list[tuple[str, str]]:
        return [("H0", "density continuous at the cutoff"), ("T (robust)", _r.num(self.statistic)),
                ("p-value", _r.pvalue(self.pvalue)), ("density left / right",
                                                      f"{_r.num(self.f_left)} / {_r.num(self.f_right)}"),
                ("h left / right", f"{_r.num(self.h_left)} / {_r.num(self.h_right)}"),
                ("units left / right (in window)",
                 f"{self.n_left} / {self.n_right} ({self.n_eff_left} / {self.n_eff_right})"),
                ("bandwidth", self._rule_text()), ("order p, kernel", f"{self.order}, {self.kernel}")]

    def __repr__(self) -> str:
        return _r.one_line("DensityTest", "", [("T", _r.num(self.statistic)), ("p", _r.pvalue(self.pvalue)),
                                                ("f", f"{_r.num(self.f_left)}|{_r.num(self.f_right)}"),
                                                ("h", f"{_r.num(self.h_left)}|{_r.num(self.h_right)}"),
                                                ("n", f"{self.n_left}|{self.n_right}")])

    def _repr_html_(self) -> str:
        return _r.html_table("DensityTest: manipulation test at the cutoff", self._display())

    def plot(self, ax: Any = None, *, n_points: int = 20, alpha: float = 0.05, plot_range: Any = None,
             **kwargs: Any) -> Any:
        """The two side density fits with pointwise (1 - alpha) intervals and the cutoff; returns the Axes.

        The analogue of rddensity's ``rdplotdensity`` (without its histogram): :meth:`curves` drawn as
        two lines with shaded bands and a vertical line at the cutoff.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        n_points, alpha, plot_range
            As :meth:`curves`.
        **kwargs
            ``title``, ``band_kw`` and options of the lines, as :func:`r3d.plotting.plot_density_test`.
        """
        from r3d.plotting import plot_density_test

        return plot_density_test(self, ax, n_points=n_points, alpha=alpha, plot_range=plot_range, **kwargs)


def _plot_range(value: Any, c: float) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(message("plot_range", "a pair (low, high) of numbers", value)) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < c < hi):
        raise ValueError(message("plot_range", f"a pair (low, high) with low < cutoff = {c:g} < high", value))
    return lo, hi


def _local_density(xs: np.ndarray, grid: np.ndarray, h: float, p: int, kernel: str
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lpdensity (``massPoints=True``, v = 1) on the sorted sample ``xs`` at each grid point: the density of
    order p, of order p + 1 and the latter's standard error (unscaled). NaN where a fit is singular."""
    n = xs.size
    _, freq, last = _tie_groups(xs)
    xu = xs[last]
    Fu = (last + 1) / n                      # the ECDF at each distinct value
    cnt_below = np.cumsum(np.r_[0, freq])    # units before each distinct value
    out = np.full((3, grid.size), np.nan)
    for g, x0 in enumerate(grid):
        a = int(np.searchsorted(xu, x0 - h, side="left"))
        b = int(np.searchsorted(xu, x0 + h, side="right"))
        u = (xu[a:b] - x0) / h
        kw = _kernel_weights(u, h, kernel) * freq[a:b]
        for k, deg in enumerate((p, p + 1)):
            D = u[:, None] ** np.arange(deg + 1)
            Dk = D * kw[:, None]
            try:
                Ginv = np.linalg.inv(D.T @ Dk / n)
            except np.linalg.LinAlgError:
                continue
            m = Fu[a:b] @ Dk / n
            est = (m @ Ginv)[1] / h
            if k == 0:
                out[0, g] = est
                continue
            out[1, g] = est
            # influence of each unit: (sum over distinct values >= its own of Dk / n) - m
            cum = np.cumsum(Dk[::-1], axis=0)[::-1] / n
            inside = np.repeat(cum - m, freq[a:b], axis=0) @ Ginv[1]
            below = (cum[0] - m) @ Ginv[1] if b > a else -m @ Ginv[1]
            above = -m @ Ginv[1]
            n_below, n_above = cnt_below[a], n - cnt_below[b]
            ss = inside @ inside + n_below * below ** 2 + n_above * above ** 2
            out[2, g] = math.sqrt(abs(ss / n) / (n * h * h))
    return out[0], out[1], out[2]


# ---------------------------------------------------------------------------------------------
# computation
# ---------------------------------------------------------------------------------------------
def _as_density_bandwidth(bandwidth: Any) -> tuple[float, float] | None:
    if bandwidth is None:
        return None
    vals = [bandwidth] if np.ndim(bandwidth) == 0 else list(np.asarray(bandwidth, dtype=object).ravel())
    if len(vals) not in (1, 2) or any(isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real)
                                      for v in vals):
        raise TypeError(message("bandwidth", "None, a number or a pair (h_left, h_right) of numbers", bandwidth))
    h = [float(v) for v in vals]
    if not all(math.isfinite(v) and v > 0 for v in h):
        raise ValueError(message("bandwidth", "finite and > 0 (None selects them)", bandwidth))
    return (h[0], h[0]) if len(h) == 1 else (h[0], h[1])


def _check_sides(x: np.ndarray, cutoff: float) -> None:
    if not (x[0] < cutoff <= x[-1]):
        raise ValueError(message("cutoff", "inside the range of the running variable with units on both sides",
                                 cutoff, f"The running variable runs from {x[0]:g} to {x[-1]:g}."))


def density_test(x: Any, *, cutoff: float, bandwidth: Any = None, order: int = 2, kernel: str = "triangular",
                 bwselect: str = "comb") -> DensityTest:
    """The Cattaneo-Jansson-Ma (2020) density test at the cutoff, as ``rddensity`` computes it.

    Parameters
    ----------
    x : array_like
        (n,) running variable, **one entry per unit**.
    cutoff : float
        Units with ``x >= cutoff`` are on the right side.
    bandwidth : None, float or (float, float)
        None: rddensity's MSE-optimal bandwidths (``bwselect``); a number: one for both sides; a
        pair: ``(h_left, h_right)`` (rddensity's ``h=[hl, hr]``).
    order : int, default 2
        Polynomial order p (rddensity's ``p``, 1 to 7); the test's fits have order p + 1.
    kernel : {"triangular", "epanechnikov", "uniform"}
    bwselect : {"comb", "each", "diff", "sum"}
        rddensity's bandwidth choice (default "comb", rddensity's default: on each side the median of
        the side's own, the difference's and the sum's MSE-optimal bandwidth; "each": each side's
        own). Ignored with ``bandwidth``.

    Returns
    -------
    DensityTest

    Raises
    ------
    ValueError, TypeError
        Bad input, named. :class:`r3d.InsufficientDataError` when a side has fewer than
        ``order + 4`` distinct values or a fit is singular.
    """
    cutoff = check_finite("cutoff", cutoff)
    xs = np.sort(_as_float_1d("x", x))
    if xs.size == 0:
        raise ValueError(message("x", "a non-empty array (one entry per unit)", "<an empty array>"))
    order = check_int("order", order, low=1, high=MAX_DENSITY_ORDER)
    kernel = canonical_kernel(kernel)
    bwselect = check_choice("bwselect", bwselect, BWSELECT)
    h = _as_density_bandwidth(bandwidth)
    _check_sides(xs, cutoff)
    return _density_test(xs, cutoff=cutoff, h=h, order=order, kernel=kernel, bwselect=bwselect)


def _density_test(xs: np.ndarray, *, cutoff: float, h: tuple[float, float] | None, order: int, kernel: str,
                  bwselect: str, name: str = "x") -> DensityTest:
    """:func:`density_test` on validated inputs; ``xs`` sorted (n,) float64 with units on both sides."""
    notes = Notes()
    n = xs.size
    X = xs - cutoff
    nl = int(np.searchsorted(X, 0.0, side="left"))
    nr = n - nl
    _, freq, last = _tie_groups(X)
    need = order + 4   # the bias pilot fits order p + 2 on each side
    for side, k in (("left", int(np.count_nonzero(X[last] < 0))), ("right", int(np.count_nonzero(X[last] >= 0)))):
        if k < need:
            raise InsufficientDataError(
                f"The density test needs at least {need} = order + 4 distinct values of the running variable on "
                f"each side of the cutoff; the {side} side has {k}. Use a lower order or more units.")
    mass = bool(last.size != n)
    Y = np.arange(n) / (n - 1)
    if mass:
        Y = np.repeat(Y[last], freq)
    sel = None
    if h is None:
        sel = _select(X, Y, order, kernel, mass)
        hl, hr = sel.choose(bwselect)
    else:
        hl, hr = h
        bwselect = "fixed"
    inside = (X >= -hl) & (X <= hr)
    Xh, Yh = X[inside], Y[inside]
    nlh = int(np.searchsorted(Xh, 0.0, side="left"))
    nrh = Xh.size - nlh
    fit = _fit_sides(Xh, Yh, n, hl, hr, order + 1, kernel, mass)
    if fit is None or not (np.all(np.isfinite(fit.coef_left)) and np.all(np.isfinite(fit.coef_right))):
        raise InsufficientDataError(
            f"The density fits of order {order + 1} are singular with h_left = {hl:g}, h_right = {hr:g} "
            f"({nlh} / {nrh} units inside the windows). Use larger bandwidths or a lower order.")
    f_l, f_r = float(fit.coef_left[1]), float(fit.coef_right[1])
    v_diff = fit.var_left + fit.var_right - 2 * fit.cov
    if not v_diff > 0:
        raise InsufficientDataError(
            f"The jackknife variance of the density difference is {v_diff:g} with h_left = {hl:g}, "
            f"h_right = {hr:g}: the test has no sampling variation to compare with. Use larger bandwidths.")
    se_diff = math.sqrt(v_diff)
    T = (f_r - f_l) / se_diff
    if min(nlh, nrh) < FEW_UNITS_DENSITY:
        notes.warn(f"Only {nlh} / {nrh} units lie inside the density test's windows on the left / right (fewer "
                   f"than {FEW_UNITS_DENSITY} on a side); the test may be unreliable. Consider larger bandwidths.",
                   SmallSampleWarning)
    n_ties = int(np.sum(freq[freq > 1]))
    return DensityTest(
        statistic=float(T), pvalue=float(2 * stats.norm.sf(abs(T))), f_left=f_l, f_right=f_r,
        se_left=math.sqrt(max(fit.var_left, 0.0)), se_right=math.sqrt(max(fit.var_right, 0.0)), se_diff=se_diff,
        h_left=float(hl), h_right=float(hr), n_left=nl, n_right=nr, n_eff_left=nlh, n_eff_right=nrh,
        cutoff=cutoff, order=order, kernel=kernel, bwselect=bwselect, bandwidths=sel, n_ties=n_ties,
        notes=notes.texts, x=xs, name=name)


# ---------------------------------------------------------------------------------------------
# binomial test
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BinomialTest:
    """Exact binomial tests of no sorting in symmetric windows around the cutoff (:func:`binomial_test`).

    Attributes
    ----------
    window : ndarray
        (k,) half-widths w of the windows ``[c - w, c + w]``.
    n_left, n_right : ndarray of int
        (k,) units with ``c - w <= x < c`` and ``c <= x <= c + w``.
    pvalue : ndarray
        (k,) two-sided exact binomial p-values of H0: a unit in the window is below the cutoff with
        probability 1/2 (``scipy.stats.binomtest(n_left, n_left + n_right, 0.5)``).
    cutoff : float
    rule : str
        How the windows were chosen: ``"nearest"`` (the default) or ``"fixed"`` (given).
    """

    __test__ = False  # not a pytest test class

    window: np.ndarray
    n_left: np.ndarray
    n_right: np.ndarray
    pvalue: np.ndarray
    cutoff: float
    rule: str

    @property
    def frame(self) -> pd.DataFrame:
        """One row per window: "window" (half-width), "n_left", "n_right", "share_left", "pvalue"."""
        total = self.n_left + self.n_right
        return pd.DataFrame({"window": self.window, "n_left": self.n_left, "n_right": self.n_right,
                             "share_left": self.n_left / total, "pvalue": self.pvalue})

    def summary(self):
        """A statsmodels ``Summary``: one row per window."""
        from r3d._summary import R3DSummary, Section, decimals_for, fmt_num, fmt_p

        d = decimals_for(self.window)
        rows = tuple((fmt_num(w, d), str(a), str(b), fmt_p(p))
                     for w, a, b, p in zip(self.window, self.n_left, self.n_right, self.pvalue, strict=True))
        table = Section(title=f"Binomial tests at the cutoff {_r.num(self.cutoff, 6)} (H0: P(below) = 1/2)",
                        kind="table", headers=("half-width", "units < c", "units >= c", "P>|k - N/2|"),
                        stubs=tuple(str(j + 1) for j in range(self.window.size)), rows=rows)
        notes = ["Exact two-sided binomial tests on the unit counts in [c - w, c + w]"
                 + (" (the windows holding the nearest 20, 40, ... units)." if self.rule == "nearest" else ".")]
        return R3DSummary([table], notes)

    def __repr__(self) -> str:
        return _r.one_line("BinomialTest", "", [("", f"{self.window.size} windows"),
                                                 ("w", _r.span(self.window)),
                                                 ("min p", _r.pvalue(np.min(self.pvalue)))])

    def _repr_html_(self) -> str:
        import html

        head = ("half-width", "units < c", "units >= c", "p-value")
        out = ['<table class="r3d-repr">\n<caption style="text-align: left"><b>BinomialTest</b></caption>',
               "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
        out += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in (_r.num(w), str(a), str(b), _r.pvalue(p)))
                + "</tr>" for w, a, b, p in zip(self.window, self.n_left, self.n_right, self.pvalue, strict=True)]
        out.append("</table>")
        return "\n".join(out)


def binomial_test(x: Any, *, cutoff: float, windows: Any = None) -> BinomialTest:
    """Exact binomial tests of no sorting in symmetric windows ``[c - w, c + w]`` (Cattaneo, Titiunik and
    Vazquez-Bare 2017).

    Under no sorting, and a density of the running variable that is flat near the cutoff, each of the
    N units in a small window is below the cutoff with probability 1/2, so the count below is
    Binomial(N, 1/2). The test uses one observation per unit.

    Parameters
    ----------
    x : array_like
        (n,) running variable, one entry per unit.
    cutoff : float
    windows : None or array_like
        Half-widths w > 0. None (default): the smallest symmetric windows holding the nearest
        N = 20, 40, ..., 200 units (:data:`DEFAULT_BINOMIAL_COUNTS`; those with N <= n, or all units
        when n < 20). Growing the windows by a count of units rather than a distance makes the default
        independent of the scale of ``x``; ten windows starting near rddensity's first window (20 units)
        follow ``rdwinselect``'s ten windows. The half-width of the window holding N units is the N-th
        smallest ``|x - c|``, so under no sorting the count below is Binomial(N, 1/2) given the window.
        Windows are reported in the order given.

    Returns
    -------
    BinomialTest
    """
    cutoff = check_finite("cutoff", cutoff)
    xs = np.sort(_as_float_1d("x", x))
    if xs.size == 0:
        raise ValueError(message("x", "a non-empty array (one entry per unit)", "<an empty array>"))
    _check_sides(xs, cutoff)
    if windows is None:
        d = np.sort(np.abs(xs - cutoff))
        counts = [k for k in DEFAULT_BINOMIAL_COUNTS if k <= d.size] or [d.size]
        w = np.unique(d[np.asarray(counts) - 1])
        w = w[w > 0] if np.any(w > 0) else w
        rule = "nearest"
    else:
        try:
            w = np.atleast_1d(np.asarray(windows, dtype=np.float64)).ravel()
        except (TypeError, ValueError):
            raise TypeError(message("windows", "None or half-widths (numbers > 0)", windows)) from None
        if w.size == 0 or not np.all(np.isfinite(w) & (w > 0)):
            raise ValueError(message("windows", "None or one or more finite half-widths > 0", windows))
        rule = "fixed"
    lo = np.searchsorted(xs, cutoff - w, side="left")
    mid = np.searchsorted(xs, cutoff, side="left")
    hi = np.searchsorted(xs, cutoff + w, side="right")
    n_left, n_right = (mid - lo).astype(np.int64), (hi - mid).astype(np.int64)
    empty = n_left + n_right == 0
    if empty.any():
        raise ValueError(message("windows", "half-widths whose windows [c - w, c + w] hold at least one unit",
                                 windows, f"The unit nearest the cutoff is {np.min(np.abs(xs - cutoff)):g} away."))
    pv = np.array([stats.binomtest(int(a), int(a + b), 0.5).pvalue for a, b in zip(n_left, n_right, strict=True)])
    return BinomialTest(window=w, n_left=n_left, n_right=n_right, pvalue=pv, cutoff=cutoff, rule=rule)
