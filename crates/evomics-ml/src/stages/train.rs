//! The `train` stage as one library call: [`run_train`] cross-validates a potency model without
//! leakage (every preprocessing step fitted inside the training folds), tests it against label
//! permutations, checks it is not just predicting the cell source, computes out-of-fold
//! conformal sets, a learning curve and importance, and fits the final model. The result,
//! [`TrainResult`], knows its tables and documents (`metrics.json`, `model.json`).
//!
//! Settings come as a [`TrainSpec`] (the `[train]` table of a run config or the `--config` file
//! of `evomics train`, every key optional), resolved against the store's layers into
//! [`TrainSettings`] by [`TrainSpec::resolve`]. The schema with examples is in
//! `docs/potency-models.md`.
//!
//! ```
//! use evomics_core::{Experiment, StageTables};
//! use evomics_ml::stages::train::{run_train, TrainContext, TrainSpec};
//! use evomics_sim::{simulate, SimParams};
//!
//! let mut params = SimParams::preset("small").unwrap();
//! params.seed = 3;
//! let cohort = simulate(&params).unwrap();
//! let exp: &Experiment = &cohort.experiment;
//! let spec: TrainSpec = toml::from_str(r#"
//!     target = "potency_class"
//!     layers = ["proteome"]
//!     permutations = 0
//!     learning_curve = []
//!     [preprocess.proteome]
//!     transform = { method = "log2" }
//!     imputation = { method = "down_shift", seed = 7 }
//!     [model]
//!     model = "elastic_net"
//!     [cv]
//!     scheme = "group_k_fold"
//!     k = 3
//!     group = "donor_id"
//! "#).unwrap();
//! let layers: Vec<String> = exp.layers().keys().cloned().collect();
//! let settings = spec.resolve(&layers).unwrap();
//! let result = run_train(exp, &settings, &TrainContext::default()).unwrap();
//! assert!(result.report.pooled_primary().is_some());
//! assert!(result.tables().iter().any(|t| t.name == "predictions"));
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use evomics_core::{
    Assay, Cell, ExcludeRules, Experiment, Kind, Message, SampleSheet, StageResult, StageTables,
    Table,
};
use evomics_norm::NormalizeConfig;

use crate::conformal::{conformal_quantile, prediction_set};
use crate::cv::{CvScheme, Part};
use crate::data::{Dataset, DroppedSample, TargetKind, TargetSpec};
use crate::error::{data_err, MlError, Result};
use crate::evaluate::PairedComparison;
use crate::evaluate::{
    cross_validate, cross_validate_gated, cross_validate_models_gated, learning_curve,
    permutation_test_given, source_check_given, CvReport, LearningPoint, MatrixGate, ModelChoice,
    ModelEntry, MultiCvReport, MultiTrainConfig, Permutation, PermutationTest, Runner, SourceCheck,
    TrainConfig, Tuning,
};
use crate::models::{
    BoostingParams, ElasticNetParams, FittedModel, ForestParams, KnnParams, Labels, ModelSpec,
    PlsParams, SvmParams,
};
use crate::persist::{
    fit_final, train_final, train_final_with, EarlyFinal, MissingFeatureRule, SavedModel,
};
use crate::preprocess::{FeatureRef, Prefit, PreprocessConfig, Scaling, Selection};

/// Model kinds selectable by name (`--model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// Elastic-net logistic / multinomial / Gaussian regression.
    ElasticNet,
    /// Random forest.
    RandomForest,
    /// k-nearest neighbours.
    Knn,
    /// PLS regression (numeric targets).
    Pls,
    /// Linear SVM with Platt-scaled probabilities (class targets).
    LinearSvm,
    /// Gradient boosting on histogram bins.
    GradientBoosting,
}
evomics_core::vocabulary!(ModelKind {
    ElasticNet => "elastic_net" | "enet" | "glmnet",
    RandomForest => "random_forest" | "rf" | "forest",
    Knn => "knn",
    Pls => "pls",
    LinearSvm => "linear_svm" | "svm",
    GradientBoosting => "gradient_boosting" | "boosting" | "gbm",
});

impl ModelKind {
    /// The model `--model KIND` asks for: `current` when it is of that kind (its parameters
    /// kept), else the kind with its default parameters.
    pub fn overlay(self, current: Option<&ModelSpec>) -> ModelSpec {
        match current {
            Some(m) if m.name() == self.name() => m.clone(),
            _ => self.default_spec(),
        }
    }

    /// The model with its default parameters.
    pub fn default_spec(self) -> ModelSpec {
        match self {
            ModelKind::ElasticNet => ModelSpec::ElasticNet(ElasticNetParams::default()),
            ModelKind::RandomForest => ModelSpec::RandomForest(ForestParams::default()),
            ModelKind::Knn => ModelSpec::Knn(KnnParams::default()),
            ModelKind::Pls => ModelSpec::Pls(PlsParams::default()),
            ModelKind::LinearSvm => ModelSpec::LinearSvm(SvmParams::default()),
            ModelKind::GradientBoosting => ModelSpec::GradientBoosting(BoostingParams::default()),
        }
    }
}

/// Cross-validation designs selectable by name (`--cv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CvKind {
    /// Group k-fold: no group (donor) in both parts of a fold.
    GroupKFold,
    /// (Stratified) k-fold on samples.
    KFold,
    /// Leave one group out (e.g. one source).
    LeaveOneGroupOut,
}
evomics_core::vocabulary!(CvKind {
    GroupKFold => "group_k_fold" | "group_kfold",
    KFold => "k_fold" | "kfold",
    LeaveOneGroupOut => "leave_one_group_out" | "logo",
});

pub use evomics_core::Exclude;

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
pub struct TuningSpec {
    /// Parameter name → values; every combination becomes a candidate.
    #[serde(default)]
    pub grid: BTreeMap<String, Vec<Value>>,
    /// Further candidates, each a complete model.
    #[serde(default)]
    pub candidates: Vec<ModelSpec>,
    /// Inner design (default: the outer one, one repeat).
    pub inner: Option<CvScheme>,
}

/// A small release panel (`panel = { max_features = 5 }`): the same model and design with only
/// the `max_features` features of largest univariate statistic, chosen inside every training
/// fold, cross-validated on the same splits as the full model and compared with it; the final
/// panel is fitted on all samples and saved as its own model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelSpec {
    /// Features in the panel, ≥ 1 (e.g. the 5 proteins an ELISA set can measure).
    pub max_features: usize,
}

/// One feature of the final panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanelFeature {
    /// The feature.
    pub feature: FeatureRef,
    /// Its gene name, where the layer annotates one.
    pub gene: Option<String>,
    /// Share of the panel CV's training folds whose panel held it.
    pub selection_frequency: f64,
    /// Coefficient in the final panel model (linear models with one response), on the
    /// standardized scale.
    pub coefficient: Option<f64>,
    /// Centre subtracted before the model (the layer pipeline's output scale).
    pub center: Option<f64>,
    /// Divisor applied after centring.
    pub scale: Option<f64>,
}

/// The panel: its cross-validation beside the full model's, the candidates' selection
/// frequencies, the final panel and how to apply it to values measured by another assay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanelResult {
    /// The request.
    pub spec: PanelSpec,
    /// The panel's cross-validation (same splits as the full model; fold fits left out).
    pub report: CvReport,
    /// Full model against panel on the headline metric (corrected resampled t-test).
    pub comparison: Option<PairedComparison>,
    /// Every feature chosen in at least one training fold, with its selection frequency
    /// (frequencies sum to `max_features`: each fold chooses that many).
    pub candidates: Vec<(FeatureRef, Option<String>, f64)>,
    /// The final panel, in model input order.
    pub features: Vec<PanelFeature>,
    /// Per layer, the pipeline steps a value goes through before centring and scaling, each with
    /// whether it can be applied to a panel measured alone (per-feature steps can; steps that
    /// use a sample's whole profile cannot).
    pub steps: Vec<(String, String, bool)>,
    /// The final panel model (`panel-model.json`, usable by `evomics predict`).
    pub model: SavedModel,
}

/// One model of a comparison: `[[models]]` in a train config. Its keys are the model's own
/// (`model = "linear_svm"`, `c = 0.1`, …, as in `[model]`) plus an optional `name` (default:
/// the model kind, which must then be unique) and an optional `tuning` table of its own.
///
/// ```toml
/// [[models]]
/// name = "enet"
/// model = "elastic_net"
/// alpha = 0.5
///
/// [[models]]
/// model = "linear_svm"
/// tuning = { grid = { c = [0.01, 0.1, 1.0] } }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    try_from = "serde_json::Map<String, Value>",
    into = "serde_json::Map<String, Value>"
)]
pub struct ModelEntrySpec {
    /// Name in the comparison tables (default: the model kind).
    pub name: Option<String>,
    /// The model and its parameters.
    pub model: ModelSpec,
    /// Nested tuning of this model (a grid crossed with its parameters and/or candidates).
    pub tuning: Option<TuningSpec>,
}

impl ModelEntrySpec {
    /// The name the model has in the comparison.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.model.name().to_string())
    }
}

impl TryFrom<serde_json::Map<String, Value>> for ModelEntrySpec {
    type Error = String;

    fn try_from(mut map: serde_json::Map<String, Value>) -> std::result::Result<Self, String> {
        let name = match map.remove("name") {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => return Err(format!("[[models]] name must be text, not {other}")),
        };
        let tuning = match map.remove("tuning") {
            None => None,
            Some(v) => Some(
                serde_json::from_value::<TuningSpec>(v)
                    .map_err(|e| format!("[[models]] tuning: {e}"))?,
            ),
        };
        if !map.contains_key("model") {
            return Err(format!(
                "[[models]]{}: no `model = \"KIND\"` (one of elastic_net, random_forest, gradient_boosting, linear_svm, knn, pls)",
                name.as_deref().map(|n| format!(" '{n}'")).unwrap_or_default()
            ));
        }
        let model = serde_json::from_value::<ModelSpec>(Value::Object(map)).map_err(|e| {
            format!(
                "[[models]]{}: {e}",
                name.as_deref()
                    .map(|n| format!(" '{n}'"))
                    .unwrap_or_default()
            )
        })?;
        Ok(ModelEntrySpec {
            name,
            model,
            tuning,
        })
    }
}

impl From<ModelEntrySpec> for serde_json::Map<String, Value> {
    fn from(e: ModelEntrySpec) -> Self {
        // Unset optional values are left out, as in a written config (TOML has no null).
        fn without_nulls(v: Value) -> Value {
            match v {
                Value::Object(m) => Value::Object(
                    m.into_iter()
                        .filter(|(_, v)| !v.is_null())
                        .map(|(k, v)| (k, without_nulls(v)))
                        .collect(),
                ),
                Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
                other => other,
            }
        }
        let mut map = match serde_json::to_value(&e.model).map(without_nulls) {
            Ok(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        if let Some(n) = e.name {
            map.insert("name".into(), Value::String(n));
        }
        if let Some(t) = e.tuning {
            if let Ok(v) = serde_json::to_value(t) {
                map.insert("tuning".into(), without_nulls(v));
            }
        }
        map
    }
}

/// The training configuration: `[train]` of a run config or the `--config` file of `evomics
/// train`. Every key is optional; see `docs/potency-models.md`.
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
pub struct TrainSpec {
    /// Sample-sheet column to predict.
    pub target: Option<String>,
    /// `auto` (text: classes, numbers: numeric), `class` or `numeric`.
    pub target_kind: Option<TargetKind>,
    /// Class order (default sorted); with two classes the second is the positive class.
    pub classes: Option<Vec<String>>,
    /// Layers joined on sample id (default: every layer of the store).
    pub layers: Option<Vec<String>>,
    /// Samples left out before anything is fitted, by sheet columns' values (one rule or a
    /// list; see [`evomics_core::exclude`]).
    #[serde(default, skip_serializing_if = "ExcludeRules::is_empty")]
    pub exclude: ExcludeRules,
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
    pub tuning: Option<TuningSpec>,
    /// Several models compared on the same folds (`[[models]]`; replaces `model` and `tuning`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelEntrySpec>,
    /// With `[[models]]`: the model to keep, by a metric's name (the best pooled value wins,
    /// e.g. `"brier"`) or by a model's name (default: the best pooled headline metric, ROC AUC
    /// for classes and R² for numbers).
    pub select: Option<String>,
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
    /// A small release panel selected inside the folds and compared with the full model.
    pub panel: Option<PanelSpec>,
}

/// Everything `train` does, resolved from the spec (written to metrics.json and the manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// The target.
    pub target: TargetSpec,
    /// Layers used, in store order.
    pub layers: Vec<String>,
    /// Samples left out by sheet columns' values.
    pub exclude: ExcludeRules,
    /// Preprocessing, model, design, tuning, seed, conformal α (evomics-ml's config). With
    /// several models this is the selected model's config once `run_train` has chosen it.
    pub config: TrainConfig,
    /// The models compared on shared folds, when the spec lists `[[models]]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<MultiTrainConfig>,
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
    /// The release panel, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panel: Option<PanelSpec>,
}

/// Label permutations of the permutation test when the spec names none.
pub const DEFAULT_PERMUTATIONS: usize = 99;
/// Learning-curve fractions when the spec names none.
pub const DEFAULT_FRACTIONS: [f64; 4] = [0.25, 0.5, 0.75, 1.0];
/// Largest number of permutations (or repeats) accepted: checked before anything is allocated.
pub const MAX_PERMUTATIONS: usize = 1_000_000;

fn invalid(param: &'static str, problem: String) -> MlError {
    MlError::InvalidParam {
        what: "train",
        param,
        problem,
    }
}

/// The default design: 5-fold group CV by `donor_id`.
pub fn default_cv() -> CvScheme {
    CvScheme::GroupKFold {
        k: 5,
        group: "donor_id".into(),
        repeats: 1,
        stratify: true,
    }
}

/// Overlay command-line CV settings on a design: `kind` replaces the scheme (keeping k,
/// repeats and group where they apply), `folds`, `repeats` and `group` replace those values.
pub fn overlay_cv(
    base: Option<&CvScheme>,
    kind: Option<CvKind>,
    folds: Option<usize>,
    repeats: Option<usize>,
    group: Option<&str>,
) -> Result<CvScheme> {
    let base = base.cloned().unwrap_or_else(default_cv);
    let (base_kind, mut k, base_group, mut reps, stratify) = match &base {
        CvScheme::KFold {
            k,
            repeats,
            stratify,
        } => (CvKind::KFold, *k, None, *repeats, *stratify),
        CvScheme::GroupKFold {
            k,
            group,
            repeats,
            stratify,
        } => (
            CvKind::GroupKFold,
            *k,
            Some(group.clone()),
            *repeats,
            *stratify,
        ),
        CvScheme::LeaveOneGroupOut { group } => {
            (CvKind::LeaveOneGroupOut, 5, Some(group.clone()), 1, true)
        }
    };
    let kind = kind.unwrap_or(base_kind);
    if let Some(x) = folds {
        if kind == CvKind::LeaveOneGroupOut {
            return Err(data_err("train", "--folds does not apply to leave-one-group-out (one fold per group); use --cv group_k_fold to set the number of folds"));
        }
        k = x;
    }
    if let Some(r) = repeats {
        if kind == CvKind::LeaveOneGroupOut {
            return Err(data_err("train", "--repeats does not apply to leave-one-group-out (its folds are fixed); use --cv group_k_fold for repeated group CV"));
        }
        reps = r;
    }
    if group.is_some() && kind == CvKind::KFold {
        return Err(data_err("train", "--group needs a group design; use --cv group_k_fold or --cv leave_one_group_out (k-fold splits samples, not groups)"));
    }
    let group = group
        .map(str::to_string)
        .or(base_group)
        .unwrap_or_else(|| "donor_id".into());
    Ok(match kind {
        CvKind::KFold => CvScheme::KFold {
            k,
            repeats: reps,
            stratify,
        },
        CvKind::GroupKFold => CvScheme::GroupKFold {
            k,
            group,
            repeats: reps,
            stratify,
        },
        CvKind::LeaveOneGroupOut => CvScheme::LeaveOneGroupOut { group },
    })
}

/// Every combination of the grid's values applied to `base` (keys in name order, the last
/// varying fastest).
pub fn expand_grid(
    base: &ModelSpec,
    grid: &BTreeMap<String, Vec<Value>>,
) -> Result<Vec<ModelSpec>> {
    let base_json = serde_json::to_value(base).map_err(|e| invalid("tuning", e.to_string()))?;
    let Value::Object(fields) = &base_json else {
        return Err(invalid("tuning", "a model serializes to a table".into()));
    };
    let mut combos: Vec<serde_json::Map<String, Value>> = vec![fields.clone()];
    for (key, values) in grid {
        if key == "model" || !fields.contains_key(key) {
            let known: Vec<&str> = fields
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "model")
                .collect();
            return Err(invalid(
                "grid",
                format!(
                    "'{key}' is not a parameter of {} (its parameters: {})",
                    base.name(),
                    known.join(", ")
                ),
            ));
        }
        if values.is_empty() {
            return Err(invalid(
                "grid",
                format!("'{key}' has no values; list at least one"),
            ));
        }
        if combos.len().saturating_mul(values.len()) > 10_000 {
            return Err(invalid(
                "grid",
                "more than 10000 candidate models; use fewer values".into(),
            ));
        }
        let mut next = Vec::with_capacity(combos.len() * values.len());
        for c in &combos {
            for v in values {
                let mut c = c.clone();
                c.insert(key.clone(), v.clone());
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
                .map_err(|e| invalid("grid", format!("candidate {v} is not a valid model ({e})")))
        })
        .collect()
}

/// The tuning of `model` a [`TuningSpec`] asks for: its grid crossed with the model's
/// parameters plus its explicit candidates, scored by its inner design (default: the outer
/// design with one repeat; leave-one-group-out stays as it is).
fn resolve_tuning(
    model: &ModelSpec,
    spec: Option<&TuningSpec>,
    cv: &CvScheme,
) -> Result<Option<Tuning>> {
    let Some(t) = spec else {
        return Ok(None);
    };
    let mut candidates = if t.grid.is_empty() {
        Vec::new()
    } else {
        expand_grid(model, &t.grid)?
    };
    candidates.extend(t.candidates.iter().cloned());
    if candidates.is_empty() {
        return Err(invalid("tuning", "[tuning] has neither a grid nor candidates; add `grid = { lambda = [0.01, 0.1] }` or remove the table".into()));
    }
    let inner = t.inner.clone().unwrap_or_else(|| match cv {
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
    Ok(Some(Tuning { candidates, inner }))
}

impl TrainSpec {
    /// Check everything that can be checked before the store is read (the layers it names are
    /// checked against the store by [`TrainSpec::resolve`]).
    pub fn validate(&self) -> Result<()> {
        let mut layers = self
            .layers
            .clone()
            .unwrap_or_else(|| self.preprocess.keys().cloned().collect());
        if layers.is_empty() {
            layers.push(String::new());
        }
        self.resolve(&layers).map(|_| ())
    }

    /// Resolve the spec against the store's layer names (the default layers) into the run's
    /// settings, validating everything that can be checked before data are read.
    pub fn resolve(&self, store_layers: &[String]) -> Result<TrainSettings> {
        let target = self.target.clone().ok_or_else(|| {
            invalid(
                "target",
                "no target: give --target COLUMN or `target = \"COLUMN\"` in the config".into(),
            )
        })?;
        let layers = self.layers.clone().unwrap_or_else(|| store_layers.to_vec());
        if layers.is_empty() {
            return Err(invalid(
                "layers",
                "no layer to train on: name at least one with --layers or `layers = [...]`".into(),
            ));
        }
        for l in &layers {
            if !store_layers.contains(l) {
                return Err(invalid(
                    "layers",
                    format!(
                        "layer '{l}' is not in the store (it has: {})",
                        store_layers.join(", ")
                    ),
                ));
            }
        }
        for l in self.preprocess.keys() {
            if !layers.contains(l) {
                return Err(invalid("preprocess", format!("the config has [preprocess.{l}], but '{l}' is not among the layers used ({}); fix the table name or add the layer", layers.join(", "))));
            }
        }
        if !self.models.is_empty() && (self.model.is_some() || self.tuning.is_some()) {
            return Err(invalid("models", "the config has [[models]] and also [model] or [tuning]; with several models put each model's parameters and tuning in its own [[models]] entry".into()));
        }
        if self.models.is_empty() && self.select.is_some() {
            return Err(invalid(
                "select",
                "`select` chooses among [[models]], and the config lists none; remove it or add [[models]] entries".into(),
            ));
        }
        let model = match (&self.model, self.models.first()) {
            (Some(m), _) => m.clone(),
            (None, Some(e)) => e.model.clone(),
            (None, None) => ModelSpec::ElasticNet(ElasticNetParams::default()),
        };
        let cv = self.cv.clone().unwrap_or_else(default_cv);
        let tuning = resolve_tuning(&model, self.tuning.as_ref(), &cv)?;
        let preprocess = PreprocessConfig {
            layers: self.preprocess.clone(),
            selection: self.selection.clone().unwrap_or_default(),
            scaling: self.scaling.unwrap_or_default(),
        };
        let mut config = TrainConfig::new(preprocess, model, cv);
        config.tuning = tuning;
        if let Some(s) = self.seed {
            config.seed = s;
        }
        if let Some(r) = self.permutation_importance {
            config.permutation_importance = r;
        }
        if let Some(t) = self.top_features {
            config.top_features = t;
        }
        if let Some(al) = self.conformal_alpha {
            config.conformal_alpha = al;
        }
        config.validate()?;
        let comparison = if self.models.is_empty() {
            None
        } else {
            let mut entries = Vec::with_capacity(self.models.len());
            for e in &self.models {
                entries.push(ModelEntry {
                    name: e.display_name(),
                    model: e.model.clone(),
                    tuning: resolve_tuning(&e.model, e.tuning.as_ref(), &config.cv)?,
                });
            }
            let choose = match &self.select {
                None => ModelChoice::Primary,
                Some(x) if entries.iter().any(|e| &e.name == x) => ModelChoice::Model(x.clone()),
                Some(x) => ModelChoice::Metric(x.clone()),
            };
            let multi = MultiTrainConfig {
                preprocess: config.preprocess.clone(),
                models: entries,
                cv: config.cv.clone(),
                seed: config.seed,
                permutation_importance: config.permutation_importance,
                top_features: config.top_features,
                conformal_alpha: config.conformal_alpha,
                choose,
            };
            multi.validate().map_err(|e| match e {
                MlError::InvalidParam {
                    param: "choose",
                    problem,
                    ..
                } => invalid(
                    "select",
                    format!(
                        "'{}' is neither a model's name nor a metric: {problem}",
                        self.select.as_deref().unwrap_or_default()
                    ),
                ),
                other => other,
            })?;
            config = multi.model_config(0);
            Some(multi)
        };
        let permutations = self.permutations.unwrap_or(DEFAULT_PERMUTATIONS);
        let source_permutations = self.source_permutations.unwrap_or(permutations);
        for (name, n) in [
            ("permutations", permutations),
            ("source_permutations", source_permutations),
            ("permutation_importance", config.permutation_importance),
        ] {
            if n > MAX_PERMUTATIONS {
                return Err(invalid(
                    match name {
                        "permutations" => "permutations",
                        "source_permutations" => "source_permutations",
                        _ => "permutation_importance",
                    },
                    format!("{n} is more than {MAX_PERMUTATIONS}; 199 to 9999 permutations resolve p-values to 0.005–0.0001"),
                ));
            }
        }
        if let CvScheme::KFold { repeats, .. } | CvScheme::GroupKFold { repeats, .. } = &config.cv {
            if *repeats > 1000 {
                return Err(invalid(
                    "repeats",
                    format!("{repeats} CV repeats; at most 1000 are accepted"),
                ));
            }
        }
        if let Some(p) = &self.panel {
            if p.max_features == 0 {
                return Err(invalid(
                    "panel",
                    "max_features is 0; a panel needs at least 1 feature".into(),
                ));
            }
        }
        if self.source_column.is_some() && source_permutations == 0 {
            return Err(invalid("source_permutations", "the source check needs within-source permutations: set `source_permutations` (or `permutations`) to at least 1, or drop `source_column`".into()));
        }
        let learning = self
            .learning_curve
            .clone()
            .unwrap_or_else(|| DEFAULT_FRACTIONS.to_vec());
        if let Some(bad) = learning.iter().find(|x| !(**x > 0.0 && **x <= 1.0)) {
            return Err(invalid(
                "learning_curve",
                format!("fraction {bad} is outside (0, 1]; use e.g. [0.25, 0.5, 0.75, 1.0]"),
            ));
        }
        Ok(TrainSettings {
            target: TargetSpec {
                column: target,
                kind: self.target_kind.unwrap_or_default(),
                classes: self.classes.clone(),
            },
            layers: store_layers
                .iter()
                .filter(|l| layers.contains(l))
                .cloned()
                .collect(),
            exclude: self.exclude.clone(),
            config,
            comparison,
            permutations,
            permute_within: self.permute_within.clone(),
            source_column: self.source_column.clone(),
            source_permutations,
            learning_curve: learning,
            missing_features: self.missing_features.unwrap_or_default(),
            save_fold_models: self.save_fold_models.unwrap_or(false),
            panel: self.panel.clone(),
        })
    }
}

/// The command-line shortcuts of `evomics train` that are not keys of [`TrainSpec`]: a model
/// or design named by kind, the design's folds, repeats and group, and the exclusion rule as
/// `COLUMN=VALUE[;VALUE…]`. They are applied on top of the spec (flags win).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainFlags {
    /// `--model KIND`: the spec's model when of that kind, else the kind's defaults.
    pub model: Option<ModelKind>,
    /// `--cv KIND`.
    pub cv: Option<CvKind>,
    /// `--folds K`.
    pub folds: Option<usize>,
    /// `--repeats R`.
    pub repeats: Option<usize>,
    /// `--group COLUMN`.
    pub group: Option<String>,
    /// `--exclude COLUMN=VALUE[;VALUE…]` (repeatable; replaces the spec's rules).
    pub exclude: Vec<String>,
}

impl TrainFlags {
    /// Apply the flags to a spec.
    pub fn apply(&self, spec: &mut TrainSpec) -> Result<()> {
        if let Some(kind) = self.model {
            if !spec.models.is_empty() {
                return Err(invalid("model", format!("--model {} replaces one model, and the config compares [[models]]; drop --model or the [[models]] entries", kind.name())));
            }
            spec.model = Some(kind.overlay(spec.model.as_ref()));
        }
        if self.cv.is_some()
            || self.folds.is_some()
            || self.repeats.is_some()
            || self.group.is_some()
        {
            spec.cv = Some(overlay_cv(
                spec.cv.as_ref(),
                self.cv,
                self.folds,
                self.repeats,
                self.group.as_deref(),
            )?);
        }
        if !self.exclude.is_empty() {
            spec.exclude = ExcludeRules::parse_all(&self.exclude)?;
        }
        Ok(())
    }
}

/// A progress callback: (what, done, total).
pub type Progress<'a> = &'a (dyn Fn(&str, usize, usize) + Sync);

/// How `run_train` runs: worker threads, a progress callback, and where the data come from.
#[derive(Clone, Copy, Default)]
pub struct TrainContext<'a> {
    /// Worker threads of the permutations (results do not depend on it; 0: all cores).
    pub threads: usize,
    /// Called with (what, done, total) as permutations progress.
    pub progress: Option<Progress<'a>>,
    /// True when the store was written by `normalize`: its pipeline saw every sample, so the
    /// CV estimates are optimistic (warned).
    pub preprocessed_store: bool,
    /// Layer pipelines already fitted on all samples (a run's `normalize` of the same ingested
    /// experiment), which the final model takes instead of fitting them again when they are
    /// exactly its fits ([`Prefit`]); the folds always fit their own.
    pub prefit: Option<&'a Prefit>,
    /// The final model fitted from `prefit` before the data were at hand ([`fit_final_early`]),
    /// taken when the data are the ones its fits were made on, fitted again otherwise
    /// ([`EarlyFinal::take`]).
    pub early_final: Option<&'a Mutex<Option<EarlyFinal>>>,
}

impl std::fmt::Debug for TrainContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainContext")
            .field("threads", &self.threads)
            .field("preprocessed_store", &self.preprocessed_store)
            .field("prefit", &self.prefit.is_some())
            .field("early_final", &self.early_final.is_some())
            .finish()
    }
}

/// One out-of-fold prediction's conformal set (class names) or interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ConformalCell {
    /// Classes in the set, and whether the truth is one of them.
    Set(Vec<String>, bool),
    /// Interval bounds, and whether it covers the truth.
    Interval(f64, f64, bool),
}

/// Out-of-fold conformal sets (classes) or intervals (numbers): every out-of-fold prediction of
/// a repeat is calibrated on the nonconformity scores of the repeat's *other* samples (never on
/// its own). Their coverage is ≈ 1 − α by construction (exchangeable scores); what the data
/// decide is how informative they are: the set sizes or interval widths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OofConformal {
    /// Per prediction row: the set or interval.
    pub cells: Vec<ConformalCell>,
    /// Share of rows whose truth is covered.
    pub coverage: f64,
    /// Mean set size (classes) or interval width (numbers).
    pub mean_size: f64,
    /// Share of rows whose set holds exactly one class (classes only).
    pub single: f64,
    /// Share of rows whose set is empty (classes only).
    pub empty: f64,
}

/// A layer used by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerUse {
    /// Layer name.
    pub layer: String,
    /// Its features (before preprocessing).
    pub features: usize,
    /// Inputs of the final model from it.
    pub final_model_inputs: usize,
}

/// The result of `train`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    /// The settings used.
    pub settings: TrainSettings,
    /// Target column.
    pub target: String,
    /// Class names (empty for a numeric target).
    pub classes: Vec<String>,
    /// Samples used, in data order.
    pub sample_ids: Vec<String>,
    /// Samples excluded by the `exclude` rule.
    pub excluded: Vec<String>,
    /// Samples left out for a missing target or layer.
    pub dropped: Vec<DroppedSample>,
    /// Layers used.
    pub layers: Vec<LayerUse>,
    /// The cross-validation (of the selected model, with several).
    pub report: CvReport,
    /// With `[[models]]`: every model's cross-validation on the shared folds (fold fits left
    /// out), the paired comparisons with the corrected resampled t-test, and the choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<MultiCvReport>,
    /// The label-permutation test.
    pub permutation: Option<PermutationTest>,
    /// The source checks.
    pub source_check: Option<SourceCheck>,
    /// Out-of-fold conformal sets or intervals.
    pub conformal: OofConformal,
    /// The learning curve.
    pub learning_curve: Vec<LearningPoint>,
    /// The final model.
    pub model: SavedModel,
    /// The release panel, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panel: Option<PanelResult>,
    /// Gene names of the features, where the layers annotate them: (layer, feature, gene).
    pub genes: Vec<(String, String, String)>,
    /// What the run had to say before the summary.
    pub notes: Vec<Message>,
}

impl TrainSettings {
    /// The model's config when it is fixed before the cross-validation: one model, or
    /// `select` naming one of several.
    pub fn fixed_config(&self) -> Option<TrainConfig> {
        match &self.comparison {
            None => Some(self.config.clone()),
            Some(multi) => multi.named_choice().map(|i| multi.model_config(i)),
        }
    }
}

/// The final model of `train` with settings `s`, fitted from `prefit` alone before the
/// experiment is at hand (in a run, while the ingested store is read back); hand it to
/// [`run_train`] in [`TrainContext::early_final`]. `None` when it cannot be the model
/// [`run_train`] fits: the model is chosen by the cross-validation, samples are excluded, or
/// [`crate::persist::fit_final_early`] says so.
pub fn fit_final_early(prefit: &Prefit, s: &TrainSettings) -> Option<Result<EarlyFinal>> {
    if !s.exclude.is_empty() {
        return None;
    }
    let config = s.fixed_config()?;
    crate::persist::fit_final_early(prefit, &s.layers, &s.target, &config)
}

/// Run `train` on the experiment.
pub fn run_train(
    exp: &Experiment,
    s: &TrainSettings,
    ctx: &TrainContext<'_>,
) -> Result<TrainResult> {
    run_train_input(Cow::Borrowed(exp), s, ctx)
}

/// [`run_train`] on an experiment the caller hands over: its layers become the training data
/// without a copy when every sample is used (a store read for `train` alone, or the last
/// stage of a run), instead of being held twice.
pub fn run_train_owned(
    exp: Experiment,
    s: &TrainSettings,
    ctx: &TrainContext<'_>,
) -> Result<TrainResult> {
    run_train_input(Cow::Owned(exp), s, ctx)
}

fn run_train_input(
    exp: Cow<'_, Experiment>,
    s: &TrainSettings,
    ctx: &TrainContext<'_>,
) -> Result<TrainResult> {
    let mut notes = Vec::new();
    let (exp, excluded) = match exp {
        Cow::Borrowed(e) => e.excluding(&s.exclude)?,
        Cow::Owned(e) => {
            let (kept, excluded) = e.excluding(&s.exclude)?;
            let kept = match kept {
                Cow::Borrowed(_) => None,
                Cow::Owned(k) => Some(k),
            };
            (Cow::Owned(kept.unwrap_or(e)), excluded)
        }
    };
    notes.extend(s.exclude.message("train", &excluded));
    for l in &s.layers {
        exp.layer(l)?;
    }
    if ctx.preprocessed_store {
        notes.push(Message::warn("the store was written by `evomics normalize`: its pipeline was fitted on all samples, outside the cross-validation, so the CV estimates are optimistic; train on the ingested store and put the pipeline in [preprocess.<layer>]"));
    }
    for l in &s.layers {
        let l = exp.layer(l)?;
        let c = l.flag_counts();
        if c.imputed > 0 {
            notes.push(Message::warn(format!("layer '{}' has {} imputed cells: an imputation fitted outside the folds leaks; impute inside them with [preprocess.{}] imputation = {{ ... }}", l.name(), c.imputed, l.name())));
        }
    }
    let (sheet, data) = match exp {
        Cow::Borrowed(e) => {
            let layers: Vec<&Assay> = s
                .layers
                .iter()
                .map(|l| e.layer(l))
                .collect::<std::result::Result<_, _>>()?;
            (
                Cow::Borrowed(e.samples()),
                Dataset::assemble(&layers, e.samples(), &s.target)?,
            )
        }
        Cow::Owned(mut e) => {
            // Every layer was found above, so a second removal means it is named twice.
            let layers = s
                .layers
                .iter()
                .map(|l| {
                    e.remove_layer(l).ok_or_else(|| MlError::Data {
                        what: "training data",
                        problem: format!("layer '{l}' is given twice"),
                    })
                })
                .collect::<Result<Vec<Assay>>>()?;
            let sheet = e.samples().clone();
            drop(e);
            let data = Dataset::assemble_owned(layers, &sheet, &s.target)?;
            (Cow::Owned(sheet), data)
        }
    };
    let sheet: &SampleSheet = &sheet;
    let layers: Vec<&Assay> = data.layers.iter().collect();
    if let Some(n) = case_twins(&data.classes) {
        notes.push(Message::warn(n));
    }
    if !data.dropped.is_empty() {
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for d in &data.dropped {
            *reasons.entry(d.reason.as_str()).or_default() += 1;
        }
        notes.push(Message::info(format!(
            "left out {} sample(s): {}",
            data.dropped.len(),
            reasons
                .iter()
                .map(|(r, n)| format!("{n} {r}"))
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    if let Some(c) = &s.permute_within {
        check_within(&data, sheet, c)?;
    }
    let threads = if ctx.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        ctx.threads
    };
    // With the model fixed before the cross-validation (one model, or `select` naming one),
    // the final fit does not depend on it and comes first, on an unfragmented heap; the folds
    // then take turns building their model matrices (`MatrixGate`): one model matrix at a time.
    // A cross-validation error is still reported before a final-fit error.
    let fixed = s.fixed_config();
    let early_fit = fixed.as_ref().map(|cfg| {
        let early = ctx.early_final.and_then(|slot| slot.lock().ok()?.take());
        match early.and_then(|e| e.take(&data, sheet, cfg, ctx.prefit)) {
            Some(fit) => Ok(fit),
            None => fit_final(&data, sheet, cfg, None, ctx.prefit),
        }
    });
    let gate = MatrixGate::new();
    let mut cv_run = || -> Result<(CvReport, Option<MultiCvReport>, TrainConfig)> {
        match &s.comparison {
            None => {
                let cfg = &s.config;
                notes.push(Message::info(format!(
                    "cross-validating: {} samples, {}, model {}{}",
                    data.n_samples(),
                    design_text(&cfg.cv),
                    cfg.model.name(),
                    cfg.tuning.as_ref().map_or(String::new(), |t| format!(
                        " tuned over {} candidates",
                        t.candidates.len()
                    ))
                )));
                let report = cross_validate_gated(&data, &data.labels, sheet, cfg, Some(&gate))
                    .map_err(|e| with_hint(e, s))?;
                Ok((report, None, s.config.clone()))
            }
            Some(multi) => {
                let names: Vec<&str> = multi.models.iter().map(|m| m.name.as_str()).collect();
                notes.push(Message::info(format!(
                    "cross-validating: {} samples, {}, {} models on the same folds and fold preprocessing: {}",
                    data.n_samples(),
                    design_text(&multi.cv),
                    multi.models.len(),
                    names.join(", ")
                )));
                let mut multi_report =
                    cross_validate_models_gated(&data, sheet, multi, Some(&gate))
                        .map_err(|e| with_hint(e, s))?;
                let chosen = multi.model_config(multi_report.selected);
                let report = multi_report.reports[multi_report.selected].clone();
                // The selected model's fold fits are in `report`; the others' would only bloat
                // result.json.
                for r in &mut multi_report.reports {
                    r.fits.clear();
                }
                notes.push(Message::info(format!(
                    "selected model '{}' ({})",
                    multi_report.models[multi_report.selected], multi_report.selected_by
                )));
                if multi.models.len() > 1 && !matches!(multi.choose, ModelChoice::Model(_)) {
                    notes.push(Message::warn(format!(
                        "the selected model was chosen as the best of {} by its cross-validated metrics, so its CV estimate and permutation p-value are optimistic (they do not include the choice); compare models by the corrected t-tests in model_comparison.tsv, or name the model with `select = \"NAME\"` before seeing the results",
                        multi.models.len()
                    )));
                }
                Ok((report, Some(multi_report), chosen))
            }
        }
    };
    // The final model's hashes of the training data (they only read it) are computed beside the
    // cross-validation when there is more than one thread, before it otherwise.
    let data_ref = &data;
    let (cv, early_final) = match early_fit {
        Some(fit) if threads > 1 => std::thread::scope(|scope| {
            let hashing = scope.spawn(move || fit.and_then(|f| f.finish(data_ref)));
            let cv = cv_run();
            let fitted = hashing
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            (cv, Some(fitted))
        }),
        early => {
            let fitted = early.map(|fit| fit.and_then(|f| f.finish(data_ref)));
            (cv_run(), fitted)
        }
    };
    let (report, comparison, chosen) = cv?;
    let cfg = &chosen;
    match &comparison {
        None => notes.extend(constant_predictions(&report.predictions, cfg.model.name())),
        Some(c) => {
            for (name, r) in c.models.iter().zip(&c.reports) {
                notes.extend(constant_predictions(&r.predictions, name));
            }
        }
    }
    let tick = |what: &'static str| {
        move |d: usize, t: usize| {
            if let Some(p) = ctx.progress {
                p(what, d, t);
            }
        }
    };
    let permutation = if s.permutations > 0 {
        let perm_tick = tick("permutations");
        let kind = match &s.permute_within {
            Some(c) => Permutation::Within(c.clone()),
            None => Permutation::Free,
        };
        Some(permutation_test_given(
            &report,
            &data,
            sheet,
            cfg,
            s.permutations,
            &kind,
            Runner {
                threads,
                progress: Some(&perm_tick),
            },
        )?)
    } else {
        None
    };
    let source_check = match &s.source_column {
        Some(c) => {
            let sc_tick = tick("within-source permutations");
            Some(source_check_given(
                &report,
                &data,
                sheet,
                cfg,
                c,
                s.source_permutations,
                Runner {
                    threads,
                    progress: Some(&sc_tick),
                },
            )?)
        }
        None => None,
    };
    let lc = if s.learning_curve.is_empty() {
        Vec::new()
    } else {
        learning_curve(&data, sheet, cfg, &s.learning_curve)?
    };
    let model = match early_final {
        Some(fitted) => fitted?.with_cv(&report),
        None => train_final_with(&data, sheet, cfg, Some(&report), ctx.prefit)?,
    }
    .with_missing_rule(s.missing_features);
    let conformal = oof_conformal(&report, &data, cfg.conformal_alpha)?;
    let panel = match &s.panel {
        None => None,
        Some(p) => Some(panel_result(
            &data,
            sheet,
            cfg,
            &report,
            p,
            &gene_names(&layers),
            &mut notes,
        )?),
    };
    let layer_use = layers
        .iter()
        .map(|l| LayerUse {
            layer: l.name().to_string(),
            features: l.n_features(),
            final_model_inputs: model
                .features
                .iter()
                .filter(|f| f.layer == l.name())
                .count(),
        })
        .collect();
    let mut settings = s.clone();
    settings.config = chosen.clone();
    Ok(TrainResult {
        settings,
        target: data.target.clone(),
        classes: data.classes.clone(),
        sample_ids: data.sample_ids.clone(),
        excluded,
        dropped: data.dropped.clone(),
        layers: layer_use,
        report,
        comparison,
        permutation,
        source_check,
        conformal,
        learning_curve: lc,
        model,
        panel,
        genes: gene_names(&layers),
        notes,
    })
}

/// The release panel (see [`PanelSpec`]).
fn panel_result(
    data: &Dataset,
    sheet: &SampleSheet,
    cfg: &TrainConfig,
    full: &CvReport,
    spec: &PanelSpec,
    genes: &[(String, String, String)],
    notes: &mut Vec<Message>,
) -> Result<PanelResult> {
    let mut pcfg = cfg.clone();
    if !matches!(cfg.preprocess.selection, Selection::None) {
        notes.push(Message::info(format!(
            "panel: the config's feature selection is replaced by the {} features of largest univariate statistic in each training fold",
            spec.max_features
        )));
    }
    pcfg.preprocess.selection = Selection::Univariate {
        k: spec.max_features,
    };
    let mut report = cross_validate(data, sheet, &pcfg)?;
    report.fits.clear();
    let headline = if matches!(data.labels, Labels::Numeric { .. }) {
        "r2"
    } else {
        "roc_auc"
    };
    let comparison = crate::evaluate::compare_reports("full", "panel", full, &report, headline);
    let model = train_final(data, sheet, &pcfg, Some(&report))?;
    let gene = |f: &FeatureRef| {
        genes
            .iter()
            .find(|(l, id, _)| *l == f.layer && *id == f.id)
            .map(|g| g.2.clone())
    };
    let mut candidates: Vec<(FeatureRef, Option<String>, f64)> = report
        .importance
        .iter()
        .filter(|r| r.selection_frequency > 0.0)
        .map(|r| (r.feature.clone(), gene(&r.feature), r.selection_frequency))
        .collect();
    candidates.sort_by(|a, b| b.2.total_cmp(&a.2));
    let coefficients = final_coefficients(&model.model);
    let pre = &model.preprocess;
    let features = pre
        .features
        .iter()
        .enumerate()
        .map(|(i, f)| PanelFeature {
            feature: f.clone(),
            gene: gene(f),
            selection_frequency: report
                .importance
                .iter()
                .find(|r| r.feature == *f)
                .map_or(0.0, |r| r.selection_frequency),
            coefficient: coefficients.as_ref().and_then(|c| c.get(i).copied()),
            center: pre.center.get(i).copied(),
            scale: pre.scale.get(i).copied(),
        })
        .collect();
    let mut steps = Vec::new();
    for (layer, c) in &pcfg.preprocess.layers {
        for f in &c.filters {
            let m = f.method().to_string();
            if m != "none" {
                steps.push((
                    layer.clone(),
                    format!("filter {m} (decides the candidates; nothing to apply)"),
                    true,
                ));
            }
        }
        if let Some(t) = describe_step(&c.transform) {
            // log2 works value by value; log-CPM and CLR divide by a sample's whole profile.
            let per_feature = t == "log2";
            steps.push((layer.clone(), format!("transform {t}"), per_feature));
        }
        if let Some(n) = describe_step(&c.normalization) {
            steps.push((
                layer.clone(),
                format!("normalization {n} (uses each sample's whole profile)"),
                false,
            ));
        }
        if let Some(b) = describe_step(&c.batch_correction) {
            steps.push((
                layer.clone(),
                format!("batch correction {b} (needs the training batches)"),
                false,
            ));
        }
        if let Some(m) = describe_step(&c.imputation) {
            steps.push((
                layer.clone(),
                format!("imputation {m} (only for missing values)"),
                true,
            ));
        }
    }
    let whole_profile: Vec<String> = steps
        .iter()
        .filter(|s| !s.2)
        .map(|s| format!("{}: {}", s.0, s.1))
        .collect();
    if !whole_profile.is_empty() {
        notes.push(Message::warn(format!(
            "panel: the model was trained on values that went through steps a panel measured alone cannot reproduce ({}); to apply it to qPCR or ELISA values, measure them on the same scale (e.g. against the same reference) or train the panel on a pipeline without these steps",
            whole_profile.join("; ")
        )));
    }
    Ok(PanelResult {
        spec: spec.clone(),
        report,
        comparison,
        candidates,
        features,
        steps,
        model,
    })
}

/// A pipeline step's method name, `None` when the step is absent or `none`.
fn describe_step<T: Serialize>(step: &T) -> Option<String> {
    let v = serde_json::to_value(step).ok()?;
    let m = match &v {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Object(o) => o.get("method")?.as_str()?.to_string(),
        _ => return None,
    };
    (m != "none").then_some(m)
}

/// A warning when a model gave every test sample of every fold the same prediction: it learned
/// nothing (e.g. gradient boosting, whose `min_samples_leaf` of 20 leaves no split on fewer than
/// 40 training samples, or an elastic net whose λ removes every feature), and its metrics are
/// those of guessing.
fn constant_predictions(
    predictions: &[crate::evaluate::PredictionRow],
    name: &str,
) -> Option<Message> {
    let mut by_fold: BTreeMap<(usize, usize), Vec<&crate::evaluate::PredictionRow>> =
        BTreeMap::new();
    for p in predictions {
        by_fold.entry((p.repeat, p.fold)).or_default().push(p);
    }
    let constant = |rows: &Vec<&crate::evaluate::PredictionRow>| {
        rows.windows(2).all(|w| {
            w[0].predicted == w[1].predicted
                && w[0].probabilities.len() == w[1].probabilities.len()
                && w[0]
                    .probabilities
                    .iter()
                    .zip(&w[1].probabilities)
                    .all(|(a, b)| a.to_bits() == b.to_bits())
        })
    };
    let all_constant = by_fold
        .values()
        .all(|rows| rows.len() > 1 && constant(rows));
    (all_constant && !by_fold.is_empty()).then(|| {
        Message::warn(format!(
            "model '{name}' gave every test sample of every fold the same prediction: it learned nothing from the training folds, and its metrics are those of guessing (for gradient_boosting, lower min_samples_leaf, 20 by default, to below half the training samples; for elastic_net, a smaller lambda)"
        ))
    })
}

/// Point a missing-value error at the config table that fixes it.
fn with_hint(e: MlError, s: &TrainSettings) -> MlError {
    if let MlError::MissingValue { layer, .. } = &e {
        let has = s.config.preprocess.layers.contains_key(layer);
        let hint = if has {
            format!("the [preprocess.{layer}] pipeline leaves missing cells; add e.g. imputation = {{ method = \"down_shift\" }} or a valid_values filter with min_fraction = 1")
        } else {
            format!("the config has no [preprocess.{layer}] table, so the layer goes to the model as stored; add one with an imputation (see docs/potency-models.md)")
        };
        return data_err("train", format!("{e}\n  hint: {hint}"));
    }
    e
}

/// Conformal sets / intervals of every out-of-fold prediction (see [`OofConformal`]).
fn oof_conformal(report: &CvReport, data: &Dataset, alpha: f64) -> Result<OofConformal> {
    let pos: HashMap<&str, usize> = data
        .sample_ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let index = |id: &str| -> Result<usize> {
        pos.get(id).copied().ok_or_else(|| {
            data_err(
                "train",
                format!("internal: out-of-fold prediction for unknown sample '{id}'"),
            )
        })
    };
    let n = report.predictions.len();
    let mut scores = vec![0.0; n];
    let mut point = vec![0.0; n];
    for (r, row) in report.predictions.iter().enumerate() {
        let i = index(&row.sample_id)?;
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
            let i = index(&report.predictions[r].sample_id)?;
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

/// Gene names of the layers' features, from the first of the annotations `gene`, `gene_name`,
/// `symbol` a layer has (FragPipe and MaxQuant readers keep one).
fn gene_names(layers: &[&Assay]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
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
                out.push((l.name().to_string(), id.clone(), g.clone()));
            }
        }
    }
    out
}

/// A warning when class labels differ only in case or surrounding spaces (`High` and `high`):
/// they are distinct classes to the model, which is rarely what the sheet meant.
fn case_twins(classes: &[String]) -> Option<String> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    let mut twins = Vec::new();
    for c in classes {
        if let Some(prev) = seen.insert(c.trim().to_lowercase(), c) {
            twins.push(format!("'{prev}' and '{c}'"));
        }
    }
    (!twins.is_empty()).then(|| {
        format!(
            "class labels that differ only in case or spaces are separate classes: {}; fix the sheet if they are one class",
            twins.join(", ")
        )
    })
}

/// Fail early when permuting within a column cannot change any label.
fn check_within(data: &Dataset, sheet: &SampleSheet, column: &str) -> Result<()> {
    let groups = crate::data::group_labels(sheet, column, &data.sample_ids)?;
    let mut values: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (i, g) in groups.iter().enumerate() {
        values
            .entry(g.as_str())
            .or_default()
            .insert(data.label_text(i));
    }
    if values.values().all(|v| v.len() < 2) {
        return Err(invalid("permute_within", format!("permuting labels within '{column}' cannot change any label: every '{column}' group has a single target value; use free permutations (drop permute_within) or a column whose groups mix the target values")));
    }
    Ok(())
}

/// A metric with three decimals, `NA` when undefined.
fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "NA".into(), |x| format!("{x:.3}"))
}

/// A CV design in words.
pub fn design_text(cv: &CvScheme) -> String {
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

/// Signed coefficient of every input of the final model, when it is linear with one
/// coefficient per feature (elastic net with one response, PLS).
fn final_coefficients(model: &FittedModel) -> Option<Vec<f64>> {
    match model {
        FittedModel::ElasticNet(m) if m.coefficients.ncols() == 1 => {
            Some(m.coefficients.column(0).to_vec())
        }
        FittedModel::Pls(m) => Some(m.coefficients.clone()),
        FittedModel::LinearSvm(m) if m.weights.ncols() == 1 => Some(m.weights.column(0).to_vec()),
        _ => None,
    }
}

impl TrainResult {
    /// True for a numeric target.
    pub fn is_numeric(&self) -> bool {
        self.classes.is_empty()
    }

    /// The `metrics.json` document.
    pub fn metrics_json(&self) -> Value {
        let numeric = self.is_numeric();
        let oof = &self.conformal;
        let cfg = &self.settings.config;
        let mut doc = json!({
            "target": self.target,
            "task": if numeric { "regression" } else { "classification" },
            "classes": self.classes,
            "positive_class": (self.classes.len() == 2).then(|| self.classes[1].clone()),
            "n_samples": self.sample_ids.len(),
            "excluded": self.excluded,
            "dropped": self.dropped,
            "layers": self.layers.iter().map(|l| json!({
                "layer": l.layer, "features": l.features,
                "final_model_inputs": l.final_model_inputs,
            })).collect::<Vec<_>>(),
            "data_hash": self.model.training.data_hash,
            "summary": self.report.summary,
            "folds": self.report.fold_metrics,
            "pooled": self.report.pooled_metrics,
            "permutation_test": self.permutation,
            "source_check": self.source_check,
            "conformal": {
                "alpha": cfg.conformal_alpha,
                "threshold": self.report.conformal.threshold.is_finite().then_some(self.report.conformal.threshold),
                "calibration_scores": self.report.conformal.scores.len(),
                "out_of_fold_coverage": oof.coverage,
                "out_of_fold_mean_size": oof.mean_size,
                "out_of_fold_single_class": (!numeric).then_some(oof.single),
                "out_of_fold_empty": (!numeric).then_some(oof.empty),
            },
            "learning_curve": self.learning_curve,
            "final_model": {
                "model": self.model.model_params,
                "n_samples": self.model.training.n_samples,
                "input_features": self.model.features.len(),
            },
            "settings": self.settings,
            "software_version": env!("CARGO_PKG_VERSION"),
        });
        if let (Some(p), Value::Object(map)) = (&self.panel, &mut doc) {
            map.insert(
                "panel".into(),
                json!({
                    "max_features": p.spec.max_features,
                    "features": p.features.iter().map(|f| json!({
                        "layer": f.feature.layer, "feature": f.feature.id, "gene": f.gene,
                    })).collect::<Vec<_>>(),
                    "summary": p.report.summary,
                    "pooled": p.report.pooled_metrics,
                    "full_summary": self.report.summary,
                    "full_vs_panel": p.comparison,
                    "steps": p.steps.iter().map(|(l, step, alone)| json!({
                        "layer": l, "step": step, "applies_to_a_panel_alone": alone,
                    })).collect::<Vec<_>>(),
                }),
            );
        }
        if let (Some(c), Value::Object(map)) = (&self.comparison, &mut doc) {
            map.insert(
                "model_comparison".into(),
                json!({
                    "models": c.models,
                    "selected": c.models[c.selected],
                    "selected_by": c.selected_by,
                    "summaries": c.models.iter().zip(&c.reports).map(|(n, r)| json!({
                        "model": n, "summary": r.summary, "pooled": r.pooled_metrics,
                    })).collect::<Vec<_>>(),
                    "comparisons": c.comparisons.iter().map(|p| json!({
                        "model_a": p.model_a, "model_b": p.model_b, "metric": p.metric,
                        "mean_difference": p.mean_difference, "sd_difference": p.sd_difference,
                        "t": p.t, "df": p.df, "p_value": p.p_value,
                    })).collect::<Vec<_>>(),
                }),
            );
        }
        doc
    }

    /// The documents written beside the tables: `metrics.json`, `model.json` and, when asked,
    /// `fold-models.json`.
    pub fn documents(&self) -> Result<Vec<(String, String)>> {
        let mut metrics =
            serde_json::to_string_pretty(&self.metrics_json()).unwrap_or_else(|_| "{}".into());
        metrics.push('\n');
        let mut out = vec![
            ("metrics.json".to_string(), metrics),
            ("model.json".to_string(), self.model.to_json()?),
        ];
        if let Some(p) = &self.panel {
            out.push(("panel-model.json".to_string(), p.model.to_json()?));
        }
        if self.settings.save_fold_models {
            let fm = serde_json::to_string(
                &json!({ "sample_ids": self.sample_ids, "folds": self.report.fits }),
            )
            .map_err(|e| data_err("train", format!("cannot encode fold models: {e}")))?;
            out.push(("fold-models.json".to_string(), fm));
        }
        Ok(out)
    }

    fn folds_table(&self) -> Table {
        let mut t = Table::new("folds")
            .col("sample_id", Kind::Text)
            .cols(["repeat", "fold"], Kind::Int)
            .col("split", Kind::Text);
        for a in &self.report.folds {
            t.push(vec![
                a.sample_id.as_str().into(),
                a.repeat.into(),
                a.fold.into(),
                match a.split {
                    Part::Train => "train",
                    Part::Test => "test",
                }
                .into(),
            ]);
        }
        t
    }

    fn predictions_table(&self) -> Table {
        let numeric = self.is_numeric();
        let mut t = Table::new("predictions")
            .col("sample_id", Kind::Text)
            .cols(["repeat", "fold"], Kind::Int)
            .cols(["truth", "predicted"], Kind::Text);
        if numeric {
            t = t.cols(["lower", "upper"], Kind::Float);
        } else {
            t = t
                .cols(
                    self.report.classes.iter().map(|c| format!("p_{c}")),
                    Kind::Float,
                )
                .col("conformal_set", Kind::Text);
        }
        t = t.col("covered", Kind::Bool);
        for (row, cell) in self.report.predictions.iter().zip(&self.conformal.cells) {
            let mut r: Vec<Cell> = vec![
                row.sample_id.as_str().into(),
                row.repeat.into(),
                row.fold.into(),
                row.truth.clone().unwrap_or_else(|| "NA".into()).into(),
                row.predicted.as_str().into(),
            ];
            r.extend(
                row.probabilities
                    .iter()
                    .take(self.report.classes.len())
                    .map(|p| Cell::from(*p)),
            );
            match cell {
                ConformalCell::Set(s, c) => {
                    r.push(s.join(";").into());
                    r.push((*c).into());
                }
                ConformalCell::Interval(lo, hi, c) => {
                    r.push((*lo).into());
                    r.push((*hi).into());
                    r.push((*c).into());
                }
            }
            t.push(r);
        }
        t
    }

    fn importance_table(&self) -> Table {
        let genes: HashMap<(&str, &str), &str> = self
            .genes
            .iter()
            .map(|(l, f, g)| ((l.as_str(), f.as_str()), g.as_str()))
            .collect();
        let gene = |fr: &FeatureRef| -> Cell {
            genes
                .get(&(fr.layer.as_str(), fr.id.as_str()))
                .map_or(Cell::Text("NA".into()), |g| Cell::Text(g.to_string()))
        };
        let mut t = Table::new("importance")
            .cols(["layer", "feature", "gene"], Kind::Text)
            .cols(
                [
                    "mean_importance",
                    "sd_importance",
                    "selection_frequency",
                    "nonzero_frequency",
                    "top_frequency",
                    "permutation_importance",
                    "final_importance",
                    "final_coefficient",
                ],
                Kind::Float,
            );
        let saved = &self.model;
        let builtin = saved.model.builtin_importance();
        let coef = final_coefficients(&saved.model);
        let final_pos: HashMap<&FeatureRef, usize> = saved
            .features
            .iter()
            .enumerate()
            .map(|(j, fr)| (fr, j))
            .collect();
        let final_cells = |fr: &FeatureRef| -> (Cell, Cell) {
            match final_pos.get(fr) {
                Some(&j) => (
                    Cell::opt(builtin.as_ref().map(|b| b[j])),
                    Cell::opt(coef.as_ref().map(|c| c[j])),
                ),
                // Not an input of the final model (filtered or not selected on all samples).
                None => (Cell::Na, Cell::Na),
            }
        };
        let mut seen = BTreeSet::new();
        for row in &self.report.importance {
            seen.insert(&row.feature);
            let (fi, fc) = final_cells(&row.feature);
            t.push(vec![
                row.feature.layer.as_str().into(),
                row.feature.id.as_str().into(),
                gene(&row.feature),
                row.mean_importance.into(),
                row.sd_importance.into(),
                row.selection_frequency.into(),
                row.nonzero_frequency.into(),
                row.top_frequency.into(),
                row.permutation_importance.into(),
                fi,
                fc,
            ]);
        }
        // Final-model inputs that no fold kept.
        for fr in &saved.features {
            if !seen.contains(fr) {
                let (fi, fc) = final_cells(fr);
                t.push(vec![
                    fr.layer.as_str().into(),
                    fr.id.as_str().into(),
                    gene(fr),
                    0.0.into(),
                    0.0.into(),
                    0.0.into(),
                    0.0.into(),
                    0.0.into(),
                    Cell::Na,
                    fi,
                    fc,
                ]);
            }
        }
        t
    }

    fn calibration_table(&self) -> Table {
        let mut t = Table::new("calibration")
            .cols(["lower", "upper"], Kind::Float)
            .col("n", Kind::Int)
            .cols(["mean_predicted", "observed"], Kind::Float);
        for b in &self.report.calibration {
            t.push(vec![
                b.lower.into(),
                b.upper.into(),
                b.n.into(),
                b.mean_predicted.into(),
                b.observed.into(),
            ]);
        }
        t
    }

    fn learning_table(&self) -> Table {
        let mut t = Table::new("learning_curve")
            .cols(["fraction", "n_train", "mean", "sd"], Kind::Float)
            .col("n_folds", Kind::Int);
        for p in &self.learning_curve {
            t.push(vec![
                p.fraction.into(),
                p.n_train.into(),
                p.mean.into(),
                p.sd.into(),
                p.n_folds.into(),
            ]);
        }
        t
    }
}

impl TrainResult {
    /// `models`: every compared model's metrics (fold mean, fold SD, pooled), one row per model
    /// and metric.
    fn models_table(c: &MultiCvReport, settings: &TrainSettings) -> Table {
        let mut t = Table::new("models")
            .cols(["model", "kind"], Kind::Text)
            .cols(["tuned", "selected"], Kind::Bool)
            .col("metric", Kind::Text)
            .cols(["fold_mean", "fold_sd", "pooled"], Kind::Float);
        let entries = settings.comparison.as_ref().map(|m| &m.models);
        for (i, (name, r)) in c.models.iter().zip(&c.reports).enumerate() {
            let entry = entries.and_then(|e| e.get(i));
            for m in &r.summary {
                t.push(vec![
                    name.as_str().into(),
                    entry.map_or("", |e| e.model.name()).into(),
                    entry.is_some_and(|e| e.tuning.is_some()).into(),
                    (i == c.selected).into(),
                    m.name.as_str().into(),
                    m.fold_mean.into(),
                    m.fold_sd.into(),
                    m.pooled.into(),
                ]);
            }
        }
        t
    }

    /// `model_folds`: every model's metrics per split of the shared folds.
    fn model_folds_table(c: &MultiCvReport) -> Table {
        let mut t = Table::new("model_folds")
            .col("model", Kind::Text)
            .cols(["repeat", "fold", "n_train", "n_test"], Kind::Int)
            .col("metric", Kind::Text)
            .col("value", Kind::Float);
        for (name, r) in c.models.iter().zip(&c.reports) {
            for f in &r.fold_metrics {
                for (metric, v) in f.metrics.named() {
                    t.push(vec![
                        name.as_str().into(),
                        f.repeat.into(),
                        f.fold.into(),
                        f.n_train.into(),
                        f.n_test.into(),
                        metric.into(),
                        Some(v).filter(|v| v.is_finite()).into(),
                    ]);
                }
            }
        }
        t
    }

    /// `model_comparison`: every pair of models on every metric, with the corrected resampled
    /// t-test of Nadeau & Bengio (2003).
    fn comparison_table(c: &MultiCvReport) -> Table {
        let mut t = Table::new("model_comparison")
            .cols(["model_a", "model_b", "metric"], Kind::Text)
            .col("n_splits", Kind::Int)
            .cols(
                ["mean_difference", "sd_difference", "test_train_ratio", "t"],
                Kind::Float,
            )
            .col("df", Kind::Int)
            .col("p_value", Kind::Float);
        for p in &c.comparisons {
            t.push(vec![
                p.model_a.as_str().into(),
                p.model_b.as_str().into(),
                p.metric.as_str().into(),
                p.folds.len().into(),
                p.mean_difference.into(),
                p.sd_difference.into(),
                p.test_train_ratio.into(),
                p.t.into(),
                p.df.into(),
                p.p_value.into(),
            ]);
        }
        t
    }
}

impl StageTables for TrainResult {
    fn tables(&self) -> Vec<Table> {
        let mut out = vec![
            self.folds_table(),
            self.predictions_table(),
            self.importance_table(),
            self.calibration_table(),
            self.learning_table(),
        ];
        if let Some(c) = &self.comparison {
            out.push(Self::models_table(c, &self.settings));
            out.push(Self::model_folds_table(c));
            out.push(Self::comparison_table(c));
        }
        if let Some(p) = &self.panel {
            let mut t = Table::new("panel")
                .cols(["layer", "feature", "gene"], Kind::Text)
                .cols(
                    ["selection_frequency", "coefficient", "center", "scale"],
                    Kind::Float,
                );
            for f in &p.features {
                t.push(vec![
                    f.feature.layer.as_str().into(),
                    f.feature.id.as_str().into(),
                    f.gene.clone().into(),
                    f.selection_frequency.into(),
                    f.coefficient.into(),
                    f.center.into(),
                    f.scale.into(),
                ]);
            }
            let mut c = Table::new("panel_candidates")
                .cols(["layer", "feature", "gene"], Kind::Text)
                .col("selection_frequency", Kind::Float);
            for (f, g, freq) in &p.candidates {
                c.push(vec![
                    f.layer.as_str().into(),
                    f.id.as_str().into(),
                    g.clone().into(),
                    (*freq).into(),
                ]);
            }
            out.push(t);
            out.push(c);
        }
        out
    }
}

impl StageResult for TrainResult {
    const STAGE: &'static str = "train";
    const VERSION: u32 = 1;

    fn messages(&self) -> Vec<Message> {
        let s = &self.settings;
        let mut out = self.notes.clone();
        let task = if self.classes.is_empty() {
            "numeric".to_string()
        } else if self.classes.len() == 2 {
            format!(
                "classes {}, positive '{}'",
                self.classes.join(" / "),
                self.classes[1]
            )
        } else {
            format!("{} classes", self.classes.len())
        };
        out.push(Message::info(format!(
            "target '{}', {task}: {} samples{}, layers {}; model {}, {}",
            self.target,
            self.sample_ids.len(),
            if self.dropped.is_empty() {
                String::new()
            } else {
                format!(" ({} dropped)", self.dropped.len())
            },
            s.layers.join(", "),
            s.config.model.name(),
            design_text(&s.config.cv)
        )));
        let n_folds = self.report.fold_metrics.len();
        let names: Vec<&str> = if self.classes.is_empty() {
            vec!["r2", "rmse", "mae", "spearman"]
        } else {
            vec!["roc_auc", "pr_auc", "balanced_accuracy", "mcc", "brier"]
        };
        for name in names {
            if let Some(m) = self.report.metric(name) {
                out.push(Message::info(format!(
                    "  {name:<18} {} ± {} (fold mean ± sd, {n_folds} folds), pooled {}",
                    fmt_opt(m.fold_mean),
                    fmt_opt(m.fold_sd),
                    fmt_opt(m.pooled)
                )));
            }
        }
        if let Some(c) = &self.comparison {
            let headline = if self.classes.is_empty() {
                "r2"
            } else {
                "roc_auc"
            };
            out.push(Message::info(format!(
                "  models on the same folds ({headline}, pooled): {}; kept '{}' ({})",
                c.models
                    .iter()
                    .zip(&c.reports)
                    .map(|(n, r)| format!(
                        "{n} {}",
                        fmt_opt(r.metric(headline).and_then(|m| m.pooled))
                    ))
                    .collect::<Vec<_>>()
                    .join(", "),
                c.models[c.selected],
                c.selected_by
            )));
            for p in c.comparisons_of(headline) {
                out.push(Message::info(format!(
                    "    {} − {}: {} {} (corrected resampled t-test p = {})",
                    p.model_a,
                    p.model_b,
                    headline,
                    p.mean_difference
                        .map_or_else(|| "NA".into(), |d| format!("{d:+.3}")),
                    p.p_value.map_or_else(|| "NA".into(), |v| format!("{v:.3}"))
                )));
            }
        }
        if let Some(p) = &self.panel {
            let headline = if self.classes.is_empty() {
                "r2"
            } else {
                "roc_auc"
            };
            let pooled = |r: &CvReport| fmt_opt(r.metric(headline).and_then(|m| m.pooled));
            out.push(Message::info(format!(
                "  panel of {} ({}): {headline} pooled {} against {} for the full model{}",
                p.spec.max_features,
                p.features
                    .iter()
                    .map(|f| f.gene.clone().unwrap_or_else(|| f.feature.id.clone()))
                    .collect::<Vec<_>>()
                    .join(", "),
                pooled(&p.report),
                pooled(&self.report),
                p.comparison
                    .as_ref()
                    .and_then(|c| c.p_value)
                    .map_or_else(String::new, |v| format!(
                        " (corrected resampled t-test p = {v:.3})"
                    ))
            )));
        }
        match &self.permutation {
            Some(p) => {
                let mut null: Vec<f64> = p.null.iter().copied().filter(|v| v.is_finite()).collect();
                null.sort_by(f64::total_cmp);
                let median = null.get(null.len() / 2).copied();
                out.push(Message::info(format!(
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
                )));
            }
            None => out.push(Message::info("  permutation test: off (permutations = 0)")),
        }
        if let Some(c) = &self.source_check {
            out.push(Message::info(format!(
                "  source check ('{}'): within-source permutation p = {:.4}; leave-one-source-out {} {}",
                c.source_column,
                c.within_source.p_value,
                c.leave_one_source_out.primary_name(),
                fmt_opt(c.leave_one_source_out.primary())
            )));
        }
        let oof = &self.conformal;
        if self.classes.is_empty() {
            out.push(Message::info(format!(
                "  conformal (α = {}): out-of-fold intervals of mean width {:.4} (coverage {:.1}%, ≈ 1 − α by construction)",
                s.config.conformal_alpha,
                oof.mean_size,
                100.0 * oof.coverage
            )));
        } else {
            out.push(Message::info(format!(
                "  conformal (α = {}): out-of-fold sets name one class for {:.0}% of samples, none for {:.0}%, mean size {:.2} (coverage {:.1}%, ≈ 1 − α by construction)",
                s.config.conformal_alpha,
                100.0 * oof.single,
                100.0 * oof.empty,
                oof.mean_size,
                100.0 * oof.coverage
            )));
        }
        if !self.learning_curve.is_empty() {
            out.push(Message::info(format!(
                "  learning curve: {}",
                self.learning_curve
                    .iter()
                    .map(|p| format!("{:.0} samples → {}", p.n_train, fmt_opt(p.mean)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if let Some(t) = &s.config.tuning {
            let mut chosen: BTreeMap<String, usize> = BTreeMap::new();
            for fm in &self.report.fold_metrics {
                *chosen.entry(tuned_label(&fm.model, t)).or_default() += 1;
            }
            out.push(Message::info(format!(
                "  nested tuning chose {} in the outer folds; {} for the final model",
                chosen
                    .iter()
                    .map(|(l, n)| format!("{l} ({n}×)"))
                    .collect::<Vec<_>>()
                    .join(", "),
                tuned_label(&self.model.model_params, t)
            )));
        }
        out.push(Message::info(format!(
            "  final model: {} on {} samples, {} input features",
            self.model.model_params.name(),
            self.model.training.n_samples,
            self.model.features.len()
        )));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_differing_in_case_are_named() {
        let c = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(case_twins(&c(&["high", "low"])).is_none());
        let w = case_twins(&c(&["High", "high", "low", "Low "])).unwrap();
        assert!(
            w.contains("'High' and 'high'") && w.contains("'low' and 'Low '"),
            "{w}"
        );
    }

    fn spec(text: &str) -> std::result::Result<TrainSpec, String> {
        toml::from_str::<TrainSpec>(text).map_err(|e| e.to_string())
    }

    const MODELS: &str = r#"
target = "potency_class"
[[models]]
name = "enet"
model = "elastic_net"
alpha = 0.5
[[models]]
model = "linear_svm"
tuning = { grid = { c = [0.01, 0.1] } }
"#;

    #[test]
    fn models_are_read_with_their_own_parameters_and_tuning() {
        let sp = spec(MODELS).unwrap();
        assert_eq!(sp.models.len(), 2);
        assert_eq!(sp.models[0].display_name(), "enet");
        assert_eq!(sp.models[1].display_name(), "linear_svm", "named by kind");
        let s = sp.resolve(&["proteome".to_string()]).unwrap();
        let multi = s.comparison.as_ref().unwrap();
        assert_eq!(multi.models[1].tuning.as_ref().unwrap().candidates.len(), 2);
        assert_eq!(multi.choose, ModelChoice::Primary);
        assert_eq!(s.config, multi.model_config(0));
        // The entry round-trips through its table form.
        let back: TrainSpec = toml::from_str(&toml::to_string(&sp).unwrap()).unwrap();
        assert_eq!(back, sp);
    }

    #[test]
    fn select_is_a_model_name_or_a_metric() {
        let layers = ["proteome".to_string()];
        let named = spec(&format!("select = \"enet\"\n{MODELS}")).unwrap();
        let m = named.resolve(&layers).unwrap().comparison.unwrap();
        assert_eq!(m.choose, ModelChoice::Model("enet".into()));
        let metric = spec(&format!("select = \"brier\"\n{MODELS}")).unwrap();
        let m = metric.resolve(&layers).unwrap().comparison.unwrap();
        assert_eq!(m.choose, ModelChoice::Metric("brier".into()));
        let bad = spec(&format!("select = \"svm\"\n{MODELS}")).unwrap();
        let e = bad.resolve(&layers).unwrap_err().to_string();
        assert!(e.contains("neither a model's name nor a metric"), "{e}");
    }

    #[test]
    fn model_entries_refuse_what_they_cannot_mean() {
        let layers = ["proteome".to_string()];
        let e = spec("[[models]]\nname = \"x\"\nalpha = 0.5\n").unwrap_err();
        assert!(e.contains("no `model = \"KIND\"`"), "{e}");
        let e = spec("[[models]]\nmodel = \"elastic_net\"\nalfa = 0.5\n").unwrap_err();
        assert!(e.contains("alfa"), "an unknown key is named: {e}");
        let twice =
            spec("target = \"t\"\n[[models]]\nmodel = \"knn\"\n[[models]]\nmodel = \"knn\"\n")
                .unwrap();
        let e = twice.resolve(&layers).unwrap_err().to_string();
        assert!(e.contains("used twice"), "{e}");
        let both = spec(&format!("{MODELS}\n[model]\nmodel = \"knn\"\n")).unwrap();
        let e = both.resolve(&layers).unwrap_err().to_string();
        assert!(e.contains("[[models]] and also [model]"), "{e}");
        let lonely = spec("target = \"t\"\nselect = \"enet\"\n").unwrap();
        let e = lonely.resolve(&layers).unwrap_err().to_string();
        assert!(e.contains("chooses among [[models]]"), "{e}");
        let mut flagged = spec(MODELS).unwrap();
        let flags = TrainFlags {
            model: Some(ModelKind::Knn),
            ..TrainFlags::default()
        };
        let e = flags.apply(&mut flagged).unwrap_err().to_string();
        assert!(e.contains("[[models]]"), "{e}");
    }

    #[test]
    fn a_model_predicting_one_value_everywhere_is_named() {
        let row = |fold: usize, id: &str, p: f64| crate::evaluate::PredictionRow {
            sample_id: id.into(),
            repeat: 1,
            fold,
            truth: Some("high".into()),
            predicted: if p > 0.5 { "high" } else { "low" }.into(),
            probabilities: vec![1.0 - p, p],
        };
        let flat = [
            row(1, "a", 0.4),
            row(1, "b", 0.4),
            row(2, "c", 0.45),
            row(2, "d", 0.45),
        ];
        let w = constant_predictions(&flat, "boosting").unwrap();
        assert!(w.text.contains("'boosting'") && w.text.contains("learned nothing"));
        let varied = [
            row(1, "a", 0.4),
            row(1, "b", 0.6),
            row(2, "c", 0.45),
            row(2, "d", 0.45),
        ];
        assert!(constant_predictions(&varied, "enet").is_none());
    }
}
