//! Plain TSV tables for stage outputs: a header and rows of text cells, written atomically.

use std::path::Path;

use crate::atomic::write_file_atomic;
use crate::error::Result;

/// A rectangular text table with a header, written as TSV.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Table {
        Table {
            columns: columns.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Append a row; it must have one cell per column.
    pub fn push(&mut self, row: Vec<String>) {
        debug_assert_eq!(
            row.len(),
            self.columns.len(),
            "row length matches the header"
        );
        self.rows.push(row);
    }

    /// TSV text: header, rows, `\n` line ends. Tabs and newlines inside cells become spaces.
    pub fn to_tsv(&self) -> String {
        let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
        let mut out = self
            .columns
            .iter()
            .map(|c| clean(c))
            .collect::<Vec<_>>()
            .join("\t");
        out.push('\n');
        for r in &self.rows {
            out.push_str(&r.iter().map(|c| clean(c)).collect::<Vec<_>>().join("\t"));
            out.push('\n');
        }
        out
    }

    /// Write [`Table::to_tsv`] to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_file_atomic(path, self.to_tsv().as_bytes())
    }

    /// Write the table as Parquet: the named columns as float64 (`NA` → null), the others as
    /// text (`large_string`, see [`crate::parquet`]). A numeric column holding text other than
    /// `NA` is an error.
    pub fn write_parquet(&self, path: &Path, numeric: &[&str]) -> Result<()> {
        use crate::parquet::{write_file, OutColumn};
        let mut cols = Vec::with_capacity(self.columns.len());
        for (k, name) in self.columns.iter().enumerate() {
            if numeric.contains(&name.as_str()) {
                let mut v: Vec<Option<f64>> = Vec::with_capacity(self.rows.len());
                for (i, r) in self.rows.iter().enumerate() {
                    let cell = r[k].as_str();
                    v.push(match cell {
                        "NA" | "" => None,
                        t => Some(t.parse::<f64>().map_err(|_| crate::error::IoError::Store {
                            path: path.to_path_buf(),
                            problem: format!(
                                "row {}, column '{name}': '{}' is not a number",
                                i + 1,
                                crate::text::clip(t)
                            ),
                        })?),
                    });
                }
                cols.push(OutColumn::f64(name, move || v));
            } else {
                cols.push(OutColumn::text(name, move || {
                    self.rows.iter().map(move |r| Some(r[k].as_str()))
                }));
            }
        }
        write_file(path, self.rows.len(), cols)
    }
}

/// A number as text: shortest round-trip form, `NA` for `None` or a non-finite value.
pub fn num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => "NA".to_string(),
    }
}

/// A finite number as text (`NA` when not finite).
pub fn f(x: f64) -> String {
    num(Some(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_tsv_with_na() {
        let mut t = Table::new(["id", "x"]);
        t.push(vec!["a\tb".into(), num(None)]);
        t.push(vec!["c".into(), f(0.5)]);
        assert_eq!(t.to_tsv(), "id\tx\na b\tNA\nc\t0.5\n");
        assert_eq!(f(f64::NAN), "NA");
    }
}
