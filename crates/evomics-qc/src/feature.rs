//! Per-feature QC: detection overall and per group, abundance, variability.

use std::collections::BTreeMap;

use evomics_core::{Assay, SampleSheet, ValueFlag, ValueScale};
use serde::{Deserialize, Serialize};

use crate::error::{QcError, Result};
use crate::stats::{linear_value, median, LogBasis};

/// Label of samples whose grouping cell is empty.
pub const NO_GROUP: &str = "NA";

/// QC metrics of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureQc {
    /// Feature id.
    pub feature: String,
    /// Samples in which the feature is observed.
    pub n_observed: usize,
    /// `n_observed` / samples.
    pub observed_fraction: f64,
    /// Observed fraction within each group, aligned with [`FeatureQcReport::groups`].
    pub group_observed_fraction: Vec<f64>,
    /// Count layers only: samples in which the feature is detected (observed count > 0).
    #[serde(default)]
    pub n_detected: Option<usize>,
    /// Count layers only: `n_detected` / samples.
    #[serde(default)]
    pub detected_fraction: Option<f64>,
    /// Count layers only: detected fraction within each group, aligned with
    /// [`FeatureQcReport::groups`] (empty for other layers).
    #[serde(default)]
    pub group_detected_fraction: Vec<f64>,
    /// Mean of the observed values on the report's log basis.
    pub mean_log: Option<f64>,
    /// Median of the same values.
    pub median_log: Option<f64>,
    /// Coefficient of variation (sample SD / mean) of the observed values on the linear scale;
    /// needs two values and a positive mean; `None` for scale `other`.
    pub cv: Option<f64>,
}

/// Per-feature QC of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureQcReport {
    /// Layer name.
    pub layer: String,
    /// The log transform behind `mean_log`/`median_log`.
    pub basis: LogBasis,
    /// The sheet column that defines groups, if any.
    pub group_column: Option<String>,
    /// Group labels in sorted order ([`NO_GROUP`] for empty cells).
    pub groups: Vec<String>,
    /// Samples per group, aligned with `groups`.
    pub group_sizes: Vec<usize>,
    /// One row per feature, in layer order.
    pub features: Vec<FeatureQc>,
}

/// Compute per-feature QC. With `groups = Some((sheet, column))`, observed fractions are also
/// reported per value of that sheet column; every layer sample must be in the sheet.
/// Only observed cells count (imputed and below-detection cells do not). For count layers the
/// samples in which the feature is detected (count > 0) are reported as well: there an observed
/// zero is a value, so the observed fraction is not a detection rate.
pub fn feature_qc(assay: &Assay, groups: Option<(&SampleSheet, &str)>) -> Result<FeatureQcReport> {
    let (nf, ns) = (assay.n_features(), assay.n_samples());
    if nf == 0 || ns == 0 {
        return Err(QcError::EmptyLayer {
            layer: assay.name().to_string(),
            n_features: nf,
            n_samples: ns,
        });
    }
    let (labels, group_column) = match groups {
        None => (vec![None; ns], None),
        Some((sheet, column)) => {
            let col = sheet.require_column(column)?;
            let mut labels = Vec::with_capacity(ns);
            for s in assay.samples() {
                let row = sheet.position(s).ok_or_else(|| QcError::SampleNotInSheet {
                    layer: assay.name().to_string(),
                    sample: s.clone(),
                    column: column.to_string(),
                })?;
                labels.push(Some(
                    col.values.text(row).unwrap_or_else(|| NO_GROUP.to_string()),
                ));
            }
            (labels, Some(column.to_string()))
        }
    };
    let mut group_index: BTreeMap<String, usize> = BTreeMap::new();
    for l in labels.iter().flatten() {
        group_index.insert(l.clone(), 0);
    }
    for (k, v) in group_index.values_mut().enumerate() {
        *v = k;
    }
    let groups: Vec<String> = group_index.keys().cloned().collect();
    let sample_group: Vec<Option<usize>> = labels
        .iter()
        .map(|l| l.as_ref().map(|l| group_index[l]))
        .collect();
    let mut group_sizes = vec![0usize; groups.len()];
    for g in sample_group.iter().flatten() {
        group_sizes[*g] += 1;
    }

    let basis = LogBasis::for_scale(assay.scale());
    let counts = assay.scale() == ValueScale::Counts;
    let values = assay.values();
    let flags = assay.flags();
    let mut features = Vec::with_capacity(nf);
    for i in 0..nf {
        let mut n_obs = 0;
        let mut n_det = 0;
        let mut per_group = vec![0usize; groups.len()];
        let mut det_group = vec![0usize; groups.len()];
        let mut logs = Vec::new();
        let mut lin = Vec::new();
        for j in 0..ns {
            if flags[[i, j]] != ValueFlag::Observed {
                continue;
            }
            n_obs += 1;
            let v = values[[i, j]];
            if let Some(g) = sample_group[j] {
                per_group[g] += 1;
                if v > 0.0 {
                    det_group[g] += 1;
                }
            }
            if v > 0.0 {
                n_det += 1;
            }
            if let Some(l) = basis.apply(v) {
                logs.push(l);
            }
            if let Some(l) = linear_value(assay.scale(), v) {
                lin.push(l);
            }
        }
        features.push(FeatureQc {
            feature: assay.features().ids()[i].clone(),
            n_observed: n_obs,
            observed_fraction: n_obs as f64 / ns as f64,
            group_observed_fraction: per_group
                .iter()
                .zip(&group_sizes)
                .map(|(&o, &n)| o as f64 / n as f64)
                .collect(),
            n_detected: counts.then_some(n_det),
            detected_fraction: counts.then_some(n_det as f64 / ns as f64),
            group_detected_fraction: if counts {
                det_group
                    .iter()
                    .zip(&group_sizes)
                    .map(|(&o, &n)| o as f64 / n as f64)
                    .collect()
            } else {
                Vec::new()
            },
            mean_log: (!logs.is_empty()).then(|| logs.iter().sum::<f64>() / logs.len() as f64),
            median_log: median(&logs),
            cv: cv(&lin),
        });
    }
    Ok(FeatureQcReport {
        layer: assay.name().to_string(),
        basis,
        group_column,
        groups,
        group_sizes,
        features,
    })
}

fn cv(v: &[f64]) -> Option<f64> {
    if v.len() < 2 {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if mean <= 0.0 {
        return None;
    }
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    Some(var.sqrt() / mean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::{Features, LayerKind};
    use ndarray::array;

    fn assay() -> Assay {
        let cells = array![
            [Some(2.0), Some(4.0), Some(8.0), None],
            [None, None, Some(16.0), Some(16.0)],
            [None, None, None, None],
        ];
        Assay::from_options(
            "proteome",
            LayerKind::Proteome,
            ValueScale::Linear,
            Features::new(vec!["A".into(), "B".into(), "C".into()]).unwrap(),
            vec!["s1".into(), "s2".into(), "s3".into(), "s4".into()],
            &cells,
        )
        .unwrap()
    }

    fn sheet() -> SampleSheet {
        let t = |v: &[&str]| v.iter().map(|x| Some(x.to_string())).collect::<Vec<_>>();
        SampleSheet::from_text_columns(
            vec!["s1".into(), "s2".into(), "s3".into(), "s4".into()],
            vec![("source".into(), t(&["BM-MSC", "BM-MSC", "ADSC", "NA"]))],
        )
        .unwrap()
    }

    #[test]
    fn overall_and_grouped() {
        let sh = sheet();
        let r = feature_qc(&assay(), Some((&sh, "source"))).unwrap();
        assert_eq!(r.groups, ["ADSC", "BM-MSC", "NA"]);
        assert_eq!(r.group_sizes, [1, 2, 1]);
        let a = &r.features[0];
        assert_eq!((a.n_observed, a.observed_fraction), (3, 0.75));
        assert_eq!(a.group_observed_fraction, [1.0, 1.0, 0.0]);
        assert_eq!(a.mean_log, Some(2.0));
        assert_eq!(a.median_log, Some(2.0));
        // values 2, 4, 8: mean 14/3, sd sqrt(28/3)
        let expect = (28.0f64 / 3.0).sqrt() / (14.0 / 3.0);
        assert!((a.cv.unwrap() - expect).abs() < 1e-12);
        let b = &r.features[1];
        assert_eq!(b.group_observed_fraction, [1.0, 0.0, 1.0]);
        assert_eq!(b.cv, Some(0.0));
        let c = &r.features[2];
        assert_eq!((c.n_observed, c.mean_log, c.cv), (0, None, None));
    }

    #[test]
    fn counts_report_detection_separately() {
        let cells = array![
            [Some(0.0), Some(4.0), Some(0.0), None],
            [Some(3.0), Some(1.0), Some(16.0), Some(2.0)],
        ];
        let a = Assay::from_options(
            "mirna",
            LayerKind::Mirna,
            ValueScale::Counts,
            Features::new(vec!["a".into(), "b".into()]).unwrap(),
            vec!["s1".into(), "s2".into(), "s3".into(), "s4".into()],
            &cells,
        )
        .unwrap();
        let sh = sheet();
        let r = feature_qc(&a, Some((&sh, "source"))).unwrap();
        let f = &r.features[0];
        // zeros are observed, the missing cell is not; detection counts only count > 0
        assert_eq!((f.n_observed, f.n_detected), (3, Some(1)));
        assert_eq!(f.detected_fraction, Some(0.25));
        assert_eq!(f.group_detected_fraction, [0.0, 0.5, 0.0]);
        assert_eq!(r.features[1].n_detected, Some(4));
        let p = feature_qc(&assay(), None).unwrap();
        assert!(p.features.iter().all(|f| f.n_detected.is_none()
            && f.detected_fraction.is_none()
            && f.group_detected_fraction.is_empty()));
    }

    #[test]
    fn ungrouped_and_errors() {
        let r = feature_qc(&assay(), None).unwrap();
        assert!(r.groups.is_empty() && r.features[0].group_observed_fraction.is_empty());
        let sh = sheet();
        let e = feature_qc(&assay(), Some((&sh, "batch"))).unwrap_err();
        assert!(e.to_string().contains("batch"), "{e}");
        let small = SampleSheet::new(vec!["s1".into()]).unwrap();
        let mut small = small;
        small
            .push_column(evomics_core::Column {
                name: "source".into(),
                values: evomics_core::ColumnValues::Text(vec![Some("x".into())]),
            })
            .unwrap();
        let e = feature_qc(&assay(), Some((&small, "source"))).unwrap_err();
        assert!(
            e.to_string().contains("'s2' is not in the sample sheet"),
            "{e}"
        );
    }
}
