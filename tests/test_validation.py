"""Bad input is refused with a message naming the argument (issue 7's list), and nothing the user
passes is modified."""

import warnings

import numpy as np
import pandas as pd
import pytest

import r3d

#: Units with a handful of draws on a fine grid: the few-draws diagnostic is expected here and is
#: tested in tests/test_fewdraws.py.
pytestmark = pytest.mark.filterwarnings("ignore::r3d.FewDrawsWarning")


@pytest.fixture
def long_df():
    rng = np.random.default_rng(11)
    n = 80
    x = rng.uniform(-1, 1, n)
    sizes = rng.integers(3, 10, n)
    unit = np.repeat(np.arange(n), sizes)
    return pd.DataFrame({"unit": unit, "x": x[unit], "y": x[unit] + (x[unit] >= 0) + rng.normal(size=unit.size),
                         "w": rng.uniform(0.5, 2, unit.size)})


def test_wrong_shapes_and_types(long_df):
    y, x, u = long_df["y"].to_numpy(), long_df["x"].to_numpy(), long_df["unit"].to_numpy()
    with pytest.raises(ValueError, match=r"`outcome`.*1-dimensional"):
        r3d.R3D(np.c_[y, y], x, u)
    with pytest.raises(TypeError, match=r"`running`.*numeric"):
        r3d.R3D(y, np.array(["a"] * y.size, dtype=object), u)
    with pytest.raises(ValueError, match=r"`running`.*length"):
        r3d.R3D(y, x[:-1], u)
    with pytest.raises(TypeError, match="`outcome`"):
        r3d.R3D(3.0, x, u)
    with pytest.raises(TypeError, match=r"`data`.*DataFrame"):
        r3d.R3D.from_formula("y ~ x", data={"y": y, "x": x}, unit="unit")


@pytest.mark.parametrize("bad", [[0.5, 0.5], [0.2, 0.1], [0.0, 0.5], [0.5, 1.0], [np.nan, 0.5], [], 0])
def test_bad_quantile_grids(long_df, bad):
    mod = r3d.R3D.from_formula("y ~ x", data=long_df, unit="unit")
    with pytest.raises((ValueError, TypeError), match="`quantiles`"):
        mod.fit(quantiles=bad, bandwidth=0.6, n_boot=0)


@pytest.mark.parametrize("h", [0.0, -0.3, np.nan, np.inf, "0.5"])
def test_bad_bandwidths(long_df, h):
    mod = r3d.R3D.from_formula("y ~ x", data=long_df, unit="unit")
    with pytest.raises((ValueError, TypeError), match="`bandwidth`"):
        mod.fit(bandwidth=h, n_boot=0)


def test_unit_with_all_zero_weights_is_dropped_and_counted(long_df):
    df = long_df.copy()
    df.loc[df["unit"] == 4, "w"] = 0.0
    with pytest.warns(r3d.DroppedDataWarning, match="draw\\(s\\) dropped"), \
            pytest.warns(r3d.DroppedDataWarning, match="1 unit"):
        mod = r3d.R3D.from_formula("y ~ x", data=df, unit="unit", weights="w")
    assert mod.n_dropped_units == 1 and mod.n_dropped_draws == int((long_df["unit"] == 4).sum())


def test_quantile_method_with_weights_must_be_supported(long_df):
    mod = r3d.R3D.from_formula("y ~ x", data=long_df, unit="unit", weights="w")
    with pytest.raises(ValueError, match="`quantile_method`"):
        mod.fit(quantile_method="hazen", bandwidth=0.6, n_boot=0)
    mod.fit(quantile_method="inverted_cdf", bandwidth=0.6, n_boot=0, quantiles=5)


def test_quantile_method_cannot_change_after_from_quantiles():
    q = np.array([0.25, 0.5, 0.75])
    x = np.linspace(-1, 1, 40)
    Q = np.add.outer(x + (x >= 0), np.array([-1.0, 0.0, 1.0]))
    mod = r3d.R3D.from_quantiles(Q, x, q)
    with pytest.raises(ValueError, match="`quantile_method`"):
        mod.fit(quantile_method="inverted_cdf", bandwidth=0.8, n_boot=0)


def test_inputs_are_never_modified(long_df):
    before = long_df.copy(deep=True)
    mod = r3d.R3D.from_formula("y ~ x", data=long_df, unit="unit", weights="w")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        mod.fit(bandwidth=0.6, n_boot=49, alpha=0.1, rng=1, quantiles=5)
    pd.testing.assert_frame_equal(long_df, before)
    q = np.array([0.25, 0.5, 0.75])
    x = np.linspace(-1, 1, 40)
    Q = np.add.outer(x + (x >= 0), np.array([-1.0, 0.0, 1.0]))
    Q0, x0, q0 = Q.copy(), x.copy(), q.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        r3d.R3D.from_quantiles(Q, x, q).fit(bandwidth=0.8, n_boot=0, method="simple")
    np.testing.assert_array_equal(Q, Q0)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(q, q0)
    h = np.full(3, 0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        r3d.R3D.from_quantiles(Q, x, q).fit(bandwidth=h, n_boot=0, method="simple")
    np.testing.assert_array_equal(h, np.full(3, 0.8))
