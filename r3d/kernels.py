"""The kernel registry: a kernel is one row of :data:`KERNELS` (docs/method.md §3).

Every kernel ``K`` is a symmetric density on [-1, 1] that is a polynomial in ``|u|``::

    K(u) = (c_0 + c_1 |u| + ... + c_r |u|^r) 1{|u| <= 1}     (|u| = 1 is inside the window)

A row (:class:`Kernel`) holds the canonical name, the accepted short forms, the code of the
kernel's case in the compiled switch (``_kernel_inside`` in ``r3d/_ext/_locpoly.pyx``) and the
exact coefficients ``c_j`` as :class:`fractions.Fraction`. Everything else is derived:

- :meth:`Kernel.evaluate`, the float ``K(u)`` of :func:`kernel_function` (the density of the
  running variable at the cutoff, the NumPy twin of the compiled fit), computed with the same
  floating-point operations as the compiled case, so the two agree bit for bit;
- :meth:`Kernel.side_coefficients`, the exact one-sided polynomials from which
  :func:`r3d.bandwidth.kernel_constants` integrates Gamma, Lambda and Psi in closed form.

Adding a kernel is one row here and one case in the compiled switch; ``tests/test_kernels.py``
checks the table (a density, unique names and codes) and the switch against the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

import numpy as np

from r3d._validation import check_choice

__all__ = ["Kernel", "KERNELS", "KERNEL_ALIASES", "canonical_kernel", "kernel_function"]


@dataclass(frozen=True, slots=True)
class Kernel:
    """One kernel: ``K(u) = sum_j coefficients[j] |u|^j`` for ``|u| <= 1``, 0 outside.

    Attributes
    ----------
    name : str
        Canonical name (lower case), the key in :data:`KERNELS`.
    aliases : tuple of str
        Short forms accepted by :func:`canonical_kernel` (lower case).
    code : int
        The kernel's case in the compiled switch (``_kernel_inside`` in
        ``r3d/_ext/_locpoly.pyx``); passed to ``r3d._ext._locpoly`` as ``kernel``.
    coefficients : tuple of Fraction, shape (r+1,)
        Exact coefficients of ``K`` in powers of ``|u|`` on [0, 1]; ``coefficients[0] = K(0) > 0``.
    """

    name: str
    aliases: tuple[str, ...]
    code: int
    coefficients: tuple[Fraction, ...]

    def side_coefficients(self, side: str) -> tuple[Fraction, ...]:
        """Exact coefficients of ``K`` in powers of ``u`` on one side of zero.

        ``"right"`` is u in [0, 1] (``c_j``), ``"left"`` is u in [-1, 0] (``(-1)^j c_j``,
        since ``|u|^j = (-u)^j`` there).
        """
        if side == "right":
            return self.coefficients
        return tuple(c if j % 2 == 0 else -c for j, c in enumerate(self.coefficients))

    def evaluate(self, u: np.ndarray | float) -> np.ndarray:
        """Float ``K(u) 1{|u| <= 1}``, same shape as ``u``, float64.

        Computed as ``c_0 * (1 + (c_1/c_0) a + ... )`` with ``a = |u|`` and the bracket by
        Horner's rule: for the rows of :data:`KERNELS` these are the operations of the
        compiled switch (``1 - a``, ``0.75 * (1 - a * a)``, ``0.5 * 1``), hence the same bits.
        """
        u = np.asarray(u, dtype=np.float64)
        a = np.abs(u)
        c0 = self.coefficients[0]
        scaled = [float(c / c0) for c in self.coefficients]
        k = np.full_like(a, scaled[-1])
        for c in reversed(scaled[:-1]):
            k = k * a + c
        k = float(c0) * k
        return np.where(a <= 1.0, k, 0.0)


def _table(*rows: Kernel) -> Mapping[str, Kernel]:
    return MappingProxyType({row.name: row for row in rows})


#: The kernels: a read-only mapping canonical name -> :class:`Kernel`, in the order they are
#: listed to users.
KERNELS: Mapping[str, Kernel] = _table(
    Kernel("triangular", ("tri", "triang"), 0, (Fraction(1), Fraction(-1))),
    Kernel("epanechnikov", ("epa", "epan"), 1, (Fraction(3, 4), Fraction(0), Fraction(-3, 4))),
    Kernel("uniform", ("uni", "rect", "rectangular"), 2, (Fraction(1, 2),)),
)

#: Short form -> canonical name, read off the rows of :data:`KERNELS`.
KERNEL_ALIASES: Mapping[str, str] = MappingProxyType(
    {alias: row.name for row in KERNELS.values() for alias in row.aliases}
)


def canonical_kernel(kernel: str) -> str:
    """Canonical kernel name (``"tri"`` -> ``"triangular"``, case-insensitive).

    Raises
    ------
    ValueError
        For a name that is neither in :data:`KERNELS` nor in :data:`KERNEL_ALIASES`.
    """
    return check_choice("kernel", kernel, KERNELS, KERNEL_ALIASES)


def kernel_function(u: np.ndarray | float, kernel: str) -> np.ndarray:
    """Kernel ``K(u) 1{|u| <= 1}`` (:meth:`Kernel.evaluate` of the named row).

    Triangular ``1 - |u|``, Epanechnikov ``0.75 (1 - u^2)``, uniform ``0.5``
    (``|u| = 1`` is inside the window for every kernel; the first two vanish there).

    Parameters
    ----------
    u : array_like
        Scaled distances ``(x - c) / h``, any shape.
    kernel : str
        A name accepted by :func:`canonical_kernel`.

    Returns
    -------
    ndarray
        Same shape as ``u``, float64.
    """
    return KERNELS[canonical_kernel(kernel)].evaluate(u)
