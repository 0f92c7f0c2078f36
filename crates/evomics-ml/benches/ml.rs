//! k-means, PCA and the cross-validated potency models on moderate sizes, so that
//! `cargo bench -p evomics-ml --bench ml` runs in seconds per benchmark:
//!
//! - k-means (k = 6, 10 k-means++ starts, Hartigan–Wong) and PCA on 300 samples × 2,000
//!   standardized features with six planted clusters (the M cohort's shape, fewer features);
//! - 5-fold donor-grouped CV (preprocessing fitted inside every fold: valid-70 by source, log2,
//!   median, MinProb down-shift; miRNA TMM log-CPM; standardization) of an elastic-net logistic
//!   model, a 500-tree random forest (2 threads; histogram and exact splitters), a linear SVM
//!   and gradient boosting, and of all four on shared folds, on a simulated cohort of 120 EV
//!   preparations × (400 proteins + 150 miRNAs);
//! - the model kernels alone on one fold's matrix: histogram binning, forest, boosting, SVM,
//!   elastic net with and without strong-rule screening; UMAP of 300 samples.
//!
//! Before the criterion groups, the binary prints the bytes allocated per permutation of a
//! permutation test on the demo-sized cohort (`evomics-sim` small preset, seed 20261126) next to
//! the bytes of one cross-validation and of the feature data, through a counting global
//! allocator (`stats_alloc`; its counters add a few nanoseconds per allocation to every timing).
//!
//! `EVOMICS_BENCH_L=DIR cargo bench -p evomics-ml --bench ml` instead times, once each, the
//! 5-fold donor-grouped CV of the elastic net and of the 500-tree forest on the peers' L cohort in
//! DIR (`gen_synthetic.py --seed 20240601 --features 10000 --samples 2000 --mirnas 5000`, see
//! bench/README.md) with the bench configs' preprocessing, and prints the preprocessing's share.

// criterion_group! generates a public function that cannot carry a doc comment
#![allow(missing_docs)]

use std::alloc::System;
use std::path::Path;
use std::time::Instant;

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

use criterion::{criterion_group, Criterion};
use evomics_core::{Assay, Features, LayerKind, SampleSheet, ValueScale};
use evomics_ml::cluster::kmeans::KMeansParams;
use evomics_ml::cv::CvScheme;
use evomics_ml::data::{Dataset, TargetSpec};
use evomics_ml::evaluate::{
    cross_validate, cross_validate_models, permutation_test_given, ModelChoice, ModelEntry,
    MultiTrainConfig, Permutation, Runner, TrainConfig,
};
use evomics_ml::models::{
    BoostingParams, ElasticNetParams, ForestParams, ModelSpec, Splitter, SvmParams,
};
use evomics_ml::pca::PcaParams;
use evomics_ml::preprocess::{PreprocessConfig, Scaling};
use evomics_ml::umap::UmapParams;
use evomics_norm::NormalizeConfig;
use ndarray::Array2;
use rand::Rng;

fn clustered(n: usize, p: usize, k: usize) -> Array2<f64> {
    let mut rng = evomics_core::rng::seeded(20240601);
    let centres: Vec<Vec<f64>> = (0..k)
        .map(|_| (0..p).map(|_| rng.gen_range(-1.0..1.0)).collect())
        .collect();
    Array2::from_shape_fn((n, p), |(i, j)| {
        centres[i % k][j] + (0..4).map(|_| rng.gen::<f64>() - 0.5).sum::<f64>()
    })
}

fn preprocess() -> PreprocessConfig {
    let proteome: NormalizeConfig = toml::from_str(
        r#"
        filters = [{ method = "valid_values", column = "source", min_fraction = 0.7 }]
        transform = { method = "log2" }
        normalization = { method = "median" }
        imputation = { method = "down_shift", width = 0.3, shift = 1.8, seed = 7 }
        "#,
    )
    .expect("proteome pipeline");
    let mut p = PreprocessConfig {
        scaling: Scaling::Standardize,
        ..Default::default()
    };
    p.layers.insert("proteome".into(), proteome);
    p.layers.insert(
        "mirna".into(),
        NormalizeConfig::recommended(&LayerKind::Mirna, ValueScale::Counts),
    );
    p
}

fn bench(c: &mut Criterion) {
    let x = clustered(300, 2_000, 6);
    let mut group = c.benchmark_group("clustering 300x2000");
    group.sample_size(10);
    group.bench_function("k-means k=6, 10 starts", |b| {
        b.iter(|| KMeansParams::new(6, 7).fit(x.view()).expect("k-means"))
    });
    group.bench_function("PCA (prcomp, scaled)", |b| {
        let params = PcaParams {
            n_components: Some(10),
            scale: true,
        };
        b.iter(|| params.fit(x.view()).expect("pca"))
    });
    group.finish();

    let cohort = evomics_sim::simulate(&evomics_sim::SimParams {
        seed: 20240601,
        n_samples: 120,
        n_proteins: 400,
        n_mirnas: 150,
        ..evomics_sim::SimParams::default()
    })
    .expect("simulated cohort");
    let sheet = cohort.experiment.samples().clone();
    let layers = [
        cohort.experiment.layer("proteome").expect("proteome"),
        cohort.experiment.layer("mirna").expect("mirna"),
    ];
    let target = TargetSpec {
        column: "potency_class".into(),
        kind: Default::default(),
        classes: Some(vec!["low".into(), "high".into()]),
    };
    let data = Dataset::assemble(&layers, &sheet, &target).expect("dataset");
    let cv = CvScheme::GroupKFold {
        k: 5,
        group: "donor_id".into(),
        repeats: 1,
        stratify: true,
    };
    let mut group = c.benchmark_group("5-fold donor CV, 120 samples x (400 proteins + 150 miRNAs)");
    group.sample_size(10);
    let enet = ModelSpec::ElasticNet(ElasticNetParams {
        alpha: 0.5,
        lambda: 0.05,
        ..Default::default()
    });
    let config = TrainConfig::new(preprocess(), enet.clone(), cv.clone());
    group.bench_function("elastic-net logistic", |b| {
        b.iter(|| cross_validate(&data, &sheet, &config).expect("cv"))
    });
    let forest = ModelSpec::RandomForest(ForestParams {
        n_trees: 500,
        n_threads: 2,
        seed: 7,
        ..Default::default()
    });
    let config = TrainConfig::new(preprocess(), forest.clone(), cv.clone());
    group.bench_function("random forest, 500 trees, 2 threads", |b| {
        b.iter(|| cross_validate(&data, &sheet, &config).expect("cv"))
    });
    let svm = ModelSpec::LinearSvm(SvmParams::default());
    let config = TrainConfig::new(preprocess(), svm.clone(), cv.clone());
    group.bench_function("linear SVM + Platt", |b| {
        b.iter(|| cross_validate(&data, &sheet, &config).expect("cv"))
    });
    let boost = ModelSpec::GradientBoosting(BoostingParams::default());
    let config = TrainConfig::new(preprocess(), boost.clone(), cv.clone());
    group.bench_function("gradient boosting", |b| {
        b.iter(|| cross_validate(&data, &sheet, &config).expect("cv"))
    });
    let entry = |name: &str, model: ModelSpec| ModelEntry {
        name: name.into(),
        model,
        tuning: None,
    };
    let multi = MultiTrainConfig {
        preprocess: preprocess(),
        models: vec![
            entry("enet", enet.clone()),
            entry("forest", forest.clone()),
            entry("svm", svm.clone()),
            entry("boosting", boost.clone()),
        ],
        cv,
        seed: 7,
        permutation_importance: 0,
        top_features: 20,
        conformal_alpha: 0.1,
        choose: ModelChoice::Primary,
    };
    group.bench_function("all four models on shared folds", |b| {
        b.iter(|| cross_validate_models(&data, &sheet, &multi).expect("cv"))
    });
    group.finish();

    // The model kernels alone, on the first fold's preprocessed training matrix.
    let rows: Vec<usize> = (0..data.n_samples()).filter(|i| i % 5 != 0).collect();
    let labels = data.labels.select(&rows);
    let (_, x) = preprocess()
        .fit(&data.layers, &sheet, &rows, &labels)
        .expect("preprocessing");
    let mut group = c.benchmark_group(format!(
        "kernels on one training fold, {} x {}",
        x.nrows(),
        x.ncols()
    ));
    group.sample_size(10);
    for (name, model) in [
        ("random forest 500, histogram", forest.clone()),
        (
            "random forest 500, exact",
            ModelSpec::RandomForest(ForestParams {
                n_trees: 500,
                n_threads: 2,
                seed: 7,
                splitter: Splitter::Exact,
                ..Default::default()
            }),
        ),
        ("gradient boosting", boost),
        ("linear SVM + Platt", svm),
        ("elastic net, strong rules", enet.clone()),
        (
            "elastic net, no screening",
            ModelSpec::ElasticNet(ElasticNetParams {
                alpha: 0.5,
                lambda: 0.05,
                screening: false,
                ..Default::default()
            }),
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| model.fit(x.view(), &labels).expect("fit"))
        });
    }
    let binning = ForestParams {
        n_threads: 1,
        ..Default::default()
    };
    group.bench_function("random forest histogram bins, 1 thread", |b| {
        b.iter(|| binning.prepare(x.view(), &labels).expect("bins"))
    });
    group.finish();

    let mut group = c.benchmark_group("UMAP");
    group.sample_size(10);
    let blobs = clustered(300, 50, 6);
    group.bench_function("300 x 50, 6 clusters, 500 epochs", |b| {
        b.iter(|| UmapParams::default().fit(blobs.view()).expect("umap"))
    });
    group.finish();
}

/// Bytes allocated per permutation of a permutation test on the demo-sized cohort, against one
/// cross-validation and the feature data: a permutation allocates what one CV does (its folds'
/// preprocessing and models) and no copy of the data set.
fn permutation_bytes() {
    let mut p = evomics_sim::SimParams::small();
    p.seed = 20261126;
    let cohort = evomics_sim::simulate(&p).expect("demo cohort");
    let sheet = cohort.experiment.samples().clone();
    let layers = [
        cohort.experiment.layer("proteome").expect("proteome"),
        cohort.experiment.layer("mirna").expect("mirna"),
    ];
    let data =
        Dataset::assemble(&layers, &sheet, &TargetSpec::new("potency_class")).expect("dataset");
    let data_bytes: usize = data
        .layers
        .iter()
        .map(|l| l.values().len() * (8 + std::mem::size_of::<evomics_core::ValueFlag>()))
        .sum();
    let config = TrainConfig::new(
        preprocess(),
        ModelSpec::ElasticNet(ElasticNetParams {
            alpha: 0.0,
            lambda: 0.5,
            ..Default::default()
        }),
        CvScheme::GroupKFold {
            k: 3,
            group: "donor_id".into(),
            repeats: 1,
            stratify: true,
        },
    );
    let observed = cross_validate(&data, &sheet, &config).expect("cv");
    let one_cv = {
        let r = Region::new(GLOBAL);
        let _ = cross_validate(&data, &sheet, &config).expect("cv");
        r.change().bytes_allocated
    };
    let per_perm = |n: usize| {
        let r = Region::new(GLOBAL);
        permutation_test_given(
            &observed,
            &data,
            &sheet,
            &config,
            n,
            &Permutation::Free,
            Runner::default(),
        )
        .expect("permutation test");
        r.change().bytes_allocated
    };
    let (b5, b10) = (per_perm(5), per_perm(10));
    let marginal = (b10 - b5) as f64 / 5.0;
    let copy = {
        let r = Region::new(GLOBAL);
        let copied = data.with_labels(data.labels.clone());
        let b = r.change().bytes_allocated;
        drop(copied);
        b
    };
    println!(
        "permutation test on the demo cohort ({} samples, {} + {} features): {marginal:.0} bytes allocated per permutation; one cross-validation allocates {one_cv} bytes; the feature data (values + flags) are {data_bytes} bytes and a Dataset::with_labels copy allocates {copy}",
        data.n_samples(),
        data.layers[0].n_features(),
        data.layers[1].n_features(),
    );
    let extra = marginal - one_cv as f64;
    println!(
        "  per permutation beyond its cross-validation: {extra:.0} bytes ({:.1} % of one copy of the data)",
        100.0 * extra / copy as f64
    );
}

/// A tab-separated matrix file (features × samples, first column the feature id) as an assay;
/// `zero_missing` reads 0 as a missing value (LFQ intensities).
fn read_matrix(path: &Path, name: &str, kind: LayerKind, scale: ValueScale) -> Assay {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines();
    let samples: Vec<String> = lines
        .next()
        .expect("header")
        .split('\t')
        .skip(1)
        .map(str::to_string)
        .collect();
    let mut ids = Vec::new();
    let mut cells: Vec<Option<f64>> = Vec::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let mut it = l.split('\t');
        ids.push(it.next().expect("id").to_string());
        for c in it {
            let v: f64 = c.parse().expect("number");
            cells.push(if scale == ValueScale::Linear && v == 0.0 {
                None
            } else {
                Some(v)
            });
        }
    }
    let cells = ndarray::Array2::from_shape_vec((ids.len(), samples.len()), cells)
        .expect("rectangular matrix");
    Assay::from_options(
        name,
        kind,
        scale,
        Features::new(ids).expect("ids"),
        samples,
        &cells,
    )
    .expect("assay")
}

/// The preprocessing of bench/configs/train-*.toml (the peer's): proteome valid-70 by source,
/// log2, median, down-shift imputation; miRNA TMM log-CPM; standardization.
fn l_preprocess() -> PreprocessConfig {
    let mut p = preprocess();
    p.layers.insert(
        "mirna".into(),
        toml::from_str(
            r#"transform = { method = "log_cpm", prior_count = 2.0, norm_factors = { method = "tmm" } }"#,
        )
        .expect("mirna pipeline"),
    );
    p
}

/// CPU seconds (user + system) of this process so far, from /proc/self/stat (0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesized command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0
}

/// The splits of the L design.
fn splits_of(data: &Dataset, sheet: &SampleSheet, cv: &CvScheme) -> Vec<evomics_ml::cv::Split> {
    let groups =
        evomics_ml::data::group_labels(sheet, "donor_id", &data.sample_ids).expect("groups");
    cv.splits(
        &data.labels,
        &data.classes,
        Some(&groups),
        evomics_core::rng::derive_seed(7, "cv"),
    )
    .expect("splits")
}

/// A checksum of the trees' splits and leaves (FNV-1a over their bits), to see that a change
/// to the split search grows the same forest.
fn trees_checksum(trees: &[evomics_ml::models::forest::Tree]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64;
    let mut mix = |v: u64| {
        for byte in v.to_le_bytes() {
            h = (h ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for t in trees {
        for node in &t.nodes {
            mix(u64::from(node.feature));
            mix(node.threshold.to_bits());
            mix(u64::from(node.left) << 32 | u64::from(node.right));
        }
        for v in &t.leaves {
            mix(v.to_bits());
        }
    }
    h
}

/// `EVOMICS_BENCH_L_QUICK`: the model fits alone on the first fold's preprocessed training
/// matrix (one fit each), for profiling the kernels at L size.
fn l_kernels(data: &Dataset, sheet: &SampleSheet, splits: &[evomics_ml::cv::Split]) {
    let s = &splits[0];
    let labels = data.labels.select(&s.train);
    let t = Instant::now();
    let (_, x) = l_preprocess()
        .fit(&data.layers, sheet, &s.train, &labels)
        .expect("preprocessing");
    println!(
        "fold 1 preprocessing: {:.1} s, {} x {}",
        t.elapsed().as_secs_f64(),
        x.nrows(),
        x.ncols()
    );
    // The forest's histogram bins of the fold's features, on one thread.
    let binning = ForestParams {
        n_threads: 1,
        ..Default::default()
    };
    let (t, c) = (Instant::now(), cpu_seconds());
    for _ in 0..3 {
        binning.prepare(x.view(), &labels).expect("bins");
    }
    println!(
        "forest binning, 1 thread: {:.3} s wall, {:.3} s CPU per fit",
        t.elapsed().as_secs_f64() / 3.0,
        (cpu_seconds() - c) / 3.0
    );
    let trees: usize = std::env::var("EVOMICS_BENCH_L_TREES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let mut models = vec![
        (
            "forest, histogram",
            ModelSpec::RandomForest(ForestParams {
                n_trees: trees,
                seed: 7,
                n_threads: 2,
                ..Default::default()
            }),
        ),
        (
            "elastic net, strong rules",
            ModelSpec::ElasticNet(ElasticNetParams {
                alpha: 0.5,
                lambda: 0.05,
                ..Default::default()
            }),
        ),
        (
            "elastic net, no screening",
            ModelSpec::ElasticNet(ElasticNetParams {
                alpha: 0.5,
                lambda: 0.05,
                screening: false,
                ..Default::default()
            }),
        ),
    ];
    if std::env::var("EVOMICS_BENCH_L_EXACT").is_ok() {
        models.push((
            "forest, exact",
            ModelSpec::RandomForest(ForestParams {
                n_trees: trees,
                seed: 7,
                n_threads: 2,
                splitter: Splitter::Exact,
                ..Default::default()
            }),
        ));
    }
    let only = std::env::var("EVOMICS_BENCH_L_ONLY").unwrap_or_default();
    for (name, m) in models {
        if !name.contains(only.as_str()) {
            continue;
        }
        let (t, c) = (Instant::now(), cpu_seconds());
        let fitted = m.fit(x.view(), &labels).expect("fit");
        let shape = match &fitted {
            evomics_ml::models::FittedModel::RandomForest(f) => format!(
                "; {:.0} nodes per tree; trees {:016x}",
                f.trees.iter().map(|t| t.nodes.len()).sum::<usize>() as f64 / f.trees.len() as f64,
                trees_checksum(&f.trees)
            ),
            _ => String::new(),
        };
        println!(
            "{name}: {:.2} s wall, {:.2} s CPU{shape}",
            t.elapsed().as_secs_f64(),
            cpu_seconds() - c
        );
    }
}

/// The L timings (see the module docs).
fn l_cohort(dir: &Path) {
    let t0 = Instant::now();
    let sheet_text = std::fs::read_to_string(dir.join("samples.tsv")).expect("samples.tsv");
    let mut lines = sheet_text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let rows: Vec<Vec<&str>> = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').collect())
        .collect();
    let sheet = SampleSheet::from_text_columns(
        rows.iter().map(|r| r[0].to_string()).collect(),
        header[1..]
            .iter()
            .enumerate()
            .map(|(c, h)| {
                (
                    h.to_string(),
                    rows.iter().map(|r| Some(r[c + 1].to_string())).collect(),
                )
            })
            .collect(),
    )
    .expect("sheet");
    let prot = read_matrix(
        &dir.join("proteins_lfq.tsv"),
        "proteome",
        LayerKind::Proteome,
        ValueScale::Linear,
    );
    let mir = read_matrix(
        &dir.join("mirna_counts.tsv"),
        "mirna",
        LayerKind::Mirna,
        ValueScale::Counts,
    );
    let target = TargetSpec {
        column: "potency_class".into(),
        kind: Default::default(),
        classes: Some(vec!["low".into(), "high".into()]),
    };
    let data = Dataset::assemble(&[&prot, &mir], &sheet, &target).expect("dataset");
    drop((prot, mir));
    println!(
        "L cohort read in {:.1} s: {} samples",
        t0.elapsed().as_secs_f64(),
        data.n_samples()
    );
    let cv = CvScheme::GroupKFold {
        k: 5,
        group: "donor_id".into(),
        repeats: 1,
        stratify: true,
    };
    let config = |model| TrainConfig {
        seed: 7,
        ..TrainConfig::new(l_preprocess(), model, cv.clone())
    };
    if std::env::var("EVOMICS_BENCH_L_QUICK").is_ok() {
        l_kernels(&data, &sheet, &splits_of(&data, &sheet, &cv));
        return;
    }
    // Preprocessing alone: the folds of the design, fitted and applied as the CV does (in
    // parallel, as cross_validate runs its folds).
    let c = config(ModelSpec::Knn(Default::default()));
    let groups =
        evomics_ml::data::group_labels(&sheet, "donor_id", &data.sample_ids).expect("groups");
    let splits = cv
        .splits(
            &data.labels,
            &data.classes,
            Some(&groups),
            evomics_core::rng::derive_seed(7, "cv"),
        )
        .expect("splits");
    let t = Instant::now();
    {
        use rayon::prelude::*;
        splits.par_iter().for_each(|s| {
            let (fp, _) = c
                .preprocess
                .fit(
                    &data.layers,
                    &sheet,
                    &s.train,
                    &data.labels.select(&s.train),
                )
                .expect("fit");
            fp.transform(&data.layers, &sheet, &s.test)
                .expect("transform");
        });
    }
    let t_pre = t.elapsed().as_secs_f64();
    println!("preprocessing of the 5 folds (fit + test transform): {t_pre:.1} s");
    let enet = ModelSpec::ElasticNet(ElasticNetParams {
        alpha: 0.5,
        lambda: 0.05,
        ..Default::default()
    });
    let forest = ModelSpec::RandomForest(ForestParams {
        n_trees: 500,
        seed: 7,
        n_threads: 2,
        ..Default::default()
    });
    let mut aucs = Vec::new();
    for (name, model) in [
        ("elastic net", enet.clone()),
        ("forest 500", forest.clone()),
    ] {
        let t = Instant::now();
        let r = cross_validate(&data, &sheet, &config(model)).expect("cv");
        let s = t.elapsed().as_secs_f64();
        let auc = r.pooled_primary().unwrap_or(f64::NAN);
        aucs.push(auc);
        println!(
            "CV {name}: {s:.1} s wall (of which preprocessing ≈ {t_pre:.1} s, model ≈ {:.1} s); pooled ROC AUC {auc:.4}",
            s - t_pre
        );
    }
    if std::env::var("EVOMICS_BENCH_L_EXACT").is_ok() {
        let exact = ModelSpec::RandomForest(ForestParams {
            n_trees: 500,
            seed: 7,
            n_threads: 2,
            splitter: Splitter::Exact,
            ..Default::default()
        });
        let t = Instant::now();
        let r = cross_validate(&data, &sheet, &config(exact)).expect("cv");
        let auc = r.pooled_primary().unwrap_or(f64::NAN);
        println!(
            "CV forest 500, exact splitter: {:.1} s; pooled ROC AUC {auc:.4} (histogram − exact: {:+.4})",
            t.elapsed().as_secs_f64(),
            aucs[1] - auc
        );
    }
    let multi = MultiTrainConfig {
        preprocess: l_preprocess(),
        models: vec![
            ModelEntry {
                name: "enet".into(),
                model: enet,
                tuning: None,
            },
            ModelEntry {
                name: "forest".into(),
                model: forest,
                tuning: None,
            },
        ],
        cv,
        seed: 7,
        permutation_importance: 0,
        top_features: 20,
        conformal_alpha: 0.1,
        choose: ModelChoice::Primary,
    };
    let t = Instant::now();
    let r = cross_validate_models(&data, &sheet, &multi).expect("cv");
    println!(
        "CV of both models on shared folds (one preprocessing per fold): {:.1} s; AUCs {:.4} / {:.4}",
        t.elapsed().as_secs_f64(),
        r.reports[0].pooled_primary().unwrap_or(f64::NAN),
        r.reports[1].pooled_primary().unwrap_or(f64::NAN)
    );
}

criterion_group!(benches, bench);

fn main() {
    if let Ok(dir) = std::env::var("EVOMICS_BENCH_L") {
        l_cohort(Path::new(&dir));
        return;
    }
    permutation_bytes();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
