"""Fits whose r3d warnings are not the subject of the test (the warning tests check those)."""

import warnings

import r3d


def quiet_fit(mod, **kw):
    """``mod.fit(**kw)`` with r3d's own warnings silenced (numpy's still reach the suite's filters)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        return mod.fit(**kw)
