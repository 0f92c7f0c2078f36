//! qc, normalize and diff, end to end.

use std::collections::HashMap;

use std::path::Path;

use evomics_testkit::Tsv;

use crate::{col, evomics, fail, ok, p, read_tsv, sim_store};

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
        serde_json::from_str::<serde_json::Value>(&ok(&["info", p(&store), "--json"])).unwrap()
            ["summary"]
            .clone();
    let after: serde_json::Value =
        serde_json::from_str::<serde_json::Value>(&ok(&["info", p(&a), "--json"])).unwrap()
            ["summary"]
            .clone();
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

/// `exclude` leaves the same samples out of every stage (`--exclude` and the run config's
/// top-level `exclude`), lists them in each result and records the rule in the manifest; a
/// rule that matches nothing is a warning, a rule on a missing column an error naming it.
#[test]
fn exclude_leaves_samples_out_of_every_stage_and_the_run() {
    let d = tempfile::tempdir().unwrap();
    let store = sim_store(d.path(), 3);
    let json = |path: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let excluded = |dir: &Path| -> Vec<String> {
        json(&dir.join("result.json"))["result"]["excluded"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    // The SEC preparations and one named sample.
    let rules = [
        "--exclude",
        "isolation_method=SEC",
        "--exclude",
        "sample_id=EV00001",
    ];
    let qc = d.path().join("qc");
    let mut args = vec!["qc", p(&store), "-o", p(&qc), "--quiet"];
    args.extend(rules);
    ok(&args);
    let left_out = excluded(&qc);
    assert!(left_out.len() > 5 && left_out.contains(&"EV00001".to_string()));
    let (h, rows) = read_tsv(&qc.join("samples.tsv"));
    assert!(rows
        .iter()
        .all(|r| !left_out.contains(&r[col(&h, "sample_id")])));
    let m = json(&qc.join("manifest.json"));
    assert_eq!(
        m["settings"]["config"]["exclude"][0]["column"],
        "isolation_method"
    );

    let norm = d.path().join("norm");
    let mut args = vec!["normalize", p(&store), "-o", p(&norm), "--quiet"];
    args.extend(rules);
    ok(&args);
    assert_eq!(excluded(&norm), left_out);
    let info: serde_json::Value =
        serde_json::from_str::<serde_json::Value>(&ok(&["info", p(&norm), "--json"])).unwrap()
            ["summary"]
            .clone();
    assert_eq!(
        info["samples"].as_u64().unwrap() as usize,
        36 - left_out.len()
    );

    let all = d.path().join("norm-all");
    ok(&["normalize", p(&store), "-o", p(&all), "--quiet"]);
    for (stage, extra) in [
        (
            "diff",
            vec![
                "--layer",
                "proteome",
                "--design",
                "~ 0 + source",
                "--contrast",
                "ADSC - BM_MSC",
            ],
        ),
        ("explore", vec!["--layer", "proteome", "--by", "source"]),
        ("cluster", vec!["--layer", "proteome", "--k", "3"]),
    ] {
        let out = d.path().join(stage);
        let mut args = vec![stage, p(&all), "-o", p(&out), "--quiet"];
        if stage == "cluster" {
            args.push("--complete-features");
        }
        args.extend(extra);
        args.extend(["--exclude", "batch=B2"]);
        ok(&args);
        let out_ids = excluded(&out);
        assert!(!out_ids.is_empty(), "{stage} lists the samples it left out");
        let r = json(&out.join("result.json"))["result"].clone();
        let text = r.to_string();
        assert!(text.contains("\"batch\""), "{stage} records its rule");
        if stage != "diff" {
            let samples: Vec<&str> = r["samples"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert!(
                out_ids.iter().all(|s| !samples.contains(&s.as_str())),
                "{stage}"
            );
        }
    }

    // A rule that matches nothing warns; a missing column is an error naming it.
    let out = evomics(&[
        "qc",
        p(&store),
        "-o",
        p(&d.path().join("q2")),
        "--exclude",
        "batch=b2",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.contains("matched no sample"),
        "{err}"
    );
    let e = fail(&[
        "qc",
        p(&store),
        "-o",
        p(&d.path().join("q3")),
        "--exclude",
        "bogus=1",
    ]);
    assert!(
        e.contains("'bogus'") && e.contains("isolation_method"),
        "{e}"
    );

    // The run's top-level exclude reaches qc, normalize and train.
    let cfg = d.path().join("run.toml");
    std::fs::write(
        &cfg,
        format!(
            "seed = 7\nexclude = {{ column = \"isolation_method\", values = [\"SEC\"] }}\n\
             [ingest]\nsamples = \"{}\"\nlayer = [\"proteome={}\"]\n[qc]\n[normalize]\n\
             [diff.source]\nlayer = \"proteome\"\ndesign = \"~ 0 + source\"\ncontrasts = [\"ADSC - BM_MSC\"]\n",
            evomics_testkit::test_data("sim-small/samples.tsv").display(),
            evomics_testkit::test_data("sim-small/proteinGroups.txt").display()
        ),
    )
    .unwrap();
    let run = d.path().join("run");
    ok(&["run", p(&cfg), "-o", p(&run), "--quiet"]);
    let sec = excluded(&run.join("qc"));
    assert!(!sec.is_empty());
    assert_eq!(excluded(&run.join("normalize")), sec);
    let diff_samples = json(&run.join("diff/source/manifest.json"));
    assert!(
        diff_samples["settings"]["config"].get("exclude").is_none(),
        "diff reads the normalized store, which no longer holds them"
    );
    let info: serde_json::Value = serde_json::from_str::<serde_json::Value>(&ok(&[
        "info",
        p(&run.join("normalize")),
        "--json",
    ]))
    .unwrap()["summary"]
        .clone();
    assert_eq!(info["samples"].as_u64().unwrap() as usize, 36 - sec.len());
    let toml = std::fs::read_to_string(run.join("config/qc.toml")).unwrap();
    assert!(toml.contains("isolation_method"), "{toml}");
}

/// Present/absent cargo on the real secretome: proteins detected in every DPSC preparation and
/// in no ADSC one (or the reverse) are listed with Fisher's exact p-value, including those limma
/// cannot test (a whole group missing gives NA in the toptable).
#[test]
fn present_absent_proteins_are_listed_where_limma_gives_na() {
    let dir =
        evomics_testkit::require_shared!("data/real/msc-sources-osteogenic-secretome-proteome");
    let d = tempfile::tempdir().unwrap();
    let store = ingest_secretome(&dir, d.path());
    let cfg = d.path().join("n.toml");
    std::fs::write(
        &cfg,
        "[proteome]\ntransform = { method = \"log2\" }\nnormalization = { method = \"median\" }\n",
    )
    .unwrap();
    let norm = d.path().join("norm");
    ok(&[
        "normalize",
        p(&store),
        "--config",
        p(&cfg),
        "-o",
        p(&norm),
        "--quiet",
    ]);
    let out = d.path().join("diff");
    ok(&[
        "diff",
        p(&norm),
        "--layer",
        "proteome",
        "--design",
        "~ 0 + Cell_type",
        "--contrast",
        "DPSCs - ADSCs",
        "-o",
        p(&out),
        "--quiet",
    ]);
    let t = Tsv::read(&out.join("absent_present.tsv"));
    let c = |name: &str| t.col(name);
    let all_or_none: Vec<&Vec<String>> = t
        .rows
        .iter()
        .filter(|r| r[c("all_or_none")] == "true")
        .collect();
    assert!(!all_or_none.is_empty());
    let untestable: Vec<&&Vec<String>> = all_or_none
        .iter()
        .filter(|r| r[c("limma_tested")] == "false")
        .collect();
    assert!(
        !untestable.is_empty(),
        "some all-or-none proteins have no limma p-value"
    );
    // Their exact p: one table of the hypergeometric, or two when the sides are the same size.
    let choose = |n: u64, k: u64| (0..k).fold(1.0, |a, i| a * (n - i) as f64 / (i + 1) as f64);
    for r in &all_or_none {
        let (nu, nd): (u64, u64) = (
            r[c("n_up")].parse().unwrap(),
            r[c("n_down")].parse().unwrap(),
        );
        let up: u64 = r[c("detected_up")].parse().unwrap();
        let k = if up == nu { nu } else { nd };
        let one = 1.0 / choose(nu + nd, k);
        let pv: f64 = r[c("P.Value")].parse().unwrap();
        assert!(
            pv >= one * (1.0 - 1e-9) && pv <= 2.0 * one * (1.0 + 1e-9),
            "{r:?}"
        );
        assert!(r[c("adj.P.Val")] != "NA");
    }
    // The toptable has NA for those proteins: limma could not test them.
    let top = Tsv::read(&out.join("contrast_DPSCs_-_ADSCs.tsv"));
    let id = &untestable[0][c("feature_id")];
    let row = top
        .rows
        .iter()
        .find(|r| &r[0] == id)
        .expect("in the toptable");
    assert_eq!(row[top.col("P.Value")], "NA");

    // explore tests every group against the rest the same way.
    let ex = d.path().join("explore");
    ok(&[
        "explore",
        p(&norm),
        "--layer",
        "proteome",
        "--by",
        "Cell_type",
        "-o",
        p(&ex),
        "--quiet",
    ]);
    let e = Tsv::read(&ex.join("absent_present.tsv"));
    let dpsc: Vec<&Vec<String>> = e
        .rows
        .iter()
        .filter(|r| r[e.col("contrast")] == "Cell_type: DPSCs vs rest")
        .collect();
    assert!(!dpsc.is_empty());
    for r in &dpsc {
        let (n_up, n_down): (usize, usize) = (
            r[e.col("n_up")].parse().unwrap(),
            r[e.col("n_down")].parse().unwrap(),
        );
        assert_eq!(n_up + n_down, 50, "every sample is on one side");
        let pv: f64 = r[e.col("P.Value")].parse().unwrap();
        assert!((0.0..=1.0).contains(&pv));
    }

    // The same analysis in a run: the report lists them under the contrast.
    let cfg = d.path().join("run.toml");
    std::fs::write(
        &cfg,
        format!(
            "[ingest]\nsamples = \"{}\"\nsample_id_column = \"Sample\"\nlayer = [\"proteome={}\"]\n\
             [normalize.proteome]\ntransform = {{ method = \"log2\" }}\nnormalization = {{ method = \"median\" }}\n\
             [diff.cells]\nlayer = \"proteome\"\ndesign = \"~ 0 + Cell_type\"\ncontrasts = [\"DPSCs - ADSCs\"]\n[report]\n",
            dir.join("secretome_samples.tsv").display(),
            dir.join("secretome_fragpipe_combined_protein.tsv.gz").display()
        ),
    )
    .unwrap();
    let run = d.path().join("run");
    ok(&["run", p(&cfg), "-o", p(&run), "--quiet"]);
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        html.contains(&format!(
            "Present/absent: {} feature(s) detected in every sample of one side and in none of the other ({} of them without a limma p-value",
            all_or_none.len(),
            untestable.len()
        )),
        "the report lists the present/absent proteins"
    );
    assert!(html.contains(id.as_str()));
}
