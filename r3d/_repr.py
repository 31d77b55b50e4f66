"""Short displays of the small result objects: one-line ``repr`` and a two-column ``_repr_html_``.

A dataclass's generated ``repr`` prints every array in full (hundreds of lines for a
``BandwidthSelection``) and numpy scalars as ``np.float64(...)``. The result classes define
``__repr__`` and ``_repr_html_`` with these helpers instead: a few numbers with 4 significant
digits, arrays as their shape and range. Every number stays available as an attribute.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["num", "pvalue", "span", "one_line", "html_table", "count_true", "level_range"]


def num(v: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits ("--" for None or NaN)."""
    if v is None:
        return "--"
    v = float(v)
    if math.isnan(v):
        return "--"
    return f"{v:.{digits}g}"


def pvalue(p: Any) -> str:
    """A p-value: 3 decimals, "<0.001" below."""
    if p is None or math.isnan(float(p)):
        return "--"
    return "<0.001" if p < 0.001 else f"{float(p):.3f}"


def span(values: Any, digits: int = 4) -> str:
    """One number, or "lo-hi" over an array ("--" when no value is finite)."""
    v = np.atleast_1d(np.asarray(values, dtype=np.float64)).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "--"
    lo, hi = float(v.min()), float(v.max())
    return num(lo, digits) if lo == hi else f"{num(lo, digits)} to {num(hi, digits)}"


def level_range(quantiles: Any) -> str:
    """ "19 levels in [0.05, 0.95]" ("1 level (0.5)" for one)."""
    q = np.atleast_1d(np.asarray(quantiles, dtype=np.float64))
    if q.size == 1:
        return f"1 level ({q[0]:.3g})"
    return f"{q.size} levels in [{q[0]:.3g}, {q[-1]:.3g}]"


def count_true(mask: Any) -> int:
    """Number of True entries of a bool array (or scalar)."""
    return int(np.count_nonzero(np.asarray(mask)))


def one_line(name: str, head: str, fields: Sequence[tuple[str, str]] = ()) -> str:
    """``<name head: key=value, ...>`` (``head`` may be empty; an empty key shows the value alone, and a
    value starting with "<" follows its key directly: ``p<0.001``)."""
    body = ", ".join(f"{k}{v}" if k and v.startswith("<") else f"{k}={v}" if k else v for k, v in fields)
    lead = f"{name} {head}".rstrip()
    return f"<{lead}: {body}>" if body else f"<{lead}>"


def html_table(title: str, rows: Sequence[tuple[str, str]]) -> str:
    """A small escaped two-column table (name, value) with a caption, for notebooks."""
    out = [f'<table class="r3d-repr">\n<caption style="text-align: left"><b>{html.escape(title)}</b></caption>']
    out += [f"<tr><th style=\"text-align: left\">{html.escape(k)}</th><td style=\"text-align: left\">"
            f"{html.escape(v)}</td></tr>" for k, v in rows]
    out.append("</table>")
    return "\n".join(out)
