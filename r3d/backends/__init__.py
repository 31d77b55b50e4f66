"""Out-of-core engines for the unit quantile matrix (issue 9).

On administrative micro data (every worker of every firm) the long table of draws does
not fit in a pandas DataFrame, but everything after the unit quantile matrix Q (n units
x m levels) is small. The engines here compute Q and the unit-level columns where the
data live and hand them to the model through one shared path:

- :mod:`r3d.backends.duckdb`: Parquet files (a path, a glob or a list) read by an
  embedded DuckDB, out of core (``R3D.from_parquet``);
- :mod:`r3d.backends.dask`: a ``dask.dataframe.DataFrame`` on a Dask cluster
  (``R3D.from_formula(..., data=<dask DataFrame>)``).

Both implement :class:`UnitEngine`: built from the user's arguments (which the engine
checks against its data: columns, formula), an engine reduces the draws to a
:class:`UnitSummary` (one row per unit: counts, the per-unit extremes of the unit-level
columns and the quantile row) for a grid and a quantile method. :func:`model_from_engine`
is the one path from an engine to a model: it checks the grid and the method, asks the
engine for the summary, and :func:`build_model` applies the data policy of
:mod:`r3d.data` to it (the same functions, so the same errors and warnings in the same
order) and builds the model from the resulting :class:`r3d.data.ModelData` like every
other constructor. A model built this way fits on its own grid only
(``from_quantiles`` semantics) and keeps the draw counts and the variable names.

Formulas are parsed once, by :func:`r3d.formula.formula_terms` (formulaic's grammar);
each engine derives what it needs from that parse (SQL for DuckDB, the names to ship
and the refusal of row-dependent transforms for Dask).

Units come in order of first appearance (files in the order given, a glob's files in
sorted order, rows in file order; Dask partitions in order), as ``pandas.concat`` of the
same pieces would give in memory, so that bootstrap draws, which are assigned in unit
order, are the same as on the in-memory path.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from r3d._validation import Notes, check_choice
from r3d.data import (
    Names,
    bad_weights_error,
    check_running,
    check_treatment,
    empty_data_error,
    infinite_outcome_error,
    missing_ids_error,
    prepare_quantiles,
    report_dropped_draws,
    report_empty_units,
    varies_error,
    zero_weights_error,
)
from r3d.quantiles import quantile_grid

__all__ = ["UnitEngine", "UnitSummary", "build_model", "model_from_engine", "require"]


#: The requirements of each optional feature, as in pyproject.toml's [project.optional-dependencies]
#: (tests/test_cli.py keeps the two equal). Hints name these packages, not ``r3d-rdd[extra]``: r3d-rdd is
#: not on the package index, so pip resolves ``r3d-rdd[extra]`` only where r3d-rdd is already installed,
#: not where r3d runs from a checkout on the path, while the packages themselves resolve anywhere.
OPTIONAL_REQUIREMENTS = {
    "parquet": ("pyarrow>=14",),
    "progress": ("tqdm>=4",),
    "duckdb": ("duckdb>=1.3",),
    "dask": ("dask[dataframe]>=2024.1", "distributed>=2024.1"),
}


def pip_command(extra: str) -> str:
    """The ``pip install`` command that brings the optional feature ``extra``, e.g. ``pip install "duckdb>=1.3"``."""
    return "pip install " + " ".join(f'"{req}"' for req in OPTIONAL_REQUIREMENTS[extra])


def require(module: str, extra: str, feature: str) -> Any:
    """Import ``module`` or raise an ImportError naming the command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{feature} needs the optional dependency {module.split('.')[0]!r}, which is not installed "
            f"({exc}). Install it with: {pip_command(extra)}"
        ) from None


@dataclass(frozen=True, slots=True)
class UnitSummary:
    """Per-unit reduction of the long draws, enough to apply the data policy.

    One entry per unit id present in the data (n of them, including units whose draws
    are all missing), in order of first appearance.

    Attributes
    ----------
    unit_ids : ndarray
        (n,) the original unit ids (any type, e.g. strings).
    n_rows : ndarray
        (n,) int64 rows of each unit.
    n_draws : ndarray
        (n,) int64 valid draws (finite outcome, positive weight) of each unit.
    x_min, x_max : ndarray
        (n,) float64 smallest and largest non-missing running value (NaN if none).
    x_nan : ndarray
        (n,) int64 rows with a missing running value.
    t_min, t_max, t_nan : ndarray or None
        The same for the treatment column (None without one).
    c_min, c_max : ndarray or None
        (n,) object smallest and largest non-missing cluster id (None without clusters).
    c_missing : ndarray or None
        (n,) int64 rows with a missing cluster id.
    Q : ndarray
        (n, m) float64 unit quantiles of the valid draws on the grid; rows of units
        without valid draws are NaN.
    n_missing_unit : int
        Rows with a missing unit id (an error).
    n_inf_outcome : int
        Rows with an infinite outcome (an error).
    n_bad_weight : int
        Rows with a negative or infinite weight (an error).
    n_missing_outcome : int
        Rows with a missing outcome (dropped; the other dropped rows have a zero or missing weight).
    """

    unit_ids: np.ndarray
    n_rows: np.ndarray
    n_draws: np.ndarray
    x_min: np.ndarray
    x_max: np.ndarray
    x_nan: np.ndarray
    t_min: np.ndarray | None
    t_max: np.ndarray | None
    t_nan: np.ndarray | None
    c_min: np.ndarray | None
    c_max: np.ndarray | None
    c_missing: np.ndarray | None
    Q: np.ndarray
    n_missing_unit: int = 0
    n_inf_outcome: int = 0
    n_bad_weight: int = 0
    n_missing_outcome: int = 0

    @classmethod
    def from_columns(cls, col: Callable[[str, Any], np.ndarray | None], unit_ids: np.ndarray, Q: np.ndarray,
                     n_missing_unit: int) -> UnitSummary:
        """An engine's per-unit result, with columns named after the fields plus ``y_inf``, ``y_nan`` and
        ``w_bad`` (rows with an infinite, a missing outcome, a bad weight); ``col(name, dtype)`` reads one as
        an array, or gives None where the engine has no such column (no treatment, weights or cluster)."""
        i8, f8 = np.int64, np.float64
        w_bad = col("w_bad", i8)
        return cls(unit_ids=unit_ids, n_rows=col("n_rows", i8), n_draws=col("n_draws", i8), x_min=col("x_min", f8),
                   x_max=col("x_max", f8), x_nan=col("x_nan", i8), t_min=col("t_min", f8), t_max=col("t_max", f8),
                   t_nan=col("t_nan", i8), c_min=col("c_min", object), c_max=col("c_max", object),
                   c_missing=col("c_missing", i8), Q=Q, n_missing_unit=n_missing_unit,
                   n_inf_outcome=int(col("y_inf", i8).sum()), n_bad_weight=0 if w_bad is None else int(w_bad.sum()),
                   n_missing_outcome=int(col("y_nan", i8).sum()))


def _unit_constant(name: str, what: str, s: UnitSummary, lo: np.ndarray, hi: np.ndarray,
                   n_nan: np.ndarray) -> np.ndarray:
    """Per-unit value of a unit-level column, or the error of ``r3d.data`` for the first unit
    (in order) where it takes two values (a missing value counts as one)."""
    differ = np.zeros(lo.shape[0], dtype=bool)
    ok = ~pd.isna(lo)
    differ[ok] = np.asarray(lo[ok] != hi[ok], dtype=bool)
    bad = differ | ((n_nan > 0) & (n_nan < s.n_rows))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise varies_error(name, what, s.unit_ids[i], lo[i], hi[i] if differ[i] else np.nan)
    return lo


def build_model(cls: type, s: UnitSummary, *, grid: np.ndarray, quantile_method: str, cutoff: Any,
                names: Names, formula: str | None = None) -> Any:
    """Apply the data policy of :mod:`r3d.data` to a summary and build ``cls`` (``R3D``) from it.

    Checks, in the order of :func:`r3d.data.prepare_long`: rows present, unit ids,
    running (constant, finite), treatment (constant, in [0, 1]), cluster (no missing id,
    constant), outcomes (no infinite value), weights (finite, non-negative); then units
    without valid draws are dropped with a :class:`~r3d.DroppedDataWarning`.
    ``grid`` holds the levels of ``s.Q``, and ``quantile_method`` (the method that produced
    them) is recorded in the results.
    """
    n = s.unit_ids.shape[0]
    if n == 0 and s.n_missing_unit == 0:
        raise empty_data_error()
    if s.n_missing_unit:
        raise missing_ids_error("unit", s.n_missing_unit)
    ids = pd.Index(s.unit_ids, name=names.unit)
    x = _unit_constant("running", "it is a unit-level variable", s, s.x_min, s.x_max, s.x_nan)
    check_running("running", x, ids)
    t = None
    if s.t_min is not None:
        t = _unit_constant("treatment", "take-up is unit-level", s, s.t_min, s.t_max, s.t_nan)
        check_treatment("treatment", t, ids)
    c = None
    if s.c_min is not None:
        n_missing = int(s.c_missing.sum())
        if n_missing:
            raise missing_ids_error("cluster", n_missing)
        c = _unit_constant("cluster", "a cluster groups whole units", s, s.c_min, s.c_max, s.c_missing)
    if s.n_inf_outcome:
        raise infinite_outcome_error()
    if s.n_bad_weight:
        raise bad_weights_error()
    notes = Notes()
    ndraws = int(s.n_draws.sum())
    n_outcome = s.n_missing_outcome
    n_weight = int(s.n_rows.sum()) - ndraws - n_outcome
    if ndraws:
        report_dropped_draws(n_outcome, n_weight, ndraws, notes)
    elif n_weight:
        raise zero_weights_error(n_weight)
    keep = s.n_draws > 0
    n_dropped_units = int(n - keep.sum())
    if n_dropped_units:
        report_empty_units(n_dropped_units, int(keep.sum()), notes)
    data = prepare_quantiles(s.Q[keep], x[keep], grid, treatment=None if t is None else t[keep],
                             cluster=None if c is None else c[keep], unit_ids=ids[keep])
    data = dataclasses.replace(
        data, units=dataclasses.replace(data.units, n_dropped_units=n_dropped_units), names=names,
        quantile_method=quantile_method, ndraws=ndraws, n_dropped_draws=int(s.n_rows.sum()) - ndraws,
        notes=notes.texts + data.notes, draw_counts=np.asarray(s.n_draws[keep], dtype=np.int64))
    return cls._from_data(data, cutoff=cutoff, formula=formula)


@runtime_checkable
class UnitEngine(Protocol):
    """What an out-of-core engine provides: the draws, reduced where they live.

    An engine is built by its own constructor from the user's arguments, which it checks
    against the data (columns exist and have usable types, the formula's terms can be
    computed there). :func:`model_from_engine` does the rest.

    Attributes
    ----------
    names : r3d.data.Names
        Labels of the outcome and running terms (as formulaic names them in memory) and
        of the unit, treatment and cluster columns.
    quantile_methods : tuple of str
        The quantile methods the engine computes (with the data it was given).
    """

    @property
    def names(self) -> Names: ...

    @property
    def quantile_methods(self) -> tuple[str, ...]: ...

    def unit_summary(self, grid: np.ndarray, quantile_method: str) -> UnitSummary:
        """Reduce the draws to one row per unit, unit quantiles at ``grid`` ((m,) levels,
        increasing, in (0, 1)) by ``quantile_method`` (one of ``quantile_methods``)."""
        ...


def model_from_engine(cls: type, engine: UnitEngine, *, quantiles: Any, quantile_method: str, cutoff: Any,
                      formula: str | None = None) -> Any:
    """Build ``cls`` (``R3D``) from an out-of-core engine: engine -> :class:`UnitSummary` -> :func:`build_model`.

    ``quantiles`` is the grid (default 0.01..0.99), on which alone the model fits;
    ``quantile_method`` must be one of ``engine.quantile_methods``; ``formula`` is recorded
    on the model.
    """
    method = check_choice("quantile_method", quantile_method, engine.quantile_methods)
    grid = quantile_grid(quantiles)
    summary = engine.unit_summary(grid, method)
    return build_model(cls, summary, grid=grid, quantile_method=method, cutoff=cutoff, names=engine.names,
                       formula=formula)
