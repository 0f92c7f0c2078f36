//! Gaussian mixture models with diagonal covariances, fitted by EM (Dempster, Laird & Rubin
//! 1977, *J R Stat Soc B* 39:1; McLachlan & Peel 2000, *Finite Mixture Models*).
//!
//! Each run starts from a seeded k-means partition (`derive_seed(seed, "gmm/<run>")`); the run
//! with the highest log-likelihood wins. Variances get `reg_covar` added (as scikit-learn's
//! `GaussianMixture(covariance_type = "diag")`), so a component never collapses to zero variance.
//! E-steps use log-sum-exp. Iteration stops when the mean log-likelihood per sample improves by
//! less than `tol`.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::cluster::kmeans::{KMeansAlgorithm, KMeansParams};
use crate::error::{data_err, ensure, Result};
use crate::matrix::check_matrix;
use evomics_core::rng::derive_seed;

/// Diagonal Gaussian mixture parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GmmParams {
    /// Number of components, ≥ 1.
    pub k: usize,
    /// Seeded restarts, ≥ 1 (default 3).
    pub n_init: usize,
    /// Maximum EM iterations, ≥ 1 (default 200).
    pub max_iter: usize,
    /// Convergence tolerance on the mean log-likelihood, > 0 (default 1e-6).
    pub tol: f64,
    /// Added to every variance, ≥ 0 (default 1e-6).
    pub reg_covar: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for GmmParams {
    fn default() -> Self {
        GmmParams {
            k: 2,
            n_init: 3,
            max_iter: 200,
            tol: 1e-6,
            reg_covar: 1e-6,
            seed: 1,
        }
    }
}

/// A fitted diagonal Gaussian mixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gmm {
    /// Mixing weights.
    pub weights: Vec<f64>,
    /// Component means, k × features.
    pub means: Array2<f64>,
    /// Component variances, k × features.
    pub variances: Array2<f64>,
    /// Posterior probabilities of the training rows, samples × k.
    pub responsibilities: Array2<f64>,
    /// Most probable component of each training row, renumbered by first appearance.
    pub labels: Vec<usize>,
    /// Total log-likelihood of the training rows.
    pub log_likelihood: f64,
    /// Bayesian information criterion, `−2 logL + m log n` with m = k(2p + 1) − 1 parameters.
    pub bic: f64,
    /// EM iterations of the winning run.
    pub n_iter: usize,
    /// Whether the winning run converged.
    pub converged: bool,
}

impl GmmParams {
    /// Check the parameters alone.
    pub fn validate(&self) -> Result<()> {
        ensure(self.k >= 1, "gaussian mixture", "k", || {
            "is 0; ask for at least one component".into()
        })?;
        ensure(self.n_init >= 1, "gaussian mixture", "n_init", || {
            "is 0".into()
        })?;
        ensure(self.max_iter >= 1, "gaussian mixture", "max_iter", || {
            "is 0".into()
        })?;
        ensure(
            self.tol > 0.0 && self.tol.is_finite(),
            "gaussian mixture",
            "tol",
            || format!("is {}; use a positive number", self.tol),
        )?;
        ensure(
            self.reg_covar >= 0.0 && self.reg_covar.is_finite(),
            "gaussian mixture",
            "reg_covar",
            || format!("is {}; use a number ≥ 0", self.reg_covar),
        )
    }

    /// Fit on the rows of a complete matrix.
    pub fn fit(&self, x: ArrayView2<f64>) -> Result<Gmm> {
        self.validate()?;
        check_matrix(x, "gaussian mixture", 1)?;
        let n = x.nrows();
        if self.k > n {
            return Err(data_err(
                "gaussian mixture",
                format!("k = {} components for {n} samples; choose k ≤ {n}", self.k),
            ));
        }
        let mut best: Option<Gmm> = None;
        for run in 0..self.n_init {
            let km = KMeansParams {
                k: self.k,
                n_init: 1,
                max_iter: 100,
                algorithm: KMeansAlgorithm::Lloyd,
                seed: derive_seed(self.seed, &format!("gmm/{run}")),
            }
            .fit(x)?;
            let mut resp = Array2::zeros((n, self.k));
            for (i, &l) in km.labels.iter().enumerate() {
                resp[[i, l]] = 1.0;
            }
            let fit = self.em(x, resp);
            if best
                .as_ref()
                .is_none_or(|b| fit.log_likelihood > b.log_likelihood)
            {
                best = Some(fit);
            }
        }
        Ok(best.expect("n_init >= 1"))
    }

    fn em(&self, x: ArrayView2<f64>, mut resp: Array2<f64>) -> Gmm {
        let (n, p) = x.dim();
        let k = self.k;
        let mut prev = f64::NEG_INFINITY;
        let mut converged = false;
        let mut it = 0;
        let (mut w, mut mu, mut var) = m_step(x, &resp, self.reg_covar);
        let mut ll = 0.0;
        while it < self.max_iter {
            it += 1;
            ll = e_step(x, &w, &mu, &var, &mut resp);
            let mean_ll = ll / n as f64;
            if (mean_ll - prev).abs() < self.tol {
                converged = true;
                break;
            }
            prev = mean_ll;
            (w, mu, var) = m_step(x, &resp, self.reg_covar);
        }
        let raw: Vec<usize> = resp
            .rows()
            .into_iter()
            .map(|r| {
                let mut b = 0;
                for c in 1..k {
                    if r[c] > r[b] {
                        b = c;
                    }
                }
                b
            })
            .collect();
        let (labels, map) = crate::cluster::kmeans::relabel(&raw, k);
        // Reorder components to the label numbering.
        let mut inv = vec![0; k];
        for (old, &new) in map.iter().enumerate().take(k) {
            inv[new] = old;
        }
        let weights = inv.iter().map(|&o| w[o]).collect();
        let means = Array2::from_shape_fn((k, p), |(c, j)| mu[[inv[c], j]]);
        let variances = Array2::from_shape_fn((k, p), |(c, j)| var[[inv[c], j]]);
        let responsibilities = Array2::from_shape_fn((n, k), |(i, c)| resp[[i, inv[c]]]);
        let m = (k * (2 * p + 1) - 1) as f64;
        Gmm {
            weights,
            means,
            variances,
            responsibilities,
            labels,
            log_likelihood: ll,
            bic: -2.0 * ll + m * (n as f64).ln(),
            n_iter: it,
            converged,
        }
    }
}

fn m_step(
    x: ArrayView2<f64>,
    resp: &Array2<f64>,
    reg: f64,
) -> (Vec<f64>, Array2<f64>, Array2<f64>) {
    let (n, p) = x.dim();
    let k = resp.ncols();
    let nk: Vec<f64> = (0..k)
        .map(|c| resp.column(c).sum() + 10.0 * f64::EPSILON)
        .collect();
    let mu = resp.t().dot(&x);
    let mu = Array2::from_shape_fn((k, p), |(c, j)| mu[[c, j]] / nk[c]);
    let mut var = Array2::zeros((k, p));
    for i in 0..n {
        for c in 0..k {
            let r = resp[[i, c]];
            if r == 0.0 {
                continue;
            }
            for j in 0..p {
                let d = x[[i, j]] - mu[[c, j]];
                var[[c, j]] += r * d * d;
            }
        }
    }
    for c in 0..k {
        for j in 0..p {
            var[[c, j]] = var[[c, j]] / nk[c] + reg;
        }
    }
    let w = nk.iter().map(|v| v / n as f64).collect();
    (w, mu, var)
}

fn log_densities(
    x: ArrayView2<f64>,
    w: &[f64],
    mu: &Array2<f64>,
    var: &Array2<f64>,
    out: &mut Array2<f64>,
) {
    let (n, p) = x.dim();
    let k = w.len();
    let ln2pi = (2.0 * std::f64::consts::PI).ln();
    for c in 0..k {
        let logdet: f64 = var.row(c).iter().map(|v| v.ln()).sum();
        let base = w[c].max(f64::MIN_POSITIVE).ln() - 0.5 * (p as f64 * ln2pi + logdet);
        for i in 0..n {
            let mut q = 0.0;
            for j in 0..p {
                let d = x[[i, j]] - mu[[c, j]];
                q += d * d / var[[c, j]];
            }
            out[[i, c]] = base - 0.5 * q;
        }
    }
}

fn e_step(
    x: ArrayView2<f64>,
    w: &[f64],
    mu: &Array2<f64>,
    var: &Array2<f64>,
    resp: &mut Array2<f64>,
) -> f64 {
    log_densities(x, w, mu, var, resp);
    let mut ll = 0.0;
    for mut row in resp.rows_mut() {
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = row.iter().map(|v| (v - m).exp()).sum();
        let lse = m + s.ln();
        ll += lse;
        row.mapv_inplace(|v| (v - lse).exp());
    }
    ll
}

impl Gmm {
    /// Posterior component probabilities of new rows, samples × k.
    pub fn predict_proba(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        if x.ncols() != self.means.ncols() {
            return Err(data_err(
                "gaussian mixture",
                format!(
                    "new data have {} features; the model has {}",
                    x.ncols(),
                    self.means.ncols()
                ),
            ));
        }
        check_matrix(x, "gaussian mixture", 0)?;
        let mut r = Array2::zeros((x.nrows(), self.weights.len()));
        e_step(x, &self.weights, &self.means, &self.variances, &mut r);
        Ok(r)
    }

    /// Most probable component of new rows.
    pub fn predict(&self, x: ArrayView2<f64>) -> Result<Vec<usize>> {
        let r = self.predict_proba(x)?;
        Ok(r.rows()
            .into_iter()
            .map(|row| {
                let mut b = 0;
                for c in 1..row.len() {
                    if row[c] > row[b] {
                        b = c;
                    }
                }
                b
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn separates_two_components_and_is_reproducible() {
        let x = array![
            [0.0, 0.1],
            [0.2, -0.1],
            [-0.1, 0.0],
            [0.1, 0.2],
            [6.0, 6.1],
            [6.2, 5.9],
            [5.9, 6.0],
            [6.1, 6.2]
        ];
        let p = GmmParams {
            k: 2,
            ..Default::default()
        };
        let g = p.fit(x.view()).unwrap();
        assert_eq!(g.labels, vec![0, 0, 0, 0, 1, 1, 1, 1]);
        assert!((g.weights[0] - 0.5).abs() < 1e-6);
        assert!(g
            .responsibilities
            .rows()
            .into_iter()
            .all(|r| (r.sum() - 1.0).abs() < 1e-12));
        assert_eq!(g, p.fit(x.view()).unwrap());
        assert_eq!(g.predict(array![[5.0, 5.0]].view()).unwrap(), vec![1]);
        // BIC prefers 2 components over 1 here.
        let g1 = GmmParams {
            k: 1,
            ..Default::default()
        }
        .fit(x.view())
        .unwrap();
        assert!(g.bic < g1.bic);
    }

    #[test]
    fn validates_params() {
        let x = array![[0.0], [1.0]];
        assert!(GmmParams {
            tol: 0.0,
            ..Default::default()
        }
        .fit(x.view())
        .is_err());
        assert!(GmmParams {
            k: 3,
            ..Default::default()
        }
        .fit(x.view())
        .is_err());
    }
}
