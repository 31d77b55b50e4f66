"""Command line: CSV and Parquet round trips whose JSON/CSV equal the Python results, plots,
the demo, and input problems reported on stderr with exit status 2."""

import io
import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import r3d
from r3d.cli import EXIT_USAGE, _csv_options, main

#: The demo's quantile grid read back from its JSON: equal bit for bit (measured 0).
GRID_ATOL = 1e-15

FIT_ARGS = ["--formula", "wage ~ revenue", "--unit", "firm", "--cutoff", "1", "--bandwidth", "0.4",
            "--quantiles", "0.1,0.25,0.5,0.75,0.9", "--n-boot", "199", "--seed", "7"]


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    df = r3d.datasets.simulate_firms(n_firms=200, n_workers=(10, 25), fuzzy=True, rng=21)
    df.to_csv(d / "firms.csv", index=False)
    df.to_parquet(d / "firms.parquet")
    return d, df


@pytest.fixture(scope="module")
def python_result(data_files):
    _, df = data_files
    mod = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        return mod.fit(bandwidth=0.4, quantiles=[0.1, 0.25, 0.5, 0.75, 0.9], n_boot=199, rng=7)


def _nan_to_none(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return obj


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_fit_round_trip_equals_python(data_files, python_result, fmt, tmp_path, capsys):
    d, _ = data_files
    out_json, out_csv = tmp_path / "res.json", tmp_path / "res.csv"
    rc = main(["fit", str(d / f"firms.{fmt}"), *FIT_ARGS, "--output", str(out_json), "-o", str(out_csv)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.out.strip() == python_result.summary().as_text().strip()
    got = json.loads(out_json.read_text())
    assert got == _nan_to_none(python_result.to_dict())  # every number, exactly
    frame = pd.read_csv(out_csv, index_col="quantile", **_csv_options())
    pd.testing.assert_frame_equal(frame, python_result.summary_frame(), check_exact=True)


def test_fuzzy_options_plot_and_text_outputs(data_files, tmp_path, capsys):
    d, _ = data_files
    png, tex, html = tmp_path / "effect.png", tmp_path / "s.tex", tmp_path / "s.html"
    rc = main(["fit", str(d / "firms.parquet"), "--formula", "wage ~ revenue", "--unit", "firm", "--cutoff", "1",
               "--treatment", "subsidy", "--method", "simple", "--bandwidth", "0.45", "--bandwidth-treatment", "0.5",
               "--quantiles", "9", "--n-boot", "0", "--alpha", "0.1", "--kernel", "epa", "--quiet",
               "--plot", str(png), "-o", str(tex), "-o", str(html)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.out == ""  # --quiet
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert tex.read_text().count(r"\begin{tabular}") == 3  # header, effect, first stage
    assert "subsidy" in html.read_text() and "90%" in html.read_text()


def test_stdin_csv_and_warnings_on_stderr(data_files, monkeypatch, capsys):
    d, _ = data_files
    monkeypatch.setattr(sys, "stdin", io.StringIO((d / "firms.csv").read_text()))
    rc = main(["fit", "-", "--formula", "np.log(wage) ~ revenue", "--unit", "firm", "--cutoff", "1",
               "--bandwidth", "0.06", "--quantiles", "5", "--n-boot", "0"])
    captured = capsys.readouterr()
    assert rc == 0
    assert "np.log(wage)" in captured.out
    assert "r3d: warning: Only" in captured.err and "positive kernel weight" in captured.err


@pytest.mark.parametrize(
    "args,needle",
    [
        (["fit", "{d}/missing.csv", "--formula", "wage ~ revenue", "--unit", "firm"], "missing.csv"),
        (["fit", "{d}/firms.xlsx", "--formula", "wage ~ revenue", "--unit", "firm"], ".parquet"),
        (["fit", "{d}/firms.csv", "--formula", "wage ~ revenue", "--unit", "plant"], "--unit 'plant'"),
        (["fit", "{d}/firms.csv", "--formula", "wage ~ revenue", "--unit", "firm", "--cluster", "state"],
         "--cluster 'state'"),
        (["fit", "{d}/firms.csv", "--formula", "salary ~ revenue", "--unit", "firm"], "salary"),
        (["fit", "{d}/firms.csv", "--formula", "wage ~ revenue", "--unit", "firm", "--cutoff", "1",
          "--method", "ols"], "`method`"),
        (["fit", "{d}/firms.csv", "--formula", "wage ~ revenue", "--unit", "firm", "--cutoff", "1", "-o",
          "{d}/out.xlsx"], "out.xlsx"),
        (["fit", "{d}/firms.csv", "--formula", "wage ~ revenue", "--unit", "firm", "--cutoff", "1", "--plot",
          "{d}/nodir/p.png"], "nodir"),
        (["fit", "{d}/firms.csv", "--formula", "wage ~ revenue", "--unit", "firm", "--cutoff", "9"], "`cutoff`"),
    ],
)
def test_input_problems_exit_2_with_a_message(data_files, args, needle, capsys):
    d, _ = data_files
    rc = main([a.format(d=d) for a in args])
    captured = capsys.readouterr()
    assert rc == EXIT_USAGE
    assert captured.err.startswith("r3d: error: ") and needle in captured.err
    assert captured.out == ""


def test_usage_errors_and_help(capsys):
    assert main(["fit"]) == EXIT_USAGE
    assert "required" in capsys.readouterr().err
    assert main(["fit", "x.csv", "--formula", "y ~ x", "--unit", "u", "--quantiles", "abc"]) == EXIT_USAGE
    assert "--quantiles" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "demo" in capsys.readouterr().out


def test_demo(tmp_path, capsys):
    out = tmp_path / "demo.json"
    rc = main(["demo", "--n-boot", "199", "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 0
    assert "Effect on the average quantile function" in captured.out
    assert "True effect inside the 95% uniform band at" in captured.out
    d = json.loads(out.read_text())
    assert d["data"]["nobs"] == 600 and len(d["quantiles"]) == 19 and d["spec"]["n_boot"] == 199
    np.testing.assert_allclose(d["quantiles"], np.arange(1, 20) / 20, rtol=0, atol=GRID_ATOL)


def test_python_dash_m_entry_point(tmp_path):
    from _child import same_r3d_env

    # run outside the source tree so that the child imports the same (installed) r3d as this process
    run = subprocess.run([sys.executable, "-m", "r3d", "--version"], capture_output=True, text=True, timeout=120,
                         check=False, cwd=tmp_path, env=same_r3d_env())
    assert run.returncode == 0 and run.stdout.strip() == f"r3d {r3d.__version__}"


def test_functionals_and_tests_reach_the_summary_json_and_plot(data_files, python_result, tmp_path, capsys):
    """--functional / --test / --plot-kind lorenz give what summary(functionals=, tests=), to_dict and
    res.functional('lorenz').plot give in Python."""
    d, _ = data_files
    out_json, png = tmp_path / "res.json", tmp_path / "lorenz.png"
    extra = {"functionals": ["gini", "quantile_ratio:upper=0.9,lower=0.1"], "tests": ["dominance"]}
    rc = main(["fit", str(d / "firms.csv"), *FIT_ARGS, "--functional", "gini", "--functional",
               "quantile_ratio:upper=0.9,lower=0.1", "--test", "dominance", "-o", str(out_json), "--plot-kind",
               "lorenz", "--plot", str(png)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.out.strip() == python_result.summary(**extra).as_text().strip()
    got = json.loads(out_json.read_text())
    assert got["functionals"] == _nan_to_none(python_result.to_dict(**extra)["functionals"])
    assert got["functionals"][1]["label"] == "P90/P10"
    assert got["tests"]["dominance"]["pvalue"] == python_result.dominance_test().pvalue
    assert png.stat().st_size > 10_000
    for bad, says in (("share_below:z", "`functionals` must be 'name' or 'name:key=number,key=number'"),
                      ("entropy", "--functional 'entropy' is not a functional; use one of mean, variance")):
        rc = main(["fit", str(d / "firms.csv"), *FIT_ARGS, "--functional", bad, "-q"])
        assert rc == EXIT_USAGE
        assert says in capsys.readouterr().err


def test_fit_donut_option_equals_python(data_files, tmp_path, capsys):
    d, df = data_files
    mod = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        expected = mod.fit(bandwidth=0.4, quantiles=[0.1, 0.25, 0.5, 0.75, 0.9], n_boot=199, rng=7, donut=0.05)
    rc = main(["fit", str(d / "firms.csv"), *FIT_ARGS, "--donut", "0.05"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.out.strip() == expected.summary().as_text().strip()
    assert expected.data.n_donut > 0
    assert "Donut |x - c| <:" in captured.out and f"0.05 ({expected.data.n_donut} units out)" in captured.out


def test_fit_unit_weights_and_masspoints_options_equal_python(tmp_path, capsys):
    rng = np.random.default_rng(5)
    df = r3d.datasets.simulate_firms(n_firms=200, n_workers=(10, 25), rng=21)
    firms = df["firm"].unique()
    cells = pd.DataFrame({"firm": firms, "size": rng.integers(1, 9, firms.size).astype(float)})
    df = df.merge(cells, on="firm")
    df["revenue"] = df["revenue"].round(1)  # a discrete running variable: mass points
    path = tmp_path / "cells.csv"
    df.to_csv(path, index=False)
    mod = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm", unit_weights="size")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        expected = mod.fit(bandwidth=0.4, quantiles=[0.1, 0.25, 0.5, 0.75, 0.9], n_boot=199, rng=7,
                           masspoints="adjust")
    rc = main(["fit", str(path), *FIT_ARGS, "--unit-weights", "size", "--masspoints", "adjust"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.out.strip() == expected.summary().as_text().strip()
    assert "Unit weights" in captured.out
    rc = main(["fit", str(path), *FIT_ARGS, "--unit-weights", "cell_size"])
    assert rc == EXIT_USAGE and "--unit-weights 'cell_size' is not a column" in capsys.readouterr().err
