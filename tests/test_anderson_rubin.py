"""Anderson-Rubin (Fieller) sets of fuzzy fits: ``fit(band="anderson-rubin")`` and
``conf_int(kind="anderson-rubin")`` (issue 20, item 3; docs/method.md §5).

Checked against independent computations: the quadratic's roots by ``numpy.roots`` from variances
summed here, the set's defining inequality, the studentized critical value of a ``band="studentized"``
fit with the same seed, and the numerator's influence against the delta method's algebra.
"""

import pathlib
import sys
import warnings

import numpy as np
import pytest
from scipy import stats

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))

import montecarlo_fuzzy as mcf

import r3d

#: Roots of a quadratic with O(1) coefficients from two formulas (numpy.roots' companion matrix
#: eigenvalues and r3d's scaled closed form): they agree to a few 1e-13 here.
RTOL_ROOTS = 1e-9
#: The delta method's algebra a = D a^F + tau b holds to rounding of O(1) influence terms.
ATOL_ALGEBRA = 1e-12
#: Sets of O(1) width from outcomes times 10^k, divided back: scaling by 10^k is not exact, so they
#: differ by rounding (measured 6e-15).
ATOL_SCALE = 1e-12
N_BOOT = 199


def _model(complier=0.6, n=800, seed=3, clusters=False):
    x, Q, t = mcf.simulate(complier, n, np.random.default_rng(seed))
    cl = np.arange(n) // 4 if clusters else None
    return r3d.R3D.from_quantiles(Q, x, mcf.DECILES, treatment=t, cluster=cl)


def _fit(model, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.WeakFirstStageWarning)
        return model.fit(n_boot=N_BOOT, rng=11, **kw)


def _roots(res, crit, codes=None):
    """The set {t : (N - t D)^2 <= crit^2 V(t)} per level by numpy.roots of the quadratic."""
    est = res._est
    a = est.numerator_influence
    b = est.first_stage.influence
    if codes is not None:
        G = codes.max() + 1
        a = np.stack([np.bincount(codes, weights=a[:, j], minlength=G) for j in range(a.shape[1])], axis=1)
        b = np.bincount(codes, weights=b, minlength=G)
    N = est.m_plus - est.m_minus
    D = est.first_stage.jump
    out = []
    for j in range(N.size):
        vaa, vab, vbb = a[:, j] @ a[:, j], a[:, j] @ b, b @ b
        coef = [D * D - crit**2 * vbb, -2 * (N[j] * D - crit**2 * vab), N[j] ** 2 - crit**2 * vaa]
        if coef[0] <= 0:
            out.append((-np.inf, np.inf))
        else:
            r = np.sort(np.roots(coef).real)
            out.append((r[0], r[1]))
    return np.array(out)


def test_numerator_influence_is_the_delta_methods_input():
    res = _fit(_model())
    est = res._est
    fs = est.first_stage
    tau, D = est.tau, fs.jump
    a = est.numerator_influence
    assert a.shape == est.influence.shape
    np.testing.assert_allclose(D * est.influence + fs.influence[:, None] * tau[None, :], a, rtol=0, atol=ATOL_ALGEBRA)
    x, Q, _ = mcf.simulate(0.6, 300, np.random.default_rng(1))
    sharp = r3d.R3D.from_quantiles(Q, x, mcf.DECILES).fit(n_boot=0)
    assert sharp._est.numerator_influence is None


@pytest.mark.parametrize("clusters", [False, True])
def test_pointwise_sets_equal_the_quadratics_roots(clusters):
    model = _model(clusters=clusters)
    res = _fit(model)
    codes = model._data.units.cluster_codes
    for alpha in (0.05, 0.1):
        ci = res.conf_int(alpha, kind="anderson-rubin")
        z = stats.norm.ppf(1 - alpha / 2)
        expect = _roots(res, z, codes)
        np.testing.assert_allclose(ci[["lower", "upper"]].to_numpy(), expect, rtol=RTOL_ROOTS)
        # the set contains the estimate and its ends solve (N - t D)^2 = z^2 V(t)
        tau = res.params.to_numpy()
        assert np.all((ci["lower"] < tau) & (tau < ci["upper"]))
    # aliases
    np.testing.assert_array_equal(res.conf_int(kind="ar").to_numpy(), res.conf_int(kind="fieller").to_numpy())


def test_band_uses_the_studentized_critical_value_and_the_same_draws():
    model = _model()
    stud = _fit(model, band="studentized")
    ar = _fit(model, band="anderson-rubin")
    assert ar.spec.band == "anderson-rubin"
    np.testing.assert_array_equal(ar.bootstrap_draws, stud.bootstrap_draws)
    np.testing.assert_array_equal(ar.params, stud.params)
    np.testing.assert_array_equal(ar.bse, stud.bse)
    assert ar.critical_value == stud.critical_value
    np.testing.assert_allclose(ar.conf_int(kind="uniform").to_numpy(), _roots(ar, stud.critical_value),
                               rtol=RTOL_ROOTS)
    # another alpha: recomputed from the same draws, equal to a fit at that alpha
    at10 = _fit(model, band="ar", alpha=0.1)
    np.testing.assert_array_equal(ar.conf_int(0.1, kind="uniform").to_numpy(), at10.conf_int(kind="uniform").to_numpy())
    # wider than the pointwise sets (c > 1.96), and the summary names the band
    assert np.all(ar.conf_int(kind="uniform")["lower"] < ar.conf_int(kind="ar")["lower"])
    text = " ".join(str(ar.summary()).split())
    assert "anderson-rubin, 95%" in text and "Anderson-Rubin (Fieller) set" in text
    assert ar.to_dict()["band"]["kind"] == "anderson-rubin"


def test_scaling_the_outcome_scales_the_sets():
    x, Q, t = mcf.simulate(0.6, 600, np.random.default_rng(8))
    base = None
    for k in (0, 200, -200):
        res = _fit(r3d.R3D.from_quantiles(Q * 10.0**k, x, mcf.DECILES, treatment=t), band="ar")
        sets = np.r_[res.conf_int(kind="uniform").to_numpy(), res.conf_int(kind="ar").to_numpy()] / 10.0**k
        assert np.all(np.isfinite(sets))
        if base is None:
            base = sets
        else:
            np.testing.assert_allclose(sets, base, rtol=0, atol=ATOL_SCALE)


def test_unbounded_when_the_first_stage_is_not_significant():
    model = _model(complier=0.02, n=400, seed=5)
    with pytest.warns(r3d.WeakFirstStageWarning) as caught:
        res = model.fit(n_boot=N_BOOT, rng=11, band="ar")
    f = res.first_stage.f_stat
    assert f < res.critical_value**2
    assert any("Anderson-Rubin band is unbounded at every level" in str(w.message) for w in caught)
    band = res.conf_int(kind="uniform").to_numpy()
    assert np.all(band[:, 0] == -np.inf) and np.all(band[:, 1] == np.inf)
    assert any("Anderson-Rubin band is unbounded" in note for note in res.notes)
    if f < stats.norm.ppf(0.975) ** 2:
        assert np.all(np.isinf(res.conf_int(kind="ar").to_numpy()))
    res.plot()  # the unbounded band is not drawn; the plot still works
    import matplotlib.pyplot as plt

    plt.close("all")


def test_sharp_fits_refuse_the_fuzzy_band():
    x, Q, _ = mcf.simulate(0.6, 300, np.random.default_rng(1))
    sharp = r3d.R3D.from_quantiles(Q, x, mcf.DECILES)
    with pytest.raises(ValueError, match=r"`band` must be 'uniform' or 'studentized' for a sharp design"):
        sharp.fit(band="anderson-rubin", n_boot=N_BOOT)
    with pytest.raises(ValueError, match=r"`kind` must be 'pointwise' or 'uniform' for a sharp fit"):
        sharp.fit(n_boot=0).conf_int(kind="anderson-rubin")


def test_comparison_of_anderson_rubin_fits_uses_the_studentized_band():
    model = _model()
    a = _fit(model, band="ar")
    b = _fit(model, band="ar", vce="hc0")
    cmp = a.compare(b, n_boot=N_BOOT, rng=2)
    assert cmp.band.kind == "studentized"
