//! # evomics-ml
//!
//! The `cluster`, `train` and `predict` stages of evomics: dimensionality reduction and
//! clustering of EV cargo profiles, and potency predictors validated without leakage.
//!
//! **Exploration** ([`pca`], [`umap`], [`cluster`]): PCA equal to R `prcomp` (up to sign); UMAP
//! embeddings as umap-learn (seeded, byte-identical for any thread count);
//! hierarchical clustering (Ward.D2, average, complete; Euclidean, 1 − Pearson, 1 − Spearman)
//! cut to k; k-means (k-means++ seeding, seeded restarts, Lloyd or Hartigan); diagonal Gaussian
//! mixtures; silhouettes and the gap statistic to choose k; agreement with a labelling (ARI,
//! NMI). Features are clustered by passing the transposed matrix.
//!
//! **Potency models** ([`data`], [`preprocess`], [`models`], [`cv`], [`evaluate`],
//! [`metrics`], [`conformal`], [`persist`]): one or more layers joined on `sample_id`
//! ([`data::Dataset`]) and a class or numeric sheet column as target; a preprocessing
//! ([`preprocess::PreprocessConfig`]: evomics-norm pipelines per layer, univariate feature
//! selection, feature and block scaling) fitted inside every training fold; elastic-net
//! logistic/multinomial/Gaussian models (glmnet, with strong-rule screening), random forests
//! and gradient boosting on histogram-binned features, linear SVMs with Platt scaling, k-NN and
//! PLS regression; stratified, repeated, donor-grouped and leave-one-group-out CV with nested
//! tuning, of one model or of several on shared folds with paired comparisons (corrected
//! resampled t-test);
//! ROC/PR AUC, balanced accuracy, MCC, Brier, calibration, R², RMSE, MAE, Spearman; permutation
//! tests (also within source), leave-one-source-out scores, importance and selection stability,
//! learning curves, conformal sets and intervals; versioned model files that predict new EV
//! preparations with features aligned by name.
//!
//! Conventions: matrices are samples × features (`ndarray` 0.16, as linfa); parameters are
//! validated before data are read (`Params` → validated → `fit` → fitted → `predict` /
//! `transform`, linfa's [`linfa::ParamGuard`] and [`linfa::traits::Fit`] where they apply, see
//! [`linfa_compat`]); models take complete matrices and never fill missing values — imputation
//! or filtering belongs to the layer pipelines, fitted inside the folds; every random step takes
//! a seed (ChaCha8 via [`evomics_core::rng`]) and results are bit-identical for a seed,
//! whatever the thread count. Methods, references, the CV design, the leakage guarantees and
//! the numbers observed on the R oracles and simulated cohorts are in `docs/methods/ml.md`.

// Index loops mirror the formulas of the cited papers, so numeric code keeps them.
#![allow(clippy::needless_range_loop)]

pub mod cluster;
pub mod conformal;
pub mod cv;
pub mod data;
mod eigen;
pub mod error;
pub mod evaluate;
pub mod linfa_compat;
pub mod matrix;
pub mod metrics;
pub mod models;
pub mod pca;
pub mod persist;
pub mod preprocess;
pub mod stages;
pub mod umap;

pub use error::{MlError, Result};

/// Implement linfa's [`linfa::ParamGuard`] for a parameter struct with a `validate()` method:
/// the checked parameters are the parameters themselves, validated before any data is read.
#[macro_export]
#[doc(hidden)]
macro_rules! param_guard {
    ($t:ty) => {
        impl linfa::ParamGuard for $t {
            type Checked = $t;
            type Error = $crate::error::MlError;

            fn check_ref(&self) -> std::result::Result<&Self::Checked, Self::Error> {
                self.validate()?;
                Ok(self)
            }

            fn check(self) -> std::result::Result<Self::Checked, Self::Error> {
                self.validate()?;
                Ok(self)
            }
        }
    };
}
