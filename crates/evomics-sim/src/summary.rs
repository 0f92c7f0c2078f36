//! Realised summary numbers of a simulated cohort (for logs, manifests and sanity checks).

use serde::{Deserialize, Serialize};

/// Realised numbers of one layer. `observed + missing` equals `n_features × n_samples`, and both
/// equal the assay's flag counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerSummary {
    /// Layer (assay) name.
    pub layer: String,
    /// Number of features.
    pub n_features: usize,
    /// Number of samples.
    pub n_samples: usize,
    /// Cells flagged observed.
    pub observed: usize,
    /// Cells flagged missing.
    pub missing: usize,
    /// `missing / (n_features × n_samples)`.
    pub missing_fraction: f64,
    /// Missing cells caused by the intensity-dependent (MNAR) detection curve.
    pub mnar_missing: usize,
    /// Missing cells caused by random (MAR) dropout only.
    pub mar_missing: usize,
    /// `mnar_missing / (n_features × n_samples)`: the MNAR share of all cells.
    pub mnar_fraction: f64,
    /// Observed cells equal to 0 (miRNA counts; 0 is an observed count, not a missing value).
    pub zero_count: usize,
    /// `zero_count / (n_features × n_samples)`.
    pub zero_fraction: f64,
    /// Smallest realised library size (sum of counts; count layers only).
    pub library_size_min: Option<f64>,
    /// Largest realised library size (count layers only).
    pub library_size_max: Option<f64>,
}

/// Samples and donors of one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSummary {
    /// Source name.
    pub source: String,
    /// Number of samples.
    pub n_samples: usize,
    /// Number of donors.
    pub n_donors: usize,
}

/// Realised numbers of a cohort.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimSummary {
    /// The seed the cohort was made with.
    pub seed: u64,
    /// Number of samples.
    pub n_samples: usize,
    /// Number of donors.
    pub n_donors: usize,
    /// Number of batches.
    pub n_batches: usize,
    /// Number of dirty preparations.
    pub n_dirty: usize,
    /// Number of samples in potency class `high`.
    pub n_high: usize,
    /// Samples and donors per source, in source order.
    pub sources: Vec<SourceSummary>,
    /// One entry per layer, in the order `proteome`, `mirna`.
    pub layers: Vec<LayerSummary>,
}

impl SimSummary {
    /// The summary of one layer.
    pub fn layer(&self, name: &str) -> Option<&LayerSummary> {
        self.layers.iter().find(|l| l.layer == name)
    }
}

pub(crate) fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}
