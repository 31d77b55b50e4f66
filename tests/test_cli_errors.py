"""Every input problem of the command line ends as ``r3d: error: <message>`` (or argparse's usage
error for a bad option value) with exit status 2 and no traceback; a genuine bug keeps its
traceback, and ``--traceback`` shows the one of an input error."""

import io
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

import r3d
from r3d.cli import EXIT_USAGE, build_parser, main

BASE = ["--formula", "wage ~ revenue", "--unit", "firm", "--cutoff", "1", "--bandwidth", "0.5", "--quantiles", "5",
        "--n-boot", "0", "-q"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_errors")
    df = r3d.datasets.simulate_firms(n_firms=80, n_workers=(5, 10), fuzzy=True, rng=3)
    df.to_csv(d / "firms.csv", index=False)
    df.assign(take="yes").to_csv(d / "strings.csv", index=False)
    df.iloc[:0].to_csv(d / "header.csv", index=False)
    (d / "empty.csv").write_text("")
    (d / "corrupt.parquet").write_bytes(b"not a parquet file")
    (d / "parts").mkdir()
    df.to_parquet(d / "parts" / "a.parquet", index=False)
    return d


def _run(args, capsys):
    rc = main([str(a) for a in args])
    captured = capsys.readouterr()
    return rc, captured.err


def _usage_error(rc, err, *needles):
    assert rc == EXIT_USAGE, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize("option, value", [("--cutoff", "nan"), ("--cutoff", "inf"), ("--cutoff", "-inf"),
                                           ("--cutoff", "one"), ("--alpha", "nan"), ("--bandwidth", "nan"),
                                           ("--bandwidth", "inf"), ("--bandwidth-treatment", "nan"),
                                           ("--seed", "-1"), ("--seed", "1.5"), ("--seed", "abc")])
def test_bad_option_values_are_refused_at_parse_time_naming_the_option(files, capsys, option, value):
    rc, err = _run(["fit", files / "firms.csv", *BASE, f"{option}={value}"], capsys)
    _usage_error(rc, err, f"argument {option}:", repr(value))


def test_demo_seed_is_checked_at_parse_time(capsys):
    rc, err = _run(["demo", "--seed", "-3"], capsys)
    _usage_error(rc, err, "argument --seed:", "integer >= 0")


def test_type_errors_of_the_data_exit_2(files, capsys):
    """A TypeError from r3d's validation (a string treatment column) is a user error."""
    rc, err = _run(["fit", files / "strings.csv", *BASE, "--treatment", "take"], capsys)
    _usage_error(rc, err, "r3d: error: `treatment`", "numeric")


@pytest.mark.parametrize("extra", [[], ["--out-of-core"]])
def test_a_corrupt_parquet_file_exits_2_naming_it(files, capsys, extra):
    pytest.importorskip("duckdb" if extra else "pyarrow")
    rc, err = _run(["fit", files / "corrupt.parquet", *BASE, *extra], capsys)
    _usage_error(rc, err, "r3d: error:", "corrupt.parquet")


@pytest.mark.parametrize("name, needle", [("parts", "is a directory"), ("parts/*.parquet", "--out-of-core"),
                                          ("header.csv", "has no rows"), ("empty.csv", "could not read")])
def test_paths_that_are_no_data_file_in_memory(files, capsys, name, needle):
    rc, err = _run(["fit", f"{files}/{name}", *BASE], capsys)
    _usage_error(rc, err, "r3d: error:", needle)


def test_a_directory_or_glob_is_read_with_out_of_core(files, capsys):
    pytest.importorskip("duckdb")
    for path in (files / "parts", f"{files}/parts/*.parquet"):
        rc, err = _run(["fit", path, *BASE, "--out-of-core"], capsys)
        assert rc == 0, err


def test_empty_stdin(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    rc, err = _run(["fit", "-", *BASE], capsys)
    _usage_error(rc, err, "r3d: error: could not read CSV from standard input")


def test_unreadable_data_file(files, capsys, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pd, "read_csv", denied)
    rc, err = _run(["fit", files / "firms.csv", *BASE], capsys)
    _usage_error(rc, err, "r3d: error: could not read", "firms.csv", "Permission denied")


def test_outputs_that_cannot_be_written(files, capsys, monkeypatch, tmp_path):
    (tmp_path / "res.json").mkdir()
    rc, err = _run(["fit", files / "firms.csv", *BASE, "-o", tmp_path / "res.json"], capsys)
    _usage_error(rc, err, "r3d: error: cannot write", "it is a directory")

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_text", denied)
    rc, err = _run(["fit", files / "firms.csv", *BASE, "-o", tmp_path / "out.json"], capsys)
    _usage_error(rc, err, "r3d: error: cannot write", "out.json", "Permission denied")


def test_memory_limit_is_for_duckdb_only(files, capsys):
    rc, err = _run(["fit", files / "firms.csv", *BASE, "--memory-limit", "2GB"], capsys)
    _usage_error(rc, err, "r3d: error: --memory-limit", "--out-of-core")


def test_a_bad_memory_limit_names_it(files, capsys):
    pytest.importorskip("duckdb")
    rc, err = _run(["fit", files / "parts", *BASE, "--out-of-core", "--memory-limit", "lots"], capsys)
    _usage_error(rc, err, "r3d: error: `memory_limit`", "'lots'")


@pytest.mark.parametrize("exc", [MemoryError(), FloatingPointError("outcomes overflowed; rescale them"),
                                 ImportError("needs the optional dependency")])
def test_every_documented_error_type_exits_2(files, capsys, monkeypatch, exc):
    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(r3d.R3D, "fit", fail)
    rc, err = _run(["fit", files / "firms.csv", *BASE], capsys)
    _usage_error(rc, err, f"r3d: error: {str(exc) or type(exc).__name__}\n")


def test_a_bug_keeps_its_traceback(files, monkeypatch):
    def bug(*args, **kwargs):
        raise KeyError("internal")

    monkeypatch.setattr(r3d.R3D, "fit", bug)
    with pytest.raises(KeyError, match="internal"):
        main(["fit", str(files / "firms.csv"), *BASE])


def test_traceback_flag_shows_an_input_error(files):
    with pytest.raises(TypeError, match="`treatment`"):
        main(["fit", str(files / "strings.csv"), *BASE, "--treatment", "take", "--traceback"])


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_really(files, tmp_path, capsys):
    data = tmp_path / "locked.csv"
    data.write_text((files / "firms.csv").read_text())
    data.chmod(0)
    rc, err = _run(["fit", data, *BASE], capsys)
    _usage_error(rc, err, "r3d: error: could not read", "locked.csv")


def test_parse_time_types_give_the_values_float_and_int_gave():
    args = build_parser().parse_args(["fit", "d.csv", "--formula", "y ~ x", "--unit", "u", "--cutoff", "1e3",
                                      "--alpha", "0.1", "--bandwidth", "0.25", "--bandwidth-treatment", "2",
                                      "--seed", "12345678901234567890"])
    assert (args.cutoff, args.alpha, args.bandwidth, args.bandwidth_treatment) == (1000.0, 0.1, 0.25, 2.0)
    assert args.seed == 12345678901234567890 and isinstance(args.seed, int)
    assert build_parser().parse_args(["fit", "d.csv", "--formula", "y ~ x", "--unit", "u", "--bandwidth",
                                      "cer-imse"]).bandwidth == "cer-imse"


@pytest.mark.parametrize(("exc", "status", "said"), [(BrokenPipeError, 1, ""), (KeyboardInterrupt, 130, "interrupted")])
def test_closed_pipe_and_ctrl_c_end_without_a_traceback(files, monkeypatch, capsys, exc, status, said):
    def stop(*args, **kwargs):
        raise exc()

    monkeypatch.setattr(r3d.R3D, "fit", stop)
    assert main(["fit", str(files / "firms.csv"), *BASE]) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err and said in err and "error" not in err


def test_output_piped_into_head(files):
    """`r3d fit ... | head -1`: the reader leaves early; r3d says nothing on stderr."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(Path(r3d.__file__).resolve().parent.parent)}
    proc = subprocess.Popen([sys.executable, "-m", "r3d", "fit", str(files / "firms.csv"), *BASE],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=files)
    proc.stdout.readline()
    proc.stdout.close()  # like head after its first line
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "Broken pipe" not in err
