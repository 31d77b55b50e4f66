"""Compiled kernels (Cython). Each ``*.pyx`` here has a NumPy twin ``*_numpy.py``
used by the tests; the package never falls back to the twins at run time.

A source checkout has the ``.pyx`` files but no compiled modules until it is built. Python
running inside that checkout imports its ``r3d`` ahead of the installed one, and
``from r3d._ext import _locpoly`` would fail with a bare "cannot import name". The module
``__getattr__`` below turns that into an ImportError saying which folder was imported and
what to do.
"""

from __future__ import annotations

import importlib
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

_HERE = Path(__file__).resolve().parent
#: The distribution name in pyproject.toml, to point at an installed copy in the message.
_DISTRIBUTION = "r3d-rdd"


def __getattr__(name: str):
    """Import the kernel ``name`` or explain why it is missing.

    Python calls this for ``from r3d._ext import name`` before the submodule is loaded (its
    ``hasattr`` check), so a kernel is imported here; anything that is not a kernel source in
    this folder is an ordinary missing attribute.
    """
    if not (name.startswith("_") and (_HERE / f"{name}.pyx").is_file()):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    full = f"{__name__}.{name}"
    try:
        return importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name != full:  # the kernel exists but something it imports does not
            raise
        raise ImportError(_missing_kernel_message(name), name=full, path=str(_HERE)) from None


def _missing_kernel_message(name: str) -> str:
    root = _HERE.parent.parent
    present = sorted(p.name for p in _HERE.glob(f"{name}.*") if p.suffix not in {".pyx", ".c", ".cpp"})
    found = f"; it has {', '.join(present)}, built for another Python" if present else ""
    lines = [
        f"r3d's compiled kernel {name} is missing: r3d was imported from {root / 'r3d'}, which has "
        f"{name}.pyx but no compiled module for this Python (one of {', '.join(EXTENSION_SUFFIXES)}){found}.",
        f"This happens when Python runs in a source checkout ({root}): its r3d folder shadows the installed "
        "package. Either run Python from another folder, or build the kernels in place with "
        f"`pip install -e .` in {root}.",
    ]
    installed = _installed_copy()
    if installed is not None:
        lines.append(f"An installed r3d is at {installed}; it is used when Python runs from another folder.")
    return "\n".join(lines)


def _installed_copy() -> Path | None:
    """The ``r3d`` folder of an installed distribution other than this one, if any.

    A checkout that was ``pip install``-ed has its own ``*.egg-info`` at the root, found first
    from inside it; that one locates this very folder and is skipped.
    """
    from importlib import metadata

    for dist in metadata.distributions(name=_DISTRIBUTION):
        try:
            init = Path(dist.locate_file("r3d/__init__.py")).resolve()
        except (OSError, TypeError):
            continue
        if init.is_file() and init.parent != _HERE.parent:
            return init.parent
    return None
