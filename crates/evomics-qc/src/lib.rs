//! # evomics-qc
//!
//! The QC stage: [`run_qc`] (settings [`QcConfig`], result [`QcResult`] with its tables), built
//! from pure functions over [`evomics_core`] types:
//!
//! - [`sample_qc`]: per sample, features quantified, missing fraction, total intensity or
//!   library size, median and IQR of log2 values (the transform follows the layer scale, see
//!   [`LogBasis`]), Pearson correlation to the cohort median profile, for count layers library
//!   size and detected features (count > 0), and outlier flags with reasons — robust z-scores
//!   for intensity layers, scater's log library size / log detected-feature MAD rules for count
//!   layers;
//! - [`feature_qc`]: per feature, observed fraction overall and per group of a sheet column
//!   (and, for count layers, the detected fraction), mean/median log abundance and CV;
//! - [`purity_gate`]: the MISEV2018/2023 purity gate for proteome layers — presence of
//!   transmembrane (category 1) and cytosolic (category 2) EV markers and the intensity share of
//!   co-isolates (category 3) and other-compartment proteins (category 4) — giving each sample
//!   pass/warn/fail with reasons;
//! - [`biofluid_check`]: biofluid contamination checks for miRNA layers — haemolysis
//!   (log2 miR-451a / miR-23a-3p on CPM, Blondal et al. 2013) and the read share of blood-cell
//!   miRNAs (Pritchard et al. 2012) — with pass/warn/fail per sample, scoped by the sheet's
//!   `biofluid` column;
//! - [`dose_qc`]: protein per particle and the Webber & Clayton (2013) particles-per-µg purity
//!   ratio from the sheet's MISEV dose columns.
//!
//! Parameters are serde structs with defaults that reject unknown fields, validated before any
//! data is read. Methods and thresholds are described in `docs/methods/qc-and-panels.md`.

pub mod biofluid;
pub mod dose;
pub mod error;
pub mod feature;
pub mod purity;
pub mod sample;
pub mod stage;
pub mod stats;

pub use biofluid::{
    biofluid_check, BiofluidParams, BiofluidReport, BiofluidScope, SampleBiofluid,
    BLOOD_CELL_MIRNAS, HAEMOLYSIS_MARKER, HAEMOLYSIS_REFERENCE,
};
pub use dose::{dose_qc, DoseParams, DosePurity, DoseQc, WEBBER_CLAYTON_2013};
pub use error::{QcError, Result};
pub use feature::{feature_qc, FeatureQc, FeatureQcReport, NO_GROUP};
pub use purity::{
    purity_gate, CategoryEvidence, MarkerFeature, PurityGate, PurityParams, PurityReport,
    SamplePurity, Verdict,
};
pub use sample::{sample_qc, CountLimits, MadLimit, SampleQc, SampleQcParams, SampleQcReport};
pub use stage::{run_qc, LayerQc, QcConfig, QcResult, QcSummary};
pub use stats::LogBasis;
