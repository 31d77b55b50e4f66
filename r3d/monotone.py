"""Monotone versions of curves over the quantile grid (docs/method.md §4, §5).

Two maps onto non-decreasing sequences, applied along the last axis:

- :func:`rearrange` sorts the values: the discrete Chernozhukov-Fernández-Val-Galichon
  rearrangement used by the ``simple`` estimator.
- :func:`isotonic` is the least-squares (equal weights) projection by
  pool-adjacent-violators, used by the ``frechet`` estimator and, row by row, for
  every unit's fitted curve in its bootstrap (compiled kernel ``r3d/_ext/_isotonic.pyx``).

Both treat grid points as equally weighted, whatever the spacing of the levels.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from r3d._ext import _isotonic
from r3d._validation import message, resolve_n_jobs

__all__ = ["rearrange", "isotonic"]


def rearrange(curve: ArrayLike) -> np.ndarray:
    """Monotone rearrangement: sort the values along the last axis.

    Parameters
    ----------
    curve : array_like, shape (m,) or (n, m)
        One curve over the grid, or one curve per row.

    Returns
    -------
    ndarray, same shape as ``curve``, float64
        A new array, non-decreasing along the last axis. An already monotone curve is
        returned unchanged.
    """
    return _sort(_as_curve(curve))


def _sort(arr: np.ndarray) -> np.ndarray:
    """:func:`rearrange` on a validated float64 array."""
    return np.sort(arr, axis=-1)


def isotonic(curve: ArrayLike, *, n_jobs: int | None = None) -> np.ndarray:
    """Least-squares projection onto non-decreasing sequences along the last axis.

    Pool-adjacent-violators with equal weights: the result minimises
    sum_j (curve_j - f_j)^2 over non-decreasing f; each value is the mean of a block of
    consecutive inputs. Equals ``scipy.optimize.isotonic_regression`` per row.

    Parameters
    ----------
    curve : array_like, shape (m,) or (n, m)
        One curve over the grid, or one curve per row (projected row by row).
    n_jobs : int, optional
        Accepted for compatibility and validated; it has no effect: r3d runs on one
        thread (``benchmarks/results/threads.md``).

    Returns
    -------
    ndarray, same shape as ``curve``, float64
        A new array.
    """
    resolve_n_jobs(n_jobs)
    return _project(_as_curve(curve))


def _project(arr: np.ndarray) -> np.ndarray:
    """:func:`isotonic` on a validated finite float64 array of shape (m,) or (n, m)."""
    rows = np.ascontiguousarray(arr.reshape(1, -1) if arr.ndim == 1 else arr)
    out = _isotonic.isotonic_rows(rows)
    return out.reshape(arr.shape)


def _as_curve(curve: ArrayLike) -> np.ndarray:
    """float64, 1-D or 2-D, finite (never written to)."""
    try:
        arr = np.asarray(curve, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(message("curve", "a numeric array of shape (m,) or (n, m)", "<non-numeric input>")) from None
    if arr.ndim not in (1, 2):
        raise ValueError(message("curve", "an array of shape (m,) or (n, m)", arr))
    if not np.all(np.isfinite(arr)):
        raise ValueError(message("curve", "finite values", "<non-finite values>"))
    return arr


