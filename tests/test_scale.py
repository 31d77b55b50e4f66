"""Outcomes of any magnitude (issue 13): inference and the bandwidth selector are equivariant to the
outcome's unit, from 1e-250 to 1e250, instead of squaring unscaled terms into inf or 0."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import r3d
from r3d.bandwidth import _SCALE_POWERS, select_bandwidths
from r3d.bootstrap import _variance_and_se, pointwise_variance

#: Outcome (y + a) 10^k against y, k in [-250, 250], |a| <= 10: params, bse and band limits agree
#: to rounding relative to the curve's largest value (measured 2.4e-14 for params, 4.1e-15 for bse,
#: 8.9e-15 for the band over 288 fits; the shift a costs up to log10(|a| / |y|) digits).
RTOL_SCALE = 1e-12
#: The selected bandwidth under a rescaling by 10^k (rounding of the scaled outcome only; measured
#: 4e-16 relative).
RTOL_SCALE_H = 1e-13

SETTINGS = dict(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GRID = np.arange(1, 10) / 10


def _design(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(40, 90))
    x = rng.uniform(-1, 1, n)
    x[:3] = [-0.9, 0.0, 0.9]
    unit = np.repeat(np.arange(n), rng.integers(1, 9, n))
    effect = rng.uniform(-2, 2)
    y = 1 + x[unit] + effect * (x[unit] >= 0) + rng.gamma(2.0, 1.0, unit.size) * (1 + 0.5 * (x[unit] >= 0))
    return y, x[unit], unit


def _fit(y, x, unit, *, method="frechet", bandwidth="auto", n_boot=99, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        return r3d.R3D(y, x, unit, cutoff=0.0).fit(method=method, bandwidth=bandwidth, quantiles=GRID,
                                                    n_boot=n_boot, rng=3, **kw)


def _close(scaled, base, factor):
    base = np.asarray(base, dtype=float)
    np.testing.assert_allclose(np.asarray(scaled, dtype=float) / factor, base, rtol=0,
                               atol=RTOL_SCALE * np.max(np.abs(base)))


@settings(**SETTINGS)
@given(st.integers(0, 2**32 - 1), st.integers(-250, 250), st.floats(-10, 10),
       st.sampled_from(["frechet", "simple"]), st.sampled_from(["auto", 0.8]))
def test_params_bse_band_scale_and_shift_equivariant(seed, k, shift, method, bandwidth):
    y, x, unit = _design(seed)
    c = 10.0**k
    base = _fit(y, x, unit, method=method, bandwidth=bandwidth)
    res = _fit((y + shift) * c, x, unit, method=method, bandwidth=bandwidth)
    _close(res.params, base.params, c)
    _close(res.bse, base.bse, c)
    _close(res.conf_int(), base.conf_int(), c)
    _close(res.conf_int(kind="uniform"), base.conf_int(kind="uniform"), c)
    # the tests do not depend on the unit: p-values to rounding
    np.testing.assert_allclose(res.pvalues, base.pvalues, rtol=0, atol=RTOL_SCALE)
    assert abs(res.nullity_test().pvalue - base.nullity_test().pvalue) <= 1 / 100  # one draw of 99 at most
    np.testing.assert_allclose(res.average_effect.se / c, base.average_effect.se, rtol=RTOL_SCALE)
    if bandwidth == "auto":
        np.testing.assert_allclose(np.atleast_1d(res.bandwidth), np.atleast_1d(base.bandwidth), rtol=RTOL_SCALE_H)


@pytest.mark.parametrize("k", [-300, -250, 250, 300])
@pytest.mark.parametrize("band", ["uniform", "studentized"])
def test_extreme_outcomes_keep_their_standard_errors(k, band):
    """1e300: se was inf (p = 1); 1e-300: se was 0 (p = 0). No RuntimeWarning either (the suite
    turns r3d's into errors)."""
    y, x, unit = _design(5)
    c = 10.0**k
    base = _fit(y, x, unit, band=band)
    res = _fit(y * c, x, unit, band=band)
    assert np.all(np.isfinite(res.bse)) and np.all(res.bse > 0)
    _close(res.bse, base.bse, c)
    np.testing.assert_allclose(res.pvalues, base.pvalues, rtol=0, atol=RTOL_SCALE)
    _close(res.conf_int(kind="uniform"), base.conf_int(kind="uniform"), c)
    assert not any("bias constant is zero" in n for n in res.notes)


def test_first_stage_and_average_effect_at_extreme_scale():
    y, x, unit = _design(7)
    rng = np.random.default_rng(0)
    xu = pd.Series(x).groupby(unit).first().to_numpy()
    t_unit = ((xu >= 0) ^ (rng.uniform(size=xu.size) < 0.2)).astype(float)
    for c in (1.0, 1e-300, 1e300):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", r3d.R3DWarning)
            res = r3d.R3D(y * c, x, unit, treatment=t_unit[unit], cutoff=0.0).fit(quantiles=GRID, n_boot=0)
        if c == 1.0:
            base = res
            continue
        _close(res.params, base.params, c)
        _close(res.bse, base.bse, c)
        np.testing.assert_allclose(res.average_effect.se / c, base.average_effect.se, rtol=RTOL_SCALE)
        assert res.first_stage.se == base.first_stage.se


def test_variance_and_se_are_the_unscaled_sums_for_ordinary_terms():
    """Scaling by powers of two is exact: the same bits as sum(a^2) and its square root."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 7)) * np.logspace(-8, 8, 7)
    a[:, 3] = 0.0
    V, se = _variance_and_se(a)
    ref = np.einsum("gj,gj->j", a, a)
    assert np.array_equal(V, ref)
    assert np.array_equal(se, np.sqrt(ref))
    assert np.array_equal(pointwise_variance(a), ref)


@pytest.mark.parametrize("e", [-1060, -900, 900, 1015])
def test_variance_and_se_beyond_the_range_of_the_variance(e):
    """se scales exactly with a power of two however large or small; the variance itself is inf or 0
    where it is not a double."""
    rng = np.random.default_rng(2)
    a = rng.normal(size=(50, 3))
    _, se0 = _variance_and_se(a)
    V, se = _variance_and_se(np.ldexp(a, e))
    assert np.array_equal(se, np.ldexp(se0, e))
    assert np.all(V == (np.inf if e > 0 else 0.0))


def test_standard_errors_that_overflow_raise():
    a = np.full((10, 2), 1.5e308)
    with pytest.raises(FloatingPointError, match="standard errors overflowed"):
        _variance_and_se(a)


@pytest.mark.parametrize("e", [-1000, -3, 5, 1000])
@pytest.mark.parametrize("rule", ["mse", "imse"])
def test_selector_is_exactly_invariant_to_powers_of_two(e, rule):
    """h does not depend on the outcome's unit (bit for bit under 2^e) and every intermediate scales
    with its power of the unit."""
    y, x, unit = _design(3)
    Q = pd.DataFrame({"u": unit, "y": y}).groupby("u")["y"].quantile(list(GRID)).unstack().to_numpy()
    xu = pd.Series(x).groupby(unit).first().to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        base = select_bandwidths(xu, Q, GRID, cutoff=0.0, rule=rule)
        sel = select_bandwidths(xu, np.ldexp(Q, e), GRID, cutoff=0.0, rule=rule)
    assert np.array_equal(sel.h, base.h)
    assert sel.warnings == base.warnings
    for name, power in _SCALE_POWERS.items():
        with np.errstate(over="ignore", under="ignore"):
            expected = np.ldexp(getattr(base.steps, name), power * e)
        assert np.array_equal(getattr(sel.steps, name), expected), name
    assert not any("bias constant is zero" in w for w in sel.warnings)
