"""r3d: regression discontinuity designs with distribution-valued outcomes (R3D).

Van Dijcke (2025), "Regression Discontinuity Design with Distribution-Valued
Outcomes", arXiv 2504.03992. Public surface only; see ``R3D`` to start.
"""

from r3d import datasets
from r3d._validation import (
    BandwidthWarning,
    DegenerateOutcomeWarning,
    DroppedDataWarning,
    FewDrawsWarning,
    InsufficientDataError,
    MassPointsWarning,
    PointMassWarning,
    R3DWarning,
    SmallSampleWarning,
    WeakFirstStageWarning,
)
from r3d._version import __version__
from r3d.model import R3D, select_bandwidth
from r3d.results import R3DResults

#: Submodules reachable as attributes (``r3d.plotting.plot_effect``) without being imported by
#: ``import r3d``: plotting needs matplotlib, which is imported only when something is drawn.
_LAZY_SUBMODULES = ("plotting", "cli")


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"r3d.{name}")
    raise AttributeError(f"module 'r3d' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))


def plot_binned(mod, quantiles=(0.1, 0.5, 0.9), **kwargs):
    """The R3D plot (see ``r3d.plotting.plot_binned``)."""
    from r3d.plotting import plot_binned as _pb

    return _pb(mod, quantiles, **kwargs)


__all__ = [
    "__version__",
    "R3D",
    "R3DResults",
    "select_bandwidth",
    "plot_binned",
    "datasets",
    "InsufficientDataError",
    "R3DWarning",
    "DroppedDataWarning",
    "PointMassWarning",
    "WeakFirstStageWarning",
    "BandwidthWarning",
    "SmallSampleWarning",
    "DegenerateOutcomeWarning",
    "MassPointsWarning",
    "FewDrawsWarning",
]
