//! # evomics-norm
//!
//! The `normalize` stage of evomics: everything between the raw quantities a reader produced
//! and the matrices the statistics and models use, one layer at a time:
//!
//! 1. [`filter`]: feature filters — Perseus valid values per group, edgeR's `filterByExpr`,
//!    minimum counts, contaminants and decoys, zero variance;
//! 2. [`transform`]: log2, edgeR log-CPM (with TMM, upper-quartile or RLE factors), CLR;
//! 3. [`normalize`]: median centring, limma quantile normalization, edgeR TMM and upper
//!    quartile, DESeq2 median of ratios, total count, MISEV dose normalization;
//! 4. [`impute`]: Perseus down-shift, MinDet, feature-wise KNN, QRILC;
//! 5. [`combat`]: sva ComBat, parametric and non-parametric, with covariates, mean-only and a
//!    reference batch, on complete data and with missing values.
//!
//! [`design`] builds design matrices from model formulas (R's `model.matrix`, with
//! interactions); edgeR's `filterByExpr` uses it here, and `evomics-stats` re-exports it for its
//! linear models.
//!
//! Every step follows fit → fitted → transform ([`Fit`], [`Transformer`]): parameters are
//! deserialized from TOML and validated before data is read, fitted on training samples, and the
//! fitted step (serializable, for model files) applies what it learned unchanged to new
//! samples. [`NormalizeConfig`] chains the five stages for one layer and [`FittedPipeline`]
//! applies them; every step reports what it removed, imputed or left uncorrected
//! ([`StepReport`], [`PipelineReport`]).
//!
//! Missing values are data: steps read only cells flagged observed or imputed, never turn a
//! missing cell into 0 or a silent NaN, and carry the flag matrix through; imputed cells become
//! [`evomics_core::ValueFlag::Imputed`]. A below-detection cell keeps its flag through every
//! step (and is filled by imputation like a missing one); its detection-limit value is not
//! carried onto a new scale, so value-changing steps leave NaN in its slot. The crate sees
//! ndarray and core types only, no files.
//! The methods, their references and the agreement with the R oracles are described in
//! `docs/methods/normalization.md`.

pub mod combat;
pub mod design;
pub mod error;
pub mod filter;
pub mod impute;
pub mod libsize;
pub mod normalize;
mod num;
pub mod pipeline;
pub mod stage;
pub mod step;
pub mod transform;

pub use combat::{BatchCorrectionParams, CombatParams, FittedBatchCorrection, FittedCombat};
pub use error::{NormError, Result};
pub use filter::{FilterParams, FittedFilter};
pub use impute::{FittedImputation, ImputationParams};
pub use libsize::{FittedNormFactors, LibrarySizes, NormFactorsParams, TmmParams};
pub use normalize::{FittedNormalization, NormalizationParams};
pub use pipeline::{FittedPipeline, NormalizeConfig, PipelineReport};
pub use stage::{run_normalize, NormalizeResult, NormalizeSpec};
pub use step::{Fit, NoParams, Stage, StepReport, Transformer};
pub use transform::{FittedTransform, TransformParams};
