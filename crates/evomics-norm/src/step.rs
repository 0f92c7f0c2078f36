//! The fit → fitted → transform contract every step follows, the per-step report, and the
//! helpers steps share (sheet look-ups, feature alignment, rebuilding an assay).

use std::collections::HashMap;

use evomics_core::{Assay, ColumnValues, SampleSheet, ValueFlag, ValueScale};
use ndarray::Array2;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{NormError, Result};

/// Parameters of a learned step (as linfa's `Fit`): validated before any data is read, then
/// fitted on training samples into a [`Transformer`] that applies what it learned unchanged.
pub trait Fit {
    /// The fitted step.
    type Fitted: Transformer;

    /// Check the parameters alone; every `fit` calls this first.
    fn validate(&self) -> Result<()>;

    /// Learn the step's parameters from `assay` (features × samples) and its sample sheet.
    fn fit(&self, assay: &Assay, sheet: &SampleSheet) -> Result<Self::Fitted>;

    /// Fit, then transform the same data; returns the fitted step, the output and its report.
    fn fit_transform(
        &self,
        assay: &Assay,
        sheet: &SampleSheet,
    ) -> Result<(Self::Fitted, Assay, StepReport)> {
        let fitted = self.fit(assay, sheet)?;
        let (out, report) = fitted.transform_with_report(assay, sheet)?;
        Ok((fitted, out, report))
    }

    /// [`Fit::fit_transform`] on an assay the caller hands over, so that a step that changes
    /// nothing returns it without a copy (a pipeline keeps one working copy of a layer).
    fn fit_transform_owned(
        &self,
        assay: Assay,
        sheet: &SampleSheet,
    ) -> Result<(Self::Fitted, Assay, StepReport)> {
        let fitted = self.fit(&assay, sheet)?;
        let (out, report) = fitted.transform_owned(assay, sheet)?;
        Ok((fitted, out, report))
    }
}

/// A fitted step: applies learned parameters to any samples (the training ones or new ones).
///
/// Fitted steps serialize with serde so that they can be saved inside a model file and applied
/// later to new EV preparations.
pub trait Transformer: Serialize + DeserializeOwned {
    /// Apply the step and say what it did.
    fn transform_with_report(
        &self,
        assay: &Assay,
        sheet: &SampleSheet,
    ) -> Result<(Assay, StepReport)>;

    /// Apply the step.
    fn transform(&self, assay: &Assay, sheet: &SampleSheet) -> Result<Assay> {
        Ok(self.transform_with_report(assay, sheet)?.0)
    }

    /// [`Transformer::transform_with_report`] on an assay the caller hands over: the same
    /// output, without a copy where the step changes nothing (`method = "none"`).
    fn transform_owned(&self, assay: Assay, sheet: &SampleSheet) -> Result<(Assay, StepReport)> {
        self.transform_with_report(&assay, sheet)
    }
}

/// The parameters of a method that has none: an empty table, so that a misspelt key next to
/// `method = "none"` is still an error.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// The stages of the preprocessing pipeline, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Feature filters.
    Filter,
    /// Value transforms (log2, logCPM, CLR).
    Transform,
    /// Between-sample normalization.
    Normalization,
    /// Missing-value imputation.
    Imputation,
    /// Batch-effect correction.
    BatchCorrection,
}

impl Stage {
    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Filter => "filter",
            Stage::Transform => "transform",
            Stage::Normalization => "normalization",
            Stage::Imputation => "imputation",
            Stage::BatchCorrection => "batch_correction",
        }
    }
}

/// A feature removed by a filter, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemovedFeature {
    /// Feature id.
    pub feature: String,
    /// Why it was removed, e.g. `valid values: best group 'ADSC' 5/8 = 0.62 < 0.70`.
    pub reason: String,
}

/// A feature a batch correction left unchanged, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UncorrectedFeature {
    /// Feature id.
    pub feature: String,
    /// Why it could not be corrected, e.g. `batch 'B3' has 1 value; ComBat needs at least 2`.
    pub reason: String,
}

/// A count for one sample (e.g. imputed cells).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleCount {
    /// Sample id.
    pub sample: String,
    /// The count.
    pub count: usize,
}

/// A count for one group of samples defined by a sheet column (e.g. imputed cells per `source`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupCount {
    /// The group's value in the column (`NA` for samples with an empty cell).
    pub group: String,
    /// Samples of the layer in the group.
    pub samples: usize,
    /// The count summed over those samples.
    pub count: usize,
}

/// A per-sample number a step applied (a normalization factor, a median shift, a dose).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleFactor {
    /// Sample id.
    pub sample: String,
    /// The number.
    pub value: f64,
}

/// What one step did to one layer: plain data the CLI prints or writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// The stage the step belongs to.
    pub stage: Stage,
    /// The method, as named in the config (e.g. `valid_values`, `tmm`, `combat`).
    pub method: String,
    /// Layer name.
    pub layer: String,
    /// Features entering the step.
    pub features_in: usize,
    /// Features leaving the step.
    pub features_out: usize,
    /// Samples processed.
    pub samples: usize,
    /// Features removed (filters), in input order.
    pub removed: Vec<RemovedFeature>,
    /// Cells that had a value and lost it (e.g. zero intensities under log2), total.
    pub cells_set_missing: usize,
    /// Imputed cells per sample (imputation steps), in layer order; empty otherwise.
    pub imputed_per_sample: Vec<SampleCount>,
    /// Name of the sheet column `imputed_per_group` is grouped by, when set.
    pub group_column: Option<String>,
    /// Imputed cells per group of `group_column`, in group-name order.
    pub imputed_per_group: Vec<GroupCount>,
    /// Features a batch correction left unchanged, with reasons.
    pub uncorrected: Vec<UncorrectedFeature>,
    /// What `sample_factors` holds (e.g. `norm_factor`, `median`), when the step has one.
    pub factor_name: Option<String>,
    /// One number per sample applied by the step (normalization factors, medians, doses).
    pub sample_factors: Vec<SampleFactor>,
    /// Further remarks (e.g. `ComBat used sva's missing-value path`).
    pub notes: Vec<String>,
    /// Remarks about a change of method that alters the results (e.g. ComBat forced to
    /// mean-only by a one-sample batch); shown as warnings, also under `--quiet`.
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl StepReport {
    /// An empty report for a step that ran on `assay`.
    pub fn new(stage: Stage, method: &str, assay: &Assay) -> StepReport {
        StepReport {
            stage,
            method: method.to_string(),
            layer: assay.name().to_string(),
            features_in: assay.n_features(),
            features_out: assay.n_features(),
            samples: assay.n_samples(),
            removed: Vec::new(),
            cells_set_missing: 0,
            imputed_per_sample: Vec::new(),
            group_column: None,
            imputed_per_group: Vec::new(),
            uncorrected: Vec::new(),
            factor_name: None,
            sample_factors: Vec::new(),
            notes: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Total imputed cells.
    pub fn imputed_total(&self) -> usize {
        self.imputed_per_sample.iter().map(|c| c.count).sum()
    }

    /// Fill `imputed_per_group` from the per-sample counts, grouping by a sheet column.
    /// Returns `false` (and leaves the groups empty) when the sheet has no such column.
    pub fn group_imputed(&mut self, sheet: &SampleSheet, column: &str) -> bool {
        let Some(col) = sheet.column(column) else {
            return false;
        };
        let mut groups: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
        for c in &self.imputed_per_sample {
            let g = sheet
                .position(&c.sample)
                .and_then(|row| col.values.text(row))
                .unwrap_or_else(|| "NA".to_string());
            let e = groups.entry(g).or_default();
            e.0 += 1;
            e.1 += c.count;
        }
        self.group_column = Some(column.to_string());
        self.imputed_per_group = groups
            .into_iter()
            .map(|(group, (samples, count))| GroupCount {
                group,
                samples,
                count,
            })
            .collect();
        true
    }

    pub(crate) fn set_factors(&mut self, name: &str, assay: &Assay, values: &[f64]) {
        self.factor_name = Some(name.to_string());
        self.sample_factors = assay
            .samples()
            .iter()
            .zip(values)
            .map(|(s, v)| SampleFactor {
                sample: s.clone(),
                value: *v,
            })
            .collect();
    }
}

/// For each sample of the layer, its row in the sheet.
pub(crate) fn sheet_rows(
    step: &'static str,
    assay: &Assay,
    sheet: &SampleSheet,
) -> Result<Vec<usize>> {
    let index: HashMap<&str, usize> = sheet
        .sample_ids()
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    assay
        .samples()
        .iter()
        .map(|s| {
            index
                .get(s.as_str())
                .copied()
                .ok_or_else(|| NormError::SampleNotInSheet {
                    step,
                    layer: assay.name().to_string(),
                    sample: s.clone(),
                })
        })
        .collect()
}

fn missing_column(
    step: &'static str,
    sheet: &SampleSheet,
    column: &str,
    param: &'static str,
) -> NormError {
    NormError::MissingColumn {
        step,
        column: column.to_string(),
        param,
        available: sheet
            .columns()
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The text value of a sheet column for each sample of the layer (`None` for empty cells).
pub(crate) fn sheet_text(
    step: &'static str,
    assay: &Assay,
    sheet: &SampleSheet,
    column: &str,
    param: &'static str,
) -> Result<Vec<Option<String>>> {
    let col = sheet
        .column(column)
        .ok_or_else(|| missing_column(step, sheet, column, param))?;
    let rows = sheet_rows(step, assay, sheet)?;
    Ok(rows.iter().map(|&r| col.values.text(r)).collect())
}

/// The values of a sheet column for each sample of the layer: numbers for a numeric column,
/// text otherwise.
pub(crate) enum SheetColumn {
    Numeric(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
}

pub(crate) fn sheet_column(
    step: &'static str,
    assay: &Assay,
    sheet: &SampleSheet,
    column: &str,
    param: &'static str,
) -> Result<SheetColumn> {
    let col = sheet
        .column(column)
        .ok_or_else(|| missing_column(step, sheet, column, param))?;
    let rows = sheet_rows(step, assay, sheet)?;
    Ok(match &col.values {
        ColumnValues::Numeric(v) => SheetColumn::Numeric(rows.iter().map(|&r| v[r]).collect()),
        ColumnValues::Text(v) => SheetColumn::Text(rows.iter().map(|&r| v[r].clone()).collect()),
    })
}

/// Check that the layer has exactly the features a step was fitted on, in the same order.
pub(crate) fn check_features(step: &'static str, assay: &Assay, fitted: &[String]) -> Result<()> {
    let ids = assay.features().ids();
    if ids.len() != fitted.len() {
        return Err(NormError::FeatureMismatch {
            step,
            layer: assay.name().to_string(),
            problem: format!(
                "it has {} features, the step was fitted on {}",
                ids.len(),
                fitted.len()
            ),
        });
    }
    if let Some(i) = (0..ids.len()).find(|&i| ids[i] != fitted[i]) {
        return Err(NormError::FeatureMismatch {
            step,
            layer: assay.name().to_string(),
            problem: format!(
                "feature {} is '{}', the step was fitted with '{}' there",
                i + 1,
                ids[i],
                fitted[i]
            ),
        });
    }
    Ok(())
}

/// The values of column `j` that carry a value (observed or imputed).
pub(crate) fn column_values(assay: &Assay, j: usize) -> Vec<f64> {
    (0..assay.n_features())
        .filter_map(|i| assay.get(i, j))
        .collect()
}

/// Columns per block of [`map_columns`]: a block's gathered columns (12 bytes per cell) stay
/// in a core's L2 cache for the L cohort's 7,900 proteins (with 16 columns, 27 ms per gather
/// of 7,900 × 1,600 on two threads; 34 ms with 64).
const COLUMN_BLOCK: usize = 16;
/// Rows per tile of [`map_columns`].
const ROW_TILE: usize = 64;

/// `f(j, values of column j that carry a value, rows of the cells without one)` for every
/// sample, both in feature order, results in column order. Columns are gathered in blocks of
/// [`COLUMN_BLOCK`] with one pass over the rows per block (a column scan of a row-major matrix
/// strides through memory) into buffers each worker thread reuses, blocks on the worker
/// threads; `f` sees exactly what [`column_values`] returns (the values in a buffer it may
/// reorder), so results do not depend on the thread count.
pub(crate) fn map_columns<T: Send>(
    assay: &Assay,
    f: impl Fn(usize, &mut [f64], &[u32]) -> T + Sync,
) -> Vec<T> {
    use rayon::prelude::*;
    let (g, n) = (assay.n_features(), assay.n_samples());
    // Row-major cells as slices; a layer stored otherwise (no evomics reader or step makes
    // one) is read through a row-major copy.
    let (values, flags) = (
        assay.values().as_standard_layout(),
        assay.flags().as_standard_layout(),
    );
    let (values, flags) = (
        values.as_slice().unwrap_or_default(),
        flags.as_slice().unwrap_or_default(),
    );
    let blocks: Vec<Vec<T>> = (0..n.div_ceil(COLUMN_BLOCK))
        .into_par_iter()
        .map_init(
            || (vec![0.0; COLUMN_BLOCK * g], vec![0u32; COLUMN_BLOCK * g]),
            |(vs, hs), b| {
                let cols = b * COLUMN_BLOCK..((b + 1) * COLUMN_BLOCK).min(n);
                // Each column's values and holes are written at its running counts without a
                // branch (every cell is written to both, and only the count of the one it
                // belongs to moves on): whether a cell has a value is data, and a branch on it
                // mispredicted every few missing cells. The block's columns are gathered into
                // buffers of this thread's, reused from block to block (they stay in the
                // core's cache), and each column's values copied out once complete.
                let mut counts = [(0usize, 0usize); COLUMN_BLOCK];
                // Tiles of ROW_TILE rows, one column at a time: the tile's cache lines are
                // loaded by its first column and serve the next ones.
                for first in (0..g).step_by(ROW_TILE) {
                    let rows = first..(first + ROW_TILE).min(g);
                    for (c, count) in counts[..cols.len()].iter_mut().enumerate() {
                        let j = cols.start + c;
                        let o = &mut vs[c * g..(c + 1) * g];
                        let h = &mut hs[c * g..(c + 1) * g];
                        let (mut nv, mut nh) = *count;
                        for i in rows.clone() {
                            let k = i * n + j;
                            let has = flags[k].has_value();
                            o[nv] = values[k];
                            // A layer has fewer than 2^32 rows (`LIMITS`' cells).
                            h[nh] = i as u32;
                            nv += usize::from(has);
                            nh += usize::from(!has);
                        }
                        *count = (nv, nh);
                    }
                }
                cols.zip(counts)
                    .enumerate()
                    .map(|(c, (j, (nv, nh)))| {
                        let (v, h) = (&mut vs[c * g..], &hs[c * g..]);
                        f(j, &mut v[..nv], &h[..nh])
                    })
                    .collect()
            },
        )
        .collect();
    blocks.into_iter().flatten().collect()
}

/// The values of row `i` that carry a value, with their column indices.
pub(crate) fn row_values(assay: &Assay, i: usize) -> (Vec<usize>, Vec<f64>) {
    let mut cols = Vec::new();
    let mut vals = Vec::new();
    for j in 0..assay.n_samples() {
        if let Some(v) = assay.get(i, j) {
            cols.push(j);
            vals.push(v);
        }
    }
    (cols, vals)
}

/// Build the output of a value-changing step: cells without a value hold NaN (a below-detection
/// cell's detection limit is not carried to the new scale), flags as given.
pub(crate) fn rebuild(
    assay: &Assay,
    mut values: Array2<f64>,
    flags: Array2<ValueFlag>,
    scale: ValueScale,
) -> Result<Assay> {
    for (v, f) in values.iter_mut().zip(flags.iter()) {
        if !f.has_value() {
            *v = f64::NAN;
        }
    }
    Ok(assay.with_matrices(values, flags, scale)?)
}

/// The first value-carrying cell, in row order, whose value plus `shift` is below 0, with its
/// value, as an error naming the cell (`problem` says why the value is not allowed).
pub(crate) fn check_not_below(
    step: &'static str,
    assay: &Assay,
    shift: f64,
    problem: impl FnOnce(f64) -> String,
) -> Result<()> {
    let first = ndarray::Zip::indexed(assay.values())
        .and(assay.flags())
        .fold(None, |first: Option<(usize, usize)>, ij, v, f| {
            first.or((f.has_value() && *v + shift < 0.0).then_some(ij))
        });
    match first {
        None => Ok(()),
        Some((i, j)) => Err(NormError::Cell {
            step,
            layer: assay.name().to_string(),
            feature: assay.features().ids()[i].clone(),
            sample: assay.samples()[j].clone(),
            problem: problem(assay.values()[[i, j]]),
        }),
    }
}

/// Fail unless the layer is on one of the accepted scales.
pub(crate) fn require_scale(
    step: &'static str,
    assay: &Assay,
    accepted: &[ValueScale],
    needed: &'static str,
    hint: &str,
) -> Result<()> {
    if accepted.contains(&assay.scale()) {
        Ok(())
    } else {
        Err(NormError::Scale {
            step,
            layer: assay.name().to_string(),
            found: assay.scale().name(),
            needed,
            hint: hint.to_string(),
        })
    }
}

/// A validation helper: `Err(InvalidParam)` unless `ok`.
pub(crate) fn ensure(
    ok: bool,
    step: &'static str,
    param: &'static str,
    problem: String,
) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(NormError::InvalidParam {
            step,
            param,
            problem,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::{Features, LayerKind};
    /// A layer whose missing cells follow no pattern a block boundary could hide.
    fn layer(g: usize, n: usize, column_major: bool) -> Assay {
        let missing = |i: usize, j: usize| (i * 31 + j * 17 + i * j).is_multiple_of(7);
        let value = |i: usize, j: usize| 20.0 + i as f64 * 0.25 - j as f64 * 0.125;
        let values =
            Array2::from_shape_fn(
                (g, n),
                |(i, j)| {
                    if missing(i, j) {
                        f64::NAN
                    } else {
                        value(i, j)
                    }
                },
            );
        let flags = Array2::from_shape_fn((g, n), |(i, j)| {
            if missing(i, j) {
                ValueFlag::Missing
            } else {
                ValueFlag::Observed
            }
        });
        let a = Assay::new(
            "proteome",
            LayerKind::Proteome,
            ValueScale::Log2,
            Features::new((0..g).map(|i| format!("P{i}")).collect()).unwrap(),
            (0..n).map(|j| format!("S{j}")).collect(),
            values,
            flags,
        )
        .unwrap();
        if column_major {
            a.to_column_major()
        } else {
            a
        }
    }

    #[test]
    fn map_columns_gathers_each_column_and_its_holes_in_row_order() {
        // 150 columns (two full blocks and a partial one), 37 rows (one partial tile) and 150
        // (two full tiles and a partial one), row-major and column-major storage.
        for (rows, column_major) in [(37, false), (37, true), (150, false)] {
            let a = layer(rows, 150, column_major);
            assert_eq!(a.values().as_slice().is_some(), !column_major);
            let got = map_columns(&a, |j, v, h| {
                let h: Vec<usize> = h.iter().map(|&i| i as usize).collect();
                (j, v.to_vec(), h)
            });
            assert_eq!(got.len(), 150);
            assert!(got.iter().filter(|(_, _, h)| h.len() > 1).count() > 100);
            for (j, (jj, v, h)) in got.into_iter().enumerate() {
                assert_eq!(jj, j);
                assert_eq!(v, column_values(&a, j), "column {j}");
                let want: Vec<usize> = (0..rows).filter(|&i| a.get(i, j).is_none()).collect();
                assert_eq!(h, want, "column {j}");
                assert_eq!(v.len() + h.len(), rows);
            }
        }
    }
}
