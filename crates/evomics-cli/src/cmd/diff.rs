//! `evomics diff`: limma-equal differential statistics (design, contrasts, lmFit, eBayes,
//! topTable), with voom for count layers and donor blocking.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::json;

use evomics_core::{Assay, Experiment, ValueScale};
use evomics_io::table::{num, Table};
use evomics_io::{read_experiment_layers, InputFile, Manifest};
use evomics_stats::{
    lm_fit, voom, AdjustMethod, Block, Contrasts, Design, DesignOptions, EbayesOptions, Legacy,
    LevelOrder, LimmaResult, VoomOptions,
};

use crate::cmd::{write_stage, Log};

/// `evomics diff`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  evomics diff exp-norm --layer proteome --design '~ 0 + source' --contrast 'ADSC - BM_MSC' -o diff\n  evomics diff exp-norm --config diff.toml -o diff\n\nConfig (TOML): layer, design, contrasts = [\"name = expr\", …], trend, robust, legacy (auto|true|false),\nblock (e.g. \"donor_id\"), voom (auto|true|false), adjust (BH|BY|holm|bonferroni), level_order\n(first_appearance|sorted), [levels] source = [\"BM-MSC\", …], significance (0.05). See docs/methods/statistics.md."
)]
pub struct DiffArgs {
    /// Experiment store directory (normally the output of `evomics normalize`).
    pub store: PathBuf,
    /// Output directory (replaced atomically).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Settings file (TOML); flags below override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Layer to test.
    #[arg(long)]
    pub layer: Option<String>,
    /// Design formula over sample-sheet columns, e.g. '~ 0 + source'.
    #[arg(long)]
    pub design: Option<String>,
    /// Contrast (repeatable): 'ADSC - BM_MSC' or 'name = ADSC - BM_MSC'.
    #[arg(long = "contrast")]
    pub contrasts: Vec<String>,
    /// Intensity-dependent prior variance (eBayes trend = TRUE).
    #[arg(long)]
    pub trend: bool,
    /// Robust empirical Bayes (eBayes robust = TRUE).
    #[arg(long)]
    pub robust: bool,
    /// Prior estimator: auto (current limma), true (limma < 3.60), false.
    #[arg(long)]
    pub legacy: Option<String>,
    /// Sample-sheet column of correlated samples (e.g. donor_id): duplicateCorrelation + block.
    #[arg(long)]
    pub block: Option<String>,
}

/// Settings of `diff`, from the config file and flags.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiffConfig {
    /// Layer to test.
    pub layer: String,
    /// Design formula.
    pub design: String,
    /// Contrasts (`expr` or `name = expr`); empty = every coefficient of the design.
    pub contrasts: Vec<String>,
    /// eBayes trend.
    pub trend: bool,
    /// eBayes robust.
    pub robust: bool,
    /// `auto`, `true` or `false`.
    pub legacy: String,
    /// Blocking column.
    pub block: Option<String>,
    /// `auto` (voom for count layers), `true`, `false`.
    pub voom: String,
    /// p-value adjustment.
    pub adjust: String,
    /// `first_appearance` or `sorted`.
    pub level_order: String,
    /// Explicit level orders by column.
    pub levels: BTreeMap<String, Vec<String>>,
    /// adj.P.Val threshold marking features significant in the volcano data.
    pub significance: f64,
}

impl Default for DiffConfig {
    fn default() -> Self {
        DiffConfig {
            layer: String::new(),
            design: String::new(),
            contrasts: Vec::new(),
            trend: false,
            robust: false,
            legacy: "auto".into(),
            block: None,
            voom: "auto".into(),
            adjust: "BH".into(),
            level_order: "first_appearance".into(),
            levels: BTreeMap::new(),
            significance: 0.05,
        }
    }
}

fn resolve(a: &DiffArgs) -> anyhow::Result<DiffConfig> {
    let mut c = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            toml::from_str::<DiffConfig>(&text)
                .with_context(|| format!("diff config {}", p.display()))?
        }
        None => DiffConfig::default(),
    };
    if let Some(l) = &a.layer {
        c.layer = l.clone();
    }
    if let Some(d) = &a.design {
        c.design = d.clone();
    }
    if !a.contrasts.is_empty() {
        c.contrasts = a.contrasts.clone();
    }
    c.trend |= a.trend;
    c.robust |= a.robust;
    if let Some(l) = &a.legacy {
        c.legacy = l.clone();
    }
    if a.block.is_some() {
        c.block = a.block.clone();
    }
    if c.layer.is_empty() {
        bail!("no layer: give --layer NAME or `layer = \"NAME\"` in the config");
    }
    if c.design.is_empty() {
        bail!("no design: give --design '~ 0 + source' or `design = \"…\"` in the config");
    }
    if !(c.significance > 0.0 && c.significance < 1.0) {
        bail!("significance = {} must be between 0 and 1", c.significance);
    }
    if !matches!(c.voom.as_str(), "auto" | "true" | "false") {
        bail!("voom = '{}' must be auto, true or false", c.voom);
    }
    Ok(c)
}

/// Run the model of `c` on its layer.
pub fn run_limma(exp: &Experiment, c: &DiffConfig) -> anyhow::Result<(LimmaResult, bool)> {
    let layer = exp.layer(&c.layer)?;
    let rows: Vec<usize> = layer
        .samples()
        .iter()
        .filter_map(|s| exp.samples().position(s))
        .collect();
    let sheet = exp.samples().select(&rows);
    let options = DesignOptions {
        level_order: match c.level_order.as_str() {
            "first_appearance" => LevelOrder::FirstAppearance,
            "sorted" => LevelOrder::Sorted,
            o => bail!("level_order = '{o}' must be first_appearance or sorted"),
        },
        levels: c.levels.clone(),
    };
    let design = Design::from_formula(&sheet, &c.design, &options)?;
    let layer: Assay = layer.select_samples_by_id(design.sample_ids())?;
    let contrasts = if c.contrasts.is_empty() {
        Contrasts::coefficients(&design)
    } else {
        Contrasts::parse(&design, &c.contrasts)?
    };
    let use_voom = match c.voom.as_str() {
        "true" => true,
        "false" => false,
        _ => layer.scale() == ValueScale::Counts,
    };
    if !use_voom && matches!(layer.scale(), ValueScale::Linear | ValueScale::Counts) {
        bail!(
            "layer '{}' holds {} values; linear models need log-scale data: run `evomics normalize` first (log2 or log-CPM){}",
            c.layer,
            layer.scale().name(),
            if layer.scale() == ValueScale::Counts { ", or use voom = \"true\"" } else { "" }
        );
    }
    let (assay, weights) = if use_voom {
        let v = voom(&layer, &design, None, &VoomOptions::default())?;
        (v.expression, Some(v.weights))
    } else {
        (layer, None)
    };
    let block = match &c.block {
        Some(col) => Some(Block::from_sheet(
            &sheet.select(
                &design
                    .sample_ids()
                    .iter()
                    .filter_map(|s| sheet.position(s))
                    .collect::<Vec<_>>(),
            ),
            col,
            &design,
        )?),
        None => None,
    };
    let fit = lm_fit(&assay, &design, weights.as_ref(), block.as_ref())?;
    let options = EbayesOptions {
        trend: c.trend,
        robust: c.robust,
        legacy: Legacy::parse(&c.legacy)?,
        adjust: AdjustMethod::parse(&c.adjust)?,
        ..EbayesOptions::default()
    };
    Ok((fit.moderate(&contrasts, &options)?, use_voom))
}

fn file_stem(contrast: &str) -> String {
    contrast
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

const TOP_COLUMNS: [&str; 9] = [
    "feature_id",
    "name",
    "n_obs",
    "logFC",
    "AveExpr",
    "t",
    "P.Value",
    "adj.P.Val",
    "B",
];
const TOP_NUMERIC: [&str; 7] = [
    "n_obs",
    "logFC",
    "AveExpr",
    "t",
    "P.Value",
    "adj.P.Val",
    "B",
];

pub fn run(a: DiffArgs, log: Log) -> anyhow::Result<()> {
    let c = resolve(&a)?;
    let (exp, _) = read_experiment_layers(&a.store, Some(&[c.layer.as_str()]))?;
    let (res, used_voom) = run_limma(&exp, &c)?;
    let mut manifest = Manifest::new("diff");
    manifest.inputs.push(InputFile::store(&a.store)?);
    if let Some(p) = &a.config {
        manifest.inputs.push(InputFile::hash("config", p)?);
    }
    manifest.settings =
        json!({ "store": a.store.display().to_string(), "config": c, "voom": used_voom });
    manifest.reports = json!({ "limma": res.settings });
    let mut stems = BTreeMap::new();
    for t in &res.tables {
        let stem = file_stem(&t.contrast);
        if let Some(prev) = stems.insert(stem.clone(), t.contrast.clone()) {
            bail!("contrasts '{prev}' and '{}' give the same file name '{stem}'; name them differently (name = expr)", t.contrast);
        }
    }
    write_stage(&a.out, &manifest, |tmp| {
        for t in &res.tables {
            let stem = file_stem(&t.contrast);
            let mut top = Table::new(TOP_COLUMNS);
            let mut volcano = Table::new([
                "feature_id",
                "name",
                "logFC",
                "neg_log10_p",
                "adj.P.Val",
                "significant",
            ]);
            for r in &t.rows {
                top.push(vec![
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
                if let (Some(fc), Some(p)) = (r.log_fc, r.p_value) {
                    volcano.push(vec![
                        r.feature_id.clone(),
                        r.name.clone().unwrap_or_default(),
                        num(Some(fc)),
                        num(Some(-p.max(f64::MIN_POSITIVE).log10())),
                        num(r.adj_p_value),
                        r.adj_p_value
                            .is_some_and(|q| q < c.significance)
                            .to_string(),
                    ]);
                }
            }
            top.write(&tmp.join(format!("{stem}.tsv")))?;
            top.write_parquet(&tmp.join(format!("{stem}.parquet")), &TOP_NUMERIC)?;
            volcano.write(&tmp.join(format!("{stem}.volcano.tsv")))?;
        }
        if let Some(ft) = &res.f_table {
            let mut cols: Vec<String> = vec!["feature_id".into(), "name".into(), "n_obs".into()];
            cols.extend(ft.contrasts.iter().cloned());
            cols.extend(["AveExpr", "F", "P.Value", "adj.P.Val"].map(String::from));
            let mut t = Table::new(cols);
            for r in &ft.rows {
                let mut row = vec![
                    r.feature_id.clone(),
                    r.name.clone().unwrap_or_default(),
                    r.n_obs.to_string(),
                ];
                row.extend(r.log_fc.iter().map(|v| num(*v)));
                row.extend([
                    num(r.ave_expr),
                    num(r.f),
                    num(r.p_value),
                    num(r.adj_p_value),
                ]);
                t.push(row);
            }
            t.write(&tmp.join("F.tsv"))?;
        }
        let mut fit = Table::new([
            "feature_id",
            "name",
            "n_obs",
            "Amean",
            "sigma",
            "df.residual",
            "s2.prior",
            "df.prior",
            "s2.post",
            "df.total",
        ]);
        for r in &res.fit.rows {
            fit.push(vec![
                r.feature_id.clone(),
                r.name.clone().unwrap_or_default(),
                r.n_obs.to_string(),
                num(r.amean),
                num(r.sigma),
                num(Some(r.df_residual)),
                num(r.s2_prior),
                if r.df_prior.is_infinite() {
                    "Inf".into()
                } else {
                    num(Some(r.df_prior))
                },
                num(r.s2_post),
                if r.df_total.is_infinite() {
                    "Inf".into()
                } else {
                    num(Some(r.df_total))
                },
            ]);
        }
        fit.write(&tmp.join("fit.tsv"))
    })?;
    for t in &res.tables {
        let sig = t
            .rows
            .iter()
            .filter(|r| r.adj_p_value.is_some_and(|q| q < c.significance))
            .count();
        log.say(format!(
            "{}: {} features, {sig} with adj.P.Val < {}",
            t.contrast,
            t.rows.len(),
            c.significance
        ));
    }
    if !res.settings.dropped_samples.is_empty() {
        log.warn(format!(
            "{} sample(s) dropped for missing design values: {}",
            res.settings.dropped_samples.len(),
            res.settings.dropped_samples.join(", ")
        ));
    }
    log.say(format!("wrote {}", a.out.display()));
    Ok(())
}
