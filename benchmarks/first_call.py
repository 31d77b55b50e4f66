"""CPU seconds of r3d's first and repeated call per stage, for one or more checkouts (issue 19).

For each reference job of ``perf_jobs.py`` the long data are written once to the binary file
``side_by_side.py`` uses (float64 unit | x | y). Then, for each repetition and each checkout
given with ``--trees`` (interleaved: tree 1, tree 2, ..., then the next repetition), a fresh
process imports r3d from that checkout, reads the file and runs the DataFrame path
(``perf_jobs.pipeline``: ``from_formula``, ``fit``, both tests, ``summary``) twice and the
``from_samples`` path twice. It reports process CPU time (``time.process_time``), which a
machine shared with other jobs disturbs much less than wall time, per stage of the first
DataFrame call (the stages of ``profile_job_d.py``) and in total: the import, the first
call and the repeat of each path. Each figure is the minimum over the repetitions (the least
disturbed run). The 1-minute load average before and after each process is printed: on a
loaded machine compare checkouts measured in the same run only.

Run:   python benchmarks/first_call.py --trees /path/to/old,/path/to/new [--jobs A,C,D] [--reps 3]
Prints a Markdown table; writes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, sys, time
c0 = time.process_time()
import numpy as np, pandas as pd
import r3d
from r3d import R3D
t_import = time.process_time() - c0
sys.path.insert(0, sys.argv[1])
import perf_jobs as PJ
from profile_job_d import STAGES, _wrap
job = PJ.Job(**json.loads(sys.argv[2]))
v = np.fromfile(sys.argv[3], dtype="<f8", count=3 * job.n_rows)
unit, x, y = v[:job.n_rows].astype(np.int64), v[job.n_rows:2 * job.n_rows].copy(), v[2 * job.n_rows:].copy()
del v
df = pd.DataFrame({"y": y, "x": x, "unit": unit})
starts = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]])
samples = np.split(y, starts[1:])
x_unit = x[starts]
acc, cpu = {}, {}
_wrap(acc, cpu)
def arrays():
    res = R3D.from_samples(samples, x_unit, cutoff=0).fit(method=job.method, quantiles=job.quantiles,
                                                         n_boot=job.n_boot, rng=1)
    res.nullity_test(); res.homogeneity_test(); res.summary()
out = {"import": t_import}
for key, run in (("frame", lambda: PJ.pipeline(df, job)), ("arrays", arrays)):
    for rep in ("first", "again"):
        cpu.clear()
        c = time.process_time()
        run()
        out[f"{key} {rep}"] = time.process_time() - c
        if key == "frame" and rep == "first":
            out["stages"] = dict(cpu)
print(json.dumps(out))
"""


def main(argv: list[str] | None = None) -> None:
    sys.path.insert(0, str(HERE))
    import side_by_side as S

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trees", required=True, help="comma-separated checkouts (each holding r3d/, built)")
    ap.add_argument("--jobs", default="A,B-frechet,B-simple,C,D")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--data", default="/tmp/r3d_first_call", help="folder for the job files")
    a = ap.parse_args(argv)
    trees = a.trees.split(",")
    Path(a.data).mkdir(parents=True, exist_ok=True)
    from dataclasses import asdict

    for name in a.jobs.split(","):
        job = S.PJ.JOBS[name]
        path = Path(a.data) / f"job_{name}.bin"
        if not path.exists():
            S.write_job_file(job, path)
        runs: dict[str, list[dict]] = {t: [] for t in trees}
        loads = []
        for _ in range(a.reps):
            for tree in trees:
                l0 = os.getloadavg()[0]
                proc = subprocess.run([sys.executable, "-c", CHILD, str(HERE), json.dumps(asdict(job)), str(path)],
                                      capture_output=True, text=True, check=False, cwd="/tmp",
                                      env={**os.environ, "PYTHONPATH": tree})
                loads += [l0, os.getloadavg()[0]]
                if proc.returncode:
                    raise RuntimeError(proc.stderr[-3000:])
                runs[tree].append(json.loads(proc.stdout.strip().splitlines()[-1]))
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
        print(f"\nJob {name}: CPU seconds, minimum of {a.reps} fresh processes per checkout "
              f"(1-minute load {min(loads):.1f}-{max(loads):.1f}; {when} UTC)\n")
        print("| | " + " | ".join(trees) + " |")
        print("|---|" + "---|" * len(trees))
        stage_names = [lab for _, _, lab in __import__("profile_job_d").STAGES]
        rows = [("import r3d", lambda r: r["import"])]
        rows += [(f"DataFrame first call: {lab}", lambda r, lab=lab: r["stages"].get(lab, 0.0)) for lab in stage_names]
        rows += [(k, lambda r, k=k: r[k]) for k in ("frame first", "frame again", "arrays first", "arrays again")]
        for label, get in rows:
            print(f"| {label} | " + " | ".join(f"{min(get(r) for r in runs[t]):.3f}" for t in trees) + " |")


if __name__ == "__main__":
    main()
