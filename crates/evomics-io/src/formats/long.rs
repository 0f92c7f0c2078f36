//! Pivoting long reports (one row per precursor × run, protein quantities repeated) into a
//! protein × run matrix, collapsing identical repeats and refusing conflicting ones.

use std::collections::HashMap;

use ndarray::Array2;

use evomics_core::ValueFlag;

/// Where a long-report row came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loc {
    /// 1-based line of a text file.
    Line(u64),
    /// 1-based row of a Parquet file.
    Row(usize),
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Loc::Line(l) => write!(f, "line {l}"),
            Loc::Row(r) => write!(f, "row {r}"),
        }
    }
}

/// Two rows that give different quantities for the same protein and run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Conflict {
    pub feature: String,
    pub run: String,
    pub first: (Option<f64>, Loc),
    pub second: (Option<f64>, Loc),
}

impl Conflict {
    /// A message naming both rows and how to fix the input.
    pub fn message(&self, quantity: &str) -> String {
        let show = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_else(|| "missing".into());
        format!(
            "{quantity} of protein group '{}' in run '{}' is {} here but {} on {}; repeated rows of one protein group and run must agree. The report may concatenate two analyses — export one report per analysis",
            self.feature,
            self.run,
            show(self.second.0),
            show(self.first.0),
            self.first.1
        )
    }
}

/// Why a row could not be added to a [`Pivot`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PivotError {
    /// The row disagrees with an earlier one.
    Conflict(Box<Conflict>),
    /// Features × runs would exceed the cell limit.
    TooLarge { features: usize, runs: usize },
}

impl PivotError {
    /// A message naming the rows or the limit, and how to fix the input.
    pub fn message(&self, quantity: &str) -> String {
        match self {
            PivotError::Conflict(c) => c.message(quantity),
            PivotError::TooLarge { features, runs } => format!(
                "{features} protein groups × {runs} runs would exceed {} cells, the limit of one layer (docs/reliability.md); is this one analysis?",
                crate::text::LIMITS.max_cells
            ),
        }
    }
}

/// Accumulates (feature, run, value) rows in first-appearance order.
#[derive(Debug, Default)]
pub(crate) struct Pivot {
    pub features: Vec<String>,
    feature_index: HashMap<String, usize>,
    pub runs: Vec<String>,
    run_index: HashMap<String, usize>,
    cells: HashMap<(usize, usize), (Option<f64>, Loc)>,
    /// Rows that repeated an earlier (feature, run) with the same value.
    pub repeats: usize,
}

impl Pivot {
    /// Add one row; returns the feature's index, or the conflict with an earlier row.
    pub fn add(
        &mut self,
        feature: &str,
        run: &str,
        value: Option<f64>,
        loc: Loc,
    ) -> Result<usize, PivotError> {
        let (fi, rj) = (
            self.feature_index.get(feature).copied(),
            self.run_index.get(run).copied(),
        );
        if fi.is_none() || rj.is_none() {
            let f = self.features.len() + usize::from(fi.is_none());
            let r = self.runs.len() + usize::from(rj.is_none());
            if f as u64 * r as u64 > crate::text::LIMITS.max_cells {
                return Err(PivotError::TooLarge {
                    features: f,
                    runs: r,
                });
            }
        }
        let i = match fi {
            Some(i) => i,
            None => {
                self.features.push(feature.to_string());
                self.feature_index
                    .insert(feature.to_string(), self.features.len() - 1);
                self.features.len() - 1
            }
        };
        let j = match rj {
            Some(j) => j,
            None => {
                self.runs.push(run.to_string());
                self.run_index.insert(run.to_string(), self.runs.len() - 1);
                self.runs.len() - 1
            }
        };
        match self.cells.get(&(i, j)) {
            Some((prev, prev_loc)) => {
                let same = match (prev, value) {
                    (None, None) => true,
                    (Some(a), Some(b)) => a.to_bits() == b.to_bits(),
                    _ => false,
                };
                if !same {
                    return Err(PivotError::Conflict(Box::new(Conflict {
                        feature: feature.to_string(),
                        run: run.to_string(),
                        first: (*prev, *prev_loc),
                        second: (value, loc),
                    })));
                }
                self.repeats += 1;
            }
            None => {
                self.cells.insert((i, j), (value, loc));
            }
        }
        Ok(i)
    }

    /// The features × runs values and flags; a (feature, run) never seen is missing.
    pub fn matrix(&mut self) -> (Array2<f64>, Array2<ValueFlag>) {
        let shape = (self.features.len(), self.runs.len());
        let mut values = Array2::from_elem(shape, f64::NAN);
        let mut flags = Array2::from_elem(shape, ValueFlag::Missing);
        for ((i, j), (v, _)) in std::mem::take(&mut self.cells) {
            if let Some(x) = v {
                values[[i, j]] = x;
                flags[[i, j]] = ValueFlag::Observed;
            }
        }
        (values, flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_repeats_and_reports_conflicts() {
        let mut p = Pivot::default();
        p.add("PG1", "r1", Some(1.0), Loc::Line(2)).unwrap();
        p.add("PG1", "r1", Some(1.0), Loc::Line(3)).unwrap();
        p.add("PG2", "r2", None, Loc::Line(4)).unwrap();
        assert_eq!(p.repeats, 1);
        let c = p.add("PG1", "r1", Some(2.0), Loc::Line(5)).unwrap_err();
        let m = c.message("PG.Quantity");
        assert!(
            m.contains("'PG1'") && m.contains("'r1'") && m.contains("line 2"),
            "{m}"
        );
        let (v, f) = p.matrix();
        assert_eq!(v[[0, 0]], 1.0);
        assert_eq!(f[[0, 1]], ValueFlag::Missing);
        assert_eq!(f[[1, 0]], ValueFlag::Missing);
    }
}
