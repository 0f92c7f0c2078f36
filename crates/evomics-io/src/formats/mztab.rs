//! mzTab 1.0 (HUPO-PSI, Griss et al. 2014, *Mol Cell Proteomics* 13:2765; specification
//! "mzTab 1.0.0", psidev.info/mztab): the protein section. Lines are tab-separated and start
//! with a prefix: `MTD` metadata, `PRH` the protein header, `PRT` protein rows (peptide, PSM
//! and small-molecule sections and `COM` comments are skipped). The samples are the
//! `protein_abundance_assay[n]` columns (default, `quant=assay`), or with `quant=study_variable`
//! the `protein_abundance_study_variable[n]` columns (study variables are ignored otherwise).
//! Each column takes its name from the metadata: an assay is named by the description of the
//! sample it refers to (`assay[n]-sample_ref` → `sample[m]-description`), else by the file stem
//! of its run (`assay[n]-ms_run_ref` → `ms_run[k]-location`), else `assay[n]`, whichever gives
//! every assay a distinct name; a study variable by its `study_variable[n]-description`. The
//! feature id is `accession`; `null` is missing.

use std::collections::BTreeMap;
use std::path::Path;

use evomics_core::ValueScale;

use super::common::{bump, distinct_columns, parse_intensity, run_stem, text, unique_ids};
use crate::error::{IoError, Result};
use crate::matrix::{MatrixBuilder, MatrixColumn, ParsedMatrix, ReadReport};
use crate::spec::ReadOptions;
use crate::text::{clip, TextTable};

/// The mzTab format name (read line by line, not as a table: see [`read_file`]).
pub const NAME: &str = "mztab";

/// What an mzTab file must contain, for messages.
pub const EXPECTS: &str = "'MTD' metadata lines, a 'PRH' protein header with 'accession' and 'protein_abundance_assay[n]' columns, and 'PRT' rows (mzTab 1.0)";

/// True when the first lines of a file are mzTab: its first line that is not a comment is a
/// metadata (`MTD`) line.
pub fn looks_like_mztab(lines: &[String]) -> bool {
    lines
        .iter()
        .find(|l| !l.starts_with("COM\t") && !l.trim().is_empty())
        .is_some_and(|l| l.starts_with("MTD\t"))
}

/// The `[n]` index of `prefix[n]...`.
fn indexed<'a>(s: &'a str, prefix: &str) -> Option<(u32, &'a str)> {
    let rest = s.strip_prefix(prefix)?.strip_prefix('[')?;
    let (n, tail) = rest.split_once(']')?;
    Some((n.parse().ok()?, tail))
}

/// Read the protein section of an mzTab file.
pub fn read_file(path: &Path, opts: &ReadOptions) -> Result<ParsedMatrix> {
    let mut t = crate::text::read_lines(path)?;
    let mut m = read(&mut t, opts)?;
    m.source_digest = Some(t.rows.digest());
    Ok(m)
}

/// Read the protein section from a table opened with [`crate::text::read_lines`].
pub fn read(t: &mut TextTable, opts: &ReadOptions) -> Result<ParsedMatrix> {
    let path = t.path.clone();
    let path = path.as_path();
    let study = match opts.quantity.as_deref() {
        None | Some("assay") => false,
        Some("study_variable") => true,
        Some(q) => {
            return Err(IoError::Spec(format!(
                "quant={q} is not an mztab quantity; use one of: assay, study_variable"
            )))
        }
    };
    let mut mtd: BTreeMap<String, String> = BTreeMap::new();
    let mut first = t.header.clone();
    first.resize(3, String::new());
    let mut pending = Some((1u64, first));
    let mut report = ReadReport {
        format: NAME.into(),
        quantity: if study { "study_variable" } else { "assay" }.into(),
        ..Default::default()
    };
    let mut layout: Option<ProteinLayout> = None;
    let (mut ids, mut lines, mut descs) = (Vec::new(), Vec::new(), Vec::new());
    let mut cells = MatrixBuilder::new(0);
    let zero_na = opts.zero_is_missing.unwrap_or(true);
    let mut skipped_sections = 0usize;
    loop {
        let (line, fields): (u64, Vec<String>) = match pending.take() {
            Some(x) => x,
            None => match t.rows.next_row()? {
                Some(r) => (r.line, (0..r.len()).map(|i| r.raw(i).to_string()).collect()),
                None => break,
            },
        };
        let prefix = fields[0].trim();
        match prefix {
            "MTD" => {
                if fields.len() < 3 {
                    return Err(IoError::parse(
                        path,
                        line,
                        None,
                        "an MTD line needs a key and a value separated by tabs",
                    ));
                }
                mtd.insert(fields[1].trim().to_string(), fields[2].trim().to_string());
            }
            "PRH" => {
                if layout.is_some() {
                    return Err(IoError::parse(
                        path,
                        line,
                        None,
                        "a second PRH (protein header) line; an mzTab file has one protein section",
                    ));
                }
                if let Some(v) = mtd.get("mzTab-version") {
                    if !v.starts_with("1.") {
                        return Err(IoError::parse(
                            path,
                            line,
                            None,
                            format!("mzTab-version {} is not read (only mzTab 1.0; mzTab-M 2.0 holds metabolomics)", clip(v)),
                        ));
                    }
                }
                let l = protein_layout(path, line, &fields, &mtd, study)?;
                cells = MatrixBuilder::new(l.2.len());
                layout = Some(l);
            }
            "PRT" => {
                let Some((id_col, desc_col, qcols)) = &layout else {
                    return Err(IoError::parse(
                        path,
                        line,
                        None,
                        "a PRT (protein) line before the PRH header line that names its columns",
                    ));
                };
                let width = qcols.iter().map(|(k, _)| *k).max().unwrap_or(0).max(*id_col) + 1;
                if fields.len() < width {
                    return Err(IoError::parse(
                        path,
                        line,
                        None,
                        format!(
                            "the PRT line has {} fields but the PRH header has at least {width}; the file may be truncated",
                            fields.len()
                        ),
                    ));
                }
                ids.push(fields[*id_col].trim().to_string());
                descs.push(text(&fields[*desc_col]).filter(|d| d != "null"));
                lines.push(line);
                cells.reserve_row(path, line, t.rows.progress())?;
                for (k, c) in qcols {
                    cells.push(parse_intensity(path, line, &c.header, &fields[*k], zero_na)?);
                }
            }
            "COM" | "" => {}
            "PEH" | "PEP" | "PSH" | "PSM" | "SMH" | "SML" => skipped_sections += 1,
            other => {
                return Err(IoError::parse(
                    path,
                    line,
                    None,
                    format!(
                        "line prefix '{}' is not an mzTab section (MTD, PRH, PRT, PEH, PEP, PSH, PSM, SMH, SML, COM)",
                        clip(other)
                    ),
                ))
            }
        }
    }
    let Some((_, _, qcols)) = layout else {
        return Err(IoError::layout(
            path,
            "no PRH line: the file has no protein section (mzTab peptide- or PSM-only files are not read)",
        ));
    };
    report.rows_read = ids.len();
    if skipped_sections > 0 {
        bump(
            &mut report.rows_dropped,
            "not_protein_section",
            skipped_sections,
        );
    }
    if ids.is_empty() {
        return Err(IoError::layout(
            path,
            "the protein section has a PRH header but no PRT rows",
        ));
    }
    let mut warnings = Vec::new();
    let fallback = ids.clone();
    let ids = unique_ids(path, ids, fallback, &lines, "accession", &mut warnings)?;
    report.warnings = warnings;
    let columns = qcols.into_iter().map(|(_, c)| c).collect();
    let mut m = ParsedMatrix::from_builder(
        path.to_path_buf(),
        ids,
        columns,
        cells,
        opts.scale.unwrap_or(ValueScale::Linear),
        report,
    );
    m.annotations.push(("description".into(), descs));
    Ok(m)
}

type ProteinLayout = (usize, usize, Vec<(usize, MatrixColumn)>);

fn protein_layout(
    path: &Path,
    line: u64,
    fields: &[String],
    mtd: &BTreeMap<String, String>,
    study: bool,
) -> Result<ProteinLayout> {
    let col = |name: &str| fields.iter().position(|f| f.trim() == name);
    let id_col = col("accession").ok_or_else(|| {
        IoError::parse(path, line, None, "the PRH line has no 'accession' column")
    })?;
    let desc_col = col("description").unwrap_or(id_col);
    let prefix = if study {
        "protein_abundance_study_variable"
    } else {
        "protein_abundance_assay"
    };
    let mut found: Vec<(usize, u32, String)> = Vec::new();
    for (k, f) in fields.iter().enumerate() {
        if let Some((n, "")) = indexed(f.trim(), prefix) {
            found.push((k, n, f.trim().to_string()));
        }
    }
    if found.is_empty() {
        return Err(IoError::parse(
            path,
            line,
            None,
            format!(
                "the PRH line has no '{prefix}[n]' columns; {}",
                if study {
                    "this file reports no study-variable abundances"
                } else {
                    "this file reports no assay abundances (quant=study_variable reads study variables)"
                }
            ),
        ));
    }
    let names: Vec<String> = if study {
        found
            .iter()
            .map(|(_, n, _)| {
                mtd.get(&format!("study_variable[{n}]-description"))
                    .cloned()
                    .unwrap_or_else(|| format!("study_variable[{n}]"))
            })
            .collect()
    } else {
        assay_names(mtd, &found.iter().map(|(_, n, _)| *n).collect::<Vec<_>>())
    };
    let cols: Vec<(usize, MatrixColumn)> = found
        .into_iter()
        .zip(names)
        .map(|((k, _, header), name)| (k, MatrixColumn { header, name }))
        .collect();
    let just: Vec<MatrixColumn> = cols.iter().map(|(_, c)| c.clone()).collect();
    distinct_columns(path, line, &just, "assay")?;
    Ok((id_col, desc_col, cols))
}

/// Names for the assays: sample descriptions, else run file stems, else `assay[n]`, the first
/// rule that names every assay distinctly.
fn assay_names(mtd: &BTreeMap<String, String>, assays: &[u32]) -> Vec<String> {
    let by_sample: Vec<Option<String>> = assays
        .iter()
        .map(|n| {
            let s = mtd.get(&format!("assay[{n}]-sample_ref"))?;
            mtd.get(&format!("{}-description", s.trim()))
                .and_then(|d| text(d))
        })
        .collect();
    let by_run: Vec<Option<String>> = assays
        .iter()
        .map(|n| {
            let r = mtd.get(&format!("assay[{n}]-ms_run_ref"))?;
            let loc = mtd.get(&format!("{}-location", r.trim()))?;
            text(&run_stem(loc.trim_start_matches("file://")))
        })
        .collect();
    for cand in [by_sample, by_run] {
        if cand.iter().all(Option::is_some) {
            let v: Vec<String> = cand.into_iter().flatten().collect();
            let mut sorted = v.clone();
            sorted.sort();
            sorted.dedup();
            if sorted.len() == v.len() {
                return v;
            }
        }
    }
    assays.iter().map(|n| format!("assay[{n}]")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_lines;

    const MZTAB: &str = "MTD\tmzTab-version\t1.0.0\n\
        MTD\tmzTab-mode\tSummary\n\
        MTD\tms_run[1]-location\tfile:///data/run_bm1.raw\n\
        MTD\tms_run[2]-location\tfile:///data/run_ad1.raw\n\
        MTD\tassay[1]-ms_run_ref\tms_run[1]\n\
        MTD\tassay[2]-ms_run_ref\tms_run[2]\n\
        MTD\tstudy_variable[1]-description\tall\n\
        COM\tprotein section\n\
        PRH\taccession\tdescription\tprotein_abundance_assay[1]\tprotein_abundance_assay[2]\tprotein_abundance_study_variable[1]\n\
        PRT\tP08670\tVimentin\t1500.5\tnull\t1500.5\n\
        PRT\tP21926\tCD9 antigen\t20\t30\t25\n\
        PSH\tsequence\n";

    #[test]
    fn detects_and_reads_assays_named_by_runs() {
        assert!(looks_like_mztab(&[
            "COM\tx".into(),
            "MTD\tmzTab-version\t1.0.0".into()
        ]));
        assert!(!looks_like_mztab(&["id\tA".into()]));
        let mut t = parse_lines(Path::new("x.mzTab"), MZTAB).unwrap();
        let m = read(&mut t, &ReadOptions::default()).unwrap();
        assert_eq!(m.feature_ids, vec!["P08670", "P21926"]);
        let names: Vec<&str> = m.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["run_bm1", "run_ad1"]);
        assert_eq!(m.values[[0, 0]], 1500.5);
        assert!(m.values[[0, 1]].is_nan());
        assert_eq!(m.report.rows_dropped.get("not_protein_section"), Some(&1));
        let o = ReadOptions {
            quantity: Some("study_variable".into()),
            ..Default::default()
        };
        let mut t = parse_lines(Path::new("x.mzTab"), MZTAB).unwrap();
        let m = read(&mut t, &o).unwrap();
        assert_eq!(m.columns[0].name, "all");
        assert_eq!(m.values[[1, 0]], 25.0);
    }

    #[test]
    fn errors_name_the_line() {
        let bad = MZTAB.replace("\t20\t", "\ttwenty\t");
        let mut t = parse_lines(Path::new("x.mzTab"), &bad).unwrap();
        let e = read(&mut t, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("x.mzTab:11, column 'protein_abundance_assay[1]'"),
            "{e}"
        );
        let early = "MTD\tmzTab-version\t1.0.0\nPRT\tP1\t1\n";
        let mut t = parse_lines(Path::new("x.mzTab"), early).unwrap();
        let e = read(&mut t, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.mzTab:2: a PRT"), "{e}");
        let short = MZTAB.replace("PRT\tP21926\tCD9 antigen\t20\t30\t25", "PRT\tP21926\tCD9");
        let mut t = parse_lines(Path::new("x.mzTab"), &short).unwrap();
        let e = read(&mut t, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.mzTab:11") && e.contains("truncated"), "{e}");
    }
}
