//! DIA-NN: the protein-group matrix `report.pg_matrix.tsv` (one column per run, headed by the
//! run's file path) and the long main report (`report.tsv` of 1.x, `report.parquet` of 2.x),
//! pivoted from `Run` × `Protein.Group` → `PG.MaxLFQ`.

use std::collections::HashMap;
use std::path::Path;

use polars::prelude::*;

use evomics_core::{FeatureFlags, ValueScale};

use super::common::{bump, parse_intensity, run_stem, split_list, text, zero_is_missing};
use super::long::{Loc, Pivot};
use crate::error::{IoError, Result};
use crate::matrix::{MatrixBuilder, MatrixColumn, ParsedMatrix, ReadReport};
use crate::spec::ReadOptions;
use crate::text::{clip, TextTable};

/// The `report.pg_matrix.tsv` format.
pub const PG_MATRIX: super::TextFormat = super::TextFormat {
    name: "diann",
    expects: "columns 'Protein.Group', 'Protein.Ids', 'Protein.Names', 'Genes', 'First.Protein.Description', then one column per run headed by its file path (DIA-NN report.pg_matrix.tsv)",
    detect: detect_pg_matrix,
    read: read_pg_matrix,
};

/// The long main report as text (`report.tsv`).
pub const REPORT: super::TextFormat = super::TextFormat {
    name: "diann-report",
    expects: "columns 'Run', 'Protein.Group' and 'PG.MaxLFQ', one row per precursor and run (DIA-NN main report, report.tsv; report.parquet is read by file extension)",
    detect: detect_report,
    read: read_report_text,
};

/// Annotation columns of a pg_matrix (every other column is a run).
const PG_ANNOTATIONS: [&str; 7] = [
    "Protein.Group",
    "Protein.Ids",
    "Protein.Names",
    "Genes",
    "First.Protein.Description",
    "N.Sequences",
    "N.Proteotypic.Sequences",
];

/// Report quantities: `quant=` name and column, default first.
const REPORT_QUANTITIES: [(&str, &str); 3] = [
    ("maxlfq", "PG.MaxLFQ"),
    ("quantity", "PG.Quantity"),
    ("normalised", "PG.Normalised"),
];

fn detect_pg_matrix(t: &TextTable) -> bool {
    t.column("Protein.Group").is_some()
        && (t.column("Genes").is_some() || t.column("Protein.Names").is_some())
        && t.column("Run").is_none()
        && t.column("Precursor.Id").is_none()
        && t.column("Stripped.Sequence").is_none()
}

fn detect_report(t: &TextTable) -> bool {
    t.column("Run").is_some()
        && t.column("Protein.Group").is_some()
        && t.column("PG.MaxLFQ").is_some()
}

/// Sample columns named by the run's file stem; when two stems collide the full header is the
/// name, so that only an exact header in the sheet can claim them.
fn run_columns(headers: &[String], warnings: &mut Vec<String>) -> Vec<MatrixColumn> {
    let stems: Vec<String> = headers.iter().map(|h| run_stem(h)).collect();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for s in &stems {
        *count.entry(s.as_str()).or_insert(0) += 1;
    }
    let clashing: Vec<&String> = stems.iter().filter(|s| count[s.as_str()] > 1).collect();
    if !clashing.is_empty() {
        warnings.push(format!(
            "{} runs share a file name with another run (e.g. '{}'); those runs are matched to the sheet by their full path only",
            clashing.len(),
            clashing[0]
        ));
    }
    headers
        .iter()
        .zip(&stems)
        .map(|(h, s)| MatrixColumn {
            header: h.clone(),
            name: if count[s.as_str()] > 1 {
                h.clone()
            } else {
                s.clone()
            },
        })
        .collect()
}

fn gene_annotations(genes: Vec<Option<String>>) -> [(String, Vec<Option<String>>); 2] {
    let first = genes
        .iter()
        .map(|g| {
            g.as_deref()
                .and_then(|s| split_list(s, false).first().map(|x| x.to_string()))
        })
        .collect();
    [("gene".into(), first), ("gene_names".into(), genes)]
}

/// Read a `report.pg_matrix.tsv`.
pub fn read_pg_matrix(t: &mut TextTable, opts: &ReadOptions) -> Result<ParsedMatrix> {
    let path = t.path.clone();
    let path = path.as_path();
    let id_col = t.require("Protein.Group", "DIA-NN pg_matrix")?;
    if opts.quantity.as_deref().is_some_and(|q| q != "maxlfq") {
        return Err(IoError::Spec(format!(
            "quant={} is not available in a DIA-NN pg_matrix, which holds one quantity per run (MaxLFQ); read the main report for others",
            opts.quantity.as_deref().unwrap_or("")
        )));
    }
    let run_idx: Vec<usize> = (0..t.header.len())
        .filter(|&k| !PG_ANNOTATIONS.contains(&t.header[k].as_str()) && !t.header[k].is_empty())
        .collect();
    if run_idx.is_empty() {
        return Err(IoError::layout(
            path,
            "no run columns after the annotation columns; a pg_matrix has one column per run",
        ));
    }
    let zero_na = zero_is_missing(opts, true);
    let mut report = ReadReport {
        format: PG_MATRIX.name.into(),
        quantity: "maxlfq".into(),
        ..Default::default()
    };
    let headers: Vec<String> = run_idx.iter().map(|&k| t.header[k].clone()).collect();
    let columns = run_columns(&headers, &mut report.warnings);
    let ann_cols: Vec<(&str, Option<usize>)> = [
        ("Protein.Ids", "protein_ids"),
        ("Protein.Names", "protein_names"),
        ("First.Protein.Description", "description"),
        ("Genes", "genes"),
    ]
    .iter()
    .map(|(col, key)| (*key, t.column(col)))
    .collect();
    let mut anns: Vec<Vec<Option<String>>> = vec![Vec::new(); ann_cols.len()];
    let mut ids = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut cells = MatrixBuilder::new(run_idx.len());
    let TextTable { header, rows, .. } = t;
    while let Some(r) = rows.next_row()? {
        let id = r.get(id_col).to_string();
        if id.is_empty() {
            return Err(IoError::parse(
                path,
                r.line,
                Some("Protein.Group"),
                "the protein group is empty",
            ));
        }
        if let Some(prev) = seen.insert(id.clone(), r.line) {
            return Err(IoError::parse(
                path,
                r.line,
                Some("Protein.Group"),
                format!("protein group '{}' already appears on line {prev}; a pg_matrix has one row per group", clip(&id)),
            ));
        }
        ids.push(id);
        cells.reserve_row(path, r.line, r.progress())?;
        for &k in &run_idx {
            cells.push(parse_intensity(
                path,
                r.line,
                &header[k],
                r.raw(k),
                zero_na,
            )?);
        }
        for (a, (_, c)) in anns.iter_mut().zip(&ann_cols) {
            if let Some(c) = c {
                a.push(text(r.get(*c)));
            }
        }
    }
    report.rows_read = rows.rows_read;
    if ids.is_empty() {
        return Err(IoError::layout(
            path,
            "the file has a header but no protein-group rows",
        ));
    }
    let mut m = ParsedMatrix::from_builder(
        path.to_path_buf(),
        ids,
        columns,
        cells,
        opts.scale.unwrap_or(ValueScale::Linear),
        report,
    );
    for ((key, c), v) in ann_cols.into_iter().zip(anns) {
        match (key, c) {
            (_, None) => {}
            ("genes", Some(_)) => m.annotations.extend(gene_annotations(v)),
            (key, Some(_)) => m.annotations.push((key.into(), v)),
        }
    }
    Ok(m)
}

fn report_quantity(opts: &ReadOptions) -> Result<(&'static str, &'static str)> {
    match &opts.quantity {
        None => Ok(REPORT_QUANTITIES[0]),
        Some(q) => REPORT_QUANTITIES
            .iter()
            .copied()
            .find(|(n, _)| n == q)
            .ok_or_else(|| {
                IoError::Spec(format!(
                    "quant={q} is not a DIA-NN report quantity; use one of: {}",
                    REPORT_QUANTITIES
                        .iter()
                        .map(|(n, c)| format!("{n} ({c})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }),
    }
}

/// Per-protein annotations of a long report, taken from the first row of each protein group.
#[derive(Default)]
struct LongAnnotations {
    genes: Vec<Option<String>>,
    protein_ids: Vec<Option<String>>,
    protein_names: Vec<Option<String>>,
    decoy: Vec<bool>,
}

impl LongAnnotations {
    fn note(
        &mut self,
        i: usize,
        genes: Option<String>,
        ids: Option<String>,
        names: Option<String>,
        decoy: bool,
    ) {
        if i == self.genes.len() {
            self.genes.push(genes);
            self.protein_ids.push(ids);
            self.protein_names.push(names);
            self.decoy.push(decoy);
        } else if decoy {
            self.decoy[i] = true;
        }
    }
}

fn finish_long(
    path: &Path,
    pivot: Pivot,
    ann: LongAnnotations,
    mut report: ReadReport,
    opts: &ReadOptions,
    has: [bool; 3],
) -> ParsedMatrix {
    bump(
        &mut report.rows_dropped,
        "repeated_protein_group_row",
        pivot.repeats,
    );
    let columns = run_columns(&pivot.runs, &mut report.warnings);
    let mut pivot = pivot;
    let (values, flags) = pivot.matrix();
    let n_decoy = ann.decoy.iter().filter(|d| **d).count();
    if opts.keep_flagged {
        bump(&mut report.rows_flagged, "decoy", n_decoy);
    }
    let mut m = ParsedMatrix {
        path: path.to_path_buf(),
        feature_flags: Vec::new(),
        feature_ids: pivot.features,
        annotations: Vec::new(),
        columns,
        values,
        flags,
        scale: opts.scale.unwrap_or(ValueScale::Linear),
        report,
        source_digest: None,
    };
    m.feature_flags = ann
        .decoy
        .iter()
        .map(|d| {
            if *d {
                FeatureFlags::DECOY
            } else {
                FeatureFlags::NONE
            }
        })
        .collect();
    if has[1] {
        m.annotations.push(("protein_ids".into(), ann.protein_ids));
    }
    if has[2] {
        m.annotations
            .push(("protein_names".into(), ann.protein_names));
    }
    if has[0] {
        m.annotations.extend(gene_annotations(ann.genes));
    }
    m
}

/// Read the long main report as text (`report.tsv`).
pub fn read_report_text(t: &mut TextTable, opts: &ReadOptions) -> Result<ParsedMatrix> {
    let path = t.path.clone();
    let path = path.as_path();
    let (qname, qcol_name) = report_quantity(opts)?;
    let run_col = t.require("Run", "DIA-NN report")?;
    let pg_col = t.require("Protein.Group", "DIA-NN report")?;
    let q_col = t.require(qcol_name, "DIA-NN report")?;
    let (gene_col, ids_col, names_col) = (
        t.column("Genes"),
        t.column("Protein.Ids"),
        t.column("Protein.Names"),
    );
    let decoy_col = t.column("Decoy");
    let zero_na = zero_is_missing(opts, true);
    let mut report = ReadReport {
        format: REPORT.name.into(),
        quantity: qname.into(),
        ..Default::default()
    };
    let mut pivot = Pivot::default();
    let mut ann = LongAnnotations::default();
    while let Some(r) = t.rows.next_row()? {
        let decoy = decoy_col.is_some_and(|c| matches!(r.get(c), "1" | "True" | "true"));
        if decoy && !opts.keep_flagged {
            bump(&mut report.rows_dropped, "decoy", 1);
            continue;
        }
        let pg = r.get(pg_col);
        let run = r.get(run_col);
        for (v, c) in [(pg, "Protein.Group"), (run, "Run")] {
            if v.is_empty() {
                return Err(IoError::parse(
                    path,
                    r.line,
                    Some(c),
                    format!("the {c} cell is empty"),
                ));
            }
        }
        let v = parse_intensity(path, r.line, qcol_name, r.get(q_col), zero_na)?;
        let i = pivot
            .add(pg, run, v, Loc::Line(r.line))
            .map_err(|c| IoError::parse(path, r.line, Some(qcol_name), c.message(qcol_name)))?;
        // Annotations come from a protein group's first row: later rows copy no text.
        let first = i == ann.genes.len();
        let cell = |c: Option<usize>| c.filter(|_| first).and_then(|c| text(r.get(c)));
        ann.note(i, cell(gene_col), cell(ids_col), cell(names_col), decoy);
    }
    report.rows_read = t.rows.rows_read;
    if report.rows_read == 0 {
        return Err(IoError::layout(path, "the report has a header but no rows"));
    }
    if pivot.features.is_empty() {
        return Err(IoError::layout(
            path,
            "every row of the report was dropped; nothing to read",
        ));
    }
    let has = [gene_col.is_some(), ids_col.is_some(), names_col.is_some()];
    Ok(finish_long(path, pivot, ann, report, opts, has))
}

/// Column names of a Parquet file, without reading its data.
pub fn parquet_columns(path: &Path) -> Result<Vec<String>> {
    crate::parquet::column_names(path)
}

/// True when a Parquet file's columns are those of a DIA-NN main report.
pub fn is_report_parquet(columns: &[String]) -> bool {
    ["Run", "Protein.Group", "PG.MaxLFQ"]
        .iter()
        .all(|c| columns.iter().any(|x| x == c))
}

fn pq_err(path: &Path, e: PolarsError) -> IoError {
    IoError::Parquet {
        path: path.to_path_buf(),
        message: format!("{e}; the file may be truncated or not Parquet"),
    }
}

fn string_column(path: &Path, df: &DataFrame, name: &str) -> Result<Vec<Option<String>>> {
    let c = df.column(name).map_err(|e| pq_err(path, e))?;
    let c = c.cast(&DataType::String).map_err(|e| pq_err(path, e))?;
    Ok(c.str()
        .map_err(|e| pq_err(path, e))?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

/// Read the long main report of DIA-NN 2.x (`report.parquet`).
pub fn read_report_parquet(path: &Path, opts: &ReadOptions) -> Result<ParsedMatrix> {
    let (qname, qcol_name) = report_quantity(opts)?;
    let names = parquet_columns(path)?;
    for need in ["Run", "Protein.Group", qcol_name] {
        if !names.iter().any(|n| n == need) {
            return Err(IoError::layout(
                path,
                format!(
                    "no column '{need}', which a DIA-NN report.parquet must have (columns: {})",
                    super::common::preview(&names, 12)
                ),
            ));
        }
    }
    let optional: Vec<&str> = ["Genes", "Protein.Ids", "Protein.Names", "Decoy"]
        .into_iter()
        .filter(|c| names.iter().any(|n| n == c))
        .collect();
    let mut wanted: Vec<String> = vec!["Run".into(), "Protein.Group".into(), qcol_name.into()];
    wanted.extend(optional.iter().map(|s| s.to_string()));
    let df = crate::parquet::read(path, Some(wanted))?;
    let runs = string_column(path, &df, "Run")?;
    let pgs = string_column(path, &df, "Protein.Group")?;
    let q = df.column(qcol_name).map_err(|e| pq_err(path, e))?;
    if !q.dtype().is_primitive_numeric() {
        return Err(IoError::layout(
            path,
            format!(
                "column '{qcol_name}' has type {}, expected numbers",
                q.dtype()
            ),
        ));
    }
    let q = q.cast(&DataType::Float64).map_err(|e| pq_err(path, e))?;
    let q: Vec<Option<f64>> = q.f64().map_err(|e| pq_err(path, e))?.iter().collect();
    let opt_col = |name: &str| -> Result<Option<Vec<Option<String>>>> {
        if optional.contains(&name) {
            string_column(path, &df, name).map(Some)
        } else {
            Ok(None)
        }
    };
    let genes = opt_col("Genes")?;
    let ids = opt_col("Protein.Ids")?;
    let pnames = opt_col("Protein.Names")?;
    let decoys = opt_col("Decoy")?;
    if runs.is_empty() {
        return Err(IoError::layout(path, "the report has no rows"));
    }
    let zero_na = zero_is_missing(opts, true);
    let mut report = ReadReport {
        format: REPORT.name.into(),
        quantity: qname.into(),
        rows_read: runs.len(),
        ..Default::default()
    };
    let mut pivot = Pivot::default();
    let mut ann = LongAnnotations::default();
    for k in 0..runs.len() {
        let row = k + 1;
        let decoy = decoys
            .as_ref()
            .is_some_and(|d| matches!(d[k].as_deref(), Some("1" | "true" | "True")));
        if decoy && !opts.keep_flagged {
            bump(&mut report.rows_dropped, "decoy", 1);
            continue;
        }
        let (Some(run), Some(pg)) = (runs[k].as_deref(), pgs[k].as_deref()) else {
            return Err(IoError::layout(
                path,
                format!("row {row}: 'Run' or 'Protein.Group' is null"),
            ));
        };
        let v = match q[k] {
            Some(x) if !x.is_finite() || x < 0.0 => {
                return Err(IoError::layout(
                    path,
                    format!("row {row}, column '{qcol_name}': value {x} is not a finite non-negative quantity"),
                ))
            }
            Some(x) if zero_na && x == 0.0 => None,
            other => other,
        };
        let i = pivot.add(pg, run, v, Loc::Row(row)).map_err(|c| {
            IoError::layout(
                path,
                format!("row {row}, column '{qcol_name}': {}", c.message(qcol_name)),
            )
        })?;
        let pick = |c: &Option<Vec<Option<String>>>| {
            c.as_ref()
                .and_then(|v| v[k].clone())
                .filter(|s| !s.is_empty())
        };
        ann.note(i, pick(&genes), pick(&ids), pick(&pnames), decoy);
    }
    if pivot.features.is_empty() {
        return Err(IoError::layout(
            path,
            "every row of the report was dropped; nothing to read",
        ));
    }
    let has = [genes.is_some(), ids.is_some(), pnames.is_some()];
    Ok(finish_long(path, pivot, ann, report, opts, has))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_table;

    #[test]
    fn pg_matrix_runs_named_by_stem() {
        let t = parse_table(
            Path::new("report.pg_matrix.tsv"),
            "Protein.Group\tProtein.Ids\tProtein.Names\tGenes\tFirst.Protein.Description\t/d/a/run1.raw\tD:\\x\\run2.mzML\n\
             P1;P2\tP1;P2\tA_HUMAN\tGA;GB\tdesc\t100\t\n\
             P3\tP3\tC_HUMAN\t\tdesc3\t0\t5.5\n",
            None,
        )
        .unwrap();
        assert!(detect_pg_matrix(&t) && !detect_report(&t));
        let mut t = t;
        let m = read_pg_matrix(&mut t, &ReadOptions::default()).unwrap();
        assert_eq!(m.columns[0].name, "run1");
        assert_eq!(m.columns[1].name, "run2");
        assert_eq!(m.columns[1].header, "D:\\x\\run2.mzML");
        assert_eq!(m.values[[0, 0]], 100.0);
        assert!(m.values[[0, 1]].is_nan() && m.values[[1, 0]].is_nan());
        let gene = &m.annotations.iter().find(|(k, _)| k == "gene").unwrap().1;
        assert_eq!(gene[0].as_deref(), Some("GA"));
        assert_eq!(gene[1], None);
    }

    #[test]
    fn report_text_pivots_and_rejects_conflicts() {
        let body = "Run\tProtein.Group\tGenes\tPrecursor.Id\tPG.MaxLFQ\n\
                    r1\tP1\tGA\tAAA2\t10\n\
                    r1\tP1\tGA\tCCC2\t10\n\
                    r2\tP1\tGA\tAAA2\t12\n\
                    r2\tP2\tGB\tDDD3\t7\n";
        let mut t = parse_table(Path::new("report.tsv"), body, None).unwrap();
        assert!(detect_report(&t) && !detect_pg_matrix(&t));
        let m = read_report_text(&mut t, &ReadOptions::default()).unwrap();
        assert_eq!(m.feature_ids, vec!["P1", "P2"]);
        assert_eq!(
            m.report.rows_dropped.get("repeated_protein_group_row"),
            Some(&1)
        );
        assert!(m.values[[1, 0]].is_nan());
        assert_eq!(m.values[[1, 1]], 7.0);
        let bad = format!("{body}r1\tP1\tGA\tEEE2\t11\n");
        let mut t = parse_table(Path::new("report.tsv"), &bad, None).unwrap();
        let e = read_report_text(&mut t, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("report.tsv:6, column 'PG.MaxLFQ'") && e.contains("line 2"),
            "{e}"
        );
    }
}
