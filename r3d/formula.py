"""Formula -> columns, via formulaic.

``"wage ~ revenue"`` names the within-unit outcome on the left and the unit-level
running variable on the right; both sides may transform their variable
(``"np.log(wage) ~ I(revenue / 1e3)"``). Rows are kept in the user's order and
missing values are passed through as NaN so that the data layer can count them.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from r3d._validation import message

__all__ = ["FormulaColumns", "parse_formula", "data_column"]

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
    """Evaluate ``"outcome ~ running"`` on ``data`` with formulaic.

    Parameters
    ----------
    formula : str
        One outcome term, ``~``, one running-variable term. An intercept is
        implied and ignored; ``- 1`` / ``+ 0`` are accepted.
    data : pandas.DataFrame
        Long-format data, one row per draw.
    context : mapping, optional
        Names available to the formula besides the columns (functions, constants).
    """
    import formulaic
    from formulaic.errors import FormulaicError

    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(
            message("formula", 'a string "outcome ~ running"', formula, 'For example "wage ~ revenue".')
        )
    if not isinstance(data, pd.DataFrame):
        raise TypeError(message("data", "a pandas DataFrame", f"<{type(data).__name__}>"))
    plain = _plain_columns(formula, data)
    if plain is not None:
        return plain
    try:
        mm = formulaic.model_matrix(
            formula, data, na_action="ignore", ensure_full_rank=False, context=dict(context or {})
        )
    except FormulaicError as exc:
        raise ValueError(
            f"`formula` {formula!r} could not be evaluated on `data`: {exc} "
            f"Columns available: {_show_columns(data)}."
        ) from None
    lhs, rhs = mm.lhs, mm.rhs
    rhs_cols = [c for c in rhs.columns if c != "Intercept"]
    if lhs is None or lhs.shape[1] != 1:
        raise ValueError(message("formula", "exactly one outcome term left of `~`", formula))
    if len(rhs_cols) != 1:
        raise ValueError(
            message(
                "formula",
                "exactly one running-variable term right of `~` (R3D has no covariates)",
                f"<{formula!r} with {len(rhs_cols)} right-hand columns: {_show_list(rhs_cols)}>",
                "Combine variables inside I(...) if you need a transformed running variable.",
            )
        )
    outcome = np.asarray(lhs.iloc[:, 0].to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    running = np.asarray(rhs[rhs_cols[0]].to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    if outcome.shape[0] != len(data):
        raise ValueError(f"`formula` {formula!r} produced {outcome.shape[0]} rows for {len(data)} rows of `data`.")
    return FormulaColumns(outcome=outcome, running=running, outcome_name=str(lhs.columns[0]),
                          running_name=str(rhs_cols[0]))


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


def data_column(name: str, column: Any, data: pd.DataFrame) -> pd.Series:
    """The column ``data[column]`` for argument ``name``, or a clear error."""
    if not isinstance(column, str | int) or column not in data.columns:
        raise ValueError(
            message(name, "the name of a column of `data`", column, f"Columns available: {_show_columns(data)}.")
        )
    return data[column]


def _show_list(items: list, limit: int = 12) -> str:
    shown = ", ".join(str(c) for c in items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def _show_columns(data: pd.DataFrame, limit: int = 12) -> str:
    return _show_list(list(data.columns), limit)
