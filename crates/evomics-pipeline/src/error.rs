//! The error type of the pipeline crate: the stage crates' errors, and config errors that name
//! the file (and line, where TOML gives one).

use std::path::PathBuf;

use thiserror::Error;

/// Errors of stage execution and run configs.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// A config file or table is invalid; `problem` says where (line, key) and how to fix it.
    #[error("{}: {problem}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A setting given on the command line or in a run table is invalid.
    #[error("{context}: {problem}")]
    Setting {
        /// Where (`evomics diff`, `run config [diff.source]`, …).
        context: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A stage failed.
    #[error("stage {stage}: {source}")]
    Stage {
        /// The stage (`qc`, `diff.source`, …).
        stage: String,
        /// Why.
        #[source]
        source: Box<PipelineError>,
    },
    /// A store written on its own thread was not written (the write's own error was returned
    /// where the store was first awaited).
    #[error("{}: the store was not written: {message}", path.display())]
    StoreNotWritten {
        /// The store's folder.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Reading or writing files.
    #[error(transparent)]
    Io(#[from] evomics_io::IoError),
    /// The data model.
    #[error(transparent)]
    Core(#[from] evomics_core::CoreError),
    /// QC.
    #[error(transparent)]
    Qc(#[from] evomics_qc::QcError),
    /// Normalization.
    #[error(transparent)]
    Norm(#[from] evomics_norm::NormError),
    /// Statistics.
    #[error(transparent)]
    Stats(#[from] evomics_stats::StatsError),
    /// Models and clustering.
    #[error(transparent)]
    Ml(#[from] evomics_ml::MlError),
    /// The report.
    #[error(transparent)]
    Report(#[from] evomics_report::ReportError),
    /// Curated panels and user panel files.
    #[error(transparent)]
    Panels(#[from] evomics_panels::PanelError),
    /// The simulator.
    #[error(transparent)]
    Sim(#[from] evomics_sim::SimError),
}

impl PipelineError {
    /// Wrap the error of a stage with the stage's name.
    pub fn in_stage(self, stage: &str) -> PipelineError {
        PipelineError::Stage {
            stage: stage.to_string(),
            source: Box::new(self),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;
