//! The preprocessing a model carries: per-layer evomics-norm pipelines, univariate feature
//! selection and feature/block scaling — fitted on training samples only and applied unchanged
//! to held-out and new samples.
//!
//! Order of the steps, all learned from the training samples given to [`PreprocessConfig::fit`]:
//!
//! 1. every layer's [`NormalizeConfig`] (filters, transform, normalization, imputation, batch
//!    correction) is fitted on the training samples of that layer; its output must be complete
//!    (missing values are imputed or filtered by the config, never filled silently here);
//! 2. the layers' features are concatenated (layer order of the data set);
//! 3. feature selection keeps the top-k features by a univariate statistic computed on the
//!    training samples: |Welch t| (two classes), the one-way ANOVA F (more classes) or
//!    |Pearson r| (numeric target), or by variance;
//! 4. scaling: each kept feature is centred and divided by its standard deviation (denominator
//!    n, as scikit-learn's `StandardScaler`), and with `block` scaling every layer's block is
//!    further divided by √(its number of kept features), so each layer contributes unit total
//!    variance whatever its size (the block weighting of multiple factor analysis and
//!    multi-block PLS; Westerhuis, Kourti & MacGregor 1998, *J Chemometrics* 12:301).

use std::borrow::Cow;
use std::collections::BTreeMap;

use std::sync::Mutex;

use evomics_core::{Assay, AssayFingerprint, SampleSheet};
use evomics_norm::{FittedPipeline, NormalizeConfig};
use ndarray::{Array2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{data_err, ensure, MlError, Result};
use crate::models::Labels;

/// A model input feature: layer and feature id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FeatureRef {
    /// Layer name.
    pub layer: String,
    /// Feature id within the layer.
    pub id: String,
}

impl std::fmt::Display for FeatureRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.layer, self.id)
    }
}

/// Univariate feature selection inside each training fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Selection {
    /// Keep every feature.
    #[default]
    None,
    /// Keep the `k` features with the largest univariate statistic against the target
    /// (|Welch t|, ANOVA F or |Pearson r|).
    Univariate {
        /// Number of features kept, ≥ 1.
        k: usize,
    },
    /// Keep the `k` features with the largest variance (unsupervised).
    Variance {
        /// Number of features kept, ≥ 1.
        k: usize,
    },
}

/// Scaling of the kept features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    /// Leave values as the layer pipelines produced them.
    None,
    /// Centre and scale every feature to unit variance.
    #[default]
    Standardize,
    /// Standardize, then divide each layer's block by √(its kept features): unit total variance
    /// per layer.
    Block,
}

/// The preprocessing of a model's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PreprocessConfig {
    /// Per-layer pipelines by layer name; a layer without an entry passes through unchanged
    /// (it must then be complete).
    pub layers: BTreeMap<String, NormalizeConfig>,
    /// Feature selection (default none).
    pub selection: Selection,
    /// Scaling (default standardize).
    pub scaling: Scaling,
}

/// One layer's fitted pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedLayer {
    /// Layer name.
    pub layer: String,
    /// The features the pipeline was fitted on (the layer's features at training time).
    pub input_features: Vec<String>,
    /// The fitted evomics-norm pipeline.
    pub pipeline: FittedPipeline,
    /// The features the pipeline outputs.
    pub output_features: Vec<String>,
}

/// Fitted preprocessing: what a model needs to turn layers into its input matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedPreprocess {
    /// Per-layer fitted pipelines, in data-set layer order.
    pub layers: Vec<FittedLayer>,
    /// The model's input features, in column order.
    pub features: Vec<FeatureRef>,
    /// Column of each kept feature in the concatenated pipeline outputs.
    pub columns: Vec<usize>,
    /// Selection statistic of each kept feature (empty without selection).
    pub scores: Vec<f64>,
    /// Centre of each kept feature (empty without scaling).
    pub center: Vec<f64>,
    /// Divisor of each kept feature (empty without scaling).
    pub scale: Vec<f64>,
}

/// Layer pipelines already fitted on every sample of their layer, with their outputs: in a run,
/// what `normalize` computed from the ingested experiment that `train` reads again.
/// [`PreprocessConfig::fit_with`] takes a layer's fit from here instead of fitting its pipeline
/// a second time when it is exactly the fit it would make: the same pipeline (its
/// `report_group` aside, which names the grouping of a report and changes no fitted value),
/// on every sample in order, with the same sample sheet, on a layer whose
/// [`AssayFingerprint`] is the one the pipeline was fitted on. The pipelines are deterministic,
/// so what is taken is bit for bit what the second fit would return; anything else is fitted
/// as usual. Each layer's fit is taken at most once (it moves into the model matrix).
#[derive(Debug)]
pub struct Prefit {
    sheet: SampleSheet,
    layers: Mutex<BTreeMap<String, PrefitLayer>>,
    taken: Mutex<Vec<String>>,
}

/// One layer of a [`Prefit`].
#[derive(Debug)]
pub struct PrefitLayer {
    /// The fingerprint of the layer the pipeline was fitted on.
    pub input: AssayFingerprint,
    /// The fitted pipeline.
    pub fitted: FittedPipeline,
    /// Its output on that layer.
    pub output: Assay,
}

/// Whether two pipelines make the same fit: equal but for the report's grouping column.
pub fn same_fit(a: &NormalizeConfig, b: &NormalizeConfig) -> bool {
    let strip = |c: &NormalizeConfig| NormalizeConfig {
        report_group: String::new(),
        ..c.clone()
    };
    strip(a) == strip(b)
}

impl Prefit {
    /// Fits made with the sample sheet `sheet`.
    pub fn new(sheet: SampleSheet) -> Prefit {
        Prefit {
            sheet,
            layers: Mutex::new(BTreeMap::new()),
            taken: Mutex::new(Vec::new()),
        }
    }

    /// Add the fit of layer `name` (replacing an earlier one).
    pub fn insert(&mut self, name: &str, layer: PrefitLayer) {
        if let Ok(layers) = self.layers.get_mut() {
            layers.insert(name.to_string(), layer);
        }
    }

    /// The layers whose fit was taken, in the order they were.
    pub fn taken(&self) -> Vec<String> {
        self.taken.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// The fit of `layer` by `cfg` on the training rows `rows` when it is here (see [`Prefit`]),
    /// with its config set to `cfg`.
    fn take(
        &self,
        layer: &Assay,
        cfg: &NormalizeConfig,
        sheet: &SampleSheet,
        rows: &[usize],
    ) -> Option<(FittedPipeline, Assay)> {
        if rows.len() != layer.n_samples() || rows.iter().enumerate().any(|(a, &b)| a != b) {
            return None;
        }
        if *sheet != self.sheet {
            return None;
        }
        let mut layers = self.layers.lock().ok()?;
        let here = layers.get(layer.name())?;
        if !same_fit(&here.fitted.config, cfg)
            || here.output.samples() != layer.samples()
            || here.input != layer.fingerprint()
        {
            return None;
        }
        let mut found = layers.remove(layer.name())?;
        found.fitted.config = cfg.clone();
        if let Ok(mut taken) = self.taken.lock() {
            taken.push(layer.name().to_string());
        }
        Some((found.fitted, found.output))
    }
}

/// The preprocessing of the final model made from a [`Prefit`] alone, before the layers it was
/// fitted on are at hand (in a run, while the ingested store is read back): every layer's fit
/// is taken from the prefit, which is exactly [`PreprocessConfig::fit_with`] on all samples
/// when the layers turn out to be the ones the prefit names ([`EarlyPreprocess::matches`]).
#[derive(Debug)]
pub(crate) struct EarlyPreprocess {
    /// The fingerprints of the layers the fits were made on, in layer order.
    pub inputs: Vec<(String, AssayFingerprint)>,
    /// The samples, in order.
    pub sample_ids: Vec<String>,
    /// The sample sheet of the fits.
    pub sheet: SampleSheet,
    /// The target values of the samples.
    pub labels: Labels,
}

impl EarlyPreprocess {
    /// Whether `layers` (the training data's, with `sheet`) are the layers the fits were made
    /// on: then the early fit is the one [`PreprocessConfig::fit_with`] makes from them.
    pub fn matches(&self, layers: &[Assay], sheet: &SampleSheet) -> bool {
        *sheet == self.sheet
            && layers.len() == self.inputs.len()
            && layers.iter().zip(&self.inputs).all(|(l, (name, fp))| {
                l.name() == name
                    && l.samples() == self.sample_ids.as_slice()
                    && *fp == l.fingerprint()
            })
    }
}

impl Prefit {
    /// Record that the fits of `layers` were taken (by an early fit found to match).
    pub(crate) fn record_taken(&self, layers: impl IntoIterator<Item = String>) {
        if let Ok(mut taken) = self.taken.lock() {
            taken.extend(layers);
        }
    }

    /// The sample sheet of the fits.
    pub(crate) fn sheet(&self) -> &SampleSheet {
        &self.sheet
    }
}

impl PreprocessConfig {
    /// The preprocessing of every sample of `layers` (names, in order) taken whole from
    /// `prefit`, before the layers themselves are at hand, with the samples' target values
    /// from `labels` (given the layers' outputs); `None` when the prefit does not hold every
    /// layer's fit by this config on the same samples, or `labels` gives none. The fits are
    /// taken out of `prefit` (not recorded as taken: see [`Prefit::record_taken`]).
    pub(crate) fn fit_early(
        &self,
        prefit: &Prefit,
        layers: &[String],
        labels: impl FnOnce(&[&Assay]) -> Option<Labels>,
    ) -> Option<Result<(EarlyPreprocess, FittedPreprocess, Array2<f64>)>> {
        if self.validate().is_err() || layers.is_empty() {
            return None;
        }
        let mut held = prefit.layers.lock().ok()?;
        // Every layer's fit by this config, all on the samples of the layers they were made on.
        let mut outputs: Vec<&Assay> = Vec::with_capacity(layers.len());
        for name in layers {
            let here = held.get(name)?;
            let cfg = self.layers.get(name).cloned().unwrap_or_default();
            let samples = here.output.samples();
            if !same_fit(&here.fitted.config, &cfg)
                || here.input.samples() != samples
                || outputs.first().is_some_and(|o| o.samples() != samples)
            {
                return None;
            }
            outputs.push(&here.output);
        }
        let sample_ids = outputs.first()?.samples().to_vec();
        let labels = labels(&outputs).filter(|l| l.len() == sample_ids.len())?;
        let mut fitted_layers = Vec::with_capacity(layers.len());
        let mut inputs = Vec::with_capacity(layers.len());
        let mut matrix = ModelMatrix::new(sample_ids.len(), "preprocessing (training samples)");
        for name in layers {
            let mut found = held.remove(name)?;
            found.fitted.config = self.layers.get(name).cloned().unwrap_or_default();
            fitted_layers.push(FittedLayer {
                layer: name.clone(),
                input_features: found.input.features().ids().to_vec(),
                output_features: found.output.features().ids().to_vec(),
                pipeline: found.fitted,
            });
            inputs.push((name.clone(), found.input));
            if let Err(e) = matrix.push(found.output) {
                return Some(Err(e));
            }
        }
        drop(held);
        Some(
            self.fit_matrix(fitted_layers, matrix, &labels)
                .map(|(pre, x)| {
                    let early = EarlyPreprocess {
                        inputs,
                        sample_ids,
                        sheet: prefit.sheet.clone(),
                        labels,
                    };
                    (early, pre, x)
                }),
        )
    }

    /// Check the configuration alone.
    pub fn validate(&self) -> Result<()> {
        for (name, c) in &self.layers {
            c.validate().map_err(|source| MlError::Norm {
                context: format!(" of layer '{name}'"),
                error: Box::new(source),
            })?;
        }
        match self.selection {
            Selection::Univariate { k } | Selection::Variance { k } => {
                ensure(k >= 1, "feature selection", "k", || {
                    "is 0; keep at least one feature".into()
                })
            }
            Selection::None => Ok(()),
        }
    }

    /// Fit on the training rows `train` of `layers` (aligned on the same samples) and return the
    /// fitted preprocessing and the training matrix (samples × kept features).
    pub fn fit(
        &self,
        layers: &[Assay],
        sheet: &SampleSheet,
        train: &[usize],
        labels: &Labels,
    ) -> Result<(FittedPreprocess, Array2<f64>)> {
        self.fit_with(layers, sheet, train, labels, None)
    }

    /// [`PreprocessConfig::fit`], taking a layer's pipeline fit from `prefit` when it holds
    /// exactly the fit this one would make (see [`Prefit`]); the result is the same.
    pub fn fit_with(
        &self,
        layers: &[Assay],
        sheet: &SampleSheet,
        train: &[usize],
        labels: &Labels,
        prefit: Option<&Prefit>,
    ) -> Result<(FittedPreprocess, Array2<f64>)> {
        self.validate()?;
        if train.len() != labels.len() {
            return Err(data_err(
                "preprocessing",
                format!("{} training rows but {} labels", train.len(), labels.len()),
            ));
        }
        let mut fitted_layers = Vec::with_capacity(layers.len());
        let mut matrix = ModelMatrix::new(train.len(), "preprocessing (training samples)");
        // One layer's pipeline at a time: the matrix is held beside one pipeline's working copy,
        // not beside every layer's. The first layer's working copy has room for every layer's
        // cells, so the matrix grows from it (ModelMatrix::finish).
        let room = matrix_room(layers, train.len());
        for (k, layer) in layers.iter().enumerate() {
            let cfg = self.layers.get(layer.name()).cloned().unwrap_or_default();
            let taken = prefit.and_then(|p| p.take(layer, &cfg, sheet, train));
            let (pipeline, out) = match taken {
                Some(fit) => fit,
                None => {
                    let room = if k == 0 { room } else { 0 };
                    let (pipeline, out, _) = cfg
                        .fit_transform_owned(layer.select_samples_reserving(train, room), sheet)
                        .map_err(|source| MlError::Norm {
                            context: format!(
                                " of layer '{}' on {} training samples",
                                layer.name(),
                                train.len()
                            ),
                            error: Box::new(source),
                        })?;
                    (pipeline, out)
                }
            };
            fitted_layers.push(FittedLayer {
                layer: layer.name().to_string(),
                input_features: layer.features().ids().to_vec(),
                output_features: out.features().ids().to_vec(),
                pipeline,
            });
            matrix.push(out)?;
        }
        self.fit_matrix(fitted_layers, matrix, labels)
    }

    /// The rest of [`PreprocessConfig::fit_with`] once every layer's pipeline is fitted and its
    /// output is in `matrix`: feature selection and scaling.
    fn fit_matrix(
        &self,
        fitted_layers: Vec<FittedLayer>,
        matrix: ModelMatrix,
        labels: &Labels,
    ) -> Result<(FittedPreprocess, Array2<f64>)> {
        let all: Vec<FeatureRef> = fitted_layers
            .iter()
            .flat_map(|l| {
                l.output_features.iter().map(move |id| FeatureRef {
                    layer: l.layer.clone(),
                    id: id.clone(),
                })
            })
            .collect();
        let x = matrix.finish()?;
        if x.ncols() == 0 {
            return Err(data_err(
                "preprocessing",
                "no feature is left after the layer pipelines' filters; relax the filters",
            ));
        }
        let (columns, scores) = match self.selection {
            Selection::None => ((0..x.ncols()).collect(), Vec::new()),
            Selection::Univariate { k } => top_k(&univariate_scores(&x, labels), k),
            Selection::Variance { k } => {
                let m = x.mean_axis(Axis(0)).unwrap_or_default();
                let v: Vec<f64> = x
                    .axis_iter(Axis(1))
                    .enumerate()
                    .map(|(j, c)| c.iter().map(|a| (a - m[j]) * (a - m[j])).sum::<f64>())
                    .collect();
                top_k(&v, k)
            }
        };
        let features: Vec<FeatureRef> = columns.iter().map(|&c| all[c].clone()).collect();
        let xs = select_columns(x, &columns);
        let (center, scale) = match self.scaling {
            Scaling::None => (Vec::new(), Vec::new()),
            Scaling::Standardize | Scaling::Block => {
                let n = xs.nrows() as f64;
                let mean: Vec<f64> = xs.axis_iter(Axis(1)).map(|c| c.sum() / n).collect();
                let mut sd: Vec<f64> = xs
                    .axis_iter(Axis(1))
                    .zip(&mean)
                    .map(|(c, m)| {
                        let s = (c.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / n).sqrt();
                        if s > 0.0 && s.is_finite() {
                            s
                        } else {
                            1.0
                        }
                    })
                    .collect();
                if self.scaling == Scaling::Block {
                    let mut per_layer: BTreeMap<&str, usize> = BTreeMap::new();
                    for f in &features {
                        *per_layer.entry(f.layer.as_str()).or_default() += 1;
                    }
                    for (s, f) in sd.iter_mut().zip(&features) {
                        *s *= (per_layer[f.layer.as_str()] as f64).sqrt();
                    }
                }
                (mean, sd)
            }
        };
        let fitted = FittedPreprocess {
            layers: fitted_layers,
            features,
            columns,
            scores,
            center,
            scale,
        };
        let xt = fitted.finish(xs);
        Ok((fitted, xt))
    }
}

/// Cells of a model matrix of `n` samples with every feature of `layers` (the most their
/// pipelines' outputs hold; filters only remove features).
fn matrix_room(layers: &[Assay], n: usize) -> usize {
    layers.iter().map(Assay::n_features).sum::<usize>() * n
}

/// The samples × features model matrix of the pipelines' outputs (one per layer, features
/// side by side in layer order); a cell without a value is an error. The matrix is
/// column-major (each feature's samples contiguous, the layout the models' per-feature passes
/// read), so a features × samples output in standard layout is already the block of its
/// columns. Each output's flags are freed when it is added; at the end the first output's
/// storage, when it has room for the whole matrix (a training fold's first layer is selected
/// with that room), is extended by the others, each freed in turn; otherwise the matrix is
/// allocated (fresh pages, resident only once written) and each output copied into its place
/// and freed in turn, so the memory in use grows by at most the largest output. (Growing the
/// largest output's storage into the matrix instead made the allocator move it: the whole
/// matrix beside that output, 75 MiB more at the final model's assembly on L.)
struct ModelMatrix {
    n: usize,
    /// What the samples are, for the error naming a cell without a value.
    what: &'static str,
    /// The outputs' values (features × samples), in layer order.
    parts: Vec<Array2<f64>>,
}

impl ModelMatrix {
    fn new(n: usize, what: &'static str) -> ModelMatrix {
        ModelMatrix {
            n,
            what,
            parts: Vec::new(),
        }
    }

    /// Add one pipeline output's features as the next columns, keeping its values only.
    fn push(&mut self, out: Assay) -> Result<()> {
        if out.n_samples() != self.n {
            return Err(data_err("preprocessing", "layers cover different samples"));
        }
        // A fast pass over the flags first; positions are looked up only when one is bad.
        let complete = match out.flags().as_slice_memory_order() {
            Some(s) => s.iter().all(|f| f.has_value()),
            None => out.flags().iter().all(|f| f.has_value()),
        };
        let hole = if complete {
            None
        } else {
            out.flags().indexed_iter().find(|(_, f)| !f.has_value())
        };
        if let Some(((i, j), f)) = hole {
            return Err(MlError::MissingValue {
                what: self.what,
                layer: out.name().to_string(),
                feature: out.features().ids()[i].clone(),
                sample: out.samples()[j].clone(),
                flag: f.name().to_string(),
            });
        }
        let (values, flags) = out.into_matrices();
        drop(flags);
        self.parts.push(values);
        Ok(())
    }

    fn finish(self) -> Result<Array2<f64>> {
        use ndarray::ShapeBuilder;
        let n = self.n;
        let total: usize = self.parts.iter().map(Array2::len).sum();
        let width: usize = self.parts.iter().map(Array2::nrows).sum();
        let mut parts = self.parts.into_iter();
        let mut data = parts
            .next()
            .map_or_else(Vec::new, |first| first_storage(first, total));
        for part in parts {
            append(&mut data, part);
        }
        Array2::from_shape_vec((n, width).f(), data)
            .map_err(|e| data_err("preprocessing", format!("model matrix: {e}")))
    }
}

/// The first output's storage when it has room for `total` values (reserved by
/// `Assay::select_samples_reserving`), the other outputs then appended to it; otherwise new
/// storage with that room, holding the first output's values.
fn first_storage(part: Array2<f64>, total: usize) -> Vec<f64> {
    if part.is_standard_layout() {
        let len = part.len();
        let (storage, offset) = part.into_raw_vec_and_offset();
        let at = offset.unwrap_or(0);
        if at == 0 && storage.len() == len && storage.capacity() >= total {
            return storage;
        }
        let mut data = Vec::with_capacity(total);
        data.extend_from_slice(&storage[at..at + len]);
        return data;
    }
    let mut data = Vec::with_capacity(total);
    append(&mut data, part);
    data
}

/// Append a part's values in row-major order and free it.
fn append(data: &mut Vec<f64>, part: Array2<f64>) {
    match part.as_slice() {
        Some(src) => data.extend_from_slice(src),
        None => data.extend(part.iter().copied()),
    }
}

/// Columns `columns` (ascending) of `x`; `x` itself when they are all of them.
fn select_columns(x: Array2<f64>, columns: &[usize]) -> Array2<f64> {
    if columns.len() == x.ncols() && columns.iter().enumerate().all(|(a, &b)| a == b) {
        return x;
    }
    x.select(Axis(1), columns)
}

/// Indices of the k largest scores (NaN last, ties by index), returned in column order.
fn top_k(scores: &[f64], k: usize) -> (Vec<usize>, Vec<f64>) {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    let key = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else { v };
    idx.sort_by(|&a, &b| key(scores[b]).total_cmp(&key(scores[a])).then(a.cmp(&b)));
    idx.truncate(k.min(scores.len()));
    idx.sort_unstable();
    let s = idx.iter().map(|&i| scores[i]).collect();
    (idx, s)
}

/// |Welch t| (two classes), ANOVA F (more classes) or |Pearson r| (numbers) of every column.
pub fn univariate_scores(x: &Array2<f64>, labels: &Labels) -> Vec<f64> {
    match labels {
        Labels::Classes { y, n_classes } => {
            let k = (*n_classes).max(2);
            x.axis_iter(Axis(1))
                .map(|col| {
                    let mut n = vec![0.0; k];
                    let mut s = vec![0.0; k];
                    let mut ss = vec![0.0; k];
                    for (v, &c) in col.iter().zip(y) {
                        n[c] += 1.0;
                        s[c] += v;
                        ss[c] += v * v;
                    }
                    let mean: Vec<f64> = (0..k)
                        .map(|c| if n[c] > 0.0 { s[c] / n[c] } else { 0.0 })
                        .collect();
                    let var: Vec<f64> = (0..k)
                        .map(|c| {
                            if n[c] > 1.0 {
                                ((ss[c] - n[c] * mean[c] * mean[c]) / (n[c] - 1.0)).max(0.0)
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    if k == 2 {
                        let se = (var[0] / n[0].max(1.0) + var[1] / n[1].max(1.0)).sqrt();
                        if se > 0.0 {
                            ((mean[1] - mean[0]) / se).abs()
                        } else {
                            0.0
                        }
                    } else {
                        let nt: f64 = n.iter().sum();
                        let grand = s.iter().sum::<f64>() / nt;
                        let groups = n.iter().filter(|&&c| c > 0.0).count() as f64;
                        let ssb: f64 = (0..k)
                            .map(|c| n[c] * (mean[c] - grand) * (mean[c] - grand))
                            .sum();
                        let ssw: f64 = (0..k).map(|c| var[c] * (n[c] - 1.0).max(0.0)).sum();
                        if ssw > 0.0 && groups > 1.0 && nt > groups {
                            (ssb / (groups - 1.0)) / (ssw / (nt - groups))
                        } else {
                            0.0
                        }
                    }
                })
                .collect()
        }
        Labels::Numeric { y } => {
            let n = y.len() as f64;
            let my = y.iter().sum::<f64>() / n;
            let sy = y.iter().map(|v| (v - my) * (v - my)).sum::<f64>().sqrt();
            x.axis_iter(Axis(1))
                .map(|col| {
                    let mx = col.sum() / n;
                    let sx = col.iter().map(|v| (v - mx) * (v - mx)).sum::<f64>().sqrt();
                    let cov: f64 = col.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
                    if sx > 0.0 && sy > 0.0 {
                        (cov / (sx * sy)).abs()
                    } else {
                        0.0
                    }
                })
                .collect()
        }
    }
}

impl FittedPreprocess {
    fn finish(&self, mut xs: Array2<f64>) -> Array2<f64> {
        if !self.center.is_empty() {
            // By column: the model matrix is column-major.
            for ((mut col, c), s) in xs
                .columns_mut()
                .into_iter()
                .zip(&self.center)
                .zip(&self.scale)
            {
                col.mapv_inplace(|v| (v - c) / s);
            }
        }
        xs
    }

    /// The model's input matrix for rows `rows` of layers aligned like the training layers
    /// (same layer order, the features the pipelines were fitted on).
    pub fn transform(
        &self,
        layers: &[Assay],
        sheet: &SampleSheet,
        rows: &[usize],
    ) -> Result<Array2<f64>> {
        let room = matrix_room(layers, rows.len());
        let subs = layers
            .iter()
            .enumerate()
            .map(|(k, l)| {
                Cow::Owned(l.select_samples_reserving(rows, if k == 0 { room } else { 0 }))
            })
            .collect();
        self.model_input(subs, sheet)
    }

    /// The model's input matrix for every sample of `layers` (one assay per fitted layer, in the
    /// fitted order, with the input features the pipelines expect).
    pub fn transform_assays(&self, layers: &[Assay], sheet: &SampleSheet) -> Result<Array2<f64>> {
        self.model_input(layers.iter().map(Cow::Borrowed).collect(), sheet)
    }

    /// [`FittedPreprocess::transform_assays`] on borrowed or owned layers (owned ones are freed
    /// as their pipelines run).
    fn model_input(&self, layers: Vec<Cow<'_, Assay>>, sheet: &SampleSheet) -> Result<Array2<f64>> {
        if layers.len() != self.layers.len() {
            return Err(data_err(
                "preprocessing",
                format!(
                    "{} layers given; the model was fitted on {}",
                    layers.len(),
                    self.layers.len()
                ),
            ));
        }
        let n = layers.first().map_or(0, |l| l.n_samples());
        if layers.iter().any(|l| l.n_samples() != n) {
            return Err(data_err("preprocessing", "layers cover different samples"));
        }
        let mut matrix = ModelMatrix::new(n, "preprocessing (new or held-out samples)");
        // The layers' pipelines are independent, so they run side by side (the held-out or new
        // samples are few beside a training fold); their outputs join the matrix in layer
        // order, and the first error in layer order is the one reported.
        let outputs: Vec<Result<Assay>> = layers
            .into_par_iter()
            .zip(&self.layers)
            .map(|(l, fl)| {
                match l {
                    Cow::Owned(a) => fl.pipeline.transform_owned(a, sheet),
                    Cow::Borrowed(a) => fl.pipeline.transform(a, sheet),
                }
                .map_err(|source| MlError::Norm {
                    context: format!(" of layer '{}' on {} new or held-out samples", fl.layer, n),
                    error: Box::new(source),
                })
            })
            .collect();
        for (output, fl) in outputs.into_iter().zip(&self.layers) {
            let out = output?;
            if out.features().ids() != fl.output_features.as_slice() {
                return Err(data_err(
                    "preprocessing",
                    format!(
                        "layer '{}' produced other features than at fit time",
                        fl.layer
                    ),
                ));
            }
            matrix.push(out)?;
        }
        let x = matrix.finish()?;
        let width = x.ncols();
        if self.columns.iter().any(|c| *c >= width)
            || (!self.center.is_empty()
                && (self.center.len() != self.columns.len()
                    || self.scale.len() != self.columns.len()))
        {
            // A model built in code or read without `SavedModel::validate`: refuse rather than
            // index out of bounds.
            return Err(data_err(
                "preprocessing",
                format!(
                    "the fitted preprocessing is inconsistent: {} selected columns of {width}, {} centres and {} scales",
                    self.columns.len(),
                    self.center.len(),
                    self.scale.len()
                ),
            ));
        }
        Ok(self.finish(select_columns(x, &self.columns)))
    }

    /// Number of model input features.
    pub fn n_features(&self) -> usize {
        self.features.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::{Features, LayerKind, ValueScale};

    fn layer(name: &str, n: usize, p: usize, missing: bool) -> Assay {
        let cells = Array2::from_shape_fn((p, n), |(i, j)| {
            if missing && i == 0 && j == 1 {
                None
            } else {
                Some(
                    10.0 + ((i * 7 + j * 3) % 5) as f64
                        + if j % 2 == 0 { i as f64 * 0.5 } else { 0.0 },
                )
            }
        });
        Assay::from_options(
            name,
            LayerKind::Other,
            ValueScale::Log2,
            Features::new((0..p).map(|i| format!("{name}{i}")).collect()).unwrap(),
            (0..n).map(|j| format!("s{j}")).collect(),
            &cells,
        )
        .unwrap()
    }

    fn sheet(n: usize) -> SampleSheet {
        SampleSheet::new((0..n).map(|j| format!("s{j}")).collect()).unwrap()
    }

    /// The matrix is the outputs side by side in layer order, whichever output lends its
    /// storage: the largest first, in the middle or last, one with an offset into its buffer,
    /// one not in standard layout, or none in standard layout.
    #[test]
    fn model_matrix_is_the_outputs_side_by_side_in_layer_order() {
        let n = 5;
        let block = |rows: usize, base: f64| {
            Array2::from_shape_fn((rows, n), |(i, j)| base + (i * n + j) as f64)
        };
        let expected = |parts: &[Array2<f64>]| {
            let views: Vec<_> = parts.iter().map(Array2::view).collect();
            ndarray::concatenate(Axis(0), &views)
                .unwrap()
                .reversed_axes()
        };
        let offset_block = {
            let mut a = block(4, 300.0);
            a.slice_axis_inplace(Axis(0), ndarray::Slice::from(1..));
            a
        };
        let fortran = block(6, 400.0)
            .reversed_axes()
            .as_standard_layout()
            .reversed_axes()
            .to_owned();
        let cases: Vec<Vec<Array2<f64>>> = vec![
            vec![block(7, 0.0), block(2, 100.0), block(3, 200.0)],
            vec![block(2, 0.0), block(7, 100.0), block(3, 200.0)],
            vec![block(2, 0.0), block(3, 100.0), block(7, 200.0)],
            vec![block(2, 0.0), offset_block.clone(), block(1, 200.0)],
            vec![block(2, 0.0), fortran.clone(), block(3, 200.0)],
            vec![fortran.clone(), fortran.t().to_owned().reversed_axes()],
            vec![block(3, 0.0), block(3, 100.0)],
            vec![],
        ];
        for parts in cases {
            let want = if parts.is_empty() {
                Array2::zeros((n, 0))
            } else {
                expected(&parts)
            };
            let mut m = ModelMatrix::new(n, "test");
            m.parts = parts;
            let x = m.finish().unwrap();
            assert_eq!(x, want);
            assert!(x.t().is_standard_layout(), "column-major");
        }
    }

    #[test]
    fn selection_and_block_scaling() {
        let (a, b) = (layer("a", 8, 4, false), layer("b", 8, 9, false));
        let labels = Labels::Classes {
            y: (0..8).map(|j| usize::from(j % 2 == 0)).collect(),
            n_classes: 2,
        };
        let cfg = PreprocessConfig {
            selection: Selection::Univariate { k: 5 },
            scaling: Scaling::Block,
            ..Default::default()
        };
        let rows: Vec<usize> = (0..8).collect();
        let (f, x) = cfg
            .fit(&[a.clone(), b.clone()], &sheet(8), &rows, &labels)
            .unwrap();
        assert_eq!(x.dim(), (8, 5));
        assert_eq!(f.features.len(), 5);
        // Block scaling: each layer's kept features have total variance 1 (denominator n).
        for layer in ["a", "b"] {
            let cols: Vec<usize> = f
                .features
                .iter()
                .enumerate()
                .filter(|(_, r)| r.layer == layer)
                .map(|(j, _)| j)
                .collect();
            if cols.is_empty() {
                continue;
            }
            let tv: f64 = cols
                .iter()
                .map(|&j| x.column(j).iter().map(|v| v * v).sum::<f64>() / 8.0)
                .sum();
            let constant = cols
                .iter()
                .filter(|&&j| x.column(j).iter().all(|v| *v == 0.0))
                .count();
            if constant == 0 {
                assert!((tv - 1.0).abs() < 1e-9, "{layer}: {tv}");
            }
        }
        // Applying to the training rows reproduces the training matrix exactly.
        let again = f.transform(&[a, b], &sheet(8), &rows).unwrap();
        assert_eq!(again, x);
    }

    #[test]
    fn missing_values_are_an_error_not_a_fill() {
        let a = layer("a", 6, 3, true);
        let labels = Labels::Numeric {
            y: (0..6).map(|v| v as f64).collect(),
        };
        let e = PreprocessConfig::default()
            .fit(&[a], &sheet(6), &(0..6).collect::<Vec<_>>(), &labels)
            .unwrap_err()
            .to_string();
        assert!(e.contains("imputation") && e.contains("a0"), "{e}");
    }

    #[test]
    fn top_k_is_stable() {
        assert_eq!(
            top_k(&[1.0, 3.0, 3.0, f64::NAN, 2.0], 3),
            (vec![1, 2, 4], vec![3.0, 3.0, 2.0])
        );
    }

    /// A fit taken from a [`Prefit`] gives the preprocessing and matrix of a fit made here, bit
    /// for bit; a prefit that is not exactly that fit (other training rows, another pipeline,
    /// another sheet, a changed cell) is not taken, and the result is a plain fit's.
    #[test]
    fn prefit_layers_are_taken_only_when_they_are_this_fit() {
        let n = 9;
        let (a, b) = (layer("a", n, 6, true), layer("b", n, 4, false));
        let labels = |rows: usize| Labels::Classes {
            y: (0..rows).map(|j| usize::from(j % 2 == 0)).collect(),
            n_classes: 2,
        };
        let pipeline = |shift: f64| -> NormalizeConfig {
            toml::from_str(&format!(
                "normalization = {{ method = \"median\" }}\nimputation = {{ method = \"down_shift\", shift = {shift}, seed = 3 }}\n"
            ))
            .unwrap()
        };
        let cfg = PreprocessConfig {
            layers: [
                ("a".to_string(), pipeline(1.8)),
                ("b".to_string(), pipeline(1.8)),
            ]
            .into(),
            ..Default::default()
        };
        let prefit = |of: &Assay, with: NormalizeConfig, sheet: &SampleSheet| {
            let (fitted, output, _) = with.fit_transform(of, sheet).unwrap();
            PrefitLayer {
                input: of.fingerprint(),
                fitted,
                output,
            }
        };
        let all: Vec<usize> = (0..n).collect();
        let plain = cfg
            .fit(&[a.clone(), b.clone()], &sheet(n), &all, &labels(n))
            .unwrap();
        // The normalize stage's fit carries its grouping column: the same fit.
        let mut grouped = pipeline(1.8);
        grouped.report_group = "source".into();
        let mut p = Prefit::new(sheet(n));
        p.insert("a", prefit(&a, grouped, &sheet(n)));
        p.insert("b", prefit(&b, pipeline(1.8), &sheet(n)));
        let reused = cfg
            .fit_with(
                &[a.clone(), b.clone()],
                &sheet(n),
                &all,
                &labels(n),
                Some(&p),
            )
            .unwrap();
        assert_eq!(p.taken(), ["a", "b"]);
        assert_eq!(reused, plain);
        assert!(
            cfg.fit_with(
                &[a.clone(), b.clone()],
                &sheet(n),
                &all,
                &labels(n),
                Some(&p)
            )
            .is_ok_and(|again| again == plain)
                && p.taken().len() == 2,
            "a fit is taken once"
        );
        let mut changed = a.clone().into_matrices();
        changed.0[[2, 3]] += 0.25;
        let changed = Assay::new(
            "a",
            a.kind().clone(),
            a.scale(),
            a.features().clone(),
            a.samples().to_vec(),
            changed.0,
            changed.1,
        )
        .unwrap();
        let other_sheet = SampleSheet::new((0..n).map(|j| format!("s{j}")).collect())
            .unwrap()
            .select(&(0..n).rev().collect::<Vec<_>>());
        let cases: Vec<(&str, Prefit, Vec<usize>)> = vec![
            (
                "a subset of the rows",
                {
                    let mut p = Prefit::new(sheet(n));
                    p.insert("a", prefit(&a, pipeline(1.8), &sheet(n)));
                    p
                },
                (1..n).collect(),
            ),
            (
                "another pipeline",
                {
                    let mut p = Prefit::new(sheet(n));
                    p.insert("a", prefit(&a, pipeline(2.0), &sheet(n)));
                    p
                },
                all.clone(),
            ),
            (
                "another layer",
                {
                    let mut p = Prefit::new(sheet(n));
                    p.insert("a", prefit(&changed, pipeline(1.8), &sheet(n)));
                    p
                },
                all.clone(),
            ),
            (
                "another sheet",
                {
                    let mut p = Prefit::new(other_sheet.clone());
                    p.insert("a", prefit(&a, pipeline(1.8), &sheet(n)));
                    p
                },
                all.clone(),
            ),
        ];
        for (what, p, rows) in cases {
            let want = cfg
                .fit(
                    &[a.clone(), b.clone()],
                    &sheet(n),
                    &rows,
                    &labels(rows.len()),
                )
                .unwrap();
            let got = cfg
                .fit_with(
                    &[a.clone(), b.clone()],
                    &sheet(n),
                    &rows,
                    &labels(rows.len()),
                    Some(&p),
                )
                .unwrap();
            assert!(p.taken().is_empty(), "{what}: taken");
            assert_eq!(got, want, "{what}");
        }
    }
}
