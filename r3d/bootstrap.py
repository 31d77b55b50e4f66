"""Multiplier bootstrap, uniform bands and tests over the quantile grid (docs/method.md §5).

Everything here works on an *influence matrix* ``a`` of shape ``(n, m)`` handed over by the
estimator: for the sharp design ``a[i, j] = (w_i^+(q_j) - w_i^-(q_j)) * e_i(q_j)`` (intercept
weights times residuals, zero for units outside the bandwidth); for the fuzzy design the
delta-method combination of :func:`r3d.estimators.delta_method_influence`. With it

* the bootstrap process is ``G_b(q_j) = sum_i xi_i^b a[i, j]`` with multipliers
  ``xi_i^b ~ N(0, 1)`` iid over units and draws, shared across the grid;
* the HC0 pointwise variance is ``V(q_j) = sum_i a[i, j]^2``, summed over columns scaled by a
  power of two (exact) and carried as a standard error, so it neither overflows nor underflows
  for outcomes of magnitude 1e300 or 1e-300 (:func:`_variance_and_se`).

With clusters above the unit level (our extension; the paper assumes iid units) the rows of
``a`` are first summed within cluster, ``A_g = sum_{i in g} a_i``, and one multiplier is drawn
per cluster: ``G_b = sum_g xi_g^b A_g`` and ``V = sum_g A_g^2``.

Critical values
---------------
Every critical value in this module is the ``r``-th smallest of the ``B`` bootstrap
statistics with ``r = ceil((1 - alpha) (B + 1))`` (the Monte Carlo test rank; ``+inf`` when
``r > B``, i.e. ``B`` is too small for level ``alpha``). It is chosen so that the two ways of
deciding agree exactly: ``statistic > critical_value`` if and only if the p-value
``(1 + #{b : S_b >= S}) / (B + 1)`` is ``<= alpha``. For the usual ``B = 999`` and
``alpha = 0.05`` it is the 950th order statistic, the same as numpy's ``"higher"`` and
``"inverted_cdf"`` (R type 1) quantiles; for other ``B`` those can be one rank lower, which
would make the band and the test disagree. It never interpolates (R's default type 7 does),
so the band's critical value is always one of the bootstrap maxima.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from r3d import _repr as _r
from r3d._blocks import carried_row_sum
from r3d._ext import _bootstrap
from r3d._validation import (
    Notes,
    WeakFirstStageWarning,
    check_choice,
    check_int,
    check_probability,
    check_rng,
    message,
    resolve_n_jobs,
)
from r3d._validation import as_cluster_codes as _as_codes

__all__ = [
    "BAND_TYPES",
    "FUZZY_BAND_TYPES",
    "TESTS",
    "REPORTED_TESTS",
    "TestStatistic",
    "TestResults",
    "Inference",
    "infer",
    "run_test",
    "UniformBand",
    "TestResult",
    "aggregate_clusters",
    "pointwise_variance",
    "bootstrap_draws",
    "draws_from_multipliers",
    "critical_value",
    "uniform_band",
    "nullity_test",
    "homogeneity_test",
    "SideDraws",
    "side_draws",
    "gini_coefficient",
    "gini_test",
]

BAND_TYPES = ("uniform", "studentized")
#: Band types of fuzzy fits only: they need the numerator's and the first stage's influence terms
#: (docs/method.md §5, "Fuzzy designs: which band").
FUZZY_BAND_TYPES = ("anderson-rubin",)

#: Memory cap for the multipliers held at once (one chunk of draws x clusters, float64): a
#: bound on memory (B = 5,000 draws for 100,000 units would otherwise hold 4 GB of
#: multipliers). The draws are computed by the compiled kernel ``r3d._ext._bootstrap`` with one
#: fixed order of summation per entry, so the chunking changes no bit of the result. 16 MB rather
#: than 64 MB: job D's bootstrap (200 draws x 58,107 live units) took 0.41-0.44 s of CPU instead
#: of 0.51-0.57 s (a smaller buffer of new memory to touch; at 8 MB and below the kernel reads
#: the influence rows too often and it is slower again). Jobs A-C hold less than 16 MB anyway.
MAX_CHUNK_BYTES = 16 * 2**20
#: Draws between two progress reports when progress is shown (changes no bit).
PROGRESS_DRAWS = 64
#: Slack when matching range endpoints to grid points (grids built by linspace/arange are
#: off by a few ulps from the decimal endpoints users type).
RANGE_TOL = 1e-9
#: Slack in ``floor(alpha * (B + 1))`` so that e.g. 0.05 * 1000 counts as exactly 50.
_RANK_TOL = 1e-9


# ---------------------------------------------------------------------------------------------
# result objects
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class UniformBand:
    """A simultaneous (1 - alpha) confidence band over the quantile grid.

    Attributes
    ----------
    kind : str
        ``"uniform"`` (tau +- c), ``"studentized"`` (tau +- c se) or, for a fuzzy fit,
        ``"anderson-rubin"`` (the Anderson-Rubin / Fieller set at each level with the studentized
        critical value ``c``; ``-inf`` / ``inf`` limits where it is unbounded).
    alpha : float
        One minus the nominal simultaneous coverage.
    critical_value : float
        ``c``: the ``ceil((1 - alpha)(B + 1))``-th smallest of the ``B`` bootstrap maxima
        ``max_j |G_b(q_j)|`` (uniform) or ``max_j |G_b(q_j)| / se_j`` (studentized and
        anderson-rubin).
    lower, upper : ndarray, shape (m,)
        Band limits at each grid point.
    n_boot : int
        Number of bootstrap draws ``B``.
    """

    kind: str
    alpha: float
    critical_value: float
    lower: np.ndarray
    upper: np.ndarray
    n_boot: int

    def _display(self) -> list[tuple[str, str]]:
        return [("kind", self.kind), ("coverage", _coverage(self.alpha)),
                ("critical value", _r.num(self.critical_value)), ("grid points", str(np.size(self.lower))),
                ("width", _r.span(np.asarray(self.upper) - self.lower)), ("bootstrap draws", str(self.n_boot))]

    def __repr__(self) -> str:
        return _r.one_line("UniformBand", f"{self.kind} {_coverage(self.alpha)}",
                           [("c", _r.num(self.critical_value)), ("", f"{np.size(self.lower)} points"),
                            ("width", _r.span(np.asarray(self.upper) - self.lower)), ("B", str(self.n_boot))])

    def _repr_html_(self) -> str:
        return _r.html_table("UniformBand", self._display())


def _coverage(alpha: float) -> str:
    """1 - alpha as a percentage (95%, 97.5%)."""
    return f"{100 * (1 - alpha):.4g}%"


def _range_text(r: tuple[float, float]) -> str:
    return f"[{r[0]:.3g}, {r[1]:.3g}]"


@dataclass(frozen=True, slots=True)
class TestResult:
    """A bootstrap test on one quantile range.

    Attributes
    ----------
    test : str
        ``"nullity"`` (H0: tau = 0 on the range), ``"homogeneity"`` (H0: tau constant on
        the range), ``"gini"`` (H0: equal Gini coefficients on both sides), ``"dominance"``
        (H0: tau >= 0), ``"dominance2"`` (H0: int_0^p tau >= 0), ``"unambiguity"`` (H0: tau
        keeps one sign) or ``"w2"`` (H0: tau = 0, Wasserstein-2 statistic): :data:`TESTS`.
    statistic : float
        Observed statistic ``S`` (a sup-norm over the range).
    critical_value : float
        ``ceil((1 - alpha)(B + 1))``-th smallest bootstrap statistic (``inf`` if ``B`` is
        too small for ``alpha``); ``statistic > critical_value`` exactly when
        ``pvalue <= alpha``.
    pvalue : float
        ``(1 + #{b : S_b >= S}) / (B + 1)``.
    range : tuple of float
        ``(lo, hi)``: the quantile range tested (grid points with ``lo <= q <= hi``).
    n_boot : int
        Number of bootstrap draws ``B``.
    alpha : float
        Level used for ``critical_value`` and :attr:`reject`.
    indices : ndarray of int, shape (k,)
        Grid indices inside the range.
    """

    __test__ = False  # not a pytest test class despite the name

    test: str
    statistic: float
    critical_value: float
    pvalue: float
    range: tuple[float, float]
    n_boot: int
    alpha: float
    indices: np.ndarray

    @property
    def reject(self) -> bool:
        """Whether H0 is rejected at level :attr:`alpha` (``pvalue <= alpha``)."""
        return bool(self.pvalue <= self.alpha)

    def _display(self) -> list[tuple[str, str]]:
        null = TESTS[self.test].null if self.test in TESTS else self.test
        return [("H0", null), ("quantile range", f"{_range_text(self.range)} ({np.size(self.indices)} points)"),
                ("statistic", _r.num(self.statistic)),
                (f"critical value ({_coverage(self.alpha)})", _r.num(self.critical_value)),
                ("p-value", _r.pvalue(self.pvalue)), ("bootstrap draws", str(self.n_boot)),
                (f"reject at {self.alpha:g}", "yes" if self.reject else "no")]

    def __repr__(self) -> str:
        return _r.one_line("TestResult", f"{self.test} on {_range_text(self.range)}",
                           [("S", _r.num(self.statistic)),
                            (f"crit({_coverage(self.alpha)})", _r.num(self.critical_value)),
                            ("p", _r.pvalue(self.pvalue)), ("B", str(self.n_boot))])

    def _repr_html_(self) -> str:
        return _r.html_table(f"TestResult: {self.test}", self._display())


#: DataFrame attributes a TestResults still answers (r3d 0.1 returned a DataFrame for several ranges).
_FRAME_ATTRIBUTES = frozenset(("shape", "columns", "iloc", "loc", "to_string", "to_numpy", "round", "to_dict",
                               "to_latex", "to_csv", "iterrows", "itertuples", "empty"))


def _frame_deprecation(what: str) -> None:
    warnings.warn(f"test results are a TestResults, not a DataFrame: `{what}` on it is deprecated and will be "
                  f"removed; use `.frame{what}`", FutureWarning, stacklevel=3)


class TestResults:
    """The results of one test on one or more quantile ranges (every test method returns this).

    A sequence of :class:`TestResult` (``len``, iteration, ``[i]``) with a tidy :attr:`frame`;
    with a single range (the default: the whole grid) its fields are also read directly
    (``res.nullity_test().pvalue``).
    """

    __test__ = False  # not a pytest test class despite the name
    __slots__ = ("_results",)
    _FIELDS = ("test", "statistic", "critical_value", "pvalue", "range", "n_boot", "alpha", "indices", "reject")

    def __init__(self, results: Sequence[TestResult]) -> None:
        self._results = tuple(results)

    def __len__(self) -> int:
        return len(self._results)

    def __iter__(self):
        return iter(self._results)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, (int, np.integer, slice)):
            return self._results[i]
        _frame_deprecation("[...]")
        return self.frame[i]

    def __getattr__(self, name: str) -> Any:
        if name in TestResults._FIELDS:
            if len(self._results) != 1:
                raise AttributeError(
                    f"these results hold {len(self._results)} ranges; read `.{name}` of one of them "
                    f"(results[i].{name}) or use `.frame`")
            return getattr(self._results[0], name)
        if not name.startswith("_") and name in _FRAME_ATTRIBUTES:
            _frame_deprecation("." + name)
            return getattr(self.frame, name)
        raise AttributeError(name)

    @property
    def frame(self) -> Any:
        """One row per range: test, range_low, range_high, statistic, critical_value, pvalue, n_boot,
        alpha, reject."""
        import pandas as pd

        return pd.DataFrame(
            [{"test": r.test, "range_low": r.range[0], "range_high": r.range[1], "statistic": r.statistic,
              "critical_value": r.critical_value, "pvalue": r.pvalue, "n_boot": r.n_boot, "alpha": r.alpha,
              "reject": r.reject} for r in self._results]
        )

    def __repr__(self) -> str:
        rows = ", ".join(f"[{r.range[0]:.3g}, {r.range[1]:.3g}]: S={r.statistic:.4g}, p={r.pvalue:.4g}"
                         for r in self._results)
        return f"<TestResults {self._results[0].test if self._results else ''}: {rows}>"

    def _repr_html_(self) -> str:
        """One row per range (the columns of :attr:`frame`), numbers rounded for display."""
        import html

        if len(self._results) == 1:
            return self._results[0]._repr_html_()
        test = self._results[0].test if self._results else ""
        head = ("quantile range", "statistic", "critical value", "p-value", "B", "reject")
        rows = [(_range_text(r.range), _r.num(r.statistic), _r.num(r.critical_value), _r.pvalue(r.pvalue),
                 str(r.n_boot), "yes" if r.reject else "no") for r in self._results]
        out = [f'<table class="r3d-repr">\n<caption style="text-align: left"><b>TestResults: '
               f"{html.escape(test)}</b></caption>",
               "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
        out += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows]
        out.append("</table>")
        return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# the inference stage of a fit
# ---------------------------------------------------------------------------------------------
#: Weak-instrument rule of thumb for the fuzzy first stage: warn when (jump / se)^2 < 10
#: (Staiger and Stock's F < 10 with one instrument).
WEAK_FIRST_STAGE_F = 10.0


@dataclass(frozen=True, slots=True)
class Inference:
    """Pointwise and bootstrap inference of one fit (every number computed once, here).

    Attributes
    ----------
    variance : ndarray
        (m,) HC0 (cluster-robust with clusters) variance of tau: ``se**2``, computed without
        squaring unscaled terms; ``inf`` or ``0`` where the variance itself is not a
        representable double (outcomes of magnitude 1e200 or 1e-200), while ``se`` still is.
    se : ndarray
        (m,) standard errors of tau (what every interval, z and band uses).
    draws : ndarray or None
        (n_boot, m) bootstrap process G_b, None when n_boot = 0.
    band : UniformBand or None
        Uniform band at the fit's alpha.
    average : float
        The average effect, the integral of tau over (0, 1) (``r3d.estimators.average_weights``).
    average_variance, average_se : float
        Its variance and standard error.
    jump_variance, jump_se : float or None
        Variance and standard error of the fuzzy first-stage jump.
    jump_z : float or None
        jump / se (``inf`` when se = 0); the first-stage F statistic is its square.
    multipliers : numpy.random.Generator or None
        A copy of the generator as it was before the draws, to replay the same multipliers
        (e.g. for the per-side processes of the Gini test); None when n_boot = 0.
    """

    variance: np.ndarray
    se: np.ndarray
    draws: np.ndarray | None
    band: UniformBand | None
    average: float
    average_variance: float
    average_se: float
    jump_variance: float | None
    jump_se: float | None
    jump_z: float | None
    multipliers: np.random.Generator | None

    @property
    def f_stat(self) -> float | None:
        """First-stage F = (jump / se)^2 (None for a sharp design)."""
        return None if self.jump_z is None else self.jump_z**2

    def __repr__(self) -> str:
        boot = "no bootstrap" if self.draws is None else f"{self.draws.shape[0]} draws"
        fields = [("", f"{np.size(self.se)} levels"), ("se", _r.span(self.se)), ("", boot),
                  ("average", f"{_r.num(self.average)} (se {_r.num(self.average_se)})")]
        if self.jump_z is not None:
            fields.append(("F", _r.num(self.f_stat)))
        return _r.one_line("Inference", "", fields)


def infer(est: Any, cluster_codes: np.ndarray | None, *, n_boot: int, alpha: float, band: str,
          rng: np.random.Generator, progress: Any, notes: Notes) -> Inference:
    """Pointwise variance, the average effect, the first stage's z and the multiplier bootstrap.

    All from ``est.influence`` (and the first stage's), whose residuals carry the fit's ``vce`` factors
    (HC0 when none).

    Validated inputs: ``est`` an :class:`r3d.estimators.Estimate`, ``cluster_codes`` (n,) intp or None.
    A weak fuzzy first stage (F below :data:`WEAK_FIRST_STAGE_F`) and levels at which the outcome does
    not vary (``est.flat``, :class:`r3d.DegenerateOutcomeWarning`) are noted and warned about.
    """
    from r3d.estimators import average_weights, check_flat_levels

    check_flat_levels(est, notes)
    a = est.influence
    V, se_tau = _variance_and_se(_aggregate(a, cluster_codes))
    w = average_weights(est.quantiles)
    average = float(w @ est.tau)
    a_avg = a @ w
    avg_var, avg_se = (float(v[0]) for v in _variance_and_se(_aggregate(a_avg[:, None], cluster_codes)))
    jump_var = jump_se = jump_z = None
    fs = est.first_stage
    if fs is not None:
        jump_var, jump_se = (float(v[0]) for v in _variance_and_se(_aggregate(fs.influence[:, None], cluster_codes)))
        se = jump_se
        jump_z = fs.jump / se if se > 0 else np.inf
        f_stat = jump_z**2
        if f_stat < WEAK_FIRST_STAGE_F:
            notes.warn(f"Weak first stage: the take-up jump is {fs.jump:.3g} (se {se:.3g}, F = {f_stat:.2f} < "
                       f"{WEAK_FIRST_STAGE_F:g}); the fuzzy estimates and their normal-based inference are "
                       "unreliable.", WeakFirstStageWarning)
    draws = ub = start = None
    if n_boot:
        import copy

        start = copy.deepcopy(rng)
        draws = _draws(_aggregate(a, cluster_codes), n_boot, rng, progress)
        if band == "anderson-rubin":
            ub = _anderson_rubin_band(est, cluster_codes, draws, se_tau, alpha=alpha)
            if not np.isfinite(ub.lower).any():
                notes.warn(f"The Anderson-Rubin band is unbounded at every level: the first stage's F = "
                           f"{jump_z**2:.2f} does not exceed c^2 = {ub.critical_value**2:.2f}, the square of the "
                           "band's critical value, so the data do not bound tau(q) at this level. The take-up jump is "
                           "not distinguishable from 0 there: report the first stage and the sharp effect of "
                           "eligibility.", WeakFirstStageWarning)
        else:
            ub = _band(est.tau, draws, alpha=alpha, kind=band, se=se_tau if band == "studentized" else None)
    return Inference(variance=V, se=se_tau, draws=draws, band=ub, average=average, average_variance=avg_var,
                     average_se=avg_se, jump_variance=jump_var, jump_se=jump_se, jump_z=jump_z, multipliers=start)


# ---------------------------------------------------------------------------------------------
# influence matrix -> cluster sums, variance, draws
# ---------------------------------------------------------------------------------------------
def _as_influence(a: Any, name: str = "a") -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(message(name, "a 2-D array of shape (n_units, n_quantiles)", arr))
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(message(name, "a non-empty 2-D array", arr))
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            message(name, "finite", "<an array with NaN or inf entries>",
                    "Check the residuals and weights passed to the bootstrap.")
        )
    return arr


def aggregate_clusters(a: Any, cluster_codes: Any = None) -> np.ndarray:
    """Sum the rows of the influence matrix within clusters.

    Parameters
    ----------
    a : array_like, shape (n, m)
        Influence matrix, one row per unit.
    cluster_codes : array_like of int, shape (n,), optional
        Cluster of each unit, coded ``0 .. G-1`` (``G = max + 1``; a code without units
        gives a zero row). ``None``: every unit is its own cluster.

    Returns
    -------
    ndarray, shape (G, m)
        ``A[g] = sum_{i : c_i = g} a[i]``; ``a`` itself (as C-contiguous float64) when
        ``cluster_codes`` is None.
    """
    arr = _as_influence(a)
    return _aggregate(arr, None if cluster_codes is None else _as_codes(cluster_codes, arr.shape[0]))


def _aggregate(arr: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
    """:func:`aggregate_clusters` on a validated float64 (n, m) array and intp codes (or None)."""
    if codes is None:
        return np.ascontiguousarray(arr)
    n_clusters = int(codes.max()) + 1
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    out = np.zeros((n_clusters, arr.shape[1]), dtype=np.float64)
    out[sorted_codes[starts]] = np.add.reduceat(arr[order], starts, axis=0)
    return out


def pointwise_variance(a: Any, *, cluster_codes: Any = None) -> np.ndarray:
    """HC0 (cluster-robust with clusters) variance of the estimate at each grid point.

    Parameters
    ----------
    a : array_like, shape (n, m)
        Influence matrix.
    cluster_codes : array_like of int, shape (n,), optional
        Cluster codes (see :func:`aggregate_clusters`).

    Returns
    -------
    ndarray, shape (m,)
        ``V(q_j) = sum_g A[g, j]^2``, the variance of ``G_b(q_j)`` given the data.
    """
    return _variance_and_se(aggregate_clusters(a, cluster_codes))[0]


def _variance_and_se(agg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(m,) variances ``sum_g A[g, j]^2`` and standard errors of cluster sums ``agg`` (G, m), scaled
    before squaring.

    Each column is divided by the power of two ``s_j = 2^e_j`` with ``max_g |A[g, j]| / s_j`` in
    [0.5, 1) before it is squared: ``V_j = s_j^2 sum_g (A[g, j] / s_j)^2`` and
    ``se_j = s_j sqrt(sum_g (A[g, j] / s_j)^2)``. Powers of two scale exactly, so wherever the
    unscaled sum neither overflows nor underflows both are the same bits as ``sum_g A[g, j]^2``
    and its square root; elsewhere (influence terms of magnitude 1e160 or 1e-160) the standard
    error is still right while ``V`` is ``inf`` or ``0``.

    Raises
    ------
    FloatingPointError
        The standard errors themselves overflow (influence terms near the largest double).
    """
    if agg.shape[0]:  # max |A[:, j]| as max(max A, -min A): exact, without an (G, m) array of |A|
        e = np.frexp(np.maximum(np.max(agg, axis=0), -np.min(agg, axis=0)))[1]
    else:
        e = np.zeros(agg.shape[1], dtype=np.intc)
    S = _scaled_sum_of_squares(agg, e)
    with np.errstate(over="ignore", under="ignore"):
        V = np.ldexp(S, 2 * e)
        se = np.ldexp(np.sqrt(S), e)
    if not np.all(np.isfinite(se)):
        raise FloatingPointError("standard errors overflowed: influence terms near the largest double; rescale "
                                 "the outcome")
    return V, se


#: Rows of the scaled cluster sums squared at a time by :func:`_scaled_sum_of_squares`.
SQUARES_BLOCK_ROWS = 4096


def _scaled_sum_of_squares(agg: np.ndarray, e: np.ndarray) -> np.ndarray:
    """(m,) ``sum_g (A[g, j] / 2^e_j)^2``: ``einsum("gj,gj->j")`` of the scaled (G, m) matrix,
    with the same bits, without building it.

    For m >= 2 numpy sums over the rows of a C-contiguous array one row after another (einsum
    and ``add.reduce`` along axis 0 alike), so blocks of rows can be scaled and squared in a
    small buffer whose first row carries the running sum: ``((S + b_0^2) + b_1^2) + ...`` is
    the same sequence of additions (``tests/test_bootstrap.py`` checks it against einsum).
    A single column is summed pairwise by numpy: it keeps the einsum.
    """
    G, m = agg.shape
    if m < 2 or G <= SQUARES_BLOCK_ROWS:
        scaled = np.ldexp(agg, -e)
        return np.einsum("gj,gj->j", scaled, scaled)

    def scaled_squares(rows: np.ndarray, g0: int, g1: int) -> None:
        np.ldexp(agg[g0:g1], -e, out=rows)
        np.multiply(rows, rows, out=rows)

    return carried_row_sum(G, m, SQUARES_BLOCK_ROWS, scaled_squares)


def bootstrap_draws(
    a: Any,
    *,
    n_boot: int,
    rng: Any = None,
    cluster_codes: Any = None,
    chunk_size: int | None = None,
    progress: bool | Callable[[int, int], None] = False,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Draws of the multiplier bootstrap process ``G_b(q_j) = sum_g xi_g^b A[g, j]``.

    Parameters
    ----------
    a : array_like, shape (n, m)
        Influence matrix (see the module docstring).
    n_boot : int
        Number of draws ``B`` (>= 1).
    rng : None, int, sequence of int, numpy.random.Generator, SeedSequence or BitGenerator
        Passed to :func:`numpy.random.default_rng`; a Generator is used (and advanced) as is.
        Anything else (a string, a float, a negative seed) is refused with an error naming
        ``rng``.
    cluster_codes : array_like of int, shape (n,), optional
        One multiplier per cluster instead of per unit (see :func:`aggregate_clusters`).
    chunk_size : int, optional
        Draws whose multipliers are held in memory at once. Default: as many as fit in
        :data:`MAX_CHUNK_BYTES` (16 MB). The result is bit-for-bit the same whatever the
        chunk size.
    progress : bool or callable, default False
        True shows a progress bar on stderr (tqdm if installed, else a plain status line);
        a callable is called as ``progress(done, n_boot)`` after every
        :data:`PROGRESS_DRAWS` draws. Never affects the draws.
    n_jobs : int, optional
        Accepted for compatibility and validated; it has no effect, the products run on one
        thread (``benchmarks/results/threads.md``).

    Returns
    -------
    ndarray, shape (n_boot, m)
        Row ``b`` is ``G_b``.

    Notes
    -----
    Multipliers are standard normal and drawn only for the ``G'`` clusters (units) whose row
    of ``A`` is not all zero (units outside every bandwidth contribute nothing), draw by
    draw: row ``b`` of the ``(B, G')`` multiplier matrix is the ``b``-th block of ``G'``
    consecutive normals of the generator, in increasing cluster order. That matrix is never
    formed: chunks of it are drawn and multiplied by the live rows of ``A`` in a compiled
    kernel that sums every entry in increasing cluster order (no BLAS: the bits do not
    depend on the machine's BLAS, its threads or the chunking).
    """
    agg = aggregate_clusters(a, cluster_codes)
    n_boot = check_int("n_boot", n_boot, low=1)
    chunk = None if chunk_size is None else check_int("chunk_size", chunk_size, low=1)
    resolve_n_jobs(n_jobs)
    return _draws(agg, n_boot, check_rng(rng), progress, chunk)


def _draws(agg: np.ndarray, n_boot: int, gen: np.random.Generator, progress: Any,
           chunk: int | None = None) -> np.ndarray:
    """:func:`bootstrap_draws` on validated cluster sums ``agg`` (G, m) float64."""
    m = agg.shape[1]
    live = np.flatnonzero(np.any(agg != 0.0, axis=1)).astype(np.intp)
    n_clusters = live.size
    if n_clusters == 0:
        return np.zeros((n_boot, m), dtype=np.float64)
    chunk = min(max(1, MAX_CHUNK_BYTES // (8 * n_clusters)) if chunk is None else chunk, n_boot)
    report = _progress_reporter(progress, n_boot)
    step = chunk if report is None else min(chunk, PROGRESS_DRAWS)  # rows per kernel call
    buffer = np.empty((chunk, n_clusters), dtype=np.float64)
    out = np.empty((n_boot, m), dtype=np.float64)
    for start in range(0, n_boot, chunk):
        xi = buffer[: min(chunk, n_boot - start)]
        gen.standard_normal(out=xi)
        for s in range(0, xi.shape[0], step):
            r = min(step, xi.shape[0] - s)
            out[start + s : start + s + r] = _bootstrap.multiplier_product(xi[s : s + r], agg, live)
            if report is not None:
                report(start + s + r, n_boot)
    if report is not None:
        report(None, n_boot)  # done: close the bar
    return out


def _progress_reporter(progress: Any, total: int) -> Callable[[int | None, int], None] | None:
    """``progress`` of :func:`bootstrap_draws` as ``report(done, total)`` (``done=None`` closes),
    or None when nothing is to be shown."""
    if progress is False or progress is None:
        return None
    if callable(progress):
        return lambda done, n: None if done is None else progress(int(done), int(n))
    if progress is not True:
        raise TypeError(message("progress", "True, False or a callable progress(done, total)", progress))
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _stderr_reporter()
    bar = tqdm(total=total, desc="bootstrap", unit="draw", leave=False)

    def report(done: int | None, n: int) -> None:
        if done is None:
            bar.close()
        else:
            bar.update(done - bar.n)

    return report


def _stderr_reporter() -> Callable[[int | None, int], None]:
    """A one-line status on stderr, rewritten at most every 0.2 s (tqdm's stand-in)."""
    import sys
    import time

    last = [0.0]

    def report(done: int | None, n: int) -> None:
        now = time.monotonic()
        if done is None:
            sys.stderr.write(f"\rbootstrap: {n}/{n} draws\n")
        elif now - last[0] >= 0.2 or done == n:
            last[0] = now
            sys.stderr.write(f"\rbootstrap: {done}/{n} draws ({done / n:.0%})")
        else:
            return
        sys.stderr.flush()

    return report


def draws_from_multipliers(a: Any, xi: Any, *, cluster_codes: Any = None) -> np.ndarray:
    """Bootstrap process for given multipliers (e.g. to replay another program's draws).

    Parameters
    ----------
    a : array_like, shape (n, m)
        Influence matrix.
    xi : array_like, shape (B, G)
        Multipliers, one row per draw, one column per cluster (per unit when
        ``cluster_codes`` is None, ``G = n``).
    cluster_codes : array_like of int, shape (n,), optional

    Returns
    -------
    ndarray, shape (B, m)
        ``xi @ A``.
    """
    agg = aggregate_clusters(a, cluster_codes)
    x = np.asarray(xi, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != agg.shape[0]:
        raise ValueError(
            message("xi", f"a 2-D array of shape (n_boot, {agg.shape[0]}) (draws x clusters)", x)
        )
    return x @ agg


# ---------------------------------------------------------------------------------------------
# critical values, bands, tests
# ---------------------------------------------------------------------------------------------
def _rank(n_boot: int, alpha: float) -> int:
    """1-based rank of the critical value among B sorted statistics (may exceed B)."""
    return n_boot + 1 - math.floor(alpha * (n_boot + 1) + _RANK_TOL)


def critical_value(stats: Any, *, alpha: float) -> float:
    """The ``ceil((1 - alpha)(B + 1))``-th smallest of ``B`` bootstrap statistics.

    Parameters
    ----------
    stats : array_like, shape (B,)
        Bootstrap statistics ``S_b``.
    alpha : float
        Level in (0, 1).

    Returns
    -------
    float
        The critical value; ``inf`` when ``alpha (B + 1) < 1`` (too few draws for level
        ``alpha``: no statistic can be rejected, consistently with the p-value, whose
        smallest possible value ``1 / (B + 1)`` then exceeds ``alpha``).
    """
    alpha = check_probability("alpha", alpha)
    s = np.asarray(stats, dtype=np.float64).ravel()
    r = _rank(s.size, alpha)
    if r > s.size:
        return math.inf
    return float(np.partition(s, r - 1)[r - 1])


def _check_draws(tau: Any, draws: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(tau, dtype=np.float64)
    if t.ndim != 1 or t.size < 1:
        raise ValueError(message("tau", "a non-empty 1-D array (one value per grid point)", t))
    d = np.asarray(draws, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] != t.size or d.shape[0] < 1:
        raise ValueError(
            message("draws", f"a 2-D array of shape (n_boot, {t.size}) (draws x grid points)", d)
        )
    return t, d


def uniform_band(
    tau: Any,
    draws: Any,
    *,
    alpha: float = 0.05,
    band: str = "uniform",
    se: Any = None,
) -> UniformBand:
    """Simultaneous confidence band from the bootstrap draws.

    Parameters
    ----------
    tau : array_like, shape (m,)
        Estimate on the grid.
    draws : array_like, shape (B, m)
        Bootstrap process ``G_b`` (:func:`bootstrap_draws`).
    alpha : float, default 0.05
        The band covers the whole curve with probability ``1 - alpha`` (asymptotically).
    band : {"uniform", "studentized"}
        ``"uniform"`` (the paper's): ``c`` from ``max_j |G_b(q_j)|``, band ``tau +- c``.
        ``"studentized"``: ``c`` from ``max_j |G_b(q_j)| / se_j``, band ``tau +- c se``
        (narrower where the estimate is precise, wider in noisy tails).
    se : array_like, shape (m,), optional
        Pointwise standard errors, required for ``"studentized"`` (``sqrt`` of
        :func:`pointwise_variance`). Grid points with ``se == 0`` (all influence zero, e.g.
        a quantile shared by every unit) are left out of the maximum and get a zero-width band;
        when ``se`` and the draws are zero everywhere the band is ``tau`` itself (critical value 0).

    Returns
    -------
    UniformBand

    Raises
    ------
    ValueError
        If ``n_boot < (1 - alpha) / alpha`` (too few draws for a finite critical value).
    """
    kind = check_choice("band", band, BAND_TYPES, aliases={"studentised": "studentized"})
    alpha = check_probability("alpha", alpha)
    t, d = _check_draws(tau, draws)
    scale = None
    if kind == "studentized":
        if se is None:
            raise ValueError(
                message("se", "the pointwise standard errors for band='studentized'", None,
                        "Pass se=np.sqrt(pointwise_variance(a)).")
            )
        scale = np.asarray(se, dtype=np.float64)
        if scale.shape != t.shape or not np.all(np.isfinite(scale)) or np.any(scale < 0):
            raise ValueError(message("se", f"finite non-negative values, shape {t.shape}", scale))
    return _band(t, d, alpha=alpha, kind=kind, se=scale)


def _band(t: np.ndarray, d: np.ndarray, *, alpha: float, kind: str, se: np.ndarray | None) -> UniformBand:
    """:func:`uniform_band` on validated inputs (``se`` finite, >= 0, for ``kind="studentized"``)."""
    n_boot = d.shape[0]
    if kind == "uniform":
        stats = np.max(np.abs(d), axis=1)
        scale = np.ones_like(t)
    else:
        scale = se
        keep = scale > 0
        if not keep.any() and not d.any():  # no variation anywhere (an outcome without variation)
            return UniformBand(kind=kind, alpha=alpha, critical_value=0.0, lower=t.copy(), upper=t.copy(),
                               n_boot=n_boot)
        if not keep.any():
            raise ValueError(
                message("se", "positive at one grid point at least", "<all zeros>",
                        "Use band='uniform'.")
            )
        stats = np.max(np.abs(d[:, keep]) / scale[keep], axis=1)
    c = critical_value(stats, alpha=alpha)
    if not math.isfinite(c):
        need = math.ceil((1.0 - alpha) / alpha - _RANK_TOL)
        raise ValueError(
            message("n_boot", f"at least {need} draws for a level-{alpha:g} band", n_boot,
                    "Increase n_boot (999 or more is usual).")
        )
    return UniformBand(
        kind=kind,
        alpha=alpha,
        critical_value=c,
        lower=t - c * scale,
        upper=t + c * scale,
        n_boot=n_boot,
    )


def _anderson_rubin_band(est: Any, cluster_codes: np.ndarray | None, draws: np.ndarray, se: np.ndarray, *,
                         alpha: float) -> UniformBand:
    """The Anderson-Rubin band of a fuzzy fit: the set of :func:`_anderson_rubin_sets` at each level
    with the critical value of the studentized band of the fit's (delta-method) draws."""
    c = _band(est.tau, draws, alpha=alpha, kind="studentized", se=se).critical_value
    lower, upper = _anderson_rubin_sets(est, cluster_codes, crit=c)
    return UniformBand(kind="anderson-rubin", alpha=alpha, critical_value=c, lower=lower, upper=upper,
                       n_boot=draws.shape[0])


def _anderson_rubin_sets(est: Any, cluster_codes: np.ndarray | None, *, crit: float) -> tuple[np.ndarray, np.ndarray]:
    """Anderson-Rubin (Fieller) confidence sets of a fuzzy fit's tau(q) (validated inputs).

    At each level the set of t with ``(N - t D)^2 <= crit^2 V(t)``, ``V(t) = sum_g (A_g - t B_g)^2``:
    ``A`` the numerator's influence (``est.numerator_influence``) and ``B`` the first stage's, summed
    within clusters (``cluster_codes`` (n,) or None), so ``A - t B`` is the influence of ``N - t D``
    and the set inverts the test of ``tau = t`` that needs no normal ratio (Feir, Lemieux and Marmer
    2016). It is the interval between the roots of a quadratic when ``D^2 > crit^2 sum_g B_g^2``
    (the first stage's ``F > crit^2``, the same at every level) and contains tau; otherwise it is
    unbounded (the whole line or two rays), returned as ``(-inf, inf)``.

    Returns ``(lower, upper)``, each (m,).
    """
    fs = est.first_stage
    N = est.m_plus - est.m_minus
    A = _aggregate(est.numerator_influence, cluster_codes)
    B = _aggregate(fs.influence[:, None], cluster_codes)[:, 0]
    return _fieller(N, fs.jump, A, B, crit)


def _fieller(N: np.ndarray, D: float, A: np.ndarray, B: np.ndarray, crit: float) -> tuple[np.ndarray, np.ndarray]:
    """``{t : (N_j - t D)^2 <= crit^2 sum_g (A[g, j] - t B[g])^2}`` per column j of ``A`` (G, m).

    The numerator's column j and ``N_j`` are divided by one power of two, ``B`` and ``D`` by another
    (exact), before anything is squared, as in :func:`_variance_and_se`; the set of the scaled problem
    is that of ``t s_B / s_j``. The quadratic ``qa t^2 - 2 hb t + qc <= 0`` has
    ``qa = D^2 - crit^2 B'B``, ``hb = N D - crit^2 B'A``, ``qc = N^2 - crit^2 A'A``; its
    discriminant is >= 0 whenever ``qa > 0`` because t = N / D satisfies the inequality (clipped at 0
    against rounding).
    """
    m = N.shape[0]
    if not np.isfinite(D) or crit == math.inf:
        return np.full(m, -np.inf), np.full(m, np.inf)
    ea = np.frexp(np.maximum(np.max(np.abs(A), axis=0) if A.shape[0] else 0.0, np.abs(N)))[1]
    eb = int(np.frexp(max(float(np.max(np.abs(B))) if B.size else 0.0, abs(D)))[1])
    A, N = np.ldexp(A, -ea), np.ldexp(N, -ea)
    B, D = np.ldexp(B, -eb), math.ldexp(D, -eb)
    c2 = crit * crit
    # einsum, not @: numpy's einsum sums in a fixed order, a BLAS dot / gemv in an order that may depend
    # on the BLAS's threads (docs/architecture.md, "Numbers never change by accident")
    qa = D * D - c2 * float(np.einsum("g,g->", B, B))
    if not qa > 0.0:
        return np.full(m, -np.inf), np.full(m, np.inf)
    hb = N * D - c2 * np.einsum("g,gj->j", B, A)
    qc = N * N - c2 * np.einsum("gj,gj->j", A, A)
    root = np.sqrt(np.maximum(hb * hb - qa * qc, 0.0))
    lower, upper = (hb - root) / qa, (hb + root) / qa
    return np.ldexp(lower, ea - eb), np.ldexp(upper, ea - eb)


def _is_pair(x: Any) -> bool:
    return (
        isinstance(x, Sequence | np.ndarray)
        and not isinstance(x, str)
        and len(x) == 2
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in x)
    )


def _resolve_ranges(
    ranges: Any, quantiles: np.ndarray, min_points: int, test: str
) -> list[tuple[tuple[float, float], np.ndarray]]:
    """Validate ``ranges`` and map each to the grid indices it contains."""
    if ranges is None:
        if quantiles.size < min_points:
            raise ValueError(
                message("quantiles", f"a grid of at least {min_points} points for the {test} test",
                        quantiles)
            )
        return [((float(quantiles[0]), float(quantiles[-1])), np.arange(quantiles.size))]
    if _is_pair(ranges):
        pairs: list[Any] = [ranges]
    elif isinstance(ranges, Sequence | np.ndarray) and not isinstance(ranges, str) and len(ranges):
        pairs = list(ranges)
    else:
        raise ValueError(
            message("ranges", "a pair (lo, hi) or a list of such pairs", ranges,
                    "E.g. ranges=(0.1, 0.9) or ranges=[(0.1, 0.5), (0.5, 0.9)].")
        )
    out = []
    for pair in pairs:
        if not _is_pair(pair):
            raise ValueError(message("ranges", "pairs (lo, hi) of numbers", pair))
        lo, hi = float(pair[0]), float(pair[1])
        if not (0.0 < lo < hi < 1.0):
            raise ValueError(
                message("ranges", "pairs with 0 < lo < hi < 1", pair,
                        "Give each range as (lower quantile, upper quantile).")
            )
        idx = np.flatnonzero((quantiles >= lo - RANGE_TOL) & (quantiles <= hi + RANGE_TOL))
        if idx.size < min_points:
            raise ValueError(
                message("ranges",
                        f"ranges containing at least {min_points} grid point"
                        + ("s" if min_points > 1 else ""),
                        f"{pair!r}, which contains {idx.size}",
                        f"The grid runs from {quantiles[0]:g} to {quantiles[-1]:g} "
                        f"with {quantiles.size} points; widen the range.")
            )
        out.append(((lo, hi), idx))
    return out


def _check_grid(quantiles: Any, m: int) -> np.ndarray:
    q = np.asarray(quantiles, dtype=np.float64)
    if q.shape != (m,):
        raise ValueError(message("quantiles", f"a 1-D grid of length {m} (one per column)", q))
    return q


@dataclass(frozen=True, slots=True)
class TestInputs:
    """What a test statistic may use: the estimate and its bootstrap process on the grid.

    Attributes
    ----------
    tau : ndarray, shape (m,)
    draws : ndarray, shape (B, m)
        Bootstrap process ``G_b`` of ``tau``.
    quantiles : ndarray, shape (m,)
    m_plus, m_minus : ndarray, shape (m,), optional
        Monotonised one-sided limits (for statistics of the two limit distributions).
    sides : callable, optional
        Returns the per-side processes (:class:`SideDraws`, same multipliers as ``draws``);
        called only by the statistics that need them.
    se : ndarray, shape (m,), optional
        Standard errors of ``tau`` (the studentized statistics divide by them; without them, by the
        standard deviation of the draws).
    cumulative_se : callable, optional
        Returns the (m,) standard errors of ``int_0^{q_j} tau`` (second-order dominance).
    """

    tau: np.ndarray
    draws: np.ndarray
    quantiles: np.ndarray
    m_plus: np.ndarray | None = None
    m_minus: np.ndarray | None = None
    sides: Callable[[], SideDraws] | None = None
    se: np.ndarray | None = None
    cumulative_se: Callable[[], np.ndarray] | None = None


@dataclass(frozen=True, slots=True)
class TestStatistic:
    """One entry of the test registry :data:`TESTS`.

    Attributes
    ----------
    name : str
    null : str
        H0 in words, for tables (``"tau(q) = 0"``); ``latex_null`` the same in LaTeX.
    latex_null : str
    min_points : int
        Grid points a range must contain.
    ranged : bool
        Whether the test takes ``ranges`` (False: the whole grid only).
    compute : callable
        ``compute(inputs, idx) -> (S, S_b)``: the statistic and its (B,) bootstrap analogues on
        the grid points ``idx``; large values speak against H0.
    """

    __test__ = False
    name: str
    null: str
    latex_null: str
    min_points: int
    ranged: bool
    compute: Callable[[TestInputs, np.ndarray], tuple[float, np.ndarray]]


def _nullity(inp: TestInputs, idx: np.ndarray) -> tuple[float, np.ndarray]:
    """S = max_R |tau|, S_b = max_R |G_b|."""
    return float(np.max(np.abs(inp.tau[idx]))), np.max(np.abs(inp.draws[:, idx]), axis=1)


def _homogeneity(inp: TestInputs, idx: np.ndarray) -> tuple[float, np.ndarray]:
    """S = max_R |tau - mean_R tau|, S_b = max_R |G_b - mean_R G_b|."""
    t_r = inp.tau[idx]
    d_r = inp.draws[:, idx]
    t_r = t_r - t_r.mean()
    d_r = d_r - d_r.mean(axis=1, keepdims=True)
    return float(np.max(np.abs(t_r))), np.max(np.abs(d_r), axis=1)


def _gini(inp: TestInputs, idx: np.ndarray) -> tuple[float, np.ndarray]:
    """S = |D|, S_b = |D_b - D| with D = Gini(m_+) - Gini(m_-) (see :func:`gini_test`)."""
    q = inp.quantiles
    mp, mm = inp.m_plus, inp.m_minus
    d_hat = gini_coefficient(q, mp) - gini_coefficient(q, mm)
    if not np.isfinite(d_hat):
        raise ValueError(
            message("m_plus", "limits whose mean is positive on both sides (Gini needs it)",
                    "<a side with mean <= 0>")
        )
    sd = inp.sides()
    d_boot = gini_coefficient(q, mp + sd.plus) - gini_coefficient(q, mm + sd.minus)
    boot = np.abs(d_boot - d_hat)
    boot = np.where(np.isfinite(boot), boot, np.inf)
    return float(abs(d_hat)), boot


def _studentized(t: np.ndarray, d: np.ndarray, se: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``t / se`` and ``d / se`` over the points with ``se > 0`` (``se`` None: the draws' standard deviation).
    Points without sampling variation are left out, as in the studentized band."""
    scale = np.std(d, axis=0) if se is None else se
    keep = scale > 0
    return t[keep] / scale[keep], d[:, keep] / scale[keep]


def _dominance(inp: TestInputs, idx: np.ndarray) -> tuple[float, np.ndarray]:
    """H0: tau(q) >= 0 on the range (the right limit first-order dominates). Studentized one-sided sup test:
    S = max_R (-tau / se)_+, S_b = max_R (-G_b / se)_+ (the least favourable null is tau = 0 on the range)."""
    t, d = _studentized(inp.tau[idx], inp.draws[:, idx], None if inp.se is None else inp.se[idx])
    return _one_sided(-t, -d)


def _dominance2(inp: TestInputs, idx: np.ndarray) -> tuple[float, np.ndarray]:
    """H0: int_0^p tau >= 0 on the range (second order: the generalised Lorenz curve of the right limit
    is above the left's). As :func:`_dominance` on the cumulative integrals from 0 (flat below q_1),
    studentized by their own standard errors."""
    from r3d.estimators import cumulative_integral

    gl = cumulative_integral(inp.quantiles, inp.tau)
    gl_b = cumulative_integral(inp.quantiles, inp.draws)
    se = None if inp.cumulative_se is None else inp.cumulative_se()[idx]
    t, d = _studentized(gl[idx], gl_b[:, idx], se)
    return _one_sided(-t, -d)


def _one_sided(t: np.ndarray, d: np.ndarray) -> tuple[float, np.ndarray]:
    """S = max (t)_+ and S_b = max (d_b)_+ (0 when nothing is positive, or no point is left: then p = 1)."""
    if t.size == 0:
        return 0.0, np.zeros(d.shape[0])
    return max(float(np.max(t)), 0.0), np.maximum(np.max(d, axis=1), 0.0)


def _unambiguity(inp: TestInputs, idx: np.ndarray) -> tuple[float, np.ndarray]:
    """H0: tau keeps one sign on the range (Qu and Yoon's unambiguous effect).

    An intersection-union test (Berger 1982): reject only when both studentized one-sided sup tests
    reject, "tau >= 0" (statistic max (-tau / se)_+) and "tau <= 0" (max (tau / se)_+), each at level
    alpha. The multiplier process is Gaussian given the data, so G_b and -G_b have the same law and the
    two one-sided tests share one critical value: S = min(max (tau / se)_+, max (-tau / se)_+) against
    S_b = max_R (G_b / se)_+. Size <= alpha at every point of the null."""
    t, d = _studentized(inp.tau[idx], inp.draws[:, idx], None if inp.se is None else inp.se[idx])
    up, _ = _one_sided(t, d)
    down, _ = _one_sided(-t, -d)
    return min(up, down), _one_sided(t, d)[1]


def _w2(inp: TestInputs, idx: np.ndarray) -> tuple[float, np.ndarray]:
    """H0: tau = 0. S = (int tau^2)^(1/2), the Wasserstein-2 distance of the two limits (trapezoid over the
    grid, flat tails: ``r3d.estimators.average_weights``), S_b = (int G_b^2)^(1/2)."""
    from r3d.estimators import average_weights

    w = average_weights(inp.quantiles)
    return math.sqrt(float(w @ inp.tau**2)), np.sqrt(inp.draws**2 @ w)


#: The test statistics, by name: adding one is one entry here (and a method on R3DResults that
#: gathers its inputs, if it needs more than tau and its draws).
TESTS: dict[str, TestStatistic] = {
    t.name: t
    for t in (
        TestStatistic("nullity", "tau(q) = 0", "$\\tau(q) = 0$", 1, True, _nullity),
        TestStatistic("homogeneity", "tau(q) constant", "$\\tau(q)$ constant", 2, True, _homogeneity),
        TestStatistic("gini", "equal Gini", "equal Gini", 2, False, _gini),
        TestStatistic("dominance", "tau(q) >= 0", "$\\tau(q) \\geq 0$", 1, True, _dominance),
        TestStatistic("dominance2", "int_0^p tau >= 0", "$\\int_0^p \\tau \\geq 0$", 1, True, _dominance2),
        TestStatistic("unambiguity", "tau keeps one sign", "$\\tau$ keeps one sign", 2, True, _unambiguity),
        TestStatistic("w2", "tau = 0 (W2 distance)", "$\\tau = 0$ ($W_2$)", 1, False, _w2),
    )
}


#: The tests every fit reports over the whole grid (summary, ``to_dict``, ``str``).
REPORTED_TESTS = ("nullity", "homogeneity")


def run_test(name: str, inputs: TestInputs, *, ranges: Any = None, alpha: float = 0.05) -> TestResults:
    """Run the registered test ``name`` on each range (validated ``inputs``; ``alpha`` in (0, 1)).

    p-value ``(1 + #{b : S_b >= S}) / (B + 1)``; critical value as :func:`critical_value`.
    """
    spec = TESTS[name]
    if ranges is not None and not spec.ranged:
        raise ValueError(message("ranges", f"None for the {name} test (it uses the whole grid)", ranges))
    results = []
    for rng_pair, idx in _resolve_ranges(ranges, inputs.quantiles, spec.min_points, name):
        stat, boot = spec.compute(inputs, idx)
        results.append(
            TestResult(
                test=name,
                statistic=stat,
                critical_value=critical_value(boot, alpha=alpha),
                pvalue=float((1 + int(np.count_nonzero(boot >= stat))) / (boot.size + 1)),
                range=rng_pair,
                n_boot=int(boot.size),
                alpha=alpha,
                indices=idx,
            )
        )
    return TestResults(results)


def _checked_inputs(tau: Any, draws: Any, quantiles: Any) -> TestInputs:
    t, d = _check_draws(tau, draws)
    return TestInputs(tau=t, draws=d, quantiles=_check_grid(quantiles, t.size))


def nullity_test(
    tau: Any, draws: Any, quantiles: Any, *, ranges: Any = None, alpha: float = 0.05
) -> TestResults:
    """Test H0: tau(q) = 0 for all grid points q in a range.

    Statistic ``S = max_{j in R} |tau(q_j)|``; bootstrap analogue
    ``S_b = max_{j in R} |G_b(q_j)|``; p-value ``(1 + #{b : S_b >= S}) / (B + 1)``.

    Parameters
    ----------
    tau : array_like, shape (m,)
        Estimate on the grid.
    draws : array_like, shape (B, m)
        Bootstrap process ``G_b``.
    quantiles : array_like, shape (m,)
        The grid ``q_1 < ... < q_m``.
    ranges : (lo, hi) or sequence of (lo, hi), optional
        Quantile ranges to test (grid points with ``lo <= q <= hi``, endpoints matched to
        within :data:`RANGE_TOL`); each needs ``0 < lo < hi < 1`` and at least one grid
        point. Default: the whole grid.
    alpha : float, default 0.05
        Level for the critical value and :attr:`TestResult.reject`.

    Returns
    -------
    TestResults
        One :class:`TestResult` per range, in the order given.
    """
    alpha = check_probability("alpha", alpha)
    return run_test("nullity", _checked_inputs(tau, draws, quantiles), ranges=ranges, alpha=alpha)


def homogeneity_test(
    tau: Any, draws: Any, quantiles: Any, *, ranges: Any = None, alpha: float = 0.05
) -> TestResults:
    """Test H0: tau(q) is constant over the grid points in a range.

    Statistic ``S = max_{j in R} |tau(q_j) - mean_R tau|`` (equal-weight mean over the
    range's grid points); analogue ``S_b = max_{j in R} |G_b(q_j) - mean_R G_b|``;
    p-value ``(1 + #{b : S_b >= S}) / (B + 1)``.

    Parameters
    ----------
    tau, draws, quantiles, alpha
        As in :func:`nullity_test`.
    ranges : (lo, hi) or sequence of (lo, hi), optional
        As in :func:`nullity_test`, but each range needs at least two grid points.

    Returns
    -------
    TestResults
        One :class:`TestResult` per range, in the order given.
    """
    alpha = check_probability("alpha", alpha)
    return run_test("homogeneity", _checked_inputs(tau, draws, quantiles), ranges=ranges, alpha=alpha)


# ---------------------------------------------------------------------------------------------
# Gini test (per-side processes)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SideDraws:
    """Bootstrap processes of the two one-sided limits, drawn with the same multipliers.

    Attributes
    ----------
    plus, minus : ndarray, shape (n_boot, m)
        ``G_b^+(q_j) = sum_g xi_g^b A^+[g, j]`` and likewise ``G_b^-``; ``plus - minus`` is the
        process of ``tau`` (sharp design), equal to :func:`bootstrap_draws` of ``a^+ - a^-``
        with the same ``rng`` up to rounding.
    """

    plus: np.ndarray
    minus: np.ndarray

    def __repr__(self) -> str:
        return _r.one_line("SideDraws", "", [("", f"{self.plus.shape[0]} draws x {self.plus.shape[1]} levels")])


def side_draws(
    a_plus: Any,
    a_minus: Any,
    *,
    n_boot: int,
    rng: Any = None,
    cluster_codes: Any = None,
    chunk_size: int | None = None,
) -> SideDraws:
    """Per-side multiplier processes (one multiplier per unit or cluster shared by both sides).

    Parameters
    ----------
    a_plus, a_minus : array_like, shape (n, m)
        Per-side influence matrices ``w_i^+(q) e_i(q)`` and ``w_i^-(q) e_i(q)`` (zero off
        each side), so that the sharp ``a = a_plus - a_minus``.
    n_boot, rng, cluster_codes, chunk_size
        As in :func:`bootstrap_draws` (the multiplier stream is the same).

    Returns
    -------
    SideDraws
    """
    ap = _as_influence(a_plus, "a_plus")
    am = _as_influence(a_minus, "a_minus")
    if ap.shape != am.shape:
        raise ValueError(message("a_minus", f"an array of the same shape as `a_plus` {ap.shape}", am))
    both = bootstrap_draws(
        np.hstack([ap, am]), n_boot=n_boot, rng=rng, cluster_codes=cluster_codes,
        chunk_size=chunk_size,
    )
    m = ap.shape[1]
    return SideDraws(plus=both[:, :m], minus=both[:, m:])


def gini_coefficient(quantiles: Any, qf: Any) -> np.ndarray:
    """Gini coefficient of distributions given by their quantile functions on a grid.

    The R package's discretisation: the quantile function is extended flat to ``q = 0`` and
    ``q = 1``; the mean ``mu = int Q`` and the Lorenz curve ``L(p) = int_0^p Q / mu`` are
    trapezoid sums over the grid; ``Gini = 1 - 2 int L`` (trapezoid again). Unlike R, the
    result is not clipped to [0, 1] and is NaN (not 0) when ``mu <= 0``.

    Parameters
    ----------
    quantiles : array_like, shape (m,)
        Increasing grid inside [0, 1], m >= 2.
    qf : array_like, shape (..., m)
        Quantile function values; leading axes (e.g. bootstrap draws) are kept.

    Returns
    -------
    ndarray, shape (...)
    """
    q = np.asarray(quantiles, dtype=np.float64)
    Q = np.asarray(qf, dtype=np.float64)
    if q.ndim != 1 or q.size < 2 or np.any(np.diff(q) <= 0) or q[0] < 0 or q[-1] > 1:
        raise ValueError(message("quantiles", "an increasing grid of >= 2 points in [0, 1]", q))
    if Q.shape[-1:] != q.shape:
        raise ValueError(message("qf", f"an array whose last axis has length {q.size}", Q))
    if q[0] > 0:
        q = np.r_[0.0, q]
        Q = np.concatenate([Q[..., :1], Q], axis=-1)
    if q[-1] < 1:
        q = np.r_[q, 1.0]
        Q = np.concatenate([Q, Q[..., -1:]], axis=-1)
    dp = np.diff(q)
    area = 0.5 * (Q[..., 1:] + Q[..., :-1]) * dp
    cum = np.cumsum(area, axis=-1)
    mu = cum[..., -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        lorenz = np.where(mu > 0, cum / mu, np.nan)
    lorenz_lo = np.concatenate([np.zeros_like(lorenz[..., :1]), lorenz[..., :-1]], axis=-1)
    return 1.0 - np.sum((lorenz_lo + lorenz) * dp, axis=-1)


def gini_test(
    m_plus: Any,
    m_minus: Any,
    draws_plus: Any,
    draws_minus: Any,
    quantiles: Any,
    *,
    alpha: float = 0.05,
) -> TestResult:
    """Test H0: equal Gini coefficients of the two limit distributions, ``Gini(m_+) = Gini(m_-)``.

    With ``D = Gini(m_+) - Gini(m_-)`` and its bootstrap analogue
    ``D_b = Gini(m_+ + G_b^+) - Gini(m_- + G_b^-)``, the statistic is ``S = |D|`` and the
    bootstrap statistics are the *centred* ``S_b = |D_b - D|`` (the R package compares
    ``|D_b|`` with ``|D|``, which does not mimic the null). p-value
    ``(1 + #{b : S_b >= S}) / (B + 1)``. Draws whose Gini is undefined (mean <= 0) count as
    exceedances (conservative).

    Parameters
    ----------
    m_plus, m_minus : array_like, shape (m,)
        Monotonised one-sided limits (average quantile functions) on the grid.
    draws_plus, draws_minus : array_like, shape (B, m)
        Per-side processes from :func:`side_draws` (same multipliers on both sides).
    quantiles : array_like, shape (m,)
        The grid; the Gini integrals extend it flat to 0 and 1, so it should span most of
        (0, 1) (e.g. 0.01..0.99).
    alpha : float, default 0.05

    Returns
    -------
    TestResult
        ``test="gini"``, ``statistic = |D|``, ``range`` = the whole grid.
    """
    alpha = check_probability("alpha", alpha)
    mp, dp_ = _check_draws(m_plus, draws_plus)
    mm, dm = _check_draws(m_minus, draws_minus)
    if dp_.shape != dm.shape or mp.shape != mm.shape:
        raise ValueError(
            message("draws_minus", f"an array of the same shape as `draws_plus` {dp_.shape}", dm)
        )
    q = _check_grid(quantiles, mp.size)
    inputs = TestInputs(tau=mp - mm, draws=dp_ - dm, quantiles=q, m_plus=mp, m_minus=mm,
                        sides=lambda: SideDraws(plus=dp_, minus=dm))
    return run_test("gini", inputs, alpha=alpha)[0]
