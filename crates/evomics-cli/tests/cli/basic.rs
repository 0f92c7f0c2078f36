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
        serde_json::from_str(&ok(&["info", p(&ingested), "--json"])).unwrap();
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
