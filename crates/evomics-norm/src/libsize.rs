//! edgeR library-size normalization factors (`calcNormFactors`): TMM, upper quartile and RLE.
//!
//! Written from edgeR 3.40's `calcNormFactors.default`, `.calcFactorTMM`, `.calcFactorQuantile`
//! and `.calcFactorRLE` (Robinson & Oshlack 2010, *Genome Biol* 11:R25; Bullard et al. 2010,
//! *BMC Bioinformatics* 11:94; Anders & Huber 2010, *Genome Biol* 11:R106).
//!
//! Fitting keeps what a new sample needs to get its factor on the same footing as the training
//! samples: the TMM reference sample's counts, the rows that were not all zero, the RLE
//! geometric means, and the constant that scaled the training factors to a geometric mean of 1.
//! A new sample's factor is its raw factor against those, divided by that constant, so the
//! training samples' factors are reproduced exactly and a new sample's factor does not depend
//! on which other new samples are transformed with it.
//!
//! Missing counts (flag not observed/imputed) are not zeros: library sizes sum the cells that
//! carry a value, and a gene missing in either sample of a TMM pair is left out of that pair.

use evomics_core::Assay;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{NormError, Result};
use crate::num;
use crate::step::{ensure, NoParams};

/// Which edgeR factor method, and its parameters.
///
/// ```toml
/// norm_factors = { method = "tmm" }                       # edgeR defaults
/// norm_factors = { method = "tmm", logratio_trim = 0.3, sum_trim = 0.05,
///                  do_weighting = true, a_cutoff = -1e10, ref_sample = "EV00017" }
/// norm_factors = { method = "upper_quartile", p = 0.75 }
/// norm_factors = { method = "rle" }
/// norm_factors = { method = "none" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum NormFactorsParams {
    /// Trimmed mean of M-values (edgeR `method = "TMM"`).
    Tmm(TmmParams),
    /// Upper-quartile factors (edgeR `method = "upperquartile"`).
    UpperQuartile(UpperQuartileParams),
    /// Relative log expression (edgeR `method = "RLE"`).
    Rle(RleParams),
    /// All factors 1 (edgeR `method = "none"`).
    None(NoParams),
}

impl NormFactorsParams {
    /// The method's name as configured (`tmm`, `upper_quartile`, `rle`, `none`).
    pub fn name(&self) -> &'static str {
        match self {
            NormFactorsParams::Tmm(_) => "tmm",
            NormFactorsParams::UpperQuartile(_) => "upper_quartile",
            NormFactorsParams::Rle(_) => "rle",
            NormFactorsParams::None(_) => "none",
        }
    }
}

impl Default for NormFactorsParams {
    fn default() -> Self {
        NormFactorsParams::Tmm(TmmParams::default())
    }
}

/// TMM parameters, with edgeR's defaults (`calcNormFactors(method = "TMM")`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TmmParams {
    /// Fraction of M values trimmed from each end, in [0, 0.5) (edgeR `logratioTrim`, 0.3).
    pub logratio_trim: f64,
    /// Fraction of A values trimmed from each end, in [0, 0.5) (edgeR `sumTrim`, 0.05).
    pub sum_trim: f64,
    /// Weight M values by inverse asymptotic variance (edgeR `doWeighting`, true).
    pub do_weighting: bool,
    /// Genes with A at or below this are ignored (edgeR `Acutoff`, -1e10).
    pub a_cutoff: f64,
    /// Reference sample id; by default the sample whose upper quartile (scaled by library size)
    /// is closest to the mean upper quartile (edgeR `refColumn = NULL`).
    pub ref_sample: Option<String>,
}

impl Default for TmmParams {
    fn default() -> Self {
        TmmParams {
            logratio_trim: 0.3,
            sum_trim: 0.05,
            do_weighting: true,
            a_cutoff: -1e10,
            ref_sample: None,
        }
    }
}

/// Upper-quartile parameters (edgeR `.calcFactorQuantile`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpperQuartileParams {
    /// The quantile, in (0, 1] (edgeR `p`, 0.75).
    pub p: f64,
}

impl Default for UpperQuartileParams {
    fn default() -> Self {
        UpperQuartileParams { p: 0.75 }
    }
}

/// RLE has no parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RleParams {}

impl NormFactorsParams {
    /// Method name as written in the config.
    pub fn method(&self) -> &'static str {
        match self {
            NormFactorsParams::Tmm(_) => "tmm",
            NormFactorsParams::UpperQuartile(_) => "upper_quartile",
            NormFactorsParams::Rle(_) => "rle",
            NormFactorsParams::None(_) => "none",
        }
    }

    /// Check the parameters.
    pub fn validate(&self, step: &'static str) -> Result<()> {
        match self {
            NormFactorsParams::Tmm(p) => {
                ensure(
                    (0.0..0.5).contains(&p.logratio_trim),
                    step,
                    "logratio_trim",
                    format!(
                        "is {}; use a fraction in [0, 0.5) (edgeR default 0.3)",
                        p.logratio_trim
                    ),
                )?;
                ensure(
                    (0.0..0.5).contains(&p.sum_trim),
                    step,
                    "sum_trim",
                    format!(
                        "is {}; use a fraction in [0, 0.5) (edgeR default 0.05)",
                        p.sum_trim
                    ),
                )?;
                ensure(
                    !p.a_cutoff.is_nan(),
                    step,
                    "a_cutoff",
                    "is NaN; use a number (edgeR default -1e10)".into(),
                )?;
                ensure(
                    p.ref_sample.as_ref().is_none_or(|s| !s.trim().is_empty()),
                    step,
                    "ref_sample",
                    "is empty; name a sample id or leave it out".into(),
                )
            }
            NormFactorsParams::UpperQuartile(p) => ensure(
                p.p > 0.0 && p.p <= 1.0,
                step,
                "p",
                format!("is {}; use a quantile in (0, 1] (edgeR default 0.75)", p.p),
            ),
            NormFactorsParams::Rle(_) | NormFactorsParams::None(_) => Ok(()),
        }
    }

    /// Fit on a count layer (features × samples); see [`FittedNormFactors::norm_factors`] for
    /// the factors themselves.
    pub fn fit(&self, assay: &Assay) -> Result<FittedNormFactors> {
        self.fit_in("norm_factors", assay)
    }

    pub(crate) fn fit_in(&self, step: &'static str, assay: &Assay) -> Result<FittedNormFactors> {
        Ok(self.fit_factors(step, assay)?.0)
    }

    /// Fit, and return the training samples' factors and library sizes with it (what
    /// [`FittedNormFactors::factors`] would compute again on the same layer).
    pub(crate) fn fit_factors(
        &self,
        step: &'static str,
        assay: &Assay,
    ) -> Result<(FittedNormFactors, Vec<f64>, Vec<f64>)> {
        self.validate(step)?;
        let counts = Counts::read(step, assay)?;
        let g = counts.n_features;
        let n = counts.n_samples;
        // edgeR drops genes that are zero (here: zero or without value) in every sample
        let nonzero: Vec<bool> = (0..g)
            .map(|i| (0..n).any(|j| counts.get(i, j).is_some_and(|v| v > 0.0)))
            .collect();
        let features = assay.features().ids().to_vec();
        let kind = match self {
            NormFactorsParams::None(_) => FactorKind::None,
            NormFactorsParams::UpperQuartile(p) => FactorKind::UpperQuartile {
                p: p.p,
                nonzero: nonzero.clone(),
            },
            NormFactorsParams::Rle(_) => {
                let log_gm = (0..g)
                    .map(|i| {
                        let logs: Vec<f64> = (0..n)
                            .map(|j| counts.get(i, j).map_or(f64::NAN, f64::ln))
                            .collect();
                        let m = num::mean(&logs);
                        // gm > 0 in edgeR: finite log geometric mean
                        m.is_finite().then_some(m)
                    })
                    .collect();
                FactorKind::Rle { log_gm }
            }
            NormFactorsParams::Tmm(p) => {
                let rc = match &p.ref_sample {
                    Some(s) => assay
                        .sample_position(s)
                        .ok_or_else(|| NormError::InvalidParam {
                            step,
                            param: "ref_sample",
                            problem: format!(
                                "names sample '{s}', which is not in layer '{}'",
                                assay.name()
                            ),
                        })?,
                    None => ref_column(&counts, &nonzero),
                };
                FactorKind::Tmm {
                    params: p.clone(),
                    ref_sample: assay.samples()[rc].clone(),
                    ref_counts: (0..g).map(|i| counts.get(i, rc)).collect(),
                    ref_lib: counts.lib[rc],
                }
            }
        };
        let mut fitted = FittedNormFactors {
            features,
            kind,
            scale: 1.0,
        };
        let raw = fitted.raw_factors(step, assay, &counts)?;
        if n > 1 && !matches!(fitted.kind, FactorKind::None) {
            // edgeR: f / exp(mean(log(f)))
            let logs: Vec<f64> = raw.iter().map(|f| f.ln()).collect();
            fitted.scale = num::mean(&logs).exp();
        }
        let nf = raw.iter().map(|f| f / fitted.scale).collect();
        Ok((fitted, nf, counts.lib))
    }
}

/// The edgeR default reference column: upper quartile over library size closest to the mean,
/// or the largest sum of square-root counts when most upper quartiles are zero.
fn ref_column(counts: &Counts, nonzero: &[bool]) -> usize {
    let n = counts.n_samples;
    let f75: Vec<f64> = counts.map_samples(|j, column| {
        num::quantile7_in_place(&mut nonzero_values(column, nonzero), 0.75) / counts.lib[j]
    });
    if num::median(&f75) < 1e-20 {
        let sums: Vec<f64> = counts.map_samples(|_, column| {
            num::sum(nonzero_values(column, nonzero).into_iter().map(f64::sqrt))
        });
        // which.max: first maximum
        let mut best = 0;
        for j in 1..n {
            if sums[j] > sums[best] {
                best = j;
            }
        }
        best
    } else {
        let m = num::mean(&f75);
        // which.min: first minimum
        let mut best = 0;
        for j in 1..n {
            if (f75[j] - m).abs() < (f75[best] - m).abs() {
                best = j;
            }
        }
        best
    }
}

/// A sample's values on the rows marked in `nonzero`, in feature order.
fn nonzero_values(column: &[f64], nonzero: &[bool]) -> Vec<f64> {
    column
        .iter()
        .zip(nonzero)
        .filter(|&(x, &nz)| nz && !x.is_nan())
        .map(|(&x, _)| x)
        .collect()
}

/// Whole counts below this get their log proportion from a per-sample table in [`tmm_factor`].
const SMALL_COUNTS: usize = 256;

/// What [`tmm_factor`] needs of one gene's reference count `r`, computed once for every
/// sample: the proportion `r / n_r`, its log2 and the reference's part of the variance,
/// `(n_r − r) / n_r / r`. [`reference_genes`] gives `None` where the reference has no value or
/// a zero (edgeR's M and A are then not finite and the gene is skipped).
#[derive(Debug, Clone, Copy)]
struct RefGene {
    prop: f64,
    log: f64,
    var: f64,
}

/// The reference side of every gene (see [`RefGene`]).
fn reference_genes(ref_counts: &[Option<f64>], n_r: f64) -> Vec<Option<RefGene>> {
    ref_counts
        .iter()
        .map(|r| {
            let r = (*r).filter(|&r| r != 0.0)?;
            let prop = r / n_r;
            Some(RefGene {
                prop,
                log: prop.log2(),
                var: (n_r - r) / n_r / r,
            })
        })
        .collect()
}

/// `.calcFactorTMM` for one sample against the reference (`refs`, see [`RefGene`]); genes
/// without a value in either sample are skipped like edgeR's non-finite M and A values.
///
/// Every value is edgeR's expression evaluated on the same operands, so the factor is edgeR's
/// bit for bit: `log2((o / n_o) / (r / n_r))` with `r / n_r` taken from the reference,
/// `(log2(o / n_o) + log2(r / n_r)) / 2`, and the variance `(n_o − o) / n_o / o +
/// (n_r − r) / n_r / r` only for the genes both trims keep (the others never use it).
fn tmm_factor(obs: &[f64], refs: &[Option<RefGene>], n_o: f64, p: &TmmParams) -> f64 {
    let mut log_r = Vec::with_capacity(obs.len());
    let mut abs_e = Vec::with_capacity(obs.len());
    // The sample's count and the reference's variance part of each gene in `log_r`.
    let mut parts: Vec<(f64, f64)> = Vec::with_capacity(obs.len());
    // log2(k / n_o) of the small whole counts k, each computed once when first met (most
    // counts of a small-RNA library are small), the value `(o / n_o).log2()` gives.
    let mut small_log = [f64::NAN; SMALL_COUNTS];
    for (&o, r) in obs.iter().zip(refs) {
        let Some(r) = r else {
            continue;
        };
        // A zero (or no value) makes M or A infinite or NaN, which edgeR skips: skipped
        // before any logarithm.
        if o.is_nan() || o == 0.0 {
            continue;
        }
        let prop = o / n_o;
        let lr = (prop / r.prop).log2();
        let k = o as usize;
        let lo = match small_log.get_mut(k) {
            Some(cached) if k as f64 == o => {
                if cached.is_nan() {
                    *cached = prop.log2();
                }
                *cached
            }
            _ => prop.log2(),
        };
        let ae = (lo + r.log) / 2.0;
        if lr.is_finite() && ae.is_finite() && ae > p.a_cutoff {
            log_r.push(lr);
            abs_e.push(ae);
            parts.push((o, r.var));
        }
    }
    if log_r.is_empty() || log_r.iter().fold(0.0_f64, |m, x| m.max(x.abs())) < 1e-6 {
        return 1.0;
    }
    let n = log_r.len() as f64;
    let lo_l = (n * p.logratio_trim).floor() + 1.0;
    let hi_l = n + 1.0 - lo_l;
    let lo_s = (n * p.sum_trim).floor() + 1.0;
    let hi_s = n + 1.0 - lo_s;
    // rank(logR) and rank(absE) inside their trims, without sorting either.
    let in_r = num::average_rank_within(&log_r, lo_l, hi_l);
    let in_e = num::average_rank_within(&abs_e, lo_s, hi_s);
    let keep: Vec<usize> = (0..log_r.len()).filter(|&i| in_r[i] && in_e[i]).collect();
    let f = if p.do_weighting {
        let v: Vec<f64> = keep
            .iter()
            .map(|&i| {
                let (o, r_var) = parts[i];
                (n_o - o) / n_o / o + r_var
            })
            .collect();
        num::sum(keep.iter().zip(&v).map(|(&i, v)| log_r[i] / v))
            / num::sum(v.iter().map(|v| 1.0 / v))
    } else {
        num::sum(keep.iter().map(|&i| log_r[i])) / keep.len() as f64
    };
    // edgeR: no shared positive genes gives NA, taken as a factor of 1
    let f = if f.is_nan() { 0.0 } else { f };
    f.exp2()
}

/// A checked count layer with its library sizes over the cells that carry a value.
///
/// The layer is read in place (features × samples). What works on one sample's counts at a
/// time gets them from [`Counts::map_samples`], which copies [`SAMPLE_BLOCK`] samples at a time
/// into a buffer of its own: a method's memory does not grow with the layer.
pub(crate) struct Counts<'a> {
    assay: &'a Assay,
    pub(crate) n_features: usize,
    pub(crate) n_samples: usize,
    pub(crate) lib: Vec<f64>,
}

/// Samples per block in [`Counts::map_samples`]: a block's rows are read along a few cache
/// lines each, and the block's columns (16 × 8 bytes per feature) stay in cache while used.
const SAMPLE_BLOCK: usize = 16;

impl<'a> Counts<'a> {
    /// Read and check: values ≥ 0, every library size > 0.
    pub(crate) fn read(step: &'static str, assay: &'a Assay) -> Result<Counts<'a>> {
        let n = assay.n_samples();
        crate::step::check_not_below(step, assay, 0.0, |v| {
            format!(
                "value {v} is negative; library-size methods need counts or linear intensities ≥ 0"
            )
        })?;
        let lib = column_sums(assay);
        if let Some(j) = (0..n).find(|&j| lib[j] <= 0.0) {
            return Err(NormError::Sample {
                step,
                layer: assay.name().to_string(),
                sample: assay.samples()[j].clone(),
                problem: format!(
                    "library size (sum of values) is {}; a sample needs a positive total (remove empty samples first)",
                    lib[j]
                ),
            });
        }
        Ok(Counts {
            assay,
            n_features: assay.n_features(),
            n_samples: n,
            lib,
        })
    }

    #[inline]
    pub(crate) fn get(&self, i: usize, j: usize) -> Option<f64> {
        self.assay.flags()[[i, j]]
            .has_value()
            .then(|| self.assay.values()[[i, j]])
    }

    /// `f(j, counts of sample j)` for every sample, in sample order; a sample's counts are NaN
    /// where a cell has no value. Blocks of samples run in parallel, and each `f(j, …)` sees
    /// only its own sample, so the thread count cannot change a result.
    fn map_samples<T: Send>(&self, f: impl Fn(usize, &[f64]) -> T + Sync) -> Vec<T> {
        let (g, n) = (self.n_features, self.n_samples);
        let (values, flags) = (self.assay.values(), self.assay.flags());
        let blocks: Vec<usize> = (0..n).step_by(SAMPLE_BLOCK).collect();
        let per_block: Vec<Vec<T>> = blocks
            .into_par_iter()
            .map(|j0| {
                let j1 = (j0 + SAMPLE_BLOCK).min(n);
                let w = j1 - j0;
                let mut cells = vec![f64::NAN; w * g];
                for (i, (vrow, frow)) in values.rows().into_iter().zip(flags.rows()).enumerate() {
                    // A row-major layer's block is one slice of each row.
                    if let (Some(vs), Some(fs)) = (vrow.as_slice(), frow.as_slice()) {
                        for (k, (&x, f)) in vs[j0..j1].iter().zip(&fs[j0..j1]).enumerate() {
                            if f.has_value() {
                                cells[k * g + i] = x;
                            }
                        }
                    } else {
                        for j in j0..j1 {
                            if frow[j].has_value() {
                                cells[(j - j0) * g + i] = vrow[j];
                            }
                        }
                    }
                }
                (j0..j1)
                    .map(|j| f(j, &cells[(j - j0) * g..(j - j0 + 1) * g]))
                    .collect()
            })
            .collect();
        per_block.into_iter().flatten().collect()
    }
}

/// Every sample's sum of the cells that carry a value, in feature order (`num::sum` of the
/// sample's column, with one running sum per sample while the rows are read).
fn column_sums(assay: &Assay) -> Vec<f64> {
    let mut sums = vec![num::CompensatedSum::default(); assay.n_samples()];
    for (row, frow) in assay.values().rows().into_iter().zip(assay.flags().rows()) {
        for ((acc, &x), f) in sums.iter_mut().zip(row).zip(frow) {
            if f.has_value() {
                acc.add(x);
            }
        }
    }
    sums.into_iter().map(num::CompensatedSum::total).collect()
}

/// What a fitted factor method keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum FactorKind {
    /// Factors are 1.
    None,
    /// TMM against a stored reference sample.
    Tmm {
        /// The TMM parameters.
        params: TmmParams,
        /// Id of the reference sample.
        ref_sample: String,
        /// The reference sample's counts per feature (`None` = missing).
        ref_counts: Vec<Option<f64>>,
        /// The reference sample's library size.
        ref_lib: f64,
    },
    /// Upper quartile over the rows that were not all zero in training.
    UpperQuartile {
        /// The quantile.
        p: f64,
        /// Per feature: true when it had a positive count in some training sample.
        nonzero: Vec<bool>,
    },
    /// RLE against the training geometric means.
    Rle {
        /// Per feature: log geometric mean over the training samples, `None` when a training
        /// sample had a zero or no value (edgeR's `gm > 0` excludes those genes).
        log_gm: Vec<Option<f64>>,
    },
}

/// Fitted edgeR normalization factors, applicable to new samples of the same features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedNormFactors {
    /// Feature ids the factors were fitted on.
    pub features: Vec<String>,
    /// The method and what it keeps.
    pub kind: FactorKind,
    /// Geometric mean of the training samples' raw factors; every factor is divided by it.
    pub scale: f64,
}

impl FittedNormFactors {
    fn raw_factors(&self, step: &'static str, assay: &Assay, counts: &Counts) -> Result<Vec<f64>> {
        let n = counts.n_samples;
        // Each factor is computed from its own sample alone (`Counts::map_samples`), so the
        // thread count cannot change a bit.
        let raw: Vec<f64> = match &self.kind {
            FactorKind::None => vec![1.0; n],
            FactorKind::Tmm {
                params,
                ref_counts,
                ref_lib,
                ..
            } => {
                // The reference's side of each gene, the same for every sample.
                let refs = reference_genes(ref_counts, *ref_lib);
                counts.map_samples(|j, column| tmm_factor(column, &refs, counts.lib[j], params))
            }
            FactorKind::UpperQuartile { p, nonzero } => counts.map_samples(|j, column| {
                num::quantile7_in_place(&mut nonzero_values(column, nonzero), *p) / counts.lib[j]
            }),
            FactorKind::Rle { log_gm } => counts.map_samples(|j, column| {
                let mut ratios: Vec<f64> = column
                    .iter()
                    .zip(log_gm)
                    .filter_map(|(&x, lg)| {
                        let lg = (*lg)?;
                        (!x.is_nan()).then(|| x / lg.exp())
                    })
                    .collect();
                num::median_in_place(&mut ratios) / counts.lib[j]
            }),
        };
        if let Some(j) = (0..n).find(|&j| !(raw[j].is_finite() && raw[j] > 0.0)) {
            return Err(NormError::Sample {
                step,
                layer: assay.name().to_string(),
                sample: assay.samples()[j].clone(),
                problem: format!(
                    "the {} normalization factor is {} (too few positive counts); filter low counts first or use method = \"tmm\"",
                    match self.kind {
                        FactorKind::UpperQuartile { .. } => "upper-quartile",
                        FactorKind::Rle { .. } => "RLE",
                        _ => "TMM",
                    },
                    raw[j]
                ),
            });
        }
        Ok(raw)
    }

    /// Library sizes and normalization factors of the layer's samples, as edgeR's
    /// `y$samples` after `calcNormFactors`; the layer must have the fitted features.
    pub fn norm_factors(&self, assay: &Assay) -> Result<LibrarySizes> {
        let (norm_factors, lib_size) = self.factors("norm_factors", assay)?;
        Ok(LibrarySizes {
            samples: assay.samples().to_vec(),
            lib_size,
            norm_factors,
        })
    }

    pub(crate) fn factors(
        &self,
        step: &'static str,
        assay: &Assay,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        crate::step::check_features(step, assay, &self.features)?;
        let counts = Counts::read(step, assay)?;
        let raw = self.raw_factors(step, assay, &counts)?;
        Ok((raw.iter().map(|f| f / self.scale).collect(), counts.lib))
    }
}

/// Per-sample library sizes and normalization factors (edgeR `y$samples`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LibrarySizes {
    /// Sample ids, in layer order.
    pub samples: Vec<String>,
    /// edgeR `lib.size`: the sum of the sample's cells that carry a value.
    pub lib_size: Vec<f64>,
    /// edgeR `norm.factors`.
    pub norm_factors: Vec<f64>,
}

impl LibrarySizes {
    /// Effective library sizes, `lib.size × norm.factors`.
    pub fn effective(&self) -> Vec<f64> {
        self.lib_size
            .iter()
            .zip(&self.norm_factors)
            .map(|(l, f)| l * f)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::{Features, LayerKind, ValueScale};
    use ndarray::Array2;

    fn counts(rows: &[&[f64]]) -> Assay {
        let cells = Array2::from_shape_fn((rows.len(), rows[0].len()), |(i, j)| Some(rows[i][j]));
        count_layer(&cells)
    }

    /// A miRNA count layer of `cells` (features × samples; `None`: no value).
    fn count_layer(cells: &Array2<Option<f64>>) -> Assay {
        let (g, n) = cells.dim();
        Assay::from_options(
            "mirna",
            LayerKind::Mirna,
            ValueScale::Counts,
            Features::new((0..g).map(|i| format!("m{i}")).collect()).unwrap(),
            (0..n).map(|j| format!("s{j}")).collect(),
            cells,
        )
        .unwrap()
    }

    #[test]
    fn proportional_libraries_get_factor_one() {
        let a = counts(&[&[10.0, 20.0], &[5.0, 10.0], &[1.0, 2.0], &[7.0, 14.0]]);
        let f = NormFactorsParams::default().fit(&a).unwrap();
        let (nf, lib) = f.factors("t", &a).unwrap();
        assert_eq!(lib, vec![23.0, 46.0]);
        assert!(nf.iter().all(|x| (x - 1.0).abs() < 1e-15), "{nf:?}");
    }

    #[test]
    fn factors_have_geometric_mean_one_and_transfer() {
        let a = counts(&[
            &[10.0, 25.0, 3.0],
            &[50.0, 40.0, 80.0],
            &[7.0, 2.0, 9.0],
            &[100.0, 90.0, 60.0],
            &[3.0, 8.0, 1.0],
        ]);
        for p in [
            NormFactorsParams::default(),
            NormFactorsParams::UpperQuartile(UpperQuartileParams::default()),
            NormFactorsParams::Rle(RleParams {}),
        ] {
            let f = p.fit(&a).unwrap();
            let (nf, _) = f.factors("t", &a).unwrap();
            let gm = num::mean(&nf.iter().map(|x| x.ln()).collect::<Vec<_>>()).exp();
            assert!((gm - 1.0).abs() < 1e-12, "{p:?}: {nf:?}");
            // a held-out sample gets the same factor alone as with the others
            let alone = a.select_samples(&[2]);
            let (nf2, _) = f.factors("t", &alone).unwrap();
            assert!((nf2[0] - nf[2]).abs() < 1e-14);
        }
    }

    /// Library sizes and each sample's counts as read from the layer in blocks are the
    /// column's own: sums in feature order over the cells with a value, NaN where none, across
    /// block boundaries (37 samples: blocks of 16, 16 and 5), in a row-major layer and a
    /// column-major one.
    #[test]
    fn samples_are_read_whole_across_blocks() {
        let (g, n) = (23, 37);
        let cells = Array2::from_shape_fn((g, n), |(i, j)| {
            ((i * 7 + j * 3) % 11 != 4)
                .then(|| ((i * 31 + j * 17) % 97) as f64 * 1e3f64.powi((i % 3) as i32))
        });
        let a = count_layer(&cells);
        let column_major = a.to_column_major();
        assert!(column_major.values().as_slice().is_none());
        for layer in [&a, &column_major] {
            check_blocks(layer, &cells);
        }
    }

    fn check_blocks(a: &Assay, cells: &Array2<Option<f64>>) {
        let g = cells.nrows();
        let counts = Counts::read("t", a).unwrap();
        let columns = counts.map_samples(|j, column| (j, column.to_vec()));
        for (j, (jj, column)) in columns.into_iter().enumerate() {
            assert_eq!(j, jj);
            let want: Vec<Option<f64>> = (0..g).map(|i| cells[[i, j]]).collect();
            let got: Vec<Option<f64>> =
                column.iter().map(|x| (!x.is_nan()).then_some(*x)).collect();
            assert_eq!(got, want, "sample {j}");
            assert_eq!(
                counts.lib[j].to_bits(),
                num::sum(want.iter().flatten().copied()).to_bits(),
                "sample {j}"
            );
        }
    }

    #[test]
    fn negative_count_is_an_error_with_context() {
        let a = counts(&[&[1.0, -2.0], &[3.0, 4.0]]);
        let e = NormFactorsParams::default()
            .fit(&a)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'m0'") && e.contains("'s1'") && e.contains("negative"),
            "{e}"
        );
    }

    /// `.calcFactorTMM` written out as edgeR writes it: every logarithm taken, non-finite M
    /// and A values dropped afterwards.
    fn tmm_factor_as_edger(
        obs: &[f64],
        refc: &[Option<f64>],
        n_o: f64,
        n_r: f64,
        p: &TmmParams,
    ) -> f64 {
        let (mut log_r, mut abs_e, mut v) = (Vec::new(), Vec::new(), Vec::new());
        for (&o, r) in obs.iter().zip(refc) {
            let Some(r) = *r else { continue };
            if o.is_nan() {
                continue;
            }
            let lr = ((o / n_o) / (r / n_r)).log2();
            let ae = ((o / n_o).log2() + (r / n_r).log2()) / 2.0;
            if lr.is_finite() && ae.is_finite() && ae > p.a_cutoff {
                log_r.push(lr);
                abs_e.push(ae);
                v.push((n_o - o) / n_o / o + (n_r - r) / n_r / r);
            }
        }
        if log_r.is_empty() || log_r.iter().fold(0.0_f64, |m, x| m.max(x.abs())) < 1e-6 {
            return 1.0;
        }
        let n = log_r.len() as f64;
        let lo_l = (n * p.logratio_trim).floor() + 1.0;
        let lo_s = (n * p.sum_trim).floor() + 1.0;
        let rank_r = num::rank_average(&log_r);
        let rank_e = num::rank_average(&abs_e);
        let keep: Vec<usize> = (0..log_r.len())
            .filter(|&i| rank_r[i] >= lo_l && rank_r[i] <= n + 1.0 - lo_l)
            .filter(|&i| rank_e[i] >= lo_s && rank_e[i] <= n + 1.0 - lo_s)
            .collect();
        let f = num::sum(keep.iter().map(|&i| log_r[i] / v[i]))
            / num::sum(keep.iter().map(|&i| 1.0 / v[i]));
        (if f.is_nan() { 0.0 } else { f }).exp2()
    }

    /// The factor skips zeros before their logarithms and takes small whole counts' log
    /// proportions from its table, and is still edgeR's, bit for bit: zeros on either side,
    /// counts below and above the table, fractional values, missing cells, repeated counts.
    #[test]
    fn tmm_factor_is_edgers_bit_for_bit() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let p = TmmParams::default();
        for case in 0..40 {
            let g = 50 + case * 37;
            let draw = |u: u64| -> f64 {
                match u % 10 {
                    0 | 1 => 0.0,
                    2..=5 => (u >> 8) as f64 % 40.0,
                    6 | 7 => ((u >> 8) % 400) as f64,
                    8 => ((u >> 8) % 100_000) as f64,
                    _ => ((u >> 8) % 1000) as f64 / 7.0,
                }
            };
            let obs: Vec<f64> = (0..g)
                .map(|i| if i % 23 == 5 { f64::NAN } else { draw(next()) })
                .collect();
            let refc: Vec<Option<f64>> = (0..g)
                .map(|i| (i % 19 != 3).then(|| draw(next())))
                .collect();
            let (n_o, n_r) = (
                obs.iter().filter(|o| !o.is_nan()).sum::<f64>().max(1.0),
                refc.iter().flatten().sum::<f64>().max(1.0),
            );
            let got = tmm_factor(&obs, &reference_genes(&refc, n_r), n_o, &p);
            let want = tmm_factor_as_edger(&obs, &refc, n_o, n_r, &p);
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "case {case}: {got} vs {want}"
            );
        }
    }
}
