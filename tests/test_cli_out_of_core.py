"""`r3d fit --out-of-core` (DuckDB) gives the same numbers as the in-memory command."""

import json

import numpy as np
import pytest

import r3d
from r3d.cli import main

pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")

#: The same numbers by DuckDB and in memory (measured: equal bit for bit); room for DuckDB's
#: log/exp to differ by an ulp, amplified by the fits, as in test_parquet.py.
SAME_ATOL = 1e-12
SAME_RTOL = 1e-12


def test_out_of_core_cli_equals_in_memory(tmp_path):
    data = tmp_path / "firms.parquet"
    r3d.datasets.simulate_firms(n_firms=150, rng=5).to_parquet(data)
    common = ["fit", str(data), "--formula", "wage ~ revenue", "--unit", "firm", "--cutoff", "1",
              "--n-boot", "199", "--seed", "3", "--quantiles", "9", "-q"]
    assert main([*common, "--out-of-core", "-o", str(tmp_path / "ooc.json")]) == 0
    assert main([*common, "-o", str(tmp_path / "mem.json")]) == 0
    a = json.loads((tmp_path / "ooc.json").read_text())
    b = json.loads((tmp_path / "mem.json").read_text())
    for key in ("params", "bse", "quantiles"):
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=SAME_ATOL)
    assert a["bandwidth"] == pytest.approx(b["bandwidth"], rel=SAME_RTOL, abs=0)
    assert a["data"]["ndraws"] == b["data"]["ndraws"]


def test_out_of_core_missing_file_exits_2(tmp_path, capsys):
    rc = main(["fit", str(tmp_path / "nope.parquet"), "--formula", "y ~ x", "--unit", "u", "--out-of-core"])
    assert rc == 2
    assert "r3d: error" in capsys.readouterr().err
