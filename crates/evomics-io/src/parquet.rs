//! Reading Parquet through polars without letting a damaged file crash the process.
//!
//! polars' Parquet decoder panics on some malformed files instead of returning an error (see
//! `guard`); [`read`] and [`column_names`] turn such a panic into an [`IoError::Parquet`] naming
//! the file, with the panic's own report kept off stderr.

use std::path::Path;

use polars::prelude::{DataFrame, ParquetReader, PolarsError, SerReader};

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
