//! Leakage-free cross-validation of potency predictors, nested hyperparameter tuning,
//! permutation tests, "is it just predicting source?" checks, feature importance and selection
//! stability, and learning curves.
//!
//! **Leakage guarantees.** For every split, the whole [`PreprocessConfig`] (each layer's
//! evomics-norm pipeline — filters, transform, normalization, imputation, batch correction —
//! then feature selection and scaling) is fitted on the training rows only and applied unchanged
//! to the test rows; hyperparameters are chosen by an inner cross-validation on the training rows
//! only (nested CV, Varma & Simon 2006, *BMC Bioinformatics* 7:91); group designs never put a
//! group (donor) on both sides of a split (checked after the splits are built). The fitted
//! preprocessing of every fold is returned so that this can be audited.

use std::collections::BTreeMap;

use evomics_core::rng::{derive_seed, seeded};
use evomics_core::SampleSheet;
use ndarray::{Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::conformal::{class_scores, residual_scores, ConformalCalibration};
use crate::cv::{fold_table, CvScheme, FoldAssignment, Split};
use crate::data::{group_labels, Dataset};
use crate::error::{data_err, ensure, Result};
use crate::metrics::{
    calibration_table, classification_metrics, regression_metrics, CalibrationBin, Metrics,
};
use crate::models::{FittedModel, Labels, ModelSpec, Output, PreparedFit};
use crate::preprocess::{FeatureRef, FittedPreprocess, PreprocessConfig};

/// Hyperparameter tuning by nested cross-validation: every candidate is scored by an inner CV
/// on the outer training rows (pooled ROC AUC for classes, pooled R² for numbers); the best
/// (the first on ties) is refitted on the outer training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tuning {
    /// Candidate models (e.g. a grid of λ), ≥ 1.
    pub candidates: Vec<ModelSpec>,
    /// The inner design (its groups come from the same sheet column as the outer one's, if any).
    pub inner: CvScheme,
}

/// Everything that defines how a potency model is trained and validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Preprocessing fitted inside every training fold.
    #[serde(default)]
    pub preprocess: PreprocessConfig,
    /// The model (ignored when `tuning` is set).
    pub model: ModelSpec,
    /// The cross-validation design.
    pub cv: CvScheme,
    /// Optional nested tuning.
    #[serde(default)]
    pub tuning: Option<Tuning>,
    /// Seed of the splits, the model seeds and the permutations.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Repeats of permutation importance on each test fold (0: off, the default; costs one
    /// prediction per feature and repeat).
    #[serde(default)]
    pub permutation_importance: usize,
    /// Size of the per-fold top list counted in `top_frequency` (default 20).
    #[serde(default = "default_top")]
    pub top_features: usize,
    /// Error rate of the conformal calibration kept from the CV (default 0.1).
    #[serde(default = "default_alpha")]
    pub conformal_alpha: f64,
}

fn default_seed() -> u64 {
    20240601
}
fn default_top() -> usize {
    20
}
fn default_alpha() -> f64 {
    0.1
}

impl TrainConfig {
    /// A config with defaults around a model, preprocessing and design.
    pub fn new(preprocess: PreprocessConfig, model: ModelSpec, cv: CvScheme) -> TrainConfig {
        TrainConfig {
            preprocess,
            model,
            cv,
            tuning: None,
            seed: default_seed(),
            permutation_importance: 0,
            top_features: default_top(),
            conformal_alpha: default_alpha(),
        }
    }

    /// Check everything before data are read.
    pub fn validate(&self) -> Result<()> {
        self.preprocess.validate()?;
        self.model.validate()?;
        self.cv.validate()?;
        if let Some(t) = &self.tuning {
            ensure(!t.candidates.is_empty(), "tuning", "candidates", || {
                "is empty; list at least one model".into()
            })?;
            for c in &t.candidates {
                c.validate()?;
            }
            t.inner.validate()?;
        }
        ensure(self.top_features >= 1, "train", "top_features", || {
            "is 0".into()
        })?;
        let a = self.conformal_alpha;
        ensure(a > 0.0 && a < 1.0, "train", "conformal_alpha", || {
            format!("is {a}; use an error rate in (0, 1), e.g. 0.1 for 90 % coverage")
        })
    }
}

/// One row of the predictions table (`predictions.tsv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionRow {
    /// Sample id.
    pub sample_id: String,
    /// Repeat (0 for a final model's predictions).
    pub repeat: usize,
    /// Fold (0 for a final model's predictions).
    pub fold: usize,
    /// True value (class name or number), when known.
    pub truth: Option<String>,
    /// Predicted class name or number.
    pub predicted: String,
    /// Class probabilities in class order (empty for numbers).
    pub probabilities: Vec<f64>,
}

/// Metrics of one test fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldMetrics {
    /// Repeat, from 1.
    pub repeat: usize,
    /// Fold, from 1.
    pub fold: usize,
    /// Training samples.
    pub n_train: usize,
    /// Test samples.
    pub n_test: usize,
    /// Model input features after preprocessing and selection.
    pub n_features: usize,
    /// The metrics.
    pub metrics: Metrics,
    /// The model used (the tuned choice under nested CV).
    pub model: ModelSpec,
}

/// Mean and spread of one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// Metric name.
    pub name: String,
    /// Mean over folds (folds where it is undefined are skipped).
    pub fold_mean: Option<f64>,
    /// Sample standard deviation over folds.
    pub fold_sd: Option<f64>,
    /// Mean over repeats of the metric of the pooled out-of-fold predictions.
    pub pooled: Option<f64>,
}

/// Importance and selection stability of one feature over the folds (`importance.tsv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportanceRow {
    /// The feature.
    pub feature: FeatureRef,
    /// Mean built-in importance over folds (0 in folds where it was not selected).
    pub mean_importance: f64,
    /// Sample standard deviation of it.
    pub sd_importance: f64,
    /// Share of folds whose preprocessing kept the feature.
    pub selection_frequency: f64,
    /// Share of folds in which the model used it (non-zero coefficient or importance).
    pub nonzero_frequency: f64,
    /// Share of folds in which it was among the `top_features` most important.
    pub top_frequency: f64,
    /// Mean decrease of the headline metric when the feature is permuted in the test fold.
    pub permutation_importance: Option<f64>,
}

/// A feature's importance in one fold.
#[derive(Debug, Clone)]
struct FoldImportance {
    value: f64,
    nonzero: bool,
    top: bool,
    permutation: Option<f64>,
}

/// One fold's fitted preprocessing and model, kept for audits and CV+.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldFit {
    /// Repeat.
    pub repeat: usize,
    /// Fold.
    pub fold: usize,
    /// Training rows (indices into the data set).
    pub train: Vec<usize>,
    /// Test rows.
    pub test: Vec<usize>,
    /// Fitted preprocessing.
    pub preprocess: FittedPreprocess,
    /// Fitted model.
    pub model: FittedModel,
}

/// The outcome of [`cross_validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvReport {
    /// Target column.
    pub target: String,
    /// Class names (empty for numbers).
    pub classes: Vec<String>,
    /// Fold assignments of every sample.
    pub folds: Vec<FoldAssignment>,
    /// Out-of-fold predictions.
    pub predictions: Vec<PredictionRow>,
    /// Metrics per test fold.
    pub fold_metrics: Vec<FoldMetrics>,
    /// Metrics of the pooled out-of-fold predictions, per repeat.
    pub pooled_metrics: Vec<Metrics>,
    /// Every metric summarized.
    pub summary: Vec<MetricSummary>,
    /// Feature importance and stability, most important first.
    pub importance: Vec<ImportanceRow>,
    /// Calibration of the pooled out-of-fold positive-class probabilities (two classes).
    pub calibration: Vec<CalibrationBin>,
    /// Conformal calibration from the out-of-fold scores of repeat 1.
    pub conformal: ConformalCalibration,
    /// Fitted preprocessing and model of every fold.
    pub fits: Vec<FoldFit>,
}

impl CvReport {
    /// A summarized metric by name.
    pub fn metric(&self, name: &str) -> Option<&MetricSummary> {
        self.summary.iter().find(|m| m.name == name)
    }

    /// Pooled headline metric (ROC AUC or R²), mean over repeats.
    pub fn pooled_primary(&self) -> Option<f64> {
        let name = self.pooled_metrics.first()?.primary_name();
        self.metric(name)?.pooled
    }
}

fn metrics_of(labels: &Labels, out: &Output) -> Metrics {
    match (labels, out) {
        (Labels::Classes { y, .. }, Output::Probabilities { p }) => {
            Metrics::Classification(classification_metrics(y, p.view()))
        }
        (Labels::Numeric { y }, Output::Values { y: pred }) => {
            Metrics::Regression(regression_metrics(y, pred))
        }
        _ => Metrics::Regression(regression_metrics(&[], &[])),
    }
}

/// The groups of the design's group column for the data set's samples.
fn design_groups(
    cv: &CvScheme,
    data: &Dataset,
    sheet: &SampleSheet,
) -> Result<Option<Vec<String>>> {
    cv.group_column()
        .map(|c| group_labels(sheet, c, &data.sample_ids))
        .transpose()
}

/// Fit preprocessing and model on `train` rows and predict `test` rows.
#[allow(clippy::too_many_arguments)]
fn fit_predict(
    data: &Dataset,
    labels: &Labels,
    sheet: &SampleSheet,
    pre: &PreprocessConfig,
    model: &ModelSpec,
    train: &[usize],
    test: &[usize],
) -> Result<(FittedPreprocess, FittedModel, Output)> {
    let train_labels = labels.select(train);
    let (fp, xtr) = pre.fit(&data.layers, sheet, train, &train_labels)?;
    let fm = model.fit_owned(xtr, &train_labels)?;
    let xte = fp.transform(&data.layers, sheet, test)?;
    let out = fm.predict(xte.view())?;
    Ok((fp, fm, out))
}

/// Fit every model of `specs` on one training matrix, in `specs` order, except that the one
/// that can use the matrix itself ([`ModelSpec::uses_owned_matrix`]) is fitted after the
/// others have read it and takes it instead of a copy, and that the others' work that does not
/// read it (a random forest's trees, [`ModelSpec::prepare`]) runs after that, once the matrix
/// is freed. The fitted models are independent of the order (each has its own seed), so this
/// only lowers the peak memory.
fn fit_sharing(specs: &[ModelSpec], x: Array2<f64>, labels: &Labels) -> Result<Vec<FittedModel>> {
    prepare_sharing(specs, x, labels)?
        .into_iter()
        .map(PreparedFit::finish)
        .collect()
}

/// The part of [`fit_sharing`] that reads the matrix: every model fitted or prepared, in
/// `specs` order, and the matrix freed; what is left ([`PreparedFit::finish`]) does not read it.
fn prepare_sharing(
    specs: &[ModelSpec],
    x: Array2<f64>,
    labels: &Labels,
) -> Result<Vec<PreparedFit>> {
    let owner = specs.iter().rposition(ModelSpec::uses_owned_matrix);
    let mut prepared: Vec<PreparedFit> = specs
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != owner)
        .map(|(_, spec)| spec.prepare(x.view(), labels))
        .collect::<Result<_>>()?;
    match owner {
        Some(i) => prepared.insert(i, PreparedFit::Fitted(specs[i].fit_owned(x, labels)?)),
        None => drop(x),
    }
    Ok(prepared)
}

/// One model matrix at a time among the folds of a cross-validation.
///
/// Folds run side by side. Each builds a model matrix (its preprocessing), fits the elastic net
/// on it and bins it for the forest; only then is the matrix freed, and the forest's trees grow
/// from the bins alone. With a gate, those matrix phases take turns (a fold's trees grow while
/// the next fold builds its matrix), so at most one model matrix is alive and the peak memory
/// is one matrix lower per extra worker, for a little less overlap. Results do not depend on
/// it: every fold has its own seeds and the results are merged in split order.
///
/// The gate is held only by threads started for it, never by a rayon worker: a rayon worker
/// waiting on its own parallel loop can pick up another fold, which would then wait for the gate
/// that worker holds. Called from a rayon worker, a cross-validation ignores its gate.
#[derive(Debug, Default)]
pub struct MatrixGate(std::sync::Mutex<()>);

impl MatrixGate {
    /// An open gate.
    pub fn new() -> MatrixGate {
        MatrixGate::default()
    }

    /// Wait for the gate and hold it until the guard is dropped.
    fn enter(&self) -> std::sync::MutexGuard<'_, ()> {
        // The guarded data is `()`, so a panic elsewhere leaves nothing to repair.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Hold `gate`, if any, until the guard is dropped.
fn enter(gate: Option<&MatrixGate>) -> Option<std::sync::MutexGuard<'_, ()>> {
    gate.map(MatrixGate::enter)
}

/// `f(0)`, …, `f(n - 1)` on `workers` plain threads started here (each takes the next index),
/// returned in index order. After an error no new index is taken, and the error of the smallest
/// failing index is returned: every index below a failing one was taken before it, so that is
/// the error a loop in index order would meet first, whatever the thread count. A worker's panic
/// is resumed on the caller.
fn on_threads<T: Send>(
    n: usize,
    workers: usize,
    f: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (next, failed) = (AtomicUsize::new(0), AtomicBool::new(false));
    let workers = workers.clamp(1, n.max(1));
    let parts: Vec<Vec<(usize, Result<T>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (next, failed, f) = (&next, &failed, &f);
                s.spawn(move || {
                    let mut out = Vec::new();
                    while !failed.load(Ordering::SeqCst) {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= n {
                            break;
                        }
                        let r = f(i);
                        if r.is_err() {
                            failed.store(true, Ordering::SeqCst);
                        }
                        out.push((i, r));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut slots: Vec<Option<Result<T>>> = (0..n).map(|_| None).collect();
    for (i, r) in parts.into_iter().flatten() {
        slots[i] = Some(r);
    }
    let mut out = Vec::with_capacity(n);
    for slot in slots {
        match slot {
            Some(r) => out.push(r?),
            // Reached only past a failing index, whose error was returned above.
            None => return Err(data_err("parallel run", "a task was not run")),
        }
    }
    Ok(out)
}

/// Place fold outputs into a full-length output (rows in data-set order).
struct Pooled {
    probs: Option<Array2<f64>>,
    values: Vec<f64>,
    filled: Vec<bool>,
}

impl Pooled {
    fn new(labels: &Labels, n: usize) -> Pooled {
        let probs = match labels {
            Labels::Classes { n_classes, .. } => Some(Array2::zeros((n, (*n_classes).max(2)))),
            Labels::Numeric { .. } => None,
        };
        Pooled {
            probs,
            values: vec![0.0; n],
            filled: vec![false; n],
        }
    }

    fn put(&mut self, rows: &[usize], out: &Output) {
        for (r, &i) in rows.iter().enumerate() {
            match out {
                Output::Probabilities { p } => {
                    if let Some(pp) = self.probs.as_mut() {
                        pp.row_mut(i).assign(&p.row(r));
                    }
                }
                Output::Values { y } => self.values[i] = y[r],
            }
            self.filled[i] = true;
        }
    }

    fn output(&self) -> (Vec<usize>, Output) {
        let rows: Vec<usize> = (0..self.filled.len()).filter(|&i| self.filled[i]).collect();
        let out = match &self.probs {
            Some(p) => Output::Probabilities {
                p: p.select(Axis(0), &rows),
            },
            None => Output::Values {
                y: rows.iter().map(|&i| self.values[i]).collect(),
            },
        };
        (rows, out)
    }
}

/// The settings every model of a cross-validation shares.
struct Common<'a> {
    preprocess: &'a PreprocessConfig,
    cv: &'a CvScheme,
    seed: u64,
    permutation_importance: usize,
    top_features: usize,
    conformal_alpha: f64,
}

impl<'a> Common<'a> {
    fn of(config: &'a TrainConfig) -> Common<'a> {
        Common {
            preprocess: &config.preprocess,
            cv: &config.cv,
            seed: config.seed,
            permutation_importance: config.permutation_importance,
            top_features: config.top_features,
            conformal_alpha: config.conformal_alpha,
        }
    }

    fn of_multi(config: &'a MultiTrainConfig) -> Common<'a> {
        Common {
            preprocess: &config.preprocess,
            cv: &config.cv,
            seed: config.seed,
            permutation_importance: config.permutation_importance,
            top_features: config.top_features,
            conformal_alpha: config.conformal_alpha,
        }
    }
}

/// A model of the shared-fold engine: its spec and optional tuning.
#[derive(Clone, Copy)]
struct ModelRef<'a> {
    model: &'a ModelSpec,
    tuning: Option<&'a Tuning>,
}

/// Choose the model of every tuned entry by inner CV on `train` rows. Models whose tunings
/// share an inner design share the inner splits and one fitted preprocessing per inner split;
/// candidate c of an entry is scored exactly as a lone tuning would score it (same inner
/// splits, same seeds), so sharing changes no result.
#[allow(clippy::too_many_arguments)]
fn tune_shared(
    data: &Dataset,
    labels: &Labels,
    sheet: &SampleSheet,
    pre: &PreprocessConfig,
    models: &[ModelRef<'_>],
    train: &[usize],
    seed: u64,
    gate: Option<&MatrixGate>,
) -> Result<Vec<ModelSpec>> {
    let mut chosen: Vec<Option<ModelSpec>> = models
        .iter()
        .map(|m| m.tuning.is_none().then(|| m.model.clone()))
        .collect();
    let sub_labels = labels.select(train);
    // Distinct inner designs, in model order.
    let mut designs: Vec<&CvScheme> = Vec::new();
    for m in models {
        if let Some(t) = m.tuning {
            if !designs.contains(&&t.inner) {
                designs.push(&t.inner);
            }
        }
    }
    for design in designs {
        let users: Vec<usize> = (0..models.len())
            .filter(|&i| models[i].tuning.is_some_and(|t| &t.inner == design))
            .collect();
        let groups = design_groups(design, data, sheet)?
            .map(|g| train.iter().map(|&i| g[i].clone()).collect::<Vec<_>>());
        let inner = design.splits(
            &sub_labels,
            &data.classes,
            groups.as_deref(),
            derive_seed(seed, "inner"),
        )?;
        // pooled[u][c]: out-of-fold predictions of candidate c of user u.
        let mut pooled: Vec<Vec<Pooled>> = users
            .iter()
            .map(|&i| models[i].tuning.map_or(0, |t| t.candidates.len()))
            .map(|nc| {
                (0..nc)
                    .map(|_| Pooled::new(labels, data.n_samples()))
                    .collect()
            })
            .collect();
        for s in inner.iter().filter(|s| s.repeat == 1) {
            let tr: Vec<usize> = s.train.iter().map(|&i| train[i]).collect();
            let te: Vec<usize> = s.test.iter().map(|&i| train[i]).collect();
            let tr_labels = labels.select(&tr);
            let _turn = enter(gate);
            let (fp, xtr) = pre.fit(&data.layers, sheet, &tr, &tr_labels)?;
            // (user, candidate) of every fit on this split, in order.
            let slots: Vec<(usize, usize, ModelSpec)> = users
                .iter()
                .enumerate()
                .flat_map(|(u, &i)| {
                    let t = models[i].tuning.expect("users have a tuning");
                    t.candidates.iter().enumerate().map(move |(c, cand)| {
                        let seed = derive_seed(seed, &format!("inner/{c}/{}", s.fold));
                        (u, c, cand.with_seed(seed))
                    })
                })
                .collect();
            let specs: Vec<ModelSpec> = slots.iter().map(|(_, _, m)| m.clone()).collect();
            let fitted = fit_sharing(&specs, xtr, &tr_labels)?;
            let xte = fp.transform(&data.layers, sheet, &te)?;
            for ((u, c, _), fm) in slots.iter().zip(&fitted) {
                pooled[*u][*c].put(&te, &fm.predict(xte.view())?);
            }
        }
        for (u, &i) in users.iter().enumerate() {
            let t = models[i].tuning.expect("users have a tuning");
            let mut best: Option<(f64, &ModelSpec)> = None;
            for (c, cand) in t.candidates.iter().enumerate() {
                let (rows, out) = pooled[u][c].output();
                let score = metrics_of(&labels.select(&rows), &out)
                    .primary()
                    .unwrap_or(f64::NEG_INFINITY);
                if best.as_ref().is_none_or(|(b, _)| score > *b) {
                    best = Some((score, cand));
                }
            }
            chosen[i] = best.map(|(_, m)| m.clone());
        }
    }
    chosen
        .into_iter()
        .map(|c| c.ok_or_else(|| data_err("tuning", "no candidate could be scored")))
        .collect()
}

/// One model's outcome on one fold: the (tuned) model spec, fitted model, test-part output
/// and metrics, and the permutation importance when asked for.
struct FoldRun {
    model: ModelSpec,
    fm: FittedModel,
    out: Output,
    metrics: Metrics,
    permutation: Option<Vec<f64>>,
}

/// Tune (when asked), fit and evaluate every model on one split, on one fitted preprocessing.
fn fit_fold(
    data: &Dataset,
    labels: &Labels,
    sheet: &SampleSheet,
    common: &Common<'_>,
    models: &[ModelRef<'_>],
    s: &Split,
    gate: Option<&MatrixGate>,
) -> Result<(FittedPreprocess, Vec<FoldRun>)> {
    let seed = derive_seed(common.seed, &format!("fold/{}/{}", s.repeat, s.fold));
    let specs = tune_shared(
        data,
        labels,
        sheet,
        common.preprocess,
        models,
        &s.train,
        seed,
        gate,
    )?;
    let train_labels = labels.select(&s.train);
    let test_labels = labels.select(&s.test);
    let specs: Vec<ModelSpec> = specs
        .iter()
        .map(|spec| spec.with_seed(derive_seed(seed, "model")))
        .collect();
    let (fp, prepared) = {
        let _turn = enter(gate);
        let (fp, xtr) = common
            .preprocess
            .fit(&data.layers, sheet, &s.train, &train_labels)?;
        (fp, prepare_sharing(&specs, xtr, &train_labels)?)
    };
    let fitted = prepared
        .into_iter()
        .map(PreparedFit::finish)
        .collect::<Result<Vec<_>>>()?;
    // The held-out matrix is built once the training matrix is gone.
    let xte = fp.transform(&data.layers, sheet, &s.test)?;
    let mut runs = Vec::with_capacity(models.len());
    for (model, fm) in specs.into_iter().zip(fitted) {
        let out = fm.predict(xte.view())?;
        let metrics = metrics_of(&test_labels, &out);
        let permutation = if common.permutation_importance > 0 {
            Some(permutation_importance(
                &fm,
                xte.view(),
                &test_labels,
                common.permutation_importance,
                derive_seed(seed, "perm-importance"),
            )?)
        } else {
            None
        };
        runs.push(FoldRun {
            model,
            fm,
            out,
            metrics,
            permutation,
        });
    }
    Ok((fp, runs))
}

/// Cross-validate a potency model on a data set (see the module docs for the guarantees).
pub fn cross_validate(
    data: &Dataset,
    sheet: &SampleSheet,
    config: &TrainConfig,
) -> Result<CvReport> {
    cross_validate_with_labels(data, &data.labels, sheet, config)
}

/// [`cross_validate`] with other target values for the same samples (e.g. permuted labels):
/// the layers are read from `data` and never copied, so a permutation costs no copy of the
/// feature data.
pub fn cross_validate_with_labels(
    data: &Dataset,
    labels: &Labels,
    sheet: &SampleSheet,
    config: &TrainConfig,
) -> Result<CvReport> {
    cross_validate_gated(data, labels, sheet, config, None)
}

/// [`cross_validate_with_labels`] whose folds build their model matrices one at a time when
/// `gate` is given ([`MatrixGate`]; the same report either way).
pub fn cross_validate_gated(
    data: &Dataset,
    labels: &Labels,
    sheet: &SampleSheet,
    config: &TrainConfig,
    gate: Option<&MatrixGate>,
) -> Result<CvReport> {
    config.validate()?;
    config.model.check_target(labels)?;
    if labels.len() != data.n_samples() {
        return Err(data_err(
            "cross-validation",
            format!("{} labels for {} samples", labels.len(), data.n_samples()),
        ));
    }
    let models = [ModelRef {
        model: &config.model,
        tuning: config.tuning.as_ref(),
    }];
    let mut reports = run_shared_folds(data, labels, sheet, &Common::of(config), &models, gate)?;
    reports
        .pop()
        .ok_or_else(|| data_err("cross-validation", "no model was evaluated"))
}

/// One model of a multi-model cross-validation ([`MultiTrainConfig`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Name of the model in the comparison (unique), e.g. `enet` or `forest`.
    pub name: String,
    /// The model (ignored when `tuning` is set).
    pub model: ModelSpec,
    /// Optional nested tuning of this model (its own candidates and inner design).
    #[serde(default)]
    pub tuning: Option<Tuning>,
}

/// How the model of a multi-model cross-validation is chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "by", content = "name", rename_all = "snake_case")]
pub enum ModelChoice {
    /// The best pooled headline metric (ROC AUC for classes, R² for numbers).
    #[default]
    Primary,
    /// The best pooled value of a named metric (`roc_auc`, `pr_auc`, `balanced_accuracy`,
    /// `mcc`, `brier`, `accuracy`, `r2`, `rmse`, `mae`, `spearman`); lower is better for
    /// `brier`, `rmse` and `mae`.
    Metric(String),
    /// The named model, whatever its scores.
    Model(String),
}

/// Several models cross-validated on one fold assignment with one fitted preprocessing per
/// fold (see [`cross_validate_models`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiTrainConfig {
    /// Preprocessing fitted inside every training fold, shared by every model.
    #[serde(default)]
    pub preprocess: PreprocessConfig,
    /// The models, ≥ 1, with unique names.
    pub models: Vec<ModelEntry>,
    /// The cross-validation design.
    pub cv: CvScheme,
    /// Seed of the splits, the model seeds and the permutations.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Repeats of permutation importance on each test fold (0: off).
    #[serde(default)]
    pub permutation_importance: usize,
    /// Size of the per-fold top list counted in `top_frequency` (default 20).
    #[serde(default = "default_top")]
    pub top_features: usize,
    /// Error rate of the conformal calibrations kept from the CV (default 0.1).
    #[serde(default = "default_alpha")]
    pub conformal_alpha: f64,
    /// How the selected model is chosen (default: best pooled headline metric).
    #[serde(default)]
    pub choose: ModelChoice,
}

impl MultiTrainConfig {
    /// Check everything before data are read.
    pub fn validate(&self) -> Result<()> {
        ensure(!self.models.is_empty(), "train", "models", || {
            "is empty; list at least one model".into()
        })?;
        let mut names = std::collections::BTreeSet::new();
        for m in &self.models {
            ensure(!m.name.is_empty(), "train", "models", || {
                "a model has an empty name; name every model".into()
            })?;
            ensure(names.insert(m.name.as_str()), "train", "models", || {
                format!(
                    "the name '{}' is used twice; give every model its own name",
                    m.name
                )
            })?;
        }
        for i in 0..self.models.len() {
            self.model_config(i).validate()?;
        }
        match &self.choose {
            ModelChoice::Primary => Ok(()),
            ModelChoice::Metric(m) => ensure(
                METRIC_NAMES.contains(&m.as_str()),
                "train",
                "choose",
                || {
                    format!(
                        "metric '{m}' is unknown; use one of {}",
                        METRIC_NAMES.join(", ")
                    )
                },
            ),
            ModelChoice::Model(m) => ensure(names.contains(m.as_str()), "train", "choose", || {
                format!(
                    "model '{m}' is not among the models ({})",
                    names.iter().copied().collect::<Vec<_>>().join(", ")
                )
            }),
        }
    }

    /// The model `select` names (its index), when it names one: the choice is then made
    /// before the cross-validation, not by it.
    pub fn named_choice(&self) -> Option<usize> {
        match &self.choose {
            ModelChoice::Model(name) => self.models.iter().position(|m| &m.name == name),
            _ => None,
        }
    }

    /// The single-model config of model `i` (what [`cross_validate`] and
    /// [`crate::persist::train_final`] take).
    pub fn model_config(&self, i: usize) -> TrainConfig {
        let m = &self.models[i];
        TrainConfig {
            preprocess: self.preprocess.clone(),
            model: m.model.clone(),
            cv: self.cv.clone(),
            tuning: m.tuning.clone(),
            seed: self.seed,
            permutation_importance: self.permutation_importance,
            top_features: self.top_features,
            conformal_alpha: self.conformal_alpha,
        }
    }
}

impl TrainConfig {
    /// This config as a multi-model config with one model named after the model.
    pub fn to_multi(&self) -> MultiTrainConfig {
        MultiTrainConfig {
            preprocess: self.preprocess.clone(),
            models: vec![ModelEntry {
                name: self.model.name().to_string(),
                model: self.model.clone(),
                tuning: self.tuning.clone(),
            }],
            cv: self.cv.clone(),
            seed: self.seed,
            permutation_importance: self.permutation_importance,
            top_features: self.top_features,
            conformal_alpha: self.conformal_alpha,
            choose: ModelChoice::Primary,
        }
    }
}

/// Every metric name a report can carry.
const METRIC_NAMES: [&str; 10] = [
    "roc_auc",
    "pr_auc",
    "balanced_accuracy",
    "mcc",
    "brier",
    "accuracy",
    "r2",
    "rmse",
    "mae",
    "spearman",
];

/// True when a smaller value of the metric is better.
pub fn lower_is_better(metric: &str) -> bool {
    matches!(metric, "brier" | "rmse" | "mae")
}

/// One split's values of a metric for two models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedFold {
    /// Repeat, from 1.
    pub repeat: usize,
    /// Fold, from 1.
    pub fold: usize,
    /// Model A's value.
    pub a: f64,
    /// Model B's value.
    pub b: f64,
    /// A − B.
    pub difference: f64,
}

/// Two models compared on the same splits by one metric, with the corrected resampled t-test
/// of Nadeau & Bengio (2003, *Mach Learn* 52:239): with J splits, per-split differences d_j of
/// mean d̄ and sample variance s², `t = d̄ / √((1/J + n_test/n_train) · s²)` on J − 1 degrees
/// of freedom, two-sided. The n_test/n_train term corrects the variance for the overlap of the
/// training parts, which the plain paired t-test ignores (and so rejects far too often).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedComparison {
    /// Model A.
    pub model_a: String,
    /// Model B.
    pub model_b: String,
    /// The metric.
    pub metric: String,
    /// The splits where both values are defined, in split order.
    pub folds: Vec<PairedFold>,
    /// Mean of the differences A − B.
    pub mean_difference: Option<f64>,
    /// Sample standard deviation of the differences.
    pub sd_difference: Option<f64>,
    /// Mean n_test / n_train over the splits used.
    pub test_train_ratio: f64,
    /// The corrected t statistic (undefined with fewer than 2 splits or identical differences).
    pub t: Option<f64>,
    /// Degrees of freedom, J − 1.
    pub df: usize,
    /// Two-sided p-value of the corrected t.
    pub p_value: Option<f64>,
}

/// The outcome of [`cross_validate_models`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiCvReport {
    /// Model names, in config order.
    pub models: Vec<String>,
    /// One report per model, in config order; all share the folds and the fitted
    /// preprocessing of every split.
    pub reports: Vec<CvReport>,
    /// Every pair (A before B in config order) compared on every metric the reports carry.
    pub comparisons: Vec<PairedComparison>,
    /// Index of the chosen model.
    pub selected: usize,
    /// How it was chosen, e.g. `pooled roc_auc (higher is better)` or `named: forest`.
    pub selected_by: String,
}

impl MultiCvReport {
    /// The report of the chosen model.
    pub fn selected_report(&self) -> &CvReport {
        &self.reports[self.selected]
    }

    /// The report of a model by name.
    pub fn report(&self, name: &str) -> Option<&CvReport> {
        self.models
            .iter()
            .position(|m| m == name)
            .map(|i| &self.reports[i])
    }

    /// The comparisons of one metric.
    pub fn comparisons_of<'a>(
        &'a self,
        metric: &'a str,
    ) -> impl Iterator<Item = &'a PairedComparison> + 'a {
        self.comparisons.iter().filter(move |c| c.metric == metric)
    }
}

/// Cross-validate several models on one fold assignment, with one fitted preprocessing per
/// split shared by every model (and, for tuned models with the same inner design, one per inner
/// split): per-model reports, paired per-fold comparisons with the corrected resampled t-test
/// for every pair and metric, and the model chosen as `config.choose` says.
///
/// Model i's report equals `cross_validate` of `config.model_config(i)` bit for bit: the
/// splits, seeds and fitted preprocessing are the same, only computed once.
pub fn cross_validate_models(
    data: &Dataset,
    sheet: &SampleSheet,
    config: &MultiTrainConfig,
) -> Result<MultiCvReport> {
    cross_validate_models_gated(data, sheet, config, None)
}

/// [`cross_validate_models`] whose folds build their model matrices one at a time when `gate`
/// is given ([`MatrixGate`]; the same report either way).
pub fn cross_validate_models_gated(
    data: &Dataset,
    sheet: &SampleSheet,
    config: &MultiTrainConfig,
    gate: Option<&MatrixGate>,
) -> Result<MultiCvReport> {
    config.validate()?;
    for m in &config.models {
        m.model.check_target(&data.labels)?;
        if let Some(t) = &m.tuning {
            for c in &t.candidates {
                c.check_target(&data.labels)?;
            }
        }
    }
    let models: Vec<ModelRef<'_>> = config
        .models
        .iter()
        .map(|m| ModelRef {
            model: &m.model,
            tuning: m.tuning.as_ref(),
        })
        .collect();
    let reports = run_shared_folds(
        data,
        &data.labels,
        sheet,
        &Common::of_multi(config),
        &models,
        gate,
    )?;
    let names: Vec<String> = config.models.iter().map(|m| m.name.clone()).collect();
    let mut comparisons = Vec::new();
    let metric_names: Vec<&'static str> = reports
        .first()
        .and_then(|r| r.fold_metrics.first())
        .map(|f| f.metrics.named().into_iter().map(|(n, _)| n).collect())
        .unwrap_or_default();
    for a in 0..reports.len() {
        for b in a + 1..reports.len() {
            for (k, metric) in metric_names.iter().enumerate() {
                comparisons.push(compare_pair(
                    &names[a],
                    &names[b],
                    &reports[a],
                    &reports[b],
                    metric,
                    k,
                ));
            }
        }
    }
    let (selected, selected_by) = match &config.choose {
        ModelChoice::Model(name) => (config.named_choice().unwrap_or(0), format!("named: {name}")),
        choice => {
            let metric = match choice {
                ModelChoice::Metric(m) => m.clone(),
                _ => reports
                    .first()
                    .and_then(|r| r.pooled_metrics.first())
                    .map_or("roc_auc", |m| m.primary_name())
                    .to_string(),
            };
            let lower = lower_is_better(&metric);
            let value = |r: &CvReport| {
                r.metric(&metric)
                    .and_then(|m| m.pooled.or(m.fold_mean))
                    .filter(|v| v.is_finite())
            };
            let mut best: Option<(usize, f64)> = None;
            for (i, r) in reports.iter().enumerate() {
                if let Some(v) = value(r) {
                    let better = match best {
                        None => true,
                        Some((_, b)) => (lower && v < b) || (!lower && v > b),
                    };
                    if better {
                        best = Some((i, v));
                    }
                }
            }
            let Some((i, _)) = best else {
                return Err(data_err(
                    "model choice",
                    format!("no model has a defined '{metric}'; choose by another metric or name a model"),
                ));
            };
            (
                i,
                format!(
                    "pooled {metric} ({} is better)",
                    if lower { "lower" } else { "higher" }
                ),
            )
        }
    };
    Ok(MultiCvReport {
        models: names,
        reports,
        comparisons,
        selected,
        selected_by,
    })
}

/// Paired comparison of metric `k` (name `metric`) between two reports on the same splits.
/// Two cross-validations of the same data on the same splits (same seed and design) compared
/// on `metric` by the corrected resampled t-test ([`PairedComparison`]); `None` when the
/// reports do not carry the metric.
pub fn compare_reports(
    name_a: &str,
    name_b: &str,
    a: &CvReport,
    b: &CvReport,
    metric: &str,
) -> Option<PairedComparison> {
    let k = a
        .fold_metrics
        .first()?
        .metrics
        .named()
        .iter()
        .position(|(n, _)| *n == metric)?;
    Some(compare_pair(name_a, name_b, a, b, metric, k))
}

fn compare_pair(
    name_a: &str,
    name_b: &str,
    a: &CvReport,
    b: &CvReport,
    metric: &str,
    k: usize,
) -> PairedComparison {
    let mut folds = Vec::new();
    let mut ratio = 0.0;
    for (fa, fb) in a.fold_metrics.iter().zip(&b.fold_metrics) {
        let (va, vb) = (fa.metrics.named()[k].1, fb.metrics.named()[k].1);
        if va.is_finite() && vb.is_finite() {
            folds.push(PairedFold {
                repeat: fa.repeat,
                fold: fa.fold,
                a: va,
                b: vb,
                difference: va - vb,
            });
            ratio += fa.n_test as f64 / fa.n_train.max(1) as f64;
        }
    }
    let j = folds.len();
    let ratio = if j > 0 { ratio / j as f64 } else { 0.0 };
    let (t, p) = corrected_resampled_t(
        &folds.iter().map(|f| f.difference).collect::<Vec<_>>(),
        ratio,
    );
    let mean = (j > 0).then(|| folds.iter().map(|f| f.difference).sum::<f64>() / j as f64);
    let sd = mean.filter(|_| j > 1).map(|m| {
        (folds
            .iter()
            .map(|f| (f.difference - m) * (f.difference - m))
            .sum::<f64>()
            / (j - 1) as f64)
            .sqrt()
    });
    PairedComparison {
        model_a: name_a.to_string(),
        model_b: name_b.to_string(),
        metric: metric.to_string(),
        folds,
        mean_difference: mean,
        sd_difference: sd,
        test_train_ratio: ratio,
        t,
        df: j.saturating_sub(1),
        p_value: p,
    }
}

/// The corrected resampled t statistic and its two-sided p-value (Nadeau & Bengio 2003) of
/// per-split differences `d`, with `ratio` = n_test / n_train. None with fewer than two
/// differences or when all differences are equal (zero variance).
pub fn corrected_resampled_t(d: &[f64], ratio: f64) -> (Option<f64>, Option<f64>) {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    let j = d.len();
    if j < 2 || d.iter().all(|&v| v == d[0]) {
        return (None, None);
    }
    let mean = d.iter().sum::<f64>() / j as f64;
    let var = d.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (j - 1) as f64;
    let se = ((1.0 / j as f64 + ratio) * var).sqrt();
    if se.is_nan() || se <= 0.0 || !se.is_finite() {
        return (None, None);
    }
    let t = mean / se;
    let p = StudentsT::new(0.0, 1.0, (j - 1) as f64)
        .map(|dist| 2.0 * dist.sf(t.abs()))
        .ok();
    (Some(t), p.map(|v| v.clamp(0.0, 1.0)))
}

/// The engine of [`cross_validate`] and [`cross_validate_models`]: one fold assignment, one
/// fitted preprocessing per split shared by every model, one report per model.
fn run_shared_folds(
    data: &Dataset,
    labels: &Labels,
    sheet: &SampleSheet,
    common: &Common<'_>,
    models: &[ModelRef<'_>],
    gate: Option<&MatrixGate>,
) -> Result<Vec<CvReport>> {
    let groups = design_groups(common.cv, data, sheet)?;
    let splits = common.cv.splits(
        labels,
        &data.classes,
        groups.as_deref(),
        derive_seed(common.seed, "cv"),
    )?;
    // Folds are fitted in parallel; each has its own seeds, and the results are merged in split
    // order below, so nothing depends on the thread count. With a gate the folds run on threads
    // of their own (see `MatrixGate`), as many as rayon has workers.
    // A caller on a rayon worker (inside a parallel loop) would block that worker while the
    // folds' threads wait for the pool, which a pool of one thread cannot serve: there the
    // folds run as rayon jobs, without the gate.
    let gate = gate.filter(|_| rayon::current_thread_index().is_none());
    let fold = |s: &Split| fit_fold(data, labels, sheet, common, models, s, gate);
    let runs: Vec<Result<(FittedPreprocess, Vec<FoldRun>)>> = match gate {
        None => splits.par_iter().map(fold).collect(),
        Some(_) => on_threads(splits.len(), rayon::current_num_threads(), |i| {
            fold(&splits[i])
        })
        .map(|runs| runs.into_iter().map(Ok).collect())?,
    };
    let mut per_model: Vec<Vec<(FittedPreprocess, FoldRun)>> = (0..models.len())
        .map(|_| Vec::with_capacity(splits.len()))
        .collect();
    for run in runs {
        let (fp, fold_runs) = run?;
        for (m, r) in fold_runs.into_iter().enumerate() {
            per_model[m].push((fp.clone(), r));
        }
    }
    per_model
        .into_iter()
        .map(|runs| assemble_report(data, labels, common, &splits, runs))
        .collect()
}

/// Merge one model's fold runs (in split order) into its report.
fn assemble_report(
    data: &Dataset,
    labels: &Labels,
    common: &Common<'_>,
    splits: &[Split],
    runs: Vec<(FittedPreprocess, FoldRun)>,
) -> Result<CvReport> {
    let n = data.n_samples();
    let mut predictions = Vec::new();
    let mut fold_metrics = Vec::with_capacity(splits.len());
    let mut fits = Vec::with_capacity(splits.len());
    let repeats = splits.iter().map(|s| s.repeat).max().unwrap_or(1);
    let mut pooled: Vec<Pooled> = (0..repeats).map(|_| Pooled::new(labels, n)).collect();
    let mut imp: BTreeMap<FeatureRef, Vec<FoldImportance>> = BTreeMap::new();
    let mut fold_imps: Vec<BTreeMap<FeatureRef, FoldImportance>> = Vec::new();
    for (s, (fp, run)) in splits.iter().zip(runs) {
        let FoldRun {
            model,
            fm,
            out,
            metrics: m,
            permutation: perm,
        } = run;
        pooled[s.repeat - 1].put(&s.test, &out);
        push_predictions(&mut predictions, data, labels, s, &out);
        let builtin = fm.builtin_importance();
        let mut this = BTreeMap::new();
        for (j, f) in fp.features.iter().enumerate() {
            let v = builtin.as_ref().map_or(0.0, |b| b[j]);
            this.insert(
                f.clone(),
                FoldImportance {
                    value: v,
                    nonzero: v != 0.0,
                    top: false,
                    permutation: perm.as_ref().map(|p| p[j]),
                },
            );
        }
        fold_imps.push(this);
        fold_metrics.push(FoldMetrics {
            repeat: s.repeat,
            fold: s.fold,
            n_train: s.train.len(),
            n_test: s.test.len(),
            n_features: fp.n_features(),
            metrics: m,
            model,
        });
        fits.push(FoldFit {
            repeat: s.repeat,
            fold: s.fold,
            train: s.train.clone(),
            test: s.test.clone(),
            preprocess: fp,
            model: fm,
        });
    }
    // Importance table over folds.
    let n_folds = fold_imps.len() as f64;
    for fi in &fold_imps {
        let mut ranked: Vec<(&FeatureRef, f64)> = fi.iter().map(|(f, v)| (f, v.value)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        let top: std::collections::BTreeSet<&FeatureRef> = ranked
            .iter()
            .take(common.top_features)
            .filter(|(_, v)| *v > 0.0)
            .map(|(f, _)| *f)
            .collect();
        for (f, v) in fi {
            imp.entry(f.clone()).or_default().push(FoldImportance {
                top: top.contains(f),
                ..v.clone()
            });
        }
    }
    let mut importance: Vec<ImportanceRow> = imp
        .into_iter()
        .map(|(feature, v)| {
            let sel = v.len() as f64;
            let sum: f64 = v.iter().map(|x| x.value).sum();
            let mean = sum / n_folds;
            let ss: f64 = v
                .iter()
                .map(|x| (x.value - mean) * (x.value - mean))
                .sum::<f64>()
                + (n_folds - sel) * mean * mean;
            let perm: Vec<f64> = v.iter().filter_map(|x| x.permutation).collect();
            ImportanceRow {
                feature,
                mean_importance: mean,
                sd_importance: if n_folds > 1.0 {
                    (ss / (n_folds - 1.0)).sqrt()
                } else {
                    0.0
                },
                selection_frequency: sel / n_folds,
                nonzero_frequency: v.iter().filter(|x| x.nonzero).count() as f64 / n_folds,
                top_frequency: v.iter().filter(|x| x.top).count() as f64 / n_folds,
                permutation_importance: (!perm.is_empty())
                    .then(|| perm.iter().sum::<f64>() / n_folds),
            }
        })
        .collect();
    importance.sort_by(|a, b| {
        b.mean_importance
            .total_cmp(&a.mean_importance)
            .then(a.feature.cmp(&b.feature))
    });
    // Pooled metrics per repeat.
    let mut pooled_metrics = Vec::with_capacity(repeats);
    let mut calibration = Vec::new();
    let mut conformal_scores = Vec::new();
    for (r, p) in pooled.iter().enumerate() {
        let (rows, out) = p.output();
        let labels = labels.select(&rows);
        pooled_metrics.push(metrics_of(&labels, &out));
        if r == 0 {
            match (&labels, &out) {
                (Labels::Classes { y, n_classes }, Output::Probabilities { p }) => {
                    if *n_classes == 2 {
                        let t: Vec<bool> = y.iter().map(|&c| c == 1).collect();
                        calibration = calibration_table(&t, &p.column(1).to_vec(), 10);
                    }
                    conformal_scores = class_scores(y, p.view());
                }
                (Labels::Numeric { y }, Output::Values { y: pred }) => {
                    conformal_scores = residual_scores(y, pred)
                }
                _ => {}
            }
        }
    }
    let summary = summarize(&fold_metrics, &pooled_metrics);
    Ok(CvReport {
        target: data.target.clone(),
        classes: data.classes.clone(),
        folds: fold_table(splits, &data.sample_ids),
        predictions,
        fold_metrics,
        pooled_metrics,
        summary,
        importance,
        calibration,
        conformal: ConformalCalibration::new(conformal_scores, common.conformal_alpha)?,
        fits,
    })
}

fn push_predictions(
    rows: &mut Vec<PredictionRow>,
    data: &Dataset,
    labels: &Labels,
    s: &Split,
    out: &Output,
) {
    for (r, &i) in s.test.iter().enumerate() {
        let truth = match labels {
            Labels::Classes { y, .. } => data.classes[y[i]].clone(),
            Labels::Numeric { y } => y[i].to_string(),
        };
        rows.push(prediction_row(
            data.sample_ids[i].clone(),
            s.repeat,
            s.fold,
            Some(truth),
            &data.classes,
            out,
            r,
        ));
    }
}

pub(crate) fn prediction_row(
    sample_id: String,
    repeat: usize,
    fold: usize,
    truth: Option<String>,
    classes: &[String],
    out: &Output,
    r: usize,
) -> PredictionRow {
    match out {
        Output::Probabilities { p } => {
            let row = p.row(r);
            let mut b = 0;
            for c in 1..row.len() {
                if row[c] > row[b] {
                    b = c;
                }
            }
            PredictionRow {
                sample_id,
                repeat,
                fold,
                truth,
                predicted: classes.get(b).cloned().unwrap_or_default(),
                probabilities: row.to_vec(),
            }
        }
        Output::Values { y } => PredictionRow {
            sample_id,
            repeat,
            fold,
            truth,
            predicted: y[r].to_string(),
            probabilities: Vec::new(),
        },
    }
}

fn summarize(folds: &[FoldMetrics], pooled: &[Metrics]) -> Vec<MetricSummary> {
    let Some(first) = folds.first() else {
        return Vec::new();
    };
    first
        .metrics
        .named()
        .iter()
        .enumerate()
        .map(|(k, (name, _))| {
            let vals: Vec<f64> = folds
                .iter()
                .map(|f| f.metrics.named()[k].1)
                .filter(|v| v.is_finite())
                .collect();
            let pv: Vec<f64> = pooled
                .iter()
                .map(|m| m.named()[k].1)
                .filter(|v| v.is_finite())
                .collect();
            let mean = (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64);
            let sd = mean.filter(|_| vals.len() > 1).map(|m| {
                (vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (vals.len() - 1) as f64)
                    .sqrt()
            });
            MetricSummary {
                name: name.to_string(),
                fold_mean: mean,
                fold_sd: sd,
                pooled: (!pv.is_empty()).then(|| pv.iter().sum::<f64>() / pv.len() as f64),
            }
        })
        .collect()
}

/// Decrease of the headline metric (ROC AUC or R²) when each column of `x` is permuted,
/// averaged over `repeats` seeded permutations (Breiman 2001; Fisher, Rudin & Dominici 2019).
pub fn permutation_importance(
    model: &FittedModel,
    x: ArrayView2<f64>,
    labels: &Labels,
    repeats: usize,
    seed: u64,
) -> Result<Vec<f64>> {
    let base = metrics_of(labels, &model.predict(x)?)
        .primary()
        .unwrap_or(f64::NAN);
    let mut out = Vec::with_capacity(x.ncols());
    let mut xp = x.to_owned();
    for j in 0..x.ncols() {
        let mut drop = 0.0;
        for r in 0..repeats {
            let mut rng = seeded(derive_seed(seed, &format!("{j}/{r}")));
            let mut col: Vec<f64> = x.column(j).to_vec();
            col.shuffle(&mut rng);
            xp.column_mut(j).assign(&ndarray::Array1::from(col));
            let m = metrics_of(labels, &model.predict(xp.view())?)
                .primary()
                .unwrap_or(f64::NAN);
            drop += base - m;
        }
        xp.column_mut(j).assign(&x.column(j));
        out.push(drop / repeats.max(1) as f64);
    }
    Ok(out)
}

/// How labels are permuted in a permutation test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "within", content = "column", rename_all = "snake_case")]
pub enum Permutation {
    /// Over all samples.
    #[default]
    Free,
    /// Only among samples sharing a value of a sheet column (e.g. `source`: keeps any
    /// source–label association, so a model that only recognises sources keeps its score).
    Within(String),
}

/// The outcome of a label-permutation test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermutationTest {
    /// The headline metric's name.
    pub metric: String,
    /// Its pooled cross-validated value on the real labels.
    pub observed: f64,
    /// Its values on permuted labels.
    pub null: Vec<f64>,
    /// (1 + #{null ≥ observed}) / (1 + permutations) (Phipson & Smyth 2010, *Stat Appl Genet Mol
    /// Biol* 9:39).
    pub p_value: f64,
    /// How labels were permuted.
    pub permutation: Permutation,
}

/// Permute labels, optionally within strata.
pub fn permute_labels(labels: &Labels, strata: Option<&[String]>, seed: u64) -> Labels {
    let n = labels.len();
    let mut rng = seeded(seed);
    let mut perm: Vec<usize> = (0..n).collect();
    match strata {
        None => perm.shuffle(&mut rng),
        Some(st) => {
            let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for (i, s) in st.iter().enumerate() {
                groups.entry(s.as_str()).or_default().push(i);
            }
            for members in groups.values() {
                let mut shuffled = members.clone();
                shuffled.shuffle(&mut rng);
                for (&dst, &src) in members.iter().zip(&shuffled) {
                    perm[dst] = src;
                }
            }
        }
    }
    labels.select(&perm)
}

/// How the repeated cross-validations of a permutation test or source check are run: the
/// permutations are spread over `threads` worker threads (results do not depend on the number,
/// every permutation has its own seed and the null values are kept in permutation order) and
/// `progress(done, total)` is called after each one.
#[derive(Clone, Copy)]
pub struct Runner<'a> {
    /// Worker threads, ≥ 1 (0 is read as 1).
    pub threads: usize,
    /// Called after each finished permutation with (finished, total).
    pub progress: Option<&'a (dyn Fn(usize, usize) + Sync)>,
}

impl Default for Runner<'_> {
    fn default() -> Self {
        Runner {
            threads: 1,
            progress: None,
        }
    }
}

impl std::fmt::Debug for Runner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("threads", &self.threads)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Label-permutation test of the cross-validated headline metric: the whole cross-validation
/// (preprocessing included) is rerun on `n_permutations` permuted label vectors.
pub fn permutation_test(
    data: &Dataset,
    sheet: &SampleSheet,
    config: &TrainConfig,
    n_permutations: usize,
    permutation: &Permutation,
) -> Result<PermutationTest> {
    ensure(
        n_permutations >= 1,
        "permutation test",
        "n_permutations",
        || "is 0".into(),
    )?;
    let observed = cross_validate(data, sheet, config)?;
    permutation_test_given(
        &observed,
        data,
        sheet,
        config,
        n_permutations,
        permutation,
        Runner::default(),
    )
}

/// [`permutation_test`] around an existing [`cross_validate`] report of the same data and
/// config (its pooled headline metric is the observed value, so the real-label CV is not rerun),
/// run as `runner` says. Permutation b uses the seed `derive_seed(config.seed,
/// "permutation/<b>")` whatever the thread count, so the result equals [`permutation_test`]'s.
pub fn permutation_test_given(
    observed_report: &CvReport,
    data: &Dataset,
    sheet: &SampleSheet,
    config: &TrainConfig,
    n_permutations: usize,
    permutation: &Permutation,
    runner: Runner<'_>,
) -> Result<PermutationTest> {
    ensure(
        n_permutations >= 1,
        "permutation test",
        "n_permutations",
        || "is 0".into(),
    )?;
    let metric = observed_report
        .pooled_metrics
        .first()
        .map_or("metric", |m| m.primary_name())
        .to_string();
    let observed = observed_report.pooled_primary().unwrap_or(f64::NAN);
    let strata = match permutation {
        Permutation::Free => None,
        Permutation::Within(c) => Some(group_labels(sheet, c, &data.sample_ids)?),
    };
    let one = |b: usize| -> Result<f64> {
        let labels = permute_labels(
            &data.labels,
            strata.as_deref(),
            derive_seed(config.seed, &format!("permutation/{b}")),
        );
        let r = cross_validate_with_labels(data, &labels, sheet, config)?;
        Ok(r.pooled_primary().unwrap_or(f64::NAN))
    };
    let done = std::sync::atomic::AtomicUsize::new(0);
    let tick = || {
        let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if let Some(p) = runner.progress {
            p(d, n_permutations);
        }
    };
    // Values go back to their permutation's index, whatever thread computed them.
    let null: Vec<f64> = on_threads(n_permutations, runner.threads, |b| {
        let v = one(b);
        tick();
        v
    })?;
    let ge = null.iter().filter(|&&v| v >= observed).count();
    Ok(PermutationTest {
        metric,
        observed,
        p_value: (1 + ge) as f64 / (1 + n_permutations) as f64,
        null,
        permutation: permutation.clone(),
    })
}

/// "Is the model just predicting source?"
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceCheck {
    /// The source column.
    pub source_column: String,
    /// Permutation test with labels permuted within source: a small p-value means the model
    /// predicts potency beyond what source alone explains.
    pub within_source: PermutationTest,
    /// Pooled metrics when each source is left out in turn (the model never saw the test
    /// source).
    pub leave_one_source_out: Metrics,
    /// Per-source metrics of the leave-one-source-out predictions.
    pub per_source: Vec<(String, Metrics)>,
}

/// Run both source checks (see [`SourceCheck`]).
pub fn source_check(
    data: &Dataset,
    sheet: &SampleSheet,
    config: &TrainConfig,
    source_column: &str,
    n_permutations: usize,
) -> Result<SourceCheck> {
    let observed = cross_validate(data, sheet, config)?;
    source_check_given(
        &observed,
        data,
        sheet,
        config,
        source_column,
        n_permutations,
        Runner::default(),
    )
}

/// [`source_check`] around an existing [`cross_validate`] report of the same data and config,
/// its within-source permutations run as `runner` says.
pub fn source_check_given(
    observed: &CvReport,
    data: &Dataset,
    sheet: &SampleSheet,
    config: &TrainConfig,
    source_column: &str,
    n_permutations: usize,
    runner: Runner<'_>,
) -> Result<SourceCheck> {
    let within_source = permutation_test_given(
        observed,
        data,
        sheet,
        config,
        n_permutations,
        &Permutation::Within(source_column.to_string()),
        runner,
    )?;
    let loso = TrainConfig {
        cv: CvScheme::LeaveOneGroupOut {
            group: source_column.to_string(),
        },
        tuning: None,
        ..config.clone()
    };
    let r = cross_validate(data, sheet, &loso)?;
    let per_source = r
        .fits
        .iter()
        .zip(&r.fold_metrics)
        .map(|(f, m)| {
            let src = sheet
                .text(source_column, &data.sample_ids[f.test[0]])
                .unwrap_or_default();
            (src, m.metrics.clone())
        })
        .collect();
    Ok(SourceCheck {
        source_column: source_column.to_string(),
        within_source,
        leave_one_source_out: r
            .pooled_metrics
            .into_iter()
            .next()
            .ok_or_else(|| data_err("source check", "no prediction"))?,
        per_source,
    })
}

/// One point of a learning curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearningPoint {
    /// Share of each training part used.
    pub fraction: f64,
    /// Mean training size.
    pub n_train: f64,
    /// Mean test-fold headline metric.
    pub mean: Option<f64>,
    /// Its standard deviation over folds.
    pub sd: Option<f64>,
    /// Folds scored.
    pub n_folds: usize,
}

/// Learning curve: for every split of the design and every fraction, a seeded subsample of the
/// training part (whole groups for group designs, per class otherwise; at least two samples
/// of every class) is used to fit, and the untouched test fold to score.
pub fn learning_curve(
    data: &Dataset,
    sheet: &SampleSheet,
    config: &TrainConfig,
    fractions: &[f64],
) -> Result<Vec<LearningPoint>> {
    config.validate()?;
    for &f in fractions {
        ensure(f > 0.0 && f <= 1.0, "learning curve", "fractions", || {
            format!("{f} is outside (0, 1]")
        })?;
    }
    let groups = design_groups(&config.cv, data, sheet)?;
    let splits = config.cv.splits(
        &data.labels,
        &data.classes,
        groups.as_deref(),
        derive_seed(config.seed, "cv"),
    )?;
    let mut out = Vec::with_capacity(fractions.len());
    for (fi, &frac) in fractions.iter().enumerate() {
        let mut vals = Vec::new();
        let mut sizes = Vec::new();
        for s in &splits {
            let seed = derive_seed(
                config.seed,
                &format!("learning/{fi}/{}/{}", s.repeat, s.fold),
            );
            let mut rng = seeded(seed);
            let sub: Vec<usize> = match &groups {
                Some(g) => {
                    let mut names: Vec<&str> = s.train.iter().map(|&i| g[i].as_str()).collect();
                    names.sort_unstable();
                    names.dedup();
                    names.shuffle(&mut rng);
                    let keep = ((names.len() as f64 * frac).ceil() as usize).max(1);
                    let kept: std::collections::BTreeSet<&str> =
                        names[..keep].iter().copied().collect();
                    s.train
                        .iter()
                        .copied()
                        .filter(|&i| kept.contains(g[i].as_str()))
                        .collect()
                }
                None => {
                    let strata: Vec<usize> = match &data.labels {
                        Labels::Classes { y, .. } => s.train.iter().map(|&i| y[i]).collect(),
                        Labels::Numeric { .. } => vec![0; s.train.len()],
                    };
                    let mut sub = Vec::new();
                    let nst = strata.iter().copied().max().unwrap_or(0) + 1;
                    for c in 0..nst {
                        let mut m: Vec<usize> = s
                            .train
                            .iter()
                            .zip(&strata)
                            .filter(|(_, &st)| st == c)
                            .map(|(&i, _)| i)
                            .collect();
                        m.shuffle(&mut rng);
                        let keep = ((m.len() as f64 * frac).ceil() as usize).min(m.len());
                        sub.extend_from_slice(&m[..keep]);
                    }
                    sub.sort_unstable();
                    sub
                }
            };
            if let Labels::Classes { y, n_classes } = &data.labels {
                if (0..*n_classes).any(|c| sub.iter().filter(|&&i| y[i] == c).count() < 2) {
                    continue;
                }
            }
            let model = config.model.with_seed(derive_seed(seed, "model"));
            let (_, _, o) = fit_predict(
                data,
                &data.labels,
                sheet,
                &config.preprocess,
                &model,
                &sub,
                &s.test,
            )?;
            if let Some(v) = metrics_of(&data.labels.select(&s.test), &o).primary() {
                vals.push(v);
                sizes.push(sub.len() as f64);
            }
        }
        let k = vals.len();
        let mean = (k > 0).then(|| vals.iter().sum::<f64>() / k as f64);
        let sd = mean
            .filter(|_| k > 1)
            .map(|m| (vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (k - 1) as f64).sqrt());
        out.push(LearningPoint {
            fraction: frac,
            n_train: sizes.iter().sum::<f64>() / k.max(1) as f64,
            mean,
            sd,
            n_folds: k,
        });
    }
    Ok(out)
}

/// Predictions of a fitted fold on its own test rows (for audits): rows as in the data set.
pub fn predict_rows(
    fit: &FoldFit,
    data: &Dataset,
    sheet: &SampleSheet,
    rows: &[usize],
) -> Result<Output> {
    let x = fit.preprocess.transform(&data.layers, sheet, rows)?;
    fit.model.predict(x.view())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values come back in index order for any number of workers, and the error reported is the
    /// smallest failing index's, as a loop in index order would meet it.
    #[test]
    fn on_threads_keeps_index_order_and_the_first_error() {
        for workers in [1, 2, 3, 8] {
            for n in [0, 1, 10] {
                let out = on_threads(n, workers, |i| Ok(i * i)).unwrap();
                assert_eq!(out, (0..n).map(|i| i * i).collect::<Vec<_>>());
            }
            for _ in 0..20 {
                let err = on_threads(10, workers, |i| {
                    if i == 4 || i == 7 {
                        Err(data_err("task", format!("index {i}")))
                    } else {
                        Ok(i)
                    }
                })
                .unwrap_err();
                assert!(err.to_string().contains("index 4"), "{err}");
            }
        }
    }
}
