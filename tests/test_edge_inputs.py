"""Ambiguous and badly typed input at the model's edge (issue 13): refused with a message naming the
argument, the problem and the fix, or warned about with counts; never silently turned into numbers."""

import datetime
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import r3d
from r3d.data import MIN_CLUSTERS

#: Units with a handful of draws on a fine grid: the few-draws diagnostic is expected here and is
#: tested in tests/test_fewdraws.py.
pytestmark = pytest.mark.filterwarnings("ignore::r3d.FewDrawsWarning")

#: The same data through two ways in (object column of numbers vs float, a backticked name vs a
#: plain one): the same arithmetic, equal bit for bit (measured 0).
SAME = dict(rtol=0, atol=0)
#: An R3D fit on one draw per unit against a hand-written local quadratic least squares on the unit
#: values (numpy's lstsq vs r3d's compiled solver): measured 4e-15 on values ~ 1.
ATOL_POINT_MASS = 1e-12

FIT = dict(bandwidth=0.8, quantiles=5, n_boot=0)


def _long(n=60, k=5, seed=0):
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n), k)
    xu = rng.uniform(-1, 1, n)
    y = rng.normal(size=n * k) + xu[unit] + (xu[unit] >= 0)
    return pd.DataFrame({"y": y, "x": xu[unit], "u": unit, "t": (xu[unit] >= 0).astype(int),
                         "w": rng.uniform(0.5, 2.0, n * k), "c": unit % 30})


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", r3d.R3DWarning)
        return fn(*args, **kwargs)


# ---------------------------------------------------------------- 1. one column per name
@pytest.mark.parametrize("formula", ["y ~ x", "np.log(y + 10) ~ x", "y ~ I(x * 1)"])
@pytest.mark.parametrize("dup", ["y", "x"])
def test_a_duplicated_column_the_formula_reads_is_refused(formula, dup):
    df = _long()
    data = pd.concat([df, df[[dup]] * 2], axis=1)
    with pytest.raises(ValueError, match=rf"`data` must be a DataFrame with one column named '{dup}' .*"
                                         rf"got <2 columns named '{dup}'>.*columns.duplicated"):
        r3d.R3D.from_formula(formula, data, unit="u")


@pytest.mark.parametrize("arg", ["unit", "treatment", "weights", "cluster"])
def test_a_duplicated_column_named_by_an_argument_is_refused(arg):
    df = _long()
    col = {"unit": "u", "treatment": "t", "weights": "w", "cluster": "c"}[arg]
    data = pd.concat([df, df[[col]]], axis=1)
    kw = {"unit": "u", arg: col}
    with pytest.raises(ValueError, match=rf"one column named '{col}' \(`{arg}` names it\)"):
        r3d.R3D.from_formula("y ~ x", data, **kw)


def test_a_duplicated_column_nobody_reads_is_fine():
    df = _long()
    data = pd.concat([df, df[["w"]]], axis=1)
    a = r3d.R3D.from_formula("y ~ x", data, unit="u").fit(**FIT)
    b = r3d.R3D.from_formula("y ~ x", df, unit="u").fit(**FIT)
    np.testing.assert_allclose(a.params, b.params, **SAME)


# ---------------------------------------------------------------- 2. pandas indexes
def test_series_with_shuffled_indexes_are_refused_naming_both():
    df = _long()
    shuffled = df.sample(frac=1.0, random_state=1)
    with pytest.raises(ValueError, match=r"`running` must be indexed like `outcome`.*same labels in another "
                                         r"order.*running = running.reindex\(outcome.index\).*reset_index"):
        r3d.R3D(df["y"], shuffled["x"], df["u"])
    with pytest.raises(ValueError, match=r"`weights` must be indexed like `unit`"):
        r3d.R3D(df["y"], df["x"], df["u"], weights=shuffled["w"])
    with pytest.raises(ValueError, match=r"`cluster` must be indexed like `weights`.*other labels \(first "
                                         r"difference at position 0: 1000 where `weights` has 0\)"):
        r3d.R3D(df["y"], df["x"], df["u"], weights=df["w"], cluster=df["c"].set_axis(df.index + 1000))


def test_aligned_series_or_arrays_pair_by_position():
    df = _long()
    ref = r3d.R3D(df["y"].to_numpy(), df["x"].to_numpy(), df["u"].to_numpy()).fit(**FIT)
    shuffled = df.sample(frac=1.0, random_state=1)  # the same rows in another order, each Series alike
    a = r3d.R3D(shuffled["y"], shuffled["x"], shuffled["u"]).unit_quantiles(5).sort_index()
    np.testing.assert_allclose(a.to_numpy(), r3d.R3D(df["y"], df["x"], df["u"]).unit_quantiles(5).to_numpy(),
                               **SAME)
    mixed = r3d.R3D(df["y"], df["x"].to_numpy(), df["u"].set_axis(df.index[::-1]).to_numpy()[::-1])
    np.testing.assert_allclose(mixed.fit(**FIT).params, ref.params, **SAME)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), which=st.sampled_from(["outcome", "running", "unit", "weights"]))
def test_property_a_shuffled_index_is_refused_never_paired_by_position(seed, which):
    """Any permutation of one argument's rows (its labels moving with its values) is refused unless it is
    the identity; nothing is ever paired by position against the labels."""
    df = _long(n=25, k=3, seed=seed % 1000)
    perm = np.random.default_rng(seed).permutation(len(df))
    cols = {"outcome": "y", "running": "x", "unit": "u", "weights": "w"}
    args = {name: df[col] for name, col in cols.items()}
    args[which] = df[cols[which]].iloc[perm]
    build = lambda: r3d.R3D(args["outcome"], args["running"], args["unit"], weights=args["weights"])  # noqa: E731
    if (perm == np.arange(len(df))).all():
        assert _quiet(build).nobs == 25
        return
    with pytest.raises(ValueError, match=r"must be indexed like `\w+`.*same labels in another order"):
        build()


def test_from_samples_and_from_quantiles_check_indexes_too():
    rng = np.random.default_rng(2)
    x = pd.Series(rng.uniform(-1, 1, 30), index=[f"u{i}" for i in range(30)])
    samples = [pd.Series(rng.normal(size=4), index=list("abcd")) for _ in range(30)]
    with pytest.raises(ValueError, match=r"`treatment` must be indexed like `running`"):
        r3d.R3D.from_samples(samples, x, treatment=(x >= 0).astype(int).iloc[::-1])
    weights = [s * 0 + 1.0 for s in samples]
    weights[3] = weights[3].iloc[::-1]
    with pytest.raises(ValueError, match=r"`weights\[3\]` must be indexed like `samples\[3\]`"):
        r3d.R3D.from_samples(samples, x, weights=weights)
    Q = pd.DataFrame(np.sort(rng.normal(size=(30, 3)), axis=1), index=x.index)
    _quiet(r3d.R3D.from_quantiles, Q, x, [0.25, 0.5, 0.75])  # same index: fine
    with pytest.raises(ValueError, match=r"`running` must be indexed like `qmat`"):
        r3d.R3D.from_quantiles(Q, x.reset_index(drop=True), [0.25, 0.5, 0.75])


# ---------------------------------------------------------------- 3 and 4. numbers only, one rule
def _bad_columns(n):
    half = n // 2
    return {
        "numeric strings": (pd.Series(np.arange(n).astype(str), dtype="str"), "dtype str", r"pd.to_numeric"),
        "object strings": (pd.Series(["1.5"] * n, dtype=object), "holding str values such as '1.5'",
                           r"pd.to_numeric"),
        "categorical": (pd.Series(np.arange(n) % 3, dtype="category"), "categorical .*dtype category",
                        r"astype\(str\)"),
        "datetime": (pd.Series(pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(n), "D")), "dtype datetime64",
                     "days since a reference date"),
        "timedelta": (pd.Series(pd.to_timedelta(np.arange(n), "D")), "dtype timedelta64", "Convert dates"),
        "dates as objects": (pd.Series([datetime.date(2020, 1, 1)] * n, dtype=object), "holding date values",
                             "Convert dates"),
        "complex": (pd.Series(np.arange(n) + 1j), "complex .*dtype complex128", r"np.real"),
        "complex objects": (pd.Series([1.0] * half + [2 + 1j] * (n - half), dtype=object),
                            "holding complex values", r"np.real"),
    }


@pytest.mark.parametrize("kind", list(_bad_columns(4)))
@pytest.mark.parametrize("role", ["outcome", "running", "weights"])
def test_every_path_refuses_what_is_not_a_number_with_the_same_message(kind, role):
    df = _long()
    bad, dtype_text, fix = _bad_columns(len(df))[kind]
    col = {"outcome": "y", "running": "x", "weights": "w"}[role]
    data = df.assign(**{col: bad.to_numpy()}).astype({col: bad.dtype})
    kw = {"weights": "w"} if role == "weights" else {}
    arg_name = "weights" if role == "weights" else f"data\\['{col}'\\]"
    with pytest.raises(TypeError, match=rf"`{arg_name}` must be numeric or boolean; got <.*{dtype_text}.*>\. .*{fix}"):
        r3d.R3D.from_formula("y ~ x", data, unit="u", **kw)
    if role != "weights":  # through a transform: the column is named, not the formula
        formula = "np.abs(y) ~ x" if role == "outcome" else "y ~ I(x + 0)"
        with pytest.raises(TypeError, match=rf"`data\['{col}'\]` must be numeric or boolean"):
            r3d.R3D.from_formula(formula, data, unit="u")
    arrays = {"outcome": data["y"], "running": data["x"], "unit": data["u"]}
    extra = {"weights": data["w"]} if role == "weights" else {}
    with pytest.raises(TypeError, match=rf"`{role}` must be numeric or boolean; got <.*{dtype_text}.*>\. .*{fix}"):
        r3d.R3D(**arrays, **extra)
    if kind != "categorical":  # a list of a categorical's values has no categories left
        with pytest.raises(TypeError, match=rf"`{role}` must be numeric or boolean"):  # a plain list
            r3d.R3D(**{**arrays, **extra, role: list(bad)})


def test_treatment_and_samples_follow_the_rule():
    df = _long()
    with pytest.raises(TypeError, match=r"`treatment` must be numeric or boolean; got <column 't' of dtype str"):
        r3d.R3D.from_formula("y ~ x", df.assign(t=df["t"].astype(str)), unit="u", treatment="t")
    with pytest.raises(TypeError, match=r"`samples\[1\]` must be numeric or boolean.*complex"):
        r3d.R3D.from_samples([[1.0, 2.0], [1.0 + 2j, 3.0]], [-0.5, 0.5])
    with pytest.raises(TypeError, match=r"`running` must be numeric or boolean.*strings"):
        r3d.R3D.from_samples([[1.0, 2.0], [1.0, 3.0]], ["-0.5", "0.5"])


def test_a_transform_that_makes_complex_numbers_is_refused():
    df = _long()
    with pytest.raises(TypeError, match=r"`formula term np.sqrt\(y \+ 0j\)` must be numeric or boolean.*complex"):
        r3d.R3D.from_formula("np.sqrt(y + 0j) ~ x", df, unit="u")


def test_numbers_in_any_container_are_accepted_alike():
    df = _long()
    ref = r3d.R3D.from_formula("y ~ x", df, unit="u").fit(**FIT).params
    as_objects = df.astype({"y": object, "x": object})  # formulaic would read these as categories
    before = as_objects.copy()
    np.testing.assert_allclose(r3d.R3D.from_formula("y ~ x", as_objects, unit="u").fit(**FIT).params, ref, **SAME)
    np.testing.assert_allclose(r3d.R3D.from_formula("np.abs(y) ~ x", df.assign(y=df["y"].abs()).astype(
        {"y": object}), unit="u").fit(**FIT).params,
        r3d.R3D.from_formula("y ~ x", df.assign(y=df["y"].abs()), unit="u").fit(**FIT).params, **SAME)
    pd.testing.assert_frame_equal(as_objects, before)  # converted in a new frame
    np.testing.assert_allclose(r3d.R3D(list(df["y"]), list(df["x"]), df["u"]).fit(**FIT).params, ref, **SAME)
    booleans = df.assign(t=df["t"].astype(bool))
    fuzzy = dict(bandwidth_treatment=0.8, **FIT)
    np.testing.assert_allclose(r3d.R3D.from_formula("y ~ x", booleans, unit="u", treatment="t").fit(**fuzzy).params,
                               r3d.R3D.from_formula("y ~ x", df, unit="u", treatment="t").fit(**fuzzy).params, **SAME)


# ---------------------------------------------------------------- 5. names that need quoting
def test_a_column_name_with_a_space_gets_the_quoting_hint_without_colour_codes():
    df = _long().rename(columns={"y": "my wage"})
    with pytest.raises(ValueError) as info:
        r3d.R3D.from_formula("my wage ~ x", df, unit="u")
    text = str(info.value)
    assert "\x1b" not in text and "\n" not in text
    assert "must be quoted in backticks: `my wage` (or Q('my wage'))" in text
    ref = r3d.R3D.from_formula("y ~ x", df.rename(columns={"my wage": "y"}), unit="u").fit(**FIT).params
    for formula in ("`my wage` ~ x", "Q('my wage') ~ x"):
        np.testing.assert_allclose(r3d.R3D.from_formula(formula, df, unit="u").fit(**FIT).params, ref, **SAME)


def test_out_of_core_parse_errors_suggest_backticks():
    from r3d.formula import formula_terms

    with pytest.raises(ValueError, match=r"quote a column name .* in backticks") as info:
        formula_terms("my wage ~ x")
    assert "\x1b" not in str(info.value)


# ---------------------------------------------------------------- 6 and 7. dropped draws
def test_all_zero_weights_have_their_own_message():
    df = _long()
    with pytest.raises(ValueError, match=r"`weights` must be positive for at least one draw with an outcome; "
                                         r"got <every weight of the 300 draws with an outcome is 0 or missing>"):
        r3d.R3D.from_formula("y ~ x", df.assign(w=0.0), unit="u", weights="w")
    mixed = df.assign(w=np.where(df.index % 2 == 0, 0.0, np.nan), y=np.where(df.index < 10, np.nan, df["y"]))
    with pytest.raises(ValueError, match=r"`weights` must be positive .* the 290 draws with an outcome"):
        r3d.R3D.from_formula("y ~ x", mixed, unit="u", weights="w")
    with pytest.raises(ValueError, match=r"`outcome` must be non-missing for at least one unit"):
        r3d.R3D.from_formula("y ~ x", df.assign(y=np.nan, w=0.0), unit="u", weights="w")


def test_dropped_draws_are_warned_with_their_counts_and_reach_the_notes():
    df = _long()
    df.loc[[0, 7, 11], "y"] = np.nan
    df.loc[[1, 2, 7], "w"] = [0.0, np.nan, 0.0]  # row 7 counts once, as a missing outcome
    with pytest.warns(r3d.DroppedDataWarning) as rec:
        mod = r3d.R3D.from_formula("y ~ x", df, unit="u", weights="w")
    text = "5 draw(s) dropped (3 with a missing outcome and 2 with a zero or missing weight); 295 draws remain."
    assert [str(w.message) for w in rec if issubclass(w.category, r3d.DroppedDataWarning)] == [text]
    assert rec[0].filename == __file__
    assert mod.n_dropped_draws == 5
    res = _quiet(mod.fit, **FIT)
    assert text in res.notes and text in " ".join(res.summary().as_text().split())  # wrapped in the summary


def test_nothing_dropped_nothing_said():
    with warnings.catch_warnings():
        warnings.simplefilter("error", r3d.R3DWarning)
        r3d.R3D.from_formula("y ~ x", _long(), unit="u", weights="w")


# ---------------------------------------------------------------- 8. point masses
def _local_quadratic_jump(x, y, h):
    """Ordinary sharp RD: triangular-kernel local quadratic fits at 0 on each side (least squares)."""
    limits = []
    for side in (x < 0, x >= 0):
        xs, ys = x[side], y[side]
        k = np.clip(1 - np.abs(xs) / h, 0, None)
        basis = np.vander(xs, 3, increasing=True) * np.sqrt(k)[:, None]
        limits.append(np.linalg.lstsq(basis, ys * np.sqrt(k), rcond=None)[0][0])
    return limits[1] - limits[0]


def test_one_draw_per_unit_warns_and_is_an_ordinary_rd():
    df = _long(n=200, k=1)
    with pytest.warns(r3d.PointMassWarning, match=r"Every unit has a single draw \(200 units\), so each unit's "
                                                  r"distribution is a point mass.*ordinary RD"):
        mod = r3d.R3D.from_formula("y ~ x", df, unit="u")
    res = _quiet(mod.fit, bandwidth=0.8, quantiles=9, n_boot=0)
    assert any("point mass" in n for n in res.notes)
    tau = _local_quadratic_jump(df["x"].to_numpy(), df["y"].to_numpy(), 0.8)
    np.testing.assert_allclose(res.params.to_numpy(), tau, rtol=0, atol=ATOL_POINT_MASS)


def test_point_masses_from_samples_and_quantiles_and_not_otherwise():
    x = np.linspace(-1, 1, 40)
    with pytest.warns(r3d.PointMassWarning):
        r3d.R3D.from_samples([[v] for v in x], x)
    with pytest.warns(r3d.PointMassWarning, match="quantiles are equal at all 3 levels"):
        r3d.R3D.from_quantiles(np.repeat(x[:, None], 3, axis=1), x, [0.25, 0.5, 0.75])
    with warnings.catch_warnings():
        warnings.simplefilter("error", r3d.R3DWarning)
        r3d.R3D.from_samples([[v] for v in x[:-1]] + [[0.0, 1.0]], x)  # one unit with two draws
        r3d.R3D.from_quantiles(x[:, None], x, [0.5])  # one level: nothing to compare


# ---------------------------------------------------------------- 9. clusters
def test_a_single_cluster_is_refused_on_every_way_in():
    df = _long()
    match = r"`cluster` must be made of at least 2 distinct clusters.*every unit is in cluster 'all'.*Omit `cluster`"
    with pytest.raises(ValueError, match=match):
        r3d.R3D.from_formula("y ~ x", df.assign(c="all"), unit="u", cluster="c")
    with pytest.raises(ValueError, match=match):
        r3d.R3D(df["y"], df["x"], df["u"], cluster=["all"] * len(df))
    x = np.linspace(-1, 1, 30)
    with pytest.raises(ValueError, match=match):
        r3d.R3D.from_samples([[v, v + 1] for v in x], x, cluster=["all"] * 30)
    with pytest.raises(ValueError, match=match):
        r3d.R3D.from_quantiles(np.c_[x, x + 1], x, [0.25, 0.75], cluster=["all"] * 30)


def test_a_single_cluster_left_after_dropping_units_is_refused():
    df = _long().assign(c=lambda d: np.where(d["u"] < 5, "a", "b"))
    df.loc[df["c"] == "a", "y"] = np.nan
    with pytest.raises(ValueError, match=r"at least 2 distinct clusters.*cluster 'b'"):
        _quiet(r3d.R3D.from_formula, "y ~ x", df, unit="u", cluster="c")


def test_few_clusters_warn_and_the_warning_reaches_the_notes():
    df = _long()
    with pytest.warns(r3d.SmallSampleWarning, match=rf"Only 5 clusters in `cluster` \(fewer than {MIN_CLUSTERS}\)"):
        mod = r3d.R3D.from_formula("y ~ x", df.assign(c=df["u"] % 5), unit="u", cluster="c")
    assert any("Only 5 clusters" in n for n in _quiet(mod.fit, **FIT).notes)
    with warnings.catch_warnings():
        warnings.simplefilter("error", r3d.R3DWarning)
        r3d.R3D.from_formula("y ~ x", df.assign(c=df["u"] % MIN_CLUSTERS), unit="u", cluster="c")
