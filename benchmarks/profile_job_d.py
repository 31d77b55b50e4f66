"""Where the time of job D goes (100,000 units x 100 draws, q = 99, B = 200, Fréchet).

Two views of the same end-to-end chain as ``perf_jobs.py`` (``from_formula`` -> ``fit`` ->
tests -> ``summary``), after one warm-up run:

1. stages: wall and CPU seconds of each step of the pipeline (the functions ``fit`` and
   ``from_formula`` call, wrapped with timers), median of ``--reps`` runs, with the default
   ``n_jobs`` and with ``n_jobs=1``;
2. functions: a cProfile of one run on the process CPU clock (all threads), the functions
   with the most own time.

Run:   python benchmarks/profile_job_d.py [--reps 3]
Writes benchmarks/results/perf_profile_d.{md,json}. Runtime: about a minute.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_jobs import JOBS, RESULTS, machine, make_frame, pipeline

#: (module, function, stage label) wrapped with timers, in pipeline order: the names the
#: pipeline calls (``fit`` calls the private cores, so those are wrapped where they are looked up).
STAGES = [
    ("r3d.model", "parse_formula", "formula -> columns"),
    ("r3d.model", "prepare_long", "ids, checks, missing values"),
    ("r3d.model", "_unit_quantiles", "unit quantiles (sort per unit)"),
    ("r3d.model", "choose_bandwidths", "bandwidth selection"),
    ("r3d.model", "_estimate", "estimate (fits, projection, influence)"),
    ("r3d.bootstrap", "_variance_and_se", "HC0 variance"),
    ("r3d.bootstrap", "_draws", "bootstrap draws"),
    ("r3d.bootstrap", "_band", "uniform band"),
    ("r3d.results", "R3DResults.nullity_test", "nullity test"),
    ("r3d.results", "R3DResults.homogeneity_test", "homogeneity test"),
    ("r3d.results", "R3DResults.summary", "summary"),
]


def _wrap(acc: dict, cpu: dict):
    import importlib

    for mod_name, attr, label in STAGES:
        mod = importlib.import_module(mod_name)
        owner, name = (mod, attr) if "." not in attr else (getattr(mod, attr.split(".")[0]), attr.split(".")[1])
        func = getattr(owner, name)

        def timed(*a, _f=func, _label=label, **k):
            t, c = time.perf_counter(), time.process_time()
            try:
                return _f(*a, **k)
            finally:
                acc[_label] = acc.get(_label, 0.0) + time.perf_counter() - t
                cpu[_label] = cpu.get(_label, 0.0) + time.process_time() - c

        setattr(owner, name, timed)


def stages(df, job, reps: int) -> dict:
    acc: dict = {}
    cpu: dict = {}
    _wrap(acc, cpu)
    out = {}
    for tag, n_jobs in (("all cores", None), ("n_jobs=1", 1)):
        pipeline(df, job, n_jobs=n_jobs)  # warm-up
        runs, cpus, totals, loads = [], [], [], []
        for _ in range(reps):
            acc.clear()
            cpu.clear()
            l0 = os.getloadavg()[0]
            t = time.perf_counter()
            pipeline(df, job, n_jobs=n_jobs)
            totals.append(time.perf_counter() - t)
            loads.append((l0 + os.getloadavg()[0]) / 2)
            runs.append(dict(acc))
            cpus.append(dict(cpu))
        out[tag] = {
            "total": float(np.median(totals)), "load": float(np.mean(loads)),
            "wall": {lab: float(np.median([r.get(lab, 0.0) for r in runs])) for _, _, lab in STAGES},
            "cpu": {lab: float(np.median([r.get(lab, 0.0) for r in cpus])) for _, _, lab in STAGES},
        }
    return out


def profile(df, job, top: int = 25) -> list[dict]:
    pipeline(df, job)  # warm-up
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    pipeline(df, job)
    prof.disable()
    st = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _) in st.stats.items():
        short = file.split("site-packages/")[-1].split(str(Path(__file__).resolve().parent.parent) + "/")[-1]
        rows.append({"function": f"{short}:{line}({func})", "calls": nc, "own_s": tt, "cumulative_s": ct})
    rows.sort(key=lambda r: r["own_s"], reverse=True)
    return rows[:top]


def markdown(st: dict, prof: list[dict], info: dict, reps: int) -> str:
    lines = [(f"Job D (100,000 units x 100 draws = 1e7 rows, q = 99, B = 200, Fréchet), measured {info['date']} on "
             f"{info['cores']} cores ({info['cpu']}); median of {reps} runs after a warm-up. Load average "
             f"{st['all cores']['load']:.1f} (all cores) and {st['n_jobs=1']['load']:.1f} (n_jobs=1) during the runs."),
             "", "| stage | wall s (all cores) | CPU s (all cores) | wall s (n_jobs=1) |", "|---|---|---|---|"]
    for _, _, lab in STAGES:
        lines.append(f"| {lab} | {st['all cores']['wall'][lab]:.3f} | {st['all cores']['cpu'][lab]:.3f} "
                     f"| {st['n_jobs=1']['wall'][lab]:.3f} |")
    lines.append(f"| **end to end** | **{st['all cores']['total']:.3f}** | | **{st['n_jobs=1']['total']:.3f}** |")
    lines += ["", ("Functions with the most own CPU time (cProfile of one run, process CPU clock, all threads; "
              "compiled kernels count as the Python function that calls them):"), "",
              "| function | calls | own CPU s | cumulative CPU s |", "|---|---|---|---|"]
    for r in prof:
        lines.append(f"| `{r['function']}` | {r['calls']} | {r['own_s']:.3f} | {r['cumulative_s']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default=str(RESULTS / "perf_profile_d"))
    a = ap.parse_args(argv)
    job = JOBS["D"]
    df = make_frame(job.n_units, job.draws)
    info = machine()
    prof = profile(df, job)
    st = stages(df, job, a.reps)
    out = Path(a.out)
    out.with_suffix(".json").write_text(json.dumps({"machine": info, "stages": st, "profile": prof}, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(st, prof, info, a.reps))
    print(markdown(st, prof, info, a.reps))


if __name__ == "__main__":
    main()
