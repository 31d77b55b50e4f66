"""Record every number r3d computes on the reference jobs and reference data, to compare refactors.

A refactor must change no number. This script fits the reference jobs of
``benchmarks/perf_jobs.py`` (A, B-frechet, B-simple, C, D) and a matrix of cases on the
committed reference draws (``tests/reference/long``: sharp, fuzzy, both methods, automatic
and fixed bandwidths, every kernel and rule, clusters, within-unit weights, the
``from_samples``/``from_quantiles``/Parquet/Dask ways in, the bandwidth selector on its own)
and the command line, and writes all of it to JSON: params, bse, limits, pointwise intervals,
bands, tests (whole grid and sub-ranges), the Gini test, average effect, first stage,
bandwidths with every selector intermediate, notes, and the bootstrap draws and residuals
(by SHA-256 of their bytes plus their column sums, so a difference can also be measured).

Floats are written with Python's ``repr`` (exact round trip), so two records are equal as
JSON exactly when every number is bit-identical.

Run:   python benchmarks/record_outputs.py OUT.json[.gz]      # record
       python benchmarks/record_outputs.py --compare A.json B.json
The second form prints every path whose value differs, with the largest absolute and
relative difference, and exits 1 if any differs or is missing from B; values only in B
(outputs added since A) are listed by name and not compared. Runtime: about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import importlib.util
import io
import json
import math
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
LONG = HERE.parent / "tests" / "reference" / "long"


def _perf_jobs():
    spec = importlib.util.spec_from_file_location("_perf_jobs", HERE / "perf_jobs.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["_perf_jobs"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def plain(obj):
    """JSON-able copy with floats kept exact (repr) and arrays as lists."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
    if isinstance(obj, (pd.Series, pd.Index)):
        return plain(obj.tolist())
    if isinstance(obj, pd.DataFrame):
        return {c: plain(obj[c].to_numpy()) for c in obj.columns}
    if isinstance(obj, (np.floating, float)):
        return float(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if hasattr(obj, "__dataclass_fields__"):
        return {f: plain(getattr(obj, f)) for f in obj.__dataclass_fields__}
    return obj


def _digest(a) -> dict:
    if a is None:
        return None
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
    return {"sha256": hashlib.sha256(a.tobytes()).hexdigest(), "shape": list(a.shape),
            "colsum": plain(a.sum(axis=0))}


#: Columns of the multi-range test table of r3d 0.1 (the shape both versions are recorded in).
_TEST_COLUMNS = ["test", "range_low", "range_high", "statistic", "critical_value", "pvalue", "n_boot"]


def _test_records(out) -> list:
    """A test's result(s) as a list of dicts, whatever the type returned: r3d 0.1 gave a
    TestResult for one range and a DataFrame for several; later versions a TestResults."""
    if hasattr(out, "frame") and len(out) > 1:
        out = out.frame[_TEST_COLUMNS]
    elif hasattr(out, "frame"):
        out = out[0]
    if isinstance(out, pd.DataFrame):
        return [plain(dict(r)) for _, r in out.iterrows()]
    if isinstance(out, (list, tuple)):
        return [_test_records(o)[0] for o in out]
    d = {k: plain(getattr(out, k)) for k in ("test", "statistic", "critical_value", "pvalue", "range", "n_boot")
         if hasattr(out, k)}
    return [d]


def record_fit(res) -> dict:
    """Every number of one fit."""
    out = {"to_dict": plain(res.to_dict())}
    out["bandwidth_info"] = plain(res.bandwidth_info)
    out["conf_int_90"] = plain(res.conf_int(alpha=0.1))
    out["residuals"] = _digest(res.residuals.to_numpy())
    out["draws"] = _digest(res.bootstrap_draws)
    if res.bootstrap_draws is not None:
        out["uniform_90"] = plain(res.conf_int(alpha=0.1, kind="uniform"))
        out["critical_value"] = res.critical_value
        q = res.quantiles
        lo, hi = float(q[len(q) // 4]), float(q[(3 * len(q)) // 4])
        for name in ("nullity_test", "homogeneity_test"):
            fn = getattr(res, name)
            out[name] = _test_records(fn())
            out[name + "_ranges"] = _test_records(fn(ranges=[(lo, hi), (float(q[0]), float(q[-1]))]))
            out[name + "_range"] = _test_records(fn(ranges=(lo, hi), alpha=0.1))
    out["average_effect_90"] = plain(res._average_effect(0.1)) if hasattr(res, "_average_effect") else None
    out["summary"] = str(res.summary())
    out["summary_frame"] = plain(res.summary_frame())
    return out


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _cases_long(r3d) -> dict:
    out = {}
    sharp = pd.read_csv(LONG / "ref_long_sharp.csv", comment="#")
    fuzzy = pd.read_csv(LONG / "ref_long_fuzzy.csv", comment="#")
    small = pd.read_csv(LONG / "ref_long_small.csv", comment="#")
    dgp1 = pd.read_csv(LONG / "ref_long_dgp1.csv", comment="#")
    dgp2 = pd.read_csv(LONG / "ref_long_dgp2.csv", comment="#")
    datasets = {"sharp": sharp, "small": small, "dgp1": dgp1, "dgp2": dgp2}
    grid = np.arange(1, 20) / 20
    for dname, df in datasets.items():
        mod = r3d.R3D.from_formula("y ~ x", data=df, cutoff=0.0, unit="unit")
        for method in ("frechet", "simple"):
            for bw in ("auto", 0.5):
                key = f"{dname}/{method}/{bw}"
                res = mod.fit(method=method, bandwidth=bw, quantiles=grid, n_boot=199, rng=7)
                out[key] = record_fit(res)
    fmod = r3d.R3D.from_formula("y ~ x", data=fuzzy, cutoff=0.0, unit="unit", treatment="t")
    for method in ("frechet", "simple"):
        for bw in ("auto", 0.5):
            out[f"fuzzy/{method}/{bw}"] = record_fit(fmod.fit(method=method, bandwidth=bw, quantiles=grid,
                                                              n_boot=199, rng=3))
        out[f"fuzzy/{method}/bt"] = record_fit(fmod.fit(method=method, bandwidth=0.6, bandwidth_treatment=0.4,
                                                        quantiles=grid, n_boot=99, rng=3))
    mod = r3d.R3D.from_formula("y ~ x", data=sharp, cutoff=0.0, unit="unit")
    for kernel in ("triangular", "epanechnikov", "uniform"):
        for order in (1, 2, 3):
            out[f"sharp/kernel={kernel}/p={order}"] = record_fit(
                mod.fit(kernel=kernel, order=order, quantiles=grid, n_boot=99, rng=5))
    for rule in ("mse", "cer-mse"):
        out[f"sharp/simple/rule={rule}"] = record_fit(mod.fit(method="simple", bandwidth=rule, quantiles=grid,
                                                              n_boot=99, rng=5))
    out["sharp/frechet/cer-imse"] = record_fit(mod.fit(bandwidth="cer-imse", quantiles=grid, n_boot=99, rng=5))
    out["sharp/frechet/noreg"] = record_fit(mod.fit(regularize=False, quantiles=grid, n_boot=99, rng=5))
    out["sharp/frechet/pilot0"] = record_fit(mod.fit(pilot_order=0, order=1, quantiles=grid, n_boot=99, rng=5))
    out["sharp/studentized"] = record_fit(mod.fit(band="studentized", quantiles=grid, n_boot=199, rng=5,
                                                  alpha=0.1))
    out["sharp/simple/per-q-h"] = record_fit(mod.fit(method="simple", bandwidth=np.linspace(0.3, 0.7, grid.size),
                                                     quantiles=grid, n_boot=99, rng=5))
    out["sharp/default-grid"] = record_fit(mod.fit(n_boot=99, rng=11))
    for qm in ("inverted_cdf", "median_unbiased", "hazen"):
        out[f"sharp/qmethod={qm}"] = record_fit(mod.fit(quantile_method=qm, quantiles=grid, n_boot=99, rng=5))
    out["sharp/n_boot=0"] = record_fit(mod.fit(n_boot=0, quantiles=grid))
    # clusters and weights
    d = dgp1.copy()
    d["cl"] = d["unit"] // 4
    d["w"] = 1.0 + (np.arange(len(d)) % 7) / 3.0
    cmod = r3d.R3D.from_formula("y ~ x", data=d, cutoff=0.0, unit="unit", cluster="cl")
    for method in ("frechet", "simple"):
        out[f"dgp1/cluster/{method}"] = record_fit(cmod.fit(method=method, quantiles=grid, n_boot=199, rng=9))
    wmod = r3d.R3D.from_formula("y ~ x", data=d, cutoff=0.0, unit="unit", weights="w")
    for qm in ("linear", "inverted_cdf"):
        out[f"dgp1/weights/{qm}"] = record_fit(wmod.fit(quantile_method=qm, quantiles=grid, n_boot=99, rng=9))
    f2 = fuzzy.copy()
    f2["cl"] = f2["unit"] // 3
    fcmod = r3d.R3D.from_formula("y ~ x", data=f2, cutoff=0.0, unit="unit", treatment="t", cluster="cl")
    out["fuzzy/cluster"] = record_fit(fcmod.fit(quantiles=grid, n_boot=199, rng=9))
    # array, samples and quantile constructors
    amod = r3d.R3D(sharp["y"], sharp["x"], sharp["unit"], cutoff=0.0)
    out["array/sharp"] = record_fit(amod.fit(quantiles=grid, n_boot=99, rng=2))
    groups = [g for _, g in sharp.groupby("unit", sort=False)]
    smod = r3d.R3D.from_samples([g["y"].to_numpy() for g in groups], np.array([g["x"].iloc[0] for g in groups]),
                                cutoff=0.0)
    out["samples/sharp"] = record_fit(smod.fit(quantiles=grid, n_boot=99, rng=2))
    Q = amod.unit_quantiles(grid)
    qmod = r3d.R3D.from_quantiles(Q.to_numpy(), amod.running.to_numpy(), grid, cutoff=0.0)
    out["quantiles/sharp"] = record_fit(qmod.fit(n_boot=99, rng=2))
    out["quantiles/sharp/subset"] = record_fit(qmod.fit(quantiles=grid[2:-2], method="simple", n_boot=99, rng=2))
    out["unit_quantiles"] = _digest(Q.to_numpy())
    # the selector on its own
    for method in ("frechet", "simple"):
        for rule in ("auto", "cer-mse", "cer-imse", "imse", "mse"):
            if method == "frechet" and rule in ("mse", "cer-mse"):
                continue
            sel = r3d.select_bandwidth(fmod, method=method, rule=rule, quantiles=grid)
            out[f"select/fuzzy/{method}/{rule}"] = plain(sel.as_dict())
            sel = r3d.select_bandwidth(mod, method=method, rule=rule, quantiles=grid, kernel="epa", order=1)
            out[f"select/sharp/{method}/{rule}"] = plain(sel.as_dict())
    return out


def _cases_out_of_core(r3d) -> dict:
    out = {}
    sharp = pd.read_csv(LONG / "ref_long_sharp.csv", comment="#")
    fuzzy = pd.read_csv(LONG / "ref_long_fuzzy.csv", comment="#")
    grid = np.arange(1, 20) / 20
    with tempfile.TemporaryDirectory() as tmp:
        if importlib.util.find_spec("duckdb") is not None:
            p = Path(tmp) / "fuzzy.parquet"
            fuzzy.assign(w=1.0 + (np.arange(len(fuzzy)) % 5) / 2.0).to_parquet(p)
            pmod = r3d.R3D.from_parquet(str(p), "np.log(y + 10) ~ x", unit="unit", cutoff=0.0, treatment="t",
                                        quantiles=grid)
            out["parquet/fuzzy"] = record_fit(pmod.fit(n_boot=99, rng=4))
            pmod = r3d.R3D.from_parquet(str(p), "y ~ x", unit="unit", cutoff=0.0, weights="w", quantiles=grid)
            out["parquet/weighted"] = record_fit(pmod.fit(n_boot=99, rng=4))
        if importlib.util.find_spec("dask") is not None:
            import dask.dataframe as dd

            ddf = dd.from_pandas(sharp, npartitions=3)
            with _quiet():
                dmod = r3d.R3D.from_formula("y ~ x", data=ddf, cutoff=0.0, unit="unit", quantiles=grid)
            out["dask/sharp"] = record_fit(dmod.fit(n_boot=99, rng=4))
    return out


def _cases_cli(r3d) -> dict:
    from r3d import cli

    out = {}
    sharp = pd.read_csv(LONG / "ref_long_small.csv", comment="#")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "small.csv"
        sharp.to_csv(src, index=False)
        for suffix in ("json", "txt", "csv"):
            dst = Path(tmp) / f"out.{suffix}"
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
                code = cli.main(["fit", str(src), "--formula", "y ~ x", "--unit", "unit", "--cutoff", "0",
                                 "--n-boot", "99", "--seed", "3", "-o", str(dst)])
            out[f"fit/{suffix}"] = {"exit": code, "stdout": buf.getvalue(), "file": dst.read_text()}
    return out


def _cases_jobs(r3d) -> dict:
    pj = _perf_jobs()
    out = {}
    for name, job in pj.JOBS.items():
        df = pj.make_frame(job.n_units, job.draws)
        res = pj.pipeline(df, job)
        out[name] = record_fit(res)
        del df, res
    return out


def record() -> dict:
    import r3d

    with _quiet():
        return {"long": _cases_long(r3d), "out_of_core": _cases_out_of_core(r3d), "cli": _cases_cli(r3d),
                "jobs": _cases_jobs(r3d)}


def _diff(a, b, path: str, rows: list, added: list) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a:
                added.append(f"{path}/{k}")
            elif k not in b:
                rows.append((f"{path}/{k}", "missing in the second record", math.inf, math.inf))
            else:
                _diff(a[k], b[k], f"{path}/{k}", rows, added)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        nums = [(x, y) for x, y in zip(a, b, strict=True)
                if isinstance(x, (int, float)) and isinstance(y, (int, float))]
        if len(nums) == len(a) and a:
            x = np.array([n[0] for n in nums], dtype=float)
            y = np.array([n[1] for n in nums], dtype=float)
            same = (x == y) | (np.isnan(x) & np.isnan(y))
            if not same.all():
                with np.errstate(invalid="ignore", divide="ignore"):  # inf - inf, 0 / 0: reported as nan
                    d = np.abs(x - y)[~same]
                    r = (np.abs(x - y) / np.maximum(np.abs(x), np.abs(y)))[~same]
                rows.append((path, f"{int((~same).sum())} of {x.size} differ", float(np.nanmax(d)),
                             float(np.nanmax(r))))
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{path}[{i}]", rows, added)
    elif isinstance(a, float) and isinstance(b, float):
        if not (a == b or (math.isnan(a) and math.isnan(b))):
            rows.append((path, "differs", abs(a - b), abs(a - b) / max(abs(a), abs(b))))
    elif a != b:
        rows.append((path, f"{str(a)[:60]!r} != {str(b)[:60]!r}", math.nan, math.nan))


def _read(path: str) -> dict:
    raw = Path(path).read_bytes()
    return json.loads(gzip.decompress(raw) if path.endswith(".gz") else raw)


def compare(path_a: str, path_b: str) -> int:
    a, b = _read(path_a), _read(path_b)
    rows: list = []
    added: list = []
    _diff(a, b, "", rows, added)
    names = sorted({p.rsplit("/", 1)[-1] for p in added})
    if added:
        print(f"{len(added)} values only in the second record (new outputs, not compared): {', '.join(names)}")
    for p, what, d, r in rows:
        print(f"{p}: {what} (max abs {d:.3g}, max rel {r:.3g})")
    n = sum(1 for _ in rows)
    print(f"{n} differing paths" if n else "identical: every number bit for bit")
    return 1 if n else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", help="JSON file to write")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"))
    args = ap.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    if not args.out:
        ap.error("give OUT.json or --compare A B")
    rec = record()
    text = json.dumps(rec, indent=0, sort_keys=True).encode()
    Path(args.out).write_bytes(gzip.compress(text, mtime=0) if args.out.endswith(".gz") else text)
    print(f"wrote {args.out}: {sum(len(v) for v in rec.values())} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
