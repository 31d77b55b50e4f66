"""r3d.backends: the UnitEngine protocol and model_from_engine, the one path engine -> model."""

import numpy as np
import pandas as pd
import pytest

import r3d
from r3d import R3D
from r3d.backends import UnitEngine, UnitSummary, model_from_engine
from r3d.data import Names


class ArrayEngine:
    """The smallest engine: per-unit draws held in memory, reduced with numpy."""

    names = Names(outcome="wage", running="score", unit="firm")
    quantile_methods = ("linear", "hazen")

    def __init__(self, samples, running):
        self.samples = [np.asarray(s, dtype=float) for s in samples]
        self.running = np.asarray(running, dtype=float)

    def unit_summary(self, grid, quantile_method):
        n = len(self.samples)
        n_draws = np.array([s.size for s in self.samples], dtype=np.int64)
        Q = np.vstack([np.quantile(s, grid, method=quantile_method) for s in self.samples])
        return UnitSummary(unit_ids=np.arange(n) * 10, n_rows=n_draws, n_draws=n_draws, x_min=self.running,
                           x_max=self.running, x_nan=np.zeros(n, np.int64), t_min=None, t_max=None, t_nan=None,
                           c_min=None, c_max=None, c_missing=None, Q=Q)


@pytest.fixture(scope="module")
def engine():
    rng = np.random.default_rng(12)
    running = rng.uniform(-1, 1, 120)
    samples = [rng.normal(2.0 * (x > 0) + x, 1.0, rng.integers(20, 40)) for x in running]
    return ArrayEngine(samples, running)


def test_an_engine_is_a_unit_engine(engine):
    assert isinstance(engine, UnitEngine)
    assert not isinstance(object(), UnitEngine)


@pytest.mark.parametrize("method", ["linear", "hazen"])
def test_model_from_engine_equals_from_quantiles(engine, method):
    grid = np.linspace(0.1, 0.9, 9)
    mod = model_from_engine(R3D, engine, quantiles=grid, quantile_method=method, cutoff=0.0, formula="wage ~ score")
    s = engine.unit_summary(grid, method)
    ref = R3D.from_quantiles(s.Q, engine.running, grid, unit_ids=s.unit_ids)
    pd.testing.assert_frame_equal(mod.unit_quantiles(), ref.unit_quantiles(), check_names=False)
    np.testing.assert_array_equal(mod.running.to_numpy(), ref.running.to_numpy())
    assert (mod.formula, mod.endog_names, mod.running.name, mod.ndraws) == \
        ("wage ~ score", "wage", "score", int(s.n_draws.sum()))
    a = mod.fit(bandwidth=0.5, n_boot=49, rng=4)
    b = ref.fit(bandwidth=0.5, n_boot=49, rng=4)
    np.testing.assert_array_equal(a.params, b.params)  # the same arrays through the same constructor
    np.testing.assert_array_equal(a.bse, b.bse)
    np.testing.assert_array_equal(a.bootstrap_draws, b.bootstrap_draws)
    assert a.spec.quantile_method == method  # the engine's method is recorded


def test_model_from_engine_checks_method_and_grid_against_the_engine(engine):
    with pytest.raises(ValueError, match="`quantile_method` must be one of 'linear', 'hazen'; got 'weibull'"):
        model_from_engine(R3D, engine, quantiles=5, quantile_method="weibull", cutoff=0.0)
    with pytest.raises(ValueError, match="quantiles"):
        model_from_engine(R3D, engine, quantiles=[0.5, 1.5], quantile_method="linear", cutoff=0.0)


def test_data_policy_applies_to_every_engine(engine):
    class Empty(ArrayEngine):
        def unit_summary(self, grid, quantile_method):
            s = super().unit_summary(grid, quantile_method)
            n_draws = s.n_draws.copy()
            n_draws[3] = 0
            Q = s.Q.copy()
            Q[3] = np.nan
            return UnitSummary(**{**{f: getattr(s, f) for f in s.__slots__}, "n_draws": n_draws, "Q": Q})

    # the unit's draws are reported as dropped for a zero or missing weight (the fake engine zeroed n_draws)
    with pytest.warns(r3d.DroppedDataWarning, match=r"draw\(s\) dropped \(\d+ with a zero or missing weight\)"), \
            pytest.warns(r3d.DroppedDataWarning, match="1 unit"):
        mod = model_from_engine(R3D, Empty(engine.samples, engine.running), quantiles=5, quantile_method="linear",
                                cutoff=0.0)
    assert mod.nobs == len(engine.samples) - 1 and mod.n_dropped_units == 1


def test_shipped_engines_implement_the_protocol(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    pytest.importorskip("pyarrow")
    from r3d.backends.duckdb import ParquetEngine

    path = tmp_path / "d.parquet"
    pd.DataFrame({"u": [1, 1, 2, 2], "x": [-1.0, -1, 1, 1], "y": [1.0, 2, 3, 4]}).to_parquet(path)
    with ParquetEngine.from_parquet(str(path), "y ~ x", unit="u") as engine:
        assert isinstance(engine, UnitEngine)
        assert engine.con.execute("SELECT 1").fetchall() == [(1,)]
    with pytest.raises(duckdb.Error):  # the engine owned its connection until the end of the block
        engine.con.execute("SELECT 1")
    dd = pytest.importorskip("dask.dataframe")
    from r3d.backends.dask import DaskEngine

    ddf = dd.from_pandas(pd.read_parquet(path), npartitions=1)
    assert isinstance(DaskEngine.from_formula("y ~ x", ddf, unit="u"), UnitEngine)
