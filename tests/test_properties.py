"""Property-based checks of the estimator's invariances on random designs (hypothesis)."""

import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import r3d

# Tolerances: the examples change from run to run, so each keeps >= 100x headroom over the worst
# of 1,040 examples (52 hypothesis seeds); "uses x%" is how much of rtol * |expected| + atol the
# worst element took.
#: Different summation order of the same sums (units permuted and relabelled): rounding only,
#: amplified by the conditioning of the local polynomial system (worst uses 0.6%).
RTOL_REORDER = 1e-11
ATOL_REORDER = 1e-12
#: a + b Y: the same sums of scaled numbers; the absolute part scales with b (worst uses 0.9%).
RTOL_AFFINE = 1e-10
ATOL_AFFINE_PER_B = 1e-11
#: X + s with cutoff + s, |s| <= 1e3: X loses up to |s| ulps, so the fits move by an absolute
#: ~1e-12 (measured 2.2e-12; worst uses 0.9%).
RTOL_SHIFT = 1e-9
ATOL_SHIFT = 1e-10
#: Take-up equal to the side makes the fuzzy fit the sharp one divided by a first stage of 1
#: (measured 2.4e-15 relative, 7.1e-15 absolute; worst uses 0.2%).
RTOL_PERFECT_TAKEUP = 1e-12
ATOL_PERFECT_TAKEUP = 1e-13
#: Units outside the bandwidth get weight 0: equal bit for bit (measured 0).
RTOL_UNCHANGED = 1e-14
ATOL_UNCHANGED = 1e-14

SETTINGS = dict(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GRID = np.arange(1, 10) / 10  # symmetric: q and 1 - q both on the grid


@st.composite
def designs(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(40, 90))
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    x[:3] = [-0.9, 0.0, 0.9]  # a unit exactly at the cutoff (treated side)
    sizes = rng.integers(1, 9, n)
    unit = np.repeat(np.arange(n), sizes)
    effect = draw(st.floats(-2, 2))
    y = 1 + x[unit] + effect * (x[unit] >= 0) + rng.gamma(2.0, 1.0, unit.size) * (1 + 0.5 * (x[unit] >= 0))
    return pd.DataFrame({"unit": unit, "x": x[unit], "y": y}), seed


def _fit(df, *, method="frechet", h=0.8, y="y", x="x", unit="unit", cutoff=0.0, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        mod = r3d.R3D(df[y], df[x], df[unit], cutoff=cutoff, **kw)
        return mod.fit(method=method, bandwidth=h, quantiles=GRID, n_boot=0)


@settings(**SETTINGS)
@given(designs(), st.sampled_from(["frechet", "simple"]))
def test_row_order_and_unit_labels_do_not_matter(design, method):
    df, seed = design
    base = _fit(df, method=method)
    rng = np.random.default_rng(seed + 1)
    perm = rng.permutation(len(df))
    relabel = {u: f"u{v}" for u, v in zip(df["unit"].unique(), rng.permutation(df["unit"].nunique()), strict=True)}
    shuffled = df.iloc[perm].assign(unit=lambda d: d["unit"].map(relabel))
    other = _fit(shuffled, method=method)
    np.testing.assert_allclose(other.params, base.params, rtol=RTOL_REORDER, atol=ATOL_REORDER)
    np.testing.assert_allclose(other.bse, base.bse, rtol=RTOL_REORDER, atol=ATOL_REORDER)


@settings(**SETTINGS)
@given(designs(), st.floats(-5, 5), st.floats(0.1, 10))
def test_affine_equivariance(design, a, b):
    df, _ = design
    base = _fit(df)
    moved = _fit(df.assign(y2=a + b * df["y"]), y="y2")
    np.testing.assert_allclose(moved.params, b * base.params, rtol=RTOL_AFFINE, atol=ATOL_AFFINE_PER_B * b)
    np.testing.assert_allclose(moved.bse, b * base.bse, rtol=RTOL_AFFINE, atol=ATOL_AFFINE_PER_B * b)
    # b < 0 reverses the quantile order (Fréchet, type-7 quantiles are symmetric)
    flipped = _fit(df.assign(y3=a - b * df["y"]), y="y3")
    np.testing.assert_allclose(flipped.params.to_numpy(), -b * base.params.to_numpy()[::-1], rtol=RTOL_AFFINE,
                               atol=ATOL_AFFINE_PER_B * b)


@settings(**SETTINGS)
@given(designs(), st.floats(-1e3, 1e3))
def test_shifting_running_variable_and_cutoff_together(design, shift):
    df, _ = design
    base = _fit(df, method="simple")
    moved = _fit(df.assign(x2=df["x"] + shift), x="x2", cutoff=shift, method="simple")
    # units exactly at the cutoff must stay on the treated side after the shift
    if ((df["x"] + shift >= shift) != (df["x"] >= 0)).any():
        return
    np.testing.assert_allclose(moved.params, base.params, rtol=RTOL_SHIFT, atol=ATOL_SHIFT)


@settings(**SETTINGS)
@given(designs())
def test_fuzzy_with_takeup_equal_to_the_side_is_sharp(design):
    df, _ = design
    sharp = _fit(df)
    fuzzy = _fit(df.assign(t=(df["x"] >= 0).astype(int)), treatment=df["x"].ge(0).astype(int))
    np.testing.assert_allclose(fuzzy.params, sharp.params, rtol=RTOL_PERFECT_TAKEUP, atol=ATOL_PERFECT_TAKEUP)
    np.testing.assert_allclose(fuzzy.bse, sharp.bse, rtol=RTOL_PERFECT_TAKEUP, atol=ATOL_PERFECT_TAKEUP)


@settings(**SETTINGS)
@given(designs(), st.sampled_from(["frechet", "simple"]))
def test_monotone_limits(design, method):
    res = _fit(design[0], method=method)
    for col in ("left", "right"):
        assert np.all(np.diff(res.limits[col].to_numpy()) >= 0)


@settings(**SETTINGS)
@given(designs(), st.integers(1, 30))
def test_units_outside_the_bandwidth_change_nothing(design, n_far):
    df, seed = design
    h = 0.6
    try:
        base = _fit(df, h=h)
    except r3d.InsufficientDataError:
        # a rare draw leaves fewer than order + 1 units within h on a side (a refusal, tested
        # elsewhere); the property is about the units outside h
        assume(False)
    rng = np.random.default_rng(seed + 2)
    far_x = np.concatenate([rng.uniform(-50, -1.01, n_far), rng.uniform(1.01, 50, n_far)])
    far = pd.DataFrame({"unit": np.repeat(np.arange(10_000, 10_000 + far_x.size), 3),
                        "x": np.repeat(far_x, 3), "y": rng.normal(100, 50, 3 * far_x.size)})
    more = _fit(pd.concat([df, far], ignore_index=True), h=h)
    np.testing.assert_allclose(more.params, base.params, rtol=RTOL_UNCHANGED, atol=ATOL_UNCHANGED)
    np.testing.assert_allclose(more.bse, base.bse, rtol=RTOL_UNCHANGED, atol=ATOL_UNCHANGED)
    assert more.nobs == base.nobs + far_x.size
