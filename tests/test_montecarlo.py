"""Monte Carlo checks of the uniform inference (benchmarks/montecarlo_table1.py and
benchmarks/montecarlo_clusters.py). The full tables are produced by those scripts; here a
quick smoke test (always run) checks the replication machinery, and ``pytest -m slow`` runs a
small version of the coverage / size checks.
"""

import pathlib
import sys

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))

import montecarlo_clusters as mcc
import montecarlo_table1 as mc

#: Slow-test thresholds. With R replications a rate near 0.95 has MC sd sqrt(0.05 * 0.95 / R)
#: (0.018 at R = 150); the bounds sit > 5 MC sd from the nominal value, so they fail for a band
#: or test that is off by several points, not by chance.
SLOW_REPS = 150
SLOW_N_BOOT = 499
MIN_COVERAGE = 0.85
MAX_NULLITY_SIZE = 0.12
#: Clusters, one-sided design at rho = 0.9, G = 100 (benchmarks/results/montecarlo_clusters.md):
#: rms se / MC sd is 0.88 clustered (CR0's small-G bias) and 0.59 unclustered. The MC sd from
#: 100 replications is itself off by ~6%, hence the margins; the ratio of the two se on the same
#: data sets (1.5) has no such noise.
CLUSTER_REPS = 100
MIN_CLUSTERED_SE_RATIO = 0.75
MAX_UNCLUSTERED_SE_RATIO = 0.75
MIN_CLUSTERED_OVER_UNCLUSTERED_SE = 1.3


def test_replication_is_reproducible_and_complete():
    """Same spawn key -> identical records; both estimators share data; fields are sane."""
    kw = {"n_boot": 199}
    a = mc.fit_record(mc.long_model(mc.simulate_dgp1(200, 1.0, rng := mc.replication_rng(7, 0, 3), n_draws=40)),
                      "frechet", rng=rng, **kw)
    b = mc.fit_record(mc.long_model(mc.simulate_dgp1(200, 1.0, rng := mc.replication_rng(7, 0, 3), n_draws=40)),
                      "frechet", rng=rng, **kw)
    c = mc.fit_record(mc.long_model(mc.simulate_dgp1(200, 1.0, rng := mc.replication_rng(7, 0, 4), n_draws=40)),
                      "frechet", rng=rng, **kw)
    np.testing.assert_array_equal(a.tau, b.tau)
    assert a.crit_uniform == b.crit_uniform and a.p_nullity == b.p_nullity
    assert not np.array_equal(a.tau, c.tau)  # another replication, other data
    assert a.tau.shape == a.se.shape == a.h.shape == (9,)
    assert np.all(a.h == a.h[0])  # one Fréchet bandwidth
    assert np.all(a.se > 0) and a.crit_uniform > 0 and a.crit_studentized > 0
    assert 0 < a.p_nullity <= 1 and 0 < a.p_homogeneity <= 1
    # the studentised critical value is on the z scale: larger than the pointwise 1.96
    assert a.crit_studentized > 1.96


def test_summaries_count_coverage_and_acceptance():
    """Hand-made replications: coverage, acceptance and MC se are what they should be."""
    rows = []
    for rep, (shift, p) in enumerate([(0.0, 0.5), (0.0, 0.01), (0.3, 0.5), (0.05, 0.04)]):
        rec = mc.FitRecord(method="frechet", tau=np.full(9, 1.0 + shift), se=np.full(9, 0.1), h=np.full(9, 0.7),
                           crit_uniform=0.2, crit_studentized=2.0, p_nullity=p, p_homogeneity=1 - p,
                           n_warnings=0)
        rows.append(mc.record_row(rec, n=500, delta=1.0, rep=rep))
    s = mc.summarise(pd.DataFrame(rows)).iloc[0]
    assert s["uniform_coverage"] == 0.75  # shift 0.3 > 0.2 misses
    assert s["studentized_coverage"] == 0.75
    assert s["pointwise_coverage_mean"] == 0.75  # 0.3 > 1.96 * 0.1
    assert s["nullity_acceptance"] == 0.5  # p = 0.01 and 0.04 reject
    assert s["homogeneity_acceptance"] == 1.0
    assert s["uniform_coverage_mcse"] == pytest.approx(np.sqrt(0.75 * 0.25 / 4), rel=1e-12)
    assert s["paper_uniform_coverage"] == 0.926


def test_clustered_design_keeps_clusters_on_one_side():
    cs = mcc.simulate_clustered(20, 5, 0.5, np.random.default_rng(3), n_draws=10)
    x, g = cs.sample.x, cs.cluster
    side = pd.Series(x >= 0).groupby(g).nunique()
    assert (side == 1).all()
    assert np.all(np.abs(x) <= 1) and pd.Series(x).groupby(g).nunique().min() == 5  # different X in a cluster
    straddle = mcc.simulate_clustered(200, 5, 0.5, np.random.default_rng(3), design="straddling", n_draws=10)
    assert (pd.Series(straddle.sample.x >= 0).groupby(straddle.cluster).nunique() == 2).any()


@pytest.mark.slow
def test_table1_quick_coverage_and_size():
    """DGP 1 at Delta = 0, n = 500: uniform band coverage and nullity size near nominal."""
    rows = []
    for rep in range(SLOW_REPS):
        for rec in mc.replicate(500, 0.0, rng=mc.replication_rng(12345, 0, rep), n_boot=SLOW_N_BOOT):
            rows.append(mc.record_row(rec, n=500, delta=0.0, rep=rep))
    s = mc.summarise(pd.DataFrame(rows)).set_index("method")
    for method in ("frechet", "simple"):
        assert s.loc[method, "uniform_coverage"] >= MIN_COVERAGE, s.loc[method]
        assert 1 - s.loc[method, "nullity_acceptance"] <= MAX_NULLITY_SIZE, s.loc[method]
        assert s.loc[method, "homogeneity_acceptance"] >= MIN_COVERAGE, s.loc[method]


@pytest.mark.slow
def test_clustered_se_tracks_the_true_sd():
    """One-sided clusters with rho = 0.9: the clustered se matches the sampling sd of tau_hat,
    the unclustered one is too small."""
    rows = []
    for rep in range(CLUSTER_REPS):
        rng = np.random.default_rng(np.random.SeedSequence(54321, spawn_key=(0, rep)))
        for inference, rec in mcc.replicate_clustered(0.9, rng=rng, n_boot=SLOW_N_BOOT, methods=("frechet",)):
            rows.append(mcc.cluster_row(rec, design="one-sided", rho=0.9, n_clusters=100, rep=rep,
                                        inference=inference))
    s = mcc.summarise(pd.DataFrame(rows)).set_index("inference")
    assert s.loc["clustered", "se_over_sd"] >= MIN_CLUSTERED_SE_RATIO, s
    assert s.loc["unclustered", "se_over_sd"] <= MAX_UNCLUSTERED_SE_RATIO, s
    assert s.loc["clustered", "rms_se"] >= MIN_CLUSTERED_OVER_UNCLUSTERED_SE * s.loc["unclustered", "rms_se"], s
    assert s.loc["clustered", "uniform_coverage"] > s.loc["unclustered", "uniform_coverage"], s
