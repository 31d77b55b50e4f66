"""Results do not depend on the number of threads, with every parallel path forced on.

The kernels use threads only above work thresholds that small test data never reach; the
thresholds are module attributes, lowered to zero here so that the parallel loops run.
"""

import numpy as np
import pytest

import r3d
from r3d._ext import _bootstrap, _isotonic, _locpoly, _quantiles


@pytest.fixture
def parallel_everywhere(monkeypatch):
    import r3d.bootstrap as boot

    monkeypatch.setattr(_bootstrap, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(_quantiles, "PARALLEL_MIN_DRAWS", 0)
    monkeypatch.setattr(_isotonic, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(_locpoly, "COMMON_PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(_locpoly, "PER_COLUMN_PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(boot, "PIPELINE_MIN_MULTIPLIERS", 1)


def _numbers(res):
    inf = res._inf
    return [res._est.tau, res._est.influence, res._est.residuals, inf.variance, inf.draws,
            inf.band.lower, np.atleast_1d(res.bandwidth)]


@pytest.mark.parametrize("method", ["frechet", "simple"])
def test_fit_is_the_same_for_any_n_jobs(parallel_everywhere, method):
    df = r3d.datasets.simulate_firms(n_firms=300, rng=11)
    mod = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")
    ref = _numbers(mod.fit(method=method, quantiles=19, n_boot=199, rng=5, n_jobs=1))
    for n_jobs in (2, 3):
        got = _numbers(mod.fit(method=method, quantiles=19, n_boot=199, rng=5, n_jobs=n_jobs))
        for a, b in zip(ref, got, strict=True):
            assert np.array_equal(a, b)


def test_kernels_are_the_same_for_any_thread_count(parallel_everywhere):
    rng = np.random.default_rng(12)
    n, m = 240, 11
    codes = rng.integers(0, n, 5000).astype(np.int64)
    codes[:n] = np.arange(n)
    y = rng.standard_normal(codes.size)
    w = rng.uniform(0.5, 2.0, codes.size)
    levels = np.linspace(0.05, 0.95, m)
    x = rng.uniform(-1, 1, n)
    Y = np.sort(rng.standard_normal((n, m)), axis=1)
    xi = rng.standard_normal((37, n))
    rows = np.arange(n, dtype=np.intp)
    fp = np.cumsum(rng.standard_normal((n, m)), axis=1)
    right = x[rows] >= 0

    def run(t):
        return [
            _quantiles.unit_quantiles(y, codes, n, levels, "linear", None, t),
            _quantiles.unit_quantiles(y, codes, n, levels, "linear", w, t),
            _bootstrap.multiplier_product(xi, Y, rows, t),
            _isotonic.isotonic_rows(fp, t),
            *_isotonic.side_residuals(Y, fp, fp[::-1].copy(), rows, right, x.copy(), True, t),
            *_locpoly.fit_common(x, Y, 0.0, 0.7, 2, 0, True, 1e-12, True, t)[4:],
            *_locpoly.fit_per_column(x, Y, 0.0, np.linspace(0.5, 0.9, m), 2, 0, False, 1e-12, True, t)[4:],
        ]

    ref = run(1)
    for t in (2, 4):
        for a, b in zip(ref, run(t), strict=True):
            assert np.array_equal(a, b)
