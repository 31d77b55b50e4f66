"""The few-draws diagnostic (r3d/fewdraws.py, issue 20 item 2): counts of in-window units whose draws
do not resolve a grid level, the affected levels, the one warning per fit, and where the results keep it.

The constructed data: 60 units at x = +-(k + 0.5)/30, k = 0..29, so a bandwidth of 0.5 gives positive
(triangular) kernel weight to exactly the 15 units a side with k <= 14 (|x| < 0.5): 30 in-window units.
Units outside the window have 2 draws (unresolved at every level), so every count below is of
in-window units only.
"""

import dataclasses
import json
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import r3d
from r3d.fewdraws import FEW_DRAWS_SHARE, count_few_draws, describe_levels

H = 0.5
GRID = np.array([0.1, 0.2, 0.5, 0.8, 0.9])
N_IN_WINDOW = 30


def _positions() -> tuple[np.ndarray, np.ndarray]:
    k = np.arange(30)
    x = np.concatenate([-(k + 0.5) / 30, (k + 0.5) / 30])
    return x, np.abs(x) < H


def _model(n_in: np.ndarray, *, n_out: int = 2, rng: int = 0, weights: bool = False) -> r3d.R3D:
    """Units inside the window get the draw counts ``n_in`` (30,), in the order left k = 0..14, right
    k = 0..14; units outside get ``n_out`` draws."""
    x, inside = _positions()
    counts = np.full(x.size, n_out)
    counts[np.flatnonzero(inside)] = n_in
    gen = np.random.default_rng(rng)
    samples = [5 + x_i + gen.standard_normal(c) for x_i, c in zip(x, counts, strict=True)]
    w = [np.ones(c) for c in counts] if weights else None
    return r3d.R3D.from_samples(samples, x, cutoff=0.0, weights=w)


def _fit(mod: r3d.R3D, grid=GRID, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = mod.fit(bandwidth=kw.pop("bandwidth", H), quantiles=grid, n_boot=0, **kw)
    few = [w for w in caught if issubclass(w.category, r3d.FewDrawsWarning)]
    return res, few


def _counts(n_few: int, few: int = 5, many: int = 40) -> np.ndarray:
    """30 in-window draw counts: ``n_few`` units with ``few`` draws (alternating sides), the rest ``many``."""
    n = np.full(N_IN_WINDOW, many)
    n[np.r_[0:15:2, 15:30:2][:n_few]] = few
    return n


def test_counts_and_affected_levels_by_hand():
    # 4 of the 30 in-window units have 5 draws: unresolved at q = 0.1 and 0.9 (5 < 10); q = 0.2 and 0.8
    # are resolved exactly (5 * 0.2 = 1); 4/30 > 10%.
    res, few = _fit(_model(_counts(4)))
    fd = res.few_draws
    assert fd.threshold == FEW_DRAWS_SHARE
    np.testing.assert_array_equal(fd.quantiles, GRID)
    np.testing.assert_array_equal(fd.n_in_window, [30] * 5)
    np.testing.assert_array_equal(fd.n_unresolved, [4, 0, 0, 0, 4])
    np.testing.assert_array_equal(fd.affected, [0.1, 0.9])
    assert len(few) == 1
    text = str(few[0].message)
    assert "at q = 0.1, 4 of the 30 units inside the bandwidth window have fewer than 1/0.1 = 10 draws" in text
    assert "q <= 0.1 and q >= 0.9 (2 levels)" in text
    assert "expected empirical quantile" in text and "median_unbiased" in text and "docs/few_draws.md" in text
    assert few[0].filename == __file__  # raised at the user's line


def test_the_most_extreme_level_is_named():
    # 8 units with 4 draws: unresolved at 0.1, 0.2, 0.8, 0.9 (4 * 0.2 < 1); the message names q = 0.1.
    res, few = _fit(_model(_counts(8, few=4)))
    np.testing.assert_array_equal(res.few_draws.n_unresolved, [8, 8, 0, 8, 8])
    assert "at q = 0.1, 8 of the 30 units" in str(few[0].message)
    assert "q <= 0.2 and q >= 0.8 (4 levels)" in str(few[0].message)


def test_threshold_boundary_is_not_affected():
    # 3 of 30 is exactly 10%: not more than the threshold, so no level is affected and nothing is warned.
    res, few = _fit(_model(_counts(3)))
    np.testing.assert_array_equal(res.few_draws.n_unresolved, [3, 0, 0, 0, 3])
    assert res.few_draws.affected.size == 0 and not res.few_draws.any
    assert few == []
    assert not any("Few draws" in n for n in res.notes)


def test_no_warning_when_every_in_window_unit_resolves_the_grid():
    # Units outside the window have 2 draws (unresolved everywhere) and do not count.
    res, few = _fit(_model(np.full(N_IN_WINDOW, 10), n_out=2))
    assert few == [] and not res.few_draws.any
    np.testing.assert_array_equal(res.few_draws.n_unresolved, [0] * 5)
    np.testing.assert_array_equal(res.few_draws.n_in_window, [30] * 5)
    # the same model at a bandwidth whose window takes in the 2-draw units warns
    res_wide, few_wide = _fit(_model(np.full(N_IN_WINDOW, 10), n_out=2), bandwidth=2.0)
    np.testing.assert_array_equal(res_wide.few_draws.n_in_window, [60] * 5)
    np.testing.assert_array_equal(res_wide.few_draws.n_unresolved, [30, 30, 0, 30, 30])  # 2 draws resolve q = 0.5
    assert len(few_wide) == 1


def test_rounded_grid_levels_count_exact_resolution():
    # 20 draws resolve 0.05 and 0.95 = 19/20 (1 - 0.95 is 0.050000000000000044 in floating point).
    res, few = _fit(_model(np.full(N_IN_WINDOW, 20)), grid=np.arange(1, 20) / 20)
    assert few == [] and res.few_draws.n_unresolved.sum() == 0
    res, few = _fit(_model(np.full(N_IN_WINDOW, 19)), grid=np.arange(1, 20) / 20)
    np.testing.assert_array_equal(res.few_draws.affected, [0.05, 0.95])


def test_per_quantile_bandwidths_use_each_levels_window():
    # simple method, one bandwidth per level: at q = 0.1 a narrow window (|x| < 0.3: k <= 8, 18 units),
    # at q = 0.9 the window of 0.5 (30 units). 5-draw units at k = 10, 12, 14 on each side (6 units) lie
    # outside the narrow window.
    n = np.full(N_IN_WINDOW, 40)
    n[[10, 12, 14, 25, 27, 29]] = 5
    h = np.array([0.3, H, H, H, H])
    res, few = _fit(_model(n), method="simple", bandwidth=h)
    np.testing.assert_array_equal(res.few_draws.n_in_window, [18, 30, 30, 30, 30])
    np.testing.assert_array_equal(res.few_draws.n_unresolved, [0, 0, 0, 0, 6])
    np.testing.assert_array_equal(res.few_draws.affected, [0.9])
    assert "q >= 0.9 (1 level)" in str(few[0].message)


def test_results_summary_and_to_dict_keep_it():
    res, _ = _fit(_model(_counts(4)))
    assert res.few_draws is res.data.few_draws
    note = [n for n in res.notes if n.startswith("Few draws per unit")]
    assert len(note) == 1
    assert note[0] in str(res.summary()).replace("\n", " ") or "Few draws per unit" in str(res.summary())
    d = res.to_dict()
    assert d["data"]["few_draws"] == {"threshold": 0.1, "n_in_window": [30] * 5, "n_unresolved": [4, 0, 0, 0, 4],
                                      "affected": [0.1, 0.9]}
    json.dumps(d)
    assert "few draws at=q <= 0.1 and q >= 0.9 (2 levels)" in repr(res.data)
    # unaffected: no key, no note, nothing in the repr
    ok, _ = _fit(_model(np.full(N_IN_WINDOW, 40)))
    assert "few_draws" not in ok.to_dict()["data"]
    assert "few draws" not in repr(ok.data)
    assert "no level affected" in repr(ok.few_draws)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ok.few_draws.threshold = 0.2
    with pytest.raises(ValueError):
        ok.few_draws.n_unresolved[0] = 1


def test_advice_follows_the_quantile_method():
    _, few = _fit(_model(_counts(4)), quantile_method="median_unbiased")
    text = str(few[0].message)
    assert "Trim the grid to levels the draws resolve (fit(quantiles=...)) and read the tails with care" in text
    assert "Use quantile_method" not in text


def test_one_warning_per_fit_and_the_class_is_exported():
    assert issubclass(r3d.FewDrawsWarning, r3d.R3DWarning) and "FewDrawsWarning" in r3d.__all__
    _, few = _fit(_model(_counts(10, few=2)), grid=np.arange(1, 10) / 10)
    assert len(few) == 1


def test_weighted_units_count_rows_with_positive_weight():
    # Within-unit weights do not change n_i: the counts equal the unweighted model's.
    a, _ = _fit(_model(_counts(4), weights=True))
    b, _ = _fit(_model(_counts(4)))
    np.testing.assert_array_equal(a.few_draws.n_unresolved, b.few_draws.n_unresolved)
    # a row with weight 0 is dropped (counted and warned about) and not counted as a draw
    x, inside = _positions()
    samples = [np.arange(10.0) + x_i for x_i in x]
    w = [np.ones(10) for _ in x]
    for i in np.flatnonzero(inside)[:4]:
        w[i][0] = 0.0  # these 4 in-window units keep 9 draws: unresolved at 0.1 and 0.9
    with pytest.warns(r3d.DroppedDataWarning, match="4 with a zero or missing weight"):
        mod = r3d.R3D.from_samples(samples, x, cutoff=0.0, weights=w)
    res, few = _fit(mod)
    np.testing.assert_array_equal(res.few_draws.n_unresolved, [4, 0, 0, 0, 4])
    assert len(few) == 1


def test_single_draw_units_and_models_from_quantiles():
    # every unit with one draw: the point-mass warning says it; no few-draws warning, the counts are kept
    x, _ = _positions()
    gen = np.random.default_rng(3)
    with pytest.warns(r3d.PointMassWarning):
        mod = r3d.R3D.from_samples([gen.standard_normal(1) + x_i for x_i in x], x, cutoff=0.0)
    res, few = _fit(mod)
    assert few == []
    np.testing.assert_array_equal(res.few_draws.n_unresolved, [30] * 5)
    # from quantiles: no draw counts, no diagnostic
    Q = np.sort(gen.standard_normal((x.size, GRID.size)), axis=1) + x[:, None]
    res, few = _fit(r3d.R3D.from_quantiles(Q, x, GRID, cutoff=0.0))
    assert res.few_draws is None and few == []
    assert "few_draws" not in res.to_dict()["data"]


def test_donut_fits_count_the_units_left():
    # the donut leaves out |x| < 0.1 (k <= 2: 6 units); two of the 5-draw units (k = 0 on each side) go
    res, _ = _fit(_model(_counts(4)), donut=0.1)
    np.testing.assert_array_equal(res.few_draws.n_in_window, [24] * 5)
    np.testing.assert_array_equal(res.few_draws.n_unresolved, [2, 0, 0, 0, 2])


def test_count_function_directly():
    kw_plus = np.array([[1.0], [0.5], [0.0], [0.0]])
    kw_minus = np.array([[0.0], [0.0], [0.2], [0.0]])
    fd = count_few_draws(np.array([3, 50, 9, 1]), np.array([0.05, 0.2, 0.5]), kw_plus, kw_minus)
    np.testing.assert_array_equal(fd.n_in_window, [3, 3, 3])
    np.testing.assert_array_equal(fd.n_unresolved, [2, 1, 0])  # 3 < 20 and 9 < 20; 3 < 5
    np.testing.assert_array_equal(fd.affected, [0.05, 0.2])


def test_describe_levels():
    grid = np.arange(1, 100) / 100
    affected = np.r_[grid[:4], grid[-4:]]
    assert describe_levels(grid, affected) == "q <= 0.04 and q >= 0.96 (8 levels)"
    assert describe_levels(grid, grid[:1]) == "q <= 0.01 (1 level)"
    assert describe_levels(grid, np.array([0.02, 0.03])) == "q = 0.02, 0.03 (2 levels)"


def test_quickstart_does_not_warn():
    # examples/quickstart.py and `r3d demo`: 20-80 workers a firm on the 19 levels 0.05, ..., 0.95
    from r3d.cli import demo

    with warnings.catch_warnings():
        warnings.simplefilter("error", r3d.FewDrawsWarning)
        res = demo(n_boot=0)
    assert not res.few_draws.any


def test_command_line_shows_it_on_stderr(tmp_path, capsys):
    from r3d.cli import main

    df = r3d.datasets.simulate_firms(n_firms=200, n_workers=(10, 25), rng=21)
    df.to_csv(tmp_path / "firms.csv", index=False)
    rc = main(["fit", str(tmp_path / "firms.csv"), "--formula", "wage ~ revenue", "--unit", "firm", "--cutoff", "1",
               "--bandwidth", "0.4", "--quantiles", "0.05,0.25,0.5,0.75,0.95", "--n-boot", "0"])
    captured = capsys.readouterr()
    assert rc == 0
    assert "r3d: warning: Few draws per unit: at q = 0.05" in captured.err


@pytest.mark.skipif(sys.version_info < (3, 10), reason="zip(strict=True)")
def test_out_of_core_models_keep_the_draw_counts(tmp_path):
    pytest.importorskip("duckdb")
    df = r3d.datasets.simulate_firms(n_firms=150, n_workers=(5, 30), rng=4)
    df.to_parquet(tmp_path / "f.parquet")
    grid = [0.1, 0.25, 0.5, 0.75, 0.9]
    mem = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")
    ooc = r3d.R3D.from_parquet(tmp_path / "f.parquet", "wage ~ revenue", unit="firm", cutoff=1.0, quantiles=grid)
    a, fa = _fit(mem, grid=grid)
    b, fb = _fit(ooc, grid=grid)
    np.testing.assert_array_equal(a.few_draws.n_unresolved, b.few_draws.n_unresolved)
    assert a.few_draws.any and len(fa) == len(fb) == 1
    assert pd.Index(mem.unit_ids).equals(pd.Index(ooc.unit_ids))
