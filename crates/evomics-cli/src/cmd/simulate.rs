//! `evomics simulate`.

use std::path::Path;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use evomics_io::atomic::{replace_dir, write_file_atomic};
use evomics_io::export::{sheet_tsv, wide_tsv, ExportCells};
use evomics_io::{write_experiment, InputFile, Manifest};
use evomics_sim::{simulate, SimParams};

use crate::cli::SimulateArgs;
use crate::cmd::Log;

/// Overlay `over` onto `base` (tables merge key by key; anything else replaces).
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// The preset, overlaid with the config file and the command-line overrides.
pub fn resolve_params(a: &SimulateArgs) -> anyhow::Result<SimParams> {
    let mut params = serde_json::to_value(SimParams::preset(&a.preset)?)?;
    if let Some(path) = &a.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read simulation config {}", path.display()))?;
        let table: toml::Value = toml::from_str(&text)
            .with_context(|| format!("{} is not valid TOML", path.display()))?;
        merge(&mut params, serde_json::to_value(table)?);
    }
    let mut over = serde_json::Map::new();
    if let Some(s) = a.seed {
        over.insert("seed".into(), json!(s));
    }
    if let Some(n) = a.samples {
        over.insert("n_samples".into(), json!(n));
    }
    if let Some(n) = a.proteins {
        over.insert("n_proteins".into(), json!(n));
    }
    if let Some(n) = a.mirnas {
        over.insert("n_mirnas".into(), json!(n));
    }
    merge(&mut params, Value::Object(over));
    let p: SimParams = serde_json::from_value(params).map_err(|e| {
        anyhow::anyhow!(
            "invalid simulation parameters{}: {e}",
            a.config
                .as_ref()
                .map(|p| format!(" in {}", p.display()))
                .unwrap_or_default()
        )
    })?;
    Ok(p)
}

pub fn run(a: SimulateArgs, log: Log) -> anyhow::Result<()> {
    if a.tsv.as_deref() == Some(a.out.as_path()) {
        bail!("--tsv and --out must be different directories");
    }
    let params = resolve_params(&a)?;
    let cohort = simulate(&params)?;
    let mut manifest = Manifest::new("simulate");
    manifest.settings = serde_json::to_value(&params)?;
    manifest.seeds.insert("simulate".into(), params.seed);
    if let Some(c) = &a.config {
        manifest.inputs.push(InputFile::hash("config", c)?);
    }
    manifest.reports = json!({ "summary": cohort.summary });
    write_experiment(&a.out, &cohort.experiment, &manifest)
        .with_context(|| format!("writing {}", a.out.display()))?;
    log.say(format!("wrote the experiment store {}", a.out.display()));
    if let Some(dir) = &a.tsv {
        write_tsv_dir(dir, &cohort, &params)?;
        log.say(format!(
            "wrote TSV inputs and truth tables to {}",
            dir.display()
        ));
    }
    for l in &cohort.summary.layers {
        log.say(format!(
            "{}: {} features × {} samples, {} observed, {} missing ({:.1}%)",
            l.layer,
            l.n_features,
            l.n_samples,
            l.observed,
            l.missing,
            100.0 * l.missing_fraction
        ));
    }
    Ok(())
}

fn write_tsv_dir(
    dir: &Path,
    cohort: &evomics_sim::SimCohort,
    params: &SimParams,
) -> anyhow::Result<()> {
    replace_dir(dir, |tmp| {
        let exp = &cohort.experiment;
        write_file_atomic(
            &tmp.join("samples.tsv"),
            sheet_tsv(exp.samples()).as_bytes(),
        )?;
        for (name, layer) in exp.layers() {
            write_file_atomic(
                &tmp.join(format!("{name}.tsv")),
                wide_tsv(layer, ExportCells::WithValues).as_bytes(),
            )?;
        }
        if let Ok(p) = exp.layer("proteome") {
            write_file_atomic(&tmp.join("proteinGroups.txt"), maxquant_text(p).as_bytes())?;
        }
        for t in cohort.truth.tables() {
            write_file_atomic(&tmp.join(format!("{}.tsv", t.name)), t.to_tsv().as_bytes())?;
        }
        let summary = serde_json::to_string_pretty(&cohort.summary).unwrap_or_default() + "\n";
        write_file_atomic(&tmp.join("summary.json"), summary.as_bytes())?;
        let p = serde_json::to_string_pretty(params).unwrap_or_default() + "\n";
        write_file_atomic(&tmp.join("params.json"), p.as_bytes())
    })?;
    Ok(())
}

/// The proteome in MaxQuant `proteinGroups.txt` layout (0 = not quantified), with two reverse
/// hits and two contaminants added so readers' drop rules have something to drop.
fn maxquant_text(p: &evomics_core::Assay) -> String {
    use std::fmt::Write as _;
    let mut out = String::from(
        "Protein IDs\tMajority protein IDs\tGene names\tReverse\tPotential contaminant\tOnly identified by site",
    );
    for s in p.samples() {
        let _ = write!(out, "\tIntensity {s}");
    }
    for s in p.samples() {
        let _ = write!(out, "\tLFQ intensity {s}");
    }
    out.push('\n');
    let genes = p.features().annotation("gene");
    let row =
        |out: &mut String, id: &str, gene: &str, rev: &str, con: &str, i: usize, factor: f64| {
            let _ = write!(out, "{id}\t{id}\t{gene}\t{rev}\t{con}\t\t");
            let cells: Vec<String> = (0..p.n_samples())
                .map(|j| {
                    p.get(i, j)
                        .map(|v| format!("{}", v * factor))
                        .unwrap_or_else(|| "0".into())
                })
                .collect();
            let _ = writeln!(out, "{}\t{}", cells.join("\t"), cells.join("\t"));
        };
    for (i, id) in p.features().ids().iter().enumerate() {
        let gene = genes.and_then(|g| g[i].clone()).unwrap_or_default();
        row(&mut out, id, &gene, "", "", i, 1.0);
    }
    if p.n_features() >= 2 {
        row(&mut out, "REV__SIM0001", "", "+", "", 0, 0.01);
        row(&mut out, "REV__SIM0002", "", "+", "", 1, 0.01);
        row(&mut out, "CON__P02769", "ALB", "", "+", 0, 0.5);
        row(&mut out, "CON__P04264", "KRT1", "", "+", 1, 0.5);
    }
    out
}
