//! Every stage from files to files: read the input store (or take the experiment a previous
//! stage left in memory), call the stage's library function, and write its folder atomically
//! with `manifest.json` (provenance, settings, summary), `result.json` (the typed result) and
//! its tables. The subcommands and `evomics run` both go through these functions, so a stage
//! writes the same files whichever way it runs.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use serde::Serialize;
use serde_json::json;

use evomics_core::{Experiment, Message, StageResult};
use evomics_io::atomic::{check_output, OutputKind, Replace};
use evomics_io::output::{write_stage_result, PreparedResult};
use evomics_io::sheet::SheetOptions;
use evomics_io::text::header_preview;
use evomics_io::{
    read_experiment_fingerprinted, IngestRequest, InputFile, LayerSpec, Manifest, StoreBuilder,
};
use evomics_ml::persist::SavedModel;
use evomics_ml::stages::cluster::{run_cluster, ClusterConfig, ClusterResult};
use evomics_ml::stages::predict::{run_predict, PredictConfig, PredictResult};
use evomics_ml::stages::train::{run_train, run_train_owned, TrainContext, TrainResult, TrainSpec};
use evomics_norm::stage::{run_normalize, NormalizeResult, NormalizeSpec};
use evomics_panels::PanelSet;
use evomics_qc::{run_qc, QcConfig, QcResult};
use evomics_stats::stages::diff::{run_diff, DiffConfig, DiffResult};
use evomics_stats::stages::explore::{run_explore, ExploreConfig, ExploreResult};

use crate::error::{PipelineError, Result};

/// Where a stage's data come from: a store on disk, or an experiment already in memory (with
/// the fingerprint of the store it was written to).
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// An experiment store folder, read when the stage runs.
    Store(&'a Path),
    /// An experiment in memory, as written (or being written) to `path`, whose content
    /// fingerprint is `input`.
    Memory {
        /// The experiment.
        experiment: &'a Experiment,
        /// The store it was written to.
        path: &'a Path,
        /// Its content fingerprint.
        input: &'a StoreFingerprint,
    },
}

/// A store's content fingerprint ([`InputFile::store`]): known, or awaited from the thread
/// that is still writing the store. `evomics run` writes a stage's store on its own thread
/// while the next stages work on the experiment in memory; a stage that records the store as
/// its input (in its manifest, at its end) waits for the write there, and gets its error.
#[derive(Clone)]
pub struct StoreFingerprint {
    path: PathBuf,
    state: Arc<(Mutex<Fingerprinted>, Condvar)>,
}

enum Fingerprinted {
    Known(InputFile),
    Writing(std::thread::JoinHandle<Result<InputFile>>),
    /// A caller of `get` is waiting for the writing thread (without holding the lock, so that
    /// [`StoreFingerprint::is_ready`] answers at once meanwhile); the others wait for it on
    /// the condition variable.
    Joining,
    /// The write failed; its error was returned to the first caller of `get`.
    Failed(String),
}

impl std::fmt::Debug for StoreFingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreFingerprint")
            .field("path", &self.path)
            .field("ready", &self.is_ready())
            .finish()
    }
}

impl StoreFingerprint {
    /// The fingerprint of a store already on disk.
    pub fn known(path: &Path, input: InputFile) -> StoreFingerprint {
        StoreFingerprint {
            path: path.to_path_buf(),
            state: Arc::new((Mutex::new(Fingerprinted::Known(input)), Condvar::new())),
        }
    }

    /// The store at `path`, written by `write` (which returns its fingerprint) on a new thread.
    pub fn write_in_background(
        path: &Path,
        write: impl FnOnce() -> Result<InputFile> + Send + 'static,
    ) -> StoreFingerprint {
        StoreFingerprint {
            path: path.to_path_buf(),
            state: Arc::new((
                Mutex::new(Fingerprinted::Writing(std::thread::spawn(write))),
                Condvar::new(),
            )),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Fingerprinted> {
        self.state.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the fingerprint is known without waiting (the write, if any, has ended).
    pub fn is_ready(&self) -> bool {
        match &*self.lock() {
            Fingerprinted::Writing(h) => h.is_finished(),
            Fingerprinted::Joining => false,
            _ => true,
        }
    }

    /// The fingerprint, once the store is written; the write's error (to the first caller).
    ///
    /// The lock is not held while the writing thread is waited for: a stage's folder written
    /// on its own thread waits here for the store it read, and the run's loop, which asks
    /// [`StoreFingerprint::is_ready`] after every stage, must not wait with it.
    pub fn get(&self) -> Result<InputFile> {
        let mut state = self.lock();
        loop {
            match &*state {
                Fingerprinted::Writing(_) => {
                    let Fingerprinted::Writing(h) =
                        std::mem::replace(&mut *state, Fingerprinted::Joining)
                    else {
                        unreachable!("matched above")
                    };
                    drop(state);
                    let joined = h.join();
                    state = self.lock();
                    let outcome = match joined {
                        Ok(Ok(fp)) => {
                            *state = Fingerprinted::Known(fp);
                            Ok(())
                        }
                        Ok(Err(e)) => {
                            *state = Fingerprinted::Failed(e.to_string());
                            Err(e)
                        }
                        Err(_) => {
                            *state = Fingerprinted::Failed("the thread writing it failed".into());
                            Ok(())
                        }
                    };
                    self.state.1.notify_all();
                    outcome?;
                }
                Fingerprinted::Joining => {
                    state = self.state.1.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                Fingerprinted::Known(fp) => return Ok(fp.clone()),
                Fingerprinted::Failed(message) => {
                    return Err(PipelineError::StoreNotWritten {
                        path: self.path.clone(),
                        message: message.clone(),
                    })
                }
            }
        }
    }
}

/// A stage's store, computed but not yet written: [`StoreWrite::write`] writes it (with its
/// manifest and extra documents) as the standalone stage does.
#[derive(Debug)]
pub struct StoreWrite {
    out: PathBuf,
    replace: Replace,
    manifest: Manifest,
    /// Extra files (path relative to the store, text).
    docs: Vec<(String, String)>,
    /// The store, when some of its layers were written already (as they were read).
    started: Option<StoreBuilder>,
}

impl StoreWrite {
    /// Write the store of `experiment`, atomically; returns its content fingerprint (from the
    /// digests taken as its files were written).
    pub fn write(self, experiment: &Experiment) -> Result<InputFile> {
        let builder = match self.started {
            Some(b) => b,
            None => StoreBuilder::start(&self.out, self.replace)?,
        };
        Ok(builder.finish(experiment, &self.manifest, |tmp| {
            for (name, text) in &self.docs {
                evomics_io::atomic::write_file_atomic(&tmp.join(name), text.as_bytes())?;
            }
            Ok(())
        })?)
    }

    /// The store's folder.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// The store's manifest (its `files` are listed when it is written).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
}

impl Source<'_> {
    /// The store path.
    pub fn path(&self) -> &Path {
        match self {
            Source::Store(p) => p,
            Source::Memory { path, .. } => path,
        }
    }

    /// The store's content fingerprint (computed for a store on disk).
    pub fn fingerprint(&self) -> Result<InputFile> {
        match self {
            Source::Store(p) => Ok(InputFile::store(p)?),
            Source::Memory { input, .. } => input.get(),
        }
    }

    /// The store's content fingerprint: `read`, when [`Source::with`] took it as it read the
    /// store, else [`Source::fingerprint`].
    fn fingerprint_read(&self, read: Option<InputFile>) -> Result<InputFile> {
        match read {
            Some(fp) => Ok(fp),
            None => self.fingerprint(),
        }
    }

    /// The experiment, with only `layers` read from disk when given; for a store on disk,
    /// with its content fingerprint, taken from the digests checked as it was read.
    fn with<T>(
        &self,
        layers: Option<&[&str]>,
        f: impl FnOnce(&Experiment, Option<&Manifest>) -> Result<T>,
    ) -> Result<(T, Option<InputFile>)> {
        match self {
            Source::Store(p) => {
                let (exp, m, fp) = read_experiment_fingerprinted(p, layers)?;
                Ok((f(&exp, Some(&m))?, Some(fp)))
            }
            Source::Memory { experiment, .. } => Ok((f(experiment, None)?, None)),
        }
    }
}

/// Where a stage writes, what it may replace there, and the config file its settings came from
/// (hashed into the manifest).
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// The output folder (or file, for `predict`).
    pub out: PathBuf,
    /// The config file, if one was given.
    pub config_file: Option<PathBuf>,
    /// What an existing output folder may be (`--force`: anything).
    pub replace: Replace,
    /// Where an analysis stage leaves the write of its output folder, which then runs on a
    /// thread of its own, after the store the stage read when that is still being written
    /// (`evomics run`); `None` writes before the stage returns.
    pub deferred: Option<Deferred>,
}

/// The write of a stage's output folder left to a thread ([`Target::deferred`]); its manifest
/// lists the store the stage read, whose fingerprint is known once that store is written. The
/// caller takes it ([`Deferred::take`]) and waits for it like a store being written.
#[derive(Debug, Clone, Default)]
pub struct Deferred(Arc<Mutex<Option<StoreFingerprint>>>);

impl Deferred {
    /// The write a stage left, if it left one.
    pub fn take(&self) -> Option<StoreFingerprint> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn put(&self, write: StoreFingerprint) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(write);
    }
}

/// Write a stage's output folder: its manifest `m` (without the store the stage read, which
/// goes first) and its `prepared` contents. When the target has a [`Target::deferred`] slot,
/// the folder is written on its own thread (once the store the stage read is written, when it
/// is still being written) while the caller goes on, and the slot holds that write; the folder
/// is the same either way.
fn finish(
    source: &Source<'_>,
    read: Option<InputFile>,
    target: &Target,
    mut m: Manifest,
    prepared: PreparedResult,
) -> Result<()> {
    let Some(slot) = &target.deferred else {
        m.inputs.insert(0, source.fingerprint_read(read)?);
        prepared.write(&target.out, target.replace, &m)?;
        return Ok(());
    };
    // The store the stage read: for an experiment in memory, its store's write (which may
    // still be going on).
    let store = match source {
        Source::Memory { input, .. } => (*input).clone(),
        Source::Store(p) => StoreFingerprint::known(p, source.fingerprint_read(read)?),
    };
    let (out, replace) = (target.out.clone(), target.replace);
    slot.put(StoreFingerprint::write_in_background(
        &out.clone(),
        move || {
            m.inputs.insert(0, store.get()?);
            prepared.write(&out, replace, &m)?;
            Ok(InputFile::store(&out)?)
        },
    ));
    Ok(())
}

impl Target {
    /// Check the output folder against the stage's inputs (the store, the config file and
    /// `more`) and what is there before anything is computed
    /// ([`evomics_io::atomic::check_output`]).
    fn check(&self, source: &Source<'_>, more: &[&Path]) -> Result<()> {
        self.check_store(source.path(), more)
    }

    /// [`Target::check`] for the store at `store`.
    fn check_store(&self, store: &Path, more: &[&Path]) -> Result<()> {
        let mut inputs: Vec<&Path> = vec![store];
        inputs.extend(self.config_file.as_deref());
        inputs.extend_from_slice(more);
        check_output(&self.out, OutputKind::Folder, &inputs, self.replace)?;
        Ok(())
    }
}

/// A settings error of `stage`, naming the config file the settings came from.
fn settings_error(stage: &str, target: &Target, e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Setting {
        context: match &target.config_file {
            Some(p) => format!("{stage} config {}", p.display()),
            None => format!("{stage} settings"),
        },
        problem: e.to_string(),
    }
}

/// The manifest of an analysis stage but its first input, the store it read ([`finish`] adds
/// it).
fn manifest<C: Serialize, S: Serialize>(
    stage: &str,
    source: &Source<'_>,
    target: &Target,
    config: &C,
    summary: &S,
) -> Result<Manifest> {
    let mut m = Manifest::new(stage);
    if let Some(c) = &target.config_file {
        m.inputs.push(InputFile::hash("config", c)?);
    }
    m.settings = json!({ "store": source.path().display().to_string(), "config": config });
    m.reports = serde_json::to_value(summary).unwrap_or_default();
    Ok(m)
}

/// What `ingest` reads: the sample sheet (with how to read it), the `--layer` specs, and the
/// matching options.
#[derive(Debug, Clone)]
pub struct IngestInputs<'a> {
    /// The sample sheet (or SDRF file).
    pub samples: &'a Path,
    /// How to read it.
    pub sheet: SheetOptions,
    /// The layers, as `NAME=PATH[,key=value…]`.
    pub layers: &'a [String],
    /// Keep going when sheet samples are missing from a matrix (or the reverse).
    pub allow_missing_samples: bool,
    /// A sample map (which column of which layer holds which sample).
    pub sample_map: Option<&'a Path>,
}

/// `ingest`: the sample sheet and layer files into a store at `out`; returns the experiment, its
/// manifest and the messages for the user.
pub fn ingest(
    inputs: IngestInputs<'_>,
    out: &Path,
    replace: Replace,
) -> Result<(Experiment, Manifest, Vec<Message>)> {
    let (exp, store, msgs) = ingest_experiment(inputs, out, replace)?;
    let manifest = store.manifest.clone();
    store.write(&exp)?;
    Ok((exp, manifest, msgs))
}

/// [`ingest`] up to its store, which the caller writes.
pub fn ingest_experiment(
    inputs: IngestInputs<'_>,
    out: &Path,
    replace: Replace,
) -> Result<(Experiment, StoreWrite, Vec<Message>)> {
    let IngestInputs {
        samples,
        sheet,
        layers,
        allow_missing_samples,
        sample_map,
    } = inputs;
    let layers = layers
        .iter()
        .map(|s| LayerSpec::parse(s))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut inputs: Vec<&Path> = vec![samples];
    inputs.extend(layers.iter().map(|l| l.path.as_path()));
    inputs.extend(sample_map);
    check_output(out, OutputKind::Folder, &inputs, replace)?;
    let req = IngestRequest {
        samples: samples.to_path_buf(),
        sheet,
        layers,
        allow_missing_samples,
        sample_map: sample_map.map(Path::to_path_buf),
    };
    // The store is started before the files are read, so that a layer read while another is
    // still being read is written at once.
    let builder = StoreBuilder::start(out, replace)?;
    let write_early = |a: &evomics_core::Assay| builder.write_layer(a);
    let (exp, manifest, reports) = evomics_io::ingest::ingest_with(&req, Some(&write_early))?;
    let mut msgs = vec![Message::info(format!(
        "samples in sheet: {}",
        exp.samples().len()
    ))];
    for r in &reports {
        msgs.push(Message::info(format!(
            "layer {} ({}, format {}, quantity {}): {} rows read, {} features kept, {} samples matched; {} observed, {} missing values",
            r.layer, r.path, r.read.format, r.read.quantity, r.read.rows_read, r.features,
            r.matching.samples_matched, r.cells.observed, r.cells.missing
        )));
        for f in &r.files {
            msgs.push(Message::info(format!(
                "  file {} (format {}): {} rows read, {} features, {} sample columns",
                f.path, f.read.format, f.read.rows_read, f.features, f.columns
            )));
        }
        if r.cells.absent_from_file > 0 {
            msgs.push(Message::info(format!(
                "  {} cells absent_from_file (a feature not in the file its sample came from; missing, not 0)",
                r.cells.absent_from_file
            )));
        }
        for (why, n) in &r.read.rows_dropped {
            msgs.push(Message::info(format!("  dropped {n} row(s): {why}")));
        }
        for (why, n) in &r.read.rows_flagged {
            msgs.push(Message::info(format!("  kept {n} flagged row(s): {why}")));
        }
        if let Some(c) = &r.matching.sheet_column {
            msgs.push(Message::info(format!(
                "  samples matched through sheet column '{c}'"
            )));
        }
        if !r.matching.samples_not_assayed.is_empty() {
            msgs.push(Message::info(format!(
                "  {} sheet sample(s) not measured in this layer ({}): {}",
                r.matching.samples_not_assayed.len(),
                if sample_map.is_some() {
                    "not in the sample map for it"
                } else {
                    "empty mapping column"
                },
                header_preview(&r.matching.samples_not_assayed)
            )));
        }
        if !r.matching.sheet_samples_not_in_matrix.is_empty() {
            msgs.push(Message::warn(format!(
                "layer {}: {} sheet sample(s) not in the matrix: {}",
                r.layer,
                r.matching.sheet_samples_not_in_matrix.len(),
                header_preview(&r.matching.sheet_samples_not_in_matrix)
            )));
        }
        if !r.matching.matrix_columns_not_in_sheet.is_empty() {
            msgs.push(Message::warn(format!(
                "layer {}: {} matrix column(s) not in the sheet, left out: {}",
                r.layer,
                r.matching.matrix_columns_not_in_sheet.len(),
                header_preview(&r.matching.matrix_columns_not_in_sheet)
            )));
        }
        for w in &r.read.warnings {
            msgs.push(Message::warn(format!("layer {}: {w}", r.layer)));
        }
    }
    for w in evomics_io::ingest::sheet_warnings(&manifest) {
        msgs.push(Message::warn(format!("sample sheet: {w}")));
    }
    let store = StoreWrite {
        out: out.to_path_buf(),
        replace,
        manifest,
        docs: Vec::new(),
        started: Some(builder),
    };
    Ok((exp, store, msgs))
}

/// `qc`.
pub fn qc(source: Source<'_>, target: &Target, config: &QcConfig) -> Result<QcResult> {
    config
        .validate()
        .map_err(|e| settings_error("qc", target, e))?;
    target.check(&source, &[])?;
    let (result, read) = source.with(None, |exp, _| Ok(run_qc(exp, config)?))?;
    let m = manifest("qc", &source, target, config, &result.summary())?;
    let summary = serde_json::to_string_pretty(&qc_summary(&result)).unwrap_or_default() + "\n";
    let mut docs = vec![("summary.json".to_string(), summary)];
    docs.extend(crate::multiqc::qc_files(&result));
    finish(
        &source,
        read,
        target,
        m,
        PreparedResult::new(&result, docs)?,
    )?;
    Ok(result)
}

/// Per contrast: its name, the features in its table, those tested (with a p-value) and those
/// below the significance threshold (the manifest's summary of a diff).
fn contrast_counts(r: &DiffResult) -> serde_json::Value {
    r.limma
        .tables
        .iter()
        .map(|t| {
            json!({
                "contrast": t.contrast,
                "features": t.rows.len(),
                "tested": t.rows.iter().filter(|x| x.p_value.is_some()).count(),
                "significant": t.rows.iter().filter(|x| x.adj_p_value.is_some_and(|q| q < r.config.significance)).count(),
                "adj_p_threshold": r.config.significance,
            })
        })
        .collect()
}

/// `summary.json` of the QC folder: per layer the counts, outliers and purity verdicts, and the
/// dose check.
fn qc_summary(r: &QcResult) -> serde_json::Value {
    let s = r.summary();
    let mut layers = serde_json::Map::new();
    for l in &s.layers {
        let mut o = json!({
            "samples": l.samples,
            "features": l.features,
            "outliers": l.outliers,
            "log_basis": l.log_basis,
        });
        if let (Some((pass, warn, fail)), Some(p)) = (
            l.purity,
            r.layers
                .iter()
                .find(|x| x.layer == l.layer)
                .and_then(|x| x.purity.as_ref()),
        ) {
            o["purity"] = json!({ "pass": pass, "warn": warn, "fail": fail, "matched_on": p.matched_on,
                "marker_features": p.marker_features.len() });
        }
        layers.insert(l.layer.clone(), o);
    }
    json!({ "layers": layers, "dose": { "assessed": s.dose_assessed, "flagged": s.dose_flagged } })
}

/// `normalize`: writes the normalized store (with the fitted pipelines) and returns it.
pub fn normalize(
    source: Source<'_>,
    target: &Target,
    spec: &NormalizeSpec,
) -> Result<(Experiment, NormalizeResult)> {
    let (normalized, result, store) = normalize_experiment(source, target, spec)?;
    store.write(&normalized)?;
    Ok((normalized, result))
}

/// [`normalize`] up to its store, which the caller writes.
pub fn normalize_experiment(
    source: Source<'_>,
    target: &Target,
    spec: &NormalizeSpec,
) -> Result<(Experiment, NormalizeResult, StoreWrite)> {
    spec.validate()
        .map_err(|e| settings_error("normalize", target, e))?;
    target.check(&source, &[])?;
    let ((normalized, result), read) = source.with(None, |exp, _| Ok(run_normalize(exp, spec)?))?;
    let mut m = Manifest::new("normalize");
    m.inputs.push(source.fingerprint_read(read)?);
    if let Some(c) = &target.config_file {
        m.inputs.push(InputFile::hash("config", c)?);
    }
    let configs: BTreeMap<&String, _> = result.layers.iter().map(|(k, l)| (k, &l.config)).collect();
    let reports: BTreeMap<&String, _> = result.layers.iter().map(|(k, l)| (k, &l.report)).collect();
    m.settings = json!({ "store": source.path().display().to_string(), "layers": configs });
    m.reports = json!({ "layers": reports });
    let mut docs = Vec::new();
    for (name, l) in &result.layers {
        let fj = serde_json::to_string_pretty(&l.fitted).unwrap_or_default() + "\n";
        docs.push((format!("normalize/{name}.fitted.json"), fj));
        let rj = serde_json::to_string_pretty(&l.report).unwrap_or_default() + "\n";
        docs.push((format!("normalize/{name}.report.json"), rj));
    }
    docs.push((
        "result.json".to_string(),
        evomics_io::output::result_json(&result)?,
    ));
    let store = StoreWrite {
        out: target.out.clone(),
        replace: target.replace,
        manifest: m,
        docs,
        started: None,
    };
    Ok((normalized, result, store))
}

/// `diff`. `counts` is the store holding the layer's counts (the ingested store): when the
/// analysis store's layer was transformed by `normalize` and voom is not switched off, the
/// counts of the features `normalize` kept, over its samples, are analysed with voom instead
/// (limma's recipe for counts). Without `counts`, a layer that `normalize` turned into log-CPM
/// is an error unless `voom = false`: fitting log-CPM without weights is a choice the user
/// makes, never a fallback.
pub fn diff(
    source: Source<'_>,
    counts: Option<Source<'_>>,
    target: &Target,
    config: &DiffConfig,
) -> Result<DiffResult> {
    use evomics_core::ValueScale;
    use evomics_stats::stages::diff::VoomChoice;
    config
        .validate()
        .map_err(|e| settings_error("diff", target, e))?;
    let counts_path = counts.as_ref().map(|c| c.path());
    target.check(&source, counts_path.as_slice())?;
    let layer_name = config.layer.as_str();
    let transform = normalize_transform(source.path(), layer_name);
    let (counts_layer, counts_read) = match (&counts, config.voom) {
        (Some(c), VoomChoice::Auto | VoomChoice::On) => c.with(Some(&[layer_name]), |e, _| {
            Ok(e.layer(layer_name)
                .ok()
                .filter(|a| a.scale() == ValueScale::Counts)
                .cloned())
        })?,
        _ => (None, None),
    };
    let mut swapped = None;
    let (mut result, read) = source.with(Some(&[layer_name]), |exp, _| {
        let layer = exp.layer(layer_name)?;
        if config.voom == VoomChoice::Off || layer.scale() == ValueScale::Counts {
            return Ok(run_diff(exp, config)?);
        }
        if let Some(c) = &counts_layer {
            let rows: Vec<usize> = layer
                .features()
                .ids()
                .iter()
                .map(|id| {
                    c.features().position(id).ok_or_else(|| PipelineError::Setting {
                        context: format!("diff of layer '{layer_name}'"),
                        problem: format!(
                            "feature '{id}' of the analysis store is not among the ingested counts; diff the counts directly or set voom = false"
                        ),
                    })
                })
                .collect::<Result<_>>()?;
            let c = c.select_features(&rows).select_samples_by_id(layer.samples())?;
            swapped = Some(format!(
                "voom on the ingested counts of the {} features and {} samples of the analysis layer (its {} values are not fitted)",
                c.n_features(),
                c.n_samples(),
                layer.scale().name()
            ));
            let mut e = Experiment::new(exp.samples().clone());
            e.insert_layer(c)?;
            return Ok(run_diff(&e, config)?);
        }
        if let Some(t) = &transform {
            if t == "log_cpm" {
                return Err(PipelineError::Setting {
                    context: format!("diff of layer '{layer_name}'"),
                    problem:                         "the layer holds log-CPM values that normalize made from counts; limma on them without voom's weights ignores the counts' mean-variance trend. Give the counts for voom on TMM-normalized libraries (`--counts INGEST_STORE`; `evomics run` does this by itself), or set voom = false to fit the log-CPM values as they are (then trend = true is limma-trend)"
                    .to_string(),
                });
            }
        }
        Ok(run_diff(exp, config)?)
    })?;
    result.counts_source = swapped;
    let mut m = manifest(
        "diff",
        &source,
        target,
        config,
        &json!({ "limma": result.limma.settings, "contrasts": contrast_counts(&result) }),
    )?;
    if let Some(c) = &counts {
        if result.counts_source.is_some() {
            m.inputs.push(c.fingerprint_read(counts_read)?);
        }
    }
    m.settings["voom"] = json!(result.voom);
    if let Some(v) = &result.voom_detail {
        m.settings["voom_norm_factors"] = json!(v.norm_factors.name());
        if let Some((first, second)) = v.correlations {
            m.settings["voom_block_correlations"] = json!({ "first": first, "second": second });
        }
    }
    m.settings["counts_source"] = json!(result.counts_source);
    finish(
        &source,
        read,
        target,
        m,
        PreparedResult::new(&result, Vec::new())?,
    )?;
    Ok(result)
}

/// The transform `normalize` applied to `layer` when `store` is a normalized store (its
/// `result.json`), e.g. `log_cpm`.
fn normalize_transform(store: &Path, layer: &str) -> Option<String> {
    let r: NormalizeResult = evomics_io::output::read_result(store).ok()?;
    let l = r.layers.get(layer)?;
    let v = serde_json::to_value(&l.config.transform).ok()?;
    v.get("method").and_then(|m| m.as_str()).map(str::to_string)
}

/// The panels `explore` scores: the curated set, a user file, or both.
pub fn explore_panels(config: &ExploreConfig) -> Result<PanelSet> {
    let user = match &config.panels {
        Some(p) => {
            let text = evomics_io::output::read_regular_text(p)?;
            Some(PanelSet::parse_user(&text, &p.display().to_string())?)
        }
        None => None,
    };
    Ok(match (user, config.curated_panels) {
        (Some(u), true) => PanelSet::osteogenic().merged(&u)?,
        (Some(u), false) => u,
        (None, true) => PanelSet::osteogenic().clone(),
        (None, false) => {
            return Err(PipelineError::Setting {
                context: "explore".into(),
                problem: "leaving out the curated panels needs a panel file (--panels FILE)".into(),
            })
        }
    })
}

/// `explore`.
pub fn explore(
    source: Source<'_>,
    target: &Target,
    config: &ExploreConfig,
) -> Result<ExploreResult> {
    config
        .validate()
        .map_err(|e| settings_error("explore", target, e))?;
    target.check(&source, config.panels.as_deref().as_slice())?;
    let panels = explore_panels(config)?;
    let (result, read) = source.with(None, |exp, _| Ok(run_explore(exp, config, &panels)?))?;
    let mut m = manifest(
        "explore",
        &source,
        target,
        config,
        &json!({
            "factors": result.factors,
            "transform": result.transform_note,
            "panels": { "origin": result.panel_origin, "version": result.panel_version },
        }),
    )?;
    if let Some(p) = &config.panels {
        m.inputs.push(InputFile::hash("panels", p)?);
    }
    finish(
        &source,
        read,
        target,
        m,
        PreparedResult::new(&result, Vec::new())?,
    )?;
    Ok(result)
}

/// `cluster`.
pub fn cluster(
    source: Source<'_>,
    target: &Target,
    config: &ClusterConfig,
) -> Result<ClusterResult> {
    config
        .validate()
        .map_err(|e| settings_error("cluster", target, e))?;
    target.check(&source, &[])?;
    let (result, read) = source.with(Some(&[config.layer.as_str()]), |exp, _| {
        Ok(run_cluster(exp, config)?)
    })?;
    let mut m = manifest(
        "cluster",
        &source,
        target,
        &result.config,
        &json!({
            "notes": result.notes,
            "samples": result.samples.len(),
            "features": result.features.len(),
            "chosen_k": result.clusterings.iter().map(|c| json!({
                "method": c.method.name(), "k": c.k,
                "best_silhouette": c.selection.best_silhouette, "best_gap": c.selection.best_gap,
            })).collect::<Vec<_>>(),
        }),
    )?;
    m.seeds.insert("cluster".into(), config.seed);
    let docs: Vec<(String, String)> = crate::multiqc::pca_file(&result).into_iter().collect();
    finish(
        &source,
        read,
        target,
        m,
        PreparedResult::new(&result, docs)?,
    )?;
    Ok(result)
}

/// `train`: the spec is resolved against the store's layers (its defaults), then run.
pub fn train(
    source: Source<'_>,
    target: &Target,
    spec: &TrainSpec,
    ctx: &TrainContext<'_>,
) -> Result<TrainResult> {
    spec.validate()
        .map_err(|e| settings_error("train", target, e))?;
    target.check(&source, &[])?;
    let (exp, manifest, path, input) = match source {
        Source::Store(p) => {
            let (exp, m, fp) = read_experiment_fingerprinted(p, None)?;
            (Cow::Owned(exp), Some(m), p, fp)
        }
        Source::Memory {
            experiment,
            path,
            input,
        } => (Cow::Borrowed(experiment), None, path, input.get()?),
    };
    train_experiment(exp, manifest.as_ref(), path, input, target, spec, ctx)
}

/// [`train`] on an in-memory experiment handed over by its owner (a run whose later stages do
/// not read it): its layers become the training data without a copy. `path` and `input` are
/// the store it was written to and its content fingerprint.
pub fn train_owned(
    experiment: Experiment,
    path: &Path,
    input: &InputFile,
    target: &Target,
    spec: &TrainSpec,
    ctx: &TrainContext<'_>,
) -> Result<TrainResult> {
    spec.validate()
        .map_err(|e| settings_error("train", target, e))?;
    target.check_store(path, &[])?;
    let input = input.clone();
    train_experiment(Cow::Owned(experiment), None, path, input, target, spec, ctx)
}

fn train_experiment(
    exp: Cow<'_, Experiment>,
    store_manifest: Option<&Manifest>,
    path: &Path,
    input: InputFile,
    target: &Target,
    spec: &TrainSpec,
    ctx: &TrainContext<'_>,
) -> Result<TrainResult> {
    let layers: Vec<String> = exp.layers().keys().cloned().collect();
    let settings = spec.resolve(&layers)?;
    let mut ctx = *ctx;
    ctx.preprocessed_store |= store_manifest.is_some_and(|m| m.stage == "normalize");
    let result = match exp {
        Cow::Owned(e) => run_train_owned(e, &settings, &ctx)?,
        Cow::Borrowed(e) => run_train(e, &settings, &ctx)?,
    };
    let settings = &result.settings;
    let mut m = Manifest::new("train");
    m.inputs.push(input);
    if let Some(c) = &target.config_file {
        m.inputs.push(InputFile::hash("config", c)?);
    }
    m.settings = json!({ "store": path.display().to_string(), "train": settings });
    m.seeds.insert("train".into(), settings.config.seed);
    m.reports = json!({
        "data_hash": result.model.training.data_hash,
        "summary": result.report.summary,
        "permutation_p": result.permutation.as_ref().map(|p| p.p_value),
    });
    let docs = result.documents()?;
    write_stage_result(&target.out, target.replace, &m, &result, &docs)?;
    Ok(result)
}

/// Read a model file (or `DIR/model.json`).
pub fn load_model(path: &Path) -> Result<SavedModel> {
    let file = if path.is_dir() {
        path.join("model.json")
    } else {
        path.to_path_buf()
    };
    let text = evomics_io::output::read_regular_text(&file)?;
    SavedModel::from_json(&text).map_err(|e| PipelineError::Config {
        path: file,
        problem: e.to_string(),
    })
}

/// `predict`: writes one TSV to `out`.
pub fn predict(
    model: &Path,
    source: Source<'_>,
    out: &Path,
    config: &PredictConfig,
) -> Result<PredictResult> {
    check_output(
        out,
        OutputKind::File,
        &[model, source.path()],
        Replace::EvomicsOutput,
    )?;
    let saved = load_model(model)?;
    let (result, _) = source.with(None, |exp, _| Ok(run_predict(saved, exp, config)?))?;
    let tables = evomics_core::StageTables::tables(&result);
    let text = evomics_io::output::to_tsv(&tables[0]);
    evomics_io::atomic::write_file_atomic(out, text.as_bytes())?;
    Ok(result)
}

/// The messages of a result, for the caller to print.
pub fn messages<R: StageResult>(r: &R) -> Vec<Message> {
    r.messages()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(tag: &str) -> InputFile {
        InputFile {
            role: "store".into(),
            path: tag.into(),
            bytes: 1,
            sha256: tag.into(),
        }
    }

    /// A stage's result for the folder tests: one message, no tables.
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Note {
        text: String,
    }

    impl evomics_core::StageTables for Note {
        fn tables(&self) -> Vec<evomics_core::Table> {
            Vec::new()
        }
    }

    impl StageResult for Note {
        const STAGE: &'static str = "note";
        const VERSION: u32 = 1;
        fn messages(&self) -> Vec<Message> {
            vec![Message::info(self.text.clone())]
        }
    }

    /// A stage reading an experiment whose store is still being written leaves its folder to
    /// a thread when the target has a slot for it: the folder appears once the store is
    /// written, with the store first among its manifest's inputs, as when written at once.
    #[test]
    fn a_folder_waits_for_the_store_it_read_only_with_a_slot() {
        let tmp = tempfile::tempdir().unwrap();
        let exp = Experiment::new(evomics_core::SampleSheet::default());
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let store = StoreFingerprint::write_in_background(&tmp.path().join("store"), move || {
            wait.recv().ok();
            Ok(input("abc"))
        });
        let source = Source::Memory {
            experiment: &exp,
            path: &tmp.path().join("store"),
            input: &store,
        };
        let note = Note { text: "hi".into() };
        let slot = Deferred::default();
        let target = Target {
            out: tmp.path().join("later"),
            deferred: Some(slot.clone()),
            ..Target::default()
        };
        let prepared = PreparedResult::new(&note, Vec::new()).unwrap();
        finish(
            &source,
            None,
            &target,
            Manifest::new("note"),
            prepared.clone(),
        )
        .unwrap();
        assert!(!target.out.exists(), "written before the store it read");
        let write = slot.take().expect("a write left in the slot");
        assert!(slot.take().is_none());
        go.send(()).unwrap();
        let written = write.get().unwrap();
        assert_eq!(
            written.sha256,
            InputFile::store(&target.out).unwrap().sha256
        );
        let m: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(target.out.join("manifest.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(m["inputs"][0]["sha256"], "abc");
        // Without a slot (a stage command), or with the store written, it writes at once.
        let now = Target {
            out: tmp.path().join("now"),
            ..Target::default()
        };
        finish(&source, None, &now, Manifest::new("note"), prepared).unwrap();
        assert!(now.out.join("manifest.json").is_file());
        assert_eq!(
            std::fs::read_to_string(now.out.join("result.json")).unwrap(),
            std::fs::read_to_string(target.out.join("result.json")).unwrap()
        );
    }

    /// A store written on its own thread gives its fingerprint once written, and its error
    /// to the first caller (later callers learn that it was not written).
    #[test]
    fn a_background_store_write_gives_its_fingerprint_or_its_error() {
        let dir = Path::new("out/ingest");
        let written = StoreFingerprint::write_in_background(dir, || Ok(input("abc")));
        let shared = written.clone();
        assert_eq!(written.get().unwrap().sha256, "abc");
        assert!(shared.is_ready());
        assert_eq!(shared.get().unwrap().sha256, "abc");

        let failed = StoreFingerprint::write_in_background(dir, || {
            Err(PipelineError::Setting {
                context: "disk".into(),
                problem: "full".into(),
            })
        });
        assert_eq!(failed.get().unwrap_err().to_string(), "disk: full");
        let again = failed.get().unwrap_err().to_string();
        assert!(
            again.starts_with("out/ingest: the store was not written: disk: full"),
            "{again}"
        );
        let known = StoreFingerprint::known(dir, input("x"));
        assert!(known.is_ready());
        assert_eq!(known.get().unwrap().sha256, "x");
    }

    /// While one thread waits in `get` for a store still being written, `is_ready` answers at
    /// once (the run's loop asks it after every stage) and other callers of `get` wait for
    /// the same fingerprint.
    #[test]
    fn is_ready_does_not_wait_for_a_caller_waiting_on_the_write() {
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let store = StoreFingerprint::write_in_background(Path::new("out/normalize"), move || {
            hold.recv().ok();
            Ok(input("late"))
        });
        let (first, second) = (store.clone(), store.clone());
        let waiting = std::thread::spawn(move || first.get().map(|f| f.sha256));
        let start = std::time::Instant::now();
        loop {
            if let Ok(state) = store.state.0.try_lock() {
                if matches!(&*state, Fingerprinted::Joining) {
                    break;
                }
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "the first caller never released the lock while waiting"
            );
            std::thread::yield_now();
        }
        let asked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let answered = {
            let asked = asked.clone();
            let store = store.clone();
            std::thread::spawn(move || {
                let ready = store.is_ready();
                asked.store(true, std::sync::atomic::Ordering::SeqCst);
                ready
            })
        };
        let start = std::time::Instant::now();
        while !asked.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "is_ready waited for the write"
            );
            std::thread::yield_now();
        }
        assert!(!answered.join().unwrap());
        let also = std::thread::spawn(move || second.get().map(|f| f.sha256));
        release.send(()).unwrap();
        assert_eq!(waiting.join().unwrap().unwrap(), "late");
        assert_eq!(also.join().unwrap().unwrap(), "late");
        assert!(store.is_ready());
    }
}
