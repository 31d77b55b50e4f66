# Shared nogil checks for the compiled kernels (inline, no module of its own).
from libc.math cimport isfinite


cdef inline Py_ssize_t first_nonfinite(const double* v, Py_ssize_t n) noexcept nogil:
    """Index of the first NaN or infinite entry of v[0:n], or -1."""
    cdef Py_ssize_t i
    for i in range(n):
        if not isfinite(v[i]):
            return i
    return -1
