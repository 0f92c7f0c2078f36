//! The error type of the machine-learning stage.

use evomics_core::CoreError;
use evomics_norm::NormError;
use thiserror::Error;

/// Everything that can go wrong in dimensionality reduction, clustering, model fitting,
/// cross-validation and model persistence.
///
/// Every variant says what is wrong and, where there is one, how to fix it.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MlError {
    /// A parameter is outside its domain; raised before any data is read.
    #[error("{what}: parameter '{param}' {problem}")]
    InvalidParam {
        /// The method, e.g. `k-means` or `elastic net`.
        what: &'static str,
        /// The parameter name as written in the config.
        param: &'static str,
        /// What is wrong and what values are allowed.
        problem: String,
    },
    /// The data do not fit the method (shape, too few samples, constant input).
    #[error("{what}: {problem}")]
    Data {
        /// The method or step.
        what: &'static str,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A matrix cell has no value (missing or below detection) or is not finite; models take
    /// complete matrices, so missing values must be imputed or filtered first.
    #[error("{what}: layer '{layer}', feature '{feature}', sample '{sample}' has no usable value ({flag}); models need a complete matrix: add an imputation step or a filter that keeps only complete features to the layer's preprocessing")]
    MissingValue {
        /// The method or step.
        what: &'static str,
        /// Layer name.
        layer: String,
        /// Feature id.
        feature: String,
        /// Sample id.
        sample: String,
        /// The cell's flag or `non-finite`.
        flag: String,
    },
    /// A sample-sheet column is absent or cannot serve as asked (target, group, stratum).
    #[error("sample sheet column '{column}': {problem}")]
    Column {
        /// Column name.
        column: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A cross-validation design cannot be built from the data.
    #[error("cross-validation: {problem}{}", largest_feasible_k.map(|k| format!("; the largest feasible number of folds is {k}")).unwrap_or_default())]
    Folds {
        /// What is wrong.
        problem: String,
        /// The largest k for which the design is feasible, when there is one.
        largest_feasible_k: Option<usize>,
    },
    /// Features a fitted model needs are absent from new data and the saved rule forbids filling them.
    #[error("predict: {n} feature(s) the model needs are absent from layer '{layer}' (first: '{first}'); {hint}")]
    MissingFeatures {
        /// Layer name.
        layer: String,
        /// How many are absent.
        n: usize,
        /// The first absent feature.
        first: String,
        /// How to fix it.
        hint: String,
    },
    /// A model file cannot be read or is of an unsupported version.
    #[error("model file: {problem}")]
    ModelFile {
        /// What is wrong.
        problem: String,
    },
    /// A numerical routine failed (e.g. an eigen decomposition did not converge).
    #[error("{what}: numerical failure: {problem}")]
    Numerical {
        /// The routine.
        what: &'static str,
        /// What happened.
        problem: String,
    },
    /// A preprocessing step failed inside a fold. The step's error is part of the message and
    /// deliberately not exposed as `source()`, so that error-chain printers do not repeat it.
    #[error("preprocessing{context}: {error}")]
    Norm {
        /// Where (e.g. " of layer 'proteome' in repeat 1, fold 3").
        context: String,
        /// The step's error.
        error: Box<NormError>,
    },
    /// The data model rejected an operation.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// An error raised through linfa's traits.
    #[error("linfa: {0}")]
    Linfa(String),
}

impl From<NormError> for MlError {
    fn from(source: NormError) -> Self {
        MlError::Norm {
            context: String::new(),
            error: Box::new(source),
        }
    }
}

impl From<linfa::Error> for MlError {
    fn from(e: linfa::Error) -> Self {
        MlError::Linfa(e.to_string())
    }
}

/// Result alias of the machine-learning stage.
pub type Result<T> = std::result::Result<T, MlError>;

/// `Err(InvalidParam)` unless `ok`.
pub(crate) fn ensure(
    ok: bool,
    what: &'static str,
    param: &'static str,
    problem: impl FnOnce() -> String,
) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(MlError::InvalidParam {
            what,
            param,
            problem: problem(),
        })
    }
}

/// A data error.
pub(crate) fn data_err(what: &'static str, problem: impl Into<String>) -> MlError {
    MlError::Data {
        what,
        problem: problem.into(),
    }
}
