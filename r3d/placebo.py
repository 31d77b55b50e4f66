"""Placebo cutoffs, bandwidth sensitivity and the comparison of two fits (METHOD_EXTENSIONS §11).

Three checks of a fit, reached from ``R3DResults.placebo``, ``R3DResults.sensitivity`` and
``R3DResults.compare`` (docs/placebo.md):

- *placebo cutoffs*: fits at cutoffs c' inside each side, on the units of that side of the true
  cutoff only (so the true discontinuity is never inside a placebo window), with the original fit's
  options; under a valid design tau(q) = 0 there, and the nullity test rejects about alpha of the time;
- *bandwidth sensitivity*: refits at multiples of the chosen bandwidth (or at given bandwidths);
- *comparison of two fits* on the same units (a donut fit and the full one, two bandwidths, two
  orders): the difference ``tau_a(q) - tau_b(q)`` has the influence matrix ``a_a - a_b`` (a unit outside
  one fit has a zero row in it), so one multiplier per unit (or cluster) shared by both fits gives its
  bootstrap process, uniform band and sup test (:func:`compare_fits`).

Refits go through the model's own ``fit`` (on a unit subset for placebo cutoffs:
``R3D._subset``); nothing here imports the model. Their seeds are derived from the fit's seed
(:func:`derived_seed`), so the checks are reproducible whenever the fit is.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from r3d import _repr as _r
from r3d._validation import InsufficientDataError, SmallSampleWarning, check_int, check_probability, message, warn
from r3d.bootstrap import TestInputs, TestResults, UniformBand, _aggregate, _band, _draws, _variance_and_se, run_test
from r3d.estimators import FEW_UNITS_PER_PARAMETER, check_vce
from r3d.options import seeded_rng
from r3d.quantiles import QUANTILE_METHODS

__all__ = ["FitComparison", "PlaceboResults", "SensitivityResults", "SkippedCutoff", "compare_fits",
           "derived_seed", "placebo_fits", "refit_options", "sensitivity_fits"]

#: Levels at which the tables show tau (the nearest grid points).
SHOWN_LEVELS = (0.1, 0.25, 0.5, 0.75, 0.9)
#: Default placebo cutoffs: these quantiles of the unit-level running variable on each side.
PLACEBO_QUANTILES = (0.2, 0.4, 0.6, 0.8)
#: Default bandwidths of ``sensitivity``: these multiples of the fit's bandwidth.
SENSITIVITY_MULTIPLES = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
#: ``spawn_key`` of the seeds derived for each check (so no two checks share a stream).
_PLACEBO_KEY, _SENSITIVITY_KEY, _COMPARE_KEY = 1, 2, 3


def derived_seed(base: int | tuple[int, ...], *key: int) -> int:
    """A 64-bit seed derived from ``base`` (a fit's seed) and ``key`` (which check, which refit):
    ``SeedSequence(base, spawn_key=key)``, so streams of different keys are independent."""
    entropy = list(base) if isinstance(base, tuple) else [int(base)]
    return int(np.random.SeedSequence(entropy, spawn_key=tuple(int(k) for k in key)).generate_state(1, np.uint64)[0])


def base_seed(fit_seed: Any, rng: Any) -> int | tuple[int, ...]:
    """The seed the checks derive their refits' seeds from: ``rng`` when given (a Generator: an integer
    drawn from it), else the fit's seed, else fresh entropy (recorded in the check's ``seed``)."""
    if rng is None and fit_seed is not None:
        return fit_seed
    gen, seed = seeded_rng(rng)
    return int(gen.integers(2**63)) if seed is None else seed


def min_units_per_side(order: int) -> int:
    """Units a placebo cutoff needs on each side: ``FEW_UNITS_PER_PARAMETER x (order + 1)``, the count below
    which every fit warns that its estimates may be unstable (15 for the default order 2)."""
    return FEW_UNITS_PER_PARAMETER * (order + 1)


def shown_indices(quantiles: np.ndarray) -> np.ndarray:
    """Grid indices nearest :data:`SHOWN_LEVELS` (each once)."""
    q = np.asarray(quantiles)
    return np.unique(np.abs(q[None, :] - np.asarray(SHOWN_LEVELS)[:, None]).argmin(axis=1))


def _level(q: float) -> str:
    from r3d._summary import format_level

    return format_level(q)


def _h_value(h: np.ndarray) -> float:
    """One number for a fit's bandwidth: itself, or the median of per-quantile bandwidths."""
    h = np.asarray(h).reshape(-1)
    return float(h[0]) if h.size == 1 else float(np.median(h))


def refit_options(res: Any, *, bandwidth: Any, bandwidth_treatment: Any, rng: Any, sharp: bool = False) -> dict:
    """``fit`` keyword arguments reproducing ``res``'s options with another bandwidth and seed."""
    s = res.spec
    kw = dict(method=s.method, order=s.order, pilot_order=s.pilot_order, kernel=s.kernel, bandwidth=bandwidth,
              regularize=s.regularize, quantiles=res.quantiles,
              quantile_method=s.quantile_method if s.quantile_method in QUANTILE_METHODS else "linear",
              n_boot=s.n_boot, alpha=s.alpha, band=s.band, rng=rng, donut=s.donut, vce=s.vce)
    if not sharp:
        kw["bandwidth_treatment"] = bandwidth_treatment
    return kw


def _refit_model(res: Any) -> Any:
    """The model a refit with ``res``'s options runs on: the model built from the data, so that a donut fit's
    refits leave out (and count) the donut's units themselves (``res.model`` of a donut fit holds only the
    units outside the donut)."""
    return res.model._origin


def _fit_bandwidth(res: Any) -> Any:
    """The original fit's bandwidth option: its rule when selected, else the fixed bandwidth(s)."""
    if res.spec.bandwidth_rule != "fixed":
        return res.spec.bandwidth_rule
    h = res.bandwidth_choice.h
    return float(h[0]) if h.size == 1 else h.copy()


def _user_h_treatment(res: Any) -> float | None:
    bc = res.bandwidth_choice
    return bc.h_treatment if bc.treatment_source == "user" else None


def _nullity_p(fit: Any) -> float:
    return float(fit.nullity_test().pvalue) if fit.bootstrap_draws is not None else math.nan


def _coverage(alpha: float) -> str:
    return f"{100 * (1 - alpha):.4g}%"


def _axes(ax: Any) -> Any:
    from r3d.plotting import _axes as axes

    return axes(ax)


# ---------------------------------------------------------------------------------------------
# placebo cutoffs
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SkippedCutoff:
    """A placebo cutoff that was not fitted, and why."""

    side: str
    cutoff: float
    reason: str


def _check_cutoffs(cutoffs: Any, true_cutoff: float) -> np.ndarray | None:
    if cutoffs is None:
        return None
    fix = "Give placebo cutoffs as a list of numbers on either side of the true cutoff, e.g. cutoffs=[0.5, 1.5]."
    values = np.atleast_1d(np.asarray(cutoffs, dtype=object))
    if values.ndim != 1 or values.size == 0 or not all(
            isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in values):
        raise TypeError(message("cutoffs", "None or a non-empty list of numbers", cutoffs, fix))
    c = values.astype(np.float64)
    if not np.all(np.isfinite(c)):
        raise ValueError(message("cutoffs", "finite numbers", cutoffs, fix))
    if np.any(c == true_cutoff):
        raise ValueError(message("cutoffs", f"different from the true cutoff {true_cutoff:g}", cutoffs,
                                 "The placebo cutoffs are where no effect is expected: leave the true cutoff out."))
    return c


def placebo_fits(res: Any, cutoffs: Any = None, rng: Any = None) -> PlaceboResults:
    """The placebo cutoffs of ``res`` (``R3DResults.placebo``)."""
    model = res.model
    units = model._data.units
    x, c = units.x, res.data.cutoff
    given = _check_cutoffs(cutoffs, c)
    left = x < c
    if given is None:
        plan = [("left", float(v)) for v in np.quantile(x[left], PLACEBO_QUANTILES)]
        plan += [("right", float(v)) for v in np.quantile(x[~left], PLACEBO_QUANTILES)]
    else:
        plan = [("left" if v < c else "right", float(v)) for v in np.sort(given)]
    need = min_units_per_side(res.spec.order)
    seed = base_seed(res.spec.seed, rng)
    fuzzy = units.t is not None
    h_t = _user_h_treatment(res)
    fits, sides, skipped = [], [], []
    for j, (side, cp) in enumerate(plan):
        on_side = left if side == "left" else ~left
        xs = x[on_side]
        n_lo, n_hi = int((xs < cp).sum()), int((xs >= cp).sum())
        if min(n_lo, n_hi) < need:
            skipped.append(SkippedCutoff(side, cp, f"{n_lo} / {n_hi} units below / above it on the {side} side "
                                         f"(a placebo fit needs {need} on each)"))
            continue
        sub = model._subset(on_side, cutoff=cp, sharp=True)
        kw = refit_options(res, bandwidth=_fit_bandwidth(res), bandwidth_treatment=h_t,
                           rng=derived_seed(seed, _PLACEBO_KEY, j), sharp=fuzzy)
        kw["donut"] = 0.0  # a donut fit's units are those outside its donut; none around the placebo cutoffs
        try:
            fits.append(sub.fit(**kw))
        except InsufficientDataError as exc:
            skipped.append(SkippedCutoff(side, cp, str(exc)))
            continue
        sides.append(side)
    if skipped:
        warn(f"{len(skipped)} placebo cutoff(s) skipped: "
             + "; ".join(f"{s.cutoff:.4g} ({s.reason})" for s in skipped)
             + ". See .skipped; give cutoffs= farther from the ends of each side.", SmallSampleWarning)
    return PlaceboResults(original=res, fits=tuple(fits), sides=tuple(sides), skipped=tuple(skipped), seed=seed,
                          reduced_form=fuzzy)


class PlaceboResults:
    """Fits at placebo cutoffs (``R3DResults.placebo``).

    Attributes
    ----------
    original : R3DResults
        The fit whose design is checked.
    fits : tuple of R3DResults
        One fit per placebo cutoff kept, in the order of :attr:`frame`.
    sides : tuple of str
        "left" or "right" of the true cutoff, per fit.
    skipped : tuple of SkippedCutoff
        Cutoffs not fitted (too few units on a side of them, or a failed fit), with the reason.
    seed : int or tuple of int
        Seed the placebo fits' seeds are derived from (:func:`derived_seed`).
    reduced_form : bool
        True for a fuzzy design: the placebo fits are sharp (the outcome's jump; take-up does not jump
        at a placebo cutoff, so the Wald ratio is not defined there).
    """

    def __init__(self, *, original: Any, fits: tuple, sides: tuple, skipped: tuple, seed: Any,
                 reduced_form: bool) -> None:
        self.original = original
        self.fits = fits
        self.sides = sides
        self.skipped = skipped
        self.seed = seed
        self.reduced_form = reduced_form

    @property
    def frame(self) -> pd.DataFrame:
        """One row per placebo cutoff: "side", "cutoff", "n_left", "n_right" (units on each side of it),
        "h" (its bandwidth; the median of per-quantile bandwidths), "tau(q)" at the grid points nearest
        0.1, 0.25, 0.5, 0.75, 0.9, "average" (the average effect) with "average_se", "average_lower",
        "average_upper" (pointwise interval at the fit's alpha), and "nullity_pvalue" (H0: tau(q) = 0 on the
        whole grid; NaN without bootstrap draws)."""
        q = self.original.quantiles
        idx = shown_indices(q)
        rows = []
        for side, fit in zip(self.sides, self.fits, strict=True):
            ae = fit.average_effect
            row = {"side": side, "cutoff": fit.data.cutoff, "n_left": fit.data.n_left, "n_right": fit.data.n_right,
                   "h": _h_value(fit.bandwidth_choice.h)}
            row.update({f"tau({_level(q[j])})": float(fit._est.tau[j]) for j in idx})
            row.update({"average": ae.estimate, "average_se": ae.se, "average_lower": ae.lower,
                        "average_upper": ae.upper, "nullity_pvalue": _nullity_p(fit)})
            rows.append(row)
        columns = ["side", "cutoff", "n_left", "n_right", "h", *(f"tau({_level(q[j])})" for j in idx), "average",
                   "average_se", "average_lower", "average_upper", "nullity_pvalue"]
        return pd.DataFrame(rows, columns=columns)

    @property
    def skipped_frame(self) -> pd.DataFrame:
        """The skipped cutoffs: "side", "cutoff", "reason"."""
        return pd.DataFrame([{"side": s.side, "cutoff": s.cutoff, "reason": s.reason} for s in self.skipped],
                            columns=["side", "cutoff", "reason"])

    def __len__(self) -> int:
        return len(self.fits)

    def __repr__(self) -> str:
        p = [_nullity_p(f) for f in self.fits]
        alpha = self.original.spec.alpha
        fields = [("", f"{len(self.fits)} cutoffs"), ("skipped", str(len(self.skipped)))]
        if p and not all(math.isnan(v) for v in p):
            fields += [("min p", _r.pvalue(np.nanmin(p))),
                       (f"rejected at {alpha:g}", str(sum(v <= alpha for v in p)))]
        return _r.one_line("PlaceboResults", f"true cutoff {self.original.data.cutoff:g}", fields)

    def summary(self):
        """A statsmodels ``Summary`` (``as_text``, ``as_latex``, ``as_html``): one row per placebo cutoff with
        tau at a few levels, the average effect and the nullity test's p-value; the skipped cutoffs in the notes."""
        from r3d._summary import R3DSummary, Section, decimals_for, fmt_num, fmt_p

        f = self.frame
        taus = [c for c in f.columns if c.startswith("tau(")]
        dec = decimals_for(f[[*taus, "average", "average_lower", "average_upper"]].to_numpy()) if len(f) else 4
        rows = tuple((r["side"], fmt_num(r["cutoff"], decimals_for(r["cutoff"])), f"{r['n_left']} / {r['n_right']}",
                      fmt_num(r["h"], decimals_for(r["h"])), *(fmt_num(r[t], dec) for t in taus),
                      fmt_num(r["average"], dec),
                      f"[{fmt_num(r['average_lower'], dec)}, {fmt_num(r['average_upper'], dec)}]",
                      fmt_p(r["nullity_pvalue"])) for r in f.to_dict("records"))
        o = self.original
        table = Section(title=f"Placebo cutoffs (true cutoff {o.data.cutoff:g})", kind="table",
                        headers=("side", "cutoff", "units L / R", "h", *taus, "average",
                                 f"{_coverage(o.spec.alpha)} CI", "P(tau=0)"),
                        stubs=tuple(str(i + 1) for i in range(len(f))), rows=rows)
        notes = [f"Each placebo fit uses only the units on its side of the true cutoff, with the fit's options "
                 f"({o.spec.method}, order {o.spec.order}, {o.spec.kernel} kernel, bandwidth "
                 f"{'re-selected (' + o.spec.bandwidth_rule + ')' if o.spec.bandwidth_rule != 'fixed' else 'fixed'}). "
                 "P(tau=0) is the nullity test's p-value on the whole grid; under a valid design about "
                 f"{o.spec.alpha:g} of them fall below {o.spec.alpha:g}."]
        if self.reduced_form:
            notes.append("Fuzzy design: the placebo fits are the outcome's jump (reduced form), since take-up does "
                         "not jump at a placebo cutoff.")
        notes += [f"Skipped: {s.side} cutoff {s.cutoff:.4g}: {s.reason}." for s in self.skipped]
        notes.append(f"Seeds derived from {self.seed}.")
        return R3DSummary([table], notes)

    def _repr_html_(self) -> str:
        return self.summary().as_html()

    def plot(self, ax: Any = None, kind: str = "average", title: str | None = None) -> Any:
        """Plot the placebo fits with matplotlib.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        kind : {"average", "curves"}
            "average": the average effect at each cutoff with its pointwise interval, the original fit's at
            the true cutoff (marked by a dashed line); "curves": tau(q) of every placebo fit (thin) and of the
            original fit (thick).
        title : str, optional
            "" for none.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from r3d._validation import check_choice

        kind = check_choice("kind", kind, ("average", "curves"))
        ax = _axes(ax)
        o = self.original
        if kind == "average":
            f = self.frame
            for side, color in (("left", "C0"), ("right", "C1")):
                s = f[f["side"] == side]
                if len(s):
                    ax.errorbar(s["cutoff"], s["average"], yerr=[s["average"] - s["average_lower"],
                                                                  s["average_upper"] - s["average"]],
                                fmt="o", color=color, capsize=3, label=f"placebo ({side})")
            ae = o.average_effect
            ax.errorbar([o.data.cutoff], [ae.estimate], yerr=[[ae.estimate - ae.lower], [ae.upper - ae.estimate]],
                        fmt="s", color="C3", capsize=3, label="true cutoff")
            ax.axvline(o.data.cutoff, color="C3", linestyle="--", linewidth=0.8)
            ax.axhline(0.0, color="0.3", linewidth=0.8)
            ax.set_xlabel(o.data.running_name)
            ax.set_ylabel("average effect")
            default = f"Placebo cutoffs: average effect, {_coverage(o.spec.alpha)} intervals"
        else:
            q = o.quantiles
            for i, (side, fit) in enumerate(zip(self.sides, self.fits, strict=True)):
                ax.plot(q, fit._est.tau, color="C0" if side == "left" else "C1", linewidth=0.9, alpha=0.8,
                        label=f"placebo ({side})" if side not in self.sides[:i] else None)
            ax.plot(q, o._est.tau, color="C3", linewidth=2.2, label=f"true cutoff ({o.data.cutoff:g})")
            ax.axhline(0.0, color="0.3", linewidth=0.8)
            ax.set_xlabel("quantile level q")
            ax.set_ylabel("tau(q)")
            default = "Placebo cutoffs: tau(q)"
        title = default if title is None else title
        if title:
            ax.set_title(title, fontsize="medium")
        ax.legend(fontsize="small", frameon=False)
        return ax


# ---------------------------------------------------------------------------------------------
# bandwidth sensitivity
# ---------------------------------------------------------------------------------------------
def _check_bandwidths(bandwidths: Any) -> np.ndarray:
    fix = "Give bandwidths in units of the running variable, e.g. bandwidths=[0.1, 0.2, 0.4]."
    values = np.atleast_1d(np.asarray(bandwidths, dtype=object))
    if values.ndim != 1 or values.size == 0 or not all(
            isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in values):
        raise TypeError(message("bandwidths", "None or a non-empty list of positive numbers", bandwidths, fix))
    h = values.astype(np.float64)
    if not (np.all(np.isfinite(h)) and np.all(h > 0)):
        raise ValueError(message("bandwidths", "finite numbers > 0", bandwidths, fix))
    return h


def sensitivity_fits(res: Any, bandwidths: Any = None, rng: Any = None) -> SensitivityResults:
    """Refits of ``res`` at other bandwidths (``R3DResults.sensitivity``)."""
    h0 = res.bandwidth_choice.h
    seed = base_seed(res.spec.seed, rng)
    h_t = res.bandwidth_treatment  # the first stage keeps its bandwidth: only h varies
    if bandwidths is None:
        plan = [(float(k), h0 * k) for k in SENSITIVITY_MULTIPLES]
    else:
        given = _check_bandwidths(bandwidths)
        plan = [(float(h / h0[0]) if h0.size == 1 else math.nan, np.array([h])) for h in given]
    fits, multiples = [], []
    for j, (k, h) in enumerate(plan):
        if np.array_equal(h, h0):
            fits.append(res)  # the fit itself (its own draws and band)
        else:
            bw = float(h[0]) if h.size == 1 else h
            fits.append(_refit_model(res).fit(**refit_options(res, bandwidth=bw, bandwidth_treatment=h_t,
                                                              rng=derived_seed(seed, _SENSITIVITY_KEY, j))))
        multiples.append(k)
    return SensitivityResults(original=res, fits=tuple(fits), multiples=tuple(multiples), seed=seed)


class SensitivityResults:
    """Refits at other bandwidths (``R3DResults.sensitivity``).

    Attributes
    ----------
    original : R3DResults
    fits : tuple of R3DResults
        One per bandwidth, in the order given (the original fit itself where the bandwidth is its own).
    multiples : tuple of float
        Each bandwidth over the original one (NaN for a bandwidth given when the original has one per quantile).
    seed : int or tuple of int
        Seed the refits' seeds are derived from.
    """

    def __init__(self, *, original: Any, fits: tuple, multiples: tuple, seed: Any) -> None:
        self.original = original
        self.fits = fits
        self.multiples = multiples
        self.seed = seed

    @property
    def frame(self) -> pd.DataFrame:
        """One row per bandwidth and shown level (the grid points nearest 0.1, 0.25, 0.5, 0.75, 0.9):
        "multiple", "h" (the median of per-quantile bandwidths), "n_left", "n_right" (units with positive
        kernel weight; their minimum over the grid for per-quantile bandwidths), "quantile", "tau", "se",
        "ci_lower", "ci_upper" (pointwise) and "band_lower", "band_upper" (the fit's uniform band; NaN
        without bootstrap draws), all at the fit's alpha."""
        q = self.original.quantiles
        idx = shown_indices(q)
        rows = []
        for k, fit in zip(self.multiples, self.fits, strict=True):
            ci = fit.conf_int().to_numpy()
            band = fit.conf_int(kind="uniform").to_numpy() if fit.bootstrap_draws is not None else None
            ne = fit.n_effective
            for j in idx:
                rows.append({"multiple": k, "h": _h_value(fit.bandwidth_choice.h),
                             "n_left": int(np.min(ne["left"])), "n_right": int(np.min(ne["right"])),
                             "quantile": float(q[j]), "tau": float(fit._est.tau[j]), "se": float(fit._inf.se[j]),
                             "ci_lower": ci[j, 0], "ci_upper": ci[j, 1],
                             "band_lower": math.nan if band is None else band[j, 0],
                             "band_upper": math.nan if band is None else band[j, 1]})
        return pd.DataFrame(rows, columns=["multiple", "h", "n_left", "n_right", "quantile", "tau", "se", "ci_lower",
                                           "ci_upper", "band_lower", "band_upper"])

    def __repr__(self) -> str:
        h = [_h_value(f.bandwidth_choice.h) for f in self.fits]
        return _r.one_line("SensitivityResults", f"{len(self.fits)} bandwidths",
                           [("h", f"{_r.num(min(h))} to {_r.num(max(h))}"),
                            ("chosen h", _r.num(_h_value(self.original.bandwidth_choice.h)))])

    def summary(self):
        """A statsmodels ``Summary``: tau at the shown levels (rows: bandwidths) with pointwise intervals."""
        from r3d._summary import R3DSummary, Section, decimals_for, fmt_num

        f = self.frame
        levels = sorted(set(f["quantile"]))
        dec = decimals_for(f[["tau", "ci_lower", "ci_upper"]].to_numpy())
        rows, stubs = [], []
        for i in range(len(self.fits)):
            part = f.iloc[i * len(levels):(i + 1) * len(levels)]
            k = self.multiples[i]
            stubs.append(f"h = {_r.num(part['h'].iloc[0])}" + ("" if math.isnan(k) else f" ({k:g} x)"))
            rows.append(tuple(f"{fmt_num(r.tau, dec)} [{fmt_num(r.ci_lower, dec)}, {fmt_num(r.ci_upper, dec)}]"
                              for r in part.itertuples(index=False)))
        o = self.original
        table = Section(title="Bandwidth sensitivity: tau(q) [pointwise interval]", kind="table",
                        headers=tuple(f"tau({_level(v)})" for v in levels), stubs=tuple(stubs), rows=tuple(rows))
        notes = [f"Refits with the fit's options at fixed bandwidths; {_coverage(o.spec.alpha)} pointwise intervals "
                 "(the uniform bands are in .frame). The chosen bandwidth is "
                 f"{_r.num(_h_value(o.bandwidth_choice.h))} ({o.spec.bandwidth_rule}).",
                 f"Seeds derived from {self.seed}."]
        return R3DSummary([table], notes)

    def _repr_html_(self) -> str:
        return self.summary().as_html()

    def plot(self, ax: Any = None, title: str | None = None) -> Any:
        """tau at the shown levels against the bandwidth: pointwise intervals (thick) and the uniform band
        (thin, capped) at each bandwidth, the chosen bandwidth dashed. Returns the Axes."""
        ax = _axes(ax)
        f = self.frame
        levels = sorted(set(f["quantile"]))
        h = np.array(sorted(set(f["h"])))
        step = 0.012 * (h.max() - h.min() if h.size > 1 else h[0])
        for i, v in enumerate(levels):
            s = f[f["quantile"] == v]
            x = s["h"].to_numpy() + (i - (len(levels) - 1) / 2) * step
            color = f"C{i}"
            ax.plot(x, s["tau"], "-o", color=color, markersize=4, linewidth=1, label=f"q = {_level(v)}")
            ax.vlines(x, s["band_lower"], s["band_upper"], color=color, linewidth=0.8, alpha=0.5)
            ax.vlines(x, s["ci_lower"], s["ci_upper"], color=color, linewidth=2.5, alpha=0.8)
        ax.axvline(_h_value(self.original.bandwidth_choice.h), color="0.4", linestyle="--", linewidth=0.8,
                   label="chosen h")
        ax.axhline(0.0, color="0.3", linewidth=0.8)
        ax.set_xlabel("bandwidth h")
        ax.set_ylabel("tau(q)")
        title = (f"Bandwidth sensitivity ({_coverage(self.original.spec.alpha)}: pointwise thick, uniform thin)"
                 if title is None else title)
        if title:
            ax.set_title(title, fontsize="medium")
        ax.legend(fontsize="small", frameon=False, ncol=2)
        return ax


# ---------------------------------------------------------------------------------------------
# the comparison of two fits
# ---------------------------------------------------------------------------------------------
def _fit_text(res: Any) -> str:
    s = res.spec
    text = f"{s.method}, order {s.order}, h = {res._bandwidth_text()}"
    text += f", donut {s.donut:g}" if s.donut else ""
    clustered = res.data.n_clusters is not None
    if s.vce == check_vce(None, clustered):
        return text
    return text + f", {'CR' + s.vce[-1] if clustered else s.vce.upper()} standard errors"


def compare_fits(a: Any, b: Any, *, n_boot: Any = None, alpha: Any = None, rng: Any = None) -> FitComparison:
    """``tau_a(q) - tau_b(q)`` of two fits of the same units, with a uniform band and sup test from one
    multiplier per unit (or cluster) shared by both fits (``R3DResults.compare``)."""
    from r3d.results import R3DResults

    if not isinstance(b, R3DResults):
        raise TypeError(message("other", "an R3DResults (a fit of the same model)", f"<{type(b).__name__}>"))
    root_a, root_b = a.model._root, b.model._root
    ids = root_a.units.unit_ids
    if root_a is not root_b and not ids.equals(root_b.units.unit_ids):
        raise ValueError(message("other", "a fit of the same units (of the same model, or one built from the same "
                                 "data)", f"<a fit of {len(root_b.units.unit_ids)} units, this one of {len(ids)}>",
                                 "Fit both on one model, e.g. res.model.fit(..., donut=0.05)."))
    ca, cb = root_a.units.cluster_codes, root_b.units.cluster_codes
    if root_a is not root_b and not ((ca is None and cb is None) or (
            ca is not None and cb is not None and np.array_equal(ca, cb))):
        raise ValueError(message("other", "a fit with the same clusters", "<a fit with other clusters>",
                                 "Build both models with the same cluster= column."))
    qa, qb = a._est.quantiles, b._est.quantiles
    if qa.shape != qb.shape or not np.array_equal(qa, qb):
        raise ValueError(message("other", f"a fit on the same quantile grid ({_r.level_range(qa)})",
                                 f"<a fit on {_r.level_range(qb)}>", "Refit with quantiles=res.quantiles."))
    n_boot = (a.spec.n_boot or 999) if n_boot is None else check_int("n_boot", n_boot, low=1)
    alpha = a.spec.alpha if alpha is None else check_probability("alpha", alpha)
    seed = None
    if rng is None and a.spec.seed is not None and b.spec.seed is not None:
        seed = derived_seed(tuple(_flat(a.spec.seed) + _flat(b.spec.seed)), _COMPARE_KEY)
        rng = seed
    gen, recorded = seeded_rng(rng)
    seed = recorded if seed is None else seed
    pos_a = ids.get_indexer(a.data.unit_ids)
    pos_b = ids.get_indexer(b.data.unit_ids)
    D = np.zeros((ids.size, qa.size))
    D[pos_a] += a._est.influence
    D[pos_b] -= b._est.influence
    agg = _aggregate(D, ca)
    _, se = _variance_and_se(agg)
    diff = a._est.tau - b._est.tau
    draws = _draws(agg, n_boot, gen, False)
    # a difference of two fits is no ratio: an Anderson-Rubin fit's comparison takes its studentized band
    kind = "studentized" if a.spec.band == "anderson-rubin" else a.spec.band
    band = _band(diff, draws, alpha=alpha, kind=kind, se=se if kind == "studentized" else None)
    test = run_test("nullity", TestInputs(tau=diff, draws=draws, quantiles=qa), alpha=alpha)
    return FitComparison(quantiles=qa.copy(), diff=diff, se=se, band=band, test=test, draws=draws, alpha=alpha,
                         seed=seed, n_units=int(np.count_nonzero(np.any(D != 0.0, axis=1))),
                         labels=(_fit_text(a), _fit_text(b)))


def _flat(seed: Any) -> list[int]:
    return list(seed) if isinstance(seed, tuple) else [int(seed)]


@dataclass(frozen=True, slots=True)
class FitComparison:
    """The difference of two fits of the same units, ``tau_a(q) - tau_b(q)`` (``R3DResults.compare``).

    Attributes
    ----------
    quantiles : ndarray
        (m,) the common grid.
    diff : ndarray
        (m,) ``tau_a - tau_b``.
    se : ndarray
        (m,) its standard errors: from the influence matrix ``a_a - a_b`` (zero rows for a unit outside a fit),
        HC0 or cluster-robust.
    band : UniformBand
        Uniform band of the difference (the first fit's band type), from the shared multipliers.
    test : r3d.bootstrap.TestResults
        Sup test of H0: ``tau_a(q) = tau_b(q)`` for every q on the grid.
    draws : ndarray
        (n_boot, m) bootstrap process of the difference.
    alpha : float
    seed : int or tuple of int or None
        Seed of the multipliers (None for a Generator given as ``rng``).
    n_units : int
        Units with a non-zero influence in either fit (inside a bandwidth of either).
    labels : tuple of str
        The two fits in words (method, order, bandwidth, donut).
    """

    quantiles: np.ndarray
    diff: np.ndarray
    se: np.ndarray
    band: UniformBand
    test: TestResults
    draws: np.ndarray
    alpha: float
    seed: Any
    n_units: int
    labels: tuple[str, str]

    @property
    def frame(self) -> pd.DataFrame:
        """One row per grid level (index "quantile"): "diff", "se", "ci_lower", "ci_upper" (pointwise),
        "band_lower", "band_upper" (uniform)."""
        from scipy import stats

        from r3d.results import level_labels

        half = stats.norm.ppf(1 - self.alpha / 2) * self.se
        return pd.DataFrame({"diff": self.diff, "se": self.se, "ci_lower": self.diff - half,
                             "ci_upper": self.diff + half, "band_lower": self.band.lower,
                             "band_upper": self.band.upper},
                            index=pd.Index(level_labels(self.quantiles), name="quantile"))

    def __repr__(self) -> str:
        t = self.test
        return _r.one_line("FitComparison", "tau_a - tau_b",
                           [("max |diff|", _r.num(np.max(np.abs(self.diff)))), ("p", _r.pvalue(t.pvalue)),
                            ("B", str(t.n_boot)), ("", f"{self.quantiles.size} levels")])

    def summary(self):
        """A statsmodels ``Summary``: the two fits, the difference at a few levels, and the sup test."""
        from r3d._summary import R3DSummary, Section, decimals_for, fmt_num, fmt_p

        f = self.frame
        idx = shown_indices(self.quantiles)
        dec = decimals_for(f[["diff", "ci_lower", "ci_upper", "band_lower", "band_upper"]].to_numpy()[idx])
        header = Section(title="Comparison of two fits on the same units", kind="keyvalue", headers=(), stubs=(),
                         rows=(("Fit a", self.labels[0], "Units in either", str(self.n_units)),
                               ("Fit b", self.labels[1], "Draws", str(self.test.n_boot))))
        rows = tuple((fmt_num(self.diff[j], dec), fmt_num(self.se[j], dec),
                      f"[{fmt_num(f['ci_lower'].iloc[j], dec)}, {fmt_num(f['ci_upper'].iloc[j], dec)}]",
                      f"[{fmt_num(self.band.lower[j], dec)}, {fmt_num(self.band.upper[j], dec)}]") for j in idx)
        table = Section(title="tau_a(q) - tau_b(q)", kind="table",
                        headers=("diff", "std err", f"{_coverage(self.alpha)} CI", "uniform band"),
                        stubs=tuple(_level(self.quantiles[j]) for j in idx), rows=rows)
        t = self.test
        test = Section(title="Sup test: tau_a(q) = tau_b(q) for all q", kind="table",
                       headers=("statistic", f"crit ({_coverage(self.alpha)})", "p-value"), stubs=("max |diff|",),
                       rows=((fmt_num(t.statistic, dec), fmt_num(t.critical_value, dec), fmt_p(t.pvalue)),))
        notes = ["The difference's bootstrap process uses one multiplier per unit (per cluster) shared by both fits, "
                 "applied to the difference of their influence matrices (a unit outside a fit contributes zero to it).",
                 f"Seed {self.seed}."]
        return R3DSummary([header, table, test], notes)

    def _repr_html_(self) -> str:
        return self.summary().as_html()

    def plot(self, ax: Any = None, title: str | None = None) -> Any:
        """The difference with its pointwise interval (darker) and uniform band (lighter), and a zero line."""
        from r3d.plotting import BAND_ALPHA, CI_ALPHA

        ax = _axes(ax)
        q, f = self.quantiles, self.frame
        ax.fill_between(q, self.band.lower, self.band.upper, color="C2", alpha=BAND_ALPHA,
                        label=f"{_coverage(self.alpha)} uniform band", linewidth=0)
        ax.fill_between(q, f["ci_lower"], f["ci_upper"], color="C2", alpha=CI_ALPHA,
                        label=f"{_coverage(self.alpha)} pointwise", linewidth=0)
        ax.plot(q, self.diff, color="C2", linewidth=1.8, label="tau_a - tau_b")
        ax.axhline(0.0, color="0.3", linewidth=0.8)
        ax.set_xlabel("quantile level q")
        ax.set_ylabel("tau_a(q) - tau_b(q)")
        title = f"Difference of two fits (sup test p = {_r.pvalue(self.test.pvalue)})" if title is None else title
        if title:
            ax.set_title(title, fontsize="medium")
        ax.legend(fontsize="small", frameon=False)
        return ax

