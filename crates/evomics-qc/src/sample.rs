//! Per-sample QC: how much was quantified, how intense, how typical of the cohort.
//!
//! Only cells flagged observed count: imputed values are not measurements and below-detection
//! cells carry no value, so both are reported separately and left out of every metric.
//!
//! The outlier rules depend on the layer kind. Intensity layers (scale linear, log2 or other)
//! are flagged on robust z-scores of the features quantified, the log total, the median and IQR
//! of the log values and the correlation to the cohort median profile. Count layers (scale
//! `counts`, e.g. small-RNA reads) are sparse: most cells are observed zeros, so the median of
//! log2(count + 1) is 0 or 1 in a normal library and says nothing about its quality. They are
//! flagged, as in scater's `quickPerCellQC` (McCarthy et al. 2017, Bioinformatics 33:1179;
//! scuttle's `isOutlier(..., log = TRUE, type = "lower", nmads = 3)`), only when the log library
//! size or the log number of detected features (count > 0) lies more than `count_nmads` MADs
//! below the cohort median.

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
    /// Count layers: a sample whose log2 library size or log2 detected features lies more
    /// than this many MADs (1.4826 × median absolute deviation) below the cohort median is
    /// flagged (3 is scater's `isOutlier` default).
    pub count_nmads: f64,
    /// Count layers: a flagged sample must also lie at least this far below the median on
    /// the log2 scale (scuttle's `min.diff`; 1 = half the median library size or detected
    /// features), so that a cohort of near-identical libraries, whose MAD is close to 0, does
    /// not flag negligible differences. 0 gives scater's default rule.
    pub count_min_log2_diff: f64,
}

impl Default for SampleQcParams {
    fn default() -> Self {
        SampleQcParams {
            outlier_z: 3.5,
            profile_min_fraction: 0.5,
            min_shared_features: 10,
            min_samples_for_outliers: 5,
            count_nmads: 3.0,
            count_min_log2_diff: 1.0,
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
        if !(self.count_nmads.is_finite() && self.count_nmads > 0.0) {
            return Err(QcError::InvalidParam {
                param: "count_nmads",
                problem: format!("{} must be a positive number (e.g. 3)", self.count_nmads),
            });
        }
        if !(self.count_min_log2_diff.is_finite() && self.count_min_log2_diff >= 0.0) {
            return Err(QcError::InvalidParam {
                param: "count_min_log2_diff",
                problem: format!(
                    "{} must be a number ≥ 0 (e.g. 1, or 0 for no minimum)",
                    self.count_min_log2_diff
                ),
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
    /// 1 − n_observed / n_features: cells without a value. For count layers an observed zero
    /// is a value, so this is not the share of undetected features (see `detected`).
    pub missing_fraction: f64,
    /// Count layers only: library size, the sum of the observed counts.
    #[serde(default)]
    pub lib_size: Option<f64>,
    /// Count layers only: detected features, observed cells with a count > 0.
    #[serde(default)]
    pub detected: Option<usize>,
    /// Count layers only: `detected` / `n_features`.
    #[serde(default)]
    pub detected_fraction: Option<f64>,
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
    /// Count layers only: the limits of the library-size and detected-feature rules.
    #[serde(default)]
    pub count_limits: Option<CountLimits>,
    /// Remarks about the whole run (e.g. too few samples for outlier flags).
    pub notes: Vec<String>,
}

impl SampleQcReport {
    /// The outlier rules applied to this layer, in words (the `outlier_rules` column).
    pub fn outlier_rules(&self) -> String {
        let p = &self.params;
        if self.scale == ValueScale::Counts {
            format!(
                "counts: log2 library size or log2 detected features more than {} MADs, and by at least {} on the log2 scale, below the median",
                p.count_nmads, p.count_min_log2_diff
            )
        } else {
            format!(
                "intensity: robust z beyond ±{} for features quantified, log2 total, median and IQR of log values; below -{} for correlation to the median profile",
                p.outlier_z, p.outlier_z
            )
        }
    }
}

/// The limits of the count-layer outlier rules (scater's `isOutlier` with `log = TRUE`,
/// `type = "lower"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountLimits {
    /// MADs below the median that flag a sample.
    pub nmads: f64,
    /// Smallest distance below the median (log2 units) that flags a sample.
    #[serde(default)]
    pub min_log2_diff: f64,
    /// The rule on log2 library size (`None` when no sample has a positive library size).
    pub log2_lib_size: Option<MadLimit>,
    /// The rule on log2 detected features (`None` when no sample detects a feature).
    pub log2_detected: Option<MadLimit>,
}

/// One median − k·MAD rule on a log2 metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MadLimit {
    /// Median of the metric over the samples with a positive value.
    pub median: f64,
    /// 1.4826 × the median absolute deviation from that median (R's `mad`).
    pub mad: f64,
    /// `median − max(nmads × mad, min_log2_diff)`: a sample below it is flagged.
    pub lower: f64,
}

impl MadLimit {
    /// The limit of `values` (log2 of the positive metrics), `None` when there are none.
    pub fn of(values: &[f64], nmads: f64, min_log2_diff: f64) -> Option<MadLimit> {
        let med = median(values)?;
        let dev: Vec<f64> = values.iter().map(|x| (x - med).abs()).collect();
        let mad = 1.4826 * median(&dev).unwrap_or(0.0);
        Some(MadLimit {
            median: med,
            mad,
            lower: med - (nmads * mad).max(min_log2_diff),
        })
    }
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
    let counts = scale == ValueScale::Counts;
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
        let mut n_detected = 0;
        let mut total = 0.0;
        let mut logs = Vec::new();
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for i in 0..nf {
            match flags[[i, j]] {
                ValueFlag::Observed => {
                    n_obs += 1;
                    if values[[i, j]] > 0.0 {
                        n_detected += 1;
                    }
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
                ValueFlag::Missing | ValueFlag::AbsentFromFile => {}
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
            lib_size: counts.then_some(total),
            detected: counts.then_some(n_detected),
            detected_fraction: counts.then_some(n_detected as f64 / nf as f64),
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
    let count_limits = counts.then(|| count_limits(&samples, params));
    if ns < params.min_samples_for_outliers {
        notes.push(format!(
            "{ns} sample(s) < min_samples_for_outliers = {}: no outlier flags computed",
            params.min_samples_for_outliers
        ));
    } else if let Some(limits) = &count_limits {
        flag_count_outliers(&mut samples, limits);
    } else {
        flag_outliers(&mut samples, params.outlier_z);
    }
    if counts {
        notes.push(format!(
            "count layer: observed zeros are values, not missing; detection (count > 0) is reported in 'detected'; outliers only on log2 library size and log2 detected features ({} MADs, and by at least {} on the log2 scale, below the median), no rules on the median or IQR of log2(count + 1)",
            params.count_nmads, params.count_min_log2_diff
        ));
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
        count_limits,
        notes,
    })
}

/// The limits of the count rules, from the samples with a positive library size (detected
/// features): a library of 0 reads has no log and is flagged on its own.
fn count_limits(samples: &[SampleQc], params: &SampleQcParams) -> CountLimits {
    let (nmads, min_diff) = (params.count_nmads, params.count_min_log2_diff);
    let logs = |f: &dyn Fn(&SampleQc) -> Option<f64>| -> Vec<f64> {
        samples
            .iter()
            .filter_map(f)
            .filter(|v| *v > 0.0)
            .map(f64::log2)
            .collect()
    };
    CountLimits {
        nmads,
        min_log2_diff: min_diff,
        log2_lib_size: MadLimit::of(&logs(&|s| s.lib_size), nmads, min_diff),
        log2_detected: MadLimit::of(&logs(&|s| s.detected.map(|d| d as f64)), nmads, min_diff),
    }
}

/// Flag count-layer samples below the library-size or detected-feature limit (scater's
/// `isOutlier(x, nmads, type = "lower", log = TRUE)`: below `median − nmads × MAD` of log2 x).
fn flag_count_outliers(samples: &mut [SampleQc], limits: &CountLimits) {
    for s in samples.iter_mut() {
        let mut reasons = Vec::new();
        let mut check = |what: &str, value: Option<f64>, limit: Option<&MadLimit>| {
            let Some(v) = value else {
                return;
            };
            if v <= 0.0 {
                reasons.push(format!("{what} is 0 (count rule: nothing to analyse)"));
            } else if let Some(m) = limit.filter(|m| v.log2() < m.lower) {
                reasons.push(format!(
                    "{what} {v} is low: log2 {:.2} < {:.2} = median {:.2} - max({} x MAD {:.2}, {}) (count rule, scater isOutlier)",
                    v.log2(),
                    m.lower,
                    m.median,
                    limits.nmads,
                    m.mad,
                    limits.min_log2_diff
                ));
            }
        };
        check("library size", s.lib_size, limits.log2_lib_size.as_ref());
        check(
            "detected features",
            s.detected.map(|d| d as f64),
            limits.log2_detected.as_ref(),
        );
        s.outlier = !reasons.is_empty();
        s.reasons = reasons;
    }
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
        assert_eq!(r.samples[0].lib_size, Some(7.0));
        assert_eq!(r.samples[0].detected, Some(1));
        assert_eq!(r.samples[1].detected, Some(1));
        assert_eq!(r.samples[1].detected_fraction, Some(0.5));
        // log2(0+1)=0, log2(7+1)=3 -> median 1.5
        assert_eq!(r.samples[0].log2_median, Some(1.5));
        assert_eq!(r.samples[0].n_nonpositive, 0);
        assert!(r.notes[0].contains("no outlier flags"), "{:?}", r.notes);
        assert!(r
            .samples
            .iter()
            .all(|s| !s.outlier && s.z_observed.is_none()));
    }

    /// 40 miRNAs × 8 samples of sparse counts (a quarter of the cells are zero): sample 5
    /// has an ordinary library size spread over 3 miRNAs, sample 6 is 100× shallower than
    /// sample 0, sample 7 is 20× deeper.
    fn count_cohort() -> Assay {
        let (nf, ns) = (40, 8);
        let base = |i: usize, j: usize| -> f64 {
            if (i * 3 + j * 5).is_multiple_of(4) {
                0.0
            } else {
                ((i + 1) * 10 + j) as f64
            }
        };
        let mut cells = Array2::from_elem((nf, ns), None);
        for i in 0..nf {
            for j in 0..5 {
                cells[[i, j]] = Some(base(i, j));
            }
            cells[[i, 6]] = Some((base(i, 0) / 100.0).round());
            cells[[i, 7]] = Some(base(i, 1) * 20.0);
            cells[[i, 5]] = Some(0.0);
        }
        let lib0: f64 = (0..nf).map(|i| base(i, 0)).sum();
        for i in 0..3 {
            cells[[i, 5]] = Some((lib0 / 3.0).round());
        }
        Assay::from_options(
            "mirna",
            LayerKind::Mirna,
            ValueScale::Counts,
            Features::new((0..nf).map(|i| format!("miR-{i}")).collect()).unwrap(),
            (0..ns).map(|j| format!("s{j}")).collect(),
            &cells,
        )
        .unwrap()
    }

    #[test]
    fn count_rule_flags_low_library_size_and_low_detection_only() {
        let scater = SampleQcParams {
            count_min_log2_diff: 0.0,
            ..Default::default()
        };
        let r = sample_qc(&count_cohort(), &scater).unwrap();
        let lim = r.count_limits.clone().unwrap();
        assert_eq!(lim.nmads, 3.0);
        let s = &r.samples;
        // zeros are observed values, not missing; detection is reported on its own
        assert!(s
            .iter()
            .all(|x| x.missing_fraction == 0.0 && x.n_observed == 40));
        assert_eq!(s[0].detected, Some(30));
        assert_eq!(s[0].detected_fraction, Some(0.75));
        assert_eq!(s[5].detected, Some(3));
        assert_eq!(s[0].lib_size, s[0].total);
        // the limit is median − 3 × 1.4826 × MAD of log2 library size (positive libraries)
        let logs: Vec<f64> = s.iter().map(|x| x.lib_size.unwrap().log2()).collect();
        let med = median(&logs).unwrap();
        let dev: Vec<f64> = logs.iter().map(|x| (x - med).abs()).collect();
        let mad = 1.4826 * median(&dev).unwrap();
        let l = lim.log2_lib_size.unwrap();
        assert!((l.median - med).abs() < 1e-12 && (l.mad - mad).abs() < 1e-12);
        assert!((l.lower - (med - 3.0 * mad)).abs() < 1e-12);
        // the default minimum difference (1 log2 unit) changes nothing here
        let d = sample_qc(&count_cohort(), &SampleQcParams::default()).unwrap();
        let flags = |r: &SampleQcReport| r.samples.iter().map(|x| x.outlier).collect::<Vec<_>>();
        assert_eq!(flags(&d), flags(&r));
        let flagged: Vec<&str> = s
            .iter()
            .filter(|x| x.outlier)
            .map(|x| x.sample.as_str())
            .collect();
        assert_eq!(flagged, ["s5", "s6"], "{:#?}", s);
        assert!(
            s[6].reasons[0].starts_with("library size"),
            "{:?}",
            s[6].reasons
        );
        assert!(
            s[6].reasons
                .iter()
                .any(|m| m.starts_with("detected features")),
            "{:?}",
            s[6].reasons
        );
        assert_eq!(s[5].reasons.len(), 1, "{:?}", s[5].reasons);
        assert!(
            s[5].reasons[0].starts_with("detected features 3 is low")
                && s[5].reasons[0].contains("3 x MAD"),
            "{:?}",
            s[5].reasons
        );
        // a 20× deeper library is not a defect
        assert!(!s[7].outlier);
        // no median/IQR-of-log rules on counts: sample 5's median log2(count + 1) is 0
        assert_eq!(s[5].log2_median, Some(0.0));
        assert!(s.iter().all(|x| x.z_median.is_none() && x.z_iqr.is_none()));
        assert!(r.outlier_rules().starts_with("counts:"));
        assert!(r
            .notes
            .iter()
            .any(|n| n.contains("observed zeros are values")));
    }

    #[test]
    fn count_rule_flags_an_empty_library_and_follows_nmads() {
        let mut cells = Array2::from_elem((12, 6), None);
        for i in 0..12 {
            for j in 0..6 {
                cells[[i, j]] = Some(if j == 5 { 0.0 } else { (i * 7 + j) as f64 });
            }
        }
        let a = Assay::from_options(
            "mirna",
            LayerKind::Mirna,
            ValueScale::Counts,
            Features::new((0..12).map(|i| format!("m{i}")).collect()).unwrap(),
            (0..6).map(|j| format!("s{j}")).collect(),
            &cells,
        )
        .unwrap();
        let r = sample_qc(&a, &SampleQcParams::default()).unwrap();
        assert_eq!(
            r.samples[5].reasons,
            [
                "library size is 0 (count rule: nothing to analyse)",
                "detected features is 0 (count rule: nothing to analyse)"
            ]
        );
        assert_eq!(r.samples.iter().filter(|s| s.outlier).count(), 1);
        // sample 0 detects 11 of 12 miRNAs, the others 12: the MAD of log2 detected is 0, so
        // scater's rule (no minimum difference) flags it; the default minimum of 1 log2 unit
        // does not
        assert!(!r.samples[0].outlier, "{:?}", r.samples[0]);
        let scater = SampleQcParams {
            count_min_log2_diff: 0.0,
            ..Default::default()
        };
        let r = sample_qc(&a, &scater).unwrap();
        assert!(r.samples[0].outlier, "{:?}", r.samples[0]);
        assert!(r.samples[0].reasons[0].starts_with("detected features 11 is low"));
        let bad = SampleQcParams {
            count_nmads: -1.0,
            ..Default::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("count_nmads"));
        let bad = SampleQcParams {
            count_min_log2_diff: f64::NAN,
            ..Default::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("count_min_log2_diff"));
    }

    #[test]
    fn intensity_layers_keep_robust_z_rules_and_no_count_metrics() {
        let r = sample_qc(&cohort(), &SampleQcParams::default()).unwrap();
        assert!(r.count_limits.is_none());
        assert!(r.outlier_rules().starts_with("intensity:"));
        assert!(r
            .samples
            .iter()
            .all(|s| s.lib_size.is_none() && s.detected.is_none() && s.z_median.is_some()));
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
