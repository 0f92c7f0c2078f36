//! SDRF-Proteomics: the sample and data relationship format of PRIDE/ProteomeXchange, read as a
//! sample sheet ([`read_sdrf`]) and written from one ([`write_sdrf`]).
//!
//! An SDRF file (Perez-Riverol et al. 2022, *J Proteome Res* 21:1654–1663,
//! doi:10.1021/acs.jproteome.1c00854; specification at
//! <https://github.com/bigbio/proteomics-sample-metadata>) is a TSV with one row per data file
//! (MS run) of a sample, or per sample and label in a labelled experiment. Its columns are
//! `source name` (the sample), `characteristics[…]` (properties of the sample), `material type`,
//! `assay name` (the MS run), `technology type`, `comment[…]` (properties of the run: data file,
//! label, fraction, instrument, modifications) and `factor value[…]` (the properties the study
//! compares, each also a characteristic). Unknown values are written `not available`, values
//! that do not apply `not applicable`.
//!
//! Reading: one sheet row per sample (the `source name` unless another column is named); the
//! rows of one sample (its fractions or data files) are collapsed, their characteristics must
//! agree (an error names the file, line, column and sample otherwise), and their run
//! properties (`comment[…]`, `assay name`) become one text value listing the distinct values in
//! file order, separated by `;`. Column names follow [`SDRF_SHEET_COLUMNS`] (e.g.
//! `characteristics[individual]` → `donor_id`), otherwise the bracketed name with spaces as
//! underscores (`characteristics[organism part]` → `organism_part`); `factor value[x]` and
//! `characteristics[x]` fill the same column and must agree. `technology type` (always
//! proteomic profiling by mass spectrometry in SDRF-Proteomics), columns with no value in any
//! sample and an `assay name` equal to the sample id are left out, with a note.
//!
//! Writing maps the sheet back the same way, so that a sheet written and read again has the same
//! samples, columns and values.

use std::collections::BTreeMap;
use std::path::Path;

use evomics_core::sheet::is_na_text;
use evomics_core::SampleSheet;

use crate::error::{IoError, Result};
use crate::text::{clip, header_preview, read_table_repeated_names, LIMITS};

/// The SDRF column that names the sample by default.
pub const SDRF_SAMPLE_COLUMN: &str = "source name";

/// SDRF columns with an evomics sheet name of their own (SDRF name → sheet column). The SDRF
/// spelling is lower case; reading compares names ignoring case and white space.
pub const SDRF_SHEET_COLUMNS: [(&str, &str); 14] = [
    ("characteristics[individual]", "donor_id"),
    ("characteristics[cell type]", "source"),
    ("characteristics[organism]", "organism"),
    ("characteristics[organism part]", "organism_part"),
    ("characteristics[disease]", "disease"),
    (
        "characteristics[biological replicate]",
        "biological_replicate",
    ),
    ("material type", "material_type"),
    ("assay name", "assay_name"),
    ("comment[data file]", "data_file"),
    ("comment[label]", "label"),
    ("comment[fraction identifier]", "fraction_identifier"),
    ("comment[technical replicate]", "technical_replicate"),
    ("comment[instrument]", "instrument"),
    ("source name", "source_name"),
];

/// The SDRF-Proteomics term for a value that is unknown.
pub const NOT_AVAILABLE: &str = "not available";
/// The SDRF-Proteomics term for a value that does not apply.
pub const NOT_APPLICABLE: &str = "not applicable";
/// `technology type` of every SDRF-Proteomics row.
pub const MS_TECHNOLOGY: &str = "proteomic profiling by mass spectrometry";
/// `comment[label]` of a label-free run (PSI-MS term MS:1002038).
pub const LABEL_FREE: &str = "AC=MS:1002038;NT=label free sample";

/// How an SDRF column is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A property of the sample: the same on every row of one sample.
    Sample,
    /// A property of one run (data file, fraction, label): the distinct values are listed.
    Run,
    /// Not read (`technology type`).
    Ignored,
}

/// An SDRF header lower-cased, with runs of white space made one space and none around the
/// brackets (`Characteristics [Organism  Part]` → `characteristics[organism part]`).
fn normalize_header(h: &str) -> String {
    let words: Vec<String> = h.split_whitespace().map(|w| w.to_lowercase()).collect();
    words
        .join(" ")
        .replace(" [", "[")
        .replace("[ ", "[")
        .replace(" ]", "]")
}

/// The kind of a normalized SDRF header and the name inside its brackets, if any.
fn split_header(h: &str) -> (&str, Option<&str>) {
    match h
        .split_once('[')
        .and_then(|(k, rest)| Some((k, rest.strip_suffix(']')?)))
    {
        Some((kind, inner)) => (kind, Some(inner)),
        None => (h, None),
    }
}

/// The sheet column an SDRF column fills, and how it is read.
fn sheet_name(normalized: &str) -> (String, Role) {
    let (kind, inner) = split_header(normalized);
    let role = match kind {
        "characteristics" | "factor value" | "material type" | "source name" => Role::Sample,
        "technology type" => Role::Ignored,
        _ => Role::Run,
    };
    // A factor value fills the column of the characteristic of the same name.
    let key = match (kind, inner) {
        ("factor value", Some(i)) => format!("characteristics[{i}]"),
        _ => normalized.to_string(),
    };
    if let Some((_, s)) = SDRF_SHEET_COLUMNS.iter().find(|(k, _)| *k == key) {
        return (s.to_string(), role);
    }
    let base = inner.unwrap_or(normalized).trim();
    (base.replace(' ', "_"), role)
}

fn sdrf_missing(s: &str) -> bool {
    let t = s.trim();
    t.eq_ignore_ascii_case(NOT_AVAILABLE) || t.eq_ignore_ascii_case(NOT_APPLICABLE) || is_na_text(t)
}

/// One sheet column being filled from one or more SDRF columns.
struct Target {
    name: String,
    role: Role,
    /// SDRF header indices (a characteristic and its factor value, or a repeated header).
    sources: Vec<usize>,
    /// Per sample, the value (and the line it came from) or the run values.
    values: Vec<Vec<(Option<String>, u64)>>,
}

/// Read an SDRF-Proteomics file as a sample sheet: one row per value of `id_column` (default
/// [`SDRF_SAMPLE_COLUMN`]); returns the sheet and notes on what was collapsed or left out.
///
/// The id column is matched ignoring case and white space (`source name`, `assay name`, or any
/// other column). An error names the file, line and column: a missing id column, an empty id, or
/// two rows of one sample whose characteristics or factor values differ.
pub fn read_sdrf(path: &Path, id_column: Option<&str>) -> Result<(SampleSheet, Vec<String>)> {
    let mut t = read_table_repeated_names(path, Some(b'\t'))?;
    let header: Vec<String> = t.header.iter().map(|h| normalize_header(h)).collect();
    let wanted = normalize_header(id_column.unwrap_or(SDRF_SAMPLE_COLUMN));
    let id_col = header.iter().position(|h| *h == wanted).ok_or_else(|| {
        IoError::layout(
            path,
            format!(
                "no column '{}' for the sample ids in this SDRF file (the header has: {}); an SDRF-Proteomics file names its samples in 'source name', or name the column with --sample-id-column",
                clip(&wanted),
                header_preview(&t.header)
            ),
        )
    })?;
    if !header.iter().any(|h| h.starts_with("characteristics[")) {
        return Err(IoError::layout(
            path,
            format!(
                "no characteristics[…] column: is this an SDRF-Proteomics file? (the header has: {})",
                header_preview(&t.header)
            ),
        ));
    }
    // Columns → targets, in header order; the id column fills no target.
    let mut targets: Vec<Target> = Vec::new();
    let mut ignored: Vec<String> = Vec::new();
    for (k, h) in header.iter().enumerate() {
        if k == id_col {
            continue;
        }
        if h.is_empty() {
            return Err(IoError::parse(
                path,
                1,
                None,
                format!("column {} has no name; give it an SDRF header", k + 1),
            ));
        }
        let (name, role) = sheet_name(h);
        if role == Role::Ignored {
            ignored.push(t.header[k].clone());
            continue;
        }
        let is_factor = h.starts_with("factor value[");
        let found = targets.iter().position(|x| x.name == name);
        match found {
            // A factor value and its characteristic fill one column.
            Some(i)
                if is_factor
                    || targets[i]
                        .sources
                        .iter()
                        .any(|&s| header[s].starts_with("factor value[")) =>
            {
                targets[i].sources.push(k)
            }
            // A repeated header (comment[modification parameters] often is): its own column.
            Some(_) => {
                let mut n = 2;
                while targets.iter().any(|x| x.name == format!("{name}_{n}")) {
                    n += 1;
                }
                targets.push(Target {
                    name: format!("{name}_{n}"),
                    role,
                    sources: vec![k],
                    values: Vec::new(),
                });
            }
            None => targets.push(Target {
                name,
                role,
                sources: vec![k],
                values: Vec::new(),
            }),
        }
    }
    let mut ids: Vec<String> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut rows = 0usize;
    let width = header.len();
    while let Some(r) = t.rows.next_row()? {
        rows += 1;
        if rows.saturating_mul(width) > LIMITS.max_sheet_cells {
            return Err(IoError::parse(
                path,
                r.line,
                None,
                format!(
                    "the SDRF file has more than {} cells, the limit for a sample sheet (docs/reliability.md)",
                    LIMITS.max_sheet_cells
                ),
            ));
        }
        let id = r.get(id_col).to_string();
        if id.is_empty() || sdrf_missing(&id) {
            return Err(IoError::parse(
                path,
                r.line,
                Some(&t.header[id_col]),
                format!(
                    "the sample id is '{}'; every row needs the name of its sample",
                    clip(&id)
                ),
            ));
        }
        let sample = match index.get(&id) {
            Some(&i) => i,
            None => {
                index.insert(id.clone(), ids.len());
                ids.push(id.clone());
                for x in &mut targets {
                    x.values.push(Vec::new());
                }
                ids.len() - 1
            }
        };
        for x in &mut targets {
            let mut value: Option<(String, usize)> = None;
            for &s in &x.sources {
                let cell = r.get(s);
                if sdrf_missing(cell) {
                    continue;
                }
                match &value {
                    None => value = Some((cell.to_string(), s)),
                    Some((a, first)) if a != cell => {
                        return Err(IoError::parse(
                            path,
                            r.line,
                            Some(&t.header[s]),
                            format!(
                                "sample '{}': '{}' here but '{}' in column '{}' of the same row; a factor value must equal the characteristic of the same name",
                                clip(&id),
                                clip(cell),
                                clip(a),
                                clip(&t.header[*first])
                            ),
                        ))
                    }
                    Some(_) => {}
                }
            }
            let value = value.map(|(v, _)| v);
            let seen = &mut x.values[sample];
            if x.role == Role::Sample {
                if let Some((prev, line)) = seen.first() {
                    if *prev != value {
                        let show = |v: &Option<String>| {
                            v.as_deref()
                                .map_or(NOT_AVAILABLE.to_string(), |s| clip(s).into_owned())
                        };
                        return Err(IoError::parse(
                            path,
                            r.line,
                            Some(&t.header[x.sources[0]]),
                            format!(
                                "sample '{}': '{}' here but '{}' on line {line}; the rows of one sample (its fractions or data files) must have the same characteristics. If they are different samples, give them different '{}' values, or read the samples from another column with --sample-id-column (e.g. 'assay name')",
                                clip(&id),
                                show(&value),
                                show(prev),
                                t.header[id_col]
                            ),
                        ));
                    }
                    continue;
                }
            }
            if x.role == Role::Sample || !seen.iter().any(|(v, _)| *v == value) {
                seen.push((value, r.line));
            }
        }
    }
    if ids.is_empty() {
        return Err(IoError::layout(
            path,
            "the SDRF file has a header but no rows",
        ));
    }
    let mut notes = Vec::new();
    if rows > ids.len() {
        notes.push(format!(
            "{}: {rows} rows (data files, fractions or labels) collapsed into {} samples by '{}'",
            path.display(),
            ids.len(),
            t.header[id_col]
        ));
    }
    let mut columns: Vec<(String, Vec<Option<String>>)> = Vec::new();
    let mut empty: Vec<String> = Vec::new();
    for x in targets {
        let cells: Vec<Option<String>> = x
            .values
            .iter()
            .map(|vs| {
                let present: Vec<&str> = vs.iter().filter_map(|(v, _)| v.as_deref()).collect();
                (!present.is_empty()).then(|| present.join(";"))
            })
            .collect();
        if cells.iter().all(Option::is_none) {
            empty.push(x.name);
            continue;
        }
        if x.name == "assay_name"
            && cells
                .iter()
                .zip(&ids)
                .all(|(c, id)| c.as_deref() == Some(id.as_str()))
        {
            notes.push(format!(
                "{}: 'assay name' equals the sample id on every row; not kept as a column",
                path.display()
            ));
            continue;
        }
        columns.push((x.name, cells));
    }
    if !empty.is_empty() {
        notes.push(format!(
            "{}: columns without a value in any sample (not available / not applicable) left out: {}",
            path.display(),
            empty.join(", ")
        ));
    }
    if !ignored.is_empty() {
        notes.push(format!(
            "{}: not read: {} (the same for every SDRF-Proteomics row)",
            path.display(),
            ignored.join(", ")
        ));
    }
    let sheet = SampleSheet::from_text_columns(ids, columns)
        .map_err(|e| IoError::core(path.display().to_string(), e))?;
    Ok((sheet, notes))
}

/// What [`write_sdrf`] knows beyond the sheet.
#[derive(Debug, Clone, Default)]
pub struct SdrfExport {
    /// Sheet columns written as `factor value[…]` too (the variables the study compares).
    pub factors: Vec<String>,
    /// `technology type`; [`MS_TECHNOLOGY`] for a proteome layer, else `not available`.
    pub technology_type: Option<String>,
    /// `comment[label]` when the sheet has no `label` column (e.g. [`LABEL_FREE`]).
    pub label: Option<String>,
}

/// The SDRF header of a sheet column: the inverse of the reading rule.
fn sdrf_header(column: &str) -> String {
    match SDRF_SHEET_COLUMNS.iter().find(|(_, s)| *s == column) {
        Some((h, _)) => h.to_string(),
        None => format!("characteristics[{column}]"),
    }
}

/// Write a sample sheet as SDRF-Proteomics: one row per sample and data file, the required
/// columns first (`source name`, `characteristics[organism]`, `characteristics[organism
/// part]`, `characteristics[cell type]`, `characteristics[individual]`,
/// `characteristics[biological replicate]`), then the sheet's other columns as
/// `characteristics[<column>]`, `assay name`, `technology type`, `comment[data file]`,
/// `comment[label]`, the other run columns, and `factor value[…]` for `opts.factors`. Missing
/// values are `not available`. A `data_file` cell listing several files (`a.raw;b.raw`, as
/// [`read_sdrf`] collapses them) gives one row per file.
pub fn write_sdrf(sheet: &SampleSheet, opts: &SdrfExport) -> String {
    let required = [
        "characteristics[organism]",
        "characteristics[organism part]",
        "characteristics[cell type]",
        "characteristics[individual]",
        "characteristics[biological replicate]",
    ];
    let run_front = [
        "assay name",
        "technology type",
        "comment[data file]",
        "comment[label]",
    ];
    // (header, sheet column if any)
    let mut cols: Vec<(String, Option<String>)> = vec![("source name".into(), None)];
    let named = |h: &str| -> Option<String> {
        let col = SDRF_SHEET_COLUMNS.iter().find(|(k, _)| *k == h)?.1;
        sheet.column(col).map(|_| col.to_string())
    };
    for h in required {
        cols.push((h.into(), named(h)));
    }
    let mut run_other: Vec<(String, Option<String>)> = Vec::new();
    for c in sheet.columns() {
        let mut h = sdrf_header(&c.name);
        if h == "source name" {
            // The first column already is the source name (the sample id).
            h = format!("characteristics[{}]", c.name);
        }
        if required.contains(&h.as_str()) || run_front.contains(&h.as_str()) {
            continue;
        }
        if h.starts_with("comment[") {
            run_other.push((h, Some(c.name.clone())));
        } else {
            cols.push((h, Some(c.name.clone())));
        }
    }
    for h in run_front {
        cols.push((h.into(), named(h)));
    }
    cols.extend(run_other);
    for f in &opts.factors {
        if sheet.column(f).is_some() {
            let inner = sdrf_header(f)
                .strip_prefix("characteristics[")
                .map_or_else(|| f.clone(), |s| s.trim_end_matches(']').to_string());
            cols.push((format!("factor value[{inner}]"), Some(f.clone())));
        }
    }
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    let mut out = cols
        .iter()
        .map(|(h, _)| h.as_str())
        .collect::<Vec<_>>()
        .join("\t");
    out.push('\n');
    for (row, id) in sheet.sample_ids().iter().enumerate() {
        let value = |c: &Option<String>| -> Option<String> {
            c.as_ref()
                .and_then(|c| sheet.column(c))
                .and_then(|c| c.values.text(row))
        };
        let files: Vec<String> = cols
            .iter()
            .find(|(h, _)| h == "comment[data file]")
            .and_then(|(_, c)| value(c))
            .map(|v| {
                v.split(';')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let n = files.len().max(1);
        for k in 0..n {
            let cells: Vec<String> = cols
                .iter()
                .map(|(h, c)| {
                    let v = match h.as_str() {
                        "source name" => Some(id.clone()),
                        "assay name" => Some(value(c).unwrap_or_else(|| {
                            if n > 1 {
                                format!("{id}_{}", k + 1)
                            } else {
                                id.clone()
                            }
                        })),
                        "technology type" => value(c).or_else(|| opts.technology_type.clone()),
                        "comment[data file]" => files.get(k).cloned(),
                        "comment[label]" => value(c).or_else(|| opts.label.clone()),
                        _ => value(c),
                    };
                    clean(&v.unwrap_or_else(|| NOT_AVAILABLE.to_string()))
                })
                .collect();
            out.push_str(&cells.join("\t"));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::ColumnValues;

    fn write(dir: &Path, text: &str) -> std::path::PathBuf {
        let p = dir.join("x.sdrf.tsv");
        std::fs::write(&p, text).unwrap();
        p
    }

    const HEAD: &str = "source name\tcharacteristics[organism]\tcharacteristics[cell type]\tcharacteristics[individual]\tassay name\ttechnology type\tcomment[data file]\tcomment[fraction identifier]\tfactor value[cell type]\n";

    #[test]
    fn fractions_collapse_into_one_sample_and_names_map() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            &format!(
                "{HEAD}S1\tHomo sapiens\tADSC\tD1\trun1\t{MS_TECHNOLOGY}\ta1.raw\t1\tADSC\n\
                 S1\tHomo sapiens\tADSC\tD1\trun2\t{MS_TECHNOLOGY}\ta2.raw\t2\tADSC\n\
                 S2\tHomo sapiens\tBM-MSC\tnot available\trun3\t{MS_TECHNOLOGY}\tb1.raw\t1\tBM-MSC\n"
            ),
        );
        let (sheet, notes) = read_sdrf(&p, None).unwrap();
        assert_eq!(sheet.sample_ids(), ["S1", "S2"]);
        assert_eq!(sheet.text("source", "S2").as_deref(), Some("BM-MSC"));
        assert_eq!(sheet.text("donor_id", "S2"), None);
        assert_eq!(
            sheet.text("data_file", "S1").as_deref(),
            Some("a1.raw;a2.raw")
        );
        assert_eq!(sheet.text("assay_name", "S1").as_deref(), Some("run1;run2"));
        assert_eq!(
            sheet.column("fraction_identifier").unwrap().values,
            ColumnValues::Text(vec![Some("1;2".into()), Some("1".into())])
        );
        assert!(sheet.column("technology_type").is_none());
        let names: Vec<&str> = sheet.columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "organism",
                "source",
                "donor_id",
                "assay_name",
                "data_file",
                "fraction_identifier"
            ]
        );
        assert!(
            notes[0].contains("3 rows") && notes[0].contains("2 samples"),
            "{notes:?}"
        );
    }

    #[test]
    fn disagreeing_rows_of_one_sample_name_file_line_column_and_sample() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            &format!(
                "{HEAD}S1\tHomo sapiens\tADSC\tD1\tr1\tx\ta1.raw\t1\tADSC\n\
                 S1\tHomo sapiens\tADSC\tD2\tr2\tx\ta2.raw\t2\tADSC\n"
            ),
        );
        let e = read_sdrf(&p, None).unwrap_err().to_string();
        assert!(
            e.contains("x.sdrf.tsv:3")
                && e.contains("characteristics[individual]")
                && e.contains("sample 'S1'")
                && e.contains("'D2' here but 'D1' on line 2"),
            "{e}"
        );
        // Read by assay name, the two rows are two samples.
        let (sheet, _) = read_sdrf(&p, Some("Assay Name")).unwrap();
        assert_eq!(sheet.sample_ids(), ["r1", "r2"]);
        assert_eq!(sheet.text("source_name", "r2").as_deref(), Some("S1"));
    }

    #[test]
    fn a_factor_value_must_equal_its_characteristic() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            &format!("{HEAD}S1\tHomo sapiens\tADSC\tD1\tr1\tx\ta1.raw\t1\tDPSC\n"),
        );
        let e = read_sdrf(&p, None).unwrap_err().to_string();
        assert!(
            e.contains("factor value[cell type]") && e.contains("'DPSC'"),
            "{e}"
        );
    }

    #[test]
    fn missing_id_column_and_empty_ids_are_errors() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "sample\tcharacteristics[organism]\nS1\tHomo sapiens\n",
        );
        let e = read_sdrf(&p, None).unwrap_err().to_string();
        assert!(
            e.contains("'source name'") && e.contains("--sample-id-column"),
            "{e}"
        );
        let p = write(
            d.path(),
            "source name\tcharacteristics[organism]\nnot available\tHomo sapiens\n",
        );
        let e = read_sdrf(&p, None).unwrap_err().to_string();
        assert!(
            e.contains("x.sdrf.tsv:2") && e.contains("source name"),
            "{e}"
        );
        let p = write(d.path(), "source name\tcomment[data file]\nS1\ta.raw\n");
        let e = read_sdrf(&p, None).unwrap_err().to_string();
        assert!(e.contains("characteristics"), "{e}");
    }

    #[test]
    fn repeated_headers_get_their_own_columns() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "source name\tcharacteristics[organism]\tcomment[modification parameters]\tcomment[modification parameters]\n\
             S1\tHomo sapiens\tNT=Oxidation\tNT=Carbamidomethyl\n",
        );
        let (sheet, _) = read_sdrf(&p, None).unwrap();
        assert_eq!(
            sheet.text("modification_parameters_2", "S1").as_deref(),
            Some("NT=Carbamidomethyl")
        );
    }

    #[test]
    fn a_written_sheet_reads_back_the_same() {
        let sheet = SampleSheet::from_text_columns(
            vec!["EV1".into(), "EV2".into()],
            vec![
                (
                    "source".into(),
                    vec![Some("ADSC".into()), Some("BM-MSC".into())],
                ),
                ("donor_id".into(), vec![Some("D1".into()), None]),
                (
                    "particle_count".into(),
                    vec![Some("1.5e9".into()), Some("2e9".into())],
                ),
                (
                    "potency_class".into(),
                    vec![Some("high".into()), Some("low".into())],
                ),
                (
                    "data_file".into(),
                    vec![Some("a.raw;b.raw".into()), Some("c.raw".into())],
                ),
            ],
        )
        .unwrap();
        let text = write_sdrf(
            &sheet,
            &SdrfExport {
                factors: vec!["source".into(), "potency_class".into()],
                technology_type: Some(MS_TECHNOLOGY.into()),
                label: Some(LABEL_FREE.into()),
            },
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("source name\tcharacteristics[organism]\tcharacteristics[organism part]\tcharacteristics[cell type]\tcharacteristics[individual]\tcharacteristics[biological replicate]\tcharacteristics[particle_count]"), "{}", lines[0]);
        assert!(lines[0].ends_with("factor value[cell type]\tfactor value[potency_class]"));
        assert!(lines[1].contains("EV1_1\tproteomic profiling by mass spectrometry\ta.raw\tAC=MS:1002038;NT=label free sample"), "{}", lines[1]);
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), &text);
        let (back, _) = read_sdrf(&p, None).unwrap();
        assert_eq!(back.sample_ids(), sheet.sample_ids());
        for c in sheet.columns() {
            assert_eq!(
                back.column(&c.name).map(|b| &b.values),
                Some(&c.values),
                "{}",
                c.name
            );
        }
        let extra: Vec<&str> = back
            .columns()
            .iter()
            .map(|c| c.name.as_str())
            .filter(|n| sheet.column(n).is_none())
            .collect();
        assert_eq!(extra, ["assay_name", "label"]);
    }
}
