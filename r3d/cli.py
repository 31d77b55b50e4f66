"""Command line: ``r3d fit`` for pipelines, ``r3d diagnostics`` for the design checks, ``r3d demo`` for
the quickstart.

::

    r3d fit firms.parquet --formula "wage ~ revenue" --unit firm --cutoff 1 \\
        --n-boot 999 --seed 1 --output results.json --plot effect.png
    r3d diagnostics firms.csv --formula "wage ~ revenue" --unit firm --cutoff 1 --donut 0.05 \\
        -o checks.html --plot checks.png
    r3d demo

``fit`` reads CSV or Parquet (or CSV on standard input with ``-``), prints the summary on
standard output and writes the results by extension: ``.json`` (every number,
``R3DResults.to_dict``), ``.csv`` (``summary_frame``, one row per quantile level), ``.txt``,
``.tex`` (the summary) or ``.html`` (a standalone page with the summary and its notes).
Warnings go to standard error. A problem with the input
(a missing or unreadable file or column, an invalid option, data r3d refuses) is reported on
standard error as ``r3d: error: ...`` with exit status 2, like a usage error: every error r3d
raises for its input is one of :data:`USER_ERRORS`. Anything else is a bug and keeps its
traceback; ``--traceback`` shows the traceback of an input error too.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# formulas such as "np.log(wage) ~ revenue" are evaluated in this module's namespace
import numpy as np

__all__ = ["USER_ERRORS", "CLIError", "build_parser", "demo", "html_page", "main", "read_data", "write_report",
           "write_results"]

#: Exit status for input and usage problems (argparse uses the same).
EXIT_USAGE = 2
#: Exit status after Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
DATA_SUFFIXES = {".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
OUTPUT_SUFFIXES = (".json", ".csv", ".txt", ".tex", ".html")
PLOT_KINDS = ("effect", "limits", "binned", "lorenz")
#: Tests ``--test`` adds to the summary (the nullity and homogeneity tests are always reported).
EXTRA_TESTS = ("dominance", "dominance2", "unambiguity", "w2", "gini")


class CLIError(Exception):
    """An input or usage problem: reported as ``r3d: error: <message>`` with exit status 2."""


#: What r3d raises for bad input (docs/errors.md): reported as ``r3d: error: <message>``, exit
#: status 2. ``OSError`` covers unreadable or missing files and unwritable outputs, ``ImportError``
#: a missing optional dependency, ``MemoryError`` a request too large for memory,
#: ``FloatingPointError`` data whose magnitude overflows.
USER_ERRORS = (CLIError, ValueError, TypeError, OSError, ImportError, MemoryError, FloatingPointError)


# ---------------------------------------------------------------------------------------------
# reading and writing
# ---------------------------------------------------------------------------------------------
def _csv_options() -> dict[str, Any]:
    """Exact float parsing: pandas >= 3 parses round-trip by default (and deprecates the option)."""
    import pandas as pd

    return {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def read_data(path: str):
    """A DataFrame from a CSV/TSV/Parquet file chosen by extension ("-" = CSV on stdin)."""
    import pandas as pd

    if path == "-":
        try:
            return pd.read_csv(sys.stdin, **_csv_options())
        except ValueError as exc:  # nothing on stdin, undecodable bytes, bad quoting
            raise CLIError(f"could not read CSV from standard input: {exc}") from exc
    p = Path(path)
    if p.is_dir():
        raise CLIError(f"{path!r} is a directory: pass one data file, or read a directory or glob of Parquet "
                       "files with --out-of-core")
    kind = DATA_SUFFIXES.get(p.suffix.lower())
    if kind is None:
        raise CLIError(f"cannot read {path!r}: expected a .csv, .tsv or .parquet file (or - for CSV on stdin)")
    if not p.is_file():
        hint = " (a glob of Parquet files is read with --out-of-core)" if any(c in path for c in "*?[") else ""
        raise CLIError(f"data file {path!r} does not exist{hint}")
    try:
        if kind == "parquet":
            return pd.read_parquet(p)
        return pd.read_csv(p, sep="\t" if kind == "tsv" else ",", **_csv_options())
    except ImportError as exc:  # no pyarrow / fastparquet
        from r3d.backends import pip_command

        raise CLIError(f"reading Parquet needs pyarrow: {pip_command('parquet')} ({exc})") from exc
    except OSError as exc:  # unreadable: keep the reason, not the errno
        raise CLIError(f"could not read {path!r}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise CLIError(f"could not read {path!r}: {exc}") from exc


def _finite_or_none(obj: Any) -> Any:
    """JSON has no NaN/Infinity: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite_or_none(v) for v in obj]
    return obj


#: Inline style of the page ``-o results.html`` writes: readable without network or other files, the
#: numbers in aligned columns, and printable.
HTML_STYLE = """\
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1a1a1a;
       max-width: 62rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.25rem; font-weight: 600; margin: 0 0 1.25rem; }
table.simpletable { border-collapse: collapse; margin: 0 0 1.5rem; font-size: 0.9rem;
                    border-top: 2px solid #1a1a1a; border-bottom: 2px solid #1a1a1a; }
table.simpletable caption { text-align: left; font-weight: 600; padding: 0 0 0.35rem; }
table.simpletable th, table.simpletable td { padding: 0.15rem 0.7rem; white-space: nowrap; }
table.simpletable th { text-align: left; font-weight: 500; }
table.simpletable td { text-align: right; font-variant-numeric: tabular-nums; }
table.simpletable td:first-child:empty ~ th { text-align: right; font-weight: 600; }
table.simpletable tr:nth-child(even) { background: #f4f5f7; }
ol.r3d-notes { font-size: 0.85rem; color: #333; max-width: 52rem; padding-left: 1.5rem; }
footer { font-size: 0.75rem; color: #666; margin-top: 2rem; }
@media print { body { margin: 0; } table.simpletable tr:nth-child(even) { background: none; } }
"""


def html_page(res: Any, *, alpha: float | None = None, functionals: Any = None, tests: Any = None) -> str:
    """The summary as a standalone HTML page (doctype, title, inline CSS, the tables and the notes);
    ``functionals`` and ``tests`` as for ``R3DResults.summary``."""
    import html

    from r3d._version import __version__

    d = res.data
    title = f"R3D: effect on {d.outcome_name} at {d.running_name} = {d.cutoff:g}"
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta name="generator" content="r3d {html.escape(__version__)}">\n'
            f"<title>{html.escape(title)}</title>\n<style>\n{HTML_STYLE}</style>\n</head>\n<body>\n"
            f"<main>\n<h1>{html.escape(title)}</h1>\n"
            f"{res.summary(alpha=alpha, functionals=functionals, tests=tests).as_html()}\n</main>\n"
            f"<footer>Written by r3d {html.escape(__version__)}.</footer>\n</body>\n</html>\n")


def write_results(res: Any, path: str, *, alpha: float | None = None, functionals: Any = None,
                  tests: Any = None) -> None:
    """Write results by extension: .json (every number), .csv (one row per quantile), the
    summary as .txt or .tex, or a standalone HTML page of the summary (.html, :func:`html_page`);
    ``functionals`` and ``tests`` (as for ``R3DResults.summary``) go into the JSON and the summaries."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".json":
        text = json.dumps(_finite_or_none(res.to_dict(alpha, functionals=functionals, tests=tests)), indent=2,
                          allow_nan=False) + "\n"
    elif suffix == ".csv":
        text = res.summary_frame(alpha).to_csv()  # floats as repr: shortest exact round trip
    elif suffix == ".html":
        text = html_page(res, alpha=alpha, functionals=functionals, tests=tests)
    elif suffix in (".txt", ".tex"):
        smry = res.summary(alpha=alpha, functionals=functionals, tests=tests)
        text = {".txt": smry.as_text, ".tex": smry.as_latex}[suffix]() + "\n"
    else:
        raise CLIError(f"cannot write {path!r}: the extension must be one of {', '.join(OUTPUT_SUFFIXES)}")
    try:
        p.write_text(text, encoding="utf-8")
    except OSError as exc:  # a directory, no permission, a full disk
        raise CLIError(f"cannot write {path!r}: {exc.strerror or exc}") from exc


def _save_plot(res: Any, mod: Any, path: str, kind: str) -> None:
    from matplotlib.figure import Figure

    from r3d import plotting

    fig = Figure(figsize=plotting.FIGSIZE, layout="constrained")
    ax = fig.add_subplot()
    if kind == "binned":
        plotting.plot_binned(mod, ax=ax)
    elif kind == "lorenz":
        res.functional("lorenz").plot(ax=ax)
    else:
        res.plot(ax=ax, kind=kind)
    try:
        fig.savefig(path, dpi=150)
    except ValueError as exc:  # unknown image format
        raise CLIError(f"cannot save the plot to {path!r}: {exc}") from exc
    except OSError as exc:  # a directory, no permission, a full disk
        raise CLIError(f"cannot save the plot to {path!r}: {exc.strerror or exc}") from exc


# ---------------------------------------------------------------------------------------------
# argument parsing
# ---------------------------------------------------------------------------------------------
def _finite(text: str) -> float:
    """A finite number (NaN and infinity are refused here, naming the option)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _seed(text: str) -> int:
    """A seed numpy accepts: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0 (a seed for numpy), got {text!r}")
    return value


def _bandwidth(text: str) -> Any:
    try:
        value = float(text)
    except ValueError:
        return text  # a rule name; fit() validates it
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a rule name or a finite number, got {text!r}")
    return value


def _quantiles(text: str) -> Any:
    """"99" -> 99 equally spaced inner levels; "0.1,0.5,0.9" -> those levels."""
    parts = [t for t in text.replace(" ", "").split(",") if t]
    try:
        if len(parts) == 1 and parts[0].isdigit():
            return int(parts[0])
        return [float(t) for t in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of levels (e.g. 99) or comma-separated levels (e.g. 0.1,0.5,0.9), got {text!r}"
        ) from None


#: Examples shown under ``r3d --help``, ``r3d fit --help`` and ``r3d demo --help``.
EPILOG_MAIN = """\
examples:
  r3d demo                                   quickstart on simulated data
  r3d fit firms.csv --formula "wage ~ revenue" --unit firm --cutoff 1
  r3d fit --help                             every option of fit

Documentation: docs/results.md ("Command line") and docs/errors.md in the r3d sources.
"""
EPILOG_FIT = """\
examples:
  # sharp design, summary on standard output
  r3d fit firms.csv --formula "wage ~ revenue" --unit firm --cutoff 1

  # fuzzy design (take-up column), reproducible bootstrap, every number to JSON, a plot
  r3d fit firms.parquet --formula "np.log(wage) ~ revenue" --unit firm --cutoff 1 \\
      --treatment subsidy --n-boot 999 --seed 1 -o results.json --plot effect.pdf

  # deciles only, a fixed bandwidth, the summary as LaTeX and as an HTML page
  r3d fit firms.csv --formula "wage ~ revenue" --unit firm --cutoff 1 \\
      --quantiles 0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9 --bandwidth 0.4 -q -o table.tex -o table.html

  # inequality: effects on the Gini and the P90/P10 ratio, a dominance test, the Lorenz curves
  r3d fit firms.csv --formula "wage ~ revenue" --unit firm --cutoff 1 --functional gini \\
      --functional quantile_ratio:upper=0.9,lower=0.1 --test dominance --plot-kind lorenz --plot lorenz.png

  # CSV from another program on standard input
  some-export | r3d fit - --formula "wage ~ revenue" --unit firm --cutoff 1

  # Parquet files larger than memory (DuckDB)
  r3d fit "wages/*.parquet" --out-of-core --memory-limit 2GB --formula "wage ~ revenue" \\
      --unit firm --cutoff 1 -o results.json

exit status: 0 success, 2 a problem with the input or the options (r3d: error: ...), 130 interrupted.
"""
EPILOG_DIAGNOSTICS = """\
examples:
  # placebo cutoffs, bandwidth sensitivity and a donut comparison: the report and one figure
  r3d diagnostics firms.csv --formula "wage ~ revenue" --unit firm --cutoff 1 --donut 0.05 \\
      --seed 1 -o checks.html -o checks.tex --plot checks.png

  # covariate balance too, and placebo cutoffs of your own
  r3d diagnostics firms.csv --formula "wage ~ revenue" --unit firm --cutoff 1 \\
      --covariates "age + C(sector)" --placebo-cutoffs 0.7,1.3 -q --plot checks.pdf
"""
EPILOG_DEMO = """\
examples:
  r3d demo                                   999 bootstrap draws, seed 1
  r3d demo --n-boot 199 --plot effect.png    quicker, and the effect plot
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``r3d`` argument parser (subcommands ``fit`` and ``demo``), with examples under ``--help``."""
    from r3d._version import __version__
    from r3d.backends import pip_command

    raw = argparse.RawDescriptionHelpFormatter  # keeps the examples' lines as written
    parser = argparse.ArgumentParser(prog="r3d", description="Regression discontinuity designs with "
                                     "distribution-valued outcomes (R3D, Van Dijcke 2025).",
                                     epilog=EPILOG_MAIN, formatter_class=raw)
    parser.add_argument("--version", action="version", version=f"r3d {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{fit,demo,diagnostics}")

    fit = sub.add_parser("fit", help="estimate from a long data file (one row per within-unit draw)",
                         description="Estimate the R3D effect from a long CSV/Parquet file: one row per "
                         "within-unit draw, unit-level columns repeated.", epilog=EPILOG_FIT, formatter_class=raw)
    _add_data_options(fit)
    _add_fit_options(fit)
    fit.add_argument("--output", "-o", action="append", default=[], metavar="FILE",
                     help="write results: .json (every number), .csv (one row per quantile), .txt/.tex (the "
                     "summary), .html (a page with the summary); may be repeated")
    fit.add_argument("--plot", action="append", default=[], metavar="FILE",
                     help="save the plot --plot-kind chooses (any matplotlib format: .png, .pdf, .svg); may be "
                     "repeated")
    fit.add_argument("--plot-kind", choices=PLOT_KINDS, default="effect",
                     help="what --plot draws: tau(q) with bands (effect), the two limits, the binned R3D plot, or "
                          "the two limits' Lorenz curves with their bands (lorenz; sharp designs)")
    fit.add_argument("--donut", type=_finite, default=None,
                     help="leave out the units with |running - cutoff| < DONUT (a donut fit; they are counted in the "
                          "summary)")
    fit.add_argument("--functional", action="append", default=[], metavar="NAME[:KEY=VALUE,...]",
                     help="add the effect on a functional of the limit distributions to the summary and the "
                          "outputs: mean, variance, sd, gini, iqr, quantile_ratio, share_below, lorenz, w2, with "
                          "options as in quantile_ratio:upper=0.9,lower=0.1 or share_below:z=20; may be repeated "
                          "(sharp designs; w2 also fuzzy)")
    fit.add_argument("--test", action="append", default=[], choices=EXTRA_TESTS,
                     help="add a uniform test over the whole grid to the summary and the outputs: dominance "
                          "(H0: tau >= 0), dominance2 (second order), unambiguity (H0: tau keeps one sign), w2, "
                          "gini; may be repeated (needs bootstrap draws)")
    fit.add_argument("--quiet", "-q", action="store_true", help="do not print the summary")
    fit.add_argument("--out-of-core", action="store_true",
                     help="compute unit quantiles inside DuckDB without loading DATA into memory (Parquet file, "
                          f"directory or glob; needs DuckDB: {pip_command('duckdb')}); the quantile grid is fixed when "
                          "reading")
    fit.add_argument("--memory-limit", default=None, help='DuckDB memory limit with --out-of-core, e.g. "2GB"')

    dem = sub.add_parser("demo", help="run the quickstart on simulated firm data with a known effect",
                         description="Quickstart: 600 simulated firms, a wage subsidy at revenue >= 1; prints "
                         "the summary and how often the uniform band covers the true effect.", epilog=EPILOG_DEMO,
                         formatter_class=raw)
    dem.add_argument("--n-boot", type=int, default=999, help="bootstrap draws (default 999)")
    dem.add_argument("--seed", type=_seed, default=1, help="seed of the bootstrap (default 1)")
    dem.add_argument("--output", "-o", action="append", default=[], metavar="FILE", help="as for fit")
    dem.add_argument("--plot", action="append", default=[], metavar="FILE", help="as for fit")
    dem.add_argument("--progress", action="store_true", help="show bootstrap progress on stderr")
    diag = sub.add_parser("diagnostics", help="the design checks of a fit: placebo cutoffs, bandwidth sensitivity, "
                          "donut, covariate balance", description="Fit as `r3d fit` does, then run the design checks "
                          "of R3DResults.diagnostics(): placebo cutoffs, bandwidth sensitivity, a donut fit compared "
                          "with the fit (--donut), covariate balance (--covariates), and the density tests where r3d "
                          "has them; print the report and write it and its figure.", epilog=EPILOG_DIAGNOSTICS,
                          formatter_class=raw)
    _add_data_options(diag)
    diag.add_argument("--covariates", help='unit-level covariates for the balance check, e.g. "age + C(sector)"')
    _add_fit_options(diag)
    diag.add_argument("--donut", type=_finite, default=None,
                      help="also refit without the units with |running - cutoff| < DONUT and compare")
    diag.add_argument("--placebo-cutoffs", type=_numbers, default=None, metavar="C1,C2,...",
                      help="placebo cutoffs (default: the 20/40/60/80%% quantiles of each side)")
    diag.add_argument("--bandwidths", type=_numbers, default=None, metavar="H1,H2,...",
                      help="bandwidths of the sensitivity refits (default: 0.5 to 2 times the fit's)")
    diag.add_argument("--output", "-o", action="append", default=[], metavar="FILE",
                      help="write the report: .txt, .tex or .html (a page); may be repeated")
    diag.add_argument("--plot", action="append", default=[], metavar="FILE",
                      help="save the report's figure (any matplotlib format: .png, .pdf, .svg); may be repeated")
    diag.add_argument("--quiet", "-q", action="store_true", help="do not print the report")
    for p in (fit, dem, diag):
        p.add_argument("--traceback", action="store_true",
                       help="show the Python traceback of an input error too (for bug reports)")
    return parser


def _numbers(text: str) -> list[float]:
    """A comma-separated list of finite numbers (placebo cutoffs, bandwidths)."""
    try:
        return [_finite(part) for part in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, e.g. 0.7,1.3; got {text!r}") from None


def _add_data_options(p: argparse.ArgumentParser) -> None:
    """The data file and its columns (``fit`` and ``diagnostics``)."""
    p.add_argument("data", help="CSV, TSV or Parquet file (by extension), or - for CSV on stdin")
    p.add_argument("--formula", required=True, help='"outcome ~ running", e.g. "np.log(wage) ~ revenue"')
    p.add_argument("--unit", required=True, help="column of unit ids")
    p.add_argument("--cutoff", type=_finite, default=0.0, help="treatment starts at running >= cutoff (default 0)")
    p.add_argument("--treatment", help="column of unit-level take-up (0/1 or a share in [0, 1]): fuzzy design")
    p.add_argument("--weights", help="column of within-unit sampling weights")
    p.add_argument("--unit-weights", help="column of unit weights (cell sizes; constant within a unit; 0 drops "
                   "the unit)")
    p.add_argument("--cluster", help="column of clusters above the unit (variance and bootstrap)")


def _add_fit_options(p: argparse.ArgumentParser) -> None:
    from r3d.estimators import (  # here, not at the top: formulas see this module's names
        CLUSTER_VCE_ALIASES,
        DEFAULT_CLUSTER_VCE,
        DEFAULT_VCE,
        VCE_TYPES,
    )
    from r3d.kernels import KERNELS

    p.add_argument("--method", default="frechet", help="frechet (default) or simple")
    p.add_argument("--order", type=int, default=2, help="local polynomial order p (default 2)")
    p.add_argument("--pilot-order", type=int, default=1, help="order s the bandwidth is optimal for (default 1)")
    p.add_argument("--kernel", default="triangular",
                   help=f"one of {', '.join(KERNELS)} (default triangular), or a short form")
    p.add_argument("--bandwidth", type=_bandwidth, default="auto",
                   help="auto (default), mse, imse, cer-mse, cer-imse, or a number")
    p.add_argument("--bandwidth-treatment", type=_finite, default=None,
                   help="fuzzy first-stage bandwidth (default: selected)")
    p.add_argument("--quantiles", type=_quantiles, default=None,
                   help="grid: a count (99 -> 0.01..0.99) or levels 0.1,0.5,0.9 (default 0.01..0.99)")
    p.add_argument("--quantile-method", default="linear", help="numpy quantile method (default linear)")
    p.add_argument("--n-boot", type=int, default=999, help="multiplier bootstrap draws; 0 skips (default 999)")
    p.add_argument("--alpha", type=_finite, default=0.05, help="1 - coverage of intervals and band (default 0.05)")
    p.add_argument("--band", default="uniform", help="uniform (default), studentized, or anderson-rubin "
                   "(fuzzy designs: robust to a weak first stage)")
    p.add_argument("--seed", type=_seed, default=None, help="seed of the bootstrap multipliers")
    p.add_argument("--masspoints", default="check", choices=("check", "adjust", "off"),
                   help="units sharing running values: check (count and warn, default), adjust (as rdrobust: "
                        "the selector counts distinct values and keeps >= order + 2 of them a side), off")
    p.add_argument("--vce", default=None, choices=VCE_TYPES + tuple(CLUSTER_VCE_ALIASES),
                   help="variance option of the standard errors, bootstrap and clusters, as rdrobust's vce: "
                        "hc0, hc1 (n / (n - p - 1) per side), hc2 or hc3 (leverage in the local fits); "
                        "with --cluster their cluster analogues CR0-CR3 (also spelled cr1-cr3); "
                        f"default {DEFAULT_VCE}, {DEFAULT_CLUSTER_VCE} (CR2) with --cluster")
    p.add_argument("--n-jobs", type=int, default=None, help="accepted; no effect (r3d runs on one thread)")
    p.add_argument("--progress", action="store_true", help="show bootstrap progress on stderr")


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------
def demo(*, n_boot: int = 999, rng: Any = 1, progress: Any = False):
    """The quickstart: a sharp R3D on ``r3d.datasets.simulate_firms(600, rng=42)``.

    Firms with revenue >= 1 get a wage subsidy whose true effect on the average wage
    quantile function is 2 + 1.5 Phi^{-1}(q) ($1,000s). Fréchet estimator on the 19-point
    grid 0.05, ..., 0.95.

    Returns
    -------
    R3DResults
    """
    import r3d

    df = r3d.datasets.simulate_firms(n_firms=600, rng=42)
    mod = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")
    return mod.fit(method="frechet", quantiles=np.arange(1, 20) / 20, n_boot=n_boot, rng=rng, progress=progress)


def demo_coverage_text(res: Any) -> str:
    """How many grid points of the demo's true effect lie inside its uniform band."""
    import r3d

    truth = r3d.datasets.firms_true_effect(res.quantiles)
    kind = "pointwise" if res.bootstrap_draws is None else "uniform"
    ci = res.conf_int(kind=kind)
    what = "pointwise interval" if kind == "pointwise" else "uniform band"
    inside = (ci["lower"].to_numpy() <= truth) & (truth <= ci["upper"].to_numpy())
    return (f"True effect inside the {100 * (1 - res.spec.alpha):.4g}% {what} at {int(inside.sum())} of "
            f"{inside.size} quantiles.")


def _check_outputs(paths: Sequence[str], plots: Sequence[str] = ()) -> None:
    """Refuse unusable output paths before any work is done (plots first, each path's extension, then its folder)."""
    if plots:
        from matplotlib.backend_bases import FigureCanvasBase

        formats = FigureCanvasBase.get_supported_filetypes()
    for path, is_plot in [*((path, True) for path in plots), *((path, False) for path in paths)]:
        p = Path(path)
        if is_plot and p.suffix.lower().lstrip(".") not in formats:
            raise CLIError(f"cannot save a plot to {path!r}: the extension must be an image format matplotlib "
                           f"writes ({', '.join(sorted(formats))})")
        if not is_plot and p.suffix.lower() not in OUTPUT_SUFFIXES:
            raise CLIError(f"cannot write {path!r}: the extension must be one of {', '.join(OUTPUT_SUFFIXES)}")
        if not p.parent.is_dir():
            raise CLIError(f"cannot write {path!r}: directory {str(p.parent)!r} does not exist")
        if p.is_dir():
            raise CLIError(f"cannot write {path!r}: it is a directory")


def _check_functionals(items: Sequence[str]) -> None:
    """Known names and ``key=number`` options for --functional, before any data are read."""
    from r3d import functionals

    known = (*functionals.FUNCTIONALS, *functionals.TEST_FUNCTIONALS)
    for name, _ in functionals.requests(list(items)):
        if name not in known:
            raise CLIError(f"--functional {name!r} is not a functional; use one of {', '.join(known)}, with options "
                           "as in quantile_ratio:upper=0.9,lower=0.1")


def _check_columns(df: Any, args: argparse.Namespace) -> None:
    cols = [str(c) for c in df.columns]
    for option in ("unit", "treatment", "weights", "unit_weights", "cluster"):
        name = getattr(args, option, None)
        if name is not None and name not in cols:
            shown = ", ".join(cols[:12]) + (", ..." if len(cols) > 12 else "")
            raise CLIError(f"--{option.replace('_', '-')} {name!r} is not a column of {args.data!r}; columns: {shown}")


def _fit_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"method": args.method, "order": args.order, "pilot_order": args.pilot_order, "kernel": args.kernel,
            "bandwidth": args.bandwidth, "bandwidth_treatment": args.bandwidth_treatment,
            "quantiles": args.quantiles, "quantile_method": args.quantile_method, "n_boot": args.n_boot,
            "alpha": args.alpha, "band": args.band, "rng": args.seed, "n_jobs": args.n_jobs,
            "progress": args.progress, "masspoints": args.masspoints, "vce": args.vce}


def _run_fit(args: argparse.Namespace, out: Any) -> None:
    import r3d

    _check_outputs(args.output, args.plot)
    _check_functionals(args.functional)
    kwargs = _fit_kwargs(args)
    if args.out_of_core:
        mod = r3d.R3D.from_parquet(args.data, args.formula, unit=args.unit, cutoff=args.cutoff,
                                   treatment=args.treatment, weights=args.weights, cluster=args.cluster,
                                   quantiles=kwargs.pop("quantiles"), quantile_method=kwargs.pop("quantile_method"),
                                   memory_limit=args.memory_limit, unit_weights=args.unit_weights)
    else:
        if args.memory_limit is not None:
            raise CLIError("--memory-limit applies to DuckDB only: add --out-of-core, or drop --memory-limit")
        df = read_data(args.data)
        if len(df) == 0:
            raise CLIError(f"data file {args.data!r} has no rows")
        _check_columns(df, args)
        mod = r3d.R3D.from_formula(args.formula, data=df, cutoff=args.cutoff, unit=args.unit,
                                   treatment=args.treatment, weights=args.weights, cluster=args.cluster,
                                   unit_weights=args.unit_weights)
    if args.donut is not None:
        kwargs["donut"] = args.donut
    res = mod.fit(**kwargs)
    extra = {"functionals": args.functional or None, "tests": args.test or None}
    if not args.quiet:
        out.write(res.summary(**extra).as_text() + "\n")
    for path in args.output:
        write_results(res, path, **extra)
    for path in args.plot:
        _save_plot(res, mod, path, args.plot_kind)


#: What ``r3d diagnostics -o`` writes.
REPORT_SUFFIXES = (".txt", ".tex", ".html")


def write_report(rep: Any, path: str) -> None:
    """Write a :class:`r3d.diagnostics.Diagnostics` report by extension: .txt, .tex, or an HTML page."""
    import html

    from r3d._version import __version__

    p = Path(path)
    smry = rep.summary()
    suffix = p.suffix.lower()
    if suffix == ".txt":
        text = smry.as_text() + "\n"
    elif suffix == ".tex":
        text = smry.as_latex() + "\n"
    elif suffix == ".html":
        d = rep.original.data
        title = f"R3D design checks: {d.outcome_name} at {d.running_name} = {d.cutoff:g}"
        text = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                f"<title>{html.escape(title)}</title>\n<style>\n{HTML_STYLE}</style>\n</head>\n<body>\n"
                f"<main>\n<h1>{html.escape(title)}</h1>\n{smry.as_html()}\n</main>\n"
                f"<footer>Written by r3d {html.escape(__version__)}.</footer>\n</body>\n</html>\n")
    else:
        raise CLIError(f"cannot write the report to {path!r}: the extension must be one of "
                       f"{', '.join(REPORT_SUFFIXES)}")
    try:
        p.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"cannot write {path!r}: {exc.strerror or exc}") from exc


def _run_diagnostics(args: argparse.Namespace, out: Any) -> None:
    import r3d

    bad = [path for path in args.output if Path(path).suffix.lower() not in REPORT_SUFFIXES]
    if bad:
        raise CLIError(f"cannot write the report to {bad[0]!r}: the extension must be one of "
                       f"{', '.join(REPORT_SUFFIXES)}")
    _check_outputs(args.output, args.plot)
    df = read_data(args.data)
    if len(df) == 0:
        raise CLIError(f"data file {args.data!r} has no rows")
    _check_columns(df, args)
    mod = r3d.R3D.from_formula(args.formula, data=df, cutoff=args.cutoff, unit=args.unit, treatment=args.treatment,
                               weights=args.weights, cluster=args.cluster, covariates=args.covariates,
                               unit_weights=args.unit_weights)
    res = mod.fit(**_fit_kwargs(args))
    rep = res.diagnostics(cutoffs=args.placebo_cutoffs, bandwidths=args.bandwidths, donut=args.donut)
    if not args.quiet:
        out.write(rep.summary().as_text() + "\n")
    for path in args.output:
        write_report(rep, path)
    if args.plot:
        from matplotlib.figure import Figure

        fig = rep.plot(fig=Figure(layout="constrained"))  # no pyplot: nothing opens a window
        for path in args.plot:
            try:
                fig.savefig(path, dpi=150)
            except OSError as exc:  # a directory, no permission, a full disk
                raise CLIError(f"cannot save the figure to {path!r}: {exc.strerror or exc}") from exc


def _run_demo(args: argparse.Namespace, out: Any) -> None:
    _check_outputs(args.output, args.plot)
    res = demo(n_boot=args.n_boot, rng=args.seed, progress=args.progress)
    out.write(res.summary().as_text() + "\n\n" + demo_coverage_text(res) + "\n")
    for path in args.output:
        write_results(res, path)
    for path in args.plot:
        _save_plot(res, None, path, "effect")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``r3d`` command (and ``python -m r3d``).

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 2 for input or usage problems (any of :data:`USER_ERRORS`,
        reported as ``r3d: error: <message>``; with ``--traceback`` they propagate instead).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0)
    run = {"fit": _run_fit, "demo": _run_demo, "diagnostics": _run_diagnostics}[args.command]
    with warnings.catch_warnings():  # restores the user's filters and showwarning afterwards
        warnings.simplefilter("default")  # each warning once, as it arises
        warnings.showwarning = _show_warning
        try:
            run(args, sys.stdout)
        except BrokenPipeError:  # the reader went away (`r3d fit ... | head`): nothing left to say
            _silence_stdout()
            return 1
        except KeyboardInterrupt:
            sys.stderr.write("r3d: interrupted\n")
            return EXIT_INTERRUPTED
        except USER_ERRORS as exc:
            if args.traceback:
                raise
            sys.stderr.write(f"r3d: error: {str(exc) or type(exc).__name__}\n")
            return EXIT_USAGE
    return 0


def _silence_stdout() -> None:
    """Point stdout at the null device, so that flushing it at exit does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (e.g. captured in tests)
        pass


def _show_warning(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
                  line: Any = None) -> None:
    """Print a warning as the command's own line (r3d's warnings by their text, others with their class)."""
    from r3d._validation import R3DWarning

    text = str(message)
    if not issubclass(category, R3DWarning):
        text = f"{category.__name__}: {text}"
    sys.stderr.write(f"r3d: warning: {text}\n")
