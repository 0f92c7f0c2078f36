//! Sample sheets from CSV, TSV or XLSX.

use std::path::Path;

use calamine::{open_workbook_auto, Data, Reader};

use evomics_core::sheet::ColumnValues;
use evomics_core::SampleSheet;

use crate::error::{IoError, Result};
use crate::text::{clip, header_preview, read_table};

/// Column names accepted as the sample id when none is named, in order of preference.
pub const ID_COLUMN_CANDIDATES: [&str; 8] = [
    "sample_id",
    "sample",
    "Sample",
    "SampleID",
    "Sample_ID",
    "sample_name",
    "Sample Name",
    "Sample ID",
];

/// How to read a sample sheet.
#[derive(Debug, Clone, Default)]
pub struct SheetOptions {
    /// The column holding sample ids; by default the first of [`ID_COLUMN_CANDIDATES`] present.
    pub id_column: Option<String>,
    /// The worksheet of an XLSX file; by default the first.
    pub worksheet: Option<String>,
}

/// Read a sample sheet: `.xlsx`/`.xls`/`.ods` through calamine, anything else as delimited text.
///
/// Column types follow [`SampleSheet::from_text_columns`]: known dose columns must be numbers,
/// other columns are numeric when every non-empty cell is a number.
pub fn read_sample_sheet(path: &Path, opts: &SheetOptions) -> Result<SampleSheet> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let (header, rows) = if matches!(ext.as_str(), "xlsx" | "xlsm" | "xls" | "ods") {
        read_workbook_guarded(path, opts)?
    } else {
        let t = read_table(path, None)?;
        let rows = t
            .rows
            .iter()
            .map(|r| {
                (
                    r.line,
                    (0..t.header.len()).map(|i| r.get(i).to_string()).collect(),
                )
            })
            .collect();
        (t.header, rows)
    };
    build_sheet(path, header, rows, opts)
}

/// A header and its data rows, each with its 1-based line (row) number.
type RawSheet = (Vec<String>, Vec<(u64, Vec<String>)>);

/// [`read_workbook`], with a damaged file's panic or endless loop in the spreadsheet reader
/// turned into an error. The time allowed (5 s plus 2 s per MB) is ample for any sample sheet.
fn read_workbook_guarded(path: &Path, opts: &SheetOptions) -> Result<RawSheet> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let limit = std::time::Duration::from_secs(5 + 2 * size / 1_000_000);
    let (p, o) = (path.to_path_buf(), opts.clone());
    let how = "save it again from the spreadsheet program, or as .csv or .tsv";
    match crate::guard::within(limit, move || crate::guard::catch(|| read_workbook(&p, &o))) {
        Some(Ok(read)) => read,
        Some(Err(panic)) => Err(IoError::layout(
            path,
            format!("cannot read as a spreadsheet: the file is damaged (the reader failed: {panic}); {how}"),
        )),
        None => Err(IoError::layout(
            path,
            format!(
                "cannot read as a spreadsheet: the reader did not finish within {} s, which a damaged file causes; {how}",
                limit.as_secs()
            ),
        )),
    }
}

fn read_workbook(path: &Path, opts: &SheetOptions) -> Result<RawSheet> {
    let mut wb = open_workbook_auto(path).map_err(|e| {
        IoError::layout(
            path,
            format!("cannot open as a spreadsheet ({e}); save it as .xlsx, .csv or .tsv"),
        )
    })?;
    let names = wb.sheet_names().to_vec();
    let name = match &opts.worksheet {
        Some(n) => names.iter().find(|s| *s == n).cloned().ok_or_else(|| {
            IoError::layout(
                path,
                format!(
                    "no worksheet '{n}'; the workbook has: {}",
                    header_preview(&names)
                ),
            )
        })?,
        None => names
            .first()
            .cloned()
            .ok_or_else(|| IoError::layout(path, "the workbook has no worksheet"))?,
    };
    let range = wb
        .worksheet_range(&name)
        .map_err(|e| IoError::layout(path, format!("cannot read worksheet '{name}' ({e})")))?;
    let first_row = range.start().map(|(r, _)| r as u64).unwrap_or(0);
    let mut rows_iter = range.rows();
    let header: Vec<String> = rows_iter
        .next()
        .ok_or_else(|| IoError::layout(path, format!("worksheet '{name}' is empty")))?
        .iter()
        .map(cell_text)
        .map(|s| s.trim().to_string())
        .collect();
    let rows = rows_iter
        .enumerate()
        .map(|(i, r)| (first_row + i as u64 + 2, r.iter().map(cell_text).collect()))
        .filter(|(_, r): &(u64, Vec<String>)| r.iter().any(|c| !c.trim().is_empty()))
        .collect();
    Ok((header, rows))
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{}", *f as i64)
            } else {
                f.to_string()
            }
        }
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, mo, d, h, mi, s, _) = dt.to_ymd_hms_milli();
            if (h, mi, s) == (0, 0, 0) {
                format!("{y:04}-{mo:02}-{d:02}")
            } else {
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
            }
        }
        Data::DateTime(dt) => dt.as_f64().to_string(),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#ERROR:{e:?}"),
    }
}

fn build_sheet(
    path: &Path,
    header: Vec<String>,
    rows: Vec<(u64, Vec<String>)>,
    opts: &SheetOptions,
) -> Result<SampleSheet> {
    let id_col = match &opts.id_column {
        Some(c) => header.iter().position(|h| h == c).ok_or_else(|| {
            IoError::layout(
                path,
                format!("no column '{c}' for sample ids; the header has: {}", header_preview(&header)),
            )
        })?,
        None => ID_COLUMN_CANDIDATES
            .iter()
            .find_map(|c| header.iter().position(|h| h == c))
            .ok_or_else(|| {
                IoError::layout(
                    path,
                    format!(
                        "no sample id column: name one with --sample-id-column, or call a column 'sample_id' (the header has: {})",
                        header_preview(&header)
                    ),
                )
            })?,
    };
    if rows.is_empty() {
        return Err(IoError::layout(
            path,
            "the sample sheet has a header but no samples",
        ));
    }
    let mut ids = Vec::with_capacity(rows.len());
    let mut first_line = std::collections::HashMap::new();
    for (line, r) in &rows {
        let id = r
            .get(id_col)
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if id.is_empty() {
            return Err(IoError::parse(
                path,
                *line,
                Some(&header[id_col]),
                "the sample id is empty; every sample needs an id",
            ));
        }
        if let Some(prev) = first_line.insert(id.clone(), *line) {
            return Err(IoError::parse(
                path,
                *line,
                Some(&header[id_col]),
                format!(
                    "sample id '{}' already used on line {prev}; sample ids must be unique",
                    clip(&id)
                ),
            ));
        }
        ids.push(id);
    }
    let mut columns = Vec::new();
    for (k, name) in header.iter().enumerate() {
        if k == id_col {
            continue;
        }
        if name.is_empty() {
            if rows
                .iter()
                .all(|(_, r)| r.get(k).is_none_or(|c| c.trim().is_empty()))
            {
                continue;
            }
            return Err(IoError::parse(
                path,
                1,
                None,
                format!("column {} has values but no name; give it a header", k + 1),
            ));
        }
        let cells = rows
            .iter()
            .map(|(_, r)| r.get(k).map(|c| c.to_string()))
            .collect();
        columns.push((name.clone(), cells));
    }
    SampleSheet::from_text_columns(ids, columns)
        .map_err(|e| IoError::core(path.display().to_string(), e))
}

/// Warnings about sheet columns that were kept as text but look like numbers written with a
/// comma (`1,5`: a decimal comma; `1,500`: a thousands separator). evomics reads `.` as the only
/// decimal mark, so such a column would quietly become a text column (classes, not numbers).
pub fn sheet_warnings(sheet: &SampleSheet) -> Vec<String> {
    let comma_number = |s: &str| {
        let t = s.strip_prefix('-').unwrap_or(s);
        t.split_once(',').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        })
    };
    let mut out = Vec::new();
    for c in sheet.columns() {
        let ColumnValues::Text(v) = &c.values else {
            continue;
        };
        let cells: Vec<&str> = v
            .iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        let example = cells.iter().find(|s| comma_number(s));
        if let Some(example) = example {
            if cells
                .iter()
                .all(|s| comma_number(s) || s.parse::<f64>().is_ok())
            {
                out.push(format!(
                    "column '{}' looks numeric but is written with commas (e.g. '{}'), so it is kept as text; evomics reads '.' as the decimal mark: save the sheet with '.' decimals and no thousands separators to use it as a number",
                    clip(&c.name),
                    clip(example)
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_numbers_are_flagged_and_text_is_not() {
        let sheet = SampleSheet::from_text_columns(
            vec!["a".into(), "b".into(), "c".into()],
            vec![
                (
                    "alp".into(),
                    vec![Some("1,5".into()), Some("2".into()), None],
                ),
                (
                    "note".into(),
                    vec![Some("1,5".into()), Some("day 2".into()), None],
                ),
                (
                    "dose".into(),
                    vec![Some("1.5".into()), Some("2".into()), None],
                ),
            ],
        )
        .unwrap();
        let w = sheet_warnings(&sheet);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("column 'alp'") && w[0].contains("'1,5'"),
            "{w:?}"
        );
    }

    #[test]
    fn detects_id_column_and_types() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.tsv");
        std::fs::write(&p, "Sample\tsource\tprotein_ug\nA\tADSC\t12\nB\tBM-MSC\t\n").unwrap();
        let s = read_sample_sheet(&p, &SheetOptions::default()).unwrap();
        assert_eq!(s.sample_ids(), &["A".to_string(), "B".to_string()]);
        assert_eq!(s.text("source", "B").as_deref(), Some("BM-MSC"));
    }

    #[test]
    fn duplicate_id_names_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.csv");
        std::fs::write(&p, "sample_id,x\nA,1\nB,2\nA,3\n").unwrap();
        let m = read_sample_sheet(&p, &SheetOptions::default())
            .unwrap_err()
            .to_string();
        assert!(m.contains("s.csv:4") && m.contains("line 2"), "{m}");
    }

    #[test]
    fn a_workbook_that_crashes_the_reader_is_an_error() {
        // Kept by the fuzz target sheet_xlsx: calamine overflows (and panics in debug builds) on
        // a cell reference with many letters.
        let crash = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../test-data/bad/fuzz-regressions/sheet_xlsx/cell-reference-overflow.bin");
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("samples.xlsx");
        std::fs::copy(&crash, &p).unwrap();
        match read_sample_sheet(&p, &SheetOptions::default()) {
            Ok(sheet) => assert!(!sheet.is_empty()),
            Err(e) => assert!(e.to_string().contains("samples.xlsx"), "{e}"),
        }
    }

    #[test]
    fn a_workbook_that_hangs_the_reader_is_an_error_in_bounded_time() {
        // Kept by the fuzz target sheet_ods: calamine loops forever when </table:table> is lost.
        let hang = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../test-data/bad/fuzz-regressions/sheet_ods/missing-table-end-tag-hang.bin");
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("samples.ods");
        std::fs::copy(&hang, &p).unwrap();
        let started = std::time::Instant::now();
        let e = read_sample_sheet(&p, &SheetOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "samples.ods: cannot read as a spreadsheet: the reader did not finish within 5 s"
            ),
            "{e}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }

    #[test]
    fn missing_id_column_explains() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.csv");
        std::fs::write(&p, "name,x\nA,1\n").unwrap();
        let m = read_sample_sheet(&p, &SheetOptions::default())
            .unwrap_err()
            .to_string();
        assert!(m.contains("--sample-id-column"), "{m}");
    }
}
