//! Wide TSV export of a layer.

use std::path::Path;

use evomics_core::Assay;

use crate::atomic::write_file_atomic;
use crate::error::Result;

/// True for text that cannot stand in a TSV cell as it is: a tab or line break would split it,
/// and a quote would be read as one.
fn needs_quotes(s: &str) -> bool {
    s.contains(['\t', '\n', '\r', '"'])
}

/// Append one text cell: quoted (`"…"`, quotes doubled) when the file is written quoted.
fn push_cell(out: &mut String, s: &str, quoted: bool) {
    if quoted && (needs_quotes(s) || s.is_empty()) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else if quoted {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// Append the header: `first`, then `names`. A file is written quoted (every header field and
/// every text cell in quotes, as R's `write.table` does, which the evomics readers take as a
/// quoted TSV) only when some id holds a tab, a line break or a quote; otherwise it is plain.
fn push_header<'a>(
    out: &mut String,
    first: &str,
    names: impl Iterator<Item = &'a str>,
    quoted: bool,
) {
    push_cell(out, first, quoted);
    for n in names {
        out.push('\t');
        push_cell(out, n, quoted);
    }
    out.push('\n');
}

/// Which cells to write as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportCells {
    /// Observed and imputed values; `NA` elsewhere.
    #[default]
    WithValues,
    /// Observed values only; imputed cells become `NA` too.
    ObservedOnly,
}

fn layer_quoted(a: &Assay) -> bool {
    a.samples()
        .iter()
        .chain(a.features().ids())
        .any(|s| needs_quotes(s))
}

/// Render a layer as wide TSV: first column `feature_id`, one column per sample, `NA` for cells
/// without a value. Numbers use the shortest text that reads back to the same `f64`, so an
/// export followed by a read is exact; ids with tabs, line breaks or quotes are quoted so that
/// they read back too.
pub fn wide_tsv(a: &Assay, cells: ExportCells) -> String {
    let mut out = String::with_capacity(a.n_features() * (a.n_samples() + 1) * 12);
    let quoted = layer_quoted(a);
    push_header(
        &mut out,
        "feature_id",
        a.samples().iter().map(String::as_str),
        quoted,
    );
    for (i, id) in a.features().ids().iter().enumerate() {
        push_cell(&mut out, id, quoted);
        for j in 0..a.n_samples() {
            out.push('\t');
            let flag = a.flags()[[i, j]];
            let keep = match cells {
                ExportCells::WithValues => flag.has_value(),
                ExportCells::ObservedOnly => flag == evomics_core::ValueFlag::Observed,
            };
            if keep {
                out.push_str(&crate::output::format_float(a.values()[[i, j]]));
            } else {
                out.push_str("NA");
            }
        }
        out.push('\n');
    }
    out
}

/// Write [`wide_tsv`] to a file atomically.
pub fn write_wide_tsv(path: &Path, a: &Assay, cells: ExportCells) -> Result<()> {
    write_file_atomic(path, wide_tsv(a, cells).as_bytes())
}

/// Render the per-cell flags as wide TSV with flag names (`observed`, `missing`, …).
pub fn flags_tsv(a: &Assay) -> String {
    let mut out = String::new();
    let quoted = layer_quoted(a);
    push_header(
        &mut out,
        "feature_id",
        a.samples().iter().map(String::as_str),
        quoted,
    );
    for (i, id) in a.features().ids().iter().enumerate() {
        push_cell(&mut out, id, quoted);
        for j in 0..a.n_samples() {
            out.push('\t');
            out.push_str(a.flags()[[i, j]].name());
        }
        out.push('\n');
    }
    out
}

/// Render a sample sheet as TSV: `sample_id`, then every column; `NA` for missing cells.
/// Numbers use the shortest text that reads back to the same `f64`.
pub fn sheet_tsv(sheet: &evomics_core::SampleSheet) -> String {
    let mut out = String::new();
    let quoted = sheet.sample_ids().iter().any(|s| needs_quotes(s))
        || sheet.columns().iter().any(|c| {
            needs_quotes(&c.name)
                || (0..sheet.len()).any(|r| c.values.text(r).is_some_and(|t| needs_quotes(&t)))
        });
    push_header(
        &mut out,
        "sample_id",
        sheet.columns().iter().map(|c| c.name.as_str()),
        quoted,
    );
    for (row, id) in sheet.sample_ids().iter().enumerate() {
        push_cell(&mut out, id, quoted);
        for c in sheet.columns() {
            out.push('\t');
            match c.values.text(row) {
                Some(t) if matches!(c.values, evomics_core::ColumnValues::Text(_)) => {
                    push_cell(&mut out, &t, quoted)
                }
                Some(t) => out.push_str(&t),
                None => out.push_str("NA"),
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::{Features, LayerKind, ValueScale};
    use ndarray::array;

    #[test]
    fn writes_na_and_exact_numbers() {
        let a = Assay::from_options(
            "p",
            LayerKind::Proteome,
            ValueScale::Linear,
            Features::new(vec!["f".into()]).unwrap(),
            vec!["a".into(), "b".into()],
            &array![[Some(0.1 + 0.2), None]],
        )
        .unwrap();
        let s = wide_tsv(&a, ExportCells::WithValues);
        assert_eq!(s, "feature_id\ta\tb\nf\t0.30000000000000004\tNA\n");
        assert!(flags_tsv(&a).contains("observed\tmissing"));
    }

    #[test]
    fn ids_with_tabs_and_line_breaks_are_quoted_and_read_back() {
        let a = Assay::from_options(
            "p",
            LayerKind::Proteome,
            ValueScale::Linear,
            Features::new(vec!["f\"1".into(), "f2".into()]).unwrap(),
            vec!["a\nb".into(), "c\td".into()],
            &array![[Some(1.5), None], [Some(2.0), Some(3.0)]],
        )
        .unwrap();
        let s = wide_tsv(&a, ExportCells::WithValues);
        assert!(
            s.starts_with("\"feature_id\"\t\"a\nb\"\t\"c\td\"\n\"f\"\"1\"\t1.5\tNA\n"),
            "{s}"
        );
        let mut t = crate::text::parse_table(std::path::Path::new("e.tsv"), &s, None).unwrap();
        assert_eq!(t.header, vec!["feature_id", "a\nb", "c\td"]);
        let r = t.rows.next_row().unwrap().unwrap();
        assert_eq!((r.get(0), r.get(1), r.get(2)), ("f\"1", "1.5", "NA"));
        // Plain ids keep the plain format.
        assert!(!wide_tsv(&a.select_samples(&[]), ExportCells::WithValues).is_empty());
    }
}
