"""Fused residual/influence kernel (_isotonic.side_residuals) against its NumPy twin and the
unfused NumPy route of r3d.estimators."""

import numpy as np
import pytest

from r3d._ext import _isotonic
from r3d._ext import isotonic_numpy as twin
from r3d.estimators import _influence, _residuals, _residuals_and_influence
from r3d.locpoly import fit_side

# Without projection the kernel and the twin do the same two operations per entry.
EXACT = 0.0
# With projection the twin uses scipy's PAVA (running means) and the kernel block sums:
# block means differ by rounding (as in test_monotone; measured 8.9e-16 on residuals <= 10).
PAVA_ATOL = 1e-14


def _case(rng, n=60, m=17):
    Y = np.sort(rng.standard_normal((n, m)), axis=1)
    fp = np.cumsum(rng.standard_normal((n, m)), axis=1)  # non-monotone rows: PAVA merges
    fm = np.cumsum(rng.standard_normal((n, m)), axis=1)
    rows = np.sort(rng.choice(n, size=n // 2, replace=False)).astype(np.intp)
    right = rng.random(rows.size) < 0.5
    wd = rng.standard_normal(n)
    return Y, fp, fm, rows, right, wd


@pytest.mark.parametrize("project", [False, True])
def test_kernel_matches_twin(project):
    rng = np.random.default_rng(3)
    args = _case(rng)
    e, a = _isotonic.side_residuals(*args, project)
    te, ta = twin.side_residuals(*args, project)
    tol = PAVA_ATOL if project else EXACT
    np.testing.assert_allclose(e, te, rtol=0, atol=tol)
    np.testing.assert_allclose(a, ta, rtol=0, atol=tol * np.abs(args[5]).max())
    outside = np.setdiff1d(np.arange(args[0].shape[0]), args[3])
    assert not e[outside].any() and not a[outside].any()


def test_kernel_equals_the_numpy_route_bit_for_bit():
    """estimate()'s fused route gives the very numbers of the unfused NumPy route."""
    rng = np.random.default_rng(8)
    n, m = 400, 23
    x = rng.uniform(-1, 1, n)
    Q = np.sort(5 + 3 * x[:, None] + rng.standard_normal((n, m)), axis=1)
    for project in (False, True):
        fp = fit_side(x, Q, cutoff=0.0, h=0.6, order=2, kernel="triangular", side="right")
        fm = fit_side(x, Q, cutoff=0.0, h=0.6, order=2, kernel="triangular", side="left")
        e, a = _residuals_and_influence(x, Q, 0.0, fp, fm, project=project)
        e0 = _residuals(x, Q, 0.0, fp, fm, project=project)
        assert np.array_equal(e, e0)
        assert np.array_equal(a, _influence(fp.weights, fm.weights, e0))
        assert np.array_equal(a, (fp.weights - fm.weights) * e0)


def test_kernel_refuses_bad_input():
    rng = np.random.default_rng(5)
    Y, fp, fm, rows, right, wd = _case(rng, n=10, m=4)
    with pytest.raises(TypeError):
        _isotonic.side_residuals(Y, fp[:, :3].copy(), fm, rows, right, wd, True)
    with pytest.raises(TypeError):
        _isotonic.side_residuals(Y, fp, fm, rows.astype(np.int32), right, wd, True)
    with pytest.raises(TypeError):
        _isotonic.side_residuals(Y, fp, fm, rows, right.astype(np.uint8), wd, True)
    with pytest.raises(ValueError):
        _isotonic.side_residuals(Y, fp, fm, rows + 10, right, wd, True)
    bad = fp.copy()
    bad[rows[right][0] if right.any() else rows[0]] = np.nan
    r = np.ones_like(right) if not right.any() else right
    with pytest.raises(ValueError, match="finite"):
        _isotonic.side_residuals(Y, bad, fm, rows, r, wd, True)
    big = np.full_like(fp, 1.5e308)
    with pytest.raises(FloatingPointError):
        _isotonic.side_residuals(Y, big - np.arange(4) * 1e307, big, rows, np.ones_like(right), wd, True)


@pytest.mark.parametrize("project", [True, False])
def test_non_finite_residuals_or_influence_are_refused(project):
    """The finiteness of e and a is checked row by row inside the kernel (only written rows can be
    non-finite): a NaN weight difference or a residual that overflows still raises."""
    rng = np.random.default_rng(8)
    Y, fp, fm, rows, right, wd = _case(rng, n=12, m=5)
    wd_nan = wd.copy()
    wd_nan[rows[-1]] = np.nan
    with pytest.raises(FloatingPointError, match="not finite"):
        _isotonic.side_residuals(Y, fp, fm, rows, right, wd_nan, project)
    Y_big = Y.copy()
    Y_big[rows[0]] = 1.7e308
    f_neg = np.full_like(fp, -1.7e308)
    with pytest.raises(FloatingPointError, match="not finite"):
        _isotonic.side_residuals(Y_big, f_neg, f_neg, rows, right, wd, False)
    e, a = _isotonic.side_residuals(Y, fp, fm, rows, right, wd, project)
    assert np.isfinite(e).all() and np.isfinite(a).all()

