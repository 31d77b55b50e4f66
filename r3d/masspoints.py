"""Mass points in the running variable (METHOD_EXTENSIONS §12; rdrobust's ``masspoints``).

Cell data (age in months, cohorts) and rounded running variables put several units at one
value of x. ``fit(masspoints=...)`` chooses what r3d does about it:

- ``"check"`` (default): count the distinct values of x on each side and inside the bandwidth
  window; when units share values, warn (:class:`r3d.MassPointsWarning`, with the counts) and
  show the counts in the summary header;
- ``"adjust"``: as "check", and the bandwidth selector uses the number of distinct values where
  rdrobust's ``rdbwselect`` does (the rate of its preliminary density bandwidth: M^(-1/5) with M
  the distinct values, not n^(-1/5)); every *selected* bandwidth is then enlarged until each side
  has at least p + 2 distinct values inside the window (a bandwidth given by the user is kept);
- ``"off"``: nothing.

Only the counts are computed here; the selector reads ``n_rate`` and the model applies
:func:`enlarge_bandwidths`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from r3d._validation import MassPointsWarning, Notes

__all__ = ["MASSPOINTS", "MassPoints", "count_mass_points", "distinct_rate", "enlarge_bandwidths",
           "report_mass_points"]

#: The values ``fit(masspoints=...)`` takes.
MASSPOINTS = ("check", "adjust", "off")

#: Pad of the smallest bandwidth keeping the k-th distinct value inside the window: at |u| = 1
#: the triangular and Epanechnikov kernels give weight 0 (rdrobust pads by the same 1 + sqrt(eps)).
_PAD = 1.0 + math.sqrt(np.finfo(float).eps)


@dataclass(frozen=True, slots=True)
class MassPoints:
    """Units and distinct running-variable values per side, overall and inside the bandwidth window.

    Attributes
    ----------
    n_left, n_right : int
        Units on each side (x < c, x >= c).
    distinct_left, distinct_right : int
        Distinct values of x on each side.
    inside_left, inside_right : tuple of int
        Distinct values of x among the units with positive kernel weight on each side, one per
        bandwidth of the fit (one entry for a common bandwidth).
    mode : str
        "check" or "adjust".
    n_enlarged : int
        Selected bandwidths that "adjust" enlarged to keep p + 2 distinct values a side.
    """

    n_left: int
    n_right: int
    distinct_left: int
    distinct_right: int
    inside_left: tuple[int, ...]
    inside_right: tuple[int, ...]
    mode: str = "check"
    n_enlarged: int = 0

    @property
    def shared(self) -> bool:
        """True when some units share a running-variable value."""
        return self.distinct_left < self.n_left or self.distinct_right < self.n_right

    def inside_text(self) -> str:
        """``"a / b"`` distinct values inside the window (a range over per-quantile bandwidths)."""
        def one(v: tuple[int, ...]) -> str:
            return str(v[0]) if min(v) == max(v) else f"{min(v)}-{max(v)}"
        return f"{one(self.inside_left)} / {one(self.inside_right)}"

    def as_dict(self) -> dict:
        return {"n_left": self.n_left, "n_right": self.n_right, "distinct_left": self.distinct_left,
                "distinct_right": self.distinct_right, "inside_left": list(self.inside_left),
                "inside_right": list(self.inside_right), "mode": self.mode, "n_enlarged": self.n_enlarged}


def _distinct_inside(x: np.ndarray, kernel_weights: np.ndarray) -> tuple[int, ...]:
    """Distinct x among the units with positive weight, per column of (n, m_h) ``kernel_weights``."""
    return tuple(int(np.unique(x[kernel_weights[:, g] > 0]).size) for g in range(kernel_weights.shape[1]))


def count_mass_points(x: np.ndarray, cutoff: float, kw_plus: np.ndarray, kw_minus: np.ndarray, *,
                      mode: str, n_enlarged: int = 0) -> MassPoints:
    """Counts for ``x`` (n,) at ``cutoff`` and the (n, m_h) kernel weights of the two side fits."""
    right = x >= cutoff
    return MassPoints(n_left=int((~right).sum()), n_right=int(right.sum()),
                      distinct_left=int(np.unique(x[~right]).size), distinct_right=int(np.unique(x[right]).size),
                      inside_left=_distinct_inside(x, kw_minus), inside_right=_distinct_inside(x, kw_plus),
                      mode=mode, n_enlarged=n_enlarged)


def distinct_rate(x: np.ndarray) -> int:
    """M, the number of distinct values of ``x``: the selector's rate with ``masspoints="adjust"``."""
    return int(np.unique(x).size)


def enlarge_bandwidths(x: np.ndarray, cutoff: float, h: np.ndarray, order: int) -> tuple[np.ndarray, int]:
    """``h`` raised where needed so that each side has at least ``order + 2`` distinct values of x
    inside the window (|x - c| < h, padded as rdrobust's ``bwcheck``); a side with fewer distinct
    values than that keeps all of them. Returns the new array and how many entries grew."""
    need = order + 2
    h_min = 0.0
    xc = x - cutoff
    for mask in (xc < 0, xc >= 0):
        d = np.unique(np.abs(xc[mask]))
        if d.size:
            h_min = max(h_min, float(d[min(need, d.size) - 1]) * _PAD)
    out = np.maximum(h, h_min)
    return out, int(np.sum(out > h))


def report_mass_points(mp: MassPoints, notes: Notes) -> None:
    """Warn (and note) when units share running-variable values."""
    if not mp.shared:
        return
    advice = ("the selected bandwidths were computed with rdrobust's mass-point adjustment"
              + (f" and {mp.n_enlarged} enlarged to keep order + 2 distinct values a side" if mp.n_enlarged else "")
              if mp.mode == "adjust" else
              "consider fit(masspoints=\"adjust\") (rdrobust's adjustment of the bandwidth selector)")
    notes.warn(
        f"Mass points in the running variable: units share values of x ({mp.distinct_left} distinct values "
        f"for {mp.n_left} units left of the cutoff, {mp.distinct_right} for {mp.n_right} right; "
        f"{mp.inside_text()} distinct values inside the bandwidth window). The local fits effectively have "
        f"as many observations as distinct values; {advice}.",
        MassPointsWarning)
