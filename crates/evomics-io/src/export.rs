//! Wide TSV export of a layer.

use std::fmt::Write as _;
use std::path::Path;

use evomics_core::Assay;

use crate::atomic::write_file_atomic;
use crate::error::Result;

/// Which cells to write as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportCells {
    /// Observed and imputed values; `NA` elsewhere.
    #[default]
    WithValues,
    /// Observed values only; imputed cells become `NA` too.
    ObservedOnly,
}

/// Render a layer as wide TSV: first column `feature_id`, one column per sample, `NA` for cells
/// without a value. Numbers use the shortest text that reads back to the same `f64`, so an
/// export followed by a read is exact.
pub fn wide_tsv(a: &Assay, cells: ExportCells) -> String {
    let mut out = String::with_capacity(a.n_features() * (a.n_samples() + 1) * 12);
    out.push_str("feature_id");
    for s in a.samples() {
        out.push('\t');
        out.push_str(s);
    }
    out.push('\n');
    for (i, id) in a.features().ids().iter().enumerate() {
        out.push_str(id);
        for j in 0..a.n_samples() {
            out.push('\t');
            let flag = a.flags()[[i, j]];
            let keep = match cells {
                ExportCells::WithValues => flag.has_value(),
                ExportCells::ObservedOnly => flag == evomics_core::ValueFlag::Observed,
            };
            if keep {
                let _ = write!(out, "{}", a.values()[[i, j]]);
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
    let mut out = String::from("feature_id");
    for s in a.samples() {
        out.push('\t');
        out.push_str(s);
    }
    out.push('\n');
    for (i, id) in a.features().ids().iter().enumerate() {
        out.push_str(id);
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
    let mut out = String::from("sample_id");
    for c in sheet.columns() {
        out.push('\t');
        out.push_str(&c.name);
    }
    out.push('\n');
    for (row, id) in sheet.sample_ids().iter().enumerate() {
        out.push_str(id);
        for c in sheet.columns() {
            out.push('\t');
            match c.values.text(row) {
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
}
