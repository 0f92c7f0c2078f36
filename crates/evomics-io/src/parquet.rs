//! Parquet: reading through polars without letting a damaged file crash the process, and
//! writing column chunk by column chunk with plain types every reader opens.
//!
//! polars' Parquet decoder panics on some malformed files instead of returning an error (see
//! `guard`); [`read`] and [`column_names`] turn such a panic into an [`IoError::Parquet`] naming
//! the file, with the panic's own report kept off stderr.
//!
//! [`write_columns`] writes one row group whose columns are built one at a time ([`OutColumn`]
//! produces its array only when the writer reaches it), so writing a layer needs the memory of
//! one column, not a second copy of the table. Text columns are `large_string` (UTF-8 with
//! 64-bit offsets): polars' own writer records `string_view`, which pyarrow before 15 cannot
//! read ("Unrecognized type: 24"); `large_string` is read by pyarrow ≥ 10, polars, DuckDB and
//! R arrow. Pages are Parquet data page v1 with zstd compression (level 1); `double` columns are
//! plain-encoded.

use std::path::Path;

use polars::prelude::PolarsResult;
use polars::prelude::{DataFrame, ParquetReader, PolarsError, SerReader};
use polars_arrow::array::{Array, PrimitiveArray, Utf8Array};
use polars_arrow::bitmap::Bitmap;
use polars_arrow::datatypes::{ArrowDataType, ArrowSchema, Field};
use polars_parquet::parquet::write::compress;
use polars_parquet::write::{
    array_to_columns, get_dtype_encoding, to_parquet_type, CompressedPage, CompressionOptions,
    DynIter, DynStreamingIterator, Encoding, FallibleStreamingIterator, FileWriter,
    StatisticsOptions, Version, WriteOptions, ZstdLevel,
};

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
    CompressionOptions::Zstd(ZstdLevel::try_new(1).ok())
}

/// Write `columns` of `rows` rows as one Parquet row group to `out`, one column chunk at a
/// time (see the module documentation for the types and layout).
pub fn write_columns<W: std::io::Write>(
    path: &Path,
    out: W,
    rows: usize,
    columns: Vec<OutColumn<'_>>,
) -> Result<()> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(c.name.as_str().into(), c.dtype.clone(), c.nullable))
        .collect();
    let schema = ArrowSchema::from_iter(fields.iter().cloned());
    let options = WriteOptions {
        statistics: StatisticsOptions::empty(),
        version: Version::V1,
        compression: compression(),
        data_page_size: None,
    };
    let mut writer = FileWriter::try_new(out, schema, options).map_err(|e| perr(path, e))?;
    if rows > 0 || !columns.is_empty() {
        let pending = columns
            .into_iter()
            .zip(fields)
            .collect::<Vec<_>>()
            .into_iter();
        let chunks = CompressedColumns {
            pending,
            ready: std::collections::VecDeque::new(),
            options,
        };
        writer
            .write(rows as u64, DynIter::new(chunks))
            .map_err(|e| perr(path, e))?;
    }
    writer.end(None).map_err(|e| perr(path, e))?;
    Ok(())
}

/// Columns compressed in parallel: how many are built, encoded and compressed at once.
const PARALLEL_COLUMNS: usize = 64;

/// The column chunks of a row group in column order, built, encoded and compressed
/// [`PARALLEL_COLUMNS`] at a time on the worker threads (compression is most of the cost of
/// writing a store); the bytes are those of a sequential write, whatever the thread count.
struct CompressedColumns<'a> {
    pending: std::vec::IntoIter<(OutColumn<'a>, Field)>,
    ready: std::collections::VecDeque<PolarsResult<Vec<CompressedPage>>>,
    options: WriteOptions,
}

impl<'a> Iterator for CompressedColumns<'a> {
    type Item = PolarsResult<DynStreamingIterator<'a, CompressedPage, PolarsError>>;

    fn next(&mut self) -> Option<Self::Item> {
        use rayon::prelude::*;
        if self.ready.is_empty() {
            let batch: Vec<_> = self.pending.by_ref().take(PARALLEL_COLUMNS).collect();
            let options = self.options;
            self.ready = batch
                .into_par_iter()
                .map(|(c, field)| column_pages(c, &field, options))
                .collect::<Vec<_>>()
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

/// One column's array, encoded into pages and compressed.
fn column_pages(
    c: OutColumn<'_>,
    field: &Field,
    options: WriteOptions,
) -> PolarsResult<Vec<CompressedPage>> {
    let array = (c.make)();
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
    leaf.map(|page| Ok(compress(page?, Vec::new(), options.compression)?))
        .collect()
}

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

/// [`write_columns`] into `path`, atomically (a temporary sibling renamed into place).
pub fn write_file(path: &Path, rows: usize, columns: Vec<OutColumn<'_>>) -> Result<()> {
    crate::atomic::write_file_atomic_with(path, |f| {
        let w = std::io::BufWriter::with_capacity(1 << 20, f);
        write_columns(path, w, rows, columns)
    })
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

    /// `double` columns are plain-encoded, `u8` columns of few values still get a dictionary,
    /// and every chunk is zstd-compressed.
    #[test]
    fn double_columns_are_plain_and_every_chunk_is_zstd() {
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
            ],
        )
        .unwrap();
        let meta = polars_parquet::parquet::read::read_metadata(&mut open(&p).unwrap()).unwrap();
        let cols = meta.row_groups[0].parquet_columns();
        assert_eq!(cols.len(), 2);
        assert!(cols[0].dictionary_page_offset().is_none());
        assert!(cols[1].dictionary_page_offset().is_some());
        assert!(cols.iter().all(|c| c.compression() == Compression::Zstd));
        let x: Vec<Option<f64>> = read(&p, None)
            .unwrap()
            .column("x")
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .collect();
        assert!(x
            .iter()
            .enumerate()
            .all(|(i, v)| *v == Some((i % 2) as f64)));
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
