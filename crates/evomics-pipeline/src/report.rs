//! The `report` stage: the HTML report from the typed results of a run, either those `evomics
//! run` holds in memory or those read back from a run folder's stage `result.json` files.

use std::path::Path;

use evomics_core::Experiment;
use evomics_io::output::read_result;
use evomics_io::read_experiment;
use evomics_ml::stages::cluster::ClusterResult;
use evomics_ml::stages::train::TrainResult;
use evomics_norm::stage::NormalizeResult;
use evomics_qc::QcResult;
use evomics_report::model::InputFile;
use evomics_report::{build, render as render_html, RunResults};
use evomics_stats::stages::diff::DiffResult;
use evomics_stats::stages::explore::ExploreResult;

use crate::error::{PipelineError, Result};

/// Render the report of a run's results.
pub fn render(run: &RunResults<'_>) -> Result<String> {
    let input = build(run)?;
    Ok(render_html(&input)?)
}

/// Every stage result of a run folder, read back from disk.
pub struct RunFolder {
    /// The ingested experiment.
    pub experiment: Experiment,
    /// The ingest's inputs.
    pub inputs: Vec<InputFile>,
    /// The ingest's manifest (inputs, settings, what each reader did).
    pub ingest_manifest: evomics_io::Manifest,
    /// The normalized experiment and its result.
    pub normalized: Option<(Experiment, NormalizeResult)>,
    /// QC.
    pub qc: Option<QcResult>,
    /// Named differential analyses.
    pub diff: Vec<(String, DiffResult)>,
    /// Exploration.
    pub explore: Option<ExploreResult>,
    /// Clustering.
    pub cluster: Option<ClusterResult>,
    /// The potency models: `train` (named `train`) or the named `train/<name>` folders, in
    /// name order.
    pub train: Vec<(String, TrainResult)>,
}

fn optional<R: evomics_core::StageResult>(dir: &Path) -> Result<Option<R>> {
    if dir.join("result.json").is_file() {
        Ok(Some(read_result(dir)?))
    } else {
        Ok(None)
    }
}

/// The results of the named analyses under `dir` (`diff/<name>`, `train/<name>`), in name order.
fn named_results<R: evomics_core::StageResult>(dir: &Path) -> Result<Vec<(String, R)>> {
    let mut out = Vec::new();
    if dir.is_dir() {
        let mut dirs: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| evomics_io::IoError::fs("cannot list", dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("result.json").is_file())
            .collect();
        dirs.sort();
        for d in dirs {
            let name = d
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            out.push((name, read_result(&d)?));
        }
    }
    Ok(out)
}

impl RunFolder {
    /// Read the stage folders of an `evomics run` output (ingest, normalize, qc, diff/*,
    /// explore, cluster, train or train/*).
    pub fn read(run: &Path) -> Result<RunFolder> {
        let ingest = run.join("ingest");
        if !ingest.join("manifest.json").is_file() {
            return Err(PipelineError::Setting {
                context: "evomics report".into(),
                problem: format!(
                    "{} has no ingest/ store; run `evomics run` first (or point at its output folder)",
                    run.display()
                ),
            });
        }
        let (experiment, m) = read_experiment(&ingest)?;
        let inputs = m
            .inputs
            .iter()
            .map(|i| InputFile {
                role: Some(i.role.clone()),
                path: i.path.clone(),
                sha256: i.sha256.clone(),
            })
            .collect();
        let normalized = if run.join("normalize/manifest.json").is_file() {
            let (exp, _) = read_experiment(&run.join("normalize"))?;
            Some((exp, read_result(&run.join("normalize"))?))
        } else {
            None
        };
        let diff = named_results(&run.join("diff"))?;
        let train = match optional(&run.join("train"))? {
            Some(t) => vec![("train".to_string(), t)],
            None => named_results(&run.join("train"))?,
        };
        Ok(RunFolder {
            experiment,
            inputs,
            ingest_manifest: m,
            normalized,
            qc: optional(&run.join("qc"))?,
            diff,
            explore: optional(&run.join("explore"))?,
            cluster: optional(&run.join("cluster"))?,
            train,
        })
    }

    /// The report's view of these results.
    pub fn results<'a>(&'a self, title: &'a str, date: &'a str) -> RunResults<'a> {
        RunResults {
            title,
            date,
            inputs: &self.inputs,
            experiment: &self.experiment,
            normalized: self.normalized.as_ref().map(|(e, r)| (e, r)),
            qc: self.qc.as_ref(),
            diff: &self.diff,
            explore: self.explore.as_ref(),
            cluster: self.cluster.as_ref(),
            train: self.train.first().map(|(_, t)| t),
        }
    }
}
