//! The sample sheet: one row per EV preparation, with typed known columns and free extra columns.

use serde::{Deserialize, Serialize};

use crate::assay::check_unique;
use crate::error::{CoreError, Result};

/// Known text columns (DESIGN.md): stem-cell source, donor, batch, conditioning, isolation.
pub const KNOWN_TEXT_COLUMNS: [&str; 5] = [
    "source",
    "donor_id",
    "batch",
    "conditioning",
    "isolation_method",
];

/// Known numeric dose columns (MISEV dose normalization): must be non-negative numbers.
pub const KNOWN_DOSE_COLUMNS: [&str; 3] = ["particle_count", "protein_ug", "cell_equivalents"];

/// The values of one sample-sheet column. Empty cells and `NA` are `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "values", rename_all = "snake_case")]
pub enum ColumnValues {
    /// Free text or categorical values.
    Text(Vec<Option<String>>),
    /// Numbers.
    Numeric(Vec<Option<f64>>),
}

impl ColumnValues {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            ColumnValues::Text(v) => v.len(),
            ColumnValues::Numeric(v) => v.len(),
        }
    }

    /// True when the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cell as text (numbers rendered with Rust's shortest round-trip form).
    pub fn text(&self, row: usize) -> Option<String> {
        match self {
            ColumnValues::Text(v) => v[row].clone(),
            ColumnValues::Numeric(v) => v[row].map(|x| x.to_string()),
        }
    }

    fn select(&self, rows: &[usize]) -> ColumnValues {
        match self {
            ColumnValues::Text(v) => {
                ColumnValues::Text(rows.iter().map(|&i| v[i].clone()).collect())
            }
            ColumnValues::Numeric(v) => ColumnValues::Numeric(rows.iter().map(|&i| v[i]).collect()),
        }
    }
}

/// One named sample-sheet column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// Column name, as in the sheet's header.
    pub name: String,
    /// Its values, one per sample.
    pub values: ColumnValues,
}

/// One row per sample: unique `sample_id`s plus named columns in the sheet's order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SampleSheet {
    sample_ids: Vec<String>,
    columns: Vec<Column>,
}

impl SampleSheet {
    /// A sheet with the given unique sample ids and no columns.
    pub fn new(sample_ids: Vec<String>) -> Result<SampleSheet> {
        for id in &sample_ids {
            if id.trim().is_empty() {
                return Err(CoreError::Invalid(
                    "a sample id is empty; every row of the sample sheet needs a sample_id".into(),
                ));
            }
        }
        check_unique(&sample_ids, "sample", " in the sample sheet")?;
        Ok(SampleSheet {
            sample_ids,
            columns: Vec::new(),
        })
    }

    /// Build from raw text cells, typing each column: known dose columns must be numeric
    /// and non-negative; other columns are numeric when every non-empty cell parses as a
    /// finite number, text otherwise. Known text columns stay text even when they look numeric
    /// (donor `31` is a name, not a quantity).
    pub fn from_text_columns(
        sample_ids: Vec<String>,
        columns: Vec<(String, Vec<Option<String>>)>,
    ) -> Result<SampleSheet> {
        let mut sheet = SampleSheet::new(sample_ids)?;
        for (name, cells) in columns {
            let values = type_column(&name, &cells, &sheet.sample_ids)?;
            sheet.push_column(Column { name, values })?;
        }
        Ok(sheet)
    }

    /// Append a column; its length must match and its name must be new.
    pub fn push_column(&mut self, column: Column) -> Result<()> {
        if column.values.len() != self.sample_ids.len() {
            return Err(CoreError::Invalid(format!(
                "column '{}' has {} values for {} samples",
                column.name,
                column.values.len(),
                self.sample_ids.len()
            )));
        }
        if column.name == "sample_id" || self.column(&column.name).is_some() {
            return Err(CoreError::DuplicateId {
                kind: "column",
                id: column.name,
                context: " in the sample sheet".into(),
            });
        }
        self.columns.push(column);
        Ok(())
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.sample_ids.len()
    }

    /// True when the sheet has no samples.
    pub fn is_empty(&self) -> bool {
        self.sample_ids.is_empty()
    }

    /// Sample ids in sheet order.
    pub fn sample_ids(&self) -> &[String] {
        &self.sample_ids
    }

    /// Columns in sheet order (without `sample_id`).
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The columns that group the samples, in sheet order: text columns with at least two
    /// levels, every level on at least two samples, and fewer levels than half the samples
    /// (so ids, free-text notes and one-sample labels are not groups). Stages that need a
    /// grouping and were given none take the first; nothing assumes a column name.
    pub fn grouping_columns(&self) -> Vec<String> {
        let n = self.len();
        self.columns
            .iter()
            .filter_map(|c| {
                let ColumnValues::Text(v) = &c.values else {
                    return None;
                };
                let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
                for s in v.iter().flatten() {
                    *counts.entry(s.as_str()).or_default() += 1;
                }
                let ok =
                    counts.len() >= 2 && 2 * counts.len() <= n && counts.values().all(|&k| k >= 2);
                ok.then(|| c.name.clone())
            })
            .collect()
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// A column by name, or an error listing the available columns.
    pub fn require_column(&self, name: &str) -> Result<&Column> {
        self.column(name).ok_or_else(|| CoreError::NotFound {
            kind: "sample sheet column",
            name: name.to_string(),
            hint: format!(
                "; the sheet has: {}",
                self.columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }

    /// Row of a sample id.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.sample_ids.iter().position(|x| x == id)
    }

    /// Text value of a column for one sample.
    pub fn text(&self, column: &str, sample: &str) -> Option<String> {
        let c = self.column(column)?;
        let row = self.position(sample)?;
        c.values.text(row)
    }

    /// Keep the given rows, in the given order.
    /// The sheet rows of `samples`, in that order; an error names a sample the sheet lacks.
    pub fn for_samples(&self, samples: &[String]) -> Result<SampleSheet> {
        let rows = samples
            .iter()
            .map(|s| {
                self.position(s).ok_or_else(|| CoreError::NotFound {
                    kind: "sample",
                    name: s.clone(),
                    hint: " in the sample sheet; every layer sample must be a sheet row".into(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self.select(&rows))
    }

    /// The text value of `column` for each of `samples` (`None` for an empty cell), an error
    /// when the column or a sample is not in the sheet.
    pub fn column_labels(&self, column: &str, samples: &[String]) -> Result<Vec<Option<String>>> {
        let col = self.require_column(column)?;
        samples
            .iter()
            .map(|s| {
                let row = self.position(s).ok_or_else(|| CoreError::NotFound {
                    kind: "sample",
                    name: s.clone(),
                    hint: " in the sample sheet".into(),
                })?;
                Ok(col.values.text(row))
            })
            .collect()
    }

    /// The rows `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> SampleSheet {
        SampleSheet {
            sample_ids: rows.iter().map(|&i| self.sample_ids[i].clone()).collect(),
            columns: self
                .columns
                .iter()
                .map(|c| Column {
                    name: c.name.clone(),
                    values: c.values.select(rows),
                })
                .collect(),
        }
    }
}

/// True for the cell spellings that mean "no value" in sample sheets.
pub fn is_na_text(s: &str) -> bool {
    matches!(
        s.trim(),
        "" | "NA" | "N/A" | "NaN" | "nan" | "na" | "n/a" | "null" | "NULL" | "#N/A"
    )
}

fn type_column(name: &str, cells: &[Option<String>], ids: &[String]) -> Result<ColumnValues> {
    let norm: Vec<Option<String>> = cells
        .iter()
        .map(|c| {
            c.as_ref()
                .map(|s| s.trim().to_string())
                .filter(|s| !is_na_text(s))
        })
        .collect();
    if KNOWN_TEXT_COLUMNS.contains(&name) {
        return Ok(ColumnValues::Text(norm));
    }
    let is_dose = KNOWN_DOSE_COLUMNS.contains(&name);
    let mut nums = Vec::with_capacity(norm.len());
    // The first `Inf`/`1e999` cell: such a cell would otherwise turn a column of numbers into
    // text, and a numeric label or covariate silently into a factor.
    let mut non_finite: Option<(usize, &str)> = None;
    for (row, cell) in norm.iter().enumerate() {
        match cell {
            None => nums.push(None),
            Some(s) => match s.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => {
                    if is_dose && v < 0.0 {
                        return Err(CoreError::SheetValue {
                            column: name.into(),
                            sample: ids[row].clone(),
                            problem: format!("dose value {v} is negative; doses are counts or masses ≥ 0"),
                        });
                    }
                    nums.push(Some(v))
                }
                Ok(_) => {
                    non_finite.get_or_insert((row, s.as_str()));
                    nums.push(None);
                }
                Err(_) if is_dose => {
                    return Err(CoreError::SheetValue {
                        column: name.into(),
                        sample: ids[row].clone(),
                        problem: format!(
                            "'{s}' is not a number; write the dose as a plain number (e.g. 1.2e9), or leave it empty"
                        ),
                    })
                }
                Err(_) => return Ok(ColumnValues::Text(norm)),
            },
        }
    }
    if nums.iter().all(|v| v.is_none()) {
        if let (Some((row, s)), true) = (non_finite, is_dose) {
            return Err(non_finite_cell(name, &ids[row], s));
        }
        return Ok(ColumnValues::Text(norm));
    }
    if let Some((row, s)) = non_finite {
        return Err(non_finite_cell(name, &ids[row], s));
    }
    Ok(ColumnValues::Numeric(nums))
}

fn non_finite_cell(column: &str, sample: &str, cell: &str) -> CoreError {
    CoreError::SheetValue {
        column: column.into(),
        sample: sample.into(),
        problem: format!(
            "'{cell}' is not a finite number in a column of numbers; write a finite value, or leave the cell empty (NA) when it is unknown"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<Option<String>> {
        v.iter().map(|x| Some(x.to_string())).collect()
    }

    #[test]
    fn types_columns() {
        let sheet = SampleSheet::from_text_columns(
            vec!["a".into(), "b".into()],
            vec![
                ("donor_id".into(), s(&["31", "45"])),
                ("alp_activity".into(), s(&["1.5", "NA"])),
                ("note".into(), s(&["x", "2"])),
                ("particle_count".into(), s(&["1e9", ""])),
            ],
        )
        .unwrap();
        assert!(matches!(
            sheet.column("donor_id").unwrap().values,
            ColumnValues::Text(_)
        ));
        assert_eq!(
            sheet.column("alp_activity").unwrap().values,
            ColumnValues::Numeric(vec![Some(1.5), None])
        );
        assert!(matches!(
            sheet.column("note").unwrap().values,
            ColumnValues::Text(_)
        ));
        assert_eq!(
            sheet.text("particle_count", "a").as_deref(),
            Some("1000000000")
        );
    }

    #[test]
    fn bad_dose_names_sample() {
        let e = SampleSheet::from_text_columns(
            vec!["a".into(), "b".into()],
            vec![("protein_ug".into(), s(&["3", "lots"]))],
        )
        .unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("protein_ug") && m.contains("'b'") && m.contains("lots"),
            "{m}"
        );
        let e = SampleSheet::from_text_columns(
            vec!["a".into()],
            vec![("protein_ug".into(), s(&["-1"]))],
        )
        .unwrap_err();
        assert!(e.to_string().contains("negative"));
    }

    #[test]
    fn infinite_cell_in_a_numeric_column_is_an_error() {
        for (column, cells) in [
            ("alp_activity", ["12.5", "Inf"]),
            ("potency_score", ["-inf", "3"]),
            ("particle_count", ["1e999", ""]),
        ] {
            let e = SampleSheet::from_text_columns(
                vec!["a".into(), "b".into()],
                vec![(column.into(), s(&cells))],
            )
            .unwrap_err()
            .to_string();
            assert!(
                e.contains(column) && e.contains("not a finite number"),
                "{e}"
            );
        }
        // Text that happens to spell infinity stays text when nothing else is a number.
        let sheet = SampleSheet::from_text_columns(
            vec!["a".into(), "b".into()],
            vec![("note".into(), s(&["Infinity", "beyond"]))],
        )
        .unwrap();
        assert!(matches!(
            sheet.column("note").unwrap().values,
            ColumnValues::Text(_)
        ));
    }

    #[test]
    fn duplicate_and_empty_ids() {
        assert!(SampleSheet::new(vec!["a".into(), "a".into()]).is_err());
        assert!(SampleSheet::new(vec![" ".into()]).is_err());
    }

    #[test]
    fn require_column_lists_names() {
        let sheet =
            SampleSheet::from_text_columns(vec!["a".into()], vec![("source".into(), s(&["ADSC"]))])
                .unwrap();
        let e = sheet.require_column("batch").unwrap_err().to_string();
        assert!(e.contains("source"), "{e}");
    }
}
