//! MaxQuant `proteinGroups.txt`: label-free (`LFQ intensity <s>`, `Intensity <s>` or
//! `iBAQ <s>` per sample) and isobaric (TMT/iTRAQ: `Reporter intensity corrected <n> <exp>` per
//! channel, `Reporter intensity <n> <exp>` uncorrected), with the `Reverse`,
//! `Potential contaminant` and `Only identified by site` filter columns.

use evomics_core::{FeatureFlags, ValueScale};

use super::common::{
    accession, bump, choose_quantity, parse_intensity, split_list, text, unique_ids,
    zero_is_missing, Quantity,
};
use crate::error::{IoError, Result};
use crate::matrix::{MatrixBuilder, MatrixColumn, ParsedMatrix, ReadReport};
use crate::spec::ReadOptions;
use crate::text::TextTable;

/// The MaxQuant format.
pub const FORMAT: super::TextFormat = super::TextFormat {
    name: "maxquant",
    expects: "columns 'Protein IDs' and 'Majority protein IDs' plus per-sample 'LFQ intensity <sample>', 'Intensity <sample>' or 'iBAQ <sample>' columns (MaxQuant proteinGroups.txt)",
    detect,
    read,
};

/// Quantities, default first.
const QUANTITIES: [Quantity; 3] = [
    Quantity {
        name: "lfq",
        sample_of: |h| {
            h.strip_prefix("LFQ intensity ")
                .map(|s| s.trim().to_string())
        },
        pattern: "LFQ intensity <sample>",
    },
    Quantity {
        name: "intensity",
        sample_of: |h| h.strip_prefix("Intensity ").map(|s| s.trim().to_string()),
        pattern: "Intensity <sample>",
    },
    Quantity {
        name: "ibaq",
        sample_of: |h| h.strip_prefix("iBAQ ").map(|s| s.trim().to_string()),
        pattern: "iBAQ <sample>",
    },
];

/// The filter columns, in the order a row's drop reason is attributed, with the report key and flag.
const FILTERS: [(&[&str], &str, FeatureFlags); 3] = [
    (&["Reverse"], "reverse", FeatureFlags::DECOY),
    (
        &["Potential contaminant", "Contaminant"],
        "potential_contaminant",
        FeatureFlags::CONTAMINANT,
    ),
    (
        &["Only identified by site"],
        "only_identified_by_site",
        FeatureFlags::ONLY_BY_SITE,
    ),
];

/// The MaxQuant isobaric (TMT/iTRAQ) format.
pub const TMT: super::TextFormat = super::TextFormat {
    name: "maxquant-tmt",
    expects: "columns 'Protein IDs' and 'Majority protein IDs' plus per-channel 'Reporter intensity corrected <n> <experiment>' columns (MaxQuant proteinGroups.txt of a TMT/iTRAQ search)",
    detect: detect_tmt,
    read: read_tmt,
};

/// The channel of a reporter header after its prefix: `1 TMT_A` → `TMT_A.1`, `1` → `1`.
/// MaxQuant numbers channels from 0 or 1 (by version) and appends the experiment when there
/// are several; a header without a channel number is not a channel.
fn reporter_channel(rest: &str) -> Option<String> {
    let rest = rest.trim();
    let (n, exp) = rest.split_once(' ').unwrap_or((rest, ""));
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = n.parse::<u32>().ok()?;
    let exp = exp.trim();
    Some(if exp.is_empty() {
        n.to_string()
    } else {
        format!("{exp}.{n}")
    })
}

/// Isobaric quantities, default first.
const TMT_QUANTITIES: [Quantity; 2] = [
    Quantity {
        name: "corrected",
        sample_of: |h| {
            h.strip_prefix("Reporter intensity corrected ")
                .and_then(reporter_channel)
        },
        pattern: "Reporter intensity corrected <n> <experiment>",
    },
    Quantity {
        name: "uncorrected",
        sample_of: |h| {
            h.strip_prefix("Reporter intensity ")
                .and_then(reporter_channel)
        },
        pattern: "Reporter intensity <n> <experiment>",
    },
];

fn protein_groups(t: &TextTable) -> bool {
    t.column("Majority protein IDs").is_some() && t.column("Protein IDs").is_some()
}

fn detect(t: &TextTable) -> bool {
    protein_groups(t)
        && t.header.iter().any(|h| {
            QUANTITIES
                .iter()
                .any(|q| (q.sample_of)(h).is_some_and(|s| !s.is_empty()))
        })
}

fn detect_tmt(t: &TextTable) -> bool {
    protein_groups(t)
        && t.header
            .iter()
            .any(|h| (TMT_QUANTITIES[0].sample_of)(h).is_some())
}

/// Read a `proteinGroups.txt` table (label-free).
pub fn read(t: &mut TextTable, opts: &ReadOptions) -> Result<ParsedMatrix> {
    read_with(t, opts, FORMAT.name, &QUANTITIES)
}

/// Read a `proteinGroups.txt` table of an isobaric search: one column per reporter channel
/// and experiment (plex). Channels are matched to the sheet by header or by `<exp>.<n>`.
pub fn read_tmt(t: &mut TextTable, opts: &ReadOptions) -> Result<ParsedMatrix> {
    let mut m = read_with(t, opts, TMT.name, &TMT_QUANTITIES)?;
    super::common::distinct_columns(&m.path, 1, &m.columns, "channel")?;
    let mut plexes: Vec<&str> = Vec::new();
    for c in &m.columns {
        if let Some((exp, _)) = c.name.rsplit_once('.') {
            if !plexes.contains(&exp) {
                plexes.push(exp);
            }
        }
    }
    if plexes.len() > 1 {
        let w = format!(
            "{} plexes ({}): give the sheet a column naming each sample's plex and use it as the batch (ComBat, '~ batch')",
            plexes.len(),
            super::common::preview(&plexes, 6)
        );
        m.report.warnings.push(w);
    }
    Ok(m)
}

fn read_with(
    t: &mut TextTable,
    opts: &ReadOptions,
    format: &'static str,
    quantities: &[Quantity],
) -> Result<ParsedMatrix> {
    let path = t.path.clone();
    let path = path.as_path();
    let majority = t.column("Majority protein IDs");
    let all_ids = t.column("Protein IDs");
    let id_col = majority.or(all_ids).ok_or_else(|| {
        IoError::layout(
            path,
            "no 'Majority protein IDs' or 'Protein IDs' column; a MaxQuant proteinGroups.txt has both",
        )
    })?;
    let id_name = t.header[id_col].clone();
    if t.header
        .iter()
        .any(|h| h.starts_with("Ratio H/L") || h.starts_with("Ratio M/L"))
    {
        return Err(IoError::layout(
            path,
            "this proteinGroups.txt is from a labelled (SILAC) experiment ('Ratio H/L' columns); only label-free tables are read. Export a label-free table or use the generic wide format",
        ));
    }
    let mut warnings = Vec::new();
    let (quantity, qcols) = choose_quantity(t, format, quantities, opts, &mut warnings)?;
    let filters: Vec<(usize, &str, FeatureFlags)> = FILTERS
        .iter()
        .filter_map(|(names, key, flag)| {
            names
                .iter()
                .find_map(|n| t.column(n))
                .map(|c| (c, *key, *flag))
        })
        .collect();
    for (names, _, _) in FILTERS.iter() {
        if !names.iter().any(|n| t.column(n).is_some()) {
            warnings.push(format!("no '{}' column; no rows filtered on it", names[0]));
        }
    }
    let gene_col = t.column("Gene names");
    let name_col = t.column("Protein names");
    let zero_na = zero_is_missing(opts, true);
    let mut report = ReadReport {
        format: format.into(),
        quantity: quantity.into(),
        ..Default::default()
    };
    let mut preferred = Vec::new();
    let mut fallback = Vec::new();
    let mut lines = Vec::new();
    let mut cells = MatrixBuilder::new(qcols.len());
    let mut flags = Vec::new();
    let mut groups = Vec::new();
    let mut genes = Vec::new();
    let mut gene_lists = Vec::new();
    let mut names = Vec::new();
    while let Some(r) = t.rows.next_row()? {
        let mut f = FeatureFlags::NONE;
        let mut first_reason = None;
        for (c, key, flag) in &filters {
            if r.get(*c) == "+" {
                f.insert(*flag);
                first_reason.get_or_insert(*key);
                if opts.keep_flagged {
                    bump(&mut report.rows_flagged, key, 1);
                }
            }
        }
        if let (Some(reason), false) = (first_reason, opts.keep_flagged) {
            bump(&mut report.rows_dropped, reason, 1);
            continue;
        }
        let group = r.get(id_col);
        let lead = split_list(group, false)
            .first()
            .map(|s| accession(s))
            .unwrap_or_default();
        preferred.push(lead);
        fallback.push(group.to_string());
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
        flags.push(f);
        groups.push(text(all_ids.map(|c| r.get(c)).unwrap_or(group)));
        if let Some(c) = gene_col {
            let g = split_list(r.get(c), false);
            genes.push(g.first().map(|s| s.to_string()));
            gene_lists.push(text(r.get(c)));
        }
        if let Some(c) = name_col {
            names.push(text(r.get(c)));
        }
    }
    report.rows_read = t.rows.rows_read;
    if report.rows_read == 0 {
        return Err(IoError::layout(
            path,
            "the file has a header but no protein-group rows",
        ));
    }
    let ids = unique_ids(path, preferred, fallback, &lines, &id_name, &mut warnings)?;
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
    m.annotations.push(("protein_ids".into(), groups));
    if gene_col.is_some() {
        m.annotations.push(("gene".into(), genes));
        m.annotations.push(("gene_names".into(), gene_lists));
    }
    if name_col.is_some() {
        m.annotations.push(("protein_names".into(), names));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_table;
    use std::path::Path;

    const PG: &str = "Protein IDs\tMajority protein IDs\tGene names\tIntensity A\tIntensity B\tLFQ intensity A\tLFQ intensity B\tReverse\tPotential contaminant\tOnly identified by site\n\
        P1;P1-2\tP1;P1-2\tGA;GA2\t10\t0\t5\t0\t\t\t\n\
        REV__P9\tREV__P9\t\t3\t3\t3\t3\t+\t\t+\n\
        CON__P2\tCON__P2\tALB\t7\t8\t7\t8\t\t+\t\n\
        sp|P3|X_HUMAN\tsp|P3|X_HUMAN\t\t1\t2\t0\t2\t\t\t\n";

    fn table() -> TextTable {
        parse_table(Path::new("proteinGroups.txt"), PG, None).unwrap()
    }

    #[test]
    fn drops_flagged_and_reads_lfq() {
        let mut t = table();
        assert!(detect(&t));
        let m = read(&mut t, &ReadOptions::default()).unwrap();
        assert_eq!(m.feature_ids, vec!["P1", "P3"]);
        assert_eq!(
            m.columns[1],
            MatrixColumn {
                header: "LFQ intensity B".into(),
                name: "B".into()
            }
        );
        assert_eq!(m.values[[0, 0]], 5.0);
        assert!(m.values[[0, 1]].is_nan());
        assert_eq!(m.report.rows_dropped.get("reverse"), Some(&1));
        assert_eq!(m.report.rows_dropped.get("potential_contaminant"), Some(&1));
        assert_eq!(m.report.rows_dropped.get("only_identified_by_site"), None);
        let gene = &m.annotations.iter().find(|(k, _)| k == "gene").unwrap().1;
        assert_eq!(gene[0].as_deref(), Some("GA"));
    }

    #[test]
    fn keeps_flagged_on_request() {
        let o = ReadOptions {
            keep_flagged: true,
            quantity: Some("intensity".into()),
            ..Default::default()
        };
        let m = read(&mut table(), &o).unwrap();
        assert_eq!(m.feature_ids.len(), 4);
        assert!(m.feature_flags[1].contains(FeatureFlags::DECOY));
        assert!(m.feature_flags[1].contains(FeatureFlags::ONLY_BY_SITE));
        assert!(m.feature_flags[2].contains(FeatureFlags::CONTAMINANT));
        assert_eq!(
            m.report.rows_flagged.get("only_identified_by_site"),
            Some(&1)
        );
        assert_eq!(m.report.quantity, "intensity");
        assert_eq!(m.values[[0, 0]], 10.0);
    }

    const TMT_PG: &str = "Protein IDs\tMajority protein IDs\tGene names\tIntensity\tIntensity P1\tReporter intensity 1 P1\tReporter intensity 2 P1\tReporter intensity corrected 1 P1\tReporter intensity corrected 2 P1\tReporter intensity count 1 P1\tReporter intensity corrected 1 P2\tReverse\tPotential contaminant\n\
        P1\tP1\tGA\t100\t100\t11\t12\t10\t0\t3\t7\t\t\n\
        REV__P9\tREV__P9\t\t3\t3\t3\t3\t3\t3\t3\t3\t+\t\n\
        CON__P2\tCON__P2\tALB\t7\t7\t7\t8\t7\t8\t1\t1\t\t+\n";

    #[test]
    fn reporter_channels_per_plex() {
        let mut t = parse_table(Path::new("proteinGroups.txt"), TMT_PG, None).unwrap();
        assert!(detect_tmt(&t));
        let m = read_tmt(&mut t, &ReadOptions::default()).unwrap();
        assert_eq!(m.report.format, "maxquant-tmt");
        assert_eq!(m.feature_ids, vec!["P1"]);
        let names: Vec<&str> = m.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["P1.1", "P1.2", "P2.1"]);
        assert_eq!(m.values[[0, 0]], 10.0);
        assert!(m.values[[0, 1]].is_nan());
        assert_eq!(m.report.rows_dropped.get("reverse"), Some(&1));
        assert_eq!(m.report.rows_dropped.get("potential_contaminant"), Some(&1));
        assert!(m.report.warnings.iter().any(|w| w.contains("2 plexes")));
        let o = ReadOptions {
            quantity: Some("uncorrected".into()),
            ..Default::default()
        };
        let mut t = parse_table(Path::new("proteinGroups.txt"), TMT_PG, None).unwrap();
        let m = read_tmt(&mut t, &o).unwrap();
        assert_eq!(m.columns.len(), 2);
        assert_eq!(m.values[[0, 1]], 12.0);
    }

    #[test]
    fn a_duplicate_channel_is_an_error() {
        let dup = TMT_PG.replace(
            "Reporter intensity corrected 2 P1",
            "Reporter intensity corrected 01 P1",
        );
        let mut t = parse_table(Path::new("proteinGroups.txt"), &dup, None).unwrap();
        let e = read_tmt(&mut t, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("channel 'P1.1' appears twice") && e.contains("proteinGroups.txt:1"),
            "{e}"
        );
    }

    #[test]
    fn unknown_quantity_is_an_error() {
        let o = ReadOptions {
            quantity: Some("maxlfq".into()),
            ..Default::default()
        };
        let e = read(&mut table(), &o).unwrap_err().to_string();
        assert!(e.contains("lfq, intensity, ibaq"), "{e}");
        let o = ReadOptions {
            quantity: Some("ibaq".into()),
            ..Default::default()
        };
        let e = read(&mut table(), &o).unwrap_err().to_string();
        assert!(
            e.contains("iBAQ <sample>") && e.contains("lfq (2 columns"),
            "{e}"
        );
    }
}
