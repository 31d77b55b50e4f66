"""Build the statsmodels ``Summary`` of an ``R3DResults`` (tables only, no numbers computed here
beyond formatting)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats
from statsmodels.iolib.summary import Summary
from statsmodels.iolib.table import SimpleTable
from statsmodels.iolib.tableformatting import fmt_2cols, fmt_params

if TYPE_CHECKING:  # pragma: no cover
    from r3d.results import R3DResults

__all__ = ["build_summary"]


def _f(v: float, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "--"
    return f"{v:.{digits}g}" if abs(v) < 1e-3 and v != 0 else f"{v:.{digits}f}"


def _p(v: float) -> str:
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def _two_col(left: list[tuple[str, str]], right: list[tuple[str, str]], title: str) -> SimpleTable:
    """statsmodels' header layout: two (name, value) tables merged side by side."""
    n = max(len(left), len(right))
    left = left + [("", "")] * (n - len(left))
    right = right + [("", "")] * (n - len(right))
    t_left = SimpleTable([[v] for _, v in left], stubs=[f"{a}:" if a else "" for a, _ in left], title=title,
                         txt_fmt=fmt_2cols)
    t_right = SimpleTable([[v] for _, v in right], stubs=[f"{a}:" if a else "" for a, _ in right],
                          txt_fmt=fmt_2cols)
    t_left.extend_right(t_right)
    return t_left


def build_summary(res: R3DResults, *, alpha: float, quantiles: Any = None) -> Summary:
    """Header, tau table, average effect, tests, first stage and numbered notes."""
    d, s = res.data, res.spec
    neff = res.n_effective
    neff_txt = {k: (str(v) if isinstance(v, int) else f"{int(v.min())}-{int(v.max())}") for k, v in neff.items()}
    rule = "fixed (user)" if s.bandwidth_rule == "fixed" else s.bandwidth_rule.upper() + "-optimal"
    left = [
        ("Outcome", d.outcome_name),
        ("Running variable", d.running_name),
        ("Cutoff", f"{d.cutoff:g}"),
        ("Design", res.design),
        ("Method", {"frechet": "Frechet (Wasserstein)", "simple": "pointwise local poly."}[s.method]),
        ("Kernel", s.kernel),
        ("Order p / pilot s", f"{s.order} / {s.pilot_order}"),
        ("Bandwidth", res._bandwidth_text()),
        ("Bandwidth rule", rule),
    ]
    right = [
        ("Units (unit var.)", f"{d.nobs} ({d.unit_name})"),
        ("Units left/right", f"{d.n_left} / {d.n_right}"),
        ("In bandwidth l/r", f"{neff_txt['left']} / {neff_txt['right']}"),
        ("Draws", "--" if d.ndraws is None else f"{d.ndraws}"),
        ("Dropped draws/units", f"{d.n_dropped_draws} / {d.n_dropped_units}"),
        ("Quantiles", f"{res.quantiles.size} ({s.quantile_method})"),
        ("Bootstrap draws", f"{s.n_boot}" if s.n_boot else "none"),
        ("Band", s.band if s.n_boot else "--"),
        ("Clusters", "--" if d.n_clusters is None else f"{d.n_clusters} ({d.cluster_name})"),
    ]
    if res.bandwidth_treatment is not None:
        left.append(("Bandwidth (take-up)", f"{res.bandwidth_treatment:.4g}"))
        right.append(("Treatment", str(d.treatment_name)))
    smry = Summary()
    smry.tables.append(_two_col(left, right, "R3D: regression discontinuity with distributional outcomes"))

    idx = res._display_rows(quantiles)
    frame = res.summary_frame(alpha)
    lo, hi = f"[{alpha / 2:.3g}", f"{1 - alpha / 2:.3g}]"
    headers = ["coef", "std err", "z", "P>|z|", lo, hi]
    has_band = "band_lower" in frame
    if has_band:
        headers += ["band lo", "band hi"]
    rows, stubs = [], []
    for j in idx:
        r = frame.iloc[j]
        row = [_f(r.coef), _f(r.std_err), f"{r.z:.3f}", _p(r.pvalue), _f(r.ci_lower), _f(r.ci_upper)]
        if has_band:
            row += [_f(r.band_lower), _f(r.band_upper)]
        rows.append(row)
        stubs.append(f"tau({res.quantiles[j]:.3g})")
    ae = res.average_effect
    crit = stats.norm.ppf(1 - alpha / 2)
    row = [_f(ae.estimate), _f(ae.se), f"{ae.z:.3f}", _p(ae.pvalue), _f(ae.estimate - crit * ae.se),
           _f(ae.estimate + crit * ae.se)]
    if has_band:
        row += ["", ""]
    rows.append(row)
    stubs.append("average")
    smry.tables.append(SimpleTable(rows, headers=headers, stubs=stubs, txt_fmt=fmt_params,
                                   title="Effect on the average quantile function"
                                   + (f" (band: {s.band}, {1 - alpha:.0%})" if has_band else "")))

    if s.n_boot:
        trows, tstubs = [], []
        for kind in ("nullity", "homogeneity"):
            t = getattr(res, f"{kind}_test")(alpha=alpha)
            trows.append([_f(t.statistic), _f(t.critical_value), _p(t.pvalue), f"[{t.range[0]:.3g}, {t.range[1]:.3g}]"])
            tstubs.append({"nullity": "tau = 0", "homogeneity": "tau constant"}[kind])
        smry.tables.append(SimpleTable(trows, headers=["statistic", f"crit ({1 - alpha:.0%})", "p-value", "range"],
                                       stubs=tstubs, txt_fmt=fmt_params, title="Uniform tests (multiplier bootstrap)"))

    fs = res.first_stage
    if fs is not None:
        frow = [[_f(fs.jump), _f(fs.se), f"{fs.z:.3f}", _p(fs.pvalue), _f(fs.m_left), _f(fs.m_right), f"{fs.bandwidth:.4g}"]]
        smry.tables.append(SimpleTable(frow, headers=["jump", "std err", "z", "P>|z|", "left", "right", "h_T"],
                                       stubs=["take-up"], txt_fmt=fmt_params, title="First stage"))

    notes = [
        "Standard errors: HC0 sandwich of the local polynomial fits"
        + (" (clustered)" if d.n_clusters is not None else "")
        + ("; fuzzy by the delta method." if fs is not None else "."),
    ]
    notes += list(res.notes)
    smry.add_extra_txt([f"[{i}] {n}" for i, n in enumerate(notes, 1)])
    return smry
