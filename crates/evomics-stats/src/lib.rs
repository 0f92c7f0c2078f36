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
//! - [`mod@voom`]: precision weights for count layers (Law et al. 2014), on edgeR's normalized
//!   library sizes (TMM by default), with limma's two-pass recipe under donor blocking.
//! - [`classical`]: Welch t-test, one-way ANOVA, Pearson/Spearman correlation with a label.
//! - [`adjust`]: BH, BY, Holm and Bonferroni adjustment as R's `p.adjust`.
//! - [`explore`]: per-group signatures for the `explore` stage — one-vs-rest moderated
//!   statistics on `~ 0 + group` (each group minus the mean of the other groups) and top markers.
//! - [`varpart`]: variance partition per feature (Hoffman & Schadt 2016): all factors as random
//!   intercepts, fitted by ML or REML as lme4, and the summary across features.
//! - [`panel_scores`]: per-sample panel scores, mean z-score and singscore (Foroutan et al. 2018).
//! - [`enrichment`]: panel enrichment of a result — hypergeometric on a cut-off and limma's
//!   `cameraPR` (Wu & Smyth 2012) on the whole ranked list.
//!
//! - [`stages`]: the `diff` and `explore` stages as library calls ([`run_diff`],
//!   [`run_explore`]) with typed configs and results that know their tables.
//!
//! Results are plain structs with one row per feature in layer order; `None` is R's `NA`.
//! The crate does no I/O.

pub mod adjust;
mod block;
mod cell_means;
pub mod classical;
pub mod constant;
pub mod contrasts;
pub mod design;
pub mod detection;
pub mod enrichment;
pub mod error;
pub mod explore;
pub mod limma;
pub mod panel_scores;
pub mod stages;
pub mod varpart;
pub mod voom;

pub use adjust::{p_adjust, AdjustMethod};
pub use classical::{
    correlation_test, labels_from_sheet, numbers_from_sheet, one_way_anova, welch_t_test,
    AnovaTable, CorrelationMethod, CorrelationTable, WelchTable,
};
pub use contrasts::{Contrast, Contrasts};
pub use design::{Design, DesignOptions, DroppedSample, LevelOrder};
pub use enrichment::{camera_pr, hypergeometric_upper, CameraDirection, CameraRow};
pub use error::{Result, StatsError};
pub use explore::{one_vs_rest, top_markers, Marker, MarkerDirection, OneVsRest, OneVsRestOptions};
pub use limma::{
    duplicate_correlation, duplicate_correlation_detail, lm_fit, lm_fit_measured, Block, CoefTable,
    ContrastTable, DuplicateCorrelation, EbayesOptions, ExcludedFeature, FTable, FitTable, Legacy,
    LimmaResult, LimmaSettings, LmFit,
};
pub use panel_scores::{panel_scores, FeatureSet, PanelScoreRow};
pub use stages::diff::{run_diff, DiffConfig, DiffResult, VoomChoice};
pub use stages::explore::{run_explore, ExploreConfig, ExploreResult};
pub use varpart::{
    variance_partition, VarPartMethod, VarPartOptions, VarPartRow, VarPartSummary,
    VariancePartition,
};
pub use voom::{
    voom, voom_libraries, voom_lm_fit, voom_with_libraries, VoomCorrelations, VoomFit,
    VoomFitOptions, VoomOptions, VoomOutput,
};
