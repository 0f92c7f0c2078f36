//! The `predict` stage as one library call: [`run_predict`] applies a saved potency model to the
//! samples of an experiment, with features aligned by name, absent features handled by the
//! model's (or the given) rule, and conformal sets or intervals at a chosen error rate.
//!
//! Predicted samples that were in the model's training data — the same sample id, or the same
//! input values under another id ([`crate::persist::row_hash`]) — are listed in a warning and
//! marked in the `in_training` column (`id`, `data` or empty): their predictions are not an
//! independent test of the model.
//!
//! ```
//! use evomics_core::StageTables;
//! use evomics_ml::stages::predict::{run_predict, PredictConfig};
//! use evomics_ml::stages::train::{run_train, TrainContext, TrainSpec};
//! use evomics_sim::{simulate, SimParams};
//!
//! // Train on one simulated cohort …
//! let mut params = SimParams::preset("small").unwrap();
//! params.seed = 3;
//! let training = simulate(&params).unwrap().experiment;
//! let spec: TrainSpec = toml::from_str(r#"
//!     target = "potency_class"
//!     layers = ["proteome"]
//!     permutations = 0
//!     learning_curve = []
//!     [preprocess.proteome]
//!     transform = { method = "log2" }
//!     imputation = { method = "down_shift", seed = 7 }
//!     [cv]
//!     scheme = "group_k_fold"
//!     k = 3
//!     group = "donor_id"
//! "#).unwrap();
//! let layers: Vec<String> = training.layers().keys().cloned().collect();
//! let trained = run_train(&training, &spec.resolve(&layers).unwrap(), &TrainContext::default()).unwrap();
//!
//! // … and apply the saved model. New preparations would come from their own store; here the
//! // training cohort itself is predicted, so every row is marked as seen in training.
//! let result = run_predict(trained.model, &training, &PredictConfig::default()).unwrap();
//! let predictions = result.tables().into_iter().find(|t| t.name == "predictions").unwrap();
//! assert_eq!(predictions.rows.len(), training.samples().len());
//! assert!(result.calibrated); // out-of-fold conformal sets came with the model
//! assert!(result.notes.iter().any(|m| m.text.contains("training")));
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use evomics_core::{Assay, Cell, Experiment, Kind, Message, StageResult, StageTables, Table};

use crate::conformal::ConformalCalibration;
use crate::error::{data_err, Result};
use crate::persist::{MissingFeatureRule, PredictReport, SavedModel, TrainingMatch};

/// Settings of `predict`: what may differ from the saved model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PredictConfig {
    /// Error rate of the conformal sets / intervals (default: the α the model was trained with).
    pub alpha: Option<f64>,
    /// What to do with model features the new data lack (default: the rule saved in the model).
    pub missing_features: Option<MissingFeatureRule>,
}

/// The result of `predict`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictResult {
    /// The model's target column.
    pub target: String,
    /// Class names (empty for a numeric model).
    pub classes: Vec<String>,
    /// The predictions, sets and intervals.
    pub report: PredictReport,
    /// The truth per prediction, when the new sheet has the target column.
    pub truth: Option<Vec<String>>,
    /// Whether conformal sets / intervals were computed.
    pub calibrated: bool,
    /// What the run had to say.
    pub notes: Vec<Message>,
}

fn rule_name(r: MissingFeatureRule) -> &'static str {
    match r {
        MissingFeatureRule::Error => "error",
        MissingFeatureRule::Impute => "impute",
    }
}

/// Apply `model` to the samples of `exp`.
pub fn run_predict(
    mut model: SavedModel,
    exp: &Experiment,
    config: &PredictConfig,
) -> Result<PredictResult> {
    let mut notes = Vec::new();
    if let Some(rule) = config.missing_features {
        if rule != model.missing_features {
            notes.push(Message::warn(format!(
                "missing-feature rule '{}' given on the command line replaces the model's '{}'",
                rule_name(rule),
                rule_name(model.missing_features)
            )));
        }
        model = model.with_missing_rule(rule);
    }
    if let Some(alpha) = config.alpha {
        let Some(cal) = &model.conformal else {
            return Err(data_err("predict", "--alpha: this model has no conformal calibration (it was saved without a cross-validation report); predict without --alpha"));
        };
        model.conformal = Some(ConformalCalibration::new(cal.scores.clone(), alpha)?);
    }
    let layers: Vec<&Assay> = exp.layers().values().collect();
    check_overlap(&model, &layers)?;
    let report = model.predict(&layers, exp.samples())?;
    if !report.missing_features.is_empty() {
        let used: BTreeSet<_> = model.features.iter().collect();
        let inputs = report
            .missing_features
            .iter()
            .filter(|f| used.contains(f))
            .count();
        notes.push(Message::warn(format!(
            "{} feature(s) the model was fitted on are absent from the new data ({} of them model inputs; first: {}); filled by the model's fitted imputation (rule 'impute')",
            report.missing_features.len(),
            inputs,
            report.missing_features[0]
        )));
    }
    if !report.dropped.is_empty() {
        notes.push(Message::warn(format!(
            "{} sample(s) not predicted: {}",
            report.dropped.len(),
            report
                .dropped
                .iter()
                .map(|(s, why)| format!("{s} ({why})"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    notes.extend(training_notes(&model, &report));
    let truth: Option<Vec<String>> = exp.samples().column(&model.target).map(|_| {
        report
            .predictions
            .iter()
            .map(|p| {
                exp.samples()
                    .text(&model.target, &p.sample_id)
                    .unwrap_or_else(|| "NA".into())
            })
            .collect()
    });
    let classifier = model.is_classifier();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    if classifier {
        for p in &report.predictions {
            *counts.entry(p.predicted.as_str()).or_default() += 1;
        }
    }
    notes.push(Message::info(format!(
        "predicted {} sample(s) with the {} model of '{}' (trained on {} samples, data {}…){}; {} new-data feature(s) not used by the model",
        report.predictions.len(),
        model.model_params.name(),
        model.target,
        model.training.n_samples,
        &model.training.data_hash[..model.training.data_hash.len().min(12)],
        if counts.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                counts
                    .iter()
                    .map(|(c, n)| format!("{n} {c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        report.ignored_features
    )));
    if let Some(c) = &model.conformal {
        let sizes = if classifier {
            let m = report.sets.iter().map(Vec::len).sum::<usize>() as f64
                / report.sets.len().max(1) as f64;
            format!("mean set size {m:.2}")
        } else {
            format!("interval half-width {:.4}", c.threshold)
        };
        notes.push(Message::info(format!(
            "conformal {} at α = {} ({} calibration scores): {sizes}",
            if classifier { "sets" } else { "intervals" },
            c.alpha,
            c.scores.len()
        )));
    }
    Ok(PredictResult {
        target: model.target.clone(),
        classes: if classifier {
            model.classes.clone()
        } else {
            Vec::new()
        },
        calibrated: model.conformal.is_some(),
        report,
        truth,
        notes,
    })
}

/// The warning about predicted samples that were in the training data, and the note that the
/// data check could not be done for a model file without training row hashes.
fn training_notes(model: &SavedModel, report: &PredictReport) -> Vec<Message> {
    const SHOWN: usize = 20;
    let mut out = Vec::new();
    if !report.checked_by_data {
        out.push(Message::warn(format!(
            "this model file records no training row hashes (written by an earlier evomics): predicted samples were checked against its {} training sample ids only, so a training sample under another id cannot be recognised; retrain the model to record them",
            model.training.sample_ids.len()
        )));
    }
    let hits: Vec<String> = report
        .predictions
        .iter()
        .zip(&report.in_training)
        .filter_map(|(p, m)| {
            m.as_ref().map(|m| match m.by {
                TrainingMatch::Id => p.sample_id.clone(),
                TrainingMatch::Data => format!(
                    "{} (same data as training sample {})",
                    p.sample_id, m.training_sample
                ),
            })
        })
        .collect();
    if !hits.is_empty() {
        let n_id = report
            .in_training
            .iter()
            .flatten()
            .filter(|m| m.by == TrainingMatch::Id)
            .count();
        let more = hits.len().saturating_sub(SHOWN);
        out.push(Message::warn(format!(
            "{} of {} predicted sample(s) were in the model's training data ({} by sample id, {} by identical input values), so their predictions are not an independent test of the model (column in_training): {}{}",
            hits.len(),
            report.predictions.len(),
            n_id,
            hits.len() - n_id,
            hits[..hits.len().min(SHOWN)].join(", "),
            if more > 0 {
                format!(", … {more} more")
            } else {
                String::new()
            }
        )));
    }
    out
}

/// A model none of whose input features is in the new data cannot predict anything real:
/// refuse it, whatever the missing-feature rule.
fn check_overlap(model: &SavedModel, layers: &[&Assay]) -> Result<()> {
    let present = model
        .features
        .iter()
        .filter(|fr| {
            layers
                .iter()
                .find(|l| l.name() == fr.layer)
                .is_some_and(|l| l.features().position(&fr.id).is_some())
        })
        .count();
    if present == 0 && !model.features.is_empty() {
        let names: Vec<String> = model
            .features
            .iter()
            .take(3)
            .map(|f| f.to_string())
            .collect();
        return Err(data_err(
            "predict",
            format!(
                "none of the model's {} input features is in the new data (e.g. {}); check that the store has the same layers ({}) with the same feature ids as the training store",
                model.features.len(),
                names.join(", "),
                model
                    .preprocess
                    .layers
                    .iter()
                    .map(|l| l.layer.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(())
}

impl StageTables for PredictResult {
    fn tables(&self) -> Vec<Table> {
        let classifier = !self.classes.is_empty();
        let mut t = Table::new("predictions").col("sample_id", Kind::Text);
        if self.truth.is_some() {
            t.add_col("truth", Kind::Text);
        }
        t.add_col("predicted", Kind::Text);
        if classifier {
            t = t.cols(self.classes.iter().map(|c| format!("p_{c}")), Kind::Float);
            if self.calibrated {
                t.add_col("conformal_set", Kind::Text);
            }
        } else if self.calibrated {
            t = t.cols(["lower", "upper"], Kind::Float);
        }
        t.add_col("in_training", Kind::Text);
        for (r, p) in self.report.predictions.iter().enumerate() {
            let mut row: Vec<Cell> = vec![p.sample_id.as_str().into()];
            if let Some(tr) = &self.truth {
                row.push(tr[r].as_str().into());
            }
            row.push(p.predicted.as_str().into());
            if classifier {
                row.extend(p.probabilities.iter().map(|v| Cell::from(*v)));
                if let Some(set) = self.report.sets.get(r) {
                    row.push(set.join(";").into());
                }
            } else if let Some((lo, hi)) = self.report.intervals.get(r) {
                row.push((*lo).into());
                row.push((*hi).into());
            }
            row.push(
                self.report
                    .in_training
                    .get(r)
                    .and_then(|m| m.as_ref())
                    .map_or("", |m| m.by.name())
                    .into(),
            );
            t.push(row);
        }
        vec![t]
    }
}

impl StageResult for PredictResult {
    const STAGE: &'static str = "predict";
    const VERSION: u32 = 2;

    fn messages(&self) -> Vec<Message> {
        self.notes.clone()
    }
}
