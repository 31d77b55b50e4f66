"""The kernel registry r3d.kernels: the table itself and the compiled switch against it."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from r3d import bandwidth, locpoly
from r3d._ext import _locpoly
from r3d.kernels import KERNEL_ALIASES, KERNELS, Kernel, canonical_kernel, kernel_function

# A compiler may fuse a multiply-add of the compiled case into one FMA (clang does by
# default on arm64): one rounding fewer, so at most ~1 ulp of K <= 1 apart from the table's
# float K(u) computed without fusion. (On a grid where every operation is exact, below,
# the two must agree bit for bit on any platform.)
SWITCH_ATOL = 4 * np.finfo(np.float64).eps
# Float K(u) (a few roundings of numbers <= 1) against the exact rational value.
EXACT_ATOL = 4 * np.finfo(np.float64).eps

ROWS = list(KERNELS.values())
IDS = list(KERNELS)


def _exact(row: Kernel, u: float) -> Fraction:
    """K(u) 1{|u| <= 1} in exact arithmetic from the row's coefficients."""
    a = abs(Fraction(u))
    if a > 1:
        return Fraction(0)
    return sum((c * a**j for j, c in enumerate(row.coefficients)), Fraction(0))


# ------------------------------------------------------------ the table


def test_table_keys_codes_and_aliases_are_unique():
    assert all(name == row.name == row.name.lower() for name, row in KERNELS.items())
    codes = [row.code for row in ROWS]
    assert len(set(codes)) == len(codes)
    assert all(isinstance(c, int) and c >= 0 for c in codes)
    aliases = [a for row in ROWS for a in row.aliases]
    assert len(set(aliases)) == len(aliases)
    assert not set(aliases) & set(KERNELS)
    assert all(a == a.lower() for a in aliases)
    assert dict(KERNEL_ALIASES) == {a: row.name for row in ROWS for a in row.aliases}


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_row_is_a_symmetric_density_on_the_unit_interval(row):
    c = row.coefficients
    assert all(isinstance(cj, Fraction) for cj in c)
    assert c[0] > 0 and c[-1] != 0
    # int_{-1}^{1} K = 2 int_0^1 sum_j c_j u^j = 1, exactly
    assert 2 * sum(cj / (j + 1) for j, cj in enumerate(c)) == 1
    assert all(_exact(row, u) >= 0 for u in np.linspace(0.0, 1.0, 257))
    # the left side's polynomial in u is the mirror image of the right side's
    assert row.side_coefficients("right") == c
    left = row.side_coefficients("left")
    for u in (Fraction(0), Fraction(1, 3), Fraction(7, 8), Fraction(1)):
        assert sum(cj * (-u) ** j for j, cj in enumerate(left)) == sum(cj * u**j for j, cj in enumerate(c))


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_float_kernel_matches_exact_coefficients(row):
    u = np.linspace(-1.25, 1.25, 2001)
    exact = np.array([float(_exact(row, v)) for v in u])
    assert_allclose(row.evaluate(u), exact, rtol=0, atol=EXACT_ATOL)
    assert_array_equal(kernel_function(u, row.name), row.evaluate(u))
    assert row.evaluate(1.0) == float(_exact(row, 1.0))  # |u| = 1 is inside the window
    assert row.evaluate(np.nextafter(1.0, 2.0)) == 0.0


def test_names_and_short_forms_resolve_through_the_table():
    for row in ROWS:
        assert canonical_kernel(row.name.upper()) == row.name
        for alias in row.aliases:
            assert canonical_kernel(alias) == row.name
    with pytest.raises(ValueError, match="kernel"):
        canonical_kernel("gaussian")


def test_locpoly_reexports_the_registry():
    assert locpoly.KERNELS is KERNELS
    assert locpoly.KERNEL_ALIASES is KERNEL_ALIASES
    assert locpoly.canonical_kernel is canonical_kernel
    assert locpoly.kernel_function is kernel_function


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_bandwidth_constants_read_the_table(row):
    # Gamma_plus[0, 0] = int_0^1 K, Psi_plus[0, 0] = int_0^1 K^2 (exact, then rounded once)
    c = row.coefficients
    k_int = sum(cj / (j + 1) for j, cj in enumerate(c))
    k2_int = sum(ci * cj / (i + j + 1) for i, ci in enumerate(c) for j, cj in enumerate(c))
    kc = bandwidth.kernel_constants(row.name, 1)
    assert kc.Gamma_plus[0, 0] == float(k_int) == kc.Gamma_minus[0, 0]
    assert kc.Psi_plus[0, 0] == float(k2_int) == kc.Psi_minus[0, 0]


# ------------------------------------------------------------ the compiled switch


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_compiled_switch_matches_table(row):
    # dyadic u = k/64: every operation of K is exact here, so switch == table == exact value
    u = np.arange(-80, 81) / 64.0
    exact = np.array([float(_exact(row, v)) for v in u])
    assert_array_equal(_locpoly.kernel_value(row.code, u), exact)
    assert_array_equal(row.evaluate(u), exact)
    # a dense grid, the window's edge and just outside it
    rng = np.random.default_rng(20250512)
    u = np.concatenate([np.linspace(-1.5, 1.5, 3001), rng.uniform(-1.0, 1.0, 1000),
                        [1.0, -1.0, np.nextafter(1.0, 2.0), -np.nextafter(1.0, 2.0), 0.0, -0.0]])
    assert_allclose(_locpoly.kernel_value(row.code, u), row.evaluate(u), rtol=0, atol=SWITCH_ATOL)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_fit_uses_the_rows_code(row):
    # order 0 with known points: the kernel weights of the fit are the table's K(u)
    x = np.arange(0, 65) / 64.0
    fit = locpoly.fit_side(x, x, cutoff=0.0, h=1.0, order=0, kernel=row.name, side="right")
    assert_array_equal(fit.kernel_weights[:, 0], row.evaluate(x))


def test_compiled_switch_refuses_codes_not_in_the_table():
    known = {row.code for row in ROWS}
    u = np.zeros(3)
    for code in range(-3, max(known) + 4):
        if code in known:
            continue
        with pytest.raises(ValueError, match="unknown kernel code"):
            _locpoly.kernel_value(code, u)
        with pytest.raises(ValueError, match="unknown kernel code"):
            _locpoly.fit_common(u, np.zeros((3, 1)), 0.0, 1.0, 0, code, True, 1e-10)
