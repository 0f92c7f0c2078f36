//! The error type of evomics-io: every variant says what, where (file, line, column, sample) and how to fix it.

use std::path::PathBuf;

use thiserror::Error;

/// Errors raised while reading inputs or reading/writing the experiment store.
#[derive(Debug, Error)]
pub enum IoError {
    /// The operating system refused an operation on a path.
    #[error("{action} '{path}': {source}")]
    Fs {
        /// What was being done ("cannot read", "cannot create directory", …).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
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
    #[error("{context}: {source}")]
    Core {
        /// Where (file or layer).
        context: String,
        /// The data-model error.
        #[source]
        source: evomics_core::CoreError,
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
    pub(crate) fn fs(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        IoError::Fs {
            action,
            path: path.into(),
            source,
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
                .map(|c| format!(", column '{c}'"))
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
            source,
        }
    }
}
