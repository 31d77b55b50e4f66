"""Bandwidth selection (METHOD.md section 6): kernel constants, the density at the
cutoff and the step-1 pilot against the R package, the three steps against
independent NumPy computations, convergence to the closed-form optimum, and the
guards a user can see.
"""

import warnings

import numpy as np
import pytest
from _refdata import load_ref, ref_quantile_grid
from scipy import integrate
from scipy.stats import norm

from r3d._validation import BandwidthWarning, InsufficientDataError
from r3d.bandwidth import (
    BANDWIDTH_RULES,
    MIN_UNITS_PER_SIDE,
    cer_factor,
    constants_from_matrices,
    density_at_cutoff,
    global_pilot,
    kernel_constants,
    pilot_bandwidth,
    select_bandwidths,
)
from r3d.kernels import KERNELS, kernel_function

# The kernels the R reference files cover (ref_density_all); the quadrature check of the
# exact constants runs over every row of the table.
R_KERNELS = ("triangular", "epanechnikov", "uniform")

#: scipy.integrate.quad integrates these piecewise polynomials on [0, 1] exactly up to
#: rounding (measured 2.7e-16; no entry is zero, so no atol).
RTOL_QUAD = 1e-14
#: c_b and c_v go through inv(Gamma), which multiplies that rounding by cond(Gamma) (~1e4 at
#: s = 3; measured 1.5e-12).
RTOL_QUAD_INVERSE = 1e-10
#: One quantity computed twice by the same formula: bit for bit equal today (measured 0); room
#: for a reordered evaluation.
RTOL_SAME_FORMULA = 1e-14
#: A closed form (boundary constants at s = 1, the CER factor), to one ulp (measured 0).
RTOL_CLOSED_FORM = 2e-16
#: Noiseless quadratic curves: the order-2 fits recover m'' up to the rounding of a least-squares
#: solve (measured 9.2e-14 relative, 1.4e-15 absolute where m'' = 0).
RTOL_NOISELESS = 1e-12
ATOL_NOISELESS = 1e-13
#: ... and the variance terms are rounding squared (measured: R <= 2.6e-28, sigma2 <= 4.6e-31).
NOISELESS_R_MAX = 1e-26
NOISELESS_SIGMA2_MAX = 1e-29
#: Same formula as R's (mean of K((X - c)/h) / h); the CSV keeps 15 significant digits.
RTOL_DENSITY = 1e-12
#: With R's own kernel-constant sums our step-1 pilot reproduces R's up to the
#: least-squares solver (lm's QR vs numpy's lstsq) and 15-digit CSV rounding.
RTOL_PILOT_R_CONSTANTS = 1e-9
#: With exact kernel constants the pilot differs from R's by the error of R's coarse
#: kernel-constant sums (a 1000-point Riemann sum with weight 2/1000 instead of 2/999:
#: c_v is 0.1% too large, so h0 ~ c_v^(1/5) is 2e-4 too large).
RTOL_PILOT_EXACT_CONSTANTS = 1e-3
#: Independent NumPy weighted least squares (normal equations, raw basis) vs the compiled
#: kernel (QR in the scaled basis); ATOL_TWIN for derivatives that are nearly zero.
RTOL_TWIN = 1e-9
ATOL_TWIN = 1e-10


def _ref_inputs(name):
    df = load_ref(name)
    Q = df[[f"Q{j}" for j in range(1, 21)]].to_numpy()
    t = df["T_treat"].to_numpy() if "T_treat" in df else None
    return df["X"].to_numpy(), Q, t


def _r_kernel_constants(kernel, s):
    """R3D's kernel constants: a Riemann sum on seq(-1, 1, length.out = 1000), weight 2/1000."""
    grid = np.linspace(-1.0, 1.0, 1000)
    w = 2.0 / 1000.0
    mats = {}
    for tag, g in (("plus", grid[grid >= 0]), ("minus", grid[grid < 0])):
        k = kernel_function(g, kernel)
        r = np.vander(g, s + 1, increasing=True)
        mats["Gamma_" + tag] = (r * k[:, None]).T @ r * w
        mats["Lambda_" + tag] = (r * (k * g ** (s + 1))[:, None]).sum(axis=0) * w
        mats["Psi_" + tag] = (r * (k * k)[:, None]).T @ r * w
    return constants_from_matrices(kernel, s, **mats)


# --------------------------------------------------------------------------- constants


@pytest.mark.parametrize("s", [0, 1, 2, 3])
@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_constants_equal_quadrature(kernel, s):
    c = kernel_constants(kernel, s)
    for tag, (lo, hi) in (("plus", (0.0, 1.0)), ("minus", (-1.0, 0.0))):

        def quad(f, lo=lo, hi=hi):
            return integrate.quad(f, lo, hi, epsabs=1e-14, epsrel=1e-12)[0]

        def K(u):
            return float(kernel_function(u, kernel))

        G = np.array([[quad(lambda u, k=i + j: u**k * K(u)) for j in range(s + 1)] for i in range(s + 1)])
        L = np.array([quad(lambda u, k=s + 1 + i: u**k * K(u)) for i in range(s + 1)])
        P = np.array([[quad(lambda u, k=i + j: u**k * K(u) ** 2) for j in range(s + 1)] for i in range(s + 1)])
        np.testing.assert_allclose(getattr(c, f"Gamma_{tag}"), G, rtol=RTOL_QUAD)
        np.testing.assert_allclose(getattr(c, f"Lambda_{tag}"), L, rtol=RTOL_QUAD)
        np.testing.assert_allclose(getattr(c, f"Psi_{tag}"), P, rtol=RTOL_QUAD)
        Ginv = np.linalg.inv(G)
        np.testing.assert_allclose(getattr(c, f"c_b_{tag}"), (Ginv @ L)[0], rtol=RTOL_QUAD_INVERSE)
        np.testing.assert_allclose(getattr(c, f"c_v_{tag}"), (Ginv @ P @ Ginv)[0, 0], rtol=RTOL_QUAD_INVERSE)
    # mirror symmetry of a symmetric kernel
    assert c.c_b_minus == pytest.approx((-1) ** (s + 1) * c.c_b_plus, rel=RTOL_SAME_FORMULA, abs=0)
    assert c.c_v_minus == pytest.approx(c.c_v_plus, rel=RTOL_SAME_FORMULA, abs=0)


def test_kernel_constants_known_closed_forms():
    # local linear at a boundary: triangular c_b = -1/10, c_v = 24/5; uniform -1/6 and 4
    tri, uni = kernel_constants("tri", 1), kernel_constants("uniform", 1)
    one_ulp = {"rel": RTOL_CLOSED_FORM, "abs": 0}
    assert (tri.c_b_plus, tri.c_v_plus) == (pytest.approx(-0.1, **one_ulp), pytest.approx(4.8, **one_ulp))
    assert (uni.c_b_plus, uni.c_v_plus) == (pytest.approx(-1 / 6, **one_ulp), pytest.approx(4.0, **one_ulp))
    # local constant, uniform: bias int u K / int K = 1/2, variance int K^2 / (int K)^2 = 1
    c0 = kernel_constants("uniform", 0)
    assert (c0.c_b_plus, c0.c_v_plus) == (0.5, 1.0)


# --------------------------------------------------------------------------- vs R


@pytest.mark.parametrize("kernel", R_KERNELS)
def test_density_equals_r(kernel):
    x, _, _ = _ref_inputs("ref_data_sharp_simple_20")
    ref = load_ref("ref_density_all").set_index("kernel").loc[kernel]
    d = density_at_cutoff(x, cutoff=0.0, kernel=kernel)
    np.testing.assert_allclose(d.f_hat, ref["f_X_hat"], rtol=RTOL_DENSITY)
    np.testing.assert_allclose(d.h, ref["h_bw"], rtol=RTOL_DENSITY)
    np.testing.assert_allclose(d.sd, ref["sigma_X"], rtol=RTOL_DENSITY)
    if kernel == "triangular":
        np.testing.assert_allclose(d.f_hat, load_ref("ref_density")["f_X_hat_tri"][0], rtol=RTOL_DENSITY)


@pytest.mark.parametrize(
    "name, data, rule",
    [
        ("sharp", "ref_data_sharp_simple_20", "mse"),
        ("frechet", "ref_data_sharp_simple_20", "imse"),
        ("fuzzy", "ref_data_fuzzy_simple_20", "mse"),
    ],
)
def test_step1_pilot_equals_r(name, data, rule):
    """R's selector (r3d_bwselect, triangular kernel, s = 1; p does not enter it) on the
    20-quantile reference data: its step-1 pilot equals ours (a) exactly when we use R's
    Riemann-sum kernel constants and (b) to the accuracy of those sums with our exact
    constants. For the IMSE pilot R integrates over q by a plain sum, we by the trapezoid
    rule; (a) and (b) recombine our per-quantile B0, V0 with R's equal weights."""
    x, Q, t = _ref_inputs(data)
    q = ref_quantile_grid(20)
    ref = load_ref(f"ref_bwselect_{name}")
    f_hat = density_at_cutoff(x, cutoff=0.0, kernel="triangular").f_hat
    np.testing.assert_allclose(f_hat, ref["f_X_hat"][0], rtol=RTOL_DENSITY)
    imse = rule == "imse"
    n = x.size
    for consts, rtol in (
        (_r_kernel_constants("triangular", 1), RTOL_PILOT_R_CONSTANTS),
        (kernel_constants("triangular", 1), RTOL_PILOT_EXACT_CONSTANTS),
    ):
        pilot = global_pilot(x, Q, cutoff=0.0, f_hat=f_hat, constants=consts)
        if imse:
            h0_r_weights = (np.sum(pilot.V) / (4 * np.sum(pilot.B**2))) ** 0.2 * n**-0.2
            np.testing.assert_allclose(h0_r_weights, ref["pilot_h_num"][0], rtol=rtol)
        else:
            h0 = pilot_bandwidth(pilot, q, n=n, s=1, imse=False)
            np.testing.assert_allclose(h0, ref["pilot_h_num"], rtol=rtol)
        if t is not None:
            pt = global_pilot(x, t[:, None], cutoff=0.0, f_hat=f_hat, constants=consts)
            h0t = pilot_bandwidth(pt, np.array([0.5]), n=n, s=1, imse=False)
            np.testing.assert_allclose(h0t[0], ref["pilot_h_den"][0], rtol=rtol)

    # the selector reports the same step-1 numbers (exact constants, trapezoid for IMSE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BandwidthWarning)
        sel = select_bandwidths(x, Q, q, cutoff=0.0, rule=rule, t=t)
    pilot = global_pilot(x, Q, cutoff=0.0, f_hat=f_hat, constants=kernel_constants("tri", 1))
    np.testing.assert_allclose(sel.steps.pilot_B, pilot.B, rtol=RTOL_SAME_FORMULA)
    np.testing.assert_allclose(sel.steps.h0_formula, pilot_bandwidth(pilot, q, n=n, s=1, imse=imse),
                               rtol=RTOL_SAME_FORMULA)
    if imse:
        w = np.full(20, 1 / 21)
        w[[0, -1]] /= 2
        h_trap = (np.sum(w * pilot.V) / (4 * np.sum(w * pilot.B**2))) ** 0.2 * n**-0.2
        np.testing.assert_allclose(sel.steps.h0_formula, h_trap, rtol=RTOL_SAME_FORMULA)


# --------------------------------------------------------------------------- step 2 and 3 internals


def _wls(x, y, c, h, order, kernel, right):
    """Independent one-sided weighted least squares in the raw basis: beta, HC0 cov, residuals, k."""
    u = (x - c) / h
    k = kernel_function(u, kernel) * ((x >= c) if right else (x < c))
    R = np.vander(x - c, order + 1, increasing=True)
    A = (R * k[:, None]).T @ R
    beta = np.linalg.solve(A, (R * k[:, None]).T @ y)
    e = np.where(k > 0, y - R @ beta, 0.0)
    L = np.linalg.solve(A, (R * k[:, None]).T)  # (order+1, n)
    cov = (L * e**2) @ L.T
    return beta, cov, e, k


@pytest.mark.parametrize("rule", ["mse", "imse"])
def test_steps_two_and_three_equal_direct_computation(rule):
    rng = np.random.default_rng(11)
    n, q = 800, np.array([0.1, 0.3, 0.45, 0.8])  # unequal spacing
    x = rng.uniform(-1, 1, n)
    Q = (
        np.sin(2 * x)[:, None] * (1 + q)
        + np.where(x >= 0, 1 + x**2, np.exp(x))[:, None]
        + 0.4 * rng.standard_normal((n, 1))
        + 0.2 * rng.standard_normal((n, q.size))
    )
    sel = select_bandwidths(x, Q, q, cutoff=0.0, rule=rule, kernel="epanechnikov")
    st, c = sel.steps, sel.constants
    for j in range(q.size):
        for right, tag in ((True, "plus"), (False, "minus")):
            _, _, e, k = _wls(x, Q[:, j], 0.0, st.h0[j], 1, "epanechnikov", right)
            np.testing.assert_allclose(getattr(st, f"sigma2_{tag}")[j], np.sum(k * e**2) / np.sum(k), rtol=RTOL_TWIN)
            beta, cov, _, _ = _wls(x, Q[:, j], 0.0, st.b[j], 2, "epanechnikov", right)
            np.testing.assert_allclose(
                getattr(st, f"deriv_{tag}")[j], 2 * beta[2], rtol=RTOL_TWIN, atol=ATOL_TWIN
            )
            np.testing.assert_allclose(getattr(st, f"deriv_var_{tag}")[j], cov[2, 2], rtol=RTOL_TWIN)
    np.testing.assert_allclose(st.b, st.h0 * n ** (1 / 5 - 1 / 7), rtol=RTOL_SAME_FORMULA)
    np.testing.assert_allclose(st.B_plus, c.c_b_plus * st.deriv_plus / 2, rtol=RTOL_SAME_FORMULA)
    np.testing.assert_allclose(st.V_minus, c.c_v_minus * st.sigma2_minus / sel.f_hat, rtol=RTOL_SAME_FORMULA)
    np.testing.assert_allclose(
        st.R, c.c_b_plus**2 * st.deriv_var_plus + c.c_b_minus**2 * st.deriv_var_minus, rtol=RTOL_SAME_FORMULA
    )
    B, V, D = st.B_plus - st.B_minus, st.V_plus + st.V_minus, (st.B_plus - st.B_minus) ** 2 + st.R
    if rule == "mse":
        expected = (V / (4 * D)) ** 0.2 * n**-0.2
    else:
        expected = np.full(q.size, (np.trapezoid(V, q) / (4 * np.trapezoid(D, q))) ** 0.2 * n**-0.2)
        assert np.all(sel.h == sel.h[0])
    assert not np.any(st.capped | st.floored)
    np.testing.assert_allclose(sel.h, expected, rtol=RTOL_SAME_FORMULA)
    assert np.all(np.abs(B) > 0)


def test_exact_quadratic_noiseless_derivatives_are_exact():
    """With noiseless quadratic curves the global fits of step 1 and the order-2 local fits
    at b of step 2 recover m'' exactly, and the variance of the bias constant is zero."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, 300)
    q = np.array([0.25, 0.5, 0.75])
    cp, cm = np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.5, 0.0])
    Q = np.where((x >= 0)[:, None], 1 + cp * x[:, None] ** 2, 0.3 * x[:, None] + cm * x[:, None] ** 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BandwidthWarning)  # no noise: tiny h, enlarged
        sel = select_bandwidths(x, Q, q, cutoff=0.0, rule="mse")
    st = sel.steps
    np.testing.assert_allclose(st.pilot_deriv_plus, 2 * cp, rtol=RTOL_NOISELESS)
    np.testing.assert_allclose(st.pilot_deriv_minus, 2 * cm, rtol=RTOL_NOISELESS, atol=ATOL_NOISELESS)
    np.testing.assert_allclose(st.deriv_plus, 2 * cp, rtol=RTOL_NOISELESS)
    np.testing.assert_allclose(st.deriv_minus, 2 * cm, rtol=RTOL_NOISELESS, atol=ATOL_NOISELESS)
    np.testing.assert_allclose(sel.B_plus - sel.B_minus, sel.constants.c_b_plus * (cp - cm), rtol=RTOL_NOISELESS)
    assert np.all(st.R < NOISELESS_R_MAX)
    assert np.all(st.pilot_sigma2_plus < NOISELESS_SIGMA2_MAX)


# --------------------------------------------------------------------------- theory check


def _polynomial_design(n, q, rng):
    x = rng.uniform(-1.0, 1.0, n)
    z = norm.ppf(q)
    right = (x >= 0)[:, None]
    mu = z + 0.5 * x[:, None] + np.where(right, 1.0 + (1.0 + q) * x[:, None] ** 2, (-1.0 + 0.5 * q) * x[:, None] ** 2)
    noise = 0.5 * rng.standard_normal((n, 1)) + 0.3 * rng.standard_normal((n, 1)) * z
    return x, mu + np.where(right, 1.5, 1.0) * noise


def _closed_form(n, q, kernel):
    c = kernel_constants(kernel, 1)
    B = (c.c_b_plus * 2 * (1.0 + q) - c.c_b_minus * 2 * (-1.0 + 0.5 * q)) / 2
    sigma2 = 0.25 + 0.09 * norm.ppf(q) ** 2
    V = (c.c_v_plus * 1.5**2 * sigma2 + c.c_v_minus * sigma2) / 0.5
    h_mse = (V / (4 * B**2)) ** 0.2 * n**-0.2
    h_imse = (np.trapezoid(V, q) / (4 * np.trapezoid(B**2, q))) ** 0.2 * n**-0.2
    return h_mse, h_imse


def _theory_check(kernel):
    r"""The selector converges to the closed-form (I)MSE-optimal bandwidth for s = 1.

    Design: X ~ U(-1, 1) (f(0) = 1/2), cutoff 0, unit quantile curves
    Q_i(q) = mu_+-(X_i, q) + s_+- (0.5 Z_i1 + 0.3 Z_i2 Phi^{-1}(q)) with
    mu_-(x, q) = Phi^{-1}(q) + 0.5 x + (-1 + q/2) x^2,
    mu_+(x, q) = Phi^{-1}(q) + 1 + 0.5 x + (1 + q) x^2, s_- = 1, s_+ = 1.5:
    exact quadratics with m''_+(q) = 2(1 + q), m''_-(q) = 2(-1 + q/2) and conditional
    variances sigma2_-(q) = 0.25 + 0.09 Phi^{-1}(q)^2, sigma2_+ = 1.5^2 sigma2_-.
    For the local linear jump estimate (s = 1) the closed forms are

        B(q) = [c_b+ m''_+(q) - c_b- m''_-(q)] / 2,
        V(q) = [c_v+ sigma2_+(q) + c_v- sigma2_-(q)] / f(0),
        h_MSE(q) = [V(q) / (4 B(q)^2)]^(1/5) n^(-1/5),
        h_IMSE   = [int V dq / (4 int B^2 dq)]^(1/5) n^(-1/5)

    with the exact kernel constants (triangular: c_b = -1/10, c_v = 24/5), integrals by
    the trapezoid rule over the grid. At n = 5,000 units the median over 20 replications
    of the selected / closed-form ratio lies in [0.85, 1.18], for "mse" at each of 3
    quantile levels and for "imse" on 9 levels.
    """
    n, reps = 5000, 20
    rng = np.random.default_rng(20250504)
    q3, q9 = np.array([0.25, 0.5, 0.75]), np.linspace(0.1, 0.9, 9)
    h3, h9 = _closed_form(n, q3, kernel)[0], _closed_form(n, q9, kernel)[1]
    r3, r9 = [], []
    for _ in range(reps):
        x, Q = _polynomial_design(n, q3, rng)
        r3.append(select_bandwidths(x, Q, q3, cutoff=0.0, rule="mse", kernel=kernel, n_jobs=1).h / h3)
        x, Q = _polynomial_design(n, q9, rng)
        r9.append(select_bandwidths(x, Q, q9, cutoff=0.0, rule="imse", kernel=kernel, n_jobs=1).h[0] / h9)
    med3, med9 = np.median(r3, axis=0), np.median(r9)
    assert np.all((med3 >= 0.85) & (med3 <= 1.18)), med3
    assert 0.85 <= med9 <= 1.18, med9


def test_converges_to_closed_form_triangular():
    _theory_check("triangular")


_theory_check_doc = _theory_check.__doc__
test_converges_to_closed_form_triangular.__doc__ = _theory_check_doc


@pytest.mark.slow
@pytest.mark.parametrize("kernel", ["epanechnikov", "uniform"])
def test_converges_to_closed_form_other_kernels(kernel):
    _theory_check(kernel)


# --------------------------------------------------------------------------- rules


def _smooth_data(rng, n=1500, m=9):
    q = np.linspace(0.1, 0.9, m)
    x = rng.uniform(-1, 1, n)
    Q = (
        norm.ppf(q) * (1 + 0.3 * x[:, None])
        + np.where((x >= 0)[:, None], 0.5 + 2 * x[:, None] ** 2, -1.5 * x[:, None] ** 2) * (1 + q)
        + 0.3 * rng.standard_normal((n, 1))
    )
    return x, Q, q


def test_cer_rules_scale_by_the_rule_of_thumb_factor():
    x, Q, q = _smooth_data(np.random.default_rng(5))
    n = x.size
    mse = select_bandwidths(x, Q, q, cutoff=0.0, rule="mse")
    cer = select_bandwidths(x, Q, q, cutoff=0.0, rule="cer-mse")
    imse = select_bandwidths(x, Q, q, cutoff=0.0, rule="imse")
    cer_i = select_bandwidths(x, Q, q, cutoff=0.0, rule="cer-imse")
    assert cer_factor(n, 1) == pytest.approx(n ** (-1 / 20), rel=RTOL_CLOSED_FORM, abs=0)
    np.testing.assert_allclose(cer.h, mse.h * n ** (-1 / 20), rtol=RTOL_SAME_FORMULA)
    np.testing.assert_allclose(cer_i.h, imse.h * n ** (-1 / 20), rtol=RTOL_SAME_FORMULA)
    assert cer.cer_factor == pytest.approx(n ** (-1 / 20), rel=RTOL_SAME_FORMULA, abs=0) and mse.cer_factor == 1.0


def test_mse_is_per_quantile_and_imse_is_one_bandwidth():
    x, Q, q = _smooth_data(np.random.default_rng(6))
    mse = select_bandwidths(x, Q, q, cutoff=0.0, rule="mse")
    imse = select_bandwidths(x, Q, q, cutoff=0.0, rule="imse")
    assert mse.h.shape == imse.h.shape == (q.size,)
    assert np.unique(mse.h).size == q.size
    assert np.unique(imse.h).size == 1 and isinstance(imse.bandwidth, float)
    assert np.unique(imse.h0).size == 1
    assert mse.h.min() < imse.h[0] < mse.h.max()


def test_regularization_shrinks_bandwidth_and_can_be_turned_off():
    x, Q, q = _smooth_data(np.random.default_rng(8))
    on = select_bandwidths(x, Q, q, cutoff=0.0, rule="mse")
    off = select_bandwidths(x, Q, q, cutoff=0.0, rule="mse", regularize=False)
    np.testing.assert_allclose(on.R, off.R, rtol=RTOL_SAME_FORMULA)  # R is reported either way
    assert np.all(on.R > 0) and np.all(on.h < off.h)
    B, V = off.B_plus - off.B_minus, off.V_plus + off.V_minus
    np.testing.assert_allclose(off.h, (V / (4 * B**2)) ** 0.2 * x.size**-0.2, rtol=RTOL_SAME_FORMULA)


def test_fuzzy_first_stage_bandwidth():
    rng = np.random.default_rng(9)
    x, Q, q = _smooth_data(rng)
    t = (rng.uniform(size=x.size) < 0.2 + 0.6 * (x >= 0) + 0.15 * x**2).astype(float)
    sel = select_bandwidths(x, Q, q, cutoff=0.0, rule="imse", t=t)
    ts = sel.treatment_steps
    assert ts is not None and ts.h.shape == (1,)
    assert sel.h_treatment == ts.h[0] and 0 < sel.h_treatment <= sel.h_max
    Bt, Vt = ts.B_plus - ts.B_minus, ts.V_plus + ts.V_minus
    np.testing.assert_allclose(sel.h_treatment, (Vt / (4 * (Bt**2 + ts.R))) ** 0.2 * x.size**-0.2,
                               rtol=RTOL_SAME_FORMULA)
    # the outcome bandwidth does not depend on t
    np.testing.assert_array_equal(sel.h, select_bandwidths(x, Q, q, cutoff=0.0, rule="imse").h)
    d = sel.as_dict()
    assert d["h_treatment"] == sel.h_treatment and "treatment_R" in d and "treatment_h0" in d
    assert select_bandwidths(x, Q, q, cutoff=0.0, rule="imse").h_treatment is None


def test_as_dict_reports_every_intermediate():
    x, Q, q = _smooth_data(np.random.default_rng(10))
    d = select_bandwidths(x, Q, q, cutoff=0.0, rule="mse").as_dict()
    for key in (
        "rule", "h", "f_hat", "density_bandwidth", "h0", "b", "B_plus", "B_minus", "V_plus",
        "V_minus", "R", "c_b_plus", "c_v_minus", "n", "pilot_order", "order", "capped",
        "h_max", "warnings", "pilot_B", "pilot_V", "sigma2_plus", "deriv_minus",
    ):
        assert key in d, key
    assert d["rule"] == "mse" and d["pilot_order"] == 1 and d["order"] == 2


# --------------------------------------------------------------------------- guards


def _only_bandwidth_warnings(record):
    ws = [w for w in record if issubclass(w.category, BandwidthWarning)]
    for w in ws:
        assert w.filename == __file__, "BandwidthWarning must point at the caller's line"
    return ws


def test_cap_binds_without_regularization_and_warns_at_caller():
    rng = np.random.default_rng(12)
    n, q = 400, np.array([0.5])
    x = rng.uniform(-1, 1, n)
    Q = 1 + x[:, None] + 0.5 * rng.standard_normal((n, 1))  # straight line: bias constant 0
    hits = 0
    for _ in range(6):
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            sel = select_bandwidths(x, Q, q, cutoff=0.0, rule="mse", regularize=False)
        ws = _only_bandwidth_warnings(rec)
        if sel.capped[0]:
            hits += 1
            assert sel.h[0] == sel.h_max == pytest.approx(np.max(np.abs(x)), rel=RTOL_SAME_FORMULA, abs=0)
            assert sel.steps.h_formula[0] > sel.h_max
            assert any("capped" in str(w.message) for w in ws)
            assert sel.warnings and "capped" in sel.warnings[0]
        Q = 1 + x[:, None] + 0.5 * rng.standard_normal((n, 1))
    assert hits >= 1


def test_near_zero_bias_falls_back_to_cap():
    x = np.linspace(-1, 1, 201)
    Q = np.column_stack([2 + 3 * x, -1 + 0.5 * x])  # exactly linear and noiseless: B = R = 0
    Q[x >= 0] += 1.0
    with pytest.warns(BandwidthWarning, match="bias constant is zero") as rec:
        sel = select_bandwidths(x, Q, np.array([0.3, 0.7]), cutoff=0.0, rule="imse")
    _only_bandwidth_warnings(rec)
    assert np.all(sel.steps.near_zero_bias) and np.all(sel.capped)
    np.testing.assert_array_equal(sel.h, sel.h_max)


def test_too_few_units_on_a_side_is_an_error_naming_it():
    rng = np.random.default_rng(13)
    x = np.concatenate([[-0.5, -0.2, -0.1], rng.uniform(0, 1, 50)])
    Q = rng.standard_normal((x.size, 3))
    with pytest.raises(InsufficientDataError, match="left"):
        select_bandwidths(x, Q, np.array([0.25, 0.5, 0.75]), cutoff=0.0, rule="mse")
    with pytest.raises(InsufficientDataError, match="right"):
        select_bandwidths(-x, Q, np.array([0.25, 0.5, 0.75]), cutoff=0.0, rule="mse")


def test_tiny_bandwidth_is_enlarged_to_keep_units():
    rng = np.random.default_rng(14)
    n = 200
    x = rng.uniform(-1, 1, n)
    Q = np.where((x >= 0), 40 * x**2, -40 * x**2)[:, None] + 1e-4 * rng.standard_normal((n, 1))
    with pytest.warns(BandwidthWarning, match="enlarged") as rec:
        sel = select_bandwidths(x, Q, np.array([0.5]), cutoff=0.0, rule="mse")
    _only_bandwidth_warnings(rec)
    assert sel.steps.floored[0] and sel.h[0] == sel.h_min
    assert sel.steps.h_formula[0] < sel.h_min
    inside = np.abs(x) <= sel.h[0]
    assert np.sum(inside & (x < 0)) >= MIN_UNITS_PER_SIDE and np.sum(inside & (x >= 0)) >= MIN_UNITS_PER_SIDE


def test_order_not_above_pilot_order_warns():
    x, Q, q = _smooth_data(np.random.default_rng(15))
    with pytest.warns(BandwidthWarning, match="not above pilot_order") as rec:
        select_bandwidths(x, Q, q, cutoff=0.0, rule="mse", order=1, pilot_order=1)
    _only_bandwidth_warnings(rec)


def test_no_units_near_the_cutoff_is_an_error():
    rng = np.random.default_rng(17)
    x = np.concatenate([rng.uniform(-1, -0.6, 100), rng.uniform(0.6, 1, 100)])
    with pytest.raises(InsufficientDataError, match="density"):
        select_bandwidths(x, rng.standard_normal((200, 2)), np.array([0.3, 0.6]), cutoff=0.0, rule="imse")


def test_invalid_options_name_the_argument():
    x, Q, q = _smooth_data(np.random.default_rng(16), n=100)
    with pytest.raises(ValueError, match="`rule`"):
        select_bandwidths(x, Q, q, cutoff=0.0, rule="auto")
    with pytest.raises(ValueError, match="`kernel`"):
        select_bandwidths(x, Q, q, cutoff=0.0, rule="mse", kernel="gaussian")
    with pytest.raises(ValueError, match="`quantiles`"):
        select_bandwidths(x, Q, q[::-1], cutoff=0.0, rule="mse")
    with pytest.raises(ValueError, match="`Q`"):
        select_bandwidths(x, Q[:-1], q, cutoff=0.0, rule="mse")
    assert set(BANDWIDTH_RULES) == {"mse", "imse", "cer-mse", "cer-imse"}
    assert kernel_constants("epa", 1).c_v_plus == kernel_constants("epanechnikov", 1).c_v_plus  # one kernel


@pytest.mark.parametrize("shape", [(10, 3), (4096, 2), (4097, 5), (10000, 99), (9000, 1), (12289, 20)])
def test_column_std_in_row_blocks_equals_numpy_bit_for_bit(shape):
    """The selector's column standard deviations are squared in blocks of rows (no (n, m) array of
    deviations); numpy adds the rows one after another, so the bits are np.std's."""
    from r3d.bandwidth import _column_std

    rng = np.random.default_rng(sum(shape))
    Y = rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3, shape[1]) + rng.uniform(-5, 5, shape[1])
    assert np.array_equal(_column_std(Y), np.std(Y, axis=0))
