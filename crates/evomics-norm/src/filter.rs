//! Feature filters: valid values per group (Perseus), edgeR's `filterByExpr` and minimum counts
//! (miRNA), contaminants and decoys, zero variance.
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
///   { method = "filter_by_expr", group = "source" },
///   { method = "min_count", min_count = 10, min_samples = 3 },
///   { method = "zero_variance" },
/// ]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum FilterParams {
    /// Perseus "filter rows based on valid values".
    ValidValues(ValidValuesParams),
    /// edgeR's `filterByExpr`: enough counts per million in enough samples, and enough in total.
    FilterByExpr(FilterByExprParams),
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
    /// Sample-sheet column that defines the groups; empty (the default) means the normalize
    /// stage's grouping column (`group_by`, else the sheet's first grouping column, see
    /// `SampleSheet::grouping_columns`).
    pub column: String,
    /// Minimum fraction of valid values, in (0, 1] (default 0.7).
    pub min_fraction: f64,
    /// Which groups must reach it (default `any_group`).
    pub mode: ValidMode,
}

impl Default for ValidValuesParams {
    fn default() -> Self {
        ValidValuesParams {
            column: String::new(),
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

/// edgeR 3.40's `filterByExpr` (Chen, Lun & Smyth 2016, *F1000Research* 5:1438; edgeR's
/// `filterByExpr.default`), for count layers.
///
/// A feature is kept when its count per million reaches `min_count / median(lib.size) · 10⁶` in
/// at least the minimum group size of samples and its total count is at least
/// `min_total_count` (both with edgeR's 1e-14 slack). The minimum group size is the smallest
/// group of `group`, or `1 / max(hat(design))` for a `design` formula (hat values with an
/// intercept, as R's `hat`), or the number of samples when neither is given; above `large_n`
/// it becomes `large_n + (n − large_n) · min_prop`. Library sizes are the column sums over the
/// layer's features as they reach the filter (a fresh `DGEList`), and the CPM are
/// `count · (10⁶ / lib.size)`, the way edgeR's C++ computes them, so ties at the cut-off fall
/// as in R. A missing count (not observed) adds nothing to the sums and does not reach the
/// cut-off (edgeR has no missing counts).
///
/// ```toml
/// filters = [{ method = "filter_by_expr", group = "source" }]
/// filters = [{ method = "filter_by_expr", design = "~ 0 + source + batch", min_count = 5 }]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterByExprParams {
    /// Sample-sheet column of the experimental groups (edgeR `group`).
    pub group: Option<String>,
    /// Design formula over sample-sheet columns (edgeR `design`), instead of `group`.
    pub design: Option<String>,
    /// Minimum count for the CPM cut-off, ≥ 0 (edgeR `min.count`, default 10).
    pub min_count: f64,
    /// Minimum total count over all samples, ≥ 0 (edgeR `min.total.count`, default 15).
    pub min_total_count: f64,
    /// Group size above which only a proportion of samples must pass, ≥ 0 (edgeR `large.n`,
    /// default 10).
    pub large_n: f64,
    /// That proportion, in [0, 1] (edgeR `min.prop`, default 0.7).
    pub min_prop: f64,
}

impl Default for FilterByExprParams {
    fn default() -> Self {
        FilterByExprParams {
            group: None,
            design: None,
            min_count: 10.0,
            min_total_count: 15.0,
            large_n: 10.0,
            min_prop: 0.7,
        }
    }
}

impl FilterByExprParams {
    /// edgeR's `MinSampleSize` for the layer's samples, and how it was found.
    fn min_sample_size(
        &self,
        step: &'static str,
        assay: &Assay,
        sheet: &SampleSheet,
    ) -> Result<(f64, String)> {
        let n = assay.n_samples();
        let (size, how) = match (&self.group, &self.design) {
            (Some(column), _) => {
                let groups = sheet_text(step, assay, sheet, column, "group")?;
                let mut count: BTreeMap<&str, usize> = BTreeMap::new();
                for g in groups.iter().flatten() {
                    *count.entry(g.as_str()).or_default() += 1;
                }
                let (g, m) = count
                    .iter()
                    .min_by_key(|(_, m)| **m)
                    .map(|(g, m)| (g.to_string(), *m))
                    .ok_or_else(|| NormError::Layer {
                        step,
                        layer: assay.name().to_string(),
                        problem: format!(
                            "no sample of the layer has a value in sheet column '{column}'"
                        ),
                    })?;
                (
                    m as f64,
                    format!("smallest group of '{column}' ('{g}', {m} samples)"),
                )
            }
            (None, Some(formula)) => {
                let rows = crate::step::sheet_rows(step, assay, sheet)?;
                let sub = sheet.select(&rows);
                let design =
                    crate::design::Design::from_formula(&sub, formula, &Default::default())?;
                if let Some(d) = design.dropped().first() {
                    return Err(NormError::SheetValue {
                        step,
                        column: d.columns.join(", "),
                        sample: d.sample_id.clone(),
                        problem: format!("has no value, but the design '{formula}' needs every sample of the layer"),
                    });
                }
                let h = design.hat_values(true);
                let max = h.iter().copied().fold(0.0, f64::max);
                (
                    1.0 / max,
                    format!("1 / largest leverage of '{formula}' = {:.4}", 1.0 / max),
                )
            }
            (None, None) => (n as f64, format!("all {n} samples as one group")),
        };
        let size = if size > self.large_n {
            self.large_n + (size - self.large_n) * self.min_prop
        } else {
            size
        };
        Ok((size, how))
    }

    fn decide(
        &self,
        step: &'static str,
        assay: &Assay,
        sheet: &SampleSheet,
    ) -> Result<Vec<Option<String>>> {
        let (g, n) = (assay.n_features(), assay.n_samples());
        let (min_size, _) = self.min_sample_size(step, assay, sheet)?;
        let mut lib = vec![0.0; n];
        for (j, l) in lib.iter_mut().enumerate() {
            *l = num::sum((0..g).filter_map(|i| assay.get(i, j)));
        }
        if let Some(j) = (0..n).find(|&j| lib[j].is_nan() || lib[j] <= 0.0) {
            return Err(NormError::Sample {
                step,
                layer: assay.name().to_string(),
                sample: assay.samples()[j].clone(),
                problem: format!("library size (sum of counts) is {}; filterByExpr needs a positive total (remove empty samples first)", lib[j]),
            });
        }
        let median = num::median(&lib);
        let cutoff = self.min_count / median * 1e6;
        const TOL: f64 = 1e-14;
        let scale: Vec<f64> = lib.iter().map(|l| 1e6 / l).collect();
        Ok((0..g)
            .map(|i| {
                let mut pass = 0usize;
                let mut total = Vec::with_capacity(n);
                for (j, sc) in scale.iter().enumerate() {
                    if let Some(v) = assay.get(i, j) {
                        total.push(v);
                        if v * sc >= cutoff {
                            pass += 1;
                        }
                    }
                }
                let total = num::sum(total);
                if (pass as f64) < min_size - TOL {
                    Some(format!(
                        "filterByExpr: {pass} sample(s) with CPM ≥ {cutoff:.4} (need {min_size:.4})"
                    ))
                } else if total < self.min_total_count - TOL {
                    Some(format!(
                        "filterByExpr: total count {total} < {}",
                        self.min_total_count
                    ))
                } else {
                    None
                }
            })
            .collect())
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
            FilterParams::FilterByExpr(_) => "filter_by_expr",
            FilterParams::MinCount(_) => "min_count",
            FilterParams::Contaminants(_) => "contaminants",
            FilterParams::ZeroVariance(_) => "zero_variance",
        }
    }

    fn step(&self) -> &'static str {
        match self {
            FilterParams::ValidValues(_) => "filter valid_values",
            FilterParams::FilterByExpr(_) => "filter filter_by_expr",
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
                    _ if p.column.trim().is_empty() => {
                        return Err(NormError::Config {
                            problem: format!(
                                "{step}: no grouping column: name one (column = \"…\", or group_by for the normalize stage), or use mode = \"total\"; the sample sheet has no column that groups the samples"
                            ),
                        })
                    }
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
            FilterParams::FilterByExpr(p) => p.decide(step, assay, sheet),
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
                )
            }
            FilterParams::FilterByExpr(p) => {
                ensure(
                    !(p.group.is_some() && p.design.is_some()),
                    step,
                    "design",
                    "is given together with group; give one (edgeR would use group and ignore the design)".into(),
                )?;
                ensure(
                    p.group.as_ref().is_none_or(|g| !g.trim().is_empty()),
                    step,
                    "group",
                    "is empty; name the sample-sheet column of the groups, e.g. \"source\"".into(),
                )?;
                if let Some(f) = &p.design {
                    ensure(
                        f.trim_start().starts_with('~'),
                        step,
                        "design",
                        format!("'{f}' is not a formula; write e.g. \"~ 0 + source\""),
                    )?;
                }
                for (name, v) in [
                    ("min_count", p.min_count),
                    ("min_total_count", p.min_total_count),
                    ("large_n", p.large_n),
                ] {
                    ensure(
                        v.is_finite() && v >= 0.0,
                        step,
                        name,
                        format!("is {v}; use a number ≥ 0"),
                    )?;
                }
                ensure(
                    (0.0..=1.0).contains(&p.min_prop),
                    step,
                    "min_prop",
                    format!("is {}; use a proportion in [0, 1] (edgeR default 0.7)", p.min_prop),
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
        let (rows, mut report) = self.plan(assay)?;
        let out = assay.select_features(&rows);
        report.features_out = out.n_features();
        Ok((out, report))
    }

    fn transform_owned(&self, assay: Assay, _sheet: &SampleSheet) -> Result<(Assay, StepReport)> {
        let (rows, mut report) = self.plan(&assay)?;
        let out = assay.retain_features(&rows);
        report.features_out = out.n_features();
        Ok((out, report))
    }
}

impl FittedFilter {
    /// The rows of `assay` the filter keeps, and the report of what it removes.
    fn plan(&self, assay: &Assay) -> Result<(Vec<usize>, StepReport)> {
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
        Ok((rows, report))
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
            column: "source".into(),
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
            column: "source".into(),
            min_fraction: 0.5,
            mode: ValidMode::AllGroups,
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

    fn counts(rows: &[&[f64]], groups: &[&str]) -> (Assay, SampleSheet) {
        let n = rows[0].len();
        let ids: Vec<String> = (0..n).map(|j| format!("s{j}")).collect();
        let cells = ndarray::Array2::from_shape_fn((rows.len(), n), |(i, j)| Some(rows[i][j]));
        let a = Assay::from_options(
            "mirna",
            evomics_core::LayerKind::Mirna,
            evomics_core::ValueScale::Counts,
            Features::new((0..rows.len()).map(|i| format!("m{i}")).collect()).unwrap(),
            ids.clone(),
            &cells,
        )
        .unwrap();
        let sheet = SampleSheet::from_text_columns(
            ids,
            vec![(
                "group".into(),
                groups.iter().map(|g| Some(g.to_string())).collect(),
            )],
        )
        .unwrap();
        (a, sheet)
    }

    #[test]
    fn filter_by_expr_by_hand() {
        // libraries 1e6 each: the CPM cut-off is 10 CPM = a count of 10; smallest group 2
        let filler = 1e6 - 60.0;
        let (a, sheet) = counts(
            &[
                &[10.0, 10.0, 0.0, 0.0], // 2 samples at the cut-off (≥, as edgeR): kept
                &[10.0, 9.0, 0.0, 40.0], // 2 samples over it, total 59: kept
                &[10.0, 0.0, 0.0, 0.0],  // 1 sample: removed
                &[9.0, 9.0, 9.0, 9.0],   // under the cut-off everywhere: removed
                &[filler - 39.0, filler - 28.0, filler - 9.0, filler - 49.0],
            ],
            &["a", "a", "b", "b"],
        );
        let p = FilterParams::FilterByExpr(FilterByExprParams {
            group: Some("group".into()),
            ..Default::default()
        });
        let f = p.fit(&a, &sheet).unwrap();
        assert_eq!(f.kept, ["m0", "m1", "m4"]);
        assert!(
            f.removed[0].reason.contains("1 sample(s) with CPM"),
            "{:?}",
            f.removed
        );
        // min_total_count: 20 + 0 in m0 is below 25
        let p = FilterParams::FilterByExpr(FilterByExprParams {
            group: Some("group".into()),
            min_total_count: 25.0,
            ..Default::default()
        });
        let f = p.fit(&a, &sheet).unwrap();
        assert_eq!(f.kept, ["m1", "m4"]);
        assert!(
            f.removed[0].reason.contains("total count 20"),
            "{:?}",
            f.removed
        );
        // no group or design: all 4 samples must pass
        let f = FilterParams::FilterByExpr(FilterByExprParams::default())
            .fit(&a, &sheet)
            .unwrap();
        assert_eq!(f.kept, ["m4"]);
    }

    #[test]
    fn filter_by_expr_large_groups_need_a_proportion() {
        // one group of 20: MinSampleSize = 10 + (20 - 10) * 0.7 = 17
        let p = FilterByExprParams::default();
        let (a, sheet) = counts(&[&[1.0; 20], &[2.0; 20]], &["g"; 20]);
        let (m, _) = p.min_sample_size("t", &a, &sheet).unwrap();
        assert!((m - 17.0).abs() < 1e-12);
        let p = FilterByExprParams {
            group: Some("group".into()),
            ..Default::default()
        };
        let (m, how) = p.min_sample_size("t", &a, &sheet).unwrap();
        assert!((m - 17.0).abs() < 1e-12 && how.contains("'g'"), "{how}");
    }

    #[test]
    fn filter_by_expr_params_are_checked() {
        let both = FilterParams::FilterByExpr(FilterByExprParams {
            group: Some("a".into()),
            design: Some("~ a".into()),
            ..Default::default()
        });
        assert!(both
            .validate()
            .unwrap_err()
            .to_string()
            .contains("together"));
        for bad in [
            FilterByExprParams {
                min_prop: 1.5,
                ..Default::default()
            },
            FilterByExprParams {
                min_count: -1.0,
                ..Default::default()
            },
            FilterByExprParams {
                large_n: f64::NAN,
                ..Default::default()
            },
            FilterByExprParams {
                design: Some("source".into()),
                ..Default::default()
            },
        ] {
            assert!(FilterParams::FilterByExpr(bad).validate().is_err());
        }
        let cfg: Vec<FilterParams> = toml::from_str::<
            std::collections::BTreeMap<String, Vec<FilterParams>>,
        >(
            "filters = [{ method = \"filter_by_expr\", design = \"~ 0 + group\", min_count = 5 }]",
        )
        .unwrap()
        .remove("filters")
        .unwrap();
        assert!(
            matches!(&cfg[0], FilterParams::FilterByExpr(p) if p.min_count == 5.0 && p.min_total_count == 15.0)
        );
    }

    #[test]
    fn bad_params_rejected_before_data() {
        let p = FilterParams::ValidValues(ValidValuesParams {
            column: "source".into(),
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
