"""Compiled bootstrap product (r3d/_ext/_bootstrap.pyx) against its NumPy twin and BLAS."""

import numpy as np
import pytest

from r3d._ext import _bootstrap
from r3d._ext import bootstrap_numpy as twin
from r3d.bootstrap import bootstrap_draws

# The kernel and the twin add the same products in the same order: no tolerance.
TWIN_ATOL = 0.0
# BLAS sums in another order (blocked, possibly fused): a few ulps of the largest term.
BLAS_RTOL = 1e-12


def _case(rng, n_boot, n_rows, m, n_total=None):
    n_total = n_total or n_rows + 3
    A = rng.standard_normal((n_total, m))
    rows = np.sort(rng.choice(n_total, size=n_rows, replace=False)).astype(np.intp)
    xi = rng.standard_normal((n_boot, n_rows))
    return xi, A, rows


# shapes around the kernel's blocks: 4 draws, ROW_TILE rows, column blocks of 2 vectors of
# 2, 4 or 8 columns, a last vector shifted left (m not a multiple of the width), m below a width
SHAPES = [(1, 1, 1), (3, 5, 2), (8, 4, 7), (9, 129, 3), (17, 257, 40), (64, 3, 99), (21, 130, 1),
          (4, 128, 8), (5, 256, 9), (7, 300, 17), (6, 2, 95), (3, 131, 20), (11, 77, 33)]


@pytest.mark.parametrize("shape", SHAPES)
def test_kernel_equals_twin_bit_for_bit(shape):
    rng = np.random.default_rng(sum(shape))
    xi, A, rows = _case(rng, *shape)
    got = _bootstrap.multiplier_product(xi, A, rows)
    np.testing.assert_allclose(got, twin.multiplier_product(xi, A, rows), rtol=0, atol=TWIN_ATOL)
    np.testing.assert_allclose(got, xi @ A[rows], rtol=BLAS_RTOL, atol=BLAS_RTOL * np.abs(got).max())


@pytest.mark.parametrize("shape", SHAPES)
def test_every_simd_path_gives_the_same_bits(shape):
    """Scalar, two-wide, AVX2 and AVX-512 paths (those this CPU runs) against the twin: the wide
    paths only change which entries are summed together, never the order within one entry."""
    rng = np.random.default_rng(100 + sum(shape))
    xi, A, rows = _case(rng, *shape)
    A[rng.random(A.shape) < 0.2] = 0.0
    A[0, 0] = -0.0
    expected = twin.multiplier_product(xi, A, rows)
    for simd in range(_bootstrap.SIMD_BEST + 1):
        got = _bootstrap.multiplier_product(xi, A, rows, simd=simd)
        assert np.array_equal(got, expected) and np.array_equal(np.signbit(got), np.signbit(expected)), simd


def test_rows_select_and_order_the_influence_rows():
    A = np.array([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0]])
    xi = np.array([[1.0, -1.0], [0.5, 2.0]])
    got = _bootstrap.multiplier_product(xi, A, np.array([2, 0], dtype=np.intp))
    np.testing.assert_array_equal(got, [[99.0, 198.0], [52.0, 104.0]])


def test_empty_dimensions_give_zeros():
    A = np.ones((3, 4))
    out = _bootstrap.multiplier_product(np.empty((5, 0)), A, np.empty(0, dtype=np.intp))
    assert out.shape == (5, 4) and not out.any()


@pytest.mark.parametrize(
    "kwargs,error",
    [
        ({"xi": np.ones((2, 3), dtype=np.float32)}, TypeError),
        ({"xi": np.ones((3, 2)).T}, TypeError),  # not C-contiguous
        ({"rows": np.array([0, 1, 2], dtype=np.int32)}, TypeError),
        ({"rows": np.array([0, 1], dtype=np.intp)}, ValueError),  # length != xi columns
        ({"rows": np.array([0, 1, 4], dtype=np.intp)}, ValueError),  # outside A
        ({"rows": np.array([0, -1, 2], dtype=np.intp)}, ValueError),
        ({"xi": np.array([[1.0, np.nan, 0.0], [0.0, 0.0, 0.0]])}, ValueError),
        ({"A": np.array([[1.0], [np.inf], [0.0], [0.0]])}, ValueError),
    ],
)
def test_kernel_refuses_bad_input(kwargs, error):
    args = {"xi": np.ones((2, 3)), "A": np.ones((4, 1)), "rows": np.arange(3, dtype=np.intp)}
    args.update(kwargs)
    with pytest.raises(error):
        _bootstrap.multiplier_product(args["xi"], args["A"], args["rows"])


def test_bootstrap_draws_use_the_kernel_on_the_documented_stream():
    """bootstrap_draws = twin(multipliers of the documented stream, live rows), any n_jobs."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal((40, 6))
    a[rng.random(40) < 0.4] = 0.0
    live = np.flatnonzero(np.any(a != 0.0, axis=1))
    xi = np.random.default_rng(11).standard_normal((70, live.size))
    expected = twin.multiplier_product(xi, a, live)
    for n_jobs in (1, 2, None):
        np.testing.assert_allclose(bootstrap_draws(a, n_boot=70, rng=11, n_jobs=n_jobs), expected,
                                   rtol=0, atol=TWIN_ATOL)


def test_threads_chunks_and_progress_change_nothing():
    """Several threads, any chunking, progress reports: same stream, same bits as one thread."""
    rng = np.random.default_rng(6)
    a = rng.standard_normal((150, 7))
    ref = bootstrap_draws(a, n_boot=300, rng=21, n_jobs=1)
    calls = []
    for chunk in (None, 64, 128, 1000):
        got = bootstrap_draws(a, n_boot=300, rng=21, n_jobs=2, chunk_size=chunk)
        assert np.array_equal(got, ref), chunk
    got = bootstrap_draws(a, n_boot=300, rng=21, n_jobs=2, progress=lambda d, n: calls.append(d))
    assert np.array_equal(got, ref) and calls[-1] == 300 and calls == sorted(calls)
