//! The fuzz targets, one per reader, and the contract each input is checked against.
//!
//! Shared by the stable, proptest-based fuzzers (`crates/evomics-io/tests/fuzz.rs`, run by
//! `cargo test`) and the cargo-fuzz targets of this crate (`fuzz_targets/`, nightly only):
//! both feed bytes to [`check`], which writes them to a file and reads it through the public
//! entry points `read_matrix`, `read_sample_sheet` and `read_experiment`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use evomics_core::{Assay, ColumnValues, Experiment, Features, LayerKind, SampleSheet, ValueScale};
use evomics_io::formats::{harmonize, read_matrix};
use evomics_io::matrix::{align_to_sheet, MatchOptions, ParsedMatrix};
use evomics_io::sheet::{read_sample_sheet, SheetOptions};
use evomics_io::spec::ReadOptions;
use evomics_io::{read_experiment, write_experiment, Manifest};

/// What a target reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// A sample sheet (`read_sample_sheet`).
    Sheet,
    /// A layer file (`read_matrix`, then miRNA harmonization when `mirna`, then alignment to a
    /// sheet of the matrix's own sample names).
    Matrix {
        /// Harmonize miRNA names as `ingest` does for miRNA layers.
        mirna: bool,
    },
    /// An experiment store (`read_experiment`): the first input byte picks one of
    /// [`STORE_FILES`], the rest replaces that file of a valid store.
    Store,
}

/// One fuzz target.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Name (also the folder of its seeds in `fuzz/seeds/` and of its kept crashes in
    /// `test-data/bad/fuzz-regressions/`).
    pub name: &'static str,
    /// The file the input is written to; its extension chooses the reader's path (text, gzip,
    /// Parquet, XLSX).
    pub file: &'static str,
    /// `format=` forced, or `None` to exercise detection.
    pub format: Option<&'static str>,
    /// The reader.
    pub reader: Reader,
}

const fn matrix(name: &'static str, file: &'static str, format: Option<&'static str>) -> Target {
    Target {
        name,
        file,
        format,
        reader: Reader::Matrix { mirna: false },
    }
}

const fn mirna(name: &'static str, file: &'static str, format: &'static str) -> Target {
    Target {
        name,
        file,
        format: Some(format),
        reader: Reader::Matrix { mirna: true },
    }
}

/// Every target: each reader of `evomics-io`, plus format detection and gzip.
pub const TARGETS: &[Target] = &[
    Target {
        name: "sheet_text",
        file: "samples.tsv",
        format: None,
        reader: Reader::Sheet,
    },
    Target {
        name: "sheet_xlsx",
        file: "samples.xlsx",
        format: None,
        reader: Reader::Sheet,
    },
    Target {
        name: "sheet_ods",
        file: "samples.ods",
        format: None,
        reader: Reader::Sheet,
    },
    matrix("wide", "matrix.tsv", Some("wide")),
    matrix("maxquant", "proteinGroups.txt", Some("maxquant")),
    matrix("diann", "report.pg_matrix.tsv", Some("diann")),
    matrix("diann_report", "report.tsv", Some("diann-report")),
    matrix(
        "diann_report_parquet",
        "report.parquet",
        Some("diann-report"),
    ),
    matrix("fragpipe", "combined_protein.tsv", Some("fragpipe")),
    matrix(
        "proteome_discoverer",
        "proteins.csv",
        Some("proteome-discoverer"),
    ),
    matrix("perseus", "matrix.txt", Some("perseus")),
    matrix("maxquant_tmt", "proteinGroups.txt", Some("maxquant-tmt")),
    matrix(
        "tmt_integrator",
        "abundance_protein_MD.tsv",
        Some("tmt-integrator"),
    ),
    matrix("mztab", "proteins.mzTab", Some("mztab")),
    matrix("spectronaut", "report.tsv", Some("spectronaut")),
    mirna("smrnaseq", "mirna.tsv", "smrnaseq"),
    mirna(
        "smrnaseq_transposed",
        "mature_counts.csv",
        "smrnaseq-transposed",
    ),
    mirna("mirdeep2", "miRNAs_expressed_all_samples_1.csv", "mirdeep2"),
    matrix("wide_parquet", "matrix.parquet", Some("wide-parquet")),
    matrix("detect", "layer.txt", None),
    matrix("gzip", "layer.tsv.gz", None),
    Target {
        name: "store",
        file: "store",
        format: None,
        reader: Reader::Store,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The files of a store the [`Reader::Store`] target replaces, picked by the first input byte.
pub const STORE_FILES: [&str; 6] = [
    "manifest.json",
    "samples.parquet",
    "layers/p/layer.json",
    "layers/p/features.parquet",
    "layers/p/values.parquet",
    "layers/p/flags.parquet",
];

/// Write a small valid store (two features × three samples, one missing cell) to `dir`.
pub fn write_base_store(dir: &Path) {
    let sheet = SampleSheet::from_text_columns(
        vec!["A".into(), "B".into(), "C".into()],
        vec![
            (
                "source".into(),
                vec![Some("ADSC".into()), Some("BM-MSC".into()), None],
            ),
            (
                "protein_ug".into(),
                vec![Some("1.5".into()), Some("2".into()), Some("3".into())],
            ),
        ],
    )
    .expect("a valid sheet");
    let cells = ndarray::array![
        [Some(1.0), None, Some(3.5)],
        [Some(0.0), Some(2.0), Some(1e9)]
    ];
    let mut features = Features::new(vec!["P1".into(), "P2".into()]).expect("unique ids");
    features
        .set_annotation("gene", vec![Some("CD9".into()), None])
        .expect("one per feature");
    let assay = Assay::from_options(
        "p",
        LayerKind::Proteome,
        ValueScale::Linear,
        features,
        vec!["A".into(), "B".into(), "C".into()],
        &cells,
    )
    .expect("a valid layer");
    let mut exp = Experiment::new(sheet);
    exp.insert_layer(assay).expect("samples in the sheet");
    write_experiment(dir, &exp, &Manifest::new("fuzz")).expect("the base store is written");
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// What a reader must uphold for a matrix it accepts: shapes agree, and every cell flagged as
/// holding a value holds a finite one (no NaN or infinity enters silently).
fn matrix_contract(m: &ParsedMatrix) -> Result<(), String> {
    let shape = (m.feature_ids.len(), m.columns.len());
    if m.values.dim() != shape || m.flags.dim() != shape || m.feature_flags.len() != shape.0 {
        return Err(format!(
            "shapes disagree: {} features × {} columns, values {:?}, flags {:?}, {} feature flags",
            shape.0,
            shape.1,
            m.values.dim(),
            m.flags.dim(),
            m.feature_flags.len()
        ));
    }
    if let Some((name, v)) = m.annotations.iter().find(|(_, v)| v.len() != shape.0) {
        return Err(format!("annotation '{name}' has {} values", v.len()));
    }
    let bad = m
        .flags
        .iter()
        .zip(m.values.iter())
        .find(|(f, v)| f.has_value() && !v.is_finite());
    if let Some((f, v)) = bad {
        return Err(format!("a cell flagged {} holds {v}", f.name()));
    }
    if m.flags
        .iter()
        .zip(m.values.iter())
        .any(|(f, v)| f.is_missing() && !v.is_nan())
    {
        return Err("a missing cell holds a number".into());
    }
    Ok(())
}

fn sheet_contract(s: &SampleSheet) -> Result<(), String> {
    for c in s.columns() {
        if let ColumnValues::Numeric(v) = &c.values {
            if v.iter().flatten().any(|x| !x.is_finite()) {
                return Err(format!(
                    "sheet column '{}' holds a non-finite number",
                    c.name
                ));
            }
        }
    }
    Ok(())
}

/// Read a matrix the way `ingest` does, then align it to a sheet of its own sample names.
fn read_layer(path: &Path, t: &Target) -> Result<Result<(), String>, evomics_io::IoError> {
    let opts = ReadOptions {
        format: t.format.map(str::to_string),
        ..ReadOptions::default()
    };
    let mut parsed = read_matrix(path, &opts)?;
    if let Err(broken) = matrix_contract(&parsed) {
        return Ok(Err(broken));
    }
    let kind = match t.reader {
        Reader::Matrix { mirna: true } => LayerKind::Mirna,
        _ => LayerKind::Proteome,
    };
    harmonize::apply(&mut parsed, &opts, &kind)?;
    if let Err(broken) = matrix_contract(&parsed) {
        return Ok(Err(format!("after miRNA harmonization: {broken}")));
    }
    let mut names: Vec<String> = Vec::new();
    for c in &parsed.columns {
        if !c.name.trim().is_empty() && !names.contains(&c.name) {
            names.push(c.name.clone());
        }
    }
    if names.is_empty() {
        return Ok(Ok(()));
    }
    let Ok(sheet) = SampleSheet::new(names) else {
        return Ok(Ok(()));
    };
    let opts = MatchOptions {
        sheet_column: None,
        allow_missing_samples: true,
        column_map: None,
    };
    align_to_sheet(parsed, "p", kind, &sheet, &opts)?;
    Ok(Ok(()))
}

/// How a reader took an input that it handled correctly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Read, upholding the reader's contract.
    Accepted,
    /// Refused with this error, which names the file.
    Refused(String),
}

/// Feed `bytes` to `t` in the scratch directory `dir` (which holds `base-store/` for the store
/// target, see [`write_base_store`]).
///
/// A [`Verdict`] when the reader accepted the input (upholding its contract) or refused it with
/// an error that names the file; `Err` with a description on a panic, on an error that does not
/// say which file is wrong, or on an accepted input that breaks the contract.
pub fn check(t: &Target, dir: &Path, bytes: &[u8]) -> Result<Verdict, String> {
    let (path, named): (PathBuf, String) = match t.reader {
        Reader::Store => {
            let store = dir.join("store");
            let _ = std::fs::remove_dir_all(&store);
            copy_dir(&dir.join("base-store"), &store)
                .map_err(|e| format!("cannot copy the base store: {e}"))?;
            let (which, content) = match bytes.split_first() {
                Some((b, rest)) => (STORE_FILES[usize::from(*b) % STORE_FILES.len()], rest),
                None => (STORE_FILES[0], &[][..]),
            };
            std::fs::write(store.join(which), content)
                .map_err(|e| format!("cannot write the input: {e}"))?;
            (store, "store".to_string())
        }
        _ => {
            let path = dir.join(t.file);
            std::fs::write(&path, bytes).map_err(|e| format!("cannot write the input: {e}"))?;
            (path, t.file.to_string())
        }
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| match t.reader {
        Reader::Sheet => {
            read_sample_sheet(&path, &SheetOptions::default()).map(|s| sheet_contract(&s))
        }
        Reader::Matrix { .. } => read_layer(&path, t),
        Reader::Store => read_experiment(&path).map(|(exp, _)| {
            sheet_contract(exp.samples())?;
            for a in exp.layers().values() {
                if a.flags()
                    .iter()
                    .zip(a.values().iter())
                    .any(|(f, v)| f.has_value() && !v.is_finite())
                {
                    return Err(format!("layer '{}' holds a non-finite value", a.name()));
                }
            }
            Ok(())
        }),
    }));
    match outcome {
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("panicked: {msg}"))
        }
        Ok(Ok(Ok(()))) => Ok(Verdict::Accepted),
        Ok(Ok(Err(broken))) => Err(format!(
            "accepted an input that breaks the contract: {broken}"
        )),
        Ok(Err(e)) => {
            let msg = e.to_string();
            if msg.contains(&named) {
                Ok(Verdict::Refused(msg))
            } else {
                Err(format!("the error does not name '{named}': {msg}"))
            }
        }
    }
}
