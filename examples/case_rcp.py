"""Case study: retirement and consumption (Battistin, Brugiavini, Rettore and Weber 2009), as cells
(docs/case_studies.md).

Italian households, 1993-2004 survey waves (``rdhonest.datasets.load_rcp()``): the male head's
years since he became eligible for a pension (``elig_year``), whether he is retired, and the
household's consumption. A unit is a survey-year x eligibility-year cell; its outcome
distribution is the log non-durable consumption of its households; the running variable is
``elig_year`` (integer, cutoff 0: eligible from 0 on; no household has ``elig_year == 0``); the
cell's retired share is its take-up (a fuzzy design with a fractional treatment); cells are
weighted by their number of households.

The data are GPL-licensed and are loaded at run time from the installed package (``pip install
rdhonest``); nothing derived from them at the cell level is stored in this repository. Also needs
rdrobust (``pip install rdrobust``). Prints every number docs/case_studies.md shows and saves
``case_rcp_effect.png`` in the working directory.
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

hh = datasets.load_rcp()
hh["log_cn"] = np.log(hh["cn"])
hh["cell"] = hh["survey_year"].astype(str) + ":" + hh["elig_year"].astype(str)
by_cell = hh.groupby("cell")
hh["cell_size"] = by_cell["cn"].transform("size").astype(float)
hh["retired_share"] = by_cell["retired"].transform("mean")  # the cell's take-up, in [0, 1]
hh["upper_secondary"] = hh["education"].isin(["upper secondary", "college or higher"]).astype(float)
hh["cell_upper_secondary"] = by_cell["upper_secondary"].transform("mean")
hh["cell_family_size"] = by_cell["family_size"].transform("mean")
cells = hh.groupby("cell").agg(elig_year=("elig_year", "first"), size=("cn", "size"))
near = cells[cells["elig_year"].abs() <= 10]
print(f"{len(hh):,} households in {len(cells)} cells ({hh['survey_year'].nunique()} survey years x "
      f"{hh['elig_year'].nunique()} values of elig_year, {cells['elig_year'].min()} to {cells['elig_year'].max()})")
print(f"households per cell: median {cells['size'].median():.0f}, {int((cells['size'] == 1).sum())} cells of one "
      f"household; within 10 years of eligibility {len(near)} cells, {near['size'].min()} to "
      f"{near['size'].max()} households")
# </data>

# <design>
mod = r3d.R3D.from_formula("log_cn ~ elig_year", data=hh, cutoff=0, unit="cell", treatment="retired_share",
                           unit_weights="cell_size")
dens = mod.density_test()
print(f"density test on the cells' elig_year: T = {dens.statistic:.3f}, p = {dens.pvalue:.3f}")
balance = r3d.R3D.from_formula("log_cn ~ elig_year", data=hh, cutoff=0, unit="cell",  # each cell counts once
                               covariates=["cell_size", "cell_upper_secondary", "cell_family_size"])
bal = balance.covariate_balance(n_boot=999, rng=1)
print(bal.frame[["jump", "se", "pvalue", "left", "h"]].round(3).to_string())
print(f"joint test (max |z|): p = {bal.joint.pvalue:.3f}")
# </design>

# <fit>
FIT = {"n_boot": 999, "rng": 1, "masspoints": "adjust", "band": "studentized"}
res = mod.fit(**FIT)
print(res.summary())
# </fit>

# <itt>
itt_mod = r3d.R3D.from_formula("log_cn ~ elig_year", data=hh, cutoff=0, unit="cell", unit_weights="cell_size")
itt = itt_mod.fit(**FIT)  # sharp: the effect of eligibility itself (intention to treat)
print(f"{'eligibility (ITT)':26}{'below':>9}{'above':>9}{'effect':>9}{'se':>8}{'p':>7}")
for name, opts in (("mean", {}), ("sd", {}), ("iqr", {"lower": 0.1, "upper": 0.9})):
    f = itt.functional(name, **opts)
    print(f"{f.label + ' of log cn':26}{f.left:9.3f}{f.right:9.3f}{f.estimate:9.3f}{f.se:8.3f}{f.pvalue:7.3f}")
print(f"ITT bandwidth h = {itt.bandwidth:.2f}; ITT mean / first-stage jump = "
      f"{itt.average_effect.estimate:.3f} / {res.first_stage.jump:.3f} = "
      f"{itt.average_effect.estimate / res.first_stage.jump:.3f}")
# </itt>

# <compare>
LEVELS = [0.1, 0.25, 0.5, 0.75, 0.9]


def row(fit):
    avg = fit.average_effect
    return {"h": fit.bandwidth, "h_T": fit.bandwidth_treatment, **{f"tau({q:g})": fit.params[q] for q in LEVELS},
            "average": avg.estimate, "se": avg.se, "p(tau=0)": fit.nullity_test().pvalue}


unweighted = r3d.R3D.from_formula("log_cn ~ elig_year", data=hh, cutoff=0, unit="cell", treatment="retired_share")
fits = {'cell sizes, masspoints="adjust" (above)': res,
        'cell sizes, masspoints="check"': mod.fit(**{**FIT, "masspoints": "check"}),
        "unweighted": unweighted.fit(**FIT),
        "cell sizes, local linear (p = 1) at the same h, h_T": mod.fit(**FIT, order=1, bandwidth=res.bandwidth,
                                                                     bandwidth_treatment=res.bandwidth_treatment)}
print(pd.DataFrame({k: row(f) for k, f in fits.items()}).T.round(3).to_string())
# </compare>

# <placebo>
placebo = itt.placebo()  # fake cutoffs inside each side, the sharp (ITT) fit on that side's cells
print(placebo.frame[["side", "cutoff", "n_left", "n_right", "h", "average", "average_se",
                     "nullity_pvalue"]].round(3).to_string(index=False))
# </placebo>

# <scalar>
y, x, d = hh["log_cn"].to_numpy(), hh["elig_year"].to_numpy().astype(float), hh["retired"].to_numpy().astype(float)
h = float(res.bandwidth)
at_h = mod.fit(n_boot=0, order=1, bandwidth=h, bandwidth_treatment=h, vce="hc0")  # HC0, as rdrobust's below
rows = {"r3d, cells, p = 1 at h": (at_h.average_effect.estimate, at_h.average_effect.se, at_h.first_stage.jump)}
out = rdrobust(y, x, c=0, fuzzy=d, h=h, p=1, vce="hc0", masspoints="off")
rows["rdrobust, households, p = 1 at h"] = (out.coef.iloc[0, 0], out.se.iloc[0, 0], out.tau_T.iloc[0, 0])
out = rdrobust(y, x, c=0, fuzzy=d, h=h, p=1, vce="cr1", cluster=hh["cell"].to_numpy(), masspoints="off")
rows["  clustered by cell"] = (out.coef.iloc[0, 0], out.se.iloc[0, 0], out.tau_T.iloc[0, 0])
with np.errstate(invalid="ignore"):  # rdhonest takes the square root of a negative variance term
    honest = RDHonest(Y=y, X=x, D=d, cutoff=0.0, kern="triangular", M=[0.001, 0.002], sclass="H", h=h,
                      se_method="EHW").coefficients.iloc[0]
rows["RDHonest, households, p = 1 at h"] = (honest["estimate"], honest["std.error"], honest["first.stage"])
with contextlib.redirect_stdout(io.StringIO()):  # rdrobust announces the mass points
    out = rdrobust(y, x, c=0, fuzzy=d)
rows[f"rdrobust, households, its h = {out.bws.iloc[0, 0]:.2f}"] = (out.coef.iloc[0, 0], out.se.iloc[0, 0],
                                                                   out.tau_T.iloc[0, 0])
print(f"h = {h:.3f}")
print(pd.DataFrame(rows, index=["estimate", "se", "first stage"]).T.round(4).to_string())
print(f"RDHonest (M = 0.001, 0.002): honest 95% CI [{honest['conf.low']:.3f}, {honest['conf.high']:.3f}], "
      f"worst-case bias {honest['maximum.bias']:.3f}")
# </scalar>

# <figure>
fig, axes = plt.subplots(1, 2, figsize=(9.6, 3.8), layout="constrained")
res.plot(ax=axes[0], title="retirement (fuzzy, per unit of take-up)")
itt.plot(ax=axes[1], kind="limits", title="eligibility: the two limits (ITT)")
for ax in axes:
    ax.set_xlabel("quantile level q")
axes[0].set_ylabel("effect on log consumption")
fig.savefig("case_rcp_effect.png", dpi=110)
# </figure>
