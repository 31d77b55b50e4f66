"""A notebook (tests/notebooks/reprs.ipynb) executed with nbclient: every result object displays as
a short text repr and an HTML table, never as a raw dataclass dump (``TestResult(..., indices=array(``,
``np.float64(``), and the summary displays as HTML tables. About 5 s (kernel start-up)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _html import Tables

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parent / "notebooks" / "reprs.ipynb"
ROOT = Path(__file__).resolve().parents[1]
#: Kernel start-up and the small fit take about 5 s here; generous for a loaded CI machine.
TIMEOUT = 120
#: What raw dataclass reprs print and the short ones never do.
DUMP_MARKERS = ("array(", "np.float64(", "TestResult(test=", "AverageEffect(estimate=", "BandwidthSelection(rule=")
#: The class each display cell shows, in order (cell 0 is markdown).
EXPECTED = ("R3DResults", "AverageEffect", "FirstStageResult", "TestResult", "TestResult", "TestResults",
            "UniformBand", "BandwidthChoice", "BandwidthSelection", "SelectorSteps", "FunctionalEffect",
            "FunctionalCurve", "DensityTest", "BinomialTest", "R3DSummary")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env_path = os.environ.get("PYTHONPATH", "")
    from _child import same_r3d_env

    # the kernel (started in a temporary folder) imports the very r3d this process uses: the installed
    # package in CI, never the checkout's source tree, which has no compiled kernels there
    os.environ["PYTHONPATH"] = same_r3d_env()["PYTHONPATH"]
    try:
        client = nbclient.NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                                         resources={"metadata": {"path": str(tmp_path_factory.mktemp("nb"))}})
        client.execute()
    finally:
        os.environ["PYTHONPATH"] = env_path
    return nb


def test_notebook_shows_short_reprs_and_html(executed):
    cells = [c for c in executed.cells if c.cell_type == "code"]
    displays = [c for c in cells if any(o.output_type == "execute_result" for o in c.outputs)]
    assert len(displays) == len(EXPECTED)
    for cell, name in zip(displays, EXPECTED, strict=True):
        (out,) = [o for o in cell.outputs if o.output_type == "execute_result"]
        text, page = out.data["text/plain"], out.data.get("text/html", "")
        for marker in DUMP_MARKERS:
            assert marker not in text and marker not in page, (cell.source, marker)
        if name != "R3DSummary":
            assert text.startswith("<" + name) and "\n" not in text, text
        p = Tables()
        p.feed(page)
        p.close()
        assert p.stack == [] and p.tables >= 1, cell.source


def test_printed_repr_is_one_line(executed):
    (out,) = executed.cells[-1].outputs
    assert out.output_type == "stream" and out.text.startswith("<AverageEffect ") and out.text.count("\n") == 1
