"""Monte Carlo check of the covariate adjustment (issue 15, METHOD_EXTENSIONS §9): coverage of
the uniform band with and without unit covariates, and how much the covariates narrow it.

Design: n units, X_i ~ U(-1, 1), cutoff 0, D_i = 1{X_i >= 0}, and three predetermined unit
covariates drawn independently of X (so they are balanced at the cutoff): Z1, Z2 ~ N(0, 1) and
Z3 ~ Bernoulli(1/2). Unit i has M draws from N(mu_i, sigma_i^2) with

    mu_i    = 1 + X + X^2 / 2 + TAU0 D + 1.5 Z1 + Z2 + Z3 + nu_i,   nu_i ~ N(0, 0.5^2),
    sigma_i = exp(0.25 Z1 + 0.25 Z3) (1 + SIGMA_JUMP D),

so the covariates carry 3.5 / 3.75 = 93% of the variance of mu_i at a given X and also move
the spread sigma_i. A unit's type-7 quantile at level q is mu_i + sigma_i c_q(M), where c_q(M)
is the expected type-7 q-quantile of M standard normal draws (computed exactly from the
expected normal order statistics, ``expected_std_normal_quantile``). The average quantile
function therefore jumps by

    tau(q) = TAU0 + SIGMA_JUMP E[exp(0.25 Z1 + 0.25 Z3)] c_q(M),

exactly, with E[exp(0.25 Z1 + 0.25 Z3)] = exp(0.25^2 / 2) (1 + e^0.25) / 2. Z is independent
of X, so the covariate-adjusted estimand is the same tau(q) (METHOD_EXTENSIONS §9).

Every replication draws one data set and fits it four times: ``frechet`` and ``simple``, each
without and with ``covariates=[Z1, Z2, Z3]``, with the package defaults otherwise (p = 2, s = 1,
triangular kernel, automatic regularised bandwidths: IMSE for Fréchet, per-quantile MSE for
simple, chosen on the covariate-adjusted outcome when there are covariates), the 9 deciles,
multiplier bootstrap with B draws (499 by default), alpha = 0.05. Recorded per fit: tau_hat,
the HC0 standard error, the bandwidth(s), the uniform band's critical value (the band is
tau_hat +- c, width 2c) and the number of R3DWarnings. Reported per (method, covariates):
uniform coverage of tau(q) at all 9 deciles with its Monte Carlo standard error, the median
bandwidth, and, paired on the same data sets, the median ratio (with / without covariates) of
the band width, of the mean standard error and of the bandwidth.

Each replication draws from its own generator ``default_rng(SeedSequence(seed,
spawn_key=(cell, rep)))`` (cell = the sample size's index in SAMPLE_SIZES_ALL), so results do
not depend on the number of workers or on the order replications finish in; the bootstrap
multipliers come from the same generator after the data. Worker processes pin BLAS to one
thread each; the machine's load average is recorded at the start and the end of the run.

Run: ``python benchmarks/montecarlo_covariates.py [--reps 500] [--n-boot 499] [--workers 2]``.
Writes benchmarks/results/montecarlo_covariates.{csv,md}; ``--raw FILE`` also saves one row per
replication and fit, ``--from-raw FILE`` rebuilds the tables from such a file.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one BLAS thread per worker process

import argparse
import math
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import integrate, special, stats

try:  # the installed r3d; see montecarlo_table1.py for why a checkout never goes first
    import r3d as _r3d  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from montecarlo_table1 import source_version

import r3d
from r3d._validation import R3DWarning

RESULTS = Path(__file__).resolve().parent / "results"
DECILES = np.arange(1, 10) / 10
METHODS = ("frechet", "simple")
ALPHA = 0.05
SEED = 20261130
N_DRAWS = 30
TAU0 = 0.5
SIGMA_JUMP = 0.25
BETA = np.array([1.5, 1.0, 1.0])
NU_SD = 0.5
SCALE_COEF = 0.25
SAMPLE_SIZES_ALL = (500, 1000, 2000)
COVARIATE_NAMES = ("z1", "z2", "z3")


# ---------------------------------------------------------------------------- design and truth


def expected_std_normal_quantile(q: np.ndarray, m: int) -> np.ndarray:
    """E of the type-7 (numpy "linear") q-quantile of m iid N(0, 1) draws, from the expected
    order statistics E[X_(k)] = int x k C(m, k) Phi^(k-1) (1 - Phi)^(m-k) phi dx (quadrature)."""

    def order_mean(k: int) -> float:
        logc = math.log(k) + special.gammaln(m + 1) - special.gammaln(k + 1) - special.gammaln(m - k + 1)

        def f(x: float) -> float:
            return x * math.exp(logc + (k - 1) * stats.norm.logcdf(x) + (m - k) * stats.norm.logsf(x)
                                + stats.norm.logpdf(x))

        return integrate.quad(f, -12.0, 12.0, limit=200, epsabs=1e-13, epsrel=1e-12)[0]

    means = np.array([order_mean(k) for k in range(1, m + 1)])
    h = (m - 1) * np.asarray(q, dtype=np.float64)
    j = np.floor(h).astype(int)
    upper = np.minimum(j + 1, m - 1)
    return means[j] + (h - j) * (means[upper] - means[j])


def true_tau(q: np.ndarray = DECILES, m: int = N_DRAWS) -> np.ndarray:
    """The exact jump of the average (type-7, m draws) unit quantile function at levels q."""
    mean_scale = math.exp(SCALE_COEF**2 / 2) * (1 + math.exp(SCALE_COEF)) / 2
    return TAU0 + SIGMA_JUMP * mean_scale * expected_std_normal_quantile(q, m)


@dataclass(frozen=True, slots=True)
class CovSample:
    """One data set: x (n,), covariates z (n, 3), draws (n, M) (row i belongs to unit i)."""

    x: np.ndarray
    z: np.ndarray
    draws: np.ndarray


def simulate(n: int, rng: np.random.Generator, *, n_draws: int = N_DRAWS) -> CovSample:
    """Draw one data set of the design in the module docstring (vectorised)."""
    x = rng.uniform(-1.0, 1.0, n)
    d = (x >= 0.0).astype(np.float64)
    z = np.column_stack([rng.standard_normal(n), rng.standard_normal(n), (rng.uniform(size=n) < 0.5).astype(float)])
    mu = 1.0 + x + 0.5 * x**2 + TAU0 * d + z @ BETA + NU_SD * rng.standard_normal(n)
    sigma = np.exp(SCALE_COEF * (z[:, 0] + z[:, 2])) * (1.0 + SIGMA_JUMP * d)
    draws = mu[:, None] + sigma[:, None] * rng.standard_normal((n, n_draws))
    return CovSample(x=x, z=z, draws=draws)


def long_model(sample: CovSample, *, covariates: bool) -> r3d.R3D:
    """``r3d.R3D`` on the long arrays (one row per draw); the covariates repeated per draw."""
    n, m = sample.draws.shape
    unit = np.repeat(np.arange(n), m)
    cov = pd.DataFrame(np.repeat(sample.z, m, axis=0), columns=list(COVARIATE_NAMES)) if covariates else None
    return r3d.R3D(sample.draws.ravel(), np.repeat(sample.x, m), unit, cutoff=0.0, covariates=cov)


# ---------------------------------------------------------------------------- one replication


def fit_row(model: r3d.R3D, method: str, *, n_boot: int, rng: np.random.Generator) -> dict:
    """Fit with the defaults; tau, se, h per decile, the uniform critical value, warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit(method=method, quantiles=DECILES, n_boot=n_boot, alpha=ALPHA, rng=rng, n_jobs=1)
    tau = res.params.to_numpy()
    row = {"crit_uniform": float(res.critical_value),
           "n_warnings": sum(issubclass(w.category, R3DWarning) for w in caught)}
    h = np.broadcast_to(np.asarray(res.bandwidth, dtype=np.float64), tau.shape)
    for name, arr in (("tau", tau), ("se", res.bse.to_numpy()), ("h", h)):
        for j, v in enumerate(arr, start=1):
            row[f"{name}_{j}"] = float(v)
    return row


def replication_rng(seed: int, cell: int, rep: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(cell, rep)))


def replicate(n: int, *, rng: np.random.Generator, n_boot: int, rep: int = 0,
              methods: tuple[str, ...] = METHODS) -> list[dict]:
    """One data set, every (method, covariates) fit on it."""
    sample = simulate(n, rng)
    rows = []
    for covariates in (False, True):
        model = long_model(sample, covariates=covariates)
        for method in methods:
            row = {"n": n, "rep": rep, "method": method, "covariates": covariates}
            row.update(fit_row(model, method, n_boot=n_boot, rng=rng))
            rows.append(row)
    return rows


def run_batch(n: int, reps: list[int], seed: int, n_boot: int, methods: tuple[str, ...] = METHODS) -> list[dict]:
    """Replications ``reps`` at sample size n (a worker task); n must be in SAMPLE_SIZES_ALL (its seed cell)."""
    cell = SAMPLE_SIZES_ALL.index(n)
    rows = []
    for rep in reps:
        rows.extend(replicate(n, rng=replication_rng(seed, cell, rep), n_boot=n_boot, rep=rep, methods=methods))
    return rows


def run(*, reps: int, n_boot: int, workers: int, seed: int, sizes: tuple[int, ...], batch: int,
        methods: tuple[str, ...] = METHODS, log=print) -> pd.DataFrame:
    tasks = [(n, list(range(s, min(reps, s + batch))), seed, n_boot, methods)
             for n in sizes for s in range(0, reps, batch)]
    rows: list[dict] = []
    t0 = time.perf_counter()
    total = reps * len(sizes)
    per_rep = 2 * len(methods)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for fut in as_completed([pool.submit(run_batch, *t) for t in tasks]):
            rows.extend(fut.result())
            done = len(rows) // per_rep
            el = time.perf_counter() - t0
            log(f"{done}/{total} replications, {el:.0f} s elapsed, ~{el / done * (total - done):.0f} s left")
    return pd.DataFrame(rows).sort_values(["n", "method", "covariates", "rep"], ignore_index=True)


# ---------------------------------------------------------------------------- summaries


def _cols(prefix: str, m: int = DECILES.size) -> list[str]:
    return [f"{prefix}_{j}" for j in range(1, m + 1)]


def _rate(hits: np.ndarray) -> tuple[float, float]:
    """Share of True and its Monte Carlo standard error sqrt(p (1 - p) / R)."""
    p = float(np.mean(hits))
    return p, float(np.sqrt(p * (1.0 - p) / hits.size))


def summarise(raw: pd.DataFrame, truth: np.ndarray | None = None) -> pd.DataFrame:
    """One row per (n, method, covariates): uniform / pointwise coverage (MC se), median band
    width, se and bandwidth, and the paired medians of the ratios with / without covariates."""
    truth = true_tau() if truth is None else truth
    out = []
    for (n, method), g in raw.groupby(["n", "method"], sort=True):
        by = {c: gg.set_index("rep").sort_index() for c, gg in g.groupby("covariates")}
        reps = by[False].index.intersection(by[True].index) if len(by) == 2 else None
        for cov, gg in sorted(by.items()):
            tau = gg[_cols("tau")].to_numpy()
            se = gg[_cols("se")].to_numpy()
            h = gg[_cols("h")].to_numpy().mean(axis=1)
            err = np.abs(tau - truth)
            cov_u = np.all(err <= gg["crit_uniform"].to_numpy()[:, None], axis=1)
            cov_p = err <= 1.959963984540054 * se
            row = {"n": int(n), "method": method, "covariates": bool(cov), "reps": len(gg)}
            row["uniform_coverage"], row["uniform_coverage_mcse"] = _rate(cov_u)
            row["pointwise_coverage_mean"] = float(cov_p.mean())
            row["pointwise_coverage_min"] = float(cov_p.mean(axis=0).min())
            row["band_width_median"] = float(np.median(2 * gg["crit_uniform"]))
            row["se_mean_median"] = float(np.median(se.mean(axis=1)))
            row["sd_tau_mean"] = float(tau.std(axis=0, ddof=1).mean()) if len(gg) > 1 else np.nan
            row["rms_se_mean"] = float(np.sqrt((se**2).mean(axis=0)).mean())
            row["bias_max_abs"] = float(np.abs(tau.mean(axis=0) - truth).max())
            q25, q50, q75 = np.quantile(h, [0.25, 0.5, 0.75])
            row.update(h_median=float(q50), h_q25=float(q25), h_q75=float(q75))
            row["warnings_per_fit"] = float(gg["n_warnings"].mean())
            if cov and reps is not None and len(reps):
                a, b = by[True].loc[reps], by[False].loc[reps]
                row["width_ratio_median"] = float(np.median(a["crit_uniform"] / b["crit_uniform"]))
                row["se_ratio_median"] = float(np.median(a[_cols("se")].to_numpy().mean(axis=1)
                                                         / b[_cols("se")].to_numpy().mean(axis=1)))
                row["h_ratio_median"] = float(np.median(a[_cols("h")].to_numpy().mean(axis=1)
                                                        / b[_cols("h")].to_numpy().mean(axis=1)))
            else:
                row["width_ratio_median"] = row["se_ratio_median"] = row["h_ratio_median"] = np.nan
            out.append(row)
    return pd.DataFrame(out)


def _pct(p: float, se: float | None = None) -> str:
    return f"{100 * p:.1f}" if se is None else f"{100 * p:.1f} ({100 * se:.1f})"


def _ratio(v: float) -> str:
    return "" if not np.isfinite(v) else f"{v:.3f}"


def markdown_table(summary: pd.DataFrame) -> str:
    head = ["n", "method", "covariates", "reps", "uniform cov. % (MC se)", "pointwise cov. % (mean / min)",
            "band width (median)", "h median [IQR]", "width ratio", "se ratio", "h ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary.itertuples(index=False):
        lines.append("| " + " | ".join([
            str(r.n), r.method, "yes" if r.covariates else "no", str(r.reps),
            _pct(r.uniform_coverage, r.uniform_coverage_mcse),
            f"{_pct(r.pointwise_coverage_mean)} / {_pct(r.pointwise_coverage_min)}",
            f"{r.band_width_median:.3f}", f"{r.h_median:.3f} [{r.h_q25:.3f}, {r.h_q75:.3f}]",
            _ratio(r.width_ratio_median), _ratio(r.se_ratio_median), _ratio(r.h_ratio_median),
        ]) + " |")
    return "\n".join(lines)


def write_tables(summary: pd.DataFrame, out: Path, provenance: str) -> str:
    summary.to_csv(out / "montecarlo_covariates.csv", index=False, float_format="%.6g")
    truth = ", ".join(f"{v:.4f}" for v in true_tau())
    md = "\n".join([
        "# Monte Carlo: covariate adjustment (unit covariates that explain most of the between-unit variation)",
        "",
        provenance,
        "",
        (f"X ~ U(-1, 1), cutoff 0, covariates Z1, Z2 ~ N(0, 1), Z3 ~ Bernoulli(1/2) independent of X; "
         f"{N_DRAWS} draws N(mu_i, sigma_i^2) per unit with mu_i = 1 + X + X^2/2 + {TAU0} 1{{X >= 0}} "
         f"+ 1.5 Z1 + Z2 + Z3 + N(0, {NU_SD}^2) and sigma_i = exp({SCALE_COEF} (Z1 + Z3)) "
         f"(1 + {SIGMA_JUMP} 1{{X >= 0}}): Z explains 93% of the variance of mu_i at given X. "
         f"True tau at the deciles (exact, type-7 quantiles of {N_DRAWS} draws): {truth}. "
         "Each data set fitted four times (frechet / simple, without / with `covariates=`), package "
         "defaults otherwise (p = 2, s = 1, triangular kernel, automatic regularised bandwidths, chosen "
         "on the adjusted outcome with covariates), 9 deciles, 95% level. Uniform coverage: tau inside "
         "the band at all 9 deciles; rates in %, Monte Carlo standard errors in parentheses. Band width "
         "= 2 x critical value; h = the bandwidth (simple: mean over the deciles). Ratios: median over "
         "the data sets of (with covariates) / (without) of the band width, the mean se over the "
         "deciles and h."),
        "",
        markdown_table(summary),
        "",
    ])
    (out / "montecarlo_covariates.md").write_text(md)
    return md


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--n-boot", type=int, default=499)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000])
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--batch", type=int, default=10, help="replications per worker task")
    ap.add_argument("--raw", type=Path, default=None, help="also save per-fit rows here (csv/csv.gz)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--from-raw", type=Path, default=None, help="rebuild the tables from rows saved by --raw")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = " ".join(map(str, args.sizes))
    command = (f"python benchmarks/montecarlo_covariates.py --reps {args.reps} --n-boot {args.n_boot} "
               f"--sizes {sizes} --methods {' '.join(args.methods)}")
    if args.from_raw is None:
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        raw = run(reps=args.reps, n_boot=args.n_boot, workers=args.workers, seed=args.seed,
                  sizes=tuple(args.sizes), batch=args.batch, methods=tuple(args.methods),
                  log=lambda s: print(s, flush=True))
        minutes = (time.perf_counter() - t0) / 60
        load1 = os.getloadavg()
        if args.raw is not None:
            raw.to_csv(args.raw, index=False)
        provenance = (f"Generated by `{command}` (seed {args.seed}; {source_version()}; {minutes:.1f} min with "
                      f"{args.workers} workers on {os.cpu_count()} cores; 1-min load average "
                      f"{load0[0]:.2f} at the start, {load1[0]:.2f} at the end).")
    else:
        raw = pd.read_csv(args.from_raw)
        provenance = (f"Tables rebuilt ({source_version()}) by `--from-raw` from per-fit rows saved with `--raw` "
                      f"(seed {args.seed}, {raw.groupby(['n', 'method', 'covariates']).size().max()} replications).")
    print(write_tables(summarise(raw), args.out, provenance))


if __name__ == "__main__":
    main()
