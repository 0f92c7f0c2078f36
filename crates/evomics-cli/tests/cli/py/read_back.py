"""Read evomics' diff outputs back with pandas' default parser and compare them with R.

Usage: read_back.py DIFFDIR ORACLE_PREFIX CONTRASTS [WEIGHTS_TSV]

- every topTable TSV read with `pd.read_csv(path, sep="\t")` (no other options) has P.Value
  bit-identical to the Parquet copy (read with pyarrow);
- logFC, AveExpr, t, P.Value, adj.P.Val, B of every contrast, and the fit table, are within 1e-6
  relative of R's (ORACLE_PREFIX_toptable.tsv, ORACLE_PREFIX_fit.tsv);
- voom's weights (voom_weights.parquet) are within 1e-6 relative of R's (WEIGHTS_TSV).
Prints one line per check; exits 1 on the first failure, 3 when pandas is older than 3.0 (its
default parser, `float_precision="high"`, is not correctly rounded: it reads some 16-17 digit
numbers one unit in the last place off, whatever digits are written; pass
`float_precision="round_trip"` there).
"""
import sys

import numpy as np
import pandas as pd

if int(pd.__version__.split(".")[0]) < 3:
    print(f"pandas {pd.__version__}: the default parser is not correctly rounded before 3.0")
    sys.exit(3)

diff, prefix, contrasts = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
weights = sys.argv[4] if len(sys.argv) > 4 else None


def close(a, b, what, floor=1e-3):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    both_na = np.isnan(a) & np.isnan(b)
    err = np.abs(a - b) / np.maximum(np.abs(a), floor)
    err[both_na] = 0.0
    worst = float(np.nanmax(err)) if err.size else 0.0
    if np.isnan(err).any() or worst > 1e-6:
        print(f"FAIL {what}: max relative error {worst}")
        sys.exit(1)
    return worst


oracle = pd.read_csv(prefix + "_toptable.tsv", sep="\t")
worst = 0.0
for c in contrasts:
    tsv = pd.read_csv(f"{diff}/contrast_{c}.tsv", sep="\t")
    pq = pd.read_parquet(f"{diff}/contrast_{c}.parquet")
    a = tsv["P.Value"].to_numpy(dtype=float)
    b = pq["P.Value"].to_numpy(dtype=float)
    same = (a.view(np.uint64) == b.view(np.uint64)) | (np.isnan(a) & np.isnan(b))
    if not same.all():
        i = int(np.argmin(same))
        print(f"FAIL {c}: P.Value row {i} reads {a[i]!r} from TSV, {b[i]!r} from Parquet")
        sys.exit(1)
    r = oracle[oracle["contrast"] == c].set_index("feature_id")
    t = tsv.set_index("feature_id").loc[r.index]
    for col in ["logFC", "AveExpr", "t", "P.Value", "adj.P.Val", "B"]:
        worst = max(worst, close(r[col], t[col], f"{c} {col}"))
print(f"toptables: P.Value bit-identical TSV/Parquet; max relative error vs R {worst:.3g}")

fit_r = pd.read_csv(prefix + "_fit.tsv", sep="\t").set_index("feature_id")
fit = pd.read_csv(f"{diff}/fit.tsv", sep="\t").set_index("feature_id").loc[fit_r.index]
worst = 0.0
for col in ["Amean", "sigma", "df.residual", "s2.prior", "df.prior", "s2.post", "df.total"]:
    worst = max(worst, close(fit_r[col], fit[col], f"fit {col}"))
print(f"fit: max relative error vs R {worst:.3g}")

if weights is None:
    sys.exit(0)
w_r = pd.read_csv(weights, sep="\t").set_index("feature_id")
w = pd.read_parquet(f"{diff}/voom_weights.parquet").set_index("feature_id").loc[w_r.index, w_r.columns]
worst = close(w_r.to_numpy(), w.to_numpy(), "voom weights")
print(f"weights: max relative error vs R {worst:.3g}")
