"""Build the compiled kernels in ``r3d/_ext``.

All metadata lives in ``pyproject.toml``; this file only declares the Cython
extensions. Every ``r3d/_ext/*.pyx`` becomes ``r3d._ext.<name>``.

Environment switches
--------------------
R3D_BOUNDSCHECK=1
    Compile with Cython bounds, wraparound and initialisation checks on (slow;
    used once to run the test suite under checks, see issue 7).
R3D_EXT_ONLY=name[,name]
    Build only these kernels (e.g. ``_locpoly``); for development.

The kernels run on one thread and need no OpenMP: their parallel loops saved at most
10 % of any reference job and were removed (``benchmarks/results/threads.md``).
"""

from __future__ import annotations

import os
from glob import glob
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent


def _extensions() -> list[Extension]:
    exts = []
    only = {n for n in os.environ.get("R3D_EXT_ONLY", "").split(",") if n}
    for pyx in sorted(glob(str(Path("r3d") / "_ext" / "*.pyx"))):
        name = Path(pyx).stem
        if only and name not in only:
            continue
        # Kernels that need std::sort declare it with a "# distutils: language = c++"
        # header line; Cython reads that itself.
        exts.append(
            Extension(
                f"r3d._ext.{name}",
                [pyx],
                include_dirs=[np.get_include()],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                # -ffp-contract=off: no fused multiply-adds, so the SIMD clones of a kernel
                # (AVX2, AVX-512) round every product and sum as the base build does
                extra_compile_args=["-O3", "-ffp-contract=off"],
            )
        )
    return exts


_checks = os.environ.get("R3D_BOUNDSCHECK") == "1"
DIRECTIVES = {
    "language_level": 3,
    "boundscheck": _checks,
    "wraparound": _checks,
    "initializedcheck": _checks,
    "cdivision": True,
    "embedsignature": True,
}

setup(
    ext_modules=cythonize(
        _extensions(),
        compiler_directives=DIRECTIVES,
        force=_checks,
    ),
)
