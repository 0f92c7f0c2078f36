//! Between-sample normalization: median centring, quantile normalization, edgeR TMM and
//! upper-quartile, DESeq2 median-of-ratios, total count (CPM), and MISEV dose normalization.

use evomics_core::{Assay, SampleSheet, ValueFlag, ValueScale};
use serde::{Deserialize, Serialize};

use crate::error::{NormError, Result};
use crate::libsize::{FittedNormFactors, NormFactorsParams, TmmParams, UpperQuartileParams};
use crate::num;
use crate::step::{
    check_features, column_values, ensure, map_columns, rebuild, require_scale, sheet_column, Fit,
    NoParams, SheetColumn, Stage, StepReport, Transformer,
};

/// The normalization of a layer, selected by `method`.
///
/// ```toml
/// normalization = { method = "none" }
/// normalization = { method = "median" }                      # keep_level = true
/// normalization = { method = "quantile" }
/// normalization = { method = "tmm" }                         # edgeR defaults; output CPM
/// normalization = { method = "upper_quartile", p = 0.75 }    # output CPM
/// normalization = { method = "deseq2" }                      # output counts / size factor
/// normalization = { method = "total", per = 1e6 }            # CPM
/// normalization = { method = "dose", column = "particle_count", per = 1e9 }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum NormalizationParams {
    /// Leave values as they are.
    None(NoParams),
    /// Median centring per sample.
    Median(MedianParams),
    /// Quantile normalization (limma `normalizeQuantiles`).
    Quantile(QuantileParams),
    /// edgeR TMM factors; values become CPM with effective library sizes.
    Tmm(TmmParams),
    /// edgeR upper-quartile factors; values become CPM with effective library sizes.
    UpperQuartile(UpperQuartileParams),
    /// DESeq2 median-of-ratios size factors; values become counts / size factor.
    Deseq2(NoParams),
    /// Total count per sample; values become value / total × `per`.
    Total(TotalParams),
    /// Dose per sample from a sample-sheet column (MISEV: particles, protein mass, cell equivalents).
    Dose(DoseParams),
}

impl Default for NormalizationParams {
    fn default() -> Self {
        NormalizationParams::None(NoParams {})
    }
}

/// Median centring.
///
/// On log2 and other scales each sample's median (over cells with a value) is subtracted and the
/// learned level added: `x − median_j + level`. On linear and count scales the sample is divided
/// by its median and multiplied by the level. `level` is the mean of the training samples'
/// medians when `keep_level = true` (as Perseus' "subtract median" followed by adding back the
/// global level; this is also the Python peer's `x - med + med.mean()`), else 0 (log) or 1
/// (linear). A new sample is centred on its own median and the learned level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MedianParams {
    /// Keep the data's overall level (default true).
    pub keep_level: bool,
}

impl Default for MedianParams {
    fn default() -> Self {
        MedianParams { keep_level: true }
    }
}

/// Quantile normalization with limma's `normalizeQuantiles(A, ties = TRUE)` semantics (Bolstad
/// et al. 2003, *Bioinformatics* 19:185; Smyth & Speed 2003, *Methods* 31:265).
///
/// Fit: each training sample's sorted values (cells with a value) are interpolated onto the grid
/// `(0:(n−1))/(n−1)` of the n features and averaged into the target quantiles. Transform: a
/// sample's value of rank r among its m values (ties averaged, R `rank`) becomes the target
/// interpolated at `(r − 1)/(m − 1)`. Missing cells stay missing. For the training samples this
/// is exactly limma; a new sample is mapped onto the fitted target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct QuantileParams {}

/// Total-count normalization (counts per million when `per = 1e6`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TotalParams {
    /// The scale of the output, > 0 (default 1e6).
    pub per: f64,
}

impl Default for TotalParams {
    fn default() -> Self {
        TotalParams { per: 1e6 }
    }
}

/// Dose normalization (MISEV2018, Théry et al. 2018, *J Extracell Vesicles* 7:1535750, §
/// "quantification"; MISEV2023, Welsh et al. 2024, *J Extracell Vesicles* 13:e12404): each
/// sample is expressed per unit of input dose, `value / (dose / per)` on linear and count scales
/// and `value − log2(dose / per)` on log2. The dose comes from a numeric sheet column; it must
/// be > 0 for every sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DoseParams {
    /// Numeric sample-sheet column (default `particle_count`; also `protein_ug`,
    /// `cell_equivalents` or any numeric column).
    pub column: String,
    /// Dose unit, > 0 (default 1): `per = 1e9` gives values per 10⁹ particles.
    pub per: f64,
}

impl Default for DoseParams {
    fn default() -> Self {
        DoseParams {
            column: "particle_count".into(),
            per: 1.0,
        }
    }
}

impl NormalizationParams {
    /// Method name as written in the config.
    pub fn method(&self) -> &'static str {
        match self {
            NormalizationParams::None(_) => "none",
            NormalizationParams::Median(_) => "median",
            NormalizationParams::Quantile(_) => "quantile",
            NormalizationParams::Tmm(_) => "tmm",
            NormalizationParams::UpperQuartile(_) => "upper_quartile",
            NormalizationParams::Deseq2(_) => "deseq2",
            NormalizationParams::Total(_) => "total",
            NormalizationParams::Dose(_) => "dose",
        }
    }

    /// True for the methods that need linear values or counts (library-size scalings).
    pub fn needs_linear(&self) -> bool {
        matches!(
            self,
            NormalizationParams::Tmm(_)
                | NormalizationParams::UpperQuartile(_)
                | NormalizationParams::Deseq2(_)
                | NormalizationParams::Total(_)
        )
    }
}

const LINEAR: &[ValueScale] = &[ValueScale::Linear, ValueScale::Counts];
const LINEAR_HINT: &str = "library-size scalings work on counts or linear intensities: put no log transform before them, or use transform = { method = \"log_cpm\", norm_factors = { method = \"tmm\" } } for counts";

fn is_log(scale: ValueScale) -> bool {
    matches!(scale, ValueScale::Log2 | ValueScale::Other)
}

impl Fit for NormalizationParams {
    type Fitted = FittedNormalization;

    fn validate(&self) -> Result<()> {
        match self {
            NormalizationParams::None(_)
            | NormalizationParams::Median(_)
            | NormalizationParams::Quantile(_)
            | NormalizationParams::Deseq2(_) => Ok(()),
            NormalizationParams::Tmm(p) => {
                NormFactorsParams::Tmm(p.clone()).validate("normalization tmm")
            }
            NormalizationParams::UpperQuartile(p) => {
                NormFactorsParams::UpperQuartile(p.clone()).validate("normalization upper_quartile")
            }
            NormalizationParams::Total(p) => ensure(
                p.per.is_finite() && p.per > 0.0,
                "normalization total",
                "per",
                format!("is {}; use a positive scale such as 1e6", p.per),
            ),
            NormalizationParams::Dose(p) => {
                ensure(
                    !p.column.trim().is_empty(),
                    "normalization dose",
                    "column",
                    "is empty; name a numeric sheet column such as \"particle_count\" or \"protein_ug\"".into(),
                )?;
                ensure(
                    p.per.is_finite() && p.per > 0.0,
                    "normalization dose",
                    "per",
                    format!("is {}; use a positive dose unit such as 1 or 1e9", p.per),
                )
            }
        }
    }

    /// Median normalization of its own training data uses the sample medians it was fitted
    /// from instead of computing them again (the same numbers); other methods fit, then
    /// transform.
    fn fit_transform_owned(
        &self,
        assay: Assay,
        sheet: &SampleSheet,
    ) -> Result<(FittedNormalization, Assay, StepReport)> {
        let NormalizationParams::Median(p) = self else {
            let fitted = self.fit(&assay, sheet)?;
            let (out, report) = fitted.transform_owned(assay, sheet)?;
            return Ok((fitted, out, report));
        };
        self.validate()?;
        let (level, log_scale, meds) = fit_median(p, &assay)?;
        let fitted = FittedNormalization::Median { level, log_scale };
        let mut report = StepReport::new(Stage::Normalization, fitted.method(), &assay);
        record_medians(&mut report, &assay, &meds, level);
        let out = apply_median(assay, &meds, level, log_scale)?;
        Ok((fitted, out, report))
    }

    fn fit(&self, assay: &Assay, sheet: &SampleSheet) -> Result<FittedNormalization> {
        self.validate()?;
        match self {
            NormalizationParams::None(_) => Ok(FittedNormalization::None),
            NormalizationParams::Median(p) => {
                let (level, log_scale, _) = fit_median(p, assay)?;
                Ok(FittedNormalization::Median { level, log_scale })
            }
            NormalizationParams::Quantile(_) => fit_quantile(assay),
            NormalizationParams::Tmm(p) => {
                let step = "normalization tmm";
                require_scale(
                    step,
                    assay,
                    LINEAR,
                    "counts or linear intensities",
                    LINEAR_HINT,
                )?;
                Ok(FittedNormalization::LibSize {
                    factor_method: "tmm".into(),
                    factors: NormFactorsParams::Tmm(p.clone()).fit_in(step, assay)?,
                })
            }
            NormalizationParams::UpperQuartile(p) => {
                let step = "normalization upper_quartile";
                require_scale(
                    step,
                    assay,
                    LINEAR,
                    "counts or linear intensities",
                    LINEAR_HINT,
                )?;
                Ok(FittedNormalization::LibSize {
                    factor_method: "upper_quartile".into(),
                    factors: NormFactorsParams::UpperQuartile(p.clone()).fit_in(step, assay)?,
                })
            }
            NormalizationParams::Deseq2(_) => fit_deseq2(assay),
            NormalizationParams::Total(p) => {
                require_scale(
                    "normalization total",
                    assay,
                    LINEAR,
                    "counts or linear intensities",
                    LINEAR_HINT,
                )?;
                Ok(FittedNormalization::Total { per: p.per })
            }
            NormalizationParams::Dose(p) => {
                // check the column now so that a bad sheet fails at fit time
                doses("normalization dose", assay, sheet, &p.column, p.per)?;
                Ok(FittedNormalization::Dose {
                    column: p.column.clone(),
                    per: p.per,
                })
            }
        }
    }
}

/// Median normalization fitted on `assay` (its level and whether the scale is a log one), and
/// the sample medians it was fitted from.
fn fit_median(p: &MedianParams, assay: &Assay) -> Result<(f64, bool, Vec<f64>)> {
    let meds = sample_medians("normalization median", assay)?;
    let level = if p.keep_level {
        num::mean(&meds)
    } else if is_log(assay.scale()) {
        0.0
    } else {
        1.0
    };
    Ok((level, is_log(assay.scale()), meds))
}

fn sample_medians(step: &'static str, assay: &Assay) -> Result<Vec<f64>> {
    map_columns(assay, |j, v, _| {
            if v.is_empty() {
                return Err(NormError::Sample {
                    step,
                    layer: assay.name().to_string(),
                    sample: assay.samples()[j].clone(),
                    problem: "has no value; remove the sample or filter the layer first".into(),
                });
            }
            let m = num::median_in_place(v);
            if !is_log(assay.scale()) && m <= 0.0 {
                return Err(NormError::Sample {
                    step,
                    layer: assay.name().to_string(),
                    sample: assay.samples()[j].clone(),
                    problem: format!(
                        "median {m} is not positive, so a linear-scale sample cannot be divided by it; log-transform first"
                    ),
                });
            }
            Ok(m)
        })
        .into_iter()
        .collect()
}

fn fit_quantile(assay: &Assay) -> Result<FittedNormalization> {
    let step = "normalization quantile";
    let n = assay.n_features();
    if n < 2 {
        return Err(NormError::Layer {
            step,
            layer: assay.name().to_string(),
            problem: format!("has {n} feature(s); quantile normalization needs at least 2"),
        });
    }
    let grid: Vec<f64> = (0..n).map(|k| k as f64 / (n - 1) as f64).collect();
    let mut columns = Vec::with_capacity(assay.n_samples());
    for j in 0..assay.n_samples() {
        let mut v = column_values(assay, j);
        check_quantile_column(step, assay, j, v.len())?;
        num::sort(&mut v);
        if v.len() == n {
            columns.push(v);
        } else {
            let m = v.len();
            let x: Vec<f64> = (0..m).map(|k| k as f64 / (m - 1) as f64).collect();
            columns.push(grid.iter().map(|&g| num::approx(&x, &v, g)).collect());
        }
    }
    let target = (0..n)
        .map(|k| num::mean(&columns.iter().map(|c| c[k]).collect::<Vec<_>>()))
        .collect();
    Ok(FittedNormalization::Quantile {
        features: assay.features().ids().to_vec(),
        target,
    })
}

fn check_quantile_column(step: &'static str, assay: &Assay, j: usize, m: usize) -> Result<()> {
    if m < 2 {
        return Err(NormError::Sample {
            step,
            layer: assay.name().to_string(),
            sample: assay.samples()[j].clone(),
            problem: format!(
                "has {m} value(s); quantile normalization needs at least 2 per sample (filter the layer or drop the sample)"
            ),
        });
    }
    Ok(())
}

/// DESeq2 `estimateSizeFactorsForMatrix(type = "ratio")` (Anders & Huber 2010, *Genome Biol*
/// 11:R106; Love, Huber & Anders 2014, *Genome Biol* 15:550): per feature the mean log count over
/// the training samples; a sample's size factor is `exp(median(log x − loggeomean))` over the
/// features with a finite log geometric mean and a positive count in that sample. A feature with a
/// zero or missing count in any training sample has no geometric mean and is not used.
fn fit_deseq2(assay: &Assay) -> Result<FittedNormalization> {
    let step = "normalization deseq2";
    require_scale(
        step,
        assay,
        LINEAR,
        "counts or linear intensities",
        LINEAR_HINT,
    )?;
    crate::libsize::Counts::read(step, assay)?;
    let log_geo_means: Vec<Option<f64>> = (0..assay.n_features())
        .map(|i| {
            let logs: Vec<f64> = (0..assay.n_samples())
                .map(|j| assay.get(i, j).map_or(f64::NAN, f64::ln))
                .collect();
            let m = num::mean(&logs);
            m.is_finite().then_some(m)
        })
        .collect();
    if log_geo_means.iter().all(Option::is_none) {
        return Err(NormError::Layer {
            step,
            layer: assay.name().to_string(),
            problem: "every feature has a zero or missing count in some sample, so no geometric mean exists (DESeq2 stops here too); use normalization = { method = \"tmm\" } or \"upper_quartile\"".into(),
        });
    }
    Ok(FittedNormalization::Deseq2 {
        features: assay.features().ids().to_vec(),
        log_geo_means,
    })
}

fn doses(
    step: &'static str,
    assay: &Assay,
    sheet: &SampleSheet,
    column: &str,
    per: f64,
) -> Result<Vec<f64>> {
    let values = match sheet_column(step, assay, sheet, column, "column")? {
        SheetColumn::Numeric(v) => v,
        SheetColumn::Text(_) => {
            return Err(NormError::SheetValue {
                step,
                column: column.to_string(),
                sample: assay.samples().first().cloned().unwrap_or_default(),
                problem: "the column holds text, not numbers; a dose column must be numeric".into(),
            })
        }
    };
    values
        .iter()
        .zip(assay.samples())
        .map(|(v, s)| match v {
            Some(d) if *d > 0.0 => Ok(d / per),
            Some(d) => Err(NormError::SheetValue {
                step,
                column: column.to_string(),
                sample: s.clone(),
                problem: format!("dose {d} is not positive; a sample cannot be scaled by it"),
            }),
            None => Err(NormError::SheetValue {
                step,
                column: column.to_string(),
                sample: s.clone(),
                problem: "dose is empty; fill it in or drop the sample from the layer".into(),
            }),
        })
        .collect()
}

/// A fitted normalization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum FittedNormalization {
    /// Identity.
    None,
    /// Median centring onto a learned level.
    Median {
        /// The level every sample's median is moved to.
        level: f64,
        /// Whether the fitted layer was on a log scale (subtract) or linear (divide).
        log_scale: bool,
    },
    /// Quantile normalization onto fitted target quantiles.
    Quantile {
        /// Feature ids it was fitted on.
        features: Vec<String>,
        /// Target quantiles on the grid `(0:(n−1))/(n−1)`.
        target: Vec<f64>,
    },
    /// edgeR library-size factors; output CPM with effective library sizes.
    LibSize {
        /// `tmm` or `upper_quartile`.
        factor_method: String,
        /// The fitted factors.
        factors: FittedNormFactors,
    },
    /// DESeq2 median-of-ratios with fitted geometric means.
    Deseq2 {
        /// Feature ids it was fitted on.
        features: Vec<String>,
        /// Per feature: training log geometric mean, `None` when not usable.
        log_geo_means: Vec<Option<f64>>,
    },
    /// Value / total × per.
    Total {
        /// Output scale.
        per: f64,
    },
    /// Value per dose from a sheet column.
    Dose {
        /// The sheet column.
        column: String,
        /// Dose unit.
        per: f64,
    },
}

impl FittedNormalization {
    fn method(&self) -> &str {
        match self {
            FittedNormalization::None => "none",
            FittedNormalization::Median { .. } => "median",
            FittedNormalization::Quantile { .. } => "quantile",
            FittedNormalization::LibSize { factor_method, .. } => factor_method,
            FittedNormalization::Deseq2 { .. } => "deseq2",
            FittedNormalization::Total { .. } => "total",
            FittedNormalization::Dose { .. } => "dose",
        }
    }
}

/// The sample medians of median normalization (checked against the scale it was fitted on),
/// recorded in the report.
fn median_factors(
    assay: &Assay,
    level: f64,
    log_scale: bool,
    report: &mut StepReport,
) -> Result<Vec<f64>> {
    let step = "normalization median";
    if is_log(assay.scale()) != log_scale {
        return Err(NormError::Scale {
            step,
            layer: assay.name().to_string(),
            found: assay.scale().name(),
            needed: if log_scale {
                "a log scale (as when fitted)"
            } else {
                "a linear scale (as when fitted)"
            },
            hint: "transform the data with the same pipeline it was fitted with".into(),
        });
    }
    let meds = sample_medians(step, assay)?;
    record_medians(report, assay, &meds, level);
    Ok(meds)
}

fn record_medians(report: &mut StepReport, assay: &Assay, meds: &[f64], level: f64) {
    report.set_factors("median", assay, meds);
    report
        .notes
        .push(format!("sample medians moved to {level}"));
}

/// Median normalization of the working copy with its samples' medians `meds`.
fn apply_median(assay: Assay, meds: &[f64], level: f64, log_scale: bool) -> Result<Assay> {
    let scale = assay.scale();
    assay.rewrite(scale, |values, flags| {
        shift_by_median(values, flags, meds, level, log_scale);
        Ok::<(), NormError>(())
    })
}

/// Move every value-carrying cell by its sample's median: shifted to `level` on a log scale,
/// scaled to it on a linear one.
fn shift_by_median(
    values: &mut ndarray::Array2<f64>,
    flags: &ndarray::Array2<ValueFlag>,
    meds: &[f64],
    level: f64,
    log_scale: bool,
) {
    evomics_core::cells::for_each_cell(values, flags, |_, j, v, f| {
        if f.has_value() {
            *v = if log_scale {
                *v - meds[j] + level
            } else {
                *v / meds[j] * level
            };
        }
    });
}

/// Scale (linear) or shift (log) every value-carrying cell of column j.
fn apply_per_sample(
    assay: &Assay,
    values: &mut ndarray::Array2<f64>,
    f: impl Fn(usize, f64) -> f64,
) {
    for ((i, j), v) in values.indexed_iter_mut() {
        if assay.flags()[[i, j]].has_value() {
            *v = f(j, *v);
        }
    }
}

impl Transformer for FittedNormalization {
    fn transform_owned(&self, assay: Assay, sheet: &SampleSheet) -> Result<(Assay, StepReport)> {
        match self {
            FittedNormalization::None => {
                let report = StepReport::new(Stage::Normalization, self.method(), &assay);
                Ok((assay, report))
            }
            FittedNormalization::Median { level, log_scale } => {
                let mut report = StepReport::new(Stage::Normalization, self.method(), &assay);
                let meds = median_factors(&assay, *level, *log_scale, &mut report)?;
                let out = apply_median(assay, &meds, *level, *log_scale)?;
                Ok((out, report))
            }
            _ => self.transform_with_report(&assay, sheet),
        }
    }

    fn transform_with_report(
        &self,
        assay: &Assay,
        sheet: &SampleSheet,
    ) -> Result<(Assay, StepReport)> {
        let mut report = StepReport::new(Stage::Normalization, self.method(), assay);
        let mut values = assay.values().clone();
        let mut scale = assay.scale();
        match self {
            FittedNormalization::None => return Ok((assay.clone(), report)),
            FittedNormalization::Median { level, log_scale } => {
                let meds = median_factors(assay, *level, *log_scale, &mut report)?;
                shift_by_median(&mut values, assay.flags(), &meds, *level, *log_scale);
            }
            FittedNormalization::Quantile { features, target } => {
                let step = "normalization quantile";
                check_features(step, assay, features)?;
                let n = target.len();
                let grid: Vec<f64> = (0..n).map(|k| k as f64 / (n - 1) as f64).collect();
                for j in 0..assay.n_samples() {
                    let rows: Vec<usize> = (0..assay.n_features())
                        .filter(|&i| assay.flags()[[i, j]].has_value())
                        .collect();
                    check_quantile_column(step, assay, j, rows.len())?;
                    let vals: Vec<f64> = rows.iter().map(|&i| values[[i, j]]).collect();
                    let ranks = num::rank_average(&vals);
                    let m = (rows.len() - 1) as f64;
                    for (k, &i) in rows.iter().enumerate() {
                        values[[i, j]] = num::approx(&grid, target, (ranks[k] - 1.0) / m);
                    }
                }
            }
            FittedNormalization::LibSize { factors, .. } => {
                let step = "normalization library size";
                require_scale(
                    step,
                    assay,
                    LINEAR,
                    "counts or linear intensities",
                    LINEAR_HINT,
                )?;
                let (nf, lib) = factors.factors(step, assay)?;
                apply_per_sample(assay, &mut values, |j, v| v / (lib[j] * nf[j]) * 1e6);
                report.set_factors("norm_factor", assay, &nf);
                report
                    .notes
                    .push("values are counts per million of the effective library size (lib.size × norm.factors)".into());
                scale = ValueScale::Linear;
            }
            FittedNormalization::Deseq2 {
                features,
                log_geo_means,
            } => {
                let step = "normalization deseq2";
                require_scale(
                    step,
                    assay,
                    LINEAR,
                    "counts or linear intensities",
                    LINEAR_HINT,
                )?;
                check_features(step, assay, features)?;
                crate::libsize::Counts::read(step, assay)?;
                let mut sfs = Vec::with_capacity(assay.n_samples());
                for j in 0..assay.n_samples() {
                    let ratios: Vec<f64> = (0..assay.n_features())
                        .filter_map(|i| {
                            let lg = log_geo_means[i]?;
                            let x = assay.get(i, j)?;
                            (x > 0.0).then(|| x.ln() - lg)
                        })
                        .collect();
                    if ratios.is_empty() {
                        return Err(NormError::Sample {
                            step,
                            layer: assay.name().to_string(),
                            sample: assay.samples()[j].clone(),
                            problem: "no positive count on a feature with a geometric mean; its size factor is undefined".into(),
                        });
                    }
                    sfs.push(num::median(&ratios).exp());
                }
                apply_per_sample(assay, &mut values, |j, v| v / sfs[j]);
                report.set_factors("size_factor", assay, &sfs);
                scale = ValueScale::Linear;
            }
            FittedNormalization::Total { per } => {
                let step = "normalization total";
                require_scale(
                    step,
                    assay,
                    LINEAR,
                    "counts or linear intensities",
                    LINEAR_HINT,
                )?;
                let counts = crate::libsize::Counts::read(step, assay)?;
                apply_per_sample(assay, &mut values, |j, v| v / counts.lib[j] * per);
                report.set_factors("total", assay, &counts.lib);
                scale = ValueScale::Linear;
            }
            FittedNormalization::Dose { column, per } => {
                let step = "normalization dose";
                let d = doses(step, assay, sheet, column, *per)?;
                if is_log(assay.scale()) {
                    apply_per_sample(assay, &mut values, |j, v| v - d[j].log2());
                } else {
                    apply_per_sample(assay, &mut values, |j, v| v / d[j]);
                    if scale == ValueScale::Counts {
                        scale = ValueScale::Linear;
                    }
                }
                report.set_factors("dose", assay, &d);
            }
        }
        Ok((
            rebuild(assay, values, assay.flags().clone(), scale)?,
            report,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::{Features, LayerKind};
    use ndarray::{array, Array2};

    fn layer(rows: &[&[Option<f64>]], scale: ValueScale) -> Assay {
        let g = rows.len();
        let n = rows[0].len();
        let cells = Array2::from_shape_fn((g, n), |(i, j)| rows[i][j]);
        Assay::from_options(
            "l",
            LayerKind::Other,
            scale,
            Features::new((0..g).map(|i| format!("f{i}")).collect()).unwrap(),
            (0..n).map(|j| format!("s{j}")).collect(),
            &cells,
        )
        .unwrap()
    }

    fn sheet(n: usize) -> SampleSheet {
        SampleSheet::new((0..n).map(|j| format!("s{j}")).collect()).unwrap()
    }

    #[test]
    fn quantile_matches_limma_example() {
        // limma::normalizeQuantiles(cbind(c(5,2,3,4), c(4,1,4,2), c(3,4,6,8))): target
        // m = (2, 3, 14/3, 17/3); the tied 4s of column 2 have rank 3.5, i.e. position 2.5/3,
        // half-way between m[3] and m[4] = 31/6
        let s = |v: f64| Some(v);
        let a = layer(
            &[
                &[s(5.0), s(4.0), s(3.0)],
                &[s(2.0), s(1.0), s(4.0)],
                &[s(3.0), s(4.0), s(6.0)],
                &[s(4.0), s(2.0), s(8.0)],
            ],
            ValueScale::Log2,
        );
        let (_, out, _) = NormalizationParams::Quantile(QuantileParams {})
            .fit_transform(&a, &sheet(3))
            .unwrap();
        let want = array![
            [17.0 / 3.0, 31.0 / 6.0, 2.0],
            [2.0, 2.0, 3.0],
            [3.0, 31.0 / 6.0, 14.0 / 3.0],
            [14.0 / 3.0, 3.0, 17.0 / 3.0]
        ];
        for ((i, j), w) in want.indexed_iter() {
            assert!(
                (out.values()[[i, j]] - w).abs() < 1e-12,
                "{i},{j}: {}",
                out.values()[[i, j]]
            );
        }
    }

    #[test]
    fn quantile_with_missing_matches_limma() {
        // limma::normalizeQuantiles(cbind(c(1,2,3,NA), c(10,20,30,40))): column 1's sorted
        // values are interpolated onto the 4-point grid, approx(c(0,.5,1), 1:3, (0:3)/3)
        // = 1, 5/3, 7/3, 3, and averaged with 10, 20, 30, 40 into the target m
        let s = |v: f64| Some(v);
        let a = layer(
            &[
                &[s(1.0), s(10.0)],
                &[s(2.0), s(20.0)],
                &[s(3.0), s(30.0)],
                &[None, s(40.0)],
            ],
            ValueScale::Log2,
        );
        let (_, out, _) = NormalizationParams::Quantile(QuantileParams {})
            .fit_transform(&a, &sheet(2))
            .unwrap();
        let m = [
            5.5,
            (5.0 / 3.0 + 20.0) / 2.0,
            (7.0 / 3.0 + 30.0) / 2.0,
            21.5,
        ];
        // column 1 ranks 1,2,3 of 3 -> positions 0, .5, 1 on the 4-point grid
        assert!((out.get(0, 0).unwrap() - m[0]).abs() < 1e-12);
        let mid = m[1] + (m[2] - m[1]) * 0.5;
        assert!((out.get(1, 0).unwrap() - mid).abs() < 1e-12);
        assert!((out.get(2, 0).unwrap() - m[3]).abs() < 1e-12);
        assert_eq!(out.get(3, 0), None);
        assert!((out.get(3, 1).unwrap() - m[3]).abs() < 1e-12);
    }

    #[test]
    fn deseq2_size_factors() {
        // DESeq2: counts cbind(c(10,20,30), c(20,40,60)) -> geo means sqrt(200), ...; sf = 1/sqrt2, sqrt2
        let s = |v: f64| Some(v);
        let a = layer(
            &[
                &[s(10.0), s(20.0)],
                &[s(20.0), s(40.0)],
                &[s(30.0), s(60.0)],
            ],
            ValueScale::Counts,
        );
        let (_, out, rep) = NormalizationParams::Deseq2(NoParams {})
            .fit_transform(&a, &sheet(2))
            .unwrap();
        assert!((rep.sample_factors[0].value - 0.5_f64.sqrt()).abs() < 1e-12);
        assert!((rep.sample_factors[1].value - 2.0_f64.sqrt()).abs() < 1e-12);
        assert!((out.get(0, 0).unwrap() - out.get(0, 1).unwrap()).abs() < 1e-12);
    }

    #[test]
    fn dose_and_total() {
        let s = |v: f64| Some(v);
        let a = layer(&[&[s(10.0), s(40.0)], &[s(30.0), None]], ValueScale::Linear);
        let sh = SampleSheet::from_text_columns(
            vec!["s0".into(), "s1".into()],
            vec![(
                "protein_ug".into(),
                vec![Some("2".into()), Some("4".into())],
            )],
        )
        .unwrap();
        let p = NormalizationParams::Dose(DoseParams {
            column: "protein_ug".into(),
            per: 1.0,
        });
        let (_, out, _) = p.fit_transform(&a, &sh).unwrap();
        assert_eq!(out.get(0, 0), Some(5.0));
        assert_eq!(out.get(0, 1), Some(10.0));
        assert_eq!(out.get(1, 1), None);
        let (_, out, _) = NormalizationParams::Total(TotalParams { per: 100.0 })
            .fit_transform(&a, &sh)
            .unwrap();
        assert_eq!(out.get(0, 0), Some(25.0));
        assert_eq!(out.get(0, 1), Some(100.0));
        let e = NormalizationParams::Dose(DoseParams::default())
            .fit(&a, &sh)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("particle_count") && e.contains("protein_ug"),
            "{e}"
        );
    }

    #[test]
    fn library_size_methods_refuse_log_data() {
        let s = |v: f64| Some(v);
        let a = layer(&[&[s(10.0), s(40.0)], &[s(30.0), s(2.0)]], ValueScale::Log2);
        let e = NormalizationParams::Tmm(TmmParams::default())
            .fit(&a, &sheet(2))
            .unwrap_err()
            .to_string();
        assert!(e.contains("log2") && e.contains("log_cpm"), "{e}");
    }

    /// Median normalization fitted and applied in one step (the fit's sample medians reused)
    /// gives what fitting, then transforming, gives: the same fitted step, bits and report.
    #[test]
    fn median_fit_transform_reuses_the_fitted_medians() {
        let rows: &[&[Option<f64>]] = &[
            &[Some(2.0), Some(3.5), None, Some(1.25)],
            &[Some(4.0), None, Some(6.0), Some(2.5)],
            &[Some(8.0), Some(1.5), Some(0.75), None],
        ];
        for scale in [ValueScale::Log2, ValueScale::Linear] {
            for keep_level in [false, true] {
                let params = NormalizationParams::Median(MedianParams { keep_level });
                let a = layer(rows, scale);
                let fitted = params.fit(&a, &sheet(4)).unwrap();
                let (expected, expected_report) =
                    fitted.transform_owned(a.clone(), &sheet(4)).unwrap();
                let (f, out, report) = params.fit_transform_owned(a, &sheet(4)).unwrap();
                assert_eq!(f, fitted);
                assert_eq!(report, expected_report);
                assert_eq!(out.flags(), expected.flags());
                let bits = |x: &Assay| x.values().mapv(f64::to_bits);
                assert_eq!(
                    bits(&out),
                    bits(&expected),
                    "{scale:?} keep_level {keep_level}"
                );
            }
        }
    }
}
