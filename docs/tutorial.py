# %% [markdown]
# # Tutorial: a wage subsidy and firms' wage distributions
#
# The code of docs/tutorial.md, top to bottom: `python docs/tutorial.py` prints every output
# shown on that page and saves its figures (tutorial_*.png, and the LaTeX tables in
# summary.tex) in the current directory.
#
# The page shows the pieces between the markers "# <name>" and "# </name>", with what each
# prints; `python docs/_tools/sync.py` copies both into the page after a change here, and a
# test fails while the page and this script disagree.

# %%
# <setup>
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import r3d

# </setup>


# %% [markdown]
# ## 1. The data

# %%
# <data>
df = r3d.datasets.simulate_wage_subsidy(n_firms=2000, rng=3)
firms = df.groupby("firm").agg(revenue=("revenue", "first"), workers=("wage", "size"),
                               mean_wage=("wage", "mean"))
print(f"{len(df):,} workers in {len(firms):,} firms\n")
print(df.head().to_string(), end="\n\n")
print(firms.describe().round(2).to_string())
# </data>

# %% [markdown]
# ## 2. The model and the R3D plot

# %%
# <model>
mod = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")
print(repr(mod))

ax = r3d.plot_binned(mod, quantiles=(0.1, 0.5, 0.9))
ax.figure.savefig("tutorial_binned.png", dpi=110)
# </model>

# %% [markdown]
# ## 3. Checking the design: is the running variable manipulated?

# %%
# <density>
dens = mod.density_test()  # one revenue per firm, never the workers
print(dens.summary())
print()
print(mod.binomial_test().frame.round(3).to_string(index=False))

ax = dens.plot()
ax.figure.savefig("tutorial_density.png", dpi=110)
# </density>

# %% [markdown]
# ## 4. The Fréchet fit with an automatic bandwidth

# %%
# <fit>
res = mod.fit(method="frechet", bandwidth="auto", n_boot=999, rng=1)
print(res.summary())
# </fit>

# %%
# <bandwidth>
info = res.bandwidth_info
print("\n".join([
    f"rule: {info['rule']}, kernel: {info['kernel']}, p = {info['order']}, s = {info['pilot_order']}",
    (f"density of revenue at the cutoff f_hat = {info['f_hat']:.3f} "
     f"(Silverman bandwidth {info['density_bandwidth']:.3f})"),
    f"pilot bandwidth h0 = {info['h0'][0]:.3f}, derivative bandwidth b = {info['b'][0]:.3f}",
    f"final h = {res.bandwidth:.3f} (cap h_max = {info['h_max']:.3f}, capped: {bool(info['capped'][0])})",
    f"firms inside h: {res.n_effective['left']} left, {res.n_effective['right']} right",
]))
# </bandwidth>

# %% [markdown]
# ## 5. The effect plot, the limits and the two tests

# %%
# <plots>
ax = res.plot(truth=r3d.datasets.wage_subsidy_true_effect)
ax.figure.savefig("tutorial_effect.png", dpi=110)

ax = res.plot(kind="limits")
ax.figure.savefig("tutorial_limits.png", dpi=110)
# </plots>

# %%
# <tests>
null = res.nullity_test()
homog = res.homogeneity_test()
by_range = res.homogeneity_test(ranges=[(0.1, 0.5), (0.5, 0.9)])
print("\n".join(
    f"{t.test:<12} on [{t.range[0]:g}, {t.range[1]:g}]: statistic {t.statistic:.3f}, "
    f"critical value {t.critical_value:.3f}, p = {t.pvalue:.3f}" for t in (null, homog))
    + "\n\n" + by_range.frame.drop(columns=["alpha", "reject"]).round(3).to_string(index=False))
# </tests>

# %%
# <export>
Path("summary.tex").write_text(res.summary().as_latex(), encoding="utf-8")
table = res.summary_frame()  # one row per quantile level, every number
print(table.loc[[0.1, 0.5, 0.9]].round(3).T.to_string())
# </export>

# %% [markdown]
# ## 6. A fuzzy design

# %%
# <fuzzy>
df_fuzzy = r3d.datasets.simulate_wage_subsidy(n_firms=2000, fuzzy=True, rng=3)
mod_fuzzy = r3d.R3D.from_formula("wage ~ revenue", data=df_fuzzy, cutoff=1.0, unit="firm",
                                 treatment="subsidy")
res_fuzzy = mod_fuzzy.fit(n_boot=999, rng=1)
fs = res_fuzzy.first_stage
print(f"take-up just below / above the cutoff: {fs.m_left:.3f} / {fs.m_right:.3f}; "
      f"jump {fs.jump:.3f} (se {fs.se:.3f}, bandwidth h_T = {fs.bandwidth:.3f})\n")
print(res_fuzzy)

ax = res_fuzzy.plot(truth=r3d.datasets.wage_subsidy_true_effect)
ax.figure.savefig("tutorial_effect_fuzzy.png", dpi=110)
# </fuzzy>

# %% [markdown]
# ## 7. Sensitivity to the bandwidth

# %%
# <sensitivity>
sens = res.sensitivity()  # refits at 0.5, 0.75, 1, 1.25, 1.5 and 2 times the selected h
levels = [0.1, 0.5, 0.9]
table = sens.frame[sens.frame["quantile"].isin(levels)]
print(table.pivot(index="h", columns="quantile", values="tau").round(3)
      .rename(index=lambda v: f"{v:.3f}").to_string())

ax = sens.plot()
ax.figure.savefig("tutorial_sensitivity.png", dpi=110)
# </sensitivity>

# %% [markdown]
# ## 8. Checking the design after the fit: placebo cutoffs, a donut, one report

# %%
# <placebo>
placebo = res.placebo()  # 4 cutoffs inside each side, each fitted on that side's firms only
print(placebo.frame[["side", "cutoff", "n_left", "n_right", "h", "average", "average_se",
                     "nullity_pvalue"]].round(3).to_string(index=False))
print()

donut = mod.fit(donut=0.02, bandwidth=res.bandwidth, n_boot=999, rng=1)  # without |revenue - 1| < 0.02
print(res.compare(donut).test)
print()

report = res.diagnostics(donut=0.02)
print(repr(report))
fig = report.plot()
fig.savefig("tutorial_diagnostics.png", dpi=90)
# </placebo>

# %% [markdown]
# ## 9. Covariates: balance at the cutoff, and a more precise estimate

# %%
# <firm_data>
gen = np.random.default_rng(15)
chars = pd.DataFrame({"firm": firms.index,  # one row per firm, drawn independently of revenue
                      "industry": gen.choice(["manufacturing", "retail", "services"], size=len(firms),
                                             p=[0.3, 0.3, 0.4]),
                      "age": gen.integers(1, 41, size=len(firms))})  # years since founding
gap = {"manufacturing": 5.0, "retail": -5.0, "services": 0.0}
level = (chars["industry"].map(gap) + 0.25 * (chars["age"] - 20)).set_axis(chars["firm"])
df_cov = df.merge(chars, on="firm")  # the worker-level data with the firm's characteristics
df_cov["wage"] += df_cov["firm"].map(level)  # each firm's whole wage distribution moves
print(chars.head(4).to_string(index=False))
# </firm_data>

# %%
# <balance>
mod_cov = r3d.R3D.from_formula("wage ~ revenue", data=df_cov, cutoff=1.0, unit="firm",
                               covariates="age + industry")
bal = mod_cov.covariate_balance(n_boot=999, rng=1)
print(bal.summary())

ax = bal.plot()
ax.figure.savefig("tutorial_balance.png", dpi=110)
# </balance>

# %%
# <adjusted>
mod_plain = r3d.R3D.from_formula("wage ~ revenue", data=df_cov, cutoff=1.0, unit="firm")
res_plain = mod_plain.fit(n_boot=999, rng=1)
res_cov = mod_cov.fit(n_boot=999, rng=1)

rows = {}
for name, fit in (("no covariates", res_plain), ("age + industry", res_cov),
                  ("section 4 (no firm effects added)", res)):
    rows[name] = {"h": fit.bandwidth, **{f"tau({q:g})": fit.params[q] for q in levels},
                  **{f"se({q:g})": fit.bse[q] for q in levels}, "band +/-": fit.critical_value,
                  "average": fit.average_effect.estimate, "se(average)": fit.average_effect.se}
print(pd.DataFrame(rows).round(3).to_string(), end="\n\n")
print(res_cov.covariate_coefficients[[0.1, 0.5, 0.9]].round(3).to_string())

fig, axes = plt.subplots(1, 2, figsize=(9.6, 3.8), sharey=True, layout="constrained")
for ax, (name, fit) in zip(axes, (("no covariates", res_plain), ("age + industry", res_cov)), strict=True):
    fit.plot(ax=ax, truth=r3d.datasets.wage_subsidy_true_effect, title=name)
    ax.get_legend().remove()
axes[1].set_ylabel("")
fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=4, frameon=False,
           fontsize="small")
fig.savefig("tutorial_covariates.png", dpi=110)
# </adjusted>

# %% [markdown]
# ## 10. Inequality effects

# %%
# <inequality>
asked = ["mean", "sd", "gini", "quantile_ratio:upper=0.9,lower=0.1", "share_below:z=20"]
print(res.summary(functionals=asked, tests=["dominance", "unambiguity"],
                  sections=("functionals", "tests", "notes")))
print()
print(res.functional("gini"))

lorenz = res.functional("lorenz")
fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.0), layout="constrained")
lorenz.plot(ax=axes[0])
lorenz.plot(ax=axes[1], kind="effect")
fig.savefig("tutorial_lorenz.png", dpi=110)
# </inequality>

# %% [markdown]
# ## 11. What goes wrong with a quantile RD on the pooled micro data

# %%
# <pooled>
def pooled_quantile_rd(data, cutoff, h, levels, order=2):
    """Quantile RD on the pooled workers (Frandsen, Froelich and Melly 2012): local
    polynomial estimates of the wage CDF just below and just above the cutoff, every
    worker one observation, inverted at ``levels``."""
    u = (data["revenue"].to_numpy() - cutoff) / h
    y = data["wage"].to_numpy()
    order_y = np.argsort(y)
    limits = {}
    for side, on_side in (("left", u < 0), ("right", u >= 0)):
        k = np.where(on_side & (np.abs(u) <= 1), 1 - np.abs(u), 0.0)  # triangular kernel
        R = np.vander(u, order + 1, increasing=True)
        w = k * (R @ np.linalg.solve((R * k[:, None]).T @ R, np.eye(order + 1)[0]))
        cdf = np.sort(np.cumsum(w[order_y]))  # CDF at the sorted wages, rearranged
        limits[side] = y[order_y][np.searchsorted(cdf, levels)]
    return limits["right"] - limits["left"]


deciles = np.arange(1, 10) / 10
compare = pd.DataFrame({
    "true R3D effect": r3d.datasets.wage_subsidy_true_effect(deciles),
    "R3D estimate": res.params.loc[deciles].to_numpy(),
    "pooled-quantile jump": r3d.datasets.wage_subsidy_pooled_effect(deciles),
    "quantile RD estimate": pooled_quantile_rd(df, 1.0, res.bandwidth, deciles),
}, index=pd.Index(deciles, name="q"))
print(compare.round(2).to_string())

ax = res.plot(truth=r3d.datasets.wage_subsidy_true_effect, title="")
grid = res.quantiles
ax.plot(grid, r3d.datasets.wage_subsidy_pooled_effect(grid), color="C3", linestyle=":",
        linewidth=1.6, label="pooled-quantile jump")
ax.plot(grid, pooled_quantile_rd(df, 1.0, res.bandwidth, grid), color="C3", linewidth=1.2,
        label="quantile RD on pooled workers")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False, fontsize="small")
ax.figure.savefig("tutorial_pooled.png", dpi=110)
# </pooled>

