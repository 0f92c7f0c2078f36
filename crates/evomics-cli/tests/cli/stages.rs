//! qc, normalize and diff, end to end.

use std::collections::HashMap;

use std::path::Path;

use evomics_testkit::Tsv;

use crate::{col, fail, ok, p, read_tsv, sim_store};

#[test]
fn qc_reports_every_sample_and_the_purity_gate() {
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("sim");
    let tsv = d.path().join("tsv");
    ok(&[
        "simulate",
        "--preset",
        "small",
        "--seed",
        "3",
        "-o",
        p(&store),
        "--tsv",
        p(&tsv),
        "--quiet",
    ]);
    let qc = d.path().join("qc");
    ok(&[
        "qc",
        p(&store),
        "-o",
        p(&qc),
        "--group-by",
        "source",
        "--quiet",
    ]);
    let (h, rows) = read_tsv(&qc.join("samples.tsv"));
    assert_eq!(rows.len(), 2 * 36, "one row per sample and layer");
    assert!(rows.iter().all(|r| r[col(&h, "missing_fraction")] != "NA"));
    let (h, rows) = read_tsv(&qc.join("purity.tsv"));
    assert_eq!(rows.len(), 36);
    let v = col(&h, "verdict");
    assert!(rows
        .iter()
        .all(|r| ["pass", "warn", "fail"].contains(&r[v].as_str())));
    assert!(rows
        .iter()
        .any(|r| r[col(&h, "transmembrane_markers")].contains("CD9")));
    // The gate catches exactly the preparations the simulator made dirty (co-isolated
    // lipoproteins/albumin and other-compartment proteins).
    let (th, truth) = read_tsv(&tsv.join("truth_samples.tsv"));
    let dirty: Vec<&str> = truth
        .iter()
        .filter(|r| r[col(&th, "is_dirty")] == "true")
        .map(|r| r[0].as_str())
        .collect();
    assert!(!dirty.is_empty());
    for r in &rows {
        let is_dirty = dirty.contains(&r[col(&h, "sample_id")].as_str());
        assert_eq!(
            r[v] != "pass",
            is_dirty,
            "{}: verdict {} ({})",
            r[1],
            r[v],
            r[col(&h, "reasons")]
        );
    }
    let (_, dose) = read_tsv(&qc.join("dose.tsv"));
    assert_eq!(dose.len(), 36);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(qc.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["layers"]["proteome"]["samples"], 36);
    let e = fail(&["qc", p(&store), "-o", p(&qc), "--group-by", "nope"]);
    assert!(e.contains("nope") && e.contains("source"), "{e}");
}

/// Ingest the real MSC secretome (FragPipe MaxLFQ, its sheet keyed by `Sample`) into `out/sec`.
fn ingest_secretome(dir: &Path, out: &Path) -> std::path::PathBuf {
    let store = out.join("sec");
    ok(&[
        "ingest",
        "-s",
        p(&dir.join("secretome_samples.tsv")),
        "--sample-id-column",
        "Sample",
        "--layer",
        &format!(
            "proteome={}",
            dir.join("secretome_fragpipe_combined_protein.tsv.gz")
                .display()
        ),
        "-o",
        p(&store),
        "--quiet",
    ]);
    store
}

/// The secretome of six MSC sources: QC runs on all 50 samples and reports marker presence.
#[test]
fn qc_on_real_secretome_covers_all_samples() {
    let dir =
        evomics_testkit::require_shared!("data/real/msc-sources-osteogenic-secretome-proteome");
    let d = tempfile::tempdir().unwrap();
    let store = ingest_secretome(&dir, d.path());
    let qc = d.path().join("qc");
    ok(&["qc", p(&store), "-o", p(&qc), "--quiet"]);
    let (h, rows) = read_tsv(&qc.join("purity.tsv"));
    assert_eq!(rows.len(), 50);
    let with_marker = rows
        .iter()
        .filter(|r| {
            !r[col(&h, "transmembrane_markers")].is_empty()
                || !r[col(&h, "cytosolic_markers")].is_empty()
        })
        .count();
    assert!(
        with_marker >= 45,
        "EV markers reported in most secretome samples: {with_marker}"
    );
    let verdicts: Vec<&str> = rows
        .iter()
        .map(|r| r[col(&h, "verdict")].as_str())
        .collect();
    assert_eq!(verdicts.iter().filter(|v| **v == "pass").count(), 40);
    assert_eq!(verdicts.iter().filter(|v| **v == "fail").count(), 1);
}

#[test]
fn normalize_is_reproducible_and_keeps_imputed_cells_flagged() {
    let d = tempfile::tempdir().unwrap();
    let store = sim_store(d.path(), 4);
    let cfg = d.path().join("norm.toml");
    std::fs::write(
        &cfg,
        r#"
[layers.proteome]
filters = [{ method = "valid_values", column = "source", min_fraction = 0.7 }]
transform = { method = "log2" }
normalization = { method = "median" }
imputation = { method = "down_shift", width = 0.3, shift = 1.8, seed = 7 }

[layers.mirna]
filters = [{ method = "min_count", min_count = 10, min_samples = 3 }]
transform = { method = "log_cpm", prior_count = 2.0, norm_factors = { method = "tmm" } }
"#,
    )
    .unwrap();
    let a = d.path().join("a");
    let b = d.path().join("b");
    ok(&[
        "normalize",
        p(&store),
        "-o",
        p(&a),
        "--config",
        p(&cfg),
        "--quiet",
    ]);
    ok(&[
        "normalize",
        p(&store),
        "-o",
        p(&b),
        "--config",
        p(&cfg),
        "--quiet",
    ]);
    for f in [
        "layers/proteome/values.parquet",
        "layers/proteome/flags.parquet",
        "layers/mirna/values.parquet",
    ] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f} is reproducible"
        );
    }
    let before: serde_json::Value =
        serde_json::from_str(&ok(&["info", p(&store), "--json"])).unwrap();
    let after: serde_json::Value = serde_json::from_str(&ok(&["info", p(&a), "--json"])).unwrap();
    let pa = &after["layers"]["proteome"];
    assert_eq!(pa["scale"], "log2");
    assert_eq!(pa["missing"], 0, "down-shift fills every missing cell");
    assert!(pa["imputed"].as_u64().unwrap() > 0);
    assert!(pa["features"].as_u64() <= before["layers"]["proteome"]["features"].as_u64());
    assert_eq!(after["layers"]["mirna"]["scale"], "log2");
    assert!(a.join("normalize/proteome.fitted.json").exists());
    // Unknown keys are refused before any data is read.
    std::fs::write(
        &cfg,
        "[layers.proteome]\ntransfrom = { method = \"log2\" }\n",
    )
    .unwrap();
    let e = fail(&[
        "normalize",
        p(&store),
        "-o",
        p(&d.path().join("c")),
        "--config",
        p(&cfg),
    ]);
    assert!(e.contains("transfrom"), "{e}");
}

/// Ingest → normalize (valid-70 filter only) → diff reproduces R limma's topTable on the
/// synthetic-S oracle (legacy prior, as limma 3.54 made it).
#[test]
fn diff_matches_the_limma_oracle_end_to_end() {
    let o = evomics_testkit::require_shared!("oracles/synthetic-S");
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("s");
    ok(&[
        "ingest",
        "-s",
        p(&o.join("samples.tsv")),
        "--layer",
        &format!(
            "proteome={},scale=log2",
            o.join("proteins_log2.tsv").display()
        ),
        "-o",
        p(&store),
        "--quiet",
    ]);
    let cfg = d.path().join("norm.toml");
    std::fs::write(&cfg, "[layers.proteome]\nfilters = [{ method = \"valid_values\", column = \"source\", min_fraction = 0.7 }]\n").unwrap();
    let norm = d.path().join("n");
    ok(&[
        "normalize",
        p(&store),
        "-o",
        p(&norm),
        "--config",
        p(&cfg),
        "--quiet",
    ]);
    let out = d.path().join("diff");
    let mut args = vec![
        "diff".to_string(),
        p(&norm).into(),
        "--layer".into(),
        "proteome".into(),
        "--design".into(),
        "~ 0 + source".into(),
        "--legacy".into(),
        "true".into(),
        "-o".into(),
        p(&out).into(),
        "--quiet".into(),
    ];
    for s in ["ADSC", "UC_MSC", "iMSC", "DPSC", "SYN_MSC"] {
        args.push("--contrast".into());
        args.push(format!("{s}_vs_BM_MSC = {s} - BM_MSC"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&args);
    let (oh, orows) = read_tsv(&o.join("oracle/limma_source_default_toptable.tsv"));
    let mut ours: HashMap<(String, String), (Vec<String>, Vec<String>)> = HashMap::new();
    for s in ["ADSC", "UC_MSC", "iMSC", "DPSC", "SYN_MSC"] {
        let c = format!("{s}_vs_BM_MSC");
        let (h, rows) = read_tsv(&out.join(format!("contrast_{c}.tsv")));
        assert_eq!(rows.len(), 438, "valid-70 keeps 438 features");
        for r in rows {
            ours.insert((r[0].clone(), c.clone()), (h.clone(), r));
        }
        assert!(out.join(format!("contrast_{c}.parquet")).exists());
    }
    let mut checked = 0;
    for r in &orows {
        let (h, mine) = &ours[&(r[0].clone(), r[1].clone())];
        for name in ["logFC", "AveExpr", "t", "P.Value", "adj.P.Val", "B"] {
            let (a, b) = (&r[col(&oh, name)], &mine[col(h, name)]);
            if a == "NA" {
                assert_eq!(b, "NA", "{} {} {name}", r[0], r[1]);
                continue;
            }
            let (a, b): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
            assert!(
                (a - b).abs() <= 1e-6 * a.abs().max(1e-3),
                "{} {} {name}: R {a}, evomics {b}",
                r[0],
                r[1]
            );
            checked += 1;
        }
    }
    assert!(checked > 10_000, "{checked}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["stage"], "diff");
    assert!(m["reports"]["limma"].is_object());
    assert!(out.join("F.tsv").exists() && out.join("fit.tsv").exists());
}

#[test]
fn diff_refuses_linear_values_and_unknown_levels() {
    let d = tempfile::tempdir().unwrap();
    let store = sim_store(d.path(), 5);
    let e = fail(&[
        "diff",
        p(&store),
        "--layer",
        "proteome",
        "--design",
        "~ 0 + source",
        "-o",
        p(&d.path().join("x")),
    ]);
    assert!(e.contains("evomics normalize"), "{e}");
    let norm = d.path().join("n");
    ok(&["normalize", p(&store), "-o", p(&norm), "--quiet"]);
    let e = fail(&[
        "diff",
        p(&norm),
        "--layer",
        "proteome",
        "--design",
        "~ 0 + source",
        "--contrast",
        "ADSC - Bone",
        "-o",
        p(&d.path().join("x")),
    ]);
    assert!(e.contains("Bone") && e.contains("BM_MSC"), "{e}");
}

/// On the real MSC secretome, down-shift imputation fills many cells; diff fits limma on the
/// measured values only by default — exactly limma on the matrix with the imputed cells set to
/// NA (the same store normalized without the imputation step) — and every toptable row counts its
/// observed and imputed cells, overall and per group of the contrast. `use_imputed = true` fits
/// them, and says so.
#[test]
fn diff_on_imputed_secretome_fits_measured_values_and_counts_imputed_cells() {
    let dir =
        evomics_testkit::require_shared!("data/real/msc-sources-osteogenic-secretome-proteome");
    let d = tempfile::tempdir().unwrap();
    let store = ingest_secretome(&dir, d.path());
    let base = "filters = [{ method = \"valid_values\", column = \"Cell_type\", min_fraction = 0.5 }]\ntransform = { method = \"log2\" }\nnormalization = { method = \"median\" }\n";
    let mut stores = Vec::new();
    for (name, extra) in [
        (
            "imputed",
            "imputation = { method = \"down_shift\", width = 0.3, shift = 1.8, seed = 7 }\n",
        ),
        ("measured", ""),
    ] {
        let cfg = d.path().join(format!("{name}.toml"));
        std::fs::write(&cfg, format!("[proteome]\n{base}{extra}")).unwrap();
        let out = d.path().join(name);
        ok(&[
            "normalize",
            p(&store),
            "--config",
            p(&cfg),
            "-o",
            p(&out),
            "--quiet",
        ]);
        stores.push(out);
    }
    let contrast = "DPSC_dif = DPSCs.dif - DPSCs.control";
    let diff = |store: &Path, out: &str, extra: &[&str]| -> Tsv {
        let o = d.path().join(out);
        let mut args = vec![
            "diff",
            p(store),
            "--layer",
            "proteome",
            "--design",
            "~ 0 + Cell_type:Differentiation",
            "--contrast",
            contrast,
            "-o",
            p(&o),
            "--quiet",
        ];
        args.extend(extra);
        ok(&args);
        Tsv::read(&o.join("contrast_DPSC_dif.tsv"))
    };
    let default = diff(&stores[0], "d-imputed", &[]);
    let measured = diff(&stores[1], "d-measured", &[]);
    for c in [
        "feature_id",
        "n_obs",
        "logFC",
        "t",
        "P.Value",
        "adj.P.Val",
        "B",
    ] {
        assert_eq!(default.column(c), measured.column(c), "{c}");
    }
    let imputed: Vec<usize> = default
        .column("n_imputed")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    let total: usize = imputed.iter().sum();
    assert!(
        total > 1000,
        "down-shift filled {total} cells of the design samples"
    );
    let n_obs: Vec<usize> = default
        .column("n_obs")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    let observed: Vec<usize> = default
        .column("n_observed")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(n_obs, observed, "the fit uses the measured cells only");
    for g in ["DPSCs.dif", "DPSCs.control"] {
        let by_group: usize = default
            .column(&format!("n_imputed.{g}"))
            .iter()
            .map(|v| v.parse::<usize>().unwrap())
            .sum();
        assert!(by_group > 0, "{g}");
    }
    // Opting in fits the imputed cells: more observations, different statistics.
    let cfg = d.path().join("use.toml");
    std::fs::write(&cfg, "use_imputed = true\n").unwrap();
    let fitted = diff(&stores[0], "d-use", &["--config", p(&cfg)]);
    let n_fit: Vec<usize> = fitted
        .column("n_obs")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(n_fit.iter().zip(&n_obs).any(|(a, b)| a > b));
    assert_ne!(fitted.column("P.Value"), default.column("P.Value"));
}

/// Defaults follow the user's sheet: the secretome's sheet has no `source` column, and a bare
/// normalize groups its valid-values filter by the sheet's first grouping column (`Cell_type`),
/// cluster compares with the sheet's grouping columns, and nothing names `source`.
#[test]
fn defaults_follow_the_sheet_without_a_source_column() {
    let dir =
        evomics_testkit::require_shared!("data/real/msc-sources-osteogenic-secretome-proteome");
    let d = tempfile::tempdir().unwrap();
    let store = ingest_secretome(&dir, d.path());
    let norm = d.path().join("n");
    let out = crate::evomics(&["normalize", p(&store), "-o", p(&norm)]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(!log.contains("source"), "{log}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(norm.join("manifest.json")).unwrap())
            .unwrap();
    let filters = m["settings"]["layers"]["proteome"]["filters"].to_string();
    assert!(filters.contains("\"column\":\"Cell_type\""), "{filters}");
    assert_eq!(
        m["settings"]["layers"]["proteome"]["report_group"],
        "Cell_type"
    );
    let cl = d.path().join("cl");
    ok(&[
        "cluster",
        p(&norm),
        "--layer",
        "proteome",
        "--k",
        "2..4",
        "--complete-features",
        "-o",
        p(&cl),
        "--quiet",
    ]);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cl.join("result.json")).unwrap()).unwrap();
    let by = r["result"]["config"]["by"].to_string();
    assert!(by.starts_with("[\"Cell_type\",\"Differentiation\""), "{by}");
}
