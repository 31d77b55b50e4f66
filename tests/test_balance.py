"""Covariate balance (r3d/balance.py; METHOD_EXTENSIONS §9 "Balance", docs/covariates.md).

Each covariate's jump and standard error equal rdrobust's conventional estimate with the same
``vce`` (hc0-hc3; with clusters its cr1-cr3) at the same bandwidth; the selected bandwidths are the
package selector's on each column alone; the joint max-|z| test uses the bootstrap's multipliers,
shared across covariates, and its p-value and critical value agree as for every test of the package.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from _html import Tables

import r3d
from r3d.balance import CovariateBalance, JointBalanceTest, covariate_balance
from r3d.bandwidth import _select_bandwidths
from r3d.bootstrap import bootstrap_draws, critical_value, pointwise_variance
from r3d.estimators import DEFAULT_VCE, VCE_TYPES, local_jump

#: Same one-sided weighted least squares in double precision, different basis and summation order.
#: Measured (rdrobust 2.1.1, the cases below): jumps agree to 1.9e-12 relative (the dummy's small jump),
#: standard errors to 2.3e-14; 1e-8 as in tests/test_against_rdrobust.py leaves room for another
#: rdrobust release, while a formula difference shows at >= 1e-4.
RTOL_RDROBUST = 1e-8
RD_KERNEL = {"triangular": "tri", "epanechnikov": "epa", "uniform": "uni"}
#: One covariate at its own bandwidth (local_jump's common-bandwidth path) against the same covariate
#: among others with other bandwidths (the per-column path): other summation orders, measured 5e-16.
RTOL_PATHS = 1e-13
NAMES = ["age", "female", "size"]


def _design(n=800, jump=0.0, seed=0):
    """Running variable on [-1, 1]; a smooth covariate, a dummy and a skewed one (which jumps by ``jump``)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    e = rng.normal(size=(n, 2))
    Z = np.c_[40 + 5 * x + 3 * x**2 + 4 * e[:, 0], rng.uniform(size=n) < 0.4 + 0.1 * x,
              np.exp(0.5 * e[:, 1] + 0.3 * x) + jump * (x >= 0)]
    return x, Z


@pytest.mark.parametrize("vce", VCE_TYPES)
@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("kernel", ["triangular", "epanechnikov"])
def test_jumps_and_se_equal_rdrobust_with_the_same_vce(order, kernel, vce):
    rdrobust = pytest.importorskip("rdrobust").rdrobust
    x, Z = _design()
    h = 0.5
    bal = covariate_balance(x, Z, cutoff=0.0, names=NAMES, h=h, order=order, kernel=kernel, n_boot=0, vce=vce)
    assert bal.vce == vce
    for j in range(Z.shape[1]):
        rd = rdrobust(Z[:, j], x, c=0.0, p=order, h=h, kernel=RD_KERNEL[kernel], vce=vce, masspoints="off")
        np.testing.assert_allclose(bal.jump[j], rd.coef.iloc[0, 0], rtol=RTOL_RDROBUST)
        np.testing.assert_allclose(bal.se[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)
        np.testing.assert_allclose(bal.frame["pvalue"].iloc[j], rd.pv.iloc[0, 0], rtol=1e-6)


@pytest.mark.parametrize("vce", VCE_TYPES)
def test_per_covariate_bandwidths_equal_rdrobust(vce):
    rdrobust = pytest.importorskip("rdrobust").rdrobust
    x, Z = _design()
    h = np.array([0.3, 0.55, 0.8])
    bal = covariate_balance(x, Z, cutoff=0.0, h=h, order=1, kernel="uniform", n_boot=0, vce=vce)
    np.testing.assert_array_equal(bal.h, h)
    for j in range(3):
        rd = rdrobust(Z[:, j], x, c=0.0, p=1, h=h[j], kernel="uni", vce=vce, masspoints="off")
        np.testing.assert_allclose(bal.jump[j], rd.coef.iloc[0, 0], rtol=RTOL_RDROBUST)
        np.testing.assert_allclose(bal.se[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)
        assert bal.n_left[j] == rd.N_h[0] and bal.n_right[j] == rd.N_h[1]


def test_selected_bandwidths_are_the_selector_on_each_column_alone():
    """h=None: the MSE rule on each covariate alone (as the fuzzy first stage's h_T), bit for bit."""
    x, Z = _design()
    Z = Z * np.array([1e4, 1.0, 1.0])  # scales far apart
    bal = covariate_balance(x, Z, cutoff=0.0, n_boot=0, order=2, pilot_order=1, kernel="epa")
    assert bal.bandwidth_rule == "mse"
    for j in range(3):
        sel = _select_bandwidths(x, np.ascontiguousarray(Z[:, [j]]), np.array([0.5]), cutoff=0.0, rule="mse",
                                 kernel="epanechnikov", order=2, s=1, regularize=True, t=None)
        assert bal.h[j] == sel.h[0]
    one = covariate_balance(x, Z[:, 1], cutoff=0.0, h=bal.h[1], order=2, kernel="epa", n_boot=0)
    np.testing.assert_allclose([one.jump[0], one.se[0]], [bal.jump[1], bal.se[1]], rtol=RTOL_PATHS)


def test_joint_test_uses_shared_multipliers_and_agrees_with_its_critical_value():
    x, Z = _design(jump=0.3)
    bal = covariate_balance(x, Z, cutoff=0.0, h=0.5, n_boot=499, rng=7)  # the fit's default vce
    lj = local_jump(x, Z, cutoff=0.0, h=np.array([0.5]), order=2, kernel="triangular", project=False, vce=DEFAULT_VCE)
    np.testing.assert_array_equal(bal.se, np.sqrt(pointwise_variance(lj.influence)))
    draws = bootstrap_draws(lj.influence, n_boot=499, rng=7)  # one multiplier per unit, all covariates
    np.testing.assert_array_equal(bal.draws, draws)
    boot = np.max(np.abs(draws) / bal.se, axis=1)
    stat = np.max(np.abs(bal.jump / bal.se))
    t = bal.joint
    assert isinstance(t, JointBalanceTest)
    assert t.statistic == stat
    assert t.pvalue == (1 + np.sum(boot >= stat)) / 500
    assert t.critical_value == critical_value(boot, alpha=0.05)
    assert (t.statistic > t.critical_value) == t.reject
    # the max over 3 correlated covariates needs a larger critical value than one
    assert 1.96 < t.critical_value < 3.0


def test_big_jump_rejects_and_is_reproducible():
    x, Z = _design(jump=1.0, seed=3)
    a = covariate_balance(x, Z, cutoff=0.0, names=NAMES, rng=11)
    b = covariate_balance(x, Z, cutoff=0.0, names=NAMES, rng=11)
    assert a.joint.reject and a.joint.pvalue == 1 / 1000
    assert a.frame.loc["size", "pvalue"] < 1e-6
    np.testing.assert_array_equal(a.draws, b.draws)
    assert a.seed == 11 and a.joint == b.joint


@pytest.mark.slow
def test_joint_test_size_on_a_null_design():
    """No covariate jumps: the joint 5% test rejects at about 5% (measured 6% at n = 2,000, 7.5% at
    n = 500, 1,000 replications: HC0 is a little small in small windows)."""
    reps, rejections = 300, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        for r in range(reps):
            x, Z = _design(n=1000, seed=1000 + r)
            rejections += covariate_balance(x, Z, cutoff=0.0, n_boot=199, rng=r).joint.reject
    assert 0.02 <= rejections / reps <= 0.11


def test_clusters_sum_influence_within_cluster():
    x, Z = _design()
    codes = np.arange(x.size) // 4
    bal = covariate_balance(x, Z, cutoff=0.0, h=0.5, cluster_codes=codes, n_boot=0, vce="hc0")  # CR0
    lj = local_jump(x, Z, cutoff=0.0, h=np.array([0.5]), order=2, kernel="triangular", project=False)
    np.testing.assert_allclose(bal.se, np.sqrt(pointwise_variance(lj.influence, cluster_codes=codes)), rtol=1e-14)
    for vce in VCE_TYPES:  # one unit per cluster: the unclustered numbers, bit for bit
        own = covariate_balance(x, Z, cutoff=0.0, h=0.5, cluster_codes=np.arange(x.size), n_boot=0, vce=vce)
        np.testing.assert_array_equal(own.se, covariate_balance(x, Z, cutoff=0.0, h=0.5, n_boot=0, vce=vce).se)
    assert bal.n_clusters == 200


@pytest.mark.parametrize("vce", ["hc1", "hc2", "hc3"])
def test_clustered_se_equal_rdrobust_cr(vce):
    """With clusters (none spanning the cutoff), rdrobust's "cr1" / "cr2" / "cr3", per-covariate bandwidths too."""
    rdrobust = pytest.importorskip("rdrobust").rdrobust
    x, Z = _design()
    rng = np.random.default_rng(2)
    codes = np.where(x >= 0, 50, 0) + rng.integers(0, 50, x.size)
    h = np.array([0.4, 0.5, 0.7])
    bal = covariate_balance(x, Z, cutoff=0.0, h=h, order=1, cluster_codes=codes, n_boot=0, vce=vce)
    assert f"CR{vce[-1]} (100 clusters)" in str(bal.summary())
    for j in range(3):
        with warnings.catch_warnings():  # rdrobust's own RuntimeWarning (funs.py) on a side with few clusters
            warnings.simplefilter("ignore")
            rd = rdrobust(Z[:, j], x, c=0.0, p=1, h=h[j], kernel="tri", vce="cr" + vce[-1], cluster=codes,
                          masspoints="off")
        np.testing.assert_allclose(bal.se[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)


def test_covariate_without_variation_in_the_window_is_flagged_not_significant():
    x, Z = _design()
    Z[np.abs(x) < 0.6, 1] = 1.0  # the dummy is 1 for every unit inside the window
    with pytest.warns(r3d.DegenerateOutcomeWarning, match="'female' take a single value"):
        bal = covariate_balance(x, Z, cutoff=0.0, names=NAMES, h=0.5, n_boot=99, rng=1)
    row = bal.frame.loc["female"]
    assert row["jump"] == 0.0 and row["se"] == 0.0 and row["z"] == 0.0 and row["pvalue"] == 1.0
    assert bal.joint.n_covariates == 2
    assert bal.notes and "female" in bal.notes[0]


def test_frame_and_displays():
    x, Z = _design()
    df = pd.DataFrame(Z, columns=NAMES)
    bal = covariate_balance(x, df, cutoff=0.0, n_boot=99, rng=1)
    assert isinstance(bal, CovariateBalance)
    f = bal.frame
    assert list(f.index) == NAMES and f.index.name == "covariate"
    assert tuple(f.columns) == r3d.balance.FRAME_COLUMNS
    np.testing.assert_allclose(f["ci_upper"] - f["ci_lower"], 2 * 1.959963984540054 * f["se"], rtol=1e-12)
    text = repr(bal)
    assert "\n" not in text and len(text) < 100 and "joint p" in text
    parser = Tables()
    parser.feed(bal._repr_html_())
    assert parser.tables == 1 and not parser.stack
    s = bal.summary()
    for out in (s.as_text(), s.as_latex(), s.as_html()):
        assert all(name in out for name in NAMES) and "max |z|" in out.replace(r"\textbar{}", "|")
    assert "JointBalanceTest" in repr(bal.joint)
    assert "reject" in bal.joint._repr_html_()


def test_plot_rows_per_covariate():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, Z = _design(jump=1.0)
    bal = covariate_balance(x, Z, cutoff=0.0, names=NAMES, n_boot=99, rng=1)
    for scale in ("sd", "t"):
        ax = bal.plot(scale=scale)
        rows = sorted(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()), strict=True), reverse=True)
        assert [name for _, name in rows] == NAMES  # first covariate on top
        plt.close(ax.figure)
    with pytest.raises(ValueError, match="`scale` must be one of"):
        bal.plot(scale="raw")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"Z": np.zeros((5, 2))}, ValueError, r"`Z` must be an array of shape \(800, k\)"),
        ({"Z": np.full((800, 1), np.nan)}, ValueError, "`Z` must be finite for every unit"),
        ({"Z": pd.DataFrame({"s": ["a"] * 800})}, TypeError, "`Z` must be numeric or boolean columns"),
        ({"names": ["a", "b"]}, ValueError, "`names` must be 3 distinct covariate names"),
        ({"names": ["a", "a", "b"]}, ValueError, "`names` must be 3 distinct covariate names"),
        ({"h": [0.5, 0.5]}, ValueError, "`h` must be None, a number or an array of 3 bandwidths"),
        ({"h": [0.5, -1, 0.5]}, ValueError, "`h` must be finite and > 0 for every covariate"),
        ({"h": -1.0}, ValueError, "`h` must be a finite number > 0"),
        ({"cutoff": 5.0}, ValueError, "`cutoff` must be inside the range of the running variable"),
        ({"cutoff": "0"}, TypeError, "`cutoff` must be a finite number"),
        ({"n_boot": 10}, ValueError, "`n_boot` must be 0 or at least 19"),
        ({"cluster_codes": np.zeros(800, dtype=int)}, ValueError, "`cluster_codes` must be made of at least 2"),
        ({"order": 11}, ValueError, "`order` must be an integer"),
        ({"kernel": "gauss"}, ValueError, "`kernel` must be one of"),
        ({"alpha": 1.5}, ValueError, "`alpha` must be a number strictly between 0 and 1"),
        ({"rng": "seed"}, TypeError, "`rng` must be None, a non-negative integer seed"),
    ],
)
def test_bad_inputs_are_named(kwargs, error, match):
    x, Z = _design()
    args = {"Z": Z, "cutoff": 0.0, "n_boot": 0, **kwargs}
    with pytest.raises(error, match=match):
        covariate_balance(x, **args)


def test_inputs_are_not_modified():
    x, Z = _design()
    x0, Z0 = x.copy(), Z.copy()
    covariate_balance(x, Z, cutoff=0.0, n_boot=19, rng=1)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(Z, Z0)


def test_docs_page_shows_todays_summary():
    """docs/covariates.md prints the summary of its own example: it must be what the code prints today."""
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "covariates.md").read_text(encoding="utf-8")
    shown = page.split("```text\n", 1)[1].split("```", 1)[0]
    gen = np.random.default_rng(7)
    n = 1000
    x = gen.uniform(-1, 1, n)
    Z = pd.DataFrame({"age": 40 + 5 * x + gen.normal(0, 4, n),
                      "female": (gen.uniform(size=n) < 0.4).astype(float),
                      "sorted": gen.normal(0, 1, n) + 0.5 * (x >= 0)})
    text = covariate_balance(x, Z, cutoff=0.0, rng=1).summary().as_text()
    assert [line.rstrip() for line in shown.strip("\n").splitlines()] == \
        [line.rstrip() for line in text.strip("\n").splitlines()]


def test_selector_warnings_name_the_covariate():
    """A warning while selecting a covariate's bandwidth names the covariate, not a quantile level."""
    rng = np.random.default_rng(8)
    x = rng.uniform(-1, 1, 400)
    Z = np.column_stack([0.5 * x, rng.normal(size=400)])  # the first has no curvature: the bias constant is 0
    with pytest.warns(r3d.BandwidthWarning, match="for covariate 'lin'") as caught:
        covariate_balance(x, Z, cutoff=0.0, names=["lin", "noise"], n_boot=0)
    assert not any("quantile level" in str(w.message) for w in caught)
