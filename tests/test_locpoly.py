"""One-sided local polynomial kernel (METHOD.md section 3): r3d.locpoly and its twin.

Reference numbers: the author's R package (tests/reference/r3d_r, see README_upstream.md).
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from _refdata import load_ref

from r3d import InsufficientDataError
from r3d._ext.locpoly_numpy import fit_side_numpy
from r3d.locpoly import (
    KERNELS,
    RCOND_MIN,
    SideFit,
    canonical_kernel,
    fit_side,
    kernel_function,
)

# R solves the normal equations by LU, we use Householder QR: both round at
# ~cond(M) * eps ~ 1e-13 on coefficients of size ~8 (measured: 1e-12).
R_COEF_ATOL = 1e-10
# Intercept weights are O(0.1) and better conditioned (measured: 1.1e-14).
R_WEIGHT_ATOL = 1e-12
# R's int_plus/int_minus at p = 1, 3 after its own rearrangement, reproduced in
# numpy (interpolation + type-7 quantiles, measured 6e-13).
R_INTERCEPT_ATOL = 1e-10
# Kernel (QR) vs twin (lstsq/pinv, SVD): both backward stable, so their difference
# is bounded by c * eps * cond(A) * scale; c * eps = 1e-13 leaves a margin of ~100
# over the measured worst case (orders 0..10).
TWIN_TOL_PER_COND = 1e-13
# Identities inside one kernel result (sums of O(n) terms of size <= 1).
IDENTITY_ATOL = 1e-12
# Reciprocal 1-norm condition number of the triangular factor, kernel (its own R and R^-1 from
# Householder QR) vs twin (numpy): the factors round differently, the more so the smaller rcond
# (measured 4.6e-10, rcond down to 2e-8).
RCOND_RTOL = 1e-8
# Noiseless polynomial data: the fit recovers the coefficients up to rounding (measured 6.3e-14).
EXACT_POLY_ATOL = 1e-12

SIDE_R = {"right": "plus", "left": "minus"}
# The kernels the R reference files cover (tests/reference: ref_locpoly_*_{kernel}); a kernel
# added to r3d.kernels.KERNELS is checked by the twin and tests/test_kernels.py instead.
R_KERNELS = ("triangular", "epanechnikov", "uniform")


@pytest.fixture(scope="module")
def sharp20():
    d = load_ref("ref_data_sharp_simple_20")
    return d["X"].to_numpy(), d.filter(like="Q").to_numpy()


# ---------------------------------------------------------------- against R


@pytest.mark.parametrize("kernel", R_KERNELS)
@pytest.mark.parametrize("side", ["right", "left"])
def test_coefficients_and_weights_match_r(sharp20, kernel, side):
    x, Q = sharp20
    h = load_ref(f"ref_locpoly_bw_{kernel}")["h"].to_numpy()
    fit = fit_side(x, Q, cutoff=0.0, h=h, order=2, kernel=kernel, side=side)
    s = SIDE_R[side]
    alpha_r = load_ref(f"ref_locpoly_alpha_{s}_{kernel}").to_numpy()
    alpha_est_r = load_ref(f"ref_est_alpha_{s}_sharp_simple_{kernel}").to_numpy()
    w_r = load_ref(f"ref_locpoly_w_{s}_{kernel}").to_numpy()
    assert fit.coef.shape == alpha_r.shape == (3, 20)
    assert_allclose(fit.coef, alpha_r, rtol=0, atol=R_COEF_ATOL)
    assert_allclose(fit.coef, alpha_est_r, rtol=0, atol=R_COEF_ATOL)
    assert_allclose(fit.intercept, alpha_r[0], rtol=0, atol=R_COEF_ATOL)
    assert fit.weights.shape == w_r.shape == (200, 20)
    assert_allclose(fit.weights, w_r, rtol=0, atol=R_WEIGHT_ATOL)
    # R stores the raw intercept weights: negative ones included, and exactly zero
    # only off the side or outside the window.
    assert (w_r < 0).any()
    assert_array_equal(w_r == 0.0, fit.kernel_weights == 0.0)


def _r_rearrangement(q, y, n=1000):
    """Rearrangement::rearrangement(list(q), y) as called by R3D (method "simple")."""
    nx = (q - q.min()) / (q.max() - q.min())
    return np.quantile(np.interp(np.arange(n + 1) / n, nx, y), nx, method="linear")


@pytest.mark.parametrize("name, order", [("p1", 1), ("epanechnikov", 2), ("p3", 3)])
def test_raw_intercepts_match_r_results_at_orders_1_2_3(sharp20, name, order):
    # R reports int_plus/int_minus AFTER its interpolating rearrangement, not the raw
    # intercepts (they differ by up to 2e-3 here); undo nothing, redo R's rearrangement.
    x, Q = sharp20
    ref = load_ref(f"ref_results_sharp_simple_{name}")
    q, h = ref["q"].to_numpy(), ref["bw_num"].to_numpy()
    lim = {}
    for side in ("right", "left"):
        fit = fit_side(x, Q, cutoff=0.0, h=h, order=order, kernel="epa", side=side)
        lim[side] = _r_rearrangement(q, fit.intercept)
        assert_allclose(lim[side], ref[f"int_{SIDE_R[side]}"], rtol=0, atol=R_INTERCEPT_ATOL)
    assert_allclose(lim["right"] - lim["left"], ref["tau"], rtol=0, atol=R_INTERCEPT_ATOL)


# ---------------------------------------------------------------- kernel vs twin


def _design(rng, n, *, ties=False, at_cutoff=0, cutoff=0.0):
    x = cutoff + rng.uniform(-1.0, 1.0, n)
    if ties:
        x = cutoff + np.round((x - cutoff) * 12.0) / 12.0
    x[:at_cutoff] = cutoff
    return rng.permutation(x)


def _check_against_twin(x, Y, **kw):
    a = fit_side(x, Y, return_coef_weights=True, **kw)
    b = fit_side_numpy(x, Y, return_coef_weights=True, **kw)
    # identical definitions of the window and the kernel: exact
    assert_array_equal(a.kernel_weights, b.kernel_weights)
    assert_array_equal(a.n_effective, b.n_effective)
    assert_array_equal(a.h, b.h)
    cond = 1.0 / a.rcond.min()
    assert_allclose(a.rcond, b.rcond, rtol=RCOND_RTOL)
    for name in ("coef", "weights", "fitted", "coef_weights"):
        ka, kb = getattr(a, name), getattr(b, name)
        assert ka.shape == kb.shape, name
        tol = TWIN_TOL_PER_COND * cond * max(1.0, np.abs(kb).max())
        assert_allclose(ka, kb, rtol=0, atol=tol, err_msg=name)
    return a


def _check_identities(fit, x, Y):
    n, m = Y.shape
    d = fit.order + 1
    m_h = fit.h.shape[0]
    assert fit.coef.shape == (d, m) and fit.fitted.shape == (n, m)
    assert fit.weights.shape == fit.kernel_weights.shape == (n, m_h)
    assert fit.coef_weights.shape == (d, n, m_h) and fit.n_effective.shape == (m_h,)
    assert fit.n_effective.dtype == np.int64
    on_side = x >= fit.cutoff if fit.side == "right" else x < fit.cutoff
    for j in range(m):
        g = 0 if m_h == 1 else j
        k = fit.kernel_weights[:, g]
        act = k > 0
        assert fit.n_effective[g] == act.sum()
        assert not (act & ~on_side).any()
        u = (x - fit.cutoff) / fit.h[g]
        assert_array_equal(k, np.where(on_side, kernel_function(u, fit.kernel), 0.0))
        # coef = coef_weights @ Y, weights = coef_weights[0], zero outside the window
        cw = fit.coef_weights[:, :, g]
        assert_allclose(cw @ Y[:, j], fit.coef[:, j], rtol=0, atol=IDENTITY_ATOL * np.abs(Y).max()
                        / fit.rcond[g])
        assert_array_equal(cw[0], fit.weights[:, g])
        assert_array_equal(cw[:, ~act], 0.0)
        # intercept weights sum to 1; M^{-1} sum k r r' = I for every coefficient
        assert_allclose(fit.weights[:, g].sum(), 1.0, rtol=0, atol=IDENTITY_ATOL / fit.rcond[g])
        R = np.vander(u, d, increasing=True)
        assert_allclose(cw @ R, np.eye(d), rtol=0, atol=IDENTITY_ATOL / fit.rcond[g] ** 2)
        # fitted = R(u) coef on the window, 0 elsewhere
        assert_allclose(fit.fitted[act, j], R[act] @ fit.coef[:, j], rtol=0,
                        atol=IDENTITY_ATOL * np.abs(Y).max() / fit.rcond[g])
        assert_array_equal(fit.fitted[~act, j], 0.0)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("common", [True, False], ids=["common_h", "per_column_h"])
def test_kernel_matches_twin_orders_0_to_5(kernel, side, common):
    rng = np.random.default_rng([11, list(KERNELS).index(kernel), side == "right", common])
    for trial in range(12):
        order = trial % 6
        n = int(rng.integers(60, 240))
        m = int(rng.integers(1, 5))
        cutoff = float(rng.choice([0.0, 2.5, -1.25]))
        x = _design(rng, n, ties=trial % 3 == 0, at_cutoff=trial % 4, cutoff=cutoff)
        Y = 4.0 + rng.normal(size=(n, m)) * 2.0 + 3.0 * (x[:, None] - cutoff)
        h = float(rng.uniform(0.5, 1.2)) if common else rng.uniform(0.5, 1.2, m)
        if not common and m > 1:
            h[-1] = h[0]  # a repeated bandwidth: solved once, must not matter
        kw = dict(cutoff=cutoff, h=h, order=order, kernel=kernel, side=side)
        fit = _check_against_twin(x, Y, **kw)
        _check_identities(fit, x, Y)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("common", [True, False], ids=["common_h", "per_column_h"])
def test_kernel_matches_twin_with_unit_weights(kernel, common):
    """Unit weights (issue 18) multiply the kernel weights in both, exactly; a weight of 1.0
    changes no bit of any output."""
    rng = np.random.default_rng([18, list(KERNELS).index(kernel), common])
    for trial in range(6):
        order = trial % 4
        n = int(rng.integers(80, 200))
        m = int(rng.integers(1, 4))
        x = _design(rng, n, ties=trial % 2 == 0, at_cutoff=trial % 3)
        Y = 1.0 + rng.normal(size=(n, m)) + 2.0 * x[:, None]
        omega = rng.integers(1, 40, n).astype(float) * rng.uniform(0.5, 2.0)
        h = float(rng.uniform(0.5, 1.2)) if common else rng.uniform(0.5, 1.2, m)
        for side in ("right", "left"):
            kw = dict(cutoff=0.0, h=h, order=order, kernel=kernel, side=side)
            a = _check_against_twin(x, Y, unit_weights=omega, **kw)
            plain = fit_side(x, Y, return_coef_weights=True, **kw)
            assert_array_equal(a.kernel_weights, plain.kernel_weights * omega[:, None])
            ones = fit_side(x, Y, return_coef_weights=True, unit_weights=np.ones(n), **kw)
            for name in ("coef", "weights", "kernel_weights", "fitted", "coef_weights", "rcond", "n_effective"):
                assert_array_equal(getattr(ones, name), getattr(plain, name), err_msg=name)


def test_unit_weights_argument_is_checked():
    x = np.linspace(-1, 1, 50)
    with pytest.raises(ValueError, match="`unit_weights` must be an array of 50 positive numbers"):
        fit_side(x, x, cutoff=0.0, h=1.0, order=1, kernel="tri", side="right", unit_weights=np.zeros(50))


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_matches_twin_order_10_on_spread_design(kernel):
    rng = np.random.default_rng(10)
    x = np.linspace(-1.0, 1.0, 801)
    Y = np.sin(3.0 * x)[:, None] + 0.1 * rng.normal(size=(801, 3))
    for side in ("right", "left"):
        fit = _check_against_twin(x, Y, cutoff=0.0, h=1.0, order=10, kernel=kernel, side=side)
        assert fit.rcond[0] > 100 * RCOND_MIN
        _check_identities(fit, x, Y)


def test_units_at_the_cutoff_belong_to_the_right_side():
    x = np.array([-0.6, -0.4, -0.2, 0.0, 0.0, 0.3, 0.5, 0.7])
    Y = np.arange(8.0)
    right = fit_side(x, Y, cutoff=0.0, h=1.0, order=1, kernel="tri", side="right")
    left = fit_side(x, Y, cutoff=0.0, h=1.0, order=1, kernel="tri", side="left")
    assert_array_equal(right.kernel_weights[:, 0] > 0, x >= 0.0)
    assert_array_equal(left.kernel_weights[:, 0] > 0, x < 0.0)
    assert right.kernel_weights[3, 0] == 1.0 and left.kernel_weights[3, 0] == 0.0
    assert right.n_effective[0] == 5 and left.n_effective[0] == 3


def test_window_edge_inside_for_uniform_only():
    # u = 0.5 / 0.5 = 1 exactly: inside for every kernel, but K(1) = 0 for tri / epa
    x = np.array([0.1, 0.2, 0.3, 0.5, 0.5000001])
    n_eff = {k: fit_side(x, x, cutoff=0.0, h=0.5, order=0, kernel=k, side="right").n_effective[0]
             for k in KERNELS}
    assert n_eff == {k: 3 if kernel_function(1.0, k) == 0.0 else 4 for k in KERNELS}
    assert {k: n_eff[k] for k in R_KERNELS} == {"triangular": 3, "epanechnikov": 3, "uniform": 4}
    assert_array_equal(kernel_function([-1.0, 1.0, 1.0 + 1e-12], "uniform"), [0.5, 0.5, 0.0])
    assert_array_equal(kernel_function([-1.0, 0.0, 0.5], "triangular"), [0.0, 1.0, 0.5])
    assert_array_equal(kernel_function([1.0, 0.0, 0.5], "epa"), [0.0, 0.75, 0.5625])


def test_common_bandwidth_equals_repeated_per_column_bandwidth():
    rng = np.random.default_rng(3)
    x = _design(rng, 300)
    Y = rng.normal(size=(300, 6))
    common = fit_side(x, Y, cutoff=0.0, h=0.7, order=2, kernel="epa", side="right")
    per_col = fit_side(x, Y, cutoff=0.0, h=np.full(6, 0.7), order=2, kernel="epa", side="right")
    assert common.weights.shape == (300, 1) and per_col.weights.shape == (300, 6)
    assert_allclose(per_col.coef, common.coef, rtol=0, atol=IDENTITY_ATOL)
    assert_allclose(per_col.fitted, common.fitted, rtol=0, atol=IDENTITY_ATOL)
    assert_array_equal(per_col.weights, np.repeat(common.weights, 6, axis=1))
    # a 1-d Y is one column; a length-1 bandwidth array is a common bandwidth
    one = fit_side(x, Y[:, 2], cutoff=0.0, h=np.array([0.7]), order=2, kernel="epa", side="right")
    assert one.coef.shape == (3, 1) and one.h.shape == (1,)
    assert_allclose(one.coef[:, 0], common.coef[:, 2], rtol=0, atol=IDENTITY_ATOL)


def test_polynomial_data_are_reproduced_exactly():
    # a quadratic in x is fitted without error by any order >= 2, on both sides
    rng = np.random.default_rng(4)
    x = _design(rng, 200, cutoff=1.0)
    y = 2.0 - 3.0 * (x - 1.0) + 0.5 * (x - 1.0) ** 2
    for order in (2, 3, 4):
        for side in ("left", "right"):
            fit = fit_side(x, y, cutoff=1.0, h=0.8, order=order, kernel="tri", side=side)
            beta = np.zeros(order + 1)
            beta[:3] = [2.0, -3.0, 0.5]
            assert_allclose(fit.coef[:, 0], beta * 0.8 ** np.arange(order + 1), rtol=0, atol=EXACT_POLY_ATOL)


# ---------------------------------------------------------------- errors


def _raises(match_all, twin_exact=True, **kw):
    """The kernel's message has every part of ``match_all``; the twin's is the same (or, for a
    numerically singular system, whose rcond the two estimate differently, has the same parts)."""
    with pytest.raises(InsufficientDataError) as info:
        fit_side(**kw)
    text = str(info.value)
    for part in match_all:
        assert part in text, (part, text)
    with pytest.raises(InsufficientDataError) as info_twin:
        fit_side_numpy(**{k: v for k, v in kw.items() if k != "n_jobs"})
    if twin_exact:
        assert str(info_twin.value) == text
    else:
        assert all(part in str(info_twin.value) for part in match_all), str(info_twin.value)
    return text


def test_too_few_units_names_side_bandwidth_and_count():
    x = np.array([-0.5, -0.2, 0.1, 0.4, 0.9])
    text = _raises(
        ["right side (x >= 0.0)", "h = 0.5", "got 2 units with positive kernel weight",
         "at least 3", "Use a larger bandwidth or a lower order"],
        x=x, Y=x, cutoff=0.0, h=0.5, order=2, kernel="triangular", side="right",
    )
    assert isinstance(InsufficientDataError(text), ValueError)


def test_empty_side():
    x = np.linspace(-1.0, -0.1, 20)
    _raises(["right side (x >= 0.0)", "h = 1", "got 0 units"],
            x=x, Y=x, cutoff=0.0, h=1.0, order=1, kernel="uniform", side="right")
    _raises(["left side (x < -1.0)", "got 0 units"],
            x=x, Y=x, cutoff=-1.0, h=1.0, order=0, kernel="uniform", side="left")


def test_all_x_equal_inside_the_window():
    x = np.r_[np.full(10, 0.3), -0.5, 0.95]
    _raises(["right side (x >= 0.0)", "h = 0.8", "got 10 units with positive kernel weight",
             "only 1 distinct x", "Use a larger bandwidth or a lower order"],
            x=x, Y=np.ones(12), cutoff=0.0, h=0.8, order=1, kernel="epa", side="right")
    # order 0 only needs one unit
    fit = fit_side(x, np.ones(12), cutoff=0.0, h=0.8, order=0, kernel="epa", side="right")
    assert_allclose(fit.coef, [[1.0]], rtol=0, atol=IDENTITY_ATOL)


def test_ill_conditioned_system():
    # 11 distinct x crowded into [1, 1 + 1e-3] relative to their distance 1 from the cutoff: the
    # order-10 system is numerically singular in any basis; a wider window would reach x = 5
    x = np.r_[1.0 + np.linspace(0.0, 1e-3, 11), 5.0, -0.5]
    _raises(["right side (x >= 0.0)", "h = 1.5", "reciprocal condition number",
             "11 units with positive kernel weight", "Use a larger bandwidth or a lower order"],
            x=x, Y=x, cutoff=0.0, h=1.5, order=10, kernel="uniform", side="right", twin_exact=False)
    # the window already holds every unit of the side: a larger bandwidth cannot help
    for h in (1.01, 1e6):
        _raises(["right side (x >= 0.0)", "reciprocal condition number",
                 "already covers every unit on this side (the largest |x - c| is 1.001)",
                 "too little spread on this side for this order; use a lower order"],
                x=x[:11], Y=x[:11], cutoff=0.0, h=h, order=10, kernel="uniform", side="right", twin_exact=False)


def test_per_column_error_names_the_column():
    rng = np.random.default_rng(5)
    x = _design(rng, 100)
    h = np.array([0.8, 0.9, 0.001, 0.7, 0.002])
    _raises(["left side (x < 0.0)", "h = 0.001", "quantile column 2", "2 of 5 columns fail"],
            x=x, Y=rng.normal(size=(100, 5)), cutoff=0.0, h=h, order=2, kernel="tri", side="left")


@pytest.mark.parametrize(
    "kw, exc",
    [
        (dict(kernel="gaussian"), ValueError),
        (dict(side="above"), ValueError),
        (dict(order=11), ValueError),
        (dict(order=-1), ValueError),
        (dict(order=1.5), TypeError),
        (dict(h=-0.5), ValueError),
        (dict(h=np.array([0.5, np.nan, 0.5])), ValueError),
        (dict(h=np.ones(2)), ValueError),
        (dict(cutoff=np.nan), ValueError),
        (dict(Y=np.ones((7, 3))), ValueError),
        (dict(Y=np.full((8, 3), np.nan)), ValueError),
        (dict(x=np.ones((8, 1))), ValueError),
        (dict(n_jobs=0), ValueError),
    ],
)
def test_invalid_arguments(kw, exc):
    args = dict(x=np.linspace(-1, 1, 8), Y=np.ones((8, 3)), cutoff=0.0, h=1.0, order=1,
                kernel="tri", side="right")
    args.update(kw)
    with pytest.raises(exc):
        fit_side(**args)


def test_kernel_aliases():
    assert canonical_kernel("Epa") == "epanechnikov"
    assert canonical_kernel("rect") == "uniform"
    x = np.linspace(-1, 1, 41)
    a = fit_side(x, x**2, cutoff=0.0, h=1.0, order=2, kernel="TRI", side="plus")
    assert a.kernel == "triangular" and a.side == "right"


# ---------------------------------------------------------------- threads, inputs


def test_results_identical_for_any_n_jobs():
    rng = np.random.default_rng(6)
    n, m = 3000, 80
    x = _design(rng, n)
    Y = rng.normal(size=(n, m))
    h = rng.uniform(0.2, 0.9, m)
    for hh in (h, 0.6):
        fits = [fit_side(x, Y, cutoff=0.0, h=hh, order=2, kernel="epa", side="left",
                         n_jobs=nj, return_coef_weights=True) for nj in (1, 2, 3, None)]
        for f in fits[1:]:
            for field in dataclasses.fields(SideFit):
                assert_array_equal(getattr(f, field.name), getattr(fits[0], field.name))


def test_inputs_are_not_modified_and_any_layout_is_accepted():
    rng = np.random.default_rng(7)
    x_big = _design(rng, 400)
    Y_f = np.asfortranarray(rng.normal(size=(200, 5)))
    x = x_big[::2]  # non-contiguous view
    h = rng.uniform(0.4, 0.9, 5)
    copies = [x_big.copy(), Y_f.copy(), h.copy()]
    fit = fit_side(x, Y_f, cutoff=0.0, h=h, order=2, kernel="uni", side="right")
    ref = fit_side(np.ascontiguousarray(x), np.ascontiguousarray(Y_f), cutoff=0.0, h=h.copy(),
                   order=2, kernel="uni", side="right")
    assert_array_equal(x_big, copies[0])
    assert_array_equal(Y_f, copies[1])
    assert_array_equal(h, copies[2])
    assert_array_equal(fit.coef, ref.coef)
    # lists and integer arrays are converted
    fit_list = fit_side(list(x), Y_f.tolist(), cutoff=0, h=list(h), order=2, kernel="uni",
                        side="right")
    assert_array_equal(fit_list.coef, ref.coef)


def test_sidefit_is_frozen():
    x = np.linspace(-1, 1, 21)
    fit = fit_side(x, x, cutoff=0.0, h=1.0, order=1, kernel="tri", side="right")
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.order = 2
    assert fit.coef_weights is None


# ---------------------------------------------------------------- windows far beyond the data
# A window far wider than the data is solved in the data's own scale (u / max|u|). The uniform
# kernel then gives the same fit for every h beyond the largest |x - c| (the global polynomial on
# the side) up to rounding of u = (x - c) / h (measured 4.4e-14 on weights, 2.3e-14 on limits and
# fitted values, 9.5e-13 relative on the coefficients beta_k = alpha_k / h^k).
FAR_WINDOW_ATOL = 1e-12
FAR_COEF_RTOL = 1e-10
# Triangular weights K(u) differ from K(0) by O(max|u|) (Epanechnikov by O(max|u|^2)): at h = 1e6
# and 1e8 (max|u| ~ 1/h) the limits equal the uniform kernel's within this / h (measured 7.0e-3 / h).
FAR_KERNEL_ATOL_TIMES_H = 0.1
# 11 points crowded into [0, 1e-3] interpolated at order 10 in their own scale (rcond 5.7e-9):
# the fit reproduces Y = x (measured 1.1e-12).
CROWDED_POLY_ATOL = 1e-10


@pytest.fixture(scope="module")
def far_design():
    rng = np.random.default_rng(77)
    x = rng.uniform(-1.0, 1.0, 300)
    Y = np.c_[np.sin(2 * x), 1.0 + x**2, np.exp(x)] + 0.1 * rng.normal(size=(300, 3))
    return x, Y


@pytest.mark.parametrize("order", [1, 2, 4])
@pytest.mark.parametrize("side", ["left", "right"])
def test_far_bandwidth_uniform_equals_global_fit(far_design, order, side):
    x, Y = far_design
    dmax = np.abs(x[x >= 0] if side == "right" else x[x < 0]).max()
    base = fit_side(x, Y, cutoff=0.0, h=1.0001 * dmax, order=order, kernel="uniform", side=side)
    assert base.rcond[0] >= RCOND_MIN
    for h in (1e4, 1e8, 1e12, 1e30):
        far = fit_side(x, Y, cutoff=0.0, h=h, order=order, kernel="uniform", side=side,
                       return_coef_weights=True)
        assert_allclose(far.weights, base.weights, rtol=0, atol=FAR_WINDOW_ATOL)
        assert_allclose(far.intercept, base.intercept, rtol=0, atol=FAR_WINDOW_ATOL)
        assert_allclose(far.fitted, base.fitted, rtol=0, atol=FAR_WINDOW_ATOL)
        # coefficients are reported in the basis u = (x - c) / h: beta_k = alpha_k / h^k agrees
        beta = far.coef / far.h[0] ** np.arange(order + 1)[:, None]
        beta0 = base.coef / base.h[0] ** np.arange(order + 1)[:, None]
        assert_allclose(beta, beta0, rtol=FAR_COEF_RTOL, atol=0)
        assert far.rcond[0] >= RCOND_MIN and np.isfinite(far.coef).all()
        _check_identities_far(far, x, Y)


def _check_identities_far(fit, x, Y):
    """coef = coef_weights @ Y; intercept weights sum to 1; weights zero off the side."""
    on_side = x >= fit.cutoff if fit.side == "right" else x < fit.cutoff
    assert_array_equal(fit.weights[~on_side, 0], 0.0)
    assert_allclose(fit.weights[:, 0].sum(), 1.0, rtol=0, atol=IDENTITY_ATOL / fit.rcond[0])
    assert_allclose(fit.coef_weights[:, :, 0] @ Y, fit.coef, rtol=1e-10, atol=0)


@pytest.mark.parametrize("kernel", ["triangular", "epanechnikov"])
def test_far_bandwidth_other_kernels_tend_to_uniform(far_design, kernel):
    x, Y = far_design
    for h in (1e6, 1e8):
        a = fit_side(x, Y, cutoff=0.0, h=h, order=2, kernel=kernel, side="right")
        b = fit_side(x, Y, cutoff=0.0, h=h, order=2, kernel="uniform", side="right")
        assert_allclose(a.intercept, b.intercept, rtol=0, atol=FAR_KERNEL_ATOL_TIMES_H / h)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("common", [True, False], ids=["common_h", "per_column_h"])
def test_far_bandwidth_kernel_matches_twin(far_design, kernel, common):
    x, Y = far_design
    h = 1e7 if common else np.array([1e7, 0.8, 1e9])
    fit = _check_against_twin(x, Y, cutoff=0.0, h=h, order=3, kernel=kernel, side="left")
    assert np.isfinite(fit.coef).all()


def test_far_bandwidth_beyond_the_rescue_names_the_bandwidth(far_design):
    from r3d.locpoly import RESCUE_MIN_POWER

    x, Y = far_design
    dmax = x[x >= 0].max()
    h_far = dmax * RESCUE_MIN_POWER ** -0.5 * 10  # max|u|^2 below RESCUE_MIN_POWER
    _raises(["right side (x >= 0.0)", "already covers every unit on this side",
             "use `bandwidth` within a few times the data's range"],
            x=x, Y=Y, cutoff=0.0, h=h_far, order=2, kernel="uniform", side="right")
    fit_side(x, Y, cutoff=0.0, h=h_far / 100, order=2, kernel="uniform", side="right")  # inside: fine


def test_far_bandwidth_fit_of_the_model(far_design):
    import warnings

    import r3d

    rng = np.random.default_rng(3)
    n = 120
    xs = rng.uniform(-1, 1, n)
    Q = np.sort(rng.normal(size=(n, 5)), axis=1) + xs[:, None] + 0.5 * (xs >= 0)[:, None]
    mod = r3d.R3D.from_quantiles(Q, xs, quantiles=[0.1, 0.3, 0.5, 0.7, 0.9], cutoff=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        near = mod.fit(bandwidth=1.01 * np.abs(xs).max(), kernel="uniform", n_boot=0)
        for method in ("frechet", "simple"):
            far = mod.fit(method=method, bandwidth=1e9, kernel="uniform", n_boot=0)
            assert_allclose(far.params, near.params, rtol=0, atol=FAR_WINDOW_ATOL)
            assert_allclose(far.bse, near.bse, rtol=1e-9, atol=0)
        far_q = mod.fit(method="simple", bandwidth=[0.8, 1e9, 0.8, 1e12, 0.8], kernel="uniform", n_boot=0)
        assert_allclose(far_q.params.iloc[[1, 3]], near.params.iloc[[1, 3]], rtol=0, atol=FAR_WINDOW_ATOL)


def test_crowded_data_fit_in_their_own_scale():
    # refused before as ill-conditioned ("use a larger bandwidth"): the system was singular only
    # through the scale of u = x / h <= 1e-3; in the data's own scale it is an interpolation
    x = np.r_[np.linspace(0.0, 1e-3, 11), -0.5]
    # (no twin comparison: the coefficients of orders >= 2 are rounding noise times 1e3^k here)
    fit = fit_side(x, x, cutoff=0.0, h=1.0, order=10, kernel="uniform", side="right")
    assert fit.rcond[0] >= RCOND_MIN
    assert_allclose(fit.fitted[:11, 0], x[:11], rtol=0, atol=CROWDED_POLY_ATOL)
    assert_allclose(fit.intercept, [0.0], rtol=0, atol=CROWDED_POLY_ATOL)
