//! Design matrices from a model formula over sample-sheet columns, as R's `model.matrix`:
//! `~ 0 + source`, `~ source + batch`, `~ potency_score + batch`, interactions `a:b` and
//! `a*b` (`~ 0 + Cell_type:Differentiation` is limma's cell-means model).
//!
//! The formula engine lives in `evomics_norm::design`, where preprocessing steps that need a
//! design (edgeR's `filterByExpr`) use it too; this module re-exports it unchanged. Coding,
//! level order, coefficient names and the handling of samples with missing covariates are
//! documented there and in `docs/methods/statistics.md`.

pub use evomics_norm::design::{
    syntactic_name, Design, DesignOptions, DesignTerm, DroppedSample, LevelOrder, TermCoding,
    TermComponent,
};
