//! Ground truth of a simulated cohort, and flat tables of it for writing.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// What a feature is, as far as the simulator is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureCategory {
    /// MISEV positive EV marker (CD9, CD63, …).
    EvMarker,
    /// MISEV negative / contaminant marker (CANX, APOA1, …).
    ContaminantMarker,
    /// Named BM-MSC EV cargo protein (FBLN1, MGP, …).
    Cargo,
    /// Named miRNA (miRBase name).
    NamedMirna,
    /// Synthetic feature (`PROT…`, `hsa-miR-sim-…`).
    Synthetic,
}

impl FeatureCategory {
    /// Stable lower-case name, as written in tables and the `category` annotation.
    pub fn name(self) -> &'static str {
        match self {
            FeatureCategory::EvMarker => "ev_marker",
            FeatureCategory::ContaminantMarker => "contaminant_marker",
            FeatureCategory::Cargo => "cargo",
            FeatureCategory::NamedMirna => "named_mirna",
            FeatureCategory::Synthetic => "synthetic",
        }
    }
}

/// Why a proteome cell is missing (or that it is not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum MissingCause {
    /// The cell was observed.
    Observed = 0,
    /// Missing not at random: below the intensity-dependent detection curve (wins when both fire).
    Mnar = 1,
    /// Missing at random: identification dropout independent of intensity.
    Mar = 2,
}

impl MissingCause {
    /// Stable numeric code (0 observed, 1 MNAR, 2 MAR), e.g. for a compact on-disk matrix.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Stable lower-case name: `observed`, `mnar` or `mar`.
    pub fn name(self) -> &'static str {
        match self {
            MissingCause::Observed => "observed",
            MissingCause::Mnar => "mnar",
            MissingCause::Mar => "mar",
        }
    }
}

/// The truth about one feature of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureTruth {
    /// Layer (assay) name: `proteome` or `mirna`.
    pub layer: String,
    /// Feature id in that layer.
    pub feature_id: String,
    /// What the feature is.
    pub category: FeatureCategory,
    /// Base log2 abundance: log2 intensity (proteome) or relative log2 expression (miRNA).
    pub base_log2: f64,
    /// Part of the potency signature.
    pub is_signature: bool,
    /// Effect of one unit of latent potency on the feature (log2); 0 outside the signature.
    pub loading_log2: f64,
    /// Weight of the feature in the potency score (on its z-scored biological abundance); 0 outside.
    pub weight: f64,
    /// Differs between sources (some source effect is non-zero).
    pub is_source_de: bool,
    /// log2 deviation from the base in each source, in [`Truth::sources`] order.
    pub source_effects_log2: Vec<f64>,
    /// Responds to some conditioning.
    pub is_conditioning_de: bool,
    /// log2 effect of each conditioning, in [`Truth::conditionings`] order.
    pub conditioning_effects_log2: Vec<f64>,
    /// Has a feature-specific batch effect.
    pub is_batch_affected: bool,
    /// Feature-specific log2 batch effect in each batch, in [`Truth::batches`] order.
    pub batch_effects_log2: Vec<f64>,
    /// Per-protein MAR dropout rate (proteome only).
    pub mar_rate: Option<f64>,
    /// Negative-binomial dispersion φ (miRNA only).
    pub nb_dispersion: Option<f64>,
    /// Realised share of samples in which the feature is missing (0 for miRNAs).
    pub missing_fraction: f64,
}

/// The truth about one sample (EV preparation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleTruth {
    /// Sample id.
    pub sample_id: String,
    /// Stem-cell source.
    pub source: String,
    /// Donor (nested in source).
    pub donor_id: String,
    /// Processing batch.
    pub batch: String,
    /// Conditioning of the producer cells.
    pub conditioning: String,
    /// Isolation method (one per batch).
    pub isolation_method: String,
    /// A dirty preparation (contaminant markers shifted up by `purity.dirty_shift_log2`).
    pub is_dirty: bool,
    /// log2 carry-over of contaminant markers (isolation method + dirty shift).
    pub contamination_log2: f64,
    /// Latent osteogenic potency u (source + donor + conditioning + residual).
    pub latent_potency: f64,
    /// Noise-free potency score from the signature, on the `potency_score` scale.
    pub signature_score: f64,
    /// Observed potency score (sample sheet).
    pub potency_score: f64,
    /// `high` when `potency_score` is above the cohort median, else `low`.
    pub potency_class: String,
    /// Observed ALP activity (sample sheet).
    pub alp_activity: f64,
    /// Proteome loading offset (log2, amount injected).
    pub loading_offset_log2: f64,
    /// Proteome MNAR midpoint of this run (log2 intensity missing with probability 1/2).
    pub mnar_midpoint_log2: f64,
    /// Target miRNA library size (expected reads).
    pub library_size_target: f64,
    /// Realised miRNA library size (sum of counts).
    pub library_size: f64,
    /// Haemolysed preparation (miR-451a and erythrocyte miRNAs raised).
    pub haemolysed: bool,
    /// Blood-cell-rich preparation (miR-223-3p, miR-142-3p/5p raised).
    pub blood_cell_rich: bool,
    /// The proteome measured this preparation ([`crate::AssayCoverage`]).
    pub in_proteome: bool,
    /// The miRNA assay measured this preparation.
    pub in_mirna: bool,
}

/// The truth about one donor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DonorTruth {
    /// Donor id.
    pub donor_id: String,
    /// Its (single) source.
    pub source: String,
    /// Number of EV preparations from this donor.
    pub n_samples: usize,
    /// Donor random effect on the latent potency.
    pub potency_effect: f64,
}

/// The truth about one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchTruth {
    /// Batch id.
    pub batch: String,
    /// Isolation method used in this batch.
    pub isolation_method: String,
    /// Number of samples.
    pub n_samples: usize,
    /// Sources present, in source order.
    pub sources: Vec<String>,
    /// Global log2 shift of every protein in this batch.
    pub proteome_shift_log2: f64,
}

/// Everything the simulator decided: the answers an analysis should recover.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// Source names, the order of [`FeatureTruth::source_effects_log2`].
    pub sources: Vec<String>,
    /// Conditioning names (first = reference), the order of conditioning effects.
    pub conditionings: Vec<String>,
    /// Batches, the order of batch effects.
    pub batches: Vec<BatchTruth>,
    /// Donors in sheet order.
    pub donors: Vec<DonorTruth>,
    /// Samples in sheet order.
    pub samples: Vec<SampleTruth>,
    /// Every feature: proteome rows first, then miRNA rows, each in layer order.
    pub features: Vec<FeatureTruth>,
    /// Why each proteome cell is missing (features × samples in sheet order, including
    /// preparations the proteome did not measure, whose column says what it would have seen).
    pub proteome_missing_cause: Array2<MissingCause>,
    /// The complete proteome log2 matrix before dropout, when `proteome.keep_complete_log2` is set.
    pub proteome_complete_log2: Option<Array2<f64>>,
}

impl Truth {
    /// The signature features of both layers (proteome first).
    pub fn signature(&self) -> Vec<&FeatureTruth> {
        self.features.iter().filter(|f| f.is_signature).collect()
    }

    /// The truth of one feature.
    pub fn feature(&self, layer: &str, feature_id: &str) -> Option<&FeatureTruth> {
        self.features
            .iter()
            .find(|f| f.layer == layer && f.feature_id == feature_id)
    }

    /// The features of one layer, in layer order.
    pub fn layer_features(&self, layer: &str) -> Vec<&FeatureTruth> {
        self.features.iter().filter(|f| f.layer == layer).collect()
    }

    /// One row per feature: `layer, feature_id, category, base_log2, is_signature, loading_log2,
    /// weight, is_source_de, eff_<source>…, is_conditioning_de, cond_<conditioning>…,
    /// is_batch_affected, batch_<batch>…, mar_rate, nb_dispersion, missing_fraction`.
    pub fn features_table(&self) -> Table {
        let mut columns: Vec<String> = [
            "layer",
            "feature_id",
            "category",
            "base_log2",
            "is_signature",
            "loading_log2",
            "weight",
            "is_source_de",
        ]
        .map(String::from)
        .to_vec();
        columns.extend(self.sources.iter().map(|s| format!("eff_{s}")));
        columns.push("is_conditioning_de".into());
        columns.extend(self.conditionings.iter().map(|c| format!("cond_{c}")));
        columns.push("is_batch_affected".into());
        columns.extend(self.batches.iter().map(|b| format!("batch_{}", b.batch)));
        columns.extend(["mar_rate", "nb_dispersion", "missing_fraction"].map(String::from));
        let rows = self
            .features
            .iter()
            .map(|f| {
                let mut r = vec![
                    Cell::text(&f.layer),
                    Cell::text(&f.feature_id),
                    Cell::text(f.category.name()),
                    Cell::Float(f.base_log2),
                    Cell::Bool(f.is_signature),
                    Cell::Float(f.loading_log2),
                    Cell::Float(f.weight),
                    Cell::Bool(f.is_source_de),
                ];
                r.extend(f.source_effects_log2.iter().map(|&v| Cell::Float(v)));
                r.push(Cell::Bool(f.is_conditioning_de));
                r.extend(f.conditioning_effects_log2.iter().map(|&v| Cell::Float(v)));
                r.push(Cell::Bool(f.is_batch_affected));
                r.extend(f.batch_effects_log2.iter().map(|&v| Cell::Float(v)));
                r.push(Cell::float_or_na(f.mar_rate));
                r.push(Cell::float_or_na(f.nb_dispersion));
                r.push(Cell::Float(f.missing_fraction));
                r
            })
            .collect();
        Table {
            name: "truth_features".into(),
            columns,
            rows,
        }
    }

    /// One row per signature feature: `layer, feature_id, category, weight, loading_log2, direction`.
    pub fn signature_table(&self) -> Table {
        let rows = self
            .signature()
            .into_iter()
            .map(|f| {
                vec![
                    Cell::text(&f.layer),
                    Cell::text(&f.feature_id),
                    Cell::text(f.category.name()),
                    Cell::Float(f.weight),
                    Cell::Float(f.loading_log2),
                    Cell::text(if f.loading_log2 >= 0.0 {
                        "positive"
                    } else {
                        "negative"
                    }),
                ]
            })
            .collect();
        Table::new(
            "truth_signature",
            &[
                "layer",
                "feature_id",
                "category",
                "weight",
                "loading_log2",
                "direction",
            ],
            rows,
        )
    }

    /// One row per sample, with every field of [`SampleTruth`].
    pub fn samples_table(&self) -> Table {
        let rows = self
            .samples
            .iter()
            .map(|s| {
                vec![
                    Cell::text(&s.sample_id),
                    Cell::text(&s.source),
                    Cell::text(&s.donor_id),
                    Cell::text(&s.batch),
                    Cell::text(&s.conditioning),
                    Cell::text(&s.isolation_method),
                    Cell::Bool(s.is_dirty),
                    Cell::Float(s.contamination_log2),
                    Cell::Float(s.latent_potency),
                    Cell::Float(s.signature_score),
                    Cell::Float(s.potency_score),
                    Cell::text(&s.potency_class),
                    Cell::Float(s.alp_activity),
                    Cell::Float(s.loading_offset_log2),
                    Cell::Float(s.mnar_midpoint_log2),
                    Cell::Float(s.library_size_target),
                    Cell::Float(s.library_size),
                    Cell::Bool(s.haemolysed),
                    Cell::Bool(s.blood_cell_rich),
                ]
            })
            .collect();
        Table::new(
            "truth_samples",
            &[
                "sample_id",
                "source",
                "donor_id",
                "batch",
                "conditioning",
                "isolation_method",
                "is_dirty",
                "contamination_log2",
                "latent_potency",
                "signature_score",
                "potency_score",
                "potency_class",
                "alp_activity",
                "loading_offset_log2",
                "mnar_midpoint_log2",
                "library_size_target",
                "library_size",
                "haemolysed",
                "blood_cell_rich",
            ],
            rows,
        )
    }

    /// One row per donor: `donor_id, source, n_samples, potency_effect`.
    pub fn donors_table(&self) -> Table {
        let rows = self
            .donors
            .iter()
            .map(|d| {
                vec![
                    Cell::text(&d.donor_id),
                    Cell::text(&d.source),
                    Cell::Int(d.n_samples as i64),
                    Cell::Float(d.potency_effect),
                ]
            })
            .collect();
        Table::new(
            "truth_donors",
            &["donor_id", "source", "n_samples", "potency_effect"],
            rows,
        )
    }

    /// One row per batch: `batch, isolation_method, n_samples, n_sources, sources, proteome_shift_log2`
    /// (`sources` joined with `;`).
    pub fn batches_table(&self) -> Table {
        let rows = self
            .batches
            .iter()
            .map(|b| {
                vec![
                    Cell::text(&b.batch),
                    Cell::text(&b.isolation_method),
                    Cell::Int(b.n_samples as i64),
                    Cell::Int(b.sources.len() as i64),
                    Cell::Text(b.sources.join(";")),
                    Cell::Float(b.proteome_shift_log2),
                ]
            })
            .collect();
        Table::new(
            "truth_batches",
            &[
                "batch",
                "isolation_method",
                "n_samples",
                "n_sources",
                "sources",
                "proteome_shift_log2",
            ],
            rows,
        )
    }

    /// Every truth table: features, signature, samples, donors, batches.
    pub fn tables(&self) -> Vec<Table> {
        vec![
            self.features_table(),
            self.signature_table(),
            self.samples_table(),
            self.donors_table(),
            self.batches_table(),
        ]
    }
}

/// One typed cell of a [`Table`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Cell {
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
    /// Floating-point number.
    Float(f64),
    /// Boolean, rendered `true`/`false`.
    Bool(bool),
    /// No value, rendered `NA`.
    Na,
}

impl Cell {
    fn text(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }

    fn float_or_na(v: Option<f64>) -> Cell {
        v.map_or(Cell::Na, Cell::Float)
    }

    /// The cell as text: numbers in Rust's shortest round-trip form, `NA` for no value.
    pub fn render(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(v) => v.to_string(),
            Cell::Float(v) if v.is_finite() => evomics_core::format_float(*v).unwrap_or_default(),
            Cell::Float(_) | Cell::Na => "NA".into(),
            Cell::Bool(b) => b.to_string(),
        }
    }
}

/// A flat, typed table (a header plus rows), ready for a writer to turn into TSV or Parquet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Suggested file stem (e.g. `truth_features`).
    pub name: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows; each has one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    fn new(name: &str, columns: &[&str], rows: Vec<Vec<Cell>>) -> Table {
        Table {
            name: name.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows,
        }
    }

    /// The table as tab-separated text with a header line and a trailing newline.
    pub fn to_tsv(&self) -> String {
        let mut out = self.columns.join("\t");
        out.push('\n');
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(Cell::render).collect();
            out.push_str(&cells.join("\t"));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_render() {
        assert_eq!(Cell::Float(0.5).render(), "0.5");
        assert_eq!(Cell::Float(f64::NAN).render(), "NA");
        assert_eq!(Cell::Na.render(), "NA");
        assert_eq!(Cell::Bool(true).render(), "true");
        assert_eq!(Cell::Int(-3).render(), "-3");
        let t = Table::new("t", &["a", "b"], vec![vec![Cell::text("x"), Cell::Int(1)]]);
        assert_eq!(t.to_tsv(), "a\tb\nx\t1\n");
    }

    #[test]
    fn category_names() {
        assert_eq!(FeatureCategory::EvMarker.name(), "ev_marker");
        assert_eq!(FeatureCategory::Synthetic.name(), "synthetic");
        assert_eq!(MissingCause::Mnar.code(), 1);
        assert_eq!(MissingCause::Mar.name(), "mar");
    }
}
