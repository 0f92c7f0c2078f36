//! `evomics run`: the whole pipeline from one TOML config, each stage in its own subfolder,
//! reusing stages whose inputs and settings have not changed.
//!
//! A run config has one table per stage. Inside a stage table, scalar and array keys are that
//! subcommand's command-line flags (`group_by = "source"` is `--group-by source`, `by = ["a",
//! "b"]` is `--by a --by b`, `trend = true` is `--trend`), and a sub-table `config` is written
//! to `OUTDIR/config/<stage>.toml` and passed as `--config`. The stage's input store and
//! output folder are supplied by the runner. Relative paths are resolved against the config
//! file's folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{Args, Parser};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use evomics_io::atomic::write_file_atomic;
use evomics_io::{InputFile, LayerSpec};

use crate::cli::Cli;
use crate::cmd::{dispatch, Log};

/// `evomics run`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  evomics run workflows/demo.toml -o results\n  evomics run workflows/maxquant-proteome.toml -o results --dry-run\n\nSee docs/run.md for the config format."
)]
pub struct RunArgs {
    /// The pipeline config (TOML).
    pub config: PathBuf,
    /// Output folder; each stage writes a subfolder.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Print the resolved plan (stages, commands, reuse) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Rerun every stage even when its inputs and settings are unchanged.
    #[arg(long)]
    pub force: bool,
}

/// Stages in pipeline order; `diff` may hold several named analyses.
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

/// One planned stage.
#[derive(Debug, Clone)]
pub struct Step {
    /// Stage name (`diff.source` for a named diff).
    pub name: String,
    /// Arguments after `evomics`.
    pub argv: Vec<String>,
    /// Config file to write first, if any: (path, TOML text).
    pub config_file: Option<(PathBuf, String)>,
    /// The output folder.
    pub out: PathBuf,
    /// Content key: same key, same result.
    pub key: String,
}

impl Step {
    /// True when the stage's output is in place (a stage folder's manifest, or the report file).
    fn done(&self) -> bool {
        if self.name == "report" {
            self.out.is_file()
        } else {
            self.out.join("manifest.json").exists()
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RunState {
    stages: BTreeMap<String, String>,
}

fn flag(key: &str) -> String {
    format!("--{}", key.replace('_', "-"))
}

fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Datetime(d) => Some(d.to_string()),
        _ => None,
    }
}

/// Turn a stage table into flags (and an optional config file body).
fn section_args(stage: &str, table: &toml::Table) -> anyhow::Result<(Vec<String>, Option<String>)> {
    let mut argv = Vec::new();
    let mut config = None;
    for (k, v) in table {
        match v {
            toml::Value::Table(t) if k == "config" => {
                config = Some(toml::to_string(t).context("re-encoding a config table")?);
            }
            toml::Value::Table(_) => bail!(
                "[{stage}] has a table '{k}'; only a 'config' table is passed on (as --config). Put stage settings under [{stage}.config.{k}] if the stage's config file has that table"
            ),
            toml::Value::Boolean(true) => argv.push(flag(k)),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                for item in items {
                    let s = scalar(item)
                        .ok_or_else(|| anyhow!("[{stage}] {k}: list items must be strings or numbers"))?;
                    argv.push(flag(k));
                    argv.push(s);
                }
            }
            other => {
                argv.push(flag(k));
                argv.push(scalar(other).unwrap_or_default());
            }
        }
    }
    Ok((argv, config))
}

fn resolve_path(base: &Path, p: &str) -> String {
    let path = Path::new(p);
    if path.is_absolute() {
        p.to_string()
    } else {
        base.join(path).display().to_string()
    }
}

fn hash_parts(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    evomics_io::manifest::hex(&h.finalize())
}

/// Resolve the config into the ordered list of stages to run.
pub fn plan(config_path: &Path, out: &Path) -> anyhow::Result<Vec<Step>> {
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("cannot read run config {}", config_path.display()))?;
    let mut root: toml::Table = toml::from_str(&text)
        .with_context(|| format!("run config {} is not valid TOML", config_path.display()))?;
    for k in root.keys() {
        if !STAGES.contains(&k.as_str()) && k != "seed" {
            bail!(
                "run config {}: unknown table or key '{k}'; the stages are {}",
                config_path.display(),
                STAGES.join(", ")
            );
        }
    }
    let base = config_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let seed = match root.remove("seed") {
        None => None,
        Some(toml::Value::Integer(s)) if s >= 0 => Some(s.to_string()),
        Some(v) => bail!("run config: seed = {v} must be a non-negative integer"),
    };
    let table = |name: &str| -> anyhow::Result<Option<toml::Table>> {
        match root.get(name) {
            None => Ok(None),
            Some(toml::Value::Table(t)) => Ok(Some(t.clone())),
            Some(_) => bail!("run config: '{name}' must be a table ([{name}])"),
        }
    };
    let mut steps: Vec<Step> = Vec::new();

    // ingest: paths resolved against the config folder; input files hashed into its key.
    let mut ingest = table("ingest")?.ok_or_else(|| {
        anyhow!(
            "run config {}: an [ingest] table is required",
            config_path.display()
        )
    })?;
    let mut input_hashes = Vec::new();
    match ingest.get_mut("samples") {
        Some(toml::Value::String(s)) => {
            *s = resolve_path(&base, s);
            input_hashes.push(InputFile::hash("samples", Path::new(s))?.sha256);
        }
        _ => bail!("[ingest] needs samples = \"sheet.tsv\""),
    }
    match ingest.get_mut("layer") {
        Some(toml::Value::Array(layers)) if !layers.is_empty() => {
            for l in layers.iter_mut() {
                let toml::Value::String(spec) = l else {
                    bail!("[ingest] layer entries are strings like \"proteome=pg.txt,quant=lfq\"")
                };
                let parsed = LayerSpec::parse(spec)?;
                let path = resolve_path(&base, &parsed.path.display().to_string());
                input_hashes.push(InputFile::hash("layer", Path::new(&path))?.sha256);
                let rest = spec
                    .split_once(',')
                    .map(|(_, r)| format!(",{r}"))
                    .unwrap_or_default();
                *spec = format!("{}={path}{rest}", parsed.name);
            }
        }
        _ => bail!("[ingest] needs layer = [\"proteome=proteinGroups.txt\", …]"),
    }
    let store = out.join("ingest");
    let (mut argv, cfg) = section_args("ingest", &ingest)?;
    if cfg.is_some() {
        bail!("[ingest] takes no config table");
    }
    argv.splice(
        0..0,
        [
            "ingest".to_string(),
            "--out".into(),
            store.display().to_string(),
        ],
    );
    let mut parts: Vec<&str> = vec!["ingest"];
    let argv_text = argv.join("\u{1f}");
    parts.push(&argv_text);
    parts.extend(input_hashes.iter().map(String::as_str));
    let key = hash_parts(&parts);
    steps.push(Step {
        name: "ingest".into(),
        argv,
        config_file: None,
        out: store.clone(),
        key,
    });

    let push = |steps: &mut Vec<Step>,
                name: &str,
                sub: &str,
                positional: Vec<String>,
                t: &toml::Table,
                upstream: &[&str]|
     -> anyhow::Result<PathBuf> {
        let out_dir = out.join(name.replace('.', "/"));
        let (flags, cfg) = section_args(name, t)?;
        let mut argv = vec![sub.to_string()];
        argv.extend(positional);
        argv.extend(["--out".to_string(), out_dir.display().to_string()]);
        argv.extend(flags);
        let config_file = cfg.map(|body| (out.join("config").join(format!("{name}.toml")), body));
        if let Some((p, _)) = &config_file {
            argv.extend(["--config".to_string(), p.display().to_string()]);
        }
        let upstream_keys: Vec<String> = upstream
            .iter()
            .filter_map(|u| steps.iter().find(|s| s.name == *u).map(|s| s.key.clone()))
            .collect();
        let body = config_file
            .as_ref()
            .map(|(_, b)| b.clone())
            .unwrap_or_default();
        let joined = argv.join("\u{1f}");
        let mut parts: Vec<&str> = vec![name, &joined, &body];
        parts.extend(upstream_keys.iter().map(String::as_str));
        let key = hash_parts(&parts);
        steps.push(Step {
            name: name.into(),
            argv,
            config_file,
            out: out_dir.clone(),
            key,
        });
        Ok(out_dir)
    };

    if let Some(t) = table("qc")? {
        push(
            &mut steps,
            "qc",
            "qc",
            vec![store.display().to_string()],
            &t,
            &["ingest"],
        )?;
    }
    let (analysis_store, analysis_stage) = match table("normalize")? {
        Some(t) => (
            push(
                &mut steps,
                "normalize",
                "normalize",
                vec![store.display().to_string()],
                &t,
                &["ingest"],
            )?,
            "normalize",
        ),
        None => (store.clone(), "ingest"),
    };
    let a_store = analysis_store.display().to_string();
    if let Some(t) = table("diff")? {
        for (name, v) in &t {
            let toml::Value::Table(dt) = v else {
                bail!("[diff] holds named analyses: [diff.{name}] with layer, design, contrast = [...]")
            };
            push(
                &mut steps,
                &format!("diff.{name}"),
                "diff",
                vec![a_store.clone()],
                dt,
                &[analysis_stage],
            )?;
        }
    }
    for stage in ["explore", "cluster"] {
        if let Some(mut t) = table(stage)? {
            if let (Some(s), "cluster") = (&seed, stage) {
                t.entry("seed")
                    .or_insert_with(|| toml::Value::String(s.clone()));
            }
            push(
                &mut steps,
                stage,
                stage,
                vec![a_store.clone()],
                &t,
                &[analysis_stage],
            )?;
        }
    }
    if let Some(mut t) = table("train")? {
        if let Some(s) = &seed {
            t.entry("seed")
                .or_insert_with(|| toml::Value::String(s.clone()));
        }
        // Models fit their own preprocessing inside folds, so they start from the ingested store.
        push(
            &mut steps,
            "train",
            "train",
            vec![store.display().to_string()],
            &t,
            &["ingest"],
        )?;
    }
    if let Some(t) = table("report")? {
        let (flags, cfg) = section_args("report", &t)?;
        if cfg.is_some() {
            bail!("[report] takes no config table");
        }
        let html = out.join("report.html");
        let mut argv = vec![
            "report".to_string(),
            out.display().to_string(),
            "--out".into(),
            html.display().to_string(),
        ];
        argv.extend(flags);
        let joined = argv.join("\u{1f}");
        let mut parts: Vec<&str> = vec!["report", &joined];
        parts.extend(steps.iter().map(|s| s.key.as_str()));
        let key = hash_parts(&parts);
        steps.push(Step {
            name: "report".into(),
            argv,
            config_file: None,
            out: html,
            key,
        });
    }
    Ok(steps)
}

fn load_state(out: &Path) -> RunState {
    std::fs::read_to_string(out.join("run.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

pub fn run(a: RunArgs, log: Log) -> anyhow::Result<()> {
    let steps = plan(&a.config, &a.out)?;
    // Every stage's flags are checked before the first stage runs: a typo in the last stage
    // must not surface only after the earlier ones have run.
    for s in &steps {
        let argv = std::iter::once("evomics".to_string()).chain(s.argv.iter().cloned());
        Cli::try_parse_from(argv).map_err(|e| {
            anyhow!(
                "run config, stage [{}]: {}",
                s.name,
                e.to_string().trim_end()
            )
        })?;
    }
    let mut state = load_state(&a.out);
    if a.dry_run {
        println!("plan for {} → {}", a.config.display(), a.out.display());
        for s in &steps {
            let reuse = !a.force && state.stages.get(&s.name) == Some(&s.key) && s.done();
            println!(
                "{:<16} {}",
                s.name,
                if reuse { "reuse (unchanged)" } else { "run" }
            );
            if let Some((p, body)) = &s.config_file {
                println!("  writes {}:", p.display());
                for line in body.lines() {
                    println!("    {line}");
                }
            }
            println!("  evomics {}", s.argv.join(" "));
        }
        return Ok(());
    }
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    for s in &steps {
        let unchanged = state.stages.get(&s.name) == Some(&s.key) && s.done();
        if unchanged && !a.force {
            log.say(format!("== {}: unchanged, reused", s.name));
            continue;
        }
        log.say(format!("== {}", s.name));
        if let Some((p, body)) = &s.config_file {
            write_file_atomic(p, body.as_bytes())?;
        }
        let mut argv = vec!["evomics".to_string()];
        if !log.is_verbose() {
            argv.push("--quiet".into());
        }
        argv.extend(s.argv.iter().cloned());
        let cli = Cli::try_parse_from(&argv).map_err(|e| {
            anyhow!(
                "run config, stage [{}]: {}",
                s.name,
                e.to_string().trim_end()
            )
        })?;
        dispatch(cli).with_context(|| format!("stage {}", s.name))?;
        state.stages.insert(s.name.clone(), s.key.clone());
        let json = serde_json::to_string_pretty(&state).unwrap_or_default() + "\n";
        write_file_atomic(&a.out.join("run.json"), json.as_bytes())?;
    }
    log.say(format!("pipeline finished: {}", a.out.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_become_flags() {
        let t: toml::Table = toml::from_str(
            "group_by = \"source\"\nby = [\"a\", \"b\"]\ntrend = true\nrobust = false\nk = 3\n[config.sample]\noutlier_z = 4.0\n",
        )
        .unwrap();
        let (argv, cfg) = section_args("qc", &t).unwrap();
        assert_eq!(
            argv,
            [
                "--by",
                "a",
                "--by",
                "b",
                "--group-by",
                "source",
                "--k",
                "3",
                "--trend"
            ]
        );
        assert!(cfg.unwrap().contains("outlier_z = 4.0"));
        let bad: toml::Table = toml::from_str("[sample]\nx = 1\n").unwrap();
        assert!(section_args("qc", &bad)
            .unwrap_err()
            .to_string()
            .contains("config"));
    }
}
