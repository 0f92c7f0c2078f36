//! `evomics normalize`: per-layer filtering, transforms, normalization, imputation and batch
//! correction, fitted on the store's samples (evomics-norm's fit → transform pipeline).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::json;

use evomics_core::Experiment;
use evomics_io::atomic::write_file_atomic;
use evomics_io::{read_experiment, write_experiment_with, InputFile, Manifest};
use evomics_norm::{FittedPipeline, NormalizeConfig, PipelineReport};

use crate::cmd::Log;

/// `evomics normalize`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  evomics normalize exp -o exp-norm\n  evomics normalize exp -o exp-norm --config normalize.toml\n\nConfig (TOML): one table per layer, e.g.\n  [layers.proteome]\n  filters = [{ method = \"contaminants\" }, { method = \"valid_values\", column = \"source\", min_fraction = 0.7 }]\n  transform = { method = \"log2\" }\n  normalization = { method = \"median\" }\n  imputation = { method = \"down_shift\", width = 0.3, shift = 1.8, seed = 7 }\n  batch_correction = { method = \"combat\", batch = \"batch\", covariates = [\"source\"] }\nWithout --config every layer gets the recommended pipeline (docs/methods/normalization.md)."
)]
pub struct NormalizeArgs {
    /// Experiment store directory.
    pub store: PathBuf,
    /// Output experiment store (replaced atomically).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Pipeline per layer (TOML); layers it does not name are copied unchanged.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// The normalize config file: one pipeline per layer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalizeFile {
    /// Pipelines by layer name.
    #[serde(default)]
    pub layers: BTreeMap<String, NormalizeConfig>,
}

/// Resolve the pipeline of each layer: from the file when given, else the recommended one.
pub fn resolve(
    exp: &Experiment,
    file: Option<&NormalizeFile>,
) -> anyhow::Result<BTreeMap<String, NormalizeConfig>> {
    let mut out = BTreeMap::new();
    match file {
        Some(f) => {
            for (name, cfg) in &f.layers {
                if !exp.layers().contains_key(name) {
                    bail!(
                        "the config names layer '{name}', which the store does not have (it has: {})",
                        exp.layers().keys().cloned().collect::<Vec<_>>().join(", ")
                    );
                }
                cfg.validate()
                    .with_context(|| format!("pipeline of layer '{name}'"))?;
                out.insert(name.clone(), cfg.clone());
            }
        }
        None => {
            for (name, a) in exp.layers() {
                out.insert(
                    name.clone(),
                    NormalizeConfig::recommended(a.kind(), a.scale()),
                );
            }
        }
    }
    Ok(out)
}

/// Fitted pipelines and their reports, by layer.
pub type FittedLayers = BTreeMap<String, (FittedPipeline, PipelineReport)>;

/// Fit every configured pipeline on the experiment and transform its layers.
pub fn apply(
    exp: &Experiment,
    configs: &BTreeMap<String, NormalizeConfig>,
) -> anyhow::Result<(Experiment, FittedLayers)> {
    let mut out = exp.clone();
    let mut fitted = BTreeMap::new();
    for (name, cfg) in configs {
        let layer = exp.layer(name)?;
        let (f, transformed, report) = cfg
            .fit_transform(layer, exp.samples())
            .with_context(|| format!("normalizing layer '{name}'"))?;
        out.insert_layer(transformed)?;
        fitted.insert(name.clone(), (f, report));
    }
    Ok((out, fitted))
}

pub fn run(a: NormalizeArgs, log: Log) -> anyhow::Result<()> {
    let file = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            Some(
                toml::from_str::<NormalizeFile>(&text)
                    .with_context(|| format!("normalize config {}", p.display()))?,
            )
        }
        None => None,
    };
    let (exp, _) = read_experiment(&a.store)?;
    let configs = resolve(&exp, file.as_ref())?;
    if file.is_none() {
        log.say("no --config: using the recommended pipeline for every layer");
    }
    let (normalized, fitted) = apply(&exp, &configs)?;

    let mut manifest = Manifest::new("normalize");
    manifest.inputs.push(InputFile::store(&a.store)?);
    if let Some(c) = &a.config {
        manifest.inputs.push(InputFile::hash("config", c)?);
    }
    manifest.settings = json!({ "store": a.store.display().to_string(), "layers": configs });
    let reports: BTreeMap<&String, &PipelineReport> =
        fitted.iter().map(|(k, (_, r))| (k, r)).collect();
    manifest.reports = json!({ "layers": reports });
    for (name, (_, r)) in &fitted {
        log.say(format!(
            "{name}: {} → {} features, {} removed, {} cells imputed",
            r.features_in,
            r.features_out,
            r.removed_total(),
            r.imputed_total()
        ));
        for step in &r.steps {
            for note in &step.notes {
                log.say(format!("  {}: {note}", step.method));
            }
            for w in &step.warnings {
                log.warn(format!("{name}: {}: {w}", step.method));
            }
            if !step.uncorrected.is_empty() {
                log.warn(format!(
                    "{name}: {} feature(s) left uncorrected by {}",
                    step.uncorrected.len(),
                    step.method
                ));
            }
        }
    }
    write_experiment_with(&a.out, &normalized, &manifest, |tmp| {
        let dir = tmp.join("normalize");
        for (name, (f, r)) in &fitted {
            let fj = serde_json::to_string_pretty(f).unwrap_or_default() + "\n";
            write_file_atomic(&dir.join(format!("{name}.fitted.json")), fj.as_bytes())?;
            let rj = serde_json::to_string_pretty(r).unwrap_or_default() + "\n";
            write_file_atomic(&dir.join(format!("{name}.report.json")), rj.as_bytes())?;
        }
        Ok(())
    })
    .with_context(|| format!("writing {}", a.out.display()))?;
    log.say(format!("wrote {}", a.out.display()));
    Ok(())
}
