//! ComBat empirical-Bayes batch correction (Johnson, Li & Rabinovic 2007, *Biostatistics* 8:118),
//! written from sva 3.46's `ComBat` (Leek et al., Bioconductor `sva`).
//!
//! Both of sva's code paths are reproduced, chosen as sva chooses them: when no fitted cell is
//! missing, the complete-data path (least squares for all features at once, pooled variance
//! `sum(residual²) / n`); otherwise the missing-value path (`Beta.NA`: least squares per feature
//! on its observed samples; pooled variance `rowVars(residuals, na.rm = TRUE)`, i.e. centred and
//! divided by n − 1). Batch variances are sva's `rowVars` (n − 1) on both paths. The parametric
//! priors are iterated to sva's relative tolerance 1e-4 (`it.sol`); the non-parametric ones are
//! sva's `int.eprior` leave-one-feature-out weighted averages.
//!
//! Features ComBat cannot fit (too few values in a batch, zero or near-zero variance in a batch,
//! a design that is singular on the feature's observed samples, zero pooled variance) are left
//! unchanged and reported with the reason, as sva does for its zero-variance rows, instead of
//! becoming NaN. They take no part in the priors.
//!
//! **Near-zero variance.** sva leaves a feature uncorrected only when a batch's variance is
//! exactly 0 (`var(x) == 0`). A feature constant within a batch up to rounding is not caught by
//! that: miRNAs with all counts zero in one batch have a log-CPM that is the same number in every
//! sample of the batch up to the last bits (within-batch variance ~1e-30 where the feature's
//! overall variance is ~1), so sva divides by that variance, gives the feature meaningless
//! values and lets its absurd batch variance shift the inverse-gamma prior of every other
//! feature. Here a batch variance at or below [`NEAR_ZERO_VARIANCE`] (1e-10) times the feature's
//! variance over all its values counts as zero: the feature is left uncorrected, named in the
//! report with the variances, and kept out of the priors, so the others are corrected exactly as
//! sva corrects a matrix without it.
//!
//! The fitted step keeps, per corrected feature, the standardisation (grand mean, covariate
//! coefficients, pooled variance) and each batch's γ* and δ*; `transform` applies them to any
//! samples of the fitted batches, which is exactly sva's adjustment for the training samples.

use std::collections::BTreeSet;

use evomics_core::{Assay, SampleSheet, ValueScale};
use serde::{Deserialize, Serialize};

use crate::error::{NormError, Result};
use crate::num;
use crate::step::{
    check_features, ensure, rebuild, require_scale, sheet_column, sheet_text, Fit, NoParams,
    SheetColumn, Stage, StepReport, Transformer, UncorrectedFeature,
};

const STEP: &str = "batch_correction combat";
/// sva's `it.sol` convergence tolerance (`conv = .0001`).
const CONV: f64 = 1e-4;
/// A batch whose variance is at most this fraction of the feature's overall variance is treated
/// as having zero variance (constant up to rounding): a standard deviation ratio of 1e-5, far
/// below any biological spread and far above the ~1e-15 relative rounding of a constant.
pub const NEAR_ZERO_VARIANCE: f64 = 1e-10;
/// Safety cap on `it.sol` iterations (sva loops until convergence).
const MAX_ITER: usize = 10_000;

/// The batch correction of a layer, selected by `method`.
///
/// ```toml
/// batch_correction = { method = "none" }
/// batch_correction = { method = "combat", batch = "batch" }
/// batch_correction = { method = "combat", batch = "batch", covariates = ["source"],
///                      parametric = true, mean_only = false, ref_batch = "B1" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum BatchCorrectionParams {
    /// No correction.
    None(NoParams),
    /// sva ComBat.
    Combat(CombatParams),
}

impl Default for BatchCorrectionParams {
    fn default() -> Self {
        BatchCorrectionParams::None(NoParams {})
    }
}

/// ComBat parameters (sva `ComBat(dat, batch, mod, par.prior, mean.only, ref.batch)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CombatParams {
    /// Sample-sheet column with the batch of each sample (default `batch`).
    pub batch: String,
    /// Sheet columns whose effects are protected (sva `mod`): a text column is coded as R's
    /// `model.matrix(~column)` does (treatment coding, first level in byte order as reference,
    /// intercept dropped by ComBat), a numeric column enters as it is. Default none.
    pub covariates: Vec<String>,
    /// Parametric priors (sva `par.prior = TRUE`, default) or non-parametric (`FALSE`).
    pub parametric: bool,
    /// Correct batch means only (sva `mean.only`, default false); forced on, as in sva, when a
    /// batch has a single sample.
    pub mean_only: bool,
    /// Reference batch left unchanged, all others adjusted towards it (sva `ref.batch`).
    pub ref_batch: Option<String>,
}

impl Default for CombatParams {
    fn default() -> Self {
        CombatParams {
            batch: "batch".into(),
            covariates: Vec::new(),
            parametric: true,
            mean_only: false,
            ref_batch: None,
        }
    }
}

impl BatchCorrectionParams {
    /// Method name as written in the config.
    pub fn method(&self) -> &'static str {
        match self {
            BatchCorrectionParams::None(_) => "none",
            BatchCorrectionParams::Combat(_) => "combat",
        }
    }
}

impl Fit for BatchCorrectionParams {
    type Fitted = FittedBatchCorrection;

    fn validate(&self) -> Result<()> {
        match self {
            BatchCorrectionParams::None(_) => Ok(()),
            BatchCorrectionParams::Combat(p) => {
                ensure(
                    !p.batch.trim().is_empty(),
                    STEP,
                    "batch",
                    "is empty; name the sample-sheet column holding the batch".into(),
                )?;
                let mut seen = BTreeSet::new();
                for c in &p.covariates {
                    ensure(
                        c != &p.batch,
                        STEP,
                        "covariates",
                        format!("contains the batch column '{c}'; a covariate cannot be the batch"),
                    )?;
                    ensure(
                        seen.insert(c.as_str()),
                        STEP,
                        "covariates",
                        format!("lists '{c}' twice"),
                    )?;
                }
                ensure(
                    p.ref_batch.as_ref().is_none_or(|r| !r.trim().is_empty()),
                    STEP,
                    "ref_batch",
                    "is empty; name a batch or leave it out".into(),
                )
            }
        }
    }

    fn fit(&self, assay: &Assay, sheet: &SampleSheet) -> Result<FittedBatchCorrection> {
        self.validate()?;
        match self {
            BatchCorrectionParams::None(_) => Ok(FittedBatchCorrection::None),
            BatchCorrectionParams::Combat(p) => Ok(FittedBatchCorrection::Combat(Box::new(
                fit_combat(p, assay, sheet)?,
            ))),
        }
    }
}

/// How one covariate enters the design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CovariateCoding {
    /// A text column in treatment coding: one indicator per level after the first.
    Categorical {
        /// Sheet column.
        column: String,
        /// Levels in byte order; the first is the reference (no column).
        levels: Vec<String>,
    },
    /// A numeric column entering as it is.
    Numeric {
        /// Sheet column.
        column: String,
    },
}

/// ComBat parameters of one corrected feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CombatFeature {
    /// Row of the feature in the fitted layer.
    pub row: usize,
    /// sva `grand.mean`.
    pub grand_mean: f64,
    /// Coefficients of the covariate design columns (sva `B.hat` rows after the batches).
    pub covariate_coefs: Vec<f64>,
    /// sva `var.pooled`.
    pub var_pooled: f64,
    /// sva `gamma.star`, one per batch (0 for a reference batch).
    pub gamma_star: Vec<f64>,
    /// sva `delta.star`, one per batch (1 for a reference batch or `mean_only`).
    pub delta_star: Vec<f64>,
}

/// A fitted ComBat correction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedCombat {
    /// The parameters it was fitted with.
    pub params: CombatParams,
    /// Feature ids of the fitted layer.
    pub features: Vec<String>,
    /// Batch levels in byte order.
    pub batches: Vec<String>,
    /// Index of the reference batch.
    pub ref_batch: Option<usize>,
    /// Covariate codings, in config order.
    pub covariates: Vec<CovariateCoding>,
    /// Whether `mean_only` was in effect (asked for, or forced by a one-sample batch).
    pub mean_only: bool,
    /// Whether sva's missing-value path was used.
    pub missing_value_path: bool,
    /// The corrected features.
    pub corrected: Vec<CombatFeature>,
    /// The features left unchanged, with reasons.
    pub uncorrected: Vec<UncorrectedFeature>,
}

/// A fitted batch correction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum FittedBatchCorrection {
    /// No correction.
    None,
    /// ComBat.
    Combat(Box<FittedCombat>),
}

/// Batch index of every sample of the layer.
fn batch_of(
    assay: &Assay,
    sheet: &SampleSheet,
    column: &str,
    levels: Option<&[String]>,
) -> Result<(Vec<String>, Vec<usize>)> {
    let raw = sheet_text(STEP, assay, sheet, column, "batch")?;
    let mut vals = Vec::with_capacity(raw.len());
    for (v, s) in raw.iter().zip(assay.samples()) {
        match v {
            Some(v) => vals.push(v.clone()),
            None => {
                return Err(NormError::SheetValue {
                    step: STEP,
                    column: column.to_string(),
                    sample: s.clone(),
                    problem: "batch is empty; every sample needs a batch".into(),
                })
            }
        }
    }
    let levels: Vec<String> = match levels {
        Some(l) => l.to_vec(),
        None => vals
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    };
    let idx = vals
        .iter()
        .zip(assay.samples())
        .map(|(v, s)| {
            levels.iter().position(|l| l == v).ok_or_else(|| NormError::Batch {
                step: STEP,
                batch: v.clone(),
                problem: format!(
                    "sample '{s}' is in a batch the correction was not fitted on (fitted batches: {}); ComBat can only adjust batches it has estimated — refit including this batch",
                    levels.join(", ")
                ),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((levels, idx))
}

/// Covariate design columns (n × c, row-major) for the layer's samples; learns codings when
/// `codings` is `None`.
fn covariate_design(
    assay: &Assay,
    sheet: &SampleSheet,
    columns: &[String],
    codings: Option<&[CovariateCoding]>,
) -> Result<(Vec<CovariateCoding>, Vec<Vec<f64>>)> {
    let n = assay.n_samples();
    let mut out_codings = Vec::new();
    let mut cols: Vec<Vec<f64>> = Vec::new();
    for (k, name) in columns.iter().enumerate() {
        let data = sheet_column(STEP, assay, sheet, name, "covariates")?;
        let coding = match (codings.map(|c| &c[k]), &data) {
            (Some(c), _) => c.clone(),
            (None, SheetColumn::Numeric(_)) => CovariateCoding::Numeric {
                column: name.clone(),
            },
            (None, SheetColumn::Text(v)) => CovariateCoding::Categorical {
                column: name.clone(),
                levels: v
                    .iter()
                    .flatten()
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            },
        };
        let empty = |j: usize| NormError::SheetValue {
            step: STEP,
            column: name.clone(),
            sample: assay.samples()[j].clone(),
            problem: "covariate is empty; every sample needs a value (or drop the covariate)"
                .into(),
        };
        match (&coding, &data) {
            (CovariateCoding::Numeric { .. }, SheetColumn::Numeric(v)) => {
                let mut c = Vec::with_capacity(n);
                for (j, x) in v.iter().enumerate() {
                    c.push(x.ok_or_else(|| empty(j))?);
                }
                cols.push(c);
            }
            (CovariateCoding::Categorical { levels, .. }, _) => {
                let text: Vec<Option<String>> = match &data {
                    SheetColumn::Text(v) => v.clone(),
                    SheetColumn::Numeric(v) => v.iter().map(|x| x.map(|x| x.to_string())).collect(),
                };
                let mut level_of = Vec::with_capacity(n);
                for (j, t) in text.iter().enumerate() {
                    let t = t.as_ref().ok_or_else(|| empty(j))?;
                    let l = levels.iter().position(|l| l == t).ok_or_else(|| {
                        NormError::SheetValue {
                            step: STEP,
                            column: name.clone(),
                            sample: assay.samples()[j].clone(),
                            problem: format!(
                            "level '{t}' was not seen when the correction was fitted (levels: {})",
                            levels.join(", ")
                        ),
                        }
                    })?;
                    level_of.push(l);
                }
                for l in 1..levels.len() {
                    cols.push(
                        level_of
                            .iter()
                            .map(|&x| if x == l { 1.0 } else { 0.0 })
                            .collect(),
                    );
                }
            }
            (CovariateCoding::Numeric { .. }, SheetColumn::Text(_)) => {
                return Err(NormError::SheetValue {
                    step: STEP,
                    column: name.clone(),
                    sample: assay.samples().first().cloned().unwrap_or_default(),
                    problem: "the covariate was numeric when fitted but holds text now".into(),
                })
            }
        }
        out_codings.push(coding);
    }
    Ok((out_codings, cols))
}

/// Least squares of `y` (values at `rows`) on the design columns `x` (n × p row-major),
/// by the normal equations as sva (`solve(crossprod(X), crossprod(X, y))`).
fn ols(x: &[f64], p: usize, rows: &[usize], y: &[f64]) -> Option<Vec<f64>> {
    let mut xtx = vec![0.0; p * p];
    let mut xty = vec![0.0; p];
    for a in 0..p {
        for b in a..p {
            let s = num::sum(rows.iter().map(|&r| x[r * p + a] * x[r * p + b]));
            xtx[a * p + b] = s;
            xtx[b * p + a] = s;
        }
        xty[a] = num::sum(rows.iter().zip(y).map(|(&r, v)| x[r * p + a] * v));
    }
    num::solve(xtx, xty, p, 1)
}

/// sva's `it.sol`: iterate the posterior mean and variance of one batch to relative tolerance
/// 1e-4 jointly over all features (the stopping rule is sva's, signed denominators included).
fn it_sol(
    sdat: &[Vec<f64>],
    g_hat: &[f64],
    d_hat: &[f64],
    g_bar: f64,
    t2: f64,
    a: f64,
    b: f64,
) -> Option<(Vec<f64>, Vec<f64>)> {
    let n: Vec<f64> = sdat.iter().map(|v| v.len() as f64).collect();
    let mut g_old = g_hat.to_vec();
    let mut d_old = d_hat.to_vec();
    for _ in 0..MAX_ITER {
        let g_new: Vec<f64> = (0..g_hat.len())
            .map(|i| (t2 * n[i] * g_hat[i] + d_old[i] * g_bar) / (t2 * n[i] + d_old[i]))
            .collect();
        let d_new: Vec<f64> = (0..g_hat.len())
            .map(|i| {
                let sum2 = num::sum(sdat[i].iter().map(|x| (x - g_new[i]) * (x - g_new[i])));
                (0.5 * sum2 + b) / (n[i] / 2.0 + a - 1.0)
            })
            .collect();
        let mut change = f64::NEG_INFINITY;
        for i in 0..g_hat.len() {
            let cg = (g_new[i] - g_old[i]).abs() / g_old[i];
            let cd = (d_new[i] - d_old[i]).abs() / d_old[i];
            if cg.is_nan() || cd.is_nan() {
                return None;
            }
            change = change.max(cg).max(cd);
        }
        g_old = g_new;
        d_old = d_new;
        if change <= CONV {
            return Some((g_old, d_old));
        }
    }
    None
}

/// sva's `int.eprior`: for each feature, the average of the other features' (γ̂, δ̂) weighted by
/// the normal likelihood of this feature's standardized values. Weights are computed in log
/// space and rescaled by their maximum, which leaves sva's ratio unchanged where sva's
/// likelihoods are representable and avoids its 0/0 where they all underflow.
fn int_eprior(sdat: &[Vec<f64>], g_hat: &[f64], d_hat: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    let g = g_hat.len();
    let mut gs = Vec::with_capacity(g);
    let mut ds = Vec::with_capacity(g);
    let ln2pi = (2.0 * std::f64::consts::PI).ln();
    let mut logl = vec![0.0; g];
    for (i, x) in sdat.iter().enumerate() {
        let n = x.len() as f64;
        let mut max = f64::NEG_INFINITY;
        for j in 0..g {
            if j == i {
                logl[j] = f64::NEG_INFINITY;
                continue;
            }
            let sum2 = num::sum(x.iter().map(|v| (v - g_hat[j]) * (v - g_hat[j])));
            let l = -0.5 * n * (ln2pi + d_hat[j].ln()) - sum2 / (2.0 * d_hat[j]);
            logl[j] = if l.is_nan() { f64::NEG_INFINITY } else { l };
            max = max.max(logl[j]);
        }
        if !max.is_finite() {
            return None;
        }
        let w: Vec<f64> = logl.iter().map(|l| (l - max).exp()).collect();
        let sw = num::sum(w.iter().copied());
        gs.push(num::sum(w.iter().zip(g_hat).map(|(a, b)| a * b)) / sw);
        ds.push(num::sum(w.iter().zip(d_hat).map(|(a, b)| a * b)) / sw);
    }
    Some((gs, ds))
}

fn layer_error(assay: &Assay, problem: String) -> NormError {
    NormError::Layer {
        step: STEP,
        layer: assay.name().to_string(),
        problem,
    }
}

fn fit_combat(p: &CombatParams, assay: &Assay, sheet: &SampleSheet) -> Result<FittedCombat> {
    require_scale(
        STEP,
        assay,
        &[ValueScale::Log2, ValueScale::Other],
        "log-scale values",
        "ComBat assumes roughly normal values; log-transform intensities (log2) or counts (log_cpm) first",
    )?;
    let (g, n) = (assay.n_features(), assay.n_samples());
    let (levels, bidx) = batch_of(assay, sheet, &p.batch, None)?;
    let nb = levels.len();
    if nb < 2 {
        return Err(layer_error(
            assay,
            format!(
                "sheet column '{}' has {} batch level(s) among the layer's samples; ComBat needs at least 2",
                p.batch, nb
            ),
        ));
    }
    let ref_idx = match &p.ref_batch {
        None => None,
        Some(r) => {
            Some(
                levels
                    .iter()
                    .position(|l| l == r)
                    .ok_or_else(|| NormError::InvalidParam {
                        step: STEP,
                        param: "ref_batch",
                        problem: format!(
                            "is '{r}', which is not a batch of the layer (batches: {})",
                            levels.join(", ")
                        ),
                    })?,
            )
        }
    };
    let members: Vec<Vec<usize>> = (0..nb)
        .map(|b| (0..n).filter(|&s| bidx[s] == b).collect())
        .collect();
    // sva: a batch with a single sample forces mean.only
    let mean_only = p.mean_only || members.iter().any(|m| m.len() == 1);

    // design: batch indicators (the reference batch's column all ones), then covariates
    let (codings, cov_cols) = covariate_design(assay, sheet, &p.covariates, None)?;
    let nc = cov_cols.len();
    let pcols = nb + nc;
    let mut x = vec![0.0; n * pcols];
    for s in 0..n {
        x[s * pcols + bidx[s]] = 1.0;
        if let Some(r) = ref_idx {
            x[s * pcols + r] = 1.0;
        }
        for (c, col) in cov_cols.iter().enumerate() {
            x[s * pcols + nb + c] = col[s];
        }
    }
    if num::column_rank(&x, n, pcols) < pcols {
        let cov: Vec<f64> = (0..n)
            .flat_map(|s| (0..nc).map(move |c| (s, c)))
            .map(|(s, c)| x[s * pcols + nb + c])
            .collect();
        let problem = if nc == 1 {
            "the covariate is confounded with batch; remove the covariate".to_string()
        } else if num::column_rank(&cov, n, nc) < nc {
            "the covariates are confounded with each other; remove one or more so the design is not confounded".to_string()
        } else {
            "at least one covariate is confounded with batch; remove the confounded covariates"
                .to_string()
        };
        return Err(layer_error(
            assay,
            format!("{problem} (covariates: {})", p.covariates.join(", ")),
        ));
    }

    let mut uncorrected = Vec::new();
    let mut fit_rows = Vec::new();
    let need = if mean_only { 1 } else { 2 };
    for i in 0..g {
        let mut reason = None;
        let all: Vec<f64> = (0..n).filter_map(|s| assay.get(i, s)).collect();
        let var_all = num::var(&all).unwrap_or(0.0);
        for (b, m) in members.iter().enumerate() {
            let v: Vec<f64> = m.iter().filter_map(|&s| assay.get(i, s)).collect();
            if v.len() < need {
                reason = Some(if v.is_empty() {
                    format!("batch '{}' has no value", levels[b])
                } else {
                    format!(
                        "batch '{}' has 1 value; ComBat needs at least 2 per batch to estimate its variance (or mean_only = true)",
                        levels[b]
                    )
                });
                break;
            }
            if v.len() >= 2 {
                let var_b = num::var(&v).unwrap_or(0.0);
                if var_b <= 0.0 {
                    reason = Some(format!("zero variance in batch '{}'", levels[b]));
                    break;
                }
                if var_b <= NEAR_ZERO_VARIANCE * var_all {
                    reason = Some(format!(
                        "near-zero variance in batch '{}' ({var_b:.3e}, at most {NEAR_ZERO_VARIANCE:e} × the feature's variance {var_all:.3e}): constant up to rounding in that batch (e.g. all counts zero)",
                        levels[b]
                    ));
                    break;
                }
            }
        }
        if reason.is_none() && nc > 0 {
            let rows: Vec<usize> = (0..n).filter(|&s| assay.get(i, s).is_some()).collect();
            if rows.len() < n {
                let xs: Vec<f64> = rows
                    .iter()
                    .flat_map(|&r| x[r * pcols..(r + 1) * pcols].to_vec())
                    .collect();
                if num::column_rank(&xs, rows.len(), pcols) < pcols {
                    reason = Some("the batch and covariate design is singular on the samples where the feature has values".into());
                }
            }
        }
        match reason {
            Some(r) => uncorrected.push((i, r)),
            None => fit_rows.push(i),
        }
    }
    let na_path = fit_rows
        .iter()
        .any(|&i| (0..n).any(|s| assay.get(i, s).is_none()));

    // sva names: B.hat, grand.mean, var.pooled (1/n on the complete path, rowVars on the NA path)
    let n_f = n as f64;
    struct Std {
        row: usize,
        coefs: Vec<f64>,
        grand_mean: f64,
        var_pooled: f64,
    }
    let mut std_rows = Vec::with_capacity(fit_rows.len());
    for &i in &fit_rows {
        let rows: Vec<usize> = (0..n).filter(|&s| assay.get(i, s).is_some()).collect();
        let y: Vec<f64> = rows.iter().filter_map(|&s| assay.get(i, s)).collect();
        let Some(bhat) = ols(&x, pcols, &rows, &y) else {
            uncorrected.push((i, "the batch and covariate design is singular on the samples where the feature has values".into()));
            continue;
        };
        let grand_mean = match ref_idx {
            Some(r) => bhat[r],
            None => num::sum((0..nb).map(|b| (members[b].len() as f64 / n_f) * bhat[b])),
        };
        let resid = |s: usize| -> Option<f64> {
            let v = assay.get(i, s)?;
            let fitted = num::sum((0..pcols).map(|c| x[s * pcols + c] * bhat[c]));
            Some(v - fitted)
        };
        let pool: Vec<usize> = match ref_idx {
            Some(r) => members[r].clone(),
            None => (0..n).collect(),
        };
        let var_pooled = if na_path {
            let r: Vec<f64> = pool.iter().filter_map(|&s| resid(s)).collect();
            num::var(&r).unwrap_or(f64::NAN)
        } else {
            let w = 1.0 / pool.len() as f64;
            num::sum(pool.iter().filter_map(|&s| resid(s)).map(|r| r * r * w))
        };
        if !(var_pooled > 0.0 && var_pooled.is_finite()) {
            uncorrected.push((
                i,
                format!("pooled variance is {var_pooled}; nothing to standardise by"),
            ));
            continue;
        }
        std_rows.push(Std {
            row: i,
            coefs: bhat[nb..].to_vec(),
            grand_mean,
            var_pooled,
        });
    }
    uncorrected.sort_by_key(|(i, _)| *i);
    if std_rows.len() < 2 {
        return Err(layer_error(
            assay,
            format!(
                "only {} feature(s) can be batch-corrected (the others: {}); ComBat's empirical-Bayes priors need at least 2",
                std_rows.len(),
                uncorrected.first().map(|(_, r)| r.as_str()).unwrap_or("none")
            ),
        ));
    }

    let stand_mean = |f: &Std, s: usize| -> f64 {
        f.grand_mean + num::sum((0..nc).map(|c| x[s * pcols + nb + c] * f.coefs[c]))
    };
    let sdata: Vec<Vec<Option<f64>>> = std_rows
        .iter()
        .map(|f| {
            (0..n)
                .map(|s| {
                    assay
                        .get(f.row, s)
                        .map(|v| (v - stand_mean(f, s)) / f.var_pooled.sqrt())
                })
                .collect()
        })
        .collect();
    let nfit = std_rows.len();

    // sva computes gamma.hat by least squares on the batch columns, not as plain batch means,
    // which differs when a reference batch makes its column all ones
    let bd: Vec<f64> = (0..n)
        .flat_map(|s| x[s * pcols..s * pcols + nb].to_vec())
        .collect();
    let mut gamma_hat = vec![vec![0.0; nfit]; nb];
    for (k, sd) in sdata.iter().enumerate() {
        let rows: Vec<usize> = (0..n).filter(|&s| sd[s].is_some()).collect();
        let y: Vec<f64> = rows.iter().filter_map(|&s| sd[s]).collect();
        let gh = ols(&bd, nb, &rows, &y).ok_or_else(|| {
            layer_error(
                assay,
                format!(
                    "batch design is singular for feature '{}'",
                    assay.features().ids()[std_rows[k].row]
                ),
            )
        })?;
        for b in 0..nb {
            gamma_hat[b][k] = gh[b];
        }
    }
    let batch_data: Vec<Vec<Vec<f64>>> = (0..nb)
        .map(|b| {
            sdata
                .iter()
                .map(|sd| members[b].iter().filter_map(|&s| sd[s]).collect())
                .collect()
        })
        .collect();
    let delta_hat: Vec<Vec<f64>> = (0..nb)
        .map(|b| {
            batch_data[b]
                .iter()
                .map(|v| {
                    if mean_only {
                        1.0
                    } else {
                        num::var(v).unwrap_or(f64::NAN)
                    }
                })
                .collect()
        })
        .collect();

    let mut gamma_star = vec![vec![0.0; nfit]; nb];
    let mut delta_star = vec![vec![1.0; nfit]; nb];
    for b in 0..nb {
        let g_bar = num::mean(&gamma_hat[b]);
        let t2 = num::var(&gamma_hat[b]).unwrap_or(f64::NAN);
        let prior_fail = |what: &str| NormError::Batch {
            step: STEP,
            batch: levels[b].clone(),
            problem: format!(
                "{what}; the empirical-Bayes priors need features whose batch effects vary"
            ),
        };
        if p.parametric {
            if !t2.is_finite() {
                return Err(prior_fail(
                    "the variance of the batch means over features is not finite",
                ));
            }
            if mean_only {
                for k in 0..nfit {
                    gamma_star[b][k] =
                        (t2 * 1.0 * gamma_hat[b][k] + 1.0 * g_bar) / (t2 * 1.0 + 1.0);
                }
            } else {
                let m = num::mean(&delta_hat[b]);
                let s2 = num::var(&delta_hat[b]).unwrap_or(f64::NAN);
                let a_prior = (2.0 * s2 + m * m) / s2;
                let b_prior = (m * s2 + m * m * m) / s2;
                if !(a_prior.is_finite() && b_prior.is_finite()) {
                    return Err(prior_fail(
                        "the batch variances give no finite inverse-gamma prior",
                    ));
                }
                let (gs, ds) = it_sol(
                    &batch_data[b],
                    &gamma_hat[b],
                    &delta_hat[b],
                    g_bar,
                    t2,
                    a_prior,
                    b_prior,
                )
                .ok_or_else(|| {
                    prior_fail("the posterior iteration (sva it.sol) did not converge")
                })?;
                gamma_star[b] = gs;
                delta_star[b] = ds;
            }
        } else {
            let (gs, ds) =
                int_eprior(&batch_data[b], &gamma_hat[b], &delta_hat[b]).ok_or_else(|| {
                    prior_fail("the non-parametric prior (sva int.eprior) has no usable weight")
                })?;
            gamma_star[b] = gs;
            delta_star[b] = ds;
        }
    }
    if let Some(r) = ref_idx {
        gamma_star[r] = vec![0.0; nfit];
        delta_star[r] = vec![1.0; nfit];
    }

    let corrected = std_rows
        .iter()
        .enumerate()
        .map(|(k, f)| CombatFeature {
            row: f.row,
            grand_mean: f.grand_mean,
            covariate_coefs: f.coefs.clone(),
            var_pooled: f.var_pooled,
            gamma_star: (0..nb).map(|b| gamma_star[b][k]).collect(),
            delta_star: (0..nb).map(|b| delta_star[b][k]).collect(),
        })
        .collect();
    let ids = assay.features().ids();
    Ok(FittedCombat {
        params: p.clone(),
        features: ids.to_vec(),
        batches: levels,
        ref_batch: ref_idx,
        covariates: codings,
        mean_only,
        missing_value_path: na_path,
        corrected,
        uncorrected: uncorrected
            .into_iter()
            .map(|(i, reason)| UncorrectedFeature {
                feature: ids[i].clone(),
                reason,
            })
            .collect(),
    })
}

impl Transformer for FittedBatchCorrection {
    fn transform_owned(&self, assay: Assay, sheet: &SampleSheet) -> Result<(Assay, StepReport)> {
        match self {
            FittedBatchCorrection::None => {
                let report = StepReport::new(Stage::BatchCorrection, "none", &assay);
                Ok((assay, report))
            }
            _ => self.transform_with_report(&assay, sheet),
        }
    }

    fn transform_with_report(
        &self,
        assay: &Assay,
        sheet: &SampleSheet,
    ) -> Result<(Assay, StepReport)> {
        let FittedBatchCorrection::Combat(c) = self else {
            return Ok((
                assay.clone(),
                StepReport::new(Stage::BatchCorrection, "none", assay),
            ));
        };
        require_scale(
            STEP,
            assay,
            &[ValueScale::Log2, ValueScale::Other],
            "log-scale values",
            "transform the data with the same pipeline the correction was fitted with",
        )?;
        check_features(STEP, assay, &c.features)?;
        let n = assay.n_samples();
        let nb = c.batches.len();
        let (_, bidx) = batch_of(assay, sheet, &c.params.batch, Some(&c.batches))?;
        let (_, cov_cols) =
            covariate_design(assay, sheet, &c.params.covariates, Some(&c.covariates))?;
        let mut values = assay.values().clone();
        for f in &c.corrected {
            let sd = f.var_pooled.sqrt();
            for s in 0..n {
                let b = bidx[s];
                if Some(b) == c.ref_batch {
                    continue;
                }
                let Some(v) = assay.get(f.row, s) else {
                    continue;
                };
                let stand = f.grand_mean
                    + num::sum(
                        cov_cols
                            .iter()
                            .zip(&f.covariate_coefs)
                            .map(|(col, k)| col[s] * k),
                    );
                // batch design row: own batch indicator, plus the all-ones reference column
                let mut gam = f.gamma_star[b];
                if let Some(r) = c.ref_batch {
                    gam += f.gamma_star[r];
                }
                let z = (v - stand) / sd;
                values[[f.row, s]] = (z - gam) / f.delta_star[b].sqrt() * sd + stand;
            }
        }
        let mut report = StepReport::new(Stage::BatchCorrection, "combat", assay);
        report.uncorrected = c.uncorrected.clone();
        let near_zero = c
            .uncorrected
            .iter()
            .filter(|u| u.reason.starts_with("near-zero variance"))
            .count();
        if near_zero > 0 {
            report.notes.push(format!(
                "{near_zero} feature(s) constant up to rounding within a batch (variance ≤ {NEAR_ZERO_VARIANCE:e} × their overall variance) left uncorrected and out of the priors; sva would correct them"
            ));
        }
        report.notes.push(format!(
            "{} batch(es) ({}); {} of {} features corrected; {} priors{}; sva {} path{}",
            nb,
            c.batches.join(", "),
            c.corrected.len(),
            c.features.len(),
            if c.params.parametric {
                "parametric"
            } else {
                "non-parametric"
            },
            if c.mean_only { ", mean only" } else { "" },
            if c.missing_value_path {
                "missing-value"
            } else {
                "complete-data"
            },
            c.ref_batch
                .map(|r| format!("; reference batch '{}' unchanged", c.batches[r]))
                .unwrap_or_default(),
        ));
        if c.mean_only && !c.params.mean_only {
            report.warnings.push(
                "mean_only was forced on because a batch has a single sample (as sva does): batch variances are not adjusted".into(),
            );
        }
        report.warnings.extend(confounded_columns(
            assay,
            sheet,
            &c.params.batch,
            &bidx,
            &c.params.covariates,
        ));
        Ok((
            rebuild(assay, values, assay.flags().clone(), assay.scale())?,
            report,
        ))
    }
}

/// Warnings for the sheet's grouping columns that the batch determines (every batch holds one
/// level of the column, and the column has two or more): ComBat without that column as a
/// covariate removes the differences between its levels together with the batch effect.
fn confounded_columns(
    assay: &Assay,
    sheet: &SampleSheet,
    batch: &str,
    bidx: &[usize],
    covariates: &[String],
) -> Vec<String> {
    let mut out = Vec::new();
    for col in sheet.grouping_columns() {
        if col == batch || covariates.iter().any(|c| c == &col) {
            continue;
        }
        let labels: Vec<Option<String>> = assay
            .samples()
            .iter()
            .map(|s| sheet.text(&col, s))
            .collect();
        let mut per_batch: std::collections::BTreeMap<usize, std::collections::BTreeSet<&str>> =
            Default::default();
        let mut levels = std::collections::BTreeSet::new();
        for (l, b) in labels.iter().zip(bidx) {
            if let Some(l) = l {
                per_batch.entry(*b).or_default().insert(l.as_str());
                levels.insert(l.as_str());
            }
        }
        if levels.len() >= 2 && per_batch.values().all(|v| v.len() == 1) {
            out.push(format!(
                "batch '{batch}' is confounded with sheet column '{col}' (each batch holds a single {col}): ComBat removes the differences between the {col} levels together with the batch effect; do not correct these batches, or add '{col}' as a covariate if the design is not fully confounded"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::{Features, LayerKind};
    use ndarray::Array2;

    /// 3 batches × 4 samples, 12 features with batch shifts and scales, a covariate.
    fn data(missing: bool) -> (Assay, SampleSheet) {
        let n = 12;
        let g = 12;
        let cells = Array2::from_shape_fn((g, n), |(i, s)| {
            if missing && (i * 5 + s * 3) % 17 == 0 {
                return None;
            }
            let b = s / 4;
            let noise = (((i * 31 + s * 17) % 23) as f64 - 11.0) / 7.0;
            let shift = [0.0, 1.5, -0.8][b] + 0.1 * i as f64 * [0.0, 1.0, -0.5][b];
            let scale = [1.0, 1.8, 0.6][b];
            Some(20.0 + i as f64 * 0.4 + shift + scale * noise + if s % 2 == 0 { 0.7 } else { 0.0 })
        });
        let samples: Vec<String> = (0..n).map(|s| format!("S{s}")).collect();
        let a = Assay::from_options(
            "proteome",
            LayerKind::Proteome,
            ValueScale::Log2,
            Features::new((0..g).map(|i| format!("P{i}")).collect()).unwrap(),
            samples.clone(),
            &cells,
        )
        .unwrap();
        let sheet = SampleSheet::from_text_columns(
            samples,
            vec![
                (
                    "batch".into(),
                    (0..n).map(|s| Some(format!("B{}", s / 4))).collect(),
                ),
                (
                    "group".into(),
                    (0..n)
                        .map(|s| Some(if s % 2 == 0 { "a" } else { "b" }.into()))
                        .collect(),
                ),
            ],
        )
        .unwrap();
        (a, sheet)
    }

    #[test]
    fn removes_batch_mean_differences() {
        let (a, sheet) = data(false);
        let p = BatchCorrectionParams::Combat(CombatParams::default());
        let (f, out, rep) = p.fit_transform(&a, &sheet).unwrap();
        let FittedBatchCorrection::Combat(c) = &f else {
            panic!("combat expected")
        };
        assert!(!c.missing_value_path);
        assert!(rep.uncorrected.is_empty());
        // batch means of each feature move towards each other
        for i in 0..a.n_features() {
            let spread = |m: &Assay| {
                let means: Vec<f64> = (0..3)
                    .map(|b| {
                        num::mean(
                            &(0..4)
                                .map(|k| m.get(i, b * 4 + k).unwrap())
                                .collect::<Vec<_>>(),
                        )
                    })
                    .collect();
                means.iter().fold(f64::MIN, |x, y| x.max(*y))
                    - means.iter().fold(f64::MAX, |x, y| x.min(*y))
            };
            assert!(spread(&out) < spread(&a), "feature {i}");
        }
        // serde round trip keeps the correction
        let json = serde_json::to_string(&f).unwrap();
        let back: FittedBatchCorrection = serde_json::from_str(&json).unwrap();
        assert_eq!(back.transform(&a, &sheet).unwrap(), out);
    }

    #[test]
    fn reference_batch_is_unchanged_and_missing_stays_missing() {
        let (a, sheet) = data(true);
        let p = BatchCorrectionParams::Combat(CombatParams {
            ref_batch: Some("B1".into()),
            covariates: vec!["group".into()],
            ..Default::default()
        });
        let (f, out, _) = p.fit_transform(&a, &sheet).unwrap();
        let FittedBatchCorrection::Combat(c) = &f else {
            panic!("combat expected")
        };
        assert!(c.missing_value_path);
        for i in 0..a.n_features() {
            for s in 0..a.n_samples() {
                assert_eq!(out.flags()[[i, s]], a.flags()[[i, s]]);
                if (4..8).contains(&s) {
                    assert_eq!(out.get(i, s), a.get(i, s));
                }
            }
        }
    }

    #[test]
    fn unfit_features_are_reported_not_nan() {
        let (a, sheet) = data(false);
        let mut cells = a.values().mapv(Some);
        // feature 0: one value in batch B2; feature 1: constant in batch B0
        for s in 9..12 {
            cells[[0, s]] = None;
        }
        for s in 0..4 {
            cells[[1, s]] = Some(5.0);
        }
        let b = Assay::from_options(
            "proteome",
            LayerKind::Proteome,
            ValueScale::Log2,
            a.features().clone(),
            a.samples().to_vec(),
            &cells,
        )
        .unwrap();
        let p = BatchCorrectionParams::Combat(CombatParams::default());
        let (_, out, rep) = p.fit_transform(&b, &sheet).unwrap();
        assert_eq!(rep.uncorrected.len(), 2);
        assert!(
            rep.uncorrected[0].reason.contains("'B2' has 1 value"),
            "{:?}",
            rep.uncorrected
        );
        assert!(rep.uncorrected[1]
            .reason
            .contains("zero variance in batch 'B0'"));
        for s in 0..12 {
            assert_eq!(out.get(1, s), b.get(1, s));
            assert_eq!(out.get(0, s), b.get(0, s));
        }
        assert!(out
            .values()
            .iter()
            .zip(out.flags())
            .all(|(v, f)| !f.has_value() || v.is_finite()));
    }

    /// A feature constant up to rounding in one batch (as log-CPM of all-zero counts) is left
    /// uncorrected, and the other features are corrected exactly as without it.
    #[test]
    fn near_zero_batch_variance_is_left_out_of_the_priors() {
        let (a, sheet) = data(false);
        let mut cells = a.values().mapv(Some);
        // batch B0 (samples 0..4): the same value up to the last bits
        for s in 0..4 {
            cells[[2, s]] = Some(-1.736 + f64::EPSILON * (s as f64 - 1.5));
        }
        let b = Assay::from_options(
            "mirna",
            LayerKind::Mirna,
            ValueScale::Log2,
            a.features().clone(),
            a.samples().to_vec(),
            &cells,
        )
        .unwrap();
        let p = BatchCorrectionParams::Combat(CombatParams::default());
        let (_, out, rep) = p.fit_transform(&b, &sheet).unwrap();
        assert_eq!(rep.uncorrected.len(), 1, "{:?}", rep.uncorrected);
        assert_eq!(rep.uncorrected[0].feature, b.features().ids()[2]);
        assert!(
            rep.uncorrected[0]
                .reason
                .starts_with("near-zero variance in batch 'B0'"),
            "{}",
            rep.uncorrected[0].reason
        );
        assert!(rep
            .notes
            .iter()
            .any(|n| n.contains("constant up to rounding")));
        for s in 0..12 {
            assert_eq!(out.get(2, s), b.get(2, s));
        }
        // the others: as ComBat on the layer without that feature
        let rows: Vec<usize> = (0..b.n_features()).filter(|&i| i != 2).collect();
        let (_, without, _) = p.fit_transform(&b.select_features(&rows), &sheet).unwrap();
        for (k, &i) in rows.iter().enumerate() {
            for s in 0..12 {
                assert_eq!(out.get(i, s), without.get(k, s));
            }
        }
    }

    #[test]
    fn confounded_covariate_and_unknown_batch_are_errors() {
        let (a, sheet) = data(false);
        let sheet2 = SampleSheet::from_text_columns(
            a.samples().to_vec(),
            vec![
                (
                    "batch".into(),
                    (0..12).map(|s| Some(format!("B{}", s / 4))).collect(),
                ),
                (
                    "same".into(),
                    (0..12).map(|s| Some(format!("x{}", s / 4))).collect(),
                ),
            ],
        )
        .unwrap();
        let e = BatchCorrectionParams::Combat(CombatParams {
            covariates: vec!["same".into()],
            ..Default::default()
        })
        .fit(&a, &sheet2)
        .unwrap_err()
        .to_string();
        assert!(e.contains("confounded"), "{e}");
        let f = BatchCorrectionParams::Combat(CombatParams::default())
            .fit(&a.select_samples(&(0..8).collect::<Vec<_>>()), &sheet)
            .unwrap();
        let e = f.transform(&a, &sheet).unwrap_err().to_string();
        assert!(e.contains("'B2'") && e.contains("refit"), "{e}");
    }

    #[test]
    fn nonparametric_matches_direct_formula() {
        // sva's int.eprior written out literally on a small example
        let sdat = vec![
            vec![0.1, -0.3, 0.5],
            vec![1.0, 1.2],
            vec![-0.4, 0.0, 0.2, 0.1],
        ];
        let g_hat = [0.1, 1.1, -0.02];
        let d_hat = [0.16, 0.02, 0.07];
        let (gs, ds) = int_eprior(&sdat, &g_hat, &d_hat).unwrap();
        for i in 0..3 {
            let (mut num_g, mut num_d, mut den) = (0.0, 0.0, 0.0);
            let n = sdat[i].len() as f64;
            for j in 0..3 {
                if j == i {
                    continue;
                }
                let sum2: f64 = sdat[i].iter().map(|x| (x - g_hat[j]).powi(2)).sum();
                let lh = 1.0 / (2.0 * std::f64::consts::PI * d_hat[j]).powf(n / 2.0)
                    * (-sum2 / (2.0 * d_hat[j])).exp();
                num_g += g_hat[j] * lh;
                num_d += d_hat[j] * lh;
                den += lh;
            }
            assert!((gs[i] - num_g / den).abs() < 1e-12);
            assert!((ds[i] - num_d / den).abs() < 1e-12);
        }
    }

    #[test]
    fn nonparametric_and_mean_only_run() {
        let (a, sheet) = data(true);
        for p in [
            CombatParams {
                parametric: false,
                ..Default::default()
            },
            CombatParams {
                mean_only: true,
                ..Default::default()
            },
            CombatParams {
                mean_only: true,
                parametric: false,
                ..Default::default()
            },
        ] {
            let (_, out, _) = BatchCorrectionParams::Combat(p.clone())
                .fit_transform(&a, &sheet)
                .unwrap();
            assert_eq!(out.flags(), a.flags(), "{p:?}");
        }
    }
}
