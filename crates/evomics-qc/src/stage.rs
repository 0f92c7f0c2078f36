//! The QC stage as one library call: [`run_qc`] checks the layers of an experiment (per-sample
//! metrics and outliers, per-feature observed fractions, the MISEV purity gate for proteome
//! layers) and the sheet's dose ratios, and returns a [`QcResult`] that knows its tables.
//!
//! ```
//! use evomics_core::{Assay, Experiment, Features, LayerKind, SampleSheet, StageTables, ValueScale};
//! use evomics_qc::{run_qc, QcConfig};
//!
//! let ids: Vec<String> = (1..=4).map(|i| format!("EV{i}")).collect();
//! let sheet = SampleSheet::from_text_columns(ids.clone(), vec![]).unwrap();
//! let cells = ndarray::Array2::from_shape_fn((3, 4), |(i, j)| Some(10.0 + i as f64 + 0.1 * j as f64));
//! let features = Features::new(vec!["P1".into(), "P2".into(), "P3".into()]).unwrap();
//! let layer = Assay::from_options(
//!     "proteome", LayerKind::Proteome, ValueScale::Log2, features, ids, &cells,
//! ).unwrap();
//! let mut exp = Experiment::new(sheet);
//! exp.insert_layer(layer).unwrap();
//! let result = run_qc(&exp, &QcConfig::default()).unwrap();
//! let names: Vec<String> = result.tables().into_iter().map(|t| t.name).collect();
//! assert_eq!(names, ["samples", "features", "purity", "dose"]);
//! ```

use serde::{Deserialize, Serialize};

use evomics_core::{
    Assay, Cell, ExcludeRules, Experiment, Kind, LayerKind, Message, StageResult, StageTables,
    Table, ValueScale,
};
use evomics_panels::MisevCategory;

use crate::biofluid::{biofluid_check, BiofluidParams, BiofluidReport, BiofluidScope};
use crate::dose::{dose_qc, DoseParams, DoseQc};
use crate::error::{QcError, Result};
use crate::feature::{feature_qc, FeatureQcReport};
use crate::purity::{PurityParams, PurityReport, Verdict};
use crate::sample::{sample_qc, SampleQcParams, SampleQcReport};

/// Settings of the QC stage: `[qc]` of a run config, or the `--config` file of `evomics qc`.
/// Every key is optional.
///
/// ```toml
/// layers = ["proteome"]        # default: every layer
/// group_by = "source"          # per-group observed fractions
/// [sample]
/// outlier_z = 3.5
/// [purity]
/// co_isolate_warn_share = 0.05
/// [dose]
/// high_purity_particles_per_ug = 3e10
/// [biofluid]
/// biofluid_column = "biofluid"
/// haemolysis_fail_log2 = 7.0
/// blood_cell_warn_share = 0.05
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QcConfig {
    /// Layers to check (empty: every layer).
    pub layers: Vec<String>,
    /// Sample-sheet column whose groups the per-feature observed fractions are given for.
    pub group_by: Option<String>,
    /// Sample QC thresholds.
    pub sample: SampleQcParams,
    /// MISEV purity gate thresholds.
    pub purity: PurityParams,
    /// Dose-ratio thresholds.
    pub dose: DoseParams,
    /// Biofluid contamination checks of miRNA layers (haemolysis, blood-cell share).
    pub biofluid: BiofluidParams,
    /// Samples left out before any check (see [`evomics_core::exclude`]).
    #[serde(skip_serializing_if = "ExcludeRules::is_empty")]
    pub exclude: ExcludeRules,
}

impl QcConfig {
    /// Check the settings alone (before any data is read).
    pub fn validate(&self) -> Result<()> {
        self.exclude.validate()?;
        self.sample.validate()?;
        self.purity.check()?;
        self.dose.validate()?;
        self.biofluid.validate()?;
        if let Some(g) = &self.group_by {
            if g.trim().is_empty() {
                return Err(QcError::InvalidParam {
                    param: "group_by",
                    problem: "is empty; name a sample-sheet column or leave it out".into(),
                });
            }
        }
        Ok(())
    }
}

/// QC of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerQc {
    /// Layer name.
    pub layer: String,
    /// Layer kind.
    pub kind: LayerKind,
    /// Per-sample metrics and outlier flags.
    pub samples: SampleQcReport,
    /// Per-feature observed fractions and abundance.
    pub features: FeatureQcReport,
    /// The MISEV purity gate (proteome layers only).
    pub purity: Option<PurityReport>,
    /// The biofluid contamination checks (miRNA layers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biofluid: Option<BiofluidReport>,
}

/// The result of the QC stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QcResult {
    /// The settings used.
    pub config: QcConfig,
    /// One entry per checked layer, in store order.
    pub layers: Vec<LayerQc>,
    /// Dose ratios of every sheet sample.
    pub dose: Vec<DoseQc>,
    /// The samples `exclude` left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<String>,
}

/// A short, stable summary of a QC run (written to the stage manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QcSummary {
    /// Per layer: samples, features, outliers, purity counts.
    pub layers: Vec<LayerSummary>,
    /// Samples with dose ratios.
    pub dose_assessed: usize,
    /// Samples the dose check flags.
    pub dose_flagged: Vec<String>,
}

/// One layer in [`QcSummary`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerSummary {
    /// Layer name.
    pub layer: String,
    /// Samples checked.
    pub samples: usize,
    /// Features checked.
    pub features: usize,
    /// Samples flagged as outliers.
    pub outliers: Vec<String>,
    /// Log basis of the metrics.
    pub log_basis: String,
    /// Purity gate counts (pass, warn, fail), for proteome layers.
    pub purity: Option<(usize, usize, usize)>,
    /// Biofluid check counts (pass, warn, fail, NA) over the samples it applies to, for miRNA
    /// layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biofluid: Option<(usize, usize, usize, usize)>,
    /// Samples whose sheet names a biofluid and whose biofluid checks warn or fail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub biofluid_flagged: Vec<String>,
}

/// Run QC on the experiment's layers (or those `config.layers` names) and its sheet.
pub fn run_qc(exp: &Experiment, config: &QcConfig) -> Result<QcResult> {
    config.validate()?;
    let (exp, excluded) = exp.excluding(&config.exclude)?;
    let exp = exp.as_ref();
    if let Some(g) = &config.group_by {
        exp.samples().require_column(g)?;
    }
    let layers: Vec<&Assay> = if config.layers.is_empty() {
        exp.layers().values().collect()
    } else {
        config
            .layers
            .iter()
            .map(|n| exp.layer(n).map_err(QcError::from))
            .collect::<Result<_>>()?
    };
    let mut out = Vec::with_capacity(layers.len());
    for layer in layers {
        let samples = sample_qc(layer, &config.sample)?;
        let group = config.group_by.as_deref().map(|g| (exp.samples(), g));
        let features = feature_qc(layer, group)?;
        let purity = if *layer.kind() == LayerKind::Proteome {
            Some(crate::purity::purity_gate(layer, &config.purity)?)
        } else {
            None
        };
        let biofluid = if *layer.kind() == LayerKind::Mirna {
            Some(biofluid_check(layer, exp.samples(), &config.biofluid)?)
        } else {
            None
        };
        out.push(LayerQc {
            layer: layer.name().to_string(),
            kind: layer.kind().clone(),
            samples,
            features,
            purity,
            biofluid,
        });
    }
    let dose = dose_qc(exp.samples(), &config.dose)?;
    Ok(QcResult {
        config: config.clone(),
        layers: out,
        dose,
        excluded,
    })
}

impl QcResult {
    /// The summary written to the stage manifest.
    pub fn summary(&self) -> QcSummary {
        QcSummary {
            layers: self
                .layers
                .iter()
                .map(|l| LayerSummary {
                    layer: l.layer.clone(),
                    samples: l.samples.samples.len(),
                    features: l.features.features.len(),
                    outliers: l
                        .samples
                        .samples
                        .iter()
                        .filter(|s| s.outlier)
                        .map(|s| s.sample.clone())
                        .collect(),
                    log_basis: format!("{:?}", l.samples.basis),
                    purity: l.purity.as_ref().map(PurityReport::counts),
                    biofluid: l.biofluid.as_ref().map(|b| {
                        let mut c = (0, 0, 0, 0);
                        for s in b
                            .samples
                            .iter()
                            .filter(|s| s.scope != crate::biofluid::BiofluidScope::NotBiofluid)
                        {
                            match s.verdict {
                                Some(Verdict::Pass) => c.0 += 1,
                                Some(Verdict::Warn) => c.1 += 1,
                                Some(Verdict::Fail) => c.2 += 1,
                                None => c.3 += 1,
                            }
                        }
                        c
                    }),
                    biofluid_flagged: l
                        .biofluid
                        .as_ref()
                        .map(|b| b.flagged().iter().map(|s| s.sample.clone()).collect())
                        .unwrap_or_default(),
                })
                .collect(),
            dose_assessed: self
                .dose
                .iter()
                .filter(|d| d.particles_per_ug.is_some())
                .count(),
            dose_flagged: self
                .dose
                .iter()
                .filter(|d| d.flagged)
                .map(|d| d.sample.clone())
                .collect(),
        }
    }
}

impl StageResult for QcResult {
    const STAGE: &'static str = "qc";
    const VERSION: u32 = 2;

    fn messages(&self) -> Vec<Message> {
        let s = self.summary();
        let mut out = Vec::new();
        out.extend(self.config.exclude.message("qc", &self.excluded));
        for l in &s.layers {
            let mut line = format!(
                "{}: {} samples, {} features, {} outlier(s)",
                l.layer,
                l.samples,
                l.features,
                l.outliers.len()
            );
            if let Some((pass, warn, fail)) = l.purity {
                line.push_str(&format!(
                    "; MISEV purity gate: {pass} pass, {warn} warn, {fail} fail"
                ));
            }
            out.push(Message::info(line));
        }
        for l in &self.layers {
            if let Some(line) = count_line(l) {
                out.push(Message::info(line));
            }
        }
        for r in self.layers.iter().filter_map(|l| l.biofluid.as_ref()) {
            out.extend(biofluid_messages(r));
        }
        out.push(Message::info(format!(
            "dose ratios assessed for {} sample(s)",
            s.dose_assessed
        )));
        out
    }
}

impl StageTables for QcResult {
    fn tables(&self) -> Vec<Table> {
        let mut out = vec![self.sample_table(), self.feature_table()];
        let purity: Vec<&PurityReport> = self
            .layers
            .iter()
            .filter_map(|l| l.purity.as_ref())
            .collect();
        if !purity.is_empty() {
            out.push(purity_table(&purity));
        }
        let biofluid: Vec<&BiofluidReport> = self
            .layers
            .iter()
            .filter_map(|l| l.biofluid.as_ref())
            .collect();
        if !biofluid.is_empty() {
            out.push(biofluid_table(&biofluid));
        }
        out.push(dose_table(&self.dose));
        out
    }
}

impl QcResult {
    /// `samples.tsv`: per-sample metrics and outlier flags of every layer.
    fn sample_table(&self) -> Table {
        let mut t = Table::new("samples")
            .cols(["layer", "sample_id"], Kind::Text)
            .cols(
                ["n_features", "n_observed", "n_imputed", "n_below_detection"],
                Kind::Int,
            )
            .cols(
                [
                    "missing_fraction",
                    "total",
                    "log2_median",
                    "log2_iqr",
                    "corr_to_median",
                    "lib_size",
                ],
                Kind::Float,
            )
            .col("detected", Kind::Int)
            .col("detected_fraction", Kind::Float)
            .col("outlier", Kind::Bool)
            .col("reasons", Kind::Text)
            .col("outlier_rules", Kind::Text);
        for l in &self.layers {
            for s in &l.samples.samples {
                t.push(vec![
                    l.layer.as_str().into(),
                    s.sample.as_str().into(),
                    s.n_features.into(),
                    s.n_observed.into(),
                    s.n_imputed.into(),
                    s.n_below_detection.into(),
                    s.missing_fraction.into(),
                    s.total.into(),
                    s.log2_median.into(),
                    s.log2_iqr.into(),
                    s.corr_to_median.into(),
                    s.lib_size.into(),
                    s.detected.into(),
                    s.detected_fraction.into(),
                    s.outlier.into(),
                    s.reasons.join("; ").into(),
                    l.samples.outlier_rules().into(),
                ]);
            }
        }
        t
    }

    /// `features.tsv`: per-feature observed fractions (overall and per group) and abundance.
    fn feature_table(&self) -> Table {
        let groups: Vec<String> = self
            .layers
            .first()
            .map(|l| l.features.groups.clone())
            .unwrap_or_default();
        let any_counts = self
            .layers
            .iter()
            .any(|l| l.samples.scale == ValueScale::Counts);
        let mut t = Table::new("features")
            .cols(["layer", "feature_id"], Kind::Text)
            .col("n_observed", Kind::Int)
            .cols(
                ["observed_fraction", "mean_log", "median_log", "cv"],
                Kind::Float,
            )
            .col("n_detected", Kind::Int)
            .col("detected_fraction", Kind::Float)
            .cols(
                groups.iter().map(|g| format!("observed_fraction:{g}")),
                Kind::Float,
            );
        if any_counts {
            t = t.cols(
                groups.iter().map(|g| format!("detected_fraction:{g}")),
                Kind::Float,
            );
        }
        for l in &self.layers {
            for q in &l.features.features {
                let mut row: Vec<Cell> = vec![
                    l.layer.as_str().into(),
                    q.feature.as_str().into(),
                    q.n_observed.into(),
                    q.observed_fraction.into(),
                    q.mean_log.into(),
                    q.median_log.into(),
                    q.cv.into(),
                    q.n_detected.into(),
                    q.detected_fraction.into(),
                ];
                let mut per_group: Vec<Cell> = q
                    .group_observed_fraction
                    .iter()
                    .map(|v| Cell::from(*v))
                    .collect();
                per_group.resize(groups.len(), Cell::Na);
                row.extend(per_group);
                if any_counts {
                    row.extend(q.group_detected_fraction.iter().map(|v| Cell::from(*v)));
                }
                row.resize(t.columns.len(), Cell::Na);
                t.push(row);
            }
        }
        t
    }
}

/// For a count layer: the range of library sizes and detected features and the limits of the
/// count outlier rules, in one line.
fn count_line(l: &LayerQc) -> Option<String> {
    let limits = l.samples.count_limits.as_ref()?;
    let range = |v: Vec<f64>| -> Option<(f64, f64)> {
        let lo = v.iter().copied().reduce(f64::min)?;
        let hi = v.iter().copied().reduce(f64::max)?;
        Some((lo, hi))
    };
    let s = &l.samples.samples;
    let (lib_lo, lib_hi) = range(s.iter().filter_map(|x| x.lib_size).collect())?;
    let (det_lo, det_hi) = range(s.iter().filter_map(|x| x.detected_fraction).collect())?;
    let limit = |m: &Option<crate::sample::MadLimit>| {
        m.as_ref()
            .map_or("-".to_string(), |m| format!("{:.0}", m.lower.exp2()))
    };
    Some(format!(
        "{} (counts): library size {lib_lo}-{lib_hi}, detected features (count > 0) {:.1}-{:.1} % per sample; outlier rules: library size below {} or detected features below {} ({} MADs below the median on the log2 scale)",
        l.layer,
        100.0 * det_lo,
        100.0 * det_hi,
        limit(&limits.log2_lib_size),
        limit(&limits.log2_detected),
        limits.nmads
    ))
}

/// `purity.tsv`: the MISEV purity gate per sample of every proteome layer.
fn purity_table(reports: &[&PurityReport]) -> Table {
    use MisevCategory as C;
    let mut t = Table::new("purity")
        .cols(
            [
                "layer",
                "sample_id",
                "verdict",
                "reasons",
                "core_markers",
                "transmembrane_markers",
                "cytosolic_markers",
                "co_isolate_markers",
            ],
            Kind::Text,
        )
        .col("co_isolate_share", Kind::Float)
        .col("other_compartment_markers", Kind::Text)
        .col("other_compartment_share", Kind::Float);
    for r in reports {
        for s in &r.samples {
            let ev = |c: C| s.category(c);
            t.push(vec![
                r.layer.as_str().into(),
                s.sample.as_str().into(),
                s.verdict.name().into(),
                s.reasons.join("; ").into(),
                s.core_markers.join(",").into(),
                ev(C::Transmembrane).markers.join(",").into(),
                ev(C::Cytosolic).markers.join(",").into(),
                ev(C::CoIsolated).markers.join(",").into(),
                ev(C::CoIsolated).share.into(),
                ev(C::OtherCompartment).markers.join(",").into(),
                ev(C::OtherCompartment).share.into(),
            ]);
        }
    }
    t
}

/// Messages of the biofluid checks of one layer: what decided the scope, the flagged samples
/// (a warning when the verdicts count, information when they are informational) and the
/// samples whose check is incomplete.
fn biofluid_messages(r: &BiofluidReport) -> Vec<Message> {
    let mut out = Vec::new();
    let list = |v: &[&crate::biofluid::SampleBiofluid]| {
        v.iter()
            .map(|s| format!("{} ({})", s.sample, s.reasons.join("; ")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let flagged = |scope: BiofluidScope| -> Vec<&crate::biofluid::SampleBiofluid> {
        r.samples
            .iter()
            .filter(|s| {
                s.scope == scope && matches!(s.verdict, Some(Verdict::Warn | Verdict::Fail))
            })
            .collect()
    };
    match &r.column {
        Some(c) => {
            let checked = r
                .samples
                .iter()
                .filter(|s| s.scope == BiofluidScope::Checked)
                .count();
            out.push(Message::info(format!(
                "{}: biofluid checks (haemolysis, blood-cell share) on {checked} of {} sample(s) whose '{c}' names a biofluid",
                r.layer,
                r.samples.len()
            )));
            let f = flagged(BiofluidScope::Checked);
            if !f.is_empty() {
                out.push(Message::warn(format!(
                    "{}: biofluid contamination in {} sample(s): {}",
                    r.layer,
                    f.len(),
                    list(&f)
                )));
            }
        }
        None => {
            out.push(Message::info(format!(
                "{}: no 'biofluid' sample-sheet column, so the biofluid checks ran on every sample but are informational (EVs from cell culture carry no blood); add the column (plasma, serum, urine, … or conditioned_medium) or set [biofluid] biofluid_column to apply them",
                r.layer
            )));
            let f = flagged(BiofluidScope::Informational);
            if !f.is_empty() {
                out.push(Message::info(format!(
                    "{}: biofluid profile (informational) in {} sample(s): {}",
                    r.layer,
                    f.len(),
                    list(&f)
                )));
            }
        }
    }
    let na: Vec<&str> = r
        .samples
        .iter()
        .filter(|s| s.scope != BiofluidScope::NotBiofluid && s.verdict.is_none())
        .map(|s| s.sample.as_str())
        .collect();
    if !na.is_empty() {
        let why = r
            .samples
            .iter()
            .find(|s| s.sample == na[0])
            .map(|s| s.reasons.join("; "))
            .unwrap_or_default();
        let text = format!(
            "{}: biofluid check incomplete (NA) for {} sample(s), e.g. {}: {why}",
            r.layer,
            na.len(),
            na[0]
        );
        out.push(if r.column.is_some() {
            Message::warn(text)
        } else {
            Message::info(text)
        });
    }
    out
}

/// `biofluid.tsv`: haemolysis ratio, blood-cell share and verdicts per sample of every miRNA
/// layer.
fn biofluid_table(reports: &[&BiofluidReport]) -> Table {
    let mut t = Table::new("biofluid")
        .cols(["layer", "sample_id", "biofluid", "scope"], Kind::Text)
        .cols(
            ["mir451a_cpm", "mir23a_cpm", "haemolysis_log2"],
            Kind::Float,
        )
        .col("haemolysis", Kind::Text)
        .col("blood_cell_share", Kind::Float)
        .cols(["blood_cell", "verdict", "reasons"], Kind::Text);
    let v = |x: Option<Verdict>| Cell::from(x.map(|v| v.name().to_string()));
    for r in reports {
        for s in &r.samples {
            t.push(vec![
                r.layer.as_str().into(),
                s.sample.as_str().into(),
                s.biofluid.clone().into(),
                s.scope.name().into(),
                s.mir451a_cpm.into(),
                s.mir23a_cpm.into(),
                s.haemolysis_log2.into(),
                v(s.haemolysis),
                s.blood_cell_share.into(),
                v(s.blood_cell),
                v(s.verdict),
                s.reasons.join("; ").into(),
            ]);
        }
    }
    t
}

/// `dose.tsv`: particle and protein doses and their ratio per sample.
fn dose_table(dose: &[DoseQc]) -> Table {
    let mut t = Table::new("dose")
        .col("sample_id", Kind::Text)
        .cols(
            [
                "particle_count",
                "protein_ug",
                "particles_per_ug",
                "ug_per_particle",
            ],
            Kind::Float,
        )
        .col("purity", Kind::Text)
        .col("flagged", Kind::Bool)
        .col("note", Kind::Text);
    for d in dose {
        t.push(vec![
            d.sample.as_str().into(),
            d.particle_count.into(),
            d.protein_ug.into(),
            d.particles_per_ug.into(),
            d.ug_per_particle.into(),
            d.purity.name().into(),
            d.flagged.into(),
            d.note.as_str().into(),
        ]);
    }
    t
}
