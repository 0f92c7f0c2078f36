//! Stage outputs on disk: typed tables ([`evomics_core::Table`]) as TSV and Parquet, the typed
//! result document (`result.json`), and the stage folder written atomically with its manifest.
//!
//! - Numbers: the shortest text that reads back to the same double ([`format_float`]); missing
//!   and undefined values are `NA` in TSV and null in Parquet.
//! - Text: tabs and line breaks inside a cell become spaces (the TSV stays rectangular); a cell
//!   that a spreadsheet would run as a formula is written with a leading `'`
//!   ([`spreadsheet_safe`]); Parquet keeps the raw text.
//! - A stage folder holds `manifest.json` (provenance, settings, a summary), `result.json` (the
//!   typed result: what `evomics report` and library users read back, see [`read_result`]) and
//!   the tables. It replaces the output folder in one rename.

use std::path::Path;

use serde::{Deserialize, Serialize};

use evomics_core::{Cell, Kind, StageResult, Table};

use crate::atomic::{replace_dir, write_file_atomic, Replace};
use crate::error::{IoError, Result};
use crate::manifest::Manifest;

/// A double as text: the shortest decimal that reads back to the same value, with an exponent
/// for |x| < 1e-4 or ≥ 1e15 ([`evomics_core::format_float`]), `NA` when not finite.
pub fn format_float(x: f64) -> String {
    evomics_core::format_float(x).unwrap_or_else(|| "NA".to_string())
}

/// Text that a spreadsheet would evaluate (`=…`, `+…`, `@…`, or `-…` that is not a number)
/// gets a leading `'`, which Excel, LibreOffice and Google Sheets show as text; other text is
/// returned unchanged.
pub fn spreadsheet_safe(s: &str) -> std::borrow::Cow<'_, str> {
    let risky = match s.as_bytes().first() {
        Some(b'=' | b'+' | b'@') => true,
        Some(b'-') => s.parse::<f64>().is_err(),
        _ => false,
    };
    if risky {
        std::borrow::Cow::Owned(format!("'{s}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn tsv_cell(c: &Cell, out: &mut String) {
    match c {
        Cell::Text(s) => {
            let safe = spreadsheet_safe(s);
            if safe.contains(['\t', '\n', '\r']) {
                out.push_str(&safe.replace(['\t', '\n', '\r'], " "));
            } else {
                out.push_str(&safe);
            }
        }
        Cell::Int(i) => out.push_str(&i.to_string()),
        // An infinity a cell holds on purpose (limma's df.prior) is written as R writes it.
        Cell::Float(x) if *x == f64::INFINITY => out.push_str("Inf"),
        Cell::Float(x) if *x == f64::NEG_INFINITY => out.push_str("-Inf"),
        Cell::Float(x) => out.push_str(&format_float(*x)),
        Cell::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Cell::Na => out.push_str("NA"),
    }
}

/// Check a table before it is written: a mismatch between the rows and the columns is a bug in
/// the code that built it, reported instead of written.
fn checked(t: &Table) -> Result<()> {
    t.check().map_err(|problem| IoError::Store {
        path: Path::new(&t.name).to_path_buf(),
        problem: format!("internal error, table not written: {problem}"),
    })
}

/// The table as TSV text: header, rows, `\n` line ends.
pub fn to_tsv(t: &Table) -> String {
    let mut out = String::new();
    for (k, c) in t.columns.iter().enumerate() {
        if k > 0 {
            out.push('\t');
        }
        tsv_cell(&Cell::Text(c.name.clone()), &mut out);
    }
    out.push('\n');
    for row in &t.rows {
        for (k, c) in row.iter().enumerate() {
            if k > 0 {
                out.push('\t');
            }
            tsv_cell(c, &mut out);
        }
        out.push('\n');
    }
    out
}

/// The table as Parquet bytes: float columns as float64, integer columns as float64 (so that
/// readers see one numeric type per statistic), booleans and text as UTF-8 text
/// (`large_string`, which every Parquet reader opens, see [`crate::parquet`]), `Na` as null in
/// numeric columns and the text `NA` in text columns.
pub fn to_parquet(t: &Table) -> Result<Vec<u8>> {
    use crate::parquet::{write_columns, OutColumn};
    let path = Path::new(&t.name).with_extension("parquet");
    let mut cols = Vec::with_capacity(t.columns.len());
    for (k, spec) in t.columns.iter().enumerate() {
        let rows = &t.rows;
        match spec.kind {
            Kind::Float | Kind::Int => {
                cols.push(OutColumn::f64(&spec.name, move || {
                    rows.iter().map(move |r| r[k].as_f64())
                }));
            }
            Kind::Text | Kind::Bool => {
                cols.push(OutColumn::text(&spec.name, move || {
                    rows.iter().map(move |r| {
                        Some(match &r[k] {
                            Cell::Text(s) => s.clone(),
                            Cell::Bool(b) => b.to_string(),
                            Cell::Na => "NA".to_string(),
                            other => format!("{other:?}"),
                        })
                    })
                }));
            }
        }
    }
    let mut buf: Vec<u8> = Vec::new();
    write_columns(&path, &mut buf, t.rows.len(), cols)?;
    Ok(buf)
}

/// Write `dir/NAME.tsv` (and `dir/NAME.parquet` when the table asks for it), atomically.
pub fn write_table(dir: &Path, t: &Table) -> Result<()> {
    checked(t)?;
    for (name, bytes) in table_files(t)? {
        write_file_atomic(&dir.join(name), &bytes)?;
    }
    Ok(())
}

/// The files of a table: `name.tsv` and/or `name.parquet` and their bytes.
fn table_files(t: &Table) -> Result<Vec<(String, Vec<u8>)>> {
    use evomics_core::table::Formats;
    let mut files = Vec::new();
    if t.formats != Formats::Parquet {
        files.push((format!("{}.tsv", t.name), to_tsv(t).into_bytes()));
    }
    if t.formats != Formats::Tsv {
        files.push((format!("{}.parquet", t.name), to_parquet(t)?));
    }
    Ok(files)
}

/// The typed result of a stage as stored in `result.json`: the stage name and result version
/// travel with the data, so a reader refuses a document of another stage or version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultDocument<R> {
    /// Stage name.
    pub stage: String,
    /// Result version.
    pub version: u32,
    /// The result.
    pub result: R,
}

/// `result.json` text of a stage result.
pub fn result_json<R: StageResult>(result: &R) -> Result<String> {
    let doc = ResultDocument {
        stage: R::STAGE.to_string(),
        version: R::VERSION,
        result,
    };
    let mut s = serde_json::to_string(&doc).map_err(|e| IoError::Store {
        path: Path::new("result.json").to_path_buf(),
        problem: format!("cannot encode the {} result: {e}", R::STAGE),
    })?;
    s.push('\n');
    Ok(s)
}

/// Read the typed result of a stage folder (`DIR/result.json`), checking its stage and version.
pub fn read_result<R: StageResult>(dir: &Path) -> Result<R> {
    let path = dir.join("result.json");
    let text = read_regular_text(&path)?;
    let doc: ResultDocument<serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| IoError::Store {
            path: path.clone(),
            problem: format!("not an evomics result document ({e})"),
        })?;
    if doc.stage != R::STAGE {
        return Err(IoError::Store {
            path,
            problem: format!(
                "holds a '{}' result, not a '{}' result; point at the {} stage's folder",
                doc.stage,
                R::STAGE,
                R::STAGE
            ),
        });
    }
    if doc.version != R::VERSION {
        return Err(IoError::Store {
            path,
            problem: format!(
                "is a version {} {} result; this evomics reads version {}: rerun the stage",
                doc.version,
                R::STAGE,
                R::VERSION
            ),
        });
    }
    serde_json::from_value(doc.result).map_err(|e| IoError::Store {
        path,
        problem: format!(
            "the {} result does not read back ({e}); rerun the stage",
            R::STAGE
        ),
    })
}

/// Read a small text document (a manifest, a result) that must be a regular file: a FIFO, a
/// device or a folder in its place is an error, never a read that blocks or runs away.
pub fn read_regular_text(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| IoError::fs("cannot read", path, e))?;
    if !meta.is_file() {
        return Err(IoError::Store {
            path: path.to_path_buf(),
            problem: "is not a regular file (a folder, FIFO or device); evomics writes it as a plain file"
                .into(),
        });
    }
    std::fs::read_to_string(path).map_err(|e| IoError::fs("cannot read", path, e))
}

/// Write a stage folder atomically: the result's tables, `result.json`, any further documents
/// (`name` → text) and `manifest.json`, in a temporary sibling that then replaces `out`;
/// `replace` says what an existing `out` may be ([`crate::atomic::check_replaceable`]).
pub fn write_stage_result<R: StageResult + Sync>(
    out: &Path,
    replace: Replace,
    manifest: &Manifest,
    result: &R,
    documents: &[(String, String)],
) -> Result<()> {
    PreparedResult::new(result, documents.to_vec())?.write(out, replace, manifest)
}

/// A stage's output folder with everything but its manifest ready to write: the result's
/// tables (checked) and `result.json`, and the extra documents. [`write_stage_result`] is
/// [`PreparedResult::new`] then [`PreparedResult::write`]; between the two the result itself
/// is no longer needed, so the folder can be written later (on another thread), once the
/// manifest is complete.
#[derive(Debug, Clone)]
pub struct PreparedResult {
    tables: Vec<Table>,
    json: String,
    documents: Vec<(String, String)>,
}

impl PreparedResult {
    /// Tables and `result.json` of `result` (made side by side on the rayon pool), and the
    /// extra `documents` (name, text).
    pub fn new<R: StageResult + Sync>(
        result: &R,
        documents: Vec<(String, String)>,
    ) -> Result<Self> {
        let (tables, json) = rayon::join(|| result.tables(), || result_json(result));
        for t in &tables {
            checked(t)?;
        }
        Ok(PreparedResult {
            tables,
            json: json?,
            documents,
        })
    }

    /// Write the folder `out` atomically, with `manifest`. The tables' files are made on the
    /// rayon pool, then written in order.
    pub fn write(&self, out: &Path, replace: Replace, manifest: &Manifest) -> Result<()> {
        use rayon::prelude::*;
        let files = self
            .tables
            .par_iter()
            .map(table_files)
            .collect::<Result<Vec<_>>>()?;
        replace_dir(out, replace, |tmp| {
            for (name, bytes) in files.iter().flatten() {
                write_file_atomic(&tmp.join(name), bytes)?;
            }
            for (name, text) in &self.documents {
                write_file_atomic(&tmp.join(name), text.as_bytes())?;
            }
            write_file_atomic(&tmp.join("result.json"), self.json.as_bytes())?;
            write_file_atomic(&tmp.join("manifest.json"), manifest.to_json().as_bytes())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_cells_are_typed_and_safe() {
        let mut t = Table::new("x")
            .col("id", Kind::Text)
            .col("n", Kind::Int)
            .col("v", Kind::Float)
            .col("ok", Kind::Bool);
        t.push(vec![
            "=cmd|' /C calc'!A0".into(),
            3usize.into(),
            0.5.into(),
            true.into(),
        ]);
        t.push(vec![
            "-1.5".into(),
            Cell::Na,
            f64::INFINITY.into(),
            false.into(),
        ]);
        t.push(vec!["a\tb".into(), 1usize.into(), 1e-20.into(), Cell::Na]);
        assert_eq!(
            to_tsv(&t),
            "id\tn\tv\tok\n'=cmd|' /C calc'!A0\t3\t0.5\ttrue\n-1.5\tNA\tNA\tfalse\na b\t1\t1e-20\tNA\n"
        );
        assert_eq!(spreadsheet_safe("-x"), "'-x");
        assert_eq!(spreadsheet_safe("+1"), "'+1");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("hsa-miR-1"), "hsa-miR-1");
    }
}
