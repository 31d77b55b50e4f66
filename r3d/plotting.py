"""Plots (matplotlib, imported lazily). Every function returns the Axes and accepts ``ax=``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from r3d.results import R3DResults

__all__ = ["plot_effect", "plot_limits", "plot_binned"]


def _axes(ax: Any):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(6.4, 4.0))
    return ax


def plot_effect(res: R3DResults, ax: Any = None, *, alpha: float | None = None, color: str = "C0") -> Any:
    """tau(q) with the pointwise CI and (if bootstrapped) the uniform band, and a zero line."""
    ax = _axes(ax)
    q = res.quantiles
    a = res.spec.alpha if alpha is None else alpha
    if res.bootstrap_draws is not None:
        band = res.conf_int(a, kind="uniform")
        ax.fill_between(q, band["lower"], band["upper"], color=color, alpha=0.15, linewidth=0,
                        label=f"{1 - a:.0%} uniform band ({res.spec.band})")
    ci = res.conf_int(a)
    ax.fill_between(q, ci["lower"], ci["upper"], color=color, alpha=0.35, linewidth=0,
                    label=f"{1 - a:.0%} pointwise CI")
    ax.plot(q, res.params.to_numpy(), color=color, linewidth=2, label=r"$\hat\tau(q)$")
    ax.axhline(0.0, color="0.3", linewidth=0.8, linestyle="--")
    ax.set_xlabel("quantile level q")
    ax.set_ylabel(f"effect on {res.data.outcome_name}")
    ax.set_xlim(q[0], q[-1])
    ax.set_title(f"R3D effect ({res.spec.method}, {res.design})")
    ax.legend(frameon=False, loc="best")
    return ax


def plot_limits(res: R3DResults, ax: Any = None) -> Any:
    """The two limiting average quantile functions m_-(q) and m_+(q)."""
    ax = _axes(ax)
    lim = res.limits
    q = res.quantiles
    ax.plot(q, lim["left"], color="C1", linewidth=2, label=r"left limit $\hat m_-(q)$ (untreated)")
    ax.plot(q, lim["right"], color="C0", linewidth=2, label=r"right limit $\hat m_+(q)$ (treated)")
    ax.plot(q, lim["left_raw"], color="C1", linewidth=0.8, linestyle=":", label="raw (before monotonisation)")
    ax.plot(q, lim["right_raw"], color="C0", linewidth=0.8, linestyle=":")
    ax.set_xlabel("quantile level q")
    ax.set_ylabel(res.data.outcome_name)
    ax.set_xlim(q[0], q[-1])
    ax.set_title("Average quantile functions at the cutoff")
    ax.legend(frameon=False, loc="upper left")
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
) -> Any:
    """The R3D plot: bin averages of unit quantiles against the running variable, with
    local polynomial fits on each side of the cutoff.

    Parameters
    ----------
    mod : R3D
        The model.
    quantiles : sequence of float
        Quantile levels to show (one colour each).
    bins : int
        Equal-width bins per side.
    bandwidth : float, optional
        Bandwidth of the fitted curves; default: the whole side (a global fit of ``order``).
    """
    from r3d.locpoly import fit_side

    ax = _axes(ax)
    Qdf = mod.unit_quantiles(quantiles=list(quantiles), method=quantile_method)
    x = mod.running.to_numpy()
    c = mod.cutoff
    Q = Qdf.to_numpy()
    for side_mask, edges in ((x < c, np.linspace(x.min(), c, bins + 1)), (x >= c, np.linspace(c, x.max(), bins + 1))):
        idx = np.clip(np.searchsorted(edges, x[side_mask], side="right") - 1, 0, bins - 1)
        counts = np.bincount(idx, minlength=bins)
        centers = (edges[:-1] + edges[1:]) / 2
        for j in range(Q.shape[1]):
            sums = np.bincount(idx, weights=Q[side_mask, j], minlength=bins)
            ok = counts > 0
            ax.scatter(centers[ok], sums[ok] / counts[ok], s=14, color=f"C{j}", alpha=0.8,
                       label=f"q = {Qdf.columns[j]:g}" if edges[0] == x.min() else None)
    for side in ("left", "right"):
        span = (c - x.min()) if side == "left" else (x.max() - c)
        h = bandwidth if bandwidth is not None else span * (1 + 1e-9)
        fit = fit_side(x, Q, cutoff=c, h=h, order=order, kernel="uniform" if bandwidth is None else kernel, side=side)
        grid = np.linspace(max(c - h, x.min()), c, 100) if side == "left" else np.linspace(c, min(c + h, x.max()), 100)
        u = (grid - c) / h
        basis = np.vander(u, order + 1, increasing=True)
        curves = basis @ fit.coef
        for j in range(Q.shape[1]):
            ax.plot(grid, curves[:, j], color=f"C{j}", linewidth=1.8)
    ax.axvline(c, color="0.3", linewidth=0.8, linestyle="--")
    ax.set_xlabel(mod.running.name)
    ax.set_ylabel("unit quantile (bin mean)")
    ax.set_title("R3D plot: unit quantiles around the cutoff")
    ax.legend(frameon=False, loc="best")
    return ax
