//! Sample annotations as colour groups: every level of a sample column gets one style for the
//! whole report, so `source = BM-MSC` looks the same in the QC bars, the PCA and the heatmap.

use std::collections::BTreeMap;

use crate::model::SampleTable;
use crate::svg::palette::{level_style, natural_cmp, Style, NA_STYLE};
use crate::svg::{Key, LegendEntry};

/// Label of a missing level.
pub(crate) const NA: &str = "NA";

/// The levels of one sample column and each sample's level.
#[derive(Debug, Clone)]
pub(crate) struct ColumnLevels {
    /// Column name.
    pub(crate) name: String,
    /// Levels in natural order; a level's position picks its style.
    pub(crate) levels: Vec<String>,
    values: BTreeMap<String, Option<String>>,
}

impl ColumnLevels {
    /// The levels of column `name` of `table`, or `None` when there is no such column.
    pub(crate) fn new(table: Option<&SampleTable>, name: &str) -> Option<ColumnLevels> {
        let table = table?;
        let j = table.columns.iter().position(|c| c == name)?;
        let values: BTreeMap<String, Option<String>> = table
            .rows
            .iter()
            .map(|r| (r.sample_id.clone(), r.values.get(j).cloned().flatten()))
            .collect();
        let mut levels: Vec<String> = values.values().flatten().cloned().collect();
        levels.sort_by(|a, b| natural_cmp(a, b));
        levels.dedup();
        Some(ColumnLevels {
            name: name.to_string(),
            levels,
            values,
        })
    }

    /// The sample's level; `None` when missing or when the sample is not in the table.
    pub(crate) fn value(&self, sample: &str) -> Option<&str> {
        self.values.get(sample).and_then(|v| v.as_deref())
    }

    /// The sample's level as text (`NA` when missing).
    pub(crate) fn label(&self, sample: &str) -> &str {
        self.value(sample).unwrap_or(NA)
    }

    /// The style of a level (`None` = missing).
    pub(crate) fn style_of(&self, level: Option<&str>) -> Style {
        level
            .and_then(|l| self.levels.iter().position(|x| x == l))
            .map_or(NA_STYLE, level_style)
    }

    /// The style of a sample.
    pub(crate) fn style(&self, sample: &str) -> Style {
        self.style_of(self.value(sample))
    }

    /// Legend entries for the levels the given samples have, in level order, `NA` last.
    pub(crate) fn legend<'a>(
        &self,
        samples: impl IntoIterator<Item = &'a str>,
    ) -> Vec<LegendEntry> {
        let mut present = vec![false; self.levels.len()];
        let mut na = false;
        for s in samples {
            match self
                .value(s)
                .and_then(|l| self.levels.iter().position(|x| x == l))
            {
                Some(i) => present[i] = true,
                None => na = true,
            }
        }
        let mut out: Vec<LegendEntry> = self
            .levels
            .iter()
            .enumerate()
            .filter(|(i, _)| present[*i])
            .map(|(i, l)| LegendEntry {
                label: l.clone(),
                key: Key::Marker(level_style(i)),
            })
            .collect();
        if na {
            out.push(LegendEntry {
                label: NA.into(),
                key: Key::Marker(NA_STYLE),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SampleRow;

    fn table() -> SampleTable {
        let row = |id: &str, v: Option<&str>| SampleRow {
            sample_id: id.into(),
            values: vec![v.map(str::to_string)],
        };
        SampleTable {
            columns: vec!["batch".into()],
            rows: vec![
                row("s1", Some("b10")),
                row("s2", Some("b2")),
                row("s3", None),
                row("s4", Some("b2")),
            ],
        }
    }

    #[test]
    fn levels_are_natural_ordered_and_styles_stable() {
        let t = table();
        let c = ColumnLevels::new(Some(&t), "batch").unwrap();
        assert_eq!(c.levels, ["b2", "b10"]);
        assert_eq!(c.style("s2"), level_style(0));
        assert_eq!(c.style("s1"), level_style(1));
        assert_eq!(c.style("s3"), NA_STYLE);
        assert_eq!(c.style("unknown"), NA_STYLE);
        assert_eq!(c.label("s3"), "NA");
        assert!(ColumnLevels::new(Some(&t), "source").is_none());
        assert!(ColumnLevels::new(None, "batch").is_none());
    }

    #[test]
    fn legend_lists_present_levels_with_global_colours() {
        let t = table();
        let c = ColumnLevels::new(Some(&t), "batch").unwrap();
        let l = c.legend(["s1", "s3"]);
        let labels: Vec<&str> = l.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(labels, ["b10", "NA"]);
        assert!(matches!(l[0].key, Key::Marker(s) if s == level_style(1)));
    }
}
