//! lmFit + eBayes at the peers' L size: 10,000 features × 2,000 samples, 20% of values missing
//! at random, with the oracle's two designs (`~0 + source` with 5 contrasts, and
//! `~0 + potency_class` with one). Compare with R limma's 11.1 s / 5.5 s for the same sizes
//! (shared/peers/README.md).
//!
//! Donor blocking on the L proteome: the peers' L cohort (`gen_synthetic.py --seed 20240601
//! --features 10000 --samples 2000 --mirnas 5000`), its `proteins_log2.tsv` after the valid-70
//! filter (7,913 × 2,000, NA kept), `~ 0 + source`, the 5 source contrasts, `block = donor_id`
//! (35 donors): `duplicateCorrelation`, the blocked `lmFit` + `eBayes`, and the two together
//! (what `diff --block donor_id` computes; target ≤ 5 s on the 2-core machine class). The cohort
//! is read from `$EVOMICS_BENCH_DATA/L` (default `/tmp/evomics-bench/data/L`, where
//! `bench/e2e.sh … L` generates it; see bench/README.md). Without it, a simulated cohort of the
//! same shape (7,913 × 2,000, 35 donors nested in 6 sources, ~13% missing) is used and the bench
//! says so.
//!
//! Run: `cargo bench -p evomics-stats --bench limma` (`-- block` for the blocking group only).

// criterion_group! generates a public function that cannot carry a doc comment
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use evomics_core::{Assay, Features, LayerKind, SampleSheet, ValueFlag, ValueScale};
use evomics_stats::{
    duplicate_correlation, lm_fit, Block, Contrasts, Design, DesignOptions, EbayesOptions,
    LimmaResult, LmFit,
};
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

/// The L proteome (valid-70 filtered, NA kept) and its sheet, or a simulated cohort of the same
/// shape; the label says which.
fn blocked_cohort() -> (SampleSheet, Assay, String) {
    let dir =
        std::env::var("EVOMICS_BENCH_DATA").unwrap_or_else(|_| "/tmp/evomics-bench/data".into());
    let dir = std::path::Path::new(&dir).join("L");
    match read_l(&dir) {
        Some((sheet, assay)) => {
            let label = format!(
                "L proteome valid-70 {} x {}",
                assay.n_features(),
                assay.n_samples()
            );
            (sheet, assay, label)
        }
        None => {
            eprintln!(
                "limma bench: no L cohort in {} (generate it with bench/e2e.sh --stages ingest L, or \
                 gen_synthetic.py --seed 20240601 --features 10000 --samples 2000 --mirnas 5000 --out DIR); \
                 using a simulated cohort of the same shape",
                dir.display()
            );
            let (sheet, assay) = simulated_l();
            let label = format!("simulated {} x {}", assay.n_features(), assay.n_samples());
            (sheet, assay, label)
        }
    }
}

fn read_l(dir: &std::path::Path) -> Option<(SampleSheet, Assay)> {
    let samples = std::fs::read_to_string(dir.join("samples.tsv")).ok()?;
    let mut lines = samples.lines();
    let header: Vec<&str> = lines.next()?.split('\t').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    let ids: Vec<String> = rows.iter().map(|r| r[0].to_string()).collect();
    let cols = header[1..]
        .iter()
        .enumerate()
        .map(|(k, h)| {
            (
                h.to_string(),
                rows.iter().map(|r| Some(r[k + 1].to_string())).collect(),
            )
        })
        .collect();
    let sheet = SampleSheet::from_text_columns(ids.clone(), cols).ok()?;
    let src_col = header.iter().position(|h| *h == "source")?;
    let source: Vec<&str> = rows.iter().map(|r| r[src_col]).collect();
    let text = std::fs::read_to_string(dir.join("proteins_log2.tsv")).ok()?;
    let mut lines = text.lines();
    let cols: Vec<&str> = lines.next()?.split('\t').collect();
    if cols[1..] != ids.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        return None;
    }
    let n = ids.len();
    let groups: Vec<&str> = SOURCES.to_vec();
    let size: Vec<usize> = groups
        .iter()
        .map(|g| source.iter().filter(|s| *s == g).count())
        .collect();
    let (mut fids, mut values, mut flags) = (Vec::new(), Vec::new(), Vec::new());
    for line in lines {
        let mut it = line.split('\t');
        let id = it.next()?;
        let v: Vec<Option<f64>> = it.map(|c| c.parse::<f64>().ok()).collect();
        if v.len() != n {
            return None;
        }
        // valid-70: at least 70% values in at least one source
        let keep = groups.iter().zip(&size).any(|(g, &m)| {
            let k = (0..n)
                .filter(|&j| source[j] == *g && v[j].is_some())
                .count();
            10 * k >= 7 * m
        });
        if keep {
            fids.push(id.to_string());
            for x in &v {
                values.push(x.unwrap_or(f64::NAN));
                flags.push(if x.is_some() {
                    ValueFlag::Observed
                } else {
                    ValueFlag::Missing
                });
            }
        }
    }
    let g = fids.len();
    let assay = Assay::new(
        "proteome",
        LayerKind::Proteome,
        ValueScale::Log2,
        Features::new(fids).ok()?,
        ids,
        Array2::from_shape_vec((g, n), values).ok()?,
        Array2::from_shape_vec((g, n), flags).ok()?,
    )
    .ok()?;
    Some((sheet, assay))
}

/// 7,913 × 2,000, 35 donors nested in the 6 sources, donor effects, ~13% missing.
fn simulated_l() -> (SampleSheet, Assay) {
    let (g, n, donors) = (7913, SAMPLES, 35);
    let mut rng = evomics_core::rng::seeded(20240601);
    let ids: Vec<String> = (0..n).map(|j| format!("EV{j:05}")).collect();
    let donor_of = |j: usize| j * donors / n;
    let source: Vec<Option<String>> = (0..n)
        .map(|j| Some(SOURCES[donor_of(j) * 6 / donors].to_string()))
        .collect();
    let donor: Vec<Option<String>> = (0..n)
        .map(|j| Some(format!("D{:02}", donor_of(j))))
        .collect();
    let sheet = SampleSheet::from_text_columns(
        ids.clone(),
        vec![("source".into(), source), ("donor_id".into(), donor)],
    )
    .expect("sheet");
    let mut values = Array2::from_elem((g, n), f64::NAN);
    let mut flags = Array2::from_elem((g, n), ValueFlag::Missing);
    for i in 0..g {
        let base: f64 = rng.gen_range(20.0..32.0);
        let eff: Vec<f64> = (0..donors)
            .map(|_| (rng.gen::<f64>() - 0.5) * 0.8)
            .collect();
        for j in 0..n {
            if rng.gen::<f64>() >= 0.13 {
                let e: f64 = (0..4).map(|_| rng.gen::<f64>() - 0.5).sum::<f64>() * 0.7;
                values[[i, j]] = base + eff[donor_of(j)] + e;
                flags[[i, j]] = ValueFlag::Observed;
            }
        }
    }
    let assay = Assay::new(
        "proteome",
        LayerKind::Proteome,
        ValueScale::Log2,
        Features::new((0..g).map(|i| format!("P{i:05}")).collect()).expect("features"),
        ids,
        values,
        flags,
    )
    .expect("assay");
    (sheet, assay)
}

fn bench_block(c: &mut Criterion) {
    let (sheet, assay, label) = blocked_cohort();
    let design =
        Design::from_formula(&sheet, "~ 0 + source", &DesignOptions::default()).expect("design");
    let specs: Vec<String> = ["ADSC", "UC_MSC", "iMSC", "DPSC", "SYN_MSC"]
        .iter()
        .map(|s| format!("{s} - BM_MSC"))
        .collect();
    let contrasts = Contrasts::parse(&design, &specs).expect("contrasts");
    let block = Block::from_sheet(&sheet, "donor_id", &design).expect("block");
    let rho = duplicate_correlation(&assay, &design, &block, None).expect("duplicateCorrelation");
    let fixed = Block {
        correlation: Some(rho),
        ..block.clone()
    };
    let mut group = c.benchmark_group(format!("block donor_id, {label}, ~0 + source"));
    group.sample_size(10);
    group.bench_function("duplicateCorrelation", |b| {
        b.iter(|| {
            duplicate_correlation(&assay, &design, &block, None).expect("duplicateCorrelation")
        })
    });
    group.bench_function("blocked lmFit + eBayes, 5 contrasts", |b| {
        b.iter(|| {
            lm_fit(&assay, &design, None, Some(&fixed))
                .expect("fit")
                .moderate(&contrasts, &EbayesOptions::default())
                .expect("eBayes")
        })
    });
    group.bench_function(
        "duplicateCorrelation + blocked lmFit + eBayes (diff --block)",
        |b| {
            b.iter(|| {
                lm_fit(&assay, &design, None, Some(&block))
                    .expect("fit")
                    .moderate(&contrasts, &EbayesOptions::default())
                    .expect("eBayes")
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench, bench_block);
criterion_main!(benches);
