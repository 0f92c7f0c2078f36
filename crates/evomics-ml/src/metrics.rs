//! Performance metrics of class and numeric predictions.
//!
//! Classes: ROC AUC (Hanley & McNeil 1982, *Radiology* 143:29; the Mann–Whitney statistic with
//! ties counted ½), PR AUC as average precision (scikit-learn's step-wise definition), both
//! one-vs-rest and macro-averaged over classes for more than two classes (Hand & Till 2001 use
//! pairwise averages; one-vs-rest macro is scikit-learn's `multi_class = "ovr"`); balanced
//! accuracy (mean recall over classes); Matthews correlation coefficient (Matthews 1975;
//! Gorodkin 2004's multiclass form); Brier score (Brier 1950; for two classes the mean squared
//! error of the positive-class probability, for more the mean over samples of the summed
//! squared errors of all classes); accuracy; a calibration table. Numbers: R² = 1 − SSE/SST, RMSE,
//! MAE and Spearman's rank correlation.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use evomics_core::num::{mean, rank_average, spearman};

/// Metrics of class predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Samples scored.
    pub n: usize,
    /// ROC AUC (macro one-vs-rest for > 2 classes); None when only one class is present.
    pub roc_auc: Option<f64>,
    /// Average precision (macro one-vs-rest for > 2 classes); None when only one class is present.
    pub pr_auc: Option<f64>,
    /// Mean recall over the classes present.
    pub balanced_accuracy: f64,
    /// Matthews correlation coefficient (0 when undefined).
    pub mcc: f64,
    /// Brier score.
    pub brier: f64,
    /// Share of correct argmax predictions.
    pub accuracy: f64,
}

/// Metrics of numeric predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionMetrics {
    /// Samples scored.
    pub n: usize,
    /// 1 − SSE/SST (SST around the mean of the true values); None when they are constant.
    pub r2: Option<f64>,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Spearman rank correlation; None when either side is constant.
    pub spearman: Option<f64>,
}

/// Metrics of one set of predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum Metrics {
    /// Class target.
    Classification(ClassMetrics),
    /// Numeric target.
    Regression(RegressionMetrics),
}

impl Metrics {
    /// The headline number: ROC AUC for classes, R² for numbers.
    pub fn primary(&self) -> Option<f64> {
        match self {
            Metrics::Classification(m) => m.roc_auc,
            Metrics::Regression(m) => m.r2,
        }
    }

    /// Name of the headline number.
    pub fn primary_name(&self) -> &'static str {
        match self {
            Metrics::Classification(_) => "roc_auc",
            Metrics::Regression(_) => "r2",
        }
    }

    /// Every metric as (name, value) pairs, in a fixed order (undefined values are NaN).
    pub fn named(&self) -> Vec<(&'static str, f64)> {
        let o = |v: Option<f64>| v.unwrap_or(f64::NAN);
        match self {
            Metrics::Classification(m) => vec![
                ("roc_auc", o(m.roc_auc)),
                ("pr_auc", o(m.pr_auc)),
                ("balanced_accuracy", m.balanced_accuracy),
                ("mcc", m.mcc),
                ("brier", m.brier),
                ("accuracy", m.accuracy),
            ],
            Metrics::Regression(m) => vec![
                ("r2", o(m.r2)),
                ("rmse", m.rmse),
                ("mae", m.mae),
                ("spearman", o(m.spearman)),
            ],
        }
    }
}

/// ROC AUC of scores for a binary truth; None unless both classes are present.
pub fn roc_auc(truth: &[bool], score: &[f64]) -> Option<f64> {
    let np = truth.iter().filter(|&&t| t).count();
    let nn = truth.len() - np;
    if np == 0 || nn == 0 {
        return None;
    }
    let ranks = rank_average(score);
    let rsum: f64 = ranks
        .iter()
        .zip(truth)
        .filter(|(_, &t)| t)
        .map(|(r, _)| r)
        .sum();
    let u = rsum - (np * (np + 1)) as f64 / 2.0;
    Some(u / (np as f64 * nn as f64))
}

/// Average precision `Σ_t (R_t − R_{t−1}) P_t` over the distinct score thresholds in decreasing
/// order (scikit-learn `average_precision_score`); None without positives.
pub fn average_precision(truth: &[bool], score: &[f64]) -> Option<f64> {
    let np = truth.iter().filter(|&&t| t).count();
    if np == 0 || np == truth.len() {
        return if np == 0 { None } else { Some(1.0) };
    }
    let mut idx: Vec<usize> = (0..score.len()).collect();
    idx.sort_by(|&a, &b| score[b].total_cmp(&score[a]).then(a.cmp(&b)));
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let s = score[idx[i]];
        while i < idx.len() && score[idx[i]] == s {
            if truth[idx[i]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        let recall = tp / np as f64;
        let precision = tp / (tp + fp);
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    Some(ap)
}

fn mean_defined(v: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let vals: Vec<f64> = v.flatten().collect();
    (!vals.is_empty()).then(|| mean(&vals))
}

/// Metrics of class probabilities `p` (samples × classes) against true classes `y`.
pub fn classification_metrics(y: &[usize], p: ArrayView2<f64>) -> ClassMetrics {
    let n = y.len();
    let k = p.ncols();
    let pred: Vec<usize> = p
        .rows()
        .into_iter()
        .map(|r| {
            let mut b = 0;
            for c in 1..r.len() {
                if r[c] > r[b] {
                    b = c;
                }
            }
            b
        })
        .collect();
    let (roc, pr) = if k == 2 {
        let t: Vec<bool> = y.iter().map(|&c| c == 1).collect();
        let s: Vec<f64> = p.column(1).to_vec();
        (roc_auc(&t, &s), average_precision(&t, &s))
    } else {
        let per = |c: usize| -> (Vec<bool>, Vec<f64>) {
            (y.iter().map(|&v| v == c).collect(), p.column(c).to_vec())
        };
        (
            mean_defined((0..k).map(|c| {
                let (t, s) = per(c);
                roc_auc(&t, &s)
            })),
            mean_defined((0..k).map(|c| {
                let (t, s) = per(c);
                if t.iter().any(|&v| v) {
                    average_precision(&t, &s)
                } else {
                    None
                }
            })),
        )
    };
    let mut conf = vec![vec![0.0; k]; k];
    for (&t, &q) in y.iter().zip(&pred) {
        conf[t][q] += 1.0;
    }
    let recalls: Vec<f64> = (0..k)
        .filter_map(|c| {
            let tot: f64 = conf[c].iter().sum();
            (tot > 0.0).then(|| conf[c][c] / tot)
        })
        .collect();
    let balanced_accuracy = recalls.iter().sum::<f64>() / recalls.len().max(1) as f64;
    let correct: f64 = (0..k).map(|c| conf[c][c]).sum();
    let s = n as f64;
    let t_k: Vec<f64> = (0..k).map(|c| conf[c].iter().sum()).collect();
    let p_k: Vec<f64> = (0..k).map(|c| (0..k).map(|r| conf[r][c]).sum()).collect();
    let num = correct * s - t_k.iter().zip(&p_k).map(|(a, b)| a * b).sum::<f64>();
    let den = ((s * s - p_k.iter().map(|v| v * v).sum::<f64>())
        * (s * s - t_k.iter().map(|v| v * v).sum::<f64>()))
    .sqrt();
    let mcc = if den > 0.0 { num / den } else { 0.0 };
    let brier = if k == 2 {
        y.iter()
            .enumerate()
            .map(|(i, &c)| (p[[i, 1]] - f64::from(u8::from(c == 1))).powi(2))
            .sum::<f64>()
            / s
    } else {
        y.iter()
            .enumerate()
            .map(|(i, &c)| {
                (0..k)
                    .map(|j| (p[[i, j]] - f64::from(u8::from(c == j))).powi(2))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / s
    };
    ClassMetrics {
        n,
        roc_auc: roc,
        pr_auc: pr,
        balanced_accuracy,
        mcc,
        brier,
        accuracy: correct / s.max(1.0),
    }
}

/// Metrics of numeric predictions.
pub fn regression_metrics(y: &[f64], pred: &[f64]) -> RegressionMetrics {
    let n = y.len();
    let s = n.max(1) as f64;
    let mean = y.iter().sum::<f64>() / s;
    let sse: f64 = y.iter().zip(pred).map(|(a, b)| (a - b) * (a - b)).sum();
    let sst: f64 = y.iter().map(|a| (a - mean) * (a - mean)).sum();
    let mae = y.iter().zip(pred).map(|(a, b)| (a - b).abs()).sum::<f64>() / s;
    RegressionMetrics {
        n,
        r2: (sst > 0.0).then(|| 1.0 - sse / sst),
        rmse: (sse / s).sqrt(),
        mae,
        spearman: spearman(y, pred),
    }
}

/// One bin of a calibration table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Lower edge of the predicted-probability bin.
    pub lower: f64,
    /// Upper edge.
    pub upper: f64,
    /// Samples in the bin.
    pub n: usize,
    /// Mean predicted probability in the bin.
    pub mean_predicted: f64,
    /// Observed share of positives in the bin.
    pub observed: f64,
}

/// Reliability table of positive-class probabilities in `bins` equal-width bins (empty bins are
/// left out), as scikit-learn's `calibration_curve(strategy = "uniform")`.
pub fn calibration_table(truth: &[bool], prob: &[f64], bins: usize) -> Vec<CalibrationBin> {
    let bins = bins.max(1);
    let mut n = vec![0usize; bins];
    let mut sp = vec![0.0; bins];
    let mut so = vec![0.0; bins];
    for (&t, &p) in truth.iter().zip(prob) {
        let b = ((p * bins as f64).floor() as usize).min(bins - 1);
        n[b] += 1;
        sp[b] += p;
        so[b] += f64::from(u8::from(t));
    }
    (0..bins)
        .filter(|&b| n[b] > 0)
        .map(|b| CalibrationBin {
            lower: b as f64 / bins as f64,
            upper: (b + 1) as f64 / bins as f64,
            n: n[b],
            mean_predicted: sp[b] / n[b] as f64,
            observed: so[b] / n[b] as f64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn auc_and_ap_match_scikit_learn() {
        // roc_auc_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.75; average_precision_score = 0.8333…
        let t = [false, false, true, true];
        let s = [0.1, 0.4, 0.35, 0.8];
        assert!((roc_auc(&t, &s).unwrap() - 0.75).abs() < 1e-12);
        assert!((average_precision(&t, &s).unwrap() - 0.833_333_333_333_333_4).abs() < 1e-12);
        // ties count ½
        assert!((roc_auc(&[false, true], &[0.5, 0.5]).unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(roc_auc(&[true, true], &[0.1, 0.2]), None);
    }

    #[test]
    fn class_metrics_known_values() {
        let p = array![[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8], [0.45, 0.55]];
        let y = [0, 0, 1, 1, 0];
        let m = classification_metrics(&y, p.view());
        assert_eq!(m.accuracy, 0.8);
        assert!((m.balanced_accuracy - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        // sklearn matthews_corrcoef([0,0,1,1,0],[0,0,1,1,1]) = 0.6666…
        assert!((m.mcc - 2.0 / 3.0).abs() < 1e-12);
        let brier = (0.01 + 0.16 + 0.09 + 0.04 + 0.3025) / 5.0;
        assert!((m.brier - brier).abs() < 1e-12);
        assert_eq!(m.roc_auc, Some(1.0));
    }

    #[test]
    fn regression_metrics_known_values() {
        let m = regression_metrics(&[1.0, 2.0, 3.0, 4.0], &[1.5, 2.0, 2.5, 4.0]);
        assert!((m.r2.unwrap() - (1.0 - 0.5 / 5.0)).abs() < 1e-12);
        assert!((m.rmse - (0.5f64 / 4.0).sqrt()).abs() < 1e-12);
        assert!((m.mae - 0.25).abs() < 1e-12);
        assert_eq!(m.spearman, Some(1.0));
        let c = calibration_table(&[true, false, true], &[0.95, 0.05, 0.92], 10);
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].n, 2);
        assert_eq!(c[1].observed, 1.0);
    }
}
