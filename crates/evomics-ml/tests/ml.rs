//! Integration tests of evomics-ml: agreement with the R oracles (PCA), clustering on simulated
//! cohorts with batch effects, and the potency-model guarantees (leakage-free CV, permutation
//! tests, conformal coverage, persistence, CV AUC on the synthetic-M cohort).

use std::path::Path;

use evomics_core::{Assay, Features, LayerKind, SampleSheet, ValueScale};
use evomics_testkit::{cohorts, plain_or_gz, read_tsv, text};
use ndarray::Array2;

// ---------------------------------------------------------------- oracle readers

/// An oracle folder of `../shared/oracles`, or return (skipped without `../shared`).
macro_rules! oracle_dir {
    ($name:expr) => {
        evomics_testkit::require_shared!(&format!("oracles/{}", $name))
    };
}

/// proteins_log2.tsv as a proteome assay (NA = missing).
fn read_proteome(dir: &Path) -> Assay {
    let (header, rows) = read_tsv(&plain_or_gz(dir, "proteins_log2.tsv"));
    let samples: Vec<String> = header[1..].to_vec();
    let ids: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    let cells = Array2::from_shape_fn((rows.len(), samples.len()), |(i, j)| {
        let c = &rows[i][j + 1];
        if c == "NA" {
            None
        } else {
            Some(c.parse::<f64>().unwrap())
        }
    });
    Assay::from_options(
        "proteome",
        LayerKind::Proteome,
        ValueScale::Log2,
        Features::new(ids).unwrap(),
        samples,
        &cells,
    )
    .unwrap()
}

fn read_sheet(dir: &Path) -> SampleSheet {
    let (header, rows) = read_tsv(&dir.join("samples.tsv"));
    let ids = rows.iter().map(|r| r[0].clone()).collect();
    let cols = header[1..]
        .iter()
        .enumerate()
        .map(|(c, name)| {
            (
                name.clone(),
                rows.iter().map(|r| Some(r[c + 1].clone())).collect(),
            )
        })
        .collect();
    SampleSheet::from_text_columns(ids, cols).unwrap()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * (1.0 + b.abs())
}

// ---------------------------------------------------------------- Part A: PCA vs prcomp

fn check_pca_against_prcomp(name: &str) {
    use evomics_ml::matrix::complete_matrix;
    use evomics_ml::pca::PcaParams;

    let dir = oracle_dir!(name);
    let assay = read_proteome(&dir);
    let cc: Vec<String> = text(&plain_or_gz(
        &dir.join("oracle"),
        "complete_case_features.txt",
    ))
    .lines()
    .filter(|l| !l.is_empty())
    .map(str::to_string)
    .collect();
    let rows: Vec<usize> = cc
        .iter()
        .map(|id| assay.features().position(id).unwrap())
        .collect();
    let x = complete_matrix(&assay.select_features(&rows)).unwrap();

    let unscaled = PcaParams::default().fit(x.view()).unwrap();
    let scaled = PcaParams {
        n_components: Some(5),
        scale: true,
    }
    .fit(x.view())
    .unwrap();

    let (h, var_rows) = read_tsv(&dir.join("oracle/pca_variance.tsv"));
    assert_eq!(
        h,
        [
            "PC",
            "sdev",
            "var_explained",
            "sdev_scaled",
            "var_explained_scaled"
        ]
    );
    let mut worst: f64 = 0.0;
    for r in &var_rows {
        let pc: usize = r[0].parse::<usize>().unwrap() - 1;
        let v: Vec<f64> = r[1..].iter().map(|c| c.parse().unwrap()).collect();
        for (got, want) in [
            (unscaled.sdev[pc], v[0]),
            (unscaled.variance_explained[pc], v[1]),
            (scaled.sdev[pc], v[2]),
            (scaled.variance_explained[pc], v[3]),
        ] {
            assert!(
                close(got, want, 1e-6),
                "{name} PC{}: got {got}, R prcomp {want}",
                pc + 1
            );
            worst = worst.max((got - want).abs() / (1.0 + want.abs()));
        }
    }
    let (h, score_rows) = read_tsv(&dir.join("oracle/pca_scores_unscaled.tsv"));
    assert_eq!(h[1..], ["PC1", "PC2", "PC3", "PC4", "PC5"]);
    for c in 0..5 {
        // Signs are arbitrary: align on the first sample.
        let sign =
            (unscaled.scores[[0, c]] * score_rows[0][c + 1].parse::<f64>().unwrap()).signum();
        for (i, r) in score_rows.iter().enumerate() {
            assert_eq!(r[0], assay.samples()[i]);
            let want: f64 = r[c + 1].parse().unwrap();
            let got = sign * unscaled.scores[[i, c]];
            assert!(
                close(got, want, 1e-6),
                "{name} score {} PC{}: got {got}, R {want}",
                r[0],
                c + 1
            );
            worst = worst.max((got - want).abs() / (1.0 + want.abs()));
        }
    }
    println!(
        "{name}: PCA on {} complete-case proteins x {} samples matches prcomp ({} PCs, scores PC1-5), worst relative difference {worst:.2e}",
        x.ncols(),
        x.nrows(),
        var_rows.len()
    );
}

#[test]
fn pca_matches_prcomp_synthetic_s() {
    check_pca_against_prcomp("synthetic-S");
}

#[test]
fn pca_matches_prcomp_synthetic_m() {
    check_pca_against_prcomp("synthetic-M");
}

// ---------------------------------------------------------------- Part A: clustering vs batch

fn norm_config(v: serde_json::Value) -> evomics_norm::NormalizeConfig {
    serde_json::from_value(v).unwrap()
}

/// The text of a sheet column for every sample of the sheet.
fn column_text(sheet: &SampleSheet, column: &str) -> Vec<String> {
    let c = sheet.column(column).unwrap();
    (0..sheet.len())
        .map(|r| c.values.text(r).unwrap())
        .collect()
}

#[test]
fn clustering_recovers_batch_before_combat_and_source_after() {
    use evomics_ml::cluster::{
        adjusted_rand_index, normalized_mutual_information, ChooseKParams, ClusterMethod,
        GapReference, GapRule, GmmParams, HclustParams, KMeansParams, Linkage,
    };
    use evomics_ml::matrix::complete_matrix;
    use evomics_ml::matrix::Distance;
    use evomics_ml::pca::PcaParams;

    let cohort = cohorts::batchy(20240601);
    let sheet = cohort.experiment.samples().clone();
    let prot = cohort.experiment.layer("proteome").unwrap();
    let base = serde_json::json!({
        "filters": [{ "method": "valid_values", "min_fraction": 1.0, "mode": "total" }],
        "transform": { "method": "log2" },
        "normalization": { "method": "median" },
    });
    let mut with_combat = base.clone();
    with_combat["batch_correction"] = serde_json::json!({ "method": "combat", "batch": "batch" });
    let source = column_text(&sheet, "source");
    let batch = column_text(&sheet, "batch");
    let mut report = Vec::new();
    for (label, cfg) in [("before ComBat", base), ("after ComBat", with_combat)] {
        let (_, out, _) = norm_config(cfg).fit_transform(prot, &sheet).unwrap();
        let x = complete_matrix(&out).unwrap();
        let km = KMeansParams::new(3, 7).fit(x.view()).unwrap();
        let hc = HclustParams {
            linkage: Linkage::WardD2,
            ..Default::default()
        }
        .fit(x.view())
        .unwrap()
        .cut(3)
        .unwrap();
        let pca = PcaParams::default().fit(x.view()).unwrap();
        let gmm = GmmParams {
            k: 3,
            seed: 2,
            ..Default::default()
        }
        .fit(pca.top_scores(5).view())
        .unwrap();
        let avg = HclustParams {
            linkage: Linkage::Average,
            distance: Distance::Pearson,
        }
        .fit(x.view())
        .unwrap()
        .cut(3)
        .unwrap();
        let r = [
            adjusted_rand_index(&km.labels, &source).unwrap(),
            adjusted_rand_index(&km.labels, &batch).unwrap(),
            adjusted_rand_index(&hc, &source).unwrap(),
            adjusted_rand_index(&hc, &batch).unwrap(),
            adjusted_rand_index(&gmm.labels, &source).unwrap(),
            adjusted_rand_index(&gmm.labels, &batch).unwrap(),
            adjusted_rand_index(&avg, &source).unwrap(),
            adjusted_rand_index(&avg, &batch).unwrap(),
        ];
        let sel = ChooseKParams {
            ks: (1..=6).collect(),
            method: ClusterMethod::KMeans(KMeansParams {
                n_init: 3,
                ..KMeansParams::new(2, 5)
            }),
            gap_references: 10,
            gap_reference: GapReference::ScaledPca,
            gap_rule: GapRule::FirstSeMax,
            seed: 3,
        }
        .fit(x.view())
        .unwrap();
        println!(
            "{label}: {} complete features; k-means ARI vs source {:.3}, vs batch {:.3}; Ward.D2 ARI vs source {:.3}, vs batch {:.3}; GMM on PC1-5 vs source {:.3}, vs batch {:.3}; average/1-Pearson vs source {:.3}, vs batch {:.3}; PC1 variance {:.3}; k by silhouette {:?}, by gap {:?}",
            x.ncols(), r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], pca.variance_explained[0], sel.best_silhouette, sel.best_gap
        );
        println!(
            "{label}: k-means NMI vs source {:.3}, vs batch {:.3}",
            normalized_mutual_information(&km.labels, &source).unwrap(),
            normalized_mutual_information(&km.labels, &batch).unwrap()
        );
        report.push((r, sel));
    }
    let (before, after) = (&report[0].0, &report[1].0);
    assert!(
        before[1] > 0.8 && before[3] > 0.8 && before[5] > 0.8 && before[7] > 0.8,
        "before ComBat clusters should be batches: {before:?}"
    );
    assert!(
        before[0] < 0.2 && before[2] < 0.2,
        "before ComBat clusters should not be sources: {before:?}"
    );
    assert!(
        after[0] > 0.8 && after[2] > 0.8 && after[4] > 0.8 && after[6] > 0.8,
        "after ComBat clusters should be sources: {after:?}"
    );
    assert!(
        after[1] < 0.2 && after[3] < 0.2,
        "after ComBat clusters should not be batches: {after:?}"
    );
    assert_eq!(report[1].1.best_silhouette, Some(3));
}

// ---------------------------------------------------------------- Part B helpers

use evomics_ml::cv::CvScheme;
use evomics_ml::data::{Dataset, TargetSpec};
use evomics_ml::evaluate::{cross_validate, TrainConfig};
use evomics_ml::models::{ElasticNetParams, ForestParams, ModelSpec};
use evomics_ml::preprocess::{PreprocessConfig, Scaling, Selection};

/// The peer's protein preprocessing: valid-70 by source, median centring, Perseus down-shift
/// ("MinProb") imputation — all fitted inside each training fold.
fn peer_preprocess(layer: &str, log2_input: bool) -> PreprocessConfig {
    let mut cfg = serde_json::json!({
        "filters": [{ "method": "valid_values", "column": "source", "min_fraction": 0.7 }],
        "normalization": { "method": "median" },
        "imputation": { "method": "down_shift", "width": 0.3, "shift": 1.8, "seed": 7 },
    });
    if !log2_input {
        cfg["transform"] = serde_json::json!({ "method": "log2" });
    }
    let mut p = PreprocessConfig {
        scaling: Scaling::Standardize,
        ..Default::default()
    };
    p.layers.insert(layer.to_string(), norm_config(cfg));
    p
}

fn donor_cv(k: usize) -> CvScheme {
    CvScheme::GroupKFold {
        k,
        group: "donor_id".into(),
        repeats: 1,
        stratify: true,
    }
}

fn auc_summary(r: &evomics_ml::evaluate::CvReport) -> (f64, f64, f64) {
    let m = r.metric("roc_auc").unwrap();
    (
        m.fold_mean.unwrap(),
        m.fold_sd.unwrap_or(0.0),
        m.pooled.unwrap(),
    )
}

#[test]
fn synthetic_m_cv_auc_matches_scikit_learn_range() {
    let dir = oracle_dir!("synthetic-M");
    let prot = read_proteome(&dir);
    let sheet = read_sheet(&dir);
    let target = TargetSpec {
        column: "potency_class".into(),
        kind: Default::default(),
        classes: Some(vec!["low".into(), "high".into()]),
    };
    let data = Dataset::assemble(&[&prot], &sheet, &target).unwrap();
    assert_eq!(data.n_samples(), 300);
    let pre = peer_preprocess("proteome", true);
    let t0 = std::time::Instant::now();
    // scikit-learn LogisticRegression(C = 1) on standardized features = ridge with λ = 1/(C·n_train).
    let logit = ModelSpec::ElasticNet(ElasticNetParams {
        alpha: 0.0,
        lambda: 1.0 / 240.0,
        ..Default::default()
    });
    let lr = cross_validate(
        &data,
        &sheet,
        &TrainConfig::new(pre.clone(), logit, donor_cv(5)),
    )
    .unwrap();
    let t_lr = t0.elapsed().as_secs_f64();
    let t0 = std::time::Instant::now();
    let rf = ModelSpec::RandomForest(ForestParams {
        n_trees: 500,
        n_threads: 2,
        seed: 7,
        ..Default::default()
    });
    let rf = cross_validate(&data, &sheet, &TrainConfig::new(pre, rf, donor_cv(5))).unwrap();
    let t_rf = t0.elapsed().as_secs_f64();
    let (lm, ls, lp) = auc_summary(&lr);
    let (rm, rs, rp) = auc_summary(&rf);
    println!("synthetic-M, 5-fold donor-grouped CV, preprocessing inside folds ({} features kept in fold 1):", lr.fold_metrics[0].n_features);
    println!("  L2 logistic: ROC AUC fold mean {lm:.3} ± {ls:.3} (pooled {lp:.3}); scikit-learn 0.79 ± 0.04  [{t_lr:.1} s]");
    println!("  RF 500:      ROC AUC fold mean {rm:.3} ± {rs:.3} (pooled {rp:.3}); scikit-learn 0.83 ± 0.04  [{t_rf:.1} s]");
    assert!((lm - 0.79).abs() < 0.1, "logistic AUC {lm}");
    assert!((rm - 0.83).abs() < 0.1, "RF AUC {rm}");
}

/// A simulated cohort for the potency models: `n` preparations, 400 proteins and 150 miRNAs,
/// the default sources, donors and effects, and a clear potency signature (10 proteins and 8
/// miRNAs with loadings 1–1.6 log2 per potency SD).
fn potency_cohort(seed: u64, n: usize) -> evomics_sim::SimCohort {
    let mut p = evomics_sim::SimParams {
        seed,
        n_samples: n,
        n_proteins: 400,
        n_mirnas: 150,
        ..evomics_sim::SimParams::default()
    };
    p.effects.signature_loading_log2 = [1.0, 1.6];
    evomics_sim::simulate(&p).unwrap()
}

/// An elastic net (α 0.5, λ 0.05) on both layers of a simulated cohort, standardized, with
/// `k`-fold donor-grouped CV.
fn standardized_enet(k: usize) -> TrainConfig {
    TrainConfig::new(
        sim_preprocess(true, Scaling::Standardize, Selection::None),
        ModelSpec::ElasticNet(ElasticNetParams {
            alpha: 0.5,
            lambda: 0.05,
            ..Default::default()
        }),
        donor_cv(k),
    )
}

/// Proteome (linear LFQ) and miRNA (counts) preprocessing for simulated cohorts.
fn sim_preprocess(with_mirna: bool, scaling: Scaling, selection: Selection) -> PreprocessConfig {
    let mut p = peer_preprocess("proteome", false);
    p.scaling = scaling;
    p.selection = selection;
    if with_mirna {
        p.layers.insert(
            "mirna".into(),
            evomics_norm::NormalizeConfig::recommended(&LayerKind::Mirna, ValueScale::Counts),
        );
    }
    p
}

fn signature_ids(c: &evomics_sim::SimCohort) -> std::collections::BTreeSet<(String, String)> {
    c.truth
        .signature()
        .iter()
        .map(|f| (f.layer.clone(), f.feature_id.clone()))
        .collect()
}

#[test]
fn true_signature_dominates_importance() {
    let cohort = potency_cohort(11, 150);
    let sheet = cohort.experiment.samples().clone();
    let prot = cohort.experiment.layer("proteome").unwrap();
    let mir = cohort.experiment.layer("mirna").unwrap();
    let truth = signature_ids(&cohort);
    let top_share = |r: &evomics_ml::evaluate::CvReport, k: usize| -> f64 {
        r.importance
            .iter()
            .take(k)
            .filter(|row| truth.contains(&(row.feature.layer.clone(), row.feature.id.clone())))
            .count() as f64
            / k as f64
    };
    // Numeric target, two layers, block scaling, elastic net without internal standardization so
    // that the blocks keep their weights.
    let data = Dataset::assemble(&[prot, mir], &sheet, &TargetSpec::new("potency_score")).unwrap();
    let enet = |lambda: f64| {
        ModelSpec::ElasticNet(ElasticNetParams {
            alpha: 0.5,
            lambda,
            standardize: false,
            ..Default::default()
        })
    };
    let mut cfg = TrainConfig::new(
        sim_preprocess(true, Scaling::Block, Selection::None),
        enet(0.5),
        donor_cv(5),
    );
    // λ chosen by nested CV (inner donor-grouped 4-fold on each outer training part).
    cfg.tuning = Some(evomics_ml::evaluate::Tuning {
        candidates: vec![enet(0.02), enet(0.1), enet(0.5)],
        inner: donor_cv(4),
    });
    let r = cross_validate(&data, &sheet, &cfg).unwrap();
    let chosen: Vec<String> = r
        .fold_metrics
        .iter()
        .map(|f| match &f.model {
            ModelSpec::ElasticNet(p) => p.lambda.to_string(),
            _ => unreachable!(),
        })
        .collect();
    println!("nested CV chose λ = {chosen:?} in the 5 outer folds");
    let r2 = r.metric("r2").unwrap();
    let share = top_share(&r, 10);
    println!(
        "potency_score, proteome + miRNA, elastic net: CV R² {:.3} ± {:.3}; {:.0} % of the top-10 features are true signature features; top 5: {:?}",
        r2.fold_mean.unwrap(),
        r2.fold_sd.unwrap(),
        100.0 * share,
        r.importance.iter().take(5).map(|f| f.feature.to_string()).collect::<Vec<_>>()
    );
    assert!(share >= 0.7, "top-10 signature share {share}");
    let sig_rows: Vec<_> = r
        .importance
        .iter()
        .filter(|row| truth.contains(&(row.feature.layer.clone(), row.feature.id.clone())))
        .collect();
    let stable = sig_rows
        .iter()
        .filter(|row| row.nonzero_frequency == 1.0)
        .count();
    println!(
        "  {stable} of {} signature features have a non-zero coefficient in every fold",
        sig_rows.len()
    );
    assert!(stable >= 8);
    // Class target, random forest with univariate selection inside the folds.
    let data = Dataset::assemble(&[prot], &sheet, &TargetSpec::new("potency_class")).unwrap();
    let rf = ModelSpec::RandomForest(ForestParams {
        n_trees: 200,
        seed: 5,
        ..Default::default()
    });
    let mut cfg = TrainConfig::new(
        sim_preprocess(false, Scaling::Standardize, Selection::Univariate { k: 60 }),
        rf,
        donor_cv(5),
    );
    cfg.permutation_importance = 2;
    let r = cross_validate(&data, &sheet, &cfg).unwrap();
    let share = top_share(&r, 5);
    let sig_prot: Vec<_> = r
        .importance
        .iter()
        .filter(|row| truth.contains(&(row.feature.layer.clone(), row.feature.id.clone())))
        .collect();
    let mean_sel = sig_prot
        .iter()
        .map(|row| row.selection_frequency)
        .sum::<f64>()
        / sig_prot.len() as f64;
    println!(
        "potency_class, proteome, RF on the top-60 |t| features: CV AUC {:.3}; {:.0} % of the top-5 features are signature proteins; mean selection frequency of signature proteins {:.2}; top permutation importance {:?}",
        r.metric("roc_auc").unwrap().fold_mean.unwrap(),
        100.0 * share,
        mean_sel,
        r.importance.iter().take(3).map(|f| f.permutation_importance).collect::<Vec<_>>()
    );
    assert!(share >= 0.6, "top-5 signature share {share}");
    assert!(mean_sel >= 0.8, "signature selection frequency {mean_sel}");
}

#[test]
fn folds_never_share_a_donor_and_preprocessing_sees_training_samples_only() {
    let cohort = potency_cohort(23, 90);
    let sheet = cohort.experiment.samples().clone();
    let prot = cohort.experiment.layer("proteome").unwrap();
    let data = Dataset::assemble(&[prot], &sheet, &TargetSpec::new("potency_class")).unwrap();
    let mut pre = sim_preprocess(false, Scaling::Standardize, Selection::Univariate { k: 40 });
    // ComBat too, so that batch parameters are also learned per fold.
    pre.layers.get_mut("proteome").unwrap().batch_correction =
        serde_json::from_value(serde_json::json!({ "method": "combat", "batch": "batch" }))
            .unwrap();
    // Every model family with a learned input: the guarantees belong to the CV, whatever fits.
    let models = [
        ModelSpec::ElasticNet(ElasticNetParams {
            alpha: 0.5,
            lambda: 0.05,
            ..Default::default()
        }),
        ModelSpec::LinearSvm(evomics_ml::models::SvmParams::default()),
        ModelSpec::GradientBoosting(evomics_ml::models::BoostingParams::default()),
    ];
    for model in models {
        println!("leakage checks: {}", model.name());
        let cfg = TrainConfig::new(
            pre.clone(),
            model,
            CvScheme::GroupKFold {
                k: 4,
                group: "donor_id".into(),
                repeats: 2,
                stratify: true,
            },
        );
        let r = cross_validate(&data, &sheet, &cfg).unwrap();
        // 1. No donor on both sides of any split, every sample tested once per repeat.
        let donor = |id: &str| sheet.text("donor_id", id).unwrap();
        for f in &r.fits {
            let test: std::collections::BTreeSet<String> =
                f.test.iter().map(|&i| donor(&data.sample_ids[i])).collect();
            assert!(
                f.train
                    .iter()
                    .all(|&i| !test.contains(&donor(&data.sample_ids[i]))),
                "donor leak in repeat {} fold {}",
                f.repeat,
                f.fold
            );
        }
        for rep in 1..=2 {
            let mut tested: Vec<&str> = r
                .folds
                .iter()
                .filter(|a| a.repeat == rep && a.split == evomics_ml::cv::Part::Test)
                .map(|a| a.sample_id.as_str())
                .collect();
            tested.sort_unstable();
            assert_eq!(tested.len(), data.n_samples());
            tested.dedup();
            assert_eq!(tested.len(), data.n_samples());
        }
        // 2. Each fold's preprocessing is exactly what fitting on its training samples alone gives…
        for f in &r.fits {
            let (refit, _) = pre
                .fit(
                    &data.layers,
                    &sheet,
                    &f.train,
                    &data.labels.select(&f.train),
                )
                .unwrap();
            assert_eq!(refit, f.preprocess, "repeat {} fold {}", f.repeat, f.fold);
        }
        // …and does not change when the test samples' values change (here: multiplied by 8, i.e.
        // +3 log2), whereas fitting on every sample would.
        let f0 = &r.fits[0];
        let mut values = data.layers[0].values().clone();
        for &j in &f0.test {
            values.column_mut(j).mapv_inplace(|v| v * 8.0);
        }
        let shifted_layer = data.layers[0]
            .with_matrices(
                values,
                data.layers[0].flags().clone(),
                data.layers[0].scale(),
            )
            .unwrap();
        let shifted = Dataset {
            layers: vec![shifted_layer],
            ..data.clone()
        };
        let r2 = cross_validate(&shifted, &sheet, &cfg).unwrap();
        assert_eq!(
            r2.fits[0].preprocess, f0.preprocess,
            "test-sample values leaked into the fitted preprocessing"
        );
        let all: Vec<usize> = (0..data.n_samples()).collect();
        let (on_all, _) = pre
            .fit(&shifted.layers, &sheet, &all, &shifted.labels)
            .unwrap();
        assert_ne!(on_all, f0.preprocess);
        // 3. Impossible designs are refused with the largest feasible k.
        let n_donors = data
            .sample_ids
            .iter()
            .map(|s| donor(s))
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let e = cross_validate(
            &data,
            &sheet,
            &TrainConfig {
                cv: donor_cv(n_donors + 1),
                ..cfg.clone()
            },
        )
        .unwrap_err();
        println!("{n_donors} donors; asking for {} folds: {e}", n_donors + 1);
        assert!(
            matches!(
                e,
                evomics_ml::MlError::Folds {
                    largest_feasible_k: Some(_),
                    ..
                }
            ),
            "{e}"
        );
        // 4. Same seed, same report, bit for bit.
        assert_eq!(cross_validate(&data, &sheet, &cfg).unwrap(), r);
    }
}

#[test]
fn shuffled_labels_give_chance_auc_and_a_large_permutation_p_value() {
    use evomics_ml::evaluate::{permutation_test, permute_labels, Permutation};
    let cohort = potency_cohort(31, 100);
    let sheet = cohort.experiment.samples().clone();
    let prot = cohort.experiment.layer("proteome").unwrap();
    let data = Dataset::assemble(&[prot], &sheet, &TargetSpec::new("potency_class")).unwrap();
    let model = ModelSpec::ElasticNet(ElasticNetParams {
        alpha: 0.0,
        lambda: 0.5,
        ..Default::default()
    });
    let cfg = TrainConfig::new(
        sim_preprocess(false, Scaling::Standardize, Selection::None),
        model,
        donor_cv(5),
    );
    // Shuffled labels: AUC near 0.5 averaged over several shuffles.
    let mut aucs = Vec::new();
    for s in 0..5 {
        let shuffled = data.with_labels(permute_labels(&data.labels, None, 1000 + s));
        aucs.push(
            cross_validate(&shuffled, &sheet, &cfg)
                .unwrap()
                .pooled_primary()
                .unwrap(),
        );
    }
    let mean = aucs.iter().sum::<f64>() / aucs.len() as f64;
    println!("shuffled labels: pooled CV AUC {aucs:.3?}, mean {mean:.3}");
    assert!((mean - 0.5).abs() < 0.1, "{mean}");
    // Permutation test of one shuffled data set: not significant; of the real labels: significant.
    let shuffled = data.with_labels(permute_labels(&data.labels, None, 999));
    let t = permutation_test(&shuffled, &sheet, &cfg, 19, &Permutation::Free).unwrap();
    println!(
        "shuffled labels: observed AUC {:.3}, permutation p = {:.3}",
        t.observed, t.p_value
    );
    assert!(t.p_value > 0.1, "{}", t.p_value);
    // Given the observed report and spread over threads, the test is the same bit for bit.
    let observed = cross_validate(&shuffled, &sheet, &cfg).unwrap();
    let progress = |_: usize, _: usize| {};
    let threaded = evomics_ml::evaluate::permutation_test_given(
        &observed,
        &shuffled,
        &sheet,
        &cfg,
        19,
        &Permutation::Free,
        evomics_ml::evaluate::Runner {
            threads: 3,
            progress: Some(&progress),
        },
    )
    .unwrap();
    assert_eq!(threaded, t);
    // Permutations read the data set's layers and never copy them; the null values are the
    // ones a cross-validation of a relabelled copy gives, bit for bit.
    for (b, &v) in t.null.iter().enumerate().take(5) {
        let labels = permute_labels(
            &shuffled.labels,
            None,
            evomics_core::rng::derive_seed(cfg.seed, &format!("permutation/{b}")),
        );
        let copy = cross_validate(&shuffled.with_labels(labels), &sheet, &cfg).unwrap();
        assert_eq!(copy.pooled_primary().unwrap().to_bits(), v.to_bits());
    }
    let real = permutation_test(&data, &sheet, &cfg, 19, &Permutation::Free).unwrap();
    println!(
        "real labels: observed AUC {:.3}, permutation p = {:.3}",
        real.observed, real.p_value
    );
    assert_eq!(real.p_value, 0.05);
}

#[test]
fn split_conformal_intervals_cover_90_percent_over_repeated_simulations() {
    use evomics_ml::conformal::{conformal_quantile, residual_scores};
    use evomics_ml::models::{Labels, Output};
    use rand::seq::SliceRandom;
    let model = ModelSpec::ElasticNet(ElasticNetParams {
        alpha: 0.5,
        lambda: 0.05,
        ..Default::default()
    });
    let pre = sim_preprocess(false, Scaling::Standardize, Selection::None);
    let (mut covered, mut total, mut width) = (0usize, 0usize, 0.0);
    let mut per_sim = Vec::new();
    for sim in 0..30u64 {
        let mut p = evomics_sim::SimParams {
            seed: 500 + sim,
            n_samples: 160,
            n_proteins: 200,
            n_mirnas: 60,
            ..evomics_sim::SimParams::default()
        };
        p.effects.signature_loading_log2 = [1.0, 1.6];
        let cohort = evomics_sim::simulate(&p).unwrap();
        let sheet = cohort.experiment.samples().clone();
        let data = Dataset::assemble(
            &[cohort.experiment.layer("proteome").unwrap()],
            &sheet,
            &TargetSpec::new("alp_activity"),
        )
        .unwrap();
        let Labels::Numeric { y } = &data.labels else {
            unreachable!()
        };
        let (mut c_sim, mut t_sim) = (0, 0);
        for split in 0..5u64 {
            let mut idx: Vec<usize> = (0..data.n_samples()).collect();
            idx.shuffle(&mut evomics_core::rng::seeded(sim * 100 + split));
            let (train, rest) = idx.split_at(80);
            let (cal, test) = rest.split_at(40);
            let (fp, xtr) = pre
                .fit(&data.layers, &sheet, train, &data.labels.select(train))
                .unwrap();
            let fm = model.fit(xtr.view(), &data.labels.select(train)).unwrap();
            let pred = |rows: &[usize]| match fm
                .predict(fp.transform(&data.layers, &sheet, rows).unwrap().view())
                .unwrap()
            {
                Output::Values { y } => y,
                _ => unreachable!(),
            };
            let ycal: Vec<f64> = cal.iter().map(|&i| y[i]).collect();
            let q = conformal_quantile(&residual_scores(&ycal, &pred(cal)), 0.1).unwrap();
            for (&i, yhat) in test.iter().zip(pred(test)) {
                let ok = (y[i] - yhat).abs() <= q;
                covered += usize::from(ok);
                c_sim += usize::from(ok);
                total += 1;
                t_sim += 1;
                width += 2.0 * q;
            }
        }
        per_sim.push(c_sim as f64 / t_sim as f64);
    }
    let coverage = covered as f64 / total as f64;
    println!(
        "split conformal (α = 0.1, 40 calibration samples) on alp_activity: coverage {:.3} over {} test predictions in 30 simulations × 5 splits (per simulation {:.2?}); mean interval width {:.1}",
        coverage,
        total,
        per_sim,
        width / total as f64
    );
    assert!((0.88..=0.92).contains(&coverage), "coverage {coverage}");
}

#[test]
fn saved_model_reloads_exactly_and_aligns_features_by_name() {
    use evomics_ml::persist::{MissingFeatureRule, SavedModel, MODEL_VERSION};
    let cohort = potency_cohort(41, 120);
    let sheet = cohort.experiment.samples().clone();
    let prot = cohort.experiment.layer("proteome").unwrap();
    let mir = cohort.experiment.layer("mirna").unwrap();
    // Train on the first 90 samples, predict the last 30 (as new EV preparations).
    let ids = prot.samples().to_vec();
    let (train_ids, new_ids) = ids.split_at(90);
    let train_sheet = sheet.select(&(0..90).collect::<Vec<_>>());
    let p_train = prot.select_samples_by_id(train_ids).unwrap();
    let m_train = mir.select_samples_by_id(train_ids).unwrap();
    let data = Dataset::assemble(
        &[&p_train, &m_train],
        &train_sheet,
        &TargetSpec::new("potency_class"),
    )
    .unwrap();
    for model in [
        ModelSpec::ElasticNet(ElasticNetParams {
            alpha: 0.5,
            lambda: 0.05,
            ..Default::default()
        }),
        ModelSpec::RandomForest(ForestParams {
            n_trees: 50,
            seed: 3,
            ..Default::default()
        }),
        ModelSpec::LinearSvm(evomics_ml::models::SvmParams::default()),
        ModelSpec::GradientBoosting(evomics_ml::models::BoostingParams::default()),
    ] {
        let cfg = TrainConfig::new(
            sim_preprocess(true, Scaling::Block, Selection::Univariate { k: 50 }),
            model,
            donor_cv(4),
        );
        let cv = cross_validate(&data, &train_sheet, &cfg).unwrap();
        let saved = evomics_ml::persist::train_final(&data, &train_sheet, &cfg, Some(&cv)).unwrap();
        assert_eq!(saved.version, MODEL_VERSION);
        assert_eq!(saved.training.data_hash, data.hash());
        assert_eq!(saved.features.len(), 50);
        let json = saved.to_json().unwrap();
        let back = SavedModel::from_json(&json).unwrap();
        assert_eq!(back, saved, "the model file does not round-trip exactly");
        let p_new = prot.select_samples_by_id(new_ids).unwrap();
        let m_new = mir.select_samples_by_id(new_ids).unwrap();
        let a = saved.predict(&[&p_new, &m_new], &sheet).unwrap();
        let b = back.predict(&[&m_new, &p_new], &sheet).unwrap();
        assert_eq!(a, b, "reloaded model predicts differently");
        assert_eq!(a.predictions.len(), 30);
        assert!(a.missing_features.is_empty() && a.ignored_features == 0);
        assert_eq!(a.sets.len(), 30);
        // Features in another order plus an unknown extra feature: same predictions.
        let mut order: Vec<usize> = (0..p_new.n_features()).rev().collect();
        order.push(0);
        let reordered = p_new.select_features(&order[..order.len() - 1]);
        let c = back.predict(&[&reordered, &m_new], &sheet).unwrap();
        assert_eq!(c.predictions, a.predictions);
        // A model input missing from the new data: refused by default, imputed on request.
        let used = saved
            .features
            .iter()
            .find(|f| f.layer == "proteome")
            .unwrap()
            .id
            .clone();
        let pos = p_new.features().position(&used).unwrap();
        let without = p_new.filter_features(|i| i != pos);
        let e = back.predict(&[&without, &m_new], &sheet).unwrap_err();
        assert!(e.to_string().contains(&used), "{e}");
        let lenient = back.clone().with_missing_rule(MissingFeatureRule::Impute);
        let d = lenient.predict(&[&without, &m_new], &sheet).unwrap();
        assert_eq!(d.missing_features.len(), 1);
        assert_eq!(d.missing_features[0].id, used);
        let acc = a
            .predictions
            .iter()
            .filter(|r| Some(&r.predicted) == sheet.text("potency_class", &r.sample_id).as_ref())
            .count();
        println!(
            "{}: CV AUC {:.3}; saved model {} kB round-trips exactly; {acc}/30 new preparations classified correctly; conformal sets of size {:?}",
            saved.model_params.name(),
            cv.metric("roc_auc").unwrap().fold_mean.unwrap(),
            json.len() / 1024,
            a.sets.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }
    assert!(
        SavedModel::from_json("{\"format\":\"evomics-model\",\"version\":99}")
            .unwrap_err()
            .to_string()
            .contains("version 99")
    );
}

/// A model file is verified on read: an edit anywhere is caught by its content hash, and a
/// model whose parts do not fit each other (re-hashed after the edit) is refused with what does
/// not fit, never a panic at prediction time.
#[test]
fn edited_or_inconsistent_model_files_are_refused() {
    use evomics_ml::persist::{SavedModel, CONTENT_HASH_KEY};
    let cohort = potency_cohort(43, 60);
    let sheet = cohort.experiment.samples().clone();
    let prot = cohort.experiment.layer("proteome").unwrap();
    let data = Dataset::assemble(&[prot], &sheet, &TargetSpec::new("potency_class")).unwrap();
    let refused = |m: &SavedModel, needle: &str| {
        let e = SavedModel::from_json(&m.to_json().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "expected '{needle}' in: {e}");
    };
    for model in [
        ModelSpec::ElasticNet(ElasticNetParams {
            alpha: 0.5,
            lambda: 0.05,
            ..Default::default()
        }),
        ModelSpec::RandomForest(ForestParams {
            n_trees: 5,
            seed: 3,
            ..Default::default()
        }),
    ] {
        let forest = matches!(model, ModelSpec::RandomForest(_));
        let cfg = TrainConfig::new(
            sim_preprocess(false, Scaling::Block, Selection::Univariate { k: 20 }),
            model,
            donor_cv(3),
        );
        let cv = cross_validate(&data, &sheet, &cfg).unwrap();
        let saved = evomics_ml::persist::train_final(&data, &sheet, &cfg, Some(&cv)).unwrap();
        let json = saved.to_json().unwrap();
        assert!(json.contains(CONTENT_HASH_KEY));
        // Reformatted (pretty-printed) but unchanged: still the same content.
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            SavedModel::from_json(&serde_json::to_string_pretty(&v).unwrap()).unwrap(),
            saved
        );
        // Edited by hand: a class renamed, a class added, a coefficient changed.
        let first = &saved.classes[0];
        for edited in [
            json.replacen(&format!("\"{first}\""), "\"renamed\"", 1),
            json.replacen("\"classes\":[", "\"classes\":[\"extra\",", 1),
            json.replacen("\"center\":[", "\"center\":[1.5,", 1),
        ] {
            assert_ne!(edited, json);
            let e = SavedModel::from_json(&edited).unwrap_err().to_string();
            assert!(
                e.contains("the file was changed after it was saved: its content hash does not match; retrain the model or restore the file"),
                "{e}"
            );
        }
        let mut no_hash = v.clone();
        no_hash.as_object_mut().unwrap().remove(CONTENT_HASH_KEY);
        let e = SavedModel::from_json(&no_hash.to_string())
            .unwrap_err()
            .to_string();
        assert!(e.contains("has no content hash"), "{e}");
        let mut v1 = v.clone();
        v1["version"] = 1.into();
        let e = SavedModel::from_json(&v1.to_string())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("version 1 is not supported") && e.contains("retrain"),
            "{e}"
        );

        // Inconsistent but re-hashed: each refused by the shape checks.
        let mut m = saved.clone();
        m.preprocess.center.pop();
        refused(&m, "the 'center' array has 19 values for 20 features");
        let mut m = saved.clone();
        m.classes.push("extra".into());
        refused(&m, "class(es)");
        let mut m = saved.clone();
        m.features.pop();
        refused(&m, "the feature list differs from the preprocessing's");
        let mut m = saved.clone();
        m.preprocess.columns[0] = 10_000;
        refused(&m, "selected column 10000 lies beyond");
        let mut m = saved.clone();
        m.conformal.as_mut().unwrap().alpha = 5.0;
        refused(&m, "conformal alpha 5 is outside (0, 1)");
        let mut m = saved.clone();
        m.conformal.as_mut().unwrap().scores.clear();
        refused(&m, "the conformal calibration has no scores");
        let mut m = saved.clone();
        m.conformal.as_mut().unwrap().threshold = 0.0;
        refused(&m, "the conformal threshold 0 is not the one");
        if forest {
            let mut m = saved.clone();
            if let evomics_ml::models::FittedModel::RandomForest(f) = &mut m.model {
                let root = &mut f.trees[0].nodes[0];
                assert_ne!(root.feature, u32::MAX, "the first tree has no split");
                root.left = 0;
            }
            refused(&m, "random forest tree 0: node 0 has child 0");
            let mut m = saved.clone();
            if let evomics_ml::models::FittedModel::RandomForest(f) = &mut m.model {
                f.trees[0].nodes[0].feature = 999;
            }
            refused(&m, "splits on feature 999 of 20");
        } else {
            let mut m = saved.clone();
            if let evomics_ml::models::FittedModel::ElasticNet(e) = &mut m.model {
                e.intercepts.push(0.0);
            }
            refused(&m, "elastic net: 2 intercepts for 1 coefficient columns");
        }
    }
}

/// `a` with the values and flags of sample `from` of `src` copied into its sample `to` (a
/// training sample's data under another id).
fn with_copied_sample(a: &Assay, src: &Assay, from: &str, to: &str) -> Assay {
    let (f, t) = (
        src.sample_position(from).unwrap(),
        a.sample_position(to).unwrap(),
    );
    let mut values = a.values().clone();
    let mut flags = a.flags().clone();
    let (vf, ff) = (
        src.values().column(f).to_owned(),
        src.flags().column(f).to_owned(),
    );
    values.column_mut(t).assign(&vf);
    flags.column_mut(t).assign(&ff);
    Assay::new(
        a.name(),
        a.kind().clone(),
        a.scale(),
        a.features().clone(),
        a.samples().to_vec(),
        values,
        flags,
    )
    .unwrap()
}

#[test]
fn predict_marks_training_samples_by_id_and_by_data() {
    use evomics_ml::persist::{row_hash, RowHasher, SavedModel, TrainingMatch};
    use evomics_ml::stages::predict::{run_predict, PredictConfig};
    use sha2::Digest;
    let cohort = potency_cohort(43, 60);
    let sheet = cohort.experiment.samples().clone();
    let prot = cohort.experiment.layer("proteome").unwrap();
    let mir = cohort.experiment.layer("mirna").unwrap();
    let ids = prot.samples().to_vec();
    let (train_ids, new_ids) = ids.split_at(45);
    let train_sheet = sheet.select(&(0..45).collect::<Vec<_>>());
    let p_train = prot.select_samples_by_id(train_ids).unwrap();
    let m_train = mir.select_samples_by_id(train_ids).unwrap();
    let data = Dataset::assemble(
        &[&p_train, &m_train],
        &train_sheet,
        &TargetSpec::new("potency_class"),
    )
    .unwrap();
    let cfg = standardized_enet(3);
    let saved = evomics_ml::persist::train_final(&data, &train_sheet, &cfg, None).unwrap();
    // One hash per training sample, as `row_hash` computes it from the layers as read.
    assert_eq!(saved.training.row_hashes.len(), 45);
    assert_eq!(saved.training.sample_ids, train_ids);
    let h5 = row_hash(&saved.preprocess, &[prot, mir], &train_ids[5]).unwrap();
    assert_eq!(saved.training.row_hashes[5], h5);
    assert_eq!(h5.len(), 64);
    // Stable: layer order and extra samples do not matter; other data give another hash.
    assert_eq!(
        row_hash(&saved.preprocess, &[&m_train, &p_train], &train_ids[5]).unwrap(),
        h5
    );
    assert_ne!(saved.training.row_hashes[6], h5);
    // Hashed many at a time (blocks of samples read feature by feature), in any order, each
    // sample's hash is the digest of its byte stream; a sample absent from a layer has none.
    // Scheme 2 (what new models record) and scheme 1 (older model files): each the digest of
    // its byte stream, written out here.
    let expected_hash = |id: &str, scheme: u32| -> String {
        let mut bytes = format!("evomics-ml row v{scheme}\0").into_bytes();
        for fl in &saved.preprocess.layers {
            let layer = [prot, mir]
                .into_iter()
                .find(|l| l.name() == fl.layer)
                .unwrap();
            let j = layer.sample_position(id).unwrap();
            bytes.extend(fl.layer.as_bytes());
            bytes.push(0);
            if scheme == 2 {
                let mut ids = Vec::new();
                for f in &fl.input_features {
                    ids.extend(f.as_bytes());
                    ids.push(0);
                }
                bytes.extend(sha2::Sha256::digest(&ids));
            }
            for f in &fl.input_features {
                if scheme == 1 {
                    bytes.extend(f.as_bytes());
                    bytes.push(0);
                }
                let i = layer.features().ids().iter().position(|x| x == f).unwrap();
                let flag = layer.flags()[[i, j]];
                bytes.push(flag.code());
                if flag.has_value() {
                    let v = layer.values()[[i, j]];
                    bytes.extend((if v == 0.0 { 0.0 } else { v }).to_bits().to_le_bytes());
                }
            }
        }
        let d = sha2::Sha256::digest(&bytes);
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    assert_eq!(saved.training.row_hash_scheme, 2);
    let mut asked: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    asked.insert(17, "not a sample");
    for scheme in [2, 1] {
        let hasher = RowHasher::with_scheme(&saved.preprocess, &[prot, mir], scheme).unwrap();
        let many = hasher.hash_many(&asked);
        assert_eq!(many.len(), asked.len());
        for (id, h) in asked.iter().zip(&many) {
            let expected = (*id != "not a sample").then(|| expected_hash(id, scheme));
            assert_eq!(h, &expected, "sample {id}, scheme {scheme}");
            assert_eq!(h, &hasher.hash(id));
        }
    }
    assert_eq!(h5, expected_hash(&train_ids[5], 2));

    // New data: the last 10 training samples (same ids), 15 new samples of which the first is
    // training sample 5's data under a new id.
    let predict_ids: Vec<String> = ids[35..].to_vec();
    let copy_id = new_ids[0].clone();
    let p_new = with_copied_sample(
        &prot.select_samples_by_id(&predict_ids).unwrap(),
        prot,
        &train_ids[5],
        &copy_id,
    );
    let m_new = with_copied_sample(
        &mir.select_samples_by_id(&predict_ids).unwrap(),
        mir,
        &train_ids[5],
        &copy_id,
    );
    let r = saved.predict(&[&p_new, &m_new], &sheet).unwrap();
    assert!(r.checked_by_data);
    assert_eq!(r.in_training.len(), 25);
    for (p, m) in r.predictions.iter().zip(&r.in_training) {
        if train_ids.contains(&p.sample_id) {
            let m = m.as_ref().unwrap();
            assert_eq!(
                (m.by, m.training_sample.as_str()),
                (TrainingMatch::Id, p.sample_id.as_str())
            );
        } else if p.sample_id == copy_id {
            let m = m.as_ref().unwrap();
            assert_eq!(
                (m.by, &m.training_sample),
                (TrainingMatch::Data, &train_ids[5])
            );
        } else {
            assert!(m.is_none(), "{}: {m:?}", p.sample_id);
        }
    }

    // Through the stage: the warning lists them, the table marks them.
    let mut exp = evomics_core::Experiment::new(sheet.clone());
    exp.insert_layer(p_new.clone()).unwrap();
    exp.insert_layer(m_new.clone()).unwrap();
    let res = run_predict(saved.clone(), &exp, &PredictConfig::default()).unwrap();
    let warn: Vec<String> = res
        .notes
        .iter()
        .filter(|m| m.level == evomics_core::Level::Warning)
        .map(|m| m.text.clone())
        .collect();
    assert_eq!(warn.len(), 1, "{warn:?}");
    assert!(
        warn[0].starts_with("11 of 25 predicted sample(s) were in the model's training data (10 by sample id, 1 by identical input values)"),
        "{}",
        warn[0]
    );
    assert!(warn[0].contains(&format!(
        "{copy_id} (same data as training sample {})",
        train_ids[5]
    )));
    assert!(warn[0].contains(&train_ids[44]));
    use evomics_core::StageTables;
    let t = &res.tables()[0];
    let col = t
        .columns
        .iter()
        .position(|c| c.name == "in_training")
        .unwrap();
    let marks: Vec<String> = t
        .rows
        .iter()
        .map(|r| match &r[col] {
            evomics_core::Cell::Text(s) => s.clone(),
            other => panic!("in_training is not text: {other:?}"),
        })
        .collect();
    assert_eq!(marks.iter().filter(|m| *m == "id").count(), 10);
    assert_eq!(marks.iter().filter(|m| *m == "data").count(), 1);
    assert_eq!(marks.iter().filter(|m| m.is_empty()).count(), 14);

    // A model file of scheme 1 (written before the scheme was recorded: no
    // `row_hash_scheme`): its rows are hashed in scheme 1, so the renamed copy is still caught.
    let mut v1 = serde_json::to_value(&saved).unwrap();
    let training = v1["training"].as_object_mut().unwrap();
    assert!(training.remove("row_hash_scheme").is_some());
    training["row_hashes"] = serde_json::Value::from(
        train_ids
            .iter()
            .map(|id| expected_hash(id, 1))
            .collect::<Vec<_>>(),
    );
    // The file's content hash, as `to_json` writes it: the SHA-256 of the compact JSON (keys
    // sorted) without the hash's own key.
    let rehashed = |mut v: serde_json::Value| -> String {
        let o = v.as_object_mut().unwrap();
        o.remove(evomics_ml::persist::CONTENT_HASH_KEY);
        let d = sha2::Sha256::digest(serde_json::Value::Object(o.clone()).to_string());
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        o.insert(
            evomics_ml::persist::CONTENT_HASH_KEY.into(),
            serde_json::Value::String(hex),
        );
        v.to_string()
    };
    assert_eq!(
        rehashed(serde_json::from_str(&saved.to_json().unwrap()).unwrap()),
        saved.to_json().unwrap()
    );
    let v1 = SavedModel::from_json(&rehashed(v1)).unwrap();
    assert_eq!(v1.training.row_hash_scheme, 1);
    let r1 = v1.predict(&[&p_new, &m_new], &sheet).unwrap();
    assert_eq!(r1.in_training, r.in_training);
    // A scheme this evomics does not know is refused when the file is read.
    let mut future = serde_json::to_value(&saved).unwrap();
    future["training"]["row_hash_scheme"] = serde_json::Value::from(3);
    let err = SavedModel::from_json(&rehashed(future))
        .unwrap_err()
        .to_string();
    assert!(err.contains("scheme 3"), "{err}");

    // A model without training row hashes: predict checks ids only (the renamed copy is no
    // longer caught) and says so.
    let mut old = saved.clone();
    old.training.row_hashes.clear();
    let old = SavedModel::from_json(&old.to_json().unwrap()).unwrap();
    assert!(old.training.row_hashes.is_empty());
    let res = run_predict(old, &exp, &PredictConfig::default()).unwrap();
    assert!(!res.report.checked_by_data);
    assert_eq!(res.report.in_training.iter().flatten().count(), 10);
    let text: Vec<&str> = res.notes.iter().map(|m| m.text.as_str()).collect();
    assert!(
        text.iter()
            .any(|t| t.contains("records no training row hashes")
                && t.contains("checked against its 45 training sample ids only")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("10 of 25 predicted sample(s)")),
        "{text:?}"
    );
}

#[test]
fn source_checks_and_learning_curve() {
    use evomics_ml::evaluate::{learning_curve, source_check};
    let cohort = potency_cohort(53, 120);
    let sheet = cohort.experiment.samples().clone();
    let prot = cohort.experiment.layer("proteome").unwrap();
    let data = Dataset::assemble(&[prot], &sheet, &TargetSpec::new("potency_class")).unwrap();
    let model = ModelSpec::ElasticNet(ElasticNetParams {
        alpha: 0.0,
        lambda: 0.5,
        ..Default::default()
    });
    let cfg = TrainConfig::new(
        sim_preprocess(false, Scaling::Standardize, Selection::None),
        model,
        donor_cv(5),
    );
    let sc = source_check(&data, &sheet, &cfg, "source", 9).unwrap();
    let loso = sc.leave_one_source_out.primary().unwrap();
    println!(
        "source check: AUC {:.3} with labels permuted within source (p = {:.2}, null {:.2?}); leave-one-source-out AUC {loso:.3}; per source {:?}",
        sc.within_source.observed,
        sc.within_source.p_value,
        sc.within_source.null,
        sc.per_source.iter().map(|(s, m)| (s.clone(), m.primary().map(|v| (v * 1000.0).round() / 1000.0))).collect::<Vec<_>>()
    );
    // The signature, not the source, carries potency here: the model beats within-source
    // permutations and still ranks potency in sources it never saw.
    assert_eq!(sc.within_source.p_value, 0.1);
    assert!(loso > 0.75, "{loso}");
    let lc = learning_curve(&data, &sheet, &cfg, &[0.25, 0.5, 1.0]).unwrap();
    for p in &lc {
        println!("learning curve: {:.2} of each training part ({:.0} samples): AUC {:.3} ± {:.3} over {} folds", p.fraction, p.n_train, p.mean.unwrap(), p.sd.unwrap_or(0.0), p.n_folds);
    }
    assert!(lc[2].mean.unwrap() > lc[0].mean.unwrap());
    assert_eq!(lc[2].n_folds, 5);
}

#[test]
fn multiclass_and_numeric_models() {
    use evomics_ml::models::{KnnParams, PlsParams};
    let cohort = potency_cohort(61, 120);
    let sheet = cohort.experiment.samples().clone();
    let prot = cohort.experiment.layer("proteome").unwrap();
    let mir = cohort.experiment.layer("mirna").unwrap();
    // Six sources from both layers: multinomial elastic net and k-NN, macro one-vs-rest AUC.
    let data = Dataset::assemble(&[prot, mir], &sheet, &TargetSpec::new("source")).unwrap();
    assert_eq!(data.classes.len(), 6);
    let pre = sim_preprocess(true, Scaling::Block, Selection::Univariate { k: 100 });
    for model in [
        ModelSpec::ElasticNet(ElasticNetParams {
            alpha: 0.5,
            lambda: 0.05,
            ..Default::default()
        }),
        ModelSpec::Knn(KnnParams {
            k: 5,
            ..Default::default()
        }),
    ] {
        let name = model.name();
        let r = cross_validate(
            &data,
            &sheet,
            &TrainConfig::new(pre.clone(), model, donor_cv(3)),
        )
        .unwrap();
        let (auc, bacc, mcc) = (
            r.metric("roc_auc").unwrap(),
            r.metric("balanced_accuracy").unwrap(),
            r.metric("mcc").unwrap(),
        );
        println!(
            "source (6 classes), {name}: macro AUC {:.3}, balanced accuracy {:.3}, MCC {:.3}",
            auc.pooled.unwrap(),
            bacc.pooled.unwrap(),
            mcc.pooled.unwrap()
        );
        assert!(auc.pooled.unwrap() > 0.9 && bacc.pooled.unwrap() > 0.6);
    }
    // Numeric potency: PLS and random-forest regression, repeated donor-grouped CV.
    let data = Dataset::assemble(&[prot], &sheet, &TargetSpec::new("potency_score")).unwrap();
    let cv = CvScheme::GroupKFold {
        k: 5,
        group: "donor_id".into(),
        repeats: 2,
        stratify: true,
    };
    for model in [
        ModelSpec::Pls(PlsParams {
            n_components: 3,
            scale: true,
        }),
        ModelSpec::RandomForest(ForestParams {
            n_trees: 100,
            seed: 2,
            ..Default::default()
        }),
    ] {
        let name = model.name();
        let r = cross_validate(
            &data,
            &sheet,
            &TrainConfig::new(
                sim_preprocess(false, Scaling::Standardize, Selection::Univariate { k: 50 }),
                model,
                cv.clone(),
            ),
        )
        .unwrap();
        let (r2, rmse, rho) = (
            r.metric("r2").unwrap(),
            r.metric("rmse").unwrap(),
            r.metric("spearman").unwrap(),
        );
        println!(
            "potency_score, {name}: R² {:.3} ± {:.3} (pooled {:.3}), RMSE {:.2}, Spearman {:.3}; conformal 90 % half-width {:.1}",
            r2.fold_mean.unwrap(),
            r2.fold_sd.unwrap(),
            r2.pooled.unwrap(),
            rmse.pooled.unwrap(),
            rho.pooled.unwrap(),
            r.conformal.threshold
        );
        assert!(r2.pooled.unwrap() > 0.4, "{name}");
        assert_eq!(r.pooled_metrics.len(), 2);
        assert_eq!(r.predictions.len(), 2 * data.n_samples());
    }
}

// ---------------------------------------------------------------- linear SVM vs scikit-learn

#[test]
fn linear_svm_matches_scikit_learn() {
    use evomics_ml::models::SvmParams;
    use evomics_testkit::{test_data, Tsv};
    let dir = test_data("py-reference/linear-svm");
    let cases = Tsv::read(&dir.join("cases.tsv"));
    let mut worst: f64 = 0.0;
    for row in &cases.rows {
        let (name, c, icpt) = (&row[0], row[4].parse::<f64>().unwrap(), row[5] == "1");
        let data = Tsv::read(&dir.join(format!("{name}_data.tsv")));
        let n = data.rows.len();
        let p = data.header.len() - 1;
        let x = Array2::from_shape_fn((n, p), |(i, j)| data.rows[i][j + 1].parse().unwrap());
        let y: Vec<usize> = data.rows.iter().map(|r| r[0].parse().unwrap()).collect();
        let k = y.iter().max().unwrap() + 1;
        let m = SvmParams {
            c,
            intercept: icpt,
            tol: 1e-10,
            max_iter: 1_000_000,
            ..Default::default()
        }
        .fit(
            x.view(),
            &evomics_ml::models::Labels::Classes { y, n_classes: k },
        )
        .unwrap();
        assert!(m.converged, "{name}");
        let d = m.decision_function(x.view());
        let reference = Tsv::read(&dir.join(format!("{name}_decision.tsv")));
        let mut err: f64 = 0.0;
        for (i, r) in reference.rows.iter().enumerate() {
            for (j, v) in r.iter().enumerate() {
                err = err.max((d[[i, j]] - v.parse::<f64>().unwrap()).abs());
            }
        }
        println!("linear SVM '{name}' (n {n}, p {p}, {k} classes, C {c}, intercept {icpt}): max |decision − scikit-learn| = {err:.2e} ({} epochs)", m.n_iter);
        worst = worst.max(err);
    }
    assert!(worst < 1e-4, "max error {worst}");
}

// ---------------------------------------------------------------- several models, shared folds

#[test]
fn several_models_on_shared_folds_equal_single_model_runs_and_are_compared() {
    use evomics_ml::evaluate::{
        cross_validate_models, ModelChoice, ModelEntry, MultiTrainConfig, Tuning,
    };
    use evomics_ml::models::{BoostingParams, SvmParams};
    let cohort = potency_cohort(71, 100);
    let sheet = cohort.experiment.samples().clone();
    let prot = cohort.experiment.layer("proteome").unwrap();
    let data = Dataset::assemble(&[prot], &sheet, &TargetSpec::new("potency_class")).unwrap();
    let svm = |c: f64| {
        ModelSpec::LinearSvm(SvmParams {
            c,
            ..Default::default()
        })
    };
    let config = MultiTrainConfig {
        preprocess: sim_preprocess(false, Scaling::Standardize, Selection::Univariate { k: 60 }),
        models: vec![
            ModelEntry {
                name: "enet".into(),
                model: ModelSpec::ElasticNet(ElasticNetParams {
                    alpha: 0.5,
                    lambda: 0.05,
                    ..Default::default()
                }),
                tuning: None,
            },
            ModelEntry {
                name: "svm".into(),
                model: svm(1.0),
                tuning: Some(Tuning {
                    candidates: vec![svm(0.01), svm(0.1), svm(1.0)],
                    inner: donor_cv(3),
                }),
            },
            ModelEntry {
                name: "forest".into(),
                model: ModelSpec::RandomForest(ForestParams {
                    n_trees: 100,
                    ..Default::default()
                }),
                tuning: None,
            },
            ModelEntry {
                name: "boosting".into(),
                model: ModelSpec::GradientBoosting(BoostingParams::default()),
                tuning: None,
            },
        ],
        cv: donor_cv(5),
        seed: 11,
        permutation_importance: 0,
        top_features: 20,
        conformal_alpha: 0.1,
        choose: ModelChoice::Primary,
    };
    let t0 = std::time::Instant::now();
    let multi = cross_validate_models(&data, &sheet, &config).unwrap();
    let t_multi = t0.elapsed().as_secs_f64();
    // Folds and their inner tuning splits taking turns through a gate give the same reports;
    // called from the worker of a one-thread pool (where the gate is set aside, as the folds'
    // threads would wait for that busy worker) it neither hangs nor changes a result.
    {
        use evomics_ml::evaluate::{cross_validate_models_gated, MatrixGate};
        let gate = MatrixGate::new();
        let gated = cross_validate_models_gated(&data, &sheet, &config, Some(&gate)).unwrap();
        assert_eq!(gated, multi);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let gated = one
            .install(|| cross_validate_models_gated(&data, &sheet, &config, Some(&gate)))
            .unwrap();
        assert_eq!(gated, multi);
    }
    let t0 = std::time::Instant::now();
    for (i, name) in multi.models.iter().enumerate() {
        let single = cross_validate(&data, &sheet, &config.model_config(i)).unwrap();
        assert_eq!(
            &single, &multi.reports[i],
            "model '{name}' differs from its single-model CV"
        );
        // The same folds and the same fitted preprocessing for every model.
        assert_eq!(single.folds, multi.reports[0].folds);
        for (a, b) in single.fits.iter().zip(&multi.reports[0].fits) {
            assert_eq!(a.preprocess, b.preprocess);
        }
    }
    let t_single = t0.elapsed().as_secs_f64();
    for (name, r) in multi.models.iter().zip(&multi.reports) {
        let auc = r.metric("roc_auc").unwrap();
        println!(
            "{name}: ROC AUC fold mean {:.3} ± {:.3}, pooled {:.3}",
            auc.fold_mean.unwrap(),
            auc.fold_sd.unwrap(),
            auc.pooled.unwrap()
        );
    }
    let pairs: Vec<_> = multi.comparisons_of("roc_auc").collect();
    assert_eq!(pairs.len(), 6);
    for c in &pairs {
        println!(
            "  {} − {}: mean ΔAUC {:+.3} over {} folds, corrected t {:.2} (df {}), p = {:.3}",
            c.model_a,
            c.model_b,
            c.mean_difference.unwrap(),
            c.folds.len(),
            c.t.unwrap_or(f64::NAN),
            c.df,
            c.p_value.unwrap_or(f64::NAN)
        );
        assert_eq!(c.df, c.folds.len() - 1);
        // The corrected test is more conservative than the naive paired t-test.
        if let (Some(t), Some(sd)) = (c.t, c.sd_difference) {
            let naive = c.mean_difference.unwrap() / (sd / (c.folds.len() as f64).sqrt());
            assert!(t.abs() <= naive.abs() + 1e-12);
        }
    }
    println!(
        "selected: {} by {}; shared folds {t_multi:.1} s, four separate CVs {t_single:.1} s",
        multi.models[multi.selected], multi.selected_by
    );
    let best = multi
        .reports
        .iter()
        .map(|r| r.pooled_primary().unwrap())
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(multi.selected_report().pooled_primary().unwrap(), best);
    // A named model wins whatever its score; unknown names are refused before any fit.
    let named = MultiTrainConfig {
        choose: ModelChoice::Model("forest".into()),
        ..config.clone()
    };
    assert_eq!(
        cross_validate_models(&data, &sheet, &named)
            .unwrap()
            .selected,
        2
    );
    let bad = MultiTrainConfig {
        choose: ModelChoice::Model("nope".into()),
        ..config.clone()
    };
    assert!(bad.validate().unwrap_err().to_string().contains("'nope'"));
    // A single-model config through the multi-model engine gives `cross_validate`'s report.
    let one = config.model_config(0);
    assert_eq!(
        cross_validate_models(&data, &sheet, &one.to_multi())
            .unwrap()
            .reports[0],
        cross_validate(&data, &sheet, &one).unwrap()
    );
}

#[test]
fn corrected_resampled_t_matches_the_formula() {
    use evomics_ml::evaluate::corrected_resampled_t;
    // d̄ = 0.02, s² = 0.0004/3 (differences 0.01, 0.03, 0.01, 0.03), J = 4, n_test/n_train = 1/4:
    // t = 0.02 / √((1/4 + 1/4) · 0.000266…) ; reference values from R:
    // d <- c(0.01, 0.03, 0.01, 0.03); t <- mean(d)/sqrt((1/4 + 1/4)*var(d)); 2*pt(-abs(t), 3)
    let (t, p) = corrected_resampled_t(&[0.01, 0.03, 0.01, 0.03], 0.25);
    let t = t.unwrap();
    let expected_t = 0.02 / ((0.5_f64) * (0.0004 / 3.0)).sqrt();
    assert!((t - expected_t).abs() < 1e-12, "{t} vs {expected_t}");
    println!("corrected resampled t = {t:.6}, p = {:.6}", p.unwrap());
    assert!((p.unwrap() - 0.09172111331).abs() < 1e-8, "{p:?}");
    assert_eq!(corrected_resampled_t(&[0.1, 0.1, 0.1], 0.25), (None, None));
    assert_eq!(corrected_resampled_t(&[0.1], 0.25), (None, None));
}

// ---------------------------------------------------------------- histogram vs exact forest

/// The real MSC secretome (control vs osteogenic, six cell sources): MaxLFQ intensities of the
/// FragPipe table (0 = not quantified; `contam_` rows dropped), the sample sheet, and the
/// in-fold preprocessing of workflows/train/msc-secretome-differentiation.toml.
fn msc_secretome(dir: &Path) -> (Dataset, SampleSheet, PreprocessConfig) {
    use evomics_testkit::Tsv;
    let samples = Tsv::read(&dir.join("secretome_samples.tsv"));
    let table = Tsv::read(&dir.join("secretome_fragpipe_combined_protein.tsv.gz"));
    let ids: Vec<String> = samples
        .column("Sample")
        .iter()
        .map(|s| s.to_string())
        .collect();
    let cols: Vec<usize> = samples
        .column("lfq_column")
        .iter()
        .map(|c| table.col(c))
        .collect();
    let rows: Vec<&Vec<String>> = table
        .rows
        .iter()
        .filter(|r| !r[0].starts_with("contam_"))
        .collect();
    let cells = Array2::from_shape_fn((rows.len(), ids.len()), |(i, j)| {
        let v: f64 = rows[i][cols[j]].parse().unwrap();
        (v > 0.0).then_some(v)
    });
    let prot = Assay::from_options(
        "proteome",
        LayerKind::Proteome,
        ValueScale::Linear,
        Features::new(
            rows.iter()
                .map(|r| r[table.col("Protein ID")].clone())
                .collect(),
        )
        .unwrap(),
        ids.clone(),
        &cells,
    )
    .unwrap();
    let sheet = SampleSheet::from_text_columns(
        ids,
        ["Cell_type", "Differentiation", "Donor"]
            .iter()
            .map(|c| {
                (
                    c.to_string(),
                    samples
                        .column(c)
                        .iter()
                        .map(|v| Some(v.to_string()))
                        .collect(),
                )
            })
            .collect(),
    )
    .unwrap();
    let target = TargetSpec {
        column: "Differentiation".into(),
        kind: Default::default(),
        classes: Some(vec!["control".into(), "dif".into()]),
    };
    let data = Dataset::assemble(&[&prot], &sheet, &target).unwrap();
    let mut pre = PreprocessConfig {
        scaling: Scaling::Standardize,
        ..Default::default()
    };
    pre.layers.insert(
        "proteome".into(),
        norm_config(serde_json::json!({
            "filters": [{ "method": "valid_values", "column": "Cell_type", "min_fraction": 0.7 }],
            "transform": { "method": "log2" },
            "normalization": { "method": "median" },
            "imputation": { "method": "down_shift", "width": 0.3, "shift": 1.8, "seed": 7 },
        })),
    );
    (data, sheet, pre)
}

/// Pooled CV ROC AUC of a 500-tree forest with each splitter on the same folds.
fn forest_aucs(
    data: &Dataset,
    sheet: &SampleSheet,
    pre: &PreprocessConfig,
    cv: CvScheme,
) -> (f64, f64) {
    use evomics_ml::evaluate::{cross_validate_models, ModelChoice, ModelEntry, MultiTrainConfig};
    use evomics_ml::models::Splitter;
    let forest = |splitter| {
        ModelSpec::RandomForest(ForestParams {
            n_trees: 500,
            n_threads: 2,
            seed: 7,
            splitter,
            ..Default::default()
        })
    };
    let r = cross_validate_models(
        data,
        sheet,
        &MultiTrainConfig {
            preprocess: pre.clone(),
            models: vec![
                ModelEntry {
                    name: "histogram".into(),
                    model: forest(Splitter::Histogram),
                    tuning: None,
                },
                ModelEntry {
                    name: "exact".into(),
                    model: forest(Splitter::Exact),
                    tuning: None,
                },
            ],
            cv,
            seed: 20240601,
            permutation_importance: 0,
            top_features: 20,
            conformal_alpha: 0.1,
            choose: ModelChoice::Primary,
        },
    )
    .unwrap();
    (
        r.reports[0].pooled_primary().unwrap(),
        r.reports[1].pooled_primary().unwrap(),
    )
}

#[test]
fn histogram_forest_auc_is_within_0_02_of_the_exact_forest() {
    let target = TargetSpec {
        column: "potency_class".into(),
        kind: Default::default(),
        classes: Some(vec!["low".into(), "high".into()]),
    };
    for name in ["synthetic-S", "synthetic-M"] {
        let dir = oracle_dir!(name);
        let prot = read_proteome(&dir);
        let sheet = read_sheet(&dir);
        let data = Dataset::assemble(&[&prot], &sheet, &target).unwrap();
        let (h, e) = forest_aucs(
            &data,
            &sheet,
            &peer_preprocess("proteome", true),
            donor_cv(5),
        );
        println!("{name} ({} samples), 5-fold donor CV, RF 500: pooled ROC AUC histogram {h:.4}, exact {e:.4}, difference {:+.4}", data.n_samples(), h - e);
        assert!((h - e).abs() <= 0.02, "{name}: {h} vs {e}");
    }
    let dir =
        evomics_testkit::require_shared!("data/real/msc-sources-osteogenic-secretome-proteome");
    let (data, sheet, pre) = msc_secretome(&dir);
    let cv = CvScheme::GroupKFold {
        k: 5,
        group: "Donor".into(),
        repeats: 1,
        stratify: true,
    };
    let (h, e) = forest_aucs(&data, &sheet, &pre, cv);
    println!("MSC secretome ({} samples), Differentiation, 5-fold donor CV, RF 500: pooled ROC AUC histogram {h:.4}, exact {e:.4}, difference {:+.4}", data.n_samples(), h - e);
    assert!((h - e).abs() <= 0.02, "secretome: {h} vs {e}");
}

#[test]
fn histogram_forest_with_coarse_bins_stays_close_to_exact() {
    // 180 samples, so up to 144 distinct training values per feature, in at most 32 bins: the
    // binning really coarsens the splits, and the CV AUC stays within 0.02 of exact CART.
    use evomics_ml::models::Splitter;
    let cohort = potency_cohort(83, 180);
    let sheet = cohort.experiment.samples().clone();
    let prot = cohort.experiment.layer("proteome").unwrap();
    let data = Dataset::assemble(&[prot], &sheet, &TargetSpec::new("potency_class")).unwrap();
    let pre = sim_preprocess(
        false,
        Scaling::Standardize,
        Selection::Univariate { k: 100 },
    );
    let mut aucs = Vec::new();
    for (splitter, bins) in [(Splitter::Exact, 255), (Splitter::Histogram, 32)] {
        let model = ModelSpec::RandomForest(ForestParams {
            n_trees: 300,
            n_threads: 2,
            seed: 3,
            splitter,
            max_bins: bins,
            ..Default::default()
        });
        let r = cross_validate(
            &data,
            &sheet,
            &TrainConfig::new(pre.clone(), model, donor_cv(5)),
        )
        .unwrap();
        aucs.push(r.pooled_primary().unwrap());
    }
    println!("simulated 180 samples, RF 300 on 100 features: pooled ROC AUC exact {:.4}, 32 histogram bins {:.4} (difference {:+.4})", aucs[0], aucs[1], aucs[1] - aucs[0]);
    assert!((aucs[1] - aucs[0]).abs() <= 0.02);
}

// ---------------------------------------------------------------- UMAP of the demo cohort

/// The log2 + median proteome of a simulated cohort restricted to its complete proteins, as a
/// samples × features matrix, with the samples' sources.
fn complete_log2_median(cohort: &evomics_sim::SimCohort) -> (Array2<f64>, Vec<String>) {
    use evomics_ml::matrix::{complete_features, complete_matrix};
    let sheet = cohort.experiment.samples().clone();
    let prot = cohort.experiment.layer("proteome").unwrap();
    let cfg = norm_config(serde_json::json!({
        "transform": { "method": "log2" },
        "normalization": { "method": "median" },
    }));
    let (_, log2, _) = cfg.fit_transform(prot, &sheet).unwrap();
    let complete = log2.select_features(&complete_features(&log2));
    (
        complete_matrix(&complete).unwrap(),
        column_text(&sheet, "source"),
    )
}

#[test]
fn umap_of_the_demo_cohort_separates_sources_and_repeats_exactly() {
    use evomics_ml::cluster::agreement::adjusted_rand_index;
    use evomics_ml::cluster::kmeans::KMeansParams;
    use evomics_ml::umap::{Umap, UmapParams};
    let run = |x: &Array2<f64>, params: &UmapParams, threads: usize| -> Umap {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| params.fit(x.view()).unwrap())
    };
    let bits = |u: &Umap| -> Vec<u64> { u.embedding.iter().map(|v| v.to_bits()).collect() };
    let ari_of = |x: ndarray::ArrayView2<f64>, sources: &[String]| -> f64 {
        let km = KMeansParams::new(6, 7).fit(x).unwrap();
        adjusted_rand_index(&km.labels, sources).unwrap()
    };
    // The demo cohort: evomics-sim small preset, seed 20261126 (test-data/sim-small).
    let mut p = evomics_sim::SimParams::small();
    p.seed = 20261126;
    let (x, sources) = complete_log2_median(&evomics_sim::simulate(&p).unwrap());
    let params = UmapParams {
        n_neighbors: 10,
        seed: 20261126,
        ..Default::default()
    };
    let (one, two) = (run(&x, &params, 1), run(&x, &params, 2));
    assert_eq!(bits(&one), bits(&two), "1 and 2 threads differ");
    assert_eq!(bits(&one), bits(&run(&x, &params, 2)), "reruns differ");
    let (ari, raw) = (
        ari_of(one.embedding.view(), &sources),
        ari_of(x.view(), &sources),
    );
    println!(
        "demo cohort ({} samples × {} complete log2 + median proteins), UMAP (k = 10, {} epochs, a = {:.4}, b = {:.4}): k-means (k = 6) source ARI on the embedding {ari:.3}, on the matrix itself {raw:.3}; byte-identical with 1 and 2 threads and on rerun",
        x.nrows(),
        x.ncols(),
        one.n_epochs,
        one.a,
        one.b
    );
    // A cohort whose complete proteins carry the sources (120 preparations of six sources, 400
    // proteins, 30 % of them differing by source, small batch effects, few missing values):
    // the embedding separates them.
    let mut p = evomics_sim::SimParams {
        seed: 61,
        n_samples: 120,
        n_proteins: 400,
        n_mirnas: 60,
        ..evomics_sim::SimParams::default()
    };
    p.effects.source_de_fraction = 0.3;
    p.effects.source_effect_log2 = [1.5, 3.0];
    p.effects.batch_sd_log2 = 0.2;
    p.effects.donor_sd_log2 = 0.2;
    p.proteome.mnar_midpoint_log2 = 16.0;
    p.proteome.mar_rate = 0.0;
    let (x, sources) = complete_log2_median(&evomics_sim::simulate(&p).unwrap());
    let params = UmapParams {
        seed: 20261126,
        ..Default::default()
    };
    let (one, two) = (run(&x, &params, 1), run(&x, &params, 2));
    assert_eq!(bits(&one), bits(&two), "1 and 2 threads differ");
    let (ari, raw) = (
        ari_of(one.embedding.view(), &sources),
        ari_of(x.view(), &sources),
    );
    println!(
        "simulated 120 preparations × {} complete proteins, UMAP defaults: k-means (k = 6) source ARI on the embedding {ari:.3}, on the matrix itself {raw:.3}",
        x.ncols()
    );
    assert!(ari >= 0.8, "ARI {ari}");
}

// ---------------------------------------------------------------- every model: threads, reload

#[test]
fn every_model_is_the_same_for_any_thread_count_and_after_reload() {
    use evomics_ml::models::{BoostingParams, SvmParams};
    use evomics_ml::persist::SavedModel;
    let cohort = potency_cohort(91, 90);
    let sheet = cohort.experiment.samples().clone();
    let prot = cohort.experiment.layer("proteome").unwrap();
    let data = Dataset::assemble(&[prot], &sheet, &TargetSpec::new("potency_class")).unwrap();
    let pre = sim_preprocess(false, Scaling::Standardize, Selection::Univariate { k: 40 });
    for model in [
        ModelSpec::ElasticNet(ElasticNetParams {
            alpha: 0.5,
            lambda: 0.05,
            ..Default::default()
        }),
        ModelSpec::RandomForest(ForestParams {
            n_trees: 50,
            n_threads: 2,
            ..Default::default()
        }),
        ModelSpec::LinearSvm(SvmParams::default()),
        ModelSpec::GradientBoosting(BoostingParams::default()),
    ] {
        let cfg = TrainConfig::new(pre.clone(), model.clone(), donor_cv(4));
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| cross_validate(&data, &sheet, &cfg).unwrap())
        };
        let one = run(1);
        assert_eq!(one, run(2), "{}: 1 and 2 threads differ", model.name());
        let saved = evomics_ml::persist::train_final(&data, &sheet, &cfg, Some(&one)).unwrap();
        let back = SavedModel::from_json(&saved.to_json().unwrap()).unwrap();
        assert_eq!(
            back,
            saved,
            "{}: the model file does not round-trip",
            model.name()
        );
        let a = saved.predict(&[prot], &sheet).unwrap();
        let b = back.predict(&[prot], &sheet).unwrap();
        assert_eq!(
            a,
            b,
            "{}: reloaded model predicts differently",
            model.name()
        );
        println!(
            "{}: CV pooled AUC {:.3}, identical with 1 and 2 threads, reloads and predicts identically",
            model.name(),
            one.pooled_primary().unwrap()
        );
    }
}

/// The final model fitted early from normalize's fits alone (before the training data are at
/// hand) is kept only for the data those fits were made on, and is then the final model
/// fitted from the data, to the last bit; for other data it is refused and the model is
/// fitted from the data.
#[test]
fn an_early_final_model_is_the_final_model_of_the_data_it_was_made_for() {
    use evomics_ml::persist::{fit_final, fit_final_early, train_final};
    use evomics_ml::preprocess::{Prefit, PrefitLayer};
    let cohort = potency_cohort(43, 80);
    let sheet = cohort.experiment.samples().clone();
    let prot = cohort.experiment.layer("proteome").unwrap().clone();
    let mir = cohort.experiment.layer("mirna").unwrap().clone();
    let target = TargetSpec::new("potency_class");
    let cfg = standardized_enet(4);
    let prefit = |layers: &[&Assay]| {
        let mut p = Prefit::new(sheet.clone());
        for l in layers {
            let with = cfg.preprocess.layers[l.name()].clone();
            let (fitted, output, _) = with.fit_transform(l, &sheet).unwrap();
            p.insert(
                l.name(),
                PrefitLayer {
                    input: l.fingerprint(),
                    fitted,
                    output,
                },
            );
        }
        p
    };
    let names = ["mirna".to_string(), "proteome".to_string()];
    let data = Dataset::assemble(&[&mir, &prot], &sheet, &target).unwrap();
    let want = serde_json::to_string(&train_final(&data, &sheet, &cfg, None).unwrap()).unwrap();

    let p = prefit(&[&mir, &prot]);
    let early = fit_final_early(&p, &names, &target, &cfg).unwrap().unwrap();
    assert!(
        p.taken().is_empty(),
        "not taken before the data are checked"
    );
    let fit = early
        .take(&data, &sheet, &cfg, Some(&p))
        .expect("the same data");
    assert_eq!(p.taken(), names);
    assert_eq!(
        serde_json::to_string(&fit.finish(&data).unwrap()).unwrap(),
        want
    );

    // One changed cell: the early fit is refused, and the model is fitted from the data.
    let changed = {
        let mut values = prot.values().clone();
        let (i, j) = (0..prot.n_features())
            .flat_map(|i| (0..prot.n_samples()).map(move |j| (i, j)))
            .find(|&(i, j)| prot.get(i, j).is_some())
            .unwrap();
        values[[i, j]] *= 2.0;
        prot.with_matrices(values, prot.flags().clone(), prot.scale())
            .unwrap()
    };
    let other = Dataset::assemble(&[&mir, &changed], &sheet, &target).unwrap();
    let p = prefit(&[&mir, &prot]);
    let early = fit_final_early(&p, &names, &target, &cfg).unwrap().unwrap();
    assert!(early.take(&other, &sheet, &cfg, Some(&p)).is_none());
    assert!(p.taken().is_empty());
    let refit = fit_final(&other, &sheet, &cfg, None, Some(&p))
        .unwrap()
        .finish(&other)
        .unwrap();
    assert_eq!(
        serde_json::to_string(&refit).unwrap(),
        serde_json::to_string(&train_final(&other, &sheet, &cfg, None).unwrap()).unwrap()
    );

    // Another model config, or a layer the prefit does not hold: no early fit to keep.
    let p = prefit(&[&mir, &prot]);
    let early = fit_final_early(&p, &names, &target, &cfg).unwrap().unwrap();
    let mut other_cfg = cfg.clone();
    other_cfg.seed += 1;
    assert!(early.take(&data, &sheet, &other_cfg, Some(&p)).is_none());
    let p = prefit(&[&prot]);
    assert!(fit_final_early(&p, &names, &target, &cfg).is_none());
}
