"""Fit options refused at the public edge with messages naming the argument: ``rng`` values numpy
rejects (or would misread), and ``n_boot`` whose draws cannot fit in memory."""

import warnings

import numpy as np
import pytest

import r3d
from r3d._validation import check_rng


@pytest.fixture(scope="module")
def mod():
    df = r3d.datasets.simulate_firms(n_firms=120, n_workers=(5, 10), rng=4)
    return r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")


def _fit(mod, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        return mod.fit(bandwidth=0.4, quantiles=5, **kw)


BAD_RNG = [
    ("seed", TypeError, "'seed'"),
    ("1", TypeError, "'1'"),
    (-1, ValueError, "got -1. Seeds are non-negative"),
    (1.5, TypeError, "got 1.5"),
    (1.0, TypeError, "got 1.0"),
    (True, TypeError, "got True"),
    (np.float64(2.0), TypeError, "got np.float64(2.0)"),
    (np.array([1.0, 2.0]), TypeError, "dtype float64"),
    (np.array([1, -2]), ValueError, "Seeds are non-negative"),
    ([1, "a"], TypeError, "<list [1, 'a']>"),
    ([], TypeError, "<list []>"),
    (np.zeros((2, 2), dtype=int), TypeError, "shape (2, 2)"),
    (np.random.RandomState(0), TypeError, "RandomState"),
    (object(), TypeError, "object"),
]


@pytest.mark.parametrize(("rng", "error", "shown"), BAD_RNG, ids=[repr(b[0])[:20] for b in BAD_RNG])
def test_bad_rng_named(mod, rng, error, shown):
    with pytest.raises(error) as info:
        _fit(mod, n_boot=99, rng=rng)
    text = str(info.value)
    assert text.startswith("`rng` must be None, a non-negative integer seed")
    assert shown in text
    assert "numpy.random.Generator" in text and "SeedSequence" in text
    assert "Pass a seed such as rng=1" in text


@pytest.mark.parametrize("rng", BAD_RNG[:4], ids=["str", "digits", "negative", "float"])
def test_bad_rng_refused_even_without_bootstrap(mod, rng):
    with pytest.raises(rng[1], match="`rng` must be"):
        _fit(mod, n_boot=0, rng=rng[0])


@pytest.mark.parametrize("make", [lambda: 7, lambda: np.int64(7), lambda: np.array(7), lambda: [7],
                                  lambda: (7,), lambda: np.array([7]), lambda: np.random.SeedSequence(7),
                                  lambda: np.random.PCG64(7), lambda: np.random.default_rng(7)],
                         ids=["int", "np.int64", "0-d", "list", "tuple", "array", "SeedSequence", "PCG64",
                              "Generator"])
def test_accepted_rng_same_draws_as_numpy(make):
    # numpy seeds 7 and [7] alike (SeedSequence entropy), so every form gives default_rng(7)'s stream
    assert np.array_equal(check_rng(make()).standard_normal(3), np.random.default_rng(7).standard_normal(3))


def test_generator_used_as_is():
    gen = np.random.default_rng(3)
    assert check_rng(gen) is gen
    assert isinstance(check_rng(None), np.random.Generator)


def test_fit_with_seed_sequence_equals_int_seed(mod):
    a = _fit(mod, n_boot=99, rng=11)
    b = _fit(mod, n_boot=99, rng=np.random.SeedSequence(11))
    assert np.array_equal(a.bootstrap_draws, b.bootstrap_draws)


@pytest.mark.parametrize("fn", [r3d.datasets.simulate_firms, r3d.datasets.simulate_wage_subsidy])
def test_datasets_rng_named(fn):
    with pytest.raises(TypeError, match=r"^`rng` must be None"):
        fn(n_firms=10, rng="x")
    with pytest.raises(ValueError, match=r"^`rng` must be None"):
        fn(n_firms=10, rng=-3)


# ---------------------------------------------------------------------------------------------
# n_boot whose draws cannot fit in memory
# ---------------------------------------------------------------------------------------------
GIB = 2**30


def test_bootstrap_memory_counts_draws_copies_and_multipliers():
    from r3d.bootstrap import MAX_CHUNK_BYTES
    from r3d.options import DRAW_COPIES, bootstrap_memory

    assert bootstrap_memory(0, 99) == 0
    assert bootstrap_memory(1000, 99) == DRAW_COPIES * 8 * 1000 * 99 + MAX_CHUNK_BYTES


def test_memory_limit_is_positive_or_unknown():
    from r3d.options import memory_limit

    limit = memory_limit()
    assert limit is None or (isinstance(limit, int) and limit > 0)


def test_n_boot_beyond_memory_refused_up_front(mod, monkeypatch):
    import r3d.options

    monkeypatch.setattr(r3d.options, "memory_limit", lambda: GIB // 10)
    with pytest.raises(ValueError) as info:
        _fit(mod, n_boot=10**6)
    text = str(info.value)
    assert text.startswith("`n_boot` must be small enough for the bootstrap draws to fit in memory; got 1000000.")
    # 5 levels: 10**6 x 5 x 8 bytes = 0.0373 GiB of draws; 3 copies + 16 MiB of multipliers = 0.127 GiB
    assert "The draws of 5 quantile levels take 0.0373 GiB (n_boot x m x 8 bytes) and about 0.127 GiB" in text
    assert "this machine has 0.1 GiB of memory" in text
    most = int(text.split("Use n_boot <= ")[1].split()[0])
    assert most == (GIB // 10 - 16 * 2**20) // (3 * 8 * 5)
    assert "fewer quantile levels, or n_boot=0" in text


def test_n_boot_at_the_limit_accepted(mod, monkeypatch):
    import r3d.options
    from r3d.options import bootstrap_memory

    monkeypatch.setattr(r3d.options, "memory_limit", lambda: bootstrap_memory(199, 5))
    assert _fit(mod, n_boot=199, rng=1).bootstrap_draws.shape == (199, 5)
    with pytest.raises(ValueError, match="Use n_boot <= 199 "):
        _fit(mod, n_boot=200, rng=1)
    assert _fit(mod, n_boot=0).bootstrap_draws is None  # no bootstrap, nothing to hold


def test_unknown_memory_checks_nothing(mod, monkeypatch):
    import r3d.options

    monkeypatch.setattr(r3d.options, "memory_limit", lambda: None)
    assert _fit(mod, n_boot=99, rng=1).bootstrap_draws.shape == (99, 5)


def test_memory_limit_reads_sysconf_and_cgroup(monkeypatch, tmp_path):
    import r3d.options

    monkeypatch.setattr(r3d.options.os, "sysconf", lambda name: {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 1000}[name])
    monkeypatch.setattr(r3d.options, "_CGROUP_MEMORY_MAX", str(tmp_path / "missing"))
    assert r3d.options.memory_limit() == 4096 * 1000
    cg = tmp_path / "memory.max"
    cg.write_text("1000000\n")
    monkeypatch.setattr(r3d.options, "_CGROUP_MEMORY_MAX", str(cg))
    assert r3d.options.memory_limit() == 1000000
    cg.write_text("max\n")
    assert r3d.options.memory_limit() == 4096 * 1000

    def no_sysconf(name):
        raise ValueError(name)

    monkeypatch.setattr(r3d.options.os, "sysconf", no_sysconf)
    assert r3d.options.memory_limit() is None
