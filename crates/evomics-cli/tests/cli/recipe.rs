//! The limma-voom recipe for counts as a user runs it: one `evomics run` config (filterByExpr →
//! TMM → voom → lmFit → contrasts → eBayes, and limma's two-pass voom with a donor block), its
//! outputs compared with R limma/edgeR (`../shared/oracles/synthetic-S`, made by
//! `../shared/peers/r_oracle_block_voom.R`), in Rust and read back with pandas' default parser.

use std::collections::HashMap;
use std::path::Path;

use evomics_testkit::Tsv;

use crate::{fail, ok, p};

const SOURCES: [&str; 5] = ["ADSC", "UC_MSC", "iMSC", "DPSC", "SYN_MSC"];

fn contrasts() -> Vec<String> {
    SOURCES.iter().map(|s| format!("{s}_vs_BM_MSC")).collect()
}

fn run_config(o: &Path) -> String {
    let list: Vec<String> = SOURCES
        .iter()
        .map(|s| format!("\"{s}_vs_BM_MSC = {s} - BM_MSC\""))
        .collect();
    let list = list.join(", ");
    format!(
        r#"seed = 1

[ingest]
samples = "{samples}"
layer = ["mirna={counts},scale=counts", "proteome={log2},scale=log2"]

[normalize.mirna]
filters = [{{ method = "filter_by_expr", group = "source" }}]
transform = {{ method = "log_cpm", prior_count = 2, norm_factors = {{ method = "tmm" }} }}

[normalize.proteome]
filters = [{{ method = "valid_values", column = "source", min_fraction = 0.7 }}]

[diff.block]
layer = "proteome"
design = "~ 0 + source"
contrasts = [{list}]
legacy = true
block = "donor_id"

[diff.voom]
layer = "mirna"
design = "~ 0 + source"
contrasts = [{list}]
legacy = true

[diff.voom_block]
layer = "mirna"
design = "~ 0 + source"
contrasts = [{list}]
legacy = true
block = "donor_id"
"#,
        samples = o.join("samples.tsv").display(),
        counts = o.join("mirna_counts.tsv").display(),
        log2 = o.join("proteins_log2.tsv").display(),
    )
}

/// Every statistic of every contrast, and the fit table, within 1e-6 relative of R's.
fn compare(diff: &Path, prefix: &Path, n: usize) {
    let oracle = Tsv::read(&prefix.with_file_name(format!(
        "{}_toptable.tsv",
        prefix.file_name().unwrap().to_str().unwrap()
    )));
    let mut ours: HashMap<(String, String), Vec<Option<f64>>> = HashMap::new();
    let stats = ["logFC", "AveExpr", "t", "P.Value", "adj.P.Val", "B"];
    for c in contrasts() {
        let t = Tsv::read(&diff.join(format!("contrast_{c}.tsv")));
        assert_eq!(t.rows.len(), n, "{}", diff.display());
        let cols: Vec<Vec<Option<f64>>> = stats.iter().map(|s| t.numbers(s)).collect();
        for (i, id) in t.column("feature_id").iter().enumerate() {
            ours.insert(
                (id.to_string(), c.clone()),
                cols.iter().map(|v| v[i]).collect(),
            );
        }
    }
    let ids = oracle.column("feature_id");
    let cs = oracle.column("contrast");
    let mut checked = 0;
    for (k, s) in stats.iter().enumerate() {
        for (i, r) in oracle.numbers(s).into_iter().enumerate() {
            let mine = ours[&(ids[i].to_string(), cs[i].to_string())][k];
            evomics_testkit::close::assert_close(
                r,
                mine,
                1e-6,
                0.0,
                &format!("{} {} {s}", ids[i], cs[i]),
            );
            checked += 1;
        }
    }
    assert_eq!(checked, n * 5 * 6);
    let fit_r = Tsv::read(&prefix.with_file_name(format!(
        "{}_fit.tsv",
        prefix.file_name().unwrap().to_str().unwrap()
    )));
    let fit = Tsv::read(&diff.join("fit.tsv"));
    assert_eq!(fit.column("feature_id"), fit_r.column("feature_id"));
    for s in [
        "Amean",
        "sigma",
        "df.residual",
        "s2.prior",
        "df.prior",
        "s2.post",
        "df.total",
    ] {
        for (a, b) in fit_r.numbers(s).into_iter().zip(fit.numbers(s)) {
            evomics_testkit::close::assert_close(a, b, 1e-6, 0.0, &format!("fit {s}"));
        }
    }
}

#[test]
fn the_voom_recipe_in_one_run_config_equals_limma_and_edger() {
    let o = evomics_testkit::require_shared!("oracles/synthetic-S");
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("voom.toml");
    std::fs::write(&cfg, run_config(&o)).unwrap();
    let out = d.path().join("run");
    ok(&["run", p(&cfg), "-o", p(&out), "--quiet"]);
    let oracle = o.join("oracle");

    // filterByExpr's kept set, the libraries and TMM factors.
    let keep = Tsv::read(&oracle.join("edger_filterbyexpr_source.tsv"));
    let kept: Vec<&str> = keep
        .column("feature_id")
        .into_iter()
        .zip(keep.column("keep"))
        .filter(|(_, k)| *k == "1")
        .map(|(id, _)| id)
        .collect();
    let voom = out.join("diff/voom");
    let top = Tsv::read(&voom.join("contrast_ADSC_vs_BM_MSC.tsv"));
    let mut ours = top.column("feature_id");
    ours.sort_unstable();
    let mut want = kept.clone();
    want.sort_unstable();
    assert_eq!(ours, want);
    let lib_r = Tsv::read(&oracle.join("voom_tmm_libraries.tsv"));
    let lib = Tsv::read(&voom.join("voom_libraries.tsv"));
    assert_eq!(lib.column("sample_id"), lib_r.column("sample_id"));
    for (a, b) in [("lib.size", "lib_size"), ("norm.factors", "norm_factors")] {
        for (x, y) in lib_r.numbers(a).into_iter().zip(lib.numbers(b)) {
            evomics_testkit::close::assert_close(x, y, 1e-9, 0.0, a);
        }
    }

    // The statistics of both recipes.
    compare(&voom, &oracle.join("voom_tmm_source"), 207);
    let block = out.join("diff/voom_block");
    compare(&block, &oracle.join("voom_block_source"), 207);
    // Donor blocking of the log2 proteome (valid-70, missing values kept).
    let proteome = out.join("diff/block");
    compare(&proteome, &oracle.join("limma_source_block"), 438);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(proteome.join("manifest.json")).unwrap())
            .unwrap();
    let rho = m["reports"]["limma"]["block_correlation"].as_f64().unwrap();
    let summary = Tsv::read(&oracle.join("block_voom_summary.tsv"));
    let value = |what: &str| -> f64 {
        let i = summary
            .column("what")
            .iter()
            .position(|w| *w == what)
            .unwrap();
        summary.numbers("value")[i].unwrap()
    };
    assert!(
        (rho - value("proteome_block_consensus")).abs() <= 1e-8,
        "{rho}"
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(block.join("manifest.json")).unwrap())
            .unwrap();
    let corr = &m["settings"]["voom_block_correlations"];
    for (key, what) in [
        ("first", "voom_pass1_consensus"),
        ("second", "voom_pass2_consensus"),
    ] {
        let ours = corr[key].as_f64().unwrap();
        assert!(
            (ours - value(what)).abs() <= 1e-8,
            "{key}: {ours} vs R {}",
            value(what)
        );
    }
    assert!(m["settings"]["counts_source"]
        .as_str()
        .unwrap()
        .contains("ingested counts"));

    // Read back by pandas' default parser: P.Value bit-identical to Parquet, every statistic,
    // the fit and voom's weights within 1e-6 of R.
    let Some(python) =
        evomics_testkit::python_with("EVOMICS_PYTHON", Some("python3"), "pandas, pyarrow")
    else {
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/py/read_back.py");
    for (dir, prefix, weights) in [
        (&voom, "voom_tmm_source", Some("voom_tmm_weights.tsv")),
        (&block, "voom_block_source", Some("voom_block_weights.tsv")),
        (&proteome, "limma_source_block", None),
    ] {
        let mut cmd = std::process::Command::new(&python);
        cmd.arg(&script)
            .arg(dir)
            .arg(oracle.join(prefix))
            .arg(contrasts().join(","));
        if let Some(w) = weights {
            cmd.arg(oracle.join(w));
        }
        let res = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&res.stdout);
        if res.status.code() == Some(3) {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI's python needs pandas ≥ 3: {text}"
            );
            eprintln!("skipped: {text}");
            return;
        }
        assert!(
            res.status.success(),
            "{prefix}: {text}{}",
            String::from_utf8_lossy(&res.stderr)
        );
        assert!(text.contains("bit-identical"), "{text}");
    }
}

/// A normalized log-CPM layer is never fitted unweighted by default: without the counts, diff
/// stops and says what to do; `voom = false` is the explicit choice.
#[test]
fn log_cpm_without_counts_is_refused_unless_voom_is_off() {
    let o = evomics_testkit::require_shared!("oracles/synthetic-S");
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("s");
    ok(&[
        "ingest",
        "-s",
        p(&o.join("samples.tsv")),
        "--layer",
        &format!(
            "mirna={},scale=counts",
            o.join("mirna_counts.tsv").display()
        ),
        "-o",
        p(&store),
        "--quiet",
    ]);
    let cfg = d.path().join("norm.toml");
    std::fs::write(
        &cfg,
        "[mirna]\nfilters = [{ method = \"filter_by_expr\", group = \"source\" }]\ntransform = { method = \"log_cpm\" }\n",
    )
    .unwrap();
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
    let base = [
        "diff",
        p(&norm),
        "--layer",
        "mirna",
        "--design",
        "~ 0 + source",
        "--contrast",
        "ADSC_vs_BM_MSC = ADSC - BM_MSC",
    ];
    let out = d.path().join("d");
    let mut args: Vec<&str> = base.to_vec();
    args.extend(["-o", p(&out)]);
    let e = fail(&args);
    assert!(
        e.contains("log-CPM") && e.contains("--counts") && e.contains("voom = false"),
        "{e}"
    );
    assert!(!out.exists(), "no partial output");

    let mut with_counts = args.clone();
    with_counts.extend(["--counts", p(&store), "--quiet"]);
    ok(&with_counts);
    assert!(out.join("voom_weights.parquet").exists() && out.join("voom_libraries.tsv").exists());
    assert_eq!(
        Tsv::read(&out.join("contrast_ADSC_vs_BM_MSC.tsv"))
            .rows
            .len(),
        207
    );

    let out2 = d.path().join("d2");
    let mut unweighted: Vec<&str> = base.to_vec();
    unweighted.extend(["--voom", "false", "-o", p(&out2), "--quiet"]);
    ok(&unweighted);
    assert!(!out2.join("voom_weights.parquet").exists());
}

/// The issue's scenario on real EV miRNA counts (cfarkas): ingested without `scale=`, the counts
/// are recognised as counts (the read report says so), normalize makes log-CPM, and diff runs
/// voom on the counts — never a "logFC" of raw counts.
#[test]
fn raw_counts_without_scale_are_recognised_and_analysed_as_counts() {
    let dir = evomics_testkit::require_shared!("data/real/ev-mirna-metabolic-inhibitors-cfarkas");
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("s");
    let out = crate::evomics(&[
        "ingest",
        "-s",
        p(&dir.join("samples.tsv")),
        "--layer",
        &format!("mirna={}", dir.join("ev_mirna_counts.csv").display()),
        "-o",
        p(&store),
    ]);
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("read as counts"), "{log}");
    let norm = d.path().join("n");
    ok(&["normalize", p(&store), "-o", p(&norm), "--quiet"]);
    let base = [
        "diff",
        p(&norm),
        "--layer",
        "mirna",
        "--design",
        "~ 0 + group",
    ];
    let refused = d.path().join("refused");
    let mut args = base.to_vec();
    args.extend(["-o", p(&refused)]);
    let e = fail(&args);
    assert!(e.contains("log-CPM") && e.contains("--counts"), "{e}");
    let out = d.path().join("d");
    let mut args = base.to_vec();
    args.extend(["--counts", p(&store), "-o", p(&out), "--quiet"]);
    ok(&args);
    assert!(out.join("voom_weights.parquet").exists());
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["settings"]["voom"], true);
    assert_eq!(m["settings"]["voom_norm_factors"], "tmm");
}

/// A layer whose values ingest could not classify is refused by diff, explore and cluster until
/// the user says what it holds.
#[test]
fn a_layer_of_scale_other_needs_to_be_told_what_it_holds() {
    let d = tempfile::tempdir().unwrap();
    let sheet = d.path().join("s.tsv");
    let mut s = String::from("sample_id\tgroup\n");
    let mut m = String::from("id");
    for j in 0..8 {
        s.push_str(&format!("S{j}\t{}\n", if j < 4 { "a" } else { "b" }));
        m.push_str(&format!("\tS{j}"));
    }
    m.push('\n');
    for i in 0..30 {
        m.push_str(&format!("f{i}"));
        for j in 0..8 {
            m.push_str(&format!(
                "\t{}",
                20.0 + ((i * 7 + j * 3) % 11) as f64 * 0.37
                    - 2.0 * f64::from(u8::from(j >= 4 && i < 3))
            ));
        }
        m.push('\n');
    }
    std::fs::write(&sheet, s).unwrap();
    let mat = d.path().join("m.tsv");
    std::fs::write(&mat, m).unwrap();
    let store = d.path().join("st");
    ok(&[
        "ingest",
        "-s",
        p(&sheet),
        "--layer",
        &format!("p={}", mat.display()),
        "-o",
        p(&store),
        "--quiet",
    ]);
    for stage in [
        vec!["diff", p(&store), "--layer", "p", "--design", "~ 0 + group"],
        vec!["explore", p(&store), "--layer", "p", "--by", "group"],
        vec![
            "cluster",
            p(&store),
            "--layer",
            "p",
            "--by",
            "group",
            "--k",
            "2..3",
        ],
    ] {
        let out = d.path().join(format!("o-{}", stage[0]));
        let mut args = stage.clone();
        args.extend(["-o", p(&out)]);
        let e = fail(&args);
        assert!(
            e.contains("scale 'other'") && e.contains("--assume-scale log2"),
            "{e}"
        );
        args.extend(["--assume-scale", "log2", "--quiet"]);
        ok(&args);
    }
}
