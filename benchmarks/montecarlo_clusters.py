"""Monte Carlo check of the clustered inference (METHOD.md section 5, our extension).

Design: DGP 1 of the paper (METHOD.md section 8) with a cluster-level shock in the unit means.
G clusters of k units (default 100 x 5 = 500 units), n_i draws per unit (default 200):

    cluster centre  C_g ~ U(-1, 1),
    unit running    "one-sided" clusters (the main design): |X_i| = |C_g| + U(-w, w) reflected
                    into [0, 1], sign(X_i) = sign(C_g), so every cluster lies on one side of the
                    cutoff (think of regions entirely above or below a threshold);
                    "straddling" clusters: X_i = C_g + U(-w, w) reflected into [-1, 1], so
                    clusters near the cutoff have units on both sides. w = 0.15: units of a
                    cluster have different, nearby X (like a state over several years);
    cluster shock   eta_g ~ N(0, rho),
    unit mean       mu_i ~ N(5 + 5 X_i + Delta 1{X_i >= 0} + eta_g, 1 - rho),
    unit scale      sigma_i ~ |N(1 + X_i, 1)|,  draws N(mu_i, sigma_i^2),

so the unit means have the paper's conditional variance 1 for every rho, of which the
share rho is common to the cluster (the intra-cluster correlation of the unit means), and
tau(q) = Delta for every q. The shock is independent of X, so the running variable cannot
absorb it. In one-sided clusters the units get kernel weights of the same sign and similar
size, so their errors add up: the variance of tau_hat is inflated (for the equivalent
kernel weights of p = 2 at h ~ 0.65, sum_g (sum_{i in g} w_i)^2 / sum_i w_i^2 ~ 3). In
straddling clusters the largest weights sit next to the cutoff with opposite signs on the
two sides (w_i^+ - w_i^-), so a shared shock largely cancels in the jump (that ratio is
~1.2): clustering then matters little, whichever band is used.

Each replication fits the same data twice with identical point estimates (asserted):
``R3D(..., cluster=...)`` (one multiplier per cluster, cluster-summed variance) and
``R3D.from_quantiles(...)`` without clusters (the unit quantile matrix of the first model),
and records uniform band coverage (Delta inside the band at every decile), the studentised
band, pointwise coverage, nullity test rejection and the mean standard errors next to the
Monte Carlo sd of tau_hat. rho = 0 checks that the clustered band does not under- or
over-cover when there is nothing to cluster.

Run: ``python benchmarks/montecarlo_clusters.py [--reps 500] [--n-boot 999] [--workers 2]``.
Writes benchmarks/results/montecarlo_clusters.{csv,md}. Runtime on 2 shared cores: ~5 min.
``--variance-check`` instead measures the small-sample bias of the cluster-robust variance
(the package's CR0 against CR1, CR2 and CR3 residual rules) for the raw local quadratic jump
at a fixed bandwidth and writes montecarlo_clusters_variance.{csv,md}.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one BLAS thread per worker process

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

try:  # the installed r3d (pip install . / -e .); never put a checkout ahead of it: a test
    import r3d as _r3d  # noqa: F401  importing this module would then make child processes load
except ImportError:  # an uncompiled source tree (seen: Dask workers hanging in CI)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout with in-place built kernels
sys.path.insert(0, str(Path(__file__).resolve().parent))

from montecarlo_table1 import (
    DECILES,
    Dgp1Sample,
    FitRecord,
    _rate,
    fit_record,
    long_model,
    source_version,
)

import r3d

RESULTS = Path(__file__).resolve().parent / "results"
#: (design, rho, clusters) cells: one-sided clusters at three intra-cluster correlations, straddling at
#: 0.9, and 400 instead of 100 clusters at 0.9 (how the clustered band's small-G bias shrinks).
CELLS = (("one-sided", 0.0, 100), ("one-sided", 0.5, 100), ("one-sided", 0.9, 100), ("straddling", 0.9, 100),
         ("one-sided", 0.9, 400))
UNITS_PER_CLUSTER = 5
METHODS = ("frechet", "simple")
DELTA = 1.14
SEED = 20250402
Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class ClusteredSample:
    """One data set of the clustered design.

    Attributes
    ----------
    sample : Dgp1Sample
        x (n,) and draws (n, n_i), n = G k units.
    cluster : ndarray
        (n,) integer cluster of each unit.
    """

    sample: Dgp1Sample
    cluster: np.ndarray


def simulate_clustered(n_clusters: int, units_per_cluster: int, rho: float, rng: np.random.Generator, *,
                       design: str = "one-sided", delta: float = DELTA, n_draws: int = 200,
                       spread: float = 0.15) -> ClusteredSample:
    """Draw one sample of the clustered design (see the module docstring).

    ``design`` is "one-sided" (no cluster straddles the cutoff) or "straddling".
    """
    n = n_clusters * units_per_cluster
    cluster = np.repeat(np.arange(n_clusters), units_per_cluster)
    centre = rng.uniform(-1.0, 1.0, n_clusters)[cluster]
    jitter = rng.uniform(-spread, spread, n)
    if design == "one-sided":
        dist = np.abs(np.abs(centre) + jitter)  # reflect at the cutoff ...
        x = np.where(centre >= 0.0, 1.0, -1.0) * np.where(dist > 1.0, 2.0 - dist, dist)  # ... and at the ends
    elif design == "straddling":
        x = centre + jitter
        x = np.where(x > 1.0, 2.0 - x, np.where(x < -1.0, -2.0 - x, x))  # reflect into [-1, 1]
    else:
        raise ValueError(f"design must be 'one-sided' or 'straddling', not {design!r}")
    eta = rng.normal(0.0, np.sqrt(rho), n_clusters)
    mu = rng.normal(5.0 + 5.0 * x + delta * (x >= 0.0) + eta[cluster], np.sqrt(1.0 - rho))
    sigma = np.abs(rng.normal(1.0 + x, 1.0))
    draws = mu[:, None] + sigma[:, None] * rng.standard_normal((n, n_draws))
    return ClusteredSample(sample=Dgp1Sample(x=x, draws=draws), cluster=cluster)


def replicate_clustered(rho: float, *, rng: np.random.Generator, design: str = "one-sided", n_clusters: int = 100,
                        units_per_cluster: int = 5, n_draws: int = 200, n_boot: int = 999,
                        methods: tuple[str, ...] = METHODS) -> list[tuple[str, FitRecord]]:
    """One replication: the clustered and the unclustered fit of each estimator on one data set.

    Returns
    -------
    list of (inference, FitRecord)
        ``inference`` is "clustered" or "unclustered".
    """
    cs = simulate_clustered(n_clusters, units_per_cluster, rho, rng, design=design, n_draws=n_draws)
    clustered = long_model(cs.sample, cluster=cs.cluster)
    Q = clustered.unit_quantiles(DECILES).to_numpy()
    plain = r3d.R3D.from_quantiles(Q, cs.sample.x, DECILES, cutoff=0.0)
    out = []
    for m in methods:
        rc = fit_record(clustered, m, n_boot=n_boot, rng=rng)
        ru = fit_record(plain, m, n_boot=n_boot, rng=rng)
        if not (np.array_equal(rc.tau, ru.tau) and np.array_equal(rc.h, ru.h)):
            raise AssertionError("clustered and unclustered fits differ in their point estimates")
        out += [("clustered", rc), ("unclustered", ru)]
    return out


def run_batch(design: str, rho: float, n_clusters: int, cell: int, reps: list[int], seed: int, n_boot: int,
              n_draws: int) -> list[dict]:
    """Replications ``reps`` of one (design, rho, n_clusters) cell (a worker task)."""
    rows = []
    for rep in reps:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(cell, rep)))
        for inference, rec in replicate_clustered(rho, rng=rng, design=design, n_clusters=n_clusters,
                                                  n_boot=n_boot, n_draws=n_draws):
            rows.append(cluster_row(rec, design=design, rho=rho, n_clusters=n_clusters, rep=rep,
                                    inference=inference))
    return rows


def cluster_row(rec: FitRecord, *, design: str, rho: float, n_clusters: int, rep: int, inference: str) -> dict:
    """Flat dict (one row of the raw table) of one fit of the clustered design."""
    row = {"design": design, "rho": rho, "clusters": n_clusters, "rep": rep, "method": rec.method,
           "inference": inference,
           "crit_uniform": rec.crit_uniform, "crit_studentized": rec.crit_studentized,
           "p_nullity": rec.p_nullity, "h": float(rec.h.mean())}
    row.update({f"tau_{j}": float(v) for j, v in enumerate(rec.tau, start=1)})
    row.update({f"se_{j}": float(v) for j, v in enumerate(rec.se, start=1)})
    return row


def summarise(raw: pd.DataFrame, delta: float = DELTA, m: int = DECILES.size) -> pd.DataFrame:
    """One row per (design, rho, clusters, method, inference): coverage rates with MC standard errors,
    and the root mean squared se against the Monte Carlo sd of tau_hat (averaged over the deciles)."""
    out = []
    keys = ["design", "rho", "clusters", "method", "inference"]
    for (design, rho, n_clusters, method, inference), g in raw.groupby(keys, sort=True):
        tau = g[[f"tau_{j}" for j in range(1, m + 1)]].to_numpy()
        se = g[[f"se_{j}" for j in range(1, m + 1)]].to_numpy()
        err = np.abs(tau - delta)
        row = {"design": design, "rho": float(rho), "clusters": int(n_clusters), "method": method,
               "inference": inference, "reps": len(g)}
        for name, hits in (
            ("uniform_coverage", np.all(err <= g["crit_uniform"].to_numpy()[:, None], axis=1)),
            ("studentized_coverage", np.all(err <= g["crit_studentized"].to_numpy()[:, None] * se, axis=1)),
            ("nullity_rejection", g["p_nullity"].to_numpy() <= 0.05),
        ):
            row[name], row[name + "_mcse"] = _rate(hits)
        row["pointwise_coverage_mean"] = float(np.mean(err <= Z95 * se))
        row["rms_se"] = float(np.sqrt((se**2).mean(axis=0)).mean())
        row["mc_sd"] = float(tau.std(axis=0, ddof=1).mean())
        row["se_over_sd"] = row["rms_se"] / row["mc_sd"]
        row["mean_crit_uniform"] = float(g["crit_uniform"].mean())
        row["h_median"] = float(g["h"].median())
        out.append(row)
    return pd.DataFrame(out)


def markdown_table(summary: pd.DataFrame) -> str:
    head = ["clusters", "G", "rho", "method", "inference", "reps", "uniform cov. % (MC se)",
            "studentized cov. %", "pointwise cov. %", "rms se / MC sd", "nullity rejection % (Δ = 1.14)",
            "h median"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary.itertuples(index=False):
        lines.append("| " + " | ".join([
            r.design, str(r.clusters), f"{r.rho:g}", r.method, r.inference, str(r.reps),
            f"{100 * r.uniform_coverage:.1f} ({100 * r.uniform_coverage_mcse:.1f})",
            f"{100 * r.studentized_coverage:.1f} ({100 * r.studentized_coverage_mcse:.1f})",
            f"{100 * r.pointwise_coverage_mean:.1f}", f"{r.se_over_sd:.2f}",
            f"{100 * r.nullity_rejection:.1f}", f"{r.h_median:.3f}",
        ]) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- variance check

#: ``--variance-check``: the raw local quadratic jump at a fixed bandwidth (no selection noise),
#: one-sided clusters, three quantile levels; residual rules compared with Var(tau_hat).
VARIANCE_CHECK_H = 0.7
VARIANCE_CHECK_LEVELS = np.array([0.1, 0.5, 0.9])
VARIANCE_RULES = ("HC0", "CR0", "CR1", "CR2", "CR3")


def _side_variances(x: np.ndarray, Y: np.ndarray, cluster: np.ndarray, *, right: bool, h: float):
    """Raw triangular-kernel local quadratic intercept of one side and its variance under each
    rule of VARIANCE_RULES (numpy, in the weighted space X* = sqrt(k) r(u)).

    HC0: sum_i a_i^2 (the package without clusters); CR0: sum_g (sum_{i in g} a_i)^2 (the package
    with clusters); CR1: CR0 G / (G - 1); CR2 (Bell-McCaffrey): cluster residuals premultiplied by
    (I - H*_gg)^{-1/2}; CR3: by (I - H*_gg)^{-1} (jackknife-like). Returns (intercept (m,), dict of
    (m,) variances, number of clusters in the window).
    """
    u = np.abs(x) / h
    idx = np.flatnonzero(((x >= 0.0) if right else (x < 0.0)) & (u <= 1.0))
    k = 1.0 - u[idx]
    R = np.vstack([np.ones(idx.size), u[idx], u[idx] ** 2]).T
    Xs = np.sqrt(k)[:, None] * R
    M_inv = np.linalg.inv(Xs.T @ Xs)
    coef = M_inv @ Xs.T @ (np.sqrt(k)[:, None] * Y[idx])
    e_star = np.sqrt(k)[:, None] * (Y[idx] - R @ coef)
    L = (M_inv @ Xs.T)[0]  # a_i = L_i e*_i
    H_star = Xs @ M_inv @ Xs.T
    groups = np.unique(cluster[idx])
    A = {rule: np.zeros((groups.size, Y.shape[1])) for rule in ("CR0", "CR2", "CR3")}
    for t, g in enumerate(groups):
        r = np.flatnonzero(cluster[idx] == g)
        vals, vecs = np.linalg.eigh(np.eye(r.size) - H_star[np.ix_(r, r)])
        A["CR0"][t] = L[r] @ e_star[r]
        A["CR2"][t] = L[r] @ ((vecs / np.sqrt(vals)) @ vecs.T @ e_star[r])
        A["CR3"][t] = L[r] @ ((vecs / vals) @ vecs.T @ e_star[r])
    var = {"HC0": ((L[:, None] * e_star) ** 2).sum(axis=0)}
    var.update({rule: (a**2).sum(axis=0) for rule, a in A.items()})
    var["CR1"] = var["CR0"] * groups.size / (groups.size - 1)
    return coef[0], var, groups.size


def variance_batch(rho: float, cell: int, reps: list[int], seed: int, n_draws: int) -> list[dict]:
    """Raw jump and its variances under each rule for replications ``reps`` (a worker task)."""
    rows = []
    for rep in reps:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(100 + cell, rep)))
        cs = simulate_clustered(100, UNITS_PER_CLUSTER, rho, rng, n_draws=n_draws)
        Y = np.quantile(cs.sample.draws, VARIANCE_CHECK_LEVELS, axis=1, method="linear").T
        fits = [_side_variances(cs.sample.x, Y, cs.cluster, right=r, h=VARIANCE_CHECK_H) for r in (True, False)]
        tau = fits[0][0] - fits[1][0]
        for j, q in enumerate(VARIANCE_CHECK_LEVELS):
            row = {"rho": rho, "rep": rep, "q": float(q), "tau": float(tau[j]),
                   "clusters_right": fits[0][2], "clusters_left": fits[1][2]}
            row.update({rule: float(fits[0][1][rule][j] + fits[1][1][rule][j]) for rule in VARIANCE_RULES})
            rows.append(row)
    return rows


def variance_check(*, reps: int, workers: int, seed: int, n_draws: int, rhos=(0.0, 0.9)) -> pd.DataFrame:
    """sqrt(mean estimated variance) / sd(tau_hat) per (rho, q) and rule."""
    tasks = [(rho, k, list(range(s, min(reps, s + 100))), seed, n_draws)
             for k, rho in enumerate(rhos) for s in range(0, reps, 100)]
    rows: list[dict] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for fut in as_completed([pool.submit(variance_batch, *t) for t in tasks]):
            rows.extend(fut.result())
    raw = pd.DataFrame(rows)
    out = []
    for (rho, q), g in raw.groupby(["rho", "q"], sort=True):
        sd = float(g["tau"].std(ddof=1))
        row = {"rho": float(rho), "q": float(q), "reps": len(g), "mc_sd": sd,
               "clusters_in_window_per_side": float(np.median(np.r_[g["clusters_right"], g["clusters_left"]]))}
        row.update({f"{rule}_ratio": float(np.sqrt(g[rule].mean())) / sd for rule in VARIANCE_RULES})
        out.append(row)
    return pd.DataFrame(out)


def write_variance_check(table: pd.DataFrame, out: Path, command: str) -> str:
    table.to_csv(out / "montecarlo_clusters_variance.csv", index=False, float_format="%.6g")
    head = ["rho", "q", "reps", "clusters in window per side", *[f"{r}" for r in VARIANCE_RULES]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table.itertuples(index=False):
        lines.append("| " + " | ".join([f"{r.rho:g}", f"{r.q:g}", str(r.reps), f"{r.clusters_in_window_per_side:g}",
                                         *[f"{getattr(r, rule + '_ratio'):.3f}" for rule in VARIANCE_RULES]]) + " |")
    md = "\n".join([
        "# Monte Carlo: small-sample bias of the cluster-robust variance (one-sided clusters, G = 100)",
        "",
        f"Generated by `{command}` ({source_version()}).",
        "",
        (f"Raw local quadratic jump (triangular kernel, fixed h = {VARIANCE_CHECK_H:g}, no rearrangement) of the "
        "unit quantiles at three levels in the one-sided cluster design. Entries: sqrt(mean estimated "
        "variance) / Monte Carlo sd of the jump (1 = unbiased). HC0 and CR0 are what the package "
        "computes without and with clusters; CR1 multiplies CR0 by G / (G - 1); CR2 (Bell-McCaffrey) "
        "and CR3 premultiply each cluster's residuals by (I - H_gg)^(-1/2) and (I - H_gg)^(-1), H the "
        "hat matrix of the kernel-weighted fit on its side."),
        "",
        *lines,
        "",
    ])
    (out / "montecarlo_clusters_variance.md").write_text(md)
    return md


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--n-boot", type=int, default=999)
    ap.add_argument("--n-draws", type=int, default=200, help="draws per unit")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--raw", type=Path, default=None, help="also save per-replication rows here (csv/csv.gz)")
    ap.add_argument("--variance-check", action="store_true",
                    help="instead of the coverage table: bias of HC0/CR0/CR1/CR2/CR3 variances at a fixed h")
    args = ap.parse_args(argv)
    if args.variance_check:
        args.out.mkdir(parents=True, exist_ok=True)
        table = variance_check(reps=args.reps, workers=args.workers, seed=args.seed, n_draws=args.n_draws)
        print(write_variance_check(table, args.out, "python benchmarks/montecarlo_clusters.py --variance-check "
                                   f"--reps {args.reps} --n-draws {args.n_draws}"))
        return

    tasks = [(design, rho, g, k, list(range(s, min(args.reps, s + args.batch))), args.seed, args.n_boot,
              args.n_draws) for k, (design, rho, g) in enumerate(CELLS) for s in range(0, args.reps, args.batch)]
    rows: list[dict] = []
    t0 = time.perf_counter()
    total, done = args.reps * len(CELLS), 0
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for fut in as_completed([pool.submit(run_batch, *t) for t in tasks]):
            out = fut.result()
            rows.extend(out)
            done += len(out) // (2 * len(METHODS))
            el = time.perf_counter() - t0
            print(f"{done}/{total} replications, {el:.0f} s elapsed, ~{el / done * (total - done):.0f} s left",
                  flush=True)
    minutes = (time.perf_counter() - t0) / 60
    raw = pd.DataFrame(rows).sort_values(["design", "rho", "clusters", "method", "inference", "rep"],
                                         ignore_index=True)
    summary = summarise(raw)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.raw is not None:
        raw.to_csv(args.raw, index=False)
    summary.to_csv(args.out / "montecarlo_clusters.csv", index=False, float_format="%.6g")
    md = [
        "# Monte Carlo: clustered vs unclustered bands (cluster shock in the unit means)",
        "",
        (f"Generated by `python benchmarks/montecarlo_clusters.py --reps {args.reps} --n-boot {args.n_boot} "
        f"--n-draws {args.n_draws}` (seed {args.seed}; {source_version()}; {minutes:.1f} min with "
        f"{args.workers} workers)."),
        "",
        ("G clusters x 5 units, cluster centre C_g ~ U(-1, 1); one-sided clusters: |X_i| = |C_g| + "
        "U(-0.15, 0.15) on the side of C_g (no cluster straddles the cutoff); straddling clusters: "
        "X_i = C_g + U(-0.15, 0.15) (reflected into [-1, 1]). "
        "mu_i ~ N(5 + 5X + 1.14 1{X >= 0} + eta_g, 1 - rho), eta_g ~ N(0, rho), "
        "sigma_i ~ |N(1 + X, 1)|, "
        f"{args.n_draws} draws per unit, 9 deciles, package defaults (p = 2, automatic bandwidth). "
        "Same data and point estimates for both rows of a pair; 'clustered' draws one multiplier per "
        "cluster and uses the cluster-summed variance. Coverage of tau(q) = 1.14 at all 9 deciles; "
        "rates in %, Monte Carlo standard errors in parentheses; 'rms se / MC sd' compares the root "
        "mean square of the pointwise se with the simulated sd of tau_hat, averaged over the deciles "
        "(1 = correctly sized variance)."),
        "",
        markdown_table(summary),
        "",
    ]
    (args.out / "montecarlo_clusters.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
