"""One report of a fit's design checks (METHOD_EXTENSIONS §11): ``R3DResults.diagnostics``.

It runs, with the fit's options and seeds derived from the fit's, the placebo cutoffs and the
bandwidth sensitivity (:mod:`r3d.placebo`), a donut fit compared with the fit when a donut is
given, covariate balance when the model has covariates (``R3D.covariate_balance``), and the
density (manipulation) and binomial tests when the model offers them (``R3D.density_test``,
``R3D.binomial_test``), and gathers them into one summary (text, LaTeX, HTML) and one
multi-panel figure. Nothing is computed here: each check is its own result object, kept as an
attribute.
"""

from __future__ import annotations

import math
from typing import Any

from r3d import _repr as _r
from r3d.placebo import (
    FitComparison,
    PlaceboResults,
    SensitivityResults,
    base_seed,
    derived_seed,
    placebo_fits,
    refit_options,
    sensitivity_fits,
)

__all__ = ["Diagnostics", "run_diagnostics"]

#: ``spawn_key`` of the seeds of the checks the report adds (placebo and sensitivity derive their own).
_DONUT_KEY, _BALANCE_KEY = 4, 5
#: The model's methods the report calls when they exist (the density tests are optional).
MODEL_TESTS = ("density_test", "binomial_test")


def run_diagnostics(res: Any, *, cutoffs: Any = None, bandwidths: Any = None, donut: Any = None,
                    rng: Any = None) -> Diagnostics:
    """The checks of :class:`Diagnostics` on the fit ``res`` (``R3DResults.diagnostics``)."""
    from r3d._validation import InsufficientDataError
    from r3d.options import check_donut

    seed = base_seed(res.spec.seed, rng)
    d = None if donut is None else check_donut(donut)
    placebo = placebo_fits(res, cutoffs, seed)
    sensitivity = sensitivity_fits(res, bandwidths, seed)
    donut_fit = comparison = None
    if d is not None:
        bw = res.bandwidth_choice.h
        kw = refit_options(res, bandwidth=float(bw[0]) if bw.size == 1 else bw.copy(),
                           bandwidth_treatment=res.bandwidth_treatment, rng=derived_seed(seed, _DONUT_KEY))
        kw["donut"] = d
        donut_fit = res.model._origin.fit(**kw)
        comparison = res.compare(donut_fit)
    model = res.model
    balance = None
    if model._data.units.covariates is not None:
        s = res.spec
        balance = model.covariate_balance(order=s.order, kernel=s.kernel, pilot_order=s.pilot_order,
                                          n_boot=s.n_boot, alpha=s.alpha, rng=derived_seed(seed, _BALANCE_KEY),
                                          vce=s.vce)
    tests, failed = {}, {}
    for name in MODEL_TESTS:
        try:
            tests[name] = getattr(model, name)()
        except InsufficientDataError as exc:  # too few units near the cutoff: the report says why
            failed[name] = str(exc)
    return Diagnostics(original=res, placebo=placebo, sensitivity=sensitivity, donut=donut_fit,
                       comparison=comparison, balance=balance, density=tests.get("density_test"),
                       binomial=tests.get("binomial_test"), seed=seed, failed=failed)


class Diagnostics:
    """The design checks of one fit (``R3DResults.diagnostics``).

    Attributes
    ----------
    original : R3DResults
    placebo : r3d.placebo.PlaceboResults
    sensitivity : r3d.placebo.SensitivityResults
    donut : R3DResults or None
        The fit without the units inside the donut, at the fit's bandwidth (None without ``donut=``).
    comparison : r3d.placebo.FitComparison or None
        The fit minus the donut fit, with its band and sup test.
    balance : r3d.balance.CovariateBalance or None
        Covariate balance at the cutoff (None when the model has no covariates).
    density, binomial : r3d.density.DensityTest, r3d.density.BinomialTest or None
        The model's ``density_test()`` and ``binomial_test()`` (None when the data were too few for
        it: ``failed`` says why).
    failed : dict
        Why a model test did not run, by method name.
    seed : int or tuple of int
        Seed every check's seeds derive from.
    """

    def __init__(self, *, original: Any, placebo: PlaceboResults, sensitivity: SensitivityResults, donut: Any,
                 comparison: FitComparison | None, balance: Any, density: Any, binomial: Any, seed: Any,
                 failed: dict[str, str] | None = None) -> None:
        self.original = original
        self.placebo = placebo
        self.sensitivity = sensitivity
        self.donut = donut
        self.comparison = comparison
        self.balance = balance
        self.density = density
        self.binomial = binomial
        self.seed = seed
        self.failed = dict(failed or {})

    def _checks(self) -> list[tuple[str, Any]]:
        """(title, result) of each check run, in report order."""
        out = [("Placebo cutoffs", self.placebo), ("Bandwidth sensitivity", self.sensitivity)]
        for title, obj in (("Donut fit against the fit", self.comparison), ("Covariate balance", self.balance),
                           ("Density test", self.density), ("Binomial test", self.binomial)):
            if obj is not None:
                out.append((title, obj))
        return out

    def _not_run(self) -> list[str]:
        out = []
        if self.comparison is None:
            out.append("donut comparison (pass donut=d)")
        if self.balance is None:
            out.append("covariate balance (the model has no covariates)")
        for attr, name, what in (("density", "density_test", "density test"),
                                 ("binomial", "binomial_test", "binomial test")):
            if getattr(self, attr) is None:
                out.append(f"{what} ({self.failed.get(name, 'not run')})")
        return out

    def __repr__(self) -> str:
        pl = self.placebo
        p = [v for v in pl.frame["nullity_pvalue"] if not math.isnan(v)]
        fields = [("placebo", f"{len(pl)} cutoffs, min p {_r.pvalue(min(p)) if p else '--'}"),
                  ("sensitivity", f"{len(self.sensitivity.fits)} bandwidths")]
        if self.comparison is not None:
            fields.append(("donut p", _r.pvalue(self.comparison.test.pvalue)))
        if self.balance is not None and self.balance.joint is not None:
            fields.append(("balance p", _r.pvalue(self.balance.joint.pvalue)))
        for name, obj in (("density", self.density), ("binomial", self.binomial)):
            if obj is not None and getattr(obj, "pvalue", None) is not None:
                try:
                    fields.append((f"{name} p", _r.pvalue(float(obj.pvalue))))
                except (TypeError, ValueError):
                    pass
        return _r.one_line("Diagnostics", f"{self.original.data.outcome_name} at {self.original.data.cutoff:g}",
                           fields)

    def summary(self):
        """A statsmodels ``Summary`` (``as_text``, ``as_latex``, ``as_html``): a header, then the tables of
        every check that was run (each check's own ``summary()``), their notes, and the checks not run."""
        from r3d._summary import R3DSummary, Section

        o = self.original
        s = o.spec
        header = Section(title="Design checks of an R3D fit", kind="keyvalue", headers=(), stubs=(), rows=(
            ("Outcome", o.data.outcome_name, "Cutoff", f"{o.data.cutoff:g}"),
            ("Design", f"{o.design} {s.method}", "Units", str(o.nobs)),
            ("Bandwidth", f"{o._bandwidth_text()} ({s.bandwidth_rule})", "Bootstrap draws", str(s.n_boot))))
        sections, notes = [header], []
        for title, obj in self._checks():
            smry = obj.summary() if hasattr(obj, "summary") else None
            if smry is None or not hasattr(smry, "sections"):
                notes.append(f"{title}: {obj!r}")
                continue
            sections += smry.sections
            notes += [f"{title}: {getattr(n, 'text', n)}" for n in getattr(smry, "_notes", ())]
        not_run = self._not_run()
        if not_run:
            notes.append("Not run: " + "; ".join(not_run) + ".")
        return R3DSummary(sections, notes)

    def _repr_html_(self) -> str:
        return self.summary().as_html()

    def plot(self, fig: Any = None) -> Any:
        """One figure with a panel per check: the placebo cutoffs' average effects, the bandwidth sensitivity,
        the donut comparison, covariate balance and the density test, when run (each check's own ``plot``).

        Parameters
        ----------
        fig : matplotlib Figure, optional
            Where to draw (an empty one is resized to the panels); default a new pyplot figure.

        Returns
        -------
        matplotlib.figure.Figure
        """
        panels = [(title, obj) for title, obj in self._checks() if hasattr(obj, "plot")]
        n = len(panels)
        cols = 2 if n > 1 else 1
        rows = math.ceil(n / cols)
        size = (6.4 * cols, 4.4 * rows)
        if fig is None:
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=size, layout="constrained")
        elif not fig.axes:
            fig.set_size_inches(size)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax, (_title, obj) in zip(axes, panels, strict=False):
            obj.plot(ax=ax)
        for ax in axes[n:]:
            ax.set_axis_off()
        o = self.original
        fig.suptitle(f"Design checks: {o.data.outcome_name} at {o.data.running_name} = {o.data.cutoff:g}")
        return fig
