"""Compiled kernels (Cython). Each ``*.pyx`` here has a NumPy twin ``*_numpy.py``
used by the tests; the package never falls back to the twins at run time."""
