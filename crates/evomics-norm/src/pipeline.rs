//! The per-layer preprocessing pipeline: filters → transform → normalization → imputation →
//! batch correction, fitted as a whole and applied as a whole.

use std::borrow::Cow;

use evomics_core::{Assay, LayerKind, SampleSheet, ValueScale};
use serde::{Deserialize, Serialize};

use crate::combat::{BatchCorrectionParams, FittedBatchCorrection};
use crate::error::{NormError, Result};
use crate::filter::{
    ContaminantParams, FilterParams, FittedFilter, MinCountParams, ValidValuesParams,
};
use crate::impute::{FittedImputation, ImputationParams};
use crate::normalize::{FittedNormalization, MedianParams, NormalizationParams};
use crate::step::{Fit, NoParams, Stage, StepReport, Transformer};
use crate::transform::{FittedTransform, Log2Params, LogCpmParams, TransformParams};

/// Preprocessing of one layer. Every field has a default, and the default pipeline changes
/// nothing; [`NormalizeConfig::recommended`] gives a starting point per layer kind.
///
/// ```toml
/// # one table per layer, e.g. [normalize.proteome] in a run config
/// filters = [
///   { method = "contaminants" },
///   { method = "valid_values", column = "source", min_fraction = 0.7 },
/// ]
/// transform = { method = "log2" }
/// normalization = { method = "median" }
/// imputation = { method = "down_shift", width = 0.3, shift = 1.8, seed = 7 }
/// batch_correction = { method = "combat", batch = "batch", covariates = ["source"] }
/// report_group = "source"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NormalizeConfig {
    /// Feature filters, applied in order (default none).
    pub filters: Vec<FilterParams>,
    /// Value transform (default none).
    pub transform: TransformParams,
    /// Between-sample normalization (default none).
    pub normalization: NormalizationParams,
    /// Missing-value imputation (default none).
    pub imputation: ImputationParams,
    /// Batch correction (default none).
    pub batch_correction: BatchCorrectionParams,
    /// Sheet column that groups the per-group counts of imputed cells in the report; empty
    /// (the default) means the normalize stage's grouping column, if any.
    pub report_group: String,
}

impl Default for NormalizeConfig {
    fn default() -> Self {
        NormalizeConfig {
            filters: Vec::new(),
            transform: TransformParams::None(NoParams {}),
            normalization: NormalizationParams::None(NoParams {}),
            imputation: ImputationParams::None(NoParams {}),
            batch_correction: BatchCorrectionParams::None(NoParams {}),
            report_group: String::new(),
        }
    }
}

impl NormalizeConfig {
    /// A sensible start for a layer: proteomes get contaminant removal, the Perseus 70 %
    /// valid-values filter by the stage's grouping column, log2 (when linear) and median centring; miRNA counts get
    /// the ≥ 10 reads in ≥ 3 samples filter and edgeR TMM log-CPM (prior 2); other layers log2
    /// (when linear) and median centring. No imputation and no batch correction are switched on.
    pub fn recommended(kind: &LayerKind, scale: ValueScale) -> NormalizeConfig {
        let log2 = if matches!(scale, ValueScale::Linear | ValueScale::Counts) {
            TransformParams::Log2(Log2Params::default())
        } else {
            TransformParams::None(NoParams {})
        };
        if scale == ValueScale::Counts {
            // Counts of any layer kind: log2 of raw counts would drop every zero.
            return NormalizeConfig {
                filters: vec![FilterParams::MinCount(MinCountParams::default())],
                transform: TransformParams::LogCpm(LogCpmParams::default()),
                ..Default::default()
            };
        }
        match kind {
            LayerKind::Proteome => NormalizeConfig {
                filters: vec![
                    FilterParams::Contaminants(ContaminantParams::default()),
                    FilterParams::ValidValues(ValidValuesParams::default()),
                ],
                transform: log2,
                normalization: NormalizationParams::Median(MedianParams::default()),
                ..Default::default()
            },
            _ => NormalizeConfig {
                transform: log2,
                normalization: NormalizationParams::Median(MedianParams::default()),
                ..Default::default()
            },
        }
    }

    /// Check every step's parameters and that the steps fit together; no data is read.
    pub fn validate(&self) -> Result<()> {
        for f in &self.filters {
            f.validate()?;
        }
        self.transform.validate()?;
        self.normalization.validate()?;
        self.imputation.validate()?;
        self.batch_correction.validate()?;
        if self.transform.output_scale().is_some() && self.normalization.needs_linear() {
            return Err(NormError::Config {
                problem: format!(
                    "normalization '{}' needs counts or linear values, but transform '{}' runs before it and makes them log values; for counts use transform = {{ method = \"log_cpm\", norm_factors = {{ method = \"{}\" }} }} and normalization = {{ method = \"none\" }}",
                    self.normalization.method(),
                    self.transform.method(),
                    match self.normalization {
                        NormalizationParams::UpperQuartile(_) => "upper_quartile",
                        _ => "tmm",
                    }
                ),
            });
        }
        Ok(())
    }

    /// Fit every step on `assay`, each on the output of the steps before it.
    pub fn fit(&self, assay: &Assay, sheet: &SampleSheet) -> Result<FittedPipeline> {
        Ok(self.fit_transform(assay, sheet)?.0)
    }

    /// Fit every step and return the fitted pipeline with the transformed training data and
    /// the report.
    pub fn fit_transform(
        &self,
        assay: &Assay,
        sheet: &SampleSheet,
    ) -> Result<(FittedPipeline, Assay, PipelineReport)> {
        self.fit_transform_input(Cow::Borrowed(assay), sheet)
    }

    /// [`NormalizeConfig::fit_transform`] on an assay the caller hands over (a fold's training
    /// samples): it is freed once the first step has made its copy, and steps that change
    /// nothing pass it on without one.
    pub fn fit_transform_owned(
        &self,
        assay: Assay,
        sheet: &SampleSheet,
    ) -> Result<(FittedPipeline, Assay, PipelineReport)> {
        self.fit_transform_input(Cow::Owned(assay), sheet)
    }

    fn fit_transform_input(
        &self,
        assay: Cow<'_, Assay>,
        sheet: &SampleSheet,
    ) -> Result<(FittedPipeline, Assay, PipelineReport)> {
        self.validate()?;
        let mut report = PipelineReport::new(&assay);
        // A borrowed input is only read and the first step's output is the first copy; an owned
        // one is the working copy from the start (filters compact it in place).
        let mut current = assay;
        let mut filters = Vec::with_capacity(self.filters.len());
        for f in &self.filters {
            let (fitted, out, r) = match current {
                Cow::Owned(a) => f.fit_transform_owned(a, sheet)?,
                Cow::Borrowed(a) => f.fit_transform(a, sheet)?,
            };
            filters.push(fitted);
            report.steps.push(r);
            current = Cow::Owned(out);
        }
        let (transform, out, r) = match current {
            Cow::Owned(a) => self.transform.fit_transform_owned(a, sheet)?,
            Cow::Borrowed(a) => self.transform.fit_transform(a, sheet)?,
        };
        report.steps.push(r);
        // From here on the working copy is handed from step to step: a step that changes
        // nothing (`none`) passes it on without a copy.
        let (normalization, out, r) = self.normalization.fit_transform_owned(out, sheet)?;
        report.steps.push(r);
        let (imputation, out, r) = self.imputation.fit_transform_owned(out, sheet)?;
        report.steps.push(r);
        let (batch_correction, current, r) =
            self.batch_correction.fit_transform_owned(out, sheet)?;
        report.steps.push(r);
        let fitted = FittedPipeline {
            config: self.clone(),
            filters,
            transform,
            normalization,
            imputation,
            batch_correction,
        };
        fitted.finish_report(&mut report, &current, sheet);
        Ok((fitted, current, report))
    }
}

/// A fitted pipeline: every step's learned parameters, applied unchanged to new samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedPipeline {
    /// The config it was fitted from.
    pub config: NormalizeConfig,
    /// Fitted filters, in order.
    pub filters: Vec<FittedFilter>,
    /// Fitted transform.
    pub transform: FittedTransform,
    /// Fitted normalization.
    pub normalization: FittedNormalization,
    /// Fitted imputation.
    pub imputation: FittedImputation,
    /// Fitted batch correction.
    pub batch_correction: FittedBatchCorrection,
}

impl FittedPipeline {
    /// Apply every fitted step in order.
    pub fn transform(&self, assay: &Assay, sheet: &SampleSheet) -> Result<Assay> {
        Ok(self.transform_with_report(assay, sheet)?.0)
    }

    /// Apply every fitted step in order and say what each did.
    pub fn transform_with_report(
        &self,
        assay: &Assay,
        sheet: &SampleSheet,
    ) -> Result<(Assay, PipelineReport)> {
        self.transform_input(Cow::Borrowed(assay), sheet)
    }

    /// [`FittedPipeline::transform`] on an assay the caller hands over (see
    /// [`NormalizeConfig::fit_transform_owned`]).
    pub fn transform_owned(&self, assay: Assay, sheet: &SampleSheet) -> Result<Assay> {
        Ok(self.transform_input(Cow::Owned(assay), sheet)?.0)
    }

    fn transform_input(
        &self,
        assay: Cow<'_, Assay>,
        sheet: &SampleSheet,
    ) -> Result<(Assay, PipelineReport)> {
        let mut report = PipelineReport::new(&assay);
        let mut current = assay;
        for f in &self.filters {
            let (out, r) = match current {
                Cow::Owned(a) => f.transform_owned(a, sheet)?,
                Cow::Borrowed(a) => f.transform_with_report(a, sheet)?,
            };
            report.steps.push(r);
            current = Cow::Owned(out);
        }
        let (out, r) = match current {
            Cow::Owned(a) => self.transform.transform_owned(a, sheet)?,
            Cow::Borrowed(a) => self.transform.transform_with_report(a, sheet)?,
        };
        report.steps.push(r);
        let (out, r) = self.normalization.transform_owned(out, sheet)?;
        report.steps.push(r);
        let (out, r) = self.imputation.transform_owned(out, sheet)?;
        report.steps.push(r);
        let (current, r) = self.batch_correction.transform_owned(out, sheet)?;
        report.steps.push(r);
        self.finish_report(&mut report, &current, sheet);
        Ok((current, report))
    }

    fn finish_report(&self, report: &mut PipelineReport, out: &Assay, sheet: &SampleSheet) {
        report.features_out = out.n_features();
        let group = self.config.report_group.trim();
        if group.is_empty() {
            return;
        }
        for r in report
            .steps
            .iter_mut()
            .filter(|r| r.stage == Stage::Imputation && r.method != "none")
        {
            if !r.group_imputed(sheet, group) {
                r.notes.push(format!(
                    "no per-group counts: the sample sheet has no column '{group}' (report_group)"
                ));
            }
        }
    }
}

/// What the pipeline did to one layer, step by step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineReport {
    /// Layer name.
    pub layer: String,
    /// Features entering the pipeline.
    pub features_in: usize,
    /// Features leaving it.
    pub features_out: usize,
    /// Samples processed.
    pub samples: usize,
    /// One report per step, in order (filters, transform, normalization, imputation, batch
    /// correction; steps set to `none` report nothing changed).
    pub steps: Vec<StepReport>,
}

impl PipelineReport {
    fn new(assay: &Assay) -> PipelineReport {
        PipelineReport {
            layer: assay.name().to_string(),
            features_in: assay.n_features(),
            features_out: assay.n_features(),
            samples: assay.n_samples(),
            steps: Vec::new(),
        }
    }

    /// Features removed by all filters.
    pub fn removed_total(&self) -> usize {
        self.steps.iter().map(|s| s.removed.len()).sum()
    }

    /// Cells imputed by the pipeline.
    pub fn imputed_total(&self) -> usize {
        self.steps.iter().map(StepReport::imputed_total).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::combat::CombatParams;
    use crate::impute::{DownShiftParams, KnnParams, MinDetParams, QrilcParams};
    use crate::normalize::QuantileParams;
    use crate::num;
    use evomics_core::{Features, ValueFlag};
    use ndarray::Array2;
    use proptest::prelude::*;

    const SOURCES: [&str; 2] = ["BM-MSC", "ADSC"];

    /// A linear-intensity proteome with zeros for "not quantified", 4 batches of 4 samples.
    fn cohort(vals: &[f64], zero_mask: &[bool], g: usize) -> (Assay, SampleSheet) {
        let n = 16;
        let cells = Array2::from_shape_fn((g, n), |(i, j)| {
            let k = (i * n + j) % vals.len();
            if zero_mask[(i * 7 + j) % zero_mask.len()] && i % 3 != 0 {
                Some(0.0)
            } else {
                Some((vals[k] + (j % 4) as f64 * 0.3 + i as f64 * 0.05).exp2())
            }
        });
        let samples: Vec<String> = (0..n).map(|j| format!("EV{j:02}")).collect();
        let a = Assay::from_options(
            "proteome",
            LayerKind::Proteome,
            ValueScale::Linear,
            Features::new((0..g).map(|i| format!("P{i}")).collect()).unwrap(),
            samples.clone(),
            &cells,
        )
        .unwrap();
        let sheet = SampleSheet::from_text_columns(
            samples,
            vec![
                (
                    "source".into(),
                    (0..n).map(|j| Some(SOURCES[j % 2].to_string())).collect(),
                ),
                (
                    "batch".into(),
                    (0..n).map(|j| Some(format!("B{}", j / 4))).collect(),
                ),
            ],
        )
        .unwrap();
        (a, sheet)
    }

    fn full_config(
        imputation: ImputationParams,
        normalization: NormalizationParams,
    ) -> NormalizeConfig {
        NormalizeConfig {
            filters: vec![
                FilterParams::Contaminants(ContaminantParams::default()),
                FilterParams::ValidValues(ValidValuesParams {
                    column: "source".into(),
                    min_fraction: 0.5,
                    ..Default::default()
                }),
            ],
            transform: TransformParams::Log2(Log2Params::default()),
            normalization,
            imputation,
            batch_correction: BatchCorrectionParams::Combat(CombatParams::default()),
            report_group: "source".into(),
        }
    }

    fn imputations() -> Vec<ImputationParams> {
        vec![
            ImputationParams::None(NoParams {}),
            ImputationParams::DownShift(DownShiftParams::default()),
            ImputationParams::MinDet(MinDetParams::default()),
            ImputationParams::Knn(KnnParams {
                k: 3,
                ..Default::default()
            }),
            ImputationParams::Qrilc(QrilcParams::default()),
        ]
    }

    fn value_strategy() -> impl Strategy<Value = (Vec<f64>, Vec<bool>)> {
        (
            proptest::collection::vec(14.0f64..30.0, 40..80),
            proptest::collection::vec(proptest::bool::weighted(0.15), 13..29),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Median normalization leaves every sample with the same median (the learned level).
        #[test]
        fn median_equalises_sample_medians((vals, mask) in value_strategy()) {
            let (a, sheet) = cohort(&vals, &mask, 25);
            let cfg = NormalizeConfig {
                transform: TransformParams::Log2(Log2Params::default()),
                normalization: NormalizationParams::Median(MedianParams::default()),
                ..Default::default()
            };
            let (_, out, _) = cfg.fit_transform(&a, &sheet).unwrap();
            let meds: Vec<f64> = (0..out.n_samples()).map(|j| num::median(&crate::step::column_values(&out, j))).collect();
            for m in &meds {
                prop_assert!((m - meds[0]).abs() < 1e-9, "{meds:?}");
            }
        }

        /// Quantile normalization of complete data without ties gives identical sorted columns.
        #[test]
        fn quantile_gives_identical_sorted_columns(vals in proptest::collection::vec(-5.0f64..5.0, 60)) {
            let (g, n) = (12, 5);
            let cells = Array2::from_shape_fn((g, n), |(i, j)| Some(vals[i * n + j] + 1e-9 * (i * n + j) as f64));
            // make every column free of ties
            for j in 0..n {
                let mut col: Vec<f64> = (0..g).map(|i| cells[[i, j]].unwrap()).collect();
                col.sort_by(f64::total_cmp);
                prop_assume!(col.windows(2).all(|w| w[0] < w[1]));
            }
            let a = Assay::from_options("l", LayerKind::Other, ValueScale::Log2,
                Features::new((0..g).map(|i| format!("f{i}")).collect()).unwrap(),
                (0..n).map(|j| format!("s{j}")).collect(), &cells).unwrap();
            let sheet = SampleSheet::new((0..n).map(|j| format!("s{j}")).collect()).unwrap();
            let (_, out, _) = NormalizationParams::Quantile(QuantileParams {}).fit_transform(&a, &sheet).unwrap();
            let sorted: Vec<Vec<u64>> = (0..n).map(|j| {
                let mut c = crate::step::column_values(&out, j);
                num::sort(&mut c);
                c.into_iter().map(f64::to_bits).collect()
            }).collect();
            for c in &sorted {
                prop_assert_eq!(c, &sorted[0]);
            }
        }

        /// Through the whole pipeline, with every imputation: observed values are never
        /// imputed over, imputed cells are exactly the cells that had no value, and the flag
        /// matrix follows the features that survive the filters.
        #[test]
        fn flags_survive_and_observed_never_imputed((vals, mask) in value_strategy(), which in 0usize..5) {
            let (a, sheet) = cohort(&vals, &mask, 25);
            let imp = imputations()[which].clone();
            let cfg = full_config(imp.clone(), NormalizationParams::Median(MedianParams::default()));
            let (_, out, rep) = cfg.fit_transform(&a, &sheet).unwrap();
            let mut imputed = 0;
            for (i, id) in out.features().ids().iter().enumerate() {
                let src = a.features().position(id).unwrap();
                for j in 0..out.n_samples() {
                    let before = a.flags()[[src, j]];
                    let raw = a.values()[[src, j]];
                    let after = out.flags()[[i, j]];
                    if before == ValueFlag::Observed && raw > 0.0 {
                        prop_assert_eq!(after, ValueFlag::Observed);
                    } else if matches!(imp, ImputationParams::None(_)) {
                        prop_assert_eq!(after, ValueFlag::Missing);
                    } else {
                        prop_assert_eq!(after, ValueFlag::Imputed);
                        imputed += 1;
                    }
                }
            }
            prop_assert_eq!(rep.imputed_total(), imputed);
            let imp_step = rep.steps.iter().find(|s| s.stage == Stage::Imputation).unwrap();
            if imputed > 0 {
                prop_assert_eq!(imp_step.imputed_per_group.iter().map(|g| g.count).sum::<usize>(), imputed);
            }
        }

        /// A pipeline on a working copy it owns (filters compacting it, log2, median and the
        /// imputations rewriting it in place, `none` steps passing it on) gives what the
        /// pipeline on a borrowed layer gives, when fitted and when applied.
        #[test]
        fn working_in_place_gives_what_copies_give((vals, mask) in value_strategy(), which in 0usize..5) {
            let (a, sheet) = cohort(&vals, &mask, 25);
            for batch in [false, true] {
                let mut cfg = full_config(imputations()[which].clone(), NormalizationParams::Median(MedianParams::default()));
                if !batch {
                    cfg.batch_correction = BatchCorrectionParams::None(NoParams {});
                }
                let (fitted, out, rep) = cfg.fit_transform(&a, &sheet).unwrap();
                let (fitted_owned, out_owned, rep_owned) = cfg.fit_transform_owned(a.clone(), &sheet).unwrap();
                prop_assert_eq!(&fitted, &fitted_owned);
                prop_assert_eq!(&out, &out_owned);
                prop_assert_eq!(rep, rep_owned);
                let back = fitted.transform(&a, &sheet).unwrap();
                prop_assert_eq!(&back, &fitted.transform_owned(a.clone(), &sheet).unwrap());
            }
        }

        /// Imputation never changes an observed value: the values before and after the
        /// imputation step are bit-identical on observed cells.
        #[test]
        fn imputation_never_changes_observed((vals, mask) in value_strategy(), which in 1usize..5) {
            let (a, sheet) = cohort(&vals, &mask, 25);
            let pre = NormalizeConfig {
                filters: vec![FilterParams::ValidValues(ValidValuesParams { column: "source".into(), min_fraction: 0.5, ..Default::default() })],
                transform: TransformParams::Log2(Log2Params::default()),
                ..Default::default()
            };
            let (_, before, _) = pre.fit_transform(&a, &sheet).unwrap();
            let (_, after, _) = imputations()[which].fit_transform(&before, &sheet).unwrap();
            for ((i, j), f) in before.flags().indexed_iter() {
                if *f == ValueFlag::Observed {
                    prop_assert_eq!(after.values()[[i, j]].to_bits(), before.values()[[i, j]].to_bits());
                }
            }
        }

        /// Fitting on a subset and transforming the rest is the documented behaviour: the
        /// filters keep the features learned on the subset; median-normalized held-out samples
        /// sit on the learned level; per-sample imputations give a held-out sample exactly the
        /// values it gets when transformed with everyone; the fitted pipeline reproduces its own
        /// training output.
        #[test]
        fn fit_subset_transform_rest((vals, mask) in value_strategy(), which in 1usize..5) {
            let (a, sheet) = cohort(&vals, &mask, 25);
            // one held-out sample per batch, so every batch was seen by ComBat
            let train: Vec<usize> = (0..16).filter(|j| j % 4 != 3).collect();
            let test: Vec<usize> = (0..16).filter(|j| j % 4 == 3).collect();
            let cfg = full_config(imputations()[which].clone(), NormalizationParams::Median(MedianParams::default()));
            let (fitted, train_out, _) = cfg.fit_transform(&a.select_samples(&train), &sheet).unwrap();
            prop_assert_eq!(fitted.transform(&a.select_samples(&train), &sheet).unwrap(), train_out.clone());
            let test_out = fitted.transform(&a.select_samples(&test), &sheet).unwrap();
            prop_assert_eq!(test_out.features().ids(), train_out.features().ids());
            let all_out = fitted.transform(&a, &sheet).unwrap();
            for (k, &j) in test.iter().enumerate() {
                for i in 0..test_out.n_features() {
                    prop_assert_eq!(test_out.values()[[i, k]].to_bits(), all_out.values()[[i, j]].to_bits());
                    prop_assert_eq!(test_out.flags()[[i, k]], all_out.flags()[[i, j]]);
                }
            }
            // before imputation and batch correction, held-out medians equal the learned level
            let FittedNormalization::Median { level, .. } = fitted.normalization else { unreachable!() };
            let mut partial = fitted.clone();
            partial.imputation = FittedImputation::None;
            partial.batch_correction = FittedBatchCorrection::None;
            let normed = partial.transform(&a.select_samples(&test), &sheet).unwrap();
            for j in 0..normed.n_samples() {
                let m = num::median(&crate::step::column_values(&normed, j));
                prop_assert!((m - level).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn stochastic_imputations_are_byte_identical_on_rerun() {
        let vals: Vec<f64> = (0..50)
            .map(|k| 18.0 + ((k * 37) % 11) as f64 * 0.7)
            .collect();
        let mask: Vec<bool> = (0..17).map(|k| k % 4 == 0).collect();
        let (a, sheet) = cohort(&vals, &mask, 40);
        for imp in imputations().into_iter().skip(1) {
            let cfg = full_config(
                imp.clone(),
                NormalizationParams::Median(MedianParams::default()),
            );
            let (_, one, _) = cfg.fit_transform(&a, &sheet).unwrap();
            let (_, two, _) = cfg.fit_transform(&a, &sheet).unwrap();
            let bits = |x: &Assay| x.values().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&one), bits(&two), "{imp:?}");
            // a different seed changes the stochastic ones
            let reseeded = match imp {
                ImputationParams::DownShift(p) => {
                    Some(ImputationParams::DownShift(DownShiftParams {
                        seed: p.seed + 1,
                        ..p
                    }))
                }
                ImputationParams::Qrilc(p) => Some(ImputationParams::Qrilc(QrilcParams {
                    seed: p.seed + 1,
                    ..p
                })),
                _ => None,
            };
            if let Some(r) = reseeded {
                let (_, three, _) =
                    full_config(r, NormalizationParams::Median(MedianParams::default()))
                        .fit_transform(&a, &sheet)
                        .unwrap();
                assert_ne!(bits(&one), bits(&three));
            }
        }
    }

    /// A layer without variance (every value the same, a few missing) goes through every
    /// filter, normalization, imputation and ComBat without a panic: a result or an error that
    /// says what is wrong.
    #[test]
    fn zero_variance_layer_never_panics() {
        let (a, sheet) = cohort(&[20.0], &[false], 12);
        let mut cells = a.values().mapv(|_| Some(2f64.powi(20)));
        cells[[1, 3]] = None;
        cells[[4, 9]] = None;
        let a = Assay::from_options(
            "proteome",
            LayerKind::Proteome,
            ValueScale::Linear,
            a.features().clone(),
            a.samples().to_vec(),
            &cells,
        )
        .unwrap();
        let normalizations = [
            NormalizationParams::None(NoParams {}),
            NormalizationParams::Median(MedianParams::default()),
            NormalizationParams::Quantile(QuantileParams {}),
        ];
        for imp in imputations() {
            for norm in &normalizations {
                for filters in [vec![], vec![FilterParams::ZeroVariance(Default::default())]] {
                    let cfg = NormalizeConfig {
                        filters,
                        transform: TransformParams::Log2(Log2Params::default()),
                        normalization: norm.clone(),
                        imputation: imp.clone(),
                        batch_correction: BatchCorrectionParams::Combat(CombatParams::default()),
                        report_group: "source".into(),
                    };
                    if let Err(e) = cfg.fit_transform(&a, &sheet) {
                        assert!(!e.to_string().is_empty());
                    }
                }
            }
        }
    }

    #[test]
    fn config_parses_from_toml_with_defaults_and_rejects_typos() {
        let cfg: NormalizeConfig = toml::from_str(
            r#"
            filters = [
              { method = "contaminants" },
              { method = "valid_values", column = "source", min_fraction = 0.7 },
            ]
            transform = { method = "log2" }
            normalization = { method = "median" }
            imputation = { method = "down_shift", seed = 7 }
            batch_correction = { method = "combat", covariates = ["source"] }
            "#,
        )
        .unwrap();
        assert_eq!(cfg.filters.len(), 2);
        assert_eq!(cfg.report_group, "");
        assert!(
            matches!(cfg.imputation, ImputationParams::DownShift(DownShiftParams { seed: 7, width, .. }) if width == 0.3)
        );
        let BatchCorrectionParams::Combat(c) = &cfg.batch_correction else {
            panic!("combat expected")
        };
        assert_eq!(c.batch, "batch");
        assert!(c.parametric);
        let empty: NormalizeConfig = toml::from_str("").unwrap();
        assert_eq!(empty, NormalizeConfig::default());
        for bad in [
            "transfrom = { method = \"log2\" }",
            "transform = { method = \"log3\" }",
            "normalization = { method = \"tmm\", logratiotrim = 0.3 }",
            "batch_correction = { method = \"combat\", mod = [\"source\"] }",
            "transform = { method = \"log_cpm\", norm_factors = { method = \"rle\", p = 1 } }",
            "transform = { method = \"none\", pseudocount = 1 }",
            "batch_correction = { method = \"none\", batch = \"batch\" }",
            "imputation = { method = \"knn\", k = 5, seed = 1 }",
        ] {
            assert!(toml::from_str::<NormalizeConfig>(bad).is_err(), "{bad}");
        }
        let all: NormalizeConfig = toml::from_str(
            r#"
            transform = { method = "log_cpm", prior_count = 2, norm_factors = { method = "upper_quartile", p = 0.75 } }
            normalization = { method = "quantile" }
            imputation = { method = "knn", k = 5 }
            "#,
        )
        .unwrap();
        all.validate().unwrap();
    }

    #[test]
    fn config_validation_catches_bad_combinations_before_data() {
        let cfg = NormalizeConfig {
            transform: TransformParams::Log2(Log2Params::default()),
            normalization: NormalizationParams::Tmm(Default::default()),
            ..Default::default()
        };
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains("log_cpm"), "{e}");
        let cfg = NormalizeConfig {
            imputation: ImputationParams::DownShift(DownShiftParams {
                width: -1.0,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(cfg.validate().unwrap_err().to_string().contains("width"));
    }

    #[test]
    fn fitted_pipeline_round_trips_through_json() {
        let vals: Vec<f64> = (0..50)
            .map(|k| 18.0 + ((k * 37) % 11) as f64 * 0.7)
            .collect();
        let mask: Vec<bool> = (0..17).map(|k| k % 5 == 0).collect();
        let (a, sheet) = cohort(&vals, &mask, 30);
        let cfg = full_config(
            ImputationParams::Knn(KnnParams {
                k: 3,
                ..Default::default()
            }),
            NormalizationParams::Quantile(QuantileParams {}),
        );
        let (fitted, out, report) = cfg.fit_transform(&a, &sheet).unwrap();
        let json = serde_json::to_string(&fitted).unwrap();
        let back: FittedPipeline = serde_json::from_str(&json).unwrap();
        assert_eq!(back.transform(&a, &sheet).unwrap(), out);
        assert_eq!(report.steps.len(), 6);
        assert!(serde_json::to_string(&report)
            .unwrap()
            .contains("imputed_per_group"));
    }

    #[test]
    fn recommended_configs_validate() {
        for (k, s) in [
            (LayerKind::Proteome, ValueScale::Linear),
            (LayerKind::Proteome, ValueScale::Log2),
            (LayerKind::Mirna, ValueScale::Counts),
            (LayerKind::Other, ValueScale::Other),
        ] {
            NormalizeConfig::recommended(&k, s).validate().unwrap();
        }
    }
}
