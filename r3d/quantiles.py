"""Unit quantile functions on a grid of levels (docs/method.md §2).

The quantile matrix Q (n_units x m) holds, in row i, unit i's empirical quantile
function Q̂_i(q_j) at the levels q_1 < ... < q_m inside (0, 1). The default definition
is type 7 (numpy ``method="linear"``, R's ``quantile()`` default); every numpy method
name is offered and reproduces ``numpy.quantile`` per unit. The compiled kernel
(``r3d/_ext/_quantiles.pyx``) groups the draws in one pass and loops over units in
parallel; the caller's arrays are never modified.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from r3d._ext import _quantiles
from r3d._validation import check_choice, message, resolve_n_jobs

__all__ = [
    "QUANTILE_METHODS",
    "WEIGHTED_METHODS",
    "quantile_grid",
    "unit_quantiles",
]

#: numpy's quantile definitions (Hyndman and Fan types 1-9), in type order.
QUANTILE_METHODS: tuple[str, ...] = (
    "inverted_cdf",
    "averaged_inverted_cdf",
    "closest_observation",
    "interpolated_inverted_cdf",
    "hazen",
    "weibull",
    "linear",
    "median_unbiased",
    "normal_unbiased",
)

#: Methods that accept within-unit weights: "linear" (Hmisc's weighted type 7) and
#: "inverted_cdf" (numpy's weighted type 1).
WEIGHTED_METHODS: tuple[str, ...] = ("linear", "inverted_cdf")

_DEFAULT_GRID_SIZE = 99


def quantile_grid(quantiles: ArrayLike | int | None = None) -> np.ndarray:
    """The grid of quantile levels q_1 < ... < q_m inside (0, 1).

    Parameters
    ----------
    quantiles : None, int or array_like
        ``None`` gives 0.01, 0.02, ..., 0.99; an integer m >= 1 gives the m equally
        spaced inner points (1..m)/(m+1); an array gives those levels, which must be
        finite, strictly inside (0, 1) and strictly increasing.

    Returns
    -------
    ndarray, shape (m,), float64
        A new array of levels.

    Raises
    ------
    TypeError
        ``quantiles`` is neither None, an integer nor numeric.
    ValueError
        The levels are empty, not 1-D, outside (0, 1) or not strictly increasing.
    """
    if quantiles is None:
        return np.arange(1, _DEFAULT_GRID_SIZE + 1) / (_DEFAULT_GRID_SIZE + 1)
    if isinstance(quantiles, bool | np.bool_):
        raise TypeError(message("quantiles", "None, an integer or an array of levels", quantiles))
    if isinstance(quantiles, numbers.Integral):
        m = int(quantiles)
        if m < 1:
            raise ValueError(
                message("quantiles", "a number of levels >= 1", quantiles, "For example quantiles=99.")
            )
        return np.arange(1, m + 1) / (m + 1)
    try:
        levels = np.array(quantiles, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            message("quantiles", "None, an integer or an array of levels in (0, 1)", _short(quantiles))
        ) from None
    levels = np.atleast_1d(levels)
    if levels.ndim != 1 or levels.size == 0:
        raise ValueError(
            message("quantiles", "a non-empty 1-D array of levels in (0, 1)", levels)
        )
    ok = np.all(np.isfinite(levels)) and levels[0] > 0.0 and levels[-1] < 1.0
    ok = ok and bool(np.all(np.diff(levels) > 0.0))
    if not ok:
        raise ValueError(
            message(
                "quantiles",
                "strictly increasing levels in (0, 1)",
                _short(levels),
                "Sort them and drop duplicates, 0, 1 and non-finite values.",
            )
        )
    return levels


def unit_quantiles(
    y: ArrayLike,
    codes: ArrayLike,
    n_units: int,
    quantiles: ArrayLike | int | None,
    *,
    method: str = "linear",
    weights: ArrayLike | None = None,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Quantile matrix of long-format draws: one row per unit, one column per level.

    Parameters
    ----------
    y : array_like, shape (N,)
        Finite outcome draws, one per row.
    codes : array_like of int, shape (N,)
        Unit code of each draw in [0, n_units); rows may come in any order. Every unit
        must have at least one draw.
    n_units : int
        Number of units n.
    quantiles : None, int or array_like
        Levels, as accepted by :func:`quantile_grid` (m of them).
    method : str, default "linear"
        A numpy quantile method (:data:`QUANTILE_METHODS`); row i equals
        ``numpy.quantile(y[codes == i], levels, method=method)``.
    weights : array_like, shape (N,), optional
        Positive finite within-unit weights. Only with ``"linear"`` (Hmisc's
        ``wtd.quantile(type="quantile", normwt=TRUE)``; equal weights give type 7) or
        ``"inverted_cdf"`` (equals ``numpy.quantile(..., weights=w, method="inverted_cdf")``).
        Only ratios within a unit matter: each unit's weights are rescaled before they are
        summed (equal weights to exactly 1, others by a power of two), so weights of any
        finite size work (1e307 does not overflow) and equal weights are weights of 1.
    n_jobs : int, optional
        Accepted for compatibility and validated; it has no effect: r3d runs on one
        thread (``benchmarks/results/threads.md``).

    Returns
    -------
    ndarray, shape (n_units, m), float64
        Q[i, j] = Q̂_i(q_j).

    Raises
    ------
    ValueError
        Unknown method, weights with a method that does not support them, non-finite
        draws, non-positive weights, codes outside [0, n_units) or a unit without draws.
    """
    method = check_choice("quantile_method", method, QUANTILE_METHODS)
    levels = quantile_grid(quantiles)
    y_arr = _as_1d_float("y", y)
    if y_arr.size == 0:
        raise ValueError(message("y", "a non-empty array of draws", y_arr))
    if not np.all(np.isfinite(y_arr)):
        raise ValueError(
            message("y", "finite draws", "<non-finite values>", "Drop missing or infinite outcomes first.")
        )
    codes_arr = np.asarray(codes)
    if codes_arr.ndim != 1 or codes_arr.shape[0] != y_arr.shape[0]:
        raise ValueError(message("codes", f"a 1-D array of length {y_arr.shape[0]} (one per draw)", codes_arr))
    if not np.issubdtype(codes_arr.dtype, np.integer):
        raise TypeError(message("codes", "an integer array of unit codes", codes_arr))
    if isinstance(n_units, bool) or not isinstance(n_units, numbers.Integral) or n_units < 1:
        raise ValueError(message("n_units", "an integer >= 1", n_units))
    codes_arr = np.ascontiguousarray(codes_arr, dtype=np.int64)

    w_arr = None
    if weights is not None:
        if method not in WEIGHTED_METHODS:
            raise ValueError(
                message(
                    "quantile_method",
                    "'linear' or 'inverted_cdf' when weights are given",
                    method,
                    "Use one of these two methods or drop the weights.",
                )
            )
        w_arr = _as_1d_float("weights", weights)
        if w_arr.shape != y_arr.shape:
            raise ValueError(message("weights", f"an array of length {y_arr.shape[0]} (one per draw)", w_arr))
        if not (np.all(np.isfinite(w_arr)) and np.all(w_arr > 0.0)):
            raise ValueError(
                message("weights", "finite and > 0", "<zero, negative or non-finite weights>",
                        "Drop draws with zero or missing weight first.")
            )
    resolve_n_jobs(n_jobs)
    return _unit_quantiles(y_arr, codes_arr, int(n_units), levels, method, w_arr)


def _unit_quantiles(y: np.ndarray, codes: np.ndarray, n_units: int, levels: np.ndarray, method: str,
                    weights: np.ndarray | None) -> np.ndarray:
    """:func:`unit_quantiles` on validated inputs: C-contiguous finite float64 ``y`` (N,), int64
    ``codes`` (N,) in [0, n_units) covering every unit, a grid, a method that suits ``weights``
    (positive float64 (N,) or None)."""
    return _quantiles.unit_quantiles(y, codes, n_units, levels, method, weights)


def _as_1d_float(name: str, values: Any) -> np.ndarray:
    """A C-contiguous float64 1-D view or copy (never written to)."""
    try:
        arr = np.ascontiguousarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(message(name, "a numeric 1-D array", _short(values))) from None
    if arr.ndim != 1:
        raise ValueError(message(name, "a 1-D array", arr))
    return arr




def _short(values: Any) -> str:
    """A short repr for error messages."""
    text = repr(values) if not isinstance(values, np.ndarray) else np.array2string(values, threshold=8)
    return "<" + (text if len(text) <= 80 else text[:77] + "...") + ">"
