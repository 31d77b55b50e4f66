"""Child interpreters in tests import the very r3d the test process uses."""

import os
from pathlib import Path

import r3d


def same_r3d_env() -> dict:
    """Environment whose PYTHONPATH starts with the directory holding the imported r3d (the installed
    package in CI, never a source tree without compiled kernels). Run the child with ``cwd`` outside
    the repository so that the current directory cannot shadow it either."""
    env = dict(os.environ)
    root = str(Path(r3d.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
