"""Multiplier bootstrap algebra, bands and tests (r3d/bootstrap.py, METHOD.md §5)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _refdata import load_ref

from r3d.bootstrap import (
    PROGRESS_DRAWS,
    SideDraws,
    TestResult,
    UniformBand,
    aggregate_clusters,
    bootstrap_draws,
    critical_value,
    draws_from_multipliers,
    gini_coefficient,
    gini_test,
    homogeneity_test,
    nullity_test,
    pointwise_variance,
    side_draws,
    uniform_band,
)
from r3d.estimators import delta_method_influence

#: BLAS (blocked, FMA) vs a Python loop sum the same products in another order.
LOOP_RTOL = 1e-12
LOOP_ATOL = 1e-14
#: Monte Carlo error of a variance estimated from 20,000 draws is ~1% (sqrt(2/B)); 5 sigma.
MC_VAR_RTOL = 0.05
#: ... and of a mean, in Monte Carlo standard errors.
MC_MEAN_SDS = 5
#: The same numbers by an equivalent path (a constant se, one row at a time): equal bit for bit
#: today (measured 0); room for a reordered evaluation.
RTOL_SAME_ARITHMETIC = 1e-15
#: A forward difference at eps = 1e-6 leaves an O(eps) remainder (measured 1.9e-6).
FORWARD_DIFFERENCE_RTOL = 1e-4


def _influence(n: int, m: int, seed: int = 0) -> np.ndarray:
    a = np.random.default_rng(seed).standard_normal((n, m))
    a[:: 3] = 0.0  # units outside the bandwidth
    return a


# ---------------------------------------------------------------------------------------------
# the algebra on a tiny case
# ---------------------------------------------------------------------------------------------
# n = 5 units, m = 3 grid points; small integers so every sum is exact in floating point.
A5 = np.array(
    [
        [1.0, -2.0, 0.5],
        [0.0, 3.0, -1.0],
        [2.0, 2.0, 2.0],
        [-1.5, 0.0, 4.0],
        [0.0, 0.0, 0.0],
    ]
)
XI5 = np.array(
    [
        [1.0, -1.0, 0.5, 2.0, 7.0],
        [-2.0, 0.0, 1.0, 1.0, -3.0],
    ]
)


def test_tiny_case_by_hand():
    draws = draws_from_multipliers(A5, XI5)
    # G_1(q_1) = 1*1 + (-1)*0 + 0.5*2 + 2*(-1.5) + 7*0 = -1
    # G_1(q_2) = -2 - 3 + 1 + 0 + 0 = -4 ; G_1(q_3) = 0.5 + 1 + 1 + 8 = 10.5
    # G_2(q_1) = -2 + 0 + 2 - 1.5 = -1.5 ; G_2(q_2) = 4 + 0 + 2 + 0 = 6 ; G_2(q_3) = -1 + 2 + 4 = 5
    expected = np.array([[-1.0, -4.0, 10.5], [-1.5, 6.0, 5.0]])
    np.testing.assert_array_equal(draws, expected)
    # V(q_j) = sum_i a_ij^2
    np.testing.assert_array_equal(pointwise_variance(A5), [1 + 4 + 2.25, 4 + 9 + 4, 0.25 + 1 + 4 + 16])


def test_tiny_case_clusters_by_hand():
    codes = np.array([1, 0, 1, 2, 0])
    agg = aggregate_clusters(A5, codes)
    np.testing.assert_array_equal(agg, [[0.0, 3.0, -1.0], [3.0, 0.0, 2.5], [-1.5, 0.0, 4.0]])
    np.testing.assert_array_equal(pointwise_variance(A5, cluster_codes=codes), [11.25, 9.0, 23.25])
    xi = np.array([[2.0, -1.0, 1.0]])
    np.testing.assert_array_equal(
        draws_from_multipliers(A5, xi, cluster_codes=codes), [[-4.5, 6.0, -0.5]]
    )


def test_draws_equal_loop_over_documented_multiplier_stream():
    """Row b uses the b-th block of n' consecutive N(0,1) numbers of default_rng(seed),
    one per unit with a nonzero row (n' of them), in unit order."""
    a = _influence(13, 4, seed=1)
    a[4, 1:] = 0.0  # partly zero: still drawn
    live = [i for i in range(13) if np.any(a[i] != 0.0)]
    assert len(live) == 8
    n_boot = 150
    draws = bootstrap_draws(a, n_boot=n_boot, rng=42)
    xi = np.random.default_rng(42).standard_normal((n_boot, len(live)))
    loop = np.zeros((n_boot, a.shape[1]))
    for b in range(n_boot):
        for k, i in enumerate(live):
            loop[b] += xi[b, k] * a[i]
    np.testing.assert_allclose(draws, loop, rtol=LOOP_RTOL, atol=LOOP_ATOL)


# ---------------------------------------------------------------------------------------------
# reproducibility and chunking
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("clustered", [False, True])
def test_chunk_size_is_bitwise_neutral(clustered):
    # sizes at which OpenBLAS rounds a row differently depending on the call's row count
    a = _influence(300, 20, seed=2)
    codes = np.arange(300) % 150 if clustered else None
    block = PROGRESS_DRAWS  # kernel calls of this many draws when progress is reported
    n_boot = 3 * block + 17  # a partial last block
    ref = bootstrap_draws(a, n_boot=n_boot, rng=7, cluster_codes=codes)
    for chunk in (1, 5, block - 1, block, block + 1, 2 * block, n_boot, 10 * n_boot):
        got = bootstrap_draws(a, n_boot=n_boot, rng=7, cluster_codes=codes, chunk_size=chunk)
        assert np.array_equal(got, ref), f"chunk_size={chunk} changed the draws"
        got = bootstrap_draws(a, n_boot=n_boot, rng=7, cluster_codes=codes, chunk_size=chunk,
                              progress=lambda done, total: None)
        assert np.array_equal(got, ref), f"chunk_size={chunk} with progress changed the draws"


def test_all_zero_influence_gives_zero_draws():
    gen = np.random.default_rng(0)
    state = gen.bit_generator.state
    assert np.array_equal(bootstrap_draws(np.zeros((5, 3)), n_boot=4, rng=gen), np.zeros((4, 3)))
    assert gen.bit_generator.state == state  # no multipliers needed, none drawn


def test_prefix_property_more_draws_extend_fewer():
    """Draw b does not depend on B: the first 100 of 300 draws are the 100 draws."""
    a = _influence(30, 5, seed=3)
    assert np.array_equal(
        bootstrap_draws(a, n_boot=300, rng=5)[:100], bootstrap_draws(a, n_boot=100, rng=5)
    )


def test_same_seed_same_draws_and_generator_is_advanced():
    a = _influence(20, 6, seed=4)
    d1 = bootstrap_draws(a, n_boot=50, rng=123)
    d2 = bootstrap_draws(a, n_boot=50, rng=123)
    assert np.array_equal(d1, d2)
    assert not np.array_equal(d1, bootstrap_draws(a, n_boot=50, rng=124))
    gen = np.random.default_rng(123)
    g1 = bootstrap_draws(a, n_boot=50, rng=gen)
    assert np.array_equal(g1, d1)
    assert not np.array_equal(bootstrap_draws(a, n_boot=50, rng=gen), d1)


def test_draw_variance_matches_pointwise_variance():
    a = _influence(40, 3, seed=5)
    draws = bootstrap_draws(a, n_boot=20_000, rng=0)
    np.testing.assert_allclose(draws.var(axis=0), pointwise_variance(a), rtol=MC_VAR_RTOL)
    assert np.all(np.abs(draws.mean(axis=0)) < MC_MEAN_SDS * np.sqrt(pointwise_variance(a) / 20_000))


# ---------------------------------------------------------------------------------------------
# clusters
# ---------------------------------------------------------------------------------------------
def test_cluster_sums_equal_explicit_loop():
    rng = np.random.default_rng(6)
    a = rng.standard_normal((40, 5))
    codes = rng.integers(0, 9, size=40)
    codes[codes == 4] = 5  # cluster 4 has no units: a zero row
    agg = aggregate_clusters(a, codes)
    loop = np.zeros((codes.max() + 1, 5))
    for i, g in enumerate(codes):
        loop[g] += a[i]
    np.testing.assert_allclose(agg, loop, rtol=LOOP_RTOL, atol=LOOP_ATOL)
    assert np.all(agg[4] == 0.0)
    v = np.zeros(5)
    for g in range(loop.shape[0]):
        v += loop[g] ** 2
    np.testing.assert_allclose(pointwise_variance(a, cluster_codes=codes), v, rtol=LOOP_RTOL)


def test_singleton_clusters_equal_unclustered():
    a = _influence(25, 4, seed=7)
    codes = np.arange(25)
    assert np.array_equal(
        bootstrap_draws(a, n_boot=80, rng=9, cluster_codes=codes), bootstrap_draws(a, n_boot=80, rng=9)
    )
    assert np.array_equal(pointwise_variance(a, cluster_codes=codes), pointwise_variance(a))


def test_clustering_changes_variance_when_units_correlate():
    # two identical units in one cluster: cluster variance (2a)^2 = 4a^2 vs 2a^2 unclustered
    a = np.array([[1.0, 2.0], [1.0, 2.0]])
    np.testing.assert_array_equal(pointwise_variance(a, cluster_codes=np.array([0, 0])), [4.0, 16.0])
    np.testing.assert_array_equal(pointwise_variance(a), [2.0, 8.0])


# ---------------------------------------------------------------------------------------------
# critical values, band
# ---------------------------------------------------------------------------------------------
def test_critical_value_rank():
    stats = np.random.default_rng(8).permutation(np.arange(1.0, 1000.0))  # 1..999
    assert critical_value(stats, alpha=0.05) == 950.0  # ceil(0.95 * 1000)
    assert critical_value(stats[:500], alpha=0.05) == np.sort(stats[:500])[476 - 1]  # ceil(.95*501)
    assert critical_value(np.arange(1.0, 20.0), alpha=0.05) == 19.0  # B = 19: the maximum
    assert critical_value(np.arange(1.0, 19.0), alpha=0.05) == math.inf  # B = 18: too few
    assert critical_value(np.arange(1.0, 101.0), alpha=0.1) == 91.0  # ceil(0.9 * 101)


@pytest.mark.parametrize("n_boot", [19, 25, 99, 250, 999])
@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1, 0.2])
def test_critical_value_agrees_with_pvalue(n_boot, alpha):
    """statistic > critical value exactly when p-value <= alpha, for every statistic."""
    rng = np.random.default_rng(n_boot)
    draws = rng.standard_normal((n_boot, 1))
    boot = np.abs(draws[:, 0])
    grid = np.array([0.5])
    # statistics at, just above and just below every bootstrap value
    for s in np.concatenate([boot, np.nextafter(boot, np.inf), np.nextafter(boot, 0), [0.0, 9.0]]):
        res = nullity_test(np.array([s]), draws, grid, alpha=alpha)[0]
        assert (res.statistic > res.critical_value) == res.reject


def test_uniform_band_by_hand():
    tau = np.array([1.0, 2.0, 3.0])
    draws = np.array([[0.1, -0.5, 0.2], [0.3, 0.1, -0.2], [-0.05, 0.0, 0.02], [1.0, 0.0, 0.0]])
    # maxima 0.5, 0.3, 0.05, 1.0; B = 4 is too few for alpha = 0.05 but fine for alpha = 0.2:
    # rank ceil(0.8 * 5) = 4 -> the largest maximum
    band = uniform_band(tau, draws, alpha=0.2)
    assert isinstance(band, UniformBand)
    assert band.critical_value == 1.0 and band.n_boot == 4 and band.kind == "uniform"
    np.testing.assert_array_equal(band.lower, tau - 1.0)
    np.testing.assert_array_equal(band.upper, tau + 1.0)
    # alpha = 0.4: rank 5 - floor(2) = 3 -> third smallest maximum, 0.5
    assert uniform_band(tau, draws, alpha=0.4).critical_value == 0.5
    with pytest.raises(ValueError, match="n_boot"):
        uniform_band(tau, draws, alpha=0.05)


def test_studentized_band_by_hand_and_zero_se():
    tau = np.array([0.0, 1.0, 2.0])
    se = np.array([0.5, 0.0, 2.0])  # the middle point has no influence at all
    draws = np.array([[1.0, 0.0, 1.0], [0.1, 0.0, 4.0], [-0.4, 0.0, 0.2], [0.25, 0.0, -1.0]])
    # max_j |G|/se over j in {0, 2}: 2, 2, 0.8, 0.5 -> alpha = 0.4 picks rank 3 -> 2.0
    band = uniform_band(tau, draws, alpha=0.4, band="studentized", se=se)
    assert band.critical_value == 2.0 and band.kind == "studentized"
    np.testing.assert_array_equal(band.lower, [-1.0, 1.0, -2.0])
    np.testing.assert_array_equal(band.upper, [1.0, 1.0, 6.0])
    assert uniform_band(tau, draws, alpha=0.4, band="Studentised", se=se).kind == "studentized"


def test_studentized_and_uniform_coincide_for_constant_se():
    a = _influence(30, 8, seed=10)
    draws = bootstrap_draws(a, n_boot=199, rng=1)
    tau = np.linspace(0, 1, 8)
    u = uniform_band(tau, draws, alpha=0.1)
    s = uniform_band(tau, draws, alpha=0.1, band="studentized", se=np.full(8, 2.0))
    np.testing.assert_allclose(s.upper - s.lower, u.upper - u.lower, rtol=RTOL_SAME_ARITHMETIC)


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------
def test_nullity_pvalue_formula_with_ties():
    q = np.array([0.25, 0.5, 0.75])
    tau = np.array([0.0, -2.0, 1.0])  # S = 2
    draws = np.array(
        [[2.0, 0.0, 0.0], [0.0, 0.0, -3.0], [1.0, 1.0, 1.0], [0.5, -1.9, 0.0], [0.0, 0.0, 2.5]]
    )  # S_b = 2 (tie counts), 3, 1, 1.9, 2.5 -> #{S_b >= 2} = 3
    res = nullity_test(tau, draws, q, alpha=0.2)[0]
    assert isinstance(res, TestResult)
    assert res.test == "nullity" and res.statistic == 2.0 and res.n_boot == 5
    assert res.pvalue == (1 + 3) / (5 + 1) and type(res.pvalue) is float
    assert res.range == (0.25, 0.75)
    np.testing.assert_array_equal(res.indices, [0, 1, 2])
    assert res.critical_value == 3.0  # rank 6 - floor(1.2) = 5 -> the largest
    assert not res.reject
    # restricted to q = 0.75 only: S = 1, S_b = 0, 3, 1, 0, 2.5 -> 3 of 5 >= 1
    r2 = nullity_test(tau, draws, q, ranges=(0.6, 0.9))[0]
    assert r2.statistic == 1.0 and r2.pvalue == 4 / 6
    np.testing.assert_array_equal(r2.indices, [2])


def test_homogeneity_by_hand_and_invariances():
    q = np.array([0.2, 0.4, 0.6, 0.8])
    tau = np.array([1.0, 2.0, 3.0, 6.0])  # mean 3 -> S = 3
    draws = np.array([[0.0, 0.0, 0.0, 4.0], [1.0, 1.0, 1.0, 1.0], [-2.0, 0.0, 2.0, 0.0]])
    # centred rows: [-1,-1,-1,3] -> 3 ; [0,0,0,0] -> 0 ; [-2,0,2,0] -> 2
    res = homogeneity_test(tau, draws, q)[0]
    assert res.statistic == 3.0 and res.pvalue == 2 / 4 and res.test == "homogeneity"
    # a constant shift of tau, or of each draw, changes nothing
    shifted = homogeneity_test(tau + 10.0, draws + np.array([[5.0], [-1.0], [0.5]]), q)[0]
    assert shifted.statistic == res.statistic and shifted.pvalue == res.pvalue
    # a constant tau is never rejected: S = 0 and every S_b >= 0
    assert homogeneity_test(np.full(4, 7.0), draws, q)[0].pvalue == 1.0


def test_several_ranges_and_grid_tolerance():
    q = np.linspace(0.01, 0.99, 99)  # 0.05 is a few ulps off here
    a = _influence(50, 99, seed=11)
    draws = bootstrap_draws(a, n_boot=99, rng=2)
    tau = np.sin(6 * q)
    res = homogeneity_test(tau, draws, q, ranges=[(0.05, 0.5), (0.5, 0.95)])
    assert [r.range for r in res] == [(0.05, 0.5), (0.5, 0.95)]
    np.testing.assert_array_equal(res[0].indices, np.arange(4, 50))
    np.testing.assert_array_equal(res[1].indices, np.arange(49, 95))
    single = homogeneity_test(tau, draws, q, ranges=np.array([0.5, 0.95]))[0]
    assert single.statistic == res[1].statistic and single.pvalue == res[1].pvalue


@pytest.mark.parametrize(
    "ranges",
    [(0.5, 0.4), (0.0, 0.5), (0.5, 1.0), (0.3, 0.3), [(0.1, 0.2), (0.9,)], "all", [], (0.41, 0.44)],
)
def test_ranges_validation(ranges):
    q = np.array([0.2, 0.4, 0.6, 0.8])
    draws = np.zeros((9, 4))
    with pytest.raises(ValueError, match="`ranges`"):
        nullity_test(np.zeros(4), draws, q, ranges=ranges)


def test_homogeneity_needs_two_points():
    q = np.array([0.2, 0.4, 0.6, 0.8])
    draws = np.zeros((9, 4))
    assert len(nullity_test(np.zeros(4), draws, q, ranges=(0.3, 0.5))) == 1
    with pytest.raises(ValueError, match="at least 2 grid points"):
        homogeneity_test(np.zeros(4), draws, q, ranges=(0.3, 0.5))


def test_input_validation():
    q = np.array([0.25, 0.5, 0.75])
    with pytest.raises(ValueError, match="`draws`"):
        nullity_test(np.zeros(3), np.zeros((5, 4)), q)
    with pytest.raises(ValueError, match="`quantiles`"):
        nullity_test(np.zeros(3), np.zeros((5, 3)), q[:2])
    with pytest.raises(ValueError, match="`alpha`"):
        nullity_test(np.zeros(3), np.zeros((5, 3)), q, alpha=1.5)
    with pytest.raises(ValueError, match="`band`"):
        uniform_band(np.zeros(3), np.zeros((50, 3)), band="pointwise")
    with pytest.raises(ValueError, match="`se`"):
        uniform_band(np.zeros(3), np.zeros((50, 3)), band="studentized")
    with pytest.raises(ValueError, match="`se`"):
        uniform_band(np.zeros(3), np.zeros((50, 3)), band="studentized", se=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="`a`"):
        bootstrap_draws(np.zeros(4), n_boot=10, rng=0)
    with pytest.raises(ValueError, match="`a`"):
        bootstrap_draws(np.array([[0.0, np.nan]]), n_boot=10, rng=0)
    with pytest.raises(ValueError, match="`n_boot`"):
        bootstrap_draws(np.zeros((4, 2)), n_boot=0, rng=0)
    with pytest.raises(ValueError, match="`cluster_codes`"):
        aggregate_clusters(np.zeros((4, 2)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="`cluster_codes`"):
        aggregate_clusters(np.zeros((3, 2)), np.array([0, -1, 2]))
    with pytest.raises(TypeError, match="`cluster_codes`"):
        aggregate_clusters(np.zeros((3, 2)), np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="`xi`"):
        draws_from_multipliers(np.zeros((3, 2)), np.zeros((5, 4)))


# ---------------------------------------------------------------------------------------------
# fuzzy: delta method
# ---------------------------------------------------------------------------------------------
def test_delta_method_influence_linearises_the_ratio():
    """(N + eps a) / (D + eps b) = N/D + eps (D a - N b) / D^2 + O(eps^2)."""
    rng = np.random.default_rng(12)
    a = rng.standard_normal((6, 4))
    b = rng.standard_normal(6)
    num = np.array([1.0, 2.0, -0.5, 3.0])
    den = 0.7
    infl = delta_method_influence(a, b, numerator=num, denominator=den)
    loop = np.array([[(den * a[i, j] - num[j] * b[i]) / den**2 for j in range(4)] for i in range(6)])
    np.testing.assert_allclose(infl, loop, rtol=LOOP_RTOL)
    xi = rng.standard_normal(6)
    eps = 1e-6
    exact = (num + eps * xi @ a) / (den + eps * xi @ b) - num / den
    np.testing.assert_allclose(exact / eps, xi @ infl, rtol=FORWARD_DIFFERENCE_RTOL)


# ---------------------------------------------------------------------------------------------
# Gini test
# ---------------------------------------------------------------------------------------------
#: The R reference Gini values are printed with up to 15 significant digits (the uniform case,
#: 0.333102, is exact); measured 8.9e-16.
GINI_ATOL = 1e-14
#: Scaling a quantile function by 7 leaves its Gini unchanged up to rounding; the constant row's
#: Gini is 0 up to rounding (1.3e-15, off by 6.7e-16 after scaling).
GINI_SCALE_RTOL = 1e-13
GINI_SCALE_ATOL = 1e-15


@pytest.mark.parametrize("case", ["uniform", "exponential", "degenerate"])
def test_gini_coefficient_matches_r(case):
    qf = load_ref(f"ref_gini_qf_{case}")
    expected = load_ref("ref_gini").set_index("case").loc[case, "gini"]
    got = gini_coefficient(qf["q"].to_numpy(), qf["qf"].to_numpy())
    np.testing.assert_allclose(got, expected, rtol=0, atol=GINI_ATOL)


def test_gini_coefficient_rows_and_scale_invariance():
    q = np.arange(1, 100) / 100
    rows = np.vstack([q, q**2, np.exp(q), np.full(99, 3.0)])
    each = np.array([gini_coefficient(q, r) for r in rows])
    np.testing.assert_allclose(gini_coefficient(q, rows), each, rtol=RTOL_SAME_ARITHMETIC)
    np.testing.assert_allclose(gini_coefficient(q, 7.0 * rows), each, rtol=GINI_SCALE_RTOL, atol=GINI_SCALE_ATOL)
    assert np.isnan(gini_coefficient(q, -rows[0]))


def test_side_draws_share_multipliers():
    rng = np.random.default_rng(13)
    a_plus = rng.standard_normal((30, 6)) * (np.arange(30) % 2 == 0)[:, None]
    a_minus = rng.standard_normal((30, 6)) * (np.arange(30) % 2 == 1)[:, None]
    sd = side_draws(a_plus, a_minus, n_boot=70, rng=3)
    assert isinstance(sd, SideDraws) and sd.plus.shape == (70, 6) == sd.minus.shape
    tau_draws = bootstrap_draws(a_plus - a_minus, n_boot=70, rng=3)
    np.testing.assert_allclose(sd.plus - sd.minus, tau_draws, rtol=LOOP_RTOL, atol=LOOP_ATOL)


def _gini_world(seed: int, scale_plus: float, shift_plus: float, n_boot: int = 199):
    """Noisy limits around known curves and bootstrap draws from the same noise law."""
    q = np.arange(1, 40) / 40
    base = 1.0 + 2.0 * q + q**3
    rng = np.random.default_rng(seed)
    a_plus = 0.01 * rng.standard_normal((60, q.size)).cumsum(axis=1) / np.sqrt(q.size)
    a_minus = 0.01 * rng.standard_normal((60, q.size)).cumsum(axis=1) / np.sqrt(q.size)
    truth_plus = scale_plus * base + shift_plus
    xi0 = rng.standard_normal(60)
    m_plus, m_minus = truth_plus + xi0 @ a_plus, base + xi0 @ a_minus
    sd = side_draws(a_plus, a_minus, n_boot=n_boot, rng=rng)
    return q, m_plus, m_minus, sd


def test_gini_test_by_formula_and_power():
    q, m_plus, m_minus, sd = _gini_world(0, 1.0, 3.0)  # a shift lowers the Gini: H0 false
    res = gini_test(m_plus, m_minus, sd.plus, sd.minus, q, alpha=0.05)
    d = gini_coefficient(q, m_plus) - gini_coefficient(q, m_minus)
    d_b = gini_coefficient(q, m_plus + sd.plus) - gini_coefficient(q, m_minus + sd.minus)
    assert res.test == "gini" and res.statistic == abs(d) and res.n_boot == 199
    assert res.pvalue == (1 + np.count_nonzero(np.abs(d_b - d) >= abs(d))) / 200
    assert res.pvalue == 1 / 200 and res.reject
    # R's uncentred comparison |D_b| >= |D| gives ~0.5 however large the difference
    assert 0.3 < np.mean(np.abs(d_b) >= abs(d)) < 0.7


#: Gini test size under H0 (issue 12 gate: size <= 8% at the 5% level; the lower bound mirrors
#: it). The rejection rate over 10,000 worlds is 0.0505; over GINI_SIZE_WORLDS = 1000 its MC sd
#: is 0.0069, so both bounds sit 4.3 sd away, and a test with 10% size passes with prob. 0.02.
GINI_SIZE_WORLDS = 1000
GINI_SIZE_GATE = (0.02, 0.08)


def test_gini_test_size_under_h0():
    """A scale change keeps the Gini: rejections at 5% over 1000 worlds stay near 5%."""
    rejections = []
    for seed in range(GINI_SIZE_WORLDS):
        q, m_plus, m_minus, sd = _gini_world(seed, 2.0, 0.0, n_boot=99)
        rejections.append(gini_test(m_plus, m_minus, sd.plus, sd.minus, q, alpha=0.05).reject)
    lo, hi = GINI_SIZE_GATE
    assert lo <= np.mean(rejections) <= hi, np.mean(rejections)


@pytest.mark.parametrize("shape", [(1, 3), (4096, 5), (4097, 2), (9000, 99), (12289, 20), (5000, 1), (8193, 7)])
def test_variance_in_row_blocks_equals_einsum_bit_for_bit(shape):
    """The HC0 variance squares the scaled influence matrix in blocks of rows (no (n, m) copy);
    numpy's einsum sums the rows one after another, so the blocks give the same bits."""
    import r3d.bootstrap as bs

    rng = np.random.default_rng(sum(shape))
    a = rng.standard_normal(shape) * 10.0 ** rng.uniform(-8, 8, shape[1])
    a[rng.random(shape) < 0.3] = 0.0
    e = np.frexp(np.max(np.abs(a), axis=0))[1]
    scaled = np.ldexp(a, -e)
    expected = np.einsum("gj,gj->j", scaled, scaled)
    assert np.array_equal(bs._scaled_sum_of_squares(a, e), expected)
    V, se = bs._variance_and_se(a)
    assert np.array_equal(V, np.ldexp(expected, 2 * e)) and np.array_equal(se, np.ldexp(np.sqrt(expected), e))
