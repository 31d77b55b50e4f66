"""Outcomes without variation near the cutoff (issue 13): rounding noise is no effect.

A constant outcome used to give tau ~ 5e-17 with se ~ 4e-17 and p = 0.15 (0.03 on other data):
noise reported as an effect. Now the limits of a level where the unit quantiles take one value
(to rounding) on a side are that value exactly, tau is their difference (exactly 0 when equal,
with se 0 and p = 1), and a DegenerateOutcomeWarning says so (also in ``res.notes``).
"""

import warnings

import numpy as np
import pytest

import r3d
from r3d.estimators import ROUNDING_EPS, DegenerateOutcomeWarning

GRID = np.arange(1, 10) / 10
N_UNITS, DRAWS = 150, 40


def _design(seed=1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, N_UNITS)
    unit = np.repeat(np.arange(N_UNITS), DRAWS)
    xd = x[unit]
    noise = 1 + xd + 0.5 * (xd >= 0) + rng.gamma(2, 1, size=unit.size)
    return rng, xd, unit, noise


def _fit(y, x, unit, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = r3d.R3D(y, x, unit).fit(quantiles=GRID, n_boot=199, rng=0, **kw)
    return res, [w for w in caught if issubclass(w.category, DegenerateOutcomeWarning)]


METHODS_BANDS = [("frechet", "uniform"), ("simple", "uniform"), ("frechet", "studentized"),
                 ("simple", "studentized")]


@pytest.mark.parametrize(("method", "band"), METHODS_BANDS)
@pytest.mark.parametrize("rounding", [False, True])
def test_constant_outcome_is_an_exact_zero_that_no_test_rejects(method, band, rounding):
    rng, x, unit, _ = _design()
    y = np.full(unit.size, 0.3)
    if rounding:  # values one ulp apart, as floating-point arithmetic leaves them
        y = y + np.where(rng.uniform(size=y.size) < 0.5, 0.0, np.spacing(0.3))
    res, caught = _fit(y, x, unit, method=method, band=band)
    assert np.all(res.params == 0.0)
    assert np.all(res.bse == 0.0)
    assert np.all(res.pvalues == 1.0)
    assert res.nullity_test().pvalue == 1.0
    assert res.homogeneity_test().pvalue == 1.0
    assert res.average_effect.estimate == 0.0 and res.average_effect.pvalue == 1.0
    band_ = res.conf_int(kind="uniform")
    assert np.all(band_["lower"] == 0.0) and np.all(band_["upper"] == 0.0)
    assert np.all(res.limits["left"] == res.limits["right"])
    assert len(caught) == 1 and "does not vary" in str(caught[0].message)
    assert any("does not vary" in n for n in res.notes)
    assert "does not vary" in str(res.summary())


@pytest.mark.parametrize(("method", "band"), METHODS_BANDS[:2])
def test_pure_jump_is_exact_with_zero_standard_error(method, band):
    """Constant within each side, different across: a real effect known without sampling error."""
    _, x, unit, _ = _design()
    y = np.where(x >= 0, 0.7, 0.3)
    res, caught = _fit(y, x, unit, method=method, band=band)
    assert np.all(res.params == 0.7 - 0.3)
    assert np.all(res.limits["right"] == 0.7) and np.all(res.limits["left"] == 0.3)
    assert np.all(res.bse == 0.0)
    assert np.all(res.pvalues == 0.0)
    assert res.nullity_test().reject
    assert len(caught) == 1 and "single value" in str(caught[0].message)


@pytest.mark.parametrize("method", ["frechet", "simple"])
@pytest.mark.parametrize("jump", [0.0, 0.1])
def test_outcome_constant_at_some_levels_only(method, jump):
    """60% of every unit's draws equal one value (a mass point, e.g. a minimum wage): the levels
    0.1..0.5 take one value on each side; the others are estimated as usual."""
    _, x, unit, noise = _design()
    mass = np.tile(np.arange(DRAWS) < 24, N_UNITS)
    y = np.where(mass, 0.3 + jump * (x >= 0), noise + 1.0)
    res, caught = _fit(y, x, unit, method=method)
    flat = GRID <= 0.5
    assert np.all(res.params[flat] == (0.3 + jump) - 0.3)
    if method == "simple":  # frechet's residuals come from projected curves: tiny, not exactly 0
        assert np.all(res.bse[flat] == 0.0)
    if jump == 0.0:
        assert np.all(res.pvalues[flat] == 1.0)
        assert res.nullity_test(ranges=(0.1, 0.5)).pvalue == 1.0
    else:
        assert np.all(res.pvalues[flat] == 0.0)
    assert np.all(res.bse[~flat] > 0.01)
    assert len(caught) == 1 and "0.1, 0.2, 0.3, 0.4, 0.5" in str(caught[0].message)


def test_varying_outcome_is_not_flagged():
    """A genuine spread of ~50 ulps (1e15 + N(0, 1)) is variation, not rounding."""
    rng, x, unit, _ = _design()
    y = 1e15 + rng.normal(size=unit.size)  # 1e15 has an ulp of 0.125
    _, caught = _fit(y, x, unit, method="simple", bandwidth=0.8)
    assert not caught
    assert ROUNDING_EPS * np.finfo(float).eps * 1e15 < 1.0  # the tolerance is below one unit here


def test_fuzzy_pure_jump_keeps_the_first_stage_variance():
    """Fuzzy: tau = N / D with N exact; its variance is the first stage's (delta method), not 0."""
    rng, x, unit, _ = _design()
    xu = x[::DRAWS]
    t = ((xu >= 0) ^ (rng.uniform(size=xu.size) < 0.2)).astype(float)[unit]
    y = np.where(x >= 0, 0.7, 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        res = r3d.R3D(y, x, unit, treatment=t).fit(quantiles=GRID, n_boot=0)
    assert np.all(res.bse > 0)
    np.testing.assert_allclose(res.params, 0.4 / res.first_stage.jump, rtol=1e-12)


def test_studentized_band_without_any_variation_is_tau_itself():
    from r3d.bootstrap import uniform_band

    tau = np.array([0.0, 0.4, 0.4])
    band = uniform_band(tau, np.zeros((99, 3)), band="studentized", se=np.zeros(3))
    assert band.critical_value == 0.0
    assert np.array_equal(band.lower, tau) and np.array_equal(band.upper, tau)
    with pytest.raises(ValueError, match="`se` must be positive at one grid point at least"):
        uniform_band(tau, np.ones((99, 3)), band="studentized", se=np.zeros(3))
