"""Case study: extended unemployment benefits at age 50 (Lalive 2008), as cells (docs/case_studies.md).

Austria's Regional Extended Benefit Program (REBP) extended the benefit period for job seekers
aged 50 and over in some regions. The data are the unemployment spells in the `rdhonest`
package (``rdhonest.datasets.load_rebp()``: age at monthly accuracy, period, female, duration in
weeks). A unit is a cell of age-in-months x sex; its outcome distribution is the durations of
the spells in it; the running variable is age, the cutoff 50. The period with the program is the
design; the period before it is a placebo (no jump expected).

The data are GPL-licensed and are loaded at run time from the installed package (``pip install
rdhonest``); nothing derived from them at the cell level is stored in this repository. Also needs
rdrobust (``pip install rdrobust``). Prints every number docs/case_studies.md shows and saves
``case_rebp_effect.png`` in the working directory.
"""

# <data>
import contextlib
import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from rdhonest import RDHonest, datasets
from rdrobust import rdrobust

import r3d

spells = datasets.load_rebp()
spells["cell"] = spells["age"].round(4).astype(str) + np.where(spells["female"], " F", " M")
spells["cell_size"] = spells.groupby(["period", "cell"])["duration"].transform("size").astype(float)
spells["side"] = np.where(spells["age"] >= 50, "50 and over", "under 50")
cells = spells.groupby(["period", "cell"]).agg(side=("side", "first"), size=("duration", "size"))
print(f"{len(spells):,} spells in {cells.shape[0]} cells "
      f"({spells['age'].nunique()} ages in months x 2 sexes x 2 periods)\n")
table = cells.groupby(["period", "side"])["size"].agg(["count", "sum", "min", "median", "max"])
print(table.rename(columns={"count": "cells", "sum": "spells"},
                   index={True: "program", False: "before"}).to_string())
# </data>

# <design>
program = spells[spells["period"]]
before = spells[~spells["period"]]


def cell_model(data, weights="cell_size", covariates=None):
    return r3d.R3D.from_formula("duration ~ age", data=data, cutoff=50, unit="cell", unit_weights=weights,
                                covariates=covariates)


mod = cell_model(program)
dens = mod.density_test()  # one age per cell
print(f"density test on the cells' ages: T = {dens.statistic:.3f}, p = {dens.pvalue:.3f}")
print(mod.binomial_test().frame.round(3).head(3).to_string(index=False), end="\n\n")

inflow = {}  # the jump in the cells' sizes: more spells starting just after 50?
for name, data in (("program", program), ("before", before)):
    bal = cell_model(data, weights=None, covariates="cell_size").covariate_balance(n_boot=999, rng=1)
    inflow[name] = jump = bal.frame.loc["cell_size"]
    print(f"{name:>8}: jump in spells per cell at 50 = {jump['jump']:6.1f} (se {jump['se']:.1f}, "
          f"p = {jump['pvalue']:.3f}, h = {jump['h']:.2f})")
# </design>

# <fit>
FIT = {"n_boot": 999, "rng": 1, "band": "studentized"}  # a band as wide as each quantile's se
res = mod.fit(**FIT)  # unit weights = cell sizes; masspoints="check" (the default)
print(res.summary())
# </fit>

# <compare>
LEVELS = [0.25, 0.5, 0.75, 0.9]


def row(fit):
    avg = fit.average_effect
    return {"h": fit.bandwidth, **{f"tau({q:g})": fit.params[q] for q in LEVELS}, "average": avg.estimate,
            "se": avg.se, "p(tau=0)": fit.nullity_test().pvalue}


fits = {"cell sizes (above)": res,
        'cell sizes, masspoints="adjust"': mod.fit(**FIT, masspoints="adjust"),
        "unweighted": cell_model(program, weights=None).fit(**FIT)}
fits["unweighted, same h"] = cell_model(program, weights=None).fit(**FIT, bandwidth=res.bandwidth)
for sex, label in ((False, "men's cells only"), (True, "women's cells only")):
    fits[label] = cell_model(program[program["female"] == sex]).fit(**FIT)
table = pd.DataFrame({k: row(f) for k, f in fits.items()}).T
print(table.round(2).assign(**{"p(tau=0)": table["p(tau=0)"].round(3)}).to_string())
mp = fits["men's cells only"].data.mass_points
print(f"\none sex: {mp.distinct_left} distinct ages for {mp.n_left} cells left, "
      f"{mp.distinct_right} for {mp.n_right} right (no mass points)")
# </compare>

# <functionals>
print(f"{'':28}{'under 50':>9}{'50+':>9}{'effect':>9}{'se':>7}")
for z in (26, 52, 104):
    f = res.functional("share_below", z=z)  # F(z); the share longer than z is 1 - F(z)
    print(f"share of spells > {z:3d} weeks {1 - f.left:9.3f}{1 - f.right:9.3f}{-f.estimate:9.3f}{f.se:7.3f}")
for name in ("mean", "sd"):
    f = res.functional(name)
    print(f"{name + ' duration (weeks)':28}{f.left:9.2f}{f.right:9.2f}{f.estimate:9.2f}{f.se:7.2f}")
dom = res.dominance_test()
print(f"\nfirst-order dominance, H0: tau(q) >= 0 for all q: p = {dom.pvalue:.3f}")
# </functionals>

# <placebo>
mod_before = cell_model(before)
res_before = mod_before.fit(**FIT)
print(res_before.summary(sections=("effects", "tests")))
f = res_before.functional("mean")
print(f"mean: {f.left:.2f} -> {f.right:.2f}, effect {f.estimate:.2f} (se {f.se:.2f}, p = {f.pvalue:.3f})")
f = res_before.functional("share_below", z=52)
print(f"share > 52 weeks: {1 - f.left:.3f} -> {1 - f.right:.3f}, effect {-f.estimate:.3f} "
      f"(se {f.se:.3f}, p = {f.pvalue:.3f})")
frame = res_before.summary_frame()
outside = frame.index[(frame["band_lower"] > 0) | (frame["band_upper"] < 0)]
print(f"studentized band excludes 0 at q = {', '.join(f'{q:g}' for q in outside)}; pointwise intervals exclude 0 "
      f"at {int((frame['pvalue'] < 0.05).sum())} of {len(frame)} levels")
print(frame.loc[outside, ["left", "right", "coef"]].round(2).T.to_string())
print(f"tau(q) = 0 on [0.01, 0.1] alone: p = {res_before.nullity_test(ranges=(0.01, 0.1)).pvalue:.3f}")
# </placebo>

# <scalar>
y, x = program["duration"].to_numpy(), program["age"].to_numpy()
h = res.bandwidth
hc0 = mod.fit(n_boot=0, bandwidth=h, vce="hc0").average_effect  # HC0, as rdrobust's vce="hc0" / "cr1" below
rows = {"r3d: mean of the weighted cells' AQF": (hc0.estimate, hc0.se, h, 2)}
for label, kwargs in (("rdrobust, spells, same h and p", {"vce": "hc0"}),
                      ("  clustered by cell", {"vce": "cr1", "cluster": program["cell"].to_numpy()})):
    out = rdrobust(y, x, c=50, h=h, p=2, masspoints="off", **kwargs)
    rows[label] = (out.coef.iloc[0, 0], out.se.iloc[0, 0], h, 2)
with contextlib.redirect_stdout(io.StringIO()):  # both announce mass points / their choice of M
    out = rdrobust(y, x, c=50)
    honest = RDHonest(Y=y, X=x, cutoff=50.0).coefficients.iloc[0]
rows["rdrobust, spells, its defaults"] = (out.coef.iloc[0, 0], out.se.iloc[0, 0], out.bws.iloc[0, 0], 1)
rows["RDHonest, spells, its defaults"] = (honest["estimate"], honest["std.error"], honest["bandwidth"], 1)
print(pd.DataFrame(rows, index=["estimate", "se", "h", "p"]).T.round(2).to_string())
print(f"RDHonest: M = {honest['M']:.1f} (rule of thumb), honest 95% CI "
      f"[{honest['conf.low']:.1f}, {honest['conf.high']:.1f}] (worst-case bias {honest['maximum.bias']:.2f})")
# </scalar>

# <figure>
fig, axes = plt.subplots(1, 2, figsize=(9.6, 3.8), sharey=True, layout="constrained")
for ax, (title, fit) in zip(axes, (("with the program", res), ("before the program (placebo)", res_before)),
                            strict=True):
    fit.plot(ax=ax, title=title)
    ax.set_xlabel("quantile level q")
axes[0].set_ylabel("jump in duration at age 50 (weeks)")
axes[1].set_ylabel("")
axes[1].get_legend().remove()
fig.savefig("case_rebp_effect.png", dpi=110)
# </figure>
