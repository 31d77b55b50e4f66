"""Results do not depend on the number of threads, and a fit leaves no thread setting behind.

Every compiled loop runs on one thread since issue 12: their threads saved at most 10 % of
any reference job (``benchmarks/results/threads.md``), so ``n_jobs`` is accepted but no
stage uses it. These tests keep that promise checked if a parallel path comes back.
"""

import numpy as np
import pytest

import r3d


def _numbers(res):
    inf = res._inf
    return [res._est.tau, res._est.influence, res._est.residuals, inf.variance, inf.draws,
            inf.band.lower, np.atleast_1d(res.bandwidth)]


@pytest.fixture
def firms_model():
    df = r3d.datasets.simulate_firms(n_firms=300, rng=11)
    return r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")


@pytest.mark.parametrize("method", ["frechet", "simple"])
def test_fit_is_the_same_for_any_n_jobs(firms_model, method):
    ref = _numbers(firms_model.fit(method=method, quantiles=19, n_boot=199, rng=5, n_jobs=1))
    for n_jobs in (2, 3, None):
        got = _numbers(firms_model.fit(method=method, quantiles=19, n_boot=199, rng=5, n_jobs=n_jobs))
        for a, b in zip(ref, got, strict=True):
            assert np.array_equal(a, b)


def test_no_blas_setting_survives_a_fit(firms_model):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [(lib["internal_api"], lib["num_threads"]) for lib in threadpoolctl.threadpool_info()]
    firms_model.fit(quantiles=9, n_boot=99, rng=1)
    after = [(lib["internal_api"], lib["num_threads"]) for lib in threadpoolctl.threadpool_info()]
    assert after == before
