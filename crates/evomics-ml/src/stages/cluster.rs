//! The `cluster` stage as one library call: [`run_cluster`] computes the PCA of a layer's
//! samples, clusters them (k-means, hierarchical, Gaussian mixture) with k chosen by silhouette
//! or gap statistic, and measures the agreement of each clustering with sample-sheet columns
//! (ARI, NMI). Methods: `docs/methods/ml.md`, `docs/methods/explore.md`.
//!
//! ```
//! use evomics_core::{Assay, Experiment, Features, LayerKind, SampleSheet, StageTables, ValueScale};
//! use evomics_ml::stages::cluster::{run_cluster, ClusterConfig, KCandidates};
//!
//! let ids: Vec<String> = (1..=8).map(|i| format!("EV{i}")).collect();
//! let group = (0..8).map(|j| Some(["BM", "AD"][j % 2].to_string())).collect();
//! let sheet = SampleSheet::from_text_columns(ids.clone(), vec![("source".into(), group)]).unwrap();
//! let cells = ndarray::Array2::from_shape_fn((6, 8), |(i, j)| {
//!     Some(10.0 + i as f64 + if j % 2 == 0 { 3.0 } else { 0.0 } + 0.1 * ((i * 7 + j * 3) % 5) as f64)
//! });
//! let features = Features::new((1..=6).map(|i| format!("P{i}")).collect()).unwrap();
//! let layer = Assay::from_options("proteome", LayerKind::Proteome, ValueScale::Log2, features, ids, &cells).unwrap();
//! let mut exp = Experiment::new(sheet);
//! exp.insert_layer(layer).unwrap();
//! let config = ClusterConfig {
//!     layer: "proteome".into(),
//!     k: KCandidates(vec![2]),
//!     gap_references: Some(5),
//!     ..ClusterConfig::default()
//! };
//! let result = run_cluster(&exp, &config).unwrap();
//! assert_eq!(result.agreement[0].column, "source");
//! assert!(result.tables().iter().any(|t| t.name == "pca_scores"));
//! ```

use std::borrow::Cow;
use std::collections::BTreeSet;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use evomics_core::rng::derive_seed;
use evomics_core::scale::log_scale;
use evomics_core::{
    Assay, Cell, ExcludeRules, Experiment, Kind, Message, StageResult, StageTables, Table,
};

use crate::cluster::{
    adjusted_rand_index, normalized_mutual_information, ChooseKParams, ClusterMethod, GapReference,
    GapRule, GmmParams, HclustParams, KMeansParams, KSelection, Linkage,
};
use crate::error::{data_err, MlError, Result};
use crate::matrix::{complete_features, complete_matrix, Distance};
use crate::pca::PcaParams;
use crate::umap::UmapParams;

/// Candidate numbers of clusters: written `"2..8"`, `"2,3,5"`, `4`, or `[2, 3, 5]`; strictly
/// increasing, each at least 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KCandidates(pub Vec<usize>);

impl Default for KCandidates {
    fn default() -> Self {
        KCandidates((2..=8).collect())
    }
}

impl KCandidates {
    /// Parse `2..8`, `2,3,5` or `4`.
    pub fn parse(s: &str) -> std::result::Result<KCandidates, String> {
        let bad = || format!("k '{s}': write a range like 2..8, a list like 2,3,5, or one number");
        let mut ks: Vec<usize> = if let Some((a, b)) = s.split_once("..") {
            let a: usize = a.trim().parse().map_err(|_| bad())?;
            let b: usize = b
                .trim()
                .trim_start_matches('=')
                .parse()
                .map_err(|_| bad())?;
            if a > b {
                return Err(format!("k '{s}': the range is empty"));
            }
            (a..=b).collect()
        } else {
            s.split(',')
                .map(|x| x.trim().parse::<usize>().map_err(|_| bad()))
                .collect::<std::result::Result<Vec<_>, _>>()?
        };
        ks.sort_unstable();
        ks.dedup();
        KCandidates::checked(ks, s)
    }

    fn checked(ks: Vec<usize>, text: &str) -> std::result::Result<KCandidates, String> {
        if ks.is_empty() {
            return Err(format!("k '{text}': no candidate"));
        }
        if ks.iter().any(|&k| k < 2) {
            return Err(format!(
                "k '{text}': every k must be at least 2 (silhouettes and agreement need two clusters)"
            ));
        }
        if ks.len() > 64 {
            return Err(format!(
                "k '{text}': {} candidates; at most 64 are tried",
                ks.len()
            ));
        }
        Ok(KCandidates(ks))
    }

    /// The candidates as written back (`2..8` for a range, else a list).
    pub fn text(&self) -> String {
        let k = &self.0;
        if k.len() > 2 && k.windows(2).all(|w| w[1] == w[0] + 1) {
            format!("{}..{}", k[0], k[k.len() - 1])
        } else {
            k.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
        }
    }
}

impl std::str::FromStr for KCandidates {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        KCandidates::parse(s)
    }
}

impl Serialize for KCandidates {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for KCandidates {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            One(usize),
            List(Vec<usize>),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::One(k) => KCandidates::checked(vec![k], &k.to_string()),
            Repr::List(mut v) => {
                let text = format!("{v:?}");
                v.sort_unstable();
                v.dedup();
                KCandidates::checked(v, &text)
            }
            Repr::Text(t) => KCandidates::parse(&t),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// A clustering method of the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MethodName {
    /// k-means.
    Kmeans,
    /// Hierarchical clustering.
    Hclust,
    /// Diagonal Gaussian mixture on the leading principal components.
    Gmm,
}
evomics_core::vocabulary!(MethodName {
    Kmeans => "kmeans" | "k_means",
    Hclust => "hclust" | "hierarchical",
    Gmm => "gmm" | "mixture",
});

/// How k is chosen from the candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChooseBy {
    /// Largest mean silhouette width.
    #[default]
    Silhouette,
    /// The gap statistic's firstSEmax rule.
    Gap,
}
evomics_core::vocabulary!(ChooseBy { Silhouette => "silhouette", Gap => "gap" });

/// The data k-means and hierarchical clustering (and their choice of k) work on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClusterSpace {
    /// The leading `pcs` principal components when the layer has more than
    /// [`AUTO_PCS_ABOVE_SAMPLES`] samples and more features than `pcs`; the features otherwise.
    #[default]
    Auto,
    /// The centred (and, with `scale`, scaled) features.
    Features,
    /// The scores of the leading `pcs` principal components.
    Pcs,
}
evomics_core::vocabulary!(ClusterSpace {
    Auto => "auto",
    Features => "features",
    Pcs => "pcs" | "pca",
});

/// Above this many samples, `space = "auto"` clusters on the leading principal components: the
/// silhouettes, hierarchical clustering and every gap reference set cost O(n²) each in the
/// dimensions clustered, which on thousands of samples × thousands of features is the whole run.
pub const AUTO_PCS_ABOVE_SAMPLES: usize = 500;

/// Principal components of `space = "pcs"` when `pcs` is not given (as Seurat's and scanpy's
/// neighbourhood graphs).
pub const DEFAULT_SPACE_PCS: usize = 50;

/// Read a linkage name as R writes it (`ward.D2`, `average`, `complete`).
pub fn parse_linkage(s: &str) -> std::result::Result<Linkage, String> {
    match evomics_core::vocab::normalize_key(s)
        .replace('.', "_")
        .as_str()
    {
        "ward_d2" | "ward" => Ok(Linkage::WardD2),
        "average" | "upgma" => Ok(Linkage::Average),
        "complete" => Ok(Linkage::Complete),
        _ => Err(format!("'{s}' is not one of ward.D2, average, complete")),
    }
}

/// Read a dissimilarity name (`euclidean`, `pearson`, `spearman`).
pub fn parse_distance(s: &str) -> std::result::Result<Distance, String> {
    match evomics_core::vocab::normalize_key(s).as_str() {
        "euclidean" => Ok(Distance::Euclidean),
        "pearson" => Ok(Distance::Pearson),
        "spearman" => Ok(Distance::Spearman),
        _ => Err(format!("'{s}' is not one of euclidean, pearson, spearman")),
    }
}

fn linkage_de<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Linkage, D::Error> {
    parse_linkage(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn distance_de<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Distance, D::Error> {
    parse_distance(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// Settings of `cluster`: the `[cluster]` table of a run config, or the flags of
/// `evomics cluster`.
///
/// ```toml
/// layer = "proteome"
/// by = ["source", "batch"]
/// k = "2..8"
/// methods = ["kmeans", "hclust", "gmm"]
/// linkage = "ward.D2"
/// choose_by = "silhouette"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Layer to cluster (log-scale values; see `log2`).
    pub layer: String,
    /// Sample-sheet columns to compare the clusters with (default: the sheet's grouping
    /// columns, `SampleSheet::grouping_columns`).
    pub by: Vec<String>,
    /// Candidate numbers of clusters.
    pub k: KCandidates,
    /// Clustering methods.
    #[serde(alias = "method")]
    pub methods: Vec<MethodName>,
    /// Seed of k-means++, the Gaussian mixture and the gap statistic's reference sets.
    pub seed: u64,
    /// Scale every feature to unit variance after centring (prcomp `scale. = TRUE`).
    pub scale: bool,
    /// Keep only features with a value in every sample (otherwise missing cells are an error).
    pub complete_features: bool,
    /// Log2-transform a layer of linear intensities first.
    pub log2: bool,
    /// What a layer of scale `other` holds (`"log2"`): without it such a layer is refused.
    pub assume_scale: Option<evomics_core::scale::AssumedScale>,
    /// Linkage of hierarchical clustering.
    #[serde(deserialize_with = "linkage_de")]
    pub linkage: Linkage,
    /// Dissimilarity of hierarchical clustering (1 − correlation for pearson and spearman).
    #[serde(deserialize_with = "distance_de")]
    pub distance: Distance,
    /// How k is chosen from the candidates.
    pub choose_by: ChooseBy,
    /// Reference data sets of the gap statistic (0 skips it). Default
    /// ([`ClusterConfig::gap_references_for`]): 50, except on more than
    /// [`AUTO_PCS_ABOVE_SAMPLES`] samples when k is chosen by silhouette: there the gap would
    /// only be reported, at the cost of 50 more clusterings per candidate k, and is skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap_references: Option<usize>,
    /// Principal components the Gaussian mixture is fitted on.
    pub gmm_pcs: usize,
    /// What k-means and hierarchical clustering work on: `"features"`, `"pcs"` (the leading
    /// `pcs` components) or `"auto"` (default: the components above
    /// [`AUTO_PCS_ABOVE_SAMPLES`] samples, the features below).
    #[serde(skip_serializing_if = "is_auto_space")]
    pub space: ClusterSpace,
    /// Principal components k-means and hierarchical clustering work on when `space` resolves
    /// to components (default 50).
    #[serde(skip_serializing_if = "is_default_space_pcs")]
    pub pcs: usize,
    /// Components written to the score and loading tables.
    pub components: usize,
    /// Samples left out before anything is fitted (see [`evomics_core::exclude`]).
    #[serde(skip_serializing_if = "ExcludeRules::is_empty")]
    pub exclude: ExcludeRules,
    /// A UMAP embedding of the samples: `umap = true` (umap-learn's defaults) or a table of
    /// [`UmapParams`] (`umap = { n_neighbors = 10, min_dist = 0.3, seed = 7 }`); default none.
    #[serde(deserialize_with = "umap_de", skip_serializing_if = "Option::is_none")]
    pub umap: Option<UmapParams>,
    /// Principal components UMAP is computed on (at most the components there are; default 50).
    #[serde(skip_serializing_if = "is_default_umap_pcs")]
    pub umap_pcs: usize,
}

fn is_auto_space(s: &ClusterSpace) -> bool {
    *s == ClusterSpace::Auto
}

fn is_default_space_pcs(n: &usize) -> bool {
    *n == DEFAULT_SPACE_PCS
}

fn is_default_umap_pcs(n: &usize) -> bool {
    *n == DEFAULT_UMAP_PCS
}

/// Principal components UMAP is computed on when `umap_pcs` is not given (as scanpy).
pub const DEFAULT_UMAP_PCS: usize = 50;

fn umap_de<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<UmapParams>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Switch(bool),
        Params(UmapParams),
    }
    Ok(match Option::<Repr>::deserialize(d)? {
        None | Some(Repr::Switch(false)) => None,
        Some(Repr::Switch(true)) => Some(UmapParams::default()),
        Some(Repr::Params(p)) => Some(p),
    })
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            layer: String::new(),
            by: Vec::new(),
            k: KCandidates::default(),
            methods: vec![MethodName::Kmeans, MethodName::Hclust, MethodName::Gmm],
            seed: 1,
            scale: false,
            complete_features: false,
            log2: false,
            assume_scale: None,
            linkage: Linkage::WardD2,
            distance: Distance::Euclidean,
            choose_by: ChooseBy::Silhouette,
            gap_references: None,
            gmm_pcs: 5,
            space: ClusterSpace::Auto,
            pcs: DEFAULT_SPACE_PCS,
            components: 10,
            exclude: ExcludeRules::default(),
            umap: None,
            umap_pcs: DEFAULT_UMAP_PCS,
        }
    }
}

impl ClusterConfig {
    /// Check the settings alone (before any data is read).
    pub fn validate(&self) -> Result<()> {
        self.exclude.validate()?;
        let bad = |param: &'static str, problem: String| {
            Err(MlError::InvalidParam {
                what: "cluster",
                param,
                problem,
            })
        };
        if self.layer.trim().is_empty() {
            return bad("layer", "no layer: give --layer NAME".into());
        }
        if self.components == 0 || self.gmm_pcs == 0 || self.pcs == 0 {
            return bad(
                "components",
                "components, gmm_pcs and pcs must be at least 1".into(),
            );
        }
        if self.methods.is_empty() {
            return bad("methods", "name at least one of kmeans, hclust, gmm".into());
        }
        if let Some(b) = self.gap_references.filter(|&b| b > 10_000) {
            return bad("gap_references", format!("{b} is more than 10000"));
        }
        if let Some(u) = &self.umap {
            u.validate()?;
            if self.umap_pcs == 0 {
                return bad(
                    "umap_pcs",
                    "UMAP needs at least 1 principal component".into(),
                );
            }
        }
        if self.choose_by == ChooseBy::Gap && self.gap_references == Some(0) && self.k.0.len() > 1 {
            return bad(
                "choose_by",
                "choosing k by the gap statistic needs gap_references above 0".into(),
            );
        }
        Ok(())
    }

    /// The gap statistic's reference sets for a layer of `n_samples`: `gap_references` when
    /// given; otherwise [`DEFAULT_GAP_REFERENCES`], or 0 on more than
    /// [`AUTO_PCS_ABOVE_SAMPLES`] samples when k is chosen by silhouette.
    pub fn gap_references_for(&self, n_samples: usize) -> usize {
        match self.gap_references {
            Some(b) => b,
            None if n_samples > AUTO_PCS_ABOVE_SAMPLES
                && self.choose_by == ChooseBy::Silhouette =>
            {
                0
            }
            None => DEFAULT_GAP_REFERENCES,
        }
    }
}

/// Reference sets of the gap statistic when `gap_references` is not given (as many as R
/// `clusGap`'s examples use; its own default is 100).
pub const DEFAULT_GAP_REFERENCES: usize = 50;

/// One clustering: its method, the chosen k, the k-selection scores and the labels (0-based).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clustering {
    /// Method.
    pub method: MethodName,
    /// Scores of every candidate k.
    pub selection: KSelection,
    /// The k used.
    pub k: usize,
    /// Cluster of each sample (0-based, samples in layer order).
    pub labels: Vec<usize>,
}

/// Agreement of one clustering with one sheet column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Method.
    pub method: MethodName,
    /// The k used.
    pub k: usize,
    /// Sheet column.
    pub column: String,
    /// Samples with a value in the column.
    pub n_samples: usize,
    /// Distinct values of the column among them.
    pub n_levels: usize,
    /// Adjusted Rand index (Hubert & Arabie 1985).
    pub ari: Option<f64>,
    /// Normalized mutual information.
    pub nmi: Option<f64>,
}

/// PCA of the samples: what the tables and the report show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PcaSummary {
    /// Scores, samples × kept components (row-major, `n_samples × n_components`).
    pub scores: Vec<Vec<f64>>,
    /// Loadings, features × kept components.
    pub loadings: Vec<Vec<f64>>,
    /// Standard deviation of every component.
    pub sdev: Vec<f64>,
    /// Share of the variance of every component.
    pub variance_explained: Vec<f64>,
}

/// A UMAP embedding of the samples and how well k-means on it recovers each sheet column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    /// The parameters used (`n_neighbors` after truncation to the samples).
    pub params: UmapParams,
    /// Principal components it was computed on.
    pub pcs: usize,
    /// Coordinates, samples × components (samples in layer order).
    pub coords: Vec<Vec<f64>>,
    /// k-means on the embedding with k = the column's number of levels, against each `by`
    /// column: how far the embedding separates the column's groups.
    pub agreement: Vec<Agreement>,
}

/// The result of `cluster`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterResult {
    /// The settings used (with `by` resolved).
    pub config: ClusterConfig,
    /// Samples, in layer order.
    pub samples: Vec<String>,
    /// Features used, in layer order.
    pub features: Vec<String>,
    /// Their display names (the `name` or `gene` annotation; empty when none).
    pub feature_names: Vec<String>,
    /// The PCA.
    pub pca: PcaSummary,
    /// One clustering per method.
    pub clusterings: Vec<Clustering>,
    /// Agreement of every clustering with every `by` column.
    pub agreement: Vec<Agreement>,
    /// What the run did to the data (log2, dropped features).
    pub notes: Vec<String>,
    /// The samples `exclude` left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<String>,
    /// The UMAP embedding, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub umap: Option<Embedding>,
    /// Principal components k-means and hierarchical clustering worked on (None: the features).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_pcs: Option<usize>,
}

/// Run `cluster` on `config.layer` of `exp`.
pub fn run_cluster(exp: &Experiment, config: &ClusterConfig) -> Result<ClusterResult> {
    config.validate()?;
    let (exp, excluded) = exp.excluding(&config.exclude)?;
    let exp = exp.as_ref();
    let raw = exp.layer(&config.layer)?;
    let (assay, transform_note) = log_scale(raw, config.log2, config.assume_scale)?;
    // A copy of the layer only when features are dropped.
    let mut assay: Cow<'_, Assay> = assay;
    let sheet = exp.samples().for_samples(assay.samples())?;
    let by: Vec<String> = if config.by.is_empty() {
        sheet.grouping_columns()
    } else {
        for b in &config.by {
            sheet.require_column(b)?;
        }
        config.by.clone()
    };
    let ks = &config.k.0;

    // complete features only: PCA and the clusterings need a value in every cell
    let n_features_in = assay.n_features();
    let complete = complete_features(&assay);
    let mut notes: Vec<String> = raw
        .imputed_note("cluster (PCA, distances, clustering)")
        .into_iter()
        .chain(transform_note)
        .collect();
    if complete.len() < n_features_in {
        if !config.complete_features {
            return Err(data_err("cluster", format!(
                "layer '{}' has {} of {n_features_in} features with a missing value; PCA and clustering need complete data: impute with `evomics normalize`, or add --complete-features to keep the {} complete features",
                config.layer,
                n_features_in - complete.len(),
                complete.len()
            )));
        }
        notes.push(format!(
            "--complete-features: kept the {} of {n_features_in} features with a value in every sample ({} dropped)",
            complete.len(),
            n_features_in - complete.len()
        ));
        assay = Cow::Owned(assay.select_features(&complete));
    }
    if config.scale {
        let keep: Vec<usize> = (0..assay.n_features())
            .filter(|&i| {
                let mut present = (0..assay.n_samples()).filter_map(|j| assay.get(i, j));
                present
                    .next()
                    .is_some_and(|first| present.any(|x| x != first))
            })
            .collect();
        if keep.len() < assay.n_features() {
            notes.push(format!(
                "--scale: dropped {} constant feature(s), which cannot be scaled to unit variance",
                assay.n_features() - keep.len()
            ));
            assay = Cow::Owned(assay.select_features(&keep));
        }
    }
    if assay.n_features() < 2 {
        return Err(data_err(
            "cluster",
            format!(
                "layer '{}' has {} usable feature(s); PCA and clustering need at least 2",
                config.layer,
                assay.n_features()
            ),
        ));
    }
    let n = assay.n_samples();
    if let Some(&k) = ks.iter().find(|&&k| k >= n) {
        return Err(data_err(
            "cluster",
            format!("k = {k} needs more than {k} samples; the layer has {n}"),
        ));
    }
    let x = complete_matrix(&assay)?;
    let p = assay.n_features();
    let space_pcs = match config.space {
        ClusterSpace::Features => None,
        ClusterSpace::Pcs => Some(config.pcs.min(n.min(p))),
        ClusterSpace::Auto => (n > AUTO_PCS_ABOVE_SAMPLES && p > config.pcs).then_some(config.pcs),
    };
    // Rotation and scores only for the components the stage reports or clusters on (every
    // component's standard deviation is kept): the rotation of all min(n, p) components would
    // cost another product as large as the cross product itself.
    let used = config
        .components
        .max(config.gmm_pcs)
        .max(space_pcs.unwrap_or(0))
        .max(if config.umap.is_some() {
            config.umap_pcs
        } else {
            0
        });
    // The complete matrix is centred (and scaled) in place: clustering on all features uses
    // that same matrix, so no copy of the layer is made.
    let (pca, xc) = PcaParams {
        n_components: Some(used),
        scale: config.scale,
    }
    .fit_owned(x)?;
    let xs = match space_pcs {
        Some(q) => {
            let share: f64 = pca.variance_explained.iter().take(q).sum();
            notes.push(format!(
                "k-means and hierarchical clustering (and their choice of k) worked on the leading {q} principal components ({:.1} % of the variance{}); set space = \"features\" to cluster on all {p} features",
                100.0 * share,
                if config.space == ClusterSpace::Auto {
                    format!("; space = auto, more than {AUTO_PCS_ABOVE_SAMPLES} samples")
                } else {
                    String::new()
                }
            ));
            drop(xc);
            pca.top_scores(q)
        }
        None => xc,
    };
    let pcs = pca.top_scores(config.gmm_pcs);
    let gap_references = config.gap_references_for(n);
    if config.gap_references.is_none() && gap_references == 0 {
        notes.push(format!(
            "gap statistic not computed: with more than {AUTO_PCS_ABOVE_SAMPLES} samples and k chosen by silhouette it would only be reported, at the cost of {DEFAULT_GAP_REFERENCES} more clusterings per candidate k; set gap_references (or choose_by = \"gap\") to compute it"
        ));
    }

    let mut methods: Vec<MethodName> = Vec::new();
    for m in &config.methods {
        if !methods.contains(m) {
            methods.push(*m);
        }
    }
    let mut clusterings = Vec::with_capacity(methods.len());
    for m in methods {
        let (method, space): (ClusterMethod, &Array2<f64>) = match m {
            MethodName::Kmeans => (
                ClusterMethod::KMeans(KMeansParams::new(
                    2,
                    derive_seed(config.seed, "cluster/kmeans"),
                )),
                &xs,
            ),
            MethodName::Hclust => (
                ClusterMethod::Hierarchical(HclustParams {
                    linkage: config.linkage,
                    distance: config.distance,
                }),
                &xs,
            ),
            MethodName::Gmm => (
                ClusterMethod::Gmm(GmmParams {
                    seed: derive_seed(config.seed, "cluster/gmm"),
                    ..GmmParams::default()
                }),
                &pcs,
            ),
        };
        let (selection, mut candidate_labels) = ChooseKParams {
            ks: ks.clone(),
            method: method.clone(),
            gap_references,
            gap_reference: GapReference::ScaledPca,
            gap_rule: GapRule::FirstSeMax,
            seed: derive_seed(config.seed, &format!("cluster/gap/{}", m.name())),
        }
        .fit_labelled(space.view())?;
        let k = if ks.len() == 1 {
            ks[0]
        } else if config.choose_by == ChooseBy::Gap {
            selection.best_gap.ok_or_else(|| {
                data_err(
                    "cluster",
                    "choosing k by the gap statistic needs gap_references above 0",
                )
            })?
        } else {
            selection.best_silhouette.unwrap_or(ks[0])
        };
        let labels = match ks.iter().position(|&c| c == k) {
            Some(i) => candidate_labels.swap_remove(i),
            None => method.labels(space.view(), k)?,
        };
        clusterings.push(Clustering {
            method: m,
            selection,
            k,
            labels,
        });
    }

    let mut agreement = Vec::new();
    for c in &clusterings {
        for b in &by {
            let col = sheet.column_labels(b, assay.samples())?;
            agreement.push(agree(c.method, c.k, b, &c.labels, &col)?);
        }
    }
    let umap = match &config.umap {
        None => None,
        Some(params) => {
            let pcs = config.umap_pcs.min(pca.n_components());
            let mut params = params.clone();
            if params.n_neighbors >= n {
                notes.push(format!(
                    "UMAP: n_neighbors {} is not below the {n} samples; used {} (as umap-learn)",
                    params.n_neighbors,
                    n - 1
                ));
                params.n_neighbors = n - 1;
            }
            let fit = params.fit(pca.top_scores(pcs).view())?;
            let mut agreement = Vec::new();
            for b in &by {
                let col = sheet.column_labels(b, assay.samples())?;
                let k = col.iter().flatten().collect::<BTreeSet<_>>().len();
                if k < 2 || k >= n {
                    continue;
                }
                let labels = ClusterMethod::KMeans(KMeansParams::new(
                    k,
                    derive_seed(config.seed, "cluster/umap/kmeans"),
                ))
                .labels(fit.embedding.view(), k)?;
                agreement.push(agree(MethodName::Kmeans, k, b, &labels, &col)?);
            }
            Some(Embedding {
                params,
                pcs,
                coords: fit.embedding.outer_iter().map(|r| r.to_vec()).collect(),
                agreement,
            })
        }
    };

    let n_comp = config.components.min(pca.n_components());
    let names = assay
        .features()
        .annotation("name")
        .or_else(|| assay.features().annotation("gene"));
    let feature_names = (0..assay.n_features())
        .map(|i| names.and_then(|v| v[i].clone()).unwrap_or_default())
        .collect();
    let summary = PcaSummary {
        scores: (0..n)
            .map(|j| (0..n_comp).map(|c| pca.scores[[j, c]]).collect())
            .collect(),
        loadings: (0..assay.n_features())
            .map(|i| (0..n_comp).map(|c| pca.rotation[[i, c]]).collect())
            .collect(),
        sdev: pca.sdev.clone(),
        variance_explained: pca.variance_explained.clone(),
    };
    let mut config = config.clone();
    config.by = by;
    config.gap_references = Some(gap_references);
    Ok(ClusterResult {
        config,
        samples: assay.samples().to_vec(),
        features: assay.features().ids().to_vec(),
        feature_names,
        pca: summary,
        clusterings,
        agreement,
        notes,
        excluded,
        umap,
        space_pcs,
    })
}

/// Agreement of one labelling with one sheet column, over the samples with a value in it.
fn agree(
    method: MethodName,
    k: usize,
    column: &str,
    labels: &[usize],
    values: &[Option<String>],
) -> Result<Agreement> {
    let (mut cl, mut lv) = (Vec::new(), Vec::new());
    for (l, v) in labels.iter().zip(values) {
        if let Some(v) = v {
            cl.push(*l);
            lv.push(v.clone());
        }
    }
    let n_levels = lv.iter().collect::<BTreeSet<_>>().len();
    let (ari, nmi) = if cl.len() >= 2 {
        (
            Some(adjusted_rand_index(&cl, &lv)?),
            Some(normalized_mutual_information(&cl, &lv)?),
        )
    } else {
        (None, None)
    };
    Ok(Agreement {
        method,
        k,
        column: column.to_string(),
        n_samples: cl.len(),
        n_levels,
        ari,
        nmi,
    })
}

impl ClusterResult {
    /// Cumulative share of the variance, per component.
    fn cumulative(&self) -> Vec<f64> {
        let mut acc = 0.0;
        self.pca
            .variance_explained
            .iter()
            .map(|v| {
                acc += v;
                acc
            })
            .collect()
    }
}

impl StageTables for ClusterResult {
    fn tables(&self) -> Vec<Table> {
        let n_comp = self.pca.scores.first().map_or(0, Vec::len);
        let pc_names: Vec<String> = (1..=n_comp).map(|c| format!("PC{c}")).collect();
        let mut scores = Table::new("pca_scores")
            .col("sample_id", Kind::Text)
            .cols(pc_names.iter().cloned(), Kind::Float);
        for (s, row) in self.samples.iter().zip(&self.pca.scores) {
            let mut r: Vec<Cell> = vec![s.as_str().into()];
            r.extend(row.iter().map(|v| Cell::from(*v)));
            scores.push(r);
        }
        let mut loadings = Table::new("pca_loadings")
            .cols(["feature_id", "name"], Kind::Text)
            .cols(pc_names.iter().cloned(), Kind::Float);
        for ((id, name), row) in self
            .features
            .iter()
            .zip(&self.feature_names)
            .zip(&self.pca.loadings)
        {
            let mut r: Vec<Cell> = vec![id.as_str().into(), name.as_str().into()];
            r.extend(row.iter().map(|v| Cell::from(*v)));
            loadings.push(r);
        }
        let mut var = Table::new("pca_variance")
            .col("component", Kind::Text)
            .cols(["sdev", "variance_explained", "cumulative"], Kind::Float);
        for (c, ((s, v), cum)) in self
            .pca
            .sdev
            .iter()
            .zip(&self.pca.variance_explained)
            .zip(self.cumulative())
            .enumerate()
        {
            var.push(vec![
                format!("PC{}", c + 1).into(),
                (*s).into(),
                (*v).into(),
                cum.into(),
            ]);
        }
        let mut clusters = Table::new("clusters")
            .col("sample_id", Kind::Text)
            .cols(self.clusterings.iter().map(|c| c.method.name()), Kind::Int);
        for (j, s) in self.samples.iter().enumerate() {
            let mut row: Vec<Cell> = vec![s.as_str().into()];
            // clusters are numbered from 1 (as R's cutree and kmeans)
            row.extend(self.clusterings.iter().map(|c| Cell::from(c.labels[j] + 1)));
            clusters.push(row);
        }
        let mut ksel = Table::new("k_selection")
            .col("method", Kind::Text)
            .col("k", Kind::Int)
            .cols(["silhouette", "log_w", "gap", "gap_se"], Kind::Float)
            .col("chosen", Kind::Text);
        for c in &self.clusterings {
            for s in &c.selection.scores {
                let mut tags = Vec::new();
                if c.selection.best_silhouette == Some(s.k) {
                    tags.push("best_silhouette");
                }
                if c.selection.best_gap == Some(s.k) {
                    tags.push("best_gap");
                }
                if c.k == s.k {
                    tags.push("used");
                }
                ksel.push(vec![
                    c.method.name().into(),
                    s.k.into(),
                    s.silhouette.into(),
                    s.log_w.into(),
                    s.gap.into(),
                    s.gap_se.into(),
                    tags.join(",").into(),
                ]);
            }
        }
        let mut agreement = Table::new("agreement")
            .col("method", Kind::Text)
            .col("k", Kind::Int)
            .col("column", Kind::Text)
            .cols(["n_samples", "n_levels"], Kind::Int)
            .cols(["ARI", "NMI"], Kind::Float);
        for a in &self.agreement {
            agreement.push(vec![
                a.method.name().into(),
                a.k.into(),
                a.column.as_str().into(),
                a.n_samples.into(),
                a.n_levels.into(),
                a.ari.into(),
                a.nmi.into(),
            ]);
        }
        let mut out = vec![scores, loadings, var, clusters, ksel, agreement];
        if let Some(u) = &self.umap {
            let dims = u.coords.first().map_or(0, Vec::len);
            let mut t = Table::new("umap")
                .col("sample_id", Kind::Text)
                .cols((1..=dims).map(|d| format!("UMAP{d}")), Kind::Float);
            for (s, row) in self.samples.iter().zip(&u.coords) {
                let mut r: Vec<Cell> = vec![s.as_str().into()];
                r.extend(row.iter().map(|v| Cell::from(*v)));
                t.push(r);
            }
            let mut a = Table::new("umap_agreement")
                .col("column", Kind::Text)
                .cols(["k", "n_samples"], Kind::Int)
                .cols(["ARI", "NMI"], Kind::Float);
            for g in &u.agreement {
                a.push(vec![
                    g.column.as_str().into(),
                    g.k.into(),
                    g.n_samples.into(),
                    g.ari.into(),
                    g.nmi.into(),
                ]);
            }
            out.push(t);
            out.push(a);
        }
        out
    }
}

fn fmt3(v: Option<f64>) -> String {
    v.map_or("NA".into(), |x| format!("{x:.3}"))
}

impl StageResult for ClusterResult {
    const STAGE: &'static str = "cluster";
    const VERSION: u32 = 1;

    fn messages(&self) -> Vec<Message> {
        let mut out: Vec<Message> = Vec::new();
        out.extend(self.config.exclude.message("cluster", &self.excluded));
        out.extend(self.notes.iter().map(Message::info));
        let ve = &self.pca.variance_explained;
        out.push(Message::info(format!(
            "PCA of {} samples × {} features{}: PC1 {:.1}%, PC2 {:.1}% of the variance",
            self.samples.len(),
            self.features.len(),
            if self.config.scale { " (scaled)" } else { "" },
            100.0 * ve.first().copied().unwrap_or(0.0),
            100.0 * ve.get(1).copied().unwrap_or(0.0)
        )));
        for c in &self.clusterings {
            let parts: Vec<String> = self
                .agreement
                .iter()
                .filter(|a| a.method == c.method)
                .map(|a| format!("{} ARI {} NMI {}", a.column, fmt3(a.ari), fmt3(a.nmi)))
                .collect();
            out.push(Message::info(format!(
                "{}: k = {}{}",
                c.method.name(),
                c.k,
                if parts.is_empty() {
                    String::new()
                } else {
                    format!("; {}", parts.join(", "))
                }
            )));
        }
        if let Some(u) = &self.umap {
            let parts: Vec<String> = u
                .agreement
                .iter()
                .map(|a| format!("{} ARI {} (k = {})", a.column, fmt3(a.ari), a.k))
                .collect();
            out.push(Message::info(format!(
                "UMAP on {} PCs (n_neighbors {}, min_dist {}, seed {}); k-means on the embedding: {}",
                u.pcs,
                u.params.n_neighbors,
                u.params.min_dist,
                u.params.seed,
                if parts.is_empty() {
                    "no grouping column".to_string()
                } else {
                    parts.join(", ")
                }
            )));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_candidates_parse() {
        assert_eq!(KCandidates::parse("2..5").unwrap().0, vec![2, 3, 4, 5]);
        assert_eq!(KCandidates::parse("5,3,3").unwrap().0, vec![3, 5]);
        assert_eq!(KCandidates::parse("4").unwrap().0, vec![4]);
        assert!(KCandidates::parse("1..3").is_err());
        assert!(KCandidates::parse("5..2").is_err());
        assert!(KCandidates::parse("x").is_err());
        let c: ClusterConfig = toml::from_str(
            "layer = \"p\"\nk = [3, 2]\nmethod = [\"kmeans\"]\nlinkage = \"ward.D2\"\n",
        )
        .unwrap();
        assert_eq!(c.k.0, vec![2, 3]);
        assert_eq!(c.methods, vec![MethodName::Kmeans]);
        assert!(toml::from_str::<ClusterConfig>("k = 1").is_err());
        assert_eq!(KCandidates::parse("2..8").unwrap().text(), "2..8");
    }

    /// `n` samples in three groups over 60 features (log2 scale).
    fn three_groups(n: usize) -> Experiment {
        let ids: Vec<String> = (0..n).map(|j| format!("EV{j}")).collect();
        let group = (0..n)
            .map(|j| Some(["BM", "AD", "UC"][j % 3].to_string()))
            .collect();
        let cells = Array2::from_shape_fn((60, n), |(i, j)| {
            let shift = if (j % 3) * 20 <= i && i < (j % 3) * 20 + 20 {
                4.0
            } else {
                0.0
            };
            Some(20.0 + shift + 0.05 * ((i * 31 + j * 17) % 41) as f64)
        });
        evomics_testkit::grouped_log2(ids, "source", group, &cells)
    }

    #[test]
    fn auto_space_clusters_on_leading_components_above_500_samples() {
        let config = ClusterConfig {
            layer: "proteome".into(),
            k: KCandidates(vec![2, 3, 4]),
            methods: vec![MethodName::Kmeans, MethodName::Hclust],
            pcs: 10,
            ..ClusterConfig::default()
        };
        // Few samples: the features, and the gap statistic with its default reference sets.
        let small = run_cluster(&three_groups(60), &config).unwrap();
        assert_eq!(small.space_pcs, None);
        assert_eq!(small.config.gap_references, Some(DEFAULT_GAP_REFERENCES));
        assert!(small.clusterings[0].selection.scores[0].gap.is_some());
        // Many: the leading components, and no gap statistic unless it chooses k.
        let big = run_cluster(&three_groups(510), &config).unwrap();
        assert_eq!(big.space_pcs, Some(10));
        assert_eq!(big.config.gap_references, Some(0));
        assert!(big.notes.iter().any(|n| n.contains("leading 10 principal")));
        assert!(big
            .notes
            .iter()
            .any(|n| n.contains("gap statistic not computed")));
        for c in &big.clusterings {
            assert_eq!(c.k, 3, "{:?}", c.method);
            assert!(c.selection.scores.iter().all(|s| s.gap.is_none()));
        }
        let agreement = |r: &ClusterResult| r.agreement.iter().map(|a| a.ari).collect::<Vec<_>>();
        assert!(agreement(&big).iter().all(|a| *a == Some(1.0)));
        let by_gap = ClusterConfig {
            choose_by: ChooseBy::Gap,
            gap_references: None,
            ..config.clone()
        };
        assert_eq!(by_gap.gap_references_for(510), DEFAULT_GAP_REFERENCES);
        // Features on request: the same partitions (Euclidean distances of all components are
        // those of the features).
        let features = run_cluster(
            &three_groups(510),
            &ClusterConfig {
                space: ClusterSpace::Features,
                ..config.clone()
            },
        )
        .unwrap();
        assert_eq!(features.space_pcs, None);
        let labels = |r: &ClusterResult| {
            r.clusterings
                .iter()
                .map(|c| c.labels.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(labels(&features), labels(&big));
        let all = run_cluster(
            &three_groups(60),
            &ClusterConfig {
                space: ClusterSpace::Pcs,
                pcs: 60,
                ..config.clone()
            },
        )
        .unwrap();
        assert_eq!(all.space_pcs, Some(60));
        assert_eq!(labels(&all), labels(&small));
        assert!(toml::from_str::<ClusterConfig>("space = \"pcs\"\npcs = 20").is_ok());
        assert!(toml::from_str::<ClusterConfig>("space = \"genes\"").is_err());
    }

    #[test]
    fn umap_is_a_switch_or_a_table() {
        let c = |t: &str| toml::from_str::<ClusterConfig>(t).map_err(|e| e.to_string());
        assert_eq!(c("umap = true").unwrap().umap, Some(UmapParams::default()));
        assert_eq!(c("umap = false").unwrap().umap, None);
        assert_eq!(c("layer = \"p\"").unwrap().umap, None);
        let t = c("umap = { n_neighbors = 8, seed = 3 }")
            .unwrap()
            .umap
            .unwrap();
        assert_eq!((t.n_neighbors, t.seed), (8, 3));
        assert!(
            c("umap = { neighbours = 8 }").is_err(),
            "unknown keys are refused"
        );
        let mut bad = c("layer = \"p\"\numap = true\numap_pcs = 0").unwrap();
        assert!(bad.validate().unwrap_err().to_string().contains("umap_pcs"));
        bad.umap_pcs = 5;
        bad.umap.as_mut().unwrap().min_dist = -1.0;
        assert!(bad.validate().is_err());
    }
}
