"""R3DResults: the numbers of one fit, labelled with pandas, statsmodels-style.

Results hold numbers; they never refit. Everything is computed once in
``R3D.fit`` and handed over as frozen dataclasses (``Estimate`` from
``r3d.estimators``, ``Inference`` below); this module only labels, tabulates
and plots them. ``results`` never imports ``model``.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from r3d import _repr as _r
from r3d import bootstrap as _boot
from r3d._validation import check_choice, check_probability, message
from r3d.bandwidth import BandwidthChoice
from r3d.bootstrap import Inference
from r3d.estimators import DEFAULT_VCE, Estimate
from r3d.fewdraws import FewDraws, describe_levels
from r3d.masspoints import MassPoints

__all__ = ["AverageEffect", "DataInfo", "FirstStageResult", "FitSpec", "Inference", "R3DResults", "level_labels"]

#: Grid levels within this many units in the last place of a number with LABEL_DECIMALS decimals
#: are labelled by that number: ``np.arange(0.05, 1, 0.05)`` holds 0.15000000000000002, one ulp
#: above 0.15, and ``res.params[0.15]`` should find it. Only labels change, never the levels the
#: numbers were computed at (``res.quantiles``).
LABEL_ULPS = 4
LABEL_DECIMALS = 12


def level_labels(quantiles: np.ndarray) -> np.ndarray:
    """Index labels of grid levels: each level snapped to ``round(q, LABEL_DECIMALS)`` when within
    ``LABEL_ULPS`` ulps of it, else the level itself (also when snapping would make two labels equal)."""
    q = np.asarray(quantiles, dtype=np.float64)
    r = np.round(q, LABEL_DECIMALS)
    labels = np.where(np.abs(q - r) <= LABEL_ULPS * np.spacing(np.abs(r)), r, q)
    return labels if np.unique(labels).size == labels.size else q.copy()


@dataclass(frozen=True, slots=True)
class FitSpec:
    """The estimation choices of one fit (``R3D.fit`` arguments, resolved).

    ``seed`` reproduces the bootstrap draws (``fit(rng=seed)``): the ``rng`` given (an integer or
    a tuple of integers, or a SeedSequence's entropy), the entropy drawn for ``rng=None``, or None
    when a Generator or BitGenerator was passed (there is no seed to record) or ``n_boot=0`` (no
    draws to reproduce).
    """

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
    seed: int | tuple[int, ...] | None = None
    donut: float = 0.0  # units with |X - c| < donut were left out (0: none)
    vce: str = DEFAULT_VCE  # variance option: "hc0", "hc1", "hc2" or "hc3" (docs/method.md §5)


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
    n_single_draw_units: int | None = None
    n_donut: int = 0  # units left out by the fit's donut (not in nobs, n_left, n_right)
    #: Label of the unit weights (METHOD_EXTENSIONS §12) and their sum over the units kept; None without them.
    unit_weights_name: str | None = None
    sum_unit_weights: float | None = None
    #: Units and distinct running-variable values per side and inside the window
    #: (``fit(masspoints=...)``; None with "off").
    mass_points: MassPoints | None = None
    #: Grid levels the in-window units' draws do not resolve (docs/few_draws.md; None when the draw
    #: counts are unknown, for a model built from quantiles).
    few_draws: FewDraws | None = None

    def __repr__(self) -> str:
        fields = [("units", f"{self.nobs} ({self.n_left} / {self.n_right})"),
                  ("draws", "--" if self.ndraws is None else str(self.ndraws)), ("cutoff", f"{self.cutoff:g}")]
        if self.n_clusters is not None:
            fields.append(("clusters", f"{self.n_clusters} ({self.cluster_name})"))
        if self.unit_weights_name is not None:
            fields.append(("unit weights", f"{self.unit_weights_name} (sum {self.sum_unit_weights:.6g})"))
        if self.mass_points is not None and self.mass_points.shared:
            mp = self.mass_points
            fields.append(("distinct x", f"{mp.distinct_left} / {mp.distinct_right}"))
        if self.few_draws is not None and self.few_draws.any:
            fields.append(("few draws at", describe_levels(self.few_draws.quantiles, self.few_draws.affected)))
        if self.n_dropped_draws or self.n_dropped_units:
            fields.append(("dropped draws / units", f"{self.n_dropped_draws} / {self.n_dropped_units}"))
        if self.n_donut:
            fields.append(("left out by the donut", str(self.n_donut)))
        return _r.one_line("DataInfo", f"{self.outcome_name} ~ {self.running_name}", fields)


#: DataInfo fields written by ``to_dict`` only when the model has unit weights.
_UNIT_WEIGHT_FIELDS = ("unit_weights_name", "sum_unit_weights")


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

    def _display(self) -> list[tuple[str, str]]:
        return [("estimate", _r.num(self.estimate)), ("std. err.", _r.num(self.se)), ("z", _r.num(self.z)),
                ("p-value", _r.pvalue(self.pvalue)),
                (f"{_coverage(self.alpha)} interval", f"[{_r.num(self.lower)}, {_r.num(self.upper)}]")]

    def __repr__(self) -> str:
        return _r.one_line("AverageEffect", _r.num(self.estimate),
                           [("se", _r.num(self.se)), ("z", _r.num(self.z)), ("p", _r.pvalue(self.pvalue)),
                            ("", f"{_coverage(self.alpha)} CI [{_r.num(self.lower)}, {_r.num(self.upper)}]")])

    def _repr_html_(self) -> str:
        return _r.html_table("AverageEffect: the integral of tau(q) over (0, 1)", self._display())


def _coverage(alpha: float) -> str:
    return f"{100 * (1 - alpha):.4g}%"


@dataclass(frozen=True, slots=True)
class FirstStageResult:
    """Fuzzy first stage: the jump in take-up at the cutoff (``f_stat`` = z^2, the first-stage F)."""

    jump: float
    se: float
    z: float
    pvalue: float
    m_left: float
    m_right: float
    bandwidth: float
    n_effective: dict = field(default_factory=dict)
    f_stat: float = math.nan

    def _display(self) -> list[tuple[str, str]]:
        inside = " / ".join(str(self.n_effective.get(k, "--")) for k in ("left", "right"))
        return [("jump", _r.num(self.jump)), ("std. err.", _r.num(self.se)), ("z", _r.num(self.z)),
                ("p-value", _r.pvalue(self.pvalue)), ("F", _r.num(self.f_stat)),
                ("take-up left / right", f"{_r.num(self.m_left)} / {_r.num(self.m_right)}"),
                ("bandwidth h_T", _r.num(self.bandwidth)), ("inside h_T left / right", inside)]

    def __repr__(self) -> str:
        return _r.one_line("FirstStageResult", f"jump {_r.num(self.jump)}",
                           [("se", _r.num(self.se)), ("z", _r.num(self.z)), ("p", _r.pvalue(self.pvalue)),
                            ("F", _r.num(self.f_stat)), ("h_T", _r.num(self.bandwidth))])

    def _repr_html_(self) -> str:
        return _r.html_table("FirstStageResult: the take-up jump at the cutoff", self._display())


class R3DResults:
    """Results of an R3D fit (see ``R3D.fit``).

    Attributes
    ----------
    params : pandas.Series
        tau(q), index = quantile levels, name "tau".
    bse, tvalues, pvalues : pandas.Series
        Pointwise analytic standard errors (sandwich with the fit's ``vce``, HC3 by default;
        docs/method.md §5), z and two-sided p.
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
    bandwidth_choice : r3d.bandwidth.BandwidthChoice
        Where the bandwidths came from: the rule, the selector run with every intermediate
        (None for a fixed bandwidth), h_T and its source.
    bandwidth_info : dict
        Flat view of ``bandwidth_choice`` (every intermediate of the selector; empty for a
        fixed bandwidth).
    model : R3D
        The model (sharing its data), labelled with this fit's parameter names.
    limits : pandas.DataFrame
        Columns "left", "right" (monotonised ``m_-``, ``m_+``) and "left_raw", "right_raw".
    first_stage : FirstStageResult or None
    average_effect : AverageEffect
    bootstrap_draws : ndarray or None
        (n_boot, m) bootstrap process G_b.
    few_draws : r3d.fewdraws.FewDraws or None
        Grid levels too few of the in-window units' draws resolve (docs/few_draws.md); None for a
        model built from quantiles.
    notes : list of str
        Warnings raised during the fit, also shown in ``summary()``.
    """

    def __init__(
        self,
        *,
        model: Any,
        estimate: Estimate,
        inference: Inference,
        spec: FitSpec,
        data: DataInfo,
        bandwidth: BandwidthChoice,
        notes: list[str],
    ) -> None:
        self._model = model
        self._est = estimate
        self._inf = inference
        self.spec = spec
        self.data = data
        self.bandwidth_choice = bandwidth
        self.notes = list(notes)

    @property
    def _h(self) -> np.ndarray:
        return self.bandwidth_choice.h

    @property
    def bandwidth_treatment(self) -> float | None:
        """Fuzzy first-stage bandwidth h_T (None for a sharp design)."""
        return self.bandwidth_choice.h_treatment

    @property
    def few_draws(self) -> FewDraws | None:
        """The few-draws diagnostic (docs/few_draws.md): per grid level, the in-window units and those with
        too few draws to resolve it, and the affected levels (empty when none; a ``FewDrawsWarning`` was
        raised otherwise). None for a model built from a quantile matrix (no draw counts)."""
        return self.data.few_draws

    @property
    def bandwidth_info(self) -> dict[str, Any]:
        """Every intermediate of the bandwidth selector as a flat dict (empty for a fixed bandwidth;
        ``{"treatment": ...}`` when only the take-up bandwidth was selected). A view of
        :attr:`bandwidth_choice`."""
        return self.bandwidth_choice.as_dict()

    # ------------------------------------------------------------------ labelled numbers
    @property
    def quantiles(self) -> np.ndarray:
        """(m,) quantile levels of the grid, exactly as the numbers were computed at (the index
        labels of ``params`` and the other Series are these levels snapped to 12 decimals when
        within a few ulps: see :func:`level_labels`)."""
        return self._est.quantiles.copy()

    @property
    def _index(self) -> pd.Index:
        return pd.Index(level_labels(self._est.quantiles), name="quantile")

    @property
    def params(self) -> pd.Series:
        """tau(q) on the grid."""
        return pd.Series(self._est.tau, index=self._index, name="tau")

    @property
    def bse(self) -> pd.Series:
        """Pointwise standard errors of tau(q) (the fit's ``vce``, HC3 by default; cluster-robust with clusters)."""
        return pd.Series(self._inf.se, index=self._index, name="bse")

    @property
    def tvalues(self) -> pd.Series:
        """z statistics tau / se (0 where tau = 0 and se = 0: an outcome that does not vary there gives no
        evidence of an effect; +-inf where only se = 0, a deterministic jump)."""
        tau, se = self._est.tau, self._inf.se
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where((tau == 0.0) & (se == 0.0), 0.0, tau / se)
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
    def covariate_coefficients(self) -> pd.DataFrame | None:
        """gamma(q) of the covariate adjustment: one row per covariate, one column per quantile level
        (NaN where a covariate was dropped at that level's bandwidth); None without covariates.
        A fuzzy design's take-up coefficients gamma_T are in ``covariate_coefficients_treatment``."""
        cov = self._est.covariates
        if cov is None:
            return None
        return pd.DataFrame(cov.gamma.copy(), index=pd.Index(cov.names, name="covariate"), columns=self._index)

    @property
    def covariate_coefficients_treatment(self) -> pd.Series | None:
        """gamma_T of the take-up adjustment (fuzzy design with covariates), one entry per covariate; else None."""
        cov = self._est.covariates
        if cov is None or cov.gamma_treatment is None:
            return None
        return pd.Series(cov.gamma_treatment.copy(), index=pd.Index(cov.names, name="covariate"), name="gamma_T")

    @property
    def first_stage(self) -> FirstStageResult | None:
        """Fuzzy first stage (None for sharp designs)."""
        fs = self._est.first_stage
        if fs is None:
            return None
        se = self._inf.jump_se
        z = self._inf.jump_z
        return FirstStageResult(
            jump=fs.jump, se=se, z=z, pvalue=float(2 * stats.norm.sf(abs(z))), m_left=fs.m_minus,
            m_right=fs.m_plus, bandwidth=fs.h,
            n_effective={"left": int(fs.fit_minus.n_effective[0]), "right": int(fs.fit_plus.n_effective[0])},
            f_stat=self._inf.f_stat,
        )

    @property
    def average_effect(self) -> AverageEffect:
        """∫ tau(q) dq with its standard error (interval at the fit's alpha)."""
        return self._average_effect(self.spec.alpha)

    def _average_effect(self, alpha: float) -> AverageEffect:
        est = self._inf.average
        se = self._inf.average_se
        z = est / se if se > 0 else (0.0 if est == 0 else np.inf)
        crit = stats.norm.ppf(1 - alpha / 2)
        return AverageEffect(estimate=est, se=se, z=z, pvalue=float(2 * stats.norm.sf(abs(z))),
                             lower=est - crit * se, upper=est + crit * se, alpha=alpha)

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
        kind : {"pointwise", "uniform", "anderson-rubin"}
            "pointwise": tau ± z_{1-alpha/2} se; "uniform": the bootstrap band (its
            type, uniform, studentized or anderson-rubin, is the fit's ``band``);
            "anderson-rubin" (fuzzy fits only): the pointwise Anderson-Rubin / Fieller sets
            {t : (N - t D)^2 <= z_{1-alpha/2}^2 V(t)}, valid when the first stage is weak;
            ``-inf``/``inf`` where unbounded (first-stage F <= z^2; docs/method.md §5).

        Returns
        -------
        pandas.DataFrame
            Columns "lower", "upper", index = quantile levels.
        """
        alpha = self._alpha(alpha)
        kind = check_choice("kind", kind, ("pointwise", "uniform", "anderson-rubin"),
                            aliases={"ar": "anderson-rubin", "fieller": "anderson-rubin"})
        tau = self._est.tau
        if kind == "pointwise":
            half = stats.norm.ppf(1 - alpha / 2) * self._inf.se
            lo, hi = tau - half, tau + half
        elif kind == "anderson-rubin":
            if self._est.first_stage is None:
                raise ValueError(message("kind", "'pointwise' or 'uniform' for a sharp fit", kind,
                                         "Anderson-Rubin sets invert the fuzzy ratio's test; a sharp fit has no "
                                         "ratio."))
            lo, hi = _boot._anderson_rubin_sets(self._est, self._model._data.units.cluster_codes,
                                               crit=float(stats.norm.ppf(1 - alpha / 2)))
        else:
            band = self._band(alpha)
            lo, hi = band.lower, band.upper
        return pd.DataFrame({"lower": lo, "upper": hi}, index=self._index)

    def _band(self, alpha: float) -> _boot.UniformBand:
        """The bootstrap band at ``alpha`` (the fit's own, or recomputed from the same draws)."""
        draws = self._require_draws("A uniform band")
        band = self._inf.band
        if band is not None and alpha != band.alpha and self.spec.band == "anderson-rubin":
            band = _boot._anderson_rubin_band(self._est, self._model._data.units.cluster_codes, draws,
                                              self._inf.se, alpha=alpha)
        elif band is None or alpha != band.alpha:
            band = _boot.uniform_band(self._est.tau, draws, alpha=alpha, band=self.spec.band,
                                      se=self._inf.se)
        return band

    @property
    def critical_value(self) -> float | None:
        """Critical value of the uniform band at the fit's alpha (None without bootstrap)."""
        return None if self._inf.band is None else float(self._inf.band.critical_value)

    def _cluster_sums(self) -> np.ndarray:
        """(G, m) influence matrix with rows summed within clusters (n rows without clusters)."""
        return _boot._aggregate(self._est.influence, self._model._data.units.cluster_codes)

    def cov_params(self) -> pd.DataFrame:
        """Covariance of tau across the grid (the fit's ``vce``; cluster-robust with clusters).

        ``A'A`` with ``A`` the influence matrix (docs/method.md §5) with its rows summed within
        clusters: the covariance of the bootstrap process given the data, whose diagonal is the
        variance every standard error comes from (``bse**2``; the diagonal holds those exact
        values). Columns are scaled by powers of two before multiplying, as for the standard errors.

        Returns
        -------
        pandas.DataFrame
            (m, m), index and columns the quantile levels (as ``params``).
        """
        agg = self._cluster_sums()
        e = np.frexp(np.max(np.abs(agg), axis=0))[1] if agg.shape[0] else np.zeros(agg.shape[1], dtype=np.intc)
        scaled = np.ldexp(agg, -e)
        # einsum's own loops, not BLAS: the sums do not depend on a BLAS's thread count
        S = np.einsum("gj,gk->jk", scaled, scaled)
        with np.errstate(over="ignore", under="ignore"):
            C = np.ldexp(S, e[:, None] + e[None, :])
        np.fill_diagonal(C, self._inf.variance)
        return pd.DataFrame(C, index=self._index, columns=self._index)

    def t_test(self, r_matrix: Any):
        """Normal (z) tests of linear contrasts of tau, such as tau(0.9) - tau(0.1) = 0.

        Parameters
        ----------
        r_matrix : str, array_like or tuple (R, q)
            A string of constraints separated by commas, each a sum of terms ``c*tau(q)`` (``c``
            optional, ``q`` a level on the grid) with an optional ``= value`` (default 0):
            ``"tau(0.9) - tau(0.1) = 0"``, ``"tau(0.5) = 1, 2*tau(0.5) - tau(0.25) - tau(0.75)"``;
            or a (k, m) array ``R`` (one column per grid level) for ``R tau = 0``; or ``(R, q)``
            for ``R tau = q``.

        Returns
        -------
        statsmodels.stats.contrast.ContrastResults
            ``effect`` (``R tau``), ``sd`` (its standard error, from the influence matrix with
            clusters as for ``bse``), ``statistic`` (``(effect - q) / sd``), two-sided normal
            ``pvalue``, ``conf_int(alpha)`` and ``summary()``; the constraints name the rows.
        """
        from statsmodels.stats.contrast import ContrastResults

        R, q, names = self._contrasts(r_matrix)
        agg = self._cluster_sums()
        effect = R @ self._est.tau
        # se of each contrast from its own influence column (scaled sums, as for bse), not sqrt(R C R')
        _, sd = _boot._variance_and_se(np.ascontiguousarray(agg @ R.T))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (effect - q) / sd
        out = ContrastResults(effect=effect, statistic=z, sd=sd, df_denom=None, distribution="norm")
        if names is not None:
            out.c_names = names
        return out

    def _contrasts(self, r_matrix: Any) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
        """(R (k, m), q (k,), names or None) from the forms :meth:`t_test` takes."""
        grid = self._est.quantiles
        m = grid.size
        if isinstance(r_matrix, str):
            rows = [_parse_contrast(part, grid) for part in r_matrix.split(",")]
            return (np.array([r for r, _ in rows]), np.array([v for _, v in rows]),
                    [" ".join(part.split()) for part in r_matrix.split(",")])
        q = None
        if isinstance(r_matrix, tuple) and len(r_matrix) == 2:
            r_matrix, q = r_matrix
        try:
            R = np.array(r_matrix, dtype=np.float64, ndmin=2)
            qv = np.zeros(R.shape[0]) if q is None else np.array(q, dtype=np.float64, ndmin=1).ravel()
        except (TypeError, ValueError):
            raise TypeError(message("r_matrix", f"a string such as 'tau(0.9) - tau(0.1) = 0', an array with {m} "
                                    "columns (one per grid level), or a tuple (R, q)",
                                    f"<{type(r_matrix).__name__}>")) from None
        if R.ndim != 2 or R.shape[1] != m or R.shape[0] == 0:
            raise ValueError(message("r_matrix", f"an array of shape (k, {m}): one column per grid level", R.shape,
                                     "Use one row per contrast and one column per level of res.quantiles."))
        if qv.size != R.shape[0]:
            raise ValueError(message("r_matrix", f"a pair (R, q) with {R.shape[0]} values in q, one per row of R",
                                     f"<q with {qv.size} values>", "Pass q with one value per contrast."))
        if not (np.all(np.isfinite(R)) and np.all(np.isfinite(qv))):
            raise ValueError(message("r_matrix", "finite numbers", "<an array with NaN or inf>"))
        return R, qv, None

    def test(self, name: str, ranges: Any = None, alpha: float | None = None) -> _boot.TestResults:
        """Run a registered bootstrap test (``r3d.bootstrap.TESTS``: "nullity", "homogeneity", "gini", "dominance",
        "dominance2", "unambiguity", "w2").

        Parameters
        ----------
        name : str
        ranges : (lo, hi) or list of pairs, optional
            Quantile ranges (tests that take them); default the whole grid.
        alpha : float, optional
            Level of the critical values; default the fit's ``alpha``.

        Returns
        -------
        r3d.bootstrap.TestResults
            One result per range; with one range its fields read directly (``.pvalue``).
        """
        name = check_choice("name", name, tuple(_boot.TESTS))
        alpha = self._alpha(alpha)
        draws = self._require_draws(f"The {name} test")
        e = self._est
        inputs = _boot.TestInputs(tau=e.tau, draws=draws, quantiles=e.quantiles, m_plus=e.m_plus,
                                  m_minus=e.m_minus, sides=self._side_draws, se=self._inf.se,
                                  cumulative_se=self._cumulative_se)
        return _boot.run_test(name, inputs, ranges=ranges, alpha=alpha)

    def _cumulative_se(self) -> np.ndarray:
        """(m,) standard errors of int_0^{q_j} tau (second-order dominance), from the influence matrix."""
        from r3d.estimators import cumulative_integral

        return _boot._variance_and_se(np.ascontiguousarray(cumulative_integral(self._est.quantiles,
                                                                                self._cluster_sums())))[1]

    def _side_draws(self) -> _boot.SideDraws:
        """Per-side processes G_b^+ and G_b^- from the fit's own multipliers (sharp designs)."""
        e = self._est
        if e.first_stage is not None:
            raise ValueError("The Gini test compares the two limit distributions of a sharp design; this fit is "
                             "fuzzy. Fit a sharp design (no `treatment`) to test equal Gini coefficients.")
        a_plus = e.fit_plus.weights * e.scaled_residuals
        a_minus = e.fit_minus.weights * e.scaled_residuals
        rng = copy.deepcopy(self._inf.multipliers)
        return _boot.side_draws(a_plus, a_minus, n_boot=self.spec.n_boot, rng=rng,
                                cluster_codes=self._model._data.units.cluster_codes)

    def _reported_tests(self) -> tuple[str, ...]:
        """The tests of ``r3d.bootstrap.REPORTED_TESTS`` that apply to this fit's grid (a test needs at least
        its ``min_points`` grid points: the homogeneity test has nothing to compare on a single level)."""
        m = self._est.quantiles.size
        return tuple(name for name in _boot.REPORTED_TESTS if _boot.TESTS[name].min_points <= m)

    def _skipped_tests_note(self) -> str | None:
        """Why reported tests are missing (None when every one applies)."""
        m = self._est.quantiles.size
        skipped = [name for name in _boot.REPORTED_TESTS if name not in self._reported_tests()]
        if not skipped:
            return None
        what = "; ".join(f"the {name} test ({_boot.TESTS[name].null}) needs at least {_boot.TESTS[name].min_points} "
                         "grid points" for name in skipped)
        return (f"Not reported: {what}, and the grid has {m}. Fit with more quantile levels "
                "(e.g. quantiles=19) to run it.")

    def nullity_test(self, ranges: Any = None, alpha: float | None = None) -> _boot.TestResults:
        """Test H0: tau(q) = 0 for all q in a range (sup statistic, multiplier bootstrap).

        Parameters
        ----------
        ranges : (lo, hi) or list of pairs, optional
            Quantile ranges; default the whole grid.
        alpha : float, optional

        Returns
        -------
        r3d.bootstrap.TestResults
            One result per range (``.frame``: a tidy table); with one range its fields read
            directly (``res.nullity_test().pvalue``).
        """
        return self.test("nullity", ranges, alpha)

    def homogeneity_test(self, ranges: Any = None, alpha: float | None = None) -> _boot.TestResults:
        """Test H0: tau(q) is constant over a range (centred sup statistic).

        Returns
        -------
        r3d.bootstrap.TestResults
            As :meth:`nullity_test`.
        """
        return self.test("homogeneity", ranges, alpha)

    def gini_test(self, alpha: float | None = None) -> _boot.TestResults:
        """Test H0: the two limit distributions have equal Gini coefficients (sharp designs).

        The statistic and its centred bootstrap analogue are those of
        :func:`r3d.bootstrap.gini_test`; the per-side processes reuse the fit's multipliers.

        Returns
        -------
        r3d.bootstrap.TestResults
            One result (the whole grid).
        """
        return self.test("gini", None, alpha)

    # ------------------------------------------------------------------ functionals and dominance
    def functional(self, functional: Any, *, alpha: float | None = None, **options: Any):
        """The effect on a functional of the limit distribution, ``phi(m_+) - phi(m_-)`` (sharp designs).

        Computed on the grid range ``[q_1, q_m]``: the limits' average quantile functions are held
        flat beyond it and integrals are trapezoid sums over the grid, as for the average effect
        (docs/method.md §10). Inference by the functional delta method on the fit's influence
        matrix (the fit's ``vce``, cluster-robust with clusters): ``functional("mean")`` is :attr:`average_effect`.

        Parameters
        ----------
        functional : str or callable
            A name from ``r3d.functionals.FUNCTIONALS``: "mean", "variance", "sd", "gini", "iqr"
            (``upper=0.75``, ``lower=0.25``: ``Q(upper) - Q(lower)``), "quantile_ratio"
            (``upper=0.9``, ``lower=0.1``: ``Q(upper) / Q(lower)``, e.g. P90/P10), "share_below"
            (``z=``: ``F(z) = sup{q : Q(q) <= z}``, interpolated), "lorenz" (the Lorenz curve at the
            grid levels, with a uniform band); "w2", the Wasserstein-2 distance ``(int tau^2)^(1/2)``,
            reported as a bootstrap test of tau = 0 only (it is not differentiable at tau = 0; it
            also works for fuzzy designs). Or a callable ``phi(values, levels, **options) -> float``
            of a quantile function on the grid, differentiated by central differences.
        alpha : float, optional
            For intervals and the band; default the fit's ``alpha``.
        **options
            The functional's options (above), or keyword arguments of the callable.

        Returns
        -------
        r3d.functionals.FunctionalEffect or r3d.functionals.FunctionalCurve
            ``estimate``, ``left`` (``phi(m_-)``), ``right`` (``phi(m_+)``), ``se``, ``pvalue``,
            ``conf_int()``; a curve gives Series over the levels, a uniform band (``conf_int()``,
            ``band()``) and ``plot()``.

        Raises
        ------
        ValueError
            For a fuzzy design (except "w2"), or where the functional is undefined at a limit (the
            Gini of a distribution with a non-positive mean, ``z`` outside a limit's grid quantiles).
        """
        from r3d import functionals as _fx

        alpha = self._alpha(alpha)
        grid = self._est.quantiles
        if isinstance(functional, str) and functional in _fx.TEST_FUNCTIONALS:
            if options:
                raise TypeError(message(next(iter(options)), "no option: the w2 test takes none",
                                        options[next(iter(options))]))
            return _fx.w2_effect(self.test("w2", None, alpha), grid)
        f, opts = _fx.describe(functional, options, grid)
        return _fx.effect(f, opts, self._side_inputs(alpha, with_draws=f.kind == "curve"))

    def _side_inputs(self, alpha: float, *, with_draws: bool):
        """Per-side influence matrices and limits of a sharp fit, for ``r3d.functionals.effect``."""
        from r3d import functionals as _fx

        e = self._est
        if e.first_stage is not None:
            raise ValueError(
                "Functionals compare the two limit distributions of a sharp design, and this fit is fuzzy: its "
                "limits at the cutoff mix compliers with units whose take-up does not change, so phi(m_+) - phi(m_-) "
                "is not an effect on compliers. Use res.average_effect for the mean effect, res.dominance_test(), "
                "res.unambiguity_test() or res.functional('w2') (they work on tau), or fit the sharp "
                "(intention-to-treat) design without `treatment`.")
        codes = self._model._data.units.cluster_codes

        def se_of(infl: np.ndarray) -> np.ndarray:
            return _boot._variance_and_se(_boot._aggregate(np.ascontiguousarray(infl), codes))[1]

        return _fx.SideInputs(
            quantiles=e.quantiles, m_plus=e.m_plus, m_minus=e.m_minus, a_plus=e.fit_plus.weights * e.scaled_residuals,
            a_minus=e.fit_minus.weights * e.scaled_residuals, se_of=se_of,
            side_draws=self._side_draws if with_draws and self._inf.draws is not None else None,
            alpha=alpha)

    def dominance_test(self, order: int = 1, ranges: Any = None, alpha: float | None = None) -> _boot.TestResults:
        """Test H0: the right limit dominates the left one (first or second order).

        ``order=1``: H0 tau(q) >= 0 on the range, statistic ``max (-tau)_+`` against the
        bootstrap ``max (-G_b)_+`` (the least favourable null, tau = 0). ``order=2``: the same on the
        jump of the generalised Lorenz curve ``int_0^p tau`` (integrated from 0 with tau flat below
        ``q_1``; the range picks the levels ``p`` tested). A small p-value says the right (treated)
        limit does not dominate; for the reverse, test the other direction with
        :meth:`unambiguity_test` or read the one-sided statistics of ``-tau``.

        Parameters
        ----------
        order : {1, 2}
        ranges : (lo, hi) or list of pairs, optional
            Quantile ranges; default the whole grid.
        alpha : float, optional

        Returns
        -------
        r3d.bootstrap.TestResults
        """
        if isinstance(order, bool) or order not in (1, 2):
            raise ValueError(message("order", "1 (first-order dominance) or 2 (second order)", order))
        return self.test("dominance" if order == 1 else "dominance2", ranges, alpha)

    def unambiguity_test(self, ranges: Any = None, alpha: float | None = None) -> _boot.TestResults:
        """Test H0: tau keeps one sign on the range (the effect is unambiguous; Qu and Yoon).

        Rejects when tau is significantly positive somewhere and significantly negative elsewhere: an
        intersection-union test of the two one-sided sup tests, each at level ``alpha``
        (``r3d.bootstrap.TESTS["unambiguity"]``).

        Returns
        -------
        r3d.bootstrap.TestResults
        """
        return self.test("unambiguity", ranges, alpha)

    # ------------------------------------------------------------------ falsification (METHOD_EXTENSIONS §11)
    def placebo(self, cutoffs: Any = None, *, rng: Any = None) -> Any:
        """Fits at placebo cutoffs, where no effect is expected (docs/placebo.md).

        Each placebo fit uses only the units on its side of the true cutoff and this fit's options
        (method, order, kernel, grid, bootstrap draws, alpha, band; the bandwidth re-selected at the
        placebo cutoff when this fit's was selected, the same fixed bandwidth otherwise). A fuzzy design's
        placebo fits are its reduced form (the outcome's jump). After a donut fit, the units its donut
        left out stay out, and the placebo fits have no donut of their own. Cutoffs with fewer than
        ``5 x (order + 1)`` units on a side of them are skipped, with a warning, and listed in ``.skipped``.

        Parameters
        ----------
        cutoffs : array_like, optional
            Placebo cutoffs (each on one side of the true cutoff). Default: the 20, 40, 60 and 80%
            quantiles of the running variable of this fit's units on each side.
        rng : None, int or numpy.random.Generator
            Seed of the placebo fits' bootstrap draws; default: derived from this fit's seed
            (``res.spec.seed``), so the placebo fits are as reproducible as the fit.

        Returns
        -------
        r3d.placebo.PlaceboResults
            ``.frame`` (one row per cutoff: tau at a few levels, the average effect, the nullity test's
            p-value), ``.fits``, ``.skipped``, ``summary()``, ``plot()``.
        """
        from r3d.placebo import placebo_fits

        return placebo_fits(self, cutoffs, rng)

    def sensitivity(self, bandwidths: Any = None, *, rng: Any = None) -> Any:
        """Refits at other bandwidths with this fit's other options (docs/placebo.md).

        Parameters
        ----------
        bandwidths : array_like, optional
            Bandwidths to refit at. Default: 0.5, 0.75, 1, 1.25, 1.5 and 2 times this fit's bandwidth (each
            per-quantile bandwidth scaled alike); at 1 the fit itself is reused. A fuzzy design keeps its
            first-stage bandwidth h_T.
        rng : None, int or numpy.random.Generator
            Seed of the refits' bootstrap draws; default: derived from this fit's seed.

        Returns
        -------
        r3d.placebo.SensitivityResults
            ``.frame`` (tau at a few levels with pointwise intervals and the uniform band at each
            bandwidth), ``.fits``, ``summary()``, ``plot()``.
        """
        from r3d.placebo import sensitivity_fits

        return sensitivity_fits(self, bandwidths, rng)

    def compare(self, other: R3DResults, *, n_boot: int | None = None, alpha: float | None = None,
                rng: Any = None) -> Any:
        """The difference ``tau(q) - tau_other(q)`` of two fits of the same units, with a uniform band and
        a sup test of no difference (docs/placebo.md).

        The two estimates are correlated (they share units); one multiplier per unit (per cluster) shared
        by both fits, applied to the difference of their influence matrices (a unit outside one fit, e.g.
        inside a donut, contributes zero to it), gives the difference's bootstrap process.

        Parameters
        ----------
        other : R3DResults
            A fit of the same units (the same model, or one built from the same data) on the same grid:
            another bandwidth, order, method or donut.
        n_boot : int, optional
            Bootstrap draws (default this fit's ``n_boot``, or 999 when it has none).
        alpha : float, optional
            Default this fit's ``alpha``.
        rng : None, int or numpy.random.Generator
            Seed of the multipliers; default: derived from both fits' seeds (fresh when either is unknown).

        Returns
        -------
        r3d.placebo.FitComparison
            ``.frame`` (difference, se, pointwise interval and band per level), ``.test`` (sup test),
            ``summary()``, ``plot()``.
        """
        from r3d.placebo import compare_fits

        return compare_fits(self, other, n_boot=n_boot, alpha=alpha, rng=rng)

    def diagnostics(self, *, cutoffs: Any = None, bandwidths: Any = None, donut: float | None = None,
                    rng: Any = None) -> Any:
        """The design checks of this fit in one report (docs/placebo.md): placebo cutoffs, bandwidth
        sensitivity, a donut fit compared with this one (with ``donut``), covariate balance (when the model
        has covariates), and the density and binomial tests (when the model has ``density_test`` and
        ``binomial_test``).

        Parameters
        ----------
        cutoffs : array_like, optional
            Placebo cutoffs (:meth:`placebo`).
        bandwidths : array_like, optional
            Bandwidths of the sensitivity refits (:meth:`sensitivity`).
        donut : float, optional
            Also refit without the units with ``|X - c| < donut`` at this fit's bandwidth and compare
            (:meth:`compare`).
        rng : None, int or numpy.random.Generator
            Seed of every check; default derived from this fit's seed (``res.diagnostics().placebo`` then
            equals ``res.placebo()``).

        Returns
        -------
        r3d.diagnostics.Diagnostics
            Each check as an attribute, ``summary()`` (text, LaTeX, HTML) and ``plot()`` (one figure).
        """
        from r3d.diagnostics import run_diagnostics

        return run_diagnostics(self, cutoffs=cutoffs, bandwidths=bandwidths, donut=donut, rng=rng)

    # ------------------------------------------------------------------ tables
    def summary_frame(self, alpha: float | None = None) -> pd.DataFrame:
        """Tidy table, one row per quantile level (all float64).

        Columns: "coef", "std_err", "z", "pvalue", "ci_lower", "ci_upper" (pointwise
        interval), "band_lower", "band_upper" (uniform band; only with bootstrap draws),
        "bandwidth", "left", "right" (the monotonised limits ``m_-``, ``m_+``). Index: "quantile".
        """
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
        df["bandwidth"] = self.bandwidth
        df["left"], df["right"] = self._est.m_minus, self._est.m_plus
        return df

    def summary(self, alpha: float | None = None, quantiles: Any = None, sections: Any = None,
                functionals: Any = None, tests: Any = None):
        """A statsmodels ``Summary``: header, tau table, average effect, tests, first stage, notes.

        Parameters
        ----------
        alpha : float, optional
            For the intervals, the band and the tests' critical values; default the fit's
            ``alpha`` (the band is recomputed from the same bootstrap draws).
        quantiles : array-like or "all", optional
            Grid levels to show; default: all of a short grid (<= 19 points), the grid
            points nearest the deciles otherwise.
        sections : str or sequence of str, optional
            Only these parts, in their usual order: "header", "bandwidth" (the selector's
            intermediates), "effects" (tau and the average effect), "tests", "first_stage",
            "notes" (those explaining the kept sections, and the fit's warnings). Default: all
            that apply to the fit. ``sections=("effects", "notes")`` is the table for a paper.
        functionals : str, callable or list, optional
            Effects on functionals of the limit distributions to add as a "functionals" section
            (:meth:`functional`): names (``"gini"``), ``"name:key=value,..."`` strings
            (``"quantile_ratio:upper=0.9,lower=0.1"``), ``(name, {options})`` pairs or callables.
            The Lorenz curve shows its levels nearest the deciles and its sup test.
        tests : str or list of str, optional
            Tests of ``r3d.bootstrap.TESTS`` to add to the tests over the whole grid ("dominance",
            "dominance2", "unambiguity", "w2", "gini"); needs bootstrap draws.

        Returns
        -------
        r3d._summary.R3DSummary
            A ``statsmodels.iolib.summary.Summary`` with ``as_text()``, ``as_latex()``
            (one booktabs ``tabular`` per section, then the notes), ``as_html()`` and
            ``as_csv()``; notebooks display it as HTML.
        """
        from r3d._summary import build_summary

        alpha = self._alpha(alpha)
        return build_summary(self, alpha=alpha, quantiles=quantiles, sections=sections,
                             functionals=self._requested_functionals(functionals, alpha),
                             tests=self._requested_tests(tests, alpha))

    def _requested_functionals(self, functionals: Any, alpha: float) -> list:
        """The effects named by ``summary``/``to_dict``'s ``functionals=`` (empty list for None)."""
        from r3d import functionals as _fx

        if functionals is None:
            return []
        return [self.functional(f, alpha=alpha, **opts) for f, opts in _fx.requests(functionals)]

    def _requested_tests(self, tests: Any, alpha: float) -> list[_boot.TestResult]:
        """Whole-grid results of the tests named by ``summary``/``to_dict``'s ``tests=``, beyond the reported ones."""
        if tests is None:
            return []
        names = [tests] if isinstance(tests, str) else list(tests)
        out = []
        for name in names:
            name = check_choice("tests", name, tuple(_boot.TESTS))
            if name not in self._reported_tests():
                out.append(self.test(name, None, alpha)[0])
        return out

    def _display_rows(self, quantiles: Any) -> np.ndarray:
        """Indices of the grid shown in tables."""
        q = self._est.quantiles
        if isinstance(quantiles, str):
            check_choice("quantiles", quantiles, ("all",))
            return np.arange(q.size)
        if quantiles is None:
            return _deciles(q, short=19)
        want = np.atleast_1d(np.asarray(quantiles, dtype=np.float64))
        idx = _nearest(q, want)
        off = np.abs(q[idx] - want) > 1e-9
        if off.any():
            raise ValueError(message("quantiles", "levels on the fitted grid", float(want[off][0]),
                                     "Pick levels from res.quantiles."))
        return idx

    # ------------------------------------------------------------------ machine-readable
    def to_dict(self, alpha: float | None = None, functionals: Any = None, tests: Any = None) -> dict[str, Any]:
        """Every number of the fit as plain Python (lists, floats, ints, str, None).

        Keys: "r3d_version", "design", "data" (names and counts), "spec" (the fit's
        options), "alpha", "quantiles", "params", "bse", "tvalues", "pvalues",
        "conf_int" {"lower", "upper"}, "band" (uniform band with its critical value, or
        None), "bandwidth" (float or list), "bandwidth_treatment", "bandwidth_info",
        "n_effective", "limits" {"left", "right", "left_raw", "right_raw"},
        "average_effect", "first_stage" (or None), "tests" (``r3d.bootstrap.REPORTED_TESTS``: "nullity", "homogeneity")
        (whole grid; None without bootstrap; a test that needs more grid points than the fit has, as the
        homogeneity test on a single level, is None and named in "notes"), "notes". Lists follow "quantiles".
        Not-finite numbers stay floats (``json.dumps(..., allow_nan=False)`` needs them
        replaced; the command line writes them as null). With ``functionals=`` (as for :meth:`summary`)
        a key "functionals" lists each effect's ``to_dict()``; ``tests=`` adds those tests to "tests".
        """
        from r3d._version import __version__

        alpha = self._alpha(alpha)
        ci = self.conf_int(alpha)
        extra = self._requested_tests(tests, alpha)
        band = reported = None
        if self._inf.draws is not None:
            band = asdict(self._band(alpha))
            reported = dict.fromkeys(_boot.REPORTED_TESTS)  # None: the test needs more grid points (notes say so)
            for t in [self.test(kind, None, alpha)[0] for kind in self._reported_tests()] + extra:
                reported[t.test] = {"statistic": t.statistic, "critical_value": t.critical_value, "pvalue": t.pvalue,
                                    "range": list(t.range), "n_boot": t.n_boot, "alpha": t.alpha}
        d = self.data
        data = {f.name: getattr(d, f.name) for f in d.__dataclass_fields__.values() if f.name not in
                ("unit_ids", "mass_points", "few_draws")
                and not (f.name in _UNIT_WEIGHT_FIELDS and getattr(d, f.name) is None)}
        if d.mass_points is not None and d.mass_points.shared:  # written where units share running values
            data["mass_points"] = d.mass_points.as_dict()
        if d.few_draws is not None and d.few_draws.any:  # written where some level is affected
            data["few_draws"] = d.few_draws.as_dict()
        fs = self.first_stage
        out = {
            "r3d_version": __version__,
            "design": self.design,
            "data": data,
            "spec": asdict(self.spec),
            "alpha": alpha,
            "quantiles": self._est.quantiles,
            "params": self._est.tau,
            "bse": self.bse.to_numpy(),
            "tvalues": self.tvalues.to_numpy(),
            "pvalues": self.pvalues.to_numpy(),
            "conf_int": {"lower": ci["lower"].to_numpy(), "upper": ci["upper"].to_numpy()},
            "band": band,
            "bandwidth": self.bandwidth,
            "bandwidth_treatment": self.bandwidth_treatment,
            "bandwidth_info": self.bandwidth_info,
            "n_effective": self.n_effective,
            "limits": {c: v.to_numpy() for c, v in self.limits.items()},
            "average_effect": asdict(self._average_effect(alpha)),
            "first_stage": None if fs is None else asdict(fs),
            "tests": reported,
            "notes": list(self.notes) + ([] if self._inf.draws is None else _listed(self._skipped_tests_note())),
        }
        if functionals is not None:
            out["functionals"] = [f.to_dict() for f in self._requested_functionals(functionals, alpha)]
        return _plain(out)

    @property
    def model(self) -> Any:
        """The ``R3D`` model of this fit (sharing its data), with ``endog_names`` (the outcome) and
        ``exog_names`` ("tau(0.10)", ...) as statsmodels' table tools (``summary_col``) expect."""
        return self._model

    @property
    def default_model_infos(self) -> dict[str, Any]:
        """Rows ``statsmodels.iolib.summary2.summary_col`` adds under the coefficients."""
        return {"Units": lambda r: f"{r.nobs}", "Bandwidth": lambda r: r._bandwidth_text(),
                "Method": lambda r: f"{r.spec.method}, {r.design}"}

    # ------------------------------------------------------------------ display
    @property
    def design(self) -> str:
        """ "sharp" or "fuzzy"."""
        return "fuzzy" if self._est.first_stage is not None else "sharp"

    def _bandwidth_text(self) -> str:
        h = self._h.reshape(-1)
        if h.size == 1:
            return f"{h[0]:.4g}"
        return f"{h.min():.4g}-{h.max():.4g} (per q)"

    def __repr__(self) -> str:
        q = self._est.quantiles
        return (f"<R3DResults: {self.design} {self.spec.method}, {q.size} quantiles in "
                f"[{q[0]:.3g}, {q[-1]:.3g}], {self.nobs} units, h={self._bandwidth_text()}>")

    def __str__(self) -> str:
        from r3d._summary import coverage_pct, decimals_for, fmt_num, fmt_p, format_level, inside_text

        d, s = self.data, self.spec
        ae = self.average_effect
        q = self._est.quantiles
        idx = _deciles(q, short=9)
        dec = decimals_for(np.r_[self._est.tau[idx], ae.estimate, ae.lower, ae.upper])
        lines = [
            (f"R3D {self.design} {s.method} fit of {d.outcome_name} at {d.running_name} = {d.cutoff:g}: "
             f"{self.nobs} units, {inside_text(self.n_effective)} (left / right) inside h = {self._bandwidth_text()}"),
            (f"average effect {fmt_num(ae.estimate, dec)} (se {fmt_num(ae.se, dec)}, {coverage_pct(s.alpha)} CI "
             f"[{fmt_num(ae.lower, dec)}, {fmt_num(ae.upper, dec)}])"),
            "tau(q) at q = " + ", ".join(f"{format_level(q[j])}: {fmt_num(self._est.tau[j], dec)}" for j in idx),
        ]
        if self._inf.draws is not None:
            ps = ", ".join(f"p = {fmt_p(self.test(name).pvalue)} for {_boot.TESTS[name].null}"
                           for name in self._reported_tests())
            lines.append(f"uniform tests ({s.n_boot} draws): {ps}")
        if self.first_stage is not None:
            fs = self.first_stage
            lines.append(f"first stage: take-up jump {fs.jump:.3g} (se {fs.se:.2g}, F = {fs.f_stat:.1f})")
        if self.notes:
            lines.append(f"{len(self.notes)} warning(s): see .notes or summary()")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.summary().as_html()

    # ------------------------------------------------------------------ plots
    def plot(self, ax: Any = None, kind: str = "effect", **kwargs: Any):
        """Plot the fit with matplotlib (imported only now).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; default a new figure.
        kind : {"effect", "limits", "lorenz"}
            "effect": tau(q) with the pointwise interval and the uniform band shaded
            differently and a zero line (``r3d.plotting.plot_effect``); "limits": the two
            limiting average quantile functions ``m_-(q)``, ``m_+(q)`` (``r3d.plotting.plot_limits``);
            "lorenz": the two limits' Lorenz curves with their uniform bands (``r3d.plotting.plot_lorenz``,
            sharp designs; ``kind="effect"`` of that function via ``res.functional("lorenz").plot``).
        **kwargs
            Passed to the plotting function: its options (``alpha`` = 1 - coverage as in
            ``conf_int``, ``color``, ``truth``, ``label`` = the fit's name in the legend,
            ``band_kw``/``ci_kw`` = matplotlib options of the shaded band and interval, where
            a transparency goes: ``band_kw={"alpha": 0.1}``), and any other keyword as a
            matplotlib option of the estimate's line (``linewidth=1``, ``linestyle="--"``).
            Two fits on one Axes: ``ax = a.plot(label="A"); b.plot(ax=ax, label="B", color="C1")``.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from r3d import plotting

        draw = {"effect": plotting.plot_effect, "limits": plotting.plot_limits,
                "lorenz": lambda res, ax=None, **kw: res.functional("lorenz").plot(ax=ax, **kw)}
        return draw[check_choice("kind", kind, tuple(draw))](self, ax=ax, **kwargs)


#: One term ``[+|-] [c [*]] tau(q)`` of a contrast written as a string (see ``R3DResults.t_test``).
_TERM = re.compile(r"\s*(?P<sign>[-+])?\s*(?:(?P<coef>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*\*?\s*)?"
                   r"tau\s*\(\s*(?P<q>[^()]*?)\s*\)\s*")
#: Levels in a contrast string must match a grid level to this tolerance (users type decimals).
LEVEL_TOL = 1e-9


def _parse_contrast(text: str, grid: np.ndarray) -> tuple[np.ndarray, float]:
    """One constraint ``c1*tau(q1) + c2*tau(q2) ... = value`` -> (row (m,), value)."""
    expected = "constraints such as 'tau(0.9) - tau(0.1) = 0': terms c*tau(q) with q on the grid, '= value' optional"
    fix = "Write each term as tau(q) or c*tau(q), e.g. 'tau(0.9) - tau(0.1)'; separate constraints with commas."
    lhs, eq, rhs = text.partition("=")
    row = np.zeros(grid.size)
    pos, first = 0, True
    while pos < len(lhs) and lhs[pos:].strip():
        m = _TERM.match(lhs, pos)
        if m is None or (not first and m["sign"] is None):
            raise ValueError(message("r_matrix", expected, text.strip(), fix))
        try:
            level = float(m["q"])
        except ValueError:
            raise ValueError(message("r_matrix", expected, text.strip(), fix)) from None
        j = int(np.abs(grid - level).argmin())
        if abs(grid[j] - level) > LEVEL_TOL:
            raise ValueError(message("r_matrix", "levels on the fitted grid", level,
                                     "Pick levels from res.quantiles (res.params.index)."))
        row[j] += (-1.0 if m["sign"] == "-" else 1.0) * float(m["coef"] or 1.0)
        pos, first = m.end(), False
    if first:
        raise ValueError(message("r_matrix", expected, text.strip(), fix))
    if not eq:
        return row, 0.0
    try:
        value = float(rhs.strip())
    except ValueError:
        raise ValueError(message("r_matrix", expected, text.strip(), fix)) from None
    if "=" in rhs or not math.isfinite(value):
        raise ValueError(message("r_matrix", expected, text.strip(), fix))
    return row, value


def _listed(note: str | None) -> list[str]:
    return [] if note is None else [note]


def _nearest(q: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Index of the grid point nearest each level."""
    return np.abs(q[None, :] - levels[:, None]).argmin(axis=1)


def _deciles(q: np.ndarray, short: int) -> np.ndarray:
    """Rows shown by default: the whole grid up to ``short`` points, else the points nearest the deciles."""
    return np.arange(q.size) if q.size <= short else np.unique(_nearest(q, np.arange(1, 10) / 10))


def _plain(obj: Any) -> Any:
    """numpy / pandas / nested containers -> plain Python values (for JSON)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (pd.Series, pd.Index)):
        return _plain(obj.to_numpy())
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
