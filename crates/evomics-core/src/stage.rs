//! What every stage result has in common: its output tables, its stage name and result version,
//! and the messages it has for the user.
//!
//! A stage is a library call `run_<stage>(&Experiment, &Config) -> Result` in its crate; the
//! result is plain typed data (serde) that knows its tables ([`StageTables`]). `evomics-io`
//! writes the tables and the result document; the CLI and `evomics run` only call and write.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::table::Table;

/// A typed result that knows its output tables.
pub trait StageTables {
    /// The output tables, in a fixed order (file stems are unique).
    fn tables(&self) -> Vec<Table>;
}

/// A stage result: tables, a stable stage name and a result version that is bumped whenever a
/// reader of an older result document would misread it.
pub trait StageResult: StageTables + Serialize + DeserializeOwned {
    /// The stage name (`qc`, `diff`, …).
    const STAGE: &'static str;
    /// Version of the result document.
    const VERSION: u32;

    /// What the user should read on the terminal (info lines and warnings), in order.
    fn messages(&self) -> Vec<Message>;
}

/// How much a message matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Progress and results (hidden by `--quiet`).
    Info,
    /// Something that changes or qualifies the results (always shown).
    Warning,
}

/// A line for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Info or warning.
    pub level: Level,
    /// The text, one line (indented continuation lines are allowed).
    pub text: String,
}

impl Message {
    /// An info line.
    pub fn info(text: impl Into<String>) -> Message {
        Message {
            level: Level::Info,
            text: text.into(),
        }
    }

    /// A warning.
    pub fn warn(text: impl Into<String>) -> Message {
        Message {
            level: Level::Warning,
            text: text.into(),
        }
    }
}
