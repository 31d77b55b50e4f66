"""Simulated data sets with known effects, for examples, tests and the tutorial.

Two designs of the same story: firms become eligible for a wage subsidy when their
revenue reaches $1 million, and the outcome of each firm is the distribution of its
workers' wages (in $1,000s a year).

- :func:`simulate_firms` (the quickstart): a small, clean design.
- :func:`simulate_wage_subsidy` (the tutorial): firms also differ in a firm wage
  premium, and the subsidy narrows those premia while it widens each firm's own wage
  distribution. Its effect on the average quantile function is the same as in
  :func:`simulate_firms` (:func:`wage_subsidy_true_effect`), but the jump in the
  quantiles of the *pooled* worker-level wages, the estimand of a quantile RD on the
  micro data, is almost flat (:func:`wage_subsidy_pooled_effect`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from r3d._validation import check_int, check_rng, message

__all__ = [
    "simulate_firms",
    "firms_true_effect",
    "simulate_wage_subsidy",
    "wage_subsidy_true_effect",
    "wage_subsidy_pooled_effect",
]

#: Design constants of ``simulate_firms`` (wages in $1,000s, revenue in $ million).
FIRMS_CUTOFF = 1.0
_MEAN_JUMP = 2.0  # the subsidy raises every worker's wage by 2 ...
_SD_JUMP = 1.5  # ... and spreads the firm's wage distribution (top earners gain more)


def firms_true_effect(q: Any) -> np.ndarray:
    """True tau(q) of ``simulate_firms``: 2 + 1.5 * Phi^{-1}(q) (in $1,000s).

    Each treated firm's wage quantile function shifts by 2 and its spread grows by
    1.5 standard-normal units, so the effect on the average quantile function is
    2 + 1.5 z_q; the average effect (∫ tau) is 2.
    """
    return _MEAN_JUMP + _SD_JUMP * stats.norm.ppf(np.asarray(q, dtype=np.float64))


def simulate_firms(
    n_firms: int = 500,
    n_workers: int | tuple[int, int] = (20, 80),
    *,
    fuzzy: bool = False,
    rng: Any = None,
) -> pd.DataFrame:
    """Firms eligible for a wage subsidy when revenue >= 1 ($ million), and their workers' wages.

    Parameters
    ----------
    n_firms : int
        Number of firms (units).
    n_workers : int or (low, high)
        Workers per firm, fixed or drawn uniformly from [low, high].
    fuzzy : bool
        If True, eligible firms take the subsidy with probability 0.8 and ineligible
        ones with probability 0.15 (column ``subsidy``); the wage effect applies to
        takers. Otherwise every eligible firm is treated (sharp design).
    rng : None, int or numpy.random.Generator
        Seed.

    Returns
    -------
    pandas.DataFrame
        One row per worker: ``firm`` (str id), ``revenue``, ``wage``, and ``subsidy``
        (0/1, fuzzy only). Firm wage distributions are normal with firm-specific mean
        30 + 8 (revenue - 1) + 4 (revenue - 1)^2 + N(0, 1.5^2) and sd ``5 + |N(0, 1)|``;
        the subsidy adds ``firms_true_effect`` to the average quantile function.
    """
    gen = check_rng(rng)
    revenue = gen.uniform(0.5, 1.5, size=n_firms)
    eligible = revenue >= FIRMS_CUTOFF
    if fuzzy:
        treated = np.where(eligible, gen.uniform(size=n_firms) < 0.8, gen.uniform(size=n_firms) < 0.15)
    else:
        treated = eligible
    r = revenue - FIRMS_CUTOFF
    mu = 30 + 8 * r + 4 * r**2 + gen.normal(0, 1.5, size=n_firms) + _MEAN_JUMP * treated
    sd = 5 + np.abs(gen.normal(size=n_firms)) + _SD_JUMP * treated
    return _workers(gen, n_workers, revenue, mu, sd, treated if fuzzy else None)


def _workers(gen: np.random.Generator, n_workers: int | tuple[int, int], revenue: np.ndarray, mu: np.ndarray,
             sd: np.ndarray, treated: np.ndarray | None) -> pd.DataFrame:
    """One row per worker: firm sizes, then each worker's wage from N(mu, sd^2) of its firm, drawn in
    this order after the firm-level draws (both designs). ``treated`` given: a ``subsidy`` column."""
    n_firms = revenue.size
    if isinstance(n_workers, tuple):
        sizes = gen.integers(n_workers[0], n_workers[1] + 1, size=n_firms)
    else:
        sizes = np.full(n_firms, int(n_workers))
    firm = np.repeat(np.arange(n_firms), sizes)
    wage = mu[firm] + sd[firm] * gen.standard_normal(firm.size)
    ids = np.array([f"F{i:04d}" for i in range(n_firms)])
    df = pd.DataFrame({"firm": ids[firm], "revenue": revenue[firm], "wage": wage})
    if treated is not None:
        df["subsidy"] = treated[firm].astype(int)
    return df


# ---------------------------------------------------------------------------------------------
# the tutorial's design: firm wage premia that the subsidy compresses
# ---------------------------------------------------------------------------------------------
#: Revenue is log-normal with median at the cutoff: log(revenue) ~ N(0, REVENUE_LOG_SD^2).
REVENUE_LOG_SD = 0.3
#: Baseline wage level of a firm at the cutoff ($1,000s).
_BASE_WAGE = 30.0
#: Default standard deviation of the firm wage premium a_i (between-firm differences).
PREMIUM_SD = 5.0
#: Default share of its premium a treated firm gives up: its premium becomes (1 - c) a_i.
COMPRESSION = 0.5
#: Take-up probabilities of the fuzzy designs (eligible, ineligible firms).
_TAKE_UP = (0.8, 0.15)
# Gauss-Legendre nodes on [0, _T_MAX] for the half-normal part of the within-firm spread;
# the half-normal density beyond 9 is below 1e-17, so truncating there loses nothing.
_N_NODES, _T_MAX = 200, 9.0


def wage_subsidy_true_effect(q: Any) -> np.ndarray:
    """True tau(q) of ``simulate_wage_subsidy``: 2 + 1.5 Phi^{-1}(q) ($1,000s).

    The effect on the average wage quantile function of firms at the cutoff (the R3D
    estimand), sharp and fuzzy (take-up is independent of the firm premium, so
    compliers have the same average effect). It equals :func:`firms_true_effect`: the
    compression of firm premia averages out because premia have mean zero.

    Parameters
    ----------
    q : float or array-like
        Quantile levels in (0, 1).

    Returns
    -------
    numpy.ndarray
        tau(q), same shape as ``q``.

    Examples
    --------
    >>> import r3d
    >>> r3d.datasets.wage_subsidy_true_effect([0.1, 0.5, 0.9]).round(3)
    array([0.078, 2.   , 3.922])
    """
    return firms_true_effect(q)


def _pooled_quantiles(q: np.ndarray, *, treated: bool, premium_sd: float, compression: float) -> np.ndarray:
    """Quantiles of the pooled worker-level wages of firms at the cutoff (one side).

    Given the firm's spread s, a worker's wage is N(mean, (premium scale)^2 + s^2) because
    the premium is normal and independent of s; the pooled CDF averages that over
    s = 5 + |Z| (+ 1.5 if treated) by Gauss-Legendre quadrature, and is inverted by
    bisection (70 halvings of a 400-wide bracket: below 1e-18 of the wage scale).
    """
    x, w = np.polynomial.legendre.leggauss(_N_NODES)
    t = 0.5 * _T_MAX * (x + 1.0)
    weight = 0.5 * _T_MAX * w * 2.0 * stats.norm.pdf(t)  # half-normal density of |Z|
    mean = _BASE_WAGE + (_MEAN_JUMP if treated else 0.0)
    premium = premium_sd * ((1.0 - compression) if treated else 1.0)
    spread = np.sqrt(premium**2 + (5.0 + t + (_SD_JUMP if treated else 0.0)) ** 2)
    lo = np.full(q.shape, mean - 200.0)
    hi = np.full(q.shape, mean + 200.0)
    for _ in range(70):
        mid = 0.5 * (lo + hi)
        cdf = stats.norm.cdf((mid[..., None] - mean) / spread) @ weight
        below = cdf < q
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def wage_subsidy_pooled_effect(
    q: Any, *, premium_sd: float = PREMIUM_SD, compression: float = COMPRESSION
) -> np.ndarray:
    """The quantile-RD estimand of ``simulate_wage_subsidy`` (sharp design).

    The jump at the cutoff in the q-quantile of the *pooled* worker-level wage
    distribution (all workers of all firms at revenue = 1, firms weighted by their
    number of workers, which is independent of everything else here). This is what a
    quantile regression discontinuity on the micro data estimates; it is not the R3D
    estimand :func:`wage_subsidy_true_effect`. With the default design it is almost
    flat, 1.94 at q = 0.1 and 2.06 at q = 0.9: the pooled distribution mixes the
    between-firm premia, which the subsidy compresses, with the within-firm spread,
    which it widens, and the two nearly cancel.

    Parameters
    ----------
    q : float or array-like
        Quantile levels in (0, 1).
    premium_sd, compression : float
        As in :func:`simulate_wage_subsidy`.

    Returns
    -------
    numpy.ndarray
        The pooled-quantile jump, same shape as ``q`` (accurate to ~1e-10).

    Examples
    --------
    >>> import r3d
    >>> r3d.datasets.wage_subsidy_pooled_effect([0.1, 0.5, 0.9]).round(3)
    array([1.939, 2.   , 2.061])
    """
    qa = np.asarray(q, dtype=np.float64)
    if not np.all((qa > 0) & (qa < 1)):
        raise ValueError(message("q", "quantile levels strictly between 0 and 1", qa))
    kw = {"premium_sd": float(premium_sd), "compression": float(compression)}
    return _pooled_quantiles(qa, treated=True, **kw) - _pooled_quantiles(qa, treated=False, **kw)


def simulate_wage_subsidy(
    n_firms: int = 2000,
    n_workers: int | tuple[int, int] = (20, 80),
    *,
    fuzzy: bool = False,
    premium_sd: float = PREMIUM_SD,
    compression: float = COMPRESSION,
    rng: Any = None,
) -> pd.DataFrame:
    """Firms eligible for a wage subsidy at revenue >= 1 ($ million), with firm wage premia.

    The tutorial's data set. Each firm i has a revenue R_i (the running variable, cutoff
    1), a wage premium a_i (how much more it pays than similar firms) and a within-firm
    spread s_i; its workers' wages (in $1,000s) are draws from N(mu_i, s_i^2) with

    - revenue: log(R_i) ~ N(0, 0.3^2), so half the firms are eligible;
    - mean: mu_i = 30 + 8 r + 4 r^2 + (1 - c T_i) a_i + 2 T_i, with r = R_i - 1,
      a_i ~ N(0, premium_sd^2) and T_i the subsidy;
    - spread: ``s_i = 5 + |N(0, 1)| + 1.5 T_i``.

    The subsidy raises the firm's wages by 2 on average, widens its wage distribution
    (top earners gain most) and shrinks its premium by the share c = ``compression``
    (low-paying firms catch up, high-paying ones fall back: the subsidy is tied to a wage
    floor, say). Its effect on the average quantile function of firms at the cutoff is
    ``wage_subsidy_true_effect(q)`` = 2 + 1.5 Phi^{-1}(q) whatever ``premium_sd`` and
    ``compression``; the jump in the quantiles of the pooled worker-level wages is
    ``wage_subsidy_pooled_effect(q)``, nearly flat at 2 by default.

    Parameters
    ----------
    n_firms : int, default 2000
        Number of firms (units).
    n_workers : int or (low, high), default (20, 80)
        Workers per firm, fixed or drawn uniformly from [low, high] (independent of
        everything else).
    fuzzy : bool, default False
        If True, eligible firms take the subsidy with probability 0.8 and ineligible ones
        with probability 0.15 (column ``subsidy``); otherwise every eligible firm does.
    premium_sd : float, default 5.0
        Standard deviation of the firm premia a_i (0: no between-firm differences, the
        pooled and average-quantile estimands then differ only through the mixing of the
        spreads).
    compression : float, default 0.5
        Share c of its premium a treated firm gives up, in [0, 1].
    rng : None, int or numpy.random.Generator
        Seed.

    Returns
    -------
    pandas.DataFrame
        One row per worker: ``firm`` (str id), ``revenue``, ``wage``, and ``subsidy``
        (0/1, fuzzy only). About 100,000 rows with the defaults.

    Examples
    --------
    >>> import r3d
    >>> df = r3d.datasets.simulate_wage_subsidy(n_firms=300, rng=0)
    >>> list(df.columns)
    ['firm', 'revenue', 'wage']
    >>> df["firm"].nunique()
    300
    >>> bool(df.groupby("firm")["revenue"].nunique().eq(1).all())  # a firm-level variable
    True
    """
    n_firms = check_int("n_firms", n_firms, low=1)
    if not isinstance(n_workers, tuple):
        n_workers = check_int("n_workers", n_workers, low=1)
    premium_sd = float(premium_sd)
    if not (np.isfinite(premium_sd) and premium_sd >= 0):
        raise ValueError(message("premium_sd", "a finite number >= 0", premium_sd))
    compression = float(compression)
    if not 0.0 <= compression <= 1.0:
        raise ValueError(message("compression", "a number in [0, 1]", compression))
    gen = check_rng(rng)
    revenue = np.exp(gen.normal(0.0, REVENUE_LOG_SD, size=n_firms))
    eligible = revenue >= FIRMS_CUTOFF
    if fuzzy:
        u = gen.uniform(size=n_firms)
        treated = np.where(eligible, u < _TAKE_UP[0], u < _TAKE_UP[1])
    else:
        treated = eligible
    r = revenue - FIRMS_CUTOFF
    premium = gen.normal(0.0, premium_sd, size=n_firms)
    mu = _BASE_WAGE + 8 * r + 4 * r**2 + (1.0 - compression * treated) * premium + _MEAN_JUMP * treated
    sd = 5 + np.abs(gen.normal(size=n_firms)) + _SD_JUMP * treated
    return _workers(gen, n_workers, revenue, mu, sd, treated if fuzzy else None)
