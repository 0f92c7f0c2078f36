//! Variance partition: the share of each feature's variance explained by source, donor, batch,
//! conditioning and the residual, after Hoffman & Schadt (2016, *BMC Bioinformatics* 17:483,
//! R package variancePartition).
//!
//! **Model.** For one feature with observations y (samples where it has a value and every factor
//! has a value), every factor enters as a random intercept, as variancePartition recommends for
//! categorical variables (`fitExtractVarPartModel(y, ~ (1|source) + (1|donor_id) + …)`):
//!
//! ```text
//!   y = 1 μ + Σ_k Z_k b_k + e,    b_k ~ N(0, σ²_k I),   e ~ N(0, σ²_e I)
//! ```
//!
//! with Z_k the indicator matrix of factor k's levels. The variance components are estimated by
//! maximum likelihood (default, variancePartition's `REML = FALSE`) or by restricted maximum
//! likelihood, and the variance fractions are σ²_k / (Σ_j σ²_j + σ²_e) and
//! σ²_e / (Σ_j σ²_j + σ²_e) (variancePartition's `calcVarPart` for a model whose only fixed
//! effect is the intercept).
//!
//! **Fit.** As lme4's `lmer` (Bates, Mächler, Bolker & Walker 2015, *J Stat Softw* 67(1), §3):
//! the profiled deviance is minimised over the relative standard deviations
//! θ_k = σ_k / σ_e ≥ 0. With Λ = diag(θ) over the levels, L Lᵀ = Λ ZᵀZ Λ + I,
//! c_u = L⁻¹ Λ Zᵀ y, r_ZX = L⁻¹ Λ Zᵀ 1, r_X² = n − |r_ZX|², c_β = (1ᵀy − r_ZXᵀ c_u) / r_X and the
//! penalized residual sum of squares r² = yᵀy − |c_u|² − c_β²:
//!
//! ```text
//!   ML:    d(θ)   = log|L|² + n [1 + log(2π r² / n)],                 σ̂²_e = r² / n
//!   REML:  d_R(θ) = log|L|² + log r_X² + (n − 1) [1 + log(2π r² / (n − 1))],   σ̂²_e = r² / (n − 1)
//! ```
//!
//! and σ̂²_k = θ_k² σ̂²_e. The minimisation is Powell's BOBYQA with bounds θ ≥ 0 started at θ = 1
//! (lme4's default optimizer is NLopt's BOBYQA, `nloptwrap`; here edge-rs's port of NLopt's
//! BOBYQA), or Brent's method on [0, θ_max] for a single factor; afterwards every θ_k below
//! 1e-4 is tried at exactly 0 (the boundary where REML/ML estimates of small components often
//! lie) and kept there when the deviance is not worse. The response is centred and scaled to
//! unit variance before fitting (θ and the fractions do not change; variances are scaled back).
//!
//! **Which features are fitted.** A feature is fitted on its observed samples (missing and
//! below-detection cells are left out, as `lmer` drops `NA` rows) when (1) it is observed in at
//! least `min_observed_fraction` of the samples with complete factor values, and in at least 3;
//! (2) every factor has at least two levels, and fewer levels than observations, among those
//! samples (otherwise its variance is not identifiable; lme4 refuses such fits); (3) no two
//! factors group those samples identically (perfectly confounded); (4) the values are not all
//! equal. Other features get a row with the reason and no fractions. With MNAR missingness
//! (proteomics), low values of a group are missing rather than low, so fractions on observed
//! values understate group effects driven by presence/absence.

use edge_rs::numeric::bobyqa::{bobyqa, BobyqaParams, BobyqaStatus};
use edge_rs::numeric::optimise::brent_fmin;
use evomics_core::num::quantile7_sorted;
use evomics_core::{Assay, SampleSheet};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StatsError};
use crate::limma::feature_names;

/// How the variance components are estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum VarPartMethod {
    /// Maximum likelihood (variancePartition's default, `REML = FALSE`).
    #[default]
    Ml,
    /// Restricted maximum likelihood.
    Reml,
}

impl VarPartMethod {
    /// `ml` or `reml`.
    pub fn name(self) -> &'static str {
        match self {
            VarPartMethod::Ml => "ml",
            VarPartMethod::Reml => "reml",
        }
    }

    /// Parse `ml` or `reml` (case-insensitive).
    pub fn parse(s: &str) -> Result<VarPartMethod> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ml" => Ok(VarPartMethod::Ml),
            "reml" => Ok(VarPartMethod::Reml),
            other => Err(StatsError::Option {
                option: "variance partition method".into(),
                problem: format!("'{other}' is not one of ml, reml"),
            }),
        }
    }
}

/// Options of [`variance_partition`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VarPartOptions {
    /// ML (default) or REML.
    pub method: VarPartMethod,
    /// Fit a feature only when it is observed in at least this share of the samples (default 0.5).
    pub min_observed_fraction: f64,
}

impl Default for VarPartOptions {
    fn default() -> Self {
        VarPartOptions {
            method: VarPartMethod::Ml,
            min_observed_fraction: 0.5,
        }
    }
}

/// Upper bound of the relative standard deviations θ_k = σ_k / σ_e on the unit-variance scale.
const THETA_MAX: f64 = 1e4;

/// A fitted random-intercepts model of one response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmmFit {
    /// Variance of each factor's random intercepts, σ²_k.
    pub sigma2: Vec<f64>,
    /// Residual variance σ²_e.
    pub sigma2_residual: f64,
    /// Fixed intercept μ.
    pub intercept: f64,
    /// Minimised (profiled) deviance on the original scale of y.
    pub deviance: f64,
    /// Objective evaluations.
    pub evaluations: usize,
    /// Whether the optimizer met its tolerance.
    pub converged: bool,
}

impl LmmFit {
    /// Variance fractions: one per factor, then the residual; they sum to 1.
    pub fn fractions(&self) -> Vec<f64> {
        let total: f64 = self.sigma2.iter().sum::<f64>() + self.sigma2_residual;
        self.sigma2
            .iter()
            .chain(std::iter::once(&self.sigma2_residual))
            .map(|v| if total > 0.0 { v / total } else { 0.0 })
            .collect()
    }
}

/// The cross-products a deviance evaluation needs (Z: indicators of all factors' levels).
struct Crossprod {
    n: f64,
    /// Factor of each column of Z.
    col_factor: Vec<usize>,
    ztz: Vec<f64>,
    zty: Vec<f64>,
    zt1: Vec<f64>,
    sum_y: f64,
    yty: f64,
}

impl Crossprod {
    fn new(y: &[f64], codes: &[Vec<usize>]) -> Crossprod {
        let n_levels: Vec<usize> = codes
            .iter()
            .map(|c| c.iter().copied().max().map_or(0, |m| m + 1))
            .collect();
        let offsets: Vec<usize> = n_levels
            .iter()
            .scan(0, |acc, &l| {
                let o = *acc;
                *acc += l;
                Some(o)
            })
            .collect();
        let q: usize = n_levels.iter().sum();
        let col_factor: Vec<usize> = n_levels
            .iter()
            .enumerate()
            .flat_map(|(k, &l)| std::iter::repeat_n(k, l))
            .collect();
        let mut ztz = vec![0.0; q * q];
        let mut zty = vec![0.0; q];
        let mut zt1 = vec![0.0; q];
        for (i, &yi) in y.iter().enumerate() {
            let cols: Vec<usize> = codes.iter().zip(&offsets).map(|(c, o)| o + c[i]).collect();
            for &a in &cols {
                zty[a] += yi;
                zt1[a] += 1.0;
                for &b in &cols {
                    ztz[a * q + b] += 1.0;
                }
            }
        }
        Crossprod {
            n: y.len() as f64,
            col_factor,
            ztz,
            zty,
            zt1,
            sum_y: y.iter().sum(),
            yty: y.iter().map(|v| v * v).sum(),
        }
    }

    /// (deviance, σ̂²_e, μ̂) at θ.
    fn evaluate(&self, theta: &[f64], method: VarPartMethod) -> (f64, f64, f64) {
        let q = self.zty.len();
        let lam: Vec<f64> = self.col_factor.iter().map(|&k| theta[k].max(0.0)).collect();
        // A = Λ ZᵀZ Λ + I, then its Cholesky factor in place (lower triangle).
        let mut l = vec![0.0; q * q];
        for a in 0..q {
            for b in 0..=a {
                l[a * q + b] = lam[a] * self.ztz[a * q + b] * lam[b] + f64::from(u8::from(a == b));
            }
        }
        for j in 0..q {
            let mut d = l[j * q + j];
            for k in 0..j {
                d -= l[j * q + k] * l[j * q + k];
            }
            // A is I + PSD, so d ≥ 1 up to rounding
            let d = d.max(f64::MIN_POSITIVE).sqrt();
            l[j * q + j] = d;
            for i in j + 1..q {
                let mut s = l[i * q + j];
                for k in 0..j {
                    s -= l[i * q + k] * l[j * q + k];
                }
                l[i * q + j] = s / d;
            }
        }
        let forward = |b: Vec<f64>| -> Vec<f64> {
            let mut x = b;
            for i in 0..q {
                let mut s = x[i];
                for k in 0..i {
                    s -= l[i * q + k] * x[k];
                }
                x[i] = s / l[i * q + i];
            }
            x
        };
        let cu = forward((0..q).map(|a| lam[a] * self.zty[a]).collect());
        let rzx = forward((0..q).map(|a| lam[a] * self.zt1[a]).collect());
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let rx2 = (self.n - dot(&rzx, &rzx)).max(f64::MIN_POSITIVE);
        let cb = (self.sum_y - dot(&rzx, &cu)) / rx2.sqrt();
        let beta = cb / rx2.sqrt();
        let r2 = (self.yty - dot(&cu, &cu) - cb * cb).max(f64::MIN_POSITIVE);
        let log_det_l2: f64 = 2.0 * (0..q).map(|j| l[j * q + j].ln()).sum::<f64>();
        let two_pi = 2.0 * std::f64::consts::PI;
        match method {
            VarPartMethod::Ml => {
                let s2 = r2 / self.n;
                (log_det_l2 + self.n * (1.0 + (two_pi * s2).ln()), s2, beta)
            }
            VarPartMethod::Reml => {
                let df = self.n - 1.0;
                let s2 = r2 / df;
                (
                    log_det_l2 + rx2.ln() + df * (1.0 + (two_pi * s2).ln()),
                    s2,
                    beta,
                )
            }
        }
    }
}

/// Fit the random-intercepts model to `y` with one level code per observation for each factor
/// (`codes[k][i]` in 0..L_k, every level used). See the module documentation.
pub fn fit_lmm(y: &[f64], codes: &[Vec<usize>], method: VarPartMethod) -> Result<LmmFit> {
    let n = y.len();
    let bad = |problem: String| StatsError::Option {
        option: "variance partition".into(),
        problem,
    };
    if codes.is_empty() {
        return Err(bad("no factor given".into()));
    }
    if codes.iter().any(|c| c.len() != n) {
        return Err(bad("each factor needs one level per observation".into()));
    }
    if n < 3 || y.iter().any(|v| !v.is_finite()) {
        return Err(bad(format!(
            "needs at least 3 finite observations, got {n}"
        )));
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    let sd = (y.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n as f64 - 1.0)).sqrt();
    if sd <= 0.0 || !sd.is_finite() {
        return Err(bad("the values are all equal".into()));
    }
    let ys: Vec<f64> = y.iter().map(|v| (v - mean) / sd).collect();
    let cp = Crossprod::new(&ys, codes);
    let k = codes.len();
    let dev = |t: &[f64]| cp.evaluate(t, method).0;
    let mut evaluations = 0usize;
    let (mut theta, converged) = if k == 1 {
        let mut f = |t: f64| {
            evaluations += 1;
            dev(&[t])
        };
        let t = brent_fmin(0.0, THETA_MAX, &mut f, 1e-10);
        (vec![t], true)
    } else {
        let res = bobyqa(
            |t: &[f64]| {
                evaluations += 1;
                dev(t)
            },
            &vec![1.0; k],
            &vec![0.0; k],
            &vec![THETA_MAX; k],
            Some(BobyqaParams {
                xtol_rel: 1e-9,
                maxeval: 5000,
            }),
        )
        .map_err(|e| StatsError::Engine {
            step: "variance partition (BOBYQA)",
            message: e.to_string(),
        })?;
        let ok = matches!(
            res.status,
            BobyqaStatus::XtolReached | BobyqaStatus::Success
        );
        (res.x, ok)
    };
    // components on the boundary: try exactly zero
    for j in 0..k {
        if theta[j] < 1e-4 {
            let mut t0 = theta.clone();
            t0[j] = 0.0;
            evaluations += 1;
            if dev(&t0) <= dev(&theta) {
                theta = t0;
            }
        }
    }
    let (d, s2, beta) = cp.evaluate(&theta, method);
    let scale2 = sd * sd;
    // deviance on the original scale: y -> (y - mean)/sd shifts the ML deviance by 2 n log sd
    // and the REML one by 2 (n - 1) log sd (log|X'V^-1 X| moves by -2 log sd)
    let n_eff = match method {
        VarPartMethod::Ml => n as f64,
        VarPartMethod::Reml => n as f64 - 1.0,
    };
    Ok(LmmFit {
        sigma2: theta.iter().map(|t| t * t * s2 * scale2).collect(),
        sigma2_residual: s2 * scale2,
        intercept: mean + beta * sd,
        deviance: d + 2.0 * n_eff * sd.ln(),
        evaluations,
        converged,
    })
}

/// One feature's variance partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VarPartRow {
    /// Feature id.
    pub feature_id: String,
    /// Display name (annotation `name` or `gene`).
    pub name: Option<String>,
    /// Observations used.
    pub n_obs: usize,
    /// `fitted`, or why the feature was not fitted.
    pub status: String,
    /// Variance fractions (factors in order, then the residual) when fitted.
    pub fractions: Option<Vec<f64>>,
    /// Variance components (factors, then the residual) when fitted.
    pub variances: Option<Vec<f64>>,
    /// Whether the optimizer met its tolerance (false also for features not fitted).
    pub converged: bool,
}

/// The variance partition of a layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariancePartition {
    /// Factors (sample-sheet columns), in the order of the fraction columns.
    pub factors: Vec<String>,
    /// ML or REML.
    pub method: VarPartMethod,
    /// The observed-share rule used.
    pub min_observed_fraction: f64,
    /// Samples with a value in every factor (those used).
    pub n_samples: usize,
    /// Layer samples left out for a missing factor value.
    pub dropped_samples: Vec<String>,
    /// One row per feature, in layer order.
    pub rows: Vec<VarPartRow>,
}

impl VariancePartition {
    /// Number of fitted features.
    pub fn n_fitted(&self) -> usize {
        self.rows.iter().filter(|r| r.fractions.is_some()).count()
    }
}

/// Level codes (0.. in order of first appearance) of the given observations of one factor.
fn recode(labels: &[&str]) -> (Vec<usize>, usize) {
    let mut levels: Vec<&str> = Vec::new();
    let codes = labels
        .iter()
        .map(|l| match levels.iter().position(|x| x == l) {
            Some(p) => p,
            None => {
                levels.push(l);
                levels.len() - 1
            }
        })
        .collect();
    (codes, levels.len())
}

/// Variance partition of every feature of `assay` over the sample-sheet `factors` (each a
/// categorical random effect; numeric columns are read as labels). See the module documentation
/// for the model, the fit and the feature rule.
pub fn variance_partition(
    assay: &Assay,
    sheet: &SampleSheet,
    factors: &[String],
    options: &VarPartOptions,
) -> Result<VariancePartition> {
    if factors.is_empty() {
        return Err(StatsError::Option {
            option: "factors".into(),
            problem: "no factor given; name sample-sheet columns such as source, donor_id, batch"
                .into(),
        });
    }
    if !(options.min_observed_fraction > 0.0 && options.min_observed_fraction <= 1.0) {
        return Err(StatsError::Option {
            option: "min_observed_fraction".into(),
            problem: format!("{} must lie in (0, 1]", options.min_observed_fraction),
        });
    }
    for (i, f) in factors.iter().enumerate() {
        if factors[..i].contains(f) {
            return Err(StatsError::Option {
                option: "factors".into(),
                problem: format!("'{f}' is listed twice"),
            });
        }
    }
    let labels: Vec<Vec<Option<String>>> = factors
        .iter()
        .map(|f| crate::classical::labels_from_sheet(sheet, f, assay.samples()))
        .collect::<Result<_>>()?;
    let used: Vec<usize> = (0..assay.n_samples())
        .filter(|&j| labels.iter().all(|l| l[j].is_some()))
        .collect();
    let dropped_samples: Vec<String> = (0..assay.n_samples())
        .filter(|j| !used.contains(j))
        .map(|j| assay.samples()[j].clone())
        .collect();
    for (f, l) in factors.iter().zip(&labels) {
        let lv: Vec<&str> = used.iter().filter_map(|&j| l[j].as_deref()).collect();
        let (_, n_levels) = recode(&lv);
        if n_levels < 2 {
            return Err(StatsError::Column {
                column: f.clone(),
                problem: format!(
                    "has {n_levels} level(s) among the {} samples with every factor; a factor needs at least two",
                    used.len()
                ),
            });
        }
        if n_levels >= used.len() {
            return Err(StatsError::Column {
                column: f.clone(),
                problem: "has a different value in every sample, so its variance cannot be told from the residual; use a grouping column".into(),
            });
        }
    }
    let min_obs = ((options.min_observed_fraction * used.len() as f64) - 1e-9)
        .ceil()
        .max(3.0) as usize;
    let names = feature_names(assay);
    let rows: Vec<VarPartRow> = (0..assay.n_features())
        .into_par_iter()
        .map(|i| {
            let obs: Vec<usize> = used
                .iter()
                .copied()
                .filter(|&j| assay.get(i, j).is_some())
                .collect();
            let row = |status: String, fit: Option<&LmmFit>| VarPartRow {
                feature_id: assay.features().ids()[i].clone(),
                name: names[i].clone(),
                n_obs: obs.len(),
                status,
                fractions: fit.map(LmmFit::fractions),
                variances: fit.map(|f| {
                    f.sigma2
                        .iter()
                        .copied()
                        .chain(std::iter::once(f.sigma2_residual))
                        .collect()
                }),
                converged: fit.is_some_and(|f| f.converged),
            };
            if obs.len() < min_obs {
                return row(
                    format!(
                        "observed in {} of {} samples (< {min_obs})",
                        obs.len(),
                        used.len()
                    ),
                    None,
                );
            }
            let values: Vec<f64> = obs.iter().filter_map(|&j| assay.get(i, j)).collect();
            if let Some(reason) = crate::constant::constant_up_to_rounding(&values, assay.scale()) {
                return row(reason, None);
            }
            let mut codes = Vec::with_capacity(factors.len());
            for (f, l) in factors.iter().zip(&labels) {
                let lv: Vec<&str> = obs.iter().filter_map(|&j| l[j].as_deref()).collect();
                let (c, n_levels) = recode(&lv);
                if n_levels < 2 {
                    return row(
                        format!("'{f}' has one level among the observed samples"),
                        None,
                    );
                }
                if n_levels >= obs.len() {
                    return row(format!("'{f}' has as many levels as observations"), None);
                }
                codes.push(c);
            }
            for a in 0..codes.len() {
                for b in 0..a {
                    if same_partition(&codes[a], &codes[b]) {
                        return row(
                            format!(
                                "'{}' and '{}' group the observed samples identically",
                                factors[b], factors[a]
                            ),
                            None,
                        );
                    }
                }
            }
            let y: Vec<f64> = obs.iter().filter_map(|&j| assay.get(i, j)).collect();
            match fit_lmm(&y, &codes, options.method) {
                Ok(fit) => row("fitted".into(), Some(&fit)),
                Err(e) => row(format!("not fitted: {e}"), None),
            }
        })
        .collect();
    Ok(VariancePartition {
        factors: factors.to_vec(),
        method: options.method,
        min_observed_fraction: options.min_observed_fraction,
        n_samples: used.len(),
        dropped_samples,
        rows,
    })
}

/// True when two codings induce the same partition of the observations.
fn same_partition(a: &[usize], b: &[usize]) -> bool {
    let mut map_ab: std::collections::BTreeMap<usize, usize> = Default::default();
    let mut map_ba: std::collections::BTreeMap<usize, usize> = Default::default();
    a.iter()
        .zip(b)
        .all(|(&x, &y)| *map_ab.entry(x).or_insert(y) == y && *map_ba.entry(y).or_insert(x) == x)
}

/// Summary of one component's fractions across the fitted features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VarPartSummary {
    /// Factor name, or `Residuals`.
    pub component: String,
    /// Fitted features.
    pub n_features: usize,
    /// Mean fraction.
    pub mean: f64,
    /// Quantiles of the fraction (R type 7): 25 %, 50 %, 75 %.
    pub q25: f64,
    /// Median fraction.
    pub median: f64,
    /// 75 % quantile.
    pub q75: f64,
    /// Largest fraction.
    pub max: f64,
    /// Features for which this component has the largest share.
    pub n_largest: usize,
}

/// Per-component summary across fitted features (factors in order, then `Residuals`); empty
/// when no feature was fitted.
pub fn summarize(vp: &VariancePartition) -> Vec<VarPartSummary> {
    let fitted: Vec<&Vec<f64>> = vp
        .rows
        .iter()
        .filter_map(|r| r.fractions.as_ref())
        .collect();
    if fitted.is_empty() {
        return Vec::new();
    }
    let names: Vec<String> = vp
        .factors
        .iter()
        .cloned()
        .chain(std::iter::once("Residuals".to_string()))
        .collect();
    let mut largest = vec![0usize; names.len()];
    for f in &fitted {
        let mut best = 0;
        for c in 1..f.len() {
            if f[c] > f[best] {
                best = c;
            }
        }
        largest[best] += 1;
    }
    names
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let mut v: Vec<f64> = fitted.iter().map(|f| f[c]).collect();
            v.sort_by(f64::total_cmp);
            VarPartSummary {
                component: name.clone(),
                n_features: v.len(),
                mean: v.iter().sum::<f64>() / v.len() as f64,
                q25: quantile7_sorted(&v, 0.25),
                median: quantile7_sorted(&v, 0.5),
                q75: quantile7_sorted(&v, 0.75),
                max: v[v.len() - 1],
                n_largest: largest[c],
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Balanced one-way layout: REML equals the ANOVA estimators when they are positive:
    /// σ²_e = MSW, σ²_a = (MSB − MSW) / n_per_group.
    #[test]
    fn reml_equals_anova_estimators_in_balanced_one_way_layout() {
        let groups = [
            [10.2, 11.1, 9.8, 10.6],
            [12.5, 13.1, 12.2, 12.9],
            [9.1, 8.7, 9.9, 9.4],
            [11.0, 11.8, 10.7, 11.5],
            [10.1, 9.5, 10.8, 10.0],
        ];
        let y: Vec<f64> = groups.iter().flatten().copied().collect();
        let codes = vec![(0..20).map(|i| i / 4).collect::<Vec<usize>>()];
        let fit = fit_lmm(&y, &codes, VarPartMethod::Reml).unwrap();
        let grand = y.iter().sum::<f64>() / 20.0;
        let means: Vec<f64> = groups.iter().map(|g| g.iter().sum::<f64>() / 4.0).collect();
        let ssb: f64 = means.iter().map(|m| 4.0 * (m - grand) * (m - grand)).sum();
        let ssw: f64 = groups
            .iter()
            .zip(&means)
            .map(|(g, m)| g.iter().map(|v| (v - m) * (v - m)).sum::<f64>())
            .sum();
        let (msb, msw) = (ssb / 4.0, ssw / 15.0);
        let s2a = (msb - msw) / 4.0;
        assert!(
            (fit.sigma2_residual - msw).abs() < 1e-6 * msw,
            "{fit:?} vs {msw}"
        );
        assert!((fit.sigma2[0] - s2a).abs() < 1e-6 * s2a, "{fit:?} vs {s2a}");
        assert!((fit.intercept - grand).abs() < 1e-9);
        // ML: σ²_e the same MSW here (balanced), σ²_a = ((1 - 1/a) MSB - MSW) / n
        let ml = fit_lmm(&y, &codes, VarPartMethod::Ml).unwrap();
        let s2a_ml = ((1.0 - 1.0 / 5.0) * msb - msw) / 4.0;
        assert!((ml.sigma2_residual - msw).abs() < 1e-6 * msw, "{ml:?}");
        assert!(
            (ml.sigma2[0] - s2a_ml).abs() < 1e-6 * s2a_ml,
            "{ml:?} vs {s2a_ml}"
        );
        let f = fit.fractions();
        assert!((f.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    /// When the between-group mean square is below the within one, the REML estimate of the
    /// group variance is 0 (the boundary), as lme4 reports a singular fit.
    #[test]
    fn boundary_estimate_is_exactly_zero() {
        let y = [1.0, 3.0, 2.0, 2.9, 1.1, 2.0, 1.2, 2.8, 2.0];
        let codes = vec![vec![0, 0, 0, 1, 1, 1, 2, 2, 2]];
        let fit = fit_lmm(&y, &codes, VarPartMethod::Reml).unwrap();
        assert_eq!(fit.sigma2[0], 0.0);
        let mean = y.iter().sum::<f64>() / 9.0;
        let var = y.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 8.0;
        assert!((fit.sigma2_residual - var).abs() < 1e-9);
    }

    /// Balanced two-way crossed layout without interaction, a levels of A × b levels of B × r
    /// replicates: REML equals the ANOVA (expected mean squares) estimators when positive.
    #[test]
    fn reml_equals_anova_in_balanced_crossed_layout() {
        let (a, b, r) = (4usize, 3usize, 3usize);
        let ea = [0.9, -1.3, 0.2, 0.7];
        let eb = [-0.8, 0.1, 1.1];
        let mut y = Vec::new();
        let mut ca = Vec::new();
        let mut cb = Vec::new();
        let mut t = 0.0f64;
        for (i, ai) in ea.iter().enumerate() {
            for (j, bj) in eb.iter().enumerate() {
                for _ in 0..r {
                    // deterministic "noise" with mean ≈ 0
                    t += 1.0;
                    let e = ((t * 12.9898).sin() * 43758.5453).fract() - 0.5;
                    y.push(5.0 + ai + bj + 0.6 * e);
                    ca.push(i);
                    cb.push(j);
                }
            }
        }
        let n = y.len() as f64;
        let grand = y.iter().sum::<f64>() / n;
        let mean_by = |codes: &[usize], l: usize| -> Vec<f64> {
            let mut s = vec![0.0; l];
            let mut c = vec![0.0; l];
            for (v, &k) in y.iter().zip(codes) {
                s[k] += v;
                c[k] += 1.0;
            }
            s.iter().zip(&c).map(|(s, c)| s / c).collect()
        };
        let ma = mean_by(&ca, a);
        let mb = mean_by(&cb, b);
        let ssa: f64 = ma
            .iter()
            .map(|m| (b * r) as f64 * (m - grand).powi(2))
            .sum();
        let ssb: f64 = mb
            .iter()
            .map(|m| (a * r) as f64 * (m - grand).powi(2))
            .sum();
        let sse: f64 = y
            .iter()
            .zip(ca.iter().zip(&cb))
            .map(|(v, (&i, &j))| (v - ma[i] - mb[j] + grand).powi(2))
            .sum();
        let dfe = n - a as f64 - b as f64 + 1.0;
        let (msa, msb, mse) = (ssa / (a - 1) as f64, ssb / (b - 1) as f64, sse / dfe);
        let s2a = (msa - mse) / (b * r) as f64;
        let s2b = (msb - mse) / (a * r) as f64;
        let fit = fit_lmm(&y, &[ca, cb], VarPartMethod::Reml).unwrap();
        assert!(fit.converged);
        assert!(
            (fit.sigma2_residual - mse).abs() < 1e-5 * mse,
            "{fit:?} vs {mse}"
        );
        assert!((fit.sigma2[0] - s2a).abs() < 1e-5 * s2a, "{fit:?} vs {s2a}");
        assert!((fit.sigma2[1] - s2b).abs() < 1e-5 * s2b, "{fit:?} vs {s2b}");
    }

    /// −2 log-likelihood (ML) or −2 restricted log-likelihood (REML) computed densely from
    /// V = σ²_e I + Σ_k σ²_k Z_k Z_kᵀ, independent of the profiled formulas.
    fn dense_deviance(y: &[f64], codes: &[Vec<usize>], s2: &[f64], s2e: f64, reml: bool) -> f64 {
        let n = y.len();
        let mut v = vec![0.0; n * n];
        for a in 0..n {
            v[a * n + a] += s2e;
            for b in 0..n {
                for (k, c) in codes.iter().enumerate() {
                    if c[a] == c[b] {
                        v[a * n + b] += s2[k];
                    }
                }
            }
        }
        // Cholesky of V
        let mut l = v.clone();
        for j in 0..n {
            let mut d = l[j * n + j];
            for k in 0..j {
                d -= l[j * n + k] * l[j * n + k];
            }
            let d = d.sqrt();
            l[j * n + j] = d;
            for i in j + 1..n {
                let mut t = l[i * n + j];
                for k in 0..j {
                    t -= l[i * n + k] * l[j * n + k];
                }
                l[i * n + j] = t / d;
            }
            for i in 0..j {
                l[i * n + j] = 0.0;
            }
        }
        let solve = |b: &[f64]| -> Vec<f64> {
            let mut z = b.to_vec();
            for i in 0..n {
                for k in 0..i {
                    z[i] -= l[i * n + k] * z[k];
                }
                z[i] /= l[i * n + i];
            }
            for i in (0..n).rev() {
                for k in i + 1..n {
                    z[i] -= l[k * n + i] * z[k];
                }
                z[i] /= l[i * n + i];
            }
            z
        };
        let vi1 = solve(&vec![1.0; n]);
        let viy = solve(y);
        let x_vi_x: f64 = vi1.iter().sum();
        let mu = viy.iter().sum::<f64>() / x_vi_x;
        let r: Vec<f64> = y.iter().map(|v| v - mu).collect();
        let vir = solve(&r);
        let quad: f64 = r.iter().zip(&vir).map(|(a, b)| a * b).sum();
        let log_det: f64 = 2.0 * (0..n).map(|j| l[j * n + j].ln()).sum::<f64>();
        let two_pi = (2.0 * std::f64::consts::PI).ln();
        if reml {
            (n as f64 - 1.0) * two_pi + log_det + x_vi_x.ln() + quad
        } else {
            n as f64 * two_pi + log_det + quad
        }
    }

    /// On an unbalanced crossed layout (as after missing values) the fit is the maximum of the
    /// densely computed (restricted) likelihood: its deviance equals the dense one and no nearby
    /// variance components do better.
    #[test]
    fn fit_maximizes_the_dense_likelihood_on_unbalanced_data() {
        let mut y = Vec::new();
        let (mut ca, mut cb) = (Vec::new(), Vec::new());
        let ea = [1.2, -0.7, 0.1, -0.9, 0.6];
        let eb = [0.5, -0.4, 0.2, -0.6, 0.0, 0.45, -0.3];
        let mut t = 0.0f64;
        for (i, ai) in ea.iter().enumerate() {
            for (j, bj) in eb.iter().enumerate() {
                t += 1.0;
                // leave out about a quarter of the cells, unevenly
                if (i * 7 + j) % 4 == 1 || (i == 3 && j > 3) {
                    continue;
                }
                let e = ((t * 78.233).sin() * 43758.5453).fract() - 0.5;
                y.push(3.0 + ai + bj + 0.8 * e);
                ca.push(i);
                cb.push(j);
            }
        }
        let codes = vec![ca, cb];
        for (method, reml) in [(VarPartMethod::Ml, false), (VarPartMethod::Reml, true)] {
            let fit = fit_lmm(&y, &codes, method).unwrap();
            assert!(fit.converged);
            let d0 = dense_deviance(&y, &codes, &fit.sigma2, fit.sigma2_residual, reml);
            assert!(
                (d0 - fit.deviance).abs() < 1e-8 * d0.abs().max(1.0),
                "{method:?}: profiled {} vs dense {d0}",
                fit.deviance
            );
            for c in 0..3 {
                for f in [0.97, 1.03] {
                    let mut s2 = fit.sigma2.clone();
                    let mut s2e = fit.sigma2_residual;
                    if c < 2 {
                        s2[c] = if s2[c] > 0.0 {
                            s2[c] * f
                        } else {
                            1e-3 * (f - 0.96)
                        };
                    } else {
                        s2e *= f;
                    }
                    let d = dense_deviance(&y, &codes, &s2, s2e, reml);
                    assert!(
                        d >= d0 - 1e-9,
                        "{method:?}: component {c} x {f}: {d} < {d0}"
                    );
                }
            }
        }
    }

    #[test]
    fn partitions_and_quantiles() {
        assert!(same_partition(&[0, 0, 1, 2], &[1, 1, 0, 2]));
        assert!(!same_partition(&[0, 0, 1, 1], &[0, 1, 1, 1]));
        let v = [1.0, 2.0, 3.0, 4.0];
        assert!((quantile7_sorted(&v, 0.25) - 1.75).abs() < 1e-15);
        assert!((quantile7_sorted(&v, 0.5) - 2.5).abs() < 1e-15);
        assert!(VarPartMethod::parse("REML").is_ok() && VarPartMethod::parse("x").is_err());
    }
}
