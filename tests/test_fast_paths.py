"""Shortcuts taken for speed give exactly what the general route gives."""

import numpy as np
import pandas as pd
import pytest

import r3d
from r3d import bandwidth as bw
from r3d import formula as fm
from r3d.data import _codes, _first_rows


def _frame(rng, n=200):
    df = pd.DataFrame({
        "y": rng.standard_normal(n),
        "x_int": rng.integers(-5, 5, n),
        "x32": rng.standard_normal(n).astype(np.float32),
        "x_u": rng.integers(0, 9, n).astype(np.uint16),
        "flag": rng.random(n) < 0.5,
        "nullable": pd.array(rng.integers(0, 9, n), dtype="Int64"),
    })
    df.loc[::7, "y"] = np.nan
    return df


@pytest.mark.parametrize("formula", ["y ~ x_int", "y~x32", "  x32 ~ x_u ", "x_int ~ y", "y ~ y"])
def test_plain_formula_equals_formulaic(formula, monkeypatch):
    df = _frame(np.random.default_rng(1))
    fast = fm.parse_formula(formula, df)
    assert fm._plain_columns(formula, df) is not None  # the shortcut was taken
    monkeypatch.setattr(fm, "_plain_columns", lambda f, d: None)
    slow = fm.parse_formula(formula, df)
    np.testing.assert_array_equal(fast.outcome, slow.outcome)  # NaN in the same places
    np.testing.assert_array_equal(fast.running, slow.running)
    assert fast.outcome.dtype == slow.outcome.dtype == np.float64
    assert (fast.outcome_name, fast.running_name) == (slow.outcome_name, slow.running_name)


@pytest.mark.parametrize("formula", ["y ~ flag", "y ~ nullable", "np.log(x_u + 1) ~ x_int", "y ~ x_int - 1",
                                     "y ~ missing", "y ~ I(x_int)"])
def test_other_formulas_go_to_formulaic(formula):
    assert fm._plain_columns(formula, _frame(np.random.default_rng(2))) is None


def test_duplicated_column_names_go_to_formulaic():
    df = pd.DataFrame(np.ones((3, 3)), columns=["y", "x", "x"])
    assert fm._plain_columns("y ~ x", df) is None


def test_plain_formula_copies_the_columns():
    df = _frame(np.random.default_rng(3))
    cols = fm.parse_formula("y ~ x32", df)
    cols.outcome[:] = 0.0
    assert df["y"].abs().sum() > 0


@pytest.mark.parametrize("ids", [np.repeat([5, 3, 9, 1], [3, 1, 2, 4]), np.array(list("bbacabcc")),
                                 np.array([7]), np.array([2, 1, 2, 1, 3, 3, 0])])
def test_first_rows_in_one_pass_equal_unique(ids):
    codes, _ = _codes("unit", ids)
    first = _first_rows(codes)
    _, expected = np.unique(codes, return_index=True)
    np.testing.assert_array_equal(first, expected)


def test_bandwidth_window_changes_nothing(monkeypatch):
    """The local fits of the selector on the in-window rows give the same bits as on all rows."""
    df = r3d.datasets.simulate_firms(n_firms=400, rng=4)
    mod = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")
    x = mod.running.to_numpy()
    Q = mod.unit_quantiles(quantiles=15).to_numpy()
    grid = np.arange(1, 16) / 16
    for rule in ("imse", "mse"):
        fast = bw.select_bandwidths(x, Q, grid, cutoff=1.0, rule=rule)
        with monkeypatch.context() as mp:
            mp.setattr(bw, "_window", lambda x, Y, **kw: (x, Y))
            slow = bw.select_bandwidths(x, Q, grid, cutoff=1.0, rule=rule)
        for name in ("h", "h0", "b", "sigma2_plus", "sigma2_minus", "deriv_plus", "deriv_minus",
                     "deriv_var_plus", "deriv_var_minus"):
            assert np.array_equal(getattr(fast.steps, name), getattr(slow.steps, name)), name
