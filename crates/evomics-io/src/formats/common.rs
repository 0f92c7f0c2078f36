//! Helpers the tool-output readers share: quantity choice, cell parsing with the zero rule,
//! unique feature ids, list-valued annotations, count checks, run names and row merging.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ndarray::Array2;

use evomics_core::{FeatureFlags, ValueFlag};

use crate::error::{IoError, Result};
use crate::spec::ReadOptions;
use crate::text::{parse_cell, TextTable};

/// One sample column found for a quantity: its index in the header, the header and the sample part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QuantColumn {
    pub index: usize,
    pub header: String,
    pub name: String,
}

/// A quantity a format offers: the `quant=` name and a function that recognises its columns.
pub(crate) struct Quantity {
    pub name: &'static str,
    /// Returns the sample part of a header that belongs to this quantity.
    pub sample_of: fn(&str) -> Option<String>,
    /// How its headers look, for messages.
    pub pattern: &'static str,
}

/// The columns of one quantity in a table header.
pub(crate) fn quant_columns(t: &TextTable, q: &Quantity) -> Vec<QuantColumn> {
    t.header
        .iter()
        .enumerate()
        .filter_map(|(index, h)| {
            (q.sample_of)(h)
                .filter(|s| !s.is_empty())
                .map(|name| QuantColumn {
                    index,
                    header: h.clone(),
                    name,
                })
        })
        .collect()
}

/// Pick the quantity to read: the requested one (an error when unknown or absent from the
/// file), else the first of `quantities` present, warning when that is not the first (default).
pub(crate) fn choose_quantity(
    t: &TextTable,
    format: &str,
    quantities: &[Quantity],
    opts: &ReadOptions,
    warnings: &mut Vec<String>,
) -> Result<(&'static str, Vec<QuantColumn>)> {
    let found: Vec<(&Quantity, Vec<QuantColumn>)> = quantities
        .iter()
        .map(|q| (q, quant_columns(t, q)))
        .collect();
    let available: Vec<String> = found
        .iter()
        .filter(|(_, c)| !c.is_empty())
        .map(|(q, c)| format!("{} ({} columns like '{}')", q.name, c.len(), c[0].header))
        .collect();
    let available = if available.is_empty() {
        "none".to_string()
    } else {
        available.join(", ")
    };
    if let Some(req) = &opts.quantity {
        let (q, cols) = found
            .into_iter()
            .find(|(q, _)| q.name == req.as_str())
            .ok_or_else(|| {
                IoError::Spec(format!(
                    "quant={req} is not a {format} quantity; use one of: {}",
                    quantities
                        .iter()
                        .map(|q| q.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        if cols.is_empty() {
            return Err(IoError::layout(
                &t.path,
                format!(
                    "quant={} asks for '{}' columns, but the header has none; quantities present: {available}",
                    q.name, q.pattern
                ),
            ));
        }
        return Ok((q.name, cols));
    }
    let default = quantities.first().map(|q| q.name).unwrap_or("");
    for (q, cols) in found {
        if !cols.is_empty() {
            if q.name != default {
                warnings.push(format!(
                    "no '{}' columns for the default quantity {default}; read {} ('{}') instead (choose with quant=)",
                    quantities[0].pattern, q.name, q.pattern
                ));
            }
            return Ok((q.name, cols));
        }
    }
    Err(IoError::layout(
        &t.path,
        format!(
            "no sample columns of any {format} quantity: expected headers like {}",
            quantities
                .iter()
                .map(|q| format!("'{}'", q.pattern))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// Whether 0 means missing: the user's `zero=` or the format default.
pub(crate) fn zero_is_missing(opts: &ReadOptions, default: bool) -> bool {
    opts.zero_is_missing.unwrap_or(default)
}

/// Parse an intensity cell: missing spellings and (when `zero_na`) 0 become `None`; a negative
/// intensity is an error, as no quantification tool writes one.
pub(crate) fn parse_intensity(
    path: &Path,
    line: u64,
    column: &str,
    raw: &str,
    zero_na: bool,
) -> Result<Option<f64>> {
    let v = parse_cell(path, line, column, raw)?;
    match v {
        Some(x) if x < 0.0 => Err(IoError::parse(
            path,
            line,
            Some(column),
            format!("intensity {x} is negative; intensities are never negative, so the file is damaged or this is not a raw-intensity column"),
        )),
        Some(x) if zero_na && x == 0.0 => Ok(None),
        other => Ok(other),
    }
}

/// Split a `;`-separated list (also `,` when `comma`), trimming and dropping empty items.
pub(crate) fn split_list(s: &str, comma: bool) -> Vec<&str> {
    s.split(|c| c == ';' || (comma && c == ','))
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .collect()
}

/// An optional text cell: `None` when empty.
pub(crate) fn text(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// The accession of one protein entry: `sp|P02790|HEMO_HUMAN` → `P02790`, keeping a
/// `REV__`/`CON__` prefix (`REV__tr|X|Y` → `REV__X`); other spellings are returned as they are.
pub(crate) fn accession(entry: &str) -> String {
    let entry = entry.trim();
    let (prefix, rest) = ["REV__", "CON__", "rev_", "contam_"]
        .iter()
        .find_map(|p| entry.strip_prefix(p).map(|r| (*p, r)))
        .unwrap_or(("", entry));
    let parts: Vec<&str> = rest.split('|').collect();
    if parts.len() >= 2 && matches!(parts[0], "sp" | "tr") && !parts[1].is_empty() {
        format!("{prefix}{}", parts[1])
    } else {
        entry.to_string()
    }
}

/// Make feature ids unique: rows whose preferred id is shared fall back to their longer id
/// (e.g. the whole protein group), with a warning; ids still shared or empty are an error.
pub(crate) fn unique_ids(
    path: &Path,
    preferred: Vec<String>,
    fallback: Vec<String>,
    lines: &[u64],
    column: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for id in &preferred {
        *count.entry(id.as_str()).or_insert(0) += 1;
    }
    let shared: Vec<bool> = preferred.iter().map(|id| count[id.as_str()] > 1).collect();
    let n_shared = shared.iter().filter(|s| **s).count();
    // The preferred id is kept for messages: the fallback may come from another column.
    let (ids, leads): (Vec<String>, Vec<String>) = preferred
        .into_iter()
        .zip(fallback)
        .zip(&shared)
        .map(|((p, f), s)| if *s { (f, p) } else { (p.clone(), p) })
        .unzip();
    if n_shared > 0 {
        warnings.push(format!(
            "{n_shared} rows share a leading accession; those rows are identified by their whole protein group instead"
        ));
    }
    let mut seen: HashMap<&str, u64> = HashMap::new();
    for ((id, lead), line) in ids.iter().zip(&leads).zip(lines) {
        if id.is_empty() {
            return Err(IoError::parse(
                path,
                *line,
                Some(column),
                "the protein identifier is empty; every row needs one",
            ));
        }
        if let Some(prev) = seen.insert(id.as_str(), *line) {
            return Err(IoError::parse(
                path,
                *line,
                Some(column),
                format!(
                    "protein '{}'{} already appears on line {prev}; each row must be a distinct protein group",
                    crate::text::clip(lead),
                    if lead == id {
                        String::new()
                    } else {
                        format!(" (group '{}')", crate::text::clip(id))
                    }
                ),
            ));
        }
    }
    Ok(ids)
}

/// The file stem of a run path: directories (`/` or `\`) and a known mass-spectrometry file
/// extension (`.raw`, `.mzML`, `.d`, `.wiff`, `.dia`, … also under `.gz`) are removed.
pub(crate) fn run_stem(header: &str) -> String {
    const EXT: [&str; 10] = [
        "raw", "mzml", "mzxml", "d", "wiff", "wiff2", "dia", "mgf", "tdf", "mzb",
    ];
    let base = header.trim().trim_end_matches(['/', '\\']);
    let mut name = base.rsplit(['/', '\\']).next().unwrap_or(base).to_string();
    if let Some(s) = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".GZ"))
    {
        name = s.to_string();
    }
    if let Some((stem, ext)) = name.rsplit_once('.') {
        if !stem.is_empty() && EXT.iter().any(|e| e.eq_ignore_ascii_case(ext)) {
            name = stem.to_string();
        }
    }
    name
}

/// Checks the values of a count layer: a negative count is an error (with file, line and
/// column); fractional counts are kept and reported once.
#[derive(Debug, Default)]
pub(crate) struct CountCheck {
    fractional: usize,
    first: Option<(u64, String, f64)>,
}

impl CountCheck {
    /// Check one parsed value.
    pub fn check(&mut self, path: &Path, line: u64, column: &str, v: Option<f64>) -> Result<()> {
        let Some(x) = v else { return Ok(()) };
        if x < 0.0 {
            return Err(IoError::parse(
                path,
                line,
                Some(column),
                format!("count {x} is negative; read counts cannot be negative. If the table holds log or normalized values, read it with scale=other"),
            ));
        }
        if x.fract() != 0.0 {
            self.fractional += 1;
            if self.first.is_none() {
                self.first = Some((line, column.to_string(), x));
            }
        }
        Ok(())
    }

    /// The warning for fractional counts, if any were seen.
    pub fn warning(&self, path: &Path) -> Option<String> {
        let (line, col, x) = self.first.as_ref()?;
        Some(format!(
            "{} fractional count(s), first {x} at {}:{line}, column '{col}'; kept as they are (weighted multi-mapping reads give fractions). If the table holds normalized values (CPM, RPM), read it with scale=other instead of counts",
            self.fractional,
            path.display()
        ))
    }
}

/// Sum groups of rows of a values/flags matrix: a group's cell is the sum of its rows' values
/// when any row has one (flag observed), otherwise it stays without a value (below detection
/// when any row says so, else missing).
pub(crate) fn sum_rows(
    values: &Array2<f64>,
    flags: &Array2<ValueFlag>,
    groups: &[Vec<usize>],
) -> (Array2<f64>, Array2<ValueFlag>) {
    let nc = values.ncols();
    let mut v = Array2::from_elem((groups.len(), nc), f64::NAN);
    let mut f = Array2::from_elem((groups.len(), nc), ValueFlag::Missing);
    for (g, rows) in groups.iter().enumerate() {
        for j in 0..nc {
            let mut sum = 0.0;
            let mut any = false;
            let mut below = false;
            for &r in rows {
                let fl = flags[[r, j]];
                if fl.has_value() {
                    sum += values[[r, j]];
                    any = true;
                } else if fl == ValueFlag::BelowDetection {
                    below = true;
                }
            }
            if any {
                v[[g, j]] = sum;
                f[[g, j]] = ValueFlag::Observed;
            } else if below {
                f[[g, j]] = ValueFlag::BelowDetection;
            }
        }
    }
    (v, f)
}

/// Merge an annotation column over row groups: the distinct non-empty values, `;`-joined in order.
pub(crate) fn merge_annotation(
    values: &[Option<String>],
    groups: &[Vec<usize>],
) -> Vec<Option<String>> {
    groups
        .iter()
        .map(|rows| {
            let mut out: Vec<&str> = Vec::new();
            for &r in rows {
                if let Some(s) = values[r].as_deref() {
                    if !out.contains(&s) {
                        out.push(s);
                    }
                }
            }
            (!out.is_empty()).then(|| out.join(";"))
        })
        .collect()
}

/// Union of feature flags over row groups.
pub(crate) fn merge_flags(flags: &[FeatureFlags], groups: &[Vec<usize>]) -> Vec<FeatureFlags> {
    groups
        .iter()
        .map(|rows| {
            let mut f = FeatureFlags::NONE;
            for &r in rows {
                f.insert(flags[r]);
            }
            f
        })
        .collect()
}

/// Two sample columns of one quantity that name the same sample (channel) are an error: the
/// sheet could not tell them apart.
pub(crate) fn distinct_columns(
    path: &Path,
    line: u64,
    columns: &[crate::matrix::MatrixColumn],
    what: &str,
) -> Result<()> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for c in columns {
        if let Some(prev) = seen.insert(c.name.as_str(), c.header.as_str()) {
            return Err(IoError::parse(
                path,
                line,
                Some(&c.header),
                format!(
                    "{what} '{}' appears twice (columns '{}' and '{}'); each {what} needs one column: remove or rename the duplicate",
                    crate::text::clip(&c.name),
                    crate::text::clip(prev),
                    crate::text::clip(&c.header)
                ),
            ));
        }
    }
    Ok(())
}

/// Add `n` to a report counter (kept out of the map when zero).
pub(crate) fn bump(map: &mut BTreeMap<String, usize>, key: &str, n: usize) {
    if n > 0 {
        *map.entry(key.to_string()).or_insert(0) += n;
    }
}

/// At most `n` items, quoted and comma-joined, with "… k more".
pub(crate) fn preview<S: AsRef<str>>(items: &[S], n: usize) -> String {
    let mut s: Vec<String> = items
        .iter()
        .take(n)
        .map(|x| format!("'{}'", crate::text::clip(x.as_ref())))
        .collect();
    if items.len() > n {
        s.push(format!("… {} more", items.len() - n));
    }
    s.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessions() {
        assert_eq!(accession("sp|P02790|HEMO_HUMAN"), "P02790");
        assert_eq!(
            accession("REV__tr|A0A024QZB1|A0A024QZB1_HUMAN"),
            "REV__A0A024QZB1"
        );
        assert_eq!(accession("CON__P00761"), "CON__P00761");
        assert_eq!(
            accession("CON__ENSEMBL:ENSBTAP00000031900"),
            "CON__ENSEMBL:ENSBTAP00000031900"
        );
        assert_eq!(accession("Q9NZJ9-2"), "Q9NZJ9-2");
    }

    #[test]
    fn run_stems() {
        assert_eq!(run_stem(r"D:\data\2024\run_01.raw"), "run_01");
        assert_eq!(run_stem("/data/x/run_02.mzML"), "run_02");
        assert_eq!(run_stem("/data/x/run_03.d/"), "run_03");
        assert_eq!(run_stem("run.04.mzML.gz"), "run.04");
        assert_eq!(run_stem("sample_1.03"), "sample_1.03");
        assert_eq!(run_stem("S1"), "S1");
    }

    #[test]
    fn sums_keep_missing() {
        let values = ndarray::array![[1.0, f64::NAN, f64::NAN], [2.0, 5.0, f64::NAN]];
        let flags = ndarray::array![
            [ValueFlag::Observed, ValueFlag::Missing, ValueFlag::Missing],
            [ValueFlag::Observed, ValueFlag::Observed, ValueFlag::Missing]
        ];
        let (v, f) = sum_rows(&values, &flags, &[vec![0, 1]]);
        assert_eq!(v[[0, 0]], 3.0);
        assert_eq!(v[[0, 1]], 5.0);
        assert_eq!(f[[0, 2]], ValueFlag::Missing);
        assert!(v[[0, 2]].is_nan());
    }

    #[test]
    fn duplicate_protein_names_the_column_value_and_the_group() {
        let p = Path::new("combined_protein.tsv");
        let e = unique_ids(
            p,
            vec!["P1".into(), "P1".into()],
            vec!["sp|P1|X".into(), "sp|P1|X".into()],
            &[2, 3],
            "Protein ID",
            &mut Vec::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(
                ":3, column 'Protein ID': protein 'P1' (group 'sp|P1|X') already appears on line 2"
            ),
            "{e}"
        );
    }

    #[test]
    fn counts_checked() {
        let p = Path::new("c.tsv");
        let mut c = CountCheck::default();
        c.check(p, 2, "s1", Some(3.0)).unwrap();
        assert!(c.warning(p).is_none());
        c.check(p, 3, "s2", Some(2.5)).unwrap();
        assert!(c.warning(p).unwrap().contains("c.tsv:3, column 's2'"));
        let m = c.check(p, 4, "s1", Some(-1.0)).unwrap_err().to_string();
        assert!(
            m.starts_with("c.tsv:4, column 's1'") && m.contains("negative"),
            "{m}"
        );
    }
}
