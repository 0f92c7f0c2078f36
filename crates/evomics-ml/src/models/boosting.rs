//! Gradient boosting of regression trees on histogram-binned features (Friedman 2001, *Ann
//! Stat* 29:1189; the second-order, histogram form of XGBoost — Chen & Guestrin 2016 — and
//! LightGBM — Ke et al. 2017 — as scikit-learn's `HistGradientBoosting*`), for classes (binary
//! log-loss, multiclass softmax with one tree per class and iteration) and numbers (squared
//! error).
//!
//! - **Bins**: the training part's features are binned once per fit, exactly as the random
//!   forest's histogram splitter ([`crate::models::binning`]; at most `max_bins` per feature).
//! - **Trees**: grown best-first (the leaf with the largest gain splits next) up to
//!   `max_leaf_nodes` leaves and `max_depth`; every split considers every feature. With
//!   gradients g and hessians h of the loss at the current raw predictions, the gain of a split
//!   is `G_L²/(H_L + λ) + G_R²/(H_R + λ) − G²/(H + λ)` (λ = `l2_regularization`); a split needs
//!   a positive gain, `min_samples_leaf` samples and a hessian sum ≥ 1e-3 on each side (the
//!   defaults of scikit-learn). A leaf's value is `−learning_rate · G/(H + λ)`.
//! - **Start**: the log-odds of the class-1 share (binary), the log class shares (multiclass,
//!   softmax), the mean (numbers).
//! - **Early stopping** (`early_stopping`, default on): a seeded share `validation_fraction` of
//!   the training samples (stratified by class) is held out; after every iteration the loss on
//!   it is computed, and boosting stops when none of the last `n_iter_no_change` iterations
//!   improved on the loss `n_iter_no_change` iterations earlier by more than `tol` —
//!   scikit-learn's rule with `scoring = "loss"`. The model is fitted on the rest of the training
//!   samples and keeps every iteration grown (as scikit-learn). Everything happens inside the
//!   training part given to `fit`, so inside a CV training fold.
//! - **Importance**: total gain of the splits on each feature, normalized to sum 1.
//! - **Determinism**: the only random step is the validation split (seed `seed`); the split
//!   search runs over features on the rayon pool and the per-feature bests are reduced in feature
//!   order (ties to the lower feature), so results do not depend on the thread count.
//!
//! Defaults are scikit-learn's: learning rate 0.1, 100 iterations, 31 leaves, no depth limit,
//! 20 samples per leaf, no L2 penalty, 255 bins, 10% validation, patience 10, tol 1e-7.

use evomics_core::rng::{derive_seed, seeded};
use ndarray::{Array2, ArrayView2};
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{data_err, ensure, Result};
use crate::models::binning::{bin_histogram, Binned};
use crate::models::forest::{Node, Tree};
use crate::models::{Labels, Output};

/// Gradient-boosting parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BoostingParams {
    /// Shrinkage of every tree, in (0, 1] (default 0.1).
    pub learning_rate: f64,
    /// Boosting iterations, ≥ 1 (default 100).
    pub max_iter: usize,
    /// Leaves per tree, ≥ 2 (default 31).
    pub max_leaf_nodes: usize,
    /// Depth limit (default none).
    pub max_depth: Option<usize>,
    /// Minimum training samples in a leaf, ≥ 1 (default 20).
    pub min_samples_leaf: usize,
    /// L2 penalty λ on leaf values, ≥ 0 (default 0).
    pub l2_regularization: f64,
    /// Histogram bins per feature, 2–255 (default 255).
    pub max_bins: usize,
    /// Stop early on a held-out share of the training samples (default true).
    pub early_stopping: bool,
    /// Share of the training samples held out for early stopping, in (0, 0.5] (default 0.1).
    pub validation_fraction: f64,
    /// Patience: iterations without improvement before stopping, ≥ 1 (default 10).
    pub n_iter_no_change: usize,
    /// Smallest loss improvement that counts, ≥ 0 (default 1e-7).
    pub tol: f64,
    /// Seed of the validation split.
    pub seed: u64,
}

impl Default for BoostingParams {
    fn default() -> Self {
        BoostingParams {
            learning_rate: 0.1,
            max_iter: 100,
            max_leaf_nodes: 31,
            max_depth: None,
            min_samples_leaf: 20,
            l2_regularization: 0.0,
            max_bins: 255,
            early_stopping: true,
            validation_fraction: 0.1,
            n_iter_no_change: 10,
            tol: 1e-7,
            seed: 1,
        }
    }
}

crate::param_guard!(BoostingParams);

/// The loss, set by the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoostingLoss {
    /// Squared error (numbers).
    SquaredError,
    /// Binary log-loss; raw predictions are log-odds of class 1.
    LogLoss,
    /// Multiclass cross-entropy with softmax; one raw prediction per class.
    Softmax,
}

/// A fitted gradient-boosting model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Boosting {
    /// The loss.
    pub loss: BoostingLoss,
    /// Number of classes (0 for numbers).
    pub n_classes: usize,
    /// Number of input features.
    pub n_features: usize,
    /// Starting raw prediction per output.
    pub baseline: Vec<f64>,
    /// Trees per iteration and output: `trees[iteration * n_outputs + output]`; leaf values
    /// include the learning rate.
    pub trees: Vec<Tree>,
    /// Iterations grown.
    pub n_iter: usize,
    /// Validation loss after each iteration (empty without early stopping).
    pub validation_loss: Vec<f64>,
    /// Total split gain per feature, normalized to sum 1 (all 0 when no tree split).
    pub importance: Vec<f64>,
}

/// A leaf waiting to split: its samples, sums and best split.
struct Leaf {
    node: usize,
    idx: Vec<u32>,
    g: f64,
    h: f64,
    depth: usize,
    /// (gain, feature, last left bin, first right bin).
    split: Option<(f64, usize, usize, usize)>,
}

struct TreeGrower<'a> {
    b: &'a Binned<u8>,
    p: &'a BoostingParams,
}

impl TreeGrower<'_> {
    /// Best split of samples `idx` over every feature (ties to the lower feature).
    fn best_split(
        &self,
        idx: &[u32],
        grad: &[f64],
        hess: &[f64],
        g_tot: f64,
        h_tot: f64,
    ) -> Option<(f64, usize, usize, usize)> {
        let lam = self.p.l2_regularization;
        let min_leaf = self.p.min_samples_leaf;
        if idx.len() < 2 * min_leaf {
            return None;
        }
        let parent = g_tot * g_tot / (h_tot + lam);
        let per_feature: Vec<Option<(f64, usize, usize)>> = (0..self.b.n_features())
            .into_par_iter()
            .map_init(
                || (vec![0.0f64; 256], vec![0.0f64; 256], vec![0u32; 256]),
                |(hg, hh, hc), f| {
                    let nb = self.b.n_bins(f);
                    hg[..nb].fill(0.0);
                    hh[..nb].fill(0.0);
                    hc[..nb].fill(0);
                    let col = self.b.column(f);
                    for &i in idx {
                        let (i, bin) = (i as usize, col[i as usize] as usize);
                        hg[bin] += grad[i];
                        hh[bin] += hess[i];
                        hc[bin] += 1;
                    }
                    let (mut gl, mut hl, mut nl) = (0.0, 0.0, 0usize);
                    let mut best: Option<(f64, usize, usize)> = None;
                    let mut last: Option<usize> = None;
                    for bin in 0..nb {
                        if hc[bin] == 0 {
                            continue;
                        }
                        if let Some(lb) = last {
                            let nr = idx.len() - nl;
                            let (gr, hr) = (g_tot - gl, h_tot - hl);
                            if nl >= min_leaf && nr >= min_leaf && hl >= 1e-3 && hr >= 1e-3 {
                                let gain = gl * gl / (hl + lam) + gr * gr / (hr + lam) - parent;
                                if gain > 0.0 && best.is_none_or(|(b, _, _)| gain > b) {
                                    best = Some((gain, lb, bin));
                                }
                            }
                        }
                        gl += hg[bin];
                        hl += hh[bin];
                        nl += hc[bin] as usize;
                        last = Some(bin);
                    }
                    best
                },
            )
            .collect();
        let mut best: Option<(f64, usize, usize, usize)> = None;
        for (f, s) in per_feature.into_iter().enumerate() {
            if let Some((gain, l, r)) = s {
                if best.is_none_or(|(b, _, _, _)| gain > b) {
                    best = Some((gain, f, l, r));
                }
            }
        }
        best
    }

    fn leaf(&self, node: usize, idx: Vec<u32>, depth: usize, grad: &[f64], hess: &[f64]) -> Leaf {
        let g: f64 = idx.iter().map(|&i| grad[i as usize]).sum();
        let h: f64 = idx.iter().map(|&i| hess[i as usize]).sum();
        let split = if self.p.max_depth.is_some_and(|d| depth >= d) {
            None
        } else {
            self.best_split(&idx, grad, hess, g, h)
        };
        Leaf {
            node,
            idx,
            g,
            h,
            depth,
            split,
        }
    }

    /// Grow one tree on `rows`; returns the tree and adds its raw predictions of `rows` to
    /// `raw` (one column of it) and its gains to `gains`.
    fn grow(
        &self,
        rows: &[u32],
        grad: &[f64],
        hess: &[f64],
        gains: &mut [f64],
    ) -> (Tree, Vec<(u32, f64)>) {
        let lam = self.p.l2_regularization;
        let mut nodes = vec![Node {
            feature: u32::MAX,
            threshold: 0.0,
            left: 0,
            right: 0,
        }];
        let mut open = vec![self.leaf(0, rows.to_vec(), 0, grad, hess)];
        let mut done: Vec<Leaf> = Vec::new();
        while open.len() + done.len() < self.p.max_leaf_nodes {
            // The open leaf with the largest gain (first on ties).
            let mut pick: Option<(usize, f64)> = None;
            for (k, l) in open.iter().enumerate() {
                if let Some((gain, ..)) = l.split {
                    if pick.is_none_or(|(_, b)| gain > b) {
                        pick = Some((k, gain));
                    }
                }
            }
            let Some((k, _)) = pick else { break };
            let leaf = open.remove(k);
            let (gain, f, lb, rb) = leaf.split.expect("picked leaves have a split");
            gains[f] += gain;
            let col = self.b.column(f);
            let (l, r): (Vec<u32>, Vec<u32>) = leaf
                .idx
                .iter()
                .partition(|&&i| (col[i as usize] as usize) <= lb);
            let (li, ri) = (nodes.len(), nodes.len() + 1);
            nodes.push(nodes[0].clone());
            nodes.push(nodes[0].clone());
            nodes[leaf.node] = Node {
                feature: f as u32,
                threshold: self.b.threshold(f, lb, rb),
                left: li as u32,
                right: ri as u32,
            };
            open.push(self.leaf(li, l, leaf.depth + 1, grad, hess));
            open.push(self.leaf(ri, r, leaf.depth + 1, grad, hess));
        }
        done.extend(open);
        done.sort_by_key(|l| l.node);
        let mut leaves = Vec::with_capacity(done.len());
        let mut fitted = Vec::with_capacity(rows.len());
        for (v, l) in done.iter().enumerate() {
            let value = -self.p.learning_rate * l.g / (l.h + lam);
            leaves.push(value);
            nodes[l.node] = Node {
                feature: u32::MAX,
                threshold: 0.0,
                left: v as u32,
                right: v as u32,
            };
            fitted.extend(l.idx.iter().map(|&i| (i, value)));
        }
        (Tree { nodes, leaves }, fitted)
    }
}

fn sigmoid(e: f64) -> f64 {
    if e >= 0.0 {
        1.0 / (1.0 + (-e).exp())
    } else {
        let x = e.exp();
        x / (1.0 + x)
    }
}

/// Softmax of one row of raw predictions into `out`.
fn softmax(raw: &[f64], out: &mut [f64]) {
    let m = raw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for (o, r) in out.iter_mut().zip(raw) {
        *o = (r - m).exp();
        s += *o;
    }
    out.iter_mut().for_each(|o| *o /= s);
}

impl BoostingParams {
    /// Check the parameters alone.
    pub fn validate(&self) -> Result<()> {
        const W: &str = "gradient boosting";
        ensure(
            self.learning_rate > 0.0 && self.learning_rate <= 1.0,
            W,
            "learning_rate",
            || format!("is {}; use a value in (0, 1], e.g. 0.1", self.learning_rate),
        )?;
        ensure(self.max_iter >= 1, W, "max_iter", || "is 0".into())?;
        ensure(self.max_leaf_nodes >= 2, W, "max_leaf_nodes", || {
            format!("is {}; use at least 2", self.max_leaf_nodes)
        })?;
        ensure(self.max_depth != Some(0), W, "max_depth", || {
            "is 0; use at least 1 or leave it unset".into()
        })?;
        ensure(self.min_samples_leaf >= 1, W, "min_samples_leaf", || {
            "is 0; use at least 1".into()
        })?;
        ensure(
            self.l2_regularization >= 0.0 && self.l2_regularization.is_finite(),
            W,
            "l2_regularization",
            || format!("is {}; use a value ≥ 0", self.l2_regularization),
        )?;
        ensure((2..=255).contains(&self.max_bins), W, "max_bins", || {
            format!("is {}; use 2–255", self.max_bins)
        })?;
        ensure(
            self.validation_fraction > 0.0 && self.validation_fraction <= 0.5,
            W,
            "validation_fraction",
            || format!("is {}; use a share in (0, 0.5]", self.validation_fraction),
        )?;
        ensure(self.n_iter_no_change >= 1, W, "n_iter_no_change", || {
            "is 0; use at least 1".into()
        })?;
        ensure(self.tol >= 0.0 && self.tol.is_finite(), W, "tol", || {
            format!("is {}; use a value ≥ 0", self.tol)
        })
    }

    /// Fit on a complete matrix.
    pub fn fit(&self, x: ArrayView2<f64>, labels: &Labels) -> Result<Boosting> {
        self.validate()?;
        let n = x.nrows();
        let (loss, k) = match labels {
            Labels::Numeric { .. } => (BoostingLoss::SquaredError, 0),
            Labels::Classes { n_classes, .. } if *n_classes <= 2 => (BoostingLoss::LogLoss, 2),
            Labels::Classes { n_classes, .. } => (BoostingLoss::Softmax, *n_classes),
        };
        // Early-stopping split: a seeded, class-stratified share of the samples.
        let mut valid = vec![false; n];
        if self.early_stopping {
            let mut rng = seeded(derive_seed(self.seed, "validation"));
            let strata: Vec<usize> = match labels {
                Labels::Classes { y, .. } => y.clone(),
                Labels::Numeric { .. } => vec![0; n],
            };
            let ns = strata.iter().copied().max().unwrap_or(0) + 1;
            for c in 0..ns {
                let mut m: Vec<usize> = (0..n).filter(|&i| strata[i] == c).collect();
                m.shuffle(&mut rng);
                let take = (m.len() as f64 * self.validation_fraction).round() as usize;
                for &i in m.iter().take(take.min(m.len().saturating_sub(1))) {
                    valid[i] = true;
                }
            }
        }
        let train: Vec<usize> = (0..n).filter(|&i| !valid[i]).collect();
        let val: Vec<usize> = (0..n).filter(|&i| valid[i]).collect();
        if train.len() < 2 {
            return Err(data_err(
                "gradient boosting",
                "needs at least 2 training samples",
            ));
        }
        let xt = x.select(ndarray::Axis(0), &train);
        let binned = bin_histogram(xt.view(), self.max_bins, 1);
        let nt = train.len();
        let n_out = if loss == BoostingLoss::Softmax { k } else { 1 };
        // Targets of the fitting part: y for numbers, one-hot for classes.
        let target = |i: usize, o: usize| -> f64 {
            match labels {
                Labels::Numeric { y } => y[i],
                Labels::Classes { y, .. } => {
                    let pos = if loss == BoostingLoss::LogLoss { 1 } else { o };
                    f64::from(u8::from(y[i] == pos))
                }
            }
        };
        let baseline: Vec<f64> = match loss {
            BoostingLoss::SquaredError => {
                vec![train.iter().map(|&i| target(i, 0)).sum::<f64>() / nt as f64]
            }
            BoostingLoss::LogLoss => {
                let p = (train.iter().map(|&i| target(i, 0)).sum::<f64>() / nt as f64)
                    .clamp(1e-15, 1.0 - 1e-15);
                vec![(p / (1.0 - p)).ln()]
            }
            BoostingLoss::Softmax => (0..k)
                .map(|o| {
                    let p = train.iter().map(|&i| target(i, o)).sum::<f64>() / nt as f64;
                    p.max(1e-15).ln()
                })
                .collect(),
        };
        let mut raw = Array2::from_shape_fn((nt, n_out), |(_, o)| baseline[o]);
        let mut raw_val = Array2::from_shape_fn((val.len(), n_out), |(_, o)| baseline[o]);
        let grower = TreeGrower {
            b: &binned,
            p: self,
        };
        let rows: Vec<u32> = (0..nt as u32).collect();
        let mut trees = Vec::new();
        let mut gains = vec![0.0; x.ncols()];
        let mut validation_loss = Vec::new();
        let mut grad = vec![0.0; nt];
        let mut hess = vec![0.0; nt];
        let mut prob = vec![0.0; n_out];
        let mut n_iter = 0;
        for _ in 0..self.max_iter {
            n_iter += 1;
            // Probabilities at the start of the iteration (softmax: all classes' trees of one
            // iteration use the same gradients).
            let probs: Option<Array2<f64>> = (loss == BoostingLoss::Softmax).then(|| {
                let mut p = Array2::zeros((nt, k));
                for i in 0..nt {
                    softmax(raw.row(i).as_slice().expect("row-major"), &mut prob);
                    p.row_mut(i).assign(&ndarray::ArrayView1::from(&prob[..]));
                }
                p
            });
            for o in 0..n_out {
                for (r, &i) in train.iter().enumerate() {
                    let t = target(i, o);
                    let (g, h) = match loss {
                        BoostingLoss::SquaredError => (raw[[r, 0]] - t, 1.0),
                        BoostingLoss::LogLoss => {
                            let q = sigmoid(raw[[r, 0]]);
                            (q - t, q * (1.0 - q))
                        }
                        BoostingLoss::Softmax => {
                            let q = probs.as_ref().expect("softmax probabilities")[[r, o]];
                            (q - t, q * (1.0 - q))
                        }
                    };
                    grad[r] = g;
                    hess[r] = h;
                }
                let (tree, fitted) = grower.grow(&rows, &grad, &hess, &mut gains);
                for (r, v) in fitted {
                    raw[[r as usize, o]] += v;
                }
                for (r, &i) in val.iter().enumerate() {
                    raw_val[[r, o]] += tree.leaf_value(&x.row(i).to_vec());
                }
                trees.push(tree);
            }
            if !val.is_empty() {
                let l = Self::loss_of(loss, &raw_val, &val, labels);
                validation_loss.push(l);
                let m = self.n_iter_no_change;
                if validation_loss.len() > m {
                    let reference = validation_loss[validation_loss.len() - m - 1];
                    let recent = &validation_loss[validation_loss.len() - m..];
                    // scikit-learn: stop unless some recent score (−loss) beats the reference
                    // score by more than tol.
                    if recent.iter().all(|&v| -v <= -reference + self.tol) {
                        break;
                    }
                }
            }
        }
        let s: f64 = gains.iter().sum();
        if s > 0.0 {
            gains.iter_mut().for_each(|v| *v /= s);
        }
        Ok(Boosting {
            loss,
            n_classes: if loss == BoostingLoss::SquaredError {
                0
            } else {
                k
            },
            n_features: x.ncols(),
            baseline,
            trees,
            n_iter,
            validation_loss,
            importance: gains,
        })
    }

    /// Mean loss of raw predictions on samples `rows`.
    fn loss_of(loss: BoostingLoss, raw: &Array2<f64>, rows: &[usize], labels: &Labels) -> f64 {
        let mut total = 0.0;
        let mut prob = vec![0.0; raw.ncols()];
        for (r, &i) in rows.iter().enumerate() {
            total += match (loss, labels) {
                (BoostingLoss::SquaredError, Labels::Numeric { y }) => {
                    let d = raw[[r, 0]] - y[i];
                    0.5 * d * d
                }
                (BoostingLoss::LogLoss, Labels::Classes { y, .. }) => {
                    // log(1 + e^z) − y z, computed stably.
                    let z = raw[[r, 0]];
                    let t = f64::from(u8::from(y[i] == 1));
                    z.max(0.0) + (-z.abs()).exp().ln_1p() - t * z
                }
                (BoostingLoss::Softmax, Labels::Classes { y, .. }) => {
                    softmax(raw.row(r).as_slice().expect("row-major"), &mut prob);
                    -prob[y[i]].max(1e-300).ln()
                }
                _ => 0.0,
            };
        }
        total / rows.len().max(1) as f64
    }
}

impl Boosting {
    /// Raw predictions (log-odds, class scores or values), samples × outputs.
    pub fn raw_predictions(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let n_out = self.baseline.len();
        let mut raw = Array2::from_shape_fn((x.nrows(), n_out), |(_, o)| self.baseline[o]);
        for (i, row) in x.rows().into_iter().enumerate() {
            let row = row.to_vec();
            for (t, tree) in self.trees.iter().enumerate() {
                raw[[i, t % n_out]] += tree.leaf_value(&row);
            }
        }
        raw
    }

    /// Probabilities for classes, values for numbers.
    pub fn predict(&self, x: ArrayView2<f64>) -> Output {
        let raw = self.raw_predictions(x);
        match self.loss {
            BoostingLoss::SquaredError => Output::Values {
                y: raw.column(0).to_vec(),
            },
            BoostingLoss::LogLoss => Output::Probabilities {
                p: Array2::from_shape_fn((raw.nrows(), 2), |(i, c)| {
                    let q = sigmoid(raw[[i, 0]]);
                    if c == 1 {
                        q
                    } else {
                        1.0 - q
                    }
                }),
            },
            BoostingLoss::Softmax => {
                let mut p = Array2::zeros(raw.dim());
                let mut prob = vec![0.0; raw.ncols()];
                for i in 0..raw.nrows() {
                    softmax(raw.row(i).as_slice().expect("row-major"), &mut prob);
                    p.row_mut(i).assign(&ndarray::ArrayView1::from(&prob[..]));
                }
                Output::Probabilities { p }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> (Array2<f64>, Vec<f64>) {
        let x = Array2::from_shape_fn((n, 6), |(i, j)| {
            ((i * (j + 5) * 7919) % 211) as f64 / 21.0 - 5.0
        });
        let y = (0..n)
            .map(|i| 2.0 * x[[i, 1]] - x[[i, 3]] + if x[[i, 0]] > 0.0 { 3.0 } else { 0.0 })
            .collect();
        (x, y)
    }

    #[test]
    fn regression_fits_and_early_stopping_stops() {
        let (x, y) = data(400);
        let var = {
            let m = y.iter().sum::<f64>() / 400.0;
            y.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / 400.0
        };
        let m = BoostingParams {
            max_iter: 300,
            ..Default::default()
        }
        .fit(x.view(), &Labels::Numeric { y: y.clone() })
        .unwrap();
        let Output::Values { y: pred } = m.predict(x.view()) else {
            panic!()
        };
        let mse = pred
            .iter()
            .zip(&y)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            / 400.0;
        assert!(mse < 0.05 * var, "mse {mse} var {var}");
        assert_eq!(m.validation_loss.len(), m.n_iter);
        let top = (0..6)
            .max_by(|&a, &b| m.importance[a].total_cmp(&m.importance[b]))
            .unwrap();
        assert!([0, 1].contains(&top), "{:?}", m.importance);
        // Without early stopping every iteration is grown.
        let full = BoostingParams {
            max_iter: 30,
            early_stopping: false,
            ..Default::default()
        }
        .fit(x.view(), &Labels::Numeric { y })
        .unwrap();
        assert_eq!(full.trees.len(), 30);
    }

    #[test]
    fn classification_binary_and_multiclass() {
        let (x, y) = data(300);
        let yb: Vec<usize> = y.iter().map(|&v| usize::from(v > 1.0)).collect();
        let m = BoostingParams::default()
            .fit(
                x.view(),
                &Labels::Classes {
                    y: yb.clone(),
                    n_classes: 2,
                },
            )
            .unwrap();
        let Output::Probabilities { p } = m.predict(x.view()) else {
            panic!()
        };
        let acc = (0..300)
            .filter(|&i| usize::from(p[[i, 1]] > 0.5) == yb[i])
            .count();
        assert!(acc >= 270, "{acc}");
        let y3: Vec<usize> = y
            .iter()
            .map(|&v| {
                if v < -2.0 {
                    0
                } else if v < 3.0 {
                    1
                } else {
                    2
                }
            })
            .collect();
        let m3 = BoostingParams::default()
            .fit(
                x.view(),
                &Labels::Classes {
                    y: y3.clone(),
                    n_classes: 3,
                },
            )
            .unwrap();
        assert_eq!(m3.trees.len(), 3 * m3.n_iter);
        let Output::Probabilities { p } = m3.predict(x.view()) else {
            panic!()
        };
        let acc = (0..300)
            .filter(|&i| {
                let r = p.row(i);
                (0..3).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap() == y3[i]
            })
            .count();
        assert!(acc >= 255, "{acc}");
        for r in p.rows() {
            assert!((r.sum() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn same_for_any_thread_count() {
        let (x, y) = data(200);
        let labels = Labels::Numeric { y };
        let fit = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| BoostingParams::default().fit(x.view(), &labels).unwrap())
        };
        assert_eq!(fit(1), fit(3));
    }
}
