//! Ingest: a sample sheet plus layer files into an [`Experiment`] with a provenance manifest.
//!
//! ```
//! use evomics_io::ingest::{ingest, IngestRequest};
//! use evomics_io::sheet::SheetOptions;
//! use evomics_io::spec::LayerSpec;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let sheet = dir.path().join("samples.tsv");
//! std::fs::write(&sheet, "sample_id\tsource\nEV1\tBM_MSC\nEV2\tADSC\nEV3\tADSC\n").unwrap();
//! let table = dir.path().join("proteins.tsv");
//! std::fs::write(&table, "protein\tEV1\tEV2\tEV3\nCD63\t21.5\t22.0\t\nALB\t14.1\tNA\t13.9\n").unwrap();
//! let layer = format!("proteome={},scale=log2", table.display());
//! let request = IngestRequest {
//!     samples: sheet,
//!     sheet: SheetOptions::default(),
//!     layers: vec![LayerSpec::parse(&layer).unwrap()],
//!     allow_missing_samples: false,
//! };
//! let (experiment, _manifest, reports) = ingest(&request).unwrap();
//! let proteome = experiment.layer("proteome").unwrap();
//! assert_eq!((proteome.n_features(), proteome.n_samples()), (2, 3));
//! assert_eq!(reports[0].cells.missing, 2); // empty and NA are missing values, never 0
//! ```

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use evomics_core::{Assay, Experiment, FlagCounts, ValueScale};

use crate::error::{IoError, Result};
use crate::formats::read_matrix;
use crate::manifest::{InputFile, Manifest};
use crate::matrix::{align_to_sheet, MatchReport, ReadReport};
use crate::sheet::{read_sample_sheet_with_warnings, SheetOptions};
use crate::spec::LayerSpec;

/// Everything `evomics ingest` needs.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    /// The sample sheet.
    pub samples: PathBuf,
    /// How to read it.
    pub sheet: SheetOptions,
    /// The layers.
    pub layers: Vec<LayerSpec>,
    /// Keep going when sheet and matrix samples differ.
    pub allow_missing_samples: bool,
}

/// What ingest did for one layer.
#[derive(Debug, Clone, Serialize)]
pub struct LayerIngestReport {
    /// Layer name.
    pub layer: String,
    /// Input file.
    pub path: String,
    /// The reader's report.
    pub read: ReadReport,
    /// Sample matching.
    pub matching: MatchReport,
    /// Features kept.
    pub features: usize,
    /// Flag counts of the stored layer.
    pub cells: FlagCounts,
}

/// Read the sheet and every layer, align them, and describe what was done.
pub fn ingest(req: &IngestRequest) -> Result<(Experiment, Manifest, Vec<LayerIngestReport>)> {
    if req.layers.is_empty() {
        return Err(IoError::Spec(
            "no --layer given; add at least one, e.g. --layer proteome=proteinGroups.txt".into(),
        ));
    }
    let (sheet, sheet_warnings) = read_sample_sheet_with_warnings(&req.samples, &req.sheet)?;
    let mut manifest = Manifest::new("ingest");
    manifest
        .inputs
        .push(InputFile::hash("samples", &req.samples)?);
    let mut exp = Experiment::new(sheet);
    let mut reports = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for spec in &req.layers {
        if !seen.insert(spec.name.clone()) {
            return Err(IoError::Spec(format!(
                "layer '{}' is given twice",
                spec.name
            )));
        }
        let opts = spec.read_options()?;
        let kind = spec.kind()?;
        let mut parsed = read_matrix(&spec.path, &opts)?;
        // miRNA name harmonization (formats::harmonize): on for miRNA layers unless harmonize=false.
        crate::formats::harmonize::apply(&mut parsed, &opts, &kind)?;
        let mut read = parsed.report.clone();
        let path = parsed.path.clone();
        let digest = parsed.source_digest.take();
        let (assay, matching) = align_to_sheet(
            parsed,
            &spec.name,
            kind,
            exp.samples(),
            &spec.match_options(req.allow_missing_samples),
        )?;
        read.warnings
            .extend(check_values(&spec.name, &path, &assay)?);
        let assay = if opts.scale.is_none() && assay.scale() == ValueScale::Other {
            let (scale, note) = infer_scale(&spec.name, &path, &assay)?;
            if scale == ValueScale::Counts {
                read.quantity = "counts".into();
            }
            read.warnings.push(note);
            assay
                .with_matrices(assay.values().clone(), assay.flags().clone(), scale)
                .map_err(|e| IoError::core(path.display().to_string(), e))?
        } else {
            assay
        };
        for w in &mut read.warnings {
            *w = crate::text::escape_message(w).into_owned();
        }
        manifest.inputs.push(match digest {
            Some((sha, bytes)) => InputFile {
                role: format!("layer:{}", spec.name),
                path: spec.path.display().to_string(),
                bytes,
                sha256: crate::manifest::hex(&sha),
            },
            None => InputFile::hash(&format!("layer:{}", spec.name), &spec.path)?,
        });
        reports.push(LayerIngestReport {
            layer: spec.name.clone(),
            path: spec.path.display().to_string(),
            read,
            matching,
            features: assay.n_features(),
            cells: assay.flag_counts(),
        });
        exp.insert_layer(assay)
            .map_err(|e| IoError::core(spec.path.display().to_string(), e))?;
    }
    manifest.settings = json!({
        "samples": req.samples.display().to_string(),
        "sample_id_column": req.sheet.id_column,
        "allow_missing_samples": req.allow_missing_samples,
        "layers": req.layers.iter().map(|l| json!({
            "name": l.name, "path": l.path.display().to_string(), "options": l.options
        })).collect::<Vec<_>>(),
    });
    manifest.reports = json!({ "layers": reports });
    if !sheet_warnings.is_empty() {
        let escaped: Vec<String> = sheet_warnings
            .iter()
            .map(|w| crate::text::escape_message(w).into_owned())
            .collect();
        manifest.reports["sheet"] = json!({ "warnings": escaped });
    }
    Ok((exp, manifest, reports))
}

/// The warnings about the sample sheet that [`ingest`] recorded in its manifest: spreadsheet
/// error values and `TRUE`/`FALSE` read as missing, text in a column of numbers, numbers
/// written with commas, literal quotes (see [`crate::sheet::read_sample_sheet_with_warnings`]).
pub fn sheet_warnings(manifest: &Manifest) -> Vec<String> {
    manifest.reports["sheet"]["warnings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| w.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// What the values of a layer read without `scale=` (and of a format that does not fix it, such as
/// a wide table) are, from the values themselves:
///
/// - every value a non-negative integer and the largest ≥ 100: **counts** (read counts);
/// - every value non-negative, some not integers, the largest ≥ 1000: **linear** intensities;
/// - every value a non-negative integer below 100 (spectral counts? ranks? 0/1 calls?): an
///   error asking for `scale=` — guessing either way would change every downstream step;
/// - anything else (negative values, or non-integers below 1000: log2 values, ratios, z-scores):
///   **other**, which `diff`, `explore` and `cluster` refuse until told (`assume_scale = "log2"`).
///
/// Returns the scale and the sentence for the read report.
fn infer_scale(layer: &str, path: &Path, a: &Assay) -> Result<(ValueScale, String)> {
    let (mut min, mut max, mut integers) = (f64::INFINITY, f64::NEG_INFINITY, true);
    for (v, f) in a.values().iter().zip(a.flags().iter()) {
        if f.has_value() {
            min = min.min(*v);
            max = max.max(*v);
            integers &= v.fract() == 0.0;
        }
    }
    let range = format!(
        "{}..{}",
        crate::output::format_float(min),
        crate::output::format_float(max)
    );
    if min >= 0.0 && integers && max >= 100.0 {
        return Ok((
            ValueScale::Counts,
            format!("no scale= given: every value is a non-negative integer (range {range}), read as counts; give scale=… if they are not"),
        ));
    }
    if min >= 0.0 && !integers && max >= 1000.0 {
        return Ok((
            ValueScale::Linear,
            format!("no scale= given: non-negative values up to {} that are not all integers, read as linear intensities; give scale=… if they are not", crate::output::format_float(max)),
        ));
    }
    if min >= 0.0 && integers {
        return Err(IoError::SampleMatch {
            layer: layer.into(),
            path: path.to_path_buf(),
            problem: format!(
                "every value is a non-negative integer below 100 (range {range}): read counts, spectral counts or calls? Say what they are with scale=counts, scale=linear or scale=other in --layer {layer}=…,scale=…"
            ),
        });
    }
    Ok((
        ValueScale::Other,
        format!("no scale= given: values range {range}, stored with scale 'other' (log2 values? ratios?); diff, explore and cluster need to be told: ingest with scale=log2, or assume_scale = \"log2\" (--assume-scale log2)"),
    ))
}

/// A layer in which no cell has a value is an error (a wrong delimiter, quantity or `zero=`
/// setting, not data); samples and features without any value are warnings, since a failed run
/// or a protein quantified nowhere is real but worth knowing before the statistics.
fn check_values(layer: &str, path: &Path, a: &Assay) -> Result<Vec<String>> {
    let has = |c: &FlagCounts| c.observed + c.imputed > 0;
    if !has(&a.flag_counts()) {
        return Err(IoError::SampleMatch {
            layer: layer.into(),
            path: path.to_path_buf(),
            problem: format!(
                "no cell of the {} feature(s) × {} sample(s) has a value; check the delimiter, quant= and zero= (every value is missing or 0 read as missing)",
                a.n_features(),
                a.n_samples()
            ),
        });
    }
    let mut warnings = Vec::new();
    let empty_samples: Vec<&str> = a
        .flag_counts_per_sample()
        .iter()
        .zip(a.samples())
        .filter(|(c, _)| !has(c))
        .map(|(_, s)| s.as_str())
        .collect();
    if !empty_samples.is_empty() {
        warnings.push(format!(
            "{} sample(s) have no value in any feature: {}; a failed run or a wrong column mapping? They are kept (all missing)",
            empty_samples.len(),
            preview(&empty_samples, 5)
        ));
    }
    let empty_features: Vec<&str> = a
        .flags()
        .rows()
        .into_iter()
        .zip(a.features().ids())
        .filter(|(row, _)| !row.iter().any(|f| f.has_value()))
        .map(|(_, id)| id.as_str())
        .collect();
    if !empty_features.is_empty() {
        warnings.push(format!(
            "{} feature(s) have no value in any sample (e.g. {}); they are kept (all missing) until a filter removes them",
            empty_features.len(),
            preview(&empty_features, 3)
        ));
    }
    Ok(warnings)
}

fn preview(items: &[&str], n: usize) -> String {
    let mut s: Vec<String> = items
        .iter()
        .take(n)
        .map(|x| format!("'{}'", crate::text::clip(x)))
        .collect();
    if items.len() > n {
        s.push(format!("… {} more", items.len() - n));
    }
    s.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(dir: &Path, matrix: &str) -> IngestRequest {
        let sheet = dir.join("s.tsv");
        std::fs::write(&sheet, "sample_id\nA\nB\nC\n").unwrap();
        let m = dir.join("m.tsv");
        std::fs::write(&m, matrix).unwrap();
        IngestRequest {
            samples: sheet,
            sheet: SheetOptions::default(),
            layers: vec![LayerSpec::parse(&format!("p={},scale=log2", m.display())).unwrap()],
            allow_missing_samples: false,
        }
    }

    #[test]
    fn a_layer_without_values_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let req = request(d.path(), "id\tA\tB\tC\nf1\tNA\t\tNA\nf2\tNA\tNA\tNA\n");
        let e = ingest(&req).unwrap_err().to_string();
        assert!(e.contains("m.tsv") && e.contains("no cell"), "{e}");
    }

    #[test]
    fn empty_samples_and_features_are_warned() {
        let d = tempfile::tempdir().unwrap();
        let req = request(d.path(), "id\tA\tB\tC\nf1\t1\tNA\t2\nf2\tNA\tNA\tNA\n");
        let (_, _, reports) = ingest(&req).unwrap();
        let w = reports[0].read.warnings.join("\n");
        assert!(
            w.contains("1 sample(s) have no value in any feature: 'B'"),
            "{w}"
        );
        assert!(
            w.contains("1 feature(s) have no value in any sample (e.g. 'f2')"),
            "{w}"
        );
    }

    fn inferred(matrix: &str) -> std::result::Result<(ValueScale, String), String> {
        let d = tempfile::tempdir().unwrap();
        let mut req = request(d.path(), matrix);
        req.layers =
            vec![LayerSpec::parse(&format!("p={}", d.path().join("m.tsv").display())).unwrap()];
        match ingest(&req) {
            Ok((exp, _, reports)) => Ok((
                exp.layer("p").unwrap().scale(),
                reports[0].read.warnings.join(" | "),
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn the_scale_of_a_wide_table_without_scale_is_read_from_its_values() {
        let (s, w) = inferred("id\tA\tB\tC\nf1\t0\t250\t12\nf2\t3\t0\t7\n").unwrap();
        assert_eq!(s, ValueScale::Counts);
        assert!(w.contains("read as counts") && w.contains("scale="), "{w}");
        let (s, w) = inferred("id\tA\tB\tC\nf1\t1520.5\t250\t12\nf2\tNA\t0\t7\n").unwrap();
        assert_eq!(s, ValueScale::Linear);
        assert!(w.contains("linear intensities"), "{w}");
        let (s, w) = inferred("id\tA\tB\tC\nf1\t21.5\t25.25\t19\nf2\t-0.5\t3\t7\n").unwrap();
        assert_eq!(s, ValueScale::Other);
        assert!(
            w.contains("assume_scale") && w.contains("scale=log2"),
            "{w}"
        );
        let e = inferred("id\tA\tB\tC\nf1\t0\t1\t1\nf2\t3\t0\t7\n").unwrap_err();
        assert!(e.contains("below 100") && e.contains("scale=counts"), "{e}");
    }
}
