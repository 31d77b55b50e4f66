"""R3D: the model. Holds validated data; ``fit()`` takes the estimation choices and
orchestrates the pipeline (unit quantiles -> bandwidth -> estimator -> inference ->
results). Numbers are computed by module functions; nothing numerical lives here.

The public edge validates once: every constructor reduces its input to a frozen
:class:`r3d.data.ModelData` (the one place a model's attributes are set is
:meth:`R3D._from_data`), and ``fit()`` turns its arguments into a frozen
:class:`r3d.options.FitOptions`. The stages after that trust their inputs.
"""

from __future__ import annotations

import copy
import dataclasses
import numbers
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from r3d._validation import Notes, check_choice, check_int, message
from r3d.bandwidth import BandwidthChoice, BandwidthSelection, _select_bandwidths, choose_bandwidths
from r3d.bootstrap import infer
from r3d.data import ModelData, Names, prepare_long, prepare_quantiles, prepare_samples, subset_data
from r3d.density import BWSELECT, MAX_DENSITY_ORDER, _as_density_bandwidth, _density_test, binomial_test
from r3d.estimators import Estimate, _estimate, adjust_for_covariates, check_units_per_side
from r3d.fewdraws import count_few_draws, report_few_draws
from r3d.formula import covariate_terms, data_column, parse_formula
from r3d.locpoly import canonical_kernel
from r3d.masspoints import count_mass_points, distinct_rate, enlarge_bandwidths, report_mass_points
from r3d.options import check_orders, fit_options, resolve_rule
from r3d.quantiles import QUANTILE_METHODS, WEIGHTED_METHODS, _unit_quantiles, quantile_grid
from r3d.results import DataInfo, FitSpec, R3DResults

__all__ = ["R3D", "select_bandwidth"]


def _check_cutoff(cutoff: Any, x: np.ndarray) -> float:
    if isinstance(cutoff, bool) or not isinstance(cutoff, numbers.Real) or not np.isfinite(cutoff):
        raise TypeError(message("cutoff", "a finite number", cutoff))
    c = float(cutoff)
    n_right = int((x >= c).sum())
    n_left = x.shape[0] - n_right
    if n_left == 0 or n_right == 0:
        side = "below" if n_left == 0 else "at or above"
        raise ValueError(
            message("cutoff", "inside the range of the running variable with units on both sides",
                    c, f"No unit has a running variable {side} it (range [{x.min():.6g}, {x.max():.6g}]).")
        )
    return c


def out_of_core_covariates_error(what: str) -> ValueError:
    """``covariates`` with an out-of-core engine (not supported yet)."""
    return ValueError(message("covariates", f"None for {what}: covariates are not supported out of core yet",
                              "<covariates>", "Load the data with pandas and use R3D.from_formula(..., "
                              "covariates=...), or collapse it to unit quantiles and pass them to "
                              "R3D.from_quantiles(..., covariates=...)."))


def out_of_core_unit_weights_error(what: str) -> ValueError:
    """``unit_weights`` with an out-of-core engine (not supported yet)."""
    return ValueError(message("unit_weights", f"None for {what}: unit weights are not supported out of core yet",
                              "<unit_weights>", "Collapse the data to unit quantiles and pass them to "
                              "R3D.from_quantiles(..., unit_weights=...), or load it with pandas and use "
                              "R3D.from_formula(..., unit_weights=...)."))


class R3D:
    """Regression discontinuity design with distribution-valued outcomes.

    Parameters
    ----------
    outcome : array-like (N,)
        Within-unit draws (one row per draw, e.g. a worker's wage).
    running : array-like (N,)
        The unit's running variable, repeated on each of its rows.
    unit : array-like (N,)
        Unit ids (any hashable values, rows in any order).
    cutoff : float, default 0.0
        Treatment starts at ``running >= cutoff``.
    treatment : array-like (N,), optional
        Unit-level take-up (0/1, or a share in [0, 1] for cell data): fuzzy design.
    weights : array-like (N,), optional
        Within-unit sampling weights (rows with weight 0 or missing are dropped).
    cluster : array-like (N,), optional
        Cluster above the unit level, for the bootstrap and the variance.
    covariates : DataFrame, 2-D array or Series (N rows), optional
        Unit-level covariates (constant within a unit) for the covariate-adjusted estimator
        (docs/method.md, covariates): categorical and string columns expand to treatment-coded
        dummies; missing values are an error.
    unit_weights : array-like (N,), optional
        Unit-level weights omega_i (cell sizes, survey weights of units; constant within a
        unit, finite, non-negative): every local fit uses k_i omega_i, as rdrobust's
        ``weights=`` (docs/cells.md). A unit with weight 0 is dropped with a warning. Not the
        within-unit draw weights ``weights``.

    Notes
    -----
    Rows with a missing outcome (or a zero or missing weight) are dropped, counted and
    warned about; units left without draws are dropped with a warning. Columns must be
    numeric or boolean (strings are refused, even numeric-looking ones); pandas Series
    given together must share their index (rows pair by position). See ``from_formula``,
    ``from_samples`` and ``from_quantiles`` for the other ways in.

    Examples
    --------
    >>> import r3d
    >>> df = r3d.datasets.simulate_firms(n_firms=200, rng=1)
    >>> mod = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")
    >>> mod.nobs
    200
    """

    def __init__(
        self,
        outcome: Any,
        running: Any,
        unit: Any,
        *,
        cutoff: float = 0.0,
        treatment: Any = None,
        weights: Any = None,
        cluster: Any = None,
        covariates: Any = None,
        unit_weights: Any = None,
    ) -> None:
        self._init(prepare_long(outcome, running, unit, treatment=treatment, weights=weights, cluster=cluster,
                                covariates=covariates, unit_weights=unit_weights), cutoff=cutoff)

    #: The formula the model was built from (None when built from arrays).
    formula: str | None = None
    #: Labels of the parameters of the fit this model object belongs to (see ``R3DResults.model``).
    _exog_names: list[str] | None = None

    def _init(self, data: ModelData, *, cutoff: Any, formula: str | None = None, origin: R3D | None = None) -> None:
        """The one place a model's state is set (every constructor ends here). ``origin``: the model a unit
        subset was taken from (:meth:`_subset`); a model built from user data is its own origin."""
        self._data = data
        self.cutoff = _check_cutoff(cutoff, data.units.x)
        self.formula = formula
        self._origin = self if origin is None else origin
        self._cache: dict[tuple, np.ndarray] = {}

    @classmethod
    def _from_data(cls, data: ModelData, *, cutoff: Any, formula: str | None = None,
                   origin: R3D | None = None) -> R3D:
        """Build a model from validated data (the constructors and the out-of-core engines)."""
        obj = cls.__new__(cls)
        obj._init(data, cutoff=cutoff, formula=formula, origin=origin)
        return obj

    @property
    def _root(self) -> ModelData:
        """The data of the model built from user data that this one was taken from (its own for such a
        model): fits of models with the same root are fits of the same units (``R3DResults.compare``)."""
        return self._origin._data

    def _subset(self, keep: np.ndarray, *, cutoff: float | None = None, sharp: bool = False) -> R3D:
        """The model of the units flagged in ``keep`` (n,) bool (:func:`r3d.data.subset_data`), at this
        model's cutoff or ``cutoff`` (which must have units on both sides), sharing this model's root data
        (so fits of both can be compared unit by unit: ``R3DResults.compare``); ``sharp``: without the
        take-up (the reduced form of a fuzzy design). Placebo cutoffs and donut fits are fitted on such models."""
        data = subset_data(self._data, keep)
        if sharp and data.units.t is not None:
            data = dataclasses.replace(data, units=dataclasses.replace(data.units, t=None),
                                       names=dataclasses.replace(data.names, treatment=None))
        return type(self)._from_data(data, cutoff=self.cutoff if cutoff is None else cutoff,
                                     formula=self.formula, origin=self._origin)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_formula(
        cls,
        formula: str,
        data: pd.DataFrame,
        *,
        cutoff: float = 0.0,
        unit: str,
        treatment: str | None = None,
        weights: str | None = None,
        cluster: str | None = None,
        eval_env: int = 0,
        quantiles: Any = None,
        quantile_method: str = "linear",
        covariates: Any = None,
        unit_weights: str | None = None,
    ) -> R3D:
        """Build from a long DataFrame and a formula ``"outcome ~ running"``.

        Parameters
        ----------
        formula : str
            E.g. ``"wage ~ revenue"`` or ``"np.log(wage) ~ I(revenue / 1e3)"``.
        data : pandas.DataFrame
            One row per within-unit draw; unit-level columns repeated.
        cutoff : float
        unit : str
            Column of unit ids.
        treatment, weights, cluster : str, optional
            Column names (take-up 0/1 or a share in [0, 1], sampling weights, cluster ids).
        eval_env : int
            Frames above the caller whose names the formula may use (0 = the caller).
        quantiles, quantile_method
            Only for a ``dask.dataframe.DataFrame``: its unit quantiles are computed on
            the cluster on this grid, and the model fits on it (``from_quantiles``
            semantics; see docs/bigdata.md). For pandas data pass them to ``fit()``.
        covariates : str or list of str, optional
            Unit-level covariates: a formulaic right-hand side (``"age + C(sector)"``) or a list
            of column names (categorical and string columns expand to dummies).
        unit_weights : str, optional
            Column of unit-level weights (cell sizes, survey weights of units), constant within
            a unit; see ``R3D(...)`` and docs/cells.md. Not for Dask data.
        """
        frame = sys._getframe(1 + eval_env)
        context = {**frame.f_globals, **frame.f_locals}
        if type(data).__module__.split(".")[0] == "dask":
            if covariates is not None:
                raise out_of_core_covariates_error("a Dask DataFrame")
            if unit_weights is not None:
                raise out_of_core_unit_weights_error("a Dask DataFrame")
            from r3d.backends import model_from_engine
            from r3d.backends.dask import DaskEngine

            engine = DaskEngine.from_formula(formula, data, unit=unit, treatment=treatment, weights=weights,
                                             cluster=cluster, context=context)
            return model_from_engine(cls, engine, quantiles=quantiles, quantile_method=quantile_method,
                                     cutoff=cutoff, formula=formula)
        if quantiles is not None or quantile_method != "linear":
            raise ValueError(message("quantiles", "None for a pandas DataFrame (only a Dask DataFrame takes it here)",
                                     quantiles if quantiles is not None else quantile_method,
                                     "Pass `quantiles`/`quantile_method` to fit()."))
        cols = parse_formula(formula, data, context=context)
        unit_col = data_column("unit", unit, data)
        t_col = None if treatment is None else data_column("treatment", treatment, data)
        w_col = None if weights is None else data_column("weights", weights, data)
        c_col = None if cluster is None else data_column("cluster", cluster, data)
        z_cols = None if covariates is None else covariate_terms(covariates, data, context=context)
        uw_col = None if unit_weights is None else data_column("unit_weights", unit_weights, data)
        names = Names(outcome=cols.outcome_name, running=cols.running_name, unit=str(unit), treatment=treatment,
                      cluster=cluster, unit_weights=unit_weights)
        data = prepare_long(cols.outcome, cols.running, unit_col, treatment=t_col, weights=w_col, cluster=c_col,
                            covariates=z_cols, unit_weights=uw_col, names=names,
                            copy_outcome=False)  # the formula's columns are new arrays
        return cls._from_data(data, cutoff=cutoff, formula=formula)

    @classmethod
    def from_parquet(
        cls,
        path: Any,
        formula: str,
        *,
        unit: str,
        cutoff: float = 0.0,
        treatment: str | None = None,
        weights: str | None = None,
        cluster: str | None = None,
        quantiles: Any = None,
        quantile_method: str = "linear",
        memory_limit: str | None = None,
        threads: int | None = None,
        temp_directory: str | None = None,
        covariates: Any = None,
        unit_weights: Any = None,
    ) -> R3D:
        """Build from Parquet files too large for memory: DuckDB computes the unit quantiles.

        Needs DuckDB (``pip install "duckdb>=1.3"``). The draws are read
        out of core; only the unit quantile matrix (n x m) comes into memory, so the
        model fits on the grid ``quantiles`` only (``from_quantiles`` semantics). Results
        equal ``from_formula`` on the same rows (units in order of first appearance).

        Parameters
        ----------
        path : str, path or list of them
            A Parquet file, a directory, a glob (``"wages/*.parquet"``, files in sorted order) or a list.
        formula : str
            ``"outcome ~ running"`` with column names, optionally transformed by
            ``np.log``/``log``, ``np.exp``, ``np.sqrt``, ``np.abs``, ``log10``/``log2`` and
            arithmetic inside ``I(...)``; anything else is refused (docs/bigdata.md).
        unit : str
            Column of unit ids (any type; kept as they are, strings included).
        cutoff : float
        treatment, weights, cluster : str, optional
            Column names, as in ``from_formula``.
        quantiles : None, int or array-like
            The grid (default 0.01..0.99).
        quantile_method : {"linear", "inverted_cdf"}
            numpy's type 7 or type 1; with weights, Hmisc's weighted type 7 or numpy's
            weighted inverted CDF (both as ``r3d.quantiles.unit_quantiles``).
        memory_limit : str, optional
            DuckDB memory limit (e.g. ``"2GB"``); default DuckDB's (80% of RAM).
        threads : int, optional
            DuckDB threads (default: all cores).
        temp_directory : str, optional
            Where DuckDB spills (default: a temporary directory removed afterwards).
        covariates : None
            Not supported out of core yet (an error); use ``from_formula`` on data in memory.
        unit_weights : None
            Not supported out of core yet (an error), likewise.
        """
        if covariates is not None:
            raise out_of_core_covariates_error("Parquet files")
        if unit_weights is not None:
            raise out_of_core_unit_weights_error("Parquet files")
        from r3d.backends import model_from_engine
        from r3d.backends.duckdb import ParquetEngine

        with ParquetEngine.from_parquet(path, formula, unit=unit, treatment=treatment, weights=weights,
                                        cluster=cluster, memory_limit=memory_limit, threads=threads,
                                        temp_directory=temp_directory) as engine:
            return model_from_engine(cls, engine, quantiles=quantiles, quantile_method=quantile_method,
                                     cutoff=cutoff, formula=formula)

    @classmethod
    def from_samples(
        cls,
        samples: Sequence[Any],
        running: Any,
        *,
        cutoff: float = 0.0,
        treatment: Any = None,
        weights: Sequence[Any] | None = None,
        cluster: Any = None,
        unit_ids: Any = None,
        covariates: Any = None,
        unit_weights: Any = None,
    ) -> R3D:
        """Build from one array of draws per unit (the R package's ``Y_list``).

        Parameters
        ----------
        samples : list of array-like
            ``samples[i]`` holds unit i's draws.
        running : array-like (n,)
            One running-variable value per unit; ``treatment`` and ``cluster`` likewise.
        weights : list of array-like, optional
            Sampling weights matching ``samples``.
        unit_ids : array-like (n,), optional
            Labels (default 0..n-1).
        covariates : DataFrame, 2-D array or Series (n rows), optional
            Unit-level covariates, one row per unit (as in ``R3D(...)``).
        unit_weights : array-like (n,), optional
            One unit weight per unit (as in ``R3D(...)``); ``weights`` are the within-unit draw weights.
        """
        data = prepare_samples(samples, running, treatment=treatment, weights=weights, cluster=cluster,
                               unit_ids=unit_ids, covariates=covariates, unit_weights=unit_weights)
        return cls._from_data(data, cutoff=cutoff)

    @classmethod
    def from_quantiles(
        cls,
        qmat: Any,
        running: Any,
        quantiles: Any,
        *,
        cutoff: float = 0.0,
        treatment: Any = None,
        cluster: Any = None,
        unit_ids: Any = None,
        covariates: Any = None,
        unit_weights: Any = None,
    ) -> R3D:
        """Build from a precomputed unit quantile matrix (n units x m levels).

        Rows that are entirely missing are dropped with a warning; a row with some
        missing values, or a row that decreases, is an error. ``covariates`` (DataFrame,
        2-D array or Series, one row per unit) are unit-level covariates as in ``R3D(...)``;
        ``unit_weights`` (n,) one unit weight per unit (cell sizes; docs/cells.md).
        """
        data = prepare_quantiles(qmat, running, quantile_grid(quantiles), treatment=treatment, cluster=cluster,
                                 unit_ids=unit_ids, covariates=covariates, unit_weights=unit_weights)
        return cls._from_data(data, cutoff=cutoff)

    # ------------------------------------------------------------------ data properties
    @property
    def nobs(self) -> int:
        """Number of units."""
        return int(self._data.units.x.shape[0])

    @property
    def ndraws(self) -> int | None:
        """Number of within-unit draws used (None when built from quantiles)."""
        return self._data.ndraws

    @property
    def unit_ids(self) -> pd.Index:
        """Unit labels, in order of first appearance."""
        return self._data.units.unit_ids

    @property
    def running(self) -> pd.Series:
        """Running variable per unit."""
        return pd.Series(self._data.units.x, index=self.unit_ids, name=self._data.names.running)

    @property
    def treatment(self) -> pd.Series | None:
        """Take-up per unit (fuzzy design), else None."""
        t = self._data.units.t
        return None if t is None else pd.Series(t, index=self.unit_ids, name=self._data.names.treatment)

    @property
    def covariates(self) -> pd.DataFrame | None:
        """Unit-level covariates per unit (after dummy expansion and dropping collinear columns), else None."""
        Z = self._data.units.covariates
        return None if Z is None else pd.DataFrame(Z.copy(), index=self.unit_ids,
                                                   columns=list(self._data.names.covariates))

    @property
    def unit_weights(self) -> pd.Series | None:
        """Unit weights per unit (units with weight 0 dropped), else None."""
        om = self._data.units.unit_weights
        return None if om is None else pd.Series(om.copy(), index=self.unit_ids, name=self._data.names.unit_weights)

    @property
    def n_dropped_draws(self) -> int:
        """Rows dropped for a missing outcome or a missing/zero weight."""
        return self._data.n_dropped_draws

    @property
    def n_single_draw_units(self) -> int | None:
        """Units with a single draw (allowed: their quantile function is a point mass); None from quantiles."""
        return self._data.n_single_draw_units

    @property
    def n_dropped_units(self) -> int:
        """Units dropped because no draws (or quantiles) remained."""
        return self._data.units.n_dropped_units

    @property
    def endog_names(self) -> str:
        """The outcome's name (statsmodels' name for it; used by ``summary_col``)."""
        return self._data.names.outcome

    @property
    def exog_names(self) -> list[str] | None:
        """Labels of the fitted parameters, "tau(0.10)", ... (set on ``R3DResults.model``; None on
        a model that has not been fitted)."""
        return None if self._exog_names is None else list(self._exog_names)

    def __repr__(self) -> str:
        design = "fuzzy" if self._data.units.t is not None else "sharp"
        draws = "" if self.ndraws is None else f", {self.ndraws} draws"
        return f"<R3D: {design}, {self.nobs} units{draws}, cutoff={self.cutoff:g}>"

    # ------------------------------------------------------------------ unit quantiles
    def _grid(self, quantiles: Any) -> np.ndarray:
        """The fit's quantile grid (for a model built from quantiles: a subset of its levels)."""
        d = self._data
        if d.qmat is None:
            return quantile_grid(quantiles)
        if quantiles is None:
            return d.grid
        grid = quantile_grid(quantiles)
        idx = np.searchsorted(d.grid, grid)
        ok = (idx < d.grid.size) & (np.abs(d.grid[np.minimum(idx, d.grid.size - 1)] - grid) < 1e-12)
        if not ok.all():
            raise ValueError(message("quantiles", "a subset of the levels given to from_quantiles", grid,
                                     "Omit `quantiles` to use all of them."))
        return grid

    def _check_quantile_method(self, method: str) -> str:
        """The method behind the unit quantiles of a fit (fixed for a model built from quantiles)."""
        given = self._data.quantile_method
        draws = self._data.draws
        if draws is not None and draws.weights is not None and method not in WEIGHTED_METHODS:
            raise ValueError(message("quantile_method", "'linear' or 'inverted_cdf' when weights are given", method,
                                     "Use one of these two methods or drop the weights."))
        if given is not None and method not in ("linear", given):
            raise ValueError(message(
                "quantile_method", f"{given!r} (the unit quantiles were given or computed when the "
                "model was built)", method, "Rebuild the model with the method you want."))
        return method if given is None else given

    def _quantile_matrix(self, grid: np.ndarray, method: str) -> np.ndarray:
        """(n, m) C-contiguous unit quantiles on ``grid`` (validated), cached for the latest grid."""
        d = self._data
        if d.qmat is not None:
            if grid is d.grid:
                return d.qmat
            return np.ascontiguousarray(d.qmat[:, np.searchsorted(d.grid, grid)])
        key = (method, grid.tobytes())
        if key not in self._cache:
            draws = d.draws
            Q = _unit_quantiles(draws.y, draws.codes, self.nobs, grid, method, draws.weights)
            self._cache = {key: Q}  # keep only the latest matrix
        return self._cache[key]

    def unit_quantiles(self, quantiles: Any = None, method: str = "linear") -> pd.DataFrame:
        """Quantiles of each unit's draws.

        Parameters
        ----------
        quantiles : None, int or array-like
            None -> 0.01, ..., 0.99; an int m -> m equally spaced inner levels; or levels in (0, 1).
        method : str
            A ``numpy.quantile`` method; default "linear" (type 7). With weights,
            "linear" (Hmisc weighted type 7) or "inverted_cdf".

        Returns
        -------
        pandas.DataFrame
            Index = unit ids, one column per level.
        """
        method = self._check_quantile_method(check_choice("method", method, QUANTILE_METHODS))
        grid = self._grid(quantiles)
        Q = self._quantile_matrix(grid, method)
        return pd.DataFrame(Q.copy(), index=self.unit_ids, columns=pd.Index(grid, name="quantile"))

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        *,
        method: str = "frechet",
        order: int = 2,
        pilot_order: int = 1,
        kernel: str = "triangular",
        bandwidth: Any = "auto",
        bandwidth_treatment: float | None = None,
        regularize: bool = True,
        quantiles: Any = None,
        quantile_method: str = "linear",
        n_boot: int = 999,
        alpha: float = 0.05,
        band: str = "uniform",
        rng: Any = None,
        n_jobs: int | None = None,
        progress: Any = False,
        donut: float = 0.0,
        masspoints: str = "check",
        vce: str | None = None,
    ) -> R3DResults:
        """Estimate tau(q), its pointwise standard errors and (with ``n_boot > 0``)
        uniform bands and tests.

        Every option is keyword-only.

        Parameters
        ----------
        method : {"frechet", "simple"}
            Local Fréchet regression in Wasserstein space (one bandwidth) or pointwise
            local polynomials with sorted rearrangement (per-quantile bandwidths allowed).
        order : int, default 2
            Local polynomial order p of the estimate.
        pilot_order : int, default 1
            Order s the selected bandwidth is optimal for.
        kernel : {"triangular", "epanechnikov", "uniform"}
            Short forms "tri", "epa", "uni".
        bandwidth : "auto", "mse", "imse", "cer-mse", "cer-imse", float or array
            "auto" = "imse" for frechet, "mse" (per quantile) for simple. An array gives
            one bandwidth per quantile (simple only).
        bandwidth_treatment : float, optional
            Fuzzy first-stage bandwidth; None selects it (MSE rule on take-up).
        regularize : bool, default True
            Bias-variance regularisation in the selector (docs/method.md §6).
        quantiles : None, int or array-like
            Quantile grid (default 0.01..0.99).
        quantile_method : str
            numpy quantile method for the unit quantiles (default "linear").
        n_boot : int, default 999
            Multiplier bootstrap draws; 0 skips the bootstrap (no band, no tests).
        alpha : float, default 0.05
        band : {"uniform", "studentized", "anderson-rubin"}
            The uniform band: tau ± c ("uniform", the paper's), tau ± c se ("studentized"), or, for a
            fuzzy design only, the Anderson-Rubin / Fieller set at each level with the studentized
            critical value ("anderson-rubin", short forms "ar", "fieller"): valid when the first
            stage is weak, unbounded (limits ±inf, with a warning) when its F is below c^2
            (docs/method.md §5, "Fuzzy designs: which band").
        rng : None, int, sequence of int, numpy.random.Generator, SeedSequence or BitGenerator
            Seed for the bootstrap multipliers (what :func:`numpy.random.default_rng` takes,
            without negative seeds): the only randomness in a fit. The seed is recorded in
            ``res.spec.seed`` and the summary's notes (for None, the fresh entropy drawn).
        n_jobs : int, optional
            Accepted for compatibility and validated; it has no effect: r3d runs on one
            thread (``benchmarks/results/threads.md``).
        progress : bool or callable, default False
            True shows a bootstrap progress bar on stderr (tqdm if installed); a callable is
            called as ``progress(done, n_boot)``. Never changes the results.
        donut : float, default 0
            Leave out the units with ``|X - cutoff| < donut`` (a "donut" RD: units right at the
            cutoff are the likeliest to have sorted). They are counted in ``res.data.n_donut`` and
            named in the notes; ``res.compare(other)`` compares the fit with one without the donut.
        masspoints : {"check", "adjust", "off"}, default "check"
            Mass points in the running variable (units sharing values of x; docs/cells.md), as
            rdrobust's option: "check" counts distinct values per side and inside the window, shows
            them in the summary and warns when units share values; "adjust" also makes the selector
            use the number of distinct values where rdrobust does and enlarges selected bandwidths
            until each side has at least order + 2 distinct values inside; "off" does neither.
        vce : {"hc0", "hc1", "hc2", "hc3"}, optional
            Variance option, as rdrobust's ``vce=`` (docs/method.md §5, "Variance options"): each in-window unit's
            residual is scaled by 1 (hc0), sqrt(n_s / (n_s - p - 1)) (hc1, n_s the units with
            positive kernel weight on its side) or its leverage h_ii in its side's local fit,
            (1 - h_ii)^(-1/2) (hc2) or (1 - h_ii)^(-1) (hc3). The pointwise standard errors, the
            bootstrap (hence bands and tests), the first stage and cluster sums all use the scaled
            residuals; the bandwidth selector does not. With ``cluster=`` the options are their cluster
            analogues (docs/method.md §5, "With clusters"): CR0, CR1 (rdrobust's per-side factor), CR2 and
            CR3 (each cluster's residuals adjusted by its block of the side's hat matrix), rdrobust's "cr1",
            "cr2" and "cr3" for hc1-hc3 (which are accepted as spellings with clusters). Recorded in
            ``res.spec.vce``. The default (None) is "hc3" without clusters and "hc2" (CR2) with them, both
            chosen by simulation: with 300 units HC0's standard errors are 7-8% small
            (benchmarks/results/montecarlo_vce.md); with clusters CR2 is within 3% of the true spread where
            CR3 is 6-10% too large (benchmarks/results/montecarlo_clusters_variance.md). "hc0" gives
            rdrobust's and the R package's HC0 numbers.

        Returns
        -------
        R3DResults
        """
        units = self._data.units
        grid = self._grid(quantiles)
        opts = fit_options(method=method, order=order, pilot_order=pilot_order, kernel=kernel, bandwidth=bandwidth,
                           bandwidth_treatment=bandwidth_treatment, regularize=regularize,
                           quantile_method=quantile_method, n_boot=n_boot, alpha=alpha, band=band, rng=rng,
                           n_jobs=n_jobs, progress=progress, grid_size=grid.size, fuzzy=units.t is not None,
                           donut=donut, masspoints=masspoints, vce=vce,
                           clustered=units.cluster_codes is not None)
        qmethod = self._check_quantile_method(opts.quantile_method)
        if opts.donut > 0:
            inside = np.abs(units.x - self.cutoff) < opts.donut
            if inside.any():
                return self._donut_fit(inside, opts, grid, qmethod)
        return self._fit(opts, grid, qmethod)

    def _donut_fit(self, inside: np.ndarray, opts: Any, grid: np.ndarray, qmethod: str) -> R3DResults:
        """Fit without the units flagged ``inside`` the donut (counted and noted)."""
        x, c, d = self._data.units.x, self.cutoff, opts.donut
        left = x < c
        n_in_left, n_in_right = int((inside & left).sum()), int((inside & ~left).sum())
        for side, n_side, n_in in (("left", int(left.sum()), n_in_left), ("right", int((~left).sum()), n_in_right)):
            if n_in == n_side:
                far = float(np.max(np.abs(x[left] - c))) if side == "left" else float(np.max(np.abs(x[~left] - c)))
                raise ValueError(message(
                    "donut", f"smaller than the distance from the cutoff to the farthest unit on the {side} "
                    f"side ({far:.6g})", d, f"The donut would leave no unit on the {side} side; use a smaller donut."))
        text = (f"Donut: {n_in_left + n_in_right} unit(s) with |{self._data.names.running} - {c:g}| < {d:g} were "
                f"left out ({n_in_left} left, {n_in_right} right); {x.size - n_in_left - n_in_right} units remain.")
        return self._subset(~inside)._fit(opts, grid, qmethod, donut=(n_in_left + n_in_right, text))

    def _fit(self, opts: Any, grid: np.ndarray, qmethod: str, donut: tuple[int, str] | None = None) -> R3DResults:
        """The pipeline on validated options (``donut``: the units a donut left out and its note)."""
        units = self._data.units
        notes = Notes(self._data.notes)
        if donut is not None:
            notes.extend([donut[1]])

        Q = self._quantile_matrix(grid, qmethod)
        bw = choose_bandwidths(units.x, Q, grid, cutoff=self.cutoff, bandwidth=opts.bandwidth,
                               bandwidth_treatment=opts.bandwidth_treatment, t=units.t, kernel=opts.kernel,
                               order=opts.order, pilot_order=opts.pilot_order, regularize=opts.regularize,
                               adjust=self._adjuster(opts.order, opts.kernel), omega=units.unit_weights,
                               n_rate=distinct_rate(units.x) if opts.masspoints == "adjust" else None)
        n_enlarged = 0
        if opts.masspoints == "adjust":
            bw, n_enlarged = _enlarge_selected(bw, units.x, self.cutoff, opts.order)
        notes.extend(bw.warnings)
        est = _estimate(units.x, Q, grid, cutoff=self.cutoff, h=bw.h, order=opts.order, kernel=opts.kernel,
                        method=opts.method, t=units.t, h_treatment=bw.h_treatment, covariates=units.covariates,
                        covariate_names=self._data.names.covariates, notes=notes, omega=units.unit_weights,
                        vce=opts.vce, clusters=units.cluster_codes)
        mass = None
        if opts.masspoints != "off":
            mass = count_mass_points(units.x, self.cutoff, est.fit_plus.kernel_weights, est.fit_minus.kernel_weights,
                                     mode=opts.masspoints, n_enlarged=n_enlarged)
            report_mass_points(mass, notes)
        check_units_per_side(est, opts.order, notes)
        inf = infer(est, units.cluster_codes, n_boot=opts.n_boot, alpha=opts.alpha, band=opts.band, rng=opts.rng,
                    progress=opts.progress, notes=notes)
        few = self._few_draws(est, grid, qmethod, notes)  # last: the notes before it keep their numbers

        n_right = int((units.x >= self.cutoff).sum())
        names = self._data.names
        data = DataInfo(
            outcome_name=names.outcome, running_name=names.running, unit_name=names.unit,
            treatment_name=names.treatment, cluster_name=names.cluster, cutoff=self.cutoff,
            nobs=self.nobs, ndraws=self.ndraws, n_left=self.nobs - n_right, n_right=n_right,
            n_dropped_draws=self.n_dropped_draws, n_dropped_units=self.n_dropped_units,
            n_clusters=None if units.cluster_ids is None else len(units.cluster_ids),
            unit_ids=self.unit_ids, n_single_draw_units=self.n_single_draw_units,
            n_donut=0 if donut is None else donut[0],
            unit_weights_name=names.unit_weights,
            sum_unit_weights=None if units.unit_weights is None else float(units.unit_weights.sum()),
            mass_points=mass,
            few_draws=few,
        )
        spec = FitSpec(method=opts.method, order=opts.order, pilot_order=opts.pilot_order, kernel=opts.kernel,
                       bandwidth_rule=opts.rule, quantile_method=qmethod, n_boot=opts.n_boot, alpha=opts.alpha,
                       band=opts.band, regularize=opts.regularize, seed=opts.seed, donut=opts.donut, vce=opts.vce)
        return R3DResults(model=self._fitted_view(est), estimate=est, inference=inf, spec=spec, data=data,
                          bandwidth=bw, notes=list(notes.texts))

    def _few_draws(self, est: Estimate, grid: np.ndarray, qmethod: str, notes: Notes) -> Any:
        """The few-draws diagnostic of a fit (:mod:`r3d.fewdraws`; None without draw counts), warned
        about once when a level is affected, unless every unit has a single draw: then the data's
        point-mass warning has already said that no level is resolved."""
        counts = self._data.draw_counts
        if counts is None:
            return None
        few = count_few_draws(counts, grid, est.fit_plus.kernel_weights, est.fit_minus.kernel_weights)
        if self.n_single_draw_units != self.nobs:
            report_few_draws(few, notes, qmethod)
        return few

    def covariate_balance(
        self,
        bandwidth: Any = None,
        order: int | None = None,
        kernel: str | None = None,
        *,
        pilot_order: int | None = None,
        n_boot: int = 999,
        alpha: float = 0.05,
        rng: Any = None,
        vce: str | None = None,
    ) -> Any:
        """The jump of each unit-level covariate at the cutoff, with a joint test (docs/covariates.md).

        Predetermined covariates should not jump at the cutoff; a jump casts doubt on the design
        (sorting around the cutoff). Each covariate's jump is a scalar local polynomial RD at the unit
        level, with the model's clusters, and the joint test is the largest ``|z|`` against its bootstrap
        distribution (:func:`r3d.balance.covariate_balance`).

        Parameters
        ----------
        bandwidth : None, float or array_like
            None: one MSE-optimal bandwidth per covariate; a number: one for all; a (k,) array: one
            per covariate.
        order : int, optional
            Local polynomial order p (default 2, as :meth:`fit`).
        kernel : str, optional
            Default "triangular", as :meth:`fit`.
        pilot_order : int, optional
            Order s the selected bandwidths are MSE-optimal for (default 1, as :meth:`fit`).
        n_boot : int, default 999
            Bootstrap draws of the joint test (0: no joint test).
        alpha : float, default 0.05
        rng : None, int or numpy.random.Generator
            Seed of the joint test's multipliers.
        vce : {"hc0", "hc1", "hc2", "hc3"}, optional
            Variance option of the standard errors and the joint test, as :meth:`fit`'s (with the model's
            clusters CR0-CR3); the same default: "hc3", or "hc2" (CR2) with clusters.

        Returns
        -------
        r3d.balance.CovariateBalance
        """
        from r3d.balance import covariate_balance

        units = self._data.units
        if units.covariates is None:
            raise ValueError(message("covariates", "given when the model is built to check their balance", None,
                                     "Build the model with covariates=..., e.g. R3D.from_formula(..., "
                                     "covariates=\"age + C(sector)\")."))
        return covariate_balance(units.x, units.covariates, cutoff=self.cutoff, names=list(self._data.names.covariates),
                                 h=bandwidth, order=2 if order is None else order,
                                 pilot_order=1 if pilot_order is None else pilot_order,
                                 kernel="triangular" if kernel is None else kernel,
                                 cluster_codes=units.cluster_codes, n_boot=n_boot, alpha=alpha, rng=rng,
                                 unit_weights=units.unit_weights, vce=vce)

    def density_test(
        self,
        bandwidth: Any = None,
        *,
        order: int = 2,
        kernel: str = "triangular",
        bwselect: str = "comb",
    ) -> Any:
        """The Cattaneo-Jansson-Ma density (manipulation) test at the cutoff, on one observation per unit.

        Sorting of units around the cutoff shows as a jump in the density of the running variable.
        The test uses each unit's running variable once (never the draws) and equals the
        ``rddensity`` package's statistic, p-value, bandwidths and side densities on the same values
        (:func:`r3d.density.density_test`; docs/falsification.md).

        Parameters
        ----------
        bandwidth : None, float or (float, float)
            None: rddensity's MSE-optimal bandwidths; a number: one for both sides; a pair
            ``(h_left, h_right)``.
        order : int, default 2
            Polynomial order p (rddensity's ``p``, 1 to 7).
        kernel : {"triangular", "epanechnikov", "uniform"}
        bwselect : {"comb", "each", "diff", "sum"}
            rddensity's bandwidth choice; "comb" is its default, "each" one MSE-optimal bandwidth
            per side.

        Returns
        -------
        r3d.density.DensityTest
        """
        order = check_int("order", order, low=1, high=MAX_DENSITY_ORDER)
        kernel = canonical_kernel(kernel)
        bwselect = check_choice("bwselect", bwselect, BWSELECT)
        h = _as_density_bandwidth(bandwidth)
        return _density_test(np.sort(self._data.units.x), cutoff=self.cutoff, h=h, order=order, kernel=kernel,
                             bwselect=bwselect, name=str(self._data.names.running))

    def binomial_test(self, windows: Any = None) -> Any:
        """Exact binomial tests of no sorting in symmetric windows around the cutoff, one observation per unit.

        Parameters
        ----------
        windows : None or array_like
            Half-widths w of the windows ``[c - w, c + w]``; None: the windows holding the nearest
            20, 40, ..., 200 units (:func:`r3d.density.binomial_test`).

        Returns
        -------
        r3d.density.BinomialTest
        """
        return binomial_test(self._data.units.x, cutoff=self.cutoff, windows=windows)

    def _adjuster(self, order: int, kernel: str) -> Any:
        """The covariate adjustment the bandwidth selector applies (None without covariates)."""
        Z = self._data.units.covariates
        if Z is None:
            return None
        x, names = self._data.units.x, self._data.names.covariates

        def adjust(Y: np.ndarray, h: np.ndarray) -> np.ndarray:
            return adjust_for_covariates(x, np.ascontiguousarray(Y), Z, cutoff=self.cutoff, h=h, order=order,
                                         kernel=kernel, names=names, omega=self._data.units.unit_weights).Y

        return adjust

    def _fitted_view(self, est: Estimate) -> R3D:
        """This model (sharing its data) labelled with the fit's parameter names, for ``res.model``."""
        from r3d._summary import format_level

        view = copy.copy(self)
        view._exog_names = [f"tau({format_level(q)})" for q in est.quantiles]
        return view


def _enlarge_selected(bw: BandwidthChoice, x: np.ndarray, cutoff: float, order: int) -> tuple[BandwidthChoice, int]:
    """``masspoints="adjust"``: selected bandwidths (and a selected h_T) raised until each side keeps
    order + 2 distinct values of x inside the window; bandwidths given by the user are kept."""
    n = 0
    h, h_t = bw.h, bw.h_treatment
    if bw.rule != "fixed":
        h, n = enlarge_bandwidths(x, cutoff, bw.h, order)
    if bw.treatment_source == "selected":
        ht, n_t = enlarge_bandwidths(x, cutoff, np.array([bw.h_treatment]), order)
        h_t, n = float(ht[0]), n + n_t
    return (dataclasses.replace(bw, h=h, h_treatment=h_t) if n else bw), n


def select_bandwidth(mod, method="frechet", order=2, pilot_order=1, kernel="triangular", rule="auto",
                     quantiles=None, quantile_method="linear", regularize=True) -> BandwidthSelection:
    """Data-driven bandwidth(s) with every intermediate (the analogue of rdbwselect).

    Parameters
    ----------
    mod : R3D
    method : {"frechet", "simple"}
    rule : {"auto", "mse", "imse", "cer-mse", "cer-imse"}
        "auto" resolves to "imse" for frechet and "mse" for simple.

    Returns
    -------
    r3d.bandwidth.BandwidthSelection
    """
    method = check_choice("method", method, ("frechet", "simple"))
    kernel = canonical_kernel(kernel)
    rule = resolve_rule(rule, method, name="rule")
    order, pilot_order = check_orders(order, pilot_order)
    if not isinstance(regularize, (bool, np.bool_)):
        raise TypeError(message("regularize", "True or False", regularize))
    grid = mod._grid(quantiles)
    method_q = mod._check_quantile_method(check_choice("quantile_method", quantile_method, QUANTILE_METHODS))
    Q = mod._quantile_matrix(grid, method_q)
    return _select_bandwidths(mod._data.units.x, Q, grid, cutoff=mod.cutoff, rule=rule, kernel=kernel, order=order,
                              s=pilot_order, regularize=bool(regularize), t=mod._data.units.t,
                              adjust=mod._adjuster(order, kernel), omega=mod._data.units.unit_weights)
