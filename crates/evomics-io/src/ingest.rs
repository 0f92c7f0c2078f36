//! Ingest: a sample sheet plus layer files into an [`Experiment`] with a provenance manifest.

use std::path::PathBuf;

use serde::Serialize;
use serde_json::json;

use evomics_core::{Experiment, FlagCounts};

use crate::error::{IoError, Result};
use crate::formats::read_matrix;
use crate::manifest::{InputFile, Manifest};
use crate::matrix::{align_to_sheet, MatchReport, ReadReport};
use crate::sheet::{read_sample_sheet, SheetOptions};
use crate::spec::LayerSpec;

/// Everything `evomics ingest` needs.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    /// The sample sheet.
    pub samples: PathBuf,
    /// How to read it.
    pub sheet: SheetOptions,
    /// The layers.
    pub layers: Vec<LayerSpec>,
    /// Keep going when sheet and matrix samples differ.
    pub allow_missing_samples: bool,
}

/// What ingest did for one layer.
#[derive(Debug, Clone, Serialize)]
pub struct LayerIngestReport {
    /// Layer name.
    pub layer: String,
    /// Input file.
    pub path: String,
    /// The reader's report.
    pub read: ReadReport,
    /// Sample matching.
    pub matching: MatchReport,
    /// Features kept.
    pub features: usize,
    /// Flag counts of the stored layer.
    pub cells: FlagCounts,
}

/// Read the sheet and every layer, align them, and describe what was done.
pub fn ingest(req: &IngestRequest) -> Result<(Experiment, Manifest, Vec<LayerIngestReport>)> {
    if req.layers.is_empty() {
        return Err(IoError::Spec(
            "no --layer given; add at least one, e.g. --layer proteome=proteinGroups.txt".into(),
        ));
    }
    let sheet = read_sample_sheet(&req.samples, &req.sheet)?;
    let mut manifest = Manifest::new("ingest");
    manifest
        .inputs
        .push(InputFile::hash("samples", &req.samples)?);
    let mut exp = Experiment::new(sheet);
    let mut reports = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for spec in &req.layers {
        if !seen.insert(spec.name.clone()) {
            return Err(IoError::Spec(format!(
                "layer '{}' is given twice",
                spec.name
            )));
        }
        let opts = spec.read_options()?;
        let kind = spec.kind()?;
        let mut parsed = read_matrix(&spec.path, &opts)?;
        // miRNA name harmonization (formats::harmonize): on for miRNA layers unless harmonize=false.
        crate::formats::harmonize::apply(&mut parsed, &opts, &kind)?;
        let read = parsed.report.clone();
        let (assay, matching) = align_to_sheet(
            parsed,
            &spec.name,
            kind,
            exp.samples(),
            &spec.match_options(req.allow_missing_samples),
        )?;
        manifest.inputs.push(InputFile::hash(
            &format!("layer:{}", spec.name),
            &spec.path,
        )?);
        reports.push(LayerIngestReport {
            layer: spec.name.clone(),
            path: spec.path.display().to_string(),
            read,
            matching,
            features: assay.n_features(),
            cells: assay.flag_counts(),
        });
        exp.insert_layer(assay)
            .map_err(|e| IoError::core(spec.path.display().to_string(), e))?;
    }
    manifest.settings = json!({
        "samples": req.samples.display().to_string(),
        "sample_id_column": req.sheet.id_column,
        "allow_missing_samples": req.allow_missing_samples,
        "layers": req.layers.iter().map(|l| json!({
            "name": l.name, "path": l.path.display().to_string(), "options": l.options
        })).collect::<Vec<_>>(),
    });
    manifest.reports = json!({ "layers": reports });
    Ok((exp, manifest, reports))
}
