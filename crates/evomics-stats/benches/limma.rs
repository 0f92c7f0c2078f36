//! lmFit + eBayes at the peers' L size: 10,000 features × 2,000 samples, 20% of values missing
//! at random, with the oracle's two designs (`~0 + source` with 5 contrasts, and
//! `~0 + potency_class` with one). Compare with R limma's 11.1 s / 5.5 s for the same sizes
//! (shared/peers/README.md). Run: `cargo bench -p evomics-stats --bench limma`.

// criterion_group! generates a public function that cannot carry a doc comment
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use evomics_core::{Assay, Features, LayerKind, SampleSheet, ValueFlag, ValueScale};
use evomics_stats::{lm_fit, Contrasts, Design, DesignOptions, EbayesOptions, LimmaResult, LmFit};
use ndarray::Array2;
use rand::Rng;

const FEATURES: usize = 10_000;
const SAMPLES: usize = 2_000;
const MISSING: f64 = 0.2;
const SOURCES: [&str; 6] = ["BM-MSC", "ADSC", "UC-MSC", "iMSC", "DPSC", "SYN-MSC"];

fn cohort() -> (SampleSheet, Assay) {
    let mut rng = evomics_core::rng::seeded(20240601);
    let ids: Vec<String> = (0..SAMPLES).map(|j| format!("EV{j:05}")).collect();
    let source: Vec<Option<String>> = (0..SAMPLES)
        .map(|j| Some(SOURCES[j % 6].to_string()))
        .collect();
    let class: Vec<Option<String>> = (0..SAMPLES)
        .map(|j| Some(if (j / 6) % 2 == 0 { "high" } else { "low" }.to_string()))
        .collect();
    let sheet = SampleSheet::from_text_columns(
        ids.clone(),
        vec![("source".into(), source), ("potency_class".into(), class)],
    )
    .expect("sheet");
    let mut values = Array2::from_elem((FEATURES, SAMPLES), f64::NAN);
    let mut flags = Array2::from_elem((FEATURES, SAMPLES), ValueFlag::Missing);
    for i in 0..FEATURES {
        let base: f64 = rng.gen_range(20.0..32.0);
        let sd: f64 = rng.gen_range(0.3..1.2);
        for j in 0..SAMPLES {
            if rng.gen::<f64>() >= MISSING {
                // sum of uniforms: cheap, roughly normal noise
                let e: f64 = (0..4).map(|_| rng.gen::<f64>() - 0.5).sum::<f64>() * sd;
                values[[i, j]] = base + e;
                flags[[i, j]] = ValueFlag::Observed;
            }
        }
    }
    let assay = Assay::new(
        "proteome",
        LayerKind::Proteome,
        ValueScale::Log2,
        Features::new((0..FEATURES).map(|i| format!("P{i:05}")).collect()).expect("features"),
        ids,
        values,
        flags,
    )
    .expect("assay");
    (sheet, assay)
}

fn bench(c: &mut Criterion) {
    let (sheet, assay) = cohort();
    let mut group = c.benchmark_group("lmFit + eBayes 10000x2000, 20% missing");
    group.sample_size(10);

    let design =
        Design::from_formula(&sheet, "~ 0 + source", &DesignOptions::default()).expect("design");
    let specs: Vec<String> = ["ADSC", "UC_MSC", "iMSC", "DPSC", "SYN_MSC"]
        .iter()
        .map(|s| format!("{s} - BM_MSC"))
        .collect();
    let contrasts = Contrasts::parse(&design, &specs).expect("contrasts");
    group.bench_function("source design, 5 contrasts", |b| {
        b.iter(|| {
            let fit = lm_fit(&assay, &design, None, None).expect("fit");
            fit.moderate(&contrasts, &EbayesOptions::default())
                .expect("eBayes")
        })
    });

    // what the R oracle's timed limma step does: one lmFit and contrasts.fit, then the four
    // eBayes variants (default, trend, robust, trend + robust) with their tables
    group.bench_function("source design, 5 contrasts, 4 eBayes variants", |b| {
        b.iter(|| {
            let fit = lm_fit(&assay, &design, None, None).expect("fit");
            four_variants(&fit, &contrasts)
        })
    });

    let design = Design::from_formula(&sheet, "~ 0 + potency_class", &DesignOptions::default())
        .expect("design");
    let contrasts = Contrasts::parse(&design, &["high - low"]).expect("contrasts");
    group.bench_function("potency design, 1 contrast", |b| {
        b.iter(|| {
            let fit = lm_fit(&assay, &design, None, None).expect("fit");
            fit.moderate(&contrasts, &EbayesOptions::default())
                .expect("eBayes")
        })
    });
    group.bench_function("potency design, 1 contrast, 4 eBayes variants", |b| {
        b.iter(|| {
            let fit = lm_fit(&assay, &design, None, None).expect("fit");
            four_variants(&fit, &contrasts)
        })
    });
    group.finish();
}

fn four_variants(fit: &LmFit, contrasts: &Contrasts) -> Vec<LimmaResult> {
    [(false, false), (true, false), (false, true), (true, true)]
        .into_iter()
        .map(|(trend, robust)| {
            let o = EbayesOptions {
                trend,
                robust,
                ..Default::default()
            };
            fit.moderate(contrasts, &o).expect("eBayes")
        })
        .collect()
}

criterion_group!(benches, bench);
criterion_main!(benches);
