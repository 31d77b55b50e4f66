import faulthandler
import sys

import numpy as np
import pytest

#: No single test may run longer than this: a hang (e.g. a subprocess or cluster that never starts)
#: dumps every thread's traceback and ends the run instead of idling until CI's time limit.
TEST_WATCHDOG_SECONDS = 600


@pytest.fixture(autouse=True)
def _no_global_numpy_random():
    """Fail any test whose code draws from the global NumPy random state (STYLE rule 6)."""
    before = np.random.get_state()[1].copy()
    yield
    after = np.random.get_state()[1]
    assert np.array_equal(before, after), "global numpy random state was used; pass an rng"


@pytest.fixture(autouse=True)
def _watchdog():
    faulthandler.dump_traceback_later(TEST_WATCHDOG_SECONDS, exit=True, file=sys.stderr)
    yield
    faulthandler.cancel_dump_traceback_later()
