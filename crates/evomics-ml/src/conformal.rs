//! Conformal prediction: intervals for numbers and sets of classes with a chosen error rate α
//! (Vovk, Gammerman & Shafer 2005, *Algorithmic Learning in a Random World*; Lei et al. 2018,
//! *JASA* 113:1094; Barber et al. 2021, *Ann Stat* 49:486).
//!
//! - **Split conformal** (Lei et al. 2018): nonconformity scores of a calibration set not used
//!   for fitting — |y − ŷ| for numbers, 1 − p̂(true class) for classes (the "LAC" score of
//!   Sadinle, Lei & Wasserman 2019) — give the threshold q = the ⌈(n + 1)(1 − α)⌉-th smallest
//!   score (∞ when that exceeds n). The interval ŷ ± q, or the set {c : 1 − p̂(c) ≤ q}, covers a
//!   new exchangeable sample with probability ≥ 1 − α (and < 1 − α + 1/(n + 1) without ties).
//! - **CV+** (Barber et al. 2021): with K fold models μ₋ₖ and out-of-fold residuals Rᵢ, the
//!   interval for x is [the ⌊α(n + 1)⌋-th smallest of μ₋ₖ₍ᵢ₎(x) − Rᵢ, the ⌈(1 − α)(n + 1)⌉-th
//!   smallest of μ₋ₖ₍ᵢ₎(x) + Rᵢ], with coverage ≥ 1 − 2α in theory and about 1 − α in practice.
//! - A saved model carries its cross-validation out-of-fold scores and applies them, split-
//!   conformal style, around the final model's predictions (MAPIE's "cv" mode; the final model
//!   was fitted on slightly more data than each fold model, so coverage is approximate).

use serde::{Deserialize, Serialize};

use crate::error::{ensure, Result};

/// Check an error rate.
pub fn check_alpha(alpha: f64) -> Result<()> {
    ensure(
        alpha > 0.0 && alpha < 1.0,
        "conformal prediction",
        "alpha",
        || format!("is {alpha}; use an error rate in (0, 1), e.g. 0.1 for 90 % coverage"),
    )
}

/// The split-conformal threshold: the ⌈(n + 1)(1 − α)⌉-th smallest score, ∞ when that rank
/// exceeds n.
pub fn conformal_quantile(scores: &[f64], alpha: f64) -> Result<f64> {
    check_alpha(alpha)?;
    let n = scores.len();
    let rank = ((n as f64 + 1.0) * (1.0 - alpha)).ceil() as usize;
    if rank == 0 {
        return Ok(f64::NEG_INFINITY);
    }
    if rank > n {
        return Ok(f64::INFINITY);
    }
    let mut s = scores.to_vec();
    s.sort_by(f64::total_cmp);
    Ok(s[rank - 1])
}

/// Nonconformity of numeric predictions: |y − ŷ|.
pub fn residual_scores(y: &[f64], pred: &[f64]) -> Vec<f64> {
    y.iter().zip(pred).map(|(a, b)| (a - b).abs()).collect()
}

/// Nonconformity of class probabilities: 1 − p̂(true class).
pub fn class_scores(y: &[usize], p: ndarray::ArrayView2<f64>) -> Vec<f64> {
    y.iter()
        .enumerate()
        .map(|(i, &c)| 1.0 - p[[i, c]])
        .collect()
}

/// The classes whose score 1 − p̂(c) is at most `q`.
pub fn prediction_set(p: &[f64], q: f64) -> Vec<usize> {
    (0..p.len()).filter(|&c| 1.0 - p[c] <= q).collect()
}

/// A CV+ interval for one new sample: `fold_pred[k]` is fold model k's prediction, `residuals`
/// and `fold_of` the out-of-fold residual and fold of every calibration sample.
pub fn cv_plus_interval(
    residuals: &[f64],
    fold_of: &[usize],
    fold_pred: &[f64],
    alpha: f64,
) -> Result<(f64, f64)> {
    check_alpha(alpha)?;
    let n = residuals.len();
    let mut lo: Vec<f64> = residuals
        .iter()
        .zip(fold_of)
        .map(|(r, &k)| fold_pred[k] - r)
        .collect();
    let mut hi: Vec<f64> = residuals
        .iter()
        .zip(fold_of)
        .map(|(r, &k)| fold_pred[k] + r)
        .collect();
    lo.sort_by(f64::total_cmp);
    hi.sort_by(f64::total_cmp);
    let lo_rank = (alpha * (n as f64 + 1.0)).floor() as usize;
    let hi_rank = ((1.0 - alpha) * (n as f64 + 1.0)).ceil() as usize;
    let l = if lo_rank == 0 {
        f64::NEG_INFINITY
    } else {
        lo[lo_rank - 1]
    };
    let h = if hi_rank > n {
        f64::INFINITY
    } else {
        hi[hi_rank - 1]
    };
    Ok((l, h))
}

/// Calibration stored with a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConformalCalibration {
    /// Error rate α.
    pub alpha: f64,
    /// The out-of-fold nonconformity scores (residuals or 1 − p̂(true class)).
    pub scores: Vec<f64>,
    /// The threshold q; ∞ (too few scores for the rank) is written as JSON `null` and read
    /// back as ∞.
    #[serde(deserialize_with = "null_is_infinite")]
    pub threshold: f64,
}

/// JSON has no ∞: serde_json writes it as `null`, read back here as +∞.
fn null_is_infinite<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

impl ConformalCalibration {
    /// Calibrate from scores.
    pub fn new(scores: Vec<f64>, alpha: f64) -> Result<ConformalCalibration> {
        let threshold = conformal_quantile(&scores, alpha)?;
        Ok(ConformalCalibration {
            alpha,
            scores,
            threshold,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::rng::seeded;
    use rand::Rng as _;

    #[test]
    fn quantile_rank() {
        let s: Vec<f64> = (1..=9).map(f64::from).collect();
        // n = 9, α = 0.1: ⌈10 · 0.9⌉ = 9 → 9.0; α = 0.5: ⌈5⌉ = 5 → 5.0
        assert_eq!(conformal_quantile(&s, 0.1).unwrap(), 9.0);
        assert_eq!(conformal_quantile(&s, 0.5).unwrap(), 5.0);
        assert_eq!(conformal_quantile(&s[..3], 0.1).unwrap(), f64::INFINITY);
        assert!(conformal_quantile(&s, 1.0).is_err());
        assert_eq!(prediction_set(&[0.7, 0.2, 0.1], 0.85), vec![0, 1]);
    }

    #[test]
    fn split_conformal_covers_exchangeable_noise() {
        // Pure noise around a fixed predictor: coverage over many draws is ≈ 1 − α.
        let mut rng = seeded(5);
        let mut covered = 0;
        let mut total = 0;
        for _ in 0..200 {
            let cal: Vec<f64> = (0..50).map(|_| rng.gen::<f64>() - 0.5).collect();
            let q = conformal_quantile(&residual_scores(&cal, &vec![0.0; 50]), 0.2).unwrap();
            for _ in 0..20 {
                let y: f64 = rng.gen::<f64>() - 0.5;
                covered += usize::from(y.abs() <= q);
                total += 1;
            }
        }
        let c = covered as f64 / total as f64;
        assert!((0.78..0.83).contains(&c), "coverage {c}");
        let (l, h) =
            cv_plus_interval(&[0.1, 0.2, 0.3, 0.4], &[0, 0, 1, 1], &[1.0, 2.0], 0.2).unwrap();
        // lo ranks ⌊0.2·5⌋ = 1: min(0.9, 0.8, 1.7, 1.6) = 0.8; hi rank ⌈4⌉ = 4: max(1.1, 1.2, 2.3, 2.4) = 2.4
        assert_eq!((l, h), (0.8, 2.4));
    }
}
