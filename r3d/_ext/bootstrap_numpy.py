"""NumPy twin of ``_bootstrap.pyx`` (used only by the tests).

Adds the terms ``xi[:, t] * A[rows[t]]`` one cluster at a time, in increasing ``t``, from
zero: the kernel's order of operations, so the two agree bit for bit.
"""

from __future__ import annotations

import numpy as np


def multiplier_product(xi: np.ndarray, A: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``out[b, j] = sum_t xi[b, t] A[rows[t], j]``; shapes (B, T), (G, m), (T,) -> (B, m)."""
    xi = np.asarray(xi, dtype=np.float64)
    A = np.asarray(A, dtype=np.float64)
    out = np.zeros((xi.shape[0], A.shape[1]))
    for t, g in enumerate(np.asarray(rows)):
        out = out + xi[:, t, None] * A[g][None, :]
    return out
