//! k-means, PCA and the cross-validated potency models on moderate sizes, so that
//! `cargo bench -p evomics-ml --bench ml` runs in seconds per benchmark:
//!
//! - k-means (k = 6, 10 k-means++ starts, Hartigan–Wong) and PCA on 300 samples × 2,000
//!   standardized features with six planted clusters (the M cohort's shape, fewer features);
//! - 5-fold donor-grouped CV (preprocessing fitted inside every fold: valid-70 by source, log2,
//!   median, MinProb down-shift; miRNA TMM log-CPM; standardization) of an elastic-net logistic
//!   model and of a 500-tree random forest (2 threads), on a simulated cohort of 120 EV
//!   preparations × (400 proteins + 150 miRNAs).

// criterion_group! generates a public function that cannot carry a doc comment
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use evomics_core::{LayerKind, ValueScale};
use evomics_ml::cluster::kmeans::KMeansParams;
use evomics_ml::cv::CvScheme;
use evomics_ml::data::{Dataset, TargetSpec};
use evomics_ml::evaluate::{cross_validate, TrainConfig};
use evomics_ml::models::{ElasticNetParams, ForestParams, ModelSpec};
use evomics_ml::pca::PcaParams;
use evomics_ml::preprocess::{PreprocessConfig, Scaling};
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
    let config = TrainConfig::new(preprocess(), enet, cv.clone());
    group.bench_function("elastic-net logistic", |b| {
        b.iter(|| cross_validate(&data, &sheet, &config).expect("cv"))
    });
    let forest = ModelSpec::RandomForest(ForestParams {
        n_trees: 500,
        n_threads: 2,
        seed: 7,
        ..Default::default()
    });
    let config = TrainConfig::new(preprocess(), forest, cv);
    group.bench_function("random forest, 500 trees, 2 threads", |b| {
        b.iter(|| cross_validate(&data, &sheet, &config).expect("cv"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
