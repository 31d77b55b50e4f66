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
R3D_NO_OPENMP=1
    Build without OpenMP even when the compiler supports it (loops then run
    on one thread; results are identical).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from glob import glob
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent


def _compiler_supports_openmp() -> bool:
    """Compile and link a tiny OpenMP program with the default C compiler."""
    if os.environ.get("R3D_NO_OPENMP") == "1" or sys.platform == "win32":
        return False
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return False
    src = "#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n"
    with tempfile.TemporaryDirectory() as tmp:
        c_file = Path(tmp) / "t.c"
        c_file.write_text(src)
        try:
            res = subprocess.run(
                [cc, "-fopenmp", str(c_file), "-o", str(Path(tmp) / "t")],
                capture_output=True,
                check=False,
            )
        except OSError:
            return False
        return res.returncode == 0


def _extensions() -> list[Extension]:
    openmp = _compiler_supports_openmp()
    omp_flags = ["-fopenmp"] if openmp else []
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
                extra_compile_args=["-O3", *omp_flags],
                extra_link_args=omp_flags,
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
