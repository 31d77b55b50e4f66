"""R3D: the model. Holds validated data; ``fit()`` takes the estimation choices and
orchestrates the pipeline (unit quantiles -> bandwidth -> estimator -> inference ->
results). Numbers are computed by module functions; nothing numerical lives here.
"""

from __future__ import annotations

import contextlib
import numbers
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from r3d import bootstrap as _boot
from r3d._validation import (
    DroppedDataWarning,
    R3DWarning,
    SmallSampleWarning,
    WeakFirstStageWarning,
    check_choice,
    check_int,
    check_positive,
    check_probability,
    message,
    resolve_n_jobs,
)
from r3d.data import (
    LongData,
    UnitData,
    _drop_units,
    as_float_array,
    display_value,
    prepare_long,
    prepare_samples,
    prepare_units,
)
from r3d.estimators import METHODS, Estimate, average_weights, estimate
from r3d.formula import data_column, parse_formula
from r3d.locpoly import canonical_kernel
from r3d.quantiles import QUANTILE_METHODS, quantile_grid, unit_quantiles
from r3d.results import DataInfo, FitSpec, Inference, R3DResults

__all__ = ["R3D"]

BANDWIDTH_RULES = ("auto", "mse", "imse", "cer-mse", "cer-imse")
#: Weak-instrument rule of thumb for the fuzzy first stage: warn when (jump / se)^2 < 10
#: (Staiger and Stock's F < 10 with one instrument).
WEAK_FIRST_STAGE_F = 10.0
#: Warn when a side has fewer units with positive kernel weight than this multiple of p + 1.
FEW_UNITS_PER_PARAMETER = 5


@dataclass(frozen=True, slots=True)
class _Names:
    outcome: str = "outcome"
    running: str = "running"
    unit: str = "unit"
    treatment: str | None = None
    cluster: str | None = None


def _single_threaded_blas() -> contextlib.AbstractContextManager:
    """BLAS on one thread for the duration of a fit (when threadpoolctl is installed).

    A fit's BLAS calls are thin products (n x 3 pilot designs, one matrix-vector product);
    the heavy loops are r3d's own OpenMP kernels, sized by ``n_jobs``. Letting OpenBLAS's
    pthreads run on top of them oversubscribes the cores (several times slower on a busy
    machine) and gains nothing; the results are the same bits either way.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _reemit(caught: list, stacklevel: int = 3) -> list[str]:
    """Re-issue recorded warnings so they point at the user's line; return r3d's messages as notes."""
    notes = []
    for w in caught:
        if issubclass(w.category, R3DWarning):
            notes.append(str(w.message))
        warnings.warn(w.message, w.category, stacklevel=stacklevel)
    return notes


def _name(obj: Any, default: str) -> str:
    n = getattr(obj, "name", None)
    return str(n) if n is not None else default


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
        Unit-level take-up (0/1): fuzzy design.
    weights : array-like (N,), optional
        Within-unit sampling weights (rows with weight 0 or missing are dropped).
    cluster : array-like (N,), optional
        Cluster above the unit level, for the bootstrap and the variance.

    Notes
    -----
    Rows with a missing outcome (or weight) are dropped and counted; units left
    without draws are dropped with a warning. See ``from_formula``,
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
    ) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            long = prepare_long(outcome, running, unit, treatment=treatment, weights=weights, cluster=cluster)
        names = _Names(
            outcome=_name(outcome, "outcome"), running=_name(running, "running"), unit=_name(unit, "unit"),
            treatment=None if treatment is None else _name(treatment, "treatment"),
            cluster=None if cluster is None else _name(cluster, "cluster"),
        )
        self._setup(long.units, long=long, cutoff=cutoff, names=names, notes=_reemit(caught))

    # Draw counts and quantile method of a model whose quantiles were computed out of core
    # (r3d.backends: from_parquet, from_formula on a Dask DataFrame); from_quantiles has none.
    _ndraws_ooc: int | None = None
    _n_dropped_draws_ooc: int = 0
    _qmat_method: str = "user-supplied"

    def _setup(self, units: UnitData, *, long: LongData | None, cutoff: Any, names: _Names,
               qmat: np.ndarray | None = None, qgrid: np.ndarray | None = None,
               notes: list[str] | None = None) -> None:
        self._notes = list(notes or [])  # data warnings, repeated in every fit's notes
        self._units = units
        self._long = long
        self._names = names
        self.cutoff = _check_cutoff(cutoff, units.x)
        self._qmat = qmat
        self._qgrid = qgrid
        self._cache: dict[tuple, np.ndarray] = {}

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
            Column names (take-up 0/1, sampling weights, cluster ids).
        eval_env : int
            Frames above the caller whose names the formula may use (0 = the caller).
        quantiles, quantile_method
            Only for a ``dask.dataframe.DataFrame``: its unit quantiles are computed on
            the cluster on this grid, and the model fits on it (``from_quantiles``
            semantics; see docs/bigdata.md). For pandas data pass them to ``fit()``.
        """
        frame = sys._getframe(1 + eval_env)
        context = {**frame.f_globals, **frame.f_locals}
        if type(data).__module__.split(".")[0] == "dask":
            from r3d.backends.dask import quantiles_from_dask

            return quantiles_from_dask(cls, formula, data, cutoff=cutoff, unit=unit, treatment=treatment,
                                       weights=weights, cluster=cluster, context=context, quantiles=quantiles,
                                       quantile_method=quantile_method)
        if quantiles is not None or quantile_method != "linear":
            raise ValueError(message("quantiles", "None for a pandas DataFrame (only a Dask DataFrame takes it here)",
                                     quantiles if quantiles is not None else quantile_method,
                                     "Pass `quantiles`/`quantile_method` to fit()."))
        cols = parse_formula(formula, data, context=context)
        unit_col = data_column("unit", unit, data)
        t_col = None if treatment is None else data_column("treatment", treatment, data)
        w_col = None if weights is None else data_column("weights", weights, data)
        c_col = None if cluster is None else data_column("cluster", cluster, data)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            long = prepare_long(cols.outcome, cols.running, unit_col, treatment=t_col, weights=w_col, cluster=c_col,
                                copy_outcome=False)  # the formula's columns are new arrays
        names = _Names(outcome=cols.outcome_name, running=cols.running_name, unit=str(unit),
                       treatment=treatment, cluster=cluster)
        obj = cls.__new__(cls)
        obj._setup(long.units, long=long, cutoff=cutoff, names=names, notes=_reemit(caught))
        obj.formula = formula
        return obj

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
    ) -> R3D:
        """Build from Parquet files too large for memory: DuckDB computes the unit quantiles.

        Needs the ``duckdb`` extra (``pip install "r3d-rdd[duckdb]"``). The draws are read
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
        """
        from r3d.backends.duckdb import quantiles_from_parquet

        return quantiles_from_parquet(cls, path, formula, unit=unit, cutoff=cutoff, treatment=treatment,
                                      weights=weights, cluster=cluster, quantiles=quantiles,
                                      quantile_method=quantile_method, memory_limit=memory_limit,
                                      threads=threads, temp_directory=temp_directory)

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
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            long = prepare_samples(samples, running, treatment=treatment, weights=weights, cluster=cluster,
                                   unit_ids=unit_ids)
        names = _Names(running=_name(running, "running"),
                       treatment=None if treatment is None else _name(treatment, "treatment"),
                       cluster=None if cluster is None else _name(cluster, "cluster"))
        obj = cls.__new__(cls)
        obj._setup(long.units, long=long, cutoff=cutoff, names=names, notes=_reemit(caught))
        return obj

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
    ) -> R3D:
        """Build from a precomputed unit quantile matrix (n units x m levels).

        Rows that are entirely missing are dropped with a warning; a row with some
        missing values, or a row that decreases, is an error.
        """
        grid = quantile_grid(quantiles)
        if isinstance(qmat, pd.DataFrame):
            qmat = qmat.to_numpy(dtype=np.float64, na_value=np.nan)
        Q = np.array(qmat, dtype=np.float64, copy=True)
        if Q.ndim != 2 or Q.shape[1] != grid.size:
            raise ValueError(message("qmat", f"a 2-D array with {grid.size} columns (one per quantile level)", Q))
        units = prepare_units(running, n_units=Q.shape[0], treatment=treatment, cluster=cluster, unit_ids=unit_ids)
        notes: list[str] = []
        nan_rows = np.isnan(Q)
        empty = nan_rows.all(axis=1)
        partial = nan_rows.any(axis=1) & ~empty
        if partial.any() or np.isinf(Q).any():
            i = int(np.flatnonzero(partial | np.isinf(Q).any(axis=1))[0])
            raise ValueError(message("qmat", "finite in every row that is not entirely missing",
                                     f"<non-finite values in the row of unit {display_value(units.unit_ids[i])}>"))
        if empty.any():
            units = _drop_units(units, ~empty)
            Q = Q[~empty]
            text = (f"{int(empty.sum())} unit(s) have no quantiles (rows entirely missing) and were dropped; "
                    f"{Q.shape[0]} units remain.")
            notes.append(text)
            warnings.warn(text, DroppedDataWarning, stacklevel=2)
        dec = np.diff(Q, axis=1) < -1e-12 * np.maximum(1.0, np.abs(Q[:, 1:]))
        if dec.any():
            i = int(np.flatnonzero(dec.any(axis=1))[0])
            raise ValueError(message("qmat", "non-decreasing along each row (a quantile function)",
                                     f"<a decreasing row for unit {display_value(units.unit_ids[i])}>",
                                     "Check that columns follow `quantiles` in increasing order."))
        names = _Names(running=_name(running, "running"),
                       treatment=None if treatment is None else _name(treatment, "treatment"),
                       cluster=None if cluster is None else _name(cluster, "cluster"))
        obj = cls.__new__(cls)
        obj._setup(units, long=None, cutoff=cutoff, names=names, qmat=Q, qgrid=grid, notes=notes)
        return obj

    # ------------------------------------------------------------------ data properties
    @property
    def nobs(self) -> int:
        """Number of units."""
        return int(self._units.x.shape[0])

    @property
    def ndraws(self) -> int | None:
        """Number of within-unit draws used (None when built from quantiles)."""
        return self._ndraws_ooc if self._long is None else self._long.ndraws

    @property
    def unit_ids(self) -> pd.Index:
        """Unit labels, in order of first appearance."""
        return self._units.unit_ids

    @property
    def running(self) -> pd.Series:
        """Running variable per unit."""
        return pd.Series(self._units.x, index=self.unit_ids, name=self._names.running)

    @property
    def treatment(self) -> pd.Series | None:
        """Take-up per unit (fuzzy design), else None."""
        t = self._units.t
        return None if t is None else pd.Series(t, index=self.unit_ids, name=self._names.treatment)

    @property
    def n_dropped_draws(self) -> int:
        """Rows dropped for a missing outcome or a missing/zero weight."""
        return self._n_dropped_draws_ooc if self._long is None else self._long.n_dropped_draws

    @property
    def n_single_draw_units(self) -> int | None:
        """Units with a single draw (allowed: their quantile function is a point mass); None from quantiles."""
        if self._long is None:
            return None
        return int((np.bincount(self._long.codes, minlength=self.nobs) == 1).sum())

    @property
    def n_dropped_units(self) -> int:
        """Units dropped because no draws (or quantiles) remained."""
        return self._units.n_dropped_units

    def __repr__(self) -> str:
        design = "fuzzy" if self._units.t is not None else "sharp"
        draws = "" if self.ndraws is None else f", {self.ndraws} draws"
        return f"<R3D: {design}, {self.nobs} units{draws}, cutoff={self.cutoff:g}>"

    # ------------------------------------------------------------------ unit quantiles
    def _quantile_matrix(self, quantiles: Any, method: str, n_jobs: int | None) -> tuple[np.ndarray, np.ndarray]:
        if self._qmat is not None:
            if quantiles is None:
                return self._qgrid, self._qmat
            grid = quantile_grid(quantiles)
            idx = np.searchsorted(self._qgrid, grid)
            ok = (idx < self._qgrid.size) & (np.abs(self._qgrid[np.minimum(idx, self._qgrid.size - 1)] - grid) < 1e-12)
            if not ok.all():
                raise ValueError(message("quantiles", "a subset of the levels given to from_quantiles", grid,
                                         "Omit `quantiles` to use all of them."))
            return grid, self._qmat[:, idx]
        grid = quantile_grid(quantiles)
        key = (method, grid.tobytes())
        if key not in self._cache:
            long = self._long
            Q = unit_quantiles(long.y, long.codes, self.nobs, grid, method=method, weights=long.weights, n_jobs=n_jobs)
            self._cache = {key: Q}  # keep only the latest matrix
        return grid, self._cache[key]

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
        method = check_choice("method", method, QUANTILE_METHODS)
        grid, Q = self._quantile_matrix(quantiles, method, None)
        return pd.DataFrame(Q.copy(), index=self.unit_ids, columns=pd.Index(grid, name="quantile"))

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
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
    ) -> R3DResults:
        """Estimate tau(q), its pointwise standard errors and (with ``n_boot > 0``)
        uniform bands and tests.

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
            Bias-variance regularisation in the selector (METHOD.md §6).
        quantiles : None, int or array-like
            Quantile grid (default 0.01..0.99).
        quantile_method : str
            numpy quantile method for the unit quantiles (default "linear").
        n_boot : int, default 999
            Multiplier bootstrap draws; 0 skips the bootstrap (no band, no tests).
        alpha : float, default 0.05
        band : {"uniform", "studentized"}
        rng : None, int or numpy.random.Generator
            Seed for the bootstrap multipliers.
        n_jobs : int, optional
            Threads for the compiled loops (default: all cores); results do not depend on it.
        progress : bool or callable, default False
            True shows a bootstrap progress bar on stderr (tqdm if installed); a callable is
            called as ``progress(done, n_boot)``. Never changes the results.

        Returns
        -------
        R3DResults
        """
        method = check_choice("method", method, METHODS, aliases={"wasserstein": "frechet", "pointwise": "simple"})
        order = check_int("order", order, low=0, high=10)
        pilot_order = check_int("pilot_order", pilot_order, low=0, high=9)
        kernel = canonical_kernel(kernel)
        quantile_method = check_choice("quantile_method", quantile_method, QUANTILE_METHODS)
        n_boot = check_int("n_boot", n_boot, low=0)
        alpha = check_probability("alpha", alpha)
        band = check_choice("band", band, _boot.BAND_TYPES, aliases={"studentised": "studentized", "sup-t": "studentized"})
        if not isinstance(regularize, (bool, np.bool_)):
            raise TypeError(message("regularize", "True or False", regularize))
        if n_boot and n_boot < int(np.ceil(1 / alpha)) - 1:
            raise ValueError(message("n_boot", f"0 or at least {int(np.ceil(1 / alpha)) - 1} for alpha={alpha:g}",
                                     n_boot, "Use more bootstrap draws (999 is the default)."))
        threads = resolve_n_jobs(n_jobs)
        gen = np.random.default_rng(rng)

        with warnings.catch_warnings(record=True) as caught, _single_threaded_blas():
            warnings.simplefilter("always")
            if self._qmat is not None and quantile_method not in ("linear", self._qmat_method):
                raise ValueError(message(
                    "quantile_method", f"{self._qmat_method!r} (the unit quantiles were given or computed when the "
                    "model was built)", quantile_method, "Rebuild the model with the method you want."))
            grid, Q = self._quantile_matrix(quantiles, quantile_method, threads)
            rule, h, h_t, info = self._bandwidths(bandwidth, bandwidth_treatment, method=method, grid=grid, Q=Q,
                                                  kernel=kernel, order=order, pilot_order=pilot_order,
                                                  regularize=bool(regularize), n_jobs=threads)
            est = estimate(self._units.x, Q, grid, cutoff=self.cutoff, h=h if h.size > 1 else float(h[0]),
                           order=order, kernel=kernel, method=method, t=self._units.t, h_treatment=h_t,
                           n_jobs=threads)
            inf = _inference(est, self._units.cluster_codes, n_boot=n_boot, alpha=alpha, band=band, rng=gen,
                             progress=progress, n_jobs=threads)
            _check_fit(est, inf, order)
        notes = self._notes + _reemit(caught)

        x = self._units.x
        n_right = int((x >= self.cutoff).sum())
        data = DataInfo(
            outcome_name=self._names.outcome, running_name=self._names.running, unit_name=self._names.unit,
            treatment_name=self._names.treatment, cluster_name=self._names.cluster, cutoff=self.cutoff,
            nobs=self.nobs, ndraws=self.ndraws, n_left=self.nobs - n_right, n_right=n_right,
            n_dropped_draws=self.n_dropped_draws, n_dropped_units=self.n_dropped_units,
            n_clusters=None if self._units.cluster_ids is None else len(self._units.cluster_ids),
            unit_ids=self.unit_ids, n_single_draw_units=self.n_single_draw_units,
        )
        spec = FitSpec(method=method, order=order, pilot_order=pilot_order, kernel=kernel, bandwidth_rule=rule,
                       quantile_method=quantile_method if self._qmat is None else self._qmat_method,
                       n_boot=n_boot, alpha=alpha, band=band, regularize=bool(regularize))
        return R3DResults(estimate=est, inference=inf, spec=spec, data=data, bandwidth=h,
                          bandwidth_treatment=h_t, bandwidth_info=info, notes=notes)

    def _bandwidths(self, bandwidth: Any, bandwidth_treatment: Any, *, method: str, grid: np.ndarray,
                    Q: np.ndarray, kernel: str, order: int, pilot_order: int, regularize: bool,
                    n_jobs: int | None = None):
        """Resolve ``bandwidth``/``bandwidth_treatment`` to numbers (selecting them if asked)."""
        fuzzy = self._units.t is not None
        h_t = None
        if bandwidth_treatment is not None:
            if not fuzzy:
                raise ValueError(message("bandwidth_treatment", "None for a sharp design (no `treatment`)",
                                         bandwidth_treatment))
            h_t = check_positive("bandwidth_treatment", bandwidth_treatment)
        if isinstance(bandwidth, str):
            rule = check_choice("bandwidth", bandwidth, BANDWIDTH_RULES)
            if rule == "auto":
                rule = "imse" if method == "frechet" else "mse"
            if method == "frechet" and rule in ("mse", "cer-mse"):
                raise ValueError(message("bandwidth", "an IMSE rule ('imse', 'cer-imse', 'auto') or a number for "
                                         "method='frechet'", bandwidth,
                                         "The Fréchet estimator uses one bandwidth for all quantiles."))
            sel = self._select(rule, grid, Q, kernel=kernel, order=order, pilot_order=pilot_order,
                               regularize=regularize, with_treatment=fuzzy and h_t is None, n_jobs=n_jobs)
            h = np.asarray(sel.h, dtype=np.float64)
            if rule in ("imse", "cer-imse"):
                h = h[:1]
            if fuzzy and h_t is None:
                h_t = float(sel.h_treatment)
            return rule, h, h_t, sel.as_dict()
        if np.ndim(bandwidth) == 0:
            h = np.array([check_positive("bandwidth", bandwidth)])
        else:
            h = as_float_array("bandwidth", np.ravel(np.asarray(bandwidth, dtype=object)))
            if h.size != grid.size:
                raise ValueError(message("bandwidth", f"a number or an array of {grid.size} bandwidths (one per "
                                         "quantile)", f"<an array of length {h.size}>"))
            if not (np.isfinite(h).all() and (h > 0).all()):
                raise ValueError(message("bandwidth", "finite and > 0 for every quantile", "<an array with "
                                         "non-positive or missing entries>"))
            if method == "frechet":
                raise ValueError(message("bandwidth", "a single number for method='frechet'",
                                         "<an array of per-quantile bandwidths>",
                                         "Use method='simple' for per-quantile bandwidths."))
            if np.all(h == h[0]):
                h = h[:1]
        info: dict[str, Any] = {}
        if fuzzy and h_t is None:
            sel = self._select("mse", np.array([0.5]), self._units.t.reshape(-1, 1), kernel=kernel, order=order,
                               pilot_order=pilot_order, regularize=regularize, with_treatment=False, n_jobs=n_jobs)
            h_t = float(np.asarray(sel.h).reshape(-1)[0])
            info = {"treatment": sel.as_dict()}
        return "fixed", h, h_t, info

    def _select_bandwidth(self, *, method, order, pilot_order, kernel, rule, quantiles, quantile_method, regularize):
        """Public face of the selector (``r3d.select_bandwidth``)."""
        method = check_choice("method", method, METHODS)
        kernel = canonical_kernel(kernel)
        rule = check_choice("rule", rule, BANDWIDTH_RULES)
        if rule == "auto":
            rule = "imse" if method == "frechet" else "mse"
        grid, Q = self._quantile_matrix(quantiles, check_choice("quantile_method", quantile_method, QUANTILE_METHODS),
                                        None)
        return self._select(rule, grid, Q, kernel=kernel, order=check_int("order", order, low=0, high=10),
                            pilot_order=check_int("pilot_order", pilot_order, low=0, high=9),
                            regularize=bool(regularize), with_treatment=self._units.t is not None)

    def _select(self, rule, grid, Q, *, kernel, order, pilot_order, regularize, with_treatment, n_jobs=None):
        from r3d.bandwidth import select_bandwidths

        return select_bandwidths(self._units.x, Q, grid, cutoff=self.cutoff, rule=rule, kernel=kernel, order=order,
                                 pilot_order=pilot_order, regularize=regularize,
                                 t=self._units.t if with_treatment else None, n_jobs=n_jobs)


def _inference(est: Estimate, cluster_codes: np.ndarray | None, *, n_boot: int, alpha: float, band: str,
               rng: np.random.Generator, progress: Any = False, n_jobs: int | None = None) -> Inference:
    """Pointwise HC0 variance, the average effect's variance and the multiplier bootstrap."""
    a = est.influence
    V = _boot.pointwise_variance(a, cluster_codes=cluster_codes)
    a_avg = a @ average_weights(est.quantiles)
    avg_var = float(_boot.pointwise_variance(a_avg[:, None], cluster_codes=cluster_codes)[0])
    jump_var = None
    if est.first_stage is not None:
        jump_var = float(_boot.pointwise_variance(est.first_stage.influence[:, None], cluster_codes=cluster_codes)[0])
    draws = ub = None
    if n_boot:
        draws = _boot.bootstrap_draws(a, n_boot=n_boot, rng=rng, cluster_codes=cluster_codes, progress=progress,
                                      n_jobs=n_jobs)
        ub = _boot.uniform_band(est.tau, draws, alpha=alpha, band=band, se=np.sqrt(V))
    return Inference(variance=V, draws=draws, band=ub, average_variance=avg_var, jump_variance=jump_var)


def _check_fit(est: Estimate, inf: Inference, order: int) -> None:
    """Warnings a user should see about a fit (recorded in the results' notes)."""
    need = FEW_UNITS_PER_PARAMETER * (order + 1)
    for side, fit in (("left", est.fit_minus), ("right", est.fit_plus)):
        n = int(np.min(fit.n_effective))
        if n < need:
            warnings.warn(f"Only {n} units receive positive kernel weight on the {side} side (fewer than "
                          f"{need} = {FEW_UNITS_PER_PARAMETER} x (order + 1)); estimates and standard errors "
                          "may be unstable. Consider a larger bandwidth or a lower order.", SmallSampleWarning)
    fs = est.first_stage
    if fs is not None and inf.jump_variance is not None:
        se = np.sqrt(inf.jump_variance)
        f_stat = (fs.jump / se) ** 2 if se > 0 else np.inf
        if f_stat < WEAK_FIRST_STAGE_F:
            warnings.warn(f"Weak first stage: the take-up jump is {fs.jump:.3g} (se {se:.3g}, F = {f_stat:.2f} < "
                          f"{WEAK_FIRST_STAGE_F:g}); the fuzzy estimates and their normal-based inference are "
                          "unreliable.", WeakFirstStageWarning)
