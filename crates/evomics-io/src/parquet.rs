//! Reading Parquet through polars without letting a damaged file crash the process.
//!
//! polars' Parquet decoder panics on some malformed files instead of returning an error (the
//! fuzz targets found e.g. `assertion left == right` in dictionary decoding and an `unwrap` on
//! "Thrift out of range"), often on one of its worker threads. [`read`] turns such a panic into
//! an [`IoError::Parquet`] naming the file, and keeps the panic's own message off stderr.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use polars::prelude::{DataFrame, ParquetReader, PolarsError, SerReader};

use crate::error::{IoError, Result};

/// Guarded decodes in progress, on any thread.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static HOOK: Once = Once::new();

/// Chain a panic hook that stays silent about panics raised inside polars' Parquet code while a
/// guarded decode runs; every other panic is reported by the previous hook as before.
fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_parquet_decoder = info.location().is_some_and(|l| {
                let f = l.file();
                f.contains("polars-parquet")
                    || f.contains("polars-io")
                    || f.contains("polars-arrow")
            });
            if !(in_parquet_decoder && ACTIVE.load(Ordering::SeqCst) > 0) {
                previous(info);
            }
        }));
    });
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "no message".into())
}

/// Run a polars decode of `path`, mapping its errors and panics to [`IoError::Parquet`].
fn guarded<T>(
    path: &Path,
    decode: impl FnOnce() -> std::result::Result<T, PolarsError>,
) -> Result<T> {
    install_hook();
    ACTIVE.fetch_add(1, Ordering::SeqCst);
    // The closure only builds values it returns; after a panic nothing of it is used again.
    let outcome = catch_unwind(AssertUnwindSafe(decode));
    ACTIVE.fetch_sub(1, Ordering::SeqCst);
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(IoError::Parquet {
            path: path.to_path_buf(),
            message: format!("{e}; the file may be truncated or not Parquet"),
        }),
        Err(panic) => Err(IoError::Parquet {
            path: path.to_path_buf(),
            message: format!(
                "the file is damaged: the Parquet decoder failed ({}); re-create the file, or re-run the stage that wrote it",
                panic_text(panic.as_ref())
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

/// The column names of a Parquet file, without reading its data.
pub fn column_names(path: &Path) -> Result<Vec<String>> {
    let f = open(path)?;
    guarded(path, || {
        ParquetReader::new(f)
            .schema()
            .map(|s| s.iter_names().map(|n| n.to_string()).collect())
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
                panic!("assertion `left == right` failed")
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("values.parquet: Parquet error: the file is damaged"),
            "{e}"
        );
        assert!(e.contains("left == right"), "{e}");
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
