//! Integration tests of the rendered report: every section, self-containment, escaping,
//! well-formedness, determinism, the TSV downloads, and (where Chromium is installed) a real
//! browser rendering with no console errors.

use evomics_core::{LayerKind, ValueScale};
use evomics_report::*;
use evomics_testkit::decode_base64;

// ---------------------------------------------------------------------------------------------
// A synthetic cohort: 4 MSC sources × 3 donors × 2 conditions, proteome and miRNA layers.
// ---------------------------------------------------------------------------------------------

/// xorshift64*: a fixed stream, so the synthetic input is the same on every run.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-12);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Two-sided normal p-value (Abramowitz & Stegun 7.1.26 for erfc).
fn p_two_sided(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    (poly * (-x * x).exp()).clamp(0.0, 1.0)
}

fn bh(p: &[f64]) -> Vec<f64> {
    let n = p.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|a, b| p[*b].total_cmp(&p[*a]));
    let mut out = vec![0.0; n];
    let mut running: f64 = 1.0;
    for (rank_from_top, &i) in idx.iter().enumerate() {
        let rank = n - rank_from_top;
        running = running.min(p[i] * n as f64 / rank as f64);
        out[i] = running.min(1.0);
    }
    out
}

const SOURCES: [&str; 4] = ["BM-MSC", "ADSC", "UC-MSC", "iMSC"];
const CONDITIONS: [&str; 2] = ["control", "osteogenic_induction"];
const PROTEINS: [&str; 16] = [
    "CD63", "CD81", "CD9", "TSG101", "ALIX", "FBLN1", "MGP", "IGFBP3", "COL1A1", "SPP1", "BGLAP",
    "RUNX2", "ALB", "APOA1", "CANX", "HSPA5",
];
const MIRNAS: [&str; 8] = [
    "hsa-miR-196a-5p",
    "hsa-miR-27a-3p",
    "hsa-miR-150-3p",
    "hsa-miR-375",
    "hsa-miR-1263",
    "hsa-miR-451a",
    "hsa-miR-21-5p",
    "hsa-let-7a-5p",
];

struct Sample {
    id: String,
    source: usize,
    donor: String,
    condition: usize,
    batch: String,
}

fn samples() -> Vec<Sample> {
    let mut out = Vec::new();
    for (s, src) in SOURCES.iter().enumerate() {
        for d in 0..3 {
            for (c, _) in CONDITIONS.iter().enumerate() {
                let k = out.len();
                out.push(Sample {
                    id: format!(
                        "{src}_D{}_{}",
                        s * 3 + d + 1,
                        if c == 0 { "ctrl" } else { "osteo" }
                    ),
                    source: s,
                    donor: format!("D{}", s * 3 + d + 1),
                    condition: c,
                    batch: format!("batch{}", k % 3 + 1),
                });
            }
        }
    }
    out
}

fn feature_name(layer: &str, i: usize) -> String {
    match layer {
        "mirna" => MIRNAS
            .get(i)
            .map_or_else(|| format!("hsa-miR-{}", 3000 + i), |s| s.to_string()),
        _ => PROTEINS
            .get(i)
            .map_or_else(|| format!("GENE{i}"), |s| s.to_string()),
    }
}

fn contrast(rng: &mut Rng, layer: &str, name: &str, n: usize) -> ContrastResult {
    let mut lfc = Vec::new();
    let mut t = Vec::new();
    for i in 0..n {
        let effect = if i % 13 == 0 {
            (1.0 + 2.0 * rng.uniform()) * if i % 2 == 0 { 1.0 } else { -1.0 }
        } else {
            0.0
        };
        let se = 0.25 + 0.1 * rng.uniform();
        let est = effect + se * rng.normal();
        lfc.push(est);
        t.push(est / se);
    }
    let p: Vec<f64> = t.iter().map(|t| p_two_sided(*t)).collect();
    let adj = bh(&p);
    ContrastResult {
        layer: layer.into(),
        contrast: name.into(),
        expression: Some(format!(
            "source{} - sourceBM_MSC",
            name.split(" - ").next().unwrap_or(name)
        )),
        log_fc_threshold: 0.5,
        rows: (0..n)
            .map(|i| DiffRow {
                feature_id: format!("{layer}_{i:04}"),
                name: Some(feature_name(layer, i)),
                log_fc: Some(lfc[i]),
                ave_expr: Some(20.0 + 3.0 * rng.normal()),
                t: Some(t[i]),
                p_value: Some(p[i]),
                adj_p_value: Some(adj[i]),
                n_imputed: Some(if layer == "proteome" { i % 3 } else { 0 }),
            })
            .collect(),
        imputed_fitted: (layer == "proteome").then_some(false),
        ..ContrastResult::default()
    }
}

/// The slope of a numeric covariate, with many labels asked for so that placement is tight.
fn slope_contrast(rng: &mut Rng) -> ContrastResult {
    let mut c = contrast(rng, "proteome", "potency_score", 900);
    c.analysis = Some("potency".into());
    c.expression = Some("potency_score".into());
    c.coefficient = Coefficient::Slope {
        covariate: "potency_score".into(),
    };
    c.label_top = 100;
    c
}

/// A contrast in which nothing is significant.
fn no_hits_contrast(rng: &mut Rng) -> ContrastResult {
    let mut c = contrast(rng, "mirna", "batch_B2", 60);
    c.analysis = Some("batch".into());
    c.expression = Some("batchB2".into());
    for r in &mut c.rows {
        r.adj_p_value = Some(0.9);
    }
    c
}

/// Correlation heatmap with a tree: samples chained within source, then sources joined.
fn heatmap(rng: &mut Rng, ss: &[Sample]) -> SampleHeatmap {
    let source_effect: Vec<Vec<f64>> = (0..4)
        .map(|_| (0..200).map(|_| rng.normal()).collect())
        .collect();
    let mut order: Vec<usize> = (0..ss.len()).collect();
    order.sort_by_key(|&i| (ss[i].source, i));
    let profiles: Vec<Vec<f64>> = order
        .iter()
        .map(|&i| {
            source_effect[ss[i].source]
                .iter()
                .map(|e| e + 0.8 * rng.normal())
                .collect()
        })
        .collect();
    let n = order.len();
    let values = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| evomics_core::num::pearson(&profiles[i], &profiles[j]))
                .collect()
        })
        .collect();
    let mut merges = Vec::new();
    let mut roots = Vec::new();
    for s in 0..4 {
        let mut node = 6 * s;
        for k in 1..6 {
            merges.push(Merge {
                left: node,
                right: 6 * s + k,
                height: 0.2 + 0.03 * k as f64 + 0.01 * s as f64,
            });
            node = n + merges.len() - 1;
        }
        roots.push(node);
    }
    merges.push(Merge {
        left: roots[0],
        right: roots[1],
        height: 0.55,
    });
    let a = n + merges.len() - 1;
    merges.push(Merge {
        left: roots[2],
        right: roots[3],
        height: 0.6,
    });
    let b = n + merges.len() - 1;
    merges.push(Merge {
        left: a,
        right: b,
        height: 0.8,
    });
    SampleHeatmap {
        layer: "proteome".into(),
        measure: "Pearson correlation".into(),
        kind: MatrixKind::Similarity,
        linkage: Some("average linkage on 1 − r".into()),
        order: order.iter().map(|&i| ss[i].id.clone()).collect(),
        values,
        dendrogram: merges,
        annotate_by: vec!["source".into(), "batch".into()],
    }
}

fn classifier(rng: &mut Rng) -> PotencyModel {
    let n = 48;
    let truth: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
    let score: Vec<f64> = truth
        .iter()
        .map(|t| 1.0 / (1.0 + (-(if *t { 1.2 } else { -1.2 } + 1.1 * rng.normal())).exp()))
        .collect();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|a, b| score[*b].total_cmp(&score[*a]));
    let pos = truth.iter().filter(|t| **t).count() as f64;
    let neg = n as f64 - pos;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut roc = vec![RocPoint { fpr: 0.0, tpr: 0.0 }];
    let mut pr = vec![PrPoint {
        recall: 0.0,
        precision: 1.0,
    }];
    let mut auc = 0.0;
    for &i in &idx {
        if truth[i] {
            tp += 1.0;
        } else {
            fp += 1.0;
            auc += tp / pos / neg;
        }
        roc.push(RocPoint {
            fpr: fp / neg,
            tpr: tp / pos,
        });
        pr.push(PrPoint {
            recall: tp / pos,
            precision: tp / (tp + fp),
        });
    }
    let calibration = (0..5)
        .filter_map(|b| {
            let lo = b as f64 / 5.0;
            let members: Vec<usize> = (0..n)
                .filter(|&i| score[i] >= lo && score[i] < lo + 0.2)
                .collect();
            (!members.is_empty()).then(|| CalibrationBin {
                mean_predicted: members.iter().map(|&i| score[i]).sum::<f64>()
                    / members.len() as f64,
                observed: members.iter().filter(|&&i| truth[i]).count() as f64
                    / members.len() as f64,
                n: members.len(),
            })
        })
        .collect();
    let null: Vec<f64> = (0..200).map(|_| 0.5 + 0.08 * rng.normal()).collect();
    let p_value = (1 + null.iter().filter(|v| **v >= auc).count()) as f64 / 201.0;
    PotencyModel {
        name: "Elastic-net logistic, proteome + miRNA".into(),
        target: "potency_class".into(),
        task: Task::Classification,
        cv: Some("5-fold cross-validation grouped by donor_id, 10 repeats".into()),
        metrics: vec![
            MetricRow {
                name: "roc_auc".into(),
                pooled: Some(auc),
                fold_mean: Some(auc - 0.02),
                fold_sd: Some(0.09),
            },
            MetricRow {
                name: "pr_auc".into(),
                pooled: Some(auc - 0.03),
                fold_mean: Some(auc - 0.05),
                fold_sd: Some(0.11),
            },
            MetricRow {
                name: "balanced_accuracy".into(),
                pooled: Some(0.79),
                fold_mean: Some(0.77),
                fold_sd: Some(0.1),
            },
            MetricRow {
                name: "brier".into(),
                pooled: Some(0.16),
                fold_mean: Some(0.17),
                fold_sd: Some(0.04),
            },
        ],
        permutation: Some(PermutationSummary {
            metric: "roc_auc".into(),
            observed: auc,
            p_value,
            null,
        }),
        roc,
        pr,
        prevalence: Some(0.5),
        calibration,
        predictions: Vec::new(),
        importance: (0..40)
            .map(|i| Importance {
                feature: if i < 8 {
                    format!("mirna:{}", MIRNAS[i])
                } else {
                    format!("proteome:P{:05}", 10000 + i)
                },
                name: (i >= 8).then(|| {
                    if i == 9 {
                        "COMPLEMENT-FACTOR-H-RELATED-PROTEIN-5".to_string()
                    } else {
                        feature_name("proteome", i)
                    }
                }),
                importance: (1.0 / (1.0 + i as f64)) * if i % 7 == 3 { -1.0 } else { 1.0 },
                sd: Some(0.05 + 0.2 / (1.0 + i as f64)),
                selection_frequency: Some((1.0 - i as f64 / 45.0).max(0.0)),
            })
            .collect(),
        fold_roc: (1..=3)
            .map(|k| {
                let bend = 0.2 + 0.15 * k as f64;
                FoldRoc {
                    fold: format!("fold {k}"),
                    roc: (0..=10)
                        .map(|i| {
                            let x = i as f64 / 10.0;
                            RocPoint {
                                fpr: x,
                                tpr: x.powf(bend),
                            }
                        })
                        .collect(),
                    auc: Some(1.0 / (1.0 + bend)),
                }
            })
            .collect(),
        confusion: Some(Confusion {
            classes: vec!["low".into(), "high".into()],
            counts: vec![vec![9, 3], vec![2, 10]],
            description: "24 out-of-fold predictions".into(),
        }),
        signed_importance: Some(SignedImportance {
            measure: "Mean standardized coefficient over folds (± SD)".into(),
            positive: "raises P(high)".into(),
            negative: "lowers P(high)".into(),
        }),
        comparison: Some(comparison()),
        panel: Some(PanelView {
            features: vec!["FBLN1".into(), "MGP".into(), "IGFBP3".into()],
            selection_frequency: vec![1.0, 0.8, 0.6],
            panel: MetricRow {
                name: "roc_auc".into(),
                pooled: Some(0.88),
                fold_mean: Some(0.87),
                fold_sd: Some(0.06),
            },
            full: MetricRow {
                name: "roc_auc".into(),
                pooled: Some(0.93),
                fold_mean: Some(0.92),
                fold_sd: Some(0.05),
            },
            p_value: Some(0.21),
            not_reproducible: vec![
                "proteome: normalization median (uses each sample's whole profile)".into(),
            ],
        }),
    }
}

/// Three models on five shared folds.
fn comparison() -> ModelComparison {
    let model = |name: &str, kind: &str, folds: [f64; 5]| ComparedModel {
        name: name.into(),
        kind: kind.into(),
        metrics: vec![MetricRow {
            name: "roc_auc".into(),
            pooled: Some(folds.iter().sum::<f64>() / 5.0),
            fold_mean: Some(folds.iter().sum::<f64>() / 5.0),
            fold_sd: Some(0.05),
        }],
        folds: folds.iter().map(|v| Some(*v)).collect(),
    };
    let pair = |a: &str, b: &str, d: f64, p: f64| ModelPair {
        a: a.into(),
        b: b.into(),
        mean_difference: Some(d),
        sd_difference: Some(0.04),
        t: Some(d / 0.03),
        df: 4,
        p_value: Some(p),
    };
    ModelComparison {
        metric: "roc_auc".into(),
        selected: "enet".into(),
        selected_by: "pooled roc_auc (higher is better)".into(),
        models: vec![
            model("enet", "elastic_net", [0.95, 0.9, 1.0, 0.85, 0.92]),
            model("svm", "linear_svm", [0.9, 0.88, 0.97, 0.8, 0.9]),
            model("forest", "random_forest", [0.8, 0.85, 0.9, 0.7, 0.88]),
        ],
        pairs: vec![
            pair("enet", "svm", 0.034, 0.31),
            pair("enet", "forest", 0.098, 0.04),
            pair("svm", "forest", 0.064, 0.12),
        ],
    }
}

fn regressor(rng: &mut Rng, ss: &[Sample]) -> PotencyModel {
    let predictions: Vec<Prediction> = ss
        .iter()
        .map(|s| {
            let obs = 2.0 + s.source as f64 * 0.8 + s.condition as f64 * 1.5 + 0.4 * rng.normal();
            Prediction {
                sample_id: s.id.clone(),
                observed: obs,
                predicted: obs * 0.8 + 0.6 + 0.5 * rng.normal(),
            }
        })
        .collect();
    PotencyModel {
        name: "Random forest, ALP activity".into(),
        target: "alp_activity".into(),
        task: Task::Regression,
        cv: Some("leave-one-donor-out".into()),
        metrics: vec![
            MetricRow {
                name: "r2".into(),
                pooled: Some(0.62),
                fold_mean: Some(0.55),
                fold_sd: Some(0.2),
            },
            MetricRow {
                name: "rmse".into(),
                pooled: Some(0.71),
                fold_mean: Some(0.74),
                fold_sd: Some(0.15),
            },
        ],
        predictions,
        importance: (0..12)
            .map(|i| Importance {
                feature: feature_name("proteome", i + 5),
                name: None,
                importance: 0.3 / (1.0 + i as f64),
                sd: None,
                selection_frequency: None,
            })
            .collect(),
        ..PotencyModel::default()
    }
}

fn methods() -> Methods {
    let step = |stage: &str, description: &str, citations: &[&str]| MethodStep {
        stage: stage.into(),
        description: description.into(),
        citations: citations.iter().map(|c| c.to_string()).collect(),
    };
    let reference = |key: &str, text: &str, doi: &str| Reference {
        key: key.into(),
        text: text.into(),
        doi: Some(doi.into()),
    };
    Methods {
        steps: vec![
            step(
                "Quality control",
                "EV preparations were checked against the MISEV2023 marker categories: at least one transmembrane and one cytosolic EV protein were required, and co-isolate shares above 5% (warn) or 15% (fail) were flagged.",
                &["welsh2024", "thery2018"],
            ),
            step(
                "Normalization",
                "Protein intensities were log2-transformed, median-centred per sample, and missing values imputed by down-shifted normal draws; batch effects were removed with ComBat.",
                &["johnson2007"],
            ),
            step(
                "Differential abundance",
                "Linear models with empirical Bayes moderation (limma) were fitted with source and conditioning as fixed effects and donor as a blocking factor; p-values were adjusted with the Benjamini–Hochberg procedure.",
                &["smyth2004", "ritchie2015", "bh1995"],
            ),
            step(
                "Variance partition",
                "Variance fractions were estimated per feature with linear mixed models.",
                &["hoffman2016"],
            ),
            step(
                "Predictive models",
                "Models were validated by grouped cross-validation with preprocessing fitted inside the folds; significance was assessed by label permutation.",
                &["phipson2010"],
            ),
        ],
        settings: vec![
            Setting {
                key: "normalize.method".into(),
                value: "median".into(),
            },
            Setting {
                key: "diff.adjust".into(),
                value: "BH".into(),
            },
            Setting {
                key: "train.cv".into(),
                value: "group_kfold(k=5, group=donor_id, repeats=10)".into(),
            },
            Setting {
                key: "seed".into(),
                value: "42".into(),
            },
        ],
        references: vec![
            reference("thery2018", "Théry C et al. Minimal information for studies of extracellular vesicles 2018 (MISEV2018). J Extracell Vesicles 7:1535750 (2018).", "10.1080/20013078.2018.1535750"),
            reference("welsh2024", "Welsh JA et al. Minimal information for studies of extracellular vesicles (MISEV2023). J Extracell Vesicles 13:e12404 (2024).", "10.1002/jev2.12404"),
            reference("johnson2007", "Johnson WE, Li C, Rabinovic A. Adjusting batch effects in microarray expression data using empirical Bayes methods. Biostatistics 8:118–127 (2007).", "10.1093/biostatistics/kxj037"),
            reference("smyth2004", "Smyth GK. Linear models and empirical Bayes methods for assessing differential expression in microarray experiments. Stat Appl Genet Mol Biol 3:3 (2004).", "10.2202/1544-6115.1027"),
            reference("ritchie2015", "Ritchie ME et al. limma powers differential expression analyses for RNA-sequencing and microarray studies. Nucleic Acids Res 43:e47 (2015).", "10.1093/nar/gkv007"),
            reference("bh1995", "Benjamini Y, Hochberg Y. Controlling the false discovery rate. J R Stat Soc B 57:289–300 (1995).", "10.1111/j.2517-6161.1995.tb02031.x"),
            reference("hoffman2016", "Hoffman GE, Schadt EE. variancePartition: interpreting drivers of variation in complex gene expression studies. BMC Bioinformatics 17:483 (2016).", "10.1186/s12859-016-1323-z"),
            reference("phipson2010", "Phipson B, Smyth GK. Permutation p-values should never be zero. Stat Appl Genet Mol Biol 9:39 (2010).", "10.2202/1544-6115.1585"),
        ],
    }
}

/// A report input with every section filled.
/// Top markers of every source (12 each, so the page shows 10 of each) and a z-score heatmap of
/// the first three across the samples ordered by source, with a missing and an imputed cell.
fn markers(rng: &mut Rng, ss: &[Sample]) -> MarkerSet {
    let mut rows = Vec::new();
    for (g, src) in SOURCES.iter().enumerate() {
        for rank in 1..=12 {
            let i = g * 12 + rank - 1;
            let p = 1e-6 * rank as f64 * (1.0 + rng.uniform());
            rows.push(MarkerRow {
                group: src.to_string(),
                rank,
                feature_id: format!("PROT{i:04}"),
                name: Some(feature_name("proteome", i)),
                log_fc: Some(3.0 / rank as f64 + 0.1 * rng.normal()),
                ave_expr: Some(20.0 + rng.normal()),
                t: Some(9.0 / rank as f64),
                p_value: Some(p),
                adj_p_value: Some((p * 40.0).min(1.0)),
            });
        }
    }
    let mut order: Vec<&Sample> = ss.iter().collect();
    order.sort_by_key(|s| s.source);
    let mut heatmap = MarkerHeatmap {
        samples: order.iter().map(|s| s.id.clone()).collect(),
        ..MarkerHeatmap::default()
    };
    for r in rows.iter().filter(|r| r.rank <= 3) {
        let g = SOURCES.iter().position(|s| *s == r.group).unwrap();
        heatmap.features.push(r.name.clone().unwrap());
        heatmap.feature_groups.push(r.group.clone());
        heatmap.values.push(
            order
                .iter()
                .map(|s| Some(if s.source == g { 1.5 } else { -0.5 } + 0.3 * rng.normal()))
                .collect(),
        );
    }
    heatmap.values[0][5] = None;
    heatmap.imputed.push([1, 2]);
    MarkerSet {
        layer: "proteome".into(),
        by: "source".into(),
        direction: "up".into(),
        groups: SOURCES.iter().map(|s| s.to_string()).collect(),
        rows,
        heatmap: Some(heatmap),
        ..MarkerSet::default()
    }
}

/// k-means (k = 4, the sources) and hclust (k = 3) of the proteome with their k-selection
/// scores (gap for hclust only) and agreement with source and batch.
fn clusters(ss: &[Sample]) -> ClusterSummary {
    let ks = [2usize, 3, 4, 5, 6];
    let method =
        |name: &str, k: usize, gap: bool, cluster: &dyn Fn(&Sample) -> usize| ClusterMethod {
            method: name.into(),
            k,
            chosen_by: "largest mean silhouette".into(),
            selection: ks
                .iter()
                .map(|&j| KScoreRow {
                    k: j,
                    silhouette: Some(0.6 - 0.08 * (j as f64 - k as f64).abs()),
                    gap: gap.then_some(0.4 + 0.05 * j as f64),
                    gap_se: gap.then_some(0.03),
                })
                .collect(),
            assignments: ss
                .iter()
                .map(|s| ClusterAssignment {
                    sample_id: s.id.clone(),
                    cluster: cluster(s),
                })
                .collect(),
        };
    let agreement = |m: &str, k: usize, column: &str, ari: f64, nmi: f64| ClusterAgreement {
        method: m.into(),
        k,
        column: column.into(),
        n_samples: ss.len(),
        n_levels: if column == "source" { 4 } else { 3 },
        ari: Some(ari),
        nmi: Some(nmi),
    };
    ClusterSummary {
        layer: "proteome".into(),
        description: "24 samples × 180 features; methods: k-means, hierarchical clustering (ward.D2 linkage on euclidean distance); candidate k 2, 3, 4, 5, 6.".into(),
        by: vec!["source".into(), "batch".into()],
        methods: vec![
            method("kmeans", 4, false, &|s: &Sample| s.source + 1),
            method("hclust", 3, true, &|s: &Sample| s.source.min(2) + 1),
        ],
        agreement: vec![
            agreement("kmeans", 4, "source", 1.0, 1.0),
            agreement("kmeans", 4, "batch", -0.043, 0.031),
            agreement("hclust", 3, "source", 0.712, 0.861),
            agreement("hclust", 3, "batch", -0.051, 0.027),
        ],
    }
}

fn full_input() -> ReportInput {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let ss = samples();
    let sample_table = SampleTable {
        columns: vec![
            "source".into(),
            "donor_id".into(),
            "batch".into(),
            "conditioning".into(),
        ],
        rows: ss
            .iter()
            .map(|s| SampleRow {
                sample_id: s.id.clone(),
                values: vec![
                    Some(SOURCES[s.source].into()),
                    Some(s.donor.clone()),
                    Some(s.batch.clone()),
                    Some(CONDITIONS[s.condition].into()),
                ],
            })
            .collect(),
    };
    let qc_proteome = QcLayer {
        layer: "proteome".into(),
        total_label: "Total intensity".into(),
        colour_by: Some("source".into()),
        counts: false,
        outlier_rules: None,
        samples: ss
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let verdict = match i {
                    5 | 17 => Verdict::Warn,
                    11 => Verdict::Fail,
                    _ => Verdict::Pass,
                };
                let reasons = match verdict {
                    Verdict::Pass => Vec::new(),
                    Verdict::Warn => vec!["co-isolate share 7.2% ≥ 5% (APOA1, ALB)".into()],
                    Verdict::Fail => vec![
                        "no cytosolic EV marker (TSG101, ALIX, …) observed".into(),
                        "other-compartment share 18% ≥ 15% (CANX, HSPA5)".into(),
                    ],
                };
                let outlier = i == 11;
                QcSample {
                    sample_id: s.id.clone(),
                    n_observed: Some(900 + (rng.uniform() * 250.0) as usize),
                    missing_fraction: Some(if outlier {
                        0.46
                    } else {
                        0.12 + 0.12 * rng.uniform()
                    }),
                    total: Some(if outlier {
                        6.0e8
                    } else {
                        1.6e9 + 8.0e8 * rng.uniform()
                    }),
                    outlier,
                    outlier_reasons: if outlier {
                        vec![
                            "observed features z = -3.9".into(),
                            "total intensity z = -3.2".into(),
                        ]
                    } else {
                        Vec::new()
                    },
                    purity: Some(Purity { verdict, reasons }),
                    ..QcSample::default()
                }
            })
            .collect(),
        distributions: ["ingested, log2", "normalized (log2)"]
            .iter()
            .enumerate()
            .map(|(k, stage)| Distribution {
                stage: stage.to_string(),
                samples: ss
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let m = 24.0 + if k == 0 { (i % 5) as f64 * 0.4 } else { 0.0 };
                        SampleQuantiles {
                            sample_id: s.id.clone(),
                            q05: m - 3.0,
                            q25: m - 1.2,
                            q50: m,
                            q75: m + 1.1,
                            q95: m + 2.9,
                        }
                    })
                    .collect(),
            })
            .collect(),
        detection: (0..300)
            .map(|i| {
                let mean = 18.0 + 12.0 * (i as f64 / 300.0);
                FeatureDetection {
                    feature_id: format!("proteome_{i:04}"),
                    detected: (0.2 + (mean - 18.0) / 10.0).min(1.0),
                    mean,
                }
            })
            .collect(),
    };
    let qc_mirna = QcLayer {
        layer: "mirna".into(),
        total_label: "Library size".into(),
        colour_by: Some("batch".into()),
        counts: true,
        outlier_rules: Some(
            "counts: log2 library size or log2 detected features more than 3 MADs, and by at least 1 on the log2 scale, below the median".into(),
        ),
        samples: ss
            .iter()
            .map(|s| {
                let detected = 300 + (rng.uniform() * 80.0) as usize;
                QcSample {
                    sample_id: s.id.clone(),
                    n_observed: Some(400),
                    missing_fraction: Some(0.0),
                    total: Some(2.0e6 + 6.0e6 * rng.uniform()),
                    detected: Some(detected),
                    detected_fraction: Some(detected as f64 / 400.0),
                    ..QcSample::default()
                }
            })
            .collect(),
        ..QcLayer::default()
    };
    let centres = [(-6.0, 2.0), (4.0, 4.5), (5.0, -4.0), (-2.0, -5.0)];
    let pca = PcaResult {
        layer: "proteome".into(),
        note: None,
        variance_explained: vec![0.312, 0.174, 0.088, 0.061, 0.043, 0.031],
        colour_by: vec!["source".into(), "batch".into(), "conditioning".into()],
        points: ss
            .iter()
            .map(|s| PcaPoint {
                sample_id: s.id.clone(),
                pc1: centres[s.source].0 + 1.4 * rng.normal() + s.condition as f64,
                pc2: centres[s.source].1 + 1.4 * rng.normal(),
            })
            .collect(),
        umap: Some(EmbeddingView {
            description: "UMAP of proteome on its first 10 principal components (n_neighbors 8, min_dist 0.1, seed 1); k-means on the embedding with k = the number of levels agrees with source ARI 0.91.".into(),
            points: ss
                .iter()
                .map(|s| EmbeddingPoint {
                    sample_id: s.id.clone(),
                    x: 2.0 * centres[s.source].0 + 0.5 * rng.normal(),
                    y: 2.0 * centres[s.source].1 + 0.5 * rng.normal(),
                })
                .collect(),
        }),
    };
    let differential = vec![
        contrast(&mut rng, "proteome", "ADSC - BM-MSC", 900),
        contrast(&mut rng, "proteome", "UC-MSC - BM-MSC", 900),
        ContrastResult {
            expression: None,
            ..contrast(&mut rng, "mirna", "osteogenic_induction - control", 400)
        },
        slope_contrast(&mut rng),
        no_hits_contrast(&mut rng),
    ];
    let panel_scores = |rng: &mut Rng, panel: &str, layer: &str, shift: [f64; 4]| PanelScores {
        panel: panel.into(),
        layer: layer.into(),
        method: Some("mean z-score of panel members".into()),
        n_members: Some(if layer == "mirna" { 6 } else { 11 }),
        group_by: "source".into(),
        scores: ss
            .iter()
            .map(|s| SampleScore {
                sample_id: s.id.clone(),
                score: Some(shift[s.source] + 0.4 * rng.normal() + 0.3 * s.condition as f64),
            })
            .collect(),
    };
    let panels = PanelSection {
        scores: vec![
            panel_scores(
                &mut rng,
                "Osteogenic miRNA panel",
                "mirna",
                [0.6, -0.2, 0.1, -0.5],
            ),
            panel_scores(
                &mut rng,
                "Osteogenic protein panel",
                "proteome",
                [0.4, 0.0, -0.6, 0.2],
            ),
        ],
        enrichment_method: Some(
            "camera (competitive gene-set test with inter-gene correlation)".into(),
        ),
        enrichment: vec![
            EnrichmentRow {
                panel: "Osteogenic miRNA panel".into(),
                layer: "mirna".into(),
                contrast: "osteogenic_induction - control".into(),
                n_features: 6,
                direction: Some("up".into()),
                statistic: Some(3.1),
                p_value: Some(0.0019),
                adj_p_value: Some(0.0076),
            },
            EnrichmentRow {
                panel: "Osteogenic protein panel".into(),
                layer: "proteome".into(),
                contrast: "ADSC - BM-MSC".into(),
                n_features: 11,
                direction: Some("down".into()),
                statistic: Some(-2.2),
                p_value: Some(0.028),
                adj_p_value: Some(0.056),
            },
            EnrichmentRow {
                panel: "MISEV cat. 1 transmembrane".into(),
                layer: "proteome".into(),
                contrast: "UC-MSC - BM-MSC".into(),
                n_features: 9,
                direction: Some("mixed".into()),
                statistic: Some(0.4),
                p_value: Some(0.69),
                adj_p_value: Some(0.69),
            },
        ],
    };
    let factors: Vec<String> = ["source", "donor_id", "batch", "conditioning", "Residuals"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let vp = VariancePartition {
        layer: "proteome".into(),
        factors,
        features: (0..600)
            .map(|i| {
                let w = [
                    2.0 * rng.uniform().powi(2) * 3.0,
                    rng.uniform(),
                    0.4 * rng.uniform(),
                    rng.uniform().powi(3) * 2.0,
                    1.5 + rng.uniform(),
                ];
                let total: f64 = w.iter().sum();
                VpFeature {
                    feature_id: format!("proteome_{i:04}"),
                    name: Some(feature_name("proteome", i)),
                    fractions: w.iter().map(|x| Some(x / total)).collect(),
                }
            })
            .collect(),
        top_features: 15,
    };
    ReportInput {
        header: Header {
            title: "EV cargo of MSC sources — osteogenic potency study".into(),
            evomics_version: "0.1.0".into(),
            date: "2024-06-01".into(),
            command: Some("evomics run workflows/msc-sources.toml".into()),
            inputs: vec![
                InputFile {
                    role: Some("sample sheet".into()),
                    path: "data/samples.tsv".into(),
                    sha256: "3f1c7d2a9be04e61c0a8f5d7b2e4c6a8d0f1e3b5c7a9e1d3f5b7c9e1a3d5f7b9"
                        .into(),
                },
                InputFile {
                    role: Some("proteome".into()),
                    path: "data/proteinGroups.txt".into(),
                    sha256: "a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9"
                        .into(),
                },
                InputFile {
                    role: Some("mirna".into()),
                    path: "data/mirna_counts.tsv".into(),
                    sha256: "0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d"
                        .into(),
                },
            ],
            layers: vec![
                LayerSummary {
                    name: "proteome".into(),
                    kind: LayerKind::Proteome,
                    scale: ValueScale::Log2,
                    n_features: 1184,
                    n_samples: 24,
                    missing_fraction: Some(0.183),
                    processing: Some("log2, median-centred, down-shift imputed, ComBat".into()),
                },
                LayerSummary {
                    name: "mirna".into(),
                    kind: LayerKind::Mirna,
                    scale: ValueScale::Counts,
                    n_features: 412,
                    n_samples: 24,
                    missing_fraction: Some(0.097),
                    processing: Some("TMM, voom".into()),
                },
            ],
            notes: vec![
                "Sample iMSC_D11_osteo failed the purity gate and was kept for the report only."
                    .into(),
            ],
        },
        samples: Some(sample_table),
        qc: vec![qc_proteome, qc_mirna],
        pca: vec![pca],
        sample_clustering: vec![heatmap(&mut rng, &ss)],
        clusters: vec![clusters(&ss)],
        differential,
        markers: vec![markers(&mut Rng(0x005E_ED0F_3A7C), &ss)],
        panels: Some(panels),
        variance_partition: vec![vp],
        potency: vec![classifier(&mut rng), regressor(&mut rng, &ss)],
        methods: Some(methods()),
    }
}

// ---------------------------------------------------------------------------------------------
// Checks on the HTML text.
// ---------------------------------------------------------------------------------------------

const VOID: [&str; 6] = ["meta", "br", "hr", "img", "input", "link"];

/// Checks that every element is closed in order (void and self-closed elements aside), skipping
/// the CSS. Returns the number of elements seen.
fn check_balanced(html: &str) -> usize {
    let mut stack: Vec<String> = Vec::new();
    let mut seen = 0;
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        if rest.starts_with("<!DOCTYPE") || rest.starts_with("<!--") {
            rest = &rest[rest.find('>').expect("unterminated declaration") + 1..];
            continue;
        }
        let end = rest.find('>').expect("unterminated tag");
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(open, name, "</{name}> closes <{open}>");
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(!name.is_empty(), "bad tag <{tag}>");
        seen += 1;
        if tag.ends_with('/') || VOID.contains(&name.as_str()) {
            continue;
        }
        if name == "style" {
            let close = rest.find("</style>").expect("unclosed style");
            rest = &rest[close + "</style>".len()..];
            continue;
        }
        stack.push(name);
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    seen
}

/// Every value of attribute `attr` (`href`, `src`, …).
fn attr_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let pat = format!(" {attr}=\"");
    html.match_indices(&pat)
        .map(|(i, _)| {
            let v = &html[i + pat.len()..];
            &v[..v.find('"').unwrap()]
        })
        .collect()
}

/// Every TSV download of the page, decoded (plain, or gzip for large tables).
fn downloads(html: &str) -> Vec<String> {
    use std::io::Read as _;
    attr_values(html, "href")
        .into_iter()
        .filter_map(|h| {
            if let Some(b) = h.strip_prefix("data:text/tab-separated-values;charset=utf-8;base64,")
            {
                return Some(String::from_utf8(decode_base64(b)).unwrap());
            }
            let b = h.strip_prefix("data:application/gzip;base64,")?;
            let mut out = String::new();
            flate2::read::GzDecoder::new(&decode_base64(b)[..])
                .read_to_string(&mut out)
                .unwrap();
            Some(out)
        })
        .collect()
}

/// The page with the payload of every `data:` URL left out (base64 spells any word).
fn without_data_urls(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find("\"data:") {
        out.push_str(&rest[..i + 1]);
        rest = &rest[i + 1..];
        rest = &rest[rest.find('"').unwrap_or(rest.len())..];
    }
    out.push_str(rest);
    out
}

#[test]
fn every_section_renders_with_its_heading() {
    let html = render(&full_input()).unwrap();
    for (i, title) in SECTION_TITLES.iter().enumerate() {
        assert!(
            html.contains(&format!("<h2>{}. {title}</h2>", i + 1)),
            "section '{title}' missing"
        );
        assert!(
            html.contains(&format!(">{title}</a></li>")),
            "'{title}' missing from contents"
        );
    }
    assert_eq!(
        html.matches("<div class=\"howto\">").count(),
        SECTION_TITLES.len()
    );
    for sub in [
        "Layer: proteome",
        "Layer: mirna",
        "proteome: sourceADSC - sourceBM_MSC",
        "proteome: potency: potency_score",
        "mirna: batch: batchB2",
        "mirna: osteogenic_induction - control",
        "Panel enrichment",
        "Feature importance",
        "Models compared on the same folds",
        "Release panel",
        "Choice of k",
        "Agreement with the sample annotations",
        "Clusters against the sample annotations",
        "References",
        "Resolved settings",
    ] {
        assert!(
            html.contains(&format!("{sub}</h")),
            "sub-heading '{sub}' missing"
        );
    }
    // Three PCA panels and three UMAP panels, one heatmap, three volcanos.
    assert_eq!(
        html.matches("aria-label=\"PCA of proteome coloured by")
            .count(),
        3
    );
    assert_eq!(
        html.matches("aria-label=\"UMAP of proteome coloured by")
            .count(),
        3
    );
    assert!(html.contains("source ARI 0.91") && html.contains("not distances"));
    assert_eq!(
        html.matches("aria-label=\"Sample clustering heatmap")
            .count(),
        1
    );
    assert_eq!(html.matches("aria-label=\"Volcano plot").count(), 5);
    // Beside each volcano, the p-value histogram and the MA plot.
    assert_eq!(html.matches("aria-label=\"P-value histogram of").count(), 5);
    assert_eq!(html.matches("aria-label=\"MA plot of").count(), 5);
    assert_eq!(
        html.matches("aria-label=\"ROC curve per fold of").count(),
        1
    );
    assert_eq!(
        html.matches("aria-label=\"Value distribution per sample, layer proteome")
            .count(),
        2
    );
    assert_eq!(
        html.matches("aria-label=\"Detection against abundance, layer proteome")
            .count(),
        1
    );
    assert_eq!(html.matches("aria-label=\"Confusion matrix of").count(), 1);
    assert!(html.contains("fold 2 (AUC 0.67)"));
    // The x axis says what the estimate is; a contrast without hits says so.
    assert_eq!(
        html.matches(">slope (log2 units per unit of potency_score)</text>")
            .count(),
        2,
        "the volcano's x axis and the MA plot's y axis"
    );
    assert_eq!(html.matches(">log2 fold change</text>").count(), 8);
    assert!(html.contains("no feature is significant, so none is labelled"));
    assert!(!html.contains("labelled: the 0"));
    for plot in [
        "ROC curve of",
        "Precision-recall curve of",
        "Calibration of",
        "Permutation null of",
        "Observed against predicted",
        "Feature importance of",
        "roc_auc per split and model",
    ] {
        assert!(
            html.contains(&format!("aria-label=\"{plot}")),
            "{plot} missing"
        );
    }
    // Markers: a table of the first 10 of each source (the download has all 12), the z-score
    // heatmap with its source strips, a missing and an imputed cell.
    assert!(html.contains("proteome: markers of each source</h3>"));
    assert!(html.contains("Markers per group: BM-MSC 12, ADSC 12, UC-MSC 12, iMSC 12."));
    assert!(html.contains("Showing 40 of 48 rows; the download holds all of them."));
    assert!(html.contains("download=\"markers_proteome_source.tsv\""));
    assert!(html.contains("<td class=\"num\">10</td><td>PROT0009</td>"));
    assert!(!html.contains("<td class=\"num\">11</td><td>PROT0010</td>"));
    assert_eq!(
        html.matches("aria-label=\"Marker z-scores of proteome by source\"")
            .count(),
        1
    );
    assert!(html.contains("(imputed)</title>"));
    assert!(html.contains(
        "z-scores of the first 3 marker(s) of each group of source across the 24 samples"
    ));
    // Clusterings: k selection per method (gap only for hclust), the agreement table, one
    // contingency heatmap per method and column with the counts in its cells.
    assert!(html.contains("Clusterings of proteome</h3>"));
    assert!(html.contains("Chosen: kmeans k = 4 (largest mean silhouette); hclust k = 3"));
    for plot in [
        "Silhouette by k, kmeans of proteome",
        "Silhouette by k, hclust of proteome",
        "Gap statistic by k, hclust of proteome",
        "Contingency of kmeans clusters against source in proteome",
        "Contingency of kmeans clusters against batch in proteome",
        "Contingency of hclust clusters against source in proteome",
        "Contingency of hclust clusters against batch in proteome",
    ] {
        assert_eq!(
            html.matches(&format!("aria-label=\"{plot}\"")).count(),
            1,
            "{plot}"
        );
    }
    assert!(!html.contains("aria-label=\"Gap statistic by k, kmeans"));
    assert!(html.contains("<td>hclust</td><td class=\"num\">3</td><td>source</td><td class=\"num\">24</td><td class=\"num\">4</td><td class=\"num\">0.712</td><td class=\"num\">0.861</td>"));
    assert!(html.contains("download=\"cluster_agreement_proteome.tsv\""));
    assert!(html.contains("download=\"cluster_assignments_proteome.tsv\""));
    // hclust cluster 3 holds iMSC and UC-MSC: 6 + 6 samples.
    assert!(html.contains("<title>3 × iMSC: 6</title>"));
    assert!(html.contains("<title>1 × BM-MSC: 6</title>"));
    assert!(html.contains("<title>k = 3: gap 0.55, SE 0.03</title>"));
    // The comparison: the kept model, every pair with its corrected t-test p-value.
    assert!(html.contains("<strong>enet</strong> was kept"));
    for p in ["0.310", "0.040", "0.120"] {
        assert!(html.contains(&format!(">{p}<")), "p = {p} missing");
    }
    // Verdict badges, hover titles, the SHA-256.
    assert!(html.contains("<span class=\"badge fail\">fail</span>"));
    assert!(html.contains("<title>BM-MSC_D1_ctrl — source: BM-MSC (PC1 "));
    assert!(html.contains("3f1c7d2a9be04e61c0a8f5d7b2e4c6a8d0f1e3b5c7a9e1d3f5b7c9e1a3d5f7b9"));
}

#[test]
fn report_is_self_contained() {
    let html = render(&full_input()).unwrap();
    let lower = html.to_ascii_lowercase();
    for banned in [
        "<script", "<link", "<img", "<iframe", "<object", "<embed", "@import", "url(", " src=",
        "http://", "https://",
    ] {
        let allowed = if banned == "http://" {
            // The SVG namespace is an identifier, not something fetched.
            lower.matches("http://").count()
                == lower
                    .matches("xmlns=\"http://www.w3.org/2000/svg\"")
                    .count()
        } else {
            !lower.contains(banned)
        };
        assert!(allowed, "the report contains '{banned}'");
    }
    for href in attr_values(&html, "href") {
        assert!(
            href.starts_with('#')
                || href.starts_with("data:text/tab-separated-values;charset=utf-8;base64,")
                || href.starts_with("data:application/gzip;base64,")
                || href.starts_with("data:image/png;base64,"),
            "href loads something: {href}"
        );
    }
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
}

#[test]
fn html_is_well_formed() {
    let html = render(&full_input()).unwrap();
    let n = check_balanced(&html);
    assert!(n > 5_000, "only {n} elements");
    assert_eq!(
        html.matches("<svg ").count(),
        html.matches("</svg>").count()
    );
    assert!(html.matches("<svg ").count() >= 18);
}

#[test]
fn rendering_is_deterministic() {
    let input = full_input();
    let a = render(&input).unwrap();
    let b = render(&input).unwrap();
    assert!(a == b, "two renderings differ");
    let via_json = ReportInput::from_json(&input.to_json().unwrap()).unwrap();
    assert_eq!(via_json, input);
    assert!(
        render(&via_json).unwrap() == a,
        "rendering after a JSON round trip differs"
    );
}

#[test]
fn count_layers_show_library_size_and_detected_features() {
    let input = full_input();
    let html = render(&input).unwrap();
    assert!(html.contains("aria-label=\"Detected features per sample, layer mirna"));
    assert!(html.contains("aria-label=\"Library size per sample, layer mirna"));
    // no missingness chart for a count layer without missing cells; the intensity layer keeps it
    assert!(!html.contains("aria-label=\"Missing values per sample, layer mirna"));
    assert!(html.contains("aria-label=\"Missing values per sample, layer proteome"));
    assert!(html.contains("Outlier rules: counts: log2 library size or log2 detected features"));
    let tables = downloads(&html);
    let mirna = tables
        .iter()
        .find(|t| t.starts_with("Sample\tbatch\tLibrary size\tDetected\tDetected %\tOutlier"))
        .unwrap_or_else(|| {
            panic!(
                "no count-layer QC table: {:?}",
                tables.iter().map(|t| t.lines().next()).collect::<Vec<_>>()
            )
        });
    let first = &input.qc[1].samples[0];
    let row = mirna.lines().nth(1).unwrap();
    assert!(
        row.contains(&format!("\t{}\t", first.detected.unwrap())),
        "{row}"
    );
}

#[test]
fn tsv_downloads_hold_every_row() {
    let input = full_input();
    let html = render(&input).unwrap();
    let tables = downloads(&html);
    assert!(tables.len() >= 14, "{} tables", tables.len());
    for t in &tables {
        let widths: Vec<usize> = t.lines().map(|l| l.split('\t').count()).collect();
        assert!(widths.iter().all(|w| *w == widths[0]), "ragged TSV:\n{t}");
    }
    let diff = tables
        .iter()
        .find(|t| t.starts_with("Feature\tName\tlog2FC"))
        .unwrap();
    assert_eq!(diff.lines().count(), 1 + input.differential[0].rows.len());
    // Seven significant digits in the download, sorted by p-value.
    let best = input.differential[0]
        .rows
        .iter()
        .min_by(|a, b| a.p_value.unwrap().total_cmp(&b.p_value.unwrap()))
        .unwrap();
    let first = diff.lines().nth(1).unwrap();
    assert!(first.starts_with(&format!("{}\t", best.feature_id)));
    let lfc: f64 = format!("{:.6e}", best.log_fc.unwrap()).parse().unwrap();
    assert!(first.contains(&format!("\t{lfc}\t")), "{first}");
    assert!(html.contains("Showing 20 of 900 rows; the download holds all of them."));
    assert!(html.contains("the fit used measured values only (imputed cells are missing to limma)"));
    assert!(
        html.contains("<th class=\"num\">Imputed cells</th>") || html.contains(">Imputed cells<")
    );
    let names: Vec<&str> = attr_values(&html, "download");
    assert!(
        names.contains(&"diff_proteome_ADSC_-_BM-MSC.tsv.gz"),
        "{names:?}"
    );
}

/// Markup that must never reach the page unescaped.
const HOSTILE: &str =
    "\"><img src=x onerror=alert(1)><script>alert('x')</script></svg></title><style>*{}</style>";

#[test]
fn text_from_sample_sheets_cannot_inject_markup() {
    let mut input = full_input();
    let evil = |s: &str| format!("{s}{HOSTILE}");
    // Rename one sample everywhere it occurs, and poison every other kind of user text.
    let victim = input.samples.as_ref().unwrap().rows[0].sample_id.clone();
    let renamed = evil(&victim);
    let rename = |s: &mut String| {
        if *s == victim {
            *s = renamed.clone();
        }
    };
    let table = input.samples.as_mut().unwrap();
    table.rows.iter_mut().for_each(|r| rename(&mut r.sample_id));
    table.rows[1].values[0] = Some(evil("BM-MSC"));
    input
        .qc
        .iter_mut()
        .flat_map(|q| q.samples.iter_mut())
        .for_each(|s| {
            rename(&mut s.sample_id);
            s.outlier_reasons.push(evil("reason"));
        });
    input.qc[0].layer = evil("proteome");
    input.pca[0]
        .points
        .iter_mut()
        .for_each(|p| rename(&mut p.sample_id));
    input.sample_clustering[0].order.iter_mut().for_each(rename);
    input.sample_clustering[0].measure = evil("r");
    input.differential[0].contrast = evil("A-B");
    input.differential[0]
        .rows
        .iter_mut()
        .for_each(|r| r.name = Some(evil("GENE")));
    for p in &mut input.panels.as_mut().unwrap().scores {
        p.panel = evil("panel");
        p.scores.iter_mut().for_each(|s| rename(&mut s.sample_id));
    }
    input.variance_partition[0].factors[0] = evil("source");
    let mk = &mut input.markers[0];
    mk.rows[0].name = Some(evil("GENE"));
    mk.rows[1].group = evil("BM-MSC");
    mk.direction = evil("up");
    let hm = mk.heatmap.as_mut().unwrap();
    hm.features[0] = evil("GENE");
    hm.samples.iter_mut().for_each(rename);
    let cl = &mut input.clusters[0];
    cl.description = evil("described");
    cl.methods[0].method = evil("kmeans");
    cl.methods[0].chosen_by = evil("silhouette");
    cl.methods[1]
        .assignments
        .iter_mut()
        .for_each(|a| rename(&mut a.sample_id));
    cl.agreement[0].method = evil("kmeans");
    input.potency[0].name = evil("model");
    input.potency[0].importance[0].feature = evil("miR");
    input.potency[1]
        .predictions
        .iter_mut()
        .for_each(|p| rename(&mut p.sample_id));
    let m = input.methods.as_mut().unwrap();
    m.steps[0].description = evil("text");
    m.references[0].text = evil("ref");
    m.references[0].doi = Some(evil("10.1/x"));
    input.header.title = evil("title");
    input.header.inputs[0].path = evil("samples.tsv");
    input.header.notes.push(evil("note"));

    let html = render(&input).unwrap();
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "script tag injected");
    assert!(!lower.contains("<img"), "img tag injected");
    for tag in lower
        .split('<')
        .skip(1)
        .map(|t| t.split('>').next().unwrap_or(t))
    {
        // Attribute names are what is outside the quoted values.
        let names: String = tag.split('"').step_by(2).collect();
        assert!(
            !names.contains("onerror"),
            "event handler injected in <{tag}>"
        );
    }
    assert_eq!(html.matches("<style>").count(), 1, "style tag injected");
    assert_eq!(
        html.matches("</title>").count(),
        html.matches("<title>").count()
    );
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(html.matches("&lt;img src=x onerror=alert(1)&gt;").count() > 50);
    check_balanced(&html);
    if let Some(dom) = chromium_dump_dom(&html) {
        assert!(
            !dom.to_ascii_lowercase().contains("<img"),
            "the browser built an injected img element"
        );
        assert!(
            !dom.to_ascii_lowercase().contains("<script"),
            "the browser built an injected script element"
        );
    }
}

#[test]
fn a_partial_run_renders_only_its_sections() {
    let full = full_input();
    let input = ReportInput {
        header: full.header.clone(),
        samples: full.samples.clone(),
        qc: full.qc.clone(),
        ..ReportInput::default()
    };
    let html = render(&input).unwrap();
    assert!(html.contains("<h2>1. Run summary</h2>"));
    assert!(html.contains("<h2>2. Sample quality control</h2>"));
    for absent in &SECTION_TITLES[2..] {
        assert!(
            !html.contains(&format!(". {absent}</h2>")),
            "{absent} rendered without data"
        );
    }
    check_balanced(&html);
    // JSON with only some keys also works.
    let json = r#"{"header": {"title": "t", "date": "2024-01-01"},
                   "differential": [{"layer": "mirna", "contrast": "A - B",
                                     "rows": [{"feature_id": "m1", "log_fc": 1.5, "p_value": 0.001, "adj_p_value": 0.01}]}]}"#;
    let html = render(&ReportInput::from_json(json).unwrap()).unwrap();
    assert!(html.contains("<h2>1. Differential abundance</h2>"));
    assert!(html.contains("1 up and 0 down of 1 tested"));
}

/// Every coordinate-like attribute value of the page parses as a finite number.
fn assert_finite_coordinates(html: &str) {
    for attr in [
        "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "width", "height",
    ] {
        for v in attr_values(html, attr) {
            let n: f64 = v
                .parse()
                .unwrap_or_else(|_| panic!("{attr}=\"{v}\" is not a number"));
            assert!(n.is_finite(), "{attr}=\"{v}\"");
        }
    }
    for pts in attr_values(html, "points") {
        for xy in pts.split(' ').flat_map(|p| p.split(',')) {
            assert!(
                xy.parse::<f64>().is_ok_and(f64::is_finite),
                "bad polyline point {xy}"
            );
        }
    }
    assert!(!without_data_urls(html).contains("NaN"), "NaN printed");
}

#[test]
fn non_finite_numbers_do_not_break_the_page() {
    let mut input = full_input();
    input.qc[0].samples[0].total = Some(f64::INFINITY);
    input.qc[0].samples[1].missing_fraction = Some(f64::NAN);
    input.pca[0].points[0].pc1 = f64::NAN;
    input.pca[0].points[1].pc2 = f64::NEG_INFINITY;
    input.sample_clustering[0].values[0][1] = Some(f64::NAN);
    input.sample_clustering[0].values[2][3] = None;
    let rows = &mut input.differential[0].rows;
    rows[0].p_value = Some(0.0);
    rows[1].log_fc = Some(f64::INFINITY);
    rows[2].p_value = Some(f64::NAN);
    rows[3].adj_p_value = None;
    input.panels.as_mut().unwrap().scores[0].scores[0].score = Some(f64::NAN);
    input.variance_partition[0].features[0].fractions[0] = Some(f64::NAN);
    let mk = &mut input.markers[0];
    mk.rows[0].log_fc = Some(f64::NAN);
    mk.rows[1].adj_p_value = Some(f64::INFINITY);
    let hm = mk.heatmap.as_mut().unwrap();
    hm.values[0][0] = Some(f64::NAN);
    hm.values[1][1] = Some(f64::INFINITY);
    let cl = &mut input.clusters[0];
    cl.methods[0].selection[0].silhouette = Some(f64::NAN);
    cl.methods[1].selection[1].gap = Some(f64::INFINITY);
    cl.methods[1].selection[2].gap_se = Some(f64::NAN);
    cl.agreement[0].ari = Some(f64::NAN);
    let model = &mut input.potency[0];
    model.roc[3].tpr = f64::NAN;
    model.calibration[0].observed = f64::INFINITY;
    model.importance[0].importance = f64::NAN;
    model.permutation.as_mut().unwrap().null.push(f64::INFINITY);
    input.potency[1].predictions[0].predicted = f64::NAN;
    let html = render(&input).unwrap();
    check_balanced(&html);
    assert_finite_coordinates(&html);
    assert_finite_coordinates(&render(&full_input()).unwrap());
}

#[test]
fn large_cohorts_stay_compact() {
    let n = 240;
    let ids: Vec<String> = (0..n).map(|i| format!("EV{i:03}")).collect();
    let corr: Vec<Vec<Option<f64>>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| Some(1.0 - (i as f64 - j as f64).abs() / n as f64))
                .collect()
        })
        .collect();
    let input = ReportInput {
        samples: Some(SampleTable {
            columns: vec!["source".into()],
            rows: ids
                .iter()
                .enumerate()
                .map(|(i, id)| SampleRow {
                    sample_id: id.clone(),
                    values: vec![Some(SOURCES[i % 4].into())],
                })
                .collect(),
        }),
        qc: vec![QcLayer {
            layer: "proteome".into(),
            colour_by: Some("source".into()),
            samples: ids
                .iter()
                .map(|id| QcSample {
                    sample_id: id.clone(),
                    missing_fraction: Some(0.2),
                    total: Some(1e9),
                    ..QcSample::default()
                })
                .collect(),
            ..QcLayer::default()
        }],
        sample_clustering: vec![SampleHeatmap {
            layer: "proteome".into(),
            order: ids.clone(),
            values: corr,
            annotate_by: vec!["source".into()],
            ..SampleHeatmap::default()
        }],
        ..ReportInput::default()
    };
    let html = render(&input).unwrap();
    check_balanced(&html);
    // Too many samples for readable axis labels: hover titles name them instead.
    assert!(!html.contains(">EV001</text>"));
    assert!(html.contains("<title>EV001 (ADSC): 20.0% missing</title>"));
    // One bar per sample cannot be labelled: one box per group, every sample a dot.
    assert!(html.contains("240 samples are too many for one labelled bar each"));
    // Tables over 50 rows show their first 50 and say so.
    assert!(html.contains("Showing 50 of 240 rows; the download holds all of them."));
    // No per-cell titles for 57 600 cells.
    assert!(!html.contains("<title>EV000 × EV001"));
    assert!(html.len() < 6_000_000, "{} bytes", html.len());
}

// ---------------------------------------------------------------------------------------------
// A real browser, where one is installed.
// ---------------------------------------------------------------------------------------------

use evomics_testkit::browser::{chromium, have_chromium, render_page};

/// The DOM Chromium builds from `html`, or `None` without Chromium.
fn chromium_dump_dom(html: &str) -> Option<String> {
    if !have_chromium() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.html");
    std::fs::write(&file, html).unwrap();
    let out = chromium(dir.path(), &["--dump-dom"], &file);
    assert!(
        out.status.success(),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn chromium_renders_the_report_without_errors() {
    let html = render(&full_input()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.html");
    std::fs::write(&file, &html).unwrap();
    let Some(page) = render_page(dir.path(), &file) else {
        return;
    };
    for (i, title) in SECTION_TITLES.iter().enumerate() {
        assert!(
            page.dom.contains(&format!("<h2>{}. {title}</h2>", i + 1)),
            "DOM lacks '{title}'"
        );
    }
    assert_eq!(
        page.dom.matches("<svg ").count(),
        html.matches("<svg ").count()
    );
}

// ---------------------------------------------------------------------------------------------
// Label geometry, read back from the SVG.
// ---------------------------------------------------------------------------------------------

/// The value of attribute `attr` in the tag `tag` (the text from `<` to `>`).
fn attr<'a>(tag: &'a str, attr: &str) -> Option<&'a str> {
    let pat = format!(" {attr}=\"");
    let i = tag.find(&pat)? + pat.len();
    let v = &tag[i..];
    Some(&v[..v.find('"')?])
}

/// Characters of element text after HTML unescaping (`&amp;` is one character).
fn text_chars(s: &str) -> usize {
    let mut n = 0;
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '&' {
            if let Some(end) = rest.find(';') {
                rest = &rest[end + 1..];
                n += 1;
                continue;
            }
        }
        rest = &rest[c.len_utf8()..];
        n += 1;
    }
    n
}

/// A label's estimated box (left, top, right, bottom): the renderer's width estimate (0.56 of
/// the font size per character, 15 % more for capitals) and its box from 10 px above the
/// baseline to 2 px below.
fn label_box(tag: &str, text: &str) -> (f64, f64, f64, f64) {
    let num = |a: &str| attr(tag, a).unwrap().parse::<f64>().unwrap();
    let (x, y, size) = (num("x"), num("y"), num("font-size"));
    let w = text_chars(text) as f64 * size * 0.56 * 1.15;
    let x0 = match attr(tag, "text-anchor").unwrap() {
        "end" => x - w,
        "middle" => x - w / 2.0,
        _ => x,
    };
    (x0, y - 10.0, x0 + w, y + 2.0)
}

/// Every `<text>` element in `svg`: (opening tag, text).
fn texts(svg: &str) -> Vec<(&str, &str)> {
    svg.match_indices("<text ")
        .map(|(i, _)| {
            let rest = &svg[i..];
            let open = &rest[..rest.find('>').unwrap() + 1];
            let body = &rest[open.len()..];
            (open, &body[..body.find("</text>").unwrap()])
        })
        .collect()
}

/// Every SVG of the page whose accessible name starts with `label`.
fn svgs<'a>(html: &'a str, label: &str) -> Vec<&'a str> {
    let pat = format!("aria-label=\"{label}");
    html.match_indices(&pat)
        .map(|(i, _)| {
            let start = html[..i].rfind("<svg").unwrap();
            let end = i + html[i..].find("</svg>").unwrap();
            &html[start..end]
        })
        .collect()
}

#[test]
fn volcano_labels_neither_overlap_nor_leave_the_plot() {
    let html = render(&full_input()).unwrap();
    let volcanos = svgs(&html, "Volcano plot");
    assert_eq!(volcanos.len(), 5);
    let mut total = 0;
    for svg in volcanos {
        let Some(g) = svg.find("<g class=\"labels\"") else {
            continue;
        };
        let group = &svg[g..g + svg[g..].find("</g>").unwrap()];
        let frame: Vec<f64> = attr(group, "data-frame")
            .unwrap()
            .split(' ')
            .map(|v| v.parse().unwrap())
            .collect();
        let boxes: Vec<(f64, f64, f64, f64)> = texts(group)
            .into_iter()
            .map(|(tag, text)| label_box(tag, text))
            .collect();
        assert!(!boxes.is_empty());
        total += boxes.len();
        for b in &boxes {
            assert!(
                b.0 >= frame[0] && b.1 >= frame[1] && b.2 <= frame[2] && b.3 <= frame[3],
                "label {b:?} crosses the plot edge {frame:?}"
            );
        }
        for (i, a) in boxes.iter().enumerate() {
            for b in &boxes[i + 1..] {
                let apart = a.2 <= b.0 || b.2 <= a.0 || a.3 <= b.1 || b.3 <= a.1;
                assert!(apart, "labels {a:?} and {b:?} overlap");
            }
        }
    }
    // The slope contrast asks for 100 labels: many are placed, and the caption counts them.
    assert!(total > 40, "{total} labels");
    assert!(html.contains("significant features with the smallest p-values"));
}

#[test]
fn importance_labels_are_gene_names_within_the_chart() {
    let html = render(&full_input()).unwrap();
    let charts = svgs(&html, "Feature importance of");
    assert_eq!(charts.len(), 2);
    // Gene names where known, the feature otherwise; a long name is not cut at the left edge.
    assert!(charts[0].contains(">COMPLEMENT-FACTOR-H-RELATED-P…</text>"));
    assert!(charts[0].contains(">mirna:hsa-miR-196a-5p</text>"));
    assert!(!charts[0].contains(">proteome:P1000"));
    // Signed: bars on both sides of zero, one colour per sign, and a legend saying which.
    assert!(charts[0].contains("Positive: raises P(high)"));
    assert!(charts[0].contains("Negative: lowers P(high)"));
    assert!(charts[0].contains(">Mean standardized coefficient over folds (± SD)</text>"));
    for svg in charts {
        let rows: Vec<(f64, f64, f64, f64)> = texts(svg)
            .into_iter()
            .filter(|(tag, _)| attr(tag, "text-anchor") == Some("end"))
            .map(|(tag, text)| label_box(tag, text))
            .collect();
        assert!(!rows.is_empty());
        for b in &rows {
            assert!(b.0 >= 0.0, "label {b:?} is cut at the left edge");
        }
        for (i, a) in rows.iter().enumerate() {
            for b in &rows[i + 1..] {
                assert!(
                    a.3 <= b.1 || b.3 <= a.1 || a.2 <= b.0 || b.2 <= a.0,
                    "labels {a:?} and {b:?} overlap"
                );
            }
        }
    }
}
