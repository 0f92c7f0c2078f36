//! Saved potency models: a versioned, self-describing serde structure holding everything needed
//! to apply a trained model to new EV preparations — the input features with their layers, the
//! fitted preprocessing (per-layer evomics-norm pipelines, selection, scaling), the fitted
//! model, its parameters, the training data's SHA-256, the cross-validated metrics and the
//! conformal calibration.
//!
//! JSON is written with serde_json's `float_roundtrip`, so every number reloads bit for bit and a
//! reloaded model predicts exactly as the one that was saved.
//!
//! **Feature alignment at prediction time.** Each layer of the new data is matched by name and
//! its features by id, in the order the pipeline was fitted on; extra features are ignored. A
//! feature the model was fitted on but the new data lack is handled by the saved
//! [`MissingFeatureRule`]: `error` (the default) refuses, `impute` inserts it as a column of
//! missing cells for the fitted pipeline's imputation to fill (an error when the pipeline has
//! no imputation). Either way the missing features are reported.
//!
//! **Training samples.** The model records its training samples' ids and a content hash of each
//! training row ([`row_hash`]); [`SavedModel::predict`] marks every predicted sample that has a
//! training sample's id or the same row hash (a renamed copy), since its prediction is not an
//! independent test. Model files written before the hashes were recorded still load; their
//! predicted samples are checked by id only.
//!
//! **Integrity.** Every model file carries `content_sha256`: the SHA-256 of its canonical
//! content, the compact JSON of the model with that key left out and object keys in
//! serde_json's order (sorted). [`SavedModel::from_json`] recomputes it and refuses a file whose
//! content no longer matches (an edited class list, feature list or coefficient; a damaged
//! file), then checks the parts against each other ([`SavedModel::validate`]): feature lists,
//! centring and scaling vectors, model shapes against the classes, the conformal calibration.
//! Version 1 files (written before the hash) are refused with a request to retrain.

use evomics_core::{Assay, SampleSheet, ValueFlag};
use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::conformal::{prediction_set, ConformalCalibration};
use crate::data::{Dataset, TargetSpec};
use crate::error::{MlError, Result};
use crate::evaluate::{prediction_row, MetricSummary, PredictionRow, TrainConfig, Tuning};
use crate::models::{FittedModel, ModelSpec, Output};
use crate::preprocess::{EarlyPreprocess, FeatureRef, FittedPreprocess, Prefit};

/// Format name written into every model file.
pub const MODEL_FORMAT: &str = "evomics-model";
/// Current model file version; files of other versions are refused with a clear message.
/// Version 2 added `content_sha256`.
pub const MODEL_VERSION: u32 = 2;

/// The key of the content hash in a model file.
pub const CONTENT_HASH_KEY: &str = "content_sha256";

/// At most 60 characters of text read from a model file, for a message (the CLI escapes
/// control characters when it prints).
fn clip(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// SHA-256 (lower-case hex) of a model's canonical content: its JSON value without
/// [`CONTENT_HASH_KEY`], written compactly.
fn content_hash(v: &serde_json::Value) -> String {
    let text = v.to_string();
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What to do when new data lack a feature the model was fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MissingFeatureRule {
    /// Refuse to predict, naming the absent features.
    #[default]
    Error,
    /// Insert absent features as missing cells and let the fitted imputation fill them.
    Impute,
}

/// Where a saved model came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// Training samples.
    pub n_samples: usize,
    /// Their ids.
    pub sample_ids: Vec<String>,
    /// SHA-256 of the training data (see [`Dataset::hash`]).
    pub data_hash: String,
    /// Samples left out by the join rule.
    pub n_dropped: usize,
    /// SHA-256 of each training sample's input row ([`row_hash`]), aligned with `sample_ids`;
    /// empty in model files written before it was recorded.
    #[serde(default)]
    pub row_hashes: Vec<String>,
    /// Which byte stream `row_hashes` digest: [`ROW_HASH_SCHEME`] when written; 1 in model
    /// files written before the scheme was recorded (see [`row_hash`]).
    #[serde(default = "first_row_hash_scheme")]
    pub row_hash_scheme: u32,
}

/// The row hash scheme new models record (see [`row_hash`]).
pub const ROW_HASH_SCHEME: u32 = 2;

fn first_row_hash_scheme() -> u32 {
    1
}

/// The SHA-256 (lower-case hex) of one sample's values of a model's input layers, as read,
/// before any preprocessing, in the current scheme ([`ROW_HASH_SCHEME`]); `None` when a layer
/// lacks the sample.
///
/// Scheme 2 hashes, in order: the bytes `evomics-ml row v2` and a NUL; then for each fitted
/// layer in the pipeline's order its name, a NUL and the 32-byte SHA-256 of its input feature
/// ids (the features the pipeline was fitted on, in that order, each followed by a NUL), and
/// for each of those features the cell's [`ValueFlag::code`] byte and, when the flag carries a
/// value (observed or imputed), the value's IEEE-754 bits as 8 little-endian bytes (−0 written
/// as +0). A feature the layer lacks is hashed as a missing cell. Extra features of the layer
/// and the sample's id are not part of it, so the same measurements under another sample id,
/// or in a store with more features, give the same hash.
///
/// Scheme 1 (model files written before the scheme was recorded) starts with
/// `evomics-ml row v1` and a NUL and writes each feature's id and a NUL before its cell
/// instead of the layer's digest of the ids: the same identity, at two to three times the
/// bytes (on a cohort of 15,000 features × 2,000 samples, 0.6 GB hashed for the training
/// rows instead of 0.2 GB). Predicting with such a model hashes the new rows in scheme 1.
pub fn row_hash(pre: &FittedPreprocess, layers: &[&Assay], sample: &str) -> Option<String> {
    RowHasher::new(pre, layers)?.hash(sample)
}

/// [`row_hash`] for many samples: each input feature's row in its layer is looked up once,
/// not once per sample (a linear search per feature and sample made hashing the training rows
/// quadratic in the features: minutes on a cohort of 15,000 features × 2,000 samples).
pub struct RowHasher<'a> {
    /// Per fitted layer: its name, the layer, and each input feature with its row in the layer
    /// (`None`: absent), in the pipeline's order.
    layers: Vec<(&'a str, &'a Assay, Vec<InputRow<'a>>)>,
    /// Per fitted layer, scheme 2's SHA-256 of its input feature ids; empty in scheme 1.
    id_digests: Vec<[u8; 32]>,
}

/// An input feature's id and its row in the layer (`None`: the layer lacks it).
type InputRow<'a> = (&'a str, Option<usize>);

impl<'a> RowHasher<'a> {
    /// The lookups of `pre`'s input features in `layers`, hashing in the current scheme
    /// ([`ROW_HASH_SCHEME`]); `None` when a fitted layer is absent.
    pub fn new(pre: &'a FittedPreprocess, layers: &[&'a Assay]) -> Option<RowHasher<'a>> {
        RowHasher::with_scheme(pre, layers, ROW_HASH_SCHEME)
    }

    /// [`RowHasher::new`] hashing in `scheme` (1 or 2, see [`row_hash`]; any other number is
    /// taken as 2, which [`SavedModel::validate`] keeps from being read from a file).
    pub fn with_scheme(
        pre: &'a FittedPreprocess,
        layers: &[&'a Assay],
        scheme: u32,
    ) -> Option<RowHasher<'a>> {
        let mut out = Vec::with_capacity(pre.layers.len());
        for fl in &pre.layers {
            let layer = *layers.iter().find(|l| l.name() == fl.layer)?;
            let index: std::collections::HashMap<&str, usize> = layer
                .features()
                .ids()
                .iter()
                .enumerate()
                .map(|(i, id)| (id.as_str(), i))
                .collect();
            let rows = fl
                .input_features
                .iter()
                .map(|id| (id.as_str(), index.get(id.as_str()).copied()))
                .collect();
            out.push((fl.layer.as_str(), layer, rows));
        }
        let id_digests = if scheme == 1 {
            Vec::new()
        } else {
            pre.layers
                .iter()
                .map(|fl| {
                    let mut h = Sha256::new();
                    for id in &fl.input_features {
                        h.update(id.as_bytes());
                        h.update([0]);
                    }
                    h.finalize().into()
                })
                .collect()
        };
        Some(RowHasher {
            layers: out,
            id_digests,
        })
    }

    /// The row hash of `sample` ([`row_hash`]); `None` when a layer lacks the sample.
    pub fn hash(&self, sample: &str) -> Option<String> {
        self.hash_many(&[sample]).pop().flatten()
    }

    /// [`RowHasher::hash`] of each of `samples`, in order, on the rayon pool. Samples are
    /// taken [`HASH_BLOCK`] at a time and each block's rows are read feature by feature, so a
    /// layer (features × samples, row-major) is walked in memory order instead of one strided
    /// column per sample; every sample's digest is that of the same byte stream.
    pub fn hash_many(&self, samples: &[&str]) -> Vec<Option<String>> {
        let positions: Vec<std::collections::HashMap<&str, usize>> = self
            .layers
            .iter()
            .map(|(_, layer, _)| {
                let mut at = std::collections::HashMap::new();
                for (j, s) in layer.samples().iter().enumerate() {
                    at.entry(s.as_str()).or_insert(j);
                }
                at
            })
            .collect();
        samples
            .par_chunks(HASH_BLOCK)
            .flat_map_iter(|block| self.hash_block(block, &positions))
            .collect()
    }

    fn hash_block(
        &self,
        block: &[&str],
        positions: &[std::collections::HashMap<&str, usize>],
    ) -> Vec<Option<String>> {
        let v1 = self.id_digests.is_empty();
        let mut hashers: Vec<Option<Sha256>> = block
            .iter()
            .map(|_| {
                let mut h = Sha256::new();
                h.update(if v1 {
                    b"evomics-ml row v1\0"
                } else {
                    b"evomics-ml row v2\0"
                });
                Some(h)
            })
            .collect();
        // A layer's bytes are gathered first and hashed in one update (the digest is that of
        // the byte stream, however it is split), not in four small updates per feature.
        let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); block.len()];
        for (l, ((name, layer, rows), at)) in self.layers.iter().zip(positions).enumerate() {
            let cols: Vec<Option<usize>> = block.iter().map(|s| at.get(s).copied()).collect();
            for (buf, j) in bufs.iter_mut().zip(&cols) {
                buf.clear();
                if j.is_some() {
                    buf.extend_from_slice(name.as_bytes());
                    buf.push(0);
                    if let Some(d) = self.id_digests.get(l) {
                        buf.extend_from_slice(d);
                    }
                }
            }
            let (values, flags) = (layer.values(), layer.flags());
            // At most a flag byte and a value's 8 bytes per feature (and its id in scheme 1).
            let most = rows
                .iter()
                .map(|(id, _)| 9 + if v1 { id.len() + 1 } else { 0 })
                .sum::<usize>();
            for buf in &mut bufs {
                buf.reserve(most);
            }
            for &(id, row) in rows {
                // The feature's row of both matrices, each read as a slice when it is one.
                let cells = row.map(|i| (values.row(i), flags.row(i)));
                let slices = cells
                    .as_ref()
                    .and_then(|(v, f)| Some((v.as_slice()?, f.as_slice()?)));
                for (buf, j) in bufs.iter_mut().zip(&cols) {
                    let Some(j) = *j else { continue };
                    if v1 {
                        buf.extend_from_slice(id.as_bytes());
                        buf.push(0);
                    }
                    let (flag, v) = match (&slices, &cells) {
                        (Some((v, f)), _) => (f[j], v[j]),
                        (None, Some((v, f))) => (f[j], v[j]),
                        (None, None) => (ValueFlag::Missing, 0.0),
                    };
                    buf.push(flag.code());
                    if flag.has_value() {
                        let v = if v == 0.0 { 0.0 } else { v };
                        buf.extend_from_slice(&v.to_bits().to_le_bytes());
                    }
                }
            }
            for ((h, buf), j) in hashers.iter_mut().zip(&bufs).zip(&cols) {
                match j {
                    Some(_) => {
                        if let Some(h) = h {
                            h.update(buf);
                        }
                    }
                    None => *h = None,
                }
            }
        }
        hashers
            .into_iter()
            .map(|h| Some(h?.finalize().iter().map(|b| format!("{b:02x}")).collect()))
            .collect()
    }
}

/// Samples hashed together by [`RowHasher::hash_many`]: their cells of a feature are a few
/// cache lines of its row.
const HASH_BLOCK: usize = 16;

/// How a predicted sample was found in the model's training data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainingMatch {
    /// A training sample has the same id.
    Id,
    /// A training sample under another id has the same input row ([`row_hash`]).
    Data,
}

impl TrainingMatch {
    /// The value of the `in_training` column.
    pub fn name(self) -> &'static str {
        match self {
            TrainingMatch::Id => "id",
            TrainingMatch::Data => "data",
        }
    }
}

/// A predicted sample that was in the model's training data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InTraining {
    /// By id or by data.
    pub by: TrainingMatch,
    /// The training sample it matches (its own id for [`TrainingMatch::Id`]).
    pub training_sample: String,
}

/// A trained potency model, ready to save and to apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedModel {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// File version, [`MODEL_VERSION`] when written.
    pub version: u32,
    /// Version of evomics-ml that wrote it.
    pub software_version: String,
    /// Target column.
    pub target: String,
    /// Class names (empty for a numeric target).
    pub classes: Vec<String>,
    /// The model's input features, in column order, with their layers.
    pub features: Vec<FeatureRef>,
    /// Fitted preprocessing.
    pub preprocess: FittedPreprocess,
    /// Fitted model.
    pub model: FittedModel,
    /// The model parameters used (the tuned choice under tuning).
    pub model_params: ModelSpec,
    /// The full training configuration.
    pub config: TrainConfig,
    /// Training data provenance.
    pub training: TrainingInfo,
    /// Cross-validated metrics, when a CV report was given.
    pub cv_metrics: Vec<MetricSummary>,
    /// Conformal calibration from the CV's out-of-fold scores, when a CV report was given.
    pub conformal: Option<ConformalCalibration>,
    /// Rule for features absent from new data.
    pub missing_features: MissingFeatureRule,
}

/// Predictions for new samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictReport {
    /// One row per predicted sample (repeat and fold 0).
    pub predictions: Vec<PredictionRow>,
    /// Conformal class sets (class names) per sample, when the model has a calibration.
    pub sets: Vec<Vec<String>>,
    /// Conformal intervals (low, high) per sample, when the model has a calibration.
    pub intervals: Vec<(f64, f64)>,
    /// Features the model was fitted on that the new data lack.
    pub missing_features: Vec<FeatureRef>,
    /// New-data features the model does not use.
    pub ignored_features: usize,
    /// Samples not predicted (absent from a layer or from the sheet), with the reason.
    pub dropped: Vec<(String, String)>,
    /// Per prediction: whether the sample was in the model's training data.
    #[serde(default)]
    pub in_training: Vec<Option<InTraining>>,
    /// Whether samples were also checked by data (false for a model file without training row
    /// hashes, where only ids could be compared).
    #[serde(default)]
    pub checked_by_data: bool,
}

/// Train the final model on every sample of `data`. With tuning, the model is chosen by the
/// tuning's inner CV on all samples. `cv` (a [`crate::evaluate::cross_validate`] report of the
/// same config) supplies the stored metrics and conformal calibration.
pub fn train_final(
    data: &Dataset,
    sheet: &SampleSheet,
    config: &TrainConfig,
    cv: Option<&crate::evaluate::CvReport>,
) -> Result<SavedModel> {
    train_final_with(data, sheet, config, cv, None)
}

/// [`train_final`], taking a layer's pipeline fit on all samples from `prefit` when it is the
/// fit this one would make ([`Prefit`]); the model is the same.
pub fn train_final_with(
    data: &Dataset,
    sheet: &SampleSheet,
    config: &TrainConfig,
    cv: Option<&crate::evaluate::CvReport>,
    prefit: Option<&Prefit>,
) -> Result<SavedModel> {
    fit_final(data, sheet, config, cv, prefit)?.finish(data)
}

/// The final model fitted, before the training data's hashes that [`SavedModel`] records
/// ([`train_final_with`] in two steps: the hashes only read `data`, so a caller may compute
/// them beside other work).
#[derive(Debug)]
pub struct FinalFit {
    spec: ModelSpec,
    pre: FittedPreprocess,
    model: FittedModel,
    config: TrainConfig,
    cv_metrics: Vec<MetricSummary>,
    conformal: Option<ConformalCalibration>,
}

/// The first step of [`train_final_with`]: tuning, preprocessing and the model fit.
pub fn fit_final(
    data: &Dataset,
    sheet: &SampleSheet,
    config: &TrainConfig,
    cv: Option<&crate::evaluate::CvReport>,
    prefit: Option<&Prefit>,
) -> Result<FinalFit> {
    config.validate()?;
    let rows: Vec<usize> = (0..data.n_samples()).collect();
    let spec = match &config.tuning {
        Some(t) => tune_all(data, sheet, config, t)?,
        None => config.model.clone(),
    }
    .with_seed(evomics_core::rng::derive_seed(config.seed, "final"));
    let (pre, x) = config
        .preprocess
        .fit_with(&data.layers, sheet, &rows, &data.labels, prefit)?;
    let model = spec.fit_owned(x, &data.labels)?;
    Ok(FinalFit {
        spec,
        pre,
        model,
        config: config.clone(),
        cv_metrics: cv.map(|r| r.summary.clone()).unwrap_or_default(),
        conformal: cv.map(|r| r.conformal.clone()),
    })
}

/// The final model fitted from a [`Prefit`] alone, before the training data are at hand
/// ([`fit_final_early`]): kept by [`EarlyFinal::take`] when the data turn out to be the ones
/// the prefit's fits were made on, where it is bit for bit the fit [`fit_final`] makes.
#[derive(Debug)]
pub struct EarlyFinal {
    fit: FinalFit,
    pre: EarlyPreprocess,
}

/// [`fit_final`] on the samples of `prefit`'s fits, with every layer of `layers` (in order)
/// taken from `prefit`, before the layers those fits were made on are at hand (`train` in a
/// run fits it while the ingested store is read back). `None` when that is not the fit
/// [`fit_final`] would make: a tuned model, a layer the prefit does not hold by this config,
/// or a sample without a target value. The fits it uses are taken out of `prefit`; when
/// [`EarlyFinal::take`] then refuses the data, [`fit_final`] fits them again.
pub fn fit_final_early(
    prefit: &Prefit,
    layers: &[String],
    target: &TargetSpec,
    config: &TrainConfig,
) -> Option<Result<EarlyFinal>> {
    if config.validate().is_err() || config.tuning.is_some() {
        return None;
    }
    let early = config.preprocess.fit_early(prefit, layers, |outputs| {
        let d = Dataset::assemble_with(outputs, prefit.sheet(), target).ok()?;
        (d.dropped.is_empty()
            && outputs
                .iter()
                .all(|o| o.samples() == d.sample_ids.as_slice()))
        .then_some(d.labels)
    })?;
    Some(early.and_then(|(pre_early, pre, x)| {
        let spec = config
            .model
            .clone()
            .with_seed(evomics_core::rng::derive_seed(config.seed, "final"));
        let model = spec.fit_owned(x, &pre_early.labels)?;
        Ok(EarlyFinal {
            fit: FinalFit {
                spec,
                pre,
                model,
                config: config.clone(),
                cv_metrics: Vec::new(),
                conformal: None,
            },
            pre: pre_early,
        })
    }))
}

impl EarlyFinal {
    /// The fit, when `data` (with `sheet`) and `config` are the ones it was made for: the
    /// layers are those the prefit's fits were made on (by fingerprint), with the same samples
    /// and target values; the layers are then recorded as taken from `prefit`.
    pub fn take(
        self,
        data: &Dataset,
        sheet: &SampleSheet,
        config: &TrainConfig,
        prefit: Option<&Prefit>,
    ) -> Option<FinalFit> {
        let fits = self.fit.config == *config
            && self.pre.labels == data.labels
            && self.pre.sample_ids == data.sample_ids
            && self.pre.matches(&data.layers, sheet);
        if !fits {
            return None;
        }
        if let Some(p) = prefit {
            p.record_taken(self.pre.inputs.iter().map(|(name, _)| name.clone()));
        }
        Some(self.fit)
    }
}

impl FinalFit {
    /// The saved model, with the hashes of `data` (the data set it was fitted on).
    pub fn finish(self, data: &Dataset) -> Result<SavedModel> {
        let FinalFit {
            spec,
            pre,
            model,
            config,
            cv_metrics,
            conformal,
        } = self;
        let layers: Vec<&Assay> = data.layers.iter().collect();
        let ids: Vec<&str> = data.sample_ids.iter().map(String::as_str).collect();
        // The whole data set's hash (one stream) beside the rows' (in blocks on the pool).
        let (data_hash, hashes) = rayon::join(
            || data.hash(),
            || match RowHasher::new(&pre, &layers) {
                Some(h) => h.hash_many(&ids),
                None => vec![None; ids.len()],
            },
        );
        let row_hashes = hashes
            .into_iter()
            .zip(&ids)
            .map(|(h, s)| {
                h.ok_or_else(|| MlError::Data {
                    what: "training",
                    problem: format!("sample '{s}' is missing from a layer of the training data"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SavedModel {
            format: MODEL_FORMAT.into(),
            version: MODEL_VERSION,
            software_version: env!("CARGO_PKG_VERSION").into(),
            target: data.target.clone(),
            classes: data.classes.clone(),
            features: pre.features.clone(),
            preprocess: pre,
            model,
            model_params: spec,
            config,
            training: TrainingInfo {
                n_samples: data.n_samples(),
                sample_ids: data.sample_ids.clone(),
                data_hash,
                n_dropped: data.dropped.len(),
                row_hashes,
                row_hash_scheme: ROW_HASH_SCHEME,
            },
            cv_metrics,
            conformal,
            missing_features: MissingFeatureRule::Error,
        })
    }
}

impl SavedModel {
    /// The model with the stored metrics and conformal calibration of `cv` (a
    /// [`crate::evaluate::cross_validate`] report of the same config), as
    /// [`train_final`] given `Some(cv)` makes it.
    pub fn with_cv(mut self, cv: &crate::evaluate::CvReport) -> SavedModel {
        self.cv_metrics = cv.summary.clone();
        self.conformal = Some(cv.conformal.clone());
        self
    }
}

fn tune_all(
    data: &Dataset,
    sheet: &SampleSheet,
    config: &TrainConfig,
    t: &Tuning,
) -> Result<ModelSpec> {
    // The inner design applied to all samples, exactly as inside an outer fold.
    let inner = TrainConfig {
        cv: t.inner.clone(),
        tuning: None,
        ..config.clone()
    };
    let mut best: Option<(f64, ModelSpec)> = None;
    for c in &t.candidates {
        let r = crate::evaluate::cross_validate(
            data,
            sheet,
            &TrainConfig {
                model: c.clone(),
                ..inner.clone()
            },
        )?;
        let score = r.pooled_primary().unwrap_or(f64::NEG_INFINITY);
        if best.as_ref().is_none_or(|(b, _)| score > *b) {
            best = Some((score, c.clone()));
        }
    }
    best.map(|(_, m)| m).ok_or_else(|| MlError::Data {
        what: "tuning",
        problem: "no candidate could be scored".into(),
    })
}

impl SavedModel {
    /// Serialize to JSON (compact; numbers round-trip exactly), with the content hash
    /// ([`CONTENT_HASH_KEY`]) of everything else.
    pub fn to_json(&self) -> Result<String> {
        let mut v = serde_json::to_value(self).map_err(|e| MlError::ModelFile {
            problem: format!("cannot serialize: {e}"),
        })?;
        let hash = content_hash(&v);
        if let Some(o) = v.as_object_mut() {
            o.insert(CONTENT_HASH_KEY.into(), serde_json::Value::String(hash));
        }
        Ok(v.to_string())
    }

    /// Read a model written by [`SavedModel::to_json`]: format and version, then the content
    /// hash (an edited or damaged file is refused), then the parts against each other
    /// ([`SavedModel::validate`]).
    pub fn from_json(text: &str) -> Result<SavedModel> {
        let mut v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| MlError::ModelFile {
                problem: format!("not JSON ({e}); the file is damaged or not a model file: retrain or restore it"),
            })?;
        let format = v.get("format").and_then(|f| f.as_str()).unwrap_or("");
        if format != MODEL_FORMAT {
            return Err(MlError::ModelFile {
                problem: format!(
                    "format is '{}', expected '{MODEL_FORMAT}'; is this an evomics model file?",
                    clip(format)
                ),
            });
        }
        let version = v.get("version").and_then(|f| f.as_u64()).unwrap_or(0);
        if version == 1 {
            return Err(MlError::ModelFile { problem: format!("version 1 is not supported: it was written by an evomics before model files carried a content hash (this evomics reads version {MODEL_VERSION}); retrain the model, or use the evomics release that wrote it") });
        }
        if version != u64::from(MODEL_VERSION) {
            return Err(MlError::ModelFile { problem: format!("version {version} is not supported (this evomics reads version {MODEL_VERSION}); retrain the model or use the evomics release that wrote it") });
        }
        let stored = v
            .as_object_mut()
            .and_then(|o| o.remove(CONTENT_HASH_KEY))
            .and_then(|h| h.as_str().map(str::to_string));
        let Some(stored) = stored else {
            return Err(MlError::ModelFile {
                problem: format!("the file has no content hash ('{CONTENT_HASH_KEY}'), so it cannot be verified; retrain the model or restore the file"),
            });
        };
        if content_hash(&v) != stored {
            return Err(MlError::ModelFile {
                problem: "the file was changed after it was saved: its content hash does not match; retrain the model or restore the file".into(),
            });
        }
        let model: SavedModel = serde_json::from_value(v).map_err(|e| MlError::ModelFile {
            problem: format!("malformed model: {e}"),
        })?;
        model.validate()?;
        Ok(model)
    }

    /// Check that the parts of a model fit each other: the feature list against the
    /// preprocessing (selected columns, centres, scales), the fitted model's shape against the
    /// features and classes, the training record and the conformal calibration (α in (0, 1),
    /// calibration scores present, the stored threshold the one they give). A model trained by
    /// evomics always passes; [`SavedModel::from_json`] runs it after the content hash.
    pub fn validate(&self) -> Result<()> {
        let bad = |problem: String| {
            Err(MlError::ModelFile {
                problem: format!(
                    "{problem}; the file is inconsistent: retrain the model or restore the file"
                ),
            })
        };
        let pre = &self.preprocess;
        let nf = self.features.len();
        if pre.features != self.features {
            return bad("the feature list differs from the preprocessing's".into());
        }
        if pre.columns.len() != nf {
            return bad(format!(
                "{} selected columns for {nf} features",
                pre.columns.len()
            ));
        }
        let outputs: usize = pre.layers.iter().map(|l| l.output_features.len()).sum();
        if let Some(c) = pre.columns.iter().find(|c| **c >= outputs) {
            return bad(format!(
                "selected column {c} lies beyond the {outputs} preprocessed features"
            ));
        }
        for (name, v) in [
            ("center", &pre.center),
            ("scale", &pre.scale),
            ("scores", &pre.scores),
        ] {
            if !v.is_empty() && v.len() != nf {
                return bad(format!(
                    "the '{name}' array has {} values for {nf} features",
                    v.len()
                ));
            }
        }
        if pre.center.len() != pre.scale.len() {
            return bad(format!(
                "{} centres but {} scales",
                pre.center.len(),
                pre.scale.len()
            ));
        }
        if pre.center.iter().any(|c| !c.is_finite())
            || pre.scale.iter().any(|s| !s.is_finite() || *s == 0.0)
        {
            return bad(
                "a centre or scale is not a finite number (scales must be non-zero)".into(),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(c) = self
            .classes
            .iter()
            .find(|c| c.is_empty() || !seen.insert(c.as_str()))
        {
            return bad(format!("class '{}' is empty or listed twice", clip(c)));
        }
        if self.classes.len() == 1 {
            return bad("a classifier needs at least 2 classes; the file lists 1".into());
        }
        if self.model.n_features() != nf {
            return bad(format!(
                "the fitted model takes {} features; the feature list has {nf}",
                self.model.n_features()
            ));
        }
        if let Err(e) = self.model.check_shapes(self.classes.len()) {
            return bad(e);
        }
        let t = &self.training;
        if t.sample_ids.len() != t.n_samples
            || !(t.row_hashes.is_empty() || t.row_hashes.len() == t.n_samples)
        {
            return bad(format!(
                "the training record lists {} samples, {} ids and {} row hashes",
                t.n_samples,
                t.sample_ids.len(),
                t.row_hashes.len()
            ));
        }
        if !(1..=ROW_HASH_SCHEME).contains(&t.row_hash_scheme) {
            return bad(format!(
                "the training row hashes are in scheme {}, which this evomics does not know (it knows 1 to {ROW_HASH_SCHEME}); use the evomics release that wrote the model",
                t.row_hash_scheme
            ));
        }
        if let Some(c) = &self.conformal {
            if !(c.alpha > 0.0 && c.alpha < 1.0) {
                return bad(format!("conformal alpha {} is outside (0, 1)", c.alpha));
            }
            if c.scores.is_empty() || c.scores.iter().any(|s| !s.is_finite()) {
                return bad(
                    "the conformal calibration has no scores, or one that is not a finite number"
                        .into(),
                );
            }
            let q = crate::conformal::conformal_quantile(&c.scores, c.alpha);
            if q.as_ref().ok() != Some(&c.threshold) {
                return bad(format!(
                    "the conformal threshold {} is not the one its {} scores give at alpha {}",
                    c.threshold,
                    c.scores.len(),
                    c.alpha
                ));
            }
        }
        Ok(())
    }

    /// The same model with another missing-feature rule.
    pub fn with_missing_rule(mut self, rule: MissingFeatureRule) -> SavedModel {
        self.missing_features = rule;
        self
    }

    /// Predict new samples from their layers (matched by name) and sample sheet.
    pub fn predict(&self, layers: &[&Assay], sheet: &SampleSheet) -> Result<PredictReport> {
        let mut aligned = Vec::with_capacity(self.preprocess.layers.len());
        let mut missing = Vec::new();
        let mut ignored = 0;
        // Samples: in every needed layer and in the sheet, in the first layer's order.
        let needed: Vec<&Assay> = self
            .preprocess
            .layers
            .iter()
            .map(|fl| {
                layers
                    .iter()
                    .copied()
                    .find(|l| l.name() == fl.layer)
                    .ok_or_else(|| MlError::Data {
                        what: "predict",
                        problem: format!(
                            "the model needs layer '{}', which the new data lack (they have: {})",
                            fl.layer,
                            layers
                                .iter()
                                .map(|l| l.name())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })
            })
            .collect::<Result<_>>()?;
        let mut dropped = Vec::new();
        let mut ids = Vec::new();
        if let Some(first) = needed.first() {
            for s in first.samples() {
                if let Some(l) = needed.iter().find(|l| l.sample_position(s).is_none()) {
                    dropped.push((s.clone(), format!("not in layer '{}'", l.name())));
                } else if sheet.position(s).is_none() {
                    dropped.push((s.clone(), "not in the sample sheet".into()));
                } else {
                    ids.push(s.clone());
                }
            }
        }
        if ids.is_empty() {
            return Err(MlError::Data {
                what: "predict",
                problem: "no sample is in every layer the model needs and in the sheet".into(),
            });
        }
        let used: std::collections::BTreeSet<&FeatureRef> = self.features.iter().collect();
        for (fl, l) in self.preprocess.layers.iter().zip(&needed) {
            let l = l.select_samples_by_id(&ids)?;
            let ns = l.n_samples();
            let mut values = Array2::from_elem((fl.input_features.len(), ns), f64::NAN);
            let mut flags = Array2::from_elem((fl.input_features.len(), ns), ValueFlag::Missing);
            let mut layer_missing = Vec::new();
            for (r, id) in fl.input_features.iter().enumerate() {
                match l.features().position(id) {
                    Some(i) => {
                        values.row_mut(r).assign(&l.values().row(i));
                        flags.row_mut(r).assign(&l.flags().row(i));
                    }
                    None => layer_missing.push(FeatureRef {
                        layer: fl.layer.clone(),
                        id: id.clone(),
                    }),
                }
            }
            ignored += l
                .features()
                .ids()
                .iter()
                .filter(|id| !fl.input_features.contains(id))
                .count();
            if !layer_missing.is_empty() && self.missing_features == MissingFeatureRule::Error {
                let n_used = layer_missing.iter().filter(|f| used.contains(f)).count();
                return Err(MlError::MissingFeatures {
                    layer: fl.layer.clone(),
                    n: layer_missing.len(),
                    first: layer_missing[0].id.clone(),
                    hint: format!("{n_used} of them are model inputs; measure them, or save the model with the 'impute' missing-feature rule so the fitted imputation fills them"),
                });
            }
            missing.extend(layer_missing);
            let kept = evomics_core::Features::new(fl.input_features.clone())?;
            aligned.push(Assay::new(
                l.name(),
                l.kind().clone(),
                l.scale(),
                kept,
                l.samples().to_vec(),
                values,
                flags,
            )?);
        }
        let in_training = self.training_matches(&needed, &ids);
        let x = self.preprocess.transform_assays(&aligned, sheet)?;
        let out = self.model.predict(x.view())?;
        let predictions: Vec<PredictionRow> = (0..ids.len())
            .map(|r| prediction_row(ids[r].clone(), 0, 0, None, &self.classes, &out, r))
            .collect();
        let (mut sets, mut intervals) = (Vec::new(), Vec::new());
        if let Some(c) = &self.conformal {
            match &out {
                Output::Probabilities { p } => {
                    sets = p
                        .rows()
                        .into_iter()
                        .map(|row| {
                            prediction_set(&row.to_vec(), c.threshold)
                                .into_iter()
                                .map(|k| self.classes[k].clone())
                                .collect()
                        })
                        .collect();
                }
                Output::Values { y } => {
                    intervals = y
                        .iter()
                        .map(|v| (v - c.threshold, v + c.threshold))
                        .collect()
                }
            }
        }
        Ok(PredictReport {
            predictions,
            sets,
            intervals,
            missing_features: missing,
            ignored_features: ignored,
            dropped,
            in_training,
            checked_by_data: !self.training.row_hashes.is_empty(),
        })
    }

    /// For each of `ids`: the training sample with the same id, or else the one with the same
    /// input row ([`row_hash`]; only when the model file recorded the hashes).
    fn training_matches(&self, layers: &[&Assay], ids: &[String]) -> Vec<Option<InTraining>> {
        let by_id: std::collections::BTreeSet<&str> = self
            .training
            .sample_ids
            .iter()
            .map(String::as_str)
            .collect();
        let mut by_hash: std::collections::BTreeMap<&str, &str> = Default::default();
        for (h, id) in self
            .training
            .row_hashes
            .iter()
            .zip(&self.training.sample_ids)
        {
            by_hash.entry(h.as_str()).or_insert(id.as_str());
        }
        // The samples not matched by id are hashed together.
        let unmatched: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| !by_id.contains(id))
            .collect();
        let scheme = self.training.row_hash_scheme;
        let hashes = match RowHasher::with_scheme(&self.preprocess, layers, scheme) {
            Some(h) if !by_hash.is_empty() => h.hash_many(&unmatched),
            _ => vec![None; unmatched.len()],
        };
        let mut hashes = hashes.into_iter();
        ids.iter()
            .map(|id| {
                if by_id.contains(id.as_str()) {
                    return Some(InTraining {
                        by: TrainingMatch::Id,
                        training_sample: id.clone(),
                    });
                }
                let h = hashes.next().flatten()?;
                by_hash.get(h.as_str()).map(|t| InTraining {
                    by: TrainingMatch::Data,
                    training_sample: (*t).to_string(),
                })
            })
            .collect()
    }

    /// Whether the saved model is a classifier.
    pub fn is_classifier(&self) -> bool {
        !self.classes.is_empty()
    }
}
