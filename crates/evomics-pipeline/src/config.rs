//! One configuration model for every stage.
//!
//! Each stage has one typed config (in its crate: `QcConfig`, `NormalizeSpec`, `DiffConfig`,
//! `ExploreConfig`, `ClusterConfig`, `TrainSpec`), read with unknown keys refused. Settings are
//! merged one way, preset < file < flags: [`resolve`] reads the config file (errors name the
//! file, line and column), overlays the flags given on the command line (a TOML table of the
//! keys that were set) and deserializes the result once, then the stage validates it before any
//! store is opened.
//!
//! A run config ([`RunConfig`]) holds the same tables: `[qc]`, `[normalize.<layer>]`,
//! `[diff.<name>]`, `[explore]`, `[cluster]`, `[train]` (or `[train.<name>]`), `[report]`. The
//! older form, in which a stage table held command-line flags and a `config` sub-table the
//! stage's config file, is still read (the sub-table is the file, the other keys the flags) and
//! reported as deprecated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use evomics_core::ExcludeRules;
use evomics_ml::stages::cluster::ClusterConfig;
use evomics_ml::stages::train::TrainSpec;
use evomics_norm::stage::NormalizeSpec;
use evomics_qc::QcConfig;
use evomics_stats::stages::diff::DiffConfig;
use evomics_stats::stages::explore::ExploreConfig;

use crate::error::{PipelineError, Result};

/// Read a TOML file into a table; a syntax error names the file, line and column.
pub fn read_toml(path: &Path) -> Result<toml::Table> {
    let text = evomics_io::output::read_regular_text(path)?;
    text.parse::<toml::Table>()
        .map_err(|e| PipelineError::Config {
            path: path.to_path_buf(),
            problem: e.to_string().trim_end().to_string(),
        })
}

/// Merge `over` into `base`: tables merge key by key (recursively), any other value replaces.
pub fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Deserialize a table into a stage config; `origin` names where the table came from.
pub fn typed<T: DeserializeOwned>(table: toml::Table, origin: &str) -> Result<T> {
    T::deserialize(toml::Value::Table(table)).map_err(|e| PipelineError::Setting {
        context: origin.to_string(),
        problem: e.to_string().trim_end().to_string(),
    })
}

/// A stage's settings from its config file (if any) overlaid with the flags that were given.
/// When no flag is set, the file is deserialized from its own text, so an error shows the
/// file's line and column.
pub fn resolve<T: DeserializeOwned>(
    file: Option<&Path>,
    flags: toml::Table,
    origin: &str,
) -> Result<T> {
    match file {
        Some(path) => {
            let text = evomics_io::output::read_regular_text(path)?;
            let mut table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| PipelineError::Config {
                        path: path.to_path_buf(),
                        problem: e.to_string().trim_end().to_string(),
                    })?;
            if flags.is_empty() {
                return toml::from_str(&text).map_err(|e| PipelineError::Config {
                    path: path.to_path_buf(),
                    problem: e.to_string().trim_end().to_string(),
                });
            }
            merge(&mut table, flags);
            typed(
                table,
                &format!("{} with the flags of {origin}", path.display()),
            )
        }
        None => typed(flags, origin),
    }
}

/// The `[ingest]` table of a run config: the sample sheet and the layers (as `--layer` specs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSpec {
    /// The sample sheet (relative paths are against the run config's folder).
    pub samples: PathBuf,
    /// Layers: `NAME=PATH[,key=value…]`, as `evomics ingest --layer`.
    #[serde(alias = "layers")]
    pub layer: Vec<String>,
    /// Sheet column of the sample ids.
    #[serde(default)]
    pub sample_id_column: Option<String>,
    /// Worksheet of an XLSX sheet.
    #[serde(default)]
    pub worksheet: Option<String>,
    /// `samples` is an SDRF-Proteomics file (`evomics ingest --sdrf`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sdrf: bool,
    /// Keep going when sheet samples are missing from a layer (or the reverse).
    #[serde(default)]
    pub allow_missing_samples: bool,
    /// A sample map (unit_id, assay, column): which column of which layer holds which sheet
    /// sample, for layers measured on different preparations (`evomics ingest --sample-map`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_map: Option<PathBuf>,
}

/// The `[report]` table of a run config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSpec {
    /// Title.
    pub title: String,
    /// Date printed in the header (the report never reads the clock, so reruns are identical).
    pub date: String,
}

impl Default for ReportSpec {
    fn default() -> Self {
        ReportSpec {
            title: "EV cargo analysis".into(),
            date: String::new(),
        }
    }
}

/// A pipeline config: every stage's settings in one file (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Seed given to `cluster` and `train` unless their tables set one.
    pub seed: Option<u64>,
    /// Samples every stage leaves out (before a stage's own `exclude` rules): applied where
    /// the ingested store is read (qc, normalize, train, and the analyses when there is no
    /// normalize), so that later stages never see them.
    #[serde(default, skip_serializing_if = "ExcludeRules::is_empty")]
    pub exclude: ExcludeRules,
    /// The inputs.
    pub ingest: IngestSpec,
    /// QC.
    pub qc: Option<QcConfig>,
    /// Normalization, one table per layer.
    pub normalize: Option<NormalizeSpec>,
    /// Named differential analyses.
    #[serde(default)]
    pub diff: BTreeMap<String, DiffConfig>,
    /// Exploration.
    pub explore: Option<ExploreConfig>,
    /// Clustering.
    pub cluster: Option<ClusterConfig>,
    /// Potency models: one (`[train]`) or several named ones (`[train.<name>]`).
    #[serde(default)]
    pub train: BTreeMap<String, TrainSpec>,
    /// The report.
    pub report: Option<ReportSpec>,
}

/// The stage tables of a run config, in pipeline order.
pub const STAGES: [&str; 8] = [
    "ingest",
    "qc",
    "normalize",
    "diff",
    "explore",
    "cluster",
    "train",
    "report",
];

/// A run config with what reading it had to say (deprecated forms).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedRun {
    /// The config.
    pub config: RunConfig,
    /// Notes about the file (deprecated forms that were converted).
    pub notes: Vec<String>,
}

/// Keys of the train spec, to tell a single `[train]` table from named `[train.<name>]` ones.
const TRAIN_KEYS: [&str; 25] = [
    "target",
    "target_kind",
    "classes",
    "layers",
    "exclude",
    "preprocess",
    "selection",
    "scaling",
    "model",
    "cv",
    "tuning",
    "seed",
    "permutations",
    "permute_within",
    "source_column",
    "source_permutations",
    "conformal_alpha",
    "learning_curve",
    "permutation_importance",
    "top_features",
    "missing_features",
    "save_fold_models",
    "models",
    "select",
    "panel",
];

/// Flags of the older run form that have another name in the stage config.
fn rename_legacy_flags(stage: &str, t: &mut toml::Table) {
    let rename = |t: &mut toml::Table, from: &str, to: &str| {
        if let Some(v) = t.remove(from) {
            t.insert(to.to_string(), v);
        }
    };
    match stage {
        "qc" => rename(t, "layer", "layers"),
        "explore" => {
            if let Some(toml::Value::Boolean(b)) = t.remove("no_curated_panels") {
                t.insert("curated_panels".into(), toml::Value::Boolean(!b));
            }
        }
        _ => {}
    }
}

/// A stage table of the older form: the `config` sub-table is the file, the other keys flags.
/// Returns the merged table and whether it was of the older form.
fn flatten_legacy(stage: &str, mut t: toml::Table) -> (toml::Table, bool) {
    let legacy = matches!(t.get("config"), Some(toml::Value::Table(_)));
    let mut base = match t.remove("config") {
        Some(toml::Value::Table(c)) => c,
        Some(other) => {
            t.insert("config".into(), other);
            toml::Table::new()
        }
        None => toml::Table::new(),
    };
    rename_legacy_flags(stage, &mut t);
    merge(&mut base, t);
    (base, legacy)
}

impl RunConfig {
    /// Read a run config. Relative input paths stay as written (the runner resolves them
    /// against the config's folder).
    pub fn load(path: &Path) -> Result<LoadedRun> {
        let text = evomics_io::output::read_regular_text(path)?;
        RunConfig::parse(&text, path)
    }

    /// Parse a run config's text (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<LoadedRun> {
        let mut loaded = RunConfig::parse_tables(text, path)?;
        let root: toml::Table = text.parse().unwrap_or_default();
        loaded.config.apply_run_seed(&root);
        Ok(loaded)
    }

    /// The run-level `seed` goes to `cluster` and every `train` whose own table (not its older
    /// `config` sub-table) sets none.
    fn apply_run_seed(&mut self, root: &toml::Table) {
        let Some(seed) = self.seed else { return };
        let sets_seed = |t: Option<&toml::Value>| matches!(t, Some(toml::Value::Table(t)) if t.contains_key("seed"));
        if let Some(c) = &mut self.cluster {
            if !sets_seed(root.get("cluster")) {
                c.seed = seed;
            }
        }
        let train = root.get("train");
        for (name, spec) in self.train.iter_mut() {
            let own = if name.is_empty() {
                train
            } else {
                train.and_then(|t| t.get(name.as_str()))
            };
            if !sets_seed(own) {
                spec.seed = Some(seed);
            }
        }
    }

    fn parse_tables(text: &str, path: &Path) -> Result<LoadedRun> {
        let err = |problem: String| PipelineError::Config {
            path: path.to_path_buf(),
            problem,
        };
        let root: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| err(e.to_string().trim_end().to_string()))?;
        for k in root.keys() {
            if !STAGES.contains(&k.as_str()) && k != "seed" && k != "exclude" {
                return Err(err(format!(
                    "unknown table or key '{k}'; the stages are {} (and the keys seed, exclude)",
                    STAGES.join(", ")
                )));
            }
        }
        if !root.contains_key("ingest") {
            return Err(err("an [ingest] table is required".into()));
        }
        let is_legacy_table = |v: &toml::Value| matches!(v, toml::Value::Table(t) if matches!(t.get("config"), Some(toml::Value::Table(_))));
        let legacy_anywhere = root.iter().any(|(k, v)| {
            is_legacy_table(v)
                || (k == "diff"
                    && matches!(v, toml::Value::Table(t) if t.values().any(is_legacy_table)))
                || (k == "train" && !is_single_train(v))
        });
        let mut notes = Vec::new();
        if !legacy_anywhere {
            // The current form: typed straight from the text, so errors show line and column.
            if let Ok(config) = toml::from_str::<RunConfigSingleTrain>(text) {
                return Ok(LoadedRun {
                    config: config.into_run(),
                    notes,
                });
            }
            if let Ok(config) = toml::from_str::<RunConfig>(text) {
                return Ok(LoadedRun { config, notes });
            }
            // Report the error of the single-train reading when [train] looks like one table.
            let single = root.get("train").is_none_or(is_single_train);
            return Err(err(if single {
                toml::from_str::<RunConfigSingleTrain>(text)
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            } else {
                toml::from_str::<RunConfig>(text)
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            }
            .trim_end()
            .to_string()));
        }
        // The older form: flatten every stage table, then read it typed.
        let mut config = RunConfig::default();
        for (key, value) in root {
            let origin = format!("{}, [{key}]", path.display());
            match key.as_str() {
                "seed" => {
                    config.seed = Some(typed_value(value, &origin)?);
                }
                "exclude" => config.exclude = typed_value(value, &origin)?,
                "ingest" => config.ingest = typed_value(value, &origin)?,
                "report" => config.report = Some(typed_value(value, &origin)?),
                "diff" => {
                    let toml::Value::Table(t) = value else {
                        return Err(err("[diff] holds named analyses: [diff.NAME] with layer, design, contrasts".into()));
                    };
                    for (name, v) in t {
                        let toml::Value::Table(dt) = v else {
                            return Err(err(format!("[diff] holds named analyses: [diff.{name}] with layer, design, contrasts; '{name}' is not a table")));
                        };
                        let (flat, legacy) = flatten_legacy("diff", dt);
                        if legacy {
                            notes.push(format!("[diff.{name}.config] is the older form: put its keys in [diff.{name}]"));
                        }
                        config.diff.insert(
                            name.clone(),
                            typed(flat, &format!("{origin} [diff.{name}]"))?,
                        );
                    }
                }
                "train" => {
                    let toml::Value::Table(t) = value else {
                        return Err(err("[train] must be a table".into()));
                    };
                    if is_single_train(&toml::Value::Table(t.clone())) {
                        let (spec, legacy) = legacy_train(t, &origin)?;
                        if legacy {
                            notes.push("[train.config] is the older form: put its keys in [train] (or name models [train.NAME])".into());
                        }
                        config.train.insert(String::new(), spec);
                    } else {
                        for (name, v) in t {
                            let toml::Value::Table(tt) = v else {
                                return Err(err(format!("[train.{name}] must be a table")));
                            };
                            let (spec, legacy) =
                                legacy_train(tt, &format!("{origin} [train.{name}]"))?;
                            if legacy {
                                notes.push(format!("[train.{name}.config] is the older form: put its keys in [train.{name}]"));
                            }
                            config.train.insert(name, spec);
                        }
                    }
                }
                stage => {
                    let toml::Value::Table(t) = value else {
                        return Err(err(format!("'{stage}' must be a table ([{stage}])")));
                    };
                    let (flat, legacy) = flatten_legacy(stage, t);
                    if legacy {
                        notes.push(format!(
                            "[{stage}.config] is the older form: put its keys in [{stage}]{}",
                            if stage == "normalize" {
                                " as [normalize.<layer>] tables"
                            } else {
                                ""
                            }
                        ));
                    }
                    match stage {
                        "qc" => config.qc = Some(typed(flat, &origin)?),
                        "normalize" => config.normalize = Some(typed(flat, &origin)?),
                        "explore" => config.explore = Some(typed(flat, &origin)?),
                        "cluster" => config.cluster = Some(typed(flat, &origin)?),
                        _ => unreachable!("keys were checked against STAGES"),
                    }
                }
            }
        }
        Ok(LoadedRun { config, notes })
    }
}

fn typed_value<T: DeserializeOwned>(v: toml::Value, origin: &str) -> Result<T> {
    T::deserialize(v).map_err(|e| PipelineError::Setting {
        context: origin.to_string(),
        problem: e.to_string().trim_end().to_string(),
    })
}

/// True when a `[train]` value is one model's table (its keys are train keys or `config`),
/// false when it holds named models.
fn is_single_train(v: &toml::Value) -> bool {
    match v {
        toml::Value::Table(t) => t.iter().all(|(k, v)| {
            TRAIN_KEYS.contains(&k.as_str()) || k == "config" || !matches!(v, toml::Value::Table(_))
        }),
        _ => true,
    }
}

/// A train table of either form: `config` sub-table as the file, other keys as the flags of
/// `evomics train` (`cv`, `folds`, `repeats`, `group`, `model` as a kind, `exclude` as text).
fn legacy_train(t: toml::Table, origin: &str) -> Result<(TrainSpec, bool)> {
    let mut t = t;
    let legacy = matches!(t.get("config"), Some(toml::Value::Table(_)));
    let file = match t.remove("config") {
        Some(toml::Value::Table(c)) => c,
        _ => toml::Table::new(),
    };
    let flags = crate::train_flags::from_table(&mut t, origin)?;
    let mut base = file;
    merge(&mut base, t);
    let mut spec: TrainSpec = typed(base, origin)?;
    flags.apply(&mut spec).map_err(|e| PipelineError::Setting {
        context: origin.to_string(),
        problem: e.to_string(),
    })?;
    Ok((spec, legacy))
}

/// [`RunConfig`] with one unnamed `[train]` table, the common case.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunConfigSingleTrain {
    seed: Option<u64>,
    #[serde(default)]
    exclude: ExcludeRules,
    ingest: IngestSpec,
    qc: Option<QcConfig>,
    normalize: Option<NormalizeSpec>,
    #[serde(default)]
    diff: BTreeMap<String, DiffConfig>,
    explore: Option<ExploreConfig>,
    cluster: Option<ClusterConfig>,
    train: Option<TrainSpec>,
    report: Option<ReportSpec>,
}

impl RunConfigSingleTrain {
    fn into_run(self) -> RunConfig {
        RunConfig {
            seed: self.seed,
            exclude: self.exclude,
            ingest: self.ingest,
            qc: self.qc,
            normalize: self.normalize,
            diff: self.diff,
            explore: self.explore,
            cluster: self.cluster,
            train: self
                .train
                .map(|t| BTreeMap::from([(String::new(), t)]))
                .unwrap_or_default(),
            report: self.report,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `TRAIN_KEYS` lists exactly the train spec's keys (serde names them when one is unknown),
    /// so a new key of `[train]` is never mistaken for a named model.
    #[test]
    fn train_keys_are_the_train_specs() {
        let e = toml::from_str::<evomics_ml::stages::train::TrainSpec>("no_such_key = 1")
            .unwrap_err()
            .to_string();
        let expected = e.split("expected one of").nth(1).unwrap();
        let mut spec: Vec<&str> = expected
            .split(',')
            .map(|k| k.trim().trim_matches('`').trim())
            .filter(|k| !k.is_empty())
            .collect();
        let mut ours = TRAIN_KEYS.to_vec();
        spec.sort_unstable();
        ours.sort_unstable();
        assert_eq!(ours, spec, "{e}");
    }

    #[test]
    fn flags_overlay_the_file_one_way() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("diff.toml");
        std::fs::write(
            &f,
            "layer = \"proteome\"\ndesign = \"~ 0 + source\"\ntrend = true\n",
        )
        .unwrap();
        let mut flags = toml::Table::new();
        flags.insert("trend".into(), toml::Value::Boolean(false));
        let c: DiffConfig = resolve(Some(&f), flags, "evomics diff").unwrap();
        assert!(!c.trend, "a flag turns a file setting off as well as on");
        assert_eq!(c.layer, "proteome");
        std::fs::write(&f, "layer = \"proteome\"\n\ndesgin = \"~ 0 + source\"\n").unwrap();
        let e = resolve::<DiffConfig>(Some(&f), toml::Table::new(), "evomics diff")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("diff.toml") && e.contains("line 3") && e.contains("desgin"),
            "{e}"
        );
    }

    #[test]
    fn flat_and_older_run_forms_read_the_same() {
        let flat = RunConfig::parse(
            "[ingest]\nsamples = \"s.tsv\"\nlayer = [\"p=p.tsv\"]\n[normalize.p]\ntransform = { method = \"log2\" }\n[diff.a]\nlayer = \"p\"\ndesign = \"~ 0 + g\"\ncontrasts = [\"x - y\"]\n[train]\ntarget = \"c\"\n",
            Path::new("run.toml"),
        )
        .unwrap();
        assert!(flat.notes.is_empty());
        let old = RunConfig::parse(
            "[ingest]\nsamples = \"s.tsv\"\nlayer = [\"p=p.tsv\"]\n[normalize.config.layers.p]\ntransform = { method = \"log2\" }\n[diff.a]\nlayer = \"p\"\ndesign = \"~ 0 + g\"\ncontrast = [\"x - y\"]\n[train.config]\ntarget = \"c\"\n",
            Path::new("run.toml"),
        )
        .unwrap();
        assert!(!old.notes.is_empty());
        assert_eq!(
            flat.config.normalize.as_ref().unwrap().layers,
            old.config.normalize.as_ref().unwrap().layers
        );
        assert_eq!(flat.config.diff, old.config.diff);
        assert_eq!(flat.config.train, old.config.train);
        let e = RunConfig::parse(
            "[ingest]\nsamples = \"s\"\nlayer = []\n[qc]\ngroup_bye = \"x\"\n",
            Path::new("r.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("r.toml") && e.contains("group_bye") && e.contains("line 5"),
            "{e}"
        );
    }
}
