//! Per-sample QC: how much was quantified, how intense, how typical of the cohort.
//!
//! Only cells flagged observed count: imputed values are not measurements and below-detection
//! cells carry no value, so both are reported separately and left out of every metric.

use evomics_core::{Assay, ValueFlag, ValueScale};
use serde::{Deserialize, Serialize};

use crate::error::{QcError, Result};
use crate::stats::{linear_value, median, pearson, quantile, robust_z, LogBasis};

/// Settings of the per-sample QC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SampleQcParams {
    /// A metric whose robust z-score exceeds this in absolute value flags the sample
    /// (3.5 is Iglewicz & Hoaglin's cut-off for the modified z-score).
    pub outlier_z: f64,
    /// Features observed in at least this fraction of samples form the cohort median profile.
    pub profile_min_fraction: f64,
    /// Fewest shared features for a correlation to the median profile to be reported.
    pub min_shared_features: usize,
    /// Fewest samples for outlier flags to be computed at all.
    pub min_samples_for_outliers: usize,
}

impl Default for SampleQcParams {
    fn default() -> Self {
        SampleQcParams {
            outlier_z: 3.5,
            profile_min_fraction: 0.5,
            min_shared_features: 10,
            min_samples_for_outliers: 5,
        }
    }
}

impl SampleQcParams {
    /// Check the ranges; call before reading data.
    pub fn validate(&self) -> Result<()> {
        if !(self.outlier_z.is_finite() && self.outlier_z > 0.0) {
            return Err(QcError::InvalidParam {
                param: "outlier_z",
                problem: format!("{} must be a positive number (e.g. 3.5)", self.outlier_z),
            });
        }
        if !(self.profile_min_fraction > 0.0 && self.profile_min_fraction <= 1.0) {
            return Err(QcError::InvalidParam {
                param: "profile_min_fraction",
                problem: format!("{} must be in (0, 1]", self.profile_min_fraction),
            });
        }
        if self.min_shared_features < 3 {
            return Err(QcError::InvalidParam {
                param: "min_shared_features",
                problem: format!("{} must be at least 3", self.min_shared_features),
            });
        }
        if self.min_samples_for_outliers < 3 {
            return Err(QcError::InvalidParam {
                param: "min_samples_for_outliers",
                problem: format!("{} must be at least 3", self.min_samples_for_outliers),
            });
        }
        Ok(())
    }
}

/// QC metrics of one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleQc {
    /// Sample id.
    pub sample: String,
    /// Features in the layer.
    pub n_features: usize,
    /// Cells flagged observed (features quantified).
    pub n_observed: usize,
    /// Cells flagged imputed (not counted as quantified).
    pub n_imputed: usize,
    /// Cells flagged below detection.
    pub n_below_detection: usize,
    /// 1 − n_observed / n_features.
    pub missing_fraction: f64,
    /// Sum of observed values on the linear scale (total intensity, or library size for
    /// counts; 2^v summed for log2 layers); `None` for scale `other`.
    pub total: Option<f64>,
    /// Median of the observed values on the report's log basis.
    pub log2_median: Option<f64>,
    /// Interquartile range (R type-7 quantiles) of the same values.
    pub log2_iqr: Option<f64>,
    /// Observed values left out of the log metrics because they are ≤ 0 on a linear scale.
    pub n_nonpositive: usize,
    /// Pearson correlation of the sample's log values with the cohort median profile.
    pub corr_to_median: Option<f64>,
    /// Features used for that correlation (observed here and in the profile).
    pub n_corr_features: usize,
    /// Robust z of `n_observed`.
    pub z_observed: Option<f64>,
    /// Robust z of log2(`total`).
    pub z_total: Option<f64>,
    /// Robust z of `log2_median`.
    pub z_median: Option<f64>,
    /// Robust z of `log2_iqr`.
    pub z_iqr: Option<f64>,
    /// Robust z of `corr_to_median` (only low values flag).
    pub z_corr: Option<f64>,
    /// True when any metric is beyond the cut-off.
    pub outlier: bool,
    /// Why the sample is flagged (empty when not).
    pub reasons: Vec<String>,
}

/// Per-sample QC of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleQcReport {
    /// Layer name.
    pub layer: String,
    /// Layer scale.
    pub scale: ValueScale,
    /// The log transform used for `log2_median`, `log2_iqr` and the correlation.
    pub basis: LogBasis,
    /// What `total` means: `total_intensity`, `library_size` or `none`.
    pub total_kind: String,
    /// Features in the cohort median profile.
    pub n_profile_features: usize,
    /// The parameters used.
    pub params: SampleQcParams,
    /// One row per sample, in layer order.
    pub samples: Vec<SampleQc>,
    /// Remarks about the whole run (e.g. too few samples for outlier flags).
    pub notes: Vec<String>,
}

/// Compute per-sample QC metrics and robust outlier flags for one layer.
pub fn sample_qc(assay: &Assay, params: &SampleQcParams) -> Result<SampleQcReport> {
    params.validate()?;
    let (nf, ns) = (assay.n_features(), assay.n_samples());
    if nf == 0 || ns == 0 {
        return Err(QcError::EmptyLayer {
            layer: assay.name().to_string(),
            n_features: nf,
            n_samples: ns,
        });
    }
    let scale = assay.scale();
    let basis = LogBasis::for_scale(scale);
    let values = assay.values();
    let flags = assay.flags();
    // log values of observed cells, features × samples
    let logv: Vec<Vec<Option<f64>>> = (0..nf)
        .map(|i| {
            (0..ns)
                .map(|j| {
                    (flags[[i, j]] == ValueFlag::Observed)
                        .then(|| basis.apply(values[[i, j]]))
                        .flatten()
                })
                .collect()
        })
        .collect();
    let min_obs = (params.profile_min_fraction * ns as f64).ceil().max(1.0) as usize;
    let profile: Vec<Option<f64>> = logv
        .iter()
        .map(|row| {
            let v: Vec<f64> = row.iter().flatten().copied().collect();
            if v.len() >= min_obs {
                median(&v)
            } else {
                None
            }
        })
        .collect();
    let n_profile_features = profile.iter().flatten().count();

    let mut samples = Vec::with_capacity(ns);
    for j in 0..ns {
        let mut n_obs = 0;
        let mut n_imp = 0;
        let mut n_bd = 0;
        let mut n_nonpos = 0;
        let mut total = 0.0;
        let mut logs = Vec::new();
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for i in 0..nf {
            match flags[[i, j]] {
                ValueFlag::Observed => {
                    n_obs += 1;
                    if let Some(l) = linear_value(scale, values[[i, j]]) {
                        total += l;
                    }
                    match logv[i][j] {
                        Some(l) => {
                            logs.push(l);
                            if let Some(p) = profile[i] {
                                xs.push(l);
                                ys.push(p);
                            }
                        }
                        None => n_nonpos += 1,
                    }
                }
                ValueFlag::Imputed => n_imp += 1,
                ValueFlag::BelowDetection => n_bd += 1,
                ValueFlag::Missing => {}
            }
        }
        let iqr = quantile(&logs, 0.75).zip(quantile(&logs, 0.25));
        let corr = if xs.len() >= params.min_shared_features {
            pearson(&xs, &ys)
        } else {
            None
        };
        samples.push(SampleQc {
            sample: assay.samples()[j].clone(),
            n_features: nf,
            n_observed: n_obs,
            n_imputed: n_imp,
            n_below_detection: n_bd,
            missing_fraction: 1.0 - n_obs as f64 / nf as f64,
            total: (scale != ValueScale::Other).then_some(total),
            log2_median: median(&logs),
            log2_iqr: iqr.map(|(q3, q1)| q3 - q1),
            n_nonpositive: n_nonpos,
            corr_to_median: corr,
            n_corr_features: xs.len(),
            z_observed: None,
            z_total: None,
            z_median: None,
            z_iqr: None,
            z_corr: None,
            outlier: false,
            reasons: Vec::new(),
        });
    }

    let mut notes = Vec::new();
    if ns < params.min_samples_for_outliers {
        notes.push(format!(
            "{ns} sample(s) < min_samples_for_outliers = {}: no outlier flags computed",
            params.min_samples_for_outliers
        ));
    } else {
        flag_outliers(&mut samples, params.outlier_z);
    }
    if basis == LogBasis::AsGiven {
        notes.push("layer scale is 'other': medians, IQRs and correlations use the values as given, and no total is computed".into());
    }
    let total_kind = match scale {
        ValueScale::Linear | ValueScale::Log2 => "total_intensity",
        ValueScale::Counts => "library_size",
        ValueScale::Other => "none",
    };
    Ok(SampleQcReport {
        layer: assay.name().to_string(),
        scale,
        basis,
        total_kind: total_kind.to_string(),
        n_profile_features,
        params: params.clone(),
        samples,
        notes,
    })
}

/// Smallest robust scale per metric, so that a very uniform cohort does not flag negligible
/// differences: 1 feature, 0.1 log2 units (7 %) for totals, medians and IQRs, 0.01 for r.
const FLOOR_OBSERVED: f64 = 1.0;
const FLOOR_LOG2: f64 = 0.1;
const FLOOR_CORR: f64 = 0.01;

fn flag_outliers(samples: &mut [SampleQc], cut: f64) {
    let col = |f: &dyn Fn(&SampleQc) -> Option<f64>, floor: f64| -> Vec<Option<f64>> {
        robust_z(&samples.iter().map(f).collect::<Vec<_>>(), floor)
    };
    let z_obs = col(&|s| Some(s.n_observed as f64), FLOOR_OBSERVED);
    let z_tot = col(&|s| s.total.filter(|t| *t > 0.0).map(f64::log2), FLOOR_LOG2);
    let z_med = col(&|s| s.log2_median, FLOOR_LOG2);
    let z_iqr = col(&|s| s.log2_iqr, FLOOR_LOG2);
    let z_cor = col(&|s| s.corr_to_median, FLOOR_CORR);
    for (k, s) in samples.iter_mut().enumerate() {
        s.z_observed = z_obs[k];
        s.z_total = z_tot[k];
        s.z_median = z_med[k];
        s.z_iqr = z_iqr[k];
        s.z_corr = z_cor[k];
        let mut reasons = Vec::new();
        let mut check = |what: &str, value: String, z: Option<f64>, low_only: bool| {
            if let Some(z) = z {
                let beyond = if low_only { z < -cut } else { z.abs() > cut };
                if beyond {
                    let side = if z < 0.0 { "low" } else { "high" };
                    reasons.push(format!(
                        "{what} {value} is {side} (robust z {z:.1}, cut-off ±{cut})"
                    ));
                }
            }
        };
        check(
            "features quantified",
            s.n_observed.to_string(),
            s.z_observed,
            false,
        );
        check(
            "total",
            s.total.map_or("-".into(), |t| format!("{t:.3e}")),
            s.z_total,
            false,
        );
        check(
            "median log value",
            s.log2_median.map_or("-".into(), |v| format!("{v:.2}")),
            s.z_median,
            false,
        );
        check(
            "IQR of log values",
            s.log2_iqr.map_or("-".into(), |v| format!("{v:.2}")),
            s.z_iqr,
            false,
        );
        check(
            "correlation to the cohort median profile",
            s.corr_to_median.map_or("-".into(), |v| format!("{v:.3}")),
            s.z_corr,
            true,
        );
        s.outlier = !reasons.is_empty();
        s.reasons = reasons;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::{Features, LayerKind};
    use ndarray::Array2;

    /// 30 features × 6 samples of log-normal-like intensities; sample 5 is shallow and shifted.
    fn cohort() -> Assay {
        let nf = 30;
        let ns = 6;
        let mut cells = Array2::from_elem((nf, ns), None);
        for i in 0..nf {
            for j in 0..ns {
                let base = 2f64.powf(20.0 + (i as f64) * 0.3 + ((i * 7 + j * 3) % 5) as f64 * 0.05);
                cells[[i, j]] = Some(base);
            }
        }
        for i in 0..nf {
            if i % 3 != 0 {
                cells[[i, 5]] = None;
            }
        }
        for i in 0..nf {
            // reverse the ordering of the remaining features in sample 5
            if i % 3 == 0 {
                cells[[i, 5]] = Some(2f64.powf(30.0 - i as f64 * 0.3));
            }
        }
        Assay::from_options(
            "proteome",
            LayerKind::Proteome,
            ValueScale::Linear,
            Features::new((0..nf).map(|i| format!("P{i}")).collect()).unwrap(),
            (0..ns).map(|j| format!("s{j}")).collect(),
            &cells,
        )
        .unwrap()
    }

    #[test]
    fn metrics_and_outlier() {
        let r = sample_qc(&cohort(), &SampleQcParams::default()).unwrap();
        assert_eq!(r.basis, LogBasis::Log2OfLinear);
        assert_eq!(r.total_kind, "total_intensity");
        assert_eq!(r.n_profile_features, 30);
        let s0 = &r.samples[0];
        assert_eq!((s0.n_observed, s0.missing_fraction), (30, 0.0));
        assert!(s0.corr_to_median.unwrap() > 0.99);
        assert!(!s0.outlier, "{:?}", s0.reasons);
        let s5 = &r.samples[5];
        assert_eq!(s5.n_observed, 10);
        assert!((s5.missing_fraction - 20.0 / 30.0).abs() < 1e-12);
        assert!(s5.corr_to_median.unwrap() < -0.9);
        assert!(s5.outlier);
        assert!(
            s5.reasons
                .iter()
                .any(|m| m.starts_with("features quantified 10 is low")),
            "{:?}",
            s5.reasons
        );
        assert!(
            s5.reasons.iter().any(|m| m.contains("correlation")),
            "{:?}",
            s5.reasons
        );
        assert_eq!(r.samples.iter().filter(|s| s.outlier).count(), 1);
    }

    #[test]
    fn log2_layer_matches_linear() {
        let lin = cohort();
        let log = lin.map_values(ValueScale::Log2, f64::log2).unwrap();
        let a = sample_qc(&lin, &SampleQcParams::default()).unwrap();
        let b = sample_qc(&log, &SampleQcParams::default()).unwrap();
        for (x, y) in a.samples.iter().zip(&b.samples) {
            assert!((x.log2_median.unwrap() - y.log2_median.unwrap()).abs() < 1e-9);
            assert!((x.total.unwrap() / y.total.unwrap() - 1.0).abs() < 1e-9);
        }
        assert_eq!(b.basis, LogBasis::AlreadyLog2);
    }

    #[test]
    fn counts_use_pseudocount_and_library_size() {
        let cells = ndarray::array![
            [Some(0.0), Some(3.0), Some(1.0)],
            [Some(7.0), None, Some(15.0)]
        ];
        let a = Assay::from_options(
            "mirna",
            LayerKind::Mirna,
            ValueScale::Counts,
            Features::new(vec!["a".into(), "b".into()]).unwrap(),
            vec!["x".into(), "y".into(), "z".into()],
            &cells,
        )
        .unwrap();
        let r = sample_qc(&a, &SampleQcParams::default()).unwrap();
        assert_eq!(r.total_kind, "library_size");
        assert_eq!(r.samples[0].total, Some(7.0));
        // log2(0+1)=0, log2(7+1)=3 -> median 1.5
        assert_eq!(r.samples[0].log2_median, Some(1.5));
        assert_eq!(r.samples[0].n_nonpositive, 0);
        assert!(r.notes[0].contains("no outlier flags"), "{:?}", r.notes);
        assert!(r
            .samples
            .iter()
            .all(|s| !s.outlier && s.z_observed.is_none()));
    }

    #[test]
    fn params_validated_and_strict() {
        let bad = SampleQcParams {
            outlier_z: 0.0,
            ..Default::default()
        };
        assert!(sample_qc(&cohort(), &bad)
            .unwrap_err()
            .to_string()
            .contains("outlier_z"));
        let p: SampleQcParams = serde_json::from_str(r#"{"outlier_z": 3.0}"#).unwrap();
        assert_eq!((p.outlier_z, p.min_shared_features), (3.0, 10));
        let e = serde_json::from_str::<SampleQcParams>(r#"{"outlier_zz": 3.0}"#).unwrap_err();
        assert!(e.to_string().contains("outlier_zz"), "{e}");
        for bad in [
            SampleQcParams {
                profile_min_fraction: 0.0,
                ..Default::default()
            },
            SampleQcParams {
                min_shared_features: 2,
                ..Default::default()
            },
            SampleQcParams {
                min_samples_for_outliers: 1,
                ..Default::default()
            },
            SampleQcParams {
                outlier_z: f64::NAN,
                ..Default::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
