"""Unit quantiles of Parquet files with DuckDB, out of core (``R3D.from_parquet``).

DuckDB (embedded, no server) scans the files once and groups the draws by unit; it
spills to disk when the data exceed its memory limit, so a dataset larger than RAM fits
on a laptop. Only the per-unit summary (n rows: counts, unit-level columns and the m
quantiles) comes back to Python.

Quantiles (docs/method.md §2), equal to :func:`r3d.quantiles.unit_quantiles` on the same draws:

- unweighted: each unit's valid draws are collected and sorted (``list_sort(list(y))``),
  then the order statistics numpy uses are picked with numpy's own index arithmetic in
  double precision (type 7: v = (n - 1) q, ``_lerp``; type 1: v = n q - 1 rounded up
  unless integral). DuckDB's ``quantile_cont`` agrees with type 7 to ~1e-16 but
  ``quantile_disc`` rounds n q in exact decimal arithmetic (q = 0.07, n = 100 gives the
  7th value; numpy's 100 * 0.07 = 7.000000000000001 gives the 8th), so the explicit
  index is used for both; it was also faster than ``quantile_cont`` in our benchmark.
- weighted (:func:`weighted_quantile_sql`): cumulative weights by a window function,
  then each target order statistic is found with an ``ASOF`` join ("first sorted value
  whose cumulative weight reaches t"): Hmisc's ``wtd.quantile(type="quantile",
  normwt=TRUE)`` for "linear" and numpy's weighted inverted CDF for "inverted_cdf".
  Cumulative weights use compensated summation (``fsum``); they may differ from the
  in-memory kernel's in the last bits, which changes a quantile only when a
  cumulative weight lies within rounding of its target (tested to 1e-10 on random and
  integer weights).

Formulas: :func:`r3d.formula.formula_terms` parses the formula with formulaic (terms,
intercept, one term per side); each term's one factor (a Python expression) is then
translated to SQL from a documented subset (column names; ``log``/``np.log``, ``log10``,
``log2``, ``exp``, ``sqrt``, ``abs`` of an expression; ``I(...)`` or ``{...}`` with
``+ - * / **`` and numbers; ``Q("name")`` or backticks for awkward column names).
Anything else (stateful transforms such as ``center``, splines, interactions, user
functions) is refused with an error. The names shown in results come from formulaic on
a sample of rows, where the SQL values are also checked against formulaic's. Missing
values and IEEE special values follow numpy (log(0) = -inf, log(-1) = NaN, x / 0 = inf).

:class:`ParquetEngine` is the :class:`r3d.backends.UnitEngine` of ``R3D.from_parquet``:
its constructor opens a DuckDB connection and reads the files' schema and a sample
(formula and columns checked), and ``unit_summary`` runs the per-unit aggregation on the
same connection, which the engine owns until it is closed (``with`` block).

Errors name the file and the column (docs/errors.md). The files are read with
``union_by_name``: a column's type is the common type of its per-file types (an integer
column in one file and a float column in another is read as floats, not cast to the first
file's type), and each column the model uses is checked in every file's schema
(``parquet_schema``, footers only) before anything is scanned: present, of a type its role
accepts, and for ids of one kind (numbers or strings) in every file. A DuckDB error about
the data (a file that is not Parquet, a value it cannot read) is re-raised as
``ValueError``, ``PermissionError``, ``OSError`` or ``MemoryError`` naming the file or the
setting, chained to DuckDB's; any other DuckDB error is a bug and propagates.
"""

from __future__ import annotations

import ast
import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from r3d._validation import check_int, message
from r3d.backends import UnitSummary, require
from r3d.data import Names
from r3d.formula import FormulaTerm, FormulaTerms, formula_terms, parse_formula
from r3d.quantiles import WEIGHTED_METHODS

__all__ = ["ParquetEngine", "SQLFormula", "formula_to_sql", "unweighted_quantile_sql", "weighted_quantile_sql"]

#: Rows read to name the formula terms with formulaic and check the SQL translation.
SAMPLE_ROWS = 2000
#: The SQL translation and formulaic agree to rounding (libm log/exp may differ by an ulp).
TRANSLATION_RTOL = 1e-12
#: Slack on Hmisc's cumulative-weight comparison, as the kernel's HMISC_CUMWEIGHT_RTOL.
HMISC_CUMWEIGHT_RTOL = 1e-12
#: Row key = file index * 2**40 + row number in the file (order of first appearance).
_FILE_STRIDE = 1 << 40

_NUMERIC_TYPES = ("BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                  "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL")
_FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL")
# function name (bare or np./numpy.) -> SQL function
_FUNCTIONS = {"log": "ln", "log10": "log10", "log2": "log2", "exp": "exp", "sqrt": "sqrt", "abs": "abs",
              "fabs": "abs"}
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


# ---------------------------------------------------------------------------- formula
@dataclass(frozen=True, slots=True)
class SQLFormula:
    """A formula ``"outcome ~ running"`` translated to DuckDB SQL.

    Attributes
    ----------
    terms : r3d.formula.FormulaTerms
        formulaic's parse of the formula.
    outcome_sql, running_sql : str
        DOUBLE-valued SQL expressions over the file's columns.
    columns : tuple of str
        The columns the two terms use.
    outcome_columns, running_columns : tuple of str
        The columns each term uses (for messages that name the term).
    """

    terms: FormulaTerms
    outcome_sql: str
    running_sql: str
    columns: tuple[str, ...]
    outcome_columns: tuple[str, ...] = ()
    running_columns: tuple[str, ...] = ()


def quote_ident(name: str) -> str:
    """A DuckDB identifier in double quotes."""
    return '"' + str(name).replace('"', '""') + '"'


def _sql_str(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _sql_float(v: float) -> str:
    """An exact DOUBLE literal (shortest round-trip repr)."""
    f = float(v)
    if np.isnan(f):
        return "'nan'::DOUBLE"
    if np.isinf(f):
        return "'inf'::DOUBLE" if f > 0 else "'-inf'::DOUBLE"
    return f"CAST({f!r} AS DOUBLE)"


class _Unsupported(ValueError):
    pass


class _Translator:
    """formulaic's factors (Python expressions, read with ast) -> SQL for the documented
    subset; records the columns used."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.available = list(columns)
        self.used: list[str] = []

    def column(self, name: str) -> str:
        if name not in self.available:
            shown = ", ".join(self.available[:12]) + (", ..." if len(self.available) > 12 else "")
            raise ValueError(message("formula", "terms made of columns of the Parquet data",
                                     f"<unknown column {name!r}>",
                                     f"Columns available: {shown}."))
        if name not in self.used:
            self.used.append(name)
        return f"CAST({quote_ident(name)} AS DOUBLE)"

    def term(self, term: FormulaTerm) -> str:
        """A formula term of one factor (an interaction ``a:b`` is refused)."""
        if len(term.factors) != 1:
            raise _Unsupported(term.label)
        return self.expr(ast.parse(term.factors[0], mode="eval").body)

    def call(self, node: ast.Call) -> str:
        name = _call_name(node.func)
        if node.keywords:
            raise _Unsupported(ast.unparse(node))
        if name == "Q" and len(node.args) == 1 and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            return self.column(node.args[0].value)
        if len(node.args) != 1:
            raise _Unsupported(ast.unparse(node))
        if name == "I":
            return self.expr(node.args[0])
        if name in _FUNCTIONS:
            return _function_sql(_FUNCTIONS[name], self.expr(node.args[0]))
        raise _Unsupported(ast.unparse(node))

    def expr(self, node: ast.AST) -> str:
        """Python arithmetic of columns, numbers and the supported calls."""
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return _sql_float(node.value)
        if isinstance(node, ast.Name):
            return self.column(node.id)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            sign = "-" if isinstance(node.op, ast.USub) else "+"
            return f"({sign}{self.expr(node.operand)})"
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return f"({self.expr(node.left)} {_BINOPS[type(node.op)]} {self.expr(node.right)})"
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            return f"pow({self.expr(node.left)}, {self.expr(node.right)})"
        raise _Unsupported(ast.unparse(node))


def _function_sql(fn: str, a: str) -> str:
    """numpy's special values whatever DuckDB's ``ieee_floating_point_ops`` (off before 2.0):
    log(0) = -inf, log(x < 0) = NaN, sqrt(x < 0) = NaN, NaN and NULL pass through."""
    if fn in ("ln", "log10", "log2"):
        return (f"(CASE WHEN {a} > 0 THEN {fn}({a}) WHEN {a} = 0 THEN '-inf'::DOUBLE "
                f"WHEN {a} < 0 THEN 'nan'::DOUBLE ELSE {a} END)")
    if fn == "sqrt":
        return f"(CASE WHEN {a} < 0 THEN 'nan'::DOUBLE ELSE sqrt({a}) END)"
    return f"{fn}({a})"


def _call_name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("np", "numpy"):
        return func.attr
    return None


def formula_to_sql(formula: str, columns: Sequence[str]) -> SQLFormula:
    """Translate ``"outcome ~ running"`` to SQL over ``columns`` or refuse it.

    Parameters
    ----------
    formula : str
        Parsed by :func:`r3d.formula.formula_terms` (formulaic: one term each side, the
        intercept implied and ignored, ``- 1``/``+ 0`` accepted). Each term is one
        factor: a column name, ``Q("name")`` or ```name```, ``f(expr)`` with f one of
        log, log10, log2, exp, sqrt, abs (bare or ``np.``/``numpy.``), ``I(expr)`` or
        ``{expr}``; expr is arithmetic (``+ - * / **``, unary minus, numbers) of such terms.
    columns : sequence of str
        Columns of the data.

    Returns
    -------
    SQLFormula

    Raises
    ------
    ValueError
        Not one term on each side, an unknown column, or a construct outside the subset.
    """
    terms = formula_terms(formula)
    y_tr, x_tr = _Translator(columns), _Translator(columns)
    try:
        y_sql = y_tr.term(terms.outcome)
        x_sql = x_tr.term(terms.running)
    except _Unsupported as exc:
        raise ValueError(
            message("formula", "made of column names, log/log10/log2/exp/sqrt/abs(...), I(arithmetic) or Q(\"name\") "
                    "when the data are read out of core", f"<{formula!r}: the term {str(exc)!r} is not supported>",
                    "Compute the variable in the Parquet files, or see docs/bigdata.md for the supported subset.")
        ) from None
    return SQLFormula(terms=terms, outcome_sql=y_sql, running_sql=x_sql,
                      columns=tuple(dict.fromkeys(y_tr.used + x_tr.used)), outcome_columns=tuple(y_tr.used),
                      running_columns=tuple(x_tr.used))


# ---------------------------------------------------------------------------- quantile SQL
def _lerp_sql(a: str, b: str, g: str) -> str:
    """numpy's ``_lerp`` (the formula switches at gamma = 0.5)."""
    return f"(CASE WHEN {g} >= 0.5 THEN {b} - ({b} - {a}) * (1.0 - {g}) ELSE {a} + ({b} - {a}) * {g} END)"


def unweighted_quantile_sql(levels: np.ndarray, method: str, sorted_list: str, n: str) -> str:
    """SQL for a unit's quantile row (a DOUBLE[] of m values) from its sorted valid draws.

    numpy's index arithmetic in double precision, lists being 1-based: "linear" (type 7)
    v = (n - 1) q, the draws at floor(v) and floor(v) + 1 joined by ``_lerp`` with
    gamma = v - floor(v), the last draw when v >= n - 1; "inverted_cdf" (type 1)
    v = n q - 1, index floor(v) when v is integral else floor(v) + 1, clipped to
    [0, n - 1]. One lambda over the grid keeps the query short (a column per level makes
    DuckDB's planner slow). NULL when the unit has no valid draw.
    """
    lev = "[" + ", ".join(_sql_float(q) for q in levels.tolist()) + "]"
    nd = f"CAST({n} AS DOUBLE)"
    if method == "linear":
        v = f"(({nd} - 1.0) * q)"
        i = f"CAST(floor({v}) AS BIGINT)"
        inner = _lerp_sql(f"{sorted_list}[{i} + 1]", f"{sorted_list}[{i} + 2]", f"({v} - floor({v}))")
        body = f"CASE WHEN {v} >= {nd} - 1.0 THEN {sorted_list}[{n}] ELSE {inner} END"
    else:
        v = f"(({nd} * q) - 1.0)"
        k = f"CAST(CASE WHEN {v} = floor({v}) THEN floor({v}) ELSE floor({v}) + 1 END AS BIGINT)"
        body = f"{sorted_list}[least(greatest({k}, 0), {n} - 1) + 1]"
    return f"CASE WHEN {n} = 0 THEN NULL ELSE list_transform({lev}, lambda q: {body}) END"


def _normalised_weights_sql(valid: str) -> str:
    """``valid`` (u, y, w) with each unit's weights rescaled as the compiled kernel does
    (``r3d._ext.quantiles_numpy.normalise_weights``): equal weights become exactly 1, others are
    multiplied by 2^-e with max(w) 2^-e in [0.5, 1), so that their sums cannot overflow or
    underflow. Scaling by a power of two is exact; it is done in two halves because 2^-e alone
    can overflow for subnormal weights (e = -1073)."""
    def scaled(x: str, e: str) -> str:
        return f"(({x}) * pow(2.0, -(({e}) // 2))) * pow(2.0, -(({e}) - ({e}) // 2))"

    e0 = "CAST(floor(log2(wmax)) AS BIGINT) + 1"  # frexp's exponent, up to one from rounding log2
    return f"""
        SELECT u, y, CASE WHEN wmin = wmax THEN 1.0 ELSE {scaled("w", "e")} END AS w
        FROM (
            SELECT u, y, w, wmin, wmax,
                   CASE WHEN {scaled("wmax", "e0")} >= 1.0 THEN e0 + 1
                        WHEN {scaled("wmax", "e0")} < 0.5 THEN e0 - 1 ELSE e0 END AS e
            FROM (SELECT u, y, w, wmin, wmax, {e0} AS e0
                  FROM (SELECT u, y, w, min(w) OVER (PARTITION BY u) AS wmin, max(w) OVER (PARTITION BY u) AS wmax
                        FROM {valid}))
        )"""


def weighted_quantile_sql(valid: str, levels: np.ndarray, method: str) -> str:
    """SQL for weighted unit quantiles, in long form (u, j, value).

    Parameters
    ----------
    valid : str
        A relation (name or subquery) with columns ``u`` (unit), ``y`` (finite outcome)
        and ``w`` (positive finite weight).
    levels : ndarray
        (m,) quantile levels.
    method : {"linear", "inverted_cdf"}
        ``"linear"``: Hmisc ``wtd.quantile(type="quantile", normwt=TRUE)`` (docs/method.md §2):
        weights rescaled to sum to the unit's n draws, cumulative weights C_k along the
        sorted draws, h = (n - 1) q, lo = floor(h) + 1, hi = min(lo + 1, n), gamma =
        h - floor(h); Q(t) = the first sorted draw with C_k >= t (1 - 1e-12), the last
        draw if none; result ``_lerp(Q(lo), Q(hi), gamma)``. ``"inverted_cdf"``: the first
        sorted draw whose cumulative weight share reaches q (numpy's weighted type 1).

    Returns
    -------
    str
        A query with one row per (unit, level): ``u``, ``j`` (0-based level index), ``value``.
    """
    lev = ", ".join(f"({j}, {_sql_float(q)})" for j, q in enumerate(levels.tolist()))
    window = "PARTITION BY u ORDER BY y ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
    cum = f"""
        cum AS (
            SELECT u, y,
                   fsum(w) OVER ({window}) AS cw,
                   fsum(w) OVER (PARTITION BY u) AS tw,
                   count(*) OVER (PARTITION BY u) AS n
            FROM ({_normalised_weights_sql(valid)})
        ),
        units AS (SELECT u, any_value(n) AS n, max(y) AS y_max FROM cum GROUP BY u),
        levels(j, q) AS (VALUES {lev})"""
    if method == "linear":
        slack = _sql_float(1.0 - HMISC_CUMWEIGHT_RTOL)
        return f"""
        WITH {cum},
        c AS (SELECT u, y, cw * CAST(n AS DOUBLE) / tw AS C FROM cum),
        tg AS (
            SELECT u, j, y_max, (CAST(n AS DOUBLE) - 1.0) * q AS h, n FROM units, levels
        ),
        tg2 AS (
            SELECT u, j, y_max, h - floor(h) AS g,
                   (floor(h) + 1.0) * {slack} AS t_lo,
                   least(floor(h) + 2.0, CAST(n AS DOUBLE)) * {slack} AS t_hi
            FROM tg
        ),
        lo AS (SELECT tg2.*, c.y AS y_lo FROM tg2 ASOF LEFT JOIN c ON tg2.u = c.u AND tg2.t_lo <= c.C),
        hi AS (SELECT lo.*, c.y AS y_hi FROM lo ASOF LEFT JOIN c ON lo.u = c.u AND lo.t_hi <= c.C)
        SELECT u, j, {_lerp_sql("coalesce(y_lo, y_max)", "coalesce(y_hi, y_max)", "g")} AS value FROM hi"""
    return f"""
        WITH {cum},
        c AS (SELECT u, y, cw / tw AS F FROM cum),
        tg AS (SELECT u, j, q, y_max FROM units, levels)
        SELECT tg.u, tg.j, coalesce(c.y, tg.y_max) AS value
        FROM tg ASOF LEFT JOIN c ON tg.u = c.u AND tg.q <= c.F"""


# ---------------------------------------------------------------------------- the engine
def _expand_paths(con: Any, path: Any) -> list[str]:
    """Files in order: each given path, glob or directory in turn, a glob's matches sorted."""
    items = list(path) if isinstance(path, list | tuple) else [path]
    if not items:
        raise ValueError(message("path", "a Parquet file, a glob or a list of them", "<an empty list>"))
    files: list[str] = []
    for item in items:
        if not isinstance(item, str | os.PathLike):
            raise TypeError(message("path", "a path, a glob or a list of them", item))
        pattern = os.fspath(item)
        if os.path.isdir(pattern):  # a directory: every Parquet file below it, as pandas reads it
            found = _glob(con, os.path.join(pattern, "**", "*.parquet"))
            if not found:
                raise FileNotFoundError(message("path", "a Parquet file, a glob matching some, or a directory "
                                                "holding .parquet files", f"<directory {pattern!r}, which holds no "
                                                ".parquet file>", "Check the directory, or pass a glob such as "
                                                "'data/*.pq' for files with another extension."))
        elif not (found := _glob(con, pattern)):
            raise FileNotFoundError(message("path", "an existing Parquet file or a glob matching some", pattern))
        files.extend(found)
    return files


def _glob(con: Any, pattern: str) -> list[str]:
    return sorted(r[0] for r in con.execute(f"SELECT file FROM glob({_sql_str(pattern)})").fetchall())


def _where(files: Sequence[str], file: str | None = None) -> str:
    """``in 'a.parquet'`` or ``in the 3 files of `path```, for messages."""
    if file is not None or len(files) == 1:
        return f"in {file or files[0]!r}"
    return f"in the {len(files)} files of `path`"


def _check_column(name: str, column: Any, types: dict[str, str]) -> None:
    """``column`` names a column of the data (``types``: the union schema)."""
    if not isinstance(column, str) or column not in types:
        shown = ", ".join(list(types)[:12]) + (", ..." if len(types) > 12 else "")
        raise ValueError(message(name, "the name of a column of the Parquet data", column,
                                 f"Columns available: {shown}."))


def _check_type(name: str, column: str, typ: str, *, numeric: bool, where: str) -> None:
    nested = "[" in typ or typ.startswith(("STRUCT", "MAP", "UNION"))
    if numeric and (nested or not typ.startswith(_NUMERIC_TYPES)):
        raise TypeError(message(name, "numeric", f"<column {column!r} of type {typ} {where}>",
                                "Convert the column to numbers in the files (dates, for example, to days since "
                                "a reference date)."))
    if nested:
        raise TypeError(message(name, "a column of hashable ids", f"<column {column!r} of type {typ} {where}>",
                                "Use a column of numbers or strings."))


def _kind(typ: str) -> str:
    """``number``, ``string`` or the type itself: the kinds of id that never compare equal."""
    if typ.startswith(_NUMERIC_TYPES):
        return "number"
    return "string" if typ.startswith("VARCHAR") else typ


#: Names DuckDB gives each row's file and position (virtual columns of ``read_parquet``); a
#: column of the data with one of these names would hide them, and the engine orders units by them.
_ROW_POSITION_COLUMNS = ("file_index", "file_row_number")


def _top_level_types(rows: list[tuple[str, str, int | None]]) -> dict[str, str]:
    """One file's ``parquet_schema`` rows (name, DuckDB type, number of children; depth first)
    -> its top-level columns and their DuckDB types."""
    out: dict[str, str] = {}

    def walk(i: int) -> int:  # the index after the subtree starting at i
        j = i + 1
        for _ in range(rows[i][2] or 0):
            j = walk(j)
        return j

    i = 1  # row 0 is the schema root
    while i < len(rows):
        out[rows[i][0]] = str(rows[i][1]).upper()
        i = walk(i)
    return out


def _check_files(con: Any, files: Sequence[str], roles: dict[str, tuple[str, bool]]) -> None:
    """Every file holds every used column (``roles``: column -> (role, numeric)) with a type its
    role accepts, and ids of one kind in every file; columns found in no file's schema (hive
    partitions) are left to DuckDB. Footers only (``parquet_schema``)."""
    rows = con.execute(f"SELECT file_name, name, duckdb_type, num_children FROM parquet_schema({_file_list(files)})"
                       ).fetchall()
    by_file: dict[str, list[tuple[str, str, int | None]]] = {f: [] for f in files}
    for f, *row in rows:
        by_file.setdefault(f, []).append(tuple(row))
    schemas = [(f, _top_level_types(by_file[f])) for f in files]
    for column, (role, numeric) in roles.items():
        if not any(column in types for _, types in schemas):
            continue
        first: tuple[str, str] | None = None
        for f, types in schemas:
            if column not in types:
                raise ValueError(message(role, "a column of every Parquet file", f"<column {column!r}, missing "
                                         f"from {f!r}>", "Write every file with the same columns, or leave that "
                                         "file out of `path`."))
            _check_type(role, column, types[column], numeric=numeric, where=_where(files, f))
            if first is None:
                first = (f, types[column])
            elif not numeric and _kind(types[column]) != _kind(first[1]):
                raise TypeError(message(role, "ids of one type in every file", f"<column {column!r} of type "
                                        f"{first[1]} in {first[0]!r} but {types[column]} in {f!r}>",
                                        "Write the column with one type in every file (the id 1 and the id '1' "
                                        "are different units)."))


def _file_list(files: Sequence[str]) -> str:
    return "[" + ", ".join(_sql_str(f) for f in files) + "]"


def _data_errors() -> tuple[type[BaseException], ...]:
    """DuckDB's errors about the data or the machine, re-raised as Python's (anything else is a bug)."""
    import duckdb

    return (duckdb.IOException, duckdb.InvalidInputException, duckdb.ConversionException,
            duckdb.OutOfRangeException, duckdb.OutOfMemoryException, duckdb.PermissionException)


def _translate(con: Any, files: Sequence[str], err: BaseException) -> Exception:
    """A DuckDB error about the data as the error r3d documents, naming the file (found by
    reading each file's footer alone) or the setting to change."""
    import duckdb

    detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if isinstance(err, duckdb.OutOfMemoryException):
        return MemoryError(message("memory_limit", "large enough for DuckDB to read and group the draws",
                                   f"<{detail}>", "Raise memory_limit, or set temp_directory to a disk "
                                   "with room for DuckDB to spill to."))
    for f in files:
        if not os.access(f, os.R_OK):
            return PermissionError(message("path", "readable Parquet files", f"<{f!r}, which this process may not "
                                           "read>", "Fix the file's permissions, or leave it out of `path`."))
        try:
            con.execute(f"SELECT count(*) FROM parquet_schema({_sql_str(f)})").fetchall()
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0]
            return ValueError(message("path", "Parquet files", f"<{f!r}, which DuckDB cannot read as Parquet: "
                                      f"{first}>", "Check the file (a CSV, or an interrupted copy?), or leave it "
                                      "out of `path`."))
    if isinstance(err, duckdb.IOException):
        return OSError(message("path", "Parquet files DuckDB can read (and a temp_directory it can write to)",
                               f"<{detail}>"))
    return ValueError(message("path", "Parquet data DuckDB can read", f"<{detail}>",
                              "The message above is DuckDB's; check the files it names."))


def _id_sql(column: str, typ: str) -> str:
    """An id column with float NaN read as missing (as ``pandas.factorize`` does)."""
    c = quote_ident(column)
    return f"CASE WHEN isnan({c}) THEN NULL ELSE {c} END" if typ.startswith(_FLOAT_TYPES) else c


def _double(expr: str) -> str:
    return f"coalesce(CAST({expr} AS DOUBLE), 'nan'::DOUBLE)"


def _filled(arr: Any, dtype: Any = np.float64) -> np.ndarray:
    """A fetched column as an array, DuckDB's NULLs (numpy's mask) filled with NaN, 0 (False) or
    None (``object``; ``dtype=None`` keeps the column's type unless it has NULLs)."""
    if not isinstance(arr, np.ma.MaskedArray):
        return np.asarray(arr, dtype=dtype)
    if dtype is object or dtype is None:
        out = np.asarray(arr.data, dtype=object).copy()
        out[np.ma.getmaskarray(arr)] = None
        return out
    return np.ma.filled(arr.astype(dtype), np.nan if dtype is np.float64 else 0)


def _check_formula_on_sample(con: Any, source: str, sf: SQLFormula) -> tuple[str, str]:
    """Names of the two terms from formulaic on a sample, which must agree with the SQL values."""
    cols = ", ".join(quote_ident(c) for c in sf.columns)
    sample = con.execute(
        f"SELECT {cols}, {_double(sf.outcome_sql)} AS __y, {_double(sf.running_sql)} AS __x FROM {source} "
        f"LIMIT {SAMPLE_ROWS}"
    ).df()
    if len(sample) == 0:  # formulaic's labels are the names it gives on data
        return sf.terms.outcome.label, sf.terms.running.label
    formula = sf.terms.formula
    with np.errstate(all="ignore"):
        fc = parse_formula(formula, sample[list(sf.columns)], context={"np": np, "numpy": np})
    for got, want, side in ((sample["__y"].to_numpy(dtype=np.float64), fc.outcome, "outcome"),
                            (sample["__x"].to_numpy(dtype=np.float64), fc.running, "running")):
        if not np.allclose(got, want, rtol=TRANSLATION_RTOL, atol=0.0, equal_nan=True):
            raise ValueError(message("formula", "a term whose SQL translation matches formulaic", formula,
                                     f"The {side} term evaluates differently in DuckDB; compute it in the files."))
    return fc.outcome_name, fc.running_name


@dataclass(frozen=True, slots=True)
class _Plan:
    rows: str       # SELECT producing u, y, x[, t][, w][, c], r
    valid: str      # boolean SQL: the row is a draw used for quantiles
    files: tuple[str, ...]  # the files it reads (for messages)
    has_t: bool
    has_w: bool
    has_c: bool


@contextlib.contextmanager
def _connect(memory_limit: str | None, threads: int | None, temp_directory: Any) -> Iterator[Any]:
    """An in-memory DuckDB connection with the engine's settings, closed (and its spill
    directory removed) on exit."""
    duckdb = require("duckdb", "duckdb", "R3D.from_parquet")
    with tempfile.TemporaryDirectory(prefix="r3d-duckdb-") as tmp:
        con = duckdb.connect(":memory:")
        try:
            con.execute("SET enable_progress_bar = false")
            con.execute("SET preserve_insertion_order = false")
            con.execute(f"SET temp_directory = {_sql_str(os.fspath(temp_directory or tmp))}")
            if threads is not None:
                con.execute(f"SET threads = {threads}")
            if memory_limit is not None:
                try:
                    con.execute(f"SET memory_limit = {_sql_str(memory_limit)}")
                except duckdb.Error as err:
                    raise ValueError(message("memory_limit", "a DuckDB size such as '2GB' or '500MB'", memory_limit,
                                             f"DuckDB says: {str(err).strip().splitlines()[0]}")) from err
            yield con
        finally:
            con.close()


@dataclass(frozen=True, slots=True, eq=False)  # owns a connection: equal only to itself
class ParquetEngine:
    """Parquet files reduced by DuckDB, out of core (a :class:`r3d.backends.UnitEngine`).

    Build it with :meth:`from_parquet`, which opens a DuckDB connection and checks the
    arguments against the files; the engine owns the connection until :meth:`close`
    (or the end of a ``with`` block), so the checks and the reduction share it.

    Attributes
    ----------
    plan : _Plan
        The SQL over the files (the files are listed once, when the engine is built).
    names : r3d.data.Names
    con : duckdb.DuckDBPyConnection
        The open connection, with the settings of ``R3D.from_parquet``.
    """

    #: numpy's type 7 and type 1, weighted or not.
    quantile_methods: ClassVar[tuple[str, ...]] = WEIGHTED_METHODS

    plan: _Plan
    names: Names
    con: Any
    _resources: contextlib.ExitStack

    @classmethod
    def from_parquet(
        cls,
        path: Any,
        formula: str,
        *,
        unit: str,
        treatment: str | None = None,
        weights: str | None = None,
        cluster: str | None = None,
        memory_limit: str | None = None,
        threads: int | None = None,
        temp_directory: str | os.PathLike | None = None,
    ) -> ParquetEngine:
        """Check the arguments of ``R3D.from_parquet`` against the files (schema and a sample)."""
        require("duckdb", "duckdb", "R3D.from_parquet")
        if threads is not None:
            threads = check_int("threads", threads, low=1)
        if memory_limit is not None and not isinstance(memory_limit, str):
            raise TypeError(message("memory_limit", "a DuckDB size string such as '2GB'", memory_limit))
        with contextlib.ExitStack() as stack:
            con = stack.enter_context(_connect(memory_limit, threads, temp_directory))
            files: list[str] = []
            try:
                files = _expand_paths(con, path)
                return cls._build(con, stack, files, formula, unit=unit, treatment=treatment, weights=weights,
                                  cluster=cluster)
            except _data_errors() as err:
                raise _translate(con, files, err) from err

    @classmethod
    def _build(cls, con: Any, stack: contextlib.ExitStack, files: list[str], formula: str, *, unit: str,
               treatment: str | None, weights: str | None, cluster: str | None) -> ParquetEngine:
        """The checks of :meth:`from_parquet` on an open connection; the engine keeps ``stack``."""
        source = f"read_parquet({_file_list(files)}, union_by_name = true, file_row_number = true)"
        types = {str(r[0]): str(r[1]).upper() for r in
                 con.execute(f"DESCRIBE SELECT * FROM read_parquet({_file_list(files)}, union_by_name = true)"
                             ).fetchall()}
        for name in _ROW_POSITION_COLUMNS:
            if name in types:
                raise ValueError(message("path", f"Parquet data without a column named {name!r}",
                                         f"<a column {name!r} {_where(files)}>",
                                         "DuckDB reserves the names 'file_index' and 'file_row_number' for each "
                                         "row's file and position, by which units are ordered; rename the column "
                                         "in the files."))
        sf = formula_to_sql(formula, list(types))
        # every column the model reads -> (the argument it answers to, numeric?)
        roles = {c: ("outcome", True) for c in sf.outcome_columns}
        roles.update({c: ("running", True) for c in sf.running_columns if c not in roles})
        for role, column, numeric in (("unit", unit, False), ("treatment", treatment, True),
                                      ("weights", weights, True), ("cluster", cluster, False)):
            if column is not None:
                _check_column(role, column, types)
                roles.setdefault(column, (role, numeric))
        if len(files) > 1:  # name the file whose column is missing or of the wrong type
            _check_files(con, files, roles)
        for column, (role, numeric) in roles.items():
            _check_type(role, column, types[column], numeric=numeric, where=_where(files))
        sel = [f"{_id_sql(unit, types[unit])} AS u", f"{_double(sf.outcome_sql)} AS y",
               f"{_double(sf.running_sql)} AS x"]
        valid = "NOT isnan(y) AND NOT isinf(y)"
        if treatment is not None:
            sel.append(f"{_double(quote_ident(treatment))} AS t")
        if weights is not None:
            sel.append(f"{_double(quote_ident(weights))} AS w")
            valid += " AND NOT isnan(w) AND w > 0 AND NOT isinf(w)"
        if cluster is not None:
            sel.append(f"{_id_sql(cluster, types[cluster])} AS c")
        sel.append(f"CAST(file_index AS BIGINT) * {_FILE_STRIDE} + CAST(file_row_number AS BIGINT) AS r")
        plan = _Plan(rows=f"SELECT {', '.join(sel)} FROM {source}", valid=valid, files=tuple(files),
                     has_t=treatment is not None, has_w=weights is not None, has_c=cluster is not None)
        y_name, x_name = _check_formula_on_sample(con, source, sf)
        names = Names(outcome=y_name, running=x_name, unit=str(unit), treatment=treatment, cluster=cluster)
        return cls(plan=plan, names=names, con=con, _resources=stack.pop_all())  # checks passed: keep it open

    def unit_summary(self, grid: np.ndarray, quantile_method: str) -> UnitSummary:
        """One row per unit, quantiles at ``grid`` ((m,) levels) by ``quantile_method``: the
        per-unit aggregation (and the weighted quantile query) on the engine's connection."""
        try:
            return self._unit_summary(grid, quantile_method)
        except _data_errors() as err:
            raise _translate(self.con, self.plan.files, err) from err

    def _unit_summary(self, grid: np.ndarray, quantile_method: str) -> UnitSummary:
        plan = self.plan
        aggs = [
            "min(r) AS r0", "count(*) AS n_rows", f"count(*) FILTER (WHERE {plan.valid}) AS n_draws",
            "min(x) FILTER (WHERE NOT isnan(x)) AS x_min", "max(x) FILTER (WHERE NOT isnan(x)) AS x_max",
            "count(*) FILTER (WHERE isnan(x)) AS x_nan", "count(*) FILTER (WHERE isinf(y)) AS y_inf",
            "count(*) FILTER (WHERE isnan(y)) AS y_nan",
        ]
        if plan.has_t:
            aggs += ["min(t) FILTER (WHERE NOT isnan(t)) AS t_min", "max(t) FILTER (WHERE NOT isnan(t)) AS t_max",
                     "count(*) FILTER (WHERE isnan(t)) AS t_nan"]
        if plan.has_c:
            aggs += ["min(c) AS c_min", "max(c) AS c_max", "count(*) FILTER (WHERE c IS NULL) AS c_missing"]
        if plan.has_w:
            aggs += ["count(*) FILTER (WHERE w < 0 OR isinf(w)) AS w_bad"]
            outer = "*"
        else:
            aggs += [f"list_sort(list(y) FILTER (WHERE {plan.valid})) AS s"]
            outer = f"* EXCLUDE (s), {unweighted_quantile_sql(grid, quantile_method, 's', 'n_draws')} AS qrow"
        sql = (f"WITH src AS ({plan.rows}) SELECT u IS NULL AS u_null, {outer} FROM "
               f"(SELECT u, {', '.join(aggs)} FROM src GROUP BY u) ORDER BY r0")
        res = self.con.execute(sql).fetchnumpy()
        u_null = _filled(res["u_null"], bool)
        keep = ~u_null
        ids = _filled(res["u"], None)[keep]
        Q = np.full((ids.shape[0], grid.shape[0]), np.nan)
        if not plan.has_w:
            rows = _filled(res["qrow"], object)[keep]
            has = np.array([r is not None for r in rows], dtype=bool)  # NULL: no valid draw
            if has.any():
                Q[has] = np.vstack([np.asarray(r, dtype=np.float64) for r in rows[has]])
        else:
            valid = f"(SELECT u, y, w FROM ({plan.rows}) WHERE u IS NOT NULL AND {plan.valid})"
            long = self.con.execute(weighted_quantile_sql(valid, grid, quantile_method)).fetchnumpy()
            row = pd.Index(ids).get_indexer(pd.Index(_filled(long["u"], None)))
            Q[row, np.asarray(long["j"], dtype=np.intp)] = _filled(long["value"])

        def col(name: str, dtype: Any) -> np.ndarray | None:
            return _filled(res[name], dtype)[keep] if name in res else None

        return UnitSummary.from_columns(col, ids, Q, int(_filled(res["n_rows"], np.int64)[u_null].sum()))

    def close(self) -> None:
        """Close the connection and remove DuckDB's spill directory."""
        self._resources.close()

    def __enter__(self) -> ParquetEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
