//! run and demo: one config, every stage, reuse, determinism.

use std::path::{Path, PathBuf};

use crate::{col, fail, ok, p, read_tsv, snapshot};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn run_reuses_unchanged_stages_and_reruns_identically() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("demo");
    let cfg = workspace().join("workflows/demo.toml");
    let plan = ok(&["run", p(&cfg), "-o", p(&out), "--dry-run"]);
    for stage in [
        "ingest",
        "qc",
        "normalize",
        "diff.source",
        "explore",
        "cluster",
    ] {
        assert!(plan.contains(stage), "plan lists {stage}:\n{plan}");
    }
    assert!(!out.exists(), "a dry run writes nothing");
    ok(&["run", p(&cfg), "-o", p(&out), "--quiet"]);
    let first = snapshot(&out);
    assert!(first.contains_key("diff/source/contrast_ADSC_vs_BM_MSC.tsv"));
    assert!(first.contains_key("qc/purity.tsv"));
    assert!(first.contains_key("cluster/pca_scores.tsv"));
    let html = String::from_utf8(first["report.html"].clone()).unwrap();
    for section in [
        "Run summary",
        "Sample quality control",
        "Principal component analysis",
        "Differential abundance",
        "Methods",
    ] {
        assert!(html.contains(section), "report has {section}");
    }
    for tag in ["<script", "<link", "<img", "src=\"http", "href=\"http"] {
        assert!(!html.contains(tag), "report is self-contained: found {tag}");
    }
    let out2 = d.path().join("log");
    let again = crate::evomics(&["run", p(&cfg), "-o", p(&out)]);
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(log.contains("ingest: unchanged, reused"), "{log}");
    assert!(log.contains("normalize: unchanged, reused"), "{log}");
    ok(&["run", p(&cfg), "-o", p(&out), "--force", "--quiet"]);
    let second = snapshot(&out);
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        second.keys().collect::<Vec<_>>()
    );
    for (k, v) in &first {
        assert!(
            v == &second[k],
            "{k} differs after a forced rerun with the same seed"
        );
    }
    assert!(!out2.exists());
}

/// The stores a run writes while later stages work are recorded in `run.json` even when a
/// later stage fails, so the rerun after the fix reuses them.
#[test]
fn a_failed_stage_leaves_the_written_stores_reusable() {
    let d = tempfile::tempdir().unwrap();
    let data = workspace().join("test-data/sim-small");
    let cfg = d.path().join("run.toml");
    let config = |contrast: &str| {
        format!(
            "seed = 3\n[ingest]\nsamples = \"{}\"\nlayer = [\"proteome={},scale=linear\"]\n\
             [normalize.proteome]\ntransform = {{ method = \"log2\" }}\n\
             [diff.source]\nlayer = \"proteome\"\ndesign = \"~ 0 + source\"\ncontrasts = [\"{contrast}\"]\n",
            data.join("samples.tsv").display(),
            data.join("proteome.tsv").display(),
        )
    };
    std::fs::write(&cfg, config("NOPE - BM_MSC")).unwrap();
    let run = d.path().join("run");
    let err = fail(&["run", p(&cfg), "-o", p(&run), "--quiet"]);
    assert!(err.contains("diff.source") && err.contains("NOPE"), "{err}");
    let state = std::fs::read_to_string(run.join("run.json")).unwrap();
    for stage in ["\"ingest\"", "\"normalize\""] {
        assert_eq!(
            state.matches(stage).count(),
            2,
            "{stage} recorded:\n{state}"
        );
    }
    assert!(!state.contains("diff.source"), "{state}");
    std::fs::write(&cfg, config("ADSC - BM_MSC")).unwrap();
    let again = crate::evomics(&["run", p(&cfg), "-o", p(&run)]);
    assert!(again.status.success());
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(log.contains("ingest: unchanged, reused"), "{log}");
    assert!(log.contains("normalize: unchanged, reused"), "{log}");
}

/// A run without a report releases the normalized layers no later stage reads; its `diff`,
/// `cluster` and `train` folders equal the stage commands' outputs on the run's stores (as the
/// dry run prints them), apart from the manifests. Its `train` takes the final model's
/// pipelines from `normalize` (the same pipelines on the same samples) and says so.
#[test]
fn run_stages_equal_the_stage_commands_on_its_stores() {
    let d = tempfile::tempdir().unwrap();
    let data = workspace().join("test-data/sim-small");
    let cfg = d.path().join("run.toml");
    std::fs::write(
        &cfg,
        format!(
            "seed = 3\n[ingest]\nsamples = \"{}\"\nlayer = [\"proteome={},scale=linear\", \"mirna={},scale=counts\"]\n\
             [normalize.proteome]\ntransform = {{ method = \"log2\" }}\nnormalization = {{ method = \"median\" }}\n\
             imputation = {{ method = \"down_shift\", seed = 7 }}\n\
             [normalize.mirna]\ntransform = {{ method = \"log_cpm\", norm_factors = {{ method = \"tmm\" }} }}\n\
             [diff.source]\nlayer = \"proteome\"\ndesign = \"~ 0 + source\"\ncontrasts = [\"ADSC - BM_MSC\"]\n\
             [cluster]\nlayer = \"proteome\"\nmethod = [\"kmeans\"]\nk = 3\n\
             [train]\ntarget = \"potency_class\"\nlayers = [\"proteome\", \"mirna\"]\npermutations = 0\nlearning_curve = []\n\
             [train.preprocess.proteome]\ntransform = {{ method = \"log2\" }}\nnormalization = {{ method = \"median\" }}\n\
             imputation = {{ method = \"down_shift\", seed = 7 }}\n\
             [train.preprocess.mirna]\ntransform = {{ method = \"log_cpm\", norm_factors = {{ method = \"tmm\" }} }}\n\
             [train.cv]\nscheme = \"group_k_fold\"\nk = 3\ngroup = \"donor_id\"\n\
             [train.model]\nmodel = \"elastic_net\"\nalpha = 0.5\nlambda = 0.05\n",
            data.join("samples.tsv").display(),
            data.join("proteome.tsv").display(),
            data.join("mirna.tsv").display()
        ),
    )
    .unwrap();
    let run = d.path().join("run");
    let out = crate::evomics(&["run", p(&cfg), "-o", p(&run)]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("pipelines of layer(s) mirna, proteome are the fits `normalize` made"),
        "{log}"
    );
    let norm = run.join("normalize");
    for (cmd, stage) in [
        ("diff", "diff.source"),
        ("cluster", "cluster"),
        ("train", "train"),
    ] {
        let by_hand = d.path().join(stage);
        let config = run.join(format!("config/{stage}.toml"));
        let store = if cmd == "train" {
            run.join("ingest")
        } else {
            norm.clone()
        };
        ok(&[
            cmd,
            p(&store),
            "--config",
            p(&config),
            "-o",
            p(&by_hand),
            "--quiet",
        ]);
        let folder = match cmd {
            "diff" => run.join("diff/source"),
            _ => run.join(stage),
        };
        let strip = |m: std::collections::BTreeMap<String, Vec<u8>>| {
            m.into_iter()
                .filter(|(rel, _)| !rel.ends_with("manifest.json"))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let (a, b) = (strip(snapshot(&folder)), strip(snapshot(&by_hand)));
        assert!(a.len() >= 3, "{stage}: {:?}", a.keys());
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (k, v) in &a {
            assert!(v == &b[k], "{stage}: {k} differs from the stage command's");
        }
    }
}

#[test]
fn run_config_errors_name_the_stage() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[ingest]\nsamples = \"s.tsv\"\nlayer = [\"p=x.tsv\"]\n[colour]\nx = 1\n",
    )
    .unwrap();
    let e = fail(&["run", p(&cfg), "-o", p(&d.path().join("o"))]);
    assert!(e.contains("colour") && e.contains("stages"), "{e}");
    let sheet = workspace().join("test-data/sim-small/samples.tsv");
    let prot = workspace().join("test-data/sim-small/proteome.tsv");
    std::fs::write(
        &cfg,
        format!(
            "[ingest]\nsamples = \"{}\"\nlayer = [\"proteome={},scale=linear\"]\n[qc]\ngroup_byy = \"source\"\n",
            sheet.display(),
            prot.display()
        ),
    )
    .unwrap();
    let e = fail(&["run", p(&cfg), "-o", p(&d.path().join("o"))]);
    assert!(e.contains("line 5") && e.contains("group_byy"), "{e}");
    // Checked before any stage runs: the ingest stage before the bad one wrote nothing.
    assert!(!d.path().join("o").join("ingest").exists());
}

#[test]
fn example_workflows_run_on_test_data() {
    let d = tempfile::tempdir().unwrap();
    for w in ["maxquant-proteome", "mirna-only", "potency-model"] {
        let out = d.path().join(w);
        ok(&[
            "run",
            p(&workspace().join(format!("workflows/{w}.toml"))),
            "-o",
            p(&out),
            "--quiet",
        ]);
        assert!(out.join("report.html").is_file(), "{w} writes report.html");
        let analysis = if w == "potency-model" {
            "train/model.json"
        } else {
            "diff"
        };
        assert!(out.join(analysis).exists(), "{w} writes {analysis}");
    }
}

/// The README's first command: the demo needs no inputs and writes report.html.
#[test]
fn demo_writes_the_report() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("demo");
    ok(&["demo", "-o", p(&out), "--quiet"]);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for section in [
        "Sample quality control",
        "Predictive models",
        "Variance partition",
        "Methods",
    ] {
        assert!(html.contains(section), "demo report has {section}");
    }
    assert!(out.join("train/model.json").is_file());
    assert!(out.join("inputs/samples.tsv").is_file());
    // The UMAP of the six simulated sources: k-means on the embedding recovers them far above
    // chance (ARI 0 for random labels), and the report draws it beside the PCA.
    let (h, rows) = read_tsv(&out.join("cluster/umap_agreement.tsv"));
    let source = rows
        .iter()
        .find(|r| r[col(&h, "column")] == "source")
        .unwrap();
    assert_eq!(source[col(&h, "k")], "6");
    let ari: f64 = source[col(&h, "ARI")].parse().unwrap();
    println!("UMAP source ARI {ari:.3}");
    assert!(ari > 0.35, "source ARI of k-means on the UMAP: {ari}");
    assert!(html.contains("aria-label=\"UMAP of proteome coloured by source"));
    assert!(html.contains("not distances"));
    // The 5-feature release panel: chosen inside every training fold (each fold keeps 5, so the
    // candidates' selection frequencies sum to 5), reported beside the full model.
    let (h, rows) = read_tsv(&out.join("train/panel_candidates.tsv"));
    let total: f64 = rows
        .iter()
        .map(|r| r[col(&h, "selection_frequency")].parse::<f64>().unwrap())
        .sum();
    assert!(
        (total - 5.0).abs() < 1e-9,
        "selection frequencies sum to {total}"
    );
    let (h, panel) = read_tsv(&out.join("train/panel.tsv"));
    assert_eq!(panel.len(), 5);
    for r in &panel {
        let f: f64 = r[col(&h, "selection_frequency")].parse().unwrap();
        assert!(f > 0.0 && f <= 1.0, "{r:?}");
        assert!(rows.iter().any(|c| c[1] == r[col(&h, "feature")]));
    }
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("train/metrics.json")).unwrap())
            .unwrap();
    let side = |key: &str| {
        metrics["panel"][key]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "roc_auc")
            .and_then(|m| m["pooled"].as_f64())
            .unwrap()
    };
    println!(
        "panel ROC AUC {:.3} against the full model's {:.3}",
        side("summary"),
        side("full_summary")
    );
    assert_eq!(metrics["panel"]["full_vs_panel"]["metric"], "roc_auc");
    assert!(out.join("train/panel-model.json").is_file());
    assert!(html.contains("Release panel"));
    // Reruns give the same embedding byte for byte: cluster/umap.tsv is among the files
    // `demo_outputs_are_the_recorded_ones` compares with their recorded hashes.
    // The standards files of the same demo run, and the SDRF round trip.
    crate::standards::demo_standards(&out);
}

/// The demo's outputs, file by file, as recorded in `test-data/golden/demo.sha256` (SHA-256 of
/// every file but the manifests, `run.json` and the written configs, whose paths and times
/// differ by where and when it ran). A change to any output must be deliberate: rerun with
/// `EVOMICS_BLESS=1` to record the new outputs, and say why in the commit.
#[test]
fn demo_outputs_are_the_recorded_ones() {
    use sha2::{Digest, Sha256};
    let d = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_evomics"))
        .args(["demo", "-o", "demo", "--quiet"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = crate::snapshot(&d.path().join("demo"))
        .into_iter()
        .filter(|(rel, _)| {
            !rel.ends_with("manifest.json") && rel != "run.json" && !rel.starts_with("config/")
        })
        .map(|(rel, bytes)| {
            let h: String = Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("{h}  demo/{rel}")
        })
        .collect();
    lines.sort_by(|a, b| a[66..].cmp(&b[66..]));
    let text = lines.join("\n") + "\n";
    let golden = workspace().join("test-data/golden/demo.sha256");
    if std::env::var("EVOMICS_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&golden, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&golden).unwrap();
    let want: std::collections::BTreeMap<&str, &str> = want
        .lines()
        .filter_map(|l| l.split_once("  ").map(|(h, p)| (p, h)))
        .collect();
    let got: std::collections::BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.split_once("  ").map(|(h, p)| (p, h)))
        .collect();
    let differ: Vec<&str> = want
        .keys()
        .chain(got.keys())
        .filter(|k| want.get(*k) != got.get(*k))
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(
        differ.is_empty(),
        "demo outputs differ from test-data/golden/demo.sha256 (rerun with EVOMICS_BLESS=1 if the change is intended): {differ:?}"
    );
    // The demo's report as a browser shows it: every section, a screenshot, no console error.
    crate::report::check_in_browser(&d.path().join("demo/report.html"), &crate::report::SECTIONS);
}

/// The report's methods say what ran: sample-level folds and free permutations are described
/// as such (never as donor-grouped), count-layer QC by its own rules, the model by its target.
#[test]
fn methods_text_follows_what_ran() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("run.toml");
    std::fs::write(
        &cfg,
        format!(
            "seed = 3\n[ingest]\nsamples = \"{}\"\nlayer = [\"mirna={},scale=counts\"]\n[qc]\n\
             [train]\ntarget = \"potency_class\"\nlayers = [\"mirna\"]\npermutations = 4\n\
             cv = {{ scheme = \"k_fold\", k = 3 }}\n[train.preprocess.mirna]\n\
             transform = {{ method = \"log_cpm\" }}\n[report]\n",
            workspace()
                .join("test-data/sim-small/samples.tsv")
                .display(),
            workspace().join("test-data/sim-small/mirna.tsv").display()
        ),
    )
    .unwrap();
    let out = d.path().join("o");
    ok(&["run", p(&cfg), "-o", p(&out), "--quiet"]);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let methods = &html[html.find("id=\"methods\"").expect("a methods section")..];
    for want in [
        "3-fold cross-validation of samples",
        "preparations of one donor can be in both training and test folds",
        "4 permutations of the labels over all samples",
        "preprocessing fitted inside each training fold",
        "mirna (counts): library size and detected features",
        "of potency_class from mirna",
    ] {
        assert!(methods.contains(want), "methods lack '{want}'");
    }
    assert!(!methods.contains("no donor_id in both"));
    assert!(!html.contains("Potency models"));
}

/// The QC and cluster stages write MultiQC custom content that MultiQC (from PyPI) loads: its
/// report has the sample QC table, the MISEV purity gate and the PCA, with the values of the
/// stage's own tables.
#[test]
fn multiqc_loads_the_qc_purity_pca_and_biofluid_sections() {
    let Some(python) = evomics_testkit::python_with("EVOMICS_PYTHON_MULTIQC", None, "multiqc")
    else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    // The demo: a proteome (sample QC, purity gate, PCA) and a miRNA layer (biofluid checks).
    let res = d.path().join("res");
    ok(&["demo", "-o", p(&res), "--quiet"]);
    let out = d.path().join("mqc");
    let run = std::process::Command::new(&python)
        .args(["-m", "multiqc", p(&res), "-o", p(&out), "--no-ansi", "-q"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let html = std::fs::read_to_string(out.join("multiqc_report.html")).unwrap();
    for section in [
        "evomics: sample QC (proteome)",
        "evomics: MISEV purity gate (proteome)",
        "evomics: PCA (proteome)",
        "evomics: biofluid contamination (mirna)",
    ] {
        assert!(
            html.contains(section),
            "the MultiQC report lacks '{section}'"
        );
    }
    // MultiQC's parsed table equals evomics' own QC table.
    let data = out.join("multiqc_data");
    let (mh, mrows) =
        evomics_testkit::read_tsv(&data.join("multiqc_evomics_qc_proteome_table.txt"));
    let (qh, qrows) = evomics_testkit::read_tsv(&res.join("qc/samples.tsv"));
    let q: Vec<&Vec<String>> = qrows
        .iter()
        .filter(|r| r[evomics_testkit::col(&qh, "layer")] == "proteome")
        .collect();
    assert_eq!(mrows.len(), q.len());
    for (m, q) in mrows.iter().zip(q) {
        assert_eq!(m[0], q[evomics_testkit::col(&qh, "sample_id")]);
        let a: f64 = m[evomics_testkit::col(&mh, "missing_fraction")]
            .parse()
            .unwrap();
        let b: f64 = q[evomics_testkit::col(&qh, "missing_fraction")]
            .parse()
            .unwrap();
        assert_eq!(a, b);
    }
    let (_, pca) = evomics_testkit::read_tsv(&data.join("multiqc_evomics_pca_proteome_plot.txt"));
    assert!(pca.len() > 10);
    // Every preparation's biofluid verdict, as in qc/biofluid.tsv.
    let (bh, brows) =
        evomics_testkit::read_tsv(&data.join("multiqc_evomics_biofluid_mirna_table.txt"));
    let (qh, qrows) = evomics_testkit::read_tsv(&res.join("qc/biofluid.tsv"));
    assert_eq!(brows.len(), qrows.len());
    for (m, q) in brows.iter().zip(&qrows) {
        assert_eq!(m[0], q[evomics_testkit::col(&qh, "sample_id")]);
        assert_eq!(
            m[evomics_testkit::col(&bh, "verdict")],
            q[evomics_testkit::col(&qh, "verdict")]
        );
    }
}

/// Reads every Parquet file named after the engine (`pyarrow`, `duckdb`, `polars`) and prints
/// one JSON object: file → column → values (floats as Python's shortest repr, so that equal
/// doubles print equal), with the column order.
const READ_PARQUET_PY: &str = r#"
import json, sys
engine, files = sys.argv[1], sys.argv[2:]
def enc(v):
    if isinstance(v, float):
        return {"f": repr(v)}
    return v
out = {}
for p in files:
    if engine == "duckdb":
        import duckdb
        con = duckdb.connect()
        rel = con.execute("SELECT * FROM read_parquet(?)", [p])
        names = [c[0] for c in rel.description]
        rows = rel.fetchall()
        cols = [[n, [enc(r[i]) for r in rows]] for i, n in enumerate(names)]
    elif engine == "polars":
        import polars as pl
        df = pl.read_parquet(p)
        cols = [[n, [enc(v) for v in df[n].to_list()]] for n in df.columns]
    else:
        import pyarrow.parquet as pq
        t = pq.read_table(p)
        cols = [[n, [enc(v) for v in t.column(n).to_pylist()]] for n in t.column_names]
    out[p] = cols
print(json.dumps(out))
"#;

/// Every Parquet file of a whole run (the experiment stores of ingest and normalize, diff's
/// contrast tables, voom's expression and weights) reads back identically, column by column
/// and value by value, in pyarrow 12 (`EVOMICS_PYTHON_PARQUET`, as CI pins it), DuckDB, the
/// current pyarrow and polars (`EVOMICS_PYTHON`).
#[test]
fn every_parquet_output_reads_identically_in_pyarrow_12_current_pyarrow_duckdb_and_polars() {
    let old = evomics_testkit::python_with("EVOMICS_PYTHON_PARQUET", None, "pyarrow, duckdb");
    let new = evomics_testkit::python_with("EVOMICS_PYTHON", Some("python3"), "pyarrow, polars");
    let (Some(old), Some(new)) = (old, new) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    ok(&["demo", "-o", p(&d.path().join("demo")), "--quiet"]);
    let files: Vec<String> = crate::snapshot(&d.path().join("demo"))
        .into_keys()
        .filter(|rel| rel.ends_with(".parquet"))
        .map(|rel| d.path().join("demo").join(rel).display().to_string())
        .collect();
    for kind in [
        "ingest/",
        "normalize/",
        "contrast_",
        "voom_E",
        "voom_weights",
    ] {
        assert!(
            files.iter().any(|f| f.contains(kind)),
            "the demo wrote no Parquet file of '{kind}': {files:?}"
        );
    }
    let read = |py: &str, engine: &str| -> serde_json::Value {
        let out = std::process::Command::new(py)
            .args(["-c", READ_PARQUET_PY, engine])
            .args(&files)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{engine} ({py}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let reference = read(&new, "pyarrow");
    for (py, engine, label) in [
        (&old, "pyarrow", "pyarrow 12"),
        (&old, "duckdb", "DuckDB"),
        (&new, "polars", "polars"),
    ] {
        let got = read(py, engine);
        for f in &files {
            let (want, have) = (&reference[f], &got[f]);
            let names = |v: &serde_json::Value| -> Vec<String> {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c[0].as_str().unwrap().to_string())
                    .collect()
            };
            assert_eq!(names(have), names(want), "{label}: columns of {f}");
            for (w, h) in want
                .as_array()
                .unwrap()
                .iter()
                .zip(have.as_array().unwrap())
            {
                assert_eq!(h[1], w[1], "{label}: {f}, column '{}'", w[0]);
            }
        }
    }
    let version = std::process::Command::new(&old)
        .args(["-c", "import pyarrow; print(pyarrow.__version__)"])
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    assert!(
        version.starts_with("12."),
        "EVOMICS_PYTHON_PARQUET has pyarrow {version}, expected 12.x"
    );
    eprintln!(
        "{} Parquet files: every column identical in pyarrow {version}, DuckDB, current pyarrow and polars",
        files.len()
    );
}
