"""Plots (matplotlib, imported lazily). Every function returns the Axes and accepts ``ax=``.

Without ``ax`` a new figure is made with matplotlib's constrained layout, so legends placed
below the axes are kept inside the saved image. Nothing here computes estimates: the
effect and limit plots draw numbers held by ``R3DResults``; the binned plot averages the
model's unit quantiles and fits polynomials with ``r3d.locpoly.fit_side``.

Styling follows statsmodels' plots (``plot_acf``): ``alpha`` keeps its meaning in the rest of
r3d, 1 - coverage of the intervals, and is not matplotlib's transparency; extra keyword
arguments go to the main line(s) (``linewidth=``, ``linestyle=``, ``marker=``, ...), and the
shaded areas take their own dicts (``band_kw=``, ``ci_kw=``), where a transparency goes
(``band_kw={"alpha": 0.1}``). ``label=`` names a fit in the legend, so that several fits
drawn on one Axes each get their own entries; the legend lists every label once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from r3d._validation import check_choice, check_int, message, warn

if TYPE_CHECKING:  # pragma: no cover
    from r3d.results import R3DResults

__all__ = ["plot_binned", "plot_density_test", "plot_effect", "plot_limits", "plot_lorenz"]

#: Default figure size (inches): a single-column figure in most journals at 6.4 in wide.
FIGSIZE = (6.4, 4.4)
#: Shading of the uniform band and of the (narrower, darker) pointwise interval.
BAND_ALPHA, CI_ALPHA = 0.18, 0.38
_METHOD_LABEL = {"frechet": "Fréchet", "simple": "local polynomial"}
#: ``gid`` of the estimate line of ``plot_effect`` and of the limit lines of ``plot_limits``: how a
#: later call on the same Axes finds an earlier fit (to warn when neither has a label).
_GID_EFFECT, _GID_LIMITS, _GID_ZERO = "r3d-effect-estimate", "r3d-limits", "r3d-zero-line"


def _axes(ax: Any):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    return ax


def _legend_below(ax: Any, ncol: int, y: float = -0.14, handles: Any = None) -> Any:
    """Legend centred under the x-axis label, clear of the data (its top at ``y`` in axes units).

    Without ``handles``: every labelled artist of the Axes, each label once (the first artist
    drawn with it), so that a second fit drawn on the same Axes adds its own entries only.
    """
    if handles is None:
        seen: dict[str, Any] = {}
        for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(text, handle)
        handles = list(seen.values())
    return ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, y), ncol=ncol, frameon=False,
                     fontsize="small", handlelength=2.2, columnspacing=1.4)


def _named(label: str | None, what: str) -> str:
    """A legend entry of the fit called ``label``: ``"label: what"`` (``what`` alone without a label)."""
    return what if label is None else f"{label}: {what}"


def _check_label(label: Any) -> str | None:
    if label is not None and not isinstance(label, str):
        raise TypeError(message("label", "None or a string (the fit's name in the legend)", label))
    return label


def _check_kw(name: str, kw: Any) -> dict[str, Any]:
    if kw is None:
        return {}
    if not isinstance(kw, dict):
        raise TypeError(message(name, "None or a dict of matplotlib options", kw,
                                f'For example {name}={{"alpha": 0.1}}.'))
    return dict(kw)


def _n_fits(ax: Any, gid: str) -> int:
    """How many fits an earlier call drew on ``ax`` (lines with this ``gid``)."""
    return sum(line.get_gid() == gid for line in ax.lines)


def _warn_unlabelled(ax: Any, gid: str, label: str | None, what: str) -> None:
    """Warn when a second fit is drawn on an Axes without a label to tell the two apart."""
    if label is None and _n_fits(ax, gid):
        warn(f"this Axes already shows {what}: pass label= to each plot call (e.g. label=\"Frechet\"), "
             "otherwise the legend cannot tell the fits apart")


def _title(ax: Any, title: str | None, default: str) -> None:
    """``title`` None: the default title; "": none."""
    title = default if title is None else title
    if title:
        ax.set_title(title, fontsize="medium")


def _pct(alpha: float) -> str:
    return f"{100 * (1 - alpha):.4g}%"


def plot_effect(
    res: R3DResults,
    ax: Any = None,
    *,
    alpha: float | None = None,
    color: str = "C0",
    truth: Callable[[np.ndarray], Any] | Any = None,
    band: bool = True,
    title: str | None = None,
    label: str | None = None,
    band_kw: dict[str, Any] | None = None,
    ci_kw: dict[str, Any] | None = None,
    legend: bool = True,
    **kwargs: Any,
) -> Any:
    """tau(q) with its pointwise interval and uniform band, and a zero line.

    Parameters
    ----------
    res : R3DResults
    ax : matplotlib Axes, optional
    alpha : float, optional
        1 - coverage of the interval and band (as in ``fit``, ``conf_int`` and ``summary``);
        default the fit's ``alpha``. Not matplotlib's transparency: that goes in ``band_kw``
        or ``ci_kw`` (``band_kw={"alpha": 0.1}``).
    color : str
        Colour of the estimate; the band and interval are lighter and darker shades of it,
        and the band's edges are drawn as thin dashed lines so that it survives
        black-and-white printing.
    truth : callable or array-like, optional
        A known effect (simulations): ``truth(quantiles)`` or an array on the grid, drawn
        as a black dashed line.
    band : bool, default True
        Draw the uniform band (needs bootstrap draws; skipped when ``n_boot = 0`` and when an
        Anderson-Rubin band is unbounded).
    title : str, optional
        None (default) a short automatic title, "" no title.
    label : str, optional
        The fit's name in the legend: the estimate's entry, and the prefix of its interval's
        and band's entries (``"Frechet: 95% pointwise CI"``). Give one to each fit drawn on
        the same Axes (a second unlabelled fit on an Axes warns).
    band_kw, ci_kw : dict, optional
        matplotlib options of the band's and of the interval's shaded area (``fill_between``),
        e.g. ``{"alpha": 0.1}`` or ``{"hatch": "//"}``; they override the defaults. The
        band's dashed edges take the band's ``color``.
    legend : bool, default True
        Draw the legend under the axes (every label once); False leaves it to you
        (``ax.legend()``).
    **kwargs
        matplotlib options of the estimate's line (``ax.plot``), e.g. ``linewidth=1``,
        ``linestyle="--"``, ``marker="o"``, ``zorder=3``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    label = _check_label(label)
    band_kw, ci_kw = _check_kw("band_kw", band_kw), _check_kw("ci_kw", ci_kw)
    ax = _axes(ax)
    _warn_unlabelled(ax, _GID_EFFECT, label, "an effect plot")
    q = res.quantiles
    a = res.spec.alpha if alpha is None else alpha
    b = res.conf_int(a, kind="uniform") if band and res.bootstrap_draws is not None else None
    if b is not None and np.isfinite(b.to_numpy()).all():  # an unbounded Anderson-Rubin band is not drawn
        kind = {"studentized": "studentized uniform band",
                "anderson-rubin": "Anderson-Rubin uniform band"}.get(res.spec.band, "uniform band")
        fill = {"color": color, "alpha": BAND_ALPHA, "linewidth": 0, "label": _named(label, f"{_pct(a)} {kind}")}
        fill.update(band_kw)
        ax.fill_between(q, b["lower"], b["upper"], **fill)
        for edge in ("lower", "upper"):
            ax.plot(q, b[edge], color=fill["color"], linewidth=0.7, linestyle=(0, (4, 2)), alpha=0.9)
    ci = res.conf_int(a)
    fill = {"color": color, "alpha": CI_ALPHA, "linewidth": 0, "label": _named(label, f"{_pct(a)} pointwise CI")}
    fill.update(ci_kw)
    ax.fill_between(q, ci["lower"], ci["upper"], **fill)
    line = {"color": color, "linewidth": 2.0, "label": r"estimate $\hat\tau(q)$" if label is None else label,
            "gid": _GID_EFFECT}
    line.update(kwargs)
    ax.plot(q, res.params.to_numpy(), **line)
    if truth is not None:
        t = np.asarray(truth(q) if callable(truth) else truth, dtype=np.float64)
        if t.shape != q.shape:
            raise ValueError(message("truth", f"a callable or an array of {q.size} values (one per quantile level)",
                                     t))
        ax.plot(q, t, color="black", linewidth=1.2, linestyle="--", label=r"true $\tau(q)$")
    if not any(artist.get_gid() == _GID_ZERO for artist in ax.lines):
        ax.axhline(0.0, color="0.35", linewidth=0.8, zorder=0, gid=_GID_ZERO)
    ax.set_xlabel("quantile level $q$")
    ax.set_ylabel(f"effect on {res.data.outcome_name}")
    ax.set_xlim(0.0, 1.0)
    ax.margins(x=0)
    n_fits = _n_fits(ax, _GID_EFFECT)
    what = f" ({_METHOD_LABEL.get(res.spec.method, res.spec.method)}, {res.design})" if n_fits == 1 else ""
    _title(ax, title, f"R3D effect on the quantile function{what}")
    if legend:  # one fit: its entries in a row; several: one column per fit
        _legend_below(ax, ncol=(4 if truth is not None else 3) if n_fits == 1 else n_fits)
    return ax


def plot_limits(
    res: R3DResults,
    ax: Any = None,
    *,
    raw: bool = False,
    colors: tuple[str, str] = ("C1", "C0"),
    title: str | None = None,
    label: str | None = None,
    legend: bool = True,
    **kwargs: Any,
) -> Any:
    """The two limiting average quantile functions ``m_-(q)`` (below) and ``m_+(q)`` (above the cutoff).

    Parameters
    ----------
    res : R3DResults
    ax : matplotlib Axes, optional
    raw : bool, default False
        Also draw the limits before rearrangement / isotonic projection (thin dotted lines).
    colors : (str, str)
        Colours of the left and right limits.
    title : str, optional
        None (default) an automatic title, "" no title.
    label : str, optional
        The fit's name, the prefix of its legend entries (``"Frechet: below the cutoff"``).
        Give one to each fit drawn on the same Axes (a second unlabelled fit warns).
    legend : bool, default True
        Draw the legend under the axes (every label once); False leaves it to you.
    **kwargs
        matplotlib options of the two limit lines (``ax.plot``), e.g. ``linewidth=1`` or
        ``marker="."``; ``linestyle`` replaces the left limit's dashes too.

    Returns
    -------
    matplotlib.axes.Axes
    """
    label = _check_label(label)
    ax = _axes(ax)
    _warn_unlabelled(ax, _GID_LIMITS, label, "a limits plot")
    lim = res.limits
    q = res.quantiles
    left = {"color": colors[0], "linewidth": 2.0, "linestyle": (0, (6, 2)), "gid": _GID_LIMITS,
            "label": _named(label, r"below the cutoff, $\hat m_-(q)$")}
    right = {"color": colors[1], "linewidth": 2.0, "gid": _GID_LIMITS,
             "label": _named(label, r"above the cutoff, $\hat m_+(q)$")}
    ax.plot(q, lim["left"], **(left | kwargs))
    ax.plot(q, lim["right"], **(right | kwargs))
    if raw:
        ax.plot(q, lim["left_raw"], color=colors[0], linewidth=0.9, linestyle=":",
                label=_named(label, "before monotonisation"))
        ax.plot(q, lim["right_raw"], color=colors[1], linewidth=0.9, linestyle=":")
    ax.set_xlabel("quantile level $q$")
    ax.set_ylabel(f"{res.data.outcome_name} (average quantile function)")
    ax.set_xlim(0.0, 1.0)
    _title(ax, title, f"Limits of the average quantile function at {res.data.running_name} = {res.data.cutoff:g}")
    if legend:  # one fit: its entries in a row; several: one column per fit
        n_fits = _n_fits(ax, _GID_LIMITS) // 2
        _legend_below(ax, ncol=(3 if raw else 2) if n_fits == 1 else n_fits)
    return ax


def plot_binned(
    mod: Any,
    quantiles: Any = (0.1, 0.5, 0.9),
    *,
    bins: int = 20,
    bandwidth: float | None = None,
    order: int = 2,
    kernel: str = "triangular",
    quantile_method: str = "linear",
    ax: Any = None,
    colors: Any = None,
    title: str | None = None,
    scatter_kw: dict[str, Any] | None = None,
    legend: bool = True,
    **kwargs: Any,
) -> Any:
    """The R3D plot: bin means of unit quantiles against the running variable, with
    polynomial fits on each side of the cutoff (the analogue of rdplot).

    For each level q, units' own q-quantiles are averaged within equal-width bins of the
    running variable (``bins`` per side) and drawn as dots; the curves are polynomial fits
    of order ``order`` to the unit quantiles (not to the bin means) on each side.

    Parameters
    ----------
    mod : R3D
        The model.
    quantiles : sequence of float
        Quantile levels to show (one colour each).
    bins : int, default 20
        Equal-width bins per side.
    bandwidth : float, optional
        None (default): a global fit on each side (uniform weights over the whole side,
        like rdplot). A number: a local fit with this bandwidth and ``kernel``, drawn only
        inside ``[cutoff - h, cutoff + h]``, as used by the estimator.
    order : int, default 2
        Polynomial order of the curves.
    kernel : str
        Kernel of the local fits (with ``bandwidth``).
    quantile_method : str
        numpy quantile method of the unit quantiles.
    ax : matplotlib Axes, optional
    colors : sequence of str, optional
        One colour per level (default the colour cycle).
    title : str, optional
        None (default) an automatic title, "" no title.
    scatter_kw : dict, optional
        matplotlib options of the bin means' dots (``ax.scatter``), e.g. ``{"s": 30}`` or
        ``{"alpha": 0.5}`` (transparency); they override the defaults.
    legend : bool, default True
        Draw the two legends under the axes (levels, then what dots and curves are).
    **kwargs
        matplotlib options of the fitted curves (``ax.plot``), e.g. ``linewidth=1`` or
        ``linestyle="--"``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.lines import Line2D

    from r3d.locpoly import fit_side

    scatter_kw = _check_kw("scatter_kw", scatter_kw)
    bins = check_int("bins", bins, low=1)
    order = check_int("order", order, low=0, high=10)
    levels = np.atleast_1d(np.asarray(quantiles, dtype=np.float64))
    if colors is None:
        colors = [f"C{j % 10}" for j in range(levels.size)]
    elif len(colors) < levels.size:
        raise ValueError(message("colors", f"at least {levels.size} colours (one per quantile level)", colors))
    if bandwidth is not None and not (np.isscalar(bandwidth) and np.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(message("bandwidth", "None or a positive number", bandwidth))
    ax = _axes(ax)
    Q = mod.unit_quantiles(quantiles=levels, method=quantile_method).to_numpy()
    x = mod.running.to_numpy()
    c = mod.cutoff
    for side, mask, lo, hi in (("left", x < c, x.min(), c), ("right", x >= c, c, x.max())):
        edges = np.linspace(lo, hi, bins + 1)
        idx = np.clip(np.searchsorted(edges, x[mask], side="right") - 1, 0, bins - 1)
        counts = np.bincount(idx, minlength=bins)
        centers = (edges[:-1] + edges[1:]) / 2
        ok = counts > 0
        # global fits: uniform weights over the whole side (the factor keeps its farthest unit inside)
        h = bandwidth if bandwidth is not None else (hi - lo) * (1 + 1e-9)
        fit = fit_side(x, Q, cutoff=c, h=h, order=order, kernel="uniform" if bandwidth is None else kernel, side=side)
        grid = np.linspace(max(c - h, lo), c, 200) if side == "left" else np.linspace(c, min(c + h, hi), 200)
        curves = np.vander((grid - c) / h, order + 1, increasing=True) @ fit.coef
        for j in range(Q.shape[1]):
            sums = np.bincount(idx, weights=Q[mask, j], minlength=bins)
            dots = {"s": 16, "color": colors[j], "alpha": 0.85, "linewidths": 0, "zorder": 3}
            ax.scatter(centers[ok], sums[ok] / counts[ok], **(dots | scatter_kw))
            ax.plot(grid, curves[:, j], **({"color": colors[j], "linewidth": 1.8, "zorder": 4} | kwargs))
    ax.axvline(c, color="0.35", linewidth=0.8, linestyle="--", zorder=1)
    ax.set_xlabel(str(mod.running.name))
    ax.set_ylabel(f"units' quantiles of {mod.endog_names} (bin means)")
    _title(ax, title, "R3D plot: units' quantiles around the cutoff")
    if not legend:
        return ax
    what = "global" if bandwidth is None else f"local (h = {bandwidth:.3g}, {kernel})"
    colour_handles = [Line2D([], [], **({"color": colors[j], "marker": "o", "markersize": 4.5, "linewidth": 1.8}
                                        | kwargs | {"label": f"q = {levels[j]:g}"})) for j in np.argsort(-levels)]
    key_handles = [Line2D([], [], color="0.3", marker="o", markersize=4.5, linewidth=0,
                          label=f"bin means ({bins} bins per side)"),
                   Line2D([], [], **({"linewidth": 1.8} | kwargs
                                     | {"color": "0.3", "label": f"{what} polynomial fit, order {order}"}))]
    ax.add_artist(_legend_below(ax, len(colour_handles), -0.13, colour_handles))  # kept when the next one is added
    _legend_below(ax, 2, -0.21, key_handles)
    return ax


def plot_lorenz(
    curve: Any,
    ax: Any = None,
    *,
    kind: str = "curves",
    alpha: float | None = None,
    colors: tuple[str, str] = ("C1", "C0"),
    title: str | None = None,
    legend: bool = True,
    band_kw: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """The Lorenz curves of the two limits with their uniform bands, or the effect on the Lorenz curve.

    Parameters
    ----------
    curve : r3d.functionals.FunctionalCurve
        ``res.functional("lorenz")``.
    ax : matplotlib Axes, optional
    kind : {"curves", "effect"}
        "curves": ``L_-(p)`` (below the cutoff) and ``L_+(p)`` (above) with each side's uniform band
        (studentized, from the fit's bootstrap draws) and the line of equality; the curves run
        from (0, 0) to (1, 1), the bands over the grid range. "effect": ``L_+(p) - L_-(p)`` with its
        uniform band and pointwise interval, and a zero line.
    alpha : float, optional
        1 - coverage of the bands; default the fit's.
    colors : (str, str)
        Colours of the left and right curves ("effect" uses the right one).
    title : str, optional
        None an automatic title, "" none.
    legend : bool, default True
    band_kw : dict, optional
        matplotlib options of the shaded bands (``{"alpha": 0.1}``).
    **kwargs
        matplotlib options of the curve lines.

    Returns
    -------
    matplotlib.axes.Axes
    """
    kind = check_choice("kind", kind, ("curves", "effect"))
    band_kw = _check_kw("band_kw", band_kw)
    ax = _axes(ax)
    p = curve.levels
    a = curve.alpha if alpha is None else alpha
    has_band = curve.draws is not None
    if kind == "curves":
        ax.plot([0, 1], [0, 1], color="0.6", linewidth=0.8, linestyle=":", label="equality")
        for side, color, values, text in (("left", colors[0], curve.left_values, "below the cutoff, $L_-(p)$"),
                                          ("right", colors[1], curve.right_values, "above the cutoff, $L_+(p)$")):
            line = {"color": color, "linewidth": 1.8, "label": text} | (
                {"linestyle": (0, (6, 2))} if side == "left" else {})
            ax.plot(np.r_[0.0, p, 1.0], np.r_[0.0, values, 1.0], **(line | kwargs))
            if has_band:
                b = curve.band(a, side=side)
                ax.fill_between(p, b.lower, b.upper, **({"color": color, "alpha": BAND_ALPHA, "linewidth": 0,
                                                          "label": f"{_pct(a)} uniform band" if side == "right"
                                                          else None} | band_kw))
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.0)
        ax.set_ylabel("share of the total, $L(p)$")
        _title(ax, title, "Lorenz curves of the two limits")
        ncol = 2
    else:
        ax.axhline(0.0, color="0.5", linewidth=0.8)
        if has_band:
            b = curve.band(a)
            ax.fill_between(p, b.lower, b.upper, **({"color": colors[1], "alpha": BAND_ALPHA, "linewidth": 0,
                                                      "label": f"{_pct(a)} uniform band"} | band_kw))
        ci = curve.conf_int(a, kind="pointwise")
        ax.fill_between(p, ci["lower"], ci["upper"], color=colors[1], alpha=CI_ALPHA, linewidth=0,
                        label=f"{_pct(a)} pointwise")
        ax.plot(p, curve.values, **({"color": colors[1], "linewidth": 1.8, "label": r"$L_+(p) - L_-(p)$"} | kwargs))
        ax.set_xlim(0.0, 1.0)
        ax.set_ylabel("effect on the Lorenz curve")
        _title(ax, title, "Effect on the Lorenz curve")
        ncol = 3
    ax.set_xlabel("population share $p$ (quantile level)")
    if legend:
        _legend_below(ax, ncol=ncol)
    return ax


def plot_density_test(
    test: Any,
    ax: Any = None,
    *,
    n_points: int = 20,
    alpha: float = 0.05,
    plot_range: Any = None,
    title: str | None = None,
    band_kw: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """The density test's picture (the analogue of rddensity's ``rdplotdensity``, without its histogram).

    The density of the running variable (one value per unit) estimated on each side of the cutoff
    from that side's units alone (:meth:`r3d.density.DensityTest.curves`), with pointwise
    (1 - ``alpha``) intervals as shaded bands and a dashed vertical line at the cutoff. A gap
    between the two fits at the cutoff is what the test measures.

    Parameters
    ----------
    test : r3d.density.DensityTest
    ax : matplotlib Axes, optional
    n_points, alpha, plot_range
        As :meth:`~r3d.density.DensityTest.curves`.
    title : str, optional
        None: the test's statistic and p-value; "": no title.
    band_kw : dict, optional
        Passed to the bands (``Axes.fill_between``).
    **kwargs
        Passed to the two lines (``Axes.plot``).

    Returns
    -------
    matplotlib Axes
    """
    from r3d import _repr

    band_kw = _check_kw("band_kw", band_kw)
    cur = test.curves(n_points, alpha=alpha, plot_range=plot_range)
    ax = _axes(ax)
    for side, colour in (("left", "C0"), ("right", "C1")):
        part = cur[cur["side"] == side]
        ax.fill_between(part["x"], part["ci_lower"], part["ci_upper"],
                        **({"color": colour, "alpha": CI_ALPHA, "linewidth": 0,
                            "label": f"{_pct(alpha)} pointwise interval" if side == "left" else None} | band_kw))
        ax.plot(part["x"], part["density"], **({"color": colour, "linewidth": 1.8,
                                                "label": f"density {'below' if side == 'left' else 'at or above'} "
                                                         "the cutoff"} | kwargs))
    ax.axvline(test.cutoff, color="0.35", linewidth=0.8, linestyle="--", zorder=1)
    ax.set_xlabel(f"{test.name} (one value per unit)")
    ax.set_ylabel("density")
    ax.set_ylim(bottom=min(0.0, float(np.nanmin(cur["ci_lower"]))))
    _title(ax, title, f"Density test at the cutoff: T = {_repr.num(test.statistic, 3)}, "
                      f"p = {_repr.pvalue(test.pvalue)}")
    ax.legend(frameon=False, loc="best", fontsize="small")
    return ax
