"""Long-format draws -> validated unit-level data.

The first step of the pipeline: one row per within-unit draw (a worker) with the
unit-level columns repeated. This module turns user columns into float arrays
and integer unit codes, checks that unit-level variables are constant within a
unit, and applies the missing-value policy (docs/errors.md lists its messages):

- numbers and booleans only (:func:`numeric_series`; strings, even numeric-looking ones,
  categoricals, dates and complex numbers are refused), and pandas inputs given side by
  side share their index (:func:`check_aligned`);
- rows with a missing outcome, or a missing or zero weight, are dropped, counted and warned about;
- a unit left with no draws is dropped, counted and warned about;
- a missing unit id, a non-finite running variable, a negative weight, no positive weight,
  a treatment outside [0, 1], fewer than 2 clusters, or a running variable / treatment /
  cluster that varies within a unit is an error naming the argument (and the first
  offending unit);
- fewer than :data:`MIN_CLUSTERS` clusters, and units that are all point masses, are warned about.

Nothing here modifies the user's data.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import itertools
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from r3d._ext import _grouping
from r3d._validation import DroppedDataWarning, Notes, PointMassWarning, SmallSampleWarning, message

__all__ = ["CovariateColumns", "LongData", "ModelData", "Names", "UnitData", "as_float_array", "covariate_columns",
           "display_value", "independent_columns", "prepare_long", "prepare_quantiles", "prepare_samples",
           "prepare_units", "subset_data"]


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
        (n,) treatment take-up in [0, 1] (0/1, or a cell's share that took up; fuzzy design), else None.
    cluster_codes : ndarray or None
        (n,) integer cluster codes in [0, G), else None.
    cluster_ids : pandas.Index or None
        (G,) cluster labels.
    n_dropped_units : int
        Units removed because no valid draws (or quantiles) remained.
    covariates : ndarray or None
        (n, k) float64, C-contiguous unit-level covariates (METHOD_EXTENSIONS §9) after dummy
        expansion of categorical ones and after dropping columns collinear with the intercept
        and the columns before them; None without covariates. Labelled by ``Names.covariates``.
    unit_weights : ndarray or None
        (n,) positive unit weights omega_i (cell sizes, survey weights of units; METHOD_EXTENSIONS
        §12), multiplying the kernel weights of every local fit; None without them (units with
        weight 0 are dropped at the edge, counted and warned about).
    """

    unit_ids: pd.Index
    x: np.ndarray
    t: np.ndarray | None
    cluster_codes: np.ndarray | None
    cluster_ids: pd.Index | None
    n_dropped_units: int = 0
    covariates: np.ndarray | None = None
    unit_weights: np.ndarray | None = None


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
    #: One label per column of ``UnitData.covariates``, in order (empty without covariates).
    covariates: tuple[str, ...] = ()
    #: Label of the unit weights (None without them).
    unit_weights: str | None = None


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
    draw_counts : ndarray or None
        (n,) int64 draws each unit keeps (None when unknown: built from a quantile matrix); the
        few-draws diagnostic reads them (:mod:`r3d.fewdraws`).
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
    draw_counts: np.ndarray | None = None


def as_float_array(name: str, values: Any, *, copy: bool = True) -> np.ndarray:
    """Return a new 1-D float64 array (missing values -> NaN) or raise naming ``name``.

    Accepts numpy arrays, lists, pandas Series including nullable dtypes
    (``Int64``, ``Float64``, ``boolean``) and ``pd.NA``: numbers and booleans only
    (:func:`numeric_series` states the rule). With ``copy=False`` float64 input is
    returned without a copy (for read-only use or arrays the caller hands over).
    """
    if isinstance(values, (pd.DataFrame,)):
        raise TypeError(message(name, "a 1-D array or Series", "<a DataFrame>", "Select one column."))
    if isinstance(values, (str, bytes)) or np.isscalar(values):
        raise TypeError(message(name, "a 1-D array-like of numbers", values))
    if isinstance(values, pd.Series):
        ser = values
    elif isinstance(values, pd.Index | pd.api.extensions.ExtensionArray):
        ser = pd.Series(values, copy=False)
    else:
        arr = values if isinstance(values, np.ndarray) else _list_array(values)
        if arr.ndim != 1:
            raise ValueError(message(name, "1-dimensional", arr, "Pass one value per row."))
        ser = pd.Series(arr, copy=False)
    ser = numeric_series(name, ser)
    if pd.api.types.is_bool_dtype(ser.dtype):
        ser = ser.astype("Float64") if isinstance(ser.dtype, pd.BooleanDtype) else ser.astype(float)
    return ser.to_numpy(dtype=np.float64, na_value=np.nan, copy=copy)


def _list_array(values: Any) -> np.ndarray:
    """A list as numpy infers it (numbers, strings, or object when it mixes in None or is ragged)."""
    try:
        return np.asarray(values)
    except (ValueError, TypeError):
        return np.asarray(values, dtype=object)


def numeric_series(name: str, ser: pd.Series) -> pd.Series:
    """``ser`` if its dtype is numeric or boolean; an object column holding only numbers,
    booleans and missing values as float64; anything else is a ``TypeError`` naming ``name``
    (also how the fix spells the column), the dtype and the fix.

    The one rule for every numeric input (arrays, lists, Series, columns a formula reads):
    strings are refused even when they look like numbers (``"1,5"`` or ``"1e3"`` would be read
    one way or another without a word), and so are categoricals, dates, durations, complex
    numbers and other objects.
    """
    expr = name
    dtype = ser.dtype
    what = "values" if getattr(ser, "name", None) is None else f"column {ser.name!r}"
    if isinstance(dtype, pd.CategoricalDtype):
        raise _not_numeric(name, f"<categorical {what} of dtype {dtype}>",
                           f"Convert it to numbers first, e.g. pd.to_numeric({expr}.astype(str)) when its "
                           "categories are numbers.")
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        values = ser.to_numpy()
        bad = next((v for v in values if not _is_number_or_missing(v)), _ALL_NUMBERS)
        if bad is _ALL_NUMBERS:
            return pd.Series([np.nan if _is_missing(v) else float(v) for v in values], index=ser.index,
                             name=ser.name, dtype=np.float64)
        raise _not_numeric(name, f"<{what} of dtype object holding {type(bad).__name__} values such as {bad!r}>",
                           _fix_for_value(bad, expr))
    if getattr(dtype, "kind", None) == "c":
        raise _not_numeric(name, f"<complex {what} of dtype {dtype}>", _COMPLEX_FIX.format(expr=expr))
    if getattr(dtype, "kind", None) in ("m", "M") or isinstance(dtype, pd.DatetimeTZDtype | pd.PeriodDtype):
        raise _not_numeric(name, f"<{what} of dtype {dtype}>", _DATES_FIX)
    if pd.api.types.is_string_dtype(dtype):
        raise _not_numeric(name, f"<{what} of dtype {dtype} (strings)>", _STRINGS_FIX.format(expr=expr))
    if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
        raise _not_numeric(name, f"<{what} of dtype {dtype}>", f"Convert it to numbers first (pd.to_numeric({expr})).")
    return ser


_ALL_NUMBERS = object()
_STRINGS_FIX = ("Strings are never converted silently (\"1,5\" or \"1e3\" could be read either way): "
                "convert them yourself after checking them, e.g. pd.to_numeric({expr}).")
_COMPLEX_FIX = "R3D needs real numbers: pass np.real({expr}) if the imaginary part is meaningless."
_DATES_FIX = "Convert dates to a number first, e.g. days since a reference date (a running variable in days)."


def _not_numeric(name: str, received: str, fix: str) -> TypeError:
    return TypeError(message(name, "numeric or boolean", received, fix))


def _fix_for_value(v: Any, expr: str) -> str:
    if isinstance(v, str | bytes):
        return _STRINGS_FIX.format(expr=expr)
    if isinstance(v, numbers.Complex):
        return _COMPLEX_FIX.format(expr=expr)
    if isinstance(v, datetime.date | datetime.timedelta | np.datetime64 | np.timedelta64):
        return _DATES_FIX
    return f"Convert it to numbers first (pd.to_numeric({expr}))."


def _is_missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float | np.floating) and v != v)


def _is_number_or_missing(v: Any) -> bool:
    """A real number (bool included), an exact decimal, or a missing value (None, NaN, pd.NA)."""
    return _is_missing(v) or isinstance(v, numbers.Real | np.bool_ | decimal.Decimal)


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
# unit-level covariates (METHOD_EXTENSIONS §9)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CovariateColumns:
    """Covariates as given (one row per draw, or per unit), expanded to numbers.

    Attributes
    ----------
    values : ndarray
        (rows, k) float64: numeric columns as they are, each categorical column as the dummies
        of formulaic's treatment coding (first level dropped; no intercept column).
    names : tuple of str
        (k,) labels: the column name, ``"sector[T.b]"`` for a dummy, ``"covariates[j]"`` for
        column j of an array.
    """

    values: np.ndarray
    names: tuple[str, ...]


#: Relative tolerance for a covariate column to count as a linear combination of the intercept
#: and the columns kept before it: the norm of what is left after projecting it on them, relative
#: to its own norm. Exact combinations leave ~1e-15 (rounding); a genuine covariate leaves far more.
COLLINEAR_RTOL = 1e-9

_MISSING_COVARIATE_FIX = ("r3d never drops units for a missing covariate: drop those units or impute the values "
                          "yourself before building the model.")


def _is_categorical(ser: pd.Series) -> bool:
    """Pandas categoricals, string dtypes, and object columns holding strings expand to dummies."""
    dtype = ser.dtype
    if isinstance(dtype, pd.CategoricalDtype | pd.StringDtype):
        return True
    if isinstance(dtype, np.dtype) and dtype.kind in "SU":
        return True
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        return any(isinstance(v, str) for v in ser.to_numpy())
    return False


def _dummies(label: str, ser: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Treatment-coded dummies of a categorical column (formulaic's ``C(...)``, reference level dropped)."""
    import formulaic

    frame = pd.DataFrame({"v": ser.to_numpy() if not isinstance(ser.dtype, pd.CategoricalDtype) else ser.array})
    mm = formulaic.model_matrix("1 + C(v)", frame, na_action="raise", ensure_full_rank=True)
    cols = [c for c in mm.columns if c != "Intercept"]
    names = [f"{label}{c[len('C(v)'):]}" for c in cols]
    return np.asarray(mm[cols].to_numpy(dtype=np.float64)), names


def covariate_columns(covariates: Any, n_rows: int, per: str) -> CovariateColumns:
    """Read ``covariates`` (a DataFrame, a 2-D array, a Series or a 1-D array with ``n_rows`` rows)
    into numbers: numeric and boolean columns as they are, categorical ones (pandas categoricals,
    strings) as treatment-coded dummies. A missing value is an error naming the column (nothing is
    silently dropped); so is any other non-numeric column (the rules of :func:`numeric_series`)."""
    if isinstance(covariates, pd.Series):
        covariates = covariates.to_frame(name="covariates" if covariates.name is None else covariates.name)
    if isinstance(covariates, pd.DataFrame):
        frame = covariates
        labels = [str(c) for c in frame.columns]
        columns = [frame.iloc[:, j] for j in range(frame.shape[1])]
    else:
        if isinstance(covariates, (str, bytes)) or np.isscalar(covariates):
            raise TypeError(message("covariates", "a DataFrame, a 2-D array or a Series (one row per "
                                    + per + ")", covariates))
        arr = covariates if isinstance(covariates, np.ndarray) else _list_array(covariates)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2:
            raise ValueError(message("covariates", "a 2-D array (one row per " + per + ", one column per "
                                     "covariate)", arr))
        labels = [f"covariates[{j}]" for j in range(arr.shape[1])]
        columns = [pd.Series(arr[:, j], copy=False) for j in range(arr.shape[1])]
    if len(columns) == 0:
        raise ValueError(message("covariates", "at least one column", "<no columns>",
                                 "Omit `covariates` for the unadjusted fit."))
    if len(columns[0]) != n_rows:
        raise ValueError(message("covariates", f"of length {n_rows} (one row per {per})",
                                 f"<{len(columns[0])} rows>"))
    blocks, names = [], []
    for label, col in zip(labels, columns, strict=True):
        n_missing = int(col.isna().sum())
        if n_missing:
            raise ValueError(message("covariates", "free of missing values",
                                     f"<{n_missing} missing value(s) in column {label!r}>", _MISSING_COVARIATE_FIX))
        if _is_categorical(col):
            values, dummy_names = _dummies(label, col)
            blocks.append(values)
            names.extend(dummy_names)
        else:
            blocks.append(as_float_array(f"covariates[{label!r}]", col, copy=False).reshape(-1, 1))
            names.append(label)
    values = np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float64)
    bad = ~np.isfinite(values).all(axis=0)
    if bad.any():
        first_bad = names[int(np.flatnonzero(bad)[0])]
        raise ValueError(message("covariates", "finite", f"<infinite values in column {first_bad!r}>",
                                 _MISSING_COVARIATE_FIX))
    return CovariateColumns(values=values, names=tuple(names))


def independent_columns(Z: np.ndarray, scale: np.ndarray | None = None, *, intercept: bool = True,
                        reference: np.ndarray | None = None) -> np.ndarray:
    """(k,) mask of the columns of ``Z`` (n, k) that are not (to :data:`COLLINEAR_RTOL`) a linear
    combination of the intercept (with ``intercept``) and the columns kept before them, in order
    (rdrobust's ``covs_drop`` keeps the first of collinear columns too). ``scale`` (n,) weights the
    rows (square roots of kernel weights); the norm each column is compared with is that of
    ``scale * reference[:, j]`` (default ``reference = Z``; residuals of ``Z`` are compared with the
    covariates they came from, so a covariate the residualising fit explains is dropped)."""
    n, k = Z.shape
    s = np.ones(n) if scale is None else scale
    basis = np.empty((n, 0))
    if intercept:
        norm = np.linalg.norm(s)
        basis = (s / norm).reshape(-1, 1) if norm > 0 else basis
    keep = np.zeros(k, dtype=bool)
    for j in range(k):
        v = s * Z[:, j]
        size = np.linalg.norm(v if reference is None else s * reference[:, j])
        r = v.copy()
        for _ in range(2):  # Gram-Schmidt twice: orthogonal to rounding
            r -= basis @ (basis.T @ r)
        rest = np.linalg.norm(r)
        if size > 0 and rest > COLLINEAR_RTOL * size:
            keep[j] = True
            basis = np.column_stack([basis, r / rest])
    return keep


def _drop_collinear(units: UnitData, names: Names, notes: Notes) -> tuple[UnitData, Names]:
    """Drop covariates constant over the units or collinear with the ones before them, warning with
    their names; without any left the model has no covariates (and says so)."""
    Z = units.covariates
    if Z is None:
        return units, names
    keep = independent_columns(Z)
    if keep.all():
        return units, names
    dropped = [n for n, k in zip(names.covariates, keep, strict=True) if not k]
    if not keep.any():
        notes.warn(f"Every covariate is constant over the units or collinear with the others "
                   f"({', '.join(dropped)}): the model has no covariates, and fits are unadjusted.",
                   DroppedDataWarning)
        return dataclasses.replace(units, covariates=None), dataclasses.replace(names, covariates=())
    notes.warn(f"Covariate(s) {', '.join(dropped)} dropped: constant over the units or a linear combination of "
               "the covariates before them (they add nothing to the adjustment).", DroppedDataWarning)
    kept = tuple(n for n, k in zip(names.covariates, keep, strict=True) if k)
    return (dataclasses.replace(units, covariates=np.ascontiguousarray(Z[:, keep])),
            dataclasses.replace(names, covariates=kept))


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
    """Take-up is a share in [0, 1] for every unit (0/1 for individual units; the share that took up
    for a cell, METHOD_EXTENSIONS §12); returned as float64."""
    ok = (t >= 0) & (t <= 1)  # False for NaN
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise ValueError(
            message(name, "take-up in [0, 1] for every unit (fuzzy design: 0/1, or the share of a cell that took up)",
                    f"<value {display_value(t[i])} for unit {display_value(unit_ids[i])}>",
                    "Code take-up as 0 (untreated), 1 (treated) or a share in between; drop units with missing "
                    "take-up.")
        )
    return t.astype(np.float64)


def check_aligned(*args: tuple[str, Any]) -> None:
    """pandas inputs given side by side carry the same index (in the same order), or a ``ValueError``
    names both arguments: rows are paired by position, never silently matched or mismatched by label
    (statsmodels refuses misaligned indexes too). Pairs of different lengths are left to the length
    checks; arrays and lists have no index and pair by position."""
    indexed = [(n, v) for n, v in args if isinstance(v, pd.Series | pd.DataFrame)]
    for (n0, v0), (n, v) in itertools.pairwise(indexed):
        a, b = v0.index, v.index
        if a is b or len(a) != len(b) or a.equals(b):
            continue
        same_labels = not (a.has_duplicates or b.has_duplicates) and a.sort_values().equals(b.sort_values())
        how = ("has the same labels in another order" if same_labels else
               f"has other labels (first difference at position {_first_difference(a, b, n0)})")
        raise ValueError(message(
            n, f"indexed like `{n0}` (r3d pairs their rows by position, and both are pandas objects)",
            f"<an index that {how}>",
            f"Align them on the index first (e.g. `{n} = {n}.reindex({n0}.index)`), or, if the rows already "
            "match by position, pass every argument with .reset_index(drop=True) or .to_numpy()."))


def _first_difference(a: pd.Index, b: pd.Index, name_a: str) -> str:
    i = int(np.flatnonzero(np.asarray(a != b))[0])
    return f"{i}: {display_value(b[i])} where `{name_a}` has {display_value(a[i])}"


#: Fewer clusters than this is warned about. Cluster-robust variances (and the multiplier
#: bootstrap, which draws one multiplier per cluster) treat clusters as the independent
#: observations; with few of them they are biased down and tests over-reject. Cameron and
#: Miller (2015, "A Practitioner's Guide to Cluster-Robust Inference", J. Human Resources,
#: section VI) place "few" somewhere below 20 to 50 clusters; 20 is the lower end, so the
#: warning fires where the problem is well documented and not on, say, 50 US states.
MIN_CLUSTERS = 20


def check_clusters(units: UnitData, notes: Notes) -> None:
    """At least 2 clusters among the units kept (an error), and a warning below :data:`MIN_CLUSTERS`."""
    if units.cluster_ids is None:
        return
    n_clusters = len(units.cluster_ids)
    if n_clusters < 2:
        raise ValueError(message(
            "cluster", "made of at least 2 distinct clusters (the variance is computed from differences between "
            "clusters)", f"<1 cluster: every unit is in cluster {display_value(units.cluster_ids[0])}>",
            "Omit `cluster` for inference with independent units, or cluster at a finer level."))
    if n_clusters < MIN_CLUSTERS:
        notes.warn(
            f"Only {n_clusters} clusters in `cluster` (fewer than {MIN_CLUSTERS}): cluster-robust standard errors, "
            "bands and tests treat the clusters as the independent observations and tend to be too small with "
            "so few of them. Report them with this caveat, or omit `cluster` if the units are independent.",
            SmallSampleWarning)


def report_point_mass(notes: Notes, what: str) -> None:
    """Every unit's distribution is a point mass (``what`` says why): warn what R3D then estimates."""
    notes.warn(
        f"{what}, so each unit's distribution is a point mass: tau(q) is then the same at every quantile "
        "level and equals an ordinary RD estimate on the units' values. Is this the long data you meant "
        "(one row per draw within a unit), or were the data collapsed to unit level?",
        PointMassWarning)


def zero_weights_error(n_weight: int) -> ValueError:
    """Every draw with an outcome has a zero or missing weight (in memory and out of core)."""
    return ValueError(message("weights", "positive for at least one draw with an outcome",
                              f"<every weight of the {n_weight} draws with an outcome is 0 or missing>",
                              "Check the weights column: rows with weight 0 or NaN are dropped."))


def report_dropped_draws(n_outcome: int, n_weight: int, n_kept: int, notes: Notes) -> None:
    """Draws dropped for a missing outcome (``n_outcome``) or a zero or missing weight (``n_weight``),
    counted and warned about (a ``DroppedDataWarning``; nothing is dropped without a word)."""
    reasons = []
    if n_outcome:
        reasons.append(f"{n_outcome} with a missing outcome")
    if n_weight:
        reasons.append(f"{n_weight} with a zero or missing weight")
    if reasons:
        notes.warn(f"{n_outcome + n_weight} draw(s) dropped ({' and '.join(reasons)}); {n_kept} draws remain.",
                   DroppedDataWarning)


def prepare_long(
    outcome: Any,
    running: Any,
    unit: Any,
    *,
    treatment: Any = None,
    weights: Any = None,
    cluster: Any = None,
    covariates: Any = None,
    unit_weights: Any = None,
    names: Names | None = None,
    copy_outcome: bool = True,
) -> ModelData:
    """Validate long-format columns (one row per draw, rows in any order) and group them by unit.

    ``covariates`` (a DataFrame, 2-D array or Series, one row per draw; or the
    :class:`CovariateColumns` a formula gave) must be constant within a unit.
    ``names`` defaults to the columns' Series names. ``copy_outcome=False`` keeps a float64
    ``outcome`` without copying it (for a new array the caller hands over, as ``from_formula``
    does); the other columns are only read.
    """
    check_aligned(("outcome", outcome), ("running", running), ("unit", unit), ("treatment", treatment),
                  ("weights", weights), ("cluster", cluster), ("covariates", covariates),
                  ("unit_weights", unit_weights))
    if names is None:
        names = _names(running, treatment, cluster, outcome=outcome, unit=unit)
    if unit_weights is not None and names.unit_weights is None:
        names = dataclasses.replace(names, unit_weights=_label(unit_weights, "unit_weights"))
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

    Z = None
    if covariates is not None:
        cov = covariates if isinstance(covariates, CovariateColumns) else covariate_columns(covariates, n_rows, "draw")
        _same_length("covariates", cov.values, n_rows)
        Z = np.empty((unit_ids.shape[0], cov.values.shape[1]))
        for j, label in enumerate(cov.names):
            Z[:, j] = _unit_constant(f"covariates[{label!r}]", np.ascontiguousarray(cov.values[:, j]), codes, first,
                                     unit_ids, "a covariate is a unit-level variable")
        names = dataclasses.replace(names, covariates=cov.names)

    omega = None
    if unit_weights is not None:
        om_rows = as_float_array("unit_weights", unit_weights, copy=False)
        _same_length("unit_weights", om_rows, n_rows)
        omega = check_unit_weights(_unit_constant("unit_weights", om_rows, codes, first, unit_ids,
                                                  "a unit weight is a unit-level variable"), unit_ids)

    units = UnitData(unit_ids=unit_ids, x=x, t=t, cluster_codes=cl_codes, cluster_ids=cl_ids, covariates=Z,
                     unit_weights=omega)
    w = None
    if weights is not None:
        w = as_float_array("weights", weights)
        _same_length("weights", w, n_rows)
    return _apply_missing_policy(units, y, codes, w, names)


def _apply_missing_policy(units: UnitData, y: np.ndarray, codes: np.ndarray, w: np.ndarray | None,
                          names: Names) -> ModelData:
    """Drop rows with a missing outcome or a missing/zero weight (counted, warned), then units left
    empty (warned); check the clusters left and warn when every unit has a single draw."""
    notes = Notes()
    units, y, codes, w = _drop_zero_weight_units(units, y, codes, w, notes)
    n_weight = 0
    if w is None:  # one compiled pass: counts per unit, missing draws, infinite draws
        y = np.ascontiguousarray(y)
        codes = np.ascontiguousarray(codes, dtype=np.intp)
        counts, n_outcome, first_inf = _grouping.draw_counts(y, codes, len(units.unit_ids))
        if first_inf >= 0:
            raise infinite_outcome_error()
        if n_outcome:
            keep = ~np.isnan(y)
            y, codes = y[keep], codes[keep]
    else:
        if np.isinf(y).any():
            raise infinite_outcome_error()
        if np.isinf(w).any() or (w < 0).any():
            raise bad_weights_error()
        has_outcome = ~np.isnan(y)
        keep = has_outcome & (w > 0)  # False for a missing weight
        n_outcome = int(has_outcome.shape[0] - has_outcome.sum())
        n_weight = int(has_outcome.sum() - keep.sum())
        if n_outcome or n_weight:
            y, codes, w = y[keep], codes[keep], w[keep]
        if y.shape[0] == 0 and n_weight:
            raise zero_weights_error(n_weight)
        counts = np.bincount(codes, minlength=len(units.unit_ids))
    if y.shape[0]:
        report_dropped_draws(int(n_outcome), n_weight, int(y.shape[0]), notes)
    empty = counts == 0
    if empty.any():
        units = _drop_units(units, ~empty)
        codes = (np.cumsum(~empty, dtype=np.intp) - 1)[codes]  # the kept units' new codes
        report_empty_units(int(empty.sum()), len(units.unit_ids), notes)
        counts = counts[~empty]
    check_clusters(units, notes)
    units, names = _drop_collinear(units, names, notes)
    n_single = int((counts == 1).sum())
    if n_single == counts.shape[0]:
        report_point_mass(notes, f"Every unit has a single draw ({n_single} units)")
    return ModelData(units=units, names=names, draws=LongData(y=y, codes=codes, weights=w), ndraws=int(y.shape[0]),
                     n_dropped_draws=int(n_outcome) + n_weight, n_single_draw_units=n_single, notes=notes.texts,
                     draw_counts=np.asarray(counts, dtype=np.int64))


def report_empty_units(n_dropped: int, n_remaining: int, notes: Notes) -> None:
    """The one policy for units left without draws (in memory and out of core): an error if none
    remain, else a ``DroppedDataWarning`` that counts them."""
    if n_remaining == 0:
        raise ValueError(message("outcome", "non-missing for at least one unit", "<only missing values>"))
    notes.warn(
        f"{n_dropped} unit(s) have no valid draws (every outcome missing, every weight zero or missing, "
        "or no draws) "
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
        covariates=None if units.covariates is None else np.ascontiguousarray(units.covariates[keep]),
        unit_weights=None if units.unit_weights is None else units.unit_weights[keep],
    )


def subset_data(data: ModelData, keep: np.ndarray) -> ModelData:
    """The model data of the units flagged in ``keep`` (n,) bool, for fits on a subset of the units
    (placebo cutoffs, donut fits): their draws (recoded) or quantile rows, unit-level columns and
    clusters (:func:`_drop_units`). ``n_dropped_units`` and ``n_dropped_draws`` still count only what
    the missing-value policy dropped (the caller counts and reports what it leaves out); the clusters
    left are checked as when the model was built (:func:`check_clusters`)."""
    units = dataclasses.replace(_drop_units(data.units, keep), n_dropped_units=data.units.n_dropped_units)
    notes = Notes(data.notes)
    check_clusters(units, notes)
    draws, qmat, ndraws, n_single = data.draws, data.qmat, data.ndraws, data.n_single_draw_units
    counts = None if data.draw_counts is None else data.draw_counts[keep]  # out of core: no draws, the counts
    if draws is not None:
        rows = keep[draws.codes]
        codes = (np.cumsum(keep, dtype=np.intp) - 1)[draws.codes[rows]]
        draws = LongData(y=draws.y[rows], codes=codes, weights=None if draws.weights is None else draws.weights[rows])
        ndraws = int(codes.shape[0])
        counts = np.bincount(codes, minlength=len(units.unit_ids)).astype(np.int64)
        n_single = int((counts == 1).sum())
    if qmat is not None:
        qmat = np.ascontiguousarray(qmat[keep])
    return dataclasses.replace(data, units=units, draws=draws, qmat=qmat, ndraws=ndraws,
                               n_single_draw_units=n_single, notes=notes.texts, draw_counts=counts)


def _drop_zero_weight_units(units: UnitData, y: np.ndarray, codes: np.ndarray, w: np.ndarray | None,
                            notes: Notes) -> tuple[UnitData, np.ndarray, np.ndarray, np.ndarray | None]:
    """Drop the units whose unit weight is 0, with their draws (counted and warned about)."""
    zero = None if units.unit_weights is None else units.unit_weights == 0
    if zero is None or not zero.any():
        return units, y, codes, w
    keep_rows = ~zero[codes]
    y, codes = y[keep_rows], codes[keep_rows]
    w = None if w is None else w[keep_rows]
    codes = (np.cumsum(~zero, dtype=np.intp) - 1)[codes]
    report_zero_weight_units(int(zero.sum()), int((~zero).sum()), notes)
    return _drop_units(units, ~zero), y, codes, w


def report_zero_weight_units(n_zero: int, n_remaining: int, notes: Notes) -> None:
    """Units with unit weight 0 are dropped: a ``DroppedDataWarning`` that counts them."""
    notes.warn(f"{n_zero} unit(s) have unit weight 0 and were dropped (a unit weight of 0 gives the unit no "
               f"weight in any fit); {n_remaining} units remain.", DroppedDataWarning)


def check_unit_weights(omega: np.ndarray, unit_ids: pd.Index) -> np.ndarray:
    """Unit weights are finite and non-negative for every unit, and positive for some."""
    bad = ~(np.isfinite(omega) & (omega >= 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(message(
            "unit_weights", "finite and non-negative for every unit",
            f"<value {display_value(omega[i])} for unit {display_value(unit_ids[i])}>",
            "Unit weights (cell sizes, survey weights of units) must be >= 0; a unit with weight 0 is dropped. "
            "Drop units with a missing weight first."))
    if not (omega > 0).any():
        raise ValueError(message("unit_weights", "positive for at least one unit", "<every unit weight is 0>",
                                 "Check the unit weights column."))
    return np.array(omega, dtype=np.float64)


def _same_length(name: str, arr: Any, n: int, per: str = "one entry per row of `outcome`") -> None:
    if len(arr) != n:
        raise ValueError(message(name, f"of length {n} ({per})", f"<length {len(arr)}>"))


def _label(obj: Any, default: str) -> str:
    return default if getattr(obj, "name", None) is None else str(obj.name)


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
    covariates: CovariateColumns | None = None,
    unit_weights: Any = None,
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
    Z = None if covariates is None else np.array(covariates.values, dtype=np.float64, order="C", copy=True)
    omega = None
    if unit_weights is not None:
        omega = as_float_array("unit_weights", unit_weights)
        _same_length("unit_weights", omega, n_units, per_unit)
        omega = check_unit_weights(omega, ids)
    return UnitData(unit_ids=ids, x=x, t=t, cluster_codes=cl_codes, cluster_ids=cl_ids, covariates=Z,
                    unit_weights=omega)


def _unit_covariates(covariates: Any, n_units: int) -> CovariateColumns | None:
    return None if covariates is None else covariate_columns(covariates, n_units, "unit")


def _draws_array(arg: str, i: int, values: Any) -> np.ndarray:
    """One unit's draws (or weights) as a 1-D float64 array, possibly a view of ``values`` (the caller
    concatenates them into a new array, so the user's arrays are never modified).

    A plain numpy array of numbers or booleans is converted directly (``astype``: the same values
    :func:`as_float_array` gives, without building a pandas Series per unit, which cost seconds for
    100,000 units); anything else (lists, Series, object or other dtypes) goes through
    :func:`as_float_array` and its checks (errors name ``arg[i]``)."""
    if type(values) is np.ndarray and values.dtype.kind in "fiub":
        flat = values.ravel()
        return flat if flat.dtype == np.float64 else flat.astype(np.float64)
    return as_float_array(f"{arg}[{i}]", np.ravel(values) if isinstance(values, np.ndarray) else values, copy=False)


def prepare_samples(
    samples: Sequence[Any],
    running: Any,
    *,
    treatment: Any = None,
    weights: Sequence[Any] | None = None,
    cluster: Any = None,
    unit_ids: Any = None,
    covariates: Any = None,
    unit_weights: Any = None,
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
    check_aligned(("running", running), ("treatment", treatment), ("cluster", cluster), ("unit_ids", unit_ids),
                  ("covariates", covariates), ("unit_weights", unit_weights))
    cov = _unit_covariates(covariates, n)
    units = prepare_units(running, n_units=n, treatment=treatment, cluster=cluster, unit_ids=unit_ids, covariates=cov,
                          unit_weights=unit_weights)
    if all(type(s) is np.ndarray and s.dtype == np.float64 and s.ndim == 1 for s in samples):
        ys = samples  # what _draws_array returns for each, without a Python call per unit (issue 19)
    else:
        ys = [_draws_array("samples", i, s) for i, s in enumerate(samples)]
    lengths = np.fromiter(map(len, ys), dtype=np.intp, count=n)
    y = np.concatenate(ys)
    codes = np.repeat(np.arange(n, dtype=np.intp), lengths)
    w = None
    if weights is not None:
        wl = list(weights)
        if len(wl) != n:
            raise ValueError(message("weights", f"a list of {n} arrays (one per unit)", f"<{len(wl)} arrays>"))
        ws = [_draws_array("weights", i, s) for i, s in enumerate(wl)]
        for i in range(n):
            check_aligned((f"samples[{i}]", samples[i]), (f"weights[{i}]", wl[i]))
        for i, (a, b) in enumerate(zip(ys, ws, strict=True)):
            if a.shape != b.shape:
                raise ValueError(message(f"weights[{i}]", f"of length {a.shape[0]} like samples[{i}]",
                                         f"<length {b.shape[0]}>"))
        w = np.concatenate(ws)
    names = _names(running, treatment, cluster)
    if cov is not None:
        names = dataclasses.replace(names, covariates=cov.names)
    if unit_weights is not None:
        names = dataclasses.replace(names, unit_weights=_label(unit_weights, "unit_weights"))
    return _apply_missing_policy(units, y, codes, w, names)


def prepare_quantiles(
    qmat: Any,
    running: Any,
    grid: np.ndarray,
    *,
    treatment: Any = None,
    cluster: Any = None,
    unit_ids: Any = None,
    covariates: Any = None,
    unit_weights: Any = None,
) -> ModelData:
    """Validate a precomputed unit quantile matrix (n units x m levels on ``grid``).

    Rows that are entirely missing are dropped with a warning; a row with some missing
    values, or a row that decreases, is an error.
    """
    check_aligned(("qmat", qmat), ("running", running), ("treatment", treatment), ("cluster", cluster),
                  ("unit_ids", unit_ids), ("covariates", covariates), ("unit_weights", unit_weights))
    if isinstance(qmat, pd.DataFrame):
        qmat = qmat.to_numpy(dtype=np.float64, na_value=np.nan)
    Q = np.array(qmat, dtype=np.float64, order="C", copy=True)  # the stages take C-contiguous arrays
    if Q.ndim != 2 or Q.shape[1] != grid.size:
        raise ValueError(message("qmat", f"a 2-D array with {grid.size} columns (one per quantile level)", Q))
    cov = _unit_covariates(covariates, Q.shape[0])
    units = prepare_units(running, n_units=Q.shape[0], treatment=treatment, cluster=cluster, unit_ids=unit_ids,
                          covariates=cov, unit_weights=unit_weights)
    names = _names(running, treatment, cluster)
    if cov is not None:
        names = dataclasses.replace(names, covariates=cov.names)
    if unit_weights is not None:
        names = dataclasses.replace(names, unit_weights=_label(unit_weights, "unit_weights"))
    notes = Notes()
    if units.unit_weights is not None and (units.unit_weights == 0).any():
        zero = units.unit_weights == 0
        units, Q = _drop_units(units, ~zero), Q[~zero]
        report_zero_weight_units(int(zero.sum()), Q.shape[0], notes)
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
    check_clusters(units, notes)
    units, names = _drop_collinear(units, names, notes)
    if Q.shape[1] > 1 and (Q[:, -1] == Q[:, 0]).all():
        report_point_mass(notes, f"Every unit's quantiles are equal at all {Q.shape[1]} levels ({Q.shape[0]} units)")
    return ModelData(units=units, names=names, qmat=Q, grid=grid,
                     quantile_method="user-supplied", notes=notes.texts)
