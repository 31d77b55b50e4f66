"""The compiled kernels are the ones in use: CI fails if the extension silently was not built."""

import importlib
import importlib.machinery
import shutil
import subprocess
import sys
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


def _copy_without_compiled_kernels(dest: Path) -> Path:
    """The pure-Python files of the imported r3d (sources included, no compiled modules): what a
    fresh source checkout holds before it is built."""
    compiled = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    shutil.copytree(Path(r3d.__file__).resolve().parent, dest / "r3d",
                    ignore=lambda _, names: [n for n in names if n.endswith(compiled) or n == "__pycache__"])
    return dest


def _import_r3d_first_from(root: Path) -> subprocess.CompletedProcess:
    code = f"import sys; sys.path.insert(0, {str(root)!r}); import r3d"
    return subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)


def test_source_tree_without_kernels_says_why_and_what_to_do(tmp_path):
    """Issue 12 item 8: `import r3d` from an unbuilt checkout names the folder and the two fixes
    instead of Python's bare "cannot import name '_bootstrap' from 'r3d._ext'"."""
    root = _copy_without_compiled_kernels(tmp_path)
    proc = _import_r3d_first_from(root)
    err = proc.stderr
    assert proc.returncode != 0 and "cannot import name" not in err, err
    assert "ImportError: r3d's compiled kernel _" in err and "is missing" in err, err
    assert f"imported from {root / 'r3d'}," in err, err  # the folder it was imported from
    assert "run Python from another folder" in err and "`pip install -e .`" in err, err


def test_kernel_built_for_another_python_is_named(tmp_path):
    root = _copy_without_compiled_kernels(tmp_path)
    for pyx in (root / "r3d" / "_ext").glob("*.pyx"):
        (pyx.parent / f"{pyx.stem}.cpython-29-foreign.so").write_bytes(b"")
    proc = _import_r3d_first_from(root)
    assert proc.returncode != 0 and ".cpython-29-foreign.so, built for another Python" in proc.stderr, proc.stderr


def test_non_kernel_attribute_is_an_ordinary_attribute_error():
    """The module __getattr__ answers only for kernel sources; hasattr() on anything else is False."""
    import r3d._ext as ext

    assert not hasattr(ext, "_no_such_kernel") and not hasattr(ext, "locpoly_numpy_typo")
