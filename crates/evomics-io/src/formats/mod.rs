//! Input formats: one module per tool output, detection from the header, and dispatch.
//!
//! Each text format is a [`TextFormat`]: a name, what it expects (shown when detection fails), a
//! detector over the header, and a reader over the parsed table. Detection tries the specific
//! formats in [`TEXT_FORMATS`] order and falls back to the generic wide matrix. Parquet files
//! are a DIA-NN main report when they have its columns, else a wide matrix.
//!
//! After reading, [`harmonize::apply`] maps miRNA names to miRBase v22 for miRNA layers.

use std::path::Path;

use crate::error::{IoError, Result};
use crate::matrix::ParsedMatrix;
use crate::spec::ReadOptions;
use crate::text::{read_table_padded, TextTable};

mod common;
pub mod diann;
pub mod fragpipe;
pub mod harmonize;
mod long;
pub mod maxquant;
pub mod mirna;
pub mod mztab;
pub mod pd;
pub mod perseus;
pub mod spectronaut;
pub mod tmt_integrator;
pub mod wide;

/// A tool output format read from delimited text.
pub struct TextFormat {
    /// Name used in `format=` and reports.
    pub name: &'static str,
    /// What the format's header must contain, for error messages.
    pub expects: &'static str,
    /// True when the header looks like this format.
    pub detect: fn(&TextTable) -> bool,
    /// Read the table's rows (a stream: each row is parsed once, straight into the matrix).
    pub read: fn(&mut TextTable, &ReadOptions) -> Result<ParsedMatrix>,
}

/// The text formats in detection order (specific before generic). The signatures do not
/// overlap: each tool's header has columns the others lack (see `docs/formats.md`).
pub static TEXT_FORMATS: &[TextFormat] = &[
    maxquant::TMT,
    maxquant::FORMAT,
    fragpipe::FORMAT,
    tmt_integrator::FORMAT,
    pd::FORMAT,
    perseus::FORMAT,
    diann::REPORT,
    diann::PG_MATRIX,
    spectronaut::FORMAT,
    mirna::MIRDEEP2,
    mirna::SMRNASEQ,
    mirna::SMRNASEQ_TRANSPOSED,
    wide::FORMAT,
];

/// Names of every format, for `--help` and errors.
pub fn format_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = TEXT_FORMATS.iter().map(|f| f.name).collect();
    v.push(mztab::NAME);
    v.push(wide::PARQUET_NAME);
    v
}

fn read_parquet(path: &Path, opts: &ReadOptions) -> Result<ParsedMatrix> {
    match opts.format.as_deref() {
        Some(f) if f == diann::REPORT.name => diann::read_report_parquet(path, opts),
        Some(f) if f == wide::PARQUET_NAME || f == wide::FORMAT.name => {
            wide::read_parquet(path, opts)
        }
        Some(f) => Err(IoError::Spec(format!(
            "format={f} is a text format, but '{}' is Parquet; Parquet files are read as {} or {}",
            path.display(),
            diann::REPORT.name,
            wide::PARQUET_NAME
        ))),
        None if diann::is_report_parquet(&diann::parquet_columns(path)?) => {
            diann::read_report_parquet(path, opts)
        }
        None => wide::read_parquet(path, opts),
    }
}

fn is_parquet(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

/// Read a layer file with the format given in `opts.format` or detected from its header.
///
/// A file from which no feature is left (every row dropped as decoy, contaminant, …) is an
/// error rather than an empty layer.
pub fn read_matrix(path: &Path, opts: &ReadOptions) -> Result<ParsedMatrix> {
    if is_parquet(path) {
        return require_features(read_parquet(path, opts)?);
    }
    // Two formats are told by their first lines rather than by a header: mzTab (line-oriented,
    // its lines of different widths) and Perseus (the `#!{Type}` row after the header).
    let head = match opts.format.as_deref() {
        None if path.metadata().is_ok_and(|m| m.is_file()) => crate::text::head_lines(path, 8)?,
        _ => Vec::new(),
    };
    if opts.format.as_deref() == Some(mztab::NAME)
        || (opts.format.is_none() && mztab::looks_like_mztab(&head))
    {
        return require_features(mztab::read_file(path, opts)?);
    }
    let mut table = read_table_padded(path, None)?;
    let mut parsed =
        if opts.format.is_none() && head.get(1).is_some_and(|l| perseus::looks_like_perseus(l)) {
            perseus::read(&mut table, opts)?
        } else {
            read_text_table(path, &mut table, opts)?
        };
    let (n, first) = table.rows.padded;
    if n > 0 {
        parsed.report.warnings.push(format!(
            "{n} row(s) have fewer fields than the header (first on line {first}); their missing trailing fields were read as empty"
        ));
    }
    if let Some(w) = table.rows.quote_warning() {
        parsed.report.warnings.push(w);
    }
    parsed.source_digest = Some(table.rows.digest());
    require_features(parsed)
}

fn require_features(parsed: ParsedMatrix) -> Result<ParsedMatrix> {
    if !parsed.feature_ids.is_empty() {
        return Ok(parsed);
    }
    let r = &parsed.report;
    let dropped: Vec<String> = r
        .rows_dropped
        .iter()
        .map(|(why, n)| format!("{why} {n}"))
        .collect();
    let problem = if dropped.is_empty() {
        format!("no feature was read ({} rows read)", r.rows_read)
    } else {
        format!(
            "no feature is left: every one of the {} rows read was dropped ({}); pass keep_flagged=true to keep flagged rows as flagged features",
            r.rows_read,
            dropped.join(", ")
        )
    };
    Err(IoError::layout(&parsed.path, problem))
}

fn read_text_table(path: &Path, table: &mut TextTable, opts: &ReadOptions) -> Result<ParsedMatrix> {
    if let Some(name) = &opts.format {
        let f = TEXT_FORMATS
            .iter()
            .find(|f| f.name == name.as_str())
            .ok_or_else(|| {
                IoError::Spec(format!(
                    "format={name} is unknown; known formats: {}",
                    format_names().join(", ")
                ))
            })?;
        return (f.read)(table, opts);
    }
    for f in TEXT_FORMATS.iter().filter(|f| f.name != wide::FORMAT.name) {
        if (f.detect)(&*table) {
            return (f.read)(table, opts);
        }
    }
    (wide::FORMAT.read)(table, opts).map_err(|e| {
        // Past the first data row the file evidently is a wide matrix (its header and first
        // rows read as one), so the list of other formats would only bury the real problem.
        if matches!(e, IoError::Parse { line, .. } if line > 2) {
            return e;
        }
        let mut tried: Vec<String> = TEXT_FORMATS
            .iter()
            .filter(|f| f.name != wide::FORMAT.name)
            .map(|f| format!("  {}: {}", f.name, f.expects))
            .collect();
        tried.push(format!("  {}: {}", mztab::NAME, mztab::EXPECTS));
        IoError::layout(
            path,
            format!(
                "not recognised as a known tool output, and not readable as a generic wide matrix.\nFormats tried:\n{}\n  {}: {}\nAs a wide matrix: {e}\nName the format with format=NAME if it is one of these.",
                tried.join("\n"),
                wide::FORMAT.name,
                wide::FORMAT.expects
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wide_matrix_damaged_past_its_first_row_gets_the_plain_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.tsv");
        std::fs::write(&p, "id\tA\nf1\t1\nf2\t2\nf3\thigh\n").unwrap();
        let e = read_matrix(&p, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("m.tsv:4, column 'A': 'high' is not a number; write a number, or NA/empty for a missing value"), "{e}");
        // A first row that does not read lists the formats tried.
        std::fs::write(&p, "name\tnote\nf1\tsome text\n").unwrap();
        let e = read_matrix(&p, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Formats tried:") && e.contains("m.tsv:2, column 'note'"),
            "{e}"
        );
    }

    #[test]
    fn every_row_dropped_is_an_error_naming_the_reasons() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("proteinGroups.txt");
        std::fs::write(
            &p,
            "Protein IDs\tMajority protein IDs\tLFQ intensity A\tReverse\tPotential contaminant\n\
             REV__P1\tREV__P1\t1\t+\t\n\
             CON__P2\tCON__P2\t3\t\t+\n",
        )
        .unwrap();
        let e = read_matrix(&p, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("proteinGroups.txt"), "{e}");
        assert!(
            e.contains("potential_contaminant 1, reverse 1") && e.contains("keep_flagged=true"),
            "{e}"
        );
        let kept = ReadOptions {
            keep_flagged: true,
            ..Default::default()
        };
        assert_eq!(read_matrix(&p, &kept).unwrap().feature_ids.len(), 2);
    }
}
