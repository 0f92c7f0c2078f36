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
//! With covariates (`OneVsRestOptions::covariates`, e.g. the conditioning when grouping by
//! source) the design is `~ 0 + group + cov₁ + …` (covariate factors treatment-coded) and the
//! group coefficients are the group means at the covariates' reference; the contrasts are the
//! same combinations of the group coefficients.
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
    /// Sample-sheet columns adjusted for (`~ 0 + group + cov…`): text columns enter as
    /// treatment-coded factors (first level in order of appearance is the reference), numeric
    /// columns as covariates, `factor(col)` reads a numeric column as a factor. A covariate
    /// equal to the grouping column is skipped, so one list can serve several groupings.
    pub covariates: Vec<String>,
}

/// One-vs-rest statistics of every group of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    let covariates: Vec<&String> = options
        .covariates
        .iter()
        .filter(|c| c.as_str() != column)
        .collect();
    let cov_cells: Vec<Covariate> = covariates
        .iter()
        .map(|c| covariate(sheet, c, assay.samples()))
        .collect::<Result<_>>()?;
    let mut groups: Vec<String> = Vec::new();
    let mut kept: Vec<usize> = Vec::new();
    let mut dropped_samples = Vec::new();
    for (j, l) in labels.iter().enumerate() {
        match l {
            Some(l) if cov_cells.iter().all(|c| c.has(j)) => {
                if !groups.contains(l) {
                    groups.push(l.clone());
                }
                kept.push(j);
            }
            _ => dropped_samples.push(assay.samples()[j].clone()),
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
    let g = groups.len();
    // design columns: one indicator per group, then the covariates
    let mut coef: Vec<String> = groups.iter().map(|g| syntactic_name(g)).collect();
    let mut columns: Vec<Vec<f64>> = (0..g)
        .map(|gi| {
            kept.iter()
                .map(|&j| f64::from(u8::from(labels[j].as_ref() == Some(&groups[gi]))))
                .collect()
        })
        .collect();
    for (name, cov) in covariates.iter().zip(&cov_cells) {
        match cov {
            Covariate::Numeric(v) => {
                coef.push(syntactic_name(name));
                columns.push(kept.iter().map(|&j| v[j].unwrap_or(f64::NAN)).collect());
            }
            Covariate::Factor(v) => {
                let mut levels: Vec<&str> = Vec::new();
                for &j in &kept {
                    if let Some(l) = v[j].as_deref() {
                        if !levels.contains(&l) {
                            levels.push(l);
                        }
                    }
                }
                if levels.len() < 2 {
                    return Err(StatsError::Column {
                        column: name.to_string(),
                        problem: format!(
                            "has {} level(s) among the samples used; a covariate factor needs two or more (drop it)",
                            levels.len()
                        ),
                    });
                }
                let base = name
                    .strip_prefix("factor(")
                    .and_then(|r| r.strip_suffix(')'))
                    .unwrap_or(name);
                for l in &levels[1..] {
                    coef.push(syntactic_name(&format!("{base}{l}")));
                    columns.push(
                        kept.iter()
                            .map(|&j| f64::from(u8::from(v[j].as_deref() == Some(*l))))
                            .collect(),
                    );
                }
            }
        }
    }
    for (i, c) in coef.iter().enumerate() {
        if let Some(k) = coef[..i].iter().position(|x| x == c) {
            return Err(StatsError::Column {
                column: column.to_string(),
                problem: format!(
                    "design columns {} and {} are both named '{c}' (a group and a covariate level?); rename a level",
                    k + 1,
                    i + 1
                ),
            });
        }
    }
    let mut x = Array2::zeros((kept.len(), coef.len()));
    for (c, col) in columns.iter().enumerate() {
        for (r, v) in col.iter().enumerate() {
            x[[r, c]] = *v;
        }
    }
    let mut group_sizes = vec![0usize; g];
    for &j in &kept {
        if let Some(gi) = groups.iter().position(|x| Some(x) == labels[j].as_ref()) {
            group_sizes[gi] += 1;
        }
    }
    let ids: Vec<String> = kept.iter().map(|&j| assay.samples()[j].clone()).collect();
    let design = Design::from_matrix(ids, x, coef.clone())?;
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
    result.settings.formula = std::iter::once(format!("~ 0 + {column}"))
        .chain(covariates.iter().map(|c| c.to_string()))
        .collect::<Vec<_>>()
        .join(" + ");
    Ok(OneVsRest {
        column: column.to_string(),
        groups,
        group_sizes,
        dropped_samples,
        result,
    })
}

/// A covariate's values per layer sample.
enum Covariate {
    Numeric(Vec<Option<f64>>),
    Factor(Vec<Option<String>>),
}

impl Covariate {
    fn has(&self, j: usize) -> bool {
        match self {
            Covariate::Numeric(v) => v[j].is_some(),
            Covariate::Factor(v) => v[j].is_some(),
        }
    }
}

/// A covariate's values; `factor(col)` reads a numeric column (e.g. numeric donor ids) as a factor.
fn covariate(sheet: &SampleSheet, spec: &str, samples: &[String]) -> Result<Covariate> {
    let (column, force_factor) = match spec
        .strip_prefix("factor(")
        .and_then(|r| r.strip_suffix(')'))
    {
        Some(inner) => (inner.trim(), true),
        None => (spec, false),
    };
    let col = sheet
        .column(column)
        .ok_or_else(|| StatsError::UnknownColumn {
            column: column.to_string(),
            available: sheet
                .columns()
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    Ok(match &col.values {
        evomics_core::ColumnValues::Numeric(_) if !force_factor => Covariate::Numeric(
            crate::classical::numbers_from_sheet(sheet, column, samples)?,
        ),
        _ => Covariate::Factor(crate::classical::labels_from_sheet(sheet, column, samples)?),
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

    #[test]
    fn covariates_are_adjusted_for() {
        // F0 = group effect (A +2, B 0, C -1) + batch effect (+4 in batch b2), no noise; the
        // batches are unbalanced across groups, so without adjustment logFC is biased.
        let (mut a, mut sheet) = data();
        let groups = ["A", "A", "A", "B", "B", "B", "C", "C"];
        let batch = ["b1", "b2", "b2", "b1", "b1", "b2", "b1", "b2"];
        let mut values = a.values().clone();
        for (j, g) in groups.iter().enumerate() {
            let ge = match *g {
                "A" => 2.0,
                "B" => 0.0,
                _ => -1.0,
            };
            values[[0, j]] = 10.0 + ge + if batch[j] == "b2" { 4.0 } else { 0.0 };
        }
        a = a
            .with_matrices(values, a.flags().clone(), ValueScale::Log2)
            .unwrap();
        sheet
            .push_column(Column {
                name: "batch".into(),
                values: ColumnValues::Text(batch.iter().map(|b| Some(b.to_string())).collect()),
            })
            .unwrap();
        let plain = one_vs_rest(&a, &sheet, "source", &OneVsRestOptions::default()).unwrap();
        let opts = OneVsRestOptions {
            covariates: vec!["batch".into(), "source".into()],
            ..Default::default()
        };
        let adj = one_vs_rest(&a, &sheet, "source", &opts).unwrap();
        assert_eq!(adj.result.settings.formula, "~ 0 + source + batch");
        assert_eq!(
            adj.result.settings.coefficients,
            vec!["A", "B", "C", "batchb2"]
        );
        // true A-vs-rest: 2 - (0 + -1)/2 = 2.5
        let lfc = adj.table(0).rows[0].log_fc.unwrap();
        assert!((lfc - 2.5).abs() < 1e-9, "{lfc}");
        let biased = plain.table(0).rows[0].log_fc.unwrap();
        assert!((biased - 2.5).abs() > 0.3, "{biased}");
    }
}
