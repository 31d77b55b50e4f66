"""Few draws per unit: grid levels the units' draws do not resolve (issue 20, docs/few_draws.md).

r3d estimates the jump in the units' *expected empirical* quantile function (docs/method.md §2).
With n_i draws, a level q with min(q, 1 - q) < 1/n_i lies beyond unit i's outer order statistics:
the unit's quantile there is an interpolation between (or a copy of) its two smallest or two largest
draws, whose expectation differs from the unit's population quantile by an amount that depends on
its within-unit spread. When that spread jumps at the cutoff, the jump in the expected empirical
quantile at such levels differs from the jump in the population quantile (the simulation in
``benchmarks/results/montecarlo_fewdraws.md``).

At fit time :func:`count_few_draws` counts, at each grid level, the in-window units (positive kernel
weight on either side at the fit's bandwidth; with per-quantile bandwidths each level's own window)
for which the level is unresolved; levels where the share exceeds :data:`FEW_DRAWS_SHARE` are the
affected levels, and :func:`report_few_draws` warns once per fit (:class:`r3d.FewDrawsWarning`).

n_i is the number of draws the unit keeps after the missing-value policy (rows with a positive
weight when within-unit weights are given: weights change where the empirical quantile puts its
mass, not how many distinct values the unit has). A model built from a quantile matrix has no draw
counts and no diagnostic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from r3d._validation import FewDrawsWarning, Notes

__all__ = ["FEW_DRAWS_SHARE", "FewDraws", "count_few_draws", "describe_levels", "report_few_draws"]

#: A level is affected when more than this share of the in-window units has too few draws to
#: resolve it (a "material share"; issue 20).
FEW_DRAWS_SHARE = 0.10

#: Relative slack in ``n_i * min(q, 1 - q) >= 1``: grid levels carry rounding (1 - 0.95 is
#: 0.050000000000000044, np.linspace(0.05, 0.95, 19) holds 0.15000000000000002), and 20 draws
#: resolve q = 0.05 and q = 0.95 exactly.
_LEVEL_ROUNDING = 1e-9

#: Where the warning sends the reader.
DOCS_SECTION = "docs/few_draws.md"


@dataclass(frozen=True, slots=True)
class FewDraws:
    """Grid levels the in-window units' draws do not resolve (``res.few_draws``).

    Attributes
    ----------
    threshold : float
        The share above which a level is affected (:data:`FEW_DRAWS_SHARE`).
    quantiles : ndarray
        (m,) the fit's grid.
    n_in_window : ndarray
        (m,) int, units with positive kernel weight on either side at each level's bandwidth.
    n_unresolved : ndarray
        (m,) int, in-window units with fewer than 1 / min(q, 1 - q) draws at each level.
    affected : ndarray
        (k,) the levels where ``n_unresolved / n_in_window > threshold`` (empty: no issue).
    """

    threshold: float
    quantiles: np.ndarray
    n_in_window: np.ndarray
    n_unresolved: np.ndarray
    affected: np.ndarray

    @property
    def share(self) -> np.ndarray:
        """(m,) share of the in-window units for which each level is unresolved."""
        return self.n_unresolved / np.maximum(self.n_in_window, 1)

    @property
    def any(self) -> bool:
        """True when some level is affected."""
        return self.affected.size > 0

    def worst(self) -> int:
        """Index of the most extreme affected level (smallest min(q, 1 - q); the lower one on a tie)."""
        q = self.quantiles
        idx = np.flatnonzero(np.isin(q, self.affected))
        return int(idx[np.argmin(np.round(np.minimum(q[idx], 1.0 - q[idx]), 12))])  # 1 - 0.9 < 0.1: rounded

    def as_dict(self) -> dict:
        return {"threshold": self.threshold, "n_in_window": self.n_in_window.tolist(),
                "n_unresolved": self.n_unresolved.tolist(), "affected": self.affected.tolist()}

    def __repr__(self) -> str:
        if not self.any:
            return f"FewDraws(no level affected, threshold {self.threshold:g})"
        return f"FewDraws({describe_levels(self.quantiles, self.affected)}, threshold {self.threshold:g})"


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def count_few_draws(n_draws: np.ndarray, quantiles: np.ndarray, kw_plus: np.ndarray, kw_minus: np.ndarray,
                    threshold: float = FEW_DRAWS_SHARE) -> FewDraws:
    """Count, per level of ``quantiles`` (m,), the in-window units with too few draws.

    ``n_draws`` (n,) are the units' draw counts; ``kw_plus``, ``kw_minus`` (n, m_h) the kernel
    weights of the two side fits (m_h = 1: one window; m_h = m: one per level). A unit is in a
    level's window when its kernel weight on either side is positive, and the level is unresolved
    for it when ``n_i * min(q, 1 - q) < 1`` (beyond rounding of the grid).
    """
    m = quantiles.size
    d = np.minimum(quantiles, 1.0 - quantiles)
    need = (1.0 - _LEVEL_ROUNDING) / d  # unresolved: n_i < need
    n_in = np.empty(m, dtype=np.int64)
    n_un = np.empty(m, dtype=np.int64)
    m_h = kw_plus.shape[1]
    for g in range(m_h):
        cols = slice(None) if m_h == 1 else slice(g, g + 1)
        inside = (kw_plus[:, g] > 0) | (kw_minus[:, g] > 0)
        counts = np.sort(n_draws[inside])
        n_in[cols] = counts.size
        n_un[cols] = np.searchsorted(counts, need[cols], side="left")
    affected = quantiles[n_un > threshold * n_in]
    return FewDraws(threshold=float(threshold), quantiles=_frozen(quantiles.copy()), n_in_window=_frozen(n_in),
                    n_unresolved=_frozen(n_un), affected=_frozen(affected.copy()))


def _level(q: float) -> str:
    return f"{q:.6g}"


def describe_levels(quantiles: np.ndarray, affected: np.ndarray) -> str:
    """The affected levels, compactly: ``"q <= 0.04 and q >= 0.96 (8 levels)"``.

    A run of levels at the lower end of the grid is written ``q <= a``, one at the upper end
    ``q >= b``; levels that form no such run are listed.
    """
    parts = []
    lower = affected[affected < 0.5]
    upper = affected[affected >= 0.5]
    if lower.size:
        if np.array_equal(lower, quantiles[: lower.size]):
            parts.append(f"q <= {_level(lower[-1])}")
        else:
            parts.append("q = " + ", ".join(_level(q) for q in lower))
    if upper.size:
        if np.array_equal(upper, quantiles[quantiles.size - upper.size:]):
            parts.append(f"q >= {_level(upper[0])}")
        else:
            parts.append("q = " + ", ".join(_level(q) for q in upper))
    k = affected.size
    return " and ".join(parts) + f" ({k} level{'s' if k != 1 else ''})"


def report_few_draws(fd: FewDraws, notes: Notes, quantile_method: str = "linear") -> None:
    """Warn (and note) once when some grid level is unresolved for a material share of in-window units.

    The advice depends on ``quantile_method``: after the default type 7 ("linear") it names
    "median_unbiased", whose bias at such levels was smaller in the simulation
    (benchmarks/results/montecarlo_fewdraws.md); after any other method, trimming the grid."""
    if not fd.any:
        return
    advice = ("Use quantile_method=\"median_unbiased\", whose bias there is smaller, or trim the grid to levels the "
              "draws resolve (fit(quantiles=...))" if quantile_method == "linear" else
              "Trim the grid to levels the draws resolve (fit(quantiles=...)) and read the tails with care")
    j = fd.worst()
    q = float(fd.quantiles[j])
    d = min(q, 1.0 - q)
    notes.warn(
        f"Few draws per unit: at q = {_level(q)}, {int(fd.n_unresolved[j])} of the {int(fd.n_in_window[j])} units "
        f"inside the bandwidth window have fewer than 1/{_level(d)} = {1.0 / d:.4g} draws, so the level lies "
        f"beyond their smallest or largest draws; more than {fd.threshold:.0%} of the in-window units are short of "
        f"draws at {describe_levels(fd.quantiles, fd.affected)}. There tau(q) is the jump in the units' expected "
        "empirical quantile, which differs from the jump in their population quantile when the within-unit "
        f"spread changes at the cutoff. {advice}; see {DOCS_SECTION}.",
        FewDrawsWarning)
