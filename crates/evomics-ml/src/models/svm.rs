//! Linear support vector machine: L2-regularized squared hinge loss, as scikit-learn's
//! `LinearSVC(penalty = "l2", loss = "squared_hinge")` (liblinear; Fan et al. 2008, *JMLR*
//! 9:1871), with Platt-scaled probabilities.
//!
//! - **Objective** of one binary problem with labels y_i ∈ {−1, +1}:
//!   `min_w ½‖w‖² + C Σ_i max(0, 1 − y_i wᵀx̃_i)²`, where x̃_i is x_i followed by a constant 1
//!   when `intercept` is on (liblinear's `intercept_scaling = 1`: the intercept is the weight of
//!   that constant feature and is penalized with the others, exactly as in `LinearSVC`). The
//!   objective is strictly convex, so the solution is unique.
//! - **Solver**: dual coordinate descent (Hsieh et al. 2008, *ICML*, "A dual coordinate descent
//!   method for large-scale linear SVM"): the dual `min_α ½αᵀ(Q + I/(2C))α − Σα, α ≥ 0` with
//!   `Q_ij = y_i y_j x̃_iᵀx̃_j`, one coordinate at a time in fixed cyclic order (liblinear
//!   permutes randomly; the optimum is the same), keeping `w = Σ α_i y_i x̃_i`. It stops when the
//!   spread of the projected gradient, max − min over the samples, is at most `tol` (liblinear's
//!   rule), or after `max_iter` epochs (`converged` is then false).
//! - **Several classes**: one-vs-rest, one binary problem per class (class c against the rest),
//!   as `LinearSVC`'s default `multi_class = "ovr"`.
//! - **Probabilities**: Platt scaling (Platt 1999) fitted inside the training data: the training
//!   part is split into `platt_folds` stratified folds (seeded); each fold's decision values come
//!   from an SVM fitted on the other folds, and a sigmoid `P(y = 1 | f) = 1 / (1 + exp(A f + B))`
//!   is fitted to these out-of-fold values by the Newton method with backtracking of Lin, Lin &
//!   Weng (2007, *Mach Learn* 68:267; libsvm's `sigmoid_train`, with its target smoothing
//!   (N₊ + 1)/(N₊ + 2) and 1/(N₋ + 2)). The predicting SVM is then fitted on the whole training
//!   part and its decision values go through the sigmoid — scikit-learn's
//!   `CalibratedClassifierCV(method = "sigmoid", ensemble = False)`. With several classes every
//!   one-vs-rest model has its own sigmoid and the class probabilities are normalized to sum 1
//!   (as scikit-learn does). Folds are drawn per class, not per donor: calibration happens inside
//!   the outer training fold, so no test sample is ever seen.

use evomics_core::rng::{derive_seed, seeded};
use ndarray::{Array2, ArrayView2};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::error::{data_err, ensure, Result};
use crate::models::{Labels, Output};

/// Linear SVM parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SvmParams {
    /// Inverse regularization strength C > 0 (default 1, as `LinearSVC`).
    pub c: f64,
    /// Fit an intercept as liblinear does: a constant feature 1 whose (penalized) weight is the
    /// intercept (default true).
    pub intercept: bool,
    /// Stopping tolerance of the dual coordinate descent, > 0 (default 1e-6): the largest minus
    /// the smallest projected gradient.
    pub tol: f64,
    /// Maximum epochs (passes over the samples), ≥ 1 (default 10,000).
    pub max_iter: usize,
    /// Folds of the inner cross-validation that gives the Platt sigmoid its decision values,
    /// ≥ 2 (default 5; fewer when a class has fewer training samples).
    pub platt_folds: usize,
    /// Seed of the Platt folds.
    pub seed: u64,
}

impl Default for SvmParams {
    fn default() -> Self {
        SvmParams {
            c: 1.0,
            intercept: true,
            tol: 1e-6,
            max_iter: 10_000,
            platt_folds: 5,
            seed: 1,
        }
    }
}

crate::param_guard!(SvmParams);

/// A fitted linear SVM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearSvm {
    /// Number of classes.
    pub n_classes: usize,
    /// Weights, features × models (one model for two classes — class 1 against class 0 — or
    /// one per class).
    pub weights: Array2<f64>,
    /// Intercept of each model (0 without intercept).
    pub intercepts: Vec<f64>,
    /// Platt sigmoid (A, B) of each model: P = 1 / (1 + exp(A f + B)).
    pub platt: Vec<(f64, f64)>,
    /// Whether every binary problem met the tolerance.
    pub converged: bool,
    /// Largest number of epochs used by a binary problem.
    pub n_iter: usize,
}

/// Solve one binary problem (`yb` = ±1) by dual coordinate descent; returns (w, b, epochs,
/// converged). `x` is samples × features.
fn dual_cd(x: ArrayView2<f64>, yb: &[f64], p: &SvmParams) -> (Vec<f64>, f64, usize, bool) {
    let (n, d) = x.dim();
    let rows: Vec<Vec<f64>> = x.rows().into_iter().map(|r| r.to_vec()).collect();
    let bias = if p.intercept { 1.0 } else { 0.0 };
    let diag = 0.5 / p.c;
    let qd: Vec<f64> = rows
        .iter()
        .map(|r| r.iter().map(|v| v * v).sum::<f64>() + bias * bias + diag)
        .collect();
    let mut w = vec![0.0; d];
    let mut b = 0.0;
    let mut alpha = vec![0.0; n];
    let mut epochs = 0;
    let mut converged = false;
    while epochs < p.max_iter {
        epochs += 1;
        let mut pg_max = f64::NEG_INFINITY;
        let mut pg_min = f64::INFINITY;
        for i in 0..n {
            let xi = &rows[i];
            let f: f64 = xi.iter().zip(&w).map(|(a, c)| a * c).sum::<f64>() + b * bias;
            let g = yb[i] * f - 1.0 + diag * alpha[i];
            let pg = if alpha[i] == 0.0 { g.min(0.0) } else { g };
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg != 0.0 {
                let old = alpha[i];
                let new = (old - g / qd[i]).max(0.0);
                let step = (new - old) * yb[i];
                if step != 0.0 {
                    alpha[i] = new;
                    for (wj, xj) in w.iter_mut().zip(xi) {
                        *wj += step * xj;
                    }
                    b += step * bias;
                }
            }
        }
        if pg_max - pg_min <= p.tol {
            converged = true;
            break;
        }
    }
    (w, b, epochs, converged)
}

/// Platt's sigmoid (A, B) for decision values `f` and targets `t` (true: positive class), by
/// the Newton method with backtracking of Lin, Lin & Weng (2007), as libsvm's `sigmoid_train`.
pub fn platt_sigmoid(f: &[f64], t: &[bool]) -> (f64, f64) {
    let prior1 = t.iter().filter(|&&v| v).count() as f64;
    let prior0 = t.len() as f64 - prior1;
    let hi = (prior1 + 1.0) / (prior1 + 2.0);
    let lo = 1.0 / (prior0 + 2.0);
    let target: Vec<f64> = t.iter().map(|&v| if v { hi } else { lo }).collect();
    let (max_iter, min_step, sigma, eps) = (100, 1e-10, 1e-12, 1e-5);
    let mut a = 0.0;
    let mut b = ((prior0 + 1.0) / (prior1 + 1.0)).ln();
    let fval_of = |a: f64, b: f64| -> f64 {
        f.iter()
            .zip(&target)
            .map(|(&fi, &ti)| {
                let fa = fi * a + b;
                if fa >= 0.0 {
                    ti * fa + (1.0 + (-fa).exp()).ln()
                } else {
                    (ti - 1.0) * fa + (1.0 + fa.exp()).ln()
                }
            })
            .sum()
    };
    let mut fval = fval_of(a, b);
    for _ in 0..max_iter {
        let (mut h11, mut h22, mut h21, mut g1, mut g2) = (sigma, sigma, 0.0, 0.0, 0.0);
        for (&fi, &ti) in f.iter().zip(&target) {
            let fa = fi * a + b;
            let (p, q) = if fa >= 0.0 {
                let e = (-fa).exp();
                (e / (1.0 + e), 1.0 / (1.0 + e))
            } else {
                let e = fa.exp();
                (1.0 / (1.0 + e), e / (1.0 + e))
            };
            let d2 = p * q;
            h11 += fi * fi * d2;
            h22 += d2;
            h21 += fi * d2;
            let d1 = ti - p;
            g1 += fi * d1;
            g2 += d1;
        }
        if g1.abs() < eps && g2.abs() < eps {
            break;
        }
        let det = h11 * h22 - h21 * h21;
        let da = -(h22 * g1 - h21 * g2) / det;
        let db = -(-h21 * g1 + h11 * g2) / det;
        let gd = g1 * da + g2 * db;
        let mut step = 1.0;
        let mut moved = false;
        while step >= min_step {
            let (na, nb) = (a + step * da, b + step * db);
            let nf = fval_of(na, nb);
            if nf < fval + 1e-4 * step * gd {
                a = na;
                b = nb;
                fval = nf;
                moved = true;
                break;
            }
            step /= 2.0;
        }
        if !moved {
            break;
        }
    }
    (a, b)
}

fn sigmoid_prob(f: f64, (a, b): (f64, f64)) -> f64 {
    let fa = f * a + b;
    if fa >= 0.0 {
        let e = (-fa).exp();
        e / (1.0 + e)
    } else {
        1.0 / (1.0 + fa.exp())
    }
}

impl SvmParams {
    /// Check the parameters alone.
    pub fn validate(&self) -> Result<()> {
        const W: &str = "linear svm";
        ensure(self.c > 0.0 && self.c.is_finite(), W, "c", || {
            format!("is {}; use a positive number (e.g. 1)", self.c)
        })?;
        ensure(self.tol > 0.0 && self.tol.is_finite(), W, "tol", || {
            format!("is {}; use a small positive number", self.tol)
        })?;
        ensure(self.max_iter >= 1, W, "max_iter", || "is 0".into())?;
        ensure(self.platt_folds >= 2, W, "platt_folds", || {
            format!("is {}; use at least 2", self.platt_folds)
        })
    }

    /// The SVM's weights, intercepts, convergence and epochs, without Platt scaling.
    fn fit_svm(
        &self,
        x: ArrayView2<f64>,
        y: &[usize],
        n_classes: usize,
    ) -> (Array2<f64>, Vec<f64>, bool, usize) {
        let targets: Vec<usize> = if n_classes <= 2 {
            vec![1]
        } else {
            (0..n_classes).collect()
        };
        let mut weights = Array2::zeros((x.ncols(), targets.len()));
        let mut intercepts = Vec::with_capacity(targets.len());
        let mut converged = true;
        let mut n_iter = 0;
        for (m, &c) in targets.iter().enumerate() {
            let yb: Vec<f64> = y.iter().map(|&v| if v == c { 1.0 } else { -1.0 }).collect();
            let (w, b, it, ok) = dual_cd(x, &yb, self);
            weights.column_mut(m).assign(&ndarray::Array1::from(w));
            intercepts.push(b);
            converged &= ok;
            n_iter = n_iter.max(it);
        }
        (weights, intercepts, converged, n_iter)
    }

    /// Fit on a complete matrix (class targets only).
    pub fn fit(&self, x: ArrayView2<f64>, labels: &Labels) -> Result<LinearSvm> {
        self.validate()?;
        let Labels::Classes { y, n_classes } = labels else {
            return Err(data_err(
                "linear svm",
                "a linear SVM classifies; for a numeric target use elastic_net, random_forest, gradient_boosting or pls",
            ));
        };
        let k = (*n_classes).max(2);
        let n = y.len();
        let mut counts = vec![0usize; k];
        for &c in y {
            counts[c] += 1;
        }
        let smallest = counts.iter().copied().min().unwrap_or(0);
        if smallest < 2 {
            return Err(data_err(
                "linear svm",
                format!("Platt scaling needs at least 2 training samples of every class; class {} has {smallest}", counts.iter().position(|&c| c == smallest).unwrap_or(0)),
            ));
        }
        let folds = self.platt_folds.min(smallest);
        // Stratified folds: each class shuffled (seeded) and dealt round-robin, continuing
        // where the previous class stopped.
        let mut rng = seeded(derive_seed(self.seed, "platt"));
        let mut fold_of = vec![0usize; n];
        let mut next = 0;
        for c in 0..k {
            let mut members: Vec<usize> = (0..n).filter(|&i| y[i] == c).collect();
            members.shuffle(&mut rng);
            for i in members {
                fold_of[i] = next % folds;
                next += 1;
            }
        }
        let n_models = if k == 2 { 1 } else { k };
        let mut oof = Array2::<f64>::zeros((n, n_models));
        for f in 0..folds {
            let tr: Vec<usize> = (0..n).filter(|&i| fold_of[i] != f).collect();
            let te: Vec<usize> = (0..n).filter(|&i| fold_of[i] == f).collect();
            let xtr = x.select(ndarray::Axis(0), &tr);
            let ytr: Vec<usize> = tr.iter().map(|&i| y[i]).collect();
            let (w, b, _, _) = self.fit_svm(xtr.view(), &ytr, k);
            for &i in &te {
                for m in 0..n_models {
                    oof[[i, m]] = x.row(i).dot(&w.column(m)) + b[m];
                }
            }
        }
        let platt = (0..n_models)
            .map(|m| {
                let pos = if k == 2 { 1 } else { m };
                let t: Vec<bool> = y.iter().map(|&c| c == pos).collect();
                platt_sigmoid(&oof.column(m).to_vec(), &t)
            })
            .collect();
        let (weights, intercepts, converged, n_iter) = self.fit_svm(x, y, k);
        Ok(LinearSvm {
            n_classes: k,
            weights,
            intercepts,
            platt,
            converged,
            n_iter,
        })
    }
}

impl LinearSvm {
    /// Number of input features.
    pub fn n_features(&self) -> usize {
        self.weights.nrows()
    }

    /// Decision values `wᵀx + b`, samples × models (one column for two classes).
    pub fn decision_function(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let mut d = x.dot(&self.weights);
        for mut row in d.rows_mut() {
            for (v, b) in row.iter_mut().zip(&self.intercepts) {
                *v += b;
            }
        }
        d
    }

    /// Platt-scaled class probabilities.
    pub fn predict(&self, x: ArrayView2<f64>) -> Output {
        let d = self.decision_function(x);
        let n = d.nrows();
        let p = if self.n_classes == 2 {
            Array2::from_shape_fn((n, 2), |(i, c)| {
                let q = sigmoid_prob(d[[i, 0]], self.platt[0]);
                if c == 1 {
                    q
                } else {
                    1.0 - q
                }
            })
        } else {
            let mut p = Array2::from_shape_fn((n, self.n_classes), |(i, c)| {
                sigmoid_prob(d[[i, c]], self.platt[c])
            });
            for mut row in p.rows_mut() {
                let s = row.sum();
                if s > 0.0 {
                    row.mapv_inplace(|v| v / s);
                } else {
                    row.fill(1.0 / self.n_classes as f64);
                }
            }
            p
        };
        Output::Probabilities { p }
    }

    /// |weight| per feature (largest over the one-vs-rest models), on the model's input scale.
    pub fn importance(&self) -> Vec<f64> {
        self.weights
            .rows()
            .into_iter()
            .map(|r| r.iter().fold(0.0f64, |a, b| a.max(b.abs())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> (Array2<f64>, Vec<usize>) {
        let x = Array2::from_shape_fn((40, 6), |(i, j)| {
            (((i * 7 + j * 13) % 17) as f64 - 8.0) / 4.0 + if j < 2 { (i % 2) as f64 } else { 0.0 }
        });
        let y = (0..40).map(|i| i % 2).collect();
        (x, y)
    }

    /// Primal objective ½‖w̃‖² + C Σ max(0, 1 − y f)².
    fn primal(x: &Array2<f64>, yb: &[f64], w: &[f64], b: f64, c: f64) -> f64 {
        let reg = 0.5 * (w.iter().map(|v| v * v).sum::<f64>() + b * b);
        let loss: f64 = x
            .rows()
            .into_iter()
            .zip(yb)
            .map(|(r, &yi)| {
                let f: f64 = r.iter().zip(w).map(|(a, c)| a * c).sum::<f64>() + b;
                (1.0 - yi * f).max(0.0).powi(2)
            })
            .sum();
        reg + c * loss
    }

    #[test]
    fn dual_solution_minimizes_the_primal() {
        let (x, y) = toy();
        let yb: Vec<f64> = y.iter().map(|&c| if c == 1 { 1.0 } else { -1.0 }).collect();
        let p = SvmParams {
            c: 0.3,
            tol: 1e-10,
            ..Default::default()
        };
        let (w, b, _, ok) = dual_cd(x.view(), &yb, &p);
        assert!(ok);
        let f0 = primal(&x, &yb, &w, b, 0.3);
        for j in 0..=w.len() {
            for d in [-1e-4, 1e-4] {
                let (mut w2, mut b2) = (w.clone(), b);
                if j == w.len() {
                    b2 += d;
                } else {
                    w2[j] += d;
                }
                assert!(
                    primal(&x, &yb, &w2, b2, 0.3) >= f0 - 1e-12,
                    "coordinate {j}"
                );
            }
        }
    }

    #[test]
    fn platt_probabilities_are_monotone_and_calibrated_on_separable_data() {
        let (x, y) = toy();
        let m = SvmParams::default()
            .fit(
                x.view(),
                &Labels::Classes {
                    y: y.clone(),
                    n_classes: 2,
                },
            )
            .unwrap();
        let d = m.decision_function(x.view());
        let Output::Probabilities { p } = m.predict(x.view()) else {
            panic!()
        };
        assert!(m.platt[0].0 < 0.0, "A must be negative: {:?}", m.platt);
        let mut order: Vec<usize> = (0..40).collect();
        order.sort_by(|&a, &b| d[[a, 0]].total_cmp(&d[[b, 0]]));
        for w in order.windows(2) {
            assert!(p[[w[0], 1]] <= p[[w[1], 1]]);
        }
        for r in p.rows() {
            assert!((r.sum() - 1.0).abs() < 1e-12);
        }
        // Same seed, same model; the seed only moves the Platt folds.
        let again = SvmParams::default()
            .fit(x.view(), &Labels::Classes { y, n_classes: 2 })
            .unwrap();
        assert_eq!(m, again);
    }

    #[test]
    fn platt_sigmoid_recovers_a_known_sigmoid() {
        // Decision values whose labels follow P = 1 / (1 + exp(-2 f)) exactly in expectation.
        let f: Vec<f64> = (0..2000).map(|i| (i as f64 / 1999.0) * 6.0 - 3.0).collect();
        let mut rng = seeded(5);
        let t: Vec<bool> = f
            .iter()
            .map(|&v| rand::Rng::gen::<f64>(&mut rng) < 1.0 / (1.0 + (-2.0 * v).exp()))
            .collect();
        let (a, b) = platt_sigmoid(&f, &t);
        assert!((a + 2.0).abs() < 0.25 && b.abs() < 0.2, "A {a} B {b}");
    }

    #[test]
    fn numeric_targets_and_bad_params_are_refused() {
        let (x, _) = toy();
        assert!(SvmParams::default()
            .fit(x.view(), &Labels::Numeric { y: vec![0.0; 40] })
            .is_err());
        assert!(SvmParams {
            c: 0.0,
            ..Default::default()
        }
        .validate()
        .is_err());
    }
}
