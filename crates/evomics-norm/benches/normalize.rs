//! The proteome pipeline of the peers and of `bench/e2e.sh` — Perseus 70 % valid values by
//! source, log2, median centring, MinProb-style down-shift imputation — fitted and applied on a
//! generated LFQ-like layer: 4,000 proteins × 250 samples, intensity-dependent (MNAR) plus 5%
//! random missingness. Also median + MinProb alone on the log2 layer, and log2 alone (one
//! whole-layer cell pass). One iteration takes well
//! under a second (`cargo bench -p evomics-norm --bench normalize`); time grows linearly with
//! the cells, so the L layer (10,000 × 2,000) takes about 20× one iteration.
//!
//! And the miRNA recipe of the peers and of `bench/e2e.sh`, edgeR TMM factors and log-CPM
//! (`prior_count = 2`), on a generated small-RNA count layer of the size of an L training fold
//! (5,000 miRNAs × 1,600 samples; most counts small, a tenth zero, libraries of 0.1–5 M reads).

// criterion_group! generates a public function that cannot carry a doc comment
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use evomics_core::{Assay, Features, LayerKind, SampleSheet, ValueFlag, ValueScale};
use evomics_norm::NormalizeConfig;
use ndarray::Array2;
use rand::Rng;

const FEATURES: usize = 4_000;
const SAMPLES: usize = 250;
const SOURCES: [&str; 6] = ["BM-MSC", "ADSC", "UC-MSC", "iMSC", "DPSC", "SYN-MSC"];

fn cohort(scale: ValueScale, features: usize, samples: usize) -> (SampleSheet, Assay) {
    let mut rng = evomics_core::rng::seeded(20240601);
    let ids: Vec<String> = (0..samples).map(|j| format!("EV{j:05}")).collect();
    let source: Vec<Option<String>> = (0..samples)
        .map(|j| Some(SOURCES[j % 6].to_string()))
        .collect();
    let sheet = SampleSheet::from_text_columns(ids.clone(), vec![("source".into(), source)])
        .expect("sheet");
    let mut values = Array2::from_elem((features, samples), f64::NAN);
    let mut flags = Array2::from_elem((features, samples), ValueFlag::Missing);
    for i in 0..features {
        let base: f64 = rng.gen_range(18.0..32.0);
        for j in 0..samples {
            let log2 = base + (0..4).map(|_| rng.gen::<f64>() - 0.5).sum::<f64>();
            // detection limit around 22 (MNAR) plus 5% missing at random
            let p_missing = 1.0 / (1.0 + (2.0 * (log2 - 22.0)).exp()) + 0.05;
            if rng.gen::<f64>() >= p_missing {
                values[[i, j]] = match scale {
                    ValueScale::Log2 => log2,
                    _ => log2.exp2(),
                };
                flags[[i, j]] = ValueFlag::Observed;
            }
        }
    }
    let assay = Assay::new(
        "proteome",
        LayerKind::Proteome,
        scale,
        Features::new((0..features).map(|i| format!("P{i:05}")).collect()).expect("features"),
        ids,
        values,
        flags,
    )
    .expect("assay");
    (sheet, assay)
}

/// A count layer: per-miRNA mean abundance spread over five orders of magnitude, per-sample
/// library sizes over 1.5 orders, Poisson-like noise.
fn counts(features: usize, samples: usize) -> (SampleSheet, Assay) {
    let mut rng = evomics_core::rng::seeded(20240602);
    let ids: Vec<String> = (0..samples).map(|j| format!("EV{j:05}")).collect();
    let sheet = SampleSheet::from_text_columns(ids.clone(), Vec::new()).expect("sheet");
    let lib: Vec<f64> = (0..samples)
        .map(|_| 10f64.powf(rng.gen_range(-0.3..1.2)))
        .collect();
    let mut values = Array2::zeros((features, samples));
    for i in 0..features {
        let base: f64 = rng.gen_range(-3.0..8.0);
        for j in 0..samples {
            let mean = (base + rng.gen_range(-0.5..0.5)).exp() * lib[j];
            // a normal approximation of Poisson noise, floored at zero
            let noise = (0..4).map(|_| rng.gen::<f64>() - 0.5).sum::<f64>() * 1.7;
            values[[i, j]] = (mean + noise * mean.sqrt()).round().max(0.0);
        }
    }
    let flags = Array2::from_elem((features, samples), ValueFlag::Observed);
    let assay = Assay::new(
        "mirna",
        LayerKind::Mirna,
        ValueScale::Counts,
        Features::new((0..features).map(|i| format!("M{i:05}")).collect()).expect("features"),
        ids,
        values,
        flags,
    )
    .expect("assay");
    (sheet, assay)
}

fn config(text: &str) -> NormalizeConfig {
    toml::from_str(text).expect("normalize config")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("normalize {FEATURES}x{SAMPLES}"));
    group.sample_size(10);

    let (sheet, linear) = cohort(ValueScale::Linear, FEATURES, SAMPLES);
    let peer = config(
        r#"
        filters = [{ method = "valid_values", column = "source", min_fraction = 0.7 }]
        transform = { method = "log2" }
        normalization = { method = "median" }
        imputation = { method = "down_shift", width = 0.3, shift = 1.8, seed = 7 }
        "#,
    );
    group.bench_function("valid70 + log2 + median + MinProb, fit_transform", |b| {
        b.iter(|| peer.fit_transform(&linear, &sheet).expect("pipeline"))
    });
    let fitted = peer.fit(&linear, &sheet).expect("fit");
    group.bench_function(
        "valid70 + log2 + median + MinProb, transform (fitted)",
        |b| b.iter(|| fitted.transform(&linear, &sheet).expect("transform")),
    );

    // One whole-layer cell pass (evomics_core::cells: row blocks on rayon's workers) and the
    // NaN pass and check of the rewrite after it.
    let log2_only = config(r#"transform = { method = "log2" }"#);
    group.bench_function("log2 alone, fit_transform", |b| {
        b.iter(|| log2_only.fit_transform(&linear, &sheet).expect("log2"))
    });

    let (sheet, log2) = cohort(ValueScale::Log2, FEATURES, SAMPLES);
    let median_minprob = config(
        r#"
        normalization = { method = "median" }
        imputation = { method = "down_shift", width = 0.3, shift = 1.8, seed = 7 }
        "#,
    );
    group.bench_function("median + MinProb on log2, fit_transform", |b| {
        b.iter(|| {
            median_minprob
                .fit_transform(&log2, &sheet)
                .expect("pipeline")
        })
    });
    group.finish();

    // An L training fold's proteome (the bench pipeline's `train.preprocess.proteome`).
    let (sheet, proteome) = cohort(ValueScale::Linear, 10_000, 1_600);
    let mut group = c.benchmark_group("normalize proteome 10000x1600");
    group.sample_size(10);
    group.bench_function("valid70 + log2 + median + MinProb, fit_transform", |b| {
        b.iter(|| peer.fit_transform(&proteome, &sheet).expect("pipeline"))
    });
    group.finish();

    let (sheet, mirna) = counts(5_000, 1_600);
    let mut group = c.benchmark_group("normalize mirna 5000x1600");
    group.sample_size(10);
    let log_cpm = config(
        r#"transform = { method = "log_cpm", prior_count = 2.0, norm_factors = { method = "tmm" } }"#,
    );
    group.bench_function("TMM + log-CPM, fit_transform", |b| {
        b.iter(|| log_cpm.fit_transform(&mirna, &sheet).expect("log-CPM"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
