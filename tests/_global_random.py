"""The guard behind STYLE rule 6: no code may draw from NumPy's global random state.

Used by the autouse fixture in ``conftest.py`` and tested in ``test_global_random_guard.py``.
"""

from __future__ import annotations

import numpy as np

#: The five entries of ``np.random.get_state()`` (legacy tuple form). A draw can change any
#: of them without touching the others: ``np.random.random()`` moves only ``pos`` until the
#: 624-word key is used up, ``np.random.standard_normal()`` can change only the cached Gaussian.
STATE_FIELDS = ("bit_generator", "key", "pos", "has_gauss", "cached_gaussian")


def global_random_state() -> tuple:
    """A snapshot of the whole global state (the key array copied)."""
    state = np.random.get_state()
    return (state[0], state[1].copy(), *state[2:])


def changed_fields(before: tuple, after: tuple) -> list[str]:
    """Names of the state entries that differ between two snapshots."""
    return [name for name, b, a in zip(STATE_FIELDS, before, after, strict=True) if not np.array_equal(b, a)]


def assert_global_random_state_unchanged(before: tuple) -> None:
    changed = changed_fields(before, global_random_state())
    assert not changed, f"global numpy random state was used (changed: {', '.join(changed)}); pass an rng"
