//! The error type of evomics-io: every variant says what, where (file, line, column, sample) and how to fix it.

use std::path::PathBuf;

use thiserror::Error;

/// Errors raised while reading inputs or reading/writing the experiment store.
#[derive(Debug, Error)]
pub enum IoError {
    /// The operating system refused an operation on a path.
    // The OS error is part of the message and deliberately not a `source()`: the CLI prints the
    // whole chain, which would repeat it on a `caused by:` line.
    #[error("{action} '{path}': {error}")]
    Fs {
        /// What was being done ("cannot read", "cannot create directory", …).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A text table could not be parsed at a position.
    #[error("{path}:{line}{col}: {problem}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// `, column 'NAME'` or empty.
        col: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The file's layout is not what the chosen (or detected) format expects.
    #[error("{path}: {problem}")]
    Layout {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// Samples of the sheet and of a matrix do not correspond.
    #[error("layer '{layer}' ({path}): {problem}")]
    SampleMatch {
        /// Layer name.
        layer: String,
        /// The matrix file.
        path: PathBuf,
        /// What does not match and how to fix it.
        problem: String,
    },
    /// A `--layer` specification or reader option is malformed.
    #[error("{0}")]
    Spec(String),
    /// The data model rejected what was read.
    // As for `Fs`, the data-model error is in the message rather than a `source()`.
    #[error("{context}: {error}")]
    Core {
        /// Where (file or layer).
        context: String,
        /// The data-model error.
        error: evomics_core::CoreError,
    },
    /// Parquet encoding or decoding failed.
    #[error("{path}: Parquet error: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// polars' message.
        message: String,
    },
    /// The store's manifest or a stored file is inconsistent.
    #[error("experiment store '{path}': {problem}")]
    Store {
        /// The store directory or file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        problem: String,
    },
}

/// Result alias of evomics-io.
pub type Result<T> = std::result::Result<T, IoError>;

impl IoError {
    /// A file-system error: what was being done, to which path, and the OS error.
    pub fn fs(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IoError::Fs {
            action,
            path: path.into(),
            error: source,
        }
    }

    pub(crate) fn parse(
        path: impl Into<PathBuf>,
        line: u64,
        column: Option<&str>,
        problem: impl Into<String>,
    ) -> Self {
        IoError::Parse {
            path: path.into(),
            line,
            col: column
                .map(|c| format!(", column '{}'", crate::text::clip(c)))
                .unwrap_or_default(),
            problem: problem.into(),
        }
    }

    pub(crate) fn layout(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        IoError::Layout {
            path: path.into(),
            problem: problem.into(),
        }
    }

    pub(crate) fn core(context: impl Into<String>, source: evomics_core::CoreError) -> Self {
        IoError::Core {
            context: context.into(),
            error: source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn os_error_is_said_once() {
        let e = IoError::fs(
            "cannot read",
            "x.tsv",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert_eq!(e.to_string(), "cannot read 'x.tsv': entity not found");
        // A source would make the CLI print the OS error a second time as `caused by:`.
        assert!(e.source().is_none());
    }
}
