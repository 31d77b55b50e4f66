"""Plots: the artists drawn carry the results' numbers, PNGs are written, ``ax=`` is honoured,
and the binned plot's dots and curves are the bin means and the estimator's own fits."""

import io
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import r3d

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after selecting the Agg backend)
from matplotlib.collections import PathCollection, PolyCollection  # noqa: E402

#: Units with a handful of draws on a fine grid: the few-draws diagnostic is expected here and is
#: tested in tests/test_fewdraws.py.
pytestmark = pytest.mark.filterwarnings("ignore::r3d.FewDrawsWarning")

#: Curves are evaluated from the same coefficients as the estimate: rounding only (measured: equal).
RTOL_SAME_ALGEBRA = 1e-14
#: Numbers the plot stores as it was given them (band and interval limits, the true effect):
#: measured equal; one part in 1e15 allowed.
RTOL_PLOTTED = 1e-15
#: Bin means and midpoints, ours vs pandas': the same sums in another order (measured 1.7e-16).
RTOL_BIN_MEANS = 1e-14
#: A plot of this size with text, bands and curves is tens of kB; an empty PNG is ~2 kB.
MIN_PNG_BYTES = 10_000


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def mod():
    df = r3d.datasets.simulate_firms(n_firms=240, n_workers=(10, 30), rng=11)
    return r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")


@pytest.fixture(scope="module")
def res(mod):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        return mod.fit(method="frechet", bandwidth=0.4, quantiles=19, n_boot=199, rng=1)


def _png(ax):
    buf = io.BytesIO()
    ax.figure.savefig(buf, format="png", dpi=80)
    data = buf.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return data


def _fills(ax):
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def _y_range(coll):
    verts = np.concatenate([p.vertices for p in coll.get_paths()])
    return verts[:, 1].min(), verts[:, 1].max()


def test_effect_plot_draws_estimate_interval_band_and_zero(res):
    ax = res.plot()
    fills = _fills(ax)
    assert len(fills) == 2  # uniform band, then pointwise interval
    band, ci = res.conf_int(kind="uniform"), res.conf_int()
    plotted = {"rel": RTOL_PLOTTED, "abs": 0}
    assert _y_range(fills[0]) == pytest.approx((band["lower"].min(), band["upper"].max()), **plotted)
    assert _y_range(fills[1]) == pytest.approx((ci["lower"].min(), ci["upper"].max()), **plotted)
    # different shading for band and interval
    assert fills[0].get_facecolor()[0][3] < fills[1].get_facecolor()[0][3]
    est = [ln for ln in ax.lines if ln.get_label().startswith("estimate")]
    assert len(est) == 1 and np.array_equal(est[0].get_ydata(), res.params.to_numpy())
    assert any(np.all(np.asarray(ln.get_ydata()) == 0) for ln in ax.lines)  # zero line
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:3] == ["95% uniform band", "95% pointwise CI", r"estimate $\hat\tau(q)$"]
    assert ax.get_ylabel() == "effect on wage"
    assert len(_png(ax)) > MIN_PNG_BYTES


def test_effect_plot_on_given_axes_with_truth_and_alpha(res):
    _, axes = plt.subplots(1, 2)
    out = res.plot(ax=axes[1], alpha=0.1, truth=r3d.datasets.firms_true_effect, title="")
    assert out is axes[1] and not axes[0].lines and out.get_title() == ""
    truth = [ln for ln in out.lines if ln.get_label().startswith("true")]
    np.testing.assert_allclose(truth[0].get_ydata(), r3d.datasets.firms_true_effect(res.quantiles),
                               rtol=RTOL_PLOTTED)
    assert _y_range(_fills(out)[1]) == pytest.approx((res.conf_int(0.1)["lower"].min(),
                                                      res.conf_int(0.1)["upper"].max()), rel=RTOL_PLOTTED, abs=0)
    with pytest.raises(ValueError, match="`truth`"):
        res.plot(truth=np.zeros(3))


def test_effect_plot_without_bootstrap_has_only_the_interval(mod):
    r = mod.fit(method="simple", bandwidth=0.4, quantiles=9, n_boot=0)
    ax = r.plot()
    assert len(_fills(ax)) == 1
    assert len(_png(ax)) > MIN_PNG_BYTES


def test_limits_plot(res):
    ax = res.plot(kind="limits")
    ys = {ln.get_label(): np.asarray(ln.get_ydata()) for ln in ax.lines}
    np.testing.assert_array_equal(ys[r"below the cutoff, $\hat m_-(q)$"], res.limits["left"].to_numpy())
    np.testing.assert_array_equal(ys[r"above the cutoff, $\hat m_+(q)$"], res.limits["right"].to_numpy())
    assert len(ax.lines) == 2
    assert len(res.plot(kind="limits", raw=True).lines) == 4
    assert len(_png(ax)) > MIN_PNG_BYTES
    with pytest.raises(ValueError, match="`kind`"):
        res.plot(kind="histogram")


def test_binned_plot_dots_are_bin_means(mod):
    levels = (0.1, 0.5, 0.9)
    ax = r3d.plot_binned(mod, quantiles=levels, bins=8)
    dots = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(dots) == 2 * len(levels)  # left side then right side, one per level
    Q = mod.unit_quantiles(quantiles=list(levels))
    x = mod.running.to_numpy()
    right = x >= mod.cutoff
    edges = np.linspace(mod.cutoff, x.max(), 9)
    bin_id = np.clip(np.searchsorted(edges, x[right], side="right") - 1, 0, 7)
    expected = pd.Series(Q.to_numpy()[right, 2]).groupby(bin_id).mean()
    got = dots[3 + 2].get_offsets()
    np.testing.assert_allclose(np.asarray(got)[:, 1], expected.to_numpy(), rtol=RTOL_BIN_MEANS)
    np.testing.assert_allclose(np.asarray(got)[:, 0], ((edges[:-1] + edges[1:]) / 2)[expected.index],
                               rtol=RTOL_BIN_MEANS)
    assert len(ax.lines) == 2 * len(levels) + 1  # curves per side and level, cutoff line
    assert ax.get_ylabel() == "units' quantiles of wage (bin means)"
    assert len(_png(ax)) > MIN_PNG_BYTES


def test_binned_local_curves_start_at_the_estimated_limits(mod):
    """With the estimator's bandwidth, kernel and order, the curves at the cutoff are the
    simple estimator's raw limits."""
    levels = [0.25, 0.5, 0.75]
    h = 0.35
    r = mod.fit(method="simple", bandwidth=h, quantiles=levels, order=2, kernel="epanechnikov", n_boot=0)
    _, ax = plt.subplots()
    out = r3d.plot_binned(mod, quantiles=levels, bandwidth=h, order=2, kernel="epanechnikov", ax=ax)
    assert out is ax
    curves = [ln for ln in ax.lines if len(ln.get_xdata()) > 2]
    left, right = curves[: len(levels)], curves[len(levels):]
    np.testing.assert_allclose([ln.get_ydata()[-1] for ln in left], r.limits["left_raw"], rtol=RTOL_SAME_ALGEBRA)
    np.testing.assert_allclose([ln.get_ydata()[0] for ln in right], r.limits["right_raw"], rtol=RTOL_SAME_ALGEBRA)
    # local curves stay inside the window
    assert min(ln.get_xdata().min() for ln in left) >= mod.cutoff - h - 1e-12
    assert max(ln.get_xdata().max() for ln in right) <= mod.cutoff + h + 1e-12


@pytest.mark.parametrize("kw,match", [({"bins": 0}, "`bins`"), ({"bandwidth": -1.0}, "`bandwidth`"),
                                      ({"colors": ["red"]}, "`colors`")])
def test_binned_plot_validates(mod, kw, match):
    with pytest.raises(ValueError, match=match):
        r3d.plot_binned(mod, **kw)


# --------------------------------------------------------------------------- labels and styles
def _legend_labels(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _estimate(ax, label):
    return [ln for ln in ax.lines if ln.get_label() == label]


def test_label_names_the_estimate_and_prefixes_interval_and_band(res):
    ax = res.plot(label="Frechet")
    assert _legend_labels(ax) == ["Frechet: 95% uniform band", "Frechet: 95% pointwise CI", "Frechet"]
    (est,) = _estimate(ax, "Frechet")
    assert np.array_equal(est.get_ydata(), res.params.to_numpy())


def test_matplotlib_options_go_to_the_estimate_band_kw_and_ci_kw_to_the_shading(res):
    ax = res.plot(linewidth=0.5, linestyle="--", marker="o", band_kw={"alpha": 0.05, "hatch": "//"},
                  ci_kw={"alpha": 0.6, "color": "C3"})
    (est,) = [ln for ln in ax.lines if ln.get_label().startswith("estimate")]
    assert est.get_linewidth() == 0.5 and est.get_linestyle() == "--" and est.get_marker() == "o"
    band, ci = _fills(ax)
    assert band.get_facecolor()[0][3] == pytest.approx(0.05) and band.get_hatch() == "//"
    assert ci.get_facecolor()[0][3] == pytest.approx(0.6)
    assert tuple(ci.get_facecolor()[0][:3]) == pytest.approx(matplotlib.colors.to_rgb("C3"))
    # the band's edges and the estimate keep the fit's colour unless told otherwise
    assert matplotlib.colors.to_rgb(est.get_color()) == matplotlib.colors.to_rgb("C0")
    # an option matplotlib does not know is refused by matplotlib, naming it
    with pytest.raises(AttributeError, match="linewidthh"):
        res.plot(linewidthh=2)


def test_alpha_is_still_the_coverage_level(res):
    """`alpha` keeps its documented meaning (1 - coverage, as in conf_int and summary): an existing
    call draws the same interval as before; transparency goes through band_kw/ci_kw."""
    ax = res.plot(alpha=0.1)
    assert _legend_labels(ax)[:2] == ["90% uniform band", "90% pointwise CI"]
    ci = res.conf_int(0.1)
    assert _y_range(_fills(ax)[1]) == pytest.approx((ci["lower"].min(), ci["upper"].max()), rel=RTOL_PLOTTED,
                                                    abs=0)
    from r3d.plotting import BAND_ALPHA, CI_ALPHA

    band, interval = _fills(ax)
    assert band.get_facecolor()[0][3] == pytest.approx(BAND_ALPHA)
    assert interval.get_facecolor()[0][3] == pytest.approx(CI_ALPHA)


def test_two_fits_on_one_axes_have_one_labelled_entry_each(mod, res):
    other = mod.fit(method="simple", bandwidth=0.4, quantiles=19, n_boot=199, rng=1)
    ax = res.plot(label="Frechet")
    out = other.plot(ax=ax, label="simple", color="C1")
    assert out is ax
    labels = _legend_labels(ax)
    assert labels == ["Frechet: 95% uniform band", "Frechet: 95% pointwise CI", "Frechet",
                      "simple: 95% uniform band", "simple: 95% pointwise CI", "simple"]
    assert len(set(labels)) == len(labels)
    assert ax.get_legend()._ncols == 2  # one column per fit
    assert np.array_equal(_estimate(ax, "simple")[0].get_ydata(), other.params.to_numpy())
    assert sum(np.all(np.asarray(ln.get_ydata()) == 0) for ln in ax.lines) == 1  # one zero line
    assert ax.get_title() == "R3D effect on the quantile function"  # no longer one method's


def test_a_second_unlabelled_fit_warns_and_the_legend_lists_each_label_once(res):
    ax = res.plot()
    with pytest.warns(r3d.R3DWarning, match="already shows an effect plot: pass label="):
        res.plot(ax=ax, color="C1")
    labels = _legend_labels(ax)
    assert len(labels) == len(set(labels)) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res.plot(ax=plt.subplots()[1], label="A")  # a first fit, labelled or not, does not warn


def test_legend_false_leaves_the_legend_to_the_user(res):
    ax = res.plot(legend=False)
    assert ax.get_legend() is None
    ax = res.plot(kind="limits", legend=False)
    assert ax.get_legend() is None


@pytest.mark.parametrize("kw,error,match", [
    ({"label": 3}, TypeError, "`label` must be None or a string"),
    ({"band_kw": "alpha=0.1"}, TypeError, "`band_kw` must be None or a dict"),
    ({"ci_kw": 0.3}, TypeError, "`ci_kw` must be None or a dict"),
])
def test_label_and_style_dicts_are_checked(res, kw, error, match):
    with pytest.raises(error, match=match):
        res.plot(**kw)


def test_limits_plot_labels_and_line_options(mod, res):
    other = mod.fit(method="simple", bandwidth=0.4, quantiles=19, n_boot=0)
    ax = res.plot(kind="limits", label="Frechet", linewidth=0.8)
    other.plot(kind="limits", ax=ax, label="simple", colors=("C3", "C2"))
    labels = _legend_labels(ax)
    assert labels == [r"Frechet: below the cutoff, $\hat m_-(q)$", r"Frechet: above the cutoff, $\hat m_+(q)$",
                      r"simple: below the cutoff, $\hat m_-(q)$", r"simple: above the cutoff, $\hat m_+(q)$"]
    assert [ln.get_linewidth() for ln in ax.lines[:2]] == [0.8, 0.8]
    with pytest.warns(r3d.R3DWarning, match="already shows a limits plot"):
        res.plot(kind="limits", ax=ax)


def test_binned_plot_passes_line_options_to_curves_and_scatter_kw_to_dots(mod):
    ax = r3d.plot_binned(mod, quantiles=(0.1, 0.9), bins=6, linestyle="--", linewidth=0.7,
                         scatter_kw={"alpha": 0.3, "s": 40})
    curves = [ln for ln in ax.lines if len(ln.get_xdata()) > 2]
    assert len(curves) == 4 and all(ln.get_linestyle() == "--" and ln.get_linewidth() == 0.7 for ln in curves)
    dots = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert all(d.get_alpha() == 0.3 and d.get_sizes()[0] == 40 for d in dots)
    assert r3d.plot_binned(mod, legend=False).get_legend() is None
    with pytest.raises(TypeError, match="`scatter_kw` must be None or a dict"):
        r3d.plot_binned(mod, scatter_kw=[("s", 3)])


# --------------------------------------------------------------------------- lazy module
def test_r3d_plotting_is_an_attribute_and_import_r3d_does_not_import_matplotlib(tmp_path):
    from _child import same_r3d_env

    code = ("import sys, r3d\n"
            "assert 'matplotlib' not in sys.modules, 'import r3d imported matplotlib'\n"
            "assert 'plotting' in dir(r3d)\n"
            "f = r3d.plotting.plot_effect\n"
            "assert 'matplotlib' not in sys.modules, 'r3d.plotting imported matplotlib'\n"
            "assert r3d.cli.demo is not None\n"
            "try:\n    r3d.no_such_name\nexcept AttributeError as e:\n    print(e)\n")
    # outside the checkout, with this process's r3d (the installed one in CI)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=same_r3d_env(),
                         cwd=tmp_path, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "module 'r3d' has no attribute 'no_such_name'"
