//! # evomics-sim
//!
//! Simulates realistic cohorts of extracellular-vesicle (EV) cargo from stem-cell sources, with
//! the ground truth kept, so every evomics stage can be tested against known answers:
//!
//! - a nested design: donors within sources (BM-MSC, ADSC, UC-MSC, iMSC, DPSC, SYN-MSC), several
//!   EV preparations per donor, processing batches that cross sources (each batch one isolation
//!   method), producer-cell conditionings, a few "dirty" preparations, and MISEV dose metadata
//!   (`particle_count`, `protein_ug`);
//! - a `proteome` layer of LFQ-like intensities (log-normal around a per-protein base, with
//!   source, donor, conditioning, potency and batch effects) whose missing values follow an
//!   intensity-dependent logistic detection curve (MNAR) plus random dropout (MAR), every missing
//!   cell flagged [`evomics_core::ValueFlag::Missing`];
//! - a `mirna` layer of negative-binomial (gamma–Poisson) read counts with per-miRNA dispersion and
//!   varying library sizes;
//! - a sparse potency signature across both layers that drives a continuous `potency_score`, its
//!   `potency_class` (high/low at the median) and an `alp_activity` readout; sources differ in
//!   mean potency, so potency is partly confounded with source, as in real data.
//!
//! Named features come first (EV markers, contaminant markers, the BM-MSC cargo proteins and the
//! osteogenic miRNAs of the reference review; see [`catalog`]), then synthetic ones.
//!
//! Use: [`SimParams`] (serde, defaults, presets) → [`SimParams::validate`] → [`ValidSimParams::simulate`]
//! (or [`simulate`] for both) → [`SimCohort`]. Every random step draws from its own stream,
//! `derive_seed(seed, "<step>")`, so the same parameters give a bit-identical cohort and changing
//! one layer's size does not move another layer's numbers. The crate does no I/O: the truth is
//! returned as typed [`Table`]s for the CLI to write. The generative model is in
//! `docs/simulator.md`.

pub mod catalog;
mod design;
mod effects;
pub mod error;
pub mod layout;
mod mirna;
pub mod params;
mod proteome;
mod simulate;
pub mod summary;
pub mod truth;

pub use error::{Result, SimError};
pub use layout::maxquant_text;
pub use mirna::MIRNA_LAYER;
pub use params::{
    AssayCoverage, BiofluidContamination, ConditioningSpec, DoseParams, EffectParams,
    IsolationSpec, MirnaParams, PotencyParams, ProteomeParams, PurityParams, SimParams, SourceSpec,
    ValidSimParams,
};
pub use proteome::PROTEOME_LAYER;
pub use simulate::{simulate, SimCohort};
pub use summary::{LayerSummary, SimSummary, SourceSummary};
pub use truth::{
    BatchTruth, Cell, DonorTruth, FeatureCategory, FeatureTruth, MissingCause, SampleTruth, Table,
    Truth,
};
