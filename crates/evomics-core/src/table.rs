//! Output tables of the stages: a name, typed columns and rows of typed cells.
//!
//! A stage result knows its tables ([`StageTables`]): the columns and their kinds are written
//! once, next to the result type, and `evomics-io` renders them as TSV (numbers in one fixed
//! format, text escaped for spreadsheets) and as Parquet (numbers as float64/int64 with nulls,
//! text as UTF-8). A missing or undefined number is a [`Cell::Na`], never a sentinel value.

use serde::{Deserialize, Serialize};

/// The kind of a column: what its cells hold and how writers encode them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Text (ids, names, labels, lists joined with `;`).
    Text,
    /// Whole numbers (counts, ranks, fold indices).
    Int,
    /// Real numbers.
    Float,
    /// `true` / `false`.
    Bool,
}

/// One cell. `Na` is a missing or undefined value of any kind (written `NA` in TSV, null in
/// Parquet).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Cell {
    /// A text value.
    Text(String),
    /// A whole number.
    Int(i64),
    /// A real number; a non-finite value is written as `NA` (see [`Cell::float`]).
    Float(f64),
    /// A truth value.
    Bool(bool),
    /// No value.
    Na,
}

impl Cell {
    /// A real number; `NaN` and infinities become [`Cell::Na`] (no output holds them).
    pub fn float(x: f64) -> Cell {
        if x.is_finite() {
            Cell::Float(x)
        } else {
            Cell::Na
        }
    }

    /// An optional real number (`None` and non-finite values become [`Cell::Na`]).
    pub fn opt(x: Option<f64>) -> Cell {
        x.map_or(Cell::Na, Cell::float)
    }

    /// The kind this cell holds, `None` for [`Cell::Na`].
    pub fn kind(&self) -> Option<Kind> {
        match self {
            Cell::Text(_) => Some(Kind::Text),
            Cell::Int(_) => Some(Kind::Int),
            Cell::Float(_) => Some(Kind::Float),
            Cell::Bool(_) => Some(Kind::Bool),
            Cell::Na => None,
        }
    }

    /// The number in a numeric cell.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Float(x) => Some(*x),
            Cell::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The text of a text cell.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}

impl From<&String> for Cell {
    fn from(s: &String) -> Cell {
        Cell::Text(s.clone())
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}

impl From<Option<String>> for Cell {
    fn from(s: Option<String>) -> Cell {
        s.map_or(Cell::Na, Cell::Text)
    }
}

impl From<f64> for Cell {
    fn from(x: f64) -> Cell {
        Cell::float(x)
    }
}

impl From<Option<f64>> for Cell {
    fn from(x: Option<f64>) -> Cell {
        Cell::opt(x)
    }
}

impl From<usize> for Cell {
    fn from(i: usize) -> Cell {
        i64::try_from(i).map_or(Cell::Na, Cell::Int)
    }
}

impl From<Option<usize>> for Cell {
    fn from(i: Option<usize>) -> Cell {
        i.map_or(Cell::Na, Cell::from)
    }
}

impl From<i64> for Cell {
    fn from(i: i64) -> Cell {
        Cell::Int(i)
    }
}

impl From<bool> for Cell {
    fn from(b: bool) -> Cell {
        Cell::Bool(b)
    }
}

/// A column's name and kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSpec {
    /// Column name as written in the header.
    pub name: String,
    /// What the cells hold.
    pub kind: Kind,
}

/// How a table is written besides TSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Formats {
    /// TSV only.
    #[default]
    Tsv,
    /// TSV and Parquet (same columns, typed).
    TsvAndParquet,
    /// Parquet only (matrices too large for a useful TSV, e.g. voom's weights).
    Parquet,
}

/// A rectangular table of typed cells with a file stem (`name`): `name.tsv` (and
/// `name.parquet`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// File stem, e.g. `samples` or `contrast_ADSC_vs_BM`.
    pub name: String,
    /// The columns.
    pub columns: Vec<ColumnSpec>,
    /// Rows, each with one cell per column whose kind is the column's (or `Na`).
    pub rows: Vec<Vec<Cell>>,
    /// Formats to write.
    pub formats: Formats,
}

impl Table {
    /// An empty table.
    pub fn new(name: impl Into<String>) -> Table {
        Table {
            name: name.into(),
            columns: Vec::new(),
            rows: Vec::new(),
            formats: Formats::Tsv,
        }
    }

    /// Add a column (builder style; before any row is pushed).
    pub fn col(mut self, name: impl Into<String>, kind: Kind) -> Table {
        self.add_col(name, kind);
        self
    }

    /// Add a column in place (before any row is pushed).
    pub fn add_col(&mut self, name: impl Into<String>, kind: Kind) {
        debug_assert!(self.rows.is_empty(), "columns are added before rows");
        self.columns.push(ColumnSpec {
            name: name.into(),
            kind,
        });
    }

    /// Add several columns of one kind.
    pub fn cols<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
        kind: Kind,
    ) -> Table {
        for n in names {
            self.add_col(n, kind);
        }
        self
    }

    /// Also write the table as Parquet.
    pub fn with_parquet(mut self) -> Table {
        self.formats = Formats::TsvAndParquet;
        self
    }

    /// Write the table as Parquet only (`name.parquet`).
    pub fn parquet_only(mut self) -> Table {
        self.formats = Formats::Parquet;
        self
    }

    /// Append a row. Its length and cell kinds must match the columns: a mismatch is a bug in
    /// the code building the table, caught by [`Table::check`] before anything is written.
    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.rows.len()
    }

    /// Position of a column.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The cells of a column.
    pub fn column(&self, name: &str) -> Option<impl Iterator<Item = &Cell> + '_> {
        let k = self.position(name)?;
        Some(self.rows.iter().map(move |r| &r[k]))
    }

    /// Check that every row has one cell per column, of the column's kind (or `Na`), and that
    /// column names are unique and non-empty.
    pub fn check(&self) -> Result<(), String> {
        for (i, c) in self.columns.iter().enumerate() {
            if c.name.is_empty() {
                return Err(format!(
                    "table '{}': column {} has no name",
                    self.name,
                    i + 1
                ));
            }
            if self.columns[..i].iter().any(|d| d.name == c.name) {
                return Err(format!(
                    "table '{}': column '{}' occurs twice",
                    self.name, c.name
                ));
            }
        }
        for (r, row) in self.rows.iter().enumerate() {
            if row.len() != self.columns.len() {
                return Err(format!(
                    "table '{}', row {}: {} cells for {} columns",
                    self.name,
                    r + 1,
                    row.len(),
                    self.columns.len()
                ));
            }
            for (cell, spec) in row.iter().zip(&self.columns) {
                if let Some(k) = cell.kind() {
                    if k != spec.kind {
                        return Err(format!(
                            "table '{}', row {}, column '{}': a {k:?} cell in a {:?} column",
                            self.name,
                            r + 1,
                            spec.name,
                            spec.kind
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_checks() {
        let mut t = Table::new("x")
            .col("id", Kind::Text)
            .col("n", Kind::Int)
            .col("v", Kind::Float);
        t.push(vec!["a".into(), 3usize.into(), f64::NAN.into()]);
        t.push(vec!["b".into(), Cell::Na, Some(0.5).into()]);
        assert!(t.check().is_ok());
        assert_eq!(t.rows[0][2], Cell::Na, "NaN is written as NA");
        t.push(vec!["c".into(), 1.5.into(), Cell::Na]);
        assert!(t
            .check()
            .unwrap_err()
            .contains("Float cell in a Int column"));
        let dup = Table::new("d").col("a", Kind::Text).col("a", Kind::Int);
        assert!(dup.check().unwrap_err().contains("twice"));
    }
}

/// A finite double as the text every evomics table writes: the shortest decimal that reads back
/// to the same double, in fixed notation for `1e-4 ≤ |x| < 1e15` (and 0) and with an exponent
/// otherwise (`2.1825255858384526e-11`, `1e15`), as R and Python print. Fixed notation of tiny
/// p-values (`0.000000000000000000956…`) is exact too, but pandas' default CSV parser reads such
/// long literals as 0 or rounds them; with the exponent, pandas (≥ 2.x), R's `read.delim`,
/// polars and Rust read back every value bit for bit. Non-finite values return `None`: the
/// writer decides their spelling (`NA`, `Inf`).
pub fn format_float(x: f64) -> Option<String> {
    if !x.is_finite() {
        return None;
    }
    let a = x.abs();
    Some(if a != 0.0 && !(1e-4..1e15).contains(&a) {
        format!("{x:e}")
    } else {
        format!("{x}")
    })
}

#[cfg(test)]
mod format_tests {
    use super::format_float;

    #[test]
    fn small_and_large_numbers_get_an_exponent_and_read_back_exactly() {
        let cases = [
            (0.0, "0"),
            (-0.0, "-0"),
            (0.5, "0.5"),
            (1e-4, "0.0001"),
            (9.99e-5, "9.99e-5"),
            (2.1825255858384526e-11, "2.1825255858384526e-11"),
            (9.56133968414222e-19, "9.56133968414222e-19"),
            (123456.789, "123456.789"),
            (999999999999999.9, "999999999999999.9"),
            (1e15, "1e15"),
            (-3.5e20, "-3.5e20"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "5e-324"),
        ];
        for (x, text) in cases {
            let s = format_float(x).unwrap();
            assert_eq!(s, text);
            assert_eq!(s.parse::<f64>().unwrap().to_bits(), x.to_bits(), "{s}");
        }
        assert_eq!(format_float(f64::NAN), None);
        assert_eq!(format_float(f64::INFINITY), None);
    }
}
