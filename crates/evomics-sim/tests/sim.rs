//! Integration tests of the simulator: determinism, consistency of data, truth and summary, and
//! the properties the generative model promises (docs/simulator.md).

use std::collections::{BTreeMap, BTreeSet};

use evomics_core::num::{self, mean};
use evomics_core::{Assay, ColumnValues, SampleSheet, ValueFlag};
use evomics_sim::catalog::{CONTAMINANT_MARKERS, EV_MARKERS};
use evomics_sim::{
    simulate, BiofluidContamination, FeatureCategory, MissingCause, SimCohort, SimError, SimParams,
    MIRNA_LAYER, PROTEOME_LAYER,
};
use proptest::prelude::*;

fn bits(a: &Assay) -> Vec<u64> {
    a.values().iter().map(|v| v.to_bits()).collect()
}

fn text_col(c: &SimCohort, name: &str) -> Vec<String> {
    match &c.experiment.samples().column(name).unwrap().values {
        ColumnValues::Text(v) => v.iter().map(|x| x.clone().unwrap()).collect(),
        other => panic!("{name} is not text: {other:?}"),
    }
}

fn num_col(c: &SimCohort, name: &str) -> Vec<f64> {
    match &c.experiment.samples().column(name).unwrap().values {
        ColumnValues::Numeric(v) => v.iter().map(|x| x.unwrap()).collect(),
        other => panic!("{name} is not numeric: {other:?}"),
    }
}

/// R's `cor(x, y)`, NaN where R gives `NA` (so a comparison with it fails).
fn pearson(x: &[f64], y: &[f64]) -> f64 {
    num::pearson(x, y).unwrap_or(f64::NAN)
}

/// R's `cor(x, y, method = "spearman")`, NaN where R gives `NA`.
fn spearman(x: &[f64], y: &[f64]) -> f64 {
    num::spearman(x, y).unwrap_or(f64::NAN)
}

/// A cohort with many samples and few features, for properties that need sample size.
fn wide() -> SimParams {
    SimParams {
        n_samples: 300,
        n_proteins: 120,
        n_mirnas: 60,
        donors_per_source: [7, 12],
        preps_per_donor: [3, 8],
        n_batches: 8,
        ..SimParams::default()
    }
}

#[test]
fn same_seed_gives_identical_cohort() {
    let p = SimParams::small();
    let a = simulate(&p).unwrap();
    let b = simulate(&p).unwrap();
    for layer in [PROTEOME_LAYER, MIRNA_LAYER] {
        let (la, lb) = (
            a.experiment.layer(layer).unwrap(),
            b.experiment.layer(layer).unwrap(),
        );
        assert_eq!(bits(la), bits(lb), "{layer} values differ");
        assert_eq!(la.flags(), lb.flags());
        assert_eq!(la.features(), lb.features());
    }
    assert_eq!(a.experiment.samples(), b.experiment.samples());
    assert_eq!(a.truth, b.truth);
    assert_eq!(a.summary, b.summary);
    for (ta, tb) in a.truth.tables().iter().zip(b.truth.tables()) {
        assert_eq!(ta.to_tsv(), tb.to_tsv());
    }
}

#[test]
fn different_seeds_differ() {
    let a = simulate(&SimParams::small()).unwrap();
    let b = simulate(&SimParams {
        seed: 7,
        ..SimParams::small()
    })
    .unwrap();
    for layer in [PROTEOME_LAYER, MIRNA_LAYER] {
        assert_ne!(
            bits(a.experiment.layer(layer).unwrap()),
            bits(b.experiment.layer(layer).unwrap())
        );
    }
    assert_ne!(num_col(&a, "potency_score"), num_col(&b, "potency_score"));
}

#[test]
fn a_layers_size_does_not_move_the_other_layer() {
    let base = simulate(&SimParams::small()).unwrap();
    let more_mirnas = simulate(&SimParams {
        n_mirnas: 400,
        ..SimParams::small()
    })
    .unwrap();
    let more_proteins = simulate(&SimParams {
        n_proteins: 700,
        ..SimParams::small()
    })
    .unwrap();
    assert_eq!(
        bits(base.experiment.layer(PROTEOME_LAYER).unwrap()),
        bits(more_mirnas.experiment.layer(PROTEOME_LAYER).unwrap())
    );
    assert_eq!(
        bits(base.experiment.layer(MIRNA_LAYER).unwrap()),
        bits(more_proteins.experiment.layer(MIRNA_LAYER).unwrap())
    );
    // The design does not depend on feature counts either.
    for col in ["source", "donor_id", "batch", "conditioning"] {
        assert_eq!(text_col(&base, col), text_col(&more_mirnas, col));
    }
}

#[test]
fn summary_counts_equal_flag_counts() {
    for p in [SimParams::small(), SimParams::default()] {
        let c = simulate(&p).unwrap();
        for layer in [PROTEOME_LAYER, MIRNA_LAYER] {
            let a = c.experiment.layer(layer).unwrap();
            let fc = a.flag_counts();
            let s = c.summary.layer(layer).unwrap();
            assert_eq!(
                (s.observed, s.missing),
                (fc.observed, fc.missing),
                "{layer}"
            );
            assert_eq!(s.n_features * s.n_samples, fc.total());
            assert_eq!(s.mnar_missing + s.mar_missing, s.missing);
            assert!((s.missing_fraction - fc.missing as f64 / fc.total() as f64).abs() < 1e-15);
        }
        let causes = &c.truth.proteome_missing_cause;
        let prot = c.experiment.layer(PROTEOME_LAYER).unwrap();
        let s = c.summary.layer(PROTEOME_LAYER).unwrap();
        assert_eq!(
            causes.iter().filter(|&&x| x == MissingCause::Mnar).count(),
            s.mnar_missing
        );
        for (cause, flag) in causes.iter().zip(prot.flags()) {
            assert_eq!(
                *cause == MissingCause::Observed,
                *flag == ValueFlag::Observed
            );
        }
        assert_eq!(c.summary.n_samples, c.experiment.samples().len());
    }
}

#[test]
fn missing_cells_are_flagged_never_zero() {
    let c = simulate(&SimParams::default()).unwrap();
    let prot = c.experiment.layer(PROTEOME_LAYER).unwrap();
    let s = c.summary.layer(PROTEOME_LAYER).unwrap();
    assert!(
        s.missing_fraction > 0.05 && s.missing_fraction < 0.4,
        "{s:?}"
    );
    assert!(s.mnar_missing > s.mar_missing);
    for (v, f) in prot.values().iter().zip(prot.flags()) {
        match f {
            ValueFlag::Observed => assert!(v.is_finite() && *v > 0.0),
            ValueFlag::Missing => assert!(v.is_nan()),
            other => panic!("unexpected flag {other:?}"),
        }
    }
    let mir = c.experiment.layer(MIRNA_LAYER).unwrap();
    assert!(mir.flags().iter().all(|&f| f == ValueFlag::Observed));
    assert!(mir
        .values()
        .iter()
        .all(|&v| v >= 0.0 && v.fract() == 0.0 && v.is_finite()));
    let zeros = mir.values().iter().filter(|&&v| v == 0.0).count();
    assert!(zeros > 0, "0 is an observed miRNA count and should occur");
    assert_eq!(zeros, c.summary.layer(MIRNA_LAYER).unwrap().zero_count);
}

#[test]
fn missingness_depends_on_intensity() {
    let c = simulate(&SimParams::default()).unwrap();
    let feats = c.truth.layer_features(PROTEOME_LAYER);
    let base: Vec<f64> = feats.iter().map(|f| f.base_log2).collect();
    let miss: Vec<f64> = feats.iter().map(|f| f.missing_fraction).collect();
    let rho = spearman(&base, &miss);
    assert!(rho < -0.6, "Spearman(base abundance, missing rate) = {rho}");
    // The lowest-abundance quintile misses far more than the highest.
    let mut order: Vec<usize> = (0..base.len()).collect();
    order.sort_by(|&a, &b| base[a].total_cmp(&base[b]));
    let q = base.len() / 5;
    let low = mean(&order[..q].iter().map(|&i| miss[i]).collect::<Vec<_>>());
    let high = mean(
        &order[base.len() - q..]
            .iter()
            .map(|&i| miss[i])
            .collect::<Vec<_>>(),
    );
    assert!(low > 0.4 && high < 0.05, "low {low}, high {high}");
    // Missing-rate truth matches the flags.
    let prot = c.experiment.layer(PROTEOME_LAYER).unwrap();
    for (i, f) in feats.iter().enumerate() {
        let m = prot
            .flags()
            .row(i)
            .iter()
            .filter(|&&x| x == ValueFlag::Missing)
            .count();
        assert_eq!(m as f64 / prot.n_samples() as f64, f.missing_fraction);
    }
}

#[test]
fn ev_markers_are_almost_always_observed() {
    for seed in [1, 2, 3, 20240601] {
        let c = simulate(&SimParams {
            seed,
            ..SimParams::small()
        })
        .unwrap();
        let prot = c.experiment.layer(PROTEOME_LAYER).unwrap();
        for m in EV_MARKERS {
            let i = prot.features().position(m).unwrap();
            let obs = prot
                .flags()
                .row(i)
                .iter()
                .filter(|&&f| f == ValueFlag::Observed)
                .count();
            let share = obs as f64 / prot.n_samples() as f64;
            assert!(share >= 0.95, "seed {seed}: {m} observed in {share}");
        }
    }
}

#[test]
fn named_features_come_first_with_annotations() {
    let c = simulate(&SimParams::small()).unwrap();
    let prot = c.experiment.layer(PROTEOME_LAYER).unwrap();
    let ids = prot.features().ids();
    assert_eq!(&ids[..3], &["CD9", "CD63", "CD81"]);
    assert_eq!(ids[7], "CANX");
    assert_eq!(ids[13], "FBLN1");
    assert_eq!(ids[32], "PROT0001");
    let gene = prot.features().annotation("gene").unwrap();
    assert_eq!(gene[0].as_deref(), Some("CD9"));
    let cat = prot.features().annotation("category").unwrap();
    assert_eq!(cat[7].as_deref(), Some("contaminant_marker"));
    let mir = c.experiment.layer(MIRNA_LAYER).unwrap();
    assert_eq!(mir.features().ids()[0], "hsa-miR-196a-5p");
    assert_eq!(mir.features().ids()[17], "hsa-miR-23a-3p");
    assert_eq!(mir.features().ids()[22], "hsa-miR-sim-0001");
    assert_eq!(mir.kind().name(), "mirna");
    assert_eq!(mir.scale().name(), "counts");
    assert_eq!(prot.scale().name(), "linear");
}

#[test]
fn dirty_samples_carry_contaminants() {
    let c = simulate(&SimParams::default()).unwrap();
    let prot = c.experiment.layer(PROTEOME_LAYER).unwrap();
    let dirty: Vec<bool> = c.truth.samples.iter().map(|s| s.is_dirty).collect();
    assert_eq!(dirty.iter().filter(|&&d| d).count(), 2);
    for m in CONTAMINANT_MARKERS {
        let i = prot.features().position(m).unwrap();
        let (mut d, mut clean) = (Vec::new(), Vec::new());
        for (j, &is_dirty) in dirty.iter().enumerate() {
            if let Some(v) = prot.get(i, j) {
                if is_dirty {
                    d.push(v.log2());
                } else {
                    clean.push(v.log2());
                }
            }
        }
        assert!(!d.is_empty(), "{m}: dirty samples show contaminants");
        assert!(mean(&d) > mean(&clean) + 2.0, "{m}");
    }
    // Impurity raises protein per particle.
    let ratio: Vec<f64> = num_col(&c, "protein_ug")
        .iter()
        .zip(num_col(&c, "particle_count"))
        .map(|(p, n)| p / n)
        .collect();
    for (r, s) in ratio.iter().zip(&c.truth.samples) {
        if s.contamination_log2 == 0.0 {
            assert!((0.999e-10..=1.001e-9).contains(r), "clean ratio {r}");
        }
        assert!(*r >= 0.999e-10 && *r < 1e-8, "{r}");
    }
}

#[test]
fn signature_drives_potency() {
    let c = simulate(&SimParams::default()).unwrap();
    let t = &c.truth;
    let score: Vec<f64> = t.samples.iter().map(|s| s.signature_score).collect();
    let high: Vec<f64> = text_col(&c, "potency_class")
        .iter()
        .map(|x| f64::from(u8::from(x == "high")))
        .collect();
    assert_eq!(c.summary.n_high, 24);
    let r = pearson(&score, &high);
    assert!(r > 0.6, "point-biserial(true score, class) = {r}");
    let latent: Vec<f64> = t.samples.iter().map(|s| s.latent_potency).collect();
    assert!(pearson(&latent, &score) > 0.6);
    let observed = num_col(&c, "potency_score");
    assert!(pearson(&observed, &score) > 0.85);
    let alp = num_col(&c, "alp_activity");
    assert!(alp.iter().all(|&a| a > 0.0));
    assert!(spearman(&alp, &score) > 0.6);

    // Signature: 10 proteins (6 named cargo) + 8 miRNAs with miR-21 and miR-424 negative.
    let sig = t.signature();
    assert_eq!(sig.iter().filter(|f| f.layer == PROTEOME_LAYER).count(), 10);
    assert_eq!(
        sig.iter()
            .filter(|f| f.category == FeatureCategory::Cargo)
            .count(),
        6
    );
    assert_eq!(sig.iter().filter(|f| f.layer == MIRNA_LAYER).count(), 8);
    for m in ["hsa-miR-21-5p", "hsa-miR-424-5p"] {
        let f = t.feature(MIRNA_LAYER, m).unwrap();
        assert!(
            f.is_signature && f.loading_log2 < 0.0 && f.weight < 0.0,
            "{m}"
        );
    }
    assert!(
        sig.iter()
            .filter(|f| f.category == FeatureCategory::NamedMirna && f.loading_log2 > 0.0)
            .count()
            >= 3
    );

    // Observed signature proteins track the score better than other proteins do.
    let prot = c.experiment.layer(PROTEOME_LAYER).unwrap();
    let abs_rho = |i: usize| {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for (j, s) in score.iter().enumerate() {
            if let Some(v) = prot.get(i, j) {
                x.push(v.log2());
                y.push(*s);
            }
        }
        spearman(&x, &y).abs()
    };
    let feats = t.layer_features(PROTEOME_LAYER);
    let sig_rho: Vec<f64> = (0..feats.len())
        .filter(|&i| feats[i].is_signature)
        .map(abs_rho)
        .collect();
    let other_rho: Vec<f64> = (0..feats.len())
        .filter(|&i| !feats[i].is_signature && feats[i].missing_fraction < 0.3)
        .map(abs_rho)
        .collect();
    assert!(
        mean(&sig_rho) > mean(&other_rho) + 0.2,
        "{} vs {}",
        mean(&sig_rho),
        mean(&other_rho)
    );
}

#[test]
fn potency_is_confounded_with_source() {
    let c = simulate(&wide()).unwrap();
    let mut by_source: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for s in &c.truth.samples {
        by_source
            .entry(s.source.as_str())
            .or_default()
            .push(s.latent_potency);
    }
    let m = |s: &str| mean(&by_source[s]);
    for hi in ["BM-MSC", "DPSC"] {
        for lo in ["ADSC", "UC-MSC"] {
            assert!(m(hi) > m(lo) + 0.3, "{hi} {} vs {lo} {}", m(hi), m(lo));
        }
    }
}

#[test]
fn donors_nest_in_sources_and_batches_cross_them() {
    for p in [SimParams::small(), SimParams::default(), wide()] {
        let c = simulate(&p).unwrap();
        let source = text_col(&c, "source");
        let donor = text_col(&c, "donor_id");
        let batch = text_col(&c, "batch");
        let iso = text_col(&c, "isolation_method");
        let mut donor_source: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut batch_sources: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut batch_iso: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for j in 0..source.len() {
            donor_source
                .entry(&donor[j])
                .or_default()
                .insert(&source[j]);
            batch_sources
                .entry(&batch[j])
                .or_default()
                .insert(&source[j]);
            batch_iso.entry(&batch[j]).or_default().insert(&iso[j]);
        }
        assert!(donor_source.values().all(|s| s.len() == 1));
        assert_eq!(donor_source.len(), c.summary.n_donors);
        assert_eq!(batch_sources.len(), p.n_batches);
        for (b, s) in &batch_sources {
            assert!(s.len() >= 2, "batch {b} holds only {s:?}");
        }
        assert!(batch_iso.values().all(|s| s.len() == 1));
        // preparations per donor respect the configured range
        let mut preps: BTreeMap<&str, usize> = BTreeMap::new();
        for d in &donor {
            *preps.entry(d).or_default() += 1;
        }
        assert!(preps
            .values()
            .all(|&n| n >= p.preps_per_donor[0] && n <= p.preps_per_donor[1]));
        for s in &c.summary.sources {
            assert!(s.n_donors >= p.donors_per_source[0] && s.n_donors <= p.donors_per_source[1]);
        }
        assert_eq!(c.truth.donors_table().rows.len(), c.summary.n_donors);
    }
}

#[test]
fn sheet_has_the_promised_columns_and_survives_text() {
    let c = simulate(&SimParams::small()).unwrap();
    let sheet = c.experiment.samples();
    let names: Vec<&str> = sheet.columns().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "source",
            "donor_id",
            "batch",
            "conditioning",
            "isolation_method",
            "particle_count",
            "protein_ug",
            "potency_score",
            "potency_class",
            "alp_activity"
        ]
    );
    // What a TSV writer and reader would do keeps every column's type and value.
    let text: Vec<(String, Vec<Option<String>>)> = sheet
        .columns()
        .iter()
        .map(|col| {
            (
                col.name.clone(),
                (0..sheet.len()).map(|r| col.values.text(r)).collect(),
            )
        })
        .collect();
    let back = SampleSheet::from_text_columns(sheet.sample_ids().to_vec(), text).unwrap();
    assert_eq!(&back, sheet);
    let conds: BTreeSet<String> = text_col(&c, "conditioning").into_iter().collect();
    assert!(conds.contains("control"));
}

#[test]
fn truth_tables_are_rectangular() {
    let c = simulate(&SimParams::small()).unwrap();
    for t in c.truth.tables() {
        assert!(!t.rows.is_empty(), "{}", t.name);
        for r in &t.rows {
            assert_eq!(r.len(), t.columns.len(), "{}", t.name);
        }
        let tsv = t.to_tsv();
        assert_eq!(tsv.lines().count(), t.rows.len() + 1);
    }
    let f = c.truth.features_table();
    assert_eq!(f.rows.len(), 300 + 150);
    assert!(f.columns.contains(&"eff_BM-MSC".to_string()));
    assert!(f.columns.contains(&"cond_mg2_preconditioning".to_string()));
    assert!(f.columns.contains(&"batch_B3".to_string()));
    assert_eq!(c.truth.signature_table().rows.len(), 18);
}

#[test]
fn literature_effects_are_planted_and_can_be_switched_off() {
    let c = simulate(&SimParams::small()).unwrap();
    let t = &c.truth;
    let mg = t
        .conditionings
        .iter()
        .position(|x| x == "mg2_preconditioning")
        .unwrap();
    let f = t.feature(MIRNA_LAYER, "hsa-miR-451a").unwrap();
    assert!(f.is_conditioning_de && f.conditioning_effects_log2[mg] >= 1.5 - 4.0 * 0.8);
    let bm = 0;
    let fbln1 = t.feature(PROTEOME_LAYER, "FBLN1").unwrap();
    assert!(fbln1.is_source_de && fbln1.source_effects_log2[bm] != 0.0);
    for m in EV_MARKERS {
        let f = t.feature(PROTEOME_LAYER, m).unwrap();
        assert!(!f.is_source_de && !f.is_signature && f.mar_rate == Some(0.0));
    }
    let mut p = SimParams::small();
    p.effects.literature_effects = false;
    p.effects.source_de_fraction = 0.0;
    p.effects.conditioning_de_fraction = 0.0;
    let c = simulate(&p).unwrap();
    assert!(c
        .truth
        .features
        .iter()
        .all(|f| !f.is_source_de && !f.is_conditioning_de));
}

#[test]
fn complete_matrix_is_kept_on_request() {
    let mut p = SimParams::small();
    p.proteome.keep_complete_log2 = true;
    let c = simulate(&p).unwrap();
    let full = c.truth.proteome_complete_log2.as_ref().unwrap();
    let prot = c.experiment.layer(PROTEOME_LAYER).unwrap();
    for ((i, j), y) in full.indexed_iter() {
        assert!(y.is_finite());
        if let Some(v) = prot.get(i, j) {
            assert_eq!(v, y.exp2());
        }
    }
    assert!(simulate(&SimParams::small())
        .unwrap()
        .truth
        .proteome_complete_log2
        .is_none());
}

#[test]
fn bad_params_are_rejected_with_clear_messages() {
    let cases: Vec<(SimParams, &str)> = vec![
        (
            SimParams {
                n_samples: 0,
                ..SimParams::small()
            },
            "`n_samples`: is 0",
        ),
        (
            SimParams {
                n_samples: 10,
                ..SimParams::small()
            },
            "fewer than the donors",
        ),
        (
            SimParams {
                n_proteins: 10,
                ..SimParams::small()
            },
            "`n_proteins`",
        ),
        (
            SimParams {
                n_batches: 100,
                ..SimParams::small()
            },
            "between 1 and n_samples",
        ),
        (
            {
                let mut p = SimParams::small();
                p.mirna.dispersion_median = -0.1;
                p
            },
            "`mirna.dispersion_median`: is -0.1",
        ),
        (
            {
                let mut p = SimParams::small();
                p.effects.source_effect_log2 = [-1.0, 2.0];
                p
            },
            "`effects.source_effect_log2`",
        ),
        (
            {
                let mut p = SimParams::small();
                p.purity.dirty_sample_fraction = 1.5;
                p
            },
            "fraction between 0 and 1",
        ),
        (
            {
                let mut p = SimParams::small();
                p.sources.clear();
                p
            },
            "`sources`: is empty",
        ),
    ];
    for (p, expected) in cases {
        let e = simulate(&p).unwrap_err();
        assert!(matches!(e, SimError::InvalidParam { .. }));
        let m = e.to_string();
        assert!(m.contains(expected), "{m:?} lacks {expected:?}");
    }
}

#[test]
fn custom_sources_and_conditionings_work() {
    let p: SimParams = serde_json::from_str(
        r#"{
            "seed": 3,
            "n_samples": 20,
            "n_proteins": 60,
            "n_mirnas": 40,
            "n_batches": 2,
            "donors_per_source": [2, 5],
            "preps_per_donor": [1, 5],
            "sources": [{"name": "BM-MSC", "potency_mean": 1.0}, {"name": "Wharton-jelly"}],
            "conditionings": [{"name": "naive"}, {"name": "osteogenic_induction", "potency_effect": 0.8}],
            "isolation_methods": [{"name": "SEC"}]
        }"#,
    )
    .unwrap();
    let c = simulate(&p).unwrap();
    let sources: BTreeSet<String> = text_col(&c, "source").into_iter().collect();
    assert_eq!(sources.len(), 2);
    assert!(text_col(&c, "isolation_method").iter().all(|m| m == "SEC"));
    assert_eq!(c.summary.n_high, 10);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn invariants_hold_for_random_small_cohorts(
        seed in any::<u64>(),
        n_samples in 6usize..60,
        n_sources in 1usize..5,
        n_batches in 1usize..6,
        n_proteins in 40usize..90,
        n_mirnas in 22usize..50,
        mar_rate in 0.0f64..0.2,
        dirty in 0.0f64..0.3,
    ) {
        let mut p = SimParams {
            seed,
            n_samples,
            n_proteins,
            n_mirnas,
            n_batches,
            donors_per_source: [1, 4],
            preps_per_donor: [1, 30],
            ..SimParams::default()
        };
        p.sources.truncate(n_sources);
        p.proteome.mar_rate = mar_rate;
        p.purity.dirty_sample_fraction = dirty;
        let c = match simulate(&p) {
            Ok(c) => c,
            Err(SimError::InvalidParam { .. }) => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
        };
        for layer in [PROTEOME_LAYER, MIRNA_LAYER] {
            let a = c.experiment.layer(layer).unwrap();
            let s = c.summary.layer(layer).unwrap();
            let fc = a.flag_counts();
            prop_assert_eq!((s.observed, s.missing), (fc.observed, fc.missing));
            prop_assert_eq!(a.n_samples(), n_samples);
        }
        prop_assert_eq!(c.summary.n_high, n_samples / 2);
        let mut donor_source: BTreeMap<&str, &str> = BTreeMap::new();
        for s in &c.truth.samples {
            let prev = donor_source.insert(&s.donor_id, &s.source);
            prop_assert!(prev.is_none() || prev == Some(s.source.as_str()));
        }
        prop_assert!(c.truth.samples.iter().all(|s| s.potency_score.is_finite() && s.alp_activity > 0.0));
    }

    #[test]
    fn validation_never_panics(
        n_samples in 0usize..200,
        n_proteins in 0usize..100,
        n_mirnas in 0usize..60,
        n_batches in 0usize..20,
        dmin in 0usize..6, dspan in 0usize..6,
        pmin in 0usize..4, pspan in 0usize..6,
        sd in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), -1.0f64..3.0],
        frac in -0.5f64..1.5,
        lib in prop_oneof![Just(-1.0f64), 0.0f64..1e7],
    ) {
        let mut p = SimParams {
            n_samples,
            n_proteins,
            n_mirnas,
            n_batches,
            donors_per_source: [dmin, dmin + dspan],
            preps_per_donor: [pmin, pmin + pspan],
            ..SimParams::small()
        };
        p.effects.donor_sd_log2 = sd;
        p.effects.batch_affected_fraction = frac;
        p.mirna.library_size = [lib, 5e6];
        if let Err(e) = p.validate() {
            let m = e.to_string();
            prop_assert!(m.starts_with("simulation parameter `"), "{}", m);
        }
    }
}

#[test]
fn biofluid_contamination_marks_and_raises_blood_mirnas() {
    let params = SimParams {
        biofluid: BiofluidContamination {
            haemolysed: 2,
            blood_cell_rich: 1,
            ..Default::default()
        },
        ..SimParams::small()
    };
    let clean = simulate(&SimParams::small()).unwrap();
    let c = simulate(&params).unwrap();
    // Contamination touches the miRNA layer only; the truth marks disjoint sets.
    assert_eq!(
        bits(clean.experiment.layer(PROTEOME_LAYER).unwrap()),
        bits(c.experiment.layer(PROTEOME_LAYER).unwrap())
    );
    let h: Vec<bool> = c.truth.samples.iter().map(|s| s.haemolysed).collect();
    let b: Vec<bool> = c.truth.samples.iter().map(|s| s.blood_cell_rich).collect();
    assert_eq!(h.iter().filter(|&&x| x).count(), 2);
    assert_eq!(b.iter().filter(|&&x| x).count(), 1);
    assert!(h.iter().zip(&b).all(|(x, y)| !(x & y)));
    assert!(clean
        .truth
        .samples
        .iter()
        .all(|s| !s.haemolysed && !s.blood_cell_rich));
    let t = c.truth.samples_table().to_tsv();
    assert!(t
        .lines()
        .next()
        .unwrap()
        .ends_with("haemolysed\tblood_cell_rich"));
    // log2 ratios on counts: miR-451a / miR-23a-3p and miR-223-3p / library.
    let mir = c.experiment.layer(MIRNA_LAYER).unwrap();
    let row = |m: &str| mir.features().position(m).unwrap();
    let v = mir.values();
    let ratio: Vec<f64> = (0..mir.n_samples())
        .map(|j| {
            ((v[[row("hsa-miR-451a"), j]] + 1.0) / (v[[row("hsa-miR-23a-3p"), j]] + 1.0)).log2()
        })
        .collect();
    let max_clean = (0..h.len())
        .filter(|&j| !h[j])
        .map(|j| ratio[j])
        .fold(f64::NEG_INFINITY, f64::max);
    for j in (0..h.len()).filter(|&j| h[j]) {
        assert!(
            ratio[j] > max_clean + 1.0 && ratio[j] > 5.0,
            "{} vs {max_clean}",
            ratio[j]
        );
    }
    let r223 = row("hsa-miR-223-3p");
    let lib: Vec<f64> = (0..mir.n_samples())
        .map(|j| (0..mir.n_features()).map(|i| v[[i, j]]).sum())
        .collect();
    let j_b = b.iter().position(|&x| x).unwrap();
    let share_b = v[[r223, j_b]] / lib[j_b];
    for j in (0..b.len()).filter(|&j| !b[j]) {
        assert!(share_b > 10.0 * v[[r223, j]] / lib[j]);
    }
    // Too many contaminated preparations is a parameter error.
    let err = simulate(&SimParams {
        biofluid: BiofluidContamination {
            haemolysed: 1000,
            ..Default::default()
        },
        ..SimParams::small()
    })
    .unwrap_err();
    assert!(err.to_string().contains("biofluid.haemolysed"), "{err}");
}
