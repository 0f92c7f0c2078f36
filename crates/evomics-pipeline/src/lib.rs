//! # evomics-pipeline
//!
//! The stages of evomics from files to files, and `evomics run`:
//!
//! - [`config`]: one configuration model — every stage's typed config, merged one way (preset <
//!   file < flags, [`config::resolve`]), and the run config ([`config::RunConfig`]) holding
//!   all of them (the older flag-and-`config`-sub-table form is still read);
//! - [`stages`]: each stage read from a store (or an experiment in memory), run through its
//!   library call (`evomics_qc::run_qc`, `evomics_stats::run_diff`, …) and written atomically
//!   with its manifest, typed `result.json` and tables;
//! - [`run`]: a run config planned into stages with content keys, executed in one process with
//!   the experiment handed from stage to stage, unchanged stages reused after their outputs are
//!   verified;
//! - [`report`]: the HTML report from the typed results (in memory, or read back from a run
//!   folder);
//! - [`standards`]: the reporting-standards files of a run (MISEV2023 table, EV-TRACK
//!   checklist, DOME table per model, SDRF-Proteomics sample annotation);
//! - [`demo`]: the embedded demo cohort and pipeline.
//!
//! The command-line crate parses arguments into these configs and calls these functions; it
//! holds no analysis of its own.

pub mod config;
pub mod demo;
pub mod error;
pub mod multiqc;
pub mod names;
pub mod report;
pub mod run;
pub mod simulate;
pub mod stages;
pub mod standards;
pub mod train_flags;

pub use error::{PipelineError, Result};
