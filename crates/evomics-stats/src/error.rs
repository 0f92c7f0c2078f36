//! The error type of the statistics stage.

use thiserror::Error;

/// Everything that can go wrong in `evomics-stats`. Messages say what is wrong and how to fix it.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum StatsError {
    /// A model formula could not be parsed.
    #[error("formula '{formula}': {problem}")]
    Formula {
        /// The formula as given.
        formula: String,
        /// What is wrong and how to write it instead.
        problem: String,
    },
    /// A column a formula or test names is not in the sample sheet.
    #[error("sample sheet has no column '{column}'; it has: {available}")]
    UnknownColumn {
        /// The column asked for.
        column: String,
        /// The columns present, comma-separated.
        available: String,
    },
    /// A sample-sheet column cannot be used the way it was asked for.
    #[error("sample sheet column '{column}': {problem}")]
    Column {
        /// The column.
        column: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The design matrix cannot be built or used.
    #[error("design '{formula}': {problem}")]
    Design {
        /// The formula behind the design.
        formula: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A contrast names a coefficient the design does not have.
    #[error("contrast '{contrast}': '{name}' is not a coefficient of the design; available coefficients: {available}")]
    UnknownCoefficient {
        /// The contrast expression.
        contrast: String,
        /// The unknown name.
        name: String,
        /// The design's coefficient names, comma-separated.
        available: String,
    },
    /// A contrast expression is malformed.
    #[error("contrast '{contrast}': {problem}")]
    Contrast {
        /// The contrast expression.
        contrast: String,
        /// What is wrong.
        problem: String,
    },
    /// A sample the design needs is not a column of the layer.
    #[error("layer '{layer}' has no sample '{sample}' that the design uses; build the design on the layer's samples (sheet.select) or add the sample to the layer")]
    SampleNotInLayer {
        /// Layer name.
        layer: String,
        /// The missing sample.
        sample: String,
    },
    /// Arguments have inconsistent shapes.
    #[error("{what}: got {got}, expected {expected}")]
    Shape {
        /// Which argument.
        what: String,
        /// What was given.
        got: String,
        /// What was expected.
        expected: String,
    },
    /// The layer's values cannot go into the requested method.
    #[error("layer '{layer}': {problem}")]
    Data {
        /// Layer name.
        layer: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// An option is out of its domain.
    #[error("option '{option}': {problem}")]
    Option {
        /// Option name.
        option: String,
        /// What is wrong and what is allowed.
        problem: String,
    },
    /// An error of the data model (a layer or sheet column that is not there, a sample the
    /// sheet lacks).
    #[error(transparent)]
    Core(#[from] evomics_core::CoreError),
    /// A step of the shared preprocessing crate failed (design formulas, normalization
    /// factors).
    #[error(transparent)]
    Norm(#[from] evomics_norm::NormError),
    /// The numerical engine (edge-rs, the limma port) refused the computation.
    #[error("{step}: {message}")]
    Engine {
        /// Which step (lmFit, contrasts.fit, eBayes, voom, duplicateCorrelation).
        step: &'static str,
        /// The engine's message.
        message: String,
    },
}

/// Result alias of the statistics stage.
pub type Result<T> = std::result::Result<T, StatsError>;

/// Wrap an engine error with the step it came from.
pub(crate) fn engine(step: &'static str) -> impl FnOnce(edge_rs::errors::EdgeErrors) -> StatsError {
    move |e| StatsError::Engine {
        step,
        message: e.to_string(),
    }
}
