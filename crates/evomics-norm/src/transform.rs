//! Value transforms: log2, edgeR log-CPM, centred log-ratio.

use evomics_core::{Assay, SampleSheet, ValueFlag, ValueScale};
use serde::{Deserialize, Serialize};

use crate::error::{NormError, Result};
use crate::libsize::{FittedNormFactors, NormFactorsParams};
use crate::num;
use crate::step::{ensure, rebuild, require_scale, Fit, NoParams, Stage, StepReport, Transformer};

/// The value transform of a layer, selected by `method`.
///
/// ```toml
/// transform = { method = "none" }
/// transform = { method = "log2" }                       # zeros become missing
/// transform = { method = "log2", pseudocount = 1 }      # log2(x + 1); zeros stay values
/// transform = { method = "log_cpm", prior_count = 2, norm_factors = { method = "tmm" } }
/// transform = { method = "clr" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum TransformParams {
    /// Leave values as they are.
    None(NoParams),
    /// log2 of linear intensities or counts.
    Log2(Log2Params),
    /// edgeR `cpm(y, log = TRUE, prior.count)` with normalized library sizes.
    LogCpm(LogCpmParams),
    /// Centred log-ratio per sample.
    Clr(ClrParams),
}

impl Default for TransformParams {
    fn default() -> Self {
        TransformParams::None(NoParams {})
    }
}

/// log2 transform parameters.
///
/// With `pseudocount = 0` (default) a zero becomes a missing cell (MaxQuant and FragPipe write 0
/// for "not quantified"), counted in the report; otherwise `log2(x + pseudocount)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Log2Params {
    /// Added before the log, ≥ 0 (default 0).
    pub pseudocount: f64,
}

/// log-CPM parameters: edgeR `cpm(y, log = TRUE, prior.count)` on a `DGEList` whose
/// `norm.factors` come from `calcNormFactors` (Robinson, McCarthy & Smyth 2010, *Bioinformatics*
/// 26:139; McCarthy, Chen & Smyth 2012, *NAR* 40:4288).
///
/// For sample j with library size L_j (sum of counts) and factor f_j, the effective library is
/// E_j = L_j·f_j; the prior is scaled as p_j = prior_count · E_j / mean(E) and
/// `logCPM = log2((y + p_j) / (E_j + 2·p_j) · 10^6)`. `mean(E)` is learned at fit time, so a new
/// sample's values depend only on itself and the fitted constants; for the training samples this
/// is exactly edgeR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogCpmParams {
    /// edgeR `prior.count`, > 0 (default 2).
    pub prior_count: f64,
    /// Library-size normalization factors (default TMM with edgeR's defaults).
    pub norm_factors: NormFactorsParams,
}

impl Default for LogCpmParams {
    fn default() -> Self {
        LogCpmParams {
            prior_count: 2.0,
            norm_factors: NormFactorsParams::default(),
        }
    }
}

/// Centred log-ratio (Aitchison 1986, *The Statistical Analysis of Compositional Data*), in log2
/// units as ALDEx2's `aldex.clr` (Fernandes et al. 2014, *Microbiome* 2:15):
/// `clr(x)_i = log2(x_i + pseudocount) − mean_k log2(x_k + pseudocount)` over the sample's cells
/// that carry a value. Zeros (with pseudocount 0) become missing, as under log2. The output scale
/// is `other`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ClrParams {
    /// Added before the log, ≥ 0 (default 0).
    pub pseudocount: f64,
}

impl TransformParams {
    /// Method name as written in the config.
    pub fn method(&self) -> &'static str {
        match self {
            TransformParams::None(_) => "none",
            TransformParams::Log2(_) => "log2",
            TransformParams::LogCpm(_) => "log_cpm",
            TransformParams::Clr(_) => "clr",
        }
    }

    /// The scale the transform produces, when it changes it.
    pub fn output_scale(&self) -> Option<ValueScale> {
        match self {
            TransformParams::None(_) => None,
            TransformParams::Log2(_) | TransformParams::LogCpm(_) => Some(ValueScale::Log2),
            TransformParams::Clr(_) => Some(ValueScale::Other),
        }
    }
}

const LINEAR: &[ValueScale] = &[ValueScale::Linear, ValueScale::Counts];

/// Fail unless the layer holds counts, as log-CPM needs.
fn require_counts(assay: &Assay) -> Result<()> {
    require_scale(
        "transform log_cpm",
        assay,
        &[ValueScale::Counts],
        "counts",
        "log-CPM is for read counts; for intensities use log2",
    )
}

/// Fit log-CPM; also returns the training samples' factors and library sizes.
fn fit_log_cpm(p: &LogCpmParams, assay: &Assay) -> Result<(FittedTransform, Vec<f64>, Vec<f64>)> {
    let step = "transform log_cpm";
    require_counts(assay)?;
    let (factors, nf, lib) = p.norm_factors.fit_factors(step, assay)?;
    let eff: Vec<f64> = lib.iter().zip(&nf).map(|(l, f)| l * f).collect();
    let fitted = FittedTransform::LogCpm {
        prior_count: p.prior_count,
        factors,
        mean_eff_lib: num::mean(&eff),
    };
    Ok((fitted, nf, lib))
}

/// log2 CPM with the given factors and library sizes (edgeR `cpm(log = TRUE)`), in place of
/// the layer's values: per sample `log2((x + prior) / (eff + 2·prior) · 1e6)` with
/// `eff = lib × nf` and the prior count scaled by `eff` over the training mean.
fn apply_log_cpm_owned(
    assay: Assay,
    fitted: &FittedTransform,
    nf: &[f64],
    lib: &[f64],
) -> Result<(Assay, StepReport)> {
    let FittedTransform::LogCpm {
        prior_count,
        factors,
        mean_eff_lib,
    } = fitted
    else {
        unreachable!("apply_log_cpm is only called with a fitted log-CPM transform")
    };
    let (prior_count, mean_eff_lib) = (*prior_count, *mean_eff_lib);
    let mut report = StepReport::new(Stage::Transform, "log_cpm", &assay);
    report.set_factors("norm_factor", &assay, nf);
    report.notes.push(format!(
        "library sizes × {} factors; prior count {prior_count} scaled by effective library size / {mean_eff_lib}",
        match &factors.kind {
            crate::libsize::FactorKind::None => "unit",
            crate::libsize::FactorKind::Tmm { .. } => "TMM",
            crate::libsize::FactorKind::UpperQuartile { .. } => "upper-quartile",
            crate::libsize::FactorKind::Rle { .. } => "RLE",
        }
    ));
    // Per-sample prior and denominator first, so that the cells are visited in memory order.
    let (prior, denom): (Vec<f64>, Vec<f64>) = lib
        .iter()
        .zip(nf)
        .map(|(l, f)| {
            let eff = l * f;
            let prior = prior_count * eff / mean_eff_lib;
            (prior, eff + 2.0 * prior)
        })
        .unzip();
    let log_cpm = |x: f64, j: usize| ((x + prior[j]) / denom[j] * 1e6).log2();
    // Whole counts below LOG_CPM_TABLE take their value from a table of each sample's
    // log-CPM of 0, 1, …: the same expression evaluated once per sample and count instead of
    // once per cell (on the L cohort nine in ten miRNA counts are below 256), so the bits are
    // those of the formula. Only for layers with more features than the table has counts.
    let n = prior.len();
    let table: Vec<f64> = if assay.n_features() > LOG_CPM_TABLE {
        (0..LOG_CPM_TABLE)
            .flat_map(|c| (0..n).map(move |j| log_cpm(c as f64, j)))
            .collect()
    } else {
        Vec::new()
    };
    let out = assay.rewrite(ValueScale::Log2, |values, flags| {
        evomics_core::cells::for_each_cell(values, flags, |_, j, x, f| {
            if f.has_value() {
                // A saturating cast: NaN, negative and huge values fail the range or the
                // equality test (before any index is formed from them).
                let c = *x as usize;
                let whole = c < LOG_CPM_TABLE && c as f64 == *x;
                *x = match whole.then(|| table.get(c * n + j)).flatten() {
                    Some(&t) => t,
                    None => log_cpm(*x, j),
                };
            }
        });
        Ok::<(), NormError>(())
    })?;
    Ok((out, report))
}

/// The whole counts (0, 1, …) whose log-CPM [`apply_log_cpm_owned`] tabulates per sample.
const LOG_CPM_TABLE: usize = 256;

impl Fit for TransformParams {
    type Fitted = FittedTransform;

    fn validate(&self) -> Result<()> {
        match self {
            TransformParams::None(_) => Ok(()),
            TransformParams::Log2(p) => ensure(
                p.pseudocount.is_finite() && p.pseudocount >= 0.0,
                "transform log2",
                "pseudocount",
                format!("is {}; use a number ≥ 0", p.pseudocount),
            ),
            TransformParams::Clr(p) => ensure(
                p.pseudocount.is_finite() && p.pseudocount >= 0.0,
                "transform clr",
                "pseudocount",
                format!("is {}; use a number ≥ 0", p.pseudocount),
            ),
            TransformParams::LogCpm(p) => {
                ensure(
                    p.prior_count.is_finite() && p.prior_count > 0.0,
                    "transform log_cpm",
                    "prior_count",
                    format!(
                        "is {}; use a positive count (edgeR default 2)",
                        p.prior_count
                    ),
                )?;
                p.norm_factors.validate("transform log_cpm norm_factors")
            }
        }
    }

    fn fit(&self, assay: &Assay, _sheet: &SampleSheet) -> Result<FittedTransform> {
        self.validate()?;
        match self {
            TransformParams::None(_) => Ok(FittedTransform::None),
            TransformParams::Log2(p) => {
                require_scale(
                    "transform log2",
                    assay,
                    LINEAR,
                    "linear intensities or counts",
                    "the layer is already on a log or other scale; use transform = { method = \"none\" }",
                )?;
                Ok(FittedTransform::Log2 {
                    pseudocount: p.pseudocount,
                })
            }
            TransformParams::Clr(p) => {
                require_scale(
                    "transform clr",
                    assay,
                    LINEAR,
                    "linear intensities or counts",
                    "CLR takes the log itself; give it the untransformed layer",
                )?;
                Ok(FittedTransform::Clr {
                    pseudocount: p.pseudocount,
                })
            }
            TransformParams::LogCpm(p) => Ok(fit_log_cpm(p, assay)?.0),
        }
    }

    fn fit_transform(
        &self,
        assay: &Assay,
        sheet: &SampleSheet,
    ) -> Result<(FittedTransform, Assay, StepReport)> {
        if let TransformParams::LogCpm(_) = self {
            // log-CPM writes a new matrix anyway: the owned path on a copy.
            return self.fit_transform_owned(assay.clone(), sheet);
        }
        let fitted = self.fit(assay, sheet)?;
        let (out, report) = fitted.transform_with_report(assay, sheet)?;
        Ok((fitted, out, report))
    }

    fn fit_transform_owned(
        &self,
        assay: Assay,
        sheet: &SampleSheet,
    ) -> Result<(FittedTransform, Assay, StepReport)> {
        if let TransformParams::LogCpm(p) = self {
            // The training samples' factors from the fit are the ones the transform would
            // compute again (TMM is the costly part of log-CPM).
            let (fitted, nf, lib) = fit_log_cpm(p, &assay)?;
            let (out, report) = apply_log_cpm_owned(assay, &fitted, &nf, &lib)?;
            return Ok((fitted, out, report));
        }
        let fitted = self.fit(&assay, sheet)?;
        let (out, report) = fitted.transform_owned(assay, sheet)?;
        Ok((fitted, out, report))
    }
}

/// A fitted transform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum FittedTransform {
    /// Identity.
    None,
    /// log2(x + pseudocount).
    Log2 {
        /// The pseudocount.
        pseudocount: f64,
    },
    /// edgeR log-CPM with fitted normalization factors.
    LogCpm {
        /// edgeR `prior.count`.
        prior_count: f64,
        /// The fitted library-size factors.
        factors: FittedNormFactors,
        /// Mean effective library size of the training samples (scales the prior).
        mean_eff_lib: f64,
    },
    /// Centred log-ratio.
    Clr {
        /// The pseudocount.
        pseudocount: f64,
    },
}

/// log2(x + pc) of every value-carrying cell; a cell whose argument is 0 loses its value.
fn log2_cells(
    step: &'static str,
    assay: &Assay,
    pc: f64,
) -> Result<(ndarray::Array2<f64>, ndarray::Array2<ValueFlag>, usize)> {
    check_log2(step, assay, pc)?;
    let mut values = assay.values().clone();
    let mut flags = assay.flags().clone();
    let lost = log2_in_place(&mut values, &mut flags, pc);
    Ok((values, flags, lost))
}

/// The first value-carrying cell whose log2(x + pc) is undefined (x + pc < 0), as an error.
fn check_log2(step: &'static str, assay: &Assay, pc: f64) -> Result<()> {
    crate::step::check_not_below(step, assay, pc, |v| {
        format!("value {v} is negative and has no logarithm; linear intensities and counts are ≥ 0")
    })
}

/// log2(x + pc) in place of every value-carrying cell (checked by [`check_log2`]); a cell
/// whose argument is 0 becomes missing. Returns how many did.
fn log2_in_place(
    values: &mut ndarray::Array2<f64>,
    flags: &mut ndarray::Array2<ValueFlag>,
    pc: f64,
) -> usize {
    evomics_core::cells::fold_row_blocks(
        values,
        flags,
        0,
        |_, v, fl| {
            let mut lost = 0;
            for (v, f) in v.iter_mut().zip(fl.iter_mut()) {
                if !f.has_value() {
                    continue;
                }
                let x = *v + pc;
                if x == 0.0 {
                    *f = ValueFlag::Missing;
                    lost += 1;
                } else {
                    *v = x.log2();
                }
            }
            lost
        },
        |a, b| a + b,
    )
}

/// The report of a log2 transform that made `lost` cells missing.
fn log2_report(assay: &Assay, lost: usize) -> StepReport {
    let mut report = StepReport::new(Stage::Transform, "log2", assay);
    report.cells_set_missing = lost;
    if lost > 0 {
        report.notes.push(format!(
            "{lost} zero value(s) became missing (log2 of 0 is undefined)"
        ));
    }
    report
}

impl Transformer for FittedTransform {
    fn transform_owned(&self, assay: Assay, sheet: &SampleSheet) -> Result<(Assay, StepReport)> {
        match self {
            FittedTransform::None => {
                let report = StepReport::new(Stage::Transform, "none", &assay);
                Ok((assay, report))
            }
            FittedTransform::Log2 { pseudocount } => {
                let step = "transform log2";
                require_scale(
                    step,
                    &assay,
                    LINEAR,
                    "linear intensities or counts",
                    "the layer is already on a log or other scale",
                )?;
                check_log2(step, &assay, *pseudocount)?;
                let mut lost = 0;
                let out = assay.rewrite(ValueScale::Log2, |values, flags| {
                    lost = log2_in_place(values, flags, *pseudocount);
                    Ok::<(), NormError>(())
                })?;
                // The layer's name and dimensions, all the report reads, are unchanged.
                let report = log2_report(&out, lost);
                Ok((out, report))
            }
            FittedTransform::LogCpm { factors, .. } => {
                require_counts(&assay)?;
                let (nf, lib) = factors.factors("transform log_cpm", &assay)?;
                apply_log_cpm_owned(assay, self, &nf, &lib)
            }
            FittedTransform::Clr { .. } => self.transform_with_report(&assay, sheet),
        }
    }

    fn transform_with_report(
        &self,
        assay: &Assay,
        sheet: &SampleSheet,
    ) -> Result<(Assay, StepReport)> {
        match self {
            FittedTransform::None => Ok((
                assay.clone(),
                StepReport::new(Stage::Transform, "none", assay),
            )),
            FittedTransform::Log2 { pseudocount } => {
                let step = "transform log2";
                require_scale(
                    step,
                    assay,
                    LINEAR,
                    "linear intensities or counts",
                    "the layer is already on a log or other scale",
                )?;
                let (values, flags, lost) = log2_cells(step, assay, *pseudocount)?;
                let report = log2_report(assay, lost);
                Ok((rebuild(assay, values, flags, ValueScale::Log2)?, report))
            }
            FittedTransform::Clr { pseudocount } => {
                let step = "transform clr";
                require_scale(
                    step,
                    assay,
                    LINEAR,
                    "linear intensities or counts",
                    "CLR takes the log itself",
                )?;
                let mut report = StepReport::new(Stage::Transform, "clr", assay);
                let (mut values, flags, lost) = log2_cells(step, assay, *pseudocount)?;
                report.cells_set_missing = lost;
                let mut centres = Vec::with_capacity(assay.n_samples());
                for j in 0..assay.n_samples() {
                    let logs: Vec<f64> = (0..assay.n_features())
                        .filter(|&i| flags[[i, j]].has_value())
                        .map(|i| values[[i, j]])
                        .collect();
                    if logs.is_empty() {
                        return Err(NormError::Sample {
                            step,
                            layer: assay.name().to_string(),
                            sample: assay.samples()[j].clone(),
                            problem: "no positive value; CLR needs at least one".into(),
                        });
                    }
                    let c = num::mean(&logs);
                    for i in 0..assay.n_features() {
                        if flags[[i, j]].has_value() {
                            values[[i, j]] -= c;
                        }
                    }
                    centres.push(c);
                }
                report.set_factors("mean_log2", assay, &centres);
                Ok((rebuild(assay, values, flags, ValueScale::Other)?, report))
            }
            FittedTransform::LogCpm { .. } => self.transform_owned(assay.clone(), sheet),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::{Features, LayerKind};
    use ndarray::array;

    fn lfq() -> Assay {
        let cells = array![
            [Some(8.0), Some(0.0), None],
            [Some(2.0), Some(4.0), Some(16.0)]
        ];
        Assay::from_options(
            "proteome",
            LayerKind::Proteome,
            ValueScale::Linear,
            Features::new(vec!["P1".into(), "P2".into()]).unwrap(),
            vec!["a".into(), "b".into(), "c".into()],
            &cells,
        )
        .unwrap()
    }

    fn sheet() -> SampleSheet {
        SampleSheet::new(vec!["a".into(), "b".into(), "c".into()]).unwrap()
    }

    #[test]
    fn log2_turns_zero_into_missing_and_counts_it() {
        let (_, out, rep) = TransformParams::Log2(Log2Params::default())
            .fit_transform(&lfq(), &sheet())
            .unwrap();
        assert_eq!(out.scale(), ValueScale::Log2);
        assert_eq!(out.get(0, 0), Some(3.0));
        assert_eq!(out.flags()[[0, 1]], ValueFlag::Missing);
        assert_eq!(out.flags()[[0, 2]], ValueFlag::Missing);
        assert_eq!(rep.cells_set_missing, 1);
        // applying it twice is refused
        let e = TransformParams::Log2(Log2Params::default())
            .fit(&out, &sheet())
            .unwrap_err()
            .to_string();
        assert!(e.contains("log2") && e.contains("already"), "{e}");
    }

    #[test]
    fn clr_centres_each_sample() {
        let (_, out, _) = TransformParams::Clr(ClrParams::default())
            .fit_transform(&lfq(), &sheet())
            .unwrap();
        // sample a: log2 8 = 3, log2 2 = 1, mean 2 -> 1, -1
        assert_eq!(out.get(0, 0), Some(1.0));
        assert_eq!(out.get(1, 0), Some(-1.0));
        // sample b: 0 becomes missing, the only value centres to 0
        assert_eq!(out.get(1, 1), Some(0.0));
        assert_eq!(out.scale(), ValueScale::Other);
    }

    #[test]
    fn log_cpm_without_factors_matches_formula() {
        let cells = array![[Some(10.0), Some(0.0)], [Some(30.0), Some(50.0)]];
        let a = Assay::from_options(
            "mirna",
            LayerKind::Mirna,
            ValueScale::Counts,
            Features::new(vec!["m1".into(), "m2".into()]).unwrap(),
            vec!["a".into(), "b".into()],
            &cells,
        )
        .unwrap();
        let sheet = SampleSheet::new(vec!["a".into(), "b".into()]).unwrap();
        let p = TransformParams::LogCpm(LogCpmParams {
            prior_count: 2.0,
            norm_factors: NormFactorsParams::None(Default::default()),
        });
        let (_, out, _) = p.fit_transform(&a, &sheet).unwrap();
        // libs 40, 50; mean 45; priors 2*40/45, 2*50/45
        let p0 = 2.0 * 40.0 / 45.0;
        let want = ((10.0 + p0) / (40.0 + 2.0 * p0) * 1e6_f64).log2();
        assert!((out.get(0, 0).unwrap() - want).abs() < 1e-12);
        let p1 = 2.0 * 50.0 / 45.0;
        let want = ((50.0 + p1) / (50.0 + 2.0 * p1) * 1e6_f64).log2();
        assert!((out.get(1, 1).unwrap() - want).abs() < 1e-12);
        // zero counts keep a value under log-CPM
        assert!(out.get(0, 1).is_some());
    }

    /// A miRNA count layer of `cells` (features m0…, samples s0…) and its sheet.
    fn count_layer(cells: &ndarray::Array2<Option<f64>>) -> (Assay, SampleSheet) {
        let (g, n) = cells.dim();
        let samples: Vec<String> = (0..n).map(|j| format!("s{j}")).collect();
        let a = Assay::from_options(
            "mirna",
            LayerKind::Mirna,
            ValueScale::Counts,
            Features::new((0..g).map(|i| format!("m{i}")).collect()).unwrap(),
            samples.clone(),
            cells,
        )
        .unwrap();
        (a, SampleSheet::new(samples).unwrap())
    }

    /// The tabulated whole counts give the bits of the formula: a layer with more features
    /// than the table has counts, whole and fractional counts on both sides of its end, −0.
    #[test]
    fn log_cpm_table_gives_the_formula_bit_for_bit() {
        let (g, n) = (LOG_CPM_TABLE + 40, 5);
        let cells = ndarray::Array2::from_shape_fn((g, n), |(i, j)| {
            let x = match (i + j) % 4 {
                0 => i as f64,
                1 => i as f64 + 0.5,
                2 if i % 3 == 0 => 1e20 + i as f64,
                2 => (i * 7 % 300) as f64,
                _ => -0.0,
            };
            (i % 17 != j).then_some(x)
        });
        let (a, sheet) = count_layer(&cells);
        for norm_factors in [
            NormFactorsParams::default(),
            NormFactorsParams::None(NoParams {}),
        ] {
            let params = LogCpmParams {
                prior_count: 2.0,
                norm_factors,
            };
            let (_, nf, lib) = fit_log_cpm(&params, &a).unwrap();
            let p = TransformParams::LogCpm(params);
            let (fitted, out, _) = p.fit_transform(&a, &sheet).unwrap();
            let FittedTransform::LogCpm { mean_eff_lib, .. } = fitted else {
                panic!("not log-CPM")
            };
            let mut tabulated = 0;
            for ((i, j), &v) in out.values().indexed_iter() {
                if !a.flags()[[i, j]].has_value() {
                    continue;
                }
                let x = a.values()[[i, j]];
                if x.fract() == 0.0 && x < LOG_CPM_TABLE as f64 {
                    tabulated += 1;
                }
                let eff = lib[j] * nf[j];
                let prior = 2.0 * eff / mean_eff_lib;
                let want = ((x + prior) / (eff + 2.0 * prior) * 1e6).log2();
                assert_eq!(v.to_bits(), want.to_bits(), "cell ({i}, {j}) = {x}");
            }
            assert!(tabulated > g, "{tabulated} cells were tabulated");
        }
    }

    /// log-CPM with TMM on a layer with missing cells: the fit-and-transform paths on a
    /// borrowed and on an owned layer, and the fitted transform applied afterwards, give the
    /// same bits (the first two reuse the fit's factors of the training samples).
    #[test]
    fn log_cpm_paths_agree_bit_for_bit() {
        let (g, n) = (40, 7);
        let cells = ndarray::Array2::from_shape_fn((g, n), |(i, j)| {
            let x = ((i * 37 + j * 11) % 23) as f64 * (1.0 + (i % 5) as f64) + (j % 3) as f64;
            ((i + 2 * j) % 13 != 0).then_some(x)
        });
        let (a, sheet) = count_layer(&cells);
        let p = TransformParams::LogCpm(LogCpmParams {
            prior_count: 2.0,
            norm_factors: NormFactorsParams::default(),
        });
        let (fitted, out, report) = p.fit_transform(&a, &sheet).unwrap();
        let (fitted_owned, out_owned, report_owned) =
            p.fit_transform_owned(a.clone(), &sheet).unwrap();
        assert_eq!(fitted, fitted_owned);
        assert_eq!(report, report_owned);
        let again = fitted.transform(&a, &sheet).unwrap();
        let again_owned = fitted.transform_owned(a.clone(), &sheet).unwrap().0;
        for b in [&out_owned, &again, &again_owned] {
            assert_eq!(out.flags(), b.flags());
            assert!(out
                .values()
                .iter()
                .zip(b.values())
                .all(|(x, y)| x.to_bits() == y.to_bits()));
        }
        assert!(out.flags().iter().any(|f| !f.has_value()));
    }
}
