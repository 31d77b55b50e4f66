"""The built HTML documentation reads offline and has no visible rough edges.

* No page loads a script, stylesheet, font or image from the network: formulas are typeset by
  the MathJax that sphinx-mathjax-offline copies into ``_static/mathjax`` (data enclaves have
  no internet, and a CDN MathJax leaves raw TeX there).
* Pages without sub-pages have no empty "Section Navigation" sidebar.
* Code blocks have a copy button that leaves out ``>>> `` / ``... `` prompts and output lines.
* Wide printed output scrolls inside the content column.
* With Debian's chromium installed (not in CI; ``apt-get install chromium``), the pages are
  opened headless with every host name unresolvable: every formula is typeset (no raw TeX, no
  TeX error), and the copy button's text is the code without prompts or output.

The site is the one ``.ci/run`` builds, named by the environment variable ``R3D_DOCS_HTML``;
without it, ``pytest -m slow`` builds one (docs/requirements.txt installed). The screenshots in
docs/images/docs_*.png are made by ``python tests/test_docs_html.py SITE`` from a built site,
with networking off, and looked at before they are committed.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SITE_ENV = "R3D_DOCS_HTML"
#: Pages with formulas, for the rendering checks.
MATH_PAGES = ("method", "getting_started", "coming_from_r")
#: Screenshots (docs/images/docs_<page>.png) and their heights in pixels, 1280 wide: the method's
#: first formulas; getting started's formulas above the printed summary at full width.
SCREENSHOTS = {"method": 1400, "getting_started": 1900}
#: Pages whose code blocks carry ``>>>`` prompts and output, for the copy-button check.
PROMPT_PAGES = ("api", "coming_from_r", "errors")
#: Headless Chromium with networking unusable: every host name fails to resolve, and the
#: browser's own background traffic (updates, sync) is off.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--host-resolver-rules=MAP * ~NOTFOUND", "--hide-scrollbars")
#: Simulated time a page gets to finish typesetting before the DOM or screenshot is taken.
CHROMIUM_BUDGET_MS = 15000
CHROMIUM_TIMEOUT_S = 120

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------- the site
@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    built = os.environ.get(SITE_ENV)
    if built:
        path = Path(built)
        assert (path / "index.html").is_file(), f"{SITE_ENV}={built} holds no built site (no index.html)"
        return path
    for need in ("sphinx", "myst_parser", "numpydoc", "sphinx_copybutton"):
        pytest.importorskip(need, reason=f"the docs build needs {need}: pip install -r docs/requirements.txt")
    from _child import same_r3d_env

    out = tmp_path_factory.mktemp("site") / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS),
                           str(out)], check=False, capture_output=True, text=True, cwd=out.parent,
                          env=same_r3d_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


class _Refs(HTMLParser):
    """Every URL a page makes the browser fetch: script src, link href (stylesheets, icons,
    preloads), img/source/iframe/embed src."""

    FETCHED: ClassVar[dict[str, str]] = {"script": "src", "img": "src", "source": "src", "iframe": "src",
                                         "embed": "src", "link": "href"}

    def __init__(self):
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attr = self.FETCHED.get(tag)
        values = dict(attrs)
        if attr and values.get(attr):
            if tag == "link" and not ({"stylesheet", "preload", "icon", "modulepreload", "prefetch"}
                                      & set((values.get("rel") or "").split())):
                return  # rel="next", "search", ...: a link a person follows, not a fetch
            self.urls.append((tag, values[attr]))


def _fetched(page: Path) -> list[tuple[str, str]]:
    parser = _Refs()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.urls


def _is_remote(url: str) -> bool:
    return bool(re.match(r"^(?:[a-z][a-z0-9+.-]*:)?//", url, flags=re.IGNORECASE))


def _pages(site: Path) -> list[Path]:
    pages = sorted(site.glob("*.html"))
    assert len(pages) >= 10, f"only {len(pages)} pages in {site}"
    return pages


# --------------------------------------------------------------------------- offline
def test_no_page_fetches_anything_from_the_network(site):
    remote = {f"{page.name}: <{tag}> {url}" for page in _pages(site) for tag, url in _fetched(page)
              if _is_remote(url)}
    assert not remote, "pages load from the network:\n" + "\n".join(sorted(remote))


def test_stylesheets_fetch_nothing_from_the_network(site):
    """Fonts or imports in the theme's CSS would be fetched too (icons are bundled)."""
    remote = []
    fetch = re.compile(r"(?:url\(\s*['\"]?|@import\s+['\"])((?:https?:)?//[^)'\"]+)")
    for css in (site / "_static").rglob("*.css"):
        text = css.read_text(encoding="utf-8", errors="replace")
        remote += [f"{css.relative_to(site)}: {u}" for u in fetch.findall(text)]
    assert not remote, "\n".join(remote)


@pytest.mark.parametrize("name", MATH_PAGES)
def test_formula_pages_load_the_bundled_mathjax(site, name):
    page = site / f"{name}.html"
    text = page.read_text(encoding="utf-8")
    assert text.count('class="math notranslate nohighlight"') >= 5, f"{name} has no formulas now: pick another page"
    scripts = [url for tag, url in _fetched(page) if tag == "script" and "mathjax" in url.lower()]
    assert scripts == ["_static/mathjax/tex-chtml.js"], scripts
    mathjax = site / "_static" / "mathjax"
    assert (mathjax / "tex-chtml.js").stat().st_size > 500_000
    assert len(list((mathjax / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))) >= 20  # the TeX fonts


# --------------------------------------------------------------------------- rough edges
def test_section_navigation_only_where_there_are_sub_pages(site):
    for name in ("method", "getting_started", "tutorial", "api", "errors", "coming_from_r"):
        text = (site / f"{name}.html").read_text(encoding="utf-8")
        assert "Section Navigation" not in text, f"{name}.html shows an empty Section Navigation sidebar"
    text = (site / "validation.html").read_text(encoding="utf-8")
    nav = re.search(r'<nav class="bd-docs-nav bd-links".*?</nav>', text, flags=re.DOTALL)
    assert nav, "validation.html lost the navigation to its sub-pages"
    for sub in ("validation_montecarlo.html", "performance.html", "bandwidth_vs_R.html"):
        assert sub in nav.group(0), sub


def test_copy_button_leaves_out_prompts_and_output(site):
    script = (site / "_static" / "copybutton.js").read_text(encoding="utf-8")
    call = re.search(r"return formatCopyText\(text, '(.*?)', (\w+), (\w+), (\w+)", script)
    assert call, "copybutton.js no longer has the expected formatCopyText call: check sphinx-copybutton's version"
    prompt, is_regexp, only_prompt_lines, remove_prompts = call.groups()
    assert (is_regexp, only_prompt_lines, remove_prompts) == ("true", "true", "true")
    pattern = re.compile("^(" + prompt.replace("\\\\", "\\") + ")")
    for line, has_prompt in ((">>> res = mod.fit()", True), ("... )", True), ("$ r3d demo", True),
                             ("array([0.1, 0.2])", False), ("...", False)):
        assert bool(pattern.match(line)) is has_prompt, line
    for name in ("api", "getting_started"):
        assert '<script src="_static/copybutton.js' in (site / f"{name}.html").read_text(encoding="utf-8"), name


def test_wide_printed_output_scrolls_inside_the_column(site):
    css = (site / "_static" / "r3d.css").read_text(encoding="utf-8")
    assert re.search(r"\.bd-article pre\s*\{[^}]*overflow-x:\s*auto", css)
    assert '_static/r3d.css' in (site / "getting_started.html").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- in a browser
def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); CI has none")
    return exe


def _chromium_run(exe: str, *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                               f"--virtual-time-budget={CHROMIUM_BUDGET_MS}", *args],
                              check=False, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S)


def _probe(site: Path, name: str, script: str, tmp_path: Path) -> str:
    """Open the page ``name`` of the site (file:// URLs, no network), run the async function
    ``script`` once the page and MathJax are ready, and return the string it resolves to."""
    text = (site / f"{name}.html").read_text(encoding="utf-8")
    base = f'<base href="{site.resolve().as_uri()}/">'
    probe = ('<pre id="r3d-probe"></pre><script>window.addEventListener("load", async () => {'
             "  await new Promise(r => setTimeout(r, 1000));"  # copy buttons wait for ClipboardJS
             "  if (window.MathJax && MathJax.startup) { await MathJax.startup.promise; }"
             f'  document.getElementById("r3d-probe").textContent = await ({script})();'
             "});</script>")
    text = text.replace("<head>", "<head>" + base, 1).replace("</body>", probe + "</body>", 1)
    page = tmp_path / f"{name}_probe.html"
    page.write_text(text, encoding="utf-8")
    proc = _chromium_run(_chromium(), "--dump-dom", page.as_uri())
    found = re.search(r'<pre id="r3d-probe"[^>]*>(.*?)</pre>', proc.stdout, flags=re.DOTALL)
    assert found and found.group(1), f"the probe did not run in {name}.html: {proc.stderr[-2000:]}"
    return html.unescape(found.group(1))


@pytest.mark.parametrize("name", MATH_PAGES)
def test_formulas_are_typeset_offline_in_a_browser(site, name, tmp_path):
    counts = json.loads(_probe(site, name, """async () => {
        const math = [...document.querySelectorAll('.math')];
        return JSON.stringify({
            math: math.length,
            typeset: math.filter(m => m.querySelector('mjx-container')).length,
            errors: document.querySelectorAll('mjx-merror').length,
            raw: math.filter(m => /\\\\\\(|\\\\\\[/.test(m.textContent)).length});
    }""", tmp_path))
    assert counts["math"] >= 5, counts
    assert counts["typeset"] == counts["math"] and counts["errors"] == 0 and counts["raw"] == 0, counts


@pytest.mark.parametrize("name", PROMPT_PAGES)
def test_copy_button_copies_code_without_prompts_or_output_in_a_browser(site, name, tmp_path):
    # Click every copy button; ClipboardJS puts the text in a textarea and asks the browser to
    # copy it: record the textarea's text instead of touching the system clipboard.
    copied = json.loads(_probe(site, name, """async () => {
        const copied = [];
        document.execCommand = () => {
            copied.push([...document.querySelectorAll('textarea')].map(t => t.value).pop());
            return true;
        };
        const buttons = [...document.querySelectorAll('.copybtn')];
        const shown = buttons.map(b => document.querySelector(b.dataset.clipboardTarget).innerText);
        buttons.forEach(b => b.click());
        return JSON.stringify(shown.map((s, i) => [s, copied[i]]));
    }""", tmp_path))
    with_prompts = [(shown, got) for shown, got in copied if ">>> " in shown]
    assert with_prompts, f"{name}: {len(copied)} copy buttons, {len(with_prompts)} on blocks with >>>"
    for shown, got in with_prompts:
        assert ">>>" not in got and not re.search(r"^\.\.\. ", got, flags=re.MULTILINE), got
        code = [line[4:] for line in shown.splitlines() if line.startswith((">>> ", "... "))]
        assert [line for line in got.splitlines() if line.strip()] == [c for c in code if c.strip()], (shown, got)


# --------------------------------------------------------------------------- screenshots
def screenshots(site: Path, out: Path = DOCS / "images", width: int = 1280) -> list[Path]:
    """docs/images/docs_<page>.png of pages with formulas, taken with networking off."""
    exe = shutil.which("chromium")
    if exe is None:
        raise SystemExit("apt-get install chromium first")
    made = []
    for name, height in SCREENSHOTS.items():
        png = out / f"docs_{name}.png"
        proc = _chromium_run(exe, f"--window-size={width},{height}", f"--screenshot={png}",
                             (site / f"{name}.html").resolve().as_uri())
        if proc.returncode != 0 or not png.is_file():
            raise SystemExit(f"chromium failed on {name}: {proc.stderr[-2000:]}")
        made.append(png)
    return made


if __name__ == "__main__":  # python tests/test_docs_html.py SITE  (a site built by sphinx-build -b html)
    for png in screenshots(Path(sys.argv[1])):
        print(png)
