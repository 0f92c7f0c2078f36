//! Sample sheets from CSV, TSV or XLSX.

use std::path::Path;

use calamine::{open_workbook_auto, Data, Reader};

use evomics_core::sheet::ColumnValues;
use evomics_core::SampleSheet;

use crate::error::{IoError, Result};
use crate::text::{clip, header_preview, read_table, LIMITS};

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
    /// The file is SDRF-Proteomics ([`crate::sdrf`]): `id_column` then names the SDRF column of
    /// the sample ids (default `source name`).
    pub sdrf: bool,
}

/// Read a sample sheet: `.xlsx`/`.xls`/`.ods` through calamine, anything else as delimited text.
///
/// Column types follow [`SampleSheet::from_text_columns`]: known dose columns must be numbers,
/// other columns are numeric when every non-empty cell is a number.
pub fn read_sample_sheet(path: &Path, opts: &SheetOptions) -> Result<SampleSheet> {
    read_sample_sheet_with_warnings(path, opts).map(|(s, _)| s)
}

/// [`read_sample_sheet`], with the warnings about its cells: spreadsheet error values
/// (`#DIV/0!`, `#N/A`, …) read as missing, `TRUE`/`FALSE` in a numeric column read as missing,
/// text in a column of numbers (which makes it a text column), numbers written with commas,
/// and literal quotes in a TSV. Each names the sheet file, the row and the column.
pub fn read_sample_sheet_with_warnings(
    path: &Path,
    opts: &SheetOptions,
) -> Result<(SampleSheet, Vec<String>)> {
    if opts.sdrf {
        let (sheet, mut notes) = crate::sdrf::read_sdrf(path, opts.id_column.as_deref())?;
        notes.extend(sheet_warnings(&sheet));
        return Ok((sheet, notes));
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let mut quote_warning = None;
    let (header, rows) = if matches!(ext.as_str(), "xlsx" | "xlsm" | "xls" | "ods") {
        read_workbook_guarded(path, opts)?
    } else {
        let mut t = read_table(path, None)?;
        let width = t.header.len();
        let mut rows = Vec::new();
        let mut cells = 0usize;
        while let Some(r) = t.rows.next_row()? {
            cells += width;
            if cells > LIMITS.max_sheet_cells {
                return Err(IoError::parse(
                    path,
                    r.line,
                    None,
                    format!(
                        "the sample sheet has more than {} cells, the limit (docs/reliability.md); is this a sample sheet?",
                        LIMITS.max_sheet_cells
                    ),
                ));
            }
            rows.push((r.line, (0..width).map(|i| r.get(i).to_string()).collect()));
        }
        quote_warning = t.rows.quote_warning();
        (t.header, rows)
    };
    let mut warnings = Vec::new();
    let sheet = build_sheet(path, header, rows, opts, &mut warnings)?;
    warnings.extend(quote_warning);
    warnings.extend(sheet_warnings(&sheet));
    Ok((sheet, warnings))
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

/// Largest decompressed part of an `.xlsx`/`.ods` archive read (a worksheet's XML, the shared
/// strings): 16 MiB holds a sample sheet of about 300,000 cells.
const MAX_WORKBOOK_PART: u64 = 16 << 20;

/// Check every part of a workbook archive by decompressing it (its declared size can lie):
/// a zip bomb is refused before the spreadsheet reader loads anything.
fn check_archive(path: &Path) -> Result<()> {
    let how = "save the sheet as .csv or .tsv (docs/reliability.md)";
    let f = std::fs::File::open(path).map_err(|e| IoError::fs("cannot read", path, e))?;
    let mut zip = match zip::ZipArchive::new(std::io::BufReader::new(f)) {
        Ok(z) => z,
        // Not a zip: calamine says what it is (an .xls, or not a workbook at all).
        Err(_) => return Ok(()),
    };
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut part = match zip.by_index(i) {
            Ok(p) => p,
            Err(_) => return Ok(()),
        };
        let name = part.name().to_string();
        let mut sink = std::io::sink();
        let n = std::io::copy(
            &mut std::io::Read::take(&mut part, MAX_WORKBOOK_PART + 1),
            &mut sink,
        )
        .unwrap_or(0);
        if n > MAX_WORKBOOK_PART {
            return Err(IoError::layout(
                path,
                format!(
                    "the workbook part '{}' decompresses to more than {}, the limit for a sample sheet workbook (a zip bomb, or far more than a sample sheet); {how}",
                    clip(&name),
                    crate::text::bytes_text(MAX_WORKBOOK_PART)
                ),
            ));
        }
        total += n;
        if total > 4 * MAX_WORKBOOK_PART {
            return Err(IoError::layout(
                path,
                format!(
                    "the workbook decompresses to more than {}; {how}",
                    crate::text::bytes_text(4 * MAX_WORKBOOK_PART)
                ),
            ));
        }
    }
    Ok(())
}

fn read_workbook(path: &Path, opts: &SheetOptions) -> Result<RawSheet> {
    check_archive(path)?;
    let is_xlsx = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx") || e.eq_ignore_ascii_case("xlsm"));
    if is_xlsx {
        if let Ok(wb) = calamine::open_workbook::<calamine::Xlsx<_>, _>(path) {
            return read_xlsx_cells(path, wb, opts);
        }
    }
    let mut wb = open_workbook_auto(path).map_err(|e| {
        IoError::layout(
            path,
            format!("cannot open as a spreadsheet ({e}); save it as .xlsx, .csv or .tsv"),
        )
    })?;
    let name = pick_worksheet(path, wb.sheet_names().to_vec(), opts)?;
    let range = wb
        .worksheet_range(&name)
        .map_err(|e| IoError::layout(path, format!("cannot read worksheet '{name}' ({e})")))?;
    if range.get_size().0 as u64 * range.get_size().1 as u64 > LIMITS.max_sheet_cells as u64 {
        return Err(sheet_too_large(path));
    }
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

fn sheet_too_large(path: &Path) -> IoError {
    IoError::layout(
        path,
        format!(
            "the worksheet has more than {} cells, the limit for a sample sheet (docs/reliability.md); is this a sample sheet?",
            LIMITS.max_sheet_cells
        ),
    )
}

fn pick_worksheet(path: &Path, names: Vec<String>, opts: &SheetOptions) -> Result<String> {
    match &opts.worksheet {
        Some(n) => names.iter().find(|s| *s == n).cloned().ok_or_else(|| {
            IoError::layout(
                path,
                format!(
                    "no worksheet '{n}'; the workbook has: {}",
                    header_preview(&names)
                ),
            )
        }),
        None => names
            .first()
            .cloned()
            .ok_or_else(|| IoError::layout(path, "the workbook has no worksheet")),
    }
}

/// An XLSX worksheet read cell by cell (never as one dense range, whose size a single cell
/// at `XFD1048576` would set), within the sheet's cell limit.
fn read_xlsx_cells<RS: std::io::Read + std::io::Seek>(
    path: &Path,
    mut wb: calamine::Xlsx<RS>,
    opts: &SheetOptions,
) -> Result<RawSheet> {
    let name = pick_worksheet(path, wb.sheet_names().to_vec(), opts)?;
    let mut reader = wb
        .worksheet_cells_reader(&name)
        .map_err(|e| IoError::layout(path, format!("cannot read worksheet '{name}' ({e})")))?;
    let mut by_row: std::collections::BTreeMap<u32, Vec<(u32, String)>> = Default::default();
    let mut n = 0usize;
    let mut width = 0u32;
    loop {
        let cell = match reader.next_cell() {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                return Err(IoError::layout(
                    path,
                    format!("cannot read worksheet '{name}' ({e})"),
                ))
            }
        };
        let (r, c) = cell.get_position();
        let text = data_ref_text(cell.get_value());
        if text.is_empty() {
            continue;
        }
        n += 1;
        if n > LIMITS.max_sheet_cells || c as usize >= LIMITS.max_header_fields {
            return Err(sheet_too_large(path));
        }
        width = width.max(c + 1);
        by_row.entry(r).or_default().push((c, text));
    }
    let mut rows_iter = by_row.into_iter();
    let (first, header_cells) = rows_iter
        .next()
        .ok_or_else(|| IoError::layout(path, format!("worksheet '{name}' is empty")))?;
    let _ = first;
    let dense = |cells: Vec<(u32, String)>| {
        let mut v = vec![String::new(); width as usize];
        for (c, t) in cells {
            v[c as usize] = t;
        }
        v
    };
    let header: Vec<String> = dense(header_cells)
        .into_iter()
        .map(|s| s.trim().to_string())
        .collect();
    let rows = rows_iter
        .map(|(r, cells)| (r as u64 + 1, dense(cells)))
        .filter(|(_, r)| r.iter().any(|c| !c.trim().is_empty()))
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
        Data::Error(e) => e.to_string(),
    }
}

fn data_ref_text(d: &calamine::DataRef<'_>) -> String {
    use calamine::DataRef;
    match d {
        DataRef::SharedString(s) => s.to_string(),
        DataRef::String(s) => s.clone(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => cell_text(&Data::Float(*f)),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(dt) => cell_text(&Data::DateTime(*dt)),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => e.to_string(),
        DataRef::Empty => String::new(),
    }
}

/// Spreadsheet error values: what a formula cell shows when it cannot compute.
const SPREADSHEET_ERRORS: [&str; 11] = [
    "#DIV/0!",
    "#N/A",
    "#VALUE!",
    "#REF!",
    "#NAME?",
    "#NUM!",
    "#NULL!",
    "#DATA!",
    "#GETTING_DATA",
    "#SPILL!",
    "#CALC!",
];

fn is_spreadsheet_error(s: &str) -> bool {
    SPREADSHEET_ERRORS
        .iter()
        .any(|e| s.trim().eq_ignore_ascii_case(e))
}

fn is_boolean(s: &str) -> bool {
    let s = s.trim();
    s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false")
}

fn is_number(s: &str) -> bool {
    s.trim().parse::<f64>().is_ok()
}

/// Where a cell is, for a warning: `FILE:ROW, column 'NAME' (sample 'ID')`.
fn cell_at(path: &Path, line: u64, column: &str, sample: &str) -> String {
    format!(
        "{}:{line}, column '{}' (sample '{}')",
        path.display(),
        clip(column),
        clip(sample)
    )
}

/// Read spreadsheet cells of one sheet column as evomics will type them: error values become
/// missing, and in a column of numbers `TRUE`/`FALSE` become missing too; each with a warning
/// naming the cell. Text among numbers is left (the column becomes text) but named.
fn clean_column(
    path: &Path,
    name: &str,
    cells: &mut [Option<String>],
    lines: &[u64],
    ids: &[String],
    warnings: &mut Vec<String>,
) {
    let mut errors: Vec<usize> = Vec::new();
    for (i, c) in cells.iter_mut().enumerate() {
        if c.as_deref().is_some_and(is_spreadsheet_error) {
            errors.push(i);
            // Kept for the warning's example below.
        }
    }
    if let Some(&first) = errors.first() {
        let example = cells[first].clone().unwrap_or_default();
        for &i in &errors {
            cells[i] = None;
        }
        warnings.push(format!(
            "{} spreadsheet error value(s) read as missing values, first '{}' at {}; fix the formulas, or leave the cells empty",
            errors.len(),
            clip(&example),
            cell_at(path, lines[first], name, &ids[first])
        ));
    }
    if evomics_core::sheet::KNOWN_TEXT_COLUMNS.contains(&name) {
        return;
    }
    let filled: Vec<usize> = (0..cells.len())
        .filter(|&i| {
            cells[i]
                .as_deref()
                .is_some_and(|s| !evomics_core::sheet::is_na_text(s))
        })
        .collect();
    let numbers = filled
        .iter()
        .filter(|&&i| cells[i].as_deref().is_some_and(is_number))
        .count();
    let others = filled.len() - numbers;
    // A column of numbers with a few other cells: the numbers are the column's meaning.
    if numbers == 0 || others == 0 || numbers < others {
        return;
    }
    let bools: Vec<usize> = filled
        .iter()
        .copied()
        .filter(|&i| cells[i].as_deref().is_some_and(is_boolean))
        .collect();
    if let Some(&first) = bools.first() {
        let example = cells[first].clone().unwrap_or_default();
        for &i in &bools {
            cells[i] = None;
        }
        warnings.push(format!(
            "column '{}' holds numbers and {} TRUE/FALSE cell(s), first '{}' at {}; they are read as missing values, not as numbers, and the column stays numeric. Write 1/0 if they are meant as numbers",
            clip(name),
            bools.len(),
            clip(&example),
            cell_at(path, lines[first], name, &ids[first])
        ));
    }
    let text: Vec<usize> = filled
        .iter()
        .copied()
        .filter(|&i| cells[i].as_deref().is_some_and(|s| !is_number(s)))
        .collect();
    // Numbers written with commas get their own warning (`sheet_warnings`).
    let all_commas = text
        .iter()
        .all(|&i| cells[i].as_deref().is_some_and(|s| comma_number(s.trim())));
    if let (Some(&first), false) = (text.first(), all_commas) {
        warnings.push(format!(
            "column '{}' holds {numbers} number(s) and {} cell(s) that are not numbers, first '{}' at {}; the whole column is read as text (class labels). Write the number, or NA for a missing value, to use it as numbers",
            clip(name),
            text.len(),
            clip(cells[first].as_deref().unwrap_or("")),
            cell_at(path, lines[first], name, &ids[first])
        ));
    }
}

fn build_sheet(
    path: &Path,
    header: Vec<String>,
    rows: Vec<(u64, Vec<String>)>,
    opts: &SheetOptions,
    warnings: &mut Vec<String>,
) -> Result<SampleSheet> {
    let id_col = match &opts.id_column {
        Some(c) => header.iter().position(|h| h == c).ok_or_else(|| {
            IoError::layout(
                path,
                format!("no column '{}' for sample ids; the header has: {}", clip(c), header_preview(&header)),
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
    let mut by_nfc: std::collections::HashMap<String, (u64, String)> = Default::default();
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
        if is_spreadsheet_error(&id) {
            return Err(IoError::parse(
                path,
                *line,
                Some(&header[id_col]),
                format!("the sample id is the spreadsheet error value '{}'; fix the formula or write the id", clip(&id)),
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
        if let Some((prev, other)) = by_nfc.insert(crate::matrix::nfc(&id), (*line, id.clone())) {
            return Err(IoError::parse(
                path,
                *line,
                Some(&header[id_col]),
                format!(
                    "sample id '{}' is the same text as '{}' on line {prev} in another Unicode form (here '{}', there '{}'); they look alike but differ in bytes: write both the same way (e.g. NFC)",
                    clip(&id),
                    clip(&other),
                    crate::matrix::spelled_out(&id),
                    crate::matrix::spelled_out(&other)
                ),
            ));
        }
        ids.push(id);
    }
    drop(by_nfc);
    let lines: Vec<u64> = rows.iter().map(|(l, _)| *l).collect();
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
        let mut cells: Vec<Option<String>> = rows
            .iter()
            .map(|(_, r)| r.get(k).map(|c| c.to_string()))
            .collect();
        clean_column(path, name, &mut cells, &lines, &ids, warnings);
        columns.push((name.clone(), cells));
    }
    SampleSheet::from_text_columns(ids, columns)
        .map_err(|e| IoError::core(path.display().to_string(), e))
}

/// `1,5` or `1,500`: digits, one comma, digits.
fn comma_number(s: &str) -> bool {
    let t = s.strip_prefix('-').unwrap_or(s);
    t.split_once(',').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}

/// Warnings about sheet columns that were kept as text but look like numbers written with a
/// comma (`1,5`: a decimal comma; `1,500`: a thousands separator). evomics reads `.` as the only
/// decimal mark, so such a column would quietly become a text column (classes, not numbers).
pub fn sheet_warnings(sheet: &SampleSheet) -> Vec<String> {
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
