"""Unit quantiles of a Dask DataFrame on a Dask cluster (``R3D.from_formula``).

``R3D.from_formula(formula, data=<dask.dataframe.DataFrame>, ...)`` lands here. The
pipeline runs on the workers and only the per-unit summary (n rows) comes back:

1. each partition evaluates the formula with formulaic exactly as the in-memory path
   does (stateless terms only, see below) and tags every row with its position
   (partition number, row), the order of first appearance;
2. the rows are shuffled by unit, so that every unit lives in one partition;
3. each partition reduces its units with the compiled kernel of
   :func:`r3d.quantiles.unit_quantiles` (rows restored to their original order first),
   giving the counts and unit-level extremes of :class:`r3d.backends.UnitSummary` and
   the quantile rows, bit for bit those of the in-memory path;
4. the driver sorts the units by first appearance, applies the data policy and fits
   locally (:func:`r3d.backends.model_from_engine`).

:class:`DaskEngine` is the :class:`r3d.backends.UnitEngine` of this path: its
constructor checks the arguments on the frame's metadata (no computation), and
``unit_summary`` runs steps 1-3.

Formula terms are evaluated partition by partition, so a transform whose value at a row
depends on other rows (formulaic's stateful transforms, which learn from the data:
``center``, ``scale``, ``standardize``, ``poly``, splines; and ``lag``) would differ
from the in-memory path and is refused (:func:`r3d.formula.row_dependent_calls`);
compute such variables beforehand. Names the formula uses from the caller's scope
(:attr:`r3d.formula.FormulaTerms.scope_names`) are shipped to the workers (they must
pickle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from r3d._validation import message
from r3d.backends import UnitSummary, require
from r3d.data import Names, as_float_array
from r3d.formula import formula_terms, parse_formula, row_dependent_calls
from r3d.quantiles import QUANTILE_METHODS, WEIGHTED_METHODS, unit_quantiles

__all__ = ["DaskEngine", "partition_summary"]

#: Row key = partition number * 2**40 + row within the partition.
_PARTITION_STRIDE = 1 << 40


def _long_columns(pdf: pd.DataFrame, *, formula: str, context: dict, unit: str, treatment: str | None,
                  weights: str | None, cluster: str | None, partition_info: dict | None = None) -> pd.DataFrame:
    """Partition -> long columns u, y, x[, t][, w][, c], r (formula evaluated as in memory)."""
    cols = parse_formula(formula, pdf, context=context)
    part = 0 if partition_info is None else int(partition_info["number"])
    out = {"u": pdf[unit].reset_index(drop=True), "y": cols.outcome, "x": cols.running}  # Series keep their dtype
    if treatment is not None:
        out["t"] = as_float_array("treatment", pdf[treatment])
    if weights is not None:
        out["w"] = as_float_array("weights", pdf[weights])
    if cluster is not None:
        out["c"] = pdf[cluster].reset_index(drop=True)
    out["r"] = part * _PARTITION_STRIDE + np.arange(len(pdf), dtype=np.int64)
    return pd.DataFrame(out, index=pd.RangeIndex(len(pdf)))


def partition_summary(pdf: pd.DataFrame, *, levels: np.ndarray, method: str) -> pd.DataFrame:
    """Reduce whole units (a partition after the shuffle) to one summary row each.

    ``pdf`` has the columns u, y, x[, t][, w][, c], r of :func:`_long_columns` and all the
    rows of each of its units; rows with a missing unit id are ignored (counted by the
    caller). The result has one row per unit: u, r0, n_rows, n_draws, x_min, x_max,
    x_nan[, t_min, t_max, t_nan][, c_min, c_max, c_missing], y_inf, y_nan[, w_bad], q0..q{m-1}
    (quantiles at the (m,) ``levels`` by ``method`` of :func:`r3d.quantiles.unit_quantiles`).
    """
    pdf = pdf[pdf["u"].notna()].sort_values("r", kind="stable")
    codes, uniques = pd.factorize(pdf["u"], sort=False)
    n = len(uniques)
    y = pdf["y"].to_numpy(dtype=np.float64)
    valid = np.isfinite(y)
    has_w = "w" in pdf
    if has_w:
        w = pdf["w"].to_numpy(dtype=np.float64)
        valid &= ~np.isnan(w) & (w > 0) & np.isfinite(w)
    g = pdf.groupby(pd.Series(codes, index=pdf.index), sort=True)

    def count(rows: np.ndarray | None) -> np.ndarray:
        return np.bincount(codes, weights=rows, minlength=n).astype(np.int64)

    out: dict[str, Any] = {"u": pd.Series(uniques, dtype=pdf["u"].dtype), "r0": g["r"].min().to_numpy(dtype=np.int64),
                           "n_rows": count(None), "n_draws": count(valid)}
    for col in ("x", "t") if "t" in pdf else ("x",):
        out[f"{col}_min"] = g[col].min().to_numpy(dtype=np.float64)
        out[f"{col}_max"] = g[col].max().to_numpy(dtype=np.float64)
        out[f"{col}_nan"] = count(np.isnan(pdf[col].to_numpy(dtype=np.float64)))
    if "c" in pdf:
        out["c_min"] = g["c"].min().to_numpy(dtype=object)
        out["c_max"] = g["c"].max().to_numpy(dtype=object)
        out["c_missing"] = count(pdf["c"].isna().to_numpy())
    out["y_inf"] = count(np.isinf(y))
    out["y_nan"] = count(np.isnan(y))
    if has_w:
        out["w_bad"] = count((w < 0) | np.isinf(w))
    Q = np.full((n, levels.shape[0]), np.nan)
    has = out["n_draws"] > 0
    if has.any():
        sub = np.full(n, -1, dtype=np.intp)
        sub[has] = np.arange(int(has.sum()))
        Q[has] = unit_quantiles(y[valid], sub[codes[valid]], int(has.sum()), levels, method=method,
                                weights=w[valid] if has_w else None)
    qframe = pd.DataFrame(Q, columns=[f"q{j}" for j in range(levels.shape[0])])
    return pd.concat([pd.DataFrame(out), qframe], axis=1)


@dataclass(frozen=True, slots=True, eq=False)  # wraps a lazy frame: equal only to itself
class DaskEngine:
    """A Dask DataFrame reduced on its cluster (a :class:`r3d.backends.UnitEngine`).

    Build it with :meth:`from_formula`, which checks the arguments on the frame's
    metadata without computing anything.

    Attributes
    ----------
    data : dask.dataframe.DataFrame
        Long draws, partitioned in any way.
    formula : str
    context : dict
        The caller's names the formula uses, plus numpy (shipped to the workers).
    unit, treatment, weights, cluster : str or None
        Column names.
    names : r3d.data.Names
    quantile_methods : tuple of str
        Every numpy method; "linear" (Hmisc type 7) and "inverted_cdf" with weights.
    """

    data: Any
    formula: str
    context: dict
    unit: str
    treatment: str | None
    weights: str | None
    cluster: str | None
    names: Names
    quantile_methods: tuple[str, ...]

    @classmethod
    def from_formula(
        cls,
        formula: str,
        data: Any,
        *,
        unit: str,
        treatment: str | None = None,
        weights: str | None = None,
        cluster: str | None = None,
        context: dict | None = None,
    ) -> DaskEngine:
        """Check the arguments of ``R3D.from_formula`` against a Dask DataFrame (its metadata);
        ``context`` holds the names the formula may use (the caller's scope)."""
        dd = require("dask.dataframe", "dask", "R3D.from_formula with a Dask DataFrame")
        if not isinstance(data, dd.DataFrame):
            raise TypeError(message("data", "a pandas or dask DataFrame", f"<{type(data).__name__}>"))
        terms = formula_terms(formula)
        context = dict(context or {})
        bad = row_dependent_calls(terms, context)
        if bad:
            raise ValueError(
                message("formula", "free of transforms that learn from the data when `data` is a Dask DataFrame",
                        f"<{terms.formula!r} uses {bad[0]}(...)>",
                        "Partitions are evaluated separately; compute the variable beforehand (docs/bigdata.md).")
            )
        columns = list(data.columns)
        for name, col in (("unit", unit), ("treatment", treatment), ("weights", weights), ("cluster", cluster)):
            if (name == "unit" or col is not None) and (not isinstance(col, str | int) or col not in columns):
                shown = ", ".join(str(c) for c in columns[:12]) + (", ..." if len(columns) > 12 else "")
                raise ValueError(message(name, "the name of a column of `data`", col, f"Columns available: {shown}."))
        # the caller's names the formula looks up (shipped to the workers), plus numpy
        ctx = {"np": np} | {k: context[k] for k in terms.scope_names if k in context}
        cols = parse_formula(formula, data._meta, context=ctx)  # formula errors and names, before any work
        names = Names(outcome=cols.outcome_name, running=cols.running_name, unit=str(unit), treatment=treatment,
                      cluster=cluster)
        return cls(data=data, formula=formula, context=ctx, unit=unit, treatment=treatment, weights=weights,
                   cluster=cluster, names=names,
                   quantile_methods=WEIGHTED_METHODS if weights is not None else QUANTILE_METHODS)

    def unit_summary(self, grid: np.ndarray, quantile_method: str) -> UnitSummary:
        """One row per unit, quantiles at ``grid`` ((m,) levels) by ``quantile_method``,
        computed on the cluster."""
        import dask

        opts = {"formula": self.formula, "context": self.context, "unit": self.unit, "treatment": self.treatment,
                "weights": self.weights, "cluster": self.cluster}
        long_meta = _long_columns(self.data._meta, **opts)
        long = self.data.map_partitions(_long_columns, **opts, meta=long_meta)
        summary_meta = partition_summary(long_meta, levels=grid, method=quantile_method)
        per_unit = long.shuffle(on="u").map_partitions(partition_summary, levels=grid, method=quantile_method,
                                                       meta=summary_meta)
        frame, n_missing_unit = dask.compute(per_unit, long["u"].isna().sum())
        frame = frame.sort_values("r0", kind="stable").reset_index(drop=True)

        def col(name: str, dtype: Any) -> np.ndarray | None:
            return frame[name].to_numpy(dtype=dtype) if name in frame else None

        Q = frame[[f"q{j}" for j in range(grid.shape[0])]].to_numpy(dtype=np.float64)
        return UnitSummary.from_columns(col, frame["u"].to_numpy(), Q, int(n_missing_unit))
