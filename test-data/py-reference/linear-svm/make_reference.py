"""Reference decision values of scikit-learn's LinearSVC for evomics' linear SVM test.

Run: python3 make_reference.py   (writes the TSVs beside this script)

Data are generated here with numpy (seeded) and written with the results, so the Rust test
reads exactly the inputs scikit-learn saw. Every case uses LinearSVC(penalty="l2",
loss="squared_hinge", dual=True, tol=1e-10, max_iter=1_000_000, intercept_scaling=1), the
one-vs-rest scheme for more than two classes, with and without an intercept (liblinear's
intercept is a penalized constant feature).
"""
import numpy as np
import sklearn
from sklearn.svm import LinearSVC

rng = np.random.default_rng(20240601)


def dataset(n, p, k, shift):
    x = rng.normal(size=(n, p))
    y = np.arange(n) % k
    x[:, :3] += shift * (y[:, None] - (k - 1) / 2.0)
    return np.round(x, 6), y


cases = [
    # name, n, p, classes, C, fit_intercept
    ("binary_wide", 40, 60, 2, 0.1, True),
    ("binary_tall", 80, 5, 2, 1.0, True),
    ("binary_no_intercept", 50, 20, 2, 0.5, False),
    ("three_classes", 45, 30, 3, 0.5, True),
]

with open("cases.tsv", "w") as idx:
    idx.write("case\tn\tp\tclasses\tC\tfit_intercept\tn_iter\n")
    for name, n, p, k, c, icpt in cases:
        x, y = dataset(n, p, k, 0.8)
        m = LinearSVC(C=c, loss="squared_hinge", penalty="l2", dual=True, tol=1e-10,
                      max_iter=1_000_000, fit_intercept=icpt, intercept_scaling=1.0)
        m.fit(x, y)
        d = m.decision_function(x)
        if d.ndim == 1:
            d = d[:, None]
        with open(f"{name}_data.tsv", "w") as f:
            f.write("y\t" + "\t".join(f"x{j}" for j in range(p)) + "\n")
            for i in range(n):
                f.write(f"{y[i]}\t" + "\t".join(repr(float(v)) for v in x[i]) + "\n")
        with open(f"{name}_decision.tsv", "w") as f:
            f.write("\t".join(f"d{c_}" for c_ in range(d.shape[1])) + "\n")
            for i in range(n):
                f.write("\t".join(repr(float(v)) for v in d[i]) + "\n")
        idx.write(f"{name}\t{n}\t{p}\t{k}\t{c}\t{int(icpt)}\t{int(np.max(m.n_iter_))}\n")

print("scikit-learn", sklearn.__version__, "numpy", np.__version__)
