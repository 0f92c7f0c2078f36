//! The report input built from the typed stage results of a run ([`RunResults`] → [`build`]):
//! nothing is read back from tables or looked up by string keys. `evomics run` passes the
//! results it holds in memory; `evomics report` reads each stage's `result.json` first.

use std::collections::{BTreeMap, BTreeSet};

use ndarray::Array2;

use evomics_core::scale::log_scale;
use evomics_core::{Experiment, LayerKind, ValueFlag, ValueScale};
use evomics_ml::cluster::{HclustParams, Linkage};
use evomics_ml::matrix::Distance;
use evomics_ml::stages::cluster::ClusterResult;
use evomics_ml::stages::train::TrainResult;
use evomics_norm::stage::NormalizeResult;
use evomics_norm::NormalizeConfig;
use evomics_qc::QcResult;
use evomics_stats::stages::diff::DiffResult;
use evomics_stats::stages::explore::ExploreResult;

use crate::error::{invalid, Result};
use crate::model::{
    CalibrationBin, ClusterAgreement, ClusterAssignment, ClusterMethod, ClusterSummary,
    Coefficient, ComparedModel, Confusion, ContrastHeatmap, ContrastResult, DiffRow, Distribution,
    EmbeddingPoint, EmbeddingView, EnrichmentRow, FeatureDetection, FoldRoc, Header, Importance,
    InputFile, KScoreRow, LayerSummary, MarkerHeatmap, MarkerRow, MarkerSet, MatrixKind, Merge,
    MethodStep, Methods, MetricRow, ModelComparison, ModelPair, PanelScores, PanelSection,
    PanelView, PcaPoint, PcaResult, PermutationSummary, PotencyModel, PrPoint, Prediction,
    PresentAbsentRow, Purity, QcLayer, QcSample, Reference, ReportInput, RocPoint, SampleHeatmap,
    SampleQuantiles, SampleRow, SampleScore, SampleTable, SignedImportance, Task,
    VariancePartition, Verdict, VpFeature,
};

/// Everything a run produced that the report shows.
#[derive(Debug, Clone, Copy)]
pub struct RunResults<'a> {
    /// Report title.
    pub title: &'a str,
    /// Date printed in the header (the report never reads the clock).
    pub date: &'a str,
    /// The ingest's input files (role, path, SHA-256).
    pub inputs: &'a [InputFile],
    /// The ingested experiment.
    pub experiment: &'a Experiment,
    /// The normalized experiment and how it was made, when `normalize` ran.
    pub normalized: Option<(&'a Experiment, &'a NormalizeResult)>,
    /// QC, when it ran.
    pub qc: Option<&'a QcResult>,
    /// Named differential analyses, in name order.
    pub diff: &'a [(String, DiffResult)],
    /// Exploration, when it ran.
    pub explore: Option<&'a ExploreResult>,
    /// Clustering, when it ran.
    pub cluster: Option<&'a ClusterResult>,
    /// Potency model, when `train` ran.
    pub train: Option<&'a TrainResult>,
}

/// Build the report input of a run.
pub fn build(r: &RunResults<'_>) -> Result<ReportInput> {
    let exp = r.experiment;
    // The run's own grouping columns: qc group_by first, then explore's and cluster's `by`.
    let extra: Vec<&str> = r
        .explore
        .iter()
        .flat_map(|e| e.config.by.iter())
        .chain(r.cluster.iter().flat_map(|c| c.config.by.iter()))
        .map(String::as_str)
        .collect();
    let (samples, colour) =
        sample_table(exp, r.qc.and_then(|q| q.config.group_by.as_deref()), &extra);
    let mut notes = Vec::new();
    for (stage, ran) in [
        ("qc", r.qc.is_some()),
        ("normalize", r.normalized.is_some()),
        ("diff", !r.diff.is_empty()),
        ("explore", r.explore.is_some()),
        ("cluster", r.cluster.is_some()),
        ("train", r.train.is_some()),
    ] {
        if !ran {
            notes.push(format!("stage {stage} was not run"));
        }
    }
    let mut input = ReportInput {
        header: Header {
            title: r.title.to_string(),
            evomics_version: env!("CARGO_PKG_VERSION").to_string(),
            date: r.date.to_string(),
            command: None,
            inputs: r.inputs.to_vec(),
            layers: layers_summary(exp, r.normalized.map(|(_, n)| n)),
            notes,
        },
        samples: Some(samples),
        ..ReportInput::default()
    };
    if let Some(q) = r.qc {
        input.qc = qc_section(
            q,
            colour.first().map(String::as_str),
            exp,
            r.normalized.map(|(e, _)| e),
        );
    }
    let analysis = r.normalized.map(|(e, _)| e).unwrap_or(exp);
    if let Some(c) = r.cluster {
        input.pca = vec![pca_section(c, &colour)];
        let stage_tree = stage_heatmap(analysis, c, &colour)?;
        let h = match stage_tree {
            Some(h) => Some(h),
            None => heatmap(analysis, &c.config.layer, &colour)?.map(|mut h| {
                h.linkage = Some(format!(
                    "average linkage on 1 − r, not the cluster stage's tree ({} linkage on {} distance, which the analysed layer no longer reproduces)",
                    linkage_name(c.config.linkage),
                    c.config.distance.name()
                ));
                h
            }),
        };
        if let Some(h) = h {
            input.sample_clustering = vec![h];
        }
        input.clusters = vec![cluster_summary(c)];
        // The other layers get their PCA here, so that every analysed layer has one.
        for (name, a) in analysis.layers() {
            if *name != c.config.layer {
                if let Some(p) = layer_pca(a, &colour) {
                    input.pca.push(p);
                }
            }
        }
    }
    input.differential = diff_section(analysis, r.diff);
    if let Some(e) = r.explore {
        let (panels, vp) = explore_sections(e);
        input.panels = panels;
        input.variance_partition = vp;
        input.markers = marker_sets(e, analysis)?;
    }
    if let Some(t) = r.train {
        input.potency = vec![potency_section(t)];
    }
    input.methods = Some(methods(r));
    Ok(input)
}

/// The sample table shows the sheet's grouping columns; plots colour by the run's grouping
/// (qc `group_by`) first, then by those columns in sheet order — never by a fixed column name.
fn sample_table(
    exp: &Experiment,
    group_by: Option<&str>,
    by: &[&str],
) -> (SampleTable, Vec<String>) {
    let mut cols: Vec<String> = exp.samples().grouping_columns();
    for b in by {
        if exp.samples().column(b).is_some() && !cols.iter().any(|c| c == b) {
            cols.push(b.to_string());
        }
    }
    if let Some(g) = group_by {
        if exp.samples().column(g).is_some() && !cols.iter().any(|c| c == g) {
            cols.insert(0, g.to_string());
        }
    }
    let rows = exp
        .samples()
        .sample_ids()
        .iter()
        .map(|s| SampleRow {
            sample_id: s.clone(),
            values: cols.iter().map(|c| exp.samples().text(c, s)).collect(),
        })
        .collect();
    let mut colour: Vec<String> = group_by
        .filter(|g| cols.iter().any(|c| c == g))
        .map(str::to_string)
        .into_iter()
        .collect();
    colour.extend(
        cols.iter()
            .filter(|c| Some(c.as_str()) != group_by)
            .cloned(),
    );
    (
        SampleTable {
            columns: cols,
            rows,
        },
        colour,
    )
}

/// A pipeline in words: its methods in order, `as ingested` when it changes nothing.
pub fn describe_pipeline(cfg: &NormalizeConfig) -> String {
    let mut steps: Vec<String> = cfg
        .filters
        .iter()
        .map(|f| f.method().to_string())
        .filter(|m| m != "none")
        .collect();
    for m in [
        cfg.transform.method(),
        cfg.normalization.method(),
        cfg.imputation.method(),
        cfg.batch_correction.method(),
    ] {
        if m != "none" {
            steps.push(m.to_string());
        }
    }
    if steps.is_empty() {
        "as ingested".into()
    } else {
        steps.join(" → ")
    }
}

fn layers_summary(exp: &Experiment, norm: Option<&NormalizeResult>) -> Vec<LayerSummary> {
    exp.layers()
        .iter()
        .map(|(name, a)| {
            let c = a.flag_counts();
            LayerSummary {
                name: name.clone(),
                kind: a.kind().clone(),
                scale: a.scale(),
                n_features: a.n_features(),
                n_samples: a.n_samples(),
                missing_fraction: (c.total() > 0)
                    .then(|| (c.missing + c.absent_from_file) as f64 / c.total() as f64),
                processing: norm.and_then(|n| n.layers.get(name)).map(|l| {
                    let mut text = describe_pipeline(&l.config);
                    let left: Vec<&str> = l
                        .report
                        .steps
                        .iter()
                        .flat_map(|s| s.uncorrected.iter().map(|u| u.feature.as_str()))
                        .collect();
                    if !left.is_empty() {
                        let shown = left.iter().take(10).copied().collect::<Vec<_>>().join(", ");
                        let more = left.len().saturating_sub(10);
                        text.push_str(&format!(
                            " ({} feature(s) left uncorrected by the batch correction, see normalize/{name}.report.json: {shown}{})",
                            left.len(),
                            if more > 0 { format!(", … {more} more") } else { String::new() }
                        ));
                    }
                    text
                }),
            }
        })
        .collect()
}

fn qc_section(
    q: &QcResult,
    colour: Option<&str>,
    exp: &Experiment,
    normalized: Option<&Experiment>,
) -> Vec<QcLayer> {
    let mut by_layer: BTreeMap<&str, &evomics_qc::LayerQc> = BTreeMap::new();
    for l in &q.layers {
        by_layer.insert(l.layer.as_str(), l);
    }
    by_layer
        .into_iter()
        .map(|(layer, l)| {
            let count_layer = l.samples.scale == ValueScale::Counts;
            let counts = count_layer
                || exp.layers().get(layer).is_some_and(|a| {
                    a.scale() == ValueScale::Counts || *a.kind() == LayerKind::Mirna
                });
            let samples = l
                .samples
                .samples
                .iter()
                .map(|s| {
                    let purity = l.purity.as_ref().and_then(|p| {
                        p.samples
                            .iter()
                            .find(|x| x.sample == s.sample)
                            .map(|x| Purity {
                                verdict: match x.verdict {
                                    evomics_qc::Verdict::Pass => Verdict::Pass,
                                    evomics_qc::Verdict::Warn => Verdict::Warn,
                                    evomics_qc::Verdict::Fail => Verdict::Fail,
                                },
                                reasons: x.reasons.clone(),
                            })
                    });
                    QcSample {
                        sample_id: s.sample.clone(),
                        n_observed: Some(s.n_observed),
                        missing_fraction: Some(s.missing_fraction).filter(|v| v.is_finite()),
                        total: s.total.filter(|v| v.is_finite()),
                        detected: s.detected,
                        detected_fraction: s.detected_fraction.filter(|v| v.is_finite()),
                        outlier: s.outlier,
                        outlier_reasons: s.reasons.clone(),
                        purity,
                    }
                })
                .collect();
            QcLayer {
                layer: layer.to_string(),
                total_label: if counts {
                    "library size"
                } else {
                    "total intensity"
                }
                .to_string(),
                colour_by: colour.map(str::to_string),
                counts: count_layer,
                outlier_rules: Some(l.samples.outlier_rules()),
                samples,
                distributions: exp
                    .layers()
                    .get(layer)
                    .map(|a| distribution(a, true))
                    .into_iter()
                    .chain(
                        normalized
                            .and_then(|n| n.layers().get(layer))
                            .map(|a| distribution(a, false)),
                    )
                    .filter(|d| !d.samples.is_empty())
                    .collect(),
                detection: exp.layers().get(layer).map(detection).unwrap_or_default(),
            }
        })
        .collect()
}

/// A cell of an ingested layer on the log2 scale: log2 of a linear value (positive values
/// only), log2(count + 1) of a count, a log-scale value as is.
fn log2_cell(scale: ValueScale, v: f64) -> Option<f64> {
    let x = match scale {
        ValueScale::Linear => (v > 0.0).then(|| v.log2())?,
        ValueScale::Counts => (v >= 0.0).then(|| (v + 1.0).log2())?,
        _ => v,
    };
    x.is_finite().then_some(x)
}

/// Per-sample quantiles of a layer's values with a value, on the log2 scale: `ingested` says
/// the layer is the ingested one (transformed by [`log2_cell`]), else it is the normalized
/// layer, drawn as stored.
fn distribution(a: &evomics_core::Assay, ingested: bool) -> Distribution {
    let (values, flags) = (a.values(), a.flags());
    let samples = a
        .samples()
        .iter()
        .enumerate()
        .filter_map(|(j, id)| {
            let mut v: Vec<f64> = (0..a.n_features())
                .filter(|&i| flags[[i, j]].has_value())
                .filter_map(|i| {
                    if ingested {
                        log2_cell(a.scale(), values[[i, j]])
                    } else {
                        Some(values[[i, j]]).filter(|x| x.is_finite())
                    }
                })
                .collect();
            if v.is_empty() {
                return None;
            }
            v.sort_by(f64::total_cmp);
            let q = |p| evomics_core::num::quantile7_sorted(&v, p);
            Some(SampleQuantiles {
                sample_id: id.clone(),
                q05: q(0.05),
                q25: q(0.25),
                q50: q(0.5),
                q75: q(0.75),
                q95: q(0.95),
            })
        })
        .collect();
    let stage = if !ingested {
        format!("normalized ({})", a.scale().name())
    } else {
        match a.scale() {
            ValueScale::Linear => "ingested, log2".to_string(),
            ValueScale::Counts => "ingested, log2(count + 1)".to_string(),
            s => format!("ingested ({})", s.name()),
        }
    };
    Distribution { stage, samples }
}

/// Every feature's share of samples with a measured value (a count above 0 for counts) and
/// its mean log2 abundance over them; features measured nowhere are left out.
fn detection(a: &evomics_core::Assay) -> Vec<FeatureDetection> {
    let (values, flags) = (a.values(), a.flags());
    let n = a.samples().len();
    if n == 0 {
        return Vec::new();
    }
    a.features()
        .ids()
        .iter()
        .enumerate()
        .filter_map(|(i, id)| {
            let measured: Vec<f64> = (0..n)
                .filter(|&j| flags[[i, j]] == ValueFlag::Observed)
                .filter(|&j| a.scale() != ValueScale::Counts || values[[i, j]] > 0.0)
                .filter_map(|j| log2_cell(a.scale(), values[[i, j]]))
                .collect();
            (!measured.is_empty()).then(|| FeatureDetection {
                feature_id: id.clone(),
                detected: measured.len() as f64 / n as f64,
                mean: measured.iter().sum::<f64>() / measured.len() as f64,
            })
        })
        .collect()
}

/// PCA (centred, not scaled) of a layer's features with a value in every sample, on the log2
/// scale ([`log2_cell`] for a layer that is not log-scale yet); `None` with fewer than three
/// samples or two such features, or when the fit fails.
fn layer_pca(a: &evomics_core::Assay, colour: &[String]) -> Option<PcaResult> {
    let n = a.samples().len();
    let (values, flags) = (a.values(), a.flags());
    let log = !matches!(a.scale(), ValueScale::Log2 | ValueScale::Other);
    let rows: Vec<Vec<f64>> = (0..a.n_features())
        .filter_map(|i| {
            (0..n)
                .map(|j| {
                    if !flags[[i, j]].has_value() {
                        return None;
                    }
                    let v = values[[i, j]];
                    if log {
                        log2_cell(a.scale(), v)
                    } else {
                        Some(v).filter(|x| x.is_finite())
                    }
                })
                .collect::<Option<Vec<f64>>>()
        })
        .collect();
    let p = rows.len();
    if n < 3 || p < 2 {
        return None;
    }
    let x = Array2::from_shape_fn((n, p), |(j, i)| rows[i][j]);
    let pca = evomics_ml::pca::PcaParams {
        n_components: Some(2),
        scale: false,
    }
    .fit(x.view())
    .ok()?;
    let points = a
        .samples()
        .iter()
        .enumerate()
        .filter_map(|(j, s)| {
            let (pc1, pc2) = (*pca.scores.get([j, 0])?, *pca.scores.get([j, 1])?);
            (pc1.is_finite() && pc2.is_finite()).then(|| PcaPoint {
                sample_id: s.clone(),
                pc1,
                pc2,
            })
        })
        .collect();
    Some(PcaResult {
        layer: a.name().to_string(),
        variance_explained: pca
            .variance_explained
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect(),
        colour_by: colour.to_vec(),
        points,
        note: Some(format!(
            "PCA of the {p} features with a value in all {n} samples ({}{}), centred, not scaled; computed for the report (the cluster stage analysed another layer).",
            if log { "log2-transformed, " } else { "" },
            if log { "as ingested" } else { "as analysed" }
        )),
        umap: None,
    })
}

fn pca_section(c: &ClusterResult, colour: &[String]) -> PcaResult {
    let points = c
        .samples
        .iter()
        .zip(&c.pca.scores)
        .filter_map(|(s, row)| {
            let pc1 = *row.first()?;
            let pc2 = *row.get(1)?;
            (pc1.is_finite() && pc2.is_finite()).then(|| PcaPoint {
                sample_id: s.clone(),
                pc1,
                pc2,
            })
        })
        .collect();
    PcaResult {
        layer: c.config.layer.clone(),
        variance_explained: c
            .pca
            .variance_explained
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect(),
        colour_by: colour.to_vec(),
        points,
        note: None,
        umap: c.umap.as_ref().and_then(|u| {
            let points: Vec<EmbeddingPoint> = c
                .samples
                .iter()
                .zip(&u.coords)
                .filter_map(|(s, row)| {
                    let (x, y) = (*row.first()?, *row.get(1)?);
                    (x.is_finite() && y.is_finite()).then(|| EmbeddingPoint {
                        sample_id: s.clone(),
                        x,
                        y,
                    })
                })
                .collect();
            if points.is_empty() {
                return None;
            }
            let agreement: Vec<String> = u
                .agreement
                .iter()
                .map(|a| {
                    format!(
                        "{} ARI {}",
                        a.column,
                        a.ari.map_or_else(|| "NA".into(), |v| format!("{v:.2}"))
                    )
                })
                .collect();
            Some(EmbeddingView {
                description: format!(
                    "UMAP of {} on its first {} principal components (n_neighbors {}, min_dist {}, seed {}){}.",
                    c.config.layer,
                    u.pcs,
                    u.params.n_neighbors,
                    u.params.min_dist,
                    u.params.seed,
                    if agreement.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; k-means on the embedding with k = the number of levels agrees with {}",
                            agreement.join(", ")
                        )
                    }
                ),
                points,
            })
        }),
    }
}

/// Number of a group's markers drawn in the z-score heatmap.
const HEATMAP_MARKERS: usize = 5;

/// The top markers of every group of every `by` column of `explore`, with a z-score heatmap of
/// each group's first [`HEATMAP_MARKERS`] markers across the samples ordered by group, computed
/// from the layer as `explore` analysed it (same samples, same log transform).
fn marker_sets(e: &ExploreResult, analysis: &Experiment) -> Result<Vec<MarkerSet>> {
    let layer = &e.config.layer;
    let values = match analysis.layer(layer) {
        Ok(raw) => Some(
            log_scale(raw, e.config.log2, e.config.assume_scale)
                .map_err(|err| invalid("markers", layer, err.to_string()))?
                .0,
        ),
        Err(_) => None,
    };
    let mut out = Vec::new();
    for (a, o) in e.one_vs_rest.iter().enumerate() {
        let markers = evomics_stats::top_markers(o, Some(e.config.top), e.config.direction);
        let rows: Vec<MarkerRow> = markers
            .iter()
            .filter_map(|m| {
                let gi = o.groups.iter().position(|g| *g == m.group)?;
                let r = o.table(gi).rows.get(m.row)?;
                Some(MarkerRow {
                    group: m.group.clone(),
                    rank: m.rank,
                    feature_id: r.feature_id.clone(),
                    name: r.name.clone().filter(|s| !s.is_empty()),
                    log_fc: finite(r.log_fc),
                    ave_expr: finite(r.ave_expr),
                    t: finite(r.t),
                    p_value: finite(r.p_value),
                    adj_p_value: finite(r.adj_p_value),
                })
            })
            .collect();
        let heatmap = values
            .as_deref()
            .and_then(|assay| marker_heatmap(e, a, assay, &rows));
        out.push(MarkerSet {
            layer: layer.clone(),
            by: o.column.clone(),
            direction: e.config.direction.name().to_string(),
            groups: o.groups.clone(),
            rows,
            heatmap,
            ..MarkerSet::default()
        });
    }
    Ok(out)
}

/// z-scores (over the samples with a value) of each group's first markers, samples ordered by
/// group in design order (then layer order); rows of a feature without two distinct values are
/// left out. Imputed cells are kept and marked.
fn marker_heatmap(
    e: &ExploreResult,
    analysis: usize,
    assay: &evomics_core::Assay,
    rows: &[MarkerRow],
) -> Option<MarkerHeatmap> {
    let o = &e.one_vs_rest[analysis];
    let labels = e.sample_labels.get(analysis)?;
    let pos: BTreeMap<&str, usize> = assay
        .samples()
        .iter()
        .enumerate()
        .map(|(j, s)| (s.as_str(), j))
        .collect();
    let mut samples: Vec<(String, usize)> = Vec::new();
    for g in &o.groups {
        for (s, l) in e.samples.iter().zip(labels) {
            if l.as_deref() == Some(g.as_str()) {
                samples.push((s.clone(), *pos.get(s.as_str())?));
            }
        }
    }
    let fpos: BTreeMap<&str, usize> = assay
        .features()
        .ids()
        .iter()
        .enumerate()
        .map(|(i, f)| (f.as_str(), i))
        .collect();
    let mut hm = MarkerHeatmap {
        samples: samples.iter().map(|s| s.0.clone()).collect(),
        ..MarkerHeatmap::default()
    };
    let mut seen = std::collections::BTreeSet::new();
    for r in rows.iter().filter(|r| r.rank <= HEATMAP_MARKERS) {
        if !seen.insert(r.feature_id.as_str()) {
            continue;
        }
        let Some(&i) = fpos.get(r.feature_id.as_str()) else {
            continue;
        };
        let columns: Vec<usize> = samples.iter().map(|&(_, j)| j).collect();
        push_z_row(
            &mut hm,
            assay,
            i,
            &columns,
            r.name.clone().unwrap_or_else(|| r.feature_id.clone()),
            r.group.clone(),
        );
    }
    (!hm.features.is_empty() && !hm.samples.is_empty()).then_some(hm)
}

/// Appends feature `i` of `assay` to `hm` as z-scores (over the cells with a value, sample SD)
/// across the layer columns `columns`, labelled `label` in group `group`, imputed cells
/// marked; nothing is appended without two distinct values.
fn push_z_row(
    hm: &mut MarkerHeatmap,
    assay: &evomics_core::Assay,
    i: usize,
    columns: &[usize],
    label: String,
    group: String,
) {
    let v: Vec<Option<f64>> = columns
        .iter()
        .map(|&j| assay.get(i, j).filter(|x| x.is_finite()))
        .collect();
    let obs: Vec<f64> = v.iter().flatten().copied().collect();
    if obs.len() < 2 {
        return;
    }
    let mean = obs.iter().sum::<f64>() / obs.len() as f64;
    let sd = (obs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (obs.len() - 1) as f64).sqrt();
    if sd.is_nan() || sd <= 0.0 {
        return;
    }
    let row = hm.features.len();
    for (k, &j) in columns.iter().enumerate() {
        if assay.flags()[[i, j]] == ValueFlag::Imputed && v[k].is_some() {
            hm.imputed.push([row, k]);
        }
    }
    hm.features.push(label);
    hm.feature_groups.push(group);
    hm.values
        .push(v.iter().map(|x| x.map(|x| (x - mean) / sd)).collect());
}

/// The clusterings of `cluster` as the report shows them.
fn cluster_summary(c: &ClusterResult) -> ClusterSummary {
    use evomics_ml::stages::cluster::{ChooseBy, MethodName};
    let cfg = &c.config;
    let single = cfg.k.0.len() == 1;
    let methods = c
        .clusterings
        .iter()
        .map(|m| ClusterMethod {
            method: m.method.name().to_string(),
            k: m.k,
            chosen_by: if single {
                "the only candidate".into()
            } else {
                match cfg.choose_by {
                    ChooseBy::Gap => "gap statistic, first SE max".into(),
                    ChooseBy::Silhouette => "largest mean silhouette".into(),
                }
            },
            selection: m
                .selection
                .scores
                .iter()
                .map(|s| KScoreRow {
                    k: s.k,
                    silhouette: finite(s.silhouette),
                    gap: finite(s.gap),
                    gap_se: finite(s.gap_se),
                })
                .collect(),
            assignments: c
                .samples
                .iter()
                .zip(&m.labels)
                .map(|(s, l)| ClusterAssignment {
                    sample_id: s.clone(),
                    cluster: l + 1,
                })
                .collect(),
        })
        .collect();
    let (on, hclust_on) = match c.space_pcs {
        Some(q) => (
            format!("the first {q} principal components"),
            format!(" between the samples' scores on the first {q} principal components"),
        ),
        None => ("the centred features".to_string(), String::new()),
    };
    let spaces: Vec<String> = c
        .clusterings
        .iter()
        .map(|m| match m.method {
            MethodName::Kmeans => format!("k-means on {on}"),
            MethodName::Hclust => format!(
                "hierarchical clustering ({} linkage on {} distance{hclust_on})",
                linkage_name(cfg.linkage),
                cfg.distance.name()
            ),
            MethodName::Gmm => format!(
                "a Gaussian mixture on the first {} principal components",
                cfg.gmm_pcs
            ),
        })
        .collect();
    ClusterSummary {
        layer: cfg.layer.clone(),
        description: format!(
            "{} samples × {} features{}; methods: {}; candidate k {}{}.",
            c.samples.len(),
            c.features.len(),
            if cfg.scale {
                ", each feature scaled to unit variance"
            } else {
                ""
            },
            spaces.join(", "),
            cfg.k
                .0
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if let Some(b) = cfg.gap_references.filter(|&b| b > 0) {
                format!("; gap statistic from {b} reference sets")
            } else {
                String::new()
            }
        ),
        by: cfg.by.clone(),
        methods,
        agreement: c
            .agreement
            .iter()
            .map(|a| ClusterAgreement {
                method: a.method.name().to_string(),
                k: a.k,
                column: a.column.clone(),
                n_samples: a.n_samples,
                n_levels: a.n_levels,
                ari: finite(a.ari),
                nmi: finite(a.nmi),
            })
            .collect(),
    }
}

/// R's name of a linkage.
fn linkage_name(l: Linkage) -> &'static str {
    match l {
        Linkage::WardD2 => "ward.D2",
        Linkage::Average => "average",
        Linkage::Complete => "complete",
    }
}

/// The sample × sample matrix of `cluster`'s own distance, in the order of its own tree
/// (`config.linkage` on `config.distance` over the samples and features the stage used,
/// log-transformed, centred and scaled as the stage did), or `None` when the analysed layer no
/// longer holds those features complete. When the stage ran `hclust`, the tree cut at its k
/// must give the stage's clusters; otherwise the stage did not run on these values and `None`
/// is returned so that the caller draws the correlation tree, labelled as such.
fn stage_heatmap(
    exp: &Experiment,
    c: &ClusterResult,
    annotate: &[String],
) -> Result<Option<SampleHeatmap>> {
    use evomics_ml::matrix::{distance_matrix, Standardizer};
    use evomics_ml::stages::cluster::MethodName;
    let cfg = &c.config;
    let Ok(raw) = exp.layer(&cfg.layer) else {
        return Ok(None);
    };
    let Ok((a, _)) = log_scale(raw, cfg.log2, cfg.assume_scale) else {
        return Ok(None);
    };
    let n = c.samples.len();
    if n < 3 || c.features.len() < 2 {
        return Ok(None);
    }
    let spos: BTreeMap<&str, usize> = a
        .samples()
        .iter()
        .enumerate()
        .map(|(j, s)| (s.as_str(), j))
        .collect();
    let fpos: BTreeMap<&str, usize> = a
        .features()
        .ids()
        .iter()
        .enumerate()
        .map(|(i, f)| (f.as_str(), i))
        .collect();
    let (Some(sj), Some(fi)) = (
        c.samples
            .iter()
            .map(|s| spos.get(s.as_str()).copied())
            .collect::<Option<Vec<usize>>>(),
        c.features
            .iter()
            .map(|f| fpos.get(f.as_str()).copied())
            .collect::<Option<Vec<usize>>>(),
    ) else {
        return Ok(None);
    };
    let mut x = Array2::zeros((n, fi.len()));
    for (r, &j) in sj.iter().enumerate() {
        for (k, &i) in fi.iter().enumerate() {
            match a.get(i, j).filter(|v| v.is_finite()) {
                Some(v) => x[[r, k]] = v,
                None => return Ok(None),
            }
        }
    }
    let xs = Standardizer::fit(x.view(), cfg.scale, 1).transform(x.view());
    let params = HclustParams {
        linkage: cfg.linkage,
        distance: cfg.distance,
    };
    let tree = params
        .fit(xs.view())
        .map_err(|e| invalid("sample_clustering", &cfg.layer, e.to_string()))?;
    if let Some(h) = c
        .clusterings
        .iter()
        .find(|m| m.method == MethodName::Hclust)
    {
        let cut = tree
            .cut(h.k)
            .map_err(|e| invalid("sample_clustering", &cfg.layer, e.to_string()))?;
        if !same_partition(&cut, &h.labels) {
            return Ok(None);
        }
    }
    let d = distance_matrix(xs.view(), cfg.distance);
    let order = tree.order();
    let dendrogram = merges_in_order(&tree.merges, &order);
    let measure = match cfg.distance {
        Distance::Euclidean => format!(
            "Euclidean distance over {} {} features",
            fi.len(),
            if cfg.scale { "standardized" } else { "centred" }
        ),
        Distance::Pearson => format!("1 − Pearson r over {} features", fi.len()),
        Distance::Spearman => format!("1 − Spearman ρ over {} features", fi.len()),
    };
    Ok(Some(SampleHeatmap {
        layer: cfg.layer.clone(),
        measure,
        kind: MatrixKind::Distance,
        linkage: Some(format!(
            "{} linkage on {} distance, the cluster stage's own tree",
            linkage_name(cfg.linkage),
            cfg.distance.name()
        )),
        order: order.iter().map(|&i| c.samples[i].clone()).collect(),
        values: order
            .iter()
            .map(|&i| order.iter().map(|&k| Some(d[[i, k]])).collect())
            .collect(),
        dendrogram,
        annotate_by: annotate.to_vec(),
    }))
}

/// Whether two labellings split the samples the same way (labels may differ).
fn same_partition(a: &[usize], b: &[usize]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut ab, mut ba) = (BTreeMap::new(), BTreeMap::new());
    a.iter()
        .zip(b)
        .all(|(x, y)| *ab.entry(*x).or_insert(*y) == *y && *ba.entry(*y).or_insert(*x) == *x)
}

/// The tree's merges with leaves renumbered by their position in `order` (the report's
/// convention: leaves 0..n, merge k creates node n + k).
fn merges_in_order(merges: &[evomics_ml::cluster::Merge], order: &[usize]) -> Vec<Merge> {
    let n = order.len();
    let mut pos = vec![0; n];
    for (k, &i) in order.iter().enumerate() {
        pos[i] = k;
    }
    let node = |v: i64| -> usize {
        if v < 0 {
            pos[(-v - 1) as usize]
        } else {
            n + v as usize - 1
        }
    };
    merges
        .iter()
        .map(|m| Merge {
            left: node(m.left),
            right: node(m.right),
            height: m.height,
        })
        .collect()
}

/// Sample × sample Pearson correlation over complete features, ordered by average-linkage
/// clustering on 1 − r.
fn heatmap(exp: &Experiment, layer: &str, annotate: &[String]) -> Result<Option<SampleHeatmap>> {
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
    let params = HclustParams {
        linkage: Linkage::Average,
        distance: Distance::Pearson,
    };
    let tree = params
        .fit(x.view())
        .map_err(|e| invalid("sample_clustering", layer, e.to_string()))?;
    let order = tree.order();
    let n = order.len();
    let dendrogram = merges_in_order(&tree.merges, &order);
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
    let values = order
        .iter()
        .map(|&i| {
            order
                .iter()
                .map(|&k| corr(&centred[i], &centred[k]))
                .collect()
        })
        .collect();
    Ok(Some(SampleHeatmap {
        layer: layer.to_string(),
        measure: format!("Pearson correlation over {} complete features", rows.len()),
        kind: MatrixKind::Similarity,
        linkage: Some("average linkage on 1 − r".into()),
        order: order.iter().map(|&i| a.samples()[i].clone()).collect(),
        values,
        dendrogram,
        annotate_by: annotate.to_vec(),
    }))
}

fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite())
}

/// The methods text of the differential analyses: what ran, analysis by analysis.
fn diff_methods(analyses: &[(String, DiffResult)]) -> String {
    let mut parts = Vec::new();
    for (name, d) in analyses {
        let mut how = Vec::new();
        if let Some(v) = &d.voom_detail {
            how.push(format!(
                "voom precision weights on {}-normalized libraries of the counts",
                v.norm_factors.name().to_uppercase()
            ));
        }
        if let Some(b) = &d.limma.settings.block {
            let rho = d
                .limma
                .settings
                .block_correlation
                .map(|r| format!(", consensus correlation {r:.3}"))
                .unwrap_or_default();
            how.push(format!(
                "samples blocked by '{b}' (duplicateCorrelation{rho})"
            ));
        }
        if d.cells.total_imputed() > 0 {
            how.push(if d.cells.used_imputed {
                "imputed cells fitted as if measured".to_string()
            } else {
                "imputed cells left out of the fit".to_string()
            });
        }
        if let Some(lfc) = d.limma.settings.treat_lfc {
            how.push(format!("treat test of |log2FC| > {lfc}"));
        }
        let o = &d.limma.settings.options;
        if o.trend {
            how.push("intensity-dependent prior (trend)".into());
        }
        if o.robust {
            how.push("robust prior".into());
        }
        parts.push(format!(
            "{name}: layer {}, design {}{}",
            d.config.layer,
            d.config.design,
            if how.is_empty() {
                String::new()
            } else {
                format!(" — {}", how.join("; "))
            }
        ));
    }
    format!(
        "Per-feature linear models on each feature's observed samples (limma lmFit), contrasts, empirical Bayes moderation (eBayes) and {} adjustment. {}.",
        analyses
            .first()
            .map(|(_, d)| d.config.adjust.name())
            .unwrap_or("BH"),
        parts.join(". ")
    )
}

/// What one design coefficient estimates.
#[derive(Debug, Clone, PartialEq)]
enum CoefRole {
    /// A mean log abundance (the intercept, or a group of a factor coded one column per level).
    Mean,
    /// A difference from a reference level (treatment coding).
    Difference,
    /// The slope of a numeric covariate (alone or in an interaction).
    Slope(String),
}

/// What every contrast of a differential analysis estimates, by contrast name, from its design
/// rebuilt on the analysed samples; empty when the design cannot be rebuilt (the report then
/// calls the estimates log2 fold changes, as limma's column is named).
fn contrast_coefficients(exp: &Experiment, d: &DiffResult) -> BTreeMap<String, Coefficient> {
    use evomics_stats::design::TermCoding;
    use evomics_stats::{Contrasts, Design, DesignOptions};
    let cfg = &d.config;
    let Ok((exp, _)) = exp.excluding(&cfg.exclude) else {
        return BTreeMap::new();
    };
    let options = DesignOptions {
        level_order: cfg.level_order,
        levels: cfg.levels.clone(),
    };
    let Ok(design) = Design::from_formula(exp.samples(), &cfg.design, &options) else {
        return BTreeMap::new();
    };
    if design.coef_names() != d.limma.settings.coefficients.as_slice() {
        return BTreeMap::new();
    }
    let mut roles = vec![CoefRole::Mean; design.n_coef()];
    for term in design.terms() {
        let role = match &term.coding {
            TermCoding::Numeric => CoefRole::Slope(term.column.clone()),
            TermCoding::Factor { treatment, .. } => {
                if *treatment {
                    CoefRole::Difference
                } else {
                    CoefRole::Mean
                }
            }
            TermCoding::Interaction { components } => {
                if let Some(c) = components
                    .iter()
                    .find(|c| matches!(c.coding, TermCoding::Numeric))
                {
                    CoefRole::Slope(c.column.clone())
                } else if components.iter().any(|c| {
                    matches!(
                        c.coding,
                        TermCoding::Factor {
                            treatment: true,
                            ..
                        }
                    )
                }) {
                    CoefRole::Difference
                } else {
                    CoefRole::Mean
                }
            }
        };
        for &k in &term.coefficients {
            if let Some(r) = roles.get_mut(k) {
                *r = role.clone();
            }
        }
    }
    let contrasts = if cfg.contrasts.is_empty() {
        Contrasts::coefficients(&design)
    } else {
        match Contrasts::parse(&design, &cfg.contrasts) {
            Ok(c) => c,
            Err(_) => return BTreeMap::new(),
        }
    };
    contrasts
        .contrasts()
        .iter()
        .map(|c| {
            let used: Vec<(&CoefRole, f64)> = roles
                .iter()
                .zip(&c.weights)
                .filter(|(_, w)| **w != 0.0)
                .map(|(r, w)| (r, *w))
                .collect();
            let slopes: BTreeSet<&str> = used
                .iter()
                .filter_map(|(r, _)| match r {
                    CoefRole::Slope(col) => Some(col.as_str()),
                    _ => None,
                })
                .collect();
            let mean_weight: f64 = used
                .iter()
                .filter(|(r, _)| **r == CoefRole::Mean)
                .map(|(_, w)| w)
                .sum();
            let kind = if slopes.is_empty() {
                // Group means combine into a difference only when their weights cancel.
                if mean_weight.abs() < 1e-9 {
                    Coefficient::LogFoldChange
                } else {
                    Coefficient::Other
                }
            } else if slopes.len() == 1
                && used.len()
                    == used
                        .iter()
                        .filter(|(r, _)| matches!(r, CoefRole::Slope(_)))
                        .count()
            {
                Coefficient::Slope {
                    covariate: slopes
                        .iter()
                        .next()
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                }
            } else {
                Coefficient::Other
            };
            (c.name.clone(), kind)
        })
        .collect()
}

/// Features drawn in a contrast's z-score heatmap.
const CONTRAST_HEATMAP_FEATURES: usize = 20;

/// The layer as `diff` fitted it: its design's samples (after the exclusions), on the scale
/// limma saw (voom's log2-CPM `log2((count + 0.5) / (lib.size × norm.factor + 1) · 10⁶)` for a
/// voom fit, else the log-scale layer), with the design's first factor and its levels.
struct FittedLayer {
    assay: evomics_core::Assay,
    factor: Option<(String, Vec<String>)>,
}

fn fitted_layer(exp: &Experiment, d: &DiffResult) -> Option<FittedLayer> {
    use evomics_stats::design::TermCoding;
    use evomics_stats::{Design, DesignOptions};
    let cfg = &d.config;
    let (exp, _) = exp.excluding(&cfg.exclude).ok()?;
    let layer = exp.layer(&cfg.layer).ok()?;
    let rows: Vec<usize> = layer
        .samples()
        .iter()
        .filter_map(|s| exp.samples().position(s))
        .collect();
    let options = DesignOptions {
        level_order: cfg.level_order,
        levels: cfg.levels.clone(),
    };
    let design = Design::from_formula(&exp.samples().select(&rows), &cfg.design, &options).ok()?;
    let layer = layer.select_samples_by_id(design.sample_ids()).ok()?;
    let assay = match &d.voom_detail {
        Some(v) if d.voom => {
            let lib: BTreeMap<&str, f64> = v
                .libraries
                .samples
                .iter()
                .map(String::as_str)
                .zip(v.libraries.effective())
                .collect();
            let libs: Vec<f64> = layer
                .samples()
                .iter()
                .map(|s| lib.get(s.as_str()).copied())
                .collect::<Option<_>>()?;
            let mut values = layer.values().clone();
            for ((_, j), x) in values.indexed_iter_mut() {
                *x = ((*x + 0.5) / (libs[j] + 1.0) * 1e6).log2();
            }
            layer
                .with_matrices(values, layer.flags().clone(), ValueScale::Log2)
                .ok()?
        }
        _ => log_scale(&layer, false, cfg.assume_scale)
            .ok()?
            .0
            .into_owned(),
    };
    let factor = design.terms().iter().find_map(|t| match &t.coding {
        TermCoding::Factor { levels, .. } => Some((t.column.clone(), levels.clone())),
        _ => None,
    });
    Some(FittedLayer { assay, factor })
}

/// z-scores (over the samples with a value) of a contrast's most significant features (up to
/// [`CONTRAST_HEATMAP_FEATURES`], by p-value), samples ordered by the covariate of a slope or
/// else by the design's first factor in level order; imputed cells marked.
fn contrast_heatmap(
    exp: &Experiment,
    fitted: &FittedLayer,
    c: &ContrastResult,
) -> Option<ContrastHeatmap> {
    let a = &fitted.assay;
    let mut sig: Vec<&DiffRow> = c
        .rows
        .iter()
        .filter(|r| {
            r.adj_p_value.is_some_and(|p| p < c.adj_p_threshold)
                && r.log_fc
                    .is_some_and(|l| l.abs() >= c.log_fc_threshold && l != 0.0)
        })
        .collect();
    sig.sort_by(|x, y| {
        x.p_value
            .unwrap_or(1.0)
            .total_cmp(&y.p_value.unwrap_or(1.0))
            .then_with(|| x.feature_id.cmp(&y.feature_id))
    });
    let mut order: Vec<usize> = (0..a.samples().len()).collect();
    let sheet = exp.samples();
    let order_by = match &c.coefficient {
        Coefficient::Slope { covariate } => {
            let v: Vec<Option<f64>> = a
                .samples()
                .iter()
                .map(|s| sheet.text(covariate, s).and_then(|t| t.trim().parse().ok()))
                .collect();
            order.sort_by(|&i, &j| match (v[i], v[j]) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            });
            Some(covariate.clone())
        }
        _ => fitted.factor.as_ref().map(|(column, levels)| {
            let rank = |s: &String| {
                sheet
                    .text(column, s)
                    .and_then(|t| levels.iter().position(|l| *l == t))
                    .unwrap_or(levels.len())
            };
            order.sort_by_key(|&j| rank(&a.samples()[j]));
            column.clone()
        }),
    };
    let fpos: BTreeMap<&str, usize> = a
        .features()
        .ids()
        .iter()
        .enumerate()
        .map(|(i, f)| (f.as_str(), i))
        .collect();
    let mut hm = MarkerHeatmap {
        samples: order.iter().map(|&j| a.samples()[j].clone()).collect(),
        ..MarkerHeatmap::default()
    };
    for r in sig {
        if hm.features.len() == CONTRAST_HEATMAP_FEATURES {
            break;
        }
        let Some(&i) = fpos.get(r.feature_id.as_str()) else {
            continue;
        };
        let direction = if r.log_fc.unwrap_or(0.0) > 0.0 {
            "up"
        } else {
            "down"
        };
        push_z_row(
            &mut hm,
            a,
            i,
            &order,
            r.name.clone().unwrap_or_else(|| r.feature_id.clone()),
            direction.to_string(),
        );
    }
    (!hm.features.is_empty() && !hm.samples.is_empty()).then_some(ContrastHeatmap {
        order_by: order_by.filter(|c| sheet.column(c).is_some()),
        heatmap: hm,
    })
}

fn diff_section(exp: &Experiment, analyses: &[(String, DiffResult)]) -> Vec<ContrastResult> {
    let mut sorted: Vec<&(String, DiffResult)> = analyses.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::new();
    for (name, d) in sorted {
        let kinds = contrast_coefficients(exp, d);
        let fitted = fitted_layer(exp, d);
        let mut tables: Vec<(String, &evomics_stats::ContrastTable)> = d
            .limma
            .tables
            .iter()
            .map(|t| (t.contrast.clone(), t))
            .collect();
        tables.sort_by(|a, b| a.0.cmp(&b.0));
        for (contrast, t) in tables {
            let expression = d
                .limma
                .settings
                .contrasts
                .iter()
                .find(|(n, _)| *n == contrast)
                .map(|(_, e)| e.clone());
            out.push(ContrastResult {
                layer: d.config.layer.clone(),
                analysis: Some(name.clone()),
                contrast: contrast.clone(),
                expression,
                adj_p_threshold: d.config.significance,
                coefficient: kinds.get(&contrast).cloned().unwrap_or_default(),
                imputed_fitted: (d.cells.total_imputed() > 0).then_some(d.cells.used_imputed),
                rows: t
                    .rows
                    .iter()
                    .enumerate()
                    .map(|(i, r)| DiffRow {
                        feature_id: r.feature_id.clone(),
                        name: r.name.clone().filter(|s| !s.is_empty()),
                        log_fc: finite(r.log_fc),
                        ave_expr: finite(r.ave_expr),
                        t: finite(r.t),
                        p_value: finite(r.p_value),
                        adj_p_value: finite(r.adj_p_value),
                        n_imputed: d.cells.imputed.get(i).copied(),
                    })
                    .collect(),
                present_absent: d
                    .detection
                    .iter()
                    .filter(|r| r.contrast == contrast && r.all_or_none)
                    .map(|r| PresentAbsentRow {
                        feature_id: r.feature.clone(),
                        detected_up: r.detected_up,
                        n_up: r.n_up,
                        detected_down: r.detected_down,
                        n_down: r.n_down,
                        p_value: finite(Some(r.p_value)),
                        adj_p_value: finite(Some(r.adj_p_value)),
                        limma_tested: t
                            .rows
                            .iter()
                            .any(|x| x.feature_id == r.feature && x.p_value.is_some()),
                    })
                    .collect(),
                ..ContrastResult::default()
            });
            if let (Some(f), Some(c)) = (&fitted, out.last_mut()) {
                c.heatmap = contrast_heatmap(exp, f, c);
            }
        }
    }
    out
}

fn explore_sections(e: &ExploreResult) -> (Option<PanelSection>, Vec<VariancePartition>) {
    let layer = e.config.layer.clone();
    let group_by = e
        .config
        .by
        .first()
        .cloned()
        .unwrap_or_else(|| "source".into());
    let mut by_panel: BTreeMap<&str, (usize, Vec<SampleScore>)> = BTreeMap::new();
    for s in &e.scores {
        let entry = by_panel.entry(s.panel.as_str()).or_insert((0, Vec::new()));
        entry.0 = s.n_used;
        entry.1.push(SampleScore {
            sample_id: s.sample_id.clone(),
            score: finite(s.singscore),
        });
    }
    let scores: Vec<PanelScores> = by_panel
        .into_iter()
        .filter(|(_, (n, _))| *n > 0)
        .map(|(panel, (n, s))| PanelScores {
            panel: panel.to_string(),
            layer: layer.clone(),
            method: Some("singscore".into()),
            n_members: Some(n),
            group_by: group_by.clone(),
            scores: s,
        })
        .collect();
    let enrichment: Vec<EnrichmentRow> = e
        .enrichment
        .iter()
        .filter(|r| r.n_overlap != Some(0))
        .map(|r| EnrichmentRow {
            panel: r.panel.clone(),
            layer: layer.clone(),
            contrast: format!("{} {} vs rest ({})", r.by, r.group, r.test),
            n_features: r.n_overlap.unwrap_or(0),
            direction: Some(r.direction.clone()),
            statistic: None,
            p_value: finite(Some(r.p_value)),
            adj_p_value: finite(r.fdr),
        })
        .collect();
    let panels = (!scores.is_empty() || !enrichment.is_empty()).then(|| PanelSection {
        scores,
        enrichment_method: Some(
            "hypergeometric on adj.P.Val < 0.05 and a rank-based test (docs/methods/explore.md)"
                .into(),
        ),
        enrichment,
    });
    let mut vp = Vec::new();
    if let Some(v) = &e.variance_partition {
        let factors: Vec<String> = e
            .factors
            .iter()
            .cloned()
            .chain(std::iter::once("Residuals".to_string()))
            .collect();
        let features: Vec<VpFeature> = v
            .rows
            .iter()
            .filter(|r| r.status == "fitted")
            .map(|r| VpFeature {
                feature_id: r.feature_id.clone(),
                name: r.name.clone().filter(|s| !s.is_empty()),
                fractions: match &r.fractions {
                    Some(f) => f.iter().map(|x| finite(Some(*x))).collect(),
                    None => factors.iter().map(|_| None).collect(),
                },
            })
            .collect();
        if !features.is_empty() {
            vp.push(VariancePartition {
                layer,
                factors,
                features,
                ..VariancePartition::default()
            });
        }
    }
    (panels, vp)
}

/// The predictions of the first repeat: each sample once.
fn first_repeat(t: &TrainResult) -> Vec<&evomics_ml::evaluate::PredictionRow> {
    let first = t.report.predictions.iter().map(|r| r.repeat).min();
    t.report
        .predictions
        .iter()
        .filter(|r| Some(r.repeat) == first)
        .collect()
}

/// The ROC curve of every test fold of the first repeat, with its area (trapezoids), for the
/// positive class at probability column `k`.
fn fold_rocs(t: &TrainResult, k: Option<usize>, positive: &str) -> Vec<FoldRoc> {
    let Some(k) = k else {
        return Vec::new();
    };
    let mut by_fold: BTreeMap<usize, Vec<(f64, bool)>> = BTreeMap::new();
    for r in first_repeat(t) {
        let (Some(p), Some(truth)) = (r.probabilities.get(k), r.truth.as_ref()) else {
            continue;
        };
        if p.is_finite() {
            by_fold
                .entry(r.fold)
                .or_default()
                .push((*p, truth == positive));
        }
    }
    by_fold
        .into_iter()
        .filter_map(|(fold, mut scored)| {
            let (roc, _) = curves(&mut scored);
            // A fold with one class only has no ROC curve.
            (roc.len() >= 2).then(|| {
                let auc = roc
                    .windows(2)
                    .map(|w| (w[1].fpr - w[0].fpr) * (w[1].tpr + w[0].tpr) / 2.0)
                    .sum::<f64>();
                FoldRoc {
                    fold: format!("fold {fold}"),
                    roc,
                    auc: finite(Some(auc)),
                }
            })
        })
        .collect()
}

/// Observed against predicted classes of the first repeat's out-of-fold predictions.
fn confusion(t: &TrainResult) -> Option<Confusion> {
    let classes = &t.report.classes;
    if classes.len() < 2 {
        return None;
    }
    let mut counts = vec![vec![0usize; classes.len()]; classes.len()];
    let mut n = 0;
    for r in first_repeat(t) {
        let Some(truth) = r.truth.as_ref() else {
            continue;
        };
        let (Some(i), Some(j)) = (
            classes.iter().position(|c| c == truth),
            classes.iter().position(|c| *c == r.predicted),
        ) else {
            continue;
        };
        counts[i][j] += 1;
        n += 1;
    }
    (n > 0).then(|| Confusion {
        classes: classes.clone(),
        counts,
        description: format!(
            "{n} out-of-fold predictions of the first cross-validation repeat (each sample once), the predicted class being the model's call"
        ),
    })
}

/// ROC and precision–recall points of pooled scores (higher = positive), ties stepped together.
fn curves(scored: &mut [(f64, bool)]) -> (Vec<RocPoint>, Vec<PrPoint>) {
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let pos = scored.iter().filter(|s| s.1).count() as f64;
    let neg = scored.len() as f64 - pos;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut roc = vec![RocPoint { fpr: 0.0, tpr: 0.0 }];
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
            roc.push(RocPoint {
                fpr: fp / neg,
                tpr: tp / pos,
            });
            pr.push(PrPoint {
                recall: tp / pos,
                precision: tp / (tp + fp),
            });
        }
    }
    (roc, pr)
}

/// What `train` did, from its resolved settings: the model, the validation design (and what
/// it does and does not keep apart), where preprocessing was fitted, tuning, the permutation
/// test as it ran, the source check and conformal prediction.
fn train_methods(t: &TrainResult) -> String {
    use evomics_ml::cv::CvScheme;
    use evomics_ml::evaluate::Permutation;
    let s = &t.settings;
    let c = &s.config;
    let kind = if t.is_numeric() {
        "regression"
    } else {
        "classification"
    };
    let mut text = format!(
        "A {} model ({kind}) of {} from {}",
        c.model.name(),
        t.target,
        s.layers.join(" + ")
    );
    let reps = |r: usize| {
        if r > 1 {
            format!(", repeated {r} times with new shuffles")
        } else {
            String::new()
        }
    };
    text.push_str(&match &c.cv {
        CvScheme::KFold { k, repeats, .. } => format!(
            ", judged by {k}-fold cross-validation of samples{} (samples, not donors, are split: preparations of one donor can be in both training and test folds)",
            reps(*repeats)
        ),
        CvScheme::GroupKFold {
            k, group, repeats, ..
        } => format!(
            ", judged by {k}-fold cross-validation grouped by {group}{} (no {group} in both training and test folds)",
            reps(*repeats)
        ),
        CvScheme::LeaveOneGroupOut { group } => {
            format!(", judged by leave-one-{group}-out cross-validation")
        }
    });
    let pre = &c.preprocess;
    if pre.layers.is_empty() {
        text.push_str(
            "; the layers were used as stored, with no preprocessing fitted inside the folds",
        );
    } else {
        let layers: Vec<String> = pre
            .layers
            .iter()
            .map(|(k, l)| format!("{k}: {}", describe_pipeline(l)))
            .collect();
        text.push_str(&format!(
            "; preprocessing fitted inside each training fold ({})",
            layers.join("; ")
        ));
    }
    if c.tuning.is_some() {
        text.push_str(
            "; hyper-parameters chosen by an inner cross-validation on each training part",
        );
    }
    text.push('.');
    if let Some(cmp) = &t.comparison {
        text.push_str(&format!(
            " {} models ({}) were cross-validated on the same folds with the same fold preprocessing and compared in pairs by the corrected resampled t-test (Nadeau & Bengio 2003); {} was kept ({}).",
            cmp.models.len(),
            cmp.models.join(", "),
            cmp.models[cmp.selected],
            cmp.selected_by
        ));
        if cmp.models.len() > 1 && !cmp.selected_by.starts_with("named") {
            text.push_str(" Its cross-validated metrics and permutation p-value do not include the choice among the models and are therefore optimistic.");
        }
    }
    match &t.permutation {
        Some(p) => text.push_str(&match &p.permutation {
            Permutation::Free => format!(
                " A label-permutation test ({} permutations of the labels over all samples) gives the p-value of the {}.",
                p.null.len(),
                p.metric
            ),
            Permutation::Within(col) => format!(
                " A label-permutation test ({} permutations within each {col}) gives the p-value of the {}.",
                p.null.len(),
                p.metric
            ),
        }),
        None => text.push_str(" No permutation test was run."),
    }
    if let Some(col) = &s.source_column {
        text.push_str(&format!(
            " A second test permutes labels within each {col} to check that the model predicts more than the {col}."
        ));
    }
    if c.conformal_alpha > 0.0 {
        text.push_str(&format!(
            " Split-conformal {} at α = {} from out-of-fold scores.",
            if t.is_numeric() {
                "intervals"
            } else {
                "prediction sets"
            },
            c.conformal_alpha
        ));
    }
    if !t.excluded.is_empty() {
        text.push_str(&format!(
            " {} sample(s) were left out by the exclusion rules.",
            t.excluded.len()
        ));
    }
    text
}

/// The CV design as the report prints it: scheme, k, group and repeats.
fn cv_text(cv: &evomics_ml::cv::CvScheme) -> String {
    use evomics_ml::cv::CvScheme;
    match cv {
        CvScheme::KFold { k, repeats, .. } => {
            format!("k_fold (k = {k}, group = none, repeats = {repeats})")
        }
        CvScheme::GroupKFold {
            k, group, repeats, ..
        } => format!("group_k_fold (k = {k}, group = {group}, repeats = {repeats})"),
        CvScheme::LeaveOneGroupOut { group } => {
            format!("leave_one_group_out (k = null, group = {group}, repeats = null)")
        }
    }
}

/// Mean and SD over the cross-validation fits of every feature's signed standardized
/// coefficient (0 in a fit that did not keep the feature, as the importance table counts it),
/// when every fit is a linear model with one coefficient per feature (an elastic net for two
/// classes or a number); `None` otherwise.
fn signed_coefficients(
    t: &TrainResult,
) -> Option<BTreeMap<evomics_ml::preprocess::FeatureRef, (f64, f64)>> {
    use evomics_ml::models::FittedModel;
    let fits = &t.report.fits;
    if fits.is_empty() {
        return None;
    }
    let mut sums: BTreeMap<evomics_ml::preprocess::FeatureRef, Vec<f64>> = BTreeMap::new();
    for (k, fit) in fits.iter().enumerate() {
        let FittedModel::ElasticNet(m) = &fit.model else {
            return None;
        };
        if m.std_coefficients.ncols() != 1
            || m.std_coefficients.nrows() != fit.preprocess.features.len()
        {
            return None;
        }
        for (fr, b) in fit
            .preprocess
            .features
            .iter()
            .zip(m.std_coefficients.column(0))
        {
            let v = sums
                .entry(fr.clone())
                .or_insert_with(|| vec![0.0; fits.len()]);
            v[k] = *b;
        }
    }
    let n = fits.len() as f64;
    Some(
        sums.into_iter()
            .map(|(fr, v)| {
                let mean = v.iter().sum::<f64>() / n;
                let sd = if v.len() > 1 {
                    (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
                } else {
                    0.0
                };
                (fr, (mean, sd))
            })
            .collect(),
    )
}

fn potency_section(t: &TrainResult) -> PotencyModel {
    let task = if t.is_numeric() {
        Task::Regression
    } else {
        Task::Classification
    };
    let metrics = t
        .report
        .summary
        .iter()
        .map(|m| MetricRow {
            name: m.name.clone(),
            pooled: finite(m.pooled),
            fold_mean: finite(m.fold_mean),
            fold_sd: finite(m.fold_sd),
        })
        .collect();
    let permutation = t.permutation.as_ref().map(|p| PermutationSummary {
        metric: p.metric.clone(),
        observed: p.observed,
        p_value: p.p_value,
        null: p.null.clone(),
    });
    let mut out = PotencyModel {
        name: format!("{} → {}", t.settings.config.model.name(), t.target),
        target: t.target.clone(),
        task,
        cv: Some(cv_text(&t.settings.config.cv)),
        metrics,
        permutation,
        ..PotencyModel::default()
    };
    if task == Task::Classification {
        if t.classes.len() == 2 {
            let positive = &t.classes[1];
            let k = t.report.classes.iter().position(|c| c == positive);
            let mut scored: Vec<(f64, bool)> = t
                .report
                .predictions
                .iter()
                .filter_map(|r| {
                    let p = *r.probabilities.get(k?)?;
                    let truth = r.truth.as_ref()?;
                    p.is_finite().then(|| (p, truth == positive))
                })
                .collect();
            if !scored.is_empty() {
                let prevalence = scored.iter().filter(|s| s.1).count() as f64 / scored.len() as f64;
                let (roc, pr) = curves(&mut scored);
                out.roc = roc;
                out.pr = pr;
                out.prevalence = Some(prevalence);
            }
            out.fold_roc = fold_rocs(t, k, positive);
        }
        out.confusion = confusion(t);
        out.calibration = t
            .report
            .calibration
            .iter()
            .filter(|b| b.mean_predicted.is_finite() && b.observed.is_finite())
            .map(|b| CalibrationBin {
                mean_predicted: b.mean_predicted,
                observed: b.observed,
                n: b.n,
            })
            .collect();
    } else {
        out.predictions = t
            .report
            .predictions
            .iter()
            .filter_map(|r| {
                let observed = r.truth.as_ref()?.parse::<f64>().ok()?;
                let predicted = r.predicted.parse::<f64>().ok()?;
                (observed.is_finite() && predicted.is_finite()).then(|| Prediction {
                    sample_id: r.sample_id.clone(),
                    observed,
                    predicted,
                })
            })
            .collect();
    }
    let genes: BTreeMap<(&str, &str), &str> = t
        .genes
        .iter()
        .filter(|(_, _, g)| !g.is_empty())
        .map(|(l, f, g)| ((l.as_str(), f.as_str()), g.as_str()))
        .collect();
    let gene = |fr: &evomics_ml::preprocess::FeatureRef| {
        genes
            .get(&(fr.layer.as_str(), fr.id.as_str()))
            .map(|g| g.to_string())
    };
    let signed = signed_coefficients(t);
    let mut rows: Vec<(f64, Importance)> = t
        .report
        .importance
        .iter()
        .filter(|r| r.mean_importance.is_finite())
        .map(|r| {
            let (value, sd) = match &signed {
                Some(s) => s.get(&r.feature).copied().unwrap_or((0.0, 0.0)),
                None => (r.mean_importance, r.sd_importance),
            };
            (
                r.mean_importance,
                Importance {
                    feature: format!("{}:{}", r.feature.layer, r.feature.id),
                    name: gene(&r.feature),
                    importance: value,
                    sd: finite(Some(sd)),
                    selection_frequency: finite(Some(r.selection_frequency)),
                },
            )
        })
        .collect();
    // Final-model inputs no fold kept are listed with zero importance.
    let seen: std::collections::BTreeSet<_> =
        t.report.importance.iter().map(|r| &r.feature).collect();
    for fr in &t.model.features {
        if !seen.contains(fr) {
            rows.push((
                0.0,
                Importance {
                    feature: format!("{}:{}", fr.layer, fr.id),
                    name: gene(fr),
                    importance: 0.0,
                    sd: Some(0.0),
                    selection_frequency: Some(0.0),
                },
            ));
        }
    }
    if signed.is_some() {
        out.signed_importance = Some(if task == Task::Regression {
            SignedImportance {
                measure: "Mean standardized coefficient over folds (± SD)".into(),
                positive: format!("raises {}", t.target),
                negative: format!("lowers {}", t.target),
            }
        } else {
            let positive = t.classes.get(1).map_or("the second class", String::as_str);
            SignedImportance {
                measure: "Mean standardized coefficient over folds (± SD)".into(),
                positive: format!("raises P({positive})"),
                negative: format!("lowers P({positive})"),
            }
        });
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    out.importance = rows.into_iter().take(20).map(|(_, v)| v).collect();
    out.comparison = t.comparison.as_ref().map(|c| comparison_view(t, c));
    out.panel = t.panel.as_ref().map(|p| {
        let metric = if t.is_numeric() { "r2" } else { "roc_auc" };
        let row = |r: &evomics_ml::evaluate::CvReport| {
            let m = r.metric(metric);
            MetricRow {
                name: metric.to_string(),
                pooled: finite(m.and_then(|m| m.pooled)),
                fold_mean: finite(m.and_then(|m| m.fold_mean)),
                fold_sd: finite(m.and_then(|m| m.fold_sd)),
            }
        };
        PanelView {
            features: p
                .features
                .iter()
                .map(|f| {
                    f.gene
                        .clone()
                        .unwrap_or_else(|| format!("{}:{}", f.feature.layer, f.feature.id))
                })
                .collect(),
            selection_frequency: p.features.iter().map(|f| f.selection_frequency).collect(),
            panel: row(&p.report),
            full: row(&t.report),
            p_value: finite(p.comparison.as_ref().and_then(|c| c.p_value)),
            not_reproducible: p
                .steps
                .iter()
                .filter(|s| !s.2)
                .map(|s| format!("{}: {}", s.0, s.1))
                .collect(),
        }
    });
    out
}

/// The report's view of a multi-model comparison: every model's metrics, the headline metric
/// per split, and the pairs on that metric.
fn comparison_view(t: &TrainResult, c: &evomics_ml::evaluate::MultiCvReport) -> ModelComparison {
    let metric = if t.is_numeric() { "r2" } else { "roc_auc" };
    let kinds = t.settings.comparison.as_ref().map(|m| &m.models);
    let models = c
        .models
        .iter()
        .zip(&c.reports)
        .enumerate()
        .map(|(i, (name, r))| ComparedModel {
            name: name.clone(),
            kind: kinds
                .and_then(|k| k.get(i))
                .map_or_else(String::new, |e| e.model.name().to_string()),
            metrics: r
                .summary
                .iter()
                .map(|m| MetricRow {
                    name: m.name.clone(),
                    pooled: finite(m.pooled),
                    fold_mean: finite(m.fold_mean),
                    fold_sd: finite(m.fold_sd),
                })
                .collect(),
            folds: r
                .fold_metrics
                .iter()
                .map(|f| {
                    f.metrics
                        .named()
                        .into_iter()
                        .find(|(n, _)| *n == metric)
                        .and_then(|(_, v)| finite(Some(v)))
                })
                .collect(),
        })
        .collect();
    let pairs = c
        .comparisons_of(metric)
        .map(|p| ModelPair {
            a: p.model_a.clone(),
            b: p.model_b.clone(),
            mean_difference: finite(p.mean_difference),
            sd_difference: finite(p.sd_difference),
            t: finite(p.t),
            df: p.df,
            p_value: finite(p.p_value),
        })
        .collect();
    ModelComparison {
        metric: metric.to_string(),
        selected: c.models[c.selected].clone(),
        selected_by: c.selected_by.clone(),
        models,
        pairs,
    }
}

fn reference(key: &str, text: &str, doi: &str) -> Reference {
    Reference {
        key: key.into(),
        text: text.into(),
        doi: Some(doi.into()),
    }
}

fn references() -> Vec<Reference> {
    vec![
        reference("dallecarbonare2025", "Dalle Carbonare L, Minoia A, Braggio M, et al., Valenti MT. Extracellular vesicles in osteogenesis: comparative analysis of stem cell sources, conditioning strategies, and in vitro models toward advanced bone regeneration. 2025 (MDPI, CC BY 4.0).", ""),
        reference("thery2018", "Théry C, Witwer KW, et al. Minimal information for studies of extracellular vesicles 2018 (MISEV2018). J Extracell Vesicles 2018;7:1535750.", "10.1080/20013078.2018.1535750"),
        reference("welsh2024", "Welsh JA, Goberdhan DCI, et al. Minimal information for studies of extracellular vesicles (MISEV2023). J Extracell Vesicles 2024;13:e12404.", "10.1002/jev2.12404"),
        reference("tyanova2016", "Tyanova S, Temu T, et al. The Perseus computational platform for comprehensive analysis of (prote)omics data. Nat Methods 2016;13:731–740.", "10.1038/nmeth.3901"),
        reference("robinson2010", "Robinson MD, Oshlack A. A scaling normalization method for differential expression analysis of RNA-seq data. Genome Biol 2010;11:R25.", "10.1186/gb-2010-11-3-r25"),
        reference("johnson2007", "Johnson WE, Li C, Rabinovic A. Adjusting batch effects in microarray expression data using empirical Bayes methods. Biostatistics 2007;8:118–127.", "10.1093/biostatistics/kxj037"),
        reference("smyth2004", "Smyth GK. Linear models and empirical Bayes methods for assessing differential expression in microarray experiments. Stat Appl Genet Mol Biol 2004;3:3.", "10.2202/1544-6115.1027"),
        reference("ritchie2015", "Ritchie ME, Phipson B, et al. limma powers differential expression analyses for RNA-sequencing and microarray studies. Nucleic Acids Res 2015;43:e47.", "10.1093/nar/gkv007"),
        reference("law2014", "Law CW, Chen Y, Shi W, Smyth GK. voom: precision weights unlock linear model analysis tools for RNA-seq read counts. Genome Biol 2014;15:R29.", "10.1186/gb-2014-15-2-r29"),
        reference("smyth2005", "Smyth GK, Michaud J, Scott HS. Use of within-array replicate spots for assessing differential expression in microarray experiments. Bioinformatics 2005;21:2067–2075.", "10.1093/bioinformatics/bti270"),
        reference("benjamini1995", "Benjamini Y, Hochberg Y. Controlling the false discovery rate: a practical and powerful approach to multiple testing. J R Stat Soc B 1995;57:289–300.", "10.1111/j.2517-6161.1995.tb02031.x"),
        reference("hoffman2016", "Hoffman GE, Schadt EE. variancePartition: interpreting drivers of variation in complex gene expression studies. BMC Bioinformatics 2016;17:483.", "10.1186/s12859-016-1323-z"),
        reference("foroutan2018", "Foroutan M, Bhuva DD, et al. Single sample scoring of molecular phenotypes. BMC Bioinformatics 2018;19:404.", "10.1186/s12859-018-2435-4"),
        reference("hubert1985", "Hubert L, Arabie P. Comparing partitions. J Classif 1985;2:193–218.", "10.1007/BF01908075"),
        reference("rousseeuw1987", "Rousseeuw PJ. Silhouettes: a graphical aid to the interpretation and validation of cluster analysis. J Comput Appl Math 1987;20:53–65.", "10.1016/0377-0427(87)90125-7"),
        reference("friedman2010", "Friedman J, Hastie T, Tibshirani R. Regularization paths for generalized linear models via coordinate descent. J Stat Softw 2010;33:1–22.", "10.18637/jss.v033.i01"),
        reference("breiman2001", "Breiman L. Random forests. Mach Learn 2001;45:5–32.", "10.1023/A:1010933404324"),
        reference("lei2018", "Lei J, G'Sell M, Rinaldo A, Tibshirani RJ, Wasserman L. Distribution-free predictive inference for regression. J Am Stat Assoc 2018;113:1094–1111.", "10.1080/01621459.2017.1307116"),
    ]
}

fn methods(r: &RunResults<'_>) -> Methods {
    let mut steps = Vec::new();
    let step = |stage: &str, text: String, cites: &[&str]| MethodStep {
        stage: stage.into(),
        description: text,
        citations: cites.iter().map(|c| c.to_string()).collect(),
    };
    if let Some(q) = r.qc {
        let (counts, other): (Vec<&str>, Vec<&str>) = q
            .layers
            .iter()
            .map(|l| (l.layer.as_str(), l.samples.count_limits.is_some()))
            .fold(
                (Vec::new(), Vec::new()),
                |(mut c, mut o), (name, is_count)| {
                    if is_count {
                        c.push(name)
                    } else {
                        o.push(name)
                    }
                    (c, o)
                },
            );
        let mut text = String::new();
        if !other.is_empty() {
            text.push_str(&format!("{}: per-sample missingness, totals, log2 median/IQR and correlation to the cohort median profile with robust-z outlier flags. ", other.join(", ")));
        }
        if !counts.is_empty() {
            text.push_str(&format!("{} (counts): library size and detected features (count > 0) per sample, with outliers 3 MADs below the median on the log2 scale. ", counts.join(", ")));
        }
        if q.layers.iter().any(|l| l.purity.is_some()) {
            text.push_str("The MISEV purity gate scores EV markers (categories 1–2) against co-isolates and other compartments (categories 3–4) from the MISEV2018 tables.");
        }
        steps.push(step(
            "Quality control",
            text.trim_end().to_string(),
            &["thery2018", "welsh2024"],
        ));
    }
    if let Some((_, n)) = r.normalized {
        let layers: Vec<String> = n
            .layers
            .iter()
            .map(|(k, l)| format!("{k}: {}", describe_pipeline(&l.config)))
            .collect();
        steps.push(step("Normalization", format!("Per-layer pipelines fitted on the cohort (filter → transform → normalization → imputation → batch correction): {}. TMM and log-CPM as edgeR, ComBat as sva; imputed cells stay flagged.", layers.join("; ")), &["tyanova2016", "robinson2010", "johnson2007"]));
    }
    if !r.diff.is_empty() {
        steps.push(step(
            "Differential statistics",
            diff_methods(r.diff),
            &[
                "smyth2004",
                "ritchie2015",
                "law2014",
                "smyth2005",
                "benjamini1995",
            ],
        ));
    }
    if r.explore.is_some() {
        steps.push(step("Exploration", "One-vs-rest moderated statistics per group, variance partition per feature with random effects, and curated osteogenic panels scored per sample (singscore) and tested for enrichment.".into(), &["hoffman2016", "foroutan2018", "dallecarbonare2025"]));
    }
    if r.cluster.is_some() {
        steps.push(step("Clustering", "PCA of complete features; k-means, hierarchical and Gaussian-mixture clustering with k chosen by silhouette or gap statistic; agreement with sheet columns by ARI and NMI.".into(), &["rousseeuw1987", "hubert1985"]));
    }
    if let Some(t) = r.train {
        steps.push(step(
            "Predictive models",
            train_methods(t),
            if t.comparison.is_some() {
                &["friedman2010", "breiman2001", "lei2018", "nadeau2003"]
            } else {
                &["friedman2010", "breiman2001", "lei2018"]
            },
        ));
    }
    let mut references = references();
    if r.train.is_some_and(|t| t.comparison.is_some()) {
        references.push(reference(
            "nadeau2003",
            "Nadeau C, Bengio Y. Inference for the generalization error. Mach Learn 2003;52:239–281.",
            "10.1023/A:1024068626366",
        ));
    }
    Methods {
        steps,
        settings: Vec::new(),
        references,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::{Assay, Features, SampleSheet};
    use evomics_ml::stages::cluster::{run_cluster, ClusterConfig, KCandidates};
    use evomics_stats::stages::explore::{run_explore, ExploreConfig};

    /// 12 samples in three groups of 4 (A, B, C interleaved) × 9 features; feature `P{g}`
    /// is 3 units higher in group g, the rest is small deterministic noise.
    fn experiment() -> Experiment {
        let groups = ["A", "B", "C"];
        let ids: Vec<String> = (1..=12).map(|i| format!("EV{i:02}")).collect();
        let group = (0..12).map(|j| Some(groups[j % 3].to_string())).collect();
        let cells = Array2::from_shape_fn((9, 12), |(i, j)| {
            let noise = 0.2 * (((i * 7 + j * 13) % 11) as f64 / 11.0 - 0.5);
            Some(10.0 + i as f64 + noise + if i == j % 3 { 3.0 } else { 0.0 })
        });
        evomics_testkit::grouped_log2(ids, "group", group, &cells)
    }

    fn run(exp: &Experiment) -> ReportInput {
        let explore = run_explore(
            exp,
            &ExploreConfig {
                layer: "proteome".into(),
                by: vec!["group".into()],
                top: 4,
                ..ExploreConfig::default()
            },
            evomics_panels::PanelSet::osteogenic(),
        )
        .unwrap();
        let cluster = run_cluster(
            exp,
            &ClusterConfig {
                layer: "proteome".into(),
                k: KCandidates(vec![2, 3, 4]),
                gap_references: Some(5),
                ..ClusterConfig::default()
            },
        )
        .unwrap();
        build(&RunResults {
            title: "t",
            date: "2026-01-01",
            inputs: &[],
            experiment: exp,
            normalized: None,
            qc: None,
            diff: &[],
            explore: Some(&explore),
            cluster: Some(&cluster),
            train: None,
        })
        .unwrap()
    }

    /// z-scores of one heatmap row, recomputed.
    fn z(row: &[f64]) -> Vec<f64> {
        let mean = row.iter().sum::<f64>() / row.len() as f64;
        let sd =
            (row.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (row.len() - 1) as f64).sqrt();
        row.iter().map(|x| (x - mean) / sd).collect()
    }

    fn diff(exp: &Experiment, layer: &str, contrasts: &[&str]) -> Vec<ContrastResult> {
        use evomics_stats::stages::diff::{run_diff, DiffConfig};
        let config = DiffConfig {
            layer: layer.into(),
            design: "~ 0 + group".into(),
            contrasts: contrasts.iter().map(|c| c.to_string()).collect(),
            ..DiffConfig::default()
        };
        let d = run_diff(exp, &config).unwrap();
        diff_section(exp, &[("g".into(), d)])
    }

    #[test]
    fn contrast_heatmap_holds_top_features_as_z_scores_ordered_by_the_design_factor() {
        let exp = experiment();
        let c = diff(&exp, "proteome", &["A - B"]);
        let h = c[0]
            .heatmap
            .as_ref()
            .expect("significant features give a heatmap");
        assert_eq!(h.order_by.as_deref(), Some("group"));
        let m = &h.heatmap;
        // Samples in level order of the factor: the four A, the four B, the four C.
        assert_eq!(m.samples[..4], ["EV01", "EV04", "EV07", "EV10"]);
        assert_eq!(m.samples[8..], ["EV03", "EV06", "EV09", "EV12"]);
        // The planted features: P0 (high in A) is up, P1 (high in B) down, most significant.
        let at = |f: &str| m.features.iter().position(|x| x == f).unwrap();
        assert_eq!(m.feature_groups[at("P0")], "up");
        assert_eq!(m.feature_groups[at("P1")], "down");
        assert!(m.features.len() <= CONTRAST_HEATMAP_FEATURES);
        let layer = exp.layer("proteome").unwrap();
        let pos = |s: &str| layer.samples().iter().position(|x| x == s).unwrap();
        for (k, f) in m.features.iter().enumerate() {
            let i = layer.features().ids().iter().position(|x| x == f).unwrap();
            let raw: Vec<f64> = m
                .samples
                .iter()
                .map(|s| layer.get(i, pos(s)).unwrap())
                .collect();
            for (got, want) in m.values[k].iter().zip(z(&raw)) {
                assert!((got.unwrap() - want).abs() < 1e-12);
            }
        }
        // No significant feature, no heatmap.
        let mut quiet = c[0].clone();
        for r in &mut quiet.rows {
            r.adj_p_value = Some(0.9);
        }
        let fitted = FittedLayer {
            assay: exp.layer("proteome").unwrap().clone(),
            factor: None,
        };
        assert!(contrast_heatmap(&exp, &fitted, &quiet).is_none());
    }

    #[test]
    fn contrast_heatmap_of_a_count_layer_is_on_voom_log_cpm() {
        let ids: Vec<String> = (1..=12).map(|i| format!("EV{i:02}")).collect();
        let group = (0..12)
            .map(|j| Some(["A", "B"][j % 2].to_string()))
            .collect();
        let sheet =
            SampleSheet::from_text_columns(ids.clone(), vec![("group".into(), group)]).unwrap();
        let cells = Array2::from_shape_fn((40, 12), |(i, j)| {
            let base = 50.0 + 20.0 * i as f64 + 7.0 * ((i * 5 + j * 3) % 7) as f64;
            let depth = 1.0 + 0.1 * (j % 4) as f64;
            Some((base * depth * if i < 4 && j % 2 == 0 { 6.0 } else { 1.0 }).round())
        });
        let features = Features::new((0..40).map(|i| format!("miR-{i}")).collect()).unwrap();
        let layer = Assay::from_options(
            "mirna",
            LayerKind::Mirna,
            ValueScale::Counts,
            features,
            ids,
            &cells,
        )
        .unwrap();
        let mut exp = Experiment::new(sheet);
        exp.insert_layer(layer).unwrap();
        use evomics_stats::stages::diff::{run_diff, DiffConfig};
        let d = run_diff(
            &exp,
            &DiffConfig {
                layer: "mirna".into(),
                design: "~ 0 + group".into(),
                contrasts: vec!["A - B".into()],
                ..DiffConfig::default()
            },
        )
        .unwrap();
        let (e, _) = d.voom_detail.as_ref().unwrap().matrices.clone().unwrap();
        let c = diff_section(&exp, &[("g".into(), d)]);
        let m = &c[0].heatmap.as_ref().unwrap().heatmap;
        assert!(m.features.iter().any(|f| f == "miR-0"));
        let pos = |s: &str| e.samples().iter().position(|x| x == s).unwrap();
        for (k, f) in m.features.iter().enumerate() {
            let i = e.features().ids().iter().position(|x| x == f).unwrap();
            let voom_e: Vec<f64> = m
                .samples
                .iter()
                .map(|s| e.get(i, pos(s)).unwrap())
                .collect();
            for (got, want) in m.values[k].iter().zip(z(&voom_e)) {
                assert!((got.unwrap() - want).abs() < 1e-9, "{f}");
            }
        }
    }

    #[test]
    fn partitions_compare_regardless_of_label_names() {
        assert!(same_partition(&[0, 0, 1, 2], &[2, 2, 0, 1]));
        assert!(!same_partition(&[0, 0, 1, 1], &[0, 1, 1, 1]));
        assert!(!same_partition(&[0, 1, 2], &[0, 0, 1]));
        assert!(!same_partition(&[0], &[0, 0]));
    }

    #[test]
    fn markers_are_ranked_per_group_with_a_z_score_heatmap_ordered_by_group() {
        let input = run(&experiment());
        assert_eq!(input.markers.len(), 1);
        let m = &input.markers[0];
        assert_eq!((m.by.as_str(), m.direction.as_str()), ("group", "up"));
        assert_eq!(m.groups, ["A", "B", "C"]);
        for (gi, g) in m.groups.iter().enumerate() {
            let rows: Vec<&MarkerRow> = m.rows.iter().filter(|r| r.group == *g).collect();
            assert!(!rows.is_empty() && rows.len() <= 4, "{g}: {}", rows.len());
            // The planted marker of each group is its first.
            assert_eq!(rows[0].rank, 1);
            assert_eq!(rows[0].feature_id, format!("P{gi}"));
            assert!(rows[0].log_fc.unwrap() > 2.5, "{:?}", rows[0].log_fc);
            assert!(rows[0].adj_p_value.unwrap() < 1e-6);
        }
        let hm = m.heatmap.as_ref().unwrap();
        // Samples ordered by group: EV01, EV04, … are group A.
        assert_eq!(hm.samples[..4], ["EV01", "EV04", "EV07", "EV10"]);
        assert_eq!(hm.samples[4..8], ["EV02", "EV05", "EV08", "EV11"]);
        assert!(hm.imputed.is_empty());
        for (row, g) in hm.values.iter().zip(&hm.feature_groups) {
            let v: Vec<f64> = row.iter().map(|x| x.unwrap()).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
            assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12);
            let gi = m.groups.iter().position(|x| x == g).unwrap();
            if hm.features[hm.feature_groups.iter().position(|x| x == g).unwrap()]
                == format!("P{gi}")
            {
                // The planted marker is high in its own group's columns.
                let own = &hm.values[hm.feature_groups.iter().position(|x| x == g).unwrap()]
                    [gi * 4..gi * 4 + 4];
                assert!(own.iter().all(|z| z.unwrap() > 1.0), "{own:?}");
            }
        }
        // The grouping column is a report column, so plots can colour by it.
        assert!(input
            .samples
            .as_ref()
            .unwrap()
            .columns
            .contains(&"group".to_string()));
    }

    #[test]
    fn clusters_carry_k_selection_assignments_agreement_and_the_stage_tree() {
        let exp = experiment();
        let input = run(&exp);
        let c = &input.clusters[0];
        assert_eq!(c.by, ["group"]);
        let names: Vec<&str> = c.methods.iter().map(|m| m.method.as_str()).collect();
        assert_eq!(names, ["kmeans", "hclust", "gmm"]);
        for m in &c.methods {
            assert_eq!(
                m.selection.iter().map(|s| s.k).collect::<Vec<_>>(),
                [2, 3, 4]
            );
            assert!(m.selection.iter().all(|s| s.silhouette.is_some()));
            assert!(m
                .selection
                .iter()
                .all(|s| s.gap.is_some() && s.gap_se.is_some()));
            assert_eq!(m.assignments.len(), 12);
            assert!(m.assignments.iter().all(|a| (1..=m.k).contains(&a.cluster)));
        }
        assert_eq!(c.agreement.len(), 3);
        // Three planted groups: hclust finds them exactly.
        let h = &c.methods[1];
        assert_eq!(h.k, 3);
        let a = c.agreement.iter().find(|a| a.method == "hclust").unwrap();
        assert!((a.ari.unwrap() - 1.0).abs() < 1e-12, "{a:?}");
        // The heatmap draws the stage's own tree: ward.D2 on Euclidean distance, and cutting
        // it at k gives the stage's clusters.
        let s = &input.sample_clustering[0];
        assert_eq!(
            s.linkage.as_deref(),
            Some("ward.D2 linkage on euclidean distance, the cluster stage's own tree")
        );
        assert_eq!(s.kind, MatrixKind::Distance);
        assert_eq!(s.dendrogram.len(), 11);
        let top_merge = s.dendrogram.last().unwrap().height;
        assert!(s.dendrogram.iter().all(|m| m.height <= top_merge));
        input.validate().unwrap();
        let html = crate::render(&input).unwrap();
        assert!(html.contains(
            "(12 samples, dendrogram order, tree: ward.D2 linkage on euclidean distance, the cluster stage&#39;s own tree)."
        ));
    }
}
