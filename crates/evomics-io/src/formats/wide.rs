//! The generic wide matrix: one feature per row (first column the id), one sample per column;
//! or, with `transpose=true`, one sample per row and one feature per column. Text or Parquet.

use std::collections::HashMap;
use std::path::Path;

use polars::prelude::*;

use evomics_core::ValueScale;

use super::common::CountCheck;
use crate::error::{IoError, Result};
use crate::matrix::{MatrixBuilder, MatrixColumn, ParsedMatrix, ReadReport};
use crate::spec::ReadOptions;
use crate::text::{clip, header_preview, parse_cell, TextTable};

/// The wide text format.
pub const FORMAT: super::TextFormat = super::TextFormat {
    name: "wide",
    expects: "a feature-id column, then one numeric column per sample (transpose=true: a sample-id column, then one numeric column per feature)",
    detect: |_| true,
    read: read_text,
};

/// Name of the Parquet flavour.
pub const PARQUET_NAME: &str = "wide-parquet";

fn zero_missing(opts: &ReadOptions) -> bool {
    opts.zero_is_missing.unwrap_or(false)
}

fn quantity_name(opts: &ReadOptions) -> &'static str {
    if default_scale(opts) == ValueScale::Counts {
        "counts"
    } else {
        "value"
    }
}

fn default_scale(opts: &ReadOptions) -> ValueScale {
    opts.scale.unwrap_or(ValueScale::Other)
}

fn check_unique_ids(path: &Path, ids: &[(String, u64)], what: &str) -> Result<()> {
    let mut seen: HashMap<&str, u64> = HashMap::with_capacity(ids.len());
    for (id, line) in ids {
        if id.is_empty() {
            return Err(IoError::parse(
                path,
                *line,
                None,
                format!("the {what} id is empty"),
            ));
        }
        if let Some(prev) = seen.insert(id.as_str(), *line) {
            return Err(IoError::parse(
                path,
                *line,
                None,
                format!("{what} id '{}' already appears on line {prev}; ids must be unique (sum or rename the duplicates)", clip(id)),
            ));
        }
    }
    Ok(())
}

/// Read a wide text matrix, row by row into the final values and flags.
pub fn read_text(t: &mut TextTable, opts: &ReadOptions) -> Result<ParsedMatrix> {
    let path = t.path.clone();
    let path = path.as_path();
    let id_col = match &opts.id_column {
        Some(c) => t.column(c).ok_or_else(|| {
            IoError::layout(
                path,
                format!(
                    "id_column '{c}' is not in the header ({})",
                    header_preview(&t.header)
                ),
            )
        })?,
        None => 0,
    };
    let mut ann_cols = Vec::new();
    for a in &opts.annotation_columns {
        ann_cols.push((
            a.clone(),
            t.column(a).ok_or_else(|| {
                IoError::layout(
                    path,
                    format!("annotation column '{a}' is not in the header"),
                )
            })?,
        ));
    }
    if opts.transpose && !ann_cols.is_empty() {
        return Err(IoError::Spec(
            "annotations= cannot be used with transpose=true".into(),
        ));
    }
    // A column without a header is skipped when it is empty (spreadsheet exports leave such
    // gaps) and refused when it holds values, which could not be matched to any sample.
    let unnamed: Vec<usize> = (0..t.header.len())
        .filter(|&k| {
            k != id_col && !ann_cols.iter().any(|(_, c)| *c == k) && t.header[k].is_empty()
        })
        .collect();
    let value_cols: Vec<usize> = (0..t.header.len())
        .filter(|&k| {
            k != id_col && !ann_cols.iter().any(|(_, c)| *c == k) && !t.header[k].is_empty()
        })
        .collect();
    if value_cols.is_empty() && unnamed.is_empty() {
        return Err(IoError::layout(
            path,
            "no value columns: the header has only the id column",
        ));
    }
    let zero_na = zero_missing(opts);
    // Read counts are checked where they are parsed, so a bad count names its line and column.
    let mut counts = (default_scale(opts) == ValueScale::Counts).then(CountCheck::default);
    let mut cells = MatrixBuilder::new(value_cols.len());
    let mut ids: Vec<String> = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut anns: Vec<Vec<Option<String>>> = vec![Vec::new(); ann_cols.len()];
    let mut negative = 0usize;
    let linear = opts.scale == Some(ValueScale::Linear);
    let what = if opts.transpose { "sample" } else { "feature" };
    let TextTable { header, rows, .. } = t;
    while let Some(r) = rows.next_row()? {
        if let Some(&k) = unnamed.iter().find(|&&k| !r.get(k).is_empty()) {
            return Err(IoError::parse(
                path,
                1,
                None,
                format!(
                    "column {} has values but no header; name it after its {} (its first value is on line {})",
                    k + 1,
                    if opts.transpose { "feature" } else { "sample" },
                    r.line
                ),
            ));
        }
        let id = r.get(id_col);
        if id.is_empty() {
            return Err(IoError::parse(
                path,
                r.line,
                None,
                format!("the {what} id is empty"),
            ));
        }
        if let Some(prev) = seen.insert(id.to_string(), r.line) {
            return Err(IoError::parse(
                path,
                r.line,
                None,
                format!("{what} id '{}' already appears on line {prev}; ids must be unique (sum or rename the duplicates)", clip(id)),
            ));
        }
        cells.reserve_row(path, r.line, r.progress())?;
        for &k in &value_cols {
            let v = parse_cell(path, r.line, &header[k], r.raw(k))?;
            if let Some(c) = counts.as_mut() {
                c.check(path, r.line, &header[k], v)?;
            }
            if linear && v.is_some_and(|x| x < 0.0) {
                negative += 1;
            }
            cells.push(v.filter(|x| !(zero_na && *x == 0.0)));
        }
        ids.push(id.to_string());
        for (a, (_, k)) in anns.iter_mut().zip(&ann_cols) {
            a.push(Some(r.get(*k).to_string()).filter(|s| !s.is_empty()));
        }
    }
    drop(seen);
    if ids.is_empty() {
        return Err(IoError::layout(
            path,
            "the file has a header but no data rows",
        ));
    }
    if value_cols.is_empty() {
        return Err(IoError::layout(
            path,
            "no value columns: the header has only the id column",
        ));
    }
    let mut report = ReadReport {
        format: FORMAT.name.into(),
        quantity: quantity_name(opts).into(),
        rows_read: ids.len(),
        ..Default::default()
    };
    if let Some(w) = counts.and_then(|c| c.warning(path)) {
        report.warnings.push(w);
    }
    if negative > 0 {
        report.warnings.push(format!(
            "{negative} negative value(s) in a layer declared as {}",
            opts.scale.map(|s| s.name()).unwrap_or("")
        ));
    }
    let headers: Vec<String> = value_cols.iter().map(|&k| header[k].clone()).collect();
    if opts.transpose {
        let mut fseen: HashMap<&str, ()> = HashMap::with_capacity(headers.len());
        for h in &headers {
            if fseen.insert(h.as_str(), ()).is_some() {
                return Err(IoError::parse(
                    path,
                    1,
                    None,
                    format!("feature id '{}' already appears on line 1; ids must be unique (sum or rename the duplicates)", clip(h)),
                ));
            }
        }
        drop(fseen);
        let columns = ids
            .into_iter()
            .map(|s| MatrixColumn {
                header: s.clone(),
                name: s,
            })
            .collect();
        let (values, flags) = cells.finish_transposed();
        return Ok(ParsedMatrix {
            path: path.to_path_buf(),
            feature_flags: vec![evomics_core::FeatureFlags::NONE; headers.len()],
            feature_ids: headers,
            annotations: Vec::new(),
            columns,
            values,
            flags,
            scale: default_scale(opts),
            report,
            source_digest: None,
        });
    }
    let columns = headers
        .into_iter()
        .map(|h| MatrixColumn {
            header: h.clone(),
            name: h,
        })
        .collect();
    let mut m = ParsedMatrix::from_builder(
        path.to_path_buf(),
        ids,
        columns,
        cells,
        default_scale(opts),
        report,
    );
    for ((name, _), vals) in ann_cols.into_iter().zip(anns) {
        m.annotations.push((name, vals));
    }
    Ok(m)
}

fn pq(path: &Path, e: PolarsError) -> IoError {
    IoError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Read a wide matrix stored as Parquet: a text id column, then numeric sample columns.
///
/// The shape is checked against the cell limit from the file's metadata before any data is
/// decoded, and the value columns are decoded a batch at a time straight into the matrix.
pub fn read_parquet(path: &Path, opts: &ReadOptions) -> Result<ParsedMatrix> {
    let (names, nrows) = crate::parquet::shape(path)?;
    let id_name = opts
        .id_column
        .clone()
        .unwrap_or_else(|| names.first().cloned().unwrap_or_default());
    if !names.contains(&id_name) {
        return Err(IoError::layout(
            path,
            format!(
                "no id column '{id_name}' (columns: {})",
                header_preview(&names)
            ),
        ));
    }
    let value_names: Vec<String> = names.iter().filter(|n| **n != id_name).cloned().collect();
    let cells = nrows as u64 * value_names.len() as u64;
    if cells > crate::text::LIMITS.max_cells {
        return Err(IoError::layout(
            path,
            format!(
                "{nrows} rows × {} value columns is more than {} cells, the limit of one layer (docs/reliability.md)",
                value_names.len(),
                crate::text::LIMITS.max_cells
            ),
        ));
    }
    let df = crate::parquet::read(path, Some(vec![id_name.clone()]))?;
    let id_str = df
        .column(&id_name)
        .and_then(|c| c.cast(&DataType::String))
        .map_err(|e| pq(path, e))?;
    let ids: Vec<String> = id_str
        .str()
        .map_err(|e| pq(path, e))?
        .iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect();
    drop((df, id_str));
    let zero_na = zero_missing(opts);
    let counts = default_scale(opts) == ValueScale::Counts;
    // Rows of the file × value columns; transposed below when rows are samples.
    let (nr, nc) = (ids.len(), value_names.len());
    let mut values = ndarray::Array2::from_elem((nr, nc), f64::NAN);
    let mut flags = ndarray::Array2::from_elem((nr, nc), evomics_core::ValueFlag::Missing);
    const BATCH: usize = 256;
    for (b, batch) in value_names.chunks(BATCH).enumerate() {
        let df = crate::parquet::read(path, Some(batch.to_vec()))?;
        for (k, n) in batch.iter().enumerate() {
            let j = b * BATCH + k;
            let c = df.column(n).map_err(|e| pq(path, e))?;
            if !c.dtype().is_primitive_numeric() {
                return Err(IoError::layout(
                    path,
                    format!(
                        "column '{}' has type {}, expected numbers",
                        clip(n),
                        c.dtype()
                    ),
                ));
            }
            let c = c.cast(&DataType::Float64).map_err(|e| pq(path, e))?;
            for (i, v) in c
                .f64()
                .map_err(|e| pq(path, e))?
                .iter()
                .enumerate()
                .take(nr)
            {
                match v {
                    Some(x) if !x.is_finite() => {
                        return Err(IoError::layout(path, format!("column '{}', row {}: value {x} is not finite; store missing values as null", clip(n), i + 1)))
                    }
                    Some(x) if x < 0.0 && counts => {
                        return Err(IoError::layout(path, format!("column '{}', row {}: count {x} is negative; read counts cannot be negative (read log or normalized values with scale=other)", clip(n), i + 1)))
                    }
                    Some(x) if zero_na && x == 0.0 => {}
                    Some(x) => {
                        values[[i, j]] = x;
                        flags[[i, j]] = evomics_core::ValueFlag::Observed;
                    }
                    None => {}
                }
            }
        }
    }
    let report = ReadReport {
        format: PARQUET_NAME.into(),
        quantity: quantity_name(opts).into(),
        rows_read: ids.len(),
        ..Default::default()
    };
    let id_lines: Vec<(String, u64)> = ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), i as u64 + 1))
        .collect();
    let scale = default_scale(opts);
    if opts.transpose {
        check_unique_ids(path, &id_lines, "sample")?;
        let columns = ids
            .into_iter()
            .map(|s| MatrixColumn {
                header: s.clone(),
                name: s,
            })
            .collect();
        return Ok(ParsedMatrix {
            path: path.to_path_buf(),
            feature_flags: vec![evomics_core::FeatureFlags::NONE; value_names.len()],
            feature_ids: value_names,
            annotations: Vec::new(),
            columns,
            values: values.reversed_axes().as_standard_layout().into_owned(),
            flags: flags.reversed_axes().as_standard_layout().into_owned(),
            scale,
            report,
            source_digest: None,
        });
    }
    check_unique_ids(path, &id_lines, "feature")?;
    let columns = value_names
        .into_iter()
        .map(|n| MatrixColumn {
            header: n.clone(),
            name: n,
        })
        .collect();
    Ok(ParsedMatrix {
        path: path.to_path_buf(),
        feature_flags: vec![evomics_core::FeatureFlags::NONE; ids.len()],
        feature_ids: ids,
        annotations: Vec::new(),
        columns,
        values,
        flags,
        scale,
        report,
        source_digest: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_table;

    fn table(s: &str) -> TextTable {
        parse_table(Path::new("w.tsv"), s, None).unwrap()
    }

    fn read_text(mut t: TextTable, o: &ReadOptions) -> Result<ParsedMatrix> {
        super::read_text(&mut t, o)
    }

    #[test]
    fn reads_and_transposes() {
        let o = ReadOptions::default();
        let m = read_text(table("id\ta\tb\nf1\t1\tNA\nf2\t0\t4\n"), &o).unwrap();
        assert_eq!(m.feature_ids, vec!["f1", "f2"]);
        assert!(m.values[[0, 1]].is_nan());
        assert_eq!(m.values[[1, 0]], 0.0);
        let o = ReadOptions {
            transpose: true,
            zero_is_missing: Some(true),
            ..Default::default()
        };
        let t = read_text(table("sample\tf1\tf2\na\t1\t0\nb\t2\t3\n"), &o).unwrap();
        assert_eq!(t.feature_ids, vec!["f1", "f2"]);
        assert_eq!(t.columns[1].name, "b");
        assert_eq!(t.values[[0, 1]], 2.0);
        assert!(t.values[[1, 0]].is_nan());
    }

    #[test]
    fn unnamed_columns_are_skipped_when_empty_and_refused_otherwise() {
        let o = ReadOptions::default();
        let m = read_text(table("id\ta\t\tb\nf1\t1\t\t2\n"), &o).unwrap();
        assert_eq!(m.columns.len(), 2);
        let e = read_text(table("id\ta\t\tb\nf1\t1\t5\t2\n"), &o)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("w.tsv:1: column 3 has values but no header; name it after its sample (its first value is on line 2)"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_positions() {
        let o = ReadOptions::default();
        let m = read_text(table("id\ta\nf1\t1\nf1\t2\n"), &o)
            .unwrap_err()
            .to_string();
        assert!(m.contains("w.tsv:3") && m.contains("line 2"), "{m}");
        let m = read_text(table("id\ta\nf1\tx\n"), &o)
            .unwrap_err()
            .to_string();
        assert!(m.contains("w.tsv:2, column 'a'"), "{m}");
    }
}
