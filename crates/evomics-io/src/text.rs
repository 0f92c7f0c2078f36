//! Delimited text tables (TSV, CSV, semicolon), plain or gzip-compressed, with positions kept for errors.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{IoError, Result};

/// A delimited text table read whole: header plus rows, each row with its 1-based line number.
#[derive(Debug, Clone)]
pub struct TextTable {
    /// The file it came from.
    pub path: PathBuf,
    /// The delimiter used.
    pub delimiter: u8,
    /// Header fields (BOM and surrounding white space removed).
    pub header: Vec<String>,
    /// Data rows.
    pub rows: Vec<TextRow>,
}

/// One data row of a [`TextTable`].
#[derive(Debug, Clone)]
pub struct TextRow {
    /// 1-based line number in the file where the row starts.
    pub line: u64,
    /// The fields.
    pub fields: csv::StringRecord,
}

impl TextRow {
    /// A field by index, trimmed; empty when the row is shorter.
    pub fn get(&self, i: usize) -> &str {
        self.fields.get(i).map(str::trim).unwrap_or("")
    }
}

impl TextTable {
    /// Index of a header column (exact match after trimming).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// Index of a header column or a layout error naming what is missing.
    pub fn require(&self, name: &str, format: &str) -> Result<usize> {
        self.column(name).ok_or_else(|| {
            IoError::layout(
                &self.path,
                format!("no column '{name}' in the header, which a {format} table must have"),
            )
        })
    }
}

/// Read a whole file, transparently gunzipping `.gz` content (detected by its magic bytes).
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| IoError::fs("cannot read", path, e))?;
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| {
                // Name the line where the readable data stops, as for a truncated text file.
                let line = 1 + out.iter().filter(|&&b| b == b'\n').count() as u64;
                IoError::parse(
                    path,
                    line,
                    None,
                    format!("gzip data is corrupt or truncated ({e}): the readable text stops in this line; re-download or re-compress the file"),
                )
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Check the bytes are UTF-8 and strip a leading byte-order mark; a non-UTF-8 file is an error
/// that names the line of the first bad byte.
pub fn decode_utf8(path: &Path, bytes: Vec<u8>) -> Result<String> {
    match String::from_utf8(bytes) {
        Ok(mut s) => {
            if s.starts_with('\u{feff}') {
                s.drain(..3);
            }
            Ok(s)
        }
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64;
            Err(IoError::parse(
                path,
                line,
                None,
                format!(
                    "byte {:#04x} is not valid UTF-8; save the file as UTF-8 (Excel: 'CSV UTF-8'; iconv -f latin1 -t utf-8)",
                    bytes[at]
                ),
            ))
        }
    }
}

/// Guess the delimiter from the header line: tab if present, else the more frequent of `,` and `;`.
pub fn sniff_delimiter(first_line: &str) -> u8 {
    if first_line.contains('\t') {
        return b'\t';
    }
    let commas = first_line.matches(',').count();
    let semis = first_line.matches(';').count();
    if semis > commas {
        b';'
    } else {
        b','
    }
}

/// Read a delimited table. `delimiter = None` sniffs it from the header line.
///
/// Every row must have as many fields as the header (a short or long row is an error naming its
/// line), except that a trailing empty field is tolerated as tools often write one.
pub fn read_table(path: &Path, delimiter: Option<u8>) -> Result<TextTable> {
    let text = decode_utf8(path, read_bytes(path)?)?;
    parse_table(path, &text, delimiter)
}

/// Parse table text already in memory (see [`read_table`]).
pub fn parse_table(path: &Path, text: &str, delimiter: Option<u8>) -> Result<TextTable> {
    parse_table_impl(path, text, delimiter, false).map(|(t, _)| t)
}

/// Like [`read_table`], but a row shorter than the header is padded with empty fields when a
/// line break follows it: its trailing empty fields were not written (tools and editors that
/// strip trailing white space drop them). A short last row with no line break after it is still
/// an error, as it is what a truncated file looks like. Returns the lines of the padded rows.
pub fn read_table_padded(path: &Path, delimiter: Option<u8>) -> Result<(TextTable, Vec<u64>)> {
    let text = decode_utf8(path, read_bytes(path)?)?;
    parse_table_impl(path, &text, delimiter, true)
}

fn parse_table_impl(
    path: &Path,
    text: &str,
    delimiter: Option<u8>,
    pad: bool,
) -> Result<(TextTable, Vec<u64>)> {
    let first_line = text.lines().next().unwrap_or("");
    if text.trim().is_empty() {
        return Err(IoError::layout(
            path,
            "the file is empty; expected a header line and data rows",
        ));
    }
    let delimiter = delimiter.unwrap_or_else(|| sniff_delimiter(first_line));
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .quoting(true)
        .from_reader(text.as_bytes());
    let mut records = rdr.records();
    let header_rec = match records.next() {
        Some(r) => r.map_err(|e| csv_error(path, e))?,
        None => return Err(IoError::layout(path, "the file has no header line")),
    };
    let mut header: Vec<String> = header_rec.iter().map(|h| h.trim().to_string()).collect();
    while header.last().is_some_and(|h| h.is_empty()) && header.len() > 1 {
        header.pop();
    }
    let mut seen = std::collections::HashSet::new();
    for (i, h) in header.iter().enumerate() {
        if !h.is_empty() && !seen.insert(h.as_str()) {
            return Err(IoError::parse(
                path,
                1,
                Some(h),
                format!(
                    "header column {} repeats the name '{}'; column names must be unique",
                    i + 1,
                    clip(h)
                ),
            ));
        }
    }
    let ncol = header.len();
    let mut rows = Vec::new();
    // The csv crate's line counter and record offsets are off by one for CRLF files (a record
    // appears to start at the preceding '\n'), so lines are counted from the offsets here.
    let bytes = text.as_bytes();
    let (mut at_byte, mut at_line) = (0usize, 1u64);
    let mut padded = Vec::new();
    let mut records = records.peekable();
    while let Some(rec) = records.next() {
        let rec = rec.map_err(|e| csv_error(path, e))?;
        let mut start = rec
            .position()
            .map(|p| p.byte() as usize)
            .unwrap_or(at_byte)
            .min(bytes.len());
        while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        if start >= at_byte {
            at_line += bytes[at_byte..start]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            at_byte = start;
        }
        let line = at_line;
        if rec.len() == 1 && rec.get(0).is_some_and(|f| f.trim().is_empty()) {
            continue;
        }
        let mut rec = rec;
        if rec.len() == ncol + 1 && rec.get(ncol).is_some_and(|f| f.trim().is_empty()) {
            rec.truncate(ncol);
        }
        if let Some(other) = mixed_delimiter(&rec, ncol, delimiter) {
            // Padding such a row would read the whole line as a feature id with every value
            // missing: a wrong result that looks like a sparse one.
            return Err(IoError::parse(
                path,
                line,
                None,
                format!(
                    "row has 1 field but the header has {ncol}; the row splits into {ncol} fields at {} while the header uses {}: the file mixes delimiters. Re-export it with one delimiter",
                    delimiter_name(other),
                    delimiter_name(delimiter)
                ),
            ));
        }
        if pad && rec.len() < ncol && (records.peek().is_some() || text.ends_with('\n')) {
            while rec.len() < ncol {
                rec.push_field("");
            }
            padded.push(line);
        }
        if rec.len() != ncol {
            let delim_name = delimiter_name(delimiter);
            // Name the column where the row stops (or overflows), so a truncated row is located.
            let at = if rec.len() < ncol {
                format!("the row ends before column '{}'", clip(&header[rec.len()]))
            } else {
                format!(
                    "field {} is beyond the last column '{}'",
                    ncol + 1,
                    clip(&header[ncol - 1])
                )
            };
            return Err(IoError::parse(
                path,
                line,
                None,
                format!(
                    "row has {} fields but the header has {ncol} ({at}; delimiter {delim_name}); the file may be truncated, or a field holds an unquoted delimiter",
                    rec.len()
                ),
            ));
        }
        rows.push(TextRow { line, fields: rec });
    }
    let table = TextTable {
        path: path.to_path_buf(),
        delimiter,
        header,
        rows,
    };
    Ok((table, padded))
}

fn delimiter_name(d: u8) -> String {
    match d {
        b'\t' => "tab".to_string(),
        d => format!("'{}'", d as char),
    }
}

/// The other delimiter a one-field row is written with, when splitting it at that delimiter
/// gives exactly the header's width (a trailing empty field allowed).
fn mixed_delimiter(rec: &csv::StringRecord, ncol: usize, delimiter: u8) -> Option<u8> {
    if rec.len() != 1 || ncol < 2 {
        return None;
    }
    let field = rec.get(0)?;
    [b'\t', b',', b';']
        .into_iter()
        .filter(|&d| d != delimiter)
        .find(|&d| {
            let parts: Vec<&str> = field.split(d as char).collect();
            parts.len() == ncol
                || (parts.len() == ncol + 1 && parts.last().is_some_and(|p| p.trim().is_empty()))
        })
}

/// Text from an input file cut to 60 characters for a message (a cell can be megabytes long).
pub fn clip(s: &str) -> std::borrow::Cow<'_, str> {
    const MAX_CHARS: usize = 60;
    match s.char_indices().nth(MAX_CHARS) {
        Some((at, _)) => format!("{}…", &s[..at]).into(),
        None => s.into(),
    }
}

/// At most 12 names of a header, each [`clip`]ped, for messages: a hostile header can
/// be megabytes long and must not be echoed whole.
pub fn header_preview(header: &[String]) -> String {
    const MAX_NAMES: usize = 12;
    let mut parts: Vec<String> = header
        .iter()
        .take(MAX_NAMES)
        .map(|h| clip(h).into_owned())
        .collect();
    if header.len() > MAX_NAMES {
        parts.push(format!("… {} more", header.len() - MAX_NAMES));
    }
    parts.join(", ")
}

fn csv_error(path: &Path, e: csv::Error) -> IoError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    // Only used for undecodable records, where the csv crate's count is the best we have.
    IoError::parse(path, line, None, format!("cannot parse the row: {e}"))
}

/// Spellings of a missing cell in numeric matrices.
pub fn is_na_cell(s: &str) -> bool {
    matches!(
        s,
        "" | "NA" | "NaN" | "nan" | "NAN" | "N/A" | "n/a" | "na" | "null" | "NULL" | "#N/A" | "-"
    )
}

/// Parse a numeric cell: `Ok(None)` for a missing spelling, an error for text, infinities or NaN
/// written as numbers are rejected so that no non-finite value enters a matrix silently.
pub fn parse_cell(path: &Path, line: u64, column: &str, raw: &str) -> Result<Option<f64>> {
    let s = raw.trim();
    if is_na_cell(s) {
        return Ok(None);
    }
    let parsed = s.parse::<f64>();
    let s = clip(s);
    match parsed {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        Ok(v) => Err(IoError::parse(
            path,
            line,
            Some(column),
            format!("value '{s}' is {v}; write a finite number, or NA for a missing value"),
        )),
        Err(_) if decimal_comma(&s) => Err(IoError::parse(
            path,
            line,
            Some(column),
            format!("'{s}' is not a number: it has a decimal comma; export the table with '.' as the decimal separator"),
        )),
        Err(_) => Err(IoError::parse(
            path,
            line,
            Some(column),
            format!("'{s}' is not a number; write a number, or NA/empty for a missing value"),
        )),
    }
}

/// `1,5` or `-0,25`: one comma between digits, no point.
fn decimal_comma(s: &str) -> bool {
    s.matches(',').count() == 1
        && !s.contains('.')
        && s.replacen(',', ".", 1)
            .parse::<f64>()
            .is_ok_and(f64::is_finite)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("x.tsv")
    }

    #[test]
    fn sniffs_and_reads() {
        let t = parse_table(p(), "\u{feff}id,a,b\r\nf1,1,2\r\nf2,\"3\",4\r\n", None).unwrap();
        assert_eq!(t.delimiter, b',');
        assert_eq!(t.header, vec!["id", "a", "b"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[1].get(1), "3");
        assert_eq!(t.rows[1].line, 3);
    }

    #[test]
    fn short_row_names_line() {
        let e = parse_table(p(), "id\ta\tb\nf1\t1\t2\nf2\t3\n", None).unwrap_err();
        let m = e.to_string();
        assert!(m.starts_with("x.tsv:3:"), "{m}");
        assert!(m.contains("2 fields but the header has 3"), "{m}");
    }

    #[test]
    fn padded_rows_need_a_line_break_after_them() {
        let (t, padded) = parse_table_impl(p(), "id\ta\tb\nf1\t1\nf2\t3\t4\n", None, true).unwrap();
        assert_eq!((t.rows[0].get(2), padded), ("", vec![2]));
        let e = parse_table_impl(p(), "id\ta\tb\nf1\t1\t2\nf2\t3", None, true).unwrap_err();
        assert!(e.to_string().contains("ends before column 'b'"), "{e}");
    }

    #[test]
    fn empty_and_duplicate_header() {
        assert!(parse_table(p(), "", None)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        let m = parse_table(p(), "id\ta\ta\n", None)
            .unwrap_err()
            .to_string();
        assert!(m.contains("repeats the name 'a'"), "{m}");
    }

    #[test]
    fn cells() {
        assert_eq!(parse_cell(p(), 2, "a", " 1.5 ").unwrap(), Some(1.5));
        assert_eq!(parse_cell(p(), 2, "a", "NA").unwrap(), None);
        let m = parse_cell(p(), 7, "s1", "abc").unwrap_err().to_string();
        assert!(m.contains("x.tsv:7, column 's1'"), "{m}");
        assert!(parse_cell(p(), 2, "a", "inf").is_err());
    }

    #[test]
    fn mixed_delimiters_are_an_error_not_padding() {
        let text = "id\ta\tb\nf1,1,2\nf2,3,4\n";
        let e = parse_table_impl(p(), text, None, true)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.tsv:2:"), "{e}");
        assert!(
            e.contains("mixes delimiters") && e.contains("at ','"),
            "{e}"
        );
        // A row that only lost its trailing empty fields is still padded.
        let (t, padded) = parse_table_impl(p(), "id\ta\tb\nf1\nf2\t3\t4\n", None, true).unwrap();
        assert_eq!((t.rows.len(), padded), (2, vec![2]));
    }

    #[test]
    fn decimal_comma_is_named() {
        let m = parse_cell(p(), 3, "s1", "1449,78").unwrap_err().to_string();
        assert!(m.contains("decimal comma"), "{m}");
        let m = parse_cell(p(), 3, "s1", "1,2,3").unwrap_err().to_string();
        assert!(!m.contains("decimal comma"), "{m}");
        let m = parse_cell(p(), 3, "s1", &"x".repeat(100_000))
            .unwrap_err()
            .to_string();
        assert!(
            m.len() < 300,
            "a huge cell is not echoed whole: {}",
            m.len()
        );
    }

    #[test]
    fn header_preview_is_bounded() {
        let header: Vec<String> = (0..1000)
            .map(|i| format!("{i}{}", "x".repeat(100)))
            .collect();
        let s = header_preview(&header);
        assert!(s.len() < 1000, "{}", s.len());
        assert!(s.ends_with("… 988 more"), "{s}");
    }

    #[test]
    fn non_utf8_names_line() {
        let e = decode_utf8(p(), b"a\tb\nc\t\xe9\n".to_vec()).unwrap_err();
        assert!(e.to_string().contains("x.tsv:2"), "{e}");
    }
}
