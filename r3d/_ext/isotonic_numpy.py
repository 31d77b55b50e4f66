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


def side_residuals(Y, fitted_plus, fitted_minus, rows, on_right, weight_diff, project):
    """Twin of ``_isotonic.side_residuals``: (e, a), each (n, m), with NumPy and scipy."""
    Y = np.asarray(Y, dtype=np.float64)
    e = np.zeros(Y.shape)
    a = np.zeros(Y.shape)
    for k, i in enumerate(rows):
        f = (fitted_plus if on_right[k] else fitted_minus)[i]
        if project:
            f = isotonic_rows(f[None, :])[0]
        e[i] = Y[i] - f
        a[i] = weight_diff[i] * e[i]
    return e, a
