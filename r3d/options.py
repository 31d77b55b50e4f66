"""The estimation choices of a fit, validated once at the public edge (``R3D.fit``).

``fit_options`` turns the user's keyword arguments into a frozen :class:`FitOptions`
(canonical names, numbers of the right type, the bandwidth as a rule or an array, the
quantile grid, a random generator); every stage after it trusts these values.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from r3d._validation import (
    check_choice,
    check_int,
    check_positive,
    check_probability,
    check_rng,
    message,
    resolve_n_jobs,
)
from r3d.bootstrap import BAND_TYPES, FUZZY_BAND_TYPES, MAX_CHUNK_BYTES
from r3d.data import as_float_array
from r3d.estimators import DEFAULT_VCE, METHODS, check_vce
from r3d.locpoly import MAX_ORDER, canonical_kernel
from r3d.masspoints import MASSPOINTS
from r3d.quantiles import QUANTILE_METHODS

__all__ = ["BANDWIDTH_RULES", "DRAW_COPIES", "FitOptions", "check_donut", "fit_options", "seeded_rng", "check_orders",
           "resolve_rule", "bootstrap_memory", "memory_limit"]

#: Bandwidth rules a user may name ("auto": "imse" for frechet, "mse" for simple).
BANDWIDTH_RULES = ("auto", "mse", "imse", "cer-mse", "cer-imse")
METHOD_ALIASES = {"wasserstein": "frechet", "pointwise": "simple"}
BAND_ALIASES = {"studentised": "studentized", "sup-t": "studentized", "ar": "anderson-rubin",
                "fieller": "anderson-rubin"}
#: The (n_boot, m) draws are held once by the results, and the band and the tests work on up to two
#: temporary arrays of the same size (|G_b|; the centred draws of the homogeneity test). Measured with
#: tracemalloc on 20,000 draws x 99 levels: 3.1 x the draws while the summary is built.
DRAW_COPIES = 3
#: Where Linux containers state a memory limit below the machine's (cgroup v2).
_CGROUP_MEMORY_MAX = "/sys/fs/cgroup/memory.max"


@dataclass(frozen=True, slots=True)
class FitOptions:
    """Validated options of one fit: the arguments of ``R3D.fit`` with canonical names.

    ``order`` p is in [0, MAX_ORDER] and ``pilot_order`` s in [0, MAX_ORDER - 1] (the selector
    fits order s + 1). ``bandwidth`` is a selector rule ("mse", "imse", "cer-mse", "cer-imse";
    "auto" resolved) or (1,) / (m,) positive bandwidths (m: the fit's grid, which the model
    resolves against its data). ``donut`` d >= 0: units with ``|X - c| < d`` are left out of the fit.
    """

    method: str
    order: int
    pilot_order: int
    kernel: str
    bandwidth: str | np.ndarray
    bandwidth_treatment: float | None
    regularize: bool
    quantile_method: str
    n_boot: int
    alpha: float
    band: str
    rng: np.random.Generator
    progress: Any
    seed: int | tuple[int, ...] | None = None
    donut: float = 0.0
    #: Mass points in the running variable: "check", "adjust" or "off" (r3d/masspoints.py).
    masspoints: str = "check"
    #: Variance option of the influence terms: "hc0", "hc1", "hc2" or "hc3" (docs/method.md §5, "Variance options").
    vce: str = DEFAULT_VCE

    @property
    def rule(self) -> str:
        """The selector rule, or "fixed" for bandwidths given by the user."""
        return self.bandwidth if isinstance(self.bandwidth, str) else "fixed"


def seeded_rng(rng: Any) -> tuple[np.random.Generator, int | tuple[int, ...] | None]:
    """The fit's generator and the seed that reproduces its draws.

    ``rng=None`` draws fresh entropy explicitly (``numpy.random.SeedSequence().entropy``, the
    source ``default_rng(None)`` uses) and seeds with it, so the seed is known; an integer or a
    sequence of integers is its own seed (``default_rng(seed)`` gives the same generator), as is
    an unspawned ``SeedSequence``'s entropy. A ``Generator`` or ``BitGenerator`` (whose state may
    have advanced) or a spawned ``SeedSequence`` has no seed to record: None.
    """
    if rng is None:
        rng = np.random.SeedSequence().entropy
    gen = check_rng(rng)
    if isinstance(rng, (np.random.Generator, np.random.BitGenerator)):
        return gen, None
    if isinstance(rng, np.random.SeedSequence):
        plain = not rng.spawn_key and rng.pool_size == np.random.SeedSequence().pool_size
        return gen, (_seed_value(rng.entropy) if plain and rng.entropy is not None else None)
    return gen, _seed_value(np.asarray(rng).tolist() if isinstance(rng, np.ndarray) else rng)


def _seed_value(entropy: Any) -> int | tuple[int, ...]:
    """An int, or a tuple of ints for a sequence (hashable, as the frozen options are)."""
    if isinstance(entropy, (list, tuple)):
        return tuple(int(v) for v in entropy)
    return int(entropy)


def check_orders(order: Any, pilot_order: Any) -> tuple[int, int]:
    """Polynomial order p and pilot order s (the selector fits order s + 1 <= MAX_ORDER)."""
    return (check_int("order", order, low=0, high=MAX_ORDER),
            check_int("pilot_order", pilot_order, low=0, high=MAX_ORDER - 1))


def resolve_rule(rule: Any, method: str, name: str = "bandwidth") -> str:
    """A bandwidth rule, with "auto" resolved for ``method``."""
    rule = check_choice(name, rule, BANDWIDTH_RULES)
    if rule == "auto":
        rule = "imse" if method == "frechet" else "mse"
    return rule


def _bandwidth(bandwidth: Any, method: str, m: int) -> str | np.ndarray:
    if isinstance(bandwidth, str):
        rule = resolve_rule(bandwidth, method)
        if method == "frechet" and rule in ("mse", "cer-mse"):
            raise ValueError(message("bandwidth", "an IMSE rule ('imse', 'cer-imse', 'auto') or a number for "
                                     "method='frechet'", bandwidth,
                                     "The Fréchet estimator uses one bandwidth for all quantiles."))
        return rule
    if np.ndim(bandwidth) == 0:
        return np.array([check_positive("bandwidth", bandwidth)])
    h = as_float_array("bandwidth", np.ravel(np.asarray(bandwidth, dtype=object)))
    if h.size != m:
        raise ValueError(message("bandwidth", f"a number or an array of {m} bandwidths (one per "
                                 "quantile)", f"<an array of length {h.size}>"))
    if not (np.isfinite(h).all() and (h > 0).all()):
        raise ValueError(message("bandwidth", "finite and > 0 for every quantile", "<an array with "
                                 "non-positive or missing entries>"))
    if method == "frechet":
        raise ValueError(message("bandwidth", "a single number for method='frechet'",
                                 "<an array of per-quantile bandwidths>",
                                 "Use method='simple' for per-quantile bandwidths."))
    return h[:1] if np.all(h == h[0]) else h


def memory_limit() -> int | None:
    """Bytes of memory a fit may count on: the machine's physical memory (``os.sysconf``, Linux and
    macOS), or a smaller cgroup limit; None where neither is known (then nothing is checked)."""
    try:
        limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        limit = -1
    try:
        with open(_CGROUP_MEMORY_MAX) as fh:
            text = fh.read().strip()
        if text.isdigit() and (limit <= 0 or int(text) < limit):
            limit = int(text)
    except OSError:
        pass
    return limit if limit > 0 else None


def bootstrap_memory(n_boot: int, m: int) -> int:
    """Bytes the multiplier bootstrap of ``n_boot`` draws on ``m`` levels needs at its peak: the draws
    (``n_boot x m x 8``) times :data:`DRAW_COPIES`, plus one chunk of multipliers
    (:data:`r3d.bootstrap.MAX_CHUNK_BYTES` at most)."""
    return DRAW_COPIES * 8 * n_boot * m + MAX_CHUNK_BYTES if n_boot else 0


def _gib(n_bytes: float) -> str:
    g = n_bytes / 2**30
    return f"{g:,.0f} GiB" if g >= 100 else f"{g:.3g} GiB"


def _check_boot_memory(n_boot: int, m: int) -> None:
    """Refuse ``n_boot`` whose draws cannot fit in memory (a MemoryError after the fit's other work)."""
    limit = memory_limit()
    need = bootstrap_memory(n_boot, m)
    if limit is None or need <= limit:
        return
    most = max(0, (limit - MAX_CHUNK_BYTES) // (DRAW_COPIES * 8 * m))
    raise ValueError(message(
        "n_boot", "small enough for the bootstrap draws to fit in memory", n_boot,
        f"The draws of {m} quantile level{'s' if m > 1 else ''} take {_gib(8 * n_boot * m)} (n_boot x m x 8 "
        f"bytes) and about {_gib(need)} with the band's and the tests' working copies and the multipliers, "
        f"but this machine has {_gib(limit)} of memory. Use n_boot <= {most} (999 is the default), fewer quantile "
        "levels, or n_boot=0 to skip the bootstrap."))


def check_donut(donut: Any) -> float:
    """The donut's half-width d (a finite number >= 0; 0: no donut)."""
    fix = "Give the half-width d of the window |X - cutoff| < d to leave out, e.g. donut=0.05 (0: no donut)."
    if isinstance(donut, bool) or not isinstance(donut, numbers.Real):
        raise TypeError(message("donut", "a number >= 0 (in units of the running variable)", donut, fix))
    d = float(donut)
    if not (math.isfinite(d) and d >= 0):
        raise ValueError(message("donut", "a finite number >= 0 (in units of the running variable)", donut, fix))
    return d


def fit_options(*, method: Any, order: Any, pilot_order: Any, kernel: Any, bandwidth: Any,
                bandwidth_treatment: Any, regularize: Any, quantile_method: Any, n_boot: Any,
                alpha: Any, band: Any, rng: Any, n_jobs: Any, progress: Any, grid_size: int,
                fuzzy: bool, donut: Any = 0.0, masspoints: Any = "check", vce: Any = None,
                clustered: bool = False) -> FitOptions:
    """Validate the arguments of ``R3D.fit`` (``grid_size``: m of the grid the fit will use)."""
    method = check_choice("method", method, METHODS, aliases=METHOD_ALIASES)
    order, pilot_order = check_orders(order, pilot_order)
    kernel = canonical_kernel(kernel)
    quantile_method = check_choice("quantile_method", quantile_method, QUANTILE_METHODS)
    n_boot = check_int("n_boot", n_boot, low=0)
    alpha = check_probability("alpha", alpha)
    band = check_choice("band", band, BAND_TYPES + FUZZY_BAND_TYPES, aliases=BAND_ALIASES)
    if band in FUZZY_BAND_TYPES and not fuzzy:
        raise ValueError(message("band", "'uniform' or 'studentized' for a sharp design (no `treatment`)", band,
                                 f"band={band!r} is a fuzzy design's band: it inverts the ratio's test with the first "
                                 "stage, which a sharp fit has not; pass `treatment` to fit a fuzzy design."))
    donut = check_donut(donut)
    masspoints = check_choice("masspoints", masspoints, MASSPOINTS)
    vce = check_vce(vce, clustered)
    if not isinstance(regularize, (bool, np.bool_)):
        raise TypeError(message("regularize", "True or False", regularize))
    if n_boot and n_boot < int(np.ceil(1 / alpha)) - 1:
        raise ValueError(message("n_boot", f"0 or at least {int(np.ceil(1 / alpha)) - 1} for alpha={alpha:g}",
                                 n_boot, "Use more bootstrap draws (999 is the default)."))
    _check_boot_memory(n_boot, grid_size)
    resolve_n_jobs(n_jobs)  # accepted for compatibility; r3d runs on one thread
    gen, seed = seeded_rng(rng) if n_boot else (check_rng(rng), None)  # no draws: nothing to reproduce
    h_t = None
    if bandwidth_treatment is not None:
        if not fuzzy:
            raise ValueError(message("bandwidth_treatment", "None for a sharp design (no `treatment`)",
                                     bandwidth_treatment))
        h_t = check_positive("bandwidth_treatment", bandwidth_treatment)
    return FitOptions(method=method, order=order, pilot_order=pilot_order, kernel=kernel,
                      bandwidth=_bandwidth(bandwidth, method, grid_size), bandwidth_treatment=h_t,
                      regularize=bool(regularize), quantile_method=quantile_method,
                      n_boot=n_boot, alpha=alpha, band=band, rng=gen, progress=progress,
                      seed=seed, donut=donut, masspoints=masspoints, vce=vce)
