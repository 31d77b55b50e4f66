import faulthandler
import sys

import pytest
from _global_random import assert_global_random_state_unchanged, global_random_state

#: No single test may run longer than this: a hang (e.g. a subprocess or cluster that never starts)
#: dumps every thread's traceback and ends the run instead of idling until CI's time limit.
TEST_WATCHDOG_SECONDS = 600


@pytest.fixture(autouse=True)
def _no_global_numpy_random():
    """Fail any test whose code draws from the global NumPy random state (STYLE rule 6): the whole
    state is compared (key, position, cached Gaussian), so a single draw is caught."""
    before = global_random_state()
    yield
    assert_global_random_state_unchanged(before)


@pytest.fixture(autouse=True)
def _watchdog():
    faulthandler.dump_traceback_later(TEST_WATCHDOG_SECONDS, exit=True, file=sys.stderr)
    yield
    faulthandler.cancel_dump_traceback_later()
