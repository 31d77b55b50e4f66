"""r3d and the R package R3D timed side by side on the same machine and the same bytes (issue 19).

For each reference job of ``perf_jobs.py`` (A, B-frechet, B-simple, C, D; same generator, int
unit ids) the long data (columns unit, x, y; rows grouped by unit) is written ONCE to a plain
binary file of float64 (unit, then x, then y, each ``n_rows`` values, little-endian), which
both programs read (R with ``readBin``; R has no Parquet reader here unless ``arrow`` is
installed, and a raw file needs nothing). Then, interleaved per repetition (R, r3d DataFrame
path, r3d array path, in fresh processes each):

- **R**: ``library(R3D)``; read the file; build the inputs a user must build from long data
  (``Y_list <- split(y, unit)``, ``X <- x[!duplicated(unit)]``; timed separately as *build*);
  then ``set.seed(1); fit <- r3d(X, Y_list, cutoff = 0, method = ..., p = 2, q_grid = (1:m)/(m+1),
  kernel_fun = "triangular", boot = TRUE, boot_reps = B, test = c("nullity", "homogeneity"));
  summary(fit)`` -- automatic bandwidth, the package's own bootstrap and tests;
- **r3d DataFrame path**: ``import r3d``; read the file into a DataFrame; ``R3D.from_formula("y ~ x",
  data=df, cutoff=0, unit="unit")``, ``fit(method=..., quantiles=m, n_boot=B, rng=1)``, the
  nullity and homogeneity tests and ``summary()`` (``perf_jobs.pipeline``; order 2, triangular
  kernel and automatic bandwidth are r3d's defaults);
- **r3d array path**: the same with ``R3D.from_samples(samples, x_unit)``, after building
  ``samples`` from the long columns with ``np.split`` (timed separately as *build*).

Each process times its FIRST call after loading the package (formula machinery, caches and
thread pools included: the first-call column) and then the same call again (the warmed-up
column). Before the repetitions each program is warmed up once on a small job in a process of
its own (page cache, shared libraries). Medians of ``--reps`` repetitions; the 1-minute load
average is recorded before and after every run. The DataFrame-path process also times
``numpy.sort`` of the outcome column (median of 3) for the floor ratio of job D.

Without ``Rscript`` on the PATH or without R3D in the R library (``--r-libs``, default
``$R_LIBS`` or /work/rlib) it says so and times r3d alone.

Run:   python benchmarks/side_by_side.py [--jobs A,B-frechet,B-simple,C,D] [--reps 3]
Writes benchmarks/results/side_by_side.{md,csv,json}. Runtime on 2 cores: about 15 minutes
with R (R's job D dominates), a few minutes without.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _perf_jobs():
    spec = importlib.util.spec_from_file_location("_perf_jobs", HERE / "perf_jobs.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("_perf_jobs", mod)
    spec.loader.exec_module(mod)
    return mod


PJ = _perf_jobs()
RESULTS = PJ.RESULTS
#: The small job each program is warmed up on (its own process, before the timed runs).
WARMUP = PJ.Job("warm-up", "", 200, 50, 9, 49, "frechet", 0.0)
#: Above this 1-minute load average during the runs the table is marked provisional.
LOAD_LIMIT = 1.5

R_SCRIPT = r"""
el <- function() proc.time()[["elapsed"]]
t0 <- el()
suppressPackageStartupMessages(library(R3D))
t_load <- el() - t0
a <- commandArgs(trailingOnly = TRUE)
path <- a[1]; N <- as.numeric(a[2]); method <- a[3]; m <- as.integer(a[4]); B <- as.integer(a[5])
again <- a[6] == "1"
t0 <- el()
con <- file(path, "rb"); v <- readBin(con, "double", n = 3 * N); close(con)
unit <- as.integer(v[1:N]); x <- v[(N + 1):(2 * N)]; y <- v[(2 * N + 1):(3 * N)]; rm(v)
t_read <- el() - t0
## what an R user does to get R3D's inputs from long data (rows grouped by unit, ids sorted)
t0 <- el()
Y_list <- split(y, unit)
X <- x[!duplicated(unit)]
t_build <- el() - t0
stopifnot(length(X) == length(Y_list))
run <- function() {
  set.seed(1)
  fit <- r3d(X, Y_list, cutoff = 0, method = method, p = 2, q_grid = (1:m) / (m + 1),
             kernel_fun = "triangular", boot = TRUE, boot_reps = B, test = c("nullity", "homogeneity"))
  invisible(capture.output(summary(fit)))
  fit
}
t0 <- el(); fit <- run(); t_first <- el() - t0
t_again <- NA
if (again) { t0 <- el(); fit <- run(); t_again <- el() - t0 }
cat(sprintf('{"load_s": %.6f, "read_s": %.6f, "build_s": %.6f, "first_s": %.6f, "again_s": %s, "tau_mid": %.17g}\n',
            t_load, t_read, t_build, t_first, if (is.na(t_again)) "null" else sprintf("%.6f", t_again),
            fit$tau[ceiling(length(fit$tau) / 2)]))
"""


# ---------------------------------------------------------------------------------------------
# data file
# ---------------------------------------------------------------------------------------------
def write_job_file(job, path: Path) -> dict:
    """The job's long data as float64 unit | x | y (little-endian), written once; returns its facts."""
    df = PJ.make_frame(job.n_units, job.draws, ids="int")
    block = np.concatenate([df["unit"].to_numpy(np.float64), df["x"].to_numpy(), df["y"].to_numpy()])
    block.astype("<f8", copy=False).tofile(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return {"path": str(path), "n_rows": job.n_rows, "bytes": path.stat().st_size, "sha256_16": digest}


def read_job_file(path: str, n_rows: int):
    """The long columns from the file: unit (int64), x, y."""
    v = np.fromfile(path, dtype="<f8", count=3 * n_rows)
    return v[:n_rows].astype(np.int64), v[n_rows:2 * n_rows].copy(), v[2 * n_rows:].copy()


# ---------------------------------------------------------------------------------------------
# children
# ---------------------------------------------------------------------------------------------
def child_python(job, path: str, kind: str, again: bool) -> dict:
    """One fresh process: import, read, (build), first call, (second call), (numpy.sort floor)."""
    t0 = time.perf_counter()
    import pandas as pd

    from r3d import R3D
    out = {"load_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    unit, x, y = read_job_file(path, job.n_rows)
    if kind == "frame":
        df = pd.DataFrame({"y": y, "x": x, "unit": unit})
    out["read_s"] = time.perf_counter() - t0

    if kind == "frame":
        def run():
            return PJ.pipeline(df, job)
        out["build_s"] = 0.0
    else:
        t0 = time.perf_counter()  # what a user does to get from_samples' inputs from long data
        starts = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]])
        samples = np.split(y, starts[1:])
        x_unit = x[starts]
        out["build_s"] = time.perf_counter() - t0

        def run():
            mod = R3D.from_samples(samples, x_unit, cutoff=0)
            res = mod.fit(method=job.method, quantiles=job.quantiles, n_boot=job.n_boot, rng=1)
            res.nullity_test()
            res.homogeneity_test()
            res.summary()
            return res

    t0 = time.perf_counter()
    res = run()
    out["first_s"] = time.perf_counter() - t0
    out["tau_mid"] = float(res._est.tau[res._est.tau.shape[0] // 2])
    out["again_s"] = None
    if again:
        del res
        t0 = time.perf_counter()
        res = run()
        out["again_s"] = time.perf_counter() - t0
    if kind == "frame":
        sorts = []
        for _ in range(3):
            t0 = time.perf_counter()
            np.sort(y)
            sorts.append(time.perf_counter() - t0)
        out["sort_s"] = float(np.median(sorts))
    return out


def _load() -> float:
    return os.getloadavg()[0]


def _timed_child(cmd: list[str], env: dict | None) -> dict:
    l0 = _load()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    l1 = _load()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["load_before"], out["load_after"] = l0, l1
    return out


def run_python(job, path: str, kind: str, again: bool = True) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--job", json.dumps(asdict(job)),
           "--file", path, *([] if again else ["--once"])]
    return _timed_child(cmd, None)


def run_r(r: dict, job, path: str, again: bool = True) -> dict:
    cmd = [r["rscript"], r["script"], path, str(job.n_rows), job.method, str(job.quantiles), str(job.n_boot),
           "1" if again else "0"]
    return _timed_child(cmd, {**os.environ, "R_LIBS": r["libs"]})


# ---------------------------------------------------------------------------------------------
# environment
# ---------------------------------------------------------------------------------------------
def detect_r(libs: str, workdir: Path) -> dict | None:
    """Rscript and R3D, or None with the reason printed."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("R is not available (no Rscript on the PATH): timing r3d alone.")
        return None
    code = ('suppressPackageStartupMessages(library(R3D)); '
            'cat(R.version.string, as.character(packageVersion("R3D")), sep = "\\n")')
    proc = subprocess.run([rscript, "-e", code], capture_output=True, text=True, check=False,
                          env={**os.environ, "R_LIBS": libs})
    if proc.returncode != 0:
        print(f"The R package R3D does not load with R_LIBS={libs}: timing r3d alone.\n{proc.stderr[-500:]}")
        return None
    r_version, r3d_version = proc.stdout.strip().splitlines()[-2:]
    script = workdir / "side_by_side_r3d.R"
    script.write_text(R_SCRIPT)
    return {"rscript": rscript, "libs": libs, "script": str(script), "R": r_version, "R3D": r3d_version}


def machine(r: dict | None) -> dict:
    info = PJ.machine()
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        info["git"] = commit + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        info["git"] = "unknown"
    info["R"] = r["R"] if r else None
    # Python compiles every module at import when it may not write bytecode caches (as pip-installed
    # packages have them): that time lands in import and in the first call's lazy imports
    info["bytecode_caches"] = not os.environ.get("PYTHONDONTWRITEBYTECODE")
    info["R3D"] = r["R3D"] if r else None
    info["load_start"] = list(os.getloadavg())
    return info


# ---------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------
def _med(runs: list[dict], key: str) -> float | None:
    vals = [r[key] for r in runs if r.get(key) is not None]
    return float(np.median(vals)) if vals else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def run(jobs: list[str], reps: int, r: dict | None, workdir: Path) -> tuple[list[dict], list[dict]]:
    programs = (["R"] if r else []) + ["frame", "samples"]
    warm_path = workdir / "warm-up.bin"
    write_job_file(WARMUP, warm_path)
    for prog in programs:  # each program once on a small job in its own process
        (run_r(r, WARMUP, str(warm_path), again=False) if prog == "R"
         else run_python(WARMUP, str(warm_path), prog, again=False))
    rows, raw = [], []
    for name in jobs:
        job = PJ.JOBS[name]
        path = workdir / f"{name}.bin"
        facts = write_job_file(job, path)
        runs: dict[str, list[dict]] = {p: [] for p in programs}
        for rep in range(reps):
            for prog in programs:  # interleaved: R, DataFrame path, array path, R, ...
                out = (run_r(r, job, str(path)) if prog == "R" else run_python(job, str(path), prog))
                runs[prog].append(out)
                raw.append({"job": name, "program": prog, "rep": rep, **out})
                print(f"  {name:10s} {prog:7s} rep {rep}: first {out['first_s']:.3f} s, again {out['again_s']:.3f} s, "
                      f"build {out['build_s']:.3f} s, load {out['load_before']:.2f}->{out['load_after']:.2f}",
                      flush=True)
        path.unlink()
        loads = [v for p in programs for o in runs[p] for v in (o["load_before"], o["load_after"])]
        row = {"job": name, "n_units": job.n_units, "draws": job.draws, "quantiles": job.quantiles,
               "n_boot": job.n_boot, "method": job.method, "reps": reps, "file_bytes": facts["bytes"],
               "file_sha256_16": facts["sha256_16"], "load_max": max(loads), "load_mean": float(np.mean(loads))}
        for prog, tag in (("R", "R"), ("frame", "df"), ("samples", "arr")):
            if prog not in runs:
                continue
            for key in ("load_s", "read_s", "build_s", "first_s", "again_s"):
                row[f"{tag}_{key}"] = _med(runs[prog], key)
            row[f"{tag}_tau_mid"] = runs[prog][0]["tau_mid"]
        row["sort_s"] = _med(runs["frame"], "sort_s")
        row["df_first_over_sort"] = _ratio(row["df_first_s"], row["sort_s"])
        row["df_again_over_sort"] = _ratio(row["df_again_s"], row["sort_s"])
        row["arr_first_over_df_first"] = _ratio(row["arr_first_s"], row["df_first_s"])
        row["arr_again_over_df_again"] = _ratio(row["arr_again_s"], row["df_again_s"])
        if r:
            for tag in ("df", "arr"):
                row[f"ratio_{tag}_first"] = _ratio(row["R_first_s"], row[f"{tag}_first_s"])
                row[f"ratio_{tag}_again"] = _ratio(row["R_again_s"], row[f"{tag}_again_s"])
                row[f"ratio_{tag}_first_with_build"] = _ratio(row["R_build_s"] + row["R_first_s"],
                                                              row[f"{tag}_build_s"] + row[f"{tag}_first_s"])
        rows.append(row)
        print(f"{name:10s} " + (f"R/r3d first-call ratio: DataFrame {row['ratio_df_first']:.1f}x, arrays "
                                f"{row['ratio_arr_first']:.1f}x; " if r else "")
              + f"load max {row['load_max']:.2f}", flush=True)
    return rows, raw


def _f(v: float | None, fmt: str = ".3f") -> str:
    return "-" if v is None else format(v, fmt)


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}x"


#: The line after the ratio tables: docs/performance.md includes side_by_side.md up to it.
END_OF_RATIOS = "<!-- end of ratios: the seconds below are for the record, claims quote ratios -->"


def markdown(rows: list[dict], info: dict) -> str:
    with_r = info["R"] is not None
    load_max = max(r["load_max"] for r in rows)
    lines = [
        (f"Measured {info['date']} on {info['cores']} cores ({info['cpu']}) by `benchmarks/side_by_side.py`: "
         f"Python {info['python']}, numpy {info['numpy']}, pandas {info['pandas']}, r3d {info['r3d']} "
         f"(git {info['git']})" + (f"; {info['R']}, R3D {info['R3D']}." if with_r else
                                   "; **R3D (R) not timed (R or R3D not available, or `--no-r`): r3d alone.**")),
        "",
        (f"Median of {rows[0]['reps']} repetitions, programs interleaved, each run in a fresh process reading the "
         "same binary file. *First* is the first call after loading the package (r3d: `from_formula` or "
         "`from_samples`, `fit`, the nullity and homogeneity tests and `summary`; R: `r3d(..., boot = TRUE, "
         "test = c(\"nullity\", \"homogeneity\"))` and `summary`); *again* is the same call repeated in that "
         "process. *Build* is turning the long columns into the inputs the call takes (R: `split`; r3d arrays: "
         "`np.split`; the DataFrame path needs none). *R / r3d* is R's time divided by r3d's. *Load* is the "
         "machine's 1-minute load average, read before and after every run (the runs themselves add up to 1). "
         + ("Python's bytecode caches were in use (as after `pip install`)." if info.get("bytecode_caches", True)
            else "Python ran without bytecode caches (PYTHONDONTWRITEBYTECODE set): every module was compiled at "
                 "import, which adds to the import and first-call times.")),
        "",
    ]
    if load_max > LOAD_LIMIT:
        lines += [(f"**Provisional:** the 1-minute load average reached {load_max:.2f} during the runs (above "
                   f"{LOAD_LIMIT} on 2 cores shared with other work), so every time is inflated by an unknown "
                   "amount and the ratios are indicative only."), ""]
    if with_r:
        lines += [
            "| job | units x draws | q | B | method | R / r3d DataFrame, first call | again | R / r3d arrays, "
            "first call | again | R / r3d arrays, build + first call | arrays / DataFrame, first call | again "
            "| DataFrame / `numpy.sort(y)`, first call | again | load (max) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
    else:
        lines += [
            "| job | units x draws | q | B | method | arrays / DataFrame, first call | again "
            "| DataFrame / `numpy.sort(y)`, first call | again | load (max) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
    for r in rows:
        cells = [r["job"], f"{r['n_units']:,} x {r['draws']:,}", str(r["quantiles"]), f"{r['n_boot']:,}", r["method"]]
        if with_r:
            cells += [f"**{_x(r['ratio_df_first'])}**", _x(r["ratio_df_again"]), f"**{_x(r['ratio_arr_first'])}**",
                      _x(r["ratio_arr_again"]), _x(r["ratio_arr_first_with_build"])]
        cells += [_f(r["arr_first_over_df_first"], ".2f"), _f(r["arr_again_over_df_again"], ".2f"),
                  _x(r["df_first_over_sort"]), _x(r["df_again_over_sort"]), f"{r['load_max']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", END_OF_RATIOS, "", "Median seconds:", ""]
    cols = ([("R3D load", "R_load_s"), ("R build", "R_build_s"), ("R first", "R_first_s"), ("R again", "R_again_s")]
            if with_r else [])
    cols += [("r3d import", "df_load_s"), ("DataFrame first", "df_first_s"), ("DataFrame again", "df_again_s"),
             ("arrays build", "arr_build_s"), ("arrays first", "arr_first_s"), ("arrays again", "arr_again_s"),
             ("numpy.sort(y)", "sort_s")]
    lines += ["| job | " + " | ".join(c for c, _ in cols) + " |", "|---|" + "---|" * len(cols)]
    for r in rows:
        lines.append(f"| {r['job']} | " + " | ".join(_f(r[k]) for _, k in cols) + " |")
    lines += ["", ("Each program's estimate at the middle quantile is in the JSON (`*_tau_mid`) as a check that "
                   "both fitted the same model: they differ in the 3rd or 4th digit, through the documented "
                   "differences of the bandwidth selectors (docs/coming_from_r.md).")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", default=",".join(PJ.JOBS))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--r-libs", default=os.environ.get("R_LIBS") or "/work/rlib",
                    help="R library holding R3D (default $R_LIBS, else /work/rlib)")
    ap.add_argument("--no-r", action="store_true", help="time r3d alone even when R is present")
    ap.add_argument("--out", default=str(RESULTS / "side_by_side"))
    ap.add_argument("--child", choices=("frame", "samples"), help=argparse.SUPPRESS)
    ap.add_argument("--job", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--once", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--markdown-only", action="store_true",
                    help="rewrite OUT.md from OUT.json without running anything")
    a = ap.parse_args(argv)
    out = Path(a.out)
    if a.markdown_only:
        rec = json.loads(out.with_suffix(".json").read_text())
        out.with_suffix(".md").write_text(markdown(rec["rows"], rec["machine"]))
        return
    if a.child:
        print(json.dumps(child_python(PJ.Job(**json.loads(a.job)), a.file, a.child, again=not a.once)))
        return
    with tempfile.TemporaryDirectory(prefix="r3d_side_by_side_") as tmp:
        workdir = Path(tmp)
        r = None if a.no_r else detect_r(a.r_libs, workdir)
        info = machine(r)
        rows, raw = run(a.jobs.split(","), a.reps, r, workdir)
    info["load_end"] = list(os.getloadavg())
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out.with_suffix(".json").write_text(json.dumps({"machine": info, "rows": rows, "runs": raw}, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(rows, info))
    print(f"wrote {out}.{{csv,json,md}}")


if __name__ == "__main__":
    main()
