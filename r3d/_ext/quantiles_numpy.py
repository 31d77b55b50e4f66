"""NumPy twin of ``_quantiles.pyx`` (used only by the tests).

A plain loop over units calling ``numpy.quantile``, and a literal transcription of
Hmisc's ``wtd.quantile(type="quantile", normwt=TRUE)`` for weighted "linear".
"""

from __future__ import annotations

import numpy as np

# Same slack as the kernel's HMISC_CUMWEIGHT_RTOL: cumulative weights within 1e-12
# (relative) of the target order statistic count as reaching it.
HMISC_CUMWEIGHT_RTOL = 1e-12


def hmisc_wtd_quantile(x: np.ndarray, w: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Hmisc ``wtd.quantile(x, w, probs=levels, type="quantile", normwt=TRUE)``.

    Parameters
    ----------
    x, w : ndarray, shape (N,)
        Values and positive weights of one unit.
    levels : ndarray, shape (m,)

    Returns
    -------
    ndarray, shape (m,)
    """
    n = x.shape[0]
    w = w * n / w.sum()                          # normwt: weights sum to N
    values, inverse = np.unique(x, return_inverse=True)
    wts = np.bincount(inverse, weights=w)        # tied values merged, weights added
    cum = np.cumsum(wts)
    order = 1.0 + (n - 1) * levels
    low = np.maximum(np.floor(order), 1.0)
    high = np.minimum(low + 1.0, n)
    frac = order % 1.0

    def first_reaching(t: np.ndarray) -> np.ndarray:
        # approx(cum, values, xout=t, method="constant", f=1, rule=2)
        k = np.searchsorted(cum, t * (1.0 - HMISC_CUMWEIGHT_RTOL), side="left")
        return values[np.minimum(k, values.size - 1)]

    return (1.0 - frac) * first_reaching(low) + frac * first_reaching(high)


def normalise_weights(w: np.ndarray) -> np.ndarray:
    """One unit's weights rescaled as the kernel's ``_normalise_weights`` does: equal weights become
    exactly 1, others are divided by the power of two 2^e with max(w) / 2^e in [0.5, 1) (exact)."""
    if np.all(w == w[0]):
        return np.ones_like(w)
    return np.ldexp(w, -np.frexp(w.max())[1])


def unit_quantiles(
    y: np.ndarray,
    codes: np.ndarray,
    n_units: int,
    levels: np.ndarray,
    method: str = "linear",
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Row i = quantiles of ``y[codes == i]`` at ``levels``; shape (n_units, m)."""
    out = np.empty((n_units, levels.shape[0]))
    for i in range(n_units):
        sel = codes == i
        if weights is None:
            out[i] = np.quantile(y[sel], levels, method=method)
        elif method == "inverted_cdf":
            out[i] = np.quantile(y[sel], levels, weights=normalise_weights(weights[sel]), method="inverted_cdf")
        elif method == "linear":
            out[i] = hmisc_wtd_quantile(y[sel], normalise_weights(weights[sel]), levels)
        else:
            raise ValueError(f"weighted quantiles support 'linear' and 'inverted_cdf', not {method!r}")
    return out
