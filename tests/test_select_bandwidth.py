"""r3d.select_bandwidth: the public face of the selector agrees with what fit() uses."""

import warnings

import numpy as np
import pytest
from _refdata import load_long, ref_quantile_grid

import r3d

#: What fit() reports and what the selector returns come from one computation (measured: equal).
RTOL_SAME = 1e-14


@pytest.fixture(scope="module")
def sharp():
    return r3d.R3D.from_formula("y ~ x", data=load_long("ref_long_sharp"), unit="unit")


def test_select_bandwidth_matches_fit(sharp):
    q = ref_quantile_grid(20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.BandwidthWarning)
        sel = r3d.select_bandwidth(sharp, method="frechet", quantiles=q)
        res = sharp.fit(method="frechet", quantiles=q, n_boot=0)
    assert sel.rule == "imse" and np.all(sel.h == sel.h[0])
    assert res.bandwidth == pytest.approx(float(sel.h[0]), rel=0, abs=0)
    assert res.bandwidth_info["rule"] == "imse"
    assert res.bandwidth_info["f_hat"] == pytest.approx(sel.f_hat, rel=RTOL_SAME, abs=0)
    for key in ("f_hat", "h0", "b", "B_plus", "B_minus", "V_plus", "V_minus", "R"):
        assert key in res.bandwidth_info


def test_select_bandwidth_simple_is_per_quantile(sharp):
    q = ref_quantile_grid(20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.BandwidthWarning)
        sel = r3d.select_bandwidth(sharp, method="simple", quantiles=q)
        res = sharp.fit(method="simple", quantiles=q, n_boot=0)
    assert sel.rule == "mse" and sel.h.shape == (20,)
    np.testing.assert_array_equal(res.bandwidth.to_numpy(), sel.h)
    cer = r3d.select_bandwidth(sharp, method="simple", rule="cer-mse", quantiles=q)
    np.testing.assert_allclose(cer.h, sel.h * sharp.nobs ** (-1 / 20), rtol=RTOL_SAME)  # s = 1: n^{-s/((2s+3)(s+3))}


def test_select_bandwidth_fuzzy_gives_treatment_bandwidth():
    mod = r3d.R3D.from_formula("y ~ x", data=load_long("ref_long_fuzzy"), unit="unit", treatment="t")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.BandwidthWarning)
        sel = r3d.select_bandwidth(mod, quantiles=9)
        res = mod.fit(quantiles=9, n_boot=0)
    assert sel.h_treatment > 0 and res.bandwidth_treatment == pytest.approx(sel.h_treatment, rel=0, abs=0)


def test_select_bandwidth_rejects_bad_rule(sharp):
    with pytest.raises(ValueError, match="`rule`"):
        r3d.select_bandwidth(sharp, rule="silverman")


def test_summary_shows_the_selector_intermediates(sharp):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.BandwidthWarning)
        res = sharp.fit(method="frechet", quantiles=9, n_boot=0)
        fixed = sharp.fit(method="frechet", quantiles=9, bandwidth=0.5, n_boot=0)
    text = res.summary().as_text()
    assert "Bandwidth selection (IMSE" in text
    assert f"{res.bandwidth_info['f_hat']:.4g}" in text and f"{res.bandwidth_info['h_max']:.4g}" in text
    for label in ("Pilot h0", "Derivative bandwidth b", "B+ / B-", "V+ / V-", "R (median over q)"):
        assert label in text
    assert "Bandwidth selection" not in fixed.summary().as_text()
