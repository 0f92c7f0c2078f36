//! # evomics-panels
//!
//! Curated EV knowledge that the QC and exploration stages use, embedded as versioned data
//! files with their provenance (each file's header names its source, the source's SHA-256 and
//! how it was derived):
//!
//! - [`mirna`]: miRNA name harmonization to miRBase v22 human mature names
//!   ([`MirnaHarmonizer`]), with explicit statuses for normalized, accession-, precursor- and
//!   arm-resolved, ambiguous, non-human and unknown names, and duplicate groups after mapping;
//! - [`misev`]: the MISEV2018 protein categories (Théry et al. 2018; kept by MISEV2023, Welsh
//!   et al. 2024) at gene level, with UniProt accession/entry-name lookup ([`MisevMarkers`]);
//! - [`panels`]: osteogenic EV cargo panels from Dalle Carbonare et al. (2025) with the
//!   review's primary references ([`PanelSet::osteogenic`]), and a parser for user panels;
//! - [`matching`]: which features of a data layer each panel entry stands for
//!   ([`match_panels`]: miRNA names through miRBase v22, proteins by id or gene symbol).
//!
//! The crate does no file I/O at run time: the tables are compiled in with `include_str!`, and
//! user panels are parsed from text the caller has read.

pub mod error;
pub mod matching;
pub mod mirna;
pub mod misev;
pub mod panels;

pub use error::{PanelError, Result};
pub use matching::{match_panels, MatchedBy, MatchedPanel, PanelMember};
pub use mirna::{
    DuplicateGroup, HarmonizeStatus, Harmonized, HarmonizedList, MatureMirna, MirnaHarmonizer,
    MIRBASE_RELEASE,
};
pub use misev::{
    is_uniprot_accession, IdMatch, MisevCategory, MisevMarker, MisevMarkers, MISEV2018_CITATION,
    MISEV2023_CITATION,
};
pub use panels::{
    Direction, FeatureKind, Mapping, PanelEntry, PanelSet, PANEL_VERSION, REVIEW_CITATION,
};
