"""NumPy twin of ``_isotonic.pyx`` (used only by the tests): scipy's PAVA row by row."""

from __future__ import annotations

import numpy as np
from scipy.optimize import isotonic_regression


def isotonic_rows(y: np.ndarray) -> np.ndarray:
    """Row-wise non-decreasing least-squares fit; shape (n, m) -> (n, m)."""
    y = np.atleast_2d(np.asarray(y, dtype=np.float64))
    out = np.empty_like(y)
    for i in range(y.shape[0]):
        out[i] = isotonic_regression(y[i], increasing=True).x
    return out
