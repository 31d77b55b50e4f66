"""One validation vocabulary for the public edge.

Every message has the same shape: what was expected, what was received, and how
to fix it. Errors subclass the built-in they specialise; warnings subclass
:class:`R3DWarning` (a ``UserWarning``) so users can filter them as a family.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "InsufficientDataError",
    "R3DWarning",
    "DroppedDataWarning",
    "PointMassWarning",
    "WeakFirstStageWarning",
    "BandwidthWarning",
    "SmallSampleWarning",
    "DegenerateOutcomeWarning",
    "MassPointsWarning",
    "FewDrawsWarning",
    "message",
    "check_choice",
    "check_positive",
    "check_probability",
    "check_int",
    "resolve_n_jobs",
    "warn",
    "Notes",
    "check_rng",
]


class InsufficientDataError(ValueError):
    """Too few units near the cutoff on one side to fit the local polynomial.

    The message names the side, the bandwidth and the count of units that
    receive positive kernel weight.
    """


class R3DWarning(UserWarning):
    """Base class of every warning ``r3d`` issues."""


class DroppedDataWarning(R3DWarning):
    """Rows or units were dropped (missing outcomes or weights, empty units)."""


class PointMassWarning(R3DWarning):
    """Every unit's distribution is a single point (one draw per unit, or equal quantiles)."""


class WeakFirstStageWarning(R3DWarning):
    """The fuzzy first-stage jump is small relative to its standard error."""


class BandwidthWarning(R3DWarning):
    """A bandwidth was capped, fell back, or is questionable."""


class SmallSampleWarning(R3DWarning):
    """Few units receive weight on a side; estimates may be unstable."""


class DegenerateOutcomeWarning(R3DWarning):
    """The outcome does not vary (beyond rounding) near the cutoff at some or all quantile levels."""


class MassPointsWarning(R3DWarning):
    """Units share values of the running variable (mass points; ``fit(masspoints=...)``)."""


class FewDrawsWarning(R3DWarning):
    """Many units inside the window have too few draws to resolve the grid's outer levels (docs/few_draws.md)."""


def message(name: str, expected: str, received: Any, fix: str | None = None) -> str:
    """Build the house error message: expected, received, how to fix it."""
    rec = received if isinstance(received, str) and received.startswith("<") else repr(received)
    if isinstance(received, np.ndarray):
        rec = f"an array of shape {received.shape} and dtype {received.dtype}"
    text = f"`{name}` must be {expected}; got {rec}."
    if fix:
        text += f" {fix}"
    return text


def check_choice(
    name: str,
    value: Any,
    choices: Iterable[str],
    aliases: Mapping[str, str] | None = None,
) -> str:
    """Return the canonical spelling of a string option or raise ``ValueError``.

    Matching is case-insensitive; ``aliases`` maps short forms to canonical names.
    """
    choices = list(choices)
    aliases = dict(aliases or {})
    if isinstance(value, str):
        key = value.strip().lower()
        if key in choices:
            return key
        if key in aliases:
            return aliases[key]
    accepted = ", ".join(repr(c) for c in choices)
    if aliases:
        accepted += " (short forms: " + ", ".join(f"{k!r}" for k in aliases) + ")"
    raise ValueError(message(name, f"one of {accepted}", value, "Pick one of the accepted values."))


def check_finite(name: str, value: Any) -> float:
    """A finite real number (booleans refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(message(name, "a finite number", value))
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(message(name, "a finite number", value))
    return v


def check_positive(name: str, value: Any) -> float:
    """A finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(message(name, "a positive number", value))
    v = float(value)
    if not (v > 0 and math.isfinite(v)):
        raise ValueError(message(name, "a finite number > 0", value))
    return v


def check_probability(name: str, value: Any) -> float:
    """A number strictly inside (0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(message(name, "a number strictly between 0 and 1", value))
    v = float(value)
    if not (0.0 < v < 1.0):
        raise ValueError(message(name, "a number strictly between 0 and 1", value))
    return v


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """An integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(message(name, "an integer", value))
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(message(name, f"an integer in [{lo}, {hi}]", value))
    return v


def resolve_n_jobs(n_jobs: Any) -> None:
    """Check ``n_jobs`` (None, -1 or an integer >= 1). Accepted for compatibility: r3d runs on one thread."""
    if n_jobs is None or (isinstance(n_jobs, numbers.Integral) and not isinstance(n_jobs, bool)
                          and (n_jobs == -1 or n_jobs >= 1)):
        return
    raise ValueError(message("n_jobs", "None or -1 (all cores) or an integer >= 1", n_jobs))


#: Files of the package: a warning points at the first frame outside them (the user's line).
_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(text: str, category: type[Warning] = R3DWarning) -> None:
    """Issue a warning where it arises, pointing at the user's line (the first frame outside ``r3d``).

    This is the package's one warning mechanism: nothing captures and re-emits warnings.
    Texts a user should find again in ``res.notes`` are collected explicitly with :class:`Notes`.
    """
    frame = sys._getframe(1)  # the caller of warn(): stacklevel 2
    level = 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PKG_DIR):
        frame = frame.f_back
        level += 1
    warnings.warn(text, category, stacklevel=level)


class Notes:
    """User-facing notes of a model or a fit, collected explicitly (``res.notes``, the summary).

    :meth:`warn` issues the warning at the user's line (:func:`warn`) and keeps its text;
    :meth:`extend` records texts already warned about elsewhere (e.g. a selector's warnings).
    """

    __slots__ = ("_texts",)

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self._texts = list(texts)

    def warn(self, text: str, category: type[Warning] = R3DWarning) -> None:
        """Warn at the user's line and keep the text."""
        self._texts.append(text)
        warn(text, category)

    def extend(self, texts: Iterable[str]) -> None:
        """Keep texts that were already warned about."""
        self._texts.extend(texts)

    @property
    def texts(self) -> tuple[str, ...]:
        """The notes, in the order they arose."""
        return tuple(self._texts)


#: What ``rng`` accepts, in the words of every message that refuses one.
RNG_ACCEPTED = ("None, a non-negative integer seed (or a sequence of them), a numpy.random.Generator, "
                "a numpy.random.SeedSequence or a numpy.random.BitGenerator")


def check_rng(rng: Any, name: str = "rng") -> np.random.Generator:
    """``numpy.random.default_rng(rng)`` for the values it is documented to take, and an error naming
    ``name`` for every other (numpy's own messages for strings, floats or negative seeds do not).

    A Generator is returned as is (and advanced by its user), as numpy does.
    """
    fix = f"Pass a seed such as {name}=1, or {name}=numpy.random.default_rng(1)."
    if rng is None or isinstance(rng, (np.random.Generator, np.random.BitGenerator, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    if isinstance(rng, np.ndarray) and rng.ndim == 0:
        rng = rng.item()
    if isinstance(rng, numbers.Integral) and not isinstance(rng, (bool, np.bool_)):
        if rng < 0:
            raise ValueError(message(name, RNG_ACCEPTED, rng, "Seeds are non-negative. " + fix))
        return np.random.default_rng(int(rng))
    if isinstance(rng, (list, tuple)) or (isinstance(rng, np.ndarray) and rng.ndim == 1):
        values = rng.tolist() if isinstance(rng, np.ndarray) else list(rng)
        shown = rng if isinstance(rng, np.ndarray) else f"<{type(rng).__name__} {_short(rng)}>"
        if not values or not all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
                                 for v in values):
            raise TypeError(message(name, RNG_ACCEPTED, shown, fix))
        if min(values) < 0:
            raise ValueError(message(name, RNG_ACCEPTED, shown, "Seeds are non-negative. " + fix))
        return np.random.default_rng([int(v) for v in values])
    if isinstance(rng, np.random.RandomState):
        raise TypeError(message(name, RNG_ACCEPTED, "<a numpy.random.RandomState (the legacy generator)>", fix))
    raise TypeError(message(name, RNG_ACCEPTED, rng, fix))


def as_cluster_codes(cluster_codes: Any, n: int) -> np.ndarray:
    """(n,) intp cluster codes 0..G-1 from ``cluster_codes`` (an integer array, one code per unit)."""
    codes = np.asarray(cluster_codes)
    if codes.ndim != 1 or codes.shape[0] != n:
        raise ValueError(
            message("cluster_codes", f"a 1-D array with one code per unit (length {n})", codes)
        )
    if not np.issubdtype(codes.dtype, np.integer):
        raise TypeError(
            message("cluster_codes", "integer codes 0..G-1", codes,
                    "Encode clusters with e.g. `pandas.factorize`.")
        )
    if n and codes.min() < 0:
        raise ValueError(message("cluster_codes", "non-negative integer codes 0..G-1", codes))
    return codes.astype(np.intp, copy=False)


def _short(value: Any, width: int = 40) -> str:
    """``repr(value)``, cut to ``width`` characters for a message."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
