//! `evomics qc`: per-sample and per-feature QC, the MISEV purity gate and dose ratios.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::json;

use evomics_core::{Assay, Experiment, LayerKind};
use evomics_io::table::{f, num, Table};
use evomics_io::{read_experiment, InputFile, Manifest};
use evomics_qc::{
    dose_qc, feature_qc, sample_qc, DoseParams, DoseQc, FeatureQcReport, PurityParams,
    PurityReport, SampleQcParams, SampleQcReport,
};

use crate::cmd::{write_stage, Log};

/// `evomics qc`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  evomics qc exp -o qc\n  evomics qc exp -o qc --layer proteome --group-by source --config qc.toml\n\nConfig (TOML, every key optional):\n  [sample]  outlier_z = 3.5, profile_min_fraction = 0.5, …\n  [purity]  co_isolate_warn_share = 0.05, co_isolate_fail_share = 0.2, …\n  [dose]    high_purity_particles_per_ug = 3e10, low_purity_particles_per_ug = 1.5e9\nSee docs/methods/qc-and-panels.md."
)]
pub struct QcArgs {
    /// Experiment store directory.
    pub store: PathBuf,
    /// Output directory (replaced atomically).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Layers to check (repeatable; default: all).
    #[arg(long = "layer")]
    pub layers: Vec<String>,
    /// Sample-sheet column whose groups the per-feature observed fractions are given for.
    #[arg(long)]
    pub group_by: Option<String>,
    /// QC thresholds (TOML with [sample], [purity], [dose] tables).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// QC settings, each table optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QcConfig {
    /// Sample QC thresholds.
    pub sample: SampleQcParams,
    /// MISEV purity gate thresholds.
    pub purity: PurityParams,
    /// Dose-ratio thresholds.
    pub dose: DoseParams,
}

fn load_config(path: Option<&Path>) -> anyhow::Result<QcConfig> {
    let Some(p) = path else {
        return Ok(QcConfig::default());
    };
    let text = std::fs::read_to_string(p)
        .with_context(|| format!("cannot read QC config {}", p.display()))?;
    let c: QcConfig =
        toml::from_str(&text).with_context(|| format!("QC config {}", p.display()))?;
    c.sample.validate()?;
    c.purity.check()?;
    c.dose.validate()?;
    Ok(c)
}

struct LayerQc {
    samples: SampleQcReport,
    features: FeatureQcReport,
    purity: Option<PurityReport>,
}

fn layers<'a>(exp: &'a Experiment, names: &[String]) -> anyhow::Result<Vec<&'a Assay>> {
    if names.is_empty() {
        return Ok(exp.layers().values().collect());
    }
    names
        .iter()
        .map(|n| exp.layer(n).map_err(Into::into))
        .collect()
}

pub fn run(a: QcArgs, log: Log) -> anyhow::Result<()> {
    let config = load_config(a.config.as_deref())?;
    let (exp, _) = read_experiment(&a.store)?;
    if let Some(g) = &a.group_by {
        exp.samples().require_column(g)?;
    }
    let mut results = Vec::new();
    for layer in layers(&exp, &a.layers)? {
        let samples = sample_qc(layer, &config.sample)?;
        let group = a.group_by.as_deref().map(|g| (exp.samples(), g));
        let features = feature_qc(layer, group)?;
        let purity = if *layer.kind() == LayerKind::Proteome {
            Some(evomics_qc::purity_gate(layer, &config.purity)?)
        } else {
            None
        };
        results.push((
            layer.name().to_string(),
            LayerQc {
                samples,
                features,
                purity,
            },
        ));
    }
    let dose = dose_qc(exp.samples(), &config.dose)?;

    let mut manifest = Manifest::new("qc");
    manifest.inputs.push(InputFile::store(&a.store)?);
    if let Some(c) = &a.config {
        manifest.inputs.push(InputFile::hash("config", c)?);
    }
    manifest.settings = json!({ "store": a.store.display().to_string(), "layers": a.layers, "group_by": a.group_by, "config": config });
    let summary = summary_json(&results, &dose);
    manifest.reports = summary.clone();

    write_stage(&a.out, &manifest, |tmp| {
        sample_table(&results).write(&tmp.join("samples.tsv"))?;
        feature_table(&results).write(&tmp.join("features.tsv"))?;
        let purity: Vec<(&str, &PurityReport)> = results
            .iter()
            .filter_map(|(n, r)| r.purity.as_ref().map(|p| (n.as_str(), p)))
            .collect();
        if !purity.is_empty() {
            purity_table(&purity).write(&tmp.join("purity.tsv"))?;
        }
        dose_table(&dose).write(&tmp.join("dose.tsv"))?;
        let text = serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n";
        evomics_io::atomic::write_file_atomic(&tmp.join("summary.json"), text.as_bytes())
    })?;
    print_summary(&summary, log);
    log.say(format!("wrote {}", a.out.display()));
    Ok(())
}

fn summary_json(results: &[(String, LayerQc)], dose: &[DoseQc]) -> serde_json::Value {
    let mut layers = serde_json::Map::new();
    for (name, r) in results {
        let outliers: Vec<&str> = r
            .samples
            .samples
            .iter()
            .filter(|s| s.outlier)
            .map(|s| s.sample.as_str())
            .collect();
        let mut o = json!({
            "samples": r.samples.samples.len(),
            "features": r.features.features.len(),
            "outliers": outliers,
            "log_basis": format!("{:?}", r.samples.basis),
        });
        if let Some(p) = &r.purity {
            let (pass, warn, fail) = p.counts();
            o["purity"] = json!({ "pass": pass, "warn": warn, "fail": fail, "matched_on": p.matched_on,
                "marker_features": p.marker_features.len() });
        }
        layers.insert(name.clone(), o);
    }
    let assessed = dose.iter().filter(|d| d.particles_per_ug.is_some()).count();
    let flagged: Vec<&str> = dose
        .iter()
        .filter(|d| d.flagged)
        .map(|d| d.sample.as_str())
        .collect();
    json!({ "layers": layers, "dose": { "assessed": assessed, "flagged": flagged } })
}

fn print_summary(s: &serde_json::Value, log: Log) {
    if let Some(layers) = s["layers"].as_object() {
        for (name, l) in layers {
            let mut line = format!(
                "{name}: {} samples, {} features, {} outlier(s)",
                l["samples"],
                l["features"],
                l["outliers"].as_array().map(|v| v.len()).unwrap_or(0)
            );
            if let Some(p) = l.get("purity") {
                line.push_str(&format!(
                    "; MISEV purity gate: {} pass, {} warn, {} fail",
                    p["pass"], p["warn"], p["fail"]
                ));
            }
            log.say(line);
        }
    }
    log.say(format!(
        "dose ratios assessed for {} sample(s)",
        s["dose"]["assessed"]
    ));
}

fn sample_table(results: &[(String, LayerQc)]) -> Table {
    let mut t = Table::new([
        "layer",
        "sample_id",
        "n_features",
        "n_observed",
        "n_imputed",
        "n_below_detection",
        "missing_fraction",
        "total",
        "log2_median",
        "log2_iqr",
        "corr_to_median",
        "outlier",
        "reasons",
    ]);
    for (name, r) in results {
        for s in &r.samples.samples {
            t.push(vec![
                name.clone(),
                s.sample.clone(),
                s.n_features.to_string(),
                s.n_observed.to_string(),
                s.n_imputed.to_string(),
                s.n_below_detection.to_string(),
                f(s.missing_fraction),
                num(s.total),
                num(s.log2_median),
                num(s.log2_iqr),
                num(s.corr_to_median),
                s.outlier.to_string(),
                s.reasons.join("; "),
            ]);
        }
    }
    t
}

fn feature_table(results: &[(String, LayerQc)]) -> Table {
    let groups: Vec<String> = results
        .first()
        .map(|(_, r)| r.features.groups.clone())
        .unwrap_or_default();
    let mut cols: Vec<String> = [
        "layer",
        "feature_id",
        "n_observed",
        "observed_fraction",
        "mean_log",
        "median_log",
        "cv",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    cols.extend(groups.iter().map(|g| format!("observed_fraction:{g}")));
    let mut t = Table::new(cols);
    for (name, r) in results {
        for q in &r.features.features {
            let mut row = vec![
                name.clone(),
                q.feature.clone(),
                q.n_observed.to_string(),
                f(q.observed_fraction),
                num(q.mean_log),
                num(q.median_log),
                num(q.cv),
            ];
            row.extend(q.group_observed_fraction.iter().map(|v| f(*v)));
            row.resize(t.columns.len(), "NA".into());
            t.push(row);
        }
    }
    t
}

fn purity_table(reports: &[(&str, &PurityReport)]) -> Table {
    let mut t = Table::new([
        "layer",
        "sample_id",
        "verdict",
        "reasons",
        "core_markers",
        "transmembrane_markers",
        "cytosolic_markers",
        "co_isolate_markers",
        "co_isolate_share",
        "other_compartment_markers",
        "other_compartment_share",
    ]);
    use evomics_panels::MisevCategory as C;
    for (layer, r) in reports {
        for s in &r.samples {
            let ev = |c: C| s.category(c);
            t.push(vec![
                layer.to_string(),
                s.sample.clone(),
                s.verdict.name().to_string(),
                s.reasons.join("; "),
                s.core_markers.join(","),
                ev(C::Transmembrane).markers.join(","),
                ev(C::Cytosolic).markers.join(","),
                ev(C::CoIsolated).markers.join(","),
                num(ev(C::CoIsolated).share),
                ev(C::OtherCompartment).markers.join(","),
                num(ev(C::OtherCompartment).share),
            ]);
        }
    }
    t
}

fn dose_table(dose: &[DoseQc]) -> Table {
    let mut t = Table::new([
        "sample_id",
        "particle_count",
        "protein_ug",
        "particles_per_ug",
        "ug_per_particle",
        "purity",
        "flagged",
        "note",
    ]);
    for d in dose {
        t.push(vec![
            d.sample.clone(),
            num(d.particle_count),
            num(d.protein_ug),
            num(d.particles_per_ug),
            num(d.ug_per_particle),
            d.purity.name().to_string(),
            d.flagged.to_string(),
            d.note.clone(),
        ]);
    }
    t
}
