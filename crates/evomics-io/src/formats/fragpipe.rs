//! FragPipe / IonQuant `combined_protein.tsv`: `<s> MaxLFQ Intensity`, `<s> Intensity` or
//! `<s> Razor Intensity` per sample, current (`Gene`) and older (`Gene Names`, `Protein Group`)
//! headers; `contam_` rows are contaminants and `rev_` rows decoys.

use evomics_core::{FeatureFlags, ValueScale};

use super::common::{
    accession, bump, choose_quantity, parse_intensity, split_list, text, unique_ids,
    zero_is_missing, Quantity,
};
use crate::error::{IoError, Result};
use crate::matrix::{MatrixBuilder, MatrixColumn, ParsedMatrix, ReadReport};
use crate::spec::ReadOptions;
use crate::text::TextTable;

/// The FragPipe format.
pub const FORMAT: super::TextFormat = super::TextFormat {
    name: "fragpipe",
    expects: "columns 'Protein', 'Protein ID', 'Entry Name', 'Protein Probability' plus per-sample '<sample> MaxLFQ Intensity', '<sample> Intensity' or '<sample> Razor Intensity' columns (FragPipe combined_protein.tsv)",
    detect,
    read,
};

/// The sample part of a MaxLFQ header: `S1 MaxLFQ Intensity`, also with noise between the
/// words (`Ost_c_8 MaxLFQ remove Intensity`), as hand-edited tables carry.
fn maxlfq_sample(h: &str) -> Option<String> {
    let (sample, rest) = h.split_once(" MaxLFQ")?;
    (rest.ends_with("Intensity") && (rest.is_empty() || rest.starts_with(' ')))
        .then(|| sample.trim().to_string())
}

fn razor_sample(h: &str) -> Option<String> {
    h.strip_suffix(" Razor Intensity")
        .map(|s| s.trim().to_string())
}

fn intensity_sample(h: &str) -> Option<String> {
    let s = h.strip_suffix(" Intensity")?;
    let other_kind = ["Razor", "Unique", "Total", "MaxLFQ"]
        .iter()
        .any(|k| s == *k || s.ends_with(&format!(" {k}")))
        || s.contains(" MaxLFQ ")
        || s.starts_with("Combined");
    (!other_kind).then(|| s.trim().to_string())
}

/// Quantities, default first.
const QUANTITIES: [Quantity; 3] = [
    Quantity {
        name: "maxlfq",
        sample_of: maxlfq_sample,
        pattern: "<sample> MaxLFQ Intensity",
    },
    Quantity {
        name: "intensity",
        sample_of: intensity_sample,
        pattern: "<sample> Intensity",
    },
    Quantity {
        name: "razor",
        sample_of: razor_sample,
        pattern: "<sample> Razor Intensity",
    },
];

fn detect(t: &TextTable) -> bool {
    t.column("Protein ID").is_some()
        && t.column("Protein").is_some()
        && (t.column("Protein Probability").is_some() || t.column("Entry Name").is_some())
}

/// Read a `combined_protein.tsv` table.
pub fn read(t: &mut TextTable, opts: &ReadOptions) -> Result<ParsedMatrix> {
    let path = t.path.clone();
    let path = path.as_path();
    let protein_col = t.column("Protein");
    let id_col = t.column("Protein ID").or(protein_col).ok_or_else(|| {
        IoError::layout(
            path,
            "no 'Protein ID' or 'Protein' column; a FragPipe combined_protein.tsv has both",
        )
    })?;
    let flag_col = protein_col.unwrap_or(id_col);
    let mut warnings = Vec::new();
    let (quantity, qcols) = choose_quantity(t, FORMAT.name, &QUANTITIES, opts, &mut warnings)?;
    let gene_col = t.column("Gene").or_else(|| t.column("Gene Names"));
    let entry_col = t.column("Entry Name");
    let desc_col = t.column("Description");
    let zero_na = zero_is_missing(opts, true);
    let mut report = ReadReport {
        format: FORMAT.name.into(),
        quantity: quantity.into(),
        ..Default::default()
    };
    let (mut preferred, mut fallback, mut lines, mut flags) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut cells = MatrixBuilder::new(qcols.len());
    let id_header = t.header[id_col].clone();
    let (mut proteins, mut genes, mut gene_lists, mut entries, mut descs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    while let Some(r) = t.rows.next_row()? {
        let protein = r.get(flag_col);
        let (flag, key) = if protein.starts_with("rev_") {
            (FeatureFlags::DECOY, "decoy")
        } else if protein.starts_with("contam_") {
            (FeatureFlags::CONTAMINANT, "contaminant")
        } else {
            (FeatureFlags::NONE, "")
        };
        if !flag.is_empty() {
            if !opts.keep_flagged {
                bump(&mut report.rows_dropped, key, 1);
                continue;
            }
            bump(&mut report.rows_flagged, key, 1);
        }
        let raw_id = r.get(id_col);
        let prefix = if key == "decoy" { "rev_" } else { "contam_" };
        // A flagged row keeps its prefix in the id, so that a contaminant never shares an id
        // with the same accession searched as a target.
        let id = if id_col == flag_col {
            accession(raw_id)
        } else if flag.is_empty() || raw_id.starts_with(prefix) {
            raw_id.to_string()
        } else {
            format!("{prefix}{raw_id}")
        };
        preferred.push(id);
        fallback.push(protein.to_string());
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
        proteins.push(text(protein));
        if let Some(c) = gene_col {
            genes.push(split_list(r.get(c), true).first().map(|s| s.to_string()));
            gene_lists.push(text(r.get(c)));
        }
        entries.push(entry_col.and_then(|c| text(r.get(c))));
        descs.push(desc_col.and_then(|c| text(r.get(c))));
    }
    report.rows_read = t.rows.rows_read;
    if report.rows_read == 0 {
        return Err(IoError::layout(
            path,
            "the file has a header but no protein rows",
        ));
    }
    let ids = unique_ids(path, preferred, fallback, &lines, &id_header, &mut warnings)?;
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
    m.annotations.push(("protein".into(), proteins));
    if gene_col.is_some() {
        m.annotations.push(("gene".into(), genes));
        m.annotations.push(("gene_names".into(), gene_lists));
    }
    if entry_col.is_some() {
        m.annotations.push(("entry_name".into(), entries));
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

    #[test]
    fn sample_parts() {
        assert_eq!(maxlfq_sample("S1 MaxLFQ Intensity").as_deref(), Some("S1"));
        assert_eq!(
            maxlfq_sample("Ost_c_8 MaxLFQ remove Intensity").as_deref(),
            Some("Ost_c_8")
        );
        assert_eq!(maxlfq_sample("S1 Intensity"), None);
        assert_eq!(intensity_sample("S1 Intensity").as_deref(), Some("S1"));
        assert_eq!(intensity_sample("S1 Razor Intensity"), None);
        assert_eq!(intensity_sample("Ost_c_8 MaxLFQ remove Intensity"), None);
        assert_eq!(intensity_sample("S1 Total Intensity"), None);
        assert_eq!(razor_sample("S1 Razor Intensity").as_deref(), Some("S1"));
    }

    fn table() -> TextTable {
        parse_table(
            Path::new("combined_protein.tsv"),
            "Protein\tProtein ID\tEntry Name\tGene\tProtein Probability\tA Intensity\tB Intensity\tA MaxLFQ Intensity\tB MaxLFQ remove Intensity\n\
             contam_sp|P00761|TRYP_PIG\tP00761\tTRYP_PIG\t\t1\t5\t5\t5\t5\n\
             sp|P02790|HEMO_HUMAN\tP02790\tHEMO_HUMAN\tHPX\t1\t10\t0\t8\t0\n\
             sp|P00761|TRYP_HUMAN\tP00761\tTRYP_HUMAN\tPRSS1\t1\t1\t2\t3\t4\n",
            None,
        )
        .unwrap()
    }

    #[test]
    fn drops_contaminants_and_maps_noisy_headers() {
        let mut t = table();
        assert!(detect(&t));
        let m = read(&mut t, &ReadOptions::default()).unwrap();
        assert_eq!(m.feature_ids, vec!["P02790", "P00761"]);
        assert_eq!(m.columns[1].header, "B MaxLFQ remove Intensity");
        assert_eq!(m.columns[1].name, "B");
        assert_eq!(m.values[[0, 0]], 8.0);
        assert!(m.values[[0, 1]].is_nan());
        assert_eq!(m.report.rows_dropped.get("contaminant"), Some(&1));
    }

    #[test]
    fn flagged_contaminant_keeps_distinct_id() {
        let o = ReadOptions {
            keep_flagged: true,
            quantity: Some("intensity".into()),
            ..Default::default()
        };
        let m = read(&mut table(), &o).unwrap();
        assert_eq!(m.feature_ids, vec!["contam_P00761", "P02790", "P00761"]);
        assert!(m.feature_flags[0].contains(FeatureFlags::CONTAMINANT));
        assert_eq!(m.columns[0].name, "A");
        assert_eq!(m.values[[1, 0]], 10.0);
    }
}
