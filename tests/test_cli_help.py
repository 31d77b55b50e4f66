"""The command line as a reader meets it: ``--help`` ends with examples that parse, the synopsis in
docs/results.md lists every option of the parser (and no other), ``-o x.html`` writes a standalone
page, and install hints name commands that resolve from the package index."""

import argparse
import re
import shlex
from pathlib import Path

import pytest

import r3d
from r3d.backends import OPTIONAL_REQUIREMENTS, pip_command, require
from r3d.cli import EPILOG_DEMO, EPILOG_FIT, EPILOG_MAIN, build_parser, html_page, main, read_data

ROOT = Path(__file__).resolve().parents[1]


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def _synopsis() -> dict[str, str]:
    """The first text block of the "Command line" section of docs/results.md, split by command."""
    page = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    section = page.split("## Command line", 1)[1]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    parts: dict[str, str] = {}
    command = None
    for line in block.splitlines():
        m = re.match(r"r3d (fit|demo)\b", line)
        if m:
            command = m.group(1)
        elif line.startswith("r3d "):
            command = None
        if command:
            parts[command] = parts.get(command, "") + line + "\n"
    return parts


def _options(p: argparse.ArgumentParser) -> set[str]:
    return {s for a in p._actions for s in a.option_strings if s not in ("-h", "--help")}


@pytest.mark.parametrize("command", ["fit", "demo"])
def test_synopsis_in_the_docs_lists_every_option_of_the_parser_and_no_other(command):
    synopsis = _synopsis()[command]
    parser = _subparsers()[command]
    options = _options(parser)
    shown = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", synopsis))
    assert options - shown == set(), f"r3d {command}: options missing from the synopsis in docs/results.md"
    assert shown - options == set(), f"r3d {command}: the synopsis in docs/results.md shows options r3d lacks"
    for action in parser._actions:  # every choice of an option with fixed choices
        for choice in action.choices or ():
            assert choice in synopsis, (action.dest, choice)
    if command == "fit":
        from r3d.kernels import KERNELS

        assert all(k in synopsis for k in KERNELS)


def test_help_ends_with_examples_that_parse(capsys):
    for argv, epilog in ((["--help"], EPILOG_MAIN), (["fit", "--help"], EPILOG_FIT), (["demo", "--help"], EPILOG_DEMO)):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert out.rstrip().endswith(epilog.rstrip()) and "examples:" in out
    parser = build_parser()
    examples = []
    for epilog in (EPILOG_MAIN, EPILOG_FIT, EPILOG_DEMO):
        text = re.sub(r"\\\n\s*", " ", epilog)  # continuation lines
        for line in text.splitlines():
            line = line.split("|")[-1].strip()  # a pipe's reader
            if line.startswith("r3d "):
                examples.append(re.split(r"\s{3,}", line)[0])  # drop the comment column
    assert len(examples) >= 8
    for example in examples:
        argv = shlex.split(example)[1:]
        if argv[-1] == "--help":
            continue
        parser.parse_args(argv)  # exits (SystemExit) on an unknown option or a bad value


def test_html_output_is_a_standalone_page(tmp_path, capsys):
    out = tmp_path / "s.html"
    assert main(["demo", "--n-boot", "0", "-o", str(out)]) == 0
    capsys.readouterr()
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    assert '<meta charset="utf-8">' in page and "<style>" in page and page.rstrip().endswith("</html>")
    assert "<title>R3D: effect on wage at revenue = 1</title>" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page  # nothing to fetch
    res = r3d.cli.demo(n_boot=0)
    assert res.summary().as_html() in page  # the tables and the notes, unchanged
    assert page.count('<table class="simpletable') >= 2 and '<ol class="r3d-notes">' in page
    assert html_page(res) == page


def test_html_page_escapes_names():
    class Data:
        outcome_name, running_name, cutoff = "w<a>ge", "x&y", 0.5

    class Res:
        data = Data()

        def summary(self, alpha=None, **kw):
            class S:
                def as_html(self):
                    return "<table></table>"
            return S()

    page = html_page(Res())
    assert "<title>R3D: effect on w&lt;a&gt;ge at x&amp;y = 0.5</title>" in page


# --------------------------------------------------------------------------- install hints
def test_optional_requirements_match_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    for extra, reqs in OPTIONAL_REQUIREMENTS.items():
        assert tuple(extras[extra]) == reqs, extra


def test_install_hints_name_packages_not_the_unpublished_distribution():
    """r3d-rdd is not on the package index: ``pip install "r3d-rdd[extra]"`` resolves only where r3d-rdd
    is already installed. Hints name the packages themselves."""
    assert pip_command("duckdb") == 'pip install "duckdb>=1.3"'
    assert pip_command("dask") == 'pip install "dask[dataframe]>=2024.1" "distributed>=2024.1"'
    with pytest.raises(ImportError, match=r'Install it with: pip install "no_such_module_r3d"') as info:
        OPTIONAL_REQUIREMENTS["_test"] = ("no_such_module_r3d",)
        try:
            require("no_such_module_r3d", "_test", "A test")
        finally:
            del OPTIONAL_REQUIREMENTS["_test"]
    assert "r3d-rdd" not in str(info.value)
    for path in (ROOT / "r3d").rglob("*.py"):
        assert not re.search(r"pip install ['\"]?r3d-rdd\[", path.read_text(encoding="utf-8")), path
    help_text = " ".join(_subparsers()["fit"].format_help().split())
    assert 'needs DuckDB: pip install "duckdb>=1.3"' in help_text


def test_parquet_without_pyarrow_names_pip_install_pyarrow(tmp_path, monkeypatch):
    import pandas as pd

    f = tmp_path / "x.parquet"
    f.write_bytes(b"PAR1")

    def no_engine(*args, **kwargs):
        raise ImportError("Unable to find a usable engine")

    monkeypatch.setattr(pd, "read_parquet", no_engine)
    with pytest.raises(r3d.cli.CLIError, match=r'reading Parquet needs pyarrow: pip install "pyarrow>=14"'):
        read_data(str(f))
