"""Simulated data sets with known effects, for examples, tests and the tutorial."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["simulate_firms", "firms_true_effect"]

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
        30 + 8 (revenue - 1) + 4 (revenue - 1)^2 + N(0, 1.5^2) and sd 5 + |N(0, 1)|;
        the subsidy adds ``firms_true_effect`` to the average quantile function.
    """
    gen = np.random.default_rng(rng)
    revenue = gen.uniform(0.5, 1.5, size=n_firms)
    eligible = revenue >= FIRMS_CUTOFF
    if fuzzy:
        treated = np.where(eligible, gen.uniform(size=n_firms) < 0.8, gen.uniform(size=n_firms) < 0.15)
    else:
        treated = eligible
    r = revenue - FIRMS_CUTOFF
    mu = 30 + 8 * r + 4 * r**2 + gen.normal(0, 1.5, size=n_firms) + _MEAN_JUMP * treated
    sd = 5 + np.abs(gen.normal(size=n_firms)) + _SD_JUMP * treated
    if isinstance(n_workers, tuple):
        sizes = gen.integers(n_workers[0], n_workers[1] + 1, size=n_firms)
    else:
        sizes = np.full(n_firms, int(n_workers))
    firm = np.repeat(np.arange(n_firms), sizes)
    wage = mu[firm] + sd[firm] * gen.standard_normal(firm.size)
    df = pd.DataFrame({"firm": pd.Series([f"F{i:04d}" for i in range(n_firms)])[firm].to_numpy(),
                       "revenue": revenue[firm], "wage": wage})
    if fuzzy:
        df["subsidy"] = treated[firm].astype(int)
    return df
