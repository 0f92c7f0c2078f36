//! Sample map: which column of which assay holds which biological unit.
//!
//! Proteome and small-RNA data often come from different isolations, or from different subsets
//! of a lab's EV preparations. A sample map is a long table with one row per assay column:
//!
//! ```text
//! unit_id   assay     column
//! EV001     proteome  MS_2024_017
//! EV001     mirna     LIB-A03
//! EV002     proteome  MS_2024_018
//! ```
//!
//! `unit_id` is a sample of the sheet (one preparation; its donor, source and potency are in the
//! sheet), `assay` a layer name, `column` the header (or derived sample name) of that unit in
//! the layer's file. A unit may be missing from an assay: the layer then does not hold it, and
//! analyses that need several layers use the units in all of them (`train` lists the others
//! with the reason). A unit has at most one column per assay: technical replicates are combined
//! before ingest, or given sheet rows of their own with a shared column that cross-validation
//! groups by (`[cv] group`), so that they never sit on both sides of a split.
//!
//! This is the long form of the per-layer sheet columns (`<layer>_column`) that
//! [`crate::matrix::MatchOptions`] also accepts.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use evomics_core::SampleSheet;

use crate::error::{IoError, Result};
use crate::text::{clip, read_table};

/// One row of a sample map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    /// The unit (a sheet sample id).
    pub unit: String,
    /// The assay (layer name).
    pub assay: String,
    /// The unit's column in the assay's file.
    pub column: String,
    /// 1-based line of the map file.
    pub line: u64,
}

/// A sample map read from a file (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleMap {
    /// The file.
    pub path: PathBuf,
    /// Its rows in file order.
    pub entries: Vec<MapEntry>,
}

/// The three columns a sample map must have.
pub const MAP_COLUMNS: [&str; 3] = ["unit_id", "assay", "column"];

impl SampleMap {
    /// Read a tab- or comma-separated map (gzip allowed). Header names are matched without
    /// regard to case; other columns are ignored. An empty field, a unit with two columns in
    /// one assay and a column given to two units are errors naming their lines.
    pub fn read(path: &Path) -> Result<SampleMap> {
        let mut t = read_table(path, None)?;
        let find = |name: &str| {
            t.header
                .iter()
                .position(|h| h.eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    IoError::layout(
                        path,
                        format!(
                            "no column '{name}' in the header; a sample map has the columns unit_id, assay and column (one row per assay column), found: {}",
                            t.header.iter().map(|h| clip(h)).collect::<Vec<_>>().join(", ")
                        ),
                    )
                })
        };
        let (iu, ia, ic) = (find("unit_id")?, find("assay")?, find("column")?);
        let mut entries = Vec::new();
        let mut by_unit: HashMap<(String, String), u64> = HashMap::new();
        let mut by_column: HashMap<(String, String), (String, u64)> = HashMap::new();
        while let Some(row) = t.rows.next_row()? {
            let (unit, assay, column) = (row.get(iu), row.get(ia), row.get(ic));
            for (name, v) in MAP_COLUMNS.iter().zip([unit, assay, column]) {
                if v.is_empty() {
                    return Err(IoError::Parse {
                        path: path.to_path_buf(),
                        line: row.line,
                        col: format!(", column '{name}'"),
                        problem: "empty; every row names a unit, an assay and the unit's column in that assay (leave out the row of a unit an assay did not measure)".into(),
                    });
                }
            }
            if let Some(first) = by_unit.insert((unit.into(), assay.into()), row.line) {
                return Err(IoError::Parse {
                    path: path.to_path_buf(),
                    line: row.line,
                    col: ", column 'unit_id'".into(),
                    problem: format!(
                        "unit '{}' already has a column in assay '{}' (line {first}); a unit has one column per assay: combine technical replicates before ingest, or give each replicate a sheet row of its own and group cross-validation by a shared column",
                        clip(unit),
                        clip(assay)
                    ),
                });
            }
            if let Some((other, first)) =
                by_column.insert((assay.into(), column.into()), (unit.to_string(), row.line))
            {
                return Err(IoError::Parse {
                    path: path.to_path_buf(),
                    line: row.line,
                    col: ", column 'column'".into(),
                    problem: format!(
                        "column '{}' of assay '{}' is already unit '{}' (line {first}); a column holds one unit",
                        clip(column),
                        clip(assay),
                        clip(&other)
                    ),
                });
            }
            entries.push(MapEntry {
                unit: unit.into(),
                assay: assay.into(),
                column: column.into(),
                line: row.line,
            });
        }
        if entries.is_empty() {
            return Err(IoError::layout(
                path,
                "the sample map has no rows; give one row per assay column (unit_id, assay, column)",
            ));
        }
        Ok(SampleMap {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// Check the map against the sheet and the layers being ingested: every unit is a sheet
    /// sample and every assay one of `layers`.
    pub fn check(&self, sheet: &SampleSheet, layers: &[&str]) -> Result<()> {
        let ids: std::collections::HashSet<&str> =
            sheet.sample_ids().iter().map(String::as_str).collect();
        for e in &self.entries {
            if !ids.contains(e.unit.as_str()) {
                return Err(IoError::Parse {
                    path: self.path.clone(),
                    line: e.line,
                    col: ", column 'unit_id'".into(),
                    problem: format!(
                        "unit '{}' is not a sample of the sheet; units are the sheet's sample ids (add the preparation to the sheet or correct the id)",
                        clip(&e.unit)
                    ),
                });
            }
            if !layers.contains(&e.assay.as_str()) {
                return Err(IoError::Parse {
                    path: self.path.clone(),
                    line: e.line,
                    col: ", column 'assay'".into(),
                    problem: format!(
                        "assay '{}' is not a layer being ingested (layers: {}); an assay is a --layer name",
                        clip(&e.assay),
                        layers.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    /// The unit → column map of one assay.
    pub fn assay(&self, assay: &str) -> BTreeMap<String, String> {
        self.entries
            .iter()
            .filter(|e| e.assay == assay)
            .map(|e| (e.unit.clone(), e.column.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &str) -> Result<SampleMap> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("map.tsv");
        std::fs::write(&p, text).unwrap();
        SampleMap::read(&p)
    }

    #[test]
    fn reads_rows_per_assay() {
        let m = map("Unit_ID\tassay\tcolumn\tnote\nEV1\tproteome\tMS1\tx\nEV1\tmirna\tL1\t\nEV2\tproteome\tMS2\t\n")
            .unwrap();
        assert_eq!(m.entries.len(), 3);
        let p = m.assay("proteome");
        assert_eq!(p.get("EV2").map(String::as_str), Some("MS2"));
        assert_eq!(m.assay("mirna").len(), 1);
        let sheet = SampleSheet::new(vec!["EV1".into(), "EV2".into()]).unwrap();
        m.check(&sheet, &["proteome", "mirna"]).unwrap();
        let e = m.check(&sheet, &["proteome"]).unwrap_err().to_string();
        assert!(
            e.contains(":3, column 'assay'") && e.contains("'mirna'"),
            "{e}"
        );
        let one = SampleSheet::new(vec!["EV1".into()]).unwrap();
        let e = m
            .check(&one, &["proteome", "mirna"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":4, column 'unit_id'") && e.contains("'EV2'"),
            "{e}"
        );
    }

    #[test]
    fn replicates_duplicates_and_gaps_are_errors_with_lines() {
        let e = map("unit_id\tassay\tcolumn\nEV1\tproteome\tMS1\nEV1\tproteome\tMS1b\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":3, column 'unit_id'") && e.contains("line 2"),
            "{e}"
        );
        assert!(e.contains("technical replicates"), "{e}");
        let e = map("unit_id\tassay\tcolumn\nEV1\tproteome\tMS1\nEV2\tproteome\tMS1\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":3, column 'column'") && e.contains("'EV1'"),
            "{e}"
        );
        let e = map("unit_id\tassay\tcolumn\nEV1\t\tMS1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2, column 'assay'"), "{e}");
        let e = map("unit\tassay\tcolumn\nEV1\tproteome\tMS1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no column 'unit_id'"), "{e}");
        let e = map("unit_id\tassay\tcolumn\n").unwrap_err().to_string();
        assert!(e.contains("no rows"), "{e}");
    }
}
