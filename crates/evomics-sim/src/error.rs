//! The error type of the simulator.

use evomics_core::CoreError;
use thiserror::Error;

/// Errors raised while validating parameters or assembling a simulated cohort.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SimError {
    /// A parameter is out of range or inconsistent with another one.
    #[error("simulation parameter `{param}`: {problem}")]
    InvalidParam {
        /// The parameter, as spelled in a config file (e.g. `sources[2].name`, `mirna.library_size`).
        param: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The data model rejected the generated cohort (a bug in the simulator, not in the input).
    #[error("building the simulated cohort failed (please report this): {0}")]
    Core(#[from] CoreError),
}

impl SimError {
    pub(crate) fn param(param: impl Into<String>, problem: impl Into<String>) -> SimError {
        SimError::InvalidParam {
            param: param.into(),
            problem: problem.into(),
        }
    }
}

/// Result alias of the simulator.
pub type Result<T> = std::result::Result<T, SimError>;
