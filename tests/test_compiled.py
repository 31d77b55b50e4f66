"""The compiled kernels are the ones in use: CI fails if the extension silently was not built."""

import importlib
import importlib.machinery
from pathlib import Path

import pytest

import r3d

EXT_DIR = Path(r3d.__file__).resolve().parent / "_ext"
KERNELS = ["_quantiles", "_locpoly", "_isotonic", "_bootstrap", "_grouping"]


def test_every_pyx_is_compiled():
    pyx = sorted(p.stem for p in EXT_DIR.glob("*.pyx"))
    assert set(KERNELS) <= set(pyx), f"kernel sources missing from the installed package: {pyx}"
    for name in pyx:
        mod = importlib.import_module(f"r3d._ext.{name}")
        assert mod.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), (
            f"r3d._ext.{name} was imported from {mod.__file__}, not a compiled extension")


@pytest.mark.parametrize("face,kernel", [("r3d.locpoly", "_locpoly"), ("r3d.quantiles", "_quantiles"),
                                         ("r3d.monotone", "_isotonic"), ("r3d.estimators", "_isotonic"),
                                         ("r3d.bootstrap", "_bootstrap"), ("r3d.data", "_grouping")])
def test_python_faces_call_the_compiled_kernels(face, kernel):
    """The Python faces import the compiled module itself, never a NumPy twin."""
    mod = importlib.import_module(face)
    ext = importlib.import_module(f"r3d._ext.{kernel}")
    assert any(v is ext for v in vars(mod).values()) or any(
        getattr(v, "__module__", None) == ext.__name__ for v in vars(mod).values()
    ), f"{face} does not use r3d._ext.{kernel}"
    twins = [k for k, v in vars(mod).items() if getattr(v, "__name__", "").endswith("_numpy")]
    assert not twins, f"{face} imports NumPy twins at run time: {twins}"


def test_version():
    assert isinstance(r3d.__version__, str) and r3d.__version__.count(".") >= 2


def test_no_other_r3d_shadows_the_imported_one_on_sys_path():
    """Child processes (Dask workers, subprocess tests) rebuild sys.path from this process: the first
    r3d they would find must be the one in use here, not an uncompiled checkout that some module
    put ahead of it at collection time."""
    import sys

    here = Path(r3d.__file__).resolve().parent.parent
    for entry in sys.path:
        candidate = Path(entry or ".").resolve() / "r3d" / "__init__.py"
        if candidate.is_file():
            assert candidate.parent.parent == here, f"sys.path entry {entry!r} shadows the imported r3d at {here}"
            break
