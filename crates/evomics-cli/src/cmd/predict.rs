//! `evomics predict`: apply a saved potency model to the samples of an experiment store, with
//! features aligned by name, absent features reported and handled by the saved (or given) rule,
//! and conformal sets or intervals at a chosen error rate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};

use evomics_core::Assay;
use evomics_io::atomic::write_file_atomic;
use evomics_io::read_experiment;
use evomics_io::table::{f, Table};
use evomics_ml::conformal::ConformalCalibration;
use evomics_ml::persist::{MissingFeatureRule, SavedModel};

use crate::cmd::Log;

/// `evomics predict`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  evomics predict model/model.json new-exp -o preds.tsv\n  evomics predict model new-exp -o preds.tsv --alpha 0.05\n\nOutput columns: sample_id, [truth,] predicted, then p_<class> per class and conformal_set\n(classes, ';'-separated) or lower and upper (numbers). Conformal sets cover the truth of a new\npreparation with probability ≈ 1 − alpha, calibrated on the training run's out-of-fold scores."
)]
pub struct PredictArgs {
    /// Model file written by `evomics train` (model.json, or the model directory holding it).
    pub model: PathBuf,
    /// Experiment store with the new samples (raw layers, as the training store).
    pub store: PathBuf,
    /// Output TSV (written atomically).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Error rate of the conformal sets / intervals (default: the α the model was trained with).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// What to do with model features the new data lack (default: the rule saved in the model).
    #[arg(long, value_enum)]
    pub missing_features: Option<MissingRule>,
}

/// Missing-feature rules on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MissingRule {
    /// Refuse to predict, naming the absent features.
    Error,
    /// Insert absent features as missing cells for the model's fitted imputation to fill.
    Impute,
}

/// Read a model file (or `DIR/model.json`).
pub fn load_model(path: &Path) -> anyhow::Result<SavedModel> {
    let file = if path.is_dir() {
        path.join("model.json")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read the model file {}", file.display()))?;
    SavedModel::from_json(&text).with_context(|| format!("reading {}", file.display()))
}

/// Run `evomics predict`.
pub fn run(a: PredictArgs, log: Log) -> anyhow::Result<()> {
    let mut model = load_model(&a.model)?;
    if let Some(rule) = a.missing_features {
        let rule = match rule {
            MissingRule::Error => MissingFeatureRule::Error,
            MissingRule::Impute => MissingFeatureRule::Impute,
        };
        if rule != model.missing_features {
            log.warn(format!(
                "missing-feature rule '{}' given on the command line replaces the model's '{}'",
                rule_name(rule),
                rule_name(model.missing_features)
            ));
        }
        model = model.with_missing_rule(rule);
    }
    if let Some(alpha) = a.alpha {
        let Some(cal) = &model.conformal else {
            bail!("--alpha: this model has no conformal calibration (it was saved without a cross-validation report); predict without --alpha");
        };
        model.conformal =
            Some(ConformalCalibration::new(cal.scores.clone(), alpha).context("--alpha")?);
    }
    let (exp, _) = read_experiment(&a.store)?;
    let layers: Vec<&Assay> = exp.layers().values().collect();
    check_overlap(&model, &layers)?;
    let report = model
        .predict(&layers, exp.samples())
        .with_context(|| format!("predicting the samples of {}", a.store.display()))?;
    if !report.missing_features.is_empty() {
        let used: BTreeSet<_> = model.features.iter().collect();
        let inputs = report
            .missing_features
            .iter()
            .filter(|f| used.contains(f))
            .count();
        log.warn(format!(
            "{} feature(s) the model was fitted on are absent from the new data ({} of them model inputs; first: {}); filled by the model's fitted imputation (rule 'impute')",
            report.missing_features.len(),
            inputs,
            report.missing_features[0]
        ));
    }
    if !report.dropped.is_empty() {
        log.warn(format!(
            "{} sample(s) not predicted: {}",
            report.dropped.len(),
            report
                .dropped
                .iter()
                .map(|(s, why)| format!("{s} ({why})"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // The truth, when the new sheet has the target column (e.g. a held-out validation set).
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
    let mut cols = vec!["sample_id".to_string()];
    if truth.is_some() {
        cols.push("truth".into());
    }
    cols.push("predicted".into());
    let classifier = model.is_classifier();
    let calibrated = model.conformal.is_some();
    if classifier {
        cols.extend(model.classes.iter().map(|c| format!("p_{c}")));
        if calibrated {
            cols.push("conformal_set".into());
        }
    } else if calibrated {
        cols.extend(["lower".to_string(), "upper".to_string()]);
    }
    let mut t = Table::new(cols);
    for (r, p) in report.predictions.iter().enumerate() {
        let mut row = vec![p.sample_id.clone()];
        if let Some(tr) = &truth {
            row.push(tr[r].clone());
        }
        row.push(p.predicted.clone());
        if classifier {
            row.extend(p.probabilities.iter().map(|v| f(*v)));
            if let Some(set) = report.sets.get(r) {
                row.push(set.join(";"));
            }
        } else if let Some((lo, hi)) = report.intervals.get(r) {
            row.push(f(*lo));
            row.push(f(*hi));
        }
        t.push(row);
    }
    write_file_atomic(&a.out, t.to_tsv().as_bytes())
        .with_context(|| format!("writing {}", a.out.display()))?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    if classifier {
        for p in &report.predictions {
            *counts.entry(p.predicted.as_str()).or_default() += 1;
        }
    }
    log.say(format!(
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
    ));
    if let Some(c) = &model.conformal {
        let sizes = if classifier {
            let m = report.sets.iter().map(Vec::len).sum::<usize>() as f64
                / report.sets.len().max(1) as f64;
            format!("mean set size {m:.2}")
        } else {
            format!("interval half-width {:.4}", c.threshold)
        };
        log.say(format!(
            "conformal {} at α = {} ({} calibration scores): {sizes}",
            if classifier { "sets" } else { "intervals" },
            c.alpha,
            c.scores.len()
        ));
    }
    log.say(format!("wrote {}", a.out.display()));
    Ok(())
}

/// The config name of a missing-feature rule.
fn rule_name(r: MissingFeatureRule) -> &'static str {
    match r {
        MissingFeatureRule::Error => "error",
        MissingFeatureRule::Impute => "impute",
    }
}

/// A model none of whose input features is in the new data cannot predict anything real:
/// refuse it, whatever the missing-feature rule.
fn check_overlap(model: &SavedModel, layers: &[&Assay]) -> anyhow::Result<()> {
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
        bail!(
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
        );
    }
    Ok(())
}
