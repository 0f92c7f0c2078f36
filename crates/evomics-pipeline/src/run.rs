//! `evomics run`: every stage of a [`RunConfig`] in one process, each writing its own folder
//! under the output folder, the in-memory experiment handed from stage to stage.
//!
//! Reuse is by content keys: a stage's key hashes its typed settings, the keys of the stages it
//! reads and (for ingest) its input files, so the same inputs and settings give the same key
//! however the files were copied. A stage whose key is unchanged and whose output is still
//! exactly what was written (its content hash, recorded in `run.json`, is checked) is reused;
//! any other stage runs. Each stage's settings are also written to `OUTDIR/config/<stage>.toml`,
//! so that the stage can be rerun by hand with the command the dry run prints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use evomics_core::{AssayFingerprint, Experiment, Message, ValueScale};
use evomics_io::atomic::{check_output, write_file_atomic, OutputKind, Replace};
use evomics_io::output::read_result;
use evomics_io::sheet::SheetOptions;
use evomics_io::{read_experiment_fingerprinted, InputFile, LayerSpec};
use evomics_ml::preprocess::{same_fit, Prefit, PrefitLayer};
use evomics_ml::stages::cluster::{ClusterConfig, ClusterResult};
use evomics_ml::stages::train::{fit_final_early, TrainContext, TrainResult, TrainSpec};
use evomics_norm::stage::{NormalizeResult, NormalizeSpec};
use evomics_qc::{QcConfig, QcResult};
use evomics_report::model::InputFile as ReportInputFile;
use evomics_stats::stages::diff::{DiffConfig, DiffResult};
use evomics_stats::stages::explore::{ExploreConfig, ExploreResult};

use crate::config::{IngestSpec, ReportSpec, RunConfig};
use crate::error::{PipelineError, Result};
use crate::stages::{self, Deferred, Source, StoreFingerprint, StoreWrite, Target};

/// What one planned stage does.
#[derive(Debug, Clone, PartialEq)]
pub enum StageCall {
    /// Read the inputs into a store.
    Ingest(IngestSpec),
    /// QC of the ingested store.
    Qc(QcConfig),
    /// Normalization of the ingested store.
    Normalize(NormalizeSpec),
    /// One named differential analysis of the analysis store.
    Diff(DiffConfig),
    /// Exploration of the analysis store.
    Explore(ExploreConfig),
    /// Clustering of the analysis store.
    Cluster(ClusterConfig),
    /// A potency model from the ingested store.
    Train(Box<TrainSpec>),
    /// The HTML report.
    Report(ReportSpec),
}

/// One planned stage.
#[derive(Debug, Clone)]
pub struct Step {
    /// Stage name (`diff.source` for a named analysis).
    pub name: String,
    /// What it does.
    pub call: StageCall,
    /// Its output folder (the report file for `report`).
    pub out: PathBuf,
    /// Its settings file, `OUTDIR/config/<name>.toml`, and the file's text.
    pub config_file: Option<(PathBuf, String)>,
    /// Content key: same key, same result.
    pub key: String,
    /// The equivalent command line.
    pub command: Vec<String>,
}

/// The plan of a run config.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The stages in order.
    pub steps: Vec<Step>,
    /// What reading the config had to say (deprecated forms).
    pub notes: Vec<String>,
    /// The run config file.
    pub config: PathBuf,
}

impl Plan {
    /// The files the run reads: the config, the sample sheet, the layer files and the panel
    /// file (an output may be none of them, nor hold them).
    pub fn inputs(&self) -> Vec<PathBuf> {
        let mut v = vec![self.config.clone()];
        for s in &self.steps {
            match &s.call {
                StageCall::Ingest(spec) => {
                    v.push(spec.samples.clone());
                    v.extend(spec.sample_map.clone());
                    v.extend(
                        spec.layer
                            .iter()
                            .filter_map(|l| LayerSpec::parse(l).ok())
                            .map(|l| l.path),
                    );
                }
                StageCall::Explore(e) => v.extend(e.panels.clone()),
                _ => {}
            }
        }
        v
    }
}

/// What `run.json` remembers of each stage: its key and the content hash of its output.
#[derive(Debug, Default, Serialize, Deserialize)]
struct RunState {
    stages: BTreeMap<String, String>,
    #[serde(default)]
    outputs: BTreeMap<String, String>,
}

fn hash_parts(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    evomics_io::manifest::hex(&h.finalize())
}

/// The SHA-256 of each file, in order, the files read at the same time (the plan of a
/// cohort-scale run hashes hundreds of MB of tables); the first failure in file order is the
/// error.
fn hash_files(paths: &[PathBuf]) -> Result<Vec<String>> {
    let hashes: Vec<_> = std::thread::scope(|s| {
        let jobs: Vec<_> = paths
            .iter()
            .map(|p| s.spawn(move || InputFile::hash("input", p).map(|f| f.sha256)))
            .collect();
        jobs.into_iter()
            .map(|j| j.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    Ok(hashes.into_iter().collect::<std::result::Result<_, _>>()?)
}

fn resolve_path(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// A string quoted for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./=:+,@%-".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn toml_text<T: Serialize>(name: &str, v: &T) -> Result<String> {
    toml::to_string(v).map_err(|e| PipelineError::Setting {
        context: format!("run config, stage [{name}]"),
        problem: format!("cannot write its settings as TOML: {e}"),
    })
}

fn json_text<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Resolve a run config into the ordered stages.
pub fn plan(config_path: &Path, out: &Path) -> Result<Plan> {
    let loaded = RunConfig::load(config_path)?;
    let mut c = loaded.config;
    let base = config_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let p = |x: &Path| x.display().to_string();
    let mut steps: Vec<Step> = Vec::new();

    // ingest: paths against the config folder; input files hashed into the key
    c.ingest.samples = resolve_path(&base, &c.ingest.samples);
    if let Some(m) = &c.ingest.sample_map {
        c.ingest.sample_map = Some(resolve_path(&base, m));
    }
    let mut inputs = vec![c.ingest.samples.clone()];
    inputs.extend(c.ingest.sample_map.clone());
    for spec in c.ingest.layer.iter_mut() {
        let parsed = LayerSpec::parse(spec)?;
        let path = resolve_path(&base, &parsed.path);
        inputs.push(path.clone());
        let rest = spec
            .split_once(',')
            .map(|(_, r)| format!(",{r}"))
            .unwrap_or_default();
        *spec = format!("{}={}{rest}", parsed.name, path.display());
    }
    let input_hashes = hash_files(&inputs)?;
    let store = out.join("ingest");
    let sheet_flag = if c.ingest.sdrf { "--sdrf" } else { "-s" };
    let mut ingest_cmd = vec![
        "ingest".to_string(),
        sheet_flag.into(),
        p(&c.ingest.samples),
    ];
    for l in &c.ingest.layer {
        ingest_cmd.extend(["--layer".to_string(), l.clone()]);
    }
    if let Some(col) = &c.ingest.sample_id_column {
        ingest_cmd.extend(["--sample-id-column".to_string(), col.clone()]);
    }
    if let Some(w) = &c.ingest.worksheet {
        ingest_cmd.extend(["--worksheet".to_string(), w.clone()]);
    }
    if c.ingest.allow_missing_samples {
        ingest_cmd.push("--allow-missing-samples".into());
    }
    if let Some(m) = &c.ingest.sample_map {
        ingest_cmd.extend(["--sample-map".to_string(), p(m)]);
    }
    ingest_cmd.extend(["-o".to_string(), p(&store)]);
    let ingest_json = json_text(&c.ingest);
    let mut parts: Vec<&str> = vec!["ingest", &ingest_json];
    parts.extend(input_hashes.iter().map(String::as_str));
    steps.push(Step {
        name: "ingest".into(),
        key: hash_parts(&parts),
        call: StageCall::Ingest(c.ingest.clone()),
        out: store.clone(),
        config_file: None,
        command: ingest_cmd,
    });

    let key_of = |steps: &[Step], name: &str| -> String {
        steps
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.key.clone())
            .unwrap_or_default()
    };
    let push = |steps: &mut Vec<Step>,
                name: &str,
                sub: &str,
                input: &Path,
                call: StageCall,
                settings_toml: String,
                settings_json: String,
                upstream: &str| {
        // `diff.NAME` writes OUTDIR/diff/NAME: the checked name is one folder name, dots
        // and all, so `a.b` can never land inside the folder of `a`.
        let out_dir = match name.split_once('.') {
            Some((stage, analysis)) => out.join(stage).join(analysis),
            None => out.join(name),
        };
        let cfg_path = out.join("config").join(format!("{name}.toml"));
        let up = key_of(steps, upstream);
        let key = hash_parts(&[name, &settings_json, &up]);
        let command = vec![
            sub.to_string(),
            p(input),
            "-o".into(),
            p(&out_dir),
            "--config".into(),
            p(&cfg_path),
        ];
        steps.push(Step {
            name: name.to_string(),
            call,
            out: out_dir.clone(),
            config_file: Some((cfg_path, settings_toml)),
            key,
            command,
        });
        out_dir
    };

    // Run-level exclusions go to the stages that read the ingested store; the normalized store
    // no longer holds those samples.
    let run_rules = c.exclude.clone();
    if !run_rules.is_empty() {
        if let Some(q) = &mut c.qc {
            q.exclude = q.exclude.after(&run_rules);
        }
        if let Some(n) = &mut c.normalize {
            n.exclude = n.exclude.after(&run_rules);
        } else {
            for d in c.diff.values_mut() {
                d.exclude = d.exclude.after(&run_rules);
            }
            if let Some(e) = &mut c.explore {
                e.exclude = e.exclude.after(&run_rules);
            }
            if let Some(cl) = &mut c.cluster {
                cl.exclude = cl.exclude.after(&run_rules);
            }
        }
        for t in c.train.values_mut() {
            t.exclude = t.exclude.after(&run_rules);
        }
    }
    if let Some(q) = &c.qc {
        push(
            &mut steps,
            "qc",
            "qc",
            &store,
            StageCall::Qc(q.clone()),
            toml_text("qc", q)?,
            json_text(q),
            "ingest",
        );
    }
    // normalize groups by the run's grouping (qc group_by) unless its config names one.
    let normalize = c.normalize.clone().map(|mut n| {
        if n.group_by.is_none() {
            n.group_by = c.qc.as_ref().and_then(|q| q.group_by.clone());
        }
        n
    });
    let (analysis_store, analysis_stage) = match &normalize {
        Some(n) => (
            push(
                &mut steps,
                "normalize",
                "normalize",
                &store,
                StageCall::Normalize(n.clone()),
                toml_text("normalize", n)?,
                json_text(n),
                "ingest",
            ),
            "normalize",
        ),
        None => (store.clone(), "ingest"),
    };
    crate::names::check_distinct_names("diff", c.diff.keys())?;
    crate::names::check_distinct_names("train", c.train.keys())?;
    for (name, d) in &c.diff {
        crate::names::check_analysis_name("diff", name)?;
        let stage = format!("diff.{name}");
        push(
            &mut steps,
            &stage,
            "diff",
            &analysis_store,
            StageCall::Diff(d.clone()),
            toml_text(&stage, d)?,
            json_text(d),
            analysis_stage,
        );
    }
    if let Some(e) = &mut c.explore {
        if let Some(pf) = &e.panels {
            e.panels = Some(resolve_path(&base, pf));
        }
        let mut json = json_text(e);
        if let Some(pf) = &e.panels {
            json.push_str(&InputFile::hash("panels", pf)?.sha256);
        }
        push(
            &mut steps,
            "explore",
            "explore",
            &analysis_store,
            StageCall::Explore(e.clone()),
            toml_text("explore", e)?,
            json,
            analysis_stage,
        );
    }
    if let Some(cl) = &c.cluster {
        push(
            &mut steps,
            "cluster",
            "cluster",
            &analysis_store,
            StageCall::Cluster(cl.clone()),
            toml_text("cluster", cl)?,
            json_text(cl),
            analysis_stage,
        );
    }
    for (name, t) in &c.train {
        // Only the single `[train]` table writes OUTDIR/train itself; a named `[train.""]`
        // beside others would hold their folders, so its name is checked like any other.
        let stage = if name.is_empty() && c.train.len() == 1 {
            "train".to_string()
        } else {
            crate::names::check_analysis_name("train", name)?;
            format!("train.{name}")
        };
        // Models fit their own preprocessing inside folds, so they start from the ingested store.
        push(
            &mut steps,
            &stage,
            "train",
            &store,
            StageCall::Train(Box::new(t.clone())),
            toml_text(&stage, t)?,
            json_text(t),
            "ingest",
        );
    }
    if let Some(r) = &c.report {
        let html = out.join("report.html");
        let json = json_text(r);
        let mut parts: Vec<&str> = vec!["report", &json];
        parts.extend(steps.iter().map(|s| s.key.as_str()));
        let key = hash_parts(&parts);
        let mut command = vec![
            "report".to_string(),
            p(out),
            "-o".into(),
            p(&html),
            "--title".into(),
            r.title.clone(),
        ];
        if !r.date.is_empty() {
            command.extend(["--date".to_string(), r.date.clone()]);
        }
        steps.push(Step {
            name: "report".into(),
            call: StageCall::Report(r.clone()),
            out: html,
            config_file: None,
            key,
            command,
        });
    }
    Ok(Plan {
        steps,
        notes: loaded.notes,
        config: config_path.to_path_buf(),
    })
}

fn load_state(out: &Path) -> RunState {
    std::fs::read_to_string(out.join("run.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// The content hash of a stage's output: the folder's fingerprint, or the report file's hash.
fn output_hash(step: &Step) -> Option<String> {
    if matches!(step.call, StageCall::Report(_)) {
        InputFile::hash("report", &step.out).ok().map(|i| i.sha256)
    } else if step.out.join("manifest.json").is_file() {
        InputFile::store(&step.out).ok().map(|i| i.sha256)
    } else {
        None
    }
}

/// How a run goes.
#[derive(Clone, Copy, Default)]
pub struct RunOptions<'a> {
    /// Rerun every stage even when its key is unchanged.
    pub force: bool,
    /// Worker threads of the permutation tests (0: all cores).
    pub threads: usize,
    /// Progress of long steps: (what, done, total).
    pub progress: Option<evomics_ml::stages::train::Progress<'a>>,
}

impl std::fmt::Debug for RunOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("force", &self.force)
            .field("threads", &self.threads)
            .finish()
    }
}

/// Whether each step would be reused now (unchanged key and intact output).
pub fn reuse_plan(plan: &Plan, out: &Path, force: bool) -> Vec<bool> {
    let state = load_state(out);
    plan.steps
        .iter()
        .map(|s| {
            !force
                && state.stages.get(&s.name) == Some(&s.key)
                && output_hash(s).is_some_and(|h| state.outputs.get(&s.name) == Some(&h))
        })
        .collect()
}

/// Stage results of a run, in memory or read back from the reused stages' folders.
#[derive(Default)]
struct Results {
    ingest: Option<(Arc<Experiment>, StoreFingerprint, Vec<ReportInputFile>)>,
    /// What is kept of the ingested experiment when it was released for a stage that does not
    /// read it.
    ingest_released: Option<Released>,
    normalized: Option<(Arc<Experiment>, StoreFingerprint, NormalizeResult)>,
    /// When `normalize` ran in this process on every ingested sample: the fingerprints of the
    /// ingested layers its pipelines were fitted on (a later `train` may take those fits).
    normalize_inputs: Option<BTreeMap<String, AssayFingerprint>>,
    /// Whether a `train` with a `[preprocess]` pipeline is still to run after the current step
    /// (only then does `normalize` fingerprint its inputs).
    train_follows: bool,
    /// Stores still being written, with their stage's name and key: the stage is recorded as
    /// done in `run.json` once its store is.
    writing: Vec<(String, String, StoreFingerprint)>,
    qc: Option<QcResult>,
    diff: Vec<(String, DiffResult)>,
    explore: Option<ExploreResult>,
    cluster: Option<ClusterResult>,
    train: Vec<(String, TrainResult)>,
}

/// The ingested experiment's count layers (a later `diff` of one of them reads it back for
/// voom), and its store's fingerprint and inputs, which a read-back takes from here: the store
/// is the one this run wrote, and its files are checked against their manifest as it is read.
struct Released {
    counts: Vec<String>,
    /// Every layer's name.
    layers: Vec<String>,
    fingerprint: StoreFingerprint,
    inputs: Vec<ReportInputFile>,
}

fn report_inputs(m: &evomics_io::Manifest) -> Vec<ReportInputFile> {
    m.inputs
        .iter()
        .map(|i| ReportInputFile {
            role: Some(i.role.clone()),
            path: i.path.clone(),
            sha256: i.sha256.clone(),
        })
        .collect()
}

impl Results {
    fn ingested(
        &mut self,
        dir: &Path,
    ) -> Result<&(Arc<Experiment>, StoreFingerprint, Vec<ReportInputFile>)> {
        if self.ingest.is_none() {
            self.wait_for_stores()?;
            let (exp, m, fp) = read_experiment_fingerprinted(dir, None)?;
            self.ingest = Some(match self.ingest_released.take() {
                Some(r) => (Arc::new(exp), r.fingerprint, r.inputs),
                None => (
                    Arc::new(exp),
                    StoreFingerprint::known(dir, fp),
                    report_inputs(&m),
                ),
            });
        }
        Ok(self.ingest.as_ref().expect("set above"))
    }

    fn normalized_store(
        &mut self,
        dir: &Path,
    ) -> Result<&(Arc<Experiment>, StoreFingerprint, NormalizeResult)> {
        if self.normalized.is_none() {
            self.wait_for_stores()?;
            let (exp, _, fp) = read_experiment_fingerprinted(dir, None)?;
            let fp = StoreFingerprint::known(dir, fp);
            let r: NormalizeResult = read_result(dir)?;
            self.normalized = Some((Arc::new(exp), fp, r));
        }
        Ok(self.normalized.as_ref().expect("set above"))
    }

    /// Release the analysis and training results (kept only for the report).
    fn release_results(&mut self) {
        self.qc = None;
        self.diff = Vec::new();
        self.explore = None;
        self.cluster = None;
        self.train = Vec::new();
    }

    /// Wait until every store this run is writing is written (before one is read from disk).
    fn wait_for_stores(&self) -> Result<()> {
        for (_, _, fp) in &self.writing {
            fp.get()?;
        }
        Ok(())
    }

    /// Record in `state` the stages whose stores are written (all of them, waiting for the
    /// writes, when `wait`); the first failed write is the error.
    fn settle(&mut self, state: &mut RunState, wait: bool) -> Result<()> {
        let mut first_error = None;
        self.writing.retain(|(name, key, fp)| {
            if !wait && !fp.is_ready() {
                return true;
            }
            match fp.get() {
                Ok(written) => {
                    state.stages.insert(name.clone(), key.clone());
                    state.outputs.insert(name.clone(), written.sha256);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
            false
        });
        first_error.map_or(Ok(()), Err)
    }
}

/// Write a stage's store of `experiment`: on its own thread when the run may use more than one
/// (the next stages go on with the experiment in memory meanwhile), else before returning.
fn write_store(
    store: StoreWrite,
    experiment: &Arc<Experiment>,
    opts: &RunOptions<'_>,
) -> Result<StoreFingerprint> {
    let dir = store.out().to_path_buf();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if opts.threads == 1 || cores == 1 {
        let written = store.write(experiment)?;
        return Ok(StoreFingerprint::known(&dir, written));
    }
    let experiment = Arc::clone(experiment);
    Ok(StoreFingerprint::write_in_background(
        &dir.clone(),
        move || {
            let written = store.write(&experiment)?;
            // Released before the fingerprint is handed over, so that a stage taking the
            // experiment over finds it unshared.
            drop(experiment);
            Ok(written)
        },
    ))
}

/// Run the plan: every stage that is not reused, in order, then the report.
pub fn execute(
    plan: &Plan,
    out: &Path,
    opts: &RunOptions<'_>,
    log: &mut dyn FnMut(Message),
) -> Result<()> {
    for n in &plan.notes {
        log(Message::warn(format!("run config: {n}")));
    }
    let replace = Replace::forced(opts.force);
    let inputs = plan.inputs();
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    check_output(out, OutputKind::RunFolder, &inputs, replace)?;
    std::fs::create_dir_all(out).map_err(|e| evomics_io::IoError::fs("cannot create", out, e))?;
    let mut state = load_state(out);
    let reuse = reuse_plan(plan, out, opts.force);
    let mut res = Results::default();
    let ingest_dir = out.join("ingest");
    let normalize_dir = out.join("normalize");
    let has_normalize = plan
        .steps
        .iter()
        .any(|s| matches!(s.call, StageCall::Normalize(_)));
    let background =
        opts.threads != 1 && std::thread::available_parallelism().map_or(1, usize::from) > 1;
    let mut steps = || -> Result<()> {
        for (i, (s, &reused)) in plan.steps.iter().zip(&reuse).enumerate() {
            // The normalized experiment is released once no stage left reads it (a potency model
            // starts from the ingested store), so `train` does not hold both stores at once.
            // A `train` still to run that takes its final fit from the normalization keeps
            // those layers.
            let to_run = plan.steps[i..]
                .iter()
                .zip(&reuse[i..])
                .filter(|(_, &r)| !r)
                .map(|(t, _)| t);
            let for_train = match (&res.normalized, &res.normalize_inputs) {
                (Some((_, _, r)), Some(_)) => prefit_layers(to_run, r),
                _ => Vec::new(),
            };
            if for_train.is_empty() && !plan.steps[i..].iter().any(|t| reads_normalized(&t.call)) {
                res.normalized = None;
            }
            // The stages' results are kept for a report still to run and released otherwise
            // (their folders are written): on L the two `diff`s' results alone are tens of MiB,
            // which would be held through `train`.
            let report_follows = plan.steps[i..]
                .iter()
                .zip(&reuse[i..])
                .any(|(t, &r)| !r && matches!(t.call, StageCall::Report(_)));
            if !report_follows {
                res.release_results();
            }
            // (Not while the normalized store is still being written from it: at a later step.)
            if let Some(exp) = res
                .normalized
                .as_mut()
                .and_then(|(e, _, _)| Arc::get_mut(e))
            {
                release_unread_layers(exp, &plan.steps[i..], &for_train);
            }
            // The ingested experiment is released while a stage that does not read it runs (the
            // analysis stages read the normalized one); a later `train` or report reads it back.
            if let Some((exp, _, _)) = &res.ingest {
                if !reused && !reads_ingested(&s.call, exp, has_normalize) {
                    let (exp, fingerprint, inputs) = res.ingest.take().expect("matched above");
                    res.ingest_released = Some(Released {
                        counts: exp
                            .layers()
                            .iter()
                            .filter(|(_, a)| a.scale() == ValueScale::Counts)
                            .map(|(name, _)| name.to_string())
                            .collect(),
                        layers: exp.layers().keys().cloned().collect(),
                        fingerprint,
                        inputs,
                    });
                }
            }
            if reused {
                log(Message::info(format!("== {}: unchanged, reused", s.name)));
                load_reused(s, &mut res).map_err(|e| e.in_stage(&s.name))?;
                continue;
            }
            log(Message::info(format!("== {}", s.name)));
            if let Some((p, body)) = &s.config_file {
                write_file_atomic(p, body.as_bytes())?;
            }
            // An analysis stage leaves the write of its folder to a thread (which waits for the
            // store the stage read, when that is still being written), recorded like a store's
            // write, when the run may use more than one thread. (`normalize` waits for the
            // ingest store instead: its writer holds the ingested experiment, which `diff` and
            // `cluster` would otherwise hold beside theirs, 100 MiB above the run's peak on L.)
            let deferred = (background
                && matches!(
                    s.call,
                    StageCall::Qc(_)
                        | StageCall::Diff(_)
                        | StageCall::Explore(_)
                        | StageCall::Cluster(_)
                ))
            .then(Deferred::default);
            let target = Target {
                out: s.out.clone(),
                config_file: s.config_file.as_ref().map(|(p, _)| p.clone()),
                replace,
                deferred,
            };
            res.train_follows = plan.steps[i + 1..]
                .iter()
                .zip(&reuse[i + 1..])
                .any(|(t, &r)| {
                    !r && matches!(&t.call, StageCall::Train(spec) if !spec.preprocess.is_empty())
                });
            // The last stage reading the ingested experiment may take it over.
            let last_reader = plan.steps[i + 1..]
                .iter()
                .all(|t| matches!(t.call, StageCall::Ingest(_)));
            let writing = run_step(
                s,
                &target,
                &mut res,
                &ingest_dir,
                &normalize_dir,
                has_normalize,
                last_reader,
                opts,
                log,
            )
            .map_err(|e| e.in_stage(&s.name))?
            .or_else(|| target.deferred.as_ref().and_then(Deferred::take));
            match writing {
                Some(fp) => res.writing.push((s.name.clone(), s.key.clone(), fp)),
                None => {
                    state.stages.insert(s.name.clone(), s.key.clone());
                    if let Some(h) = output_hash(s) {
                        state.outputs.insert(s.name.clone(), h);
                    }
                }
            }
            res.settle(&mut state, false)?;
            write_state(out, &state)?;
        }
        Ok(())
    };
    let outcome = steps();
    // Whatever happened, the stores being written are waited for and recorded, so that a
    // rerun reuses them.
    let settled = res.settle(&mut state, true);
    write_state(out, &state)?;
    outcome.and(settled)?;
    log(Message::info(format!(
        "pipeline finished: {}",
        out.display()
    )));
    Ok(())
}

fn write_state(out: &Path, state: &RunState) -> Result<()> {
    let json = serde_json::to_string_pretty(state).unwrap_or_default() + "\n";
    write_file_atomic(&out.join("run.json"), json.as_bytes())?;
    Ok(())
}

/// Whether a stage reads the ingested experiment `ingested` in memory: every stage but the
/// analysis stages when a normalized experiment exists, and `diff` then only for a layer the
/// ingest holds as counts (voom analyses those counts).
fn reads_ingested(call: &StageCall, ingested: &Experiment, has_normalize: bool) -> bool {
    match call {
        StageCall::Diff(c) if has_normalize => ingested
            .layer(&c.layer)
            .map_or(true, |a| a.scale() == ValueScale::Counts),
        StageCall::Explore(_) | StageCall::Cluster(_) => !has_normalize,
        _ => true,
    }
}

/// Whether a stage reads the normalized experiment in memory (the analysis stages and the
/// report).
fn reads_normalized(call: &StageCall) -> bool {
    matches!(
        call,
        StageCall::Diff(_) | StageCall::Explore(_) | StageCall::Cluster(_) | StageCall::Report(_)
    )
}

/// Release the layers of the normalized experiment that none of `steps` reads: `diff` and
/// `cluster` read their own layer (as their standalone commands read only it from the store),
/// `explore` and the report every layer. Nothing is released while a layer a step names is
/// absent, so that step's error still lists every layer.
fn release_unread_layers(exp: &mut Experiment, steps: &[Step], for_train: &[String]) {
    let mut read: Vec<&str> = for_train.iter().map(String::as_str).collect();
    for s in steps {
        match &s.call {
            StageCall::Diff(c) => read.push(&c.layer),
            StageCall::Cluster(c) => read.push(&c.layer),
            StageCall::Explore(_) | StageCall::Report(_) => return,
            _ => {}
        }
    }
    if read.iter().any(|l| exp.layer(l).is_err()) {
        return;
    }
    let unread: Vec<String> = exp
        .layers()
        .keys()
        .filter(|k| !read.contains(&k.as_str()))
        .cloned()
        .collect();
    for name in unread {
        exp.remove_layer(&name);
    }
}

fn load_reused(s: &Step, res: &mut Results) -> Result<()> {
    match &s.call {
        StageCall::Ingest(_) | StageCall::Report(_) => {}
        // A reused normalization is read when a later stage asks for it.
        StageCall::Normalize(_) => {}
        StageCall::Qc(_) => res.qc = Some(read_result(&s.out)?),
        StageCall::Diff(_) => {
            let name = s.name.trim_start_matches("diff.").to_string();
            res.diff.push((name, read_result(&s.out)?));
        }
        StageCall::Explore(_) => res.explore = Some(read_result(&s.out)?),
        StageCall::Cluster(_) => res.cluster = Some(read_result(&s.out)?),
        StageCall::Train(_) => res.train.push((s.name.clone(), read_result(&s.out)?)),
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_step(
    s: &Step,
    target: &Target,
    res: &mut Results,
    ingest_dir: &Path,
    normalize_dir: &Path,
    has_normalize: bool,
    last_reader: bool,
    opts: &RunOptions<'_>,
    log: &mut dyn FnMut(Message),
) -> Result<Option<StoreFingerprint>> {
    let mut writing = None;
    let mut say = |msgs: Vec<Message>| {
        for m in msgs {
            log(m);
        }
    };
    match &s.call {
        StageCall::Ingest(spec) => {
            let ingest_inputs = stages::IngestInputs {
                samples: &spec.samples,
                sheet: SheetOptions {
                    id_column: spec.sample_id_column.clone(),
                    worksheet: spec.worksheet.clone(),
                    sdrf: spec.sdrf,
                },
                layers: &spec.layer,
                allow_missing_samples: spec.allow_missing_samples,
                sample_map: spec.sample_map.as_deref(),
            };
            let (exp, store, msgs) =
                stages::ingest_experiment(ingest_inputs, &s.out, target.replace)?;
            say(msgs);
            let inputs = report_inputs(store.manifest());
            let exp = Arc::new(exp);
            let fp = write_store(store, &exp, opts)?;
            res.ingest = Some((exp, fp.clone(), inputs));
            writing = Some(fp);
        }
        StageCall::Normalize(spec) => {
            let train_follows = res.train_follows;
            let (exp, fp, _) = res.ingested(ingest_dir)?;
            let source = Source::Memory {
                experiment: exp,
                path: ingest_dir,
                input: fp,
            };
            let (normalized, result, store) = stages::normalize_experiment(source, target, spec)?;
            let fingerprint = train_follows && result.excluded.is_empty();
            res.normalize_inputs = fingerprint.then(|| {
                result
                    .layers
                    .keys()
                    .filter_map(|name| Some((name.clone(), exp.layer(name).ok()?.fingerprint())))
                    .collect()
            });
            say(evomics_core::StageResult::messages(&result));
            let normalized = Arc::new(normalized);
            let fp = write_store(store, &normalized, opts)?;
            res.normalized = Some((normalized, fp.clone(), result));
            writing = Some(fp);
        }
        StageCall::Qc(cfg) => {
            let (exp, fp, _) = res.ingested(ingest_dir)?;
            let source = Source::Memory {
                experiment: exp,
                path: ingest_dir,
                input: fp,
            };
            let r = stages::qc(source, target, cfg)?;
            say(evomics_core::StageResult::messages(&r));
            res.qc = Some(r);
        }
        StageCall::Diff(cfg) => {
            // A count layer's diff gets the ingested counts of the features normalize kept.
            let r = if has_normalize {
                // Read back after a release only for a count layer: the counts would not be used
                // otherwise (`reads_ingested`).
                if res
                    .ingest_released
                    .as_ref()
                    .is_none_or(|r| r.counts.contains(&cfg.layer))
                {
                    res.ingested(ingest_dir)?;
                }
                res.normalized_store(normalize_dir)?;
                let (exp, fp, _) = res.normalized.as_ref().expect("loaded above");
                stages::diff(
                    Source::Memory {
                        experiment: exp,
                        path: normalize_dir,
                        input: fp,
                    },
                    res.ingest.as_ref().map(|(counts, cfp, _)| Source::Memory {
                        experiment: counts,
                        path: ingest_dir,
                        input: cfp,
                    }),
                    target,
                    cfg,
                )?
            } else {
                with_analysis(res, ingest_dir, normalize_dir, has_normalize, |src| {
                    stages::diff(src, None, target, cfg)
                })?
            };
            say(evomics_core::StageResult::messages(&r));
            res.diff
                .push((s.name.trim_start_matches("diff.").to_string(), r));
        }
        StageCall::Explore(cfg) => {
            let r = with_analysis(res, ingest_dir, normalize_dir, has_normalize, |src| {
                stages::explore(src, target, cfg)
            })?;
            say(evomics_core::StageResult::messages(&r));
            res.explore = Some(r);
        }
        StageCall::Cluster(cfg) => {
            let r = with_analysis(res, ingest_dir, normalize_dir, has_normalize, |src| {
                stages::cluster(src, target, cfg)
            })?;
            say(evomics_core::StageResult::messages(&r));
            res.cluster = Some(r);
        }
        StageCall::Train(spec) => {
            let prefit = take_prefit(res, s);
            let early_final = Mutex::new(None);
            let layers = res.ingest_released.as_ref().map(|r| r.layers.clone());
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            match (&prefit, layers) {
                // The ingested store is read back (its layers were released for the analysis
                // stages) while the final model is fitted from normalize's fits, which need
                // the ingested layers only for the check that they are the ones fitted on.
                (Some(p), Some(layers))
                    if res.ingest.is_none() && opts.threads != 1 && cores > 1 =>
                {
                    let settings = spec.validate().ok().and(spec.resolve(&layers).ok());
                    std::thread::scope(|scope| -> Result<()> {
                        let reading = scope.spawn(|| res.ingested(ingest_dir).map(|_| ()));
                        if let Some(Ok(fit)) =
                            settings.as_ref().and_then(|st| fit_final_early(p, st))
                        {
                            *early_final.lock().unwrap_or_else(|e| e.into_inner()) = Some(fit);
                        }
                        reading
                            .join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    })?;
                }
                _ => {
                    res.ingested(ingest_dir)?;
                }
            }
            let ctx = TrainContext {
                threads: opts.threads,
                progress: opts.progress,
                preprocessed_store: false,
                prefit: prefit.as_ref(),
                early_final: Some(&early_final),
            };
            let r = if last_reader {
                // No later stage reads the ingested experiment: train takes it over.
                let (exp, fp, _) = res.ingest.take().expect("loaded above");
                // Waits for the ingest store's writer, which then no longer shares the experiment.
                let input = fp.get()?;
                let exp = Arc::try_unwrap(exp).unwrap_or_else(|shared| (*shared).clone());
                stages::train_owned(exp, ingest_dir, &input, target, spec, &ctx)?
            } else {
                let (exp, fp, _) = res.ingest.as_ref().expect("loaded above");
                let source = Source::Memory {
                    experiment: exp,
                    path: ingest_dir,
                    input: fp,
                };
                stages::train(source, target, spec, &ctx)?
            };
            say(evomics_core::StageResult::messages(&r));
            let taken = prefit.as_ref().map(Prefit::taken).unwrap_or_default();
            if !taken.is_empty() {
                say(vec![Message::info(format!(
                    "the final model's pipelines of layer(s) {} are the fits `normalize` made on the same samples (not fitted a second time)",
                    taken.join(", ")
                ))]);
            }
            res.train.push((s.name.clone(), r));
        }
        StageCall::Report(spec) => {
            res.ingested(ingest_dir)?;
            if has_normalize {
                res.normalized_store(normalize_dir)?;
            }
            let Some((exp, _, inputs)) = res.ingest.as_ref() else {
                return Ok(None);
            };
            let mut diff = res.diff.clone();
            diff.sort_by(|a, b| a.0.cmp(&b.0));
            let run = evomics_report::RunResults {
                title: &spec.title,
                date: &spec.date,
                inputs,
                experiment: exp,
                normalized: res.normalized.as_ref().map(|(e, _, r)| (&**e, r)),
                qc: res.qc.as_ref(),
                diff: &diff,
                explore: res.explore.as_ref(),
                cluster: res.cluster.as_ref(),
                train: res.train.first().map(|(_, t)| t),
            };
            let html = crate::report::render(&run)?;
            write_file_atomic(&s.out, html.as_bytes())?;
            say(vec![Message::info(format!(
                "wrote {} ({} KiB)",
                s.out.display(),
                html.len() / 1024
            ))]);
        }
    }
    Ok(writing)
}

/// The layers of the normalization in `result` that a `train` among `steps` may take its final
/// fit from ([`Prefit`]): those its `[preprocess.<layer>]` fits with the same pipeline.
fn prefit_layers<'a>(
    steps: impl IntoIterator<Item = &'a Step>,
    result: &NormalizeResult,
) -> Vec<String> {
    let mut layers: Vec<String> = Vec::new();
    for s in steps {
        let StageCall::Train(spec) = &s.call else {
            continue;
        };
        for (name, l) in &result.layers {
            let used = spec.layers.as_ref().is_none_or(|ls| ls.contains(name));
            let same = spec
                .preprocess
                .get(name)
                .is_some_and(|c| same_fit(c, &l.config));
            if used && same && !layers.contains(name) {
                layers.push(name.clone());
            }
        }
    }
    layers
}

/// The normalization's fits that `train` step `s` may take, moved out of the run's normalized
/// experiment once its store is written (a later stage reading that experiment reads it back
/// from the store). `None` when `normalize` did not run in this process on every sample, when
/// no layer's pipeline is the train's, or while the experiment is still shared.
fn take_prefit(res: &mut Results, s: &Step) -> Option<Prefit> {
    let inputs = res.normalize_inputs.as_ref()?;
    let layers = prefit_layers([s], &res.normalized.as_ref()?.2);
    if layers.is_empty() {
        return None;
    }
    let (exp, fp, result) = res.normalized.take()?;
    // The writer releases its share of the experiment before it hands the fingerprint over.
    // A failed write is left to the step that records it.
    if fp.get().is_err() {
        res.normalized = Some((exp, fp, result));
        return None;
    }
    let mut exp = match Arc::try_unwrap(exp) {
        Ok(exp) => exp,
        Err(exp) => {
            res.normalized = Some((exp, fp, result));
            return None;
        }
    };
    let mut prefit = Prefit::new(exp.samples().clone());
    for name in layers {
        let (Some(input), Some(l)) = (inputs.get(&name), result.layers.get(&name)) else {
            continue;
        };
        if let Some(output) = exp.remove_layer(&name) {
            prefit.insert(
                &name,
                PrefitLayer {
                    input: input.clone(),
                    fitted: l.fitted.clone(),
                    output,
                },
            );
        }
    }
    res.normalize_inputs = None;
    Some(prefit)
}

/// Call `f` with the analysis store: the normalized one when the run normalizes, else the
/// ingested one (from memory, or read once from disk when the stage producing it was reused).
fn with_analysis<T>(
    res: &mut Results,
    ingest_dir: &Path,
    normalize_dir: &Path,
    has_normalize: bool,
    f: impl FnOnce(Source<'_>) -> Result<T>,
) -> Result<T> {
    if has_normalize {
        let (exp, fp, _) = res.normalized_store(normalize_dir)?;
        f(Source::Memory {
            experiment: exp,
            path: normalize_dir,
            input: fp,
        })
    } else {
        let (exp, fp, _) = res.ingested(ingest_dir)?;
        f(Source::Memory {
            experiment: exp,
            path: ingest_dir,
            input: fp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[diff.a]` and `[diff."a.b"]` are two sibling folders: the dotted name is one folder
    /// name, never a folder inside `a`'s (which replacing `a` would delete).
    #[test]
    fn dotted_analysis_names_are_one_folder_each() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("s.tsv"), "sample_id\tsource\nA\tx\n").unwrap();
        std::fs::write(d.path().join("p.tsv"), "id\tA\nP1\t1\n").unwrap();
        let config = d.path().join("run.toml");
        std::fs::write(
            &config,
            "[ingest]\nsamples = \"s.tsv\"\nlayer = [\"p=p.tsv,scale=log2\"]\n\
             [diff.a]\nlayer = \"p\"\ndesign = \"~ source\"\n\
             [diff.\"a.b\"]\nlayer = \"p\"\ndesign = \"~ source\"\n",
        )
        .unwrap();
        let out = d.path().join("out");
        let p = plan(&config, &out).unwrap();
        let dirs: Vec<&Path> = p
            .steps
            .iter()
            .filter(|s| s.name.starts_with("diff."))
            .map(|s| s.out.as_path())
            .collect();
        assert_eq!(dirs, [out.join("diff/a"), out.join("diff/a.b")]);
        let inputs = p.inputs();
        assert!(inputs.contains(&config) && inputs.contains(&d.path().join("s.tsv")));
        assert!(inputs.contains(&d.path().join("p.tsv")));
    }

    /// The normalized layers no remaining `diff` or `cluster` reads are released; `explore`
    /// or the report keep every layer, and so does a step naming an absent layer.
    #[test]
    fn unread_normalized_layers_are_released() {
        let experiment = || {
            tiny_experiment(&[
                ("mirna", ValueScale::Log2),
                ("proteome", ValueScale::Log2),
                ("lipids", ValueScale::Log2),
            ])
        };
        let diff = |layer: &str| {
            step(StageCall::Diff(DiffConfig {
                layer: layer.into(),
                ..DiffConfig::default()
            }))
        };
        let cluster = step(StageCall::Cluster(ClusterConfig {
            layer: "mirna".into(),
            ..ClusterConfig::default()
        }));
        let names = |e: &Experiment| e.layers().keys().cloned().collect::<Vec<_>>();
        let mut e = experiment();
        release_unread_layers(&mut e, &[diff("proteome"), cluster.clone()], &[]);
        assert_eq!(names(&e), ["mirna", "proteome"]);
        release_unread_layers(&mut e, std::slice::from_ref(&cluster), &[]);
        assert_eq!(names(&e), ["mirna"]);
        for steps in [
            vec![
                diff("proteome"),
                step(StageCall::Explore(ExploreConfig::default())),
            ],
            vec![diff("absent")],
        ] {
            let mut e = experiment();
            release_unread_layers(&mut e, &steps, &[]);
            assert_eq!(names(&e), ["lipids", "mirna", "proteome"]);
        }
    }

    /// A `train` keeps for its final model the normalized layers whose `[preprocess]` pipeline
    /// is the one `normalize` fitted (its report grouping aside) among the layers it uses; a
    /// layer with another pipeline, or one it does not use, is not kept.
    #[test]
    fn a_train_keeps_the_layers_normalize_fitted_with_its_pipelines() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("s.tsv"), "sample_id\tsource\nA\tx\nB\ty\n").unwrap();
        std::fs::write(d.path().join("p.tsv"), "id\tA\tB\nP1\t1\t2\n").unwrap();
        let median = "normalization = { method = \"median\" }\n";
        let plan_of = |train: &str| {
            let config = d.path().join("run.toml");
            std::fs::write(
                &config,
                format!(
                    "[ingest]\nsamples = \"s.tsv\"\nlayer = [\"mirna=p.tsv,scale=log2\", \"proteome=p.tsv,scale=log2\"]\n\
                     [normalize.mirna]\n{median}[normalize.proteome]\n{median}\
                     [train]\ntarget = \"source\"\n{train}"
                ),
            )
            .unwrap();
            plan(&config, &d.path().join("out")).unwrap()
        };
        let kept = |train: &str| {
            let p = plan_of(train);
            let spec = p
                .steps
                .iter()
                .find_map(|s| match &s.call {
                    StageCall::Normalize(spec) => Some(spec.clone()),
                    _ => None,
                })
                .unwrap();
            let (_, result) = evomics_norm::stage::run_normalize(&grouped(), &spec).unwrap();
            assert_eq!(result.layers["proteome"].config.report_group, "source");
            prefit_layers(&p.steps, &result)
        };
        let same = format!("[train.preprocess.proteome]\n{median}");
        assert_eq!(kept(&same), ["proteome"]);
        assert_eq!(
            kept(&format!("{same}[train.preprocess.mirna]\n{median}")),
            ["mirna", "proteome"]
        );
        assert!(kept(&format!("layers = [\"mirna\"]\n{same}")).is_empty());
        assert!(
            kept("[train.preprocess.proteome]\ntransform = { method = \"log2\" }\n").is_empty()
        );
        assert!(kept("").is_empty());
    }

    /// Four samples in two sources, two log2 layers of two features.
    fn grouped() -> Experiment {
        use evomics_core::{Assay, Features, LayerKind, SampleSheet};
        let ids: Vec<String> = ["A", "B", "C", "D"].map(String::from).to_vec();
        let source = ["x", "x", "y", "y"].map(|v| Some(v.to_string())).to_vec();
        let sheet =
            SampleSheet::from_text_columns(ids.clone(), vec![("source".into(), source)]).unwrap();
        let mut e = Experiment::new(sheet);
        for name in ["mirna", "proteome"] {
            let cells = ndarray::Array2::from_shape_fn((2, 4), |(i, j)| Some((1 + i + j) as f64));
            let f = Features::new(vec!["F1".into(), "F2".into()]).unwrap();
            let a = Assay::from_options(
                name,
                LayerKind::Other,
                ValueScale::Log2,
                f,
                ids.clone(),
                &cells,
            )
            .unwrap();
            e.insert_layer(a).unwrap();
        }
        e
    }

    /// An experiment of two samples and one feature per layer, with the given scales.
    fn tiny_experiment(layers: &[(&str, ValueScale)]) -> Experiment {
        use evomics_core::{Assay, Features, LayerKind, SampleSheet};
        let ids = vec!["A".to_string(), "B".to_string()];
        let mut e = Experiment::new(SampleSheet::new(ids.clone()).unwrap());
        for (name, scale) in layers {
            let cells = ndarray::Array2::from_elem((1, 2), Some(1.0));
            let f = Features::new(vec!["F1".into()]).unwrap();
            let a = Assay::from_options(*name, LayerKind::Other, *scale, f, ids.clone(), &cells)
                .unwrap();
            e.insert_layer(a).unwrap();
        }
        e
    }

    fn step(call: StageCall) -> Step {
        Step {
            name: "s".into(),
            call,
            out: PathBuf::new(),
            config_file: None,
            key: String::new(),
            command: Vec::new(),
        }
    }

    /// The ingested experiment is kept for the stages that read it and released for the
    /// analysis stages on normalized data, except `diff` of a count layer (voom's counts).
    #[test]
    fn ingested_experiment_is_read_by_the_stages_that_need_it() {
        let e = tiny_experiment(&[
            ("mirna", ValueScale::Counts),
            ("proteome", ValueScale::Linear),
        ]);
        let diff = |layer: &str| {
            StageCall::Diff(DiffConfig {
                layer: layer.into(),
                ..DiffConfig::default()
            })
        };
        let cluster = StageCall::Cluster(ClusterConfig::default());
        let explore = StageCall::Explore(ExploreConfig::default());
        assert!(!reads_ingested(&diff("proteome"), &e, true));
        assert!(reads_ingested(&diff("mirna"), &e, true));
        // An absent layer keeps it, so the stage's error lists the ingested layers as before.
        assert!(reads_ingested(&diff("absent"), &e, true));
        assert!(!reads_ingested(&cluster, &e, true));
        assert!(!reads_ingested(&explore, &e, true));
        // Without a normalize step the analysis stages read the ingested experiment.
        for call in [diff("proteome"), cluster, explore] {
            assert!(reads_ingested(&call, &e, false));
        }
        assert!(reads_ingested(
            &StageCall::Qc(QcConfig::default()),
            &e,
            true
        ));
    }
}
