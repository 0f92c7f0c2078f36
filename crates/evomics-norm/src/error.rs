//! The error type of the preprocessing stage.

use evomics_core::CoreError;
use thiserror::Error;

/// Everything that can go wrong in a preprocessing step.
///
/// Every variant names the step and the item (layer, sample, feature, batch or sheet column)
/// it concerns, says what is wrong and, where there is one, how to fix it.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum NormError {
    /// A parameter is outside its domain; raised before any data is read.
    #[error("{step}: parameter '{param}' {problem}")]
    InvalidParam {
        /// The step, e.g. `imputation down_shift`.
        step: &'static str,
        /// The parameter name as written in the TOML config.
        param: &'static str,
        /// What is wrong and what values are allowed.
        problem: String,
    },
    /// The steps of a pipeline config do not fit together (e.g. TMM after a log transform).
    #[error("normalize config: {problem}")]
    Config {
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The layer's value scale is not one the step can work on.
    #[error(
        "{step}: layer '{layer}' is on the '{found}' scale, but this step needs {needed}; {hint}"
    )]
    Scale {
        /// The step.
        step: &'static str,
        /// Layer name.
        layer: String,
        /// The scale found.
        found: &'static str,
        /// The scales accepted.
        needed: &'static str,
        /// How to fix it.
        hint: String,
    },
    /// A layer sample is not in the sample sheet.
    #[error("{step}: sample '{sample}' of layer '{layer}' is not in the sample sheet; add a row for it to the sheet")]
    SampleNotInSheet {
        /// The step.
        step: &'static str,
        /// Layer name.
        layer: String,
        /// The sample id.
        sample: String,
    },
    /// A sample-sheet column the step needs is absent.
    #[error("{step}: the sample sheet has no column '{column}' (it has: {available}); add the column or change the step's '{param}'")]
    MissingColumn {
        /// The step.
        step: &'static str,
        /// The column asked for.
        column: String,
        /// The parameter naming the column.
        param: &'static str,
        /// The sheet's columns, comma-separated.
        available: String,
    },
    /// A sample-sheet cell the step needs is empty or unusable.
    #[error("{step}: sample sheet column '{column}', sample '{sample}': {problem}")]
    SheetValue {
        /// The step.
        step: &'static str,
        /// Column name.
        column: String,
        /// Sample id.
        sample: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// One sample of the layer cannot be processed.
    #[error("{step}: layer '{layer}', sample '{sample}': {problem}")]
    Sample {
        /// The step.
        step: &'static str,
        /// Layer name.
        layer: String,
        /// Sample id.
        sample: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// One cell holds a value the step cannot accept (e.g. a negative count).
    #[error("{step}: layer '{layer}', feature '{feature}', sample '{sample}': {problem}")]
    Cell {
        /// The step.
        step: &'static str,
        /// Layer name.
        layer: String,
        /// Feature id.
        feature: String,
        /// Sample id.
        sample: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// One batch cannot be processed.
    #[error("{step}: batch '{batch}': {problem}")]
    Batch {
        /// The step.
        step: &'static str,
        /// Batch label.
        batch: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The data given to a fitted step does not have the features it was fitted on.
    #[error("{step}: layer '{layer}' does not match the data the step was fitted on: {problem}; transform data with the same features (run the whole fitted pipeline, whose filters select them)")]
    FeatureMismatch {
        /// The step.
        step: &'static str,
        /// Layer name.
        layer: String,
        /// The first difference found.
        problem: String,
    },
    /// The layer as a whole cannot be processed (too few features, samples or batches; a confounded design).
    #[error("{step}: layer '{layer}': {problem}")]
    Layer {
        /// The step.
        step: &'static str,
        /// Layer name.
        layer: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A model formula could not be parsed.
    #[error("formula '{formula}': {problem}")]
    Formula {
        /// The formula as given.
        formula: String,
        /// What is wrong and how to write it instead.
        problem: String,
    },
    /// The design matrix of a formula (or an explicit one) cannot be built.
    #[error("design '{formula}': {problem}")]
    Design {
        /// The formula behind the design (`<matrix>` for an explicit matrix).
        formula: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// An error of the data model (e.g. an invariant of the output assay).
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// Result alias of the preprocessing stage.
pub type Result<T> = std::result::Result<T, NormError>;
