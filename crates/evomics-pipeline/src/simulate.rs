//! `simulate`: a synthetic EV cargo cohort written as an experiment store and, optionally, as
//! plain inputs (sample sheet, wide layer tables, a MaxQuant-layout proteome, truth tables).

use std::path::Path;

use serde_json::{json, Value};

use evomics_core::Message;
use evomics_io::atomic::{
    check_output, replace_dir, resolve_path, write_file_atomic, OutputKind, Replace,
};
use evomics_io::export::{sheet_tsv, wide_tsv, ExportCells};
use evomics_io::{write_experiment_with, InputFile, Manifest};
use evomics_sim::{simulate as sim, SimCohort, SimParams};

use crate::error::{PipelineError, Result};

/// Overlay `over` onto `base` (objects merge key by key; anything else replaces).
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

/// What the command line can override.
#[derive(Debug, Clone, Default)]
pub struct SimOverrides {
    /// Seed.
    pub seed: Option<u64>,
    /// Samples.
    pub samples: Option<usize>,
    /// Proteins.
    pub proteins: Option<usize>,
    /// miRNAs.
    pub mirnas: Option<usize>,
}

/// The preset, overlaid with the config file and the overrides (preset < file < flags).
pub fn resolve_params(preset: &str, config: Option<&Path>, o: &SimOverrides) -> Result<SimParams> {
    let mut params = serde_json::to_value(SimParams::preset(preset)?).unwrap_or_default();
    if let Some(path) = config {
        let table = crate::config::read_toml(path)?;
        merge(&mut params, serde_json::to_value(table).unwrap_or_default());
    }
    let mut over = serde_json::Map::new();
    if let Some(s) = o.seed {
        over.insert("seed".into(), json!(s));
    }
    if let Some(n) = o.samples {
        over.insert("n_samples".into(), json!(n));
    }
    if let Some(n) = o.proteins {
        over.insert("n_proteins".into(), json!(n));
    }
    if let Some(n) = o.mirnas {
        over.insert("n_mirnas".into(), json!(n));
    }
    merge(&mut params, Value::Object(over));
    serde_json::from_value(params).map_err(|e| PipelineError::Setting {
        context: format!(
            "invalid simulation parameters{}",
            config
                .map(|p| format!(" in {}", p.display()))
                .unwrap_or_default()
        ),
        problem: e.to_string(),
    })
}

/// Simulate a cohort into the store `out` (and plain inputs into `tsv`, a folder with its own
/// `manifest.json`); `replace` says what existing folders there may be.
pub fn simulate(
    params: &SimParams,
    config: Option<&Path>,
    out: &Path,
    tsv: Option<&Path>,
    replace: Replace,
) -> Result<Vec<Message>> {
    let inputs: Vec<&Path> = config.into_iter().collect();
    check_output(out, OutputKind::Folder, &inputs, replace)?;
    if let Some(t) = tsv {
        check_output(t, OutputKind::Folder, &inputs, replace)?;
        let (a, b) = (resolve_path(out)?, resolve_path(t)?);
        if a.starts_with(&b) || b.starts_with(&a) {
            return Err(PipelineError::Setting {
                context: "evomics simulate".into(),
                problem: format!(
                    "--tsv '{}' and --out '{}' must be separate folders, neither inside the other (each replaces its folder as a whole)",
                    t.display(),
                    out.display()
                ),
            });
        }
    }
    let cohort = sim(params)?;
    let mut manifest = Manifest::new("simulate");
    manifest.settings = serde_json::to_value(params).unwrap_or_default();
    manifest.seeds.insert("simulate".into(), params.seed);
    if let Some(c) = config {
        manifest.inputs.push(InputFile::hash("config", c)?);
    }
    manifest.reports = json!({ "summary": cohort.summary });
    write_experiment_with(out, replace, &cohort.experiment, &manifest, |_| Ok(()))?;
    let mut msgs = vec![Message::info(format!(
        "wrote the experiment store {}",
        out.display()
    ))];
    if let Some(dir) = tsv {
        write_tsv_dir(dir, &cohort, params, &manifest, replace)?;
        msgs.push(Message::info(format!(
            "wrote TSV inputs and truth tables to {}",
            dir.display()
        )));
    }
    for l in &cohort.summary.layers {
        msgs.push(Message::info(format!(
            "{}: {} features × {} samples, {} observed, {} missing ({:.1}%)",
            l.layer,
            l.n_features,
            l.n_samples,
            l.observed,
            l.missing,
            100.0 * l.missing_fraction
        )));
    }
    Ok(msgs)
}

fn write_tsv_dir(
    dir: &Path,
    cohort: &SimCohort,
    params: &SimParams,
    manifest: &Manifest,
    replace: Replace,
) -> Result<()> {
    replace_dir(dir, replace, |tmp| {
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
        // Preparations measured by one assay only: the sample map says which layer holds which.
        let overlap = exp.layer_overlap();
        if overlap.in_every_layer < exp.samples().len() {
            let mut map = String::from("unit_id\tassay\tcolumn\n");
            for sid in exp.samples().sample_ids() {
                for (name, layer) in exp.layers() {
                    if layer.sample_position(sid).is_some() {
                        map.push_str(&format!("{sid}\t{name}\t{sid}\n"));
                    }
                }
            }
            write_file_atomic(&tmp.join("sample_map.tsv"), map.as_bytes())?;
        }
        if let Ok(p) = exp.layer("proteome") {
            write_file_atomic(
                &tmp.join("proteinGroups.txt"),
                evomics_sim::maxquant_text(p).as_bytes(),
            )?;
        }
        for t in cohort.truth.tables() {
            write_file_atomic(&tmp.join(format!("{}.tsv", t.name)), t.to_tsv().as_bytes())?;
        }
        let summary = serde_json::to_string_pretty(&cohort.summary).unwrap_or_default() + "\n";
        write_file_atomic(&tmp.join("summary.json"), summary.as_bytes())?;
        let p = serde_json::to_string_pretty(params).unwrap_or_default() + "\n";
        write_file_atomic(&tmp.join("params.json"), p.as_bytes())?;
        // The manifest marks the folder as evomics output, so a rerun may replace it.
        write_file_atomic(&tmp.join("manifest.json"), manifest.to_json().as_bytes())
    })?;
    Ok(())
}
