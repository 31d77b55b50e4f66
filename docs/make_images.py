"""Regenerate the example images in docs/images/ (used by docs/results.md and docs/falsification.md).

    python docs/make_images.py

Simulated data with a known effect (the quickstart's: ``r3d.datasets.simulate_firms``,
600 firms, seed 42; true tau(q) = 2 + 1.5 Phi^{-1}(q)), data-driven bandwidths and a
999-draw multiplier bootstrap with seed 1. Deterministic: rerunning gives the same pictures
(up to matplotlib version differences in rendering).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import r3d

OUT = Path(__file__).resolve().parent / "images"
DPI = 150


def main() -> list[Path]:
    OUT.mkdir(exist_ok=True)
    df = r3d.datasets.simulate_firms(n_firms=600, rng=42)
    mod = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        res = mod.fit(method="frechet", n_boot=999, rng=1)
        dff = r3d.datasets.simulate_firms(n_firms=600, fuzzy=True, rng=42)
        fuzzy = r3d.R3D.from_formula("wage ~ revenue", data=dff, cutoff=1.0, unit="firm",
                                     treatment="subsidy").fit(method="frechet", n_boot=999, rng=1)
    written = []

    def save(ax, name):
        path = OUT / name
        ax.figure.savefig(path, dpi=DPI)
        plt.close(ax.figure)
        written.append(path)

    save(res.plot(truth=r3d.datasets.firms_true_effect), "effect.png")
    save(res.plot(kind="limits"), "limits.png")
    save(r3d.plot_binned(mod, quantiles=(0.1, 0.5, 0.9), bins=20), "binned.png")
    save(r3d.plot_binned(mod, quantiles=(0.1, 0.5, 0.9), bins=20, bandwidth=float(res.bandwidth)),
         "binned_local.png")
    save(fuzzy.plot(truth=r3d.datasets.firms_true_effect), "effect_fuzzy.png")
    save(mod.density_test().plot(), "density_test.png")   # docs/falsification.md
    written += placebo_images(mod, res)
    return written


def placebo_images(mod: r3d.R3D, res: r3d.R3DResults) -> list[Path]:
    """The images of docs/placebo.md: placebo cutoffs, bandwidth sensitivity, a donut comparison."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        pl = res.placebo()
        sens = res.sensitivity()
        donut = mod.fit(method="frechet", n_boot=999, rng=2, donut=0.05, bandwidth=float(res.bandwidth))
        report = res.diagnostics(donut=0.05)
    cmp = res.compare(donut)
    written = []
    for obj, name in ((pl, "placebo_average.png"), (sens, "placebo_sensitivity.png"), (cmp, "placebo_compare.png")):
        ax = obj.plot()
        path = OUT / name
        ax.figure.savefig(path, dpi=DPI)
        plt.close(ax.figure)
        written.append(path)
    fig = report.plot()
    fig.savefig(OUT / "placebo_diagnostics.png", dpi=100)
    plt.close(fig)
    written.append(OUT / "placebo_diagnostics.png")
    return written


if __name__ == "__main__":
    for p in main():
        print(p.relative_to(Path.cwd()) if p.is_relative_to(Path.cwd()) else p)
