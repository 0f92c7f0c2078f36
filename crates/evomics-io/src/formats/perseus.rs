//! Perseus matrix text (the tab-separated matrix Perseus saves): a header, then annotation rows
//! whose first cell starts with `#!{`, among them `#!{Type}` giving each column's type: `E`
//! main (expression) columns are the samples; `N` numeric, `C` categorical, `T` text and `M`
//! multi-numeric columns are annotations. `NaN` (or an empty cell) is missing. The scale is
//! read from the values (Perseus matrices are usually log2 after its transform step) and
//! stated in the read report. MaxQuant's `Reverse`, `Potential contaminant` and
//! `Only identified by site` columns, when present, drop (or flag) rows as for MaxQuant.
//! Reference: Tyanova et al. 2016, *Nat Methods* 13:731 (Perseus); the matrix format as written
//! by PerseusLib `PerseusUtils.WriteMatrix`.

use evomics_core::{FeatureFlags, ValueScale};

use super::common::{bump, distinct_columns, split_list, text, unique_ids};
use crate::error::{IoError, Result};
use crate::matrix::{MatrixBuilder, MatrixColumn, ParsedMatrix, ReadReport};
use crate::spec::ReadOptions;
use crate::text::{clip, parse_cell, TextTable};

/// The Perseus format.
pub const FORMAT: super::TextFormat = super::TextFormat {
    name: "perseus",
    expects: "a '#!{Type}' row after the header marking main (E) and annotation (N, C, T, M) columns (Perseus matrix text)",
    detect,
    read,
};

// A Perseus header is any header: the signature is the `#!{Type}` row after it, which
// `formats::read_matrix` looks at before the table is parsed (`looks_like_perseus`).
fn detect(_t: &TextTable) -> bool {
    false
}

/// True when the first line after the header starts with `#!{`: a Perseus annotation row.
pub(crate) fn looks_like_perseus(second_line: &str) -> bool {
    second_line
        .trim_start_matches('\u{feff}')
        .starts_with("#!{")
}

const ID_COLUMNS: [&str; 6] = [
    "Majority protein IDs",
    "Protein IDs",
    "Protein ID",
    "Protein",
    "Accession",
    "id",
];

const FILTERS: [(&str, &str, FeatureFlags); 3] = [
    ("Reverse", "reverse", FeatureFlags::DECOY),
    (
        "Potential contaminant",
        "potential_contaminant",
        FeatureFlags::CONTAMINANT,
    ),
    (
        "Only identified by site",
        "only_identified_by_site",
        FeatureFlags::ONLY_BY_SITE,
    ),
];

/// Read a Perseus matrix.
pub fn read(t: &mut TextTable, opts: &ReadOptions) -> Result<ParsedMatrix> {
    let path = t.path.clone();
    let path = path.as_path();
    let ncol = t.header.len();
    let mut types: Option<Vec<String>> = None;
    let mut report = ReadReport {
        format: FORMAT.name.into(),
        quantity: "main".into(),
        ..Default::default()
    };
    let mut annotation_rows = 0usize;
    let mut warnings = Vec::new();
    // Columns and per-row state, known once the type row has been read.
    let mut state: Option<Layout> = None;
    let (mut ids, mut lines, mut flags) = (Vec::new(), Vec::new(), Vec::new());
    let mut anns: Vec<Vec<Option<String>>> = Vec::new();
    let mut cells = MatrixBuilder::new(0);
    let zero_na = opts.zero_is_missing.unwrap_or(false);
    let header = t.header.clone();
    while let Some(r) = t.rows.next_row()? {
        let first = r.get(0);
        if let Some(rest) = first.strip_prefix("#!{") {
            if state.is_some() {
                return Err(IoError::parse(
                    path,
                    r.line,
                    None,
                    "a '#!{' annotation row after the data rows; Perseus writes them all between the header and the first data row",
                ));
            }
            annotation_rows += 1;
            if let Some(first_type) = rest.strip_prefix("Type}") {
                let mut v = vec![first_type.trim().to_string()];
                v.extend((1..ncol).map(|i| r.get(i).to_string()));
                for (i, ty) in v.iter().enumerate() {
                    if !matches!(ty.as_str(), "E" | "N" | "C" | "T" | "M") {
                        return Err(IoError::parse(
                            path,
                            r.line,
                            Some(&header[i]),
                            format!(
                                "column type '{}' is not one of E (main), N (numeric), C (categorical), T (text), M (multi-numeric)",
                                clip(ty)
                            ),
                        ));
                    }
                }
                types = Some(v);
            }
            continue;
        }
        if state.is_none() {
            let ty = types.as_ref().ok_or_else(|| {
                IoError::parse(
                    path,
                    r.line,
                    None,
                    "no '#!{Type}' row before the first data row; a Perseus matrix marks its main (E) columns there (or read the file as format=wide)",
                )
            })?;
            let l = Layout::new(path, &header, ty, opts)?;
            cells = MatrixBuilder::new(l.main.len());
            anns = vec![Vec::new(); l.text_cols.len()];
            warnings.extend(l.warnings.iter().cloned());
            state = Some(l);
        }
        let l = state.as_ref().expect("layout set above");
        let mut f = FeatureFlags::NONE;
        let mut first_reason = None;
        for (c, key, flag) in &l.filters {
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
        let raw_id = r.get(l.id);
        let id = if l.id_is_list {
            split_list(raw_id, false)
                .first()
                .map(|s| super::common::accession(s))
                .unwrap_or_default()
        } else {
            raw_id.to_string()
        };
        ids.push((id, raw_id.to_string()));
        lines.push(r.line);
        cells.reserve_row(path, r.line, r.progress())?;
        for &k in &l.main {
            let v = parse_cell(path, r.line, &header[k], r.raw(k))?;
            cells.push(v.filter(|x| !(zero_na && *x == 0.0)));
        }
        flags.push(f);
        for (a, &k) in anns.iter_mut().zip(&l.text_cols) {
            a.push(text(r.get(k)));
        }
    }
    let Some(l) = state else {
        return Err(IoError::layout(
            path,
            if types.is_some() {
                "the file has a header and annotation rows but no data rows"
            } else {
                "no '#!{Type}' row and no data rows; a Perseus matrix marks its main (E) columns in a '#!{Type}' row after the header"
            },
        ));
    };
    report.rows_read = t.rows.rows_read - annotation_rows;
    let (preferred, fallback): (Vec<String>, Vec<String>) = ids.into_iter().unzip();
    let ids = unique_ids(
        path,
        preferred,
        fallback,
        &lines,
        &header[l.id],
        &mut warnings,
    )?;
    let columns: Vec<MatrixColumn> = l
        .main
        .iter()
        .map(|&k| MatrixColumn {
            header: header[k].clone(),
            name: header[k].clone(),
        })
        .collect();
    let mut m = ParsedMatrix::from_builder(
        path.to_path_buf(),
        ids,
        columns,
        cells,
        ValueScale::Other,
        report,
    );
    m.scale = match opts.scale {
        Some(s) => s,
        None => {
            let (scale, note) = scale_from_values(&m);
            warnings.push(note);
            scale
        }
    };
    m.report.warnings = warnings;
    m.feature_flags = flags;
    for (&k, vals) in l.text_cols.iter().zip(anns) {
        let name = if k == l.gene.unwrap_or(usize::MAX) {
            "gene".to_string()
        } else {
            header[k].clone()
        };
        m.annotations.push((name, vals));
    }
    Ok(m)
}

/// Columns of a Perseus matrix, from its header and type row.
struct Layout {
    main: Vec<usize>,
    id: usize,
    id_is_list: bool,
    gene: Option<usize>,
    text_cols: Vec<usize>,
    filters: Vec<(usize, &'static str, FeatureFlags)>,
    warnings: Vec<String>,
}

impl Layout {
    fn new(
        path: &std::path::Path,
        header: &[String],
        types: &[String],
        opts: &ReadOptions,
    ) -> Result<Layout> {
        let main: Vec<usize> = (0..header.len())
            .filter(|&i| types[i] == "E" && !header[i].is_empty())
            .collect();
        if main.is_empty() {
            return Err(IoError::layout(
                path,
                "the '#!{Type}' row marks no column as main (E); the samples of a Perseus matrix are its E columns",
            ));
        }
        let columns: Vec<MatrixColumn> = main
            .iter()
            .map(|&k| MatrixColumn {
                header: header[k].clone(),
                name: header[k].clone(),
            })
            .collect();
        distinct_columns(path, 1, &columns, "main column")?;
        let id = match &opts.id_column {
            Some(c) => header.iter().position(|h| h == c).ok_or_else(|| {
                IoError::layout(path, format!("id_column '{c}' is not in the header"))
            })?,
            None => ID_COLUMNS
                .iter()
                .find_map(|c| header.iter().position(|h| h == c))
                .or_else(|| (0..header.len()).find(|&i| types[i] == "T"))
                .ok_or_else(|| {
                    IoError::layout(
                        path,
                        "no feature id column: no 'Majority protein IDs', 'Protein IDs', 'Protein' or 'Accession' column and no text (T) column; name one with id_column=",
                    )
                })?,
        };
        let id_is_list = matches!(header[id].as_str(), "Majority protein IDs" | "Protein IDs");
        let gene = ["Gene names", "Gene", "Gene name"]
            .iter()
            .find_map(|c| header.iter().position(|h| h == c));
        let filters: Vec<(usize, &'static str, FeatureFlags)> = FILTERS
            .iter()
            .filter_map(|(n, key, flag)| {
                header.iter().position(|h| h == n).map(|c| (c, *key, *flag))
            })
            .collect();
        let text_cols: Vec<usize> = (0..header.len())
            .filter(|&i| {
                i != id
                    && matches!(types[i].as_str(), "T" | "C")
                    && !header[i].is_empty()
                    && !filters.iter().any(|(c, _, _)| *c == i)
            })
            .collect();
        let mut warnings = Vec::new();
        let numeric = (0..header.len()).filter(|&i| types[i] == "N").count();
        if numeric > 0 {
            warnings.push(format!(
                "{numeric} numeric (N) column(s) are not samples and were not read"
            ));
        }
        Ok(Layout {
            main,
            id,
            id_is_list,
            gene,
            text_cols,
            filters,
            warnings,
        })
    }
}

/// The scale of a Perseus matrix's values: all below 64 (no intensity is 2^64) is log2; non-
/// negative values reaching 1000 are linear intensities; anything else is `other`.
fn scale_from_values(m: &ParsedMatrix) -> (ValueScale, String) {
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for (v, f) in m.values.iter().zip(m.flags.iter()) {
        if f.has_value() {
            min = min.min(*v);
            max = max.max(*v);
        }
    }
    if max < min {
        return (
            ValueScale::Other,
            "no main value is present; scale 'other' (give scale=)".into(),
        );
    }
    let range = format!(
        "{}..{}",
        crate::output::format_float(min),
        crate::output::format_float(max)
    );
    if max < 64.0 {
        (
            ValueScale::Log2,
            format!("scale: log2, read from the values (range {range}, all below 64); give scale= if they are not log2"),
        )
    } else if min >= 0.0 && max >= 1000.0 {
        (
            ValueScale::Linear,
            format!("scale: linear, read from the values (range {range}); give scale= if they are not linear intensities"),
        )
    } else {
        (
            ValueScale::Other,
            format!("scale: other, not log2 or linear intensities by their range ({range}); give scale="),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_table;
    use std::path::Path;

    const PERSEUS: &str = "LFQ intensity A\tLFQ intensity B\tPeptides\tProtein IDs\tGene names\tReverse\tPotential contaminant\n\
        #!{Type}E\tE\tN\tT\tT\tC\tC\n\
        #!{C:Group}g1\tg2\t\t\t\t\t\n\
        25.5\tNaN\t4\tP1;P1-2\tGA;GB\t\t\n\
        20\t21.25\t2\tREV__P9\t\t+\t\n\
        18\t19\t3\tP3\tGC\t\t\n";

    fn table(s: &str) -> TextTable {
        parse_table(Path::new("matrix.txt"), s, None).unwrap()
    }

    #[test]
    fn main_columns_are_samples_and_scale_is_read() {
        let m = read(&mut table(PERSEUS), &ReadOptions::default()).unwrap();
        assert_eq!(m.feature_ids, vec!["P1", "P3"]);
        assert_eq!(m.columns.len(), 2);
        assert_eq!(m.columns[1].name, "LFQ intensity B");
        assert_eq!(m.values[[0, 0]], 25.5);
        assert!(m.values[[0, 1]].is_nan());
        assert_eq!(m.scale, ValueScale::Log2);
        assert_eq!(m.report.rows_read, 3);
        assert_eq!(m.report.rows_dropped.get("reverse"), Some(&1));
        assert!(m.report.warnings.iter().any(|w| w.contains("scale: log2")));
        let gene = &m.annotations.iter().find(|(k, _)| k == "gene").unwrap().1;
        assert_eq!(gene[0].as_deref(), Some("GA;GB"));
        assert!(looks_like_perseus("#!{Type}E\tE"));
    }

    #[test]
    fn linear_values_and_bad_types() {
        let lin = PERSEUS
            .replace("25.5", "2500000")
            .replace("18\t19", "1800\t1900");
        let m = read(&mut table(&lin), &ReadOptions::default()).unwrap();
        assert_eq!(m.scale, ValueScale::Linear);
        let bad = PERSEUS.replace("#!{Type}E\tE\tN", "#!{Type}E\tX\tN");
        let e = read(&mut table(&bad), &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("matrix.txt:2, column 'LFQ intensity B': column type 'X'"),
            "{e}"
        );
        let none = PERSEUS.replace("#!{Type}E\tE\tN\tT\tT\tC\tC\n", "");
        let e = read(&mut table(&none), &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no '#!{Type}' row"), "{e}");
        let text_cell = PERSEUS.replace("25.5", "high");
        let e = read(&mut table(&text_cell), &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("matrix.txt:4, column 'LFQ intensity A'"),
            "{e}"
        );
    }
}
