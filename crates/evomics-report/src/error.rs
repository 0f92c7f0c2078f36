//! The error type of the report crate.

use thiserror::Error;

/// Errors raised while reading or rendering a report input.
#[derive(Debug, Error)]
pub enum ReportError {
    /// A part of the input contradicts another part (lengths, references, ranges).
    #[error("report section '{section}' ({item}): {problem}")]
    Invalid {
        /// Section of the report (`samples`, `qc`, `pca`, …), as named in the JSON input.
        section: &'static str,
        /// Which entry of the section (layer, contrast, model, …).
        item: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The JSON text is not a valid report input.
    #[error(
        "report input is not valid JSON for ReportInput (see docs/report.md for the schema): {0}"
    )]
    Json(#[from] serde_json::Error),
}

/// Result alias of this crate.
pub type Result<T, E = ReportError> = std::result::Result<T, E>;

/// Shorthand used by validation code.
pub(crate) fn invalid(
    section: &'static str,
    item: impl Into<String>,
    problem: impl Into<String>,
) -> ReportError {
    ReportError::Invalid {
        section,
        item: item.into(),
        problem: problem.into(),
    }
}
