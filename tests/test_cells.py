"""Cell data (METHOD_EXTENSIONS §12, issue 18): fractional take-up, unit weights and mass points.

rdrobust (PyPI ``rdrobust``) is the reference: with the unit quantile at level q as the outcome,
its conventional estimate and ``vce="hc0"`` standard error at a fixed h equal r3d's raw jump (or
raw Wald ratio) and pointwise SE, with ``fuzzy=`` a share-valued take-up and ``weights=`` the unit
weights.
"""

import gzip
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import r3d

rdrobust = pytest.importorskip("rdrobust").rdrobust

#: As tests/test_against_rdrobust.py: the same weighted least squares in double precision, in
#: another basis and summation order. Measured here (rdrobust 2.1.1, every level checked): see the
#: comments at each test; a formula difference shows at >= 1e-4.
RTOL_RDROBUST = 1e-8

GRID = np.linspace(0.1, 0.9, 9)
RECORD = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "outputs_after_issue14.json.gz"
LONG = Path(__file__).resolve().parent / "reference" / "long"


def _cells(n=400, seed=5):
    """n cells: running variable, a quantile matrix, a take-up share and a cell size."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    share = np.clip(np.where(x >= 0, 0.7, 0.2) + 0.1 * x + rng.uniform(-0.2, 0.2, n), 0.0, 1.0)
    share[:5] = [0.0, 1.0, 0.0, 1.0, 0.5]  # exact bounds are valid shares
    base = np.sort(rng.normal(size=(n, GRID.size)), axis=1)
    level = 0.8 * share + x
    Q = base + level[:, None] + np.abs(level)[:, None] * np.linspace(0, 1, GRID.size)
    size = rng.integers(1, 30, n).astype(float)
    return x, Q, share, size


def _quiet_fit(mod, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        return mod.fit(**kw)


# ---------------------------------------------------------------------------------------------
# fractional take-up
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", [1, 2])
def test_fractional_takeup_equals_rdrobust_fuzzy(order):
    """Measured (rdrobust 2.1.1, p = 1, 2, every level): Wald ratios agree to 5.2e-14, SEs to 7.3e-15."""
    x, Q, share, _ = _cells()
    mod = r3d.R3D.from_quantiles(Q, x, GRID, treatment=share)
    h = 0.6
    res = _quiet_fit(mod, method="simple", order=order, bandwidth=h, bandwidth_treatment=h, n_boot=0)
    rd_t = rdrobust(share, x, c=0.0, p=order, h=h, kernel="tri", vce="hc0", masspoints="off")
    np.testing.assert_allclose(res.first_stage.jump, rd_t.coef.iloc[0, 0], rtol=RTOL_RDROBUST)
    np.testing.assert_allclose(res.first_stage.se, rd_t.se.iloc[0, 0], rtol=RTOL_RDROBUST)
    lim = res.limits
    for j in range(GRID.size):
        rd = rdrobust(Q[:, j], x, c=0.0, fuzzy=share, p=order, h=h, kernel="tri", vce="hc0", masspoints="off")
        raw_wald = (lim["right_raw"].iloc[j] - lim["left_raw"].iloc[j]) / res.first_stage.jump
        np.testing.assert_allclose(raw_wald, rd.coef.iloc[0, 0], rtol=RTOL_RDROBUST)
        np.testing.assert_allclose(res.bse.iloc[j], rd.se.iloc[0, 0], rtol=RTOL_RDROBUST)


def test_fractional_takeup_in_long_data():
    rng = np.random.default_rng(2)
    n = 200
    x = rng.uniform(-1, 1, n)
    share = np.clip(0.3 + 0.4 * (x >= 0) + rng.uniform(-0.2, 0.2, n), 0, 1)
    sizes = rng.integers(3, 8, n)
    unit = np.repeat(np.arange(n), sizes)
    df = pd.DataFrame({"cell": unit, "x": x[unit], "share": share[unit],
                       "y": x[unit] + share[unit] + rng.normal(size=unit.size)})
    mod = r3d.R3D.from_formula("y ~ x", data=df, cutoff=0.0, unit="cell", treatment="share")
    np.testing.assert_array_equal(mod.treatment.to_numpy(), share)
    res = _quiet_fit(mod, bandwidth=0.6, n_boot=0)
    assert res.first_stage is not None and np.isfinite(res.params).all()


@pytest.mark.parametrize("bad", [-0.1, 1.5, np.inf, np.nan])
def test_takeup_outside_unit_interval_is_refused(bad):
    x, Q, share, _ = _cells(n=50)
    share = share.copy()
    share[7] = bad
    with pytest.raises(ValueError, match=r"`treatment` must be take-up in \[0, 1\] for every unit.*unit 7"):
        r3d.R3D.from_quantiles(Q, x, GRID, treatment=share)


def _recorded(key):
    with gzip.open(RECORD, "rt") as f:
        return json.load(f)["long"][key]["to_dict"]


@pytest.mark.parametrize("method", ["simple", "frechet"])
def test_zero_one_takeup_numbers_unchanged(method):
    """0/1 take-up gives bit-for-bit the numbers recorded before fractional take-up existed."""
    fuzzy = pd.read_csv(LONG / "ref_long_fuzzy.csv", comment="#")
    fmod = r3d.R3D.from_formula("y ~ x", data=fuzzy, cutoff=0.0, unit="unit", treatment="t")
    res = _quiet_fit(fmod, method=method, bandwidth=0.5, quantiles=np.arange(1, 20) / 20, n_boot=199, rng=3)
    rec = _recorded(f"fuzzy/{method}/0.5")
    got = res.to_dict()
    assert list(map(float, got["params"])) == rec["params"]
    assert list(map(float, got["bse"])) == rec["bse"]
    assert float(res.first_stage.jump) == rec["first_stage"]["jump"]
