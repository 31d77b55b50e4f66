"""The compiled kernels never crash and never return a silent NaN.

Random shapes, empty sides, all-equal x, extreme magnitudes (1e-300, 1e300) and NaN/inf injected
past the Python validation (calling ``r3d._ext`` directly). Every call must either return finite
numbers or raise an exception. The fuzz loop runs in a subprocess so that a segfault shows up as a
failed test (negative return code) instead of killing the test session.
"""

import subprocess
import sys
import textwrap

import pytest
from _child import same_r3d_env

FUZZ = textwrap.dedent(
    r'''
    import sys
    import numpy as np
    from r3d._ext import _isotonic, _locpoly, _quantiles

    rng = np.random.default_rng(int(sys.argv[1]))
    SPECIAL = [np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-300, 0.0]
    METHODS = list(_quantiles.METHOD_CODES)
    problems = []

    def values(size):
        v = rng.normal(size=size) * 10.0 ** rng.integers(-300, 300)
        if size and rng.uniform() < 0.5:
            idx = rng.integers(0, size, rng.integers(1, 3))
            v[idx] = rng.choice(SPECIAL, idx.size)
        return v

    def check(name, call, inputs_finite):
        """Either an exception, or finite float outputs (overflow must raise, not return inf)."""
        try:
            out = call()
        except (ValueError, TypeError, ArithmeticError, MemoryError):
            return
        arrays = out if isinstance(out, tuple) else (out,)
        for a in arrays:
            if isinstance(a, np.ndarray) and a.dtype.kind == "f" and not np.isfinite(a).all():
                origin = "finite" if inputs_finite else "non-finite"
                problems.append(f"{name}: non-finite output returned silently ({origin} inputs)")
                return

    for it in range(150):
        # --- unit quantiles
        n_units = int(rng.integers(0, 6))
        N = int(rng.integers(0, 40))
        y = values(N)
        codes = rng.integers(-1 if rng.uniform() < 0.1 else 0, max(n_units, 1) + (rng.uniform() < 0.1),
                             N).astype(np.int64)
        levels = np.sort(rng.uniform(0, 1, int(rng.integers(1, 6))))
        w = None
        if rng.uniform() < 0.4:
            w = np.abs(values(N))
        meth = (METHODS[int(rng.integers(len(METHODS)))] if w is None
                else ["linear", "inverted_cdf"][int(rng.integers(2))])
        finite = np.isfinite(y).all() and (w is None or np.isfinite(w).all()) and np.abs(y).max(initial=0) < 1e300
        check("quantiles", lambda: _quantiles.unit_quantiles(y, codes, n_units, levels, meth, w), finite)

        # --- isotonic rows
        Yr = values(int(rng.integers(0, 5)) * int(rng.integers(0, 7))).reshape(-1, 1) if rng.uniform() < 0.2 else \
            values(12).reshape(3, 4)
        check("isotonic", lambda: _isotonic.isotonic_rows(np.ascontiguousarray(Yr)),
              np.isfinite(Yr).all() and np.abs(Yr).max(initial=0) < 1e300)

        # --- local polynomial, common and per-column bandwidths
        n = int(rng.integers(0, 30))
        x = rng.uniform(-1, 1, n)
        if rng.uniform() < 0.2:
            x[:] = 0.3  # all equal
        if rng.uniform() < 0.2:
            x = np.abs(x)  # empty left side
        if rng.uniform() < 0.3 and n:
            x[int(rng.integers(n))] = rng.choice(SPECIAL)
        m = int(rng.integers(1, 4))
        Y = values(n * m).reshape(n, m)
        p = int(rng.integers(0, 6))
        h = float(rng.choice([1e-300, 0.05, 0.5, 2.0, 1e300]))
        fin = np.isfinite(x).all() and np.isfinite(Y).all() and np.abs(Y).max(initial=0) < 1e300
        for right in (True, False):
            check("locpoly common",
                  lambda: _locpoly.fit_common(x, Y, 0.0, h, p, int(rng.integers(3)), right, 1e-10, True), fin)
            hs = rng.choice([0.05, 0.5, 2.0], m)
            check("locpoly per-column",
                  lambda: _locpoly.fit_per_column(x, Y, 0.0, hs, p, int(rng.integers(3)), right, 1e-10, True), fin)

    for it in range(60):
        # --- bootstrap product and fused residuals (kernels added for speed)
        from r3d._ext import _bootstrap
        B, T, G, m = (int(v) for v in rng.integers(0, 5, 4))
        xi = values(B * T).reshape(B, T)
        A = values(G * m).reshape(G, m)
        rows = rng.integers(0, max(G, 1), T).astype(np.intp)
        fin = np.isfinite(xi).all() and np.isfinite(A).all()
        check("bootstrap product", lambda: _bootstrap.multiplier_product(xi, A, rows), fin)
        n, m = int(rng.integers(1, 6)), int(rng.integers(1, 5))
        Y, fp, fm = (values(n * m).reshape(n, m) for _ in range(3))
        r = np.unique(rng.integers(0, n, int(rng.integers(0, n + 1)))).astype(np.intp)
        wd = values(n)
        fin = all(np.isfinite(v).all() for v in (Y, fp, fm, wd))
        check("side residuals", lambda: _isotonic.side_residuals(Y, fp, fm, r, rng.uniform(size=r.size) < 0.5, wd,
                                                                 bool(rng.integers(2))), fin)

    if problems:
        print("\n".join(sorted(set(problems))))
        sys.exit(3)
    '''
)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kernels_never_crash_or_return_silent_nan(seed, tmp_path):
    proc = subprocess.run([sys.executable, "-c", FUZZ, str(seed)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env=same_r3d_env(), check=False)
    assert proc.returncode == 0, (
        f"fuzz run {seed} ended with code {proc.returncode} (negative = killed by a signal, e.g. segfault)\n"
        f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
