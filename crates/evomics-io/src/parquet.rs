//! Parquet: reading through polars without letting a damaged file crash the process, and
//! writing column chunk by column chunk with plain types every reader opens.
//!
//! polars' Parquet decoder panics on some malformed files instead of returning an error (see
//! `guard`); [`read`] and [`column_names`] turn such a panic into an [`IoError::Parquet`] naming
//! the file, with the panic's own report kept off stderr.
//!
//! [`write_columns`] writes one row group whose columns are built when the writer reaches them
//! ([`OutColumn`] produces its array then; [`OutColumns`] a band of a row-major matrix's
//! columns, gathered in one pass over its rows), so writing a layer needs the memory of a batch
//! of columns, not a second copy of the table. Text columns are `large_string` (UTF-8 with
//! 64-bit offsets): polars' own writer records `string_view`, which pyarrow before 15 cannot
//! read ("Unrecognized type: 24"); `large_string` is read by pyarrow ≥ 10, polars, DuckDB and
//! R arrow. Pages are Parquet data page v1; a column chunk is zstd-compressed (level 1) where
//! that saves an eighth of it and 4 KiB, stored uncompressed otherwise; compressed `double`
//! columns are plain or byte-stream-split encoded, whichever compresses better (see
//! [`layout`]), uncompressed ones plain.

use std::path::Path;

use ndarray::ArrayView2;
use polars::prelude::PolarsResult;
use polars::prelude::{DataFrame, ParquetReader, PolarsError, SerReader};
use polars_arrow::array::{Array, PrimitiveArray, Utf8Array};
use polars_arrow::bitmap::Bitmap;
use polars_arrow::datatypes::{ArrowDataType, ArrowSchema, Field};
use polars_parquet::parquet::compression::Compression;
use polars_parquet::parquet::page::{CompressedDataPage, CompressedDictPage, DataPageHeader, Page};
use polars_parquet::parquet::CowBuffer;
use polars_parquet::write::{
    array_to_columns, get_dtype_encoding, to_parquet_type, CompressedPage, CompressionOptions,
    DynIter, DynStreamingIterator, Encoding, FallibleStreamingIterator, FileWriter,
    StatisticsOptions, Version, WriteOptions, ZstdLevel,
};

use sha2::{Digest, Sha256};

use crate::error::{IoError, Result};
use crate::guard::catch;

/// Run a polars decode of `path`, mapping its errors and panics to [`IoError::Parquet`].
fn guarded<T>(
    path: &Path,
    decode: impl FnOnce() -> std::result::Result<T, PolarsError>,
) -> Result<T> {
    match catch(decode) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(IoError::Parquet {
            path: path.to_path_buf(),
            message: format!("{e}; the file may be truncated or not Parquet"),
        }),
        Err(panic) => Err(IoError::Parquet {
            path: path.to_path_buf(),
            message: format!(
                "the file is damaged: the Parquet decoder failed ({panic}); re-create the file, or re-run the stage that wrote it"
            ),
        }),
    }
}

fn open(path: &Path) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|e| IoError::fs("cannot read", path, e))
}

/// Read a whole Parquet file, or only `columns` of it.
pub fn read(path: &Path, columns: Option<Vec<String>>) -> Result<DataFrame> {
    let f = open(path)?;
    guarded(path, || {
        ParquetReader::new(f).with_columns(columns).finish()
    })
}

/// The column names and row count of a Parquet file, from its metadata (no data decoded).
pub fn shape(path: &Path) -> Result<(Vec<String>, usize)> {
    let f = open(path)?;
    guarded(path, || {
        let mut r = ParquetReader::new(f);
        let names = r.schema()?.iter_names().map(|n| n.to_string()).collect();
        let rows = r.num_rows()?;
        Ok((names, rows))
    })
}

/// The column names of a Parquet file, without reading its data.
pub fn column_names(path: &Path) -> Result<Vec<String>> {
    let f = open(path)?;
    guarded(path, || {
        ParquetReader::new(f)
            .schema()
            .map(|s| s.iter_names().map(|n| n.to_string()).collect())
    })
}

/// How one column chunk of a Parquet file is stored ([`chunk_layouts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkLayout {
    /// The column's name.
    pub column: String,
    /// Its codec: `zstd`, `uncompressed`, … (lower case).
    pub codec: String,
    /// The encoding of its first data page: `PLAIN`, `BYTE_STREAM_SPLIT`, `RLE_DICTIONARY`, …
    pub encoding: String,
}

/// How each column chunk of the first row group of a Parquet file is stored, from the file's
/// metadata and page headers (no value is decoded): what `parquet-tools meta` would show of
/// a store's codecs and encodings.
pub fn chunk_layouts(path: &Path) -> Result<Vec<ChunkLayout>> {
    let mut f = open(path)?;
    guarded(path, || -> PolarsResult<Vec<ChunkLayout>> {
        use polars_parquet::parquet::page::{CompressedPage, FormatEncoding};
        use polars_parquet::parquet::read::{read_metadata, PageReader};
        let meta = read_metadata(&mut f)?;
        let Some(group) = meta.row_groups.first() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for c in group.parquet_columns() {
            let bytes = chunk_bytes(&mut f, c)?;
            let len = bytes.len();
            let pages = PageReader::new(std::io::Cursor::new(bytes.into()), c, Vec::new(), len);
            let mut encoding = None;
            for page in pages {
                if let CompressedPage::Data(d) = page? {
                    encoding = Some(d.header().encoding());
                    break;
                }
            }
            let encoding = match encoding {
                Some(FormatEncoding::PLAIN) => "PLAIN".to_string(),
                Some(FormatEncoding::BYTE_STREAM_SPLIT) => "BYTE_STREAM_SPLIT".to_string(),
                Some(FormatEncoding::RLE_DICTIONARY) => "RLE_DICTIONARY".to_string(),
                Some(FormatEncoding::PLAIN_DICTIONARY) => "PLAIN_DICTIONARY".to_string(),
                Some(other) => format!("{other:?}"),
                None => "none".to_string(),
            };
            out.push(ChunkLayout {
                column: c.descriptor().path_in_schema.join("."),
                codec: format!("{:?}", c.compression()).to_lowercase(),
                encoding,
            });
        }
        Ok(out)
    })
}

/// The bytes of one column chunk of an open Parquet file (its pages, compressed).
fn chunk_bytes(
    f: &mut std::fs::File,
    chunk: &polars_parquet::parquet::metadata::ColumnChunkMetadata,
) -> PolarsResult<Vec<u8>> {
    use std::io::{Read as _, Seek as _};
    let range = chunk.byte_range();
    let len = usize::try_from(range.end.saturating_sub(range.start))
        .map_err(|_| PolarsError::ComputeError("a column chunk beyond memory".into()))?;
    let mut bytes = vec![0u8; len];
    f.seek(std::io::SeekFrom::Start(range.start))?;
    f.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// The float64 columns `names` of `path`, `rows` values each (NaN where null), when the file is
/// laid out as evomics writes its matrices: one row group, each named column a nullable
/// `double` chunk of data pages v1, plain or byte-stream-split encoded, zstd-compressed or
/// not. `None` when it is
/// laid out otherwise (another writer's file): the caller reads it through polars then.
///
/// polars' reader makes a zstd decompression context for every compressed column chunk,
/// which costs more than the decompression itself for the small chunks of a layer's sample
/// columns (zstd's set-up runs CPUID, which a virtual machine traps); here one context serves
/// all the columns of a call, and the values go straight into the columns, without a
/// DataFrame in between. A malformed file is an error naming it, never a panic.
pub fn read_f64_columns(
    path: &Path,
    names: &[String],
    rows: usize,
) -> Result<Option<Vec<Vec<f64>>>> {
    let mut f = open(path)?;
    guarded(path, || -> PolarsResult<Option<Vec<Vec<f64>>>> {
        use polars_parquet::parquet::compression::DecompressionContext;
        use polars_parquet::parquet::page::split_buffer;
        use polars_parquet::parquet::read::{decompress, read_metadata, PageReader};
        use polars_parquet::parquet::schema::types::PhysicalType;
        use polars_parquet::parquet::schema::Repetition;
        let meta = read_metadata(&mut f)?;
        let [group] = &meta.row_groups[..] else {
            return Ok(None);
        };
        let chunks = group.parquet_columns();
        let at: std::collections::HashMap<&str, usize> = chunks
            .iter()
            .enumerate()
            .filter_map(|(k, c)| Some((c.descriptor().path_in_schema.first()?.as_str(), k)))
            .collect();
        let mut context = DecompressionContext::Unset;
        let mut scratch = Vec::new();
        let mut columns = Vec::with_capacity(names.len());
        for name in names {
            let Some(&k) = at.get(name.as_str()) else {
                return Ok(None);
            };
            let chunk = &chunks[k];
            let d = chunk.descriptor();
            let evomics_double = d.descriptor.primitive_type.physical_type == PhysicalType::Double
                && d.descriptor.primitive_type.field_info.repetition == Repetition::Optional
                && d.path_in_schema.len() == 1
                && matches!(
                    chunk.compression(),
                    Compression::Zstd | Compression::Uncompressed
                )
                && usize::try_from(chunk.num_values()).ok() == Some(rows);
            if !evomics_double {
                return Ok(None);
            }
            let bytes = chunk_bytes(&mut f, chunk)?;
            let len = bytes.len();
            let reader = PageReader::new(
                std::io::Cursor::new(bytes.into()),
                chunk,
                std::mem::take(&mut scratch),
                // A page's uncompressed size: its values and levels, with room for headers.
                rows.saturating_mul(9).saturating_add(1 << 20).max(len),
            );
            let mut column = Vec::with_capacity(rows);
            for page in reader {
                let page = decompress(page?, &mut Vec::new(), &mut context)?;
                let Page::Data(page) = page else {
                    return Ok(None);
                };
                if !matches!(page.header(), DataPageHeader::V1(_)) {
                    return Ok(None);
                }
                let parts = split_buffer(&page)?;
                match page.encoding() {
                    Encoding::Plain => {
                        plain_values(parts.def, parts.values, page.num_values(), &mut column)?
                    }
                    Encoding::ByteStreamSplit => {
                        let values = joined_streams(parts.values)?;
                        plain_values(parts.def, &values, page.num_values(), &mut column)?
                    }
                    _ => return Ok(None),
                }
            }
            if column.len() != rows {
                return Err(PolarsError::ComputeError(
                    format!(
                        "column '{name}' holds {} values for {rows} rows",
                        column.len()
                    )
                    .into(),
                ));
            }
            columns.push(column);
        }
        Ok(Some(columns))
    })
}

/// The doubles of a byte-stream-split page's values (eight streams, see [`split_streams`]) in
/// plain layout.
fn joined_streams(streams: &[u8]) -> PolarsResult<Vec<u8>> {
    if !streams.len().is_multiple_of(8) {
        return Err(PolarsError::ComputeError(
            "a damaged data page: its split values are not 8 bytes each".into(),
        ));
    }
    let m = streams.len() / 8;
    let s: [&[u8]; 8] = std::array::from_fn(|b| &streams[b * m..(b + 1) * m]);
    let mut out = vec![0u8; streams.len()];
    for (i, value) in out.chunks_exact_mut(8).enumerate() {
        value.copy_from_slice(&[
            s[0][i], s[1][i], s[2][i], s[3][i], s[4][i], s[5][i], s[6][i], s[7][i],
        ]);
    }
    Ok(out)
}

/// Append a page's `n` values to `out`: `def` the definition levels (RLE/bit-packed hybrid,
/// bit width 1: 1 for a value, 0 for a null, read as NaN), `values` the plain little-endian
/// doubles of the non-null ones, in order. Every length is checked.
fn plain_values(def: &[u8], values: &[u8], n: usize, out: &mut Vec<f64>) -> PolarsResult<()> {
    let bad = |what: &str| PolarsError::ComputeError(format!("a damaged data page: {what}").into());
    let mut next = values.chunks_exact(8);
    let mut take = |present: bool, out: &mut Vec<f64>| -> PolarsResult<()> {
        out.push(if present {
            let b = next
                .next()
                .ok_or_else(|| bad("fewer values than its levels say"))?;
            f64::from_le_bytes(b.try_into().expect("8 bytes"))
        } else {
            f64::NAN
        });
        Ok(())
    };
    let (mut left, mut at) = (n, 0usize);
    while left > 0 {
        // A run's header: ULEB128, its lowest bit telling bit-packed groups from a repeat.
        let mut header = 0u64;
        let mut shift = 0;
        loop {
            let b = *def.get(at).ok_or_else(|| bad("its levels end early"))?;
            at += 1;
            if shift > 56 {
                return Err(bad("a run header too long"));
            }
            header |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        let count = usize::try_from(header >> 1).map_err(|_| bad("a run too long"))?;
        if header & 1 == 1 {
            // `count` groups of eight levels, one byte each at bit width 1.
            let group = def
                .get(at..at.saturating_add(count))
                .ok_or_else(|| bad("its bit-packed levels end early"))?;
            at += count;
            for &byte in group {
                for bit in 0..8 {
                    if left == 0 {
                        break;
                    }
                    take(byte >> bit & 1 == 1, out)?;
                    left -= 1;
                }
            }
        } else {
            let level = *def
                .get(at)
                .ok_or_else(|| bad("a repeated level is missing"))?;
            at += 1;
            if level > 1 || count == 0 {
                return Err(bad("a repeated level is not 0 or 1"));
            }
            for _ in 0..count.min(left) {
                take(level == 1, out)?;
            }
            left -= count.min(left);
        }
    }
    if next.next().is_some() {
        return Err(bad("more values than its levels say"));
    }
    Ok(())
}

/// One column of a table to write; its array is built when the writer reaches it.
pub struct OutColumn<'a> {
    name: String,
    dtype: ArrowDataType,
    nullable: bool,
    make: Box<dyn FnOnce() -> Box<dyn Array> + Send + Sync + 'a>,
}

impl<'a> OutColumn<'a> {
    /// A text column (`large_string`; `None` is null).
    pub fn text<I, S>(name: &str, values: impl FnOnce() -> I + Send + Sync + 'a) -> OutColumn<'a>
    where
        I: IntoIterator<Item = Option<S>>,
        S: AsRef<str>,
    {
        OutColumn {
            name: name.to_string(),
            dtype: ArrowDataType::LargeUtf8,
            nullable: true,
            make: Box::new(move || {
                Box::new(Utf8Array::<i64>::from_iter(values())) as Box<dyn Array>
            }),
        }
    }

    /// A `double` column (`None` is null).
    pub fn f64<I>(name: &str, values: impl FnOnce() -> I + Send + Sync + 'a) -> OutColumn<'a>
    where
        I: IntoIterator<Item = Option<f64>>,
    {
        OutColumn {
            name: name.to_string(),
            dtype: ArrowDataType::Float64,
            nullable: true,
            make: Box::new(move || {
                let mut v = Vec::new();
                let mut valid = Vec::new();
                for x in values() {
                    v.push(x.unwrap_or(0.0));
                    valid.push(x.is_some());
                }
                let validity = valid
                    .iter()
                    .any(|b| !b)
                    .then(|| Bitmap::from_iter(valid.iter().copied()));
                Box::new(PrimitiveArray::<f64>::new(
                    ArrowDataType::Float64,
                    v.into(),
                    validity,
                )) as Box<dyn Array>
            }),
        }
    }

    /// A `uint8` column without nulls.
    pub fn u8(name: &str, values: impl FnOnce() -> Vec<u8> + Send + Sync + 'a) -> OutColumn<'a> {
        OutColumn {
            name: name.to_string(),
            dtype: ArrowDataType::UInt8,
            nullable: true,
            make: Box::new(move || {
                Box::new(PrimitiveArray::<u8>::from_vec(values())) as Box<dyn Array>
            }),
        }
    }
}

fn perr(path: &Path, e: impl std::fmt::Display) -> IoError {
    IoError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// zstd level 1: faster than the default level 3 (on the L cohort the ingest and normalize
/// stages together take 0.5–0.8 s less) for files about 5 % larger. The level is valid, so the
/// writer's default never applies.
fn compression() -> CompressionOptions {
    CompressionOptions::Zstd(ZstdLevel::try_new(ZSTD_LEVEL).ok())
}

/// The zstd level of every page ([`compression`]).
const ZSTD_LEVEL: i32 = 1;

/// The zstd level of columns whose bytes compress about as well at it as at [`ZSTD_LEVEL`]
/// ([`layout`]): zstd's first "fast" level stores the literals of a block as they are instead of
/// Huffman-coding them, which costs little on bytes that barely compress and makes the frame
/// 2–3 times as fast to write and about 4 times as fast to read.
const FAST_LEVEL: i32 = -1;

thread_local! {
    /// This thread's zstd compression contexts (at [`ZSTD_LEVEL`], at [`FAST_LEVEL`]), each made
    /// at its first page and kept for the next: polars-parquet's `compress` makes (and zeroes)
    /// a context for every page, which on the L cohort's stores, thousands of small pages, cost
    /// about 0.3 s of CPU per run.
    static ZSTD: std::cell::RefCell<[Option<zstd::bulk::Compressor<'static>>; 2]> =
        const { std::cell::RefCell::new([None, None]) };
}

/// `bytes` compressed as one zstd frame at [`ZSTD_LEVEL`]: the bytes of polars-parquet's own
/// page compression (the same call, `ZSTD_compress2` with the level set), on this thread's
/// context.
fn zstd_frame(bytes: &[u8]) -> PolarsResult<Vec<u8>> {
    zstd_frame_at(bytes, ZSTD_LEVEL)
}

/// `bytes` compressed as one zstd frame at `level` ([`ZSTD_LEVEL`] or [`FAST_LEVEL`]), on this
/// thread's context for that level.
fn zstd_frame_at(bytes: &[u8], level: i32) -> PolarsResult<Vec<u8>> {
    let io = |e: std::io::Error| PolarsError::ComputeError(format!("zstd: {e}").into());
    ZSTD.with(|cell| {
        let mut cell = cell.borrow_mut();
        let slot = &mut cell[usize::from(level == FAST_LEVEL)];
        let compressor = match slot {
            Some(c) => c,
            None => slot.insert(zstd::bulk::Compressor::new(level).map_err(io)?),
        };
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(bytes.len()));
        compressor.compress_to_buffer(bytes, &mut out).map_err(io)?;
        Ok(out)
    })
}

/// An encoded page's bytes (the whole buffer of a data page v1 or a dictionary page).
fn page_bytes(page: &Page) -> &[u8] {
    match page {
        Page::Data(page) => page.buffer(),
        Page::Dict(page) => &page.buffer[..],
    }
}

/// One encoded page as the file writer takes it: compressed, its bytes the zstd `frame` of
/// [`page_bytes`] ([`zstd_frame`]), or stored as it is when `frame` is `None`.
fn compress_page(page: &Page, frame: Option<Vec<u8>>) -> PolarsResult<CompressedPage> {
    let (buffer, compression) = match frame {
        Some(frame) => (frame, Compression::Zstd),
        None => (page_bytes(page).to_vec(), Compression::Uncompressed),
    };
    Ok(match page {
        Page::Data(page) => {
            if !matches!(page.header(), DataPageHeader::V1(_)) {
                return Err(PolarsError::ComputeError(
                    "a data page v2 where the store writes v1 pages".into(),
                ));
            }
            let num_rows = page.num_rows.ok_or_else(|| {
                PolarsError::ComputeError("an encoded data page without its row count".into())
            })?;
            CompressedPage::Data(CompressedDataPage::new(
                page.header().clone(),
                CowBuffer::Owned(buffer),
                compression,
                page.buffer().len(),
                page.descriptor.clone(),
                num_rows,
            ))
        }
        Page::Dict(page) => CompressedPage::Dict(CompressedDictPage::new(
            CowBuffer::Owned(buffer),
            compression,
            page.buffer.len(),
            page.num_values,
            page.is_sorted,
        )),
    })
}

/// Columns built together: one closure produces all their arrays (the columns of a row-major
/// matrix gathered in one pass over its rows instead of one strided pass per column). A single
/// [`OutColumn`] converts into a group of one.
pub struct OutColumns<'a> {
    fields: Vec<Field>,
    make: Box<dyn FnOnce() -> Vec<Box<dyn Array>> + Send + Sync + 'a>,
}

impl<'a> From<OutColumn<'a>> for OutColumns<'a> {
    fn from(c: OutColumn<'a>) -> Self {
        let make = c.make;
        OutColumns {
            fields: vec![Field::new(c.name.as_str().into(), c.dtype, c.nullable)],
            make: Box::new(move || vec![make()]),
        }
    }
}

impl<'a> OutColumns<'a> {
    /// The columns of `m` as `double` columns named `names` (one per column of `m`), `NaN` as
    /// null: the same arrays as [`OutColumn::f64`] of each column, gathered row by row (a
    /// row-major matrix's column is a strided walk that misses the cache on every cell).
    pub fn f64_matrix<S: AsRef<str>>(names: &[S], m: ArrayView2<'a, f64>) -> Self {
        OutColumns {
            fields: fields(names, ArrowDataType::Float64),
            make: Box::new(move || {
                gather_columns(m, |&x| x)
                    .into_iter()
                    .map(|mut v| {
                        let validity = v
                            .iter()
                            .any(|x| x.is_nan())
                            .then(|| Bitmap::from_iter(v.iter().map(|x| !x.is_nan())));
                        if validity.is_some() {
                            for x in v.iter_mut().filter(|x| x.is_nan()) {
                                *x = 0.0;
                            }
                        }
                        Box::new(PrimitiveArray::<f64>::new(
                            ArrowDataType::Float64,
                            v.into(),
                            validity,
                        )) as Box<dyn Array>
                    })
                    .collect()
            }),
        }
    }

    /// The columns of `m` as `uint8` columns without nulls (`code` of each cell), named `names`;
    /// the same arrays as [`OutColumn::u8`] of each column, gathered row by row.
    pub fn u8_matrix<S: AsRef<str>, T: Sync>(
        names: &[S],
        m: ArrayView2<'a, T>,
        code: impl Fn(&T) -> u8 + Send + Sync + 'a,
    ) -> Self {
        OutColumns {
            fields: fields(names, ArrowDataType::UInt8),
            make: Box::new(move || {
                gather_columns(m, code)
                    .into_iter()
                    .map(|v| Box::new(PrimitiveArray::<u8>::from_vec(v)) as Box<dyn Array>)
                    .collect()
            }),
        }
    }

    /// How many columns the group writes.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the group writes no column.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

fn fields<S: AsRef<str>>(names: &[S], dtype: ArrowDataType) -> Vec<Field> {
    names
        .iter()
        .map(|n| Field::new(n.as_ref().into(), dtype.clone(), true))
        .collect()
}

/// The columns of `m`, each as a vector of `f(cell)`, read in one pass over the rows. The cells
/// go to their places in one column-major buffer (no per-cell length updates between the row
/// reads, so the reads of many rows are in flight at once), which is then cut into columns.
fn gather_columns<T, U: Copy + Default>(m: ArrayView2<'_, T>, f: impl Fn(&T) -> U) -> Vec<Vec<U>> {
    let n = m.nrows();
    if n == 0 {
        return vec![Vec::new(); m.ncols()];
    }
    let mut flat = vec![U::default(); n * m.ncols()];
    for (i, row) in m.rows().into_iter().enumerate() {
        for (col, x) in flat.chunks_exact_mut(n).zip(row) {
            col[i] = f(x);
        }
    }
    flat.chunks_exact(n).map(<[U]>::to_vec).collect()
}

/// Write `columns` of `rows` rows as one Parquet row group to `out`, one column chunk at a
/// time (see the module documentation for the types and layout).
pub fn write_columns<'a, W: std::io::Write>(
    path: &Path,
    out: W,
    rows: usize,
    columns: impl IntoIterator<Item = impl Into<OutColumns<'a>>>,
) -> Result<()> {
    let groups: Vec<OutColumns<'a>> = columns.into_iter().map(Into::into).collect();
    let fields: Vec<Field> = groups
        .iter()
        .flat_map(|g| g.fields.iter().cloned())
        .collect();
    let schema = ArrowSchema::from_iter(fields.iter().cloned());
    let options = WriteOptions {
        statistics: StatisticsOptions::empty(),
        version: Version::V1,
        compression: compression(),
        data_page_size: None,
    };
    let mut writer = FileWriter::try_new(out, schema, options).map_err(|e| perr(path, e))?;
    if rows > 0 || !fields.is_empty() {
        let mut pending = groups.into_iter();
        if rayon::current_thread_index().is_some() {
            // On a worker thread (a stage folder's tables are made side by side), the batches
            // are compressed here in turn: waiting for another thread that waits for the
            // workers could wait for this very worker.
            let chunks = CompressedColumns {
                batches: Batches::Here(pending, options),
                ready: std::collections::VecDeque::new(),
            };
            writer
                .write(rows as u64, DynIter::new(chunks))
                .map_err(|e| perr(path, e))?;
        } else {
            // A thread of its own builds and compresses the next batch of columns (on the
            // worker threads) while this one writes the batch before it.
            let (send, receive) = std::sync::mpsc::sync_channel(1);
            std::thread::scope(|scope| {
                scope.spawn(move || loop {
                    let batch = compress_batch(&mut pending, options);
                    if batch.is_empty() || send.send(batch).is_err() {
                        break;
                    }
                });
                let chunks = CompressedColumns {
                    batches: Batches::Thread(std::sync::Mutex::new(receive)),
                    ready: std::collections::VecDeque::new(),
                };
                writer.write(rows as u64, DynIter::new(chunks))
            })
            .map_err(|e| perr(path, e))?;
        }
    }
    writer.end(None).map_err(|e| perr(path, e))?;
    Ok(())
}

/// Columns compressed in parallel: how many are built, encoded and compressed at once. Up to
/// three batches are held at a time (one written, one queued, one being made), so their size
/// is part of a store write's memory: ingesting a 26,000-row table (`bench/ingest_gzip.sh`)
/// took 54 MiB beside its matrices with 48 and 55–62 MiB with 64 (the fast zstd level's
/// frames are larger); with 32, `normalize` on L was 0.05–0.1 s slower.
const PARALLEL_COLUMNS: usize = 48;

/// The next batch of at least [`PARALLEL_COLUMNS`] columns of `pending` (whole groups), built
/// in parallel and then encoded and compressed in parallel on the worker threads (compression
/// is most of the cost of writing a store); empty when none is left. A group that builds the
/// wrong number of arrays ends the batch with an error.
fn compress_batch(
    pending: &mut std::vec::IntoIter<OutColumns<'_>>,
    options: WriteOptions,
) -> Vec<PolarsResult<Vec<CompressedPage>>> {
    use rayon::prelude::*;
    let mut batch = Vec::new();
    let mut n = 0;
    while n < PARALLEL_COLUMNS {
        let Some(g) = pending.next() else { break };
        n += g.len();
        batch.push(g);
    }
    let (fields, makers): (Vec<_>, Vec<_>) = batch.into_iter().map(|g| (g.fields, g.make)).unzip();
    let built: Vec<Vec<Box<dyn Array>>> = makers.into_par_iter().map(|make| make()).collect();
    let mut columns = Vec::with_capacity(n);
    for (fields, arrays) in fields.into_iter().zip(built) {
        if arrays.len() != fields.len() {
            let mut out: Vec<_> = columns
                .into_par_iter()
                .map(|(array, field)| column_pages(array, &field, options))
                .collect();
            out.push(Err(PolarsError::ComputeError(
                format!(
                    "a column group built {} arrays for {} columns",
                    arrays.len(),
                    fields.len()
                )
                .into(),
            )));
            return out;
        }
        columns.extend(arrays.into_iter().zip(fields));
    }
    columns
        .into_par_iter()
        .map(|(array, field)| column_pages(array, &field, options))
        .collect()
}

/// The column chunks of a row group in column order, as [`compress_batch`] makes them; the
/// bytes are those of a sequential write, whatever the thread count.
struct CompressedColumns<'a> {
    batches: Batches<'a>,
    ready: std::collections::VecDeque<PolarsResult<Vec<CompressedPage>>>,
}

/// Where [`CompressedColumns`] gets its batches.
enum Batches<'a> {
    /// From the thread compressing them (in a mutex only because the file writer asks for a
    /// `Sync` iterator).
    Thread(std::sync::Mutex<std::sync::mpsc::Receiver<Vec<PolarsResult<Vec<CompressedPage>>>>>),
    /// Compressed when asked for, from these columns.
    Here(std::vec::IntoIter<OutColumns<'a>>, WriteOptions),
}

impl<'a> Iterator for CompressedColumns<'a> {
    type Item = PolarsResult<DynStreamingIterator<'a, CompressedPage, PolarsError>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ready.is_empty() {
            self.ready = match &mut self.batches {
                Batches::Thread(batches) => batches
                    .get_mut()
                    .unwrap_or_else(|e| e.into_inner())
                    .recv()
                    .ok()?,
                Batches::Here(pending, options) => compress_batch(pending, *options),
            }
            .into();
        }
        let pages = self.ready.pop_front()?;
        Some(pages.map(|p| {
            DynStreamingIterator::new(OwnedPages {
                pages: p.into_iter(),
                current: None,
            })
        }))
    }
}

/// One column's array encoded into pages, uncompressed: `double` columns plain, the others in
/// their type's default encoding.
fn encoded_pages(
    array: Box<dyn Array>,
    field: &Field,
    options: WriteOptions,
) -> PolarsResult<Vec<Page>> {
    let type_ = to_parquet_type(field)?;
    // polars' writer estimates a `double` column's cardinality and then cannot dictionary-
    // encode it anyway (same bytes): asking for plain encoding skips the estimate.
    let encodings = if field.dtype == ArrowDataType::Float64 {
        vec![Encoding::Plain]
    } else {
        get_dtype_encoding(&field.dtype)
    };
    let mut leaves = array_to_columns(array, type_, options, &encodings)?;
    let leaf = leaves.pop().expect("a flat column has one leaf");
    leaf.collect()
}

/// One column's array, encoded into pages and compressed.
fn column_pages(
    array: Box<dyn Array>,
    field: &Field,
    options: WriteOptions,
) -> PolarsResult<Vec<CompressedPage>> {
    let plain = encoded_pages(array, field, options)?;
    // A chunk smaller than the bytes a kept compression must save is stored as it is
    // (`worth_compressing` could not keep it): neither probed nor compressed.
    if pages_len(&plain) < MIN_SAVED {
        return plain.iter().map(|page| compress_page(page, None)).collect();
    }
    // polars' writer leaves the levels out of its pages' descriptors: the field says whether
    // the pages have definition levels.
    let double = (field.dtype == ArrowDataType::Float64).then_some(field.is_nullable);
    let (pages, level) = match layout(&plain, double)? {
        Layout::Uncompressed => {
            return plain.iter().map(|page| compress_page(page, None)).collect();
        }
        Layout::Plain(level) => (plain, level),
        Layout::Split(level) => {
            let split: Vec<Page> = plain
                .iter()
                .map(|page| byte_stream_split(page, field.is_nullable))
                .collect::<PolarsResult<_>>()?;
            // Kept only when compressed (below); stored uncompressed, a column is plain.
            let (small, frames) = frames_of(&split, level)?;
            let whole = pages_len(&split);
            if worth_compressing(small, whole) {
                return split
                    .iter()
                    .zip(frames)
                    .map(|(page, frame)| compress_page(page, Some(frame)))
                    .collect();
            }
            return plain.iter().map(|page| compress_page(page, None)).collect();
        }
    };
    let (small, frames) = frames_of(&pages, level)?;
    let whole = pages_len(&pages);
    if worth_compressing(small, whole) {
        pages
            .iter()
            .zip(frames)
            .map(|(page, frame)| compress_page(page, Some(frame)))
            .collect()
    } else {
        pages.iter().map(|page| compress_page(page, None)).collect()
    }
}

/// The bytes of a column chunk's pages, uncompressed.
fn pages_len(pages: &[Page]) -> usize {
    pages.iter().map(|page| page_bytes(page).len()).sum()
}

/// The zstd frames of a column chunk's pages at `level`, and their total size.
fn frames_of(pages: &[Page], level: i32) -> PolarsResult<(usize, Vec<Vec<u8>>)> {
    let frames: Vec<Vec<u8>> = pages
        .iter()
        .map(|page| zstd_frame_at(page_bytes(page), level))
        .collect::<PolarsResult<_>>()?;
    Ok((frames.iter().map(Vec::len).sum(), frames))
}

/// How a column chunk's values are stored ([`layout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Plain-encoded, uncompressed.
    Uncompressed,
    /// Plain-encoded, zstd-compressed at this level where [`worth_compressing`].
    Plain(i32),
    /// `double` values in byte-stream-split encoding (Parquet's `BYTE_STREAM_SPLIT`: the
    /// values' first bytes, then their second bytes, …), zstd-compressed at this level where
    /// [`worth_compressing`] (plain and uncompressed otherwise).
    Split(i32),
}

/// The layout of a column chunk, from its plain-encoded pages: the first [`PROBE_BYTES`] of
/// values of its largest page are compressed as they are and, for `double` columns, split
/// into their eight byte streams (Parquet's `BYTE_STREAM_SPLIT`); the smaller wins when it
/// saves a sixteenth, and the chunk is stored uncompressed when neither does. The bytes of a
/// double differ most in their low mantissa bytes; split, the exponent and high mantissa
/// bytes of similar values form long runs: on the L cohort's linear intensities (whole
/// numbers) zstd level 1 then keeps 44 % of the bytes instead of 52 % and compresses 2.3
/// times as fast, and log2 intensities, which barely compress plain (92 %), compress to
/// 80 %. Values that repeat whole (log-CPM of small counts) compress better plain, which the
/// probe sees. A `double` column is compressed at [`FAST_LEVEL`] when the probe's frame at
/// that level (of the winning layout) is at most a sixteenth larger than at [`ZSTD_LEVEL`]:
/// log2 intensities, whose low mantissa bytes are noise, and most linear intensities; counts
/// and log-CPM values, which compress a quarter better at level 1, keep it. A `double` chunk
/// whose probe frame at its level does not save an eighth is stored uncompressed without
/// being compressed whole ([`worth_compressing`] would not keep it: on the L stores the probe's
/// ratio is the whole chunk's within a thousandth; normalized log2 intensities keep 87.9 % of
/// their probe's bytes and 88.0 % of the chunk's at the fast level). The choice depends on the
/// column's bytes alone.
/// `double` is `Some(nullable)` for a `double` column (whether its pages have definition
/// levels), `None` for other columns.
fn layout(pages: &[Page], double: Option<bool>) -> PolarsResult<Layout> {
    let Some(largest) = pages.iter().max_by_key(|page| page_bytes(page).len()) else {
        return Ok(Layout::Plain(ZSTD_LEVEL));
    };
    let values = match largest {
        Page::Data(page) if double.is_some() && page.encoding() == Encoding::Plain => {
            let nullable = double == Some(true);
            polars_parquet::parquet::page::split_buffer_v1(page.buffer(), false, nullable)?.values
        }
        _ => {
            // Other columns: the whole page, as before the split layout existed.
            let bytes = page_bytes(largest);
            if bytes.len() <= 2 * PROBE_BYTES {
                return Ok(Layout::Plain(ZSTD_LEVEL));
            }
            let frame = zstd_frame(&bytes[..PROBE_BYTES])?;
            return Ok(if frame.len() <= PROBE_BYTES - PROBE_BYTES / 16 {
                Layout::Plain(ZSTD_LEVEL)
            } else {
                Layout::Uncompressed
            });
        }
    };
    let probe = &values[..values.len().min(PROBE_BYTES) / 8 * 8];
    if probe.is_empty() {
        return Ok(Layout::Plain(ZSTD_LEVEL));
    }
    let plain = zstd_frame(probe)?.len();
    let streams = split_streams(probe);
    let split = zstd_frame(&streams)?.len();
    let (best, bytes, layout): (_, _, fn(i32) -> Layout) = if split < plain {
        (split, &streams[..], Layout::Split)
    } else {
        (plain, probe, Layout::Plain)
    };
    if best > probe.len() - probe.len() / 16 {
        return Ok(Layout::Uncompressed);
    }
    let fast = zstd_frame_at(bytes, FAST_LEVEL)?.len();
    let (level, frame) = if fast <= best + best / 16 {
        (FAST_LEVEL, fast)
    } else {
        (ZSTD_LEVEL, best)
    };
    // The chunk would be stored uncompressed anyway: it is not compressed whole to find out.
    if !saves_an_eighth(frame, probe.len()) {
        return Ok(Layout::Uncompressed);
    }
    Ok(layout(level))
}

/// Little-endian doubles (8 bytes each) as their eight byte streams: every value's first
/// byte, then every value's second byte, and so on (Parquet's `BYTE_STREAM_SPLIT`).
fn split_streams(values: &[u8]) -> Vec<u8> {
    let m = values.len() / 8;
    let mut out = vec![0u8; m * 8];
    let (s0, rest) = out.split_at_mut(m);
    let (s1, rest) = rest.split_at_mut(m);
    let (s2, rest) = rest.split_at_mut(m);
    let (s3, rest) = rest.split_at_mut(m);
    let (s4, rest) = rest.split_at_mut(m);
    let (s5, rest) = rest.split_at_mut(m);
    let (s6, s7) = rest.split_at_mut(m);
    for (i, v) in values.chunks_exact(8).enumerate() {
        s0[i] = v[0];
        s1[i] = v[1];
        s2[i] = v[2];
        s3[i] = v[3];
        s4[i] = v[4];
        s5[i] = v[5];
        s6[i] = v[6];
        s7[i] = v[7];
    }
    out
}

/// A plain-encoded `double` data page v1 with its values byte-stream split (its levels, which
/// it has when `nullable`, as they are).
fn byte_stream_split(page: &Page, nullable: bool) -> PolarsResult<Page> {
    use polars_parquet::parquet::page::{split_buffer_v1, DataPage, FormatEncoding};
    let not = || PolarsError::ComputeError("byte-stream split of a page that is not plain".into());
    let Page::Data(page) = page else {
        return Err(not());
    };
    let DataPageHeader::V1(header) = page.header() else {
        return Err(not());
    };
    if page.encoding() != Encoding::Plain {
        return Err(not());
    }
    let values = split_buffer_v1(page.buffer(), false, nullable)?.values;
    if !values.len().is_multiple_of(8) {
        return Err(PolarsError::ComputeError(
            "a double page whose values are not 8 bytes each".into(),
        ));
    }
    let levels = page.buffer().len() - values.len();
    let mut buffer = Vec::with_capacity(page.buffer().len());
    buffer.extend_from_slice(&page.buffer()[..levels]);
    buffer.extend_from_slice(&split_streams(values));
    let mut header = header.clone();
    header.encoding = FormatEncoding::BYTE_STREAM_SPLIT;
    let num_rows = page.num_rows.ok_or_else(not)?;
    Ok(Page::Data(DataPage::new(
        DataPageHeader::V1(header),
        CowBuffer::Owned(buffer),
        page.descriptor.clone(),
        num_rows,
    )))
}

/// Whether a column chunk is kept zstd-compressed (`small` bytes, `whole` uncompressed): when
/// that saves an eighth of it and at least [`MIN_SAVED`] bytes. Otherwise its pages are stored
/// uncompressed (the codec is chosen per column chunk), so readers neither decompress it nor
/// make a decompression context for it: log-scale intensities barely compress (a normalized L
/// proteome sample, 63 kB, to 58 kB), flag columns of a kilobyte save a few hundred bytes, and
/// every compressed chunk costs its reader a fresh zstd context (polars-parquet makes one per
/// column chunk; on a virtual machine its two CPUID instructions take about 25 µs).
fn worth_compressing(small: usize, whole: usize) -> bool {
    saves_an_eighth(small, whole) && whole - small >= MIN_SAVED
}

/// Whether `small` bytes are at most seven eighths of `whole`.
fn saves_an_eighth(small: usize, whole: usize) -> bool {
    small <= whole - whole / 8
}

/// Bytes of a column chunk's largest page [`layout`] compresses to decide.
const PROBE_BYTES: usize = 8192;

/// The fewest bytes a compressed column chunk saves ([`worth_compressing`]).
const MIN_SAVED: usize = 4096;

/// Compressed pages handed to the file writer one by one.
struct OwnedPages {
    pages: std::vec::IntoIter<CompressedPage>,
    current: Option<CompressedPage>,
}

impl FallibleStreamingIterator for OwnedPages {
    type Item = CompressedPage;
    type Error = PolarsError;

    fn advance(&mut self) -> std::result::Result<(), PolarsError> {
        self.current = self.pages.next();
        Ok(())
    }

    fn get(&self) -> Option<&CompressedPage> {
        self.current.as_ref()
    }
}

/// [`write_columns`] into `path`, atomically (a temporary sibling renamed into place); the
/// SHA-256 (lower-case hex) and size of the bytes written, hashed as they are written.
pub fn write_file<'a>(
    path: &Path,
    rows: usize,
    columns: impl IntoIterator<Item = impl Into<OutColumns<'a>>>,
) -> Result<(String, u64)> {
    use std::io::Write as _;
    let mut digest = None;
    crate::atomic::write_file_atomic_with(path, |f| {
        let mut w = Hashing {
            inner: std::io::BufWriter::with_capacity(1 << 20, f),
            hasher: Sha256::new(),
            bytes: 0,
        };
        write_columns(path, &mut w, rows, columns)?;
        w.inner
            .flush()
            .map_err(|e| IoError::fs("cannot write", path, e))?;
        digest = Some((crate::manifest::hex(&w.hasher.finalize()), w.bytes));
        Ok(())
    })?;
    Ok(digest.unwrap_or_default())
}

/// A writer that passes bytes on and hashes (SHA-256) and counts those it passed.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: std::io::Write> std::io::Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decoder_panic_becomes_an_error_naming_the_file() {
        let e = guarded(
            Path::new("values.parquet"),
            || -> std::result::Result<(), PolarsError> {
                panic!("assertion `left == right` failed\n  left: 0\n right: 2")
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("values.parquet: Parquet error: the file is damaged"),
            "{e}"
        );
        assert!(
            e.contains("`left == right` failed left: 0 right: 2)"),
            "{e}"
        );
    }

    #[test]
    fn written_columns_read_back_with_plain_string_types() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.parquet");
        let ids = ["a", "b", "c"];
        write_file(
            &p,
            3,
            vec![
                OutColumn::text("id", || ids.iter().map(Some)),
                OutColumn::f64("x", || vec![Some(1.5), None, Some(-0.0)]),
                OutColumn::u8("f", || vec![0, 1, 3]),
                OutColumn::text("note", || vec![Some("é"), None, Some("")]),
            ],
        )
        .unwrap();
        let df = read(&p, None).unwrap();
        assert_eq!(df.shape(), (3, 4));
        let x: Vec<Option<f64>> = df.column("x").unwrap().f64().unwrap().iter().collect();
        assert_eq!(x, vec![Some(1.5), None, Some(-0.0)]);
        let note: Vec<Option<&str>> = df.column("note").unwrap().str().unwrap().iter().collect();
        assert_eq!(note, vec![Some("é"), None, Some("")]);
        // The embedded Arrow schema says large_string (type 20 in Arrow's flatbuffers enum),
        // never string_view (24), which older readers reject.
        let bytes = std::fs::read(&p).unwrap();
        assert!(bytes.windows(12).any(|w| w == b"ARROW:schema"));
        // An empty table is a valid file too.
        write_file(&p, 0, vec![OutColumn::text("id", Vec::<Option<&str>>::new)]).unwrap();
        assert_eq!(read(&p, None).unwrap().shape(), (0, 1));
    }

    /// The pages compressed on a thread's kept zstd context are polars-parquet's own
    /// compression of them, byte for byte: plain `double` pages, and a dictionary-encoded
    /// column's dictionary and data pages, each compressed twice on one context.
    #[test]
    fn kept_zstd_context_compresses_as_polars_parquet() {
        let options = WriteOptions {
            statistics: StatisticsOptions::empty(),
            compression: compression(),
            version: Version::V1,
            data_page_size: None,
        };
        let pages = |array: Box<dyn Array>, name: &str| {
            let field = Field::new(name.into(), array.dtype().clone(), true);
            encoded_pages(array, &field, options).unwrap()
        };
        let x = || {
            Box::new(PrimitiveArray::<f64>::from_iter(
                (0..5000).map(|i| (i % 7 != 3).then_some(((i * 37) % 101) as f64 / 3.0)),
            )) as Box<dyn Array>
        };
        let f = || {
            Box::new(PrimitiveArray::<u8>::from_vec(
                (0..5000).map(|i| (i % 3) as u8).collect(),
            )) as Box<dyn Array>
        };
        for _ in 0..2 {
            for (array, name, n_pages) in [(x(), "x", 1), (f(), "f", 2)] {
                let ours = pages(array.clone(), name);
                let theirs = pages(array, name);
                assert_eq!(ours.len(), n_pages, "column {name}");
                for (a, b) in ours.into_iter().zip(theirs) {
                    let a = compress_page(&a, Some(zstd_frame(page_bytes(&a)).unwrap())).unwrap();
                    let b = polars_parquet::parquet::write::compress(b, Vec::new(), compression())
                        .unwrap();
                    assert_eq!(format!("{a:?}"), format!("{b:?}"), "column {name}");
                }
            }
        }
    }

    /// The codec of each column chunk of a one-row-group file, in column order.
    fn codecs(p: &Path) -> Vec<Compression> {
        let meta = polars_parquet::parquet::read::read_metadata(&mut open(p).unwrap()).unwrap();
        meta.row_groups[0]
            .parquet_columns()
            .iter()
            .map(|c| c.compression())
            .collect()
    }

    /// A whole-number intensity of about 10⁸ (as MaxQuant's LFQ columns): its doubles compress
    /// best byte-stream split.
    fn intensity(i: usize) -> f64 {
        (1e8 + (noise(i).to_bits() >> 38) as f64).round()
    }

    /// The encoding of each column chunk's first data page.
    fn encodings(p: &Path) -> Vec<String> {
        chunk_layouts(p)
            .unwrap()
            .into_iter()
            .map(|c| c.encoding)
            .collect()
    }

    /// A finite positive double whose bits look random (a hash of `i`, its exponent too): columns
    /// of them compress neither plain nor byte-stream split.
    fn noise(i: usize) -> f64 {
        let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        f64::from_bits((z ^ (z >> 31)) & 0x7fef_ffff_ffff_ffff)
    }

    /// A column chunk stays zstd-compressed only where that saves an eighth and 4 KiB: a
    /// column of two values does, incompressible doubles and a small flag column do not; every
    /// column reads back the same either way.
    #[test]
    fn double_columns_are_plain_and_chunks_are_zstd_where_it_pays() {
        use polars_parquet::parquet::compression::Compression;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.parquet");
        let n = 1000;
        write_file(
            &p,
            n,
            vec![
                OutColumn::f64("x", move || (0..n).map(|i| Some((i % 2) as f64))),
                OutColumn::u8("f", move || (0..n).map(|i| (i % 2) as u8).collect()),
                OutColumn::f64("z", move || {
                    (0..n).map(move |i| (i % 9 != 0).then(|| noise(i)))
                }),
            ],
        )
        .unwrap();
        let meta = polars_parquet::parquet::read::read_metadata(&mut open(&p).unwrap()).unwrap();
        let cols = meta.row_groups[0].parquet_columns();
        assert_eq!(cols.len(), 3);
        assert!(cols[0].dictionary_page_offset().is_none());
        assert!(cols[1].dictionary_page_offset().is_some());
        assert!(cols[2].dictionary_page_offset().is_none());
        let codecs: Vec<Compression> = cols.iter().map(|c| c.compression()).collect();
        assert_eq!(
            codecs,
            [
                Compression::Zstd,
                Compression::Uncompressed,
                Compression::Uncompressed
            ]
        );
        let df = read(&p, None).unwrap();
        let col = |name: &str| -> Vec<Option<f64>> {
            df.column(name).unwrap().f64().unwrap().iter().collect()
        };
        assert!(col("x")
            .iter()
            .enumerate()
            .all(|(i, v)| *v == Some((i % 2) as f64)));
        assert!(col("z")
            .iter()
            .enumerate()
            .all(|(i, v)| v.map(f64::to_bits) == (i % 9 != 0).then(|| noise(i).to_bits())));
        let f: Vec<Option<u8>> = df.column("f").unwrap().u8().unwrap().iter().collect();
        assert!(f.iter().enumerate().all(|(i, v)| *v == Some((i % 2) as u8)));
    }

    /// A column whose start does not compress is stored uncompressed whatever follows (here
    /// zeros that would); one whose start does is compressed when the whole chunk pays.
    #[test]
    fn a_column_whose_start_does_not_compress_is_not_compressed() {
        use polars_parquet::parquet::compression::Compression;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.parquet");
        let n = 20_000;
        // Noise in the first 2,000 rows, the rest zeros; and noise in the last 2,000 rows.
        let head = move |i: usize| if i < 2000 { noise(i) } else { 0.0 };
        let tail = move |i: usize| if i < n - 2000 { 0.0 } else { noise(i) };
        write_file(
            &p,
            n,
            vec![
                OutColumn::f64("head", move || (0..n).map(move |i| Some(head(i)))),
                OutColumn::f64("tail", move || (0..n).map(move |i| Some(tail(i)))),
                OutColumn::f64("zeros", move || (0..n).map(|_| Some(0.0))),
            ],
        )
        .unwrap();
        let codecs = codecs(&p);
        assert_eq!(
            codecs,
            [
                Compression::Uncompressed,
                Compression::Zstd,
                Compression::Zstd
            ]
        );
        let df = read(&p, None).unwrap();
        let bits = |name: &str| -> Vec<u64> {
            let c = df.column(name).unwrap().f64().unwrap();
            c.iter().map(|v| v.unwrap().to_bits()).collect()
        };
        assert_eq!(
            bits("head"),
            (0..n).map(|i| head(i).to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(
            bits("tail"),
            (0..n).map(|i| tail(i).to_bits()).collect::<Vec<_>>()
        );
    }

    /// Double columns read straight from their pages are polars' reading of them bit for bit
    /// (null as NaN): compressed and uncompressed chunks, runs of nulls and of values longer
    /// than one header byte counts, a partial last group of eight; other columns, or names
    /// the file lacks, are left to polars.
    #[test]
    fn double_columns_read_from_their_pages_as_polars_reads_them() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.parquet");
        let n = 20_003;
        let gaps = move |i: usize| (i % 7 != 3) && !(5_000..6_500).contains(&i);
        write_file(
            &p,
            n,
            vec![
                OutColumn::f64("noise", move || {
                    (0..n).map(move |i| gaps(i).then(|| noise(i)))
                }),
                OutColumn::f64("steps", move || {
                    (0..n).map(move |i| gaps(i).then_some((i / 100) as f64))
                }),
                OutColumn::f64("full", move || (0..n).map(|i| Some(i as f64 * 0.5))),
                OutColumn::f64("empty", move || (0..n).map(|_| None::<f64>)),
                OutColumn::f64("intensity", move || {
                    (0..n).map(move |i| gaps(i).then(|| intensity(i)))
                }),
                OutColumn::u8("flags", move || (0..n).map(|i| (i % 2) as u8).collect()),
            ],
        )
        .unwrap();
        let names: Vec<String> = ["noise", "steps", "full", "empty", "intensity"]
            .map(String::from)
            .to_vec();
        let direct = read_f64_columns(&p, &names, n)
            .unwrap()
            .expect("laid out as written");
        let df = read(&p, None).unwrap();
        for (name, got) in names.iter().zip(&direct) {
            let want: Vec<u64> = df
                .column(name)
                .unwrap()
                .f64()
                .unwrap()
                .iter()
                .map(|v| v.unwrap_or(f64::NAN).to_bits())
                .collect();
            let got: Vec<u64> = got.iter().map(|v| v.to_bits()).collect();
            assert_eq!(got, want, "column {name}");
        }
        let codecs = codecs(&p);
        assert!(codecs.contains(&Compression::Zstd) && codecs.contains(&Compression::Uncompressed));
        let mut split = direct[4].iter().enumerate();
        assert!(split
            .all(|(i, v)| v.to_bits() == if gaps(i) { intensity(i) } else { f64::NAN }.to_bits()));
        assert_eq!(
            encodings(&p),
            // noise plain (uncompressed), whole numbers and halves split, none at all plain.
            [
                "PLAIN",
                "BYTE_STREAM_SPLIT",
                "BYTE_STREAM_SPLIT",
                "PLAIN",
                "BYTE_STREAM_SPLIT",
                "RLE_DICTIONARY"
            ]
        );
        for other in [vec!["flags".to_string()], vec!["absent".to_string()]] {
            assert!(read_f64_columns(&p, &other, n).unwrap().is_none());
        }
        assert!(read_f64_columns(&p, &names, n + 1).unwrap().is_none());
    }

    /// A page's levels and values that do not agree, or levels that end early or hold
    /// something but 0 or 1, are errors.
    #[test]
    fn damaged_levels_and_values_are_errors() {
        let v = |xs: &[f64]| xs.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let read = |def: &[u8], values: &[u8], n: usize| {
            let mut out = Vec::new();
            plain_values(def, values, n, &mut out).map(|_| out)
        };
        // A repeated run of three 1s; a bit-packed group 1, 0, 1 (of eight, three used).
        let got = read(&[6, 1], &v(&[1.0, 2.0, 3.0]), 3).unwrap();
        assert_eq!(got, [1.0, 2.0, 3.0]);
        let got = read(&[3, 0b101], &v(&[1.0, 3.0]), 3).unwrap();
        assert_eq!(got[0], 1.0);
        assert!(got[1].is_nan());
        assert_eq!(got[2], 3.0);
        assert!(read(&[6, 1], &v(&[1.0, 2.0]), 3).is_err(), "too few values");
        assert!(
            read(&[6, 1], &v(&[1.0, 2.0, 3.0, 4.0]), 3).is_err(),
            "too many"
        );
        assert!(
            read(&[6], &v(&[1.0]), 3).is_err(),
            "the repeated level missing"
        );
        assert!(read(&[6, 2], &v(&[1.0]), 3).is_err(), "a level of 2");
        assert!(
            read(&[6, 1], &v(&[1.0, 2.0, 3.0]), 4).is_err(),
            "levels end early"
        );
        assert!(read(&[5], &[], 3).is_err(), "bit-packed levels end early");
        assert!(
            read(&[0x80; 12], &[], 1).is_err(),
            "a header that never ends"
        );
    }

    #[test]
    fn compression_is_kept_where_it_saves_an_eighth_and_4_kib() {
        assert!(worth_compressing(1000, 10_000));
        assert!(worth_compressing(56_000, 64_000));
        assert!(!worth_compressing(58_000, 64_000));
        assert!(!worth_compressing(600, 1000));
        assert!(!worth_compressing(0, 4095));
        assert!(worth_compressing(0, 4096));
    }

    /// The layout of a `double` column: counts split at level 1, log2 intensities split at the
    /// fast level (level 1 gains little on their noisy low mantissa bytes), values that repeat
    /// whole plain, noise uncompressed.
    #[test]
    fn double_layouts_and_levels_follow_the_bytes() {
        let options = WriteOptions {
            statistics: StatisticsOptions::empty(),
            compression: compression(),
            version: Version::V1,
            data_page_size: None,
        };
        let layout_of = |values: Vec<f64>| {
            let field = Field::new("x".into(), ArrowDataType::Float64, false);
            let array = Box::new(PrimitiveArray::<f64>::from_vec(values)) as Box<dyn Array>;
            layout(&encoded_pages(array, &field, options).unwrap(), Some(false)).unwrap()
        };
        let n = 5000;
        let counts: Vec<f64> = (0..n).map(|i| (intensity(i) / 1e5).round()).collect();
        let log2: Vec<f64> = (0..n).map(|i| intensity(i).log2()).collect();
        let repeats: Vec<f64> = (0..n).map(|i| ((i * 37) % 11) as f64 / 3.0).collect();
        let noisy: Vec<f64> = (0..n).map(noise).collect();
        // Seven bytes of noise under one exponent byte: split, one stream in eight compresses
        // away, which saves more than a sixteenth but less than an eighth.
        let top_byte: Vec<f64> = (0..n)
            .map(|i| f64::from_bits(0x40 << 56 | noise(i).to_bits() & 0x00ff_ffff_ffff_ffff))
            .collect();
        assert_eq!(layout_of(counts), Layout::Split(ZSTD_LEVEL));
        assert_eq!(layout_of(log2), Layout::Split(FAST_LEVEL));
        assert!(matches!(layout_of(repeats), Layout::Plain(_)));
        assert_eq!(layout_of(noisy), Layout::Uncompressed);
        assert_eq!(layout_of(top_byte), Layout::Uncompressed);
    }

    /// Columns gathered in row-major bands write the same bytes as the same columns built one
    /// at a time (NaN as null; flags as `uint8`), whether the bands fit a batch or not.
    #[test]
    fn matrix_bands_write_the_bytes_of_single_columns() {
        let (rows, cols) = (37, 150);
        let values = ndarray::Array2::from_shape_fn((rows, cols), |(i, j)| {
            if (i * 7 + j) % 11 == 0 {
                f64::NAN
            } else {
                (i * cols + j) as f64 * 0.5 - 3.0
            }
        });
        let codes = values.mapv(|v| u8::from(v.is_nan()) * 2 + u8::from(v < 0.0));
        let names: Vec<String> = (0..cols).map(|j| format!("s{j}")).collect();
        let d = tempfile::tempdir().unwrap();
        let bytes = |name: &str, columns: Vec<OutColumns>| {
            let path = d.path().join(name);
            write_file(&path, rows, columns).unwrap();
            std::fs::read(&path).unwrap()
        };
        let single_values = bytes(
            "v.parquet",
            (0..cols)
                .map(|j| {
                    let v = values.column(j);
                    OutColumn::f64(&names[j], move || {
                        v.into_iter().map(|x| (!x.is_nan()).then_some(*x))
                    })
                    .into()
                })
                .collect(),
        );
        let single_codes = bytes(
            "c.parquet",
            (0..cols)
                .map(|j| {
                    let c = codes.column(j);
                    OutColumn::u8(&names[j], move || c.to_vec()).into()
                })
                .collect(),
        );
        for band in [1, 16, 70, 150] {
            let bands = |j: usize| j..(j + band).min(cols);
            let banded_values = bytes(
                "bv.parquet",
                (0..cols)
                    .step_by(band)
                    .map(|j| {
                        let view = values.slice_axis(ndarray::Axis(1), bands(j).into());
                        OutColumns::f64_matrix(&names[bands(j)], view)
                    })
                    .collect(),
            );
            assert!(banded_values == single_values, "values, bands of {band}");
            let banded_codes = bytes(
                "bc.parquet",
                (0..cols)
                    .step_by(band)
                    .map(|j| {
                        let view = codes.slice_axis(ndarray::Axis(1), bands(j).into());
                        OutColumns::u8_matrix(&names[bands(j)], view, |c| *c)
                    })
                    .collect(),
            );
            assert!(banded_codes == single_codes, "codes, bands of {band}");
        }
    }

    /// Files written on the rayon workers (a stage folder's tables, made side by side) and from
    /// a plain thread have the same bytes, and the hash `write_file` reports is the file's;
    /// writes on every worker at once do not wait for a thread that waits for the workers
    /// (that wait would never end).
    #[test]
    fn files_written_on_the_workers_or_a_plain_thread_are_the_same() {
        use rayon::prelude::*;
        let d = tempfile::tempdir().unwrap();
        let n = 500;
        let columns = move || {
            (0..150)
                .map(|c| {
                    OutColumn::f64(&format!("c{c}"), move || {
                        (0..n).map(move |i| Some((i * c) as f64 / 7.0))
                    })
                })
                .collect::<Vec<_>>()
        };
        let plain = d.path().join("plain.parquet");
        let digest = write_file(&plain, n, columns()).unwrap();
        assert_eq!(digest, crate::manifest::sha256_file(&plain).unwrap());
        let dir = d.path().to_path_buf();
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let digests: Vec<(String, u64)> = (0..2 * rayon::current_num_threads())
                .into_par_iter()
                .map(|k| write_file(&dir.join(format!("w{k}.parquet")), n, columns()).unwrap())
                .collect();
            done.send(digests).ok();
        });
        let digests = finished
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("files written on every worker at once finish");
        assert!(digests.iter().all(|d| *d == digest));
    }

    #[test]
    fn truncated_file_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.parquet");
        std::fs::write(&p, b"PAR1 not really").unwrap();
        let e = read(&p, None).unwrap_err().to_string();
        assert!(
            e.contains("x.parquet") && e.contains("may be truncated"),
            "{e}"
        );
    }
}
