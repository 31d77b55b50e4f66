"""Monte Carlo check of the falsification tools (issue 17, METHOD_EXTENSIONS §11): the size of
``res.compare``'s sup test and of the placebo cutoffs' nullity tests.

Design: the paper's DGP 1 (``montecarlo_table1.simulate_dgp1``): n units, X_i ~ U(-1, 1),
cutoff 0, unit means mu_i ~ N(5 + 5 X_i + Delta 1{X_i >= 0}, 1), spreads
sigma_i = |N(1 + X_i, 1)|, and M within-unit draws N(mu_i, sigma_i^2) per unit. The average
quantile function is smooth in X everywhere but at 0, where it jumps by Delta at every q.

- *compare*: Delta = 0.5 (an effect, the same for both fits); each replication fits the Fréchet
  estimator twice on the same data, at the fixed bandwidths H_A and H_B (p = 2, triangular kernel,
  the 9 deciles), and runs ``res_a.compare(res_b)``: both estimate the same tau(q), so the sup test of
  no difference should reject at about alpha = 5%. The bandwidths are fixed so that the
  difference has no bias beyond the local quadratic's (the data-driven bandwidth is covered by
  the placebo check).
- *placebo*: Delta = 1.14; the Fréchet fit with the package defaults (IMSE bandwidth, selected)
  and ``res.placebo()`` at its default cutoffs (the 20/40/60/80% quantiles of X on each side, 8
  cutoffs): no discontinuity there, so each nullity test should reject at about 5%. Reported per
  cutoff rank and overall, at n = 500 and n = 2000 (the outer and inner placebo cutoffs have only a
  tenth of the units on their short side: 50 at n = 500, where the tests over-reject).

Each replication draws from ``default_rng(SeedSequence(SEED, spawn_key=(cell, rep)))``; the
fits' bootstrap seeds are drawn from the same generator after the data, so the results do not
depend on the number of workers. Rejection rates come with their Monte Carlo standard error
sqrt(p (1 - p) / R).

Run: ``python benchmarks/montecarlo_compare.py [--reps 4000] [--placebo-reps 2000] [--n-boot 499]
[--workers 2]``. Writes benchmarks/results/montecarlo_compare.{csv,md} and prints the table.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one BLAS thread per worker process

import argparse
import multiprocessing
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

try:  # the installed r3d, as montecarlo_table1 does (a checkout only when none is installed)
    import r3d
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout with in-place built kernels
    import r3d

sys.path.insert(0, str(Path(__file__).resolve().parent))  # montecarlo_table1, beside this file
import montecarlo_table1 as mc

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 20261217
ALPHA = 0.05
N_UNITS = 500
N_DRAWS = 50
#: The placebo check is also run with more units: a placebo cutoff at the 20% quantile of a side has a
#: tenth of the units on its short side (50 at n = 500), where the bootstrap over-rejects.
PLACEBO_N_LARGE = 2000
#: The two fixed bandwidths of the comparison (X spans [-1, 1]).
H_A, H_B = 0.6, 0.9
DELTA_COMPARE, DELTA_PLACEBO = 0.5, 1.14
CELL_COMPARE, CELL_PLACEBO = 1, 2
BATCH = 50


def compare_replication(rep: int, *, seed: int = SEED, n_boot: int = 499, n: int = N_UNITS) -> dict:
    """One data set, two bandwidths, the sup test of no difference."""
    rng = mc.replication_rng(seed, CELL_COMPARE if n == N_UNITS else CELL_COMPARE * 100_000 + n, rep)
    model = mc.long_model(mc.simulate_dgp1(n, DELTA_COMPARE, rng, n_draws=N_DRAWS))
    seeds = rng.integers(2**63, size=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        a = model.fit(bandwidth=H_A, quantiles=mc.DECILES, n_boot=n_boot, alpha=ALPHA, rng=int(seeds[0]))
        b = model.fit(bandwidth=H_B, quantiles=mc.DECILES, n_boot=n_boot, alpha=ALPHA, rng=int(seeds[1]))
    cmp = a.compare(b, rng=int(seeds[2]))
    return {"rep": rep, "pvalue": cmp.test.pvalue, "statistic": cmp.test.statistic,
            "critical_value": cmp.test.critical_value, "max_se": float(cmp.se.max()),
            "p_a": float(a.nullity_test().pvalue), "p_b": float(b.nullity_test().pvalue)}


def placebo_replication(rep: int, *, seed: int = SEED, n_boot: int = 499, n: int = N_UNITS) -> list[dict]:
    """One data set, the default fit and its default placebo cutoffs."""
    rng = mc.replication_rng(seed, CELL_PLACEBO * 100_000 + n, rep)
    model = mc.long_model(mc.simulate_dgp1(n, DELTA_PLACEBO, rng, n_draws=N_DRAWS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        res = model.fit(quantiles=mc.DECILES, n_boot=n_boot, alpha=ALPHA, rng=int(rng.integers(2**63)))
        pl = res.placebo()
    f = pl.frame
    rank = f.groupby("side").cumcount()
    return [{"rep": rep, "n": n, "side": r.side, "rank": int(k), "cutoff": r.cutoff, "h": r.h,
             "pvalue": r.nullity_pvalue, "n_skipped": len(pl.skipped)}
            for r, k in zip(f.itertuples(index=False), rank, strict=True)]


def _batch(kind: str, reps: list[int], seed: int, n_boot: int, n: int) -> list[dict]:
    rows: list[dict] = []
    for rep in reps:
        if kind == "compare":
            rows.append(compare_replication(rep, seed=seed, n_boot=n_boot, n=n))
        else:
            rows.extend(placebo_replication(rep, seed=seed, n_boot=n_boot, n=n))
    return rows


def run(kind: str, reps: int, *, seed: int = SEED, n_boot: int = 499, workers: int = 2,
        n: int = N_UNITS) -> pd.DataFrame:
    """``reps`` replications of ``kind`` ("compare" or "placebo") with ``n`` units, in spawned worker processes."""
    batches = [list(range(s, min(reps, s + BATCH))) for s in range(0, reps, BATCH)]
    k = len(batches)
    if workers <= 1:
        parts = [_batch(kind, b, seed, n_boot, n) for b in batches]
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = list(pool.map(_batch, [kind] * k, batches, [seed] * k, [n_boot] * k, [n] * k))
    return pd.DataFrame([row for part in parts for row in part])


def rejection(p: pd.Series, alpha: float = ALPHA) -> tuple[float, float, int]:
    """Rejection rate of p-values at ``alpha``, its Monte Carlo se, and the count."""
    r = float(np.mean(p.to_numpy() <= alpha))
    return r, float(np.sqrt(r * (1 - r) / len(p))), len(p)


def summarise(compare: pd.DataFrame, placebo: pd.DataFrame) -> pd.DataFrame:
    rows = []
    if len(compare):
        r, se, k = rejection(compare["pvalue"])
        rows.append({"check": f"compare: h = {H_A:g} vs {H_B:g}, sup test", "tests": k, "rejection": r, "mcse": se})
        for col, h in (("p_a", H_A), ("p_b", H_B)):
            r, se, k = rejection(compare[col])
            rows.append({"check": f"(nullity test at h = {h:g}: power at Delta = "
                                  f"{DELTA_COMPARE:g})", "tests": k, "rejection": r, "mcse": se})
    for n, pn in (placebo.groupby("n") if len(placebo) else ()):
        r, se, k = rejection(pn["pvalue"])
        rows.append({"check": f"placebo cutoffs at n = {n}, nullity test (all 8)", "tests": k, "rejection": r,
                     "mcse": se})
        for (side, rank), g in pn.groupby(["side", "rank"]):
            r, se, k = rejection(g["pvalue"])
            rows.append({"check": f"n = {n}: placebo {side} #{rank + 1} (cutoff ~{g['cutoff'].median():.2f}, "
                                  f"median h {g['h'].median():.2f})", "tests": k, "rejection": r, "mcse": se})
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame, *, command: str, seconds: float) -> str:
    lines = [
        "# Monte Carlo: comparison of two fits and placebo cutoffs (issue 17)",
        "",
        f"Produced by `{command}` ({mc.source_version()}), {seconds:.0f} s. Design: DGP 1 of the paper, "
        f"n = {N_UNITS} units (placebo also {PLACEBO_N_LARGE}) with {N_DRAWS} draws each, Fréchet estimator, "
        f"9 deciles, alpha = {ALPHA:g} "
        "(see the script's docstring). Nominal rejection rate: 5%; the size gate of the comparison is "
        "[0.03, 0.08].",
        "",
        "| check | tests | rejection rate | MC se |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {r.check} | {r.tests} | {r.rejection:.3f} | {r.mcse:.3f} |" for r in table.itertuples()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=4000, help="replications of the comparison")
    ap.add_argument("--placebo-reps", type=int, default=2000,
                    help="replications of the placebo check at n = 500 (8 tests each; half as many at n = 2000)")
    ap.add_argument("--n-boot", type=int, default=499)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out", type=Path, default=RESULTS / "montecarlo_compare")
    args = ap.parse_args(argv)
    start = time.time()
    compare = run("compare", args.reps, seed=args.seed, n_boot=args.n_boot, workers=args.workers)
    placebo = pd.concat([run("placebo", reps, seed=args.seed, n_boot=args.n_boot, workers=args.workers, n=n)
                         for n, reps in ((N_UNITS, args.placebo_reps), (PLACEBO_N_LARGE, args.placebo_reps // 2))],
                        ignore_index=True)
    table = summarise(compare, placebo)
    command = "python benchmarks/montecarlo_compare.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(table, command=command.strip(), seconds=time.time() - start)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out.with_suffix(".csv"), index=False)
    args.out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
