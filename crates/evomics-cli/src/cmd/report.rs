//! `evomics report`: gather a pipeline's stage outputs into one self-contained HTML report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use ndarray::Array2;
use serde_json::{json, Value};

use evomics_core::{Experiment, LayerKind, ValueScale};
use evomics_io::atomic::write_file_atomic;
use evomics_io::{read_experiment, read_manifest, Manifest};
use evomics_report::{render, ReportInput};

use crate::cmd::Log;

/// `evomics report`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  evomics report results -o results/report.html\n\nReads the stage folders of an `evomics run` output (ingest, qc, normalize, diff/*, explore, cluster, train)."
)]
pub struct ReportArgs {
    /// The pipeline output folder.
    pub run_dir: PathBuf,
    /// The HTML file to write (atomically).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Report title.
    #[arg(long, default_value = "EV cargo analysis")]
    pub title: String,
    /// Date to print in the header (the report never reads the clock, so reruns are identical).
    #[arg(long, default_value = "")]
    pub date: String,
}

/// A TSV file as header + rows.
struct Tsv {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Tsv {
    fn read(path: &Path) -> anyhow::Result<Tsv> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut lines = text.lines();
        let header = lines
            .next()
            .unwrap_or("")
            .split('\t')
            .map(String::from)
            .collect();
        let rows = lines
            .map(|l| l.split('\t').map(String::from).collect())
            .collect();
        Ok(Tsv { header, rows })
    }

    fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    fn get<'a>(&self, row: &'a [String], name: &str) -> Option<&'a str> {
        self.col(name).and_then(|k| row.get(k)).map(String::as_str)
    }

    fn num(&self, row: &[String], name: &str) -> Option<f64> {
        self.get(row, name)
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|v| v.is_finite())
    }
}

const SAMPLE_COLUMNS: [&str; 8] = [
    "source",
    "donor_id",
    "batch",
    "conditioning",
    "isolation_method",
    "potency_class",
    "Cell_type",
    "Differentiation",
];

const COLOUR_COLUMNS: [&str; 5] = [
    "source",
    "batch",
    "conditioning",
    "Cell_type",
    "Differentiation",
];

fn references() -> Value {
    let r = |key: &str, text: &str, doi: &str| json!({ "key": key, "text": text, "doi": doi });
    json!([
        r("dallecarbonare2025", "Dalle Carbonare L, Minoia A, Braggio M, et al., Valenti MT. Extracellular vesicles in osteogenesis: comparative analysis of stem cell sources, conditioning strategies, and in vitro models toward advanced bone regeneration. 2025 (MDPI, CC BY 4.0).", ""),
        r("thery2018", "Théry C, Witwer KW, et al. Minimal information for studies of extracellular vesicles 2018 (MISEV2018). J Extracell Vesicles 2018;7:1535750.", "10.1080/20013078.2018.1535750"),
        r("welsh2024", "Welsh JA, Goberdhan DCI, et al. Minimal information for studies of extracellular vesicles (MISEV2023). J Extracell Vesicles 2024;13:e12404.", "10.1002/jev2.12404"),
        r("tyanova2016", "Tyanova S, Temu T, et al. The Perseus computational platform for comprehensive analysis of (prote)omics data. Nat Methods 2016;13:731–740.", "10.1038/nmeth.3901"),
        r("robinson2010", "Robinson MD, Oshlack A. A scaling normalization method for differential expression analysis of RNA-seq data. Genome Biol 2010;11:R25.", "10.1186/gb-2010-11-3-r25"),
        r("johnson2007", "Johnson WE, Li C, Rabinovic A. Adjusting batch effects in microarray expression data using empirical Bayes methods. Biostatistics 2007;8:118–127.", "10.1093/biostatistics/kxj037"),
        r("smyth2004", "Smyth GK. Linear models and empirical Bayes methods for assessing differential expression in microarray experiments. Stat Appl Genet Mol Biol 2004;3:3.", "10.2202/1544-6115.1027"),
        r("ritchie2015", "Ritchie ME, Phipson B, et al. limma powers differential expression analyses for RNA-sequencing and microarray studies. Nucleic Acids Res 2015;43:e47.", "10.1093/nar/gkv007"),
        r("law2014", "Law CW, Chen Y, Shi W, Smyth GK. voom: precision weights unlock linear model analysis tools for RNA-seq read counts. Genome Biol 2014;15:R29.", "10.1186/gb-2014-15-2-r29"),
        r("smyth2005", "Smyth GK, Michaud J, Scott HS. Use of within-array replicate spots for assessing differential expression in microarray experiments. Bioinformatics 2005;21:2067–2075.", "10.1093/bioinformatics/bti270"),
        r("benjamini1995", "Benjamini Y, Hochberg Y. Controlling the false discovery rate: a practical and powerful approach to multiple testing. J R Stat Soc B 1995;57:289–300.", "10.1111/j.2517-6161.1995.tb02031.x"),
        r("hoffman2016", "Hoffman GE, Schadt EE. variancePartition: interpreting drivers of variation in complex gene expression studies. BMC Bioinformatics 2016;17:483.", "10.1186/s12859-016-1323-z"),
        r("foroutan2018", "Foroutan M, Bhuva DD, et al. Single sample scoring of molecular phenotypes. BMC Bioinformatics 2018;19:404.", "10.1186/s12859-018-2435-4"),
        r("hubert1985", "Hubert L, Arabie P. Comparing partitions. J Classif 1985;2:193–218.", "10.1007/BF01908075"),
        r("rousseeuw1987", "Rousseeuw PJ. Silhouettes: a graphical aid to the interpretation and validation of cluster analysis. J Comput Appl Math 1987;20:53–65.", "10.1016/0377-0427(87)90125-7"),
        r("friedman2010", "Friedman J, Hastie T, Tibshirani R. Regularization paths for generalized linear models via coordinate descent. J Stat Softw 2010;33:1–22.", "10.18637/jss.v033.i01"),
        r("breiman2001", "Breiman L. Random forests. Mach Learn 2001;45:5–32.", "10.1023/A:1010933404324"),
        r("lei2018", "Lei J, G'Sell M, Rinaldo A, Tibshirani RJ, Wasserman L. Distribution-free predictive inference for regression. J Am Stat Assoc 2018;113:1094–1111.", "10.1080/01621459.2017.1307116"),
    ])
}

fn store_of(dir: &Path) -> Option<(Experiment, Manifest)> {
    dir.join("manifest.json")
        .exists()
        .then(|| read_experiment(dir).ok())
        .flatten()
}

fn sample_table(exp: &Experiment) -> (Value, Vec<String>) {
    let cols: Vec<String> = SAMPLE_COLUMNS
        .iter()
        .filter(|c| exp.samples().column(c).is_some())
        .map(|c| c.to_string())
        .collect();
    let rows: Vec<Value> = exp
        .samples()
        .sample_ids()
        .iter()
        .map(|s| {
            let values: Vec<Option<String>> =
                cols.iter().map(|c| exp.samples().text(c, s)).collect();
            json!({ "sample_id": s, "values": values })
        })
        .collect();
    let colour: Vec<String> = COLOUR_COLUMNS
        .iter()
        .filter(|c| cols.iter().any(|x| x == *c))
        .map(|c| c.to_string())
        .collect();
    (json!({ "columns": cols, "rows": rows }), colour)
}

fn layers_summary(exp: &Experiment, norm: Option<&Manifest>) -> Vec<Value> {
    exp.layers()
        .iter()
        .map(|(name, a)| {
            let c = a.flag_counts();
            let processing = norm.and_then(|m| m.settings["layers"].get(name)).map(describe_pipeline);
            json!({
                "name": name,
                "kind": a.kind(),
                "scale": a.scale(),
                "n_features": a.n_features(),
                "n_samples": a.n_samples(),
                "missing_fraction": if c.total() > 0 { Some(c.missing as f64 / c.total() as f64) } else { None },
                "processing": processing,
            })
        })
        .collect()
}

fn method_of(v: &Value) -> Option<String> {
    v.get("method")
        .and_then(Value::as_str)
        .filter(|m| *m != "none")
        .map(String::from)
}

fn describe_pipeline(cfg: &Value) -> String {
    let mut steps: Vec<String> = cfg["filters"]
        .as_array()
        .map(|fs| fs.iter().filter_map(method_of).collect())
        .unwrap_or_default();
    for k in [
        "transform",
        "normalization",
        "imputation",
        "batch_correction",
    ] {
        if let Some(m) = method_of(&cfg[k]) {
            steps.push(m);
        }
    }
    if steps.is_empty() {
        "as ingested".into()
    } else {
        steps.join(" → ")
    }
}

fn qc_section(
    dir: &Path,
    colour: Option<&str>,
    exp: Option<&Experiment>,
) -> anyhow::Result<Vec<Value>> {
    let samples = Tsv::read(&dir.join("samples.tsv"))?;
    let purity = if dir.join("purity.tsv").exists() {
        Some(Tsv::read(&dir.join("purity.tsv"))?)
    } else {
        None
    };
    let mut by_layer: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in &samples.rows {
        let layer = samples.get(r, "layer").unwrap_or("").to_string();
        let sid = samples.get(r, "sample_id").unwrap_or("").to_string();
        let pur = purity.as_ref().and_then(|p| {
            p.rows
                .iter()
                .find(|pr| p.get(pr, "layer") == Some(layer.as_str()) && p.get(pr, "sample_id") == Some(sid.as_str()))
                .map(|pr| {
                    json!({
                        "verdict": p.get(pr, "verdict").unwrap_or("warn"),
                        "reasons": p.get(pr, "reasons").filter(|s| !s.is_empty()).map(|s| s.split("; ").collect::<Vec<_>>()).unwrap_or_default(),
                    })
                })
        });
        by_layer.entry(layer).or_default().push(json!({
            "sample_id": sid,
            "n_observed": samples.get(r, "n_observed").and_then(|s| s.parse::<usize>().ok()),
            "missing_fraction": samples.num(r, "missing_fraction"),
            "total": samples.num(r, "total"),
            "outlier": samples.get(r, "outlier") == Some("true"),
            "outlier_reasons": samples.get(r, "reasons").filter(|s| !s.is_empty()).map(|s| s.split("; ").collect::<Vec<_>>()).unwrap_or_default(),
            "purity": pur,
        }));
    }
    Ok(by_layer
        .into_iter()
        .map(|(layer, s)| {
            let counts = exp
                .and_then(|e| e.layers().get(&layer))
                .is_some_and(|a| a.scale() == ValueScale::Counts || *a.kind() == LayerKind::Mirna);
            json!({
                "layer": layer,
                "total_label": if counts { "library size" } else { "total intensity" },
                "colour_by": colour,
                "samples": s,
            })
        })
        .collect())
}

fn pca_section(dir: &Path, colour: &[String]) -> anyhow::Result<Value> {
    let scores = Tsv::read(&dir.join("pca_scores.tsv"))?;
    let var = Tsv::read(&dir.join("pca_variance.tsv"))?;
    let m = read_manifest(dir)?;
    let layer = m.settings["layer"].as_str().unwrap_or("").to_string();
    let points: Vec<Value> = scores
        .rows
        .iter()
        .filter_map(|r| {
            Some(json!({ "sample_id": scores.get(r, "sample_id")?, "pc1": scores.num(r, "PC1")?, "pc2": scores.num(r, "PC2")? }))
        })
        .collect();
    let ve: Vec<f64> = var
        .rows
        .iter()
        .filter_map(|r| var.num(r, "variance_explained"))
        .collect();
    Ok(json!({ "layer": layer, "variance_explained": ve, "colour_by": colour, "points": points }))
}

/// Sample × sample Pearson correlation over complete features, ordered by average-linkage
/// clustering on 1 − r.
fn heatmap(exp: &Experiment, layer: &str, annotate: &[String]) -> anyhow::Result<Option<Value>> {
    let Ok(a) = exp.layer(layer) else {
        return Ok(None);
    };
    let rows: Vec<usize> = (0..a.n_features())
        .filter(|&i| (0..a.n_samples()).all(|j| a.get(i, j).is_some()))
        .collect();
    if rows.len() < 3 || a.n_samples() < 3 {
        return Ok(None);
    }
    let x = Array2::from_shape_fn((a.n_samples(), rows.len()), |(j, k)| {
        a.get(rows[k], j).unwrap_or(0.0)
    });
    let params = evomics_ml::cluster::HclustParams {
        linkage: evomics_ml::cluster::Linkage::Average,
        distance: evomics_ml::matrix::Distance::Pearson,
    };
    let tree = params.fit(x.view())?;
    let order = tree.order();
    let n = order.len();
    let pos: Vec<usize> = {
        let mut p = vec![0; n];
        for (k, &i) in order.iter().enumerate() {
            p[i] = k;
        }
        p
    };
    let node = |v: i64| -> usize {
        if v < 0 {
            pos[(-v - 1) as usize]
        } else {
            n + v as usize - 1
        }
    };
    let merges: Vec<Value> = tree
        .merges
        .iter()
        .map(|m| json!({ "left": node(m.left), "right": node(m.right), "height": m.height }))
        .collect();
    let centred: Vec<Vec<f64>> = (0..n)
        .map(|j| {
            let r = x.row(j);
            let mean = r.sum() / r.len() as f64;
            r.iter().map(|v| v - mean).collect()
        })
        .collect();
    let corr = |a: &[f64], b: &[f64]| {
        let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
        for (x, y) in a.iter().zip(b) {
            sab += x * y;
            saa += x * x;
            sbb += y * y;
        }
        let d = (saa * sbb).sqrt();
        (d > 0.0).then(|| sab / d)
    };
    let values: Vec<Vec<Option<f64>>> = order
        .iter()
        .map(|&i| {
            order
                .iter()
                .map(|&k| corr(&centred[i], &centred[k]))
                .collect()
        })
        .collect();
    Ok(Some(json!({
        "layer": layer,
        "measure": format!("Pearson correlation over {} complete features", rows.len()),
        "kind": "similarity",
        "linkage": "average (1 − r)",
        "order": order.iter().map(|&i| a.samples()[i].clone()).collect::<Vec<_>>(),
        "values": values,
        "dendrogram": merges,
        "annotate_by": annotate,
    })))
}

fn diff_section(dir: &Path) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut analyses: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    analyses.sort();
    for a in analyses {
        let Ok(m) = read_manifest(&a) else { continue };
        let layer = m.settings["config"]["layer"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let exprs: BTreeMap<String, String> = m.reports["limma"]["contrasts"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|c| Some((c[0].as_str()?.to_string(), c[1].as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let sig = m.settings["config"]["significance"]
            .as_f64()
            .unwrap_or(0.05);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&a)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                n.ends_with(".tsv")
                    && !n.ends_with(".volcano.tsv")
                    && n != "F.tsv"
                    && n != "fit.tsv"
            })
            .collect();
        files.sort();
        for f in files {
            let t = Tsv::read(&f)?;
            let contrast = f
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let rows: Vec<Value> = t
                .rows
                .iter()
                .map(|r| {
                    json!({
                        "feature_id": t.get(r, "feature_id").unwrap_or(""),
                        "name": t.get(r, "name").filter(|s| !s.is_empty()),
                        "log_fc": t.num(r, "logFC"),
                        "ave_expr": t.num(r, "AveExpr"),
                        "t": t.num(r, "t"),
                        "p_value": t.num(r, "P.Value"),
                        "adj_p_value": t.num(r, "adj.P.Val"),
                    })
                })
                .collect();
            let name = a
                .file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            out.push(json!({
                "layer": layer,
                "contrast": format!("{name}: {contrast}"),
                "expression": exprs.get(&contrast),
                "adj_p_threshold": sig,
                "rows": rows,
            }));
        }
    }
    Ok(out)
}

fn explore_sections(dir: &Path) -> anyhow::Result<(Option<Value>, Vec<Value>)> {
    let m = read_manifest(dir)?;
    let layer = m.settings["layer"].as_str().unwrap_or("").to_string();
    let mut panels = None;
    if dir.join("panel_scores.tsv").exists() {
        let t = Tsv::read(&dir.join("panel_scores.tsv"))?;
        let group_by = t.header.get(2).cloned().unwrap_or_else(|| "source".into());
        let mut by_panel: BTreeMap<String, (Option<usize>, Vec<Value>)> = BTreeMap::new();
        for r in &t.rows {
            let panel = t.get(r, "panel").unwrap_or("").to_string();
            let e = by_panel.entry(panel).or_insert((None, Vec::new()));
            e.0 = t.get(r, "n_used").and_then(|s| s.parse().ok());
            e.1.push(json!({ "sample_id": t.get(r, "sample_id").unwrap_or(""), "score": t.num(r, "singscore") }));
        }
        let scores: Vec<Value> = by_panel
            .into_iter()
            .filter(|(_, (n, _))| n.unwrap_or(0) > 0)
            .map(|(panel, (n, s))| json!({ "panel": panel, "layer": layer, "method": "singscore", "n_members": n, "group_by": group_by, "scores": s }))
            .collect();
        let mut enrichment = Vec::new();
        if dir.join("panel_enrichment.tsv").exists() {
            let e = Tsv::read(&dir.join("panel_enrichment.tsv"))?;
            for r in &e.rows {
                if e.get(r, "n_overlap") == Some("0") {
                    continue;
                }
                enrichment.push(json!({
                    "panel": e.get(r, "panel").unwrap_or(""),
                    "layer": layer,
                    "contrast": format!("{} {} vs rest ({})", e.get(r, "by").unwrap_or(""), e.get(r, "group").unwrap_or(""), e.get(r, "test").unwrap_or("")),
                    "n_features": e.get(r, "n_overlap").and_then(|s| s.parse::<usize>().ok()).unwrap_or(0),
                    "direction": e.get(r, "direction"),
                    "p_value": e.num(r, "P.Value"),
                    "adj_p_value": e.num(r, "FDR"),
                }));
            }
        }
        if !scores.is_empty() || !enrichment.is_empty() {
            panels = Some(
                json!({ "scores": scores, "enrichment_method": "hypergeometric on adj.P.Val < 0.05 and a rank-based test (docs/methods/explore.md)", "enrichment": enrichment }),
            );
        }
    }
    let mut vp = Vec::new();
    if dir.join("variance_partition.tsv").exists() {
        let t = Tsv::read(&dir.join("variance_partition.tsv"))?;
        let start = t.col("converged").map(|k| k + 1).unwrap_or(0);
        let factors: Vec<String> = t.header[start..]
            .iter()
            .take_while(|h| !h.starts_with("sigma2."))
            .cloned()
            .collect();
        let features: Vec<Value> = t
            .rows
            .iter()
            .filter(|r| t.get(r, "status") == Some("fitted"))
            .map(|r| {
                json!({
                    "feature_id": t.get(r, "feature_id").unwrap_or(""),
                    "name": t.get(r, "name").filter(|s| !s.is_empty()),
                    "fractions": factors.iter().map(|f| t.num(r, f)).collect::<Vec<_>>(),
                })
            })
            .collect();
        if !features.is_empty() {
            vp.push(json!({ "layer": layer, "factors": factors, "features": features }));
        }
    }
    Ok((panels, vp))
}

/// ROC and precision–recall points of pooled scores (higher = positive), ties stepped together.
fn curves(scored: &mut [(f64, bool)]) -> (Vec<Value>, Vec<Value>) {
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let pos = scored.iter().filter(|s| s.1).count() as f64;
    let neg = scored.len() as f64 - pos;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut roc = vec![json!({ "fpr": 0.0, "tpr": 0.0 })];
    let mut pr = Vec::new();
    let mut i = 0;
    while i < scored.len() {
        let t = scored[i].0;
        while i < scored.len() && scored[i].0 == t {
            if scored[i].1 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        if pos > 0.0 && neg > 0.0 {
            roc.push(json!({ "fpr": fp / neg, "tpr": tp / pos }));
            pr.push(json!({ "recall": tp / pos, "precision": tp / (tp + fp) }));
        }
    }
    (roc, pr)
}

fn potency_section(dir: &Path) -> anyhow::Result<Option<Value>> {
    let path = dir.join("metrics.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let m: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let task = m["task"].as_str().unwrap_or("classification").to_string();
    let target = m["target"].as_str().unwrap_or("").to_string();
    let cv = &m["settings"]["config"]["cv"];
    let cv_text = format!(
        "{} (k = {}, group = {}, repeats = {})",
        cv["scheme"].as_str().unwrap_or("?"),
        cv["k"],
        cv["group"].as_str().unwrap_or("none"),
        cv["repeats"]
    );
    let model = m["settings"]["config"]["model"]["model"]
        .as_str()
        .unwrap_or("model")
        .to_string();
    let metrics: Vec<Value> = m["summary"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|r| json!({ "name": r["name"], "pooled": r["pooled"], "fold_mean": r["fold_mean"], "fold_sd": r["fold_sd"] }))
                .collect()
        })
        .unwrap_or_default();
    let permutation = m["permutation_test"].as_object().map(|p| {
        json!({ "metric": p["metric"], "observed": p["observed"], "p_value": p["p_value"], "null": p["null"] })
    });
    let preds = Tsv::read(&dir.join("predictions.tsv"))?;
    let mut out = json!({
        "name": format!("{model} → {target}"),
        "target": target,
        "task": task,
        "cv": cv_text,
        "metrics": metrics,
        "permutation": permutation,
    });
    if task == "classification" {
        let positive = m["positive_class"].as_str().unwrap_or("").to_string();
        let col = format!("p_{positive}");
        let mut scored: Vec<(f64, bool)> = preds
            .rows
            .iter()
            .filter_map(|r| Some((preds.num(r, &col)?, preds.get(r, "truth")? == positive)))
            .collect();
        if !scored.is_empty() {
            let prevalence = scored.iter().filter(|s| s.1).count() as f64 / scored.len() as f64;
            let (roc, pr) = curves(&mut scored);
            out["roc"] = json!(roc);
            out["pr"] = json!(pr);
            out["prevalence"] = json!(prevalence);
        }
        if dir.join("calibration.tsv").exists() {
            let c = Tsv::read(&dir.join("calibration.tsv"))?;
            out["calibration"] = json!(c
                .rows
                .iter()
                .filter_map(|r| Some(json!({
                    "mean_predicted": c.num(r, "mean_predicted")?,
                    "observed": c.num(r, "observed")?,
                    "n": c.get(r, "n")?.parse::<usize>().ok()?,
                })))
                .collect::<Vec<_>>());
        }
    } else {
        out["predictions"] = json!(preds
            .rows
            .iter()
            .filter_map(|r| Some(json!({
                "sample_id": preds.get(r, "sample_id")?,
                "observed": preds.num(r, "truth")?,
                "predicted": preds.num(r, "predicted")?,
            })))
            .collect::<Vec<_>>());
    }
    if dir.join("importance.tsv").exists() {
        let t = Tsv::read(&dir.join("importance.tsv"))?;
        let mut rows: Vec<(f64, Value)> = t
            .rows
            .iter()
            .filter_map(|r| {
                let imp = t.num(r, "mean_importance")?;
                Some((imp, json!({
                    "feature": format!("{}:{}", t.get(r, "layer").unwrap_or(""), t.get(r, "feature").unwrap_or("")),
                    "importance": imp,
                    "sd": t.num(r, "sd_importance"),
                    "selection_frequency": t.num(r, "selection_frequency"),
                })))
            })
            .collect();
        rows.sort_by(|a, b| b.0.total_cmp(&a.0));
        out["importance"] = json!(rows
            .into_iter()
            .take(20)
            .map(|(_, v)| v)
            .collect::<Vec<_>>());
    }
    Ok(Some(out))
}

fn methods(run: &Path, norm: Option<&Manifest>) -> Value {
    let mut steps = Vec::new();
    let step = |stage: &str, text: String, cites: &[&str]| json!({ "stage": stage, "description": text, "citations": cites });
    if run.join("qc").is_dir() {
        steps.push(step("Quality control", "Per-sample missingness, totals, log2 median/IQR and correlation to the cohort median profile with robust-z outlier flags; the MISEV purity gate scores EV markers (categories 1–2) against co-isolates and other compartments (categories 3–4) from the MISEV2018 tables.".into(), &["thery2018", "welsh2024"]));
    }
    if let Some(m) = norm {
        let layers: Vec<String> = m.settings["layers"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| format!("{k}: {}", describe_pipeline(v)))
                    .collect()
            })
            .unwrap_or_default();
        steps.push(step("Normalization", format!("Per-layer pipelines fitted on the cohort (filter → transform → normalization → imputation → batch correction): {}. TMM and log-CPM as edgeR, ComBat as sva; imputed cells stay flagged.", layers.join("; ")), &["tyanova2016", "robinson2010", "johnson2007"]));
    }
    if run.join("diff").is_dir() {
        steps.push(step("Differential statistics", "Per-feature linear models on each feature's observed samples (limma lmFit), contrasts, empirical Bayes moderation (eBayes) and Benjamini–Hochberg adjustment; voom weights for count layers and duplicateCorrelation blocking where set.".into(), &["smyth2004", "ritchie2015", "law2014", "smyth2005", "benjamini1995"]));
    }
    if run.join("explore").is_dir() {
        steps.push(step("Exploration", "One-vs-rest moderated statistics per group, variance partition per feature with random effects, and curated osteogenic panels scored per sample (singscore) and tested for enrichment.".into(), &["hoffman2016", "foroutan2018", "dallecarbonare2025"]));
    }
    if run.join("cluster").is_dir() {
        steps.push(step("Clustering", "PCA of complete features; k-means, hierarchical and Gaussian-mixture clustering with k chosen by silhouette or gap statistic; agreement with sheet columns by ARI and NMI.".into(), &["rousseeuw1987", "hubert1985"]));
    }
    if run.join("train").is_dir() {
        steps.push(step("Potency models", "Models fitted with all preprocessing inside the training folds of donor-grouped cross-validation, label-permutation p-values within the grouping, and split-conformal prediction sets.".into(), &["friedman2010", "breiman2001", "lei2018"]));
    }
    json!({ "steps": steps, "references": references() })
}

/// Build the report input from a run folder.
pub fn gather(run: &Path, title: &str, date: &str) -> anyhow::Result<Value> {
    let ingest_dir = run.join("ingest");
    let Some((exp, ingest_m)) = store_of(&ingest_dir) else {
        bail!(
            "{} has no ingest/ store; run `evomics run` first (or point at its output folder)",
            run.display()
        );
    };
    let norm = store_of(&run.join("normalize"));
    let norm_m = norm.as_ref().map(|(_, m)| m);
    let (samples, colour) = sample_table(&exp);
    let mut notes = Vec::new();
    for stage in ["qc", "normalize", "diff", "explore", "cluster", "train"] {
        if !run.join(stage).is_dir() {
            notes.push(format!("stage {stage} was not run"));
        }
    }
    let mut input = json!({
        "header": {
            "title": title,
            "evomics_version": env!("CARGO_PKG_VERSION"),
            "date": date,
            "inputs": ingest_m.inputs.iter().map(|i| json!({ "role": i.role, "path": i.path, "sha256": i.sha256 })).collect::<Vec<_>>(),
            "layers": layers_summary(&exp, norm_m),
            "notes": notes,
        },
        "samples": samples,
    });
    if run.join("qc").is_dir() {
        input["qc"] = json!(qc_section(
            &run.join("qc"),
            colour.first().map(String::as_str),
            Some(&exp)
        )?);
    }
    if run.join("cluster").is_dir() {
        input["pca"] = json!([pca_section(&run.join("cluster"), &colour)?]);
        let layer = read_manifest(&run.join("cluster"))?.settings["layer"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let analysis = norm.as_ref().map(|(e, _)| e).unwrap_or(&exp);
        if let Some(h) = heatmap(analysis, &layer, &colour)? {
            input["sample_clustering"] = json!([h]);
        }
    }
    if run.join("diff").is_dir() {
        input["differential"] = json!(diff_section(&run.join("diff"))?);
    }
    if run.join("explore").is_dir() {
        let (panels, vp) = explore_sections(&run.join("explore"))?;
        if let Some(p) = panels {
            input["panels"] = p;
        }
        input["variance_partition"] = json!(vp);
    }
    if run.join("train").is_dir() {
        if let Some(p) = potency_section(&run.join("train"))? {
            input["potency"] = json!([p]);
        }
    }
    input["methods"] = methods(run, norm_m);
    Ok(input)
}

pub fn run(a: ReportArgs, log: Log) -> anyhow::Result<()> {
    let input = gather(&a.run_dir, &a.title, &a.date)?;
    let input = ReportInput::from_json(&serde_json::to_string(&input)?)
        .context("assembling the report from the stage outputs")?;
    let html = render(&input)?;
    write_file_atomic(&a.out, html.as_bytes())?;
    log.say(format!(
        "wrote {} ({} KiB)",
        a.out.display(),
        html.len() / 1024
    ));
    Ok(())
}
