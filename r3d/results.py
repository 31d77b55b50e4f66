"""R3DResults: the numbers of one fit, labelled with pandas, statsmodels-style.

Results hold numbers; they never refit. Everything is computed once in
``R3D.fit`` and handed over as frozen dataclasses (``Estimate`` from
``r3d.estimators``, ``Inference`` below); this module only labels, tabulates
and plots them. ``results`` never imports ``model``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from r3d import bootstrap as _boot
from r3d._validation import check_choice, check_probability, message
from r3d.estimators import Estimate, average_weights

__all__ = ["R3DResults", "FitSpec", "DataInfo", "Inference", "AverageEffect", "FirstStageResult"]


@dataclass(frozen=True, slots=True)
class FitSpec:
    """The estimation choices of one fit (``R3D.fit`` arguments, resolved)."""

    method: str
    order: int
    pilot_order: int
    kernel: str
    bandwidth_rule: str  # "fixed" or the selector rule ("mse", "imse", "cer-mse", "cer-imse")
    quantile_method: str
    n_boot: int
    alpha: float
    band: str
    regularize: bool


@dataclass(frozen=True, slots=True)
class DataInfo:
    """What the model knew about its data (names, counts, cutoff)."""

    outcome_name: str
    running_name: str
    unit_name: str
    treatment_name: str | None
    cluster_name: str | None
    cutoff: float
    nobs: int
    ndraws: int | None
    n_left: int
    n_right: int
    n_dropped_draws: int
    n_dropped_units: int
    n_clusters: int | None
    unit_ids: pd.Index


@dataclass(frozen=True, slots=True)
class Inference:
    """Pointwise and bootstrap inference of one fit.

    Attributes
    ----------
    variance : ndarray
        (m,) HC0 (cluster-robust with clusters) variance of tau.
    draws : ndarray or None
        (n_boot, m) bootstrap process G_b, None when n_boot = 0.
    band : UniformBand or None
        Uniform band at the fit's alpha.
    average_variance : float
        Variance of the average effect.
    jump_variance : float or None
        Variance of the fuzzy first-stage jump.
    """

    variance: np.ndarray
    draws: np.ndarray | None
    band: _boot.UniformBand | None
    average_variance: float
    jump_variance: float | None


@dataclass(frozen=True, slots=True)
class AverageEffect:
    """∫ tau(q) dq over (0, 1): the effect on the unit-level mean outcome.

    Approximated by the trapezoid rule over the grid with tau held flat beyond
    the first and last grid points (``r3d.estimators.average_weights``).
    """

    estimate: float
    se: float
    z: float
    pvalue: float
    lower: float
    upper: float
    alpha: float


@dataclass(frozen=True, slots=True)
class FirstStageResult:
    """Fuzzy first stage: the jump in take-up at the cutoff."""

    jump: float
    se: float
    z: float
    pvalue: float
    m_left: float
    m_right: float
    bandwidth: float
    n_effective: dict = field(default_factory=dict)


class R3DResults:
    """Results of an R3D fit (see ``R3D.fit``).

    Attributes
    ----------
    params : pandas.Series
        tau(q), index = quantile levels, name "tau".
    bse, tvalues, pvalues : pandas.Series
        Pointwise analytic standard errors (HC0 sandwich, METHOD.md §5), z and two-sided p.
    quantiles : ndarray
        (m,) quantile levels.
    nobs : int
        Units used.
    n_effective : dict
        Units with positive kernel weight, {"left": ., "right": .} (per-quantile
        bandwidths: Series indexed by quantile).
    bandwidth : float or pandas.Series
        The bandwidth (a Series per quantile for per-quantile bandwidths).
    bandwidth_treatment : float or None
        Fuzzy first-stage bandwidth.
    bandwidth_info : dict
        Every intermediate of the bandwidth selector (empty for a fixed bandwidth).
    limits : pandas.DataFrame
        Columns "left", "right" (monotonised m_-, m_+) and "left_raw", "right_raw".
    first_stage : FirstStageResult or None
    average_effect : AverageEffect
    bootstrap_draws : ndarray or None
        (n_boot, m) bootstrap process G_b.
    notes : list of str
        Warnings raised during the fit, also shown in ``summary()``.
    """

    def __init__(
        self,
        *,
        estimate: Estimate,
        inference: Inference,
        spec: FitSpec,
        data: DataInfo,
        bandwidth: np.ndarray,
        bandwidth_treatment: float | None,
        bandwidth_info: dict[str, Any],
        notes: list[str],
    ) -> None:
        self._est = estimate
        self._inf = inference
        self.spec = spec
        self.data = data
        self._h = np.asarray(bandwidth, dtype=np.float64)
        self.bandwidth_treatment = bandwidth_treatment
        self.bandwidth_info = dict(bandwidth_info)
        self.notes = list(notes)

    # ------------------------------------------------------------------ labelled numbers
    @property
    def quantiles(self) -> np.ndarray:
        """(m,) quantile levels of the grid."""
        return self._est.quantiles.copy()

    @property
    def _index(self) -> pd.Index:
        return pd.Index(self._est.quantiles, name="quantile")

    @property
    def params(self) -> pd.Series:
        """tau(q) on the grid."""
        return pd.Series(self._est.tau, index=self._index, name="tau")

    @property
    def bse(self) -> pd.Series:
        """Pointwise standard errors of tau(q) (HC0; cluster-robust with clusters)."""
        return pd.Series(np.sqrt(self._inf.variance), index=self._index, name="bse")

    @property
    def tvalues(self) -> pd.Series:
        """z statistics tau / se."""
        with np.errstate(divide="ignore", invalid="ignore"):
            z = self._est.tau / np.sqrt(self._inf.variance)
        return pd.Series(z, index=self._index, name="z")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided normal p-values of H0: tau(q) = 0, pointwise."""
        return pd.Series(2 * stats.norm.sf(np.abs(self.tvalues.to_numpy())), index=self._index, name="P>|z|")

    @property
    def nobs(self) -> int:
        """Units used in the fit."""
        return self.data.nobs

    @property
    def n_effective(self) -> dict:
        """Units with positive kernel weight on each side."""
        out = {}
        for key, fit in (("left", self._est.fit_minus), ("right", self._est.fit_plus)):
            n = np.asarray(fit.n_effective)
            out[key] = int(n[0]) if n.size == 1 else pd.Series(n, index=self._index, name=f"n_{key}")
        return out

    @property
    def bandwidth(self) -> float | pd.Series:
        """The bandwidth: a float, or a Series per quantile."""
        if self._h.size == 1:
            return float(self._h.reshape(-1)[0])
        return pd.Series(self._h, index=self._index, name="bandwidth")

    @property
    def limits(self) -> pd.DataFrame:
        """One-sided limits of the average quantile function."""
        e = self._est
        return pd.DataFrame(
            {"left": e.m_minus, "right": e.m_plus, "left_raw": e.m_minus_raw, "right_raw": e.m_plus_raw},
            index=self._index,
        )

    @property
    def first_stage(self) -> FirstStageResult | None:
        """Fuzzy first stage (None for sharp designs)."""
        fs = self._est.first_stage
        if fs is None:
            return None
        se = float(np.sqrt(self._inf.jump_variance))
        z = fs.jump / se if se > 0 else np.inf
        return FirstStageResult(
            jump=fs.jump, se=se, z=z, pvalue=float(2 * stats.norm.sf(abs(z))), m_left=fs.m_minus,
            m_right=fs.m_plus, bandwidth=fs.h,
            n_effective={"left": int(fs.fit_minus.n_effective[0]), "right": int(fs.fit_plus.n_effective[0])},
        )

    @property
    def average_effect(self) -> AverageEffect:
        """∫ tau(q) dq with its standard error."""
        est = float(average_weights(self._est.quantiles) @ self._est.tau)
        se = float(np.sqrt(self._inf.average_variance))
        z = est / se if se > 0 else np.inf
        crit = stats.norm.ppf(1 - self.spec.alpha / 2)
        return AverageEffect(estimate=est, se=se, z=z, pvalue=float(2 * stats.norm.sf(abs(z))),
                             lower=est - crit * se, upper=est + crit * se, alpha=self.spec.alpha)

    @property
    def bootstrap_draws(self) -> np.ndarray | None:
        """(n_boot, m) bootstrap draws G_b of the tau process (None when n_boot = 0)."""
        return None if self._inf.draws is None else self._inf.draws.copy()

    @property
    def residuals(self) -> pd.DataFrame:
        """(n units x m) residuals e_i(q) used for the variance (0 outside the bandwidth)."""
        return pd.DataFrame(self._est.residuals, index=self.data.unit_ids, columns=self._index)

    # ------------------------------------------------------------------ intervals and tests
    def _alpha(self, alpha: float | None) -> float:
        return self.spec.alpha if alpha is None else check_probability("alpha", alpha)

    def _require_draws(self, what: str) -> np.ndarray:
        if self._inf.draws is None:
            raise ValueError(f"{what} needs bootstrap draws, but the model was fitted with n_boot=0. "
                             "Refit with n_boot=999 (or more).")
        return self._inf.draws

    def conf_int(self, alpha: float | None = None, kind: str = "pointwise") -> pd.DataFrame:
        """Confidence intervals for tau(q).

        Parameters
        ----------
        alpha : float, optional
            1 - coverage; default: the fit's ``alpha``.
        kind : {"pointwise", "uniform"}
            "pointwise": tau ± z_{1-alpha/2} se; "uniform": the bootstrap band (its
            type, uniform or studentized, is the fit's ``band``).

        Returns
        -------
        pandas.DataFrame
            Columns "lower", "upper", index = quantile levels.
        """
        alpha = self._alpha(alpha)
        kind = check_choice("kind", kind, ("pointwise", "uniform"))
        tau = self._est.tau
        if kind == "pointwise":
            half = stats.norm.ppf(1 - alpha / 2) * np.sqrt(self._inf.variance)
            lo, hi = tau - half, tau + half
        else:
            draws = self._require_draws("A uniform band")
            band = self._inf.band
            if band is None or alpha != band.alpha:
                band = _boot.uniform_band(tau, draws, alpha=alpha, band=self.spec.band,
                                          se=np.sqrt(self._inf.variance))
            lo, hi = band.lower, band.upper
        return pd.DataFrame({"lower": lo, "upper": hi}, index=self._index)

    @property
    def critical_value(self) -> float | None:
        """Critical value of the uniform band at the fit's alpha (None without bootstrap)."""
        return None if self._inf.band is None else float(self._inf.band.critical_value)

    def _tests(self, kind: str, ranges: Any, alpha: float | None):
        draws = self._require_draws(f"The {kind} test")
        fn = _boot.nullity_test if kind == "nullity" else _boot.homogeneity_test
        out = fn(self._est.tau, draws, self._est.quantiles, ranges=ranges, alpha=self._alpha(alpha))
        if len(out) == 1:
            return out[0]
        return pd.DataFrame(
            [{"test": r.test, "range_low": r.range[0], "range_high": r.range[1], "statistic": r.statistic,
              "critical_value": r.critical_value, "pvalue": r.pvalue, "n_boot": r.n_boot} for r in out]
        )

    def nullity_test(self, ranges: Any = None, alpha: float | None = None):
        """Test H0: tau(q) = 0 for all q in a range (sup statistic, multiplier bootstrap).

        Parameters
        ----------
        ranges : (lo, hi) or list of pairs, optional
            Quantile ranges; default the whole grid.

        Returns
        -------
        TestResult (one range) or pandas.DataFrame (several ranges).
        """
        return self._tests("nullity", ranges, alpha)

    def homogeneity_test(self, ranges: Any = None, alpha: float | None = None):
        """Test H0: tau(q) is constant over a range (centred sup statistic).

        Returns
        -------
        TestResult (one range) or pandas.DataFrame (several ranges).
        """
        return self._tests("homogeneity", ranges, alpha)

    # ------------------------------------------------------------------ tables
    def summary_frame(self, alpha: float | None = None) -> pd.DataFrame:
        """Tidy table, one row per quantile: coef, std_err, z, pvalue, pointwise CI, uniform band."""
        alpha = self._alpha(alpha)
        ci = self.conf_int(alpha)
        df = pd.DataFrame(
            {
                "coef": self.params,
                "std_err": self.bse,
                "z": self.tvalues,
                "pvalue": self.pvalues,
                "ci_lower": ci["lower"],
                "ci_upper": ci["upper"],
            }
        )
        if self._inf.draws is not None:
            band = self.conf_int(alpha, kind="uniform")
            df["band_lower"], df["band_upper"] = band["lower"], band["upper"]
        df["bandwidth"] = self._h if self._h.size > 1 else float(self._h.reshape(-1)[0])
        df["left"], df["right"] = self._est.m_minus, self._est.m_plus
        return df

    def summary(self, alpha: float | None = None, quantiles: Any = None):
        """A statsmodels ``Summary`` (``as_text()``, ``as_latex()``, ``as_html()``).

        Parameters
        ----------
        alpha : float, optional
            For the intervals; default the fit's ``alpha``.
        quantiles : array-like, optional
            Grid levels to show; default: all of a short grid (<= 19 points), the
            grid points nearest the deciles otherwise.
        """
        from r3d._summary import build_summary

        return build_summary(self, alpha=self._alpha(alpha), quantiles=quantiles)

    def _display_rows(self, quantiles: Any) -> np.ndarray:
        """Indices of the grid shown in tables."""
        q = self._est.quantiles
        if quantiles is None:
            if q.size <= 19:
                return np.arange(q.size)
            targets = np.arange(1, 10) / 10
            idx = np.unique([int(np.argmin(np.abs(q - t))) for t in targets])
            return idx
        want = np.atleast_1d(np.asarray(quantiles, dtype=np.float64))
        idx = []
        for w in want:
            j = int(np.argmin(np.abs(q - w)))
            if abs(q[j] - w) > 1e-9:
                raise ValueError(message("quantiles", "levels on the fitted grid", float(w),
                                         "Pick levels from res.quantiles."))
            idx.append(j)
        return np.asarray(idx)

    # ------------------------------------------------------------------ display
    @property
    def design(self) -> str:
        """ "sharp" or "fuzzy"."""
        return "fuzzy" if self._est.first_stage is not None else "sharp"

    def _bandwidth_text(self) -> str:
        h = self._h.reshape(-1)
        if h.size == 1:
            return f"{h[0]:.4g}"
        return f"{h.min():.4g}-{h.max():.4g} (per quantile)"

    def __repr__(self) -> str:
        q = self._est.quantiles
        return (f"<R3DResults: {self.design} {self.spec.method}, {q.size} quantiles in "
                f"[{q[0]:.3g}, {q[-1]:.3g}], {self.nobs} units, h={self._bandwidth_text()}>")

    def __str__(self) -> str:
        ae = self.average_effect
        idx = self._display_rows(None)
        lines = [
            repr(self),
            f"average effect {ae.estimate:.4g} (se {ae.se:.3g})",
            "tau: " + ", ".join(f"q{self._est.quantiles[j]:.2g}={self._est.tau[j]:.4g}" for j in idx),
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.summary().as_html()

    # ------------------------------------------------------------------ plots
    def plot(self, ax: Any = None, kind: str = "effect", **kwargs: Any):
        """Plot tau(q) with pointwise CI and uniform band ("effect") or the two limits ("limits").

        Returns the matplotlib Axes.
        """
        from r3d import plotting

        kind = check_choice("kind", kind, ("effect", "limits"))
        if kind == "effect":
            return plotting.plot_effect(self, ax=ax, **kwargs)
        return plotting.plot_limits(self, ax=ax, **kwargs)
