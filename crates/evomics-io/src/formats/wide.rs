//! The generic wide matrix: one feature per row (first column the id), one sample per column;
//! or, with `transpose=true`, one sample per row and one feature per column. Text or Parquet.

use std::collections::HashMap;
use std::path::Path;

use polars::prelude::*;

use evomics_core::ValueScale;

use super::common::CountCheck;
use crate::error::{IoError, Result};
use crate::matrix::{MatrixColumn, ParsedMatrix, ReadReport};
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

/// Read a wide text matrix.
pub fn read_text(t: &TextTable, opts: &ReadOptions) -> Result<ParsedMatrix> {
    let path = t.path.as_path();
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
    // A column without a header is skipped when it is empty (spreadsheet exports leave such
    // gaps) and refused when it holds values, which could not be matched to any sample.
    let unnamed_empty =
        |k: usize| t.header[k].is_empty() && t.rows.iter().all(|r| r.get(k).is_empty());
    let value_cols: Vec<usize> = (0..t.header.len())
        .filter(|&k| k != id_col && !ann_cols.iter().any(|(_, c)| *c == k) && !unnamed_empty(k))
        .collect();
    if let Some(&k) = value_cols.iter().find(|&&k| t.header[k].is_empty()) {
        return Err(IoError::parse(
            path,
            1,
            None,
            format!(
                "column {} has values but no header; name it after its {}",
                k + 1,
                if opts.transpose { "feature" } else { "sample" }
            ),
        ));
    }
    if value_cols.is_empty() {
        return Err(IoError::layout(
            path,
            "no value columns: the header has only the id column",
        ));
    }
    if t.rows.is_empty() {
        return Err(IoError::layout(
            path,
            "the file has a header but no data rows",
        ));
    }
    let zero_na = zero_missing(opts);
    let mut report = ReadReport {
        format: FORMAT.name.into(),
        quantity: quantity_name(opts).into(),
        rows_read: t.rows.len(),
        ..Default::default()
    };
    let mut cells: Vec<Vec<Option<f64>>> = Vec::with_capacity(t.rows.len());
    let mut ids = Vec::with_capacity(t.rows.len());
    // Read counts are checked where they are parsed, so a bad count names its line and column.
    let mut counts = (default_scale(opts) == ValueScale::Counts).then(CountCheck::default);
    for r in &t.rows {
        ids.push((r.get(id_col).to_string(), r.line));
        let mut row = Vec::with_capacity(value_cols.len());
        for &k in &value_cols {
            let v = parse_cell(path, r.line, &t.header[k], r.get(k))?;
            if let Some(c) = counts.as_mut() {
                c.check(path, r.line, &t.header[k], v)?;
            }
            row.push(v.filter(|x| !(zero_na && *x == 0.0)));
        }
        cells.push(row);
    }
    if let Some(w) = counts.and_then(|c| c.warning(path)) {
        report.warnings.push(w);
    }
    let headers: Vec<String> = value_cols.iter().map(|&k| t.header[k].clone()).collect();
    if opts.transpose {
        if !ann_cols.is_empty() {
            return Err(IoError::Spec(
                "annotations= cannot be used with transpose=true".into(),
            ));
        }
        let feature_ids: Vec<(String, u64)> = headers.iter().map(|h| (h.clone(), 1)).collect();
        check_unique_ids(path, &ids, "sample")?;
        check_unique_ids(path, &feature_ids, "feature")?;
        let tcells: Vec<Vec<Option<f64>>> = (0..headers.len())
            .map(|k| cells.iter().map(|row| row[k]).collect())
            .collect();
        let columns = ids
            .into_iter()
            .map(|(s, _)| MatrixColumn {
                header: s.clone(),
                name: s,
            })
            .collect();
        report.warnings.extend(negative_warning(&tcells, opts));
        return Ok(ParsedMatrix::from_cells(
            path.to_path_buf(),
            headers,
            columns,
            tcells,
            default_scale(opts),
            report,
        ));
    }
    check_unique_ids(path, &ids, "feature")?;
    report.warnings.extend(negative_warning(&cells, opts));
    let columns = headers
        .into_iter()
        .map(|h| MatrixColumn {
            header: h.clone(),
            name: h,
        })
        .collect();
    let mut m = ParsedMatrix::from_cells(
        path.to_path_buf(),
        ids.into_iter().map(|(s, _)| s).collect(),
        columns,
        cells,
        default_scale(opts),
        report,
    );
    for (name, k) in ann_cols {
        let vals = t
            .rows
            .iter()
            .map(|r| Some(r.get(k).to_string()).filter(|s| !s.is_empty()))
            .collect();
        m.annotations.push((name, vals));
    }
    Ok(m)
}

fn negative_warning(cells: &[Vec<Option<f64>>], opts: &ReadOptions) -> Option<String> {
    // Negative counts are already an error (CountCheck); linear intensities only warn.
    if opts.scale != Some(ValueScale::Linear) {
        return None;
    }
    let neg = cells
        .iter()
        .flatten()
        .flatten()
        .filter(|v| **v < 0.0)
        .count();
    (neg > 0).then(|| {
        format!(
            "{neg} negative value(s) in a layer declared as {}",
            opts.scale.map(|s| s.name()).unwrap_or("")
        )
    })
}

/// Read a wide matrix stored as Parquet: a text id column, then numeric sample columns.
pub fn read_parquet(path: &Path, opts: &ReadOptions) -> Result<ParsedMatrix> {
    let df = crate::parquet::read(path, None)?;
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let id_name = opts
        .id_column
        .clone()
        .unwrap_or_else(|| names.first().cloned().unwrap_or_default());
    let id_col = df.column(&id_name).map_err(|_| {
        IoError::layout(
            path,
            format!(
                "no id column '{id_name}' (columns: {})",
                header_preview(&names)
            ),
        )
    })?;
    let id_str = id_col
        .cast(&DataType::String)
        .map_err(|e| IoError::Parquet {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let ids: Vec<String> = id_str
        .str()
        .map_err(|e| IoError::Parquet {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?
        .iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect();
    let zero_na = zero_missing(opts);
    let mut cols: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    for n in names.iter().filter(|n| **n != id_name) {
        let c = df.column(n).map_err(|e| IoError::Parquet {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if !c.dtype().is_primitive_numeric() {
            return Err(IoError::layout(
                path,
                format!("column '{n}' has type {}, expected numbers", c.dtype()),
            ));
        }
        let c = c.cast(&DataType::Float64).map_err(|e| IoError::Parquet {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut vals = Vec::with_capacity(ids.len());
        for (i, v) in c
            .f64()
            .map_err(|e| IoError::Parquet {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?
            .iter()
            .enumerate()
        {
            match v {
                Some(x) if !x.is_finite() => {
                    return Err(IoError::layout(path, format!("column '{n}', row {}: value {x} is not finite; store missing values as null", i + 1)))
                }
                Some(x) if x < 0.0 && default_scale(opts) == ValueScale::Counts => {
                    return Err(IoError::layout(path, format!("column '{n}', row {}: count {x} is negative; read counts cannot be negative (read log or normalized values with scale=other)", i + 1)))
                }
                Some(x) if zero_na && x == 0.0 => vals.push(None),
                other => vals.push(other),
            }
        }
        cols.push((n.clone(), vals));
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
    if opts.transpose {
        check_unique_ids(path, &id_lines, "sample")?;
        let feature_ids: Vec<String> = cols.iter().map(|(n, _)| n.clone()).collect();
        let cells = cols.into_iter().map(|(_, v)| v).collect();
        let columns = ids
            .into_iter()
            .map(|s| MatrixColumn {
                header: s.clone(),
                name: s,
            })
            .collect();
        return Ok(ParsedMatrix::from_cells(
            path.to_path_buf(),
            feature_ids,
            columns,
            cells,
            default_scale(opts),
            report,
        ));
    }
    check_unique_ids(path, &id_lines, "feature")?;
    let cells: Vec<Vec<Option<f64>>> = (0..ids.len())
        .map(|i| cols.iter().map(|(_, v)| v[i]).collect())
        .collect();
    let columns = cols
        .iter()
        .map(|(n, _)| MatrixColumn {
            header: n.clone(),
            name: n.clone(),
        })
        .collect();
    Ok(ParsedMatrix::from_cells(
        path.to_path_buf(),
        ids,
        columns,
        cells,
        default_scale(opts),
        report,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_table;

    fn table(s: &str) -> TextTable {
        parse_table(Path::new("w.tsv"), s, None).unwrap()
    }

    #[test]
    fn reads_and_transposes() {
        let o = ReadOptions::default();
        let m = read_text(&table("id\ta\tb\nf1\t1\tNA\nf2\t0\t4\n"), &o).unwrap();
        assert_eq!(m.feature_ids, vec!["f1", "f2"]);
        assert!(m.values[[0, 1]].is_nan());
        assert_eq!(m.values[[1, 0]], 0.0);
        let o = ReadOptions {
            transpose: true,
            zero_is_missing: Some(true),
            ..Default::default()
        };
        let t = read_text(&table("sample\tf1\tf2\na\t1\t0\nb\t2\t3\n"), &o).unwrap();
        assert_eq!(t.feature_ids, vec!["f1", "f2"]);
        assert_eq!(t.columns[1].name, "b");
        assert_eq!(t.values[[0, 1]], 2.0);
        assert!(t.values[[1, 0]].is_nan());
    }

    #[test]
    fn unnamed_columns_are_skipped_when_empty_and_refused_otherwise() {
        let o = ReadOptions::default();
        let m = read_text(&table("id\ta\t\tb\nf1\t1\t\t2\n"), &o).unwrap();
        assert_eq!(m.columns.len(), 2);
        let e = read_text(&table("id\ta\t\tb\nf1\t1\t5\t2\n"), &o)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("w.tsv:1: column 3 has values but no header"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_positions() {
        let o = ReadOptions::default();
        let m = read_text(&table("id\ta\nf1\t1\nf1\t2\n"), &o)
            .unwrap_err()
            .to_string();
        assert!(m.contains("w.tsv:3") && m.contains("line 2"), "{m}");
        let m = read_text(&table("id\ta\nf1\tx\n"), &o)
            .unwrap_err()
            .to_string();
        assert!(m.contains("w.tsv:2, column 'a'"), "{m}");
    }
}
