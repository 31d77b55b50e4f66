"""Long-format draws -> validated unit-level data.

The first step of the pipeline: one row per within-unit draw (a worker) with the
unit-level columns repeated. This module turns user columns into float arrays
and integer unit codes, checks that unit-level variables are constant within a
unit, and applies the missing-value policy (docs/errors.md lists its messages):

- rows with a missing outcome, or a missing or zero weight, are dropped and counted;
- a unit left with no draws is dropped, counted and warned about;
- a missing unit id, a non-finite running variable, a negative weight, a
  treatment that is not 0/1, or a running variable / treatment / cluster that
  varies within a unit is an error naming the argument (and the first offending unit).

Nothing here modifies the user's data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from r3d._ext import _grouping
from r3d._validation import DroppedDataWarning, Notes, message

__all__ = ["LongData", "ModelData", "Names", "UnitData", "as_float_array", "display_value", "prepare_long",
           "prepare_quantiles", "prepare_samples", "prepare_units"]


@dataclass(frozen=True, slots=True)
class UnitData:
    """Unit-level variables (one entry per unit, n units).

    Attributes
    ----------
    unit_ids : pandas.Index
        (n,) unit labels, in order of first appearance.
    x : ndarray
        (n,) running variable.
    t : ndarray or None
        (n,) treatment take-up in {0., 1.} (fuzzy design), else None.
    cluster_codes : ndarray or None
        (n,) integer cluster codes in [0, G), else None.
    cluster_ids : pandas.Index or None
        (G,) cluster labels.
    n_dropped_units : int
        Units removed because no valid draws (or quantiles) remained.
    """

    unit_ids: pd.Index
    x: np.ndarray
    t: np.ndarray | None
    cluster_codes: np.ndarray | None
    cluster_ids: pd.Index | None
    n_dropped_units: int = 0


@dataclass(frozen=True, slots=True)
class LongData:
    """Validated within-unit draws.

    Attributes
    ----------
    y : ndarray
        (N,) float64 outcome draws (rows with missing outcome or weight removed).
    codes : ndarray
        (N,) intp unit code of each draw, in [0, n); rows in the user's order.
    weights : ndarray or None
        (N,) float64 positive within-unit sampling weights, or None.
    """

    y: np.ndarray
    codes: np.ndarray
    weights: np.ndarray | None


@dataclass(frozen=True, slots=True)
class Names:
    """Labels of the model's variables (formula terms or Series names), for results and tables."""

    outcome: str = "outcome"
    running: str = "running"
    unit: str = "unit"
    treatment: str | None = None
    cluster: str | None = None


@dataclass(frozen=True, slots=True)
class ModelData:
    """Everything a model knows about its data, validated once at the public edge.

    Every constructor of ``R3D`` (long arrays, a formula, per-unit samples, a unit
    quantile matrix, an out-of-core engine) reduces its input to one of these; the model
    and every stage after it trust it.

    Attributes
    ----------
    units : UnitData
        Unit-level columns of the n units kept.
    names : Names
    draws : LongData or None
        The within-unit draws; None when only unit quantiles are known.
    qmat : ndarray or None
        (n, m) unit quantiles given by the user or computed out of core (then ``draws`` is None).
    grid : ndarray or None
        (m,) quantile levels of ``qmat``.
    quantile_method : str or None
        How ``qmat`` was computed ("user-supplied" for ``from_quantiles``).
    ndraws : int or None
        Draws behind the model (None when unknown).
    n_dropped_draws : int
        Rows dropped for a missing outcome or a missing/zero weight.
    n_single_draw_units : int or None
        Units with a single draw (None when unknown).
    notes : tuple of str
        Data warnings raised while building (repeated in every fit's notes).
    """

    units: UnitData
    names: Names
    draws: LongData | None = None
    qmat: np.ndarray | None = None
    grid: np.ndarray | None = None
    quantile_method: str | None = None
    ndraws: int | None = None
    n_dropped_draws: int = 0
    n_single_draw_units: int | None = None
    notes: tuple[str, ...] = ()


def as_float_array(name: str, values: Any, *, copy: bool = True) -> np.ndarray:
    """Return a new 1-D float64 array (missing values -> NaN) or raise naming ``name``.

    Accepts numpy arrays, lists, pandas Series including nullable dtypes
    (``Int64``, ``Float64``, ``boolean``) and ``pd.NA``. With ``copy=False`` float64 input
    is returned without a copy (for read-only use or arrays the caller hands over).
    """
    if isinstance(values, (pd.DataFrame,)):
        raise TypeError(message(name, "a 1-D array or Series", "<a DataFrame>", "Select one column."))
    if isinstance(values, (str, bytes)) or np.isscalar(values):
        raise TypeError(message(name, "a 1-D array-like of numbers", values))
    if isinstance(values, pd.Series | pd.Index):
        ser = values
    else:
        arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
        if arr.ndim != 1:
            raise ValueError(message(name, "1-dimensional", np.asarray(values), "Pass one value per row."))
        ser = pd.Series(arr, copy=False)
    if isinstance(ser.dtype, pd.CategoricalDtype):
        raise TypeError(message(name, "numeric", f"<a categorical column of dtype {ser.dtype}>"))
    if ser.dtype == object or pd.api.types.is_string_dtype(ser.dtype):
        try:
            ser = pd.to_numeric(ser, errors="raise")
        except (TypeError, ValueError):
            bad = next((v for v in ser if not _is_number_or_missing(v)), None)
            raise TypeError(
                message(name, "numeric", f"<non-numeric values such as {bad!r}>", "Convert the column to numbers.")
            ) from None
    if pd.api.types.is_bool_dtype(ser.dtype):
        ser = ser.astype("Float64") if isinstance(ser.dtype, pd.BooleanDtype) else ser.astype(float)
    if not (pd.api.types.is_numeric_dtype(ser.dtype)):
        raise TypeError(message(name, "numeric", f"<values of dtype {ser.dtype}>"))
    return ser.to_numpy(dtype=np.float64, na_value=np.nan, copy=copy)


def _is_number_or_missing(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def _codes(name: str, values: Any) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (order of first appearance) and labels for hashable ids."""
    if isinstance(values, pd.DataFrame):
        raise TypeError(message(name, "a 1-D array or Series of ids", "<a DataFrame>", "Select one column."))
    if np.isscalar(values):
        raise TypeError(message(name, "a 1-D array-like of ids", values))
    if not isinstance(values, (pd.Series, pd.Index, np.ndarray, pd.api.extensions.ExtensionArray)):
        values = pd.Series(list(values))
    try:
        codes, uniques = pd.factorize(values, sort=False, use_na_sentinel=True)
    except TypeError as exc:
        raise TypeError(message(name, "a 1-D array of hashable ids", f"<{exc}>")) from None
    codes = np.asarray(codes, dtype=np.intp)  # 1-D: pandas refuses other shapes
    n_missing = int((codes < 0).sum())
    if n_missing:
        raise missing_ids_error(name, n_missing)
    return codes, pd.Index(uniques, name=getattr(values, "name", None))


def _int64_ids(values: Any) -> np.ndarray | None:
    """``values`` as a contiguous int64 array when it is a 1-D numpy int64 column, else None."""
    if isinstance(values, pd.Series | pd.Index) and values.dtype == np.int64:
        values = values.to_numpy()
    if isinstance(values, np.ndarray) and values.dtype == np.int64 and values.ndim == 1:
        return np.ascontiguousarray(values)
    return None


#: String ids are hashed per run of equal ids (rows grouped by unit) while there are at most
#: N / STRING_RUNS_DIVISOR runs; beyond that, per row by pandas.
STRING_RUNS_DIVISOR = 4


def _string_runs(values: Any) -> np.ndarray | None:
    """Rows where runs of equal ids start, for an Arrow-backed string column (pandas' default
    string storage) without missing values whose rows come grouped; else None."""
    if not isinstance(values, pd.Series | pd.Index) or not isinstance(values.dtype, pd.StringDtype):
        return None
    if values.dtype.storage != "pyarrow" or len(values) < 2 or values.hasnans:
        return None
    import pyarrow as pa

    chunked = values.array.__arrow_array__()
    if isinstance(chunked, pa.ChunkedArray):
        if chunked.num_chunks != 1:
            return None
        chunked = chunked.chunk(0)
    large = pa.types.is_large_string(chunked.type)
    if not (large or pa.types.is_string(chunked.type)) or chunked.null_count:
        return None
    _, off_buf, data_buf = chunked.buffers()
    n = len(chunked)
    offsets = np.frombuffer(off_buf, dtype=np.int64 if large else np.int32)[chunked.offset : chunked.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, dtype=np.uint8)
    return _grouping.string_run_starts(np.ascontiguousarray(offsets, dtype=np.int64), data,
                                       n // STRING_RUNS_DIVISOR)


def _unit_codes(name: str, values: Any) -> tuple[np.ndarray, pd.Index, np.ndarray]:
    """Codes (order of first appearance), labels and first rows of the unit ids.

    Integer ids spanning a range not much wider than the number of rows are numbered by the
    compiled direct-addressing pass (the codes ``pandas.factorize`` gives, without hashing).
    String ids whose rows come grouped by unit are hashed once per run of equal ids (the run
    heads, by pandas, in the same order of first appearance) and the codes repeated over each
    run. Anything else goes to :func:`_codes`.
    """
    ids = _int64_ids(values)
    if ids is not None:
        got = _grouping.factorize_int64(ids)
        if got is not None:
            codes, first = got
            return codes, pd.Index(ids[first], name=getattr(values, "name", None)), first
    starts = _string_runs(values)
    if starts is not None:
        heads = values.iloc[starts] if isinstance(values, pd.Series) else values[starts]
        head_codes, unit_ids = _codes(name, heads)
        codes = np.repeat(head_codes, np.diff(np.append(starts, len(values))))
        return codes, unit_ids, starts[_first_rows(head_codes)]
    codes, unit_ids = _codes(name, values)
    return codes, unit_ids, _first_rows(codes)


def _first_rows(codes: np.ndarray) -> np.ndarray:
    """Index of the first row of each code.

    Codes numbered in order of first appearance (as :func:`_codes` makes them) start a new
    unit exactly where their running maximum increases: one O(N) pass, no sort.
    """
    if codes.shape[0] == 0:
        return np.empty(0, dtype=np.intp)
    running_max = np.maximum.accumulate(codes)
    new = np.empty(codes.shape[0], dtype=bool)
    new[0] = True
    np.not_equal(running_max[1:], running_max[:-1], out=new[1:])
    return np.flatnonzero(new)


def _unit_constant(name: str, values: np.ndarray, codes: np.ndarray, first: np.ndarray,
                   unit_ids: pd.Index, what: str) -> np.ndarray:
    """Per-unit value of a column that must be constant within a unit (NaN-aware)."""
    per_unit = values[first]
    bad_row = _grouping.first_varying(np.ascontiguousarray(values), np.ascontiguousarray(codes, dtype=np.intp),
                                      per_unit)
    if bad_row >= 0:
        raise varies_error(name, what, unit_ids[codes[bad_row]], per_unit[codes[bad_row]], values[bad_row])
    return per_unit


# ---------------------------------------------------------------------------------------------
# the data policy: one message per rule, shared by the in-memory and out-of-core paths
# ---------------------------------------------------------------------------------------------
def varies_error(name: str, what: str, unit: Any, a: Any, b: Any) -> ValueError:
    """A unit-level column takes two values (``a``, ``b``) within ``unit``."""
    return ValueError(
        f"`{name}` must be constant within each unit ({what}); it varies within unit {display_value(unit)} "
        f"(values {display_value(a)} and {display_value(b)}). "
        "Fix the data or aggregate to one value per unit."
    )


def missing_ids_error(name: str, n_missing: int) -> ValueError:
    """Rows without an id (unit or cluster)."""
    return ValueError(message(name, "free of missing ids", f"<{n_missing} rows with a missing id>",
                              "Drop those rows or give them an id."))


def empty_data_error() -> ValueError:
    """No rows at all."""
    return ValueError(message("outcome", "non-empty", "<0 rows>"))


def infinite_outcome_error() -> ValueError:
    """An outcome draw is infinite (missing ones are dropped, infinite ones are refused)."""
    return ValueError(message("outcome", "finite or missing", "<infinite values>", "Replace them by NaN or drop them."))


def bad_weights_error() -> ValueError:
    """A within-unit weight is negative or infinite."""
    return ValueError(
        message("weights", "finite and non-negative", "<negative or infinite weights>",
                "Sampling weights must be >= 0; rows with weight 0 or NaN are dropped.")
    )


def display_value(v: Any) -> str:
    """Plain repr for messages (no ``np.float64(...)`` wrappers)."""
    return repr(v.item()) if isinstance(v, np.generic) else repr(v)


def check_running(name: str, x: np.ndarray, unit_ids: pd.Index) -> None:
    """Every unit has a finite running variable."""
    bad = ~np.isfinite(x)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            message(name, "finite for every unit", f"<{int(bad.sum())} units with a missing or infinite value, "
                    f"first unit {display_value(unit_ids[i])}>", "Drop those units before fitting.")
        )


def check_treatment(name: str, t: np.ndarray, unit_ids: pd.Index) -> np.ndarray:
    """Take-up is 0 or 1 for every unit; returned as float64."""
    ok = (t == 0) | (t == 1)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise ValueError(
            message(name, "0/1 take-up for every unit (fuzzy design)",
                    f"<value {display_value(t[i])} for unit {display_value(unit_ids[i])}>",
                    "Code take-up as 0 (untreated) or 1 (treated); drop units with missing take-up.")
        )
    return t.astype(np.float64)


def prepare_long(
    outcome: Any,
    running: Any,
    unit: Any,
    *,
    treatment: Any = None,
    weights: Any = None,
    cluster: Any = None,
    names: Names | None = None,
    copy_outcome: bool = True,
) -> ModelData:
    """Validate long-format columns (one row per draw, rows in any order) and group them by unit.

    ``names`` defaults to the columns' Series names. ``copy_outcome=False`` keeps a float64
    ``outcome`` without copying it (for a new array the caller hands over, as ``from_formula``
    does); the other columns are only read.
    """
    if names is None:
        names = _names(running, treatment, cluster, outcome=outcome, unit=unit)
    y = as_float_array("outcome", outcome, copy=copy_outcome)
    n_rows = y.shape[0]
    if n_rows == 0:
        raise empty_data_error()
    x_rows = as_float_array("running", running, copy=False)  # read only: per-unit values are new arrays
    _same_length("running", x_rows, n_rows)
    codes, unit_ids, first = _unit_codes("unit", unit)
    _same_length("unit", codes, n_rows)

    x = _unit_constant("running", x_rows, codes, first, unit_ids, "it is a unit-level variable")
    check_running("running", x, unit_ids)

    t = None
    if treatment is not None:
        t_rows = as_float_array("treatment", treatment, copy=False)
        _same_length("treatment", t_rows, n_rows)
        t = _unit_constant("treatment", t_rows, codes, first, unit_ids, "take-up is unit-level")
        t = check_treatment("treatment", t, unit_ids)

    cl_codes = cl_ids = None
    if cluster is not None:
        # codes 0..G-1 in order of first appearance over the rows are also in that order over the
        # units (a cluster's first row lies in its first unit): per-unit values need no re-coding
        cl_rows, cl_ids = _codes("cluster", cluster)
        _same_length("cluster", cl_rows, n_rows, "one per row")
        cl_codes = _unit_constant("cluster", cl_rows.astype(np.float64), codes, first, unit_ids,
                                  "a cluster groups whole units").astype(np.intp)

    units = UnitData(unit_ids=unit_ids, x=x, t=t, cluster_codes=cl_codes, cluster_ids=cl_ids)
    w = None
    if weights is not None:
        w = as_float_array("weights", weights)
        _same_length("weights", w, n_rows)
    return _apply_missing_policy(units, y, codes, w, names)


def _apply_missing_policy(units: UnitData, y: np.ndarray, codes: np.ndarray, w: np.ndarray | None,
                          names: Names) -> ModelData:
    """Drop rows with a missing outcome or a missing/zero weight, then units left empty (warned)."""
    if w is None:  # one compiled pass: counts per unit, missing draws, infinite draws
        y = np.ascontiguousarray(y)
        codes = np.ascontiguousarray(codes, dtype=np.intp)
        counts, n_dropped_draws, first_inf = _grouping.draw_counts(y, codes, len(units.unit_ids))
        if first_inf >= 0:
            raise infinite_outcome_error()
        if n_dropped_draws:
            keep = ~np.isnan(y)
            y, codes = y[keep], codes[keep]
    else:
        if np.isinf(y).any():
            raise infinite_outcome_error()
        if np.isinf(w).any() or (w < 0).any():
            raise bad_weights_error()
        keep = ~np.isnan(y) & ~np.isnan(w) & (w > 0)
        n_dropped_draws = int(keep.shape[0] - keep.sum())
        if n_dropped_draws:
            y, codes, w = y[keep], codes[keep], w[keep]
        counts = np.bincount(codes, minlength=len(units.unit_ids))
    notes = Notes()
    empty = counts == 0
    if empty.any():
        units = _drop_units(units, ~empty)
        codes = (np.cumsum(~empty, dtype=np.intp) - 1)[codes]  # the kept units' new codes
        report_empty_units(int(empty.sum()), len(units.unit_ids), notes)
        counts = counts[~empty]
    return ModelData(units=units, names=names, draws=LongData(y=y, codes=codes, weights=w), ndraws=int(y.shape[0]),
                     n_dropped_draws=n_dropped_draws, n_single_draw_units=int((counts == 1).sum()), notes=notes.texts)


def report_empty_units(n_dropped: int, n_remaining: int, notes: Notes) -> None:
    """The one policy for units left without draws (in memory and out of core): an error if none
    remain, else a ``DroppedDataWarning`` that counts them."""
    if n_remaining == 0:
        raise ValueError(message("outcome", "non-missing for at least one unit", "<only missing values>"))
    notes.warn(
        f"{n_dropped} unit(s) have no valid draws (all outcomes or weights missing, or no draws) "
        f"and were dropped; {n_remaining} units remain.",
        DroppedDataWarning,
    )


def _drop_units(units: UnitData, keep: np.ndarray) -> UnitData:
    """Keep the units flagged in ``keep`` (n,)."""
    cl_codes, cl_ids = units.cluster_codes, units.cluster_ids
    if cl_codes is not None:
        c, idx = pd.factorize(cl_codes[keep], sort=False)
        cl_codes, cl_ids = np.asarray(c, dtype=np.intp), cl_ids[idx]
    return UnitData(
        unit_ids=units.unit_ids[keep],
        x=units.x[keep],
        t=None if units.t is None else units.t[keep],
        cluster_codes=cl_codes,
        cluster_ids=cl_ids,
        n_dropped_units=units.n_dropped_units + int((~keep).sum()),
    )


def _same_length(name: str, arr: Any, n: int, per: str = "one entry per row of `outcome`") -> None:
    if len(arr) != n:
        raise ValueError(message(name, f"of length {n} ({per})", f"<length {len(arr)}>"))


def _names(running: Any, treatment: Any, cluster: Any, outcome: Any = None, unit: Any = None) -> Names:
    """Labels from the inputs' Series names (default: the argument's name; None for an absent column)."""
    def name_of(obj: Any, default: str) -> str:
        return default if getattr(obj, "name", None) is None else str(obj.name)

    return Names(outcome=name_of(outcome, "outcome"), running=name_of(running, "running"), unit=name_of(unit, "unit"),
                 treatment=None if treatment is None else name_of(treatment, "treatment"),
                 cluster=None if cluster is None else name_of(cluster, "cluster"))


def prepare_units(
    running: Any,
    *,
    n_units: int,
    treatment: Any = None,
    cluster: Any = None,
    unit_ids: Any = None,
) -> UnitData:
    """Validate unit-level inputs given one entry per unit (``from_samples``/``from_quantiles``)."""
    per_unit = "one value per unit"
    x = as_float_array("running", running)
    _same_length("running", x, n_units, per_unit)
    if unit_ids is None:
        ids = pd.RangeIndex(n_units, name="unit")
    else:
        ids = pd.Index(unit_ids)
        _same_length("unit_ids", ids, n_units, per_unit)
        if ids.has_duplicates:
            raise ValueError(message("unit_ids", "unique", "<duplicated ids>"))
    check_running("running", x, ids)
    t = None
    if treatment is not None:
        t = as_float_array("treatment", treatment)
        _same_length("treatment", t, n_units, per_unit)
        t = check_treatment("treatment", t, ids)
    cl_codes = cl_ids = None
    if cluster is not None:
        cl_codes, cl_ids = _codes("cluster", cluster)
        _same_length("cluster", cl_codes, n_units, per_unit)
    return UnitData(unit_ids=ids, x=x, t=t, cluster_codes=cl_codes, cluster_ids=cl_ids)


def prepare_samples(
    samples: Sequence[Any],
    running: Any,
    *,
    treatment: Any = None,
    weights: Sequence[Any] | None = None,
    cluster: Any = None,
    unit_ids: Any = None,
) -> ModelData:
    """Validate R3D-R style input: a list of per-unit draw arrays (``Y_list``)."""
    if isinstance(samples, (str, bytes, pd.DataFrame)) or (
        isinstance(samples, np.ndarray) and samples.dtype != object and samples.ndim != 2
    ):
        raise TypeError(
            message("samples", "a list with one 1-D array of draws per unit", "<a " + type(samples).__name__ + ">",
                    "For long-format data use R3D(outcome, running, unit) or R3D.from_formula.")
        )
    samples = list(samples)
    n = len(samples)
    if n == 0:
        raise ValueError(message("samples", "a non-empty list of arrays", "<an empty list>"))
    units = prepare_units(running, n_units=n, treatment=treatment, cluster=cluster, unit_ids=unit_ids)
    ys = [as_float_array(f"samples[{i}]", np.ravel(s) if isinstance(s, np.ndarray) else s)
          for i, s in enumerate(samples)]
    lengths = np.array([a.shape[0] for a in ys], dtype=np.intp)
    y = np.concatenate(ys)
    codes = np.repeat(np.arange(n, dtype=np.intp), lengths)
    w = None
    if weights is not None:
        wl = list(weights)
        if len(wl) != n:
            raise ValueError(message("weights", f"a list of {n} arrays (one per unit)", f"<{len(wl)} arrays>"))
        ws = [as_float_array(f"weights[{i}]", np.ravel(s) if isinstance(s, np.ndarray) else s)
              for i, s in enumerate(wl)]
        for i, (a, b) in enumerate(zip(ys, ws, strict=True)):
            if a.shape != b.shape:
                raise ValueError(message(f"weights[{i}]", f"of length {a.shape[0]} like samples[{i}]",
                                         f"<length {b.shape[0]}>"))
        w = np.concatenate(ws)
    return _apply_missing_policy(units, y, codes, w, _names(running, treatment, cluster))


def prepare_quantiles(
    qmat: Any,
    running: Any,
    grid: np.ndarray,
    *,
    treatment: Any = None,
    cluster: Any = None,
    unit_ids: Any = None,
) -> ModelData:
    """Validate a precomputed unit quantile matrix (n units x m levels on ``grid``).

    Rows that are entirely missing are dropped with a warning; a row with some missing
    values, or a row that decreases, is an error.
    """
    if isinstance(qmat, pd.DataFrame):
        qmat = qmat.to_numpy(dtype=np.float64, na_value=np.nan)
    Q = np.array(qmat, dtype=np.float64, order="C", copy=True)  # the stages take C-contiguous arrays
    if Q.ndim != 2 or Q.shape[1] != grid.size:
        raise ValueError(message("qmat", f"a 2-D array with {grid.size} columns (one per quantile level)", Q))
    units = prepare_units(running, n_units=Q.shape[0], treatment=treatment, cluster=cluster, unit_ids=unit_ids)
    notes = Notes()
    nan_rows = np.isnan(Q)
    empty = nan_rows.all(axis=1)
    partial = nan_rows.any(axis=1) & ~empty
    if partial.any() or np.isinf(Q).any():
        i = int(np.flatnonzero(partial | np.isinf(Q).any(axis=1))[0])
        raise ValueError(message("qmat", "finite in every row that is not entirely missing",
                                 f"<non-finite values in the row of unit {display_value(units.unit_ids[i])}>"))
    if empty.any():
        units = _drop_units(units, ~empty)
        Q = Q[~empty]
        notes.warn(f"{int(empty.sum())} unit(s) have no quantiles (rows entirely missing) and were dropped; "
                   f"{Q.shape[0]} units remain.", DroppedDataWarning)
    dec = np.diff(Q, axis=1) < -1e-12 * np.maximum(1.0, np.abs(Q[:, 1:]))
    if dec.any():
        i = int(np.flatnonzero(dec.any(axis=1))[0])
        raise ValueError(message("qmat", "non-decreasing along each row (a quantile function)",
                                 f"<a decreasing row for unit {display_value(units.unit_ids[i])}>",
                                 "Check that columns follow `quantiles` in increasing order."))
    return ModelData(units=units, names=_names(running, treatment, cluster), qmat=Q, grid=grid,
                     quantile_method="user-supplied", notes=notes.texts)
