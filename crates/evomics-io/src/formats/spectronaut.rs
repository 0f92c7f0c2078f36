//! Spectronaut long report: one row per precursor (or fragment) and run, with the protein-group
//! quantity `PG.Quantity` repeated on every row of the group; pivoted to
//! `PG.ProteinGroups` × `R.FileName`.

use std::path::Path;

use evomics_core::{FeatureFlags, ValueScale};

use super::common::{bump, run_stem, split_list, text, zero_is_missing};
use super::long::{Loc, Pivot};
use crate::error::{IoError, Result};
use crate::matrix::{MatrixColumn, ParsedMatrix, ReadReport};
use crate::spec::ReadOptions;
use crate::text::{parse_cell, TextTable};

/// The Spectronaut format.
pub const FORMAT: super::TextFormat = super::TextFormat {
    name: "spectronaut",
    expects: "columns 'R.FileName', 'PG.ProteinGroups' and 'PG.Quantity', one row per precursor and run (Spectronaut report)",
    detect,
    read,
};

fn detect(t: &TextTable) -> bool {
    ["R.FileName", "PG.ProteinGroups", "PG.Quantity"]
        .iter()
        .all(|c| t.column(c).is_some())
}

/// Spectronaut writes `Filtered` for a value removed by its filters, and German-locale exports
/// a decimal comma.
fn parse_quantity(path: &Path, line: u64, raw: &str, zero_na: bool) -> Result<Option<f64>> {
    let s = raw.trim();
    if s.eq_ignore_ascii_case("filtered") {
        return Ok(None);
    }
    let owned;
    let s = if s.contains(',') && !s.contains('.') && s.matches(',').count() == 1 {
        owned = s.replace(',', ".");
        owned.as_str()
    } else {
        s
    };
    match parse_cell(path, line, "PG.Quantity", s)? {
        Some(x) if x < 0.0 => Err(IoError::parse(
            path,
            line,
            Some("PG.Quantity"),
            format!("quantity {x} is negative; protein quantities are never negative"),
        )),
        Some(x) if zero_na && x == 0.0 => Ok(None),
        other => Ok(other),
    }
}

/// Read a Spectronaut report.
pub fn read(t: &mut TextTable, opts: &ReadOptions) -> Result<ParsedMatrix> {
    let path = t.path.clone();
    let path = path.as_path();
    if opts.quantity.as_deref().is_some_and(|q| q != "quantity") {
        return Err(IoError::Spec(format!(
            "quant={} is not a Spectronaut quantity; the reader takes PG.Quantity (quant=quantity)",
            opts.quantity.as_deref().unwrap_or("")
        )));
    }
    let run_col = t.require("R.FileName", "Spectronaut")?;
    let pg_col = t.require("PG.ProteinGroups", "Spectronaut")?;
    let q_col = t.require("PG.Quantity", "Spectronaut")?;
    let gene_col = t.column("PG.Genes");
    let acc_col = t.column("PG.ProteinAccessions");
    let decoy_col = t.column("EG.IsDecoy");
    let zero_na = zero_is_missing(opts, true);
    let mut report = ReadReport {
        format: FORMAT.name.into(),
        quantity: "quantity".into(),
        ..Default::default()
    };
    let mut pivot = Pivot::default();
    let (mut genes, mut accs, mut decoy) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(r) = t.rows.next_row()? {
        let is_decoy = decoy_col.is_some_and(|c| r.get(c).eq_ignore_ascii_case("true"));
        if is_decoy && !opts.keep_flagged {
            bump(&mut report.rows_dropped, "decoy", 1);
            continue;
        }
        let pg = r.get(pg_col);
        let run = r.get(run_col);
        for (v, c) in [(pg, "PG.ProteinGroups"), (run, "R.FileName")] {
            if v.is_empty() {
                return Err(IoError::parse(
                    path,
                    r.line,
                    Some(c),
                    format!("the {c} cell is empty"),
                ));
            }
        }
        let v = parse_quantity(path, r.line, r.get(q_col), zero_na)?;
        let i = pivot.add(pg, run, v, Loc::Line(r.line)).map_err(|c| {
            IoError::parse(path, r.line, Some("PG.Quantity"), c.message("PG.Quantity"))
        })?;
        if i == genes.len() {
            genes.push(gene_col.and_then(|c| text(r.get(c))));
            accs.push(acc_col.and_then(|c| text(r.get(c))));
            decoy.push(is_decoy);
        } else if is_decoy {
            decoy[i] = true;
        }
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
    bump(
        &mut report.rows_dropped,
        "repeated_protein_group_row",
        pivot.repeats,
    );
    if opts.keep_flagged {
        bump(
            &mut report.rows_flagged,
            "decoy",
            decoy.iter().filter(|d| **d).count(),
        );
    }
    let columns = pivot
        .runs
        .iter()
        .map(|r| MatrixColumn {
            header: r.clone(),
            name: run_stem(r),
        })
        .collect();
    let (values, flags) = pivot.matrix();
    let mut m = ParsedMatrix {
        path: path.to_path_buf(),
        feature_flags: Vec::new(),
        feature_ids: std::mem::take(&mut pivot.features),
        annotations: Vec::new(),
        columns,
        values,
        flags,
        scale: opts.scale.unwrap_or(ValueScale::Linear),
        report,
        source_digest: None,
    };
    m.feature_flags = decoy
        .iter()
        .map(|d| {
            if *d {
                FeatureFlags::DECOY
            } else {
                FeatureFlags::NONE
            }
        })
        .collect();
    if acc_col.is_some() {
        m.annotations.push(("protein_ids".into(), accs));
    }
    if gene_col.is_some() {
        let first = genes
            .iter()
            .map(|g: &Option<String>| {
                g.as_deref()
                    .and_then(|s| split_list(s, false).first().map(|x| x.to_string()))
            })
            .collect();
        m.annotations.push(("gene".into(), first));
        m.annotations.push(("gene_names".into(), genes));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_table;

    const BODY: &str = "\tR.FileName\tPG.ProteinGroups\tPG.Genes\tPG.Quantity\tEG.IsDecoy\n\
        0\trun_a\tP1;P2\tGA;GB\t1449,5\tFalse\n\
        1\trun_a\tP1;P2\tGA;GB\t1449,5\tFalse\n\
        2\trun_b\tP1;P2\tGA;GB\tFiltered\tFalse\n\
        3\trun_b\tP3\tGC\t12.5\tFalse\n\
        4\trun_b\tP9\t\t3\tTrue\n";

    #[test]
    fn pivots_and_collapses() {
        let mut t = parse_table(Path::new("sn.tsv"), BODY, None).unwrap();
        assert!(detect(&t));
        let m = read(&mut t, &ReadOptions::default()).unwrap();
        assert_eq!(m.feature_ids, vec!["P1;P2", "P3"]);
        assert_eq!(m.values[[0, 0]], 1449.5);
        assert!(m.values[[0, 1]].is_nan());
        assert_eq!(m.values[[1, 1]], 12.5);
        assert_eq!(m.report.rows_dropped.get("decoy"), Some(&1));
        assert_eq!(
            m.report.rows_dropped.get("repeated_protein_group_row"),
            Some(&1)
        );
    }

    #[test]
    fn conflicting_repeat_names_both_lines() {
        let bad = format!("{BODY}5\trun_a\tP1;P2\tGA;GB\t1500\tFalse\n");
        let mut t = parse_table(Path::new("sn.tsv"), &bad, None).unwrap();
        let e = read(&mut t, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("sn.tsv:7, column 'PG.Quantity'") && e.contains("line 2"),
            "{e}"
        );
    }
}
