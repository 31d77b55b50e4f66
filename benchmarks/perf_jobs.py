"""Speed and memory of r3d on the reference jobs of issue 6, against the R package.

Each job is generated reproducibly as a long pandas DataFrame (one row per draw; unit ids
as integers, and again as strings), then timed end to end: ::

    mod = R3D.from_formula("y ~ x", data=df, cutoff=0, unit="unit")
    res = mod.fit(method=..., quantiles=m, n_boot=B, rng=1)
    res.nullity_test(); res.homogeneity_test(); res.summary()

DGP: unit i has x_i ~ U(-1, 1) and ``draws`` outcomes y ~ N(5 + 5 x_i + 2 1{x_i >= 0},
max(|1 + x_i|, 0.1)^2); cutoff 0, triangular kernel, p = 2, automatic bandwidth (the R
timings' settings). Rows come grouped by unit, in unit order.

Every job runs in fresh child processes (so that one job's memory does not count against
the next): a timing child makes one warm-up run and then ``--reps`` timed runs (the median
is reported, with the range, the CPU time of all threads and the 1-minute load average of
the machine during the runs), with the default ``n_jobs`` (all cores) and with ``n_jobs=1``,
checks that both give the same numbers bit for bit, and times ``numpy.sort`` of the outcome
column once (the floor: exact quantiles need at least a sort); a memory child makes one run
and records the peak resident memory above the level before the call (``VmHWM`` after
resetting it, and ``ru_maxrss``) and tracemalloc's peak of Python/NumPy allocations.

Reference: R3D 0.1.x (R 4.2, Fortran kernel) on a 2-core machine, ``r3d()`` call only with
the data already in R lists (issue 6); the R package's time does not include building its
input lists, the tests or a summary.

Run:   python benchmarks/perf_jobs.py [--jobs A,B-frechet,...] [--reps 5] [--ids int,str]
Writes benchmarks/results/perf_jobs.{csv,json,md} (the Markdown table is included by
docs/performance.md). Runtime on 2 shared cores: about 3 minutes with the defaults.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SEED = 20261123


@dataclass(frozen=True, slots=True)
class Job:
    """One reference job: ``n_units`` units with ``draws`` draws each."""

    name: str
    label: str
    n_units: int
    draws: int
    quantiles: int
    n_boot: int
    method: str
    r_seconds: float

    @property
    def n_rows(self) -> int:
        return self.n_units * self.draws


JOBS = {
    j.name: j
    for j in (
        Job("A", "application-sized", 356, 1500, 95, 5000, "frechet", 2.4),
        Job("B-frechet", "medium", 1000, 500, 99, 1000, "frechet", 2.1),
        Job("B-simple", "medium", 1000, 500, 99, 1000, "simple", 2.5),
        Job("C", "5M draws", 10_000, 500, 20, 100, "frechet", 3.9),
        Job("D", "10M draws", 100_000, 100, 99, 200, "frechet", 75.8),
    )
}


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def make_frame(n_units: int, draws: int, *, ids: str = "int", seed: int = SEED, block: int = 2_000_000):
    """The long DataFrame of a job: columns ``y``, ``x``, ``unit`` (int64 or str ids).

    Generated in blocks of about ``block`` rows so that the temporaries stay small next to
    the columns (this matters at 1e8 rows); reproducible for a given seed.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    x_unit = rng.uniform(-1.0, 1.0, n_units)
    n = n_units * draws
    y = np.empty(n)
    x = np.empty(n)
    per = max(1, block // draws)
    for u0 in range(0, n_units, per):
        u1 = min(n_units, u0 + per)
        xs = np.repeat(x_unit[u0:u1], draws)
        rows = slice(u0 * draws, u1 * draws)
        x[rows] = xs
        noise = rng.standard_normal(xs.size)
        noise *= np.maximum(np.abs(1.0 + xs), 0.1)
        noise += 5.0 + 5.0 * xs + 2.0 * (xs >= 0.0)
        y[rows] = noise
    if ids == "int":
        unit = np.repeat(np.arange(n_units, dtype=np.int64), draws)
    else:
        unit = np.repeat(np.array([f"u{i:07d}" for i in range(n_units)]), draws)
    return pd.DataFrame({"y": y, "x": x, "unit": unit})


def input_bytes(df) -> int:
    """Bytes of the three input columns (strings: the column's own buffers)."""
    return int(df.memory_usage(index=False, deep=True).sum())


# ---------------------------------------------------------------------------------------------
# one end-to-end run
# ---------------------------------------------------------------------------------------------
def pipeline(df, job: Job, *, n_jobs: int | None = None, stages: dict | None = None):
    """The timed chain; per-stage wall seconds go into ``stages`` when given."""
    from r3d import R3D

    t0 = time.perf_counter()
    mod = R3D.from_formula("y ~ x", data=df, cutoff=0, unit="unit")
    t1 = time.perf_counter()
    res = mod.fit(method=job.method, quantiles=job.quantiles, n_boot=job.n_boot, rng=1, n_jobs=n_jobs)
    t2 = time.perf_counter()
    res.nullity_test()
    res.homogeneity_test()
    t3 = time.perf_counter()
    res.summary()
    t4 = time.perf_counter()
    if stages is not None:
        for key, v in (("build", t1 - t0), ("fit", t2 - t1), ("tests", t3 - t2), ("summary", t4 - t3)):
            stages.setdefault(key, []).append(v)
    return res


def _numbers(res) -> dict[str, np.ndarray]:
    inf = res._inf
    return {"tau": res._est.tau, "influence": res._est.influence, "variance": inf.variance,
            "draws": inf.draws, "band": np.r_[inf.band.lower, inf.band.upper],
            "bandwidth": np.atleast_1d(res.bandwidth)}


def _load() -> float:
    return os.getloadavg()[0]


def child_time(job: Job, ids: str, reps: int, single: bool = True) -> dict:
    """Timing child: warm-up, ``reps`` timed runs with n_jobs=None (and with n_jobs=1)."""
    df = make_frame(job.n_units, job.draws, ids=ids)
    out: dict = {"input_mb": input_bytes(df) / 2**20}
    y = df["y"].to_numpy()
    sorts = []
    for _ in range(3):
        t = time.perf_counter()
        np.sort(y)
        sorts.append(time.perf_counter() - t)
    out["sort_seconds"] = float(np.median(sorts))
    numbers = {}
    for tag, n_jobs in (("all", None), ("one", 1))[: 2 if single else 1]:
        res = pipeline(df, job, n_jobs=n_jobs)  # warm-up (imports, thread pools, page cache)
        numbers[tag] = _numbers(res)
        del res
        walls, cpus, loads, stages = [], [], [], {}
        for _ in range(reps):
            l0 = _load()
            c0 = time.process_time()
            t0 = time.perf_counter()
            res = pipeline(df, job, n_jobs=n_jobs, stages=stages)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            loads.append((l0 + _load()) / 2)
            del res
        out[tag] = {
            "median": float(np.median(walls)), "min": float(np.min(walls)), "max": float(np.max(walls)),
            "cpu": float(np.median(cpus)), "load": float(np.mean(loads)),
            "stages": {k: float(np.median(v)) for k, v in stages.items()},
        }
    if single:
        out["identical_n_jobs"] = all(np.array_equal(numbers["all"][k], numbers["one"][k]) for k in numbers["all"])
    return out


def _vm_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def child_memory(job: Job, ids: str) -> dict:
    """Memory child: one run; peak RSS above the level before it, and tracemalloc's peak."""
    import gc
    import tracemalloc

    # a small run first: imports, thread pools and caches are not part of the job's memory
    small = Job("warm-up", "", 200, 50, job.quantiles, min(job.n_boot, 199), job.method, 0.0)
    pipeline(make_frame(small.n_units, small.draws, ids=ids), small)
    df = make_frame(job.n_units, job.draws, ids=ids)
    gc.collect()
    base_kb = _vm_kb("VmRSS")
    reset = True
    try:  # reset the high-water mark (Linux >= 4.0) so that building the frame does not count
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        reset = False
    tracemalloc.start()
    res = pipeline(df, job)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    hwm_kb = _vm_kb("VmHWM")
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del res
    return {
        "input_mb": input_bytes(df) / 2**20,
        "rss_before_mb": base_kb / 1024,
        "peak_rss_extra_mb": (hwm_kb - base_kb) / 1024 if reset else (maxrss_kb - base_kb) / 1024,
        "ru_maxrss_mb": maxrss_kb / 1024,
        "tracemalloc_peak_mb": traced_peak / 2**20,
        "hwm_reset": reset,
    }


# ---------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------
def _run_child(args: list[str], env: dict | None = None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env=None if env is None else {**os.environ, **env})
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> dict:
    import pandas

    import r3d

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "python": platform.python_version(),
            "numpy": np.__version__, "pandas": pandas.__version__, "r3d": r3d.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M")}


def time_job(job: Job, ids: str, reps: int, *, single: bool = True, env: dict | None = None) -> dict:
    """Timings of ``job`` from a fresh child process (see :func:`child_time`)."""
    return _run_child(["--child-time", json.dumps(asdict(job)), "--ids", ids, "--reps", str(reps),
                       *([] if single else ["--no-single"])], env=env)


def memory_job(job: Job, ids: str) -> dict:
    """Memory of one run of ``job`` in a fresh child process (see :func:`child_memory`)."""
    return _run_child(["--child-memory", json.dumps(asdict(job)), "--ids", ids])


PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE"}


def run(jobs: list[str], ids_list: list[str], reps: int) -> list[dict]:
    rows = []
    for name in jobs:
        job = JOBS[name]
        for ids in ids_list:
            t = time_job(job, ids, reps)
            p = time_job(job, ids, reps, single=False, env=PASSIVE)
            m = memory_job(job, ids)
            row = {
                **asdict(job), "ids": ids, "n_rows": job.n_rows,
                "median_s": t["all"]["median"], "min_s": t["all"]["min"], "max_s": t["all"]["max"],
                "cpu_s": t["all"]["cpu"], "load": t["all"]["load"],
                "median_1thread_s": t["one"]["median"], "cpu_1thread_s": t["one"]["cpu"],
                "load_1thread": t["one"]["load"],
                "median_passive_s": p["all"]["median"], "load_passive": p["all"]["load"],
                **{f"{k}_s": v for k, v in t["all"]["stages"].items()},
                "speedup_vs_R": job.r_seconds / t["all"]["median"],
                "sort_s": t["sort_seconds"], "ratio_to_sort": t["all"]["median"] / t["sort_seconds"],
                "identical_n_jobs": t["identical_n_jobs"],
                "input_mb": m["input_mb"], "peak_rss_extra_mb": m["peak_rss_extra_mb"],
                "tracemalloc_peak_mb": m["tracemalloc_peak_mb"], "ru_maxrss_mb": m["ru_maxrss_mb"],
                "rss_ratio": m["peak_rss_extra_mb"] / m["input_mb"],
                "traced_ratio": m["tracemalloc_peak_mb"] / m["input_mb"],
                "reps": reps,
            }
            rows.append(row)
            print(f"{name:10s} {ids:3s}  median {row['median_s']:.3f} s ({row['min_s']:.3f}-{row['max_s']:.3f}), "
                  f"1 thread {row['median_1thread_s']:.3f} s, x{row['speedup_vs_R']:.0f} vs R, "
                  f"peak +{row['peak_rss_extra_mb']:.0f} MB RSS / {row['input_mb']:.0f} MB input, "
                  f"load {row['load']:.1f}", flush=True)
    return rows


def markdown(rows: list[dict], info: dict) -> str:
    lines = [
        (f"Measured {info['date']} on {info['cores']} cores ({info['cpu']}), Python {info['python']}, "
        f"numpy {info['numpy']}, pandas {info['pandas']}, r3d {info['r3d']}; median of {rows[0]['reps']} runs "
        "after a warm-up, each job in fresh processes. *load* is the machine's 1-minute load average "
        "during the runs (other work on the same cores)."),
        "",
        ("| job | units x draws | q | B | method | ids | R3D (R) s | r3d s (range) | x faster | "
        "1 thread s | passive wait s | CPU s | load | peak RSS / input | traced / input | same bits any n_jobs |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['n_units']:,} x {r['draws']:,} | {r['quantiles']} | {r['n_boot']:,} | {r['method']} "
            f"| {r['ids']} | {r['r_seconds']:g} | {r['median_s']:.3f} ({r['min_s']:.3f}-{r['max_s']:.3f}) "
            f"| {r['speedup_vs_R']:.0f} | {r['median_1thread_s']:.3f} | {r['median_passive_s']:.3f} "
            f"| {r['cpu_s']:.2f} | {r['load']:.1f} "
            f"| {r['peak_rss_extra_mb']:.0f} / {r['input_mb']:.0f} MB = {r['rss_ratio']:.2f} "
            f"| {r['traced_ratio']:.2f} | {'yes' if r['identical_n_jobs'] else 'NO'} |"
        )
    lines += ["", "Where the time goes (median seconds per stage, all cores):", "",
              "| job | ids | from_formula | fit | tests | summary | numpy.sort(y) | total / sort |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['ids']} | {r['build_s']:.3f} | {r['fit_s']:.3f} | {r['tests_s']:.3f} "
                     f"| {r['summary_s']:.3f} | {r['sort_s']:.3f} | {r['ratio_to_sort']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", default=",".join(JOBS))
    ap.add_argument("--ids", default="int,str")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--child-time", help=argparse.SUPPRESS)
    ap.add_argument("--child-memory", help=argparse.SUPPRESS)
    ap.add_argument("--no-single", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(RESULTS / "perf_jobs"))
    a = ap.parse_args(argv)
    if a.child_time:
        print(json.dumps(child_time(Job(**json.loads(a.child_time)), a.ids, a.reps, single=not a.no_single)))
        return
    if a.child_memory:
        print(json.dumps(child_memory(Job(**json.loads(a.child_memory)), a.ids)))
        return
    info = machine()
    rows = run(a.jobs.split(","), a.ids.split(","), a.reps)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out.with_suffix(".json").write_text(json.dumps({"machine": info, "rows": rows}, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(rows, info))
    print(f"wrote {out}.{{csv,json,md}}")


if __name__ == "__main__":
    main()
