//! The error type of the QC stage.

use evomics_core::CoreError;
use thiserror::Error;

/// Errors raised by QC functions.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum QcError {
    /// A parameter is out of range; raised before any data is read.
    #[error("QC parameter '{param}': {problem}")]
    InvalidParam {
        /// Parameter name as written in the config.
        param: &'static str,
        /// What is wrong and what is allowed.
        problem: String,
    },
    /// The layer has no samples or no features.
    #[error("layer '{layer}' has {n_features} feature(s) and {n_samples} sample(s); QC needs at least one of each")]
    EmptyLayer {
        /// Layer name.
        layer: String,
        /// Number of features.
        n_features: usize,
        /// Number of samples.
        n_samples: usize,
    },
    /// The purity gate was asked to run on a layer that is not a proteome.
    #[error("layer '{layer}' is a {kind} layer; the MISEV purity gate reads protein markers and runs on proteome layers only (declare the layer kind as proteome if it holds proteins)")]
    NotProteome {
        /// Layer name.
        layer: String,
        /// Its kind.
        kind: &'static str,
    },
    /// A layer's sample is not in the sample sheet used for grouping.
    #[error("layer '{layer}': sample '{sample}' is not in the sample sheet; add it to the sheet to group by '{column}'")]
    SampleNotInSheet {
        /// Layer name.
        layer: String,
        /// Sample id.
        sample: String,
        /// Grouping column.
        column: String,
    },
    /// A sample sheet column has the wrong type for a QC check.
    #[error("sample sheet column '{column}': {problem}")]
    SheetColumn {
        /// Column name.
        column: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// An error from the data model (e.g. a missing sheet column).
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// Result alias of the QC stage.
pub type Result<T> = std::result::Result<T, QcError>;
