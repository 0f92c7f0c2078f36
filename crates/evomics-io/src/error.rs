//! The error type of evomics-io: every variant says what, where (file, line, column, sample) and how to fix it.

use std::path::PathBuf;

use thiserror::Error;

/// Message text with control characters from inputs escaped (`\u{1b}`), line breaks kept.
fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    crate::text::escape_message(s)
}

/// Errors raised while reading inputs or reading/writing the experiment store.
///
/// Every message is printed with control characters (ESC, BEL, NUL, …) that came from an input
/// escaped, so a hostile cell cannot drive the terminal.
#[derive(Debug, Error)]
pub enum IoError {
    /// The operating system refused an operation on a path.
    // The OS error is part of the message and deliberately not a `source()`: the CLI prints the
    // whole chain, which would repeat it on a `caused by:` line.
    #[error("{action} '{}': {error}", esc(&.path.display().to_string()))]
    Fs {
        /// What was being done ("cannot read", "cannot create directory", …).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A text table could not be parsed at a position.
    #[error("{}:{line}{col}: {}", esc(&.path.display().to_string()), esc(.problem))]
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
    #[error("{}: {}", esc(&.path.display().to_string()), esc(.problem))]
    Layout {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// Samples of the sheet and of a matrix do not correspond.
    #[error("layer '{}' ({}): {}", esc(.layer), esc(&.path.display().to_string()), esc(.problem))]
    SampleMatch {
        /// Layer name.
        layer: String,
        /// The matrix file.
        path: PathBuf,
        /// What does not match and how to fix it.
        problem: String,
    },
    /// A `--layer` specification or reader option is malformed.
    #[error("{}", esc(.0))]
    Spec(String),
    /// The data model rejected what was read.
    // As for `Fs`, the data-model error is in the message rather than a `source()`.
    #[error("{}: {}", esc(.context), esc(&.error.to_string()))]
    Core {
        /// Where (file or layer).
        context: String,
        /// The data-model error.
        error: evomics_core::CoreError,
    },
    /// Parquet encoding or decoding failed.
    #[error("{}: Parquet error: {}", esc(&.path.display().to_string()), esc(.message))]
    Parquet {
        /// The file.
        path: PathBuf,
        /// polars' message.
        message: String,
    },
    /// An output path that would destroy something: a folder evomics did not write, an input
    /// of the command, or a path with no name of its own (`.`, `..`, `/`).
    #[error("output '{}': {}", esc(&.path.display().to_string()), esc(.problem))]
    Output {
        /// The output path as given.
        path: PathBuf,
        /// What it would destroy and how to choose another.
        problem: String,
    },
    /// The store's manifest or a stored file is inconsistent.
    #[error("experiment store '{}': {}", esc(&.path.display().to_string()), esc(.problem))]
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

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let e = IoError::parse(
            "x\u{7}.tsv",
            3,
            Some("a\u{1b}[2J"),
            "'\u{0}' is not a number\nsecond line",
        );
        let m = e.to_string();
        assert_eq!(
            m,
            "x\\u{7}.tsv:3, column 'a\\u{1b}[2J': '\\u{0}' is not a number\nsecond line"
        );
    }
}
