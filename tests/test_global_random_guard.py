"""The autouse guard of conftest.py catches a single draw from the global NumPy random state."""

import numpy as np
import pytest
from _global_random import assert_global_random_state_unchanged, changed_fields, global_random_state


@pytest.fixture
def restore_global_state():
    """These tests draw from the global state on purpose; put it back so the autouse guard passes."""
    saved = global_random_state()
    yield
    np.random.set_state(saved)


def _midstream():
    """A state part-way through the key, where a uniform draw moves only ``pos``."""
    np.random.set_state(np.random.RandomState(0).get_state())  # the state seed(0) gives
    np.random.random()
    return global_random_state()


def test_single_uniform_draw_is_caught(restore_global_state):
    before = _midstream()
    np.random.random()
    after = global_random_state()
    assert np.array_equal(before[1], after[1])  # the key alone (the old guard) sees nothing
    assert changed_fields(before, after) == ["pos"]
    with pytest.raises(AssertionError, match="global numpy random state was used"):
        assert_global_random_state_unchanged(before)


def test_cached_gaussian_is_caught(restore_global_state):
    _midstream()
    np.random.standard_normal()  # draws a pair, caches one
    before = global_random_state()
    np.random.standard_normal()  # returns the cached one: key and pos unchanged
    assert changed_fields(before, global_random_state()) == ["has_gauss", "cached_gaussian"]
    with pytest.raises(AssertionError, match=r"changed: has_gauss, cached_gaussian"):
        assert_global_random_state_unchanged(before)


def test_untouched_state_passes():
    before = global_random_state()
    np.random.default_rng(0).random(10)  # a Generator of its own: the global state is left alone
    assert_global_random_state_unchanged(before)
