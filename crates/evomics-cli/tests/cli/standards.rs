//! `report --standards` (MISEV2023, EV-TRACK, DOME, SDRF-Proteomics) and `ingest --sdrf`.

use std::path::{Path, PathBuf};

use crate::{col, fail, ok, p, read_tsv};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `value` of the row whose `item` is `item` (and whose `section` contains `section`).
fn value(file: &Path, item: &str) -> (String, String) {
    let (h, rows) = read_tsv(file);
    let r = rows
        .iter()
        .find(|r| r[col(&h, "item")] == item)
        .unwrap_or_else(|| panic!("{} has no item '{item}'", file.display()));
    let status = h
        .iter()
        .position(|c| c == "status")
        .map(|i| r[i].clone())
        .unwrap_or_default();
    (status, r[col(&h, "value")].clone())
}

/// Every standards table is rectangular, with a known status in every row.
fn check_tables(dir: &Path) {
    for (file, statuses) in [
        (
            "misev2023.tsv",
            &["reported", "not_available", "not_applicable"][..],
        ),
        ("ev-track.tsv", &["filled", "to_fill", "not_applicable"][..]),
    ] {
        let (h, rows) = read_tsv(&dir.join(file));
        assert_eq!(
            h,
            [
                "section",
                "item",
                "status",
                "value",
                h[4].as_str(),
                "user_action"
            ]
        );
        assert!(rows.len() > 15, "{file}: {} rows", rows.len());
        for r in &rows {
            assert_eq!(r.len(), h.len(), "{file}: {r:?}");
            assert!(statuses.contains(&r[2].as_str()), "{file}: {r:?}");
            if r[2] == "not_available" || r[2] == "to_fill" {
                assert!(
                    r[5] != "NA",
                    "{file}: an open item says what to provide: {r:?}"
                );
            }
        }
    }
}

/// Called by `pipeline::demo_writes_the_report` on its demo folder (one demo run for both).
pub fn demo_standards(out: &Path) {
    let st = out.join("standards");
    ok(&[
        "report",
        p(out),
        "-o",
        p(&out.join("report-standards.html")),
        "--standards",
        p(&st),
        "--quiet",
    ]);
    let mut names: Vec<String> = std::fs::read_dir(&st)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "dome-train.tsv",
            "ev-track.tsv",
            "manifest.json",
            "misev2023.tsv",
            "sdrf.tsv"
        ]
    );
    check_tables(&st);
    // Written again in place (evomics output); never onto a stage folder or a folder evomics did
    // not write, unless forced.
    let html = out.join("report-standards.html");
    ok(&[
        "report",
        p(out),
        "-o",
        p(&html),
        "--standards",
        p(&st),
        "--quiet",
    ]);
    let e = fail(&[
        "report",
        p(out),
        "-o",
        p(&html),
        "--standards",
        p(&out.join("qc")),
    ]);
    assert!(e.contains("output '") && e.contains("qc"), "{e}");
    let theirs = out.join("notes");
    std::fs::create_dir_all(&theirs).unwrap();
    std::fs::write(theirs.join("lab.txt"), "kept").unwrap();
    let e = fail(&["report", p(out), "-o", p(&html), "--standards", p(&theirs)]);
    assert!(e.contains("--force") || e.contains("not"), "{e}");
    assert!(theirs.join("lab.txt").is_file());
    let misev = st.join("misev2023.tsv");
    let (status, v) = value(&misev, "EV marker CD63 (category 1a, transmembrane)");
    assert_eq!(status, "reported");
    assert!(
        v.starts_with("proteome: detected in ") && v.ends_with(" of 36 preparations"),
        "{v}"
    );
    let detected: usize = v["proteome: detected in ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(detected >= 30, "{v}");
    let (_, v) = value(
        &misev,
        "Dose normalisation used (particle number, protein mass or none)",
    );
    assert_eq!(
        v,
        "mirna: none (between-sample normalization: none); proteome: none (between-sample normalization: median)"
    );
    let (_, v) = value(&misev, "Donors (biological replicates)");
    assert!(v.starts_with("18 donors"), "{v}");
    let (status, _) = value(
        &misev,
        "Images of single EVs (wide-field and close-up; EM, cryo-EM, AFM or super-resolution)",
    );
    assert_eq!(status, "not_available");
    let (_, v) = value(&misev, "Particle-to-protein ratio (purity)");
    assert!(v.contains("Webber & Clayton 2013"), "{v}");
    let (status, v) = value(&st.join("ev-track.tsv"), "Separation method(s)");
    assert_eq!(status, "filled");
    assert!(v.contains("UC (") && v.contains("SEC ("), "{v}");
    let dome = st.join("dome-train.tsv");
    let (_, v) = value(&dome, "Splits");
    assert!(
        v.starts_with("group k-fold grouped by 'donor_id' (all preparations of one 'donor_id' in the same fold)") && v.contains("5 folds × 1 repeat(s)") && v.contains("; 5 train/test splits"),
        "{v}"
    );
    let (_, v) = value(&dome, "Redundancy between training and test (independence)");
    assert!(v.starts_with("no value of 'donor_id' is in both"), "{v}");
    let (_, v) = value(&dome, "Performance: roc_auc");
    assert!(
        v.starts_with("pooled out-of-fold ") && v.contains("over 5 splits"),
        "{v}"
    );
    let (_, v) = value(&dome, "Permutation test");
    assert!(v.contains("against 19 label permutations"), "{v}");
    let (_, v) = value(&dome, "Algorithm");
    assert!(v.starts_with("elastic_net"), "{v}");

    // SDRF round trip: the demo sheet written as SDRF and ingested back with --sdrf.
    let sdrf = st.join("sdrf.tsv");
    let text = std::fs::read_to_string(&sdrf).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split('\t').collect();
    assert_eq!(
        header[..6],
        [
            "source name",
            "characteristics[organism]",
            "characteristics[organism part]",
            "characteristics[cell type]",
            "characteristics[individual]",
            "characteristics[biological replicate]"
        ]
    );
    for h in [
        "assay name",
        "technology type",
        "comment[data file]",
        "comment[label]",
        "factor value[cell type]",
        "factor value[potency_class]",
    ] {
        assert!(header.contains(&h), "sdrf.tsv has {h}: {header:?}");
    }
    assert_eq!(text.lines().count(), 37);
    let store = out.join("from-sdrf");
    ok(&[
        "ingest",
        "--sdrf",
        p(&sdrf),
        "--layer",
        &format!(
            "proteome={},scale=linear",
            out.join("inputs/proteome.tsv").display()
        ),
        "-o",
        p(&store),
        "--quiet",
    ]);
    let info = |store: &Path| -> serde_json::Value {
        let s = ok(&["info", p(store), "--json"]);
        serde_json::from_str::<serde_json::Value>(&s).unwrap()["summary"].clone()
    };
    let (a, b) = (info(&out.join("ingest")), info(&store));
    assert_eq!(a["samples"], b["samples"]);
    assert_eq!(a["sample_columns"], b["sample_columns"]);
    let (ha, ra) = read_tsv(&out.join("inputs/samples.tsv"));
    let exported = evomics_testkit::text(&sdrf);
    for r in &ra {
        assert!(exported.contains(&format!("\n{}\t", r[col(&ha, "sample_id")])));
    }
}

/// A PRIDE-style SDRF (hand-made after PXD000561: four samples, two fractions each) ingests as a
/// sample sheet: one sample per source name, characteristics as columns, the fractions' data
/// files listed.
#[test]
fn ingest_reads_an_sdrf_file_as_the_sample_sheet() {
    let d = tempfile::tempdir().unwrap();
    let dir = workspace().join("test-data/sdrf");
    let store = d.path().join("exp");
    let out = crate::evomics(&[
        "ingest",
        "--sdrf",
        p(&dir.join("PXD000561.sdrf.tsv")),
        "--layer",
        &format!(
            "proteome={},scale=linear",
            dir.join("proteins.tsv").display()
        ),
        "-o",
        p(&store),
    ]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains(
            "8 rows (data files, fractions or labels) collapsed into 4 samples by 'source name'"
        ),
        "{log}"
    );
    let s = ok(&["info", p(&store), "--json"]);
    let info: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(info["summary"]["samples"], 4);
    let cols: Vec<&str> = info["summary"]["sample_columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        cols,
        [
            "organism",
            "organism_part",
            "developmental_stage",
            "disease",
            "biological_replicate",
            "material_type",
            "assay_name",
            "file_uri",
            "fractionation_method",
            "technical_replicate",
            "fraction_identifier",
            "label",
            "instrument",
            "modification_parameters",
            "modification_parameters_2",
            "cleavage_agent_details",
            "dissociation_method",
            "precursor_mass_tolerance",
            "fragment_mass_tolerance",
            "proteomics_data_acquisition_method",
            "data_file",
            "sdrf_version"
        ]
    );
    // The sheet as stored: tissues per sample, the fractions' files listed in file order.
    let (exp, _) = evomics_io::read_experiment(&store).unwrap();
    let sheet = exp.samples();
    assert_eq!(
        sheet.sample_ids(),
        ["Sample 1", "Sample 2", "Sample 3", "Sample 4"]
    );
    let cell = |c: &str, s: &str| sheet.text(c, s).unwrap_or_default();
    assert_eq!(cell("organism_part", "Sample 3"), "Heart");
    assert_eq!(cell("developmental_stage", "Sample 3"), "Fetal");
    assert_eq!(
        cell("data_file", "Sample 1"),
        "Adult_Adrenalgland_bRP_Velos_1_f01.raw;Adult_Adrenalgland_bRP_Velos_1_f02.raw"
    );
    assert_eq!(cell("fraction_identifier", "Sample 2"), "1;2");
    assert_eq!(cell("assay_name", "Sample 4"), "run 7;run 8");
    assert_eq!(exp.layer("proteome").unwrap().n_samples(), 4);
    // The same file as `sdrf = true` in a run config: the plan's ingest command says --sdrf.
    let cfg = d.path().join("run.toml");
    std::fs::write(
        &cfg,
        format!(
            "[ingest]\nsamples = \"{}\"\nsdrf = true\nlayer = [\"proteome={},scale=linear\"]\n",
            dir.join("PXD000561.sdrf.tsv").display(),
            dir.join("proteins.tsv").display()
        ),
    )
    .unwrap();
    let plan = ok(&["run", p(&cfg), "-o", p(&d.path().join("run")), "--dry-run"]);
    assert!(plan.contains("ingest --sdrf"), "{plan}");
    let run = d.path().join("run");
    ok(&["run", p(&cfg), "-o", p(&run), "--quiet"]);
    let (again, _) = evomics_io::read_experiment(&run.join("ingest")).unwrap();
    assert_eq!(again.samples(), sheet);
}

/// An SDRF whose rows of one sample disagree is an error naming the file, line, column and
/// sample, and how to fix it.
#[test]
fn an_sdrf_with_disagreeing_rows_names_the_cell() {
    let d = tempfile::tempdir().unwrap();
    let dir = workspace().join("test-data/sdrf");
    let text = std::fs::read_to_string(dir.join("PXD000561.sdrf.tsv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[4] = lines[4].replace("Colon", "Rectum");
    let bad = d.path().join("bad.sdrf.tsv");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let e = fail(&[
        "ingest",
        "--sdrf",
        p(&bad),
        "--layer",
        &format!(
            "proteome={},scale=linear",
            dir.join("proteins.tsv").display()
        ),
        "-o",
        p(&d.path().join("exp")),
    ]);
    assert!(
        e.contains("bad.sdrf.tsv:5")
            && e.contains("characteristics[organism part]")
            && e.contains("sample 'Sample 2': 'Rectum' here but 'Colon' on line 4"),
        "{e}"
    );
    // Neither a sheet nor an SDRF file: a usage error naming both.
    let out = crate::evomics(&[
        "ingest",
        "--layer",
        "p=x.tsv",
        "-o",
        p(&d.path().join("exp")),
    ]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && e.contains("--samples") && e.contains("--sdrf"),
        "{e}"
    );
}

/// The real MSC secretome (FragPipe MaxLFQ; six sources, control and osteogenic, donors): a run
/// with qc, normalize and a donor-grouped model writes every standards file with the secretome's
/// own column names (Cell_type, Donor) recognised.
#[test]
fn standards_are_written_for_the_real_secretome() {
    let data =
        evomics_testkit::require_shared!("data/real/msc-sources-osteogenic-secretome-proteome");
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("secretome.toml");
    std::fs::write(&cfg, crate::secretome_config(&data, "")).unwrap();
    let run = d.path().join("run");
    ok(&["run", p(&cfg), "-o", p(&run), "--quiet"]);
    let st = run.join("standards");
    ok(&[
        "report",
        p(&run),
        "-o",
        p(&d.path().join("r.html")),
        "--standards",
        p(&st),
        "--quiet",
    ]);
    check_tables(&st);
    let misev = st.join("misev2023.tsv");
    let (_, v) = value(&misev, "Source of the EVs (producer cell type or biofluid)");
    assert!(v.contains("ADSCs (8)") && v.contains("OBs (12)"), "{v}");
    let (_, v) = value(&misev, "Donors (biological replicates)");
    assert!(v.ends_with("preparations per donor"), "{v}");
    let (_, v) = value(&misev, "Contaminant ALB (albumin)");
    assert!(v.starts_with("proteome: detected in "), "{v}");
    let (_, v) = value(&misev, "Purity verdict (evomics MISEV gate)");
    assert!(
        v.starts_with("proteome: 40 pass, 9 warn, 1 fail of 50"),
        "{v}"
    );
    let (_, v) = value(
        &misev,
        "Dose normalisation used (particle number, protein mass or none)",
    );
    assert_eq!(v, "proteome: none (between-sample normalization: median)");
    let (status, _) = value(&misev, "Particle number per preparation");
    assert_eq!(
        status, "not_available",
        "the secretome sheet has no particle counts"
    );
    let (_, v) = value(
        &st.join("dome-train.tsv"),
        "Redundancy between training and test (independence)",
    );
    assert!(v.starts_with("no value of 'Donor' is in both"), "{v}");
    let text = std::fs::read_to_string(st.join("sdrf.tsv")).unwrap();
    assert_eq!(text.lines().count(), 51);
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .contains("AC=MS:1002038;NT=label free sample"),
        "FragPipe MaxLFQ is label-free"
    );
}
