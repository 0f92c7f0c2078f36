//! `evomics cluster` and `evomics explore`, end to end: batch versus source before and after
//! ComBat, panel scores against the simulator's true potency, and the real MSC secretome.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use evomics_core::Experiment;
use evomics_io::{write_experiment, Manifest};
use evomics_norm::NormalizeConfig;
use evomics_sim::{simulate, SimCohort, SimParams};

use evomics_testkit::cohorts;

use crate::{col, fail, ok, p, read_tsv};

fn float(s: &str) -> f64 {
    s.parse()
        .unwrap_or_else(|_| panic!("'{s}' is not a number"))
}

/// Write the cohort's sheet with its proteome passed through a normalize pipeline (as
/// `evomics normalize` would) into a store.
fn normalized_store(dir: &Path, name: &str, cohort: &SimCohort, cfg: serde_json::Value) -> PathBuf {
    let cfg: NormalizeConfig = serde_json::from_value(cfg).unwrap();
    let sheet = cohort.experiment.samples().clone();
    let prot = cohort.experiment.layer("proteome").unwrap();
    let (_, out, _) = cfg.fit_transform(prot, &sheet).unwrap();
    let mut exp = Experiment::new(sheet);
    exp.insert_layer(out).unwrap();
    let store = dir.join(name);
    write_experiment(&store, &exp, &Manifest::new("normalize")).unwrap();
    store
}

/// (method, column) → (k, ARI, NMI) from agreement.tsv.
fn agreement(dir: &Path) -> BTreeMap<(String, String), (usize, f64, f64)> {
    let (h, rows) = read_tsv(&dir.join("agreement.tsv"));
    rows.iter()
        .map(|r| {
            (
                (r[col(&h, "method")].clone(), r[col(&h, "column")].clone()),
                (
                    r[col(&h, "k")].parse().unwrap(),
                    float(&r[col(&h, "ARI")]),
                    float(&r[col(&h, "NMI")]),
                ),
            )
        })
        .collect()
}

#[test]
fn cluster_recovers_batch_before_combat_and_source_after() {
    let d = tempfile::tempdir().unwrap();
    let cohort = cohorts::batchy(20240601);
    let base = serde_json::json!({
        "filters": [{ "method": "valid_values", "min_fraction": 1.0, "mode": "total" }],
        "transform": { "method": "log2" },
        "normalization": { "method": "median" },
    });
    let mut with_combat = base.clone();
    with_combat["batch_correction"] = serde_json::json!({ "method": "combat", "batch": "batch" });
    let before_store = normalized_store(d.path(), "before", &cohort, base);
    let after_store = normalized_store(d.path(), "after", &cohort, with_combat);
    let run = |store: &Path, out: &Path, k: &str| {
        ok(&[
            "cluster",
            p(store),
            "--layer",
            "proteome",
            "--by",
            "source,batch",
            "--k",
            k,
            "--gap-references",
            "10",
            "--seed",
            "7",
            "-o",
            p(out),
            "--quiet",
        ]);
        agreement(out)
    };
    // k = 3 (the number of sources and of batches) for every method, then k chosen in 2..6
    let mut results = Vec::new();
    for (label, store) in [
        ("before ComBat", &before_store),
        ("after ComBat", &after_store),
    ] {
        let tag = label.replace(' ', "-");
        let fixed = run(store, &d.path().join(format!("k3-{tag}")), "3");
        let out = d.path().join(format!("range-{tag}"));
        let chosen = run(store, &out, "2..6");
        for ((m, c), (k, ari, nmi)) in &fixed {
            let (kc, ari_c, _) = chosen[&(m.clone(), c.clone())];
            println!(
                "{label}: {m} k = {k} vs {c}: ARI {ari:.3}, NMI {nmi:.3}; with k chosen by silhouette in 2..6 (k = {kc}): ARI {ari_c:.3}"
            );
        }
        results.push((out, fixed, chosen));
    }
    let (before_out, before, before_chosen) = &results[0];
    let (after_out, after, after_chosen) = &results[1];
    for m in ["kmeans", "hclust", "gmm"] {
        let key = |c: &str| (m.to_string(), c.to_string());
        let (_, ari_b_batch, _) = before[&key("batch")];
        let (_, ari_b_source, _) = before[&key("source")];
        let (_, ari_a_source, _) = after[&key("source")];
        let (_, ari_a_batch, _) = after[&key("batch")];
        assert!(
            ari_b_batch > 0.8 && ari_b_source < 0.2,
            "{m} before ComBat: ARI batch {ari_b_batch}, source {ari_b_source}"
        );
        assert!(
            ari_a_source > 0.8 && ari_a_batch < 0.2,
            "{m} after ComBat: ARI source {ari_a_source}, batch {ari_a_batch}"
        );
        // after ComBat the silhouette finds the three sources with every method
        assert_eq!(after_chosen[&key("source")], after[&key("source")], "{m}");
        // before, k-means and Ward.D2 find the three batches (the mixture splits them further)
        if m != "gmm" {
            assert_eq!(before_chosen[&key("batch")], before[&key("batch")], "{m}");
        }
    }

    // the other outputs: one row per sample, every k scored, PCA variance sums to 1
    let (h, rows) = read_tsv(&after_out.join("clusters.tsv"));
    assert_eq!(h, ["sample_id", "kmeans", "hclust", "gmm"]);
    assert_eq!(rows.len(), 60);
    let (h, rows) = read_tsv(&after_out.join("k_selection.tsv"));
    assert_eq!(rows.len(), 3 * 5);
    assert!(rows.iter().all(|r| r[col(&h, "gap")] != "NA"));
    assert_eq!(
        rows.iter()
            .filter(|r| r[col(&h, "chosen")].contains("used"))
            .count(),
        3
    );
    let (h, rows) = read_tsv(&after_out.join("pca_variance.tsv"));
    let total: f64 = rows
        .iter()
        .map(|r| float(&r[col(&h, "variance_explained")]))
        .sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");
    let (h, rows) = read_tsv(&after_out.join("pca_scores.tsv"));
    assert_eq!((h.len(), rows.len()), (11, 60));
    let (_, rows) = read_tsv(&after_out.join("pca_loadings.tsv"));
    assert!(rows.len() > 300, "{} complete proteins", rows.len());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(after_out.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["stage"], "cluster");
    assert_eq!(manifest["seeds"]["cluster"], 7);

    // same inputs and seed: identical outputs
    let again = d.path().join("again");
    ok(&[
        "cluster",
        p(&after_store),
        "--layer",
        "proteome",
        "--by",
        "source,batch",
        "--k",
        "2..6",
        "--gap-references",
        "10",
        "--seed",
        "7",
        "-o",
        p(&again),
        "--quiet",
    ]);
    for f in [
        "clusters.tsv",
        "k_selection.tsv",
        "agreement.tsv",
        "pca_scores.tsv",
    ] {
        assert_eq!(
            std::fs::read(after_out.join(f)).unwrap(),
            std::fs::read(again.join(f)).unwrap(),
            "{f} differs between runs with the same seed"
        );
    }
    assert!(before_out.join("manifest.json").exists());
}

#[test]
fn cluster_refuses_missing_values_unless_asked_and_raw_scales() {
    let d = tempfile::tempdir().unwrap();
    let store = crate::sim_store(d.path(), 5);
    let out = d.path().join("c");
    // the simulated proteome is linear with missing values
    let e = fail(&["cluster", p(&store), "--layer", "proteome", "-o", p(&out)]);
    assert!(e.contains("linear") && e.contains("--log2"), "{e}");
    let e = fail(&[
        "cluster",
        p(&store),
        "--layer",
        "proteome",
        "--log2",
        "-o",
        p(&out),
    ]);
    assert!(
        e.contains("missing value") && e.contains("--complete-features"),
        "{e}"
    );
    let e = fail(&["cluster", p(&store), "--layer", "mirna", "-o", p(&out)]);
    assert!(e.contains("counts") && e.contains("normalize"), "{e}");
    let e = fail(&[
        "cluster",
        p(&store),
        "--layer",
        "proteome",
        "--k",
        "1..3",
        "-o",
        p(&out),
    ]);
    assert!(e.contains("at least 2"), "{e}");
    let log = String::from_utf8(
        crate::evomics(&[
            "cluster",
            p(&store),
            "--layer",
            "proteome",
            "--log2",
            "--complete-features",
            "--scale",
            "--k",
            "3",
            "--method",
            "hclust",
            "--linkage",
            "average",
            "--distance",
            "pearson",
            "--by",
            "source",
            "-o",
            p(&out),
        ])
        .stderr,
    )
    .unwrap();
    assert!(log.contains("--complete-features: kept the"), "{log}");
    let (h, rows) = read_tsv(&out.join("agreement.tsv"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][col(&h, "k")], "3");
    assert!(!out.join("nope").exists());
    let e = fail(&[
        "cluster",
        p(&store),
        "--layer",
        "proteome",
        "--log2",
        "--complete-features",
        "--by",
        "nope",
        "-o",
        p(&out),
    ]);
    assert!(e.contains("nope") && e.contains("source"), "{e}");
}

#[test]
fn panel_scores_rank_samples_by_true_potency() {
    let d = tempfile::tempdir().unwrap();
    let params = SimParams {
        seed: 11,
        n_samples: 60,
        ..SimParams::small()
    };
    let cohort = simulate(&params).unwrap();
    // the simulator's proteome signature as a user panel (up for positive loadings)
    let mut panel = String::from("panel\tfeature\tdirection\tnote\n");
    let mut n_sig = 0;
    for f in cohort.truth.signature() {
        if f.layer == "proteome" {
            let dir = if f.loading_log2 > 0.0 { "up" } else { "down" };
            panel.push_str(&format!(
                "sim_signature\t{}\t{dir}\tsimulated truth\n",
                f.feature_id
            ));
            n_sig += 1;
        }
    }
    assert!(n_sig >= 5, "{n_sig} signature proteins");
    let panel_path = d.path().join("signature.tsv");
    std::fs::write(&panel_path, panel).unwrap();
    let store = normalized_store(
        d.path(),
        "norm",
        &cohort,
        serde_json::json!({
            "transform": { "method": "log2" },
            "normalization": { "method": "median" },
        }),
    );
    let out = d.path().join("explore");
    ok(&[
        "explore",
        p(&store),
        "--layer",
        "proteome",
        "--by",
        "source",
        "--panels",
        p(&panel_path),
        "--no-curated-panels",
        "--factors",
        "source,donor_id,batch",
        "-o",
        p(&out),
        "--quiet",
    ]);
    let truth: BTreeMap<&str, f64> = cohort
        .truth
        .samples
        .iter()
        .map(|s| (s.sample_id.as_str(), s.potency_score))
        .collect();
    let (h, rows) = read_tsv(&out.join("panel_scores.tsv"));
    let rows: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| r[col(&h, "panel")] == "sim_signature")
        .collect();
    assert_eq!(rows.len(), 60);
    assert!(rows
        .iter()
        .all(|r| r[col(&h, "n_members")] == n_sig.to_string()));
    let potency: Vec<f64> = rows
        .iter()
        .map(|r| truth[r[col(&h, "sample_id")].as_str()])
        .collect();
    for score in ["singscore", "mean_z"] {
        let s: Vec<f64> = rows.iter().map(|r| float(&r[col(&h, score)])).collect();
        let rho = evomics_core::num::spearman(&s, &potency)
            .unwrap_or_else(|| panic!("{score}: no Spearman correlation (a constant column)"));
        println!("Spearman({score}, true potency_score) = {rho:.3} over 60 samples");
        assert!(rho > 0.5, "{score}: Spearman {rho}");
        // the highest-scoring fifth of the samples is mostly in the top half of true potency
        let mut order: Vec<usize> = (0..60).collect();
        order.sort_by(|&a, &b| s[b].total_cmp(&s[a]));
        let mut sorted = potency.clone();
        sorted.sort_by(f64::total_cmp);
        let median = (sorted[29] + sorted[30]) / 2.0;
        let top_high = order[..12].iter().filter(|&&j| potency[j] > median).count();
        assert!(
            top_high >= 9,
            "{score}: {top_high} of the top 12 above the median potency"
        );
    }
    // the planted signature is enriched in the one-vs-rest results of the high-potency source
    let (h, rows) = read_tsv(&out.join("panel_members.tsv"));
    assert_eq!(rows.len(), n_sig);
    assert!(rows.iter().all(|r| r[col(&h, "matched_by")] == "id"));
    let (h, rows) = read_tsv(&out.join("panel_enrichment.tsv"));
    let tests: BTreeSet<&str> = rows.iter().map(|r| r[col(&h, "test")].as_str()).collect();
    assert_eq!(
        tests,
        BTreeSet::from([
            "camera_pr",
            "camera_pr_ranks",
            "hypergeometric_down",
            "hypergeometric_up"
        ])
    );
    // variance partition over source, donor and batch
    let (h, rows) = read_tsv(&out.join("variance_partition_summary.tsv"));
    let comps: Vec<&str> = rows
        .iter()
        .map(|r| r[col(&h, "component")].as_str())
        .collect();
    assert_eq!(comps, ["source", "donor_id", "batch", "Residuals"]);
}

/// The real secretome folder, or return from the test (skipped without `../shared`).
macro_rules! secretome {
    () => {
        evomics_testkit::require_shared!("data/real/msc-sources-osteogenic-secretome-proteome")
    };
}

/// The secretome of six MSC sources (docs/explore-secretome.md shows these commands and their
/// output): per-source markers, the variance partition and the curated panels.
#[test]
fn explore_the_msc_secretome_by_cell_type_and_differentiation() {
    let d = tempfile::tempdir().unwrap();
    let data = secretome!();
    let store = d.path().join("secretome");
    let layer = format!(
        "proteome={}",
        data.join("secretome_fragpipe_combined_protein.tsv.gz")
            .display()
    );
    ok(&[
        "ingest",
        "-s",
        p(&data.join("secretome_samples.tsv")),
        "--sample-id-column",
        "Sample",
        "--layer",
        &layer,
        "-o",
        p(&store),
        "--quiet",
    ]);
    let out = d.path().join("explore");
    let log = String::from_utf8(
        crate::evomics(&[
            "explore",
            p(&store),
            "--layer",
            "proteome",
            "--log2",
            "--by",
            "Cell_type",
            "--by",
            "Differentiation",
            "--factors",
            "Cell_type,Differentiation,Donor",
            "-o",
            p(&out),
        ])
        .stderr,
    )
    .unwrap();
    println!("{log}");
    assert!(log.contains("wrote"), "{log}");
    // markers: 25 per cell type and per differentiation state, ranked, with results
    let (h, rows) = read_tsv(&out.join("markers.tsv"));
    let mut per_group: BTreeMap<(String, String), Vec<&Vec<String>>> = BTreeMap::new();
    for r in &rows {
        per_group
            .entry((r[col(&h, "by")].clone(), r[col(&h, "group")].clone()))
            .or_default()
            .push(r);
    }
    let cell_types: Vec<&str> = per_group
        .keys()
        .filter(|(b, _)| b == "Cell_type")
        .map(|(_, g)| g.as_str())
        .collect();
    assert_eq!(
        cell_types,
        ["ADSCs", "DPSCs", "GFs", "OBs", "PDLSCs", "WJ-MSCs"]
    );
    for ((by, g), ms) in &per_group {
        if by == "Cell_type" {
            assert_eq!(ms.len(), 25, "{g}");
        }
        assert_eq!(ms[0][col(&h, "rank")], "1");
        let p: Vec<f64> = ms.iter().map(|r| float(&r[col(&h, "P.Value")])).collect();
        assert!(p.windows(2).all(|w| w[0] <= w[1]), "{g}: ranked by P.Value");
        assert!(
            ms.iter().all(|r| float(&r[col(&h, "logFC")]) > 0.0),
            "{g}: up markers"
        );
    }
    // every cell type has a marker significant after BH
    for g in &cell_types {
        let top = &per_group[&("Cell_type".to_string(), g.to_string())][0];
        assert!(float(&top[col(&h, "adj.P.Val")]) < 0.05, "{g}: {top:?}");
    }
    // variance partition: fractions sum to 1, cell type explains more than differentiation
    let (h, rows) = read_tsv(&out.join("variance_partition.tsv"));
    assert_eq!(rows.len(), 2716);
    let fitted: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| r[col(&h, "status")] == "fitted")
        .collect();
    assert!(fitted.len() > 300, "{} fitted", fitted.len());
    for r in &fitted {
        let s: f64 = ["Cell_type", "Differentiation", "Donor", "Residuals"]
            .iter()
            .map(|c| float(&r[col(&h, c)]))
            .sum();
        assert!((s - 1.0).abs() < 1e-9, "{r:?}");
        assert!(float(&r[col(&h, "n_obs")]) >= 25.0);
    }
    let (h, rows) = read_tsv(&out.join("variance_partition_summary.tsv"));
    let median: BTreeMap<&str, f64> = rows
        .iter()
        .map(|r| {
            (
                r[col(&h, "component")].as_str(),
                float(&r[col(&h, "median")]),
            )
        })
        .collect();
    assert!(
        median["Cell_type"] > median["Differentiation"],
        "{median:?}"
    );
    assert!(median["Cell_type"] > 0.15, "{median:?}");
    // the curated BM-MSC EV proteins are found by gene symbol and scored in every sample
    let (h, rows) = read_tsv(&out.join("panel_members.tsv"));
    let bm: BTreeSet<&str> = rows
        .iter()
        .filter(|r| {
            r[col(&h, "panel")] == "bm_msc_ev_proteins" && r[col(&h, "matched_by")] == "gene"
        })
        .map(|r| r[col(&h, "entry")].as_str())
        .collect();
    assert!(bm.len() >= 15, "{bm:?}");
    let (h, rows) = read_tsv(&out.join("panel_scores.tsv"));
    assert_eq!(
        rows.iter()
            .filter(|r| r[col(&h, "panel")] == "bm_msc_ev_proteins")
            .count(),
        50
    );
    let (_, rows) = read_tsv(&out.join("panel_enrichment.tsv"));
    assert_eq!(rows.len(), (6 + 2) * 4, "one panel × 8 groups × 4 tests");
    let e = fail(&[
        "explore",
        p(&store),
        "--layer",
        "proteome",
        "--by",
        "Cell_type",
        "-o",
        p(&out),
    ]);
    assert!(e.contains("--log2"), "{e}");
    let e = fail(&[
        "explore",
        p(&store),
        "--layer",
        "proteome",
        "--log2",
        "--by",
        "Tissue",
        "-o",
        p(&out),
    ]);
    assert!(e.contains("Tissue") && e.contains("Cell_type"), "{e}");
}

/// `cluster`'s PCA equals R's prcomp on the oracle cohorts (README of ../shared/oracles:
/// `prcomp(t(X_cc), center = TRUE, scale. = FALSE/TRUE)` on the complete-case log2 proteins):
/// sdev and variance explained of the first 50 components and the PC1–PC5 scores up to sign.
#[test]
fn cluster_pca_equals_prcomp_oracles() {
    for cohort in ["synthetic-S", "synthetic-M"] {
        let dir = evomics_testkit::require_shared!(&format!("oracles/{cohort}"));
        let d = tempfile::tempdir().unwrap();
        let store = d.path().join("store");
        // synthetic-M ships its matrices gzipped
        let matrix = ["proteins_log2.tsv", "proteins_log2.tsv.gz"]
            .iter()
            .map(|f| dir.join(f))
            .find(|f| f.exists())
            .unwrap_or_else(|| panic!("no proteins_log2.tsv(.gz) in {}", dir.display()));
        let layer = format!("proteome={},scale=log2", matrix.display());
        ok(&[
            "ingest",
            "-s",
            p(&dir.join("samples.tsv")),
            "--layer",
            &layer,
            "-o",
            p(&store),
            "--quiet",
        ]);
        let complete: BTreeSet<String> =
            std::fs::read_to_string(dir.join("oracle/complete_case_features.txt"))
                .unwrap()
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect();
        let (oh, orows) = read_tsv(&dir.join("oracle/pca_variance.tsv"));
        let (sh, srows) = read_tsv(&dir.join("oracle/pca_scores_unscaled.tsv"));
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1e-3);
        for scaled in [false, true] {
            let out = d.path().join(format!("pca-{scaled}"));
            let mut args = vec![
                "cluster",
                p(&store),
                "--layer",
                "proteome",
                "--complete-features",
                "--method",
                "hclust",
                "--k",
                "2",
                "--gap-references",
                "0",
                "--components",
                "5",
                "-o",
                p(&out),
                "--quiet",
            ];
            if scaled {
                args.push("--scale");
            }
            ok(&args);
            let (_, loadings) = read_tsv(&out.join("pca_loadings.tsv"));
            let ids: BTreeSet<String> = loadings.iter().map(|r| r[0].clone()).collect();
            assert_eq!(ids, complete, "{cohort}: the complete-case features");
            let (h, rows) = read_tsv(&out.join("pca_variance.tsv"));
            let (sd_col, ve_col) = if scaled {
                ("sdev_scaled", "var_explained_scaled")
            } else {
                ("sdev", "var_explained")
            };
            let mut worst = 0.0f64;
            for (o, r) in orows.iter().zip(&rows) {
                for (oc, c) in [(sd_col, "sdev"), (ve_col, "variance_explained")] {
                    let (want, got) = (float(&o[col(&oh, oc)]), float(&r[col(&h, c)]));
                    worst = worst.max((want - got).abs() / want.abs().max(1e-3));
                    assert!(
                        close(got, want),
                        "{cohort} scaled={scaled} {c}: {got} vs {want}"
                    );
                }
            }
            println!(
                "{cohort} (scale = {scaled}): {} components, worst relative difference in sdev / variance explained {worst:.1e}",
                orows.len()
            );
            if !scaled {
                let (h, rows) = read_tsv(&out.join("pca_scores.tsv"));
                let by_id: BTreeMap<&str, &Vec<String>> =
                    rows.iter().map(|r| (r[0].as_str(), r)).collect();
                for c in 1..=5 {
                    let name = format!("PC{c}");
                    let pairs: Vec<(f64, f64)> = srows
                        .iter()
                        .map(|o| {
                            (
                                float(&o[col(&sh, &name)]),
                                float(&by_id[o[0].as_str()][col(&h, &name)]),
                            )
                        })
                        .collect();
                    let sign = if pairs.iter().map(|(a, b)| a * b).sum::<f64>() < 0.0 {
                        -1.0
                    } else {
                        1.0
                    };
                    for (want, got) in pairs {
                        assert!(
                            (sign * got - want).abs() <= 1e-6 * want.abs().max(1.0),
                            "{cohort} {name}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
