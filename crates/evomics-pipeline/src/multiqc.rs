//! MultiQC custom-content files, so that nf-core and other MultiQC users see evomics' sample QC,
//! MISEV purity gate and PCA in their MultiQC report (`multiqc RESULTS_DIR` finds them).
//!
//! Each file is one section in MultiQC's custom-content JSON layout (`id`, `section_name`,
//! `description`, `plot_type`, `pconfig`, `data` keyed by sample), named `*_mqc.json` as MultiQC
//! requires (<https://docs.seqera.io/multiqc/custom_content>). Non-finite numbers are left out
//! (JSON has no NaN); the TSV tables of the stage folder stay the complete record.

use serde_json::{json, Map, Value};

use evomics_ml::stages::cluster::ClusterResult;
use evomics_qc::QcResult;

/// The folder of a stage output that holds its MultiQC files.
pub const DIR: &str = "multiqc";

fn num(v: Option<f64>) -> Value {
    v.filter(|x| x.is_finite()).map_or(Value::Null, Value::from)
}

fn without_nulls(m: Map<String, Value>) -> Value {
    Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect())
}

fn file(name: &str, doc: Value) -> (String, String) {
    (
        format!("{DIR}/{name}_mqc.json"),
        serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n",
    )
}

/// The QC stage's files: one sample table per layer and, for proteome layers, the purity gate.
pub fn qc_files(r: &QcResult) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for l in &r.layers {
        let counts = l.samples.count_limits.is_some();
        let mut data = Map::new();
        for s in &l.samples.samples {
            let mut row = Map::new();
            row.insert("features".into(), json!(s.n_features));
            row.insert("observed".into(), json!(s.n_observed));
            row.insert("missing_fraction".into(), num(Some(s.missing_fraction)));
            if counts {
                row.insert("library_size".into(), num(s.lib_size));
                row.insert("detected".into(), json!(s.detected));
                row.insert("detected_fraction".into(), num(s.detected_fraction));
            } else {
                row.insert("log2_median".into(), num(s.log2_median));
                row.insert("log2_iqr".into(), num(s.log2_iqr));
                row.insert("corr_to_median".into(), num(s.corr_to_median));
            }
            row.insert("imputed".into(), json!(s.n_imputed));
            row.insert(
                "outlier".into(),
                json!(if s.outlier { "yes" } else { "no" }),
            );
            data.insert(s.sample.clone(), without_nulls(row));
        }
        let id = format!("evomics_qc_{}", slug(&l.layer));
        out.push(file(
            &id,
            json!({
                "id": id,
                "section_name": format!("evomics: sample QC ({})", l.layer),
                "description": if counts {
                    "Per-sample library size and detected features (count > 0); outliers are 3 MADs below the median on the log2 scale. From evomics qc."
                } else {
                    "Per-sample missingness, log2 median and IQR, and correlation to the cohort median profile; outliers by robust z. From evomics qc."
                },
                "plot_type": "table",
                "pconfig": { "id": format!("{id}_table"), "title": format!("evomics: sample QC ({})", l.layer) },
                "data": data,
            }),
        ));
        if let Some(p) = &l.purity {
            let mut data = Map::new();
            for s in &p.samples {
                let verdict = serde_json::to_value(s.verdict)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                data.insert(
                    s.sample.clone(),
                    json!({
                        "verdict": verdict,
                        "core_markers": s.core_markers.join(", "),
                        "reasons": s.reasons.join("; "),
                    }),
                );
            }
            let id = format!("evomics_purity_{}", slug(&l.layer));
            out.push(file(
                &id,
                json!({
                    "id": id,
                    "section_name": format!("evomics: MISEV purity gate ({})", l.layer),
                    "description": "EV markers (MISEV categories 1-2) against co-isolates and other compartments (categories 3-4): pass, warn or fail per preparation. From evomics qc.",
                    "plot_type": "table",
                    "pconfig": { "id": format!("{id}_table"), "title": format!("evomics: MISEV purity gate ({})", l.layer) },
                    "data": data,
                }),
            ));
        }
        if let Some(b) = &l.biofluid {
            let word = |v: Option<evomics_qc::Verdict>| {
                v.and_then(|v| serde_json::to_value(v).ok())
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "NA".into())
            };
            let mut data = Map::new();
            for s in &b.samples {
                data.insert(
                    s.sample.clone(),
                    without_nulls(
                        json!({
                            "scope": s.scope.name(),
                            "verdict": word(s.verdict),
                            "haemolysis_log2": num(s.haemolysis_log2),
                            "haemolysis": word(s.haemolysis),
                            "blood_cell_share": num(s.blood_cell_share),
                            "blood_cell": word(s.blood_cell),
                            "reasons": s.reasons.join("; "),
                        })
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                    ),
                );
            }
            let id = format!("evomics_biofluid_{}", slug(&l.layer));
            out.push(file(
                &id,
                json!({
                    "id": id,
                    "section_name": format!("evomics: biofluid contamination ({})", l.layer),
                    "description": "Haemolysis (log2 miR-451a / miR-23a-3p on CPM) and the share of blood-cell miRNAs per preparation: pass, warn or fail where the sheet names a biofluid; informational without a biofluid column. From evomics qc.",
                    "plot_type": "table",
                    "pconfig": { "id": format!("{id}_table"), "title": format!("evomics: biofluid contamination ({})", l.layer) },
                    "data": data,
                }),
            ));
        }
    }
    out
}

/// The cluster stage's PCA as a scatter of the first two components.
pub fn pca_file(r: &ClusterResult) -> Option<(String, String)> {
    let ve = &r.pca.variance_explained;
    if ve.len() < 2 {
        return None;
    }
    let mut data = Map::new();
    for (s, row) in r.samples.iter().zip(&r.pca.scores) {
        if let (Some(x), Some(y)) = (row.first(), row.get(1)) {
            if x.is_finite() && y.is_finite() {
                data.insert(s.clone(), json!({ "x": x, "y": y }));
            }
        }
    }
    let id = format!("evomics_pca_{}", slug(&r.config.layer));
    Some(file(
        &id,
        json!({
            "id": id,
            "section_name": format!("evomics: PCA ({})", r.config.layer),
            "description": format!("Principal components of {} samples × {} features. From evomics cluster.", r.samples.len(), r.features.len()),
            "plot_type": "scatter",
            "pconfig": {
                "id": format!("{id}_plot"),
                "title": format!("evomics: PCA ({})", r.config.layer),
                "xlab": format!("PC1 ({:.1} %)", 100.0 * ve[0]),
                "ylab": format!("PC2 ({:.1} %)", 100.0 * ve[1]),
            },
            "data": data,
        }),
    ))
}

/// A layer name as part of a MultiQC id and file name.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
