//! Per-group signatures: one-vs-rest moderated statistics and top markers per group.
//!
//! For a grouping column with levels g₁ … g_G (a stem-cell source, a conditioning), the layer is
//! fitted with limma on the cell-means design `~ 0 + group` (one coefficient per group, the
//! group's mean; see [`crate::limma`]), and each group is compared with the others by the
//! contrast
//!
//! ```text
//!   g_i − (Σ_{h≠i} g_h) / (G − 1)
//! ```
//!
//! i.e. the group's mean minus the **unweighted mean of the other groups' means**, so every other
//! group counts the same however many samples it has (a pooled "rest" mean would let the largest
//! group dominate). With two groups the contrasts are g₁ − g₂ and g₂ − g₁. The contrasts are
//! moderated together by `eBayes` and adjusted (BH by default) within each contrast, as limma's
//! `topTable(coef = i)`.
//!
//! Missing values follow `lmFit`: each feature is fitted on its observed samples. A feature with
//! no observation in some group cannot estimate that group's mean, and since every one-vs-rest
//! contrast uses every group mean, all of its contrasts are `NA` (limma reports the same); such
//! features get no marker rank. [`OneVsRest::estimable`] counts the features with results.
//!
//! Markers ([`top_markers`]) are ranked within each group by P.Value (ties: larger |t|, then
//! layer order), among the features with a result whose logFC has the asked direction (up: the
//! feature is higher in the group than in the others).

use evomics_core::{Assay, SampleSheet};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::contrasts::Contrasts;
use crate::design::{syntactic_name, Design};
use crate::error::{Result, StatsError};
use crate::limma::{lm_fit, Block, ContrastTable, EbayesOptions, LimmaResult};

/// Options of [`one_vs_rest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct OneVsRestOptions {
    /// eBayes options (trend, robust, legacy, adjustment).
    pub ebayes: EbayesOptions,
    /// A sample-sheet column whose samples are correlated (e.g. `donor_id`): the fit then uses
    /// limma's `duplicateCorrelation` and blocked GLS.
    pub block: Option<String>,
}

/// One-vs-rest statistics of every group of one column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OneVsRest {
    /// The grouping column.
    pub column: String,
    /// Group labels in design order (first appearance in the sheet).
    pub groups: Vec<String>,
    /// Samples per group in the design.
    pub group_sizes: Vec<usize>,
    /// Layer samples left out for a missing group label.
    pub dropped_samples: Vec<String>,
    /// limma's result: `tables[i]` is group `groups[i]` versus the rest.
    pub result: LimmaResult,
}

impl OneVsRest {
    /// The table of one group.
    pub fn table(&self, group: usize) -> &ContrastTable {
        &self.result.tables[group]
    }

    /// Features with a logFC in the contrasts (all contrasts are estimable or none is).
    pub fn estimable(&self) -> usize {
        self.result
            .tables
            .first()
            .map_or(0, |t| t.rows.iter().filter(|r| r.log_fc.is_some()).count())
    }
}

/// Fit `~ 0 + column` and test every group against the mean of the others (see the module
/// documentation). The layer's values should be on a log scale.
pub fn one_vs_rest(
    assay: &Assay,
    sheet: &SampleSheet,
    column: &str,
    options: &OneVsRestOptions,
) -> Result<OneVsRest> {
    let labels = crate::classical::labels_from_sheet(sheet, column, assay.samples())?;
    let mut groups: Vec<String> = Vec::new();
    let mut kept: Vec<usize> = Vec::new();
    let mut dropped_samples = Vec::new();
    for (j, l) in labels.iter().enumerate() {
        match l {
            Some(l) => {
                if !groups.contains(l) {
                    groups.push(l.clone());
                }
                kept.push(j);
            }
            None => dropped_samples.push(assay.samples()[j].clone()),
        }
    }
    if groups.len() < 2 {
        return Err(StatsError::Column {
            column: column.to_string(),
            problem: format!(
                "has {} group(s) among the layer's samples; one-vs-rest needs at least two",
                groups.len()
            ),
        });
    }
    let coef: Vec<String> = groups.iter().map(|g| syntactic_name(g)).collect();
    for (i, c) in coef.iter().enumerate() {
        if let Some(k) = coef[..i].iter().position(|x| x == c) {
            return Err(StatsError::Column {
                column: column.to_string(),
                problem: format!(
                    "groups '{}' and '{}' both become coefficient '{c}'; rename one",
                    groups[k], groups[i]
                ),
            });
        }
    }
    let mut x = Array2::zeros((kept.len(), groups.len()));
    let mut group_sizes = vec![0usize; groups.len()];
    for (r, &j) in kept.iter().enumerate() {
        let g = groups
            .iter()
            .position(|g| Some(g) == labels[j].as_ref())
            .unwrap_or(0);
        x[[r, g]] = 1.0;
        group_sizes[g] += 1;
    }
    let ids: Vec<String> = kept.iter().map(|&j| assay.samples()[j].clone()).collect();
    let design = Design::from_matrix(ids, x, coef.clone())?;
    let g = groups.len();
    let specs: Vec<String> = (0..g)
        .map(|i| {
            let others: Vec<&str> = (0..g)
                .filter(|&h| h != i)
                .map(|h| coef[h].as_str())
                .collect();
            format!(
                "{}_vs_rest = {} - ({})/{}",
                coef[i],
                coef[i],
                others.join(" + "),
                g - 1
            )
        })
        .collect();
    let contrasts = Contrasts::parse_for(&coef, &specs)?;
    let block = match &options.block {
        Some(b) => Some(Block::from_sheet(sheet, b, &design)?),
        None => None,
    };
    let fit = lm_fit(assay, &design, None, block.as_ref())?;
    let mut result = fit.moderate(&contrasts, &options.ebayes)?;
    result.settings.formula = format!("~ 0 + {column}");
    Ok(OneVsRest {
        column: column.to_string(),
        groups,
        group_sizes,
        dropped_samples,
        result,
    })
}

/// Which side of a one-vs-rest contrast makes a marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MarkerDirection {
    /// Higher in the group than in the others (default).
    #[default]
    Up,
    /// Lower in the group.
    Down,
    /// Either.
    Both,
}

impl MarkerDirection {
    /// `up`, `down` or `both`.
    pub fn name(self) -> &'static str {
        match self {
            MarkerDirection::Up => "up",
            MarkerDirection::Down => "down",
            MarkerDirection::Both => "both",
        }
    }

    /// Parse `up`, `down`, `both`.
    pub fn parse(s: &str) -> Result<MarkerDirection> {
        match s.trim().to_ascii_lowercase().as_str() {
            "up" => Ok(MarkerDirection::Up),
            "down" => Ok(MarkerDirection::Down),
            "both" => Ok(MarkerDirection::Both),
            other => Err(StatsError::Option {
                option: "marker direction".into(),
                problem: format!("'{other}' is not one of up, down, both"),
            }),
        }
    }
}

/// One marker of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// Group label.
    pub group: String,
    /// Row of the feature in the layer.
    pub row: usize,
    /// Rank within the group (1 = strongest).
    pub rank: usize,
}

/// The `n` top markers of every group (all of them when `n` is `None`), groups in design order.
pub fn top_markers(ovr: &OneVsRest, n: Option<usize>, direction: MarkerDirection) -> Vec<Marker> {
    let mut out = Vec::new();
    for (gi, group) in ovr.groups.iter().enumerate() {
        let table = ovr.table(gi);
        let mut cand: Vec<(usize, f64, f64)> = table
            .rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match (r.log_fc, r.t, r.p_value) {
                (Some(lfc), Some(t), Some(p)) => {
                    let keep = match direction {
                        MarkerDirection::Up => lfc > 0.0,
                        MarkerDirection::Down => lfc < 0.0,
                        MarkerDirection::Both => true,
                    };
                    keep.then_some((i, p, t.abs()))
                }
                _ => None,
            })
            .collect();
        cand.sort_by(|a, b| {
            a.1.total_cmp(&b.1)
                .then(b.2.total_cmp(&a.2))
                .then(a.0.cmp(&b.0))
        });
        let take = n.unwrap_or(cand.len()).min(cand.len());
        out.extend(cand[..take].iter().enumerate().map(|(k, c)| Marker {
            group: group.clone(),
            row: c.0,
            rank: k + 1,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::{Column, ColumnValues, Features, LayerKind, ValueScale};

    fn data() -> (Assay, SampleSheet) {
        // 3 groups (A x3, B x3, C x2) x 4 features; F0 high in A, F1 low in B, F2 flat,
        // F3 never observed in C.
        let groups = ["A", "A", "A", "B", "B", "B", "C", "C"];
        let noise = [0.1, -0.2, 0.05, 0.15, -0.1, 0.0, 0.12, -0.08];
        let mut cells = Array2::from_elem((4, 8), None);
        for (j, g) in groups.iter().enumerate() {
            cells[[0, j]] = Some(10.0 + noise[j] + if *g == "A" { 3.0 } else { 0.0 });
            cells[[1, j]] = Some(8.0 - noise[j] - if *g == "B" { 2.0 } else { 0.0 });
            cells[[2, j]] = Some(5.0 + noise[(j + 3) % 8]);
            cells[[3, j]] = (*g != "C").then_some(7.0 + noise[(j + 5) % 8]);
        }
        let samples: Vec<String> = (0..8).map(|j| format!("s{j}")).collect();
        let a = Assay::from_options(
            "p",
            LayerKind::Proteome,
            ValueScale::Log2,
            Features::new((0..4).map(|i| format!("F{i}")).collect()).unwrap(),
            samples.clone(),
            &cells,
        )
        .unwrap();
        let mut sheet = SampleSheet::new(samples).unwrap();
        sheet
            .push_column(Column {
                name: "source".into(),
                values: ColumnValues::Text(groups.iter().map(|g| Some(g.to_string())).collect()),
            })
            .unwrap();
        (a, sheet)
    }

    #[test]
    fn contrasts_are_group_minus_mean_of_other_groups() {
        let (a, sheet) = data();
        let ovr = one_vs_rest(&a, &sheet, "source", &OneVsRestOptions::default()).unwrap();
        assert_eq!(ovr.groups, vec!["A", "B", "C"]);
        assert_eq!(ovr.group_sizes, vec![3, 3, 2]);
        assert_eq!(ovr.estimable(), 3, "F3 has no value in C");
        // logFC of F0 in A = mean(A) - (mean(B) + mean(C))/2, from the raw values
        let v = |i: usize, js: &[usize]| {
            js.iter().map(|&j| a.get(i, j).unwrap()).sum::<f64>() / js.len() as f64
        };
        for (g, own, others) in [
            (0usize, vec![0, 1, 2], [vec![3, 4, 5], vec![6, 7]]),
            (1, vec![3, 4, 5], [vec![0, 1, 2], vec![6, 7]]),
            (2, vec![6, 7], [vec![0, 1, 2], vec![3, 4, 5]]),
        ] {
            for i in 0..3 {
                let want = v(i, &own) - (v(i, &others[0]) + v(i, &others[1])) / 2.0;
                let got = ovr.table(g).rows[i].log_fc.unwrap();
                assert!(
                    (got - want).abs() < 1e-10,
                    "group {g} feature {i}: {got} vs {want}"
                );
            }
            assert!(ovr.table(g).rows[3].log_fc.is_none());
        }
        assert_eq!(ovr.table(0).contrast, "A_vs_rest");
        let m = top_markers(&ovr, Some(1), MarkerDirection::Up);
        assert_eq!(m.len(), 3);
        assert_eq!((m[0].group.as_str(), m[0].row), ("A", 0));
        let down = top_markers(&ovr, Some(1), MarkerDirection::Down);
        let b = down.iter().find(|m| m.group == "B").unwrap();
        assert_eq!(b.row, 1, "F1 is the feature lowest in B");
        assert!(one_vs_rest(&a, &sheet, "nope", &OneVsRestOptions::default()).is_err());
    }
}
