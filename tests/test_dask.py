"""R3D.from_formula on a Dask DataFrame, on a local two-process cluster, against pandas.

The workers run the same compiled quantile kernel on the same rows (restored to their
original order), so quantiles, fit and bootstrap equal the in-memory path.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _refdata import load_long

import r3d
from r3d import R3D

#: Units with a handful of draws on a fine grid: the few-draws diagnostic is expected here and is
#: tested in tests/test_fewdraws.py.
pytestmark = pytest.mark.filterwarnings("ignore::r3d.FewDrawsWarning")

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

#: Same kernel on the same draws: equal up to rounding (measured: bit for bit); room for another
#: partitioning to sum in another order.
SAME_RTOL = 1e-12
SAME_ATOL = 1e-12
#: Two local worker processes start in ~3 s here; allow for a heavily loaded machine.
CLUSTER_START_SECONDS = 120


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=SAME_RTOL, atol=SAME_ATOL)


@pytest.fixture(scope="module")
def client():
    """Two worker processes, one thread each (the cluster starts once for the module)."""
    import concurrent.futures

    # start the cluster with a deadline: a worker that never comes up must fail the test, not hang it
    pool = concurrent.futures.ThreadPoolExecutor(1)
    fut = pool.submit(distributed.LocalCluster, n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None)
    try:
        cluster = fut.result(timeout=CLUSTER_START_SECONDS)
    except concurrent.futures.TimeoutError:
        pytest.fail(f"Dask LocalCluster did not start within {CLUSTER_START_SECONDS} s")
    finally:
        pool.shutdown(wait=False)  # never wait on a start that hangs
    with distributed.Client(cluster, timeout=f"{CLUSTER_START_SECONDS}s") as c:
        c.wait_for_workers(2, timeout=CLUSTER_START_SECONDS)
        yield c
    cluster.close()


@pytest.mark.parametrize("method", ["linear", "inverted_cdf"])
def test_reference_fuzzy_equals_in_memory(client, method):
    df = load_long("ref_long_fuzzy")
    ddf = dd.from_pandas(df, npartitions=4)
    grid = np.arange(1, 21) / 21
    mod = R3D.from_formula("np.log(y) ~ x", ddf, unit="unit", treatment="t", quantiles=grid, quantile_method=method)
    mem = R3D.from_formula("np.log(y) ~ x", df, unit="unit", treatment="t")
    assert mod.ndraws == mem.ndraws == len(df)
    assert list(mod.unit_ids) == list(mem.unit_ids)
    _close(mod.unit_quantiles().to_numpy(), mem.unit_quantiles(grid, method=method).to_numpy())
    res = mod.fit(n_boot=199, rng=11)
    ref = mem.fit(quantiles=grid, quantile_method=method, n_boot=199, rng=11)
    _close(res.params, ref.params)
    _close(res.bse, ref.bse)
    _close(res.bandwidth, ref.bandwidth)
    _close(res.bootstrap_draws, ref.bootstrap_draws)
    assert res.model.endog_names == "np.log(y)"


def test_random_string_ids_weights_clusters(client):
    rng = np.random.default_rng(99)
    n_units = 80
    sizes = rng.integers(1, 30, size=n_units)
    ids = np.array([f"u{k}" for k in rng.permutation(n_units)])
    x = rng.uniform(-1, 1, size=n_units)
    df = pd.DataFrame({"unit": np.repeat(ids, sizes), "x": np.repeat(x, sizes),
                       "y": rng.normal(np.repeat(x + 2.0 * (x >= 0), sizes), 1.0),
                       "w": rng.uniform(0.2, 2.0, size=sizes.sum()),
                       "g": np.repeat(rng.integers(0, 15, size=n_units), sizes)})
    df.loc[rng.uniform(size=len(df)) < 0.05, "y"] = np.nan
    df.loc[df["unit"] == ids[5], "w"] = 0.0  # all weights zero: unit dropped
    df = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    ddf = dd.from_pandas(df, npartitions=3)
    # (pytest >= 8 re-emits what an inner warns() does not match, so each block checks every warning)
    with pytest.warns(r3d.SmallSampleWarning, match="15 clusters"), \
            pytest.warns(r3d.DroppedDataWarning, match="draw\\(s\\) dropped"), \
            pytest.warns(r3d.DroppedDataWarning, match="1 unit"):
        mod = R3D.from_formula("y ~ x", ddf, unit="unit", weights="w", cluster="g", quantiles=9)
    with pytest.warns(r3d.SmallSampleWarning, match="15 clusters"), \
            pytest.warns(r3d.DroppedDataWarning, match="draw\\(s\\) dropped"), \
            pytest.warns(r3d.DroppedDataWarning, match="1 unit"):
        mem = R3D.from_formula("y ~ x", df, unit="unit", weights="w", cluster="g")
    assert list(mod.unit_ids) == list(mem.unit_ids)
    assert mod._data.notes == mem._data.notes  # the same warnings, with the same counts
    assert (mod.ndraws, mod.n_dropped_draws, mod.n_dropped_units) == (mem.ndraws, mem.n_dropped_draws, 1)
    _close(mod.unit_quantiles().to_numpy(), mem.unit_quantiles(9).to_numpy())
    res = mod.fit(bandwidth=0.7, n_boot=99, rng=2)
    ref = mem.fit(bandwidth=0.7, quantiles=9, n_boot=99, rng=2)
    _close(res.bse, ref.bse)
    _close(res.bootstrap_draws, ref.bootstrap_draws)


def test_policy_error_from_the_cluster_names_the_unit(client):
    df = pd.DataFrame({"u": ["a", "a", "b", "b"], "x": [-1.0, -1.0, 1.0, 2.0], "y": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ValueError, match=r"`running` must be constant.*unit 'b'"):
        R3D.from_formula("y ~ x", dd.from_pandas(df, npartitions=2), unit="u", quantiles=3)


def test_stateful_transform_refused():
    df = dd.from_pandas(load_long("ref_long_small"), npartitions=2)
    with pytest.raises(ValueError, match="center"):
        R3D.from_formula("y ~ center(x)", df, unit="unit")
    with pytest.raises(ValueError, match="`unit` must be the name of a column"):
        R3D.from_formula("y ~ x", df, unit="firm")


@pytest.mark.parametrize("formula, call", [("y ~ scale(x)", "scale"), ("standardize(y) ~ x", "standardize"),
                                           ("y ~ I(lag(x) + 1)", "lag"), ("y ~ poly(x, 2)", "poly")])
def test_row_dependent_transforms_refused_with_the_fix(formula, call):
    df = dd.from_pandas(load_long("ref_long_small"), npartitions=2)
    with pytest.raises(ValueError, match=rf"`formula` must be free of transforms that learn from the data when "
                                         rf"`data` is a Dask DataFrame; got <.* uses {call}\(\.\.\.\)>\. "
                                         rf"Partitions are evaluated separately; compute the variable beforehand"):
        R3D.from_formula(formula, df, unit="unit")


def test_formula_parse_errors_before_any_work():
    df = dd.from_pandas(load_long("ref_long_small"), npartitions=2)
    with pytest.raises(ValueError, match="that formulaic can parse"):
        R3D.from_formula("y ~ (x", df, unit="unit")
    with pytest.raises(ValueError, match="exactly one running-variable term"):
        R3D.from_formula("y ~ x + t", df, unit="unit")


def test_callers_names_are_shipped_and_row_wise_functions_allowed(client):
    """Q (a column lookup) and the caller's own row-wise `center` are not refused; `k` reaches the workers."""
    df = load_long("ref_long_small")
    k = 2.0

    def center(v):
        return v - 1.0

    formula = "center(Q('y')) ~ I(x / k)"
    mod = R3D.from_formula(formula, dd.from_pandas(df, npartitions=3), unit="unit", quantiles=9)
    mem = R3D.from_formula(formula, df, unit="unit")
    _close(mod.unit_quantiles().to_numpy(), mem.unit_quantiles(9).to_numpy())
    _close(mod.running.to_numpy(), mem.running.to_numpy())
    assert (mod.endog_names, mod.running.name) == (mem.endog_names, mem.running.name)
    assert k == 2.0 and center(1.0) == 0.0  # used through the formula only


def test_grid_options_only_for_dask():
    with pytest.raises(ValueError, match=r"quantiles.*fit"):
        R3D.from_formula("y ~ x", load_long("ref_long_small"), unit="unit", quantiles=5)


def test_missing_dask_names_the_extra(monkeypatch):
    ddf = dd.from_pandas(load_long("ref_long_small"), npartitions=2)
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    with pytest.raises(ImportError, match=r'pip install "dask\[dataframe\]>=2024.1" "distributed>=2024.1"'):
        R3D.from_formula("y ~ x", ddf, unit="unit")
