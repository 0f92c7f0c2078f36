//! # evomics-io
//!
//! Everything that touches files on the way in and out of evomics:
//!
//! - [`sheet`]: sample sheets from CSV, TSV or XLSX;
//! - [`sdrf`]: SDRF-Proteomics files read as sample sheets, and sample sheets written as SDRF;
//! - [`formats`]: one module per tool output (and the generic wide matrix), with detection;
//! - [`matrix`]: the reader result and its alignment to the sample sheet;
//! - [`ingest`]: sheet + layer files → [`evomics_core::Experiment`] with reports;
//! - [`store`]: the on-disk experiment (Parquet + `manifest.json`), written atomically;
//! - [`parquet`]: Parquet reads that turn a damaged file into an error, never a crash;
//! - [`export`]: wide TSV export;
//! - [`manifest`]: provenance (inputs with SHA-256, settings, seeds).
//!
//! Errors carry the file, line, column or sample and say how to fix the input.

pub mod atomic;
pub mod error;
pub mod export;
pub mod formats;
mod guard;
pub mod ingest;
pub mod manifest;
pub mod matrix;
pub mod output;
pub mod parquet;
pub mod sample_map;
pub mod sdrf;
pub mod sheet;
pub mod spec;
pub mod store;
pub mod text;

pub use error::{IoError, Result};
pub use ingest::{ingest, IngestRequest, LayerIngestReport};
pub use manifest::{InputFile, Manifest};
pub use spec::LayerSpec;
pub use store::{
    read_experiment, read_experiment_fingerprinted, read_experiment_layers, read_manifest,
    write_experiment, write_experiment_with, StoreBuilder,
};
