//! The error type of the data model.

use thiserror::Error;

/// Errors raised when building or combining the data model.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CoreError {
    /// A matrix does not have the shape its annotations imply.
    #[error("layer '{layer}': {what} has shape {got:?}, expected {expected:?}")]
    Shape {
        /// Layer name.
        layer: String,
        /// Which matrix.
        what: &'static str,
        /// Shape found.
        got: (usize, usize),
        /// Shape expected.
        expected: (usize, usize),
    },
    /// An id occurs twice where ids must be unique.
    #[error("{kind} id '{id}' occurs more than once{context}; ids must be unique (rename or merge the duplicates)")]
    DuplicateId {
        /// `sample` or `feature`.
        kind: &'static str,
        /// The repeated id.
        id: String,
        /// Where (e.g. " in layer 'proteome'").
        context: String,
    },
    /// A value and its flag disagree (e.g. an observed cell that is not finite).
    #[error("layer '{layer}', feature '{feature}', sample '{sample}': {problem}")]
    InconsistentCell {
        /// Layer name.
        layer: String,
        /// Feature id.
        feature: String,
        /// Sample id.
        sample: String,
        /// What is wrong.
        problem: String,
    },
    /// A layer names samples that are not in the sample sheet.
    #[error("layer '{layer}' has {n} sample(s) not in the sample sheet (first: '{first}'); add them to the sheet or drop them from the layer")]
    UnknownSamples {
        /// Layer name.
        layer: String,
        /// How many.
        n: usize,
        /// The first unknown sample.
        first: String,
    },
    /// A sample sheet column is malformed.
    #[error("sample sheet column '{column}', sample '{sample}': {problem}")]
    SheetValue {
        /// Column name.
        column: String,
        /// Sample id (or row description).
        sample: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A requested item does not exist.
    #[error("{kind} '{name}' not found{hint}")]
    NotFound {
        /// What kind of item.
        kind: &'static str,
        /// Its name.
        name: String,
        /// Suggestions, e.g. the available names.
        hint: String,
    },
    /// A generic invalid argument with its explanation.
    #[error("{0}")]
    Invalid(String),
}

/// Result alias of the data model.
pub type Result<T> = std::result::Result<T, CoreError>;
