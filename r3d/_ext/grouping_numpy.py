"""NumPy twin of ``_grouping.pyx`` (used only by the tests): pandas hashing and whole-array
NumPy operations in place of the compiled single passes."""

from __future__ import annotations

import numpy as np
import pandas as pd


def factorize_int64(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes in order of first appearance and the first row of each code."""
    codes, _ = pd.factorize(ids, sort=False)
    _, first = np.unique(codes, return_index=True)
    return codes.astype(np.intp), first.astype(np.intp)


def first_varying(values: np.ndarray, codes: np.ndarray, per_unit: np.ndarray) -> int:
    """First row whose value differs from its unit's (NaN equals NaN), or -1."""
    expanded = per_unit[codes]
    same = (expanded == values) | (np.isnan(expanded) & np.isnan(values))
    bad = np.flatnonzero(~same)
    return int(bad[0]) if bad.size else -1


def draw_counts(y: np.ndarray, codes: np.ndarray, n_units: int) -> tuple[np.ndarray, int, int]:
    """Non-missing draws per unit, missing draws, first infinite draw (or -1)."""
    keep = ~np.isnan(y)
    inf = np.flatnonzero(np.isinf(y))
    return (np.bincount(codes[keep], minlength=n_units).astype(np.int64), int((~keep).sum()),
            int(inf[0]) if inf.size else -1)


def string_run_starts(strings: list[str], max_runs: int) -> np.ndarray | None:
    """Rows where a run of equal strings starts (None beyond ``max_runs`` runs)."""
    arr = np.asarray(strings, dtype=object)
    if arr.size == 0:
        return np.zeros(0, dtype=np.intp)
    starts = np.flatnonzero(np.r_[True, arr[1:] != arr[:-1]]).astype(np.intp)
    return None if starts.size > max_runs else starts
