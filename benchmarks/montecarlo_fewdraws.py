"""Monte Carlo: few draws per unit (issue 20, item 2; docs/few_draws.md).

r3d estimates the jump in the units' *expected empirical* quantile function. With n_i = 10
draws per unit that differs from the jump in the population quantile function wherever the
within-unit spread jumps at the cutoff. This script measures, for 1,000 units with 10 draws
each, the bias and the coverage of both targets, and what the quantile definition
(``quantile_method``) and a trimmed grid do about them.

Design (X_i ~ U(-1, 1), cutoff 0, D_i = 1{X_i >= 0}; ``DS`` the jump of the within-unit sd):

    mu_i = 5 + 5 X_i + DELTA D_i + e_i,   e_i ~ N(0, 1)        (units differ in their means)
    sigma_i = 1 + X_i / 4 + DS D_i                              (and in their spreads)
    Y_ij = mu_i + sigma_i Z_ij,           Z_ij ~ N(0, 1),  j = 1..N_DRAWS

Scenario ``spread jumps``: DS = 0.5 (the within-unit sd jumps from 1 to 1.5 at the cutoff);
``spread continuous``: DS = 0. The population target is tau(q) = DELTA + DS Phi^{-1}(q). Unit
i's empirical quantile by ``method`` is mu_i + sigma_i Qhat_m(Z_i1..Z_in; q), and numpy's quantile
of sorted values is a fixed linear combination of order statistics (weights depending on q, n
and the method only), so its expectation is the same combination of the expected standard
normal order statistics: c_m(q) = numpy.quantile(E[Z_(1)], ..., E[Z_(n)]; q, method). The
expected-empirical target, what r3d estimates, is tau_m(q) = DELTA + DS c_m(q) (exact: the
conditional means are linear in X, which a local quadratic fits without bias).

Each replication draws one data set and fits it (Fréchet, p = 2, triangular kernel, the fixed
bandwidth H, HC3, B bootstrap draws, alpha = 0.05) with each quantile method on the grid
0.05, 0.10, ..., 0.95 (19 levels; with 10 draws q = 0.05 and 0.95 lie beyond every unit's outer
order statistics, and the few-draws warning fires), and with "linear" on the trimmed grid
0.10, ..., 0.90 (17 levels, resolved by every unit: no warning), all with the same bootstrap
seed. Reported per (scenario, fit) and level: the mean of tau_hat minus each target (bias), the
sd of tau_hat, the pointwise 95% coverage of each target, and over the fit's grid the uniform
band's coverage of each target, each with its Monte Carlo standard error.

Each replication draws from ``default_rng(SeedSequence(seed, spawn_key=(scenario, rep)))``, so
results do not depend on the workers or the order replications finish in.

Run: ``python benchmarks/montecarlo_fewdraws.py [--reps 1000] [--n-boot 499] [--workers 1]``.
Writes benchmarks/results/montecarlo_fewdraws.{csv,md}. About 3 minutes on one core.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one BLAS thread per worker process

import argparse
import functools
import math
import subprocess
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import integrate, special, stats

try:  # the installed r3d; a checkout is used only when none is installed
    import r3d
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import r3d

HERE = Path(__file__).resolve().parent
N_UNITS = 1000
N_DRAWS = 10
DELTA = 1.0
#: The jump of the within-unit sd in each scenario.
SCENARIOS = {"spread jumps": 0.5, "spread continuous": 0.0}
H = 0.5
ALPHA = 0.05
GRID = np.arange(1, 20) / 20
TRIMMED = np.arange(2, 19) / 20
#: The levels shown in the tables.
LEVELS = np.array([0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95])
#: (label, quantile_method, grid) of the fits compared on each data set.
FITS = (("linear", "linear", GRID), ("median_unbiased", "median_unbiased", GRID), ("hazen", "hazen", GRID),
        ("normal_unbiased", "normal_unbiased", GRID), ("inverted_cdf", "inverted_cdf", GRID),
        ("linear, trimmed grid", "linear", TRIMMED))


@functools.cache
def expected_normal_order_statistics(n: int) -> np.ndarray:
    """(n,) E[Z_(k)], k = 1..n, of n independent standard normals (quadrature; exact to ~1e-10; read-only)."""
    out = np.empty(n)
    for k in range(1, n + 1):
        const = math.exp(special.gammaln(n + 1) - special.gammaln(k) - special.gammaln(n - k + 1))

        def f(z: float, k: int = k, const: float = const) -> float:
            return const * z * stats.norm.pdf(z) * stats.norm.cdf(z) ** (k - 1) * stats.norm.sf(z) ** (n - k)

        out[k - 1] = integrate.quad(f, -12, 12, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
    out.flags.writeable = False
    return out


def expected_quantile(q: np.ndarray, method: str, n: int = N_DRAWS) -> np.ndarray:
    """c_m(q): the expected empirical quantile of n standard normal draws by ``method``."""
    return np.quantile(expected_normal_order_statistics(n), q, method=method)


def targets(ds: float, q: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """(population tau(q), expected-empirical tau_m(q)) for a spread jump ``ds``."""
    return DELTA + ds * stats.norm.ppf(q), DELTA + ds * expected_quantile(q, method)


def simulate(ds: float, rng: np.random.Generator, n: int = N_UNITS, k: int = N_DRAWS) -> r3d.R3D:
    """One data set of the design as a model (n units, k draws each)."""
    x = rng.uniform(-1.0, 1.0, n)
    d = (x >= 0).astype(float)
    mu = 5.0 + 5.0 * x + DELTA * d + rng.standard_normal(n)
    sigma = 1.0 + x / 4.0 + ds * d
    y = mu[:, None] + sigma[:, None] * rng.standard_normal((n, k))
    return r3d.R3D(y.ravel(), np.repeat(x, k), np.repeat(np.arange(n), k), cutoff=0.0)


def replication_rng(seed: int, scenario: int, rep: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(scenario, rep)))


def replicate(scenario: str, rep: int, *, seed: int, n_boot: int, fits=FITS) -> list[dict]:
    """One data set, fitted once per entry of ``fits``; one row per (fit, grid level)."""
    ds = SCENARIOS[scenario]
    rng = replication_rng(seed, list(SCENARIOS).index(scenario), rep)
    model = simulate(ds, rng)
    boot_seed = int(rng.integers(2**63))
    rows = []
    for label, method, grid in fits:
        with warnings.catch_warnings():  # the few-draws warning is expected on the full grid; kept as a column
            warnings.simplefilter("ignore", r3d.FewDrawsWarning)
            res = model.fit(quantiles=grid, quantile_method=method, bandwidth=H, n_boot=n_boot, alpha=ALPHA,
                            rng=boot_seed)
        pop, emp = targets(ds, grid, method)
        ci = res.conf_int(ALPHA)
        lo, hi = ci["lower"].to_numpy(), ci["upper"].to_numpy()
        uni_pop = uni_emp = None  # no band without bootstrap draws (n_boot=0: the quick test)
        if n_boot > 0:
            band = res.conf_int(ALPHA, kind="uniform")
            blo, bhi = band["lower"].to_numpy(), band["upper"].to_numpy()
            uni_pop = bool(np.all((blo <= pop) & (pop <= bhi)))
            uni_emp = bool(np.all((blo <= emp) & (emp <= bhi)))
        for j, q in enumerate(grid):
            rows.append({"scenario": scenario, "rep": rep, "fit": label, "q": float(q),
                         "tau_hat": float(res.params.iloc[j]), "se": float(res.bse.iloc[j]),
                         "tau_pop": float(pop[j]), "tau_emp": float(emp[j]),
                         "cover_pop": bool(lo[j] <= pop[j] <= hi[j]), "cover_emp": bool(lo[j] <= emp[j] <= hi[j]),
                         "uniform_pop": uni_pop, "uniform_emp": uni_emp, "warned": bool(res.few_draws.any)})
    return rows


def run_batch(scenario: str, reps: list[int], seed: int, n_boot: int) -> list[dict]:
    out = []
    for rep in reps:
        out += replicate(scenario, rep, seed=seed, n_boot=n_boot)
    return out


def run(*, reps: int, n_boot: int, workers: int, seed: int, batch: int = 50) -> pd.DataFrame:
    jobs = [(s, list(range(b, min(b + batch, reps)))) for s in SCENARIOS for b in range(0, reps, batch)]
    if workers <= 1:
        rows = [r for s, rr in jobs for r in run_batch(s, rr, seed, n_boot)]
    else:
        with ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(run_batch, s, rr, seed, n_boot) for s, rr in jobs]
            rows = [r for f in futures for r in f.result()]
    return pd.DataFrame(rows)


def _rate(hits: pd.Series) -> tuple[float, float]:
    p = float(hits.mean())
    return p, math.sqrt(p * (1 - p) / hits.size)


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per (scenario, fit, level): bias and coverage of both targets with MC standard errors."""
    out = []
    for (scenario, fit, q), g in raw.groupby(["scenario", "fit", "q"], sort=False):
        R = len(g)
        sd = float(g["tau_hat"].std(ddof=1))
        cp, cp_se = _rate(g["cover_pop"])
        ce, ce_se = _rate(g["cover_emp"])
        up, up_se = _rate(g["uniform_pop"])
        ue, ue_se = _rate(g["uniform_emp"])
        out.append({"scenario": scenario, "fit": fit, "q": q, "reps": R,
                    "tau_pop": g["tau_pop"].iloc[0], "tau_emp": g["tau_emp"].iloc[0],
                    "bias_pop": float((g["tau_hat"] - g["tau_pop"]).mean()),
                    "bias_emp": float((g["tau_hat"] - g["tau_emp"]).mean()), "bias_se": sd / math.sqrt(R),
                    "sd": sd, "mean_se": float(g["se"].mean()),
                    "cover_pop": cp, "cover_pop_se": cp_se, "cover_emp": ce, "cover_emp_se": ce_se,
                    "uniform_pop": up, "uniform_pop_se": up_se, "uniform_emp": ue, "uniform_emp_se": ue_se,
                    "warned": float(g["warned"].mean())})
    return pd.DataFrame(out)


def _pct(p: float, se: float) -> str:
    return f"{100 * p:.1f} ({100 * se:.1f})"


def estimand_table() -> str:
    """Population tau(q) against the expected-empirical target of each method (spread jump 0.5)."""
    ds = SCENARIOS["spread jumps"]
    methods = [m for _, m, g in FITS if g is GRID]
    lines = ["| q | population tau(q) | " + " | ".join(f"`{m}`" for m in methods) + " |",
             "|---|---|" + "---|" * len(methods)]
    for q in LEVELS:
        pop = DELTA + ds * stats.norm.ppf(q)
        cells = [f"{targets(ds, np.array([q]), m)[1][0]:.3f}" for m in methods]
        lines.append(f"| {q:.2f} | {pop:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(summary: pd.DataFrame, header: str) -> str:
    parts = [header, "", "## The estimand", "",
             f"With {N_DRAWS} N(mu_i, sigma_i^2) draws per unit and the within-unit sd jumping from 1 to "
             f"{1 + SCENARIOS['spread jumps']:g} at the cutoff, the population jump tau(q) = {DELTA:g} + "
             f"{SCENARIOS['spread jumps']:g} Phi^-1(q) and the jump in the units' expected empirical quantile, "
             "what r3d estimates, by quantile method (exact, from the expected normal order statistics):", "",
             estimand_table(), ""]
    for scenario in SCENARIOS:
        s = summary[summary["scenario"] == scenario]
        parts += [f"## {scenario} (within-unit sd jump {SCENARIOS[scenario]:g})", "",
                  "| fit | q | bias vs population | bias vs expected empirical | sd | pointwise cov. of population "
                  "% | pointwise cov. of expected empirical % | warned % |",
                  "|---|---|---|---|---|---|---|---|"]
        for _, r in s[s["q"].round(6).isin(LEVELS.round(6))].iterrows():
            parts.append(f"| {r['fit']} | {r['q']:.2f} | {r['bias_pop']:+.3f} ({r['bias_se']:.3f}) | "
                         f"{r['bias_emp']:+.3f} ({r['bias_se']:.3f}) | {r['sd']:.3f} | "
                         f"{_pct(r['cover_pop'], r['cover_pop_se'])} | {_pct(r['cover_emp'], r['cover_emp_se'])} | "
                         f"{100 * r['warned']:.0f} |")
        parts += ["", "Uniform band over each fit's grid:", "",
                  "| fit | grid | uniform cov. of population % | uniform cov. of expected empirical % |",
                  "|---|---|---|---|"]
        for fit, g in s.groupby("fit", sort=False):
            r = g.iloc[0]
            grid = f"{g['q'].min():.2f}..{g['q'].max():.2f} ({len(g)} levels)"
            parts.append(f"| {fit} | {grid} | {_pct(r['uniform_pop'], r['uniform_pop_se'])} | "
                         f"{_pct(r['uniform_emp'], r['uniform_emp_se'])} |")
        parts.append("")
    return "\n".join(parts)


def _commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(HERE), "status", "--porcelain", "--", "r3d"], capture_output=True,
                               text=True, check=True).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--n-boot", type=int, default=499)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=20261130)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "montecarlo_fewdraws")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    raw = run(reps=args.reps, n_boot=args.n_boot, workers=args.workers, seed=args.seed)
    minutes = (time.perf_counter() - t0) / 60
    load1 = os.getloadavg()
    summary = summarise(raw)
    summary.to_csv(args.out.with_suffix(".csv"), index=False, float_format="%.6g")
    header = (
        "# Monte Carlo: few draws per unit\n\n"
        f"Generated by `python benchmarks/montecarlo_fewdraws.py --reps {args.reps} --n-boot {args.n_boot} "
        f"--workers {args.workers}` (seed {args.seed}; r3d {r3d.__version__}, commit {_commit()}; "
        f"{minutes:.1f} min with {args.workers} worker(s) on {os.cpu_count()} cores; 1-min load average "
        f"{load0[0]:.2f} at the start, {load1[0]:.2f} at the end).\n\n"
        f"{N_UNITS} units, X ~ U(-1, 1), cutoff 0; unit i has {N_DRAWS} draws N(mu_i, sigma_i^2) with mu_i = 5 + 5X "
        f"+ {DELTA:g} 1{{X >= 0}} + N(0, 1) and sigma_i = 1 + X/4 + DS 1{{X >= 0}}. Every data set is fitted "
        f"(Fréchet, p = 2, triangular kernel, fixed h = {H:g}, HC3, B = {args.n_boot}, 95% level) with each "
        "quantile method on the grid 0.05..0.95 (19 levels: q = 0.05 and 0.95 are below 1/10 from the ends, "
        "so the few-draws warning fires) and with \"linear\" on the trimmed grid 0.10..0.90 (17 levels, no "
        "warning). Targets: the population jump tau(q) = 1 + DS Phi^-1(q) and the jump in the expected "
        "empirical quantile of each method (the table below). Bias: mean of tau_hat minus the target (Monte "
        "Carlo standard error in parentheses); coverage rates in % with their Monte Carlo standard errors. "
        "\"warned %\": share of fits that raised `FewDrawsWarning`.")
    args.out.with_suffix(".md").write_text(markdown(summary, header) + "\n", encoding="utf-8")
    print(f"wrote {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
