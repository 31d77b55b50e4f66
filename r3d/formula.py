"""Formula -> columns, via formulaic.

``"wage ~ revenue"`` names the within-unit outcome on the left and the unit-level
running variable on the right; both sides may transform their variable
(``"np.log(wage) ~ I(revenue / 1e3)"``). Rows are kept in the user's order and
missing values are passed through as NaN so that the data layer can count them.

This module is the only place formulas are read, and formulaic is the grammar:
:func:`parse_formula` evaluates a formula on a pandas DataFrame; :func:`formula_terms`
parses one without data (formulaic's terms and factors: term splitting, the intercept,
one term per side) for the out-of-core engines, which translate the terms to SQL
(:mod:`r3d.backends.duckdb`) or evaluate them partition by partition
(:mod:`r3d.backends.dask`, which refuses :func:`row_dependent_calls`).
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Mapping
from collections.abc import Sequence as Sequence_
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from r3d._validation import message
from r3d.data import CovariateColumns, covariate_columns, numeric_series

__all__ = ["FormulaColumns", "FormulaTerm", "FormulaTerms", "covariate_terms", "data_column", "formula_terms",
           "parse_formula", "row_dependent_calls"]

#: ``"outcome ~ running"`` with two plain column names. Such a formula is evaluated without
#: formulaic: the result is the same (each column as float64, NaN where missing, named by
#: the column) without formulaic's passes and copies over millions of rows.
_PLAIN_FORMULA = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*~\s*([A-Za-z_][A-Za-z0-9_]*)\s*", re.ASCII)


@dataclass(frozen=True, slots=True)
class FormulaColumns:
    """The two columns a formula describes.

    Attributes
    ----------
    outcome : ndarray
        (N,) float64 left-hand side, NaN where missing.
    running : ndarray
        (N,) float64 right-hand side, NaN where missing.
    outcome_name, running_name : str
        Labels for tables and plots (the formula terms).
    """

    outcome: np.ndarray
    running: np.ndarray
    outcome_name: str
    running_name: str


def parse_formula(formula: str, data: pd.DataFrame, *, context: Mapping[str, Any] | None = None) -> FormulaColumns:
    """Evaluate ``"outcome ~ running"`` (one term on each side; an intercept is implied and
    ignored, ``- 1`` / ``+ 0`` are accepted) with formulaic on long ``data`` (one row per draw).
    ``context`` holds the names available to the formula besides the columns.
    """
    _check_formula_string(formula)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(message("data", "a pandas DataFrame", f"<{type(data).__name__}>"))
    data = _checked_columns(data, _columns_read(formula, data))
    plain = _plain_columns(formula, data)
    if plain is not None:
        return plain
    # imported only here: importing formulaic costs about 0.1 s of CPU, which a plain
    # "y ~ x" never needs (job A's first call from a DataFrame: 0.167 -> 0.107 s CPU, issue 19)
    import formulaic
    from formulaic.errors import FormulaicError

    try:
        mm = formulaic.model_matrix(
            formula, data, na_action="ignore", ensure_full_rank=False, context=dict(context or {})
        )
    except FormulaicError as exc:
        raise ValueError(
            f"`formula` {formula!r} could not be evaluated on `data`: {_plain_text(exc)} "
            f"Columns available: {_show_list(list(data.columns))}.{_quoting_hint(formula, data)}"
            f"{_shadow_hint(formula, context)}"
        ) from None
    lhs, rhs = mm.lhs, mm.rhs
    rhs_cols = [c for c in rhs.columns if c != "Intercept"]
    if lhs is None or lhs.shape[1] != 1:
        raise ValueError(_one_outcome_error(formula))
    if len(rhs_cols) != 1:
        raise ValueError(_one_running_error(f"<{formula!r} with {len(rhs_cols)} right-hand columns: "
                                            f"{_show_list(rhs_cols)}>"))
    # a transform may still produce something that is not a real number (np.sqrt(y + 0j))
    lhs_col = numeric_series(f"formula term {lhs.columns[0]}", lhs.iloc[:, 0])
    rhs_col = numeric_series(f"formula term {rhs_cols[0]}", rhs[rhs_cols[0]])
    outcome = np.asarray(lhs_col.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    running = np.asarray(rhs_col.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    if outcome.shape[0] != len(data):
        raise ValueError(f"`formula` {formula!r} produced {outcome.shape[0]} rows for {len(data)} rows of `data`.")
    return FormulaColumns(outcome=outcome, running=running, outcome_name=str(lhs.columns[0]),
                          running_name=str(rhs_cols[0]))


def _columns_read(formula: str, data: pd.DataFrame) -> list:
    """The columns of ``data`` the formula reads (empty if formulaic cannot parse it: its own
    error is reported when the formula is evaluated)."""
    match = _PLAIN_FORMULA.fullmatch(formula)
    if match is not None:
        names = list(match.groups())
    else:
        try:
            terms = formula_terms(formula)
        except ValueError:
            return []
        names = list(dict.fromkeys(terms.outcome.variables + terms.running.variables))
    return [name for name in names if name in data.columns]


def _checked_columns(data: pd.DataFrame, columns: list) -> pd.DataFrame:
    """``data``, after checking that each of ``columns`` is one column (a name used twice is
    refused) that is numeric or boolean (:func:`r3d.data.numeric_series`: strings, categoricals,
    dates and complex numbers are refused, with the same messages as for arrays). An object
    column holding only numbers is given to formulaic as float64, in a new frame (formulaic
    would encode it as categories); the user's frame is never modified."""
    converted = {}
    for name in columns:
        n_cols = int((data.columns == name).sum())
        if n_cols > 1:
            raise ValueError(message(
                "data", f"a DataFrame with one column named {name!r} (the formula reads it)",
                f"<{n_cols} columns named {name!r}>",
                "Rename or drop the duplicates, e.g. data.loc[:, ~data.columns.duplicated()] keeps the first."))
        col = data[name]
        checked = numeric_series(f"data[{name!r}]", col)
        if checked is not col:
            converted[name] = checked
    if not converted:
        return data
    out = data.copy(deep=False)
    for name, col in converted.items():
        out[name] = col
    return out


#: Terminal colour codes (formulaic highlights the offending part of a formula with them).
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _plain_text(exc: BaseException) -> str:
    """An exception's text on one line, without terminal colour codes."""
    return " ".join(_ANSI.sub("", str(exc)).split())


_CALL = re.compile(r"(?<![\w.`'\"])([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)*)\s*\(")


def _shadow_hint(formula: str, context: Mapping[str, Any] | None) -> str:
    """A hint when a name the formula calls (``C(...)``, ``np.log(...)``) is one of the caller's
    variables that is not that function: formulas see the caller's namespace, which hides formulaic's
    own functions (``C = df.cov()`` breaks ``C(sector)``)."""
    for name, attrs in _CALL.findall(formula):
        if context is None or name not in context:
            continue
        target = context[name]
        for attr in attrs.split(".")[1:]:  # np.log: the attribute chain must end in a function
            target = getattr(target, attr, None)
        if not callable(target):
            return (f" The formula calls `{name}{attrs}(...)`, but `{name}` in your namespace is a "
                    f"{type(context[name]).__name__}: formulas see your variables, so rename that variable.")
    return ""


def _quoting_hint(formula: str, data: pd.DataFrame) -> str:
    """A hint for column names that are not Python identifiers written bare in the formula."""
    bare = [c for c in data.columns if isinstance(c, str) and not c.isidentifier() and c in formula
            and f"`{c}`" not in formula and f"Q({c!r})" not in formula and f'Q("{c}")' not in formula]
    if not bare:
        return ""
    c = bare[0]
    return (f" A column name that is not a Python identifier must be quoted in backticks: `{c}` "
            f"(or Q({c!r})), e.g. \"`{c}` ~ ...\".")


def _plain_columns(formula: str, data: pd.DataFrame) -> FormulaColumns | None:
    """The fast path: ``"a ~ b"`` with a and b numeric (numpy float, int or uint) columns of
    ``data``; None for anything else (formulaic then evaluates the formula).

    The outcome is a new array; the running variable, which is only read, is a read-only
    view of a float64 column (no copy of N values).
    """
    match = _PLAIN_FORMULA.fullmatch(formula)
    if match is None:
        return None
    columns = []
    for name in match.groups():
        if keyword.iskeyword(name) or name not in data.columns:
            return None
        col = data[name]
        if not isinstance(col, pd.Series) or not isinstance(col.dtype, np.dtype) or col.dtype.kind not in "fiu":
            return None  # duplicated column names, nullable/extension, bool, object, ... columns
        columns.append(col.to_numpy(dtype=np.float64, copy=not columns))
    running = columns[1].view()
    running.flags.writeable = False
    return FormulaColumns(outcome=columns[0], running=running, outcome_name=match.group(1),
                          running_name=match.group(2))


# ---------------------------------------------------------------------------- parsing without data
@dataclass(frozen=True, slots=True)
class FormulaTerm:
    """One side of ``"outcome ~ running"`` as formulaic parses it (no data needed).

    Attributes
    ----------
    label : str
        formulaic's name of the term, which is also the column label it evaluates to
        (``"np.log(wage)"``, ``"I(revenue / 1000.0)"``, ``"my col"``).
    factors : tuple of str
        The term's factors as Python expressions (one, or several for an interaction
        ``a:b``): formulaic's ``factor.expr``, with a column whose name is not a Python
        identifier (backticks in the formula) spelled ``Q('name')``.
    variables : tuple of str
        What the factors read as values, in order of first appearance: column names or
        names from the caller's scope (``Q('name')`` reads ``name``; an attribute
        is dotted, ``np.pi``).
    calls : tuple of str
        The functions the factors call, dotted as written (``"np.log"``, ``"I"``,
        ``"center"``), in order of first appearance.
    """

    label: str
    factors: tuple[str, ...]
    variables: tuple[str, ...]
    calls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FormulaTerms:
    """The outcome and running terms of a formula (:func:`formula_terms`).

    Attributes
    ----------
    formula : str
        The formula as given.
    outcome, running : FormulaTerm
        The one term left of ``~`` and the one term right of it (the intercept aside).
    """

    formula: str
    outcome: FormulaTerm
    running: FormulaTerm

    @property
    def scope_names(self) -> tuple[str, ...]:
        """Every name the formula looks up (variables, and each call's first component,
        such as ``np``): what a caller's scope may have to supply."""
        names = [name.split(".")[0] for term in (self.outcome, self.running) for name in term.variables + term.calls]
        return tuple(dict.fromkeys(names))


def formula_terms(formula: str) -> FormulaTerms:
    """Parse ``"outcome ~ running"`` with formulaic, without data.

    formulaic splits each side into terms and handles the intercept (implied on the
    right and ignored; ``- 1``, ``+ 0`` accepted; a term given twice counts once);
    each side must then hold exactly one term. Anything else (not a string with ``~``,
    a formula formulaic cannot parse) is a ``ValueError`` naming ``formula``.
    """
    import formulaic
    from formulaic.errors import FormulaicError

    _check_formula_string(formula)
    try:
        parsed = formulaic.Formula(formula)
    except (FormulaicError, SyntaxError) as exc:
        text = _ANSI.sub("", str(exc)).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        raise ValueError(
            message("formula", 'a formula "outcome ~ running" that formulaic can parse', f"<{formula!r}: {reason}>",
                    'For example "np.log(wage) ~ I(revenue / 1e3)"; quote a column name that is not a Python '
                    'identifier in backticks ("`my wage` ~ revenue").')
        ) from None
    lhs = _side_terms(getattr(parsed, "lhs", None))
    rhs = _side_terms(getattr(parsed, "rhs", None))
    if lhs is None or len(lhs) != 1:
        raise ValueError(_one_outcome_error(formula))
    if rhs is None or len(rhs) != 1:
        shown = ("several parts separated by `|`" if rhs is None else
                 f"{len(rhs)} right-hand terms: {_show_list([str(t) for t in rhs])}" if rhs else
                 "no right-hand term besides the intercept")
        raise ValueError(_one_running_error(f"<{formula!r} with {shown}>"))
    return FormulaTerms(formula=formula, outcome=_term(lhs[0]), running=_term(rhs[0]))


def row_dependent_calls(terms: FormulaTerms, context: Mapping[str, Any]) -> tuple[str, ...]:
    """The calls of a formula whose value at one row depends on other rows, as written, in
    order of first appearance (empty if none).

    These are formulaic's stateful transforms, which learn a state from all rows
    (``center``, ``scale``, ``standardize``, ``poly``, ``bs``, ``cr``, ``cs``, ``cc``,
    and any function the caller marked with formulaic's ``stateful_transform``), except
    ``Q``, which only reads a column; and ``lag``, which shifts rows. A call is resolved
    as formulaic resolves it: in ``context`` (the caller's scope: names available to the
    formula besides the columns) first, then among formulaic's transforms; a name found in
    neither is not reported (formulaic reports it when it evaluates the formula).
    """
    from formulaic.transforms import TRANSFORMS

    lookup, shift = TRANSFORMS.get("Q"), TRANSFORMS.get("lag")
    found = []
    for call in dict.fromkeys(terms.outcome.calls + terms.running.calls):
        fn = _resolve(call, context, TRANSFORMS)
        if fn is None:
            continue
        learns = bool(getattr(fn, "__is_stateful_transform__", False)) and fn is not lookup
        if learns or (shift is not None and fn is shift):
            found.append(call)
    return tuple(found)


def _check_formula_string(formula: Any) -> None:
    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(
            message("formula", 'a string "outcome ~ running"', formula, 'For example "wage ~ revenue".')
        )


def _one_outcome_error(formula: str) -> str:
    return message("formula", "exactly one outcome term left of `~`", formula)


def _one_running_error(received: str) -> str:
    return message("formula", "exactly one running-variable term right of `~` (covariates go in `covariates=`)",
                   received, "Combine variables inside I(...) if you need a transformed running variable; pass "
                   "unit-level covariates as from_formula(..., covariates=\"age + C(sector)\").")


def _side_terms(side: Any) -> list | None:
    """formulaic's terms of one side without the intercept; None if the side is not one
    simple formula (missing, or split in parts by ``|``)."""
    from formulaic.formula import SimpleFormula
    from formulaic.parser.types import Factor

    if not isinstance(side, SimpleFormula):
        return None
    return [term for term in side if not all(f.eval_method is Factor.EvalMethod.LITERAL for f in term.factors)]


def _term(term: Any) -> FormulaTerm:
    from formulaic.parser.types import Factor

    factors = []
    for factor in term.factors:
        if factor.eval_method is Factor.EvalMethod.LOOKUP:
            name = factor.expr
            factors.append(name if name.isidentifier() and not keyword.iskeyword(name) else f"Q({name!r})")
        else:  # Python code, where formulaic keeps backticked names
            factors.append(re.sub(r"`([^`]*)`", lambda m: f"Q({m.group(1)!r})", factor.expr))
    variables: list[str] = []
    calls: list[str] = []
    for expr in factors:
        _reads(ast.parse(expr, mode="eval").body, variables, calls)
    return FormulaTerm(label=str(term), factors=tuple(factors), variables=tuple(dict.fromkeys(variables)),
                       calls=tuple(dict.fromkeys(calls)))


def _reads(node: ast.AST, variables: list[str], calls: list[str]) -> None:
    """Collect, in source order, the values an expression reads and the functions it calls."""
    if isinstance(node, ast.Call):
        calls.append(ast.unparse(node.func))
        if isinstance(node.func, ast.Name) and node.func.id == "Q" and len(node.args) == 1 \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            variables.append(node.args[0].value)
            return
        if not isinstance(node.func, ast.Name | ast.Attribute):
            _reads(node.func, variables, calls)
        for child in [*node.args, *(k.value for k in node.keywords)]:
            _reads(child, variables, calls)
    elif isinstance(node, ast.Name | ast.Attribute) and _dotted(node):
        variables.append(ast.unparse(node))
    else:
        for child in ast.iter_child_nodes(node):
            _reads(child, variables, calls)


def _dotted(node: ast.AST) -> bool:
    """``a`` or ``a.b.c`` (a name, possibly with attributes)."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def _resolve(call: str, context: Mapping[str, Any], transforms: Mapping[str, Any]) -> Any:
    """The object a dotted call name refers to (context first, then formulaic's transforms), or None."""
    root, *attrs = call.split(".")
    obj = context[root] if root in context else transforms.get(root)
    for attr in attrs:
        obj = getattr(obj, attr, None)
    return obj


def data_column(name: str, column: Any, data: pd.DataFrame) -> pd.Series:
    """The column ``data[column]`` for argument ``name``, or a clear error."""
    if not isinstance(column, str | int) or column not in data.columns:
        raise ValueError(message(name, "the name of a column of `data`", column,
                                 f"Columns available: {_show_list(list(data.columns))}."))
    n_cols = int((data.columns == column).sum())
    if n_cols > 1:
        raise ValueError(message(
            "data", f"a DataFrame with one column named {column!r} (`{name}` names it)",
            f"<{n_cols} columns named {column!r}>",
            "Rename or drop the duplicates, e.g. data.loc[:, ~data.columns.duplicated()] keeps the first."))
    return data[column]


def _show_list(items: list, limit: int = 12) -> str:
    shown = ", ".join(str(c) for c in items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


# ---------------------------------------------------------------------------- covariates
def covariate_terms(covariates: Any, data: pd.DataFrame, *,
                    context: Mapping[str, Any] | None = None) -> CovariateColumns:
    """The covariate matrix ``from_formula`` reads: a formulaic right-hand side (``"age + C(sector)"``:
    formulaic's columns, treatment-coded dummies for categorical terms, without the intercept) or a
    list of column names (categorical and string columns as dummies). A missing value in a column
    the covariates read is an error naming the column (units are never dropped for it)."""
    import formulaic
    from formulaic.errors import FormulaicError

    if not isinstance(covariates, str):
        if isinstance(covariates, Sequence_) and not isinstance(covariates, bytes) and all(
                isinstance(c, str | int) for c in covariates):
            frame = pd.DataFrame({str(c): data_column("covariates", c, data) for c in covariates}, index=data.index)
            return covariate_columns(frame, len(data), "draw")
        raise TypeError(message("covariates", 'a formula right-hand side such as "age + C(sector)" or a list of '
                                "column names", covariates))
    if "~" in covariates:
        raise ValueError(message("covariates", 'a right-hand side only, such as "age + C(sector)" (no `~`)',
                                 covariates))
    try:
        read = [v for v in formulaic.Formula(covariates).required_variables if v in data.columns]
    except FormulaicError as exc:
        raise ValueError(f"`covariates` {covariates!r} could not be parsed: {_plain_text(exc)}") from None
    for name in sorted(read, key=list(data.columns).index):
        col = data_column("covariates", name, data)
        n_missing = int(col.isna().sum())
        if n_missing:
            raise ValueError(message("covariates", "free of missing values",
                                     f"<{n_missing} missing value(s) in column {name!r}>",
                                     "r3d never drops units for a missing covariate: drop those units or impute the "
                                     "values yourself before building the model."))
    try:
        mm = formulaic.model_matrix(covariates, data, na_action="ignore", ensure_full_rank=True,
                                    context=dict(context or {}))
    except FormulaicError as exc:
        raise ValueError(
            f"`covariates` {covariates!r} could not be evaluated on `data`: {_plain_text(exc)} "
            f"Columns available: {_show_list(list(data.columns))}.{_quoting_hint(covariates, data)}"
            f"{_shadow_hint(covariates, context)}"
        ) from None
    cols = [c for c in mm.columns if c != "Intercept"]
    frame = pd.DataFrame({str(c): numeric_series(f"covariate term {c}", mm[c]) for c in cols}, index=mm.index)
    return covariate_columns(frame, len(data), "draw")
