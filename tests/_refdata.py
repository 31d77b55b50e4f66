"""Load committed reference data (tests/reference), never the steering repo's shared folder.

Every CSV starts with ``#`` provenance lines (program, version, call, date).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REF = Path(__file__).resolve().parent / "reference"


def load_ref(name: str, sub: str = "r3d_r") -> pd.DataFrame:
    """Read ``tests/reference/<sub>/<name>`` (``.csv`` may be omitted)."""
    if not name.endswith(".csv"):
        name += ".csv"
    return pd.read_csv(REF / sub / name, comment="#")


def load_long(name: str) -> pd.DataFrame:
    """Raw draws (one row per draw: unit, x, y[, t]) from ``tests/reference/long``."""
    return load_ref(name, sub="long")


def ref_quantile_grid(m: int) -> np.ndarray:
    """The grids of the R reference files: (1..m)/(m+1)."""
    return np.arange(1, m + 1) / (m + 1)
