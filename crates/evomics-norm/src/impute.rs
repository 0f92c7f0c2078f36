//! Missing-value imputation: Perseus down-shift, MinDet, feature-wise KNN and QRILC.
//!
//! Imputation fills the cells that carry no value (flag missing or below detection) and flags
//! them [`ValueFlag::Imputed`]; observed values are never changed. The stochastic methods draw
//! from the ChaCha8 stream of `derive_seed(seed, "<method>/<sample id>")`, one stream per
//! sample, so a sample's imputed values depend only on the seed, the sample and its own values:
//! the same inputs and seed give byte-identical outputs, whatever other samples are transformed
//! alongside.

use evomics_core::rng::{derive_seed, seeded};
use evomics_core::{Assay, SampleSheet, ValueFlag, ValueScale};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::error::{NormError, Result};
use crate::num;
use crate::step::{
    check_features, ensure, map_columns, rebuild, Fit, NoParams, SampleCount, Stage, StepReport,
    Transformer,
};

/// The imputation of a layer, selected by `method`.
///
/// ```toml
/// imputation = { method = "none" }
/// imputation = { method = "down_shift", width = 0.3, shift = 1.8, seed = 1 }
/// imputation = { method = "min_det", q = 0.01 }
/// imputation = { method = "knn", k = 10, rowmax = 0.5, colmax = 0.8 }
/// imputation = { method = "qrilc", tune_sigma = 1.0, seed = 1 }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum ImputationParams {
    /// No imputation: missing cells stay missing.
    None(NoParams),
    /// Perseus "replace missing values from normal distribution" (also called MinProb by the
    /// Python peer; not imputeLCMD's `impute.MinProb`).
    #[serde(alias = "min_prob", alias = "perseus")]
    DownShift(DownShiftParams),
    /// imputeLCMD `impute.MinDet`.
    MinDet(MinDetParams),
    /// Feature-wise k-nearest-neighbour imputation in the style of `impute::impute.knn`.
    Knn(KnnParams),
    /// imputeLCMD `impute.QRILC`.
    Qrilc(QrilcParams),
}

impl Default for ImputationParams {
    fn default() -> Self {
        ImputationParams::None(NoParams {})
    }
}

/// The default seed of the stochastic imputations.
pub const DEFAULT_SEED: u64 = 20240601;

/// Perseus down-shift imputation (Tyanova et al. 2016, *Nat Methods* 13:731, "Replace missing
/// values from normal distribution", defaults width 0.3, down shift 1.8, mode "separately for
/// each column"): for each sample with mean μ and standard deviation σ (n − 1) of its observed
/// values, every missing cell gets an independent draw from N(μ − shift·σ, (width·σ)²).
/// Nothing is learned at fit time: a new sample is imputed from its own values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DownShiftParams {
    /// Width of the imputation distribution in units of the sample's σ, > 0 (default 0.3).
    pub width: f64,
    /// Down shift of its centre in units of σ, ≥ 0 (default 1.8).
    pub shift: f64,
    /// Seed of the draws (default [`DEFAULT_SEED`]).
    pub seed: u64,
}

impl Default for DownShiftParams {
    fn default() -> Self {
        DownShiftParams {
            width: 0.3,
            shift: 1.8,
            seed: DEFAULT_SEED,
        }
    }
}

/// MinDet (Lazar et al. 2016, *J Proteome Res* 15:1116; imputeLCMD `impute.MinDet`): every
/// missing cell of a sample gets the q-quantile (R type 7) of the sample's observed values.
/// Deterministic; nothing is learned at fit time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MinDetParams {
    /// The quantile, in [0, 1) (default 0.01).
    pub q: f64,
}

impl Default for MinDetParams {
    fn default() -> Self {
        MinDetParams { q: 0.01 }
    }
}

/// The largest `k` of [`KnnParams`]: a bound checked before any data is read.
pub const MAX_KNN_K: usize = 10_000;

/// Feature-wise KNN imputation after Troyanskaya et al. 2001 (*Bioinformatics* 17:520) as
/// implemented by `impute::impute.knn` (Hastie, Tibshirani, Narasimhan, Chu), documented exactly:
///
/// 1. `colmax`: a training sample with more than this fraction missing is an error.
/// 2. `rowmax`: a feature with more than this fraction of training samples missing is imputed
///    with the sample's mean (mean of that sample's observed values), not by neighbours.
/// 3. Distance between features a and b: the mean of (a_s − b_s)² over the training samples s
///    where both are observed (impute.knn's averaged Euclidean distance); pairs with no common
///    sample are not neighbours. Candidates are the features within `rowmax`.
/// 4. Each feature's `k` nearest features (ties by feature order) are learned at fit time.
/// 5. A missing cell of feature a in sample s is the unweighted mean of the observed values in s
///    of a's k neighbours; if none of them is observed in s, the sample's mean.
///
/// Unlike impute.knn there is no two-means pre-clustering of large matrices (`maxp`), so the
/// result does not depend on a random start. Neighbours come from the training samples, so a
/// new sample is imputed from its own values of the learned neighbours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnnParams {
    /// Number of neighbours, 1 to 10,000 (default 10, as impute.knn).
    pub k: usize,
    /// Maximum missing fraction of a feature imputed by neighbours, in [0, 1] (default 0.5).
    pub rowmax: f64,
    /// Maximum missing fraction of a training sample, in [0, 1] (default 0.8).
    pub colmax: f64,
}

impl Default for KnnParams {
    fn default() -> Self {
        KnnParams {
            k: 10,
            rowmax: 0.5,
            colmax: 0.8,
        }
    }
}

/// QRILC, quantile regression imputation of left-censored data (Lazar et al. 2016, *J Proteome
/// Res* 15:1116; imputeLCMD `impute.QRILC`), per sample:
///
/// with p the sample's missing fraction, regress (least squares, as imputeLCMD's `lm`) the
/// observed values' type-7 quantiles at `seq(0.001, 0.991, 0.01)` on the standard normal
/// quantiles at `seq(p + 0.001, 0.991, (0.99 − p)/99)`; intercept μ and slope σ describe the
/// complete-data distribution. Missing cells are drawn from N(μ, (σ·tune_sigma)²) truncated above
/// at `qnorm(p + 0.001, μ, σ)`, by inverse-CDF sampling.
///
/// imputeLCMD passes `sd·tune.sigma` to `tmvtnorm::rtmvnorm` as the *covariance*, so its draws
/// have standard deviation √(σ·tune_sigma); `imputelcmd_sigma = true` reproduces that; the
/// default follows the paper's N(μ, σ²). Draws cannot equal R's (different generator).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QrilcParams {
    /// Multiplier of σ, > 0 (default 1).
    pub tune_sigma: f64,
    /// Use imputeLCMD's variance quirk (see above) (default false).
    pub imputelcmd_sigma: bool,
    /// Seed of the draws (default [`DEFAULT_SEED`]).
    pub seed: u64,
}

impl Default for QrilcParams {
    fn default() -> Self {
        QrilcParams {
            tune_sigma: 1.0,
            imputelcmd_sigma: false,
            seed: DEFAULT_SEED,
        }
    }
}

impl ImputationParams {
    /// Method name as written in the config.
    pub fn method(&self) -> &'static str {
        match self {
            ImputationParams::None(_) => "none",
            ImputationParams::DownShift(_) => "down_shift",
            ImputationParams::MinDet(_) => "min_det",
            ImputationParams::Knn(_) => "knn",
            ImputationParams::Qrilc(_) => "qrilc",
        }
    }
}

impl Fit for ImputationParams {
    type Fitted = FittedImputation;

    fn validate(&self) -> Result<()> {
        match self {
            ImputationParams::None(_) => Ok(()),
            ImputationParams::DownShift(p) => {
                let step = "imputation down_shift";
                ensure(
                    p.width.is_finite() && p.width > 0.0,
                    step,
                    "width",
                    format!(
                        "is {}; use a positive width in σ units (Perseus default 0.3)",
                        p.width
                    ),
                )?;
                ensure(
                    p.shift.is_finite() && p.shift >= 0.0,
                    step,
                    "shift",
                    format!(
                        "is {}; use a shift ≥ 0 in σ units (Perseus default 1.8)",
                        p.shift
                    ),
                )
            }
            ImputationParams::MinDet(p) => ensure(
                (0.0..1.0).contains(&p.q),
                "imputation min_det",
                "q",
                format!("is {}; use a quantile in [0, 1) (default 0.01)", p.q),
            ),
            ImputationParams::Knn(p) => {
                let step = "imputation knn";
                ensure(p.k >= 1, step, "k", "is 0; use at least 1 neighbour".into())?;
                ensure(
                    p.k <= MAX_KNN_K,
                    step,
                    "k",
                    format!(
                        "is {}; use at most {MAX_KNN_K} neighbours (impute.knn's default is 10)",
                        p.k
                    ),
                )?;
                ensure(
                    (0.0..=1.0).contains(&p.rowmax),
                    step,
                    "rowmax",
                    format!("is {}; use a fraction in [0, 1] (default 0.5)", p.rowmax),
                )?;
                ensure(
                    (0.0..=1.0).contains(&p.colmax),
                    step,
                    "colmax",
                    format!("is {}; use a fraction in [0, 1] (default 0.8)", p.colmax),
                )
            }
            ImputationParams::Qrilc(p) => ensure(
                p.tune_sigma.is_finite() && p.tune_sigma > 0.0,
                "imputation qrilc",
                "tune_sigma",
                format!("is {}; use a positive multiplier (default 1)", p.tune_sigma),
            ),
        }
    }

    fn fit(&self, assay: &Assay, _sheet: &SampleSheet) -> Result<FittedImputation> {
        self.validate()?;
        Ok(match self {
            ImputationParams::None(_) => FittedImputation::None,
            ImputationParams::DownShift(p) => FittedImputation::DownShift(p.clone()),
            ImputationParams::MinDet(p) => FittedImputation::MinDet(p.clone()),
            ImputationParams::Qrilc(p) => FittedImputation::Qrilc(p.clone()),
            ImputationParams::Knn(p) => FittedImputation::Knn(fit_knn(p, assay)?),
        })
    }
}

/// A fitted imputation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum FittedImputation {
    /// No imputation.
    None,
    /// Per-sample down-shift draws.
    DownShift(DownShiftParams),
    /// Per-sample low quantile.
    MinDet(MinDetParams),
    /// KNN with learned neighbours.
    Knn(FittedKnn),
    /// Per-sample QRILC draws.
    Qrilc(QrilcParams),
}

/// Neighbours learned by KNN imputation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedKnn {
    /// The parameters.
    pub params: KnnParams,
    /// Feature ids it was fitted on.
    pub features: Vec<String>,
    /// Per feature: indices of its k nearest features, nearest first; `None` when the feature
    /// had more than `rowmax` missing in training and is imputed with the sample mean.
    pub neighbours: Vec<Option<Vec<usize>>>,
}

fn fit_knn(p: &KnnParams, assay: &Assay) -> Result<FittedKnn> {
    let step = "imputation knn";
    let (g, n) = (assay.n_features(), assay.n_samples());
    for j in 0..n {
        let miss = (0..g).filter(|&i| assay.get(i, j).is_none()).count();
        if g > 0 && miss as f64 / g as f64 > p.colmax {
            return Err(NormError::Sample {
                step,
                layer: assay.name().to_string(),
                sample: assay.samples()[j].clone(),
                problem: format!(
                    "{miss} of {g} values missing, more than colmax = {}; drop the sample or raise colmax",
                    p.colmax
                ),
            });
        }
    }
    let observed: Vec<Vec<Option<f64>>> = (0..g)
        .map(|i| (0..n).map(|j| assay.get(i, j)).collect())
        .collect();
    let within: Vec<bool> = observed
        .iter()
        .map(|r| n > 0 && (r.iter().filter(|v| v.is_none()).count() as f64 / n as f64) <= p.rowmax)
        .collect();
    let neighbours = (0..g)
        .map(|a| {
            if !within[a] {
                return None;
            }
            let mut d: Vec<(f64, usize)> = (0..g)
                .filter(|&b| b != a && within[b])
                .filter_map(|b| {
                    let mut s = 0.0;
                    let mut c = 0usize;
                    for (x, y) in observed[a].iter().zip(&observed[b]) {
                        if let (Some(x), Some(y)) = (x, y) {
                            s += (x - y) * (x - y);
                            c += 1;
                        }
                    }
                    (c > 0).then(|| (s / c as f64, b))
                })
                .collect();
            d.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            Some(d.into_iter().take(p.k).map(|(_, b)| b).collect())
        })
        .collect();
    Ok(FittedKnn {
        params: p.clone(),
        features: assay.features().ids().to_vec(),
        neighbours,
    })
}

impl FittedImputation {
    fn method(&self) -> &'static str {
        match self {
            FittedImputation::None => "none",
            FittedImputation::DownShift(_) => "down_shift",
            FittedImputation::MinDet(_) => "min_det",
            FittedImputation::Knn(_) => "knn",
            FittedImputation::Qrilc(_) => "qrilc",
        }
    }

    fn step(&self) -> &'static str {
        match self {
            FittedImputation::None => "imputation none",
            FittedImputation::DownShift(_) => "imputation down_shift",
            FittedImputation::MinDet(_) => "imputation min_det",
            FittedImputation::Knn(_) => "imputation knn",
            FittedImputation::Qrilc(_) => "imputation qrilc",
        }
    }
}

fn sample_error(step: &'static str, assay: &Assay, j: usize, problem: String) -> NormError {
    NormError::Sample {
        step,
        layer: assay.name().to_string(),
        sample: assay.samples()[j].clone(),
        problem,
    }
}

/// Mean and σ (n − 1) of a sample's observed values, or an error naming the sample.
fn mean_sd(step: &'static str, assay: &Assay, j: usize, obs: &[f64]) -> Result<(f64, f64)> {
    match num::mean_var(obs) {
        (m, Some(v)) if v > 0.0 => Ok((m, v.sqrt())),
        _ => Err(sample_error(
            step,
            assay,
            j,
            format!(
                "has {} observed value(s) with no spread; this imputation needs at least 2 different values per sample",
                obs.len()
            ),
        )),
    }
}

/// A truncated-normal draw on (−∞, upper] by inverse CDF.
fn truncated_normal(rng: &mut evomics_core::rng::Rng, mean: f64, sd: f64, upper: f64) -> f64 {
    let std = Normal::standard();
    let pu = std.cdf((upper - mean) / sd);
    let u = num::open_uniform(rng);
    if pu <= 0.0 {
        // all the mass sits at the bound, further out than doubles resolve
        return upper;
    }
    let p = (u * pu).max(f64::MIN_POSITIVE);
    (mean + sd * std.inverse_cdf(p)).min(upper)
}

/// QRILC's complete-data mean and sd for one sample (imputeLCMD's regression), and the
/// truncation point.
fn qrilc_fit(
    step: &'static str,
    assay: &Assay,
    j: usize,
    obs: &[f64],
    p_na: f64,
) -> Result<(f64, f64, f64)> {
    let upper_q = 0.99;
    if obs.len() < 2 || p_na >= upper_q {
        return Err(sample_error(
            step,
            assay,
            j,
            format!(
                "has {} observed value(s) ({:.1}% missing); QRILC needs at least 2 and under 99% missing",
                obs.len(),
                100.0 * p_na
            ),
        ));
    }
    let std = Normal::standard();
    let pn = num::seq_by(
        p_na + 0.001,
        upper_q + 0.001,
        (upper_q - p_na) / (upper_q * 100.0),
    );
    let ps = num::seq_by(0.001, upper_q + 0.001, 0.01);
    let m = pn.len().min(ps.len());
    let mut sorted = obs.to_vec();
    num::sort(&mut sorted);
    let x: Vec<f64> = pn[..m].iter().map(|&p| std.inverse_cdf(p)).collect();
    let y: Vec<f64> = ps[..m]
        .iter()
        .map(|&p| num::quantile7_sorted(&sorted, p))
        .collect();
    let (mx, my) = (num::mean(&x), num::mean(&y));
    let sxy = num::sum(x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)));
    let sxx = num::sum(x.iter().map(|a| (a - mx) * (a - mx)));
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    if !(slope > 0.0 && intercept.is_finite()) {
        return Err(sample_error(
            step,
            assay,
            j,
            "its observed values have no spread, so QRILC's quantile regression has no positive slope".into(),
        ));
    }
    let upper = intercept + slope * std.inverse_cdf(p_na + 0.001);
    Ok((intercept, slope, upper))
}

impl Transformer for FittedImputation {
    fn transform_owned(&self, assay: Assay, _sheet: &SampleSheet) -> Result<(Assay, StepReport)> {
        match self {
            FittedImputation::None => {
                let report = StepReport::new(Stage::Imputation, self.method(), &assay);
                Ok((assay, report))
            }
            _ => {
                let (fills, report) = self.fills(&assay)?;
                let scale = assay.scale();
                let out = assay.rewrite(scale, |values, flags| {
                    fill_in(values, flags, &fills);
                    Ok::<(), NormError>(())
                })?;
                Ok((out, report))
            }
        }
    }

    fn transform_with_report(
        &self,
        assay: &Assay,
        _sheet: &SampleSheet,
    ) -> Result<(Assay, StepReport)> {
        if matches!(self, FittedImputation::None) {
            let report = StepReport::new(Stage::Imputation, self.method(), assay);
            return Ok((assay.clone(), report));
        }
        let (fills, report) = self.fills(assay)?;
        let mut values = assay.values().clone();
        let mut flags = assay.flags().clone();
        fill_in(&mut values, &mut flags, &fills);
        let scale = assay.scale();
        Ok((rebuild(assay, values, flags, scale)?, report))
    }
}

/// Write each sample's imputed values (its rows and values) into the matrices, flagged imputed.
fn fill_in(
    values: &mut ndarray::Array2<f64>,
    flags: &mut ndarray::Array2<ValueFlag>,
    fills: &[(Vec<usize>, Vec<f64>)],
) {
    for (j, (holes, fill)) in fills.iter().enumerate() {
        for (&i, &v) in holes.iter().zip(fill) {
            values[[i, j]] = v;
            flags[[i, j]] = ValueFlag::Imputed;
        }
    }
}

impl FittedImputation {
    /// The cells each sample gets (rows without a value, values drawn for them) and the report.
    #[allow(clippy::type_complexity)]
    fn fills(&self, assay: &Assay) -> Result<(Vec<(Vec<usize>, Vec<f64>)>, StepReport)> {
        let step = self.step();
        let mut report = StepReport::new(Stage::Imputation, self.method(), assay);
        if matches!(assay.scale(), ValueScale::Counts) && !matches!(self, FittedImputation::Knn(_))
        {
            report.notes.push(
                "imputing a count layer with a left-censored model; these methods are meant for log intensities".into(),
            );
        }
        let (g, n) = (assay.n_features(), assay.n_samples());
        if let FittedImputation::Knn(k) = self {
            check_features(step, assay, &k.features)?;
        }
        // Samples are imputed in blocks of columns on the worker threads (`map_columns`); every
        // sample draws from its own seeded stream, so the result does not depend on the thread
        // count. Errors are reported for the first sample in order.
        let filled: Vec<Result<(Vec<usize>, Vec<f64>)>> = map_columns(assay, |j, obs, holes| {
            let holes: Vec<usize> = holes.iter().map(|&i| i as usize).collect();
            if holes.is_empty() {
                return Ok((holes, Vec::new()));
            }
            let fill: Vec<f64> = match self {
                FittedImputation::None => Vec::new(),
                FittedImputation::DownShift(p) => {
                    let (mu, sd) = mean_sd(step, assay, j, obs)?;
                    let mut rng = seeded(derive_seed(
                        p.seed,
                        &format!("down_shift/{}", assay.samples()[j]),
                    ));
                    let centre = mu - p.shift * sd;
                    let spread = p.width * sd;
                    holes
                        .iter()
                        .map(|_| centre + spread * num::standard_normal(&mut rng))
                        .collect()
                }
                FittedImputation::MinDet(p) => {
                    if obs.is_empty() {
                        return Err(sample_error(
                            step,
                            assay,
                            j,
                            "has no observed value; MinDet needs at least one".into(),
                        ));
                    }
                    let v = num::quantile7(obs, p.q);
                    vec![v; holes.len()]
                }
                FittedImputation::Qrilc(p) => {
                    let p_na = holes.len() as f64 / g as f64;
                    let (mu, sd, upper) = qrilc_fit(step, assay, j, obs, p_na)?;
                    let draw_sd = if p.imputelcmd_sigma {
                        (sd * p.tune_sigma).sqrt()
                    } else {
                        sd * p.tune_sigma
                    };
                    let mut rng = seeded(derive_seed(
                        p.seed,
                        &format!("qrilc/{}", assay.samples()[j]),
                    ));
                    holes
                        .iter()
                        .map(|_| truncated_normal(&mut rng, mu, draw_sd, upper))
                        .collect()
                }
                FittedImputation::Knn(k) => {
                    if obs.is_empty() {
                        return Err(sample_error(step, assay, j, "has no observed value; KNN falls back to the sample mean and needs at least one".into()));
                    }
                    let sample_mean = num::mean(obs);
                    holes
                        .iter()
                        .map(|&i| match &k.neighbours[i] {
                            None => sample_mean,
                            Some(nb) => {
                                let v: Vec<f64> =
                                    nb.iter().filter_map(|&b| assay.get(b, j)).collect();
                                if v.is_empty() {
                                    sample_mean
                                } else {
                                    num::mean(&v)
                                }
                            }
                        })
                        .collect()
                }
            };
            for (&i, v) in holes.iter().zip(&fill) {
                if !v.is_finite() {
                    return Err(NormError::Cell {
                        step,
                        layer: assay.name().to_string(),
                        feature: assay.features().ids()[i].clone(),
                        sample: assay.samples()[j].clone(),
                        problem: format!("imputed value is {v}"),
                    });
                }
            }
            Ok((holes, fill))
        });
        let mut counts = Vec::with_capacity(n);
        let mut fills = Vec::with_capacity(n);
        for (j, sample) in filled.into_iter().enumerate() {
            let (holes, fill) = sample?;
            counts.push(SampleCount {
                sample: assay.samples()[j].clone(),
                count: holes.len(),
            });
            fills.push((holes, fill));
        }
        report.imputed_per_sample = counts;
        Ok((fills, report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::column_values;
    use evomics_core::{Features, LayerKind};
    use ndarray::Array2;

    fn layer(g: usize, n: usize, miss_every: usize) -> Assay {
        let cells = Array2::from_shape_fn((g, n), |(i, j)| {
            if (i * n + j).is_multiple_of(miss_every) {
                None
            } else {
                Some(20.0 + (i as f64) * 0.37 + (j as f64) * 0.11 + ((i * 7 + j * 3) % 5) as f64)
            }
        });
        Assay::from_options(
            "proteome",
            LayerKind::Proteome,
            ValueScale::Log2,
            Features::new((0..g).map(|i| format!("P{i}")).collect()).unwrap(),
            (0..n).map(|j| format!("S{j}")).collect(),
            &cells,
        )
        .unwrap()
    }

    fn sheet(n: usize) -> SampleSheet {
        SampleSheet::new((0..n).map(|j| format!("S{j}")).collect()).unwrap()
    }

    fn all_methods() -> Vec<ImputationParams> {
        vec![
            ImputationParams::DownShift(DownShiftParams::default()),
            ImputationParams::MinDet(MinDetParams::default()),
            ImputationParams::Knn(KnnParams {
                k: 3,
                ..Default::default()
            }),
            ImputationParams::Qrilc(QrilcParams::default()),
        ]
    }

    #[test]
    fn fills_every_hole_and_keeps_observed() {
        let a = layer(30, 6, 7);
        for p in all_methods() {
            let (_, out, rep) = p.fit_transform(&a, &sheet(6)).unwrap();
            assert_eq!(out.flag_counts().missing, 0, "{p:?}");
            assert_eq!(rep.imputed_total(), a.flag_counts().missing);
            for ((i, j), f) in a.flags().indexed_iter() {
                if *f == ValueFlag::Observed {
                    assert_eq!(out.values()[[i, j]].to_bits(), a.values()[[i, j]].to_bits());
                    assert_eq!(out.flags()[[i, j]], ValueFlag::Observed);
                } else {
                    assert_eq!(out.flags()[[i, j]], ValueFlag::Imputed);
                }
            }
        }
    }

    #[test]
    fn down_shift_draws_sit_low() {
        let a = layer(200, 4, 3);
        let (_, out, _) = ImputationParams::DownShift(DownShiftParams::default())
            .fit_transform(&a, &sheet(4))
            .unwrap();
        for j in 0..4 {
            let obs = column_values(&a, j);
            let (mu, sd) = (num::mean(&obs), num::var(&obs).unwrap().sqrt());
            let imp: Vec<f64> = (0..200)
                .filter(|&i| out.flags()[[i, j]] == ValueFlag::Imputed)
                .map(|i| out.values()[[i, j]])
                .collect();
            let m = num::mean(&imp);
            assert!(
                (m - (mu - 1.8 * sd)).abs() < 0.15 * sd,
                "{m} vs {}",
                mu - 1.8 * sd
            );
        }
    }

    #[test]
    fn qrilc_draws_below_truncation() {
        let a = layer(300, 3, 4);
        let (_, out, _) = ImputationParams::Qrilc(QrilcParams::default())
            .fit_transform(&a, &sheet(3))
            .unwrap();
        for j in 0..3 {
            let obs = column_values(&a, j);
            let p_na = (0..300).filter(|&i| a.get(i, j).is_none()).count() as f64 / 300.0;
            let (_, _, upper) = qrilc_fit("t", &a, j, &obs, p_na).unwrap();
            for i in 0..300 {
                if out.flags()[[i, j]] == ValueFlag::Imputed {
                    assert!(out.values()[[i, j]] <= upper + 1e-12);
                }
            }
        }
    }

    #[test]
    fn knn_uses_neighbour_means() {
        // f2 is f0 + 0.1 and f1 is far away: f0's nearest neighbour is f2
        let cells = ndarray::array![
            [Some(1.0), None, Some(3.0), Some(4.0)],
            [Some(50.0), Some(60.0), Some(70.0), Some(80.0)],
            [Some(1.1), Some(2.1), Some(3.1), Some(4.1)],
        ];
        let a = Assay::from_options(
            "l",
            LayerKind::Other,
            ValueScale::Log2,
            Features::new(vec!["f0".into(), "f1".into(), "f2".into()]).unwrap(),
            (0..4).map(|j| format!("S{j}")).collect(),
            &cells,
        )
        .unwrap();
        let (f, out, _) = ImputationParams::Knn(KnnParams {
            k: 1,
            ..Default::default()
        })
        .fit_transform(&a, &sheet(4))
        .unwrap();
        assert_eq!(f.method(), "knn");
        assert_eq!(out.get(0, 1), Some(2.1));
    }

    #[test]
    fn aliases_parse() {
        let p: ImputationParams = toml::from_str("method = \"min_prob\"\nseed = 3").unwrap();
        assert!(matches!(
            p,
            ImputationParams::DownShift(DownShiftParams { seed: 3, .. })
        ));
        let e = toml::from_str::<ImputationParams>("method = \"down_shift\"\nwidht = 0.3")
            .unwrap_err()
            .to_string();
        assert!(e.contains("widht"), "{e}");
    }
}
