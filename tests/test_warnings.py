"""Warnings: exported classes, pointing at the user's line, and recorded in the results."""

import warnings

import numpy as np
import pytest

import r3d


def test_warning_classes_are_userwarnings():
    for cls in (r3d.DroppedDataWarning, r3d.WeakFirstStageWarning, r3d.BandwidthWarning, r3d.SmallSampleWarning,
                r3d.PointMassWarning):
        assert issubclass(cls, r3d.R3DWarning) and issubclass(cls, UserWarning)
    assert issubclass(r3d.InsufficientDataError, ValueError)


def _small_design(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    samples = [rng.normal(x[i] + (x[i] >= 0), 1, 10) for i in range(n)]
    return samples, x


def test_fit_warnings_point_at_the_callers_line():
    samples, x = _small_design()
    mod = r3d.R3D.from_samples(samples, x)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = mod.fit(method="frechet", bandwidth=0.25, quantiles=5, n_boot=0)  # few units inside h
    ours = [w for w in rec if issubclass(w.category, r3d.R3DWarning)]
    assert ours, "expected a SmallSampleWarning"
    assert all(w.filename == __file__ for w in ours), [w.filename for w in ours]
    assert any("positive kernel weight" in n for n in res.notes)


def test_construction_warnings_point_at_the_callers_line_and_reach_the_notes():
    samples, x = _small_design()
    samples[3] = np.array([np.nan, np.nan])
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        mod = r3d.R3D.from_samples(samples, x)
    ours = [w for w in rec if issubclass(w.category, r3d.DroppedDataWarning)]
    assert [str(w.message).split(" ")[1] for w in ours] == ["draw(s)", "unit(s)"]  # the draws, then the unit
    assert all(w.filename == __file__ for w in ours)
    res = mod.fit(method="frechet", bandwidth=1.0, quantiles=5, n_boot=0)
    assert any("2 draw(s) dropped (2 with a missing outcome)" in n for n in res.notes)
    assert any("no valid draws" in n for n in res.notes)
    assert "no valid draws" in res.summary().as_text()


def test_single_draw_units_are_allowed_and_counted():
    samples, x = _small_design()
    samples[0] = samples[0][:1]
    samples[5] = samples[5][:1]
    mod = r3d.R3D.from_samples(samples, x)
    assert mod.n_single_draw_units == 2
    res = mod.fit(method="frechet", bandwidth=1.0, quantiles=5, n_boot=0)
    assert res.data.n_single_draw_units == 2


def test_warning_filters_work_by_class():
    samples, x = _small_design()
    mod = r3d.R3D.from_samples(samples, x)
    with warnings.catch_warnings():
        warnings.simplefilter("error", r3d.SmallSampleWarning)
        with pytest.raises(r3d.SmallSampleWarning):
            mod.fit(method="frechet", bandwidth=0.25, quantiles=5, n_boot=0)


def _raising_average_weights(monkeypatch):
    """Replace ``r3d.estimators.average_weights`` by a copy, compiled as code of that module, that
    also takes ``np.log(0)``: numpy's RuntimeWarning is then attributed to ``r3d.estimators``."""
    import r3d.estimators as est

    original = est.average_weights
    namespace = {"__name__": "r3d.estimators", "np": np, "_original": original}
    exec(compile("def average_weights(q):\n    np.log(np.zeros(1))\n    return _original(q)\n",
                 est.__file__, "exec"), namespace)
    monkeypatch.setattr(est, "average_weights", namespace["average_weights"])


def test_numpy_runtime_warning_inside_a_fit_reaches_the_suites_filter(monkeypatch):
    """Nothing captures warnings around a stage: the suite's `error::RuntimeWarning:r3d.*` filter
    (pyproject) turns a numpy RuntimeWarning raised inside a fit into an error, as on a direct call."""
    samples, x = _small_design()
    mod = r3d.R3D.from_samples(samples, x)
    _raising_average_weights(monkeypatch)
    import r3d.estimators as est

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)  # a small design: not what is tested here
        warnings.filterwarnings("error", category=RuntimeWarning, module="r3d.*")
        with pytest.raises(RuntimeWarning, match="divide by zero"):
            est.average_weights(np.array([0.5]))  # a direct call
        with pytest.raises(RuntimeWarning, match="divide by zero"):
            mod.fit(bandwidth=0.9, quantiles=5, n_boot=0)  # the same code inside a fit


def test_no_stage_captures_warnings():
    """The package has one warning mechanism (raise at the source); no module records and re-emits."""
    import pathlib

    root = pathlib.Path(r3d.__file__).parent
    offenders = [p.name for p in root.rglob("*.py") if "catch_warnings(record=True)" in p.read_text()]
    assert offenders == []
