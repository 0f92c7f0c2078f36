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
//!     sample_map: None,
//! };
//! let (experiment, _manifest, reports) = ingest(&request).unwrap();
//! let proteome = experiment.layer("proteome").unwrap();
//! assert_eq!((proteome.n_features(), proteome.n_samples()), (2, 3));
//! assert_eq!(reports[0].cells.missing, 2); // empty and NA are missing values, never 0
//! ```

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use evomics_core::{Assay, Experiment, FeatureFlags, FlagCounts, ValueFlag, ValueScale};

use crate::error::{IoError, Result};
use crate::formats::read_matrix;
use crate::manifest::{InputFile, Manifest};
use crate::matrix::{align_to_sheet, MatchOptions, MatchReport, ParsedMatrix, ReadReport};
use crate::sample_map::SampleMap;
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
    /// A sample map (unit_id, assay, column; [`crate::sample_map`]): which column of which
    /// layer's file holds which sheet sample, for layers measured on different preparations or
    /// with their own column names.
    pub sample_map: Option<PathBuf>,
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
    /// For a layer read from several files, what was read from each (empty for one file).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileReadReport>,
}

/// What was read from one file of a layer given as several files.
#[derive(Debug, Clone, Serialize)]
pub struct FileReadReport {
    /// The file.
    pub path: String,
    /// Its reader's report.
    pub read: ReadReport,
    /// Features read from it.
    pub features: usize,
    /// Sample columns read from it.
    pub columns: usize,
}

/// How the features of a layer's files are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// Every feature of any file; a feature a file lacks is `absent_from_file` in its samples.
    Outer,
    /// Only the features of every file.
    Inner,
}

/// The layers in order of first appearance, each with its files' specifications. A file given
/// twice for one layer is an error.
fn group_layers(layers: &[LayerSpec]) -> Result<Vec<(String, Vec<&LayerSpec>)>> {
    let mut groups: Vec<(String, Vec<&LayerSpec>)> = Vec::new();
    for spec in layers {
        match groups.iter_mut().find(|(n, _)| *n == spec.name) {
            Some((_, v)) => {
                if v.iter().any(|s| s.path == spec.path) {
                    return Err(IoError::Spec(format!(
                        "layer '{}': file '{}' is given twice",
                        spec.name,
                        spec.path.display()
                    )));
                }
                v.push(spec);
            }
            None => groups.push((spec.name.clone(), vec![spec])),
        }
    }
    Ok(groups)
}

/// The `join=` of a layer: the same on every file that gives it, and only for several files.
fn join_of(name: &str, specs: &[&LayerSpec]) -> Result<Join> {
    let mut join: Option<Join> = None;
    for s in specs {
        let Some(v) = s.options.get("join") else {
            continue;
        };
        let j = match v.to_ascii_lowercase().as_str() {
            "outer" | "union" => Join::Outer,
            "inner" | "intersection" => Join::Inner,
            _ => {
                return Err(IoError::Spec(format!(
                    "layer '{name}': join={v} must be 'outer' (every feature) or 'inner' (features in every file)"
                )))
            }
        };
        if join.is_some_and(|k| k != j) {
            return Err(IoError::Spec(format!(
                "layer '{name}': its files give different join= values; give join= once"
            )));
        }
        join = Some(j);
    }
    if join.is_some() && specs.len() == 1 {
        return Err(IoError::Spec(format!(
            "layer '{name}': join= combines the files of a layer given several times (--layer {name}=a.csv --layer {name}=b.csv,join=inner); this layer has one file"
        )));
    }
    Ok(join.unwrap_or(Join::Outer))
}

/// Combine the matrices read from a layer's files: samples (columns) concatenated in file
/// order, features the union (first file's order, then each later file's new features) or,
/// with [`Join::Inner`], those in every file. A cell of a feature its sample's file lacks is
/// flagged [`ValueFlag::AbsentFromFile`]; a sample in two files is an error naming both.
pub fn merge_files(
    layer: &str,
    parts: Vec<(PathBuf, ParsedMatrix)>,
    join: Join,
) -> Result<ParsedMatrix> {
    use std::collections::HashMap;
    let first_path = parts[0].0.clone();
    let scale = parts[0].1.scale;
    if let Some((p, m)) = parts.iter().find(|(_, m)| m.scale != scale) {
        return Err(IoError::SampleMatch {
            layer: layer.into(),
            path: p.clone(),
            problem: format!(
                "this file's values are {} but '{}' holds {}; the files of one layer must hold one kind of value (give scale= on each)",
                m.scale.name(),
                first_path.display(),
                scale.name()
            ),
        });
    }
    let mut owner: HashMap<&str, &Path> = HashMap::new();
    for (p, m) in &parts {
        for c in &m.columns {
            if let Some(prev) = owner.insert(c.name.as_str(), p.as_path()) {
                return Err(IoError::SampleMatch {
                    layer: layer.into(),
                    path: p.clone(),
                    problem: format!(
                        "sample '{}' is in both '{}' and '{}'; a sample must come from one file (rename or drop one of them)",
                        crate::text::clip(&c.name),
                        prev.display(),
                        p.display()
                    ),
                });
            }
        }
    }
    drop(owner);
    // Feature order and, per file, the row of each kept feature.
    let mut ids: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (_, m) in &parts {
        for id in &m.feature_ids {
            if !index.contains_key(id) {
                index.insert(id.clone(), ids.len());
                ids.push(id.clone());
            }
        }
    }
    let rows: Vec<HashMap<&str, usize>> = parts
        .iter()
        .map(|(_, m)| {
            m.feature_ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.as_str(), i))
                .collect()
        })
        .collect();
    let union = ids.len();
    if join == Join::Inner {
        ids.retain(|id| rows.iter().all(|r| r.contains_key(id.as_str())));
    }
    let nf = ids.len();
    let nc: usize = parts.iter().map(|(_, m)| m.columns.len()).sum();
    let mut values = ndarray::Array2::from_elem((nf, nc), f64::NAN);
    let mut flags = ndarray::Array2::from_elem((nf, nc), ValueFlag::AbsentFromFile);
    let mut feature_flags = vec![FeatureFlags::NONE; nf];
    let mut ann_names: Vec<String> = Vec::new();
    for (_, m) in &parts {
        for (k, _) in &m.annotations {
            if !ann_names.contains(k) {
                ann_names.push(k.clone());
            }
        }
    }
    let mut anns: Vec<Vec<Option<String>>> = vec![vec![None; nf]; ann_names.len()];
    let mut columns = Vec::with_capacity(nc);
    let mut absent_by_file = Vec::new();
    let mut offset = 0;
    for ((_, m), r) in parts.iter().zip(&rows) {
        let w = m.columns.len();
        let mut absent = 0usize;
        for (i, id) in ids.iter().enumerate() {
            let Some(&src) = r.get(id.as_str()) else {
                absent += 1;
                continue;
            };
            for j in 0..w {
                values[[i, offset + j]] = m.values[[src, j]];
                flags[[i, offset + j]] = m.flags[[src, j]];
            }
            feature_flags[i].insert(m.feature_flags[src]);
            for (k, vals) in &m.annotations {
                let a = ann_names
                    .iter()
                    .position(|n| n == k)
                    .expect("collected above");
                if anns[a][i].is_none() {
                    anns[a][i] = vals[src].clone();
                }
            }
        }
        absent_by_file.push(absent);
        columns.extend(m.columns.iter().cloned());
        offset += w;
    }
    let mut report = ReadReport::default();
    let mut formats: Vec<&str> = Vec::new();
    let mut quantities: Vec<&str> = Vec::new();
    for ((p, m), absent) in parts.iter().zip(&absent_by_file) {
        if !formats.contains(&m.report.format.as_str()) {
            formats.push(&m.report.format);
        }
        if !quantities.contains(&m.report.quantity.as_str()) {
            quantities.push(&m.report.quantity);
        }
        report.rows_read += m.report.rows_read;
        for (k, n) in &m.report.rows_dropped {
            *report.rows_dropped.entry(k.clone()).or_insert(0) += n;
        }
        for (k, n) in &m.report.rows_flagged {
            *report.rows_flagged.entry(k.clone()).or_insert(0) += n;
        }
        for w in &m.report.warnings {
            report.warnings.push(format!("{}: {w}", p.display()));
        }
        if *absent > 0 {
            report.warnings.push(format!(
                "{}: {absent} of the layer's {nf} features are not in this file; their cells in its {} sample(s) are flagged absent_from_file (missing, not 0)",
                p.display(),
                m.columns.len()
            ));
        }
    }
    if join == Join::Inner {
        report.warnings.push(format!(
            "join=inner: {nf} of the {union} features are in every file; {} were left out",
            union - nf
        ));
    }
    report.format = formats.join("+");
    report.quantity = quantities.join("+");
    let annotations = ann_names.into_iter().zip(anns).collect();
    Ok(ParsedMatrix {
        path: first_path,
        feature_ids: ids,
        annotations,
        feature_flags,
        columns,
        values,
        flags,
        scale,
        report,
        source_digest: None,
    })
}

/// Read the sheet and every layer, align them, and describe what was done.
pub fn ingest(req: &IngestRequest) -> Result<(Experiment, Manifest, Vec<LayerIngestReport>)> {
    ingest_with(req, None)
}

/// A step given each layer [`ingest_with`] has read while others are still being read.
pub type EarlyLayer<'a> = &'a (dyn Fn(&Assay) -> Result<()> + Sync);

/// [`ingest`], handing every layer that is read while another is still being read to `early`
/// (on the thread that read it, with its samples in sheet order, as the experiment will hold
/// it): a store's layer can be written there ([`crate::StoreBuilder::write_layer`]) while a
/// core would otherwise wait for the last file. The last layer read is not handed over. An
/// error of `early` is that layer's error.
pub fn ingest_with(
    req: &IngestRequest,
    early: Option<EarlyLayer<'_>>,
) -> Result<(Experiment, Manifest, Vec<LayerIngestReport>)> {
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
    let groups = group_layers(&req.layers)?;
    let sample_map = match &req.sample_map {
        Some(p) => {
            let map = SampleMap::read(p)?;
            let names: Vec<&str> = groups.iter().map(|(n, _)| n.as_str()).collect();
            map.check(&sheet, &names)?;
            manifest.inputs.push(InputFile::hash("sample_map", p)?);
            Some(map)
        }
        None => None,
    };
    // Layers are read one per thread (each file is parsed as it streams in); their results
    // are taken in layer order, so the store, the manifest and the first error reported do
    // not depend on which finishes first.
    let sheet_ref = &sheet;
    let sample_map_ref = sample_map.as_ref();
    let reading = &std::sync::atomic::AtomicUsize::new(groups.len());
    let read: Vec<Result<IngestedLayer>> = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|(name, specs)| {
                scope.spawn(move || {
                    let read = ingest_layer(
                        &name,
                        &specs,
                        sheet_ref,
                        sample_map_ref,
                        req.allow_missing_samples,
                    )
                    .and_then(|mut layer| {
                        layer.assay = Experiment::in_sheet_order(sheet_ref, layer.assay)
                            .map_err(|e| IoError::core(layer.paths.clone(), e))?;
                        Ok(layer)
                    });
                    let others = reading.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) > 1;
                    match (read, early) {
                        (Ok(layer), Some(early)) if others => {
                            early(&layer.assay)?;
                            Ok(layer)
                        }
                        (read, _) => read,
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(IoError::Spec("a layer reader thread failed".into())))
            })
            .collect()
    });
    let mut exp = Experiment::new(sheet);
    let mut reports = Vec::new();
    for layer in read {
        let IngestedLayer {
            assay,
            report,
            inputs,
            paths,
        } = layer?;
        manifest.inputs.extend(inputs);
        reports.push(report);
        exp.insert_layer(assay)
            .map_err(|e| IoError::core(paths, e))?;
    }
    manifest.settings = json!({
        "samples": req.samples.display().to_string(),
        "sample_id_column": req.sheet.id_column,
        "sdrf": req.sheet.sdrf,
        "allow_missing_samples": req.allow_missing_samples,
        "layers": req.layers.iter().map(|l| json!({
            "name": l.name, "path": l.path.display().to_string(), "options": l.options
        })).collect::<Vec<_>>(),
    });
    if let Some(p) = &req.sample_map {
        manifest.settings["sample_map"] = json!(p.display().to_string());
    }
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

/// One layer as [`ingest`] read it.
struct IngestedLayer {
    assay: Assay,
    report: LayerIngestReport,
    /// The layer's input files (path, size, SHA-256), for the manifest.
    inputs: Vec<InputFile>,
    /// The layer's file names, for messages.
    paths: String,
}

/// Read, merge, align and check one layer (the files of `specs`) against the sheet.
fn ingest_layer(
    name: &str,
    specs: &[&LayerSpec],
    sheet: &evomics_core::SampleSheet,
    sample_map: Option<&SampleMap>,
    allow_missing_samples: bool,
) -> Result<IngestedLayer> {
    let first = specs[0];
    if sample_map.is_some() && first.options.contains_key("sheet_column") {
        return Err(IoError::Spec(format!(
            "layer '{name}': sheet_column= and a sample map both say which column holds which sample; give one of them"
        )));
    }
    if specs
        .iter()
        .any(|s| s.options.get("sheet_column") != first.options.get("sheet_column"))
    {
        return Err(IoError::Spec(format!(
            "layer '{name}': its files give different sheet_column= values; the layer's samples are matched through one sheet column"
        )));
    }
    let kind = first.kind()?;
    let join = join_of(name, specs)?;
    let mut parts = Vec::new();
    let mut inputs = Vec::new();
    for spec in specs {
        let opts = spec.read_options()?;
        if spec.kind()? != kind {
            return Err(IoError::Spec(format!(
                "layer '{name}': its files are given different kind= values; a layer has one kind"
            )));
        }
        let mut parsed = read_matrix(&spec.path, &opts)?;
        // miRNA name harmonization (formats::harmonize): on for miRNA layers unless harmonize=false.
        crate::formats::harmonize::apply(&mut parsed, &opts, &kind)?;
        let digest = parsed.source_digest.take();
        inputs.push(match digest {
            Some((sha, bytes)) => InputFile {
                role: format!("layer:{name}"),
                path: spec.path.display().to_string(),
                bytes,
                sha256: crate::manifest::hex(&sha),
            },
            None => InputFile::hash(&format!("layer:{name}"), &spec.path)?,
        });
        parts.push((spec.path.clone(), opts, parsed));
    }
    let scale_given = parts.iter().all(|(_, o, _)| o.scale.is_some());
    let (parsed, files) = if parts.len() == 1 {
        let (_, _, parsed) = parts.pop().expect("one file");
        (parsed, Vec::new())
    } else {
        let files: Vec<FileReadReport> = parts
            .iter()
            .map(|(p, _, m)| FileReadReport {
                path: p.display().to_string(),
                read: m.report.clone(),
                features: m.feature_ids.len(),
                columns: m.columns.len(),
            })
            .collect();
        let merged = merge_files(
            name,
            parts.into_iter().map(|(p, _, m)| (p, m)).collect(),
            join,
        )?;
        (merged, files)
    };
    let mut read = parsed.report.clone();
    let path = parsed.path.clone();
    let (assay, matching) = align_to_sheet(
        parsed,
        name,
        kind,
        sheet,
        &MatchOptions {
            column_map: sample_map.as_ref().map(|m| m.assay(name)),
            ..first.match_options(allow_missing_samples)
        },
    )?;
    read.warnings.extend(check_values(name, &path, &assay)?);
    let assay = if !scale_given && assay.scale() == ValueScale::Other {
        let (scale, note) = infer_scale(name, &path, &assay)?;
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
    let paths: Vec<String> = specs.iter().map(|s| s.path.display().to_string()).collect();
    let report = LayerIngestReport {
        layer: name.to_string(),
        path: paths.join(", "),
        read,
        matching,
        features: assay.n_features(),
        cells: assay.flag_counts(),
        files,
    };
    Ok(IngestedLayer {
        assay,
        report,
        inputs,
        paths: paths.join(", "),
    })
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
            sample_map: None,
        }
    }

    #[test]
    fn a_layer_without_values_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let req = request(d.path(), "id\tA\tB\tC\nf1\tNA\t\tNA\nf2\tNA\tNA\tNA\n");
        let e = ingest(&req).unwrap_err().to_string();
        assert!(e.contains("m.tsv") && e.contains("no cell"), "{e}");
    }

    /// With two layers, the one read first is handed to the early step (in sheet order, on
    /// its reader thread) and the other is not; the early step's error is the ingest's.
    #[test]
    fn every_layer_but_the_last_read_is_handed_over_early() {
        let d = tempfile::tempdir().unwrap();
        let mut req = request(d.path(), "id\tC\tA\tB\nf1\t3\t1\t2\n");
        let second = d.path().join("m2.tsv");
        std::fs::write(&second, "id\tB\tA\tC\ng1\t5\t4\t6\n").unwrap();
        req.layers
            .push(LayerSpec::parse(&format!("q={},scale=log2", second.display())).unwrap());
        for _ in 0..20 {
            let seen = std::sync::Mutex::new(Vec::new());
            let early = |a: &Assay| {
                seen.lock()
                    .unwrap()
                    .push((a.name().to_string(), a.samples().to_vec()));
                Ok(())
            };
            let (exp, _, _) = ingest_with(&req, Some(&early)).unwrap();
            let seen = seen.into_inner().unwrap();
            assert_eq!(seen.len(), 1, "{seen:?}");
            let (name, samples) = &seen[0];
            assert_eq!(samples, &["A", "B", "C"]);
            assert_eq!(exp.layer(name).unwrap().samples(), samples.as_slice());
            let refuse = |_: &Assay| Err(IoError::Spec("disk full".into()));
            let e = ingest_with(&req, Some(&refuse)).unwrap_err().to_string();
            assert!(e.contains("disk full"), "{e}");
        }
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
