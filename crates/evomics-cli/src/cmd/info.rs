//! `evomics info`.

use std::io::Write;

use serde_json::{json, Map, Value};

use evomics_core::Experiment;
use evomics_io::{read_experiment, Manifest};

use crate::cli::InfoArgs;

/// The JSON summary of a store: sample and per-layer cell counts, plus the sheet's columns and
/// the stage that wrote it.
pub fn summary(exp: &Experiment, manifest: &Manifest) -> Value {
    let mut layers = Map::new();
    for (name, a) in exp.layers() {
        let c = a.flag_counts();
        let mut entry = json!({
                "kind": a.kind().name(),
                "scale": a.scale().name(),
                "features": a.n_features(),
                "samples": a.n_samples(),
                "observed": c.observed,
                "missing": c.missing,
                "imputed": c.imputed,
                "below_detection": c.below_detection,
                "missing_fraction": if c.total() > 0 { (c.missing + c.absent_from_file) as f64 / c.total() as f64 } else { 0.0 },
                "flagged_features": a.features().flags().iter().filter(|f| !f.is_empty()).count(),
                "annotations": a.features().annotations().keys().collect::<Vec<_>>(),
        });
        // Only layers read from several files have such cells.
        if c.absent_from_file > 0 {
            entry["absent_from_file"] = json!(c.absent_from_file);
        }
        layers.insert(name.clone(), entry);
    }
    let mut v = json!({
        "samples": exp.samples().len(),
        "sample_columns": exp.samples().columns().iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
        "layers": layers,
        "stage": manifest.stage,
        "tool_version": manifest.tool_version,
        "seeds": manifest.seeds,
    });
    if exp.layers().len() > 1 {
        let o = exp.layer_overlap();
        v["overlap"] = json!({
            "in_every_layer": o.in_every_layer,
            "in_no_layer": o.in_no_layer,
            "combinations": o.combinations.iter().map(|(l, n)| json!({ "layers": l, "samples": n })).collect::<Vec<_>>(),
        });
    }
    v
}

pub fn run(a: InfoArgs, log: crate::cmd::Log) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let (exp, manifest) = read_experiment(&a.dir)?;
    let s = summary(&exp, &manifest);
    if log.json() {
        drop(out);
        return log.finish("info", &[], s);
    }
    writeln!(
        out,
        "{}: written by evomics {} ({})",
        a.dir.display(),
        manifest.tool_version,
        manifest.stage
    )?;
    writeln!(out, "samples: {}", exp.samples().len())?;
    writeln!(
        out,
        "sample columns: {}",
        exp.samples()
            .columns()
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(
        out,
        "{:<12} {:>9} {:>8} {:>10} {:>10} {:>9} {:>8}",
        "layer", "features", "samples", "observed", "missing", "imputed", "missing%"
    )?;
    for (name, a) in exp.layers() {
        let c = a.flag_counts();
        let pct = if c.total() > 0 {
            100.0 * (c.missing + c.absent_from_file) as f64 / c.total() as f64
        } else {
            0.0
        };
        writeln!(
            out,
            "{:<12} {:>9} {:>8} {:>10} {:>10} {:>9} {:>7.1}%",
            name,
            a.n_features(),
            a.n_samples(),
            c.observed,
            c.missing + c.absent_from_file,
            c.imputed,
            pct
        )?;
    }
    if exp.layers().len() > 1 {
        let o = exp.layer_overlap();
        writeln!(
            out,
            "samples in every layer: {} of {} (analyses of several layers use these)",
            o.in_every_layer,
            exp.samples().len()
        )?;
        if o.in_every_layer < exp.samples().len() {
            for (layers, n) in &o.combinations {
                let what = if layers.is_empty() {
                    "no layer".to_string()
                } else {
                    format!("only {}", layers.join(" + "))
                };
                if layers.len() < exp.layers().len() {
                    writeln!(out, "  {what}: {n}")?;
                }
            }
        }
    }
    Ok(())
}
