"""r3d.formula.formula_terms: formulaic's parse (no data) that the out-of-core engines share."""

import numpy as np
import pandas as pd
import pytest

from r3d.formula import FormulaTerm, formula_terms, row_dependent_calls


@pytest.mark.parametrize("formula, outcome, running", [
    ("y ~ x", FormulaTerm("y", ("y",), ("y",), ()), FormulaTerm("x", ("x",), ("x",), ())),
    ("np.log(y) ~ I(score / 2 + 1) - 1",
     FormulaTerm("np.log(y)", ("np.log(y)",), ("y",), ("np.log",)),
     FormulaTerm("I(score / 2 + 1)", ("I(score / 2 + 1)",), ("score",), ("I",))),
    # backticked names become Q('...'), which formulaic reads as a column too
    ("log(`my wage`) ~ `my score`",
     FormulaTerm("log(`my wage`)", ("log(Q('my wage'))",), ("my wage",), ("log", "Q")),
     FormulaTerm("my score", ("Q('my score')",), ("my score",), ("Q",))),
    # formulaic's grammar, not Python's: {...} is one factor, x ** 2 is x, a repeated term counts once
    ("y ~ {x / k}", FormulaTerm("y", ("y",), ("y",), ()), FormulaTerm("x / k", ("x / k",), ("x", "k"), ())),
    ("y ~ 0 + x ** 2", FormulaTerm("y", ("y",), ("y",), ()), FormulaTerm("x", ("x",), ("x",), ())),
    ("y ~ I(x) + I(x)", FormulaTerm("y", ("y",), ("y",), ()), FormulaTerm("I(x)", ("I(x)",), ("x",), ("I",))),
    ("y ~ x:z", FormulaTerm("y", ("y",), ("y",), ()), FormulaTerm("x:z", ("x", "z"), ("x", "z"), ())),
])
def test_terms_come_from_formulaic(formula, outcome, running):
    terms = formula_terms(formula)
    assert (terms.formula, terms.outcome, terms.running) == (formula, outcome, running)


def test_scope_names_are_what_a_caller_may_supply():
    terms = formula_terms("np.log(y) ~ I(x / k + np.pi)")
    assert terms.scope_names == ("y", "np", "x", "k", "I")


@pytest.mark.parametrize("formula, match", [
    ("y", r'`formula` must be a string "outcome ~ running"'),
    (3, r'`formula` must be a string "outcome ~ running"'),
    ("y ~ (x", r"`formula` must be a formula .* that formulaic can parse; got <'y ~ \(x': Could not find"),
    ("y ~ np.log(x).round()", "that formulaic can parse"),
    ("y + x ~ x", "exactly one outcome term left of `~`"),
    ("1 ~ x", "exactly one outcome term left of `~`"),
    ("~ x", "exactly one outcome term left of `~`"),
    ("y ~ x + t", r"exactly one running-variable term .*2 right-hand terms: x, t.*Combine variables inside I"),
    ("y ~ 1", "exactly one running-variable term .*no right-hand term besides the intercept"),
    ("y ~ x | t", "exactly one running-variable term .*several parts separated by `\\|`"),
])
def test_refusals_name_formula_and_the_fix(formula, match):
    with pytest.raises(ValueError, match=match):
        formula_terms(formula)


def test_row_dependent_calls_follow_formulaic_stateful_transforms():
    calls = row_dependent_calls(formula_terms("center(y) ~ I(scale(x) + lag(x) + np.log(x) + Q('x'))"), {"np": np})
    assert calls == ("center", "scale", "lag")  # Q (a column lookup) and np.log are row by row


def test_row_dependent_calls_resolve_in_the_callers_scope_first():
    def center(v):  # the caller's own, row by row
        return v - 1.0

    assert row_dependent_calls(formula_terms("y ~ center(x)"), {"center": center}) == ()
    assert row_dependent_calls(formula_terms("y ~ center(x)"), {}) == ("center",)
    assert row_dependent_calls(formula_terms("y ~ unknown(x)"), {}) == ()  # formulaic reports it on evaluation


def test_a_variable_hiding_a_formula_function_is_named():
    """Formulas see the caller's namespace: a DataFrame called ``C`` hides formulaic's ``C()``, and a
    module name rebound to None hides ``np.log``; the error says which name to rename."""
    import r3d

    df = pd.DataFrame({"u": np.repeat([1, 2, 3, 4], 3), "x": np.repeat([-1.0, -0.5, 0.5, 1.0], 3),
                       "y": np.arange(1.0, 13.0), "s": np.repeat(["a", "b", "a", "b"], 3)})
    C = pd.DataFrame({"a": [1]})  # noqa: F841  (seen by the formula through the caller's namespace)
    with pytest.raises(ValueError, match=r"calls `C\(\.\.\.\)`, but `C` in your namespace is a DataFrame"):
        r3d.R3D.from_formula("y ~ x", df, unit="u", covariates="C(s)")
    np_ = None  # noqa: F841
    with pytest.raises(ValueError, match=r"calls `np_\.log\(\.\.\.\)`, but `np_` in your namespace is a NoneType"):
        r3d.R3D.from_formula("np_.log(y) ~ x", df, unit="u")


def test_a_plain_formula_never_imports_formulaic(tmp_path):
    """``"y ~ x"`` on two numeric columns is read without formulaic, so its first call does not pay
    formulaic's import (about 0.1 s of CPU; issue 19); a transformed formula still goes through it."""
    import subprocess
    import sys

    from _child import same_r3d_env

    code = (
        "import sys, numpy as np, pandas as pd, r3d\n"
        "df = pd.DataFrame({'y': np.arange(40.0), 'x': np.repeat(np.linspace(-1, 1, 10), 4),"
        " 'u': np.repeat(np.arange(10), 4)})\n"
        "r3d.R3D.from_formula('y ~ x', data=df, cutoff=0, unit='u')\n"
        "print('formulaic' in sys.modules)\n"
        "r3d.R3D.from_formula('np.log1p(y) ~ x', data=df, cutoff=0, unit='u')\n"
        "print('formulaic' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                         env=same_r3d_env(), cwd=tmp_path)  # outside the checkout, which would shadow r3d
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "True"]
