import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _no_global_numpy_random():
    """Fail any test whose code draws from the global NumPy random state (STYLE rule 6)."""
    before = np.random.get_state()[1].copy()
    yield
    after = np.random.get_state()[1]
    assert np.array_equal(before, after), "global numpy random state was used; pass an rng"
