"""Write code and printed output into the Markdown pages, so that they read the same on GitHub
as in the built documentation; ``--check`` only compares.

A page marks a fenced block that this tool fills with an HTML comment on the line before it
(invisible on GitHub and in Sphinx's HTML):

    <!-- code: tutorial.py#fit -->         the lines between "# <fit>" and "# </fit>"
    <!-- output: tutorial.py#fit -->       what those lines print
    <!-- code: ../examples/quickstart.py -->      a whole file (its docstring too)
    <!-- output: ../examples/quickstart.py -->    what the whole file prints

Paths are relative to docs/. A script with named pieces runs piece by piece in one namespace
(the code between pieces runs too), a whole file runs as ``__main__``; each runs once per call,
in a temporary directory (the tutorial saves its figures in the working directory), with
matplotlib drawing to files. After a run the tool copies the figures the tutorial and the case studies saved
(``tutorial_*.png``, ``case_*.png``) into docs/images/ and ``summary.tex`` into
docs/tutorial_output/. The case studies (case_studies.md) need the ``rdhonest`` package, whose
GPL data they load at run time.

Usage, from anywhere, with the r3d to document importable:

    python docs/_tools/sync.py           # rewrite the blocks (and figures) that changed
    python docs/_tools/sync.py --check   # exit 1 and name the stale blocks; write nothing

tests/test_docs_sources.py runs the check (tests/test_case_studies.py for case_studies.md).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import re
import runpy
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
#: The pages this tool fills (relative to docs/).
PAGES = ("getting_started.md", "tutorial.md", "bandwidth_vs_rdrobust.md", "case_studies.md")
#: Pages whose scripts need a package that may be missing, and that package: without it, the
#: default run (no pages named) skips the page and says so (tests/test_case_studies.py skips too).
NEEDS = {"case_studies.md": "rdhonest"}
MARKER = re.compile(r"^<!-- (code|output): (\S+?)(?:#(\w+))? -->\n", re.MULTILINE)
FENCE = re.compile(r"(```+)(\w*)\n(.*?)^\1[ \t]*\n", re.MULTILINE | re.DOTALL)
PIECE = re.compile(r"^# <(\w+)>\n(.*?)^# </\1>\n", re.MULTILINE | re.DOTALL)
#: Files a run leaves behind that the pages use, and where they are kept.
KEEP = {"tutorial_*.png": DOCS / "images", "case_*.png": DOCS / "images", "summary.tex": DOCS / "tutorial_output"}


@dataclass(frozen=True)
class Block:
    """One fenced block of a page that the tool owns."""

    page: Path
    kind: str  # "code" or "output"
    source: str  # path relative to docs/
    piece: str | None  # named piece, or None for the whole file
    start: int  # offset of the fence in the page text
    end: int  # offset just past the closing fence
    language: str
    body: str

    @property
    def label(self) -> str:
        return f"{self.page.name}: {self.kind} of {self.source}{'#' + self.piece if self.piece else ''}"


def blocks(page: Path, text: str | None = None) -> list[Block]:
    """The marked blocks of ``page`` (or of ``text`` given as its content), in order; a marker
    not followed by a fence is an error."""
    text = page.read_text(encoding="utf-8") if text is None else text
    found = []
    for m in MARKER.finditer(text):
        f = FENCE.match(text, m.end())
        if f is None:
            raise SystemExit(f"{page.name}: the marker {m.group(0).strip()!r} must be followed by a ``` fence")
        found.append(Block(page, m.group(1), m.group(2), m.group(3), f.start(), f.end(), f.group(2), f.group(3)))
    return found


def pieces(path: Path) -> dict[str, str]:
    """The named pieces of a script: name -> source lines between its markers."""
    return {m.group(1): m.group(2) for m in PIECE.finditer(path.read_text(encoding="utf-8"))}


def code_of(source: str, piece: str | None) -> str:
    path = DOCS / source
    if piece is None:
        return path.read_text(encoding="utf-8")
    found = pieces(path)
    if piece not in found:
        raise SystemExit(f"{source} has no piece '# <{piece}>' ... '# </{piece}>'")
    return found[piece].strip("\n") + "\n"  # the blank lines the linter wants around imports


@dataclass(frozen=True)
class Run:
    """What one run of a script printed, per named piece (key None: the whole file when it has
    no pieces), and the names it defined."""

    printed: dict[str | None, str]
    namespace: dict


def run_script(path: Path, workdir: Path) -> Run:
    """Run ``path`` in ``workdir``, piece by piece when it has named pieces."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    text = path.read_text(encoding="utf-8")
    spans = [(m.group(1), m.start(2), m.end(2)) for m in PIECE.finditer(text)]
    printed: dict[str | None, str] = {}
    old = Path.cwd()
    os.chdir(workdir)
    try:
        if not spans:
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                ns = runpy.run_path(str(path), run_name="__main__")
            printed[None] = buf.getvalue()
            return Run(printed, ns)
        ns: dict = {"__name__": "__main__", "__file__": str(path)}
        pos = 0
        for name, start, end in [*spans, (None, len(text), len(text))]:
            for chunk, key in ((text[pos:start], None), (text[start:end], name)):
                if not chunk.strip():
                    continue
                # pad with newlines so that a traceback names the script's own line numbers
                code = compile("\n" * text.count("\n", 0, pos if key is None else start) + chunk, str(path), "exec")
                buf = io.StringIO()
                with contextlib.redirect_stdout(buf):
                    exec(code, ns)
                if key is not None:
                    printed[key] = buf.getvalue()
            pos = end
        return Run(printed, ns)
    finally:
        os.chdir(old)
        plt.close("all")


def fill(pages: list[Path], workdir: Path, runs: dict[str, Run] | None = None) -> dict[Path, str]:
    """The pages' text with every marked block made current: {page: new text}. ``runs`` (source
    -> Run) receives the runs made, and runs already in it are reused."""
    runs = {} if runs is None else runs
    out = {}
    for page in pages:
        text = page.read_text(encoding="utf-8")
        parts, pos = [], 0
        for b in blocks(page):
            if b.kind == "code":
                body = code_of(b.source, b.piece)
            else:
                if b.source not in runs:
                    runs[b.source] = run_script(DOCS / b.source, workdir)
                body = runs[b.source].printed.get(b.piece)
                if body is None:
                    raise SystemExit(f"{b.label}: the script has no such piece")
                if not body:
                    raise SystemExit(f"{b.label}: the piece prints nothing; remove the output block")
            fence = "````" if "```" in body else "```"
            parts += [text[pos:b.start], f"{fence}{b.language}\n{body}{fence}\n"]
            pos = b.end
        parts.append(text[pos:])
        out[page] = "".join(parts)
    return out


def stale(pages: list[Path], new: dict[Path, str]) -> list[str]:
    """Labels of the blocks whose text differs from ``new``."""
    names = []
    for page in pages:
        pairs = zip(blocks(page), blocks(page, new[page]), strict=True)
        names += [a.label for a, b in pairs if (a.language, a.body) != (b.language, b.body)]
    return names


def kept_files(workdir: Path) -> list[tuple[Path, Path]]:
    """(made, committed) pairs of the files a run leaves that the pages use."""
    return [(f, dest / f.name) for pattern, dest in KEEP.items() for f in sorted(workdir.glob(pattern))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare only; exit 1 if a block is stale")
    ap.add_argument("pages", nargs="*", help=f"pages to process (default: {', '.join(PAGES)})")
    args = ap.parse_args(argv)
    names = list(args.pages or PAGES)
    if not args.pages:
        for page, module in NEEDS.items():
            if importlib.util.find_spec(module) is None:
                names.remove(page)
                print(f"skipped: {page} (its scripts need {module}: pip install {module})")
    pages = [DOCS / p for p in names]
    with tempfile.TemporaryDirectory(prefix="r3d-docs-sync-") as tmp:
        new = fill(pages, Path(tmp))
        bad = stale(pages, new)
        texts = [(made, dest) for made, dest in kept_files(Path(tmp)) if dest.suffix != ".png"]
        bad += [f"{dest.relative_to(DOCS)}" for made, dest in texts
                if not dest.exists() or dest.read_bytes() != made.read_bytes()]
        if args.check:
            for label in bad:
                print(f"stale: {label}")
            if bad:
                print("Run `python docs/_tools/sync.py` and review the pages' prose against the new output.")
            return 1 if bad else 0
        for page, text in new.items():
            if text != page.read_text(encoding="utf-8"):
                page.write_text(text, encoding="utf-8")
        for made, dest in kept_files(Path(tmp)):
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(made, dest)
        for label in bad:
            print(f"updated: {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
