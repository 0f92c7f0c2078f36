//! `evomics train`: a potency predictor cross-validated without leakage (every preprocessing
//! step fitted inside the training folds), a label-permutation p-value, source checks,
//! importance, calibration, conformal sets, a learning curve and the final model file.
//!
//! The configuration is a TOML file (schema: [`TrainFile`], documented with examples in
//! `docs/potency-models.md`); common settings can be given or overridden on the command line.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use evomics_core::{Assay, SampleSheet};
use evomics_io::table::{f, num, Table};
use evomics_io::{read_experiment, InputFile, Manifest};
use evomics_ml::conformal::{conformal_quantile, prediction_set};
use evomics_ml::cv::{CvScheme, Part};
use evomics_ml::data::{Dataset, TargetKind, TargetSpec};
use evomics_ml::evaluate::{
    cross_validate, learning_curve, permutation_test_given, source_check_given, CvReport,
    LearningPoint, Permutation, PermutationTest, Runner, SourceCheck, TrainConfig, Tuning,
};
use evomics_ml::models::{
    ElasticNetParams, FittedModel, ForestParams, KnnParams, Labels, ModelSpec, PlsParams,
};
use evomics_ml::persist::{train_final, MissingFeatureRule, SavedModel};
use evomics_ml::preprocess::{FeatureRef, PreprocessConfig, Scaling, Selection};
use evomics_norm::NormalizeConfig;

use crate::cmd::{write_stage, Log};

/// `evomics train`.
#[derive(Debug, Args)]
#[command(after_help = TRAIN_HELP)]
pub struct TrainArgs {
    /// Experiment store with the raw (ingested) layers; preprocessing runs inside the folds.
    pub store: PathBuf,
    /// Training configuration (TOML, see docs/potency-models.md); flags override its keys.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Output model directory (replaced atomically).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Sample-sheet column to predict (a class or numeric column).
    #[arg(long)]
    pub target: Option<String>,
    /// Layers to use, comma-separated (default: the config's, else every layer of the store).
    #[arg(long, value_delimiter = ',')]
    pub layers: Option<Vec<String>>,
    /// Model; when the config's model is of another kind, this one gets default parameters.
    #[arg(long, value_enum)]
    pub model: Option<ModelKind>,
    /// Cross-validation design.
    #[arg(long, value_enum)]
    pub cv: Option<CvKind>,
    /// Number of folds (k-fold designs).
    #[arg(long)]
    pub folds: Option<usize>,
    /// Repeats of the k-fold designs with new shuffles.
    #[arg(long)]
    pub repeats: Option<usize>,
    /// Sample-sheet column grouping samples that must stay together (group designs).
    #[arg(long)]
    pub group: Option<String>,
    /// Label permutations of the permutation test (0: no test).
    #[arg(long)]
    pub permutations: Option<usize>,
    /// Permute labels only among samples sharing a value of this column (e.g. the donor of a
    /// paired design); default: free permutations.
    #[arg(long)]
    pub permute_within: Option<String>,
    /// Sample-sheet column of the cell source for the "is it just predicting source?" check.
    #[arg(long)]
    pub source_column: Option<String>,
    /// Seed of the folds, the models and the permutations.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Leave out samples whose sheet column has one of the values: COLUMN=VALUE[;VALUE…]
    /// (e.g. excluded_by_authors=True).
    #[arg(long)]
    pub exclude: Option<String>,
    /// Also write every fold's fitted preprocessing and model (fold-models.json) for audits.
    #[arg(long)]
    pub save_fold_models: bool,
    /// Worker threads for the permutations (results do not depend on it; default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

const TRAIN_HELP: &str = "\
Examples:
  evomics train exp --config workflows/train/potency-class.toml -o model
  evomics train exp --target potency_class --layers proteome --model random_forest \\
      --cv group_kfold --folds 5 --group donor_id --permutations 199 -o model
  evomics predict model/model.json new-exp -o preds.tsv --alpha 0.1

Outputs (MODELDIR): metrics.json, folds.tsv, predictions.tsv, importance.tsv, calibration.tsv,
learning_curve.tsv, model.json, manifest.json (+ fold-models.json with --save-fold-models).
Train on the ingested store: every layer's pipeline ([preprocess.<layer>] in the config) is
fitted inside each training fold. The config schema is in docs/potency-models.md.";

/// Model kinds selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    /// Elastic-net logistic / multinomial / Gaussian regression.
    #[value(name = "elastic_net", alias = "enet")]
    ElasticNet,
    /// Random forest.
    #[value(name = "random_forest", alias = "rf")]
    RandomForest,
    /// k-nearest neighbours.
    #[value(name = "knn")]
    Knn,
    /// PLS regression (numeric targets).
    #[value(name = "pls")]
    Pls,
}

impl ModelKind {
    /// The model's config name.
    fn name(self) -> &'static str {
        match self {
            ModelKind::ElasticNet => "elastic_net",
            ModelKind::RandomForest => "random_forest",
            ModelKind::Knn => "knn",
            ModelKind::Pls => "pls",
        }
    }

    /// The model with its default parameters.
    fn default_spec(self) -> ModelSpec {
        match self {
            ModelKind::ElasticNet => ModelSpec::ElasticNet(ElasticNetParams::default()),
            ModelKind::RandomForest => ModelSpec::RandomForest(ForestParams::default()),
            ModelKind::Knn => ModelSpec::Knn(KnnParams::default()),
            ModelKind::Pls => ModelSpec::Pls(PlsParams::default()),
        }
    }
}

/// Cross-validation designs selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CvKind {
    /// Group k-fold: no group (donor) in both parts of a fold.
    #[value(name = "group_kfold", alias = "group_k_fold")]
    GroupKfold,
    /// (Stratified) k-fold on samples.
    #[value(name = "kfold", alias = "k_fold")]
    Kfold,
    /// Leave one group out (e.g. one source).
    #[value(name = "logo", alias = "leave_one_group_out")]
    Logo,
}

/// The training configuration file. Every key is optional; see `docs/potency-models.md`.
///
/// ```toml
/// target = "potency_class"
/// classes = ["low", "high"]          # optional order; with two, the second is the positive
/// layers = ["proteome"]
/// seed = 7
/// permutations = 199
/// selection = { method = "univariate", k = 50 }
/// scaling = "standardize"
///
/// [preprocess.proteome]              # an evomics-norm pipeline, fitted inside every fold
/// transform = { method = "log2" }
/// normalization = { method = "median" }
/// imputation = { method = "down_shift", seed = 7 }
///
/// [model]
/// model = "elastic_net"
/// alpha = 0.5
/// lambda = 0.05
///
/// [cv]
/// scheme = "group_k_fold"
/// k = 5
/// group = "donor_id"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainFile {
    /// Sample-sheet column to predict.
    pub target: Option<String>,
    /// `auto` (text: classes, numbers: numeric), `class` or `numeric`.
    pub target_kind: Option<TargetKind>,
    /// Class order (default sorted); with two classes the second is the positive class.
    pub classes: Option<Vec<String>>,
    /// Layers joined on sample id (default: every layer of the store).
    pub layers: Option<Vec<String>>,
    /// Samples left out before anything is fitted, by a sheet column's values.
    pub exclude: Option<Exclude>,
    /// Per-layer evomics-norm pipelines (`[preprocess.<layer>]`), fitted inside every fold.
    #[serde(default)]
    pub preprocess: BTreeMap<String, NormalizeConfig>,
    /// Feature selection inside every fold (default none).
    pub selection: Option<Selection>,
    /// Scaling of the kept features: `standardize` (default), `block` or `none`.
    pub scaling: Option<Scaling>,
    /// The model (default: elastic net with its default parameters).
    pub model: Option<ModelSpec>,
    /// The cross-validation design (default: 5-fold group CV by `donor_id`).
    pub cv: Option<CvScheme>,
    /// Nested hyperparameter tuning.
    pub tuning: Option<TuningFile>,
    /// Seed of folds, models and permutations (default 20240601).
    pub seed: Option<u64>,
    /// Label permutations of the permutation test (default 99; 0 switches it off).
    pub permutations: Option<usize>,
    /// Permute labels only within groups of this sheet column (default: free permutations).
    pub permute_within: Option<String>,
    /// Sheet column of the cell source for the source checks (default: no check).
    pub source_column: Option<String>,
    /// Within-source permutations of the source check (default: `permutations`).
    pub source_permutations: Option<usize>,
    /// Error rate of the conformal sets and intervals (default 0.1).
    pub conformal_alpha: Option<f64>,
    /// Training-set fractions of the learning curve (default [0.25, 0.5, 0.75, 1.0]; [] for none).
    pub learning_curve: Option<Vec<f64>>,
    /// Repeats of permutation importance on each test fold (default 0: off).
    pub permutation_importance: Option<usize>,
    /// Size of the per-fold top list counted in importance.tsv's `top_frequency` (default 20).
    pub top_features: Option<usize>,
    /// What `predict` does with features missing in new data: `error` (default) or `impute`.
    pub missing_features: Option<MissingFeatureRule>,
    /// Write fold-models.json (default false).
    pub save_fold_models: Option<bool>,
}

/// Samples to leave out: those whose `column` holds one of `values` (compared as text).
///
/// ```toml
/// exclude = { column = "excluded_by_authors", values = ["True"] }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exclude {
    /// Sheet column.
    pub column: String,
    /// Values marking a sample to leave out.
    pub values: Vec<String>,
}

impl Exclude {
    /// Parse `COLUMN=VALUE[;VALUE…]`.
    pub fn parse(text: &str) -> anyhow::Result<Exclude> {
        let Some((column, values)) = text.split_once('=') else {
            bail!("--exclude '{text}': expected COLUMN=VALUE[;VALUE...], e.g. excluded_by_authors=True");
        };
        let values: Vec<String> = values.split(';').map(|v| v.trim().to_string()).collect();
        if column.trim().is_empty() || values.iter().any(String::is_empty) {
            bail!("--exclude '{text}': the column and every value must be non-empty");
        }
        Ok(Exclude {
            column: column.trim().to_string(),
            values,
        })
    }
}

/// Nested tuning in the config: a grid crossed with `[model]`'s parameters, and/or explicit
/// candidate models, scored by an inner CV on each outer training part.
///
/// ```toml
/// [tuning]
/// grid = { lambda = [0.01, 0.05, 0.2], alpha = [0.5, 1.0] }
/// inner = { scheme = "group_k_fold", k = 4, group = "donor_id" }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuningFile {
    /// Parameter name → values; every combination becomes a candidate.
    #[serde(default)]
    pub grid: BTreeMap<String, Vec<toml::Value>>,
    /// Further candidates, each a complete model.
    #[serde(default)]
    pub candidates: Vec<ModelSpec>,
    /// Inner design (default: the outer one, one repeat).
    pub inner: Option<CvScheme>,
}

/// Everything `train` does, resolved from the config file and the flags (written to
/// metrics.json and manifest.json as the run's settings).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainSettings {
    /// The target.
    pub target: TargetSpec,
    /// Layers used, in store order.
    pub layers: Vec<String>,
    /// Samples left out by a sheet column's values.
    pub exclude: Option<Exclude>,
    /// Preprocessing, model, design, tuning, seed, conformal α (evomics-ml's config).
    pub config: TrainConfig,
    /// Label permutations (0: none).
    pub permutations: usize,
    /// Column labels are permuted within, if any.
    pub permute_within: Option<String>,
    /// Source column of the source checks, if any.
    pub source_column: Option<String>,
    /// Within-source permutations.
    pub source_permutations: usize,
    /// Learning-curve fractions.
    pub learning_curve: Vec<f64>,
    /// Missing-feature rule saved with the model.
    pub missing_features: MissingFeatureRule,
    /// Whether fold-models.json is written.
    pub save_fold_models: bool,
}

const DEFAULT_PERMUTATIONS: usize = 99;
const DEFAULT_FRACTIONS: [f64; 4] = [0.25, 0.5, 0.75, 1.0];

/// Read and parse a train config.
pub fn read_config(path: &Path) -> anyhow::Result<TrainFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the train config {}", path.display()))?;
    toml::from_str(&text).with_context(|| {
        format!(
            "train config {} is invalid (keys are listed in docs/potency-models.md)",
            path.display()
        )
    })
}

/// A design split into (kind, k, group, repeats, stratify) for overriding by flags.
fn cv_parts(cv: &CvScheme) -> (CvKind, usize, Option<String>, usize, bool) {
    match cv {
        CvScheme::KFold {
            k,
            repeats,
            stratify,
        } => (CvKind::Kfold, *k, None, *repeats, *stratify),
        CvScheme::GroupKFold {
            k,
            group,
            repeats,
            stratify,
        } => (
            CvKind::GroupKfold,
            *k,
            Some(group.clone()),
            *repeats,
            *stratify,
        ),
        CvScheme::LeaveOneGroupOut { group } => (CvKind::Logo, 5, Some(group.clone()), 1, true),
    }
}

/// The design from the config overlaid with `--cv`, `--folds`, `--repeats` and `--group`.
pub fn resolve_cv(file: Option<&CvScheme>, a: &TrainArgs) -> anyhow::Result<CvScheme> {
    let base = file.cloned().unwrap_or(CvScheme::GroupKFold {
        k: 5,
        group: "donor_id".into(),
        repeats: 1,
        stratify: true,
    });
    let (base_kind, mut k, group, mut repeats, stratify) = cv_parts(&base);
    let kind = a.cv.unwrap_or(base_kind);
    if let Some(x) = a.folds {
        if kind == CvKind::Logo {
            bail!("--folds does not apply to leave-one-group-out (one fold per group); use --cv group_kfold to set the number of folds");
        }
        k = x;
    }
    if let Some(r) = a.repeats {
        if kind == CvKind::Logo {
            bail!("--repeats does not apply to leave-one-group-out (its folds are fixed); use --cv group_kfold for repeated group CV");
        }
        repeats = r;
    }
    if a.group.is_some() && kind == CvKind::Kfold {
        bail!("--group needs a group design; use --cv group_kfold or --cv logo (k-fold splits samples, not groups)");
    }
    let group = a
        .group
        .clone()
        .or(group)
        .unwrap_or_else(|| "donor_id".into());
    Ok(match kind {
        CvKind::Kfold => CvScheme::KFold {
            k,
            repeats,
            stratify,
        },
        CvKind::GroupKfold => CvScheme::GroupKFold {
            k,
            group,
            repeats,
            stratify,
        },
        CvKind::Logo => CvScheme::LeaveOneGroupOut { group },
    })
}

/// Every combination of the grid's values applied to `base` (keys in name order, the last
/// varying fastest).
pub fn expand_grid(
    base: &ModelSpec,
    grid: &BTreeMap<String, Vec<toml::Value>>,
) -> anyhow::Result<Vec<ModelSpec>> {
    let base_json = serde_json::to_value(base)?;
    let Value::Object(fields) = &base_json else {
        bail!("internal: a model serializes to a table");
    };
    let mut combos: Vec<serde_json::Map<String, Value>> = vec![fields.clone()];
    for (key, values) in grid {
        if key == "model" || !fields.contains_key(key) {
            let known: Vec<&str> = fields
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "model")
                .collect();
            bail!(
                "tuning grid: '{key}' is not a parameter of {} (its parameters: {})",
                base.name(),
                known.join(", ")
            );
        }
        if values.is_empty() {
            bail!("tuning grid: '{key}' has no values; list at least one");
        }
        let mut next = Vec::with_capacity(combos.len() * values.len());
        for c in &combos {
            for v in values {
                let mut c = c.clone();
                c.insert(key.clone(), serde_json::to_value(v)?);
                next.push(c);
            }
        }
        combos = next;
    }
    combos
        .into_iter()
        .map(|c| {
            let v = Value::Object(c);
            serde_json::from_value::<ModelSpec>(v.clone())
                .with_context(|| format!("tuning grid: candidate {v} is not a valid model"))
        })
        .collect()
}

/// Resolve the config file and the flags into the run's settings (`store_layers`: the store's
/// layer names, the default).
pub fn resolve(
    file: &TrainFile,
    a: &TrainArgs,
    store_layers: &[String],
) -> anyhow::Result<TrainSettings> {
    let target = a
        .target
        .clone()
        .or_else(|| file.target.clone())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no target: give --target COLUMN or `target = \"COLUMN\"` in the config"
            )
        })?;
    let layers = a
        .layers
        .clone()
        .or_else(|| file.layers.clone())
        .unwrap_or_else(|| store_layers.to_vec());
    if layers.is_empty() {
        bail!("no layer to train on: name at least one with --layers or `layers = [...]`");
    }
    for l in &layers {
        if !store_layers.contains(l) {
            bail!(
                "layer '{l}' is not in the store (it has: {})",
                store_layers.join(", ")
            );
        }
    }
    for l in file.preprocess.keys() {
        if !layers.contains(l) {
            bail!(
                "the config has [preprocess.{l}], but '{l}' is not among the layers used ({}); fix the table name or add the layer",
                layers.join(", ")
            );
        }
    }
    let model = match (a.model, &file.model) {
        (Some(kind), Some(m)) if m.name() == kind.name() => m.clone(),
        (Some(kind), _) => kind.default_spec(),
        (None, Some(m)) => m.clone(),
        (None, None) => ModelSpec::ElasticNet(ElasticNetParams::default()),
    };
    let cv = resolve_cv(file.cv.as_ref(), a)?;
    let tuning = match &file.tuning {
        None => None,
        Some(t) => {
            let mut candidates = if t.grid.is_empty() {
                Vec::new()
            } else {
                expand_grid(&model, &t.grid)?
            };
            candidates.extend(t.candidates.iter().cloned());
            if candidates.is_empty() {
                bail!("[tuning] has neither a grid nor candidates; add `grid = {{ lambda = [0.01, 0.1] }}` or remove the table");
            }
            let inner = t.inner.clone().unwrap_or_else(|| match &cv {
                CvScheme::KFold { k, stratify, .. } => CvScheme::KFold {
                    k: *k,
                    repeats: 1,
                    stratify: *stratify,
                },
                CvScheme::GroupKFold {
                    k, group, stratify, ..
                } => CvScheme::GroupKFold {
                    k: *k,
                    group: group.clone(),
                    repeats: 1,
                    stratify: *stratify,
                },
                other => other.clone(),
            });
            Some(Tuning { candidates, inner })
        }
    };
    let preprocess = PreprocessConfig {
        layers: file.preprocess.clone(),
        selection: file.selection.clone().unwrap_or_default(),
        scaling: file.scaling.unwrap_or_default(),
    };
    let mut config = TrainConfig::new(preprocess, model, cv);
    config.tuning = tuning;
    if let Some(s) = a.seed.or(file.seed) {
        config.seed = s;
    }
    if let Some(r) = file.permutation_importance {
        config.permutation_importance = r;
    }
    if let Some(t) = file.top_features {
        config.top_features = t;
    }
    if let Some(al) = file.conformal_alpha {
        config.conformal_alpha = al;
    }
    config.validate().context("train config")?;
    let permutations = a
        .permutations
        .or(file.permutations)
        .unwrap_or(DEFAULT_PERMUTATIONS);
    let source_column = a
        .source_column
        .clone()
        .or_else(|| file.source_column.clone());
    let source_permutations = file.source_permutations.unwrap_or(permutations);
    if source_column.is_some() && source_permutations == 0 {
        bail!("the source check needs within-source permutations: set `source_permutations` (or `permutations`) to at least 1, or drop `source_column`");
    }
    let learning = file
        .learning_curve
        .clone()
        .unwrap_or_else(|| DEFAULT_FRACTIONS.to_vec());
    if let Some(bad) = learning.iter().find(|x| !(**x > 0.0 && **x <= 1.0)) {
        bail!("learning_curve: fraction {bad} is outside (0, 1]; use e.g. [0.25, 0.5, 0.75, 1.0]");
    }
    Ok(TrainSettings {
        target: TargetSpec {
            column: target,
            kind: file.target_kind.unwrap_or_default(),
            classes: file.classes.clone(),
        },
        layers: store_layers
            .iter()
            .filter(|l| layers.contains(l))
            .cloned()
            .collect(),
        exclude: match &a.exclude {
            Some(t) => Some(Exclude::parse(t)?),
            None => file.exclude.clone(),
        },
        config,
        permutations,
        permute_within: a
            .permute_within
            .clone()
            .or_else(|| file.permute_within.clone()),
        source_column,
        source_permutations,
        learning_curve: learning,
        missing_features: file.missing_features.unwrap_or_default(),
        save_fold_models: a.save_fold_models || file.save_fold_models.unwrap_or(false),
    })
}

/// A progress line on a terminal (`\r`-rewritten), nothing otherwise.
struct Progress {
    on: bool,
    label: String,
}

impl Progress {
    /// A progress line, shown only on a terminal and without `--quiet`.
    fn new(log: Log, label: &str) -> Progress {
        Progress {
            on: !log.quiet && std::io::stderr().is_terminal(),
            label: label.to_string(),
        }
    }

    /// Show `done` of `total`.
    fn tick(&self, done: usize, total: usize) {
        if self.on {
            eprint!("\r{} {done}/{total}", self.label);
            if done == total {
                eprintln!();
            }
        }
    }
}

/// Out-of-fold conformal sets (classes) or intervals (numbers): every out-of-fold prediction
/// of a repeat is calibrated on the nonconformity scores of the repeat's *other* samples (never
/// on its own). Their coverage is ≈ 1 − α by construction (exchangeable scores); what the
/// data decide is how informative they are: the set sizes or interval widths.
struct OofConformal {
    /// Per prediction row: the set (class names) or interval.
    cells: Vec<ConformalCell>,
    /// Share of rows whose truth is covered.
    coverage: f64,
    /// Mean set size (classes) or interval width (numbers).
    mean_size: f64,
    /// Share of rows whose set holds exactly one class (classes only).
    single: f64,
    /// Share of rows whose set is empty (classes only).
    empty: f64,
}

/// One prediction row's conformal set (class names, covered) or interval (low, high, covered).
enum ConformalCell {
    Set(Vec<String>, bool),
    Interval(f64, f64, bool),
}

/// Conformal sets / intervals of every out-of-fold prediction (see [`OofConformal`]).
fn oof_conformal(report: &CvReport, data: &Dataset, alpha: f64) -> anyhow::Result<OofConformal> {
    let pos: HashMap<&str, usize> = data
        .sample_ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let n = report.predictions.len();
    let mut scores = vec![0.0; n];
    let mut point = vec![0.0; n];
    for (r, row) in report.predictions.iter().enumerate() {
        let i = pos[row.sample_id.as_str()];
        scores[r] = match &data.labels {
            Labels::Classes { y, .. } => 1.0 - row.probabilities.get(y[i]).copied().unwrap_or(0.0),
            Labels::Numeric { y } => {
                point[r] = row.predicted.parse::<f64>().unwrap_or(f64::NAN);
                (y[i] - point[r]).abs()
            }
        };
    }
    let mut by_repeat: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (r, row) in report.predictions.iter().enumerate() {
        by_repeat.entry(row.repeat).or_default().push(r);
    }
    let mut cells: Vec<Option<ConformalCell>> = (0..n).map(|_| None).collect();
    for rows in by_repeat.values() {
        for &r in rows {
            let others: Vec<f64> = rows
                .iter()
                .filter(|&&o| o != r)
                .map(|&o| scores[o])
                .collect();
            let q = conformal_quantile(&others, alpha)?;
            let i = pos[report.predictions[r].sample_id.as_str()];
            cells[r] = Some(match &data.labels {
                Labels::Classes { y, .. } => {
                    let set = prediction_set(&report.predictions[r].probabilities, q);
                    let covered = set.contains(&y[i]);
                    ConformalCell::Set(
                        set.into_iter().map(|c| data.classes[c].clone()).collect(),
                        covered,
                    )
                }
                Labels::Numeric { y } => {
                    let (lo, hi) = (point[r] - q, point[r] + q);
                    ConformalCell::Interval(lo, hi, lo <= y[i] && y[i] <= hi)
                }
            });
        }
    }
    let cells: Vec<ConformalCell> = cells.into_iter().flatten().collect();
    let covered = cells
        .iter()
        .filter(|c| match c {
            ConformalCell::Set(_, v) | ConformalCell::Interval(_, _, v) => *v,
        })
        .count();
    let size: f64 = cells
        .iter()
        .map(|c| match c {
            ConformalCell::Set(s, _) => s.len() as f64,
            ConformalCell::Interval(lo, hi, _) => hi - lo,
        })
        .sum();
    let m = cells.len().max(1) as f64;
    let share = |k: usize| {
        cells
            .iter()
            .filter(|c| matches!(c, ConformalCell::Set(s, _) if s.len() == k))
            .count() as f64
            / m
    };
    Ok(OofConformal {
        coverage: covered as f64 / m,
        mean_size: size / m,
        single: share(1),
        empty: share(0),
        cells,
    })
}

/// `folds.tsv`: sample_id, repeat, fold, split.
fn folds_table(report: &CvReport) -> Table {
    let mut t = Table::new(["sample_id", "repeat", "fold", "split"]);
    for a in &report.folds {
        t.push(vec![
            a.sample_id.clone(),
            a.repeat.to_string(),
            a.fold.to_string(),
            match a.split {
                Part::Train => "train",
                Part::Test => "test",
            }
            .to_string(),
        ]);
    }
    t
}

/// `predictions.tsv`: out-of-fold predictions with probabilities and conformal sets/intervals.
fn predictions_table(report: &CvReport, oof: &OofConformal, numeric: bool) -> Table {
    let mut cols: Vec<String> = ["sample_id", "repeat", "fold", "truth", "predicted"]
        .map(String::from)
        .to_vec();
    if numeric {
        cols.extend(["lower", "upper"].map(String::from));
    } else {
        cols.extend(report.classes.iter().map(|c| format!("p_{c}")));
        cols.push("conformal_set".into());
    }
    cols.push("covered".into());
    let mut t = Table::new(cols);
    for (row, cell) in report.predictions.iter().zip(&oof.cells) {
        let mut r = vec![
            row.sample_id.clone(),
            row.repeat.to_string(),
            row.fold.to_string(),
            row.truth.clone().unwrap_or_else(|| "NA".into()),
            row.predicted.clone(),
        ];
        r.extend(
            row.probabilities
                .iter()
                .take(report.classes.len())
                .map(|p| f(*p)),
        );
        match cell {
            ConformalCell::Set(s, c) => {
                r.push(s.join(";"));
                r.push(c.to_string());
            }
            ConformalCell::Interval(lo, hi, c) => {
                r.push(f(*lo));
                r.push(f(*hi));
                r.push(c.to_string());
            }
        }
        t.push(r);
    }
    t
}

/// Signed coefficient of every input of the final model, when it is linear with one
/// coefficient per feature (elastic net with one response, PLS).
fn final_coefficients(model: &FittedModel) -> Option<Vec<f64>> {
    match model {
        FittedModel::ElasticNet(m) if m.coefficients.ncols() == 1 => {
            Some(m.coefficients.column(0).to_vec())
        }
        FittedModel::Pls(m) => Some(m.coefficients.clone()),
        _ => None,
    }
}

/// Gene names of the layers' features, from the first of the annotations `gene`, `gene_name`,
/// `symbol` a layer has (FragPipe and MaxQuant readers keep one).
fn gene_names(layers: &[&Assay]) -> HashMap<(String, String), String> {
    let mut out = HashMap::new();
    for l in layers {
        let f = l.features();
        let Some(genes) = ["gene", "gene_name", "symbol"]
            .iter()
            .find_map(|n| f.annotation(n))
        else {
            continue;
        };
        for (id, g) in f.ids().iter().zip(genes) {
            if let Some(g) = g.as_ref().filter(|g| !g.is_empty()) {
                out.insert((l.name().to_string(), id.clone()), g.clone());
            }
        }
    }
    out
}

/// `importance.tsv`: CV importance and selection stability, plus the final model's importance.
fn importance_table(
    report: &CvReport,
    saved: &SavedModel,
    genes: &HashMap<(String, String), String>,
) -> Table {
    let gene = |fr: &FeatureRef| {
        genes
            .get(&(fr.layer.clone(), fr.id.clone()))
            .cloned()
            .unwrap_or_else(|| "NA".into())
    };
    let mut t = Table::new([
        "layer",
        "feature",
        "gene",
        "mean_importance",
        "sd_importance",
        "selection_frequency",
        "nonzero_frequency",
        "top_frequency",
        "permutation_importance",
        "final_importance",
        "final_coefficient",
    ]);
    let builtin = saved.model.builtin_importance();
    let coef = final_coefficients(&saved.model);
    let final_pos: HashMap<&FeatureRef, usize> = saved
        .features
        .iter()
        .enumerate()
        .map(|(j, fr)| (fr, j))
        .collect();
    let final_cells = |fr: &FeatureRef| -> (String, String) {
        match final_pos.get(fr) {
            Some(&j) => (
                num(builtin.as_ref().map(|b| b[j])),
                num(coef.as_ref().map(|c| c[j])),
            ),
            // Not an input of the final model (filtered or not selected on all samples).
            None => ("NA".into(), "NA".into()),
        }
    };
    let mut seen = std::collections::BTreeSet::new();
    for row in &report.importance {
        seen.insert(&row.feature);
        let (fi, fc) = final_cells(&row.feature);
        t.push(vec![
            row.feature.layer.clone(),
            row.feature.id.clone(),
            gene(&row.feature),
            f(row.mean_importance),
            f(row.sd_importance),
            f(row.selection_frequency),
            f(row.nonzero_frequency),
            f(row.top_frequency),
            num(row.permutation_importance),
            fi,
            fc,
        ]);
    }
    // Final-model inputs that no fold kept.
    for fr in &saved.features {
        if !seen.contains(fr) {
            let (fi, fc) = final_cells(fr);
            t.push(vec![
                fr.layer.clone(),
                fr.id.clone(),
                gene(fr),
                f(0.0),
                f(0.0),
                f(0.0),
                f(0.0),
                f(0.0),
                "NA".into(),
                fi,
                fc,
            ]);
        }
    }
    t
}

/// `calibration.tsv`: reliability bins of the pooled positive-class probabilities.
fn calibration_table(report: &CvReport) -> Table {
    let mut t = Table::new(["lower", "upper", "n", "mean_predicted", "observed"]);
    for b in &report.calibration {
        t.push(vec![
            f(b.lower),
            f(b.upper),
            b.n.to_string(),
            f(b.mean_predicted),
            f(b.observed),
        ]);
    }
    t
}

/// `learning_curve.tsv`.
fn learning_table(points: &[LearningPoint]) -> Table {
    let mut t = Table::new(["fraction", "n_train", "mean", "sd", "n_folds"]);
    for p in points {
        t.push(vec![
            f(p.fraction),
            f(p.n_train),
            num(p.mean),
            num(p.sd),
            p.n_folds.to_string(),
        ]);
    }
    t
}

/// The sheet and layers without the samples `rule` excludes, and the excluded ids.
fn exclude_samples(
    sheet: &SampleSheet,
    layers: &[&Assay],
    rule: Option<&Exclude>,
) -> anyhow::Result<(SampleSheet, Vec<Assay>, Vec<String>)> {
    let Some(rule) = rule else {
        return Ok((
            sheet.clone(),
            layers.iter().map(|l| (*l).clone()).collect(),
            Vec::new(),
        ));
    };
    let col = sheet.column(&rule.column).ok_or_else(|| {
        anyhow::anyhow!(
            "exclude: column '{}' is not in the sample sheet (it has: {})",
            rule.column,
            sheet
                .columns()
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let mut keep = Vec::new();
    let mut excluded = Vec::new();
    for (row, id) in sheet.sample_ids().iter().enumerate() {
        match col.values.text(row) {
            Some(v) if rule.values.contains(&v) => excluded.push(id.clone()),
            _ => keep.push(row),
        }
    }
    let kept = sheet.select(&keep);
    let layers = layers
        .iter()
        .map(|l| {
            let ids: Vec<String> = l
                .samples()
                .iter()
                .filter(|s| kept.position(s).is_some())
                .cloned()
                .collect();
            l.select_samples_by_id(&ids)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((kept, layers, excluded))
}

/// Fail early when permuting within a column cannot change any label.
fn check_within(data: &Dataset, sheet: &SampleSheet, column: &str) -> anyhow::Result<()> {
    let groups = evomics_ml::data::group_labels(sheet, column, &data.sample_ids)?;
    let mut values: BTreeMap<&str, std::collections::BTreeSet<String>> = BTreeMap::new();
    for (i, g) in groups.iter().enumerate() {
        values
            .entry(g.as_str())
            .or_default()
            .insert(data.label_text(i));
    }
    if values.values().all(|v| v.len() < 2) {
        bail!("permuting labels within '{column}' cannot change any label: every '{column}' group has a single target value; use free permutations (drop permute_within) or a column whose groups mix the target values");
    }
    Ok(())
}

/// A metric with three decimals, `NA` when undefined.
fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "NA".into(), |x| format!("{x:.3}"))
}

/// A CV design in words, for the summary.
fn design_text(cv: &CvScheme) -> String {
    match cv {
        CvScheme::KFold {
            k,
            repeats,
            stratify,
        } => format!(
            "{}{k}-fold × {repeats} repeat(s)",
            if *stratify { "stratified " } else { "" }
        ),
        CvScheme::GroupKFold {
            k, group, repeats, ..
        } => format!("{k}-fold group CV by '{group}' × {repeats} repeat(s)"),
        CvScheme::LeaveOneGroupOut { group } => format!("leave-one-'{group}'-out"),
    }
}

/// What a train run computed.
struct Outcome<'a> {
    report: &'a CvReport,
    perm: Option<&'a PermutationTest>,
    sc: Option<&'a SourceCheck>,
    oof: &'a OofConformal,
    lc: &'a [LearningPoint],
    saved: &'a SavedModel,
}

/// The stderr summary lines.
fn summary_lines(s: &TrainSettings, data: &Dataset, o: &Outcome<'_>) -> Vec<String> {
    let Outcome {
        report,
        perm,
        sc,
        oof,
        lc,
        saved,
    } = *o;
    let mut out = Vec::new();
    let task = if data.classes.is_empty() {
        "numeric".to_string()
    } else if data.classes.len() == 2 {
        format!(
            "classes {}, positive '{}'",
            data.classes.join(" / "),
            data.classes[1]
        )
    } else {
        format!("{} classes", data.classes.len())
    };
    out.push(format!(
        "target '{}', {task}: {} samples{}, layers {}; model {}, {}",
        data.target,
        data.n_samples(),
        if data.dropped.is_empty() {
            String::new()
        } else {
            format!(" ({} dropped)", data.dropped.len())
        },
        s.layers.join(", "),
        s.config.model.name(),
        design_text(&s.config.cv)
    ));
    let n_folds = report.fold_metrics.len();
    let names: Vec<&str> = if data.classes.is_empty() {
        vec!["r2", "rmse", "mae", "spearman"]
    } else {
        vec!["roc_auc", "pr_auc", "balanced_accuracy", "mcc", "brier"]
    };
    for name in names {
        if let Some(m) = report.metric(name) {
            out.push(format!(
                "  {name:<18} {} ± {} (fold mean ± sd, {n_folds} folds), pooled {}",
                fmt_opt(m.fold_mean),
                fmt_opt(m.fold_sd),
                fmt_opt(m.pooled)
            ));
        }
    }
    match perm {
        Some(p) => {
            let mut null: Vec<f64> = p.null.iter().copied().filter(|v| v.is_finite()).collect();
            null.sort_by(f64::total_cmp);
            let median = null.get(null.len() / 2).copied();
            out.push(format!(
                "  permutation test: {} {:.3}, p = {:.4} ({} permutations, labels permuted {}; null median {})",
                p.metric,
                p.observed,
                p.p_value,
                p.null.len(),
                match &p.permutation {
                    Permutation::Free => "freely".to_string(),
                    Permutation::Within(c) => format!("within '{c}'"),
                },
                fmt_opt(median)
            ));
        }
        None => out.push("  permutation test: off (permutations = 0)".into()),
    }
    if let Some(c) = sc {
        out.push(format!(
            "  source check ('{}'): within-source permutation p = {:.4}; leave-one-source-out {} {}",
            c.source_column,
            c.within_source.p_value,
            c.leave_one_source_out.primary_name(),
            fmt_opt(c.leave_one_source_out.primary())
        ));
    }
    if data.classes.is_empty() {
        out.push(format!(
            "  conformal (α = {}): out-of-fold intervals of mean width {:.4} (coverage {:.1}%, ≈ 1 − α by construction)",
            s.config.conformal_alpha,
            oof.mean_size,
            100.0 * oof.coverage
        ));
    } else {
        out.push(format!(
            "  conformal (α = {}): out-of-fold sets name one class for {:.0}% of samples, none for {:.0}%, mean size {:.2} (coverage {:.1}%, ≈ 1 − α by construction)",
            s.config.conformal_alpha,
            100.0 * oof.single,
            100.0 * oof.empty,
            oof.mean_size,
            100.0 * oof.coverage
        ));
    }
    if !lc.is_empty() {
        out.push(format!(
            "  learning curve: {}",
            lc.iter()
                .map(|p| format!("{:.0} samples → {}", p.n_train, fmt_opt(p.mean)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(t) = &s.config.tuning {
        let mut chosen: BTreeMap<String, usize> = BTreeMap::new();
        for fm in &report.fold_metrics {
            *chosen.entry(tuned_label(&fm.model, t)).or_default() += 1;
        }
        out.push(format!(
            "  nested tuning chose {} in the outer folds; {} for the final model",
            chosen
                .iter()
                .map(|(l, n)| format!("{l} ({n}×)"))
                .collect::<Vec<_>>()
                .join(", "),
            tuned_label(&saved.model_params, t)
        ));
    }
    out.push(format!(
        "  final model: {} on {} samples, {} input features",
        saved.model_params.name(),
        saved.training.n_samples,
        saved.features.len()
    ));
    out
}

/// The parameters that differ among the tuning candidates, as `name=value` of `model`.
fn tuned_label(model: &ModelSpec, t: &Tuning) -> String {
    let cands: Vec<Value> = t
        .candidates
        .iter()
        .filter_map(|c| serde_json::to_value(c).ok())
        .collect();
    let this = serde_json::to_value(model).unwrap_or(Value::Null);
    let Value::Object(fields) = &this else {
        return model.name().to_string();
    };
    let varying: Vec<String> = fields
        .iter()
        .filter(|(k, _)| {
            k.as_str() != "seed"
                && cands
                    .iter()
                    .any(|c| c.get(k.as_str()) != cands[0].get(k.as_str()))
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if varying.is_empty() {
        model.name().to_string()
    } else {
        varying.join(" ")
    }
}

/// Pretty JSON with a trailing newline.
fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// Warn when a layer looks preprocessed outside the folds (that leaks held-out samples into
/// the fitted parameters).
fn warn_preprocessed(log: Log, manifest: &Manifest, layers: &[&Assay]) {
    if manifest.stage == "normalize" {
        log.warn("the store was written by `evomics normalize`: its pipeline was fitted on all samples, outside the cross-validation, so the CV estimates are optimistic; train on the ingested store and put the pipeline in [preprocess.<layer>]");
    }
    for l in layers {
        let c = l.flag_counts();
        if c.imputed > 0 {
            log.warn(format!("layer '{}' has {} imputed cells: an imputation fitted outside the folds leaks; impute inside them with [preprocess.{}] imputation = {{ ... }}", l.name(), c.imputed, l.name()));
        }
    }
}

/// Run `evomics train`.
pub fn run(a: TrainArgs, log: Log) -> anyhow::Result<()> {
    let file = match &a.config {
        Some(p) => read_config(p)?,
        None => TrainFile::default(),
    };
    let (exp, store_manifest) = read_experiment(&a.store)?;
    let store_layers: Vec<String> = exp.layers().keys().cloned().collect();
    let s = resolve(&file, &a, &store_layers)?;
    let layers: Vec<&Assay> = s
        .layers
        .iter()
        .map(|l| exp.layer(l))
        .collect::<Result<_, _>>()?;
    warn_preprocessed(log, &store_manifest, &layers);
    let (sheet, layers, excluded) = exclude_samples(exp.samples(), &layers, s.exclude.as_ref())?;
    if let Some(e) = &s.exclude {
        if excluded.is_empty() {
            log.warn(format!(
                "exclude: no sample has {} in '{}'; nothing was left out",
                e.values.join(" or "),
                e.column
            ));
        } else {
            log.say(format!(
                "excluded {} sample(s) by '{}': {}",
                excluded.len(),
                e.column,
                excluded.join(", ")
            ));
        }
    }
    let sheet = &sheet;
    let layer_refs: Vec<&Assay> = layers.iter().collect();
    let data = Dataset::assemble(&layer_refs, sheet, &s.target)?;
    if !data.dropped.is_empty() {
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for d in &data.dropped {
            *reasons.entry(d.reason.as_str()).or_default() += 1;
        }
        log.say(format!(
            "left out {} sample(s): {}",
            data.dropped.len(),
            reasons
                .iter()
                .map(|(r, n)| format!("{n} {r}"))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if let Some(c) = &s.permute_within {
        check_within(&data, sheet, c)?;
    }
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let cfg = &s.config;
    log.say(format!(
        "cross-validating: {} samples, {}, model {}{}",
        data.n_samples(),
        design_text(&cfg.cv),
        cfg.model.name(),
        cfg.tuning.as_ref().map_or(String::new(), |t| format!(
            " tuned over {} candidates",
            t.candidates.len()
        ))
    ));
    let report = cross_validate(&data, sheet, cfg).map_err(|e| with_hint(e.into(), &s))?;
    let perm = if s.permutations > 0 {
        let p = Progress::new(log, "permutations");
        let tick = |d: usize, t: usize| p.tick(d, t);
        let permutation = match &s.permute_within {
            Some(c) => Permutation::Within(c.clone()),
            None => Permutation::Free,
        };
        Some(
            permutation_test_given(
                &report,
                &data,
                sheet,
                cfg,
                s.permutations,
                &permutation,
                Runner {
                    threads,
                    progress: Some(&tick),
                },
            )
            .context("permutation test")?,
        )
    } else {
        None
    };
    let sc = match &s.source_column {
        Some(c) => {
            let p = Progress::new(log, "within-source permutations");
            let tick = |d: usize, t: usize| p.tick(d, t);
            Some(
                source_check_given(
                    &report,
                    &data,
                    sheet,
                    cfg,
                    c,
                    s.source_permutations,
                    Runner {
                        threads,
                        progress: Some(&tick),
                    },
                )
                .with_context(|| format!("source check on '{c}'"))?,
            )
        }
        None => None,
    };
    let lc = if s.learning_curve.is_empty() {
        Vec::new()
    } else {
        learning_curve(&data, sheet, cfg, &s.learning_curve).context("learning curve")?
    };
    let saved = train_final(&data, sheet, cfg, Some(&report))
        .context("fitting the final model on all samples")?
        .with_missing_rule(s.missing_features);
    let oof = oof_conformal(&report, &data, cfg.conformal_alpha)?;

    let numeric = data.classes.is_empty();
    let metrics = json!({
        "target": data.target,
        "task": if data.classes.is_empty() { "regression" } else { "classification" },
        "classes": data.classes,
        "positive_class": (data.classes.len() == 2).then(|| data.classes[1].clone()),
        "n_samples": data.n_samples(),
        "excluded": excluded,
        "dropped": data.dropped,
        "layers": layers.iter().map(|l| json!({
            "layer": l.name(), "features": l.n_features(),
            "final_model_inputs": saved.features.iter().filter(|f| f.layer == l.name()).count(),
        })).collect::<Vec<_>>(),
        "data_hash": saved.training.data_hash,
        "summary": report.summary,
        "folds": report.fold_metrics,
        "pooled": report.pooled_metrics,
        "permutation_test": perm,
        "source_check": sc,
        "conformal": {
            "alpha": cfg.conformal_alpha,
            "threshold": report.conformal.threshold.is_finite().then_some(report.conformal.threshold),
            "calibration_scores": report.conformal.scores.len(),
            "out_of_fold_coverage": oof.coverage,
            "out_of_fold_mean_size": oof.mean_size,
            "out_of_fold_single_class": (!numeric).then_some(oof.single),
            "out_of_fold_empty": (!numeric).then_some(oof.empty),
        },
        "learning_curve": lc,
        "final_model": {
            "model": saved.model_params,
            "n_samples": saved.training.n_samples,
            "input_features": saved.features.len(),
        },
        "settings": s,
        "software_version": env!("CARGO_PKG_VERSION"),
    });

    let mut manifest = Manifest::new("train");
    manifest.inputs.push(InputFile::store(&a.store)?);
    if let Some(c) = &a.config {
        manifest.inputs.push(InputFile::hash("config", c)?);
    }
    manifest.settings = json!({ "store": a.store.display().to_string(), "train": s });
    manifest.seeds.insert("train".into(), cfg.seed);
    manifest.reports = json!({
        "data_hash": saved.training.data_hash,
        "summary": report.summary,
        "permutation_p": perm.as_ref().map(|p| p.p_value),
    });
    let model_json = saved.to_json()?;
    let genes = gene_names(&layer_refs);
    let fold_models = if s.save_fold_models {
        Some(serde_json::to_string(
            &json!({ "sample_ids": data.sample_ids, "folds": report.fits }),
        )?)
    } else {
        None
    };
    write_stage(&a.out, &manifest, |tmp| {
        evomics_io::atomic::write_file_atomic(
            &tmp.join("metrics.json"),
            pretty(&metrics).as_bytes(),
        )?;
        folds_table(&report).write(&tmp.join("folds.tsv"))?;
        predictions_table(&report, &oof, numeric).write(&tmp.join("predictions.tsv"))?;
        importance_table(&report, &saved, &genes).write(&tmp.join("importance.tsv"))?;
        calibration_table(&report).write(&tmp.join("calibration.tsv"))?;
        learning_table(&lc).write(&tmp.join("learning_curve.tsv"))?;
        evomics_io::atomic::write_file_atomic(&tmp.join("model.json"), model_json.as_bytes())?;
        if let Some(fm) = &fold_models {
            evomics_io::atomic::write_file_atomic(&tmp.join("fold-models.json"), fm.as_bytes())?;
        }
        Ok(())
    })?;
    let outcome = Outcome {
        report: &report,
        perm: perm.as_ref(),
        sc: sc.as_ref(),
        oof: &oof,
        lc: &lc,
        saved: &saved,
    };
    for line in summary_lines(&s, &data, &outcome) {
        log.say(line);
    }
    log.say(format!("wrote {}", a.out.display()));
    Ok(())
}

/// Point a missing-value error at the config table that fixes it.
fn with_hint(e: anyhow::Error, s: &TrainSettings) -> anyhow::Error {
    if let Some(evomics_ml::MlError::MissingValue { layer, .. }) =
        e.downcast_ref::<evomics_ml::MlError>()
    {
        let has = s.config.preprocess.layers.contains_key(layer);
        let hint = if has {
            format!("the [preprocess.{layer}] pipeline leaves missing cells; add e.g. imputation = {{ method = \"down_shift\" }} or a valid_values filter with min_fraction = 1")
        } else {
            format!("the config has no [preprocess.{layer}] table, so the layer goes to the model as stored; add one with an imputation (see docs/potency-models.md)")
        };
        return anyhow::anyhow!("{e}\n  hint: {hint}");
    }
    e
}
