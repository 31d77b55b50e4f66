"""R3DResults display: summary text/LaTeX/HTML content against the numbers, summary_frame,
to_dict, summary_col compatibility, str/repr and bootstrap progress reporting."""

import html.parser
import json
import math
import re
import shutil
import subprocess
from typing import ClassVar

import numpy as np
import pytest
from _quiet import quiet_fit as _fit

import r3d
from r3d._summary import format_level

#: Numbers in the summary are rounded to the shown decimals: allow half a unit in the last place
#: (plus float slack).
HALF_ULP_SLACK = 1e-12
#: The table shows per-quantile bandwidths with 4 decimals: half a unit in the last place.
BANDWIDTH_SHOWN_ATOL = 0.5e-4
#: JSON and CSV write floats as repr, which round-trips exactly.
EXACT = 0.0


@pytest.fixture(scope="module")
def firms():
    # underscores in the names exercise LaTeX escaping
    df = r3d.datasets.simulate_firms(n_firms=240, n_workers=(10, 30), rng=5)
    return df.rename(columns={"wage": "wage_k", "revenue": "rev_m"})


@pytest.fixture(scope="module")
def sharp(firms):
    mod = r3d.R3D.from_formula("wage_k ~ rev_m", data=firms, cutoff=1.0, unit="firm")
    return _fit(mod, method="frechet", bandwidth=0.4, n_boot=199, rng=1)


@pytest.fixture(scope="module")
def fuzzy():
    df = r3d.datasets.simulate_firms(n_firms=300, n_workers=(10, 30), fuzzy=True, rng=6)
    mod = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm", treatment="subsidy")
    return _fit(mod, method="simple", bandwidth=0.4, bandwidth_treatment=0.45, quantiles=np.arange(1, 20) / 20,
                n_boot=199, rng=2)


@pytest.fixture(scope="module")
def no_boot(firms):
    mod = r3d.R3D.from_formula("wage_k ~ rev_m", data=firms, cutoff=1.0, unit="firm")
    return _fit(mod, method="simple", bandwidth=np.linspace(0.35, 0.45, 9), quantiles=9, n_boot=0)


def _table_rows(text):
    """{stub: [cells]} for every row of the text summary whose stub looks like tau(..)/average."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^(tau\([0-9.]+\)|average|take-up|tau\(q\) = 0|tau\(q\) constant)\s+(.*)$", line)
        if m:
            rows[m.group(1)] = re.split(r"\s{2,}", m.group(2).strip())
    return rows


def _close(shown, value):
    """``shown`` (a rounded string) is ``value`` rounded to the shown decimals."""
    if shown == "<0.001":
        return value < 0.001
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    return abs(float(shown) - value) <= 0.5 * 10.0**-decimals + HALF_ULP_SLACK


# ---------------------------------------------------------------------------------------------
# summary text
# ---------------------------------------------------------------------------------------------
def test_header_has_every_field(sharp):
    text = sharp.summary().as_text()
    d = sharp.data
    expected = {
        "Outcome": "wage_k", "Running variable": "rev_m", "Cutoff": "1", "Design": "sharp",
        "Method": "Frechet (Wasserstein)", "Kernel": "triangular", "Order p / pilot s": "2 / 1",
        "Bandwidth h": "0.4", "Bandwidth rule": "fixed (user)", "Units": f"{d.nobs} (firm)",
        "Units left / right": f"{d.n_left} / {d.n_right}",
        "Inside h left / right": f"{sharp.n_effective['left']} / {sharp.n_effective['right']}",
        "Draws": str(d.ndraws), "Dropped draws / units": "0 / 0", "Quantile grid": "99 in [0.01, 0.99]",
        "Quantile method": "linear", "Bootstrap draws": "199", "Band": "uniform, 95%", "Clusters": "--",
    }
    for key, value in expected.items():
        pattern = rf"(^|\s){re.escape(key)}:\s+{re.escape(value)}(\s|$)"
        assert re.search(pattern, text, flags=re.MULTILINE), (key, value)


def test_clusters_in_header_and_notes(firms):
    df = firms.assign(region=firms["firm"].str[-1])  # 10 regions of firms
    with pytest.warns(r3d.SmallSampleWarning, match="10 clusters"):
        mod = r3d.R3D.from_formula("wage_k ~ rev_m", data=df, cutoff=1.0, unit="firm", cluster="region")
    res = _fit(mod, bandwidth=0.4, quantiles=5, n_boot=0)
    text = res.summary().as_text()
    assert re.search(r"Clusters:\s+10 \(region\)", text) and "clustered by region" in " ".join(text.split())


def test_fuzzy_header_and_first_stage(fuzzy):
    text = fuzzy.summary().as_text()
    assert re.search(r"Treatment:\s+subsidy", text)
    assert re.search(r"Take-up bandwidth:\s+0\.45 \(user\)", text)
    assert re.search(r"Design:\s+fuzzy", text)
    fs = fuzzy.first_stage
    cells = _table_rows(text)["take-up"]
    values = [fs.jump, fs.se, fs.z, fs.pvalue, fs.m_left, fs.m_right, fs.z**2, fs.bandwidth]
    for shown, value in zip(cells, values, strict=True):
        assert _close(shown, value), (shown, value)
    assert "delta method" in text


def test_table_numbers_match_the_results(sharp):
    text = sharp.summary().as_text()
    rows = _table_rows(text)
    frame = sharp.summary_frame()
    shown = [k for k in rows if k.startswith("tau(0")]
    # a 99-point grid shows the deciles
    assert shown == [f"tau({format_level(q)})" for q in np.arange(1, 10) / 10]
    for stub in shown:
        q = float(stub[4:-1])
        r = frame.loc[np.isclose(frame.index, q, rtol=0, atol=HALF_ULP_SLACK)].iloc[0]  # a decile: exact
        values = [r.coef, r.std_err, r.z, r.pvalue, r.ci_lower, r.ci_upper, r.band_lower, r.band_upper]
        assert len(rows[stub]) == len(values)
        for cell, value in zip(rows[stub], values, strict=True):
            assert _close(cell, value), (stub, cell, value)
    ae = sharp.average_effect
    for cell, value in zip(rows["average"], [ae.estimate, ae.se, ae.z, ae.pvalue, ae.lower, ae.upper], strict=True):
        assert _close(cell, value), (cell, value)
    assert "9 of 99 grid points shown" in text


def test_tests_table_matches_the_tests(sharp):
    rows = _table_rows(sharp.summary().as_text())
    for stub, t in (("tau(q) = 0", sharp.nullity_test()), ("tau(q) constant", sharp.homogeneity_test())):
        stat, crit, p, rng = rows[stub][0], rows[stub][1], rows[stub][2], rows[stub][3]
        assert _close(stat, t.statistic) and _close(crit, t.critical_value) and _close(p, t.pvalue)
        assert rng == "[0.01, 0.99]"


def test_alpha_changes_intervals_band_and_headers(sharp):
    text = sharp.summary(alpha=0.10).as_text()
    assert "[0.05" in text and "0.95]" in text and "uniform, 90%" in text and "crit. 90%" in text
    rows = _table_rows(text)
    band = sharp.conf_int(0.10, kind="uniform")
    ci = sharp.conf_int(0.10)
    j = int(np.argmin(np.abs(sharp.quantiles - 0.5)))
    cells = rows["tau(0.50)"]
    assert _close(cells[4], ci["lower"].iloc[j]) and _close(cells[5], ci["upper"].iloc[j])
    assert _close(cells[6], band["lower"].iloc[j]) and _close(cells[7], band["upper"].iloc[j])
    # the 90% band is narrower than the 95% band
    assert (band["upper"] - band["lower"]).iloc[0] < (sharp.conf_int(kind="uniform").pipe(
        lambda b: b["upper"] - b["lower"])).iloc[0]


def test_row_selection(sharp, fuzzy):
    assert len([k for k in _table_rows(fuzzy.summary().as_text()) if k.startswith("tau(0")]) == 19
    assert len([k for k in _table_rows(sharp.summary(quantiles="all").as_text()) if k.startswith("tau(0")]) == 99
    rows = _table_rows(sharp.summary(quantiles=[0.25, 0.75]).as_text())
    assert [k for k in rows if k.startswith("tau(0")] == ["tau(0.25)", "tau(0.75)"]
    with pytest.raises(ValueError, match="`quantiles`"):
        sharp.summary(quantiles=[0.255])
    with pytest.raises(ValueError, match="`quantiles`"):
        sharp.summary(quantiles="some")


def test_without_bootstrap_per_quantile_bandwidths(no_boot):
    text = no_boot.summary().as_text()
    assert re.search(r"Bootstrap draws:\s+none", text) and "band lo" not in text and "Uniform tests" not in text
    assert re.search(r"Bandwidth h:\s+0\.35-0\.45 \(per q\)", text)
    rows = _table_rows(text)
    # per-quantile bandwidths get their own column
    assert [float(r[-1]) for k, r in rows.items() if k.startswith("tau(")] == pytest.approx(
        np.linspace(0.35, 0.45, 9), rel=0, abs=BANDWIDTH_SHOWN_ATOL)


def test_notes_numbered_and_warnings_included(firms):
    mod = r3d.R3D.from_formula("wage_k ~ rev_m", data=firms, cutoff=1.0, unit="firm")
    with pytest.warns(r3d.SmallSampleWarning):
        res = mod.fit(method="frechet", bandwidth=0.04, n_boot=0, quantiles=9)
    smry = res.summary()
    text = smry.as_text()
    numbers = [int(n) for n in re.findall(r"^\[(\d+)\] ", text, flags=re.MULTILINE)]
    assert numbers == list(range(1, len(smry.notes) + 1))
    assert any("positive kernel weight" in n for n in res.notes)
    flat = " ".join(text.split())
    for note in res.notes:
        assert " ".join(note.split()) in flat
    assert max(len(line) for line in text.splitlines()) == smry.width  # notes wrapped to the tables' width


def test_bandwidth_fallback_is_a_note():
    """A linear conditional quantile function has no curvature: the unregularized IMSE
    bandwidth exceeds the data range and is capped, which the summary must say."""
    from scipy import stats

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 300)
    q = np.arange(1, 10) / 10
    Q = np.sort(x[:, None] + stats.norm.ppf(q)[None, :] + 0.01 * rng.standard_normal((300, 1)), axis=1)
    with pytest.warns(r3d.BandwidthWarning, match="capped"):
        res = r3d.R3D.from_quantiles(Q, x, q).fit(n_boot=0, regularize=False)
    text = res.summary().as_text()
    assert re.search(r"Bandwidth rule:\s+IMSE-optimal\s", text)
    note = next(n for n in res.notes if "capped" in n)
    assert " ".join(note.split()) in " ".join(text.split())
    assert re.search(r"^tau\(0\.50\)\s+-?0\.\d{6}\s", text, flags=re.MULTILINE)  # small numbers stay fixed-point


def test_every_text_table_has_the_same_width(fuzzy):
    smry = fuzzy.summary()
    widths = {len(t.as_text().splitlines()[-1]) for t in smry.tables}
    assert widths == {smry.width}


# ---------------------------------------------------------------------------------------------
# LaTeX and HTML
# ---------------------------------------------------------------------------------------------
def _unescaped(tex, ch):
    """Positions of ``ch`` not escaped by a backslash, outside math mode."""
    text = re.sub(r"(?<!\\)\$.*?(?<!\\)\$", "", tex)
    return [m.start() for m in re.finditer(rf"(?<!\\){re.escape(ch)}", text)]


def test_latex_is_balanced_and_escaped(sharp, fuzzy):
    for res in (sharp, fuzzy):
        tex = res.summary().as_latex()
        begins = re.findall(r"\\begin\{(\w+)\}", tex)
        ends = re.findall(r"\\end\{(\w+)\}", tex)
        assert begins.count("tabular") == ends.count("tabular") == len(res.summary().sections)
        assert sorted(begins) == sorted(ends)
        assert not _unescaped(tex, "%") and not _unescaped(tex, "_") and not _unescaped(tex, "#")
        assert tex.count("$") % 2 == 0
        # every row of a tabular has as many cells as its column spec
        for spec, body in re.findall(r"\\begin\{tabular\}\{(\w+)\}(.*?)\\end\{tabular\}", tex, flags=re.DOTALL):
            for row in body.split(r"\\")[:-1]:
                row = re.sub(r"\\(top|mid|bottom)rule", "", row).strip()
                if row and "multicolumn" not in row:
                    assert row.count("&") == len(spec) - 1, row
    assert r"wage\_k" in sharp.summary().as_latex()
    assert r"$\tau(0.50)$" in sharp.summary().as_latex()


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_compiles(fuzzy, tmp_path):
    body = fuzzy.summary().as_latex()
    doc = ("\\documentclass{article}\\usepackage{booktabs}\\usepackage[margin=1cm]{geometry}\n"
           "\\begin{document}\\begin{table}\\centering\\small\n" + body + "\\end{table}\\end{document}\n")
    (tmp_path / "t.tex").write_text(doc)
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stdout[-2000:]


class _Collector(html.parser.HTMLParser):
    VOID: ClassVar[frozenset] = frozenset({"br", "hr", "img", "meta", "col"})

    def __init__(self):
        super().__init__()
        self.stack, self.counts, self.text = [], {}, []

    def handle_starttag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def test_html_parses(fuzzy):
    smry = fuzzy.summary()
    page = smry.as_html()
    p = _Collector()
    p.feed(page)
    p.close()
    assert p.stack == []
    assert p.counts["table"] == len(smry.sections) and p.counts["li"] == len(smry.notes)
    text = "".join(p.text)
    assert "<0.001" in text or "<0.001" not in smry.as_text()  # escaped in the source, restored by the parser
    assert "tau(0.50)" in text and "subsidy" in text
    assert fuzzy._repr_html_() == page


# ---------------------------------------------------------------------------------------------
# frames, dicts, statsmodels tools, str
# ---------------------------------------------------------------------------------------------
def test_summary_frame_columns_and_dtypes(sharp, no_boot):
    f = sharp.summary_frame()
    assert list(f.columns) == ["coef", "std_err", "z", "pvalue", "ci_lower", "ci_upper", "band_lower", "band_upper",
                               "bandwidth", "left", "right"]
    assert all(dt == np.float64 for dt in f.dtypes) and f.index.name == "quantile" and len(f) == 99
    np.testing.assert_array_equal(f["coef"], sharp.params)
    np.testing.assert_array_equal(f["std_err"], sharp.bse)
    np.testing.assert_array_equal(f["band_lower"], sharp.conf_int(kind="uniform")["lower"])
    g = no_boot.summary_frame(alpha=0.1)
    assert "band_lower" not in g and np.array_equal(g["bandwidth"], np.linspace(0.35, 0.45, 9))
    np.testing.assert_array_equal(g["ci_upper"], no_boot.conf_int(0.1)["upper"])


def test_to_dict_has_every_number_and_is_json(fuzzy):
    d = fuzzy.to_dict()
    back = json.loads(json.dumps(d, allow_nan=False))
    assert back == d
    assert back["params"] == fuzzy.params.tolist() and back["bse"] == fuzzy.bse.tolist()
    assert back["band"]["critical_value"] == fuzzy.critical_value
    assert back["band"]["lower"] == fuzzy.conf_int(kind="uniform")["lower"].tolist()
    assert back["tests"]["nullity"]["pvalue"] == fuzzy.nullity_test().pvalue
    assert back["first_stage"]["jump"] == fuzzy.first_stage.jump
    assert back["average_effect"]["se"] == fuzzy.average_effect.se
    assert back["limits"]["right_raw"] == fuzzy.limits["right_raw"].tolist()
    assert back["bandwidth"] == fuzzy.bandwidth and back["bandwidth_treatment"] == 0.45
    assert back["design"] == "fuzzy" and back["data"]["treatment_name"] == "subsidy"


def test_summary_col_compatibility(sharp, no_boot):
    from statsmodels.iolib.summary2 import summary_col

    a = sharp
    text = str(summary_col([a, no_boot], model_names=["frechet", "simple"]))
    row = next(line for line in text.splitlines() if line.startswith("tau(0.50)"))
    assert f"{a.params.iloc[49]:.4f}" in row and f"{no_boot.params.iloc[4]:.4f}" in row
    assert "Units" in text and "Bandwidth" in text


def test_str_and_repr_are_short(sharp, fuzzy):
    for res in (sharp, fuzzy):
        s = str(res)
        assert 3 <= len(s.splitlines()) <= 6 and "average effect" in s
        assert "\n" not in repr(res) and res.spec.method in repr(res)
    ae = sharp.average_effect
    assert f"{ae.estimate:.4f}" in str(sharp)
    assert "first stage" in str(fuzzy) and "first stage" not in str(sharp)


# ---------------------------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------------------------
def test_progress_reports_without_changing_draws(firms, capsys):
    mod = r3d.R3D.from_formula("wage_k ~ rev_m", data=firms, cutoff=1.0, unit="firm")
    calls = []
    quiet = _fit(mod, bandwidth=0.4, quantiles=9, n_boot=299, rng=3)
    assert capsys.readouterr().err == ""  # nothing is shown by default
    tracked = _fit(mod, bandwidth=0.4, quantiles=9, n_boot=299, rng=3, progress=lambda d, n: calls.append((d, n)))
    np.testing.assert_array_equal(quiet.bootstrap_draws, tracked.bootstrap_draws)
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == 299 and all(n == 299 for _, n in calls) and len(calls) >= 2
    bar = _fit(mod, bandwidth=0.4, quantiles=9, n_boot=299, rng=3, progress=True)
    np.testing.assert_array_equal(quiet.bootstrap_draws, bar.bootstrap_draws)
    assert "bootstrap" in capsys.readouterr().err
    with pytest.raises(TypeError, match="`progress`"):
        _fit(mod, bandwidth=0.4, quantiles=9, n_boot=99, progress="yes")


def test_format_level():
    assert [format_level(q) for q in (0.1, 0.5, 0.05, 1 / 21 * 2, 0.975, 0.001)] == [
        "0.10", "0.50", "0.05", "0.0952", "0.975", "0.001"]
    assert not math.isnan(float(format_level(0.123456)))
