"""Effects on functionals of the two limit distributions (docs/method.md §10).

A functional ``phi`` maps a quantile function on the grid ``q_1 < ... < q_m`` to a number (the
Gini coefficient, a quantile ratio) or a curve (the Lorenz curve). Like the average effect, the
quantile function is held flat below ``q_1`` and above ``q_m`` and integrals are trapezoid sums
over the grid (``r3d.estimators.average_weights``): every functional is computed on the grid
range, and every output says so. The effect is ``phi(m_+) - phi(m_-)`` with both levels.

Inference is the functional delta method on the per-side influence matrices
``a^+ = w^+ e``, ``a^- = w^- e`` (sharp designs, whose ``a = a^+ - a^-``): the effect's influence
column is ``a^+ J_+' - a^- J_-'`` with ``J_+-`` the derivative (Jacobian) of ``phi`` at ``m_+-``,
analytic for the built-ins and by central differences for a user's callable. Its standard error
is the HC0 (cluster-robust) one of that column, computed as every standard error of a fit
(``r3d.bootstrap._variance_and_se``), so ``functional("mean")`` is the average effect. Curve
functionals add a uniform band from the bootstrap draws of the same linearisation,
``J_+ G_b^+ - J_- G_b^-`` (the fit's own multipliers, replayed).

Adding a functional is one entry of :data:`FUNCTIONALS`: its value and its Jacobian at a
quantile function on the grid, and a check of its options (docs/architecture.md).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from r3d import _repr as _r
from r3d._validation import check_choice, check_probability, message
from r3d.bootstrap import UniformBand, _band, gini_coefficient
from r3d.estimators import average_weights, cumulative_integral

__all__ = ["FUNCTIONALS", "Functional", "FunctionalCurve", "FunctionalEffect", "cumulative_integral",
           "describe", "lorenz_curve", "requests", "share_below"]

#: Relative step of the central differences that differentiate a user's callable: the cube root
#: of the double precision epsilon balances truncation (step^2) against rounding (eps / step).
CALLABLE_STEP = float(np.finfo(float).eps ** (1 / 3))
#: Band type of curve functionals: studentized (``estimate +- c se``), since a Lorenz curve's variance
#: vanishes towards p = 0 and is largest mid-range, where a constant-width band would be uninformative
#: at the ends.
CURVE_BAND = "studentized"
#: Levels given as options (``upper=0.9``) must lie on the grid range to this tolerance.
LEVEL_TOL = 1e-9


# ---------------------------------------------------------------------------------------------
# building blocks on the grid (flat beyond q_1 and q_m, trapezoid sums)
# ---------------------------------------------------------------------------------------------
def _mean(q: np.ndarray, Q: np.ndarray) -> float:
    return float(average_weights(q) @ Q)


def _interp_weights(q: np.ndarray, p: float) -> np.ndarray:
    """(m,) weights v with ``v @ Q`` the linear interpolation of ``Q`` at ``p`` (``q_1 <= p <= q_m``)."""
    v = np.zeros(q.size)
    if q.size == 1:
        v[0] = 1.0
        return v
    j = int(np.clip(np.searchsorted(q, p, side="right") - 1, 0, q.size - 2))
    t = min(max((p - q[j]) / (q[j + 1] - q[j]), 0.0), 1.0)
    v[j], v[j + 1] = 1.0 - t, t
    return v


def _gini_parts(q: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear maps ``s``, ``u`` (each (m,)) with ``Gini(Q) = 1 - 2 (s @ Q) / (u @ Q)`` in the discretisation
    of :func:`r3d.bootstrap.gini_coefficient` (``u @ Q`` the mean, ``s @ Q`` the mean times the area
    under the Lorenz curve)."""
    eye = np.eye(q.size)
    qe, E = q, eye
    if q[0] > 0:
        qe, E = np.r_[0.0, qe], np.concatenate([E[:, :1], E], axis=1)
    if q[-1] < 1:
        qe, E = np.r_[qe, 1.0], np.concatenate([E, E[:, -1:]], axis=1)
    dp = np.diff(qe)
    cum = np.cumsum(0.5 * (E[:, 1:] + E[:, :-1]) * dp, axis=1)  # (m, intervals): C at the right end of each
    u = cum[:, -1]
    cum_lo = np.concatenate([np.zeros((q.size, 1)), cum[:, :-1]], axis=1)
    s = np.sum(0.5 * (cum_lo + cum) * dp, axis=1)
    return s, u


def lorenz_curve(quantiles: Any, qf: Any) -> np.ndarray:
    """Lorenz curve ``L(q_j) = int_0^{q_j} Q / int_0^1 Q`` at the grid points (flat tails, trapezoid sums).

    Parameters
    ----------
    quantiles : array_like, shape (m,)
    qf : array_like, shape (m,)
        A quantile function with a positive mean.

    Returns
    -------
    ndarray, shape (m,)
    """
    q = np.asarray(quantiles, dtype=np.float64)
    Q = np.asarray(qf, dtype=np.float64)
    return cumulative_integral(q, Q) / _mean(q, Q)


def share_below(quantiles: Any, qf: Any, z: float) -> float:
    """``F(z) = sup{q : Q(q) <= z}`` with ``Q`` interpolated linearly between grid points.

    ``z`` must lie in ``[Q(q_1), Q(q_m))``: beyond it the grid does not identify the share (it is
    only known to be below ``q_1`` or above ``q_m``). On a strictly increasing ``Q`` this is
    ``np.interp(z, Q, q)``, the inverse by interpolation.
    """
    q = np.asarray(quantiles, dtype=np.float64)
    Q = np.asarray(qf, dtype=np.float64)
    j, t = _share_position(Q, z)
    return float(q[j] + t * (q[j + 1] - q[j]))


def _share_position(Q: np.ndarray, z: float) -> tuple[int, float]:
    """(j, t) with ``Q_j <= z < Q_{j+1}`` (the last such j) and ``t = (z - Q_j) / (Q_{j+1} - Q_j)``."""
    j = int(np.searchsorted(Q, z, side="right")) - 1
    if j < 0 or j >= Q.size - 1:
        raise _OutsideRange(j < 0)
    return j, (z - Q[j]) / (Q[j + 1] - Q[j])


class _OutsideRange(Exception):
    def __init__(self, below: bool) -> None:
        self.below = below


# ---------------------------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Functional:
    """One entry of :data:`FUNCTIONALS`.

    Attributes
    ----------
    name : str
    kind : {"scalar", "curve"}
        A number, or one value per grid point (with a uniform band).
    options : dict
        Option names and defaults (``None``: required).
    label : callable
        ``label(options) -> str`` for tables ("P90/P10").
    value : callable
        ``value(q, Q, options) -> float`` (scalar) or ``(m,)`` array (curve), at a quantile
        function ``Q`` (m,) on the grid ``q``; raises :class:`ValueError` (naming the side via
        ``side``) where the functional is not defined.
    jacobian : callable
        ``jacobian(q, Q, options) -> (m,)`` (scalar) or ``(m, m)`` (curve): the derivative of
        ``value`` with respect to the values of ``Q`` on the grid.
    check : callable or None
        ``check(q, options) -> options``: validates the options against the grid.
    """

    name: str
    kind: str
    options: dict
    label: Callable[[dict], str]
    value: Callable[[np.ndarray, np.ndarray, dict], Any]
    jacobian: Callable[[np.ndarray, np.ndarray, dict], np.ndarray]
    check: Callable[[np.ndarray, dict], dict] | None = None


def _positive_mean(q: np.ndarray, Q: np.ndarray, what: str) -> float:
    mu = _mean(q, Q)
    if not mu > 0:
        raise _Undefined(f"{what} needs a positive mean, and the mean here is {mu:.4g}")
    return mu


class _Undefined(Exception):
    """A functional is not defined at a side's limit (the caller names the side)."""


def _variance(q: np.ndarray, Q: np.ndarray, o: dict) -> float:
    w = average_weights(q)
    return float(w @ (Q - w @ Q) ** 2)


def _variance_jac(q: np.ndarray, Q: np.ndarray, o: dict) -> np.ndarray:
    w = average_weights(q)
    return 2.0 * w * (Q - w @ Q)


def _sd_jac(q: np.ndarray, Q: np.ndarray, o: dict) -> np.ndarray:
    sd = math.sqrt(_variance(q, Q, o))
    if sd == 0.0:
        raise _Undefined("the standard deviation is not differentiable where the distribution is a point mass")
    return _variance_jac(q, Q, o) / (2.0 * sd)


def _gini_value(q: np.ndarray, Q: np.ndarray, o: dict) -> float:
    _positive_mean(q, Q, "The Gini coefficient")
    return float(gini_coefficient(q, Q))


def _gini_jac(q: np.ndarray, Q: np.ndarray, o: dict) -> np.ndarray:
    s, u = _gini_parts(q, Q)
    S, mu = s @ Q, u @ Q
    return -2.0 * (s * mu - S * u) / mu**2


def _lorenz_value(q: np.ndarray, Q: np.ndarray, o: dict) -> np.ndarray:
    _positive_mean(q, Q, "The Lorenz curve")
    return lorenz_curve(q, Q)


def _lorenz_jac(q: np.ndarray, Q: np.ndarray, o: dict) -> np.ndarray:
    K = cumulative_integral(q, np.eye(q.size)).T  # K @ Q = cumulative_integral(q, Q)
    w = average_weights(q)
    mu = w @ Q
    return K / mu - np.outer(K @ Q, w) / mu**2


def _check_levels(q: np.ndarray, o: dict) -> dict:
    lower, upper = o["lower"], o["upper"]
    for name, v in (("lower", lower), ("upper", upper)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(message(name, "a quantile level (a number in (0, 1))", v))
        if not q[0] - LEVEL_TOL <= v <= q[-1] + LEVEL_TOL:
            raise ValueError(message(name, f"a level on the grid range [{q[0]:g}, {q[-1]:g}]", v,
                                     "Choose levels inside the grid, or fit on a wider grid (quantiles=...)."))
    if not lower < upper:
        raise ValueError(message("upper", f"a level above lower={lower:g}", upper))
    return {"lower": float(min(max(lower, q[0]), q[-1])), "upper": float(min(max(upper, q[0]), q[-1]))}


def _iqr_value(q: np.ndarray, Q: np.ndarray, o: dict) -> float:
    return float((_interp_weights(q, o["upper"]) - _interp_weights(q, o["lower"])) @ Q)


def _iqr_jac(q: np.ndarray, Q: np.ndarray, o: dict) -> np.ndarray:
    return _interp_weights(q, o["upper"]) - _interp_weights(q, o["lower"])


def _ratio_value(q: np.ndarray, Q: np.ndarray, o: dict) -> float:
    lo = float(_interp_weights(q, o["lower"]) @ Q)
    if not lo > 0:
        raise _Undefined(f"a quantile ratio needs Q({o['lower']:g}) > 0, and it is {lo:.4g} here")
    return float(_interp_weights(q, o["upper"]) @ Q) / lo


def _ratio_jac(q: np.ndarray, Q: np.ndarray, o: dict) -> np.ndarray:
    vu, vl = _interp_weights(q, o["upper"]), _interp_weights(q, o["lower"])
    lo = vl @ Q
    return vu / lo - (vu @ Q) * vl / lo**2


def _check_z(q: np.ndarray, o: dict) -> dict:
    z = o["z"]
    if z is None:
        raise TypeError(message("z", "the threshold z of share_below (a number)", None,
                                "E.g. res.functional('share_below', z=20.0)."))
    if isinstance(z, bool) or not isinstance(z, numbers.Real) or not math.isfinite(z):
        raise TypeError(message("z", "a finite number", z))
    return {"z": float(z)}


def _share_value(q: np.ndarray, Q: np.ndarray, o: dict) -> float:
    try:
        return share_below(q, Q, o["z"])
    except _OutsideRange as exc:
        where = "below the lowest" if exc.below else "at or above the highest"
        raise _Undefined(f"z = {o['z']:g} lies {where} grid quantile (Q({q[0]:g}) = {Q[0]:.6g}, Q({q[-1]:g}) = "
                         f"{Q[-1]:.6g}), where the grid does not identify the share") from None


def _share_jac(q: np.ndarray, Q: np.ndarray, o: dict) -> np.ndarray:
    j, t = _share_position(Q, o["z"])
    slope = (q[j + 1] - q[j]) / (Q[j + 1] - Q[j])
    g = np.zeros(q.size)
    g[j], g[j + 1] = -slope * (1.0 - t), -slope * t
    return g


def _ratio_label(o: dict) -> str:
    u, lo = 100 * o["upper"], 100 * o["lower"]
    return f"P{u:g}/P{lo:g}"


#: The built-in functionals, by name (docs/method.md §10). ``"w2"`` is a test, not an entry here:
#: see :data:`r3d.bootstrap.TESTS`.
FUNCTIONALS: dict[str, Functional] = {
    f.name: f
    for f in (
        Functional("mean", "scalar", {}, lambda o: "mean", lambda q, Q, o: _mean(q, Q),
                   lambda q, Q, o: average_weights(q)),
        Functional("variance", "scalar", {}, lambda o: "variance", _variance, _variance_jac),
        Functional("sd", "scalar", {}, lambda o: "sd", lambda q, Q, o: math.sqrt(_variance(q, Q, o)), _sd_jac),
        Functional("gini", "scalar", {}, lambda o: "Gini", _gini_value, _gini_jac),
        Functional("iqr", "scalar", {"lower": 0.25, "upper": 0.75},
                   lambda o: f"Q({o['upper']:g}) - Q({o['lower']:g})", _iqr_value, _iqr_jac, _check_levels),
        Functional("quantile_ratio", "scalar", {"lower": 0.1, "upper": 0.9}, _ratio_label, _ratio_value,
                   _ratio_jac, _check_levels),
        Functional("share_below", "scalar", {"z": None}, lambda o: f"share below {o['z']:g}", _share_value,
                   _share_jac, _check_z),
        Functional("lorenz", "curve", {}, lambda o: "Lorenz curve", _lorenz_value, _lorenz_jac),
    )
}

#: Names ``res.functional`` accepts besides :data:`FUNCTIONALS`: the Wasserstein-2 test.
TEST_FUNCTIONALS = ("w2",)


def _callable_functional(fn: Callable, options: dict) -> Functional:
    """A user's ``fn(values, levels, **options) -> float`` as a registry entry (Jacobian by central differences)."""
    name = getattr(fn, "__name__", type(fn).__name__)

    def value(q: np.ndarray, Q: np.ndarray, o: dict) -> float:
        out = fn(Q.copy(), q.copy(), **o)
        try:
            v = float(out)
        except (TypeError, ValueError):
            raise TypeError(message("functional", "a callable returning one number", f"<{name} returned "
                                    f"{type(out).__name__}>", "Return a float, e.g. the Gini of `values`.")) from None
        if not math.isfinite(v):
            raise _Undefined(f"{name} returned {v}")
        return v

    def jacobian(q: np.ndarray, Q: np.ndarray, o: dict) -> np.ndarray:
        step = CALLABLE_STEP * max(float(np.max(np.abs(Q))), np.finfo(float).tiny)
        g = np.empty(q.size)
        for j in range(q.size):
            up, down = Q.copy(), Q.copy()
            up[j] += step
            down[j] -= step
            g[j] = (value(q, up, o) - value(q, down, o)) / ((up[j] - Q[j]) + (Q[j] - down[j]))
        return g

    return Functional(name, "scalar", dict(options), lambda o: name, value, jacobian)


def describe(name_or_callable: Any, options: dict, quantiles: np.ndarray) -> tuple[Functional, dict]:
    """Resolve a name (or a callable) and its options against the grid (the public edge of ``functional``)."""
    if callable(name_or_callable):
        return _callable_functional(name_or_callable, options), dict(options)
    f = FUNCTIONALS[check_choice("functional", name_or_callable, tuple(FUNCTIONALS) + TEST_FUNCTIONALS)]
    unknown = sorted(set(options) - set(f.options))
    if unknown:
        allowed = ", ".join(f.options) or "none"
        raise TypeError(message(unknown[0], f"an option of the {f.name} functional (options: {allowed})",
                                options[unknown[0]]))
    opts = {**f.options, **options}
    if f.check is not None:
        opts = f.check(quantiles, opts)
    return f, opts


def requests(functionals: Any) -> list[tuple[Any, dict]]:
    """``summary(functionals=...)``, ``to_dict(functionals=...)`` and the command line's ``--functional``:
    one item or a list of items, each a name, ``"name:key=value,key=value"`` (numbers), a pair
    ``(name, {options})`` or a callable."""
    items = [functionals] if isinstance(functionals, str) or callable(functionals) or (
        isinstance(functionals, tuple) and len(functionals) == 2 and isinstance(functionals[1], dict)) \
        else functionals
    try:
        items = list(items)
    except TypeError:
        raise TypeError(message("functionals", "a name, a list of names, (name, options) pairs or callables",
                                functionals, "E.g. functionals=['gini', 'quantile_ratio:upper=0.9,lower=0.1'].")
                        ) from None
    out = []
    for item in items:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], dict):
            out.append((item[0], dict(item[1])))
        elif isinstance(item, str):
            name, _, rest = item.partition(":")
            out.append((name.strip(), _parse_options(rest, item)))
        elif callable(item):
            out.append((item, {}))
        else:
            raise TypeError(message("functionals", "names, (name, options) pairs or callables", item,
                                    "E.g. functionals=['gini', ('share_below', {'z': 20.0})]."))
    return out


def _parse_options(text: str, item: str) -> dict:
    opts: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, value = part.partition("=")
        try:
            if not eq:
                raise ValueError
            opts[key.strip()] = float(value)
        except ValueError:
            raise ValueError(message("functionals", "'name' or 'name:key=number,key=number'", item,
                                     "E.g. 'quantile_ratio:upper=0.9,lower=0.1' or 'share_below:z=20'.")) from None
    return opts


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
def _range_text(grid_range: tuple[float, float]) -> str:
    return f"[{grid_range[0]:.3g}, {grid_range[1]:.3g}]"


def _coverage(alpha: float) -> str:
    return f"{100 * (1 - alpha):.4g}%"


@dataclass(frozen=True, slots=True)
class FunctionalEffect:
    """The effect on a scalar functional of the limit distribution: ``phi(m_+) - phi(m_-)``.

    Attributes
    ----------
    name : str
        Registry name ("gini") or the callable's name.
    label : str
        For tables ("Gini", "P90/P10", "share below 20").
    estimate : float
        ``phi(m_+) - phi(m_-)`` (for "w2": the Wasserstein-2 distance ``(int tau^2)^(1/2)``).
    left, right : float
        ``phi(m_-)`` and ``phi(m_+)`` (NaN for "w2").
    se : float
        Delta-method standard error (HC0, cluster-robust with clusters; NaN for "w2").
    z, pvalue : float
        ``estimate / se`` and the two-sided normal p-value of H0: no effect (for "w2": NaN and
        the bootstrap p-value of H0: tau = 0).
    alpha : float
        1 - coverage of :meth:`conf_int` by default.
    grid_range : tuple of float
        ``(q_1, q_m)``: the functional is computed on the grid range (the quantile functions
        held flat beyond it).
    method : str
        "delta method" or "bootstrap test" ("w2").
    critical_value : float
        The bootstrap critical value of "w2" at ``alpha`` (NaN otherwise).
    n_boot : int
        Bootstrap draws behind ``pvalue`` (0 for the delta method).
    """

    name: str
    label: str
    estimate: float
    left: float
    right: float
    se: float
    z: float
    pvalue: float
    alpha: float
    grid_range: tuple[float, float]
    method: str = "delta method"
    critical_value: float = math.nan
    n_boot: int = 0

    def conf_int(self, alpha: float | None = None) -> tuple[float, float]:
        """Normal confidence interval ``estimate -+ z_{1-alpha/2} se`` (NaNs for "w2").

        Parameters
        ----------
        alpha : float, optional
            Default: the fit's alpha.

        Returns
        -------
        (lower, upper)
        """
        a = self.alpha if alpha is None else check_probability("alpha", alpha)
        half = stats.norm.ppf(1 - a / 2) * self.se
        return float(self.estimate - half), float(self.estimate + half)

    @property
    def frame(self) -> pd.DataFrame:
        """One row: functional, left, right, effect, se, z, pvalue, ci_lower, ci_upper, grid_low, grid_high."""
        lo, hi = self.conf_int()
        return pd.DataFrame([{"functional": self.label, "left": self.left, "right": self.right,
                              "effect": self.estimate, "se": self.se, "z": self.z, "pvalue": self.pvalue,
                              "ci_lower": lo, "ci_upper": hi, "grid_low": self.grid_range[0],
                              "grid_high": self.grid_range[1]}])

    def to_dict(self) -> dict[str, Any]:
        """Every number as plain Python (``conf_int`` at ``alpha`` as "ci_lower"/"ci_upper")."""
        lo, hi = self.conf_int()
        return {"name": self.name, "label": self.label, "estimate": self.estimate, "left": self.left,
                "right": self.right, "se": self.se, "z": self.z, "pvalue": self.pvalue, "ci_lower": lo,
                "ci_upper": hi, "alpha": self.alpha, "grid_range": list(self.grid_range), "method": self.method,
                "critical_value": self.critical_value, "n_boot": self.n_boot}

    def _display(self) -> list[tuple[str, str]]:
        if self.method == "bootstrap test":
            return [("statistic", _r.num(self.estimate)),
                    (f"critical value ({_coverage(self.alpha)})", _r.num(self.critical_value)),
                    ("p-value (H0: tau = 0)", _r.pvalue(self.pvalue)), ("bootstrap draws", str(self.n_boot)),
                    ("computed on", _range_text(self.grid_range))]
        lo, hi = self.conf_int()
        return [("effect", _r.num(self.estimate)), ("left (below the cutoff)", _r.num(self.left)),
                ("right (above the cutoff)", _r.num(self.right)), ("std. error", _r.num(self.se)),
                ("p-value", _r.pvalue(self.pvalue)),
                (f"{_coverage(self.alpha)} CI", f"[{_r.num(lo)}, {_r.num(hi)}]"),
                ("computed on", f"{_range_text(self.grid_range)} ({self.method})")]

    def __repr__(self) -> str:
        if self.method == "bootstrap test":
            return _r.one_line("FunctionalEffect", f"{self.label} on {_range_text(self.grid_range)}",
                               [("statistic", _r.num(self.estimate)), ("p", _r.pvalue(self.pvalue)),
                                ("B", str(self.n_boot))])
        return _r.one_line("FunctionalEffect", f"{self.label} on {_range_text(self.grid_range)}",
                           [("effect", _r.num(self.estimate)), ("left", _r.num(self.left)),
                            ("right", _r.num(self.right)), ("se", _r.num(self.se)), ("p", _r.pvalue(self.pvalue))])

    def _repr_html_(self) -> str:
        return _r.html_table(f"FunctionalEffect: {self.label} on {_range_text(self.grid_range)}", self._display())


@dataclass(frozen=True, slots=True, eq=False)
class FunctionalCurve:
    """The effect on a curve functional (the Lorenz curve) at every grid level, with a uniform band.

    Attributes
    ----------
    name, label : str
    levels : ndarray, shape (m,)
        The grid ``p`` the curve is evaluated at.
    values, left_values, right_values, se_values : ndarray, shape (m,)
        ``phi(m_+)(p) - phi(m_-)(p)``, ``phi(m_-)(p)``, ``phi(m_+)(p)`` and the delta-method
        standard errors of the difference (the Series views are :attr:`estimate`, :attr:`left`,
        :attr:`right`, :attr:`se`).
    alpha : float
    grid_range : tuple of float
    band_kind : str
        The band's type, :data:`CURVE_BAND` ("studentized").
    draws, draws_left, draws_right : ndarray or None
        (B, m) bootstrap draws of the linearised difference and of each side's curve (None
        without bootstrap draws).
    """

    name: str
    label: str
    levels: np.ndarray
    values: np.ndarray
    left_values: np.ndarray
    right_values: np.ndarray
    se_values: np.ndarray
    se_left: np.ndarray
    se_right: np.ndarray
    alpha: float
    grid_range: tuple[float, float]
    band_kind: str
    draws: np.ndarray | None
    draws_left: np.ndarray | None
    draws_right: np.ndarray | None

    def _series(self, v: np.ndarray, name: str) -> pd.Series:
        from r3d.results import level_labels

        return pd.Series(v, index=pd.Index(level_labels(self.levels), name="p"), name=name)

    @property
    def estimate(self) -> pd.Series:
        """The effect on the curve at each level."""
        return self._series(self.values, "effect")

    @property
    def left(self) -> pd.Series:
        """The curve of the left limit ``m_-``."""
        return self._series(self.left_values, "left")

    @property
    def right(self) -> pd.Series:
        """The curve of the right limit ``m_+``."""
        return self._series(self.right_values, "right")

    @property
    def se(self) -> pd.Series:
        """Pointwise delta-method standard errors of the effect."""
        return self._series(self.se_values, "se")

    @property
    def pvalues(self) -> pd.Series:
        """Pointwise two-sided normal p-values of H0: no effect at p."""
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where((self.values == 0) & (self.se_values == 0), 0.0, self.values / self.se_values)
        return self._series(2 * stats.norm.sf(np.abs(z)), "pvalue")

    def _draws_or_raise(self) -> np.ndarray:
        if self.draws is None:
            raise ValueError(f"A uniform band for the {self.label} needs bootstrap draws, but the model was fitted "
                             "with n_boot=0. Refit with n_boot=999 (or more).")
        return self.draws

    def band(self, alpha: float | None = None, side: str = "effect") -> UniformBand:
        """The uniform band of the effect (``side="effect"``) or of one side's curve ("left", "right").

        Studentized (:data:`CURVE_BAND`), from the bootstrap draws of the linearisation (the fit's own
        multipliers).
        """
        a = self.alpha if alpha is None else check_probability("alpha", alpha)
        side = check_choice("side", side, ("effect", "left", "right"))
        self._draws_or_raise()
        t, d, se = {"effect": (self.values, self.draws, self.se_values),
                    "left": (self.left_values, self.draws_left, self.se_left),
                    "right": (self.right_values, self.draws_right, self.se_right)}[side]
        return _band(t, d, alpha=a, kind=self.band_kind, se=se if self.band_kind == "studentized" else None)

    def conf_int(self, alpha: float | None = None, kind: str = "uniform") -> pd.DataFrame:
        """Columns "lower", "upper": the uniform band (``kind="uniform"``) or pointwise normal intervals."""
        a = self.alpha if alpha is None else check_probability("alpha", alpha)
        kind = check_choice("kind", kind, ("uniform", "pointwise"))
        if kind == "uniform":
            b = self.band(a)
            lo, hi = b.lower, b.upper
        else:
            half = stats.norm.ppf(1 - a / 2) * self.se_values
            lo, hi = self.values - half, self.values + half
        return pd.DataFrame({"lower": lo, "upper": hi}, index=self.estimate.index)

    @property
    def critical_value(self) -> float | None:
        """Critical value of the band at ``alpha`` (None without bootstrap draws)."""
        return None if self.draws is None else self.band().critical_value

    @property
    def pvalue(self) -> float:
        """Bootstrap p-value of H0: no effect at any level (the sup statistic the band inverts; NaN
        without bootstrap draws)."""
        if self.draws is None:
            return math.nan
        t, d = self.values, self.draws
        if self.band_kind == "studentized":
            keep = self.se_values > 0
            s = float(np.max(np.abs(t[keep]) / self.se_values[keep])) if keep.any() else 0.0
            sb = np.max(np.abs(d[:, keep]) / self.se_values[keep], axis=1) if keep.any() else np.zeros(d.shape[0])
        else:
            s, sb = float(np.max(np.abs(t))), np.max(np.abs(d), axis=1)
        return float((1 + np.count_nonzero(sb >= s)) / (sb.size + 1))

    @property
    def frame(self) -> pd.DataFrame:
        """One row per level: left, right, effect, se, pvalue, ci_lower, ci_upper (pointwise) and
        band_lower, band_upper (with bootstrap draws)."""
        ci = self.conf_int(kind="pointwise")
        df = pd.DataFrame({"left": self.left, "right": self.right, "effect": self.estimate, "se": self.se,
                           "pvalue": self.pvalues, "ci_lower": ci["lower"], "ci_upper": ci["upper"]})
        if self.draws is not None:
            b = self.band()
            df["band_lower"], df["band_upper"] = b.lower, b.upper
        return df

    def to_dict(self) -> dict[str, Any]:
        """Every number as plain lists (the band as "band_lower"/"band_upper", None without draws)."""
        b = None if self.draws is None else self.band()
        return {"name": self.name, "label": self.label, "levels": self.levels.tolist(),
                "estimate": self.values.tolist(), "left": self.left_values.tolist(),
                "right": self.right_values.tolist(), "se": self.se_values.tolist(), "alpha": self.alpha,
                "grid_range": list(self.grid_range), "pvalue": self.pvalue,
                "critical_value": None if b is None else b.critical_value,
                "band_lower": None if b is None else b.lower.tolist(),
                "band_upper": None if b is None else b.upper.tolist()}

    def _display(self) -> list[tuple[str, str]]:
        return [("levels", _r.level_range(self.levels)), ("effect", _r.span(self.values)),
                ("std. error", _r.span(self.se_values)),
                ("critical value", _r.num(self.critical_value)), ("p-value (sup test)", _r.pvalue(self.pvalue)),
                ("computed on", _range_text(self.grid_range))]

    def __repr__(self) -> str:
        return _r.one_line("FunctionalCurve", f"{self.label} on {_range_text(self.grid_range)}",
                           [("", _r.level_range(self.levels)), ("effect", _r.span(self.values)),
                            ("sup p", _r.pvalue(self.pvalue))])

    def _repr_html_(self) -> str:
        return _r.html_table(f"FunctionalCurve: {self.label}", self._display())

    def plot(self, ax: Any = None, kind: str = "curves", **kwargs: Any):
        """Plot with matplotlib (imported only now): ``kind="curves"`` the two curves with their uniform
        bands and the line of equality; ``"effect"`` the difference with its band and zero line
        (:func:`r3d.plotting.plot_lorenz`)."""
        from r3d import plotting

        return plotting.plot_lorenz(self, ax=ax, kind=check_choice("kind", kind, ("curves", "effect")), **kwargs)


# ---------------------------------------------------------------------------------------------
# computing an effect
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SideInputs:
    """What functionals need from a sharp fit (validated, read-only)."""

    quantiles: np.ndarray
    m_plus: np.ndarray
    m_minus: np.ndarray
    a_plus: np.ndarray
    a_minus: np.ndarray
    se_of: Callable[[np.ndarray], np.ndarray]
    side_draws: Callable[[], Any] | None
    alpha: float


def _at_side(f: Functional, fn: Callable, q: np.ndarray, Q: np.ndarray, opts: dict, side: str) -> Any:
    try:
        return fn(q, Q, opts)
    except (_Undefined, _OutsideRange) as exc:
        text = str(exc).rstrip(".") if isinstance(exc, _Undefined) else "z lies outside the grid's quantiles"
        raise ValueError(f"The {f.label(opts)} of the {side} limit is not defined: {text}. It is computed from the "
                         f"{side} limit's average quantile function on the grid [{q[0]:g}, {q[-1]:g}]."
                         ) from None


def effect(f: Functional, opts: dict, inp: SideInputs) -> FunctionalEffect | FunctionalCurve:
    """``phi(m_+) - phi(m_-)`` with delta-method inference (and, for curves, bootstrap bands)."""
    q = inp.quantiles
    right = _at_side(f, f.value, q, inp.m_plus, opts, "right")
    left = _at_side(f, f.value, q, inp.m_minus, opts, "left")
    J_p = np.atleast_2d(_at_side(f, f.jacobian, q, inp.m_plus, opts, "right"))
    J_m = np.atleast_2d(_at_side(f, f.jacobian, q, inp.m_minus, opts, "left"))
    infl_p, infl_m = inp.a_plus @ J_p.T, inp.a_minus @ J_m.T
    se = inp.se_of(infl_p - infl_m)
    grid_range = (float(q[0]), float(q[-1]))
    if f.kind == "scalar":
        est = float(right - left)
        s = float(se[0])
        z = est / s if s > 0 else (0.0 if est == 0 else math.copysign(math.inf, est))
        return FunctionalEffect(name=f.name, label=f.label(opts), estimate=est, left=float(left), right=float(right),
                                se=s, z=z, pvalue=float(2 * stats.norm.sf(abs(z))), alpha=inp.alpha,
                                grid_range=grid_range)
    d = d_p = d_m = None
    if inp.side_draws is not None:
        sd = inp.side_draws()
        d_p, d_m = sd.plus @ J_p.T, sd.minus @ J_m.T
        d = d_p - d_m
    return FunctionalCurve(name=f.name, label=f.label(opts), levels=q.copy(), values=np.asarray(right - left),
                           left_values=np.asarray(left), right_values=np.asarray(right), se_values=se,
                           se_left=inp.se_of(infl_m), se_right=inp.se_of(infl_p), alpha=inp.alpha,
                           grid_range=grid_range, band_kind=CURVE_BAND, draws=d, draws_left=d_m,
                           draws_right=d_p)


def w2_effect(test: Any, quantiles: np.ndarray) -> FunctionalEffect:
    """The Wasserstein-2 distance as a :class:`FunctionalEffect` from its bootstrap test (``TESTS["w2"]``)."""
    return FunctionalEffect(name="w2", label="W2 distance", estimate=test.statistic, left=math.nan, right=math.nan,
                            se=math.nan, z=math.nan, pvalue=test.pvalue, alpha=test.alpha,
                            grid_range=(float(quantiles[0]), float(quantiles[-1])), method="bootstrap test",
                            critical_value=test.critical_value, n_boot=test.n_boot)


__all__ += ["SideInputs", "effect", "w2_effect"]
