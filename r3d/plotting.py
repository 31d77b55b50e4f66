"""Plots (matplotlib, imported lazily). Every function returns the Axes and accepts ``ax=``.

Without ``ax`` a new figure is made with matplotlib's constrained layout, so legends placed
below the axes are kept inside the saved image. Nothing here computes estimates: the
effect and limit plots draw numbers held by ``R3DResults``; the binned plot averages the
model's unit quantiles and fits polynomials with ``r3d.locpoly.fit_side``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from r3d._validation import check_int, message

if TYPE_CHECKING:  # pragma: no cover
    from r3d.results import R3DResults

__all__ = ["plot_binned", "plot_effect", "plot_limits"]

#: Default figure size (inches): a single-column figure in most journals at 6.4 in wide.
FIGSIZE = (6.4, 4.4)
#: Shading of the uniform band and of the (narrower, darker) pointwise interval.
BAND_ALPHA, CI_ALPHA = 0.18, 0.38
_METHOD_LABEL = {"frechet": "Fréchet", "simple": "local polynomial"}


def _axes(ax: Any):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    return ax


def _legend_below(ax: Any, ncol: int, y: float = -0.14, handles: Any = None) -> Any:
    """Legend centred under the x-axis label, clear of the data (its top at ``y`` in axes units)."""
    return ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, y), ncol=ncol, frameon=False,
                     fontsize="small", handlelength=2.2, columnspacing=1.4)


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
) -> Any:
    """tau(q) with its pointwise interval and uniform band, and a zero line.

    Parameters
    ----------
    res : R3DResults
    ax : matplotlib Axes, optional
    alpha : float, optional
        1 - coverage of the interval and band; default the fit's ``alpha``.
    color : str
        Colour of the estimate; the band and interval are lighter and darker shades of it,
        and the band's edges are drawn as thin dashed lines so that it survives
        black-and-white printing.
    truth : callable or array-like, optional
        A known effect (simulations): ``truth(quantiles)`` or an array on the grid, drawn
        as a black dashed line.
    band : bool, default True
        Draw the uniform band (needs bootstrap draws; skipped when ``n_boot = 0``).
    title : str, optional
        None (default) a short automatic title, "" no title.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    q = res.quantiles
    a = res.spec.alpha if alpha is None else alpha
    if band and res.bootstrap_draws is not None:
        b = res.conf_int(a, kind="uniform")
        kind = "studentized uniform band" if res.spec.band == "studentized" else "uniform band"
        ax.fill_between(q, b["lower"], b["upper"], color=color, alpha=BAND_ALPHA, linewidth=0,
                        label=f"{_pct(a)} {kind}")
        for edge in ("lower", "upper"):
            ax.plot(q, b[edge], color=color, linewidth=0.7, linestyle=(0, (4, 2)), alpha=0.9)
    ci = res.conf_int(a)
    ax.fill_between(q, ci["lower"], ci["upper"], color=color, alpha=CI_ALPHA, linewidth=0,
                    label=f"{_pct(a)} pointwise CI")
    ax.plot(q, res.params.to_numpy(), color=color, linewidth=2.0, label=r"estimate $\hat\tau(q)$")
    if truth is not None:
        t = np.asarray(truth(q) if callable(truth) else truth, dtype=np.float64)
        if t.shape != q.shape:
            raise ValueError(message("truth", f"a callable or an array of {q.size} values (one per quantile level)",
                                     t))
        ax.plot(q, t, color="black", linewidth=1.2, linestyle="--", label=r"true $\tau(q)$")
    ax.axhline(0.0, color="0.35", linewidth=0.8, zorder=0)
    ax.set_xlabel("quantile level $q$")
    ax.set_ylabel(f"effect on {res.data.outcome_name}")
    ax.set_xlim(0.0, 1.0)
    ax.margins(x=0)
    _title(ax, title, f"R3D effect on the quantile function ({_METHOD_LABEL.get(res.spec.method, res.spec.method)}, "
           f"{res.design})")
    _legend_below(ax, ncol=4 if truth is not None else 3)
    return ax


def plot_limits(
    res: R3DResults,
    ax: Any = None,
    *,
    raw: bool = False,
    colors: tuple[str, str] = ("C1", "C0"),
    title: str | None = None,
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

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    lim = res.limits
    q = res.quantiles
    ax.plot(q, lim["left"], color=colors[0], linewidth=2.0, linestyle=(0, (6, 2)),
            label=r"below the cutoff, $\hat m_-(q)$")
    ax.plot(q, lim["right"], color=colors[1], linewidth=2.0, label=r"above the cutoff, $\hat m_+(q)$")
    if raw:
        ax.plot(q, lim["left_raw"], color=colors[0], linewidth=0.9, linestyle=":", label="before monotonisation")
        ax.plot(q, lim["right_raw"], color=colors[1], linewidth=0.9, linestyle=":")
    ax.set_xlabel("quantile level $q$")
    ax.set_ylabel(f"{res.data.outcome_name} (average quantile function)")
    ax.set_xlim(0.0, 1.0)
    _title(ax, title, f"Limits of the average quantile function at {res.data.running_name} = {res.data.cutoff:g}")
    _legend_below(ax, ncol=3 if raw else 2)
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

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.lines import Line2D

    from r3d.locpoly import fit_side

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
            ax.scatter(centers[ok], sums[ok] / counts[ok], s=16, color=colors[j], alpha=0.85, linewidths=0, zorder=3)
            ax.plot(grid, curves[:, j], color=colors[j], linewidth=1.8, zorder=4)
    ax.axvline(c, color="0.35", linewidth=0.8, linestyle="--", zorder=1)
    ax.set_xlabel(str(mod.running.name))
    ax.set_ylabel(f"units' quantiles of {mod.endog_names} (bin means)")
    _title(ax, title, "R3D plot: units' quantiles around the cutoff")
    what = "global" if bandwidth is None else f"local (h = {bandwidth:.3g}, {kernel})"
    colour_handles = [Line2D([], [], color=colors[j], marker="o", markersize=4.5, linewidth=1.8,
                             label=f"q = {levels[j]:g}") for j in np.argsort(-levels)]
    key_handles = [Line2D([], [], color="0.3", marker="o", markersize=4.5, linewidth=0,
                          label=f"bin means ({bins} bins per side)"),
                   Line2D([], [], color="0.3", linewidth=1.8, label=f"{what} polynomial fit, order {order}")]
    ax.add_artist(_legend_below(ax, len(colour_handles), -0.13, colour_handles))  # kept when the next one is added
    _legend_below(ax, 2, -0.21, key_handles)
    return ax
