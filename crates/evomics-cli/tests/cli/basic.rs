//! simulate, ingest, info, export.

use std::path::Path;

use crate::{fail, ok, p};

/// simulate → ingest → export gives back the simulated values exactly, missing cells as NA, and
/// `info --json` agrees with the simulator's summary.
#[test]
fn simulated_cohort_round_trips() {
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("sim");
    let tsv = d.path().join("tsv");
    ok(&[
        "simulate",
        "--preset",
        "small",
        "--seed",
        "11",
        "-o",
        p(&store),
        "--tsv",
        p(&tsv),
        "--quiet",
    ]);
    let ingested = d.path().join("ing");
    ok(&[
        "ingest",
        "-s",
        p(&tsv.join("samples.tsv")),
        "--layer",
        &format!(
            "proteome={},scale=linear",
            tsv.join("proteome.tsv").display()
        ),
        "--layer",
        &format!("mirna={},scale=counts", tsv.join("mirna.tsv").display()),
        "-o",
        p(&ingested),
        "--quiet",
    ]);
    for layer in ["proteome", "mirna"] {
        let out = d.path().join(format!("{layer}.tsv"));
        ok(&[
            "export",
            p(&ingested),
            "--layer",
            layer,
            "-o",
            p(&out),
            "--quiet",
        ]);
        let exported = std::fs::read_to_string(&out).unwrap();
        let simulated = std::fs::read_to_string(tsv.join(format!("{layer}.tsv"))).unwrap();
        assert_eq!(exported, simulated, "layer {layer} round-trips exactly");
        // The simulator's own store exports the same text.
        let out2 = d.path().join(format!("{layer}-sim.tsv"));
        ok(&[
            "export",
            p(&store),
            "--layer",
            layer,
            "-o",
            p(&out2),
            "--quiet",
        ]);
        assert_eq!(std::fs::read_to_string(&out2).unwrap(), simulated);
    }
    // The MaxQuant-layout copy reads back to the same values (reverse and contaminant rows dropped).
    let mq = d.path().join("mq");
    ok(&[
        "ingest",
        "-s",
        p(&tsv.join("samples.tsv")),
        "--layer",
        &format!("proteome={}", tsv.join("proteinGroups.txt").display()),
        "-o",
        p(&mq),
        "--quiet",
    ]);
    let mq_tsv = d.path().join("mq.tsv");
    ok(&[
        "export",
        p(&mq),
        "--layer",
        "proteome",
        "-o",
        p(&mq_tsv),
        "--quiet",
    ]);
    assert_eq!(
        std::fs::read_to_string(&mq_tsv).unwrap(),
        std::fs::read_to_string(tsv.join("proteome.tsv")).unwrap()
    );
    let proteome = std::fs::read_to_string(tsv.join("proteome.tsv")).unwrap();
    assert!(
        proteome.contains("\tNA"),
        "missing proteome cells are written as NA"
    );
    assert!(!proteome.contains("NaN"));

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tsv.join("summary.json")).unwrap()).unwrap();
    let info: serde_json::Value =
        serde_json::from_str::<serde_json::Value>(&ok(&["info", p(&ingested), "--json"])).unwrap()
            ["summary"]
            .clone();
    assert_eq!(info["samples"], summary["n_samples"]);
    for l in summary["layers"].as_array().unwrap() {
        let name = l["layer"].as_str().unwrap();
        let i = &info["layers"][name];
        assert_eq!(i["features"], l["n_features"], "{name}");
        assert_eq!(i["samples"], l["n_samples"], "{name}");
        assert_eq!(i["observed"], l["observed"], "{name}");
        assert_eq!(i["missing"], l["missing"], "{name}");
        assert_eq!(i["imputed"], 0, "{name}");
    }
}

/// The same seed gives byte-identical stores (manifest run info aside); another seed differs.
#[test]
fn simulate_is_deterministic() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    let b = d.path().join("b");
    let c = d.path().join("c");
    ok(&["simulate", "--seed", "5", "-o", p(&a), "--quiet"]);
    ok(&["simulate", "--seed", "5", "-o", p(&b), "--quiet"]);
    ok(&["simulate", "--seed", "6", "-o", p(&c), "--quiet"]);
    let files = [
        "samples.parquet",
        "layers/proteome/values.parquet",
        "layers/proteome/flags.parquet",
        "layers/mirna/values.parquet",
    ];
    for f in files {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    assert_ne!(
        std::fs::read(a.join("layers/proteome/values.parquet")).unwrap(),
        std::fs::read(c.join("layers/proteome/values.parquet")).unwrap()
    );
    let strip = |dir: &Path| {
        let mut m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap())
                .unwrap();
        m.as_object_mut().unwrap().remove("run");
        m
    };
    assert_eq!(strip(&a), strip(&b));
}

#[test]
fn bad_inputs_give_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let e = fail(&["info", p(&d.path().join("nope"))]);
    assert!(e.contains("no manifest.json"), "{e}");
    let e = fail(&[
        "ingest",
        "-s",
        p(&d.path().join("missing.tsv")),
        "--layer",
        "x=y.tsv",
        "-o",
        p(&d.path().join("o")),
    ]);
    assert!(
        e.contains("cannot read") && e.contains("missing.tsv"),
        "{e}"
    );
    let sheet = d.path().join("s.tsv");
    std::fs::write(&sheet, "sample_id\tsource\nA\tADSC\n").unwrap();
    let m = d.path().join("m.tsv");
    std::fs::write(&m, "id\tA\nf1\toops\n").unwrap();
    let e = fail(&[
        "ingest",
        "-s",
        p(&sheet),
        "--layer",
        &format!("p={}", m.display()),
        "-o",
        p(&d.path().join("o")),
    ]);
    assert!(
        e.contains("m.tsv:2, column 'A'") && e.contains("'oops' is not a number"),
        "{e}"
    );
    assert!(!d.path().join("o").exists(), "no output on error");
    let e = fail(&["simulate", "--samples", "0", "-o", p(&d.path().join("z"))]);
    assert!(e.contains("n_samples"), "{e}");
}

/// `--json` prints one summary document on stdout for every subcommand (the layout of
/// docs/cli.md), with the command's outputs, its messages and its own summary.
#[test]
fn every_subcommand_prints_a_json_summary() {
    let d = tempfile::tempdir().unwrap();
    let dir = |n: &str| d.path().join(n);
    let doc = |args: &[&str]| -> serde_json::Value {
        let mut with = args.to_vec();
        with.extend(["--json", "--quiet"]);
        let text = ok(&with);
        let v: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("evomics {args:?} --json: {e}\n{text}"));
        assert_eq!(v["schema"], 1);
        assert_eq!(v["command"], args[0]);
        assert!(v["messages"].is_array() && v["warnings"].is_array());
        v
    };
    let mut seen = Vec::new();
    let mut run = |args: &[&str]| {
        seen.push(args[0].to_string());
        doc(args)
    };
    let s = run(&[
        "simulate",
        "--preset",
        "small",
        "--seed",
        "3",
        "-o",
        p(&dir("sim")),
        "--tsv",
        p(&dir("tsv")),
    ]);
    assert_eq!(s["summary"]["samples"], 36);
    assert_eq!(s["outputs"].as_array().unwrap().len(), 2);
    let tsv = dir("tsv");
    let i = run(&[
        "ingest",
        "-s",
        p(&tsv.join("samples.tsv")),
        "--layer",
        &format!(
            "proteome={},scale=linear",
            tsv.join("proteome.tsv").display()
        ),
        "-o",
        p(&dir("ing")),
    ]);
    assert_eq!(i["summary"]["layers"]["proteome"]["samples"], 36);
    // ingest and normalize summarize the experiment they hold: the one `info` reads back.
    let info_ing = run(&["info", p(&dir("ing"))])["summary"].clone();
    assert_eq!(i["summary"], info_ing);
    assert_eq!(run(&["info", p(&dir("sim"))])["summary"]["samples"], 36);
    let e = run(&[
        "export",
        p(&dir("sim")),
        "--layer",
        "mirna",
        "-o",
        p(&dir("mirna.tsv")),
    ]);
    assert_eq!(e["summary"]["samples"], 36);
    // `-o -` writes the same table to stdout, and no file named `-`.
    let piped = ok(&["export", p(&dir("sim")), "--layer", "mirna", "-o", "-"]);
    assert_eq!(piped, std::fs::read_to_string(dir("mirna.tsv")).unwrap());
    assert!(!std::path::Path::new("-").exists());
    let q = run(&["qc", p(&dir("sim")), "-o", p(&dir("qc"))]);
    assert!(q["summary"]["layers"][0]["outliers"].is_array(), "{q}");
    let n = run(&["normalize", p(&dir("sim")), "-o", p(&dir("norm"))]);
    assert_eq!(n["summary"]["layers"]["proteome"]["scale"], "log2");
    let mut n_summary = n["summary"].clone();
    assert!(n_summary["normalize"].is_object());
    n_summary.as_object_mut().unwrap().remove("normalize");
    assert_eq!(n_summary, run(&["info", p(&dir("norm"))])["summary"]);
    let df = run(&[
        "diff",
        p(&dir("norm")),
        "-o",
        p(&dir("diff")),
        "--layer",
        "proteome",
        "--design",
        "~ 0 + source",
        "--contrast",
        "ADSC - BM_MSC",
    ]);
    let c = &df["summary"]["contrasts"][0];
    assert_eq!(c["contrast"], "ADSC - BM_MSC");
    assert!(
        c["tested"].as_u64().unwrap() > 100 && c["significant"].as_u64().is_some(),
        "{df}"
    );
    let ex = run(&[
        "explore",
        p(&dir("norm")),
        "-o",
        p(&dir("explore")),
        "--layer",
        "proteome",
        "--by",
        "source",
    ]);
    assert!(!ex["summary"].is_null());
    let cl = run(&[
        "cluster",
        p(&dir("norm")),
        "-o",
        p(&dir("cluster")),
        "--layer",
        "proteome",
        "--k",
        "3",
        "--complete-features",
    ]);
    assert!(!cl["summary"].is_null());
    let tr = run(&[
        "train",
        p(&dir("sim")),
        "-o",
        p(&dir("train")),
        "--target",
        "potency_class",
        "--layers",
        "mirna",
        "--cv",
        "k_fold",
        "--folds",
        "3",
    ]);
    assert!(tr["summary"]["data_hash"].is_string(), "{tr}");
    let pr = run(&[
        "predict",
        p(&dir("train")),
        p(&dir("sim")),
        "-o",
        p(&dir("pred.tsv")),
    ]);
    assert_eq!(pr["summary"]["samples"], 36);
    assert_eq!(pr["summary"]["in_training"], 36);
    assert!(
        !pr["warnings"].as_array().unwrap().is_empty(),
        "the training-sample warning is kept"
    );
    let cfg = workspace_file("workflows/mirna-only.toml");
    let plan = run(&["run", p(&cfg), "-o", p(&dir("run")), "--dry-run"]);
    assert_eq!(plan["summary"]["dry_run"], true);
    assert!(!dir("run").exists(), "a dry run writes nothing");
    let r = run(&["run", p(&cfg), "-o", p(&dir("run"))]);
    let stages = r["summary"]["stages"].as_array().unwrap();
    assert!(stages.iter().all(|s| s["action"] == "run"));
    assert!(stages
        .iter()
        .any(|s| s["name"] == "qc" && s["summary"]["layers"].is_array()));
    let rp = run(&["report", p(&dir("run")), "-o", p(&dir("r.html"))]);
    assert!(rp["summary"]["bytes"].as_u64().unwrap() > 1000);
    // demo is `run` on an embedded config (same code path); every other subcommand is here.
    let help = ok(&["help"]);
    for sub in help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|s| !["help", "demo"].contains(s))
    {
        assert!(seen.iter().any(|x| x == sub), "{sub} --json is not tested");
    }
}

fn workspace_file(rel: &str) -> std::path::PathBuf {
    evomics_testkit::workspace_root().join(rel)
}

/// The two wildfire batch tables as one `mirna` layer, from the command line and from a run
/// config: 373 miRNAs × 30 samples, the cells of miRNAs a batch lacks flagged
/// `absent_from_file`; `normalize` leaves those cells without a value (never 0), and the read
/// report lists both files.
#[test]
fn several_files_into_one_layer_on_the_command_line_and_in_a_run_config() {
    use evomics_core::ValueFlag;
    let dir = evomics_testkit::require_shared!("data/real/mouse-plasma-ev-mirna-wildfire");
    let d = tempfile::tempdir().unwrap();
    let sheet = dir.join("microRNAseq_ID_summaries_032821.csv");
    let b0 = format!(
        "mirna={}",
        dir.join("batch0_mouse_miRNA_count.csv").display()
    );
    let b1 = format!(
        "mirna={}",
        dir.join("batch1_mouse_miRNA_count.csv").display()
    );
    let store = d.path().join("ing");
    let out = crate::evomics(&[
        "ingest",
        "-s",
        p(&sheet),
        "--sample-id-column",
        "Label_from_Core",
        "--allow-missing-samples",
        "--layer",
        &b0,
        "--layer",
        &b1,
        "-o",
        p(&store),
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("batch0_mouse_miRNA_count.csv (format smrnaseq): 262 rows read, 262 features, 21 sample columns")
            && err.contains("batch1_mouse_miRNA_count.csv (format smrnaseq): 348 rows read, 348 features, 9 sample columns")
            && err.contains("2556 cells absent_from_file"),
        "{err}"
    );
    let (exp, manifest) = evomics_io::read_experiment(&store).unwrap();
    let a = exp.layer("mirna").unwrap();
    assert_eq!((a.n_features(), a.n_samples()), (373, 30));
    assert_eq!(a.flag_counts().absent_from_file, 2556);
    let files = &manifest.reports["layers"][0]["files"];
    assert_eq!(files.as_array().map(Vec::len), Some(2), "{files}");
    let info = ok(&["info", p(&store), "--json"]);
    assert!(info.contains("\"absent_from_file\": 2556"), "{info}");
    // normalize: the recommended count pipeline (count filter, TMM log-CPM) keeps every absent
    // cell without a value.
    let norm = d.path().join("norm");
    ok(&["normalize", p(&store), "-o", p(&norm), "--quiet"]);
    let (nexp, _) = evomics_io::read_experiment(&norm).unwrap();
    let n = nexp.layer("mirna").unwrap();
    let mut checked = 0;
    for (i, id) in n.features().ids().iter().enumerate() {
        let src = a.features().position(id).unwrap();
        for (j, s) in n.samples().iter().enumerate() {
            let k = a.sample_position(s).unwrap();
            if a.flags()[[src, k]] == ValueFlag::AbsentFromFile {
                assert_eq!(n.flags()[[i, j]], ValueFlag::AbsentFromFile, "{id} / {s}");
                assert!(n.values()[[i, j]].is_nan());
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "some absent cells survive the count filter");
    // The same in a run config, with join=inner.
    let cfg = d.path().join("run.toml");
    std::fs::write(
        &cfg,
        format!(
            "[ingest]\nsamples = \"{}\"\nsample_id_column = \"Label_from_Core\"\nallow_missing_samples = true\nlayer = [\"{b0}\", \"{b1},join=inner\"]\n",
            sheet.display()
        ),
    )
    .unwrap();
    let run = d.path().join("run");
    ok(&["run", p(&cfg), "-o", p(&run), "--quiet"]);
    let (rexp, _) = evomics_io::read_experiment(&run.join("ingest")).unwrap();
    let r = rexp.layer("mirna").unwrap();
    assert_eq!((r.n_features(), r.n_samples()), (237, 30));
    assert_eq!(r.flag_counts().absent_from_file, 0);
}

/// The cardiac Proteome Discoverer export through `ingest` with the 12 human rows of the data
/// set's `samples.tsv` (its rat rows name the same `Abundances (Normalized): Fn: Sample` headers
/// in the other file, so one sheet of all 24 would map two samples to each column).
#[test]
fn proteome_discoverer_export_ingests() {
    let dir = evomics_testkit::require_shared!("data/real/cardiac-msc-ev-hypoxia-proteomics");
    let d = tempfile::tempdir().unwrap();
    let sheet = d.path().join("human.tsv");
    let all = std::fs::read_to_string(dir.join("samples.tsv")).unwrap();
    let human: Vec<&str> = all
        .lines()
        .enumerate()
        .filter(|(i, l)| *i == 0 || l.contains("\tpd_multiconsensus_human_CPC_MSC.csv.gz\t"))
        .map(|(_, l)| l)
        .collect();
    assert_eq!(human.len(), 13);
    std::fs::write(&sheet, human.join("\n") + "\n").unwrap();
    let store = d.path().join("pd");
    let out = crate::evomics(&[
        "ingest",
        "-s",
        p(&sheet),
        "--layer",
        &format!(
            "proteome={}",
            dir.join("pd_multiconsensus_human_CPC_MSC.csv.gz").display()
        ),
        "-o",
        p(&store),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("format proteome-discoverer, quantity normalized): 1326 rows read, 1326 features kept, 12 samples matched")
            && err.contains("samples matched through sheet column 'pd_abundance_column'"),
        "{err}"
    );
    let (exp, _) = evomics_io::read_experiment(&store).unwrap();
    let a = exp.layer("proteome").unwrap();
    assert_eq!((a.n_features(), a.n_samples()), (1326, 12));
    assert_eq!(a.samples()[0], "CPC.A.Normoxia");
}
