"""r3d: regression discontinuity designs with distribution-valued outcomes."""

from r3d._validation import (
    BandwidthWarning,
    DroppedDataWarning,
    InsufficientDataError,
    R3DWarning,
    SmallSampleWarning,
    WeakFirstStageWarning,
)
from r3d._version import __version__

__all__ = [
    "__version__",
    "InsufficientDataError",
    "R3DWarning",
    "DroppedDataWarning",
    "WeakFirstStageWarning",
    "BandwidthWarning",
    "SmallSampleWarning",
]
