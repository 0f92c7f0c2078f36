//! Partial least squares regression of one numeric target (PLS1) by NIPALS (Wold, Sjöström &
//! Eriksson 2001, *Chemom Intell Lab Syst* 58:109), as R `pls::plsr(method = "oscorespls")` and
//! scikit-learn's `PLSRegression` for a single response.
//!
//! X is centred (and scaled to unit variance, denominator n − 1, when `scale`), y centred. For
//! each component: weights w ∝ Xᵀy (unit norm), scores t = Xw, X loadings p = Xᵀt/tᵀt, y loading
//! q = yᵀt/tᵀt, then X and y are deflated. The regression coefficients on the scaled features are
//! B = W (PᵀW)⁻¹ q.

use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{data_err, ensure, Result};
use crate::matrix::Standardizer;
use crate::models::{Labels, Output};

/// PLS parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlsParams {
    /// Number of components, ≥ 1 (default 2).
    pub n_components: usize,
    /// Scale features to unit variance (default true).
    pub scale: bool,
}

impl Default for PlsParams {
    fn default() -> Self {
        PlsParams {
            n_components: 2,
            scale: true,
        }
    }
}

crate::param_guard!(PlsParams);

/// A fitted PLS1 model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pls {
    /// Feature centring and scaling.
    pub standardizer: Standardizer,
    /// Mean of the training target.
    pub y_mean: f64,
    /// Coefficients on the original feature scale.
    pub coefficients: Vec<f64>,
    /// Intercept on the original scale.
    pub intercept: f64,
    /// Weights W, features × components.
    pub weights: Array2<f64>,
    /// Components actually extracted (fewer when X is exhausted).
    pub n_components: usize,
}

impl PlsParams {
    /// Check the parameters alone.
    pub fn validate(&self) -> Result<()> {
        ensure(self.n_components >= 1, "pls", "n_components", || {
            "is 0; use at least 1".into()
        })
    }

    /// Fit on a complete matrix and a numeric target.
    pub fn fit(&self, x: ArrayView2<f64>, labels: &Labels) -> Result<Pls> {
        self.validate()?;
        let Labels::Numeric { y } = labels else {
            return Err(data_err("pls", "PLS regression needs a numeric target"));
        };
        let (n, p) = x.dim();
        let standardizer = Standardizer::fit(x, self.scale, 1);
        let mut xr = standardizer.transform(x);
        let y_mean = y.iter().sum::<f64>() / n as f64;
        let mut yr: Array1<f64> = y.iter().map(|v| v - y_mean).collect();
        let a = self.n_components.min(p).min(n.saturating_sub(1)).max(1);
        let mut w_mat = Array2::zeros((p, a));
        let mut p_mat = Array2::zeros((p, a));
        let mut q = Vec::with_capacity(a);
        let mut got = 0;
        for c in 0..a {
            let mut w = xr.t().dot(&yr);
            let nw = w.dot(&w).sqrt();
            if nw.is_nan() || nw <= 1e-12 {
                break;
            }
            w /= nw;
            let t = xr.dot(&w);
            let tt = t.dot(&t);
            if tt.is_nan() || tt <= 1e-300 {
                break;
            }
            let pl = xr.t().dot(&t) / tt;
            let qc = yr.dot(&t) / tt;
            for i in 0..n {
                for j in 0..p {
                    xr[[i, j]] -= t[i] * pl[j];
                }
                yr[i] -= qc * t[i];
            }
            w_mat.column_mut(c).assign(&w);
            p_mat.column_mut(c).assign(&pl);
            q.push(qc);
            got += 1;
        }
        if got == 0 {
            return Err(data_err(
                "pls",
                "the target has no covariance with the features (constant target or features)",
            ));
        }
        let w_mat = w_mat
            .slice_axis(ndarray::Axis(1), ndarray::Slice::from(..got))
            .to_owned();
        let p_mat = p_mat
            .slice_axis(ndarray::Axis(1), ndarray::Slice::from(..got))
            .to_owned();
        // B = W (PᵀW)⁻¹ q; PᵀW is upper triangular with unit diagonal for NIPALS PLS1.
        let ptw = p_mat.t().dot(&w_mat);
        let mut z = vec![0.0; got];
        for r in (0..got).rev() {
            let mut s = q[r];
            for c in (r + 1)..got {
                s -= ptw[[r, c]] * z[c];
            }
            z[r] = s / ptw[[r, r]];
        }
        let b_scaled = w_mat.dot(&Array1::from(z));
        let coefficients: Vec<f64> = (0..p)
            .map(|j| b_scaled[j] / standardizer.scale.get(j).copied().unwrap_or(1.0))
            .collect();
        let intercept = y_mean
            - coefficients
                .iter()
                .zip(&standardizer.mean)
                .map(|(b, m)| b * m)
                .sum::<f64>();
        Ok(Pls {
            standardizer,
            y_mean,
            coefficients,
            intercept,
            weights: w_mat,
            n_components: got,
        })
    }
}

impl Pls {
    /// Predict new samples.
    pub fn predict(&self, x: ArrayView2<f64>) -> Output {
        let b = Array1::from(self.coefficients.clone());
        Output::Values {
            y: x.dot(&b).iter().map(|v| v + self.intercept).collect(),
        }
    }

    /// Coefficients on the scaled features (comparable across features).
    pub fn scaled_coefficients(&self) -> Vec<f64> {
        self.coefficients
            .iter()
            .enumerate()
            .map(|(j, b)| b * self.standardizer.scale.get(j).copied().unwrap_or(1.0))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_rank_pls_equals_least_squares() {
        // With as many components as features, PLS1 is ordinary least squares.
        let x = Array2::from_shape_fn((12, 3), |(i, j)| {
            ((i * (j + 2) * 31) % 13) as f64 + j as f64
        });
        let y: Vec<f64> = (0..12)
            .map(|i| 1.0 + 2.0 * x[[i, 0]] - 0.5 * x[[i, 2]])
            .collect();
        let m = PlsParams {
            n_components: 3,
            scale: true,
        }
        .fit(x.view(), &Labels::Numeric { y: y.clone() })
        .unwrap();
        assert!(
            (m.coefficients[0] - 2.0).abs() < 1e-9
                && m.coefficients[1].abs() < 1e-9
                && (m.coefficients[2] + 0.5).abs() < 1e-9,
            "{:?}",
            m.coefficients
        );
        assert!((m.intercept - 1.0).abs() < 1e-8);
        let Output::Values { y: pred } = m.predict(x.view()) else {
            panic!()
        };
        for (a, b) in pred.iter().zip(&y) {
            assert!((a - b).abs() < 1e-8);
        }
        let one = PlsParams {
            n_components: 1,
            scale: false,
        }
        .fit(x.view(), &Labels::Numeric { y })
        .unwrap();
        assert_eq!(one.n_components, 1);
    }
}
