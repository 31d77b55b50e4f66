"""Column sums of a matrix built block by block, with numpy's bits and without the matrix.

For m >= 2 numpy sums over the rows of a C-contiguous (n, m) array one row after another
(``add.reduce`` along axis 0, and ``einsum("gj,gj->j")`` alike). So a matrix that is only
wanted for its column sums can be written a block of rows at a time into a small buffer whose
first row carries the running sum: ``((S + r_0) + r_1) + ...`` is the same sequence of additions,
hence the same bits, and the (n, m) array is never allocated (fresh memory is costly: see
docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def carried_row_sum(n: int, m: int, block_rows: int, fill: Callable[[np.ndarray, int, int], None]) -> np.ndarray:
    """(m,) sum over the rows of the (n, m) matrix whose rows ``g0:g1`` ``fill(out, g0, g1)``
    writes into ``out`` (a (g1 - g0, m) view of the buffer), equal bit for bit to
    ``np.add.reduce(matrix, axis=0)`` when m >= 2 (callers keep numpy's own path for m < 2,
    where numpy sums pairwise, and for n <= block_rows). n >= 1."""
    buf = np.empty((block_rows + 1, m))
    S = None
    for g0 in range(0, n, block_rows):
        g1 = min(n, g0 + block_rows)
        lead = 0 if S is None else 1
        fill(buf[lead : lead + g1 - g0], g0, g1)
        if S is not None:
            buf[0] = S
        S = np.add.reduce(buf[: lead + g1 - g0], axis=0)
    return S
