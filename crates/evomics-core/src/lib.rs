//! # evomics-core
//!
//! The data model every evomics stage shares:
//!
//! - [`SampleSheet`]: one row per EV preparation (`sample_id` plus typed known columns such as
//!   `source`, `donor_id`, `batch`, `conditioning`, MISEV dose columns, and any label columns);
//! - [`Assay`]: one omics layer, a dense features × samples `f64` matrix together with a
//!   [`ValueFlag`] per cell (observed, missing, imputed, below detection), so missingness is
//!   explicit and travels through every step;
//! - [`Experiment`]: the sheet plus named layers aligned on `sample_id`;
//! - [`rng`]: the seeded generator every stochastic step uses;
//! - [`num`]: the R-parity numeric kernels (mean, var, type-7 quantile, median, mad, average
//!   ranks, Pearson/Spearman, approx), each written once;
//! - [`cells`]: whole-matrix passes over a layer's values and flags, in row blocks on rayon's
//!   workers;
//! - [`table`] and [`stage`]: typed output tables and what every stage result has in common
//!   ([`StageResult`]); `evomics-io` writes them as TSV, Parquet and JSON.
//!
//! The crate has no I/O; `evomics-io` reads and writes these types.

pub mod assay;
pub mod cells;
pub mod error;
pub mod exclude;
pub mod experiment;
pub mod flags;
pub mod num;
pub mod rng;
pub mod scale;
pub mod sheet;
pub mod stage;
pub mod table;
pub mod vocab;

#[doc(hidden)]
pub use serde as __serde;

pub use assay::{Assay, AssayFingerprint, Features, LayerKind, ValueScale};
pub use error::{CoreError, Result};
pub use exclude::{Exclude, ExcludeRules};
pub use experiment::{Experiment, LayerOverlap};
pub use flags::{FeatureFlags, FlagCounts, ValueFlag};
pub use sheet::{Column, ColumnValues, SampleSheet};
pub use stage::{Level, Message, StageResult, StageTables};
pub use table::{format_float, Cell, Kind, Table};
