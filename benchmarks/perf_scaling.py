"""How the cost of an end-to-end fit grows with draws, units, quantiles and bootstrap draws.

Four curves, each varying one size of the reference DGP of ``perf_jobs.py`` (same chain:
``from_formula`` -> ``fit`` -> tests -> ``summary``, integer unit ids, default ``n_jobs``)
with the others held fixed:

=========  =======================================  ==============================
curve      varies                                   fixed
=========  =======================================  ==============================
draws      draws per unit 10 .. 10,000 (N to 1e8)   10,000 units, q = 20, B = 100
units      units 1,000 .. 1,000,000 (N to 2e7)      20 draws per unit, q = 20, B = 100
quantiles  q = 10 .. 400                            100,000 units x 20 draws, B = 100
n_boot     B = 100 .. 10,000                        10,000 units x 100 draws, q = 99
=========  =======================================  ==============================

Every point runs in fresh child processes (timing: warm-up + median of ``--reps`` runs, one
run from 5e7 draws on; memory: one run, peak resident memory above the level before the
call, and tracemalloc's peak), through the child entry points of ``perf_jobs.py``. The
table reports seconds, nanoseconds per draw (per unit, per quantile x unit, per draw x
unit), the peak memory over the size of the three input columns, and for each curve the
log-log slope of time on size between its two largest points (1 = linear; fixed costs of a
few tens of milliseconds flatten the small end of every curve).

The 1e8-draw point needs about 8 GB (2.4 GB of input columns); it runs last and once.
Nothing is written to disk but the results.

Run:   python benchmarks/perf_scaling.py [--curves draws,units,quantiles,n_boot] [--max-draws 1e8]
       python benchmarks/perf_scaling.py --from-json   (tables and figure again, no measuring)
Writes benchmarks/results/perf_scaling.{csv,json,md} and docs/images/perf_scaling.png.
Runtime on 2 shared cores: about 6 minutes.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_jobs import RESULTS, Job, machine, memory_job, time_job

HERE = Path(__file__).resolve().parent
FIGURE = HERE.parent / "docs" / "images" / "perf_scaling.png"

CURVES = {
    "draws": [Job(f"draws={k}", "", 10_000, k, 20, 100, "frechet", 0.0) for k in (10, 100, 1000, 10_000)],
    "units": [Job(f"units={n}", "", n, 20, 20, 100, "frechet", 0.0) for n in (1000, 10_000, 100_000, 1_000_000)],
    "quantiles": [Job(f"q={m}", "", 100_000, 20, m, 100, "frechet", 0.0) for m in (10, 25, 50, 100, 200, 400)],
    "n_boot": [Job(f"B={b}", "", 10_000, 100, 99, b, "frechet", 0.0) for b in (100, 300, 1000, 3000, 10_000)],
}
SIZE = {"draws": lambda j: j.n_rows, "units": lambda j: j.n_units, "quantiles": lambda j: j.quantiles,
        "n_boot": lambda j: j.n_boot}
#: What the "ns per" column divides by: draws; units; quantile x unit; bootstrap draw x unit.
PER = {"draws": lambda j: j.n_rows, "units": lambda j: j.n_units, "quantiles": lambda j: j.quantiles * j.n_units,
       "n_boot": lambda j: j.n_boot * j.n_units}
def slope(sizes: list[float], seconds: list[float]) -> float:
    """Slope of log(seconds) on log(size) between the two largest sizes (the growth rate once
    the fixed costs no longer matter)."""
    pts = sorted(zip(sizes, seconds, strict=True))[-2:]
    if len(pts) < 2:
        return float("nan")
    (s0, t0), (s1, t1) = pts
    return float(np.log(t1 / t0) / np.log(s1 / s0))


def run(curves: list[str], max_draws: float, reps: int) -> list[dict]:
    points = [(c, j) for c in curves for j in CURVES[c] if j.n_rows <= max_draws]
    points.sort(key=lambda p: p[1].n_rows >= 5e7)  # the biggest points last
    rows = []
    for curve, job in points:
        big = job.n_rows >= 5e7
        t = time_job(job, "int", 1 if big else reps, single=False)
        m = memory_job(job, "int")
        row = {"curve": curve, "point": job.name, "n_units": job.n_units, "draws": job.draws,
               "n_rows": job.n_rows, "quantiles": job.quantiles, "n_boot": job.n_boot,
               "size": SIZE[curve](job), "seconds": t["all"]["median"], "cpu_s": t["all"]["cpu"],
               "load": t["all"]["load"], "reps": 1 if big else reps,
               "ns_per": 1e9 * t["all"]["median"] / PER[curve](job),
               **{f"{k}_s": v for k, v in t["all"]["stages"].items()},
               "sort_s": t["sort_seconds"], "input_mb": m["input_mb"],
               "peak_rss_extra_mb": m["peak_rss_extra_mb"], "tracemalloc_peak_mb": m["tracemalloc_peak_mb"],
               "rss_ratio": m["peak_rss_extra_mb"] / m["input_mb"]}
        rows.append(row)
        print(f"{curve:9s} {job.name:14s} {row['seconds']:8.3f} s  {row['ns_per']:9.1f} ns/unit of size  "
              f"peak +{row['peak_rss_extra_mb']:.0f} MB / {row['input_mb']:.0f} MB  load {row['load']:.1f}",
              flush=True)
    return rows


def markdown(rows: list[dict], info: dict) -> str:
    per_text = {"draws": "ns / draw", "units": "ns / unit", "quantiles": "ns / (q x unit)",
                "n_boot": "ns / (B x unit)"}
    out = [(f"Measured {info['date']} on {info['cores']} cores ({info['cpu']}), numpy {info['numpy']}, "
           f"r3d {info['r3d']}; default n_jobs, integer ids; median of {max(r['reps'] for r in rows)} runs "
           "(one run from 5e7 draws on). *peak / input*: peak resident memory above the level before the call "
           "over the bytes of the three input columns."), ""]
    for curve in dict.fromkeys(r["curve"] for r in rows):
        rs = [r for r in rows if r["curve"] == curve]
        s = slope([r["size"] for r in rs], [r["seconds"] for r in rs])
        out += [f"**{curve}** (log-log slope of time on {curve} between the two largest points: {s:.2f})", "",
                (f"| point | units x draws | q | B | seconds | {per_text[curve]} | from_formula s | fit s "
                "| numpy.sort s | peak / input | load |"),
                "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rs:
            out.append(f"| {r['point']} | {r['n_units']:,} x {r['draws']:,} | {r['quantiles']} | {r['n_boot']:,} "
                       f"| {r['seconds']:.3f} | {r['ns_per']:.1f} | {r['build_s']:.3f} | {r['fit_s']:.3f} "
                       f"| {r['sort_s']:.3f} | {r['peak_rss_extra_mb']:.0f} / {r['input_mb']:.0f} MB = "
                       f"{r['rss_ratio']:.2f} | {r['load']:.1f} |")
        out.append("")
    return "\n".join(out)


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = list(dict.fromkeys(r["curve"] for r in rows))
    fig, axes = plt.subplots(1, len(curves), figsize=(3.2 * len(curves), 3.0), squeeze=False)
    for ax, curve in zip(axes[0], curves, strict=True):
        rs = [r for r in rows if r["curve"] == curve]
        x = np.array([r["size"] for r in rs], dtype=float)
        y = np.array([r["seconds"] for r in rs])
        ax.loglog(x, y, "o-", color="C0", label="r3d")
        ref = y[-1] * x / x[-1]
        ax.loglog(x, ref, ":", color="0.5", label="linear")
        if curve == "draws":
            ax.loglog(x, [r["sort_s"] for r in rs], "s--", color="C1", ms=4, label="numpy.sort(y)")
        ax.set_xlabel({"draws": "draws N", "units": "units n", "quantiles": "quantiles q",
                       "n_boot": "bootstrap draws B"}[curve])
        ax.set_title(f"slope {slope(list(x), list(y)):.2f}", fontsize=9)
        ax.grid(True, which="both", lw=0.3)
    axes[0][0].set_ylabel("seconds, end to end")
    axes[0][0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--curves", default=",".join(CURVES))
    ap.add_argument("--max-draws", type=float, default=1e8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default=str(RESULTS / "perf_scaling"))
    ap.add_argument("--figure", default=str(FIGURE))
    ap.add_argument("--from-json", action="store_true", help="rewrite the tables and figure from the JSON")
    a = ap.parse_args(argv)
    out = Path(a.out)
    if a.from_json:
        saved = json.loads(out.with_suffix(".json").read_text())
        out.with_suffix(".md").write_text(markdown(saved["rows"], saved["machine"]))
        figure(saved["rows"], Path(a.figure))
        return
    info = machine()
    rows = run(a.curves.split(","), a.max_draws, a.reps)
    with open(out.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out.with_suffix(".json").write_text(json.dumps({"machine": info, "rows": rows}, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(rows, info))
    figure(rows, Path(a.figure))
    print(f"wrote {out}.{{csv,json,md}} and {a.figure}")


if __name__ == "__main__":
    main()
