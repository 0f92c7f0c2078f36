//! Delimited text tables (TSV, CSV, semicolon), plain or gzip-compressed, read as a stream of
//! rows with positions kept for errors and every size bounded by [`LIMITS`].
//!
//! A [`TextTable`] holds the header and a row source: readers take one row at a time
//! ([`Rows::next_row`]) and parse its cells straight into their final values, so no reader
//! keeps the file, its records or its cells as text. The whole file is never in memory: the
//! source is read through a fixed buffer (by a thread that reads, hashes and decompresses about
//! 1 MiB ahead of the parser), gzip streams are decompressed on the fly, and each
//! record is bounded by [`Limits::max_line_bytes`] and each cell by [`Limits::max_cell_bytes`].
//!
//! Quotes: comma- and semicolon-separated files use RFC 4180 quoting (`"a,b"`, `""` for a
//! quote). In a tab-separated file quotes are literal characters unless every named field of the
//! header is quoted (as R's `write.table` writes), which marks a quoted file. A quoted field that
//! is never closed, or that runs over a line holding a whole row's worth of delimiters, is an
//! error naming the line where the field started: an unbalanced quote must not swallow rows.

use std::borrow::Cow;
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::error::{IoError, Result};

/// The bounds every text input is held to (docs/reliability.md, "Memory bounds").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest record (a line, or several when a quoted field spans lines), in bytes.
    pub max_line_bytes: usize,
    /// Longest cell, in bytes.
    pub max_cell_bytes: usize,
    /// Most fields in a header.
    pub max_header_fields: usize,
    /// Most cells of one matrix a reader builds (features × samples).
    pub max_cells: u64,
    /// Most bytes a gzip-compressed input may decompress to.
    pub max_decompressed_bytes: u64,
    /// Most cells (rows × columns) of a sample sheet.
    pub max_sheet_cells: usize,
}

/// The limits in force. DIA-NN reports of several GB and matrices of tens of millions of cells
/// are real and read; a single 1 MiB cell or a 16 MiB line is not a table any tool writes.
pub const LIMITS: Limits = Limits {
    max_line_bytes: 16 << 20,
    max_cell_bytes: 1 << 20,
    max_header_fields: 200_000,
    max_cells: 500_000_000,
    max_decompressed_bytes: 64 << 30,
    max_sheet_cells: 1_000_000,
};

/// A size in words: `16 MiB`, `1 MiB`, `64 GiB`.
pub(crate) fn bytes_text(n: u64) -> String {
    if n >= 1 << 30 && n.is_multiple_of(1 << 30) {
        format!("{} GiB", n >> 30)
    } else if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// A delimited text table: header, and the rows still to be read.
pub struct TextTable {
    /// The file it came from.
    pub path: PathBuf,
    /// The delimiter used.
    pub delimiter: u8,
    /// True when quotes delimit fields (CSV, or a TSV whose header is quoted).
    pub quoted: bool,
    /// Header fields (BOM and surrounding white space removed).
    pub header: Vec<String>,
    /// The data rows, read one at a time.
    pub rows: Rows,
}

impl std::fmt::Debug for TextTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTable")
            .field("path", &self.path)
            .field("delimiter", &self.delimiter)
            .field("header", &self.header.len())
            .finish()
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

/// One data row, borrowed from [`Rows`] until the next row is read.
#[derive(Debug, Clone, Copy)]
pub struct TextRow<'a> {
    /// 1-based line number in the file where the row starts.
    pub line: u64,
    rec: &'a Record,
    progress: (u64, Option<u64>),
}

impl<'a> TextRow<'a> {
    /// A field by index, trimmed; empty when the row is shorter.
    pub fn get(&self, i: usize) -> &'a str {
        self.rec.field(i).trim()
    }

    /// A field by index as written (not trimmed); empty when the row is shorter.
    pub fn raw(&self, i: usize) -> &'a str {
        self.rec.field(i)
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.rec.len()
    }

    /// True for a row without fields (never returned by [`Rows::next_row`]).
    pub fn is_empty(&self) -> bool {
        self.rec.len() == 0
    }

    /// [`Rows::progress`] when this row was read.
    pub fn progress(&self) -> (u64, Option<u64>) {
        self.progress
    }
}

/// Fields of one record: their bytes, one delimiter byte between two fields, and where each
/// field ends (the next starts one byte later).
#[derive(Debug, Default)]
struct Record {
    text: String,
    ends: Vec<usize>,
    line: u64,
    /// The record ended at a line break (not at the end of the file).
    terminated: bool,
}

impl Record {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn field(&self, i: usize) -> &str {
        if i >= self.ends.len() {
            return "";
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] + 1 };
        &self.text[start..self.ends[i]]
    }

    /// Append an empty field (`delimiter`, an ASCII byte, separates it from the last).
    fn push_empty(&mut self, delimiter: u8) {
        self.text.push(char::from(delimiter));
        self.ends.push(self.text.len());
    }
}

/// The data rows of a [`TextTable`], parsed on demand.
pub struct Rows {
    parser: Parser,
    rec: Record,
    ncol: usize,
    pad: bool,
    /// The header's width before its trailing empty fields were removed.
    raw_ncol: usize,
    /// Rows may have any number of fields (line-oriented formats such as mzTab).
    ragged: bool,
    /// Data rows returned so far.
    pub rows_read: usize,
    /// Rows padded with empty trailing fields (count, first line).
    pub padded: (usize, u64),
    /// Cells whose text starts or ends with a literal quote in an unquoted TSV (count, first
    /// line, column index).
    pub literal_quotes: (usize, u64, usize),
    header: Vec<String>,
}

impl Rows {
    /// The next data row, or `None` at the end of the file. Blank lines are skipped; a row
    /// with more or fewer fields than the header is an error naming its line (see
    /// [`read_table_padded`] for rows that lost trailing empty fields).
    pub fn next_row(&mut self) -> Result<Option<TextRow<'_>>> {
        loop {
            if !self.parser.read_record(&mut self.rec, Some(self.ncol))? {
                return Ok(None);
            }
            let rec = &mut self.rec;
            if rec.len() == 1 && rec.field(0).trim().is_empty() {
                continue;
            }
            if self.ragged {
                self.rows_read += 1;
                let progress = self.progress();
                return Ok(Some(TextRow {
                    line: self.rec.line,
                    rec: &self.rec,
                    progress,
                }));
            }
            let ncol = self.ncol;
            // Trailing fields under the header's trailing unnamed columns (or one trailing
            // field beyond the header) are dropped when empty: spreadsheet and Proteome
            // Discoverer exports end every line with such columns.
            let spare = self.raw_ncol.max(ncol + 1);
            if rec.len() > ncol && rec.len() <= self.raw_ncol {
                if let Some(k) = (ncol..rec.len()).find(|&i| !rec.field(i).trim().is_empty()) {
                    return Err(IoError::parse(
                        &self.parser.path,
                        rec.line,
                        None,
                        format!(
                            "column {} has a value ('{}') but no header (the header ends with {} unnamed column(s) after '{}'); name the column in the header, or remove the value",
                            k + 1,
                            clip(rec.field(k).trim()),
                            self.raw_ncol - ncol,
                            clip(&self.header[ncol - 1])
                        ),
                    ));
                }
            }
            if rec.len() > ncol
                && rec.len() <= spare
                && (ncol..rec.len()).all(|i| rec.field(i).trim().is_empty())
            {
                rec.ends.truncate(ncol);
                rec.text.truncate(rec.ends.last().copied().unwrap_or(0));
            }
            let path = self.parser.path.as_path();
            let delimiter = self.parser.delimiter;
            if let Some(other) = mixed_delimiter(rec, ncol, delimiter) {
                // Padding such a row would read the whole line as a feature id with every value
                // missing: a wrong result that looks like a sparse one.
                return Err(IoError::parse(
                    path,
                    rec.line,
                    None,
                    format!(
                        "row has 1 field but the header has {ncol}; the row splits into {ncol} fields at {} while the header uses {}: the file mixes delimiters. Re-export it with one delimiter",
                        delimiter_name(other),
                        delimiter_name(delimiter)
                    ),
                ));
            }
            if self.pad && rec.len() < ncol && rec.terminated {
                while rec.len() < ncol {
                    rec.push_empty(delimiter);
                }
                if self.padded.0 == 0 {
                    self.padded.1 = rec.line;
                }
                self.padded.0 += 1;
            }
            if rec.len() != ncol {
                let header = &self.header;
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
                    rec.line,
                    None,
                    format!(
                        "row has {} fields but the header has {ncol} ({at}; delimiter {}); the file may be truncated, or a field holds an unquoted delimiter",
                        rec.len(),
                        delimiter_name(delimiter)
                    ),
                ));
            }
            // Only a row with a quote character can have a cell that begins or ends with one.
            if !self.parser.quoted && delimiter == b'\t' && rec.text.as_bytes().contains(&b'"') {
                for i in 0..rec.len() {
                    let f = rec.field(i).trim();
                    if f.starts_with('"') || f.ends_with('"') {
                        if self.literal_quotes.0 == 0 {
                            self.literal_quotes.1 = rec.line;
                            self.literal_quotes.2 = i;
                        }
                        self.literal_quotes.0 += 1;
                    }
                }
            }
            self.rows_read += 1;
            let progress = self.progress();
            return Ok(Some(TextRow {
                line: self.rec.line,
                rec: &self.rec,
                progress,
            }));
        }
    }

    /// Bytes of text (decompressed) the rows so far took, and the size of the whole text the
    /// input announces when it does: how far through the input the reader is, so that a
    /// matrix can reserve its memory once instead of growing by copies.
    pub fn progress(&self) -> (u64, Option<u64>) {
        let src = &self.parser.src;
        (src.total - (src.len - src.pos) as u64, src.announced)
    }

    /// Physical lines read so far.
    pub fn lines(&self) -> u64 {
        self.parser.line - u64::from(self.parser.at_line_start)
    }

    /// Line breaks that were inside quoted fields, and the line of the first such field.
    pub fn quoted_line_breaks(&self) -> (u64, u64) {
        (self.parser.quoted_breaks, self.parser.first_quoted_break)
    }

    /// SHA-256 and size of the file's bytes read so far (all of them once the rows are done).
    pub fn digest(&self) -> ([u8; 32], u64) {
        let h = self
            .parser
            .src
            .hash
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        (h.0.clone().finalize().into(), h.1)
    }

    /// A warning about quoting worth a user's attention: literal quotes at the edge of TSV
    /// cells (an unbalanced quote read as text), or quoted fields that held line breaks.
    pub fn quote_warning(&self) -> Option<String> {
        if self.literal_quotes.0 > 0 {
            let (n, line, col) = self.literal_quotes;
            return Some(format!(
                "{n} cell(s) of this tab-separated file begin or end with a quote character (first at {}:{line}, column '{}'); quotes in a TSV whose header is not quoted are read as part of the text",
                self.parser.path.display(),
                clip(self.header.get(col).map(String::as_str).unwrap_or(""))
            ));
        }
        let (breaks, first) = self.quoted_line_breaks();
        (breaks > 0).then(|| {
            format!(
                "{breaks} line break(s) are inside quoted fields (first in the field starting at {}:{first}); {} rows were read from {} lines",
                self.parser.path.display(),
                self.rows_read,
                self.lines()
            )
        })
    }
}

/// The SHA-256 and size of the raw bytes of an input read so far.
type SharedHash = Arc<Mutex<(Sha256, u64)>>;

/// Raw bytes of an input with its SHA-256 computed on the way.
struct Hashing<R> {
    inner: R,
    hash: SharedHash,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut h = self.hash.lock().unwrap_or_else(|e| e.into_inner());
        h.0.update(&buf[..n]);
        h.1 += n as u64;
        Ok(n)
    }
}

/// Bytes per chunk a [`ReadAhead`] thread reads (at most four chunks are held at once: two
/// waiting, one being filled, one being read).
const CHUNK_BYTES: usize = 1 << 18;
/// Chunks a [`ReadAhead`] thread may have read before the parser takes them.
const CHUNKS_AHEAD: usize = 2;

/// An input read ahead on a thread of its own, [`CHUNK_BYTES`] at a time: the file's read, its
/// SHA-256 and the gzip decompression run beside the parser instead of in turn with it (a
/// one-layer ingest of the L cohort's 153 MB protein table: 1.47 → 1.32 s, gzipped 1.91 →
/// 1.36 s). At
/// most [`CHUNKS_AHEAD`] chunks wait, so the memory stays about 1 MiB whatever the file's size,
/// and spent chunks go back to the thread for reuse. The thread says where the input ends
/// (an empty chunk): a thread that stops without saying so is an error, never an early end of
/// the text. When the reader is dropped the thread stops at its next chunk.
struct ReadAhead {
    chunks: Receiver<std::io::Result<Vec<u8>>>,
    spent: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    ended: bool,
    /// An error met after bytes were handed out in the same call, for the next call.
    pending: Option<std::io::Error>,
}

impl ReadAhead {
    fn spawn(mut inner: Box<dyn Read + Send>) -> std::io::Result<ReadAhead> {
        let (send, chunks) = std::sync::mpsc::sync_channel(CHUNKS_AHEAD);
        let (spent, reuse) = std::sync::mpsc::sync_channel::<Vec<u8>>(CHUNKS_AHEAD + 1);
        std::thread::Builder::new()
            .name("evomics-read-ahead".into())
            .spawn(move || loop {
                let mut buf = reuse.try_recv().unwrap_or_default();
                buf.resize(CHUNK_BYTES, 0);
                let mut filled = 0;
                let error = loop {
                    if filled == buf.len() {
                        break None;
                    }
                    match inner.read(&mut buf[filled..]) {
                        Ok(0) => break None,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => break Some(e),
                    }
                };
                buf.truncate(filled);
                let end = filled < CHUNK_BYTES;
                if filled > 0 && send.send(Ok(buf)).is_err() {
                    return;
                }
                match error {
                    Some(e) => {
                        let _ = send.send(Err(e));
                        return;
                    }
                    None if end => {
                        let _ = send.send(Ok(Vec::new()));
                        return;
                    }
                    None => {}
                }
            })?;
        Ok(ReadAhead {
            chunks,
            spent,
            current: Vec::new(),
            pos: 0,
            ended: false,
            pending: None,
        })
    }
}

/// A file's text read by the parser's thread for its first buffer and by a [`ReadAhead`] thread
/// after it: a file refused at its first bytes (binary, a gzip bomb of zero bytes) costs
/// neither a thread nor chunks.
struct StartAhead {
    /// The input, until the thread takes it.
    inner: Option<Box<dyn Read + Send>>,
    /// Whether the first buffer was read.
    started: bool,
    ahead: Option<ReadAhead>,
}

impl Read for StartAhead {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if let Some(ahead) = &mut self.ahead {
            return ahead.read(out);
        }
        let Some(mut inner) = self.inner.take() else {
            return Err(std::io::Error::other(
                "the thread reading the file could not start",
            ));
        };
        if !self.started {
            self.started = true;
            let n = inner.read(out);
            self.inner = Some(inner);
            return n;
        }
        self.ahead.insert(ReadAhead::spawn(inner)?).read(out)
    }
}

impl Read for ReadAhead {
    /// Fill `out` as far as the input goes (a whole chunk boundary is crossed within one call,
    /// so a parser's buffer is refilled whole).
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let mut written = 0;
        while written < out.len() {
            if self.pos == self.current.len() {
                if self.ended {
                    break;
                }
                let next = self.chunks.recv().unwrap_or_else(|_| {
                    Err(std::io::Error::other(
                        "the thread reading the file stopped before the file's end",
                    ))
                });
                match next {
                    Ok(chunk) if chunk.is_empty() => {
                        self.ended = true;
                        break;
                    }
                    Ok(chunk) => {
                        let spent = std::mem::replace(&mut self.current, chunk);
                        self.pos = 0;
                        if spent.capacity() > 0 {
                            let _ = self.spent.try_send(spent);
                        }
                    }
                    Err(e) => {
                        self.ended = true;
                        if written == 0 {
                            return Err(e);
                        }
                        self.pending = Some(e);
                        break;
                    }
                }
            }
            let n = (out.len() - written).min(self.current.len() - self.pos);
            out[written..written + n].copy_from_slice(&self.current[self.pos..self.pos + n]);
            self.pos += n;
            written += n;
        }
        Ok(written)
    }
}

/// The byte source of a parser: the file (or gzip stream) through a fixed buffer.
struct Source {
    inner: Box<dyn Read>,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    eof: bool,
    gz: bool,
    total: u64,
    /// The size of the text the input announces (a file's size, a gzip stream's trailer):
    /// a hint for reserving memory, never trusted for anything else.
    announced: Option<u64>,
    hash: SharedHash,
}

/// The parser's buffer: a line that crosses its end is read byte by byte, so it holds many of
/// the longest usual lines (a 2,000-sample matrix row is about 20 kB).
const BUF_BYTES: usize = 1 << 20;

/// The bytes that end a run of ordinary field bytes.
fn specials(delimiter: u8, quoted: bool) -> [bool; 256] {
    let mut t = [false; 256];
    t[delimiter as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\r' as usize] = true;
    if quoted {
        t[b'"' as usize] = true;
    }
    t
}

struct Parser {
    path: PathBuf,
    src: Source,
    delimiter: u8,
    quoted: bool,
    special: [bool; 256],
    limits: Limits,
    /// The current physical line (1-based).
    line: u64,
    at_line_start: bool,
    bytes: Vec<u8>,
    quoted_breaks: u64,
    first_quoted_break: u64,
}

enum Step {
    Byte(u8),
    Eof,
}

impl Parser {
    fn fill(&mut self) -> Result<bool> {
        if self.src.pos < self.src.len {
            return Ok(true);
        }
        if self.src.eof {
            return Ok(false);
        }
        loop {
            match self.src.inner.read(&mut self.src.buf) {
                Ok(0) => {
                    self.src.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.src.pos = 0;
                    self.src.len = n;
                    self.src.total += n as u64;
                    if self.src.gz && self.src.total > self.limits.max_decompressed_bytes {
                        return Err(IoError::parse(
                            &self.path,
                            self.line,
                            None,
                            format!(
                                "the gzip stream decompresses to more than {}, the limit for one input (docs/reliability.md); a table that large is not a tool output: check the file, or split it",
                                bytes_text(self.limits.max_decompressed_bytes)
                            ),
                        ));
                    }
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if self.src.gz => {
                    return Err(IoError::parse(
                        &self.path,
                        self.line,
                        None,
                        format!("gzip data is corrupt or truncated ({e}): the readable text stops in this line; re-download or re-compress the file"),
                    ))
                }
                Err(e) => return Err(IoError::fs("cannot read", &self.path, e)),
            }
        }
    }

    #[inline]
    fn next(&mut self) -> Result<Step> {
        if self.src.pos >= self.src.len && !self.fill()? {
            return Ok(Step::Eof);
        }
        let b = self.src.buf[self.src.pos];
        self.src.pos += 1;
        Ok(Step::Byte(b))
    }

    #[inline]
    fn peek(&mut self) -> Result<Option<u8>> {
        if self.src.pos >= self.src.len && !self.fill()? {
            return Ok(None);
        }
        Ok(Some(self.src.buf[self.src.pos]))
    }

    fn too_long(&self, start: u64) -> IoError {
        IoError::parse(
            &self.path,
            start,
            None,
            format!(
                "the line is longer than {}, the limit for one row (docs/reliability.md); the file is not a text table (binary, or a table without line breaks)",
                bytes_text(self.limits.max_line_bytes as u64)
            ),
        )
    }

    fn cell_too_long(&self, start: u64, field: usize) -> IoError {
        IoError::parse(
            &self.path,
            start,
            None,
            format!(
                "field {} is longer than {}, the limit for one cell (docs/reliability.md); no tool writes such a cell: the file is damaged or not a table",
                field + 1,
                bytes_text(self.limits.max_cell_bytes as u64)
            ),
        )
    }

    /// Read one record into `rec`; false at the end of the input. `ncol` (the header's width,
    /// once known) sets how many delimiters on one line inside a quoted field mean that the
    /// quote swallowed a row.
    fn read_record(&mut self, rec: &mut Record, ncol: Option<usize>) -> Result<bool> {
        self.bytes.clear();
        rec.ends.clear();
        rec.text.clear();
        rec.terminated = false;
        let start_line = self.line;
        rec.line = start_line;
        if self.src.pos >= self.src.len {
            self.fill()?;
        }
        if self.line_in_buffer(rec) {
            return Ok(true);
        }
        let mut field_start = 0usize;
        let mut any = false;
        loop {
            // Fast path: a run of ordinary bytes.
            if self.src.pos < self.src.len {
                let buf = &self.src.buf[self.src.pos..self.src.len];
                let run = buf
                    .iter()
                    .position(|&b| self.special[b as usize])
                    .unwrap_or(buf.len());
                if run > 0 {
                    self.bytes.extend_from_slice(&buf[..run]);
                    self.src.pos += run;
                    self.at_line_start = false;
                    any = true;
                    if self.bytes.len() - field_start > self.limits.max_cell_bytes {
                        return Err(self.cell_too_long(start_line, rec.ends.len()));
                    }
                    if self.bytes.len() > self.limits.max_line_bytes {
                        return Err(self.too_long(start_line));
                    }
                    continue;
                }
            }
            let b = match self.next()? {
                Step::Eof => {
                    if !any && rec.ends.is_empty() {
                        return Ok(false);
                    }
                    rec.ends.push(self.bytes.len());
                    break;
                }
                Step::Byte(b) => b,
            };
            any = true;
            self.at_line_start = false;
            if b == self.delimiter {
                rec.ends.push(self.bytes.len());
                self.bytes.push(b);
                field_start = self.bytes.len();
                if rec.ends.len() > self.limits.max_header_fields {
                    return Err(IoError::parse(
                        &self.path,
                        start_line,
                        None,
                        format!(
                            "the row has more than {} fields, the limit (docs/reliability.md); is the delimiter right?",
                            self.limits.max_header_fields
                        ),
                    ));
                }
            } else if b == b'\n' || b == b'\r' {
                if b == b'\r' && self.peek()? == Some(b'\n') {
                    self.src.pos += 1;
                }
                self.line += 1;
                self.at_line_start = true;
                rec.ends.push(self.bytes.len());
                rec.terminated = true;
                break;
            } else if b == b'"' && self.bytes.len() == field_start {
                self.quoted_field(start_line, rec.ends.len(), ncol)?;
                if self.bytes.len() - field_start > self.limits.max_cell_bytes {
                    return Err(self.cell_too_long(start_line, rec.ends.len()));
                }
            } else {
                self.bytes.push(b);
            }
            if self.bytes.len() > self.limits.max_line_bytes {
                return Err(self.too_long(start_line));
            }
        }
        // The record takes the bytes and the parser the record's old buffer: both are reused
        // from row to row, with no allocation and no copy per row.
        let old = std::mem::take(&mut rec.text).into_bytes();
        match String::from_utf8(std::mem::replace(&mut self.bytes, old)) {
            Ok(s) => {
                rec.text = s;
                Ok(true)
            }
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                Err(non_utf8(&self.path, start_line, e.as_bytes(), at))
            }
        }
    }

    /// The common record read in one pass: a whole line that is in the buffer, holds no quote
    /// character (in a file with quoted fields) and no carriage return but at its end, is valid
    /// UTF-8 and within the limits. Its bytes are copied once and its fields found with a
    /// vectorized search; false (with `rec` left empty) for any other line, which
    /// [`Parser::read_record`] then reads byte by byte (and reports when it is wrong).
    fn line_in_buffer(&mut self, rec: &mut Record) -> bool {
        let buf = &self.src.buf[self.src.pos..self.src.len];
        let Some(nl) = memchr::memchr(b'\n', buf) else {
            return false;
        };
        let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
        let odd = if self.quoted {
            memchr::memchr2(b'"', b'\r', line)
        } else {
            memchr::memchr(b'\r', line)
        };
        if odd.is_some() || line.len() > self.limits.max_line_bytes {
            return false;
        }
        let Ok(text) = std::str::from_utf8(line) else {
            return false;
        };
        let mut start = 0;
        for end in memchr::memchr_iter(self.delimiter, line).chain([line.len()]) {
            if end - start > self.limits.max_cell_bytes
                || rec.ends.len() >= self.limits.max_header_fields
            {
                rec.ends.clear();
                return false;
            }
            rec.ends.push(end);
            start = end + 1;
        }
        rec.text.push_str(text);
        rec.terminated = true;
        self.src.pos += nl + 1;
        self.line += 1;
        self.at_line_start = true;
        true
    }

    /// Read a quoted field's content (the opening quote is consumed) into `self.bytes`.
    fn quoted_field(&mut self, start_line: u64, field: usize, ncol: Option<usize>) -> Result<()> {
        let field_line = self.line;
        // Delimiters on the current line inside the quotes; a line holding as many as a whole
        // row (the header's width less one, or less the fields before for the first line)
        // means the quote runs over rows.
        let mut on_line = 0usize;
        let mut first_segment = true;
        let threshold = |first: bool| -> usize {
            match ncol {
                Some(n) if first => n.saturating_sub(1 + field).max(1),
                Some(n) => n.saturating_sub(1).max(1),
                None => 1,
            }
        };
        let mut line_breaks = 0u64;
        loop {
            let b = match self.next()? {
                Step::Eof => {
                    return Err(IoError::parse(
                        &self.path,
                        field_line,
                        None,
                        format!(
                            "a quoted field (field {}) starts on this line and its closing quote never comes: the file ends inside it{}. An unbalanced quote? Remove the stray '\"' or double it (\"\") inside quoted text",
                            field + 1,
                            if line_breaks > 0 { format!(" {line_breaks} line(s) later") } else { String::new() }
                        ),
                    ))
                }
                Step::Byte(b) => b,
            };
            match b {
                b'"' => {
                    if self.peek()? == Some(b'"') {
                        self.src.pos += 1;
                        self.bytes.push(b'"');
                    } else {
                        if line_breaks > 0 {
                            if self.quoted_breaks == 0 {
                                self.first_quoted_break = field_line;
                            }
                            self.quoted_breaks += line_breaks;
                        }
                        return Ok(());
                    }
                }
                b'\n' | b'\r' => {
                    if b == b'\r' && self.peek()? == Some(b'\n') {
                        self.src.pos += 1;
                        self.bytes.push(b'\r');
                    }
                    if on_line >= threshold(first_segment) {
                        return Err(self.swallowed(field_line, field, on_line));
                    }
                    on_line = 0;
                    first_segment = false;
                    self.bytes.push(b'\n');
                    self.line += 1;
                    line_breaks += 1;
                }
                b if b == self.delimiter => {
                    on_line += 1;
                    self.bytes.push(b);
                }
                b => self.bytes.push(b),
            }
            if self.bytes.len() > self.limits.max_line_bytes {
                return Err(self.too_long(start_line));
            }
        }
    }

    fn swallowed(&self, field_line: u64, field: usize, delimiters: usize) -> IoError {
        IoError::parse(
            &self.path,
            field_line,
            None,
            format!(
                "a quoted field (field {}) starts on this line and is not closed at the end of line {}, where the text inside the quotes holds {delimiters} delimiter(s), a whole row's worth: an unbalanced quote would swallow the rows after it. Remove the stray '\"', or double it (\"\") inside quoted text",
                field + 1,
                self.line
            ),
        )
    }
}

fn non_utf8(path: &Path, start_line: u64, bytes: &[u8], at: usize) -> IoError {
    let line = start_line + bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64;
    IoError::parse(
        path,
        line,
        None,
        format!(
            "byte {:#04x} is not valid UTF-8; save the file as UTF-8 (Excel: 'CSV UTF-8'; a Latin-1 file: iconv -f latin1 -t utf-8)",
            bytes[at]
        ),
    )
}

/// What the first bytes of a file say it is, when that is not a text table.
fn not_text(path: &Path, head: &[u8]) -> Option<IoError> {
    let what = if head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]) {
        "the file is UTF-16 text (it starts with a UTF-16 byte-order mark); convert it to UTF-8, e.g. iconv -f UTF-16 -t UTF-8 FILE > FILE.utf8.tsv, or save it from Excel as 'CSV UTF-8'".to_string()
    } else if head.len() >= 4
        && head
            .chunks(2)
            .take(8)
            .all(|c| c.len() == 2 && (c[1] == 0) != (c[0] == 0))
    {
        "the file looks like UTF-16 text (every other byte is 0); convert it to UTF-8, e.g. iconv -f UTF-16 -t UTF-8 FILE > FILE.utf8.tsv".to_string()
    } else if head.starts_with(b"PK\x03\x04") {
        "the file is a zip archive (an .xlsx/.ods workbook or a .zip), not a text table; save the sheet as TSV or CSV, or unzip it".to_string()
    } else if head.starts_with(b"PAR1") {
        "the file is Parquet, not a text table; name it with the .parquet extension".to_string()
    } else if let Some(at) = head.iter().position(|&b| b == 0) {
        let line = 1 + head[..at].iter().filter(|&&b| b == b'\n').count();
        return Some(IoError::parse(
            path,
            line as u64,
            None,
            "the file holds NUL bytes (0x00): it is binary, not a text table; check that this is the tool's table output",
        ));
    } else {
        return None;
    };
    Some(IoError::layout(path, what))
}

/// Open a file for reading as text: gzip (by its magic bytes) is decompressed on the fly, and
/// the raw bytes are hashed as they are read; with `ahead`, both ahead of the parser
/// ([`ReadAhead`]), for a whole file's parse rather than a look at its first lines.
fn open_source(path: &Path, ahead: bool) -> Result<(Source, Vec<u8>)> {
    let f = File::open(path).map_err(|e| IoError::fs("cannot read", path, e))?;
    let hash: SharedHash = Arc::new(Mutex::new((Sha256::new(), 0u64)));
    let mut raw = Hashing {
        inner: f,
        hash: hash.clone(),
    };
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match raw.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(IoError::fs("cannot read", path, e)),
        }
    }
    let first = magic[..got].to_vec();
    let gz = got == 2 && magic == [0x1f, 0x8b];
    let announced = announced_size(path, gz);
    let chained = Cursor::new(first.clone()).chain(raw);
    let text: Box<dyn Read + Send> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(
            std::io::BufReader::with_capacity(1 << 16, chained),
        ))
    } else {
        Box::new(chained)
    };
    let inner: Box<dyn Read> = if ahead {
        Box::new(StartAhead {
            inner: Some(text),
            started: false,
            ahead: None,
        })
    } else {
        text
    };
    Ok((
        Source {
            inner,
            buf: vec![0u8; BUF_BYTES].into_boxed_slice(),
            pos: 0,
            len: 0,
            eof: false,
            gz,
            total: 0,
            announced,
            hash,
        },
        first,
    ))
}

/// The size of the text in the file at `path`: its size, or for a gzip file the size its last
/// member's trailer gives (RFC 1952 ISIZE: the size modulo 2^32, so a hint only).
fn announced_size(path: &Path, gz: bool) -> Option<u64> {
    use std::io::{Seek, SeekFrom};
    let mut f = File::open(path).ok()?;
    let size = f.metadata().ok()?.len();
    if !gz {
        return Some(size);
    }
    if size < 18 {
        return None;
    }
    f.seek(SeekFrom::End(-4)).ok()?;
    let mut isize = [0u8; 4];
    f.read_exact(&mut isize).ok()?;
    Some(u64::from(u32::from_le_bytes(isize)))
}

fn memory_source(text: &[u8]) -> Source {
    let hash: SharedHash = Arc::new(Mutex::new((Sha256::new(), 0u64)));
    Source {
        inner: Box::new(Hashing {
            inner: Cursor::new(text.to_vec()),
            hash: hash.clone(),
        }),
        buf: vec![0u8; BUF_BYTES].into_boxed_slice(),
        pos: 0,
        len: 0,
        eof: false,
        gz: false,
        total: 0,
        announced: Some(text.len() as u64),
        hash,
    }
}

/// Check the bytes are UTF-8 and strip a leading byte-order mark; a non-UTF-8 file is an error
/// that names the line of the first bad byte.
pub fn decode_utf8(path: &Path, bytes: Vec<u8>) -> Result<String> {
    if let Some(e) = not_text(path, &bytes[..bytes.len().min(1 << 16)]) {
        if !matches!(e, IoError::Parse { .. }) {
            return Err(e);
        }
    }
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
            Err(non_utf8(path, 1, &bytes, at))
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

/// True when a tab-separated header line quotes every named field (`"id"\t"A"`), as R's
/// `write.table` does: such a file uses quotes as CSV does.
fn tsv_header_quoted(first_line: &str) -> bool {
    let fields: Vec<&str> = first_line
        .split('\t')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    // The last field may continue on the next line (a quoted line break in a name).
    let n = fields.len();
    n > 0
        && fields
            .iter()
            .enumerate()
            .all(|(i, f)| f.starts_with('"') && (i + 1 == n || (f.len() >= 2 && f.ends_with('"'))))
}

/// Read a delimited table. `delimiter = None` sniffs it from the header line.
///
/// Every row must have as many fields as the header (a short or long row is an error naming its
/// line), except that a trailing empty field is tolerated as tools often write one.
pub fn read_table(path: &Path, delimiter: Option<u8>) -> Result<TextTable> {
    open_table(path, delimiter, false, false)
}

/// Like [`read_table`], but a row shorter than the header is padded with empty fields when a
/// line break follows it: its trailing empty fields were not written (tools and editors that
/// strip trailing white space drop them). A short last row with no line break after it is still
/// an error, as it is what a truncated file looks like. [`Rows::padded`] counts the padded rows.
pub fn read_table_padded(path: &Path, delimiter: Option<u8>) -> Result<TextTable> {
    open_table(path, delimiter, true, false)
}

/// Read a tab-separated file whose lines have different numbers of fields (mzTab): the first
/// line is returned as the header and every later line as a row of its own width. Limits,
/// gzip, UTF-8 checks and line numbers are those of [`read_table`].
pub fn read_lines(path: &Path) -> Result<TextTable> {
    let mut t = open_table(path, Some(b'\t'), false, false)?;
    t.rows.ragged = true;
    Ok(t)
}

/// [`read_lines`] over text already in memory.
pub fn parse_lines(path: &Path, text: &str) -> Result<TextTable> {
    let mut t = start_table(
        path,
        memory_source(text.as_bytes()),
        Some(b'\t'),
        false,
        false,
    )?;
    t.rows.ragged = true;
    Ok(t)
}

/// The first `n` lines of a file (gzip decompressed, a byte-order mark removed), at most
/// 1 MiB of text in all: what format detection looks at before a file is parsed.
pub fn head_lines(path: &Path, n: usize) -> Result<Vec<String>> {
    let (mut src, _) = open_source(path, false)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    while buf.len() < (1 << 20) && buf.iter().filter(|&&b| b == b'\n').count() < n {
        let got = match src.inner.read(&mut chunk) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // A damaged file is reported by the parser that reads it next.
            Err(_) => break,
        };
        buf.extend_from_slice(&chunk[..got]);
    }
    let text = String::from_utf8_lossy(&buf);
    Ok(text
        .trim_start_matches('\u{feff}')
        .lines()
        .take(n)
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect())
}

/// Parse table text already in memory (see [`read_table`]).
pub fn parse_table(path: &Path, text: &str, delimiter: Option<u8>) -> Result<TextTable> {
    start_table(
        path,
        memory_source(text.as_bytes()),
        delimiter,
        false,
        false,
    )
}

/// [`parse_table`] with short rows padded (see [`read_table_padded`]).
pub fn parse_table_padded(path: &Path, text: &str, delimiter: Option<u8>) -> Result<TextTable> {
    start_table(path, memory_source(text.as_bytes()), delimiter, true, false)
}

fn open_table(path: &Path, delimiter: Option<u8>, pad: bool, repeats: bool) -> Result<TextTable> {
    let (src, _) = open_source(path, true)?;
    start_table(path, src, delimiter, pad, repeats)
}

/// Like [`read_table_padded`], but a header name may repeat: SDRF-Proteomics files repeat
/// `comment[modification parameters]` (one column per modification). The caller tells the
/// columns apart by position.
pub fn read_table_repeated_names(path: &Path, delimiter: Option<u8>) -> Result<TextTable> {
    open_table(path, delimiter, true, true)
}

fn start_table(
    path: &Path,
    src: Source,
    delimiter: Option<u8>,
    pad: bool,
    repeats: bool,
) -> Result<TextTable> {
    let mut parser = Parser {
        path: path.to_path_buf(),
        src,
        delimiter: b'\t',
        quoted: false,
        special: specials(b'\t', false),
        limits: LIMITS,
        line: 1,
        at_line_start: true,
        bytes: Vec::new(),
        quoted_breaks: 0,
        first_quoted_break: 0,
    };
    // The first line decides the delimiter and the quoting, and tells a binary file.
    let mut head: Vec<u8> = Vec::new();
    let mut blank_only = true;
    loop {
        if !parser.fill()? {
            break;
        }
        let buf = &parser.src.buf[parser.src.pos..parser.src.len];
        let had = head.len();
        head.extend_from_slice(buf);
        let complete = head[had..].contains(&b'\n');
        if head.iter().any(|b| !b.is_ascii_whitespace()) {
            blank_only = false;
        }
        // Keep the bytes for the parser: rewind is done by chaining below.
        parser.src.pos = parser.src.len;
        if (complete && !blank_only) || head.len() > LIMITS.max_line_bytes {
            break;
        }
        // A binary file is told by its first 64 KiB: refused then, not after a first "line"
        // of up to the line limit (a gzip bomb of zero bytes has no line break).
        if had < 1 << 16 && head.len() >= 1 << 16 {
            if let Some(e) = not_text(path, &head[..1 << 16]) {
                return Err(e);
            }
        }
    }
    if let Some(e) = not_text(path, &head[..head.len().min(1 << 16)]) {
        return Err(e);
    }
    let mut skip = 0;
    if head.starts_with(&[0xef, 0xbb, 0xbf]) {
        skip = 3;
    }
    let body = &head[skip..];
    if body.iter().all(|b| b.is_ascii_whitespace()) && parser.src.eof {
        return Err(IoError::layout(
            path,
            "the file is empty; expected a header line and data rows",
        ));
    }
    let first_line_end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    if first_line_end > LIMITS.max_line_bytes {
        return Err(parser.too_long(1));
    }
    let first_line = String::from_utf8_lossy(&body[..first_line_end]);
    let delimiter = delimiter.unwrap_or_else(|| sniff_delimiter(&first_line));
    let quoted = delimiter != b'\t' || tsv_header_quoted(&first_line);
    // Put the bytes looked at back in front of the rest of the input.
    let rest = std::mem::replace(&mut parser.src.inner, Box::new(std::io::empty()));
    parser.src.inner = Box::new(Cursor::new(body.to_vec()).chain(rest));
    parser.src.pos = 0;
    parser.src.len = 0;
    parser.src.eof = false;
    parser.src.total = 0;
    parser.delimiter = delimiter;
    parser.quoted = quoted;
    parser.special = specials(delimiter, quoted);
    drop(head);

    let mut rec = Record::default();
    // Leading blank lines before the header are skipped.
    loop {
        if !parser.read_record(&mut rec, None)? {
            return Err(IoError::layout(
                path,
                "the file is empty; expected a header line and data rows",
            ));
        }
        if !(rec.len() == 1 && rec.field(0).trim().is_empty()) {
            break;
        }
    }
    let mut header: Vec<String> = (0..rec.len())
        .map(|i| rec.field(i).trim().to_string())
        .collect();
    let raw_ncol = header.len();
    while header.last().is_some_and(|h| h.is_empty()) && header.len() > 1 {
        header.pop();
    }
    if header.len() > LIMITS.max_header_fields {
        return Err(IoError::parse(
            path,
            rec.line,
            None,
            format!(
                "the header has {} fields, more than the limit of {} (docs/reliability.md)",
                header.len(),
                LIMITS.max_header_fields
            ),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(header.len());
    for (i, h) in header.iter().enumerate() {
        if !repeats && !h.is_empty() && !seen.insert(h.as_str()) {
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
    drop(seen);
    let ncol = header.len();
    Ok(TextTable {
        path: path.to_path_buf(),
        delimiter,
        quoted,
        rows: Rows {
            parser,
            rec,
            ncol,
            pad,
            raw_ncol,
            ragged: false,
            rows_read: 0,
            padded: (0, 0),
            literal_quotes: (0, 0, 0),
            header: header.clone(),
        },
        header,
    })
}

fn delimiter_name(d: u8) -> String {
    match d {
        b'\t' => "tab".to_string(),
        d => format!("'{}'", d as char),
    }
}

/// The other delimiter a one-field row is written with, when splitting it at that delimiter
/// gives exactly the header's width (a trailing empty field allowed).
fn mixed_delimiter(rec: &Record, ncol: usize, delimiter: u8) -> Option<u8> {
    if rec.len() != 1 || ncol < 2 {
        return None;
    }
    let field = rec.field(0);
    [b'\t', b',', b';']
        .into_iter()
        .filter(|&d| d != delimiter)
        .find(|&d| {
            let parts: Vec<&str> = field.split(d as char).collect();
            parts.len() == ncol
                || (parts.len() == ncol + 1 && parts.last().is_some_and(|p| p.trim().is_empty()))
        })
}

/// True for characters that must not reach a terminal raw: C0 and C1 controls, DEL, and the
/// bidirectional overrides that reorder what is shown.
fn is_hostile(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Input text made safe to print: control characters (ESC, BEL, NUL, line breaks, tabs, …) and
/// bidirectional overrides are written as `\u{1b}`, never echoed raw.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    escape_with(s, |_| false)
}

/// [`escape_controls`], keeping line breaks (for messages that are several lines by design).
pub(crate) fn escape_message(s: &str) -> Cow<'_, str> {
    escape_with(s, |c| c == '\n')
}

/// The one escape applied to every line evomics prints on the terminal (errors, warnings,
/// notes): [`escape_controls`] keeping line breaks and tabs, the layout characters of its own
/// messages. Text echoed from inputs is escaped where it is quoted as well; this is the last
/// line of defence for a message that quotes input text another way.
pub fn escape_for_terminal(s: &str) -> Cow<'_, str> {
    escape_with(s, |c| c == '\n' || c == '\t')
}

fn escape_with(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_hostile(c) && !keep(c)) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_hostile(c) && !keep(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// Text from an input file cut to 60 characters for a message (a cell can be megabytes long),
/// with control characters escaped ([`escape_controls`]).
pub fn clip(s: &str) -> Cow<'_, str> {
    const MAX_CHARS: usize = 60;
    match s.char_indices().nth(MAX_CHARS) {
        Some((at, _)) => format!("{}…", escape_controls(&s[..at])).into(),
        None => escape_controls(s),
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

/// Spellings of a missing cell in numeric matrices.
pub fn is_na_cell(s: &str) -> bool {
    matches!(
        s,
        "" | "NA" | "NaN" | "nan" | "NAN" | "N/A" | "n/a" | "na" | "null" | "NULL" | "#N/A" | "-"
    )
}

/// A plain decimal integer of at most 15 digits, parsed exactly (the common cell of count and
/// intensity tables); `None` for anything else. The first eight digits of a longer cell are
/// taken together ([`eight_digits`]): one digit at a time, the chain of multiply-adds was
/// most of this function's time on intensities of nine digits.
#[inline]
fn fast_integer(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s.len() > 15 {
        return None;
    }
    let (mut v, rest) = match s.split_first_chunk::<8>() {
        Some((head, rest)) => (eight_digits(*head)?, rest),
        None => (0, s),
    };
    for &b in rest {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u64::from(d);
    }
    // Below 10¹⁵, so exact as a signed integer, whose conversion is one instruction.
    Some(v as i64 as f64)
}

/// Eight ASCII digits as their number (the first the most significant), `None` when a byte is
/// not a digit: the digits' values are combined in pairs, fours and eights by three
/// multiplications of the eight bytes read as one little-endian word (Lemire, "Faster
/// integer parsing", 2018; as in simdjson).
#[inline]
fn eight_digits(bytes: [u8; 8]) -> Option<u64> {
    const NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    let x = u64::from_le_bytes(bytes);
    // A digit byte is 0x30–0x39: high nibble 3, and adding 6 keeps it 3. A byte that carries
    // into the next (0xFA and above) fails on its own high nibble.
    if (x & NIBBLES) | ((x.wrapping_add(0x0606_0606_0606_0606) & NIBBLES) >> 4)
        != 0x3333_3333_3333_3333
    {
        return None;
    }
    let x = x - 0x3030_3030_3030_3030;
    // Byte 2k: 10·d(2k) + d(2k+1).
    let x = x * 10 + (x >> 8);
    let x = ((x & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32))
        + ((x >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32)))
        >> 32;
    Some(x)
}

/// Parse a numeric cell: `Ok(None)` for a missing spelling, an error for text, infinities or NaN
/// written as numbers are rejected so that no non-finite value enters a matrix silently.
pub fn parse_cell(path: &Path, line: u64, column: &str, raw: &str) -> Result<Option<f64>> {
    // A cell that starts and ends with a printable ASCII byte has no whitespace to trim (the
    // usual case, and `str::trim` checks for Unicode whitespace at both ends).
    let printable = |b: Option<&u8>| b.is_some_and(|&c| c > b' ' && c < 0x7f);
    let s = if printable(raw.as_bytes().first()) && printable(raw.as_bytes().last()) {
        raw
    } else {
        raw.trim()
    };
    if let Some(v) = fast_integer(s.as_bytes()) {
        return Ok(Some(v));
    }
    if is_na_cell(s) {
        return Ok(None);
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        Ok(v) => Err(IoError::parse(
            path,
            line,
            Some(column),
            format!(
                "value '{}' is {v}; write a finite number, or NA for a missing value",
                clip(s)
            ),
        )),
        Err(_) if decimal_comma(s) => Err(IoError::parse(
            path,
            line,
            Some(column),
            format!("'{}' is not a number: it has a decimal comma; export the table with '.' as the decimal separator", clip(s)),
        )),
        Err(_) => Err(IoError::parse(
            path,
            line,
            Some(column),
            format!(
                "'{}' is not a number; write a number, or NA/empty for a missing value",
                clip(s)
            ),
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

    /// Whole numbers of 1–15 digits (leading zeros too) parse as `str::parse` reads them, and
    /// any byte that is not a digit, in any position, sends the cell to the general parser.
    #[test]
    fn fast_integers_are_exact_and_refuse_other_bytes() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = 1 + (next() % 15) as usize;
            let digits: Vec<u8> = (0..len).map(|_| b'0' + (next() % 10) as u8).collect();
            let text = std::str::from_utf8(&digits).unwrap();
            let want = text.parse::<u64>().unwrap() as f64;
            assert_eq!(fast_integer(&digits), Some(want), "{text}");
            assert_eq!(fast_integer(&digits), text.parse::<f64>().ok(), "{text}");
            let mut bad = digits.clone();
            let at = (next() % len as u64) as usize;
            bad[at] = match next() % 6 {
                0 => b'.',
                1 => b'/',
                2 => b':',
                3 => 0xFF,
                4 => b'-',
                _ => b'e',
            };
            assert_eq!(fast_integer(&bad), None, "{:?}", bad);
        }
        assert_eq!(
            fast_integer(b"999999999999999"),
            Some(999_999_999_999_999.0)
        );
        assert_eq!(fast_integer(b"00000000"), Some(0.0));
        assert_eq!(fast_integer(b"12345678"), Some(12_345_678.0));
        assert_eq!(fast_integer(b"1234567890123456"), None);
        assert_eq!(fast_integer(b""), None);
    }

    #[test]
    fn terminal_escape_keeps_layout_and_escapes_controls_and_overrides() {
        assert_eq!(
            escape_for_terminal("a\tb\nc\u{1b}[2J\u{7}\u{0}\u{202e}d"),
            "a\tb\nc\\u{1b}[2J\\u{7}\\u{0}\\u{202e}d"
        );
        assert!(matches!(escape_for_terminal("plain"), Cow::Borrowed(_)));
    }

    fn p() -> &'static Path {
        Path::new("x.tsv")
    }

    fn all_rows(t: &mut TextTable) -> Result<Vec<(u64, Vec<String>)>> {
        let mut out = Vec::new();
        while let Some(r) = t.rows.next_row()? {
            out.push((r.line, (0..r.len()).map(|i| r.get(i).to_string()).collect()));
        }
        Ok(out)
    }

    fn rows_of(text: &str) -> Result<Vec<(u64, Vec<String>)>> {
        all_rows(&mut parse_table(p(), text, None)?)
    }

    #[test]
    fn sniffs_and_reads() {
        let mut t = parse_table(p(), "\u{feff}id,a,b\r\nf1,1,2\r\nf2,\"3\",4\r\n", None).unwrap();
        assert_eq!(t.delimiter, b',');
        assert_eq!(t.header, vec!["id", "a", "b"]);
        let rows = all_rows(&mut t).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].1[1], "3");
        assert_eq!(rows[1].0, 3);
    }

    /// Lines read whole from the buffer and lines read byte by byte (across a buffer boundary,
    /// with a quoted field, a lone carriage return or padding) give the same fields and lines.
    #[test]
    fn every_line_shape_reads_the_same_on_both_paths() {
        let mut text = String::from("id,a,b\r\n");
        let mut want = Vec::new();
        let mut line = 2u64;
        let mut i = 0;
        while text.len() < 3 * BUF_BYTES {
            let id = format!("f{i}");
            let a = "x".repeat(i % 97);
            match i % 5 {
                0 => text.push_str(&format!("{id},{a},{i}\r\n")),
                1 => text.push_str(&format!("{id},\"{a},q\",{i}\n")),
                2 => text.push_str(&format!("{id},{a},{i}\r")),
                3 => text.push_str(&format!("{id},{a}\n")),
                _ => text.push_str(&format!("\n{id},{a},{i}\n")),
            }
            if i % 5 == 4 {
                line += 1;
            }
            let (a, b) = match i % 5 {
                1 => (format!("{a},q"), i.to_string()),
                3 => (a, String::new()),
                _ => (a, i.to_string()),
            };
            want.push((line, vec![id, a, b]));
            line += 1;
            i += 1;
        }
        let mut t = parse_table_padded(p(), &text, None).unwrap();
        assert_eq!(t.header, vec!["id", "a", "b"]);
        assert_eq!(all_rows(&mut t).unwrap(), want);
        let short = (0..want.len()).filter(|i| i % 5 == 3).count();
        assert_eq!(t.rows.padded.0, short);
    }

    #[test]
    fn integers_parse_exactly_and_anything_else_is_left_to_the_float_parser() {
        let naive = |s: &str| -> Option<f64> {
            (!s.is_empty() && s.len() <= 15 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u64>().unwrap() as f64)
        };
        let mut cases: Vec<String> = vec![
            "0",
            "7",
            "00000000",
            "99999999",
            "100000000",
            "123456789012345",
            "999999999999999",
            "0000000000000001",
            "1234567890123456",
            "",
            "-1",
            "+1",
            "1.5",
            "1e5",
            "12 3",
            "1/2",
            "12:3",
            "9a",
            "a9",
            "123456789a",
            "NA",
            "\u{e9}1",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        // Every byte in every position of short and long cells.
        for len in [1usize, 5, 8, 9, 15] {
            for pos in 0..len {
                for b in 0u8..=255 {
                    let mut cell = vec![b'5'; len];
                    cell[pos] = b;
                    if let Ok(s) = String::from_utf8(cell) {
                        cases.push(s);
                    }
                }
            }
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = 1 + (x % 15) as u32;
            cases.push(format!(
                "{:0width$}",
                x % 10u64.pow(digits),
                width = digits as usize
            ));
        }
        for c in &cases {
            assert_eq!(fast_integer(c.as_bytes()), naive(c), "{c:?}");
        }
    }

    #[test]
    fn short_row_names_line() {
        let e = rows_of("id\ta\tb\nf1\t1\t2\nf2\t3\n").unwrap_err();
        let m = e.to_string();
        assert!(m.starts_with("x.tsv:3:"), "{m}");
        assert!(m.contains("2 fields but the header has 3"), "{m}");
    }

    #[test]
    fn padded_rows_need_a_line_break_after_them() {
        let mut t = parse_table_padded(p(), "id\ta\tb\nf1\t1\nf2\t3\t4\n", None).unwrap();
        let rows = all_rows(&mut t).unwrap();
        assert_eq!((rows[0].1[2].as_str(), t.rows.padded), ("", (1, 2)));
        let mut t = parse_table_padded(p(), "id\ta\tb\nf1\t1\t2\nf2\t3", None).unwrap();
        let e = all_rows(&mut t).unwrap_err();
        assert!(e.to_string().contains("ends before column 'b'"), "{e}");
    }

    #[test]
    fn empty_and_duplicate_header() {
        assert!(parse_table(p(), "", None)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        assert!(parse_table(p(), "\n  \n\t\n", None)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        let m = parse_table(p(), "id\ta\ta\n", None)
            .unwrap_err()
            .to_string();
        assert!(m.contains("repeats the name 'a'"), "{m}");
    }

    #[test]
    fn trailing_unnamed_empty_columns_are_dropped() {
        let rows = rows_of("id,S1,S2,,\nP1,1,2,,\nP2,3,4,,\n").unwrap();
        assert_eq!(rows[0].1, vec!["P1", "1", "2"]);
        assert_eq!(rows.len(), 2);
        // A value under an unnamed trailing column is not dropped silently.
        let e = rows_of("id,S1,S2,,\nP1,1,2,,5\n").unwrap_err().to_string();
        assert!(
            e.contains("x.tsv:2: column 5 has a value ('5') but no header"),
            "{e}"
        );
        // More empty fields than the header had columns is still a malformed row.
        let e = rows_of("id,S1,\nP1,1,,,\n").unwrap_err().to_string();
        assert!(e.contains("row has 5 fields"), "{e}");
    }

    #[test]
    fn cells() {
        assert_eq!(parse_cell(p(), 2, "a", " 1.5 ").unwrap(), Some(1.5));
        // Whitespace at either end only, ASCII or not, is trimmed as by `str::trim`.
        for raw in ["\t7", "7 ", "\u{a0}7", "7\u{a0}", "\u{2003}7\r", "7"] {
            assert_eq!(parse_cell(p(), 2, "a", raw).unwrap(), Some(7.0), "{raw:?}");
        }
        assert_eq!(parse_cell(p(), 2, "a", "\u{a0}NA ").unwrap(), None);
        assert_eq!(
            parse_cell(p(), 2, "a", "123456789").unwrap(),
            Some(123456789.0)
        );
        assert_eq!(
            parse_cell(p(), 2, "a", "1234567890123456789").unwrap(),
            Some(1234567890123456789.0)
        );
        assert_eq!(parse_cell(p(), 2, "a", "NA").unwrap(), None);
        let m = parse_cell(p(), 7, "s1", "abc").unwrap_err().to_string();
        assert!(m.contains("x.tsv:7, column 's1'"), "{m}");
        assert!(parse_cell(p(), 2, "a", "inf").is_err());
    }

    #[test]
    fn mixed_delimiters_are_an_error_not_padding() {
        let text = "id\ta\tb\nf1,1,2\nf2,3,4\n";
        let e = all_rows(&mut parse_table_padded(p(), text, None).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.tsv:2:"), "{e}");
        assert!(
            e.contains("mixes delimiters") && e.contains("at ','"),
            "{e}"
        );
        // A row that only lost its trailing empty fields is still padded.
        let mut t = parse_table_padded(p(), "id\ta\tb\nf1\nf2\t3\t4\n", None).unwrap();
        let rows = all_rows(&mut t).unwrap();
        assert_eq!((rows.len(), t.rows.padded), (2, (1, 2)));
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
        let e = rows_of("a\tb\nc\t\u{e9}\nd\te\n").unwrap();
        assert_eq!(e.len(), 2);
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("x.tsv");
        std::fs::write(&f, b"a\tb\nc\td\nc\t\xe9\n").unwrap();
        let mut t = read_table(&f, None).unwrap();
        let e = all_rows(&mut t).unwrap_err();
        assert!(e.to_string().contains("x.tsv:3: byte 0xe9"), "{e}");
        assert!(e.to_string().contains("iconv -f latin1"), "{e}");
    }

    #[test]
    fn utf16_zip_and_binary_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("x.tsv");
        let utf16: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain("id\tA\n".encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        std::fs::write(&f, &utf16).unwrap();
        let e = read_table(&f, None).unwrap_err().to_string();
        assert!(
            e.contains("iconv -f UTF-16 -t UTF-8") && !e.contains("latin1"),
            "{e}"
        );
        std::fs::write(&f, &utf16[2..]).unwrap();
        let e = read_table(&f, None).unwrap_err().to_string();
        assert!(e.contains("iconv -f UTF-16 -t UTF-8"), "{e}");
        std::fs::write(&f, b"PK\x03\x04rest").unwrap();
        let e = read_table(&f, None).unwrap_err().to_string();
        assert!(e.contains("zip archive"), "{e}");
        std::fs::write(&f, b"id\tA\nx\0y\t1\n").unwrap();
        let e = read_table(&f, None).unwrap_err().to_string();
        assert!(e.contains("x.tsv:2: the file holds NUL bytes"), "{e}");
    }

    #[test]
    fn gzip_streams_and_truncation() {
        use std::io::Write;
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("x.tsv.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut text = String::from("id\tA\n");
        for i in 0..20_000 {
            text.push_str(&format!("f{i}\t{i}\n"));
        }
        gz.write_all(text.as_bytes()).unwrap();
        let bytes = gz.finish().unwrap();
        std::fs::write(&f, &bytes).unwrap();
        let mut t = read_table(&f, None).unwrap();
        assert_eq!(all_rows(&mut t).unwrap().len(), 20_000);
        let (digest, size) = t.rows.digest();
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(digest.to_vec(), Sha256::digest(&bytes).to_vec());
        std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
        let mut t = read_table(&f, None).unwrap();
        let e = all_rows(&mut t).unwrap_err().to_string();
        assert!(e.contains("gzip data is corrupt or truncated"), "{e}");
    }

    #[test]
    fn a_file_of_several_chunks_is_read_whole_and_hashed() {
        // Rows longer than the space left in a chunk cross chunk and buffer boundaries.
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("x.tsv");
        let mut text = String::from("id\tA\tB\n");
        let mut i = 0;
        while text.len() < 3 * CHUNK_BYTES.max(BUF_BYTES) + 12_345 {
            text.push_str(&format!("f{i}\t{i}\t{}\n", "7".repeat(i % 3000)));
            i += 1;
        }
        std::fs::write(&f, &text).unwrap();
        let mut t = read_table(&f, None).unwrap();
        let rows = all_rows(&mut t).unwrap();
        assert_eq!(rows.len(), i);
        assert_eq!(rows[i - 1].1[0], format!("f{}", i - 1));
        assert_eq!(rows[i - 1].1[2], "7".repeat((i - 1) % 3000));
        let (digest, size) = t.rows.digest();
        assert_eq!(size, text.len() as u64);
        assert_eq!(digest.to_vec(), Sha256::digest(text.as_bytes()).to_vec());
    }

    /// A source that gives `n` bytes of `b'x'`, then fails (an error, or a panic of the
    /// reading thread).
    struct Failing {
        left: usize,
        panic: bool,
    }

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                if self.panic {
                    panic!("a reader that fails");
                }
                return Err(std::io::Error::other("device gone"));
            }
            let n = buf.len().min(self.left).min(1000);
            buf[..n].fill(b'x');
            self.left -= n;
            Ok(n)
        }
    }

    #[test]
    fn read_ahead_hands_over_the_bytes_before_an_error_and_never_ends_early() {
        for panic in [false, true] {
            let len = CHUNK_BYTES + 5;
            let mut r = ReadAhead::spawn(Box::new(Failing { left: len, panic })).unwrap();
            let mut got = Vec::new();
            let mut buf = vec![0u8; 4096];
            let e = loop {
                match r.read(&mut buf) {
                    Ok(0) => panic!("the input ended without its error"),
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => break e.to_string(),
                }
            };
            // A panic loses the chunk it interrupted; an error keeps every byte before it.
            if panic {
                assert!(got.len() <= len);
            } else {
                assert_eq!(got.len(), len);
            }
            assert!(got.iter().all(|&b| b == b'x'));
            let want = if panic {
                "stopped before the file's end"
            } else {
                "device gone"
            };
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn unbalanced_quotes_are_errors_naming_the_line_they_start() {
        // CSV: a stray quote on line 3 would swallow the rows after it.
        let e = rows_of("id,a,b\nf1,1,2\n\"f2,3,4\nf3,5,6\nf4,7,8\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("x.tsv:3: a quoted field (field 1) starts on this line"),
            "{e}"
        );
        assert!(e.contains("not closed at the end of line 3, where the text inside the quotes holds 2 delimiter(s)"), "{e}");
        // Never closed before the end of the file.
        let e = rows_of("id,a\nf1,1\nf2,\"3\n").unwrap_err().to_string();
        assert!(
            e.starts_with("x.tsv:3: a quoted field (field 2)") && e.contains("never comes"),
            "{e}"
        );
        // A quoted line break without a row's worth of delimiters is text.
        let mut t = parse_table(p(), "id,a,b\n\"multi\nline\",1,2\nf2,3,4\n", None).unwrap();
        let rows = all_rows(&mut t).unwrap();
        assert_eq!(rows[0].1[0], "multi\nline");
        assert_eq!(rows[1].0, 4);
        assert!(t.rows.quote_warning().unwrap().contains("1 line break(s)"));
    }

    #[test]
    fn tsv_quotes_are_literal_unless_the_header_is_quoted() {
        let mut t = parse_table(p(), "id\ta\n\"f1\t1\nf2\t2\n", None).unwrap();
        assert!(!t.quoted);
        let rows = all_rows(&mut t).unwrap();
        assert_eq!(rows[0].1[0], "\"f1");
        assert!(t
            .rows
            .quote_warning()
            .unwrap()
            .contains("x.tsv:2, column 'id'"));
        let mut t = parse_table(p(), "\"id\"\t\"a\"\n\"f\t1\"\t1\n", None).unwrap();
        assert!(t.quoted);
        assert_eq!(t.header, vec!["id", "a"]);
        assert_eq!(all_rows(&mut t).unwrap()[0].1[0], "f\t1");
    }

    #[test]
    fn long_lines_and_cells_are_bounded() {
        let big = format!("id\ta\nf1\t{}\n", "1".repeat(LIMITS.max_cell_bytes + 1));
        let e = rows_of(&big).unwrap_err().to_string();
        assert!(
            e.starts_with("x.tsv:2: field 2 is longer than 1 MiB"),
            "{e}"
        );
        let wide = format!("id{}\n", "\ta".repeat(10));
        assert!(parse_table(p(), &wide, None).is_err(), "repeated names");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clip("a\u{1b}[31mb\u{7}\0"), "a\\u{1b}[31mb\\u{7}\\u{0}");
        assert_eq!(escape_message("x\ny\u{1b}"), "x\ny\\u{1b}");
        assert_eq!(escape_controls("fine"), "fine");
    }
}
