"""Monte Carlo choice of the default variance option ``vce`` (issue 20): coverage, se / sd and
the homogeneity test's size of hc0, hc1, hc2 and hc3 on the same data sets.

Designs (both with a constant effect, so tau(q) = DELTA at every q and the homogeneity test's
null holds; X_i ~ U(-1, 1), cutoff 0, D_i = 1{X_i >= 0}):

* ``dgp1``: the paper's DGP 1 with random means (benchmarks/montecarlo_table1.py):
  mu_i ~ N(5 + 5 X_i + DELTA D_i, 1), sigma_i ~ |N(1 + X_i, 1)|, n_i = n draws N(mu_i, sigma_i^2).
* ``hetero``: heteroskedastic, heavier-tailed unit noise and few draws:
  mu_i = 5 + 5 X_i + X_i^2 + DELTA D_i + exp(X_i) e_i with e_i ~ t(5) / sqrt(5/3) (unit variance),
  sigma_i = 0.5 + |X_i|, n_i = 50 draws N(mu_i, sigma_i^2).

In both, a unit's type-7 quantile is mu_i + sigma_i c_q(n_i) with the distribution of sigma_i
continuous in X, so the jump of the average unit quantile function is exactly DELTA.

Every replication draws one data set and, for each method (``frechet``, ``simple``), fits it
with ``vce="hc0"`` and the package defaults (p = 2, s = 1, triangular kernel, automatic
regularised bandwidths, the 9 deciles, B bootstrap draws, alpha = 0.05), then refits with
``vce`` = hc1, hc2, hc3 at the selected bandwidth(s) (the selector does not depend on ``vce``),
all four with the same bootstrap seed (the same multipliers), so the four columns differ only by
the variance option. Recorded per fit: tau_hat, se, the uniform critical value (band
tau_hat +- c) and the homogeneity test's p-value. Reported per (design, n, method, vce): uniform
coverage of DELTA at all 9 deciles, pointwise 95% coverage averaged over the deciles, se / sd
(mean se over the replications divided by the sd of tau_hat across them, per decile, averaged
over the deciles) and the homogeneity test's rejection rate at 5% (its size), each with its
Monte Carlo standard error (for se / sd, the delta method on the replications' mean se and
sample sd: sd / mean se * sqrt(cv_se^2 / R + 1 / (2 (R - 1))), averaged over the deciles).

Each replication draws from ``default_rng(SeedSequence(seed, spawn_key=(cell, rep)))`` (cell =
the index of (design, n) in CELLS_ALL), so results do not depend on the workers or the order
replications finish in. Worker processes pin BLAS to one thread each; the machine's load
average is recorded at the start and the end of the run.

Run: ``python benchmarks/montecarlo_vce.py [--reps 1000] [--n-boot 499] [--workers 2]
[--cells dgp1:300 hetero:300]``. Writes benchmarks/results/montecarlo_vce.{csv,md}; ``--raw FILE``
also saves one row per fit, ``--from-raw FILE [FILE ...]`` rebuilds the tables from such files.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one BLAS thread per worker process

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd

try:  # the installed r3d; see montecarlo_table1.py for why a checkout never goes first
    import r3d as _r3d  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from montecarlo_table1 import source_version

import r3d

RESULTS = Path(__file__).resolve().parent / "results"
DECILES = np.arange(1, 10) / 10
METHODS = ("frechet", "simple")
VCES = ("hc0", "hc1", "hc2", "hc3")
ALPHA = 0.05
SEED = 20261201
DELTA = 1.14
HETERO_DRAWS = 50
#: (design, n) cells; a cell's index is its seed stream, so new cells go at the end.
CELLS_ALL = (("dgp1", 300), ("hetero", 300), ("dgp1", 1000), ("hetero", 1000))
Z975 = 1.959963984540054


# ---------------------------------------------------------------------------- designs


def simulate(design: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(x (n,), draws (n, n_i)) of one data set of ``design`` (module docstring)."""
    x = rng.uniform(-1.0, 1.0, n)
    d = (x >= 0.0).astype(np.float64)
    if design == "dgp1":
        mu = rng.normal(5.0 + 5.0 * x + DELTA * d, 1.0)
        sigma = np.abs(rng.normal(1.0 + x, 1.0))
        m = n
    elif design == "hetero":
        e = rng.standard_t(5, n) / np.sqrt(5.0 / 3.0)
        mu = 5.0 + 5.0 * x + x**2 + DELTA * d + np.exp(x) * e
        sigma = 0.5 + np.abs(x)
        m = HETERO_DRAWS
    else:
        raise ValueError(f"unknown design {design!r}")
    return x, mu[:, None] + sigma[:, None] * rng.standard_normal((n, m))


def long_model(x: np.ndarray, draws: np.ndarray) -> r3d.R3D:
    n, m = draws.shape
    return r3d.R3D(draws.ravel(), np.repeat(x, m), np.repeat(np.arange(n), m), cutoff=0.0)


# ---------------------------------------------------------------------------- one replication


def replication_rng(seed: int, cell: int, rep: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(cell, rep)))


def replicate(design: str, n: int, *, rng: np.random.Generator, n_boot: int, rep: int = 0,
              methods: tuple[str, ...] = METHODS, vces: tuple[str, ...] = VCES) -> list[dict]:
    """One data set; per method the hc0 fit with the selected bandwidth, then the other vce at it."""
    model = long_model(*simulate(design, n, rng))
    boot_seed = int(rng.integers(2**63))
    rows = []
    for method in methods:
        bandwidth: object = "auto"
        for vce in vces:
            res = model.fit(method=method, quantiles=DECILES, n_boot=n_boot, alpha=ALPHA, rng=boot_seed,
                            bandwidth=bandwidth, vce=vce)
            if isinstance(bandwidth, str):
                bandwidth = np.asarray(res.bandwidth, dtype=np.float64).copy()
                bandwidth = float(bandwidth) if bandwidth.ndim == 0 else bandwidth
            row = {"design": design, "n": n, "rep": rep, "method": method, "vce": vce,
                   "crit_uniform": float(res.critical_value),
                   "p_homogeneity": float(res.homogeneity_test().pvalue)}
            for name, arr in (("tau", res.params.to_numpy()), ("se", res.bse.to_numpy())):
                for j, v in enumerate(arr, start=1):
                    row[f"{name}_{j}"] = float(v)
            rows.append(row)
    return rows


def run_batch(design: str, n: int, reps: list[int], seed: int, n_boot: int,
              methods: tuple[str, ...] = METHODS) -> list[dict]:
    cell = CELLS_ALL.index((design, n))
    rows = []
    for rep in reps:
        rows.extend(replicate(design, n, rng=replication_rng(seed, cell, rep), n_boot=n_boot, rep=rep,
                              methods=methods))
    return rows


def run(*, reps: int, n_boot: int, workers: int, seed: int, cells: tuple[tuple[str, int], ...], batch: int,
        methods: tuple[str, ...] = METHODS, log=print) -> pd.DataFrame:
    tasks = [(d, n, list(range(s, min(reps, s + batch))), seed, n_boot, methods)
             for d, n in cells for s in range(0, reps, batch)]
    rows: list[dict] = []
    t0 = time.perf_counter()
    total = reps * len(cells)
    per_rep = len(methods) * len(VCES)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for fut in as_completed([pool.submit(run_batch, *t) for t in tasks]):
            rows.extend(fut.result())
            done = len(rows) // per_rep
            el = time.perf_counter() - t0
            log(f"{done}/{total} replications, {el:.0f} s elapsed, ~{el / done * (total - done):.0f} s left")
    return pd.DataFrame(rows).sort_values(["design", "n", "method", "vce", "rep"], ignore_index=True)


# ---------------------------------------------------------------------------- summaries


def _cols(prefix: str, m: int = DECILES.size) -> list[str]:
    return [f"{prefix}_{j}" for j in range(1, m + 1)]


def _rate(hits: np.ndarray) -> tuple[float, float]:
    """Share of True and its Monte Carlo standard error sqrt(p (1 - p) / R)."""
    p = float(np.mean(hits))
    return p, float(np.sqrt(p * (1.0 - p) / hits.size))


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per (design, n, method, vce): coverage, se / sd and homogeneity size with MC se."""
    out = []
    order = {v: i for i, v in enumerate(VCES)}
    for (design, n, method, vce), g in sorted(raw.groupby(["design", "n", "method", "vce"]),
                                              key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], order[kv[0][3]])):
        tau = g[_cols("tau")].to_numpy()
        se = g[_cols("se")].to_numpy()
        r = len(g)
        err = np.abs(tau - DELTA)
        row = {"design": design, "n": int(n), "method": method, "vce": vce, "reps": r}
        row["uniform_coverage"], row["uniform_coverage_mcse"] = _rate(
            np.all(err <= g["crit_uniform"].to_numpy()[:, None], axis=1))
        cov_p = err <= Z975 * se
        row["pointwise_coverage"] = float(cov_p.mean())
        # MC se of the grid-average coverage: sd over replications of the per-replication average
        row["pointwise_coverage_mcse"] = float(cov_p.mean(axis=1).std(ddof=1) / np.sqrt(r))
        row["pointwise_coverage_min"] = float(cov_p.mean(axis=0).min())
        sd = tau.std(axis=0, ddof=1)
        mse = se.mean(axis=0)
        ratio = mse / sd
        cv = se.std(axis=0, ddof=1) / mse
        row["se_over_sd"] = float(ratio.mean())
        row["se_over_sd_mcse"] = float((ratio * np.sqrt(cv**2 / r + 1.0 / (2 * (r - 1)))).mean())
        row["se_over_sd_min"] = float(ratio.min())
        row["homogeneity_size"], row["homogeneity_size_mcse"] = _rate(g["p_homogeneity"].to_numpy() <= ALPHA)
        row["band_halfwidth_mean"] = float(g["crit_uniform"].mean())
        out.append(row)
    return pd.DataFrame(out)


def _pct(p: float, se: float) -> str:
    return f"{100 * p:.1f} ({100 * se:.1f})"


def markdown_table(summary: pd.DataFrame) -> str:
    head = ["design", "n", "method", "vce", "reps", "uniform cov. %", "pointwise cov. % (min over q)",
            "se / sd (min over q)", "homogeneity size %", "band half-width"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary.itertuples(index=False):
        lines.append("| " + " | ".join([
            r.design, str(r.n), r.method, r.vce, str(r.reps),
            _pct(r.uniform_coverage, r.uniform_coverage_mcse),
            f"{_pct(r.pointwise_coverage, r.pointwise_coverage_mcse)} ({100 * r.pointwise_coverage_min:.1f})",
            f"{r.se_over_sd:.3f} ({r.se_over_sd_mcse:.3f}) ({r.se_over_sd_min:.3f})",
            _pct(r.homogeneity_size, r.homogeneity_size_mcse), f"{r.band_halfwidth_mean:.3f}",
        ]) + " |")
    return "\n".join(lines)


def write_tables(summary: pd.DataFrame, out: Path, provenance: str) -> str:
    summary.to_csv(out / "montecarlo_vce.csv", index=False, float_format="%.6g")
    md = "\n".join([
        "# Monte Carlo: the variance options (`vce`) at 300 units",
        "",
        provenance,
        "",
        (f"Constant effect tau(q) = {DELTA} at every q (so the homogeneity test's null holds). "
         "`dgp1`: the paper's DGP 1 with random means (n draws per unit). `hetero`: "
         f"mu_i = 5 + 5X + X^2 + {DELTA} 1{{X >= 0}} + exp(X) t(5)/sqrt(5/3), sigma_i = 0.5 + |X|, "
         f"{HETERO_DRAWS} draws per unit. Each data set fitted with `vce=\"hc0\"` and the package defaults "
         "(automatic bandwidths, 9 deciles, 95% level), then with hc1, hc2 and hc3 at the same "
         "bandwidth(s) and the same bootstrap multipliers. Rates in %, Monte Carlo standard errors in "
         "parentheses. Pointwise coverage and se / sd are averages over the 9 deciles (min over the "
         "deciles after); se / sd = mean se over the replications / sd of tau_hat. Homogeneity size: "
         "rejection rate of the homogeneity test at 5%. Band half-width: mean uniform critical value."),
        "",
        markdown_table(summary),
        "",
    ])
    (out / "montecarlo_vce.md").write_text(md)
    return md


def _cell(text: str) -> tuple[str, int]:
    design, n = text.split(":")
    return design, int(n)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--n-boot", type=int, default=499)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--cells", type=_cell, nargs="+", default=[("dgp1", 300), ("hetero", 300)],
                    help="design:n pairs from CELLS_ALL")
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--batch", type=int, default=10, help="replications per worker task")
    ap.add_argument("--raw", type=Path, default=None, help="also save per-fit rows here (csv/csv.gz)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--from-raw", type=Path, nargs="+", default=None,
                    help="rebuild the tables from rows saved by --raw (several files are concatenated)")
    ap.add_argument("--note", default="", help="extra provenance text (e.g. how several runs were combined)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    cells = " ".join(f"{d}:{n}" for d, n in args.cells)
    command = (f"python benchmarks/montecarlo_vce.py --reps {args.reps} --n-boot {args.n_boot} "
               f"--cells {cells} --methods {' '.join(args.methods)}")
    if args.from_raw is None:
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        raw = run(reps=args.reps, n_boot=args.n_boot, workers=args.workers, seed=args.seed,
                  cells=tuple(args.cells), batch=args.batch, methods=tuple(args.methods),
                  log=lambda s: print(s, flush=True))
        minutes = (time.perf_counter() - t0) / 60
        load1 = os.getloadavg()
        if args.raw is not None:
            raw.to_csv(args.raw, index=False)
        provenance = (f"Generated by `{command}` (seed {args.seed}; {source_version()}; {minutes:.1f} min with "
                      f"{args.workers} workers on {os.cpu_count()} cores; 1-min load average "
                      f"{load0[0]:.2f} at the start, {load1[0]:.2f} at the end).")
    else:
        raw = pd.concat([pd.read_csv(f) for f in args.from_raw], ignore_index=True)
        provenance = (f"Tables rebuilt ({source_version()}) by `--from-raw` from per-fit rows saved with `--raw` "
                      f"(seed {args.seed}).")
    if args.note:
        provenance += " " + args.note
    print(write_tables(summarise(raw), args.out, provenance))


if __name__ == "__main__":
    main()
