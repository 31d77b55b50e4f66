"""Result objects for notebooks and papers: short reprs and HTML of every result class, summary
sections, no console hints in LaTeX/HTML, the LaTeX width, grid labels, the recorded seed,
cov_params and t_test (against numpy)."""

import re
import shutil
import subprocess
import warnings

import numpy as np
import pytest
from _html import Tables
from _quiet import quiet_fit as _fit
from scipy import stats

import r3d
from r3d import bandwidth as bw_mod
from r3d.results import LABEL_DECIMALS, level_labels

#: cov_params off the diagonal against numpy's A'A: the same products summed in another order.
COV_RTOL = 1e-12
#: t_test's standard error (from the contrast's own influence column) against sqrt(R C R').
CONTRAST_SD_RTOL = 1e-12
#: The diagonal of cov_params is the variance of the standard errors; bse**2 squares a rounded se.
BSE_SQUARED_RTOL = 1e-14
#: Longest one-line repr we accept (a terminal line and a half).
MAX_REPR = 200
#: TeX's text width of the article class at 10pt.
ARTICLE_TEXTWIDTH = "345.0pt"


@pytest.fixture(scope="module")
def firms():
    return r3d.datasets.simulate_firms(n_firms=300, n_workers=(10, 30), rng=11)


@pytest.fixture(scope="module")
def mod(firms):
    return r3d.R3D.from_formula("wage ~ revenue", data=firms, cutoff=1.0, unit="firm")


@pytest.fixture(scope="module")
def sharp(mod):
    """A selected bandwidth (the bandwidth section) on a 19-point np.arange grid."""
    return _fit(mod, quantiles=np.arange(0.05, 1, 0.05), n_boot=199, rng=7)


@pytest.fixture(scope="module")
def fine(mod):
    """99 levels: the summary shows 9 and says so."""
    return _fit(mod, n_boot=199, rng=7)


@pytest.fixture(scope="module")
def fuzzy():
    df = r3d.datasets.simulate_firms(n_firms=400, n_workers=(10, 30), fuzzy=True, rng=6)
    df["region_code"] = df["firm"].str[-2:]
    mod = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm", treatment="subsidy",
                               cluster="region_code")
    return _fit(mod, method="simple", quantiles=19, n_boot=199, rng=3)


def _check_display(obj):
    text = repr(obj)
    assert "\n" not in text and len(text) <= MAX_REPR, text
    assert "array(" not in text and "np.float64" not in text, text
    assert text.startswith("<" + type(obj).__name__), text
    page = obj._repr_html_()
    assert "array(" not in page and "np.float64" not in page
    p = Tables()
    p.feed(page)
    p.close()
    assert p.stack == [] and p.tables >= 1
    return text, page


# ---------------------------------------------------------------------------------------------
# 1. short reprs and HTML
# ---------------------------------------------------------------------------------------------
def test_every_result_class_has_a_short_repr_and_html(mod, sharp, fuzzy):
    inf = sharp._inf
    sel = r3d.select_bandwidth(mod, quantiles=19)
    simple = r3d.select_bandwidth(mod, method="simple", quantiles=19)
    objects = [sharp.nullity_test(), sharp.nullity_test()[0], sharp.homogeneity_test(ranges=[(0.1, 0.5), (0.5, 0.9)]),
               sharp.average_effect, fuzzy.first_stage, inf.band, sel, simple, sharp.bandwidth_choice,
               fuzzy.bandwidth_choice, sel.steps, sel.constants, sel.density, sharp]
    for obj in objects:
        _check_display(obj)
    for obj in (sharp.data, inf, sharp._side_draws()):  # repr only (internal records)
        text = repr(obj)
        assert "\n" not in text and len(text) <= MAX_REPR and "array(" not in text, text


def test_reprs_show_the_numbers(sharp, fuzzy):
    ae = sharp.average_effect
    text, page = _check_display(ae)
    assert f"{ae.estimate:.4g}" in text and f"{ae.se:.4g}" in text and "95% CI" in text
    t = sharp.nullity_test()[0]
    text, page = _check_display(t)
    assert f"S={t.statistic:.4g}" in text and f"B={t.n_boot}" in text and "tau(q) = 0" in page
    fs = fuzzy.first_stage
    text, _ = _check_display(fs)
    assert f"jump {fs.jump:.4g}" in text and f"F={fs.f_stat:.4g}" in text
    sel = sharp.bandwidth_choice.selection
    text, page = _check_display(sel)
    assert text.startswith("<BandwidthSelection imse: h=") and "19 levels in [0.05, 0.95]" in text
    assert len(page.splitlines()) < 30  # not hundreds of lines of arrays


def test_results_repr_and_html(sharp):
    assert repr(sharp).startswith("<R3DResults: sharp frechet, 19 quantiles")
    assert sharp._repr_html_() == sharp.summary().as_html()


# ---------------------------------------------------------------------------------------------
# 2. sections, no console hints in paper formats, LaTeX width
# ---------------------------------------------------------------------------------------------
def test_sections_choose_the_tables(sharp, fuzzy):
    full = sharp.summary()
    assert [s.name for s in full.sections] == ["header", "bandwidth", "effects", "tests"]
    only = sharp.summary(sections="effects")
    assert [s.name for s in only.sections] == ["effects"] and only.notes == []
    assert "Outcome:" not in only.as_text() and "[1]" not in only.as_text()
    order = sharp.summary(sections=("notes", "tests", "effects"))
    assert [s.name for s in order.sections] == ["effects", "tests"]
    assert [s.name for s in fuzzy.summary(sections=("first_stage",)).sections] == ["first_stage"]
    assert sharp.summary(sections=("first_stage", "effects")).sections[0].name == "effects"  # absent: skipped
    tex = full.as_latex(sections=["effects", "notes"])
    assert tex.count(r"\begin{tabular}") == 1 and "Outcome" not in tex and "[1]" in tex
    assert full.as_html(sections="tests").count("<table") == 1
    assert full.select(("effects", "notes")).as_latex() == tex


def test_notes_follow_their_sections(sharp):
    tests = sharp.summary(sections=("tests", "notes")).notes
    assert any(n.startswith("Uniform tests") for n in tests) and not any(n.startswith("band lo/hi") for n in tests)
    assert any(n.startswith("Bootstrap seed") for n in tests)
    effects = sharp.summary(sections=("effects", "notes")).notes
    assert any(n.startswith("band lo/hi") for n in effects) and not any(n.startswith("Uniform") for n in effects)
    text = sharp.summary(sections=("effects", "notes")).as_text()
    numbers = [int(m) for m in re.findall(r"^\[(\d+)\]", text, flags=re.MULTILINE)]
    assert numbers == list(range(1, len(effects) + 1))


def test_fit_warnings_stay_with_any_section(mod):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mod.fit(bandwidth=0.05, n_boot=0, quantiles=9)
    assert res.notes
    assert res.notes[0] in res.summary(sections=("header", "notes")).notes


@pytest.mark.parametrize("bad", [("effect",), "table", ()])
def test_bad_sections_are_named(sharp, bad):
    with pytest.raises(ValueError, match="`sections` must be"):
        sharp.summary(sections=bad)
    with pytest.raises(TypeError, match="`sections` must be a name or a sequence"):
        sharp.summary(sections=3)


def test_no_console_hints_in_paper_formats(fine):
    smry = fine.summary()
    text = smry.as_text()
    assert "res.bandwidth_info has all" in text and "res.summary_frame() has all" in text
    for paper in (smry.as_latex(), smry.as_html(), " ".join(smry.notes)):
        assert "res." not in paper and "()" not in paper, paper[:200]
    assert "9 of 99 grid points shown." in smry.notes


def test_latex_fontsize_option(sharp):
    smry = sharp.summary()
    assert smry.as_latex().startswith("{\\footnotesize\\setlength{\\tabcolsep}{3pt}\n")
    bare = smry.as_latex(fontsize=None)
    assert bare.startswith("\\begin{tabular}") and "tabcolsep" not in bare
    assert smry.as_latex(fontsize="small").startswith("{\\small")
    with pytest.raises(ValueError, match="`fontsize` must be one of"):
        smry.as_latex(fontsize="huge")


def _has_latex() -> bool:
    if shutil.which("pdflatex") is None or shutil.which("kpsewhich") is None:
        return False
    return bool(subprocess.run(["kpsewhich", "booktabs.sty"], capture_output=True, text=True).stdout.strip())


@pytest.mark.skipif(not _has_latex(), reason="pdflatex with booktabs not installed")
def test_default_latex_fits_an_article_column(sharp, fine, fuzzy, tmp_path):
    """Every table of the default as_latex() fits the article class's 345pt text width (no overfull box)."""
    body = "\n\\clearpage\n".join("\\begin{table}\\centering\n" + res.summary().as_latex() + "\\end{table}"
                                  for res in (sharp, fine, fuzzy))
    doc = ("\\documentclass{article}\\usepackage{booktabs}\n\\begin{document}\n\\typeout{textwidth=\\the\\textwidth}\n"
           + body + "\n\\end{document}\n")
    (tmp_path / "t.tex").write_text(doc)
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False)
    log = (tmp_path / "t.log").read_text(errors="replace")
    assert run.returncode == 0, log[-2000:]
    assert f"textwidth={ARTICLE_TEXTWIDTH}" in log
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)


# ---------------------------------------------------------------------------------------------
# 3. grid labels
# ---------------------------------------------------------------------------------------------
def test_arange_grid_labels_find_typed_levels(sharp):
    grid = np.arange(0.05, 1, 0.05)
    assert grid[2] != 0.15  # the reason for snapping
    np.testing.assert_array_equal(sharp.quantiles, grid)  # the levels computed at are unchanged
    assert sharp.params[0.15] == sharp.params.iloc[2]
    assert sharp.bse[0.15] == sharp.bse.iloc[2]
    assert sharp.summary_frame().loc[0.15, "coef"] == sharp.params.iloc[2]
    assert sharp.conf_int().loc[0.15, "lower"] == sharp.conf_int().iloc[2, 0]
    assert sharp.limits.loc[0.15, "left"] == sharp.limits.iloc[2, 0]
    assert sharp.params.index.tolist() == [round(q, LABEL_DECIMALS) for q in grid]


def test_level_labels_snap_only_near_short_decimals():
    q = np.array([0.1 + 0.05, 1 / 21, 0.3, 0.7 + 1e-10])
    labels = level_labels(q)
    assert labels[0] == 0.15 and labels[1] == q[1] and labels[2] == 0.3 and labels[3] == q[3]
    dup = np.array([0.15, np.nextafter(0.15, 1)])  # snapping would make two labels equal: keep the levels
    np.testing.assert_array_equal(level_labels(dup), dup)
    np.testing.assert_array_equal(level_labels(np.arange(1, 100) / 100), np.arange(1, 100) / 100)


# ---------------------------------------------------------------------------------------------
# 4. the seed
# ---------------------------------------------------------------------------------------------
def test_int_seed_is_recorded(sharp):
    assert sharp.spec.seed == 7
    assert sharp.to_dict()["spec"]["seed"] == 7
    assert "Bootstrap seed: 7 (numpy.random.default_rng)." in sharp.summary().notes


def test_none_seed_is_drawn_recorded_and_reproduces(mod):
    a = _fit(mod, quantiles=9, n_boot=99)
    seed = a.spec.seed
    assert isinstance(seed, int) and seed > 0
    b = _fit(mod, quantiles=9, n_boot=99, rng=seed)
    np.testing.assert_array_equal(a.bootstrap_draws, b.bootstrap_draws)
    assert f"Bootstrap seed: {seed} (numpy.random.default_rng)." in a.summary().notes


def test_no_draws_no_seed(mod):
    """n_boot=0 draws nothing: no seed is recorded (none drawn for rng=None) and no seed note is printed."""
    for rng in (None, 3):
        res = _fit(mod, quantiles=9, n_boot=0, rng=rng)
        assert res.spec.seed is None and res.to_dict()["spec"]["seed"] is None
        assert not any("seed" in n.lower() for n in res.summary().notes)


def test_other_rng_forms(mod):
    seq = _fit(mod, quantiles=9, n_boot=99, rng=[1, 2])
    assert seq.spec.seed == (1, 2) and "Bootstrap seed: [1, 2]" in " ".join(seq.summary().notes)
    ss = _fit(mod, quantiles=9, n_boot=99, rng=np.random.SeedSequence(5))
    five = _fit(mod, quantiles=9, n_boot=99, rng=5)
    assert ss.spec.seed == 5
    np.testing.assert_array_equal(ss.bootstrap_draws, five.bootstrap_draws)
    spawned = np.random.SeedSequence(5).spawn(1)[0]
    assert _fit(mod, quantiles=9, n_boot=99, rng=spawned).spec.seed is None
    gen = _fit(mod, quantiles=9, n_boot=99, rng=np.random.default_rng(5))
    assert gen.spec.seed is None
    assert any("numpy Generator given by the user" in n for n in gen.summary().notes)
    np.testing.assert_array_equal(gen.bootstrap_draws, five.bootstrap_draws)


# ---------------------------------------------------------------------------------------------
# 5. cov_params and t_test
# ---------------------------------------------------------------------------------------------
def _cluster_sums(res):
    a = res._est.influence
    codes = res._model._data.units.cluster_codes
    if codes is None:
        return a
    out = np.zeros((codes.max() + 1, a.shape[1]))
    np.add.at(out, codes, a)
    return out


@pytest.mark.parametrize("which", ["sharp", "fuzzy"])
def test_cov_params_is_AtA(which, request):
    res = request.getfixturevalue(which)
    C = res.cov_params()
    A = _cluster_sums(res)
    assert C.shape == (res.quantiles.size,) * 2
    assert C.index.equals(res.params.index) and C.columns.equals(res.params.index)
    np.testing.assert_allclose(C.to_numpy(), A.T @ A, rtol=COV_RTOL, atol=0)
    np.testing.assert_array_equal(np.diag(C), res._inf.variance)
    np.testing.assert_allclose(np.diag(C), res.bse.to_numpy() ** 2, rtol=BSE_SQUARED_RTOL, atol=0)
    np.testing.assert_array_equal(C.to_numpy(), C.to_numpy().T)


@pytest.mark.parametrize("which", ["sharp", "fuzzy"])
def test_t_test_matches_numpy(which, request):
    res = request.getfixturevalue(which)
    q = res.quantiles
    j1, j9 = int(np.argmin(abs(q - 0.1))), int(np.argmin(abs(q - 0.9)))
    C = res.cov_params().to_numpy()
    tau = res.params.to_numpy()
    R = np.zeros((2, q.size))
    R[0, j9], R[0, j1] = 1.0, -1.0
    R[1, j9] = 2.0
    value = np.array([0.0, 1.5])
    effect = R @ tau
    sd = np.sqrt(np.diag(R @ C @ R.T))
    z = (effect - value) / sd
    levels = (f"{q[j9]:.2f}", f"{q[j1]:.2f}")
    text = res.t_test(f"tau({levels[0]}) - tau({levels[1]}) = 0, 2*tau({levels[0]}) = 1.5")
    matrix = res.t_test((R, value))
    for out in (text, matrix):
        np.testing.assert_allclose(out.effect, effect, rtol=1e-15, atol=0)
        np.testing.assert_allclose(out.sd, sd, rtol=CONTRAST_SD_RTOL, atol=0)
        np.testing.assert_allclose(out.statistic, z, rtol=CONTRAST_SD_RTOL, atol=0)
        np.testing.assert_allclose(out.pvalue, 2 * stats.norm.sf(np.abs(z)), rtol=1e-10, atol=0)
    assert text.c_names == [f"tau({levels[0]}) - tau({levels[1]}) = 0", f"2*tau({levels[0]}) = 1.5"]
    assert "tau(0.90) - tau(0.10) = 0" in str(text.summary())
    one = res.t_test(R[0])  # a single row, q = 0
    np.testing.assert_allclose(one.statistic, z[:1], rtol=CONTRAST_SD_RTOL, atol=0)
    # a single level: the pointwise z test
    single = res.t_test(f"tau({levels[0]})")
    np.testing.assert_allclose(single.statistic, res.tvalues.iloc[j9], rtol=1e-14, atol=0)


@pytest.mark.parametrize("bad", ["tau(0.9) tau(0.1)", "tau(0.9) - x = 0", "tau(abc)", "tau(0.9) = y", "= 1",
                                 "tau(0.9) = 1 = 2"])
def test_t_test_rejects_bad_strings(sharp, bad):
    with pytest.raises(ValueError, match="`r_matrix` must be constraints such as"):
        sharp.t_test(bad)


def test_t_test_rejects_bad_matrices(sharp):
    with pytest.raises(ValueError, match="`r_matrix` must be levels on the fitted grid"):
        sharp.t_test("tau(0.33) = 0")
    with pytest.raises(ValueError, match=r"`r_matrix` must be an array of shape \(k, 19\)"):
        sharp.t_test(np.ones((1, 5)))
    with pytest.raises(ValueError, match="`r_matrix` must be a pair"):
        sharp.t_test((np.ones((2, 19)), [0.0]))
    with pytest.raises(ValueError, match="`r_matrix` must be finite"):
        sharp.t_test(np.full(19, np.nan))
    with pytest.raises(TypeError, match="`r_matrix` must be a string such as"):
        sharp.t_test({"a": 1})


def test_bandwidth_module_reprs_in_isolation():
    """The selector's own records, built by the module functions."""
    const = bw_mod.kernel_constants("triangular", 1)
    text, _ = _check_display(const)
    assert "triangular s=1" in text
