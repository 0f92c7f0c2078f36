//! The error type of the curated-knowledge crate.

use thiserror::Error;

/// Errors raised when reading panel tables (embedded or user-supplied).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PanelError {
    /// A line of a panel table is malformed.
    #[error("{source_name}, line {line}: {problem}")]
    Parse {
        /// Which table (e.g. `user panel file`, `embedded osteogenic_panels.tsv`).
        source_name: String,
        /// 1-based line number in the text.
        line: usize,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The same feature is listed twice in one panel.
    #[error("{source_name}, line {line}: feature '{feature}' is already in panel '{panel}' (line {first_line}); list each feature once per panel")]
    DuplicateEntry {
        /// Which table.
        source_name: String,
        /// 1-based line of the repeat.
        line: usize,
        /// 1-based line of the first occurrence.
        first_line: usize,
        /// Panel name.
        panel: String,
        /// Feature name.
        feature: String,
    },
    /// Two panel sets define a panel with the same name.
    #[error("panel '{panel}' is defined both in {first} and in {second}; rename one of them")]
    PanelClash {
        /// Panel name.
        panel: String,
        /// Where it was defined first.
        first: String,
        /// Where it was defined again.
        second: String,
    },
    /// A requested panel does not exist.
    #[error("panel '{name}' not found; available panels: {available}")]
    UnknownPanel {
        /// Requested name.
        name: String,
        /// Comma-separated available names.
        available: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, PanelError>;
