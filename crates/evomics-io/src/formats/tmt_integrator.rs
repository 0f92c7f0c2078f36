//! FragPipe TMT-Integrator protein tables (`abundance_protein_<norm>.tsv`,
//! `ratio_protein_<norm>.tsv`): `Index`, `NumberPSM`, `ProteinID`, `MaxPepProb`,
//! `ReferenceIntensity`, then one column per channel named after the sample of FragPipe's
//! annotation file. Values are log2 (abundances, or ratios to the reference channel); `NA` or an
//! empty cell is missing. Rows whose `ProteinID` starts with `contam_` are contaminants and
//! `rev_` decoys, dropped unless `keep_flagged`. Reference: FragPipe documentation,
//! "TMT-Integrator output" (fragpipe.nesvilab.org/docs/tmt-integrator.html).

use evomics_core::{FeatureFlags, ValueScale};

use super::common::{bump, distinct_columns, text, unique_ids};
use crate::error::{IoError, Result};
use crate::matrix::{MatrixBuilder, MatrixColumn, ParsedMatrix, ReadReport};
use crate::spec::ReadOptions;
use crate::text::{parse_cell, TextTable};

/// The TMT-Integrator format.
pub const FORMAT: super::TextFormat = super::TextFormat {
    name: "tmt-integrator",
    expects: "columns 'Index', 'NumberPSM', 'ProteinID', 'MaxPepProb' and 'ReferenceIntensity' followed by one column per channel (FragPipe TMT-Integrator abundance_protein_*.tsv)",
    detect,
    read,
};

const FIXED: [&str; 5] = [
    "Index",
    "NumberPSM",
    "ProteinID",
    "MaxPepProb",
    "ReferenceIntensity",
];

fn detect(t: &TextTable) -> bool {
    FIXED.iter().all(|c| t.column(c).is_some())
}

/// Read a TMT-Integrator protein table.
pub fn read(t: &mut TextTable, opts: &ReadOptions) -> Result<ParsedMatrix> {
    let path = t.path.clone();
    let path = path.as_path();
    let mut fixed = Vec::new();
    for c in FIXED {
        fixed.push(t.require(c, "TMT-Integrator")?);
    }
    let (id_col, protein_col, reference) = (fixed[0], fixed[2], fixed[4]);
    let gene_col = t.column("Gene");
    // The channels are the columns after ReferenceIntensity (the layout TMT-Integrator writes).
    let qcols: Vec<(usize, String)> = t
        .header
        .iter()
        .enumerate()
        .skip(reference + 1)
        .filter(|(_, h)| !h.is_empty())
        .map(|(i, h)| (i, h.clone()))
        .collect();
    if qcols.is_empty() {
        return Err(IoError::layout(
            path,
            "no channel columns after 'ReferenceIntensity'; TMT-Integrator writes one column per sample there",
        ));
    }
    let columns: Vec<MatrixColumn> = qcols
        .iter()
        .map(|(_, h)| MatrixColumn {
            header: h.clone(),
            name: h.clone(),
        })
        .collect();
    distinct_columns(path, 1, &columns, "channel")?;
    let mut report = ReadReport {
        format: FORMAT.name.into(),
        quantity: if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("ratio_"))
        {
            "log2_ratio".into()
        } else {
            "log2_abundance".into()
        },
        ..Default::default()
    };
    let zero_na = opts.zero_is_missing.unwrap_or(false);
    let (mut ids, mut lines, mut flags, mut proteins, mut genes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut cells = MatrixBuilder::new(qcols.len());
    while let Some(r) = t.rows.next_row()? {
        let protein = r.get(protein_col);
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
        ids.push(r.get(id_col).to_string());
        lines.push(r.line);
        cells.reserve_row(path, r.line, r.progress())?;
        for (k, h) in &qcols {
            let v = parse_cell(path, r.line, h, r.raw(*k))?;
            cells.push(v.filter(|x| !(zero_na && *x == 0.0)));
        }
        flags.push(flag);
        proteins.push(text(protein));
        if let Some(c) = gene_col {
            genes.push(text(r.get(c)));
        }
    }
    report.rows_read = t.rows.rows_read;
    if report.rows_read == 0 {
        return Err(IoError::layout(
            path,
            "the file has a header but no protein rows",
        ));
    }
    let mut warnings = Vec::new();
    let fallback = ids.clone();
    let ids = unique_ids(path, ids, fallback, &lines, "Index", &mut warnings)?;
    report.warnings = warnings;
    let mut m = ParsedMatrix::from_builder(
        path.to_path_buf(),
        ids,
        columns,
        cells,
        opts.scale.unwrap_or(ValueScale::Log2),
        report,
    );
    m.feature_flags = flags;
    m.annotations.push(("protein_id".into(), proteins));
    if gene_col.is_some() {
        m.annotations.push(("gene".into(), genes));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_table;
    use std::path::Path;

    const TI: &str =
        "Index\tGene\tNumberPSM\tProteinID\tMaxPepProb\tReferenceIntensity\tBM_1\tAD_1\tpool\n\
        sp|P08670|VIME_HUMAN\tVIM\t40\tP08670\t1\t25.1\t0.5\tNA\t0\n\
        contam_sp|P00761|TRYP_PIG\t\t3\tcontam_P00761\t1\t20\t1\t1\t0\n\
        sp|P21926|CD9_HUMAN\tCD9\t12\tP21926\t0.99\t22.4\t-0.25\t1.5\t0\n";

    #[test]
    fn reads_channels_and_drops_contaminants() {
        let mut t = parse_table(Path::new("abundance_protein_MD.tsv"), TI, None).unwrap();
        assert!(detect(&t));
        let m = read(&mut t, &ReadOptions::default()).unwrap();
        assert_eq!(
            m.feature_ids,
            vec!["sp|P08670|VIME_HUMAN", "sp|P21926|CD9_HUMAN"]
        );
        assert_eq!(m.columns.len(), 3);
        assert_eq!(m.scale, ValueScale::Log2);
        assert_eq!(m.values[[1, 0]], -0.25);
        assert!(m.values[[0, 1]].is_nan());
        assert_eq!(m.values[[0, 2]], 0.0);
        assert_eq!(m.report.rows_dropped.get("contaminant"), Some(&1));
        assert_eq!(m.report.quantity, "log2_abundance");
    }

    #[test]
    fn no_channels_is_an_error() {
        let mut t = parse_table(
            Path::new("abundance_protein_MD.tsv"),
            "Index\tNumberPSM\tProteinID\tMaxPepProb\tReferenceIntensity\nP1\t1\tP1\t1\t2\n",
            None,
        )
        .unwrap();
        let e = read(&mut t, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no channel columns"), "{e}");
    }
}
