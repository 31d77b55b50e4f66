"""The statsmodels ``Summary`` of an ``R3DResults``: layout and formatting only.

Every number shown comes from the results object (``summary_frame``, ``average_effect``,
``first_stage``, the tests); this module decides which rows to show, how many decimals to
print and how the tables look as text, LaTeX and HTML. The cells are kept as plain strings
in ``Section`` records so that the three renderings cannot disagree; hints meant for the console
(where to find more, ``res.summary_frame()``) appear in the text only, never in LaTeX or HTML; text goes through
statsmodels' ``SimpleTable`` (so ``as_text``/``as_csv``/``tables`` behave as in statsmodels),
LaTeX and HTML are written here because statsmodels neither escapes nor keeps sections apart
in those two formats.
"""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats
from statsmodels.iolib.summary import Summary
from statsmodels.iolib.table import SimpleTable
from statsmodels.iolib.tableformatting import fmt_2cols, fmt_params

from r3d._validation import check_choice, message
from r3d.bootstrap import TESTS

if TYPE_CHECKING:  # pragma: no cover
    from r3d.results import R3DResults

__all__ = ["R3DSummary", "SECTIONS", "Note", "Section", "build_summary", "format_level"]

#: The sections of a summary, in order ("bandwidth" only for a selected bandwidth, "functionals" only
#: when asked for, "tests" only with bootstrap draws, "first_stage" only for a fuzzy design).
#: ``summary(sections=...)`` and ``as_latex(sections=...)`` choose among them; "notes" are the numbered
#: notes, each kept when a section it explains is kept (the fit's warnings always).
SECTIONS = ("header", "bandwidth", "effects", "functionals", "tests", "first_stage", "notes")
#: LaTeX font size of the tables by default, and the column separation: with these, and the
#: header's pairs stacked in two columns, every default table fits the 345pt text width of LaTeX's
#: article class (checked with pdflatex in tests/test_results.py; at \normalsize with 6pt
#: separation the sharp summary's header was 71pt too wide, and a fuzzy fit's effect table with
#: per-quantile bandwidths 100pt).
LATEX_FONTSIZE = "footnotesize"
LATEX_TABCOLSEP = "3pt"
_LATEX_SIZES = ("tiny", "scriptsize", "footnotesize", "small", "normalsize", "large")

#: Narrowest text width (statsmodels' summaries are 78 characters wide).
MIN_WIDTH = 78
#: Significant digits shown for the largest number of a column group (the others get the
#: same number of decimals, so columns line up on the decimal point).
SIG_DIGITS = 5
#: Space between the columns of the text tables.
COLSEP = "  "
#: Most decimals ever shown (tiny effects switch to scientific notation instead).
MAX_DECIMALS = 6

_METHOD_NAMES = {"frechet": "Frechet (Wasserstein)", "simple": "local polynomial"}
_RULE_NAMES = {"mse": "MSE-optimal", "imse": "IMSE-optimal", "cer-mse": "CER-optimal (MSE)",
               "cer-imse": "CER-optimal (IMSE)", "fixed": "fixed (user)"}


@dataclass(frozen=True, slots=True)
class Section:
    """One table of the summary, as display strings.

    Attributes
    ----------
    title : str
        Caption (may be empty).
    kind : {"keyvalue", "table"}
        "keyvalue": ``rows`` are (name, value, name, value) and there are no headers;
        "table": a grid with ``headers`` and row ``stubs``.
    headers : tuple of str
        (k,) column headers ("table" only).
    stubs : tuple of str
        (r,) row labels.
    rows : tuple of tuple of str
        (r, k) cell texts.
    rule_before : tuple of int
        Row indices preceded by a horizontal rule.
    latex_title : str, optional
    latex_headers, latex_stubs : tuple of str, optional
        LaTeX versions (math mode) of ``title``/``headers``/``stubs``; None: escaped plain text.
    """

    title: str
    kind: str
    headers: tuple[str, ...]
    stubs: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    rule_before: tuple[int, ...] = ()
    latex_title: str | None = None
    latex_headers: tuple[str, ...] | None = None
    latex_stubs: tuple[str, ...] | None = None
    name: str = ""
    console_title: str | None = None


@dataclass(frozen=True, slots=True)
class Note:
    """One numbered note of the summary.

    Attributes
    ----------
    text : str
        The note as LaTeX, HTML and ``R3DSummary.notes`` show it.
    console : str, optional
        The text version when it differs (it may point to attributes with more: "res.summary_frame()
        has all"); None: ``text``.
    about : tuple of str
        Sections (``SECTIONS``) the note explains: it is kept when any of them is; empty: always kept.
    """

    text: str
    console: str | None = None
    about: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# number formatting
# ---------------------------------------------------------------------------------------------
def format_level(q: float) -> str:
    """A quantile level as shown in tables: 3 significant digits, at least 2 decimals
    (0.1 -> "0.10", 0.0952381 -> "0.0952", 0.975 -> "0.975")."""
    s = f"{q:.3g}"
    if "e" in s:
        return s
    decimals = len(s.split(".")[1]) if "." in s else 0
    return f"{q:.{max(2, decimals)}f}"


def decimals_for(values: Any, sig: int = SIG_DIGITS) -> int | None:
    """Decimals that show the largest finite |value| with ``sig`` significant digits, at most
    ``MAX_DECIMALS``; None (scientific notation) when that would leave fewer than 3."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = np.abs(v[np.isfinite(v)])
    if v.size == 0 or v.max() == 0:
        return 4
    d = sig - 1 - math.floor(math.log10(v.max()))
    if d > MAX_DECIMALS:
        # keep fixed notation while it still shows 3 significant digits
        return MAX_DECIMALS if v.max() >= 10.0 ** (2 - MAX_DECIMALS) else None
    return max(d, 0)


def fmt_num(v: Any, decimals: int | None) -> str:
    """One number with a column group's decimals ("--" when missing or not finite)."""
    if v is None:
        return "--"
    v = float(v)
    if math.isnan(v):
        return "--"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if decimals is None:
        return f"{v:.3e}"
    return f"{v:.{decimals}f}"


def fmt_p(v: float) -> str:
    """p-values: three decimals, "<0.001" below."""
    if v is None or math.isnan(v):
        return "--"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def _range_text(lo: float, hi: float) -> str:
    return f"[{format_level(lo)}, {format_level(hi)}]"


def coverage_pct(alpha: float) -> str:
    """Coverage 1 - alpha as a percentage without spurious decimals (95%, 90%, 97.5%)."""
    return f"{100 * (1 - alpha):.4g}%"


def inside_text(n_effective: dict) -> str:
    """Units inside the bandwidth, "left / right" (a min-max range for per-quantile bandwidths)."""
    return " / ".join(str(v) if isinstance(v, int) else f"{int(v.min())}-{int(v.max())}"
                      for v in (n_effective["left"], n_effective["right"]))


def _estimate_cells(coef: float, se: float, z: float, p: float, decimals: int | None) -> list[str]:
    """The cells coef, std err, z, P>|z| shared by the effect and first-stage tables."""
    return [fmt_num(coef, decimals), fmt_num(se, decimals), fmt_num(z, 3), fmt_p(p)]


# ---------------------------------------------------------------------------------------------
# building the sections
# ---------------------------------------------------------------------------------------------
def _header(res: R3DResults, alpha: float) -> Section:
    d, s = res.data, res.spec
    rule = _RULE_NAMES.get(s.bandwidth_rule, s.bandwidth_rule)
    if s.bandwidth_rule != "fixed" and s.regularize:
        rule += ", regularized"
    q = res.quantiles
    left = [
        ("Outcome", d.outcome_name),
        ("Running variable", d.running_name),
        ("Cutoff", f"{d.cutoff:g}"),
        ("Design", res.design),
        ("Method", _METHOD_NAMES.get(s.method, s.method)),
        ("Kernel", s.kernel),
        ("Order p / pilot s", f"{s.order} / {s.pilot_order}"),
        ("Bandwidth h", res._bandwidth_text()),
        ("Bandwidth rule", rule),
    ]
    right = [
        ("Units", f"{d.nobs} ({d.unit_name})"),
        ("Units left / right", f"{d.n_left} / {d.n_right}"),
        ("Inside h left / right", inside_text(res.n_effective)),
        ("Draws", "-- (quantiles given)" if d.ndraws is None else f"{d.ndraws}"),
        ("Dropped draws / units", f"{d.n_dropped_draws} / {d.n_dropped_units}"),
        ("Quantile grid", f"{q.size} in {_range_text(q[0], q[-1])}"),
        ("Quantile method", s.quantile_method),
        ("Bootstrap draws", f"{s.n_boot}" if s.n_boot else "none"),
        ("Band", f"{s.band}, {coverage_pct(alpha)}" if s.n_boot else "--"),
        ("Clusters", "--" if d.n_clusters is None else f"{d.n_clusters} ({d.cluster_name})"),
    ]
    mp = d.mass_points
    if mp is not None and mp.shared:  # only where units share running values (else the unit counts say it)
        right.append(("Distinct x left / right", f"{mp.distinct_left} / {mp.distinct_right}"))
        right.append(("Distinct x inside h", mp.inside_text() + (" (adjusted)" if mp.mode == "adjust" else "")))
    if d.unit_weights_name is not None:
        right.append(("Unit weights", f"{d.unit_weights_name} (sum {d.sum_unit_weights:.6g})"))
    if res.bandwidth_treatment is not None:
        fs_rule = "user" if res.bandwidth_choice.treatment_source == "user" else "MSE-optimal"
        left.append(("Treatment", str(d.treatment_name)))
        left.append(("Take-up bandwidth", f"{res.bandwidth_treatment:.4g} ({fs_rule})"))
    if res._est.covariates is not None:
        left.append(("Covariates", f"{len(res._est.covariates.names)} (listed below)"))
    if s.donut:
        left.append(("Donut |x - c| <", f"{s.donut:g} ({d.n_donut} units out)"))
    rows = tuple((*a, *b) for a, b in zip_longest(left, right, fillvalue=("", "")))
    return Section(title="R3D: regression discontinuity with distribution-valued outcomes", kind="keyvalue",
                   headers=(), stubs=(), rows=rows, name="header")


def _span(values: Any) -> str:
    """One number, or the range over the grid when it varies by quantile."""
    v = np.atleast_1d(np.asarray(values, dtype=np.float64))
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "--"
    lo, hi = float(v.min()), float(v.max())
    return f"{lo:.4g}" if np.isclose(lo, hi, rtol=1e-12, atol=0) else f"{lo:.3g}-{hi:.3g}"


def _median(values: Any) -> str:
    """Median over the grid (per-quantile intermediates), compact."""
    v = np.atleast_1d(np.asarray(values, dtype=np.float64))
    v = v[np.isfinite(v)]
    return "--" if v.size == 0 else f"{float(np.median(v)):.3g}"


def _bandwidth_table(res: R3DResults) -> Section | None:
    """The selector's intermediates (docs/method.md §6), so a reader can audit the bandwidth."""
    sel = res.bandwidth_choice.selection
    if sel is None:
        return None
    st, c = sel.steps, sel.constants
    capped = np.atleast_1d(st.capped)
    left = [
        ("Density f(c)", f"{sel.density.f_hat:.4g} (h = {sel.density.h:.3g})"),
        ("Pilot h0", _span(st.h0)),
        ("Derivative bandwidth b", _span(st.b)),
        ("Cap (max distance)", f"{sel.h_max:.4g}" + (f", binds at {int(capped.sum())} q" if capped.any() else "")),
        ("CER factor", f"{sel.cer_factor:.4g}"),
    ]
    right = [
        ("B+ / B- (median over q)", f"{_median(st.B_plus)} / {_median(st.B_minus)}"),
        ("V+ / V- (median over q)", f"{_median(st.V_plus)} / {_median(st.V_minus)}"),
        ("R (median over q)", _median(st.R) if sel.regularize else "off"),
        ("Constants c_b / c_v", f"{c.c_b_plus:.4g} / {c.c_v_plus:.4g}"),
        ("Order s / p", f"{sel.pilot_order} / {sel.order}"),
    ]
    rows = tuple((*a, *b) for a, b in zip(left, right, strict=True))
    rule = res.spec.bandwidth_rule.upper()
    return Section(title=f"Bandwidth selection ({rule})", kind="keyvalue", headers=(), stubs=(), rows=rows,
                   name="bandwidth", console_title=f"Bandwidth selection ({rule}; res.bandwidth_info has all)")


def _effect_table(res: R3DResults, alpha: float, idx: np.ndarray) -> Section:
    sub = res.summary_frame(alpha).iloc[idx]
    ae = res._average_effect(alpha)
    has_band = "band_lower" in sub
    per_q_h = res._h.size > 1
    value_cols = ["coef", "std_err", "ci_lower", "ci_upper"] + (["band_lower", "band_upper"] if has_band else [])
    dec = decimals_for(np.concatenate([sub[value_cols].to_numpy().ravel(), [ae.estimate, ae.lower, ae.upper]]))
    lo, hi = f"[{alpha / 2:.4g}", f"{1 - alpha / 2:.4g}]"
    columns = [("coef", "coef"), ("std err", "std.\\ err."), ("z", "$z$"), ("P>|z|", "$P>|z|$"), (lo, lo), (hi, hi)]
    if has_band:
        columns += [("band lo", "band lo"), ("band hi", "band hi")]
    if per_q_h:
        columns.append(("h", "$h$"))
        hdec = decimals_for(sub["bandwidth"].to_numpy(), sig=4)
    rows = []
    for _, r in sub.iterrows():
        cells = (*_estimate_cells(r.coef, r.std_err, r.z, r.pvalue, dec), *(fmt_num(r[c], dec) for c in value_cols[2:]))
        rows.append((*cells, fmt_num(r.bandwidth, hdec)) if per_q_h else cells)
    cells = (*_estimate_cells(ae.estimate, ae.se, ae.z, ae.pvalue, dec), fmt_num(ae.lower, dec), fmt_num(ae.upper, dec))
    rows.append(cells + ("",) * (len(columns) - len(cells)))
    levels = [format_level(q) for q in sub.index]
    headers, latex_headers = zip(*columns, strict=True)
    return Section(title="Effect on the average quantile function, tau(q)", kind="table", headers=headers,
                   latex_title=r"Effect on the average quantile function, $\tau(q)$",
                   stubs=(*(f"tau({v})" for v in levels), "average"), rows=tuple(rows), rule_before=(len(rows) - 1,),
                   latex_headers=latex_headers, latex_stubs=(*(f"$\\tau({v})$" for v in levels), "average"),
                   name="effects")


def _tests_table(res: R3DResults, alpha: float, extra: Sequence[Any] = ()) -> Section | None:
    """The reported tests that apply to the grid (the notes name those skipped) and the ``extra`` results
    asked for; None if there is none."""
    results = [res.test(name, alpha=alpha)[0] for name in res._reported_tests()] + list(extra)
    if not results:
        return None
    rows = []
    for t in results:
        dec = decimals_for([t.statistic, t.critical_value])
        rows.append((fmt_num(t.statistic, dec), fmt_num(t.critical_value, dec), fmt_p(t.pvalue),
                     _range_text(*t.range)))
    cover = coverage_pct(alpha)
    return Section(title=f"Uniform tests over the whole grid ({res.spec.n_boot} bootstrap draws)", kind="table",
                   headers=("statistic", f"crit. {cover}", "p-value", "q range"),
                   stubs=tuple(TESTS[t.test].null for t in results), rows=tuple(rows),
                   latex_headers=("statistic", f"crit.\\ {latex_escape(cover)}", "$p$-value", "$q$ range"),
                   latex_stubs=tuple(TESTS[t.test].latex_null for t in results), name="tests")


def _functionals_table(res: R3DResults, alpha: float, effects: Sequence[Any]) -> Section | None:
    """One row per scalar functional (left, right, effect, se, p, interval); a curve at the grid levels
    nearest the deciles, then its sup test; the W2 test with its statistic and p-value only."""
    if not effects:
        return None
    stubs, rows, latex_stubs = [], [], []
    lo_hi = (f"[{alpha / 2:.4g}", f"{1 - alpha / 2:.4g}]")
    for eff in effects:
        if getattr(eff, "levels", None) is not None:  # a curve
            deciles = np.arange(1, 10)[:, None] / 10
            idx = np.unique(np.abs(eff.levels[None, :] - deciles).argmin(axis=1)) if eff.levels.size > 9 \
                else np.arange(eff.levels.size)
            ci = eff.conf_int(alpha, kind="pointwise")
            z = eff.values / eff.se_values
            ps = eff.pvalues.to_numpy()
            dec = decimals_for(np.r_[eff.left_values[idx], eff.right_values[idx], eff.values[idx]])
            for j in idx:
                level = format_level(eff.levels[j])
                stubs.append(f"{eff.label} at {level}")
                latex_stubs.append(latex_escape(f"{eff.label} at {level}"))
                rows.append((fmt_num(eff.left_values[j], dec), fmt_num(eff.right_values[j], dec),
                             *_estimate_cells(eff.values[j], eff.se_values[j], z[j], ps[j], dec),
                             fmt_num(ci["lower"].iloc[j], dec), fmt_num(ci["upper"].iloc[j], dec)))
            if eff.draws is not None:
                stubs.append(f"{eff.label}: sup test")
                latex_stubs.append(latex_escape(f"{eff.label}: sup test"))
                rows.append(("", "", "", "", "", fmt_p(eff.pvalue), "", ""))
            continue
        stubs.append(eff.label)
        latex_stubs.append(latex_escape(eff.label))
        if eff.method == "bootstrap test":
            dec = decimals_for([eff.estimate])
            rows.append(("", "", fmt_num(eff.estimate, dec), "", "", fmt_p(eff.pvalue), "", ""))
            continue
        lo, hi = eff.conf_int(alpha)
        dec = decimals_for([eff.left, eff.right, eff.estimate, lo, hi])
        rows.append((fmt_num(eff.left, dec), fmt_num(eff.right, dec),
                     *_estimate_cells(eff.estimate, eff.se, eff.z, eff.pvalue, dec), fmt_num(lo, dec),
                     fmt_num(hi, dec)))
    q = res.quantiles
    return Section(title=f"Effects on functionals of the limit distributions, on {_range_text(q[0], q[-1])}",
                   kind="table", headers=("left", "right", "effect", "std err", "z", "P>|z|", *lo_hi),
                   latex_headers=("left", "right", "effect", "std.\\ err.", "$z$", "$P>|z|$", *lo_hi),
                   stubs=tuple(stubs), latex_stubs=tuple(latex_stubs), rows=tuple(rows), name="functionals")


def _first_stage_table(res: R3DResults) -> Section:
    fs = res.first_stage
    dec = decimals_for([fs.jump, fs.se, fs.m_left, fs.m_right])
    row = (*_estimate_cells(fs.jump, fs.se, fs.z, fs.pvalue, dec), fmt_num(fs.m_left, dec), fmt_num(fs.m_right, dec),
           f"{fs.f_stat:.2f}", f"{fs.bandwidth:.4g}")
    headers = ("jump", "std err", "z", "P>|z|", "left", "right", "F", "h_T")
    return Section(title=f"First stage: take-up ({res.data.treatment_name}) at the cutoff", kind="table",
                   headers=headers, stubs=("take-up",), rows=(row,),
                   latex_headers=("jump", "std.\\ err.", "$z$", "$P>|z|$", "left", "right", "$F$", "$h_T$"),
                   name="first_stage")


def _notes(res: R3DResults, alpha: float, n_shown: int) -> list[Note]:
    d, s = res.data, res.spec
    fs = res.first_stage
    kind = s.vce.upper() if d.n_clusters is None else f"CR{s.vce[-1]}"  # vce="hc3" with clusters is CR3
    se = (f"Pointwise standard errors: {kind} sandwich of the local polynomial fits"
          + (f", clustered by {d.cluster_name}" if d.n_clusters is not None else "")
          + ("; fuzzy design by the delta method" if fs is not None else "")
          + f". [{alpha / 2:.4g}, {1 - alpha / 2:.4g}]: pointwise {coverage_pct(alpha)} interval, coef +/- "
          f"{stats.norm.ppf(1 - alpha / 2):.3g} se.")
    notes = [Note(se, about=("effects", "first_stage"))]
    if s.n_boot:
        crit = res._band(alpha).critical_value
        how = {"studentized": "coef +/- c se",
               "anderson-rubin": "the Anderson-Rubin (Fieller) set {t : (N - t D)^2 <= c^2 V(t)} at each level "
                                 "(robust to a weak first stage; -inf/inf: unbounded)"}.get(s.band, "coef +/- c")
        notes.append(Note(f"band lo/hi: {coverage_pct(alpha)} uniform band over {_grid_points(res.quantiles.size)}, "
                          f"{how} with c = {crit:.4g} from {s.n_boot} multiplier-bootstrap draws.", about=("effects",)))
        if res._reported_tests():
            notes.append(Note("Uniform tests: sup-norm statistics over the range, critical values and p-values from "
                              "the same bootstrap draws.", about=("tests",)))
        skipped = res._skipped_tests_note()
        if skipped is not None:
            notes.append(Note(skipped, about=("tests", "effects")))
        notes.append(Note(_seed_note(s.seed), about=("effects", "tests")))
    cov = res._est.covariates
    if cov is not None:
        notes.append(Note(f"Covariate-adjusted (rdrobust's covs=, one gamma(q) per level) for {', '.join(cov.names)}; "
                          "limits at the covariate mean at the cutoff; gamma in res.covariate_coefficients.",
                          about=("effects",)))
    notes.append(Note("average: integral of tau(q) over (0, 1), the effect on units' mean outcome "
                      "(trapezoid rule on the grid).", about=("effects",)))
    if n_shown < res.quantiles.size:
        shown = f"{n_shown} of {res.quantiles.size} grid points shown"
        notes.append(Note(shown + ".", console=shown + "; res.summary_frame() has all.", about=("effects",)))
    notes += [Note(n) for n in res.notes]
    return notes


def _seed_note(seed: Any) -> str:
    """Where the bootstrap's randomness came from (``FitSpec.seed``)."""
    if seed is None:
        return "Bootstrap multipliers drawn from a numpy Generator given by the user (no seed recorded)."
    shown = f"[{', '.join(str(v) for v in seed)}]" if isinstance(seed, tuple) else str(seed)
    return f"Bootstrap seed: {shown} (numpy.random.default_rng)."


def _grid_points(m: int) -> str:
    return "the single grid point" if m == 1 else f"all {m} grid points"


def check_sections(sections: Any) -> tuple[str, ...] | None:
    """None (every section) or a tuple of names from ``SECTIONS`` (a single name may be a string)."""
    if sections is None:
        return None
    items = (sections,) if isinstance(sections, str) else sections
    try:
        items = tuple(items)
    except TypeError:
        raise TypeError(message("sections", f"a name or a sequence of names from {SECTIONS}", sections,
                                "For example sections=('effects', 'notes').")) from None
    if not items:
        raise ValueError(message("sections", f"at least one name from {SECTIONS}", sections,
                                 "Omit `sections` for the whole summary."))
    return tuple(check_choice("sections", name, SECTIONS) for name in items)


def build_summary(res: R3DResults, *, alpha: float, quantiles: Any = None, sections: Any = None,
                  functionals: Sequence[Any] = (), tests: Sequence[Any] = ()) -> R3DSummary:
    """Header, tau table with the average effect, functionals (when given), tests, first stage and numbered
    notes (the ``sections`` chosen among ``SECTIONS``; None: all that apply to the fit)."""
    chosen = check_sections(sections)
    idx = res._display_rows(quantiles)
    want = SECTIONS if chosen is None else chosen
    parts = [_header(res, alpha) if "header" in want else None,
             _bandwidth_table(res) if "bandwidth" in want else None,
             _effect_table(res, alpha, idx) if "effects" in want else None,
             _functionals_table(res, alpha, functionals) if "functionals" in want else None,
             _tests_table(res, alpha, tests) if res.spec.n_boot and "tests" in want else None,
             _first_stage_table(res) if res.first_stage is not None and "first_stage" in want else None]
    notes = _notes(res, alpha, idx.size)
    if functionals:
        q = res.quantiles
        notes.insert(len(notes) - len(res.notes), Note(
            f"Functionals: phi(m_+) - phi(m_-) of the two limits' average quantile functions on "
            f"{_range_text(q[0], q[-1])} (held flat beyond it, trapezoid integrals); delta-method standard "
            "errors from the same influence matrix as tau"
            + ("; W2: bootstrap test of tau = 0 (no standard error)" if any(
                getattr(f, "method", "") == "bootstrap test" for f in functionals) else "") + ".",
            about=("functionals",)))
    smry = R3DSummary([s for s in parts if s is not None], notes)
    return smry if chosen is None else smry.select(chosen)


# ---------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------
def _simple_table(sec: Section) -> SimpleTable:
    title = sec.console_title or sec.title
    if sec.kind == "keyvalue":
        left = SimpleTable([[r[1]] for r in sec.rows], stubs=[f"{r[0]}:" if r[0] else "" for r in sec.rows],
                           title=title, txt_fmt=fmt_2cols)
        right = SimpleTable([[r[3]] for r in sec.rows], stubs=[f"{r[2]}:" if r[2] else "" for r in sec.rows],
                            txt_fmt=fmt_2cols)
        left.extend_right(right)
        return left
    table = SimpleTable([list(r) for r in sec.rows], headers=list(sec.headers), stubs=list(sec.stubs),
                        title=title, txt_fmt=dict(fmt_params, data_fmts=["%s"], colwidths=None, colsep=COLSEP))
    for k in sec.rule_before:
        table[k].dec_below = "header_dec_below"  # row k of the table is the header, so this is the row above
    return table


def _text_width(table: SimpleTable) -> int:
    return len(table.as_text().splitlines()[-1])


def _widen(table: SimpleTable, width: int, keyvalue: bool, current: int) -> None:
    """Spread extra spaces over the data columns so the table (now ``current`` characters wide,
    :func:`_text_width`) is ``width`` characters wide (the value columns of a key-value header)."""
    fmt = table.output_formats["txt"]
    widths = list(table.get_colwidths("txt"))
    extra = width - current
    if extra <= 0:
        return
    data_cols = [1, 3] if keyvalue else (list(range(1, len(widths))) or [0])
    for i in range(extra):
        widths[data_cols[i % len(data_cols)]] += 1
    fmt["colwidths"] = widths
    table._colwidths = {}


class R3DSummary(Summary):
    """statsmodels ``Summary`` of an R3D fit, with section-aware LaTeX and HTML.

    ``as_text()`` (also ``str``), ``as_latex()``, ``as_html()`` (also the notebook
    display), ``as_csv()``; ``tables`` holds statsmodels ``SimpleTable`` objects and
    ``sections`` the same cells as plain strings, ``notes`` the numbered notes (as LaTeX and
    HTML show them: the text adds hints for the console). ``select(sections)`` keeps some
    sections (``SECTIONS``); ``as_latex`` and ``as_html`` take the same ``sections=``.
    """

    def __init__(self, sections: list[Section], notes: list[Note | str], *, with_notes: bool = True) -> None:
        super().__init__()
        self.sections = list(sections)
        self._notes = [n if isinstance(n, Note) else Note(str(n)) for n in notes]
        self._with_notes = with_notes
        self.notes = [n.text for n in self._notes] if with_notes else []
        self.tables = [_simple_table(s) for s in self.sections]
        # each table is rendered once here to measure it (rendering is most of a summary's cost)
        current = [_text_width(t) for t in self.tables]
        width = max(MIN_WIDTH, *current)
        for sec, t, w in zip(self.sections, self.tables, current, strict=True):
            _widen(t, width, sec.kind == "keyvalue", w)
        self.width = width
        lines = []
        if with_notes:
            for i, n in enumerate(self._notes, 1):
                lines += textwrap.wrap(f"[{i}] {n.console or n.text}", width=width, subsequent_indent="    ",
                                       break_on_hyphens=False)
        self.add_extra_txt(lines)

    def select(self, sections: Any) -> R3DSummary:
        """A summary with only the ``sections`` named (from ``SECTIONS``, in their usual order; those
        this fit does not have are skipped). With "notes", the notes explaining a kept section and
        the fit's warnings are kept, renumbered."""
        chosen = check_sections(sections)
        if chosen is None:
            return self
        kept = [sec for sec in self.sections if sec.name in chosen or not sec.name]
        names = {sec.name for sec in kept}
        notes = [n for n in self._notes if not n.about or names.intersection(n.about)]
        return R3DSummary(kept, notes, with_notes=self._with_notes and "notes" in chosen)

    # -------------------------------------------------------------- LaTeX
    def as_latex(self, booktabs: bool = True, *, sections: Any = None, fontsize: str | None = LATEX_FONTSIZE) -> str:
        """LaTeX fragment: one ``tabular`` per section, then the numbered notes.

        Parameters
        ----------
        booktabs : bool, default True
            Rules from the ``booktabs`` package (``\\toprule``...); False uses ``\\hline``.
        sections : str or sequence of str, optional
            Only these sections (``SECTIONS``: "header", "bandwidth", "effects", "tests",
            "first_stage", "notes"); default all of this summary's.
        fontsize : str or None, default "footnotesize"
            LaTeX size of the tables (``\\footnotesize`` with 3pt column separation fits every
            default table into the 345pt text width of the article class); None leaves the
            font and the column separation to the surrounding document.
        """
        if sections is not None:
            return self.select(sections).as_latex(booktabs, fontsize=fontsize)
        if fontsize is not None:
            fontsize = check_choice("fontsize", fontsize.lstrip("\\"), _LATEX_SIZES)
        top, mid, bottom = (r"\toprule", r"\midrule", r"\bottomrule") if booktabs else (r"\hline",) * 3
        parts = []
        for sec in self.sections:
            title = sec.latex_title or latex_escape(sec.title)
            if sec.kind == "keyvalue":
                # the right-hand pairs go below the left-hand ones (half the width of the text layout),
                # names with their colon as in the text table
                cols = "lr"
                pairs = [r[:2] for r in sec.rows] + [r[2:] for r in sec.rows]
                body = [rf"{latex_escape(k + ':')} & {latex_escape(v)} \\" for k, v in pairs if k]
            else:
                cols = "l" + "r" * len(sec.headers)
                headers = sec.latex_headers or tuple(latex_escape(h) for h in sec.headers)
                stubs = sec.latex_stubs or tuple(latex_escape(s) for s in sec.stubs)
                body = [" & ".join(("", *headers)) + r" \\", mid]
                for k, (stub, r) in enumerate(zip(stubs, sec.rows, strict=True)):
                    if k in sec.rule_before:
                        body.append(mid)
                    body.append(" & ".join((stub, *(latex_number(c) for c in r))) + r" \\")
            parts.append("\n".join([rf"\begin{{tabular}}{{{cols}}}", top,
                                    rf"\multicolumn{{{len(cols)}}}{{c}}{{{title}}} \\", mid, *body, bottom,
                                    r"\end{tabular}"]))
        if self.notes:
            notes = "\n".join(rf"[{i}] {latex_note(n)}\par" for i, n in enumerate(self.notes, 1))
            parts.append("\\begin{minipage}{\\linewidth}\\raggedright\\footnotesize\n" + notes + "\n\\end{minipage}")
        body = "\n\\par\\medskip\n".join(parts) + "\n"
        if fontsize is None:
            return body
        return f"{{\\{fontsize}\\setlength{{\\tabcolsep}}{{{LATEX_TABCOLSEP}}}\n" + body + "}\n"

    # -------------------------------------------------------------- HTML
    def as_html(self, *, sections: Any = None) -> str:
        """HTML: one ``<table class="simpletable">`` per section, notes as an ordered list
        (``sections``: as for :meth:`as_latex`)."""
        if sections is not None:
            return self.select(sections).as_html()
        out = []
        for sec in self.sections:
            rows = [f"<table class=\"simpletable r3d\">\n<caption>{html.escape(sec.title)}</caption>"]
            if sec.kind == "keyvalue":
                for r in sec.rows:
                    k1, v1, k2, v2 = (html.escape(c) for c in r)
                    rows.append(f"<tr>\n  <th>{k1 + ':' if k1 else ''}</th><td>{v1}</td>"
                                f"<th>{k2 + ':' if k2 else ''}</th><td>{v2}</td>\n</tr>")
            else:
                rows.append("<tr>\n  <td></td>" + "".join(f"<th>{html.escape(h)}</th>" for h in sec.headers)
                            + "\n</tr>")
                for k, (stub, r) in enumerate(zip(sec.stubs, sec.rows, strict=True)):
                    style = ' style="border-top: 1px solid"' if k in sec.rule_before else ""
                    rows.append(f"<tr{style}>\n  <th>{html.escape(stub)}</th>"
                                + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "\n</tr>")
            rows.append("</table>")
            out.append("\n".join(rows))
        if self.notes:
            out.append("<ol class=\"r3d-notes\">\n" + "\n".join(f"  <li>{html.escape(n)}</li>" for n in self.notes)
                       + "\n</ol>")
        return "\n".join(out)


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}


def latex_escape(text: str) -> str:
    """Plain text -> LaTeX text mode (every special character escaped)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def latex_note(text: str) -> str:
    """A note in LaTeX: escaped, with +/- and tau(q) typeset as math."""
    out = latex_escape(text).replace("+/-", r"$\pm$")
    return out.replace("tau(q)", r"$\tau(q)$")


def latex_number(cell: str) -> str:
    """A table cell: numbers get a true minus sign, "<0.001" goes to math mode."""
    if cell.startswith("<"):
        return "$<$" + latex_escape(cell[1:])
    if cell.startswith("-") and len(cell) > 1 and (cell[1].isdigit() or cell[1] == "."):
        return "$-$" + latex_escape(cell[1:])
    return latex_escape(cell)
