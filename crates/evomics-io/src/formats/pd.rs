//! Thermo Proteome Discoverer protein exports (the Proteins table saved as text, CSV or tab,
//! quoted or not, often with a UTF-8 byte-order mark).
//!
//! Quantities are `Abundances (Normalized): <file>` (default), `Abundances (Grouped): <group>`,
//! `Abundances (Scaled): <file>` and the raw `Abundance: <file>`, where `<file>` is PD's file id
//! and sample type, e.g. `F1: Sample` (label-free) or `F1: 126, Sample` (a TMT channel). The
//! feature id is `Accession`, the gene `Gene Symbol` or the `GN=` tag of `Description`
//! (UniProt's FASTA header convention). Rows whose `Master` is not `Master Protein`
//! (`IsMasterProtein` in older versions) are candidates or rejected members of a protein group
//! and are dropped; `Contaminant = True` rows are contaminants (dropped unless `keep_flagged`).
//! Columns are matched to the sheet by their whole header (through a sheet column such as
//! `pd_abundance_column`) or by the file id (`F1`; `F1.126` for a channel). Reference: Thermo
//! Fisher Scientific, *Proteome Discoverer 2.4 User Guide*, "Proteins" table columns.

use evomics_core::{FeatureFlags, ValueScale};

use super::common::{
    bump, choose_quantity, parse_intensity, text, unique_ids, zero_is_missing, Quantity,
};
use crate::error::{IoError, Result};
use crate::matrix::{MatrixBuilder, MatrixColumn, ParsedMatrix, ReadReport};
use crate::spec::ReadOptions;
use crate::text::TextTable;

/// The Proteome Discoverer format.
pub const FORMAT: super::TextFormat = super::TextFormat {
    name: "proteome-discoverer",
    expects: "column 'Accession' plus per-file 'Abundances (Normalized): F1: Sample', 'Abundances (Grouped): <group>' or 'Abundance: F1: Sample' columns (Proteome Discoverer protein export)",
    detect,
    read,
};

/// The sample part of `<prefix><rest>`: the file id (`F1`), with the TMT channel when there is
/// one (`F1: 126, Sample` → `F1.126`); for grouped abundances the group name as written.
fn file_sample(rest: &str) -> Option<String> {
    let rest = rest.trim();
    if rest.is_empty() {
        return None;
    }
    let mut parts = rest.split(':').map(str::trim);
    let first = parts.next().unwrap_or("");
    let is_file_id =
        first.len() > 1 && first.starts_with('F') && first[1..].bytes().all(|b| b.is_ascii_digit());
    if !is_file_id {
        return Some(rest.to_string());
    }
    match parts.next() {
        Some(second) => match second.split_once(',') {
            Some((channel, _kind)) if !channel.trim().is_empty() => {
                Some(format!("{first}.{}", channel.trim()))
            }
            _ => Some(first.to_string()),
        },
        None => Some(first.to_string()),
    }
}

/// Quantities, default first.
const QUANTITIES: [Quantity; 4] = [
    Quantity {
        name: "normalized",
        sample_of: |h| {
            h.strip_prefix("Abundances (Normalized):")
                .and_then(file_sample)
        },
        pattern: "Abundances (Normalized): F1: Sample",
    },
    Quantity {
        name: "grouped",
        sample_of: |h| {
            h.strip_prefix("Abundances (Grouped):")
                .and_then(file_sample)
        },
        pattern: "Abundances (Grouped): <group>",
    },
    Quantity {
        name: "scaled",
        sample_of: |h| h.strip_prefix("Abundances (Scaled):").and_then(file_sample),
        pattern: "Abundances (Scaled): F1: Sample",
    },
    Quantity {
        name: "abundance",
        sample_of: |h| h.strip_prefix("Abundance:").and_then(file_sample),
        pattern: "Abundance: F1: Sample",
    },
];

fn detect(t: &TextTable) -> bool {
    t.column("Accession").is_some()
        && t.header.iter().any(|h| {
            QUANTITIES
                .iter()
                .any(|q| (q.sample_of)(h).is_some_and(|s| !s.is_empty()))
        })
}

/// The gene of a UniProt description: the value of its `GN=` tag.
pub(crate) fn gene_from_description(d: &str) -> Option<String> {
    let start = d.find("GN=")?;
    // `GN=` starts a tag only at the beginning or after a space (not inside another word).
    if start > 0 && !d[..start].ends_with(' ') {
        return None;
    }
    let g: &str = d[start + 3..].split_whitespace().next().unwrap_or("");
    text(g)
}

fn is_true(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "+" | "yes"
    )
}

/// Read a Proteome Discoverer protein table.
pub fn read(t: &mut TextTable, opts: &ReadOptions) -> Result<ParsedMatrix> {
    let path = t.path.clone();
    let path = path.as_path();
    let id_col = t.column("Accession").ok_or_else(|| {
        IoError::layout(
            path,
            "no 'Accession' column; a Proteome Discoverer protein export has one (export the Proteins table)",
        )
    })?;
    let mut warnings = Vec::new();
    let (quantity, qcols) = choose_quantity(t, FORMAT.name, &QUANTITIES, opts, &mut warnings)?;
    let master_col = t.column("Master");
    if master_col.is_none() {
        warnings.push("no 'Master' column; every row was read as a master protein".to_string());
    }
    let contaminant_col = t.column("Contaminant");
    let desc_col = t.column("Description");
    let gene_col = t.column("Gene Symbol");
    let zero_na = zero_is_missing(opts, true);
    let mut report = ReadReport {
        format: FORMAT.name.into(),
        quantity: quantity.into(),
        ..Default::default()
    };
    let (mut ids, mut lines, mut flags) = (Vec::new(), Vec::new(), Vec::new());
    let (mut genes, mut descs) = (Vec::new(), Vec::new());
    let mut cells = MatrixBuilder::new(qcols.len());
    while let Some(r) = t.rows.next_row()? {
        if let Some(c) = master_col {
            let m = r.get(c);
            if !matches!(m, "Master Protein" | "IsMasterProtein") {
                let why = match m {
                    "Master Protein Candidate" | "IsMasterProteinCandidate" => {
                        "master_protein_candidate"
                    }
                    "Master Protein Rejected" | "IsMasterProteinRejected" => {
                        "master_protein_rejected"
                    }
                    _ => "not_master_protein",
                };
                bump(&mut report.rows_dropped, why, 1);
                continue;
            }
        }
        let mut flag = FeatureFlags::NONE;
        if contaminant_col.is_some_and(|c| is_true(r.get(c))) {
            if !opts.keep_flagged {
                bump(&mut report.rows_dropped, "contaminant", 1);
                continue;
            }
            bump(&mut report.rows_flagged, "contaminant", 1);
            flag = FeatureFlags::CONTAMINANT;
        }
        ids.push(r.get(id_col).to_string());
        lines.push(r.line);
        cells.reserve_row(path, r.line, r.progress())?;
        for q in &qcols {
            cells.push(parse_intensity(
                path,
                r.line,
                &q.header,
                r.raw(q.index),
                zero_na,
            )?);
        }
        flags.push(flag);
        let desc = desc_col.map(|c| r.get(c)).unwrap_or("");
        genes.push(
            gene_col
                .and_then(|c| text(r.get(c)))
                .or_else(|| gene_from_description(desc)),
        );
        descs.push(text(desc));
    }
    report.rows_read = t.rows.rows_read;
    if report.rows_read == 0 {
        return Err(IoError::layout(
            path,
            "the file has a header but no protein rows",
        ));
    }
    let fallback = ids.clone();
    let ids = unique_ids(path, ids, fallback, &lines, "Accession", &mut warnings)?;
    report.warnings = warnings;
    let columns = qcols
        .into_iter()
        .map(|q| MatrixColumn {
            header: q.header,
            name: q.name,
        })
        .collect();
    let mut m = ParsedMatrix::from_builder(
        path.to_path_buf(),
        ids,
        columns,
        cells,
        opts.scale.unwrap_or(ValueScale::Linear),
        report,
    );
    m.feature_flags = flags;
    if desc_col.is_some() || gene_col.is_some() {
        m.annotations.push(("gene".into(), genes));
    }
    if desc_col.is_some() {
        m.annotations.push(("description".into(), descs));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_table;
    use std::path::Path;

    const PD: &str = "\u{feff}\"Checked\",\"Master\",\"Accession\",\"Description\",\"Contaminant\",\"Abundances (Normalized): F1: Sample\",\"Abundances (Normalized): F2: Sample\",\"Abundance: F1: Sample\",\"Abundance: F2: Sample\",\"Abundances Count: F1: Sample\",,\n\
        FALSE,Master Protein,P02751,\"Fibronectin OS=Homo sapiens OX=9606 GN=FN1 PE=1 SV=5\",False,10.5,,9,,1,,\n\
        FALSE,Master Protein Candidate,P02751-2,\"Isoform, of FN1 GN=FN1\",False,1,2,1,2,1,,\n\
        FALSE,Master Protein,P00761,\"Trypsin OS=Sus scrofa GN=PRSS1\",True,5,5,5,5,1,,\n\
        FALSE,Master Protein,Q9XYZ1,\"Uncharacterized protein\",False,3,4,3,4,1,,\n";

    fn table() -> TextTable {
        parse_table(Path::new("proteins.csv"), PD, None).unwrap()
    }

    #[test]
    fn file_ids_and_channels() {
        assert_eq!(file_sample(" F1: Sample").as_deref(), Some("F1"));
        assert_eq!(file_sample(" F12: 126, Sample").as_deref(), Some("F12.126"));
        assert_eq!(file_sample(" Hypoxia").as_deref(), Some("Hypoxia"));
        assert_eq!(file_sample(" "), None);
        assert_eq!(
            gene_from_description("Fibronectin OS=Homo sapiens OX=9606 GN=FN1 PE=1 SV=5")
                .as_deref(),
            Some("FN1")
        );
        assert_eq!(gene_from_description("no gene here"), None);
        assert_eq!(gene_from_description("XGN=abc"), None);
    }

    #[test]
    fn reads_masters_drops_the_rest_and_says_so() {
        let mut t = table();
        assert!(detect(&t));
        assert_eq!(t.header[0], "Checked");
        let m = read(&mut t, &ReadOptions::default()).unwrap();
        assert_eq!(m.feature_ids, vec!["P02751", "Q9XYZ1"]);
        assert_eq!(m.columns[0].name, "F1");
        assert_eq!(m.columns[1].header, "Abundances (Normalized): F2: Sample");
        assert_eq!(m.values[[0, 0]], 10.5);
        assert_eq!(m.flags[[0, 1]], evomics_core::ValueFlag::Missing);
        assert_eq!(
            m.report.rows_dropped.get("master_protein_candidate"),
            Some(&1)
        );
        assert_eq!(m.report.rows_dropped.get("contaminant"), Some(&1));
        let gene = &m.annotations.iter().find(|(k, _)| k == "gene").unwrap().1;
        assert_eq!(gene[0].as_deref(), Some("FN1"));
        assert_eq!(gene[1], None);
    }

    #[test]
    fn raw_abundance_and_flagged_contaminants_on_request() {
        let o = ReadOptions {
            quantity: Some("abundance".into()),
            keep_flagged: true,
            ..Default::default()
        };
        let m = read(&mut table(), &o).unwrap();
        assert_eq!(m.feature_ids, vec!["P02751", "P00761", "Q9XYZ1"]);
        assert!(m.feature_flags[1].contains(FeatureFlags::CONTAMINANT));
        assert_eq!(m.values[[0, 0]], 9.0);
        assert_eq!(m.report.quantity, "abundance");
        let o = ReadOptions {
            quantity: Some("grouped".into()),
            ..Default::default()
        };
        let e = read(&mut table(), &o).unwrap_err().to_string();
        assert!(e.contains("normalized (2 columns"), "{e}");
    }

    #[test]
    fn a_bad_cell_names_line_and_column() {
        let bad = PD.replace("10.5", "ten");
        let mut t = parse_table(Path::new("proteins.csv"), &bad, None).unwrap();
        let e = read(&mut t, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("proteins.csv:2, column 'Abundances (Normalized): F1: Sample'"),
            "{e}"
        );
    }
}
