"""Covariate balance at the cutoff (METHOD_EXTENSIONS §9, "Balance"; docs/covariates.md).

A predetermined unit-level covariate should not jump at the cutoff. For each column ``Z_j`` of
the (n, k) covariate matrix this module estimates its jump as a scalar local polynomial RD at
the unit level, with the estimator's smoother (:func:`r3d.estimators.local_jump`, same kernel and
order)::

    jump_j = m_{+,j} - m_{-,j},   a_ij = (w_ij^+ - w_ij^-) c_ij e_ij,   se_j^2 = sum_g (sum_{i in g} a_ij)^2

(the variance option ``vce`` of a fit, HC3 by default: c_ij the residual factor of
:func:`r3d.estimators.residual_scale`, or with clusters CR0-CR3's adjusted residuals; exactly the
pointwise variance of a fit, so it equals rdrobust's conventional estimate and standard error with
the same ``vce``, with clusters its "cr1" / "cr2" / "cr3", at the same bandwidth), its
z statistic and two-sided normal p-value, and a joint test of H0: no covariate jumps,

    S = max_j |jump_j / se_j|,   S_b = max_j |G_bj / se_j|,   G_bj = sum_g xi_gb A_gj,

with the multipliers ``xi`` shared by all covariates (:func:`r3d.bootstrap.bootstrap_draws`), so
the test accounts for the covariates' correlation. Its p-value and critical value are those of
every bootstrap test of the package (``(1 + #{b: S_b >= S}) / (B + 1)``, the
``ceil((1 - alpha)(B + 1))``-th smallest ``S_b``).

Bandwidths: ``h=None`` selects one MSE-optimal bandwidth per covariate with the package's
selector, as the fuzzy first stage's ``h_T`` is selected (``r3d.bandwidth`` rule "mse" on the
column alone, pilot order ``pilot_order``): each covariate is its own RD problem, with its own
curvature and noise, as in the balance tables of Cattaneo, Idrobo and Titiunik (2020). A number
gives one common bandwidth; a (k,) array one per covariate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from r3d import _repr as _r
from r3d._validation import (
    DegenerateOutcomeWarning,
    Notes,
    SmallSampleWarning,
    check_finite,
    check_int,
    check_positive,
    check_probability,
    check_rng,
    message,
)
from r3d.bandwidth import _select_bandwidths
from r3d.bootstrap import _aggregate, _as_codes, _draws, _variance_and_se, critical_value
from r3d.estimators import FEW_UNITS_PER_PARAMETER, _snap_flat, check_vce, local_jump
from r3d.locpoly import MAX_ORDER, _as_float_1d, canonical_kernel

__all__ = ["CovariateBalance", "JointBalanceTest", "covariate_balance"]

#: The columns of :attr:`CovariateBalance.frame`, in order.
FRAME_COLUMNS = ("jump", "se", "z", "pvalue", "ci_lower", "ci_upper", "left", "right", "h", "n_left", "n_right")


@dataclass(frozen=True, slots=True)
class JointBalanceTest:
    """The joint test of H0: no covariate jumps at the cutoff (the largest absolute z, bootstrap critical value).

    Attributes
    ----------
    statistic : float
        ``S = max_j |z_j|`` over the covariates with a positive standard error (``inf`` when a
        covariate jumps without sampling variation).
    critical_value : float
        ``ceil((1 - alpha)(B + 1))``-th smallest of the ``B`` bootstrap maxima
        ``max_j |G_bj| / se_j`` (``inf`` if ``B`` is too small for ``alpha``);
        ``statistic > critical_value`` exactly when ``pvalue <= alpha``.
    pvalue : float
        ``(1 + #{b : S_b >= S}) / (B + 1)``.
    n_boot : int
        Bootstrap draws ``B``.
    alpha : float
        Level of :attr:`critical_value` and :attr:`reject`.
    n_covariates : int
        Covariates in the maximum (those with ``se > 0``).
    """

    __test__ = False  # not a pytest test class

    statistic: float
    critical_value: float
    pvalue: float
    n_boot: int
    alpha: float
    n_covariates: int

    @property
    def reject(self) -> bool:
        """Whether H0 is rejected at level :attr:`alpha` (``pvalue <= alpha``)."""
        return bool(self.pvalue <= self.alpha)

    def _display(self) -> list[tuple[str, str]]:
        return [("H0", "no covariate jumps at the cutoff"), ("statistic (max |z|)", _r.num(self.statistic)),
                (f"critical value ({_coverage(self.alpha)})", _r.num(self.critical_value)),
                ("p-value", _r.pvalue(self.pvalue)), ("covariates", str(self.n_covariates)),
                ("bootstrap draws", str(self.n_boot)), (f"reject at {self.alpha:g}", "yes" if self.reject else "no")]

    def __repr__(self) -> str:
        return _r.one_line("JointBalanceTest", "max |z|",
                           [("S", _r.num(self.statistic)),
                            (f"crit({_coverage(self.alpha)})", _r.num(self.critical_value)),
                            ("p", _r.pvalue(self.pvalue)), ("k", str(self.n_covariates)), ("B", str(self.n_boot))])

    def _repr_html_(self) -> str:
        return _r.html_table("JointBalanceTest: no covariate jumps at the cutoff", self._display())


def _coverage(alpha: float) -> str:
    return f"{100 * (1 - alpha):.4g}%"


@dataclass(frozen=True, slots=True)
class CovariateBalance:
    """The jump of each covariate at the cutoff and a joint test (:func:`covariate_balance`).

    ``k`` covariates. Read :attr:`frame` for the table, :attr:`joint` for the joint test.

    Attributes
    ----------
    names : tuple of str
        (k,) covariate names.
    jump : ndarray
        (k,) ``m_+ - m_-``, the local polynomial jump of each covariate.
    se : ndarray
        (k,) standard errors under :attr:`vce` (cluster-robust with clusters).
    left, right : ndarray
        (k,) the one-sided limits ``m_-``, ``m_+``.
    h : ndarray
        (k,) bandwidth of each covariate's fits.
    n_left, n_right : ndarray of int
        (k,) units with positive kernel weight on each side.
    sd : ndarray
        (k,) standard deviation of each covariate over all units (ddof = 1; the plot's unit).
    cutoff : float
    order : int
        Local polynomial order p.
    kernel : str
    bandwidth_rule : str
        ``"mse"`` (selected per covariate) or ``"fixed"``.
    alpha : float
        1 - coverage of the intervals, level of the joint test.
    joint : JointBalanceTest or None
        The joint test (None when ``n_boot = 0``).
    draws : ndarray or None
        (n_boot, k) bootstrap process ``G_b`` of the jumps (divide by ``se`` for the t statistics).
    n_clusters : int or None
        Clusters of the standard errors and multipliers (None: units).
    seed : int or tuple of int or None
        Seed that reproduces the draws (None without draws, or for a Generator given as ``rng``).
    notes : tuple of str
        Warnings raised while computing (they are also issued as warnings).
    vce : str
        The variance option of :attr:`se` and the draws (``R3D.fit``'s ``vce``; with clusters CR0-CR3).
    """

    names: tuple[str, ...]
    jump: np.ndarray
    se: np.ndarray
    left: np.ndarray
    right: np.ndarray
    h: np.ndarray
    n_left: np.ndarray
    n_right: np.ndarray
    sd: np.ndarray
    cutoff: float
    order: int
    kernel: str
    bandwidth_rule: str
    alpha: float
    joint: JointBalanceTest | None
    draws: np.ndarray | None
    n_clusters: int | None
    seed: Any
    notes: tuple[str, ...]
    vce: str = "hc0"

    # ------------------------------------------------------------------ numbers
    @property
    def z(self) -> np.ndarray:
        """(k,) ``jump / se`` (0 where both are 0: a covariate that does not vary near the cutoff gives no
        evidence of a jump; +-inf where only ``se`` is 0, a jump without sampling variation)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((self.jump == 0.0) & (self.se == 0.0), 0.0, self.jump / self.se)

    @property
    def pvalues(self) -> np.ndarray:
        """(k,) two-sided normal p-values of H0: the covariate does not jump."""
        return 2 * stats.norm.sf(np.abs(self.z))

    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        """Pointwise normal intervals ``jump +- z_{1-alpha/2} se``: columns "lower", "upper", one row per
        covariate."""
        alpha = self.alpha if alpha is None else check_probability("alpha", alpha)
        half = stats.norm.ppf(1 - alpha / 2) * self.se
        return pd.DataFrame({"lower": self.jump - half, "upper": self.jump + half},
                            index=pd.Index(self.names, name="covariate"))

    @property
    def frame(self) -> pd.DataFrame:
        """One row per covariate (index "covariate"): "jump", "se", "z", "pvalue", "ci_lower", "ci_upper"
        (at :attr:`alpha`), "left", "right" (the limits), "h", "n_left", "n_right" (units with positive
        kernel weight)."""
        ci = self.conf_int()
        return pd.DataFrame({
            "jump": self.jump, "se": self.se, "z": self.z, "pvalue": self.pvalues,
            "ci_lower": ci["lower"].to_numpy(), "ci_upper": ci["upper"].to_numpy(),
            "left": self.left, "right": self.right, "h": self.h,
            "n_left": self.n_left, "n_right": self.n_right,
        }, index=pd.Index(self.names, name="covariate"))

    # ------------------------------------------------------------------ display
    def _header_pairs(self) -> list[tuple[str, str]]:
        h = "selected per covariate (MSE)" if self.bandwidth_rule == "mse" else "fixed (user)"
        return [("Covariates", str(len(self.names))), ("Cutoff", _r.num(self.cutoff, 6)),
                ("Kernel", self.kernel), ("Order p", str(self.order)), ("Bandwidth", h),
                ("Std. errors", self.vce.upper() if self.n_clusters is None
                 else f"CR{self.vce[-1]} ({self.n_clusters} clusters)")]

    def summary(self):
        """A statsmodels ``Summary`` (``as_text``, ``as_latex``, ``as_html``): the settings, one row per
        covariate, the joint test and the notes."""
        from r3d._summary import R3DSummary, Section, decimals_for, fmt_num, fmt_p

        pairs = self._header_pairs()
        half = (len(pairs) + 1) // 2
        left, right = pairs[:half], pairs[half:] + [("", "")] * (2 * half - len(pairs))
        header = Section(title="Covariate balance at the cutoff", kind="keyvalue", headers=(), stubs=(),
                         rows=tuple((a, b, c, d) for (a, b), (c, d) in zip(left, right, strict=True)))
        lo_name, hi_name = f"[{self.alpha / 2:g}", f"{1 - self.alpha / 2:g}]"
        ci = self.conf_int()
        rows = []
        for j in range(len(self.names)):
            d = decimals_for([self.jump[j], self.se[j], ci["lower"].iloc[j], ci["upper"].iloc[j]])
            rows.append((fmt_num(self.jump[j], d), fmt_num(self.se[j], d), fmt_num(self.z[j], 3),
                         fmt_p(self.pvalues[j]), fmt_num(ci["lower"].iloc[j], d), fmt_num(ci["upper"].iloc[j], d),
                         fmt_num(self.h[j], decimals_for(self.h[j])), f"{self.n_left[j]} / {self.n_right[j]}"))
        table = Section(title="Jump of each covariate", kind="table",
                        headers=("jump", "std err", "z", "P>|z|", lo_name, hi_name, "h", "units L / R"),
                        stubs=tuple(self.names), rows=tuple(rows))
        sections = [header, table]
        if self.joint is not None:
            t = self.joint
            sections.append(Section(
                title="Joint test: no covariate jumps (max |z|, multiplier bootstrap)", kind="table",
                headers=("statistic", f"crit ({_coverage(t.alpha)})", "p-value", "draws"), stubs=("max |z|",),
                rows=((fmt_num(t.statistic, 3), fmt_num(t.critical_value, 3), fmt_p(t.pvalue), str(t.n_boot)),)))
        notes = [f"Local polynomial jumps at each covariate's bandwidth h; z and P>|z| are normal-based; the "
                 f"intervals have {_coverage(self.alpha)} pointwise coverage.", *self.notes]
        return R3DSummary(sections, notes)

    def __repr__(self) -> str:
        p = self.pvalues
        fields = [("", f"{len(self.names)} covariates"), ("min p", _r.pvalue(np.min(p)) if p.size else "--")]
        if self.joint is not None:
            fields.append(("joint p", _r.pvalue(self.joint.pvalue)))
        return _r.one_line("CovariateBalance", "", fields)

    def _repr_html_(self) -> str:
        import html

        head = ("covariate", "jump", "std. err.", "z", "p-value", "h")
        rows = [(name, _r.num(self.jump[j]), _r.num(self.se[j]), _r.num(self.z[j]), _r.pvalue(self.pvalues[j]),
                 _r.num(self.h[j])) for j, name in enumerate(self.names)]
        out = ['<table class="r3d-repr">\n<caption style="text-align: left"><b>CovariateBalance</b></caption>',
               "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
        out += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows]
        if self.joint is not None:
            t = self.joint
            stat = html.escape(_r.num(t.statistic))
            out.append(f'<tr><td colspan="{len(head)}">joint test (max |z|): statistic {stat}, '
                       f"p-value {html.escape(_r.pvalue(t.pvalue))}, {t.n_boot} draws</td></tr>")
        out.append("</table>")
        return "\n".join(out)

    # ------------------------------------------------------------------ plot
    def plot(self, ax: Any = None, *, scale: str = "sd", **kwargs: Any) -> Any:
        """Jumps with their intervals, one row per covariate; returns the Axes.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        scale : {"sd", "t"}
            ``"sd"``: the jump and its (1 - alpha) interval in units of the covariate's standard
            deviation over all units (comparable across covariates); ``"t"``: the z statistics, with
            the pointwise normal critical values and, with draws, the joint test's.
        **kwargs
            Passed to the markers (``Axes.errorbar``).
        """
        from r3d._validation import check_choice
        from r3d.plotting import _axes

        scale = check_choice("scale", scale, ("sd", "t"))
        ax = _axes(ax)
        k = len(self.names)
        y = np.arange(k)[::-1]
        crit = stats.norm.ppf(1 - self.alpha / 2)
        if scale == "sd":
            with np.errstate(divide="ignore", invalid="ignore"):
                unit = np.where(self.sd > 0, self.sd, np.nan)
                est, err = self.jump / unit, crit * self.se / unit
            xlabel = "jump at the cutoff (standard deviations of the covariate)"
        else:
            est, err = self.z, np.zeros(k)
            xlabel = "z statistic of the jump"
        kwargs.setdefault("fmt", "o")
        kwargs.setdefault("color", "C0")
        kwargs.setdefault("capsize", 3)
        ax.errorbar(est, y, xerr=err if scale == "sd" else None, **kwargs)
        ax.axvline(0.0, color="0.5", linewidth=0.8)
        if scale == "t":
            for c, style, label in ((crit, ":", f"pointwise {_coverage(self.alpha)}"),
                                    (None if self.joint is None else self.joint.critical_value, "--", "joint test")):
                if c is not None and math.isfinite(c):
                    ax.axvline(c, color="0.3", linestyle=style, linewidth=0.8, label=label)
                    ax.axvline(-c, color="0.3", linestyle=style, linewidth=0.8)
            ax.legend(frameon=False, loc="best")
        ax.set_yticks(y)
        ax.set_yticklabels(self.names)
        ax.set_ylim(-0.5, k - 0.5)
        ax.set_xlabel(xlabel)
        title = "Covariate balance at the cutoff"
        if self.joint is not None:
            title += f" (joint p = {_r.pvalue(self.joint.pvalue)})"
        ax.set_title(title)
        return ax


# ---------------------------------------------------------------------------------------------
# computation
# ---------------------------------------------------------------------------------------------
def covariate_balance(
    x: Any,
    Z: Any,
    *,
    cutoff: float,
    names: Any = None,
    h: Any = None,
    order: int = 2,
    pilot_order: int = 1,
    kernel: str = "triangular",
    cluster_codes: Any = None,
    n_boot: int = 999,
    alpha: float = 0.05,
    rng: Any = None,
    unit_weights: Any = None,
    vce: str | None = None,
) -> CovariateBalance:
    """The jump of each unit-level covariate at the cutoff, with a joint test (docs/covariates.md).

    Parameters
    ----------
    x : array_like
        (n,) running variable, one entry per unit.
    Z : array_like or DataFrame
        (n, k) covariates, one row per unit (a 1-D array is one covariate). A DataFrame's column
        names are the default ``names``.
    cutoff : float
        Units with ``x >= cutoff`` are on the right (treated) side.
    names : sequence of str, optional
        (k,) covariate names (default: the DataFrame's columns, else "z0", "z1", ...).
    h : None, float or array_like
        None: one MSE-optimal bandwidth per covariate from the package's selector (rule "mse" on
        the column, as the fuzzy first stage's ``h_T``); a number: one common bandwidth; a (k,)
        array: one per covariate.
    order : int, default 2
        Local polynomial order p (as ``R3D.fit``).
    pilot_order : int, default 1
        Order s for which the selected bandwidths are MSE-optimal (as ``R3D.fit``; p > s keeps
        the conventional z statistics valid at the selected bandwidth).
    kernel : str, default "triangular"
        A kernel of :data:`r3d.kernels.KERNELS` or a short form.
    cluster_codes : array_like of int, optional
        (n,) cluster of each unit, coded 0..G-1: cluster-robust standard errors, one multiplier
        per cluster.
    n_boot : int, default 999
        Bootstrap draws for the joint test (0: no joint test).
    alpha : float, default 0.05
        1 - coverage of the intervals and level of the joint test.
    rng : seed or Generator, optional
        Passed to :func:`numpy.random.default_rng`.
    unit_weights : array_like, optional
        (n,) positive unit weights multiplying the kernel weights (docs/cells.md).
    vce : {"hc0", "hc1", "hc2", "hc3"}, optional
        Variance option, as ``R3D.fit``'s (docs/method.md §5, "Variance options"; with clusters CR0-CR3,
        "With clusters"); the same default: "hc3", or "hc2" (CR2) with clusters.

    Returns
    -------
    CovariateBalance

    Raises
    ------
    ValueError, TypeError
        Bad input, named; :class:`r3d.InsufficientDataError` when a side has too few units for
        the bandwidth or the order.
    """
    from r3d.options import seeded_rng

    cutoff = check_finite("cutoff", cutoff)
    x = _as_float_1d("x", x)
    n = x.size
    Zm, default_names = _as_covariates(Z, n)
    k = Zm.shape[1]
    names = default_names if names is None else _as_names(names, k)
    order = check_int("order", order, low=0, high=MAX_ORDER)
    pilot_order = check_int("pilot_order", pilot_order, low=0, high=MAX_ORDER - 1)
    kernel = canonical_kernel(kernel)
    hh = None if h is None else _as_h(h, k)
    codes = None if cluster_codes is None else _as_codes(cluster_codes, n)
    vce = check_vce(vce, codes is not None)
    if codes is not None and np.unique(codes).size < 2:
        raise ValueError(message("cluster_codes", "made of at least 2 distinct clusters", "<a single cluster>",
                                 "Omit cluster_codes if the units are independent."))
    n_boot = check_int("n_boot", n_boot, low=0)
    alpha = check_probability("alpha", alpha)
    if n_boot and n_boot < int(np.ceil(1 / alpha)) - 1:
        raise ValueError(message("n_boot", f"0 or at least {int(np.ceil(1 / alpha)) - 1} for alpha={alpha:g}",
                                 n_boot, "Use more bootstrap draws (999 is the default)."))
    if not (np.any(x < cutoff) and np.any(x >= cutoff)):
        raise ValueError(message("cutoff", "inside the range of the running variable with units on both sides",
                                 cutoff, f"The running variable runs from {x.min():g} to {x.max():g}."))
    omega = None
    if unit_weights is not None:
        omega = _as_float_1d("unit_weights", unit_weights)
        if omega.size != n or not (omega > 0).all():
            raise ValueError(message("unit_weights", f"an array of {n} positive numbers (one per unit)", omega))
    gen, seed = seeded_rng(rng) if n_boot else (check_rng(rng), None)  # no draws: nothing to reproduce
    return _covariate_balance(x, Zm, tuple(names), cutoff=cutoff, h=hh, order=order, pilot_order=pilot_order,
                              kernel=kernel, cluster_codes=codes, n_boot=n_boot, alpha=alpha, rng=gen, seed=seed,
                              omega=omega, vce=vce)


def _as_covariates(Z: Any, n: int) -> tuple[np.ndarray, list[str]]:
    """(n, k) C-contiguous float64 copy of ``Z`` and its default names."""
    if isinstance(Z, pd.Series):
        names = [str(Z.name) if Z.name is not None else "z0"]
        Z = Z.to_frame()
    elif isinstance(Z, pd.DataFrame):
        names = [str(c) for c in Z.columns]
    else:
        names = None
    if isinstance(Z, pd.DataFrame):
        numeric = pd.api.types.is_numeric_dtype
        bad = [str(c) for c in Z.columns if not (numeric(Z[c]) or pd.api.types.is_bool_dtype(Z[c]))]
        if bad:
            raise TypeError(message("Z", "numeric or boolean columns", f"<non-numeric column(s) {', '.join(bad)}>",
                                    "Expand categorical covariates to dummies first (pandas.get_dummies, "
                                    "drop_first=True)."))
        Z = Z.to_numpy(dtype=np.float64, na_value=np.nan)
    try:
        arr = np.array(Z, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(message("Z", "an (n, k) array of real numbers", f"<{type(Z).__name__}>",
                                "Expand categorical covariates to dummies first.")) from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] == 0:
        raise ValueError(message("Z", f"an array of shape ({n}, k) with k >= 1 (one row per unit, one column "
                                 "per covariate)", arr))
    if not np.all(np.isfinite(arr)):
        bad = np.flatnonzero(~np.all(np.isfinite(arr), axis=0))
        raise ValueError(message("Z", "finite for every unit", f"<non-finite values in column(s) "
                                 f"{', '.join(str(j) for j in bad[:5])}>",
                                 "Drop or impute the units with missing covariates first."))
    return np.ascontiguousarray(arr), names if names is not None else [f"z{j}" for j in range(arr.shape[1])]


def _as_names(names: Any, k: int) -> list[str]:
    if isinstance(names, str):
        names = [names]
    if not hasattr(names, "__iter__"):
        raise TypeError(message("names", f"a sequence of {k} covariate names", names))
    out = [str(v) for v in names]
    if len(out) != k or len(set(out)) != k:
        raise ValueError(message("names", f"{k} distinct covariate names (one per column of Z)", names))
    return out


def _as_h(h: Any, k: int) -> np.ndarray:
    if np.ndim(h) == 0:
        return np.full(k, check_positive("h", h))
    try:
        arr = np.asarray(h, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise TypeError(message("h", f"None, a number or {k} bandwidths (one per covariate)", h)) from None
    if arr.size != k:
        raise ValueError(message("h", f"None, a number or an array of {k} bandwidths (one per covariate)",
                                 f"<an array of length {arr.size}>"))
    if not (np.all(np.isfinite(arr)) and np.all(arr > 0)):
        raise ValueError(message("h", "finite and > 0 for every covariate", "<an array with non-positive or "
                                 "missing entries>"))
    return arr


def _covariate_balance(x: np.ndarray, Z: np.ndarray, names: tuple[str, ...], *, cutoff: float,
                       h: np.ndarray | None, order: int, pilot_order: int, kernel: str,
                       cluster_codes: np.ndarray | None, n_boot: int, alpha: float,
                       rng: np.random.Generator | None, seed: Any = None,
                       omega: np.ndarray | None = None, vce: str = "hc0") -> CovariateBalance:
    """:func:`covariate_balance` on validated inputs: ``x`` (n,), ``Z`` (n, k) C-contiguous float64,
    ``h`` None or (k,) positive, ``cluster_codes`` (n,) intp or None, ``rng`` a Generator when
    ``n_boot > 0``, ``omega`` (n,) positive unit weights or None (the selector and the fits use
    them, as the model's fit does), ``vce`` of :data:`r3d.estimators.VCE_TYPES` (with clusters its cluster
    analogue). :func:`covariate_balance` calls this."""
    notes = Notes()
    k = Z.shape[1]
    rule = "fixed"
    if h is None:
        rule = "mse"
        # the fuzzy first stage's h_T rule on each column alone (its level 0.5 is only a placeholder;
        # warnings name the covariate)
        h = np.empty(k)
        for j in range(k):
            sel = _select_bandwidths(x, np.ascontiguousarray(Z[:, j:j + 1]), np.array([0.5]), cutoff=cutoff,
                                     rule="mse", kernel=kernel, order=order, s=pilot_order, regularize=True, t=None,
                                     what=f"covariate {names[j]!r}", omega=omega)
            notes.extend(sel.warnings)
            h[j] = sel.h[0]
    h = np.ascontiguousarray(h, dtype=np.float64)
    lj = local_jump(x, Z, cutoff=cutoff, h=h if np.any(h != h[0]) else h[:1], order=order, kernel=kernel,
                    project=False, omega=omega, vce=vce, clusters=cluster_codes)
    fp, fm = lj.fit_plus, lj.fit_minus
    right, left, flat = _snap_flat(Z, fp, fm, fp.intercept.copy(), fm.intercept.copy())
    a = lj.influence
    if flat.any():
        a = a.copy()
        a[:, flat] = 0.0
        which = ", ".join(repr(names[j]) for j in np.flatnonzero(flat))
        notes.warn(f"Covariate(s) {which} take a single value (to rounding) on each side of the cutoff among the "
                   "units inside the window: the jump is the exact difference of those values, without sampling "
                   "variation (0 where they are equal, with p-value 1).", DegenerateOutcomeWarning)
    n_left = np.broadcast_to(fm.n_effective, (k,)).astype(np.int64)
    n_right = np.broadcast_to(fp.n_effective, (k,)).astype(np.int64)
    need = FEW_UNITS_PER_PARAMETER * (order + 1)
    few = (np.minimum(n_left, n_right) < need)
    if few.any():
        which = ", ".join(repr(names[j]) for j in np.flatnonzero(few))
        notes.warn(f"Fewer than {need} = {FEW_UNITS_PER_PARAMETER} x (order + 1) units receive positive kernel "
                   f"weight on a side for covariate(s) {which}; their jumps and standard errors may be unstable. "
                   "Consider a larger bandwidth or a lower order.", SmallSampleWarning)
    agg = _aggregate(a, cluster_codes)
    _, se = _variance_and_se(agg)
    jump = right - left
    draws = joint = None
    if n_boot:
        draws = _draws(agg, n_boot, rng, None)
        joint = _joint_test(jump, se, draws, alpha=alpha)
    sd = np.std(Z, axis=0, ddof=1) if Z.shape[0] > 1 else np.zeros(k)
    return CovariateBalance(
        names=names, jump=jump, se=se, left=left, right=right, h=np.broadcast_to(h, (k,)).copy(),
        n_left=n_left, n_right=n_right, sd=sd, cutoff=cutoff, order=order, kernel=kernel, bandwidth_rule=rule,
        alpha=alpha, joint=joint, draws=draws,
        n_clusters=None if cluster_codes is None else int(np.unique(cluster_codes).size), seed=seed,
        notes=notes.texts, vce=vce)


def _joint_test(jump: np.ndarray, se: np.ndarray, draws: np.ndarray, *, alpha: float) -> JointBalanceTest:
    """max |t| over the covariates with ``se > 0`` (a jump with ``se = 0`` counts as ``|t| = inf``; none
    with a jump: 0), against the studentised draws of those covariates."""
    keep = se > 0
    if keep.any():
        S = float(np.max(np.abs(jump[keep]) / se[keep]))
        S_b = np.max(np.abs(draws[:, keep]) / se[keep], axis=1)
    else:
        S, S_b = 0.0, np.zeros(draws.shape[0])
    if np.any(~keep & (jump != 0.0)):
        S = math.inf
    return JointBalanceTest(statistic=S, critical_value=critical_value(S_b, alpha=alpha),
                            pvalue=float((1 + int(np.count_nonzero(S_b >= S))) / (S_b.size + 1)),
                            n_boot=int(S_b.size), alpha=alpha, n_covariates=int(np.count_nonzero(keep)))
