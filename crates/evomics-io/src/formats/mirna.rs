//! miRNA count tables: nf-core/smrnaseq `mirna.tsv` (miRNA × samples, first column `miRNA`),
//! its transposed `mature_counts.csv` / `hairpin_counts.csv` (samples × miRNA, first column the
//! sample names), and miRDeep2 `quantifier.pl` output (`miRNAs_expressed_all_samples_*.csv`).
//!
//! Count layers have scale `counts`; 0 is an observed count, a negative count is an error and
//! fractional counts are kept with a warning (see [`super::common`]'s count check).

use std::collections::HashMap;

use evomics_core::{FeatureFlags, ValueScale};

use super::common::{bump, merge_annotation, sum_rows, CountCheck};
use super::wide;
use crate::error::{IoError, Result};
use crate::matrix::{MatrixBuilder, MatrixColumn, ParsedMatrix, ReadReport};
use crate::spec::ReadOptions;
use crate::text::{parse_cell, TextTable};

/// nf-core/smrnaseq `mirna.tsv` (mirtop): miRNA × samples.
pub const SMRNASEQ: super::TextFormat = super::TextFormat {
    name: "smrnaseq",
    expects: "first column 'miRNA' (miRNA names), then one read-count column per sample (nf-core/smrnaseq mirna.tsv, or any miRNA × sample count table headed that way)",
    detect: detect_smrnaseq,
    read: read_smrnaseq,
};

/// nf-core/smrnaseq `mature_counts.csv` / `hairpin_counts.csv` (edgeR step): samples × miRNA.
pub const SMRNASEQ_TRANSPOSED: super::TextFormat = super::TextFormat {
    name: "smrnaseq-transposed",
    expects: "an empty (or 'sample') first header, then miRNA names as column headers (hsa-miR-21-5p, hsa-let-7a-5p, …), one row per sample (nf-core/smrnaseq mature_counts.csv)",
    detect: detect_transposed,
    read: read_transposed,
};

/// miRDeep2 `quantifier.pl` output.
pub const MIRDEEP2: super::TextFormat = super::TextFormat {
    name: "mirdeep2",
    expects: "tab-separated header '#miRNA, read_count, precursor, total, <sample>…, <sample>(norm)…' (miRDeep2 quantifier.pl miRNAs_expressed_all_samples_*.csv)",
    detect: detect_mirdeep2,
    read: read_mirdeep2,
};

fn detect_smrnaseq(t: &TextTable) -> bool {
    t.header.len() >= 2 && t.header[0].eq_ignore_ascii_case("miRNA")
}

/// True for names such as `hsa-miR-21-5p`, `miR-1`, `hsa-let-7a-5p`, `mmu-mir-744`, `MIMAT0000062`.
pub fn looks_like_mirna(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    l.starts_with("mimat")
        || l.starts_with("mir-")
        || l.starts_with("let-")
        || l.split_once('-').is_some_and(|(sp, rest)| {
            (2..=4).contains(&sp.len())
                && (rest.starts_with("mir-")
                    || rest.starts_with("let-")
                    || rest.starts_with("lin-"))
        })
}

fn detect_transposed(t: &TextTable) -> bool {
    let first_ok = matches!(
        t.header.first().map(String::as_str),
        Some("" | "sample" | "Sample" | "sample_id")
    );
    let rest = &t.header[1.min(t.header.len())..];
    let mirna_like = rest.iter().filter(|h| looks_like_mirna(h)).count();
    first_ok && !rest.is_empty() && mirna_like * 10 >= rest.len() * 9
}

fn detect_mirdeep2(t: &TextTable) -> bool {
    t.header.first().is_some_and(|h| h == "#miRNA") && t.column("precursor").is_some()
}

fn counts_only(opts: &ReadOptions, format: &str) -> Result<()> {
    match opts.quantity.as_deref() {
        None | Some("counts") => Ok(()),
        Some(q) => Err(IoError::Spec(format!(
            "quant={q}: a {format} table holds read counts only (quant=counts)"
        ))),
    }
}

fn wide_options(opts: &ReadOptions, transpose: bool) -> ReadOptions {
    ReadOptions {
        transpose,
        id_column: None,
        scale: Some(opts.scale.unwrap_or(ValueScale::Counts)),
        zero_is_missing: Some(opts.zero_is_missing.unwrap_or(false)),
        ..opts.clone()
    }
}

/// Read an nf-core/smrnaseq `mirna.tsv`.
pub fn read_smrnaseq(t: &mut TextTable, opts: &ReadOptions) -> Result<ParsedMatrix> {
    counts_only(opts, "smrnaseq")?;
    let mut m = wide::read_text(t, &wide_options(opts, false))?;
    m.report.format = SMRNASEQ.name.into();
    m.report.quantity = "counts".into();
    Ok(m)
}

/// Read an nf-core/smrnaseq `mature_counts.csv` (samples as rows).
pub fn read_transposed(t: &mut TextTable, opts: &ReadOptions) -> Result<ParsedMatrix> {
    counts_only(opts, "smrnaseq-transposed")?;
    if !opts.annotation_columns.is_empty() {
        return Err(IoError::Spec(
            "annotations= cannot be used with a samples × miRNA table".into(),
        ));
    }
    let mut m = wide::read_text(t, &wide_options(opts, true))?;
    m.report.format = SMRNASEQ_TRANSPOSED.name.into();
    m.report.quantity = "counts".into();
    Ok(m)
}

/// Columns of a miRDeep2 table that are not per-sample counts.
const MIRDEEP2_FIXED: [&str; 4] = ["#miRNA", "read_count", "precursor", "total"];

/// Read a miRDeep2 `miRNAs_expressed_all_samples_*.csv`; rows of one mature miRNA on several
/// precursors are summed per sample, and the `(norm)` columns are ignored.
pub fn read_mirdeep2(t: &mut TextTable, opts: &ReadOptions) -> Result<ParsedMatrix> {
    let path = t.path.clone();
    let path = path.as_path();
    counts_only(opts, "mirdeep2")?;
    let name_col = t.require("#miRNA", "miRDeep2")?;
    let prec_col = t.require("precursor", "miRDeep2")?;
    let sample_idx: Vec<usize> = (0..t.header.len())
        .filter(|&k| {
            let h = t.header[k].as_str();
            !h.is_empty() && !MIRDEEP2_FIXED.contains(&h) && !h.ends_with("(norm)")
        })
        .collect();
    if sample_idx.is_empty() {
        return Err(IoError::layout(
            path,
            "no per-sample count columns after '#miRNA, read_count, precursor, total' (only '(norm)' columns, which are not read)",
        ));
    }
    let zero_na = opts.zero_is_missing.unwrap_or(false);
    let scale = opts.scale.unwrap_or(ValueScale::Counts);
    let mut check = (scale == ValueScale::Counts).then(CountCheck::default);
    let mut names: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut precursors: Vec<Option<String>> = Vec::new();
    let mut cells = MatrixBuilder::new(sample_idx.len());
    let TextTable { header, rows, .. } = t;
    while let Some(r) = rows.next_row()? {
        let row = cells.nrows();
        let name = r.get(name_col);
        if name.is_empty() {
            return Err(IoError::parse(
                path,
                r.line,
                Some("#miRNA"),
                "the miRNA name is empty",
            ));
        }
        let g = *index.entry(name.to_string()).or_insert_with(|| {
            names.push(name.to_string());
            groups.push(Vec::new());
            names.len() - 1
        });
        groups[g].push(row);
        precursors.push(super::common::text(r.get(prec_col)));
        cells.reserve_row(path, r.line, r.progress())?;
        for &k in &sample_idx {
            let v = parse_cell(path, r.line, &header[k], r.raw(k))?;
            if let Some(c) = check.as_mut() {
                c.check(path, r.line, &header[k], v)?;
            }
            cells.push(v.filter(|x| !(zero_na && *x == 0.0)));
        }
    }
    if cells.nrows() == 0 {
        return Err(IoError::layout(
            path,
            "the file has a header but no miRNA rows",
        ));
    }
    let mut report = ReadReport {
        format: MIRDEEP2.name.into(),
        quantity: "counts".into(),
        rows_read: rows.rows_read,
        ..Default::default()
    };
    let multi: Vec<&Vec<usize>> = groups.iter().filter(|g| g.len() > 1).collect();
    if !multi.is_empty() {
        let rows_merged: usize = multi.iter().map(|g| g.len() - 1).sum();
        bump(
            &mut report.rows_dropped,
            "summed_over_precursors",
            rows_merged,
        );
        let same = |a: usize, b: usize| {
            let ((va, fa), (vb, fb)) = (cells.row(a), cells.row(b));
            fa == fb && va.iter().zip(vb).all(|(x, y)| x.to_bits() == y.to_bits())
        };
        let identical = multi
            .iter()
            .filter(|g| {
                g.iter().all(|&r| same(r, g[0])) && cells.row(g[0]).0.iter().any(|x| *x > 0.0)
            })
            .count();
        let mut w = format!(
            "{} mature miRNA(s) are reported on several precursors; their counts are summed per sample ({} rows merged)",
            multi.len(),
            rows_merged
        );
        if identical > 0 {
            w.push_str(&format!(
                ". {identical} of them have identical non-zero counts on every precursor, which quantifier.pl reports when the same reads map to each precursor (run without -W): the sum then counts those reads once per precursor"
            ));
        }
        report.warnings.push(w);
    }
    if let Some(w) = check.and_then(|c| c.warning(path)) {
        report.warnings.push(w);
    }
    let columns: Vec<MatrixColumn> = sample_idx
        .iter()
        .map(|&k| MatrixColumn {
            header: header[k].clone(),
            name: header[k].clone(),
        })
        .collect();
    let (row_values, row_flags) = cells.finish();
    let (values, flags) = if multi.is_empty() {
        (row_values, row_flags)
    } else {
        sum_rows(&row_values, &row_flags, &groups)
    };
    let mut m = ParsedMatrix {
        path: path.to_path_buf(),
        feature_flags: vec![FeatureFlags::NONE; names.len()],
        feature_ids: names,
        annotations: Vec::new(),
        columns,
        values,
        flags,
        scale,
        report,
        source_digest: None,
    };
    m.annotations
        .push(("precursors".into(), merge_annotation(&precursors, &groups)));
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_table;
    use std::path::Path;

    #[test]
    fn mirna_like_names() {
        for n in [
            "hsa-miR-21-5p",
            "miR-1",
            "hsa-let-7a-5p",
            "mmu-mir-744_mature",
            "MIMAT0000062",
            "cel-lin-4-5p",
        ] {
            assert!(looks_like_mirna(n), "{n}");
        }
        for n in ["Ctrl_1", "S1", "sample", "hsa-piR-1", "U6"] {
            assert!(!looks_like_mirna(n), "{n}");
        }
    }

    #[test]
    fn mirdeep2_sums_precursors() {
        let t = parse_table(
            Path::new("miRNAs_expressed_all_samples_1.csv"),
            "#miRNA\tread_count\tprecursor\ttotal\ts01\ts02\ts01(norm)\ts02(norm)\n\
             hsa-miR-7-5p\t30.00\thsa-mir-7-1\t30.00\t10.00\t20.00\t5000.0\t9000.0\n\
             hsa-miR-21-5p\t5.00\thsa-mir-21\t5.00\t5.00\t0.00\t2500.0\t0.0\n\
             hsa-miR-7-5p\t4.00\thsa-mir-7-2\t4.00\t1.00\t3.00\t500.0\t1350.0\n",
            None,
        )
        .unwrap();
        assert!(detect_mirdeep2(&t));
        let mut t = t;
        let m = read_mirdeep2(&mut t, &ReadOptions::default()).unwrap();
        assert_eq!(m.feature_ids, vec!["hsa-miR-7-5p", "hsa-miR-21-5p"]);
        assert_eq!(m.columns.len(), 2);
        assert_eq!(m.values[[0, 0]], 11.0);
        assert_eq!(m.values[[0, 1]], 23.0);
        assert_eq!(m.values[[1, 1]], 0.0);
        assert_eq!(m.flags[[1, 1]], evomics_core::ValueFlag::Observed);
        assert_eq!(
            m.report.rows_dropped.get("summed_over_precursors"),
            Some(&1)
        );
        let prec = &m.annotations[0].1;
        assert_eq!(prec[0].as_deref(), Some("hsa-mir-7-1;hsa-mir-7-2"));
    }
}
