//! The `explore` stage as one library call: [`run_explore`] computes per-group signatures
//! (one-vs-rest moderated statistics and top markers), the variance partition of each feature,
//! per-sample panel scores and panel enrichment of every group's signature, and returns an
//! [`ExploreResult`] that knows its tables. Methods: `docs/methods/explore.md`.
//!
//! ```
//! use evomics_core::{Assay, Experiment, Features, LayerKind, SampleSheet, StageTables, ValueScale};
//! use evomics_panels::PanelSet;
//! use evomics_stats::stages::explore::{run_explore, ExploreConfig};
//!
//! let ids: Vec<String> = (1..=8).map(|i| format!("EV{i}")).collect();
//! let group = (0..8).map(|j| Some(["BM", "AD"][j % 2].to_string())).collect();
//! let sheet = SampleSheet::from_text_columns(ids.clone(), vec![("source".into(), group)]).unwrap();
//! let cells = ndarray::Array2::from_shape_fn((5, 8), |(i, j)| {
//!     Some(10.0 + i as f64 + if j % 2 == 0 && i == 0 { 1.5 } else { 0.0 } + 0.01 * ((i * 7 + j * 3) % 5) as f64)
//! });
//! let features = Features::new((1..=5).map(|i| format!("P{i}")).collect()).unwrap();
//! let layer = Assay::from_options("proteome", LayerKind::Proteome, ValueScale::Log2, features, ids, &cells).unwrap();
//! let mut exp = Experiment::new(sheet);
//! exp.insert_layer(layer).unwrap();
//! let config = ExploreConfig { layer: "proteome".into(), by: vec!["source".into()], ..ExploreConfig::default() };
//! let result = run_explore(&exp, &config, PanelSet::osteogenic()).unwrap();
//! assert_eq!(result.one_vs_rest[0].groups, ["BM", "AD"]);
//! assert!(result.tables().iter().any(|t| t.name == "markers"));
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use evomics_core::scale::log_scale;
use evomics_core::{
    Assay, Cell, ExcludeRules, Experiment, Kind, Message, SampleSheet, StageResult, StageTables,
    Table,
};
use evomics_panels::{match_panels, MatchedPanel, PanelSet};

use crate::adjust::{p_adjust, AdjustMethod};
use crate::enrichment::{camera_pr, hypergeometric_upper};
use crate::error::{Result, StatsError};
use crate::explore::{one_vs_rest, top_markers, MarkerDirection, OneVsRest, OneVsRestOptions};
use crate::limma::{EbayesOptions, Legacy};
use crate::panel_scores::{panel_scores, FeatureSet, PanelScoreRow};
use crate::stages::diff::{toptable, toptable_cells};
use crate::varpart::{
    summarize, variance_partition, VarPartMethod, VarPartOptions, VariancePartition,
};

/// Settings of `explore`: the `[explore]` table of a run config, or the flags of
/// `evomics explore`.
///
/// ```toml
/// layer = "proteome"
/// by = ["source", "conditioning"]
/// factors = ["source", "donor_id", "batch"]
/// top = 25
/// direction = "up"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExploreConfig {
    /// Layer to explore (log-scale values; see `log2`).
    pub layer: String,
    /// Grouping columns of the one-vs-rest signatures (default: the sheet's first grouping
    /// column, [`evomics_core::SampleSheet::grouping_columns`]).
    pub by: Vec<String>,
    /// Log2-transform a layer of linear intensities first (missing cells stay missing).
    pub log2: bool,
    /// What a layer of scale `other` holds (`"log2"`): without it such a layer is refused.
    pub assume_scale: Option<evomics_core::scale::AssumedScale>,
    /// A user panel file (TSV: panel, feature, direction[, note]); read by the caller.
    pub panels: Option<std::path::PathBuf>,
    /// Score the curated osteogenic panels (default true).
    pub curated_panels: bool,
    /// Variance-partition factors (default: the `by` columns and the sheet's grouping columns,
    /// see [`default_factors`]).
    pub factors: Vec<String>,
    /// Variance components by maximum likelihood (`ml`, variancePartition's default) or `reml`.
    pub vp_method: VarPartMethod,
    /// Fit the variance partition only for features observed in at least this share.
    pub vp_min_observed: f64,
    /// Markers written per group.
    pub top: usize,
    /// Which markers: `up` (higher in the group), `down`, `both`.
    pub direction: MarkerDirection,
    /// Columns the one-vs-rest fits are adjusted for.
    pub covariates: Vec<String>,
    /// Sample-sheet column of correlated samples (duplicateCorrelation + block).
    pub block: Option<String>,
    /// eBayes trend.
    pub trend: bool,
    /// eBayes robust.
    pub robust: bool,
    /// adj.P.Val cut-off of the hypergeometric panel enrichment.
    pub fdr: f64,
    /// Panels with fewer matched features are listed but not scored or tested.
    pub min_panel_size: usize,
    /// Inter-feature correlation assumed by cameraPR.
    pub inter_gene_cor: f64,
    /// Samples left out before anything is fitted (see [`evomics_core::exclude`]).
    #[serde(skip_serializing_if = "ExcludeRules::is_empty")]
    pub exclude: ExcludeRules,
}

impl Default for ExploreConfig {
    fn default() -> Self {
        ExploreConfig {
            layer: String::new(),
            by: Vec::new(),
            log2: false,
            assume_scale: None,
            panels: None,
            curated_panels: true,
            factors: Vec::new(),
            vp_method: VarPartMethod::Ml,
            vp_min_observed: 0.5,
            top: 25,
            direction: MarkerDirection::Up,
            covariates: Vec::new(),
            block: None,
            trend: false,
            robust: false,
            fdr: 0.05,
            min_panel_size: 3,
            inter_gene_cor: 0.01,
            exclude: ExcludeRules::default(),
        }
    }
}

impl ExploreConfig {
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
            return bad("layer", "no layer: give --layer NAME".into());
        }
        for (i, b) in self.by.iter().enumerate() {
            if self.by[..i].contains(b) {
                return bad("by", format!("'{b}' is given twice"));
            }
        }
        if !(self.fdr > 0.0 && self.fdr < 1.0) {
            return bad("fdr", format!("{} must lie between 0 and 1", self.fdr));
        }
        if self.min_panel_size == 0 {
            return bad("min_panel_size", "must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.vp_min_observed) {
            return bad(
                "vp_min_observed",
                format!("{} must lie between 0 and 1", self.vp_min_observed),
            );
        }
        if !(self.inter_gene_cor > -1.0 && self.inter_gene_cor < 1.0) {
            return bad(
                "inter_gene_cor",
                format!("{} must lie between -1 and 1", self.inter_gene_cor),
            );
        }
        if !self.curated_panels && self.panels.is_none() {
            return bad(
                "curated_panels",
                "leaving out the curated panels needs a panel file (--panels FILE)".into(),
            );
        }
        Ok(())
    }
}

/// One panel's match against the layer, with feature ids resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanelMatch {
    /// The match (members refer to layer rows).
    pub matched: MatchedPanel,
    /// Feature id of each member, aligned with `matched.members`.
    pub member_ids: Vec<String>,
    /// True when the panel had enough members to be scored and tested.
    pub scored: bool,
}

/// One row of the panel enrichment table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichmentRow {
    /// Grouping column.
    pub by: String,
    /// Group.
    pub group: String,
    /// Panel.
    pub panel: String,
    /// `hypergeometric_up`, `hypergeometric_down`, `camera_pr` or `camera_pr_ranks`.
    pub test: String,
    /// Features with a moderated t in the group's table.
    pub n_universe: usize,
    /// Panel members among them.
    pub n_panel: usize,
    /// Significant features (hypergeometric tests only).
    pub n_selected: Option<usize>,
    /// Significant panel members (hypergeometric tests only).
    pub n_overlap: Option<usize>,
    /// `up` or `down`.
    pub direction: String,
    /// p-value.
    pub p_value: f64,
    /// BH-adjusted over the panels of the same group and test.
    pub fdr: Option<f64>,
}

/// The result of `explore`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExploreResult {
    /// The settings used.
    pub config: ExploreConfig,
    /// Variance-partition factors used.
    pub factors: Vec<String>,
    /// How the layer was put on a log scale, if it was.
    pub transform_note: Option<String>,
    /// Samples of the layer, in layer order.
    pub samples: Vec<String>,
    /// For every `by` column, each sample's label (aligned with `samples`).
    pub sample_labels: Vec<Vec<Option<String>>>,
    /// One-vs-rest statistics per `by` column.
    pub one_vs_rest: Vec<OneVsRest>,
    /// The variance partition (none without factors).
    pub variance_partition: Option<VariancePartition>,
    /// Panel origin (curated, user file, or both) and version.
    pub panel_origin: String,
    /// Panel set version.
    pub panel_version: String,
    /// Every panel's match.
    pub panels: Vec<PanelMatch>,
    /// Per-sample panel scores.
    pub scores: Vec<PanelScoreRow>,
    /// Panel enrichment of every group's signature.
    pub enrichment: Vec<EnrichmentRow>,
    /// What the run had to say (transform, dropped samples, convergence).
    pub notes: Vec<Message>,
    /// The samples `exclude` left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<String>,
    /// Present/absent tests of every group against the rest (table `absent_present`; the
    /// comparison is named `BY: GROUP vs rest`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub presence: Vec<crate::detection::DetectionRow>,
}

/// Number of distinct non-missing values of a column.
fn n_levels(sheet: &SampleSheet, col: &str) -> usize {
    sheet.column(col).map_or(0, |c| {
        (0..sheet.len())
            .filter_map(|r| c.values.text(r))
            .collect::<BTreeSet<_>>()
            .len()
    })
}

/// The variance-partition factors when none are named: the `by` columns, then the sheet's
/// grouping columns ([`SampleSheet::grouping_columns`]: categorical, 2+ levels, each level on
/// 2+ samples), in sheet order, each with 2+ levels and fewer levels than samples (a column of
/// one level per sample is an id, not a factor).
pub fn default_factors(sheet: &SampleSheet, by: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in by.iter().cloned().chain(sheet.grouping_columns()) {
        let l = n_levels(sheet, &c);
        if l >= 2 && l < sheet.len() && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// Run `explore` on `config.layer` of `exp`, scoring and testing `panels`.
pub fn run_explore(
    exp: &Experiment,
    config: &ExploreConfig,
    panels: &PanelSet,
) -> Result<ExploreResult> {
    config.validate()?;
    let (exp, excluded) = exp.excluding(&config.exclude)?;
    let exp = exp.as_ref();
    // Without `by`, the groups are the sheet's first grouping column.
    let resolved;
    let config = if config.by.is_empty() {
        let by: Vec<String> = exp
            .samples()
            .grouping_columns()
            .into_iter()
            .take(1)
            .collect();
        if by.is_empty() {
            return Err(StatsError::Option {
                option: "by".into(),
                problem: "no grouping column: the sheet has no categorical column with 2+ levels; give --by COLUMN".into(),
            });
        }
        resolved = ExploreConfig {
            by,
            ..config.clone()
        };
        &resolved
    } else {
        config
    };
    let raw = exp.layer(&config.layer)?;
    let (assay, transform_note) = log_scale(raw, config.log2, config.assume_scale)?;
    let mut notes: Vec<Message> = Vec::new();
    notes.extend(config.exclude.message("explore", &excluded));
    if let Some(n) = raw.imputed_note("explore (markers, variance partition, panel scores)") {
        notes.push(Message::warn(n));
    }
    if let Some(n) = &transform_note {
        notes.push(Message::info(n.clone()));
    }
    if assay.scale() == evomics_core::ValueScale::Other {
        notes.push(Message::warn(format!(
            "layer '{}' has scale 'other'; it is used as is and should be on a log scale",
            assay.name()
        )));
    }
    let sheet = exp.samples().for_samples(assay.samples())?;
    for b in &config.by {
        sheet.require_column(b)?;
    }
    let factors: Vec<String> = if config.factors.is_empty() {
        default_factors(&sheet, &config.by)
    } else {
        for f in &config.factors {
            sheet.require_column(f)?;
        }
        config.factors.clone()
    };

    let options = OneVsRestOptions {
        ebayes: EbayesOptions {
            trend: config.trend,
            robust: config.robust,
            legacy: Legacy::Auto,
            ..EbayesOptions::default()
        },
        block: config.block.clone(),
        covariates: config.covariates.clone(),
    };
    let mut analyses: Vec<OneVsRest> = Vec::new();
    let mut presence = Vec::new();
    for b in &config.by {
        let ovr = one_vs_rest(&assay, &sheet, b, &options).map_err(|e| StatsError::Option {
            option: format!("by {b}"),
            problem: format!("one-vs-rest statistics: {e}"),
        })?;
        notes.push(Message::info(format!(
            "by {b}: {} groups ({}); {} of {} features have one-vs-rest results (the others lack a value in some group)",
            ovr.groups.len(),
            ovr.groups
                .iter()
                .zip(&ovr.group_sizes)
                .map(|(g, n)| format!("{g} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            ovr.estimable(),
            assay.n_features()
        )));
        if !ovr.dropped_samples.is_empty() {
            notes.push(Message::warn(format!(
                "by {b}: {} sample(s) without a value left out: {}",
                ovr.dropped_samples.len(),
                ovr.dropped_samples.join(", ")
            )));
        }
        let labels: Vec<Option<String>> =
            assay.samples().iter().map(|s| sheet.text(b, s)).collect();
        let before = presence.len();
        for g in &ovr.groups {
            let up: Vec<usize> = (0..labels.len())
                .filter(|&j| labels[j].as_deref() == Some(g.as_str()))
                .collect();
            let down: Vec<usize> = (0..labels.len())
                .filter(|&j| labels[j].as_ref().is_some_and(|l| l != g))
                .collect();
            presence.extend(crate::detection::detection_tests(
                &format!("{b}: {g} vs rest"),
                &assay,
                &up,
                &down,
            ));
        }
        let all_or_none = presence[before..].iter().filter(|r| r.all_or_none).count();
        notes.push(Message::info(format!(
            "by {b}: {all_or_none} feature(s) detected in every sample of one group and in none of the rest (Fisher on detection, absent_present.tsv)"
        )));
        analyses.push(ovr);
    }

    let vp = if factors.is_empty() {
        notes.push(Message::warn("no variance-partition factor: neither the `by` columns nor any grouping column of the sheet has 2+ levels and fewer levels than samples; give --factors"));
        None
    } else {
        let vp = variance_partition(
            &assay,
            &sheet,
            &factors,
            &VarPartOptions {
                method: config.vp_method,
                min_observed_fraction: config.vp_min_observed,
            },
        )
        .map_err(|e| StatsError::Option {
            option: "variance partition".into(),
            problem: e.to_string(),
        })?;
        notes.push(Message::info(format!(
            "variance partition ({}; factors {}): {} of {} features fitted (observed in at least {:.0}% of the {} samples with every factor)",
            vp.method.name(),
            factors.join(", "),
            vp.n_fitted(),
            vp.rows.len(),
            100.0 * vp.min_observed_fraction,
            vp.n_samples
        )));
        let not_converged = vp
            .rows
            .iter()
            .filter(|r| r.fractions.is_some() && !r.converged)
            .count();
        if not_converged > 0 {
            notes.push(Message::warn(format!("variance partition: the optimizer stopped before its tolerance for {not_converged} feature(s); see the converged column")));
        }
        Some(vp)
    };

    let genes = assay
        .features()
        .annotation("gene")
        .or_else(|| assay.features().annotation("name"));
    let matched = match_panels(panels, assay.features().ids(), genes);
    let mut sets: Vec<FeatureSet> = Vec::new();
    let mut panel_matches = Vec::with_capacity(matched.len());
    for m in matched {
        let scored = m.members.len() >= config.min_panel_size;
        if scored {
            let members: Vec<(usize, f64)> = m
                .members
                .iter()
                .map(|x| (x.feature, x.direction.sign()))
                .collect();
            sets.push(FeatureSet::new(&m.panel, &members)?);
        }
        for c in &m.conflicts {
            notes.push(Message::warn(format!(
                "panel {}: conflicting directions for {c}",
                m.panel
            )));
        }
        let member_ids = m
            .members
            .iter()
            .map(|x| assay.features().ids()[x.feature].clone())
            .collect();
        panel_matches.push(PanelMatch {
            matched: m,
            member_ids,
            scored,
        });
    }
    notes.push(Message::info(format!(
        "panels ({}): {}",
        panels.origin(),
        panel_matches
            .iter()
            .map(|m| format!(
                "{} {}/{}",
                m.matched.panel,
                m.matched.members.len(),
                m.matched.n_entries
            ))
            .collect::<Vec<_>>()
            .join(", ")
    )));
    if sets.is_empty() {
        notes.push(Message::warn(format!(
            "no panel has {} or more features in layer '{}'; panel scores and enrichment are empty",
            config.min_panel_size, config.layer
        )));
    }
    let scores = panel_scores(&assay, &sets)?;
    let enrichment = enrichment(&analyses, &sets, config)?;
    let sample_labels = config
        .by
        .iter()
        .map(|b| assay.samples().iter().map(|s| sheet.text(b, s)).collect())
        .collect();
    Ok(ExploreResult {
        config: config.clone(),
        factors,
        transform_note,
        samples: assay.samples().to_vec(),
        sample_labels,
        one_vs_rest: analyses,
        variance_partition: vp,
        panel_origin: panels.origin().to_string(),
        panel_version: panels.version().to_string(),
        panels: panel_matches,
        scores,
        enrichment,
        notes,
        excluded,
        presence,
    })
}

/// For every grouping, group and scored panel: the hypergeometric tests (up and down markers at
/// adj.P.Val ≤ fdr) and cameraPR (t statistics; parametric and ranks), BH-adjusted per group
/// and test.
fn enrichment(
    analyses: &[OneVsRest],
    sets: &[FeatureSet],
    config: &ExploreConfig,
) -> Result<Vec<EnrichmentRow>> {
    let mut out = Vec::new();
    for o in analyses {
        for (gi, g) in o.groups.iter().enumerate() {
            let rows = &o.table(gi).rows;
            // universe: features with a moderated t and an adjusted p-value
            let universe: Vec<usize> = (0..rows.len())
                .filter(|&i| rows[i].t.is_some() && rows[i].adj_p_value.is_some())
                .collect();
            let mut pos = vec![None; rows.len()];
            for (k, &i) in universe.iter().enumerate() {
                pos[i] = Some(k);
            }
            let stat: Vec<f64> = universe.iter().filter_map(|&i| rows[i].t).collect();
            let sig = |i: usize, up: bool| {
                let r = &rows[i];
                r.adj_p_value.is_some_and(|q| q <= config.fdr)
                    && r.log_fc.is_some_and(|l| if up { l > 0.0 } else { l < 0.0 })
            };
            let tested: Vec<(&FeatureSet, Vec<usize>)> = sets
                .iter()
                .map(|s| {
                    (
                        s,
                        s.members
                            .iter()
                            .filter_map(|&m| pos[m])
                            .collect::<Vec<usize>>(),
                    )
                })
                .filter(|(_, idx)| idx.len() >= config.min_panel_size && idx.len() < universe.len())
                .collect();
            if tested.is_empty() || universe.len() < 3 {
                continue;
            }
            let mut results: Vec<EnrichmentRow> = Vec::new();
            let row = |panel: &str,
                       test: &str,
                       n_panel: usize,
                       n_selected: Option<usize>,
                       n_overlap: Option<usize>,
                       direction: &str,
                       p_value: f64| EnrichmentRow {
                by: o.column.clone(),
                group: g.clone(),
                panel: panel.to_string(),
                test: test.to_string(),
                n_universe: universe.len(),
                n_panel,
                n_selected,
                n_overlap,
                direction: direction.to_string(),
                p_value,
                fdr: None,
            };
            for up in [true, false] {
                let selected = universe.iter().filter(|&&i| sig(i, up)).count();
                for (s, idx) in &tested {
                    let overlap = idx.iter().filter(|&&k| sig(universe[k], up)).count();
                    let p = hypergeometric_upper(
                        overlap as u64,
                        selected as u64,
                        idx.len() as u64,
                        universe.len() as u64,
                    )?;
                    results.push(row(
                        &s.name,
                        if up {
                            "hypergeometric_up"
                        } else {
                            "hypergeometric_down"
                        },
                        idx.len(),
                        Some(selected),
                        Some(overlap),
                        if up { "up" } else { "down" },
                        p,
                    ));
                }
            }
            let idx_sets: Vec<Vec<usize>> = tested.iter().map(|(_, i)| i.clone()).collect();
            for (ranks, name) in [(false, "camera_pr"), (true, "camera_pr_ranks")] {
                let cam = camera_pr(&stat, &idx_sets, ranks, config.inter_gene_cor)?;
                for ((s, idx), c) in tested.iter().zip(cam) {
                    results.push(row(
                        &s.name,
                        name,
                        idx.len(),
                        None,
                        None,
                        c.direction.name(),
                        c.p_value,
                    ));
                }
            }
            for test in [
                "hypergeometric_up",
                "hypergeometric_down",
                "camera_pr",
                "camera_pr_ranks",
            ] {
                let mut mine: Vec<EnrichmentRow> =
                    results.iter().filter(|r| r.test == test).cloned().collect();
                let fdr = p_adjust(
                    &mine
                        .iter()
                        .map(|r| Some(r.p_value.min(1.0)))
                        .collect::<Vec<_>>(),
                    AdjustMethod::Bh,
                );
                for (r, q) in mine.iter_mut().zip(fdr) {
                    r.fdr = q;
                }
                out.extend(mine);
            }
        }
    }
    Ok(out)
}

impl ExploreResult {
    /// Display names of a group's first `n` markers.
    pub fn top_marker_names(&self, analysis: usize, group: usize, n: usize) -> Vec<String> {
        let o = &self.one_vs_rest[analysis];
        top_markers(o, None, self.config.direction)
            .into_iter()
            .filter(|m| m.group == o.groups[group])
            .take(n)
            .map(|m| {
                let r = &o.table(group).rows[m.row];
                r.name.clone().unwrap_or_else(|| r.feature_id.clone())
            })
            .collect()
    }

    fn signature_tables(&self) -> (Table, Table) {
        let mut full = toptable("one_vs_rest", &[("by", Kind::Text), ("group", Kind::Text)]);
        let mut markers = Table::new("markers")
            .cols(["by", "group"], Kind::Text)
            .col("rank", Kind::Int)
            .cols(["feature_id", "name"], Kind::Text)
            .cols(
                ["logFC", "AveExpr", "t", "P.Value", "adj.P.Val", "B"],
                Kind::Float,
            );
        for o in &self.one_vs_rest {
            for (gi, g) in o.groups.iter().enumerate() {
                for r in &o.table(gi).rows {
                    let mut row: Vec<Cell> = vec![o.column.as_str().into(), g.as_str().into()];
                    row.extend(toptable_cells(r));
                    full.push(row);
                }
            }
            for m in top_markers(o, Some(self.config.top), self.config.direction) {
                let gi = o.groups.iter().position(|g| *g == m.group).unwrap_or(0);
                let r = &o.table(gi).rows[m.row];
                markers.push(vec![
                    o.column.as_str().into(),
                    m.group.as_str().into(),
                    m.rank.into(),
                    r.feature_id.as_str().into(),
                    r.name.clone().unwrap_or_default().into(),
                    r.log_fc.into(),
                    r.ave_expr.into(),
                    r.t.into(),
                    r.p_value.into(),
                    r.adj_p_value.into(),
                    r.b.into(),
                ]);
            }
        }
        (full, markers)
    }

    fn varpart_tables(&self) -> (Table, Table) {
        let components: Vec<String> = self
            .factors
            .iter()
            .cloned()
            .chain(std::iter::once("Residuals".to_string()))
            .collect();
        let mut t = Table::new("variance_partition")
            .cols(["feature_id", "name"], Kind::Text)
            .col("n_obs", Kind::Int)
            .col("status", Kind::Text)
            .col("converged", Kind::Bool)
            .cols(components.iter().cloned(), Kind::Float)
            .cols(
                components.iter().map(|c| format!("sigma2.{c}")),
                Kind::Float,
            );
        let mut s = Table::new("variance_partition_summary")
            .col("component", Kind::Text)
            .col("n_features", Kind::Int)
            .cols(["mean", "q25", "median", "q75", "max"], Kind::Float)
            .col("n_largest", Kind::Int);
        if let Some(vp) = &self.variance_partition {
            for r in &vp.rows {
                let mut row: Vec<Cell> = vec![
                    r.feature_id.as_str().into(),
                    r.name.clone().unwrap_or_default().into(),
                    r.n_obs.into(),
                    r.status.as_str().into(),
                    r.converged.into(),
                ];
                for part in [&r.fractions, &r.variances] {
                    match part {
                        Some(v) => row.extend(v.iter().map(|x| Cell::from(*x))),
                        None => row.extend(components.iter().map(|_| Cell::Na)),
                    }
                }
                t.push(row);
            }
            for x in summarize(vp) {
                s.push(vec![
                    x.component.into(),
                    x.n_features.into(),
                    x.mean.into(),
                    x.q25.into(),
                    x.median.into(),
                    x.q75.into(),
                    x.max.into(),
                    x.n_largest.into(),
                ]);
            }
        }
        (t, s)
    }

    fn members_table(&self) -> Table {
        let mut t = Table::new("panel_members").cols(
            [
                "panel",
                "entry",
                "as_written",
                "direction",
                "feature_id",
                "matched_by",
                "matched_name",
            ],
            Kind::Text,
        );
        for p in &self.panels {
            let m = &p.matched;
            for (x, id) in m.members.iter().zip(&p.member_ids) {
                t.push(vec![
                    m.panel.as_str().into(),
                    x.entry.as_str().into(),
                    x.as_written.as_str().into(),
                    x.direction.name().into(),
                    id.as_str().into(),
                    x.matched_by.name().into(),
                    x.matched_name.as_str().into(),
                ]);
            }
            for u in &m.unmatched {
                t.push(vec![
                    m.panel.as_str().into(),
                    u.as_str().into(),
                    "".into(),
                    "".into(),
                    Cell::Na,
                    "unmatched".into(),
                    "".into(),
                ]);
            }
        }
        t
    }

    fn scores_table(&self) -> Table {
        let mut t = Table::new("panel_scores")
            .cols(["panel", "sample_id"], Kind::Text)
            .cols(self.config.by.iter().cloned(), Kind::Text)
            .cols(["n_members", "n_used"], Kind::Int)
            .cols(
                [
                    "mean_z",
                    "singscore",
                    "singscore_dispersion",
                    "singscore_up",
                    "singscore_down",
                ],
                Kind::Float,
            );
        for r in &self.scores {
            let j = self.samples.iter().position(|s| *s == r.sample_id);
            let mut row: Vec<Cell> = vec![r.panel.as_str().into(), r.sample_id.as_str().into()];
            row.extend(self.sample_labels.iter().map(|labels| {
                j.and_then(|j| labels[j].clone())
                    .map_or(Cell::Text("NA".into()), Cell::Text)
            }));
            row.extend([
                r.n_members.into(),
                r.n_used.into(),
                r.mean_z.into(),
                r.singscore.into(),
                r.singscore_dispersion.into(),
                r.singscore_up.into(),
                r.singscore_down.into(),
            ]);
            t.push(row);
        }
        t
    }

    fn enrichment_table(&self) -> Table {
        let mut t = Table::new("panel_enrichment")
            .cols(["by", "group", "panel", "test"], Kind::Text)
            .cols(
                ["n_universe", "n_panel", "n_selected", "n_overlap"],
                Kind::Int,
            )
            .col("direction", Kind::Text)
            .cols(["P.Value", "FDR"], Kind::Float);
        for r in &self.enrichment {
            t.push(vec![
                r.by.as_str().into(),
                r.group.as_str().into(),
                r.panel.as_str().into(),
                r.test.as_str().into(),
                r.n_universe.into(),
                r.n_panel.into(),
                r.n_selected.into(),
                r.n_overlap.into(),
                r.direction.as_str().into(),
                r.p_value.into(),
                r.fdr.into(),
            ]);
        }
        t
    }
}

impl StageTables for ExploreResult {
    fn tables(&self) -> Vec<Table> {
        let (ovr, markers) = self.signature_tables();
        let (vp, vps) = self.varpart_tables();
        let mut out = vec![
            ovr,
            markers,
            vp,
            vps,
            self.members_table(),
            self.scores_table(),
            self.enrichment_table(),
        ];
        if !self.presence.is_empty() {
            // limma_tested: the group's one-vs-rest table has a p-value for the feature.
            let tested: std::collections::HashSet<(String, &str)> = self
                .one_vs_rest
                .iter()
                .flat_map(|o| {
                    o.groups.iter().enumerate().flat_map(move |(gi, g)| {
                        o.table(gi)
                            .rows
                            .iter()
                            .filter(|r| r.p_value.is_some())
                            .map(move |r| {
                                (format!("{}: {g} vs rest", o.column), r.feature_id.as_str())
                            })
                    })
                })
                .collect();
            out.push(crate::detection::detection_table(&self.presence, &|r| {
                tested.contains(&(r.contrast.clone(), r.feature.as_str()))
            }));
        }
        out
    }
}

impl StageResult for ExploreResult {
    const STAGE: &'static str = "explore";
    const VERSION: u32 = 1;

    fn messages(&self) -> Vec<Message> {
        let mut out = self.notes.clone();
        for (a, o) in self.one_vs_rest.iter().enumerate() {
            for (gi, g) in o.groups.iter().enumerate() {
                out.push(Message::info(format!(
                    "  {} = {g}: top markers {}",
                    o.column,
                    self.top_marker_names(a, gi, 5).join(", ")
                )));
            }
        }
        if let Some(v) = &self.variance_partition {
            for s in summarize(v) {
                out.push(Message::info(format!(
                    "  variance share {}: median {:.3}, mean {:.3}, largest for {} features",
                    s.component, s.median, s.mean, s.n_largest
                )));
            }
        }
        out
    }
}

/// The layer's samples that `assay` holds, as the sheet rows (used by the stages that need both).
pub fn layer_sheet(exp: &Experiment, assay: &Assay) -> Result<SampleSheet> {
    Ok(exp.samples().for_samples(assay.samples())?)
}
