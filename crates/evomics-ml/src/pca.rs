//! Principal component analysis equal to R's `prcomp` (up to the sign of each component).
//!
//! `prcomp(X, center = TRUE, scale. = s)` takes the singular value decomposition of the centred
//! (and, when `s`, unit-variance scaled, denominator n − 1) matrix X_c = U D Vᵀ and reports
//! `sdev = D / sqrt(n − 1)`, `rotation = V` (loadings) and `x = X_c V` (scores). Here the same
//! quantities come from the symmetric eigen decomposition of the smaller of the two cross-product
//! matrices X_c X_cᵀ (n × n) and X_cᵀ X_c (p × p): its eigenvalues are D², and the other
//! factor follows by one matrix product. The eigen solver is faer's `self_adjoint_evd`
//! (Householder tridiagonalization and divide and conquer, as LAPACK's `dsyevd`); when at most
//! a quarter of the eigenvectors are kept (`n_components`), every eigenvalue but only the kept
//! vectors are computed (tridiagonalization, QR eigenvalues, inverse iteration, as LAPACK's
//! `dsyevx`; see `crate::eigen`), which on the L cohort's 2,000 samples takes a quarter of a
//! second off PCA. The cross product is computed in fixed row blocks on the rayon pool. Results
//! do not depend on the thread count, and the components equal prcomp's to ~1e-10 relative on
//! the R oracles (tests compare at 1e-6).
//!
//! Signs are arbitrary in any SVD; this implementation makes the largest-magnitude loading of
//! each component positive, so results are reproducible across runs and platforms.
//!
//! Reference: Jolliffe & Cadima 2016, *Phil Trans R Soc A* 374:20150202; R Core Team, `prcomp`.

use ndarray::{Array1, Array2, ArrayView2, Axis, Slice};
use serde::{Deserialize, Serialize};

use crate::eigen::sym_eigen_some;
use crate::error::{data_err, ensure, Result};
use crate::matrix::{check_matrix, cross_rows, sym_eigen, Standardizer};

/// Components are computed alone ([`sym_eigen_some`]) when at most one in this many of the
/// cross product's eigenvectors is kept; otherwise the full decomposition is cheaper.
const FEW_COMPONENTS: usize = 4;

/// PCA parameters (`prcomp(center = TRUE, scale. = scale, rank. = n_components)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PcaParams {
    /// Number of components whose loadings and scores are kept (`None`: all, min(n, p));
    /// `sdev` always lists every component, as prcomp does.
    pub n_components: Option<usize>,
    /// Scale every feature to unit variance (denominator n − 1) after centring (default false).
    pub scale: bool,
}

crate::param_guard!(PcaParams);

impl PcaParams {
    /// Check the parameters alone.
    pub fn validate(&self) -> Result<()> {
        ensure(self.n_components != Some(0), "pca", "n_components", || {
            "is 0; ask for at least one component or leave it unset for all".into()
        })
    }

    /// Fit on a complete samples × features matrix (at least 2 samples).
    pub fn fit(&self, x: ArrayView2<f64>) -> Result<Pca> {
        let standardizer = self.standardizer(x)?;
        let xc = standardizer.transform(x);
        self.decompose(standardizer, xc.view())
    }

    /// [`PcaParams::fit`] on a matrix the caller no longer needs: it is centred (and scaled)
    /// in place instead of in a copy and returned with the fit (the matrix prcomp decomposes;
    /// the same fit, bit for bit).
    pub fn fit_owned(&self, mut x: Array2<f64>) -> Result<(Pca, Array2<f64>)> {
        let standardizer = self.standardizer(x.view())?;
        standardizer.transform_in_place(&mut x);
        let pca = self.decompose(standardizer, x.view())?;
        Ok((pca, x))
    }

    fn standardizer(&self, x: ArrayView2<f64>) -> Result<Standardizer> {
        self.validate()?;
        check_matrix(x, "pca", 2)?;
        let standardizer = Standardizer::fit(x, self.scale, 1);
        if self.scale {
            let vars =
                crate::matrix::col_vars(x, Array1::from(standardizer.mean.clone()).view(), 1);
            if let Some(j) = vars.iter().position(|&v| v.is_nan() || v <= 0.0) {
                return Err(data_err(
                    "pca",
                    format!("feature column {} is constant; prcomp(scale. = TRUE) cannot rescale it to unit variance; drop constant features first (zero_variance filter)", j + 1),
                ));
            }
        }
        Ok(standardizer)
    }

    /// The decomposition of the centred (and scaled) matrix `xc`.
    fn decompose(&self, standardizer: Standardizer, xc: ArrayView2<f64>) -> Result<Pca> {
        let (n, p) = xc.dim();
        let r = n.min(p);
        let den = ((n - 1).max(1)) as f64;
        let keep = self.n_components.unwrap_or(r).min(r);
        // Eigen decomposition of the smaller cross-product (ascending eigenvalues); components
        // by decreasing eigenvalue, ties by position.
        let samples_side = n <= p;
        let cross = if samples_side {
            cross_rows(xc)
        } else {
            cross_rows(xc.t())
        };
        let descending = |d2: &[f64]| {
            let mut order: Vec<usize> = (0..d2.len()).collect();
            order.sort_by(|&a, &b| d2[b].total_cmp(&d2[a]).then(a.cmp(&b)));
            order.truncate(r);
            order
        };
        // With few components kept, only their eigenvectors are computed; `top` holds them in
        // component order.
        let (d2, order, top) = if keep * FEW_COMPONENTS <= cross.nrows() {
            let mut order = Vec::new();
            let (d2, top) = sym_eigen_some(cross, |d2| {
                order = descending(d2);
                order[..keep].to_vec()
            })?;
            (d2, order, top)
        } else {
            let (d2, vecs) = sym_eigen(cross)?;
            let order = descending(&d2);
            let top = Array2::from_shape_fn((vecs.nrows(), keep), |(i, c)| vecs[[i, order[c]]]);
            (d2, order, top)
        };
        let order = &order[..r];
        // An eigenvalue of the cross product is known to ~eps·max(n, p)·λ_max; anything below
        // that is rounding (the n-th component of centred data, exactly 0), reported as 0.
        let noise = d2[order[0]].max(0.0) * f64::EPSILON * (n.max(p) as f64);
        let sing: Vec<f64> = order
            .iter()
            .map(|&k| if d2[k] > noise { d2[k].sqrt() } else { 0.0 })
            .collect();
        let sdev: Vec<f64> = sing.iter().map(|d| d / den.sqrt()).collect();
        let tol = noise.sqrt();
        let (mut rotation, mut scores) = if samples_side {
            // top = U; V = X_cᵀ U / d; scores = U d.
            let mut v = xc.t().dot(&top);
            for c in 0..keep {
                let d = sing[c];
                let mut col = v.column_mut(c);
                if d > tol {
                    col.mapv_inplace(|a| a / d);
                } else {
                    col.fill(0.0);
                }
            }
            let mut sc = top.clone();
            for c in 0..keep {
                let d = sing[c];
                sc.column_mut(c).mapv_inplace(|a| a * d);
            }
            (v, sc)
        } else {
            let sc = xc.dot(&top);
            (top, sc)
        };
        for c in 0..keep {
            let col = rotation.column(c);
            let (mut best, mut at) = (0.0f64, 0usize);
            for (i, v) in col.iter().enumerate() {
                if v.abs() > best {
                    best = v.abs();
                    at = i;
                }
            }
            if col[at] < 0.0 {
                rotation.column_mut(c).mapv_inplace(|a| -a);
                scores.column_mut(c).mapv_inplace(|a| -a);
            }
        }
        let total: f64 = sdev.iter().map(|s| s * s).sum();
        let variance_explained = sdev
            .iter()
            .map(|s| if total > 0.0 { s * s / total } else { 0.0 })
            .collect();
        Ok(Pca {
            standardizer,
            rotation,
            scores,
            sdev,
            variance_explained,
        })
    }
}

/// A fitted PCA: prcomp's `center`, `scale`, `rotation`, `x` and `sdev`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pca {
    /// Feature means (prcomp `center`) and, when scaling, standard deviations (`scale`).
    pub standardizer: Standardizer,
    /// Loadings, features × kept components (prcomp `rotation`).
    pub rotation: Array2<f64>,
    /// Scores of the training samples, samples × kept components (prcomp `x`).
    pub scores: Array2<f64>,
    /// Standard deviation of every component, min(n, p) of them (prcomp `sdev`).
    pub sdev: Vec<f64>,
    /// Share of the total variance of every component (`sdev² / Σ sdev²`).
    pub variance_explained: Vec<f64>,
}

impl Pca {
    /// Number of kept components.
    pub fn n_components(&self) -> usize {
        self.rotation.ncols()
    }

    /// Scores of new samples (same features, same order): `(x − center) / scale · rotation`,
    /// as `predict.prcomp`.
    pub fn transform(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        if x.ncols() != self.rotation.nrows() {
            return Err(data_err(
                "pca",
                format!(
                    "new data have {} features; the PCA was fitted on {}",
                    x.ncols(),
                    self.rotation.nrows()
                ),
            ));
        }
        check_matrix(x, "pca", 0)?;
        Ok(self.standardizer.transform(x).dot(&self.rotation))
    }

    /// Scores of the first `k` components of the training samples.
    pub fn top_scores(&self, k: usize) -> Array2<f64> {
        let k = k.min(self.n_components());
        self.scores.slice_axis(Axis(1), Slice::from(..k)).to_owned()
    }

    /// Cumulative variance explained.
    pub fn cumulative_variance(&self) -> Vec<f64> {
        let mut acc = 0.0;
        self.variance_explained
            .iter()
            .map(|v| {
                acc += v;
                acc
            })
            .collect()
    }

    /// Loadings as rows of the features × components matrix (for tables).
    pub fn loadings(&self) -> ArrayView2<'_, f64> {
        self.rotation.view()
    }

    /// Squared correlation of each kept component's scores with a grouping (between-group sum
    /// of squares over total), e.g. how much of PC1 the batch explains.
    pub fn group_r2(&self, groups: &[usize]) -> Vec<f64> {
        let n = self.scores.nrows();
        let ng = groups.iter().copied().max().map_or(0, |m| m + 1);
        self.scores
            .axis_iter(Axis(1))
            .map(|col| {
                let mean = col.sum() / n as f64;
                let mut sums = vec![0.0; ng];
                let mut counts = vec![0usize; ng];
                for (v, &g) in col.iter().zip(groups) {
                    sums[g] += v;
                    counts[g] += 1;
                }
                let ssb: f64 = (0..ng)
                    .filter(|&g| counts[g] > 0)
                    .map(|g| {
                        let m = sums[g] / counts[g] as f64;
                        counts[g] as f64 * (m - mean) * (m - mean)
                    })
                    .sum();
                let sst: f64 = col.iter().map(|v| (v - mean) * (v - mean)).sum();
                if sst > 0.0 {
                    ssb / sst
                } else {
                    0.0
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use proptest::prelude::*;

    #[test]
    fn small_matrix_is_self_consistent() {
        let x = array![
            [1.0, 2.0, 0.0],
            [2.0, 4.0, 1.0],
            [3.0, 5.0, 0.0],
            [4.0, 9.0, 1.0]
        ];
        let p = PcaParams::default().fit(x.view()).unwrap();
        assert_eq!(p.sdev.len(), 3);
        // Total variance equals the sum of column variances.
        let total: f64 = p.sdev.iter().map(|s| s * s).sum();
        let xc = p.standardizer.transform(x.view());
        let colvar: f64 = xc.iter().map(|v| v * v).sum::<f64>() / 3.0;
        assert!((total - colvar).abs() < 1e-10);
        // Scores reproduce centred data.
        let back = p.scores.dot(&p.rotation.t());
        for (a, b) in back.iter().zip(xc.iter()) {
            assert!((a - b).abs() < 1e-10);
        }
        let t = p.transform(x.view()).unwrap();
        for (a, b) in t.iter().zip(p.scores.iter()) {
            assert!((a - b).abs() < 1e-10);
        }
    }

    #[test]
    fn owned_fit_centres_in_place_with_the_same_bits() {
        let x = Array2::from_shape_fn((7, 5), |(i, j)| {
            ((i * 5 + j) as f64 * 0.37).sin() * (1.0 + j as f64)
        });
        for (scale, n_components) in [(false, None), (true, Some(2))] {
            let params = PcaParams {
                n_components,
                scale,
            };
            let borrowed = params.fit(x.view()).unwrap();
            let (owned, xc) = params.fit_owned(x.clone()).unwrap();
            assert_eq!(owned, borrowed);
            assert_eq!(
                owned.scores.mapv(f64::to_bits),
                borrowed.scores.mapv(f64::to_bits)
            );
            // The returned matrix is the centred (scaled) one the fit decomposed.
            assert_eq!(xc, borrowed.standardizer.transform(x.view()));
        }
        assert!(PcaParams::default()
            .fit_owned(array![[1.0, f64::NAN], [2.0, 3.0]])
            .is_err());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(PcaParams {
            n_components: Some(0),
            scale: false
        }
        .fit(array![[1.0], [2.0]].view())
        .is_err());
        let e = PcaParams {
            n_components: None,
            scale: true,
        }
        .fit(array![[1.0, 3.0], [2.0, 3.0]].view())
        .unwrap_err();
        assert!(e.to_string().contains("constant"), "{e}");
        assert!(PcaParams::default()
            .fit(array![[1.0, f64::NAN], [2.0, 3.0]].view())
            .is_err());
    }

    proptest! {
        #[test]
        fn orthonormal_loadings_and_sorted_sdev(vals in proptest::collection::vec(-10.0f64..10.0, 24), wide in any::<bool>()) {
            let (n, p) = if wide { (4, 6) } else { (6, 4) };
            let x = Array2::from_shape_vec((n, p), vals).unwrap();
            let pca = PcaParams::default().fit(x.view()).unwrap();
            for w in pca.sdev.windows(2) {
                prop_assert!(w[0] + 1e-9 >= w[1]);
            }
            let vtv = pca.rotation.t().dot(&pca.rotation);
            for c in 0..pca.n_components() {
                if pca.sdev[c] > 1e-6 * pca.sdev[0].max(1e-300) && pca.sdev[0] > 1e-9 {
                    prop_assert!((vtv[[c, c]] - 1.0).abs() < 1e-8);
                }
            }
        }
    }
}
