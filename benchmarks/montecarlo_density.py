"""Monte Carlo check of the density (manipulation) test and the binomial test (issue 17,
METHOD_EXTENSIONS §11): size without sorting, power when units just below the cutoff sort above it.

Design: n units, X_i ~ N(0, 1), cutoff 0 (one running-variable value per unit, as
``R3D.density_test`` uses). Sorting: each unit with X in [-WINDOW, 0) moves to -X (just above the
cutoff) with probability ``s`` (the sorted share), independently. With s = 0 the density is
continuous at 0 and every rejection is a false one; with s > 0 the density jumps at 0 from
(1 - s) phi(0) to (1 + s) phi(0) (the relative jump is 2 s / (1 - s)).

Per replication: ``r3d.density.density_test`` with its defaults (rddensity's: p = 2, triangular
kernel, bwselect "comb", jackknife variance, robust bias-corrected statistic), and
``r3d.density.binomial_test`` in the window holding the nearest BINOMIAL_N units. Reported per
(n, s): the rejection rates at 5% with Monte Carlo standard errors, the mean statistic and the
median bandwidths.

Each replication draws from ``default_rng(SeedSequence(seed, spawn_key=(n, 1000 s, rep)))``, so a
cell's results do not depend on which other cells run (the slow test reruns two of them).

Run: ``python benchmarks/montecarlo_density.py [--reps 2000]``. Writes
benchmarks/results/montecarlo_density.{csv,md} (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import r3d
from r3d.density import binomial_test, density_test

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 20261130
SAMPLE_SIZES = (500, 1000, 2000)
SORTED_SHARES = (0.0, 0.1, 0.25, 0.5)
#: Units with X in [-WINDOW, 0) may sort above the cutoff.
WINDOW = 0.2
#: The binomial test's window holds the nearest BINOMIAL_N units.
BINOMIAL_N = 100
ALPHA = 0.05


def simulate(n: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """(n,) running variable, with units in [-WINDOW, 0) moved to -X with probability ``share``."""
    x = rng.normal(size=n)
    move = (x >= -WINDOW) & (x < 0) & (rng.uniform(size=n) < share)
    x[move] = -x[move]
    return x


def replicate(n: int, share: float, rng: np.random.Generator) -> dict:
    x = simulate(n, share, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        t = density_test(x, cutoff=0.0)
    w = float(np.sort(np.abs(x))[BINOMIAL_N - 1])
    b = binomial_test(x, cutoff=0.0, windows=[w])
    return {"T": t.statistic, "p": t.pvalue, "h_left": t.h_left, "h_right": t.h_right, "p_binomial": b.pvalue[0]}


def run(*, n_values: tuple[int, ...] = SAMPLE_SIZES, shares: tuple[float, ...] = SORTED_SHARES, reps: int,
        seed: int = SEED) -> pd.DataFrame:
    """One row per (n, s): rejection rates, their MC standard errors, mean T, median bandwidths."""
    rows = []
    for n in n_values:
        for share in shares:
            cell = (n, round(1000 * share))
            reps_out = [replicate(n, share, np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(*cell, r))))
                        for r in range(reps)]
            d = pd.DataFrame(reps_out)
            rej = float(np.mean(d["p"] <= ALPHA))
            rej_b = float(np.mean(d["p_binomial"] <= ALPHA))
            rows.append({"n": n, "sorted_share": share, "reps": reps,
                         "density_reject": rej, "density_reject_se": math.sqrt(rej * (1 - rej) / reps),
                         "binomial_reject": rej_b, "binomial_reject_se": math.sqrt(rej_b * (1 - rej_b) / reps),
                         "mean_T": float(d["T"].mean()), "sd_T": float(d["T"].std(ddof=1)),
                         "median_h_left": float(d["h_left"].median()), "median_h_right": float(d["h_right"].median())})
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame, provenance: str) -> str:
    lines = ["# Monte Carlo: the density test and the binomial test", "",
             provenance, "",
             f"X ~ N(0, 1), cutoff 0, one value per unit; a share s of the units with X in [-{WINDOW:g}, 0) move to "
             "-X (just above the cutoff). Density test: `r3d.density.density_test` with rddensity's defaults (p = 2, "
             "triangular kernel, bwselect 'comb', jackknife variance, robust bias-corrected statistic). Binomial test: "
             f"the window holding the nearest {BINOMIAL_N} units. Rejection rates at 5% in %, Monte Carlo standard "
             "errors in parentheses; s = 0 gives the size, s > 0 the power.", "",
             "| n | sorted share s | reps | density test rejects % | binomial test rejects % | mean T (sd) "
             "| median h left / right |",
             "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.n} | {r.sorted_share:g} | {r.reps} | {100 * r.density_reject:.1f} "
                     f"({100 * r.density_reject_se:.1f}) | {100 * r.binomial_reject:.1f} "
                     f"({100 * r.binomial_reject_se:.1f}) | {r.mean_T:.2f} ({r.sd_T:.2f}) "
                     f"| {r.median_h_left:.3f} / {r.median_h_right:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.time()
    table = run(reps=args.reps, seed=args.seed)
    minutes = (time.time() - t0) / 60
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    provenance = (f"Generated by `python benchmarks/montecarlo_density.py --reps {args.reps}` (seed {args.seed}; "
                  f"r3d {r3d.__version__}, commit {commit}; {minutes:.1f} min on one core).")
    md = markdown(table, provenance)
    sys.stdout.write(md)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        table.to_csv(RESULTS / "montecarlo_density.csv", index=False, float_format="%.6g")
        (RESULTS / "montecarlo_density.md").write_text(md)


if __name__ == "__main__":
    main()
