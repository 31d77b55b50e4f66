"""A fit on a single quantile level: every output works, and the tests that need more grid points
(the homogeneity test: ``min_points`` = 2) are skipped with a note instead of failing the display."""

import json

import numpy as np
import pytest
from _quiet import quiet_fit as _fit

import r3d
from r3d.bootstrap import REPORTED_TESTS, TESTS
from r3d.cli import main

SKIP_NOTE = "Not reported: the homogeneity test"


@pytest.fixture(scope="module")
def df():
    return r3d.datasets.simulate_firms(n_firms=160, n_workers=(10, 20), rng=3)


@pytest.fixture(scope="module")
def mod(df):
    return r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")


@pytest.fixture(scope="module", params=[[0.5], 1], ids=["levels", "count"])
def res(mod, request):
    return _fit(mod, quantiles=request.param, bandwidth=0.4, n_boot=99, rng=2)


def test_single_level_summary_skips_homogeneity(res):
    assert res.quantiles.tolist() == [0.5]
    smry = res.summary()
    text = " ".join(smry.as_text().split())  # notes are wrapped
    assert "tau(q) = 0" in text
    assert SKIP_NOTE in text and "needs at least 2 grid points, and the grid has 1" in text
    assert "single grid point" in text
    tests = [s for s in smry.sections if s.title.startswith("Uniform tests")]
    assert len(tests) == 1 and tests[0].stubs == ("tau(q) = 0",)
    # every rendering works and carries the note
    assert SKIP_NOTE in smry.as_latex() and SKIP_NOTE in smry.as_html() and smry.as_csv()
    assert "p = " in str(res) and "constant" not in str(res)


def test_single_level_to_dict(res):
    d = res.to_dict()
    assert set(d["tests"]) == set(REPORTED_TESTS)
    assert d["tests"]["homogeneity"] is None
    null = res.nullity_test()
    assert d["tests"]["nullity"]["pvalue"] == null.pvalue
    assert any(n.startswith(SKIP_NOTE) for n in d["notes"])
    assert not any(n.startswith(SKIP_NOTE) for n in res.notes)  # a display note, not a fit warning
    json.dumps(d, allow_nan=False)


def test_single_level_direct_test_still_refused(res):
    with pytest.raises(ValueError, match="at least 2 points"):
        res.homogeneity_test()


def test_single_level_without_bootstrap(mod):
    res = _fit(mod, quantiles=[0.5], bandwidth=0.4, n_boot=0)
    assert res.to_dict()["tests"] is None
    text = " ".join(res.summary().as_text().split())
    assert SKIP_NOTE not in text and "Uniform tests" not in text


def test_two_levels_report_every_test(mod):
    res = _fit(mod, quantiles=[0.25, 0.75], bandwidth=0.4, n_boot=99, rng=2)
    assert all(v is not None for v in res.to_dict()["tests"].values())
    assert SKIP_NOTE not in res.summary().as_text()
    assert all(TESTS[name].min_points <= 2 for name in REPORTED_TESTS)


@pytest.mark.parametrize("ext", ["json", "txt", "tex", "html", "csv"])
def test_cli_single_level(df, tmp_path, capsys, ext):
    path = tmp_path / "firms.csv"
    df.to_csv(path, index=False)
    out = tmp_path / f"res.{ext}"
    rc = main(["fit", str(path), "--formula", "wage ~ revenue", "--unit", "firm", "--cutoff", "1",
               "--bandwidth", "0.4", "--quantiles", "0.5", "--n-boot", "99", "--seed", "2", "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert SKIP_NOTE in " ".join(captured.out.split())
    text = out.read_text()
    if ext == "json":
        d = json.loads(text)
        assert d["tests"]["homogeneity"] is None and np.isfinite(d["tests"]["nullity"]["pvalue"])
    elif ext != "csv":
        assert "homogeneity" in text


def test_direct_test_on_one_level_names_the_test():
    from r3d.bootstrap import homogeneity_test

    with pytest.raises(ValueError, match="at least 2 points for the homogeneity test"):
        homogeneity_test(np.zeros(1), np.zeros((99, 1)), np.array([0.5]))


def test_bootstrap_draws_names_a_bad_rng():
    from r3d.bootstrap import bootstrap_draws

    with pytest.raises((TypeError, ValueError), match="`rng`"):
        bootstrap_draws(np.ones((5, 2)), n_boot=9, rng="seed")
