//! The report input: everything the report shows, gathered by the caller from stage outputs.
//!
//! Every section is optional: a missing key in the JSON (or an empty list / `None`) leaves the
//! section out of the report, so a partial run still renders. Unknown keys are rejected so that
//! a misspelt field is reported instead of silently dropped.

use std::collections::BTreeSet;

use evomics_core::{LayerKind, ValueScale};
use serde::{Deserialize, Serialize};

use crate::error::{invalid, Result};

/// Everything the report shows. Build it from stage outputs and pass it to [`crate::render`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportInput {
    /// Title, version, date, inputs and layers (section 1).
    pub header: Header,
    /// Sample annotations that colour and group the plots (sheet columns such as `source`).
    pub samples: Option<SampleTable>,
    /// Per-sample QC, one entry per layer (section 2).
    pub qc: Vec<QcLayer>,
    /// PCA scores, one entry per layer (section 3).
    pub pca: Vec<PcaResult>,
    /// Sample × sample matrices in dendrogram order, one entry per layer (section 4).
    pub sample_clustering: Vec<SampleHeatmap>,
    /// Clusterings of the samples (`cluster`), one entry per layer (section 4).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterSummary>,
    /// Differential statistics, one entry per layer and contrast (section 5).
    pub differential: Vec<ContrastResult>,
    /// Top markers of every group (`explore`), one entry per layer and grouping column
    /// (section 6).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub markers: Vec<MarkerSet>,
    /// Panel scores by group and panel enrichment (section 7).
    pub panels: Option<PanelSection>,
    /// Variance partition, one entry per layer (section 8).
    pub variance_partition: Vec<VariancePartition>,
    /// Potency models (section 9).
    pub potency: Vec<PotencyModel>,
    /// Methods text and references (section 10).
    pub methods: Option<Methods>,
}

/// Section 1: what was run, on what.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Header {
    /// Report title; empty means "evomics report".
    pub title: String,
    /// Version of the evomics tool that produced the results.
    pub evomics_version: String,
    /// Date of the run as the caller wants it shown (the report never reads the clock).
    pub date: String,
    /// The command line or config that produced the run.
    pub command: Option<String>,
    /// Input files with their SHA-256.
    pub inputs: Vec<InputFile>,
    /// One row per omics layer.
    pub layers: Vec<LayerSummary>,
    /// Messages the reader must see (skipped stages, dropped samples, …).
    pub notes: Vec<String>,
}

/// One input file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputFile {
    /// Role of the file (`sample sheet`, `proteome`, `config`, …).
    #[serde(default)]
    pub role: Option<String>,
    /// Path as given on the command line.
    pub path: String,
    /// Hex SHA-256 of the file contents.
    pub sha256: String,
}

/// One omics layer in the layers summary table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSummary {
    /// Layer name.
    pub name: String,
    /// Kind of measurement.
    pub kind: LayerKind,
    /// Scale of the stored values.
    pub scale: ValueScale,
    /// Number of features.
    pub n_features: usize,
    /// Number of samples.
    pub n_samples: usize,
    /// Fraction of cells without a value (0–1).
    #[serde(default)]
    pub missing_fraction: Option<f64>,
    /// Processing applied (e.g. `log2, median-centred, MinProb-imputed`).
    #[serde(default)]
    pub processing: Option<String>,
}

/// Sample annotations, one row per sample; plots look colours and groups up here so that a level
/// (say `source = BM-MSC`) has the same colour in every plot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleTable {
    /// Column names (e.g. `source`, `batch`, `conditioning`).
    pub columns: Vec<String>,
    /// One row per sample.
    pub rows: Vec<SampleRow>,
}

/// One sample's annotations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleRow {
    /// Sample id.
    pub sample_id: String,
    /// One value per column of [`SampleTable::columns`]; `None` when missing.
    pub values: Vec<Option<String>>,
}

/// Section 2: QC of one layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QcLayer {
    /// Layer name.
    pub layer: String,
    /// Label of [`QcSample::total`] (`Total intensity`, `Library size`); empty means
    /// `Total intensity`.
    pub total_label: String,
    /// Sample column whose levels colour the bars (must be in [`ReportInput::samples`]).
    pub colour_by: Option<String>,
    /// A count layer: library size and detected features are shown instead of missingness,
    /// and the outliers follow the count rules.
    pub counts: bool,
    /// The outlier rules applied to the layer, in words.
    pub outlier_rules: Option<String>,
    /// One row per sample.
    pub samples: Vec<QcSample>,
    /// Per-sample quantiles of the log2 values, as ingested and after normalization.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub distributions: Vec<Distribution>,
    /// Per feature: the share of samples that measured it against its mean log2 abundance
    /// (the missingness pattern).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub detection: Vec<FeatureDetection>,
}

/// The distribution of one layer's values per sample at one stage of processing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Distribution {
    /// Which values (e.g. `ingested, log2`, `normalized`).
    pub stage: String,
    /// One row per sample, in sample-table order.
    pub samples: Vec<SampleQuantiles>,
}

/// Quantiles (type 7) of one sample's values with a value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleQuantiles {
    /// Sample id.
    pub sample_id: String,
    /// 5th percentile.
    pub q05: f64,
    /// First quartile.
    pub q25: f64,
    /// Median.
    pub q50: f64,
    /// Third quartile.
    pub q75: f64,
    /// 95th percentile.
    pub q95: f64,
}

/// One feature's detection and abundance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureDetection {
    /// Feature id.
    pub feature_id: String,
    /// Share of samples with a measured value (0–1).
    pub detected: f64,
    /// Mean log2 abundance over the samples that measured it.
    pub mean: f64,
}

/// QC of one sample in one layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QcSample {
    /// Sample id.
    pub sample_id: String,
    /// Features with an observed value.
    pub n_observed: Option<usize>,
    /// Fraction of features without a value (0–1).
    pub missing_fraction: Option<f64>,
    /// Total intensity or library size.
    pub total: Option<f64>,
    /// Count layers: features detected (count > 0).
    pub detected: Option<usize>,
    /// Count layers: detected features / features (0–1).
    pub detected_fraction: Option<f64>,
    /// Whether QC flagged the sample as an outlier.
    pub outlier: bool,
    /// Why it was flagged.
    pub outlier_reasons: Vec<String>,
    /// MISEV purity gate outcome (proteome layers).
    pub purity: Option<Purity>,
}

/// MISEV purity gate outcome of one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purity {
    /// The verdict.
    pub verdict: Verdict,
    /// Reasons (empty for a clean pass).
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// Purity gate verdict (serialized as `pass`, `warn`, `fail`, as evomics-qc writes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// All rules met.
    Pass,
    /// A share exceeds its warn threshold.
    Warn,
    /// A required marker class is absent or a share exceeds its fail threshold.
    Fail,
}

impl Verdict {
    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

/// Section 3: PCA scores of one layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PcaResult {
    /// Layer name.
    pub layer: String,
    /// Fraction of variance explained per component, PC1 first (0–1); may be longer than 2.
    pub variance_explained: Vec<f64>,
    /// Sample columns to colour by, one panel each; empty gives one uncoloured panel.
    pub colour_by: Vec<String>,
    /// One point per sample.
    pub points: Vec<PcaPoint>,
    /// How the scores were computed, when not by the `cluster` stage (one sentence).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A UMAP embedding of the same samples, when `cluster` computed one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub umap: Option<EmbeddingView>,
}

/// A two-dimensional embedding of the samples (UMAP) drawn beside the PCA.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingView {
    /// How it was computed and how well its groups match the sheet (one sentence).
    pub description: String,
    /// One point per sample.
    pub points: Vec<EmbeddingPoint>,
}

/// One sample's embedding coordinates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingPoint {
    /// Sample id.
    pub sample_id: String,
    /// First coordinate.
    pub x: f64,
    /// Second coordinate.
    pub y: f64,
}

/// One sample's PCA scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcaPoint {
    /// Sample id.
    pub sample_id: String,
    /// Score on PC1.
    pub pc1: f64,
    /// Score on PC2.
    pub pc2: f64,
}

/// Section 4: a sample × sample matrix in dendrogram order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleHeatmap {
    /// Layer name.
    pub layer: String,
    /// What the cells hold (e.g. `Pearson correlation of log2 values`).
    pub measure: String,
    /// Similarity (high = alike) or distance (low = alike).
    pub kind: MatrixKind,
    /// The tree in words, shown in the caption after `tree:` (e.g. `average linkage on 1 − r`).
    pub linkage: Option<String>,
    /// Sample ids in dendrogram (display) order.
    pub order: Vec<String>,
    /// `order.len()` rows of `order.len()` values, rows and columns in `order`.
    pub values: Vec<Vec<Option<f64>>>,
    /// Optional merge tree: merge `k` joins nodes `left` and `right` at `height` and creates node
    /// `n + k`; nodes `0..n` are the leaves, numbered by their position in `order`.
    pub dendrogram: Vec<Merge>,
    /// Sample columns drawn as annotation strips.
    pub annotate_by: Vec<String>,
}

/// Whether high or low matrix values mean "alike".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatrixKind {
    /// Correlation or other similarity: high values mean alike.
    #[default]
    Similarity,
    /// Distance: low values mean alike.
    Distance,
}

/// One merge of a hierarchical clustering.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Merge {
    /// First node joined.
    pub left: usize,
    /// Second node joined.
    pub right: usize,
    /// Height of the merge.
    pub height: f64,
}

/// Section 4: the clusterings of the samples of one layer, as `cluster` computed them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSummary {
    /// Layer name.
    pub layer: String,
    /// How the samples were clustered, in words (space, distance, linkage, how k was chosen).
    pub description: String,
    /// Sample columns the clusterings are compared with (each must be in
    /// [`ReportInput::samples`]).
    pub by: Vec<String>,
    /// One entry per method, in the stage's order.
    pub methods: Vec<ClusterMethod>,
    /// Agreement of every method with every `by` column.
    pub agreement: Vec<ClusterAgreement>,
}

/// One clustering method's k selection and assignments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterMethod {
    /// Method name (`kmeans`, `hclust`, `gmm`).
    pub method: String,
    /// The k used.
    pub k: usize,
    /// How k was chosen (e.g. `largest mean silhouette`, `gap statistic (firstSEmax)`, `fixed`).
    pub chosen_by: String,
    /// Scores of every candidate k, in increasing k.
    pub selection: Vec<KScoreRow>,
    /// Cluster of every clustered sample (1-based, as R's `cutree`).
    pub assignments: Vec<ClusterAssignment>,
}

/// Scores of one candidate k.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KScoreRow {
    /// Number of clusters.
    pub k: usize,
    /// Mean silhouette width (none for k = 1).
    pub silhouette: Option<f64>,
    /// Gap statistic (none when no reference sets were drawn).
    pub gap: Option<f64>,
    /// Standard error of the gap, s_k.
    pub gap_se: Option<f64>,
}

/// One sample's cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterAssignment {
    /// Sample id.
    pub sample_id: String,
    /// Cluster (1-based).
    pub cluster: usize,
}

/// Agreement of one clustering with one sample column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterAgreement {
    /// Method name.
    pub method: String,
    /// The k used.
    pub k: usize,
    /// Sample column.
    pub column: String,
    /// Samples with a value in the column.
    pub n_samples: usize,
    /// Levels of the column among them.
    pub n_levels: usize,
    /// Adjusted Rand index.
    pub ari: Option<f64>,
    /// Normalized mutual information.
    pub nmi: Option<f64>,
}

/// Section 6: the top markers of every group of one grouping column (one group against the
/// rest), with a z-score heatmap of the strongest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarkerSet {
    /// Layer name.
    pub layer: String,
    /// Grouping column (must be in [`ReportInput::samples`]).
    pub by: String,
    /// Which markers: `up` (higher in the group), `down` or `both`.
    pub direction: String,
    /// Groups in design order.
    pub groups: Vec<String>,
    /// Markers shown in the page per group (default 10); the download has every row.
    pub show_per_group: usize,
    /// Markers of every group, by group and rank.
    pub rows: Vec<MarkerRow>,
    /// z-scores of the strongest markers across the samples, when the values were at hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heatmap: Option<MarkerHeatmap>,
}

impl Default for MarkerSet {
    fn default() -> Self {
        MarkerSet {
            layer: String::new(),
            by: String::new(),
            direction: "up".into(),
            groups: Vec::new(),
            show_per_group: 10,
            rows: Vec::new(),
            heatmap: None,
        }
    }
}

/// One marker of one group (limma `topTable` columns of the group against the rest).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarkerRow {
    /// Group.
    pub group: String,
    /// Rank in the group (1 = strongest).
    pub rank: usize,
    /// Feature id.
    pub feature_id: String,
    /// Display name (gene symbol, miRNA name).
    pub name: Option<String>,
    /// log2 fold change of the group against the mean of the others.
    pub log_fc: Option<f64>,
    /// Mean log abundance.
    pub ave_expr: Option<f64>,
    /// Moderated t.
    pub t: Option<f64>,
    /// P-value.
    pub p_value: Option<f64>,
    /// Adjusted p-value.
    pub adj_p_value: Option<f64>,
}

/// Per-feature z-scores of marker features across samples ordered by group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarkerHeatmap {
    /// Row labels (feature name or id).
    pub features: Vec<String>,
    /// The group each row is a marker of.
    pub feature_groups: Vec<String>,
    /// Sample ids, ordered by group.
    pub samples: Vec<String>,
    /// `features.len()` rows of `samples.len()` z-scores; `None` where the cell had no value.
    pub values: Vec<Vec<Option<f64>>>,
    /// Cells (row, column) whose value was imputed, drawn marked.
    pub imputed: Vec<[usize; 2]>,
}

impl MarkerHeatmap {
    /// One group per feature, one row of values per feature and one value per sample, and
    /// marked cells inside the grid.
    fn check(&self, section: &'static str, item: &str) -> Result<()> {
        let (nr, nc) = (self.features.len(), self.samples.len());
        if self.feature_groups.len() != nr
            || self.values.len() != nr
            || self.values.iter().any(|r| r.len() != nc)
        {
            return Err(invalid(
                section,
                item,
                format!("the heatmap needs {nr} feature group(s) and {nr} rows of {nc} values (one per feature and sample)"),
            ));
        }
        if let Some(c) = self.imputed.iter().find(|c| c[0] >= nr || c[1] >= nc) {
            return Err(invalid(
                section,
                item,
                format!(
                    "imputed cell ({}, {}) lies outside the {nr} × {nc} heatmap",
                    c[0], c[1]
                ),
            ));
        }
        Ok(())
    }
}

/// Section 5: the statistics of one contrast in one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContrastResult {
    /// Layer name.
    pub layer: String,
    /// The differential analysis the contrast belongs to, when the run named several (e.g.
    /// `source` for `[diff.source]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<String>,
    /// Contrast name.
    pub contrast: String,
    /// Contrast expression as written (e.g. `ADSC - BM_MSC`).
    pub expression: Option<String>,
    /// Features with adjusted p below this are significant (default 0.05).
    pub adj_p_threshold: f64,
    /// Significant features must also have |logFC| at least this (default 0).
    pub log_fc_threshold: f64,
    /// How many of the most significant features to label in the volcano (default 10, at most
    /// 100).
    pub label_top: usize,
    /// Rows of the top table shown in the page (default 20); the TSV download has every row.
    pub table_rows: usize,
    /// What the contrast estimates (a log2 fold change, or the slope of a numeric covariate),
    /// which titles the volcano's x axis.
    #[serde(skip_serializing_if = "Coefficient::is_log_fold_change")]
    pub coefficient: Coefficient,
    /// When the layer had imputed cells: whether the fit used them (`use_imputed`); `None`
    /// when nothing was imputed.
    pub imputed_fitted: Option<bool>,
    /// One row per feature.
    pub rows: Vec<DiffRow>,
    /// Present/absent tests of the contrast (Fisher's exact test on detection), when its sides
    /// are groups.
    #[serde(default)]
    pub present_absent: Vec<PresentAbsentRow>,
    /// z-scores of the most significant features across the samples the model fitted, when
    /// any feature is significant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heatmap: Option<ContrastHeatmap>,
}

/// The most significant features of a contrast as z-scores across the fitted samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContrastHeatmap {
    /// The sample column the samples are ordered by: the design's first factor, or the
    /// covariate of a slope; `None` keeps the layer's order.
    pub order_by: Option<String>,
    /// Rows (`feature_groups` holds `up` or `down`), samples and z-scores of the values the
    /// model fitted (log2, or voom's log2-CPM for a count layer).
    pub heatmap: MarkerHeatmap,
}

/// What a contrast's estimate (limma's `logFC` column) is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Coefficient {
    /// A difference of groups on the log2 scale: a log2 fold change.
    #[default]
    LogFoldChange,
    /// The slope of a numeric covariate (or a difference of slopes): log2 units per unit of
    /// the covariate.
    Slope {
        /// The sample column of the covariate (e.g. `potency_score`).
        covariate: String,
    },
    /// Anything else (a group mean, or a mix of group and covariate coefficients), in log2
    /// units.
    Other,
}

impl Coefficient {
    /// True for [`Coefficient::LogFoldChange`].
    pub fn is_log_fold_change(&self) -> bool {
        matches!(self, Coefficient::LogFoldChange)
    }

    /// The axis title of the estimate.
    pub fn axis_title(&self) -> String {
        match self {
            Coefficient::LogFoldChange => "log2 fold change".into(),
            Coefficient::Slope { covariate } => {
                format!("slope (log2 units per unit of {covariate})")
            }
            Coefficient::Other => "estimate (log2 units)".into(),
        }
    }

    /// The short column name of the estimate in tables.
    pub fn column(&self) -> &'static str {
        match self {
            Coefficient::LogFoldChange => "log2FC",
            Coefficient::Slope { .. } => "Slope",
            Coefficient::Other => "Estimate",
        }
    }
}

/// One feature's detection in the two sides of a contrast.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PresentAbsentRow {
    /// Feature id.
    pub feature_id: String,
    /// Samples with a detection on the positive side, of `n_up`.
    pub detected_up: usize,
    /// Samples on the positive side.
    pub n_up: usize,
    /// Samples with a detection on the negative side, of `n_down`.
    pub detected_down: usize,
    /// Samples on the negative side.
    pub n_down: usize,
    /// Fisher exact p-value.
    pub p_value: Option<f64>,
    /// BH-adjusted.
    pub adj_p_value: Option<f64>,
    /// Whether limma gave the feature a p-value.
    pub limma_tested: bool,
}

impl Default for ContrastResult {
    fn default() -> Self {
        ContrastResult {
            layer: String::new(),
            analysis: None,
            contrast: String::new(),
            expression: None,
            adj_p_threshold: 0.05,
            log_fc_threshold: 0.0,
            label_top: 10,
            table_rows: 20,
            coefficient: Coefficient::LogFoldChange,
            imputed_fitted: None,
            rows: Vec::new(),
            present_absent: Vec::new(),
            heatmap: None,
        }
    }
}

/// One feature's statistics in one contrast (limma `topTable` columns).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiffRow {
    /// Feature id.
    pub feature_id: String,
    /// Display name (gene symbol, miRNA name).
    pub name: Option<String>,
    /// log2 fold change.
    pub log_fc: Option<f64>,
    /// Mean log abundance.
    pub ave_expr: Option<f64>,
    /// Moderated t.
    pub t: Option<f64>,
    /// P-value.
    pub p_value: Option<f64>,
    /// Adjusted p-value.
    pub adj_p_value: Option<f64>,
    /// Imputed cells of the feature over the design's samples.
    pub n_imputed: Option<usize>,
}

/// Section 7: panel scores and enrichment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PanelSection {
    /// Per-sample scores of each panel.
    pub scores: Vec<PanelScores>,
    /// How enrichment was tested (e.g. `camera`, `rank-sum on moderated t`).
    pub enrichment_method: Option<String>,
    /// Panel enrichment per contrast.
    pub enrichment: Vec<EnrichmentRow>,
}

/// Scores of one panel for every sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PanelScores {
    /// Panel name.
    pub panel: String,
    /// Layer the panel was scored on.
    pub layer: String,
    /// How the score is computed (e.g. `mean z-score of members`).
    pub method: Option<String>,
    /// Panel members found in the layer.
    pub n_members: Option<usize>,
    /// Sample column that groups the scores (must be in [`ReportInput::samples`]).
    pub group_by: String,
    /// One score per sample.
    pub scores: Vec<SampleScore>,
}

/// One sample's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleScore {
    /// Sample id.
    pub sample_id: String,
    /// Score (`None` when it cannot be computed).
    pub score: Option<f64>,
}

/// Enrichment of one panel in one contrast.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnrichmentRow {
    /// Panel name.
    pub panel: String,
    /// Layer.
    pub layer: String,
    /// Contrast.
    pub contrast: String,
    /// Panel members tested.
    pub n_features: usize,
    /// Direction (`up`, `down`, `mixed`).
    pub direction: Option<String>,
    /// Test statistic.
    pub statistic: Option<f64>,
    /// P-value.
    pub p_value: Option<f64>,
    /// Adjusted p-value.
    pub adj_p_value: Option<f64>,
}

/// Section 8: variance partition of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VariancePartition {
    /// Layer name.
    pub layer: String,
    /// Factor names, residual last by convention; a factor named `Residuals` (any case,
    /// singular or plural) is drawn grey.
    pub factors: Vec<String>,
    /// One row per feature.
    pub features: Vec<VpFeature>,
    /// Features shown as stacked bars, those with the largest explained (non-residual) share
    /// (default 20).
    pub top_features: usize,
}

impl Default for VariancePartition {
    fn default() -> Self {
        VariancePartition {
            layer: String::new(),
            factors: Vec::new(),
            features: Vec::new(),
            top_features: 20,
        }
    }
}

/// Variance fractions of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpFeature {
    /// Feature id.
    pub feature_id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// One fraction per factor (0–1), in [`VariancePartition::factors`] order.
    pub fractions: Vec<Option<f64>>,
}

/// Section 9: one cross-validated potency model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PotencyModel {
    /// Model name (e.g. `elastic-net logistic, proteome`).
    pub name: String,
    /// Target label column.
    pub target: String,
    /// Classification or regression.
    pub task: Task,
    /// Cross-validation scheme in words (e.g. `5-fold grouped by donor_id, 10 repeats`).
    pub cv: Option<String>,
    /// Metrics table.
    pub metrics: Vec<MetricRow>,
    /// Label-permutation test of the headline metric.
    pub permutation: Option<PermutationSummary>,
    /// Pooled out-of-fold ROC curve (classification).
    pub roc: Vec<RocPoint>,
    /// Pooled out-of-fold precision–recall curve (classification).
    pub pr: Vec<PrPoint>,
    /// Share of positives, the no-skill PR baseline.
    pub prevalence: Option<f64>,
    /// Calibration bins of the pooled out-of-fold probabilities (classification).
    pub calibration: Vec<CalibrationBin>,
    /// Out-of-fold predictions (regression: observed against predicted).
    pub predictions: Vec<Prediction>,
    /// ROC curve of each test fold of the first repeat (classification with two classes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fold_roc: Vec<FoldRoc>,
    /// Out-of-fold predicted against observed classes (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confusion: Option<Confusion>,
    /// Feature importance; the 20 largest by absolute value are drawn.
    pub importance: Vec<Importance>,
    /// When the importances are signed coefficients of a linear model: what they are and what
    /// each sign means. Bars then run left or right of zero, coloured by sign.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_importance: Option<SignedImportance>,
    /// Several models compared on the same folds, when the run compared them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<ModelComparison>,
    /// A small release panel beside the full model, when the run selected one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub panel: Option<PanelView>,
}

/// A release panel selected inside the training folds, beside the full model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PanelView {
    /// The final panel's features (gene names where known), in model order.
    pub features: Vec<String>,
    /// Their selection frequency across the training folds (same order).
    pub selection_frequency: Vec<f64>,
    /// The headline metric of the panel's cross-validation.
    pub panel: MetricRow,
    /// The same metric of the full model.
    pub full: MetricRow,
    /// Corrected resampled t-test of full − panel on that metric.
    pub p_value: Option<f64>,
    /// Pipeline steps a panel measured alone cannot reproduce.
    pub not_reproducible: Vec<String>,
}

/// Models cross-validated on the same folds with the same fold preprocessing, and compared in
/// pairs by the corrected resampled t-test (Nadeau & Bengio 2003).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelComparison {
    /// The metric drawn per fold and tested in `pairs` (the headline metric).
    pub metric: String,
    /// The model kept.
    pub selected: String,
    /// How it was chosen (e.g. `pooled roc_auc (higher is better)`).
    pub selected_by: String,
    /// The models, in config order.
    pub models: Vec<ComparedModel>,
    /// Every pair of models on `metric`.
    pub pairs: Vec<ModelPair>,
}

/// One model of a comparison.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComparedModel {
    /// Name in the comparison.
    pub name: String,
    /// Model kind (`elastic_net`, `linear_svm`, …).
    pub kind: String,
    /// Its metrics.
    pub metrics: Vec<MetricRow>,
    /// The comparison metric per split, in split order (`None` where undefined).
    pub folds: Vec<Option<f64>>,
}

/// Two models compared on one metric over the shared splits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelPair {
    /// Model A.
    pub a: String,
    /// Model B.
    pub b: String,
    /// Mean of A − B over the splits.
    pub mean_difference: Option<f64>,
    /// SD of the differences.
    pub sd_difference: Option<f64>,
    /// Corrected t statistic.
    pub t: Option<f64>,
    /// Degrees of freedom (splits − 1).
    pub df: usize,
    /// Two-sided p-value.
    pub p_value: Option<f64>,
}

/// Classification or regression.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// A class label (ROC, PR, calibration).
    #[default]
    Classification,
    /// A continuous readout (observed against predicted).
    Regression,
}

/// One metric (names and meaning as evomics-ml's `MetricSummary`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricRow {
    /// Metric name (`roc_auc`, `pr_auc`, `balanced_accuracy`, `r2`, …).
    pub name: String,
    /// Metric of the pooled out-of-fold predictions.
    pub pooled: Option<f64>,
    /// Mean over test folds.
    pub fold_mean: Option<f64>,
    /// Standard deviation over test folds.
    pub fold_sd: Option<f64>,
}

/// Label-permutation test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PermutationSummary {
    /// Metric tested.
    pub metric: String,
    /// Its value with the real labels.
    pub observed: f64,
    /// Permutation p-value.
    pub p_value: f64,
    /// Values with permuted labels (drawn as a histogram when given).
    pub null: Vec<f64>,
}

/// One point of a ROC curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RocPoint {
    /// False-positive rate.
    pub fpr: f64,
    /// True-positive rate.
    pub tpr: f64,
}

/// One point of a precision–recall curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrPoint {
    /// Recall.
    pub recall: f64,
    /// Precision.
    pub precision: f64,
}

/// One calibration bin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationBin {
    /// Mean predicted probability in the bin.
    pub mean_predicted: f64,
    /// Observed share of positives in the bin.
    pub observed: f64,
    /// Samples in the bin.
    pub n: usize,
}

/// One out-of-fold prediction of a regression model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prediction {
    /// Sample id.
    pub sample_id: String,
    /// Observed value.
    pub observed: f64,
    /// Predicted value.
    pub predicted: f64,
}

/// Importance of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Importance {
    /// Feature (for several layers `layer:id`).
    pub feature: String,
    /// Display name (gene symbol), when the layer annotates one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Mean importance over folds.
    pub importance: f64,
    /// Its standard deviation over folds.
    #[serde(default)]
    pub sd: Option<f64>,
    /// Share of folds that kept the feature.
    #[serde(default)]
    pub selection_frequency: Option<f64>,
}

/// The ROC curve of one test fold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FoldRoc {
    /// Fold name (e.g. `fold 3`).
    pub fold: String,
    /// The fold's ROC points, from (0, 0) to (1, 1).
    pub roc: Vec<RocPoint>,
    /// Area under them.
    pub auc: Option<f64>,
}

/// Counts of out-of-fold predictions by observed (rows) and predicted (columns) class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Confusion {
    /// Class names, rows and columns in this order.
    pub classes: Vec<String>,
    /// `classes.len()` rows of `classes.len()` counts: observed × predicted.
    pub counts: Vec<Vec<usize>>,
    /// Which predictions are counted (e.g. `out-of-fold predictions of repeat 1, each sample
    /// once; the class of highest probability`).
    pub description: String,
}

/// What signed importances are (e.g. mean standardized coefficients over the folds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignedImportance {
    /// The measure, the chart's axis title (e.g. `mean standardized coefficient over folds`).
    pub measure: String,
    /// What a positive value means (e.g. `raises P(high)`).
    pub positive: String,
    /// What a negative value means (e.g. `lowers P(high)`).
    pub negative: String,
}

/// Section 10: methods text and references.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Methods {
    /// One paragraph per step, in pipeline order.
    pub steps: Vec<MethodStep>,
    /// Resolved settings as key/value pairs.
    pub settings: Vec<Setting>,
    /// Works the steps cite.
    pub references: Vec<Reference>,
}

/// One methods paragraph.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MethodStep {
    /// Heading of the step as shown (e.g. `Normalization`).
    pub stage: String,
    /// What was done, generated from the resolved settings.
    pub description: String,
    /// Keys of [`Reference`]s this step cites.
    pub citations: Vec<String>,
}

/// One resolved setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    /// Dotted key (e.g. `normalize.method`).
    pub key: String,
    /// Value as text.
    pub value: String,
}

/// One reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// Key the steps cite.
    pub key: String,
    /// Formatted citation.
    pub text: String,
    /// DOI, shown as plain text.
    #[serde(default)]
    pub doi: Option<String>,
}

impl ReportInput {
    /// Read a report input from JSON text.
    pub fn from_json(text: &str) -> Result<ReportInput> {
        Ok(serde_json::from_str(text)?)
    }

    /// Write the input as pretty JSON (the schema of docs/report.md).
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Check that the parts of the input agree with each other: table shapes, references to
    /// sample columns, dendrogram merges, thresholds and citation keys.
    pub fn validate(&self) -> Result<()> {
        self.validate_samples()?;
        self.validate_ranges()?;
        for q in &self.qc {
            if let Some(c) = &q.colour_by {
                self.check_column("qc", &q.layer, c)?;
            }
        }
        for p in &self.pca {
            for c in &p.colour_by {
                self.check_column("pca", &p.layer, c)?;
            }
            if let Some(v) = p
                .variance_explained
                .iter()
                .find(|v| !(0.0..=1.0).contains(*v))
            {
                return Err(invalid(
                    "pca",
                    &p.layer,
                    format!("variance_explained holds {v}; give fractions between 0 and 1"),
                ));
            }
        }
        for h in &self.sample_clustering {
            self.validate_heatmap(h)?;
        }
        for c in &self.clusters {
            self.validate_clusters(c)?;
        }
        for m in &self.markers {
            self.validate_markers(m)?;
        }
        for d in &self.differential {
            let item = format!("{} / {}", d.layer, d.contrast);
            if let Some(h) = &d.heatmap {
                // `order_by` may be a numeric covariate, which the sample table leaves out.
                h.heatmap.check("differential", &item)?;
            }
            if !(d.adj_p_threshold > 0.0 && d.adj_p_threshold <= 1.0) {
                return Err(invalid(
                    "differential",
                    item,
                    format!(
                        "adj_p_threshold is {}; give a value in (0, 1]",
                        d.adj_p_threshold
                    ),
                ));
            }
            if !(d.log_fc_threshold >= 0.0 && d.log_fc_threshold.is_finite()) {
                return Err(invalid(
                    "differential",
                    item,
                    format!(
                        "log_fc_threshold is {}; give a finite value ≥ 0",
                        d.log_fc_threshold
                    ),
                ));
            }
        }
        if let Some(panels) = &self.panels {
            for s in &panels.scores {
                self.check_column("panels", &s.panel, &s.group_by)?;
            }
        }
        for v in &self.variance_partition {
            if let Some(f) = v
                .features
                .iter()
                .find(|f| f.fractions.len() != v.factors.len())
            {
                return Err(invalid(
                    "variance_partition",
                    &v.layer,
                    format!(
                        "feature '{}' has {} fraction(s) for {} factor(s); give one fraction per factor",
                        f.feature_id,
                        f.fractions.len(),
                        v.factors.len()
                    ),
                ));
            }
        }
        if let Some(m) = &self.methods {
            let mut keys = BTreeSet::new();
            for r in &m.references {
                if !keys.insert(r.key.as_str()) {
                    return Err(invalid(
                        "methods",
                        &r.key,
                        "reference key occurs twice; give each reference a unique key",
                    ));
                }
            }
            for s in &m.steps {
                if let Some(c) = s.citations.iter().find(|c| !keys.contains(c.as_str())) {
                    return Err(invalid(
                        "methods",
                        &s.stage,
                        format!("cites '{c}', which is not in references; add the reference or drop the citation"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every fraction, share and probability lies in [0, 1]: a value read back from an edited or
    /// damaged table (a `missing_fraction` of 7.5) is refused, naming the section, the item and
    /// the value, instead of being drawn as "750 % missing". Non-finite values are not refused
    /// here: the renderer shows them as missing (`non_finite_numbers_do_not_break_the_page`).
    fn validate_ranges(&self) -> Result<()> {
        fn unit(section: &'static str, item: &str, field: &str, v: Option<f64>) -> Result<()> {
            match v {
                Some(v) if v.is_finite() && !(0.0..=1.0).contains(&v) => Err(invalid(
                    section,
                    item,
                    format!("{field} is {v}; it is a fraction and lies between 0 and 1 (the table it was read from was edited or damaged: re-run the stage that wrote it)"),
                )),
                _ => Ok(()),
            }
        }
        for l in &self.header.layers {
            unit("header", &l.name, "missing_fraction", l.missing_fraction)?;
        }
        for q in &self.qc {
            for s in &q.samples {
                let item = format!("{} / {}", q.layer, s.sample_id);
                unit("qc", &item, "missing_fraction", s.missing_fraction)?;
                unit("qc", &item, "detected_fraction", s.detected_fraction)?;
                if s.total.is_some_and(|t| t < 0.0 && t.is_finite()) {
                    return Err(invalid(
                        "qc",
                        item,
                        "total is negative; a total intensity or library size is ≥ 0",
                    ));
                }
            }
        }
        for d in &self.differential {
            let item = format!("{} / {}", d.layer, d.contrast);
            if let Some(h) = &d.heatmap {
                // `order_by` may be a numeric covariate, which the sample table leaves out.
                h.heatmap.check("differential", &item)?;
            }
            for r in &d.rows {
                unit("differential", &item, "p_value", r.p_value)?;
                unit("differential", &item, "adj_p_value", r.adj_p_value)?;
            }
        }
        if let Some(panels) = &self.panels {
            for e in &panels.enrichment {
                unit("panels", &e.panel, "p_value", e.p_value)?;
                unit("panels", &e.panel, "adj_p_value", e.adj_p_value)?;
            }
        }
        for v in &self.variance_partition {
            for f in &v.features {
                for x in &f.fractions {
                    unit(
                        "variance_partition",
                        &format!("{} / {}", v.layer, f.feature_id),
                        "a variance fraction",
                        *x,
                    )?;
                }
            }
        }
        for m in &self.potency {
            unit("potency", &m.name, "prevalence", m.prevalence)?;
            if let Some(p) = &m.permutation {
                unit(
                    "potency",
                    &m.name,
                    "the permutation p_value",
                    Some(p.p_value),
                )?;
            }
            for r in &m.roc {
                unit("potency", &m.name, "an ROC point's fpr", Some(r.fpr))?;
                unit("potency", &m.name, "an ROC point's tpr", Some(r.tpr))?;
            }
            for r in &m.pr {
                unit("potency", &m.name, "a PR point's recall", Some(r.recall))?;
                unit(
                    "potency",
                    &m.name,
                    "a PR point's precision",
                    Some(r.precision),
                )?;
            }
            for b in &m.calibration {
                unit(
                    "potency",
                    &m.name,
                    "a calibration bin's mean_predicted",
                    Some(b.mean_predicted),
                )?;
                unit(
                    "potency",
                    &m.name,
                    "a calibration bin's observed",
                    Some(b.observed),
                )?;
            }
            for i in &m.importance {
                unit(
                    "potency",
                    &m.name,
                    &format!("selection_frequency of '{}'", i.feature),
                    i.selection_frequency,
                )?;
            }
        }
        Ok(())
    }

    fn validate_samples(&self) -> Result<()> {
        let Some(t) = &self.samples else {
            return Ok(());
        };
        let mut cols = BTreeSet::new();
        for c in &t.columns {
            if !cols.insert(c.as_str()) {
                return Err(invalid(
                    "samples",
                    c,
                    "column occurs twice; column names must be unique",
                ));
            }
        }
        let mut ids = BTreeSet::new();
        for r in &t.rows {
            if !ids.insert(r.sample_id.as_str()) {
                return Err(invalid(
                    "samples",
                    &r.sample_id,
                    "sample id occurs twice; sample ids must be unique",
                ));
            }
            if r.values.len() != t.columns.len() {
                return Err(invalid(
                    "samples",
                    &r.sample_id,
                    format!(
                        "row has {} value(s) for {} column(s); give one value (or null) per column",
                        r.values.len(),
                        t.columns.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_column(&self, section: &'static str, item: &str, column: &str) -> Result<()> {
        let known = self
            .samples
            .as_ref()
            .is_some_and(|t| t.columns.iter().any(|c| c == column));
        if known {
            Ok(())
        } else {
            Err(invalid(
                section,
                item,
                format!("refers to sample column '{column}', which is not in samples.columns; add the column to samples or drop the reference"),
            ))
        }
    }

    fn validate_clusters(&self, c: &ClusterSummary) -> Result<()> {
        for b in &c.by {
            self.check_column("clusters", &c.layer, b)?;
        }
        for a in &c.agreement {
            if !c.by.contains(&a.column) {
                self.check_column("clusters", &c.layer, &a.column)?;
            }
            for (name, v) in [("ari", a.ari), ("nmi", a.nmi)] {
                if v.is_some_and(|v| v.is_finite() && !(-1.0..=1.0).contains(&v)) {
                    return Err(invalid(
                        "clusters",
                        format!("{} / {} / {}", c.layer, a.method, a.column),
                        format!(
                            "{name} is {}; an ARI or NMI lies between -1 and 1 (re-run cluster)",
                            v.unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        for m in &c.methods {
            let item = format!("{} / {}", c.layer, m.method);
            if let Some(a) = m
                .assignments
                .iter()
                .find(|a| a.cluster == 0 || a.cluster > m.k)
            {
                return Err(invalid(
                    "clusters",
                    item,
                    format!(
                        "sample '{}' is in cluster {}; clusters are numbered 1..={} (k = {})",
                        a.sample_id, a.cluster, m.k, m.k
                    ),
                ));
            }
            let mut seen = BTreeSet::new();
            if let Some(a) = m
                .assignments
                .iter()
                .find(|a| !seen.insert(a.sample_id.as_str()))
            {
                return Err(invalid(
                    "clusters",
                    item,
                    format!(
                        "sample '{}' is assigned twice; give one cluster per sample",
                        a.sample_id
                    ),
                ));
            }
            if m.selection.windows(2).any(|w| w[0].k >= w[1].k) {
                return Err(invalid(
                    "clusters",
                    item,
                    "selection rows must be in strictly increasing k",
                ));
            }
        }
        Ok(())
    }

    fn validate_markers(&self, m: &MarkerSet) -> Result<()> {
        let item = format!("{} / {}", m.layer, m.by);
        self.check_column("markers", &item, &m.by)?;
        for r in &m.rows {
            for (name, v) in [("p_value", r.p_value), ("adj_p_value", r.adj_p_value)] {
                if v.is_some_and(|v| v.is_finite() && !(0.0..=1.0).contains(&v)) {
                    return Err(invalid(
                        "markers",
                        format!("{item} / {}", r.feature_id),
                        format!("{name} is {}; it is a probability and lies between 0 and 1 (re-run explore)", v.unwrap_or_default()),
                    ));
                }
            }
        }
        if let Some(h) = &m.heatmap {
            h.check("markers", &item)?;
        }
        Ok(())
    }

    fn validate_heatmap(&self, h: &SampleHeatmap) -> Result<()> {
        let n = h.order.len();
        if h.values.len() != n || h.values.iter().any(|r| r.len() != n) {
            return Err(invalid(
                "sample_clustering",
                &h.layer,
                format!("values must be {n} rows of {n} values (one per sample in order)"),
            ));
        }
        for c in &h.annotate_by {
            self.check_column("sample_clustering", &h.layer, c)?;
        }
        if h.dendrogram.is_empty() {
            return Ok(());
        }
        if h.dendrogram.len() + 1 != n {
            return Err(invalid(
                "sample_clustering",
                &h.layer,
                format!(
                    "dendrogram has {} merge(s) for {n} samples; a full tree has {}",
                    h.dendrogram.len(),
                    n.saturating_sub(1)
                ),
            ));
        }
        let mut used = vec![false; 2 * n - 1];
        for (k, m) in h.dendrogram.iter().enumerate() {
            for node in [m.left, m.right] {
                if node >= n + k || used[node] {
                    return Err(invalid(
                        "sample_clustering",
                        &h.layer,
                        format!(
                            "dendrogram merge {k} joins node {node}, which does not exist yet or is already merged; nodes 0..{n} are leaves and merge k creates node {n}+k"
                        ),
                    ));
                }
                used[node] = true;
            }
            if !m.height.is_finite() {
                return Err(invalid(
                    "sample_clustering",
                    &h.layer,
                    format!(
                        "dendrogram merge {k} has height {}; heights must be finite",
                        m.height
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_samples() -> ReportInput {
        ReportInput {
            samples: Some(SampleTable {
                columns: vec!["source".into()],
                rows: vec![
                    SampleRow {
                        sample_id: "a".into(),
                        values: vec![Some("BM".into())],
                    },
                    SampleRow {
                        sample_id: "b".into(),
                        values: vec![None],
                    },
                ],
            }),
            ..ReportInput::default()
        }
    }

    #[test]
    fn empty_input_is_valid_and_json_round_trips() {
        let input = ReportInput::from_json("{}").unwrap();
        input.validate().unwrap();
        assert_eq!(input, ReportInput::default());
        let back = ReportInput::from_json(&with_samples().to_json().unwrap()).unwrap();
        assert_eq!(back, with_samples());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = ReportInput::from_json(r#"{"hedaer": {}}"#).unwrap_err();
        assert!(e.to_string().contains("hedaer"), "{e}");
    }

    #[test]
    fn defaults_fill_missing_contrast_fields() {
        let c: ContrastResult =
            serde_json::from_str(r#"{"layer": "p", "contrast": "A-B"}"#).unwrap();
        assert_eq!(c.adj_p_threshold, 0.05);
        assert_eq!(c.label_top, 10);
        assert_eq!(c.table_rows, 20);
    }

    #[test]
    fn fractions_and_probabilities_out_of_range_are_refused() {
        let mut input = with_samples();
        input.qc.push(QcLayer {
            layer: "proteome".into(),
            samples: vec![QcSample {
                sample_id: "a".into(),
                missing_fraction: Some(7.5),
                ..QcSample::default()
            }],
            ..QcLayer::default()
        });
        let e = input.validate().unwrap_err().to_string();
        assert!(
            e.contains("proteome / a")
                && e.contains("missing_fraction is 7.5; it is a fraction and lies between 0 and 1"),
            "{e}"
        );
        input.qc[0].samples[0].missing_fraction = Some(0.075);
        input.validate().unwrap();
        input.qc[0].samples[0].detected_fraction = Some(-0.1);
        assert!(input
            .validate()
            .unwrap_err()
            .to_string()
            .contains("detected_fraction is -0.1"));
        input.qc[0].samples[0].detected_fraction = None;
        input.differential.push(ContrastResult {
            layer: "proteome".into(),
            contrast: "A-B".into(),
            rows: vec![DiffRow {
                feature_id: "P1".into(),
                log_fc: Some(1.0),
                t: Some(2.0),
                p_value: Some(1.5),
                adj_p_value: Some(0.5),
                ..DiffRow::default()
            }],
            ..serde_json::from_str(r#"{"layer": "p", "contrast": "A-B"}"#).unwrap()
        });
        let e = input.validate().unwrap_err().to_string();
        assert!(
            e.contains("proteome / A-B") && e.contains("p_value is 1.5"),
            "{e}"
        );
        input.differential[0].rows[0].p_value = Some(0.01);
        // Non-finite values are the renderer's to show as missing, not refused.
        input.differential[0].rows[0].log_fc = Some(f64::INFINITY);
        input.qc[0].samples[0].missing_fraction = Some(f64::NAN);
        input.validate().unwrap();
    }

    #[test]
    fn unknown_colour_column_is_an_error() {
        let mut input = with_samples();
        input.pca.push(PcaResult {
            layer: "proteome".into(),
            colour_by: vec!["batch".into()],
            ..PcaResult::default()
        });
        let e = input.validate().unwrap_err().to_string();
        assert!(e.contains("'batch'") && e.contains("pca"), "{e}");
    }

    #[test]
    fn duplicate_samples_and_ragged_rows_are_errors() {
        let mut input = with_samples();
        input.samples.as_mut().unwrap().rows[1].sample_id = "a".into();
        assert!(input.validate().unwrap_err().to_string().contains("twice"));
        let mut input = with_samples();
        input.samples.as_mut().unwrap().rows[1].values.clear();
        assert!(input
            .validate()
            .unwrap_err()
            .to_string()
            .contains("0 value(s)"));
    }

    fn heatmap(dendrogram: Vec<Merge>) -> ReportInput {
        ReportInput {
            sample_clustering: vec![SampleHeatmap {
                layer: "p".into(),
                order: vec!["a".into(), "b".into(), "c".into()],
                values: vec![vec![Some(1.0); 3]; 3],
                dendrogram,
                ..SampleHeatmap::default()
            }],
            ..ReportInput::default()
        }
    }

    #[test]
    fn dendrogram_must_be_a_tree() {
        let m = |left, right, height| Merge {
            left,
            right,
            height,
        };
        heatmap(vec![m(0, 1, 0.1), m(3, 2, 0.5)])
            .validate()
            .unwrap();
        // A node merged twice.
        assert!(heatmap(vec![m(0, 1, 0.1), m(1, 2, 0.5)])
            .validate()
            .is_err());
        // A merge referring to itself.
        assert!(heatmap(vec![m(0, 3, 0.1), m(1, 2, 0.5)])
            .validate()
            .is_err());
        // Too few merges.
        assert!(heatmap(vec![m(0, 1, 0.1)]).validate().is_err());
        let mut ragged = heatmap(Vec::new());
        ragged.sample_clustering[0].values[2].pop();
        assert!(ragged.validate().is_err());
    }

    #[test]
    fn thresholds_and_citations_are_checked() {
        let mut input = ReportInput::default();
        input.differential.push(ContrastResult {
            adj_p_threshold: 0.0,
            ..ContrastResult::default()
        });
        assert!(input.validate().is_err());
        let input = ReportInput {
            methods: Some(Methods {
                steps: vec![MethodStep {
                    stage: "diff".into(),
                    description: "limma".into(),
                    citations: vec!["smyth2004".into()],
                }],
                ..Methods::default()
            }),
            ..ReportInput::default()
        };
        let e = input.validate().unwrap_err().to_string();
        assert!(e.contains("smyth2004"), "{e}");
    }

    #[test]
    fn markers_and_clusters_are_checked_against_the_samples_and_their_shapes() {
        let mut input = with_samples();
        input.markers.push(MarkerSet {
            layer: "p".into(),
            by: "batch".into(),
            ..MarkerSet::default()
        });
        let e = input.validate().unwrap_err().to_string();
        assert!(e.contains("'batch'") && e.contains("markers"), "{e}");
        input.markers[0].by = "source".into();
        input.markers[0].heatmap = Some(MarkerHeatmap {
            features: vec!["F1".into()],
            feature_groups: vec!["BM".into()],
            samples: vec!["a".into(), "b".into()],
            values: vec![vec![Some(0.7), None]],
            imputed: vec![[0, 2]],
        });
        let e = input.validate().unwrap_err().to_string();
        assert!(
            e.contains("imputed cell (0, 2) lies outside the 1 × 2 heatmap"),
            "{e}"
        );
        input.markers[0].heatmap.as_mut().unwrap().imputed = vec![[0, 1]];
        input.validate().unwrap();
        input.markers[0].heatmap.as_mut().unwrap().values[0].pop();
        assert!(input
            .validate()
            .unwrap_err()
            .to_string()
            .contains("rows of 2 values"));
        input.markers[0].heatmap = None;

        input.clusters.push(ClusterSummary {
            layer: "p".into(),
            by: vec!["source".into()],
            methods: vec![ClusterMethod {
                method: "kmeans".into(),
                k: 2,
                assignments: vec![
                    ClusterAssignment {
                        sample_id: "a".into(),
                        cluster: 1,
                    },
                    ClusterAssignment {
                        sample_id: "b".into(),
                        cluster: 3,
                    },
                ],
                ..ClusterMethod::default()
            }],
            ..ClusterSummary::default()
        });
        let e = input.validate().unwrap_err().to_string();
        assert!(
            e.contains("sample 'b' is in cluster 3; clusters are numbered 1..=2"),
            "{e}"
        );
        input.clusters[0].methods[0].assignments[1].cluster = 2;
        input.validate().unwrap();
        input.clusters[0].methods[0].assignments[1].sample_id = "a".into();
        assert!(input
            .validate()
            .unwrap_err()
            .to_string()
            .contains("assigned twice"));
        input.clusters[0].methods[0].assignments.pop();
        input.clusters[0].agreement.push(ClusterAgreement {
            column: "source".into(),
            ari: Some(1.5),
            ..ClusterAgreement::default()
        });
        assert!(input
            .validate()
            .unwrap_err()
            .to_string()
            .contains("ari is 1.5"));
        input.clusters[0].agreement[0].ari = Some(-0.2);
        input.validate().unwrap();
        input.clusters[0].by.push("donor".into());
        assert!(input
            .validate()
            .unwrap_err()
            .to_string()
            .contains("'donor'"));
    }

    #[test]
    fn verdicts_serialize_as_evomics_qc_writes_them() {
        assert_eq!(serde_json::to_string(&Verdict::Warn).unwrap(), "\"warn\"");
        assert_eq!(Verdict::Fail.name(), "fail");
    }
}
