//! # evomics-stats
//!
//! The `diff` stage: differential statistics of EV cargo between stem-cell sources,
//! conditioning or potency classes.
//!
//! - [`design`]: design matrices from a formula over sample-sheet columns (`~ 0 + source`,
//!   `~ source + batch`, `~ potency_score + batch`), with stated level order and syntactic
//!   coefficient names; samples with a missing covariate are dropped and reported.
//! - [`contrasts`]: contrasts written as expressions (`ADSC - BM_MSC`, `(A + B)/2 - C`).
//! - [`limma`]: limma's moderated linear models — per-feature least squares on each feature's
//!   observed values (`lmFit`), observation weights, donor blocking (`duplicateCorrelation`),
//!   `contrasts.fit`, `eBayes` (trend, robust, the `legacy` prior choice) and `topTable`-style
//!   tables. The numerics are the edge-rs crate (a Rust port of limma, MIT), wrapped so that
//!   evomics types go in and come out; see `docs/methods/statistics.md` for its evaluation
//!   against R limma.
//! - [`mod@voom`]: precision weights for count layers (Law et al. 2014).
//! - [`classical`]: Welch t-test, one-way ANOVA, Pearson/Spearman correlation with a label.
//! - [`adjust`]: BH, BY, Holm and Bonferroni adjustment as R's `p.adjust`.
//!
//! Results are plain structs with one row per feature in layer order; `None` is R's `NA`.
//! The crate does no I/O.

pub mod adjust;
pub mod classical;
pub mod contrasts;
pub mod design;
pub mod error;
pub mod limma;
pub mod voom;

pub use adjust::{p_adjust, AdjustMethod};
pub use classical::{
    correlation_test, labels_from_sheet, numbers_from_sheet, one_way_anova, welch_t_test,
    AnovaTable, CorrelationMethod, CorrelationTable, WelchTable,
};
pub use contrasts::{Contrast, Contrasts};
pub use design::{Design, DesignOptions, DroppedSample, LevelOrder};
pub use error::{Result, StatsError};
pub use limma::{
    duplicate_correlation, lm_fit, Block, CoefTable, ContrastTable, EbayesOptions, FTable,
    FitTable, Legacy, LimmaResult, LimmaSettings, LmFit,
};
pub use voom::{voom, VoomOptions, VoomOutput};
