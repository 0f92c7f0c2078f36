//! Feature filters: valid values per group (Perseus), minimum counts (miRNA), contaminants and
//! decoys, zero variance.
//!
//! Every filter learns the ids of the features it keeps; `transform` selects exactly those, so
//! held-out samples never change which features a model sees.

use std::collections::{BTreeMap, HashMap};

use evomics_core::{Assay, FeatureFlags, SampleSheet, ValueFlag};
use serde::{Deserialize, Serialize};

use crate::error::{NormError, Result};
use crate::num;
use crate::step::{ensure, sheet_text, Fit, RemovedFeature, Stage, StepReport, Transformer};

/// One feature filter, selected by `method` in the TOML config.
///
/// ```toml
/// filters = [
///   { method = "contaminants" },
///   { method = "valid_values", column = "source", min_fraction = 0.7 },
///   { method = "min_count", min_count = 10, min_samples = 3 },
///   { method = "zero_variance" },
/// ]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum FilterParams {
    /// Perseus "filter rows based on valid values".
    ValidValues(ValidValuesParams),
    /// Keep features with at least `min_count` in at least `min_samples` samples.
    MinCount(MinCountParams),
    /// Drop features the reader flagged (decoys, contaminants, only identified by site).
    Contaminants(ContaminantParams),
    /// Drop features with no spread across samples.
    ZeroVariance(ZeroVarianceParams),
}

/// How the valid-value fraction is required across groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ValidMode {
    /// At least `min_fraction` valid in at least one group (Perseus "in at least one group").
    #[default]
    AnyGroup,
    /// At least `min_fraction` valid in every group (Perseus "in each group").
    AllGroups,
    /// At least `min_fraction` valid over all samples (Perseus "in total"); `column` is ignored.
    Total,
}

/// Perseus-style valid-value filter (Tyanova et al. 2016, *Nat Methods* 13:731, "Filter rows
/// based on valid values"); the R oracle computes it as
/// `apply(sweep(nvalid, 2, nsrc, "/") >= 0.7, 1, any)`.
///
/// A cell is valid when it is [`ValueFlag::Observed`]; imputed and below-detection cells are not
/// evidence of detection. Samples whose group cell is empty belong to no group (they count only
/// in `total` mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidValuesParams {
    /// Sample-sheet column that defines the groups (default `source`).
    pub column: String,
    /// Minimum fraction of valid values, in (0, 1] (default 0.7).
    pub min_fraction: f64,
    /// Which groups must reach it (default `any_group`).
    pub mode: ValidMode,
}

impl Default for ValidValuesParams {
    fn default() -> Self {
        ValidValuesParams {
            column: "source".into(),
            min_fraction: 0.7,
            mode: ValidMode::AnyGroup,
        }
    }
}

/// Minimum-count filter for count layers (the classic "≥ X reads in ≥ N samples" miRNA filter,
/// cf. edgeR's `filterByExpr` rationale in Chen, Lun & Smyth 2016, *F1000Research* 5:1438).
/// Only observed cells count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MinCountParams {
    /// Minimum value, ≥ 0 (default 10).
    pub min_count: f64,
    /// Minimum number of samples reaching it, ≥ 1 (default 3).
    pub min_samples: usize,
}

impl Default for MinCountParams {
    fn default() -> Self {
        MinCountParams {
            min_count: 10.0,
            min_samples: 3,
        }
    }
}

/// Which reader flags remove a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureFlagName {
    /// Reverse-sequence hits (MaxQuant `Reverse`).
    Decoy,
    /// Common contaminants (MaxQuant `Potential contaminant`, FragPipe `contam_`).
    Contaminant,
    /// MaxQuant `Only identified by site`.
    OnlyIdentifiedBySite,
}

impl FeatureFlagName {
    fn flag(self) -> FeatureFlags {
        match self {
            FeatureFlagName::Decoy => FeatureFlags::DECOY,
            FeatureFlagName::Contaminant => FeatureFlags::CONTAMINANT,
            FeatureFlagName::OnlyIdentifiedBySite => FeatureFlags::ONLY_BY_SITE,
        }
    }
}

/// Contaminant and decoy removal, as Perseus' standard MaxQuant clean-up (Tyanova et al. 2016).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContaminantParams {
    /// Flags that remove a feature (default `["decoy", "contaminant", "only_identified_by_site"]`).
    pub drop: Vec<FeatureFlagName>,
}

impl Default for ContaminantParams {
    fn default() -> Self {
        ContaminantParams {
            drop: vec![
                FeatureFlagName::Decoy,
                FeatureFlagName::Contaminant,
                FeatureFlagName::OnlyIdentifiedBySite,
            ],
        }
    }
}

/// Zero-variance removal (as caret's `nearZeroVar` core case): features whose values (observed
/// or imputed) have sample variance ≤ `min_variance`, or fewer than two values, are dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZeroVarianceParams {
    /// Variance at or below which a feature is removed, ≥ 0 (default 0).
    pub min_variance: f64,
}

impl Default for ZeroVarianceParams {
    fn default() -> Self {
        ZeroVarianceParams { min_variance: 0.0 }
    }
}

impl FilterParams {
    /// The method name as written in the config.
    pub fn method(&self) -> &'static str {
        match self {
            FilterParams::ValidValues(_) => "valid_values",
            FilterParams::MinCount(_) => "min_count",
            FilterParams::Contaminants(_) => "contaminants",
            FilterParams::ZeroVariance(_) => "zero_variance",
        }
    }

    fn step(&self) -> &'static str {
        match self {
            FilterParams::ValidValues(_) => "filter valid_values",
            FilterParams::MinCount(_) => "filter min_count",
            FilterParams::Contaminants(_) => "filter contaminants",
            FilterParams::ZeroVariance(_) => "filter zero_variance",
        }
    }

    /// Per-feature keep decision and, for removed features, the reason.
    fn decide(&self, assay: &Assay, sheet: &SampleSheet) -> Result<Vec<Option<String>>> {
        let step = self.step();
        let n_f = assay.n_features();
        let flags = assay.flags();
        match self {
            FilterParams::ValidValues(p) => {
                let groups: Vec<Option<String>> = match p.mode {
                    ValidMode::Total => vec![Some("all samples".into()); assay.n_samples()],
                    _ => sheet_text(step, assay, sheet, &p.column, "column")?,
                };
                // group name -> member columns, in name order
                let mut members: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
                for (j, g) in groups.iter().enumerate() {
                    if let Some(g) = g {
                        members.entry(g.as_str()).or_default().push(j);
                    }
                }
                if members.is_empty() {
                    return Err(NormError::Layer {
                        step,
                        layer: assay.name().to_string(),
                        problem: format!(
                            "no sample of the layer has a value in sheet column '{}'; fill the column or use mode = \"total\"",
                            p.column
                        ),
                    });
                }
                Ok((0..n_f)
                    .map(|i| {
                        let mut best: Option<(&str, usize, usize, f64)> = None;
                        let mut worst: Option<(&str, usize, usize, f64)> = None;
                        for (g, cols) in &members {
                            let nv = cols
                                .iter()
                                .filter(|&&j| flags[[i, j]] == ValueFlag::Observed)
                                .count();
                            let frac = nv as f64 / cols.len() as f64;
                            if best.is_none_or(|b| frac > b.3) {
                                best = Some((g, nv, cols.len(), frac));
                            }
                            if worst.is_none_or(|w| frac < w.3) {
                                worst = Some((g, nv, cols.len(), frac));
                            }
                        }
                        let (label, pick) = match p.mode {
                            ValidMode::AllGroups => ("worst group", worst),
                            ValidMode::AnyGroup => ("best group", best),
                            ValidMode::Total => ("all samples", best),
                        };
                        let (g, nv, n, frac) = pick?;
                        if frac >= p.min_fraction {
                            None
                        } else if p.mode == ValidMode::Total {
                            Some(format!(
                                "valid values: {nv}/{n} = {frac:.2} < {}",
                                p.min_fraction
                            ))
                        } else {
                            Some(format!(
                                "valid values: {label} '{g}' {nv}/{n} = {frac:.2} < {}",
                                p.min_fraction
                            ))
                        }
                    })
                    .collect())
            }
            FilterParams::MinCount(p) => Ok((0..n_f)
                .map(|i| {
                    let n = (0..assay.n_samples())
                        .filter(|&j| {
                            flags[[i, j]] == ValueFlag::Observed
                                && assay.values()[[i, j]] >= p.min_count
                        })
                        .count();
                    (n < p.min_samples).then(|| {
                        format!(
                            "min count: {n} sample(s) with ≥ {} (need {})",
                            p.min_count, p.min_samples
                        )
                    })
                })
                .collect()),
            FilterParams::Contaminants(p) => {
                let feature_flags = assay.features().flags();
                Ok((0..n_f)
                    .map(|i| {
                        let hit: Vec<&str> = p
                            .drop
                            .iter()
                            .filter(|f| feature_flags[i].contains(f.flag()))
                            .map(|f| match f {
                                FeatureFlagName::Decoy => "decoy",
                                FeatureFlagName::Contaminant => "contaminant",
                                FeatureFlagName::OnlyIdentifiedBySite => "only_identified_by_site",
                            })
                            .collect();
                        (!hit.is_empty()).then(|| format!("flagged {}", hit.join(",")))
                    })
                    .collect())
            }
            FilterParams::ZeroVariance(p) => Ok((0..n_f)
                .map(|i| {
                    let (_, vals) = crate::step::row_values(assay, i);
                    match num::var(&vals) {
                        None => Some(format!("zero variance: {} value(s)", vals.len())),
                        Some(v) if v <= p.min_variance => Some(format!(
                            "zero variance: variance {v:.3e} ≤ {}",
                            p.min_variance
                        )),
                        Some(_) => None,
                    }
                })
                .collect()),
        }
    }
}

impl Fit for FilterParams {
    type Fitted = FittedFilter;

    fn validate(&self) -> Result<()> {
        let step = self.step();
        match self {
            FilterParams::ValidValues(p) => {
                ensure(
                    p.min_fraction > 0.0 && p.min_fraction <= 1.0,
                    step,
                    "min_fraction",
                    format!("is {}; use a fraction in (0, 1], e.g. 0.7", p.min_fraction),
                )?;
                ensure(
                    p.mode == ValidMode::Total || !p.column.trim().is_empty(),
                    step,
                    "column",
                    "is empty; name the sample-sheet column that defines the groups, e.g. \"source\"".into(),
                )
            }
            FilterParams::MinCount(p) => {
                ensure(
                    p.min_count.is_finite() && p.min_count >= 0.0,
                    step,
                    "min_count",
                    format!("is {}; use a count ≥ 0", p.min_count),
                )?;
                ensure(
                    p.min_samples >= 1,
                    step,
                    "min_samples",
                    "is 0; use at least 1".into(),
                )
            }
            FilterParams::Contaminants(p) => ensure(
                !p.drop.is_empty(),
                step,
                "drop",
                "is empty; list at least one of \"decoy\", \"contaminant\", \"only_identified_by_site\" (or remove the filter)".into(),
            ),
            FilterParams::ZeroVariance(p) => ensure(
                p.min_variance.is_finite() && p.min_variance >= 0.0,
                step,
                "min_variance",
                format!("is {}; use a variance ≥ 0", p.min_variance),
            ),
        }
    }

    fn fit(&self, assay: &Assay, sheet: &SampleSheet) -> Result<FittedFilter> {
        self.validate()?;
        let decisions = self.decide(assay, sheet)?;
        let ids = assay.features().ids();
        let mut kept = Vec::new();
        let mut removed = Vec::new();
        for (id, d) in ids.iter().zip(decisions) {
            match d {
                None => kept.push(id.clone()),
                Some(reason) => removed.push(RemovedFeature {
                    feature: id.clone(),
                    reason,
                }),
            }
        }
        Ok(FittedFilter {
            method: self.method().to_string(),
            kept,
            removed,
        })
    }
}

/// A fitted filter: the ids it keeps, and why the others were removed when it was fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedFilter {
    /// The filter's method name.
    pub method: String,
    /// Ids of the kept features, in the fitted layer's order.
    pub kept: Vec<String>,
    /// Features removed at fit time, with reasons.
    pub removed: Vec<RemovedFeature>,
}

impl Transformer for FittedFilter {
    fn transform_with_report(
        &self,
        assay: &Assay,
        _sheet: &SampleSheet,
    ) -> Result<(Assay, StepReport)> {
        let index: HashMap<&str, usize> = assay
            .features()
            .ids()
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i))
            .collect();
        let rows = self
            .kept
            .iter()
            .map(|id| {
                index
                    .get(id.as_str())
                    .copied()
                    .ok_or_else(|| NormError::FeatureMismatch {
                        step: "filter",
                        layer: assay.name().to_string(),
                        problem: format!(
                            "kept feature '{id}' is absent (filter '{}')",
                            self.method
                        ),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let reasons: HashMap<&str, &str> = self
            .removed
            .iter()
            .map(|r| (r.feature.as_str(), r.reason.as_str()))
            .collect();
        let kept: std::collections::HashSet<usize> = rows.iter().copied().collect();
        let mut report = StepReport::new(Stage::Filter, &self.method, assay);
        report.removed = assay
            .features()
            .ids()
            .iter()
            .enumerate()
            .filter(|(i, _)| !kept.contains(i))
            .map(|(_, id)| RemovedFeature {
                feature: id.clone(),
                reason: reasons
                    .get(id.as_str())
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "not in the data the filter was fitted on".into()),
            })
            .collect();
        let out = assay.select_features(&rows);
        report.features_out = out.n_features();
        Ok((out, report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::{Features, LayerKind, ValueScale};
    use ndarray::array;

    fn sheet() -> SampleSheet {
        SampleSheet::from_text_columns(
            vec!["a".into(), "b".into(), "c".into(), "d".into()],
            vec![(
                "source".into(),
                vec![
                    Some("X".into()),
                    Some("X".into()),
                    Some("Y".into()),
                    Some("Y".into()),
                ],
            )],
        )
        .unwrap()
    }

    fn assay() -> Assay {
        let cells = array![
            [Some(1.0), Some(2.0), None, None],
            [Some(1.0), None, Some(3.0), None],
            [Some(5.0), Some(5.0), Some(5.0), Some(5.0)],
        ];
        let mut f = Features::new(vec!["P1".into(), "P2".into(), "P3".into()]).unwrap();
        f.set_flags(vec![
            FeatureFlags::NONE,
            FeatureFlags::CONTAMINANT,
            FeatureFlags::NONE,
        ])
        .unwrap();
        Assay::from_options(
            "proteome",
            LayerKind::Proteome,
            ValueScale::Log2,
            f,
            vec!["a".into(), "b".into(), "c".into(), "d".into()],
            &cells,
        )
        .unwrap()
    }

    #[test]
    fn valid_values_modes() {
        let p = FilterParams::ValidValues(ValidValuesParams {
            min_fraction: 1.0,
            ..Default::default()
        });
        let f = p.fit(&assay(), &sheet()).unwrap();
        assert_eq!(f.kept, vec!["P1".to_string(), "P3".to_string()]);
        assert!(
            f.removed[0].reason.contains("best group"),
            "{:?}",
            f.removed
        );
        let p = FilterParams::ValidValues(ValidValuesParams {
            min_fraction: 0.5,
            mode: ValidMode::AllGroups,
            ..Default::default()
        });
        let f = p.fit(&assay(), &sheet()).unwrap();
        assert_eq!(f.kept, vec!["P2".to_string(), "P3".to_string()]);
        let p = FilterParams::ValidValues(ValidValuesParams {
            min_fraction: 0.75,
            mode: ValidMode::Total,
            column: String::new(),
        });
        let f = p.fit(&assay(), &sheet()).unwrap();
        assert_eq!(f.kept, vec!["P3".to_string()]);
    }

    #[test]
    fn contaminants_and_variance() {
        let (_, out, rep) = FilterParams::Contaminants(ContaminantParams::default())
            .fit_transform(&assay(), &sheet())
            .unwrap();
        assert_eq!(out.features().ids(), &["P1".to_string(), "P3".to_string()]);
        assert_eq!(rep.removed[0].reason, "flagged contaminant");
        let f = FilterParams::ZeroVariance(ZeroVarianceParams::default())
            .fit(&assay(), &sheet())
            .unwrap();
        assert_eq!(f.kept, vec!["P1".to_string(), "P2".to_string()]);
    }

    #[test]
    fn min_count_counts_observed_only() {
        let p = FilterParams::MinCount(MinCountParams {
            min_count: 2.0,
            min_samples: 2,
        });
        let f = p.fit(&assay(), &sheet()).unwrap();
        assert_eq!(f.kept, vec!["P3".to_string()]);
    }

    #[test]
    fn transform_selects_by_id_and_reports_missing() {
        let f = FilterParams::ZeroVariance(ZeroVarianceParams::default())
            .fit(&assay(), &sheet())
            .unwrap();
        let a = assay();
        let reordered = a.select_features(&[2, 1, 0]);
        let out = f.transform(&reordered, &sheet()).unwrap();
        assert_eq!(out.features().ids(), &["P1".to_string(), "P2".to_string()]);
        let e = f
            .transform(&a.select_features(&[0, 2]), &sheet())
            .unwrap_err()
            .to_string();
        assert!(e.contains("'P2'"), "{e}");
    }

    #[test]
    fn bad_params_rejected_before_data() {
        let p = FilterParams::ValidValues(ValidValuesParams {
            min_fraction: 1.5,
            ..Default::default()
        });
        let e = p.validate().unwrap_err().to_string();
        assert!(e.contains("min_fraction") && e.contains("(0, 1]"), "{e}");
        let e = FilterParams::ValidValues(ValidValuesParams {
            column: "donor".into(),
            ..Default::default()
        })
        .fit(&assay(), &sheet())
        .unwrap_err()
        .to_string();
        assert!(e.contains("'donor'") && e.contains("source"), "{e}");
    }
}
