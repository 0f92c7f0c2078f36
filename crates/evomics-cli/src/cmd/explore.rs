//! `evomics explore`: per-group signatures (one-vs-rest limma), the variance partition, panel
//! scores and panel enrichment. Methods: docs/methods/explore.md.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::json;

use evomics_core::{Assay, SampleSheet, ValueScale};
use evomics_io::table::{num, Table};
use evomics_io::{read_experiment, InputFile, Manifest};
use evomics_panels::{match_panels, MatchedPanel, PanelSet};
use evomics_stats::enrichment::{camera_pr, hypergeometric_upper};
use evomics_stats::varpart::summarize;
use evomics_stats::{
    one_vs_rest, p_adjust, panel_scores, top_markers, variance_partition, AdjustMethod,
    EbayesOptions, FeatureSet, Legacy, MarkerDirection, OneVsRest, OneVsRestOptions, VarPartMethod,
    VarPartOptions, VariancePartition,
};

use crate::cmd::{write_stage, Log};

/// `evomics explore`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  evomics explore exp-norm --layer proteome --by source -o explore\n  evomics explore exp --layer proteome --log2 --by Cell_type --by Differentiation --factors Cell_type,Differentiation,Donor -o explore\n  evomics explore exp-norm --layer proteome --by source --panels my_panels.tsv -o explore\n\nOutputs: markers.tsv, one_vs_rest.tsv, variance_partition.tsv, variance_partition_summary.tsv,\npanel_members.tsv, panel_scores.tsv, panel_enrichment.tsv, manifest.json (docs/methods/explore.md)."
)]
pub struct ExploreArgs {
    /// Experiment store directory (normally the output of `evomics normalize`).
    pub store: PathBuf,
    /// Layer to explore (log-scale values; see --log2).
    #[arg(long)]
    pub layer: String,
    /// Grouping column for one-vs-rest signatures (repeatable, e.g. --by source --by conditioning).
    #[arg(long, required = true)]
    pub by: Vec<String>,
    /// Output directory (replaced atomically).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Log2-transform a layer of linear intensities first (missing cells stay missing).
    #[arg(long)]
    pub log2: bool,
    /// User panels: TSV with columns panel, feature, direction[, note].
    #[arg(long)]
    pub panels: Option<PathBuf>,
    /// Leave out the curated osteogenic panels (score only --panels).
    #[arg(long)]
    pub no_curated_panels: bool,
    /// Variance-partition factors, comma-separated (default: those of source, donor_id, batch,
    /// conditioning the sheet has with 2+ levels).
    #[arg(long, value_delimiter = ',')]
    pub factors: Vec<String>,
    /// Variance components by maximum likelihood (variancePartition's default) or REML.
    #[arg(long, default_value = "ml", value_parser = ["ml", "reml"])]
    pub vp_method: String,
    /// Fit the variance partition only for features observed in at least this share of samples.
    #[arg(long, default_value_t = 0.5)]
    pub vp_min_observed: f64,
    /// Markers written per group.
    #[arg(long, default_value_t = 25)]
    pub top: usize,
    /// Which markers: up (higher in the group), down, both.
    #[arg(long, default_value = "up", value_parser = ["up", "down", "both"])]
    pub direction: String,
    /// Columns to adjust the one-vs-rest fits for, comma-separated (`~ 0 + group + cov…`);
    /// factor(col) reads a numeric column as a factor; a covariate equal to the --by column is
    /// skipped for that grouping.
    #[arg(long, value_delimiter = ',')]
    pub covariates: Vec<String>,
    /// Sample-sheet column of correlated samples (e.g. donor_id): duplicateCorrelation + block.
    #[arg(long)]
    pub block: Option<String>,
    /// Intensity-dependent prior variance (eBayes trend = TRUE).
    #[arg(long)]
    pub trend: bool,
    /// Robust empirical Bayes (eBayes robust = TRUE).
    #[arg(long)]
    pub robust: bool,
    /// adj.P.Val cut-off of the hypergeometric panel enrichment.
    #[arg(long, default_value_t = 0.05)]
    pub fdr: f64,
    /// Panels with fewer matched features are listed but not scored or tested.
    #[arg(long, default_value_t = 3)]
    pub min_panel_size: usize,
    /// Inter-feature correlation assumed by cameraPR.
    #[arg(long, default_value_t = 0.01)]
    pub inter_gene_cor: f64,
}

/// The layer on a log scale: log2 of linear values with `--log2`, else the layer itself; counts
/// and linear layers without `--log2` are refused (linear models and PCA need log-scale data).
pub(crate) fn log_scale_layer(
    layer: &Assay,
    log2: bool,
    log: Log,
) -> anyhow::Result<(Assay, Option<String>)> {
    match (layer.scale(), log2) {
        (ValueScale::Linear, true) => {
            if let Some(((i, j), v)) = layer
                .values()
                .indexed_iter()
                .find(|((i, j), v)| layer.flags()[[*i, *j]].has_value() && **v <= 0.0)
            {
                bail!(
                    "layer '{}' has the value {v} (feature '{}', sample '{}'); log2 needs positive values: read zeros as missing at ingest (zero=missing) or normalize first",
                    layer.name(),
                    layer.features().ids()[i],
                    layer.samples()[j]
                );
            }
            let out = layer.map_values(ValueScale::Log2, f64::log2)?;
            let note = format!(
                "layer '{}' log2-transformed (--log2); missing cells stay missing",
                layer.name()
            );
            log.say(&note);
            Ok((out, Some(note)))
        }
        (ValueScale::Log2 | ValueScale::Other, false) => {
            if layer.scale() == ValueScale::Other {
                log.warn(format!(
                    "layer '{}' has scale 'other'; it is used as is and should be on a log scale",
                    layer.name()
                ));
            }
            Ok((layer.clone(), None))
        }
        (ValueScale::Linear, false) => bail!(
            "layer '{}' holds linear values; this analysis needs log-scale data: add --log2, or run `evomics normalize` first",
            layer.name()
        ),
        (ValueScale::Counts, _) => bail!(
            "layer '{}' holds counts; run `evomics normalize` first (e.g. log-CPM) and explore the normalized store",
            layer.name()
        ),
        (s, true) => bail!(
            "--log2 applies to linear layers; layer '{}' has scale '{}'",
            layer.name(),
            s.name()
        ),
    }
}

/// The sheet rows of the layer's samples, in layer order.
pub(crate) fn layer_sheet(sheet: &SampleSheet, layer: &Assay) -> anyhow::Result<SampleSheet> {
    let rows = layer
        .samples()
        .iter()
        .map(|s| {
            sheet
                .position(s)
                .with_context(|| format!("layer sample '{s}' is not in the sample sheet"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(sheet.select(&rows))
}

/// A column must exist in the sheet; the error lists the columns.
pub(crate) fn require_column(sheet: &SampleSheet, col: &str) -> anyhow::Result<()> {
    if sheet.column(col).is_none() {
        bail!(
            "the sample sheet has no column '{col}'; it has: {}",
            sheet
                .columns()
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// Number of distinct non-missing values of a column over the sheet's rows.
fn n_levels(sheet: &SampleSheet, col: &str) -> usize {
    sheet.column(col).map_or(0, |c| {
        (0..sheet.len())
            .filter_map(|r| c.values.text(r))
            .collect::<BTreeSet<_>>()
            .len()
    })
}

const KNOWN_FACTORS: [&str; 4] = ["source", "donor_id", "batch", "conditioning"];

pub fn run(a: ExploreArgs, log: Log) -> anyhow::Result<()> {
    if !(a.fdr > 0.0 && a.fdr < 1.0) {
        bail!("--fdr {} must lie between 0 and 1", a.fdr);
    }
    if a.min_panel_size == 0 {
        bail!("--min-panel-size must be at least 1");
    }
    let user_panels = match &a.panels {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the panel file {}", p.display()))?;
            Some(PanelSet::parse_user(&text, &p.display().to_string())?)
        }
        None => None,
    };
    let panel_set = match (&user_panels, a.no_curated_panels) {
        (Some(u), false) => PanelSet::osteogenic().merged(u)?,
        (Some(u), true) => u.clone(),
        (None, false) => PanelSet::osteogenic().clone(),
        (None, true) => bail!("--no-curated-panels needs --panels FILE"),
    };
    let (exp, _) = read_experiment(&a.store)?;
    let raw = exp.layer(&a.layer)?;
    let (assay, transform_note) = log_scale_layer(raw, a.log2, log)?;
    let sheet = layer_sheet(exp.samples(), &assay)?;
    for (i, b) in a.by.iter().enumerate() {
        require_column(&sheet, b)?;
        if a.by[..i].contains(b) {
            bail!("--by {b} is given twice");
        }
    }
    let factors: Vec<String> = if a.factors.is_empty() {
        KNOWN_FACTORS
            .iter()
            .filter(|f| {
                let l = n_levels(&sheet, f);
                l >= 2 && l < sheet.len()
            })
            .map(|f| f.to_string())
            .collect()
    } else {
        for f in &a.factors {
            require_column(&sheet, f)?;
        }
        a.factors.clone()
    };

    // one-vs-rest per grouping column
    let options = OneVsRestOptions {
        ebayes: EbayesOptions {
            trend: a.trend,
            robust: a.robust,
            legacy: Legacy::Auto,
            ..EbayesOptions::default()
        },
        block: a.block.clone(),
        covariates: a.covariates.clone(),
    };
    let direction = MarkerDirection::parse(&a.direction)?;
    let mut analyses: Vec<OneVsRest> = Vec::new();
    for b in &a.by {
        let ovr = one_vs_rest(&assay, &sheet, b, &options)
            .with_context(|| format!("one-vs-rest statistics by '{b}'"))?;
        log.say(format!(
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
        ));
        if !ovr.dropped_samples.is_empty() {
            log.warn(format!(
                "by {b}: {} sample(s) without a value left out: {}",
                ovr.dropped_samples.len(),
                ovr.dropped_samples.join(", ")
            ));
        }
        analyses.push(ovr);
    }

    // variance partition
    let vp = if factors.is_empty() {
        log.warn("no variance-partition factor: the sheet has none of source, donor_id, batch, conditioning with 2+ levels; give --factors");
        None
    } else {
        let vp = variance_partition(
            &assay,
            &sheet,
            &factors,
            &VarPartOptions {
                method: VarPartMethod::parse(&a.vp_method)?,
                min_observed_fraction: a.vp_min_observed,
            },
        )
        .context("variance partition")?;
        log.say(format!(
            "variance partition ({}; factors {}): {} of {} features fitted (observed in at least {:.0}% of the {} samples with every factor)",
            vp.method.name(),
            factors.join(", "),
            vp.n_fitted(),
            vp.rows.len(),
            100.0 * vp.min_observed_fraction,
            vp.n_samples
        ));
        let not_converged = vp
            .rows
            .iter()
            .filter(|r| r.fractions.is_some() && !r.converged)
            .count();
        if not_converged > 0 {
            log.warn(format!("variance partition: the optimizer stopped before its tolerance for {not_converged} feature(s); see the converged column"));
        }
        Some(vp)
    };

    // panels
    let genes = assay
        .features()
        .annotation("gene")
        .or_else(|| assay.features().annotation("name"));
    let matched = match_panels(&panel_set, assay.features().ids(), genes);
    let mut sets: Vec<FeatureSet> = Vec::new();
    for m in &matched {
        if m.members.len() >= a.min_panel_size {
            let members: Vec<(usize, f64)> = m
                .members
                .iter()
                .map(|x| (x.feature, x.direction.sign()))
                .collect();
            sets.push(FeatureSet::new(&m.panel, &members)?);
        }
        for c in &m.conflicts {
            log.warn(format!("panel {}: conflicting directions for {c}", m.panel));
        }
    }
    log.say(format!(
        "panels ({}): {}",
        panel_set.origin(),
        matched
            .iter()
            .map(|m| format!("{} {}/{}", m.panel, m.members.len(), m.n_entries))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if sets.is_empty() {
        log.warn(format!(
            "no panel has {} or more features in layer '{}'; panel scores and enrichment are empty",
            a.min_panel_size, a.layer
        ));
    }
    let scores = panel_scores(&assay, &sets)?;

    let mut manifest = Manifest::new("explore");
    manifest.inputs.push(InputFile::store(&a.store)?);
    if let Some(p) = &a.panels {
        manifest.inputs.push(InputFile::hash("panels", p)?);
    }
    manifest.settings = json!({
        "store": a.store.display().to_string(),
        "layer": a.layer,
        "log2": a.log2,
        "by": a.by,
        "factors": factors,
        "variance_partition": { "method": a.vp_method, "min_observed_fraction": a.vp_min_observed,
            "model": "all factors as random intercepts (variancePartition), fitted as lme4 (profiled deviance, BOBYQA)" },
        "one_vs_rest": { "design": "~ 0 + group + covariates", "covariates": a.covariates, "contrast": "group - mean of the other groups' means", "ebayes": options.ebayes, "block": a.block },
        "markers": { "top": a.top, "direction": direction.name(), "rank_by": "P.Value" },
        "panels": { "origin": panel_set.origin(), "version": panel_set.version(), "min_panel_size": a.min_panel_size },
        "enrichment": { "fdr": a.fdr, "inter_gene_cor": a.inter_gene_cor, "tests": ["hypergeometric_up", "hypergeometric_down", "camera_pr", "camera_pr_ranks"] },
    });
    manifest.reports = json!({
        "transform": transform_note,
        "one_vs_rest": analyses.iter().map(|o| json!({
            "by": o.column, "groups": o.groups, "group_sizes": o.group_sizes,
            "features_with_results": o.estimable(), "dropped_samples": o.dropped_samples,
            "limma": o.result.settings,
        })).collect::<Vec<_>>(),
        "variance_partition": vp.as_ref().map(|v| json!({
            "fitted": v.n_fitted(), "features": v.rows.len(), "samples": v.n_samples,
            "dropped_samples": v.dropped_samples,
        })),
        "panels": matched.iter().map(|m| json!({
            "panel": m.panel, "entries": m.n_entries, "matched_features": m.members.len(),
            "unmatched": m.unmatched, "conflicts": m.conflicts,
            "scored": m.members.len() >= a.min_panel_size, "signed": m.is_signed(),
        })).collect::<Vec<_>>(),
    });

    let enrichment = enrichment_table(&analyses, &sets, &a)?;
    write_stage(&a.out, &manifest, |tmp| {
        let (ovr_t, markers_t) = signature_tables(&analyses, a.top, direction);
        ovr_t.write(&tmp.join("one_vs_rest.tsv"))?;
        markers_t.write(&tmp.join("markers.tsv"))?;
        let (vp_t, vps_t) = varpart_tables(vp.as_ref(), &factors);
        vp_t.write(&tmp.join("variance_partition.tsv"))?;
        vps_t.write(&tmp.join("variance_partition_summary.tsv"))?;
        members_table(&matched, &assay).write(&tmp.join("panel_members.tsv"))?;
        scores_table(&scores, &sheet, &a.by).write(&tmp.join("panel_scores.tsv"))?;
        enrichment.write(&tmp.join("panel_enrichment.tsv"))
    })?;

    for o in &analyses {
        for (gi, g) in o.groups.iter().enumerate() {
            let top: Vec<String> = top_markers_of(o, gi, direction, 5);
            log.say(format!(
                "  {} = {g}: top markers {}",
                o.column,
                top.join(", ")
            ));
        }
    }
    if let Some(v) = &vp {
        for s in summarize(v) {
            log.say(format!(
                "  variance share {}: median {:.3}, mean {:.3}, largest for {} features",
                s.component, s.median, s.mean, s.n_largest
            ));
        }
    }
    log.say(format!("wrote {}", a.out.display()));
    Ok(())
}

/// Display names of a group's first `n` markers.
fn top_markers_of(o: &OneVsRest, gi: usize, direction: MarkerDirection, n: usize) -> Vec<String> {
    top_markers(o, None, direction)
        .into_iter()
        .filter(|m| m.group == o.groups[gi])
        .take(n)
        .map(|m| {
            let r = &o.table(gi).rows[m.row];
            r.name.clone().unwrap_or_else(|| r.feature_id.clone())
        })
        .collect()
}

/// `one_vs_rest.tsv` (every feature of every group) and `markers.tsv` (top per group).
fn signature_tables(
    analyses: &[OneVsRest],
    top: usize,
    direction: MarkerDirection,
) -> (Table, Table) {
    let mut full = Table::new([
        "by",
        "group",
        "feature_id",
        "name",
        "n_obs",
        "logFC",
        "AveExpr",
        "t",
        "P.Value",
        "adj.P.Val",
        "B",
    ]);
    let mut markers = Table::new([
        "by",
        "group",
        "rank",
        "feature_id",
        "name",
        "logFC",
        "AveExpr",
        "t",
        "P.Value",
        "adj.P.Val",
        "B",
    ]);
    for o in analyses {
        for (gi, g) in o.groups.iter().enumerate() {
            for r in &o.table(gi).rows {
                full.push(vec![
                    o.column.clone(),
                    g.clone(),
                    r.feature_id.clone(),
                    r.name.clone().unwrap_or_default(),
                    r.n_obs.to_string(),
                    num(r.log_fc),
                    num(r.ave_expr),
                    num(r.t),
                    num(r.p_value),
                    num(r.adj_p_value),
                    num(r.b),
                ]);
            }
        }
        for m in top_markers(o, Some(top), direction) {
            let gi = o.groups.iter().position(|g| *g == m.group).unwrap_or(0);
            let r = &o.table(gi).rows[m.row];
            markers.push(vec![
                o.column.clone(),
                m.group.clone(),
                m.rank.to_string(),
                r.feature_id.clone(),
                r.name.clone().unwrap_or_default(),
                num(r.log_fc),
                num(r.ave_expr),
                num(r.t),
                num(r.p_value),
                num(r.adj_p_value),
                num(r.b),
            ]);
        }
    }
    (full, markers)
}

/// `variance_partition.tsv` and `variance_partition_summary.tsv`.
fn varpart_tables(vp: Option<&VariancePartition>, factors: &[String]) -> (Table, Table) {
    let components: Vec<String> = factors
        .iter()
        .cloned()
        .chain(std::iter::once("Residuals".to_string()))
        .collect();
    let mut cols: Vec<String> = ["feature_id", "name", "n_obs", "status", "converged"]
        .map(String::from)
        .to_vec();
    cols.extend(components.iter().cloned());
    cols.extend(components.iter().map(|c| format!("sigma2.{c}")));
    let mut t = Table::new(cols);
    let mut s = Table::new([
        "component",
        "n_features",
        "mean",
        "q25",
        "median",
        "q75",
        "max",
        "n_largest",
    ]);
    if let Some(vp) = vp {
        for r in &vp.rows {
            let mut row = vec![
                r.feature_id.clone(),
                r.name.clone().unwrap_or_default(),
                r.n_obs.to_string(),
                r.status.clone(),
                r.converged.to_string(),
            ];
            for part in [&r.fractions, &r.variances] {
                match part {
                    Some(v) => row.extend(v.iter().map(|x| num(Some(*x)))),
                    None => row.extend(components.iter().map(|_| "NA".to_string())),
                }
            }
            t.push(row);
        }
        for x in summarize(vp) {
            s.push(vec![
                x.component,
                x.n_features.to_string(),
                num(Some(x.mean)),
                num(Some(x.q25)),
                num(Some(x.median)),
                num(Some(x.q75)),
                num(Some(x.max)),
                x.n_largest.to_string(),
            ]);
        }
    }
    (t, s)
}

/// `panel_members.tsv`: every panel entry with the layer feature(s) it matched (or none).
fn members_table(matched: &[MatchedPanel], assay: &Assay) -> Table {
    let mut t = Table::new([
        "panel",
        "entry",
        "as_written",
        "direction",
        "feature_id",
        "matched_by",
        "matched_name",
    ]);
    for m in matched {
        for x in &m.members {
            t.push(vec![
                m.panel.clone(),
                x.entry.clone(),
                x.as_written.clone(),
                x.direction.name().to_string(),
                assay.features().ids()[x.feature].clone(),
                x.matched_by.name().to_string(),
                x.matched_name.clone(),
            ]);
        }
        for u in &m.unmatched {
            t.push(vec![
                m.panel.clone(),
                u.clone(),
                String::new(),
                String::new(),
                "NA".into(),
                "unmatched".into(),
                String::new(),
            ]);
        }
    }
    t
}

/// `panel_scores.tsv`: one row per panel × sample, with the --by labels of the sample.
fn scores_table(
    rows: &[evomics_stats::PanelScoreRow],
    sheet: &SampleSheet,
    by: &[String],
) -> Table {
    let mut cols: Vec<String> = vec!["panel".into(), "sample_id".into()];
    cols.extend(by.iter().cloned());
    cols.extend(
        [
            "n_members",
            "n_used",
            "mean_z",
            "singscore",
            "singscore_dispersion",
            "singscore_up",
            "singscore_down",
        ]
        .map(String::from),
    );
    let mut t = Table::new(cols);
    for r in rows {
        let mut row = vec![r.panel.clone(), r.sample_id.clone()];
        row.extend(
            by.iter()
                .map(|b| sheet.text(b, &r.sample_id).unwrap_or_else(|| "NA".into())),
        );
        row.extend([
            r.n_members.to_string(),
            r.n_used.to_string(),
            num(r.mean_z),
            num(r.singscore),
            num(r.singscore_dispersion),
            num(r.singscore_up),
            num(r.singscore_down),
        ]);
        t.push(row);
    }
    t
}

/// `panel_enrichment.tsv`: for every grouping, group and scored panel, the hypergeometric tests
/// (up and down markers at adj.P.Val ≤ fdr) and cameraPR (t statistics; parametric and ranks).
fn enrichment_table(
    analyses: &[OneVsRest],
    sets: &[FeatureSet],
    a: &ExploreArgs,
) -> anyhow::Result<Table> {
    let mut t = Table::new([
        "by",
        "group",
        "panel",
        "test",
        "n_universe",
        "n_panel",
        "n_selected",
        "n_overlap",
        "direction",
        "P.Value",
        "FDR",
    ]);
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
                r.adj_p_value.is_some_and(|q| q <= a.fdr)
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
                .filter(|(_, idx)| idx.len() >= a.min_panel_size && idx.len() < universe.len())
                .collect();
            if tested.is_empty() || universe.len() < 3 {
                continue;
            }
            // (panel, test, n_selected, n_overlap, direction, p)
            type Res = (
                String,
                &'static str,
                Option<usize>,
                Option<usize>,
                String,
                f64,
            );
            let mut results: Vec<Res> = Vec::new();
            for up in [true, false] {
                let selected: Vec<usize> =
                    universe.iter().copied().filter(|&i| sig(i, up)).collect();
                for (s, idx) in &tested {
                    let overlap = idx.iter().filter(|&&k| sig(universe[k], up)).count();
                    let p = hypergeometric_upper(
                        overlap as u64,
                        selected.len() as u64,
                        idx.len() as u64,
                        universe.len() as u64,
                    )?;
                    results.push((
                        s.name.clone(),
                        if up {
                            "hypergeometric_up"
                        } else {
                            "hypergeometric_down"
                        },
                        Some(selected.len()),
                        Some(overlap),
                        if up { "up" } else { "down" }.to_string(),
                        p,
                    ));
                }
            }
            let idx_sets: Vec<Vec<usize>> = tested.iter().map(|(_, i)| i.clone()).collect();
            for (ranks, name) in [(false, "camera_pr"), (true, "camera_pr_ranks")] {
                let cam = camera_pr(&stat, &idx_sets, ranks, a.inter_gene_cor)?;
                for ((s, _), c) in tested.iter().zip(cam) {
                    results.push((
                        s.name.clone(),
                        name,
                        None,
                        None,
                        c.direction.name().to_string(),
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
                let mine: Vec<&Res> = results.iter().filter(|r| r.1 == test).collect();
                let fdr = p_adjust(
                    &mine.iter().map(|r| Some(r.5.min(1.0))).collect::<Vec<_>>(),
                    AdjustMethod::Bh,
                );
                for (r, q) in mine.iter().zip(fdr) {
                    let n_panel = tested
                        .iter()
                        .find(|(s, _)| s.name == r.0)
                        .map_or(0, |(_, i)| i.len());
                    t.push(vec![
                        o.column.clone(),
                        g.clone(),
                        r.0.clone(),
                        test.to_string(),
                        universe.len().to_string(),
                        n_panel.to_string(),
                        r.2.map_or("NA".into(), |v| v.to_string()),
                        r.3.map_or("NA".into(), |v| v.to_string()),
                        r.4.clone(),
                        num(Some(r.5)),
                        num(q),
                    ]);
                }
            }
        }
    }
    Ok(t)
}
