//! miRNA name harmonization of a read matrix, between reading and alignment to the sheet.
//!
//! Feature ids are mapped to miRBase v22 human mature names with
//! [`evomics_panels::MirnaHarmonizer`]: a resolved name becomes the feature id, the name as read
//! is kept in the annotation `original_name`, the MIMAT accession in `mirbase_accession` and how
//! the mapping was made in `mirna_status`. Names that cannot be resolved (ambiguous, non-human,
//! precursor-only, unknown) are kept unchanged and counted in a warning. Rows that end up with
//! the same name are summed per sample (a cell with no value in any row stays without a value);
//! as only additive quantities can be summed, this is an error for log or other scales.

use evomics_core::{LayerKind, ValueScale};
use evomics_panels::{HarmonizeStatus, HarmonizedList, MirnaHarmonizer, MIRBASE_RELEASE};

use super::common::{bump, merge_annotation, merge_flags, preview, sum_rows};
use crate::error::{IoError, Result};
use crate::matrix::ParsedMatrix;
use crate::spec::ReadOptions;

/// Whether names are harmonized: `harmonize=` when given, else for miRNA layers.
pub fn enabled(opts: &ReadOptions, kind: &LayerKind) -> bool {
    opts.harmonize.unwrap_or(*kind == LayerKind::Mirna)
}

/// Harmonize the feature ids of `parsed` when [`enabled`] (see the module docs).
pub fn apply(parsed: &mut ParsedMatrix, opts: &ReadOptions, kind: &LayerKind) -> Result<()> {
    if enabled(opts, kind) {
        harmonize_matrix(parsed, MirnaHarmonizer::mirbase_v22())
    } else {
        Ok(())
    }
}

/// Harmonize the feature ids of `parsed` with a given reference.
pub fn harmonize_matrix(parsed: &mut ParsedMatrix, h: &MirnaHarmonizer) -> Result<()> {
    let list = h.harmonize_all(&parsed.feature_ids);
    let groups = groups_of(&list);
    let merged = groups.iter().any(|g| g.len() > 1);
    if merged && !matches!(parsed.scale, ValueScale::Counts | ValueScale::Linear) {
        let d = &list.duplicates[0];
        return Err(IoError::layout(
            &parsed.path,
            format!(
                "after miRNA name harmonization {} row(s) share a name (e.g. {} ← {}), and values on scale '{}' cannot be summed; read raw counts (scale=counts), or pass harmonize=false to keep the names as they are",
                list.duplicates.iter().map(|d| d.rows.len()).sum::<usize>(),
                d.name,
                preview(&d.inputs, 4),
                parsed.scale.name()
            ),
        ));
    }
    let original: Vec<Option<String>> =
        parsed.feature_ids.iter().map(|s| Some(s.clone())).collect();
    let accession: Vec<Option<String>> = list.items.iter().map(|i| i.accession.clone()).collect();
    let status: Vec<Option<String>> = list
        .items
        .iter()
        .map(|i| Some(i.status.name().to_string()))
        .collect();
    let mut annotations: Vec<(String, Vec<Option<String>>)> = Vec::new();
    for (k, v) in parsed.annotations.drain(..) {
        if !matches!(
            k.as_str(),
            "original_name" | "mirbase_accession" | "mirna_status"
        ) {
            let merged_values = merge_annotation(&v, &groups);
            annotations.push((k, merged_values));
        }
    }
    annotations.push(("original_name".into(), merge_annotation(&original, &groups)));
    annotations.push((
        "mirbase_accession".into(),
        merge_annotation(&accession, &groups),
    ));
    annotations.push(("mirna_status".into(), merge_annotation(&status, &groups)));
    parsed.annotations = annotations;
    parsed.feature_flags = merge_flags(&parsed.feature_flags, &groups);
    if merged {
        let (v, f) = sum_rows(&parsed.values, &parsed.flags, &groups);
        parsed.values = v;
        parsed.flags = f;
        let rows_merged = groups.iter().map(|g| g.len() - 1).sum();
        bump(
            &mut parsed.report.rows_dropped,
            "merged_by_mirna_harmonization",
            rows_merged,
        );
    }
    parsed.feature_ids = list.names.clone();
    parsed.report.warnings.extend(warnings(&list));
    Ok(())
}

fn groups_of(list: &HarmonizedList) -> Vec<Vec<usize>> {
    let mut groups = vec![Vec::new(); list.names.len()];
    for (row, &k) in list.row_of.iter().enumerate() {
        groups[k].push(row);
    }
    groups
}

/// A summary line of statuses, one line per unresolved status with examples, one for merges.
fn warnings(list: &HarmonizedList) -> Vec<String> {
    let counts = list.status_counts();
    let summary = counts
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = vec![format!(
        "miRNA names harmonized to {MIRBASE_RELEASE} human mature names ({} names: {summary})",
        list.items.len()
    )];
    let unresolved: [(&str, &str); 4] = [
        ("ambiguous", "could mean several mature miRNAs"),
        ("not_human", "are not human miRNAs (the reference is human only; pass harmonize=false for other species)"),
        ("not_mature", "count precursor, stem-loop or unannotated reads"),
        ("unknown", "are not miRBase v22 human names (dead, renamed or other RNA)"),
    ];
    for (status, why) in unresolved {
        let items: Vec<String> = list
            .items
            .iter()
            .filter(|i| i.status.name() == status)
            .map(|i| match &i.status {
                HarmonizeStatus::Ambiguous { candidates } => {
                    format!("{} ({})", i.input, candidates.join(" | "))
                }
                _ => i.input.clone(),
            })
            .collect();
        if !items.is_empty() {
            out.push(format!(
                "{} name(s) {why}; kept unchanged: {}",
                items.len(),
                preview(&items, 5)
            ));
        }
    }
    if !list.duplicates.is_empty() {
        let examples: Vec<String> = list
            .duplicates
            .iter()
            .map(|d| format!("{} ← {}", d.name, d.inputs.join(" + ")))
            .collect();
        out.push(format!(
            "{} group(s) of rows map to the same miRNA and are summed per sample: {}",
            list.duplicates.len(),
            preview(&examples, 5)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::{MatrixColumn, ReadReport};
    use evomics_core::ValueFlag;

    fn parsed(ids: &[&str], cells: Vec<Vec<Option<f64>>>, scale: ValueScale) -> ParsedMatrix {
        ParsedMatrix::from_cells(
            "m.tsv".into(),
            ids.iter().map(|s| s.to_string()).collect(),
            vec![
                MatrixColumn {
                    header: "a".into(),
                    name: "a".into(),
                },
                MatrixColumn {
                    header: "b".into(),
                    name: "b".into(),
                },
            ],
            cells,
            scale,
            ReadReport::default(),
        )
    }

    #[test]
    fn maps_and_sums_duplicates() {
        let mut m = parsed(
            &[
                "miR-21-5p",
                "hsa-miR-21-5p",
                "mmu-miR-1a-3p",
                "hsa-mir-451a",
            ],
            vec![
                vec![Some(2.0), None],
                vec![Some(3.0), None],
                vec![Some(1.0), Some(1.0)],
                vec![None, Some(4.0)],
            ],
            ValueScale::Counts,
        );
        harmonize_matrix(&mut m, MirnaHarmonizer::mirbase_v22()).unwrap();
        assert_eq!(
            m.feature_ids,
            vec!["hsa-miR-21-5p", "mmu-miR-1a-3p", "hsa-miR-451a"]
        );
        assert_eq!(m.values[[0, 0]], 5.0);
        assert_eq!(m.flags[[0, 1]], ValueFlag::Missing);
        let ann = |k: &str| {
            m.annotations
                .iter()
                .find(|(n, _)| n == k)
                .unwrap()
                .1
                .clone()
        };
        assert_eq!(
            ann("original_name")[0].as_deref(),
            Some("miR-21-5p;hsa-miR-21-5p")
        );
        assert_eq!(ann("mirbase_accession")[0].as_deref(), Some("MIMAT0000076"));
        assert_eq!(ann("mirbase_accession")[1], None);
        assert_eq!(
            m.report.rows_dropped.get("merged_by_mirna_harmonization"),
            Some(&1)
        );
        let w = m.report.warnings.join("\n");
        assert!(
            w.contains("not human") && w.contains("'mmu-miR-1a-3p'"),
            "{w}"
        );
        assert!(
            w.contains("hsa-miR-21-5p ← miR-21-5p + hsa-miR-21-5p"),
            "{w}"
        );
    }

    #[test]
    fn refuses_to_sum_log_values() {
        let mut m = parsed(
            &["miR-21-5p", "hsa-miR-21-5p"],
            vec![vec![Some(2.0), None], vec![Some(3.0), None]],
            ValueScale::Log2,
        );
        let e = harmonize_matrix(&mut m, MirnaHarmonizer::mirbase_v22())
            .unwrap_err()
            .to_string();
        assert!(e.contains("harmonize=false") && e.contains("log2"), "{e}");
    }

    #[test]
    fn enabled_by_kind_or_option() {
        let o = ReadOptions::default();
        assert!(enabled(&o, &LayerKind::Mirna));
        assert!(!enabled(&o, &LayerKind::Proteome));
        let off = ReadOptions {
            harmonize: Some(false),
            ..Default::default()
        };
        assert!(!enabled(&off, &LayerKind::Mirna));
        let on = ReadOptions {
            harmonize: Some(true),
            ..Default::default()
        };
        assert!(enabled(&on, &LayerKind::Other));
    }
}
