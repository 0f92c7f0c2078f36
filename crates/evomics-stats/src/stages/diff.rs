//! The `diff` stage as one library call: [`run_diff`] fits limma's moderated linear model of
//! one layer (design, contrasts, `lmFit`, `eBayes`, `topTable`), with voom for count layers and
//! donor blocking, and returns a [`DiffResult`] that knows its tables.
//!
//! ```
//! use evomics_core::{Assay, Experiment, Features, LayerKind, SampleSheet, StageTables, ValueScale};
//! use evomics_stats::stages::diff::{run_diff, DiffConfig};
//!
//! let ids: Vec<String> = (1..=6).map(|i| format!("EV{i}")).collect();
//! let group = (0..6).map(|j| Some(if j < 3 { "BM" } else { "AD" }.to_string())).collect();
//! let sheet = SampleSheet::from_text_columns(ids.clone(), vec![("source".into(), group)]).unwrap();
//! let cells = ndarray::Array2::from_shape_fn((4, 6), |(i, j)| {
//!     Some(10.0 + i as f64 + if j >= 3 && i == 0 { 2.0 } else { 0.0 } + 0.01 * ((i * 7 + j * 3) % 5) as f64)
//! });
//! let features = Features::new((1..=4).map(|i| format!("P{i}")).collect()).unwrap();
//! let layer = Assay::from_options("proteome", LayerKind::Proteome, ValueScale::Log2, features, ids, &cells).unwrap();
//! let mut exp = Experiment::new(sheet);
//! exp.insert_layer(layer).unwrap();
//! let config = DiffConfig {
//!     layer: "proteome".into(),
//!     design: "~ 0 + source".into(),
//!     contrasts: vec!["AD_vs_BM = AD - BM".into()],
//!     ..DiffConfig::default()
//! };
//! let result = run_diff(&exp, &config).unwrap();
//! assert_eq!(result.limma.tables[0].contrast, "AD_vs_BM");
//! let names: Vec<String> = result.tables().into_iter().map(|t| t.name).collect();
//! assert_eq!(names, ["contrast_AD_vs_BM", "contrast_AD_vs_BM.volcano", "fit", "absent_present"]);
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use evomics_core::{
    Assay, Cell, ExcludeRules, Experiment, Kind, Message, StageResult, StageTables, Table,
    ValueScale,
};

use crate::adjust::AdjustMethod;
use crate::contrasts::Contrasts;
use crate::design::{Design, DesignOptions, LevelOrder};
use crate::error::{Result, StatsError};
use crate::limma::{lm_fit, lm_fit_measured, Block, EbayesOptions, Legacy, LimmaResult};
use crate::voom::{voom_lm_fit, VoomFitOptions, VoomOptions};
use evomics_norm::{LibrarySizes, NormFactorsParams};

/// Whether `diff` uses voom's precision weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VoomChoice {
    /// voom for count layers, plain limma for log-scale layers.
    #[default]
    Auto,
    /// Always voom (the layer must hold counts).
    On,
    /// Never voom.
    Off,
}
evomics_core::vocabulary!(VoomChoice {
    Auto => "auto",
    On => "true" | "yes" | "on",
    Off => "false" | "no" | "off",
});

/// Settings of `diff`: a `[diff.NAME]` table of a run config, or the `--config` file of
/// `evomics diff` (its flags override these keys).
///
/// ```toml
/// layer = "proteome"
/// design = "~ 0 + source"
/// contrasts = ["ADSC_vs_BM = ADSC - BM_MSC"]   # empty: every coefficient
/// block = "donor_id"                            # duplicateCorrelation + block
/// trend = false
/// robust = false
/// legacy = "auto"                               # auto | true | false
/// voom = "auto"                                 # auto | true | false
/// norm_factors = { method = "tmm" }             # voom's libraries: tmm | upper_quartile | rle | none
/// treat_lfc = 1.0                               # limma's treat: test |logFC| > 1 instead of ≠ 0
/// use_imputed = false                           # imputed cells are missing to limma (default)
/// adjust = "BH"
/// significance = 0.05
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiffConfig {
    /// Layer to test.
    pub layer: String,
    /// Design formula over sample-sheet columns.
    pub design: String,
    /// Contrasts (`expr` or `name = expr`); empty = every coefficient of the design.
    #[serde(alias = "contrast")]
    pub contrasts: Vec<String>,
    /// eBayes `trend`.
    pub trend: bool,
    /// eBayes `robust`.
    pub robust: bool,
    /// The prior estimator: `auto` (current limma), `true` (limma < 3.60), `false`.
    #[serde(deserialize_with = "legacy_from_text_or_bool")]
    pub legacy: Legacy,
    /// Sample-sheet column of correlated samples (e.g. `donor_id`).
    pub block: Option<String>,
    /// voom precision weights: `auto` (for count layers), `true`, `false`.
    pub voom: VoomChoice,
    /// edgeR normalization factors of voom's libraries, computed on the layer's (filtered)
    /// counts with library sizes over those features (`keep.lib.sizes = FALSE`); TMM when not
    /// given. Only with voom.
    pub norm_factors: Option<NormFactorsParams>,
    /// limma's `treat`: test |logFC| > `treat_lfc` (log2 units) instead of logFC ≠ 0.
    pub treat_lfc: Option<f64>,
    /// What a layer of scale `other` holds (`"log2"`): without it such a layer is refused.
    pub assume_scale: Option<evomics_core::scale::AssumedScale>,
    /// Fit imputed cells as if they were measured. Off by default: an imputed cell is missing
    /// to limma (limma is made for missing values; imputed values shrink variances and inflate
    /// significance). Either way the tables count observed and imputed cells per feature.
    pub use_imputed: bool,
    /// p-value adjustment (`BH`, `BY`, `holm`, `bonferroni`, `none`).
    #[serde(deserialize_with = "adjust_from_text")]
    pub adjust: AdjustMethod,
    /// Level order of factors without an explicit order.
    pub level_order: LevelOrder,
    /// Explicit level orders by column.
    pub levels: BTreeMap<String, Vec<String>>,
    /// adj.P.Val threshold marking features significant in the volcano table.
    pub significance: f64,
    /// Samples left out before the design is built (see [`evomics_core::exclude`]).
    #[serde(skip_serializing_if = "ExcludeRules::is_empty")]
    pub exclude: ExcludeRules,
}

impl Default for DiffConfig {
    fn default() -> Self {
        DiffConfig {
            layer: String::new(),
            design: String::new(),
            contrasts: Vec::new(),
            trend: false,
            robust: false,
            legacy: Legacy::Auto,
            block: None,
            voom: VoomChoice::Auto,
            norm_factors: None,
            treat_lfc: None,
            use_imputed: false,
            assume_scale: None,
            exclude: ExcludeRules::default(),
            adjust: AdjustMethod::Bh,
            level_order: LevelOrder::FirstAppearance,
            levels: BTreeMap::new(),
            significance: 0.05,
        }
    }
}

fn legacy_from_text_or_bool<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Legacy, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Bool(bool),
        Text(String),
    }
    let text = match Repr::deserialize(d)? {
        Repr::Bool(b) => b.to_string(),
        Repr::Text(t) => t,
    };
    Legacy::parse(&text).map_err(serde::de::Error::custom)
}

fn adjust_from_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<AdjustMethod, D::Error> {
    let text = String::deserialize(d)?;
    AdjustMethod::parse(&text).map_err(serde::de::Error::custom)
}

impl DiffConfig {
    /// Check the settings alone (before any data is read).
    pub fn validate(&self) -> Result<()> {
        self.exclude.validate()?;
        let bad = |option: &str, problem: String| {
            Err(StatsError::Option {
                option: option.into(),
                problem,
            })
        };
        if self.layer.trim().is_empty() {
            return bad(
                "layer",
                "no layer: give --layer NAME or `layer = \"NAME\"`".into(),
            );
        }
        if self.design.trim().is_empty() {
            return bad(
                "design",
                "no design: give --design '~ 0 + source' or `design = \"…\"`".into(),
            );
        }
        if let Some(lfc) = self.treat_lfc {
            if !(lfc.is_finite() && lfc >= 0.0) {
                return bad(
                    "treat_lfc",
                    format!("treat_lfc = {lfc} must be a log2 fold change ≥ 0 (1 = two-fold)"),
                );
            }
        }
        if self.voom == VoomChoice::Off && self.norm_factors.is_some() {
            return bad(
                "norm_factors",
                "norm_factors sets voom's libraries, but voom = false: leave one of them out"
                    .into(),
            );
        }
        if let Some(nf) = &self.norm_factors {
            nf.validate("norm_factors")?;
        }
        if !(self.significance > 0.0 && self.significance < 1.0) {
            return Err(StatsError::Option {
                option: "significance".into(),
                problem: format!(
                    "significance = {} must be between 0 and 1",
                    self.significance
                ),
            });
        }
        Ok(())
    }
}

/// The result of `diff`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffResult {
    /// The settings used.
    pub config: DiffConfig,
    /// Whether voom weights were used.
    pub voom: bool,
    /// voom's libraries, consensus correlations and (not in `result.json`) its expression and
    /// weights, when voom ran.
    #[serde(default)]
    pub voom_detail: Option<VoomDetail>,
    /// Where the counts came from when the analysis store held a transformed layer (set by the
    /// caller that swapped the counts in, e.g. `evomics run`).
    #[serde(default)]
    pub counts_source: Option<String>,
    /// Observed and imputed cells per feature (and per group of each contrast).
    #[serde(default)]
    pub cells: CellCounts,
    /// The limma tables and how they were made.
    pub limma: LimmaResult,
    /// The samples `exclude` left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<String>,
    /// Plausibility warnings (log2 values above 60, |logFC| above 30).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Present/absent tests per contrast between groups (table `absent_present`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detection: Vec<crate::detection::DetectionRow>,
}

/// Observed and imputed cells of every feature over the design's samples: overall and per
/// group, a group being an indicator coefficient of the design (`~ 0 + source` has one per
/// source) that a contrast uses.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CellCounts {
    /// Whether imputed cells went into the fit (`use_imputed`).
    pub used_imputed: bool,
    /// The design's coefficient names.
    pub coefficients: Vec<String>,
    /// Per contrast (in table order), the indicator coefficients it uses.
    pub contrast_groups: Vec<Vec<usize>>,
    /// Per feature: observed cells.
    pub observed: Vec<usize>,
    /// Per feature: imputed cells.
    pub imputed: Vec<usize>,
    /// Per feature, per coefficient: observed cells of the samples in that group (0 for a
    /// coefficient that is not an indicator).
    pub observed_by_group: Vec<Vec<usize>>,
    /// Per feature, per coefficient: imputed cells of the samples in that group.
    pub imputed_by_group: Vec<Vec<usize>>,
}

impl CellCounts {
    /// Count the cells of `layer` (design samples, design order) per feature and group.
    pub fn count(
        layer: &Assay,
        design: &Design,
        contrasts: &Contrasts,
        used_imputed: bool,
    ) -> Self {
        use evomics_core::ValueFlag;
        let x = design.matrix();
        let (n, p) = (x.nrows(), x.ncols());
        // An indicator column: every entry 0 or 1, some of each.
        let indicator: Vec<bool> = (0..p)
            .map(|k| {
                let col = x.column(k);
                col.iter().all(|v| *v == 0.0 || *v == 1.0)
                    && col.iter().any(|v| *v == 1.0)
                    && col.iter().any(|v| *v == 0.0)
            })
            .collect();
        let contrast_groups = contrasts
            .contrasts()
            .iter()
            .map(|c| {
                (0..p)
                    .filter(|&k| indicator[k] && c.weights[k] != 0.0)
                    .collect()
            })
            .collect();
        let flags = layer.flags();
        let mut out = CellCounts {
            used_imputed,
            coefficients: design.coef_names().to_vec(),
            contrast_groups,
            ..CellCounts::default()
        };
        // The indicator groups of each sample, found once rather than for every cell.
        let groups_of: Vec<Vec<usize>> = (0..n)
            .map(|j| {
                (0..p)
                    .filter(|&k| indicator[k] && x[[j, k]] == 1.0)
                    .collect()
            })
            .collect();
        for row in flags.rows().into_iter().take(layer.n_features()) {
            let (mut obs, mut imp) = (0usize, 0usize);
            let mut og = vec![0usize; p];
            let mut ig = vec![0usize; p];
            for (flag, groups) in row.iter().zip(&groups_of) {
                let (o, m) = match flag {
                    ValueFlag::Observed => (1, 0),
                    ValueFlag::Imputed => (0, 1),
                    _ => continue,
                };
                obs += o;
                imp += m;
                for &k in groups {
                    og[k] += o;
                    ig[k] += m;
                }
            }
            out.observed.push(obs);
            out.imputed.push(imp);
            out.observed_by_group.push(og);
            out.imputed_by_group.push(ig);
        }
        out
    }

    /// Total imputed cells.
    pub fn total_imputed(&self) -> usize {
        self.imputed.iter().sum()
    }
}

/// Present/absent tests of every contrast whose sides are groups of the design (indicator
/// coefficients with positive and with negative weight); the cells are counted before imputed
/// cells are set missing, and an imputed cell is never a detection.
fn detection_by_contrast(
    layer: &Assay,
    design: &Design,
    contrasts: &Contrasts,
    cells: &CellCounts,
) -> Vec<crate::detection::DetectionRow> {
    let x = design.matrix();
    let mut out = Vec::new();
    for (c, groups) in contrasts.contrasts().iter().zip(&cells.contrast_groups) {
        let side = |positive: bool| -> Vec<usize> {
            (0..x.nrows())
                .filter(|&j| {
                    groups.iter().any(|&k| {
                        x[[j, k]] == 1.0 && (c.weights[k] > 0.0) == positive && c.weights[k] != 0.0
                    })
                })
                .collect()
        };
        let (up, down) = (side(true), side(false));
        out.extend(crate::detection::detection_tests(
            &c.name, layer, &up, &down,
        ));
    }
    out
}

/// The layer with its imputed cells turned back into missing ones (values NaN, flag
/// `Missing`), so that limma fits the measured values only.
fn imputed_as_missing(layer: &Assay) -> Result<Assay> {
    use evomics_core::ValueFlag;
    let mut values = layer.values().clone();
    let mut flags = layer.flags().clone();
    for ((v, f), _) in values.iter_mut().zip(flags.iter_mut()).zip(0..) {
        if *f == ValueFlag::Imputed {
            *f = ValueFlag::Missing;
            *v = f64::NAN;
        }
    }
    Ok(layer.with_matrices(values, flags, layer.scale())?)
}

/// What voom did in `diff`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoomDetail {
    /// The normalization factors' method (`tmm`, `upper_quartile`, `rle`, `none`).
    pub norm_factors: NormFactorsParams,
    /// Library sizes (over the layer's features) and factors of the design's samples.
    pub libraries: LibrarySizes,
    /// With a block: the consensus correlation of the first pass (voom without the block) and
    /// of the second (voom with the block and the first consensus); the fit uses the second.
    pub correlations: Option<(f64, f64)>,
    /// Remarks of voom (e.g. all weights 1).
    pub notes: Vec<String>,
    /// voom's log2-CPM (`E`) and weights, features × design samples; written as
    /// `voom_E.parquet` and `voom_weights.parquet`, not kept in `result.json`.
    #[serde(skip)]
    pub matrices: Option<(Assay, ndarray::Array2<f64>)>,
}

/// Run the model of `config` on its layer of `exp`.
pub fn run_diff(exp: &Experiment, config: &DiffConfig) -> Result<DiffResult> {
    config.validate()?;
    let (exp, excluded) = exp.excluding(&config.exclude)?;
    let exp = exp.as_ref();
    let layer = exp.layer(&config.layer)?;
    let rows: Vec<usize> = layer
        .samples()
        .iter()
        .filter_map(|s| exp.samples().position(s))
        .collect();
    let sheet = exp.samples().select(&rows);
    let options = DesignOptions {
        level_order: config.level_order,
        levels: config.levels.clone(),
    };
    let design = Design::from_formula(&sheet, &config.design, &options)?;
    // The design's samples are usually the layer's own, in order: then the layer is used as is.
    let layer: Cow<'_, Assay> = if layer.samples() == design.sample_ids() {
        Cow::Borrowed(layer)
    } else {
        Cow::Owned(layer.select_samples_by_id(design.sample_ids())?)
    };
    let contrasts = if config.contrasts.is_empty() {
        Contrasts::coefficients(&design)
    } else {
        Contrasts::parse(&design, &config.contrasts)?
    };
    evomics_core::scale::check_assumed(&layer, config.assume_scale)?;
    let use_voom = match config.voom {
        VoomChoice::On => true,
        VoomChoice::Off => false,
        VoomChoice::Auto => layer.scale() == ValueScale::Counts,
    };
    if use_voom && layer.scale() != ValueScale::Counts {
        return Err(StatsError::Option {
            option: "voom".into(),
            problem: format!(
                "voom = true needs counts, but layer '{}' holds {} values: give the ingested counts (in `evomics run` a count layer's diff gets them by itself; `evomics diff --counts INGEST_STORE`), or set voom = false",
                config.layer,
                layer.scale().name()
            ),
        });
    }
    if !use_voom && matches!(layer.scale(), ValueScale::Linear | ValueScale::Counts) {
        return Err(StatsError::Option {
            option: "layer".into(),
            problem: format!(
                "layer '{}' holds {} values; linear models need log-scale data: run `evomics normalize` first (log2 or log-CPM){}",
                config.layer,
                layer.scale().name(),
                if layer.scale() == ValueScale::Counts {
                    ", or use voom = \"true\""
                } else {
                    ""
                }
            ),
        });
    }
    let mut warnings = Vec::new();
    if !use_voom {
        warnings.extend(evomics_core::scale::implausible_log2(&layer));
    }
    let cells = CellCounts::count(&layer, &design, &contrasts, config.use_imputed);
    let detection = detection_by_contrast(&layer, &design, &contrasts, &cells);
    let measured_only = !config.use_imputed && cells.total_imputed() > 0;
    // lm_fit_measured drops the imputed cells itself; voom gets a copy without them.
    let layer = if measured_only && use_voom {
        Cow::Owned(imputed_as_missing(&layer)?)
    } else {
        layer
    };
    let block = match &config.block {
        Some(col) => {
            let rows: Vec<usize> = design
                .sample_ids()
                .iter()
                .filter_map(|s| sheet.position(s))
                .collect();
            Some(Block::from_sheet(&sheet.select(&rows), col, &design)?)
        }
        None => None,
    };
    let (fit, voom_detail) = if use_voom {
        let norm_factors = config.norm_factors.clone().unwrap_or_default();
        let options = VoomFitOptions {
            norm_factors: norm_factors.clone(),
            voom: VoomOptions::default(),
        };
        let vf = voom_lm_fit(&layer, &design, block.as_ref(), &options)?;
        let detail = VoomDetail {
            norm_factors,
            libraries: vf.voom.libraries.clone(),
            correlations: vf
                .correlations
                .as_ref()
                .map(|c| (c.first.consensus, c.second.consensus)),
            notes: vf.voom.notes.clone(),
            matrices: Some((vf.voom.expression, vf.voom.weights)),
        };
        (vf.fit, Some(detail))
    } else {
        let fit = if measured_only {
            lm_fit_measured(&layer, &design, None, block.as_ref())?
        } else {
            lm_fit(&layer, &design, None, block.as_ref())?
        };
        (fit, None)
    };
    let options = EbayesOptions {
        trend: config.trend,
        robust: config.robust,
        legacy: config.legacy,
        adjust: config.adjust,
        ..EbayesOptions::default()
    };
    let limma = match config.treat_lfc {
        Some(lfc) => fit.treat(&contrasts, lfc, &options)?,
        None => fit.moderate(&contrasts, &options)?,
    };
    check_contrast_names(limma.tables.iter().map(|t| t.contrast.as_str()))?;
    if limma.f_table.is_some() {
        check_f_columns(limma.tables.iter().map(|t| t.contrast.as_str()))?;
    }
    for t in &limma.tables {
        let huge = t
            .rows
            .iter()
            .filter(|r| r.log_fc.is_some_and(|x| x.abs() > MAX_PLAUSIBLE_LOG_FC))
            .count();
        if huge > 0 {
            warnings.push(format!(
                "{}: {huge} feature(s) have |logFC| above {MAX_PLAUSIBLE_LOG_FC} (a {MAX_PLAUSIBLE_LOG_FC}-fold change in log2 units is a billion-fold change): check that the layer holds log values and the design is what you meant",
                t.contrast
            ));
        }
    }
    Ok(DiffResult {
        config: config.clone(),
        voom: use_voom,
        voom_detail,
        counts_source: None,
        cells,
        limma,
        excluded,
        warnings,
        detection,
    })
}

/// A contrast name as the stem of its files: `contrast_` and the name with letters, digits,
/// `_` and `-` kept and anything else (`.`, `/`, spaces, …) turned into `_`. The `contrast_`
/// namespace cannot meet the stage's fixed files (`fit`, `F`, `voom_*`, `result.json`,
/// `manifest.json`), and without dots a stem is never hidden, `.` or `..`, and the
/// `.volcano` table of one contrast is never the table of another.
pub fn file_stem(contrast: &str) -> String {
    let slug: String = contrast
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("contrast_{slug}")
}

/// Largest plausible |logFC| in log2 units (2^30 ≈ 1e9-fold): beyond it a difference is almost
/// surely of linear values read as logs.
pub const MAX_PLAUSIBLE_LOG_FC: f64 = 30.0;

/// Check that contrast names make distinct, meaningful file names ([`file_stem`]): a name
/// without a letter or digit (empty, `..`, `/`) or two names with the same stem (`a.b` and
/// `a_b`) are errors naming the names.
pub fn check_contrast_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let mut stems: BTreeMap<String, &str> = BTreeMap::new();
    for name in names {
        if !name.chars().any(|c| c.is_ascii_alphanumeric()) {
            return Err(StatsError::Option {
                option: "contrasts".into(),
                problem: format!(
                    "the contrast name {name:?} has no letter or digit, so it makes no file name; name the contrast (name = expr, e.g. AD_vs_BM = AD - BM)"
                ),
            });
        }
        let stem = file_stem(name);
        if let Some(prev) = stems.insert(stem.clone(), name) {
            return Err(StatsError::Option {
                option: "contrasts".into(),
                problem: format!(
                    "contrasts '{prev}' and '{name}' give the same file name '{stem}.tsv'; name them differently (name = expr)"
                ),
            });
        }
    }
    Ok(())
}

/// The columns of the F-test table besides one logFC column per contrast (named by the
/// contrast, as limma's `topTable` of several coefficients names them).
pub const F_COLUMNS: [&str; 7] = [
    "feature_id",
    "name",
    "n_obs",
    "AveExpr",
    "F",
    "P.Value",
    "adj.P.Val",
];

/// With several contrasts, each names a logFC column of `F.tsv`: a contrast named like one of
/// the table's other columns ([`F_COLUMNS`]) would give it two columns of one name.
pub fn check_f_columns<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<()> {
    for name in names {
        if F_COLUMNS.contains(&name) {
            return Err(StatsError::Option {
                option: "contrasts".into(),
                problem: format!(
                    "the contrast name '{name}' is also a column of the F-test table F.tsv ({}), which has a logFC column per contrast; rename the contrast (name = expr)",
                    F_COLUMNS.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// The columns of a `topTable` (the per-contrast table).
pub const TOPTABLE_COLUMNS: [(&str, Kind); 9] = [
    ("feature_id", Kind::Text),
    ("name", Kind::Text),
    ("n_obs", Kind::Int),
    ("logFC", Kind::Float),
    ("AveExpr", Kind::Float),
    ("t", Kind::Float),
    ("P.Value", Kind::Float),
    ("adj.P.Val", Kind::Float),
    ("B", Kind::Float),
];

/// An empty table with the [`TOPTABLE_COLUMNS`], optionally after leading columns.
pub fn toptable(name: impl Into<String>, leading: &[(&str, Kind)]) -> Table {
    let mut t = Table::new(name);
    for (c, k) in leading.iter().chain(TOPTABLE_COLUMNS.iter()) {
        t.add_col(*c, *k);
    }
    t
}

/// The cells of one `topTable` row, in [`TOPTABLE_COLUMNS`] order.
pub fn toptable_cells(r: &crate::limma::ContrastRow) -> Vec<Cell> {
    vec![
        r.feature_id.as_str().into(),
        r.name.clone().unwrap_or_default().into(),
        r.n_obs.into(),
        r.log_fc.into(),
        r.ave_expr.into(),
        r.t.into(),
        r.p_value.into(),
        r.adj_p_value.into(),
        r.b.into(),
    ]
}

impl StageTables for DiffResult {
    fn tables(&self) -> Vec<Table> {
        let mut out = Vec::new();
        for (c, t) in self.limma.tables.iter().enumerate() {
            let stem = file_stem(&t.contrast);
            let groups = self
                .cells
                .contrast_groups
                .get(c)
                .cloned()
                .unwrap_or_default();
            let mut top = toptable(stem.as_str(), &[]).with_parquet();
            let counted = self.cells.observed.len() == t.rows.len();
            if counted {
                top = top.cols(["n_observed", "n_imputed"], Kind::Int);
                for &k in &groups {
                    let g = &self.cells.coefficients[k];
                    top = top.cols(
                        [format!("n_observed.{g}"), format!("n_imputed.{g}")],
                        Kind::Int,
                    );
                }
            }
            let mut volcano = Table::new(format!("{stem}.volcano"))
                .cols(["feature_id", "name"], Kind::Text)
                .cols(["logFC", "neg_log10_p", "adj.P.Val"], Kind::Float)
                .col("significant", Kind::Bool);
            for (i, r) in t.rows.iter().enumerate() {
                let mut cells = toptable_cells(r);
                if counted {
                    cells.push(self.cells.observed[i].into());
                    cells.push(self.cells.imputed[i].into());
                    for &k in &groups {
                        cells.push(self.cells.observed_by_group[i][k].into());
                        cells.push(self.cells.imputed_by_group[i][k].into());
                    }
                }
                top.push(cells);
                if let (Some(fc), Some(p)) = (r.log_fc, r.p_value) {
                    volcano.push(vec![
                        r.feature_id.as_str().into(),
                        r.name.clone().unwrap_or_default().into(),
                        fc.into(),
                        (-p.max(f64::MIN_POSITIVE).log10()).into(),
                        r.adj_p_value.into(),
                        r.adj_p_value
                            .is_some_and(|q| q < self.config.significance)
                            .into(),
                    ]);
                }
            }
            out.push(top);
            out.push(volcano);
        }
        if let Some(ft) = &self.limma.f_table {
            let mut t = Table::new("F")
                .cols(["feature_id", "name"], Kind::Text)
                .col("n_obs", Kind::Int)
                .cols(ft.contrasts.iter().cloned(), Kind::Float)
                .cols(["AveExpr", "F", "P.Value", "adj.P.Val"], Kind::Float);
            for r in &ft.rows {
                let mut row: Vec<Cell> = vec![
                    r.feature_id.as_str().into(),
                    r.name.clone().unwrap_or_default().into(),
                    r.n_obs.into(),
                ];
                row.extend(r.log_fc.iter().map(|v| Cell::from(*v)));
                row.extend([
                    r.ave_expr.into(),
                    r.f.into(),
                    r.p_value.into(),
                    r.adj_p_value.into(),
                ]);
                t.push(row);
            }
            out.push(t);
        }
        let mut fit = Table::new("fit")
            .cols(["feature_id", "name"], Kind::Text)
            .col("n_obs", Kind::Int)
            .cols(
                [
                    "Amean",
                    "sigma",
                    "df.residual",
                    "s2.prior",
                    "df.prior",
                    "s2.post",
                    "df.total",
                ],
                Kind::Float,
            );
        for r in &self.limma.fit.rows {
            fit.push(vec![
                r.feature_id.as_str().into(),
                r.name.clone().unwrap_or_default().into(),
                r.n_obs.into(),
                r.amean.into(),
                r.sigma.into(),
                r.df_residual.into(),
                r.s2_prior.into(),
                infinite_as_text(r.df_prior),
                r.s2_post.into(),
                infinite_as_text(r.df_total),
            ]);
        }
        out.push(fit);
        if !self.detection.is_empty() {
            let tested: std::collections::HashSet<(&str, &str)> = self
                .limma
                .tables
                .iter()
                .flat_map(|t| {
                    t.rows
                        .iter()
                        .filter(|r| r.p_value.is_some())
                        .map(move |r| (t.contrast.as_str(), r.feature_id.as_str()))
                })
                .collect();
            out.push(crate::detection::detection_table(&self.detection, &|r| {
                tested.contains(&(r.contrast.as_str(), r.feature.as_str()))
            }));
        }
        if let Some(v) = &self.voom_detail {
            let l = &v.libraries;
            let mut lib = Table::new("voom_libraries")
                .col("sample_id", Kind::Text)
                .cols(
                    ["lib_size", "norm_factors", "effective_lib_size"],
                    Kind::Float,
                );
            for (j, s) in l.samples.iter().enumerate() {
                lib.push(vec![
                    s.as_str().into(),
                    l.lib_size[j].into(),
                    l.norm_factors[j].into(),
                    (l.lib_size[j] * l.norm_factors[j]).into(),
                ]);
            }
            out.push(lib);
            if let Some((e, w)) = &v.matrices {
                out.push(wide_parquet("voom_E", e, |i, j| e.get(i, j)));
                out.push(wide_parquet("voom_weights", e, |i, j| Some(w[[i, j]])));
            }
        }
        out
    }
}

/// A features × samples matrix as a Parquet-only table (`feature_id` + one column per sample).
fn wide_parquet(name: &str, layer: &Assay, cell: impl Fn(usize, usize) -> Option<f64>) -> Table {
    let mut t = Table::new(name)
        .col("feature_id", Kind::Text)
        .cols(layer.samples().iter().cloned(), Kind::Float)
        .parquet_only();
    for (i, id) in layer.features().ids().iter().enumerate() {
        let mut row: Vec<Cell> = Vec::with_capacity(layer.n_samples() + 1);
        row.push(id.as_str().into());
        row.extend((0..layer.n_samples()).map(|j| Cell::from(cell(i, j))));
        t.push(row);
    }
    t
}

/// limma's `df.prior` is infinite when the data show no extra variance between features
/// (R prints `Inf`): written as `Inf`, as R does, so it is not confused with a missing value.
fn infinite_as_text(x: f64) -> Cell {
    if x == f64::INFINITY {
        Cell::Float(f64::INFINITY)
    } else {
        Cell::from(x)
    }
}

impl StageResult for DiffResult {
    const STAGE: &'static str = "diff";
    const VERSION: u32 = 2;

    fn messages(&self) -> Vec<Message> {
        let mut out = Vec::new();
        out.extend(self.config.exclude.message("diff", &self.excluded));
        out.extend(self.warnings.iter().map(Message::warn));
        for t in &self.limma.tables {
            let sig = t
                .rows
                .iter()
                .filter(|r| r.adj_p_value.is_some_and(|q| q < self.config.significance))
                .count();
            let tested = t.rows.iter().filter(|r| r.p_value.is_some()).count();
            out.push(Message::info(format!(
                "{}: {} features, {tested} tested, {sig} with adj.P.Val < {}",
                t.contrast,
                t.rows.len(),
                self.config.significance
            )));
        }
        for t in &self.limma.tables {
            let rows: Vec<&crate::detection::DetectionRow> = self
                .detection
                .iter()
                .filter(|r| r.contrast == t.contrast)
                .collect();
            if rows.is_empty() {
                continue;
            }
            let all_or_none = rows.iter().filter(|r| r.all_or_none).count();
            let sig = rows
                .iter()
                .filter(|r| r.adj_p_value < self.config.significance)
                .count();
            out.push(Message::info(format!(
                "{}: present/absent (Fisher on detection): {all_or_none} feature(s) detected in every sample of one side and none of the other, {sig} with adj.P.Val < {} (absent_present.tsv)",
                t.contrast, self.config.significance
            )));
        }
        out.push(Message::info(format!(
            "eBayes prior estimator: {}",
            if self.limma.settings.legacy_applied {
                "legacy (fitFDist, limma before 3.60)"
            } else {
                "fitFDistUnequalDF1 (limma ≥ 3.60 with unequal residual df)"
            }
        )));
        if let Some(src) = &self.counts_source {
            out.push(Message::info(format!("counts: {src}")));
        }
        if let Some(v) = &self.voom_detail {
            let f = &v.libraries.norm_factors;
            let (lo, hi) = f
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                    (a.min(*x), b.max(*x))
                });
            out.push(Message::info(format!(
                "voom on {} libraries of {} samples (normalization factors {lo:.3}–{hi:.3}), weights in voom_weights.parquet",
                v.norm_factors.name(),
                f.len()
            )));
            if let Some((a, b)) = v.correlations {
                out.push(Message::info(format!(
                    "duplicateCorrelation with voom, two passes: consensus {a:.4} (first), {b:.4} (used)"
                )));
            }
            for n in &v.notes {
                out.push(Message::warn(format!("voom: {n}")));
            }
        }
        if let Some(lfc) = self.config.treat_lfc {
            out.push(Message::info(format!(
                "treat: P.Value tests |logFC| > {lfc}; B is not defined under treat"
            )));
        }
        let imputed = self.cells.total_imputed();
        if imputed > 0 {
            let total: usize = self.cells.observed.iter().sum::<usize>() + imputed;
            let share = 100.0 * imputed as f64 / total.max(1) as f64;
            let with_imp = |t: &crate::limma::ContrastTable| {
                t.rows
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.adj_p_value.is_some_and(|q| q < self.config.significance))
                    .fold((0usize, 0usize), |(s, w), (i, _)| {
                        (s + 1, w + usize::from(self.cells.imputed[i] > 0))
                    })
            };
            if self.cells.used_imputed {
                out.push(Message::warn(format!(
                    "use_imputed = true: limma fitted {imputed} imputed cells ({share:.1} % of the values) as if measured"
                )));
            } else {
                out.push(Message::info(format!(
                    "{imputed} imputed cells ({share:.1} % of the values) are missing to limma: the fit uses measured values only (use_imputed = true fits them); the tables count them in n_imputed"
                )));
            }
            for t in &self.limma.tables {
                let (sig, w) = with_imp(t);
                if w > 0 {
                    out.push(Message::info(format!(
                        "{}: {w} of {sig} significant features have imputed cells{}",
                        t.contrast,
                        if self.cells.used_imputed {
                            " in their fit"
                        } else {
                            " (not fitted)"
                        }
                    )));
                }
            }
        }
        if self.config.assume_scale.is_some() {
            out.push(Message::info(format!(
                "layer '{}' has scale 'other'; its values are taken as log2 (assume_scale = \"log2\")",
                self.config.layer
            )));
        }
        let dropped = &self.limma.settings.dropped_samples;
        if !dropped.is_empty() {
            out.push(Message::warn(format!(
                "{} sample(s) dropped for missing design values: {}",
                dropped.len(),
                dropped.join(", ")
            )));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_files_cannot_collide_escape_or_hide() {
        assert_eq!(file_stem("AD_vs_BM"), "contrast_AD_vs_BM");
        assert_eq!(file_stem("../../x/y"), "contrast_______x_y");
        assert_eq!(file_stem(".hidden"), "contrast__hidden");
        // The fixed files of the stage are outside the namespace.
        for fixed in ["fit", "F", "voom_libraries", "result", "manifest"] {
            assert_ne!(file_stem(fixed), fixed);
            assert!(file_stem(fixed).starts_with("contrast_"));
        }
        // A contrast named `x.volcano` is not the volcano table of `x`.
        assert_ne!(
            file_stem("x.volcano"),
            format!("{}.volcano", file_stem("x"))
        );
        assert!(check_contrast_names(["fit", "F", "AD_vs_BM"]).is_ok());
        for (names, needle) in [
            (vec![""], "\"\" has no letter or digit"),
            (vec!["..", "a"], "\"..\" has no letter or digit"),
            (
                vec!["a.b", "a_b"],
                "'a.b' and 'a_b' give the same file name 'contrast_a_b.tsv'",
            ),
        ] {
            let e = check_contrast_names(names).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
        assert!(check_f_columns(["fit", "ADSC_vs_BM"]).is_ok());
        let e = check_f_columns(["x", "F"]).unwrap_err().to_string();
        assert!(
            e.contains("'F' is also a column of the F-test table F.tsv"),
            "{e}"
        );
    }

    /// Cells are counted per feature and per indicator coefficient of the design (an
    /// intercept is not one): by hand on 2 features × 5 samples.
    #[test]
    fn cell_counts_by_feature_and_group() {
        use evomics_core::{Features, LayerKind, SampleSheet, ValueFlag as F};
        let sheet = SampleSheet::from_text_columns(
            (0..5).map(|j| format!("S{j}")).collect(),
            vec![(
                "g".into(),
                ["a", "b", "a", "c", "b"]
                    .map(|g| Some(g.to_string()))
                    .to_vec(),
            )],
        )
        .unwrap();
        let flags = ndarray::array![
            [
                F::Observed,
                F::Imputed,
                F::Missing,
                F::Observed,
                F::Observed
            ],
            [F::Imputed, F::Imputed, F::Observed, F::Missing, F::Imputed],
        ];
        let values = flags.mapv(|f| if f.has_value() { 1.0 } else { f64::NAN });
        let layer = Assay::new(
            "p",
            LayerKind::Proteome,
            ValueScale::Log2,
            Features::new(vec!["P1".into(), "P2".into()]).unwrap(),
            (0..5).map(|j| format!("S{j}")).collect(),
            values,
            flags,
        )
        .unwrap();
        let opts = DesignOptions::default();
        let cell_means = Design::from_formula(&sheet, "~ 0 + g", &opts).unwrap();
        let c = Contrasts::parse(&cell_means, &["b - a"]).unwrap();
        let n = CellCounts::count(&layer, &cell_means, &c, false);
        assert_eq!((n.observed, n.imputed), (vec![3, 1], vec![1, 3]));
        // groups a (S0, S2), b (S1, S4), c (S3)
        assert_eq!(n.observed_by_group, vec![vec![1, 1, 1], vec![1, 0, 0]]);
        assert_eq!(n.imputed_by_group, vec![vec![0, 1, 0], vec![1, 2, 0]]);
        assert_eq!(n.contrast_groups, vec![vec![0, 1]]);
        // With an intercept, its column is not a group and counts 0.
        let treatment = Design::from_formula(&sheet, "~ g", &opts).unwrap();
        let c = Contrasts::parse(&treatment, &["b"]).unwrap();
        let n = CellCounts::count(&layer, &treatment, &c, false);
        assert_eq!(n.observed_by_group, vec![vec![0, 1, 1], vec![0, 0, 0]]);
        assert_eq!(n.imputed_by_group, vec![vec![0, 1, 0], vec![0, 2, 0]]);
    }
}
