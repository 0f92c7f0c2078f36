//! What every reader returns, and the alignment of its columns to the sample sheet.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ndarray::{Array2, Axis};
use serde::Serialize;

use evomics_core::{Assay, FeatureFlags, Features, LayerKind, SampleSheet, ValueFlag, ValueScale};

use crate::error::{IoError, Result};
use crate::text::clip;

/// One sample column of a tool's matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatrixColumn {
    /// The header exactly as in the file (e.g. `LFQ intensity Ad_c_111`).
    pub header: String,
    /// The sample name the format implies (e.g. `Ad_c_111`), used to match the sheet.
    pub name: String,
}

/// What a reader found, before alignment to the sample sheet.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReadReport {
    /// Format name (`maxquant`, `wide`, …).
    pub format: String,
    /// Quantity read (`lfq`, `intensity`, `counts`, …).
    pub quantity: String,
    /// Data rows read from the file.
    pub rows_read: usize,
    /// Rows dropped, by reason, in a stable order.
    pub rows_dropped: BTreeMap<String, usize>,
    /// Rows kept but flagged (e.g. contaminants kept on request), by reason.
    pub rows_flagged: BTreeMap<String, usize>,
    /// Warnings worth a user's attention (also printed on stderr).
    pub warnings: Vec<String>,
}

/// A features × columns matrix as read from a tool's output.
#[derive(Debug, Clone)]
pub struct ParsedMatrix {
    /// The file read.
    pub path: PathBuf,
    /// Feature ids (unique), in file order.
    pub feature_ids: Vec<String>,
    /// Named feature annotations (`gene`, `name`, `original_name`, …).
    pub annotations: Vec<(String, Vec<Option<String>>)>,
    /// Reader flags per feature.
    pub feature_flags: Vec<FeatureFlags>,
    /// The sample columns.
    pub columns: Vec<MatrixColumn>,
    /// Values, features × columns; NaN where the flag has no value.
    pub values: Array2<f64>,
    /// Flags, features × columns.
    pub flags: Array2<ValueFlag>,
    /// The scale of the values.
    pub scale: ValueScale,
    /// What the reader did.
    pub report: ReadReport,
    /// SHA-256 and size of the file's bytes, when the reader saw all of them (text inputs):
    /// the manifest takes them from here instead of reading the file a second time.
    pub source_digest: Option<([u8; 32], u64)>,
}

impl ParsedMatrix {
    /// Build from optional cells (None = missing).
    pub fn from_cells(
        path: PathBuf,
        feature_ids: Vec<String>,
        columns: Vec<MatrixColumn>,
        cells: Vec<Vec<Option<f64>>>,
        scale: ValueScale,
        report: ReadReport,
    ) -> ParsedMatrix {
        let (nf, nc) = (feature_ids.len(), columns.len());
        let mut values = Array2::from_elem((nf, nc), f64::NAN);
        let mut flags = Array2::from_elem((nf, nc), ValueFlag::Missing);
        for (i, row) in cells.iter().enumerate() {
            for (j, c) in row.iter().enumerate() {
                if let Some(v) = c {
                    values[[i, j]] = *v;
                    flags[[i, j]] = ValueFlag::Observed;
                }
            }
        }
        ParsedMatrix {
            path,
            feature_flags: vec![FeatureFlags::NONE; nf],
            feature_ids,
            annotations: Vec::new(),
            columns,
            values,
            flags,
            scale,
            report,
            source_digest: None,
        }
    }
}

impl ParsedMatrix {
    /// Build from a filled [`MatrixBuilder`] (rows = features).
    pub fn from_builder(
        path: PathBuf,
        feature_ids: Vec<String>,
        columns: Vec<MatrixColumn>,
        cells: MatrixBuilder,
        scale: ValueScale,
        report: ReadReport,
    ) -> ParsedMatrix {
        let (values, flags) = cells.finish();
        ParsedMatrix {
            path,
            feature_flags: vec![FeatureFlags::NONE; feature_ids.len()],
            feature_ids,
            annotations: Vec::new(),
            columns,
            values,
            flags,
            scale,
            report,
            source_digest: None,
        }
    }
}

/// Rows a [`MatrixBuilder`] takes before it reserves room for the rows the input's size implies.
pub const RESERVE_AFTER_ROWS: usize = 64;

/// The rows of a table whose first `rows` rows took `done` of its `total` bytes, with a
/// margin of a quarter: first rows are often longer than the rest (complete, high-abundance
/// features first; later rows hold more short missing cells), and a reservation that falls
/// short grows the matrices by a copy, while room never written costs no memory. A hint that
/// only sizes a reservation.
pub fn expected_rows(rows: usize, done: u64, total: u64) -> usize {
    if done == 0 || total <= done {
        return rows;
    }
    let estimate = rows as f64 * total as f64 / done as f64;
    (estimate * 1.25) as usize + 16
}

/// The cells of a matrix as a reader parses them, row after row, straight into the final
/// values and flags (a value slot holds NaN where the flag has none): no per-cell text or
/// per-row vectors are kept. Bounded by [`crate::text::Limits::max_cells`].
#[derive(Debug)]
pub struct MatrixBuilder {
    ncols: usize,
    values: Vec<f64>,
    flags: Vec<ValueFlag>,
}

impl MatrixBuilder {
    /// An empty matrix of `ncols` columns.
    pub fn new(ncols: usize) -> MatrixBuilder {
        MatrixBuilder {
            ncols,
            values: Vec::new(),
            flags: Vec::new(),
        }
    }

    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.ncols
    }

    /// Complete rows so far.
    pub fn nrows(&self) -> usize {
        self.values.len().checked_div(self.ncols).unwrap_or(0)
    }

    /// Check that one more row keeps the matrix within the cell limit; the error names the
    /// file and line of the row that would exceed it. `progress` is the reader's
    /// [`Rows::progress`](crate::text::Rows::progress) at this row: once [`RESERVE_AFTER_ROWS`]
    /// rows are in, the matrices reserve room for the rows the input's size implies
    /// ([`expected_rows`]), so that they do not grow by copies (each of which holds the old and
    /// the new buffer at once).
    pub fn reserve_row(
        &mut self,
        path: &std::path::Path,
        line: u64,
        progress: (u64, Option<u64>),
    ) -> Result<()> {
        let limit = crate::text::LIMITS.max_cells;
        if (self.nrows() as u64 + 1) * self.ncols as u64 > limit {
            return Err(IoError::parse(
                path,
                line,
                None,
                format!(
                    "the matrix would exceed {limit} cells ({} rows × {} columns), the limit of one layer (docs/reliability.md); read a subset of the file",
                    self.nrows() + 1,
                    self.ncols
                ),
            ));
        }
        if self.nrows() == RESERVE_AFTER_ROWS {
            if let (done, Some(total)) = progress {
                self.reserve_rows(expected_rows(self.nrows() + 1, done, total));
            }
        }
        Ok(())
    }

    /// Reserve room for `rows` rows in all (within the cell limit). Only address space is
    /// taken until cells are written; when even that is refused, the matrices grow as they
    /// fill.
    pub fn reserve_rows(&mut self, rows: usize) {
        let limit = usize::try_from(crate::text::LIMITS.max_cells).unwrap_or(usize::MAX);
        let cells = rows.saturating_mul(self.ncols).min(limit);
        // A refused reservation is no error: the cells are still pushed one by one.
        let _ = self
            .values
            .try_reserve_exact(cells.saturating_sub(self.values.len()));
        let _ = self
            .flags
            .try_reserve_exact(cells.saturating_sub(self.flags.len()));
    }

    /// Append one cell (`None`: no value) to the current row.
    #[inline]
    pub fn push(&mut self, v: Option<f64>) {
        match v {
            Some(x) => {
                self.values.push(x);
                self.flags.push(ValueFlag::Observed);
            }
            None => {
                self.values.push(f64::NAN);
                self.flags.push(ValueFlag::Missing);
            }
        }
    }

    /// Drop the cells of an unfinished last row (a row the reader decided to skip).
    pub fn truncate_rows(&mut self, rows: usize) {
        self.values.truncate(rows * self.ncols);
        self.flags.truncate(rows * self.ncols);
    }

    /// The cells of row `i`.
    pub fn row(&self, i: usize) -> (&[f64], &[ValueFlag]) {
        let r = i * self.ncols..(i + 1) * self.ncols;
        (&self.values[r.clone()], &self.flags[r])
    }

    /// Values and flags, rows × columns.
    pub fn finish(mut self) -> (Array2<f64>, Array2<ValueFlag>) {
        let n = self.nrows();
        self.truncate_rows(n);
        // No `shrink_to_fit`: capacity beyond the rows (a reservation's margin, never written)
        // costs address space, not memory, while shrinking may copy the whole matrix.
        let shape = (n, self.ncols);
        (
            Array2::from_shape_vec(shape, self.values).expect("rows × columns cells"),
            Array2::from_shape_vec(shape, self.flags).expect("rows × columns cells"),
        )
    }

    /// Values and flags, columns × rows: the transpose of [`MatrixBuilder::finish`], for a
    /// file whose rows are samples.
    pub fn finish_transposed(self) -> (Array2<f64>, Array2<ValueFlag>) {
        let (v, f) = self.finish();
        (
            v.reversed_axes().as_standard_layout().into_owned(),
            f.reversed_axes().as_standard_layout().into_owned(),
        )
    }
}

/// Keep the columns `cols` (in that order) of a row-major matrix, in place where the layout
/// allows: no second matrix is allocated, only one row of scratch space.
pub(crate) fn select_columns<T: Copy>(a: Array2<T>, cols: &[usize]) -> Array2<T> {
    let (nr, nc) = a.dim();
    if cols.len() == nc && cols.iter().enumerate().all(|(i, &c)| i == c) {
        return a;
    }
    if !a.is_standard_layout() {
        return a.select(Axis(1), cols);
    }
    let k = cols.len();
    let (mut v, offset) = a.into_raw_vec_and_offset();
    debug_assert_eq!(offset.unwrap_or(0), 0);
    let mut row: Vec<T> = Vec::with_capacity(k);
    for i in 0..nr {
        row.clear();
        row.extend(cols.iter().map(|&c| v[i * nc + c]));
        // Row i's new cells end at (i + 1)·k ≤ (i + 1)·nc: rows not yet read are untouched.
        v[i * k..(i + 1) * k].copy_from_slice(&row);
    }
    v.truncate(nr * k);
    v.shrink_to_fit();
    Array2::from_shape_vec((nr, k), v).expect("rows × kept columns")
}

/// A sample id with its invisible differences shown: characters outside printable ASCII are
/// written as `\u{e9}`, so two spellings that look the same can be told apart.
pub(crate) fn spelled_out(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().take(60) {
        if c.is_ascii_graphic() || c == ' ' {
            out.push(c);
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    out
}

/// Unicode NFC form of a name.
pub(crate) fn nfc(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    s.nfc().collect()
}

/// How matrix columns are matched to sheet samples.
#[derive(Debug, Clone, Default)]
pub struct MatchOptions {
    /// A sheet column naming, per sample, the matrix column that holds it
    /// (its header or the sample name the format derives). By default `<layer>_column` when
    /// the sheet has it, else the only sheet column whose name ends in `_column`, else none
    /// (matrix columns are matched to `sample_id`).
    pub sheet_column: Option<String>,
    /// Keep going when sheet samples are absent from the matrix or matrix columns are absent
    /// from the sheet (they are reported and dropped); an error otherwise.
    pub allow_missing_samples: bool,
    /// The layer's rows of a sample map ([`crate::sample_map`]): sheet sample → its column in
    /// this layer's file. Takes the place of `sheet_column`; a sample it does not list was not
    /// measured in this layer.
    pub column_map: Option<std::collections::BTreeMap<String, String>>,
}

/// How the matrix columns were matched to the sheet.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MatchReport {
    /// The sheet column used for mapping, if any.
    pub sheet_column: Option<String>,
    /// Samples matched.
    pub samples_matched: usize,
    /// Sheet samples with no matrix column.
    pub sheet_samples_not_in_matrix: Vec<String>,
    /// Matrix columns with no sheet sample.
    pub matrix_columns_not_in_sheet: Vec<String>,
    /// Sheet samples the layer did not measure by design: absent from the sample map for this
    /// layer, or with an empty value in the mapping sheet column. Not an error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples_not_assayed: Vec<String>,
}

fn resolve_sheet_column(
    layer: &str,
    sheet: &SampleSheet,
    opts: &MatchOptions,
) -> Result<Option<String>> {
    if let Some(c) = &opts.sheet_column {
        sheet
            .require_column(c)
            .map_err(|e| IoError::Spec(format!("layer '{layer}': sheet_column: {e}")))?;
        return Ok(Some(c.clone()));
    }
    let own = format!("{layer}_column");
    if sheet.column(&own).is_some() {
        return Ok(Some(own));
    }
    let candidates: Vec<&str> = sheet
        .columns()
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| n.ends_with("_column"))
        .collect();
    Ok(match candidates.as_slice() {
        [one] => Some(one.to_string()),
        _ => None,
    })
}

/// Align a parsed matrix to the sheet and build the layer.
///
/// Each sheet sample is looked up by the mapping column's value (or its id) among the matrix
/// headers first, then among the derived sample names. Matrix columns left over, and sheet
/// samples not found, are an error unless `allow_missing_samples`.
pub fn align_to_sheet(
    parsed: ParsedMatrix,
    layer: &str,
    kind: LayerKind,
    sheet: &SampleSheet,
    opts: &MatchOptions,
) -> Result<(Assay, MatchReport)> {
    let sheet_column = match opts.column_map {
        Some(_) => None,
        None => resolve_sheet_column(layer, sheet, opts)?,
    };
    let mut used = vec![false; parsed.columns.len()];
    let mut picked: Vec<(usize, String)> = Vec::new();
    let mut not_in_matrix = Vec::new();
    let mut not_assayed = Vec::new();
    for sid in sheet.sample_ids() {
        let key = match (&opts.column_map, &sheet_column) {
            (Some(map), _) => match map.get(sid) {
                Some(k) => k.clone(),
                None => {
                    not_assayed.push(sid.clone());
                    continue;
                }
            },
            (None, Some(c)) => match sheet.text(c, sid) {
                Some(k) => k,
                None => {
                    not_assayed.push(sid.clone());
                    continue;
                }
            },
            (None, None) => sid.clone(),
        };
        let pos = parsed
            .columns
            .iter()
            .position(|c| c.header == key)
            .or_else(|| parsed.columns.iter().position(|c| c.name == key));
        match pos {
            Some(j) if used[j] => {
                return Err(IoError::SampleMatch {
                    layer: layer.into(),
                    path: parsed.path.clone(),
                    problem: format!(
                        "matrix column '{}' is claimed by two sheet samples (the second is '{}'); each sample needs its own column",
                        clip(&parsed.columns[j].header),
                        clip(sid)
                    ),
                })
            }
            Some(j) => {
                used[j] = true;
                picked.push((j, sid.clone()));
            }
            None => {
                // Two spellings of one name in different Unicode forms look identical but do
                // not match; say so instead of reporting a missing sample.
                let want = nfc(&key);
                if let Some(c) = parsed
                    .columns
                    .iter()
                    .find(|c| nfc(&c.header) == want || nfc(&c.name) == want)
                {
                    let theirs = if nfc(&c.header) == want { &c.header } else { &c.name };
                    return Err(IoError::SampleMatch {
                        layer: layer.into(),
                        path: parsed.path.clone(),
                        problem: format!(
                            "sheet sample '{}' and matrix column '{}' are the same text in different Unicode forms (sheet: '{}', matrix: '{}'); save both files with one spelling (e.g. NFC)",
                            clip(sid),
                            clip(theirs),
                            spelled_out(&key),
                            spelled_out(theirs)
                        ),
                    });
                }
                not_in_matrix.push(sid.clone())
            }
        }
    }
    let not_in_sheet: Vec<String> = parsed
        .columns
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(c, _)| c.header.clone())
        .collect();
    let report = MatchReport {
        sheet_column: sheet_column.clone(),
        samples_matched: picked.len(),
        sheet_samples_not_in_matrix: not_in_matrix,
        matrix_columns_not_in_sheet: not_in_sheet,
        samples_not_assayed: not_assayed,
    };
    let how = match (&opts.column_map, &sheet_column) {
        (Some(_), _) => "through the sample map".to_string(),
        (None, Some(c)) => format!("through sheet column '{c}'"),
        (None, None) => "by sample_id".to_string(),
    };
    if picked.is_empty() {
        return Err(IoError::SampleMatch {
            layer: layer.into(),
            path: parsed.path.clone(),
            problem: format!(
                "no matrix column matched a sheet sample {how}; matrix columns look like '{}', sheet samples like '{}'. Add a sheet column (e.g. {layer}_column) holding each sample's matrix header",
                clip(parsed.columns.first().map(|c| c.name.as_str()).unwrap_or("")),
                clip(sheet.sample_ids().first().map(String::as_str).unwrap_or(""))
            ),
        });
    }
    if !opts.allow_missing_samples
        && (!report.sheet_samples_not_in_matrix.is_empty()
            || !report.matrix_columns_not_in_sheet.is_empty())
    {
        let mut parts = Vec::new();
        if !report.sheet_samples_not_in_matrix.is_empty() {
            parts.push(format!(
                "{} sheet sample(s) not in the matrix ({})",
                report.sheet_samples_not_in_matrix.len(),
                preview(&report.sheet_samples_not_in_matrix)
            ));
        }
        if !report.matrix_columns_not_in_sheet.is_empty() {
            parts.push(format!(
                "{} matrix column(s) not in the sheet ({})",
                report.matrix_columns_not_in_sheet.len(),
                preview(&report.matrix_columns_not_in_sheet)
            ));
        }
        return Err(IoError::SampleMatch {
            layer: layer.into(),
            path: parsed.path.clone(),
            problem: format!(
                "{} (matched {how}); fix the {}, or pass --allow-missing-samples to keep the {} matched sample(s)",
                parts.join("; "),
                if opts.column_map.is_some() { "sample map" } else { "sheet" },
                report.samples_matched
            ),
        });
    }
    let cols: Vec<usize> = picked.iter().map(|(j, _)| *j).collect();
    let samples: Vec<String> = picked.into_iter().map(|(_, s)| s).collect();
    let mut features = Features::new(parsed.feature_ids)
        .map_err(|e| IoError::core(parsed.path.display().to_string(), e))?;
    features
        .set_flags(parsed.feature_flags)
        .map_err(|e| IoError::core(parsed.path.display().to_string(), e))?;
    for (k, v) in parsed.annotations {
        features
            .set_annotation(&k, v)
            .map_err(|e| IoError::core(parsed.path.display().to_string(), e))?;
    }
    let assay = Assay::new(
        layer,
        kind,
        parsed.scale,
        features,
        samples,
        select_columns(parsed.values, &cols),
        select_columns(parsed.flags, &cols),
    )
    .map_err(|e| IoError::core(parsed.path.display().to_string(), e))?;
    Ok((assay, report))
}

fn preview(v: &[String]) -> String {
    let mut s: Vec<String> = v.iter().take(5).map(|x| format!("'{}'", clip(x))).collect();
    if v.len() > 5 {
        s.push(format!("… {} more", v.len() - 5));
    }
    s.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrices_reserve_once_after_the_first_rows() {
        let fill = |total: Option<u64>| {
            let mut m = MatrixBuilder::new(3);
            for i in 0..=RESERVE_AFTER_ROWS as u64 {
                let progress = ((i + 1) * 10, total);
                m.reserve_row(std::path::Path::new("x.tsv"), i + 2, progress)
                    .unwrap();
                for _ in 0..3 {
                    m.push(Some(1.0));
                }
            }
            m
        };
        // 65 rows in 650 of 100,000 bytes: 10,000 rows, a quarter more.
        let m = fill(Some(100_000));
        assert!(m.values.capacity() >= 12_516 * 3 && m.flags.capacity() >= 12_516 * 3);
        assert_eq!(m.finish().0.dim(), (65, 3));
        // No announced size: the matrices grow as they fill.
        assert!(fill(None).values.capacity() < 12_516 * 3);
    }

    #[test]
    fn the_reservation_follows_the_share_of_the_input_read() {
        // 64 rows in 1,000 of 100,000 bytes: 6,400 rows expected, a quarter more reserved.
        assert_eq!(expected_rows(64, 1_000, 100_000), 8_016);
        // Nothing read yet, or the whole input: no extrapolation.
        assert_eq!(expected_rows(64, 0, 100_000), 64);
        assert_eq!(expected_rows(64, 100_000, 100_000), 64);
        assert_eq!(expected_rows(64, 5_000, 1_000), 64);
    }

    fn parsed() -> ParsedMatrix {
        ParsedMatrix::from_cells(
            "m.tsv".into(),
            vec!["f1".into(), "f2".into()],
            vec![
                MatrixColumn {
                    header: "LFQ A".into(),
                    name: "A".into(),
                },
                MatrixColumn {
                    header: "LFQ B".into(),
                    name: "B".into(),
                },
            ],
            vec![vec![Some(1.0), None], vec![Some(3.0), Some(4.0)]],
            ValueScale::Linear,
            ReadReport::default(),
        )
    }

    #[test]
    fn matches_by_name_in_sheet_order() {
        let sheet = SampleSheet::new(vec!["B".into(), "A".into()]).unwrap();
        let (a, r) = align_to_sheet(
            parsed(),
            "proteome",
            LayerKind::Proteome,
            &sheet,
            &MatchOptions::default(),
        )
        .unwrap();
        assert_eq!(a.samples(), &["B".to_string(), "A".to_string()]);
        assert_eq!(a.get(0, 0), None);
        assert_eq!(a.get(0, 1), Some(1.0));
        assert_eq!(r.samples_matched, 2);
    }

    #[test]
    fn unmatched_is_error_unless_allowed() {
        let sheet = SampleSheet::new(vec!["A".into(), "C".into()]).unwrap();
        let m = align_to_sheet(
            parsed(),
            "p",
            LayerKind::Proteome,
            &sheet,
            &MatchOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            m.contains("'C'") && m.contains("'LFQ B'") && m.contains("--allow-missing-samples"),
            "{m}"
        );
        let opts = MatchOptions {
            allow_missing_samples: true,
            ..Default::default()
        };
        let (a, r) = align_to_sheet(parsed(), "p", LayerKind::Proteome, &sheet, &opts).unwrap();
        assert_eq!(a.n_samples(), 1);
        assert_eq!(r.sheet_samples_not_in_matrix, vec!["C".to_string()]);
    }

    #[test]
    fn maps_through_sheet_column() {
        let sheet = SampleSheet::from_text_columns(
            vec!["s1".into(), "s2".into()],
            vec![(
                "lfq_column".into(),
                vec![Some("LFQ B".into()), Some("LFQ A".into())],
            )],
        )
        .unwrap();
        let (a, r) = align_to_sheet(
            parsed(),
            "proteome",
            LayerKind::Proteome,
            &sheet,
            &MatchOptions::default(),
        )
        .unwrap();
        assert_eq!(r.sheet_column.as_deref(), Some("lfq_column"));
        assert_eq!(a.get(1, 0), Some(4.0));
        assert_eq!(a.get(1, 1), Some(3.0));
    }

    #[test]
    fn a_sample_map_or_an_empty_mapping_value_means_not_measured() {
        let sheet = SampleSheet::from_text_columns(
            vec!["s1".into(), "s2".into(), "s3".into()],
            vec![(
                "proteome_column".into(),
                vec![Some("LFQ B".into()), None, Some("LFQ A".into())],
            )],
        )
        .unwrap();
        // s2 has no proteome column: not measured, not an error.
        let (a, r) = align_to_sheet(
            parsed(),
            "proteome",
            LayerKind::Proteome,
            &sheet,
            &MatchOptions::default(),
        )
        .unwrap();
        assert_eq!(a.samples(), &["s1".to_string(), "s3".to_string()]);
        assert_eq!(r.samples_not_assayed, vec!["s2".to_string()]);
        assert!(r.sheet_samples_not_in_matrix.is_empty());
        // The map takes the place of the sheet column.
        let map = [("s2", "LFQ A"), ("s3", "LFQ B")]
            .into_iter()
            .map(|(u, c)| (u.to_string(), c.to_string()))
            .collect();
        let opts = MatchOptions {
            column_map: Some(map),
            ..Default::default()
        };
        let (a, r) =
            align_to_sheet(parsed(), "proteome", LayerKind::Proteome, &sheet, &opts).unwrap();
        assert_eq!(a.samples(), &["s2".to_string(), "s3".to_string()]);
        assert_eq!(a.get(1, 0), Some(3.0));
        assert_eq!(r.samples_not_assayed, vec!["s1".to_string()]);
        assert_eq!(r.sheet_column, None);
        // A map naming a column the file lacks is an error naming the map.
        let map = [("s1", "LFQ Z")]
            .into_iter()
            .map(|(u, c)| (u.to_string(), c.to_string()))
            .collect();
        let opts = MatchOptions {
            column_map: Some(map),
            ..Default::default()
        };
        let e = align_to_sheet(parsed(), "proteome", LayerKind::Proteome, &sheet, &opts)
            .unwrap_err()
            .to_string();
        assert!(e.contains("sample map"), "{e}");
    }
}
