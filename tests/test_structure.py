"""The shape of the pipeline (issue 12): typed bandwidth provenance, one return type for every test,
the test registry reachable from a fit (Gini included), keyword-only fit options, ``res.model``,
and one bound for the polynomial orders everywhere."""

import warnings

import numpy as np
import pandas as pd
import pytest

import r3d
from r3d import bootstrap as boot
from r3d.bandwidth import BandwidthChoice, BandwidthSelection, select_bandwidths
from r3d.locpoly import MAX_ORDER

#: Per-side processes redrawn from the fit's multipliers: G+ - G- equals the tau process up to
#: the rounding of two sums of the same products in another order (measured ~1e-15 relative).
SIDES_RTOL = 1e-12


@pytest.fixture(scope="module")
def firms():
    return r3d.datasets.simulate_firms(n_firms=300, rng=3)


@pytest.fixture(scope="module")
def sharp(firms):
    mod = r3d.R3D.from_formula("wage ~ revenue", data=firms, cutoff=1.0, unit="firm")
    return mod, mod.fit(quantiles=9, n_boot=199, rng=11)


@pytest.fixture(scope="module")
def fuzzy_mod():
    df = r3d.datasets.simulate_firms(n_firms=400, fuzzy=True, rng=5)
    return r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm", treatment="subsidy")


# ------------------------------------------------------------------------- bandwidth provenance
def test_selected_bandwidth_keeps_the_selection(sharp):
    _, res = sharp
    bc = res.bandwidth_choice
    assert isinstance(bc, BandwidthChoice) and bc.rule == "imse"
    assert isinstance(bc.selection, BandwidthSelection)
    assert bc.h_treatment is None and bc.treatment_source is None and bc.treatment_selection is None
    assert float(bc.h[0]) == res.bandwidth == bc.selection.bandwidth
    # the dict view is derived from the typed value, number for number
    info = res.bandwidth_info
    assert info.keys() == bc.selection.as_dict().keys()
    np.testing.assert_array_equal(info["h0"], bc.selection.steps.h0)


def test_fixed_sharp_bandwidth_has_no_selection(firms):
    mod = r3d.R3D.from_formula("wage ~ revenue", data=firms, cutoff=1.0, unit="firm")
    res = mod.fit(bandwidth=0.4, quantiles=5, n_boot=0)
    bc = res.bandwidth_choice
    assert bc.rule == "fixed" and bc.selection is None and res.bandwidth_info == {}


def test_fuzzy_take_up_bandwidth_sources(fuzzy_mod):
    fixed = fuzzy_mod.fit(bandwidth=0.5, quantiles=5, n_boot=0)
    bc = fixed.bandwidth_choice
    assert bc.treatment_source == "selected" and bc.selection is None
    assert bc.treatment_selection.rule == "mse" and bc.h_treatment == fixed.bandwidth_treatment
    assert list(fixed.bandwidth_info) == ["treatment"]

    user = fuzzy_mod.fit(quantiles=5, n_boot=0, bandwidth_treatment=0.45)
    bc = user.bandwidth_choice
    assert bc.treatment_source == "user" and bc.h_treatment == 0.45 and bc.treatment_selection is None
    assert bc.selection.h_treatment is None  # the selector did not choose h_T
    assert "Take-up bandwidth" in user.summary().as_text() and "(user)" in user.summary().as_text()

    both = fuzzy_mod.fit(quantiles=5, n_boot=0)
    bc = both.bandwidth_choice
    assert bc.treatment_source == "selected" and bc.treatment_selection is bc.selection
    assert bc.h_treatment == bc.selection.h_treatment


# ------------------------------------------------------------------------- tests: one type, a registry
def test_every_test_method_returns_test_results(sharp):
    _, res = sharp
    one = res.nullity_test()
    several = res.homogeneity_test(ranges=[(0.1, 0.5), (0.5, 0.9)])
    gini = res.gini_test()
    for out in (one, several, gini):
        assert isinstance(out, boot.TestResults)
        assert isinstance(out.frame, pd.DataFrame) and len(out.frame) == len(out)
    assert one.pvalue == one[0].pvalue and one.range == (0.1, 0.9)
    assert [r.range for r in several] == [(0.1, 0.5), (0.5, 0.9)]
    with pytest.raises(AttributeError, match="2 ranges"):
        _ = several.statistic
    assert res.test("nullity").pvalue == one.pvalue


def test_dataframe_access_on_several_ranges_is_deprecated_not_broken(sharp):
    _, res = sharp
    several = res.nullity_test(ranges=[(0.1, 0.5), (0.5, 0.9)])
    with pytest.warns(FutureWarning, match=r"\.frame"):
        p = several["pvalue"]
    assert p.tolist() == several.frame["pvalue"].tolist()
    with pytest.warns(FutureWarning):
        assert several.shape[0] == 2


def test_registry_names_every_test(sharp):
    _, res = sharp
    assert set(boot.TESTS) == {"nullity", "homogeneity", "gini", "dominance", "dominance2", "unambiguity", "w2"}
    assert set(boot.REPORTED_TESTS) <= set(boot.TESTS)
    with pytest.raises(ValueError, match="`name`"):
        res.test("kolmogorov")
    with pytest.raises(ValueError, match="`ranges`"):
        res.test("gini", ranges=(0.1, 0.5))


def test_gini_test_from_a_fit_equals_the_module_function_on_the_same_multipliers(sharp):
    """The fit's Gini test replays the fit's multipliers: it equals r3d.bootstrap.gini_test on
    side_draws drawn from the same seed, and the per-side processes difference to the tau draws."""
    _, res = sharp
    est = res._est
    a_plus = est.fit_plus.weights * est.scaled_residuals  # the fit's vce factors
    a_minus = est.fit_minus.weights * est.scaled_residuals
    sd = boot.side_draws(a_plus, a_minus, n_boot=199, rng=11)
    np.testing.assert_allclose(sd.plus - sd.minus, res.bootstrap_draws, rtol=SIDES_RTOL,
                               atol=SIDES_RTOL * np.abs(res.bootstrap_draws).max())
    direct = boot.gini_test(est.m_plus, est.m_minus, sd.plus, sd.minus, est.quantiles, alpha=0.05)
    got = res.gini_test()
    assert got.statistic == direct.statistic and got.pvalue == direct.pvalue
    assert got.critical_value == direct.critical_value
    # a fit is not changed by running the test, and the test is reproducible
    assert res.gini_test().pvalue == got.pvalue


def test_gini_test_refuses_a_fuzzy_fit(fuzzy_mod):
    res = fuzzy_mod.fit(quantiles=9, n_boot=99, rng=1)
    with pytest.raises(ValueError, match="sharp design"):
        res.gini_test()


# ------------------------------------------------------------------------- fit options, res.model
def test_fit_options_are_keyword_only(sharp):
    mod, _ = sharp
    with pytest.raises(TypeError):
        mod.fit("simple")


def test_results_model_is_the_model_with_the_fits_names(sharp, firms):
    mod, res = sharp
    assert isinstance(res.model, r3d.R3D) and res.model.formula == "wage ~ revenue"
    assert res.model.endog_names == "wage"
    assert res.model.exog_names == [f"tau(0.{k}0)" for k in range(1, 10)]
    assert res.model.nobs == mod.nobs and res.model.cutoff == mod.cutoff
    assert mod.exog_names is None  # the model the user holds is not changed by fitting
    refit = res.model.fit(quantiles=9, n_boot=199, rng=11)
    np.testing.assert_array_equal(refit.params, res.params)


def test_every_constructor_sets_formula(firms):
    y, x, u = firms["wage"], firms["revenue"], firms["firm"]
    assert r3d.R3D(y, x, u, cutoff=1.0).formula is None
    assert r3d.R3D.from_formula("wage ~ revenue", data=firms, cutoff=1.0, unit="firm").formula == "wage ~ revenue"
    mod = r3d.R3D(y, x, u, cutoff=1.0)
    q = r3d.R3D.from_quantiles(mod.unit_quantiles(quantiles=5), mod.running, quantiles=5, cutoff=1.0)
    assert q.formula is None


# ------------------------------------------------------------------------- one bound for the orders
@pytest.mark.parametrize("call", ["fit", "select", "selector"])
def test_pilot_order_bound_is_the_same_everywhere(sharp, call):
    mod, _ = sharp
    x = mod.running.to_numpy()
    Q = mod.unit_quantiles(quantiles=5).to_numpy()
    grid = np.arange(1, 6) / 6
    too_high = MAX_ORDER  # the selector fits order s + 1 <= MAX_ORDER
    run = {"fit": lambda: mod.fit(pilot_order=too_high, order=MAX_ORDER, quantiles=5, n_boot=0),
           "select": lambda: r3d.select_bandwidth(mod, pilot_order=too_high, quantiles=5),
           "selector": lambda: select_bandwidths(x, Q, grid, cutoff=1.0, rule="imse", pilot_order=too_high)}[call]
    with pytest.raises(ValueError, match=rf"`pilot_order` must be an integer in \[0, {MAX_ORDER - 1}\]"):
        run()


def test_library_issues_no_warning_on_a_clean_fit(sharp):
    mod, _ = sharp
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mod.fit(quantiles=9, n_boot=99, rng=1)


_SELECT_SCRIPT = """
import numpy as np, sys
from r3d.bandwidth import select_bandwidths
rng = np.random.default_rng(4)
x = rng.uniform(-1, 1, 100_000)  # ~50,000 units a side and 99 levels: numpy's QR splits its sums there
grid = np.arange(1, 100) / 100
Q = 5 + 5 * x[:, None] + (x[:, None] >= 0) + rng.standard_normal((x.size, 1)) * grid
sel = select_bandwidths(x, Q, grid, cutoff=0.0, rule="mse")
sys.stdout.write(np.concatenate([sel.h, sel.steps.pilot_deriv_plus, sel.steps.h0]).tobytes().hex())
"""


def test_selected_bandwidths_do_not_depend_on_the_blas_threads():
    """The selector's global pilot runs in r3d's compiled QR (fixed summation order), so its bits
    are the same with OpenBLAS on one thread or several (numpy's QR differed by ~1e-10)."""
    import os
    import subprocess
    import sys
    import tempfile

    out = []
    for threads in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads,
               "MKL_NUM_THREADS": threads}
        run = subprocess.run([sys.executable, "-c", _SELECT_SCRIPT], env=env, capture_output=True, text=True,
                             check=True, cwd=tempfile.gettempdir(), timeout=300)
        out.append(run.stdout)
    assert out[0] == out[1]
