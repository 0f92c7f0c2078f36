//! Integration tests of the tool-output readers: real public files read by path from
//! `../shared/data/real`, the hand-written fixtures in `test-data/fixtures`, detection,
//! miRNA name harmonization, and errors on wrong or truncated files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use evomics_core::{Assay, Experiment, FeatureFlags, LayerKind, ValueFlag, ValueScale};
use evomics_io::formats::read_matrix;
use evomics_io::matrix::ParsedMatrix;
use evomics_io::sheet::SheetOptions;
use evomics_io::spec::ReadOptions;
use evomics_io::{ingest, IngestRequest, LayerIngestReport, LayerSpec};
use evomics_testkit::{col, text};

/// A file of `../shared/data/real`, or return from the test (skipped without `../shared`).
macro_rules! real {
    ($rel:expr $(,)?) => {
        evomics_testkit::require_shared!(&format!("data/real/{}", $rel))
    };
}

fn fixture(name: &str) -> PathBuf {
    evomics_testkit::test_data(&format!("fixtures/{name}"))
}

/// Header and rows of an unquoted delimited text.
fn raw_rows(path: &Path, delim: char) -> (Vec<String>, Vec<Vec<String>>) {
    let text = text(path);
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap()
        .split(delim)
        .map(|s| s.trim().to_string())
        .collect();
    let rows = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(delim).map(|s| s.trim().to_string()).collect())
        .collect();
    (header, rows)
}

fn observed(m: &ParsedMatrix) -> usize {
    m.flags
        .iter()
        .filter(|f| **f == ValueFlag::Observed)
        .count()
}

fn annotation<'a>(a: &'a Assay, name: &str) -> &'a [Option<String>] {
    a.features()
        .annotation(name)
        .unwrap_or_else(|| panic!("no annotation {name}"))
}

fn run_ingest(
    sheet: &Path,
    id_column: Option<&str>,
    layers: &[String],
    allow_missing_samples: bool,
) -> (Experiment, Vec<LayerIngestReport>) {
    let req = IngestRequest {
        samples: sheet.to_path_buf(),
        sheet: SheetOptions {
            id_column: id_column.map(str::to_string),
            ..Default::default()
        },
        layers: layers
            .iter()
            .map(|l| LayerSpec::parse(l).unwrap())
            .collect(),
        allow_missing_samples,
        sample_map: None,
    };
    let (exp, _manifest, reports) = ingest(&req).unwrap_or_else(|e| panic!("ingest failed: {e}"));
    (exp, reports)
}

fn spec(name: &str, path: &Path, opts: &str) -> String {
    format!("{name}={}{opts}", path.display())
}

/// Parse a raw cell as an intensity where 0 and empty are missing.
fn raw_intensity(s: &str) -> Option<f64> {
    match s.trim() {
        "" | "NaN" | "NA" => None,
        v => Some(v.parse::<f64>().unwrap()).filter(|x| *x != 0.0),
    }
}

// ---------------------------------------------------------------- MaxQuant

#[test]
fn maxquant_real_defaults_match_the_file() {
    let path = real!("format-fixtures-alphapeptstats/maxquant_proteinGroups.txt.gz");
    let m = read_matrix(&path, &ReadOptions::default()).unwrap();
    assert_eq!(
        (m.report.format.as_str(), m.report.quantity.as_str()),
        ("maxquant", "lfq")
    );
    assert_eq!((m.feature_ids.len(), m.columns.len()), (773, 10));
    assert_eq!(observed(&m), 2899);
    assert_eq!(m.scale, ValueScale::Linear);
    assert_eq!(m.report.rows_read, 882);
    let dropped: Vec<(&str, usize)> = m
        .report
        .rows_dropped
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        dropped,
        vec![
            ("only_identified_by_site", 66),
            ("potential_contaminant", 31),
            ("reverse", 12)
        ]
    );
    assert_eq!(m.columns[2].header, "LFQ intensity AC386_b");
    assert_eq!(m.columns[2].name, "AC386_b");

    // Every kept row and LFQ cell against an independent reading of the text.
    let (h, rows) = raw_rows(&path, '\t');
    let flags = [
        "Reverse",
        "Potential contaminant",
        "Only identified by site",
    ]
    .map(|c| col(&h, c));
    let majority = col(&h, "Majority protein IDs");
    let kept: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| flags.iter().all(|&c| r[c] != "+"))
        .collect();
    assert_eq!(kept.len(), m.feature_ids.len());
    for (i, r) in kept.iter().enumerate() {
        let lead = r[majority].split(';').next().unwrap();
        assert!(
            lead.contains(&m.feature_ids[i]),
            "{lead} vs {}",
            m.feature_ids[i]
        );
        for (j, c) in m.columns.iter().enumerate() {
            let want = raw_intensity(&r[col(&h, &c.header)]);
            let got = m.flags[[i, j]].has_value().then(|| m.values[[i, j]]);
            assert_eq!(got, want, "row {i}, {}", c.header);
        }
    }
    // The full group is kept as an annotation; this table has no 'Gene names' column.
    let groups = &m
        .annotations
        .iter()
        .find(|(k, _)| k == "protein_ids")
        .unwrap()
        .1;
    assert_eq!(
        groups[0].as_deref(),
        Some(kept[0][col(&h, "Protein IDs")].as_str())
    );
    // The shared copy lost its trailing empty fields (trailing tabs stripped): read as empty.
    assert_eq!(
        m.report.warnings,
        vec!["813 row(s) have fewer fields than the header (first on line 2); their missing trailing fields were read as empty"]
    );
}

#[test]
fn maxquant_real_ingests_and_keeps_flagged_on_request() {
    let path = real!("format-fixtures-alphapeptstats/maxquant_proteinGroups.txt.gz");
    let dir = tempfile::tempdir().unwrap();
    let sheet = dir.path().join("samples.tsv");
    let mut s = String::from("sample_id\tgroup\n");
    for id in [
        "AC381", "AC384", "AC386_b", "AC392", "AC399", "UT805", "UT812_b", "UT815", "UT821",
        "UT822",
    ] {
        s.push_str(&format!("{id}\t{}\n", &id[..2]));
    }
    std::fs::write(&sheet, s).unwrap();
    let (exp, reports) = run_ingest(&sheet, None, &[spec("proteome", &path, "")], false);
    let a = exp.layer("proteome").unwrap();
    assert_eq!((a.n_features(), a.n_samples()), (773, 10));
    assert_eq!(a.flag_counts().observed, 2899);
    assert_eq!(reports[0].read.rows_dropped.values().sum::<usize>(), 109);

    let (exp, reports) = run_ingest(
        &sheet,
        None,
        &[spec(
            "proteome",
            &path,
            ",keep_flagged=true,quant=intensity",
        )],
        false,
    );
    let a = exp.layer("proteome").unwrap();
    assert_eq!(a.n_features(), 882);
    let n = |f: FeatureFlags| {
        a.features()
            .flags()
            .iter()
            .filter(|x| x.contains(f))
            .count()
    };
    assert_eq!(
        (
            n(FeatureFlags::DECOY),
            n(FeatureFlags::CONTAMINANT),
            n(FeatureFlags::ONLY_BY_SITE)
        ),
        (12, 31, 72)
    );
    let flagged: Vec<(&str, usize)> = reports[0]
        .read
        .rows_flagged
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        flagged,
        vec![
            ("only_identified_by_site", 72),
            ("potential_contaminant", 31),
            ("reverse", 12)
        ]
    );
    assert_eq!(reports[0].read.quantity, "intensity");
    assert!(a.features().ids().iter().any(|id| id.starts_with("REV__")));
}

// ---------------------------------------------------------------- DIA-NN

#[test]
fn diann_pg_matrix_real_matches_the_file() {
    let path = real!("format-fixtures-alphapeptstats/diann_report.pg_matrix.tsv");
    let m = read_matrix(&path, &ReadOptions::default()).unwrap();
    assert_eq!(m.report.format, "diann");
    assert_eq!((m.feature_ids.len(), m.columns.len()), (10, 20));
    let (h, rows) = raw_rows(&path, '\t');
    let mut n_obs = 0;
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(m.feature_ids[i], r[0]);
        for (j, c) in m.columns.iter().enumerate() {
            let want = raw_intensity(r.get(col(&h, &c.header)).map(String::as_str).unwrap_or(""));
            n_obs += want.is_some() as usize;
            assert_eq!(m.flags[[i, j]].has_value().then(|| m.values[[i, j]]), want);
        }
    }
    assert_eq!(observed(&m), n_obs);
    let genes = &m.annotations.iter().find(|(k, _)| k == "gene").unwrap().1;
    assert_eq!(genes[1].as_deref(), Some("SERPINA1"));

    let sheet = real!("format-fixtures-alphapeptstats/diann_metadata.tsv");
    let (exp, _) = run_ingest(
        &sheet,
        Some("analytical_sample external_id"),
        &[spec("proteome", &path, "")],
        false,
    );
    let a = exp.layer("proteome").unwrap();
    assert_eq!((a.n_features(), a.n_samples()), (10, 20));
    assert_eq!(a.flag_counts().observed, n_obs);
    let hdlbp = a.features().position(&rows[0][0]).unwrap();
    assert_eq!(
        a.get(hdlbp, a.sample_position("S1").unwrap()),
        Some(380503.0)
    );
    assert_eq!(a.get(hdlbp, a.sample_position("S2").unwrap()), None);
    assert_eq!(annotation(a, "gene")[hdlbp].as_deref(), Some("HDLBP"));
}

fn diann_frame(values: &[f32]) -> polars::prelude::DataFrame {
    use polars::prelude::*;
    let n = values.len();
    let runs = [
        "/data/run_A.raw",
        "/data/run_A.raw",
        "/data/run_B.raw",
        "/data/run_B.raw",
        "/data/run_A.raw",
    ];
    let pgs = ["P1;P2", "P1;P2", "P1;P2", "P3", "P1;P2"];
    let prec = ["AAK2", "CCK2", "AAK2", "DDR3", "EEK2"];
    DataFrame::new(
        n,
        vec![
            Column::new(
                "Run".into(),
                runs[..n].iter().map(|r| super_stem(r)).collect::<Vec<_>>(),
            ),
            Column::new("Protein.Group".into(), &pgs[..n]),
            Column::new(
                "Genes".into(),
                ["GA;GB", "GA;GB", "GA;GB", "GC", "GA;GB"][..n].to_vec(),
            ),
            Column::new("Precursor.Id".into(), &prec[..n]),
            Column::new("PG.MaxLFQ".into(), values),
        ],
    )
    .unwrap()
}

/// DIA-NN 2.x writes the run name (file stem) in `Run`.
fn super_stem(p: &str) -> String {
    Path::new(p)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn write_parquet(df: &mut polars::prelude::DataFrame, path: &Path) {
    use polars::prelude::*;
    let f = std::fs::File::create(path).unwrap();
    ParquetWriter::new(f).finish(df).unwrap();
}

#[test]
fn diann_report_parquet_is_pivoted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.parquet");
    write_parquet(&mut diann_frame(&[100.0, 100.0, 250.5, 0.0]), &path);
    let m = read_matrix(&path, &ReadOptions::default()).unwrap();
    assert_eq!(m.report.format, "diann-report");
    assert_eq!(m.feature_ids, vec!["P1;P2", "P3"]);
    let names: Vec<&str> = m.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["run_A", "run_B"]);
    assert_eq!(m.values[[0, 0]], 100.0);
    assert_eq!(m.values[[0, 1]], 250.5);
    assert!(!m.flags[[1, 0]].has_value(), "never reported → missing");
    assert!(!m.flags[[1, 1]].has_value(), "PG.MaxLFQ 0 → missing");
    assert_eq!(
        m.report.rows_dropped.get("repeated_protein_group_row"),
        Some(&1)
    );
    let genes = &m.annotations.iter().find(|(k, _)| k == "gene").unwrap().1;
    assert_eq!(genes[0].as_deref(), Some("GA"));

    // A conflicting repeat names both rows.
    write_parquet(&mut diann_frame(&[100.0, 100.0, 250.5, 3.0, 120.0]), &path);
    let e = read_matrix(&path, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("report.parquet") && e.contains("row 5") && e.contains("row 1"),
        "{e}"
    );
    assert!(
        e.contains("'P1;P2'") && e.contains("'run_A'") && e.contains("PG.MaxLFQ"),
        "{e}"
    );

    // A truncated file is an error naming it, not a panic.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = read_matrix(&path, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("report.parquet") && e.contains("truncated"),
        "{e}"
    );
}

#[test]
fn diann_report_tsv_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.tsv");
    std::fs::write(
        &path,
        "File.Name\tRun\tProtein.Group\tGenes\tPrecursor.Id\tPG.MaxLFQ\n\
         /d/run_A.raw\trun_A\tP1\tGA\tAAK2\t10\n\
         /d/run_A.raw\trun_A\tP1\tGA\tCCK2\t10\n\
         /d/run_B.raw\trun_B\tP1\tGA\tAAK2\t12\n",
    )
    .unwrap();
    let m = read_matrix(&path, &ReadOptions::default()).unwrap();
    assert_eq!(m.report.format, "diann-report");
    assert_eq!((m.feature_ids.len(), m.columns.len()), (1, 2));
}

// ---------------------------------------------------------------- FragPipe

#[test]
fn fragpipe_older_header_real() {
    let path = real!("format-fixtures-alphapeptstats/fragpipe_combined_protein.tsv");
    let m = read_matrix(&path, &ReadOptions::default()).unwrap();
    assert_eq!(m.report.format, "fragpipe");
    assert_eq!((m.feature_ids.len(), m.columns.len()), (10, 20));
    // This older table has only Razor intensities: the default (MaxLFQ) falls back with a warning.
    assert_eq!(m.report.quantity, "razor");
    assert!(
        m.report
            .warnings
            .iter()
            .any(|w| w.contains("MaxLFQ Intensity")),
        "{:?}",
        m.report.warnings
    );
    let (h, rows) = raw_rows(&path, '\t');
    let pid = col(&h, "Protein ID");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(m.feature_ids[i], r[pid]);
        for (j, c) in m.columns.iter().enumerate() {
            let want = raw_intensity(&r[col(&h, &c.header)]);
            assert_eq!(
                m.flags[[i, j]].has_value().then(|| m.values[[i, j]]),
                want,
                "{} {}",
                r[pid],
                c.header
            );
        }
    }
    let gene = &m.annotations.iter().find(|(k, _)| k == "gene").unwrap().1;
    assert_eq!(gene[0].as_deref(), Some("HPX"), "older 'Gene Names' header");

    let sheet = real!("format-fixtures-alphapeptstats/fragpipe_metadata.tsv");
    let (exp, _) = run_ingest(
        &sheet,
        Some("analytical_sample external_id"),
        &[spec("proteome", &path, "")],
        false,
    );
    let a = exp.layer("proteome").unwrap();
    assert_eq!((a.n_features(), a.n_samples()), (10, 20));
    let hpx = a.features().position("P02790").unwrap();
    assert_eq!(
        a.get(hpx, a.sample_position("S4").unwrap()),
        Some(106460.28)
    );
}

#[test]
fn fragpipe_secretome_real_through_the_sheet() {
    let dir = real!("msc-sources-osteogenic-secretome-proteome");
    let path = dir.join("secretome_fragpipe_combined_protein.tsv.gz");
    let sheet = dir.join("secretome_samples.tsv");
    let (exp, reports) = run_ingest(&sheet, None, &[spec("proteome", &path, "")], false);
    let a = exp.layer("proteome").unwrap();
    assert_eq!((a.n_features(), a.n_samples()), (2716, 50));
    assert_eq!(a.flag_counts().observed, 27778);
    assert_eq!(reports[0].read.quantity, "maxlfq");
    assert_eq!(reports[0].read.rows_dropped.get("contaminant"), Some(&10));
    assert_eq!(
        reports[0].matching.sheet_column.as_deref(),
        Some("lfq_column")
    );
    assert!(a.features().flags().iter().all(|f| f.is_empty()));

    // Every cell against the raw text, through the sheet's lfq_column (noisy headers included).
    let (h, rows) = raw_rows(&path, '\t');
    let (pid, prot) = (col(&h, "Protein ID"), col(&h, "Protein"));
    let (sh, srows) = raw_rows(&sheet, '\t');
    let (sid, lfq) = (col(&sh, "Sample"), col(&sh, "lfq_column"));
    let mut checked = 0;
    for r in rows.iter().filter(|r| !r[prot].starts_with("contam_")) {
        let i = a.features().position(&r[pid]).unwrap();
        for s in &srows {
            let j = a.sample_position(&s[sid]).unwrap();
            assert_eq!(
                a.get(i, j),
                raw_intensity(&r[col(&h, &s[lfq])]),
                "{} {}",
                r[pid],
                s[lfq]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 2716 * 50);
    // Spot checks written out: first human row (A0A075B6H7) and a 'remove' column.
    let i = a.features().position("A0A075B6H7").unwrap();
    let raw_first = rows.iter().find(|r| r[pid] == "A0A075B6H7").unwrap();
    let c8 = col(&h, "Ost_c_8 MaxLFQ remove Intensity");
    assert_eq!(
        a.get(i, a.sample_position("Ost_c_8").unwrap()),
        raw_intensity(&raw_first[c8])
    );
    assert_eq!(annotation(a, "gene")[i].as_deref(), Some("IGKV3-7"));

    let (exp, reports) = run_ingest(
        &sheet,
        None,
        &[spec("proteome", &path, ",keep_flagged=true")],
        false,
    );
    let a = exp.layer("proteome").unwrap();
    assert_eq!(a.n_features(), 2726);
    assert_eq!(
        a.features()
            .flags()
            .iter()
            .filter(|f| f.contains(FeatureFlags::CONTAMINANT))
            .count(),
        10
    );
    assert_eq!(reports[0].read.rows_flagged.get("contaminant"), Some(&10));
}

// ---------------------------------------------------------------- Spectronaut

#[test]
fn spectronaut_real_subset() {
    let path = real!("format-fixtures-alphapeptstats/spectronaut_report_subset.tsv.gz");
    let m = read_matrix(&path, &ReadOptions::default()).unwrap();
    assert_eq!(m.report.format, "spectronaut");
    assert_eq!((m.feature_ids.len(), m.columns.len()), (33, 1));
    assert_eq!(m.report.rows_read, 500);
    assert_eq!(
        m.report.rows_dropped.get("repeated_protein_group_row"),
        Some(&467)
    );
    let (h, rows) = raw_rows(&path, '\t');
    let (pg, q) = (col(&h, "PG.ProteinGroups"), col(&h, "PG.Quantity"));
    for (i, id) in m.feature_ids.iter().enumerate() {
        let raw = rows.iter().find(|r| &r[pg] == id).unwrap();
        assert_eq!(
            m.flags[[i, 0]].has_value().then(|| m.values[[i, 0]]),
            raw_intensity(&raw[q]),
            "{id}"
        );
    }
    assert_eq!(m.feature_ids[0], "A0A0B4J2D5;P0DPI2");
    assert_eq!(m.values[[0, 0]], 1449.77978515625);

    let sheet = real!("format-fixtures-alphapeptstats/spectronaut_metadata.tsv");
    let (exp, reports) = run_ingest(&sheet, None, &[spec("proteome", &path, "")], true);
    let a = exp.layer("proteome").unwrap();
    assert_eq!((a.n_features(), a.n_samples()), (33, 1));
    assert_eq!(
        a.samples()[0],
        "20221015_EV_TP_40SPD_LITDIA_MS1_Rapid_MS2_Rapid_57w_100ng_03"
    );
    assert_eq!(reports[0].matching.sheet_samples_not_in_matrix.len(), 8);
}

// ---------------------------------------------------------------- miRNA: real tables

/// Every cell of a harmonized layer equals the sum of the raw rows its `original_name` lists,
/// and every raw row is used exactly once.
fn assert_counts_equal_raw(a: &Assay, raw: &Path, header_of: impl Fn(&str) -> String) {
    let (h, rows) = raw_rows(raw, ',');
    let by_name: HashMap<&str, &Vec<String>> = rows.iter().map(|r| (r[0].as_str(), r)).collect();
    assert_eq!(by_name.len(), rows.len(), "raw names are unique");
    let originals = annotation(a, "original_name");
    let mut used = 0;
    for (i, original) in originals.iter().enumerate() {
        let names: Vec<&str> = original.as_deref().unwrap().split(';').collect();
        used += names.len();
        for (j, s) in a.samples().iter().enumerate() {
            let c = col(&h, &header_of(s));
            let want: f64 = names
                .iter()
                .map(|n| by_name[n][c].parse::<f64>().unwrap())
                .sum();
            assert_eq!(a.get(i, j), Some(want), "{} / {s}", a.features().ids()[i]);
        }
    }
    assert_eq!(used, rows.len());
}

fn status_count(a: &Assay, status: &str) -> usize {
    annotation(a, "mirna_status")
        .iter()
        .filter(|s| {
            s.as_deref()
                .is_some_and(|x| x.split(';').any(|y| y == status))
        })
        .count()
}

#[test]
fn mirna_cfarkas_wide_counts_harmonized() {
    let dir = real!("ev-mirna-metabolic-inhibitors-cfarkas");
    let path = dir.join("ev_mirna_counts.csv");
    let (exp, reports) = run_ingest(
        &dir.join("samples.tsv"),
        None,
        &[spec("mirna", &path, ",scale=counts")],
        false,
    );
    let a = exp.layer("mirna").unwrap();
    assert_eq!(a.kind(), &LayerKind::Mirna);
    assert_eq!(a.scale(), ValueScale::Counts);
    assert_eq!(a.n_samples(), 16);
    assert_eq!(reports[0].read.format, "wide");
    assert_eq!(reports[0].read.rows_read, 2067);
    assert_eq!(a.flag_counts().missing, 0, "0 is an observed count");
    assert_counts_equal_raw(a, &path, |s| s.to_string());
    // `miR-100-5p` gains its prefix; arm-less `miR-1` is ambiguous in v22 and kept.
    let i = a.features().position("hsa-miR-100-5p").unwrap();
    assert_eq!(
        annotation(a, "original_name")[i].as_deref(),
        Some("miR-100-5p")
    );
    assert_eq!(
        annotation(a, "mirbase_accession")[i].as_deref(),
        Some("MIMAT0000098")
    );
    assert_eq!(a.get(i, a.sample_position("Ctrl_1").unwrap()), Some(3398.0));
    let one = a.features().position("miR-1").unwrap();
    assert_eq!(
        annotation(a, "mirna_status")[one].as_deref(),
        Some("ambiguous")
    );
    assert_eq!(a.get(one, a.sample_position("Olig_4").unwrap()), Some(45.0));
    let w = reports[0].read.warnings.join("\n");
    assert!(w.contains("miRBase v22") && w.contains("ambiguous"), "{w}");
    let statuses: Vec<usize> = ["normalized", "ambiguous", "unknown"]
        .iter()
        .map(|st| status_count(a, st))
        .collect();
    assert_eq!(statuses, vec![2034, 16, 17]);
    assert_eq!(
        a.n_features(),
        2067,
        "no two names harmonize to the same miRNA"
    );
}

#[test]
fn mirna_hepg2_precursor_names_harmonized() {
    let dir = real!("hepg2-ev-mirna-pfas");
    let path = dir.join("ev_mirna_raw_counts.csv");
    let (exp, reports) = run_ingest(
        &dir.join("samples.tsv"),
        None,
        &[spec("mirna", &path, "")],
        false,
    );
    let a = exp.layer("mirna").unwrap();
    assert_eq!(
        reports[0].read.format, "smrnaseq",
        "first column 'miRNA' → detected without format="
    );
    assert_eq!(a.scale(), ValueScale::Counts);
    assert_eq!(reports[0].read.rows_read, 1124);
    assert_eq!(a.n_samples(), 12);
    assert_eq!(
        reports[0].matching.sheet_column.as_deref(),
        Some("count_column")
    );
    let (sh, srows) = raw_rows(&dir.join("samples.tsv"), '\t');
    let map: HashMap<String, String> = srows
        .iter()
        .map(|r| {
            (
                r[col(&sh, "sample_id")].clone(),
                r[col(&sh, "count_column")].clone(),
            )
        })
        .collect();
    assert_counts_equal_raw(a, &path, |s| map[s].clone());
    // `hsa-mir-3115_mature`: the precursor has one v22 product. `hsa-mir-21_mature` has two (5p,
    // 3p) and is kept; the two loci of miR-7973 give one mature, so their rows are summed.
    let i = a.features().position("hsa-miR-3115").unwrap();
    assert_eq!(
        annotation(a, "mirna_status")[i].as_deref(),
        Some("from_precursor")
    );
    assert_eq!(
        annotation(a, "original_name")[i].as_deref(),
        Some("hsa-mir-3115_mature")
    );
    assert!(a.features().position("hsa-mir-21_mature").is_some());
    let i = a.features().position("hsa-miR-7973").unwrap();
    assert_eq!(
        annotation(a, "original_name")[i].as_deref(),
        Some("hsa-mir-7973-1_mature;hsa-mir-7973-2_mature")
    );
    assert_eq!(status_count(a, "not_mature"), 46 + 22 + 81);
    assert!(
        a.features().position("hsa-mir-7-1_mature").is_some(),
        "multi-product precursor kept"
    );
    let statuses: Vec<usize> = ["from_precursor", "ambiguous", "not_mature"]
        .iter()
        .map(|st| status_count(a, st))
        .collect();
    assert_eq!(statuses, vec![244, 718, 149]);
    assert_eq!(a.n_features(), 1111);
    assert_eq!(
        reports[0]
            .read
            .rows_dropped
            .get("merged_by_mirna_harmonization"),
        Some(&13)
    );
}

#[test]
fn mirna_microglia_through_a_derived_sheet() {
    let dir = real!("microglia-ev-conditioning-proteome-mirna");
    let path = dir.join("ev_mirna_raw_counts.csv");
    // The traits file lists samples in the matrix's column order but spells them differently
    // (`control_Evs_1` vs `control Evs_1`, `IL10` vs `IL-10`): map them by position.
    let (h, _) = raw_rows(&path, ',');
    let (_, traits) = raw_rows(&dir.join("ev_mirna_samples.csv"), ',');
    assert_eq!(traits.len(), h.len() - 1);
    let tmp = tempfile::tempdir().unwrap();
    let sheet = tmp.path().join("samples.tsv");
    let mut s = String::from("sample_id\tconditioning\tmirna_column\n");
    for (t, header) in traits.iter().zip(&h[1..]) {
        s.push_str(&format!("{}\t{}\t{header}\n", t[0], t[1]));
    }
    std::fs::write(&sheet, s).unwrap();
    let (exp, reports) = run_ingest(
        &sheet,
        None,
        &[spec("mirna", &path, ",scale=counts")],
        false,
    );
    let a = exp.layer("mirna").unwrap();
    // 1,187 rows (the README's 1,186 counts the newline-terminated lines; the last has none).
    assert_eq!((a.n_features(), a.n_samples()), (1187, 12));
    let back: HashMap<String, String> = traits
        .iter()
        .zip(&h[1..])
        .map(|(t, h)| (t[0].clone(), h.clone()))
        .collect();
    assert_counts_equal_raw(a, &path, |s| back[s].clone());
    assert_eq!(status_count(a, "not_human"), 1187);
    assert!(reports[0]
        .read
        .warnings
        .iter()
        .any(|w| w.contains("1187 name(s) are not human")));
    let i = a.features().position("mmu-mir-133b").unwrap();
    assert_eq!(
        a.get(i, a.sample_position("TGFB_Evs_3").unwrap()),
        Some(2.0)
    );
}

#[test]
fn mirna_mouse_two_batches() {
    let dir = real!("mouse-plasma-ev-mirna-wildfire");
    let sheet = dir.join("microRNAseq_ID_summaries_032821.csv");
    let (b0, b1) = (
        dir.join("batch0_mouse_miRNA_count.csv"),
        dir.join("batch1_mouse_miRNA_count.csv"),
    );
    let (exp, reports) = run_ingest(
        &sheet,
        Some("Label_from_Core"),
        &[spec("mirna_batch0", &b0, ""), spec("mirna_batch1", &b1, "")],
        true,
    );
    let (a0, a1) = (
        exp.layer("mirna_batch0").unwrap(),
        exp.layer("mirna_batch1").unwrap(),
    );
    // 262 and 348 rows (the README's 261 and 347 miss the last line, which has no line break).
    assert_eq!((a0.n_features(), a0.n_samples()), (262, 21));
    assert_eq!((a1.n_features(), a1.n_samples()), (348, 9));
    assert_eq!(reports[0].read.format, "smrnaseq");
    assert_eq!(a0.scale(), ValueScale::Counts);
    assert_counts_equal_raw(a0, &b0, |s| s.to_string());
    assert_counts_equal_raw(a1, &b1, |s| s.to_string());
    let i = a0.features().position("mmu-let-7g_mature").unwrap();
    assert_eq!(
        a0.get(
            i,
            a0.sample_position("110_RNA-m110_ROF_24H_PLASMA_CTCAGA_S44_L004")
                .unwrap()
        ),
        Some(1665.0)
    );
    assert_eq!(status_count(a0, "not_human"), 262);
}

// ---------------------------------------------------------------- miRNA: hand-written fixtures

#[test]
fn smrnaseq_fixtures_both_layouts() {
    let sheet = fixture("smrnaseq_samples.tsv");
    let (exp, reports) = run_ingest(
        &sheet,
        None,
        &[
            spec("mirna", &fixture("smrnaseq_mirna.tsv"), ""),
            spec(
                "mirna_t",
                &fixture("smrnaseq_mature_counts.csv"),
                ",kind=mirna",
            ),
        ],
        false,
    );
    assert_eq!(reports[0].read.format, "smrnaseq");
    assert_eq!(reports[1].read.format, "smrnaseq-transposed");
    let (a, t) = (exp.layer("mirna").unwrap(), exp.layer("mirna_t").unwrap());
    let ids: Vec<&str> = a.features().ids().iter().map(String::as_str).collect();
    assert_eq!(
        ids,
        vec![
            "hsa-let-7a-5p",
            "hsa-miR-21-5p",
            "hsa-miR-451a",
            "hsa-miR-27a-3p",
            "hsa-miR-196a-5p",
            "hsa-miR-1307"
        ]
    );
    let m27 = a.features().position("hsa-miR-27a-3p").unwrap();
    assert_eq!(
        (0..3).map(|j| a.get(m27, j)).collect::<Vec<_>>(),
        vec![Some(17.0), Some(10.0), Some(22.0)]
    );
    assert_eq!(
        annotation(a, "original_name")[m27].as_deref(),
        Some("miR-27a-3p;hsa-miR-27a-3p")
    );
    assert_eq!(
        reports[0]
            .read
            .rows_dropped
            .get("merged_by_mirna_harmonization"),
        Some(&1)
    );
    let let7 = a.features().position("hsa-let-7a-5p").unwrap();
    assert_eq!(a.get(let7, 2), Some(0.0), "0 is an observed count");
    assert_eq!(a.flags()[[let7, 2]], ValueFlag::Observed);
    let amb = a.features().position("hsa-miR-1307").unwrap();
    assert_eq!(
        annotation(a, "mirna_status")[amb].as_deref(),
        Some("ambiguous")
    );
    assert!(reports[0]
        .read
        .warnings
        .iter()
        .any(|w| w.contains("hsa-miR-1307-3p")));
    // The transposed table holds the same counts.
    assert_eq!(t.n_samples(), 3);
    let mut shared = 0;
    for (i, id) in t.features().ids().iter().enumerate() {
        if let Some(k) = a.features().position(id) {
            shared += 1;
            for j in 0..3 {
                assert_eq!(t.get(i, j), a.get(k, j), "{id}");
            }
        }
    }
    assert_eq!(shared, 4);
    assert_eq!(
        t.features().position("hsa-miR-375-3p").map(|i| t.get(i, 1)),
        Some(Some(4.0))
    );
}

#[test]
fn mirdeep2_fixture_sums_precursors() {
    let path = fixture("miRNAs_expressed_all_samples_fixture.csv");
    let m = read_matrix(&path, &ReadOptions::default()).unwrap();
    assert_eq!(m.report.format, "mirdeep2");
    let headers: Vec<&str> = m.columns.iter().map(|c| c.header.as_str()).collect();
    assert_eq!(
        headers,
        vec!["s01", "s02", "s03"],
        "(norm) columns are not read"
    );
    let (exp, reports) = run_ingest(
        &fixture("mirdeep2_samples.tsv"),
        None,
        &[spec("mirna", &path, "")],
        false,
    );
    let a = exp.layer("mirna").unwrap();
    assert_eq!(a.scale(), ValueScale::Counts);
    let ids: Vec<&str> = a.features().ids().iter().map(String::as_str).collect();
    assert_eq!(
        ids,
        vec![
            "hsa-let-7a-5p",
            "hsa-miR-7-5p",
            "hsa-miR-21-5p",
            "hsa-miR-375-3p"
        ]
    );
    let row = |i: usize| (0..3).map(|j| a.get(i, j).unwrap()).collect::<Vec<_>>();
    assert_eq!(row(0), vec![300.0, 450.0, 150.0]);
    assert_eq!(row(1), vec![24.0, 18.0, 14.0]);
    assert_eq!(row(3), vec![0.0, 0.0, 0.0]);
    assert_eq!(
        a.samples(),
        &["EV_A".to_string(), "EV_B".into(), "EV_C".into()]
    );
    assert_eq!(
        annotation(a, "precursors")[1].as_deref(),
        Some("hsa-mir-7-1;hsa-mir-7-2;hsa-mir-7-3")
    );
    assert_eq!(
        reports[0].read.rows_dropped.get("summed_over_precursors"),
        Some(&4)
    );
    let w = reports[0].read.warnings.join("\n");
    assert!(
        w.contains("2 mature miRNA(s) are reported on several precursors")
            && w.contains("1 of them have identical"),
        "{w}"
    );
}

#[test]
fn count_tables_reject_negative_and_warn_on_fractions() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mirna.tsv");
    std::fs::write(
        &p,
        "miRNA\tA\tB\nhsa-miR-21-5p\t3\t-2\nhsa-miR-451a\t1\t0\n",
    )
    .unwrap();
    let e = read_matrix(&p, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("mirna.tsv:2, column 'B'") && e.contains("negative"),
        "{e}"
    );
    std::fs::write(
        &p,
        "miRNA\tA\tB\nhsa-miR-21-5p\t3\t2.5\nhsa-miR-451a\t1\t0\n",
    )
    .unwrap();
    let m = read_matrix(&p, &ReadOptions::default()).unwrap();
    assert_eq!(m.values[[0, 1]], 2.5);
    assert!(m
        .report
        .warnings
        .iter()
        .any(|w| w.contains("1 fractional count") && w.contains("mirna.tsv:2, column 'B'")));
    let md = dir.path().join("md.csv");
    std::fs::write(&md, "#miRNA\tread_count\tprecursor\ttotal\ts1\ts1(norm)\nhsa-miR-21-5p\t1\thsa-mir-21\t1\t-1.00\t0\n").unwrap();
    let e = read_matrix(&md, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("md.csv:2, column 's1'") && e.contains("negative"),
        "{e}"
    );
}

#[test]
fn harmonize_false_keeps_names() {
    let sheet = fixture("smrnaseq_samples.tsv");
    let (exp, _) = run_ingest(
        &sheet,
        None,
        &[spec(
            "mirna",
            &fixture("smrnaseq_mirna.tsv"),
            ",harmonize=false",
        )],
        false,
    );
    let a = exp.layer("mirna").unwrap();
    assert_eq!(a.n_features(), 7);
    assert!(a.features().position("miR-27a-3p").is_some());
    assert!(a.features().annotation("original_name").is_none());
}

// ---------------------------------------------------------------- detection and errors

#[test]
fn unknown_layout_lists_the_formats_tried() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("odd.tsv");
    std::fs::write(&p, "Accession\tDescription\tS1\nP1\tsome protein\thigh\n").unwrap();
    let e = read_matrix(&p, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    for f in [
        "maxquant:",
        "fragpipe:",
        "diann:",
        "diann-report:",
        "spectronaut:",
        "mirdeep2:",
        "smrnaseq:",
        "smrnaseq-transposed:",
        "wide:",
    ] {
        assert!(e.contains(f), "{f} missing in: {e}");
    }
    assert!(e.contains("odd.tsv"), "{e}");
    // A forced format names what it misses.
    let mq = real!("format-fixtures-alphapeptstats/fragpipe_combined_protein.tsv");
    let o = ReadOptions {
        format: Some("spectronaut".into()),
        ..Default::default()
    };
    let e = read_matrix(&mq, &o).unwrap_err().to_string();
    assert!(
        e.contains("fragpipe_combined_protein.tsv") && e.contains("'R.FileName'"),
        "{e}"
    );
}

/// A copy of `text` with data line `line` (1-based, counting the header) cut in half.
fn truncate_at(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = lines[..line - 1].join("\n");
    out.push('\n');
    let l = lines[line - 1];
    out.push_str(&l[..l.len() / 2]);
    out
}

/// A copy of `text` with field `field` of line `line` replaced.
fn corrupt(text: &str, delim: char, line: usize, field: usize, with: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(k, l)| {
            if k + 1 == line {
                let mut f: Vec<&str> = l.split(delim).collect();
                f[field] = with;
                f.join(&delim.to_string())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + if text.ends_with('\n') { "\n" } else { "" }
}

#[test]
fn wrong_or_truncated_files_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let mq = text(&real!(
        "format-fixtures-alphapeptstats/maxquant_proteinGroups.txt.gz",
    ));
    let mq_head: Vec<&str> = mq.lines().next().unwrap().split('\t').collect();
    let mq_lfq = mq_head
        .iter()
        .position(|h| *h == "LFQ intensity AC392")
        .unwrap();
    let mq_flags: Vec<usize> = [
        "Reverse",
        "Potential contaminant",
        "Only identified by site",
    ]
    .iter()
    .map(|c| mq_head.iter().position(|h| h == c).unwrap())
    .collect();
    // Flagged rows are dropped before their values are read: damage the first kept row.
    let mq_line = 1 + mq
        .lines()
        .position(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            f.len() == mq_head.len()
                && f[0] != "Protein IDs"
                && mq_flags.iter().all(|&c| f[c] != "+")
        })
        .unwrap();
    let fp = text(&real!(
        "format-fixtures-alphapeptstats/fragpipe_combined_protein.tsv",
    ));
    let secr = text(&real!(
        "msc-sources-osteogenic-secretome-proteome/secretome_fragpipe_combined_protein.tsv.gz",
    ));
    let secr_lfq = secr
        .lines()
        .next()
        .unwrap()
        .split('\t')
        .position(|h| h == "Ad_c_31 MaxLFQ Intensity")
        .unwrap();
    let dn = text(&real!(
        "format-fixtures-alphapeptstats/diann_report.pg_matrix.tsv",
    ));
    let sn = text(&real!(
        "format-fixtures-alphapeptstats/spectronaut_report_subset.tsv.gz",
    ));
    let sn_q = sn
        .lines()
        .next()
        .unwrap()
        .split('\t')
        .position(|h| h == "PG.Quantity")
        .unwrap();
    let sm = text(&fixture("smrnaseq_mirna.tsv"));
    let st = text(&fixture("smrnaseq_mature_counts.csv"));
    let md = text(&fixture("miRNAs_expressed_all_samples_fixture.csv"));
    let cf = text(&real!(
        "ev-mirna-metabolic-inhibitors-cfarkas/ev_mirna_counts.csv",
    ));
    let report = "Run\tProtein.Group\tPrecursor.Id\tPG.MaxLFQ\nr1\tP1\tAAK2\t10\nr1\tP1\tCCK2\t10\nr2\tP1\tAAK2\t12\n";
    // (file name, expected format, text, delimiter, data line to damage, a numeric field on it, its header)
    let cases: Vec<(&str, &str, &str, char, usize, usize, &str)> = vec![
        (
            "proteinGroups.txt",
            "maxquant",
            &mq,
            '\t',
            mq_line,
            mq_lfq,
            "LFQ intensity AC392",
        ),
        (
            "combined_protein.tsv",
            "fragpipe",
            &fp,
            '\t',
            4,
            16,
            "S1 Razor Intensity",
        ),
        (
            "secretome_combined_protein.tsv",
            "fragpipe",
            &secr,
            '\t',
            20,
            secr_lfq,
            "Ad_c_31 MaxLFQ Intensity",
        ),
        ("report.pg_matrix.tsv", "diann", &dn, '\t', 2, 5, "S1"),
        (
            "report.tsv",
            "diann-report",
            report,
            '\t',
            3,
            3,
            "PG.MaxLFQ",
        ),
        (
            "spectronaut.tsv",
            "spectronaut",
            &sn,
            '\t',
            40,
            sn_q,
            "PG.Quantity",
        ),
        ("mirna.tsv", "smrnaseq", &sm, '\t', 3, 2, "EV_B"),
        (
            "mature_counts.csv",
            "smrnaseq-transposed",
            &st,
            ',',
            3,
            2,
            "\"hsa-miR-21-5p\"",
        ),
        (
            "miRNAs_expressed_all_samples_x.csv",
            "mirdeep2",
            &md,
            '\t',
            5,
            5,
            "s02",
        ),
        ("counts.csv", "wide", &cf, ',', 10, 4, "Ctrl_4"),
    ];
    for (name, format, text, delim, line, field, header) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let m = read_matrix(&p, &ReadOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m.report.format, format, "{name} detected without format=");

        std::fs::write(&p, corrupt(text, delim, line, field, "12x")).unwrap();
        let e = read_matrix(&p, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        let column = header.trim_matches('"');
        let at = format!("{name}:{line}, column '{column}'");
        assert!(
            e.contains(&at) && e.contains("'12x' is not a number"),
            "{name}: expected '{at}' in: {e}"
        );

        std::fs::write(&p, truncate_at(text, line)).unwrap();
        let e = read_matrix(&p, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("{name}:{line}:"))
                && e.contains("the row ends before column '")
                && e.contains("truncated"),
            "{name}: {e}"
        );
    }
}

#[test]
fn truncated_gzip_names_the_line_where_data_stops() {
    let src = real!("format-fixtures-alphapeptstats/spectronaut_report_subset.tsv.gz");
    let bytes = std::fs::read(&src).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("report.tsv.gz");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = read_matrix(&p, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("report.tsv.gz:") && e.contains("truncated"),
        "{e}"
    );
    let line: u64 = e
        .split("report.tsv.gz:")
        .nth(1)
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(line > 1 && line < 500, "{e}");
}

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../test-data/bad")
        .join(rel)
}

/// A stray quote before a feature id on line 4 of a TSV (issue 24: only 3 of the features were
/// kept, exit 0) is read as a literal character: every row is kept, the id keeps its quote, and
/// the report warns naming the cell. The same file as CSV is an error naming line 4.
#[test]
fn a_stray_quote_swallows_no_row() {
    let opts = ReadOptions {
        scale: Some(ValueScale::Linear),
        ..Default::default()
    };
    let m = read_matrix(&corpus("tsv_stray_quote/proteome.tsv"), &opts).unwrap();
    let plain = read_matrix(&corpus("common/proteome.tsv"), &opts).unwrap();
    assert_eq!(m.feature_ids.len(), 60);
    assert_eq!(m.feature_ids[2], format!("\"{}", plain.feature_ids[2]));
    assert!(m
        .values
        .iter()
        .zip(plain.values.iter())
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    assert!(
        m.report
            .warnings
            .iter()
            .any(|w| w.contains("proteome.tsv:4, column 'feature_id'")),
        "{:?}",
        m.report.warnings
    );
    let e = read_matrix(&corpus("csv_stray_quote/proteome.csv"), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("proteome.csv:4: a quoted field (field 1) starts on this line"),
        "{e}"
    );
}

/// A gzip table is read as a stream: the rows of a 40 MB (decompressed) table whose single
/// compressed member repeats, and the manifest digest is the file's SHA-256.
#[test]
fn gzip_tables_stream_and_are_hashed_in_the_same_pass() {
    use sha2::Digest;
    use std::io::Write;
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("m.tsv.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut text = String::from("id\tA\tB\n");
    for i in 0..400_000 {
        text.push_str(&format!("f{i:07}\t{i}\t{}.5\n", i % 97));
    }
    gz.write_all(text.as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let m = read_matrix(&path, &ReadOptions::default()).unwrap();
    assert_eq!(m.values.dim(), (400_000, 2));
    assert_eq!(m.values[[399_999, 1]], (399_999 % 97) as f64 + 0.5);
    let (sha, size) = m.source_digest.unwrap();
    assert_eq!(size, bytes.len() as u64);
    assert_eq!(sha.to_vec(), sha2::Sha256::digest(&bytes).to_vec());
}

// ---------------------------------------------------------------- Proteome Discoverer (real)

/// Fields of one CSV line, quotes honoured: the test's own parser, independent of the reader's.
fn csv_fields(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Header and rows of a gzip CSV with a byte-order mark, read without evomics' reader.
fn gz_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    use std::io::Read;
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    let s = s
        .strip_prefix('\u{feff}')
        .expect("the PD export starts with a BOM");
    let mut lines = s.lines().map(|l| l.trim_end_matches('\r'));
    let header = csv_fields(lines.next().unwrap());
    let rows = lines.filter(|l| !l.is_empty()).map(csv_fields).collect();
    (header, rows)
}

/// The rows of the cardiac `samples.tsv` for one PD file, as a sheet of their own.
fn pd_sheet(dir: &Path, pd_file: &str, out: &Path) -> usize {
    let text = text(&dir.join("samples.tsv"));
    let mut lines = text.lines();
    let mut kept = vec![lines.next().unwrap().to_string()];
    kept.extend(
        lines
            .filter(|l| l.split('\t').nth(1) == Some(pd_file))
            .map(str::to_string),
    );
    std::fs::write(out, kept.join("\n") + "\n").unwrap();
    kept.len() - 1
}

fn pd_real(pd_file: &str, proteins: usize) {
    let dir = real!("cardiac-msc-ev-hypoxia-proteomics");
    let tmp = tempfile::tempdir().unwrap();
    let sheet = tmp.path().join("samples.tsv");
    assert_eq!(pd_sheet(&dir, pd_file, &sheet), 12);
    let file = dir.join(pd_file);
    let (exp, reports) = run_ingest(&sheet, None, &[spec("proteome", &file, "")], false);
    let a = exp.layer("proteome").unwrap();
    assert_eq!((a.n_features(), a.n_samples()), (proteins, 12));
    let r = &reports[0];
    assert_eq!(r.read.format, "proteome-discoverer");
    assert_eq!(r.read.quantity, "normalized");
    assert_eq!(
        r.matching.sheet_column.as_deref(),
        Some("pd_abundance_column")
    );
    assert_eq!(a.scale(), ValueScale::Linear);
    // Every cell equals the file's column for that sample; an empty cell is missing.
    let (h, rows) = gz_csv(&file);
    assert_eq!(h.len(), 114);
    assert_eq!(rows.len(), proteins);
    let sheet_map: HashMap<String, String> = text(&sheet)
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[2].to_string())
        })
        .collect();
    let acc = col(&h, "Accession");
    let (mut observed, mut missing) = (0, 0);
    for row in &rows {
        let i = a.features().position(&row[acc]).unwrap();
        for (j, s) in a.samples().iter().enumerate() {
            let raw = &row[col(&h, &sheet_map[s])];
            if raw.is_empty() {
                assert_eq!(a.flags()[[i, j]], ValueFlag::Missing, "{} / {s}", row[acc]);
                missing += 1;
            } else {
                assert_eq!(a.get(i, j), Some(raw.parse::<f64>().unwrap()));
                observed += 1;
            }
        }
    }
    assert_eq!(observed + missing, proteins * 12);
    assert_eq!(a.flag_counts().missing, missing);
    for id in a.features().ids().iter().chain(a.samples()) {
        assert!(!id.contains('\u{feff}'), "BOM in id {id:?}");
    }
    // The gene comes from the description's GN= tag.
    let genes = annotation(a, "gene");
    let fn1 = a.features().position("P02751");
    if let Some(i) = fn1 {
        assert_eq!(genes[i].as_deref(), Some("FN1"));
    }
}

#[test]
fn proteome_discoverer_human_real() {
    pd_real("pd_multiconsensus_human_CPC_MSC.csv.gz", 1326);
}

#[test]
fn proteome_discoverer_rat_real() {
    pd_real("pd_multiconsensus_rat_CEC_RCF.csv.gz", 2018);
}

#[test]
fn proteome_discoverer_raw_abundance_by_file_id() {
    let dir = real!("cardiac-msc-ev-hypoxia-proteomics");
    let file = dir.join("pd_multiconsensus_human_CPC_MSC.csv.gz");
    let m = read_matrix(
        &file,
        &ReadOptions {
            quantity: Some("abundance".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let names: Vec<&str> = m.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names[0], "F1");
    assert_eq!(names[11], "F12");
    let (h, rows) = gz_csv(&file);
    let i = m.feature_ids.iter().position(|f| f == "P07996").unwrap();
    let row = rows
        .iter()
        .find(|r| r[col(&h, "Accession")] == "P07996")
        .unwrap();
    assert_eq!(
        m.values[[i, 3]],
        row[col(&h, "Abundance: F4: Sample")]
            .parse::<f64>()
            .unwrap()
    );
    assert_eq!(m.values[[i, 3]], 762147750.5);
}

// ---------------------------------------------------------------- several files into one layer

#[test]
fn mirna_wildfire_batches_into_one_layer() {
    let dir = real!("mouse-plasma-ev-mirna-wildfire");
    let sheet = dir.join("microRNAseq_ID_summaries_032821.csv");
    let (b0, b1) = (
        dir.join("batch0_mouse_miRNA_count.csv"),
        dir.join("batch1_mouse_miRNA_count.csv"),
    );
    let (raw0, raw1) = (raw_rows(&b0, ','), raw_rows(&b1, ','));
    for (join, expected) in [("", 373), (",join=inner", 237)] {
        let (exp, reports) = run_ingest(
            &sheet,
            Some("Label_from_Core"),
            &[spec("mirna", &b0, ""), spec("mirna", &b1, join)],
            true,
        );
        let a = exp.layer("mirna").unwrap();
        assert_eq!(
            (a.n_features(), a.n_samples()),
            (expected, 30),
            "join{join}"
        );
        assert_eq!(a.scale(), ValueScale::Counts);
        let r = &reports[0];
        assert_eq!(r.files.len(), 2);
        assert_eq!(r.files[0].path, b0.display().to_string());
        assert_eq!((r.files[0].features, r.files[0].columns), (262, 21));
        assert_eq!((r.files[1].features, r.files[1].columns), (348, 9));
        // Each cell is its file's count, or absent_from_file when the file lacks the miRNA.
        let mut absent = 0;
        for (raw_h, raw_rows) in [&raw0, &raw1] {
            let by_name: HashMap<&str, &Vec<String>> =
                raw_rows.iter().map(|r| (r[0].as_str(), r)).collect();
            for s in &raw_h[1..] {
                let j = a.sample_position(s).unwrap();
                let c = col(raw_h, s);
                for (i, id) in a.features().ids().iter().enumerate() {
                    match by_name.get(id.as_str()) {
                        Some(row) => {
                            assert_eq!(a.get(i, j), Some(row[c].parse::<f64>().unwrap()))
                        }
                        None => {
                            assert_eq!(a.flags()[[i, j]], ValueFlag::AbsentFromFile);
                            assert!(a.values()[[i, j]].is_nan());
                            absent += 1;
                        }
                    }
                }
            }
        }
        let c = a.flag_counts();
        assert_eq!(c.absent_from_file, absent);
        if join.is_empty() {
            assert_eq!(absent, (373 - 262) * 21 + (373 - 348) * 9);
        } else {
            assert_eq!(absent, 0);
            assert!(r
                .read
                .warnings
                .iter()
                .any(|w| w.contains("join=inner: 237 of the 373")));
        }
    }
}

#[test]
fn several_files_errors_name_both_files() {
    let d = tempfile::tempdir().unwrap();
    let sheet = d.path().join("s.tsv");
    std::fs::write(&sheet, "sample_id\nA\nB\nC\n").unwrap();
    let (f0, f1) = (d.path().join("b0.csv"), d.path().join("b1.csv"));
    std::fs::write(&f0, "id,A,B\nm1,1,2\nm2,3,4\n").unwrap();
    std::fs::write(&f1, "id,B,C\nm1,5,6\n").unwrap();
    let req = |layers: Vec<String>| IngestRequest {
        samples: sheet.clone(),
        sheet: SheetOptions::default(),
        layers: layers
            .iter()
            .map(|l| LayerSpec::parse(l).unwrap())
            .collect(),
        allow_missing_samples: false,
        sample_map: None,
    };
    let e = ingest(&req(vec![
        spec("m", &f0, ",scale=counts"),
        spec("m", &f1, ",scale=counts"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("sample 'B' is in both")
            && e.contains(&*f0.display().to_string())
            && e.contains(&*f1.display().to_string()),
        "{e}"
    );
    let e = ingest(&req(vec![spec("m", &f0, ",join=inner")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("this layer has one file"), "{e}");
    let e = ingest(&req(vec![spec("m", &f0, ""), spec("m", &f0, "")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("is given twice"), "{e}");
    let e = ingest(&req(vec![
        spec("m", &f0, ",sheet_column=a_column"),
        spec("m", &f1, ""),
    ]))
    .unwrap_err()
    .to_string();
    assert!(e.contains("different sheet_column= values"), "{e}");
    std::fs::write(&f1, "id,C\nm1,5\nm3,7\n").unwrap();
    let e = ingest(&req(vec![
        spec("m", &f0, ",scale=counts"),
        spec("m", &f1, ",scale=log2"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(e.contains("must hold one kind of value"), "{e}");
    let (exp, _, reports) = ingest(&req(vec![
        spec("m", &f0, ",scale=counts"),
        spec("m", &f1, ",scale=counts"),
    ]))
    .unwrap();
    let a = exp.layer("m").unwrap();
    assert_eq!(a.features().ids(), &["m1", "m2", "m3"]);
    assert_eq!(a.flags()[[2, 0]], ValueFlag::AbsentFromFile);
    assert_eq!(a.flags()[[1, 2]], ValueFlag::AbsentFromFile);
    assert_eq!(a.get(2, 2), Some(7.0));
    assert_eq!(reports[0].cells.absent_from_file, 3);
}

// ---------------------------------------------------------------- Readers II: fixtures

#[test]
fn perseus_fixture() {
    let m = read_matrix(&fixture("perseus_matrix.txt"), &ReadOptions::default()).unwrap();
    assert_eq!(m.report.format, "perseus");
    assert_eq!(m.feature_ids, vec!["P08670", "P21926", "P60709", "Q9UBR2"]);
    let names: Vec<&str> = m.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "LFQ intensity BM_1",
            "LFQ intensity BM_2",
            "LFQ intensity AD_1"
        ]
    );
    assert_eq!(m.scale, ValueScale::Log2);
    assert!(m
        .report
        .warnings
        .iter()
        .any(|w| w.starts_with("scale: log2")));
    assert_eq!(m.values[[0, 0]], 28.5);
    assert_eq!(m.flags[[1, 1]], ValueFlag::Missing);
    assert_eq!(m.report.rows_dropped.get("potential_contaminant"), Some(&1));
    assert_eq!(m.report.rows_dropped.get("reverse"), Some(&1));
}

#[test]
fn maxquant_tmt_fixture_through_the_sheet() {
    let (exp, reports) = run_ingest(
        &fixture("maxquant_tmt_samples.tsv"),
        None,
        &[spec(
            "proteome",
            &fixture("maxquant_tmt_proteinGroups.txt"),
            "",
        )],
        false,
    );
    assert_eq!(reports[0].read.format, "maxquant-tmt");
    assert_eq!(reports[0].read.quantity, "corrected");
    assert_eq!(reports[0].read.rows_dropped.get("reverse"), Some(&1));
    assert_eq!(
        reports[0].read.rows_dropped.get("potential_contaminant"),
        Some(&1)
    );
    let a = exp.layer("proteome").unwrap();
    assert_eq!((a.n_features(), a.n_samples()), (3, 6));
    let j = a.sample_position("AD_2").unwrap();
    let i = a.features().position("P21926").unwrap();
    assert_eq!(a.get(i, j), Some(5120.0));
    assert_eq!(
        a.flags()[[a.features().position("P60709").unwrap(), 0]],
        ValueFlag::Missing
    );
    let (exp, _) = run_ingest(
        &fixture("maxquant_tmt_samples.tsv"),
        None,
        &[spec(
            "proteome",
            &fixture("maxquant_tmt_proteinGroups.txt"),
            ",quant=uncorrected",
        )],
        false,
    );
    let a = exp.layer("proteome").unwrap();
    assert_eq!(a.get(i, j), Some(5200.0));
}

#[test]
fn tmt_integrator_fixture() {
    let (exp, reports) = run_ingest(
        &fixture("tmt_integrator_samples.tsv"),
        None,
        &[spec("proteome", &fixture("abundance_protein_MD.tsv"), "")],
        false,
    );
    assert_eq!(reports[0].read.format, "tmt-integrator");
    assert_eq!(reports[0].read.rows_dropped.get("contaminant"), Some(&1));
    assert_eq!(reports[0].read.rows_dropped.get("decoy"), Some(&1));
    let a = exp.layer("proteome").unwrap();
    assert_eq!((a.n_features(), a.n_samples()), (3, 6));
    assert_eq!(a.scale(), ValueScale::Log2);
    let i = a.features().position("sp|P21926|CD9_HUMAN").unwrap();
    assert_eq!(a.get(i, a.sample_position("BM_1").unwrap()), Some(-0.42));
    assert_eq!(
        a.flags()[[i, a.sample_position("AD_3").unwrap()]],
        ValueFlag::Missing
    );
}

#[test]
fn mztab_fixture() {
    let m = read_matrix(&fixture("proteins.mzTab"), &ReadOptions::default()).unwrap();
    assert_eq!(m.report.format, "mztab");
    assert_eq!(m.feature_ids, vec!["P08670", "P21926", "P60709"]);
    let names: Vec<&str> = m.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["BM_1", "BM_2", "AD_1", "AD_2"]);
    assert_eq!(m.values[[1, 2]], 88000.0);
    assert_eq!(m.flags[[2, 3]], ValueFlag::Missing);
    assert!(m.source_digest.is_some());
}

#[test]
fn proteome_discoverer_fixture_by_file_ids() {
    let (exp, reports) = run_ingest(
        &fixture("pd_proteins_samples.tsv"),
        None,
        &[spec("proteome", &fixture("pd_proteins.txt"), "")],
        false,
    );
    let r = &reports[0];
    assert_eq!(r.read.format, "proteome-discoverer");
    assert_eq!(r.read.rows_dropped.get("contaminant"), Some(&1));
    assert_eq!(
        r.read.rows_dropped.get("master_protein_candidate"),
        Some(&1)
    );
    let a = exp.layer("proteome").unwrap();
    assert_eq!((a.n_features(), a.n_samples()), (3, 4));
    let i = a.features().position("P21926").unwrap();
    assert_eq!(
        a.get(i, a.sample_position("AD_2").unwrap()),
        Some(4100000.0)
    );
    assert_eq!(annotation(a, "gene")[i].as_deref(), Some("CD9"));
}

#[test]
fn wide_tables_ending_in_unnamed_empty_columns_read() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("m.csv");
    std::fs::write(&p, "id,S1,S2,,\nP1,1,2,,\n").unwrap();
    let m = read_matrix(&p, &ReadOptions::default()).unwrap();
    assert_eq!(m.report.format, "wide");
    assert_eq!(m.columns.len(), 2);
    assert_eq!(m.values[[0, 1]], 2.0);
}
