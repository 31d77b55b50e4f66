"""Why r3d.select_bandwidth and rdrobust's rdbwselect choose different bandwidths for the same
scalar outcome, step by step (docs/bandwidth_vs_rdrobust.md explains the output).

The outcome is each firm's median wage in the quickstart data (600 firms, cutoff 1). Both
selectors target the MSE-optimal bandwidth of a local linear jump estimate, triangular kernel,
h = [V / (B^2 + R)]^(1/5), with a regularisation term R added to the squared bias B^2. They
differ in how they estimate the three ingredients. The script recomputes rdbwselect's rule
from its own building block (``rdrobust.funs.rdrobust_bw``, which rdbwselect calls), checks
that it reproduces rdbwselect, and then gives it r3d's ingredients one at a time.

Needs rdrobust (``pip install rdrobust``; tested with 2.1.1).
"""

import numpy as np
import pandas as pd
from rdrobust import rdbwselect
from rdrobust.funs import rdrobust_bw

import r3d

#: rdrobust's rule-of-thumb constant for the triangular kernel (rdbwselect.py: C_c = 2.576).
C_TRIANGULAR = 2.576
#: rdrobust's regularisation term is this multiple of the variance of the estimated bias
#: (funs.py: BWreg = 3 * BConst^2 * V_B); r3d's is 1 times it.
RDROBUST_REG = 3.0


def rdrobust_steps(y, x, c, *, b=None, reg=RDROBUST_REG, V=None):
    """rdbwselect(y, x, c, p=1, kernel="tri", bwselect="mserd") recomputed step by step from
    rdrobust_bw, with its defaults (vce="nn" with 3 neighbours, scaleregul=1, bwrestrict).

    ``b`` replaces rdrobust's bandwidth for the curvature, ``reg`` the multiple of the bias
    variance in the regularisation term, ``V`` the variance constant. Returns the bandwidths and
    the ingredients in rdrobust's units.
    """
    p, q = 1, 2
    sides = {"left": x < c, "right": x >= c}
    iqr = np.subtract(*np.quantile(x, [0.75, 0.25], method="inverted_cdf"))  # rdrobust's type 2
    c_bw = C_TRIANGULAR * min(np.std(x, ddof=1), iqr / 1.349) * x.size ** -0.2
    bw_max = max(c - x.min(), x.max() - c)
    c_bw = min(c_bw, bw_max)
    pad = 1 + np.sqrt(np.finfo(float).eps)

    def bw(side, o, nu, o_b, h_b, scale):
        xs, ys = x[sides[side]], y[sides[side]]
        order = np.argsort(xs, kind="stable")
        xs, ys = xs[order], ys[order]
        first = np.r_[True, xs[1:] != xs[:-1]]
        group = np.cumsum(first) - 1  # ties share a group (for the nearest-neighbour residuals)
        dups = np.bincount(group)[group]
        dupsid = np.arange(xs.size) - np.flatnonzero(first)[group] + 1
        out = rdrobust_bw(ys, xs, None, None, None, 0, c, o, nu, o_b, c_bw, h_b, scale, "nn", 3, "tri",
                          dups, dupsid, 0)
        return {"V": out[0], "B": out[1], "R": out[2], "rate": out[3]}

    # step 1: d, the bandwidth for the third derivative (global quartic fits for its bias)
    d = {s: bw(s, q + 1, q + 1, q + 2, abs(x[sides[s]] - c).max() * pad, 0) for s in sides}
    d_bw = min(((d["left"]["V"] + d["right"]["V"]) / (d["right"]["B"] - d["left"]["B"]) ** 2) ** d["left"]["rate"],
               bw_max)
    # step 2: b, the bandwidth for the curvature (local quadratic; bias from a local cubic at d)
    bb = {s: bw(s, q, p + 1, q + 1, d_bw, 1) for s in sides}
    b_bw = (bb["left"]["V"] + bb["right"]["V"]) / ((bb["right"]["B"] - bb["left"]["B"]) ** 2
                                                   + bb["left"]["R"] + bb["right"]["R"])
    b_bw = min(b_bw ** bb["left"]["rate"], bw_max)
    if b is not None:
        b_bw = b
    # step 3: h, local linear; V at the rule-of-thumb c_bw, curvature from the local quadratic at b
    hh = {s: bw(s, p, 0, q, b_bw, 1) for s in sides}
    V_h = hh["left"]["V"] + hh["right"]["V"] if V is None else V
    B_h = hh["right"]["B"] - hh["left"]["B"]
    R_h = (hh["left"]["R"] + hh["right"]["R"]) * reg / RDROBUST_REG
    h = min((V_h / (B_h**2 + R_h)) ** hh["left"]["rate"], bw_max)
    return {"h": h, "b": b_bw, "c": c_bw, "V": V_h, "B2": B_h**2, "R": R_h}


df = r3d.datasets.simulate_firms(n_firms=600, rng=42)
mod = r3d.R3D.from_formula("wage ~ revenue", data=df, cutoff=1.0, unit="firm")
y = mod.unit_quantiles([0.5]).iloc[:, 0].to_numpy()  # each firm's median wage
x = np.asarray(mod.running)

sel = r3d.select_bandwidth(mod, method="simple", quantiles=[0.5])  # pilot order s = 1: local linear
st, n = sel.steps, x.size
ours = {  # r3d's ingredients in rdrobust's units: h = [V / (B^2 + R)]^(1/5), n and 2(s+1) inside
    "h": sel.h[0], "b": st.b[0], "c": st.h0[0], "V": (st.V_plus[0] + st.V_minus[0]) / n,
    "B2": 4 * (st.B_plus[0] - st.B_minus[0]) ** 2, "R": 4 * st.R[0],
}
rd = rdbwselect(y, x, c=1.0, p=1, kernel="tri", bwselect="mserd")

steps = {
    "r3d.select_bandwidth": ours,
    "rdbwselect": {"h": rd.bws.iloc[0, 0], "b": rd.bws.iloc[0, 2]},
    "rdbwselect recomputed": rdrobust_steps(y, x, 1.0),
    "  with r3d's b": rdrobust_steps(y, x, 1.0, b=ours["b"]),
    "  and r3d's R (1x, not 3x)": rdrobust_steps(y, x, 1.0, b=ours["b"], reg=1.0),
    "  and r3d's V": rdrobust_steps(y, x, 1.0, b=ours["b"], reg=1.0, V=ours["V"]),
}
table = pd.DataFrame(steps).T[["h", "b", "c", "V", "B2", "R"]]
table["r3d h / h"] = ours["h"] / table["h"]
table = table.rename(columns={"c": "variance pilot", "B2": "B^2"})
print(table.to_string(float_format=lambda v: f"{v:.4f}", na_rep=""))
