"""Does each thread mechanism pay for itself? On/off timings of the reference jobs (issue 12).

Every thread mechanism of r3d (the work threshold of each parallel loop, drawing the
bootstrap multipliers ahead on a second thread, the bootstrap's block and memory sizes, the
BLAS limit around a fit, and ``n_jobs`` itself) is switched by monkeypatching the module
attribute that controls it, without editing code. Each reference job of
``benchmarks/perf_jobs.py`` is then timed end to end (``pipeline``: ``from_formula``,
``fit``, both tests, ``summary``) in these variants:

``on``      the code as shipped;
``off``     the mechanism switched off (a loop's threshold raised out of reach, so it runs
            on one thread; no drawing thread; ``n_jobs=1``; no BLAS limit; ...);
``always``  for work thresholds only: the threshold at zero, so the loop uses every thread
            whatever its size.

The variants of one mechanism run *interleaved*: one repetition runs each variant once
(on, off, always; the next repetition in rotated order), after one warm-up run of every
variant; the median of ``--reps`` repetitions is reported (``--reps-long`` for job D). Each
job runs in a fresh child process. The machine is shared, so before each repetition the
script waits (at most ``--timeout`` seconds) until other processes use at most ``--busy``
cores (``/proc/stat`` busy time minus this process's own CPU time) and the 1-minute load
average less this process's own share (its CPU use over the last minute) is at most
``--max-load``; a repetition during which other processes used more
than ``--busy`` cores is run again (up to three times as many repetitions in all, then
the quietest are kept). The load average and other processes' CPU use during the kept
repetitions are written next to every number.

Gains are computed per repetition (its runs are back to back) and the median over the
repetitions is reported, in percent:

``gain``         ``(off - on) / off``: the share of the job's time the mechanism as shipped
                 saves (negative: it costs time);
``gain always``  ``(off - always) / off``: what the loop's threads would save at any size;
``threshold``    ``(always - on) / always``: what the threshold saves over always using
                 every thread.

The paired median is used rather than the ratio of two medians because on a virtual
machine that reports free memory back to its host (free page reporting) a run of job D now
and then takes 20-40 % longer, whatever the variant, in kernel time spent faulting in its
large arrays again (same fault counts, each slower); the ratio of two medians then depends
on how many slow runs each variant drew. Pairing helps but does not suffice there: job D
needs about 40 repetitions in that setting (``--reps-long 40``). The medians of each
variant are reported too.
``--memory kept`` removes that noise at its source: the children run with glibc told never
to give memory back (``MALLOC_MMAP_MAX_=0``, a huge ``MALLOC_TRIM_THRESHOLD_``), so after
the warm-up no run faults its arrays in again. ``--memory default,kept`` measures both.

The warm-up runs of all variants are compared bit for bit (every ``tau``, influence,
variance, bootstrap draw, band and bandwidth): the *same bits* column.

A mechanism whose module attribute does not exist (it was removed) is skipped; so is the
BLAS row when threadpoolctl is not installed.

Run:   python benchmarks/threads.py [--jobs A,B-frechet,...] [--mechanisms ...] [--reps 15]
       python benchmarks/threads.py --markdown-from RESULTS.json   # rewrite a table only
Writes benchmarks/results/threads.{csv,json,md} (``--out`` elsewhere). Runtime on 2 quiet cores: about
an hour with the defaults (job D takes most of it), longer while other processes keep the
machine busy.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
#: Stands in for "never reached" when a threshold is switched off.
NEVER = 1 << 62
#: Memory settings of the child processes (see the module docstring). ``default``: glibc as
#: shipped. ``kept``: glibc never returns memory to the system (no mmap for large blocks, no
#: trimming), so a run reuses the pages the previous one faulted in.
MEMORY = {
    "default": {},
    "kept": {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 40)},
}


def _perf_jobs():
    spec = importlib.util.spec_from_file_location("_perf_jobs", HERE / "perf_jobs.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["_perf_jobs"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------------------------------------
# the mechanisms
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Patch:
    """Set ``module.attr = value`` for the duration of a variant."""

    module: str
    attr: str
    value: object


@dataclass(frozen=True, slots=True)
class Mechanism:
    """One thread mechanism and the patches that switch it.

    ``off``, ``always`` and ``on`` are the patches of those variants (``always`` is None when
    the mechanism has no work threshold; ``on`` is usually the code as shipped, no patch);
    ``off_n_jobs`` is the ``n_jobs`` of the off variant (None: all cores, as the others).
    ``aggregate`` marks a row that switches several mechanisms at once (no verdict of its own).
    """

    name: str
    where: str
    what: str
    off: tuple[Patch, ...]
    always: tuple[Patch, ...] | None = None
    on: tuple[Patch, ...] = ()
    off_n_jobs: int | None = None
    needs: tuple[str, ...] = field(default=())
    aggregate: bool = False

    def present(self) -> bool:
        """Whether every attribute the mechanism patches exists (and what it needs imports)."""
        for mod in self.needs:
            if importlib.util.find_spec(mod) is None:
                return False
        for p in self.on + self.off + (self.always or ()):
            if p.module.startswith("<"):
                continue
            if not hasattr(importlib.import_module(p.module), p.attr):
                return False
        return True


def _threshold(name: str, where: str, what: str, module: str, attr: str, *extra: Patch) -> Mechanism:
    return Mechanism(name, where, what, off=(Patch(module, attr, NEVER), *extra),
                     always=(Patch(module, attr, 0), *extra))


MECHANISMS = {
    m.name: m
    for m in (
        _threshold("quantile sorts", "_quantiles.PARALLEL_MIN_DRAWS",
                   "units sorted in parallel from 1M draws", "r3d._ext._quantiles", "PARALLEL_MIN_DRAWS"),
        Mechanism("locpoly gate", "locpoly._PARALLEL_MIN_WORK",
                  "Python gate in front of fit_common (200,000 unit x column products)",
                  off=(Patch("r3d.locpoly", "_PARALLEL_MIN_WORK", NEVER),),
                  always=(Patch("r3d.locpoly", "_PARALLEL_MIN_WORK", 0),)),
        Mechanism("common fits", "_locpoly.COMMON_PARALLEL_MIN_WORK",
                  "common-bandwidth products in parallel from 33M entries",
                  off=(Patch("r3d._ext._locpoly", "COMMON_PARALLEL_MIN_WORK", NEVER),),
                  always=(Patch("r3d._ext._locpoly", "COMMON_PARALLEL_MIN_WORK", 0),
                          Patch("r3d.locpoly", "_PARALLEL_MIN_WORK", 0))),
        _threshold("per-column fits", "_locpoly.PER_COLUMN_PARALLEL_MIN_WORK",
                   "bandwidth groups (one QR each) in parallel from 2M entries", "r3d._ext._locpoly",
                   "PER_COLUMN_PARALLEL_MIN_WORK"),
        _threshold("isotonic rows", "_isotonic.PARALLEL_MIN_WORK",
                   "projection and residual rows in parallel from 262,144 entries", "r3d._ext._isotonic",
                   "PARALLEL_MIN_WORK"),
        _threshold("bootstrap product", "_bootstrap.PARALLEL_MIN_WORK",
                   "draw blocks of the hand-written product in parallel from 134M multiply-adds",
                   "r3d._ext._bootstrap", "PARALLEL_MIN_WORK"),
        _threshold("drawing thread", "bootstrap.PIPELINE_MIN_MULTIPLIERS",
                   "next chunk's multipliers drawn on a second thread from 4M multipliers", "r3d.bootstrap",
                   "PIPELINE_MIN_MULTIPLIERS"),
        Mechanism("product alone", "_bootstrap.PARALLEL_MIN_WORK",
                  "the product's threads when no drawing thread takes one (drawing thread off in all variants)",
                  on=(Patch("r3d.bootstrap", "PIPELINE_MIN_MULTIPLIERS", NEVER),),
                  off=(Patch("r3d.bootstrap", "PIPELINE_MIN_MULTIPLIERS", NEVER),
                       Patch("r3d._ext._bootstrap", "PARALLEL_MIN_WORK", NEVER)),
                  always=(Patch("r3d.bootstrap", "PIPELINE_MIN_MULTIPLIERS", NEVER),
                          Patch("r3d._ext._bootstrap", "PARALLEL_MIN_WORK", 0))),
        Mechanism("bootstrap threads", "drawing thread + product",
                  "both of the bootstrap's thread mechanisms (off: the bootstrap on one thread)",
                  off=(Patch("r3d.bootstrap", "PIPELINE_MIN_MULTIPLIERS", NEVER),
                       Patch("r3d._ext._bootstrap", "PARALLEL_MIN_WORK", NEVER)), aggregate=True),
        Mechanism("draw block", "bootstrap.GEMM_ROWS",
                  "chunks of draws rounded to blocks of 64 (off: blocks of 1)",
                  off=(Patch("r3d.bootstrap", "GEMM_ROWS", 1),)),
        Mechanism("chunk memory cap", "bootstrap.MAX_CHUNK_BYTES",
                  "multipliers held at once capped at 64 MB (off: no cap)",
                  off=(Patch("r3d.bootstrap", "MAX_CHUNK_BYTES", NEVER),)),
        Mechanism("BLAS limit", "model._single_threaded_blas",
                  "BLAS on one thread during fit() (threadpoolctl; off: BLAS free)",
                  on=(Patch("<blas>", "", "on"),), off=(Patch("<blas>", "", "off"),), needs=("threadpoolctl",)),
        Mechanism("n_jobs", "fit(n_jobs=None) vs fit(n_jobs=1)",
                  "every thread of a fit (off: n_jobs=1)", off=(), off_n_jobs=1, aggregate=True),
    )
}


@contextlib.contextmanager
def _blas(state: str):
    """BLAS limit on (as a fit does) or off, whether or not ``r3d.model`` still sets it."""
    import r3d.model as model

    if hasattr(model, "_single_threaded_blas"):
        if state == "on":  # the code as shipped
            yield
            return
        saved = model._single_threaded_blas
        model._single_threaded_blas = contextlib.nullcontext
        try:
            yield
        finally:
            model._single_threaded_blas = saved
        return
    if state == "off":  # nothing limits BLAS any more
        yield
        return
    from threadpoolctl import threadpool_limits

    fit = model.R3D.fit

    def limited(self, *args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return fit(self, *args, **kwargs)

    model.R3D.fit = limited
    try:
        yield
    finally:
        model.R3D.fit = fit


@contextlib.contextmanager
def _patched(patches: tuple[Patch, ...]):
    saved = []
    with contextlib.ExitStack() as stack:
        try:
            for p in patches:
                if p.module == "<blas>":
                    stack.enter_context(_blas(str(p.value)))
                    continue
                mod = importlib.import_module(p.module)
                saved.append((mod, p.attr, getattr(mod, p.attr)))
                setattr(mod, p.attr, p.value)
            yield
        finally:
            for mod, attr, value in reversed(saved):
                setattr(mod, attr, value)


def _variants(mech: Mechanism) -> dict[str, tuple[tuple[Patch, ...], int | None]]:
    """Variant label -> (patches, n_jobs)."""
    out = {"on": (mech.on, None), "off": (mech.off, mech.off_n_jobs)}
    if mech.always is not None:
        out["always"] = (mech.always, None)
    return out


# ---------------------------------------------------------------------------------------------
# quietness of the machine
# ---------------------------------------------------------------------------------------------
_HZ = os.sysconf("SC_CLK_TCK")


def _load() -> float:
    return os.getloadavg()[0]


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all CPUs, /proc/stat; steal excluded)."""
    with open("/proc/stat") as fh:
        f = [int(v) for v in fh.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = f[:7]
    return (user + nice + system + irq + softirq) / _HZ


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system


class Quietness:
    """Load average before/after and other processes' CPU use (cores) over a stretch of time."""

    def __enter__(self):
        self.load_before = _load()
        self._t = time.perf_counter()
        self._busy = _machine_busy_seconds()
        self._own = _own_seconds()
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self._t
        others = (_machine_busy_seconds() - self._busy) - (_own_seconds() - self._own)
        self.others = max(0.0, others / wall) if wall > 0 else 0.0
        self.load_after = _load()
        return False


_OWN_HISTORY: list[tuple[float, float]] = []


def _own_recent_cores(window: float = 60.0) -> float:
    """This process's CPU use (cores) over about the last ``window`` seconds: its share of the
    1-minute load average."""
    now, own = time.perf_counter(), _own_seconds()
    _OWN_HISTORY.append((now, own))
    while len(_OWN_HISTORY) > 2 and now - _OWN_HISTORY[1][0] >= window:
        _OWN_HISTORY.pop(0)
    t0, o0 = _OWN_HISTORY[0]
    return (own - o0) / (now - t0) if now - t0 > 1.0 else 0.0


def others_load() -> float:
    """The 1-minute load average less this process's own recent CPU use."""
    return max(0.0, _load() - _own_recent_cores())


def wait_for_quiet(busy: float, max_load: float, timeout: float, sample: float = 0.3) -> float:
    """Sleep until other processes use at most ``busy`` cores (over ``sample`` seconds) and the
    1-minute load average less this process's own share is at most ``max_load``, or
    ``timeout`` seconds have passed; returns the seconds waited."""
    t0 = time.perf_counter()
    while True:
        with Quietness() as q:
            time.sleep(sample)
        if (q.others <= busy and others_load() <= max_load) or time.perf_counter() - t0 > timeout:
            return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# the child: one job, every mechanism
# ---------------------------------------------------------------------------------------------
def _numbers(res) -> list[np.ndarray]:
    inf = res._inf
    return [res._est.tau, res._est.influence, inf.variance, inf.draws,
            np.r_[inf.band.lower, inf.band.upper], np.atleast_1d(res.bandwidth)]


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def child(job_name: str, mechanisms: list[str], reps: int, busy: float, max_load: float,
          timeout: float) -> dict:
    """Time every variant of every mechanism on one job (see the module docstring).

    A repetition runs each variant once, in rotated order, after waiting for a quiet
    machine; one during which other processes used more than ``busy`` cores is run again,
    up to ``3 * reps`` repetitions in all (then the quietest ones are kept).
    """
    pj = _perf_jobs()
    job = pj.JOBS[job_name]
    df = pj.make_frame(job.n_units, job.draws)
    ref = _numbers(pj.pipeline(df, job))  # warm-up: imports, thread pools, page cache
    out = {"job": job_name, "mechanisms": {}}
    for name in mechanisms:
        mech = MECHANISMS[name]
        if not mech.present():
            out["mechanisms"][name] = {"skipped": True}
            continue
        variants = _variants(mech)
        labels = list(variants)
        identical = True
        for patches, n_jobs in variants.values():  # warm-up of each variant, bits compared
            with _patched(patches):
                identical &= _same(ref, _numbers(pj.pipeline(df, job, n_jobs=n_jobs)))
        done, waited = [], 0.0
        while sum(r["others"] <= busy for r in done) < reps and len(done) < 3 * reps:
            waited += wait_for_quiet(busy, max_load, timeout)
            k = len(done) % len(labels)
            times = {}
            with Quietness() as q:
                for label in labels[k:] + labels[:k]:
                    patches, n_jobs = variants[label]
                    with _patched(patches):
                        gc.collect()
                        t0 = time.perf_counter()
                        pj.pipeline(df, job, n_jobs=n_jobs)
                        times[label] = time.perf_counter() - t0
            done.append({"times": times, "others": q.others, "load_before": q.load_before,
                         "load_after": q.load_after, "others_load": others_load()})
        kept = sorted(done, key=lambda r: r["others"])[:reps]
        out["mechanisms"][name] = {
            "times": {label: [r["times"][label] for r in kept] for label in labels},
            "others": [r["others"] for r in kept], "loads": [r["load_before"] for r in kept]
            + [r["load_after"] for r in kept], "others_load": [r["others_load"] for r in kept],
            "repetitions": len(done), "waited_s": waited,
            "identical": bool(identical),
        }
    return out


# ---------------------------------------------------------------------------------------------
# driver and tables
# ---------------------------------------------------------------------------------------------
def _gain(times: dict[str, list[float]], slow: str, fast: str) -> float:
    """Median over repetitions of ``100 (slow - fast) / slow`` (runs of one repetition are paired)."""
    return float(np.median([100.0 * (s - f) / s for s, f in zip(times[slow], times[fast], strict=True)]))


def rows_of(result: dict) -> list[dict]:
    rows = []
    for name, r in result["mechanisms"].items():
        mech = MECHANISMS[name]
        if r.get("skipped"):
            continue
        med = {k: float(np.median(v)) for k, v in r["times"].items()}
        row = {
            "memory": result["memory"], "job": result["job"], "mechanism": name, "where": mech.where,
            "on_s": med["on"], "off_s": med["off"], "always_s": med.get("always", float("nan")),
            "gain_pct": _gain(r["times"], "off", "on"),
            "gain_always_pct": _gain(r["times"], "off", "always") if "always" in med else float("nan"),
            "threshold_pct": _gain(r["times"], "always", "on") if "always" in med else float("nan"),
            "reps": len(r["times"]["on"]), "load_min": min(r["loads"]), "load_max": max(r["loads"]),
            "others_load_max": max(r["others_load"]), "others_mean": float(np.mean(r["others"])),
            "others_max": max(r["others"]),
            "repetitions_run": r["repetitions"], "waited_s": r["waited_s"], "identical": r["identical"],
        }
        rows.append(row)
    return rows


def _fmt(v: float) -> str:
    return "" if v != v else f"{v:+.0f}"


_MEMORY_TITLES = {
    "default": "Memory as glibc manages it (what a user gets)",
    "kept": "Memory kept by the process (`MALLOC_MMAP_MAX_=0`, no trimming: no page-fault noise)",
}


def _gain_table(rows: list[dict]) -> list[str]:
    jobs = list(dict.fromkeys(r["job"] for r in rows))
    by = {(r["job"], r["mechanism"]): r for r in rows}
    lines = ["| mechanism | where | " + " | ".join(jobs) + " | best on | best always | pays >= 15% as shipped |",
             "|---|---|" + "---|" * len(jobs) + "---|---|---|"]
    for name in dict.fromkeys(r["mechanism"] for r in rows):
        cells, best, best_always = [], -np.inf, -np.inf
        for j in jobs:
            r = by.get((j, name))
            if r is None:
                cells.append("")
                continue
            best = max(best, r["gain_pct"])
            extra = ""
            if r["gain_always_pct"] == r["gain_always_pct"]:
                best_always = max(best_always, r["gain_always_pct"])
                extra = f" ({_fmt(r['gain_always_pct'])})"
            cells.append(f"{_fmt(r['gain_pct'])}{extra}")
        always = "" if best_always == -np.inf else f"{best_always:+.0f}"
        verdict = "(several)" if MECHANISMS[name].aggregate else "yes" if best >= 15.0 else "no"
        lines.append(f"| {name} | `{MECHANISMS[name].where}` | " + " | ".join(cells)
                     + f" | {best:+.0f} | {always} | {verdict} |")
    return lines


def markdown(rows: list[dict], info: dict, args: dict) -> str:
    lines = [
        (f"Measured {info['date']} on {info['cores']} cores ({info['cpu']}), Python {info['python']}, "
         f"numpy {info['numpy']}, r3d {info['r3d']} ({info['label'] or 'commit ' + info['commit']}). "
         "Each job end to end (`perf_jobs.pipeline`: formula, fit, both tests, summary) in a fresh process; "
         "the variants of a mechanism interleaved, one repetition = one run of each variant in rotated order, "
         f"median of {min(r['reps'] for r in rows)}-{max(r['reps'] for r in rows)} repetitions per variant "
         "after a warm-up. Before each repetition the script waited until other processes used at most "
         f"{args['busy']:g} cores and the 1-minute load average less this process's own share was at most "
         f"{args['max_load']:g} (it stayed at most {max(r['others_load_max'] for r in rows):.2f}); a repetition "
         "during which other processes used more was run again. The 1-minute load average was "
         f"{min(r['load_min'] for r in rows):.2f}-{max(r['load_max'] for r in rows):.2f} during the "
         "repetitions kept (this process's own threads included, up to 2 of it); other processes used "
         f"{min(r['others_mean'] for r in rows):.2f}-{max(r['others_mean'] for r in rows):.2f} cores on "
         "average per block (last table)."),
        "",
        ("Gain in % of the job's end-to-end time, the median over repetitions of the paired runs' gains: "
         "*on vs off*, `(off - on) / off`, is the time the mechanism as shipped saves; in brackets "
         "*always vs off*, `(off - always) / off`, what the loop's threads would save with its threshold "
         "at zero. Negative: the mechanism costs time. Nothing in brackets: no threshold to lower."),
    ]
    for memory in dict.fromkeys(r["memory"] for r in rows):
        lines += ["", f"**{_MEMORY_TITLES[memory]}**", ""]
        lines += _gain_table([r for r in rows if r["memory"] == memory])
    lines += ["", "Medians in seconds, the load and other processes' CPU use during the repetitions kept, "
              "and whether every variant gave the same bits:", "",
              "| memory | job | mechanism | on s | off s | always s | load | others' cores (mean, max) "
              "| repetitions run | same bits |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        always = "" if r["always_s"] != r["always_s"] else f"{r['always_s']:.3f}"
        lines.append(f"| {r['memory']} | {r['job']} | {r['mechanism']} | {r['on_s']:.3f} | {r['off_s']:.3f} "
                     f"| {always} | {r['load_min']:.2f}-{r['load_max']:.2f} "
                     f"| {r['others_mean']:.2f}, {r['others_max']:.2f} "
                     f"| {r['repetitions_run']} | {'yes' if r['identical'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", default="A,B-frechet,B-simple,C,D")
    ap.add_argument("--mechanisms", default=",".join(MECHANISMS))
    ap.add_argument("--reps", type=int, default=15, help="repetitions per mechanism on jobs under a second")
    ap.add_argument("--reps-long", type=int, default=15, help="repetitions per mechanism on longer jobs")
    ap.add_argument("--busy", type=float, default=0.2,
                    help="other processes' CPU use (cores) above which a repetition waits or is rerun")
    ap.add_argument("--max-load", type=float, default=1.5,
                    help="1-minute load average (less this process's share) above which a repetition waits")
    ap.add_argument("--timeout", type=float, default=120.0, help="longest wait (s) for a quiet machine")
    ap.add_argument("--memory", default="default,kept",
                    help=f"memory settings of the children, among {', '.join(MEMORY)}")
    ap.add_argument("--label", default="", help="what was measured (e.g. which code), written into the table")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--markdown-from", metavar="JSON", help="only rewrite the Markdown table of a recorded run")
    ap.add_argument("--out", default=str(RESULTS / "threads"))
    a = ap.parse_args(argv)
    if a.markdown_from:
        rec = json.loads(Path(a.markdown_from).read_text())
        args = rec["args"][0] if isinstance(rec["args"], list) else rec["args"]
        Path(a.markdown_from).with_suffix(".md").write_text(markdown(rec["rows"], rec["machine"], args))
        return
    mechanisms = a.mechanisms.split(",")
    unknown = set(mechanisms) - set(MECHANISMS)
    if unknown:
        ap.error(f"unknown mechanisms {sorted(unknown)}; known: {', '.join(MECHANISMS)}")
    if a.child:
        print(json.dumps(child(a.child, mechanisms, a.reps, a.busy, a.max_load, a.timeout)))
        return
    import r3d

    info = {**_perf_jobs().machine(), "commit": _commit(), "r3d_path": str(Path(r3d.__file__).parent),
            "label": a.label}
    rows, raw = [], []
    for memory, name in ((mem, job) for mem in a.memory.split(",") for job in a.jobs.split(",")):
        reps = a.reps_long if name == "D" else a.reps
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--mechanisms", a.mechanisms,
               "--reps", str(reps), "--busy", str(a.busy), "--max-load", str(a.max_load),
               "--timeout", str(a.timeout)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env={**os.environ, **MEMORY[memory]})
        if proc.returncode != 0:
            raise RuntimeError(f"child {name} failed:\n{proc.stderr[-3000:]}")
        result = {**json.loads(proc.stdout.strip().splitlines()[-1]), "memory": memory}
        raw.append(result)
        for r in rows_of(result):
            rows.append(r)
            print(f"{memory:7s} {r['job']:10s} {r['mechanism']:18s} on {r['on_s']:.3f} off {r['off_s']:.3f} "
                  f"always {r['always_s']:.3f}  gain {r['gain_pct']:+5.1f}%  always {r['gain_always_pct']:+5.1f}%  "
                  f"load {r['load_min']:.2f}-{r['load_max']:.2f} others {r['others_mean']:.2f} "
                  f"({r['repetitions_run']} reps run, waited {r['waited_s']:.0f} s) "
                  f"{'same bits' if r['identical'] else 'BITS DIFFER'}", flush=True)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out.with_suffix(".json").write_text(json.dumps({"machine": info, "args": vars(a), "rows": rows, "raw": raw},
                                                   indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(rows, info, vars(a)))
    print(f"wrote {out}.{{csv,json,md}}")


if __name__ == "__main__":
    main()
